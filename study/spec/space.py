"""The search space of a study spec: typed parameters, conditions, and sampling through Optuna.

A parameter is named by a dotted trial-config key (``sampler.S_churn``). A *joint* categorical
names several keys joined by ``+`` and picks one tuple of values per trial, e.g. the seed paper's
(schedule, sampler) arms ``diffusion.schedule+sampler.name: [[linear, ddpm], [cosine, edm]]``;
Optuna sees it as one categorical over the labels ``"linear+ddpm"``, ``"cosine+edm"``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import optuna

from model.config import field_types, key_stage
from model.errors import PoseDiffError
from study.spec.checks import (
    check_known_keys,
    check_trial_key,
    coerce_at,
    expect_bool,
    expect_mapping,
    expect_number,
    found,
)

JOINT = "+"
KINDS = ("float", "int", "categorical")
_NUMERIC_KEYS = ("type", "low", "high", "log", "step", "when")
_CATEGORICAL_KEYS = ("type", "choices", "when")
_MISSING = object()


@dataclass(frozen=True)
class ParamSpec:
    """One search-space parameter; ``key`` is a dotted trial-config key (or several joined by ``+``)."""

    key: str
    kind: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None  # joint parameter: one tuple of values per choice
    when: tuple[tuple[str, tuple], ...] = ()  # every (key, allowed values) must hold

    @property
    def keys(self) -> tuple[str, ...]:
        """The trial-config keys this parameter sets (one, or several for a joint categorical)."""
        return tuple(self.key.split(JOINT))

    @property
    def labels(self) -> tuple:
        """The categorical choices as Optuna sees them (joint choices become ``"a+b"`` labels)."""
        if len(self.keys) == 1:
            return tuple(self.choices or ())
        return tuple(JOINT.join(str(v) for v in choice) for choice in self.choices or ())

    def holds(self, values: Mapping[str, Any]) -> bool:
        """Whether this parameter exists given the values decided so far (fixed + sampled)."""
        return all(values.get(key, _MISSING) in allowed for key, allowed in self.when)

    def sample(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """Ask ``trial`` for this parameter; returns dotted keys -> values."""
        if self.kind == "float":
            return {self.key: trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)}
        if self.kind == "int":
            step = int(self.step) if self.step is not None else 1
            return {self.key: trial.suggest_int(self.key, int(self.low), int(self.high), step=step, log=self.log)}
        return self.expand(trial.suggest_categorical(self.key, self.labels))

    def expand(self, value: Any) -> dict[str, Any]:
        """Optuna's value for this parameter -> dotted trial-config keys -> values."""
        if len(self.keys) == 1:
            return {self.key: value}
        if value not in self.labels:
            raise PoseDiffError(self.key, "one of " + ", ".join(self.labels), found(value))
        return dict(zip(self.keys, self.choices[self.labels.index(value)]))

    def can_take(self, key: str, value: Any) -> bool:
        """Whether trial-config ``key`` (one of :attr:`keys`) can get ``value`` from this parameter."""
        if self.kind == "categorical":
            index = self.keys.index(key)
            return any(_same(value, choice if len(self.keys) == 1 else choice[index]) for choice in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            return False
        return self.kind == "float" or (float(value).is_integer() and (value - self.low) % (self.step or 1) == 0)

    def corner(self, upper: bool) -> Any:
        """Optuna's value at the low / first-choice (or high / last-choice) end of this parameter."""
        if self.kind == "categorical":
            return self.labels[-1 if upper else 0]
        bound = self.high if upper else self.low
        return int(bound) if self.kind == "int" else float(bound)

    def resolved(self) -> dict[str, Any]:
        """Plain-JSON form with every default filled (for the resolved spec and its hash)."""
        out: dict[str, Any] = {"type": self.kind}
        if self.kind == "categorical":
            out["choices"] = [list(c) if isinstance(c, tuple) else c for c in self.choices]
        else:
            out.update(low=self.low, high=self.high, log=self.log, step=self.step)
        out["when"] = {key: list(allowed) for key, allowed in self.when}
        return out


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def suggest_params(
    params: tuple[ParamSpec, ...], trial: optuna.trial.BaseTrial, fixed: Mapping[str, Any]
) -> dict[str, Any]:
    """Sample every parameter whose condition holds, in order; returns dotted keys -> values."""
    values, sampled = dict(fixed), {}
    for param in params:
        if param.holds(values):
            new = param.sample(trial)
            sampled.update(new)
            values.update(new)
    return sampled


def parse_space(raw: Any, fixed: Mapping[str, Any], path: str) -> tuple[ParamSpec, ...]:
    """Validate the ``space`` section (a mapping of key -> parameter) against the trial config.

    Parameters come back ordered by their conditions (a parameter after every parameter its ``when``
    names), not by the file: YAML mappings have no order, and tools re-serialise them sorted.
    """
    if not expect_mapping(raw, f"{path}: space"):
        raise PoseDiffError(f"{path}: space", "at least one parameter", "an empty mapping")
    params: list[ParamSpec] = []
    for name, entry in raw.items():
        where = f"{path}: space.{name}"
        keys = name.split(JOINT)
        for key in keys:
            _check_new_key(key, where, fixed, params)
        _check_one_stage(keys, where)
        entry = expect_mapping(entry, where)
        kind = entry.get("type", _MISSING)
        if kind not in KINDS:
            raise PoseDiffError(
                f"{where}.type", "one of " + ", ".join(KINDS), "nothing" if kind is _MISSING else found(kind)
            )
        allowed = _CATEGORICAL_KEYS if kind == "categorical" else _NUMERIC_KEYS
        check_known_keys(entry, allowed, path, f"space.{name}")
        if kind == "categorical":
            fields = {"choices": _parse_choices(keys, entry.get("choices", _MISSING), f"{where}.choices")}
        else:
            fields = _parse_range(keys, kind, entry, where)
        params.append(ParamSpec(key=name, kind=kind, **fields))
    conditioned = [
        dataclasses.replace(
            p, when=_parse_when(p, raw[p.key].get("when", {}), f"{path}: space.{p.key}.when", fixed, params)
        )
        for p in params
    ]
    return _by_conditions(conditioned, path)


def _check_one_stage(keys: list[str], where: str) -> None:
    """A joint parameter's keys all train the network or all only sample it (the stages search apart)."""
    stages = {key_stage(key) for key in keys}
    if len(stages) > 1:
        raise PoseDiffError(where, "keys of one stage (all training keys, or all sampler.* keys)", "both stages")


def _by_conditions(params: list[ParamSpec], path: str) -> tuple[ParamSpec, ...]:
    """``params`` ordered so that each comes after the parameters its conditions name (file order otherwise)."""
    ordered: list[ParamSpec] = []
    remaining = list(params)
    while remaining:
        placed = {key for p in ordered for key in p.keys}
        ready = next((p for p in remaining if all(_source_placed(key, params, placed) for key, _ in p.when)), None)
        if ready is None:
            names = ", ".join(p.key for p in remaining)
            raise PoseDiffError(f"{path}: space", "conditions (when) without a cycle", f"a cycle among {names}")
        ordered.append(ready)
        remaining.remove(ready)
    return tuple(ordered)


def _source_placed(key: str, params: list[ParamSpec], placed: set[str]) -> bool:
    """A condition's key is fixed (no parameter sets it) or set by an already placed parameter."""
    return key in placed or not any(key in p.keys for p in params)


def _check_new_key(key: str, where: str, fixed: Mapping[str, Any], params: list[ParamSpec]) -> None:
    check_trial_key(key, where)
    if key == "train.epochs":
        raise PoseDiffError(where, "train.epochs set through budget.max_epochs", "train.epochs searched")
    if key in fixed:
        raise PoseDiffError(where, "a key either fixed or searched, not both", f"{key!r} also in fixed")
    if any(key in p.keys for p in params):
        raise PoseDiffError(where, "each key searched once", f"{key!r} searched twice")


def _numeric_base(hint: Any) -> type | None:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1 else hint
    return base if base in (int, float) else None


def _parse_range(keys: list[str], kind: str, entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    if len(keys) > 1:
        raise PoseDiffError(f"{where}.type", "categorical for a joint (a+b) parameter", found(kind))
    base = _numeric_base(field_types()[keys[0]])
    if base is None or (kind == "float" and base is int):
        expected = "categorical (this key is not numeric)" if base is None else "int (this key takes integers)"
        raise PoseDiffError(f"{where}.type", expected, found(kind))
    bounds = {}
    for end in ("low", "high"):
        if end not in entry:
            raise PoseDiffError(f"{where}.{end}", "a number", "nothing")
        value = expect_number(entry[end], f"{where}.{end}", integer=kind == "int")
        bounds[end] = coerce_at(keys[0], value, f"{where}.{end}")
    if bounds["low"] > bounds["high"]:
        raise PoseDiffError(f"{where}.high", f">= low ({bounds['low']!r})", found(bounds["high"]))
    log = expect_bool(entry.get("log", False), f"{where}.log")
    if log and bounds["low"] <= 0:
        raise PoseDiffError(f"{where}.low", "a number > 0 (log: true)", found(bounds["low"]))
    step = entry.get("step")
    if step is not None:
        step = expect_number(step, f"{where}.step", integer=kind == "int")
        if step <= 0 or log:
            raise PoseDiffError(f"{where}.step", "no step with log: true" if log else "a step > 0", found(step))
    return {**bounds, "log": log, "step": step}


def _parse_choices(keys: list[str], raw: Any, where: str) -> tuple:
    if not isinstance(raw, list) or not raw:
        raise PoseDiffError(where, "a non-empty list of choices", "nothing" if raw is _MISSING else found(raw))
    choices = []
    for i, choice in enumerate(raw):
        if len(keys) == 1:
            choices.append(_scalar_choice(keys[0], choice, f"{where}[{i}]"))
            continue
        if not isinstance(choice, list) or len(choice) != len(keys):
            raise PoseDiffError(f"{where}[{i}]", f"a list of {len(keys)} values ({', '.join(keys)})", found(choice))
        choices.append(tuple(_scalar_choice(k, v, f"{where}[{i}]") for k, v in zip(keys, choice)))
    labels = ParamSpec(JOINT.join(keys), "categorical", choices=tuple(choices)).labels
    if len(set(map(repr, labels))) != len(labels):
        raise PoseDiffError(where, "distinct choices", found(raw))
    return tuple(choices)


def _scalar_choice(key: str, value: Any, where: str) -> Any:
    value = coerce_at(key, value, where)
    if isinstance(value, tuple):
        raise PoseDiffError(where, "a key with single values (lists cannot be searched)", found(list(value)))
    return value


def _parse_when(
    param: ParamSpec, raw: Any, where: str, fixed: Mapping[str, Any], params: list[ParamSpec]
) -> tuple[tuple[str, tuple], ...]:
    """``param``'s conditions: each names a key of space or a fixed key, and values that key can take."""
    conditions = []
    for key, allowed in expect_mapping(raw, where).items():
        at = f"{where}.{key}"
        source = next((p for p in params if key in p.keys), None)
        if source is None and key not in fixed:
            raise PoseDiffError(at, "a parameter of space, or a fixed key", f"unknown {key!r}")
        if key_stage(param.keys[0]) == "train" and key_stage(key) == "sample":
            raise PoseDiffError(at, "a training key (training keys are searched before any sampler.* key)", found(key))
        values = allowed if isinstance(allowed, list) else [allowed]
        if not values:
            raise PoseDiffError(at, "a value or a non-empty list of values", "[]")
        values = [coerce_at(key, v, at) for v in values]
        for value in values:
            if source is not None and not source.can_take(key, value):
                raise PoseDiffError(at, f"a value {key} can take ({_range_text(source)})", found(value))
        if source is None and not any(_same(fixed[key], v) for v in values):
            raise PoseDiffError(at, f"the fixed value {fixed[key]!r} (else the parameter never exists)", found(values))
        conditions.append((key, tuple(values)))
    return tuple(conditions)


def _range_text(param: ParamSpec) -> str:
    if param.kind == "categorical":
        return "one of " + ", ".join(map(str, param.labels))
    return f"{param.kind} in [{param.low}, {param.high}]"
