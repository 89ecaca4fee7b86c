"""Graph operators on the skeleton and the Chebyshev graph convolution (Defferrard et al. 2016).

Activations inside the denoiser are joint-major, ``h: [J, B, C]``, so a fixed [J, J] operator
is one matrix product over the flattened ``[J, B * C]`` view (no batched small GEMMs, no copies).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def scaled_laplacian(adj: np.ndarray) -> torch.Tensor:
    """Chebyshev's L_tilde = 2 L / lambda_max - I with L = I - D^-1/2 A D^-1/2.

    adj: [J, J] symmetric 0/1 adjacency without self loops (every joint has a neighbour).
    Returns float32 [J, J]; its spectrum lies in [-1, 1].
    """
    A = np.asarray(adj, dtype=np.float64)
    d_inv_sqrt = 1.0 / np.sqrt(A.sum(axis=1))
    L = np.eye(len(A)) - d_inv_sqrt[:, None] * A * d_inv_sqrt[None, :]  # normalised Laplacian
    lambda_max = float(np.linalg.eigvalsh(L).max())
    return torch.from_numpy(2.0 / lambda_max * L - np.eye(len(A))).float()


def apply_operator(op: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """op: [J, J], h: [J, B, C] -> op h over the joint axis, [J, B, C] (one GEMM)."""
    J = h.shape[0]
    return torch.mm(op, h.reshape(J, -1)).view(h.shape)


class ChebConv(nn.Module):
    """Chebyshev graph convolution of order 2 (Defferrard et al. 2016): T0 x W0 + T1 x W1 + b,
    with T0 = I and T1 = L_tilde; the per-order weights are one Linear over concat(T0 x, T1 x).
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(2 * in_features, out_features)  # [W0 | W1], one GEMM
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def small_init_(self, std: float) -> None:
        """Re-draw the weights from N(0, std^2) (a small output layer at the start of training)."""
        nn.init.normal_(self.linear.weight, std=std)

    def forward(self, h: torch.Tensor, L_tilde: torch.Tensor) -> torch.Tensor:
        """h: [J, B, C_in] joint-major, contiguous; L_tilde: [J, J] -> [J, B, C_out]."""
        return self.linear(torch.cat([h, apply_operator(L_tilde, h)], dim=-1))
