"""The synthetic dataset: determinism, rigid bodies, floor contact, anatomy, cameras, noise, format."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from model.camera import Camera
from model.errors import PoseDiffError
from model.skeleton import PARENTS
from model.synthetic import (
    GENERATOR_VERSION,
    build,
    cache_dir,
    default_dataset_path,
    generate,
)
from model.synthetic.activities import ACTIVITIES
from model.synthetic.cameras import NOISE_STD_PX, project_px

ANKLES, WRISTS, TORSO = [3, 6], [13, 16], [0, 7, 8]
PARENT_OR_SELF = [max(parent, 0) for parent in PARENTS]


@pytest.fixture(scope="module")
def data() -> dict:
    return build(seed=3, num_subjects=3, minutes=0.2, num_cameras=2)


def all_poses(data: dict, subject: str) -> np.ndarray:
    """[F, 17, 3] float64 world poses of one subject, all activities."""
    return np.concatenate(list(data["positions_3d"][subject].values())).astype(np.float64)


def as_camera(record: dict) -> Camera:
    return Camera(
        **{k: np.asarray(v) if k in ("intrinsic", "orientation", "translation") else v for k, v in record.items()}
    )


def test_same_seed_same_arrays_different_seed_different(data):
    again = build(seed=3, num_subjects=3, minutes=0.2, num_cameras=2)
    other = build(seed=4, num_subjects=3, minutes=0.2, num_cameras=2)
    for action in ACTIVITIES:
        np.testing.assert_array_equal(data["positions_3d"]["S2"][action], again["positions_3d"]["S2"][action])
        np.testing.assert_array_equal(data["positions_2d"]["S2"][action][1], again["positions_2d"]["S2"][action][1])
        assert np.abs(data["positions_3d"]["S2"][action] - other["positions_3d"]["S2"][action]).max() > 0.05
    assert data["cameras"]["S1"][0]["translation"].tolist() == again["cameras"]["S1"][0]["translation"].tolist()


def test_bone_lengths_constant_per_subject_and_differ_between_subjects(data):
    per_subject = []
    for subject in data["positions_3d"]:
        p = all_poses(data, subject)
        lengths = np.linalg.norm(p - p[:, PARENT_OR_SELF], axis=-1)[:, 1:]  # [F, 16]
        assert np.abs(lengths - np.median(lengths, 0)).max() < 1e-6
        per_subject.append(np.median(lengths, 0))
    assert np.abs(per_subject[0] - per_subject[1]).max() > 0.01


def test_lowest_foot_touches_the_floor(data):
    for subject in data["positions_3d"]:
        lowest_foot_m = all_poses(data, subject)[:, ANKLES, 2].min(1)
        assert np.mean(np.abs(lowest_foot_m) < 0.03) > 0.95
        assert lowest_foot_m.min() > -0.05  # nobody sinks into the floor


def test_statures_plausible_and_match_the_skeleton(data):
    for subject, height_m in data["metadata"]["subject_height_m"].items():
        assert 1.45 <= height_m <= 2.0
        standing = data["positions_3d"][subject]["Standing"].astype(np.float64)
        head_m = np.median(standing[:, 10, 2])  # head joint above the floor
        assert 0.85 * height_m < head_m < 0.97 * height_m


def test_knees_bend_forward_only_and_within_range(data):
    """Knee angle from positions: (thigh x shank) points to the body's left, flexion <= 140 deg."""
    for subject in data["positions_3d"]:
        p = all_poses(data, subject)
        left = p[:, 4] - p[:, 1]
        left /= np.linalg.norm(left, axis=-1, keepdims=True)
        for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
            thigh, shank = p[:, knee] - p[:, hip], p[:, ankle] - p[:, knee]
            unit = np.linalg.norm(thigh, axis=-1) * np.linalg.norm(shank, axis=-1)
            sin_flex = (np.cross(thigh, shank) * left).sum(-1) / unit
            cos_flex = (thigh * shank).sum(-1) / unit
            assert sin_flex.min() > -1e-3  # never hyper-extended backwards
            assert np.degrees(np.arccos(np.clip(cos_flex, -1, 1))).max() < 141.0
            assert np.degrees(np.arccos(np.clip(cos_flex, -1, 1))).max() > 60.0  # they do bend


def test_locomotion_travels_and_stationary_feet_stay(data):
    walking = data["positions_3d"]["S1"]["Walking"].astype(np.float64)
    standing = data["positions_3d"]["S1"]["Standing"].astype(np.float64)
    path_m = np.linalg.norm(np.diff(walking[:, 0, :2], axis=0), axis=-1).sum()
    assert path_m / (len(walking) / data["metadata"]["fps"]) > 0.5  # walks faster than 0.5 m/s
    feet_xy = standing[:, ANKLES, :2].mean(1)
    assert np.linalg.norm(feet_xy - feet_xy[0], axis=-1).max() < 0.1


def test_one_rig_of_intrinsics_with_per_subject_extrinsics(data):
    first, second = data["cameras"]["S1"], data["cameras"]["S2"]
    assert [c["id"] for c in first] == ["cam1", "cam2"]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a["intrinsic"], b["intrinsic"])
        assert np.linalg.norm(a["translation"] - b["translation"]) > 0.01
        distance_m = np.linalg.norm(a["translation"][:2])
        assert 2.0 < distance_m < 6.0 and 1150 == pytest.approx(a["intrinsic"][0], abs=20)


def test_clean_projection_inside_the_image(data):
    inside = []
    for subject, cameras in data["cameras"].items():
        for record in cameras:
            camera = as_camera(record)
            for poses in data["positions_3d"][subject].values():
                uv = project_px(poses.astype(np.float64), camera)
                inside.append(((uv >= 0) & (uv < camera.res_w)).all(axis=(1, 2)))
    assert np.concatenate(inside).mean() > 0.95


def test_2d_noise_heavier_at_wrists_and_ankles_with_few_outliers(data):
    residual = []
    for subject, cameras in data["cameras"].items():
        for c, record in enumerate(cameras):
            for action, poses in data["positions_3d"][subject].items():
                clean = project_px(poses.astype(np.float64), as_camera(record))
                residual.append(np.linalg.norm(data["positions_2d"][subject][action][c] - clean, axis=-1))
    residual_px = np.concatenate(residual)  # [F, 17]
    typical_px = np.median(residual_px, 0)
    assert typical_px[WRISTS + ANKLES].min() > 1.5 * typical_px[TORSO].max()
    assert 1.0 < typical_px.min() and typical_px.max() < 10.0
    far = residual_px > 4 * NOISE_STD_PX.max()
    assert 0.005 < far.mean() < 0.05


def test_file_format(tmp_path):
    out = generate(tmp_path / "tiny.npz", seed=0, num_subjects=3, minutes=0.05, num_cameras=3)
    assert sorted(os.listdir(tmp_path)) == ["tiny.npz"]  # no temp file left behind
    npz = np.load(out, allow_pickle=True)
    assert sorted(npz.files) == ["cameras", "metadata", "positions_2d", "positions_3d"]
    p3, p2 = npz["positions_3d"].item(), npz["positions_2d"].item()
    cameras, metadata = npz["cameras"].item(), npz["metadata"].item()
    assert list(p3) == ["S1", "S2", "S3"] and list(p3["S1"]) == list(ACTIVITIES)
    for subject in p3:
        assert len(cameras[subject]) == 3
        assert set(cameras[subject][0]) == {"id", "res_w", "res_h", "intrinsic", "orientation", "translation"}
        assert np.asarray(cameras[subject][0]["intrinsic"]).shape == (9,)
        assert np.linalg.norm(cameras[subject][0]["orientation"]) == pytest.approx(1.0)
        for action, poses in p3[subject].items():
            assert poses.dtype == np.float32 and poses.shape[1:] == (17, 3)
            assert [kp.shape for kp in p2[subject][action]] == [(poses.shape[0], 17, 2)] * 3
    assert metadata["num_joints"] == 17 and metadata["fps"] == 50
    assert metadata["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    assert metadata["splits"] == {"train": ["S1"], "val": ["S2"], "test": ["S3"]}
    assert "Not Human3.6M" in metadata["description"]


@pytest.mark.parametrize("kwargs", [{"num_subjects": 2}, {"minutes": 0.0}, {"num_cameras": 0}])
def test_bad_arguments_raise_posediff_error(tmp_path, kwargs):
    with pytest.raises(PoseDiffError, match=next(iter(kwargs))):
        generate(tmp_path / "x.npz", **kwargs)


@pytest.mark.slow
def test_default_dataset_is_generated_once_in_the_cache(posediff_cache):
    path = default_dataset_path()
    assert path.parent == cache_dir() == Path(posediff_cache)
    assert f"v{GENERATOR_VERSION}" in path.name and "seed0" in path.name
    mtime = path.stat().st_mtime_ns
    assert default_dataset_path() == path and path.stat().st_mtime_ns == mtime
    npz = np.load(path, allow_pickle=True)
    p3, metadata = npz["positions_3d"].item(), npz["metadata"].item()
    assert list(p3) == [f"S{k}" for k in range(1, 8)]
    assert metadata["splits"] == {"train": ["S1", "S2", "S3", "S4"], "val": ["S5"], "test": ["S6", "S7"]}
    assert sum(len(poses) for poses in p3["S3"].values()) == pytest.approx(3000, abs=len(ACTIVITIES))
    assert len(npz["positions_2d"].item()["S3"]["Walking"]) == 4
