"""The live view: what a person watching a study reads in the terminal and in --quiet logs."""

from __future__ import annotations

from rich.console import Console

from study.results.tables import EpochRow, ResultsStore, TrialRow
from study.tune.live import RunningTrial, StudyProgress, progress_from_store, progress_line, render_progress


def snapshot(**kw) -> StudyProgress:
    values = dict(
        study="edm-sweep",
        num_running=2,
        num_complete=5,
        num_pruned=3,
        num_failed=1,
        num_total=20,
        best_val_mpjpe_mm=31.234,
        best_trial_id="t0007",
        running=(RunningTrial("t0012", 4, 30, 55.55), RunningTrial("t0011", 0, 30, None)),
        elapsed_s=3725.9,
    )
    values.update(kw)
    return StudyProgress(**values)


def rendered(snap: StudyProgress) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(render_progress(snap))
    return console.export_text()


def test_rendering_shows_counts_best_trial_elapsed_time_and_running_trials():
    text = rendered(snapshot())
    assert "9/20 done: 5 complete, 3 pruned, 1 failed, 2 running" in text
    assert "best val MPJPE 31.2 mm (trial t0007)" in text
    assert "elapsed 1:02:05" in text
    lines = text.splitlines()
    row11 = next(line for line in lines if "t0011" in line)
    row12 = next(line for line in lines if "t0012" in line)
    assert lines.index(row11) < lines.index(row12)  # sorted by trial id
    assert "0/30" in row11 and "—" in row11
    assert "4/30" in row12 and "55.5 mm" in row12


def test_rendering_before_any_result_says_so():
    text = rendered(
        snapshot(
            num_running=0,
            num_complete=0,
            num_pruned=0,
            num_failed=0,
            best_val_mpjpe_mm=None,
            best_trial_id=None,
            running=(),
            elapsed_s=0.0,
        )
    )
    assert "0/20 done" in text and "best val MPJPE —" in text and "(none)" in text


def test_progress_line_is_one_plain_line():
    line = progress_line(snapshot())
    assert line == (
        "[edm-sweep] 9/20 done: 5 complete, 3 pruned, 1 failed, 2 running | "
        "best val MPJPE 31.2 mm (trial t0007) | elapsed 1:02:05"
    )


def test_snapshot_from_a_results_store(tmp_path):
    store = ResultsStore(tmp_path, "demo")
    for trial_id, status, best in (
        ("t0", "complete", 40.0),
        ("t1", "pruned", 38.0),
        ("t2", "failed", 1.0),
        ("t3", "running", None),
    ):
        store.record_trial(TrialRow("demo", trial_id, int(trial_id[1:]), status, {}, 2, best, best, best, best))
    store.record_trial(TrialRow("demo", "t0/eval-0", 0, "complete", {}, 0, 5.0, 5.0, 5.0, 5.0, kind="eval"))
    for epoch, val in ((1, 70.0), (2, 61.5)):
        store.record_epoch(EpochRow("demo", "t3", 3, epoch, 0.1, val, val, 1e-3, 1.0, 100.0, 19))
    snap = progress_from_store(store, num_total=10, max_epochs=30, elapsed_s=12.0)
    assert (snap.num_complete, snap.num_pruned, snap.num_failed, snap.num_running) == (1, 1, 1, 1)
    assert (snap.best_trial_id, snap.best_val_mpjpe_mm) == ("t1", 38.0)  # failed and eval rows do not count
    assert snap.running == (RunningTrial("t3", 2, 30, 61.5),)
