"""From validated file contents (world 3D, per-camera pixel 2D, cameras) to PoseSet tensors.

Vectorised per (sequence, camera): a Human3.6M-sized dataset is a few thousand array operations,
never a per-frame Python loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.camera import Camera, normalised_intrinsic, normalize_screen_coordinates, world_to_camera
from model.data.dataset import PoseSet


@dataclass(frozen=True)
class Sequence:
    """One action of one subject: positions_world [T, 17, 3] metres; keypoints_px per camera [T, 17, 2] pixels."""

    subject: str
    action: str
    positions_world: np.ndarray
    keypoints_px: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class RawDataset:
    """A whole validated dataset before splitting; cameras[subject][i] filmed keypoints_px[i]."""

    name: str
    sources: tuple[Path, ...]
    sequences: tuple[Sequence, ...]
    cameras: dict[str, list[Camera]]
    default_splits: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # train, val, test
    is_h36m: bool

    @property
    def subjects(self) -> tuple[str, ...]:
        """Subject names in file order."""
        return tuple(dict.fromkeys(s.subject for s in self.sequences))

    @property
    def actions(self) -> tuple[str, ...]:
        """Action names in file order (union over subjects, names as in the file)."""
        return tuple(dict.fromkeys(s.action for s in self.sequences))


@dataclass(frozen=True)
class CameraTable:
    """The rows of PoseSet.intrinsic_norm: one per camera id (per subject/id where intrinsics differ)."""

    names: tuple[str, ...]
    intrinsic_norm: np.ndarray  # [C, 9] float32
    row: dict[tuple[str, int], int]  # (subject, camera position) -> row


def camera_table(cameras: dict[str, list[Camera]]) -> CameraTable:
    """One row per camera id when every subject's camera of that id has the same intrinsics, else per subject/id."""
    k = {(subject, i): normalised_intrinsic(cam) for subject, cams in cameras.items() for i, cam in enumerate(cams)}
    ids = {key: cameras[key[0]][key[1]].id for key in k}
    shared = {cam_id for cam_id in ids.values()
              if len({k[key].tobytes() for key in k if ids[key] == cam_id}) == 1}
    names: list[str] = []
    row: dict[tuple[str, int], int] = {}
    for key in k:
        name = ids[key] if ids[key] in shared else f"{key[0]}/{ids[key]}"
        if name not in names:
            names.append(name)
        row[key] = names.index(name)
    first = {r: key for key, r in reversed(row.items())}
    return CameraTable(tuple(names), np.stack([k[first[r]] for r in range(len(names))]), row)


def build_poseset(raw: RawDataset, subjects: tuple[str, ...], table: CameraTable) -> PoseSet:
    """All frames of the given subjects, every camera, as one PoseSet (indices into raw.subjects/actions)."""
    all_subjects, all_actions = raw.subjects, raw.actions
    parts: dict[str, list[np.ndarray]] = {k: [] for k in PoseSet.PER_FRAME}
    for seq in raw.sequences:
        if seq.subject not in subjects:
            continue
        for i, cam in enumerate(raw.cameras[seq.subject]):
            X = world_to_camera(seq.positions_world.astype(np.float32), cam.orientation.astype(np.float32),
                                cam.translation.astype(np.float32))
            num_frames = X.shape[0]
            parts["root_3d"].append(X[:, 0].copy())
            parts["poses_3d"].append(X - X[:, :1])  # root-relative: root row exactly 0
            uv = seq.keypoints_px[i][:num_frames].astype(np.float32)
            parts["keypoints_2d"].append(normalize_screen_coordinates(uv, cam.res_w, cam.res_h))
            for key, value in (("subject_idx", all_subjects.index(seq.subject)),
                               ("action_idx", all_actions.index(seq.action)), ("camera_idx", table.row[(seq.subject, i)])):
                parts[key].append(np.full(num_frames, value, dtype=np.int64))
    return PoseSet(**_concat(parts), subjects=all_subjects, actions=all_actions,
                   intrinsic_norm=torch.from_numpy(table.intrinsic_norm), is_h36m=raw.is_h36m,
                   camera_names=table.names)


_EMPTY = {"poses_3d": (0, 17, 3), "root_3d": (0, 3), "keypoints_2d": (0, 17, 2)}


def _concat(parts: dict[str, list[np.ndarray]]) -> dict[str, torch.Tensor]:
    out = {}
    for key, arrays in parts.items():
        if arrays:
            out[key] = torch.from_numpy(np.concatenate(arrays))
        else:
            out[key] = torch.zeros(_EMPTY.get(key, (0,)), dtype=torch.float32 if key in _EMPTY else torch.int64)
    return out
