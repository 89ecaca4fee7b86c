"""Pairing 3D and 2D: the 32 -> 17 joint map, truncation of longer 2D, DiffPose GMM keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.data.sequences import gmm_keypoints, read_sequences
from model.errors import PoseDiffError
from model.skeleton import H36M_32_TO_17

P3, P2 = Path("d3.npz"), Path("d2.npz")


def _labelled_32(num_frames: int) -> np.ndarray:
    """[T, 32, 3] with x = the 32-layout joint index, y = the frame index."""
    X = np.zeros((num_frames, 32, 3))
    X[..., 0] = np.arange(32)
    X[..., 1] = np.arange(num_frames)[:, None]
    return X


def test_32_joints_map_to_17_and_2d_truncates_to_3d_length() -> None:
    kp = np.arange(7 * 17 * 2, dtype=np.float64).reshape(7, 17, 2)
    (seq,) = read_sequences({"S1": {"Walking": _labelled_32(5)}}, {"S1": {"Walking": [kp, kp + 1]}}, {"S1": 2}, P3, P2)
    assert seq.positions_world.shape == (5, 17, 3)
    assert seq.positions_world[0, :, 0].tolist() == list(H36M_32_TO_17)
    assert seq.positions_world[:, 0, 1].tolist() == [0, 1, 2, 3, 4]
    assert [k.shape for k in seq.keypoints_px] == [(5, 17, 2)] * 2
    np.testing.assert_array_equal(seq.keypoints_px[1], kp[:5] + 1)


def test_2d_shorter_than_3d_names_the_camera() -> None:
    with pytest.raises(
        PoseDiffError, match=r"d2\.npz: positions_2d/S1/Walking/camera 1: expected at least 5 frames .*found 4 frames"
    ):
        read_sequences(
            {"S1": {"Walking": _labelled_32(5)}},
            {"S1": {"Walking": [np.zeros((5, 17, 2)), np.zeros((4, 17, 2))]}},
            {"S1": 2},
            P3,
            P2,
        )


def test_missing_2d_action_is_named() -> None:
    with pytest.raises(
        PoseDiffError, match=r"d2\.npz: positions_2d/S1/Eating: expected a list of 1 per-camera arrays .*found missing"
    ):
        read_sequences(
            {"S1": {"Eating": _labelled_32(3)}}, {"S1": {"Walking": [np.zeros((3, 17, 2))]}}, {"S1": 1}, P3, P2
        )


def test_gmm_keypoints_take_the_heaviest_component_mean() -> None:
    rng = np.random.default_rng(0)
    gmm = rng.uniform(0, 1000, size=(4, 17, 3, 5))
    gmm[..., 0] = rng.dirichlet(np.ones(3), size=(4, 17))
    uv = gmm_keypoints(gmm)
    assert uv.shape == (4, 17, 2)
    for t, j in ((0, 0), (3, 16), (2, 9)):
        k = int(np.argmax(gmm[t, j, :, 0]))
        np.testing.assert_array_equal(uv[t, j], gmm[t, j, k, 1:3])
