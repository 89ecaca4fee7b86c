"""Synthetic bodies: anthropometric bone offsets and forward kinematics on the 17-joint tree.

World frame: z up (floor z = 0), metres. Body frame (rest pose): x forward, y to the body's left,
z up; standing upright, legs straight, arms hanging at the sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.skeleton import NUM_JOINTS, PARENTS

# Rest offset of each joint from its parent as fractions of stature H (Winter 2009 segment
# proportions, placed on Human3.6M's joints): (forward, left, up).
_REST_FRACTIONS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 0.0),  # 0 Hip (root)
    (0.0, -0.056, -0.012),  # 1 RHip
    (0.0, 0.0, -0.245),  # 2 RKnee: thigh
    (0.0, 0.0, -0.246),  # 3 RFoot: shank (joint at the ankle)
    (0.0, 0.056, -0.012),  # 4 LHip
    (0.0, 0.0, -0.245),  # 5 LKnee
    (0.0, 0.0, -0.246),  # 6 LFoot
    (0.006, 0.0, 0.130),  # 7 Spine
    (-0.004, 0.0, 0.145),  # 8 Thorax
    (0.025, 0.0, 0.062),  # 9 Neck/Nose
    (-0.012, 0.0, 0.064),  # 10 Head
    (-0.006, 0.098, -0.020),  # 11 LShoulder
    (0.0, 0.0, -0.172),  # 12 LElbow: upper arm
    (0.0, 0.0, -0.146),  # 13 LWrist: forearm
    (-0.006, -0.098, -0.020),  # 14 RShoulder
    (0.0, 0.0, -0.172),  # 15 RElbow
    (0.0, 0.0, -0.146),  # 16 RWrist
)
# The symmetric partner of each joint (left and right bones of one subject share a length).
_MIRROR = (0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13)


@dataclass(frozen=True)
class Body:
    """One subject's skeleton: stature and constant bone offsets.

    height_m: stature (floor to crown), metres; offsets: [17, 3] rest offset of each joint from
    its parent in the parent's frame, metres (row 0 is zero).
    """

    height_m: float
    offsets: np.ndarray


def sample_body(height_m: float, rng: np.random.Generator, variation: float = 0.04) -> Body:
    """A body of the given stature whose bones vary by ~variation (relative std) from the norm.

    Left and right bones get the same factor, so the body stays symmetric.
    """
    factors = np.clip(1.0 + variation * rng.standard_normal(NUM_JOINTS), 0.9, 1.1)
    factors = factors[list(_MIRROR)] * 0.5 + factors * 0.5  # symmetric per left/right pair
    offsets = np.asarray(_REST_FRACTIONS) * height_m * factors[:, None]
    return Body(height_m=float(height_m), offsets=offsets)


def subject_heights_m(num_subjects: int, rng: np.random.Generator) -> np.ndarray:
    """[num_subjects] statures spread over 1.52-1.92 m (shuffled, jittered) so sizes differ."""
    grid = np.linspace(1.52, 1.92, num_subjects) if num_subjects > 1 else np.array([1.72])
    jitter = rng.uniform(-0.02, 0.02, num_subjects)
    return rng.permutation(grid) + jitter


def forward_kinematics(
    body: Body, root_rotation: np.ndarray, bone_rotation: np.ndarray, root_position: np.ndarray
) -> np.ndarray:
    """Joint positions [T, 17, 3] metres, world frame.

    root_rotation: [T, 3, 3] body-to-world rotation of the root; bone_rotation: [T, 17, 3, 3]
    rotation of the bone ending at each joint relative to its parent's frame (row 0 unused);
    root_position: [T, 3] metres. Frame of joint j: F_j = F_parent(j) R_j; p_j = p_parent + F_j o_j.
    """
    num_frames = root_rotation.shape[0]
    frames = np.empty((num_frames, NUM_JOINTS, 3, 3))
    positions = np.empty((num_frames, NUM_JOINTS, 3))
    frames[:, 0], positions[:, 0] = root_rotation, root_position
    for j in range(1, NUM_JOINTS):
        parent = PARENTS[j]
        frames[:, j] = frames[:, parent] @ bone_rotation[:, j]
        positions[:, j] = positions[:, parent] + frames[:, j] @ body.offsets[j]
    return positions
