"""Percentile bootstrap intervals (Efron & Tibshirani 1993, ch. 13) for the report's comparisons.

A paired interval resamples the *same* test poses for both settings (their per-pose MPJPE in frame
order), so it measures the difference the samplers make on these poses, not the spread of poses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NUM_RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean and its percentile bootstrap interval (same unit as the data)."""

    mean: float
    low: float
    high: float

    def contains_zero(self) -> bool:
        """Whether 0 lies in [low, high] (the difference is within noise)."""
        return self.low <= 0.0 <= self.high


def bootstrap_mean(values: Sequence[float], seed: int = 0, num_resamples: int = NUM_RESAMPLES) -> Interval | None:
    """The mean of ``values`` with its 95% percentile interval; None for fewer than 2 values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return None
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(num_resamples, x.size))].mean(axis=1)
    tail = (1.0 - LEVEL) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(x.mean()), float(low), float(high))


def paired_difference(a: Sequence[float], b: Sequence[float], seed: int = 0) -> Interval | None:
    """Mean of a - b over the same items (per-pose MPJPE of two settings), with its 95% interval."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, found {len(a)} and {len(b)}")
    return bootstrap_mean(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), seed)
