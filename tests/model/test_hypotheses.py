"""Hypothesis aggregation and oracle errors (docs/lifter.md §6)."""

from __future__ import annotations

import pytest
import torch

from model.camera import project_to_2d
from model.errors import PoseDiffError
from model.hypotheses import aggregate, oracle_joint_error, oracle_pose_error
from model.metrics import mpjpe

torch.set_num_threads(1)
B, N, J = 4, 5, 17


def scene(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(truth [B, J, 3] root-relative metres, root_3d [B, 3] camera metres, intrinsic_norm [B, 9])."""
    g = torch.Generator().manual_seed(seed)
    truth = 0.3 * torch.randn(B, J, 3, generator=g)
    truth[:, 0] = 0.0  # root-relative
    root = torch.tensor([0.2, -0.1, 5.0]) + 0.3 * torch.randn(B, 3, generator=g)
    intrinsic = torch.tensor([2.3, 2.3, 0.01, -0.02, -0.2, 0.2, -0.01, -0.001, 0.001]).expand(B, 9)
    return truth, root, intrinsic


def test_mean_and_median_per_coordinate() -> None:
    truth, _, _ = scene()
    offsets = torch.tensor([-0.01, 0.0, 0.02])  # N = 3 hypotheses shifted along every coordinate
    hyps = truth[:, None] + offsets[None, :, None, None]
    torch.testing.assert_close(aggregate(hyps, "median"), truth)
    torch.testing.assert_close(aggregate(hyps, "mean"), truth + 0.01 / 3)
    even = torch.cat([hyps, (truth + 0.05)[:, None]], dim=1)  # N = 4: midpoint of the two middle values
    torch.testing.assert_close(aggregate(even, "median"), truth + 0.01)
    assert aggregate(hyps, "mean").shape == aggregate(hyps, "median").shape == (B, J, 3)


def test_reproj_picks_per_joint_the_hypothesis_that_reprojects_onto_the_keypoint() -> None:
    truth, root, intrinsic = scene()
    g = torch.Generator().manual_seed(1)
    hyps = truth[:, None] + 0.05 * torch.randn(B, N, J, 3, generator=g)  # every hypothesis wrong...
    correct = torch.randint(0, N, (B, J), generator=g)  # ...except one per joint, a different one per joint
    hyps[torch.arange(B)[:, None], correct, torch.arange(J)[None, :]] = truth
    keypoints_2d = project_to_2d(truth + root[:, None], intrinsic)
    chosen = aggregate(hyps, "reproj", keypoints_2d=keypoints_2d, root_3d=root, intrinsic_norm=intrinsic)
    torch.testing.assert_close(chosen, truth)
    assert float(mpjpe(aggregate(hyps, "mean"), truth).min()) > 0.01


def test_oracle_errors() -> None:
    truth, _, _ = scene()
    hyps = truth[:, None].repeat(1, 2, 1, 1)
    hyps[:, 0, 1:9] += torch.tensor([0.03, 0.0, 0.0])  # hypothesis 0: joints 1-8 off by 3 cm
    hyps[:, 1, 9:] += torch.tensor([0.0, 0.04, 0.0])  # hypothesis 1: joints 9-16 off by 4 cm
    torch.testing.assert_close(oracle_pose_error(hyps, truth), torch.full((B,), 8 * 0.03 / J))
    torch.testing.assert_close(oracle_joint_error(hyps, truth), torch.zeros(B))  # every joint right in one
    noisy = truth[:, None] + 0.05 * torch.randn(B, N, J, 3, generator=torch.Generator().manual_seed(2))
    per_hyp = mpjpe(noisy, truth[:, None])  # [B, N]
    assert bool((oracle_joint_error(noisy, truth) <= oracle_pose_error(noisy, truth)).all())
    assert bool((oracle_pose_error(noisy, truth) < per_hyp.mean(1)).all())  # best-of-N beats the average hypothesis
    torch.testing.assert_close(oracle_pose_error(noisy[:, :1], truth), per_hyp[:, 0])


def test_bad_aggregation_requests_raise_pose_diff_error() -> None:
    truth, _, _ = scene()
    with pytest.raises(PoseDiffError, match="reproj"):
        aggregate(truth[:, None], "reproj")
    with pytest.raises(PoseDiffError, match="sampler.aggregate"):
        aggregate(truth[:, None], "vote")  # type: ignore[arg-type]
