"""Training one trial: data resident on the device, vectorised draws, per-epoch validation (docs/lifter.md §4, §8).

`fit` calls ``on_epoch(metrics, checkpoint)`` exactly once per epoch; ``checkpoint(path)`` writes a
weights_only-loadable file from which ``fit(..., resume_from=path)`` continues with the next epoch
and, on the CPU, reproduces the uninterrupted run. ``torch.set_num_threads`` is the caller's job.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, cast

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from model.checkpoint import (
    lifter_from_payload,
    lifter_payload,
    load_checkpoint,
    save_checkpoint,
)
from model.config import DataConfig, TrainConfig, TrialConfig
from model.data import PoseSet, Splits
from model.errors import PoseDiffError
from model.evaluate import lifter_nfe, predict
from model.lifter import DiffusionLifter, flatten_pose
from model.metrics import mpjpe, p_mpjpe
from model.prior import fit_prior


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite (a study records the trial as FAIL with this reason)."""


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch of one trial; errors in mm on the fixed validation subset."""

    epoch: int  # 1-based
    train_loss: float
    val_mpjpe_mm: float
    val_p_mpjpe_mm: float
    lr: float  # learning rate at the end of the epoch
    epoch_s: float  # training + validation wall time
    samples_per_s: float  # training samples per second
    nfe: int  # network evaluations per hypothesis of the validation sampler


@dataclass(frozen=True)
class FitResult:
    """The trained lifter (EMA weights when EMA is on) and the metrics of every epoch."""

    lifter: DiffusionLifter
    epochs: list[EpochMetrics]


OnEpoch = Callable[[EpochMetrics, Callable[[Path], None]], None]
RESUME_KEYS = ("epoch", "optimizer", "scheduler", "rng", "history", "ema", "ema_num_averaged")


@dataclass
class _State:
    """The mutable training state a checkpoint captures."""

    cfg: TrialConfig
    lifter: DiffusionLifter
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    ema: AveragedModel | None
    generator: torch.Generator
    history: list[EpochMetrics]

    @property
    def eval_lifter(self) -> DiffusionLifter:
        return cast(DiffusionLifter, self.ema.module) if self.ema is not None else self.lifter  # EMA of self.lifter


def resolve_device(name: str) -> torch.device:
    """`auto` -> cuda when available, else cpu; anything else as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def lr_factor(step: int, train: TrainConfig, steps_per_epoch: int) -> float:
    """Multiplier of train.lr at optimizer step (0-based): linear warmup, then constant / cosine / step (x0.1 at 50%, 75%)."""
    warmup = train.warmup_epochs * steps_per_epoch
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, train.epochs * steps_per_epoch - warmup)
    if train.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    if train.lr_schedule == "step":
        return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
    return 1.0


def steps_per_epoch(train: TrainConfig, num_train: int) -> int:
    """Optimizer steps per epoch: samples_per_epoch (or one pass) in batches of batch_size."""
    return math.ceil((train.samples_per_epoch or num_train) / train.batch_size)


def _build_state(cfg: TrialConfig, splits: Splits, device: torch.device, payload: dict[str, Any] | None) -> _State:
    """Fresh lifter (prior fitted, cached) or one rebuilt from a checkpoint payload, plus optimiser & co."""
    torch.manual_seed(cfg.train.seed)
    if payload is None:
        prior = fit_prior(flatten_pose(splits.train.poses_3d), cfg.prior, cache_key=splits.fingerprint)
        lifter = DiffusionLifter.from_poses(cfg.diffusion, cfg.network, cfg.prior, prior, splits.train.poses_3d)
    else:
        lifter, _ = lifter_from_payload(payload)
        lifter.load_state_dict(payload["model"])
    lifter = lifter.to(device).train()
    ema = None
    if cfg.train.ema_decay > 0:
        ema = AveragedModel(lifter, multi_avg_fn=get_ema_multi_avg_fn(cfg.train.ema_decay), use_buffers=False)
    if cfg.train.compile:
        lifter.denoiser.compile()
    optimizer = torch.optim.AdamW(
        lifter.denoiser.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay, fused=device.type == "cuda"
    )
    num_steps = steps_per_epoch(cfg.train, len(splits.train))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, partial(lr_factor, train=cfg.train, steps_per_epoch=num_steps)
    )
    generator = torch.Generator(device=device).manual_seed(cfg.train.seed)
    return _State(cfg, lifter, optimizer, scheduler, ema, generator, [])


def _restore(state: _State, payload: dict[str, Any]) -> int:
    """Load optimiser, scheduler, EMA, RNG states and history from payload; returns the next epoch."""
    state.optimizer.load_state_dict(payload["optimizer"])
    state.scheduler.load_state_dict(payload["scheduler"])
    if state.ema is not None:
        state.ema.module.load_state_dict(payload["ema"])
        state.ema.n_averaged.fill_(int(payload["ema_num_averaged"]))
    state.generator.set_state(payload["rng"]["generator"])
    torch.set_rng_state(payload["rng"]["torch"])
    if torch.cuda.is_available() and "cuda" in payload["rng"]:
        torch.cuda.set_rng_state(payload["rng"]["cuda"])
    state.history = [EpochMetrics(**m) for m in payload["history"]]
    return int(payload["epoch"]) + 1


def load_resume_payload(path: Path | str) -> dict[str, Any]:
    """A checkpoint ``fit`` can resume from; PoseDiffError if unreadable, of another format or lacking resume state."""
    payload = load_checkpoint(path)
    missing = [key for key in RESUME_KEYS if key not in payload]
    if missing:
        raise PoseDiffError(
            str(path), "a checkpoint written during training (with its resume state)", f"no {', '.join(missing)}"
        )
    return payload


def _payload(state: _State, epoch: int) -> dict[str, Any]:
    """Everything to resume after epoch (1-based), plus what rebuilds the evaluated lifter."""
    payload = lifter_payload(state.lifter, state.cfg)
    rng = {"torch": torch.get_rng_state(), "generator": state.generator.get_state()}
    if state.lifter.pose_mean.is_cuda:
        rng["cuda"] = torch.cuda.get_rng_state(state.lifter.pose_mean.device)
    payload.update(
        epoch=epoch,
        optimizer=state.optimizer.state_dict(),
        scheduler=state.scheduler.state_dict(),
        rng=rng,
        ema=state.ema.module.state_dict() if state.ema is not None else None,
        ema_num_averaged=int(state.ema.n_averaged) if state.ema is not None else 0,
        history=[dataclasses.asdict(m) for m in state.history],
    )
    return payload


def _epoch_index(num_train: int, num_samples: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """A shuffled index of num_samples training frames (whole permutations, the last one truncated)."""
    perms = [
        torch.randperm(num_train, generator=generator, device=device) for _ in range(math.ceil(num_samples / num_train))
    ]
    return torch.cat(perms)[:num_samples]


def _train_epoch(state: _State, train: PoseSet, device: torch.device) -> float:
    """One epoch of AdamW steps over device-resident data; returns the mean training loss."""
    cfg = state.cfg.train
    state.lifter.train()
    index = _epoch_index(len(train), cfg.samples_per_epoch or len(train), state.generator, device)
    total = torch.zeros((), device=device)
    for batch in index.split(cfg.batch_size):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda" and cfg.bf16):
            loss = state.lifter.loss(train.poses_3d[batch], train.keypoints_2d[batch], state.generator)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(state.lifter.denoiser.parameters(), cfg.grad_clip)
        state.optimizer.step()
        state.scheduler.step()
        if state.ema is not None:
            state.ema.update_parameters(state.lifter)
        total += loss.detach().float() * batch.numel()
    return float(total / index.numel())


def val_subset(val: PoseSet, data: DataConfig) -> PoseSet:
    """The fixed, seeded validation subset checked every epoch (data.val_subset_size frames at most)."""
    return val.seeded_subset(data.val_subset_size, data.val_subset_seed)


def validate(lifter: DiffusionLifter, val: PoseSet, cfg: TrialConfig) -> tuple[float, float]:
    """Frame-weighted (MPJPE, P-MPJPE) in mm of the configured sampler on val, seeded noise."""
    generator = torch.Generator(device=val.poses_3d.device).manual_seed(cfg.data.val_subset_seed)
    pred = predict(lifter, val, cfg.sampler, batch_size=cfg.train.batch_size, generator=generator)
    return 1000.0 * float(mpjpe(pred, val.poses_3d).mean()), 1000.0 * float(p_mpjpe(pred, val.poses_3d).mean())


def fit(
    cfg: TrialConfig,
    splits: Splits,
    *,
    on_epoch: OnEpoch | None = None,
    resume_from: Path | None = None,
    device: torch.device | None = None,
) -> FitResult:
    """Train the lifter of cfg on splits.train, validating on a fixed subset of splits.val every epoch."""
    device = device or resolve_device(cfg.train.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    payload = load_resume_payload(resume_from) if resume_from is not None else None
    state = _build_state(cfg, splits, device, payload)
    first = _restore(state, payload) if payload is not None else 1
    train, val = splits.train.to(device), val_subset(splits.val, cfg.data).to(device)
    for epoch in range(first, cfg.train.epochs + 1):
        metrics = _run_epoch(state, epoch, train, val, device)
        state.history.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics, _checkpointer(state, epoch))
    return FitResult(state.eval_lifter.eval(), list(state.history))


def _checkpointer(state: _State, epoch: int) -> Callable[[Path], None]:
    """on_epoch's `checkpoint` argument: writes what resumes after epoch (1-based) to the given path."""
    return lambda path: save_checkpoint(path, _payload(state, epoch))


def _run_epoch(state: _State, epoch: int, train: PoseSet, val: PoseSet, device: torch.device) -> EpochMetrics:
    """Train one epoch, check for divergence, validate; the epoch's metrics."""
    start = time.perf_counter()
    loss = _train_epoch(state, train, device)
    train_s = time.perf_counter() - start
    if not math.isfinite(loss):
        raise TrainingDiverged(f"training loss is {loss} at epoch {epoch} (lr={state.cfg.train.lr})")
    val_mpjpe_mm, val_p_mpjpe_mm = validate(state.eval_lifter, val, state.cfg)
    if not math.isfinite(val_mpjpe_mm):
        raise TrainingDiverged(f"validation MPJPE is {val_mpjpe_mm} at epoch {epoch}")
    num_samples = state.cfg.train.samples_per_epoch or len(train)
    return EpochMetrics(
        epoch=epoch,
        train_loss=loss,
        val_mpjpe_mm=val_mpjpe_mm,
        val_p_mpjpe_mm=val_p_mpjpe_mm,
        lr=state.optimizer.param_groups[0]["lr"],
        epoch_s=time.perf_counter() - start,
        samples_per_s=num_samples / train_s,
        nfe=lifter_nfe(state.eval_lifter, state.cfg.sampler),
    )
