"""load_splits: the one entry point from a DataConfig to train / validation / test PoseSets."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from model.config import DataConfig
from model.data.assemble import RawDataset, build_poseset, camera_table
from model.data.custom import SPLIT_NAMES, read_custom
from model.data.dataset import Splits
from model.data.h36m import FILE_3D, read_h36m
from model.errors import PoseDiffError

_HASH_BYTES = 1 << 20  # fingerprint reads the first and last MiB of each source file


def load_splits(cfg: DataConfig) -> Splits:
    """Load the dataset cfg.path names (None: the synthetic default) and split it by subject."""
    if cfg.path is None:
        # lazy: generating is the synthetic module's job
        from model.synthetic import default_dataset_path

        path = Path(default_dataset_path())
    else:
        path = Path(cfg.path).expanduser()
    raw = read_dataset(path, cfg.keypoints)
    subjects = resolve_splits(raw, cfg)
    table = camera_table(raw.cameras)
    train, val, test = (build_poseset(raw, names, table) for names in subjects)
    return Splits(
        train=train,
        val=val,
        test=test,
        name=raw.name,
        fingerprint=fingerprint(raw, subjects, cfg.keypoints if raw.is_h36m else ""),
    )


def read_dataset(path: Path, keypoints: str) -> RawDataset:
    """A Human3.6M directory (or its data_3d_h36m.npz) or a custom-format .npz file."""
    if path.is_dir():
        return read_h36m(path, keypoints)
    if not path.exists():
        raise PoseDiffError(
            f"data.path: {path}",
            f"a custom .npz file or a directory with Human3.6M's {FILE_3D}",
            "no such file or directory",
        )
    if path.name == FILE_3D:
        return read_h36m(path.parent, keypoints)
    return read_custom(path)


def resolve_splits(raw: RawDataset, cfg: DataConfig) -> tuple[tuple[str, ...], ...]:
    """(train, val, test) subjects: cfg's where set, else the dataset's defaults; checked and disjoint."""
    chosen = [
        given if given is not None else default
        for given, default in zip((cfg.train_subjects, cfg.val_subjects, cfg.test_subjects), raw.default_splits)
    ]
    source = raw.sources[0]
    for name, subjects in zip(SPLIT_NAMES, chosen):
        unknown = [s for s in subjects if s not in raw.subjects]
        if unknown:
            raise PoseDiffError(
                f"{source}: data.{name}_subjects",
                f"subjects of the dataset ({', '.join(raw.subjects)})",
                ", ".join(unknown),
            )
        if not subjects and name != "test":
            raise PoseDiffError(
                f"{source}: data.{name}_subjects",
                "at least one subject",
                f"none (dataset subjects: {', '.join(raw.subjects)})",
            )
    for i, j in ((0, 1), (0, 2), (1, 2)):
        shared = sorted(set(chosen[i]) & set(chosen[j]))
        if shared:
            raise PoseDiffError(
                f"{source}: data.{SPLIT_NAMES[j]}_subjects",
                f"subjects not also in data.{SPLIT_NAMES[i]}_subjects",
                ", ".join(shared),
            )
    return tuple(tuple(c) for c in chosen)


def fingerprint(raw: RawDataset, subjects: tuple[tuple[str, ...], ...], keypoints: str) -> str:
    """Stable hash of the source files (name, size, first and last MiB), the split and the keypoints."""
    digest = hashlib.sha256(json.dumps([raw.name, keypoints, subjects]).encode())
    for path in raw.sources:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with path.open("rb") as f:
            digest.update(f.read(_HASH_BYTES))
            f.seek(max(size - _HASH_BYTES, 0))
            digest.update(f.read(_HASH_BYTES))
    return digest.hexdigest()[:16]
