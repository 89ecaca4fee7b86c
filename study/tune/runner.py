"""Run a study: Ray Tune executes, the Optuna bridge decides, Parquet records (docs/study.md §2, §5).

One folder per study (default ``runs/<name>/``): ``spec.resolved.yaml`` (with the spec's hash),
``trials.parquet``, ``epochs.parquet``, ``optuna.journal`` (unless an RDB ``storage_url``) and Ray's
experiment folder under ``ray/`` (or under ``storage_path`` for multi-node shared storage). A folder
holding another study is refused; an unfinished one needs ``resume`` (Ray issue 35812: a new
experiment at the same path would overwrite the old one's ``tuner.pkl``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import optuna
import pyarrow.fs
import ray
import yaml
from optuna.trial import TrialState
from ray import tune

from model.errors import PoseDiffError
from study.results.layout import RAY_DIR, SPEC_FILE
from study.results.storage import redact_url
from study.results.tables import TRIALS_FILE, TrialRow, read_trials, trial_from_record
from study.spec.study_spec import StudySpec
from study.tune.bridge import OptunaPruningScheduler, OptunaSearcher
from study.tune.callbacks import ResultsCallback, View
from study.tune.optuna_link import OptunaLink
from study.tune.sampling import SamplingStage
from study.tune.setting_eval import find_checkpoint
from study.tune.trainable import make_trainable


@dataclass(frozen=True)
class RunOptions:
    """Where a study runs and where it writes (CLI flags of ``posediff-study run``)."""

    out: Path | None = None  # the study's folder; default runs/<study name>
    resume: bool = False
    address: str | None = None  # None: a local Ray; auto | ray://host:port | ip:port
    storage_url: str | None = None  # Optuna RDB URL; None: optuna.journal in the study folder
    storage_path: str | None = None  # Ray storage every node reaches; default <out>/ray
    num_cpus: int | None = None  # local Ray only; None: all cores


@dataclass(frozen=True)
class StudyOutcome:
    """What a run left behind: the folder and Optuna's counts of trials by state."""

    run_dir: Path
    experiment_path: str
    counts: dict[str, int]
    finished: bool


def run_dir_of(spec: StudySpec, options: RunOptions) -> Path:
    """The study's result folder (absolute)."""
    return (options.out or Path("runs") / spec.name).resolve()


def experiment_path(spec: StudySpec, options: RunOptions) -> tuple[str, str]:
    """(Ray storage_path, experiment name): unique per study via the spec hash."""
    storage = options.storage_path or str(run_dir_of(spec, options) / RAY_DIR)
    return storage, f"{spec.name}-{spec.hash}"


def optuna_counts(link: OptunaLink) -> dict[str, int]:
    """Optuna's trials of the study by state name (COMPLETE, PRUNED, FAIL, RUNNING, ...)."""
    counts: dict[str, int] = {}
    for trial in link.study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def is_finished(spec: StudySpec, counts: dict[str, int]) -> bool:
    """Every budgeted trial closed in Optuna and none left open."""
    closed = sum(counts.get(s.name, 0) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    return closed >= spec.num_total_trials and counts.get("RUNNING", 0) == 0


def prepare_run_dir(spec: StudySpec, options: RunOptions) -> bool:
    """Claim the study's folder; True when an unfinished run of the same study is to be resumed."""
    run_dir = run_dir_of(spec, options)
    spec_file = run_dir / SPEC_FILE
    if spec_file.exists():
        stored = (yaml.safe_load(spec_file.read_text()) or {}).get("hash")
        if stored != spec.hash:
            raise PoseDiffError(
                str(run_dir),
                f"a new folder for study {spec.name!r} (hash {spec.hash}); pass --out",
                f"the results of another study (hash {stored})",
            )
        if not options.resume:
            raise PoseDiffError(
                str(run_dir),
                "--resume to continue this study, or a new folder (--out)",
                "an earlier run of the same study",
            )
        return True
    if run_dir.exists() and any(run_dir.iterdir()):
        raise PoseDiffError(str(run_dir), "an empty or new folder for the study's results", "a non-empty folder")
    if options.resume:
        raise PoseDiffError(str(run_dir), "an earlier run of this study to resume", "no such run")
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(yaml.safe_dump({"hash": spec.hash, **spec.resolved()}, sort_keys=False))
    return False


@contextlib.contextmanager
def ctrl_c_deferred() -> Iterator[None]:
    """Hold a Ctrl-C (SIGINT) back until the block ends, then raise KeyboardInterrupt.

    ``ray.init`` forks and spawns processes; a KeyboardInterrupt that lands in one of Python's
    at-fork handlers is printed as "Exception ignored" and lost, and the study would go on
    running. Tune's own handler takes over inside ``Tuner.fit``. Outside the main thread
    (signals cannot be handled there) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def start_ray(options: RunOptions) -> None:
    """Connect to the cluster at ``options.address``, or start a local Ray (no dashboard)."""
    if ray.is_initialized():
        return
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if options.address:
        ray.init(address=options.address, **quiet)
    else:
        ray.init(address="local", num_cpus=options.num_cpus or os.cpu_count(), include_dashboard=False, **quiet)


def restore_storage_url(link: OptunaLink, storage_url: str | None) -> None:
    """Give the restored bridge (shared by searcher, scheduler, callback) the URL tuner.pkl holds redacted."""
    if link.storage_url and not storage_url:
        raise PoseDiffError(
            "--storage",
            "the study's Optuna storage URL again (its password is kept off disk)",
            f"no --storage for a study stored at {link.storage_url}",
        )
    link.storage_url = storage_url


def check_storage(spec: StudySpec, options: RunOptions) -> None:
    """Open an RDB storage before anything is written or started: a wrong --storage is one line, password hidden."""
    if not options.storage_url:
        return
    try:
        OptunaLink(spec, run_dir_of(spec, options), options.storage_url).open()
    except PoseDiffError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreachable server, missing database, bad URL, missing driver
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        raise PoseDiffError(
            "--storage",
            "a reachable Optuna storage URL",
            f"{type(exc).__name__} at {redact_url(options.storage_url)}: "
            f"{first.strip().replace(options.storage_url, '***')}",
        ) from None


def has_experiment_state(path: str) -> bool:
    """Tune can resume the experiment at ``path``: its tuner.pkl and at least one saved experiment state.

    A driver stopped while Tune was starting may leave ``tuner.pkl`` without any
    ``experiment_state-*.json``; restoring that fails inside Tune ("Failed to restore the run
    state") and the restored run then ends early, so such a folder starts a fresh experiment (the
    bridge re-attaches or closes any Optuna trial the stopped driver asked for).
    """
    if not tune.Tuner.can_restore(path):
        return False
    fs, fs_path = pyarrow.fs.FileSystem.from_uri(path) if "://" in path else (pyarrow.fs.LocalFileSystem(), path)
    infos = fs.get_file_info(pyarrow.fs.FileSelector(fs_path, allow_not_found=True))
    return any(i.base_name.startswith("experiment_state-") and i.base_name.endswith(".json") for i in infos)


def build_tuner(
    spec: StudySpec, options: RunOptions, view: View | None, resuming: bool, sampling: SamplingStage | None = None
) -> tune.Tuner:
    """A fresh Tuner wired to the bridge, the results callback and stage 2, or the restored one."""
    run_dir = run_dir_of(spec, options)
    storage, name = experiment_path(spec, options)
    trainable = make_trainable(spec)
    if resuming and has_experiment_state(os.path.join(storage, name)):
        tuner = tune.Tuner.restore(
            os.path.join(storage, name), trainable, resume_unfinished=True, resume_errored=False, restart_errored=False
        )
        # Ray unpickles our callback from tuner.pkl without its view (not picklable); with Ray Client
        # the tuner lives remotely and the study runs without a live view.
        local = getattr(tuner, "_local_tuner", None)
        for callback in (local.get_run_config().callbacks or []) if local else []:
            if isinstance(callback, ResultsCallback):
                callback.view, callback.sampling = view, sampling
                if sampling is not None:
                    sampling.on_event = callback.show_event
                restore_storage_url(callback.link, options.storage_url)
        return tuner
    link = OptunaLink(spec, run_dir, options.storage_url)
    callback = ResultsCallback(link, run_dir, view, sampling)
    if sampling is not None:
        sampling.on_event = callback.show_event
    return tune.Tuner(
        trainable,
        param_space={},
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearcher(link),
            scheduler=OptunaPruningScheduler(link),
            num_samples=spec.num_total_trials,
            max_concurrent_trials=spec.max_concurrent_trials,
            reuse_actors=True,
            metric=spec.metric,
            mode=spec.mode,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            callbacks=[callback],
            verbose=0,
        ),
    )


def finished_earlier(spec: StudySpec, options: RunOptions) -> bool:
    """The study's folder holds a finished run of this very spec (same hash): nothing left to run."""
    spec_file = run_dir_of(spec, options) / SPEC_FILE
    if not spec_file.exists() or (yaml.safe_load(spec_file.read_text()) or {}).get("hash") != spec.hash:
        return False
    return is_finished(spec, optuna_counts(OptunaLink(spec, run_dir_of(spec, options), options.storage_url)))


def stage1_rows(run_dir: Path) -> list[TrialRow]:
    """The training rows recorded so far (none before the first flush)."""
    if not (run_dir / TRIALS_FILE).exists():
        return []
    return [trial_from_record(r) for r in read_trials(run_dir).to_pylist()]


def sampling_stage(spec: StudySpec, options: RunOptions) -> SamplingStage:
    """Stage 2 of the study, its networks' checkpoints looked up in the study's Ray storage."""
    storage, _ = experiment_path(spec, options)
    return SamplingStage(
        spec, run_dir_of(spec, options), options.storage_url, lambda trial_id: find_checkpoint(storage, trial_id)
    )


def run_study(spec: StudySpec, options: RunOptions, view: View | None = None) -> StudyOutcome:
    """Run (or resume) both stages to their end, or until Ctrl-C; Parquet and Optuna state are flushed.

    Stage 1 trains (Ray Tune + Optuna); stage 2 searches sampler settings on each network as it
    completes, then evaluates the chosen settings on test. Running a finished study again (same
    spec) only reports it; an unfinished one needs ``resume``.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    check_storage(spec, options)
    if not options.resume and finished_earlier(spec, options):
        options = dataclasses.replace(options, resume=True)
    resuming = prepare_run_dir(spec, options)
    run_dir = run_dir_of(spec, options)
    storage, name = experiment_path(spec, options)
    link = OptunaLink(spec, run_dir, options.storage_url)
    # Our live view replaces Tune's console output; forced experiment snapshots
    # (CheckpointConfig.num_to_keep) are wanted, they keep a resume exact.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    with ctrl_c_deferred():  # a Ctrl-C while Ray starts is never lost
        start_ray(options)
    sampling = sampling_stage(spec, options)
    for row in stage1_rows(run_dir):  # networks an earlier run trained: their search continues
        sampling.add(row)
    if not (resuming and is_finished(spec, optuna_counts(link))):
        build_tuner(spec, options, view, resuming, sampling).fit()
    else:  # stage 1 is done: the view shows stage 2 alone
        sampling.on_event = ResultsCallback(link, run_dir, view, sampling).show_event
    link = OptunaLink(spec, run_dir, options.storage_url)  # re-read what the run told Optuna
    counts = optuna_counts(link)
    finished = is_finished(spec, counts)
    if finished:
        sampling.end_of_stage1(stage1_rows(run_dir))
        finished = sampling.drain() and sampling.finished()
    sampling.store.flush()
    return StudyOutcome(run_dir, os.path.join(storage, name), counts, finished)
