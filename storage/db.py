"""The database: SQLAlchemy 2 async Core over aiosqlite (embedded default) or asyncpg (scale-out).

SQLite runs in WAL mode with foreign keys and a busy timeout. Every transaction starts with
`BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead of failing with
SQLITE_BUSY_SNAPSHOT when a read transaction tries to upgrade. Transactions are short: no network
call is ever made inside one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """`sqlite:///data/x.db` -> `sqlite+aiosqlite:///data/x.db`; `postgresql://` -> asyncpg."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///` URL (relative to the working directory), or None."""
    if url.startswith("sqlite:///"):
        rest = url[len("sqlite:///") :]
        return None if rest in ("", ":memory:") else Path(rest)
    return None


def now() -> float:
    return time.time()


READ_ONLY = "textwire_read_only"


class Database:
    """One engine for the app's life. `tx()` writes, `read()` reads; both are short."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 0
            kwargs["pool_timeout"] = 30
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            self._configure_sqlite()

    def _configure_sqlite(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us emit BEGIN ourselves (the driver's implicit BEGIN is DEFERRED).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Reads take a snapshot (WAL readers never block); writes take the write lock up front.
            conn.exec_driver_sql(
                "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
            )

    @property
    def write_lock(self) -> asyncio.Lock | None:
        """SQLite: the lock every writer of this process takes (also the webhook's appender)."""
        return self._write_lock

    @asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed when the block ends without an exception.

        On SQLite, writers of this process queue on an asyncio lock rather than on SQLite's busy
        handler, which sleeps in growing steps (1, 2, 5 ... 100 ms) and wastes most of the time
        when many tasks write at once. Do not open a `tx()` inside another."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction: a consistent snapshot that never waits for writers."""
        async with self.engine.connect() as conn:
            await conn.execution_options(**{READ_ONLY: True})
            async with conn.begin():
                yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()

    async def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic, on this engine's connection)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    async def revision(self) -> str | None:
        async with self.engine.connect() as conn:
            return await conn.run_sync(_current_revision)


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


async def open_database(url: str, *, migrate: bool) -> Database:
    db = Database(url)
    try:
        if migrate:
            await db.migrate()
        else:
            await db.ping()
    except BaseException:
        await db.close()
        raise
    return db


__all__ = ["Database", "alembic_config", "async_url", "insert_ignore", "now", "open_database", "sqlite_path"]


def insert_ignore(conn: AsyncConnection, table: sa.Table) -> Any:
    """`INSERT ... ON CONFLICT DO NOTHING` for this connection's dialect (SQLite or PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()
