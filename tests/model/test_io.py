"""model.io.atomic_write: the target is complete or untouched, nothing is left behind, data is fsynced."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from model.io import atomic_write, cache_dir


class Boom(Exception):
    """Raised inside the block to simulate a failure mid-write."""


def test_writes_a_new_file_and_its_missing_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.bin"
    with atomic_write(target) as f:
        f.write(b"hello")
    assert target.read_bytes() == b"hello"
    assert os.listdir(target.parent) == ["out.bin"]


def test_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old contents, longer than the new ones")
    with atomic_write(str(target)) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_failure_mid_write_leaves_no_target_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with pytest.raises(Boom), atomic_write(target) as f:
        f.write(b"half a fi")
        assert len(os.listdir(tmp_path)) == 1 and not target.exists()  # only the temp file so far
        raise Boom
    assert os.listdir(tmp_path) == []


def test_failure_mid_write_leaves_an_existing_target_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"the complete old file")
    with pytest.raises(Boom), atomic_write(target) as f:
        f.write(b"half a ne")
        raise Boom
    assert target.read_bytes() == b"the complete old file"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_a_failing_serialiser_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)), atomic_write(tmp_path / "bad.npz") as f:
        np.savez(f, x=np.array(lambda: 0, dtype=object))
    assert os.listdir(tmp_path) == []


def test_fsyncs_the_file_before_the_rename_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.bin"
    synced: list[tuple[bool, bool]] = []  # (is a folder, target exists yet) per fsync call
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), target.exists()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    with atomic_write(target) as f:
        f.write(b"durable")
    assert synced[0] == (False, False)  # the temp file, before os.replace
    if os.name == "posix":
        assert synced[1:] == [(True, True)]  # then its folder, after os.replace


def test_no_fsync_and_no_rename_when_the_block_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync"))
    monkeypatch.setattr(os, "replace", lambda *a: calls.append("replace"))
    with pytest.raises(Boom), atomic_write(tmp_path / "out.bin"):
        raise Boom
    assert calls == [] and os.listdir(tmp_path) == []


def test_a_failed_rename_removes_the_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"), atomic_write(tmp_path / "out.bin") as f:
        f.write(b"x")
    assert os.listdir(tmp_path) == []


def test_new_files_get_plain_open_permissions(tmp_path: Path) -> None:
    with atomic_write(tmp_path / "atomic.bin") as f:
        f.write(b"x")
    (tmp_path / "plain.bin").write_bytes(b"x")
    assert (tmp_path / "atomic.bin").stat().st_mode == (tmp_path / "plain.bin").stat().st_mode


def test_every_writer_in_the_project_round_trips(tmp_path: Path) -> None:
    """The three kinds of files written through it: torch.save, np.savez, Parquet."""
    with atomic_write(tmp_path / "c.pt") as f:
        torch.save({"w": torch.arange(3)}, f)
    with atomic_write(tmp_path / "p.npz") as f:
        np.savez(f, pi=np.ones(2))
    with atomic_write(tmp_path / "t.parquet") as f:
        pq.write_table(pa.table({"x": [1, 2]}), f)
    assert torch.load(tmp_path / "c.pt", weights_only=True)["w"].tolist() == [0, 1, 2]
    assert np.load(tmp_path / "p.npz")["pi"].tolist() == [1.0, 1.0]
    assert pq.read_table(tmp_path / "t.parquet").column("x").to_pylist() == [1, 2]
    assert sorted(os.listdir(tmp_path)) == ["c.pt", "p.npz", "t.parquet"]


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSEDIFF_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("POSEDIFF_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "posediff-study"
