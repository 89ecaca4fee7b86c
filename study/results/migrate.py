"""Reading results files of schema version 1, written before every row carried its complete config.

A version-1 ``trials.parquet`` has ``param.*`` columns only for the keys a trial was given (the
searched ones and the reference's ``diffusion.prediction``) and ``epochs.parquet`` has none; the
fixed values lived in ``spec.resolved.yaml`` next to them. :func:`upgrade_v1` rebuilds each row's
complete resolved config from the two, so a study run by an earlier version can still be
reported and resumed; the next flush of a resumed study writes version 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from model.config import field_types, to_flat_dict, trial_config
from model.errors import PoseDiffError
from study.results.layout import SPEC_FILE
from study.results.tables import (
    EPOCH_FIELDS,
    EPOCHS_FILE,
    TRIAL_FIELDS,
    TRIALS_FILE,
    EpochRow,
    TrialRow,
    file_study,
    params_of,
    read_trials,
    table_of,
)


def spec_values(run_dir: Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(the fixed dotted values every trial got, the searched keys) from the folder's resolved spec ({}, () if none)."""
    path = run_dir / SPEC_FILE
    raw = yaml.safe_load(path.read_text()) if path.is_file() else None
    if not isinstance(raw, dict):
        return {}, ()
    fixed = dict(raw.get("fixed") or {})
    max_epochs = (raw.get("budget") or {}).get("max_epochs")
    if max_epochs is not None:
        fixed["train.epochs"] = max_epochs  # what every trial of that version trained for
    return fixed, tuple(raw.get("space") or ())


def complete_config(params: Mapping[str, Any], fixed: Mapping[str, Any]) -> dict[str, Any]:
    """A v1 row's params made complete: defaults, then fixed values, then its own; other keys kept."""
    config_keys = field_types()
    given = {**fixed, **{k: v for k, v in params.items() if k in config_keys}}
    try:
        complete = to_flat_dict(trial_config(given))
    except PoseDiffError:  # a sampled combination the config rejects: keep what the row said
        complete = dict(given)
    return {**{k: v for k, v in params.items() if k not in config_keys}, **complete}


def upgrade_v1(path: Path, table: pa.Table) -> pa.Table:
    """The version-2 table of a version-1 ``trials.parquet`` or ``epochs.parquet`` at ``path``."""
    fixed, searched = spec_values(path.parent)
    study = file_study(table)
    if path.name == TRIALS_FILE:
        rows: list[Any] = [
            TrialRow(params=complete_config(params_of(r), fixed), **{n: r[n] for n in TRIAL_FIELDS})
            for r in table.to_pylist()
        ]
        return table_of(TRIALS_FILE, rows, study, searched)
    by_trial: dict[str, dict[str, Any]] = {}
    if (path.parent / TRIALS_FILE).is_file():
        by_trial = {r["trial_id"]: params_of(r) for r in read_trials(path.parent).to_pylist() if r["kind"] == "train"}
    default = complete_config({}, fixed)
    rows = [
        EpochRow(params=by_trial.get(r["trial_id"], default), **{n: r[n] for n in EPOCH_FIELDS})
        for r in table.to_pylist()
    ]
    return table_of(EPOCHS_FILE, rows, study, searched)
