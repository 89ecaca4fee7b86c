"""The Parquet results store: atomic files, typed params, resume without duplicates, clear errors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from model.config import TrialConfig, field_types
from model.errors import PoseDiffError
from study.results.tables import (
    EPOCHS_FILE,
    SCHEMA_VERSION,
    TRIALS_FILE,
    EpochRow,
    ResultsStore,
    TrialRow,
    arrow_type,
    finite,
    read_epochs,
    read_trials,
    searched_keys,
)


def epoch(trial_id: str, n: int, val: float = 50.0, kind: str = "train", params: dict | None = None) -> EpochRow:
    return EpochRow("demo", trial_id, 0, n, 0.1 * n, val, val - 10, 1e-3, 1.5, 2000.0, 19, kind, params or {})


def trial(trial_id: str, status: str = "complete", params: dict | None = None, **kw) -> TrialRow:
    params = {"diffusion.schedule": "cosine", "sampler.name": "ddim"} if params is None else params
    return TrialRow("demo", trial_id, int(trial_id[1:]), status, params, 3, 40.0, 42.0, 30.0, 31.0, **kw)


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    s = ResultsStore(tmp_path, "demo")
    for n in (1, 2, 3):
        s.record_epoch(epoch("t0", n))
    s.record_trial(
        trial(
            "t0",
            params={
                "diffusion.schedule": "cosine",
                "sampler.name": "edm",
                "sampler.S_churn": 1,
                "prior.num_components": 5,
                "train.bf16": True,
            },
        )
    )
    s.record_trial(
        trial(
            "t1",
            "pruned",
            {"diffusion.schedule": "linear", "sampler.name": "ddim", "prior.num_components": 3, "train.bf16": False},
        )
    )
    s.flush()
    return s


def test_param_columns_are_typed_from_the_trial_config_with_nulls_for_absent_keys(store, tmp_path):
    table = read_trials(tmp_path)
    assert table.schema.field("param.sampler.S_churn").type == pa.float64()  # int 1 stored as float
    assert table.schema.field("param.prior.num_components").type == pa.int64()
    assert table.schema.field("param.sampler.name").type == pa.string()
    assert table.schema.field("param.train.bf16").type == pa.bool_()
    assert table.column("param.sampler.S_churn").to_pylist() == [1.0, None]


def test_files_carry_schema_version_and_study_in_metadata(store, tmp_path):
    for name in (TRIALS_FILE, EPOCHS_FILE):
        meta = pq.read_schema(tmp_path / name).metadata
        assert meta[b"posediff.schema_version"] == str(SCHEMA_VERSION).encode()
        assert meta[b"posediff.study"] == b"demo"


def test_pyarrow_pandas_and_duckdb_read_the_same_rows(store, tmp_path):
    assert read_epochs(tmp_path).num_rows == 3
    frame = pd.read_parquet(tmp_path / TRIALS_FILE)
    assert list(frame.sort_values("trial_id")["status"]) == ["complete", "pruned"]
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT trial_id, \"param.prior.num_components\" FROM '{tmp_path / TRIALS_FILE}' ORDER BY trial_id"
    ).fetchall()
    assert rows == [("t0", 5), ("t1", 3)]
    (count,) = con.execute(f"SELECT count(*) FROM '{tmp_path / EPOCHS_FILE}' WHERE trial_id = 't0'").fetchone()
    assert count == 3


def test_resumed_store_appends_without_duplicating_rows(store, tmp_path):
    resumed = ResultsStore(tmp_path, "demo")
    assert resumed.record_epoch(epoch("t0", 3)) is False  # already on disk
    assert resumed.record_epoch(epoch("t0", 3, kind="eval")) is True  # another kind, same epoch
    assert resumed.record_epoch(epoch("t0", 4)) is True
    resumed.record_trial(trial("t1", "failed", {"diffusion.schedule": "linear"}, error="NaN loss"))
    resumed.flush()
    epochs = read_epochs(tmp_path)
    assert sorted(zip(epochs.column("epoch").to_pylist(), epochs.column("kind").to_pylist())) == [
        (1, "train"),
        (2, "train"),
        (3, "eval"),
        (3, "train"),
        (4, "train"),
    ]
    trials = read_trials(tmp_path).sort_by("trial_id").to_pylist()
    assert [(t["trial_id"], t["status"], t["error"]) for t in trials] == [
        ("t0", "complete", ""),
        ("t1", "failed", "NaN loss"),
    ]
    assert trials[1]["param.prior.num_components"] is None  # upsert replaced the whole row
    assert resumed.last_epochs()["t0"].epoch == 4


def test_trial_rows_round_trip_through_a_resumed_store(store, tmp_path):
    again = {(r.trial_id, r.kind): r for r in ResultsStore(tmp_path, "demo").trials()}
    assert again[("t0", "train")] == store.trials()[0]
    assert again[("t0", "train")].params["sampler.S_churn"] == 1.0
    assert store.trial("t1").status == "pruned" and store.trial("t1", kind="eval") is None


def test_eval_trial_rows_are_kept_apart_from_training_rows(store, tmp_path):
    store.record_trial(trial("t0", params={"sampler.name": "ddpm"}, kind="eval"))
    store.flush()
    kinds = sorted(read_trials(tmp_path).column("kind").to_pylist())
    assert kinds == ["eval", "train", "train"]


def test_leftover_temporary_file_from_a_crashed_write_is_ignored(store, tmp_path):
    # A crash between writing the temporary file and os.replace leaves a half-written tmp file.
    (tmp_path / f".{TRIALS_FILE}.12345.tmp").write_bytes(b"PAR1 half a file")
    assert read_trials(tmp_path).num_rows == 2
    resumed = ResultsStore(tmp_path, "demo")
    resumed.record_trial(trial("t2"))
    resumed.flush()
    assert read_trials(tmp_path).num_rows == 3
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [EPOCHS_FILE, TRIALS_FILE]


def test_flush_if_due_writes_only_when_something_changed(tmp_path):
    s = ResultsStore(tmp_path, "demo")
    s.record_epoch(epoch("t0", 1))
    assert s.flush_if_due(interval_s=0.0) is True
    assert s.flush_if_due(interval_s=0.0) is False
    assert s.record_epoch(epoch("t0", 1)) is False
    assert s.flush_if_due(interval_s=0.0) is False
    assert read_epochs(tmp_path).num_rows == 1


@pytest.mark.parametrize(
    "content, found",
    [
        (None, "found no such file"),
        (b"", "found an unreadable file"),
        (b"this is not parquet at all", "found an unreadable file"),
    ],
)
def test_missing_or_corrupt_file_names_the_file_and_what_was_found(tmp_path, content, found):
    if content is not None:
        (tmp_path / TRIALS_FILE).write_bytes(content)
    with pytest.raises(PoseDiffError) as err:
        read_trials(tmp_path)
    message = str(err.value)
    assert message.startswith(
        f"{tmp_path / TRIALS_FILE}: expected a posediff-study Parquet file (schema version {SCHEMA_VERSION}), {found}"
    )
    assert "\n" not in message


def test_parquet_of_another_schema_is_refused(tmp_path):
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / EPOCHS_FILE)
    with pytest.raises(PoseDiffError, match="found schema version missing"):
        read_epochs(tmp_path)
    table = pa.table({"x": [1]}).replace_schema_metadata({"posediff.schema_version": str(SCHEMA_VERSION)})
    pq.write_table(table, tmp_path / EPOCHS_FILE)
    with pytest.raises(PoseDiffError, match="found missing or mistyped columns study, trial_id"):
        read_epochs(tmp_path)


def write_v1(run_dir: Path, searched: list[str]) -> None:
    """Turn the store's files into what version 1 wrote: params only for the searched keys, none on epochs."""
    meta = {b"posediff.schema_version": b"1", b"posediff.study": b"demo"}
    for file in (TRIALS_FILE, EPOCHS_FILE):
        table = pq.read_table(run_dir / file)
        keep = [
            c for c in table.column_names if not c.startswith("param.") or (file == TRIALS_FILE and c[6:] in searched)
        ]
        pq.write_table(table.select(keep).replace_schema_metadata(meta), run_dir / file)


def test_a_study_of_schema_1_is_read_complete_and_resumed_as_schema_2(store, tmp_path):
    # Schema 1 rows held only the sampled params; the fixed ones lived in spec.resolved.yaml.
    searched = ["diffusion.schedule", "sampler.name"]
    write_v1(tmp_path, searched)
    spec = {
        "name": "demo",
        "budget": {"max_epochs": 3},
        "fixed": {"network.width": 64},
        "space": dict.fromkeys(searched),
    }
    (tmp_path / "spec.resolved.yaml").write_text(yaml.safe_dump(spec))
    for table in (read_trials(tmp_path), read_epochs(tmp_path)):
        row = table.to_pylist()[0]
        assert (row["param.diffusion.schedule"], row["param.sampler.name"]) == ("cosine", "edm")  # the trial's own
        assert (row["param.network.width"], row["param.train.epochs"]) == (64, 3)  # fixed, from the spec
        assert row["param.train.lr"] == TrialConfig().train.lr  # a default
        assert searched_keys(table) == tuple(searched)
    resumed = ResultsStore(tmp_path, "demo")
    resumed.record_epoch(epoch("t0", 4))
    resumed.flush()
    meta = pq.read_schema(tmp_path / TRIALS_FILE).metadata
    assert meta[b"posediff.schema_version"] == str(SCHEMA_VERSION).encode()
    assert read_epochs(tmp_path).num_rows == 4


def test_a_file_of_an_unknown_schema_or_missing_columns_is_one_clear_error(store, tmp_path):
    table = read_trials(tmp_path)
    pq.write_table(table.replace_schema_metadata({b"posediff.schema_version": b"7"}), tmp_path / TRIALS_FILE)
    with pytest.raises(PoseDiffError) as err:
        ResultsStore(tmp_path, "demo")
    assert str(err.value) == (
        f"{tmp_path / TRIALS_FILE}: expected a posediff-study Parquet file (schema version "
        f"{SCHEMA_VERSION}), found schema version 7"
    )
    pq.write_table(table.drop_columns(["param.network.width"]), tmp_path / TRIALS_FILE)
    with pytest.raises(PoseDiffError, match="found missing or mistyped columns param.network.width$"):
        read_trials(tmp_path)


def test_every_trial_config_key_is_a_typed_column_of_both_files(store, tmp_path):
    config_types = {f"param.{key}": arrow_type(hint) for key, hint in field_types().items()}
    for table in (read_trials(tmp_path), read_epochs(tmp_path)):
        params = {f.name: f.type for f in table.schema if f.name.startswith("param.")}
        assert {name: params[name] for name in config_types} == config_types
    assert read_trials(tmp_path).schema.field("param.data.train_subjects").type == pa.list_(pa.string())


def test_epoch_rows_carry_their_params_and_other_keys_get_their_own_columns(tmp_path):
    joint = {"prior.num_components+train.lr": "2+0.001", "prior.num_components": 2, "train.lr": 0.001}
    s = ResultsStore(tmp_path, "demo", searched=("prior.num_components+train.lr",))
    s.record_epoch(epoch("t0", 1, params={"diffusion.schedule": "linear"}))
    s.flush()
    s.record_epoch(epoch("t1", 1, params=joint))  # a column the file does not have yet: nulls above
    s.flush()
    rows = read_epochs(tmp_path).to_pylist()
    assert [(r["param.diffusion.schedule"], r["param.prior.num_components+train.lr"]) for r in rows] == [
        ("linear", None),
        (None, "2+0.001"),
    ]
    assert ResultsStore(tmp_path, "demo").last_epochs()["t1"].params == joint


def test_searched_keys_are_in_both_files_metadata_and_survive_a_resume(tmp_path):
    ResultsStore(tmp_path, "demo", searched=("train.lr", "diffusion.schedule")).flush()
    resumed = ResultsStore(tmp_path, "demo")  # the sweep's store: no spec at hand
    resumed.record_trial(trial("t0"))
    resumed.flush()
    for table in (read_trials(tmp_path), read_epochs(tmp_path)):
        assert searched_keys(table) == ("diffusion.schedule", "train.lr")


def test_finite_is_true_for_real_finite_numbers_only():
    assert finite(1) and finite(-2.5)
    assert not any(finite(v) for v in (None, True, float("nan"), float("inf"), "1.0"))


def test_store_refuses_a_folder_holding_another_study(store, tmp_path):
    with pytest.raises(PoseDiffError, match="expected results of study 'other', found results of study 'demo'"):
        ResultsStore(tmp_path, "other")


def test_value_of_the_wrong_type_for_a_param_column_names_the_key(tmp_path):
    s = ResultsStore(tmp_path, "demo")
    s.record_trial(trial("t0", params={"prior.num_components": "five"}))
    with pytest.raises(PoseDiffError, match="param.prior.num_components: expected values of type int64"):
        s.flush()
