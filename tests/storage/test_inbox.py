"""storage/inbox.py on both databases: the webhook's batch insert (a MessageSid is stored once), the
worker's claims in per-sender order (priority rows first; a sender's later message waits for every
unfinished one before it; parked rows let the line go on; rows not yet due wait), the outcomes
written in one go (only by the claim's owner), the per-sender count, and the purge of handled
rows."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from storage import inbox
from storage.db import Database
from storage.schema import inbox as inbox_table
from tests.conftest import ALICE, BOB, new_message

CAROL = "+15550003333"
T0 = 1_800_000_000.0
LEASE = 60.0


def new(body: str, sender: str = ALICE, *, priority: int = 0, sid: str | None = None) -> inbox.NewMessage:
    return new_message(
        sid or f"SM{body.replace(' ', '_'):0>32}",
        sender,
        body,
        media=(("https://media.example/1", "image/jpeg"),) if body.startswith("photo") else (),
        opt_out_type="STOP" if priority else "",
        priority=priority,
        received_at=T0,
    )


async def add(db: Database, *messages: inbox.NewMessage) -> dict[str, int]:
    """Insert in order, one batch; body -> id."""
    await inbox.insert_new(db, messages)
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(inbox_table.c.body, inbox_table.c.id))).all()
    return {str(r.body): int(r.id) for r in rows}


async def claim(db: Database, now: float = T0, *, limit: int = 10, owner: str = "w1") -> list[str]:
    """One claim; the bodies of the rows it took, in the order the worker gets them."""
    async with db.write() as conn:
        rows = await inbox.QUEUE.claim(conn, now=now, limit=limit, owner=owner, lease=LEASE)
    return [str(r.body) for r in rows]


async def settle(
    db: Database,
    finished: Sequence[inbox.Finished] = (),
    rescheduled: Sequence[inbox.Rescheduled] = (),
    owner: str = "w1",
) -> None:
    async with db.write() as conn:
        await inbox.settle_many(conn, owner, finished, rescheduled)


async def row(db: Database, row_id: int) -> sa.Row[tuple[object, ...]]:
    async with db.read() as conn:
        return (await conn.execute(sa.select(inbox_table).where(inbox_table.c.id == row_id))).one()


async def test_insert_new_stores_a_message_sid_once(db: Database) -> None:
    first, other = new("first"), new("other", BOB)
    again = dataclasses.replace(first, body="first, redelivered")
    assert await inbox.insert_new(db, [first, other, again]) == {first.message_sid, other.message_sid}
    assert await inbox.insert_new(db, [again, new("third")]) == {new("third").message_sid}
    assert await inbox.insert_new(db, []) == set()
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(inbox_table).order_by(inbox_table.c.id))).all()
    assert [(r.message_sid, r.body) for r in rows] == [
        (first.message_sid, "first"),  # the first one kept, not the redelivery
        (other.message_sid, "other"),
        (new("third").message_sid, "third"),
    ]
    assert {(r.status, r.attempts, r.next_attempt_at, r.received_at) for r in rows} == {
        ("pending", 0, 0.0, T0)
    }


async def test_every_field_of_a_message_is_stored(db: Database) -> None:
    photo = new("photo caption", priority=1)
    ids = await add(db, photo)
    stored = await row(db, ids["photo caption"])
    assert (stored.message_sid, stored.account_sid, stored.from_phone, stored.to_phone) == (
        photo.message_sid,
        photo.account_sid,
        ALICE,
        "+15557654321",
    )
    assert json.loads(stored.media) == [["https://media.example/1", "image/jpeg"]]
    assert (stored.opt_out_type, stored.priority, stored.idempotency_token) == ("STOP", 1, None)


async def test_the_sqlite_appender_inserts_a_batch_once(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("the appender is the SQLite file's")
    appender = inbox.SqliteAppender(db)
    await appender.open()
    first = new("first")
    assert await appender.append([first, new("second"), first]) == {
        first.message_sid,
        new("second").message_sid,
    }
    assert await appender.append([first]) == set()
    await appender.close()
    assert set(await add(db)) == {"first", "second"}


async def test_a_claim_takes_priority_rows_first_then_each_senders_first_message(db: Database) -> None:
    ids = await add(
        db,
        new("a1"),
        new("b1", BOB),
        new("a stop", priority=1),  # after a1, before a2
        new("a2"),
        new("b2", BOB),
        new("c1", CAROL),
    )
    # Alice's STOP skips the line (a1 is unfinished); each sender's first ordinary message
    assert await claim(db) == ["a stop", "a1", "b1", "c1"]
    assert await claim(db) == []  # a2 and b2 wait for the rows before them
    claimed = await row(db, ids["a1"])
    assert (claimed.status, claimed.claimed_by, claimed.claimed_until, claimed.attempts) == (
        "processing",
        "w1",
        T0 + LEASE,
        1,
    )

    await settle(db, [inbox.Finished(ids["b1"], "done", T0 + 1), inbox.Finished(ids["a1"], "done", T0 + 1)])
    # b2 is next for Bob; a2 still waits for Alice's STOP (earlier than a2, and unfinished)
    assert await claim(db) == ["b2"]
    await settle(db, [inbox.Finished(ids["a stop"], "done", T0 + 2)])
    assert await claim(db) == ["a2"]


async def test_a_claim_stops_at_its_limit_in_priority_then_arrival_order(db: Database) -> None:
    await add(db, new("a1"), new("b1", BOB), new("c1", CAROL), new("c stop", CAROL, priority=1))
    assert await claim(db, limit=2) == ["c stop", "a1"]
    assert await claim(db, limit=2, owner="w2") == ["b1", "c1"]


async def test_an_earlier_priority_row_holds_a_later_one(db: Database) -> None:
    """STOP then START run in their order: a priority row waits for an earlier priority row."""
    ids = await add(db, new("stop", priority=1), new("start", priority=1))
    assert await claim(db) == ["stop"]
    assert await claim(db) == []
    await settle(db, [inbox.Finished(ids["stop"], "done", T0)])
    assert await claim(db) == ["start"]


async def test_rescheduled_rows_wait_until_due_and_parked_ones_let_the_line_go_on(db: Database) -> None:
    ids = await add(db, new("a1"), new("a2"), new("b1", BOB), new("b2", BOB))
    assert await claim(db) == ["a1", "b1"]
    await settle(
        db,
        rescheduled=[
            inbox.Rescheduled(ids["a1"], at=T0 + 100, error="retry"),  # pending again: holds a2
            inbox.Rescheduled(ids["b1"], at=T0 + 100, status="parked", refund=True),  # b2 goes on
        ],
    )
    assert await claim(db) == ["b2"]
    a1, b1 = await row(db, ids["a1"]), await row(db, ids["b1"])
    assert (a1.status, a1.next_attempt_at, a1.error, a1.attempts, a1.claimed_by) == (
        "pending",
        T0 + 100,
        "retry",
        1,
        None,
    )
    assert (b1.status, b1.attempts) == ("parked", 0)  # a deferral is not an attempt
    assert await claim(db, T0 + 100) == ["a1", "b1"]  # due now


async def test_one_senders_parked_rows_come_back_one_at_a_time_in_order(db: Database) -> None:
    """Three texts parked until X's rate-limit reset were all due at once and claimed together:
    handled side by side, they were posted in any order. They come back one at a time, in order;
    another sender's parked row and a later text of the same sender go on meanwhile."""
    ids = await add(db, new("a1"), new("a2"), new("a3"), new("b1", BOB), new("a4"))
    assert await claim(db) == ["a1", "b1"]
    await settle(db, rescheduled=[inbox.Rescheduled(ids["b1"], at=T0 + 100, status="parked")])
    for body in ("a1", "a2", "a3"):
        if body != "a1":
            assert await claim(db) == [body]  # each a head in turn: parked, it lets the next go on
        await settle(db, rescheduled=[inbox.Rescheduled(ids[body], at=T0 + 100, status="parked")])
    assert await claim(db, T0 + 100) == ["a1", "b1", "a4"]  # not a2 nor a3: a1 runs
    assert await claim(db, T0 + 100) == []
    await settle(db, [inbox.Finished(ids["a1"], "done", T0 + 101)])
    assert await claim(db, T0 + 101) == ["a2"]
    await settle(db, rescheduled=[inbox.Rescheduled(ids["a2"], at=T0 + 500, status="parked")])
    assert await claim(db, T0 + 102) == ["a3"]  # an earlier row parked again, not yet due: no wait


async def test_outcomes_are_written_only_by_the_claims_owner(db: Database) -> None:
    ids = await add(db, new("a1"), new("b1", BOB))
    assert await claim(db, owner="w1") == ["a1", "b1"]
    await settle(db, [inbox.Finished(ids["a1"], "done", T0 + 5)], owner="someone-else")
    assert (await row(db, ids["a1"])).status == "processing"

    await settle(
        db,
        [
            inbox.Finished(ids["a1"], "done", T0 + 5, body="\\JOIN house ***"),
            inbox.Finished(ids["b1"], "failed", T0 + 6, error="boom"),
        ],
    )
    a1, b1 = await row(db, ids["a1"]), await row(db, ids["b1"])
    assert (a1.status, a1.done_at, a1.body, a1.error, a1.claimed_by) == (
        "done",
        T0 + 5,
        "\\JOIN house ***",
        None,
        None,
    )
    assert (b1.status, b1.done_at, b1.body, b1.error) == ("failed", T0 + 6, "b1", "boom")  # body kept


async def test_handled_since_counts_a_senders_done_rows_in_the_window(db: Database) -> None:
    ids = await add(db, new("a1"), new("a2"), new("a3"), new("b1", BOB))
    assert await claim(db) == ["a1", "b1"]
    await settle(
        db, [inbox.Finished(ids["a1"], "done", T0 - 120), inbox.Finished(ids["b1"], "done", T0 - 10)]
    )
    assert await claim(db) == ["a2"]
    await settle(db, [inbox.Finished(ids["a2"], "done", T0 - 30)])
    assert await claim(db) == ["a3"]
    await settle(db, [inbox.Finished(ids["a3"], "failed", T0 - 5)])  # failed: not handled
    async with db.read() as conn:
        assert await inbox.handled_since(conn, ALICE, T0 - 60) == 1
        assert await inbox.handled_since(conn, ALICE, T0 - 600) == 2
        assert await inbox.handled_since(conn, BOB, T0 - 60) == 1
        assert await inbox.handled_since(conn, CAROL, 0) == 0


async def test_depth_and_purge_go_by_the_unfinished_statuses(db: Database) -> None:
    ids = await add(db, *(new(f"m{n}", f"+1555000{n:04d}") for n in range(6)))
    assert await claim(db) == [f"m{n}" for n in range(6)]
    await settle(
        db,
        [inbox.Finished(ids[f"m{n}"], "done", T0) for n in (0, 1, 2)]
        + [inbox.Finished(ids["m3"], "failed", T0)],
        [inbox.Rescheduled(ids["m4"], at=T0 + 60)],
    )  # m5 stays processing
    async with db.read() as conn:
        assert await inbox.QUEUE.depth(conn) == {"pending": 1, "processing": 1, "parked": 0}

    async with db.tx() as conn:
        assert await inbox.QUEUE.purge(conn, before=T0, limit=10) == 0  # received at T0: not before
        assert await inbox.QUEUE.purge(conn, before=T0 + 1, limit=3) == 3
        assert await inbox.QUEUE.purge(conn, before=T0 + 1, limit=3) == 1
        assert await inbox.QUEUE.purge(conn, before=T0 + 1, limit=3) == 0
    async with db.read() as conn:
        left = (await conn.execute(sa.select(inbox_table.c.body).order_by(inbox_table.c.id))).scalars().all()
    assert left == ["m4", "m5"]  # unfinished rows are never purged
