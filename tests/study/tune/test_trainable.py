"""Resuming a trial: the newest loadable checkpoint wins; a corrupt one is named on stderr, never fatal."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import ray
import torch
from ray import tune

from model.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from model.config import TrialConfig, trial_config
from model.train import EpochMetrics, fit
from study.tune.trainable import CHECKPOINT_FILE, _resume_file, checkpoint_candidates, usable_checkpoint

TINY = {
    "prior": {"num_components": 2, "fit_samples": 1000},
    "diffusion": {"num_steps": 20},
    "network": {"width": 16, "num_blocks": 1, "num_heads": 2},
    "sampler": {"name": "ddim", "num_steps": 4, "num_hypotheses": 1},
}


def tiny_config(synthetic_npz: Path, epochs: int) -> TrialConfig:
    """A width-16 lifter, 1024 samples per epoch (about a second per epoch on one core)."""
    return trial_config(
        {
            **TINY,
            "data": {"path": str(synthetic_npz), "val_subset_size": 128},
            "train": {"epochs": epochs, "batch_size": 64, "samples_per_epoch": 1024},
        }
    )


@pytest.fixture(scope="module")
def trained(small_splits, synthetic_npz, tmp_path_factory) -> tuple[TrialConfig, dict[int, Path], list[EpochMetrics]]:
    """Two epochs of real training: (config, epoch -> checkpoint written by fit, per-epoch metrics)."""
    torch.set_num_threads(1)
    cfg, folder, files = tiny_config(synthetic_npz, epochs=2), tmp_path_factory.mktemp("fit"), {}

    def on_epoch(metrics: EpochMetrics, checkpoint: Callable[[Path], None]) -> None:
        files[metrics.epoch] = folder / f"epoch{metrics.epoch}.pt"
        checkpoint(files[metrics.epoch])

    return cfg, files, fit(cfg, small_splits, on_epoch=on_epoch).epochs


def trial_folder(root: Path, files: dict[int, Path]) -> Path:
    """A Tune-like trial folder: checkpoint_00000<epoch-1>/trial.pt for each epoch, plus clutter."""
    for epoch, file in files.items():
        (root / f"checkpoint_{epoch - 1:06d}").mkdir(parents=True)
        shutil.copy(file, root / f"checkpoint_{epoch - 1:06d}" / CHECKPOINT_FILE)
    (root / "checkpoint_tmp").mkdir()
    (root / "result.json").write_text("{}")
    return root


def restored(folder: Path) -> tune.Checkpoint:
    """The checkpoint Tune would hand a restored trial (a real local-filesystem Checkpoint)."""
    return tune.Checkpoint.from_directory(str(folder))


def epoch_of(path: Path | None) -> int | None:
    return None if path is None else int(load_checkpoint(path)["epoch"])


def truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def not_resumable(file: Path) -> None:
    """A valid lifter file of the right format but without the training state (an export)."""
    payload = load_checkpoint(file)
    save_checkpoint(file, {k: v for k, v in payload.items() if k not in ("optimizer", "epoch")})


CORRUPTIONS: dict[str, tuple[Callable[[Path], None], str]] = {  # damage to trial.pt, words of the message
    "truncated": (
        truncate,
        "expected a torch checkpoint readable with weights_only=True, "
        "found RuntimeError: PytorchStreamReader failed reading zip archive",
    ),
    "garbage": (
        lambda f: f.write_bytes(b"not a torch file\n" * 64),
        "found UnpicklingError: Unsupported operand 110 in a 1088-byte file",
    ),
    "empty": (lambda f: f.write_bytes(b""), "found an empty file (0 bytes)"),
    "missing_file": (lambda f: f.unlink(), "expected a checkpoint file, found no such file"),
    "missing_folder": (lambda f: shutil.rmtree(f.parent), "expected a checkpoint folder, found no such folder"),
    "other_format": (
        lambda f: save_checkpoint(f, {"format": "other/1"}),
        f"trial.pt: format: expected '{FORMAT}', found 'other/1'",
    ),
    "not_resumable": (not_resumable, "found no epoch, optimizer"),
}


def test_newest_loadable_checkpoint_wins(trained, tmp_path: Path, capsys) -> None:
    _, files, _ = trained
    root = trial_folder(tmp_path / "trial", files)
    (root / "checkpoint_000009").mkdir()  # newer than the restored one (not in Tune's state): never used
    candidates = checkpoint_candidates(restored(root / "checkpoint_000001"))
    assert [Path(c.path).name for c in candidates] == ["checkpoint_000001", "checkpoint_000000"]
    assert epoch_of(usable_checkpoint(candidates, tmp_path / "copy")) == 2
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("damage", sorted(CORRUPTIONS))
def test_corrupt_latest_falls_back_to_previous(trained, tmp_path: Path, capsys, damage: str) -> None:
    _, files, _ = trained
    root = trial_folder(tmp_path / "trial", files)
    corrupt, words = CORRUPTIONS[damage]
    corrupt(root / "checkpoint_000001" / CHECKPOINT_FILE)
    chosen = usable_checkpoint(checkpoint_candidates(restored(root / "checkpoint_000001")), tmp_path / "copy")
    assert epoch_of(chosen) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"posediff: unusable checkpoint: {root / 'checkpoint_000001' / CHECKPOINT_FILE}")
    assert words in lines[0]
    assert lines[0].endswith(f"; falling back to the previous checkpoint {root / 'checkpoint_000000'}")


def test_all_corrupt_restarts_from_epoch_one(trained, tmp_path: Path, capsys) -> None:
    _, files, _ = trained
    root = trial_folder(tmp_path / "trial", files)
    truncate(root / "checkpoint_000001" / CHECKPOINT_FILE)
    (root / "checkpoint_000000" / CHECKPOINT_FILE).write_bytes(b"")
    assert usable_checkpoint(checkpoint_candidates(restored(root / "checkpoint_000001")), tmp_path / "copy") is None
    first, second = capsys.readouterr().err.splitlines()
    assert str(root / "checkpoint_000001" / CHECKPOINT_FILE) in first and "falling back" in first
    assert str(root / "checkpoint_000000" / CHECKPOINT_FILE) in second
    assert second.endswith("no usable checkpoint left: the trial restarts from epoch 1")


def test_fallback_checkpoint_resumes_the_uninterrupted_run(trained, small_splits, tmp_path: Path) -> None:
    cfg, files, epochs = trained
    root = trial_folder(tmp_path / "trial", files)
    truncate(root / "checkpoint_000001" / CHECKPOINT_FILE)
    chosen = usable_checkpoint(checkpoint_candidates(restored(root / "checkpoint_000001")), tmp_path / "copy")
    resumed = fit(cfg, small_splits, resume_from=chosen).epochs
    assert resumed[0] == epochs[0]  # history from the checkpoint
    assert resumed[1].val_mpjpe_mm == pytest.approx(epochs[1].val_mpjpe_mm, rel=1e-5)  # epoch 2 re-run alike
    assert resumed[1].train_loss == pytest.approx(epochs[1].train_loss, rel=1e-5)


def resume_state(epoch: int) -> dict:
    """The smallest file that passes the resume check (the Tune test needs no training)."""
    return {
        "format": FORMAT,
        "epoch": epoch,
        "optimizer": {},
        "scheduler": {},
        "rng": {},
        "history": [],
        "ema": None,
        "ema_num_averaged": 0,
    }


@pytest.mark.slow
def test_corrupt_latest_checkpoint_falls_back_inside_real_tune(tmp_path: Path) -> None:
    """A trial corrupts its latest persisted checkpoint and raises; Tune's retry resumes from the one before."""

    def trainable(config: dict) -> None:
        first_run, said = tune.get_checkpoint() is None, io.StringIO()
        with tempfile.TemporaryDirectory() as into, contextlib.redirect_stderr(said):
            path = _resume_file(Path(into))
            start = 0 if path is None else int(load_checkpoint(path)["epoch"])
        for epoch in range(start + 1, 4):
            with tempfile.TemporaryDirectory() as folder:
                save_checkpoint(Path(folder) / CHECKPOINT_FILE, resume_state(epoch))
                tune.report(
                    {"epoch": epoch, "start": start, "stderr": said.getvalue()},
                    checkpoint=tune.Checkpoint.from_directory(folder),
                )
        if first_run:  # tune.get_checkpoint() is now the persisted checkpoint of epoch 3
            stored = Path(tune.get_checkpoint().path) / CHECKPOINT_FILE
            stored.write_bytes(stored.read_bytes()[:100])
            raise RuntimeError("injected failure after truncating the latest checkpoint")

    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        grid = tune.Tuner(
            trainable,
            run_config=tune.RunConfig(
                name="fallback",
                storage_path=str(tmp_path / "ray"),
                verbose=0,
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                failure_config=tune.FailureConfig(max_failures=1),
            ),
        ).fit()
    finally:
        ray.shutdown()
    result = grid[0]
    assert result.error is None and result.metrics["epoch"] == 3 and result.metrics["start"] == 2
    latest, previous = Path(result.path) / "checkpoint_000002", Path(result.path) / "checkpoint_000001"
    assert result.metrics["stderr"] == (
        f"posediff: unusable checkpoint: {latest / CHECKPOINT_FILE}: expected a torch checkpoint readable with "
        "weights_only=True, found RuntimeError: PytorchStreamReader failed reading zip archive: failed finding "
        f"central directory in a 100-byte file; falling back to the previous checkpoint {previous}\n"
    )
