"""Turn the resources Ray gave a trial into torch settings: thread count, device, CUDA memory share."""

from __future__ import annotations

import math

import torch


def num_threads(cpus: float) -> int:
    """Intra-op threads for a trial allotted ``cpus`` (fractional CPUs round down, at least 1)."""
    return max(1, math.floor(cpus))


def trial_device(gpus: float) -> torch.device:
    """CUDA when Ray assigned a GPU (share ``gpus`` in (0, 1] caps the memory fraction), else CPU.

    Ray sets CUDA_VISIBLE_DEVICES per trial, so the assigned GPU is always ``cuda:0`` here.
    """
    if gpus <= 0 or not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda", 0)
    if gpus < 1.0:
        torch.cuda.set_per_process_memory_fraction(gpus, device)
    return device


def gpu_seconds(device: torch.device, gpus: float, wall_s: float) -> float:
    """GPU-seconds charged to a trial: its wall time times its GPU share (0 on the CPU)."""
    return wall_s * min(gpus, 1.0) if device.type == "cuda" else 0.0
