"""Benchmark: training and sampling throughput of the lifter, and the epoch time at Human3.6M size.

Figures (one JSON line each), default network config (width 128, 4 blocks, 4 heads), per device
(CPU, and CUDA when present):
  train_samples_per_s:  lifter.loss + backward + clip + AdamW step at --batch, samples/s (median of steps);
  sample_poses_per_s:   lifter.sample at --sample-batch poses x N = 1, for ddim S=10 (NFE 10),
                        edm S=10 (NFE 19), ddpm T=50 (NFE 50); poses/s;
  epoch_s_h36m_size:    one `fit` epoch on the synthetic default's train split tiled to --frames
                        (1.5 million, in memory); measured when the predicted time is under
                        --measure-budget-s, else measured on a capped epoch (samples_per_epoch) and
                        extrapolated ("extrapolated": true, with the measured cap).

    python bench/bench_train.py [--threads N] [--batch 1024] [--sample-batch 256] [--frames 1500000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time

import torch

from model.config import SamplerConfig, TrialConfig, trial_config
from model.data import Splits, load_splits
from model.lifter import DiffusionLifter, flatten_pose
from model.prior import fit_prior
from model.samplers import nfe
from model.train import fit

SAMPLERS = (
    SamplerConfig(name="ddim", num_steps=10, num_hypotheses=1),
    SamplerConfig(name="edm", num_steps=10, num_hypotheses=1),
    SamplerConfig(name="ddpm", num_hypotheses=1),
)


def emit(**figure: object) -> None:
    print(json.dumps(figure), flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build(cfg: TrialConfig, splits: Splits, device: torch.device) -> DiffusionLifter:
    prior = fit_prior(flatten_pose(splits.train.poses_3d), cfg.prior, cache_key=splits.fingerprint)
    return DiffusionLifter.from_poses(cfg.diffusion, cfg.network, cfg.prior, prior, splits.train.poses_3d).to(device)


def train_samples_per_s(lifter: DiffusionLifter, splits: Splits, batch: int, steps: int, device: torch.device) -> float:
    """Median samples/s of full training steps (after one warm-up step)."""
    optimizer = torch.optim.AdamW(lifter.denoiser.parameters(), lr=1e-3, fused=device.type == "cuda")
    x0, c = splits.train.poses_3d[:batch].to(device), splits.train.keypoints_2d[:batch].to(device)
    generator, times = torch.Generator(device=device).manual_seed(0), []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = lifter.loss(x0, c, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lifter.denoiser.parameters(), 1.0)
        optimizer.step()
        sync(device)
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times[1:])


def sample_poses_per_s(
    lifter: DiffusionLifter, splits: Splits, cfg: SamplerConfig, batch: int, device: torch.device
) -> float:
    """Poses/s of lifter.sample (one call after a warm-up call on a small batch)."""
    c = splits.val.keypoints_2d[:batch].to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    lifter.eval().sample(c[:8], cfg, generator)
    sync(device)
    start = time.perf_counter()
    lifter.sample(c, cfg, generator)
    sync(device)
    return batch / (time.perf_counter() - start)


def tiled(splits: Splits, num_frames: int) -> Splits:
    """The train split repeated to num_frames frames (in memory; same fingerprint, so the prior cache hits)."""
    index = torch.arange(num_frames) % len(splits.train)
    return dataclasses.replace(splits, train=splits.train.subset(index))


def epoch_figure(
    cfg: TrialConfig,
    splits: Splits,
    num_frames: int,
    predicted_s: float,
    budget_s: float,
    cap: int,
    device: torch.device,
) -> None:
    """One fit epoch on the tiled split: whole when predicted under budget, else capped and extrapolated."""
    big = tiled(splits, num_frames)
    extrapolated = predicted_s > budget_s
    train = dataclasses.replace(cfg.train, epochs=1, samples_per_epoch=cap if extrapolated else None)
    metrics = fit(dataclasses.replace(cfg, train=train), big, device=device).epochs[0]
    val_s = metrics.epoch_s - (train.samples_per_epoch or num_frames) / metrics.samples_per_s
    epoch_s = num_frames / metrics.samples_per_s + val_s if extrapolated else metrics.epoch_s
    emit(
        figure="epoch_s_h36m_size",
        device=device.type,
        frames=num_frames,
        epoch_s=round(epoch_s, 1),
        samples_per_s=round(metrics.samples_per_s, 1),
        val_s=round(val_s, 2),
        val_frames=cfg.data.val_subset_size,
        extrapolated=extrapolated,
        measured_samples=train.samples_per_epoch or num_frames,
        batch=cfg.train.batch_size,
        threads=torch.get_num_threads(),
    )


def run_device(device: torch.device, args: argparse.Namespace) -> None:
    cfg = trial_config(
        {"train": {"batch_size": args.batch, "device": device.type}, "data": {"val_subset_size": args.val_frames}}
    )
    splits = load_splits(cfg.data)
    torch.manual_seed(0)
    lifter = build(cfg, splits, device)
    speed = train_samples_per_s(lifter, splits, args.batch, args.steps, device)
    emit(
        figure="train_samples_per_s",
        device=device.type,
        value=round(speed, 1),
        batch=args.batch,
        width=cfg.network.width,
        num_blocks=cfg.network.num_blocks,
        threads=torch.get_num_threads(),
    )
    for sampler in SAMPLERS:
        poses = sample_poses_per_s(lifter, splits, sampler, args.sample_batch, device)
        steps = lifter.schedule.num_steps if sampler.name == "ddpm" else sampler.num_steps  # ddpm runs all T
        emit(
            figure="sample_poses_per_s",
            device=device.type,
            sampler=sampler.name,
            steps=steps,
            nfe=nfe(sampler, lifter.schedule),
            value=round(poses, 1),
            batch=args.sample_batch,
            threads=torch.get_num_threads(),
        )
    epoch_figure(cfg, splits, args.frames, args.frames / speed, args.measure_budget_s, args.cap, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--sample-batch", type=int, default=256)
    parser.add_argument("--frames", type=int, default=1_500_000)
    parser.add_argument("--val-frames", type=int, default=256)
    parser.add_argument("--measure-budget-s", type=float, default=300.0)
    parser.add_argument("--cap", type=int, default=8192, help="samples of the capped epoch when extrapolating")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for device in [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else []):
        run_device(device, args)


if __name__ == "__main__":
    main()
