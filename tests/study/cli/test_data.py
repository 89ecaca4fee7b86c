"""`posediff-study data synth` and `data inspect`, run as the user runs them (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from model.synthetic import build


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli_data") / "synth.npz"
    result = run_cli("data", "synth", "--out", str(out), "--seed", "5", "--subjects", "3", "--minutes", "0.1")
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    return out


def test_synth_writes_the_requested_dataset(synth_file):
    npz = np.load(synth_file, allow_pickle=True)
    assert npz["metadata"].item()["seed"] == 5
    expected = build(seed=5, num_subjects=3, minutes=0.1, num_cameras=4)
    written = npz["positions_3d"].item()
    assert list(written) == ["S1", "S2", "S3"]
    np.testing.assert_array_equal(written["S2"]["Jogging"], expected["positions_3d"]["S2"]["Jogging"])


@pytest.mark.slow
def test_inspect_prints_the_summary_and_draws_skeletons(synth_file, tmp_path):
    png = tmp_path / "plots" / "skeletons.png"
    result = run_cli("data", "inspect", str(synth_file), "--plot", str(png))
    assert result.returncode == 0, result.stderr
    for text in ("S1", "S3", "Walking", "Bending", "LKnee", "stature"):
        assert text in result.stdout
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and min(image.shape[:2]) > 200
    ink = (image[..., :3] < 0.5).any(-1)  # dark pixels: lines and labels
    assert 0.005 < ink.mean() < 0.5


@pytest.mark.parametrize("name, content", [("missing.npz", None), ("notes.npz", "not a zip archive\n")])
def test_inspect_bad_file_exits_2_with_one_line(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    result = run_cli("data", "inspect", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]
