"""The lifter glue: loss and sample shapes, N folded into the batch, root zero, every prediction type."""

from __future__ import annotations

import pytest
import torch

from model.config import DiffusionConfig, NetworkConfig, PriorConfig, SamplerConfig
from model.lifter import D, DiffusionLifter, flatten_pose, unflatten_pose
from model.prior import GaussianMixturePrior
from model.samplers import nfe

torch.set_num_threads(1)
B = 6
NET = NetworkConfig(width=16, num_blocks=1, num_heads=2)


def _poses(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = 0.2 * torch.randn(n, 17, 3, generator=g) + torch.linspace(-0.5, 0.5, 17)[None, :, None]
    x[:, 0] = 0.0
    return x


def _prior() -> GaussianMixturePrior:
    g = torch.Generator().manual_seed(1)
    A = 0.05 * torch.randn(2, D, D, generator=g)
    cov = A @ A.transpose(1, 2) + 0.01 * torch.eye(D)
    return GaussianMixturePrior(
        pi=torch.tensor([0.3, 0.7]), mu=0.1 * torch.randn(2, D, generator=g), L=torch.linalg.cholesky(cov)
    )


def _lifter(
    prediction: str = "x0", component: str = "prior", clamp_x0: bool = False, component_embedding: bool = False
) -> DiffusionLifter:
    torch.manual_seed(0)
    diffusion = DiffusionConfig(schedule="cosine", num_steps=20, prediction=prediction, clamp_x0=clamp_x0)
    network = NetworkConfig(width=16, num_blocks=1, num_heads=2, component_embedding=component_embedding)
    return DiffusionLifter.from_poses(diffusion, network, PriorConfig(component=component), _prior(), _poses(64))


def _c(n: int = B) -> torch.Tensor:
    return torch.randn(n, 17, 2, generator=torch.Generator().manual_seed(2))


def test_flatten_roundtrip_puts_root_back_as_zero() -> None:
    x = _poses(4)
    assert flatten_pose(x).shape == (4, D)
    assert torch.equal(unflatten_pose(flatten_pose(x)), x)


@pytest.mark.parametrize("prediction", ["x0", "eps", "v", "regress"])
@pytest.mark.parametrize("component", ["prior", "posterior"])
def test_loss_is_a_finite_scalar_with_gradients(prediction: str, component: str) -> None:
    lifter = _lifter(prediction, component)
    loss = lifter.loss(_poses(B, seed=3), _c(), torch.Generator().manual_seed(0))
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    grads = [p.grad for p in lifter.denoiser.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


def test_loss_is_reproducible_from_the_generator() -> None:
    lifter, x, c = _lifter(), _poses(B, seed=3), _c()
    first = lifter.loss(x, c, torch.Generator().manual_seed(5))
    again = lifter.loss(x, c, torch.Generator().manual_seed(5))
    other = lifter.loss(x, c, torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_x0_target_is_the_standardised_clean_pose() -> None:
    """A regressor that outputs the standardised target exactly has zero loss (docs/lifter.md §4.1)."""
    lifter, x = _lifter("regress"), _poses(B, seed=3)
    z = lifter.standardise(flatten_pose(x))
    assert torch.allclose(lifter.destandardise(z), flatten_pose(x), atol=1e-6)
    lifter.denoiser.forward = lambda x_t, c, t, m=None: z  # the exact answer, not a mock of a library
    assert float(lifter.loss(x, _c())) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("prediction", ["x0", "eps", "v"])
@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "edm"])
def test_sample_shapes_root_zero_and_hypotheses_folded_into_batch(prediction: str, sampler: str) -> None:
    lifter, N = _lifter(prediction, component_embedding=prediction == "eps"), 3
    cfg = SamplerConfig(name=sampler, num_steps=4, num_hypotheses=N)
    batch_sizes: list[int] = []
    lifter.denoiser.register_forward_hook(lambda mod, args, out: batch_sizes.append(args[0].shape[0]))
    hyps = lifter.sample(_c(), cfg, torch.Generator().manual_seed(0))
    assert hyps.shape == (B, N, 17, 3) and torch.isfinite(hyps).all()
    assert torch.equal(hyps[:, :, 0], torch.zeros(B, N, 3))
    assert batch_sizes == [B * N] * nfe(cfg, lifter.schedule)  # one forward per step for all hypotheses
    assert not torch.allclose(hyps[:, 0], hyps[:, 1])  # hypotheses differ


def test_regress_sample_is_one_deterministic_hypothesis() -> None:
    lifter = _lifter("regress")
    cfg = SamplerConfig(num_hypotheses=5)
    first = lifter.sample(_c(), cfg, torch.Generator().manual_seed(0))
    again = lifter.sample(_c(), cfg, torch.Generator().manual_seed(9))
    assert first.shape == (B, 1, 17, 3) and torch.equal(first, again)
    assert torch.equal(first[:, :, 0], torch.zeros(B, 1, 3))


@pytest.mark.parametrize("prediction", ["x0", "eps"])
def test_clamp_keeps_x0_hat_inside_the_training_range(prediction: str) -> None:
    lifter = _lifter(prediction, clamp_x0=True)
    with torch.no_grad():
        lifter.denoiser.head.linear.weight.mul_(1e4)  # wild outputs
    m = torch.zeros(B, dtype=torch.long)
    w_t = torch.randn(B, D, generator=torch.Generator().manual_seed(4))
    w0_hat, eps_hat = lifter.denoiser_in_w(_c(), m)(w_t, torch.full((B,), 7.5))
    z = lifter.standardise(lifter.prior.unwhiten(w0_hat, m))[:, 1:].reshape(B, D)
    assert (z >= lifter.pose_low - 1e-3).all() and (z <= lifter.pose_high + 1e-3).all()
    assert torch.isfinite(eps_hat).all()


def test_x0_denoiser_eps_hat_is_consistent_with_the_forward_marginal() -> None:
    """w_t = sqrt(abar_t) w0_hat + sqrt(1 - abar_t) eps_hat at integer t (docs/lifter.md §2)."""
    lifter = _lifter("x0")
    m, t = torch.tensor([0, 1, 1, 0, 1, 0]), torch.tensor([1.0, 5.0, 10.0, 15.0, 19.0, 20.0])
    w_t = torch.randn(B, D, generator=torch.Generator().manual_seed(4))
    w0_hat, eps_hat = lifter.denoiser_in_w(_c(), m)(w_t, t)
    abar = lifter.abar[t.long() - 1].unsqueeze(1)
    assert torch.allclose(abar.sqrt() * w0_hat + (1 - abar).sqrt() * eps_hat, w_t, atol=1e-4)


def test_state_dict_holds_prior_schedule_and_stats() -> None:
    lifter = _lifter()
    keys = set(lifter.state_dict())
    assert {"pi", "mu", "L", "abar", "betas", "pose_mean", "pose_std", "pose_low", "pose_high"} <= keys
    clone = DiffusionLifter(
        lifter.diffusion,
        lifter.network_cfg,
        lifter.prior_cfg,
        lifter.prior,
        torch.zeros(D),
        torch.ones(D),
        torch.zeros(D),
        torch.ones(D),
    )
    clone.load_state_dict(lifter.state_dict())
    cfg = SamplerConfig(num_hypotheses=2, num_steps=3)
    assert torch.equal(
        clone.sample(_c(), cfg, torch.Generator().manual_seed(0)),
        lifter.sample(_c(), cfg, torch.Generator().manual_seed(0)),
    )
