"""The typed trial-config boundary: dotted and nested keys, types, choices, ranges."""

from __future__ import annotations

import pytest

from model.config import (
    SECTION_STAGES,
    SECTIONS,
    TrialConfig,
    allowed_values,
    coerce,
    field_types,
    key_stage,
    to_flat_dict,
    to_nested_dict,
    trial_config,
)
from model.errors import PoseDiffError


def test_defaults_round_trip_through_flat_and_nested_forms() -> None:
    cfg = TrialConfig()
    assert trial_config(to_flat_dict(cfg)) == cfg
    assert trial_config(to_nested_dict(cfg)) == cfg


def test_nested_and_dotted_keys_mix() -> None:
    cfg = trial_config({"sampler": {"name": "edm", "S_churn": 1}, "diffusion.num_steps": 100})
    assert cfg.sampler.name == "edm" and cfg.sampler.S_churn == 1.0 and isinstance(cfg.sampler.S_churn, float)
    assert cfg.diffusion.num_steps == 100


def test_subject_lists_become_tuples() -> None:
    assert trial_config({"data.val_subjects": ["S8"]}).data.val_subjects == ("S8",)


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"sampler.foo": 1}, "unknown key 'sampler.foo'"),
        ({"sampler.num_steps": "a"}, "expected an integer, found 'a'"),
        ({"sampler.num_steps": True}, "expected an integer"),
        ({"diffusion.schedule": "quadratic"}, "one of 'linear', 'cosine', 'sigmoid'"),
        ({"train.lr": float("nan")}, "expected a number"),
        ({"train.lr": -1.0}, "train.lr: expected a number > 0"),
        ({"network.width": 30, "network.num_heads": 4}, "multiple of network.num_heads=4"),
        ({"sampler.sigma_min": 5.0, "sampler.sigma_max": 1.0}, "sigma_min < sampler.sigma_max"),
        ({"diffusion.num_steps": 1}, "diffusion.num_steps: expected an integer >= 2"),
        ({"sampler.num_steps": 0}, "sampler.num_steps: expected an integer >= 1"),
        ({"sampler": 3}, "expected a mapping"),
    ],
)
def test_bad_values_name_the_source_key_expected_and_found(values: dict, fragment: str) -> None:
    with pytest.raises(PoseDiffError) as info:
        trial_config(values, where="spec.yaml")
    message = str(info.value)
    assert message.startswith("spec.yaml: ") and fragment in message and "\n" not in message


def test_field_catalogue_and_choices() -> None:
    keys = field_types()
    assert {"sampler.S_churn", "prior.num_components", "diffusion.schedule", "train.lr"} <= set(keys)
    assert allowed_values("sampler.name") == ("ddpm", "ddim", "edm")
    assert allowed_values("train.lr") is None
    assert coerce("train.epochs", 3.0) == 3


SAMPLING_KEYS = {  # every key that only changes how a trained network is sampled (stage 2)
    "sampler.name",
    "sampler.num_steps",
    "sampler.eta",
    "sampler.grid",
    "sampler.rho",
    "sampler.sigma_min",
    "sampler.sigma_max",
    "sampler.S_churn",
    "sampler.S_tmin",
    "sampler.S_tmax",
    "sampler.S_noise",
    "sampler.num_hypotheses",
    "sampler.aggregate",
}


def test_every_key_has_a_stage_and_exactly_the_sampler_keys_only_sample() -> None:
    # A new key gets its section's stage; a new sampler.* key fails here until it is listed above,
    # a new section until SECTION_STAGES names it.
    assert set(SECTION_STAGES) == set(SECTIONS)
    stages = {key: key_stage(key) for key in field_types()}
    assert {key for key, stage in stages.items() if stage == "sample"} == SAMPLING_KEYS
    assert set(stages.values()) == {"train", "sample"}
    with pytest.raises(PoseDiffError):
        key_stage("nosuch.key")
