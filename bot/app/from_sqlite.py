"""`textwire migrate --from sqlite:///PATH`: move a SQLite service's rows into an empty PostgreSQL
database (README "Moving from SQLite").

database.url names the PostgreSQL database, which must hold no rows. The SQLite file must be at
this release's schema revision and no `serve` may run on it; it is opened read-only and never
changed. The PostgreSQL database is migrated as `textwire migrate` does, then every row of every
table is copied from one read snapshot of the file, in the tables' foreign-key order, in batches,
in one PostgreSQL transaction (tables locked against other writers), each id sequence set past
the largest id copied, and the row counts compared table by table before it commits: the copy is
all there, or nothing is (the database stays migrated and empty, and the same command can run
again). The rows are copied as they are, ids included: X tokens stay encrypted under the same
Fernet keys (bound to the same user ids), and gallery links stay signed by the same key.

A precondition not met is a `StartupError` (one line, the reason and the fix; exit 2); a copy
that PostgreSQL refused or that does not add up is a `CopyFailed` (exit 1). Nothing blocks the
event loop: the file is read through aiosqlite's thread, the inserts go through asyncpg.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.app.startup import check_no_foreign_wal, open_db
from bot.core.config import Config
from bot.core.dburl import driver_error, is_postgres, mask_url, scrub
from bot.core.errors import StartupError
from bot.core.logs import get_logger
from bot.pipeline.leases import STALE_SECONDS
from storage.db import Database, head_revision, known_revisions, sqlite_path
from storage.schema import metadata, processes

log = get_logger(__name__)

BATCH_ROWS = 1000  # rows a read from the file and an INSERT (SQLAlchemy splits it further if need be)
SQLITE_HEADER = b"SQLite format 3\x00"


class CopyFailed(Exception):
    """The copy was undone (PostgreSQL refused a row, or the counts differ): one line that says
    which table and why; the target stays migrated and empty."""


@dataclass(frozen=True)
class Copied:
    tables: tuple[tuple[str, int], ...]  # (table, rows) in the order copied
    revision: str | None
    seconds: float

    @property
    def rows(self) -> int:
        return sum(n for _, n in self.tables)


def _source_path(url: str) -> Path:
    """The SQLite file `--from` names, refused in one line when it is none."""
    path = sqlite_path(url)
    if path is None and "://" not in url and "@" not in url:  # a path as it is: a SQLite file?
        raise StartupError(f"--from {url} is a path: give it as a URL, --from sqlite:///{url}")
    if path is None:
        raise StartupError(
            f"--from {mask_url(url)} is not a SQLite file: give the SQLite database as sqlite:///PATH "
            "(the database.url the SQLite service ran with, e.g. sqlite:///data/textwire.db)"
        )
    if not path.exists():
        raise StartupError(
            f"--from {url}: there is no file at {path.absolute()}: give the SQLite database's path "
            "(a relative path is from this folder; sqlite:////var/lib/textwire/textwire.db for an absolute one)"
        )
    if not path.is_file():
        raise StartupError(f"--from {url}: {path} is not a file: give the SQLite database file (textwire.db)")
    return path


def _check_file(path: Path, url: str) -> None:
    """Blocking: a readable SQLite file with no other database's -wal beside it."""
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StartupError(
            f"--from {url}: cannot read {path} ({exc.strerror}): run it as a user that may read the file"
        ) from None
    if header != SQLITE_HEADER:
        raise StartupError(
            f"--from {url}: {path} is not a SQLite database: give the SQLite service's database file "
            "(or a copy `textwire backup` made)"
        )
    check_no_foreign_wal(path, key="--from")


def _source_engine(path: Path) -> AsyncEngine:
    """The file, read-only (`mode=ro`: SQLite never writes it), one connection."""
    uri = f"{path.resolve().as_uri()}?mode=ro"

    async def connect() -> aiosqlite.Connection:
        conn = aiosqlite.connect(uri, uri=True, isolation_level=None)
        conn._thread.daemon = True  # a process that exits without closing does not hang
        return await conn

    return create_async_engine("sqlite+aiosqlite://", async_creator=connect, poolclass=NullPool)


async def _check_source(conn: AsyncConnection, url: str, now: float) -> str | None:
    """The file is a textwire database at this release's revision, and no `serve` runs on it."""
    wanted = head_revision()
    try:
        current = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError as exc:
        if "no such table" in str(driver_error(exc)):
            raise StartupError(
                f"--from {url} is not a textwire database (it has no schema revision): give the "
                "SQLite service's database file"
            ) from None
        raise StartupError(f"--from {url}: cannot read it ({_reason(exc, url)}): check the file") from None
    if current != wanted:
        if current is not None and current not in known_revisions():
            raise StartupError(
                f"--from {url} is at revision {current}, which this version ({wanted}) does not know: "
                "a newer textwire migrated it: run that release's `textwire migrate --from`"
            )
        raise StartupError(
            f"--from {url} is at revision {current or 'none'}, this version copies from {wanted}: "
            f"run this release's `textwire migrate` (or `serve`) on it first, with "
            f"TEXTWIRE_DATABASE_URL={url}, then this command again"
        )
    newest = (await conn.execute(sa.select(sa.func.max(processes.c.heartbeat_at)))).scalar()
    if newest is not None and now - float(newest) < STALE_SECONDS:
        raise StartupError(
            f"--from {url}: a textwire process still runs on it (its heartbeat {max(now - float(newest), 0):.0f} s "
            "ago): stop every `textwire serve` on it first, or texts it takes after the copy are lost"
        )
    return current


async def _rows_in(conn: AsyncConnection, table: sa.Table) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def _tables_with_rows(db: Database) -> list[str]:
    """textwire's tables of the target that hold a row (tables it does not have yet hold none)."""
    async with db.engine.connect() as conn:
        present = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
        found = []
        for table in metadata.sorted_tables:
            if (
                table.name in present
                and (await conn.execute(sa.select(sa.exists().select_from(table)))).scalar()
            ):
                found.append(table.name)
        return found


def _not_empty(masked: str, tables: list[str]) -> StartupError:
    more = f" and {len(tables) - 1} other tables" if len(tables) > 1 else ""
    return StartupError(
        f"database.url {masked} already holds rows ({tables[0]}{more}): `textwire migrate --from` copies "
        "into an empty database only: create a new one (createdb) and set database.url or "
        "TEXTWIRE_DATABASE_URL to it"
    )


def _reason(exc: BaseException, url: str) -> str:
    """The driver's error class and first line, without the URL's secrets (statements' parameters
    are never in it: the engines hide them)."""
    inner = driver_error(exc)
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return scrub(f"{type(inner).__name__}: {text}" if text else type(inner).__name__, url)[:300]


async def _copy_table(
    source: AsyncConnection, target: AsyncConnection, table: sa.Table, target_url: str
) -> int:
    """Every row of `table`, in primary-key order, BATCH_ROWS at a time; the count copied."""
    copied = 0
    result = await source.stream(sa.select(table).order_by(*table.primary_key.columns))
    async for batch in result.partitions(BATCH_ROWS):
        try:
            await target.execute(sa.insert(table), [row._asdict() for row in batch])
        except sa.exc.DBAPIError as exc:
            raise CopyFailed(
                f"PostgreSQL refused a row of {table.name} (after {copied} copied): "
                f"{_reason(exc, target_url)}: nothing was copied"
            ) from None
        copied += len(batch)
    return copied


async def _set_sequence(target: AsyncConnection, table: sa.Table) -> None:
    """The id sequence of `table` past the largest id copied (the next insert takes the next id)."""
    column = table.autoincrement_column
    if column is None:
        return
    largest = sa.select(sa.func.max(column)).scalar_subquery()
    sequence = sa.func.pg_get_serial_sequence(table.name, column.name)
    # is_called false: the next value handed out is this one
    await target.execute(sa.select(sa.func.setval(sequence, sa.func.coalesce(largest, 0) + 1, False)))


async def migrate_from(
    config: Config, source_url: str, say: Callable[[str], None] = lambda _line: None
) -> Copied:
    """Copy the SQLite database `source_url` into the empty PostgreSQL database of database.url,
    migrated first. `say`: one line a table copied."""
    target_url = config.database.url
    masked = mask_url(target_url)
    if not is_postgres(target_url):
        raise StartupError(
            f"database.url {masked} is not PostgreSQL: `textwire migrate --from` copies into PostgreSQL: "
            "set database.url or TEXTWIRE_DATABASE_URL to the new, empty PostgreSQL database"
        )
    path = _source_path(source_url)
    await asyncio.to_thread(_check_file, path, source_url)
    started = time.monotonic()
    engine = _source_engine(path)
    try:
        async with engine.connect() as source:
            try:
                await source.exec_driver_sql("BEGIN")  # one snapshot of the file for the whole copy
            except (sa.exc.DBAPIError, sqlite3.Error) as exc:
                raise StartupError(
                    f"--from {source_url}: cannot open it ({_reason(exc, source_url)})"
                ) from None
            revision = await _check_source(source, source_url, time.time())
            db = await open_db(target_url, migrate=False)
            try:
                found = await _tables_with_rows(db)
                if found:
                    raise _not_empty(masked, found)
                await db.migrate()
                tables = await _copy(source, db, masked)
                for name, rows in tables:
                    say(f"{name}: {rows} row{'' if rows == 1 else 's'}")
            finally:
                await db.close()
    finally:
        await engine.dispose()
    copied = Copied(tables=tables, revision=revision, seconds=time.monotonic() - started)
    log.info("db.copied", tables=len(tables), rows=copied.rows, seconds=round(copied.seconds, 2))
    return copied


async def _copy(source: AsyncConnection, db: Database, masked: str) -> tuple[tuple[str, int], ...]:
    """Every table, in one transaction of the target's that commits only when each table's count
    matches the file's."""
    tables = metadata.sorted_tables  # parents before children: each foreign key finds its row
    quote = db.engine.dialect.identifier_preparer.quote
    done: list[tuple[str, int]] = []
    async with db.engine.begin() as target:
        # other writers wait (a `serve` started on it meanwhile): the empty check below holds
        await target.exec_driver_sql(
            f"LOCK TABLE {', '.join(quote(t.name) for t in tables)} IN EXCLUSIVE MODE"
        )
        found = [
            t.name for t in tables if (await target.execute(sa.select(sa.exists().select_from(t)))).scalar()
        ]
        if found:
            raise _not_empty(masked, found)
        for table in tables:
            copied = await _copy_table(source, target, table, db.url)
            await _set_sequence(target, table)
            expected, landed = await _rows_in(source, table), await _rows_in(target, table)
            if not expected == copied == landed:
                raise CopyFailed(
                    f"{table.name}: the file has {expected} rows, {copied} were read and PostgreSQL "
                    f"holds {landed}: nothing was copied; run it again"
                )
            done.append((table.name, copied))
    return tuple(done)


__all__ = ["BATCH_ROWS", "Copied", "CopyFailed", "migrate_from"]
