"""Binning for marginal effects and eval-row ids of the test-time sampler sweep."""

from __future__ import annotations

from study.report.details import bins, source_trial


def test_few_distinct_values_are_their_own_bins():
    assert bins([5, 3, 3, 8]) == [("3", 3, 3), ("5", 5, 5), ("8", 8, 8)]
    assert [b[0] for b in bins([0.5, 0.25])] == ["0.25", "0.5"]


def test_continuous_values_fall_in_at_most_four_quantile_bins():
    values = [float(v) for v in range(1, 10)]  # quartiles of 1..9: 1, 3, 5, 7, 9
    assert bins(values) == [("[1, 3)", 1.0, 3.0), ("[3, 5)", 3.0, 5.0), ("[5, 7)", 5.0, 7.0), ("[7, 9]", 7.0, 9.0)]


def test_repeated_quantiles_merge_bins():
    values = [0.0] * 6 + [1.0, 2.0, 3.0, 4.0]  # the lower quartiles coincide at 0
    labels = [b[0] for b in bins(values)]
    assert len(labels) < 4 and labels[0].startswith("[0, ") and labels[-1].endswith("4]")


def test_eval_row_ids_name_their_source_trial():
    assert source_trial("study_a_00003/eval-12") == ("study_a_00003", 12)
    assert source_trial("study_a_00003") == ("study_a_00003", -1)
