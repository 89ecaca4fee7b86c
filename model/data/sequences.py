"""Pair the 3D and 2D entries of a dataset file into checked Sequences (shared by every format).

positions_3d: subject -> action -> [T, 17|32, 3] world metres (32 joints map to 17 via H36M_32_TO_17);
positions_2d: subject -> action -> list per camera of [T2, 17, 2] pixels, or DiffPose's GMM keypoints
[T2, 17, K, 5] = (weight, mean u, mean v, scale u, scale v); T2 >= T, truncated to T.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model.data.assemble import Sequence
from model.data.validate import as_dict, as_list, checked_array, where
from model.errors import PoseDiffError
from model.skeleton import H36M_32_TO_17, NUM_JOINTS


def read_sequences(
    positions_3d: dict[Any, Any],
    positions_2d: dict[Any, Any],
    num_cameras: dict[str, int],
    path_3d: Path,
    path_2d: Path,
    joint_counts: tuple[int, ...] = (17, 32),
) -> tuple[Sequence, ...]:
    """Every (subject, action) of positions_3d with its per-camera 2D; num_cameras[subject] arrays each."""
    sequences = []
    for subject, actions in positions_3d.items():
        actions = as_dict(actions, path_3d, "positions_3d", subject, what="a dict action -> array")
        actions_2d = as_dict(
            positions_2d.get(subject),
            path_2d,
            "positions_2d",
            subject,
            what="a dict action -> list of per-camera arrays",
        )
        for action, positions in actions.items():
            key_3d = ("positions_3d", subject, action)
            positions = checked_array(positions, (None, joint_counts, 3), path_3d, *key_3d)
            if positions.shape[1] == 32:
                positions = positions[:, list(H36M_32_TO_17)]
            keypoints = _keypoints(
                actions_2d.get(action),
                num_cameras[str(subject)],
                positions.shape[0],
                path_2d,
                ("positions_2d", subject, action),
            )
            sequences.append(Sequence(str(subject), str(action), positions, keypoints))
    return tuple(sequences)


def _keypoints(
    per_camera: object, num_cameras: int, num_frames: int, path: Path, keys: tuple[str, ...]
) -> tuple[np.ndarray, ...]:
    """The per-camera [T, 17, 2] pixel keypoints of one action, truncated to the 3D length T."""
    arrays = as_list(per_camera, path, *keys, what=f"a list of {num_cameras} per-camera arrays")
    if len(arrays) != num_cameras:
        raise PoseDiffError(where(path, *keys), f"{num_cameras} per-camera arrays (one per camera)", f"{len(arrays)}")
    out = []
    for i, arr in enumerate(arrays):
        cam_keys = (*keys, f"camera {i}")
        if isinstance(arr, np.ndarray) and arr.ndim == 4:
            uv = gmm_keypoints(checked_array(arr, (None, NUM_JOINTS, None, 5), path, *cam_keys))
        else:
            uv = checked_array(arr, (None, NUM_JOINTS, 2), path, *cam_keys)
        if uv.shape[0] < num_frames:
            raise PoseDiffError(
                where(path, *cam_keys), f"at least {num_frames} frames (the 3D length)", f"{uv.shape[0]} frames"
            )
        out.append(uv[:num_frames])
    return tuple(out)


def gmm_keypoints(gmm: np.ndarray) -> np.ndarray:
    """DiffPose GMM 2D [T, 17, K, 5] (weight, mean u, mean v, scale u, scale v) -> the heaviest mean [T, 17, 2]."""
    best = np.argmax(gmm[..., 0], axis=2)  # [T, 17] highest-weight component
    return np.take_along_axis(gmm[..., 1:3], best[..., None, None], axis=2)[:, :, 0]
