"""Trial faults on real local Ray (docs/study.md §5): trials that raise, diverge, or lose their worker to SIGKILL.

Each is recorded truthfully: failed in trials.parquet with its reason in ``error`` and FAIL in
Optuna with the ``fail_reason`` user attribute once Ray's retries (``budget.max_failures``) are
spent, or, for a killed worker, retried from its last checkpoint and complete; the rest of the
study finishes. All share one study (each study costs ~20 s of Ray start-up on 2 cores).
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

from study.spec.study_spec import StudySpec, load_spec
from study.tune.gate import GATE_ENV, HUNG_S, EpochGate
from study.tune.optuna_link import FAIL_REASON_ATTR, TUNE_ID_ATTR
from study.tune.runner import RunOptions, StudyOutcome, run_study

pytestmark = pytest.mark.slow
TRAINABLE_TITLE = b"ray::ImplicitFunc"  # a Tune function-trainable actor (".train" while inside a call)
KILL_BUDGET = {"max_epochs": 3, "max_concurrent_trials": 2}  # 2 trials side by side on the 2 CPUs


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
    """SIGKILLs the Ray worker of the first trial to report an epoch, while the epoch gate holds it.

    The study runs behind ``gate``: the killer offers one permit at a time until a trial has reported
    an epoch, then offers none, so that trial cannot end (it needs a permit for each later report)
    however fast the machine is. The pid is Ray's own auto-filled ``pid`` of that result; it must be
    a process titled ``ray::ImplicitFunc...`` (the trial's actor). After the kill the gate opens.
    """

    def __init__(self, run_dir: Path, gate: EpochGate, timeout_s: float = HUNG_S) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.gate, self.timeout_s = run_dir, gate, timeout_s
        self.stop = threading.Event()
        self.killed: dict[str, Any] | None = None  # the result read just before the kill
        self.missed = f"no trial reported an epoch while the study ran (at most {timeout_s:.0f} s)"

    def run(self) -> None:
        """Poll result.json files every 50 ms until one kill is sent, the study ends or time is up; then open the gate."""
        deadline = time.monotonic() + self.timeout_s
        try:
            while not self.stop.wait(0.05) and time.monotonic() < deadline:
                results = trial_results(self.run_dir)
                for lines in results.values():
                    if not lines[-1].get("done") and self.kill(lines[-1]):
                        return
                if not self.gate.outstanding() and len(self.gate.taken()) == sum(map(len, results.values())):
                    self.gate.issue()  # every permit so far is a result: offer the next report one
        finally:
            self.gate.open()

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


def run_with_a_worker_killed(
    spec_file: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[StudySpec, StudyOutcome, dict[str, Any]]:
    """Run the study behind an epoch gate while a :class:`WorkerKiller` kills one trial's worker after an epoch."""
    spec = load_spec(spec_file)
    gate = EpochGate(out.parent / "gate")
    gate.folder.mkdir()
    monkeypatch.setenv(GATE_ENV, str(gate.folder))  # read by the driver when it builds the trainable
    killer = WorkerKiller(out, gate)
    killer.start()
    try:
        outcome = run_study(spec, RunOptions(out=out))
    finally:
        killer.stop.set()
        killer.join(timeout=5)
    assert killer.killed is not None, killer.missed
    assert 1 <= killer.killed["epoch"] < spec.max_epochs
    return spec, outcome, killer.killed


def test_raising_diverging_and_killed_trials_each_end_truthfully(
    local_ray, tiny_spec, study_check, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # One grid (bruteforce: each cell once) of (K, lr), two trials at a time, budget.max_failures 1:
    # K = 1001 passes spec validation (>= 1, below the 3584 training poses) but the EM subsample is
    # prior.fit_samples = 1000 poses, so scikit-learn's GaussianMixture raises ValueError in the trial;
    # lr 1e9 makes the loss NaN in epoch 1 (TrainingDiverged). Both are retried once by Ray and fail
    # again: FAIL. The worker of one healthy trial is SIGKILLed after an epoch: Ray retries it from
    # its last checkpoint and it completes, like the other healthy trial.
    grid = [[2, 3.0e-4], [2, 1.0e-3], [1001, 3.0e-4], [2, 1.0e9]]
    spec_file = tiny_spec(
        name="faults",
        budget={"num_trials": len(grid), "max_failures": 1, **KILL_BUDGET},
        pruner={"name": "none"},
        sampler={"name": "bruteforce", "seed": 0},
        space={"prior.num_components+train.lr": {"type": "categorical", "choices": grid}},
    )
    spec, outcome, killed = run_with_a_worker_killed(
        unfixed(spec_file, "prior.num_components"), tmp_path / "run", monkeypatch
    )
    trials, rows, epochs = study_check(outcome.run_dir, spec.name)
    assert outcome.finished and sorted([t.params["prior.num_components+train.lr"] for t in trials]) == sorted(
        "+".join(map(str, cell)) for cell in grid
    )
    by_id = {t.user_attrs[TUNE_ID_ATTR]: t for t in trials}
    rows_by_id = {r["trial_id"]: r for r in rows}
    failed = {t.user_attrs[FAIL_REASON_ATTR].split(":")[0] for t in trials if t.state.name == "FAIL"}
    assert failed == {"ValueError", "TrainingDiverged"}, [t.user_attrs for t in trials]
    for tune_id, trial in by_id.items():
        row, reason = rows_by_id[tune_id], trial.user_attrs.get(FAIL_REASON_ATTR, "")
        assert (row["status"], row["error"]) == (("failed", reason) if reason else ("complete", ""))
        if not reason:  # the killed trial and the other healthy one: every epoch once, everywhere
            assert sorted(trial.intermediate_values) == [1, 2, 3] and row["epochs_run"] == 3
            assert sorted(e["epoch"] for e in epochs if e["trial_id"] == tune_id) == [1, 2, 3]
        else:
            assert trial.intermediate_values == {} and row["epochs_run"] == 0 and trial.value is None
    assert "n_components = 1001" in next(
        t.user_attrs[FAIL_REASON_ATTR]
        for t in trials
        if t.user_attrs.get(FAIL_REASON_ATTR, "").startswith("ValueError")
    )
    assert by_id[killed["trial_id"]].state.name == "COMPLETE"
    # Ray's own record: the retry, on another worker, went on from the checkpoint (no epoch run twice).
    reported = trial_results(outcome.run_dir)[killed["trial_id"]]
    assert [r["epoch"] for r in reported] == [1, 2, 3]
    by_killed = [r["pid"] == killed["pid"] for r in reported]  # the killed worker's results, then the retry's
    assert by_killed == sorted(by_killed, reverse=True) and sum(by_killed) >= killed["epoch"] and not by_killed[-1]
