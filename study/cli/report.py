"""`posediff-study report [RUN_DIR ...] [--out DIR]`: the comparison tables and plots of finished studies."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from study.results.storage import STORAGE_ENV


def report(
    run_dirs: list[Path] | None = typer.Argument(
        None,
        metavar="RUN_DIR",
        help="Study result folders (default: every folder under runs/ holding a trials.parquet).",
    ),
    out: Path | None = typer.Option(
        None, "--out", metavar="DIR", help="Output folder (default: <first RUN_DIR>/report)."
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        metavar="URL",
        envvar=STORAGE_ENV,
        show_envvar=True,
        help="Optuna RDB URL the studies used (default: optuna.journal in each RUN_DIR).",
    ),
) -> None:
    """Write report.md, report.html, CSV tables and PNG plots; print the tables."""
    from study.report.build import default_run_dirs, write_report  # pandas/matplotlib/sklearn only when used

    dirs = list(run_dirs) if run_dirs else default_run_dirs()
    write_report(dirs, out or dirs[0] / "report", Console(), storage)


def register(app: typer.Typer) -> None:
    """Attach the `report` command."""
    app.command("report")(report)
