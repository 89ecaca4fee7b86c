"""Session-wide fixtures: a private cache for generated data and a small synthetic dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):  # two test processes share the 2 cores: one torch thread each
    import torch

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # CLI subprocesses too
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def posediff_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point $POSEDIFF_CACHE at a session tmp dir: tests never write to the home cache."""
    cache = tmp_path_factory.mktemp("posediff_cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("POSEDIFF_CACHE", str(cache))
    yield cache
    patch.undo()


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset: 4 subjects x ~0.3 minutes, 2 cameras; splits S1 S2 / S3 / S4."""
    from model.synthetic import generate

    out = tmp_path_factory.mktemp("synthetic") / "synthetic_small.npz"
    return generate(out, seed=0, num_subjects=4, minutes=0.3, num_cameras=2)


@pytest.fixture(scope="session")
def small_splits(synthetic_npz: Path):
    """`load_splits` of synthetic_npz (train S1 S2, val S3, test S4)."""
    from model.config import DataConfig
    from model.data import load_splits

    return load_splits(DataConfig(path=str(synthetic_npz)))
