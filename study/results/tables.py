"""The study's Parquet results: ``trials.parquet`` and ``epochs.parquet`` under a run folder (docs/study.md §4).

Pure pyarrow (no Ray, no Optuna). Rows describe themselves: each carries its trial's complete config,
a typed ``param.<dotted key>`` column per trial-config key (and per other searched key, a joint ``a+b``
label), and the metadata names the searched keys; no reader needs the spec. The driver flushes whole
files with :func:`model.io.atomic_write` (never half a file; a completed trial survives a dead driver);
a new :class:`ResultsStore` on the same folder loads them, so a resumed study appends without duplicates.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from model.config import field_types
from model.errors import PoseDiffError
from model.io import atomic_write

SCHEMA_VERSION = 2  # 2: every row carries its trial's complete config; metadata names the searched keys
TRIALS_FILE = "trials.parquet"
EPOCHS_FILE = "epochs.parquet"
PARAM_PREFIX = "param."
STATUSES = ("running", "complete", "pruned", "failed")
_META_VERSION, _META_STUDY, _META_SEARCHED = b"posediff.schema_version", b"posediff.study", b"posediff.searched"


def finite(value: Any) -> bool:
    """True for a real, finite number (not a bool, None, NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
    params: Mapping[str, Any] = field(default_factory=dict)  # the trial's complete config, as in its TrialRow


@dataclass(frozen=True)
class TrialRow:
    """One row of trials.parquet (upserted by (trial_id, kind): the latest wins)."""

    study: str
    trial_id: str
    trial_number: int
    status: str  # "running" | "complete" | "pruned" | "failed"
    params: Mapping[str, Any]  # the trial's complete config (dotted keys -> values); column "param.<key>" each
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
_PARAM_TYPES = {key: arrow_type(hint) for key, hint in field_types().items()}  # a column each, in both files


def metadata(study: str, searched: Sequence[str]) -> dict[bytes, bytes]:
    return {
        _META_VERSION: str(SCHEMA_VERSION).encode(),
        _META_STUDY: study.encode(),
        _META_SEARCHED: json.dumps(sorted(searched)).encode(),
    }


def _bad_file(path: Path, found: str) -> PoseDiffError:
    return PoseDiffError(str(path), f"a posediff-study Parquet file (schema version {SCHEMA_VERSION})", found)


def read_checked(path: Path, required: Mapping[str, pa.DataType]) -> pa.Table:
    """Read and check one results file: it exists, is Parquet, has our schema version and columns."""
    if not path.is_file():
        raise _bad_file(path, "no such file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise _bad_file(path, f"an unreadable file ({str(exc).splitlines()[0]})") from None
    meta = table.schema.metadata or {}
    version = meta.get(_META_VERSION)
    if version == b"1":
        from study.results.migrate import upgrade_v1  # builds on this module

        table = upgrade_v1(path, table)
    elif version != str(SCHEMA_VERSION).encode():
        raise _bad_file(path, f"schema version {version.decode() if version else 'missing'}")
    required = {**required, **{PARAM_PREFIX + key: typ for key, typ in _PARAM_TYPES.items()}}
    missing = [
        name
        for name, typ in required.items()
        if name not in table.column_names or not table.schema.field(name).type.equals(typ)
    ]
    if missing:
        raise _bad_file(path, "missing or mistyped columns " + ", ".join(missing))
    return table


def read_trials(run_dir: Path | str) -> pa.Table:
    """trials.parquet of a run folder, checked; PoseDiffError if missing, corrupt or of another schema."""
    return read_checked(Path(run_dir) / TRIALS_FILE, TRIAL_FIELDS)


def read_epochs(run_dir: Path | str) -> pa.Table:
    """epochs.parquet of a run folder, checked; PoseDiffError if missing, corrupt or of another schema."""
    return read_checked(Path(run_dir) / EPOCHS_FILE, EPOCH_FIELDS)


def file_study(table: pa.Table) -> str:
    """The study name stored in a results file's metadata."""
    return (table.schema.metadata or {}).get(_META_STUDY, b"").decode()


def searched_keys(table: pa.Table) -> tuple[str, ...]:
    """The keys the study searched (its other ``param.*`` columns were fixed or defaults), from the metadata."""
    return tuple(json.loads((table.schema.metadata or {}).get(_META_SEARCHED, b"[]")))


def params_of(record: Mapping[str, Any]) -> dict[str, Any]:
    """The params of one Parquet record (null values left out: keys the row's trial did not have)."""
    return {k[len(PARAM_PREFIX) :]: v for k, v in record.items() if k.startswith(PARAM_PREFIX) and v is not None}


def trial_from_record(record: Mapping[str, Any]) -> TrialRow:
    """A :class:`TrialRow` from one trials.parquet row."""
    return TrialRow(params=params_of(record), **{name: record[name] for name in TRIAL_FIELDS})


def epoch_from_record(record: Mapping[str, Any]) -> EpochRow:
    """An :class:`EpochRow` from one epochs.parquet row."""
    return EpochRow(params=params_of(record), **{name: record[name] for name in EPOCH_FIELDS})


_FILES = {TRIALS_FILE: (TRIAL_FIELDS, "status"), EPOCHS_FILE: (EPOCH_FIELDS, "kind")}  # columns, params after


def table_of(file: str, rows: Sequence[TrialRow] | Sequence[EpochRow], study: str, searched: Iterable[str]) -> pa.Table:
    """A results file's table: its row class's columns with, after ``status`` (trials) or ``kind`` (epochs),
    one typed ``param.<key>`` column per trial-config key and per other key a row has, sorted by key."""
    fields, after = _FILES[file]
    return rows_table(file, rows, fields, after, metadata(study, searched))


def rows_table(
    file: str, rows: Sequence[Any], fields: Mapping[str, pa.DataType], after: str, metadata: dict[bytes, bytes]
) -> pa.Table:
    """Rows of a dataclass with ``params`` -> a table: ``fields``, and after column ``after`` the params."""
    keys = sorted(set(_PARAM_TYPES) | {key for row in rows for key in row.params})
    columns: dict[str, pa.Array] = {}
    for name, typ in fields.items():
        columns[name] = pa.array([getattr(r, name) for r in rows], type=typ)
        if name == after:
            for key in keys:
                columns[PARAM_PREFIX + key] = _param_array(file, key, [r.params.get(key) for r in rows])
    return pa.table(columns).replace_schema_metadata(metadata)


def _param_array(file: str, key: str, values: list[Any]) -> pa.Array:
    """Column ``param.<key>``: typed from the trial config; inferred from the values for another key."""
    typ = _PARAM_TYPES.get(key) or (pa.array(values).type if any(v is not None for v in values) else pa.string())
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowException, TypeError, ValueError):
        found = sorted({type(v).__name__ for v in values if v is not None})
        raise PoseDiffError(
            f"{file}: {PARAM_PREFIX}{key}", f"values of type {typ}", "values of type " + ", ".join(found)
        ) from None


class ResultsStore:
    """Collects a study's epoch and trial rows and writes them to Parquet under ``run_dir``.

    ``searched``: the keys the study searches, written to both files' metadata (with those of the
    files already there)."""

    def __init__(self, run_dir: Path, study: str, searched: Iterable[str] = ()) -> None:
        self.run_dir, self.study = Path(run_dir), study
        self.searched = frozenset(searched)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._epochs = table_of(EPOCHS_FILE, [], study, ())
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
            self._epochs = self._check_study(read_epochs(self.run_dir))
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
            self._last_epoch[trial_id] = epoch_from_record(self._epochs.slice(i, 1).to_pylist()[0])

    def _check_study(self, table: pa.Table) -> pa.Table:
        """``table`` if it holds this study's rows (its searched keys join the store's)."""
        if file_study(table) != self.study:
            raise PoseDiffError(
                str(self.run_dir), f"results of study {self.study!r}", f"results of study {file_study(table)!r}"
            )
        self.searched |= set(searched_keys(table))
        return table

    def record_epoch(self, row: EpochRow) -> bool:
        """Add one epoch row; False (ignored) if (trial_id, epoch, kind) is already recorded."""
        if (row.trial_id, row.epoch, row.kind) in self._epoch_keys:
            return False
        self._epoch_keys.add((row.trial_id, row.epoch, row.kind))
        if row.kind == "train":
            self._last_epoch[row.trial_id] = row
        self._new_epochs.append(row)
        self._dirty = True
        return True

    def record_trial(self, row: TrialRow) -> None:
        """Insert or replace the trial row with the same (trial_id, kind)."""
        if row.status not in STATUSES:
            raise ValueError(f"TrialRow.status must be one of {STATUSES}, got {row.status!r}")
        self._trials[(row.trial_id, row.kind)] = row
        self._dirty = True

    def forget_trial(self, trial_id: str) -> None:
        """Drop a training trial's rows: a Tune trial whose Optuna trial another Tune trial took over."""
        self._trials.pop((trial_id, "train"), None)
        self._epochs = self._epochs.filter(pc.not_equal(self._epochs["trial_id"], trial_id))
        self._new_epochs = [r for r in self._new_epochs if r.trial_id != trial_id]
        self._epoch_keys = {k for k in self._epoch_keys if k[0] != trial_id}
        self._last_epoch.pop(trial_id, None)
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
            new = table_of(EPOCHS_FILE, self._new_epochs, self.study, ())
            both = pa.concat_tables([self._epochs, new], promote_options="default")  # a new key: nulls before
            self._epochs = both.select([*EPOCH_FIELDS, *sorted(set(both.column_names) - set(EPOCH_FIELDS))])
            self._new_epochs = []
        tables = {
            EPOCHS_FILE: self._epochs.replace_schema_metadata(metadata(self.study, self.searched)),
            TRIALS_FILE: table_of(TRIALS_FILE, self.trials(), self.study, self.searched),
        }
        for file, table in tables.items():
            with atomic_write(self.run_dir / file) as f:
                pq.write_table(table, f)
        self._dirty, self._flushed_at = False, time.monotonic()

    def flush_if_due(self, interval_s: float = 2.0) -> bool:
        """Flush when something changed and the last flush is ``interval_s`` old; True if it wrote."""
        if not self._dirty or time.monotonic() - self._flushed_at < interval_s:
            return False
        self.flush()
        return True
