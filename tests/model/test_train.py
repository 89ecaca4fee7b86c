"""Training on the small synthetic fixture: learning, the regress reference, resume, checkpoints, divergence."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from model.checkpoint import load_lifter
from model.config import TrainConfig, TrialConfig, trial_config
from model.metrics import mpjpe
from model.train import (
    EpochMetrics,
    FitResult,
    TrainingDiverged,
    _epoch_index,
    fit,
    lr_factor,
    val_subset,
)

torch.set_num_threads(1)
EPOCHS = 6
# Measured on this fixture (2 training subjects, an unseen validation subject; 6 x 4096 samples):
# mean-pose baseline 189 mm, regress 115 mm (0.61x), x0 + DDIM(S=5, N=2) 141 mm (0.74x, 1.22x regress);
# train seeds 1, 2: x0 0.72x / 0.70x, regress 0.62x / 0.56x, x0/regress 1.17 / 1.25 (network with joint
# embedding + global layer; before it: regress 0.78x, x0 0.93x). Pinned with ~10% headroom.
X0_MARGIN = 0.82
REGRESS_BASELINE_MARGIN = 0.70
REGRESS_MARGIN = 1.3


def small_config(synthetic_npz: Path, **train: object) -> TrialConfig:
    """Width-32, one-block lifter; a few thousand samples per epoch (seconds on one core)."""
    return trial_config(
        {
            "data": {"path": str(synthetic_npz), "val_subset_size": 256},
            "prior": {"num_components": 2, "fit_samples": 2000},
            "diffusion": {"num_steps": 20, "prediction": "x0"},
            "network": {"width": 32, "num_blocks": 1, "num_heads": 2},
            "sampler": {"name": "ddim", "num_steps": 5, "num_hypotheses": 2},
            "train": {
                "epochs": EPOCHS,
                "batch_size": 128,
                "lr": 1e-2,
                "samples_per_epoch": 4096,
                "lr_schedule": "cosine",
                "ema_decay": 0.9,
                **train,
            },
        }
    )


class Recorder:
    """on_epoch that keeps the metrics and writes a checkpoint after `checkpoint_at`."""

    def __init__(self, folder: Path, checkpoint_at: int) -> None:
        self.folder, self.checkpoint_at, self.metrics = folder, checkpoint_at, []

    def __call__(self, metrics: EpochMetrics, checkpoint) -> None:
        self.metrics.append(metrics)
        if metrics.epoch == self.checkpoint_at:
            checkpoint(self.folder / f"epoch{metrics.epoch}.pt")


@pytest.fixture(scope="module")
def x0_run(small_splits, synthetic_npz, tmp_path_factory) -> tuple[TrialConfig, FitResult, Recorder]:
    cfg, recorder = small_config(synthetic_npz), Recorder(tmp_path_factory.mktemp("ckpt"), checkpoint_at=3)
    return cfg, fit(cfg, small_splits, on_epoch=recorder), recorder


@pytest.fixture(scope="module")
def regress_run(small_splits, synthetic_npz) -> FitResult:
    cfg = small_config(synthetic_npz)
    cfg = dataclasses.replace(cfg, diffusion=dataclasses.replace(cfg.diffusion, prediction="regress"))
    return fit(cfg, small_splits)


def mean_pose_baseline_mm(small_splits, cfg: TrialConfig) -> float:
    """MPJPE of predicting the training split's mean pose for every validation-subset frame."""
    val = val_subset(small_splits.val, cfg.data)
    return 1000.0 * float(mpjpe(small_splits.train.poses_3d.mean(0).expand_as(val.poses_3d), val.poses_3d).mean())


def test_on_epoch_called_once_per_epoch(x0_run) -> None:
    _, result, recorder = x0_run
    assert [m.epoch for m in recorder.metrics] == list(range(1, EPOCHS + 1))
    assert recorder.metrics == result.epochs
    assert all(m.nfe == 5 and m.samples_per_s > 0 and m.epoch_s > 0 for m in result.epochs)


def test_training_lowers_the_loss_and_beats_the_mean_pose(small_splits, x0_run) -> None:
    cfg, result, _ = x0_run
    losses = [m.train_loss for m in result.epochs]
    assert losses[-1] < 0.8 * losses[0]
    assert result.epochs[-1].val_mpjpe_mm < X0_MARGIN * mean_pose_baseline_mm(small_splits, cfg)


def test_diffusion_is_within_a_margin_of_the_regress_reference(small_splits, x0_run, regress_run) -> None:
    _, x0, _ = x0_run
    assert regress_run.epochs[-1].nfe == 1
    assert regress_run.epochs[-1].val_mpjpe_mm < REGRESS_BASELINE_MARGIN * mean_pose_baseline_mm(
        small_splits, x0_run[0]
    )
    assert x0.epochs[-1].val_mpjpe_mm <= REGRESS_MARGIN * regress_run.epochs[-1].val_mpjpe_mm


def test_resume_reproduces_the_uninterrupted_run(small_splits, x0_run) -> None:
    cfg, result, recorder = x0_run
    resumed = fit(cfg, small_splits, resume_from=recorder.folder / "epoch3.pt")
    strip = [dataclasses.replace(m, epoch_s=0.0, samples_per_s=0.0) for m in result.epochs]
    assert [dataclasses.replace(m, epoch_s=0.0, samples_per_s=0.0) for m in resumed.epochs] == strip
    for a, b in zip(resumed.lifter.state_dict().values(), result.lifter.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_is_weights_only_and_rebuilds_the_lifter(x0_run, small_splits) -> None:
    cfg, _result, recorder = x0_run
    payload = torch.load(recorder.folder / "epoch3.pt", weights_only=True)
    assert payload["epoch"] == 3 and payload["config"]["network.width"] == 32
    assert {"model", "ema", "optimizer", "scheduler", "rng", "prior", "standardisation"} <= set(payload)
    lifter, loaded_cfg = load_lifter(recorder.folder / "epoch3.pt")
    assert loaded_cfg == cfg
    c = small_splits.val.keypoints_2d[:8]
    hyps = lifter.sample(c, cfg.sampler, torch.Generator().manual_seed(0))
    assert hyps.shape == (8, 2, 17, 3) and torch.isfinite(hyps).all()


def test_same_config_same_losses(small_splits, synthetic_npz) -> None:
    cfg = small_config(synthetic_npz, epochs=1, samples_per_epoch=512)
    first, again = fit(cfg, small_splits).epochs[0], fit(cfg, small_splits).epochs[0]
    assert (first.train_loss, first.val_mpjpe_mm) == (again.train_loss, again.val_mpjpe_mm)


def test_nan_loss_raises_training_diverged(small_splits, synthetic_npz) -> None:
    cfg = small_config(synthetic_npz, lr=1e10, epochs=1, samples_per_epoch=1024, grad_clip=0.0)
    with pytest.raises(TrainingDiverged, match="epoch 1"):
        fit(cfg, small_splits)
    assert issubclass(TrainingDiverged, RuntimeError)


def test_lr_schedules() -> None:
    warm = TrainConfig(epochs=4, lr_schedule="cosine", warmup_epochs=1)
    assert [lr_factor(s, warm, 10) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert lr_factor(10, warm, 10) == pytest.approx(1.0) and lr_factor(39, warm, 10) < 0.01
    step = TrainConfig(epochs=4, lr_schedule="step")
    assert [lr_factor(s, step, 10) for s in (0, 19, 20, 30)] == pytest.approx([1, 1, 0.1, 0.01])
    assert lr_factor(33, TrainConfig(epochs=4, lr_schedule="constant"), 10) == 1.0


def test_epoch_index_caps_or_repeats_permutations() -> None:
    g = torch.Generator().manual_seed(0)
    capped = _epoch_index(100, 30, g, torch.device("cpu"))
    assert capped.shape == (30,) and capped.unique().numel() == 30
    more = _epoch_index(100, 250, g, torch.device("cpu"))
    assert more.shape == (250,) and torch.equal(more[:100].sort().values, torch.arange(100))
