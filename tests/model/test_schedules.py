"""Schedules (docs/lifter.md §3): abar strictly decreasing in (0, 1), closed forms, abar_T, t(sigma)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model.config import DiffusionConfig
from model.errors import PoseDiffError
from model.schedules import SCHEDULES, abar_of_t, make_schedule, sigma_of_t, t_of_sigma

torch.set_num_threads(1)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("T", [20, 50, 1000])
@pytest.mark.parametrize("clip", [(0.0, 0.999), (0.01, 0.99)])
def test_abar_strictly_decreasing_in_open_unit_interval(name: str, T: int, clip: tuple[float, float]) -> None:
    s = make_schedule(DiffusionConfig(schedule=name, num_steps=T, beta_min=clip[0], beta_max=clip[1]))
    assert s.num_steps == T and s.betas.shape == s.abar.shape == (T,)
    assert bool((s.abar[1:] < s.abar[:-1]).all())
    assert 0 < float(s.abar.min()) and float(s.abar.max()) < 1
    assert s.abar_T == float(s.abar[-1])
    torch.testing.assert_close(s.abar, torch.cumprod(1 - s.betas, 0))


def test_cosine_matches_closed_form() -> None:
    T, s_off = 50, 0.008
    sched = make_schedule(DiffusionConfig(schedule="cosine", num_steps=T, cosine_s=s_off, beta_max=0.999))
    t = np.arange(T + 1)
    f = np.cos((t / T + s_off) / (1 + s_off) * np.pi / 2) ** 2
    closed = f / f[0]
    # all betas below beta_max except the last (f(T) = 0 makes beta_T = 1, clipped to 0.999)
    np.testing.assert_allclose(sched.abar[:-1].numpy(), closed[1:T], rtol=1e-10)
    assert sched.abar_T == pytest.approx(closed[T - 1] * (1 - 0.999), rel=1e-10)


def test_cosine_seed_variant_clips_betas() -> None:
    sched = make_schedule(DiffusionConfig(schedule="cosine", num_steps=50, beta_min=0.01, beta_max=0.99))
    assert float(sched.betas.min()) == pytest.approx(0.01)  # the first betas of cosine are < 0.01
    assert float(sched.betas.max()) == pytest.approx(0.99)


@pytest.mark.parametrize("T", [20, 50, 1000])
def test_linear_reaches_the_prior_for_any_T(T: int) -> None:
    sched = make_schedule(DiffusionConfig(schedule="linear", num_steps=T))
    assert float(sched.betas[0]) == pytest.approx(1e-4 * 1000 / T)
    assert float(sched.betas[-1]) == pytest.approx(min(0.02 * 1000 / T, 0.999))
    assert sched.abar_T < 1e-4


def test_sigma_T_values_quoted_in_design() -> None:
    """docs/lifter.md §5: sigma_T = 359 for linear T = 50 and 1015 for cosine T = 50."""
    linear = make_schedule(DiffusionConfig(schedule="linear", num_steps=50))
    cosine = make_schedule(DiffusionConfig(schedule="cosine", num_steps=50))
    assert float(linear.sigmas[-1]) == pytest.approx(359, rel=0.01)
    assert float(cosine.sigmas[-1]) == pytest.approx(1015, rel=0.01)
    assert bool((linear.sigmas[1:] > linear.sigmas[:-1]).all())


def test_sigmoid_shape_follows_tau() -> None:
    """A larger tau flattens the sigmoid: less noise early on (Jabri et al. 2023)."""
    sharp = make_schedule(DiffusionConfig(schedule="sigmoid", num_steps=50, sigmoid_tau=0.5))
    flat = make_schedule(DiffusionConfig(schedule="sigmoid", num_steps=50, sigmoid_tau=2.0))
    assert float(flat.abar[9]) < float(sharp.abar[9])


def test_bad_schedule_raises_pose_diff_error() -> None:
    with pytest.raises(PoseDiffError, match="diffusion.schedule"):
        make_schedule(DiffusionConfig(schedule="nope"))  # type: ignore[arg-type]
    with pytest.raises(PoseDiffError, match="strictly decreasing"):
        make_schedule(DiffusionConfig(schedule="sigmoid", sigmoid_start=1.0, sigmoid_end=1.0))
    with pytest.raises(PoseDiffError, match="diffusion.num_steps"):
        make_schedule(DiffusionConfig(schedule="linear", num_steps=1))


def test_t_of_sigma_inverts_the_grid_and_clamps() -> None:
    sched = make_schedule(DiffusionConfig(schedule="linear", num_steps=50))
    t = torch.arange(1, 51, dtype=torch.float64)
    torch.testing.assert_close(t_of_sigma(sched.sigmas, sched), t)
    torch.testing.assert_close(abar_of_t(t, sched), sched.abar, rtol=1e-12, atol=0)
    ends = t_of_sigma(torch.tensor([1e-6, 1e6], dtype=torch.float64), sched)
    assert ends.tolist() == [1.0, 50.0]
    frac = torch.tensor([1.25, 7.5, 33.9], dtype=torch.float64)
    torch.testing.assert_close(t_of_sigma(sigma_of_t(frac, sched), sched), frac)
    log_mid = 0.5 * (math.log(sched.sigmas[6]) + math.log(sched.sigmas[7]))  # halfway between t = 7 and 8
    assert float(sigma_of_t(torch.tensor([7.5], dtype=torch.float64), sched)) == pytest.approx(math.exp(log_mid))
    assert float(abar_of_t(torch.tensor([0.0]), sched)) == 1.0
