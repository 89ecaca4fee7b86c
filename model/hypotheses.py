"""Aggregating N hypotheses per pose into one estimate, and oracle (best-of-N) errors (docs/lifter.md §6).

Hypotheses are root-relative poses hyps: [B, N, J, 3] metres. Oracle figures pick the best
hypothesis with the ground truth in hand: report them in their own columns, never optimise them.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from model.camera import project_to_2d
from model.errors import PoseDiffError
from model.metrics import mpjpe

AGGREGATIONS = ("mean", "median", "reproj")


def aggregate(
    hyps: Tensor,
    how: Literal["mean", "median", "reproj"],
    *,
    keypoints_2d: Tensor | None = None,
    root_3d: Tensor | None = None,
    intrinsic_norm: Tensor | None = None,
) -> Tensor:
    """hyps: [B, N, J, 3] metres root-relative -> [B, J, 3]: mean, per-coordinate median, or reproj.

    `reproj` needs keypoints_2d [B, J, 2] (normalised screen coordinates), root_3d [B, 3] (camera
    metres) and intrinsic_norm [B, 9]; see :func:`reproj_select`.
    """
    if how == "mean":
        return hyps.mean(dim=1)
    if how == "median":
        return hyps.quantile(0.5, dim=1)  # per coordinate; the midpoint for even N
    if how == "reproj":
        if keypoints_2d is None or root_3d is None or intrinsic_norm is None:
            raise PoseDiffError("sampler.aggregate=reproj", "keypoints_2d, root_3d and intrinsic_norm", "None")
        return reproj_select(hyps, keypoints_2d, root_3d, intrinsic_norm)
    raise PoseDiffError("sampler.aggregate", "one of " + ", ".join(AGGREGATIONS), repr(how))


def reproj_select(hyps: Tensor, keypoints_2d: Tensor, root_3d: Tensor, intrinsic_norm: Tensor) -> Tensor:
    """D3DP's joint-wise reprojection selection (Shan et al. 2023, JPMA): per joint, the hypothesis
    whose 2D projection of (hyp + root) is closest to the input keypoint.

    hyps: [B, N, J, 3] metres root-relative; keypoints_2d: [B, J, 2] normalised; root_3d: [B, 3]
    camera-frame metres; intrinsic_norm: [B, 9] -> [B, J, 3]. As in D3DP, the root's camera-space
    position comes from the ground truth (the lifter estimates root-relative poses only), so this
    aggregation uses privileged information that a deployed system would have to estimate.
    """
    B, N, J, _ = hyps.shape
    camera_xyz = hyps + root_3d[:, None, None, :]  # back to the camera frame
    uv = project_to_2d(camera_xyz, intrinsic_norm[:, None, :].expand(B, N, -1))  # [B, N, J, 2]
    reproj_err = torch.linalg.vector_norm(uv - keypoints_2d[:, None], dim=-1)  # [B, N, J]
    best = reproj_err.argmin(dim=1)  # [B, J] hypothesis index per joint
    return hyps.gather(1, best[:, None, :, None].expand(B, 1, J, 3)).squeeze(1)


def oracle_pose_error(hyps: Tensor, target: Tensor) -> Tensor:
    """Best hypothesis per pose: min_n MPJPE(hyps[:, n], target). hyps [B, N, J, 3], target [B, J, 3] -> [B], input units."""
    return mpjpe(hyps, target[:, None]).min(dim=1).values


def oracle_joint_error(hyps: Tensor, target: Tensor) -> Tensor:
    """Best hypothesis per joint: mean_j min_n |hyps[:, n, j] - target[:, j]|. [B, N, J, 3], [B, J, 3] -> [B]."""
    joint_err = torch.linalg.vector_norm(hyps - target[:, None], dim=-1)  # [B, N, J]
    return joint_err.min(dim=1).values.mean(dim=-1)
