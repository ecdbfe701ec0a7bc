"""Database URLs: which backend, masked for errors and logs, and libpq options for asyncpg."""

from __future__ import annotations

import pytest

from bot.core.config import ConfigError, load_config
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


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # a password with a character a URL reserves, typed as it is (not percent-encoded): the
        # URL's own parser ends the user part early, and the mask showed the rest of the password
        ("postgresql://bot:p@ss/w0rd@db:5432/tw", "postgresql://bot:***@db:5432/tw"),
        ("postgresql://bot:p#ss9@db:5432/tw", "postgresql://bot:***@db:5432/tw"),
        ("postgresql://bot:pa?ss9@db:5432/tw", "postgresql://bot:***@db:5432/tw"),
        ("postgresql://bot:p@ss9@db:5432/tw", "postgresql://bot:***@db:5432/tw"),
        (
            "postgresql://bot:s3cret@db:5432/tw?application_name=tw",
            "postgresql://bot:***@db:5432/tw?application_name=tw",
        ),
    ],
)
def test_a_password_with_reserved_characters_never_shows(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "password",
    # an @ with / ? # after it (p@ss:w/rd#1%?): the mask showed "***@ss:w/rd#1%?@db" and the line
    # said "Port could not be cast to integer value as 'w'"; an @ alone (p@ss9, p@ss:word):
    # asyncpg's user part ends at the first @, so it asked a host "ss9@db" ("Name or service not
    # known") or said "invalid literal for int() ... 'word@db:5432'"
    ["p@ss/w0rd", "p#ss9", "pa?ss9", "p@ss:w/rd#1%?", "p@ss#w", "p@a?b=c", "p@ss9", "p@ss:word"],
)
def test_a_password_to_percent_encode_is_said_so_and_never_shown(password: str) -> None:
    """A password with / # ? left as typed: `cannot connect (... Name or service not known)` with
    part of the password in the host, or `Port could not be cast to integer value as 'p'`, with
    the password in clear in the line and the log."""
    url = f"postgresql://bot:{password}@db:5432/tw"
    with pytest.raises(DatabaseError) as bad:
        pg_connect_args(url)
    message = str(bad.value)
    assert "percent-encode" in message
    for piece in (password, password[1:], password[2:], password[3:]):
        assert piece not in message
    with pytest.raises(ConfigError) as exc:  # at start-up, naming the key
        load_config(None, env={"TEXTWIRE_CONFIG": "", "TEXTWIRE_DATABASE_URL": url})
    assert str(exc.value).startswith("database.url: ")
    assert "percent-encode" in str(exc.value)
    assert password[1:] not in str(exc.value)


def test_an_at_sign_in_the_query_is_the_querys() -> None:
    url = "postgresql://bot:s3cret@db:5432/tw?application_name=ops@host"
    assert mask_url(url) == "postgresql://bot:***@db:5432/tw?application_name=ops@host"
    assert pg_connect_args(url)[0].startswith("postgresql://bot:s3cret@db:5432/tw")
