"""The Optuna <-> Ray Tune bridge (docs/study.md §2): Optuna decides, Ray Tune executes.

Ray's own ``OptunaSearch`` never prunes with Optuna's pruners and tells a trial stopped by a Tune
scheduler as COMPLETE with its truncated value. Here :class:`OptunaPruningScheduler` reports each
epoch's value to the Optuna trial and asks Optuna's pruner, and :class:`OptunaSearcher` asks
Optuna for parameters and tells COMPLETE / PRUNED / FAIL truthfully. Both share one
:class:`~study.tune.optuna_link.OptunaLink` and live in the Tune driver, deciding one result at a
time (no locks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optuna.trial import TrialState
from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from study.results.tables import finite
from study.tune.optuna_link import LOST_REASON, OptunaLink


class OptunaPruningScheduler(FIFOScheduler):
    """Reports each epoch's value to Optuna and stops the trial when Optuna's pruner says so."""

    def __init__(self, link: OptunaLink) -> None:
        super().__init__()
        self.link = link
        self._metric, self._mode = link.spec.metric, link.spec.mode
        self._reconciled = False

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        """Metric and mode come from the study spec; Tune's must agree."""
        return metric in (None, self._metric) and mode in (None, self._mode)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        """One epoch's result: report to Optuna, then prune, cap at max epochs, or continue."""
        tune_id = trial.trial_id
        step = int(result.get("epoch", result.get("training_iteration", 0)))  # epoch survives a restore
        value = result.get(self._metric)
        if not self.link.is_running(tune_id):
            return TrialScheduler.STOP
        if not finite(value):
            self.link.finish(tune_id, TrialState.FAIL, reason=f"{self._metric} is {value!r} at epoch {step}")
            return TrialScheduler.STOP
        if not self.link.report(tune_id, step, float(value)):
            return TrialScheduler.CONTINUE  # a step seen before (restored trial, final duplicate)
        if step >= self.link.spec.max_epochs:
            return TrialScheduler.STOP  # hard cap; the searcher tells COMPLETE
        if self.link.should_prune(tune_id):
            self.link.finish(tune_id, TrialState.PRUNED)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        """A trial that raised after its retries: FAIL in Optuna with the error; a retry keeps it open."""
        if trial.status == Trial.ERROR and trial.should_recover():
            return  # Ray re-queues it (FailureConfig.max_failures): it resumes from its last checkpoint
        self.link.finish(trial.trial_id, TrialState.FAIL, reason=error_reason(trial))

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        """A new or restored Tune trial; a restored one that ended is closed in Optuna if still open."""
        tune_id = trial.trial_id
        self.link.known.add(tune_id)
        if trial.status == Trial.TERMINATED:
            self.link.close(tune_id, trial.last_result)
        elif trial.status == Trial.ERROR:
            self.link.finish(tune_id, TrialState.FAIL, reason=error_reason(trial))

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        """FIFO, after reconciling Tune's restored trials with Optuna once (see :meth:`reconcile`)."""
        if not self._reconciled:
            self._reconciled = True
            self.reconcile(tune_controller)
        return super().choose_trial_to_run(tune_controller)

    def reconcile(self, tune_controller: Any) -> None:
        """After a restore: never rerun a trial Optuna already closed; FAIL trials Tune lost mid-run.

        Tune's experiment state is saved every few seconds, Optuna's journal on every report, so a
        killed driver may leave either one ahead of the other.
        """
        for trial in list(tune_controller.get_trials()):
            closed = self.link.number(trial.trial_id) is not None and not self.link.is_running(trial.trial_id)
            if trial.status in (Trial.PENDING, Trial.PAUSED) and closed:
                tune_controller.stop_trial(trial)
        for tune_id in self.link.orphans(self.link.known):
            if self.link.last_step(tune_id) > 0:
                self.link.finish(tune_id, TrialState.FAIL, reason=LOST_REASON)


def error_reason(trial: Any) -> str:
    """``<ExceptionType>: <first line>`` of a Tune trial's last error (else its error file's last line)."""
    try:
        error = trial.get_pickled_error()
    except Exception:  # noqa: BLE001 - an unpicklable or unreadable error: fall back to the text file
        error = None
    if error is not None:
        cause = getattr(error, "cause", None) or error  # RayTaskError wraps the trial's own exception
        first = next((line for line in str(cause).splitlines() if line.strip()), "")
        return f"{type(cause).__name__}: {first.strip()}"
    path = getattr(trial, "error_file", None)
    if not path or not Path(path).exists():
        return "trial raised an error"
    lines = [line.strip() for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "trial raised an error"


class OptunaSearcher(Searcher):
    """Asks Optuna for each trial's parameters; tells COMPLETE / PRUNED / FAIL truthfully."""

    def __init__(self, link: OptunaLink) -> None:
        super().__init__(metric=link.spec.metric, mode=link.spec.mode)
        self.link = link

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        """Parameters come from the study spec, not from Tune's param_space."""
        return metric in (None, self.metric) and mode in (None, self.mode)

    def suggest(self, trial_id: str) -> dict[str, Any]:
        """Dotted trial-config keys -> values sampled by Optuna (the trainable's config)."""
        return self.link.ask(trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        """Tell Optuna how the trial ended, unless the scheduler already did (pruned/failed)."""
        self.link.close(trial_id, result, error)

    def save(self, checkpoint_path: str) -> None:
        """Tune checkpoints searchers; all our state is in the Optuna storage."""
        Path(checkpoint_path).write_text(f"optuna study {self.link.spec.name}\n")

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to load: the link rebuilds itself from the Optuna storage."""
