"""Generate the synthetic dataset and write it in the custom single-file format (docs/data.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from model.errors import PoseDiffError
from model.io import atomic_write, cache_dir
from model.skeleton import JOINTS_LEFT, JOINTS_RIGHT, NUM_JOINTS
from model.synthetic.activities import ACTIVITIES, perform
from model.synthetic.body import Body, sample_body, subject_heights_m
from model.synthetic.cameras import (
    camera_intrinsics,
    camera_record,
    camera_rig,
    detector_noise_px,
    project_px,
)
from model.synthetic.motion import animate

GENERATOR_VERSION = 2  # bump whenever the generated data changes: it keys the cache
FPS = 50


def split_subjects(subjects: list[str]) -> dict[str, list[str]]:
    """Train / val / test subjects: the last ~2/7 test, the ~1/7 before them val, the rest train."""
    num_test = max(1, round(len(subjects) * 2 / 7))
    num_val = max(1, round(len(subjects) / 7))
    num_train = len(subjects) - num_test - num_val
    return {
        "train": subjects[:num_train],
        "val": subjects[num_train : num_train + num_val],
        "test": subjects[num_train + num_val :],
    }


def subject_sequences(body: Body, num_frames: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Activity name -> world joint positions [T, 17, 3] metres (float64) for one body."""
    t = np.arange(num_frames) / FPS
    return {name: animate(body, perform(name, t, body.height_m, rng), FPS, rng) for name in ACTIVITIES}


def _check(num_subjects: int, minutes: float, num_cameras: int) -> None:
    for key, ok, expected, found in (
        ("num_subjects", num_subjects >= 3, "an integer >= 3", num_subjects),
        ("minutes", minutes > 0, "a number > 0", minutes),
        ("num_cameras", num_cameras >= 1, "an integer >= 1", num_cameras),
    ):
        if not ok:
            raise PoseDiffError(f"synthetic data: {key}", expected, repr(found))


def build(
    seed: int = 0, num_subjects: int = 7, minutes: float = 1.0, num_cameras: int = 4
) -> dict[str, dict[str, Any]]:
    """The dataset as the four custom-format dicts: positions_3d, positions_2d, cameras, metadata."""
    _check(num_subjects, minutes, num_cameras)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(num_subjects + 1)]
    heights = subject_heights_m(num_subjects, streams[-1])
    intrinsics = camera_intrinsics(num_cameras, streams[-1])
    num_frames = max(10, round(minutes * 60 * FPS / len(ACTIVITIES)))
    subjects = [f"S{k + 1}" for k in range(num_subjects)]
    positions_3d, positions_2d, cameras = {}, {}, {}
    for subject, height_m, rng in zip(subjects, heights, streams):
        body = sample_body(height_m, rng)
        rig = camera_rig(intrinsics, rng)
        sequences = subject_sequences(body, num_frames, rng)
        positions_3d[subject] = {a: pos.astype(np.float32) for a, pos in sequences.items()}
        positions_2d[subject] = {
            a: [(project_px(pos, cam) + detector_noise_px(num_frames, rng)).astype(np.float32) for cam in rig]
            for a, pos in sequences.items()
        }
        cameras[subject] = [camera_record(cam) for cam in rig]
    metadata = {
        "num_joints": NUM_JOINTS,
        "keypoints_symmetry": [list(JOINTS_LEFT), list(JOINTS_RIGHT)],
        "fps": FPS,
        "splits": split_subjects(subjects),
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "subject_height_m": {s: round(float(h), 4) for s, h in zip(subjects, heights)},
        "description": (
            f"posediff-study synthetic motion v{GENERATOR_VERSION}, seed {seed}: procedural "
            f"joint-angle activities ({', '.join(ACTIVITIES)}) on {num_subjects} body sizes, "
            f"{num_cameras} virtual cameras, detector-like 2D noise. Not Human3.6M."
        ),
    }
    return {"positions_3d": positions_3d, "positions_2d": positions_2d, "cameras": cameras, "metadata": metadata}


def generate(
    out_path: str | Path, seed: int = 0, num_subjects: int = 7, minutes: float = 1.0, num_cameras: int = 4
) -> Path:
    """Write the synthetic dataset to out_path (.npz, custom format) and return the path."""
    out = Path(out_path)
    data: dict[str, Any] = build(seed, num_subjects, minutes, num_cameras)  # Any: np.savez takes the dicts
    with atomic_write(out) as f:
        np.savez(f, **data)  # dicts become 0-d object arrays, as in VideoPose3D's files
    return out


def default_dataset_path(seed: int = 0) -> Path:
    """The default synthetic dataset (7 subjects, 1 minute each, 4 cameras), generated once and cached.

    Safe when several processes call it at once: each writes atomically, the last rename wins.
    """
    path = cache_dir() / f"synthetic_v{GENERATOR_VERSION}_seed{seed}.npz"
    if not path.exists():
        generate(path, seed=seed)
    return path
