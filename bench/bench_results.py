"""Benchmark: the Parquet results store at study sizes (whole-file atomic rewrite on every flush).

Fills a ResultsStore with T trials x E epochs, then times (median of R repeats) one flush, one
flush after a single new epoch row, reopening the folder (resume) and read_trials. Prints one JSON
line per figure:
    python bench/bench_results.py [--trials 1000] [--epochs 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from study.results.tables import EpochRow, ResultsStore, TrialRow, read_trials

PARAMS = {
    "diffusion.schedule": "cosine",
    "sampler.name": "edm",
    "prior.num_components": 5,
    "sampler.S_churn": 10.0,
    "sampler.num_steps": 10,
    "train.lr": 1e-3,
}


def fill(store: ResultsStore, num_trials: int, num_epochs: int) -> None:
    """T trials, each with E epoch rows and a complete trial row."""
    for n in range(num_trials):
        trial_id = f"t{n:05d}"
        for epoch in range(1, num_epochs + 1):
            store.record_epoch(EpochRow("bench", trial_id, n, epoch, 0.1, 50.0, 40.0, 1e-3, 2.0, 1e4, 19))
        store.record_trial(TrialRow("bench", trial_id, n, "complete", PARAMS, num_epochs, 40.0, 41.0, 30.0, 31.0))


def median_s(step: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultsStore(Path(tmp), "bench")
        fill(store, args.trials, args.epochs)
        size = {"num_trials": args.trials, "num_epoch_rows": args.trials * args.epochs}
        counter = iter(range(10**9))
        figures = {
            "flush_s": lambda: store.flush(),
            "flush_after_one_epoch_s": lambda: (
                store.record_epoch(
                    EpochRow("bench", "extra", -1, next(counter) + 1, 0.1, 50.0, 40.0, 1e-3, 2.0, 1e4, 19)
                ),
                store.flush(),
            ),
            "resume_open_s": lambda: ResultsStore(Path(tmp), "bench"),
            "read_trials_s": lambda: read_trials(tmp),
        }
        for name, step in figures.items():
            print(json.dumps({"figure": name, "value": round(median_s(step, args.repeats), 4), "unit": "s", **size}))


if __name__ == "__main__":
    main()
