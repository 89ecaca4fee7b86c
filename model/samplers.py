"""Reverse-process samplers in w-space (docs/lifter.md §5): one signature, one registry.

    sampler(denoise, w_T [B, d], schedule, cfg: SamplerConfig, generator) -> w_0 [B, d]

`denoise(w_t [B, d], t [B] float in [0, T]) -> (w0_hat, eps_hat)`, both [B, d] in the whitened
coordinates of each chain's component; t is the 1-based step (abar_t = schedule.abar[t - 1]) and
may be fractional (EDM). The samplers only ever read w0_hat and eps_hat, so they do not care
whether the network predicts x0, eps or v. Coefficients are python floats computed once per
sampler call (no device syncs inside the loop); noise is drawn on w_T's device from `generator`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import Tensor

from model.config import SamplerConfig
from model.errors import PoseDiffError
from model.schedules import Schedule, t_of_sigma

Denoise = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
Sampler = Callable[[Denoise, Tensor, Schedule, SamplerConfig, "torch.Generator | None"], Tensor]


def _abar_by_t(schedule: Schedule) -> list[float]:
    """[abar_0 = 1, abar_1, ..., abar_T] as python floats (index t)."""
    return [1.0] + schedule.abar.double().cpu().tolist()


def _t_vec(w: Tensor, t: float) -> Tensor:
    """The timestep t for every chain: [B] float (at least float32, so fractional t survives half-precision w)."""
    return torch.full((w.shape[0],), float(t), device=w.device, dtype=torch.promote_types(w.dtype, torch.float32))


def _noise(w: Tensor, generator: torch.Generator | None) -> Tensor:
    return torch.randn(w.shape, device=w.device, dtype=w.dtype, generator=generator)


@torch.no_grad()
def ddpm(
    denoise: Denoise, w_T: Tensor, schedule: Schedule, cfg: SamplerConfig, generator: torch.Generator | None = None
) -> Tensor:
    """Ho et al. 2020, Algorithm 2, via the posterior q(w_{t-1} | w_t, w0_hat) with variance beta_tilde; all T steps."""
    abar, w = _abar_by_t(schedule), w_T
    for t in range(schedule.num_steps, 0, -1):
        w0_hat, _ = denoise(w, _t_vec(w, t))
        a_t, a_prev = abar[t], abar[t - 1]
        beta = 1 - a_t / a_prev
        # posterior mean mu_tilde(w_t, w0_hat) (Ho et al. 2020, eq. 7)
        w = (math.sqrt(a_prev) * beta / (1 - a_t)) * w0_hat + (math.sqrt(1 - beta) * (1 - a_prev) / (1 - a_t)) * w
        if t > 1:  # ancestral noise, variance beta_tilde
            w = w + math.sqrt((1 - a_prev) / (1 - a_t) * beta) * _noise(w, generator)
    return w


def ddim_timesteps(num_steps_T: int, num_steps_S: int, grid: str = "uniform") -> list[int]:
    """Decreasing sub-grid t_1 = T > ... > t_S = 1 of min(S, T) steps, evenly spaced or quadratic (Song et al. 2021, App. D.2)."""
    T, S = num_steps_T, min(num_steps_S, num_steps_T)
    if S == 1:
        return [T]
    u = [1 - i / (S - 1) for i in range(S)]  # 1 -> 0
    if grid not in ("uniform", "quadratic"):
        raise PoseDiffError("sampler.grid", "'uniform' or 'quadratic'", repr(grid))
    q = [round(1 + (T - 1) * (x if grid == "uniform" else x * x)) for x in u]
    ts = [1]
    for target in reversed(q[:-1]):  # strictly increasing from the bottom; stays <= T
        ts.append(max(target, ts[-1] + 1))
    return ts[::-1]


def ddim_step(
    w_t: Tensor,
    w0_hat: Tensor,
    eps_hat: Tensor,
    abar_t: float,
    abar_next: float,
    eta: float,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Song et al. 2021, eq. 12: w_t' = sqrt(abar_t') w0_hat + sqrt(1 - abar_t' - s^2) eps_hat + s z. [B, d]."""
    s = eta * math.sqrt((1 - abar_next) / (1 - abar_t) * (1 - abar_t / abar_next))
    w = math.sqrt(abar_next) * w0_hat + math.sqrt(max(1 - abar_next - s * s, 0.0)) * eps_hat
    return w + s * _noise(w_t, generator) if s > 0 else w


@torch.no_grad()
def ddim(
    denoise: Denoise, w_T: Tensor, schedule: Schedule, cfg: SamplerConfig, generator: torch.Generator | None = None
) -> Tensor:
    """Song et al. 2021 (DDIM), S steps on a sub-grid of 1..T, stochasticity eta (0: deterministic)."""
    abar, w = _abar_by_t(schedule), w_T
    ts = ddim_timesteps(schedule.num_steps, cfg.num_steps, cfg.grid)
    for t, t_next in zip(ts, ts[1:] + [0]):
        w0_hat, eps_hat = denoise(w, _t_vec(w, t))
        w = ddim_step(w, w0_hat, eps_hat, abar[t], abar[t_next], cfg.eta, generator)
    return w


def edm_sigmas(schedule: Schedule, cfg: SamplerConfig) -> list[float]:
    """Karras et al. 2022, eq. 5: S levels from sigma_max to sigma_min (clamped to [sigma_1, sigma_T]) and sigma_S = 0."""
    lo, hi = float(schedule.sigmas[0]), float(schedule.sigmas[-1])
    s_min, s_max = min(max(cfg.sigma_min, lo), hi), min(max(cfg.sigma_max, lo), hi)
    S, inv_rho = cfg.num_steps, 1 / cfg.rho
    if S == 1:
        return [s_max, 0.0]
    ramp = [i / (S - 1) for i in range(S)]
    return [(s_max**inv_rho + r * (s_min**inv_rho - s_max**inv_rho)) ** cfg.rho for r in ramp] + [0.0]


def edm_denoiser(denoise: Denoise, schedule: Schedule) -> Callable[[Tensor, float], tuple[Tensor, Tensor]]:
    """D(w_tilde; sigma) for the discrete-time model (docs/lifter.md §5): denoise(w_tilde / sqrt(1 + sigma^2), t(sigma)).

    Returns (D, eps_hat): D = w0_hat (whitened x0 prediction); at sigma = sigma_t, eps_hat is
    exactly the network's eps_hat at step t and equals (w_tilde - D) / sigma.
    """

    def D(w_tilde: Tensor, sigma: float) -> tuple[Tensor, Tensor]:
        t = float(t_of_sigma(torch.tensor([sigma], dtype=torch.float64), schedule)[0])
        return denoise(w_tilde / math.sqrt(1 + sigma * sigma), _t_vec(w_tilde, t))

    return D


@torch.no_grad()
def edm(
    denoise: Denoise, w_T: Tensor, schedule: Schedule, cfg: SamplerConfig, generator: torch.Generator | None = None
) -> Tensor:
    """Karras et al. 2022, Algorithm 2 (stochastic Heun) in w_tilde = w / sqrt(abar) = w0 + sigma eps."""
    D = edm_denoiser(denoise, schedule)
    sigmas = edm_sigmas(schedule, cfg)
    gamma_max = min(cfg.S_churn / cfg.num_steps, math.sqrt(2) - 1)
    w = sigmas[0] * w_T  # a prior draw scaled to sigma_max
    for sigma, sigma_next in itertools.pairwise(sigmas):
        # churn: raise noise level to sigma_hat
        gamma = gamma_max if cfg.S_tmin <= sigma <= cfg.S_tmax else 0.0
        sigma_hat = sigma * (1 + gamma)
        if gamma > 0:
            w = w + math.sqrt(sigma_hat**2 - sigma**2) * cfg.S_noise * _noise(w, generator)
        # Euler step
        d = (w - D(w, sigma_hat)[0]) / sigma_hat
        w_next = w + (sigma_next - sigma_hat) * d
        if sigma_next > 0:  # 2nd-order correction
            d_next = (w_next - D(w_next, sigma_next)[0]) / sigma_next
            w_next = w + (sigma_next - sigma_hat) * 0.5 * (d + d_next)
        w = w_next
    return w  # sigma = 0: w_tilde = w_0


SAMPLERS: dict[str, Sampler] = {"ddpm": ddpm, "ddim": ddim, "edm": edm}


def nfe(cfg: SamplerConfig, schedule: Schedule) -> int:
    """Network evaluations per pose: ddpm T, ddim min(S, T), edm 2S - 1."""
    if cfg.name == "ddpm":
        return schedule.num_steps
    if cfg.name == "ddim":
        return min(cfg.num_steps, schedule.num_steps)
    if cfg.name == "edm":
        return 2 * cfg.num_steps - 1
    raise PoseDiffError("sampler.name", "one of " + ", ".join(SAMPLERS), repr(cfg.name))
