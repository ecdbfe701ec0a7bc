"""The PostgreSQL half of the test matrix: find the server, keep one migrated template database
per test session, and give each test a database in the template's state: a copy of it (`CREATE
DATABASE ... TEMPLATE ...`), or one an earlier test used, emptied (`TRUNCATE ... RESTART
IDENTITY`, several times faster than a new copy, and done while the next tests run) when its
schema is still the template's and nothing is connected to it; otherwise that one is dropped.

The server is `TEXTWIRE_TEST_PG_URL` (default postgresql://textwire:textwire@127.0.0.1:5432/postgres,
a role that may create databases). `TEXTWIRE_TEST_DB=sqlite` or `=postgresql` runs one half only.
Database names carry the pytest process id, so several test runs can share one server; databases
left by a run that was killed are dropped by the next run."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import secrets
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "postgresql://textwire:textwire@127.0.0.1:5432/postgres"
SKIP_REASON = "PostgreSQL not reachable: the PostgreSQL half was SKIPPED"
PREFIX = "textwire_test_"

T = TypeVar("T")


def server_url() -> str:
    """The test server's URL, with `sslmode=disable` unless it names a mode: a loopback server
    needs no TLS, and asyncpg's TLS upgrade leaves a future whose exception nobody retrieves when a
    connect is cancelled mid-handshake (an app stopped while its pool connects); garbage collected
    later, it logs an asyncio error inside whichever test runs then (seen in test_fuzz)."""
    url = os.environ.get("TEXTWIRE_TEST_PG_URL") or DEFAULT_URL
    if "sslmode=" not in url:
        url += ("&" if "?" in url else "?") + "sslmode=disable"
    return url


def backends() -> list[str]:
    chosen = os.environ.get("TEXTWIRE_TEST_DB", "").strip().lower()
    if chosen in ("sqlite", "postgresql"):
        return [chosen]
    return ["sqlite", "postgresql"]


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, on a thread of its own (the caller may be
    inside a running event loop: fixtures of async tests)."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(make()))  # type: ignore[arg-type]
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target, name="pg-admin")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


# This role's connections to a database (the app's, a test's), ended; the call waits until each is
# gone (10 s at most). Autovacuum's workers (no role) are not ours to end, and need not be.
_TERMINATE_OURS = (
    "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
    " WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()"
)


async def _drop(conn: Any, name: str) -> None:
    """Drop database `name`, after ending this role's connections to it. Not `WITH (FORCE)`: that
    also tries to end an autovacuum worker visiting the database, which has no role, and fails
    for a role that is not a superuser ("must be a member of the role whose process is being
    terminated"): a teardown error whenever autovacuum came by at that moment. A plain DROP
    stops the worker itself."""
    await conn.execute(_TERMINATE_OURS, name)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


class PgServer:
    """A reachable server, and this session's template database (migrated once)."""

    _counter = itertools.count()

    def __init__(self, url: str) -> None:
        self.url = url
        self.tag = f"{PREFIX}{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.tag}_template"
        self._free: list[str] = []  # emptied databases in the template's state
        self._releasing: list[threading.Thread] = []  # `release`s still emptying one
        self._errors: list[BaseException] = []  # theirs, raised by `close`
        self._lock = threading.Lock()
        self._shape = ""  # the template's schema: tables, columns, types, revision

    @classmethod
    def connect(cls) -> PgServer | None:
        url = server_url()
        server = cls(url)
        try:
            run_sync(server._ping)
        except Exception:  # refused, timed out, bad password: the half is skipped, saying why
            return None
        server._drop_stale()
        run_sync(server._make_template)
        return server

    async def _admin(self) -> Any:
        return await asyncpg_connect(self.url)

    async def _ping(self) -> None:
        conn = await self._admin()
        await conn.close()

    def _drop_stale(self) -> None:
        """Databases of earlier runs whose pytest process is gone."""

        async def drop() -> None:
            conn = await self._admin()
            try:
                names = [
                    r[0]
                    for r in await conn.fetch(
                        "SELECT datname FROM pg_database WHERE datname LIKE $1", PREFIX + "%"
                    )
                ]
                for name in names:
                    pid = name[len(PREFIX) :].split("_", 1)[0]
                    if pid.isdigit() and not _alive(int(pid)):
                        await _drop(conn, name)
            finally:
                await conn.close()

        run_sync(drop)

    async def _make_template(self) -> None:
        from storage.db import Database

        conn = await self._admin()
        try:
            await conn.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await conn.close()
        db = Database(self.url_of(self.template))
        try:
            await db.migrate()
        finally:
            await db.close()
        conn = await asyncpg_connect(self.url_of(self.template))
        try:
            self._shape = await conn.fetchval(_SHAPE)
        finally:
            await conn.close()

    def acquire(self) -> str:
        """A database in the template's state, for one test: an emptied one (waiting for a
        `release` still emptying one when no other is free), else a new copy of the template."""
        while True:
            with self._lock:
                if self._free:
                    return self._free.pop()
                releasing = self._releasing[0] if self._releasing else None
            if releasing is None:
                return self.create_database()
            releasing.join()

    def release(self, name: str) -> None:
        """Back to the pool when it can be emptied to the template's state, else dropped. Done on
        a thread of its own while the next tests run: the TRUNCATE of every table takes the
        server ~0.15 s, about what the SQLite half of the next test takes; a test wanting a
        database waits for it only when no other is free (`acquire`)."""
        thread = threading.Thread(target=self._release, args=(name,), name="pg-release", daemon=True)
        with self._lock:  # started under the lock: `acquire` never joins a thread not started
            self._releasing.append(thread)
            thread.start()

    def _release(self, name: str) -> None:
        try:
            if asyncio.run(self._reset(name)):
                with self._lock:
                    self._free.append(name)
            else:
                self.drop_database(name)
        except BaseException as exc:
            self._errors.append(exc)
        finally:
            with self._lock:
                self._releasing.remove(threading.current_thread())

    async def _reset(self, name: str) -> bool:
        try:
            conn = await asyncpg_connect(self.url_of(name))
        except Exception:
            return False
        try:
            await conn.execute("SET lock_timeout = '5s'")
            others = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
            )
            if others or await conn.fetchval(_SHAPE) != self._shape:
                return False  # a connection left open, or a test changed the schema
            tables = [
                r[0]
                for r in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                    " AND tablename <> 'alembic_version'"
                )
            ]
            if tables:
                names = ", ".join(f'"{t}"' for t in tables)
                await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            return True
        except Exception:
            return False
        finally:
            await conn.close()

    def url_of(self, name: str) -> str:
        return with_database(self.url, name)

    def admin_execute(self, sql: str, *args: object) -> None:
        """One statement on a connection of its own to the server's admin database, from sync
        code (or from inside a running event loop: run_sync)."""

        async def run() -> None:
            conn = await self._admin()
            try:
                await conn.execute(sql, *args)
            finally:
                await conn.close()

        run_sync(run)

    def create_database(self) -> str:
        name = f"{self.tag}_{next(self._counter)}"
        self.admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return name

    def drop_database(self, name: str) -> None:
        """End the connections a test left open, then drop (`_drop`)."""

        async def run() -> None:
            conn = await self._admin()
            try:
                await _drop(conn, name)
            finally:
                await conn.close()

        run_sync(run)

    def terminate_connections(self, name: str) -> None:
        """The server closes every connection to database `name` (as a restart or a failover
        does); they are gone when this returns."""
        self.admin_execute(_TERMINATE_OURS, name)

    def close(self) -> None:
        while True:
            with self._lock:
                releasing = list(self._releasing)
            if not releasing:
                break
            for thread in releasing:
                thread.join()
        for name in self._free:
            self.drop_database(name)
        self._free.clear()
        self.drop_database(self.template)
        if self._errors:
            raise self._errors[0]


# The schema of a database in one string (tables, columns, types, defaults, indexes, revision).
_SHAPE = """
SELECT md5(
  coalesce((SELECT string_agg(table_name || '.' || column_name || ':' || data_type || ':'
                              || coalesce(column_default, '') || ':' || is_nullable, ','
                              ORDER BY table_name, column_name)
            FROM information_schema.columns WHERE table_schema = 'public'), '')
  || '|' || coalesce((SELECT string_agg(indexdef, ',' ORDER BY indexdef) FROM pg_indexes
                      WHERE schemaname = 'public'), '')
  || '|' || coalesce((SELECT string_agg(version_num, ',') FROM alembic_version), ''))
"""


async def asyncpg_connect(url: str) -> Any:
    import asyncpg

    return await asyncpg.connect(url, timeout=5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Relay:
    """A TCP relay to PostgreSQL on 127.0.0.1 (`start(port)`; 0: any free port) that can hang as a
    frozen network or server does, neither refusing nor closing. `freeze()` stops passing bytes on
    the connections open now and leaves them open, while new connections go through: a server
    that went away without closing its connections (a failover, a network fault), and the one
    that took over. `freeze(new_too=True)`: a new connection is taken and never answered either
    (the whole database hangs). `thaw()` lets everything flow again. `close()` ends every
    connection and waits for them (a socket left open warns in a later test)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._opening = asyncio.Event()  # new connections go through while set
        self._opening.set()
        self._flowing: list[asyncio.Event] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, listen_port: int = 0) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", listen_port)
        return int(self._server.sockets[0].getsockname()[1])

    def freeze(self, *, new_too: bool = False) -> None:
        for flowing in self._flowing:
            flowing.clear()
        if new_too:
            self._opening.clear()

    def thaw(self) -> None:
        for flowing in [self._opening, *self._flowing]:
            flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        self.thaw()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event
    ) -> None:
        try:
            while data := await reader.read(65536):
                await flowing.wait()
                if writer.is_closing():
                    return
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        try:
            await self._opening.wait()
            if self._server is None or not self._server.is_serving():
                return
            flowing = asyncio.Event()
            flowing.set()
            self._flowing.append(flowing)
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.append(up_writer)
            await asyncio.gather(
                self._pipe(reader, up_writer, flowing), self._pipe(up_reader, writer, flowing)
            )
        except OSError:
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def through_a_relay(pg_server: PgServer) -> AsyncIterator[tuple[str, Relay]]:
    """A fresh database of `pg_server`, its URL through a `Relay`, and the relay."""
    name = pg_server.create_database()
    url = urlsplit(pg_server.url_of(name))
    relay = Relay(url.hostname or "127.0.0.1", url.port or 5432)
    port = await relay.start()
    netloc = url.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}"
    try:
        yield urlunsplit(url._replace(netloc=netloc)), relay
    finally:
        await relay.close()
        pg_server.drop_database(name)
