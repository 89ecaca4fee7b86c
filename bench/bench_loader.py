"""Benchmark: load_splits on a Human3.6M-sized custom-format file (about 1.5 million frames).

The file is built by tiling one short motion clip (no generator involved): 7 subjects x 30 actions
x 4 cameras x 1860 frames = 1,562,400 camera frames. load_s is the median wall time of
load_splits (read, validate, split, assemble tensors); cpu_s its process CPU time (on a shared
machine wall time includes waiting for a core). Prints one JSON line per figure:
    python bench/bench_loader.py [--frames-per-action 1860] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from model.camera import image_coordinates, normalised_intrinsic, project_to_2d, world_to_camera
from model.config import DataConfig
from model.data import load_splits
from model.h36m_cameras import SUBJECTS, h36m_cameras
from model.skeleton import JOINTS_LEFT, JOINTS_RIGHT

NUM_ACTIONS = 30


def clip(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """[T, 17, 3] world metres: a standing skeleton swaying around the capture centre."""
    rest = rng.normal(0.0, 0.25, size=(17, 3)) + [0.0, 0.0, 0.9]
    sway = 0.1 * np.sin(np.linspace(0, 20, num_frames))[:, None, None]
    return (rest + sway).astype(np.float32)


def build_file(path: Path, frames_per_action: int) -> int:
    """Write the tiled dataset; return the number of camera frames it holds."""
    rng = np.random.default_rng(0)
    base = clip(frames_per_action, rng)
    positions_3d, positions_2d, cameras = {}, {}, {}
    for _s, subject in enumerate(SUBJECTS):
        cams = h36m_cameras(subject)
        base_2d = [
            image_coordinates(
                project_to_2d(
                    world_to_camera(base, c.orientation.astype(np.float32), c.translation.astype(np.float32)),
                    normalised_intrinsic(c),
                ),
                c.res_w,
                c.res_h,
            )
            for c in cams
        ]
        offsets = rng.normal(0, 0.01, size=NUM_ACTIONS).astype(np.float32)  # distinct arrays, no pickle sharing
        positions_3d[subject] = {f"Action{a}": base + offsets[a] for a in range(NUM_ACTIONS)}
        positions_2d[subject] = {f"Action{a}": [uv + offsets[a] for uv in base_2d] for a in range(NUM_ACTIONS)}
        cameras[subject] = [
            dict(
                id=c.id,
                res_w=c.res_w,
                res_h=c.res_h,
                intrinsic=c.intrinsic,
                orientation=c.orientation,
                translation=c.translation,
            )
            for c in cams
        ]
    metadata = dict(num_joints=17, keypoints_symmetry=[list(JOINTS_LEFT), list(JOINTS_RIGHT)], fps=50)
    np.savez(
        path,
        **{
            k: np.array(v, dtype=object)
            for k, v in (
                ("positions_3d", positions_3d),
                ("positions_2d", positions_2d),
                ("cameras", cameras),
                ("metadata", metadata),
            )
        },
    )
    return len(SUBJECTS) * NUM_ACTIONS * 4 * frames_per_action


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-per-action", type=int, default=1860)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "h36m_sized.npz"
        num_frames = build_file(path, args.frames_per_action)
        times, cpu_times = [], []
        for _ in range(args.repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            splits = load_splits(DataConfig(path=str(path)))
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
            loaded = len(splits.train) + len(splits.val) + len(splits.test)
            assert loaded == num_frames, (loaded, num_frames)
            del splits
        load_s = statistics.median(times)
        print(
            json.dumps(
                {
                    "figure": "load_splits_custom_npz",
                    "frames": num_frames,
                    "file_mb": round(path.stat().st_size / 2**20),
                    "load_s": round(load_s, 3),
                    "min_load_s": round(min(times), 3),
                    "cpu_s": round(statistics.median(cpu_times), 3),
                    "frames_per_s": round(num_frames / load_s),
                    "repeats": args.repeats,
                    "threads": 1,
                }
            )
        )


if __name__ == "__main__":
    main()
