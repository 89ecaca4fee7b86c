"""The one in-memory form of a dataset split: float32 tensors plus per-frame indices."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch


@dataclass(frozen=True)
class PoseSet:
    """One split of frames, ready for training (docs/data.md).

    poses_3d: [F, 17, 3] float32 camera frame, root-relative (root row exactly 0), metres;
    root_3d: [F, 3] float32 root position in the camera frame, metres;
    keypoints_2d: [F, 17, 2] float32 normalised screen coordinates;
    subject_idx, action_idx, camera_idx: [F] int64 indices into subjects, actions, intrinsic_norm rows;
    intrinsic_norm: [C, 9] float32 per camera (see model.camera.normalised_intrinsic);
    camera_names: [C] names of the intrinsic_norm rows (camera id, or "subject/id" where a
    subject's camera of that id has other intrinsics); is_h36m selects the action-wise metric protocol.
    """

    poses_3d: torch.Tensor
    root_3d: torch.Tensor
    keypoints_2d: torch.Tensor
    subject_idx: torch.Tensor
    action_idx: torch.Tensor
    camera_idx: torch.Tensor
    subjects: tuple[str, ...]
    actions: tuple[str, ...]
    intrinsic_norm: torch.Tensor
    is_h36m: bool = False
    camera_names: tuple[str, ...] = ()

    PER_FRAME = ("poses_3d", "root_3d", "keypoints_2d", "subject_idx", "action_idx", "camera_idx")

    def __len__(self) -> int:
        return int(self.poses_3d.shape[0])

    def subset(self, index: torch.Tensor) -> PoseSet:
        """The frames at index ([n] int64 or [F] bool); names and intrinsics are kept whole."""
        index = index.to(self.poses_3d.device)
        return replace(self, **{name: getattr(self, name)[index] for name in self.PER_FRAME})

    def seeded_subset(self, num_frames: int | None, seed: int) -> PoseSet:
        """A fixed random subset of at most num_frames frames (in frame order); None: every frame."""
        if num_frames is None or num_frames >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        return self.subset(torch.randperm(len(self), generator=g)[:num_frames].sort().values)

    def to(self, device: torch.device | str) -> PoseSet:
        """A copy with every tensor on device."""
        moved = {
            f.name: getattr(self, f.name).to(device)
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return replace(self, **moved)


@dataclass(frozen=True)
class Splits:
    """Train / validation / test splits of one dataset.

    fingerprint: stable hash of the source file(s), the split and the keypoints (the GMM cache key).
    """

    train: PoseSet
    val: PoseSet
    test: PoseSet
    name: str
    fingerprint: str
