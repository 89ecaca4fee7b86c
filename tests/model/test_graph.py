"""Skeleton graph operator and Chebyshev graph convolution (model.graph)."""

from __future__ import annotations

import numpy as np
import torch

from model.graph import ChebConv, apply_operator, scaled_laplacian
from model.skeleton import NUM_JOINTS, adjacency, bones

torch.set_num_threads(1)


def test_scaled_laplacian_is_symmetric_with_spectrum_in_unit_interval():
    L_tilde = scaled_laplacian(adjacency()).double()
    assert L_tilde.shape == (NUM_JOINTS, NUM_JOINTS)
    assert torch.allclose(L_tilde, L_tilde.T)
    eig = torch.linalg.eigvalsh(L_tilde)
    assert eig.min() >= -1 - 1e-6 and abs(eig.max().item() - 1.0) < 1e-6


def test_scaled_laplacian_sparsity_follows_the_bones():
    L_tilde = scaled_laplacian(adjacency()).numpy()
    off = ~np.eye(NUM_JOINTS, dtype=bool)
    edges = np.zeros_like(off)
    for p, j in bones():
        edges[p, j] = edges[j, p] = True
    assert np.all(L_tilde[off & ~edges] == 0)
    assert np.all(L_tilde[edges] < 0)  # -D^-1/2 A D^-1/2 scaled by 2/lambda_max


def test_apply_operator_acts_on_the_joint_axis():
    g = torch.Generator().manual_seed(0)
    op = torch.randn(NUM_JOINTS, NUM_JOINTS, generator=g)
    h = torch.randn(NUM_JOINTS, 4, 6, generator=g)  # [J, B, C]
    expected = torch.einsum("jk,kbc->jbc", op, h)
    assert torch.allclose(apply_operator(op, h), expected, atol=1e-5)


def test_cheb_conv_matches_per_joint_formula():
    torch.manual_seed(0)
    conv = ChebConv(5, 7)
    L_tilde = scaled_laplacian(adjacency())
    h = torch.randn(NUM_JOINTS, 3, 5)
    out = conv(h, L_tilde)
    W0, W1 = conv.linear.weight.split(5, dim=1)
    b = conv.linear.bias
    for j in (0, 8, 16):
        neighbours = sum(L_tilde[j, k] * h[k] for k in range(NUM_JOINTS))  # T1 x at joint j
        expected = h[j] @ W0.T + b + neighbours @ W1.T
        assert torch.allclose(out[j], expected, atol=1e-5)
