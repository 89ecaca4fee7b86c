"""The Ray Tune function trainable: one trial of the lifter, reporting exactly once per epoch.

Uses only ``ray.tune.report``, ``get_checkpoint``, ``Checkpoint`` and ``get_context`` (Train V2 is on
in Ray 2.60: ``ray.train.*`` fails inside a trial). The config Ray passes holds the dotted params
sampled by Optuna; :meth:`StudySpec.trial_config` turns them into the typed :class:`TrialConfig`.
The last epoch's report is held back until the full validation split and the test split are
evaluated, so the final result carries those figures (test figures are reported, never optimised).
"""
from __future__ import annotations

import dataclasses
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import ray
import torch
from ray import tune

from model.config import DataConfig, TrialConfig
from model.data import Splits, load_splits
from model.evaluate import evaluate
from model.train import EpochMetrics, fit
from study.devices import gpu_seconds, num_threads, trial_device
from study.spec import StudySpec

CHECKPOINT_FILE = "trial.pt"
_SPLITS: dict[DataConfig, Splits] = {}  # per worker process: reuse_actors keeps it across trials


def cached_splits(data: DataConfig) -> Splits:
    """The splits of ``data``, loaded once per process."""
    if data not in _SPLITS:
        _SPLITS[data] = load_splits(data)
    return _SPLITS[data]


def node_label() -> str:
    """Where this trial runs: '<node ip>/<ray node id>' (node ids tell apart raylets sharing an IP)."""
    try:
        return f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()}"
    except Exception:  # noqa: BLE001 - outside a Ray worker (direct call in a test)
        return socket.gethostname()


@dataclasses.dataclass
class _Reporter:
    """Turns ``fit``'s per-epoch callback into one ``tune.report`` per epoch."""

    spec: StudySpec
    device: torch.device
    gpus: float
    node: str
    start_s: float = dataclasses.field(default_factory=time.perf_counter)
    cpu0_s: float = dataclasses.field(default_factory=time.process_time)
    held: tuple[EpochMetrics, Path | None] | None = None

    def usage(self) -> dict[str, Any]:
        """Time inside this trial so far (s), CPU and GPU seconds, the node."""
        wall_s = time.perf_counter() - self.start_s
        return {"trial_s": wall_s, "cpu_s": time.process_time() - self.cpu0_s,
                "gpu_s": gpu_seconds(self.device, self.gpus, wall_s), "node": self.node}

    def __call__(self, metrics: EpochMetrics, checkpoint: Callable[[Path], None]) -> None:
        """fit's ``on_epoch``: report now, or hold the last epoch back for the final evaluation."""
        last = metrics.epoch >= self.spec.max_epochs
        folder = None
        if last or metrics.epoch % self.spec.checkpoint_every == 0:
            folder = Path(tempfile.mkdtemp(prefix="posediff-ckpt-"))
            checkpoint(folder / CHECKPOINT_FILE)
        if last:
            self.held = (metrics, folder)
        else:
            self.report(metrics, folder)

    def report(self, metrics: EpochMetrics, folder: Path | None, extra: dict[str, Any] | None = None) -> None:
        """One ``tune.report`` (with a checkpoint when ``folder`` holds one); the folder is then removed."""
        result = {**dataclasses.asdict(metrics), **self.usage(), **(extra or {})}
        try:
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder) if folder else None)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


def final_figures(lifter: torch.nn.Module, splits: Splits, cfg: TrialConfig, device: torch.device) -> dict[str, Any]:
    """The validation and test splits (all frames, or data.eval_subset_size of each), with the trial's sampler (mm)."""
    size, seed = cfg.data.eval_subset_size, cfg.data.val_subset_seed
    val, test = (evaluate(lifter, split.seeded_subset(size, seed).to(device), cfg.sampler,
                          batch_size=cfg.train.batch_size) for split in (splits.val, splits.test))
    return {"val_full_mpjpe_mm": val.mpjpe_mm, "test_mpjpe_mm": test.mpjpe_mm,
            "test_p_mpjpe_mm": test.p_mpjpe_mm, "test_n_mpjpe_mm": test.n_mpjpe_mm,
            "oracle_mpjpe_mm": test.oracle_pose_mpjpe_mm, "nfe": test.nfe}


def _resume_file(into: Path) -> Path | None:
    """The checkpoint Tune restored this trial from, copied under ``into`` (None on a fresh start)."""
    restored = tune.get_checkpoint()
    if restored is None:
        return None
    return Path(restored.to_directory(str(into))) / CHECKPOINT_FILE


def run_trial(config: dict[str, Any], spec: StudySpec) -> None:
    """Train one trial of ``spec`` with the dotted params in ``config`` (Ray Tune function trainable)."""
    clock = time.perf_counter(), time.process_time()  # busy time starts here
    cfg = spec.trial_config(config)
    allotted = tune.get_context().get_trial_resources().required_resources
    cpus, gpus = float(allotted.get("CPU", 1.0)), float(allotted.get("GPU", 0.0))
    torch.set_num_threads(num_threads(cpus))
    device = trial_device(gpus)
    reporter = _Reporter(spec, device, gpus, node_label(), *clock)
    splits = cached_splits(cfg.data)
    with tempfile.TemporaryDirectory(prefix="posediff-restore-") as restore_dir:
        fitted = fit(cfg, splits, on_epoch=reporter, resume_from=_resume_file(Path(restore_dir)), device=device)
    metrics, folder = reporter.held or (fitted.epochs[-1], None)
    reporter.report(metrics, folder, final_figures(fitted.lifter, splits, cfg, device))


def make_trainable(spec: StudySpec) -> Any:
    """``run_trial`` bound to ``spec`` with the spec's per-trial CPUs and (fractional) GPUs."""
    bound = tune.with_parameters(run_trial, spec=spec)
    return tune.with_resources(bound, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
