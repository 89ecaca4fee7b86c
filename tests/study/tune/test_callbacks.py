"""The results callback's rows, driven by hand (no Ray): each carries its trial's complete config."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import optuna
import pyarrow as pa

from model.config import field_types
from study.results.tables import arrow_type, read_epochs, read_trials, searched_keys
from study.spec.study_spec import load_spec
from study.tune.callbacks import ResultsCallback
from study.tune.optuna_link import OptunaLink

SMOKE = Path(__file__).resolve().parents[3] / "searchspaces" / "smoke.yaml"
EPOCH = {
    "epoch": 1,
    "train_loss": 0.5,
    "val_mpjpe_mm": 90.0,
    "val_p_mpjpe_mm": 70.0,
    "lr": 1e-3,
    "epoch_s": 2.0,
    "samples_per_s": 4000.0,
    "nfe": 11,
    "trial_s": 2.5,
    "cpu_s": 2.0,
    "gpu_s": 0.0,
    "node": "here",
}

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_rows_of_a_study_with_fixed_keys_carry_them_as_typed_columns(tmp_path: Path):
    # fixed network, train and sampler keys, a conditional parameter, the reference (after a budget of 1)
    spec = dataclasses.replace(load_spec(SMOKE), num_trials=1)
    link = OptunaLink(spec, tmp_path)
    callback = ResultsCallback(link, tmp_path)
    configs = {}
    for tune_id in ("t0", "t1"):  # a sampled trial, then the regress reference
        trial = SimpleNamespace(trial_id=tune_id, config=link.ask(tune_id), last_result={})
        configs[tune_id] = spec.row_params(trial.config)
        callback.on_trial_start(0, [], trial)
        callback.on_trial_result(0, [], trial, EPOCH)
    for table in (read_trials(tmp_path), read_epochs(tmp_path)):
        assert set(searched_keys(table)) == set(spec.searched_keys)
        rows = sorted(table.to_pylist(), key=lambda r: r["trial_id"])
        assert [r["param.diffusion.prediction"] for r in rows] == ["x0", "regress"]
        for key, value in {**spec.fixed, "train.epochs": spec.max_epochs}.items():
            assert table.schema.field(f"param.{key}").type == arrow_type(field_types()[key]), key
            assert [r[f"param.{key}"] for r in rows] == [value, value], key
        for row in rows:  # every key, searched, fixed or a default (the ddim trial's sampler.rho, say)
            assert {key: row[f"param.{key}"] for key in field_types()} == configs[row["trial_id"]]
    assert read_trials(tmp_path).schema.field("param.train.lr").type == pa.float64()
