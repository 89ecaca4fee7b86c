"""study.report.bootstrap: percentile intervals for the report's paired and across-network comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from study.report.bootstrap import bootstrap_mean, paired_difference


def test_a_sampler_against_itself_differs_by_an_interval_holding_zero() -> None:
    errors = np.random.default_rng(0).gamma(4.0, 15.0, size=500)  # per-pose MPJPE, mm
    diff = paired_difference(errors, errors)
    assert diff is not None and diff.contains_zero() and diff.mean == 0.0


def test_a_known_worse_sampler_is_told_apart_and_the_interval_holds_the_true_gap() -> None:
    rng = np.random.default_rng(1)
    good = rng.gamma(4.0, 15.0, size=500)
    worse = good + 2.0 + rng.normal(0.0, 3.0, size=500)  # 2 mm worse on average, noisy per pose
    diff = paired_difference(worse, good)
    assert diff is not None and not diff.contains_zero()
    assert diff.low < 2.0 < diff.high and diff.low > 0


def test_pairing_sees_a_gap_that_unpaired_pose_spread_would_hide() -> None:
    rng = np.random.default_rng(2)
    good = rng.gamma(4.0, 15.0, size=200)  # spread of poses: ~30 mm
    worse = good + 1.0
    assert not paired_difference(worse, good).contains_zero()
    overlap = bootstrap_mean(worse).low < bootstrap_mean(good).high  # each mean alone: the intervals overlap
    assert overlap


def test_too_few_values_give_no_interval_and_unequal_pairs_are_refused() -> None:
    assert bootstrap_mean([3.0]) is None
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1.0, 2.0], [1.0])
