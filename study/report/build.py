"""`posediff-study report`: one or more studies' Parquet -> the schedule x sampler comparison (docs/study.md §7).

Reads only trials.parquet / epochs.parquet of each run folder (each row carries its trial's complete
config, each file the keys its study searched), prints the tables (rich) and writes ``report.md``,
``report.html`` (plots inline), one CSV per table and the PNG plots under the output folder.
Selection is on validation only; test figures are shown, never ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from model.errors import PoseDiffError
from study.report.details import best_trials_table, marginal_table, sweep_table
from study.report.importance import importance_table
from study.report.plots import write_plots
from study.report.render import Block, Heading, Image, Paragraph, print_blocks, to_html, to_markdown, write_csvs
from study.report.stage2 import front_table, paired_table, schedule_table, search_table
from study.report.tables import Record, comparison_table, group_cells, matrix_table, regress_gap_line, test_table
from study.results.samples import SAMPLES_FILE, SampleRow, read_samples, sample_from_record
from study.results.tables import EPOCH_FIELDS, TRIALS_FILE, read_epochs, read_trials, searched_keys

RUNS_ROOT = Path("runs")
STAGE2_NOTE = (
    "Stage 1 compares networks, each validated with the reference sampler (the table above); stage 2 "
    "searches sampler settings on each complete network from its checkpoint, without retraining. "
    "Settings are chosen on validation; the chosen ones are evaluated once on test."
)
SELECTION_NOTE = (
    "Selection is on validation: a trial's score is its best epoch's MPJPE on the fixed validation "
    "subset, and every best / median below uses complete trials only. Test-split figures are "
    "evaluated once per trial and never used for selection."
)


@dataclass(frozen=True)
class Studies:
    """The rows of one or more studies: (run folder, study name) pairs, their trial / epoch records and
    the keys any of them searched."""

    runs: tuple[tuple[Path, str], ...]
    trials: tuple[Record, ...]
    epochs: tuple[Record, ...]
    searched: frozenset[str]
    samples: tuple[SampleRow, ...] = ()  # stage 2 (samples.parquet), where a study has one
    sampling_keys: frozenset[str] = frozenset()


def default_run_dirs(root: Path = RUNS_ROOT) -> list[Path]:
    """Every folder under ``root`` holding a trials.parquet, sorted; PoseDiffError when there is none."""
    found = sorted(p.parent for p in root.glob(f"*/{TRIALS_FILE}")) if root.is_dir() else []
    if not found:
        raise PoseDiffError(f"{root}/", f"at least one run folder holding {TRIALS_FILE}", "none")
    return found


def load_studies(run_dirs: Sequence[Path]) -> Studies:
    """Read and check every run folder's Parquet (nothing else); an empty trials table is an error."""
    runs, trials, epochs, searched, samples, sampling_keys = [], [], [], set(), [], set()
    for run_dir in run_dirs:
        if (Path(run_dir) / SAMPLES_FILE).exists():
            table = read_samples(run_dir)
            samples += [sample_from_record(r) for r in table.to_pylist()]
            sampling_keys |= set(searched_keys(table))
        table = read_trials(run_dir)
        if table.num_rows == 0:
            raise PoseDiffError(str(Path(run_dir) / TRIALS_FILE), "at least one trial row", "an empty table")
        runs += [(Path(run_dir), name) for name in sorted(set(table.column("study").to_pylist()))]
        trials += table.to_pylist()
        epochs += read_epochs(run_dir).select(list(EPOCH_FIELDS)).to_pylist()  # configs: in the trial rows
        searched |= set(searched_keys(table))
    return Studies(
        tuple(runs), tuple(trials), tuple(epochs), frozenset(searched), tuple(samples), frozenset(sampling_keys)
    )


def _summary(data: Studies) -> str:
    parts = []
    for run_dir, study in data.runs:
        rows = [r for r in data.trials if r["study"] == study]
        num_eval = sum(r["kind"] == "eval" for r in rows)
        parts.append(
            f"{study} (folder {run_dir.name}: {len(rows) - num_eval} trials"
            + (f", {num_eval} sweep evaluations)" if num_eval else ")")
        )
    return "Studies: " + "; ".join(parts) + "."


def _banner(data: Studies) -> list[Block]:
    running = sorted({r["study"] for r in data.trials if r["kind"] == "train" and r["status"] == "running"})
    if not running:
        return []
    count = sum(r["kind"] == "train" and r["status"] == "running" for r in data.trials)
    return [
        Paragraph(
            f"Partial report: {', '.join(running)} still running ({count} trial(s) in flight); "
            "the figures will change.",
            banner=True,
        )
    ]


def build_blocks(data: Studies, plots: Sequence[tuple[str, str]], storage_url: str | None = None) -> list[Block]:
    """The whole report, in order, as renderer-neutral blocks."""
    cells, regress = group_cells(data.trials)
    importances, notes = importance_table(list(data.runs), storage_url)
    blocks: list[Block] = [
        Heading("posediff-study report", 1),
        Paragraph(_summary(data)),
        *_banner(data),
        Paragraph(SELECTION_NOTE),
        Heading("Schedule x sampler comparison"),
        matrix_table(cells, regress),
        comparison_table(cells, regress),
        Paragraph(regress_gap_line(cells, regress)),
        *_stage2_blocks(data),
        Heading("Marginal effects"),
    ]
    marginals = marginal_table(data.trials)
    blocks.append(
        marginals
        if marginals.rows
        else Paragraph("None of K, T, N, sampling steps or the EDM parameters varies in these studies.")
    )
    blocks += [
        Heading("Parameter importances"),
        importances,
        *(Paragraph(n) for n in notes),
        Heading("Best trials"),
        best_trials_table(data.trials, data.searched),
        Heading("Test split"),
        test_table(cells, regress),
    ]
    sweep = sweep_table(data.trials)
    if sweep:
        blocks += [Heading("Test-time sampler sweep"), sweep]
    blocks += [Heading("Plots"), *(Image(file, caption) for file, caption in plots)]
    return blocks


def _stage2_blocks(data: Studies) -> list[Block]:
    """Stage 2: the best setting per network and sampler, samplers paired on the same networks, schedules
    across networks, the Pareto front; nothing when no study has a samples.parquet."""
    if not data.samples:
        return []
    paired, verdicts = paired_table(data.samples)
    return [
        Heading("Stage 2: sampler settings on trained networks"),
        Paragraph(STAGE2_NOTE),
        search_table(data.samples),
        paired,
        *(Paragraph(line) for line in verdicts),
        schedule_table(data.samples),
        front_table(data.samples),
    ]


def write_report(
    run_dirs: Sequence[Path], out_dir: Path, console: Console | None = None, storage_url: str | None = None
) -> list[Block]:
    """Load, write report.md / report.html / CSVs / PNGs under ``out_dir``, print to ``console``.
    Importances come from each run folder's optuna.journal, or from ``storage_url`` (an Optuna RDB URL)."""
    data = load_studies(run_dirs)
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks = build_blocks(data, write_plots(data.trials, data.epochs, out_dir, data.samples), storage_url)
    (out_dir / "report.md").write_text(to_markdown(blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(to_html(blocks, out_dir, "posediff-study report"), encoding="utf-8")
    write_csvs(blocks, out_dir)
    if console is not None:
        print_blocks(blocks, console)
        console.print(f"wrote {out_dir / 'report.md'}, report.html, CSV tables and plots")
    return blocks
