"""study.results.storage: a storage URL's password never survives redaction; everything else does."""

from __future__ import annotations

import pytest

from study.results.storage import redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://user:pass@host/db", "postgresql://user:***@host/db"),
        (
            "postgresql+psycopg2://optuna:s3cr3t@db.example.org:5432/studies",
            "postgresql+psycopg2://optuna:***@db.example.org:5432/studies",
        ),
        ("mysql://root:p@ss/w:rd@10.0.0.1/optuna", "mysql://root:***@10.0.0.1/optuna"),
        ("postgresql://user:@host/db", "postgresql://user:***@host/db"),
        (
            "postgresql://host/db?user=u&password=hunter2&sslmode=require",
            "postgresql://host/db?user=u&password=***&sslmode=require",
        ),
    ],
)
def test_password_is_replaced(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user@host/db",
        "postgresql://host:5432/db",
        "sqlite:///runs/smoke/optuna.db",
        "runs/smoke/optuna.journal",
        "",
    ],
)
def test_urls_without_a_password_are_unchanged(url: str) -> None:
    assert redact_url(url) == url


def test_secret_never_appears_in_output() -> None:
    secret = "Tr0ub4dor&3"
    for url in (f"postgresql://u:{secret}@h/db", f"postgresql://h/db?password={secret}"):
        assert secret not in redact_url(url)
