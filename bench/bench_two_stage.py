"""Benchmark: two-stage search (train once, sample many) against the joint search, at equal compute.

The same space both ways, on the built-in synthetic data with the smoke study's tiny network:
training keys (train.lr, diffusion.schedule) and sampling keys (sampler.name, sampler.num_steps,
sampler.num_hypotheses, sampler.S_churn when EDM).

- joint: one Optuna study (TPE, median pruner on epochs) over all keys; every trial trains a
  network and validates each epoch with its own sampler (what a study did before stage 2).
- two_stage: Optuna over the training keys, each epoch validated with the reference sampler
  (DDIM, S = 6, N = 1); every complete network then gets an Optuna study over the sampling keys
  on the validation split, successive halving over 256 / 1024 / 2048 frames.
- two_stage_top2: the same, but only a network among the 2 best so far (reference-sampler score)
  gets the sampler search (the spec's `sampling.top: 2`).

Both run in this process (no Ray: the search strategies are compared, not the orchestration)
until the same budget of CPU-seconds (process time: trial-epochs plus sampling passes) is spent.
Score: the best validation MPJPE on the same 2048 seeded frames (every complete joint trial and
every final stage-2 setting). One JSON line per (mode, seed), then a summary.

    python bench/bench_two_stage.py [--budget-cpu-s 180] [--seeds 0 1 2] [--epochs 6] [--modes joint two_stage two_stage_top2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from typing import Any

import optuna
import torch

from model.config import TrialConfig, trial_config
from model.data import load_splits
from model.evaluate import evaluate
from model.train import fit

FIXED = {
    "network.width": 32,
    "network.num_blocks": 1,
    "network.num_heads": 4,
    "train.samples_per_epoch": 8192,
    "train.batch_size": 256,
    "train.device": "cpu",
    "prior.fit_samples": 5000,
    "diffusion.num_steps": 50,
    "data.val_subset_size": 256,
    "data.eval_subset_size": 2048,  # a network's full-split score: 2048 seeded validation frames, as in the smoke study
    "sampler.name": "ddim",
    "sampler.num_steps": 6,
    "sampler.num_hypotheses": 1,
}
RUNGS = (256, 1024, 2048)  # frames of the validation split (the last: the full-split score)


def suggest_training(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    return {
        "train.lr": trial.suggest_float("train.lr", 1e-4, 3e-2, log=True),
        "diffusion.schedule": trial.suggest_categorical("diffusion.schedule", ["linear", "cosine"]),
    }


def suggest_sampling(trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    name = trial.suggest_categorical("sampler.name", ["ddim", "edm"])
    out = {
        "sampler.name": name,
        "sampler.num_steps": trial.suggest_int("sampler.num_steps", 3, 12),
        "sampler.num_hypotheses": trial.suggest_int("sampler.num_hypotheses", 1, 5),
    }
    if name == "edm":
        out["sampler.S_churn"] = trial.suggest_float("sampler.S_churn", 0.0, 20.0)
    return out


class Budget:
    """CPU-seconds spent so far, split into training and sampling."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s, self.train_s, self.sample_s = limit_s, 0.0, 0.0

    @property
    def spent_s(self) -> float:
        return self.train_s + self.sample_s

    def left(self) -> bool:
        return self.spent_s < self.limit_s


def train(cfg: TrialConfig, splits: Any, trial: optuna.trial.Trial, budget: Budget) -> tuple[Any, float]:
    """fit with per-epoch pruning through ``trial``: (lifter, last epoch's val MPJPE); TrialPruned when stopped."""
    start = time.process_time()

    def on_epoch(metrics: Any, checkpoint: Any) -> None:
        trial.report(metrics.val_mpjpe_mm, metrics.epoch)
        if trial.should_prune() or not budget.left():
            raise optuna.TrialPruned

    try:
        fitted = fit(cfg, splits, on_epoch=on_epoch)
        return fitted.lifter, fitted.epochs[-1].val_mpjpe_mm
    finally:
        budget.train_s += time.process_time() - start


def score(lifter: Any, cfg: TrialConfig, splits: Any, frames: int, budget: Budget) -> float:
    start = time.process_time()
    part = splits.val.seeded_subset(frames, cfg.data.val_subset_seed)
    result = evaluate(lifter, part, cfg.sampler, batch_size=1024, generator=torch.Generator().manual_seed(0))
    budget.sample_s += time.process_time() - start
    return result.mpjpe_mm


def joint(splits: Any, seed: int, budget: Budget, epochs: int) -> float:
    """One study over every key; a complete trial is scored on the full validation split."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), pruner=_pruner())
    best = float("inf")
    while budget.left():
        trial = study.ask()
        cfg = trial_config({**FIXED, **suggest_training(trial), **suggest_sampling(trial), "train.epochs": epochs})
        try:
            lifter, _ = train(cfg, splits, trial, budget)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        value = score(lifter, cfg, splits, RUNGS[-1], budget)
        study.tell(trial, value)
        best = min(best, value)
    return best


def two_stage(
    splits: Any, seed: int, budget: Budget, epochs: int, settings_per_network: int, top: int | None = None
) -> float:
    """Stage 1 over the training keys (reference sampler), stage 2 over the sampling keys per network
    (with ``top``: only on a network among the ``top`` best so far by its reference-sampler score)."""
    stage1 = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), pruner=_pruner())
    best, scores = float("inf"), []
    while budget.left():
        trial = stage1.ask()
        cfg = trial_config({**FIXED, **suggest_training(trial), "train.epochs": epochs})
        try:
            lifter, last_val_mm = train(cfg, splits, trial, budget)
        except optuna.TrialPruned:
            stage1.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        stage1.tell(trial, last_val_mm)
        scores.append(last_val_mm)
        if top is None or last_val_mm <= sorted(scores)[:top][-1]:
            best = min(best, search_samplers(lifter, cfg, splits, seed, budget, settings_per_network))
    return best


def search_samplers(lifter: Any, cfg: TrialConfig, splits: Any, seed: int, budget: Budget, num: int) -> float:
    """Stage 2 on one network: successive halving over the rungs; the best full-split value."""
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=RUNGS[0], reduction_factor=4)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner)
    best = float("inf")
    for _ in range(num):
        if not budget.left():
            break
        trial = study.ask()
        setting = trial_config({**FIXED, **suggest_sampling(trial)}).sampler
        local = replace(cfg, sampler=setting)
        for frames in RUNGS:
            value = score(lifter, local, splits, frames, budget)
            if frames == RUNGS[-1]:
                study.tell(trial, value)
                best = min(best, value)
                break
            trial.report(value, frames)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
    return best


def _pruner() -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-cpu-s", type=float, default=180.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--settings-per-network", type=int, default=4)
    parser.add_argument("--modes", nargs="+", default=["joint", "two_stage", "two_stage_top2"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    splits = load_splits(trial_config(FIXED).data)
    results: dict[str, list[float]] = {mode: [] for mode in args.modes}
    for seed in args.seeds:
        for mode in results:
            torch.manual_seed(seed)
            budget = Budget(args.budget_cpu_s)
            wall = time.perf_counter()
            if mode == "joint":
                best = joint(splits, seed, budget, args.epochs)
            else:
                top = 2 if mode == "two_stage_top2" else None
                best = two_stage(splits, seed, budget, args.epochs, args.settings_per_network, top)
            results[mode].append(best)
            line = {
                "bench": "two_stage",
                "mode": mode,
                "seed": seed,
                "best_val_mpjpe_mm": round(best, 2),
                "cpu_s": round(budget.spent_s, 1),
                "train_cpu_s": round(budget.train_s, 1),
                "sample_cpu_s": round(budget.sample_s, 1),
                "wall_s": round(time.perf_counter() - wall, 1),
            }
            print(json.dumps(line), flush=True)
    summary = {mode: round(statistics.mean(values), 2) for mode, values in results.items()}
    wins = sum(t <= j for t, j in zip(results["two_stage"], results["joint"]))
    print(
        json.dumps(
            {
                "bench": "two_stage",
                "summary_mean_best_val_mpjpe_mm": summary,
                "two_stage_at_least_as_good": f"{wins}/{len(args.seeds)}",
            }
        )
    )


if __name__ == "__main__":
    main()
