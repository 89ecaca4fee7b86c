"""Benchmark: our Denoiser vs DiffPose's GCNdiff on CPU, same width / blocks / heads, same process.

Figures (one JSON line each), medians over interleaved rounds (the order alternates per round):
  denoiser_train:  forward + MSE backward + AdamW step at batch B, samples/s;
  denoiser_sample: forward only (no grad, eval) at batch B x N hypotheses, poses/s;
  *_ratio:         ours / gcndiff throughput, the median of the per-round ratios (robust to
                   shared-CPU noise), from wall time and from process CPU time ("cpu_s": median CPU
                   seconds per call; with one thread the figure least disturbed by other processes).
GCNdiff is built as DiffPose builds it: its bundled H36M config (width, layers and heads overridden
by the flags), `adj_mx_from_edges` over the 16 H36M bones, x: [B, 17, 5] (uvxyz) in and out.
Optional dependency (not a project dependency):  pip install --no-deps diffpose-video scipy
    python bench/bench_denoiser.py [--threads 1 2] [--batch 1024] [--rounds 5] [--dropout 0.25]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import types
from collections.abc import Callable

import torch
import yaml
from torch import nn

from model.config import NetworkConfig
from model.network import Denoiser
from model.skeleton import NUM_JOINTS, bones

Step = Callable[[], None]


def build_gcndiff(width: int, num_blocks: int, num_heads: int, dropout: float) -> nn.Module:
    """DiffPose's GCNdiff with its own config file and adjacency helper."""
    try:
        from diffpose_video import configs_dir
        from diffpose_video.models.gcndiff import GCNdiff, adj_mx_from_edges
    except ImportError:
        sys.exit("bench_denoiser: needs DiffPose's GCNdiff: pip install --no-deps diffpose-video scipy")

    def namespace(d: dict) -> types.SimpleNamespace:
        return types.SimpleNamespace(**{k: namespace(v) if isinstance(v, dict) else v for k, v in d.items()})

    raw = yaml.safe_load((configs_dir() / "human36m_diffpose_uvxyz_gt.yml").read_text())
    raw["model"].update(hid_dim=width, num_layer=num_blocks, n_head=num_heads, dropout=dropout)
    adj = adj_mx_from_edges(num_pts=NUM_JOINTS, edges=torch.tensor(bones()), sparse=False)  # DiffPose's edges
    return GCNdiff(adj, namespace(raw))


def forward_fn(net: nn.Module, impl: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """x: [B, 17, 5] = (x_t, c) per joint, t: [B] -> the network's output."""
    if impl == "ours":
        return lambda x, t: net(x[..., :3], x[..., 3:], t)
    mask = torch.ones(1, 1, NUM_JOINTS, dtype=torch.bool)  # GraFormer's all-true src_mask
    return lambda x, t: net(x, mask, t, 0)


def steps(net: nn.Module, impl: str, batch: int, num_hypotheses: int) -> tuple[Step, Step]:
    """(train step, sampling forward) closures over fixed random inputs for one implementation."""
    g = torch.Generator().manual_seed(0)
    x_train, t_train = torch.randn(batch, NUM_JOINTS, 5, generator=g), torch.rand(batch, generator=g) * 50
    x_sample = torch.randn(batch * num_hypotheses, NUM_JOINTS, 5, generator=g)  # N folded into the batch
    t_sample = torch.rand(batch * num_hypotheses, generator=g) * 50
    forward, opt = forward_fn(net, impl), torch.optim.AdamW(net.parameters(), lr=1e-4)

    def train_step() -> None:
        net.train()
        loss = forward(x_train, t_train).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sample_step() -> None:
        net.eval()
        with torch.inference_mode():
            forward(x_sample, t_sample)

    return train_step, sample_step


def interleaved(fns: dict[str, Step], rounds: int) -> dict[str, list[tuple[float, float]]]:
    """(wall s, process CPU s) per call of each fn, alternating the order each round; one warm-up call each."""
    for fn in fns.values():
        fn()
    seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for r in range(rounds):
        for name in list(fns) if r % 2 == 0 else list(fns)[::-1]:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            fns[name]()
            seconds[name].append((time.perf_counter() - wall0, time.process_time() - cpu0))
    return seconds


def report(bench: str, unit: str, seconds: dict[str, list[tuple[float, float]]], per_call: int, extra: dict) -> None:
    """One JSON line per implementation (median wall throughput, median CPU s per call) and the ratio."""
    for impl, s in seconds.items():
        wall, cpu = statistics.median(w for w, _ in s), statistics.median(c for _, c in s)
        print(
            json.dumps(
                {"bench": bench, "impl": impl, **extra, unit: round(per_call / wall, 1), "cpu_s": round(cpu, 3)}
            ),
            flush=True,
        )
    paired = [g[0] / o[0] for o, g in zip(seconds["ours"], seconds["gcndiff"])]
    paired_cpu = [g[1] / o[1] for o, g in zip(seconds["ours"], seconds["gcndiff"])]
    print(
        json.dumps(
            {
                "bench": f"{bench}_ratio",
                **extra,
                "ours_over_gcndiff": round(statistics.median(paired), 2),
                "cpu_ours_over_gcndiff": round(statistics.median(paired_cpu), 2),
                "rounds": len(paired),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--num-hypotheses", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--width", type=int, default=96)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--dropout", type=float, default=0.25, help="GCNdiff's config value; ours uses it too")
    args = parser.parse_args()
    torch.manual_seed(0)
    nets = {
        "ours": Denoiser(
            NetworkConfig(width=args.width, num_blocks=args.blocks, num_heads=args.heads, dropout=args.dropout)
        ),
        "gcndiff": build_gcndiff(args.width, args.blocks, args.heads, args.dropout),
    }
    closures = {impl: steps(net, impl, args.batch, args.num_hypotheses) for impl, net in nets.items()}
    for threads in args.threads:
        torch.set_num_threads(threads)
        extra = {"threads": threads, "batch": args.batch}
        train = interleaved({impl: c[0] for impl, c in closures.items()}, args.rounds)
        report("denoiser_train", "samples_per_s", train, args.batch, extra)
        sample = interleaved({impl: c[1] for impl, c in closures.items()}, args.rounds)
        report(
            "denoiser_sample",
            "poses_per_s",
            sample,
            args.batch * args.num_hypotheses,
            {**extra, "num_hypotheses": args.num_hypotheses},
        )


if __name__ == "__main__":
    main()
