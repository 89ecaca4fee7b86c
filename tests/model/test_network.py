"""GCN + attention denoiser (model.network, docs/lifter.md §4)."""

from __future__ import annotations

import pytest
import torch

import model.graph
import model.network
from model.config import NetworkConfig
from model.network import Denoiser, GlobalMixing, TimestepEmbedding, condition_features
from model.skeleton import JOINTS_LEFT, JOINTS_RIGHT, NUM_JOINTS

torch.set_num_threads(1)
SMALL = NetworkConfig(width=32, num_blocks=2, num_heads=2)


def inputs(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, NUM_JOINTS, 3, generator=g)
    x_t[:, 0] = 0.0  # root slot
    c = torch.rand(batch, NUM_JOINTS, 2, generator=g) * 2 - 1
    t = torch.rand(batch, generator=g) * 50
    return x_t, c, t


@pytest.mark.parametrize(
    "cfg",
    [
        NetworkConfig(width=16, num_blocks=1, num_heads=1),
        NetworkConfig(width=32, num_blocks=2, num_heads=4, dropout=0.1),
        NetworkConfig(width=24, num_blocks=3, num_heads=3, component_embedding=True),
    ],
)
def test_output_shape(cfg):
    net = Denoiser(cfg, num_components=3)
    x_t, c, t = inputs(5)
    m = torch.tensor([0, 1, 2, 0, 1])
    out = net(x_t, c, t, m)
    assert out.shape == (5, NUM_JOINTS, 3) and out.dtype == torch.float32
    assert out.is_contiguous() and torch.isfinite(out).all()


def test_default_config_builds_and_runs():
    out = Denoiser(NetworkConfig())(*inputs(2))
    assert out.shape == (2, NUM_JOINTS, 3)


def test_graph_operator_is_a_buffer_and_never_rebuilt(monkeypatch):
    net = Denoiser(SMALL)
    assert "L_tilde" in dict(net.named_buffers()) and "L_tilde" in net.state_dict()
    ptr = net.L_tilde.data_ptr()

    def fail(*args, **kwargs):
        raise AssertionError("graph operator rebuilt during forward")

    monkeypatch.setattr(model.network, "scaled_laplacian", fail)
    monkeypatch.setattr(model.graph, "scaled_laplacian", fail)
    monkeypatch.setattr(model.network, "adjacency", fail)
    for _ in range(2):
        net(*inputs(3)).sum().backward()
    assert net.L_tilde.data_ptr() == ptr and not net.L_tilde.requires_grad


def test_gradients_reach_every_parameter():
    net = Denoiser(NetworkConfig(width=16, num_blocks=2, num_heads=2, component_embedding=True), num_components=2)
    x_t, c, t = inputs(8)
    net(x_t, c, t, torch.arange(8) % 2).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_overfits_a_tiny_batch():
    torch.manual_seed(0)
    net = Denoiser(NetworkConfig(width=32, num_blocks=1, num_heads=2))
    x_t, c, t = inputs(16)
    target = torch.randn(16, NUM_JOINTS, 3, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        loss = (net(x_t, c, t) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10


def test_output_depends_on_every_input():
    torch.manual_seed(0)
    net = Denoiser(SMALL).eval()
    x_t, c, t = inputs(4)
    out = net(x_t, c, t)
    assert not torch.allclose(out, net(x_t, c, t + 0.5), rtol=0, atol=1e-7)  # fractional t
    assert not torch.allclose(out, net(x_t, c.flip(1), t), rtol=0, atol=1e-7)
    assert not torch.allclose(out, net(x_t * 0.5, c, t), rtol=0, atol=1e-7)


def test_samples_in_a_batch_do_not_interact():
    torch.manual_seed(0)
    net = Denoiser(SMALL).eval()
    x_t, c, t = inputs(6)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    assert torch.allclose(net(x_t, c, t)[perm], net(x_t[perm], c[perm], t[perm]), atol=1e-5)
    assert torch.allclose(net(x_t, c, t)[:2], net(x_t[:2], c[:2], t[:2]), atol=1e-5)


def test_component_embedding_is_optional():
    torch.manual_seed(0)
    plain = Denoiser(SMALL, num_components=3).eval()
    assert not any("component" in name for name, _ in plain.named_parameters())
    x_t, c, t = inputs(3)
    assert torch.equal(plain(x_t, c, t), plain(x_t, c, t, torch.tensor([0, 1, 2])))  # m ignored

    cfg = NetworkConfig(width=32, num_blocks=2, num_heads=2, component_embedding=True)
    with_m = Denoiser(cfg, num_components=3).eval()
    a = with_m(x_t, c, t, torch.tensor([0, 0, 0]))
    assert not torch.allclose(a, with_m(x_t, c, t, torch.tensor([1, 2, 1])), rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="component"):
        with_m(x_t, c, t, None)


def test_deterministic_given_a_seed():
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        net = Denoiser(NetworkConfig(width=16, num_blocks=2, num_heads=2, dropout=0.2))
        outs.append(net(*inputs(4)))  # train mode: dropout draws from the seeded generator too
    assert torch.equal(outs[0], outs[1])


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    net = Denoiser(NetworkConfig(width=16, num_blocks=2, num_heads=2, dropout=0.5))
    x = inputs(4)
    assert not torch.equal(net(*x), net(*x))
    net.eval()
    assert torch.equal(net(*x), net(*x))


def test_timestep_embedding_is_sinusoidal_at_its_input():
    emb = TimestepEmbedding(8)
    assert emb.freqs.shape == (4,) and emb.freqs[0] == 1.0 and torch.all(emb.freqs.diff() < 0)
    assert emb(torch.tensor([0.0, 1.5, 49.0])).shape == (3, 8)


def test_condition_features_are_root_relative_plus_the_root():
    _, c, _ = inputs(3)
    shift = torch.tensor([0.3, -0.2])
    feats, moved = condition_features(c), condition_features(c + shift)
    assert feats.shape == (3, NUM_JOINTS, 4)
    assert torch.allclose(feats[..., :2], c - c[:, :1]) and torch.all(feats[:, 0, :2] == 0)
    assert torch.allclose(moved[..., :2], feats[..., :2], atol=1e-6)  # image translation only moves the root
    assert torch.allclose(moved[..., 2:], feats[..., 2:] + shift, atol=1e-6)


def test_left_and_right_joints_are_told_apart():
    """With identical inputs at every joint the skeleton is left/right symmetric; the joint embedding breaks it."""
    torch.manual_seed(0)
    net = Denoiser(SMALL).eval()
    x_t, c = torch.zeros(2, NUM_JOINTS, 3), torch.full((2, NUM_JOINTS, 2), 0.1)
    out = net(x_t, c, torch.tensor([0.0, 10.0]))
    for left, right in zip(JOINTS_LEFT, JOINTS_RIGHT):
        assert not torch.allclose(out[:, left], out[:, right], rtol=0, atol=1e-6)


def test_global_mixing_sees_every_joint_and_broadcasts():
    torch.manual_seed(0)
    mix = GlobalMixing(8, NUM_JOINTS)
    h = torch.randn(NUM_JOINTS, 4, 8)
    g = mix(h)
    assert g.shape == (1, 4, 8)
    for j in (0, 10, 16):  # any single joint's features change the global token
        moved = h.clone()
        moved[j] = torch.randn(4, 8)
        assert not torch.allclose(mix(moved), g, rtol=0, atol=1e-6)
    assert torch.allclose(mix(h[:, :2]), g[:, :2], atol=1e-6)  # per sample, no batch mixing
