"""The Ray Tune function trainable: one trial of the lifter, reporting exactly once per epoch.

Uses only ``ray.tune.report``, ``get_checkpoint``, ``Checkpoint`` and ``get_context`` (Train V2 is on
in Ray 2.60: ``ray.train.*`` fails inside a trial). The config Ray passes holds the dotted params
sampled by Optuna; :meth:`StudySpec.trial_config` turns them into the typed :class:`TrialConfig`.
The last epoch's report is held back until the full validation split is evaluated (with the
reference sampler), so the final result carries that figure; the test split waits for stage 2.
A restored trial resumes from the newest of its checkpoints that loads (each unusable one is named
in one line on the trial's stderr), else restarts at epoch 1.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.fs
import ray
import torch
from ray import tune

from model.config import DataConfig, TrialConfig
from model.data import Splits, load_splits
from model.errors import PoseDiffError
from model.evaluate import evaluate
from model.train import EpochMetrics, fit, load_resume_payload
from study.results.layout import CHECKPOINT_FILE
from study.spec.study_spec import StudySpec
from study.tune.devices import gpu_seconds, num_threads, trial_device
from study.tune.gate import EpochGate

CHECKPOINT_DIR = re.compile(r"checkpoint_(\d+)")  # Tune's folder names: checkpoint_000000, checkpoint_000001, ...
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
    gate: EpochGate | None = None
    start_s: float = dataclasses.field(default_factory=time.perf_counter)
    cpu0_s: float = dataclasses.field(default_factory=time.process_time)
    held: tuple[EpochMetrics, Path | None] | None = None

    def usage(self) -> dict[str, Any]:
        """Time inside this trial so far (s), CPU and GPU seconds, the node."""
        wall_s = time.perf_counter() - self.start_s
        return {
            "trial_s": wall_s,
            "cpu_s": time.process_time() - self.cpu0_s,
            "gpu_s": gpu_seconds(self.device, self.gpus, wall_s),
            "node": self.node,
        }

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
            if self.gate is not None:
                self.gate.pass_through(tune.get_context().get_trial_id(), metrics.epoch)
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(folder) if folder else None)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


def final_figures(lifter: torch.nn.Module, splits: Splits, cfg: TrialConfig, device: torch.device) -> dict[str, Any]:
    """The full validation split (or data.eval_subset_size frames of it) with the trial's sampler (mm).

    The test split is touched only for settings chosen after stage 2 (:mod:`study.tune.sampling`);
    the deterministic `regress` reference, where nothing is chosen, is evaluated on test here.
    """
    size, seed = cfg.data.eval_subset_size, cfg.data.val_subset_seed

    def run(split: Any) -> Any:
        return evaluate(
            lifter, split.seeded_subset(size, seed).to(device), cfg.sampler, batch_size=cfg.train.batch_size
        )

    val = run(splits.val)
    figures: dict[str, Any] = {"val_full_mpjpe_mm": val.mpjpe_mm, "nfe": val.nfe}
    if cfg.diffusion.prediction == "regress":
        test = run(splits.test)
        figures.update(
            test_mpjpe_mm=test.mpjpe_mm,
            test_p_mpjpe_mm=test.p_mpjpe_mm,
            test_n_mpjpe_mm=test.n_mpjpe_mm,
            oracle_mpjpe_mm=test.oracle_pose_mpjpe_mm,
        )
    return figures


def _checkpoint_index(name: str) -> int | None:
    """N of a folder named like Tune's ``checkpoint_<N>``, else None."""
    match = CHECKPOINT_DIR.fullmatch(name)
    return int(match[1]) if match else None


def checkpoint_candidates(restored: tune.Checkpoint) -> list[tune.Checkpoint]:
    """``restored``, then the older ``checkpoint_<N>`` folders of the same trial next to it, newest first."""
    parent, name = posixpath.split(restored.path.rstrip("/"))
    newest = _checkpoint_index(name)
    if newest is None:
        return [restored]
    try:
        infos = restored.filesystem.get_file_info(pyarrow.fs.FileSelector(parent))
    except OSError:  # the trial folder cannot be listed: only the restored checkpoint
        infos = []
    older: dict[int, str] = {}
    for info in infos:
        index = _checkpoint_index(info.base_name)
        if info.type == pyarrow.fs.FileType.Directory and index is not None and index < newest:
            older[index] = info.path
    return [restored] + [tune.Checkpoint(older[i], restored.filesystem) for i in sorted(older, reverse=True)]


def fetch_checkpoint(checkpoint: tune.Checkpoint, into: Path) -> Path:
    """Copy ``checkpoint`` under ``into`` and load its file; PoseDiffError naming the stored file if unusable."""
    where = posixpath.join(checkpoint.path, CHECKPOINT_FILE)
    try:
        path = Path(checkpoint.to_directory(str(into))) / CHECKPOINT_FILE
    except FileNotFoundError as exc:
        raise PoseDiffError(where, "a checkpoint folder", "no such folder") from exc
    except OSError as exc:
        raise PoseDiffError(where, "a readable checkpoint folder", f"{type(exc).__name__}: {exc}") from exc
    try:
        load_resume_payload(path)
    except PoseDiffError as err:  # name the stored file, not the local copy
        raise PoseDiffError(err.where.replace(str(path), where, 1), err.expected, err.found) from err
    return path


def _say(line: str) -> None:
    """One line on the trial's stderr."""
    print(" ".join(line.split()), file=sys.stderr, flush=True)


def usable_checkpoint(candidates: list[tune.Checkpoint], into: Path, say: Callable[[str], None] = _say) -> Path | None:
    """The file of the first candidate that loads (copied under ``into``), else None (restart from epoch 1).

    Every unusable candidate is one line through ``say``: the file, expected, found, what happens now.
    """
    for i, candidate in enumerate(candidates):
        try:
            return fetch_checkpoint(candidate, into / str(i))
        except PoseDiffError as err:
            now = (
                f"falling back to the previous checkpoint {candidates[i + 1].path}"
                if i + 1 < len(candidates)
                else "no usable checkpoint left: the trial restarts from epoch 1"
            )
            say(f"posediff: unusable checkpoint: {err}; {now}")
    return None


def _resume_file(into: Path) -> Path | None:
    """The newest loadable checkpoint of this restored trial, copied under ``into`` (None: start at epoch 1)."""
    restored = tune.get_checkpoint()
    if restored is None:
        return None
    return usable_checkpoint(checkpoint_candidates(restored), into)


def run_trial(config: dict[str, Any], spec: StudySpec, gate: EpochGate | None = None) -> None:
    """Train one trial of ``spec`` with the dotted params in ``config`` (Ray Tune function trainable)."""
    clock = time.perf_counter(), time.process_time()  # busy time starts here
    cfg = spec.trial_config(config)
    allotted = tune.get_context().get_trial_resources().required_resources
    cpus, gpus = float(allotted.get("CPU", 1.0)), float(allotted.get("GPU", 0.0))
    torch.set_num_threads(num_threads(cpus))
    device = trial_device(gpus)
    reporter = _Reporter(spec, device, gpus, node_label(), gate, *clock)
    splits = cached_splits(cfg.data)
    with tempfile.TemporaryDirectory(prefix="posediff-restore-") as restore_dir:
        fitted = fit(cfg, splits, on_epoch=reporter, resume_from=_resume_file(Path(restore_dir)), device=device)
    metrics, folder = reporter.held or (fitted.epochs[-1], None)
    reporter.report(metrics, folder, final_figures(fitted.lifter, splits, cfg, device))


def make_trainable(spec: StudySpec) -> Any:
    """``run_trial`` bound to ``spec`` (and the driver's epoch gate, if any) with the spec's per-trial CPUs and GPUs."""
    bound = tune.with_parameters(run_trial, spec=spec, gate=EpochGate.from_env())
    return tune.with_resources(bound, {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial})
