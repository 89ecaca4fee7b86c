"""study.tune.runner: a Ctrl-C while Ray starts is held back, never lost; a run Tune never saved starts afresh."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import pytest

from study.spec.study_spec import load_spec
from study.tune.runner import (
    RunOptions,
    build_tuner,
    ctrl_c_deferred,
    experiment_path,
    has_experiment_state,
    prepare_run_dir,
    run_study,
)


def test_ctrl_c_inside_the_block_is_raised_when_it_ends() -> None:
    reached_the_end, before = False, signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_deferred():
            os.kill(os.getpid(), signal.SIGINT)  # delivered at once; the handler only records it
            reached_the_end = True
    assert reached_the_end
    assert signal.getsignal(signal.SIGINT) is before  # the previous handler is back


def test_a_block_without_ctrl_c_ends_quietly() -> None:
    before = signal.getsignal(signal.SIGINT)  # Tune may have left its own handler in this worker
    with ctrl_c_deferred():
        pass
    assert signal.getsignal(signal.SIGINT) is before


def test_experiment_state_is_needed_to_restore(tmp_path) -> None:
    assert not has_experiment_state(str(tmp_path))
    (tmp_path / "tuner.pkl").write_bytes(b"tuner")
    assert not has_experiment_state(str(tmp_path))  # tuner.pkl alone: Tune's restore would fail
    (tmp_path / "experiment_state-2026-12-02_15-00-00.json").write_text("{}")
    assert has_experiment_state(str(tmp_path))


@pytest.mark.slow
def test_a_driver_stopped_before_tune_saved_its_state_resumes_to_the_end(local_ray, tiny_spec, study_check, tmp_path):
    # The driver built its Tuner (tuner.pkl written) and was stopped before Tune saved any
    # experiment state: the resume runs the whole study instead of a broken restore.
    spec = load_spec(tiny_spec(name="early", budget={"num_trials": 2}, pruner={"name": "none"}))
    options = RunOptions(out=tmp_path / "run")
    prepare_run_dir(spec, options)
    build_tuner(spec, options, None, resuming=False)
    storage, name = experiment_path(spec, options)
    assert (Path(storage) / name / "tuner.pkl").exists() and not has_experiment_state(os.path.join(storage, name))
    outcome = run_study(spec, dataclasses.replace(options, resume=True))
    _, rows, _ = study_check(outcome.run_dir, "early")
    assert outcome.finished and sorted(r["status"] for r in rows) == ["complete", "complete"]
