"""The Ray Tune callback that writes Parquet rows as results arrive and feeds the live view.

Runs in the driver after the bridge has decided (Tune calls the scheduler before callbacks), so a
trial's status here is Optuna's: running, complete, pruned or failed. Every trial and epoch row carries
the trial's complete config (:meth:`StudySpec.row_params`). A trial's row is flushed at
its end and each epoch's rows as the epoch arrives, before Tune can save a checkpoint past it
(a driver killed at any moment loses no row; `run --resume` redoes nothing recorded).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from optuna.trial import TrialState
from ray import tune

from model.errors import PoseDiffError
from study.results.tables import EpochRow, ResultsStore, TrialRow
from study.tune.live import StudyProgress, progress_from_store
from study.tune.optuna_link import FIXED_ATTR, NEVER_RUN_REASON, OptunaLink
from study.tune.sampling import SamplingStage

View = Callable[[StudyProgress, "str | None"], None]  # (snapshot, event line or None for a refresh)
FINAL_KEYS = ("test_mpjpe_mm", "test_p_mpjpe_mm", "test_n_mpjpe_mm", "val_full_mpjpe_mm", "oracle_mpjpe_mm")
REFRESH_S = 0.5


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


class ResultsCallback(tune.Callback):
    """Tune events -> :class:`ResultsStore` rows (and snapshots for the live view)."""

    def __init__(
        self, link: OptunaLink, run_dir: Path, view: View | None = None, sampling: SamplingStage | None = None
    ) -> None:
        self.link, self.run_dir, self.view = link, Path(run_dir), view
        self.sampling = sampling  # stage 2: each network that completes is searched while stage 1 goes on
        self._store: ResultsStore | None = None
        self._start_s, self._shown_s = time.monotonic(), 0.0

    def __getstate__(self) -> dict[str, Any]:
        """Pickled into Tune's tuner.pkl: the recipe only (the store, the view and stage 2 are re-made)."""
        return {"link": self.link, "run_dir": self.run_dir}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["link"], state["run_dir"])

    @property
    def store(self) -> ResultsStore:
        """The study's Parquet store (existing files are taken over on resume)."""
        if self._store is None:
            self._store = ResultsStore(self.run_dir, self.link.spec.name, self.link.spec.searched_keys)
        return self._store

    def snapshot(self) -> StudyProgress:
        """The live view's snapshot of what the store holds (and of stage 2)."""
        snapshot = progress_from_store(
            self.store, self.link.spec.num_total_trials, self.link.spec.max_epochs, time.monotonic() - self._start_s
        )
        return dataclasses.replace(snapshot, stage2=self.sampling.summary()) if self.sampling else snapshot

    def show_event(self, event: str) -> None:
        """One event line (and a fresh snapshot) in the view: stage 2 reports through here."""
        self._show(event)

    def _show(self, event: str | None = None) -> None:
        now = time.monotonic()
        if self.view is not None and (event is not None or now - self._shown_s >= REFRESH_S):
            self._shown_s = now
            self.view(self.snapshot(), event)

    def _trial_row(self, trial: Any, result: dict | None) -> TrialRow:
        """The trial's row: the previous one updated with Optuna's status and ``result``."""
        tune_id, result = trial.trial_id, result or {}
        prev = self.store.trial(tune_id) or self._new_row(tune_id, trial.config)
        status = self.link.status(tune_id)
        updates: dict[str, Any] = {
            "status": status,
            "error": self.link.fail_reason(tune_id) if status == "failed" else "",
        }
        if "epoch" in result:
            val, p_val = result.get("val_mpjpe_mm"), result.get("val_p_mpjpe_mm")
            updates.update(
                epochs_run=max(prev.epochs_run, int(result["epoch"])),
                final_val_mpjpe_mm=val,
                final_val_p_mpjpe_mm=p_val,
                best_val_mpjpe_mm=_min(prev.best_val_mpjpe_mm, val),
                best_val_p_mpjpe_mm=_min(prev.best_val_p_mpjpe_mm, p_val),
                nfe=int(result["nfe"]),
                wall_s=float(result["trial_s"]),
                cpu_s=float(result["cpu_s"]),
                gpu_s=float(result["gpu_s"]),
                node=str(result["node"]),
            )
            updates.update({key: float(result[key]) for key in FINAL_KEYS if key in result})
        return dataclasses.replace(prev, **updates)

    def _new_row(self, tune_id: str, config: Mapping[str, Any] | None) -> TrialRow:
        """A trial's first row: running, no epochs yet, its complete config (see :meth:`_row_params`)."""
        number = self.link.number(tune_id)
        return TrialRow(
            study=self.link.spec.name,
            trial_id=tune_id,
            trial_number=-1 if number is None else number,
            status="running",
            params=self._row_params(tune_id, config),
            epochs_run=0,
            best_val_mpjpe_mm=None,
            final_val_mpjpe_mm=None,
            best_val_p_mpjpe_mm=None,
            final_val_p_mpjpe_mm=None,
        )

    def _row_params(self, tune_id: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
        """The trial's complete config from Tune's ``config`` (the params Optuna gave it), or for a trial no
        Tune trial ran (``None``) from Optuna's record; an invalid combination (the trial fails on it) as given."""
        if config is None:
            frozen = self.link.frozen(tune_id) if self.link.number(tune_id) is not None else None
            config = {**frozen.params, **frozen.user_attrs.get(FIXED_ATTR, {})} if frozen else {}
        try:
            return self.link.spec.row_params(config)
        except PoseDiffError:
            return dict(config)

    def _epoch_row(self, trial: Any, result: dict) -> EpochRow:
        """One epoch's row, with the params of its trial's row."""
        prev = self.store.trial(trial.trial_id) or self._new_row(trial.trial_id, trial.config)
        metrics = {
            f.name: result[f.name]
            for f in dataclasses.fields(EpochRow)
            if f.name not in ("study", "trial_id", "trial_number", "kind", "params")
        }
        return EpochRow(
            study=self.link.spec.name,
            trial_id=trial.trial_id,
            trial_number=self._number(trial),
            params=prev.params,
            **metrics,
        )

    def _number(self, trial: Any) -> int:
        number = self.link.number(trial.trial_id)
        return -1 if number is None else number

    def _event(self, trial: Any, what: str) -> str:
        return f"trial {self._number(trial)} ({trial.trial_id}) {what}"

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """A trial got its actor: a 'running' row (kept as is when resumed)."""
        self._forget_adopted()
        self.store.record_trial(self._trial_row(trial, None))
        self.store.flush_if_due()
        self._show(self._event(trial, "started"))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        """One epoch: its row (a re-run epoch after a restore is ignored) and the trial's row."""
        if "epoch" not in result:
            return
        if self.store.record_epoch(self._epoch_row(trial, result)):  # a re-run epoch changes no figure
            self.store.record_trial(self._trial_row(trial, result))
            # On disk before Tune's next experiment snapshot can hold this epoch's checkpoint: a
            # driver killed after that snapshot resumes past this epoch and would never write it again.
            self.store.flush()
        self._show()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """A trial ended (complete, or pruned by the bridge): final row, flushed now."""
        self._finish(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        """A trial raised after its retries (the bridge told Optuna FAIL): failed row, flushed now."""
        self._finish(trial)

    def _finish(self, trial: Any) -> None:
        row = self._trial_row(trial, trial.last_result)
        self.store.record_trial(row)
        self.store.flush()
        self.link.changed.discard(trial.trial_id)
        if self.sampling is not None:
            self.sampling.add(row)
        best = (
            "" if row.final_val_mpjpe_mm is None else f" at epoch {row.epochs_run}, val {row.final_val_mpjpe_mm:.1f} mm"
        )
        self._show(self._event(trial, row.status + best + (f": {row.error}" if row.error else "")))

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        """Rows of trials whose Optuna state changed outside a trial event (resume reconciliation)."""
        self._sync_changed({t.trial_id: t for t in trials})
        self.store.flush_if_due()
        if self.sampling is not None:
            self.sampling.poll()
        self._show()

    def _forget_adopted(self) -> None:
        """Rows of a killed driver's Tune trials whose Optuna trial a new Tune trial took over go: one row per Optuna trial."""
        for tune_id in sorted(self.link.adopted):
            self.store.forget_trial(tune_id)
        self.link.adopted.clear()

    def _sync_changed(self, by_id: dict[str, Any]) -> None:
        self._forget_adopted()
        for tune_id in sorted(self.link.changed):
            prev = self.store.trial(tune_id)
            if tune_id in by_id:
                self.store.record_trial(self._trial_row(by_id[tune_id], None))
            else:
                self.store.record_trial(
                    dataclasses.replace(
                        prev or self._new_row(tune_id, None),
                        status=self.link.status(tune_id),
                        error=self.link.fail_reason(tune_id),
                    )
                )
        self.link.changed.clear()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        """The study ended: Optuna trials no Tune trial will finish are FAIL; everything flushed."""
        for tune_id in self.link.orphans(self.link.known):
            self.link.finish(tune_id, TrialState.FAIL, reason=NEVER_RUN_REASON)
        self._sync_changed({t.trial_id: t for t in trials})
        self.store.flush()
