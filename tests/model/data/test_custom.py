"""The custom single-file format: a valid file reads; every malformed one names file, key and problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model.data.custom import read_custom
from model.errors import PoseDiffError


def test_valid_file_reads_with_its_cameras(custom_file: Callable[..., Path]) -> None:
    raw = read_custom(custom_file())
    assert raw.subjects == ("P0", "P1", "P2") and raw.actions == ("walk", "sit 1") and not raw.is_h36m
    assert [c.id for c in raw.cameras["P1"]] == ["54138969", "55011271"]
    assert raw.default_splits == (("P0",), ("P1",), ("P2",))  # no metadata splits: last test, one before val
    walk = raw.sequences[0]
    assert walk.positions_world.shape == (6, 17, 3) and [k.shape for k in walk.keypoints_px] == [(6, 17, 2)] * 2


def test_metadata_splits_are_the_default(custom_file: Callable[..., Path]) -> None:
    def splits(c: dict) -> None:
        c["metadata"]["splits"] = {"train": ["P2", "P0"], "val": ["P1"], "test": []}

    assert read_custom(custom_file(splits)).default_splits == (("P2", "P0"), ("P1",), ())


def test_32_joint_file_reads_as_17(custom_file: Callable[..., Path]) -> None:
    raw = read_custom(custom_file(num_joints=32))
    assert raw.sequences[0].positions_world.shape == (6, 17, 3)


def _set(path: tuple, value: object) -> Callable[[dict], None]:
    def mutate(content: dict) -> None:
        node = content
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path: tuple) -> Callable[[dict], None]:
    def mutate(content: dict) -> None:
        node = content
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _nan_2d(content: dict) -> None:
    content["positions_2d"]["P0"]["walk"][1][3, 4, 0] = np.nan


def _short_2d(content: dict) -> None:
    content["positions_2d"]["P1"]["sit 1"][0] = content["positions_2d"]["P1"]["sit 1"][0][:5]


MALFORMED = [
    ("missing key", _delete(("cameras",)), "cameras", "missing key"),
    (
        "3D wrong shape",
        _set(("positions_3d", "P1", "walk"), np.zeros((6, 17, 2))),
        "positions_3d/P1/walk",
        "found shape (6, 17, 2)",
    ),
    (
        "3D joints differ from metadata",
        _set(("positions_3d", "P1", "walk"), np.zeros((6, 32, 3))),
        "positions_3d/P1/walk",
        "found shape (6, 32, 3)",
    ),
    ("NaN in 2D", _nan_2d, "positions_2d/P0/walk/camera 1", "found 1 NaN/inf values"),
    ("2D shorter than 3D", _short_2d, "positions_2d/P1/sit 1/camera 0", "expected at least 7 frames"),
    ("subject without cameras", _delete(("cameras", "P2")), "cameras/P2", "found missing"),
    ("subject with empty camera list", _set(("cameras", "P2"), []), "cameras/P2", "found an empty list"),
    (
        "2D camera count",
        _set(("positions_2d", "P0", "walk"), [np.zeros((6, 17, 2))]),
        "positions_2d/P0/walk",
        "expected 2 per-camera arrays",
    ),
    ("2D action missing", _delete(("positions_2d", "P2", "sit 1")), "positions_2d/P2/sit 1", "found missing"),
    ("2D subject missing", _delete(("positions_2d", "P1")), "positions_2d/P1", "found missing"),
    ("camera key missing", _delete(("cameras", "P0", 1, "intrinsic")), "cameras/P0/camera 1", "missing intrinsic"),
    (
        "intrinsic length",
        _set(("cameras", "P0", 0, "intrinsic"), [1.0] * 8),
        "cameras/P0/camera 0/intrinsic",
        "found shape (8,)",
    ),
    (
        "not a quaternion",
        _set(("cameras", "P0", 0, "orientation"), [1.0, 1.0, 0.0, 0.0]),
        "cameras/P0/camera 0/orientation",
        "norm 1.414",
    ),
    ("resolution", _set(("cameras", "P1", 0, "res_w"), 0), "cameras/P1/camera 0/res_w/res_h", "positive integers"),
    ("num_joints", _set(("metadata", "num_joints"), 16), "metadata/num_joints", "found 16"),
    ("fps", _delete(("metadata", "fps")), "metadata/fps", "found None"),
    ("symmetry", _set(("metadata", "keypoints_symmetry"), "left-right"), "metadata/keypoints_symmetry", "two lists"),
    (
        "split subject",
        _set(("metadata", "splits"), {"train": ["P0"], "val": ["P9"], "test": []}),
        "metadata/splits/val",
        "'P9'",
    ),
    ("3D not a dict", _set(("positions_3d",), np.zeros((3, 17, 3))), "positions_3d", "found array of dtype float64"),
]


@pytest.mark.parametrize("mutate, key, problem", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_file_names_file_key_and_problem(
    custom_file: Callable[..., Path], mutate: Callable, key: str, problem: str
) -> None:
    path = custom_file(mutate)
    with pytest.raises(PoseDiffError) as info:
        read_custom(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}:"), message
    assert problem in message, message
    assert "\n" not in message


def test_not_an_npz_at_all(tmp_path: Path) -> None:
    path = tmp_path / "poses.npz"
    np.save(tmp_path / "poses.npy", np.zeros(3))
    (tmp_path / "poses.npy").rename(path)  # a .npy under an .npz name: not a zip
    with pytest.raises(PoseDiffError, match=rf"^{path}: expected an \.npz file"):
        read_custom(path)
