"""study.spec.sampling_spec and the two stages of a StudySpec: which keys each stage searches, the
reference sampler stage 1 validates with, the `sampling:` section's checks (docs/study.md §10)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from model.config import to_flat_dict
from model.errors import PoseDiffError
from study.spec.study_spec import load_spec

from .test_study_spec import BASE, SPACE, write

STAGED = """name: staged
fixed: {sampler.num_hypotheses: 2}
space:
  sampler.S_churn: {type: float, low: 0.0, high: 10.0, when: {sampler.name: edm}}
  train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
  sampler.name: {type: categorical, choices: [ddim, edm]}
"""


def test_keys_split_into_a_training_and_a_sampling_stage(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, STAGED))
    assert [p.key for p in spec.training_params] == ["train.lr"]
    assert [p.key for p in spec.sampling_params] == ["sampler.name", "sampler.S_churn"]  # by condition, not file
    assert spec.searched_keys == ("train.lr",) and spec.sampling_keys == ("sampler.name", "sampler.S_churn")
    stage1 = spec.suggest(optuna.trial.FixedTrial({"train.lr": 1e-3}))
    assert stage1 == {"train.lr": 1e-3}  # stage 1 never asks for a sampler key
    network = to_flat_dict(spec.trial_config(stage1))
    setting = spec.suggest_sampling(optuna.trial.FixedTrial({"sampler.name": "edm", "sampler.S_churn": 3.0}), network)
    assert setting == {"sampler.name": "edm", "sampler.S_churn": 3.0}
    assert spec.suggest_sampling(optuna.trial.FixedTrial({"sampler.name": "ddim"}), network) == {"sampler.name": "ddim"}
    assert spec.sampling.num_trials == 16  # sampler keys searched: the default budget per network


def test_stage_1_validates_with_the_reference_sampler(tmp_path: Path) -> None:
    default = load_spec(write(tmp_path, STAGED, "a.yaml")).trial_config({"train.lr": 1e-3})
    assert (default.sampler.name, default.sampler.num_steps, default.sampler.aggregate) == ("ddim", 10, "mean")
    assert default.sampler.num_hypotheses == 2  # a fixed sampler value holds in both stages
    declared = STAGED + "sampling: {reference: {sampler.name: ddpm, sampler.num_steps: 20}}\n"
    cfg = load_spec(write(tmp_path, declared, "b.yaml")).trial_config({"train.lr": 1e-3})
    assert (cfg.sampler.name, cfg.sampler.num_steps) == ("ddpm", 20)


def test_a_space_without_sampler_keys_samples_each_network_once(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, BASE))
    assert spec.sampling_params == () and spec.sampling.num_trials == 1


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            SPACE + "  sampler.name: {type: categorical, choices: [ddim, edm], when: {sampler.rho: 7.0}}\n"
            "  sampler.rho: {type: float, low: 3, high: 9, when: {sampler.name: edm}}\n",
            "space",
        ),
        (
            SPACE + "  sampler.name: {type: categorical, choices: [ddim, edm]}\n"
            "  train.lr: {type: float, low: 0.001, high: 0.01, when: {sampler.name: edm}}\n",
            "space.train.lr.when.sampler.name",
        ),
        (
            SPACE + "  diffusion.schedule+sampler.name: {type: categorical, choices: [[linear, ddpm]]}\n",
            "space.diffusion.schedule+sampler.name",
        ),
        (BASE + "sampling: {reference: {train.lr: 0.1}}\n", "sampling.reference.train.lr"),
        (
            BASE.replace("space:", "fixed: {sampler.num_steps: 5}\nspace:")
            + "sampling: {reference: {sampler.num_steps: 6}}\n",
            "sampling.reference.sampler.num_steps",
        ),
        (BASE + "sampling: {objectives: [nfe]}\n", "sampling.objectives"),
        (BASE + "sampling: {reduction_factor: 1}\n", "sampling.reduction_factor"),
        (BASE + "sampling: {top: 0}\n", "sampling.top"),
        (BASE + "sampling: {num_trails: 3}\n", "sampling.num_trails"),
    ],
    ids=[
        "cycle",
        "train_on_sample",
        "joint_across_stages",
        "reference_train_key",
        "reference_fixed",
        "objectives",
        "reduction_factor",
        "top",
        "unknown_key",
    ],
)
def test_bad_stage_settings_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(PoseDiffError) as err:
        load_spec(write(tmp_path, text))
    assert err.value.where == f"{tmp_path / 'spec.yaml'}: {key}"
