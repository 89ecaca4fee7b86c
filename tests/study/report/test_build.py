"""The report end to end, from a hand-made study written with ResultsStore.

The Markdown is pinned by a golden file; regenerate it only deliberately, after reading the diff:
``POSEDIFF_REGEN_GOLDEN=1 pytest tests/study/report/test_build.py -k golden``.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.image import imread

from model.config import to_flat_dict, trial_config
from study.cli.app import main
from study.report.build import write_report
from study.results.tables import SCHEMA_VERSION, EpochRow, ResultsStore, TrialRow

GOLDEN = Path(__file__).parent / "golden" / "report.md"
STUDY = "golden"
# What the study fixed (its spec.resolved.yaml), and searched; each row carries its whole config, as `run` writes it.
FIXED = {"diffusion.prediction": "x0", "sampler.num_hypotheses": 5, "sampler.aggregate": "mean", "network.width": 64}
SEARCHED = (
    "diffusion.schedule",
    "sampler.name",
    "prior.num_components",
    "sampler.num_steps",
    "sampler.rho",
    "sampler.S_churn",
)
EDM = {"sampler.rho": 7.0, "sampler.sigma_max": 80.0, "sampler.S_churn": 0.0}

# (id, schedule, sampler, status, best val mm, K, extra params, nfe, gpu_s)
TRIALS = [
    ("t00", "linear", "ddim", "complete", 48.0, 3, {"sampler.num_steps": 10}, 10, 0.0),
    ("t01", "linear", "ddim", "complete", 52.5, 5, {"sampler.num_steps": 20}, 20, 0.0),
    ("t02", "linear", "edm", "complete", 45.25, 3, {**EDM, "sampler.num_steps": 10}, 19, 0.0),
    ("t03", "cosine", "ddim", "complete", 30.5, 5, {"sampler.num_steps": 10}, 10, 0.0),
    (
        "t04",
        "cosine",
        "edm",
        "complete",
        28.75,
        5,
        {**EDM, "sampler.S_churn": 20.0, "sampler.num_steps": 10},
        19,
        1800.0,
    ),
    ("t05", "cosine", "edm", "pruned", 60.0, 3, {**EDM, "sampler.S_churn": 40.0, "sampler.num_steps": 10}, 19, 600.0),
    ("t06", "cosine", "ddim", "failed", None, 8, {"sampler.num_steps": 10}, 10, 0.0),
    ("t07", "cosine", "ddim", "complete", 27.0, 5, {"diffusion.prediction": "regress"}, 1, 0.0),
    ("t08", "cosine", "edm", "complete", 33.25, 8, {**EDM, "sampler.rho": 5.0, "sampler.num_steps": 20}, 39, 1800.0),
]
# (source, k, sampler, steps, N, aggregation, nfe, val mm)
EVALS = [
    ("t04", 0, "ddim", 10, 5, "mean", 10, 29.9),
    ("t04", 1, "edm", 20, 10, "reproj", 39, 28.1),
    ("t03", 0, "edm", 10, 5, "median", 19, 31.4),
]


def config(params: dict) -> dict:
    """A trial's complete config as dotted keys (a row's params): ``params``, else FIXED, else the defaults
    (``train.epochs`` the budget's max_epochs, as StudySpec.trial_config sets it)."""
    return to_flat_dict(trial_config({**FIXED, **params, "train.epochs": 3}))


def _epochs(store: ResultsStore, number: int, trial_id: str, best: float | None, status: str, params: dict) -> int:
    num_epochs = {"complete": 3, "pruned": 2, "failed": 1}[status]
    for epoch in range(1, num_epochs + 1):
        val = float("nan") if best is None else best + 10.0 * (num_epochs - epoch)
        store.record_epoch(
            EpochRow(
                store.study,
                trial_id,
                number,
                epoch,
                1.0 / (epoch + number),
                val,
                0.8 * val,
                1e-3,
                2.0,
                1000.0 + number,
                10,
                params=params,
            )
        )
    return num_epochs


def _trial(store: ResultsStore, number: int, spec: tuple) -> None:
    trial_id, schedule, sampler, status, best, k, extra, nfe, gpu_s = spec
    params = config({"diffusion.schedule": schedule, "sampler.name": sampler, "prior.num_components": k, **extra})
    num_epochs = _epochs(store, number, trial_id, best, status, params)
    done = status == "complete"
    store.record_trial(
        TrialRow(
            store.study,
            trial_id,
            number,
            status,
            params,
            num_epochs,
            best,
            best,
            None if best is None else 0.75 * best,
            None if best is None else 0.75 * best,
            test_mpjpe_mm=best + 3.0 if done else None,
            test_p_mpjpe_mm=0.7 * best if done else None,
            test_n_mpjpe_mm=best + 1.0 if done else None,
            val_full_mpjpe_mm=best + 0.5 if done else None,
            oracle_mpjpe_mm=0.6 * best if done else None,
            nfe=nfe,
            wall_s=900.0 * num_epochs,
            gpu_s=gpu_s,
            cpu_s=0.0,
            node="node-1",
            error="diverged: NaN training loss" if status == "failed" else "",
        )
    )


def build_study(run_dir: Path, running: bool = False, study: str = STUDY) -> Path:
    """The hand-made study: 2 schedules x 2 samplers, a regress reference, a pruned and a failed trial, eval rows."""
    store = ResultsStore(run_dir, study, SEARCHED)
    (run_dir / "spec.resolved.yaml").write_text(yaml.safe_dump({"name": study, "fixed": FIXED}), encoding="utf-8")
    for number, spec in enumerate(TRIALS):
        _trial(store, number, spec)
    for source, k, sampler, steps, n, how, nfe, val in EVALS:
        params = {
            **store.trial(source).params,
            "sampler.name": sampler,
            "sampler.num_steps": steps,
            "sampler.num_hypotheses": n,
            "sampler.aggregate": how,
        }
        store.record_trial(
            TrialRow(
                study,
                f"{source}/eval-{k}",
                int(source[1:]),
                "complete",
                params,
                0,
                val,
                val,
                0.75 * val,
                0.75 * val,
                test_mpjpe_mm=val + 3.0,
                val_full_mpjpe_mm=val,
                nfe=nfe,
                kind="eval",
            )
        )
        store.record_epoch(
            EpochRow(
                study,
                f"{source}/eval-{k}",
                int(source[1:]),
                1,
                0.0,
                val,
                val,
                0.0,
                1.0,
                1.0,
                nfe,
                kind="eval",
                params=params,
            )
        )
    if running:
        params = config({"diffusion.schedule": "linear", "sampler.name": "edm"})
        store.record_trial(TrialRow(study, "t09", 9, "running", params, 1, None, None, None, None))
    store.flush()
    return run_dir


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    run_dir = build_study(tmp_path_factory.mktemp("runs") / STUDY)
    write_report([run_dir], run_dir / "report")
    return run_dir / "report"


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_markdown_matches_the_golden_file(report_dir):
    produced = (report_dir / "report.md").read_text(encoding="utf-8")
    if os.environ.get("POSEDIFF_REGEN_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(produced, encoding="utf-8")
    assert produced == GOLDEN.read_text(encoding="utf-8")


def test_comparison_cells_and_the_regress_reference(report_dir):
    rows = {(r["schedule"], r["sampler"]): r for r in read_csv(report_dir / "comparison.csv")}
    assert set(rows) == {
        ("cosine", "ddim"),
        ("cosine", "edm"),
        ("linear", "ddim"),
        ("linear", "edm"),
        ("regress (reference)", ""),
    }
    cosine_edm = rows[("cosine", "edm")]
    assert (cosine_edm["complete"], cosine_edm["pruned"], cosine_edm["failed"]) == ("2", "1", "0")
    assert (cosine_edm["best val MPJPE mm"], cosine_edm["median val MPJPE mm"]) == ("28.75", "31.00")
    assert cosine_edm["best trial"] == "t04" and cosine_edm["best trial val P-MPJPE mm"] == "21.56"
    assert cosine_edm["compute"] == "1.17 GPU-h" and cosine_edm["NFE per pose"] == "19"
    assert (
        rows[("cosine", "ddim")]["failed"] == "1" and rows[("cosine", "ddim")]["compute"] == "1 CPU-h"
    )  # wall_s: 3 x 900 + 900
    assert cosine_edm["best minus regress mm"] == "+1.75"
    assert rows[("regress (reference)", "")]["best val MPJPE mm"] == "27.00"
    markdown = (report_dir / "report.md").read_text(encoding="utf-8")
    assert "best diffusion minus regress = +1.75 mm (the reference is better)" in markdown


def test_marginals_only_for_parameters_that_vary(report_dir):
    rows = read_csv(report_dir / "marginals.csv")
    params = {r["parameter"] for r in rows}
    assert params == {
        "K (prior.num_components)",
        "S (sampler.num_steps)",
        "rho (sampler.rho)",
        "S_churn (sampler.S_churn)",
    }  # N and sigma_max are constant
    k5 = next(r for r in rows if r["parameter"].startswith("K ") and r["value"] == "5")
    assert (k5["complete"], k5["best val MPJPE mm"], k5["median val MPJPE mm"]) == ("3", "28.75", "30.50")


def test_test_split_figures_of_each_cell_best_trial(report_dir):
    rows = {r["trial"]: r for r in read_csv(report_dir / "test_split.csv")}
    assert set(rows) == {"t00", "t02", "t03", "t04", "t07"}
    assert rows["t04"]["test MPJPE mm"] == "31.75" and rows["t04"]["val MPJPE mm (full split)"] == "29.25"


def test_sweep_groups_eval_rows_under_their_source_trial(report_dir):
    rows = [
        (
            r["source trial"],
            r["row"],
            r["sampler"],
            r["steps"],
            r["N"],
            r["aggregation"],
            r["NFE per pose"],
            r["val MPJPE mm"],
        )
        for r in read_csv(report_dir / "sampler_sweep.csv")
    ]
    assert rows == [
        ("t04", "training", "edm", "10", "5", "mean", "19", "29.25"),
        ("t04", "eval-0", "ddim", "10", "5", "mean", "10", "29.90"),
        ("t04", "eval-1", "edm", "20", "10", "reproj", "39", "28.10"),
        ("t03", "training", "ddim", "10", "5", "mean", "10", "31.00"),
        ("t03", "eval-0", "edm", "10", "5", "median", "19", "31.40"),
    ]


def test_plots_decode_and_are_not_blank(report_dir):
    names = sorted(p.name for p in report_dir.glob("*.png"))
    assert names == [
        "error_vs_nfe.png",
        "train_loss_by_schedule.png",
        "val_mpjpe_by_sampler.png",
        "val_mpjpe_by_schedule.png",
    ]
    for name in names:
        pixels = imread(report_dir / name)[..., :3]
        assert pixels.std() > 0 and not np.all(pixels == 1.0), name
    html = (report_dir / "report.html").read_text(encoding="utf-8")
    assert html.count("src='data:image/png;base64,") == 4


def test_running_study_gives_a_partial_banner(tmp_path):
    run_dir = build_study(tmp_path / STUDY, running=True)
    write_report([run_dir], tmp_path / "out")
    assert "> **Partial report: golden still running (1 trial(s) in flight)" in (
        tmp_path / "out" / "report.md"
    ).read_text(encoding="utf-8")


def test_best_trials_show_searched_keys_then_those_set_away_from_their_defaults(report_dir):
    rows = {r[""]: r for r in read_csv(report_dir / "best_trials.csv")}
    params = [key for key in rows if key.startswith("param.")]
    assert params == [f"param.{key}" for key in sorted(SEARCHED)] + [
        "param.diffusion.prediction",
        "param.network.width",
        "param.train.epochs",
    ]
    assert rows["param.network.width"]["#1 t07"] == "64"  # fixed by the study: in every row
    assert rows["param.diffusion.prediction"]["#1 t07"] == "regress"  # the reference's forced value
    assert rows["param.diffusion.prediction"]["#2 t04"] == "x0"
    assert rows["param.sampler.rho"]["#1 t07"] == "7"  # a ddim trial's row still holds the whole config


def test_the_report_reads_the_tables_only(tmp_path):
    run_dir = build_study(tmp_path / STUDY)
    write_report([run_dir], tmp_path / "with")
    (run_dir / "spec.resolved.yaml").unlink()
    shutil.copytree(run_dir, tmp_path / "moved" / STUDY)  # nothing next to the tables is needed either
    write_report([tmp_path / "moved" / STUDY], tmp_path / "without")
    for name in ("report.md", "best_trials.csv", "marginals.csv", "sampler_sweep.csv"):
        assert (tmp_path / "without" / name).read_text() == (tmp_path / "with" / name).read_text(), name


def test_two_studies_pool_into_one_comparison(tmp_path):
    runs = [build_study(tmp_path / "a", study="study-a"), build_study(tmp_path / "b", study="study-b")]
    write_report(runs, tmp_path / "out")
    rows = {(r["schedule"], r["sampler"]): r for r in read_csv(tmp_path / "out" / "comparison.csv")}
    assert (rows[("cosine", "edm")]["complete"], rows[("cosine", "edm")]["median val MPJPE mm"]) == ("4", "31.00")
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "Studies: study-a (folder a: 9 trials, 3 sweep evaluations); study-b (folder b:" in markdown
    assert "study study-b: no Optuna journal" in markdown


@pytest.mark.slow
def test_cli_report_on_the_hand_made_study(report_dir, tmp_path):
    run_dir = report_dir.parent
    result = subprocess.run(
        [sys.executable, "-m", "study", "report", str(run_dir), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "Schedule x sampler" in result.stdout and "Test-time sampler sweep" in result.stdout
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == (report_dir / "report.md").read_text(
        encoding="utf-8"
    )
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == [
        "best_trials.csv",
        "comparison.csv",
        "importances.csv",
        "marginals.csv",
        "sampler_sweep.csv",
        "test_split.csv",
    ]


def _run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["posediff-study", "report", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    "content, found",
    [
        (None, "found no such file"),
        (b"", "found an unreadable file"),
        (b"garbage, not parquet", "found an unreadable file"),
    ],
)
def test_missing_or_corrupt_parquet_exits_2_with_one_line(tmp_path, monkeypatch, capsys, content, found):
    if content is not None:
        (tmp_path / "trials.parquet").write_bytes(content)
    code, err = _run_main(monkeypatch, capsys, str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(
        f"error: {tmp_path / 'trials.parquet'}: expected a "
        f"posediff-study Parquet file (schema version {SCHEMA_VERSION}), " + found
    )


def test_empty_study_and_no_runs_exit_2_with_one_line(tmp_path, monkeypatch, capsys):
    ResultsStore(tmp_path / "empty", STUDY).flush()
    code, err = _run_main(monkeypatch, capsys, str(tmp_path / "empty"))
    assert (
        code == 2
        and err
        == f"error: {tmp_path / 'empty' / 'trials.parquet'}: expected at least one trial row, found an empty table\n"
    )
    monkeypatch.chdir(tmp_path)
    code, err = _run_main(monkeypatch, capsys)
    assert code == 2 and err == "error: runs/: expected at least one run folder holding trials.parquet, found none\n"
