"""The `posediff-study` command line: a thin Typer layer over the `model` and `study` libraries.

Each command group lives in its own module of `study/cli/` and is registered here. User errors
(:class:`model.errors.PoseDiffError`) print one line on stderr and exit 2.
"""

from __future__ import annotations

import sys

import typer

from model.errors import PoseDiffError

app = typer.Typer(
    name="posediff-study",
    help="Hyperparameter studies of diffusion models for 3D human pose (Ray Tune + Optuna).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """Keeps `posediff-study` a command group whatever commands are registered."""


def _register() -> None:
    """Attach the command modules (each exposes `register(app)`; heavy imports wait for their command)."""
    from study.cli import data, report, run, space, train

    for module in (data, train, space, run, report):
        module.register(app)


def main() -> None:
    """Console-script entry point."""
    _register()
    try:
        app()
    except PoseDiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
