"""Which stage-2 settings reach the test split: chosen on validation only (docs/study.md §3).

For every network, the best setting of each sampler family (``sampler.name``) by full-split
validation MPJPE, so samplers can be compared on the same network; and across all networks, the
settings on the MPJPE-vs-NFE Pareto front (no other setting is at least as good in both and better
in one). Pure functions of samples.parquet rows: the report and the driver choose alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from study.results.samples import SampleRow

Pick = tuple[str, int]
T = TypeVar("T")  # (source trial id, setting number)


def final_rows(rows: Iterable[SampleRow]) -> list[SampleRow]:
    """Search rows of settings scored on the full evaluation frames (status complete)."""
    return [r for r in rows if r.origin == "search" and r.status == "complete"]


def best_per_family(rows: Iterable[SampleRow]) -> dict[tuple[str, str], SampleRow]:
    """(network, sampler family) -> the final row with the lowest validation MPJPE (ties: lower NFE, number)."""
    best: dict[tuple[str, str], SampleRow] = {}
    for row in final_rows(rows):
        key = (row.source_trial_id, str(row.params.get("sampler.name")))
        if key not in best or _rank(row) < _rank(best[key]):
            best[key] = row
    return best


def lower_front(items: Iterable[T], cost: Callable[[T], float], error: Callable[[T], float]) -> list[T]:
    """The items no other beats on both cost and error: by cost, error strictly falling (of equal points the first)."""
    front: list[T] = []
    for item in sorted(items, key=lambda i: (cost(i), error(i))):  # stable: ties keep their order
        if not front or error(item) < error(front[-1]):
            front.append(item)
    return front


def pareto_front(rows: Iterable[SampleRow]) -> list[SampleRow]:
    """Final rows no other final row dominates in (validation MPJPE, NFE), by NFE."""
    done = sorted(final_rows(rows), key=lambda r: (r.source_trial_id, r.number))
    return lower_front(done, cost=lambda r: r.nfe, error=lambda r: r.mpjpe_mm)


def chosen_settings(rows: Iterable[SampleRow]) -> list[Pick]:
    """Every setting to evaluate on test: best per (network, family), then the Pareto front, without repeats."""
    rows = list(rows)
    picks = [(r.source_trial_id, r.number) for r in best_per_family(rows).values()]
    picks += [(r.source_trial_id, r.number) for r in pareto_front(rows)]
    return sorted(dict.fromkeys(picks))


def _rank(row: SampleRow) -> tuple[float, int, int]:
    return (row.mpjpe_mm, row.nfe, row.number)
