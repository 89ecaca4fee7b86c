"""The driver's one handle on the study's Optuna storage (docs/study.md §2, §5): ask, report, prune, close.

:class:`OptunaLink` maps Tune trial ids to Optuna trials through the ``tune_trial_id`` user
attribute, so after ``Tuner.restore`` (Ray unpickles it empty, Ray issue 30838) it re-opens the
storage and rebuilds the map; a step it has already seen is ignored. Orphans (open Optuna trials
no Tune trial owns, left by a killed driver) are re-attached by the next ask, else closed FAIL.
The Ray side of the bridge is :mod:`study.tune.bridge`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from model.errors import PoseDiffError
from study.results.storage import optuna_storage, redact_url
from study.results.tables import finite
from study.spec.study_spec import StudySpec

TUNE_ID_ATTR = "tune_trial_id"
FAIL_REASON_ATTR = "fail_reason"
SPEC_HASH_ATTR = "posediff.spec_hash"
LOST_REASON = "the driver stopped; Ray Tune lost the trial"  # it ran, Tune's saved state never knew it
NEVER_RUN_REASON = "asked by a stopped driver and never run"  # no Tune trial ever ran it
UNTAGGED_PREFIX = "untagged-"  # map key of an open Optuna trial that never got its Tune trial id
FIXED_ATTR = "posediff.fixed"  # dotted keys forced onto an enqueued trial (the regress reference)
REFERENCE_PARAMS = {"diffusion.prediction": "regress"}
STATUS = {
    TrialState.RUNNING: "running",
    TrialState.WAITING: "running",
    TrialState.COMPLETE: "complete",
    TrialState.PRUNED: "pruned",
    TrialState.FAIL: "failed",
}


def open_study(spec: StudySpec, run_dir: Path, storage_url: str | None = None) -> optuna.Study:
    """Create or load the study's Optuna study (journal file in ``run_dir`` unless ``storage_url``)."""
    study = optuna.create_study(
        study_name=spec.name,
        storage=optuna_storage(run_dir, storage_url),
        load_if_exists=True,
        sampler=spec.make_sampler(),
        pruner=spec.make_pruner(),
        direction="minimize" if spec.mode == "min" else "maximize",
    )
    stored = study.user_attrs.get(SPEC_HASH_ATTR)
    if stored is None:
        study.set_user_attr(SPEC_HASH_ATTR, spec.hash)
    elif stored != spec.hash:
        raise PoseDiffError(
            f"Optuna storage: study {spec.name}",
            f"the study of spec hash {spec.hash} (rename the study)",
            f"another study's (hash {stored})",
        )
    return study


def enqueue_reference_when_due(spec: StudySpec, study: optuna.Study) -> None:
    """Enqueue the `regress` reference once every trial of the budget has been asked: no sampling
    decision of the study sees its result, and it takes no cell of a grid (bruteforce) from a network."""
    trials = study.get_trials(deepcopy=False)
    if not spec.include_regress_reference or any(FIXED_ATTR in t.user_attrs for t in trials):
        return
    if len(trials) >= spec.num_trials:
        study.enqueue_trial({}, user_attrs={FIXED_ATTR: REFERENCE_PARAMS})


class OptunaLink:
    """The driver's one handle on the Optuna study: Tune trial id -> Optuna trial, last step seen."""

    def __init__(self, spec: StudySpec, run_dir: Path, storage_url: str | None = None) -> None:
        self.spec, self.run_dir, self.storage_url = spec, Path(run_dir), storage_url
        self._reset()

    def _reset(self) -> None:
        self._study: optuna.Study | None = None
        self._trials: dict[str, optuna.trial.Trial] = {}  # running trials only
        self._numbers: dict[str, int] = {}
        self._states: dict[str, TrialState] = {}
        self._last_step: dict[str, int] = {}
        self.known: set[str] = set()  # Tune trials this driver has seen added (restored or new)
        self.changed: set[str] = set()  # tune ids whose Optuna state changed (drained by the results callback)
        self.adopted: set[str] = set()  # orphans' tune ids whose Optuna trial a new Tune trial took over (drained too)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle (Tune's tuner.pkl) only the recipe, the storage URL without its password."""
        url = redact_url(self.storage_url) if self.storage_url else None  # the runner gives it back on resume
        return {"spec": self.spec, "run_dir": self.run_dir, "storage_url": url}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def open(self) -> optuna.Study:
        """The Optuna study, opened (and the trial map rebuilt from storage) on first use."""
        if self._study is None:
            self._study = open_study(self.spec, self.run_dir, self.storage_url)
            self._rebuild()
        return self._study

    @property
    def study(self) -> optuna.Study:
        """The Optuna study (see :meth:`open`)."""
        return self.open()

    def _rebuild(self) -> None:
        for frozen in self._study.get_trials(deepcopy=False):
            tune_id = frozen.user_attrs.get(TUNE_ID_ATTR)
            if tune_id is None and frozen.state != TrialState.RUNNING:
                continue  # the enqueued reference, still WAITING
            if tune_id is None:  # a driver killed inside `ask`, before it could tag the trial
                tune_id = f"{UNTAGGED_PREFIX}{frozen.number}"
            self._numbers[tune_id] = frozen.number
            self._states[tune_id] = frozen.state
            self._last_step[tune_id] = max(frozen.intermediate_values, default=0)
            if frozen.state == TrialState.RUNNING:
                self._trials[tune_id] = optuna.trial.Trial(self._study, frozen._trial_id)

    def ask(self, tune_id: str) -> dict[str, Any]:
        """An Optuna trial tagged with ``tune_id``; returns its dotted params (+ forced keys).

        An open Optuna trial that a killed driver asked for but Tune never recorded (no reports
        yet) is re-attached to ``tune_id`` instead of asking for a new one.
        """
        self.open()
        self.known.add(tune_id)  # Tune trials this driver asked for are never orphans
        reusable = [t for t in self.orphans(self.known) if self._last_step[t] == 0]
        if reusable:
            self.adopted.add(reusable[0])
        if not reusable:
            enqueue_reference_when_due(self.spec, self.study)
        trial = self._adopt(reusable[0]) if reusable else self.study.ask()
        trial.set_user_attr(TUNE_ID_ATTR, tune_id)  # first: a kill from here on leaves a tagged orphan
        params = self.spec.suggest(trial)
        params.update(trial.user_attrs.get(FIXED_ATTR, {}))
        self._trials[tune_id], self._numbers[tune_id] = trial, trial.number
        self._states[tune_id], self._last_step[tune_id] = TrialState.RUNNING, 0
        return params

    def _adopt(self, orphan_id: str) -> optuna.trial.Trial:
        """Take an orphan's open Optuna trial off the map, to be re-tagged with a new Tune trial id."""
        for table in (self._numbers, self._states, self._last_step):
            table.pop(orphan_id, None)
        return self._trials.pop(orphan_id)

    def number(self, tune_id: str) -> int | None:
        """The Optuna trial number of a Tune trial (None if Optuna never saw it)."""
        self.open()  # rebuilds the map after a restore
        return self._numbers.get(tune_id)

    def status(self, tune_id: str) -> str:
        """'running' | 'complete' | 'pruned' | 'failed' as Optuna records it."""
        self.open()
        return STATUS[self._states.get(tune_id, TrialState.RUNNING)]

    def is_running(self, tune_id: str) -> bool:
        """True while the Optuna trial of ``tune_id`` is open."""
        self.open()
        return tune_id in self._trials

    def report(self, tune_id: str, step: int, value: float) -> bool:
        """Report the value at ``step`` (epoch); False for a step already seen or a closed trial."""
        if not self.is_running(tune_id) or step <= self._last_step[tune_id]:
            return False
        self._last_step[tune_id] = step
        if not self.is_reference(tune_id):  # the reference's curve must not set the pruners' bar
            self._trials[tune_id].report(value, step)
        return True

    def is_reference(self, tune_id: str) -> bool:
        """True for the enqueued `regress` reference trial (never pruned, no intermediate values)."""
        return FIXED_ATTR in self._trials[tune_id].user_attrs

    def should_prune(self, tune_id: str) -> bool:
        """Ask the study's Optuna pruner about the trial's latest reported step (never the reference)."""
        return not self.is_reference(tune_id) and self._trials[tune_id].should_prune()

    def last_step(self, tune_id: str) -> int:
        """The last epoch reported to Optuna for this trial (0 before the first)."""
        self.open()
        return self._last_step.get(tune_id, 0)

    def finish(self, tune_id: str, state: TrialState, value: float | None = None, reason: str = "") -> None:
        """Tell Optuna the trial's final state (PRUNED takes its last intermediate value)."""
        trial = self._trials.pop(tune_id, None)
        if trial is None:
            return
        if reason:
            trial.set_user_attr(FAIL_REASON_ATTR, reason[:1000])
        if tune_id.startswith(UNTAGGED_PREFIX):
            trial.set_user_attr(TUNE_ID_ATTR, tune_id)  # every closed trial names its row in trials.parquet
        try:
            self.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
        except RuntimeError as exc:  # BruteForceSampler's grid is done: it calls Study.stop, valid only in optimize
            if "Study.stop" not in str(exc):
                raise  # (the trial's state is stored before the sampler's after_trial can raise)
        self._states[tune_id] = state
        self.changed.add(tune_id)

    def close(self, tune_id: str, result: dict | None, error: bool = False) -> None:
        """A Tune trial ended: COMPLETE with its final value after max epochs, else FAIL (if still open)."""
        if not self.is_running(tune_id):
            return
        metric, max_epochs = self.spec.metric, self.spec.max_epochs
        value = (result or {}).get(metric)
        if error:
            self.finish(tune_id, TrialState.FAIL, reason="trial raised an error")
        elif not finite(value):
            self.finish(tune_id, TrialState.FAIL, reason=f"final {metric} is {value!r}")
        elif self.last_step(tune_id) < max_epochs:
            self.finish(tune_id, TrialState.FAIL, reason=f"stopped at epoch {self.last_step(tune_id)} of {max_epochs}")
        else:
            self.finish(tune_id, TrialState.COMPLETE, value=float(value))

    def orphans(self, tune_ids: set[str]) -> list[str]:
        """Open Optuna trials whose Tune trial id is not in ``tune_ids`` (a killed driver's leftovers)."""
        self.open()
        return [t for t in self._trials if t not in tune_ids]

    def frozen(self, tune_id: str) -> optuna.trial.FrozenTrial:
        """Optuna's record of a Tune trial's Optuna trial."""
        return self.study.get_trials(deepcopy=False)[self._numbers[tune_id]]

    def fail_reason(self, tune_id: str) -> str:
        """The reason stored with a FAIL trial ('' otherwise)."""
        if self.number(tune_id) is None:
            return ""
        return self.frozen(tune_id).user_attrs.get(FAIL_REASON_ATTR, "")
