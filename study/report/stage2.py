"""The report's stage-2 part: sampler settings searched on trained networks, and the paired comparison.

Input: samples.parquet rows (:class:`SampleRow`). Settings are chosen on validation only
(:mod:`study.results.choice`); the test figures shown are the chosen settings' single test
evaluation. Samplers are compared on the same networks (paired bootstrap over test poses);
schedules across networks (bootstrap over networks, each at its best sampler).
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Sequence

from study.report.bootstrap import Interval, bootstrap_mean, paired_difference
from study.report.tables import MISSING, TableData, fmt_mm, fmt_value
from study.results.choice import best_per_family, pareto_front
from study.results.samples import SampleRow

FAMILY, SCHEDULE = "sampler.name", "diffusion.schedule"


def _tests(rows: Sequence[SampleRow]) -> dict[tuple[str, int], SampleRow]:
    return {(r.source_trial_id, r.number): r for r in rows if r.origin == "chosen"}


def _setting_text(row: SampleRow) -> str:
    """The keys Optuna sampled for this setting (the sampler family is a column of its own)."""
    setting = {k: v for k, v in json.loads(row.setting or "{}").items() if k != FAMILY}
    return ", ".join(f"{k.removeprefix('sampler.')}={fmt_value(v)}" for k, v in sorted(setting.items())) or MISSING


def search_table(rows: Sequence[SampleRow]) -> TableData:
    """One row per (network, sampler family): settings scored, the best on validation, its test figures."""
    tests, counts = _tests(rows), defaultdict(lambda: defaultdict(int))
    for r in rows:
        if r.origin == "search" and r.status != "rung":
            counts[(r.source_trial_id, str(r.params.get(FAMILY)))][r.status] += 1
    table = []
    for (network, family), best in sorted(best_per_family(rows).items()):
        test = tests.get((network, best.number))
        table.append(
            (
                network,
                str(best.params.get(SCHEDULE)),
                family,
                f"{counts[(network, family)]['complete']}/{counts[(network, family)]['pruned']}",
                fmt_mm(best.mpjpe_mm),
                str(best.nfe),
                _setting_text(best),
                fmt_mm(test.mpjpe_mm if test else None),
                fmt_mm(test.p_mpjpe_mm if test else None),
            )
        )
    columns = ("network", "schedule", "sampler", "scored/pruned", "val MPJPE mm", "NFE", "best setting")
    return TableData(
        "Stage 2: best sampler setting per network",
        (*columns, "test MPJPE mm", "test P-MPJPE mm"),
        tuple(table),
        csv_name="stage2_best",
        note="Each setting is scored on the network's full evaluation frames of the validation split "
        "unless successive halving stopped it on a subset (pruned). Only the best setting of each "
        "sampler per network, and the Pareto front, are evaluated on test.",
    )


def paired_table(rows: Sequence[SampleRow]) -> tuple[TableData, list[str]]:
    """Per network, each pair of samplers at their best settings: test MPJPE difference with its 95% interval."""
    tests, lines, table = _tests(rows), [], []
    for network, picks in sorted(_best_by_network(rows).items()):
        for (fa, a), (fb, b) in itertools.combinations(sorted(picks.items()), 2):
            ta, tb = tests.get((network, a.number)), tests.get((network, b.number))
            if not (ta and tb and ta.frame_mpjpe_mm and len(ta.frame_mpjpe_mm) == len(tb.frame_mpjpe_mm)):
                continue
            diff = paired_difference(ta.frame_mpjpe_mm, tb.frame_mpjpe_mm)
            verdict = _verdict(diff, fa, fb)
            table.append((network, str(a.params.get(SCHEDULE)), f"{fa} - {fb}", _interval(diff), verdict))
            schedule = a.params.get(SCHEDULE)
            lines.append(f"Network {network} ({schedule}): {fa} minus {fb} = {_interval(diff)} mm; {verdict}.")
    data = TableData(
        "Samplers on the same networks (paired, test split)",
        ("network", "schedule", "difference", "test MPJPE difference mm [95% CI]", "verdict"),
        tuple(table),
        csv_name="stage2_paired",
        note="Paired bootstrap over the same test poses (2000 resamples): an interval that holds 0 "
        "means the two samplers cannot be told apart on this network.",
    )
    return data, lines


def schedule_table(rows: Sequence[SampleRow]) -> TableData:
    """Per (schedule, sampler): test MPJPE of the chosen setting, mean over networks with a 95% interval."""
    tests, per_cell = _tests(rows), defaultdict(list)
    for network, picks in _best_by_network(rows).items():
        for family, best in picks.items():
            test = tests.get((network, best.number))
            if test is not None:
                per_cell[(str(best.params.get(SCHEDULE)), family)].append(test.mpjpe_mm)
    table = [
        (
            schedule,
            family,
            str(len(values)),
            _interval(bootstrap_mean(values), signed=False) if len(values) > 1 else fmt_mm(values[0]),
        )
        for (schedule, family), values in sorted(per_cell.items())
    ]
    return TableData(
        "Schedules across networks (test split)",
        ("schedule", "sampler", "networks", "test MPJPE mm (mean [95% CI over networks])"),
        tuple(table),
        csv_name="stage2_schedules",
        note="Networks differ in their training seed and stage-1 keys; with one network a cell has no interval.",
    )


def front_table(rows: Sequence[SampleRow]) -> TableData:
    """The validation MPJPE-vs-NFE Pareto front over every network, with the test figures."""
    tests = _tests(rows)
    table = [
        (
            r.source_trial_id,
            str(r.params.get(SCHEDULE)),
            str(r.params.get(FAMILY)),
            str(r.nfe),
            fmt_mm(r.mpjpe_mm),
            fmt_mm(tests[(r.source_trial_id, r.number)].mpjpe_mm if (r.source_trial_id, r.number) in tests else None),
            _setting_text(r),
        )
        for r in pareto_front(rows)
    ]
    return TableData(
        "Accuracy against cost: the Pareto front of stage 2",
        ("network", "schedule", "sampler", "NFE", "val MPJPE mm", "test MPJPE mm", "setting"),
        tuple(table),
        csv_name="stage2_front",
    )


def _best_by_network(rows: Sequence[SampleRow]) -> dict[str, dict[str, SampleRow]]:
    out: dict[str, dict[str, SampleRow]] = defaultdict(dict)
    for (network, family), row in best_per_family(rows).items():
        out[network][family] = row
    return out


def _interval(interval: Interval | None, signed: bool = True) -> str:
    if interval is None:
        return MISSING
    f = "+.2f" if signed else ".2f"
    return f"{interval.mean:{f}} [{interval.low:{f}}, {interval.high:{f}}]"


def _verdict(diff: Interval | None, a: str, b: str) -> str:
    if diff is None:
        return "too few poses"
    if diff.contains_zero():
        return "within noise"
    return f"{b if diff.mean > 0 else a} is better"
