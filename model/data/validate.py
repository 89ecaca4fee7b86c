"""Checked access to dataset files: npz opening, dict entries and array shapes, each failure a PoseDiffError.

Every message names the file and the key path inside it (``positions_2d/S1/Walking/camera 2``).
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.npyio import NpzFile

from model.errors import PoseDiffError

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # local file header, empty archive
# Axis spec: an int (exact length), a tuple of allowed lengths, or None (any length >= 1).
Axis = int | tuple[int, ...] | None


def where(path: Path, *keys: str) -> str:
    """'<file>: key/sub/key', the location every message starts with."""
    return f"{path}: {'/'.join(keys)}" if keys else str(path)


def open_npz(path: Path) -> NpzFile:
    """Open an .npz after checking it exists and is a zip; pickled dicts allowed only then."""
    if not path.is_file():
        found = "a directory" if path.is_dir() else "no such file"
        raise PoseDiffError(str(path), "an existing .npz file", found)
    with path.open("rb") as f:
        head = f.read(4)
    if head not in _ZIP_MAGIC:
        raise PoseDiffError(str(path), "an .npz file (a zip archive)", f"a file starting with {head!r}")
    try:
        return np.load(path, allow_pickle=True)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise PoseDiffError(str(path), "a readable .npz file", f"{type(exc).__name__}: {exc}") from None


def read_entry(npz: Mapping[str, Any], path: Path, key: str) -> Any:
    """One top-level entry: a plain array, or the object a 0-d object array holds (a pickled dict)."""
    if key not in npz:
        raise PoseDiffError(
            where(path, key), "the key to be present", f"missing key (keys: {', '.join(sorted(npz)) or 'none'})"
        )
    try:
        value = npz[key]
    except (
        OSError,
        ValueError,
        EOFError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        ImportError,
        AttributeError,
    ) as exc:
        raise PoseDiffError(where(path, key), "a readable array", f"{type(exc).__name__}: {exc}") from None
    return value.item() if value.dtype == object and value.ndim == 0 else value


def as_dict(value: Any, path: Path, *keys: str, what: str = "a dict") -> dict[Any, Any]:
    """value itself if a non-empty dict, else a PoseDiffError at path/keys."""
    if not isinstance(value, dict) or not value:
        raise PoseDiffError(where(path, *keys), f"{what} (non-empty)", _describe(value))
    return value


def as_list(value: Any, path: Path, *keys: str, what: str = "a list") -> list[Any]:
    """value as a non-empty list (list, tuple or 1-d object array), else a PoseDiffError."""
    if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 1:
        value = list(value)
    if not isinstance(value, (list, tuple)) or not value:
        raise PoseDiffError(where(path, *keys), f"{what} (non-empty)", _describe(value))
    return list(value)


def checked_array(value: Any, shape: tuple[Axis, ...], path: Path, *keys: str) -> np.ndarray:
    """A finite real array whose shape matches `shape`, else a PoseDiffError naming path/keys."""
    expected = f"a finite real array of shape ({', '.join(_axis_text(a) for a in shape)})"
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        raise PoseDiffError(where(path, *keys), expected, _describe(value))
    if value.ndim != len(shape) or not all(_axis_ok(a, n) for a, n in zip(shape, value.shape)):
        raise PoseDiffError(where(path, *keys), expected, f"shape {value.shape}")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        num_bad = int((~np.isfinite(value)).sum())
        raise PoseDiffError(where(path, *keys), expected, f"{num_bad} NaN/inf values")
    return value


def _axis_ok(axis: Axis, n: int) -> bool:
    if axis is None:
        return n >= 1
    return n in axis if isinstance(axis, tuple) else n == axis


def _axis_text(axis: Axis) -> str:
    if axis is None:
        return "T"
    return "|".join(map(str, axis)) if isinstance(axis, tuple) else str(axis)


def _describe(value: Any) -> str:
    if value is None:
        return "missing"
    if isinstance(value, np.ndarray):
        return f"array of dtype {value.dtype} and shape {value.shape}"
    if isinstance(value, (dict, list, tuple)) and not value:
        return f"an empty {type(value).__name__}"
    return f"{type(value).__name__} {value!r}"[:120]
