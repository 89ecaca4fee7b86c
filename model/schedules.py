"""Noise schedules over T discrete steps (docs/lifter.md §3): one catalogue, selected by name.

abar_t = prod_{s <= t} (1 - beta_s), t = 1..T; index convention abar[t - 1] = abar_t.
sigma_t = sqrt((1 - abar_t) / abar_t) is the noise level of w_tilde = w_t / sqrt(abar_t) (docs/lifter.md §5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from model.config import DiffusionConfig
from model.errors import PoseDiffError

LINEAR_BETA_CEILING = 0.999  # linear betas reach 0.02 * 1000 / T >= 1 for T <= 20: keep abar_T > 0


@dataclass(frozen=True)
class Schedule:
    """A discrete schedule: betas [T], abar [T] (abar[t - 1] = abar_t), float64 or float32."""

    betas: Tensor
    abar: Tensor

    @property
    def num_steps(self) -> int:
        """T."""
        return int(self.abar.shape[0])

    @property
    def abar_T(self) -> float:
        """abar at the last step; ~0 means x_T is a draw from the prior."""
        return float(self.abar[-1])

    @property
    def sigmas(self) -> Tensor:
        """sigma_t = sqrt((1 - abar_t) / abar_t): [T], increasing."""
        return ((1 - self.abar) / self.abar).sqrt()


def linear_betas(cfg: DiffusionConfig) -> Tensor:
    """Ho et al. 2020, rescaled to T: beta_1 = 1e-4 * 1000/T .. beta_T = 0.02 * 1000/T (so abar_T ~ 0)."""
    T = cfg.num_steps
    betas = torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)
    return betas.clamp(max=LINEAR_BETA_CEILING)  # guard beta < 1


def cosine_abar(u: Tensor, cfg: DiffusionConfig) -> Tensor:
    """Nichol & Dhariwal 2021, eq. 17: abar(u) = f(u)/f(0), f(u) = cos^2((u + s)/(1 + s) * pi/2), u = t/T."""
    s = cfg.cosine_s
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return f / f[0]


def sigmoid_abar(u: Tensor, cfg: DiffusionConfig) -> Tensor:
    """Jabri et al. 2023 (RIN), sigmoid schedule: abar(u) = (v_end - sig((u(end-start)+start)/tau)) / (v_end - v_start)."""
    start, end, tau = cfg.sigmoid_start, cfg.sigmoid_end, cfg.sigmoid_tau
    v_start, v_end = 1 / (1 + math.exp(-start / tau)), 1 / (1 + math.exp(-end / tau))
    v = torch.sigmoid((u * (end - start) + start) / tau)
    return (v_end - v) / (v_end - v_start)


def betas_from_abar(abar_fn: Callable[[Tensor, DiffusionConfig], Tensor], cfg: DiffusionConfig) -> Tensor:
    """beta_t = 1 - abar(t/T) / abar((t-1)/T), clipped to [beta_min, beta_max] (Nichol & Dhariwal 2021)."""
    u = torch.arange(cfg.num_steps + 1, dtype=torch.float64) / cfg.num_steps
    abar = abar_fn(u, cfg)
    betas = 1 - abar[1:] / abar[:-1]
    return betas.clamp(cfg.beta_min, cfg.beta_max)


SCHEDULES: dict[str, Callable[[DiffusionConfig], Tensor]] = {
    "linear": linear_betas,
    "cosine": lambda cfg: betas_from_abar(cosine_abar, cfg),
    "sigmoid": lambda cfg: betas_from_abar(sigmoid_abar, cfg),
}


def make_schedule(cfg: DiffusionConfig) -> Schedule:
    """Build the named schedule (float64) and check abar strictly decreasing in (0, 1)."""
    if cfg.schedule not in SCHEDULES:
        raise PoseDiffError("diffusion.schedule", "one of " + ", ".join(SCHEDULES), repr(cfg.schedule))
    if cfg.num_steps < 2:
        raise PoseDiffError("diffusion.num_steps", "an integer >= 2", repr(cfg.num_steps))
    betas = SCHEDULES[cfg.schedule](cfg)
    abar = torch.cumprod(1 - betas, dim=0)
    decreasing = bool((abar[1:] < abar[:-1]).all())
    if not (decreasing and 0 < float(abar.min()) and float(abar.max()) < 1):
        raise PoseDiffError(
            f"diffusion.schedule={cfg.schedule} (num_steps={cfg.num_steps}, beta_min={cfg.beta_min})",
            "abar strictly decreasing in (0, 1)",
            f"abar_1={float(abar[0]):.3g}, abar_T={float(abar[-1]):.3g}, strictly decreasing={decreasing}",
        )
    return Schedule(betas=betas, abar=abar)


def t_of_sigma(sigma: Tensor, schedule: Schedule) -> Tensor:
    """Fractional t in [1, T] for noise level sigma: linear interpolation in log sigma over the grid (Karras et al. 2022, App. C.3.1)."""
    log_sigmas = schedule.sigmas.double().log().to(sigma.device)  # [T], increasing
    log_sigma = sigma.double().clamp_min(1e-300).log().clamp(log_sigmas[0], log_sigmas[-1])
    hi = torch.searchsorted(log_sigmas, log_sigma).clamp(1, schedule.num_steps - 1)
    lo_v, hi_v = log_sigmas[hi - 1], log_sigmas[hi]
    frac = (log_sigma - lo_v) / (hi_v - lo_v)
    return (hi.double() + frac).to(sigma.dtype)  # index hi - 1 is t = hi


def sigma_of_t(t: Tensor, schedule: Schedule) -> Tensor:
    """Inverse of t_of_sigma: t [B] float in [0, T] -> sigma [B]; log-linear on [1, T], linear to sigma_0 = 0 below 1."""
    log_sigmas = schedule.sigmas.double().log().to(t.device)
    t64 = t.double().clamp(0, schedule.num_steps)
    lo = t64.floor().long().clamp(1, schedule.num_steps - 1)
    frac = (t64 - lo).clamp(max=1)
    sigma = torch.exp(log_sigmas[lo - 1] + frac * (log_sigmas[lo] - log_sigmas[lo - 1]))
    sigma = torch.where(t64 < 1, t64 * log_sigmas[0].exp(), sigma)  # below t = 1: towards sigma_0 = 0
    return sigma.to(t.dtype)


def abar_of_t(t: Tensor, schedule: Schedule) -> Tensor:
    """abar at a fractional timestep t [B] in [0, T] (abar_0 = 1): 1 / (1 + sigma(t)^2), exact at integer t."""
    return (1 / (1 + sigma_of_t(t.double(), schedule) ** 2)).to(t.dtype)
