"""Sampler-sweep files (study/spec/sweep_file.py): the shipped one expands, a bad one is one error naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model.errors import PoseDiffError
from study.spec.sweep_file import load_sweep

SWEEP_FILE = Path(__file__).resolve().parents[3] / "searchspaces" / "sampler_sweep.yaml"


def write_sweep(tmp_path: Path, raw: object) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_shipped_sweep_expands_its_grid_and_settings():
    sweep = load_sweep(SWEEP_FILE)
    assert len(sweep.settings) == 2 * 3 * 2 * 2 + 3
    assert sweep.settings[0] == {
        "sampler.name": "ddim",
        "sampler.num_steps": 5,
        "sampler.num_hypotheses": 1,
        "sampler.aggregate": "mean",
    }
    assert sweep.settings[-2]["sampler.S_churn"] == 20.0 and sweep.splits == ("val",)


@pytest.mark.parametrize(
    ("raw", "where", "found"),
    [
        ({"grid": {"train.lr": [1e-3]}}, "grid: train.lr", "'train.lr'"),
        ({"grid": {"sampler.num_stepz": [5]}}, "grid: sampler.num_stepz", "unknown key"),
        ({"grid": {"sampler.name": ["ddim", "heun"]}}, "grid: sampler.name", "'heun'"),
        ({"grid": {"sampler.num_steps": []}}, "grid: sampler.num_steps", "[]"),
        ({"settings": [{"sampler.S_tmin": 9.0, "sampler.S_tmax": 1.0}]}, "sampler.S_tmax", "1.0"),
        ({"settings": [{}]}, "settings[0]", "{}"),
        ({"settings": {"sampler.name": "edm"}}, "settings", "sampler.name"),
        ({"grid": {"sampler.name": ["edm"]}, "split": "train"}, "split", "'train'"),
        ({"grid": {"sampler.name": ["edm"]}, "eval_subset_size": 0}, "eval_subset_size", "0"),
        ({"grid": {"sampler.name": ["edm"]}, "seeds": 1}, "seeds", "unknown key"),
        ({"split": "val"}, "sweep.yaml", "none"),
        ([{"sampler.name": "edm"}], "sweep.yaml", "list"),
    ],
)
def test_bad_sweep_spec_is_one_error_naming_the_key(tmp_path: Path, raw, where, found):
    with pytest.raises(PoseDiffError) as err:
        load_sweep(write_sweep(tmp_path, raw))
    message = str(err.value)
    assert where in err.value.where and found in message and "\n" not in message
