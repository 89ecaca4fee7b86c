"""The report's detail tables: marginal effects per parameter, the best trials' configs, and the
test-time sampler sweep (eval rows beside the training-time rows of the same network)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from model.config import TrialConfig, to_flat_dict
from study.report.tables import SAMPLER, Record, TableData, fmt_mm, fmt_value, is_regress, scored, summarize
from study.results.tables import PARAM_PREFIX, finite

_EDM = ("edm",)  # the samplers that use a key (SamplerConfig); None: every diffusion trial
# Parameters whose marginal effect the report shows, with the letter the papers use.
MARGINALS = (
    ("K", "prior.num_components", None),
    ("T", "diffusion.num_steps", None),
    ("N", "sampler.num_hypotheses", None),
    ("S", "sampler.num_steps", ("ddim", "edm")),
    ("rho", "sampler.rho", _EDM),
    ("sigma_min", "sampler.sigma_min", _EDM),
    ("sigma_max", "sampler.sigma_max", _EDM),
    ("S_churn", "sampler.S_churn", _EDM),
    ("S_tmin", "sampler.S_tmin", _EDM),
    ("S_tmax", "sampler.S_tmax", _EDM),
    ("S_noise", "sampler.S_noise", _EDM),
)
MAX_BINS = 4
NUM_BEST = 5
DEFAULTS = {PARAM_PREFIX + key: value for key, value in to_flat_dict(TrialConfig()).items()}


def bins(values: Sequence[Any]) -> list[tuple[str, Any, Any]]:
    """(label, low, high) bins: each value when at most 4 distinct, else at most 4 quantile bins."""
    distinct = sorted(set(values))
    if len(distinct) <= MAX_BINS:
        return [(fmt_value(v), v, v) for v in distinct]
    edges = sorted(set(np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, MAX_BINS + 1)).tolist()))
    out = []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        closing = "]" if i == len(edges) - 2 else ")"
        out.append((f"[{low:.4g}, {high:.4g}{closing}", low, high))
    return out


def _in_bin(value: Any, low: Any, high: Any, last: bool) -> bool:
    if low == high:
        return value == low
    return low <= value < high or (last and value == high)


def marginal_table(trials: Sequence[Record]) -> TableData:
    """Counts and best / median val MPJPE per value or bin of each parameter that varies."""
    diffusion = [r for r in trials if r["kind"] == "train" and not is_regress(r)]
    rows = []
    for letter, key, samplers in MARGINALS:
        with_value = [
            r
            for r in diffusion
            if r.get(PARAM_PREFIX + key) is not None and (samplers is None or r.get(SAMPLER) in samplers)
        ]
        values = [r[PARAM_PREFIX + key] for r in with_value]
        if len(set(values)) < 2:
            continue
        parts = bins(values)
        for i, (text, low, high) in enumerate(parts):
            members = [r for r in with_value if _in_bin(r[PARAM_PREFIX + key], low, high, i == len(parts) - 1)]
            s = summarize(members)
            best = s.best["best_val_mpjpe_mm"] if s.best else None
            rows.append(
                (
                    f"{letter} ({key})",
                    text,
                    str(s.counts["complete"]),
                    str(s.counts["pruned"]),
                    fmt_mm(best),
                    fmt_mm(s.median_mm),
                )
            )
    columns = ("parameter", "value", "complete", "pruned", "best val MPJPE mm", "median val MPJPE mm")
    return TableData(
        "Marginal effects",
        columns,
        tuple(rows),
        csv_name="marginals",
        note="Diffusion trials only (S: DDIM and EDM trials; the EDM parameters: EDM trials); only "
        "parameters that vary in these studies; continuous values in at most 4 quantile bins. "
        "Best and median over complete trials.",
    )


_METRICS = (
    ("status", "status"),
    ("best val MPJPE mm", "best_val_mpjpe_mm"),
    ("final val MPJPE mm", "final_val_mpjpe_mm"),
    ("best val P-MPJPE mm", "best_val_p_mpjpe_mm"),
    ("full val MPJPE mm", "val_full_mpjpe_mm"),
    ("epochs run", "epochs_run"),
    ("NFE per pose", "nfe"),
)


def config_columns(records: Sequence[Record], searched: AbstractSet[str]) -> list[str]:
    """The ``param.*`` columns worth showing for ``records``: the searched keys, then every other key
    that one of them holds away from its trial-config default (fixed by a spec, or forced)."""
    columns = {k for r in records for k in r if k.startswith(PARAM_PREFIX)}
    first = sorted(c for c in columns if c[len(PARAM_PREFIX) :] in searched)
    rest = sorted(c for c in columns - set(first) if any(r.get(c) != DEFAULTS.get(c) for r in records))
    return first + rest


def best_trials_table(trials: Sequence[Record], searched: AbstractSet[str]) -> TableData:
    """The best complete training trials (on validation), one column each, with their configs."""
    best = scored(r for r in trials if r["kind"] == "train")[:NUM_BEST]
    rows = [("study", *(r["study"] for r in best))]
    for name, column in _METRICS:
        cell = fmt_mm if column.endswith("_mm") else fmt_value
        rows.append((name, *(cell(r[column]) for r in best)))
    rows += [(key, *(fmt_value(r.get(key)) for r in best)) for key in config_columns(best, searched)]
    columns = ("", *(f"#{i + 1} {r['trial_id']}" for i, r in enumerate(best)))
    return TableData(
        "Best trials and their configs",
        columns,
        tuple(rows),
        csv_name="best_trials",
        note="The searched parameters first, then every other key one of these trials holds away "
        "from its default in model/config.py; the keys left out are at their defaults.",
    )


def source_trial(trial_id: str) -> tuple[str, int]:
    """("<source id>", k) of an eval row id "<source id>/eval-<k>"; (trial_id, -1) otherwise."""
    match = re.fullmatch(r"(.+)/eval-(\d+)", trial_id)
    return (match.group(1), int(match.group(2))) if match else (trial_id, -1)


_SWEPT = (
    SAMPLER,
    *(PARAM_PREFIX + key for key in ("sampler.num_steps", "sampler.num_hypotheses", "sampler.aggregate")),
)  # the sweep table's settings


def _sweep_row(source: str, name: str, record: Record) -> tuple[str, ...]:
    val = record["val_full_mpjpe_mm"] if finite(record["val_full_mpjpe_mm"]) else record["final_val_mpjpe_mm"]
    return (
        source,
        name,
        *(fmt_value(record.get(column)) for column in _SWEPT),
        fmt_value(record["nfe"]),
        fmt_mm(val),
        fmt_mm(record["final_val_p_mpjpe_mm"]),
        fmt_mm(record["test_mpjpe_mm"]),
    )


def sweep_table(trials: Sequence[Record]) -> TableData | None:
    """Eval rows grouped under their source trial, which leads with its training-time sampler (the report's
    table, and what ``posediff-study evaluate --run`` prints after a sweep); None without eval rows."""
    evals = [r for r in trials if r["kind"] == "eval"]
    if not evals:
        return None
    train = {(r["study"], r["trial_id"]): r for r in trials if r["kind"] == "train"}
    groups: dict[tuple[str, str], list[Record]] = {}
    for record in evals:
        groups.setdefault((record["study"], source_trial(record["trial_id"])[0]), []).append(record)

    def order(key: tuple[str, str]) -> tuple[float, str, str]:
        source = train.get(key)
        score = source["best_val_mpjpe_mm"] if source and finite(source["best_val_mpjpe_mm"]) else float("inf")
        return score, *key

    rows = []
    for key in sorted(groups, key=order):
        source = train.get(key)
        if source:
            rows.append(_sweep_row(key[1], "training", source))
        for record in sorted(groups[key], key=lambda r: source_trial(r["trial_id"])[1]):
            rows.append(_sweep_row(key[1], f"eval-{source_trial(record['trial_id'])[1]}", record))
    columns = (
        "source trial",
        "row",
        "sampler",
        "steps",
        "N",
        "aggregation",
        "NFE per pose",
        "val MPJPE mm",
        "val P-MPJPE mm",
        "test MPJPE mm",
    )
    return TableData(
        "Test-time sampler sweep",
        columns,
        tuple(rows),
        csv_name="sampler_sweep",
        note="Same trained network, other sampler settings: each source trial's training-time row "
        "first, then its re-evaluations. val MPJPE is on the full validation split where "
        "evaluated, else the validation subset.",
    )
