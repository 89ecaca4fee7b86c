"""A study's Optuna storage: the journal file next to its tables, or an RDB URL kept out of every log.

:func:`optuna_storage` is the one way a study's Optuna storage is opened (the driver's bridge,
the report's importances, the tests); :func:`redact_url` shows a URL with its password as ``***``.
"""

from __future__ import annotations

import re
from pathlib import Path

import optuna

JOURNAL_NAME = "optuna.journal"
STORAGE_ENV = "POSEDIFF_STORAGE"  # --storage from the environment: not in ps, Ray's job list, shell history

# scheme://user:password@host...  (greedy: a password holding '@' or '/' is hidden whole)
_USERINFO = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:@/?#]*):(?P<password>.*)@(?P<tail>[^@]*)$", re.S)
# ...?password=secret (libpq-style query parameters)
_QUERY = re.compile(r"(?i)([?&](?:password|passwd|pwd)=)[^&#]*")


def redact_url(url: str) -> str:
    """``postgresql://user:pass@host/db`` -> ``postgresql://user:***@host/db``; other text unchanged.

    Never raises: anything that is not a URL with credentials comes back as it was. When the URL is
    ambiguous it hides more rather than less.
    """
    redacted = _USERINFO.sub(r"\g<head>:***@\g<tail>", url)
    return _QUERY.sub(r"\g<1>***", redacted)


def optuna_storage(run_dir: Path | str, storage_url: str | None = None) -> optuna.storages.BaseStorage | str:
    """The study's Optuna storage: ``storage_url`` (an RDB URL) when given, else ``run_dir``/optuna.journal."""
    if storage_url:
        return storage_url
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(Path(run_dir) / JOURNAL_NAME)))
