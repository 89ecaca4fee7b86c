"""Checkpoint files: plain dicts of tensors, numbers and strings, written atomically.

Every file loads with ``torch.load(path, weights_only=True)`` (docs/study.md §5) and holds the flat trial
config, the prior and the standardisation stats, so :func:`load_lifter` rebuilds a lifter from the
file alone (for `posediff-study evaluate` and a study's later sampler sweeps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from model.config import TrialConfig, to_flat_dict, trial_config
from model.errors import PoseDiffError
from model.io import atomic_write
from model.lifter import DiffusionLifter
from model.prior import GaussianMixturePrior

FORMAT = "posediff-lifter/1"


def lifter_payload(lifter: DiffusionLifter, cfg: TrialConfig) -> dict[str, Any]:
    """The part of a checkpoint that rebuilds a lifter: config, prior, standardisation stats, weights."""
    flat = {k: list(v) if isinstance(v, tuple) else v for k, v in to_flat_dict(cfg).items()}
    return {
        "format": FORMAT,
        "config": flat,
        "prior": lifter.prior.state_dict(),
        "standardisation": {
            "mean": lifter.pose_mean,
            "std": lifter.pose_std,
            "low": lifter.pose_low,
            "high": lifter.pose_high,
        },
        "model": lifter.state_dict(),
    }


def save_checkpoint(path: Path | str, payload: dict[str, Any]) -> None:
    """Write payload to path atomically (:func:`model.io.atomic_write`: complete file or none)."""
    with atomic_write(path) as f:
        torch.save(payload, f)


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (weights_only, onto the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise PoseDiffError(str(path), "a checkpoint file", "no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable file is a user error here
        raise PoseDiffError(
            str(path), "a torch checkpoint readable with weights_only=True", load_failure(exc, path.stat().st_size)
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise PoseDiffError(f"{path}: format", repr(FORMAT), repr(found))
    return payload


def load_failure(exc: Exception, num_bytes: int) -> str:
    """Why torch.load failed, in one short line: the cause torch names (not its advice), the file size."""
    if num_bytes == 0:
        return "an empty file (0 bytes)"
    text = " ".join(str(exc).split())
    marker = "WeightsUnpickler error:"  # weights_only's own reason sits after pages of advice
    cause = text.split(marker, 1)[1] if marker in text else text
    cause = cause.strip().split(". ", 1)[0].split(" Check the documentation", 1)[0].rstrip(".")[:200]
    return f"{type(exc).__name__}{': ' + cause if cause else ''} in a {num_bytes}-byte file"


def lifter_from_payload(payload: dict[str, Any], where: str = "checkpoint") -> tuple[DiffusionLifter, TrialConfig]:
    """Rebuild the lifter (weights: the EMA when the run kept one) and its trial config."""
    cfg = trial_config(payload["config"], where=where)
    prior = GaussianMixturePrior.from_state_dict(payload["prior"])
    stats = payload["standardisation"]
    lifter = DiffusionLifter(
        cfg.diffusion, cfg.network, cfg.prior, prior, stats["mean"], stats["std"], stats["low"], stats["high"]
    )
    lifter.load_state_dict(payload.get("ema") or payload["model"])
    return lifter.eval(), cfg


def load_lifter(path: Path | str) -> tuple[DiffusionLifter, TrialConfig]:
    """Rebuild a trained lifter and its config from a checkpoint file alone (CPU; move with .to())."""
    return lifter_from_payload(load_checkpoint(path), where=str(path))
