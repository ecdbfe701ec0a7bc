"""The database: SQLAlchemy 2 async Core over aiosqlite (embedded default) or asyncpg (scale-out).

SQLite runs in WAL mode with foreign keys and a busy timeout. Every transaction starts with
`BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of failing with
SQLITE_BUSY_SNAPSHOT when a read transaction tries to upgrade. Transactions are short: no network
call is ever made inside one.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import socket
import sqlite3
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.ext.compiler import compiles

from bot.core.dburl import (
    DatabaseError,
    DatabaseUnreachable,
    bound_unacknowledged,
    driver_error,
    is_postgres,
    is_sqlite,
    mask_url,
    pg_connect_args,
    scrub,
)
from bot.core.logs import get_logger
from bot.core.tasks import BackgroundTask
from storage import lean, onehop

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
log = get_logger(__name__)


def async_url(url: str) -> str:
    """`sqlite:///data/x.db` -> `sqlite+aiosqlite:///data/x.db`; `postgresql://` -> asyncpg."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if is_postgres(url):
        return "postgresql+asyncpg://"
    return url


class SchemaNotCurrent(DatabaseError):
    """The database is not migrated, or is behind (or ahead of) this code."""


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///` URL (relative to the working directory), or None."""
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///") :]
        return None if rest in ("", ":memory:") else Path(rest)
    return None


def now() -> float:
    return time.time()


READ_ONLY = "textwire_read_only"
# Every SQLite connection of the process (the pool's, fetch()'s, and write()'s, on which the
# webhook's appender runs too): WAL, durable across process crashes in WAL mode with NORMAL,
# foreign keys, and a busy timeout for writers of other processes. A committing connection
# checkpoints the WAL by itself only past 10,000 pages (SQLite's default: 1,000), a backstop:
# `Database`'s checkpointer does it every CHECKPOINT_SECONDS, off the writers' path.
# SQLite reuses a WAL file without ever shrinking it: a burst (the first retention run over
# months of rows, a flood of texts) left the file at its largest for the process's life (47 MB
# after a six-month catch-up purge). The first commit after the checkpointer has copied it cuts
# it back to this; a WAL this size holds several seconds of a busy service's commits.
WAL_KEEP_BYTES = 16 * 1024 * 1024
SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "busy_timeout=10000",
    "wal_autocheckpoint=10000",
    f"journal_size_limit={WAL_KEEP_BYTES}",
)
CHECKPOINT_SECONDS = 0.25  # see Database._checkpoints


PG_POOL_CLOSE_SECONDS = 5.0


class Database:
    """One engine for the app's life. `tx()` writes, `read()` reads; both are short."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = is_postgres(url)
        # An error's text leaves out the statement's parameters: logged (`handler.failed`), they
        # were a caption, a message body or a media URL, which the logs must never carry.
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if self.is_sqlite:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 0
            kwargs["pool_timeout"] = 30
            if path is not None:  # one trip to the driver's thread per statement: storage/onehop.py
                kwargs["async_creator"] = partial(onehop.connect, str(path))
        if self.is_postgres:
            kwargs["async_creator"] = _asyncpg_creator(url)
            # No pre-ping (a round trip on every checkout of the hot path): after a server restart
            # the first statement fails with a disconnect, SQLAlchemy drops the whole pool, and the
            # caller's retry (webhook 503, worker and sender loops) gets fresh connections.
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._reader = self.engine.execution_options(**{READ_ONLY: True})  # the same pool
        self._sqlite_file = path  # one-statement reads go to a connection of their own: fetch()
        self._lean_reader: onehop.OneHopConnection | None = None
        self._lean_writer: onehop.OneHopConnection | None = None
        self._checkpointer = BackgroundTask("sqlite-checkpoints")
        self._raw_opening = asyncio.Lock()
        self._pool_size = pool_size
        self._pg_pool: Any = None  # PostgreSQL: asyncpg's pool for fetch() and write(), on first use
        if self.is_sqlite:
            self._configure_sqlite()

    def _configure_sqlite(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us emit BEGIN ourselves (the driver's implicit BEGIN is DEFERRED).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Reads take a snapshot (WAL readers never block); writes take the write lock up front,
            # before their first statement. A one-hop connection sends BEGIN with that statement.
            begin = "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
            driver = conn.connection.driver_connection
            if isinstance(driver, onehop.OneHopConnection):
                driver.defer_begin(begin)
            else:
                conn.exec_driver_sql(begin)

    @property
    def write_lock(self) -> asyncio.Lock | None:
        """SQLite: the lock every writer of this process takes (also the webhook's appender)."""
        return self._write_lock

    @asynccontextmanager
    async def tx(self, *, within: float | None = None) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without an exception.

        On SQLite, writers of this process queue on an asyncio lock rather than on SQLite's busy
        handler, which sleeps in growing steps (1, 2, 5 ... 100 ms) and wastes most of the time
        when many tasks write at once. Do not open a `tx()` inside another.

        `within` (PostgreSQL): as `write`'s; SQLAlchemy closes the connection it gives up on."""
        if self._write_lock is None and within is not None:
            deadline = _Deadline(within)
            async with deadline:
                try:
                    async with self.engine.begin() as conn:
                        deadline.start()
                        yield conn
                except BaseException:
                    if deadline.expired():
                        await self.forget_connections()
                    raise
            return
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction: a consistent snapshot that never waits for writers."""
        async with self._reader.begin() as conn:
            yield conn

    async def fetch(self, query: lean.Query, params: lean.Params | None = None) -> lean.Rows:
        """The rows of a one-statement read (storage/lean.py), in autocommit (the statement is its
        own snapshot): on a SQLite file one trip to a reader connection of its own; on PostgreSQL
        one statement on a connection of the lean pool; elsewhere a `read()`. Not for use inside a
        `tx()`: it does not see that transaction's writes (use `lean.in_tx(conn)` there)."""
        if self.is_postgres:
            async with self._pg_connection() as conn:
                return await lean.pg_fetch(conn, self.engine.dialect, query, params)
        if self._sqlite_file is None:
            async with self.read() as conn:
                return await lean.in_tx(conn).fetch(query, params)
        reader = self._lean_reader or await self._open_raw("reader")
        return await lean.read_on(reader, self.engine.dialect, query, params)

    @asynccontextmanager
    async def write(self, *, within: float | None = None) -> AsyncIterator[lean.Writer]:
        """A write transaction of the hot path (storage/lean.py: the claim loops' batches, a
        post's intent and outcome), committed when the block ends without an exception, rolled
        back otherwise (also when cancelled): on a SQLite file a `LeanTx` on a writer connection of
        its own, under the same lock as `tx()` (`BEGIN IMMEDIATE` goes with the first statement);
        on PostgreSQL a `PgTx` on a connection of the lean pool; elsewhere `tx()`.

        `within` (PostgreSQL): seconds for the block from the moment it has its connection (a wait
        for one of a busy pool's is no dead server), before it gives up (TimeoutError) as
        `pg_rows` does: the connection is closed, not rolled back on (a ROLLBACK on a connection
        whose server went away without closing it waited with no end), and every pooled one
        replaced. A SQLite file's writers wait on its lock and busy timeout."""
        if self.is_postgres:
            deadline = _Deadline(within)
            async with deadline, self._pg_connection() as conn:
                deadline.start()
                try:
                    with lean.pg_errors(self.engine.dialect, conn, "BEGIN", None):
                        await conn.execute("BEGIN")
                    pg_tx = lean.PgTx(conn, self.engine.dialect)
                    yield pg_tx
                    await pg_tx.finish()
                except BaseException:
                    if deadline.expired():
                        await self._given_up(conn)
                    elif not lean.pg_dead(conn):  # a cancelled block still ends its transaction
                        with contextlib.suppress(Exception):
                            await asyncio.shield(conn.execute("ROLLBACK"))
                    raise
            return
        if self._sqlite_file is None or self._write_lock is None:
            async with self.tx() as conn:
                yield conn
            return
        async with self._write_lock:
            writer = self._lean_writer or await self._open_raw("writer")
            writer.defer_begin("BEGIN IMMEDIATE")
            tx = lean.LeanTx(writer, self.engine.dialect)
            try:
                yield tx
                await tx.finish()
            except BaseException:
                await asyncio.shield(writer.rollback())  # a cancelled block still ends its transaction
                raise

    async def pg_rows(self, sql: str, *args: Any, within: float | None = None) -> list[Any]:
        """PostgreSQL only: one statement of the code's own SQL (where a `Query` cannot say it:
        `unnest` of array parameters), on the lean pool, in autocommit; asyncpg's records.
        Errors as in `fetch`. `within`: seconds before it gives up (TimeoutError), connection
        included; the connection it waited on is closed and every pooled one replaced, as after a
        dead connection: a server that went away without closing them (a failover, a network
        fault) leaves them hanging, while a fresh one reaches the server that took over."""
        deadline = _Deadline(within)
        async with deadline:
            deadline.start()
            async with self._pg_connection() as conn:
                try:
                    with lean.pg_errors(self.engine.dialect, conn, sql, args):
                        rows: list[Any] = await conn.fetch(sql, *args)
                        return rows
                except asyncio.CancelledError:
                    if deadline.expired():
                        await self._given_up(conn)
                    raise

    async def _given_up(self, conn: Any) -> None:
        """A lean pool's connection that did not answer in time: closed (never reused), and
        every pooled connection replaced on its next use, as after a dead connection."""
        conn.terminate()
        await self.forget_connections()

    async def forget_connections(self) -> None:
        """PostgreSQL: after a connection was given up on (it did not answer in time: its server
        went away without closing it), every pooled connection of both pools (the lean one and
        SQLAlchemy's) is closed and replaced on its next use, not only the lean pool's: a handler
        that took an idle SQLAlchemy connection of before waited on it with no end, and the
        sender's later messages with it (one at a time, in order)."""
        if self._pg_pool is not None:
            await self._pg_pool.expire_connections()
        # SQLAlchemy's own mark after a disconnect: connections made before now are terminated,
        # not closed (a close waits for the server), at their next checkout or checkin
        self.engine.sync_engine.pool._invalidate(None)  # type: ignore[arg-type]

    @asynccontextmanager
    async def _pg_connection(self) -> AsyncIterator[Any]:
        """A connection of the lean pool (asyncpg's own, beside SQLAlchemy's: `fetch` and `write`
        run on the driver, their statements compiled once). When a statement finds its connection
        dead (a server restart, a failover), every pooled connection is closed and replaced on
        its next use, as SQLAlchemy's pool does: one failed statement, then fresh connections."""
        pool = self._pg_pool or await self._open_pg_pool()
        try:
            async with pool.acquire() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            if exc.connection_invalidated:
                await pool.expire_connections()
            raise

    async def _open_pg_pool(self) -> Any:
        import asyncpg

        async with self._raw_opening:
            if self._pg_pool is None:
                dsn, kwargs = pg_connect_args(self.url)
                self._pg_pool = await asyncpg.create_pool(
                    dsn,
                    min_size=0,
                    max_size=self._pool_size,
                    reset=_rollback_if_open,
                    init=_bound_unacknowledged,
                    **kwargs,
                )
        return self._pg_pool

    async def sqlite_writer(self) -> onehop.OneHopConnection:
        """A SQLite file's writer connection (`write()`'s), for the webhook's appender: one
        connection for every write of the process. A commit on another connection of the same
        file empties this one's page cache (WAL: SQLite sees the file changed), so with the
        appender on a connection of its own each batch's transactions read their pages again."""
        if self._sqlite_file is None:
            raise TypeError("sqlite_writer(): not a SQLite file")
        return self._lean_writer or await self._open_raw("writer")

    async def _open_raw(self, role: str) -> onehop.OneHopConnection:
        """The reader (`fetch`) or the writer (`write`) connection, opened on first use."""
        async with self._raw_opening:
            found = self._lean_reader if role == "reader" else self._lean_writer
            if found is None:
                assert self._sqlite_file is not None
                found = await onehop.connect(str(self._sqlite_file))
                await found._execute(_reader_pragmas if role == "reader" else _writer_pragmas, found._conn)
                if role == "reader":
                    self._lean_reader = found
                else:
                    self._lean_writer = found
                    self._checkpointer.start(self._checkpoints)
        return found

    async def _checkpoints(self) -> None:
        """A PASSIVE checkpoint of the WAL every CHECKPOINT_SECONDS while this process writes, on a
        connection (and thread) of its own: the writers never wait for one, and a page written
        many times in between is copied into the database file once. With SQLite's own (every
        1,000 WAL pages, by the connection that commits) a burst checkpointed a dozen times a
        second, two fsyncs each, on the writer's thread. Every second instead: 1.07-1.11x texts/s
        in a burst, but each checkpoint a second's pages at once, and on one core the reply p99
        at 1,000 texts/s went from 13-15 to 31-37 ms; every 0.25 s: 1.09-1.11x, p99 17-20 ms at
        1,000/s, 5-7 at 300/s (BENCHMARKS.md "Stop 21"). PASSIVE never waits for readers or
        writers; what it leaves, the next one copies."""
        assert self._sqlite_file is not None
        opening = asyncio.ensure_future(_checkpoint_connection(self._sqlite_file))
        try:
            conn = await asyncio.shield(opening)
        except asyncio.CancelledError:
            # closed while connecting (a database closed right after its first write): the
            # connect went on in aiosqlite's thread, which left that connection open and, once
            # the event loop had closed, raised "Event loop is closed" there; it is waited for
            # and closed
            with contextlib.suppress(Exception):
                await (await opening).close()
            raise
        failing = False  # one line when checkpoints start failing, one when they work again
        try:
            await conn.execute("PRAGMA busy_timeout=10000")
            while True:
                await asyncio.sleep(CHECKPOINT_SECONDS)
                try:
                    await conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the next one tries again; the backstop stays
                    if not failing:
                        log.warning("db.checkpoint_failed", error=type(exc).__name__)
                    failing = True
                    continue
                if failing:
                    log.info("db.checkpoint_recovered")
                failing = False
        finally:
            await conn.close()

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def connect_check(self) -> None:
        """Connect once; a failure becomes a `DatabaseError` naming the masked URL and the cause
        (`DatabaseUnreachable` when a later try may succeed: `transient`)."""
        try:
            await self.ping()
        except Exception as exc:  # refused, timed out, bad password, no such database, TLS
            kind = DatabaseUnreachable if transient(exc) else DatabaseError
            raise kind(
                f"database.url {self.masked_url}: cannot connect ({_reason(exc, self.url)}): {_remedy(exc)}"
            ) from None

    async def analyze(self) -> None:
        """Gather the query planner's statistics now (`ANALYZE`), as PostgreSQL's autovacuum does
        in time: for benchmarks and plan tests that need a database as a running service has it."""
        async with self.engine.connect() as conn:
            if self.is_postgres:  # ANALYZE of the whole database runs outside a transaction block
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE"))
            await conn.commit()

    async def close(self) -> None:
        await self._checkpointer.stop()
        for raw in (self._lean_reader, self._lean_writer):
            if raw is not None:
                await raw.close()
        self._lean_reader = self._lean_writer = None
        if self._pg_pool is not None:
            pool, self._pg_pool = self._pg_pool, None
            try:  # waits for connections in use to come back: not for ever
                await asyncio.wait_for(pool.close(), PG_POOL_CLOSE_SECONDS)
            except TimeoutError:
                pool.terminate()
        await self.engine.dispose()

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic, on this engine's connection), in one
        transaction. Safe to run from several processes at once: on PostgreSQL a transaction-level
        advisory lock queues them (the later ones then find the schema current); on SQLite the
        `BEGIN IMMEDIATE` of every write transaction does the same.

        The database failing it (a full disk, a user without the right to create tables) is one
        `DatabaseError` line: it was a SQLAlchemy traceback, and nothing said the schema is as it
        was (the transaction is undone) or what to do."""
        head = head_revision()
        try:
            async with self.engine.begin() as conn:
                if self.is_postgres:
                    await conn.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK_KEY}
                    )
                current = await conn.run_sync(_current_revision)
                if current is not None and current not in known_revisions():
                    raise SchemaNotCurrent(ahead_of_this_code(self.masked_url, current))
                if current != head:  # at the head there is nothing to run (alembic's walk of
                    # the scripts was most of an up-to-date start-up's migrate)
                    await conn.run_sync(_upgrade)
        except sa.exc.DBAPIError as exc:
            raise DatabaseError(
                f"database.url {self.masked_url}: migrating to {head} failed ({_reason(exc, self.url)}) "
                "and was undone, the schema is as it was: fix that (a full disk, the database user's "
                "rights) and run `textwire migrate` again"
            ) from None
        if current != head:
            # `serve` migrates SQLite by itself: the log says the schema moved after an upgrade
            # (a rollback then needs the backup, README: Upgrading); None is a new database
            log.info("db.upgraded", from_revision=current, revision=head)

    async def revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current_revision)

    async def check_schema(self) -> None:
        """Raise `SchemaNotCurrent` unless the database is at this code's newest revision."""
        current = await self.revision()
        wanted = head_revision()
        if current == wanted:
            return
        if current is not None and current not in known_revisions():
            raise SchemaNotCurrent(ahead_of_this_code(self.masked_url, current))
        state = (
            "is not migrated" if current is None else f"is at revision {current}, this version needs {wanted}"
        )
        raise SchemaNotCurrent(f"database {self.masked_url} {state}: run `textwire migrate`")


def _writer_pragmas(conn: sqlite3.Connection) -> None:
    """As for the pool's connections (`_on_connect`): we send BEGIN ourselves."""
    conn.isolation_level = None
    for pragma in SQLITE_PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")


def _reader_pragmas(conn: sqlite3.Connection) -> None:
    """`fetch()`'s connection: autocommit (each statement its own snapshot), reads only."""
    _writer_pragmas(conn)
    conn.execute("PRAGMA query_only=ON")


# pg_advisory_xact_lock key of `textwire migrate` (any constant that nothing else uses).
MIGRATE_LOCK_KEY = 0x7465787477697265  # "textwire"


async def _checkpoint_connection(path: Path) -> aiosqlite.Connection:
    """The checkpointer's own connection (`Database._checkpoints`)."""
    conn = aiosqlite.connect(str(path), isolation_level=None)
    conn._thread.daemon = True  # a process that exits without closing does not hang
    return await conn


class _Deadline:
    """`within` seconds (None: none) from `start()` for a block of PostgreSQL work; once they pass
    the block is cancelled and ends in TimeoutError("no answer within ... s"), logged as what it
    is (`db_reason`), not as the cancellation. `expired()`: it gave up (the block's connection is
    then closed, not reused). Started once a connection is in hand (`write`, `tx`): a wait for one
    of a busy pool's is no dead server; `pg_rows` starts it first (a webhook's batch waits no
    longer than its deadline, whatever it waits for)."""

    def __init__(self, within: float | None) -> None:
        self.within = within
        self._timer = asyncio.timeout(None)

    def start(self) -> None:
        if self.within is not None:
            self._timer.reschedule(asyncio.get_running_loop().time() + self.within)

    def expired(self) -> bool:
        return self._timer.expired()

    async def __aenter__(self) -> _Deadline:
        await self._timer.__aenter__()
        return self

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        try:
            await self._timer.__aexit__(kind, exc, tb)
        except TimeoutError:
            if self._timer.expired():
                raise TimeoutError(f"no answer within {self.within} s") from None
            raise


async def _rollback_if_open(conn: Any) -> None:
    """What the lean pool does to a connection given back: end a transaction left open (a block
    that failed before its ROLLBACK). asyncpg's default reset also runs `RESET ALL; UNLISTEN *;
    CLOSE ALL; pg_advisory_unlock_all()`, a round trip on every release, for session state these
    connections never set."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def _bound_unacknowledged(conn: Any) -> None:
    """The lean pool's `init`: each new connection as `_asyncpg_creator`'s."""
    bound_unacknowledged(conn)


def _asyncpg_creator(url: str) -> Any:
    import asyncpg

    dsn, kwargs = pg_connect_args(url)

    async def connect() -> Any:
        conn = await asyncpg.connect(dsn, **kwargs)
        bound_unacknowledged(conn)
        return conn

    return connect


def transient(exc: BaseException) -> bool:
    """A connection failure that a later try may not meet: nothing listening yet, a timeout, a
    server starting up, shutting down or out of connection slots, a connection it closed (a
    restart or a failover just after the connect), a name that did not resolve. A refused
    password, a missing database, a TLS setting are not (they need the operator)."""
    inner = driver_error(exc)
    if isinstance(inner, ssl.SSLError):  # an OSError, but a setting (a certificate, sslmode)
        return False
    if isinstance(inner, (OSError, TimeoutError)):  # refused, unreachable, DNS, timed out
        return True
    return type(inner).__name__ in _SERVER_AWAY


# 57P03 starting up, 53300 out of slots, 57P01/57P02 shut down under the connection, and a
# connection the server closed (a `serve` that met one at start-up stopped with exit 2, which
# the systemd units do not restart)
_SERVER_AWAY = frozenset(
    {
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "AdminShutdownError",
        "CrashShutdownError",
        "ConnectionDoesNotExistError",
    }
)


def away(exc: BaseException) -> bool:
    """Whether a failed statement met the database away (nothing answering, starting up, out of
    connections, the connection lost, or no answer in time), rather than refusing what it said."""
    return transient(exc) or bool(getattr(exc, "connection_invalidated", False))


def database_away(exc: BaseException) -> bool:
    """Whether an error out of code that used the database on the way (a handler) is the database
    away, as `away` judges a statement's: a statement's error (SQLAlchemy's, the lean path's) or
    the driver's own, else a connection refused, reset, unreachable or timed out (a pool's
    connect, which neither wraps); a page's too (`pages.database_away`). Not any OSError: a full disk or an unreadable file are not the database's,
    and S3's and X's errors reach a handler as their own."""
    inner = driver_error(exc)
    if isinstance(exc, sa.exc.DBAPIError) or type(inner).__module__.startswith("asyncpg"):
        return away(exc)
    # a timeout too: asyncpg's connect to a server that takes the connection and never answers
    lost = (ConnectionError, TimeoutError, socket.gaierror)
    return isinstance(inner, lost) or getattr(inner, "errno", None) in _UNREACHABLE


_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN})


# What the operator does when the server answered and refused (SQLSTATE classes 28 and 3D): the
# server runs and is reachable, so the usual hint would send them looking in the wrong place.
_REFUSED_LOGIN = frozenset({"InvalidPasswordError", "InvalidAuthorizationSpecificationError"})
_NO_DATABASE = frozenset({"InvalidCatalogNameError"})


def _remedy(exc: BaseException) -> str:
    """What to do about a failed connect, by its cause (`connect_check`'s line ends with it)."""
    name = type(driver_error(exc)).__name__
    if name in _REFUSED_LOGIN:
        return (
            "the server refused the login: check the user name and password in database.url "
            "(TEXTWIRE_DATABASE_URL) and that the role may connect (pg_hba.conf)"
        )
    if name in _NO_DATABASE:
        return (
            "the server has no database of that name: create it (createdb, or CREATE DATABASE), "
            "or fix the name in database.url (TEXTWIRE_DATABASE_URL)"
        )
    return "check that the database runs and is reachable, or set database.url or TEXTWIRE_DATABASE_URL"


def _reason(exc: BaseException, url: str) -> str:
    """A short cause without the URL's secrets: the driver's error class and first line."""
    inner = driver_error(exc)
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    reason = f"{type(inner).__name__}: {text}" if text else type(inner).__name__
    return scrub(reason, url)


def ahead_of_this_code(masked_url: str, current: str) -> str:
    """The one line for a schema newer than this code knows (`serve`, `migrate`, `person`, `keys
    rotate` alike): `textwire migrate` cannot help there, only the release that migrated it, or
    the rollback of README "Upgrading"."""
    return (
        f"database {masked_url} is at revision {current}, which this version does not know: a newer "
        "textwire migrated it: run that release, or to roll back restore the backup taken before its "
        'migration (README "Upgrading")'
    )


@functools.cache
def _revisions() -> tuple[str | None, frozenset[str]]:
    """The migrations shipped with this code: the newest revision and every one. Read once a
    process (alembic parses each script file of the folder: tens of ms, on every start-up's
    migrate and every `/readyz`-style check before)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    return scripts.get_current_head(), frozenset(rev.revision for rev in scripts.walk_revisions())


def head_revision() -> str | None:
    return _revisions()[0]


def known_revisions() -> frozenset[str]:
    return _revisions()[1]


def alembic_config(connection: sa.Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: sa.Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _current_revision(connection: sa.Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def open_database(url: str, *, migrate: bool, check: bool = False) -> Database:
    """Open the engine and connect once (`DatabaseError` with the masked URL when that fails);
    `migrate`: bring the schema up to date; `check`: refuse a schema that is not current."""
    db = Database(url)
    try:
        await db.connect_check()
        if migrate:
            await db.migrate()
        elif check:
            await db.check_schema()
    except BaseException:
        await db.close()
        raise
    return db


__all__ = [
    "SQLITE_PRAGMAS",
    "Database",
    "DatabaseError",
    "SchemaNotCurrent",
    "ahead_of_this_code",
    "alembic_config",
    "async_url",
    "db_clock",
    "delete_some",
    "head_revision",
    "insert_ignore",
    "insert_ignoring",
    "is_postgres",
    "is_sqlite",
    "mask_url",
    "now",
    "open_database",
    "pg_connect_args",
    "sqlite_path",
    "upsert",
]


class DbClock(sa.sql.functions.FunctionElement[float]):
    """The database server's clock, in seconds since the epoch (a float, as our time columns):
    one clock for every process, whatever each machine's says. PostgreSQL: the moment the
    statement reads it (`clock_timestamp()`); SQLite: the machine's, which its processes share."""

    type = sa.Float()
    inherit_cache = True
    name = "db_clock"


@compiles(DbClock, "postgresql")
def _db_clock_pg(_element: DbClock, _compiler: Any, **_kw: Any) -> str:
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(DbClock, "sqlite")
def _db_clock_sqlite(_element: DbClock, _compiler: Any, **_kw: Any) -> str:
    return "((julianday('now') - 2440587.5) * 86400.0)"


def db_clock() -> DbClock:
    """`DbClock()`: the database's time, for comparisons that processes on several machines must
    agree on (leases)."""
    return DbClock()


def insert_ignore(conn: lean.Writer, table: sa.Table) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` for this connection's dialect (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


_INSERT_IGNORING: dict[tuple[str, str], lean.Query] = {}


def insert_ignoring(conn: lean.Writer, table: sa.Table) -> lean.Query:
    """`insert_ignore(conn, table)` without values, built once per dialect and table: the columns
    come from each execution's parameters (one mapping, or a list: executemany)."""
    key = (conn.dialect.name, table.name)
    found = _INSERT_IGNORING.get(key)
    if found is None:
        found = _INSERT_IGNORING[key] = lean.Query(insert_ignore(conn, table))
    return found


def upsert(conn: lean.Writer, table: sa.Table) -> Any:
    """The dialect's `INSERT` that supports `.on_conflict_do_update(...)` (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


async def delete_some(
    conn: AsyncConnection, table: sa.Table, *where: sa.ColumnElement[bool], limit: int
) -> int:
    """Delete up to `limit` rows of `table` (by its `id`) that match `where`; the count deleted.
    For purges that run a transaction at a time until a batch comes back short (a DELETE has no
    LIMIT on PostgreSQL, nor in SQLite's default build)."""
    doomed = sa.select(table.c.id).where(*where).limit(limit).scalar_subquery()
    result = await conn.execute(sa.delete(table).where(table.c.id.in_(doomed)))
    return int(result.rowcount)
