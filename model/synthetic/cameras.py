"""Virtual cameras around the capture volume and a 2D-detector noise model, in pixels."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.signal import lfilter

from model.camera import (
    Camera,
    image_coordinates,
    normalised_intrinsic,
    project_to_2d,
    world_to_camera,
)

RES_PX = 1000
# Per-joint detector noise std, pixels: steady torso, heavier at the extremities (wrists, ankles).
NOISE_STD_PX = np.array([2.0, 2.5, 3.5, 5.5, 2.5, 3.5, 5.5, 2.5, 2.5, 2.5, 3.0, 3.0, 4.0, 6.0, 3.0, 4.0, 6.0])
NOISE_CORRELATION = 0.6  # AR(1) coefficient between consecutive frames
OUTLIER_RATE = 0.02  # fraction of joint-frames thrown far off
OUTLIER_PX = (20.0, 60.0)


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] -> unit quaternion [4] (w, x, y, z) with w >= 0 (Shepperd's method)."""
    trace = np.trace(R)
    candidates = np.array([trace, R[0, 0], R[1, 1], R[2, 2]])
    k = int(np.argmax(candidates))
    if k == 0:
        w = np.sqrt(1.0 + trace) / 2
        q = np.array([w, (R[2, 1] - R[1, 2]) / (4 * w), (R[0, 2] - R[2, 0]) / (4 * w), (R[1, 0] - R[0, 1]) / (4 * w)])
    else:
        i, j, m = k - 1, k % 3, (k + 1) % 3
        v = np.empty(3)
        v[i] = np.sqrt(1.0 + R[i, i] - R[j, j] - R[m, m]) / 2
        v[j], v[m] = (R[j, i] + R[i, j]) / (4 * v[i]), (R[m, i] + R[i, m]) / (4 * v[i])
        q = np.array([(R[m, j] - R[j, m]) / (4 * v[i]), *v])
    return q * np.sign(q[0] or 1.0)


def look_at_orientation(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world quaternion [4] for a camera at centre looking at target (z-up world).

    Camera frame: x right, y down, z forward (the optical axis).
    """
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return matrix_to_quaternion(np.stack([right, down, forward], axis=1))


def camera_intrinsics(num_cameras: int, rng: np.random.Generator) -> np.ndarray:
    """[C, 9] intrinsics (fx, fy, cx, cy, k1, k2, k3, p1, p2) in pixels for 1000x1000 px cameras:
    f ~ 1150 px, principal point near the centre, small distortion (shared by every subject, as in
    Human3.6M where only the extrinsics change between sessions)."""
    focal = rng.uniform(1140.0, 1160.0, (num_cameras, 1)) + np.stack(
        [np.zeros(num_cameras), rng.uniform(-2.0, 2.0, num_cameras)], -1
    )
    principal = RES_PX / 2 + rng.uniform(-10.0, 10.0, (num_cameras, 2))
    radial = rng.uniform([-0.05, -0.02, -0.005], [0.05, 0.02, 0.005], (num_cameras, 3))
    tangential = rng.uniform(-0.001, 0.001, (num_cameras, 2))
    return np.concatenate([focal, principal, radial, tangential], -1)


def camera_rig(intrinsics: np.ndarray, rng: np.random.Generator) -> list[Camera]:
    """One camera per row of intrinsics [C, 9], evenly around the capture volume (random jitter),
    4.5-5.5 m from its centre, 1.3-1.9 m high, looking at the centre ~0.9 m above the floor."""
    cameras = []
    for k, intrinsic in enumerate(intrinsics):
        azimuth = 2 * np.pi * (k + 0.5) / len(intrinsics) + rng.uniform(-0.15, 0.15)
        distance_m = rng.uniform(4.5, 5.5)
        centre = np.array([distance_m * np.cos(azimuth), distance_m * np.sin(azimuth), rng.uniform(1.3, 1.9)])
        target = np.array([*rng.uniform(-0.2, 0.2, 2), rng.uniform(0.8, 1.0)])
        cameras.append(
            Camera(
                id=f"cam{k + 1}",
                res_w=RES_PX,
                res_h=RES_PX,
                intrinsic=intrinsic,
                orientation=look_at_orientation(centre, target),
                translation=centre,
            )
        )
    return cameras


def project_px(positions_world: np.ndarray, camera: Camera) -> np.ndarray:
    """World joints [T, J, 3] metres -> pixels [T, J, 2] through camera (VideoPose3D model)."""
    in_camera = world_to_camera(positions_world, camera.orientation, camera.translation)
    uv_norm = project_to_2d(in_camera, normalised_intrinsic(camera).astype(np.float64))
    return image_coordinates(uv_norm, camera.res_w, camera.res_h)


def detector_noise_px(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """[T, 17, 2] pixel offsets like a 2D detector's: per-joint Gaussian, AR(1) in time, outliers."""
    white = rng.standard_normal((num_frames, NOISE_STD_PX.size, 2))
    rho = NOISE_CORRELATION
    white[0] /= np.sqrt(1 - rho**2)  # start in the stationary distribution
    # AR(1): n_t = rho n_{t-1} + sqrt(1 - rho^2) e_t, unit stationary variance
    correlated = lfilter([np.sqrt(1 - rho**2)], [1.0, -rho], white, axis=0)
    noise = correlated * NOISE_STD_PX[None, :, None]
    outlier = rng.random((num_frames, NOISE_STD_PX.size)) < OUTLIER_RATE
    angle = rng.uniform(0, 2 * np.pi, outlier.shape)
    radius = rng.uniform(*OUTLIER_PX, outlier.shape) * outlier
    return noise + radius[..., None] * np.stack([np.cos(angle), np.sin(angle)], -1)


def camera_record(camera: Camera) -> dict[str, Any]:
    """The custom format's camera dict (docs/data.md): id, res_w, res_h, intrinsic, orientation, translation."""
    return {
        "id": camera.id,
        "res_w": camera.res_w,
        "res_h": camera.res_h,
        "intrinsic": camera.intrinsic,
        "orientation": camera.orientation,
        "translation": camera.translation,
    }
