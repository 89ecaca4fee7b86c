"""Joint-angle trajectories -> world joint positions: anatomical limits, rotations, root path, floor.

Angles are in degrees with anatomical signs: flexion forward, abduction away from the midline,
internal rotation positive; the sided degrees of freedom are named ``r_*`` / ``l_*``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.skeleton import NUM_JOINTS
from model.synthetic.body import Body, forward_kinematics

# Degrees of freedom and their anatomical range of motion, degrees (AAOS normal values, narrowed).
_SIDED_LIMITS_DEG: dict[str, tuple[float, float]] = {
    "hip_flex": (-25.0, 125.0),
    "hip_abd": (-20.0, 45.0),
    "hip_rot": (-35.0, 35.0),
    "knee_flex": (0.0, 140.0),
    "shoulder_flex": (-50.0, 170.0),
    "shoulder_abd": (-10.0, 160.0),
    "shoulder_rot": (-90.0, 70.0),
    "elbow_flex": (0.0, 145.0),
}
LIMITS_DEG: dict[str, tuple[float, float]] = {
    "pelvis_tilt": (-15.0, 70.0),
    "pelvis_roll": (-10.0, 10.0),
    "spine_flex": (-20.0, 50.0),
    "spine_lat": (-20.0, 20.0),
    "spine_twist": (-25.0, 25.0),
    "thorax_flex": (-15.0, 40.0),
    "thorax_lat": (-15.0, 15.0),
    "thorax_twist": (-20.0, 20.0),
    "neck_flex": (-40.0, 50.0),
    "neck_twist": (-60.0, 60.0),
    "head_flex": (-20.0, 25.0),
    **{f"{side}_{name}": lim for side in "rl" for name, lim in _SIDED_LIMITS_DEG.items()},
}
FEET = (3, 6)


@dataclass(frozen=True)
class Motion:
    """One activity's trajectories over T frames.

    angles_deg: degree-of-freedom name -> [T] degrees (missing ones stay 0);
    yaw_deg: [T] heading change, degrees; speed_m_s: [T] forward speed (0: feet stay planted);
    turn_radius_m: radius of the circle a locomotion keeps to (stays inside the capture volume).
    """

    angles_deg: dict[str, np.ndarray]
    yaw_deg: np.ndarray
    speed_m_s: np.ndarray
    turn_radius_m: float = 1.5


def rot(axis: int, angle_rad: np.ndarray) -> np.ndarray:
    """[T, 3, 3] rotations by angle_rad [T] about coordinate axis 0 (x), 1 (y) or 2 (z)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out = np.zeros((*np.shape(angle_rad), 3, 3))
    out[..., axis, axis] = 1.0
    out[..., i, i], out[..., j, j] = c, c
    out[..., i, j], out[..., j, i] = -s, s
    return out


def clipped_angles_rad(motion: Motion, num_frames: int) -> dict[str, np.ndarray]:
    """Every degree of freedom as [T] radians, clipped to its anatomical range."""
    out = {}
    for name, (low, high) in LIMITS_DEG.items():
        deg = motion.angles_deg.get(name, np.zeros(num_frames))
        out[name] = np.radians(np.clip(deg, low, high))
    return out


def bone_rotations(a: dict[str, np.ndarray], num_frames: int) -> np.ndarray:
    """[T, 17, 3, 3] rotation of each bone in its parent's frame from radians a (clipped_angles_rad)."""
    R = np.broadcast_to(np.eye(3), (num_frames, NUM_JOINTS, 3, 3)).copy()
    for side, sign, thigh, shank, upper_arm, forearm in (("r", -1.0, 2, 3, 15, 16), ("l", 1.0, 5, 6, 12, 13)):
        g = {name: a[f"{side}_{name}"] for name in _SIDED_LIMITS_DEG}
        # flexion about the lateral axis, abduction about the forward axis, rotation about the bone
        R[:, thigh] = rot(1, -g["hip_flex"]) @ rot(0, sign * g["hip_abd"]) @ rot(2, -sign * g["hip_rot"])
        R[:, shank] = rot(1, g["knee_flex"])
        R[:, upper_arm] = (
            rot(1, -g["shoulder_flex"]) @ rot(0, sign * g["shoulder_abd"]) @ rot(2, -sign * g["shoulder_rot"])
        )
        R[:, forearm] = rot(1, -g["elbow_flex"])
    R[:, 7] = rot(1, a["spine_flex"]) @ rot(0, a["spine_lat"]) @ rot(2, a["spine_twist"])
    R[:, 8] = rot(1, a["thorax_flex"]) @ rot(0, a["thorax_lat"]) @ rot(2, a["thorax_twist"])
    R[:, 9] = rot(1, a["neck_flex"]) @ rot(2, a["neck_twist"])
    R[:, 10] = rot(1, a["head_flex"])
    return R


def gaussian_smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """x [T, ...] low-pass filtered along frames by a Gaussian (edge-padded)."""
    radius = max(1, int(3 * sigma_frames))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([np.repeat(x[:1], radius, 0), x, np.repeat(x[-1:], radius, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1, axis=0)
    return windows @ kernel


def root_path_xy(
    motion: Motion, yaw_rad: np.ndarray, feet_xy: np.ndarray, fps: float, rng: np.random.Generator
) -> np.ndarray:
    """[T, 2] root position on the floor, metres, near the capture-volume centre (origin).

    Locomotion integrates speed along the heading; otherwise the root moves so that the feet's
    centroid (feet_xy [T, 2], relative to the root) stays planted.
    """
    if np.any(motion.speed_m_s > 0):
        heading = np.stack([np.cos(yaw_rad), np.sin(yaw_rad)], -1)
        path = np.cumsum(motion.speed_m_s[:, None] * heading, 0) / fps
        turn = np.sign(np.mean(np.gradient(yaw_rad))) or 1.0
        start = -turn * motion.turn_radius_m * np.array([-np.sin(yaw_rad[0]), np.cos(yaw_rad[0])])
        return start + path - path[:1]
    anchor = rng.uniform(-0.5, 0.5, 2)
    return anchor - gaussian_smooth(feet_xy, 1.5)


def animate(body: Body, motion: Motion, fps: float, rng: np.random.Generator) -> np.ndarray:
    """World joint positions [T, 17, 3] metres of body performing motion; feet on the floor z = 0."""
    num_frames = motion.yaw_deg.shape[0]
    a = clipped_angles_rad(motion, num_frames)
    yaw = np.radians(motion.yaw_deg) + rng.uniform(-np.pi, np.pi)
    root_rotation = rot(2, yaw) @ rot(1, a["pelvis_tilt"]) @ rot(0, a["pelvis_roll"])
    local = forward_kinematics(body, root_rotation, bone_rotations(a, num_frames), np.zeros((num_frames, 3)))
    feet = local[:, FEET]
    root_xy = root_path_xy(motion, yaw, feet[..., :2].mean(1), fps, rng)
    # Floor contact: the lowest foot touches z = 0 (smoothed over a few frames)
    root_z = gaussian_smooth(-feet[..., 2].min(1), 1.5)
    root = np.concatenate([root_xy, root_z[:, None]], -1)
    return local + root[:, None, :]
