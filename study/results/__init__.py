"""A study's records: the Parquet tables (trials, epochs) and the Optuna storage (journal or RDB URL).

Imports ``model`` only (and pyarrow, Optuna); never ``study.spec``, ``study.tune``, ``study.report``, ``study.cli``.
"""
