"""Stage 2 end to end: a study whose driver is killed in the sampler search resumes without losing or
duplicating an evaluation; stage 1 prunes on the reference sampler only; EDM keys exist only for EDM
settings; the test split is touched only for the chosen settings; stage 2 never changes a network."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from model.errors import PoseDiffError
from study.results.choice import chosen_settings, pareto_front
from study.results.samples import SamplesStore, read_samples, sample_from_record
from study.results.storage import optuna_storage
from study.results.tables import read_epochs, read_trials, trial_from_record
from study.spec.study_spec import load_spec
from study.tune.gate import HUNG_S, SAMPLING_GATE_ENV, EpochGate
from study.tune.sampling import SamplingStage
from study.tune.sampling_network import (
    REASON_ATTR,
    RESUMES_ATTR,
    SAME_AS_ATTR,
    STOPPED_REASON,
    sampling_study_name,
)
from study.tune.setting_eval import SettingJob, evaluate_setting, find_checkpoint

pytestmark = pytest.mark.slow
NUM_SETTINGS = 3
REFERENCE = {"sampler.name": "ddim", "sampler.eta": 0.5}  # stage 1 only: stage-2 settings keep eta 0
SPACE = {
    "diffusion.schedule": {"type": "categorical", "choices": ["linear", "cosine"]},
    "sampler.name": {"type": "categorical", "choices": ["ddim", "edm"]},
    "sampler.S_churn": {"type": "float", "low": 0.0, "high": 10.0, "when": {"sampler.name": "edm"}},
}


def recorded(out: Path) -> set[tuple[str, int, int]]:
    """(network, setting number, frames) of every samples.parquet row (none before the file exists)."""
    try:
        return {(r.source_trial_id, r.number, r.frames) for r in rows(out)}
    except PoseDiffError:
        return set()


def rows(out: Path) -> list:
    return [sample_from_record(r) for r in read_samples(out).to_pylist()]


def taken(gate: EpochGate) -> set[tuple[str, int, int]]:
    """The gate's permits as (network, setting number, frames)."""
    out = set()
    for name, frames in gate.taken():
        network, _, number = name.rpartition(".")
        out.add((network, int(number), frames))
    return out


def run_behind_gate(args: list[str], out: Path, gate: EpochGate, num_rows: int, log: Path) -> int:
    """Start the driver behind the sampling gate; let ``num_rows`` stage-2 results through one at a
    time (each recorded before the next permit), then SIGKILL it; its exit code."""
    gate.folder.mkdir()
    with open(log, "w") as stream:
        proc = subprocess.Popen(
            args, stdout=stream, stderr=subprocess.STDOUT, env={**os.environ, SAMPLING_GATE_ENV: str(gate.folder)}
        )
        try:
            deadline = time.monotonic() + HUNG_S
            while len(recorded(out)) < num_rows:
                assert proc.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, f"stage 2 never recorded {num_rows} rows"
                if not gate.outstanding() and taken(gate) <= recorded(out):
                    gate.issue()
                time.sleep(0.1)
            proc.send_signal(signal.SIGKILL)
            return proc.wait(timeout=HUNG_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, synthetic_npz: Path, tiny_fixed: dict) -> dict:
    """One study: SIGKILL after 3 stage-2 rows (the driver held at the sampling gate), then --resume."""
    folder = tmp_path_factory.mktemp("stage2")
    spec_file, out = _spec(folder, synthetic_npz, tiny_fixed), folder / "run"
    args = [sys.executable, "-m", "study", "run", "--space", str(spec_file), "--out", str(out), "--quiet"]
    code = run_behind_gate(args, out, EpochGate(folder / "gate"), 3, folder / "run0.log")
    before = rows(out)
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=HUNG_S)
    return {"spec": load_spec(spec_file), "out": out, "code": code, "before": before, "resumed": resumed}


def sampling_trials(spec, out: Path, network: str) -> list[optuna.trial.FrozenTrial]:
    name = sampling_study_name(spec.name, network)
    return optuna.load_study(study_name=name, storage=optuna_storage(out)).get_trials(deepcopy=False)


def test_a_driver_killed_in_stage_2_resumes_without_losing_or_duplicating(study: dict):
    assert study["code"] == -signal.SIGKILL and study["resumed"].returncode == 0, study["resumed"].stderr[-3000:]
    spec, out, after = study["spec"], study["out"], rows(study["out"])
    networks = {r.source_trial_id for r in after}
    assert len(networks) == 2  # both trained networks were searched
    moved_to: dict[tuple[str, int], int] = {}  # (network, stopped number) -> the number that asked it again
    for network in networks:
        trials = sampling_trials(spec, out, network)
        stopped = [t for t in trials if t.user_attrs.get(REASON_ATTR) == STOPPED_REASON]
        kept = [t for t in trials if t not in stopped]
        assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in kept)
        assert len(kept) == NUM_SETTINGS  # the budget, neither less nor more
        numbers = {r.number for r in after if r.source_trial_id == network and r.origin == "search"}
        assert numbers <= {t.number for t in kept}  # no row is left under a stopped (re-asked) trial
        again = {t.user_attrs[RESUMES_ATTR]: t for t in kept if RESUMES_ATTR in t.user_attrs}
        assert sorted(again) == sorted(t.number for t in stopped)  # each stopped setting asked again, once
        assert all(again[t.number].params == t.params for t in stopped)
        moved_to.update({(network, number): trial.number for number, trial in again.items()})
    assert moved_to  # the kill left a setting mid-evaluation, and the resume asked it again
    # Nothing recorded before the kill is lost or evaluated again: every row is still there, the same
    # evaluation to the second (wall_s, node), under the number of the trial that asked its setting again.
    for row in study["before"]:
        number = moved_to.get((row.source_trial_id, row.number), row.number)
        assert dataclasses.replace(row, number=number) in after
    search = [(r.source_trial_id, r.setting, r.frames) for r in after if r.origin == "search"]
    assert len(set(search)) == len(search)  # no setting scored twice on the same frames (twins wait)
    assert len({(r.source_trial_id, r.number, r.origin, r.split, r.frames) for r in after}) == len(after)


def test_stage_1_prunes_and_validates_with_the_reference_sampler_only(study: dict):
    spec, out = study["spec"], study["out"]
    epochs = read_epochs(out).to_pylist()
    assert epochs and all(e["param.sampler.name"] == "ddim" and e["param.sampler.eta"] == 0.5 for e in epochs)
    stage1 = optuna.load_study(study_name=spec.name, storage=optuna_storage(out)).get_trials(deepcopy=False)
    assert stage1 and all(not any(k.startswith("sampler.") for k in t.params) for t in stage1)
    assert all(not key.startswith("sampler.") for key in spec.searched_keys)


def test_edm_keys_exist_only_for_edm_settings(study: dict):
    spec, out = study["spec"], study["out"]
    trials = [t for n in {r.source_trial_id for r in rows(out)} for t in sampling_trials(spec, out, n)]
    assert {t.params["sampler.name"] for t in trials} == {"ddim", "edm"}
    for t in trials:
        assert ("sampler.S_churn" in t.params) == (t.params["sampler.name"] == "edm")
    for row in rows(out):
        setting = json.loads(row.setting)
        assert ("sampler.S_churn" in setting) == (setting["sampler.name"] == "edm")


def test_the_test_split_is_evaluated_for_the_chosen_settings_only(study: dict):
    out = study["out"]
    all_rows = rows(out)
    tested = {(r.source_trial_id, r.number) for r in all_rows if r.split == "test"}
    assert tested and tested == set(chosen_settings(all_rows))
    assert all(r.origin == "chosen" and len(r.frame_mpjpe_mm) == r.frames for r in all_rows if r.split == "test")
    trials = [trial_from_record(r) for r in read_trials(out).to_pylist()]
    assert all(t.test_mpjpe_mm is None for t in trials)  # stage 1 never touches test (no regress reference here)


def test_more_stage_2_settings_never_change_a_trained_network(study: dict, local_ray):
    spec, out = study["spec"], study["out"]
    storage = str(out / "ray")
    networks = sorted({r.source_trial_id for r in rows(out)})
    files = [Path(find_checkpoint(storage, n)) for n in networks]
    for file in files:
        file.chmod(0o444)  # read-only: a write would fail the evaluation
    digest = {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    epochs_before = (out / "epochs.parquet").read_bytes()
    more = dataclasses.replace(spec, sampling=dataclasses.replace(spec.sampling, num_trials=NUM_SETTINGS + 2))
    stage = SamplingStage(more, out, None, lambda trial_id: find_checkpoint(storage, trial_id))
    stage.end_of_stage1([trial_from_record(r) for r in read_trials(out).to_pylist()])
    assert stage.drain() and stage.finished()
    assert {f: hashlib.sha256(f.read_bytes()).hexdigest() for f in files} == digest
    assert (out / "epochs.parquet").read_bytes() == epochs_before  # no training epoch was added
    for network in networks:
        kept = [t for t in sampling_trials(spec, out, network) if t.user_attrs.get(REASON_ATTR) != STOPPED_REASON]
        assert len(kept) == NUM_SETTINGS + 2


def _spec(folder: Path, synthetic_npz: Path, fixed: dict) -> Path:
    smoke = yaml.safe_load((Path(__file__).resolve().parents[3] / "searchspaces" / "smoke.yaml").read_text())
    smoke.update(
        name="stage2",
        budget={"num_trials": 2, "max_epochs": 2, "max_concurrent_trials": 2, "checkpoint_every": 1, "max_failures": 0},
        data={"path": str(synthetic_npz), "val_subset_size": 128},
        pruner={"name": "none"},
        sampler={"name": "bruteforce", "seed": 0},
        reference=False,
        space=SPACE,
        sampling={
            "reference": REFERENCE,
            "num_trials": NUM_SETTINGS,
            "min_frames": 64,
            "reduction_factor": 4,
            "max_concurrent": 2,
            "sampler": {"name": "random", "seed": 0},
        },
    )
    smoke["fixed"].update(fixed)
    path = folder / "stage2.yaml"
    path.write_text(yaml.safe_dump(smoke, sort_keys=False))
    return path


def test_a_network_in_storage_named_by_uri_is_found_and_evaluated_alike(study: dict):
    # The Ray storage may be a URI (s3://, gs://, file://) that pyarrow reads: the same checkpoint, the same figures.
    out = study["out"]
    network = sorted({r.source_trial_id for r in rows(out)})[0]
    local = find_checkpoint(str(out / "ray"), network)
    uri = find_checkpoint((out / "ray").as_uri(), network)
    assert uri == (out / "ray").as_uri() + local[len(str(out / "ray")) :]
    sampler = load_spec(study["spec"].source).trial_config({}).sampler
    figures = [evaluate_setting(SettingJob(c, sampler, "val", 64)) for c in (local, uri)]
    assert figures[0]["mpjpe_mm"] == figures[1]["mpjpe_mm"] and figures[0]["frames"] == 64
    with pytest.raises(PoseDiffError, match="a checkpoint of trial nosuch"):
        find_checkpoint((out / "ray").as_uri(), "nosuch")


def test_with_top_k_only_networks_among_the_best_so_far_are_searched(study: dict, tmp_path: Path):
    spec = study["spec"]
    top1 = dataclasses.replace(spec, sampling=dataclasses.replace(spec.sampling, top=1))
    stage = SamplingStage(top1, tmp_path, None, lambda trial_id: f"unused/{trial_id}")
    base = [trial_from_record(r) for r in read_trials(study["out"]).to_pylist()][0]
    rows = [
        dataclasses.replace(base, trial_id=t, val_full_mpjpe_mm=v) for t, v in (("a", 50.0), ("b", 40.0), ("c", 60.0))
    ]
    for row in rows:  # completing in this order: a (best so far), b (better), c (worse than b)
        stage.add(row)
    assert set(stage.networks) == {"a", "b"}
    stage.end_of_stage1(rows)  # the final top 1 (b) is searched already; c never is
    assert set(stage.networks) == {"a", "b"}


@pytest.mark.parametrize("last", ["pruned", "complete"])
def test_a_setting_asked_again_takes_over_its_recorded_rungs_unevaluated(study: dict, tmp_path: Path, last: str):
    # The driver died after flushing a setting's rows and before telling Optuna: the next run asks the
    # setting again, moves the rows to the new trial, tells Optuna what they hold and evaluates nothing.
    one = dataclasses.replace(study["spec"], sampling=dataclasses.replace(study["spec"].sampling, num_trials=1))
    killed = SamplingStage(one, tmp_path, None, lambda trial_id: f"unused/{trial_id}")
    base = next(r for r in (trial_from_record(t) for t in read_trials(study["out"]).to_pylist()) if killed.wants(r))
    killed.add(base)
    network = killed.networks[base.trial_id]
    trial = network.study.ask()
    setting, params = killed._setting_config(network, trial)
    template = dataclasses.replace(
        next(r for r in rows(study["out"]) if r.origin == "search"),
        source_trial_id=base.trial_id,
        number=trial.number,
        setting=json.dumps(setting, sort_keys=True),
        params=params,
    )
    for frames, mpjpe_mm, status in ((64, 80.0, "rung"), (256, 90.0, last)):
        killed.store.record(dataclasses.replace(template, frames=frames, mpjpe_mm=mpjpe_mm, status=status))
    killed.store.flush()
    resumed = SamplingStage(one, tmp_path, None, lambda trial_id: f"unused/{trial_id}")
    resumed.add(base)
    resumed.poll()
    first, again = resumed.networks[base.trial_id].study.get_trials()
    assert first.state == TrialState.FAIL and first.user_attrs[REASON_ATTR] == STOPPED_REASON
    assert again.params == first.params and not resumed.pending  # nothing was evaluated again
    if last == "pruned":
        assert again.state == TrialState.PRUNED and again.intermediate_values == {64: 80.0, 256: 90.0}
    else:
        assert again.state == TrialState.COMPLETE and again.values == [90.0] and again.intermediate_values == {64: 80.0}
    assert [(r.number, r.frames, r.status) for r in SamplesStore(tmp_path, one.name).rows()] == [
        (again.number, 64, "rung"),
        (again.number, 256, last),
    ]
    assert resumed._search_done(resumed.networks[base.trial_id])


def test_a_setting_identical_to_one_in_flight_waits_for_its_result(study: dict, tmp_path: Path, local_ray):
    # Two identical settings asked side by side (max_concurrent 2): the second takes the first's result
    # when it closes instead of being evaluated too.
    spec, storage = study["spec"], str(study["out"] / "ray")
    two = dataclasses.replace(spec, sampling=dataclasses.replace(spec.sampling, num_trials=2, max_concurrent=2))
    stage = SamplingStage(two, tmp_path, None, lambda trial_id: find_checkpoint(storage, trial_id))
    base = next(r for r in (trial_from_record(t) for t in read_trials(study["out"]).to_pylist()) if stage.wants(r))
    stage.add(base)
    network = stage.networks[base.trial_id]
    for _ in range(2):
        network.study.enqueue_trial({"sampler.name": "ddim"}, skip_if_exists=False)
    assert stage.drain()
    first, second = network.study.get_trials()
    assert first.state == second.state and first.values == second.values
    assert second.user_attrs[SAME_AS_ATTR] == first.number
    assert {r.number for r in stage.store.rows()} == {first.number}  # one evaluation per rung, the first's


def test_a_multi_objective_stage_2_scores_mpjpe_and_nfe_on_every_frame(study: dict, tmp_path: Path, local_ray):
    # objectives [val_mpjpe_mm, nfe]: no rungs (Optuna cannot prune such studies), both values told,
    # and the chosen settings on test include the MPJPE-vs-NFE Pareto front.
    spec, storage = study["spec"], str(study["out"] / "ray")
    objectives = ("val_mpjpe_mm", "nfe")
    front = dataclasses.replace(spec, sampling=dataclasses.replace(spec.sampling, objectives=objectives))
    stage = SamplingStage(front, tmp_path, None, lambda trial_id: find_checkpoint(storage, trial_id))
    stage.end_of_stage1([trial_from_record(r) for r in read_trials(study["out"]).to_pylist()])
    assert stage.drain() and stage.finished() and len(stage.networks) == 2
    search = [r for r in stage.store.rows() if r.origin == "search"]
    assert {r.status for r in search} == {"complete"} and len({r.frames for r in search}) == 1
    assert search[0].frames > front.sampling.min_frames  # straight to every validation frame
    for network in stage.networks.values():
        assert len(network.study.directions) == 2
        by_number = {r.number: r for r in search if r.source_trial_id == network.row.trial_id}
        for trial in network.study.get_trials():
            assert trial.state == TrialState.COMPLETE
            row = by_number[trial.user_attrs.get(SAME_AS_ATTR, trial.number)]
            assert trial.values == [row.mpjpe_mm, row.nfe]
    tested = {(r.source_trial_id, r.number) for r in stage.store.rows() if r.origin == "chosen"}
    assert tested == set(chosen_settings(search))
    assert {(r.source_trial_id, r.number) for r in pareto_front(search)} <= tested
