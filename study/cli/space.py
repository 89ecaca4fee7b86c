"""`posediff-study check-space FILE`: validate a study spec and print its two stages' search spaces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from study.spec.space import ParamSpec
from study.spec.study_spec import StudySpec, load_spec


def register(app: typer.Typer) -> None:
    """Attach ``check-space`` to the CLI."""
    app.command("check-space")(check_space)


def check_space(
    file: Path = typer.Argument(..., help="Study spec (YAML), e.g. searchspaces/smoke.yaml."),
    as_json: bool = typer.Option(False, "--json", help="Print the resolved spec and its hash as JSON."),
) -> None:
    """Validate a study spec and print its search space, fixed values and study settings."""
    spec = load_spec(file)  # PoseDiffError -> one line on stderr, exit 2 (study/cli/app.py)
    if as_json:
        print(json.dumps({"hash": spec.hash, **spec.resolved()}, indent=2))
        return
    console = Console()
    console.print(settings_table(spec))
    console.print(space_table(spec.training_params, "Stage 1: training keys (each value trains a network)"))
    console.print(space_table(spec.sampling_params, "Stage 2: sampling keys (searched on each trained network)"))
    console.print(_two_columns(f"Fixed values ({len(spec.fixed)})", ("key", "value"), spec.fixed))


def settings_table(spec: StudySpec) -> Table:
    """Study-level settings: objective, Optuna sampler and pruner, budget, resources."""
    resolved = spec.resolved()
    rows = {
        "source": str(spec.source),
        "hash": spec.hash,
        "objective": f"{spec.mode} {spec.metric}",
        "sampler": _call(resolved["sampler"]),
        "pruner": _call(resolved["pruner"]),
        "budget": _kwargs(resolved["budget"]),
        "resources": _kwargs(resolved["resources"]),
        "regress reference": "yes" if spec.include_regress_reference else "no",
        "stage 2": _kwargs({k: v for k, v in resolved["sampling"].items() if k != "sampler"}),
        "stage 2 sampler": _call(resolved["sampling"]["sampler"]),
    }
    return _two_columns(f"Study {spec.name}", ("setting", "value"), rows)


def space_table(params: tuple[ParamSpec, ...], title: str = "Search space") -> Table:
    """One row per parameter (in the order they are sampled): key, type, range or choices, log/step, condition."""
    table = Table(title=f"{title} ({len(params)} parameters)")
    table.add_column("key", no_wrap=True)
    for column in ("type", "range / choices", "log / step", "condition"):
        table.add_column(column, overflow="fold")
    for p in params:
        if p.kind == "categorical":
            span, scale = ", ".join(map(str, p.labels)), ""
        else:
            span = f"[{p.low:g}, {p.high:g}]"
            scale = "log" if p.log else (f"step {p.step:g}" if p.step is not None else "")
        condition = " and ".join(f"{key} in {{{', '.join(map(str, allowed))}}}" for key, allowed in p.when)
        table.add_row(p.key, p.kind, span, scale, condition)
    return table


def _two_columns(title: str, header: tuple[str, str], rows: dict[str, Any]) -> Table:
    table = Table(title=title)
    for column in header:
        table.add_column(column, overflow="fold")
    for key, value in rows.items():
        table.add_row(key, str(value))
    return table


def _call(named: dict[str, Any]) -> str:
    """{'name': 'median', 'n_startup_trials': 2} -> 'median(n_startup_trials=2)'."""
    args = {k: _call(v) if isinstance(v, dict) else v for k, v in named.items() if k != "name"}
    return f"{named['name']}({_kwargs(args)})"


def _kwargs(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())
