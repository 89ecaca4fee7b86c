"""The README's two set-up commands are exactly what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set-up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_them() -> None:
    commands = _readme_setup_commands()
    assert len(commands) == 2, commands
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    for command in commands:
        assert "\n" not in command
        assert command in ci_lines, f"README command not run verbatim by .ci/run: {command}"


def test_model_never_imports_orchestration_packages() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(study|ray|optuna|typer|rich)\b", re.M)
    offenders = [str(p) for p in (ROOT / "model").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
