"""MPJPE, P-MPJPE, N-MPJPE and the per-action tables (VideoPose3D definitions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.metrics import action_table, h36m_action_name, mpjpe, n_mpjpe, p_mpjpe

torch.set_num_threads(1)


def _poses(num_poses: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.3, size=(num_poses, 17, 3))


def _rotations(num: int, seed: int = 1) -> np.ndarray:
    """[num, 3, 3] random proper rotations (QR of Gaussian matrices, det fixed to +1)."""
    Q, R = np.linalg.qr(np.random.default_rng(seed).normal(size=(num, 3, 3)))
    Q = Q * np.sign(np.diagonal(R, axis1=1, axis2=2))[:, None, :]
    Q[np.linalg.det(Q) < 0, :, 0] *= -1
    return Q


def test_mpjpe_of_known_offset_keeps_type_and_shape() -> None:
    target = _poses().reshape(2, 4, 17, 3)
    pred = target + [0.03, 0.04, 0.0]  # 5 cm on every joint
    out = mpjpe(pred, target)
    assert isinstance(out, np.ndarray) and out.shape == (2, 4)
    np.testing.assert_allclose(out, 0.05)
    out_t = mpjpe(torch.tensor(pred * 1000, dtype=torch.float32), torch.tensor(target * 1000, dtype=torch.float32))
    assert out_t.dtype == torch.float32 and torch.allclose(out_t, torch.full((2, 4), 50.0))


def test_p_mpjpe_is_zero_for_a_similar_copy() -> None:
    target = _poses()
    pred = 1.7 * np.einsum("fij,fkj->fki", _rotations(8), target) + np.random.default_rng(2).normal(size=(8, 1, 3))
    assert mpjpe(pred, target).min() > 0.1
    np.testing.assert_allclose(p_mpjpe(pred, target), 0.0, atol=1e-9)
    np.testing.assert_allclose(p_mpjpe(torch.from_numpy(pred), torch.from_numpy(target)).numpy(), 0.0, atol=1e-9)


def test_p_mpjpe_does_not_undo_a_mirror() -> None:
    target = _poses()
    mirrored = target * [-1.0, 1.0, 1.0]  # det -1: no rotation reaches it
    assert (p_mpjpe(mirrored, target) > 0.05).all()
    assert (p_mpjpe(mirrored, target) <= mpjpe(mirrored, target) + 1e-12).all()


def test_p_mpjpe_matches_brute_force_fit_on_noisy_pose() -> None:
    """The closed form is no worse than any rotation / scale tried on a grid around it."""
    target = _poses(1)[0]
    pred = target + np.random.default_rng(3).normal(0, 0.05, size=target.shape)
    best = float(p_mpjpe(pred, target))
    p0, t0 = pred - pred.mean(0), target - target.mean(0)
    for R in _rotations(200, seed=4):
        for scale in (0.9, 1.0, 1.1):
            assert np.linalg.norm(scale * p0 @ R - t0, axis=-1).mean() >= best - 1e-12


def test_n_mpjpe_is_scale_invariant() -> None:
    target = _poses()
    pred = target + np.random.default_rng(5).normal(0, 0.05, size=target.shape)
    np.testing.assert_allclose(n_mpjpe(2.0 * target, target), 0.0, atol=1e-12)
    np.testing.assert_allclose(n_mpjpe(3.0 * pred, target), n_mpjpe(pred, target), rtol=1e-9)
    assert (n_mpjpe(pred, target) <= mpjpe(pred, target) + 1e-12).all()
    assert (n_mpjpe(pred + 0.5, target) > 0.1).all()  # scale only: a translation stays an error


def test_h36m_action_names_merge_sub_actions() -> None:
    assert h36m_action_name("Walking 1") == "Walking"
    assert h36m_action_name("WalkTogether 2") == "WalkTogether"
    assert h36m_action_name("TakingPhoto 1") == h36m_action_name("Photo") == "Photo"
    assert h36m_action_name("SittingDown") == "SittingDown"


ACTIONS = ("Walking", "Walking 1", "Eating")
ERRORS_MM = np.array([10.0, 20.0, 30.0, 60.0, 60.0])  # Walking: 10; Walking 1: 20, 30; Eating: 60, 60
ACTION_IDX = np.array([0, 1, 1, 2, 2])


def test_action_table_h36m_merges_then_averages_actions() -> None:
    table = action_table(ERRORS_MM, ACTION_IDX, ACTIONS, is_h36m=True)
    assert table.per_action_mm == pytest.approx({"Walking": 20.0, "Eating": 60.0})
    assert table.num_frames == {"Walking": 3, "Eating": 2}
    assert table.overall_mm == pytest.approx(40.0)  # mean of the action means, not of the frames (36)


def test_action_table_elsewhere_is_frame_weighted() -> None:
    table = action_table(torch.from_numpy(ERRORS_MM), torch.from_numpy(ACTION_IDX), ACTIONS, is_h36m=False)
    assert table.per_action_mm == pytest.approx({"Walking": 10.0, "Walking 1": 25.0, "Eating": 60.0})
    assert table.overall_mm == pytest.approx(36.0)
