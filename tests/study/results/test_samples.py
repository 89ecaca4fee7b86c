"""study.results.samples: samples.parquet round trip, keys, complete configs, study ownership."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from model.config import TrialConfig, to_flat_dict
from model.errors import PoseDiffError
from study.results.samples import SAMPLES_FILE, SamplesStore, read_samples, sample_from_record

from .test_choice import row


def test_rows_round_trip_with_their_complete_config_and_per_frame_errors(tmp_path: Path) -> None:
    store = SamplesStore(tmp_path, "s", ["sampler.name"])
    config = to_flat_dict(TrialConfig())
    first = row("a", 0, "ddim", 50.0, 10, params=config)
    test = row("a", 0, "ddim", 52.0, 10, origin="chosen", split="test", params=config, frame_mpjpe_mm=(1.5, 2.5))
    store.record(first)
    store.record(test)
    store.record(row("a", 0, "ddim", 49.0, 10, params=config))  # the same key again: replaces, no duplicate
    store.flush()
    table = read_samples(tmp_path)
    assert table.num_rows == 2 and pq.read_schema(tmp_path / SAMPLES_FILE).field("param.train.lr") is not None
    back = [sample_from_record(r) for r in table.to_pylist()]
    assert back[1].mpjpe_mm == 49.0 and back[0].frame_mpjpe_mm == (1.5, 2.5)
    assert back[1].params == {
        k: v for k, v in config.items() if v is not None
    }  # every key of the resolved config, fixed values and defaults included
    again = SamplesStore(tmp_path, "s")
    assert [r.key for r in again.rows()] == [r.key for r in back] and again.searched == {"sampler.name"}
    moved = again.renumber("a", 0, 3)  # the search row moves to the new number; the test row stays
    assert [(r.number, r.mpjpe_mm) for r in moved] == [(3, 49.0)]
    assert sorted((r.number, r.origin) for r in again.rows()) == [(0, "chosen"), (3, "search")]


def test_another_studys_samples_are_refused(tmp_path: Path) -> None:
    store = SamplesStore(tmp_path, "s")
    store.record(row("a", 0, "ddim", 50.0, 10, params=to_flat_dict(TrialConfig())))
    store.flush()
    with pytest.raises(PoseDiffError, match="samples of study 'other'"):
        SamplesStore(tmp_path, "other")
