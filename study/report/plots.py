"""The report's figures (matplotlib, no display): learning curves per schedule / sampler and the
accuracy / cost Pareto front. Each function writes one PNG and returns nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter, ScalarFormatter

from study.report.tables import SAMPLER, SCHEDULE, Record, is_regress, label, scored
from study.results.choice import final_rows, lower_front, pareto_front
from study.results.samples import SampleRow
from study.results.tables import finite

Curves = dict[tuple[str, str], list[Record]]  # (study, trial id) -> epoch rows in epoch order


def group_by(column: str) -> Callable[[Record], str]:
    """A trial's group label for the plots: the column's value, or "regress" for the reference."""
    return lambda record: "regress" if is_regress(record) else label(record, column)


def curves(epochs: Sequence[Record]) -> Curves:
    """Training epoch rows per trial, sorted by epoch."""
    out: Curves = defaultdict(list)
    for row in epochs:
        if row["kind"] == "train":
            out[(row["study"], row["trial_id"])].append(row)
    return {key: sorted(rows, key=lambda r: r["epoch"]) for key, rows in sorted(out.items())}


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Figure, object]:
    fig = Figure(figsize=(7.5, 4.5), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    if xlabel == "epoch":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, ax


def _legend(ax: object) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")


def _colours(groups: Sequence[str]) -> dict[str, object]:
    palette = colormaps["tab10"]
    return {g: palette(i % 10) for i, g in enumerate(sorted(set(groups)))}


def curve_plot(
    trials: Sequence[Record],
    epochs: Sequence[Record],
    group: Callable[[Record], str],
    metric: str,
    path: Path,
    title: str,
    ylabel: str,
    log_y: bool = False,
) -> None:
    """One line per trial coloured by its group, each group's best complete trial bold; a pruned
    trial's last epoch marked x."""
    by_trial = {(r["study"], r["trial_id"]): r for r in trials if r["kind"] == "train"}
    rows = curves(epochs)
    keys = [k for k in rows if k in by_trial]
    colours = _colours([group(by_trial[k]) for k in keys])
    best: dict[str, tuple[str, str]] = {}
    for record in scored(by_trial[k] for k in keys):  # best first
        best.setdefault(group(record), (record["study"], record["trial_id"]))
    fig, ax = _figure(title, "epoch", ylabel)
    labelled: set[str] = set()
    for k in keys:
        name, bold, pruned = group(by_trial[k]), best.get(group(by_trial[k])) == k, by_trial[k]["status"] == "pruned"
        ax.plot(
            [r["epoch"] for r in rows[k]],
            [r[metric] for r in rows[k]],
            color=colours[name],
            linewidth=2.6 if bold else 1.0,
            alpha=1.0 if bold else 0.45,
            zorder=3 if bold else 2,
            marker="x" if pruned else ("o" if len(rows[k]) == 1 else None),
            markevery=[len(rows[k]) - 1],
            label=f"{name} (best: {k[1]})" if bold else (None if name in labelled else name),
        )
        labelled.add(name)
    if any(by_trial[k]["status"] == "pruned" for k in keys):
        ax.plot([], [], "x", color="grey", label="pruned here")
    if log_y:
        ax.set_yscale("log")
    _legend(ax)
    fig.savefig(path)


def _sweep_score(record: Record) -> float | None:
    """A trial's validation MPJPE for the cost plot: best epoch (training), full split else final (eval rows)."""
    if record["kind"] == "train":
        return record["best_val_mpjpe_mm"]
    return record["val_full_mpjpe_mm"] if finite(record["val_full_mpjpe_mm"]) else record["final_val_mpjpe_mm"]


def pareto_plot(trials: Sequence[Record], path: Path) -> None:
    """Validation MPJPE against NFE per pose (diffusion trials and sweep rows); the Pareto front as a
    step line; the regress reference as a horizontal line."""
    done = [(r, _sweep_score(r)) for r in trials if r["status"] == "complete" and finite(r["nfe"])]
    done = [(r, v) for r, v in done if finite(v)]
    points = [(r, v) for r, v in done if not is_regress(r)]
    fig, ax = _figure("Accuracy against sampling cost", "network evaluations per pose (NFE)", "val MPJPE (mm)")
    name = group_by(SAMPLER)
    colours = _colours([name(r) for r, _ in points])
    labelled: set[str] = set()
    for r, value in points:
        tag = f"{name(r)}{' (test-time sweep)' if r['kind'] == 'eval' else ''}"
        ax.scatter(
            r["nfe"],
            value,
            color=colours[name(r)],
            marker="x" if r["kind"] == "eval" else "o",
            label=None if tag in labelled else tag,
        )
        labelled.add(tag)
    front = lower_front([(float(r["nfe"]), v) for r, v in points], cost=lambda p: p[0], error=lambda p: p[1])
    if front:
        ax.step([c for c, _ in front], [e for _, e in front], where="post", color="black", label="Pareto front")
    reference = [v for r, v in done if is_regress(r)]
    if reference:
        ax.axhline(min(reference), color="grey", linestyle="--", label="regress reference (1 forward pass)")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(sorted({int(r["nfe"]) for r, _ in points}) or [1], minor=False)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    _legend(ax)
    fig.savefig(path)


def stage2_plot(samples: Sequence[SampleRow], path: Path) -> None:
    """Stage 2: validation MPJPE against NFE of every fully scored setting, colour = schedule, marker =
    sampler; the Pareto front over all networks as a step line."""
    final = final_rows(samples)
    fig, ax = _figure("Stage 2: accuracy against sampling cost", "network evaluations per pose (NFE)", "val MPJPE (mm)")
    colours = _colours([str(r.params.get("diffusion.schedule")) for r in final])
    markers = dict(zip(sorted({str(r.params.get("sampler.name")) for r in final}), "os^vD"))
    labelled: set[str] = set()
    for r in final:
        schedule, family = str(r.params.get("diffusion.schedule")), str(r.params.get("sampler.name"))
        tag = f"{schedule} / {family}"
        ax.scatter(
            r.nfe, r.mpjpe_mm, color=colours[schedule], marker=markers[family], label=None if tag in labelled else tag
        )
        labelled.add(tag)
    front = pareto_front(samples)
    if front:
        ax.step([r.nfe for r in front], [r.mpjpe_mm for r in front], where="post", color="black", label="Pareto front")
    _legend(ax)
    fig.savefig(path)


def write_plots(
    trials: Sequence[Record], epochs: Sequence[Record], out_dir: Path, samples: Sequence[SampleRow] = ()
) -> list[tuple[str, str]]:
    """Write every figure under ``out_dir``; (file name, caption) of each."""
    specs = [
        (
            "val_mpjpe_by_schedule.png",
            "Validation MPJPE per epoch, by schedule",
            group_by(SCHEDULE),
            "val_mpjpe_mm",
            "val MPJPE (mm)",
            False,
        ),
        (
            "val_mpjpe_by_sampler.png",
            "Validation MPJPE per epoch, by sampler",
            group_by(SAMPLER),
            "val_mpjpe_mm",
            "val MPJPE (mm)",
            False,
        ),
        (
            "train_loss_by_schedule.png",
            "Training loss per epoch, by schedule",
            group_by(SCHEDULE),
            "train_loss",
            "training loss (MSE, standardised units)",
            True,
        ),
    ]
    written = []
    if epochs:
        for file, title, group, metric, ylabel, log_y in specs:
            curve_plot(trials, epochs, group, metric, out_dir / file, title, ylabel, log_y)
            written.append((file, title))
    pareto_plot(trials, out_dir / "error_vs_nfe.png")
    written.append(("error_vs_nfe.png", "Accuracy against sampling cost (complete trials; Pareto front)"))
    if final_rows(samples):
        stage2_plot(samples, out_dir / "stage2_error_vs_nfe.png")
        written.append(("stage2_error_vs_nfe.png", "Stage 2: sampler settings on trained networks (Pareto front)"))
    return written
