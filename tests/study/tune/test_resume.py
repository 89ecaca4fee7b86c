"""Interrupt the driver at four points of one study (Ctrl-C and SIGKILL), resume, lose or redo nothing."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from model.errors import PoseDiffError
from study.results.layout import SPEC_FILE
from study.results.tables import read_epochs, read_trials
from study.tune.gate import GATE_ENV, HUNG_S, EpochGate
from study.tune.optuna_link import FAIL_REASON_ATTR, LOST_REASON, NEVER_RUN_REASON

pytestmark = pytest.mark.slow
EVENT = re.compile(r"^trial \d+ \((?P<id>\w+)\) (?P<what>started|complete|pruned|failed)")
NUM_TRIALS = 6


def events(log: str, what: set[str]) -> set[str]:
    """Tune trial ids with a quiet-mode event line of one of the kinds in ``what``."""
    return {m["id"] for m in map(EVENT.match, log.splitlines()) if m and m["what"] in what}


def num_finished(out: Path) -> int:
    """Trials with a final status in trials.parquet (0 before the file exists)."""
    try:
        return sum(s != "running" for s in read_trials(out).column("status").to_pylist())
    except PoseDiffError:
        return 0


def epoch_rows(out: Path) -> set[tuple[str, int]]:
    """(trial id, epoch) of every row in epochs.parquet (none before the file exists)."""
    try:
        table = read_epochs(out)
    except PoseDiffError:
        return set()
    return set(zip(table.column("trial_id").to_pylist(), table.column("epoch").to_pylist()))


def progress(out: Path) -> dict[str, int]:
    """What the run folder shows so far: spec written (0/1), epoch rows, finished trials."""
    return {"spec": int((out / SPEC_FILE).exists()), "epochs": len(epoch_rows(out)), "finished": num_finished(out)}


# Kill points, in the order one study meets them: (signal, what must have grown since the run started, by how much).
KILLS = [
    (signal.SIGINT, "spec", 0),  # while Ray starts, before any trial
    (signal.SIGKILL, "epochs", 1),  # mid-trial, after an epoch
    (signal.SIGKILL, "finished", 1),  # as a trial ends and the next one is asked for
    (signal.SIGINT, "finished", 2),  # trials finished and one running
]


def settled(gate: EpochGate, out: Path) -> bool:
    """No permit waits and every report that took one is recorded: the study is held at the gate."""
    return not gate.outstanding() and gate.taken() <= epoch_rows(out)


def run_until(args: list[str], out: Path, what: str, grow: int, sig: signal.Signals, log: Path, gate: EpochGate) -> int:
    """Start the driver behind ``gate``; let it report one epoch at a time until ``progress(out)[what]``
    grew by ``grow``, then send ``sig`` while every trial is held; the driver's exit code."""
    target = max(progress(out)[what] + grow, 1)
    gate.folder.mkdir()
    with open(log, "w") as stream:
        proc = subprocess.Popen(
            args, stdout=stream, stderr=subprocess.STDOUT, text=True, env={**os.environ, GATE_ENV: str(gate.folder)}
        )
        try:
            deadline = time.monotonic() + HUNG_S
            while progress(out)[what] < target:
                assert proc.poll() is None, f"the study ended before it could be interrupted: {log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, f"{what} never reached {target}"
                if settled(gate, out):
                    gate.issue()
                time.sleep(0.1)
            proc.send_signal(sig)
            return proc.wait(timeout=HUNG_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_driver_killed_at_four_points_resumes_exactly(tiny_spec, study_check, tmp_path: Path):
    spec_file = tiny_spec(
        name="resume",
        budget={"num_trials": NUM_TRIALS, "max_epochs": 3},
        pruner={"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
        sampling={"num_trials": 1},  # stage 2 at its smallest: its own kills are test_sampling.py's
    )
    out = tmp_path / "run"
    args = [sys.executable, "-m", "study", "run", "--space", str(spec_file), "--out", str(out), "--quiet"]
    finished_before: set[str] = set()
    for i, (sig, what, grow) in enumerate(KILLS):
        log = tmp_path / f"run{i}.log"
        gate = EpochGate(tmp_path / f"gate{i}")  # a folder per driver: a dying one's trials take no later permit
        code = run_until(args + ["--resume"] * (i > 0), out, what, grow, sig, log, gate)
        assert code != 0, log.read_text()[-2000:]  # interrupted: not finished
        text = log.read_text()
        assert not finished_before & events(text, {"started"}), text[-2000:]  # nothing finished is redone
        finished_before |= events(text, {"complete", "pruned", "failed"})
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=HUNG_S)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trials, rows, _ = study_check(out, "resume")  # all closed, Parquet == Optuna, each epoch row once
    # An Optuna trial a killed driver asked for but Tune never ran is reused, or closed as FAIL; one
    # that ran but that Tune's last saved state never knew is closed as FAIL (lost). Tune's budget
    # counts its own trials: exactly NUM_TRIALS others.
    kept = [t for t in trials if t.user_attrs.get(FAIL_REASON_ATTR) not in (LOST_REASON, NEVER_RUN_REASON)]
    assert len(kept) == NUM_TRIALS and len(rows) == len(trials)
    assert len(finished_before) >= 3 and not finished_before & events(resumed.stderr, {"started"})
