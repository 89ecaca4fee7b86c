"""Orchestration for posediff-study: CLI, study specs, Optuna + Ray Tune, Parquet results, reports."""
