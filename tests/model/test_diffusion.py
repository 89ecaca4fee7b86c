"""Forward process (docs/lifter.md §2): the marginal of q_sample, x_T ~ p_T, components, w-space conversions."""

from __future__ import annotations

import pytest
import torch

from model.config import DiffusionConfig
from model.diffusion import (
    draw_components,
    draw_timesteps,
    eps_from_v,
    eps_from_w0,
    q_sample,
    v_target,
    w0_from_eps,
    w0_from_v,
)
from model.prior import GaussianMixturePrior
from model.schedules import make_schedule

torch.set_num_threads(1)
D64 = torch.float64


def mixture() -> GaussianMixturePrior:
    """K = 2 in d = 3, well separated, with correlated covariances (metres)."""
    sigma = torch.tensor(
        [
            [[0.04, 0.01, 0.0], [0.01, 0.02, 0.005], [0.0, 0.005, 0.01]],
            [[0.01, 0.0, -0.004], [0.0, 0.03, 0.0], [-0.004, 0.0, 0.02]],
        ],
        dtype=D64,
    )
    mu = torch.tensor([[0.0, 0.2, -0.1], [1.0, -0.5, 0.4]], dtype=D64)
    return GaussianMixturePrior(pi=torch.tensor([0.25, 0.75], dtype=D64), mu=mu, L=torch.linalg.cholesky(sigma))


def test_marginal_mean_and_covariance_match_the_formula() -> None:
    """Given x0 and m: E[x_t] = mu_m + sqrt(abar_t)(x0 - mu_m), Cov[x_t] = (1 - abar_t) Sigma_m (Monte Carlo)."""
    prior, sched = mixture(), make_schedule(DiffusionConfig(schedule="cosine", num_steps=50))
    n, t_step, m_k = 40000, 20, 1
    x0 = torch.tensor([0.3, 0.1, 0.2], dtype=D64).expand(n, 3)
    t, m = torch.full((n,), t_step), torch.full((n,), m_k)
    eps = torch.randn(n, 3, dtype=D64, generator=torch.Generator().manual_seed(0))
    x_t = q_sample(x0, t, m, eps, prior, sched)
    abar = float(sched.abar[t_step - 1])
    mean = prior.mu[m_k] + abar**0.5 * (x0[0] - prior.mu[m_k])
    cov = (1 - abar) * prior.L[m_k] @ prior.L[m_k].T
    torch.testing.assert_close(x_t.mean(0), mean, atol=4 * (cov.diagonal().max() / n) ** 0.5, rtol=0)
    torch.testing.assert_close(torch.cov(x_t.T), cov, atol=0.03 * float(cov.diagonal().max()), rtol=0)


def test_whitened_forward_process_is_the_ddpm_marginal() -> None:
    """w_t = sqrt(abar_t) w_0 + sqrt(1 - abar_t) eps in the component's whitened coordinates (exact)."""
    prior, sched = mixture(), make_schedule(DiffusionConfig(schedule="linear", num_steps=50))
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(64, 3, dtype=D64, generator=g), torch.randn(64, 3, dtype=D64, generator=g)
    t, m = draw_timesteps(64, sched, "cpu", g), prior.sample_components(64, g)
    abar = sched.abar[t - 1].unsqueeze(1)
    w_t = prior.whiten(q_sample(x0, t, m, eps, prior, sched), m)
    torch.testing.assert_close(w_t, abar.sqrt() * prior.whiten(x0, m) + (1 - abar).sqrt() * eps)
    assert int(t.min()) >= 1 and int(t.max()) <= 50


def test_x_T_is_a_draw_from_the_mixture_when_abar_T_is_zero() -> None:
    """linear T = 50 (abar_T ~ 8e-6): x_T forgets x0 and matches the mixture's mean and covariance."""
    prior, sched = mixture(), make_schedule(DiffusionConfig(schedule="linear", num_steps=50))
    assert sched.abar_T < 1e-5
    g, n = torch.Generator().manual_seed(2), 60000
    x0 = torch.full((n, 3), 0.8, dtype=D64)  # far from both means
    m = draw_components(x0, prior, "prior", g)
    x_T = q_sample(x0, torch.full((n,), 50), m, torch.randn(n, 3, dtype=D64, generator=g), prior, sched)
    sigma = prior.L @ prior.L.transpose(1, 2)
    mean = (prior.pi[:, None] * prior.mu).sum(0)
    centred = prior.mu - mean
    cov = (prior.pi[:, None, None] * (sigma + centred[:, :, None] * centred[:, None, :])).sum(0)
    torch.testing.assert_close(x_T.mean(0), mean, atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(x_T.T), cov, atol=0.01, rtol=0)


def test_posterior_components_follow_the_responsibilities() -> None:
    prior, g = mixture(), torch.Generator().manual_seed(3)
    at_means = prior.mu.repeat(500, 1)  # rows alternate component 0, 1
    m = draw_components(at_means, prior, "posterior", g)
    assert torch.equal(m, torch.tensor([0, 1]).repeat(500))  # the components are far apart
    between = (0.5 * prior.mu.sum(0)).expand(20000, 3)
    p1 = float(prior.responsibilities(between[:1])[0, 1])
    assert 0.05 < p1 < 0.95
    assert abs(float(draw_components(between, prior, "posterior", g).double().mean()) - p1) < 0.015
    m_prior = draw_components(between, prior, "prior", g)
    assert abs(float(m_prior.double().mean()) - 0.75) < 0.015


@pytest.mark.parametrize("abar", [0.999, 0.5, 1e-4])
def test_prediction_conversions_invert_each_other(abar: float) -> None:
    g = torch.Generator().manual_seed(4)
    w0, eps = torch.randn(8, 5, dtype=D64, generator=g), torch.randn(8, 5, dtype=D64, generator=g)
    a = torch.full((8,), abar, dtype=D64)
    w_t = a.sqrt()[:, None] * w0 + (1 - a).sqrt()[:, None] * eps
    torch.testing.assert_close(eps_from_w0(w_t, w0, a), eps)
    torch.testing.assert_close(w0_from_eps(w_t, eps, a), w0)
    v = v_target(w0, eps, a)
    torch.testing.assert_close(w0_from_v(w_t, v, a), w0)
    torch.testing.assert_close(eps_from_v(w_t, v, abar), eps)  # a float abar broadcasts too
