"""Interrupt the driver mid-study (Ctrl-C, and a killed process), resume, and lose or redo nothing."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.errors import PoseDiffError
from study.results import read_trials

pytestmark = pytest.mark.slow
EVENT = re.compile(r"^trial \d+ \((?P<id>\w+)\) (?P<what>started|complete|pruned|failed)")


def events(log: str, what: set[str]) -> set[str]:
    """Tune trial ids with a quiet-mode event line of one of the kinds in ``what``."""
    return {m["id"] for m in map(EVENT.match, log.splitlines()) if m and m["what"] in what}


def wait_for_complete_trial(out: Path, proc: subprocess.Popen, timeout_s: float = 400) -> None:
    """Poll trials.parquet until it shows a complete trial (the driver must still be running)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the study ended before it could be interrupted"
        try:
            if "complete" in read_trials(out).column("status").to_pylist():
                return
        except PoseDiffError:
            pass  # not written yet
        time.sleep(0.5)
    raise AssertionError("no trial completed in time")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_interrupted_study_resumes_without_redoing_finished_trials(tiny_spec, study_check, tmp_path: Path, sig):
    spec_file = tiny_spec(name="resume", budget={"num_trials": 6, "max_epochs": 3},
                          pruner={"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0})
    out, first_log = tmp_path / "run", tmp_path / "first.log"
    args = [sys.executable, "-m", "study", "run", "--space", str(spec_file), "--out", str(out), "--quiet"]
    with open(first_log, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for_complete_trial(out, proc)
            proc.send_signal(sig)
            proc.wait(timeout=180)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode != 0  # interrupted: not finished
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "--resume" in again.stderr  # the same study needs --resume
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials, rows, _ = study_check(out, "resume")
    # After SIGKILL an Optuna trial the dead driver had asked for, but Tune never started, can be
    # closed as FAIL (orphan) and replaced: the budget of 6 trials that ran is exact either way.
    ran = [t for t in trials if t.state.name != "FAIL" or t.intermediate_values]
    assert len(ran) == 6 and len(rows) == len(trials) and len(trials) <= 7
    finished_before = events(first_log.read_text(), {"complete", "pruned", "failed"})
    assert finished_before and not finished_before & events(resumed.stderr, {"started"})
