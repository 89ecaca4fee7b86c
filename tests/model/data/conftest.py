"""Builders of tiny, valid dataset files (custom format and Human3.6M layout) for the loader tests.

Each fixture returns a function: build the nested content, let the test break one thing
(`mutate(content)`), write it with np.savez (dicts as 0-d object arrays, as the real files).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model.camera import (
    image_coordinates,
    normalised_intrinsic,
    project_to_2d,
    world_to_camera,
)
from model.h36m_cameras import SUBJECTS, h36m_cameras
from model.skeleton import H36M_32_TO_17

Mutate = Callable[[dict], None] | None


def _poses_world(rng: np.random.Generator, num_frames: int, num_joints: int) -> np.ndarray:
    """[T, J, 3] world metres: random joints around a standing body near the H36M capture centre."""
    return (rng.normal(0.0, 0.3, (num_frames, num_joints, 3)) + [0.0, 0.0, 0.9]).astype(np.float32)


def _pixels(positions_world: np.ndarray, cam) -> np.ndarray:
    """[T, 17, 2] pixels of the 17 (or 32) joint world positions seen by cam."""
    if positions_world.shape[1] == 32:
        positions_world = positions_world[:, list(H36M_32_TO_17)]
    X = world_to_camera(positions_world.astype(np.float64), cam.orientation, cam.translation)
    return image_coordinates(project_to_2d(X, normalised_intrinsic(cam).astype(np.float64)), cam.res_w, cam.res_h)


def custom_content(num_subjects: int = 3, num_frames: int = 6, num_joints: int = 17, extra_2d: int = 2) -> dict:
    """A valid custom-format dataset: subjects P0.., actions 'walk', 'sit 1', two cameras each."""
    rng = np.random.default_rng(0)
    subjects = [f"P{i}" for i in range(num_subjects)]
    cams = {s: h36m_cameras(SUBJECTS[i % len(SUBJECTS)])[:2] for i, s in enumerate(subjects)}
    positions_3d = {
        s: {a: _poses_world(rng, num_frames + k, num_joints) for k, a in enumerate(("walk", "sit 1"))} for s in subjects
    }
    positions_2d = {
        s: {
            a: [_pixels(np.concatenate([X, X[-1:].repeat(extra_2d, 0)]), c) for c in cams[s]]
            for a, X in positions_3d[s].items()
        }
        for s in subjects
    }
    cameras = {
        s: [
            {
                "id": c.id,
                "res_w": c.res_w,
                "res_h": c.res_h,
                "intrinsic": c.intrinsic.tolist(),
                "orientation": c.orientation.tolist(),
                "translation": c.translation.tolist(),
            }
            for c in cams[s]
        ]
        for s in subjects
    }
    metadata = {
        "num_joints": num_joints,
        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
        "fps": 50,
        "source": "test",
    }
    return {"positions_3d": positions_3d, "positions_2d": positions_2d, "cameras": cameras, "metadata": metadata}


def write_npz(path: Path, content: dict) -> Path:
    """np.savez with every dict stored as a 0-d object array."""
    np.savez(path, **{k: np.array(v, dtype=object) if isinstance(v, dict) else v for k, v in content.items()})
    return path


def h36m_content(num_frames: int = 5, num_joints: int = 32) -> tuple[dict, dict]:
    """Valid (3D file, 2D file) contents for every subject with published cameras; 2D 3 frames longer."""
    rng = np.random.default_rng(1)
    positions_3d = {
        s: {a: _poses_world(rng, num_frames, num_joints) for a in ("Walking", "Walking 1", "Eating 2")}
        for s in SUBJECTS
    }
    positions_2d = {
        s: {a: [_pixels(np.concatenate([X, X[:3]]), c) for c in h36m_cameras(s)] for a, X in positions_3d[s].items()}
        for s in SUBJECTS
    }
    metadata = {
        "layout_name": "h36m",
        "num_joints": 17,
        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
    }
    return {"positions_3d": positions_3d}, {"positions_2d": positions_2d, "metadata": metadata}


@pytest.fixture
def custom_file(tmp_path: Path) -> Callable[..., Path]:
    """make(mutate=None, **custom_content kwargs) -> path of a custom-format .npz."""

    def make(mutate: Mutate = None, **kwargs) -> Path:
        content = custom_content(**kwargs)
        if mutate:
            mutate(content)
        return write_npz(tmp_path / "custom.npz", content)

    return make


@pytest.fixture
def h36m_dir(tmp_path: Path) -> Callable[..., Path]:
    """make(mutate_3d=None, mutate_2d=None, keypoints='gt') -> a directory in VideoPose3D's layout."""

    def make(mutate_3d: Mutate = None, mutate_2d: Mutate = None, keypoints: str = "gt", **kwargs) -> Path:
        content_3d, content_2d = h36m_content(**kwargs)
        for mutate, content in ((mutate_3d, content_3d), (mutate_2d, content_2d)):
            if mutate:
                mutate(content)
        write_npz(tmp_path / "data_3d_h36m.npz", content_3d)
        write_npz(tmp_path / f"data_2d_h36m_{keypoints}.npz", content_2d)
        return tmp_path

    return make
