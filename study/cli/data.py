"""`posediff-study data`: generate the synthetic default dataset, inspect any dataset file."""

from __future__ import annotations

from pathlib import Path

import typer

data_app = typer.Typer(help="Datasets: write the synthetic dataset, inspect a dataset.", no_args_is_help=True)


@data_app.command("synth")
def synth(
    out: Path = typer.Option(..., "--out", help="Where to write the .npz (custom format)."),
    seed: int = typer.Option(0, help="Random seed: same seed, same file."),
    subjects: int = typer.Option(7, help="Number of subjects (body sizes), >= 3."),
    minutes: float = typer.Option(1.0, help="Minutes of motion per subject, split over the activities."),
    cameras: int = typer.Option(4, help="Virtual cameras per subject."),
) -> None:
    """Write a synthetic dataset (procedural motion, virtual cameras, detector-like 2D noise)."""
    from model.synthetic import generate

    path = generate(out, seed=seed, num_subjects=subjects, minutes=minutes, num_cameras=cameras)
    typer.echo(f"wrote {path}")


@data_app.command("inspect")
def inspect(
    path: Path = typer.Argument(..., help="A custom-format .npz or a Human3.6M (VideoPose3D) folder."),
    plot: Path | None = typer.Option(None, "--plot", help="Also draw skeletons to this PNG."),
) -> None:
    """Summarise a dataset: subjects, actions, frames, cameras, bone lengths (and a plot)."""
    from rich.console import Console

    from model.config import DataConfig
    from model.data import load_splits
    from study.report.inspect_data import print_summary, save_plot

    splits = load_splits(DataConfig(path=str(path)))
    console = Console()
    print_summary(splits, console if console.is_terminal else Console(width=140))
    if plot is not None:
        typer.echo(f"wrote {save_plot(splits, plot)}")


def register(app: typer.Typer) -> None:
    """Attach the `data` command group to the top-level app."""
    app.add_typer(data_app, name="data")
