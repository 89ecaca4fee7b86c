"""The diffusion lifter: glue between the denoiser (standardised pose space) and the samplers (w-space).

Spaces (docs/lifter.md §4.1): the network sees the noisy state and predicts x0 in *standardised
pose space* (per-coordinate mean and std of the training split's 48-d root-relative poses); the
noise process and the samplers work in the whitened coordinates w = L_m^{-1}(x - mu_m) of the
chain's mixture component m (docs/lifter.md §2). Everything the lifter needs to sample (prior, schedule,
standardisation stats) is a buffer, so a state dict plus the trial config rebuilds it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from model.config import DiffusionConfig, NetworkConfig, PriorConfig, SamplerConfig
from model.diffusion import (
    draw_components,
    draw_timesteps,
    eps_from_v,
    eps_from_w0,
    q_sample,
    v_target,
    w0_from_eps,
)
from model.network import Denoiser
from model.prior import GaussianMixturePrior
from model.samplers import SAMPLERS, Denoise
from model.schedules import Schedule, abar_of_t, make_schedule
from model.skeleton import NUM_JOINTS

D = 3 * (NUM_JOINTS - 1)  # diffused state: 16 non-root joints x 3 = 48


def flatten_pose(x: Tensor) -> Tensor:
    """x: [B, 17, 3] root-relative -> [B, 48] (non-root joints, root dropped)."""
    return x[:, 1:].reshape(x.shape[0], D)


def unflatten_pose(x: Tensor) -> Tensor:
    """x: [B, 48] -> [B, 17, 3] with the root joint put back as zeros."""
    return torch.cat([x.new_zeros(x.shape[0], 1, 3), x.reshape(-1, NUM_JOINTS - 1, 3)], dim=1)


class DiffusionLifter(nn.Module):
    """Conditional diffusion lifter with a GMM end distribution (docs/lifter.md §2-§5)."""

    # buffers registered in __init__ (declared for the type checker): schedule [T], prior, stats [48]
    betas: Tensor
    abar: Tensor
    pi: Tensor
    mu: Tensor
    L: Tensor
    pose_mean: Tensor
    pose_std: Tensor
    pose_low: Tensor
    pose_high: Tensor

    def __init__(
        self,
        diffusion: DiffusionConfig,
        network: NetworkConfig,
        prior_cfg: PriorConfig,
        prior: GaussianMixturePrior,
        pose_mean: Tensor,
        pose_std: Tensor,
        pose_low: Tensor,
        pose_high: Tensor,
    ) -> None:
        """prior: mixture in metres (d = 48); pose_mean/std: [48] metres; pose_low/high: [48] standardised range."""
        super().__init__()
        self.diffusion, self.network_cfg, self.prior_cfg = diffusion, network, prior_cfg
        self.denoiser = Denoiser(network, num_components=prior.num_components)
        schedule = make_schedule(diffusion)
        self.register_buffer("betas", schedule.betas.float().clone())
        self.register_buffer("abar", schedule.abar.float().clone())
        self.register_buffer("pi", prior.pi.float().clone())
        self.register_buffer("mu", prior.mu.float().clone())
        self.register_buffer("L", prior.L.float().clone())
        self.register_buffer("pose_mean", pose_mean.float().clone())
        self.register_buffer("pose_std", pose_std.float().clone())
        self.register_buffer("pose_low", pose_low.float().clone())
        self.register_buffer("pose_high", pose_high.float().clone())

    @classmethod
    def from_poses(
        cls,
        diffusion: DiffusionConfig,
        network: NetworkConfig,
        prior_cfg: PriorConfig,
        prior: GaussianMixturePrior,
        poses: Tensor,
    ) -> DiffusionLifter:
        """Build with standardisation stats of the training poses [F, 17, 3] metres root-relative."""
        flat = flatten_pose(poses.float())
        mean, std = flat.mean(0), flat.std(0).clamp_min(1e-6)
        z = (flat - mean) / std
        return cls(diffusion, network, prior_cfg, prior, mean, std, z.min(0).values, z.max(0).values)

    # -- the pieces the loss and the samplers share ------------------------------------------
    @property
    def prior(self) -> GaussianMixturePrior:
        """The mixture prior as held in this module's buffers (device follows the module)."""
        return GaussianMixturePrior(pi=self.pi, mu=self.mu, L=self.L)

    @property
    def schedule(self) -> Schedule:
        """The discrete schedule as held in this module's buffers."""
        return Schedule(betas=self.betas, abar=self.abar)

    def _standardised(self, x: Tensor) -> Tensor:
        """x: [B, 48] metres -> [B, 48] standardised."""
        return (x - self.pose_mean) / self.pose_std

    def standardise(self, x: Tensor) -> Tensor:
        """x: [B, 48] metres -> [B, 17, 3] standardised network state, root slot 0."""
        return unflatten_pose(self._standardised(x))

    def destandardise(self, z: Tensor) -> Tensor:
        """z: [B, 17, 3] network output -> [B, 48] metres (root slot ignored)."""
        return flatten_pose(z) * self.pose_std + self.pose_mean

    # -- training --------------------------------------------------------------------------
    def loss(self, x0: Tensor, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Denoising MSE (Ho et al. 2020, Algorithm 1, with a GMM end distribution; docs/lifter.md §2, §4).

        x0: [B, 17, 3] metres root-relative; c: [B, 17, 2] normalised screen coords -> scalar.
        """
        x0_flat = flatten_pose(x0)
        target_x0 = self._standardised(x0_flat)
        if self.diffusion.prediction == "regress":
            return (flatten_pose(self._regress(c)) - target_x0).square().mean()
        B, schedule, prior = x0.shape[0], self.schedule, self.prior
        t = draw_timesteps(B, schedule, x0.device, generator)
        m = draw_components(x0_flat, prior, self.prior_cfg.component, generator)
        eps = torch.randn(B, D, device=x0.device, generator=generator)
        x_t = q_sample(x0_flat, t, m, eps, prior, schedule)
        out = flatten_pose(self.denoiser(self.standardise(x_t), c, t.float(), self._m_input(m)))
        return (out - self._target(target_x0, x0_flat, eps, t, m)).square().mean()

    def _target(self, target_x0: Tensor, x0: Tensor, eps: Tensor, t: Tensor, m: Tensor) -> Tensor:
        """The regression target for `prediction`: standardised x0, w-space eps, or w-space v."""
        if self.diffusion.prediction == "x0":
            return target_x0
        if self.diffusion.prediction == "eps":
            return eps
        return v_target(self.prior.whiten(x0, m), eps, self.abar[t - 1])

    def _regress(self, c: Tensor) -> Tensor:
        """The `regress` reference: same trunk, state zeros, t fixed at 0. c: [B, 17, 2] -> [B, 17, 3] standardised."""
        B = c.shape[0]
        m = torch.zeros(B, dtype=torch.long, device=c.device)
        return self.denoiser(c.new_zeros(B, NUM_JOINTS, 3), c, c.new_zeros(B), self._m_input(m))

    def _m_input(self, m: Tensor) -> Tensor | None:
        return m if self.network_cfg.component_embedding else None

    # -- sampling --------------------------------------------------------------------------
    def denoiser_in_w(self, c: Tensor, m: Tensor) -> Denoise:
        """The sampler-facing closure denoise(w_t [B, 48], t [B] float) -> (w0_hat, eps_hat) in w-space of m [B]."""
        prior = self.prior

        def denoise(w_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
            x_t = prior.unwhiten(w_t, m)  # x_t = mu_m + L_m w_t
            out = flatten_pose(self.denoiser(self.standardise(x_t), c, t.float(), self._m_input(m)))
            return self._to_w(out, w_t, t, m)

        return denoise

    def _to_w(self, out: Tensor, w_t: Tensor, t: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
        """Network output [B, 48] -> (w0_hat, eps_hat) in w-space of m, through abar_t."""
        abar = abar_of_t(t.float(), self.schedule)
        pred = self.diffusion.prediction
        if pred == "x0":
            w0_hat = self._standardised_to_w(out, m)
            return w0_hat, eps_from_w0(w_t, w0_hat, abar)
        eps_hat = out if pred == "eps" else eps_from_v(w_t, out, abar)
        w0_hat = w0_from_eps(w_t, eps_hat, abar)
        if self.diffusion.clamp_x0:  # clamp in standardised space, then back to w
            w0_hat = self._standardised_to_w(self._standardised(self.prior.unwhiten(w0_hat, m)), m)
        return w0_hat, eps_hat

    def _standardised_to_w(self, z: Tensor, m: Tensor) -> Tensor:
        """z: [B, 48] standardised x0 -> whitened w0 of component m (clamped to the training range when clamp_x0)."""
        if self.diffusion.clamp_x0:
            z = torch.clamp(z, self.pose_low, self.pose_high)
        return self.prior.whiten(z * self.pose_std + self.pose_mean, m)

    @torch.no_grad()
    def sample(self, c: Tensor, cfg: SamplerConfig, generator: torch.Generator | None = None) -> Tensor:
        """N hypotheses per pose (docs/lifter.md §5, §6). c: [B, 17, 2] -> hyps [B, N, 17, 3] metres root-relative."""
        if self.diffusion.prediction == "regress":
            return unflatten_pose(self.destandardise(self._regress(c))).unsqueeze(1)
        B, N = c.shape[0], cfg.num_hypotheses
        c_rep = c.repeat_interleave(N, dim=0)  # hypotheses folded into the batch: [B * N, 17, 2]
        m = self.prior.sample_components(B * N, generator)  # m ~ pi per chain
        w_T = torch.randn(B * N, D, device=c.device, generator=generator)
        w_0 = SAMPLERS[cfg.name](self.denoiser_in_w(c_rep, m), w_T, self.schedule, cfg, generator)
        x = unflatten_pose(self.prior.unwhiten(w_0, m))  # x = mu_m + L_m w_0, root zero
        return x.reshape(B, N, NUM_JOINTS, 3)
