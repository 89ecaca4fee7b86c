"""The test-time sampler sweep: a real tiny study re-evaluated on Ray and reported."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from model.config import SamplerConfig
from study.results.tables import TrialRow, read_trials, trial_from_record
from study.spec.sweep_file import load_sweep
from study.tune.sweep import EvalJob, eval_id, evaluate_job, is_done, plan, run_sweep


def test_eval_id_is_stable_and_follows_the_setting():
    a = eval_id("t1", SamplerConfig(name="edm"), None, 0)
    assert a == eval_id("t1", SamplerConfig(name="edm"), None, 0) and a.startswith("t1/eval-")
    assert (
        len(
            {
                a,
                eval_id("t1", SamplerConfig(name="ddim"), None, 0),
                eval_id("t1", SamplerConfig(name="edm"), 64, 0),
                eval_id("t1", SamplerConfig(name="edm"), None, 1),
            }
        )
        == 4
    )


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "study", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "exactly one of --checkpoint or --run, found neither"),
        (("--run", "r", "--checkpoint", "x.pt"), "exactly one of --checkpoint or --run, found both"),
        (
            ("--run", "r", "--sampler", "edm", "--steps", "5"),
            "--run: expected sampler settings in the --space file, found --sampler --steps",
        ),
        (("--checkpoint", "x.pt", "--space", "s.yaml"), "--space and --address only with --run"),
        (("--run", "r"), "--space FILE"),
    ],
)
def test_evaluate_modes_are_checked_before_anything_runs(args, message):
    result = cli("evaluate", *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_sweep_adds_eval_rows_once_and_the_report_shows_them(tiny_spec, tmp_path: Path):
    spec = tiny_spec(
        name="sweep",
        budget={"num_trials": 3, "max_epochs": 2, "max_concurrent_trials": 2},
        pruner={"name": "none"},
        reference=False,
        data={"eval_subset_size": 96},
    )
    out = tmp_path / "run"
    ran = cli("run", "--space", str(spec), "--out", str(out), "--quiet")
    assert ran.returncode == 0, ran.stderr[-3000:]
    settings = [
        {"sampler.name": "ddim", "sampler.num_steps": 3},
        {"sampler.name": "edm", "sampler.num_steps": 3, "sampler.S_churn": 5.0},
    ]
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(yaml.safe_dump({"settings": settings, "split": "val"}, sort_keys=False))
    swept = cli("evaluate", "--run", str(out), "--top", "2", "--space", str(sweep_file), "--json")
    assert swept.returncode == 0, swept.stderr[-3000:]
    assert len(json.loads(swept.stdout)["rows"]) == 4

    rows = read_trials(out).to_pylist()
    train = sorted((r for r in rows if r["kind"] == "train"), key=lambda r: r["best_val_mpjpe_mm"])
    evals = [r for r in rows if r["kind"] == "eval"]
    assert len(train) == 3 and len(evals) == 4
    assert {r["trial_id"].split("/eval-")[0] for r in evals} == {r["trial_id"] for r in train[:2]}
    nfe = {"ddim": 3, "edm": 2 * 3 - 1}
    for r in evals:
        source = next(t for t in train if r["trial_id"].startswith(t["trial_id"] + "/"))
        assert r["param.train.lr"] == source["param.train.lr"]  # the source's params, sampler overridden
        assert r["param.sampler.num_steps"] == 3 and r["nfe"] == nfe[r["param.sampler.name"]]
        assert r["param.sampler.S_churn"] == (5.0 if r["param.sampler.name"] == "edm" else 0.0)
        assert (r["param.network.width"], r["param.train.epochs"], r["param.data.eval_subset_size"]) == (16, 2, 96)
        assert r["val_full_mpjpe_mm"] > 0 and r["test_mpjpe_mm"] is None and r["status"] == "complete"

    again = run_sweep(out, load_sweep(sweep_file), top=2)  # everything recorded: no Ray, no new row
    assert (again.rows, again.num_skipped) == ((), 4)
    assert read_trials(out).to_pylist() == rows
    shown = cli("evaluate", "--run", str(out), "--top", "2", "--space", str(sweep_file))  # the report's table
    assert shown.returncode == 0 and "0 evaluations written" in shown.stdout, shown.stderr[-3000:]
    assert "Test-time sampler sweep" in shown.stdout

    reported = cli("report", str(out), "--out", str(tmp_path / "report"))
    assert reported.returncode == 0, reported.stderr[-3000:]
    markdown = (tmp_path / "report" / "report.md").read_text()
    sweep_section = markdown.split("## Test-time sampler sweep", 1)[1].split("## Plots")[0]
    for r in evals:
        eval_k = r["trial_id"].split("/")[1]
        line = next(x for x in sweep_section.splitlines() if f"| {eval_k} |" in x)
        assert f"| {r['param.sampler.name']} | 3 |" in line and f"| {r['nfe']} |" in line
    assert sum("| training |" in x for x in sweep_section.splitlines()) == 2
    assert "3 trials, 4 sweep evaluations" in markdown

    # Adding the test split re-plans the same ids, not done yet; a direct re-evaluation is seeded (same figure).
    both = dataclasses.replace(load_sweep(sweep_file), splits=("val", "test"))
    job = plan(out, both, top=1)[0]
    prev = trial_from_record(next(r for r in evals if r["trial_id"] == job.eval_id))
    assert is_done(dataclasses.replace(job, splits=("val",)), prev) and not is_done(job, prev)
    figures = evaluate_job(dataclasses.replace(job, splits=("val",)))
    assert figures["val_full_mpjpe_mm"] == pytest.approx(prev.val_full_mpjpe_mm)


def test_a_user_error_in_a_task_comes_back_as_data(tmp_path: Path):
    # PoseDiffError does not survive Ray's pickling; the task returns its three parts instead.
    source = TrialRow("s", "t1", 0, "complete", {}, 2, 1.0, 1.0, 1.0, 1.0)
    job = EvalJob(source, "t1/eval-1", tmp_path / "gone.pt", SamplerConfig(), None, 0, ("val",))
    assert evaluate_job(job) == {"error": (str(tmp_path / "gone.pt"), "a checkpoint file", "no such file")}
