"""Reader for the custom single-file .npz dataset (docs/data.md §5; the synthetic output too).

Keys: positions_3d, positions_2d, cameras (subject -> list of dicts id / res_w / res_h /
intrinsic[9] / orientation[4] / translation[3]), metadata (num_joints, keypoints_symmetry, fps,
optional splits {train, val, test}). Each dict is stored as a 0-d object array.
"""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

from model.camera import Camera
from model.data.assemble import RawDataset
from model.data.sequences import read_sequences
from model.data.validate import (
    as_dict,
    as_list,
    checked_array,
    open_npz,
    read_entry,
    where,
)
from model.errors import PoseDiffError

SPLIT_NAMES = ("train", "val", "test")


def read_custom(path: Path) -> RawDataset:
    """Read and validate a custom-format file; default splits from metadata or the last subjects."""
    with open_npz(path) as npz:
        entry = {key: read_entry(npz, path, key) for key in ("metadata", "cameras", "positions_3d", "positions_2d")}
    metadata = as_dict(entry["metadata"], path, "metadata")
    num_joints = _metadata_int(metadata, path, "num_joints", (17, 32))
    _metadata_fps(metadata, path)
    _keypoints_symmetry(metadata, path)
    positions_3d = as_dict(entry["positions_3d"], path, "positions_3d", what="a dict subject -> action -> array")
    all_cameras = as_dict(entry["cameras"], path, "cameras", what="a dict subject -> list of cameras")
    cameras = {str(s): _cameras(all_cameras.get(s), path, str(s)) for s in positions_3d}
    positions_2d = as_dict(entry["positions_2d"], path, "positions_2d", what="a dict subject -> action -> list")
    sequences = read_sequences(
        positions_3d, positions_2d, {s: len(c) for s, c in cameras.items()}, path, path, joint_counts=(num_joints,)
    )
    subjects = tuple(cameras)
    return RawDataset(
        name=path.stem,
        sources=(path,),
        sequences=sequences,
        cameras=cameras,
        default_splits=_splits(metadata, subjects, path),
        is_h36m=False,
    )


def _cameras(value: Any, path: Path, subject: str) -> list[Camera]:
    cams = as_list(value, path, "cameras", subject, what="a list of camera dicts for every subject in positions_3d")
    return [_camera(cam, path, ("cameras", subject, f"camera {i}")) for i, cam in enumerate(cams)]


def _camera(value: Any, path: Path, keys: tuple[str, ...]) -> Camera:
    cam = as_dict(value, path, *keys, what="a camera dict with id, res_w, res_h, intrinsic, orientation, translation")
    missing = [k for k in ("id", "res_w", "res_h", "intrinsic", "orientation", "translation") if k not in cam]
    if missing:
        raise PoseDiffError(
            where(path, *keys),
            "keys id, res_w, res_h, intrinsic, orientation, translation",
            f"missing {', '.join(missing)}",
        )
    res = [cam[k] for k in ("res_w", "res_h")]
    if not all(isinstance(r, Integral) and int(r) > 0 for r in res):
        raise PoseDiffError(where(path, *keys, "res_w/res_h"), "positive integers (pixels)", repr(res))
    arrays = {
        k: checked_array(np.asarray(cam[k], dtype=np.float64), (n,), path, *keys, k)
        for k, n in (("intrinsic", 9), ("orientation", 4), ("translation", 3))
    }
    norm = float(np.linalg.norm(arrays["orientation"]))
    if abs(norm - 1.0) > 1e-3:
        raise PoseDiffError(where(path, *keys, "orientation"), "a unit quaternion (w, x, y, z)", f"norm {norm:.4g}")
    return Camera(
        id=str(cam["id"]),
        res_w=int(res[0]),
        res_h=int(res[1]),
        intrinsic=arrays["intrinsic"],
        orientation=arrays["orientation"] / norm,
        translation=arrays["translation"],
    )


def _metadata_int(metadata: dict[Any, Any], path: Path, key: str, allowed: tuple[int, ...]) -> int:
    value = metadata.get(key)
    if not isinstance(value, Integral) or int(value) not in allowed:
        raise PoseDiffError(where(path, "metadata", key), f"one of {allowed}", repr(value))
    return int(value)


def _metadata_fps(metadata: dict[Any, Any], path: Path) -> None:
    fps = metadata.get("fps")
    if not isinstance(fps, Real) or not np.isfinite(float(fps)) or fps <= 0:
        raise PoseDiffError(where(path, "metadata", "fps"), "a positive number (frames per second)", repr(fps))


def _keypoints_symmetry(metadata: dict[Any, Any], path: Path) -> None:
    value = metadata.get("keypoints_symmetry")
    pair = list(value) if isinstance(value, (list, tuple, np.ndarray)) else []
    if len(pair) != 2 or not all(np.issubdtype(np.asarray(side).dtype, np.integer) for side in pair):
        raise PoseDiffError(
            where(path, "metadata", "keypoints_symmetry"), "two lists of joint indices (left, right)", repr(value)[:120]
        )


def _splits(
    metadata: dict[Any, Any], subjects: tuple[str, ...], path: Path
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """metadata['splits'] when present, else: last subject test, second-to-last val, the rest train."""
    if "splits" not in metadata:
        return tuple(subjects[:-2]), tuple(subjects[-2:-1]), tuple(subjects[-1:])
    splits = as_dict(metadata["splits"], path, "metadata", "splits", what="a dict train / val / test -> subjects")
    out: list[tuple[str, ...]] = []
    for name in SPLIT_NAMES:
        names = splits.get(name, [])
        names = list(names) if isinstance(names, (list, tuple, np.ndarray)) else None
        if names is None or not all(str(s) in subjects for s in names):
            raise PoseDiffError(
                where(path, "metadata", "splits", name),
                f"a list of subjects among {', '.join(subjects)}",
                repr(splits.get(name))[:120],
            )
        out.append(tuple(str(s) for s in names))
    train, val, test = out
    return train, val, test
