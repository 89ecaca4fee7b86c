"""The study spec: one YAML file describing a whole study (docs/study.md §1), fully validated on load.

``load_spec(path)`` reads the file with a ``yaml.SafeLoader`` (no Python tags), checks every
section, key, range, condition, Optuna sampler/pruner and fixed value, and builds two trial
configs (the space at its low and at its high ends) so that nothing bad surfaces after a study
has started. Any problem raises one :class:`PoseDiffError` line ``<file>: <key>: expected ..., found ...``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna

from model.config import TrialConfig, field_types, flatten, key_stage, to_flat_dict, trial_config
from model.errors import PoseDiffError
from study.spec.checks import (
    check_known_keys,
    check_trial_key,
    coerce_at,
    expect_bool,
    expect_mapping,
    expect_positive,
    expect_str,
    found,
)
from study.spec.optuna_factories import make_pruner, make_sampler, parse_pruner, parse_sampler
from study.spec.sampling_spec import SamplingSpec, parse_sampling
from study.spec.space import JOINT, ParamSpec, parse_space, suggest_params
from study.spec.yaml_file import read_yaml

METRICS = ("val_mpjpe_mm", "val_p_mpjpe_mm", "train_loss")
TOP_LEVEL = (
    "name",
    "objective",
    "budget",
    "resources",
    "data",
    "sampler",
    "pruner",
    "fixed",
    "reference",
    "space",
    "sampling",
)
BUDGET_DEFAULTS = {
    "num_trials": 20,
    "max_epochs": 30,
    "max_concurrent_trials": 1,
    "checkpoint_every": 1,
    "max_failures": 1,
}
RESOURCE_DEFAULTS = {"cpus_per_trial": 1, "gpus_per_trial": 0}


@dataclass(frozen=True, kw_only=True)
class StudySpec:
    """A validated study: objective, budget, resources, Optuna sampler/pruner, fixed values, space."""

    name: str
    source: Path
    hash: str  # sha256 of the canonical JSON of resolved(), first 12 hex digits
    metric: str = "val_mpjpe_mm"
    mode: Literal["min", "max"] = "min"
    num_trials: int
    max_epochs: int
    max_concurrent_trials: int
    cpus_per_trial: float
    gpus_per_trial: float  # fractional GPUs allowed
    checkpoint_every: int  # epochs between Ray checkpoints
    max_failures: int  # Ray FailureConfig retries per trial
    sampler: tuple[str, dict]
    pruner: tuple[str, dict]
    fixed: dict[str, Any]  # dotted keys -> canonical values
    params: tuple[ParamSpec, ...]  # both stages, ordered by their conditions
    include_regress_reference: bool  # add one `diffusion.prediction: regress` trial
    sampling: SamplingSpec = SamplingSpec()

    @property
    def training_params(self) -> tuple[ParamSpec, ...]:
        """Stage 1's parameters: keys that change the trained network."""
        return tuple(p for p in self.params if key_stage(p.keys[0]) == "train")

    @property
    def sampling_params(self) -> tuple[ParamSpec, ...]:
        """Stage 2's parameters: ``sampler.*`` keys, searched on each trained network."""
        return tuple(p for p in self.params if key_stage(p.keys[0]) == "sample")

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Sample a stage-1 trial's parameters: dotted keys -> values; conditional ones only when they hold."""
        return suggest_params(self.training_params, trial, self.fixed)

    def suggest_sampling(self, trial: optuna.trial.BaseTrial, network: Mapping[str, Any]) -> dict[str, Any]:
        """Sample a stage-2 setting for a network whose complete config is ``network`` (dotted keys)."""
        return suggest_params(self.sampling_params, trial, network)

    def expand(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna's ``trial.params`` -> dotted trial-config keys (a joint ``a+b`` label becomes a and b)."""
        out: dict[str, Any] = {}
        for key, value in params.items():
            joint = next((p for p in self.params if JOINT in key and p.key == key), None)
            out.update(joint.expand(value) if joint else {key: value})
        return out

    def trial_config(self, params: Mapping[str, Any]) -> TrialConfig:
        """Fixed values, the reference sampler, sampled ``params`` (+ ``train.epochs = max_epochs``), validated."""
        values = {**self.fixed, **self.sampling.reference, **self.expand(params), "train.epochs": self.max_epochs}
        return trial_config(values, where=str(self.source))

    def row_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A results row's params: every dotted key of :meth:`trial_config` (fixed values and defaults
        included), and the keys of ``params`` that are no trial-config key (a joint ``a+b`` label)."""
        config_keys = field_types()
        extra = {key: value for key, value in params.items() if key not in config_keys}
        return {**extra, **to_flat_dict(self.trial_config(params))}

    @property
    def searched_keys(self) -> tuple[str, ...]:
        """Stage 1's searched keys as results columns: each parameter's key and, for a joint ``a+b``, a and b."""
        return tuple(dict.fromkeys(key for p in self.training_params for key in (p.key, *p.keys)))

    @property
    def sampling_keys(self) -> tuple[str, ...]:
        """Stage 2's searched keys (``sampler.*``), as :attr:`searched_keys`."""
        return tuple(dict.fromkeys(key for p in self.sampling_params for key in (p.key, *p.keys)))

    @property
    def num_total_trials(self) -> int:
        """Trials the study runs: the budget plus the regress reference when asked for."""
        return self.num_trials + int(self.include_regress_reference)

    def make_sampler(self) -> optuna.samplers.BaseSampler:
        """A fresh Optuna sampler as configured."""
        return make_sampler(*self.sampler)

    def make_pruner(self) -> optuna.pruners.BasePruner:
        """A fresh Optuna pruner as configured (explicit resources, never "auto")."""
        return make_pruner(*self.pruner)

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled, as plain JSON (written next to the results)."""
        return {
            "name": self.name,
            "objective": {"metric": self.metric, "mode": self.mode},
            "budget": {key: getattr(self, key) for key in BUDGET_DEFAULTS},
            "resources": {key: getattr(self, key) for key in RESOURCE_DEFAULTS},
            "sampler": {"name": self.sampler[0], **self.sampler[1]},
            "pruner": {"name": self.pruner[0], **self.pruner[1]},
            "fixed": {k: list(v) if isinstance(v, tuple) else v for k, v in self.fixed.items()},
            "reference": self.include_regress_reference,
            "space": {p.key: p.resolved() for p in self.params},
            "sampling": self.sampling.resolved(),
        }

    def corner_configs(self) -> tuple[TrialConfig, TrialConfig]:
        """Trial configs with every parameter at its low/first (and high/last) end, conditions applied."""
        return tuple(
            self.trial_config(self.suggest(optuna.trial.FixedTrial({p.key: p.corner(upper) for p in self.params})))
            for upper in (False, True)
        )


def spec_hash(resolved: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a resolved spec, first 12 hex digits."""
    canonical = json.dumps(resolved, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def load_spec(path: str | Path) -> StudySpec:
    """Read and fully validate a study spec; raises PoseDiffError(f"{path}: {key}", expected, found)."""
    source = Path(path)
    where = str(source)
    raw = expect_mapping(read_yaml(source), where)
    check_known_keys(raw, TOP_LEVEL, where)
    if "space" not in raw:
        raise PoseDiffError(f"{where}: space", "a mapping of trial-config keys to parameters", "nothing")
    name = expect_str(raw.get("name"), f"{where}: name")
    metric, mode = _objective(raw.get("objective"), where)
    budget = _section(raw.get("budget"), BUDGET_DEFAULTS, where, "budget")
    resources = _section(raw.get("resources"), RESOURCE_DEFAULTS, where, "resources")
    _check_resources(resources, where)
    fixed = _fixed(raw.get("fixed"), raw.get("data"), where)
    params = parse_space(raw["space"], fixed, where)
    searches_sampler = any(key_stage(p.keys[0]) == "sample" for p in params)
    spec = StudySpec(
        name=name,
        source=source,
        hash="",
        metric=metric,
        mode=mode,
        **budget,
        **resources,
        sampler=parse_sampler(raw.get("sampler"), where),
        pruner=parse_pruner(raw.get("pruner"), where, budget["max_epochs"]),
        fixed=fixed,
        params=params,
        include_regress_reference=expect_bool(raw.get("reference", False), f"{where}: reference"),
        sampling=parse_sampling(raw.get("sampling"), where, fixed, searches_sampler, budget["max_concurrent_trials"]),
    )
    _check_enumerable(spec, where)
    spec.corner_configs()
    return dataclasses.replace(spec, hash=spec_hash(spec.resolved()))


def _check_enumerable(spec: StudySpec, where: str) -> None:
    """A bruteforce sampler enumerates every value of its stage's parameters: float parameters need a step."""
    stages = (
        (spec.sampler[0], spec.training_params, "sampler"),
        (spec.sampling.sampler[0], spec.sampling_params, "sampling.sampler"),
    )
    for name, params, section in stages:
        for p in params:
            if name == "bruteforce" and p.kind == "float" and p.step is None:
                raise PoseDiffError(
                    f"{where}: space.{p.key}.step", f"a step ({section} bruteforce enumerates values)", "nothing"
                )


def _objective(raw: Any, where: str) -> tuple[str, str]:
    section = expect_mapping({} if raw is None else raw, f"{where}: objective")
    check_known_keys(section, ("metric", "mode"), where, "objective")
    metric, mode = section.get("metric", "val_mpjpe_mm"), section.get("mode", "min")
    if metric not in METRICS:
        raise PoseDiffError(f"{where}: objective.metric", "one of " + ", ".join(METRICS), found(metric))
    if mode not in ("min", "max"):
        raise PoseDiffError(f"{where}: objective.mode", "min or max", found(mode))
    return metric, mode


def _section(raw: Any, defaults: dict[str, Any], where: str, prefix: str) -> dict[str, Any]:
    section = expect_mapping({} if raw is None else raw, f"{where}: {prefix}")
    check_known_keys(section, defaults, where, prefix)
    values = {**defaults, **section}
    for key, value in values.items():  # budget: counts; resources: CPUs and GPUs (fractions allowed)
        expect_positive(
            value,
            f"{where}: {prefix}.{key}",
            integer=prefix == "budget",
            allow_zero=key in ("max_failures", "gpus_per_trial"),
        )
    return values


def _check_resources(resources: dict[str, Any], where: str) -> None:
    gpus = resources["gpus_per_trial"]
    if gpus > 1 and not float(gpus).is_integer():
        raise PoseDiffError(
            f"{where}: resources.gpus_per_trial", "a fraction in (0, 1] or a whole number of GPUs", found(gpus)
        )


def _fixed(raw_fixed: Any, raw_data: Any, where: str) -> dict[str, Any]:
    """``fixed`` (dotted or nested keys) plus ``data`` (``data.*`` keys), each value coerced."""
    fixed = flatten(expect_mapping({} if raw_fixed is None else raw_fixed, f"{where}: fixed"))
    data = expect_mapping({} if raw_data is None else raw_data, f"{where}: data")
    items = [(f"fixed.{k}", k, v) for k, v in fixed.items()] + [(f"data.{k}", f"data.{k}", v) for k, v in data.items()]
    out: dict[str, Any] = {}
    for label, key, value in items:
        at = f"{where}: {label}"
        check_trial_key(key, at)
        if key in out:
            raise PoseDiffError(at, "each key given once (in fixed or in data)", f"{key!r} twice")
        if key == "train.epochs":
            raise PoseDiffError(at, "train.epochs set through budget.max_epochs", found(value))
        out[key] = coerce_at(key, value, at)
    return out
