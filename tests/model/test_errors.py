"""PoseDiffError: one line, its three parts, and it survives pickling (Ray ships errors between processes)."""

from __future__ import annotations

import pickle

from model.errors import PoseDiffError


def test_message_and_pickle_round_trip() -> None:
    error = PoseDiffError("spec.yaml: train.lr", "a number > 0", "-1")
    assert str(error) == "spec.yaml: train.lr: expected a number > 0, found -1"
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes: the round trip is what is tested
    assert isinstance(copy, PoseDiffError) and str(copy) == str(error)
    assert (copy.where, copy.expected, copy.found) == (error.where, error.expected, error.found)
