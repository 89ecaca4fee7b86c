"""Checked file access: only real zips are unpickled; every failure names the file and key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.data.validate import as_dict, as_list, checked_array, open_npz, read_entry
from model.errors import PoseDiffError


def test_missing_path_and_directory_are_named(tmp_path: Path) -> None:
    with pytest.raises(PoseDiffError, match=r"nope\.npz: expected an existing \.npz file, found no such file"):
        open_npz(tmp_path / "nope.npz")
    with pytest.raises(PoseDiffError, match="found a directory"):
        open_npz(tmp_path)


def test_text_file_is_rejected_before_loading(tmp_path: Path) -> None:
    path = tmp_path / "poses.npz"
    path.write_text("subject,action\n")
    with pytest.raises(
        PoseDiffError, match=r"poses\.npz: expected an \.npz file \(a zip archive\), found a file starting"
    ):
        open_npz(path)


def test_corrupt_zip_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04" + bytes(range(200)))
    with pytest.raises(PoseDiffError, match=r"broken\.npz"), open_npz(path) as npz:
        read_entry(npz, path, "positions_3d")


def test_read_entry_unwraps_dicts_and_names_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, metadata=np.array({"fps": 50}, dtype=object), plain=np.zeros(3))
    with open_npz(path) as npz:
        assert read_entry(npz, path, "metadata") == {"fps": 50}
        assert read_entry(npz, path, "plain").shape == (3,)
        with pytest.raises(
            PoseDiffError,
            match=r"d\.npz: cameras: expected the key to be present, found missing key \(keys: metadata, plain\)",
        ):
            read_entry(npz, path, "cameras")


def test_checked_array_shape_dtype_and_finiteness() -> None:
    path = Path("f.npz")
    ok = checked_array(np.zeros((4, 17, 2)), (None, 17, 2), path, "positions_2d", "S1")
    assert ok.shape == (4, 17, 2)
    assert checked_array(np.zeros((2, 32, 3)), (None, (17, 32), 3), path).shape == (2, 32, 3)
    with pytest.raises(
        PoseDiffError, match=r"f\.npz: positions_2d/S1: expected .*\(T, 17, 2\), found shape \(4, 16, 2\)"
    ):
        checked_array(np.zeros((4, 16, 2)), (None, 17, 2), path, "positions_2d", "S1")
    with pytest.raises(PoseDiffError, match=r"found shape \(0, 17, 2\)"):
        checked_array(np.zeros((0, 17, 2)), (None, 17, 2), path)
    bad = np.zeros((3, 17, 2))
    bad[1, 2, 0] = np.nan
    with pytest.raises(PoseDiffError, match="found 1 NaN/inf values"):
        checked_array(bad, (None, 17, 2), path)
    with pytest.raises(PoseDiffError, match="found array of dtype <U1"):
        checked_array(np.array(["a"]), (None,), path)


def test_containers_must_be_non_empty() -> None:
    path = Path("f.npz")
    items = as_list(np.array([np.zeros(1), np.zeros(2)], dtype=object), path)
    assert [a.shape for a in items] == [(1,), (2,)]
    with pytest.raises(PoseDiffError, match=r"f\.npz: cameras/S1: expected a list \(non-empty\), found an empty list"):
        as_list([], path, "cameras", "S1")
    with pytest.raises(PoseDiffError, match="found missing"):
        as_dict(None, path, "positions_2d", "S9")
