"""File output shared by the package: the one atomic writer, and the cache folder.

:func:`atomic_write` is how every file is written (checkpoints, the synthetic dataset, prior fits
and, through it, the study's Parquet results): a reader sees the old file or the complete new
one, never half a file, and nothing is left behind when writing fails.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(target: Path | str) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``target`` for binary writing; on success it becomes ``target``.

    Usage: ``with atomic_write(path) as f: torch.save(obj, f)`` (or ``np.savez(f, ...)``,
    ``pq.write_table(table, f)``). Creates missing parent folders. On a clean exit the data is
    flushed and fsynced, the temporary file replaces ``target`` (``os.replace``, atomic on POSIX)
    and the folder is fsynced so the rename survives a crash. If the block (or any step) raises,
    the temporary file is removed, ``target`` is left as it was and the exception propagates.
    The new file gets the permissions of a plain ``open(target, "wb")`` (0o666 less the umask).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(folder: Path) -> None:
    """fsync a folder, so a rename inside it is durable (POSIX; a no-op where folders cannot be opened)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def cache_dir() -> Path:
    """$POSEDIFF_CACHE, else ~/.cache/posediff-study."""
    return Path(os.environ.get("POSEDIFF_CACHE") or Path.home() / ".cache" / "posediff-study")
