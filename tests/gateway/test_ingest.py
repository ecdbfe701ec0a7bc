"""bot/gateway/ingest.py: the webhook's group commit into the inbox, on SQLite (the appender) and
PostgreSQL (one statement of arrays): adds that arrive together are one transaction (one
`on_commit`; on PostgreSQL the rows share their inserting transaction id), a MessageSid seen before
answers False, a batch the database refuses is tried one message at a time so that one bad row
fails only its own add, and `stop()` fails the adds still waiting instead of leaving them hanging."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from bot.core.logs import db_reason
from bot.gateway import ingest
from bot.gateway.ingest import InboxWriter
from storage import inbox
from storage.db import Database
from tests import pg
from tests.conftest import ALICE, BOB, new_message


def message(sid: str | None = None, *, body: Any = "hello", sender: str = ALICE) -> inbox.NewMessage:
    """A message as the webhook builds it; `body=None` is a row the database refuses (NOT NULL)."""
    return new_message(sid, sender, body)


class Commits:
    """The writer's `on_commit`: how many batches committed new rows."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
async def commits() -> Commits:
    return Commits()


@pytest.fixture
async def writer(db: Database, commits: Commits) -> AsyncIterator[InboxWriter]:
    started = InboxWriter(db, on_commit=commits)
    await started.start()
    yield started
    await started.stop()


async def stored(db: Database) -> dict[str, str]:
    """message_sid -> body of every inbox row."""
    async with db.read() as conn:
        rows = (await conn.execute(sa.text("SELECT message_sid, body FROM inbox"))).all()
    return {str(r.message_sid): str(r.body) for r in rows}


async def transactions(db: Database) -> int | None:
    """PostgreSQL: how many transactions inserted the inbox's rows (their `xmin`); None on SQLite."""
    if not db.is_postgres:
        return None
    async with db.read() as conn:
        return int((await conn.execute(sa.text("SELECT count(DISTINCT xmin::text) FROM inbox"))).scalar_one())


async def add_all(writer: InboxWriter, messages: list[inbox.NewMessage]) -> list[Any]:
    """Every add at once (as concurrent webhooks); each one's answer or exception."""
    return await asyncio.gather(*(writer.add(m) for m in messages), return_exceptions=True)


async def test_many_concurrent_adds_are_one_transaction(
    db: Database, writer: InboxWriter, commits: Commits
) -> None:
    messages = [message(sender=ALICE if n % 2 else BOB) for n in range(40)]
    assert await add_all(writer, messages) == [True] * 40
    assert commits.count == 1
    assert set(await stored(db)) == {m.message_sid for m in messages}
    assert await transactions(db) in (None, 1)


async def test_a_batch_holds_at_most_max_batch_messages(
    db: Database, writer: InboxWriter, commits: Commits, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "MAX_BATCH", 16)
    messages = [message() for _ in range(40)]
    assert await add_all(writer, messages) == [True] * 40
    assert commits.count == 3  # 16 + 16 + 8
    assert len(await stored(db)) == 40
    assert await transactions(db) in (None, 3)


async def test_a_message_sid_seen_before_answers_false(
    db: Database, writer: InboxWriter, commits: Commits
) -> None:
    first = message("SM" + "1" * 32, body="first")
    assert await writer.add(first) is True
    assert await writer.add(message(first.message_sid, body="again")) is False  # a redelivery
    assert commits.count == 1  # a batch of duplicates only commits nothing new: no wake-up

    second = message("SM" + "2" * 32, body="second")
    twice = [second, message(second.message_sid, body="second again"), first]
    assert await add_all(writer, twice) == [True, False, False]  # twice in one batch: new once
    assert commits.count == 2
    assert await stored(db) == {first.message_sid: "first", second.message_sid: "second"}


async def test_a_row_the_database_refuses_fails_only_its_own_add(
    db: Database, writer: InboxWriter, commits: Commits
) -> None:
    good = [message(body=f"good {n}") for n in range(3)]
    bad = message(body=None)
    results = await add_all(writer, [good[0], bad, good[1], good[2]])
    assert [results[0], results[2], results[3]] == [True, True, True]
    assert isinstance(results[1], Exception)
    assert "IntegrityError" in type(results[1]).__name__  # NOT NULL, whichever driver said it
    assert await stored(db) == {m.message_sid: m.body for m in good}
    assert commits.count == 1  # the good ones, each alone, then one wake-up


async def test_two_refusals_in_a_row_fail_the_rest_of_the_batch(
    db: Database, writer: InboxWriter, commits: Commits
) -> None:
    """Two rows refused one after the other say the database is the trouble, not a row: the rest
    of the batch fails at once (the webhooks answer 5xx and Twilio retries them)."""
    later = message(body="after two refusals")
    results = await add_all(writer, [message(body=None), message(body=None), later])
    assert all(isinstance(r, Exception) for r in results)
    assert await stored(db) == {}
    assert commits.count == 0
    assert await writer.add(message(later.message_sid, body="retried")) is True  # Twilio's retry


@contextlib.asynccontextmanager
async def inbox_writes_held(db: Database, sid: str) -> AsyncIterator[None]:
    """The writer cannot insert `sid` until the block ends: on SQLite the process's write lock is
    held (the appender takes it); on PostgreSQL another transaction has inserted the same
    MessageSid and not committed (the writer's insert waits for it), then rolls back."""
    if db.write_lock is not None:
        async with db.write_lock:
            yield
        return
    async with db.engine.connect() as conn:
        await conn.begin()
        await conn.execute(
            sa.text("INSERT INTO inbox (message_sid, from_phone, received_at) VALUES (:sid, :phone, 0)"),
            {"sid": sid, "phone": ALICE},
        )
        yield
        await conn.rollback()


async def settle(*waiting: Awaitable[Any], within: float = 10.0) -> list[Any]:
    """Each add's answer or exception; an add still waiting after `within` seconds fails the test."""
    async with asyncio.timeout(within):
        return await asyncio.gather(*waiting, return_exceptions=True)


@contextlib.asynccontextmanager
async def stopped_with_a_batch_in_flight(
    db: Database, commits: Commits
) -> AsyncIterator[tuple[asyncio.Task[bool], list[asyncio.Task[bool]], set[str]]]:
    """A writer stopped while its batch (one message) waits for the database and three more adds
    wait behind it in the queue: (the add in flight, the queued adds, their MessageSids), inside
    the hold."""
    writer = InboxWriter(db, on_commit=commits)
    await writer.start()
    first = message()
    async with inbox_writes_held(db, first.message_sid):
        in_flight = asyncio.create_task(writer.add(first))
        for _ in range(5):  # yields (not a wait): the writer takes it, and waits for the database ...
            await asyncio.sleep(0)
        behind = [message() for _ in range(3)]
        queued = [asyncio.create_task(writer.add(m)) for m in behind]  # ... these queue
        for _ in range(5):
            await asyncio.sleep(0)
        await writer.stop()
        try:
            yield in_flight, queued, {m.message_sid for m in behind}
        finally:
            for task in [in_flight, *queued]:
                task.cancel()
            await asyncio.gather(in_flight, *queued, return_exceptions=True)
    with pytest.raises(RuntimeError, match="not running"):
        await writer.add(message())


async def test_stop_fails_the_adds_waiting_in_the_queue(db: Database, commits: Commits) -> None:
    async with stopped_with_a_batch_in_flight(db, commits) as (_, queued, sids):
        results = await settle(*queued)
    assert [(type(r), str(r)) for r in results] == [(RuntimeError, "shutting down")] * 3
    assert sids.isdisjoint(await stored(db))  # never written (the one in flight: unknown)
    assert commits.count == 0


async def test_stop_fails_the_add_whose_batch_was_in_flight(db: Database, commits: Commits) -> None:
    async with stopped_with_a_batch_in_flight(db, commits) as (in_flight, _, _):
        [result] = await settle(in_flight)
    # failed by the stop, not later by the database's own timeout on the held write
    assert (type(result), str(result)) == (RuntimeError, "shutting down")


async def test_adds_before_start_are_refused(db: Database, commits: Commits) -> None:
    writer = InboxWriter(db, on_commit=commits)
    with pytest.raises(RuntimeError, match="not running"):
        await writer.add(message())
    await writer.start()
    assert await writer.add(message()) is True
    await writer.stop()


@contextlib.asynccontextmanager
async def writing_through_a_relay(
    pg_server: pg.PgServer | None,
) -> AsyncIterator[tuple[Database, InboxWriter, pg.Relay]]:
    """A running writer on a fresh PostgreSQL database reached through a `pg.Relay`, which holds
    one pooled connection (a first message stored), and the relay: thawed, and all stopped, after."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    async with pg.through_a_relay(pg_server) as (url, relay):
        db = Database(url)
        writer = InboxWriter(db, on_commit=Commits())
        await writer.start()
        try:
            assert await writer.add(message("SM-before")) is True
            yield db, writer, relay
        finally:
            relay.thaw()
            await writer.stop()
            await db.close()


async def test_a_batch_on_a_connection_that_stopped_answering_is_stored_on_a_fresh_one(
    pg_server: pg.PgServer | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL went away without closing the web process's connections (a failover, a network
    fault; seen: that process's backends frozen for 40 s while the database took new connections):
    the batch's INSERT waited on its dead connection with no end, and with it every webhook of the
    process, past Twilio's 15 s. Then it failed at STORE_SECONDS (503), and its texts were lost:
    Twilio does not send them again. The first try gives up after FIRST_TRY_SECONDS (here
    shortened), and the batch is stored on a fresh connection, well within Twilio's 15 s."""
    monkeypatch.setattr(ingest, "FIRST_TRY_SECONDS", 0.5)
    async with writing_through_a_relay(pg_server) as (db, writer, relay):
        relay.freeze()
        with capture_logs() as logs:  # (the bound here ends the test if it hangs)
            assert await asyncio.wait_for(writer.add(message("SM-frozen")), 30) is True
        [retried] = [e for e in logs if e["event"] == "inbox.write_retried"]
        assert (retried["reason"], retried["batch"]) == ("TimeoutError", 1)
        assert not [e for e in logs if e["event"] == "inbox.write_failed"]
        assert await asyncio.wait_for(writer.add(message("SM-after")), 30) is True
        assert {"SM-frozen", "SM-after"} <= set(await stored(db))


async def test_a_batch_the_database_does_not_answer_fails_at_store_seconds(
    pg_server: pg.PgServer | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole database hangs (new connections too): the batch is tried a second time, and
    fails (503) once STORE_SECONDS have passed since its first try, not later; once the database
    answers, the next batch is stored."""
    monkeypatch.setattr(ingest, "FIRST_TRY_SECONDS", 0.3)
    monkeypatch.setattr(ingest, "STORE_SECONDS", 1.0)
    async with writing_through_a_relay(pg_server) as (db, writer, relay):
        relay.freeze(new_too=True)
        with capture_logs() as logs, pytest.raises(TimeoutError) as failed:
            await asyncio.wait_for(writer.add(message("SM-frozen")), 30)
        assert db_reason(failed.value) == "TimeoutError"  # inbox.write_failed's `reason`
        assert [e["event"] for e in logs if e["event"].startswith("inbox.")] == [
            "inbox.write_retried",
            "inbox.write_failed",
        ]
        relay.thaw()
        assert await asyncio.wait_for(writer.add(message("SM-after")), 30) is True
        assert "SM-after" in await stored(db)
