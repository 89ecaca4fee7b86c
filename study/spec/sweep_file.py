"""A sampler-sweep file (``searchspaces/sampler_sweep.yaml``): sampler settings to re-evaluate trained networks with.

Dotted ``sampler.*`` keys only, as a ``grid`` and/or explicit ``settings``, each value coerced to
its trial-config type; which splits, how many frames, which seed. Run by :mod:`study.tune.sweep`.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.config import SamplerConfig, TrialConfig, check_ranges, coerce
from model.errors import PoseDiffError
from study.spec.yaml_file import read_yaml

TOP_KEYS = ("grid", "settings", "split", "eval_subset_size", "seed")
SPLITS = ("val", "test")
TRIAL_SUBSET = object()  # eval_subset_size absent: each source trial's own data.eval_subset_size


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec: sampler settings (dotted ``sampler.*`` keys) and how to evaluate them."""

    source: Path
    settings: tuple[dict[str, Any], ...]
    splits: tuple[str, ...] = ("val",)
    eval_subset_size: Any = TRIAL_SUBSET  # int frames, None (full split), or the trial's own
    seed: int = 0


def _sampler_setting(values: Any, where: str) -> dict[str, Any]:
    """One mapping of ``sampler.*`` keys, each value coerced to its trial-config type."""
    if not isinstance(values, dict) or not values:
        raise PoseDiffError(where, "a non-empty mapping of sampler.* keys", repr(values))
    for key in values:
        if not str(key).startswith("sampler."):
            raise PoseDiffError(f"{where}: {key}", "a sampler.* key (a sweep never retrains the network)", repr(key))
    return {key: coerce(key, value, where) for key, value in values.items()}


def _grid(grid: Any, where: str) -> list[dict[str, Any]]:
    """The Cartesian product of a ``{sampler.key: [values]}`` grid, in key order."""
    if not isinstance(grid, dict) or not grid:
        raise PoseDiffError(where, "a non-empty mapping of sampler.* keys to lists of values", repr(grid))
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise PoseDiffError(f"{where}: {key}", "a non-empty list of values", repr(values))
    keys = list(grid)
    return [_sampler_setting(dict(zip(keys, combo)), where) for combo in itertools.product(*grid.values())]


def _splits(value: Any, where: str) -> tuple[str, ...]:
    splits = [value] if isinstance(value, str) else value
    if not isinstance(splits, list) or not splits or any(s not in SPLITS for s in splits):
        raise PoseDiffError(where, "'val', 'test' or a list of them", repr(value))
    return tuple(dict.fromkeys(splits))


def resolve_sampler(base: SamplerConfig, setting: dict[str, Any]) -> SamplerConfig:
    """``base`` with a setting's ``sampler.*`` values."""
    return dataclasses.replace(base, **{key.partition(".")[2]: value for key, value in setting.items()})


def load_sweep(path: Path | str) -> SweepSpec:
    """Read and validate a sweep spec; any bad key or value is one PoseDiffError line naming it."""
    path = Path(path)
    raw = read_yaml(path, kind="sampler-sweep")
    if not isinstance(raw, dict):
        raise PoseDiffError(str(path), "a mapping with grid and/or settings", type(raw).__name__)
    for key in raw:
        if key not in TOP_KEYS:
            raise PoseDiffError(f"{path}: {key}", "one of " + ", ".join(TOP_KEYS), f"unknown key {key!r}")
    settings = _grid(raw["grid"], f"{path}: grid") if "grid" in raw else []
    explicit = raw.get("settings", [])
    if not isinstance(explicit, list):
        raise PoseDiffError(f"{path}: settings", "a list of mappings of sampler.* keys", repr(explicit))
    settings += [_sampler_setting(s, f"{path}: settings[{i}]") for i, s in enumerate(explicit)]
    if not settings:
        raise PoseDiffError(str(path), "at least one sampler setting (grid or settings)", "none")
    for i, setting in enumerate(settings):  # ranges against the defaults; again per source trial later
        check_ranges(
            dataclasses.replace(TrialConfig(), sampler=resolve_sampler(SamplerConfig(), setting)),
            f"{path}: setting {i} {setting}",
        )
    subset = raw.get("eval_subset_size", TRIAL_SUBSET)
    if (
        subset is not TRIAL_SUBSET
        and subset is not None
        and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1)
    ):
        raise PoseDiffError(f"{path}: eval_subset_size", "an integer >= 1 or null", repr(subset))
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise PoseDiffError(f"{path}: seed", "an integer", repr(seed))
    return SweepSpec(path, tuple(settings), _splits(raw.get("split", "val"), f"{path}: split"), subset, seed)
