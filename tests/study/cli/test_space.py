"""`posediff-study check-space`: the resolved space on stdout, or one error line on stderr and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from study.cli.space import register
from study.spec.study_spec import load_spec

SMOKE = Path(__file__).resolve().parents[3] / "searchspaces" / "smoke.yaml"
GOOD = "name: t\nspace:\n  train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n"
CASES = [  # (id, content, key the line must name; None: the file alone) run through the real CLI
    ("unknown_param", "name: t\nspace:\n  sampler.S_churm: {type: float, low: 0, high: 1}\n", "space.sampler.S_churm"),
    ("low_above_high", "name: t\nspace:\n  sampler.rho: {type: float, low: 9, high: 3}\n", "space.sampler.rho.high"),
    ("bad_pruner_kwarg", GOOD + "pruner: {name: hyperband, patience: 3}\n", "pruner.patience"),
    ("width_vs_heads", GOOD + "fixed: {network.width: 50}\n", "network.width"),
    ("python_tag", "name: !!python/object/apply:os.system ['touch pwned']\n", None),
    ("binary", b"\xff\xfe\x00\x01garbage\x80", None),
    ("directory", None, None),
    ("missing_path", None, None),
]


def check_space(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160"}  # rich tables: no wrapped keys in the captured output
    return subprocess.run(
        [sys.executable, "-m", "study", "check-space", str(path)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def materialise(specs: Path, case: str, content: str | bytes | None) -> Path:
    """The malformed spec as a path: a file with ``content``, a directory, or nothing at all."""
    path = specs / f"{case}.yaml"
    if case == "directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, subprocess.CompletedProcess]]:
    """The CLI runs of this module, started together (each pays the whole CLI's import time, torch and ray
    included): job -> (spec path, working directory, result)."""
    specs = tmp_path_factory.mktemp("specs")
    jobs = {"table": SMOKE, **{case: materialise(specs, case, content) for case, content, _ in CASES}}
    cwds = {job: tmp_path_factory.mktemp(f"cwd_{job}") for job in jobs}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {job: pool.submit(check_space, path, cwds[job]) for job, path in jobs.items()}
    return {job: (jobs[job], cwds[job], future.result()) for job, future in futures.items()}


@pytest.mark.slow
def test_check_space_prints_resolved_space(runs: dict) -> None:
    _, cwd, result = runs["table"]
    assert result.returncode == 0, result.stderr
    for text in (
        "train.lr",
        "sampler.S_churn",
        "sampler.name in {edm}",
        "log",
        "median(",
        "tpe(",
        "num_trials=10",
        "gpus_per_trial=0",
        "network.width",
        "Fixed values",
    ):
        assert text in result.stdout
    assert list(cwd.iterdir()) == []


def test_check_space_json_is_the_resolved_spec() -> None:
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands: typer keeps `check-space` as a subcommand
    result = CliRunner().invoke(app, ["check-space", str(SMOKE), "--json"])
    assert result.exit_code == 0, result.output
    spec = load_spec(SMOKE)
    assert json.loads(result.stdout) == {"hash": spec.hash, **spec.resolved()}


@pytest.mark.slow
@pytest.mark.parametrize(("case", "key"), [(c[0], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_spec_exits_2_with_one_line(runs: dict, case: str, key: str | None) -> None:
    path, cwd, result = runs[case]
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{path}: {key + ': ' if key else ''}expected " in lines[0]
    assert list(cwd.iterdir()) == []
    assert {p.name for p in path.parent.iterdir()} <= {f"{c[0]}.yaml" for c in CASES}
