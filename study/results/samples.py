"""``samples.parquet``: stage 2's evaluations of trained networks under sampler settings (docs/study.md §4).

One row per evaluation: a (network, setting) scored on a number of frames of one split. Search
rows (``origin="search"``) are validation rungs of a network's stage-2 Optuna trial; ``"chosen"``
rows are the test-split evaluations of the settings chosen on validation, with the per-frame
MPJPE kept for paired comparisons. Every row carries the complete resolved config (training and
sampling keys). Rows are keyed by (source trial, number, origin, split, frames): a resumed stage
replaces, never duplicates. Written whole with :func:`model.io.atomic_write`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from model.errors import PoseDiffError
from model.io import atomic_write
from study.results.tables import arrow_type, file_study, metadata, params_of, read_checked, rows_table, searched_keys

SAMPLES_FILE = "samples.parquet"
ORIGINS = ("search", "chosen")
SampleKey = tuple[str, int, str, str, int]


@dataclass(frozen=True)
class SampleRow:
    """One evaluation of a trained network (``source_trial_id``) under one sampler setting (mm, s)."""

    study: str
    source_trial_id: str  # the stage-1 (Tune) trial whose checkpoint was sampled
    number: int  # the setting's trial number in the network's stage-2 Optuna study
    origin: str  # "search" (validation rung) | "chosen" (test split, after the search)
    split: str  # "val" | "test"
    frames: int  # frames evaluated
    status: str  # "rung" (the setting went on) | "pruned" (it stopped after this rung) | "complete" (final)
    setting: str  # JSON of the keys Optuna sampled for this setting (conditional keys only where they hold)
    params: Mapping[str, Any]  # the complete resolved config; column "param.<key>" each
    mpjpe_mm: float
    p_mpjpe_mm: float
    n_mpjpe_mm: float
    oracle_mpjpe_mm: float  # best of N hypotheses per pose, with the ground truth: never a result
    nfe: int  # network evaluations per hypothesis
    wall_s: float
    cpu_s: float
    node: str
    frame_mpjpe_mm: tuple[float, ...] = ()  # per-frame MPJPE of a "chosen" row, in frame order

    @property
    def key(self) -> SampleKey:
        """What makes a row unique: (source trial, number, origin, split, frames)."""
        return (self.source_trial_id, self.number, self.origin, self.split, self.frames)


def _fields() -> dict[str, pa.DataType]:
    hints = typing.get_type_hints(SampleRow)
    skip = ("params", "frame_mpjpe_mm")
    out = {f.name: arrow_type(hints[f.name]) for f in dataclasses.fields(SampleRow) if f.name not in skip}
    return {**out, "frame_mpjpe_mm": pa.list_(pa.float32())}


SAMPLE_FIELDS = _fields()


def read_samples(run_dir: Path | str) -> pa.Table:
    """samples.parquet of a run folder, checked; PoseDiffError if missing, corrupt or of another schema."""
    return read_checked(Path(run_dir) / SAMPLES_FILE, SAMPLE_FIELDS)


def sample_from_record(record: Mapping[str, Any]) -> SampleRow:
    """A :class:`SampleRow` from one samples.parquet row."""
    values = {name: record[name] for name in SAMPLE_FIELDS}
    values["frame_mpjpe_mm"] = tuple(values["frame_mpjpe_mm"] or ())
    return SampleRow(params=params_of(record), **values)


class SamplesStore:
    """The rows of samples.parquet, loaded from ``run_dir`` and written back whole on :meth:`flush`."""

    def __init__(self, run_dir: Path, study: str, searched: Iterable[str] = ()) -> None:
        self.run_dir, self.study, self.searched = Path(run_dir), study, set(searched)
        self._rows: dict[SampleKey, SampleRow] = {}
        if (self.run_dir / SAMPLES_FILE).exists():
            table = read_samples(self.run_dir)
            if file_study(table) != study:
                raise PoseDiffError(str(self.run_dir), f"samples of study {study!r}", f"of {file_study(table)!r}")
            self.searched |= set(searched_keys(table))
            for record in table.to_pylist():
                row = sample_from_record(record)
                self._rows[row.key] = row

    def record(self, row: SampleRow) -> None:
        """Insert or replace the row with the same key."""
        self._rows[row.key] = row

    def renumber(self, source_trial_id: str, number: int, new_number: int) -> list[SampleRow]:
        """Move the search rows of one stage-2 trial to another (a setting a stopped driver left half done,
        asked again as ``new_number``); the moved rows, fewest frames first."""
        moved = []
        for key in [k for k in self._rows if k[:3] == (source_trial_id, number, "search")]:
            row = dataclasses.replace(self._rows.pop(key), number=new_number)
            self._rows[row.key] = row
            moved.append(row)
        return sorted(moved, key=lambda r: r.frames)

    def rows(self, source_trial_id: str | None = None) -> list[SampleRow]:
        """Every row (or one network's), ordered by source trial, number, origin, split, frames."""
        return [self._rows[k] for k in sorted(self._rows) if source_trial_id in (None, k[0])]

    def flush(self) -> None:
        """Rewrite samples.parquet atomically with every row."""
        rows = self.rows()
        table = rows_table(SAMPLES_FILE, rows, SAMPLE_FIELDS, "status", metadata(self.study, sorted(self.searched)))
        with atomic_write(self.run_dir / SAMPLES_FILE) as f:
            pq.write_table(table, f)
