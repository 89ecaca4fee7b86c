"""Orchestration benchmarks of `posediff-study run` (one JSON line per figure on stdout).

1. Efficiency: sum of trial busy time (time inside the trainable, ``wall_s`` in trials.parquet)
   / (study wall time x slots), for 16 short trials on 2 slots (local Ray started beforehand).
2. Pruning's saving: epochs run with the median pruner / with ``pruner: none``, same random-sampler
   seed (so the same trial parameters in the same order), with both studies' best val MPJPE.

    python bench/bench_orchestration.py [--num-trials 16] [--samples-per-epoch 2048 16384] [--skip-pruning]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import torch
import yaml

SMOKE = Path(__file__).resolve().parents[1] / "searchspaces" / "smoke.yaml"
SLOTS = 2


def write_spec(folder: Path, name: str, data: Path, samples_per_epoch: int = 2048, **sections: Any) -> Path:
    """smoke.yaml on the small synthetic dataset, one CPU per trial, with ``sections`` replaced."""
    raw = yaml.safe_load(SMOKE.read_text())
    raw.update(name=name, data={"path": str(data), "val_subset_size": 128}, resources={"cpus_per_trial": 1})
    raw["fixed"].update(
        {
            "network.width": 16,
            "network.num_heads": 2,
            "train.samples_per_epoch": samples_per_epoch,
            "prior.fit_samples": 1000,
            "sampler.num_hypotheses": 1,
        }
    )
    raw.update(sections)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run(spec_file: Path, out: Path) -> tuple[float, list[dict]]:
    """Run one study on the already started Ray; (wall seconds, trials.parquet rows)."""
    from study.results.tables import read_trials
    from study.spec.study_spec import load_spec
    from study.tune.runner import RunOptions, run_study

    start = time.perf_counter()
    run_study(load_spec(spec_file), RunOptions(out=out))
    return time.perf_counter() - start, read_trials(out).to_pylist()


def efficiency(folder: Path, data: Path, num_trials: int, samples_per_epoch: int) -> dict[str, Any]:
    """Busy time / (wall x slots) for ``num_trials`` trials of 3 epochs, no pruning."""
    spec = write_spec(
        folder,
        f"efficiency-{samples_per_epoch}",
        data,
        samples_per_epoch,
        pruner={"name": "none"},
        sampler={"name": "random", "seed": 0},
        budget={
            "num_trials": num_trials,
            "max_epochs": 3,
            "max_concurrent_trials": SLOTS,
            "checkpoint_every": 3,
            "max_failures": 0,
        },
    )
    wall_s, rows = run(spec, folder / spec.stem)
    busy_s = sum(r["wall_s"] for r in rows)
    return {
        "figure": "orchestration_efficiency",
        "value": round(busy_s / (wall_s * SLOTS), 3),
        "busy_s": round(busy_s, 1),
        "wall_s": round(wall_s, 1),
        "slots": SLOTS,
        "num_trials": len(rows),
        "mean_trial_s": round(busy_s / len(rows), 2),
        "samples_per_epoch": samples_per_epoch,
    }


def pruning(folder: Path, data: Path) -> list[dict[str, Any]]:
    """Epochs and best val MPJPE of the same 10 trials with the median pruner and without."""
    figures, epochs = [], {}
    for pruner in ({"name": "median", "n_startup_trials": 2, "n_warmup_steps": 1}, {"name": "none"}):
        name = f"pruning-{pruner['name']}"
        spec = write_spec(
            folder,
            name,
            data,
            pruner=pruner,
            sampler={"name": "random", "seed": 0},
            budget={
                "num_trials": 10,
                "max_epochs": 6,
                "max_concurrent_trials": SLOTS,
                "checkpoint_every": 2,
                "max_failures": 0,
            },
        )
        wall_s, rows = run(spec, folder / name)
        epochs[pruner["name"]] = sum(r["epochs_run"] for r in rows)
        best = min(r["best_val_mpjpe_mm"] for r in rows if r["status"] != "failed")
        figures.append(
            {
                "figure": "study_best_val_mpjpe_mm",
                "pruner": pruner["name"],
                "value": round(best, 2),
                "epochs_run": epochs[pruner["name"]],
                "wall_s": round(wall_s, 1),
                "num_pruned": sum(r["status"] == "pruned" for r in rows),
            }
        )
    figures.append(
        {
            "figure": "pruning_epochs_ratio",
            "value": round(epochs["median"] / epochs["none"], 3),
            "epochs_with_pruner": epochs["median"],
            "epochs_without": epochs["none"],
        }
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-trials", type=int, default=16)
    parser.add_argument(
        "--samples-per-epoch",
        type=int,
        nargs="+",
        default=[2048, 16384],
        help="trial length: one efficiency figure per value",
    )
    parser.add_argument("--skip-pruning", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="posediff-bench-") as tmp:
        folder = Path(tmp)
        os.environ["POSEDIFF_CACHE"] = str(folder / "cache")
        from model.synthetic import generate

        data = generate(folder / "synthetic.npz", seed=0, num_subjects=4, minutes=0.3, num_cameras=2)
        ray.init(address="local", num_cpus=SLOTS, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
        try:
            for samples in args.samples_per_epoch:
                print(json.dumps(efficiency(folder, data, args.num_trials, samples)), flush=True)
            for figure in [] if args.skip_pruning else pruning(folder, data):
                print(json.dumps(figure), flush=True)
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()
