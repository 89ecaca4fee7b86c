"""One trained network's stage-2 Optuna study (docs/study.md §10): open it, count its settings, ask
again what a stopped driver left, and close a setting identical to an earlier one with its result.

The loop that submits and records evaluations is :mod:`study.tune.sampling`; this module holds what
one network's study knows by itself. Imports: model, study.results, study.spec (never the loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from model.config import trial_config
from study.results.storage import optuna_storage
from study.results.tables import TrialRow
from study.spec.optuna_factories import make_sampler
from study.spec.study_spec import StudySpec

STOPPED_REASON = "the driver stopped during its evaluation; asked again"
REASON_ATTR = "fail_reason"
RESUMES_ATTR = "posediff.resumes"  # the stopped trial whose recorded rungs this one takes over
SAME_AS_ATTR = "posediff.same_as"  # a setting identical to an earlier one takes its result, unevaluated


def tell(study: optuna.Study, trial: optuna.trial.Trial, values: Any, state: TrialState) -> None:
    """``study.tell``; a bruteforce sampler whose grid is done calls Study.stop, valid only in optimize: ignored
    (the trial's state is stored before the sampler's after_trial raises)."""
    try:
        study.tell(trial, values, state=state)
    except RuntimeError as exc:
        if "Study.stop" not in str(exc):
            raise


def sampling_study_name(study: str, source_trial_id: str) -> str:
    """The Optuna study of one network's stage 2."""
    return f"{study}.sampling.{source_trial_id}"


@dataclass
class Network:
    """A trained network in stage 2: its stage-1 row, checkpoint, complete config and Optuna study."""

    row: TrialRow
    checkpoint: str  # path or URI of its latest checkpoint file
    study: optuna.Study

    @classmethod
    def open(cls, spec: StudySpec, run_dir: Path, storage_url: str | None, row: TrialRow, checkpoint: str) -> Network:
        """Create or load the network's study: the spec's stage-2 sampler (its seed offset by the network's
        trial number, so networks differ) and successive halving over validation frames."""
        name, kwargs = spec.sampling.sampler
        if kwargs.get("seed") is not None:
            kwargs = {**kwargs, "seed": int(kwargs["seed"]) + max(row.trial_number, 0)}
        study = optuna.create_study(
            study_name=sampling_study_name(spec.name, row.trial_id),
            storage=optuna_storage(run_dir, storage_url),
            load_if_exists=True,
            sampler=make_sampler(name, kwargs),
            pruner=optuna.pruners.SuccessiveHalvingPruner(
                min_resource=spec.sampling.min_frames,
                reduction_factor=spec.sampling.reduction_factor,
                min_early_stopping_rate=0,
            ),
            directions=["minimize"] * len(spec.sampling.objectives),
        )
        return cls(row, checkpoint, study)

    def closed(self) -> int:
        """Settings whose search ended (complete, pruned, or failed for a reason other than a stopped driver)."""
        ended = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return sum(t.state in ended and t.user_attrs.get(REASON_ATTR) != STOPPED_REASON for t in self._trials())

    def running(self) -> list[optuna.trial.FrozenTrial]:
        """Settings under evaluation."""
        return [t for t in self._trials() if t.state == TrialState.RUNNING]

    def trial(self, number: int) -> optuna.trial.Trial:
        """A live handle on the setting ``number``."""
        return optuna.trial.Trial(self.study, self._trials()[number]._trial_id)

    def _trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False)

    def ask_again_what_a_stopped_driver_left(self) -> None:
        """Fail each setting a stopped driver left RUNNING and enqueue it again (its rows go to the new trial)."""
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        enqueued = {t.user_attrs.get(RESUMES_ATTR) for t in waiting}
        for frozen in self.running():
            trial = self.trial(frozen.number)
            trial.set_user_attr(REASON_ATTR, STOPPED_REASON)  # first: a kill here leaves it RUNNING, done again
            if frozen.number not in enqueued:  # else a kill between the enqueue and the tell enqueued it
                self.study.enqueue_trial(frozen.params, user_attrs={RESUMES_ATTR: frozen.number}, skip_if_exists=False)
            tell(self.study, trial, None, TrialState.FAIL)

    def reuse(self, spec: StudySpec, trial: optuna.trial.Trial, params: dict[str, Any]) -> bool:
        """Close ``trial`` with the result of an earlier, identical setting (no evaluation); False if none."""
        sampler = trial_config(params).sampler
        for frozen in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            if SAME_AS_ATTR in frozen.user_attrs or frozen.number == trial.number:
                continue
            if trial_config({**self.row.params, **spec.expand(frozen.params)}).sampler == sampler:
                trial.set_user_attr(SAME_AS_ATTR, frozen.number)
                values = frozen.values if frozen.state == TrialState.COMPLETE else None
                tell(self.study, trial, values, frozen.state)
                return True
        return False
