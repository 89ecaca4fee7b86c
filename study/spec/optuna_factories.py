"""Optuna samplers and pruners named in a study spec: validation of names and arguments, and builders.

A spec names them as ``{name: tpe, seed: 0, ...}`` / ``{name: median, n_startup_trials: 2}``; the
arguments are checked against the class constructor (``inspect.signature``) before anything runs.
Pruner resources that Optuna would set to "auto" (which waits for a completed trial, never seen
while a study prunes) are made explicit from the budget: ``min_resource=1``, ``max_resource=max_epochs``.
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from typing import Any

import optuna

from model.errors import PoseDiffError
from study.spec.checks import check_known_keys, expect_mapping, expect_positive, found

SAMPLERS: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "gp": optuna.samplers.GPSampler,
    "qmc": optuna.samplers.QMCSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
    "bruteforce": optuna.samplers.BruteForceSampler,  # every combination once: grids of categoricals
}
PRUNERS: dict[str, type[optuna.pruners.BasePruner]] = {
    "median": optuna.pruners.MedianPruner,
    "percentile": optuna.pruners.PercentilePruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "patient": optuna.pruners.PatientPruner,
    "wilcoxon": optuna.pruners.WilcoxonPruner,
    "threshold": optuna.pruners.ThresholdPruner,
    "none": optuna.pruners.NopPruner,
}
_NEEDS = {"cmaes": ("cmaes",), "gp": ("torch", "scipy"), "qmc": ("scipy",)}  # packages Optuna imports lazily
_NESTED = {"independent_sampler": "independent_sampler", "wrapped": "wrapped_pruner"}  # YAML key -> argument
_PLAIN = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "None": (type(None),)}


def parse_sampler(raw: Any, path: str, where: str = "sampler") -> tuple[str, dict[str, Any]]:
    """Validate a sampler section; returns (name, kwargs) with ``seed`` defaulting to 0."""
    name, kwargs = _parse_named(raw, SAMPLERS, path, where, default="tpe")
    missing = [pkg for pkg in _NEEDS.get(name, ()) if importlib.util.find_spec(pkg) is None]
    if missing:
        raise PoseDiffError(
            f"{path}: {where}.name",
            f"a sampler whose packages are installed (pip install {' '.join(missing)})",
            f"{name!r} without {', '.join(missing)}",
        )
    if "seed" in inspect.signature(SAMPLERS[name]).parameters:
        kwargs.setdefault("seed", 0)
    if "independent_sampler" in kwargs:
        kwargs["independent_sampler"] = _nested_dict(
            parse_sampler(kwargs["independent_sampler"], path, f"{where}.independent_sampler")
        )
    _try_build(make_sampler, name, kwargs, path, where)
    return name, kwargs


def parse_pruner(raw: Any, path: str, max_epochs: int, where: str = "pruner") -> tuple[str, dict[str, Any]]:
    """Validate a pruner section; "auto" resources become 1 and ``max_epochs``."""
    name, kwargs = _parse_named(raw, PRUNERS, path, where, default="median")
    if name == "successive_halving" and kwargs.get("min_resource", "auto") == "auto":
        kwargs["min_resource"] = 1
    if name == "hyperband" and kwargs.get("max_resource", "auto") == "auto":
        kwargs["max_resource"] = max_epochs
    for key in ("min_resource", "max_resource"):
        if key in kwargs:
            value = expect_positive(kwargs[key], f"{path}: {where}.{key}")
            if value > max_epochs:
                raise PoseDiffError(f"{path}: {where}.{key}", f"at most budget.max_epochs ({max_epochs})", found(value))
    if name == "patient":
        wrapped = kwargs.get("wrapped")
        kwargs["wrapped"] = (
            None if wrapped is None else _nested_dict(parse_pruner(wrapped, path, max_epochs, f"{where}.wrapped"))
        )
    _try_build(make_pruner, name, kwargs, path, where)
    return name, kwargs


def make_sampler(name: str, kwargs: dict[str, Any]) -> optuna.samplers.BaseSampler:
    """Build a validated sampler (nested ``independent_sampler`` given as ``{name: ..., ...}``)."""
    return _build(SAMPLERS[name], kwargs, make_sampler)


def make_pruner(name: str, kwargs: dict[str, Any]) -> optuna.pruners.BasePruner:
    """Build a validated pruner (``wrapped`` given as ``{name: ..., ...}`` or null)."""
    return _build(PRUNERS[name], kwargs, make_pruner)


def _build(cls: type, kwargs: dict[str, Any], make_nested: Any) -> Any:
    args = {}
    for key, value in kwargs.items():
        if key in _NESTED and value is not None:
            value = make_nested(value["name"], {k: v for k, v in value.items() if k != "name"})
        args[_NESTED.get(key, key)] = value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(**args)


def _nested_dict(named: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"name": named[0], **named[1]}


def _parse_named(
    raw: Any, catalogue: dict[str, type], path: str, where: str, default: str
) -> tuple[str, dict[str, Any]]:
    """``name`` or ``{name: ..., **kwargs}`` -> (name, kwargs), kwargs checked against the constructor."""
    raw = (
        {"name": raw} if isinstance(raw, str) else dict(expect_mapping({} if raw is None else raw, f"{path}: {where}"))
    )
    name = raw.pop("name", default)
    if name not in catalogue:
        raise PoseDiffError(f"{path}: {where}.name", "one of " + ", ".join(catalogue), found(name))
    params = inspect.signature(catalogue[name]).parameters
    arguments = {_yaml_key(p): p for p in params.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    check_known_keys(raw, ["name", *arguments], path, where)
    for key, param in arguments.items():
        if key not in raw and param.default is inspect.Parameter.empty and key not in _NESTED:
            raise PoseDiffError(f"{path}: {where}.{key}", f"a value (required by {name})", "nothing")
        if key in raw and key not in _NESTED:
            _check_plain(raw[key], param, f"{path}: {where}.{key}")
    return name, raw


def _yaml_key(param: inspect.Parameter) -> str:
    return next((k for k, v in _NESTED.items() if v == param.name), param.name)


def _check_plain(value: Any, param: inspect.Parameter, where: str) -> None:
    """A YAML scalar whose type matches a plain annotation (int, float | None, ...)."""
    text = param.annotation if isinstance(param.annotation, str) else inspect.formatannotation(param.annotation)
    parts = [p.strip() for p in text.split("|")]
    if any("Callable" in p or "Base" in p or "FrozenTrial" in p for p in parts):
        raise PoseDiffError(where, "an argument a YAML file can give (not a callable or object)", found(value))
    if not all(p in _PLAIN for p in parts):
        return
    types = tuple(t for p in parts for t in _PLAIN[p])
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise PoseDiffError(where, " or ".join(parts), found(value))


def _try_build(make: Any, name: str, kwargs: dict[str, Any], path: str, where: str) -> None:
    try:
        make(name, kwargs)
    except (ValueError, TypeError) as exc:
        message = " ".join(str(exc).split())
        raise PoseDiffError(f"{path}: {where}", f"arguments Optuna's {name} accepts", message) from None
