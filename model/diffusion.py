"""The forward process with a Gaussian-mixture end distribution (docs/lifter.md §2) and w-space conversions.

x_t = mu_m + sqrt(abar_t)(x_0 - mu_m) + sqrt(1 - abar_t) L_m eps; in whitened coordinates
w = L_m^{-1}(x - mu_m) this is the DDPM marginal w_t = sqrt(abar_t) w_0 + sqrt(1 - abar_t) eps
(Ho et al. 2020, eq. 4). The conversions below take abar_t as [B] (or a float) and broadcast it.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from model.errors import PoseDiffError
from model.prior import GaussianMixturePrior
from model.schedules import Schedule


def _col(abar_t: Tensor | float, like: Tensor) -> Tensor:
    """abar_t [B] or scalar -> broadcastable against like [B, d] (dtype and device of like)."""
    a = torch.as_tensor(abar_t, dtype=like.dtype, device=like.device)
    return a.reshape(a.shape[0], *([1] * (like.dim() - 1))) if a.dim() == 1 else a


def q_sample(x0: Tensor, t: Tensor, m: Tensor, eps: Tensor, prior: GaussianMixturePrior, schedule: Schedule) -> Tensor:
    """x_t ~ q(x_t | x_0, m) (docs/lifter.md §2). x0, eps: [B, d] (metres, unit); t: [B] long in 1..T; m: [B] -> [B, d] metres."""
    abar = _col(schedule.abar.to(x0.device)[t - 1], x0)
    mu = prior.mu[m]
    noise = torch.einsum("bij,bj->bi", prior.L[m], eps)  # L_m eps
    return mu + abar.sqrt() * (x0 - mu) + (1 - abar).sqrt() * noise


def draw_components(
    x0: Tensor,
    prior: GaussianMixturePrior,
    how: Literal["prior", "posterior"],
    generator: torch.Generator | None = None,
) -> Tensor:
    """m per training sample: from pi, or from the posterior responsibilities p(m | x0). x0: [B, d] -> [B] long."""
    if how == "prior":
        return prior.sample_components(x0.shape[0], generator)
    if how == "posterior":
        return torch.multinomial(prior.responsibilities(x0), 1, generator=generator).squeeze(1)
    raise PoseDiffError("prior.component", "'prior' or 'posterior'", repr(how))


def draw_timesteps(
    num: int, schedule: Schedule, device: torch.device | str, generator: torch.Generator | None = None
) -> Tensor:
    """t ~ U{1..T}: [num] long."""
    return torch.randint(1, schedule.num_steps + 1, (num,), device=device, generator=generator)


def eps_from_w0(w_t: Tensor, w0_hat: Tensor, abar_t: Tensor | float) -> Tensor:
    """eps = (w_t - sqrt(abar) w0) / sqrt(1 - abar). w: [B, d], abar_t: [B] -> [B, d]."""
    a = _col(abar_t, w_t)
    return (w_t - a.sqrt() * w0_hat) / (1 - a).sqrt()


def w0_from_eps(w_t: Tensor, eps_hat: Tensor, abar_t: Tensor | float) -> Tensor:
    """w0 = (w_t - sqrt(1 - abar) eps) / sqrt(abar): amplifies eps errors by sigma_t = sqrt((1-abar)/abar)."""
    a = _col(abar_t, w_t)
    return (w_t - (1 - a).sqrt() * eps_hat) / a.sqrt()


def v_target(w0: Tensor, eps: Tensor, abar_t: Tensor | float) -> Tensor:
    """v = sqrt(abar) eps - sqrt(1 - abar) w0 (Salimans & Ho 2022). [B, d]."""
    a = _col(abar_t, w0)
    return a.sqrt() * eps - (1 - a).sqrt() * w0


def w0_from_v(w_t: Tensor, v_hat: Tensor, abar_t: Tensor | float) -> Tensor:
    """w0 = sqrt(abar) w_t - sqrt(1 - abar) v. [B, d]."""
    a = _col(abar_t, w_t)
    return a.sqrt() * w_t - (1 - a).sqrt() * v_hat


def eps_from_v(w_t: Tensor, v_hat: Tensor, abar_t: Tensor | float) -> Tensor:
    """eps = sqrt(1 - abar) w_t + sqrt(abar) v. [B, d]."""
    a = _col(abar_t, w_t)
    return (1 - a).sqrt() * w_t + a.sqrt() * v_hat
