"""Dataset summary statistics and the skeleton plot, on the small synthetic splits."""

from __future__ import annotations

import matplotlib.image
import numpy as np
from rich.console import Console

from study.report.inspect_data import estimated_stature_m, print_summary, save_plot, subject_bone_stats


def test_bone_stats_are_rigid_and_statures_plausible(small_splits):
    stats = subject_bone_stats(small_splits.train)
    assert sorted(stats) == ["S1", "S2"]
    for mean_m, std_m in stats.values():
        assert std_m.max() < 1e-5  # rigid bodies, float32 rounding only
        assert 0.3 < mean_m[2] < 0.55  # thigh
        assert 1.45 < estimated_stature_m(mean_m) < 2.05
    assert abs(stats["S1"][0][2] - stats["S2"][0][2]) > 0.005


def test_summary_lists_every_subject_with_its_split(small_splits):
    console = Console(width=160, record=True)
    print_summary(small_splits, console)
    text = console.export_text()
    for split, subject in (("train", "S1"), ("train", "S2"), ("val", "S3"), ("test", "S4")):
        assert any(f" {split} " in line and f" {subject} " in line for line in text.splitlines())
    assert "Squatting" in text and "RKnee-RFoot" in text


def test_plot_draws_upright_skeletons(small_splits, tmp_path):
    png = save_plot(small_splits, tmp_path / "s.png", max_actions=4)
    image = matplotlib.image.imread(png)
    assert (image[..., :3] < 0.5).any(-1).mean() > 0.005
    assert image.shape[0] > 200 and np.isfinite(image).all()
