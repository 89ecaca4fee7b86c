"""`posediff-study check-space`: the resolved space on stdout, or one error line on stderr and exit 2."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SMOKE = Path(__file__).resolve().parents[2] / "searchspaces" / "smoke.yaml"
GOOD = "name: t\nspace:\n  train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}\n"
CASES = [  # (id, content, key the line must name; None: the file alone) run through the real CLI
    ("unknown_param", "name: t\nspace:\n  sampler.S_churm: {type: float, low: 0, high: 1}\n", "space.sampler.S_churm"),
    ("low_above_high", "name: t\nspace:\n  sampler.rho: {type: float, low: 9, high: 3}\n", "space.sampler.rho.high"),
    ("gpus_one_and_a_half", GOOD + "resources: {gpus_per_trial: 1.5}\n", "resources.gpus_per_trial"),
    ("bad_pruner_kwarg", GOOD + "pruner: {name: hyperband, patience: 3}\n", "pruner.patience"),
    ("width_vs_heads", GOOD + "fixed: {network.width: 50}\n", "network.width"),
    ("python_tag", "name: !!python/object/apply:os.system ['touch pwned']\n", None),
    ("empty_file", "", None),
    ("binary", b"\xff\xfe\x00\x01garbage\x80", None),
    ("directory", None, None),
    ("missing_path", None, None),
]


def check_space(path: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "160"}  # rich tables: no wrapped keys in the captured output
    return subprocess.run([sys.executable, "-m", "study", "check-space", str(path)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_check_space_prints_resolved_space(tmp_path: Path) -> None:
    result = check_space(SMOKE, tmp_path)
    assert result.returncode == 0, result.stderr
    for text in ("train.lr", "sampler.S_churn", "sampler.name in {edm}", "log", "median(",
                 "tpe(", "num_trials=10", "gpus_per_trial=0", "network.width", "Fixed values"):
        assert text in result.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize(("case", "content", "key"), CASES, ids=[c[0] for c in CASES])
def test_malformed_spec_exits_2_with_one_line(tmp_path: Path, case: str, content: str | bytes | None,
                                              key: str | None) -> None:
    specs, cwd = tmp_path / "specs", tmp_path / "cwd"
    specs.mkdir()
    cwd.mkdir()
    path = specs / f"{case}.yaml"
    if case == "directory":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = check_space(path, cwd)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{path}: {key + ': ' if key else ''}expected " in lines[0]
    assert list(cwd.iterdir()) == [] and {p.name for p in specs.iterdir()} <= {path.name}
