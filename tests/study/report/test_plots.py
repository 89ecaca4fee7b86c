"""The accuracy / cost Pareto front drawn in the report."""

from __future__ import annotations

from study.report.plots import pareto_front


def test_pareto_front_keeps_points_no_cheaper_point_beats():
    points = [(19.0, 31.0), (10.0, 40.0), (39.0, 28.0), (20.0, 35.0), (10.0, 45.0), (79.0, 29.0)]
    assert pareto_front(points) == [(10.0, 40.0), (19.0, 31.0), (39.0, 28.0)]


def test_pareto_front_of_nothing_is_empty():
    assert pareto_front([]) == []
