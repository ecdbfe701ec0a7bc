"""storage/lean.py and `Database.fetch`: one-statement reads, compiled once, one trip on SQLite;
the same rows as a `read()` through SQLAlchemy, on both databases."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from storage import lean, rooms, xaccounts
from storage.db import Database, open_database
from storage.schema import memberships, users
from storage.schema import rooms as rooms_table
from tests import pg

USERS_SINCE = lean.Query(
    sa.select(users.c.id, users.c.phone, (users.c.id > 1).label("later"))
    .where(users.c.created_at >= sa.bindparam("since"), users.c.phone != "+15550009999")
    .order_by(users.c.id)
)


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
    assert (await rooms.rooms_with_active(db, alice)) == ([house], None)  # committed: trips at once
    assert await rooms.find_by_name(db, "HOUSE") == house
    assert await rooms.find_by_name(db, "cellar") is None
    assert await xaccounts.load_tokens(db, alice) is None


async def test_a_missing_parameter_is_an_error_not_a_null(db: Database) -> None:
    with pytest.raises(sa.exc.SQLAlchemyError, match=r"value is required for bind parameter .since."):
        await db.fetch(USERS_SINCE, {})


async def test_an_expanding_in_list_is_rendered_per_call(db: Database) -> None:
    ids = await add_users(db, "+15550001111", "+15550002222", "+15550003333")
    query = lean.Query(sa.select(users.c.phone).where(users.c.id.in_(sa.bindparam("ids", expanding=True))))
    assert [r.phone for r in await db.fetch(query, {"ids": ids[:2]})] == ["+15550001111", "+15550002222"]
    assert [r.phone for r in await db.fetch(query, {"ids": [ids[2]]})] == ["+15550003333"]
    assert await db.fetch(query, {"ids": []}) == []
    async with db.write() as conn:
        with pytest.raises(sa.exc.SQLAlchemyError, match="expanding"):
            await conn.execute(query, [{"ids": ids}, {"ids": ids}])


async def test_write_commits_a_batch_and_rolls_back_on_an_error(db: Database) -> None:
    """`write()` (a LeanTx on SQLite, `tx()` on PostgreSQL): executemany, RETURNING, a statement
    built per call, rowcount; an exception in the block undoes every statement of it."""
    insert = lean.Query(sa.insert(users).returning(users.c.id, users.c.phone))
    touch = lean.Query(
        sa.update(users).where(users.c.id == sa.bindparam("b_id")).values(created_at=sa.bindparam("b_at"))
    )
    async with db.write() as conn:
        first = (await conn.execute(insert, {"phone": "+15550001111", "created_at": 1.0})).first()
        assert first is not None
        assert first.phone == "+15550001111"
        many = await conn.execute(touch, [{"b_id": first.id, "b_at": 5.0}, {"b_id": -1, "b_at": 5.0}])
        if isinstance(conn, lean.LeanTx):  # asyncpg reports no rowcount for executemany
            assert many.rowcount == 1
        other = await conn.execute(sa.insert(users).values(phone="+15550002222", created_at=2.0))
        assert other.rowcount == 1
    assert [r.phone for r in await db.fetch(USERS_SINCE, {"since": 0.0})] == ["+15550001111", "+15550002222"]

    async def duplicate() -> None:
        async with db.write() as conn:
            await conn.execute(touch, {"b_id": first.id, "b_at": 9.0})
            await conn.execute(insert, {"phone": "+15550002222", "created_at": 3.0})  # taken: unique

    async def failing() -> None:
        async with db.write() as conn:
            await conn.execute(touch, {"b_id": first.id, "b_at": 9.0})
            raise RuntimeError("the block failed")

    with pytest.raises(sa.exc.IntegrityError):  # the driver's error, as SQLAlchemy raises it
        await duplicate()
    with pytest.raises(RuntimeError):
        await failing()
    async with db.read() as conn:  # neither touch landed; the lock is free again
        assert (
            await conn.execute(sa.select(users.c.created_at).where(users.c.id == first.id))
        ).scalar() == 5.0
    async with db.tx() as conn:
        await conn.execute(sa.delete(users).where(users.c.id == first.id))


async def test_on_sqlite_a_fetch_is_one_trip_on_a_read_only_connection_of_its_own(
    sqlite_db: Database, trips: list[str]
) -> None:
    await add_users(sqlite_db, "+15550001111")
    await sqlite_db.fetch(USERS_SINCE, {"since": 0.0})  # opens the reader
    trips.clear()
    assert len(await sqlite_db.fetch(USERS_SINCE, {"since": 0.0})) == 1
    assert trips == ["_run"]
    pool = sqlite_db.engine.sync_engine.pool
    assert pool.checkedout() == 0  # the pool was not touched
    reader = sqlite_db._lean_reader
    assert reader is not None
    assert not reader._conn.in_transaction  # autocommit: no snapshot kept
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        await reader._statement("DELETE FROM users", None, many=False)
    await sqlite_db.close()
    assert sqlite_db._lean_reader is None


async def test_on_sqlite_write_is_one_trip_a_statement_on_a_connection_of_its_own(
    sqlite_db: Database, trips: list[str]
) -> None:
    touch = lean.Query(
        sa.update(users).where(users.c.id == sa.bindparam("b_id")).values(created_at=sa.bindparam("b_at"))
    )
    [uid] = await add_users(sqlite_db, "+15550001111")
    async with sqlite_db.write():  # opens the writer; an empty transaction takes no lock
        pass
    trips.clear()
    async with sqlite_db.write() as conn:
        assert isinstance(conn, lean.LeanTx)
        await conn.execute(touch, [{"b_id": uid, "b_at": 7.0}] * 3)
        await conn.execute(touch, {"b_id": uid, "b_at": 8.0})
        assert sqlite_db.write_lock is not None
        assert sqlite_db.write_lock.locked()  # tx() of this process waits for it
    assert trips == ["_run", "_run", "_end"]  # BEGIN IMMEDIATE + UPDATE, UPDATE, COMMIT
    assert sqlite_db.engine.sync_engine.pool.checkedout() == 0
    assert [r.id for r in await sqlite_db.fetch(USERS_SINCE, {"since": 8.0})] == [uid]


async def test_on_sqlite_many_concurrent_fetches_share_the_reader(sqlite_db: Database) -> None:
    import asyncio

    ids = await add_users(sqlite_db, *(f"+1555000{n:04d}" for n in range(50)))
    found = await asyncio.gather(*(sqlite_db.fetch(USERS_SINCE, {"since": float(n)}) for n in range(50)))
    assert [len(rows) for rows in found] == [50 - n for n in range(50)]
    assert [r.id for r in found[0]] == ids
    async with sqlite_db.tx() as conn:  # a writer meanwhile: readers never wait for it
        await conn.execute(sa.delete(rooms_table))
        assert len(await sqlite_db.fetch(USERS_SINCE, {"since": 0.0})) == 50


async def test_deferred_statements_ride_with_the_next_trip_in_order(
    sqlite_db: Database, trips: list[str]
) -> None:
    """`write_later` on a LeanTx: no trip of its own; the next statement sees its effect; the
    last ones go with COMMIT. On an AsyncConnection it runs at once (PostgreSQL's write())."""
    touch = lean.Query(
        sa.update(users).where(users.c.id == sa.bindparam("b_id")).values(created_at=sa.bindparam("b_at"))
    )
    ids = await add_users(sqlite_db, "+15550001111", "+15550002222")
    async with sqlite_db.write():
        pass
    trips.clear()
    async with sqlite_db.write() as conn:
        await lean.write_later(conn, touch, [{"b_id": i, "b_at": 20.0} for i in ids])
        await lean.write_later(conn, touch, {"b_id": ids[0], "b_at": 30.0})
        assert trips == []
        rows = (await conn.execute(USERS_SINCE, {"since": 20.0})).all()  # sees both, in order
        assert [r.id for r in rows] == ids
        await lean.write_later(conn, touch, {"b_id": ids[1], "b_at": 40.0})
        await lean.write_later(conn, touch, [])  # nothing to do: nothing queued
    assert trips == ["_run", "_end"]  # BEGIN + 2 deferred + SELECT; UPDATE + COMMIT
    rows = await sqlite_db.fetch(USERS_SINCE, {"since": 0.0})
    assert [(r.id, r.later) for r in rows] == [(ids[0], False), (ids[1], True)]
    async with sqlite_db.read() as conn:
        assert (await conn.execute(sa.select(users.c.created_at).order_by(users.c.id))).scalars().all() == [
            30.0,
            40.0,
        ]


async def test_a_database_error_never_carries_the_statements_parameters(db: Database) -> None:
    """An error's text is logged (`handler.failed` renders the exception): its parameters were a
    caption, a message body, a media URL. On the lean path and through SQLAlchemy alike."""
    await add_users(db, "+15550001111")
    row = {"phone": "+15550001111", "created_at": 1.0, "name": "hunter22"}
    with pytest.raises(sa.exc.IntegrityError) as lean_error:
        async with db.write() as conn:
            await conn.execute(lean.Query(sa.insert(users)), row)
    with pytest.raises(sa.exc.IntegrityError) as core_error:
        async with db.tx() as conn:
            await conn.execute(sa.insert(users).values(**row))
    for error in (lean_error.value, core_error.value):
        assert "INSERT INTO users" in str(error)  # the statement, for the operator
        assert "hunter22" not in str(error)
        assert "+15550001111" not in str(error)


async def test_a_failing_deferred_statement_fails_the_transaction(db: Database) -> None:
    [uid] = await add_users(db, "+15550001111")
    touch = lean.Query(sa.update(users).where(users.c.id == uid).values(created_at=sa.bindparam("at")))
    clash = lean.Query(sa.insert(users))

    async def block() -> None:
        async with db.write() as conn:
            await lean.write_later(conn, touch, {"at": 9.0})
            await lean.write_later(conn, clash, {"phone": "+15550001111", "created_at": 1.0})

    with pytest.raises(sa.exc.IntegrityError):  # raised at COMMIT's trip on SQLite, at once elsewhere
        await block()
    async with db.read() as conn:  # the update before it was rolled back with it
        assert (await conn.execute(sa.select(users.c.created_at))).scalar() == 0.0


def test_lean_statements_compile_for_the_two_drivers_only() -> None:
    """SQLite's driver (qmark) and asyncpg ($1) run lean statements; another driver would need its
    own parameter style and result conversion: refused, not run wrongly."""
    from sqlalchemy.dialects.postgresql import asyncpg, psycopg

    assert USERS_SINCE.for_dialect(asyncpg.dialect(), {"since": 0.0}).sql.count("$1") == 1
    with pytest.raises(TypeError, match="asyncpg only, not psycopg"):
        USERS_SINCE.for_dialect(psycopg.dialect(), {"since": 0.0})


@pytest.fixture
async def pg_db(pg_server_or_skip: pg.PgServer) -> AsyncIterator[Database]:
    name = pg_server_or_skip.create_database()
    database = await open_database(pg_server_or_skip.url_of(name), migrate=True)
    yield database
    await database.close()
    pg_server_or_skip.drop_database(name)


async def test_on_postgresql_fetch_and_write_run_on_the_driver_not_sqlalchemys_pool(pg_db: Database) -> None:
    touch = lean.Query(
        sa.update(users).where(users.c.id == sa.bindparam("b_id")).values(created_at=sa.bindparam("b_at"))
    )
    alice, bob = await add_users(pg_db, "+15550001111", "+15550002222")
    pool = pg_db.engine.sync_engine.pool
    before = pool.checkedin() + pool.checkedout()
    async with pg_db.write() as conn:
        assert isinstance(conn, lean.PgTx)
        await conn.execute(touch, [{"b_id": alice, "b_at": 7.0}, {"b_id": bob, "b_at": 7.0}])
        assert (await conn.execute(touch, {"b_id": bob, "b_at": 8.0})).rowcount == 1
        assert (await conn.execute(touch, {"b_id": 999, "b_at": 8.0})).rowcount == 0
        seen = (await conn.execute(USERS_SINCE, {"since": 7.0})).all()
        assert [(r.id, r.later) for r in seen] == [(alice, False), (bob, True)]  # its own writes
        assert pool.checkedout() == 0
    rows = await pg_db.fetch(USERS_SINCE, {"since": 8.0})
    assert [r.id for r in rows] == [bob]
    assert type(rows[0].later) is bool
    assert pool.checkedin() + pool.checkedout() == before  # SQLAlchemy's pool was not touched


async def test_a_cancelled_write_rolls_back_and_frees_what_it_held(db: Database) -> None:
    """SQLite: the process's write lock; PostgreSQL: the row lock and the pooled connection."""
    [uid] = await add_users(db, "+15550001111")
    touch = lean.Query(sa.update(users).where(users.c.id == uid).values(created_at=sa.bindparam("at")))
    inside = asyncio.Event()

    async def stuck() -> None:
        async with db.write() as conn:
            await conn.execute(touch, {"at": 9.0})
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [r.id for r in await db.fetch(USERS_SINCE, {"since": 9.0})] == []  # rolled back
    async with db.write() as conn:  # nothing of it is held: no wait
        await asyncio.wait_for(conn.execute(touch, {"at": 10.0}), 10)
    async with db.tx() as conn:
        assert (await conn.execute(sa.select(users.c.created_at))).scalar() == 10.0


async def test_on_postgresql_an_error_is_the_engines_after_a_compile_for_a_bare_dialect(
    pg_db: Database,
) -> None:
    """A statement's compiled form is kept per dialect name: compiled first for a dialect with
    no driver loaded (`asyncpg.dialect()`, as a test or a tool builds one), a failing run on the
    engine raised `NoDBAPILoaded` instead of the database's error."""
    from sqlalchemy.dialects.postgresql import asyncpg

    divide = lean.Query(
        sa.select((sa.bindparam("a", type_=sa.Integer) / sa.bindparam("b", type_=sa.Integer)).label("q"))
    )
    divide.for_dialect(asyncpg.dialect(), {"a": 1, "b": 0})
    with pytest.raises(sa.exc.DBAPIError, match="division by zero"):
        await pg_db.fetch(divide, {"a": 1, "b": 0})
    with pytest.raises(sa.exc.DBAPIError, match="division by zero"):
        async with pg_db.write() as conn:
            await conn.execute(divide, {"a": 1, "b": 0})


async def test_on_postgresql_after_the_server_drops_every_connection_fetch_and_write_reconnect(
    pg_server_or_skip: pg.PgServer, pg_db: Database
) -> None:
    """At most one failed statement (the caller retries), never a pool of dead connections."""
    await add_users(pg_db, "+15550001111")

    async def both() -> None:
        await pg_db.fetch(USERS_SINCE, {"since": 0.0})
        async with pg_db.write() as conn:
            await conn.execute(USERS_SINCE, {"since": 0.0})

    await asyncio.gather(*(both() for _ in range(4)))  # a few pooled connections
    name = urlsplit(pg_db.url).path.lstrip("/")

    pg_server_or_skip.terminate_connections(name)
    try:  # asyncpg sees an idle connection close and the pool replaces it; one in use fails once
        await pg_db.fetch(USERS_SINCE, {"since": 0.0})
    except sa.exc.DBAPIError as exc:
        assert exc.connection_invalidated  # noqa: PT017 - either outcome is right, not only this one
    await asyncio.gather(*(both() for _ in range(4)))  # every pooled connection is fresh


async def test_on_postgresql_a_connection_killed_in_a_write_fails_that_write_only(
    pg_server_or_skip: pg.PgServer, pg_db: Database
) -> None:
    [uid] = await add_users(pg_db, "+15550001111")
    touch = lean.Query(sa.update(users).where(users.c.id == uid).values(created_at=sa.bindparam("at")))
    name = urlsplit(pg_db.url).path.lstrip("/")

    async def write_across_the_kill() -> None:
        async with pg_db.write() as conn:
            await conn.execute(touch, {"at": 3.0})
            pg_server_or_skip.terminate_connections(name)
            await conn.execute(touch, {"at": 4.0})

    with pytest.raises(sa.exc.DBAPIError) as info:
        await write_across_the_kill()
    assert info.value.connection_invalidated
    assert [r.id for r in await pg_db.fetch(USERS_SINCE, {"since": 3.0})] == []  # nothing of it landed
    async with pg_db.write() as conn:
        await conn.execute(touch, {"at": 5.0})
    assert [r.id for r in await pg_db.fetch(USERS_SINCE, {"since": 5.0})] == [uid]


def _module_globals() -> list[tuple[str, object]]:
    """Every module-level name of the four packages, as `module.name` (migrations and the CLI's
    `__main__` left out), and the statements of each claim queue there, as `module.name.query`."""
    import importlib
    import pkgutil

    from storage.queue import ClaimQueue

    found: list[tuple[str, object]] = []
    for package in ("bot", "handlers", "storage", "scheduler"):
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if ".migrations" in info.name or info.name.endswith("__main__"):
                continue
            for name, value in vars(importlib.import_module(info.name)).items():
                found.append((f"{info.name}.{name}", value))
                if isinstance(value, ClaimQueue):
                    found += [(f"{info.name}.{name}.{key}", q) for key, q in value.queries().items()]
    return found


def _all_queries() -> list[tuple[str, lean.Query]]:
    """Every `Query` the code base builds at import."""
    found: dict[int, tuple[str, lean.Query]] = {}
    for name, value in _module_globals():
        if isinstance(value, lean.Query):
            found.setdefault(id(value), (name, value))
    return sorted(found.values(), key=lambda item: item[0])


def _sample(bind: sa.BindParameter[object], n: int) -> object:
    python_type: object = None
    with contextlib.suppress(NotImplementedError):
        python_type = bind.type.python_type
    if python_type is bool:
        return n % 2 == 0
    if python_type is int:
        return n + 7
    if python_type is float:
        return n + 2  # an int: the bind processor makes it a float
    return f"v{n}"


def _typed(values: tuple[object, ...]) -> list[tuple[str, object]]:
    """Values with their types: True == 1 and 2 == 2.0, but a driver may not see them alike."""
    return [(type(value).__name__, value) for value in values]


def test_the_parameters_plan_gives_what_construct_params_gives() -> None:
    """`Compiled._planned` (the hot path's conversion) against `construct_params` + `_converted`,
    for every Query of the code base on both drivers: every value given, the optional ones left
    out (their own values, or None), and a required one missing (the same error)."""
    from sqlalchemy.dialects.postgresql import asyncpg
    from sqlalchemy.dialects.sqlite import aiosqlite

    queries = _all_queries()
    assert len(queries) >= 10  # the hot path's claims, outcomes and marks among them
    planned = named = 0
    for dialect in (aiosqlite.dialect(), asyncpg.dialect()):
        for name, query in queries:
            compiled = query.for_dialect(dialect)
            if compiled.expanding:
                continue
            binds = list(compiled.compiled.bind_names)
            full = {bind.key: _sample(bind, n) for n, bind in enumerate(binds)}
            compiled = query.for_dialect(dialect, full)
            if compiled.plan is None:
                continue
            binds = list(compiled.compiled.bind_names)  # this compilation's own
            planned += 1
            required = {bind.key for bind in binds if bind.required}

            def slow(params: dict[str, object], compiled: lean.Compiled = compiled) -> tuple[object, ...]:
                return lean._converted(
                    compiled.compiled.construct_params(params), compiled.positions, compiled.bind_processors
                )

            assert _typed(compiled._planned(full)) == _typed(slow(full)), name
            assert compiled.parameters(full) == (compiled.sql, slow(full)), name
            if not compiled.returns_rows:
                assert compiled.many([full, full]) == (compiled.sql, [slow(full), slow(full)]), name
            given = {key: value for key, value in full.items() if key in required}
            if given:
                assert _typed(compiled._planned(given)) == _typed(slow(given)), name
            # a bind given by its name where its key differs (`.values(status=...)` binds)
            by_name = {
                compiled.compiled.bind_names[bind]: _sample(bind, n + 50)
                for n, bind in enumerate(binds)
                if compiled.compiled.bind_names[bind] != bind.key
            }
            if by_name:
                named += 1
                assert _typed(compiled._planned({**given, **by_name})) == _typed(
                    slow({**given, **by_name})
                ), name
            for key in sorted(required)[:1]:
                missing = {k: v for k, v in full.items() if k != key}
                with pytest.raises(sa.exc.InvalidRequestError, match="value is required"):
                    compiled._planned(missing)
    assert planned >= 10
    assert named >= 2


def test_a_statement_with_a_value_computed_per_call_keeps_construct_params() -> None:
    counter = iter(range(100))
    query = lean.Query(
        sa.update(users).values(created_at=sa.bindparam("at", callable_=lambda: float(next(counter))))
    )
    from sqlalchemy.dialects.sqlite import aiosqlite

    compiled = query.for_dialect(aiosqlite.dialect(), {"x": 1})
    assert compiled.plan is None
    assert compiled.parameters({"x": 1})[1] != compiled.parameters({"x": 1})[1]  # computed each time


def _module_statements() -> list[tuple[str, sa.Executable]]:
    """The statements the code base builds at import: `Query`s and plain SQLAlchemy ones."""
    found: dict[int, tuple[str, sa.Executable]] = {}
    for name, value in _module_globals():
        statement = value.statement if isinstance(value, lean.Query) else value
        if isinstance(statement, (sa.Select, sa.Update, sa.Delete, sa.Insert)):
            found.setdefault(id(statement), (name, statement))
    return sorted(found.values(), key=lambda item: item[0])


def test_no_statement_binds_a_value_against_a_partial_index_condition() -> None:
    """SQLite compares a bound value in a WHERE with the conditions of the table's partial indexes
    when it plans a statement, and then plans it again every time the value is bound: on every
    execution. The worker's claim spent most of its time so (`status = ?` against
    ix_inbox_sender_done's `status = 'done'`). Such values are written as literals
    (`storage.schema.literal`)."""
    import re

    from sqlalchemy.sql import operators, visitors

    from storage.schema import metadata

    watched: dict[str, set[str]] = {}  # table -> columns some partial index's condition names
    for table in metadata.tables.values():
        for index in table.indexes:
            where = index.dialect_options["sqlite"]["where"]
            if where is not None:
                watched.setdefault(table.name, set()).update(
                    c.name for c in table.columns if re.search(rf"\b{c.name}\b", str(where))
                )
    assert watched["inbox"] == {"status"}

    def table_of(column: object) -> str | None:
        table = getattr(column, "table", None)
        table = getattr(table, "element", table)  # an alias of the table
        return getattr(table, "name", None)

    statements = _module_statements()
    assert any(name == "storage.inbox.QUEUE.claiming" for name, _ in statements)
    offending = []
    for name, statement in statements:
        for element in visitors.iterate(statement):
            if not isinstance(element, sa.BinaryExpression) or not operators.is_comparison(element.operator):
                continue
            for column, other in ((element.left, element.right), (element.right, element.left)):
                if not isinstance(column, sa.ColumnClause) or column.name not in watched.get(
                    table_of(column) or "", set()
                ):
                    continue
                if any(isinstance(part, sa.BindParameter) for part in visitors.iterate(other)):
                    offending.append(f"{name}: {column.name}")
    assert offending == []
