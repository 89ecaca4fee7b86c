"""Optuna parameter importances read from a real journal storage next to the results."""

from __future__ import annotations

import optuna
import pytest

from model.errors import PoseDiffError
from study.report.importance import importance_table, study_importances
from study.results.storage import optuna_storage


def make_study(run_dir, name: str, num_trials: int, params: tuple[str, ...], storage=None) -> None:
    storage = storage or optuna_storage(run_dir)
    study = optuna.create_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial: optuna.Trial) -> float:
        k = trial.suggest_int("prior.num_components", 1, 8)  # the parameter that matters
        noise = [trial.suggest_float(p, 0.0, 1.0) for p in params]
        return 30.0 + 5.0 * k + 0.01 * sum(noise)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=num_trials)


def test_importances_rank_the_parameter_that_drives_the_objective_first(tmp_path):
    make_study(tmp_path, "demo", 16, ("sampler.S_churn", "sampler.rho"))
    importances, why_not = study_importances(tmp_path, "demo")
    assert why_not == ""
    assert set(importances) == {"prior.num_components", "sampler.S_churn", "sampler.rho"}
    assert max(importances, key=importances.get) == "prior.num_components"
    assert sum(importances.values()) == pytest.approx(1.0)
    table, notes = importance_table([(tmp_path, "demo")])
    assert notes == [] and table.rows[0][:2] == ("demo", "prior.num_components")


def test_too_few_trials_or_varying_parameters_give_a_note(tmp_path):
    make_study(tmp_path, "tiny", 1, ("sampler.S_churn",))
    make_study(tmp_path, "single", 3, ())
    assert study_importances(tmp_path, "tiny") == (
        {},
        "study tiny: 1 complete trial(s) and 0 varying parameter(s); importances need at least 2 of each.",
    )
    assert "1 varying parameter(s)" in study_importances(tmp_path, "single")[1]
    assert "not found in optuna.journal" in study_importances(tmp_path, "absent")[1]
    assert "no Optuna journal" in study_importances(tmp_path / "nowhere", "demo")[1]


def test_importances_from_an_rdb_url_and_a_bad_url_is_one_clear_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    make_study(tmp_path, "rdb", 6, ("sampler.S_churn",), storage=url)
    importances, why_not = study_importances(tmp_path / "elsewhere", "rdb", storage_url=url)
    assert why_not == "" and set(importances) == {"prior.num_components", "sampler.S_churn"}
    with pytest.raises(PoseDiffError) as err:
        study_importances(tmp_path, "rdb", storage_url="postgresql://user:secret@127.0.0.1:1/none")
    assert str(err.value).startswith("--storage: expected a reachable Optuna storage URL, found ")
    assert "secret" not in str(err.value)
