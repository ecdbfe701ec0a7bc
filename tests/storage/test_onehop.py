"""storage/onehop.py: one trip to SQLite's thread per statement, same semantics as the driver;
and the worker's claim (storage/inbox.py), which must not sort the whole queue."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import inbox, onehop, outbox
from storage import users as users_store
from storage.db import Database, open_database
from storage.inbox import NewMessage
from storage.schema import inbox as inbox_table
from storage.schema import users
from tests.conftest import new_sid, wait_for


async def test_a_read_is_two_trips_and_a_write_one_per_statement_plus_commit(
    sqlite_db: Database, trips: list[str]
) -> None:
    async with sqlite_db.read() as conn:  # warm the pool: connecting is not the hot path
        await conn.execute(sa.select(users.c.id))
    trips.clear()
    async with sqlite_db.read() as conn:
        assert (await conn.execute(sa.select(users.c.id))).all() == []
    assert trips == ["_run", "_end"]  # BEGIN + SELECT, COMMIT; no rollback on check-in
    trips.clear()
    async with sqlite_db.tx() as conn:
        await conn.execute(sa.insert(users).values(phone="+15550001111", created_at=1.0))
        await conn.execute(sa.insert(users).values(phone="+15550002222", created_at=2.0))
    assert trips == ["_run", "_run", "_end"]
    async with sqlite_db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar() == 2


async def test_results_rowcount_returning_and_executemany(sqlite_db: Database) -> None:
    async with sqlite_db.tx() as conn:
        await conn.execute(
            sa.insert(users), [{"phone": f"+1555000{i:04d}", "created_at": float(i)} for i in range(5)]
        )
        result = await conn.execute(sa.update(users).where(users.c.created_at < 3).values(name="x"))
        assert result.rowcount == 3
        ids = (
            await conn.execute(sa.delete(users).where(users.c.created_at >= 3).returning(users.c.id))
        ).all()
        assert len(ids) == 2
    async with sqlite_db.read() as conn:
        rows = (await conn.execute(sa.select(users.c.phone, users.c.name).order_by(users.c.id))).all()
    assert [tuple(r) for r in rows] == [(f"+1555000{i:04d}", "x") for i in range(3)]


async def test_a_failed_statement_rolls_the_transaction_back_and_the_connection_goes_on(
    sqlite_db: Database,
) -> None:
    async with sqlite_db.tx() as conn:
        await conn.execute(sa.insert(users).values(phone="+15550001111", created_at=1.0))

    async def two_inserts_the_second_taken() -> None:
        async with sqlite_db.tx() as conn:
            await conn.execute(sa.insert(users).values(phone="+15550002222", created_at=2.0))
            await conn.execute(sa.insert(users).values(phone="+15550001111", created_at=3.0))  # unique

    with pytest.raises(sa.exc.IntegrityError):
        await two_inserts_the_second_taken()
    for _ in range(10):  # every pooled connection is usable, and none holds the write lock
        async with sqlite_db.tx() as conn:
            await conn.execute(sa.update(users).values(name="ok"))
    async with sqlite_db.read() as conn:
        phones = (await conn.execute(sa.select(users.c.phone))).scalars().all()
    assert phones == ["+15550001111"]


async def test_an_empty_transaction_takes_no_lock(sqlite_db: Database, tmp_path: Path) -> None:
    async with sqlite_db.tx():
        pass  # BEGIN IMMEDIATE was never sent: another process may write meanwhile
    other = await open_database(f"sqlite:///{tmp_path / 'one.db'}", migrate=False)
    try:
        async with sqlite_db.engine.connect() as held:
            await held.begin()  # a transaction begun but not used: still no lock
            async with other.tx() as conn:
                await asyncio.wait_for(
                    conn.execute(sa.insert(users).values(phone="+15550003333", created_at=1.0)), 5
                )
            await held.rollback()
    finally:
        await other.close()


async def test_a_write_transaction_locks_before_its_first_read(sqlite_db: Database, tmp_path: Path) -> None:
    """BEGIN IMMEDIATE rides with the first statement: a second writer (another process's
    connection) waits for the first to commit instead of failing with a stale snapshot."""
    other = await open_database(f"sqlite:///{tmp_path / 'one.db'}", migrate=False)
    order: list[str] = []
    try:
        first_read = asyncio.Event()

        async def first() -> None:
            async with sqlite_db.tx() as conn:
                await conn.execute(sa.select(users.c.id))
                first_read.set()
                await asyncio.sleep(0.2)  # holds the write lock meanwhile
                await conn.execute(sa.insert(users).values(phone="+15550001111", created_at=1.0))
                order.append("first")

        async def second() -> None:
            await first_read.wait()
            async with other.tx() as conn:
                count = (await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar()
                order.append(f"second saw {count}")

        await asyncio.gather(first(), second())
    finally:
        await other.close()
    assert order == ["first", "second saw 1"]


def _message(phone: str, *, priority: int = 0) -> NewMessage:
    return NewMessage(
        message_sid=new_sid(),
        account_sid="AC" + "1" * 32,
        from_phone=phone,
        to_phone="+15550000000",
        body="hi",
        media=(),
        opt_out_type="",
        idempotency_token=None,
        priority=priority,
        received_at=time.time(),
    )


async def test_claim_priority_then_parked_then_each_senders_head_in_order(database_url: str) -> None:
    db = await open_database(database_url, migrate=True)
    try:
        a, b, c = "+15550000001", "+15550000002", "+15550000003"
        batch = [_message(a), _message(b), _message(a), _message(c), _message(b), _message(a, priority=1)]
        async with db.tx() as conn:
            await inbox.insert_batch(conn, batch)
            ids = {
                str(sid): int(i)
                for sid, i in (
                    await conn.execute(sa.select(inbox_table.c.message_sid, inbox_table.c.id))
                ).all()
            }
            # c's message waits out a rate limit, parked until now: it skips the line too
            await conn.execute(
                sa.update(inbox_table)
                .where(inbox_table.c.message_sid == batch[3].message_sid)
                .values(status="parked", next_attempt_at=time.time() - 1)
            )
        now = time.time()
        async with db.tx() as conn:
            rows = await inbox.QUEUE.claim(conn, now=now, limit=10, owner="w1", lease=60)
        got = [r.message_sid for r in rows]
        # the priority row first; then parked c and the heads of a and b, by arrival
        assert got == [batch[5].message_sid, batch[0].message_sid, batch[1].message_sid, batch[3].message_sid]
        assert ids[batch[0].message_sid] < ids[batch[1].message_sid] < ids[batch[3].message_sid]
        async with db.tx() as conn:  # the next of a and b wait for their heads
            assert await inbox.QUEUE.claim(conn, now=now, limit=10, owner="w2", lease=60) == []
        async with db.tx() as conn:  # limit counts across the arms
            await inbox.QUEUE.release(conn, owner="w1")
            rows = await inbox.QUEUE.claim(conn, now=now, limit=2, owner="w3", lease=60)
        assert [r.message_sid for r in rows] == [batch[5].message_sid, batch[0].message_sid]
    finally:
        await db.close()


async def query_plan(
    db: Database, prefix: str, run: Callable[[AsyncConnection], Awaitable[object]]
) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN of the statement starting with `prefix` that `run` executes,
    with the parameters it was executed with."""
    executed: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith(prefix):
            executed.append((statement, parameters))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with db.tx() as conn:
            await run(conn)
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    [(sql, params)] = executed
    async with db.read() as conn:
        return [str(row[3]) for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]


async def test_the_claim_looks_senders_up_and_does_not_sort_the_queue(sqlite_db: Database) -> None:
    """Behind a backlog the claim must stop after `limit` rows: every table access is an index
    SEARCH, the "earlier message of this sender" check goes by sender (ix_inbox_waiting), and only
    the few candidates are sorted (the old statement sorted every pending row: 65 ms a claim
    behind 3,000)."""
    plan = await query_plan(
        sqlite_db,
        "UPDATE inbox",
        lambda conn: inbox.QUEUE.claim(conn, now=time.time(), limit=16, owner="w", lease=60),
    )
    table_scans = [line for line in plan if line.startswith("SCAN c_")]
    assert not table_scans, plan
    assert any(
        line.startswith("SEARCH j USING INDEX ix_inbox_waiting (from_phone=? AND id<?)") for line in plan
    ), plan
    assert sum("ix_inbox_queue" in line for line in plan) >= 2, plan
    assert plan[0] == "SEARCH inbox USING INTEGER PRIMARY KEY (rowid=?)", plan  # the claimed rows by id


async def test_the_per_sender_count_reads_the_last_minutes_done_rows_only(sqlite_db: Database) -> None:
    """The rate count of the claim's sender query goes by ix_inbox_sender_done (from_phone,
    done_at; done rows only): by the index of every message by sender (ix_inbox_sender, dropped in
    migration 0014) it read every done row the sender had kept, 15-18 ms a claim for a number with
    100,000 of them. Whether more of theirs wait goes by ix_inbox_waiting (unfinished ones only)."""
    now = time.time()
    async with sqlite_db.tx() as conn:  # known: one SELECT (a new sender's is read again after the insert)
        await users_store.get_or_create(conn, "+15550001111", now)  # the user and their address
    plan = await query_plan(
        sqlite_db,
        "SELECT users.id",
        lambda conn: users_store.senders(conn, ["+15550001111"], now=now, since=now - 60),
    )
    assert any("USING INDEX ix_inbox_sender_done (from_phone=? AND done_at>?)" in line for line in plan), plan
    assert any("ix_inbox_waiting (from_phone=?)" in line for line in plan), plan  # waiting
    assert any("ix_addresses_address (address=?)" in line for line in plan), plan  # by the address
    assert not any(line.startswith("SCAN") for line in plan), plan


async def test_the_senders_claim_stops_after_its_limit(sqlite_db: Database) -> None:
    """The outbox claim walks ix_outbox_ready in its own order (due time, then id): no sort of
    every due reply, and the claimed rows are found by id. Whether an earlier reply to the same
    address waits for its retry goes by ix_outbox_ready too (the few rows due later), not by
    ix_outbox_to (every reply the address had in 30 days)."""
    plan = await query_plan(
        sqlite_db,
        "UPDATE outbox",
        lambda conn: outbox.QUEUE.claim(conn, now=time.time(), limit=32, owner="s", lease=60),
    )
    assert plan[0] == "SEARCH outbox USING INTEGER PRIMARY KEY (rowid=?)", plan
    assert any(line.startswith("SEARCH o USING INDEX ix_outbox_ready") for line in plan), plan
    assert any(
        line == "SEARCH p USING INDEX ix_outbox_ready (status=? AND next_attempt_at>?)" for line in plan
    ), plan
    assert not any("TEMP B-TREE" in line or line.startswith("SCAN") for line in plan), plan


async def test_rollback_knows_of_a_transaction_begun_by_any_call(tmp_path: Path) -> None:
    """`rollback()` skips its trip only when no transaction is open, whichever call opened it
    (also aiosqlite's own `execute`, which SQLAlchemy does not use)."""
    connection = await onehop.connect(str(tmp_path / "raw.db"))
    try:
        await connection.execute("CREATE TABLE t (x INTEGER)")
        await connection.execute("BEGIN IMMEDIATE")
        await connection.execute("INSERT INTO t VALUES (1)")
        await connection.rollback()
        assert not connection.in_transaction
        cursor = connection.cursor()
        await cursor.execute("SELECT count(*) FROM t")
        assert await cursor.fetchall() == [(0,)]
    finally:
        await connection.close()


async def test_the_redact_job_reads_only_the_rows_it_has_to_redact(sqlite_db: Database) -> None:
    """The redact-links job (every minute, with the write lock held) goes by the partial index
    ix_outbox_unredacted: it scanned the whole outbox (30 days of replies), 11 ms for 263,600 rows."""
    plan = await query_plan(
        sqlite_db,
        "SELECT outbox.id, outbox.body",
        lambda conn: outbox.redact_sent(conn, before=time.time()),
    )
    assert any("USING INDEX ix_outbox_unredacted (created_at<?)" in line for line in plan), plan
    assert not any(line.startswith("SCAN") for line in plan), plan


async def test_the_checkpointer_copies_commits_into_the_database_file(
    sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit lands in the WAL; the database's checkpointer (on a connection of its own, every
    CHECKPOINT_SECONDS) copies it into the database file, long before the 10,000 WAL pages at
    which a writer would checkpoint by itself."""
    import shutil
    import sqlite3

    from storage import db as db_module

    monkeypatch.setattr(db_module, "CHECKPOINT_SECONDS", 0.05)
    async with sqlite_db.write() as conn:
        await conn.execute(sa.insert(users), {"phone": "+15550001111", "created_at": 0.0})
    assert sqlite_db.url.startswith("sqlite:///")
    path = Path(sqlite_db.url.removeprefix("sqlite:///"))

    def rows_in_file() -> int:  # the database file alone, without its WAL
        copy = tmp_path / "copy.db"
        shutil.copyfile(path, copy)
        try:
            reader = sqlite3.connect(copy)
            try:
                return int(
                    reader.execute("SELECT count(*) FROM users WHERE phone = '+15550001111'").fetchone()[0]
                )
            finally:
                reader.close()
        except sqlite3.DatabaseError:  # copied in the middle of a checkpoint: look again
            return 0
        finally:
            for leftover in tmp_path.glob("copy.db*"):
                leftover.unlink()

    async def in_the_file() -> bool:
        return await asyncio.to_thread(rows_in_file) == 1

    await wait_for(in_the_file, within=10.0)
    await sqlite_db.close()
    assert not sqlite_db._checkpointer.running


async def test_the_wal_gives_back_its_disk_after_a_burst(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst (the first retention run over months of rows, a flood of texts) grows the WAL; once
    it is checkpointed the next commit cuts it back to WAL_KEEP_BYTES. SQLite reuses a WAL file
    without shrinking it: after a six-month catch-up purge a serving process kept a 47 MB
    textwire.db-wal for as long as it ran."""
    from storage import db as db_module

    monkeypatch.setattr(db_module, "CHECKPOINT_SECONDS", 0.05)
    assert sqlite_db.url.startswith("sqlite:///")
    wal = Path(sqlite_db.url.removeprefix("sqlite:///") + "-wal")

    def wal_size() -> int:
        return wal.stat().st_size

    body = "x" * 1000
    async with sqlite_db.tx() as conn:  # one transaction of about 30 MB of WAL
        await conn.execute(
            sa.insert(inbox_table),
            [
                {"message_sid": new_sid(), "from_phone": "+15550001111", "body": body, "received_at": 0.0}
                for _ in range(20_000)
            ],
        )
    assert wal_size() > db_module.WAL_KEEP_BYTES

    async def cut_back() -> bool:  # a small commit (the writer's: the checkpointer runs with it)
        async with sqlite_db.write() as conn:
            await conn.execute(sa.insert(users), {"phone": new_sid()[-10:], "created_at": 0.0})
        return wal_size() <= db_module.WAL_KEEP_BYTES

    await wait_for(cut_back, within=30.0)  # a bound on a busy machine: it returns once cut back


async def test_failing_checkpoints_log_once_and_their_recovery_once(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint that fails (a full disk, an I/O error) is tried again at the next tick: the
    log says so once when they start failing and once when one works again, not four times a
    second."""
    import sqlite3

    import aiosqlite
    from structlog.testing import capture_logs

    from storage import db as db_module

    monkeypatch.setattr(db_module, "CHECKPOINT_SECONDS", 0.01)
    outcomes = iter([True, False, False, False, True, True])
    done = asyncio.Event()
    execute = aiosqlite.Connection.execute

    async def flaky(self: aiosqlite.Connection, sql: str, parameters: Any = None) -> Any:
        if sql.startswith("PRAGMA wal_checkpoint"):
            works = next(outcomes, None)
            if works is None:
                done.set()
            elif not works:
                raise sqlite3.OperationalError("disk I/O error")
        return await execute(self, sql, parameters)

    monkeypatch.setattr(aiosqlite.Connection, "execute", flaky)
    with capture_logs() as logs:
        async with sqlite_db.write() as conn:  # the writer opens: the checkpointer starts
            await conn.execute(sa.insert(users), {"phone": "+15550001111", "created_at": 0.0})
        async with asyncio.timeout(10):
            await done.wait()
        await sqlite_db.close()
    events = [e["event"] for e in logs if e["event"].startswith("db.checkpoint")]
    assert events == ["db.checkpoint_failed", "db.checkpoint_recovered"]


async def test_a_database_closed_while_its_checkpointer_connects_closes_that_connection(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed right after its first write, the database cancelled its checkpointer while that
    connected: the connect went on in aiosqlite's thread and its connection was never closed,
    and when the thread answered after the event loop had closed, "Event loop is closed" was
    raised there (a thread exception pytest put on the next test, seen in a full run)."""
    import sqlite3
    import threading
    from types import SimpleNamespace

    import aiosqlite

    from storage import db as db_module

    entered, release = threading.Event(), threading.Event()
    made: list[aiosqlite.Connection] = []
    raw: list[sqlite3.Connection] = []

    def slow_connect(database: str, **kwargs: Any) -> aiosqlite.Connection:
        conn = aiosqlite.connect(database, check_same_thread=False, **kwargs)  # looked at here
        connector = conn._connector

        def gated() -> sqlite3.Connection:
            entered.set()
            release.wait()
            raw.append(connector())
            return raw[-1]

        conn._connector = gated
        made.append(conn)
        return conn

    monkeypatch.setattr(db_module, "aiosqlite", SimpleNamespace(connect=slow_connect))
    await sqlite_db.sqlite_writer()  # the writer opens: the checkpointer starts, and connects
    task = sqlite_db._checkpointer._task
    assert task is not None
    await asyncio.to_thread(entered.wait)
    closing = asyncio.create_task(sqlite_db.close())

    async def cancelled() -> bool:
        return task.done() or task.cancelling() > 0

    await wait_for(cancelled)
    release.set()
    await closing
    [conn] = made
    await asyncio.to_thread(conn._thread.join)
    [opened] = raw
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        opened.execute("SELECT 1")


async def test_a_write_cancelled_while_its_statement_runs_leaves_no_transaction_open(
    sqlite_db: Database,
) -> None:
    """A write whose first statement (and its deferred `BEGIN IMMEDIATE`) was still running on
    the connection's thread when its task was cancelled (a shutdown, a deadline): the rollback
    read "no transaction" from before the statement ended and did nothing, so the next write on
    that connection failed with "cannot start a transaction within a transaction"
    (`worker.claim_failed`). The rollback now goes after the statement, on the connection's
    thread, and ends whatever is open there."""
    db = sqlite_db
    async with db.tx() as conn:
        await conn.execute(sa.insert(users).values(phone="+15550001111", created_at=1.0))
    writer = await db.sqlite_writer()
    entered, go = threading.Event(), threading.Event()

    def hold() -> int:
        entered.set()
        go.wait(30)
        return 1

    await writer._execute(writer._conn.create_function, "hold", 0, hold)

    async def held_write() -> None:
        async with db.write() as tx:
            await tx.execute(sa.text("UPDATE users SET created_at = hold()"))

    rollback = writer.rollback

    async def rollback_as_the_statement_ends() -> None:  # the statement ends as the rollback begins
        go.set()
        await rollback()

    task = asyncio.ensure_future(held_write())
    assert await asyncio.to_thread(entered.wait, 30)
    writer.rollback = rollback_as_the_statement_ends  # type: ignore[method-assign]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    writer.rollback = rollback  # type: ignore[method-assign]
    async with db.write() as tx:  # the next write on that connection
        await tx.execute(sa.update(users).values(created_at=7.0))
    async with db.read() as conn:
        assert (await conn.execute(sa.select(users.c.created_at))).scalars().all() == [7.0]
