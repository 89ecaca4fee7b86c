"""Fixtures for study tests: tiny variants of searchspaces/smoke.yaml on the small synthetic dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

SMOKE = Path(__file__).resolve().parents[2] / "searchspaces" / "smoke.yaml"
TINY_FIXED = {
    "network.width": 16,
    "network.num_blocks": 1,
    "network.num_heads": 2,
    "train.samples_per_epoch": 1024,
    "train.batch_size": 64,
    "prior.fit_samples": 1000,
    "prior.num_components": 2,
    "diffusion.num_steps": 20,
    "sampler.num_steps": 4,
    "sampler.num_hypotheses": 1,
}


@pytest.fixture(scope="session")
def tiny_fixed() -> dict[str, Any]:
    """The tiny network and budget of :func:`tiny_spec` as fixed keys (for a module-scoped study)."""
    return dict(TINY_FIXED)


@pytest.fixture(scope="module")
def local_ray(posediff_cache: Path):
    """One local Ray for a test module's studies (ray.init costs seconds on 2 cores)."""
    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def tiny_spec(tmp_path: Path, synthetic_npz: Path) -> Callable[..., Path]:
    """Write smoke.yaml shrunk to seconds per trial (4 trials x 3 epochs, width 16) with overrides.

    ``tiny_spec(budget={...}, pruner={...}, space={...})``: budget/fixed/data/sampling merge into the
    tiny defaults (stage 2: 2 settings per network, first rung 64 frames), every other section
    replaces smoke's; no regress reference unless ``reference=True``.
    """

    def write(name: str = "tiny", **sections: Any) -> Path:
        raw = yaml.safe_load(SMOKE.read_text())
        raw["name"] = name
        raw["budget"] = {
            **raw["budget"],
            "num_trials": 4,
            "max_epochs": 3,
            "checkpoint_every": 1,
            "max_failures": 0,
            **sections.pop("budget", {}),
        }
        raw["data"] = {"path": str(synthetic_npz), "val_subset_size": 128, **sections.pop("data", {})}
        raw["fixed"] = {**raw["fixed"], **TINY_FIXED, **sections.pop("fixed", {})}
        raw["reference"] = sections.pop("reference", False)  # smoke.yaml's regress reference: opt-in here
        raw["sampling"] = {**raw["sampling"], "num_trials": 2, "min_frames": 64, **sections.pop("sampling", {})}
        raw.update(sections)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        return path

    return write


def check_study(run_dir: Path, name: str) -> tuple[list, list[dict], list[dict]]:
    """Assert Optuna's journal and the Parquet files agree; returns (Optuna trials, trial rows, epoch rows).

    Every Optuna trial is closed and tagged with its Tune trial id; trials.parquet has the same
    status; a pruned trial's value is its last intermediate value; epochs.parquet holds each
    trial's epochs 1..epochs_run exactly once.
    """
    import optuna

    from study.results.storage import optuna_storage
    from study.results.tables import read_epochs, read_trials
    from study.tune.optuna_link import TUNE_ID_ATTR

    trials = optuna.load_study(study_name=name, storage=optuna_storage(run_dir)).get_trials()
    rows = {r["trial_id"]: r for r in read_trials(run_dir).to_pylist()}
    epochs = read_epochs(run_dir).to_pylist()
    state_of = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
    for trial in trials:
        assert trial.state.name in state_of, (trial.number, trial.state)
        row = rows[trial.user_attrs[TUNE_ID_ATTR]]
        assert (row["trial_number"], row["status"]) == (trial.number, state_of[trial.state.name])
        seen = sorted(e["epoch"] for e in epochs if e["trial_id"] == row["trial_id"])
        assert seen == list(range(1, row["epochs_run"] + 1))
        if trial.state.name == "PRUNED":
            assert trial.value == trial.intermediate_values[trial.last_step]
            assert row["epochs_run"] == trial.last_step
    assert len(rows) == len(trials)
    assert len(epochs) == sum(r["epochs_run"] for r in rows.values())
    return trials, list(rows.values()), epochs


@pytest.fixture
def study_check() -> Callable[[Path, str], tuple[list, list[dict], list[dict]]]:
    """:func:`check_study` for tests (conftest functions are not importable under importlib mode)."""
    return check_study
