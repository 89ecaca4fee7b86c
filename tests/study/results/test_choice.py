"""study.results.choice: which stage-2 settings reach the test split (validation only)."""

from __future__ import annotations

import json

from study.results.choice import best_per_family, chosen_settings, lower_front, pareto_front
from study.results.samples import SampleRow


def row(network: str, number: int, family: str, mpjpe_mm: float, nfe: int, status: str = "complete", **kw) -> SampleRow:
    values = dict(
        study="s",
        source_trial_id=network,
        number=number,
        origin="search",
        split="val",
        frames=1000,
        status=status,
        setting=json.dumps({"sampler.name": family}),
        params={"sampler.name": family, "diffusion.schedule": "cosine"},
        mpjpe_mm=mpjpe_mm,
        p_mpjpe_mm=mpjpe_mm * 0.8,
        n_mpjpe_mm=mpjpe_mm * 0.9,
        oracle_mpjpe_mm=mpjpe_mm * 0.7,
        nfe=nfe,
        wall_s=1.0,
        cpu_s=1.0,
        node="n",
    )
    return SampleRow(**{**values, **kw})


ROWS = [
    row("a", 0, "ddim", 50.0, 10),
    row("a", 1, "ddim", 45.0, 20),
    row("a", 2, "edm", 44.0, 39),
    row("a", 3, "edm", 30.0, 39, status="pruned"),  # stopped on a subset: never chosen
    row("a", 4, "edm", 20.0, 39, status="rung"),  # a subset score of a setting that went on
    row("b", 0, "ddim", 47.0, 5),
    row("b", 1, "ddim", 47.0, 5),  # the same point twice: one of them is on the front
    row("a", 5, "ddim", 99.0, 1, origin="chosen", split="test"),  # a test row is never a candidate
]


def test_best_setting_per_network_and_family_on_validation() -> None:
    best = best_per_family(ROWS)
    assert {k: r.number for k, r in best.items()} == {("a", "ddim"): 1, ("a", "edm"): 2, ("b", "ddim"): 0}


def test_pareto_front_over_networks_by_nfe() -> None:
    assert [(r.source_trial_id, r.number) for r in pareto_front(ROWS)] == [("b", 0), ("a", 1), ("a", 2)]


def test_chosen_is_the_union_without_repeats() -> None:
    assert chosen_settings(ROWS) == [("a", 1), ("a", 2), ("b", 0)]


def test_lower_front_keeps_points_no_cheaper_point_beats():
    points = [(19.0, 31.0), (10.0, 40.0), (39.0, 28.0), (20.0, 35.0), (10.0, 45.0), (79.0, 29.0)]
    assert lower_front(points, cost=lambda p: p[0], error=lambda p: p[1]) == [(10.0, 40.0), (19.0, 31.0), (39.0, 28.0)]


def test_lower_front_of_nothing_is_empty():
    assert lower_front([], cost=lambda p: p[0], error=lambda p: p[1]) == []
