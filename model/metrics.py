"""Pose error metrics (VideoPose3D definitions) and the per-action aggregation in mm.

The callers root-centre both poses: mpjpe / n_mpjpe compare the coordinates as given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

# Human3.6M action names that differ between subjects (S1 vs the rest) -> the canonical 15 names.
H36M_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
_SUBACTION = re.compile(r" \d+$")


def _as_torch(pred: Array, target: Array) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(pred), torch.as_tensor(target)


def _like(value: torch.Tensor, ref: Array) -> Array:
    """value returned as the input's type: numpy in, numpy out (input dtype)."""
    if isinstance(ref, np.ndarray):
        return value.detach().cpu().numpy().astype(ref.dtype, copy=False)
    return value.to(ref.dtype)


def mpjpe(pred: Array, target: Array) -> Array:
    """Mean per-joint position error: pred, target [..., J, 3] -> [...] in the input's units."""
    p, t = _as_torch(pred, target)
    return _like(torch.linalg.vector_norm(p - t, dim=-1).mean(-1), pred)


def n_mpjpe(pred: Array, target: Array) -> Array:
    """N-MPJPE (Rhodin et al. 2018): MPJPE after the optimal uniform scale of pred, [..., J, 3] -> [...]."""
    p, t = (x.double() for x in _as_torch(pred, target))
    scale = (p * t).sum((-2, -1), keepdim=True) / (p * p).sum((-2, -1), keepdim=True).clamp_min(1e-12)
    return _like(torch.linalg.vector_norm(scale * p - t, dim=-1).mean(-1), pred)


def p_mpjpe(pred: Array, target: Array) -> Array:
    """P-MPJPE: MPJPE after per-pose similarity Procrustes (rotation, uniform scale, translation), [..., J, 3] -> [...].

    Umeyama 1991 / Kabsch: SVD of the cross-covariance, reflection fixed when det < 0.
    """
    p, t = (x.double() for x in _as_torch(pred, target))
    mu_p, mu_t = p.mean(-2, keepdim=True), t.mean(-2, keepdim=True)
    p0, t0 = p - mu_p, t - mu_t
    M = p0.transpose(-1, -2) @ t0  # [..., 3, 3] cross-covariance
    U, S, Vh = torch.linalg.svd(M)
    d = torch.sign(torch.linalg.det(U @ Vh))  # -1: the best orthogonal map is a reflection
    D = torch.ones_like(S)
    D[..., -1] = torch.where(d == 0, torch.ones_like(d), d)
    R = (U * D.unsqueeze(-2)) @ Vh  # rotation applied as p0 @ R
    scale = (S * D).sum(-1)[..., None, None] / (p0 * p0).sum((-2, -1), keepdim=True).clamp_min(1e-12)
    aligned = scale * p0 @ R + mu_t
    return _like(torch.linalg.vector_norm(aligned - t, dim=-1).mean(-1), pred)


@dataclass(frozen=True)
class ActionTable:
    """Per-action mean error in mm and the overall figure (protocol: 'h36m' or 'frames')."""

    per_action_mm: dict[str, float]
    num_frames: dict[str, int]
    overall_mm: float
    protocol: str


def h36m_action_name(action: str) -> str:
    """'Walking 1' -> 'Walking', 'TakingPhoto 2' -> 'Photo': sub-actions merged into the 15 actions."""
    base = _SUBACTION.sub("", action)
    return H36M_ACTION_ALIASES.get(base, base)


def action_table(
    errors_mm: Array, action_idx: Array, actions: tuple[str, ...] | list[str], is_h36m: bool
) -> ActionTable:
    """Per-action mean of per-frame errors_mm [F] grouped by action_idx [F] (indices into actions).

    Human3.6M: sub-actions merged, frame-weighted within each action, overall = mean over actions.
    Elsewhere: per action as named, overall frame-weighted.
    """
    errors = np.asarray(torch.as_tensor(errors_mm).detach().cpu(), dtype=np.float64).reshape(-1)
    idx = np.asarray(torch.as_tensor(action_idx).detach().cpu(), dtype=np.int64).reshape(-1)
    names = [h36m_action_name(a) if is_h36m else a for a in actions]
    groups = list(dict.fromkeys(names))
    group_of_action = np.array([groups.index(n) for n in names], dtype=np.int64)
    group = group_of_action[idx]
    sums = np.bincount(group, weights=errors, minlength=len(groups))
    counts = np.bincount(group, minlength=len(groups))
    present = [g for g in range(len(groups)) if counts[g] > 0]
    per_action = {groups[g]: float(sums[g] / counts[g]) for g in present}
    if not per_action:
        overall = float("nan")
    elif is_h36m:
        overall = float(np.mean(list(per_action.values())))
    else:
        overall = float(errors.mean())
    return ActionTable(
        per_action_mm=per_action,
        num_frames={groups[g]: int(counts[g]) for g in present},
        overall_mm=overall,
        protocol="h36m" if is_h36m else "frames",
    )
