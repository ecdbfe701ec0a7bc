"""The PostgreSQL half of the test matrix: find the server, keep one migrated template database
per test session, and give each test a fresh database copied from it (`CREATE DATABASE ...
TEMPLATE ...`, about as fast as a new SQLite file).

The server is `TEXTWIRE_TEST_PG_URL` (default postgresql://textwire:textwire@127.0.0.1:5432/postgres,
a role that may create databases). `TEXTWIRE_TEST_DB=sqlite` or `=postgresql` runs one half only.
Database names carry the pytest process id, so several test runs can share one server; databases
left by a run that was killed are dropped by the next run."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "postgresql://textwire:textwire@127.0.0.1:5432/postgres"
SKIP_REASON = "PostgreSQL not reachable: the PostgreSQL half was SKIPPED"
PREFIX = "textwire_test_"

T = TypeVar("T")


def server_url() -> str:
    return os.environ.get("TEXTWIRE_TEST_PG_URL") or DEFAULT_URL


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


class PgServer:
    """A reachable server, and this session's template database (migrated once)."""

    _counter = itertools.count()

    def __init__(self, url: str) -> None:
        self.url = url
        self.tag = f"{PREFIX}{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.tag}_template"

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
        import asyncpg

        return await asyncpg.connect(self.url, timeout=5)

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
                        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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

    def url_of(self, name: str) -> str:
        return with_database(self.url, name)

    def create_database(self) -> str:
        name = f"{self.tag}_{next(self._counter)}"

        async def create() -> None:
            conn = await self._admin()
            try:
                await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
            finally:
                await conn.close()

        run_sync(create)
        return name

    def drop_database(self, name: str) -> None:
        async def drop() -> None:
            conn = await self._admin()
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        run_sync(drop)

    def close(self) -> None:
        self.drop_database(self.template)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
