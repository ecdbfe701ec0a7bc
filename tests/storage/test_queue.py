"""storage/queue.py: claims on a table of its own (not the inbox's or the outbox's rules), on a
real SQLite file and on PostgreSQL, through both kinds of write transaction (`Database.write()`,
the hot path's, and `Database.tx()`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import asyncpg
from sqlalchemy.dialects.sqlite import aiosqlite

from storage import inbox, outbox
from storage.db import Database
from storage.lean import Writer
from storage.queue import ClaimQueue
from tests.conftest import database_with_tables

metadata = sa.MetaData()
jobs = sa.Table(
    "queue_test_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("due", sa.Float, nullable=False, server_default="0"),
    sa.Column("rank", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_until", sa.Float),
    sa.Column("claimed_at", sa.Float),
    sa.Column("note", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
)
_j = jobs.alias("j")
READY = (  # due rows, earliest first
    sa.select(_j.c.id)
    .where(_j.c.status == "waiting", _j.c.due <= sa.bindparam("now"))
    .order_by(_j.c.due, _j.c.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True)
)


def make_queue(*, literal_status: bool = False) -> ClaimQueue:
    return ClaimQueue(
        jobs,
        ready=READY,
        claimed="working",
        literal_status=literal_status,
        claim_values={"claimed_at": sa.bindparam("now")},
        put_back={"status": "waiting", "note": "put back"},
        returning=(jobs.c.id, jobs.c.rank, jobs.c.attempts),
        order=lambda row: (-int(row.rank), int(row.id)),  # not the claim's order: the queue sorts
        unfinished=("waiting", "working"),
        age=jobs.c.created_at,
    )


QUEUE = make_queue()
FINISH = QUEUE.settled(note=sa.bindparam("b_note"), claimed_at=sa.bindparam("b_now"))


class Done:
    """An outcome (storage.queue.Settles)."""

    def __init__(self, id_: int, status: str = "done", note: str = "ok", now: float = 50.0) -> None:
        self.id, self.status, self.note, self.now = id_, status, note, now

    def binds(self) -> dict[str, object]:
        return {"b_note": self.note, "b_now": self.now}


Transaction = Callable[[], AbstractAsyncContextManager[Writer]]


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's database with the test table (dropped again after)."""
    async with database_with_tables(database_url, metadata) as database:
        yield database


@pytest.fixture(params=["write", "tx"])
def transaction(request: pytest.FixtureRequest, db: Database) -> Transaction:
    """`Database.write()` (a `LeanTx` on a SQLite file, a `PgTx` on PostgreSQL) or `Database.tx()`
    (SQLAlchemy's connection): the queue's statements run on either."""
    if request.param == "write":
        return db.write
    return db.tx


async def add(db: Database, *rows: dict[str, Any]) -> list[int]:
    """Insert rows (waiting, due at once, unless given), one statement each; their ids."""
    base = {"status": "waiting", "due": 0.0, "rank": 0, "claimed_by": None, "created_at": 0.0}
    async with db.tx() as conn:
        return [
            int(
                (
                    await conn.execute(sa.insert(jobs).values({**base, **row}).returning(jobs.c.id))
                ).scalar_one()
            )
            for row in rows
        ]


async def rows(db: Database) -> dict[int, dict[str, Any]]:
    async with db.read() as conn:
        found = (await conn.execute(sa.select(jobs).order_by(jobs.c.id))).all()
    return {int(r.id): dict(r._mapping) for r in found}


async def test_a_claim_takes_the_ready_rows_in_its_order_up_to_the_limit(
    db: Database, transaction: Transaction
) -> None:
    late, first, second, third, fourth = await add(
        db, {"due": 99.0}, {"due": 1.0}, {"due": 2.0, "rank": 1}, {"due": 3.0}, {"due": 4.0}
    )
    async with transaction() as conn:
        claimed = await QUEUE.claim(conn, now=10.0, limit=3, owner="w1", lease=60.0)
    # the three due first (READY's order), returned in the queue's own order: rank, then id
    assert [int(r.id) for r in claimed] == [second, first, third]
    assert [int(r.attempts) for r in claimed] == [1, 1, 1]
    table = await rows(db)
    for id_ in (first, second, third):
        assert table[id_]["status"] == "working"
        assert table[id_]["claimed_by"] == "w1"
        assert table[id_]["claimed_until"] == 70.0
        assert table[id_]["claimed_at"] == 10.0  # claim_values, with the claim's own binds
    assert table[fourth]["status"] == table[late]["status"] == "waiting"
    async with transaction() as conn:  # claimed rows are not ready; the not yet due one waits
        again = await QUEUE.claim(conn, now=10.0, limit=10, owner="w2", lease=60.0)
    assert [int(r.id) for r in again] == [fourth]
    async with transaction() as conn:
        assert await QUEUE.claim(conn, now=10.0, limit=10, owner="w2", lease=60.0) == []


async def test_release_puts_back_only_the_owners_claims(db: Database, transaction: Transaction) -> None:
    a, b, c, d = await add(db, {}, {}, {}, {})
    async with transaction() as conn:
        await QUEUE.claim(conn, now=1.0, limit=3, owner="w1", lease=60.0)
    async with transaction() as conn:
        await QUEUE.claim(conn, now=1.0, limit=1, owner="w2", lease=60.0)
    async with transaction() as conn:  # one of its rows, by id (an outcome that was not written)
        assert await QUEUE.release(conn, owner="w1", ids=[b, d]) == 1  # d is w2's
    table = await rows(db)
    assert table[b]["status"] == "waiting"
    assert (table[b]["claimed_by"], table[b]["claimed_until"], table[b]["note"]) == (None, None, "put back")
    assert table[a]["claimed_by"] == table[c]["claimed_by"] == "w1"
    assert table[d]["claimed_by"] == "w2"
    async with transaction() as conn:  # all of them (a process stopping)
        assert await QUEUE.release(conn, owner="w1") == 2
        assert await QUEUE.release(conn, owner="w1") == 0
    table = await rows(db)
    assert [table[i]["status"] for i in (a, b, c, d)] == ["waiting", "waiting", "waiting", "working"]
    async with transaction() as conn:  # put back: ready again, and a claim counts a new attempt
        claimed = await QUEUE.claim(conn, now=1.0, limit=10, owner="w3", lease=60.0)
    assert sorted((int(r.id), int(r.attempts)) for r in claimed) == [(a, 2), (b, 2), (c, 2)]


async def test_an_outcome_is_written_only_while_its_writer_holds_the_claim(
    db: Database, transaction: Transaction
) -> None:
    a, b = await add(db, {}, {})
    async with transaction() as conn:
        await QUEUE.claim(conn, now=1.0, limit=2, owner="w1", lease=60.0)
    async with transaction() as conn:  # b's claim was taken over and is w2's now
        await conn.execute(QUEUE.putting_back(jobs.c.id == b))
        assert [int(r.id) for r in await QUEUE.claim(conn, now=2.0, limit=1, owner="w2", lease=60.0)] == [b]
    async with transaction() as conn:
        await QUEUE.settle(conn, FINISH, "w1", [Done(a), Done(b, note="late")])
        await QUEUE.settle(conn, FINISH, "w1", [])  # nothing to write: no statement
    table = await rows(db)
    assert (table[a]["status"], table[a]["note"], table[a]["claimed_at"]) == ("done", "ok", 50.0)
    assert (table[a]["claimed_by"], table[a]["claimed_until"]) == (None, None)
    assert (table[b]["status"], table[b]["claimed_by"], table[b]["note"]) == ("working", "w2", "put back")
    async with transaction() as conn:
        await QUEUE.settle(conn, FINISH, "w2", [Done(b, status="failed", note="w2's")])
    table = await rows(db)
    assert (table[b]["status"], table[b]["note"], table[b]["claimed_by"]) == ("failed", "w2's", None)


async def test_putting_back_by_a_condition_leaves_unclaimed_rows_alone(db: Database) -> None:
    """What storage/leases.py does with dead owners' claims."""
    a, b, c = await add(db, {}, {}, {"status": "done", "claimed_by": "gone"})
    async with db.write() as conn:
        await QUEUE.claim(conn, now=1.0, limit=2, owner="gone", lease=60.0)
    async with db.tx() as conn:
        result = await conn.execute(QUEUE.putting_back(jobs.c.claimed_by == "gone"))
    assert result.rowcount == 2  # a finished row is not a claim, whoever it names
    table = await rows(db)
    assert [table[i]["status"] for i in (a, b, c)] == ["waiting", "waiting", "done"]
    assert table[c]["claimed_by"] == "gone"


async def test_concurrent_claimers_never_take_the_same_row(db: Database) -> None:
    """On PostgreSQL a claim skips the rows another open claim locked (SKIP LOCKED), without
    waiting for it; on SQLite the second claim waits for the first's transaction (one writer)."""
    ids = await add(db, *({} for _ in range(6)))
    first_claimed = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> list[int]:
        async with db.write() as conn:
            claimed = await QUEUE.claim(conn, now=1.0, limit=4, owner="w1", lease=60.0)
            first_claimed.set()
            await release_first.wait()
        return [int(r.id) for r in claimed]

    async def second() -> list[int]:
        async with db.write() as conn:
            claimed = await QUEUE.claim(conn, now=1.0, limit=4, owner="w2", lease=60.0)
        return [int(r.id) for r in claimed]

    one = asyncio.create_task(first())
    await first_claimed.wait()
    two = asyncio.create_task(second())
    if db.is_postgres:  # done while the first transaction is still open
        two_ids = await two
        release_first.set()
    else:
        release_first.set()
        two_ids = await two
    one_ids = await one
    assert len(one_ids) == 4
    assert sorted(one_ids + two_ids) == ids


async def test_depth_and_purge_go_by_the_unfinished_statuses(db: Database) -> None:
    await add(
        db,
        {"status": "waiting", "created_at": 1.0},
        {"status": "waiting", "created_at": 1.0},
        {"status": "done", "created_at": 1.0},
        {"status": "done", "created_at": 2.0},
        {"status": "failed", "created_at": 3.0},
        {"status": "done", "created_at": 9.0},
    )
    async with db.read() as conn:
        assert await QUEUE.depth(conn) == {"waiting": 2, "working": 0}
    async with db.tx() as conn:  # finished before 5: three, two a batch
        assert await QUEUE.purge(conn, before=5.0, limit=2) == 2
    async with db.tx() as conn:
        assert await QUEUE.purge(conn, before=5.0, limit=2) == 1
    async with db.tx() as conn:
        assert await QUEUE.purge(conn, before=5.0, limit=2) == 0
    table = await rows(db)
    assert sorted((r["status"], r["created_at"]) for r in table.values()) == [
        ("done", 9.0),
        ("waiting", 1.0),
        ("waiting", 1.0),
    ]


async def test_the_hot_statements_are_compiled_once(db: Database) -> None:
    """Claims, releases and outcomes on `Database.write()` compile their statement once per
    dialect (storage/lean.py), whatever the values."""
    queue = make_queue()
    finish = queue.settled(note=sa.bindparam("b_note"), claimed_at=sa.bindparam("b_now"))
    await add(db, *({} for _ in range(4)))
    for n in range(2):
        async with db.write() as conn:
            claimed = await queue.claim(conn, now=float(n), limit=2, owner=f"w{n}", lease=60.0)
            await queue.settle(conn, finish, f"w{n}", [Done(int(r.id)) for r in claimed[:1]])
            await queue.release(conn, owner=f"w{n}", ids=[int(r.id) for r in claimed[1:]])
    assert sorted(r["status"] for r in (await rows(db)).values()) == ["done", "done", "waiting", "waiting"]
    for query in (queue.claiming, queue.releasing_ids, finish):
        assert len(query._compiled) == 1, query.statement


def test_the_claimed_status_is_bound_or_written_as_a_literal() -> None:
    """A status column named by a partial index's condition is written into the statement
    (storage.schema.literal); any other is bound."""
    for dialect in (aiosqlite.dialect(), asyncpg.dialect()):
        bound = str(QUEUE.releasing.statement.compile(dialect=dialect))
        written = str(make_queue(literal_status=True).releasing.statement.compile(dialect=dialect))
        assert "queue_test_jobs.status = 'working'" not in bound
        assert "queue_test_jobs.status = 'working'" in written


def test_the_inbox_and_the_outbox_are_claim_queues() -> None:
    """The worker's and the sender's tables keep their own rules in one shape: the inbox's claimed
    status is a literal (ix_inbox_waiting's condition names it), a put-back outbox row is to be
    looked up at Twilio before it is sent again."""
    assert inbox.QUEUE.table.name == "inbox"
    assert "inbox.status = 'processing'" in str(inbox.QUEUE.releasing.statement)
    assert outbox.QUEUE.table.name == "outbox"
    assert "reconcile_since=outbox.updated_at" in str(outbox.QUEUE.releasing.statement)
    assert "updated_at=:now" in str(outbox.QUEUE.claiming.statement)
