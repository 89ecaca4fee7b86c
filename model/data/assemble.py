"""From validated file contents (world 3D, per-camera pixel 2D, cameras) to PoseSet tensors.

Vectorised per (sequence, camera): a Human3.6M-sized dataset is a few thousand array operations,
never a per-frame Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.camera import (
    Camera,
    normalised_intrinsic,
    quaternion_to_matrix,
    screen_transform,
)
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
    shared = {cam_id for cam_id in ids.values() if len({k[key].tobytes() for key in k if ids[key] == cam_id}) == 1}
    names: list[str] = []
    row: dict[tuple[str, int], int] = {}
    for key in k:
        name = ids[key] if ids[key] in shared else f"{key[0]}/{ids[key]}"
        if name not in names:
            names.append(name)
        row[key] = names.index(name)
    first = {r: key for key, r in reversed(row.items())}
    return CameraTable(tuple(names), np.stack([k[first[r]] for r in range(len(names))]), row)


@dataclass(frozen=True)
class _Rig:
    """One subject's C cameras stacked: R [C, 3, 3] camera-to-world, t [C, 3] metres, intrinsic rows [C]."""

    R: np.ndarray
    t: np.ndarray
    rows: np.ndarray
    cameras: list[Camera]

    @classmethod
    def of(cls, subject: str, cameras: list[Camera], table: CameraTable) -> _Rig:
        R = np.stack([quaternion_to_matrix(c.orientation) for c in cameras]).astype(np.float32)
        t = np.stack([c.translation for c in cameras]).astype(np.float32)
        return cls(R, t, np.array([table.row[(subject, i)] for i in range(len(cameras))]), cameras)


def build_poseset(raw: RawDataset, subjects: tuple[str, ...], table: CameraTable) -> PoseSet:
    """All frames of the given subjects, every camera, as one PoseSet (indices into raw.subjects/actions).

    Frame order: sequence by sequence as in the file, each as camera-major blocks of T frames.
    """
    chosen = [seq for seq in raw.sequences if seq.subject in subjects]
    rigs = {s: _Rig.of(s, raw.cameras[s], table) for s in subjects}
    sizes = [len(rigs[seq.subject].cameras) * seq.positions_world.shape[0] for seq in chosen]
    num_frames = sum(sizes)
    out = {
        "poses_3d": np.empty((num_frames, 17, 3), np.float32),
        "root_3d": np.empty((num_frames, 3), np.float32),
        "keypoints_2d": np.empty((num_frames, 17, 2), np.float32),
        **{key: np.empty(num_frames, np.int64) for key in ("subject_idx", "action_idx", "camera_idx")},
    }
    start = 0
    for seq, size in zip(chosen, sizes):
        rows = slice(start, start + size)
        _fill_3d(out, rows, seq, rigs[seq.subject])
        _fill_2d(out, rows, seq, rigs[seq.subject])
        out["subject_idx"][rows] = raw.subjects.index(seq.subject)
        out["action_idx"][rows] = raw.actions.index(seq.action)
        out["camera_idx"][rows] = np.repeat(rigs[seq.subject].rows, seq.positions_world.shape[0])
        start += size
    return PoseSet(
        **{key: torch.from_numpy(value) for key, value in out.items()},
        subjects=raw.subjects,
        actions=raw.actions,
        intrinsic_norm=torch.from_numpy(table.intrinsic_norm),
        is_h36m=raw.is_h36m,
        camera_names=table.names,
    )


def _fill_3d(out: dict[str, np.ndarray], rows: slice, seq: Sequence, rig: _Rig) -> None:
    """World [T, 17, 3] -> camera frame for all C cameras at once: X_cam = (X - t) R, root-relative."""
    num_cameras, num_frames = len(rig.cameras), seq.positions_world.shape[0]
    X = seq.positions_world.astype(np.float32, copy=False).reshape(-1, 3)
    X_cam = np.matmul(X, rig.R)  # [C, T * 17, 3]: R^T X in row form
    X_cam -= np.matmul(rig.t[:, None], rig.R)  # - R^T t
    X_cam = X_cam.reshape(num_cameras, num_frames, 17, 3)
    root = X_cam[:, :, :1]
    out["root_3d"][rows] = root.reshape(-1, 3)
    np.subtract(X_cam, root, out=out["poses_3d"][rows].reshape(X_cam.shape))  # root row exactly 0


def _fill_2d(out: dict[str, np.ndarray], rows: slice, seq: Sequence, rig: _Rig) -> None:
    """Per-camera pixels [T, 17, 2] -> normalised screen coordinates (screen_transform), camera-major."""
    keypoints = out["keypoints_2d"][rows].reshape(len(rig.cameras), -1, 17, 2)
    for c, cam in enumerate(rig.cameras):
        scale, offset = screen_transform(cam.res_w, cam.res_h)
        np.multiply(seq.keypoints_px[c], np.float32(scale), out=keypoints[c], casting="same_kind")
        keypoints[c] -= np.asarray(offset, dtype=np.float32)
