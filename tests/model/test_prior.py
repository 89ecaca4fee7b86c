"""GMM prior (docs/lifter.md §1): EM recovery, ridge, cache, special cases, whitening, responsibilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model.config import PriorConfig
from model.errors import PoseDiffError
from model.prior import GaussianMixturePrior, cache_path, fit_prior, standard_prior

torch.set_num_threads(1)

PI = np.array([0.3, 0.7])
MU = np.array([[0.0, 0.1, -0.2], [0.5, -0.4, 0.3]])
SIGMA = np.array(
    [
        [[0.010, 0.004, 0.0], [0.004, 0.020, 0.0], [0.0, 0.0, 0.005]],
        [[0.020, 0.0, -0.006], [0.0, 0.010, 0.0], [-0.006, 0.0, 0.015]],
    ]
)


def two_component_poses(num: int, seed: int = 0) -> np.ndarray:
    """num draws [num, 3] metres from the known mixture (PI, MU, SIGMA)."""
    rng = np.random.default_rng(seed)
    m = rng.choice(2, size=num, p=PI)
    eps = rng.standard_normal((num, 3))
    return MU[m] + np.einsum("nij,nj->ni", np.linalg.cholesky(SIGMA)[m], eps)


def cfg(**kw) -> PriorConfig:
    base = {"num_components": 2, "covariance": "full", "fit_samples": 4000, "ridge_m2": 1e-6, "seed": 0}
    return PriorConfig(**{**base, **kw})


def test_em_recovers_a_known_two_component_mixture(tmp_path: Path) -> None:
    prior = fit_prior(two_component_poses(4000), cfg(), "known", tmp_path)
    order = np.argsort(prior.mu[:, 0].numpy())  # component with the smaller first mean first
    pi, mu, L = prior.pi.numpy()[order], prior.mu.numpy()[order], prior.L.numpy()[order]
    np.testing.assert_allclose(pi, PI, atol=0.03)
    np.testing.assert_allclose(mu, MU, atol=0.01)
    np.testing.assert_allclose(L @ L.transpose(0, 2, 1), SIGMA, atol=0.0025)  # ~10% of the variances
    assert np.allclose(np.triu(L, 1), 0)  # lower Cholesky factors


def test_ridge_is_added_to_every_covariance_diagonal(tmp_path: Path) -> None:
    poses = two_component_poses(2000)
    poses[:, 2] = 0.25  # a coordinate with zero variance: its Sigma diagonal is the ridge alone
    prior = fit_prior(poses, cfg(ridge_m2=1e-4), "ridge", tmp_path)
    sigma = prior.L @ prior.L.transpose(1, 2)
    torch.testing.assert_close(sigma[:, 2, 2], torch.full((2,), 1e-4), rtol=1e-3, atol=0)


def test_diag_covariance_gives_diagonal_factors(tmp_path: Path) -> None:
    prior = fit_prior(two_component_poses(2000), cfg(covariance="diag"), "diag", tmp_path)
    assert torch.count_nonzero(prior.L - torch.diag_embed(torch.diagonal(prior.L, dim1=1, dim2=2))) == 0


def test_cache_hit_returns_the_same_fit_without_refitting(tmp_path: Path) -> None:
    first = fit_prior(two_component_poses(2000), cfg(), "dataset-abc", tmp_path)
    assert cache_path("dataset-abc", cfg(), tmp_path).is_file()
    other_poses = two_component_poses(2000, seed=1) + 5.0  # a refit would move every mean by 5 m
    again = fit_prior(other_poses, cfg(), "dataset-abc", tmp_path)
    for key, value in first.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value, rtol=0, atol=0)
    refit = fit_prior(other_poses, cfg(seed=1), "dataset-abc", tmp_path)  # another key: fitted anew
    assert float(refit.mu.mean()) > 4.0
    assert len(list(tmp_path.glob("*.npz"))) == 2 and not list(tmp_path.glob("*.tmp"))


def test_corrupt_cache_file_is_refitted(tmp_path: Path) -> None:
    path = cache_path("broken", cfg(), tmp_path)
    path.write_bytes(b"not an npz")
    prior = fit_prior(two_component_poses(2000), cfg(), "broken", tmp_path)
    assert prior.num_components == 2
    with np.load(path) as f:
        np.testing.assert_allclose(f["mu"], prior.mu.numpy(), rtol=1e-6)


def test_default_cache_dir_follows_posediff_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSEDIFF_CACHE", str(tmp_path))
    fit_prior(two_component_poses(500), cfg(fit_samples=500), "env", None)
    assert len(list((tmp_path / "priors").glob("env_K2_full_*.npz"))) == 1


def test_single_component_is_the_sample_mean_and_covariance(tmp_path: Path) -> None:
    poses = two_component_poses(3000)
    prior = fit_prior(poses, cfg(num_components=1, ridge_m2=1e-4, fit_samples=3000), "k1", tmp_path)
    cov = np.cov(poses.T, bias=True) + 1e-4 * np.eye(3)
    np.testing.assert_allclose(prior.mu[0].numpy(), poses.mean(0), atol=1e-5)
    np.testing.assert_allclose((prior.L[0] @ prior.L[0].T).numpy(), cov, rtol=1e-4, atol=1e-7)
    assert prior.pi.tolist() == [1.0]


def test_standard_prior_is_unit_gaussian_and_writes_no_cache(tmp_path: Path) -> None:
    prior = fit_prior(np.zeros((10, 48)), PriorConfig(kind="standard"), "std", tmp_path)
    assert prior.num_components == 1 and prior.dim == 48
    torch.testing.assert_close(prior.L[0], torch.eye(48))
    assert float(prior.mu.abs().sum()) == 0.0 and not list(tmp_path.iterdir())
    x = torch.randn(5, 48)
    torch.testing.assert_close(prior.whiten(x, torch.zeros(5, dtype=torch.long)), x)
    assert standard_prior(4).L.shape == (1, 4, 4)


def test_bad_inputs_raise_pose_diff_error(tmp_path: Path) -> None:
    with pytest.raises(PoseDiffError, match="shape"):
        fit_prior(np.zeros(48), cfg(), "bad", tmp_path)
    with pytest.raises(PoseDiffError, match="prior.num_components"):
        fit_prior(np.zeros((3, 4)), cfg(num_components=5), "bad", tmp_path)


def known_prior() -> GaussianMixturePrior:
    L = np.linalg.cholesky(SIGMA)
    return GaussianMixturePrior(pi=torch.tensor(PI), mu=torch.tensor(MU), L=torch.tensor(L))


def test_whiten_unwhiten_round_trip_and_whitened_covariance_is_identity() -> None:
    prior = known_prior()
    m = torch.ones(20000, dtype=torch.long)
    x = prior.unwhiten(torch.randn(20000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)), m)
    torch.testing.assert_close(torch.cov(x.T), torch.tensor(SIGMA[1]), atol=1e-3, rtol=0.05)
    w = prior.whiten(x, m)
    torch.testing.assert_close(prior.unwhiten(w, m), x)
    torch.testing.assert_close(torch.cov(w.T), torch.eye(3, dtype=torch.float64), atol=0.04, rtol=0)


def test_log_prob_and_responsibilities_match_the_densities() -> None:
    prior = known_prior()
    x = torch.tensor(two_component_poses(50, seed=3))
    comps = [torch.distributions.MultivariateNormal(torch.tensor(MU[k]), torch.tensor(SIGMA[k])) for k in range(2)]
    joint = torch.stack([np.log(PI[k]) + comps[k].log_prob(x) for k in range(2)], dim=1)
    torch.testing.assert_close(prior.log_prob(x), torch.logsumexp(joint, 1))
    torch.testing.assert_close(prior.responsibilities(x), torch.softmax(joint, 1))
    far = prior.responsibilities(torch.full((2, 3), 1e3, dtype=torch.float64))  # densities underflow
    assert torch.isfinite(far).all() and torch.allclose(far.sum(1), torch.ones(2, dtype=torch.float64))


def test_sample_components_follow_pi_and_state_dict_round_trips(tmp_path: Path) -> None:
    prior = known_prior()
    m = prior.sample_components(20000, torch.Generator().manual_seed(0))
    assert m.dtype == torch.long and abs(float((m == 1).double().mean()) - 0.7) < 0.015
    torch.save(prior.to(dtype=torch.float32).state_dict(), tmp_path / "prior.pt")
    back = GaussianMixturePrior.from_state_dict(torch.load(tmp_path / "prior.pt", weights_only=True))
    torch.testing.assert_close(back.L, prior.L.float())
