"""`posediff-study run` as a user runs it: a subprocess, bad input refused before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from study.results.layout import SPEC_FILE
from study.results.samples import read_samples
from study.tune.gate import HUNG_S

SMOKE = Path(__file__).resolve().parents[3] / "searchspaces" / "smoke.yaml"


def run_cli(*args: str, timeout: float = HUNG_S) -> subprocess.CompletedProcess:
    """`python -m study run ...` (the console script's code path), capturing output."""
    return subprocess.run(
        [sys.executable, "-m", "study", "run", *args], capture_output=True, text=True, timeout=timeout
    )


def test_bad_spec_exits_2_with_one_line_and_writes_nothing(tiny_spec, tmp_path: Path):
    spec = tiny_spec(space={"sampler.S_churm": {"type": "float", "low": 0.0, "high": 1.0}})
    out = tmp_path / "run"
    result = run_cli("--space", str(spec), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "sampler.S_churm" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_folder_of_another_study_is_refused(tiny_spec, tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    (out / SPEC_FILE).write_text(yaml.safe_dump({"hash": "0123456789ab", "name": "tiny"}))
    result = run_cli("--space", str(tiny_spec()), "--out", str(out))
    assert result.returncode == 2
    assert "another study (hash 0123456789ab)" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == [SPEC_FILE]


def test_same_unfinished_study_needs_resume(tiny_spec, tmp_path: Path):
    from study.spec.study_spec import load_spec
    from study.tune.runner import RunOptions, prepare_run_dir

    spec_file, out = tiny_spec(), tmp_path / "run"
    assert prepare_run_dir(load_spec(spec_file), RunOptions(out=out)) is False  # claims the folder
    result = run_cli("--space", str(spec_file), "--out", str(out))
    assert result.returncode == 2 and "--resume" in result.stderr
    resume_missing = run_cli("--space", str(spec_file), "--out", str(tmp_path / "nothing"), "--resume")
    assert resume_missing.returncode == 2 and "no such run" in resume_missing.stderr


@pytest.mark.slow
def test_smoke_study_through_the_cli_prunes(study_check, tmp_path: Path):
    # searchspaces/smoke.yaml exactly as shipped (the README's first command), on the synthetic default.
    spec_file, out = SMOKE, tmp_path / "run"
    result = run_cli("--space", str(spec_file), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    trials, rows, _ = study_check(out, "smoke")
    assert len(trials) == 11 and sum(r["status"] == "pruned" for r in rows) >= 1
    assert sum(r["status"] == "complete" for r in rows) >= 2  # the reference and at least one diffusion trial
    assert f"optuna-dashboard {out.resolve() / 'optuna.journal'}" in result.stderr
    assert sum(" started | " in line for line in result.stderr.splitlines()) == 11
    assert yaml.safe_load((out / SPEC_FILE).read_text())["name"] == "smoke"
    again = run_cli("--space", str(spec_file), "--out", str(out), "--quiet")  # a finished study: report only
    assert again.returncode == 0 and " started | " not in again.stderr and "Optuna trials:" in again.stderr
    assert len(study_check(out, "smoke")[0]) == 11
    # Stage 2 searched every complete diffusion network and tested the chosen settings; the report shows both stages.
    networks = {
        r["trial_id"] for r in rows if r["status"] == "complete" and r["param.diffusion.prediction"] != "regress"
    }
    samples = read_samples(out).to_pylist()
    assert {r["source_trial_id"] for r in samples} == networks
    assert any(r["origin"] == "chosen" for r in samples) and " tested: test " in result.stderr
    report = subprocess.run(
        [sys.executable, "-m", "study", "report", str(out), "--out", str(tmp_path / "report")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-2000:]
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Schedule x sampler comparison" in text and "Stage 2: sampler settings on trained networks" in text
