"""The live view of a running study: a pure snapshot -> rich renderable, and a one-line log form."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from study.results.tables import ResultsStore


@dataclass(frozen=True)
class RunningTrial:
    """One trial in flight: its last finished epoch (1-based) and last validation MPJPE (mm)."""

    trial_id: str
    epoch: int
    max_epochs: int
    last_val_mpjpe_mm: float | None


@dataclass(frozen=True)
class StudyProgress:
    """A snapshot of a study for display; counts are trials, times seconds, errors mm."""

    study: str
    num_running: int
    num_complete: int
    num_pruned: int
    num_failed: int
    num_total: int  # the study's trial budget
    best_val_mpjpe_mm: float | None
    best_trial_id: str | None
    running: tuple[RunningTrial, ...]
    elapsed_s: float
    stage2: str = ""  # one line on the sampler search (empty before any network completes)

    @property
    def num_finished(self) -> int:
        """Trials that ended (complete, pruned or failed)."""
        return self.num_complete + self.num_pruned + self.num_failed


def _mm(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} mm"


def _clock(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _best(snapshot: StudyProgress) -> str:
    if snapshot.best_val_mpjpe_mm is None:
        return "best val MPJPE —"
    return f"best val MPJPE {snapshot.best_val_mpjpe_mm:.1f} mm (trial {snapshot.best_trial_id})"


def _counts(snapshot: StudyProgress) -> str:
    return (
        f"{snapshot.num_finished}/{snapshot.num_total} done: {snapshot.num_complete} complete, "
        f"{snapshot.num_pruned} pruned, {snapshot.num_failed} failed, {snapshot.num_running} running"
    )


def progress_line(snapshot: StudyProgress) -> str:
    """One plain line for --quiet logs: study, counts, best so far, elapsed time."""
    stage2 = f" | {snapshot.stage2}" if snapshot.stage2 else ""
    return f"[{snapshot.study}] {_counts(snapshot)} | {_best(snapshot)}{stage2} | elapsed {_clock(snapshot.elapsed_s)}"


def render_progress(snapshot: StudyProgress) -> RenderableType:
    """A header, a bar over the trial budget and a table of the running trials."""
    header = Text.assemble(
        (f"{snapshot.study}", "bold"),
        f"  {_counts(snapshot)}  ",
        (_best(snapshot), "green"),
        f"  elapsed {_clock(snapshot.elapsed_s)}",
    )
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=max(snapshot.num_total, 1), completed=snapshot.num_finished, width=40),
        f"{snapshot.num_finished}/{snapshot.num_total} trials",
    )
    table = Table(title="running trials", title_justify="left", expand=False)
    for name, justify in (("trial", "left"), ("epoch", "right"), ("", "left"), ("last val MPJPE", "right")):
        table.add_column(name, justify=justify)
    for trial in sorted(snapshot.running, key=lambda t: t.trial_id):
        table.add_row(
            trial.trial_id,
            f"{trial.epoch}/{trial.max_epochs}",
            ProgressBar(total=max(trial.max_epochs, 1), completed=trial.epoch, width=20),
            _mm(trial.last_val_mpjpe_mm),
        )
    if not snapshot.running:
        table.add_row("(none)", "", "", "")
    return Group(header, bar, table, Text(snapshot.stage2)) if snapshot.stage2 else Group(header, bar, table)


def progress_from_store(store: ResultsStore, num_total: int, max_epochs: int, elapsed_s: float) -> StudyProgress:
    """Build a snapshot from what a :class:`ResultsStore` holds (training rows; best over trials not failed)."""
    trials = [t for t in store.trials() if t.kind == "train"]
    counts = {status: sum(t.status == status for t in trials) for status in ("running", "complete", "pruned", "failed")}
    scored = [t for t in trials if t.status != "failed" and t.best_val_mpjpe_mm is not None]
    best = min(scored, key=lambda t: t.best_val_mpjpe_mm, default=None)
    last = store.last_epochs()
    running = tuple(
        RunningTrial(
            t.trial_id,
            last[t.trial_id].epoch if t.trial_id in last else 0,
            max_epochs,
            last[t.trial_id].val_mpjpe_mm if t.trial_id in last else None,
        )
        for t in trials
        if t.status == "running"
    )
    return StudyProgress(
        store.study,
        counts["running"],
        counts["complete"],
        counts["pruned"],
        counts["failed"],
        num_total,
        best.best_val_mpjpe_mm if best else None,
        best.trial_id if best else None,
        running,
        elapsed_s,
    )
