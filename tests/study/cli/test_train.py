"""`posediff-study train` and `evaluate` end to end, as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from model.config import trial_config

TINY = {
    "prior": {"num_components": 2, "fit_samples": 1000},
    "diffusion": {"num_steps": 10},
    "network": {"width": 16, "num_blocks": 1, "num_heads": 2},
    "sampler": {"num_steps": 3, "num_hypotheses": 2},
    "train": {"epochs": 3, "batch_size": 128, "samples_per_epoch": 512, "device": "cpu"},
    "data": {"val_subset_size": 64},
}


def posediff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(synthetic_npz: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli_train")
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    out = folder / "run"
    done = posediff(
        "train",
        "--config",
        str(folder / "tiny.yaml"),
        "--data",
        str(synthetic_npz),
        "--epochs",
        "2",
        "--out",
        str(out),
        "--threads",
        "1",
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.slow
def test_train_writes_metrics_config_and_checkpoint(trained: Path, synthetic_npz: Path) -> None:
    lines = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2]  # --epochs overrides the file's 3
    assert all(m["val_mpjpe_mm"] > 0 and m["nfe"] == 3 for m in lines)
    cfg = trial_config(yaml.safe_load((trained / "config.yaml").read_text()))
    assert cfg.train.epochs == 2 and cfg.data.path == str(synthetic_npz) and cfg.network.width == 16
    assert (trained / "lifter.pt").is_file()


@pytest.mark.slow
def test_evaluate_json_with_sampler_overrides(trained: Path) -> None:
    done = posediff(
        "evaluate",
        "--checkpoint",
        str(trained / "lifter.pt"),
        "--split",
        "val",
        "--sampler",
        "edm",
        "--steps",
        "3",
        "--hypotheses",
        "3",
        "--s-churn",
        "1.0",
        "--s-tmax",
        "10",
        "--json",
        "--threads",
        "1",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["sampler"]["name"] == "edm" and result["sampler"]["S_churn"] == 1.0
    assert (result["nfe"], result["num_hypotheses"], result["split"]) == (5, 3, "val")
    assert result["oracle_joint_mpjpe_mm"] <= result["oracle_pose_mpjpe_mm"]
    assert set(result["mpjpe_by_action"]["per_action_mm"]) and result["num_frames"] > 0


@pytest.mark.slow
def test_evaluate_table(trained: Path) -> None:
    done = posediff("evaluate", "--checkpoint", str(trained / "lifter.pt"), "--split", "test", "--threads", "1")
    assert done.returncode == 0, done.stderr
    assert "overall" in done.stdout and "oracle best joint" in done.stdout


@pytest.mark.slow
def test_bad_sampler_override_exits_2(trained: Path) -> None:
    done = posediff("evaluate", "--checkpoint", str(trained / "lifter.pt"), "--eta", "2")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "sampler.eta" in done.stderr


def test_unknown_config_key_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"network": {"widht": 32}}))
    done = posediff("train", "--config", str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert str(bad) in done.stderr and "network.widht" in done.stderr


def test_every_sampler_field_is_an_evaluate_flag_and_overrides_it() -> None:
    import dataclasses

    from model.config import SamplerConfig, trial_config
    from study.cli.train import sampler_flags, with_overrides

    flags = sampler_flags()
    assert set(flags) == {f"sampler.{f.name}" for f in dataclasses.fields(SamplerConfig)}
    assert (flags["sampler.S_churn"], flags["sampler.num_steps"], flags["sampler.name"]) == (
        "--s-churn",
        "--steps",
        "--sampler",
    )
    shown = posediff("evaluate", "--help").stdout
    assert all(flag in shown for flag in flags.values()), shown
    cfg = with_overrides(trial_config({}), {"sampler.S_churn": 0.5, "sampler.grid": "quadratic"})
    assert (cfg.sampler.S_churn, cfg.sampler.grid) == (0.5, "quadratic")
