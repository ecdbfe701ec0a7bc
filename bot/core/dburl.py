"""Database URLs without the database: which backend, a masked form for errors and logs, and the
translation of a libpq-style PostgreSQL URL to asyncpg's arguments. Imports nothing heavy (the
config module uses it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from bot.core.errors import StartupError


class DatabaseError(StartupError):
    """The database cannot be used as configured: one line, no password, says what to do (a
    `StartupError`: `textwire serve` and `migrate` print it and exit with 2)."""


class DatabaseUnreachable(DatabaseError):
    """The database did not answer (refused, timed out, starting up, out of connections): what a
    later try may not meet. `serve` waits for it a while at start-up, then exits with 1 so that
    its service manager starts it again (a PostgreSQL that boots slower than textwire, a
    failover); `migrate` and the other one-shot commands say so at once, exit 2."""

    exit_code = 1


def driver_error(exc: BaseException) -> BaseException:
    """The database driver's own exception behind SQLAlchemy's wrapper (`.orig`) and its adapter
    (`__cause__`): what names the cause (sqlite3's `database or disk is full`, asyncpg's
    `InvalidPasswordError`, a refused connection's `OSError`)."""
    inner = getattr(exc, "orig", None) or exc
    return inner.__cause__ or inner


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://"))


def mask_url(url: str) -> str:
    """The URL with its password (and any `password=` option) replaced by `***`: for errors and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database.url>"
    masked = url
    if "@" in parts.netloc:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        if sep:
            masked = masked.replace(parts.netloc, f"{user}:***@{hostport}", 1)
    if "password" in parts.query.lower():
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode([(k, "***" if "password" in k.lower() else v) for k, v in pairs], safe="*/")
        masked = masked.replace("?" + parts.query, "?" + query, 1)
    return masked


def scrub(text: str, url: str) -> str:
    """`text` (a driver's error message) with the URL's password, if it appears, masked."""
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "***")
        text = text.replace(unquote(password), "***")
    return text


# libpq URL options that asyncpg does not read from a DSN, and the keyword each becomes.
_LIBPQ_KEYWORDS = {"connect_timeout": "timeout"}


def pg_connect_args(url: str) -> tuple[str, dict[str, Any]]:
    """A libpq-style URL -> (DSN for asyncpg, keyword arguments of `asyncpg.connect`).

    asyncpg reads the libpq TLS options from the DSN itself (`sslmode`, `sslrootcert`, `sslcert`,
    `sslkey`, `sslcrl`, `sslpassword`, `ssl_min_protocol_version`) and the host list, port, user,
    password, database and `target_session_attrs`; `connect_timeout` becomes its `timeout`. Any
    other option is sent to the server as a setting (`application_name`, `search_path`, ...)."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql://" + url[len(prefix) :]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise DatabaseError(f"database.url {mask_url(url)}: not a valid URL ({exc})") from None
    kwargs: dict[str, Any] = {}
    kept: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _LIBPQ_KEYWORDS:
            try:
                kwargs[_LIBPQ_KEYWORDS[key]] = float(value)
            except ValueError:
                raise DatabaseError(f"database.url: {key} must be a number of seconds") from None
        else:
            kept.append((key, value))
    dsn = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(kept, safe="/"), parts.fragment))
    return dsn, kwargs
