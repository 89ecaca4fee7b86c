"""`posediff-study data inspect`: a dataset's summary (rich tables) and a picture of its skeletons."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from model.data import PoseSet, Splits
from model.skeleton import JOINT_NAMES, JOINTS_LEFT, JOINTS_RIGHT, PARENTS, bones

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Bones from the ankle up to the head joint; stature ~ their sum / 0.9 (ankle height and crown,
# Winter 2009 proportions).
_STATURE_CHAIN = (3, 2, 7, 8, 9, 10)
_CHAIN_FRACTION = 0.9


def named_splits(splits: Splits) -> list[tuple[str, PoseSet]]:
    """[(split name, poses)] for train, val and test."""
    return [("train", splits.train), ("val", splits.val), ("test", splits.test)]


def bone_lengths_m(poses_3d: torch.Tensor) -> np.ndarray:
    """poses_3d [F, 17, 3] metres -> [F, 17] length of the bone ending at each joint (root 0)."""
    p = poses_3d.double().numpy()
    parents = [max(parent, 0) for parent in PARENTS]
    return np.linalg.norm(p - p[:, parents], axis=-1)


def subject_bone_stats(split: PoseSet) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Subject name -> (mean [17], std [17]) bone lengths in metres over all its frames."""
    lengths = bone_lengths_m(split.poses_3d)
    stats = {}
    for k, subject in enumerate(split.subjects):
        mine = lengths[(split.subject_idx == k).numpy()]
        if len(mine):
            stats[subject] = (mine.mean(0), mine.std(0))
    return stats


def estimated_stature_m(mean_lengths_m: np.ndarray) -> float:
    """Stature estimate from mean bone lengths [17]: the ankle-to-head chain / 0.9."""
    return float(mean_lengths_m[list(_STATURE_CHAIN)].sum() / _CHAIN_FRACTION)


def _subject_table(splits: Splits) -> Table:
    table = Table(title=f"dataset {splits.name} (fingerprint {splits.fingerprint[:12]})")
    for column in ("split", "subject", "actions", "frames", "cameras", "camera-frames", "stature (m, est.)"):
        table.add_column(column, justify="left" if column in ("split", "subject") else "right")
    for split_name, split in named_splits(splits):
        stats = subject_bone_stats(split)
        for k, subject in enumerate(split.subjects):
            mine = split.subject_idx == k
            if subject not in stats:
                continue
            num_cameras = int(torch.unique(split.camera_idx[mine]).numel())
            num_actions = int(torch.unique(split.action_idx[mine]).numel())
            num_camera_frames = int(mine.sum())
            table.add_row(
                split_name,
                subject,
                str(num_actions),
                str(num_camera_frames // num_cameras),
                str(num_cameras),
                str(num_camera_frames),
                f"{estimated_stature_m(stats[subject][0]):.2f}",
            )
    return table


def _bone_table(splits: Splits) -> Table:
    stats = {s: v for _, split in named_splits(splits) for s, v in subject_bone_stats(split).items()}
    table = Table(title="bone lengths per subject, mm (mean ± std over frames)")
    table.add_column("bone", no_wrap=True)
    for subject in stats:
        table.add_column(subject, justify="right")
    for parent, child in bones():
        cells = [f"{1000 * m[child]:.0f}±{1000 * s[child]:.1f}" for m, s in stats.values()]
        table.add_row(f"{JOINT_NAMES[parent]}-{JOINT_NAMES[child]}", *cells)
    return table


def print_summary(splits: Splits, console: Console) -> None:
    """Subjects, actions, frames, cameras and bone-length statistics of a loaded dataset."""
    for split_name, split in named_splits(splits):
        subjects = [split.subjects[i] for i in torch.unique(split.subject_idx).tolist()]
        actions = [split.actions[i] for i in torch.unique(split.action_idx).tolist()]
        console.print(
            f"[bold]{split_name}[/]: {len(split)} camera-frames; subjects {', '.join(subjects)}; "
            f"actions {', '.join(actions)}"
        )
    console.print(_subject_table(splits))
    console.print(_bone_table(splits))


def _limb_colour(joint: int) -> str:
    return "tab:blue" if joint in JOINTS_LEFT else "tab:red" if joint in JOINTS_RIGHT else "black"


def _example_frames(split: PoseSet, action: int, num: int = 3) -> torch.Tensor:
    """Indices of num frames spread over the first subject's sequence of action, first camera."""
    mine = (split.subject_idx == split.subject_idx[0]) & (split.action_idx == action)
    if not mine.any():
        return torch.zeros(0, dtype=torch.long)
    index = torch.nonzero(mine & (split.camera_idx == split.camera_idx[mine].min())).flatten()
    return index[torch.linspace(0, len(index) - 1, num + 2).round().long()[1:-1]]


def _draw_3d(ax: Axes, poses_m: np.ndarray, title: str) -> None:
    """poses_m [n, 17, 3] root-relative camera frame; drawn upright (up = -y, depth = z)."""
    for k, pose in enumerate(poses_m):
        alpha = 0.35 + 0.65 * (k + 1) / len(poses_m)
        for parent, child in bones():
            seg = pose[[parent, child]]
            ax.plot(seg[:, 0], seg[:, 2], -seg[:, 1], color=_limb_colour(child), alpha=alpha, lw=2)
    ax.set(xlim=(-0.8, 0.8), ylim=(-0.8, 0.8), zlim=(-0.9, 0.9), title=title)
    ax.set_box_aspect((1, 1, 1), zoom=1.3)
    ax.view_init(elev=10, azim=-80)
    ax.set_xticklabels([]), ax.set_yticklabels([]), ax.set_zticklabels([])


def _draw_2d(ax: Axes, keypoints: np.ndarray, title: str) -> None:
    """keypoints [n, 17, 2] normalised screen coordinates (v points down)."""
    for k, kp in enumerate(keypoints):
        alpha = 0.35 + 0.65 * (k + 1) / len(keypoints)
        for parent, child in bones():
            seg = kp[[parent, child]]
            ax.plot(seg[:, 0], -seg[:, 1], color=_limb_colour(child), alpha=alpha, lw=1.5)
    lo, hi = keypoints.reshape(-1, 2).min(0), keypoints.reshape(-1, 2).max(0)
    centre, half = (lo + hi) / 2, max(hi - lo) / 2 + 0.02
    ax.set(xlim=(centre[0] - half, centre[0] + half), ylim=(-centre[1] - half, -centre[1] + half))
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)


def save_plot(splits: Splits, png: Path, max_actions: int = 8) -> Path:
    """Skeletons of the first training subject: 3D views of up to max_actions activities (top rows)
    and the 2D keypoints of its first camera for four of them (bottom row), written to png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    split = splits.train
    actions = [a for a in range(len(split.actions)) if len(_example_frames(split, a))][:max_actions]
    num_cols = min(4, max(1, len(actions)))
    num_rows_3d = -(-len(actions) // num_cols)
    fig = plt.figure(figsize=(3.2 * num_cols, 3.2 * (num_rows_3d + 1)))
    subject = split.subjects[int(split.subject_idx[0])]
    for k, action in enumerate(actions):
        frames = _example_frames(split, action)
        ax = fig.add_subplot(num_rows_3d + 1, num_cols, k + 1, projection="3d")
        _draw_3d(ax, split.poses_3d[frames].numpy(), f"{subject} {split.actions[action]} (3D)")
    for k, action in enumerate(actions[:num_cols]):
        frames = _example_frames(split, action)
        ax = fig.add_subplot(num_rows_3d + 1, num_cols, num_rows_3d * num_cols + k + 1)
        camera = split.camera_names[int(split.camera_idx[frames[0]])] if split.camera_names else "camera 0"
        _draw_2d(ax, split.keypoints_2d[frames].numpy(), f"{split.actions[action]}: 2D, {camera}")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png
