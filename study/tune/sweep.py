"""Test-time sampler sweep: re-evaluate a study's best trained networks under other sampler settings.

A sweep spec (``searchspaces/sampler_sweep.yaml``) lists sampler settings (dotted ``sampler.*``
keys only: a ``grid`` and/or explicit ``settings``); :func:`run_sweep` picks the top-K complete
training trials of a study folder, finds each one's latest Ray checkpoint, runs one Ray task per
(trial, setting) and appends ``kind="eval"`` rows to the study's ``trials.parquet``. An eval row's
id is ``"<source trial id>/eval-<k>"`` with k a hash of the resolved sampler config and the
evaluation frames, so re-running a sweep skips what is done and never duplicates a row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.config import SamplerConfig, check_ranges
from model.errors import PoseDiffError
from study.results.layout import RAY_DIR
from study.results.tables import TRIALS_FILE, ResultsStore, TrialRow, file_study, finite, read_trials, trial_from_record
from study.spec.sweep_file import TRIAL_SUBSET, SweepSpec, resolve_sampler
from study.tune.setting_eval import find_checkpoint, loaded_lifter


@dataclass(frozen=True)
class EvalJob:
    """One (source trial, resolved sampler) evaluation: what a Ray task receives."""

    source: TrialRow
    eval_id: str
    checkpoint: str  # a path, or a URI (s3://..., file://...) of the study's Ray storage
    sampler: SamplerConfig
    eval_subset_size: int | None
    seed: int
    splits: tuple[str, ...]


def eval_id(source_id: str, sampler: SamplerConfig, eval_subset_size: int | None, seed: int) -> str:
    """``"<source>/eval-<k>"``: k from a hash of the resolved sampler and the evaluated frames (stable)."""
    text = json.dumps(
        {"sampler": dataclasses.asdict(sampler), "eval_subset_size": eval_subset_size, "seed": seed}, sort_keys=True
    )
    return f"{source_id}/eval-{int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)}"


def top_trials(run_dir: Path, top: int) -> list[TrialRow]:
    """The ``top`` complete diffusion training trials by best validation MPJPE (the regress reference excluded)."""
    if top < 1:
        raise PoseDiffError("--top", "an integer >= 1", repr(top))
    rows = [trial_from_record(r) for r in read_trials(run_dir).to_pylist()]
    done = [
        r
        for r in rows
        if r.kind == "train"
        and r.status == "complete"
        and finite(r.best_val_mpjpe_mm)
        and r.params.get("diffusion.prediction") != "regress"
    ]
    if not done:
        raise PoseDiffError(
            str(Path(run_dir) / TRIALS_FILE),
            "at least one complete diffusion trial",
            f"{len(rows)} rows, none complete",
        )
    return sorted(done, key=lambda r: r.best_val_mpjpe_mm)[:top]


def plan(run_dir: Path, sweep: SweepSpec, top: int, ray_dir: Path | None = None) -> list[EvalJob]:
    """One job per (top trial, distinct resolved setting), each setting range-checked against the trial's config."""
    jobs: dict[str, EvalJob] = {}
    for source in top_trials(run_dir, top):
        checkpoint = find_checkpoint(str(ray_dir or Path(run_dir) / RAY_DIR), source.trial_id)
        cfg = loaded_lifter(checkpoint)[1]
        subset = cfg.data.eval_subset_size if sweep.eval_subset_size is TRIAL_SUBSET else sweep.eval_subset_size
        for i, setting in enumerate(sweep.settings):
            sampler = resolve_sampler(cfg.sampler, setting)
            check_ranges(dataclasses.replace(cfg, sampler=sampler), f"{sweep.source}: setting {i} on {source.trial_id}")
            job = EvalJob(
                source,
                eval_id(source.trial_id, sampler, subset, sweep.seed),
                checkpoint,
                sampler,
                subset,
                sweep.seed,
                sweep.splits,
            )
            jobs.setdefault(job.eval_id, job)
    return list(jobs.values())


def evaluate_job(job: EvalJob) -> dict[str, Any]:
    """One Ray task: :func:`evaluate_splits`, or ``{"error": (where, expected, found)}`` on a PoseDiffError."""
    try:
        return evaluate_splits(job)
    except PoseDiffError as exc:  # Ray would wrap it with the remote traceback; keep it one line
        return {"error": (exc.where, exc.expected, exc.found)}


def evaluate_splits(job: EvalJob) -> dict[str, Any]:
    """Evaluate one job's splits on the CPU (one thread): TrialRow figures, nfe, wall_s, cpu_s, node."""
    import ray
    import torch

    from model.evaluate import evaluate
    from study.tune.trainable import cached_splits, node_label

    clock = time.perf_counter(), time.process_time()
    torch.set_num_threads(1)
    lifter, cfg = loaded_lifter(job.checkpoint)
    splits, out = cached_splits(cfg.data), {}
    for name in job.splits:
        part = getattr(splits, name).seeded_subset(job.eval_subset_size, cfg.data.val_subset_seed)
        result = evaluate(
            lifter,
            part,
            job.sampler,
            batch_size=cfg.train.batch_size,
            generator=torch.Generator().manual_seed(job.seed),
        )
        out.update(split_figures(name, result))
    # Outside a Ray worker (a direct call) ask no runtime context: it would look for a cluster.
    node = node_label() if ray.is_initialized() else socket.gethostname()
    return {**out, "wall_s": time.perf_counter() - clock[0], "cpu_s": time.process_time() - clock[1], "node": node}


def split_figures(split: str, result: Any) -> dict[str, Any]:
    """The TrialRow columns one split's EvalResult fills (mm)."""
    if split == "val":
        return {
            "val_full_mpjpe_mm": result.mpjpe_mm,
            "final_val_mpjpe_mm": result.mpjpe_mm,
            "final_val_p_mpjpe_mm": result.p_mpjpe_mm,
            "nfe": result.nfe,
        }
    return {
        "test_mpjpe_mm": result.mpjpe_mm,
        "test_p_mpjpe_mm": result.p_mpjpe_mm,
        "test_n_mpjpe_mm": result.n_mpjpe_mm,
        "oracle_mpjpe_mm": result.oracle_pose_mpjpe_mm,
        "nfe": result.nfe,
    }


def eval_row(job: EvalJob, figures: dict[str, Any], prev: TrialRow | None) -> TrialRow:
    """The eval row of a job: the source's complete config with the resolved sampler (and frames) applied,
    ``figures`` on top of ``prev``."""
    params = {
        **job.source.params,
        **{f"sampler.{k}": v for k, v in dataclasses.asdict(job.sampler).items()},
        "data.eval_subset_size": job.eval_subset_size,
    }
    base = prev or TrialRow(
        study=job.source.study,
        trial_id=job.eval_id,
        trial_number=job.source.trial_number,
        status="complete",
        params=params,
        epochs_run=job.source.epochs_run,
        best_val_mpjpe_mm=None,
        final_val_mpjpe_mm=None,
        best_val_p_mpjpe_mm=None,
        final_val_p_mpjpe_mm=None,
        kind="eval",
    )
    return dataclasses.replace(base, params=params, **figures)


def is_done(job: EvalJob, prev: TrialRow | None) -> bool:
    """Whether an earlier sweep already recorded every split this job asks for."""
    needed = {"val": "val_full_mpjpe_mm", "test": "test_mpjpe_mm"}
    return prev is not None and all(getattr(prev, needed[s]) is not None for s in job.splits)


@dataclass(frozen=True)
class SweepOutcome:
    """What a sweep did: rows written this time and evaluations skipped as already recorded."""

    rows: tuple[TrialRow, ...]
    num_skipped: int


def run_sweep(
    run_dir: Path,
    sweep: SweepSpec,
    top: int,
    address: str | None = None,
    on_row: Callable[[TrialRow], None] | None = None,
) -> SweepOutcome:
    """Evaluate the top trials of ``run_dir`` under every setting, one Ray task each; rows flushed as they land."""
    import ray

    from study.tune.runner import RunOptions, start_ray

    run_dir = Path(run_dir)
    store = ResultsStore(run_dir, file_study(read_trials(run_dir)))
    jobs = plan(run_dir, sweep, top)
    todo = [j for j in jobs if not is_done(j, store.trial(j.eval_id, "eval"))]
    rows: list[TrialRow] = []
    if todo:
        start_ray(RunOptions(address=address))
        task = ray.remote(num_cpus=1)(evaluate_job)
        pending = {task.remote(job): job for job in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            figures = ray.get(ready[0])
            if "error" in figures:  # a user error on a worker (bad data path there): one line here too
                raise PoseDiffError(*figures["error"])
            row = eval_row(job, figures, store.trial(job.eval_id, "eval"))
            store.record_trial(row)
            store.flush()
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return SweepOutcome(tuple(rows), len(jobs) - len(todo))
