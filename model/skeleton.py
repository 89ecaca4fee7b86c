"""The 17-joint Human3.6M skeleton (VideoPose3D's layout)."""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 17
JOINT_NAMES: tuple[str, ...] = (
    "Hip",
    "RHip",
    "RKnee",
    "RFoot",
    "LHip",
    "LKnee",
    "LFoot",
    "Spine",
    "Thorax",
    "Neck/Nose",
    "Head",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RShoulder",
    "RElbow",
    "RWrist",
)
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
JOINTS_LEFT: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
JOINTS_RIGHT: tuple[int, ...] = (1, 2, 3, 14, 15, 16)
# Indices into the 32-joint Human3.6M layout that give the 17 joints above.
H36M_32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)


def bones() -> list[tuple[int, int]]:
    """(parent, child) pairs of the 16 bones."""
    return [(p, j) for j, p in enumerate(PARENTS) if p >= 0]


def adjacency() -> np.ndarray:
    """Symmetric 0/1 adjacency of the skeleton graph, [17, 17], no self loops."""
    adj = np.zeros((NUM_JOINTS, NUM_JOINTS), dtype=np.float32)
    for p, j in bones():
        adj[p, j] = adj[j, p] = 1.0
    return adj
