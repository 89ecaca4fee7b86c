"""Reading a study-spec or trial-config YAML file safely: YAML's safe subset, every failure one PoseDiffError line.

The loader is ``yaml.SafeLoader`` (no ``!!python/...`` tags) with two strictnesses a researcher
expects: ``1e-4`` is a number (YAML 1.2; PyYAML's 1.1 rules read it as a string), and a key
repeated in one mapping is an error instead of silently keeping the last one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from model.errors import PoseDiffError

_MAX_BYTES = 1 << 20  # a study spec is a few kB; refuse to parse anything huge


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader + YAML 1.2 exponent floats + duplicate-key detection."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(path: Path, kind: str = "study-spec") -> Any:
    """The parsed content of ``path`` (a ``kind`` file); missing, unreadable, binary, empty or invalid: PoseDiffError."""
    where = str(path)
    if not path.exists():
        raise PoseDiffError(where, f"an existing {kind} file", "no such file")
    if not path.is_file():
        raise PoseDiffError(where, f"a {kind} file", "a directory" if path.is_dir() else "not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PoseDiffError(where, "a readable file", exc.strerror or type(exc).__name__) from None
    if len(data) > _MAX_BYTES:
        raise PoseDiffError(where, f"a {kind} file under {_MAX_BYTES} bytes", f"{len(data)} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoseDiffError(where, "UTF-8 text (YAML)", f"binary data (byte {exc.start})") from None
    if "\x00" in text:
        raise PoseDiffError(where, "UTF-8 text (YAML)", "binary data (NUL byte)")
    loader = _SpecLoader(text)  # a SafeLoader: no Python tags
    try:
        content = loader.get_single_data()
    except yaml.YAMLError as exc:
        raise PoseDiffError(where, "valid YAML (safe subset, no Python tags)", _describe(exc)) from None
    finally:
        loader.dispose()
    if content is None:
        raise PoseDiffError(where, f"a YAML mapping ({kind})", "an empty file")
    return content


def _describe(exc: yaml.YAMLError) -> str:
    """One line from a PyYAML error: the problem and its line:column."""
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())
