"""The `posediff-study` command line: a thin Typer layer over the `model` and `study` libraries.

Each command group lives in its own `study/cli_*.py` module and is registered here. User errors
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


def _register() -> None:
    """Attach the command modules (each exposes `register(app)`)."""
    import importlib

    for name in ("cli_data", "cli_train", "cli_run", "cli_report", "cli_space"):
        try:
            module = importlib.import_module(f"study.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"study.{name}":
                raise
            continue
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
