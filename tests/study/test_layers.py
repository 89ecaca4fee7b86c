"""The import direction of study/'s rooms (study/__init__.py): cli -> report/tune -> spec/results -> model."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Room -> the rooms of this project it may import ("model" is the lifter package).
ALLOWED = {
    "cli": {"cli", "report", "tune", "spec", "results", "model"},
    "report": {"report", "spec", "results", "model"},
    "tune": {"tune", "spec", "results", "model"},
    "spec": {"spec", "model"},
    "results": {"results", "model"},
    "": {"cli"},  # study/__init__.py and study/__main__.py
    "model": {"model"},
}
NEVER_IN_MODEL = {"study", "ray", "optuna", "typer", "rich"}


def room_of(module: str) -> str | None:
    """'study.tune.bridge' -> 'tune', 'model.prior' -> 'model', 'study' -> '', anything else -> None."""
    parts = module.split(".")
    if parts[0] == "model":
        return "model"
    if parts[0] == "study":
        return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else ""
    return None


def imported(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports (at any depth, relative imports resolved against ``package``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}  # `from study import cli`
    return found


def violations(root: Path) -> list[str]:
    """'<file>: <room> imports <module>' for each import against the rules, under ``root``/study and /model."""
    bad = []
    for path in sorted([*root.glob("study/**/*.py"), *root.glob("model/**/*.py")]):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        room, package = room_of(module), ".".join(parts[:-1])
        for target in sorted(imported(path, package)):
            target_room = room_of(target)
            top = target.split(".")[0]
            if room == "model" and top in NEVER_IN_MODEL:
                bad.append(f"{path.relative_to(root)}: model imports {target}")
            elif target_room is not None and target_room != "" and target_room not in ALLOWED[room or ""]:
                bad.append(f"{path.relative_to(root)}: {room or 'study'} imports {target}")
    return bad


def test_the_repository_keeps_the_import_direction():
    assert violations(ROOT) == []


def test_a_lower_room_importing_an_upper_one_is_caught(tmp_path: Path):
    for folder in ("study/spec", "study/tune", "model"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "study/tune/runner.py").write_text("from study.spec import checks\n")  # downward: allowed
    (tmp_path / "study/spec/bad.py").write_text("def f():\n    from study.tune.runner import run_study\n")
    (tmp_path / "study/spec/sibling.py").write_text("from ..results import tables\n")
    (tmp_path / "model/leaky.py").write_text("import optuna\nfrom study import cli\n")
    assert violations(tmp_path) == [
        "model/leaky.py: model imports optuna",
        "model/leaky.py: model imports study",
        "model/leaky.py: model imports study.cli",
        "study/spec/bad.py: spec imports study.tune.runner",
        "study/spec/bad.py: spec imports study.tune.runner.run_study",
        "study/spec/sibling.py: spec imports study.results",
        "study/spec/sibling.py: spec imports study.results.tables",
    ]
