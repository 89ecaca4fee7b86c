"""`posediff-study run --space FILE`: validate the spec, then run the study on Ray Tune + Optuna."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.live import Live

from study.results.storage import STORAGE_ENV, redact_url
from study.spec.study_spec import StudySpec, load_spec
from study.tune.live import StudyProgress, progress_line, render_progress

if TYPE_CHECKING:  # Ray and torch load only when a study runs (keeps every other command fast)
    from study.tune.callbacks import View
    from study.tune.runner import RunOptions, StudyOutcome

console = Console(stderr=True, soft_wrap=True)  # paths and commands stay copyable
INTERRUPTED_EXIT = 130  # the shell's code for Ctrl-C


def _empty(spec: StudySpec) -> StudyProgress:
    return StudyProgress(spec.name, 0, 0, 0, 0, spec.num_total_trials, None, None, (), 0.0)


@contextlib.contextmanager
def progress_view(spec: StudySpec, quiet: bool) -> Iterator[View]:
    """A rich live view of the study, or (quiet) one log line per trial event."""
    if quiet:

        def log(snapshot: StudyProgress, event: str | None) -> None:
            if event is not None:
                console.print(f"{event} | {progress_line(snapshot)}", markup=False, highlight=False)

        yield log
        return
    with Live(render_progress(_empty(spec)), console=console, refresh_per_second=2) as live:
        yield lambda snapshot, event: live.update(render_progress(snapshot))
    if not console.is_terminal:  # a non-terminal Live leaves its last frame without a newline
        console.line()


def _summary(outcome: StudyOutcome, options: RunOptions, space: Path) -> None:
    from study.results.storage import JOURNAL_NAME

    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(outcome.counts.items()))
    console.print(f"Optuna trials: {counts}", markup=False)
    console.print(f"results: {outcome.run_dir} (trials, epochs and samples .parquet, spec.resolved.yaml)", markup=False)
    console.print(f"Ray experiment: {outcome.experiment_path}", markup=False)
    storage = redact_url(options.storage_url) if options.storage_url else str(outcome.run_dir / JOURNAL_NAME)
    console.print(f"dashboard: optuna-dashboard {storage}", markup=False)
    if not outcome.finished:
        again = " --storage <the same URL>" if options.storage_url else ""  # never the password
        console.print(
            f"study not finished; continue with: posediff-study run --space {space} "
            f"--out {outcome.run_dir}{again} --resume",
            markup=False,
        )


def run_command(
    space: Path = typer.Option(..., "--space", help="Study spec YAML (see searchspaces/)."),
    out: Path | None = typer.Option(None, "--out", help="Result folder (default: runs/<study name>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run of the same study."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster: auto | ray://host:port | ip:port."),
    storage: str | None = typer.Option(
        None,
        "--storage",
        envvar=STORAGE_ENV,
        show_envvar=True,
        help="Optuna RDB URL (default: journal file); the environment variable keeps a password off the command line.",
    ),
    storage_path: str | None = typer.Option(
        None, "--storage-path", help="Ray storage every node reaches (NFS path or s3://...)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="One log line per trial event instead of a live view."),
) -> None:
    """Run a study: Optuna samples and prunes, Ray Tune places trials, Parquet records every epoch."""
    from study.tune.runner import RunOptions, run_study

    spec = load_spec(space)
    options = RunOptions(out=out, resume=resume, address=address, storage_url=storage, storage_path=storage_path)
    with progress_view(spec, quiet) as view:
        outcome = run_study(spec, options, view)
    _summary(outcome, options, space)
    if not outcome.finished:
        sys.exit(INTERRUPTED_EXIT)


def register(app: typer.Typer) -> None:
    """Attach `run` to the CLI."""
    app.command("run")(run_command)
