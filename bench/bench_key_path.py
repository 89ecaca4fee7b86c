"""How far a study key travels: the project's functions its value passes through, from YAML to use.

Traces (``sys.setprofile``) two journeys of one key and prints a JSON line for each:
- ``parse``: ``load_spec(FILE)``, from the YAML text to the checked study spec;
- ``run``: a trial's life without Ray: Optuna samples the spec's params, they become the trial
  config, the lifter trains one tiny epoch on the built-in synthetic data and validates with the
  sampled sampler.
A *stop* is a function of ``model/`` or ``study/`` (comprehensions not counted) that receives or
returns the key's value (the dotted key in a mapping, its section in a nested mapping, or a
config dataclass that holds the field); ``returns`` counts the stops that hand it back to their
caller; ``modules`` counts the files of the stops; ``uses`` counts the stops whose own code names
the field.

    python bench/bench_key_path.py --space searchspaces/edm.yaml --key sampler.S_churn
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (str(ROOT / "model"), str(ROOT / "study"))


def holds(value: Any, section: str, field: str, depth: int = 0) -> bool:
    """``value`` carries ``section.field``: a mapping with the dotted key or the section, or a dataclass with it."""
    if depth > 3:
        return False
    if isinstance(value, Mapping):
        if f"{section}.{field}" in value or (section in value and isinstance(value[section], Mapping)):
            return True
        return any(holds(v, section, field, depth + 1) for v in list(value.values())[:64])
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = {f.name for f in dataclasses.fields(value)}
        if field in names or section in names:
            return True
        return any(holds(getattr(value, n), section, field, depth + 1) for n in names)
    if isinstance(value, (list, tuple)):
        return any(holds(v, section, field, depth + 1) for v in value[:16])
    return False


def trace(run: Callable[[], Any], key: str) -> dict[str, Any]:
    """Run ``run`` under a profiler; the stops of ``key``'s value among project functions."""
    section, _, field = key.partition(".")
    stops: dict[tuple[str, str], bool] = {}  # (file, function) -> its code names the field
    returned: set[tuple[str, str]] = set()

    def profile(frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if event not in ("call", "return") or not code.co_filename.startswith(PACKAGES) or "<" in code.co_qualname:
            return
        carried = (
            holds(arg, section, field)
            if event == "return"
            else any(
                holds(frame.f_locals.get(name), section, field) for name in code.co_varnames[: code.co_argcount + 2]
            )
        )
        if carried:
            where = (str(Path(code.co_filename).relative_to(ROOT)), code.co_qualname)
            stops[where] = field in code.co_names or key in code.co_consts or field in code.co_consts
            if event == "return":
                returned.add(where)

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return {
        "stops": len(stops),
        "returns": len(returned),
        "modules": len({f for f, _ in stops}),
        "uses": sum(stops.values()),
        "path": [f"{f}:{q}" for f, q in stops],
    }


def load_spec_fn() -> Callable[[str], Any]:
    """``load_spec`` wherever this version of the project keeps it."""
    try:
        from study.spec.study_spec import load_spec
    except ImportError:  # the flat study/ of earlier versions
        from study.spec import load_spec
    return load_spec


def trial_run(spec: Any) -> None:
    """Sample the spec's params with Optuna, build the trial config, train one tiny epoch with validation."""
    import dataclasses as dc

    import optuna
    import torch

    from model.data import load_splits
    from model.synthetic import generate
    from model.train import fit

    torch.set_num_threads(1)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    cfg = spec.trial_config(spec.suggest(trial))
    data = generate(Path("/tmp/posediff-key-path.npz"), seed=0, num_subjects=4, minutes=0.3, num_cameras=2)
    tiny = dc.replace(
        cfg,
        data=dc.replace(cfg.data, path=str(data), val_subset_size=64),
        train=dc.replace(cfg.train, epochs=1, samples_per_epoch=256, batch_size=128, device="cpu"),
        network=dc.replace(cfg.network, width=16, num_blocks=1, num_heads=2),
        prior=dc.replace(cfg.prior, fit_samples=500),
    )
    fit(tiny, load_splits(tiny.data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default=str(ROOT / "searchspaces" / "edm.yaml"))
    parser.add_argument("--key", action="append", help="dotted key (repeatable)")
    parser.add_argument("--show-path", action="store_true")
    args = parser.parse_args()
    load_spec = load_spec_fn()
    spec = load_spec(args.space)
    for key in args.key or ["sampler.S_churn", "diffusion.schedule"]:
        for stage, run in (("parse", lambda: load_spec(args.space)), ("run", lambda: trial_run(spec))):
            found = trace(run, key)
            if not args.show_path:
                found.pop("path")
            print(json.dumps({"bench": "key_path", "key": key, "stage": stage, **found}), flush=True)


if __name__ == "__main__":
    main()
