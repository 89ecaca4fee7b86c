"""Evaluation of a trained lifter on one split: MPJPE, P-MPJPE, N-MPJPE, per action, oracle best-of-N.

Metric definitions follow VideoPose3D (docs/lifter.md §7); hypotheses are aggregated with
`model.hypotheses.aggregate` (docs/lifter.md §6). The oracle columns pick the best hypothesis with the
ground truth and are reported separately; they are never a study's objective.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from model.config import SamplerConfig
from model.data import PoseSet
from model.hypotheses import aggregate, oracle_joint_error, oracle_pose_error
from model.lifter import DiffusionLifter
from model.metrics import ActionTable, action_table, mpjpe, n_mpjpe, p_mpjpe
from model.samplers import nfe as sampler_nfe

MM = 1000.0  # metres -> millimetres


@dataclass(frozen=True)
class EvalResult:
    """Errors of one split in mm; overall figures follow the split's protocol (per action on H36M)."""

    mpjpe_mm: float
    p_mpjpe_mm: float
    n_mpjpe_mm: float
    oracle_pose_mpjpe_mm: float  # best hypothesis per pose
    oracle_joint_mpjpe_mm: float  # best hypothesis per joint
    mpjpe_by_action: ActionTable
    p_mpjpe_by_action: ActionTable
    n_mpjpe_by_action: ActionTable
    nfe: int  # network evaluations per hypothesis
    num_hypotheses: int
    num_frames: int
    # [F] float32, MPJPE of each frame in split order (paired comparisons); derived, so not compared
    frame_mpjpe_mm: np.ndarray = field(compare=False, repr=False, default_factory=lambda: np.zeros(0, np.float32))


def lifter_nfe(lifter: DiffusionLifter, sampler: SamplerConfig) -> int:
    """Network evaluations per pose hypothesis (1 for the `regress` reference)."""
    if lifter.diffusion.prediction == "regress":
        return 1
    return int(sampler_nfe(sampler, lifter.schedule))


def _hypothesis_batches(
    lifter: DiffusionLifter, split: PoseSet, sampler: SamplerConfig, batch_size: int, generator: torch.Generator | None
) -> Iterator[tuple[PoseSet, Tensor, Tensor]]:
    """Per batch of frames: (frames, hyps [b, N, 17, 3] metres, aggregated pose [b, 17, 3] metres)."""
    for index in torch.arange(len(split), device=split.poses_3d.device).split(batch_size):
        part = split.subset(index)
        hyps = lifter.sample(part.keypoints_2d, sampler, generator)
        pose = aggregate(
            hyps,
            sampler.aggregate,
            keypoints_2d=part.keypoints_2d,
            root_3d=part.root_3d,
            intrinsic_norm=part.intrinsic_norm[part.camera_idx],
        )
        yield part, hyps, pose


@torch.no_grad()
def predict(
    lifter: DiffusionLifter,
    split: PoseSet,
    sampler: SamplerConfig,
    *,
    batch_size: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Aggregated predictions for every frame of split: [F, 17, 3] metres root-relative."""
    was_training = lifter.training
    lifter.eval()
    try:
        return torch.cat([pose for _, _, pose in _hypothesis_batches(lifter, split, sampler, batch_size, generator)])
    finally:
        lifter.train(was_training)


@torch.no_grad()
def evaluate(
    lifter: DiffusionLifter,
    split: PoseSet,
    sampler: SamplerConfig,
    *,
    batch_size: int = 1024,
    generator: torch.Generator | None = None,
) -> EvalResult:
    """Evaluate lifter on split with the given sampler; errors in mm."""
    was_training = lifter.training
    lifter.eval()
    poses, oracle_pose, oracle_joint, num_hyps = [], [], [], 1
    try:
        for part, hyps, pose in _hypothesis_batches(lifter, split, sampler, batch_size, generator):
            poses.append(pose)
            oracle_pose.append(oracle_pose_error(hyps, part.poses_3d))
            oracle_joint.append(oracle_joint_error(hyps, part.poses_3d))
            num_hyps = hyps.shape[1]
    finally:
        lifter.train(was_training)
    pred, target = torch.cat(poses).cpu(), split.poses_3d.cpu()
    frame_errors_m = [fn(pred, target) for fn in (mpjpe, p_mpjpe, n_mpjpe)]
    tables = [_table(errors, split) for errors in frame_errors_m]
    oracles = [_table(torch.cat(errs).cpu(), split) for errs in (oracle_pose, oracle_joint)]
    return EvalResult(
        mpjpe_mm=tables[0].overall_mm,
        p_mpjpe_mm=tables[1].overall_mm,
        n_mpjpe_mm=tables[2].overall_mm,
        oracle_pose_mpjpe_mm=oracles[0].overall_mm,
        oracle_joint_mpjpe_mm=oracles[1].overall_mm,
        mpjpe_by_action=tables[0],
        p_mpjpe_by_action=tables[1],
        n_mpjpe_by_action=tables[2],
        nfe=lifter_nfe(lifter, sampler),
        num_hypotheses=int(num_hyps),
        num_frames=len(split),
        frame_mpjpe_mm=(torch.as_tensor(frame_errors_m[0]).double().numpy() * MM).astype(np.float32),
    )


def _table(errors_m: Tensor, split: PoseSet) -> ActionTable:
    """Per-frame errors [F] metres -> per-action table in mm (split's protocol)."""
    errors_mm = torch.as_tensor(errors_m).double().numpy() * MM
    return action_table(errors_mm, split.action_idx.cpu().numpy(), split.actions, split.is_h36m)
