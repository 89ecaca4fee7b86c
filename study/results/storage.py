"""Keeping credentials out of logs: storage URLs are shown with their password replaced by ``***``."""
from __future__ import annotations

import re

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
