"""The end distribution p_T: a Gaussian mixture fitted by EM, or N(0, I) (docs/lifter.md §1).

p_T(x) = sum_m pi_m N(x; mu_m, Sigma_m), Sigma_m = L_m L_m^T, over the d = 48 root-relative
coordinates of the 16 non-root joints, in metres. Whitening w = L_m^{-1}(x - mu_m) maps component
m to N(0, I), which is where the samplers run (docs/lifter.md §2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import Tensor

from model.config import PriorConfig
from model.errors import PoseDiffError
from model.io import atomic_write, cache_dir


@dataclass(frozen=True)
class GaussianMixturePrior:
    """pi: [K] weights; mu: [K, d] metres; L: [K, d, d] lower Cholesky factors of Sigma_m, metres."""

    pi: Tensor
    mu: Tensor
    L: Tensor

    @property
    def num_components(self) -> int:
        """K."""
        return int(self.pi.shape[0])

    @property
    def dim(self) -> int:
        """d."""
        return int(self.mu.shape[1])

    def whiten(self, x: Tensor, m: Tensor) -> Tensor:
        """w = L_m^{-1}(x - mu_m). x: [B, d] metres, m: [B] long -> w: [B, d].

        Solves for all K components at once and gathers each row's own: K small triangular
        solves with B right-hand sides beat B gathered [d, d] solves several times on CPU.
        """
        r = (x.unsqueeze(0) - self.mu.unsqueeze(1)).transpose(1, 2)  # [K, d, B]
        z = torch.linalg.solve_triangular(self.L, r, upper=False)  # [K, d, B]
        return z[m, :, torch.arange(x.shape[0], device=x.device)]

    def unwhiten(self, w: Tensor, m: Tensor) -> Tensor:
        """x = mu_m + L_m w. w: [B, d], m: [B] long -> x: [B, d] metres (all K at once, then gathered)."""
        x_all = torch.einsum("kij,bj->kbi", self.L, w) + self.mu.unsqueeze(1)  # [K, B, d]
        return x_all[m, torch.arange(w.shape[0], device=w.device)]

    def component_log_probs(self, x: Tensor) -> Tensor:
        """log pi_k + log N(x; mu_k, Sigma_k). x: [B, d] metres -> [B, K]."""
        r = (x.unsqueeze(0) - self.mu.unsqueeze(1)).transpose(1, 2)  # [K, d, B]
        z = torch.linalg.solve_triangular(self.L, r, upper=False)  # [K, d, B] whitened residuals
        log_det = 2 * torch.diagonal(self.L, dim1=1, dim2=2).log().sum(-1)  # [K] log |Sigma_k|
        log_n = -0.5 * (z.square().sum(1) + log_det[:, None] + self.dim * math.log(2 * math.pi))
        return (self.pi.log()[:, None] + log_n).T

    def responsibilities(self, x: Tensor) -> Tensor:
        """Posterior p(m | x), log-domain and stable. x: [B, d] metres -> [B, K], rows sum to 1."""
        return torch.softmax(self.component_log_probs(x), dim=-1)

    def log_prob(self, x: Tensor) -> Tensor:
        """log p_T(x). x: [B, d] metres -> [B] (log density in 1/m^d)."""
        return torch.logsumexp(self.component_log_probs(x), dim=-1)

    def sample_components(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """m ~ pi: [n] long (generator on the prior's device)."""
        return torch.multinomial(self.pi, n, replacement=True, generator=generator)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """x ~ p_T: ([n, d] metres, m [n] long)."""
        m = self.sample_components(n, generator)
        w = torch.randn(n, self.dim, device=self.mu.device, dtype=self.mu.dtype, generator=generator)
        return self.unwhiten(w, m), m

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> GaussianMixturePrior:
        """A copy on `device` (and `dtype`)."""
        return GaussianMixturePrior(*(v.to(device=device, dtype=dtype) for v in (self.pi, self.mu, self.L)))

    def state_dict(self) -> dict[str, Tensor]:
        """Plain tensors, for a checkpoint."""
        return {"pi": self.pi, "mu": self.mu, "L": self.L}

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor]) -> GaussianMixturePrior:
        """Inverse of state_dict."""
        return cls(pi=state["pi"], mu=state["mu"], L=state["L"])


def standard_prior(d: int) -> GaussianMixturePrior:
    """K = 1, mu = 0, Sigma = I: the plain DDPM prior (`prior.kind: standard`)."""
    return GaussianMixturePrior(pi=torch.ones(1), mu=torch.zeros(1, d), L=torch.eye(d).unsqueeze(0))


def default_cache_dir() -> Path:
    """$POSEDIFF_CACHE/priors, else ~/.cache/posediff-study/priors."""
    return cache_dir() / "priors"


def cache_path(cache_key: str, cfg: PriorConfig, cache_dir: Path | None = None) -> Path:
    """The .npz of one fit: per (cache_key, K, covariance, seed, fit_samples, ridge)."""
    key = re.sub(r"[^A-Za-z0-9_.-]", "_", cache_key)
    name = f"{key}_K{cfg.num_components}_{cfg.covariance}_seed{cfg.seed}_n{cfg.fit_samples}_ridge{cfg.ridge_m2:g}.npz"
    return (cache_dir or default_cache_dir()) / name


def fit_prior(
    poses_flat: np.ndarray | Tensor, cfg: PriorConfig, cache_key: str, cache_dir: Path | None = None
) -> GaussianMixturePrior:
    """EM fit (scikit-learn GaussianMixture) of p_T on poses_flat [F, d] metres; cached as .npz (docs/lifter.md §1)."""
    poses_flat = np.asarray(poses_flat, dtype=np.float64)  # a CPU tensor converts too
    if poses_flat.ndim != 2:
        raise PoseDiffError(f"prior fit ({cache_key}): poses", "an array [F, d]", f"shape {poses_flat.shape}")
    if cfg.kind == "standard":
        return standard_prior(poses_flat.shape[1])
    path = cache_path(cache_key, cfg, cache_dir)
    cached = _load(path, poses_flat.shape[1], cfg.num_components)
    if cached is not None:
        return cached
    pi, mu, L = _em_fit(poses_flat, cfg, cache_key)
    with atomic_write(path) as f:  # readers never see half a file
        np.savez(f, pi=pi, mu=mu, L=L)
    return _to_prior(pi, mu, L)


def _em_fit(poses_flat: np.ndarray, cfg: PriorConfig, cache_key: str) -> tuple[np.ndarray, ...]:
    """EM on a seeded subsample; reg_covar adds ridge_m2 to every Sigma_m diagonal; L_m = chol(Sigma_m)."""
    num_frames, K = poses_flat.shape[0], cfg.num_components
    if num_frames < max(K, 2):
        raise PoseDiffError(
            f"prior fit ({cache_key}): prior.num_components",
            f"at most the number of training poses ({num_frames})",
            str(K),
        )
    rng = np.random.default_rng(cfg.seed)
    idx = rng.choice(num_frames, size=min(cfg.fit_samples, num_frames), replace=False)
    gmm = GaussianMixture(
        n_components=K, covariance_type=cfg.covariance, reg_covar=cfg.ridge_m2, random_state=cfg.seed, max_iter=200
    )
    gmm.fit(poses_flat[idx])
    cov = gmm.covariances_ if cfg.covariance == "full" else np.stack([np.diag(c) for c in gmm.covariances_])
    return gmm.weights_, gmm.means_, np.linalg.cholesky(cov)


def _to_prior(pi: np.ndarray, mu: np.ndarray, L: np.ndarray) -> GaussianMixturePrior:
    def as_t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a), dtype=torch.float32)

    return GaussianMixturePrior(pi=as_t(pi), mu=as_t(mu), L=as_t(L))


def _load(path: Path, d: int, K: int) -> GaussianMixturePrior | None:
    """The cached fit, or None when absent or unreadable (then it is refitted and overwritten)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as f:
            pi, mu, L = f["pi"], f["mu"], f["L"]
    except (OSError, KeyError, ValueError):
        return None
    if pi.shape != (K,) or mu.shape != (K, d) or L.shape != (K, d, d):
        return None
    return _to_prior(pi, mu, L)
