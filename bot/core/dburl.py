"""Database URLs without the database: which backend, a masked form for errors and logs, and the
translation of a libpq-style PostgreSQL URL to asyncpg's arguments. Imports nothing heavy (the
config module uses it)."""

from __future__ import annotations

import socket
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


def _query_owns_its_at_signs(query: str) -> bool:
    """Every `@` in the query is inside a `key=value` option's value, with no `/` after it
    (`application_name=ops@host`), not a host and database (`b=c@db/tw`, `b@db:5432`) that a
    password with `?` in it pushed there."""
    for piece in query.split("&"):
        key, eq, value = piece.partition("=")
        if "@" in piece and (not eq or "@" in key or "/" in value.partition("@")[2]):
            return False
    return True


def _userinfo(url: str) -> tuple[str, str, str, str] | None:
    """(scheme, user, password, what follows `@`) when the URL has `user:password@`. A password
    typed with `/`, `?` or `#` in it (not percent-encoded) ends the user part early for the URL's
    own parser, which then takes part of the password for the host, port or path: the user part
    then runs to the last `@`. An `@` in the query (`?application_name=a@b`) is the query's; one
    in the path or after a `#` (`p@ss:w/rd#1@db/tw`, `p@ss#w@db/tw`) is the password's."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    try:
        parsed = urlsplit(url)
        netloc, path, query, fragment = parsed.netloc, parsed.path, parsed.query, parsed.fragment
    except ValueError:
        netloc, path, query, fragment = "", "@", "", ""
    if "@" in netloc and "@" not in path + fragment and _query_owns_its_at_signs(query):
        userinfo = netloc.rpartition("@")[0]
        after = rest[len(userinfo) + 1 :]
    else:
        userinfo, _, after = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not colon or any(c in user for c in "/?#"):
        return None
    return scheme, user, password, after


def unencoded_password(url: str) -> bool:
    """The URL's password has a character a URL reserves (`/`, `?`, `#`, `@`) as typed, not
    percent-encoded: it cannot be read as written (asyncpg's user part ends at the first `@`, so
    `p@ss9@db` connected to a host `ss9@db`: "Name or service not known")."""
    found = _userinfo(url)
    return found is not None and any(c in found[2] for c in "/?#@")


PERCENT_ENCODE = (
    "the password has a character a URL reserves (/ ? # @ :): percent-encode it"
    " (%2F %3F %23 %40 %3A; python3 -c 'import sys, urllib.parse as u; print(u.quote(sys.argv[1], safe=\"\"))' PASSWORD)"
)


def mask_url(url: str) -> str:
    """The URL with its password (and any `password=` option) replaced by `***`: for errors and logs."""
    found = _userinfo(url)
    if found is not None:  # by the raw text: a password with / ? # in it is masked whole
        scheme, user, _password, after = found
        url = f"{scheme}://{user}:***@{after}"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database.url>"
    masked = url
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
    if unencoded_password(url):  # read as written, part of it went for the host or the port
        raise DatabaseError(f"database.url {mask_url(url)}: {PERCENT_ENCODE}")
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


# Milliseconds a PostgreSQL connection's sent bytes may stay unacknowledged before the kernel
# closes it (Linux's TCP_USER_TIMEOUT, libpq's `tcp_user_timeout`): after a failover that moved
# the server's address, or a network fault, a statement sent on a connection of before waited
# for the kernel's own retransmissions to give up (about 15 minutes), and with it a handler, its
# sender's later texts behind it. Only bytes the server never acknowledged count: a long query
# or an idle connection is not bounded by it.
TCP_USER_TIMEOUT_MS = 30_000


def bound_unacknowledged(conn: Any) -> None:
    """Bound an asyncpg connection's unacknowledged bytes (`TCP_USER_TIMEOUT_MS`) where the system
    has the option (Linux) and the connection is TCP (not a Unix socket)."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if option is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.IPPROTO_TCP, option, TCP_USER_TIMEOUT_MS)
