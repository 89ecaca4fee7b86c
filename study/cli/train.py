"""`posediff-study train` (one configuration, no Ray) and `posediff-study evaluate` (a saved lifter)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from model.config import (
    SamplerConfig,
    TrialConfig,
    allowed_values,
    check_ranges,
    coerce,
    field_types,
    to_nested_dict,
    trial_config,
)
from model.errors import PoseDiffError
from study.spec.yaml_file import read_yaml

if TYPE_CHECKING:  # torch and the lifter load only when a command runs (fast --help, fast config errors)
    from model.evaluate import EvalResult
    from model.train import EpochMetrics

console = Console(stderr=True)
_FLAG_NAMES = {"name": "--sampler", "num_steps": "--steps", "num_hypotheses": "--hypotheses"}  # else --<field>


def sampler_flags() -> dict[str, str]:
    """Dotted key -> ``evaluate`` flag for every field of :class:`SamplerConfig` (``sampler.S_churn`` -> ``--s-churn``)."""
    return {
        f"sampler.{f.name}": _FLAG_NAMES.get(f.name, "--" + f.name.lower().replace("_", "-"))
        for f in dataclasses.fields(SamplerConfig)
    }


def _sampler_option(key: str, flag: str) -> inspect.Parameter:
    """One keyword-only Typer option overriding ``key`` (None: keep the checkpoint's value)."""
    choices = allowed_values(key)
    hint = {int: int | None, float: float | None}.get(field_types()[key], str | None)  # Literal: str
    help_text = f"Override {key}" + (f" ({' | '.join(map(str, choices))})." if choices else ".")
    return inspect.Parameter(
        key.replace(".", "_"),
        inspect.Parameter.KEYWORD_ONLY,
        annotation=hint,
        default=typer.Option(None, flag, help=help_text),
    )


def with_sampler_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command`` with one option per sampler field; they arrive as ``sampler_<field>`` keyword arguments."""
    signature = inspect.signature(command)
    extra = [_sampler_option(key, flag) for key, flag in sampler_flags().items()]
    names = {p.name for p in extra}  # idempotent: main() may register the commands again in one process
    params = [
        p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD and p.name not in names
    ]
    command.__signature__ = signature.replace(parameters=params + extra)  # type: ignore[attr-defined]
    return command


def read_trial_config(path: Path) -> TrialConfig:
    """A nested trial-config YAML file (sections data / prior / diffusion / network / sampler / train)."""
    values = read_yaml(path, kind="trial-config")
    if not isinstance(values, dict):
        raise PoseDiffError(str(path), "a mapping of config sections", type(values).__name__)
    return trial_config(values, where=str(path))


def with_overrides(cfg: TrialConfig, overrides: dict[str, Any], where: str = "command line") -> TrialConfig:
    """cfg with dotted-key overrides (None values skipped), each checked against its type, then ranges."""
    sections: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if value is not None:
            section, _, name = key.partition(".")
            sections.setdefault(section, {})[name] = coerce(key, value, where)
    cfg = dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s), **kw) for s, kw in sections.items()})
    check_ranges(cfg, where)
    return cfg


def _set_threads(threads: int | None) -> None:
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)


def train_command(
    config: Path = typer.Option(..., "--config", help="Nested trial-config YAML (see configs/lifter.yaml)."),
    data: str | None = typer.Option(None, "--data", help="Dataset path (default: the synthetic dataset)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Override train.epochs."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default runs/train-<timestamp>)."),
    threads: int | None = typer.Option(None, "--threads", help="torch threads (default: all CPUs)."),
) -> None:
    """Train one configuration without Ray: metrics.jsonl, config.yaml and lifter.pt under --out."""
    from model.data import load_splits
    from model.train import fit

    cfg = with_overrides(read_trial_config(config), {"data.path": data, "train.epochs": epochs})
    _set_threads(threads)
    out = out or Path("runs") / time.strftime("train-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(to_nested_dict(cfg), sort_keys=False))
    splits = load_splits(cfg.data)
    (out / "metrics.jsonl").write_text("")
    with Progress(
        TextColumn("epoch"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("train", total=cfg.train.epochs, info="fitting prior")

        def on_epoch(m: EpochMetrics, checkpoint: Any) -> None:
            with (out / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(dataclasses.asdict(m)) + "\n")
            if m.epoch % cfg.train.checkpoint_every == 0 or m.epoch == cfg.train.epochs:
                checkpoint(out / "lifter.pt")
            progress.update(
                task,
                completed=m.epoch,
                info=f"loss {m.train_loss:.4f}  val MPJPE {m.val_mpjpe_mm:.1f} mm  {m.samples_per_s:,.0f} samples/s",
            )

        result = fit(cfg, splits, on_epoch=on_epoch)
    last = result.epochs[-1]
    console.print(f"val MPJPE {last.val_mpjpe_mm:.1f} mm, P-MPJPE {last.val_p_mpjpe_mm:.1f} mm -> {out / 'lifter.pt'}")


def evaluate_command(
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="A lifter.pt written by train or a study."),
    run: Path | None = typer.Option(None, "--run", help="A study folder: sweep its top trials (with --space)."),
    top: int = typer.Option(3, "--top", help="With --run: how many of the best complete trials to re-evaluate."),
    space: Path | None = typer.Option(
        None, "--space", help="With --run: a sampler-sweep YAML (see searchspaces/sampler_sweep.yaml)."
    ),
    address: str | None = typer.Option(None, "--address", help="With --run: Ray cluster (default: local Ray)."),
    data: str | None = typer.Option(None, "--data", help="Dataset path (default: the checkpoint's)."),
    split: str = typer.Option("test", "--split", help="val | test"),
    batch_size: int = typer.Option(1024, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    threads: int | None = typer.Option(None, "--threads"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    **sampler_options: Any,
) -> None:
    """Evaluate a saved lifter on a split, or (--run) sweep a study's top trials over sampler settings on Ray."""
    overrides = {key: sampler_options[key.replace(".", "_")] for key in sampler_flags()}
    flags = {flag: overrides[key] for key, flag in sampler_flags().items()}
    _check_mode(checkpoint, run, space, address, {"--data": data, **flags})
    if run is not None:
        return sweep_command(run, top, space, address, as_json)
    import torch

    from model.checkpoint import load_lifter
    from model.data import load_splits
    from model.evaluate import evaluate
    from model.train import resolve_device

    if split not in ("val", "test"):
        raise PoseDiffError("--split", "'val' or 'test'", repr(split))
    lifter, cfg = load_lifter(checkpoint)
    cfg = with_overrides(cfg, {"data.path": data, **overrides})
    _set_threads(threads)
    device = resolve_device(cfg.train.device)
    part = getattr(load_splits(cfg.data), split).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    result = evaluate(lifter.to(device), part, cfg.sampler, batch_size=batch_size, generator=generator)
    if as_json:
        print(json.dumps(result_dict(result, cfg, split)))
    else:
        Console().print(result_table(result, split))


def _check_mode(
    checkpoint: Path | None,
    run: Path | None,
    space: Path | None,
    address: str | None,
    single: dict[str, Any],
) -> None:
    """evaluate: exactly one of --checkpoint / --run; sampler flags only with --checkpoint, sweep flags only with --run."""
    if (checkpoint is None) == (run is None):
        raise PoseDiffError("evaluate", "exactly one of --checkpoint or --run", "both" if checkpoint else "neither")
    given = [flag for flag, value in single.items() if value is not None]
    if run is not None and given:
        raise PoseDiffError("--run", "sampler settings in the --space file", " ".join(given))
    if checkpoint is not None and (space is not None or address is not None):
        raise PoseDiffError("--checkpoint", "--space and --address only with --run", "--space or --address")


def sweep_command(run: Path, top: int, space: Path | None, address: str | None, as_json: bool) -> None:
    """`evaluate --run`: study.tune.sweep on Ray; eval rows appended to the study's trials.parquet."""
    from study.report.details import sweep_table
    from study.report.render import print_blocks
    from study.results.tables import TRIALS_FILE, read_trials
    from study.spec.sweep_file import load_sweep
    from study.tune.sweep import run_sweep

    if space is None:
        raise PoseDiffError("--run", "--space FILE (a sampler-sweep YAML)", "no --space")
    sweep = load_sweep(space)
    outcome = run_sweep(
        run, sweep, top, address, on_row=None if as_json else lambda row: console.print(f"{row.trial_id}: done")
    )
    if as_json:
        print(json.dumps({"rows": [dataclasses.asdict(r) for r in outcome.rows], "num_skipped": outcome.num_skipped}))
        return
    table, out = sweep_table(read_trials(run).to_pylist()), Console()  # the report's sweep table, as it now stands
    out.print(
        f"{len(outcome.rows)} evaluations written to {run / TRIALS_FILE}, {outcome.num_skipped} already there",
        markup=False,
    )
    print_blocks([table] if table else [], out)


def result_dict(result: EvalResult, cfg: TrialConfig, split: str) -> dict[str, Any]:
    """JSON-ready summary: overall errors, oracles, per-action tables, the sampler used."""
    figures = {k: v for k, v in dataclasses.asdict(result).items() if k != "frame_mpjpe_mm"}  # per frame: not a summary
    return {"split": split, "sampler": dataclasses.asdict(cfg.sampler), **figures}


def result_table(result: EvalResult, split: str) -> Table:
    """Rich table: per action and overall MPJPE / P-MPJPE / N-MPJPE, then oracle best-of-N."""
    table = Table(title=f"{split}: {result.num_frames} frames, N={result.num_hypotheses}, NFE={result.nfe}")
    for column in ("action", "frames", "MPJPE mm", "P-MPJPE mm", "N-MPJPE mm"):
        table.add_column(column, justify="left" if column == "action" else "right")
    by_action = (result.mpjpe_by_action, result.p_mpjpe_by_action, result.n_mpjpe_by_action)
    for action, num_frames in by_action[0].num_frames.items():
        table.add_row(action, str(num_frames), *(f"{t.per_action_mm[action]:.1f}" for t in by_action))
    table.add_row(
        "overall",
        str(result.num_frames),
        f"{result.mpjpe_mm:.1f}",
        f"{result.p_mpjpe_mm:.1f}",
        f"{result.n_mpjpe_mm:.1f}",
        style="bold",
    )
    table.add_row("oracle best pose", "", f"{result.oracle_pose_mpjpe_mm:.1f}", "", "")
    table.add_row("oracle best joint", "", f"{result.oracle_joint_mpjpe_mm:.1f}", "", "")
    return table


def register(app: typer.Typer) -> None:
    """Attach `train` and `evaluate` to the CLI."""
    app.command("train")(train_command)
    app.command("evaluate")(with_sampler_options(evaluate_command))
