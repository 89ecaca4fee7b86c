"""One evaluation of a trained network under one sampler setting, as a Ray task (stage 2 and the hand sweep).

The network is read from its checkpoint (read-only: nothing here trains or writes it) once per
worker process; the split's frames are its seeded subset, so a setting's rungs and two settings on
the same network see the same frames in the same order (what a paired comparison needs).
"""

from __future__ import annotations

import fnmatch
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.fs

from model.config import SamplerConfig, TrialConfig
from model.errors import PoseDiffError
from study.results.layout import CHECKPOINT_FILE

_LIFTERS: dict[str, tuple[Any, TrialConfig]] = {}  # per worker process: each checkpoint loaded once


@dataclass(frozen=True)
class SettingJob:
    """What a task evaluates: ``checkpoint``'s network, ``sampler``, ``frames`` of ``split`` (None: the
    network's own ``data.eval_subset_size``), the noise ``seed``, on ``cpus`` threads and ``gpus`` share."""

    checkpoint: str  # a path, or a URI (s3://..., file://...) of the study's Ray storage
    sampler: SamplerConfig
    split: str  # "val" | "test"
    frames: int | None
    seed: int = 0
    cpus: float = 1.0
    gpus: float = 0.0


def find_checkpoint(storage: str, trial_id: str) -> str:
    """The latest ``checkpoint_*/trial.pt`` of a Tune trial under the Ray storage ``storage`` (a folder or a URI
    pyarrow reads: ``<experiment>/*_<trial id>_*/checkpoint_*/trial.pt``), as a path or URI like ``storage``."""
    fs, root = pyarrow.fs.FileSystem.from_uri(storage) if "://" in storage else (pyarrow.fs.LocalFileSystem(), storage)
    root = root.rstrip("/")
    infos = fs.get_file_info(pyarrow.fs.FileSelector(root, recursive=True, allow_not_found=True))
    pattern = f"*/*_{trial_id}_*/checkpoint_*/{CHECKPOINT_FILE}"
    found = sorted(
        (
            rel
            for rel in (i.path[len(root) + 1 :] for i in infos)
            if fnmatch.fnmatch(rel, pattern) and rel.count("/") == 3
        ),
        key=lambda rel: rel.split("/")[2],
    )
    if not found:
        raise PoseDiffError(storage, f"a checkpoint of trial {trial_id} ({pattern})", "none")
    return f"{storage.rstrip('/')}/{found[-1]}"


def loaded_lifter(checkpoint: str | Path) -> tuple[Any, TrialConfig]:
    """The network of ``checkpoint`` (a path or URI) and its config, loaded once per worker process, read-only."""
    from model.checkpoint import load_lifter

    checkpoint = str(checkpoint)
    if checkpoint not in _LIFTERS:
        if "://" in checkpoint:  # remote storage: a local copy, removed once loaded
            fs, path = pyarrow.fs.FileSystem.from_uri(checkpoint)
            with tempfile.TemporaryDirectory(prefix="posediff-net-") as folder:
                local = Path(folder) / CHECKPOINT_FILE
                with fs.open_input_file(path) as source:
                    local.write_bytes(source.read())
                _LIFTERS[checkpoint] = load_lifter(local)
        else:
            _LIFTERS[checkpoint] = load_lifter(checkpoint)
    return _LIFTERS[checkpoint]


def evaluate_setting(job: SettingJob) -> dict[str, Any]:
    """Errors (mm), NFE, frames evaluated and available, per-frame MPJPE, time (s) and node of one job.

    A :class:`PoseDiffError` comes back as ``{"error": (where, expected, found)}``: Ray would wrap it in
    a remote traceback, and the driver reports it as one line.
    """
    try:
        return _evaluate(job)
    except PoseDiffError as exc:
        return {"error": (exc.where, exc.expected, exc.found)}


def _evaluate(job: SettingJob) -> dict[str, Any]:
    import ray
    import torch

    from model.evaluate import evaluate
    from study.tune.devices import num_threads, trial_device
    from study.tune.trainable import cached_splits, node_label

    clock = time.perf_counter(), time.process_time()
    torch.set_num_threads(num_threads(job.cpus))
    lifter, cfg = loaded_lifter(job.checkpoint)
    device = trial_device(job.gpus)
    split = getattr(cached_splits(cfg.data), job.split)
    available = min(len(split), cfg.data.eval_subset_size or len(split))
    frames = available if job.frames is None else min(job.frames, available)
    part = split.seeded_subset(available, cfg.data.val_subset_seed).seeded_subset(frames, job.seed)
    generator = torch.Generator(device=device).manual_seed(job.seed)
    result = evaluate(
        lifter.to(device), part.to(device), job.sampler, batch_size=cfg.train.batch_size, generator=generator
    )
    node = node_label() if ray.is_initialized() else socket.gethostname()  # a direct call asks no cluster
    return {
        "mpjpe_mm": result.mpjpe_mm,
        "p_mpjpe_mm": result.p_mpjpe_mm,
        "n_mpjpe_mm": result.n_mpjpe_mm,
        "oracle_mpjpe_mm": result.oracle_pose_mpjpe_mm,
        "nfe": result.nfe,
        "frames": result.num_frames,
        "available_frames": available,
        "frame_mpjpe_mm": tuple(float(e) for e in result.frame_mpjpe_mm),
        "wall_s": time.perf_counter() - clock[0],
        "cpu_s": time.process_time() - clock[1],
        "node": node,
    }
