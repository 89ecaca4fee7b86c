"""The report's tables: the schedule x sampler comparison, its regress reference and the test figures.

Input rows are trials.parquet records (dicts, one per trial). Every choice (best trial, median) is
made on validation MPJPE (each trial's best epoch on the fixed validation subset); test figures
are only read, never ranked. Cells hold formatted strings so Markdown, CSV, HTML and the terminal
show the same numbers.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from study.results.tables import STATUSES, finite

Record = Mapping[str, Any]
SCHEDULE, SAMPLER, PREDICTION = "param.diffusion.schedule", "param.sampler.name", "param.diffusion.prediction"
REGRESS = "regress (reference)"
MISSING = "—"


@dataclass(frozen=True)
class TableData:
    """One table: formatted cells (a cell may hold several lines), a CSV name when it exports."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    csv_name: str | None = None
    note: str = ""


def fmt_mm(value: Any) -> str:
    """Millimetres with two decimals; a dash when missing or not finite."""
    return f"{value:.2f}" if finite(value) else MISSING


def fmt_value(value: Any) -> str:
    """A parameter value as a reader wants it (4 significant digits for floats)."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def label(record: Record, column: str) -> str:
    """The value of a parameter column as a group label ("n/a" when the study did not record it)."""
    value = record.get(column)
    return "n/a" if value is None else fmt_value(value)


def is_regress(record: Record) -> bool:
    """Whether the trial is the deterministic `regress` reference (no diffusion)."""
    return record.get(PREDICTION) == "regress"


def rank_key(record: Record) -> tuple[float, str, str]:
    """Sort key: best validation MPJPE first, ties by study and trial id."""
    return record["best_val_mpjpe_mm"], record["study"], record["trial_id"]


@dataclass(frozen=True)
class CellSummary:
    """What one group of trials gives: counts per status, best trial, median, compute."""

    counts: Mapping[str, int]
    best: Record | None
    median_mm: float | None
    compute_h: float
    compute_unit: str

    def compute(self) -> str:
        return f"{self.compute_h:.3g} {self.compute_unit}"


def scored(records: Iterable[Record]) -> list[Record]:
    """Complete trials with a finite validation score, best first."""
    return sorted((r for r in records if r["status"] == "complete" and finite(r["best_val_mpjpe_mm"])), key=rank_key)


def summarize(records: Sequence[Record]) -> CellSummary:
    """Counts, best and median val MPJPE (complete trials), GPU-h where measured else CPU-h."""
    done = scored(records)
    gpu_s = sum(r["gpu_s"] for r in records)
    if gpu_s > 0:
        compute_h, unit = gpu_s / 3600, "GPU-h"
    else:
        compute_h, unit = sum(r["cpu_s"] or r["wall_s"] for r in records) / 3600, "CPU-h"
    median = statistics.median(r["best_val_mpjpe_mm"] for r in done) if done else None
    return CellSummary(
        {s: sum(r["status"] == s for r in records) for s in STATUSES},
        done[0] if done else None,
        median,
        compute_h,
        unit,
    )


def group_cells(trials: Iterable[Record]) -> tuple[dict[tuple[str, str], list[Record]], list[Record]]:
    """Training trials by (schedule, sampler), and the regress reference trials apart."""
    cells: dict[tuple[str, str], list[Record]] = defaultdict(list)
    regress: list[Record] = []
    for record in trials:
        if record["kind"] != "train":
            continue
        if is_regress(record):
            regress.append(record)
        else:
            cells[(label(record, SCHEDULE), label(record, SAMPLER))].append(record)
    return dict(sorted(cells.items())), regress


def _best_of(summary: CellSummary, column: str) -> Any:
    return summary.best[column] if summary.best else None


def _counts(summary: CellSummary) -> tuple[str, ...]:
    return tuple(str(summary.counts[s]) for s in ("complete", "pruned", "failed", "running"))


def comparison_table(cells: Mapping[tuple[str, str], list[Record]], regress: list[Record]) -> TableData:
    """Long form: one row per schedule x sampler, the regress reference last."""
    reference = summarize(regress).best if regress else None
    groups = [(key, summarize(records)) for key, records in cells.items()]
    if regress:
        groups.append(((REGRESS, MISSING), summarize(regress)))
    columns = (
        "schedule",
        "sampler",
        "complete",
        "pruned",
        "failed",
        "running",
        "best val MPJPE mm",
        "median val MPJPE mm",
        "best trial",
        "best trial val P-MPJPE mm",
        "NFE per pose",
        "compute",
    )
    rows = []
    for (schedule, sampler), s in groups:
        best = _best_of(s, "best_val_mpjpe_mm")
        row = (
            schedule,
            sampler,
            *_counts(s),
            fmt_mm(best),
            fmt_mm(s.median_mm),
            _best_of(s, "trial_id") or MISSING,
            fmt_mm(_best_of(s, "best_val_p_mpjpe_mm")),
            fmt_value(_best_of(s, "nfe")),
            s.compute(),
        )
        if reference:
            gap = best - reference["best_val_mpjpe_mm"] if finite(best) and schedule != REGRESS else None
            row += (MISSING if gap is None else f"{gap:+.2f}",)
        rows.append(row)
    if reference:
        columns += ("best minus regress mm",)
    return TableData(
        "Schedule x sampler (long form)",
        columns,
        tuple(rows),
        csv_name="comparison",
        note="Best and median over complete trials; a trial's score is its best epoch's "
        "val MPJPE on the validation subset. Compute sums all trials of the cell.",
    )


def _cell_text(s: CellSummary) -> str:
    return "\n".join(
        (
            f"best {fmt_mm(_best_of(s, 'best_val_mpjpe_mm'))} / median {fmt_mm(s.median_mm)} mm",
            f"P-MPJPE {fmt_mm(_best_of(s, 'best_val_p_mpjpe_mm'))} mm, NFE {fmt_value(_best_of(s, 'nfe'))}",
            f"{s.counts['complete']}/{s.counts['pruned']}/{s.counts['failed']} complete/pruned/failed",
            s.compute(),
        )
    )


def matrix_table(cells: Mapping[tuple[str, str], list[Record]], regress: list[Record]) -> TableData:
    """Rows = schedule, columns = sampler; the regress reference as its own row."""
    samplers = sorted({sampler for _, sampler in cells}) or ["(no sampler)"]
    rows = [
        (
            schedule,
            *(_cell_text(summarize(cells[(schedule, s)])) if (schedule, s) in cells else MISSING for s in samplers),
        )
        for schedule in sorted({schedule for schedule, _ in cells})
    ]
    if regress:
        rows.append((REGRESS, _cell_text(summarize(regress)), *([""] * (len(samplers) - 1))))
    return TableData("Schedule x sampler: val MPJPE (mm)", ("schedule \\ sampler", *samplers), tuple(rows))


def regress_gap_line(cells: Mapping[tuple[str, str], list[Record]], regress: list[Record]) -> str:
    """One sentence: what diffusion buys over the deterministic reference, in mm."""
    reference = summarize(regress).best if regress else None
    if reference is None:
        return (
            (
                "No deterministic `regress` reference in these studies: add `reference: true` to a spec "
                "to see what diffusion buys."
            )
            if not regress
            else "The `regress` reference has no complete trial yet."
        )
    best = scored(r for records in cells.values() for r in records)
    ref_mm = reference["best_val_mpjpe_mm"]
    if not best:
        return f"Deterministic `regress` reference: {ref_mm:.2f} mm; no complete diffusion trial yet."
    top = best[0]
    gap = top["best_val_mpjpe_mm"] - ref_mm
    verdict = "the reference is better" if gap > 0 else "diffusion is better"
    return (
        f"Best diffusion trial {top['trial_id']} ({label(top, SCHEDULE)} / {label(top, SAMPLER)}): "
        f"{top['best_val_mpjpe_mm']:.2f} mm; deterministic `regress` reference {reference['trial_id']}: "
        f"{ref_mm:.2f} mm; best diffusion minus regress = {gap:+.2f} mm ({verdict})."
    )


def test_table(cells: Mapping[tuple[str, str], list[Record]], regress: list[Record]) -> TableData:
    """Test-split figures of the best (on validation) trial of each cell."""
    groups = list(cells.items()) + ([((REGRESS, MISSING), regress)] if regress else [])
    rows = []
    for (schedule, sampler), records in groups:
        best = summarize(records).best
        if best is None:
            continue
        rows.append(
            (
                schedule,
                sampler,
                best["trial_id"],
                fmt_mm(best["best_val_mpjpe_mm"]),
                fmt_mm(best["val_full_mpjpe_mm"]),
                fmt_mm(best["test_mpjpe_mm"]),
                fmt_mm(best["test_p_mpjpe_mm"]),
                fmt_mm(best["test_n_mpjpe_mm"]),
                fmt_mm(best["oracle_mpjpe_mm"]),
            )
        )
    columns = (
        "schedule",
        "sampler",
        "trial",
        "val MPJPE mm (subset)",
        "val MPJPE mm (full split)",
        "test MPJPE mm",
        "test P-MPJPE mm",
        "test N-MPJPE mm",
        "oracle MPJPE mm (best of N)",
    )
    return TableData(
        "Test split: best trial of each cell",
        columns,
        tuple(rows),
        csv_name="test_split",
        note="Test figures are evaluated once, on the test split, at the end of a trial; they are "
        "never used for selection (the best trial is chosen on validation). The oracle "
        "picks the best hypothesis per pose with the ground truth and is not a real result.",
    )
