"""Stage 2: the sampler search on each trained network, as Ray tasks beside stage 1 (docs/study.md §3).

Each network that completes stage 1 gets its own Optuna study (``<study>.sampling.<trial id>``, in
the study's storage) over the spec's ``sampler.*`` keys. A setting is scored cheap first: on
``min_frames`` validation frames, then ``reduction_factor`` times more while successive halving
keeps it, up to the network's evaluation frames (the value Optuna is told). Every evaluation is one
Ray task with a trial's CPUs and GPU share, and one row of samples.parquet, flushed before Optuna
hears of it. When every network is searched, the chosen settings (the best of each sampler family
per network, and the MPJPE-vs-NFE Pareto front) are evaluated once on the test split.

The driver calls :meth:`SamplingStage.poll` from Tune's loop (no threads) and :meth:`drain` after it.
A stopped driver leaves RUNNING settings: the next run fails them and asks each setting again; the new
trial takes over the old one's rows, tells Optuna the rungs they hold and goes on from the next rung, so
nothing recorded is lost, evaluated twice or counted twice.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.trial import TrialState

from model.config import trial_config
from model.errors import PoseDiffError
from study.results.choice import chosen_settings
from study.results.samples import SampleRow, SamplesStore
from study.results.tables import TrialRow
from study.spec.study_spec import StudySpec
from study.tune.gate import SAMPLING_GATE_ENV, EpochGate
from study.tune.sampling_network import RESUMES_ATTR, Network, tell
from study.tune.setting_eval import SettingJob, evaluate_setting

POLL_S = 0.5


def _network_score(row: TrialRow) -> tuple[float, str]:
    return (row.val_full_mpjpe_mm if row.val_full_mpjpe_mm is not None else float("inf"), row.trial_id)


def event_line(row: SampleRow) -> str:
    """A stage-2 event for the live view and --quiet logs."""
    what = "tested" if row.origin == "chosen" else row.status
    return (
        f"network {row.source_trial_id} setting {row.number} ({row.params.get('sampler.name')}) {what}: "
        f"{row.split} {row.mpjpe_mm:.1f} mm on {row.frames} frames, NFE {row.nfe}"
    )


@dataclass(frozen=True)
class Pending:
    """A submitted task: which network, which Optuna trial (number), the setting's complete config."""

    network: Network
    number: int
    setting: dict[str, Any]  # the keys Optuna sampled (JSON in the row)
    params: dict[str, Any]
    origin: str  # "search" | "chosen"
    job: SettingJob


class SamplingStage:
    """Stage 2 of one study run: networks in, settings asked, Ray tasks out, rows and Optuna state back."""

    def __init__(self, spec: StudySpec, run_dir: Path, storage_url: str | None, find_checkpoint: Any) -> None:
        self.spec, self.run_dir, self.storage_url = spec, Path(run_dir), storage_url
        self.find_checkpoint = find_checkpoint  # trial id -> path or URI of its latest checkpoint file
        self.store = SamplesStore(self.run_dir, spec.name, spec.sampling_keys)
        self.networks: dict[str, Network] = {}
        self.complete: dict[str, TrialRow] = {}  # every complete network seen, searched or not
        self.pending: dict[Any, Pending] = {}
        self.parked: list[tuple[Network, optuna.trial.Trial, dict[str, Any]]] = []  # identical setting in flight
        self.stage1_done = False
        self.gate = EpochGate.from_env(SAMPLING_GATE_ENV)  # tests hold stage 2 where they choose
        self.on_event: Callable[[str], None] | None = None  # the live view's event line
        self._task: Any = None

    # -- networks in -----------------------------------------------------------------------
    def wants(self, row: TrialRow) -> bool:
        """A complete diffusion network of stage 1 (the regress reference samples nothing)."""
        return row.kind == "train" and row.status == "complete" and row.params.get("diffusion.prediction") != "regress"

    def add(self, row: TrialRow) -> None:
        """Start (or, after a stopped driver, continue) the search on one trained network."""
        if not self.wants(row) or row.trial_id in self.networks:
            return
        self.complete[row.trial_id] = row
        if not self._among_top(row):
            return  # not among the top k so far; end_of_stage1 adds it if it is among the final top k
        network = Network.open(self.spec, self.run_dir, self.storage_url, row, self.find_checkpoint(row.trial_id))
        network.ask_again_what_a_stopped_driver_left()
        self.networks[row.trial_id] = network

    def _among_top(self, row: TrialRow) -> bool:
        """With ``top: k``, whether ``row`` ranks among the k best complete networks seen so far (full-split
        validation MPJPE with the reference sampler): sampler searches go to promising networks first."""
        top = self.spec.sampling.top
        if top is None:
            return True
        ranked = sorted(self.complete.values(), key=_network_score)
        return row.trial_id in {r.trial_id for r in ranked[:top]}

    def end_of_stage1(self, rows: list[TrialRow]) -> None:
        """Stage 1 has ended: add its networks (the top k by full-split val MPJPE when the spec says so)."""
        self.stage1_done = True
        done = sorted((r for r in rows if self.wants(r)), key=lambda r: r.val_full_mpjpe_mm or float("inf"))
        for row in done[: self.spec.sampling.top] if self.spec.sampling.top else done:
            self.add(row)

    # -- the loop ----------------------------------------------------------------------------
    def poll(self) -> None:
        """Collect finished tasks and submit new ones, without waiting (called from Tune's loop)."""
        self._collect(timeout_s=0)
        self._submit()

    def drain(self) -> bool:
        """Run stage 2 to its end (chosen settings on test included); False on Ctrl-C (resume continues)."""
        try:
            while True:
                self._submit()
                if not self.pending and not self._submit_chosen():
                    return True
                self._collect(timeout_s=POLL_S)
        except KeyboardInterrupt:
            return False
        finally:
            self.store.flush()

    def finished(self) -> bool:
        """Every network searched to its budget and every chosen setting evaluated on test."""
        searched = all(self._search_done(n) for n in self.networks.values())
        return self.stage1_done and searched and not self.pending and not self._chosen_todo()

    def _search_done(self, network: Network) -> bool:
        return network.closed() >= self.spec.sampling.num_trials and not network.running()

    def _submit(self) -> None:
        # A parked setting takes its twin's result once the twin has closed.
        self.parked = [(n, t, p) for n, t, p in self.parked if not n.reuse(self.spec, t, p)]
        for network in self.networks.values():
            while len(self.pending) < self.spec.sampling.max_concurrent and self._wants_another(network):
                trial = network.study.ask()
                setting, params = self._setting_config(network, trial)
                job = self._job(params, "val", self._first())
                pending = Pending(network, trial.number, setting, params, "search", job)
                if self._resume(pending, trial) or network.reuse(self.spec, trial, params):
                    continue
                if self._in_flight(network, params):  # wait for its result instead of evaluating it twice
                    self.parked.append((network, trial, params))
                    continue
                self._launch(pending)

    def _in_flight(self, network: Network, params: dict[str, Any]) -> bool:
        """Whether an identical setting of ``network`` is under evaluation in the search."""
        sampler = trial_config(params).sampler
        return any(
            p.network is network and p.origin == "search" and trial_config(p.params).sampler == sampler
            for p in self.pending.values()
        )

    def _resume(self, pending: Pending, trial: optuna.trial.Trial) -> bool:
        """Take over the rows of the stopped setting ``trial`` asks again: tell Optuna the rungs they hold
        (the pruner's verdicts stand as recorded), then close it as recorded or go on from the next rung.
        False when ``trial`` is a new setting or its stopped one recorded nothing."""
        network, number = pending.network, trial.user_attrs.get(RESUMES_ATTR)
        moved: list[SampleRow] = []
        while number is not None and not moved:  # a kill before the rows moved leaves them one trial back
            moved = self.store.renumber(network.row.trial_id, number, trial.number)
            number = network.study.get_trials(deepcopy=False)[number].user_attrs.get(RESUMES_ATTR)
        if not moved:
            return False
        self.store.flush()
        for row in (r for r in moved if r.status != "complete"):
            trial.report(row.mpjpe_mm, row.frames)
            trial.should_prune()  # records the rung for successive halving
        last = moved[-1]
        if last.status == "rung":
            frames = last.frames * self.spec.sampling.reduction_factor
            self._launch(dataclasses.replace(pending, job=dataclasses.replace(pending.job, frames=frames)))
        elif last.status == "pruned":
            tell(network.study, trial, None, TrialState.PRUNED)
        else:
            values = [last.mpjpe_mm, last.nfe][: len(self.spec.sampling.objectives)]
            tell(network.study, trial, values, TrialState.COMPLETE)
        return True

    def _wants_another(self, network: Network) -> bool:
        return network.closed() + len(network.running()) < self.spec.sampling.num_trials

    def _first(self) -> int | None:
        """The first rung's frames (None: straight to the full evaluation, multi-objective studies)."""
        return None if self.spec.sampling.is_multi_objective else self.spec.sampling.min_frames

    def _setting_config(self, network: Network, trial: optuna.trial.Trial) -> tuple[dict[str, Any], dict[str, Any]]:
        """The setting Optuna asks for (conditions on both stages' keys) and the network's config with it."""
        setting = self.spec.suggest_sampling(trial, network.row.params)
        params = {**network.row.params, **self.spec.expand(setting)}
        trial_config(params, where=f"{self.spec.source}: sampling trial {trial.number} on {network.row.trial_id}")
        return setting, params

    def _job(self, params: dict[str, Any], split: str, frames: int | None) -> SettingJob:
        sampler = trial_config(params).sampler
        return SettingJob(
            "",  # set in _launch from the network
            sampler,
            split,
            frames,
            cpus=self.spec.cpus_per_trial,
            gpus=self.spec.gpus_per_trial,
        )

    def _launch(self, pending: Pending) -> None:
        if self._task is None:
            self._task = ray.remote(num_cpus=self.spec.cpus_per_trial, num_gpus=self.spec.gpus_per_trial)(
                evaluate_setting
            )
        job = dataclasses.replace(pending.job, checkpoint=pending.network.checkpoint)
        pending = dataclasses.replace(pending, job=job)
        self.pending[self._task.remote(job)] = pending

    def _collect(self, timeout_s: float) -> None:
        if not self.pending:
            if timeout_s:
                time.sleep(timeout_s)
            return
        ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=timeout_s)
        for ref in ready:
            pending = self.pending.pop(ref)
            figures = ray.get(ref)
            if "error" in figures:
                raise PoseDiffError(*figures["error"])
            self._record(pending, figures)

    # -- results back ------------------------------------------------------------------------
    def _record(self, pending: Pending, figures: dict[str, Any]) -> None:
        """Row first (flushed), then Optuna: after a kill in between, the re-asked setting acts on the row."""
        final = figures["frames"] >= figures["available_frames"]
        network, number = pending.network, pending.number
        if self.gate is not None:
            self.gate.pass_through(f"{network.row.trial_id}.{number}", figures["frames"])
        trial = network.trial(number)
        pruned = False
        if pending.origin == "search" and not final:
            trial.report(figures["mpjpe_mm"], figures["frames"])
            pruned = trial.should_prune()
        status = "pruned" if pruned else "complete" if final or pending.origin == "chosen" else "rung"
        row = self._row(pending, figures, status)
        self.store.record(row)
        self.store.flush()
        if self.on_event is not None:
            self.on_event(event_line(row))
        if pending.origin == "chosen":
            return
        if pruned:
            tell(network.study, trial, None, TrialState.PRUNED)
        elif final:
            values = [figures["mpjpe_mm"], figures["nfe"]][: len(self.spec.sampling.objectives)]
            tell(network.study, trial, values, TrialState.COMPLETE)
        else:
            frames = figures["frames"] * self.spec.sampling.reduction_factor
            self._launch(dataclasses.replace(pending, job=dataclasses.replace(pending.job, frames=frames)))

    def _row(self, pending: Pending, figures: dict[str, Any], status: str) -> SampleRow:
        keep = pending.origin == "chosen"
        return SampleRow(
            study=self.spec.name,
            source_trial_id=pending.network.row.trial_id,
            number=pending.number,
            origin=pending.origin,
            split=pending.job.split,
            frames=int(figures["frames"]),
            status=status,
            setting=json.dumps(pending.setting, sort_keys=True),
            params=pending.params,
            mpjpe_mm=figures["mpjpe_mm"],
            p_mpjpe_mm=figures["p_mpjpe_mm"],
            n_mpjpe_mm=figures["n_mpjpe_mm"],
            oracle_mpjpe_mm=figures["oracle_mpjpe_mm"],
            nfe=int(figures["nfe"]),
            wall_s=figures["wall_s"],
            cpu_s=figures["cpu_s"],
            node=figures["node"],
            frame_mpjpe_mm=figures["frame_mpjpe_mm"] if keep else (),
        )

    def summary(self) -> str:
        """One line for the live view: networks, settings scored of the budget, in flight, best so far."""
        if not self.networks:
            return ""
        budget = self.spec.sampling.num_trials * len(self.networks)
        closed = sum(n.closed() for n in self.networks.values())
        final = [r for r in self.store.rows() if r.origin == "search" and r.status == "complete"]
        best = min(final, key=lambda r: r.mpjpe_mm, default=None)
        text = (
            f"stage 2: {len(self.networks)} networks, {closed}/{budget} settings done, {len(self.pending)} evaluating"
        )
        if best is not None:
            text += f", best val {best.mpjpe_mm:.1f} mm ({best.params.get('sampler.name')} on {best.source_trial_id})"
        tested = sum(r.origin == "chosen" for r in self.store.rows())
        return text + (f", {tested} chosen settings tested" if tested else "")

    # -- the test split, once ----------------------------------------------------------------
    def _chosen_todo(self) -> list[tuple[Network, int]]:
        """Chosen (network, setting number) pairs without their test row yet (only once the search is over)."""
        if not self.stage1_done or not all(self._search_done(n) for n in self.networks.values()):
            return []
        done = {(r.source_trial_id, r.number) for r in self.store.rows() if r.origin == "chosen"}
        picks = chosen_settings([r for r in self.store.rows() if r.origin == "search"])
        return [(self.networks[s], n) for s, n in picks if (s, n) not in done and s in self.networks]

    def _submit_chosen(self) -> bool:
        """Submit the chosen settings' test evaluations; False when there is nothing left to do."""
        todo = self._chosen_todo()
        for network, number in todo:
            row = next(r for r in self.store.rows(network.row.trial_id) if r.number == number)
            params = dict(row.params)
            self._launch(
                Pending(network, number, json.loads(row.setting), params, "chosen", self._job(params, "test", None))
            )
        return bool(todo)
