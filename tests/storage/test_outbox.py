"""storage/outbox.py on both databases: queueing replies (a dedupe key queues once; held and
delayed replies), a delayed answer superseded by a newer one of its kind, the sender's claims
(due rows only, in due order), send outcomes written only by the claim's owner, delivery
callbacks that never move a status backwards, redaction of sent links, and the purge."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from handlers.post import quotes_ours
from storage import outbox
from storage.db import Database
from storage.schema import outbox as outbox_table
from tests.conftest import ALICE, BOB

T0 = 1_800_000_000.0
LEASE = 120.0


def reply(key: str, to: str = ALICE, **fields: Any) -> outbox.NewReply:
    return outbox.NewReply(to=to, body=fields.pop("body", f"reply {key}"), dedupe_key=key, now=T0, **fields)


async def queue(db: Database, *replies: outbox.NewReply) -> None:
    async with db.write() as conn:
        await outbox.enqueue_many(conn, replies)


async def rows(db: Database) -> dict[str, sa.Row[Any]]:
    """dedupe_key -> row."""
    async with db.read() as conn:
        found = (await conn.execute(sa.select(outbox_table).order_by(outbox_table.c.id))).all()
    return {str(r.dedupe_key): r for r in found}


async def claim(db: Database, now: float = T0, *, limit: int = 10, owner: str = "s1") -> list[str]:
    """One claim; the dedupe keys of the rows it took, in order."""
    async with db.write() as conn:
        claimed = await outbox.claim(conn, now=now, limit=limit, owner=owner, lease=LEASE)
    by_id = {r.id: key for key, r in (await rows(db)).items()}
    return [by_id[r.id] for r in claimed]


async def mark(db: Database, *marks: outbox.Mark, owner: str = "s1") -> None:
    async with db.write() as conn:
        await outbox.mark_many(conn, owner, marks)


async def id_of(db: Database, key: str) -> int:
    return int((await rows(db))[key].id)


async def test_a_dedupe_key_is_queued_once(db: Database) -> None:
    async with db.tx() as conn:
        assert await outbox.enqueue(conn, to=ALICE, body="hi", dedupe_key="k0", now=T0) is True
        assert await outbox.enqueue(conn, to=ALICE, body="hi again", dedupe_key="k0", now=T0) is False
    await queue(db, reply("k1"), reply("k2", BOB), reply("k1", body="twice in one batch"))
    await queue(db, reply("k2", body="queued again"), reply("k3"))
    await queue(db)  # nothing to queue
    found = await rows(db)
    assert list(found) == ["k0", "k1", "k2", "k3"]
    assert [found[k].body for k in found] == ["hi", "reply k1", "reply k2", "reply k3"]
    assert {(r.status, r.attempts, r.next_attempt_at) for r in found.values()} == {("queued", 0, T0)}


async def test_a_reply_keeps_what_it_was_queued_with(db: Database) -> None:
    await queue(
        db,
        reply("link", redact=True, kind="x-link"),
        reply("later", not_before=T0 + 30),
        reply("held", held=True),
    )
    found = await rows(db)
    assert (found["link"].redact, found["link"].redacted, found["link"].kind) == (True, False, "x-link")
    assert (found["later"].status, found["later"].next_attempt_at) == ("queued", T0 + 30)
    assert found["held"].status == "held"
    assert found["link"].created_at == T0


async def test_a_claim_takes_due_rows_in_due_order(db: Database) -> None:
    await queue(
        db,
        reply("later", not_before=T0 + 60),
        reply("first"),
        reply("soon", BOB, not_before=T0 + 10),
        reply("held", held=True),  # never sent
        reply("second"),
    )
    assert await claim(db) == ["first", "second"]
    first = (await rows(db))["first"]
    assert (first.status, first.claimed_by, first.claimed_until, first.attempts, first.updated_at) == (
        "sending",
        "s1",
        T0 + LEASE,
        1,
        T0,
    )
    assert await claim(db) == []
    assert await claim(db, T0 + 60, limit=1) == ["soon"]  # due first
    assert await claim(db, T0 + 60) == ["later"]
    assert await claim(db, T0 + 3600) == []
    assert (await rows(db))["held"].status == "held"


async def test_a_delayed_reply_that_fell_due_goes_before_its_numbers_later_replies(db: Database) -> None:
    """Behind a backlog (a restart, a slow Twilio), replies queued after a delayed one fell due
    must not overtake it: the person would read the answers out of order (m2 before m0)."""
    await queue(db, reply("m0", not_before=T0 + 30), reply("m1", not_before=T0 + 31))
    later = T0 + 40
    await queue(
        db,
        outbox.NewReply(to=ALICE, body="m2", dedupe_key="m2", now=later),
        outbox.NewReply(to=BOB, body="bob", dedupe_key="bob", now=later),
    )
    assert await claim(db, later, limit=1) == ["m0"]
    assert await claim(db, later) == ["m1", "m2", "bob"]


async def test_a_reply_waits_while_another_sender_sends_the_one_before_it(db: Database) -> None:
    """Two worker processes: the answer to a person's second text was claimed by one sender while
    the other still held the answer to the first, and reached the phone first. It waits until
    that one is done; its own sender's earlier sends hold it back no more (the sender orders its
    own), and other numbers' replies go."""
    await queue(db, reply("a0"))
    assert await claim(db, owner="s1") == ["a0"]
    await queue(db, reply("a1"), reply("bob", BOB))
    assert await claim(db, owner="s2") == ["bob"]
    assert await claim(db, owner="s2") == []
    await mark(db, outbox.Mark(await id_of(db, "a0"), "sent", T0 + 1, twilio_sid="SMa0"), owner="s1")
    assert await claim(db, owner="s2") == ["a1"]
    await mark(db, outbox.Mark(await id_of(db, "a1"), "sent", T0 + 2, twilio_sid="SMa1"), owner="s2")

    await queue(db, reply("a2"), reply("a3"))
    assert await claim(db, owner="s1", limit=1) == ["a2"]
    assert await claim(db, owner="s1") == ["a3"]  # s1 sends them in order itself


async def test_a_claim_side_by_side_with_another_leaves_the_later_reply_to_a_number(db: Database) -> None:
    """Two senders claiming at the same moment on PostgreSQL: the second skipped the first reply
    to a number, locked by the first claim and not committed yet, and took the second reply,
    which then went out first. It waits for the other claim and leaves that reply."""
    await queue(db, reply("a0"), reply("a1"))
    first_claimed, release_first = asyncio.Event(), asyncio.Event()

    async def first() -> list[int]:
        async with db.write() as conn:
            claimed = await outbox.claim(conn, now=T0, limit=1, owner="s1", lease=LEASE)
            first_claimed.set()
            await release_first.wait()
        return [int(r.id) for r in claimed]

    one = asyncio.create_task(first())
    await first_claimed.wait()
    two = asyncio.create_task(claim(db, owner="s2"))
    while db.is_postgres and not two.done():  # until the second claim has run or waits
        async with db.read() as conn:
            waiting = await conn.scalar(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
        if waiting:
            break
        await asyncio.sleep(0.01)
    release_first.set()
    assert await one == [await id_of(db, "a0")]
    assert await two == []


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_a_claim_left_open_by_a_frozen_process_holds_the_other_senders_only_a_while(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Senders claim one at a time: a process frozen (or cut off by the network, its connection
    left open) in the middle of its claim would have held every other sender's claim for good.
    PostgreSQL ends a claim's transaction left waiting that long, lock and claims with it."""
    monkeypatch.setattr(outbox, "CLAIM_IDLE_MS", 300)
    await queue(db, reply("a0"), reply("bob", BOB))
    frozen = asyncio.Event()

    async def first() -> None:
        async with db.write() as conn:
            await outbox.claim(conn, now=T0, limit=1, owner="s1", lease=LEASE)
            frozen.set()
            await asyncio.Event().wait()  # never commits

    one = asyncio.create_task(first())
    await frozen.wait()
    try:
        async with asyncio.timeout(60):  # a safety net: before, it waited for good
            assert await claim(db, owner="s2") == ["a0", "bob"]
    finally:
        one.cancel()
        await asyncio.gather(one, return_exceptions=True)


async def test_outcomes_are_written_only_by_the_claims_owner_and_keep_what_they_leave_out(
    db: Database,
) -> None:
    await queue(db, reply("a"), reply("b", redact=True))
    assert await claim(db) == ["a", "b"]
    a, b = await id_of(db, "a"), await id_of(db, "b")
    await mark(db, outbox.Mark(a, "sent", T0 + 1, twilio_sid="SMa"), owner="another-process")
    assert (await rows(db))["a"].status == "sending"

    await mark(
        db,
        outbox.Mark(a, "queued", T0 + 1, twilio_sid="SMa", next_attempt_at=T0 + 30, error="429"),
        outbox.Mark(b, "sent", T0 + 2, twilio_sid="SMb", sent_at=T0 + 2, body="[link removed]"),
    )
    found = await rows(db)
    assert (found["a"].status, found["a"].twilio_sid, found["a"].next_attempt_at, found["a"].error) == (
        "queued",
        "SMa",
        T0 + 30,
        "429",
    )
    assert (found["a"].claimed_by, found["a"].claimed_until) == (None, None)
    assert (found["b"].status, found["b"].sent_at, found["b"].body, found["b"].redacted) == (
        "sent",
        T0 + 2,
        "[link removed]",
        True,
    )

    assert await claim(db, T0 + 30) == ["a"]  # retried: the sid it had is kept when none is given
    await mark(db, outbox.Mark(a, "sent", T0 + 31, sent_at=T0 + 31))
    found = await rows(db)
    assert (found["a"].twilio_sid, found["a"].error, found["a"].attempts) == ("SMa", None, 2)
    async with db.read() as conn:
        assert await outbox.known_sids(conn, ["SMa", "SMb", "SMzzz"]) == {"SMa", "SMb"}
        assert await outbox.known_sids(conn, []) == set()


async def sent_with_sid(db: Database, key: str, sid: str) -> None:
    await queue(db, reply(key))
    assert key in await claim(db)
    await mark(db, outbox.Mark(await id_of(db, key), "sent", T0, twilio_sid=sid, sent_at=T0))


async def delivery(db: Database, sid: str, status: str, code: str | None = None) -> bool:
    async with db.tx() as conn:
        return await outbox.record_delivery(conn, sid, status, code, T0 + 5)


async def test_a_delivery_status_never_moves_backwards(db: Database) -> None:
    await sent_with_sid(db, "k", "SMk")
    assert await delivery(db, "SMk", "sent") is True
    assert await delivery(db, "SMk", "delivered") is True
    assert await delivery(db, "SMk", "sent") is False  # a late callback
    assert await delivery(db, "SMk", "queued") is False
    assert await delivery(db, "SMk", "undelivered", "30003") is False
    assert await delivery(db, "SMk", "delivered") is False  # the same status: nothing to apply
    assert (await rows(db))["k"].delivery_status == "delivered"
    assert await delivery(db, "SMk", "read") is True
    assert (await rows(db))["k"].delivery_status == "read"


async def test_a_failed_delivery_keeps_its_error_code(db: Database) -> None:
    await sent_with_sid(db, "k", "SMk")
    assert await delivery(db, "SMk", "failed", "30007-" + "x" * 40) is True
    row = (await rows(db))["k"]
    assert (row.delivery_status, row.error_code, row.updated_at) == ("failed", "30007-" + "x" * 10, T0 + 5)
    assert await delivery(db, "SMk", "delivered") is True  # a later status still moves it on


async def test_unknown_statuses_and_sids_change_nothing(db: Database) -> None:
    await sent_with_sid(db, "k", "SMk")
    assert await delivery(db, "SMk", "no-such-status") is False
    assert await delivery(db, "SMother", "delivered") is False
    assert (await rows(db))["k"].delivery_status is None


async def test_a_newer_delayed_answer_supersedes_the_waiting_ones_of_its_kind(db: Database) -> None:
    await queue(
        db,
        reply("old link", kind="x-link", not_before=T0 + 60),
        reply("due link", kind="x-link"),  # due now: sent, not superseded
        reply("help", kind="help", not_before=T0 + 60),  # another kind
        reply("bob link", BOB, kind="x-link", not_before=T0 + 60),  # another number
        reply("tried link", kind="x-link"),
    )
    assert await claim(db) == ["due link", "tried link"]
    tried, due = await id_of(db, "tried link"), await id_of(db, "due link")
    # tried once and waiting for its retry: it may have reached the number, so it is not skipped
    await mark(db, outbox.Mark(tried, "queued", T0, next_attempt_at=T0 + 60), outbox.Mark(due, "sent", T0))
    await queue(db, reply("just due", kind="x-link"))  # due now, the sender about to take it
    newer = reply("new link", kind="x-link", not_before=T0 + 90)
    async with db.write() as conn:
        assert await outbox.supersede(conn, newer) == 1
        await outbox.enqueue_many(conn, [newer])
    async with db.write() as conn:  # the same answer again (its message handled a second time)
        assert await outbox.supersede(conn, newer) == 0  # it does not supersede itself
    found = await rows(db)
    assert (found["old link"].status, found["old link"].error) == ("skipped", outbox.SUPERSEDED)
    assert {k: r.status for k, r in found.items() if k != "old link"} == {
        "due link": "sent",
        "help": "queued",
        "bob link": "queued",
        "tried link": "queued",
        "just due": "queued",
        "new link": "queued",
    }


async def test_redact_sent_replaces_the_body_of_sent_links_once(db: Database) -> None:
    await queue(db, reply("sent link", redact=True), reply("plain"), reply("new link", redact=True))
    async with db.tx() as conn:
        await conn.execute(
            sa.update(outbox_table)
            .where(outbox_table.c.dedupe_key.in_(["sent link", "plain"]))
            .values(status="sent")
        )
        await conn.execute(
            sa.update(outbox_table).where(outbox_table.c.dedupe_key == "new link").values(created_at=T0 + 100)
        )
        assert await outbox.redact_sent(conn, before=T0 + 50) == 1
        assert await outbox.redact_sent(conn, before=T0 + 50) == 0
        await conn.execute(
            sa.update(outbox_table).where(outbox_table.c.dedupe_key == "new link").values(created_at=T0)
        )
        assert await outbox.redact_sent(conn, before=T0 + 50) == 0  # still queued: chat may show it
    found = await rows(db)
    # its words before the link stay (no link here: all of them), as the sender's redaction keeps
    assert (found["sent link"].body, found["sent link"].redacted) == (
        outbox.redacted("reply sent link"),
        True,
    )
    assert found["plain"].body == "reply plain"
    assert (found["new link"].body, found["new link"].redacted) == ("reply new link", False)


async def test_the_redact_job_keeps_a_welcomes_words_for_a_reaction_to_them(db: Database) -> None:
    """In development the links stay until the redact job runs (chat shows them first); it left
    `REDACTED` alone, and an iPhone's tapback on the welcome, quoting its start, no longer matched
    a text of ours and was posted to X. It keeps the words before the link, as the sender's
    redaction does; never the link."""
    welcome = "Welcome to textwire! Connect X to post your texts: https://tw.test/link/Abc123.sig"
    await queue(db, reply("welcome", body=welcome, redact=True))
    async with db.tx() as conn:
        await conn.execute(sa.update(outbox_table).values(status="sent"))
        assert await outbox.redact_sent(conn, before=T0 + 50) == 1
    body = (await rows(db))["welcome"].body
    assert body == "[redacted: contained a link] Welcome to textwire! Connect X to post your texts:"
    async with db.read() as conn:
        said = [text for text, _ in await outbox.last_said(conn, ALICE, T0 - 1, limit=5)]
    assert quotes_ours("Loved \u201cWelcome to textwire! Connect X to post your texts:\u2026\u201d", said)


async def test_depth_and_purge_go_by_the_unfinished_statuses(db: Database) -> None:
    await queue(
        db,
        *(reply(f"r{n}", not_before=0.0 if n < 4 else T0 + 10) for n in range(6)),
        reply("held", held=True),
    )
    assert await claim(db, limit=3) == ["r0", "r1", "r2"]
    ids = {k: r.id for k, r in (await rows(db)).items()}
    await mark(db, outbox.Mark(ids["r0"], "sent", T0), outbox.Mark(ids["r1"], "failed", T0))  # r2 sending
    async with db.read() as conn:
        assert await outbox.QUEUE.depth(conn) == {"queued": 3, "sending": 1}

    async with db.tx() as conn:
        assert await outbox.QUEUE.purge(conn, before=T0, limit=10) == 0  # created at T0: not before
        assert await outbox.QUEUE.purge(conn, before=T0 + 1, limit=2) == 2
        assert await outbox.QUEUE.purge(conn, before=T0 + 1, limit=2) == 1
        assert await outbox.QUEUE.purge(conn, before=T0 + 1, limit=2) == 0
    assert sorted(await rows(db)) == ["r2", "r3", "r4", "r5"]  # queued and sending stay


def test_a_sent_link_keeps_its_words_before_any_link_or_figure() -> None:
    """A sent text that carried a link keeps the words before it (a phone's reaction quotes the
    text's start), never a link, a signature, a code or an expiry."""
    cases = {
        "Welcome to textwire! Connect X to post your texts: https://t.example/x/link/abc (10 min).": (
            "Welcome to textwire! Connect X to post your texts:"
        ),
        "Your code: 415140. Within 10 minutes, send \\PAIR 415140 from your other number": "Your code:",
        "Receipts of house (1 hour): http://127.0.0.1:8080/rooms/u/receipts?exp=1&sig=x": "Receipts of house (",
        "https://t.example/x/link/abc": "",
        "Statement\n for  November: ftp+x://h/s?sig=1": "Statement for November:",
    }
    for body, head in cases.items():
        kept = outbox.redacted(body)
        assert kept == (f"{outbox.REDACTED} {head}" if head else outbox.REDACTED), body
        assert outbox.was_redacted(kept)
        assert not any(secret in kept for secret in ("abc", "415140", "sig=", "exp=", "://"))
