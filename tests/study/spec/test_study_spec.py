"""study.spec.study_spec: loading, validating and sampling YAML study specs (docs/study.md §1)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import optuna
import pytest

from model.config import SamplerConfig, field_types, to_flat_dict
from model.errors import PoseDiffError
from study.spec.optuna_factories import PRUNERS, SAMPLERS
from study.spec.space import suggest_params
from study.spec.study_spec import StudySpec, load_spec

SEARCHSPACES = Path(__file__).resolve().parents[3] / "searchspaces"
LR = "  train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n"
SPACE = "name: t\nspace:\n"
BASE = SPACE + LR
CONDITIONAL = """name: cond
sampler: {name: tpe, seed: 3, n_startup_trials: 5}
fixed: {network.width: 64}
space:
  sampler.name: {type: categorical, choices: [ddim, edm]}
  sampler.S_churn: {type: float, low: 0.0, high: 40.0, when: {sampler.name: edm}}
  sampler.eta: {type: float, low: 0.0, high: 1.0, when: {sampler.name: [ddim]}}
  network.num_heads: {type: categorical, choices: [2, 4], when: {network.width: 64}}
"""

optuna.logging.set_verbosity(optuna.logging.WARNING)


def both_stages(spec: StudySpec, trial: optuna.trial.BaseTrial) -> dict:
    """Every parameter of both stages sampled on one trial (as the corner configs check them)."""
    return suggest_params(spec.params, trial, spec.fixed)


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


STUDY_SPECS = sorted(
    p for p in SEARCHSPACES.glob("*.yaml") if not p.name.startswith("sampler_sweep")
)  # sweeps: test_sweep.py


@pytest.mark.parametrize("path", STUDY_SPECS, ids=lambda p: p.name)
def test_shipped_search_spaces_validate(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.source == path
    assert spec.hash == load_spec(path).hash and len(spec.hash) == 12
    json.dumps(spec.resolved(), allow_nan=False)
    assert path.read_text().startswith("#"), "each shipped spec starts with a header comment"


def test_every_expected_search_space_is_shipped() -> None:
    assert {"smoke", "edm", "schedules", "gmm", "paper"} <= {p.stem for p in SEARCHSPACES.glob("*.yaml")}


def test_minimal_spec_gets_documented_defaults(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, BASE))
    assert (spec.metric, spec.mode) == ("val_mpjpe_mm", "min")
    assert spec.sampler == ("tpe", {"seed": 0})
    assert spec.pruner == ("median", {})
    assert spec.gpus_per_trial == 0 and spec.cpus_per_trial == 1 and spec.max_failures == 1
    assert not spec.include_regress_reference and spec.fixed == {}
    resolved = spec.resolved()
    assert set(resolved) == {
        "name",
        "objective",
        "budget",
        "resources",
        "sampler",
        "pruner",
        "fixed",
        "reference",
        "space",
        "sampling",
    }
    assert resolved["space"]["train.lr"] == {
        "type": "float",
        "low": 1e-4,
        "high": 1e-2,
        "log": True,
        "step": None,
        "when": {},
    }


def test_hash_follows_content_not_location_or_formatting(tmp_path: Path) -> None:
    a = load_spec(write(tmp_path, BASE, "a.yaml"))
    b = load_spec(write(tmp_path, "# comment\nspace:\n" + LR + "name: t\nbudget: {}\n", "b.yaml"))
    c = load_spec(write(tmp_path, BASE + "budget: {num_trials: 21}\n", "c.yaml"))
    assert a.hash == b.hash != c.hash


def test_yaml_1_2_exponent_floats_are_numbers(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, "name: t\nspace:\n  train.lr: {type: float, low: 1e-5, high: 3e-3, log: true}\n"))
    assert (spec.params[0].low, spec.params[0].high) == (1e-5, 3e-3)


@pytest.mark.parametrize("sampler", ["{name: tpe, seed: 3, n_startup_trials: 5}", "{name: random, seed: 3}"])
def test_conditional_params_present_exactly_when_condition_holds(tmp_path: Path, sampler: str) -> None:
    spec = load_spec(write(tmp_path, CONDITIONAL.replace("{name: tpe, seed: 3, n_startup_trials: 5}", sampler)))
    study = optuna.create_study(sampler=spec.make_sampler())
    names = []
    for i in range(50):
        trial = study.ask()
        params = both_stages(spec, trial)
        names.append(params["sampler.name"])
        assert ("sampler.S_churn" in params) == (params["sampler.name"] == "edm")
        assert ("sampler.eta" in params) == (params["sampler.name"] == "ddim")
        assert params["network.num_heads"] in (2, 4)  # the condition on a fixed value holds
        assert set(params) == set(trial.params)
        cfg = spec.trial_config(params)
        assert cfg.sampler.name == params["sampler.name"] and cfg.network.width == 64
        study.tell(trial, float(i % 7))
        assert both_stages(spec, study.trials[-1]) == params  # a FrozenTrial replays the same params (restore)
    assert set(names) == {"ddim", "edm"}


def test_suggest_works_with_fixed_trial(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, CONDITIONAL))
    fixed = optuna.trial.FixedTrial({"sampler.name": "ddim", "sampler.eta": 0.5, "network.num_heads": 2})
    assert both_stages(spec, fixed) == {"sampler.name": "ddim", "sampler.eta": 0.5, "network.num_heads": 2}
    assert spec.suggest(fixed) == {"network.num_heads": 2}  # stage 1: training keys only


def test_joint_categorical_sets_each_key(tmp_path: Path) -> None:
    text = (
        "name: arms\nspace:\n  diffusion.schedule+diffusion.prediction:\n    type: categorical\n"
        "    choices: [[linear, eps], [cosine, x0]]\n"
        "  diffusion.clamp_x0: {type: categorical, choices: [true, false], when: {diffusion.prediction: eps}}\n"
    )
    spec = load_spec(write(tmp_path, text))
    joint = "diffusion.schedule+diffusion.prediction"
    params = spec.suggest(optuna.trial.FixedTrial({joint: "linear+eps", "diffusion.clamp_x0": True}))
    assert params == {"diffusion.schedule": "linear", "diffusion.prediction": "eps", "diffusion.clamp_x0": True}
    assert spec.expand({joint: "cosine+x0"}) == {"diffusion.schedule": "cosine", "diffusion.prediction": "x0"}
    cfg = spec.trial_config({joint: "linear+eps"})  # Optuna's own params
    assert (cfg.diffusion.schedule, cfg.diffusion.prediction) == ("linear", "eps")


def test_trial_config_merges_fixed_params_and_budget(tmp_path: Path) -> None:
    spec = load_spec(
        write(
            tmp_path,
            BASE + "budget: {max_epochs: 7}\ndata: {val_subset_size: 128}\n"
            "fixed: {network: {width: 64, num_heads: 8}}\n",
        )
    )
    cfg = spec.trial_config({"train.lr": 2e-3})
    assert (cfg.train.epochs, cfg.train.lr, cfg.network.width, cfg.network.num_heads) == (7, 2e-3, 64, 8)
    assert cfg.data.val_subset_size == 128
    with pytest.raises(PoseDiffError, match="network.width"):
        spec.trial_config({"network.num_heads": 5})


def test_row_params_are_the_whole_trial_config_plus_joint_labels(tmp_path: Path) -> None:
    spec = load_spec(
        write(
            tmp_path,
            "name: rows\nbudget: {max_epochs: 4, num_trials: 6}\nreference: true\n"
            "fixed: {network.width: 64}\nspace:\n  prior.num_components+train.lr:\n"
            "    type: categorical\n    choices: [[2, 0.001], [3, 0.01]]\n"
            "  diffusion.schedule: {type: categorical, choices: [linear, cosine]}\n",
        )
    )
    row = spec.row_params({"prior.num_components+train.lr": "3+0.01"})
    assert set(row) == set(field_types()) | {"prior.num_components+train.lr"}
    assert row == {
        **to_flat_dict(spec.trial_config({"prior.num_components+train.lr": "3+0.01"})),
        "prior.num_components+train.lr": "3+0.01",
    }
    assert (row["network.width"], row["train.epochs"], row["prior.num_components"]) == (64, 4, 3)  # fixed, budget
    assert row["sampler.rho"] == SamplerConfig().rho  # a default
    assert spec.searched_keys == (
        "prior.num_components+train.lr",
        "prior.num_components",
        "train.lr",
        "diffusion.schedule",
    )
    assert spec.num_total_trials == 7  # six trials and the regress reference


def _named(name: str) -> str:
    """A YAML flow mapping that builds sampler/pruner ``name`` (with its required arguments)."""
    required = {
        "percentile": ", percentile: 25.0",
        "patient": ", patience: 2, wrapped: {name: median}",
        "threshold": ", upper: 500.0",
    }
    return "{{name: {}{}}}".format(name, required.get(name, ""))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_builds(tmp_path: Path, name: str) -> None:
    space = "  train.lr: {type: float, low: 1.0e-4, high: 1.0e-3, step: 1.0e-4}\n" if name == "bruteforce" else LR
    path = write(tmp_path, SPACE + space + f"sampler: {_named(name)}\n")
    missing = name == "cmaes" and importlib.util.find_spec("cmaes") is None
    if missing:
        with pytest.raises(PoseDiffError, match="pip install cmaes"):
            load_spec(path)
        return
    spec = load_spec(path)
    study = optuna.create_study(sampler=spec.make_sampler())
    study.optimize(lambda trial: spec.suggest(trial)["train.lr"], n_trials=3)
    assert isinstance(spec.make_sampler(), SAMPLERS[name]) and len(study.trials) == 3


@pytest.mark.parametrize("name", sorted(PRUNERS))
def test_every_pruner_builds_and_answers(tmp_path: Path, name: str) -> None:
    spec = load_spec(write(tmp_path, BASE + "budget: {max_epochs: 9}\n" + f"pruner: {_named(name)}\n"))
    study = optuna.create_study(sampler=spec.make_sampler(), pruner=spec.make_pruner())
    trial = study.ask()
    for epoch in range(1, 4):
        trial.report(100.0 / epoch, epoch)
        assert trial.should_prune() in (True, False)
    assert isinstance(spec.make_pruner(), PRUNERS[name])


@pytest.mark.parametrize(
    ("pruner", "expected"),
    [
        ("{name: successive_halving}", {"min_resource": 1}),
        ("{name: hyperband}", {"max_resource": 12}),
        ("{name: hyperband, min_resource: 2, max_resource: auto}", {"min_resource": 2, "max_resource": 12}),
        (
            "{name: patient, patience: 1, wrapped: {name: hyperband}}",
            {"patience": 1, "wrapped": {"name": "hyperband", "max_resource": 12}},
        ),
    ],
)
def test_auto_resources_become_explicit(tmp_path: Path, pruner: str, expected: dict) -> None:
    spec = load_spec(write(tmp_path, BASE + f"budget: {{max_epochs: 12}}\npruner: {pruner}\n"))
    assert spec.pruner[1] == expected


def test_unknown_key_suggests_close_matches(tmp_path: Path) -> None:
    with pytest.raises(PoseDiffError, match=r"did you mean sampler\.S_churn"):
        load_spec(write(tmp_path, "name: t\nspace:\n  S_churn: {type: float, low: 0.0, high: 1.0}\n"))


MALFORMED = [  # (id, file content, key the message must name; None: the file alone)
    ("unknown_top_level", BASE + "budgett: {num_trials: 3}\n", "budgett"),
    ("unknown_section_key", BASE + "budget: {num_trial: 3}\n", "budget.num_trial"),
    ("unknown_param_key", SPACE + "  train.lrr: {type: float, low: 0.1, high: 0.2}\n", "space.train.lrr"),
    ("low_above_high", SPACE + "  train.lr: {type: float, low: 0.1, high: 0.01}\n", "space.train.lr.high"),
    ("log_low_zero", SPACE + "  train.lr: {type: float, low: 0.0, high: 0.1, log: true}\n", "space.train.lr.low"),
    (
        "log_with_step",
        SPACE + "  train.lr: {type: float, low: 0.1, high: 0.2, log: true, step: 0.05}\n",
        "space.train.lr.step",
    ),
    (
        "empty_categorical",
        SPACE + "  diffusion.schedule: {type: categorical, choices: []}\n",
        "space.diffusion.schedule.choices",
    ),
    (
        "condition_unknown_param",
        SPACE + "  sampler.S_churn: {type: float, low: 0, high: 1, when: {sampler.name: edm}}\n",
        "space.sampler.S_churn.when.sampler.name",
    ),
    (
        "condition_value_impossible",
        SPACE + "  sampler.name: {type: categorical, choices: [ddim, edm]}\n"
        "  sampler.eta: {type: float, low: 0.0, high: 1.0, when: {sampler.name: ddpm}}\n",
        "space.sampler.eta.when.sampler.name",
    ),
    (
        "condition_never_holds_with_fixed",
        BASE.replace("space:", "fixed: {sampler.name: ddim}\nspace:")
        + "  sampler.S_churn: {type: float, low: 0, high: 1, when: {sampler.name: edm}}\n",
        "space.sampler.S_churn.when.sampler.name",
    ),
    ("string_low", SPACE + "  train.lr: {type: float, low: small, high: 0.1}\n", "space.train.lr.low"),
    ("list_name", "name: [a, b]\nspace:\n" + LR, "name"),
    (
        "invalid_literal_choice",
        SPACE + "  diffusion.schedule: {type: categorical, choices: [linear, cosin]}\n",
        "space.diffusion.schedule.choices[1]",
    ),
    (
        "float_on_int_key",
        SPACE + "  prior.num_components: {type: float, low: 1, high: 8}\n",
        "space.prior.num_components.type",
    ),
    (
        "float_on_literal_key",
        SPACE + "  diffusion.schedule: {type: float, low: 0, high: 1}\n",
        "space.diffusion.schedule.type",
    ),
    (
        "int_bound_not_integer",
        SPACE + "  prior.num_components: {type: int, low: 1.5, high: 8}\n",
        "space.prior.num_components.low",
    ),
    ("unknown_type", SPACE + "  train.lr: {type: double, low: 0.1, high: 0.2}\n", "space.train.lr.type"),
    (
        "choices_on_float",
        SPACE + "  train.lr: {type: float, low: 0.1, high: 0.2, choices: [0.1]}\n",
        "space.train.lr.choices",
    ),
    ("fixed_and_searched", BASE.replace("space:", "fixed: {train.lr: 0.001}\nspace:"), "space.train.lr"),
    ("fixed_bad_value", BASE + "fixed: {network.width: wide}\n", "fixed.network.width"),
    ("fixed_epochs", BASE + "fixed: {train.epochs: 3}\n", "fixed.train.epochs"),
    ("width_not_multiple_of_heads", BASE + "fixed: {network.width: 30, network.num_heads: 4}\n", "network.width"),
    ("bruteforce_float_without_step", BASE + "sampler: {name: bruteforce}\n", "space.train.lr.step"),
    ("unknown_sampler", BASE + "sampler: {name: bayes}\n", "sampler.name"),
    ("sampler_kwarg_wrong_type", BASE + "sampler: {name: tpe, n_startup_trials: ten}\n", "sampler.n_startup_trials"),
    ("unknown_pruner", BASE + "pruner: {name: asha}\n", "pruner.name"),
    ("bad_pruner_kwarg", BASE + "pruner: {name: median, n_startup: 2}\n", "pruner.n_startup"),
    ("pruner_missing_required", BASE + "pruner: {name: percentile}\n", "pruner.percentile"),
    ("pruner_value_rejected", BASE + "pruner: {name: median, n_warmup_steps: -1}\n", "pruner"),
    (
        "wrapped_pruner_unknown",
        BASE + "pruner: {name: patient, patience: 2, wrapped: {name: nope}}\n",
        "pruner.wrapped.name",
    ),
    (
        "resource_beyond_budget",
        BASE + "budget: {max_epochs: 5}\npruner: {name: hyperband, max_resource: 50}\n",
        "pruner.max_resource",
    ),
    ("negative_num_trials", BASE + "budget: {num_trials: -4}\n", "budget.num_trials"),
    ("gpus_one_and_a_half", BASE + "resources: {gpus_per_trial: 1.5}\n", "resources.gpus_per_trial"),
    ("objective_mode", BASE + "objective: {mode: minimise}\n", "objective.mode"),
    ("reference_not_bool", BASE + "reference: yes please\n", "reference"),
    ("missing_space", "name: t\n", "space"),
    (
        "searched_twice",
        BASE + "  diffusion.schedule+train.lr: {type: categorical, choices: [[linear, 0.1]]}\n",
        "space.diffusion.schedule+train.lr",
    ),
    (
        "joint_choice_wrong_length",
        SPACE + "  diffusion.schedule+diffusion.prediction: {type: categorical, choices: [[linear]]}\n",
        "space.diffusion.schedule+diffusion.prediction.choices[0]",
    ),
    (
        "list_valued_key_searched",
        SPACE + "  data.val_subjects: {type: categorical, choices: [[S8]]}\n",
        "space.data.val_subjects.choices[0]",
    ),
    ("duplicate_key", BASE + LR, None),
    ("python_tag", "name: !!python/object/apply:os.system ['echo pwned']\nspace:\n" + LR, None),
    ("invalid_syntax", "name: t\nspace: {train.lr: [\n", None),
    ("top_level_list", "- name: t\n- space: {}\n", None),
    ("empty_file", "", None),
    ("only_comments", "# nothing here\n", None),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\xff\xfe", None),
    ("directory", None, None),
    ("missing_path", None, None),
]


def materialise(tmp_path: Path, case: str, content: str | bytes | None) -> Path:
    """The malformed spec as a path: a file with ``content``, a directory, or nothing at all."""
    path = tmp_path / f"{case}.yaml"
    if case == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    return path


@pytest.mark.parametrize(("case", "content", "key"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_spec_fails_with_one_line_naming_file_and_key(
    tmp_path: Path, case: str, content: str | bytes | None, key: str | None
) -> None:
    path = materialise(tmp_path, case, content)
    with pytest.raises(PoseDiffError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert " expected " in message and ", found " in message
    if key is not None:
        assert info.value.where == f"{path}: {key}" or info.value.where.startswith(f"{path}: {key}")


def test_spec_is_immutable(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, BASE))
    assert isinstance(spec, StudySpec)
    with pytest.raises(AttributeError):
        spec.num_trials = 3  # type: ignore[misc]
