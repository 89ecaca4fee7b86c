"""The VideoPose3D camera model: quaternion extrinsics, distorted pinhole projection, screen normalisation.

Conventions (docs/data.md): the orientation quaternion (w, x, y, z) rotates camera-frame
vectors into the world frame; the translation is the camera centre in world metres; 2D keypoints
live in normalised screen coordinates u' = 2u/w - 1, v' = 2v/w - h/w (pixels / w scale both axes,
so the aspect ratio is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class Camera:
    """One calibrated camera.

    intrinsic: [9] (fx, fy, cx, cy, k1, k2, k3, p1, p2), focal and centre in pixels;
    orientation: [4] quaternion (w, x, y, z), camera-to-world; translation: [3] camera centre, metres.
    """

    id: str
    res_w: int
    res_h: int
    intrinsic: np.ndarray
    orientation: np.ndarray
    translation: np.ndarray


def _cross(a: Array, b: Array) -> Array:
    if isinstance(a, torch.Tensor):
        return torch.cross(a, b, dim=-1)
    return np.cross(a, b)


def qrot(q: Array, v: Array) -> Array:
    """Rotate v [..., 3] by the unit quaternion q [..., 4] (w, x, y, z); q broadcasts against v."""
    q_w, q_xyz = q[..., :1], q[..., 1:]
    if isinstance(v, torch.Tensor):
        q_w, q_xyz = q_w.expand(*v.shape[:-1], 1), q_xyz.expand(*v.shape[:-1], 3)
    else:
        q_w, q_xyz = np.broadcast_to(q_w, (*v.shape[:-1], 1)), np.broadcast_to(q_xyz, v.shape)
    uv = _cross(q_xyz, v)
    # v' = v + 2 w (q x v) + 2 q x (q x v)
    return v + 2.0 * (q_w * uv + _cross(q_xyz, uv))


def qinverse(q: Array) -> Array:
    """Inverse of a unit quaternion [..., 4] (w, x, y, z): its conjugate."""
    sign = [1.0, -1.0, -1.0, -1.0]
    return q * (q.new_tensor(sign) if isinstance(q, torch.Tensor) else np.asarray(sign, dtype=q.dtype))


def quaternion_to_matrix(q: Array) -> Array:
    """Rotation matrix [..., 3, 3] of the unit quaternion q [..., 4] (w, x, y, z)."""
    w, x, y, z = (q[..., i] for i in range(4))
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    if isinstance(q, torch.Tensor):
        return torch.stack([torch.stack(r, -1) for r in rows], -2)
    return np.stack([np.stack(r, -1) for r in rows], -2)


def _rotate(v: Array, q: Array) -> Array:
    """qrot, as one matrix product when a single quaternion rotates every point (the loader's case)."""
    if q.ndim == 1:
        return v @ quaternion_to_matrix(q).T
    return qrot(q, v)


def world_to_camera(X: Array, R_quat: Array, t: Array) -> Array:
    """World points X [..., 3] metres -> camera frame [..., 3] metres (R_quat camera-to-world, t centre)."""
    return _rotate(X - t, qinverse(R_quat))


def camera_to_world(X: Array, R_quat: Array, t: Array) -> Array:
    """Camera-frame points X [..., 3] metres -> world frame [..., 3] metres."""
    return _rotate(X, R_quat) + t


def screen_transform(w: float, h: float) -> tuple[float, tuple[float, float]]:
    """(scale, offset) with uv' = uv * scale - offset: scale = 2/w, offset = (1, h/w)."""
    return 2.0 / w, (1.0, h / w)


def _screen_offset(like: Array, w: float, h: float) -> Array:
    """The [2] offset (1, h/w) between pixels * 2/w and normalised coordinates, typed like `like`."""
    offset = screen_transform(w, h)[1]
    return like.new_tensor(offset) if isinstance(like, torch.Tensor) else np.asarray(offset, dtype=like.dtype)


def normalize_screen_coordinates(uv: Array, w: float, h: float) -> Array:
    """Pixels uv [..., 2] -> normalised screen coordinates: u' = 2u/w - 1, v' = 2v/w - h/w."""
    return uv * screen_transform(w, h)[0] - _screen_offset(uv, w, h)


def image_coordinates(uv_norm: Array, w: float, h: float) -> Array:
    """Normalised screen coordinates [..., 2] -> pixels [..., 2] (inverse of normalize_screen_coordinates)."""
    return (uv_norm + _screen_offset(uv_norm, w, h)) * w / 2.0


def normalised_intrinsic(camera: Camera) -> np.ndarray:
    """[9] float32 intrinsics in normalised screen units: f' = 2f/w, c' normalised; distortion unchanged."""
    fx, fy, cx, cy = (float(v) for v in camera.intrinsic[:4])
    focal = np.array([fx, fy]) * 2.0 / camera.res_w
    centre = normalize_screen_coordinates(np.array([cx, cy]), camera.res_w, camera.res_h)
    return np.concatenate([focal, centre, np.asarray(camera.intrinsic[4:9], dtype=np.float64)]).astype(np.float32)


def project_to_2d(X: Array, intrinsic_norm: Array) -> Array:
    """Camera-frame X [..., J, 3] metres -> [..., J, 2] normalised screen coordinates (VideoPose3D model).

    intrinsic_norm: [..., 9] (fx, fy, cx, cy, k1, k2, k3, p1, p2) in normalised units, broadcast
    over the joints. Radial distortion 1 + k1 r^2 + k2 r^4 + k3 r^6 and tangential p1, p2 as in
    VideoPose3D; like it, the normalised image-plane point is clamped to [-1, 1].
    """
    k = intrinsic_norm[..., None, :]  # [..., 1, 9] broadcast over joints
    f, c, radial_k, p = k[..., 0:2], k[..., 2:4], k[..., 4:7], k[..., 7:9]
    xy = X[..., :2] / X[..., 2:3]  # perspective division
    xy = xy.clamp(-1.0, 1.0) if isinstance(xy, torch.Tensor) else np.clip(xy, -1.0, 1.0)
    r2 = (xy**2).sum(-1, keepdims=True) if isinstance(xy, np.ndarray) else (xy**2).sum(-1, keepdim=True)
    radial = 1.0 + radial_k[..., 0:1] * r2 + radial_k[..., 1:2] * r2**2 + radial_k[..., 2:3] * r2**3
    tangential = p[..., 0:1] * xy[..., 0:1] + p[..., 1:2] * xy[..., 1:2]
    xy_distorted = xy * (radial + tangential) + p * r2  # radial + tangential distortion
    return f * xy_distorted + c
