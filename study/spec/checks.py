"""Small validators shared by the study-spec readers: each raises a one-line PoseDiffError.

``where`` is always ``"<file>: <key>"`` so a message reads
``smoke.yaml: space.train.lr.low: expected a number, found 'abc'``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from model.config import coerce, field_types
from model.errors import PoseDiffError


def found(value: Any) -> str:
    """A short, one-line repr of a value found in a file."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "..."


def expect_mapping(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` must be a YAML mapping with string keys."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise PoseDiffError(where, "a mapping of names to values", found(value))
    return value


def check_known_keys(mapping: Mapping[str, Any], allowed: Iterable[str], path: str, prefix: str = "") -> None:
    """Every key of ``mapping`` (found under ``prefix`` in file ``path``) must be one of ``allowed``."""
    allowed = tuple(allowed)
    for key in mapping:
        if key not in allowed:
            raise PoseDiffError(
                f"{path}: {prefix + '.' if prefix else ''}{key}", "one of " + ", ".join(allowed), f"unknown key {key!r}"
            )


def close_matches(key: str, known: Iterable[str]) -> list[str]:
    """Known dotted keys resembling ``key`` (spelling, or same field name in another section)."""
    known = list(known)
    same_field = [k for k in known if k.rpartition(".")[2] == key.rpartition(".")[2]]
    near = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    return list(dict.fromkeys(near + same_field))[:4]


def check_trial_key(key: str, where: str) -> None:
    """``key`` must be a dotted trial-config key; the message suggests close matches."""
    known = field_types()
    if key not in known:
        near = close_matches(key, known)
        hint = f" (did you mean {' or '.join(near)}?)" if near else " (see model/config.py)"
        raise PoseDiffError(where, "a trial-config key" + hint, f"unknown key {key!r}")


def expect_number(value: Any, where: str, *, integer: bool = False) -> int | float:
    """A YAML number (bools are not numbers); ``integer=True`` also requires a whole number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PoseDiffError(where, "an integer" if integer else "a number", found(value))
    if integer and not isinstance(value, int):
        raise PoseDiffError(where, "an integer", found(value))
    if value != value or value in (float("inf"), float("-inf")):
        raise PoseDiffError(where, "a finite number", found(value))
    return value


def expect_positive(value: Any, where: str, *, integer: bool = True, allow_zero: bool = False) -> int | float:
    """A number > 0 (or >= 0 with ``allow_zero``)."""
    number = expect_number(value, where, integer=integer)
    if number < 0 or (number == 0 and not allow_zero):
        kind = "an integer" if integer else "a number"
        raise PoseDiffError(where, f"{kind} {'>= 0' if allow_zero else '> 0'}", found(value))
    return number


def expect_bool(value: Any, where: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise PoseDiffError(where, "true or false", found(value))
    return value


def expect_str(value: Any, where: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise PoseDiffError(where, "a non-empty string", found(value))
    return value


def coerce_at(key: str, value: Any, where: str) -> Any:
    """:func:`model.config.coerce`, re-reporting a failure at ``where`` (the file's own key path)."""
    try:
        return coerce(key, value)
    except PoseDiffError as exc:
        raise PoseDiffError(where, exc.expected, exc.found) from None
