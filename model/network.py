"""GCN + attention denoiser (docs/lifter.md §4; GraFormer/DiffPose trunk, pre-norm residual blocks).

Per joint the input is concat(x_t, c - c_root, c_root) (7 features: the state, the root-relative
2D keypoint and the root's 2D position, computed here from c: [B, 17, 2]); a Chebyshev graph
convolution embeds it to width H, a learned per-joint embedding, the timestep (and optionally the
chain's component m) are added per joint, B blocks of [two graph convolutions, multi-head
self-attention over the 17 joints, a global layer] follow, and a final graph convolution reads
out 3 coordinates per joint. Activations are joint-major ``[J, B, H]`` inside, so the fixed
skeleton operator is one GEMM (see ``model.graph``).

Beyond the trunk of docs/lifter.md §4, two additions make it learn several times faster (BENCHMARKS.md,
"Learning speed"): the joint embedding (shared graph-conv weights and permutation-equivariant
attention otherwise cannot tell joints apart, e.g. left from right hip), and per block a global
layer (all 17 joints' features flattened, one Linear to width H, broadcast back to every joint),
since a joint's depth depends on the whole 2D configuration.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from model.config import NetworkConfig
from model.graph import ChebConv, scaled_laplacian
from model.skeleton import NUM_JOINTS, adjacency

IN_FEATURES = 7  # x_t (3, standardised) + c - c_root (2) + c_root (2), normalised screen coordinates
OUT_FEATURES = 3


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()


class TimestepEmbedding(nn.Module):
    """Sinusoidal embedding of a (fractional) timestep, Vaswani et al. 2017 section 3.5, then an MLP."""

    freqs: torch.Tensor  # buffer [H/2], registered in __init__

    def __init__(self, width: int, max_period: float = 10_000.0) -> None:
        super().__init__()
        half = width // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)  # [H/2], built once
        self.mlp = nn.Sequential(nn.Linear(2 * half, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t: [B] float timestep in [0, T] -> [B, H]."""
        angle = t.to(self.freqs.dtype)[:, None] * self.freqs[None, :]  # [B, H/2]
        return self.mlp(torch.cat([torch.sin(angle), torch.cos(angle)], dim=-1))


def condition_features(c: torch.Tensor) -> torch.Tensor:
    """c: [B, J, 2] normalised screen coords -> [B, J, 4]: (c - c_root, c_root), root = joint 0."""
    root = c[:, :1]  # [B, 1, 2]
    return torch.cat([c - root, root.expand_as(c)], dim=-1)


class GlobalMixing(nn.Module):
    """A global token from all joints: g = SiLU(W flatten(LN h) + b), broadcast back to every joint."""

    def __init__(self, width: int, num_joints: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.linear = nn.Linear(num_joints * width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: [J, B, H] joint-major -> [1, B, H] (added to every joint)."""
        J, B, H = h.shape
        flat = self.norm(h).transpose(0, 1).reshape(B, J * H)  # [B, J * H], joint-aware pooling
        return F.silu(self.linear(flat)).unsqueeze(0)


class JointAttention(nn.Module):
    """Multi-head self-attention over the joints (Vaswani et al. 2017) via scaled_dot_product_attention."""

    def __init__(self, width: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: [J, B, H] joint-major -> [J, B, H]."""
        J, B, H = h.shape
        # split (not unbind) so backward gathers the q/k/v gradients with one concat copy
        q, k, v = (
            z.view(J, B, self.num_heads, H // self.num_heads).permute(1, 2, 0, 3) for z in self.qkv(h).split(H, dim=-1)
        )  # each [B, heads, J, H/heads]
        out = F.scaled_dot_product_attention(q, k, v)  # [B, heads, J, H/heads]
        return self.proj(out.permute(2, 0, 1, 3).reshape(J, B, H))


class GraphBlock(nn.Module):
    """Pre-norm residual block: h += GC2(SiLU(GC1(LN h) + temb)); h += Attn(LN h); h += Global(h)."""

    def __init__(self, width: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.norm_gc = nn.LayerNorm(width)
        self.gc1 = ChebConv(width, width)
        self.gc2 = ChebConv(width, width)
        self.temb_proj = nn.Linear(width, width)
        self.norm_attn = nn.LayerNorm(width)
        self.attn = JointAttention(width, num_heads)
        self.mix = GlobalMixing(width, NUM_JOINTS)
        self.drop = _dropout(dropout)

    def forward(self, h: torch.Tensor, emb: torch.Tensor, L_tilde: torch.Tensor) -> torch.Tensor:
        """h: [J, B, H], emb: [B, H] timestep (+ component) embedding, L_tilde: [J, J] -> [J, B, H]."""
        u = self.gc1(self.norm_gc(h), L_tilde) + self.temb_proj(emb)  # temb added per joint
        h = h + self.drop(self.gc2(F.silu(u), L_tilde))  # graph-conv residual
        h = h + self.drop(self.attn(self.norm_attn(h)))  # attention residual
        return h + self.drop(self.mix(h))  # global residual, broadcast over the joints


class Denoiser(nn.Module):
    """GCN + attention denoiser of docs/lifter.md §4: (x_t, c, t, m) -> [B, 17, 3] in standardised pose space."""

    def __init__(self, cfg: NetworkConfig, num_components: int = 1) -> None:
        super().__init__()
        H = cfg.width
        self.register_buffer("L_tilde", scaled_laplacian(adjacency()))  # [J, J], built once
        self.embed = ChebConv(IN_FEATURES, H)
        self.joint_embedding = nn.Parameter(0.1 * torch.randn(NUM_JOINTS, 1, H))  # [J, 1, H] joint identity
        self.time = TimestepEmbedding(H)
        self.component = nn.Embedding(num_components, H) if cfg.component_embedding else None
        self.blocks = nn.ModuleList(GraphBlock(H, cfg.num_heads, cfg.dropout) for _ in range(cfg.num_blocks))
        self.norm_out = nn.LayerNorm(H)
        self.head = ChebConv(H, OUT_FEATURES)
        self.head.small_init_(std=1e-3)  # start near x0_hat = 0

    def forward(
        self, x_t: torch.Tensor, c: torch.Tensor, t: torch.Tensor, m: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x_t: [B, 17, 3] standardised (root slot zero), c: [B, 17, 2] normalised 2D keypoints,
        t: [B] float timestep (fractional allowed), m: [B] long component index or None -> [B, 17, 3].
        """
        emb = self.time(t)  # [B, H]
        if self.component is not None:
            if m is None:
                raise ValueError("Denoiser built with component_embedding needs m: [B] long")
            emb = emb + self.component(m)
        h = torch.cat([x_t, condition_features(c)], dim=-1).transpose(0, 1).contiguous()  # [J, B, 7] joint-major
        h = self.embed(h, self.L_tilde) + self.joint_embedding + emb  # [J, B, H]; t embedding added per joint
        for block in self.blocks:
            h = block(h, emb, self.L_tilde)
        return self.head(self.norm_out(h), self.L_tilde).transpose(0, 1).contiguous()
