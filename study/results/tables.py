"""The study's Parquet results: ``trials.parquet`` and ``epochs.parquet`` under a run folder (DESIGN 6.3).

Pure pyarrow (no Ray, no Optuna). The driver records rows as results arrive and flushes whole
files atomically (a temporary file in the same folder, then ``os.replace``), so a reader never
sees half a file and a completed trial survives a dead driver. A new :class:`ResultsStore` on the
same folder loads what is there, so a resumed study appends without duplicating rows.
"""
from __future__ import annotations

import dataclasses
import os
import time
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from model.config import field_types
from model.errors import PoseDiffError

SCHEMA_VERSION = 1
TRIALS_FILE = "trials.parquet"
EPOCHS_FILE = "epochs.parquet"
PARAM_PREFIX = "param."
STATUSES = ("running", "complete", "pruned", "failed")
_META_VERSION, _META_STUDY = b"posediff.schema_version", b"posediff.study"


@dataclass(frozen=True)
class EpochRow:
    """One row of epochs.parquet: one epoch of one trial (metrics in mm, times in s)."""

    study: str
    trial_id: str
    trial_number: int
    epoch: int
    train_loss: float
    val_mpjpe_mm: float
    val_p_mpjpe_mm: float
    lr: float
    epoch_s: float
    samples_per_s: float
    nfe: int
    kind: str = "train"  # "train" rows from training; "eval" rows from test-time sampler sweeps


@dataclass(frozen=True)
class TrialRow:
    """One row of trials.parquet (upserted by (trial_id, kind): the latest wins)."""

    study: str
    trial_id: str
    trial_number: int
    status: str  # "running" | "complete" | "pruned" | "failed"
    params: Mapping[str, Any]  # dotted trial-config keys -> values; column "param.<key>" each
    epochs_run: int
    best_val_mpjpe_mm: float | None
    final_val_mpjpe_mm: float | None
    best_val_p_mpjpe_mm: float | None
    final_val_p_mpjpe_mm: float | None
    test_mpjpe_mm: float | None = None
    test_p_mpjpe_mm: float | None = None
    test_n_mpjpe_mm: float | None = None
    val_full_mpjpe_mm: float | None = None  # full validation split, evaluated at the end of a trial
    oracle_mpjpe_mm: float | None = None
    nfe: int | None = None
    wall_s: float = 0.0
    gpu_s: float = 0.0
    cpu_s: float = 0.0
    node: str = ""
    error: str = ""
    kind: str = "train"


def arrow_type(hint: Any) -> pa.DataType:
    """The Parquet column type of a Python annotation (Optional[X] -> nullable X, Literal -> its values' type)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return arrow_type(type(args[0]))
    if origin in (typing.Union, types.UnionType):
        return arrow_type(next(a for a in args if a is not type(None)))
    if origin is tuple:
        return pa.list_(pa.string())
    return {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}[hint]


def _row_fields(cls: type) -> dict[str, pa.DataType]:
    hints = typing.get_type_hints(cls)
    return {f.name: arrow_type(hints[f.name]) for f in dataclasses.fields(cls) if f.name != "params"}


EPOCH_FIELDS = _row_fields(EpochRow)
TRIAL_FIELDS = _row_fields(TrialRow)
_PARAM_TYPES = {key: arrow_type(hint) for key, hint in field_types().items()}


def param_type(key: str, values: list[Any]) -> pa.DataType:
    """Column type of ``param.<key>``: from the trial config, inferred from the values for other keys."""
    if key in _PARAM_TYPES:
        return _PARAM_TYPES[key]
    return pa.array(values).type if any(v is not None for v in values) else pa.string()


def _metadata(study: str) -> dict[bytes, bytes]:
    return {_META_VERSION: str(SCHEMA_VERSION).encode(), _META_STUDY: study.encode()}


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _bad_file(path: Path, found: str) -> PoseDiffError:
    return PoseDiffError(str(path), f"a posediff-study Parquet file (schema version {SCHEMA_VERSION})", found)


def _read(path: Path, required: Mapping[str, pa.DataType]) -> pa.Table:
    """Read and check one results file: it exists, is Parquet, has our schema version and columns."""
    if not path.is_file():
        raise _bad_file(path, "no such file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _bad_file(path, f"an unreadable file ({str(exc).splitlines()[0]})") from None
    meta = table.schema.metadata or {}
    version = meta.get(_META_VERSION)
    if version != str(SCHEMA_VERSION).encode():
        raise _bad_file(path, f"schema version {version.decode() if version else 'missing'}")
    missing = [name for name, typ in required.items()
               if name not in table.column_names or not table.schema.field(name).type.equals(typ)]
    if missing:
        raise _bad_file(path, "missing or mistyped columns " + ", ".join(missing))
    return table


def read_trials(run_dir: Path | str) -> pa.Table:
    """trials.parquet of a run folder, checked; PoseDiffError if missing, corrupt or of another schema."""
    return _read(Path(run_dir) / TRIALS_FILE, TRIAL_FIELDS)


def read_epochs(run_dir: Path | str) -> pa.Table:
    """epochs.parquet of a run folder, checked; PoseDiffError if missing, corrupt or of another schema."""
    return _read(Path(run_dir) / EPOCHS_FILE, EPOCH_FIELDS)


def file_study(table: pa.Table) -> str:
    """The study name stored in a results file's metadata."""
    return (table.schema.metadata or {}).get(_META_STUDY, b"").decode()


def trial_from_record(record: Mapping[str, Any]) -> TrialRow:
    """A :class:`TrialRow` from one trials.parquet row (null params are absent conditional keys)."""
    params = {k[len(PARAM_PREFIX):]: v for k, v in record.items() if k.startswith(PARAM_PREFIX) and v is not None}
    return TrialRow(params=params, **{name: record[name] for name in TRIAL_FIELDS})


def trials_table(rows: list[TrialRow], study: str) -> pa.Table:
    """trials.parquet's table: fixed columns, then one typed ``param.<key>`` column per key seen."""
    keys = sorted({key for row in rows for key in row.params})
    columns: dict[str, pa.Array] = {}
    for name, typ in TRIAL_FIELDS.items():
        columns[name] = pa.array([getattr(r, name) for r in rows], type=typ)
        if name == "status":
            for key in keys:
                values = [r.params.get(key) for r in rows]
                columns[PARAM_PREFIX + key] = _param_array(key, values)
    return pa.table(columns).replace_schema_metadata(_metadata(study))


def _param_array(key: str, values: list[Any]) -> pa.Array:
    typ = param_type(key, values)
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowException, TypeError, ValueError):
        found = sorted({type(v).__name__ for v in values if v is not None})
        raise PoseDiffError(f"{TRIALS_FILE}: {PARAM_PREFIX}{key}", f"values of type {typ}",
                            "values of type " + ", ".join(found)) from None


class ResultsStore:
    """Collects a study's epoch and trial rows and writes them to Parquet under ``run_dir``."""

    def __init__(self, run_dir: Path, study: str) -> None:
        self.run_dir, self.study = Path(run_dir), study
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._epochs = pa.table({n: pa.array([], type=t) for n, t in EPOCH_FIELDS.items()})
        self._new_epochs: list[EpochRow] = []
        self._epoch_keys: set[tuple[str, int, str]] = set()
        self._last_epoch: dict[str, EpochRow] = {}
        self._trials: dict[tuple[str, str], TrialRow] = {}
        self._dirty = False
        self._flushed_at = 0.0
        self._load()

    def _load(self) -> None:
        """Resume: take over the rows of existing files (they must belong to this study)."""
        if (self.run_dir / EPOCHS_FILE).exists():
            table = self._check_study(read_epochs(self.run_dir))
            self._epochs = table.select(list(EPOCH_FIELDS)).replace_schema_metadata(None)
            self._index_loaded_epochs()
        if (self.run_dir / TRIALS_FILE).exists():
            for record in self._check_study(read_trials(self.run_dir)).to_pylist():
                row = trial_from_record(record)
                self._trials[(row.trial_id, row.kind)] = row

    def _index_loaded_epochs(self) -> None:
        """Dedup keys and each trial's latest training epoch, from columns (no per-row objects)."""
        ids, epochs, kinds = (self._epochs.column(n).to_pylist() for n in ("trial_id", "epoch", "kind"))
        self._epoch_keys.update(zip(ids, epochs, kinds))
        latest: dict[str, tuple[int, int]] = {}
        for i, (trial_id, epoch, kind) in enumerate(zip(ids, epochs, kinds)):
            if kind == "train" and epoch >= latest.get(trial_id, (epoch, i))[0]:
                latest[trial_id] = (epoch, i)
        for trial_id, (_, i) in latest.items():
            self._last_epoch[trial_id] = EpochRow(**self._epochs.slice(i, 1).to_pylist()[0])

    def _check_study(self, table: pa.Table) -> pa.Table:
        if file_study(table) != self.study:
            raise PoseDiffError(str(self.run_dir), f"results of study {self.study!r}",
                                f"results of study {file_study(table)!r}")
        return table

    def _remember(self, row: EpochRow) -> None:
        self._epoch_keys.add((row.trial_id, row.epoch, row.kind))
        if row.kind == "train":
            self._last_epoch[row.trial_id] = row

    def record_epoch(self, row: EpochRow) -> bool:
        """Add one epoch row; False (ignored) if (trial_id, epoch, kind) is already recorded."""
        if (row.trial_id, row.epoch, row.kind) in self._epoch_keys:
            return False
        self._remember(row)
        self._new_epochs.append(row)
        self._dirty = True
        return True

    def record_trial(self, row: TrialRow) -> None:
        """Insert or replace the trial row with the same (trial_id, kind)."""
        if row.status not in STATUSES:
            raise ValueError(f"TrialRow.status must be one of {STATUSES}, got {row.status!r}")
        self._trials[(row.trial_id, row.kind)] = row
        self._dirty = True

    def trial(self, trial_id: str, kind: str = "train") -> TrialRow | None:
        """The recorded row of one trial, or None."""
        return self._trials.get((trial_id, kind))

    def trials(self) -> list[TrialRow]:
        """Every recorded trial row (training and eval), in trial-number order."""
        return sorted(self._trials.values(), key=lambda r: (r.kind, r.trial_number, r.trial_id))

    def last_epochs(self) -> dict[str, EpochRow]:
        """The latest training epoch row of each trial, by trial id."""
        return dict(self._last_epoch)

    def flush(self) -> None:
        """Rewrite both files atomically with everything recorded so far."""
        if self._new_epochs:
            new = pa.table({n: pa.array([getattr(r, n) for r in self._new_epochs], type=t)
                            for n, t in EPOCH_FIELDS.items()})
            self._epochs = pa.concat_tables([self._epochs, new])
            self._new_epochs = []
        write_atomic(self._epochs.replace_schema_metadata(_metadata(self.study)), self.run_dir / EPOCHS_FILE)
        write_atomic(trials_table(self.trials(), self.study), self.run_dir / TRIALS_FILE)
        self._dirty, self._flushed_at = False, time.monotonic()

    def flush_if_due(self, interval_s: float = 2.0) -> bool:
        """Flush when something changed and the last flush is ``interval_s`` old; True if it wrote."""
        if not self._dirty or time.monotonic() - self._flushed_at < interval_s:
            return False
        self.flush()
        return True
