"""storage/lean.py and `Database.fetch`: one-statement reads, compiled once, one trip on SQLite;
the same rows as a `read()` through SQLAlchemy, on both databases."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from storage import lean, onehop, rooms, xaccounts
from storage.db import Database, open_database
from storage.schema import memberships, users
from storage.schema import rooms as rooms_table

USERS_SINCE = lean.Query(
    sa.select(users.c.id, users.c.phone, (users.c.id > 1).label("later"))
    .where(users.c.created_at >= sa.bindparam("since"), users.c.phone != "+15550009999")
    .order_by(users.c.id)
)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url, migrate=True)
    yield database
    await database.close()


async def add_users(db: Database, *phones: str) -> list[int]:
    async with db.tx() as conn:
        return [
            (
                await conn.execute(
                    sa.insert(users).values(phone=phone, created_at=float(n)).returning(users.c.id)
                )
            ).scalar_one()
            for n, phone in enumerate(phones)
        ]


async def test_fetch_gives_the_rows_and_types_a_read_gives(db: Database) -> None:
    await add_users(db, "+15550001111", "+15550002222", "+15550009999")
    rows = await db.fetch(USERS_SINCE, {"since": 0.0})
    async with db.read() as conn:
        expected = (await conn.execute(USERS_SINCE.statement, {"since": 0.0})).all()
    assert [tuple(r) for r in rows] == [tuple(r) for r in expected]
    assert [r.phone for r in rows] == ["+15550001111", "+15550002222"]  # the literal != binds too
    assert [r.later for r in rows] == [False, True]  # Boolean's processor: a bool, not 0/1
    assert all(type(r.later) is bool for r in rows)
    assert rows[1]._mapping["phone"] == "+15550002222"
    assert await db.fetch(USERS_SINCE, {"since": 5.0}) == []


async def test_a_storage_read_is_the_same_through_fetch_and_in_a_transaction(db: Database) -> None:
    alice, _ = await add_users(db, "+15550001111", "+15550002222")
    async with db.tx() as conn:
        house = await rooms.create(conn, name="House", password_hash="x", user_id=alice, now=1.0)
        attic = await rooms.create(conn, name="attic", password_hash="x", user_id=alice, now=2.0)
    mine, active = await rooms.rooms_with_active(db, alice)
    assert [r.name for r in mine] == ["attic", "House"]
    assert active is not None
    assert active.id == attic.id
    async with db.tx() as conn:
        assert await rooms.rooms_with_active(lean.in_tx(conn), alice) == (mine, active)
        await conn.execute(sa.delete(memberships).where(memberships.c.room_id == attic.id))
        # inside the transaction its own writes show; fetch, outside it, does not see them yet
        assert [r.name for r in (await rooms.rooms_with_active(lean.in_tx(conn), alice))[0]] == ["House"]
    assert (await rooms.rooms_with_active(db, alice)) == ([house], None)  # committed: seen at once
    assert await rooms.find_by_name(db, "HOUSE") == house
    assert await rooms.find_by_name(db, "cellar") is None
    assert await xaccounts.load_tokens(db, alice) is None


async def test_a_missing_parameter_is_an_error_not_a_null(db: Database) -> None:
    with pytest.raises(sa.exc.SQLAlchemyError, match=r"value is required for bind parameter .since."):
        await db.fetch(USERS_SINCE, {})


async def test_statements_with_execution_time_parameters_are_refused(db: Database) -> None:
    query = lean.Query(sa.select(users.c.id).where(users.c.id.in_([1, 2])))
    if db.is_postgres:  # fetch on PostgreSQL is a read(): it runs; compiling for SQLite refuses
        assert await db.fetch(query) == []
    from sqlalchemy.dialects import sqlite

    with pytest.raises(TypeError, match=r"Database\.read"):
        query.for_dialect(sqlite.dialect())


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite:///{tmp_path / 'one.db'}", migrate=True)
    yield database
    await database.close()


async def test_on_sqlite_a_fetch_is_one_trip_on_a_read_only_connection_of_its_own(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_users(sqlite_db, "+15550001111")
    await sqlite_db.fetch(USERS_SINCE, {"since": 0.0})  # opens the reader
    seen: list[str] = []
    real = onehop.OneHopConnection._execute

    async def counting(self: onehop.OneHopConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(onehop.OneHopConnection, "_execute", counting)
    assert len(await sqlite_db.fetch(USERS_SINCE, {"since": 0.0})) == 1
    assert seen == ["_run"]
    pool = sqlite_db.engine.sync_engine.pool
    assert pool.checkedout() == 0  # the pool was not touched
    reader = sqlite_db._lean
    assert reader is not None
    assert not reader._conn.in_transaction  # autocommit: no snapshot kept
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await reader._statement("DELETE FROM users", None, many=False)
    await sqlite_db.close()
    assert sqlite_db._lean is None


async def test_on_sqlite_many_concurrent_fetches_share_the_reader(sqlite_db: Database) -> None:
    import asyncio

    ids = await add_users(sqlite_db, *(f"+1555000{n:04d}" for n in range(50)))
    found = await asyncio.gather(*(sqlite_db.fetch(USERS_SINCE, {"since": float(n)}) for n in range(50)))
    assert [len(rows) for rows in found] == [50 - n for n in range(50)]
    assert [r.id for r in found[0]] == ids
    async with sqlite_db.tx() as conn:  # a writer meanwhile: readers never wait for it
        await conn.execute(sa.delete(rooms_table))
        assert len(await sqlite_db.fetch(USERS_SINCE, {"since": 0.0})) == 50
