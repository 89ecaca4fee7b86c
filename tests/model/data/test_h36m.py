"""Human3.6M in VideoPose3D's files: built-in cameras, 32 joints, GMM 2D, malformed files named."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model.data.h36m import DEFAULT_SPLITS, read_h36m
from model.errors import PoseDiffError
from model.h36m_cameras import SUBJECTS


def test_valid_directory_reads_with_published_cameras(h36m_dir: Callable[..., Path]) -> None:
    raw = read_h36m(h36m_dir(), "gt")
    assert raw.is_h36m and raw.name == "h36m-gt" and raw.default_splits == DEFAULT_SPLITS
    assert raw.subjects == SUBJECTS and raw.actions == ("Walking", "Walking 1", "Eating 2")
    assert all(len(raw.cameras[s]) == 4 for s in SUBJECTS)
    seq = raw.sequences[0]
    assert seq.positions_world.shape == (5, 17, 3) and [k.shape for k in seq.keypoints_px] == [(5, 17, 2)] * 4


def _as_gmm(content: dict) -> None:
    """Replace each camera's keypoints by 3 components; the heaviest (index 1) holds the true keypoint."""
    rng = np.random.default_rng(7)
    for actions in content["positions_2d"].values():
        for action, cams in actions.items():
            gmm = []
            for uv in cams:
                g = rng.uniform(0, 1000, size=(*uv.shape[:2], 3, 5))
                g[..., 0] = [0.2, 0.7, 0.1]
                g[:, :, 1, 1:3] = uv
                gmm.append(g)
            actions[action] = gmm


def test_gmm_2d_file_gives_the_heaviest_mean(h36m_dir: Callable[..., Path]) -> None:
    directory = h36m_dir()
    h36m_dir(mutate_2d=_as_gmm, keypoints="cpn_gmm")  # same seeds: same poses, GMM-wrapped 2D
    gt, gmm = read_h36m(directory, "gt"), read_h36m(directory, "cpn_gmm")
    for a, b in zip(gt.sequences, gmm.sequences):
        for uv_gt, uv_gmm in zip(a.keypoints_px, b.keypoints_px):
            np.testing.assert_array_equal(uv_gmm, uv_gt)


def test_17_joint_3d_file_is_accepted(h36m_dir: Callable[..., Path]) -> None:
    assert read_h36m(h36m_dir(num_joints=17), "gt").sequences[0].positions_world.shape == (5, 17, 3)


def _extra_subject(content: dict) -> None:
    content["positions_3d"]["S2"] = content["positions_3d"]["S1"]


def _three_cameras(content: dict) -> None:
    content["positions_2d"]["S8"]["Walking 1"] = content["positions_2d"]["S8"]["Walking 1"][:3]


def _short(content: dict) -> None:
    cams = content["positions_2d"]["S1"]["Walking"]
    cams[2] = cams[2][:4]


def _nan_3d(content: dict) -> None:
    content["positions_3d"]["S9"]["Eating 2"][1, 30, 2] = np.nan


def _metadata_16(content: dict) -> None:
    content["metadata"]["num_joints"] = 16


MALFORMED = [
    (
        "subject without cameras",
        _extra_subject,
        None,
        "data_3d_h36m.npz",
        "positions_3d/S2",
        "a subject with no cameras",
    ),
    (
        "three camera arrays",
        None,
        _three_cameras,
        "data_2d_h36m_gt.npz",
        "positions_2d/S8/Walking 1",
        "expected 4 per-camera arrays",
    ),
    ("2D shorter than 3D", None, _short, "data_2d_h36m_gt.npz", "positions_2d/S1/Walking/camera 2", "found 4 frames"),
    ("NaN in 3D", _nan_3d, None, "data_3d_h36m.npz", "positions_3d/S9/Eating 2", "found 1 NaN/inf values"),
    ("metadata joints", None, _metadata_16, "data_2d_h36m_gt.npz", "metadata/num_joints", "found 16"),
]


@pytest.mark.parametrize(
    "mutate_3d, mutate_2d, file, key, problem", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_files_name_file_key_and_problem(
    h36m_dir: Callable[..., Path], mutate_3d, mutate_2d, file: str, key: str, problem: str
) -> None:
    directory = h36m_dir(mutate_3d=mutate_3d, mutate_2d=mutate_2d)
    with pytest.raises(PoseDiffError) as info:
        read_h36m(directory, "gt")
    assert str(info.value).startswith(f"{directory / file}: {key}:"), str(info.value)
    assert problem in str(info.value)


def test_missing_keypoint_file_is_named(h36m_dir: Callable[..., Path]) -> None:
    directory = h36m_dir()
    with pytest.raises(
        PoseDiffError, match=r"data_2d_h36m_cpn_ft_h36m_dbb\.npz: expected an existing \.npz file, found no such file"
    ):
        read_h36m(directory, "cpn_ft_h36m_dbb")
