"""PoseSet: subset keeps per-frame rows aligned and names whole; to() moves every tensor."""

from __future__ import annotations

import torch

from model.data.dataset import PoseSet

torch.set_num_threads(1)


def _poseset(num_frames: int = 6) -> PoseSet:
    frame = torch.arange(num_frames)
    return PoseSet(
        poses_3d=frame.float()[:, None, None].expand(-1, 17, 3).clone(),
        root_3d=frame.float()[:, None].expand(-1, 3).clone(),
        keypoints_2d=frame.float()[:, None, None].expand(-1, 17, 2).clone(),
        subject_idx=frame % 2,
        action_idx=frame % 3,
        camera_idx=frame % 4,
        subjects=("A", "B"),
        actions=("x", "y", "z"),
        intrinsic_norm=torch.zeros(4, 9),
        camera_names=("c0", "c1", "c2", "c3"),
    )


def test_subset_by_index_and_mask_keeps_rows_aligned() -> None:
    s = _poseset()
    sub = s.subset(torch.tensor([4, 1]))
    assert len(sub) == 2 and sub.poses_3d[:, 0, 0].tolist() == [4.0, 1.0]
    assert sub.root_3d[:, 2].tolist() == [4.0, 1.0] and sub.keypoints_2d[:, 5, 1].tolist() == [4.0, 1.0]
    assert (
        sub.subject_idx.tolist() == [0, 1] and sub.action_idx.tolist() == [1, 1] and sub.camera_idx.tolist() == [0, 1]
    )
    assert sub.subjects == s.subjects and sub.intrinsic_norm.shape == (4, 9)
    masked = s.subset(s.action_idx == 2)
    assert masked.poses_3d[:, 0, 0].tolist() == [2.0, 5.0]


def test_to_moves_every_tensor() -> None:
    moved = _poseset().to("meta")
    assert all(
        t.device.type == "meta"
        for t in (
            moved.poses_3d,
            moved.root_3d,
            moved.keypoints_2d,
            moved.subject_idx,
            moved.action_idx,
            moved.camera_idx,
            moved.intrinsic_norm,
        )
    )
    assert moved.actions == ("x", "y", "z")


def test_seeded_subset_is_fixed_ordered_and_bounded() -> None:
    s = _poseset(50)
    a, b = s.seeded_subset(10, seed=3), s.seeded_subset(10, seed=3)
    frames = a.poses_3d[:, 0, 0].tolist()
    assert len(a) == 10 and frames == b.poses_3d[:, 0, 0].tolist() and frames == sorted(frames)
    assert frames != s.seeded_subset(10, seed=4).poses_3d[:, 0, 0].tolist()
    assert a.subject_idx.tolist() == [int(f) % 2 for f in frames]
    assert s.seeded_subset(None, seed=0) is s and s.seeded_subset(500, seed=0) is s
