"""The Optuna bridge on real Ray Tune studies of the lifter: pruning, truthful states, failures."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from optuna.trial import TrialState

from study.results.tables import EpochRow, ResultsStore, TrialRow
from study.spec.study_spec import load_spec
from study.tune.optuna_link import TUNE_ID_ATTR, OptunaLink, open_study
from study.tune.runner import RunOptions, prepare_run_dir, run_dir_of, run_study

pytestmark = pytest.mark.slow

PRUNERS = {
    "median": {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
    "successive_halving": {"name": "successive_halving", "min_resource": 1, "reduction_factor": 2},
    "hyperband": {"name": "hyperband", "min_resource": 1, "reduction_factor": 2},
}
# lr over four decades: with random-sampler seed 3 the last two of six trials draw lr ~4e-3, whose
# validation MPJPE is ~30 mm worse than the others' after one epoch: the pruners have real losers.
WIDE_LR = {"train.lr": {"type": "float", "low": 1.0e-6, "high": 1.0e-2, "log": True}}


@pytest.mark.parametrize("pruner", sorted(PRUNERS))
def test_optuna_pruners_prune_and_states_match(local_ray, tiny_spec, study_check, tmp_path: Path, pruner: str):
    spec = load_spec(
        tiny_spec(
            name=f"prune-{pruner}",
            budget={"num_trials": 6},
            pruner=PRUNERS[pruner],
            sampler={"name": "random", "seed": 3},
            space=WIDE_LR,
        )
    )
    outcome = run_study(spec, RunOptions(out=tmp_path / "run"))
    trials, rows, _ = study_check(outcome.run_dir, spec.name)
    states = sorted(t.state.name for t in trials)
    assert outcome.finished and len(trials) == spec.num_trials
    assert "PRUNED" in states and "COMPLETE" in states, states
    for row in rows:
        if row["status"] == "complete":
            assert row["epochs_run"] == spec.max_epochs
            assert row["val_full_mpjpe_mm"] > 0 and row["nfe"] == 4
            assert row["test_mpjpe_mm"] is None  # stage 1 never touches the test split
        else:
            assert row["epochs_run"] < spec.max_epochs and row["test_mpjpe_mm"] is None
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert all(t.value == t.intermediate_values[spec.max_epochs] for t in complete)


def test_regress_reference_runs_after_the_budget_and_takes_no_grid_cell(
    local_ray, tiny_spec, study_check, tmp_path: Path
):
    # A bruteforce grid of 2 schedules and a budget of 2: both networks are trained. (Enqueued first,
    # the reference took a cell of the grid, so one network was never trained and another twice.)
    spec = load_spec(
        tiny_spec(
            name="reference",
            budget={"num_trials": 2, "max_epochs": 1},
            reference=True,
            pruner={"name": "none"},
            sampler={"name": "bruteforce", "seed": 0},
            space={"diffusion.schedule": {"type": "categorical", "choices": ["linear", "cosine"]}},
        )
    )
    outcome = run_study(spec, RunOptions(out=tmp_path / "run"))
    trials, rows, _ = study_check(outcome.run_dir, spec.name)
    assert len(trials) == 3 and all(t.state.name == "COMPLETE" for t in trials)
    by_number = {r["trial_number"]: r for r in rows}
    assert [by_number[n]["param.diffusion.prediction"] for n in (0, 1, 2)] == ["x0", "x0", "regress"]
    assert {by_number[n]["param.diffusion.schedule"] for n in (0, 1)} == {"linear", "cosine"}


def test_untagged_orphans_of_a_killed_driver_are_reused_then_closed(local_ray, tiny_spec, study_check, tmp_path: Path):
    # A driver killed between Optuna's `ask` and tagging the trial with its Tune id leaves an
    # untagged RUNNING trial in the storage; two such here, and a budget of one trial.
    spec = load_spec(tiny_spec(name="orphans", budget={"num_trials": 1, "max_epochs": 1}, pruner={"name": "none"}))
    options = RunOptions(out=tmp_path / "run", resume=True)
    prepare_run_dir(spec, dataclasses.replace(options, resume=False))
    study = open_study(spec, run_dir_of(spec, options))
    orphans = [study.ask().number, study.ask().number]
    outcome = run_study(spec, options)
    trials, rows, _ = study_check(outcome.run_dir, spec.name)
    assert outcome.finished and [t.number for t in trials] == orphans  # the first reused, no new trial
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
    assert "never run" in trials[1].user_attrs["fail_reason"]
    assert {(r["trial_number"], r["status"], r["epochs_run"]) for r in rows} == {(0, "complete", 1), (1, "failed", 0)}


def test_a_reused_orphan_leaves_one_row_per_optuna_trial(local_ray, tiny_spec, study_check, tmp_path: Path):
    # A driver killed after Tune started trial "deadbeef" (tagged in Optuna, a 'running' row and an
    # epoch row flushed) but before Tune saved it: the next driver's trial takes that Optuna trial
    # over, and the dead Tune trial's rows go (found by repeating test_resume: 7 rows, 6 trials).
    spec = load_spec(tiny_spec(name="adopt", budget={"num_trials": 1, "max_epochs": 1}, pruner={"name": "none"}))
    options = RunOptions(out=tmp_path / "run", resume=True)
    prepare_run_dir(spec, dataclasses.replace(options, resume=False))
    orphan = open_study(spec, run_dir_of(spec, options)).ask()
    orphan.set_user_attr(TUNE_ID_ATTR, "deadbeef")
    store = ResultsStore(run_dir_of(spec, options), spec.name)
    store.record_trial(TrialRow(spec.name, "deadbeef", orphan.number, "running", {}, 0, None, None, None, None))
    store.record_epoch(EpochRow(spec.name, "deadbeef", orphan.number, 1, 0.5, 90.0, 70.0, 1e-3, 1.0, 100.0, 4))
    store.flush()
    outcome = run_study(spec, options)
    trials, rows, epochs = study_check(outcome.run_dir, spec.name)  # one row per Optuna trial, epochs once
    assert outcome.finished and [t.number for t in trials] == [orphan.number]
    assert "deadbeef" not in {r["trial_id"] for r in rows} | {e["trial_id"] for e in epochs}


def test_bruteforce_grid_finishing_does_not_crash_the_driver(tiny_spec, tmp_path: Path):
    # BruteForceSampler calls Study.stop when its last cell is told, which raises outside optimize();
    # searchspaces/schedules.yaml and paper.yaml are such grids.
    spec = load_spec(
        tiny_spec(
            name="grid",
            budget={"num_trials": 2},
            sampler={"name": "bruteforce", "seed": 0},
            space={"diffusion.schedule": {"type": "categorical", "choices": ["linear", "cosine"]}},
        )
    )
    link = OptunaLink(spec, tmp_path)
    cells = {link.ask(tune_id)["diffusion.schedule"] for tune_id in ("a", "b")}  # both running: two cells
    for value, tune_id in enumerate(("a", "b")):
        link.finish(tune_id, TrialState.COMPLETE, value=float(value))  # the 2nd is the grid's last cell
    assert cells == {"linear", "cosine"}
    assert [t.state for t in link.study.get_trials()] == [TrialState.COMPLETE, TrialState.COMPLETE]
