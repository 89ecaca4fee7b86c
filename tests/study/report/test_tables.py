"""Cell summaries of the comparison: counts, best / median over complete trials, compute units."""

from __future__ import annotations

import math

from study.report.tables import fmt_mm, fmt_value, group_cells, summarize


def record(
    trial_id: str,
    status: str,
    best: float | None,
    gpu_s: float = 0.0,
    cpu_s: float = 0.0,
    wall_s: float = 3600.0,
    **params,
) -> dict:
    return {
        "study": "s",
        "trial_id": trial_id,
        "status": status,
        "best_val_mpjpe_mm": best,
        "gpu_s": gpu_s,
        "cpu_s": cpu_s,
        "wall_s": wall_s,
        "kind": "train",
        **{f"param.{k}": v for k, v in params.items()},
    }


def test_best_and_median_use_complete_trials_only():
    s = summarize(
        [
            record("a", "complete", 40.0),
            record("b", "complete", 30.0),
            record("c", "pruned", 10.0),
            record("d", "failed", None),
            record("e", "complete", math.nan),
        ]
    )
    assert s.best["trial_id"] == "b" and s.median_mm == 35.0
    assert dict(s.counts) == {"running": 0, "complete": 3, "pruned": 1, "failed": 1}


def test_compute_is_gpu_hours_when_measured_else_cpu_hours_from_cpu_or_wall_time():
    assert (
        summarize([record("a", "complete", 1.0, gpu_s=1800.0), record("b", "complete", 2.0)]).compute() == "0.5 GPU-h"
    )
    assert summarize([record("a", "complete", 1.0, cpu_s=7200.0), record("b", "complete", 2.0)]).compute() == "3 CPU-h"


def test_cells_split_the_regress_reference_and_skip_eval_rows():
    rows = [
        record("a", "complete", 1.0, **{"diffusion.schedule": "cosine", "sampler.name": "edm"}),
        record("r", "complete", 1.0, **{"diffusion.schedule": "cosine", "diffusion.prediction": "regress"}),
        {**record("a/eval-0", "complete", 1.0), "kind": "eval"},
        record("n", "complete", 1.0),
    ]
    cells, regress = group_cells(rows)
    assert list(cells) == [("cosine", "edm"), ("n/a", "n/a")] and [r["trial_id"] for r in regress] == ["r"]


def test_formats_are_fixed():
    assert (fmt_mm(31.234), fmt_mm(None), fmt_mm(math.inf)) == ("31.23", "—", "—")
    assert (fmt_value(0.0009145123), fmt_value(True), fmt_value(["S1", "S5"]), fmt_value(7)) == (
        "0.0009145",
        "true",
        "S1,S5",
        "7",
    )
