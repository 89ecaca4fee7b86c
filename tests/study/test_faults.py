"""Trial faults on real local Ray (DESIGN 7): a trial that raises, a trial whose worker is SIGKILLed.

Each is recorded truthfully: failed in trials.parquet with its reason in ``error`` and FAIL in
Optuna with the ``fail_reason`` user attribute, or, with ``budget.max_failures: 1``, retried from
its last checkpoint and complete; the rest of the study finishes either way. The raise and the kill
share one study (each study costs ~20 s of Ray start-up on 2 cores).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from study.bridge import FAIL_REASON_ATTR, TUNE_ID_ATTR
from study.runner import RunOptions, StudyOutcome, run_study
from study.spec import StudySpec, load_spec

pytestmark = pytest.mark.slow
TRAINABLE_TITLE = b"ray::ImplicitFunc"  # a Tune function-trainable actor (".train" while inside a call)
# 4096 samples per epoch (~1 s on a quiet core) leave the killer seconds between a trial's first
# reported epoch and its end; 2 trials run side by side on the 2 CPUs.
KILL_BUDGET = {"max_epochs": 3, "max_concurrent_trials": 2}
KILL_FIXED = {"train.samples_per_epoch": 4096}


def unfixed(spec_file: Path, key: str) -> Path:
    """The tiny spec with ``key`` taken out of ``fixed`` (tiny_spec fixes it; here it is searched)."""
    raw = yaml.safe_load(spec_file.read_text())
    del raw["fixed"][key]
    spec_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    return spec_file


def trial_results(run_dir: Path) -> dict[str, list[dict]]:
    """Tune trial id -> its results in order, from Ray's result.json files (flushed once per result)."""
    found = {}
    for path in (run_dir / "ray").glob("*/run_trial_*/result.json"):
        complete = [line for line in path.read_text().splitlines(keepends=True) if line.endswith("\n")]
        if complete:
            lines = [json.loads(line) for line in complete]
            found[lines[0]["trial_id"]] = lines
    return found


class WorkerKiller(threading.Thread):
    """SIGKILLs the Ray worker of the first trial seen with a reported epoch and not done.

    The pid is Ray's own auto-filled ``pid`` of that result; it must be a process titled
    ``ray::ImplicitFunc...`` (the trial's actor) when the kill is sent, else polling goes on.
    """

    def __init__(self, run_dir: Path, timeout_s: float = 300.0) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.timeout_s = run_dir, timeout_s
        self.stop = threading.Event()
        self.killed: dict[str, Any] | None = None  # the result read just before the kill
        self.missed = f"no trial reported an epoch while the study ran (at most {timeout_s:.0f} s)"

    def run(self) -> None:
        """Poll result.json files every 50 ms until one kill is sent, the study ends or time is up."""
        deadline = time.monotonic() + self.timeout_s
        while not self.stop.wait(0.05) and time.monotonic() < deadline:
            for lines in trial_results(self.run_dir).values():
                if not lines[-1].get("done") and self.kill(lines[-1]):
                    return

    def kill(self, result: dict[str, Any]) -> bool:
        """SIGKILL ``result``'s pid if that process is still a Ray trainable actor."""
        try:
            title = Path(f"/proc/{result['pid']}/cmdline").read_bytes()
        except OSError:
            title = b""
        if not title.startswith(TRAINABLE_TITLE):
            self.missed = f"pid {result['pid']} is not a trainable actor (title {title[:40]!r}): the trial ended first?"
            return False
        os.kill(result["pid"], signal.SIGKILL)
        self.killed = result
        return True


def run_with_a_worker_killed(spec_file: Path, out: Path) -> tuple[StudySpec, StudyOutcome, dict[str, Any]]:
    """Run the study while a :class:`WorkerKiller` kills one trial's worker after an epoch."""
    spec = load_spec(spec_file)
    killer = WorkerKiller(out)
    killer.start()
    try:
        outcome = run_study(spec, RunOptions(out=out))
    finally:
        killer.stop.set()
        killer.join(timeout=5)
    assert killer.killed is not None, killer.missed
    assert 1 <= killer.killed["epoch"] < spec.max_epochs
    return spec, outcome, killer.killed


def test_raising_and_killed_trials_are_failed_with_their_reasons_and_study_goes_on(
        local_ray, tiny_spec, study_check, tmp_path: Path):
    # prior.num_components 1001 passes spec validation (>= 1, below the 3584 training poses) but the
    # EM subsample is prior.fit_samples = 1000 poses: scikit-learn's GaussianMixture raises ValueError
    # inside the trial. Random-sampler seed 0 draws K = 2, 1001, 2: trial 2 starts after trial 1 failed.
    # The worker of trial 0 or 2 is SIGKILLed after an epoch; budget.max_failures 0: no retry.
    spec_file = tiny_spec(name="faults", budget={"num_trials": 3, "max_failures": 0, **KILL_BUDGET},
                          fixed=KILL_FIXED, pruner={"name": "none"}, sampler={"name": "random", "seed": 0},
                          space={"prior.num_components": {"type": "categorical", "choices": [1001, 2]}})
    spec, outcome, killed = run_with_a_worker_killed(unfixed(spec_file, "prior.num_components"), tmp_path / "run")
    trials, rows, _ = study_check(outcome.run_dir, spec.name)
    assert outcome.finished and len(trials) == 3
    rows_by_id = {r["trial_id"]: r for r in rows}
    raised = next(t for t in trials if t.params["prior.num_components"] == 1001)
    victim = next(t for t in trials if t.user_attrs[TUNE_ID_ATTR] == killed["trial_id"])
    (survivor,) = [t for t in trials if t not in (raised, victim)]
    assert [t.state.name for t in (raised, victim, survivor)] == ["FAIL", "FAIL", "COMPLETE"]
    raised_reason, victim_reason = (t.user_attrs[FAIL_REASON_ATTR] for t in (raised, victim))
    assert raised_reason.startswith("ValueError: ") and "n_components = 1001" in raised_reason, raised_reason
    assert "worker process has died" in victim_reason, victim_reason
    for trial, reason in ((raised, raised_reason), (victim, victim_reason)):
        row = rows_by_id[trial.user_attrs[TUNE_ID_ATTR]]
        assert (row["status"], row["error"], trial.value) == ("failed", reason, None)
        assert row["epochs_run"] == max(trial.intermediate_values, default=0)
    assert raised.intermediate_values == {} and max(victim.intermediate_values) >= killed["epoch"]
    assert sorted(survivor.intermediate_values) == [1, 2, 3]
    assert rows_by_id[survivor.user_attrs[TUNE_ID_ATTR]]["error"] == ""


def test_killed_worker_is_retried_from_its_last_checkpoint(local_ray, tiny_spec, study_check, tmp_path: Path):
    spec_file = tiny_spec(name="retried", budget={"num_trials": 2, "max_failures": 1, **KILL_BUDGET},
                          fixed=KILL_FIXED, pruner={"name": "none"}, sampler={"name": "random", "seed": 0})
    spec, outcome, killed = run_with_a_worker_killed(spec_file, tmp_path / "run")
    trials, rows, epochs = study_check(outcome.run_dir, spec.name)
    assert outcome.finished and len(trials) == 2
    assert all(sorted(t.intermediate_values) == [1, 2, 3] for t in trials)
    victim = next(t for t in trials if t.user_attrs[TUNE_ID_ATTR] == killed["trial_id"])
    row = next(r for r in rows if r["trial_id"] == killed["trial_id"])
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"], victim.user_attrs.get(FAIL_REASON_ATTR)
    assert (row["status"], row["error"], row["epochs_run"]) == ("complete", "", 3)
    assert sorted(e["epoch"] for e in epochs if e["trial_id"] == killed["trial_id"]) == [1, 2, 3]
    # Ray's own record: the retry, on another worker, went on from the checkpoint (no epoch run twice).
    reported = trial_results(outcome.run_dir)[killed["trial_id"]]
    assert [r["epoch"] for r in reported] == [1, 2, 3]
    by_killed = [r["pid"] == killed["pid"] for r in reported]  # the killed worker's results, then the retry's
    assert by_killed == sorted(by_killed, reverse=True) and sum(by_killed) >= killed["epoch"] and not by_killed[-1]
