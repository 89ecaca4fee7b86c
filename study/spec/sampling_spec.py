"""The ``sampling`` section of a study spec: stage 2, the sampler search on trained networks (docs/study.md §3).

Stage 1 trains networks and prunes them on validation MPJPE measured with one fixed, cheap
*reference sampler* (``reference``: ``sampler.*`` values on top of the spec's fixed ones; by default
the fixed values, else DDIM S=10 N=5 mean). Stage 2 opens one Optuna study per trained network
over the space's ``sampler.*`` keys and scores each setting from the network's checkpoint, cheap
first: on ``min_frames`` validation frames, then ``reduction_factor`` times more for the settings
successive halving keeps, up to the trial's evaluation frames. Nothing in stage 2 trains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from model.config import key_stage
from model.errors import PoseDiffError
from study.spec.checks import check_known_keys, check_trial_key, coerce_at, expect_mapping, expect_positive, found
from study.spec.optuna_factories import parse_sampler

OBJECTIVES = (("val_mpjpe_mm",), ("val_mpjpe_mm", "nfe"))  # single objective, or the MPJPE-vs-NFE Pareto front
KEYS = ("reference", "top", "num_trials", "objectives", "sampler", "min_frames", "reduction_factor", "max_concurrent")
DEFAULT_NUM_TRIALS = 16  # per network, when the space searches sampler.* keys (else 1: the reference setting)


@dataclass(frozen=True)
class SamplingSpec:
    """Stage 2 of a study: which networks, how many settings each, how they are scored."""

    reference: dict[str, Any] = field(default_factory=dict)  # sampler.* keys stage 1 validates with
    top: int | None = None  # search networks among the top k so far (full-split val MPJPE); None: every one
    num_trials: int = 1  # Optuna trials (sampler settings) per network
    objectives: tuple[str, ...] = OBJECTIVES[0]
    sampler: tuple[str, dict] = ("tpe", {"seed": 0})
    min_frames: int = 256  # frames of the first successive-halving rung
    reduction_factor: int = 4  # frames grow by this factor per rung; 1 / factor of the settings go on
    max_concurrent: int = 1  # stage-2 evaluations at once

    @property
    def is_multi_objective(self) -> bool:
        """MPJPE and NFE are both minimised (a Pareto front; no pruning, Optuna cannot prune such studies)."""
        return len(self.objectives) > 1

    def resolved(self) -> dict[str, Any]:
        """Plain-JSON form with every default filled (part of the resolved spec and its hash)."""
        return {
            "reference": dict(self.reference),
            "top": self.top,
            "num_trials": self.num_trials,
            "objectives": list(self.objectives),
            "sampler": {"name": self.sampler[0], **self.sampler[1]},
            "min_frames": self.min_frames,
            "reduction_factor": self.reduction_factor,
            "max_concurrent": self.max_concurrent,
        }


def parse_sampling(
    raw: Any, path: str, fixed: Mapping[str, Any], searches_sampler: bool, max_concurrent: int
) -> SamplingSpec:
    """Validate the ``sampling`` section; ``searches_sampler``: the space has ``sampler.*`` parameters."""
    where = f"{path}: sampling"
    section = expect_mapping({} if raw is None else raw, where)
    check_known_keys(section, KEYS, path, "sampling")
    counts = {
        key: expect_positive(section[key], f"{where}.{key}")
        for key in ("num_trials", "min_frames", "reduction_factor", "max_concurrent")
        if key in section
    }
    if counts.get("reduction_factor", 2) < 2:
        raise PoseDiffError(f"{where}.reduction_factor", "an integer >= 2", found(counts["reduction_factor"]))
    top = section.get("top")
    if top is not None:
        expect_positive(top, f"{where}.top")
    return SamplingSpec(
        reference=_reference(section.get("reference"), f"{where}.reference", fixed),
        top=top,
        num_trials=counts.get("num_trials", DEFAULT_NUM_TRIALS if searches_sampler else 1),
        objectives=_objectives(section.get("objectives", list(OBJECTIVES[0])), f"{where}.objectives"),
        sampler=parse_sampler(section.get("sampler"), path, "sampling.sampler"),
        min_frames=counts.get("min_frames", 256),
        reduction_factor=counts.get("reduction_factor", 4),
        max_concurrent=counts.get("max_concurrent", max_concurrent),
    )


def _reference(raw: Any, where: str, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """``sampler.*`` keys -> values of the reference sampler (a fixed key cannot be overridden)."""
    out: dict[str, Any] = {}
    for key, value in expect_mapping({} if raw is None else raw, where).items():
        at = f"{where}.{key}"
        check_trial_key(key, at)
        if key_stage(key) != "sample":
            raise PoseDiffError(at, "a sampler.* key (the reference sampler only samples)", found(key))
        if key in fixed:
            raise PoseDiffError(at, "a key not in fixed (fixed values hold in both stages)", f"{key!r} also fixed")
        out[key] = coerce_at(key, value, at)
    return out


def _objectives(raw: Any, where: str) -> tuple[str, ...]:
    values = tuple(raw) if isinstance(raw, list) else (raw,)
    if values not in OBJECTIVES:
        raise PoseDiffError(where, " or ".join(str(list(o)) for o in OBJECTIVES), found(raw))
    return values
