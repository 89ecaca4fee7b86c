"""PoseSet assembly: camera frame, root-relative, 2D aligned with the 3D it came from, camera rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from model.camera import camera_to_world, project_to_2d
from model.data.assemble import build_poseset, camera_table
from model.data.custom import read_custom
from model.data.h36m import read_h36m

torch.set_num_threads(1)


def test_frames_are_camera_frame_root_relative_and_reproject_to_their_2d(h36m_dir: Callable[..., Path]) -> None:
    raw = read_h36m(h36m_dir(), "gt")
    table = camera_table(raw.cameras)
    s = build_poseset(raw, ("S5", "S9"), table)
    assert len(s) == 2 * 3 * 5 * 4  # subjects x actions x frames x cameras
    assert s.poses_3d.dtype == s.keypoints_2d.dtype == s.root_3d.dtype == torch.float32
    assert s.subject_idx.dtype == torch.int64 and set(s.subject_idx.tolist()) == {1, 5}  # S5, S9 in SUBJECTS order
    assert (s.poses_3d[:, 0] == 0).all()
    assert (s.root_3d[:, 2] > 2.0).all()  # in front of the cameras, metres
    X_cam = s.poses_3d + s.root_3d[:, None]
    uv = project_to_2d(X_cam, s.intrinsic_norm[s.camera_idx])
    torch.testing.assert_close(uv, s.keypoints_2d, atol=2e-5, rtol=0)


def test_frames_map_back_to_the_file_world_positions(custom_file: Callable[..., Path]) -> None:
    raw = read_custom(custom_file())
    s = build_poseset(raw, ("P1",), camera_table(raw.cameras))
    walk, cam = raw.actions.index("walk"), raw.cameras["P1"][1]
    rows = (s.action_idx == walk) & (s.camera_idx == 1)
    X_cam = (s.poses_3d[rows] + s.root_3d[rows][:, None]).double().numpy()
    world = camera_to_world(X_cam, cam.orientation, cam.translation)
    seq = next(q for q in raw.sequences if (q.subject, q.action) == ("P1", "walk"))
    np.testing.assert_allclose(world, seq.positions_world, atol=1e-5)


def test_camera_rows_shared_by_id_unless_intrinsics_differ(custom_file: Callable[..., Path]) -> None:
    def detune(content: dict) -> None:
        content["cameras"]["P2"][0]["intrinsic"] = [1000.0, 1000, 500, 500, 0, 0, 0, 0, 0]

    raw = read_custom(custom_file(detune))
    table = camera_table(raw.cameras)
    assert table.names == ("P0/54138969", "55011271", "P1/54138969", "P2/54138969")
    assert table.row[("P0", 1)] == table.row[("P2", 1)] == 1
    assert table.intrinsic_norm.shape == (4, 9) and table.intrinsic_norm[3, 0] == np.float32(2.0)  # 2 f / w


def test_empty_subject_list_gives_an_empty_poseset(custom_file: Callable[..., Path]) -> None:
    raw = read_custom(custom_file())
    s = build_poseset(raw, (), camera_table(raw.cameras))
    assert len(s) == 0 and s.poses_3d.shape == (0, 17, 3) and s.camera_idx.dtype == torch.int64
