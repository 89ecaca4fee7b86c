"""The VideoPose3D camera model: extrinsics, projection and screen normalisation round trips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.camera import (
    Camera,
    camera_to_world,
    image_coordinates,
    normalised_intrinsic,
    normalize_screen_coordinates,
    project_to_2d,
    qrot,
    quaternion_to_matrix,
    world_to_camera,
)
from model.h36m_cameras import h36m_cameras

torch.set_num_threads(1)
CAM = h36m_cameras("S9")[1]


def test_quaternion_rotates_like_its_matrix_and_a_known_turn() -> None:
    v = np.random.default_rng(0).normal(size=(5, 17, 3))
    np.testing.assert_allclose(qrot(CAM.orientation, v), v @ quaternion_to_matrix(CAM.orientation).T, atol=1e-12)
    quarter_turn_z = np.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(qrot(quarter_turn_z, np.array([1.0, 0.0, 0.0])), [0.0, 1.0, 0.0], atol=1e-12)
    R = quaternion_to_matrix(torch.from_numpy(CAM.orientation))
    torch.testing.assert_close(R @ R.T, torch.eye(3, dtype=torch.float64))


@pytest.mark.parametrize("as_torch", [False, True])
def test_world_camera_world_identity(as_torch: bool) -> None:
    X = np.random.default_rng(1).normal(size=(4, 17, 3)) + [0, 0, 1]
    q, t = CAM.orientation, CAM.translation
    if as_torch:
        X, q, t = (torch.from_numpy(a) for a in (X, q, t))
    back = camera_to_world(world_to_camera(X, q, t), q, t)
    np.testing.assert_allclose(np.asarray(back), np.asarray(X), atol=1e-12)


def test_float32_stays_float32() -> None:
    X = np.zeros((2, 17, 3), dtype=np.float32)
    q, t = CAM.orientation.astype(np.float32), CAM.translation.astype(np.float32)
    assert world_to_camera(X, q, t).dtype == camera_to_world(X, q, t).dtype == np.float32
    assert normalize_screen_coordinates(X[..., :2], 1000, 1002).dtype == np.float32


def test_world_to_camera_puts_capture_centre_in_front() -> None:
    centre = world_to_camera(np.array([0.0, 0.0, 1.0]), CAM.orientation, CAM.translation)
    assert 3.0 < centre[2] < 7.0  # depth in metres; behind the camera would be negative


def test_normalisation_round_trip_and_anchor_points() -> None:
    w, h = 1000, 1002
    uv = np.random.default_rng(2).uniform(0, 1000, size=(10, 17, 2))
    np.testing.assert_allclose(image_coordinates(normalize_screen_coordinates(uv, w, h), w, h), uv, atol=1e-9)
    anchors = normalize_screen_coordinates(np.array([[0.0, 0.0], [w, h], [w / 2, h / 2]]), w, h)
    np.testing.assert_allclose(anchors, [[-1, -h / w], [1, h / w], [0, 0]], atol=1e-12)
    uv_t = torch.from_numpy(uv).float()
    back = image_coordinates(normalize_screen_coordinates(uv_t, w, h), w, h)
    assert back.dtype == torch.float32 and torch.allclose(back, uv_t, atol=1e-3)


def _pixels_by_hand(X: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per point: distorted pinhole in pixels, written out term by term."""
    fx, fy, cx, cy, k1, k2, k3, p1, p2 = k
    out = []
    for x, y, z in X.reshape(-1, 3):
        a, b = x / z, y / z
        r2 = a * a + b * b
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        tan = p1 * a + p2 * b
        out.append([fx * (a * (radial + tan) + p1 * r2) + cx, fy * (b * (radial + tan) + p2 * r2) + cy])
    return np.array(out).reshape(*X.shape[:-1], 2)


def test_projection_with_normalised_intrinsics_matches_pixel_model() -> None:
    X = np.random.default_rng(3).normal(0, 0.4, size=(3, 17, 3)) + [0, 0, 5]
    uv_norm = project_to_2d(X, normalised_intrinsic(CAM).astype(np.float64))
    pixels = image_coordinates(uv_norm, CAM.res_w, CAM.res_h)
    np.testing.assert_allclose(pixels, _pixels_by_hand(X, CAM.intrinsic), atol=1e-3)  # float32 intrinsics


def test_projection_round_trip_without_distortion() -> None:
    """Project, then back-project with the known depth: the same camera-frame points."""
    cam = Camera("pinhole", 640, 480, np.array([500.0, 520, 320, 250, 0, 0, 0, 0, 0]), CAM.orientation, CAM.translation)
    k = normalised_intrinsic(cam).astype(np.float64)
    X = np.random.default_rng(4).normal(0, 0.3, size=(6, 17, 3)) + [0, 0, 4]
    uv = project_to_2d(X, k)
    xy = (uv - k[2:4]) / k[0:2] * X[..., 2:3]
    np.testing.assert_allclose(np.concatenate([xy, X[..., 2:3]], -1), X, atol=1e-9)


def test_projection_numpy_and_torch_agree_with_per_frame_intrinsics() -> None:
    X = np.random.default_rng(5).normal(0, 0.4, size=(2, 8, 17, 3)) + [0, 0, 5]
    k = np.stack([normalised_intrinsic(c) for c in h36m_cameras("S1")[:2]]).astype(np.float64)[:, None].repeat(8, 1)
    out_np = project_to_2d(X, k)
    out_t = project_to_2d(torch.from_numpy(X), torch.from_numpy(k))
    assert out_np.shape == (2, 8, 17, 2)
    np.testing.assert_allclose(out_t.numpy(), out_np, atol=1e-12)
    assert not np.allclose(out_np[0], out_np[1])  # different cameras, different projections


def test_per_pose_quaternions_match_one_camera_at_a_time() -> None:
    cams = h36m_cameras("S1")
    X = np.random.default_rng(6).normal(size=(4, 17, 3))
    q = np.stack([c.orientation for c in cams])[:, None]  # [4, 1, 4] broadcast over joints
    t = np.stack([c.translation for c in cams])[:, None]
    batched = world_to_camera(X, q, t)
    for i, cam in enumerate(cams):
        np.testing.assert_allclose(batched[i], world_to_camera(X[i], cam.orientation, cam.translation), atol=1e-12)
