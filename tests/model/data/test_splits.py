"""load_splits: the source chosen from DataConfig.path, subject splits (defaults and overrides), fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from model.config import DataConfig
from model.data import PoseSet, load_splits
from model.errors import PoseDiffError

torch.set_num_threads(1)


def _subjects(s: PoseSet) -> set[str]:
    return {s.subjects[i] for i in s.subject_idx.unique().tolist()}


def test_h36m_default_split_keeps_s8_for_validation(h36m_dir: Callable[..., Path]) -> None:
    splits = load_splits(DataConfig(path=str(h36m_dir())))
    assert _subjects(splits.train) == {"S1", "S5", "S6", "S7"}
    assert _subjects(splits.val) == {"S8"} and _subjects(splits.test) == {"S9", "S11"}
    assert splits.name == "h36m-gt" and splits.test.is_h36m


def test_h36m_3d_file_path_and_keypoints_choose_the_files(h36m_dir: Callable[..., Path]) -> None:
    directory = h36m_dir(keypoints="cpn_ft_h36m_dbb")
    splits = load_splits(DataConfig(path=str(directory / "data_3d_h36m.npz"), keypoints="cpn_ft_h36m_dbb"))
    assert splits.name == "h36m-cpn_ft_h36m_dbb" and len(splits.val) == 3 * 5 * 4


def test_config_overrides_each_split(h36m_dir: Callable[..., Path]) -> None:
    cfg = DataConfig(
        path=str(h36m_dir()), train_subjects=("S1", "S5", "S6", "S7", "S8"), val_subjects=("S9",), test_subjects=()
    )
    splits = load_splits(cfg)
    assert _subjects(splits.train) == {"S1", "S5", "S6", "S7", "S8"} and _subjects(splits.val) == {"S9"}
    assert len(splits.test) == 0


def test_custom_default_split_and_frame_counts(custom_file: Callable[..., Path]) -> None:
    splits = load_splits(DataConfig(path=str(custom_file())))
    assert (_subjects(splits.train), _subjects(splits.val), _subjects(splits.test)) == ({"P0"}, {"P1"}, {"P2"})
    assert len(splits.train) == (6 + 7) * 2  # actions of 6 and 7 frames, two cameras
    assert not splits.train.is_h36m and splits.train.actions == ("walk", "sit 1")


BAD_SPLITS = [
    ({"val_subjects": ("P7",)}, "data.val_subjects", "found P7"),
    ({"train_subjects": ()}, "data.train_subjects", "at least one subject"),
    ({"test_subjects": ("P0", "P2")}, "data.test_subjects", "not also in data.train_subjects, found P0"),
]


@pytest.mark.parametrize("overrides, key, problem", BAD_SPLITS)
def test_bad_split_config_is_named(custom_file: Callable[..., Path], overrides: dict, key: str, problem: str) -> None:
    path = custom_file()
    with pytest.raises(PoseDiffError) as info:
        load_splits(DataConfig(path=str(path), **overrides))
    assert str(info.value).startswith(f"{path}: {key}: expected") and problem in str(info.value)


def test_too_few_subjects_for_the_default_split(custom_file: Callable[..., Path]) -> None:
    with pytest.raises(PoseDiffError, match="data.train_subjects: expected at least one subject"):
        load_splits(DataConfig(path=str(custom_file(num_subjects=2))))


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(PoseDiffError, match=rf"data.path: {tmp_path}/absent.npz: expected .* found no such file"):
        load_splits(DataConfig(path=str(tmp_path / "absent.npz")))


def test_fingerprint_is_stable_and_tracks_split_and_content(custom_file: Callable[..., Path]) -> None:
    path = str(custom_file())
    first = load_splits(DataConfig(path=path)).fingerprint
    assert load_splits(DataConfig(path=path)).fingerprint == first
    assert load_splits(DataConfig(path=path, val_subjects=("P2",), test_subjects=("P1",))).fingerprint != first
    custom_file(num_frames=7)  # same file name, other content
    assert load_splits(DataConfig(path=path)).fingerprint != first


def test_synthetic_generator_output_loads(synthetic_npz: Path) -> None:
    """The generator's file (session fixture, tests/conftest.py) reads with its metadata splits."""
    splits = load_splits(DataConfig(path=str(synthetic_npz)))
    assert (_subjects(splits.train), _subjects(splits.val), _subjects(splits.test)) == ({"S1", "S2"}, {"S3"}, {"S4"})
    assert (splits.train.poses_3d[:, 0] == 0).all() and splits.train.keypoints_2d.abs().max() < 2.0


@pytest.mark.slow
def test_no_path_loads_the_cached_synthetic_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSEDIFF_CACHE", str(tmp_path))
    splits = load_splits(DataConfig())
    assert splits.name.startswith("synthetic") and len(splits.train) > 0
    assert list(tmp_path.glob("*.npz")), "the default dataset is generated into $POSEDIFF_CACHE"
