"""Samplers (docs/lifter.md §5): identities, the exact-denoiser distribution test, noisy predictors, NFE."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import Tensor

from model.config import DiffusionConfig, SamplerConfig
from model.diffusion import eps_from_w0, w0_from_eps
from model.samplers import (
    SAMPLERS,
    ddim_step,
    ddim_timesteps,
    edm_denoiser,
    edm_sigmas,
    nfe,
)
from model.schedules import Schedule, abar_of_t, make_schedule

torch.set_num_threads(1)
D64 = torch.float64


class GaussianData:
    """w0 ~ N(m0, C0) in d dims, C0 = U diag(lam) U^T, with its exact denoiser E[w0 | w_t]."""

    def __init__(self, d: int = 6, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.U = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=D64))[0]
        self.lam = torch.logspace(math.log10(0.05), math.log10(1.5), d, dtype=D64)  # variances 0.05 .. 1.5
        self.m0 = 0.5 * torch.randn(d, generator=g, dtype=D64)
        self.C0 = self.U @ torch.diag(self.lam) @ self.U.T

    def denoiser(self, schedule: Schedule):
        """denoise(w_t, t) -> (E[w0 | w_t], eps_hat): E = m0 + sqrt(a) C0 (a C0 + (1 - a) I)^-1 (w_t - sqrt(a) m0)."""

        def denoise(w_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
            a = abar_of_t(t, schedule).unsqueeze(1)
            gain = a.sqrt() * self.lam / (a * self.lam + 1 - a)  # per eigen-direction
            w0_hat = self.m0 + ((w_t - a.sqrt() * self.m0) @ self.U * gain) @ self.U.T
            return w0_hat, eps_from_w0(w_t, w0_hat, a.squeeze(1))

        return denoise

    def sample_errors(self, w0: Tensor) -> tuple[float, float, float]:
        """(mean error / sqrt(max variance), relative Frobenius covariance error, trace ratio 'spread')."""
        C = torch.cov(w0.T)
        mean_err = float((w0.mean(0) - self.m0).norm() / self.lam.max().sqrt())
        return mean_err, float((C - self.C0).norm() / self.C0.norm()), float(torch.trace(C) / torch.trace(self.C0))


def run(name: str, schedule: Schedule, denoise, n: int = 4000, d: int = 6, seed: int = 0, **kw) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    w_T = torch.randn(n, d, generator=g, dtype=D64)
    return SAMPLERS[name](denoise, w_T, schedule, SamplerConfig(name=name, **kw), g)


COSINE_50 = DiffusionConfig(schedule="cosine", num_steps=50)

# Measured on cosine T = 50, d = 6 (variances 0.05 .. 1.5), n = 4000, worst of seeds 0-2 in
# (covF, spread): ddpm 0.105, 0.905 | ddim eta 0: S=25 0.118, 0.894; S=10 0.255, 0.750 |
# ddim eta 1: S=25 0.174, 0.825; S=10 0.377, 0.622 | edm: S=25 0.055, 1.025; S=10 0.265, 1.263 |
# edm S_churn 10: S=25 0.105, 1.097; S=10 0.50, 1.51. Monte Carlo alone gives covF ~0.03.
# DDPM and DDIM under-spread (first-order steps and beta_tilde leave out Var[w0 | w_t]);
# Heun over-spreads at S = 10 (docs/lifter.md §5.6: 25-40%); T = 50 limits DDPM and DDIM even at S = T.
MOMENT_CASES = [
    # name, sampler kwargs, covF bound, spread range
    ("ddpm", {}, 0.14, (0.87, 0.94)),
    ("ddim", {"num_steps": 25, "eta": 0.0}, 0.15, (0.86, 0.93)),
    ("ddim", {"num_steps": 25, "eta": 1.0}, 0.21, (0.79, 0.86)),
    ("edm", {"num_steps": 25}, 0.08, (0.98, 1.07)),
    ("edm", {"num_steps": 25, "S_churn": 10.0}, 0.14, (1.05, 1.14)),
    ("ddim", {"num_steps": 10, "eta": 0.0}, 0.30, (0.71, 0.79)),  # under-spreads at S = 10
    ("ddim", {"num_steps": 10, "eta": 1.0}, 0.42, (0.58, 0.66)),
    ("edm", {"num_steps": 10}, 0.31, (1.21, 1.31)),  # over-spreads at S = 10
    ("edm", {"num_steps": 10, "S_churn": 10.0}, 0.56, (1.44, 1.58)),
]


@pytest.mark.parametrize("name,kw,cov_bound,spread", MOMENT_CASES)
def test_exact_denoiser_reproduces_gaussian_data(
    name: str, kw: dict, cov_bound: float, spread: tuple[float, float]
) -> None:
    data, sched = GaussianData(), make_schedule(COSINE_50)
    mean_err, cov_err, ratio = data.sample_errors(run(name, sched, data.denoiser(sched), **kw))
    assert mean_err < 0.05
    assert cov_err < cov_bound
    assert spread[0] < ratio < spread[1]


@pytest.mark.parametrize(
    "name,kw",
    [
        ("ddpm", {}),
        ("ddim", {"num_steps": 200}),
        ("edm", {"num_steps": 50}),
        ("edm", {"num_steps": 50, "S_churn": 10.0}),
    ],
)
def test_samplers_converge_on_a_fine_grid(name: str, kw: dict) -> None:
    """cosine T = 200: every sampler lands within Monte Carlo error (~4%) of the data moments."""
    data, sched = GaussianData(), make_schedule(DiffusionConfig(schedule="cosine", num_steps=200))
    mean_err, cov_err, ratio = data.sample_errors(run(name, sched, data.denoiser(sched), **kw))
    assert mean_err < 0.05 and cov_err < 0.07 and 0.94 < ratio < 1.06


def arbitrary_denoiser(schedule: Schedule, d: int):
    """A fixed nonlinear x0 predictor (not the exact one); eps_hat derived from it."""
    A = torch.randn(d, d, generator=torch.Generator().manual_seed(7), dtype=D64) / math.sqrt(d)

    def denoise(w_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        w0_hat = torch.tanh(w_t @ A) * (1 + t[:, None] / schedule.num_steps)
        return w0_hat, eps_from_w0(w_t, w0_hat, abar_of_t(t, schedule))

    return denoise


def test_ddim_eta0_is_euler_in_w_tilde() -> None:
    """DDIM (eta = 0) from t to t' = one Euler step of dw~/dsigma = (w~ - D)/sigma from sigma_t to sigma_t'."""
    sched, d = make_schedule(COSINE_50), 5
    denoise = arbitrary_denoiser(sched, d)
    w_T = torch.randn(64, d, generator=torch.Generator().manual_seed(0), dtype=D64)
    ddim_out = run("ddim", sched, denoise, n=64, d=d, num_steps=7)
    ts = ddim_timesteps(50, 7)

    def sigma(t):
        return 0.0 if t == 0 else float(sched.sigmas[t - 1])

    w_tilde = w_T / math.sqrt(float(sched.abar[ts[0] - 1]))
    for t, t_next in zip(ts, ts[1:] + [0]):
        a = float(sched.abar[t - 1])
        w0_hat, _ = denoise(math.sqrt(a) * w_tilde, torch.full((64,), float(t), dtype=D64))
        w_tilde = w_tilde + (sigma(t_next) - sigma(t)) * (w_tilde - w0_hat) / sigma(t)  # Euler step
    torch.testing.assert_close(ddim_out, w_tilde)
    one = ddim_step(
        w_T,
        w_T * 0.3,
        eps_from_w0(w_T, w_T * 0.3, float(sched.abar[49])),
        float(sched.abar[49]),
        float(sched.abar[29]),
        eta=0.0,
    )
    a_T, a_30 = float(sched.abar[49]), float(sched.abar[29])
    w_tilde_T = w_T / math.sqrt(a_T)
    euler = w_tilde_T + (sigma(30) - sigma(50)) * (w_tilde_T - 0.3 * w_T) / sigma(50)
    torch.testing.assert_close(one, math.sqrt(a_30) * euler)


def test_ddim_eta1_on_the_full_grid_is_ddpm() -> None:
    """eta = 1 gives the DDPM posterior variance beta_tilde: with S = T both samplers coincide."""
    sched = make_schedule(DiffusionConfig(schedule="linear", num_steps=20))
    denoise = arbitrary_denoiser(sched, 4)
    ddpm_out = run("ddpm", sched, denoise, n=32, d=4, seed=3)
    ddim_out = run("ddim", sched, denoise, n=32, d=4, seed=3, num_steps=20, eta=1.0)
    torch.testing.assert_close(ddim_out, ddpm_out)


def test_edm_wrapper_returns_eps_hat_exactly_at_sigma_t() -> None:
    sched, d = make_schedule(COSINE_50), 4
    calls: list[tuple[Tensor, Tensor]] = []
    M = torch.randn(d, d, generator=torch.Generator().manual_seed(1), dtype=D64)

    def eps_net(w_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:  # an eps network; w0_hat recovered from it
        calls.append((w_t, t))
        eps_hat = torch.sin(w_t @ M) + t[:, None] / 50
        return w0_from_eps(w_t, eps_hat, abar_of_t(t, sched)), eps_hat

    D = edm_denoiser(eps_net, sched)
    w_tilde = 3 * torch.randn(16, d, generator=torch.Generator().manual_seed(2), dtype=D64)
    for t in (1, 17, 50):
        sigma_t, a_t = float(sched.sigmas[t - 1]), float(sched.abar[t - 1])
        D_val, eps_hat = D(w_tilde, sigma_t)
        torch.testing.assert_close(calls[-1][0], math.sqrt(a_t) * w_tilde)  # input w_t = sqrt(abar_t) w~
        torch.testing.assert_close(calls[-1][1], torch.full((16,), float(t), dtype=D64))
        torch.testing.assert_close(eps_hat, eps_net(math.sqrt(a_t) * w_tilde, calls[-1][1])[1])
        torch.testing.assert_close(D_val, w_tilde - sigma_t * eps_hat)  # D = w~ - sigma eps_hat


def test_noisy_x0_predictor_degrades_gracefully_while_eps_recovery_explodes() -> None:
    """linear T = 50 (abar_T ~ 8e-6, sigma_T ~ 359). x0 noise of std s: sample error ~ linear in s.
    eps noise of std s: the naive recovery w0 = (w_t - sqrt(1 - abar) eps)/sqrt(abar) errs by s * sigma_t."""
    data, sched = GaussianData(), make_schedule(DiffusionConfig(schedule="linear", num_steps=50))
    exact = data.denoiser(sched)
    first_w0_err: dict[str, float] = {}

    def noisy(kind: str, s: float):
        g = torch.Generator().manual_seed(11)

        def denoise(w_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
            w0, eps = exact(w_t, t)
            z, a = torch.randn(w0.shape, generator=g, dtype=D64), abar_of_t(t, sched)
            if kind == "x0":
                w0_hat, eps_hat = w0 + s * z, eps_from_w0(w_t, w0 + s * z, a)
            else:
                w0_hat, eps_hat = w0_from_eps(w_t, eps + s * z, a), eps + s * z  # recovered naively
            first_w0_err.setdefault(kind, float((w0_hat - w0).square().mean().sqrt()))
            return w0_hat, eps_hat

        return denoise

    reference = run("ddim", sched, exact, n=2000, num_steps=10)
    errors = {}
    for kind in ("x0", "eps"):
        for s in (0.05, 0.1, 0.2):
            first_w0_err.clear()
            out = run("ddim", sched, noisy(kind, s), n=2000, num_steps=10)
            errors[kind, s] = (float((out - reference).square().mean().sqrt()), first_w0_err[kind])
    for s in (0.05, 0.1, 0.2):
        assert errors["x0", s][0] < math.sqrt(10) * s  # no growth beyond the S noisy predictions
        assert errors["x0", s][1] == pytest.approx(s, rel=0.05)
        # at t = T the eps predictor's recovered w0 is off by s * sigma_T = s / sqrt(abar_T) (x 359)
        assert errors["eps", s][1] == pytest.approx(s * float(sched.sigmas[-1]), rel=0.05)
    assert errors["x0", 0.2][0] / errors["x0", 0.1][0] == pytest.approx(2.0, rel=0.1)  # linear in s
    # Measured: the final DDIM sample itself stays ~2.4 s off for eps noise, because the exact
    # dynamics contract errors injected at large sigma; the blow-up is in w0_hat (clamps, x0 reads).
    assert errors["eps", 0.1][0] < 5 * 0.1


@pytest.mark.parametrize(
    "name,kw,expected",
    [
        ("ddpm", {}, 50),
        ("ddim", {"num_steps": 10}, 10),
        ("ddim", {"num_steps": 80}, 50),
        ("edm", {"num_steps": 10}, 19),
        ("edm", {"num_steps": 1}, 1),
    ],
)
def test_output_shape_nfe_and_no_grad(name: str, kw: dict, expected: int) -> None:
    sched = make_schedule(COSINE_50)
    layer = torch.nn.Linear(3, 3).double()
    calls = []

    def denoise(w_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        calls.append(float(t[0]))
        assert t.shape == (7,) and 0.0 <= float(t.min()) and float(t.max()) <= 50
        w0_hat = layer(w_t)
        return w0_hat, eps_from_w0(w_t, w0_hat, abar_of_t(t, sched))

    cfg = SamplerConfig(name=name, **kw)
    w_T = torch.randn(7, 3, dtype=D64)
    out = SAMPLERS[name](denoise, w_T, sched, cfg, torch.Generator().manual_seed(0))
    assert out.shape == (7, 3) and out.dtype == D64 and not out.requires_grad
    assert len(calls) == nfe(cfg, sched) == expected


def test_grids() -> None:
    assert ddim_timesteps(50, 10) == [50, 45, 39, 34, 28, 23, 17, 12, 6, 1]
    quad = ddim_timesteps(50, 25, "quadratic")
    assert quad[0] == 50 and quad[-1] == 1 and len(quad) == 25
    assert all(a > b for a, b in itertools.pairwise(quad)) and quad[-2] - quad[-1] < quad[0] - quad[1]
    sched = make_schedule(COSINE_50)
    sig = edm_sigmas(sched, SamplerConfig(name="edm", num_steps=10, sigma_min=0.002, sigma_max=80.0))
    assert len(sig) == 11 and sig[-1] == 0.0 and sig[0] == pytest.approx(80.0)
    assert sig[-2] == pytest.approx(float(sched.sigmas[0]))  # sigma_min clamped up to sigma_1
    assert all(a > b for a, b in itertools.pairwise(sig))
    huge = edm_sigmas(sched, SamplerConfig(name="edm", num_steps=10, sigma_max=1e5))
    assert huge[0] == pytest.approx(float(sched.sigmas[-1]))  # sigma_max clamped down to sigma_T


def test_churn_is_seeded_and_limited_to_its_window() -> None:
    data, sched = GaussianData(d=4), make_schedule(COSINE_50)
    denoise = data.denoiser(sched)
    plain = run("edm", sched, denoise, n=64, d=4, num_steps=8)
    churn = {"num_steps": 8, "S_churn": 20.0, "S_tmin": 0.05, "S_tmax": 10.0}
    a, b = run("edm", sched, denoise, n=64, d=4, **churn), run("edm", sched, denoise, n=64, d=4, **churn)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, plain)
    outside = run("edm", sched, denoise, n=64, d=4, num_steps=8, S_churn=20.0, S_tmin=90.0, S_tmax=100.0)
    torch.testing.assert_close(outside, plain)  # every sigma_i < S_tmin: no churn at all
