"""Optuna's parameter importances for each study, read from the journal next to its Parquet."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.importance import FanovaImportanceEvaluator, get_param_importances
from optuna.trial import TrialState

from model.errors import PoseDiffError
from study.report.tables import TableData
from study.results.storage import JOURNAL_NAME, optuna_storage


def study_importances(run_dir: Path, study: str, storage_url: str | None = None) -> tuple[dict[str, float], str]:
    """(parameter -> importance, "") or ({}, why not) for one study's Optuna storage (the journal
    next to its results, or an RDB URL, which never appears in the output)."""
    where = "the Optuna storage" if storage_url else JOURNAL_NAME
    if not storage_url and not (Path(run_dir) / JOURNAL_NAME).is_file():
        return {}, f"study {study}: no Optuna journal ({JOURNAL_NAME}) next to its results; importances skipped."
    storage = optuna_storage(run_dir, storage_url)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        loaded = optuna.load_study(study_name=study, storage=storage)
    except KeyError:
        return {}, f"study {study}: not found in {where}; importances skipped."
    except Exception as exc:  # noqa: BLE001 - an unreachable or malformed RDB URL; the URL (password) stays out of the message
        raise PoseDiffError("--storage", "a reachable Optuna storage URL", type(exc).__name__) from None
    complete = loaded.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    varying = {name for t in complete for name in t.params if len({repr(u.params.get(name)) for u in complete}) > 1}
    if len(complete) < 2 or len(varying) < 2:
        return {}, (
            f"study {study}: {len(complete)} complete trial(s) and {len(varying)} varying parameter(s); "
            "importances need at least 2 of each."
        )
    # The default evaluator (fANOVA), seeded so the same storage gives the same report.
    return get_param_importances(loaded, evaluator=FanovaImportanceEvaluator(seed=0)), ""


def importance_table(studies: list[tuple[Path, str]], storage_url: str | None = None) -> tuple[TableData, list[str]]:
    """One row per (study, parameter), most important first; notes for studies without importances."""
    rows, notes = [], []
    for run_dir, study in studies:
        importances, why_not = study_importances(run_dir, study, storage_url)
        if why_not:
            notes.append(why_not)
        ranked = sorted(importances.items(), key=lambda item: (-item[1], item[0]))
        rows += [(study, name, f"{value:.3f}") for name, value in ranked]
    table = TableData(
        "Parameter importances (Optuna, fANOVA)",
        ("study", "parameter", "importance"),
        tuple(rows),
        csv_name="importances",
        note="Share of the objective's variance explained by each parameter (complete trials).",
    )
    return table, notes
