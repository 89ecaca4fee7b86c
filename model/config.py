"""The typed trial config: the one boundary where a nested dict becomes frozen dataclasses.

A study samples values for dotted keys (``diffusion.schedule``, ``sampler.S_churn``); a YAML
file for ``posediff-study train`` nests the same keys. Both go through :func:`trial_config`,
which checks every key, type and allowed value and raises :class:`PoseDiffError` naming the
source, the key, what was expected and what was found. Nothing below this module sees a dict.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from model.errors import PoseDiffError


@dataclass(frozen=True)
class DataConfig:
    """Where the poses come from and how subjects split into train / val / test."""

    path: str | None = None  # None: the built-in synthetic dataset (generated once, cached)
    keypoints: str = "gt"  # Human3.6M 2D file: gt | cpn_ft_h36m_dbb | ... (data_2d_h36m_<kp>.npz)
    train_subjects: tuple[str, ...] | None = None  # None: the dataset's default split
    val_subjects: tuple[str, ...] | None = None
    test_subjects: tuple[str, ...] | None = None
    val_subset_size: int = 2048  # fixed, seeded validation subset checked every epoch
    val_subset_seed: int = 0
    eval_subset_size: int | None = None  # end-of-trial val/test evaluation; None: the full splits


@dataclass(frozen=True)
class PriorConfig:
    """The end distribution p_T: a K-component Gaussian mixture fitted by EM, or N(0, I)."""

    kind: Literal["gmm", "standard"] = "gmm"
    num_components: int = 5  # K
    covariance: Literal["full", "diag"] = "full"
    component: Literal["prior", "posterior"] = "prior"  # how training draws m per sample
    fit_samples: int = 50_000  # EM subsample size
    ridge_m2: float = 1e-4  # added to every Sigma_m diagonal, m^2
    seed: int = 0


@dataclass(frozen=True)
class DiffusionConfig:
    """Forward process: schedule over T discrete steps and what the network predicts."""

    schedule: Literal["linear", "cosine", "sigmoid"] = "cosine"
    num_steps: int = 50  # T
    cosine_s: float = 0.008
    beta_min: float = 0.0  # clip range for derived betas (cosine, sigmoid); seed variant: 0.01
    beta_max: float = 0.999  # seed variant: 0.99
    sigmoid_start: float = -3.0
    sigmoid_end: float = 3.0
    sigmoid_tau: float = 1.0
    prediction: Literal["x0", "eps", "v", "regress"] = "x0"
    clamp_x0: bool = False  # clamp x0_hat to the training range (standardised space)


@dataclass(frozen=True)
class NetworkConfig:
    """GCN + attention denoiser (docs/lifter.md §4)."""

    width: int = 128  # H
    num_blocks: int = 4  # B
    num_heads: int = 4
    dropout: float = 0.0
    component_embedding: bool = False  # embed the chain's component m (x0 nets do not need it)


@dataclass(frozen=True)
class SamplerConfig:
    """Reverse process and hypothesis aggregation (docs/lifter.md §5, §6)."""

    name: Literal["ddpm", "ddim", "edm"] = "ddim"
    num_steps: int = 10  # S (ddim, edm); ddpm always runs all T steps
    eta: float = 0.0  # ddim
    grid: Literal["uniform", "quadratic"] = "uniform"  # ddim sub-grid
    rho: float = 7.0  # edm
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    S_churn: float = 0.0
    S_tmin: float = 0.0
    S_tmax: float = 50.0
    S_noise: float = 1.0
    num_hypotheses: int = 5  # N
    aggregate: Literal["mean", "median", "reproj"] = "mean"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and evaluation cadence."""

    epochs: int = 30
    batch_size: int = 1024
    lr: float = 2e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0  # max grad norm; 0 disables
    lr_schedule: Literal["constant", "cosine", "step"] = "cosine"
    warmup_epochs: int = 0
    ema_decay: float = 0.0  # 0 disables EMA; evaluated weights are the EMA when on
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    bf16: bool = True  # autocast on CUDA only
    compile: bool = False  # torch.compile the denoiser
    samples_per_epoch: int | None = None  # None: one pass over the training split
    checkpoint_every: int = 1  # epochs


@dataclass(frozen=True)
class TrialConfig:
    """Everything one trial needs; the schema a study samples (keys ``section.field``)."""

    data: DataConfig = field(default_factory=DataConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


SECTIONS: dict[str, type] = typing.get_type_hints(TrialConfig)
Stage = Literal["train", "sample"]
# Which study stage a key belongs to (docs/study.md §3): "train" keys change the trained network (a new value
# costs a training run), "sample" keys only change how a trained network is sampled (one pass over a split).
SECTION_STAGES: dict[str, Stage] = {
    "data": "train",
    "prior": "train",
    "diffusion": "train",
    "network": "train",
    "train": "train",
    "sampler": "sample",
}


def field_types() -> dict[str, Any]:
    """Every dotted key of the trial config mapped to its type annotation."""
    return {
        f"{section}.{name}": hint
        for section, cls in SECTIONS.items()
        for name, hint in typing.get_type_hints(cls).items()
    }


def key_stage(key: str) -> Stage:
    """'sample' for a key that only changes sampling (``sampler.*``), 'train' for one that changes the network."""
    section = key.partition(".")[0]
    if section not in SECTION_STAGES:
        raise PoseDiffError(key, "a trial-config key of section " + ", ".join(SECTION_STAGES), repr(key))
    return SECTION_STAGES[section]


def allowed_values(key: str) -> tuple[Any, ...] | None:
    """The choices of a Literal-typed key (``diffusion.schedule`` -> ('linear', ...)), else None."""
    hint = field_types()[key]
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else None


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple or (args and typing.get_origin(args[0]) is tuple):
        return "a list of strings" + (" or null" if type(None) in typing.get_args(hint) else "")
    if args:
        return " or ".join(a.__name__ for a in args) + " or null"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[hint]


def coerce(key: str, value: Any, where: str = "config") -> Any:
    """Check one value against the type of dotted ``key`` and return it in canonical form."""
    known = field_types()
    if key not in known:
        raise PoseDiffError(
            f"{where}: {key}", "a known trial-config key (see `posediff-study check-space`)", f"unknown key {key!r}"
        )
    hint = known[key]
    out = _coerce(hint, value)
    if out is _BAD:
        raise PoseDiffError(f"{where}: {key}", _describe(hint), f"{value!r}")
    return out


_BAD = object()


def _coerce(hint: Any, value: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return value if value in args else _BAD
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None if type(None) in args else _BAD
        inner = next(a for a in args if a is not type(None))
        return _coerce(inner, value)
    if origin is tuple:
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) for v in value):
            return tuple(str(v) for v in value)
        return _BAD
    if hint is bool:
        return value if isinstance(value, bool) else _BAD
    if hint is int:
        if isinstance(value, bool):
            return _BAD
        if isinstance(value, int):
            return value
        return int(value) if isinstance(value, float) and value.is_integer() else _BAD
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _BAD
        return float(value) if math.isfinite(value) else _BAD
    if hint is str:
        return value if isinstance(value, str) else _BAD
    return _BAD


def flatten(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; keys already dotted pass through."""
    flat: dict[str, Any] = {}
    for key, value in nested.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and full in SECTIONS:
            flat.update(flatten(value, f"{full}."))
        else:
            flat[full] = value
    return flat


def trial_config(values: Mapping[str, Any], where: str = "config") -> TrialConfig:
    """Build a validated :class:`TrialConfig` from nested and/or dotted keys (unset keys: defaults)."""
    per_section: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for key, value in flatten(values).items():
        if key in SECTIONS:
            raise PoseDiffError(f"{where}: {key}", "a mapping of section keys", f"{value!r}")
        section, _, name = key.partition(".")
        per_section.setdefault(section, {})[name] = coerce(key, value, where)
    cfg = TrialConfig(**{name: SECTIONS[name](**kw) for name, kw in per_section.items()})
    check_ranges(cfg, where)
    return cfg


_POSITIVE = (
    "prior.num_components",
    "prior.fit_samples",
    "network.width",
    "network.num_blocks",
    "network.num_heads",
    "sampler.num_steps",
    "sampler.num_hypotheses",
    "train.epochs",
    "train.batch_size",
    "train.checkpoint_every",
    "data.val_subset_size",
)
_POSITIVE_OR_NONE = ("data.eval_subset_size", "train.samples_per_epoch")


def check_ranges(cfg: TrialConfig, where: str = "config") -> None:
    """Cross-field and range checks that types alone cannot express."""
    flat = to_flat_dict(cfg)
    for key in _POSITIVE:
        if flat[key] < 1:
            raise PoseDiffError(f"{where}: {key}", "an integer >= 1", repr(flat[key]))
    for key in _POSITIVE_OR_NONE:
        if flat[key] is not None and flat[key] < 1:
            raise PoseDiffError(f"{where}: {key}", "an integer >= 1 or null", repr(flat[key]))
    checks = [
        ("diffusion.num_steps", cfg.diffusion.num_steps >= 2, "an integer >= 2 (t(sigma) needs two grid points)"),
        (
            "network.width",
            cfg.network.width % cfg.network.num_heads == 0,
            f"a multiple of network.num_heads={cfg.network.num_heads}",
        ),
        ("network.dropout", 0.0 <= cfg.network.dropout < 1.0, "a number in [0, 1)"),
        (
            "diffusion.beta_max",
            0.0 <= cfg.diffusion.beta_min < cfg.diffusion.beta_max < 1.0,
            "0 <= diffusion.beta_min < diffusion.beta_max < 1",
        ),
        (
            "sampler.sigma_max",
            0.0 < cfg.sampler.sigma_min < cfg.sampler.sigma_max,
            "0 < sampler.sigma_min < sampler.sigma_max",
        ),
        ("sampler.S_tmax", cfg.sampler.S_tmax >= cfg.sampler.S_tmin, ">= sampler.S_tmin"),
        ("sampler.eta", 0.0 <= cfg.sampler.eta <= 1.0, "a number in [0, 1]"),
        ("train.lr", cfg.train.lr > 0, "a number > 0"),
        ("train.ema_decay", 0.0 <= cfg.train.ema_decay < 1.0, "a number in [0, 1)"),
        ("prior.ridge_m2", cfg.prior.ridge_m2 > 0, "a number > 0"),
    ]
    for key, ok, expected in checks:
        if not ok:
            raise PoseDiffError(f"{where}: {key}", expected, repr(flat[key]))


def to_flat_dict(cfg: TrialConfig) -> dict[str, Any]:
    """Dotted-key view of a config (for Parquet columns, logs and checkpoints)."""
    return flatten(dataclasses.asdict(cfg))


def to_nested_dict(cfg: TrialConfig) -> dict[str, dict[str, Any]]:
    """Plain nested dict (YAML/JSON friendly; tuples become lists)."""
    nested = dataclasses.asdict(cfg)
    return {s: {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()} for s, d in nested.items()}
