"""Database URLs: which backend, masked for errors and logs, and libpq options for asyncpg."""

from __future__ import annotations

import pytest

from bot.core.dburl import DatabaseError, is_postgres, is_sqlite, mask_url, pg_connect_args, scrub


def test_the_backend_of_a_url() -> None:
    assert is_sqlite("sqlite+aiosqlite:///data/textwire.db")
    assert not is_postgres("sqlite+aiosqlite:///data/textwire.db")
    for url in ("postgresql://h/db", "postgres://h/db", "postgresql+asyncpg://h/db"):
        assert is_postgres(url)
        assert not is_sqlite(url)


def test_a_password_never_shows() -> None:
    assert mask_url("postgresql://bot:s3cret@db:5432/tw") == "postgresql://bot:***@db:5432/tw"
    assert "s3cret" not in mask_url("postgresql://db/tw?user=bot&password=s3cret")
    assert mask_url("postgresql://bot@db/tw") == "postgresql://bot@db/tw"
    assert scrub("FATAL: password s3cret%21 rejected (s3cret!)", "postgresql://bot:s3cret%21@db/tw") == (
        "FATAL: password *** rejected (***)"
    )


def test_libpq_options_become_asyncpg_arguments() -> None:
    dsn, kwargs = pg_connect_args("postgres://bot@db/tw?connect_timeout=7&sslmode=require")
    assert dsn.startswith("postgresql://bot@db/tw")
    assert "sslmode=require" in dsn
    assert "connect_timeout" not in dsn
    assert kwargs["timeout"] == 7


def test_a_bad_url_is_one_line_without_the_password() -> None:
    with pytest.raises(DatabaseError) as bad:
        pg_connect_args("postgresql://bot:s3cret@db:notaport/tw")
    assert "s3cret" not in str(bad.value)
    assert "database.url" in str(bad.value)
