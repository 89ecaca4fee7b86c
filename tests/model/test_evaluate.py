"""evaluate(): overall and per-action errors, oracle columns, NFE, reproducibility (untrained tiny lifter)."""

from __future__ import annotations

import pytest
import torch

from model.config import DiffusionConfig, NetworkConfig, PriorConfig, SamplerConfig
from model.evaluate import evaluate, predict
from model.lifter import DiffusionLifter
from model.metrics import mpjpe
from model.prior import standard_prior
from model.samplers import nfe

torch.set_num_threads(1)


def tiny_lifter(small_splits, prediction: str = "x0") -> DiffusionLifter:
    torch.manual_seed(0)
    return DiffusionLifter.from_poses(
        DiffusionConfig(num_steps=10, prediction=prediction),
        NetworkConfig(width=16, num_blocks=1, num_heads=2),
        PriorConfig(),
        standard_prior(48),
        small_splits.train.poses_3d,
    ).eval()


@pytest.fixture(scope="module")
def split(small_splits):
    return small_splits.val.subset(torch.arange(0, len(small_splits.val), 7))


def test_fields_counts_and_nfe(small_splits, split) -> None:
    lifter, cfg = tiny_lifter(small_splits), SamplerConfig(name="edm", num_steps=3, num_hypotheses=3)
    result = evaluate(lifter, split, cfg, batch_size=64, generator=torch.Generator().manual_seed(0))
    assert result.num_frames == len(split) and result.num_hypotheses == 3
    assert result.nfe == nfe(cfg, lifter.schedule) == 5
    assert set(result.mpjpe_by_action.per_action_mm) == {split.actions[i] for i in split.action_idx.unique()}
    assert sum(result.mpjpe_by_action.num_frames.values()) == len(split)
    assert result.oracle_joint_mpjpe_mm <= result.oracle_pose_mpjpe_mm  # per joint can only pick better
    assert all(0 < v < 1e4 for v in (result.mpjpe_mm, result.p_mpjpe_mm, result.n_mpjpe_mm))


def test_overall_matches_the_aggregated_predictions(small_splits, split) -> None:
    lifter, cfg = tiny_lifter(small_splits), SamplerConfig(num_steps=3, num_hypotheses=2, aggregate="median")
    result = evaluate(lifter, split, cfg, batch_size=50, generator=torch.Generator().manual_seed(1))
    pred = predict(lifter, split, cfg, batch_size=50, generator=torch.Generator().manual_seed(1))
    assert result.mpjpe_mm == pytest.approx(1000 * float(mpjpe(pred, split.poses_3d).mean()), rel=1e-5)


def test_one_hypothesis_makes_the_oracles_equal_the_mpjpe(small_splits, split) -> None:
    lifter = tiny_lifter(small_splits)
    result = evaluate(lifter, split, SamplerConfig(num_steps=2, num_hypotheses=1), batch_size=128)
    assert result.oracle_pose_mpjpe_mm == pytest.approx(result.mpjpe_mm, rel=1e-5)
    assert result.oracle_joint_mpjpe_mm == pytest.approx(result.mpjpe_mm, rel=1e-5)


def test_seeded_and_reproj_and_regress(small_splits, split) -> None:
    lifter, cfg = tiny_lifter(small_splits), SamplerConfig(num_steps=2, num_hypotheses=4, aggregate="reproj")
    runs = [evaluate(lifter, split, cfg, generator=torch.Generator().manual_seed(s)) for s in (3, 3, 4)]
    assert runs[0] == runs[1] and runs[0].mpjpe_mm != runs[2].mpjpe_mm
    regress = evaluate(tiny_lifter(small_splits, "regress"), split, cfg)
    assert (regress.nfe, regress.num_hypotheses) == (1, 1)


def test_evaluate_restores_training_mode(small_splits, split) -> None:
    lifter = tiny_lifter(small_splits).train()
    evaluate(lifter, split, SamplerConfig(num_steps=2, num_hypotheses=1))
    assert lifter.training
