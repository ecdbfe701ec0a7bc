"""Claims outlive their owner, never more (issue 9 item 4), and replies whose outcome is unknown
are looked up at Twilio before they are sent again (issue 10 item 9)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from bot.app.assembly import build_app
from bot.app.runtime import RUNTIME
from bot.core.config import Config, replace
from bot.core.deps import Deps
from bot.core.logs import db_reason
from bot.pipeline import leases as pipeline_leases
from bot.pipeline.leases import HEARTBEAT_SECONDS, STALE_SECONDS, Leases, Watch
from storage import leases
from storage.db import Database, open_database
from storage.schema import inbox, outbox, processes
from tests import pg
from tests.conftest import ALICE, BOB, Bot, BotFactory, new_sid, wait_for

CAROL = "+15550003333"


async def _second_process(bot: Bot, aiohttp_client: Any) -> Bot:
    """Another process on the same SQLite file (same config), started now."""
    client: TestClient[Any, Any] = await aiohttp_client(build_app(bot.config, run_scheduler=False))
    return Bot(client=client, config=bot.config, token=bot.token)


async def _claimed_rows(bot: Bot, owner: str, *, heartbeat: float | None) -> tuple[str, int]:
    """An inbox row `processing` and an outbox row `sending`, both claimed by `owner` (with a
    processes row when `heartbeat` is given)."""
    now = time.time()
    sid = new_sid()
    async with bot.runtime.deps.db.tx() as conn:
        if heartbeat is not None:
            await conn.execute(
                sa.insert(processes).values(id=owner, started_at=heartbeat, heartbeat_at=heartbeat)
            )
        await conn.execute(
            sa.insert(inbox).values(
                message_sid=sid,
                from_phone=BOB,
                body="\\HELP",
                status="processing",
                claimed_by=owner,
                claimed_until=now + 300,
                attempts=1,
                received_at=now,
            )
        )
        result = await conn.execute(
            sa.insert(outbox).values(
                dedupe_key="other:0",
                to_phone=ALICE,
                body="an earlier reply",
                status="sending",
                claimed_by=owner,
                claimed_until=now + 120,
                attempts=1,
                created_at=now,
                updated_at=now,
            )
        )
        outbox_id = int(result.inserted_primary_key[0])
    return sid, outbox_id


@contextlib.asynccontextmanager
async def _beating(bot: Bot, owner: str) -> AsyncIterator[None]:
    """`owner` heartbeats as a live process does, every HEARTBEAT_SECONDS, until the block ends
    (then it stops, as a process killed with kill -9 does: its row stays)."""
    stop = asyncio.Event()

    async def beat() -> None:
        while not stop.is_set():
            async with bot.runtime.deps.db.tx() as conn:
                await leases.heartbeat(conn, owner, time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_SECONDS)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        stop.set()
        await task


async def test_a_starting_process_leaves_a_live_processs_claims_alone(
    frequent_looks: None, bot: Bot, fake_twilio: Any, aiohttp_client: Any
) -> None:
    """The owner beats all along (a heartbeat written once was a live process's for STALE_SECONDS
    only: on a host slow enough for the steps to take that long, its claims were taken over)."""
    sid, outbox_id = await _claimed_rows(bot, "other-live", heartbeat=time.time())
    async with _beating(bot, "other-live"):
        second = await _second_process(bot, aiohttp_client)
        # from a third number: Bob's texts wait behind the message the owner holds, and replies
        # to Alice behind the reply it is sending (storage/outbox.py)
        form = await second.text("\\HELP", sender=CAROL)
        assert await second.handled(form["MessageSid"]) == "done"
        await fake_twilio.wait_for_messages(1)
        # nothing of the live owner's was touched: not at start-up, not by the running processes
        assert await bot.scalar(
            "SELECT status || ' ' || claimed_by FROM inbox WHERE message_sid = :s", s=sid
        ) == ("processing other-live")
        assert await bot.scalar(
            "SELECT status || ' ' || claimed_by FROM outbox WHERE id = :i", i=outbox_id
        ) == ("sending other-live")
        assert [m["Body"] for m in fake_twilio.messages if m["To"] == ALICE] != ["an earlier reply"]

    # the owner stops heartbeating: a live process takes its claims over
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(
            sa.update(processes).where(processes.c.id == "other-live").values(heartbeat_at=0.0)
        )
    assert await second.handled(sid) == "done"

    async def sent() -> bool:
        return await bot.scalar("SELECT status FROM outbox WHERE id = :i", i=outbox_id) == "sent"

    await wait_for(sent)
    await second.settled()
    assert sum(1 for m in fake_twilio.messages if m["Body"] == "an earlier reply") == 1
    assert fake_twilio.list_requests >= 1  # it was looked up before it was sent


async def test_a_reply_twilio_took_before_its_owner_died_is_not_sent_again(
    frequent_looks: None, bot: Bot, fake_twilio: Any
) -> None:
    claimed_at = time.time() - 1
    _, outbox_id = await _claimed_rows(bot, "dead-owner", heartbeat=None)
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(sa.update(outbox).where(outbox.c.id == outbox_id).values(updated_at=claimed_at))
    # what Twilio took from the dead owner, and an older message with the same text
    fake_twilio.messages.append(
        {
            "To": ALICE,
            "From": "+15557654321",
            "Body": "an earlier reply",
            "sid": "SM" + "a" * 32,
            "date_created": format_datetime(datetime.fromtimestamp(claimed_at - 3600, UTC), usegmt=True),
        }
    )
    fake_twilio.messages.append(
        {
            "To": ALICE,
            "From": "+15557654321",
            "Body": "an earlier reply",
            "sid": "SM" + "b" * 32,
            "date_created": format_datetime(datetime.now(UTC), usegmt=True),
        }
    )

    async def sent() -> Any:
        row = (await bot.rows("SELECT status, twilio_sid FROM outbox WHERE id = :i", i=outbox_id))[0]
        return row.status == "sent" and row.twilio_sid

    assert await wait_for(sent) == "SM" + "b" * 32
    await bot.settled()
    assert [m["sid"] for m in fake_twilio.messages if m["To"] == ALICE] == ["SM" + "a" * 32, "SM" + "b" * 32]


async def test_when_twilio_cannot_be_asked_the_reply_is_sent_again(
    frequent_looks: None, bot: Bot, fake_twilio: Any
) -> None:
    fake_twilio.list_failures.append(503)
    _, outbox_id = await _claimed_rows(bot, "dead-owner", heartbeat=None)

    async def sent() -> bool:
        return await bot.scalar("SELECT status FROM outbox WHERE id = :i", i=outbox_id) == "sent"

    await wait_for(sent)
    await bot.settled()
    assert fake_twilio.list_requests == 1
    assert [m["Body"] for m in fake_twilio.messages].count("an earlier reply") == 1


async def test_a_timed_out_send_that_twilio_took_is_not_sent_twice(
    bot_factory: BotFactory, fake_twilio: Any
) -> None:
    bot = await bot_factory(twilio=fake_twilio.section(timeout_seconds=0.2))
    fake_twilio.delay_after_accepting = 1.0
    form = await bot.text("\\HELP")

    async def sent() -> Any:
        rows = await bot.rows(
            "SELECT o.status, o.twilio_sid, o.attempts FROM outbox o JOIN inbox i ON o.inbox_id = i.id"
            " WHERE i.message_sid = :s",
            s=form["MessageSid"],
        )
        return rows and rows[0].status == "sent" and rows[0]

    row = await wait_for(sent)
    await bot.settled()
    assert row.attempts == 2  # timed out, then found at Twilio
    assert fake_twilio.requests == 1
    assert [m["sid"] for m in fake_twilio.messages] == [row.twilio_sid]


async def test_a_timed_out_send_keeps_the_delivery_status_twilio_reported_meanwhile(
    bot_factory: BotFactory, fake_twilio: Any
) -> None:
    """Twilio took the reply and answered too late; its status callback ("undelivered", 30003:
    the phone is unreachable) came while the row had no sid yet, found no row, and was lost:
    once the reply was found at Twilio the row said sent, with no delivery status for good."""
    bot = await bot_factory(twilio=fake_twilio.section(timeout_seconds=0.2))
    fake_twilio.delay_after_accepting = 1.0
    await bot.text("\\HELP")
    taken = (await fake_twilio.wait_for_messages(1))[0]
    taken.update(status="undelivered", error_code="30003")  # what Twilio lists for it from now on
    form = {
        "MessageSid": taken["sid"],
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
        "AccountSid": fake_twilio.account_sid,
    }
    resp = await bot.post(form, path="/twilio/status")
    assert resp.status == 200

    async def sent() -> Any:
        rows = await bot.rows("SELECT status, twilio_sid, delivery_status, error_code FROM outbox")
        return rows[0].status == "sent" and rows[0]

    row = await wait_for(sent)
    assert row.twilio_sid == taken["sid"]
    assert (row.delivery_status, row.error_code) == ("undelivered", "30003")
    await bot.settled()
    assert fake_twilio.requests == 1


async def test_a_job_runs_once_per_interval_across_processes(bot: Bot) -> None:
    deps = bot.runtime.deps
    one, two = Leases(deps, "process-one"), Leases(deps, "process-two")
    assert await one.take_job("retention", 60.0)
    assert not await two.take_job("retention", 60.0)
    assert not await one.take_job("retention", 60.0)
    async with deps.db.tx() as conn:
        await conn.execute(sa.text("UPDATE job_leases SET until = 0"))
    assert await two.take_job("retention", 60.0)


async def test_a_job_lease_goes_by_the_database_clock_not_a_skewed_process_clock(bot: Bot) -> None:
    """Three processes whose clocks disagree by an hour each way (another machine's skew, an NTP
    step). The one ahead took the job's lease while another held it (its clock said the lease
    was over) and ran the job early; a lease taken by the one behind was over at once by the
    others' clocks. The database's clock decides."""
    deps = bot.runtime.deps
    ahead = dataclasses.replace(deps, clock=lambda: time.time() + 3600)
    behind = dataclasses.replace(deps, clock=lambda: time.time() - 3600)
    one, early, late = (
        Leases(deps, "process-one"),
        Leases(ahead, "process-ahead"),
        Leases(behind, "process-behind"),
    )

    assert await one.take_job("retention", 60.0)
    assert not await early.take_job("retention", 60.0)  # one still holds it
    assert await late.take_job("refresh", 60.0)
    assert not await one.take_job("refresh", 60.0)  # late still holds it
    assert not await early.take_job("refresh", 60.0)
    async with deps.db.read() as conn:
        untils = dict((await conn.execute(sa.text("SELECT job_id, until FROM job_leases"))).all())
    for until in untils.values():  # a minute from now, by the one clock they share
        assert time.time() + 50 < until < time.time() + 70


async def test_stopping_releases_only_its_own_claims(bot: Bot, aiohttp_client: Any) -> None:
    sid, outbox_id = await _claimed_rows(bot, "other-live", heartbeat=time.time())
    async with _beating(bot, "other-live"):  # alive however long the steps take
        second = await _second_process(bot, aiohttp_client)
        assert second.client.app[RUNTIME].worker.owner != "other-live"
        await second.client.close()
        assert await bot.scalar("SELECT claimed_by FROM inbox WHERE message_sid = :s", s=sid) == "other-live"
        assert await bot.scalar("SELECT claimed_by FROM outbox WHERE id = :i", i=outbox_id) == "other-live"


async def _claim_one_each(db: Database, owner: str, now: float) -> None:
    """`owner` claims a message (processing) and a reply (sending), as a live process holds them."""
    async with db.tx() as conn:
        await conn.execute(
            sa.insert(inbox).values(
                message_sid=new_sid(), from_phone=BOB, body="hi", status="processing", claimed_by=owner,
                claimed_until=now + 300, attempts=1, received_at=now,
            )
        )  # fmt: skip
        await conn.execute(
            sa.insert(outbox).values(
                dedupe_key="k:0", to_phone=BOB, body="a reply", status="sending", claimed_by=owner,
                claimed_until=now + 120, attempts=1, created_at=now, updated_at=now,
            )
        )  # fmt: skip


async def _claims(db: Database) -> list[Any]:
    """The one message's and the one reply's (status, claimed_by)."""
    async with db.read() as conn:
        return [
            tuple((await conn.execute(sa.select(inbox.c.status, inbox.c.claimed_by))).one()),
            tuple((await conn.execute(sa.select(outbox.c.status, outbox.c.claimed_by))).one()),
        ]


async def test_a_live_process_whose_clock_runs_behind_keeps_its_claims(db: Database) -> None:
    """Its heartbeats are a minute old by our clock (another machine's skew, or our clock stepped
    forward), but they keep changing: it is alive, and its claims are left alone. Judged by the
    wall clock, every beat took them over, and their replies went twice. Once its heartbeat stops
    changing for STALE_SECONDS of our monotonic clock, it is dead and they are taken over."""
    now = time.time()
    clock = [1000.0]
    deps = Deps(config=Config(), db=db, http=None)  # type: ignore[arg-type]
    leases = Leases(deps, "watcher", monotonic=lambda: clock[0])

    async def skewed_beats(n: int) -> None:  # every 2 s, a minute behind our clock
        async with db.tx() as conn:
            at = now - 60 + 2 * n
            if n == 0:
                await conn.execute(sa.insert(processes).values(id="skewed", started_at=at, heartbeat_at=at))
            else:
                await conn.execute(
                    sa.update(processes).where(processes.c.id == "skewed").values(heartbeat_at=at)
                )

    await skewed_beats(0)
    assert await leases.beat() == (0, 0)  # nothing claimed yet
    await _claim_one_each(db, "skewed", now)  # the skewed process claims a message and a reply
    for n in range(1, 20):
        clock[0] += 2.0
        await skewed_beats(n)
        assert await leases.beat() == (0, 0)
        assert await _claims(db) == [("processing", "skewed"), ("sending", "skewed")]

    for _ in range(int(STALE_SECONDS / 2) - 1):  # it stops beating, and we go on ...
        clock[0] += 2.0
        assert await leases.beat() == (0, 0)
    clock[0] += 2.0  # ... for STALE_SECONDS
    assert await leases.beat() == (1, 1)
    assert await _claims(db) == [("pending", None), ("queued", None)]


async def test_the_takeover_line_names_the_process_whose_claims_it_took(db: Database) -> None:
    """After kill -9 of a worker, the only line about its texts was `leases.taken_over` with two
    counts, written by whichever process beat first (a web process, often): with several
    processes, nothing said whose claims they were. It names the dead owners (host-pid-random,
    the pid the operator killed)."""
    now = time.time()
    clock = [1000.0]
    deps = Deps(config=Config(), db=db, http=None)  # type: ignore[arg-type]
    watcher = Leases(deps, "watcher", monotonic=lambda: clock[0])
    async with db.tx() as conn:
        await conn.execute(
            sa.insert(processes).values(id="host-4242-abcdef", started_at=now, heartbeat_at=now)
        )
    assert await watcher.beat() == (0, 0)
    await _claim_one_each(db, "host-4242-abcdef", now)
    with capture_logs() as logs:
        for _ in range(int(STALE_SECONDS / 2)):  # it never beats again
            clock[0] += 2.0
            await watcher.beat()
    taken = [e for e in logs if e["event"] == "leases.taken_over"]
    assert len(taken) == 1
    assert taken[0]["inbox"] == 1
    assert taken[0]["outbox"] == 1
    assert taken[0]["owners"] == ["host-4242-abcdef"]


async def test_a_live_process_keeps_its_claims_after_the_database_was_away(db: Database) -> None:
    """The database is away for 30 s (a restart, a failover): no process can beat meanwhile, the
    watcher no more than its live peer. Its first look afterwards must not count the outage as
    the peer's silence: the peer, beating again, keeps its claims (taken over, a reply in flight
    was sent again, or, where the channel cannot be asked, went twice). Once the peer stops
    beating for STALE_SECONDS of looks, it is dead."""
    now = time.time()
    clock = [1000.0]
    deps = Deps(config=Config(), db=db, http=None)  # type: ignore[arg-type]
    leases = Leases(deps, "watcher", monotonic=lambda: clock[0])

    async def peer_beats(at: float) -> None:
        async with db.tx() as conn:
            if (await conn.execute(sa.select(processes.c.id).where(processes.c.id == "peer"))).first():
                await conn.execute(
                    sa.update(processes).where(processes.c.id == "peer").values(heartbeat_at=at)
                )
            else:
                await conn.execute(sa.insert(processes).values(id="peer", started_at=at, heartbeat_at=at))

    await peer_beats(now)
    await _claim_one_each(db, "peer", now)  # the peer claims a message and a reply
    for n in range(1, 4):  # both beat every 2 s
        clock[0] += 2.0
        await peer_beats(now + 2 * n)
        assert await leases.beat() == (0, 0)

    clock[0] += 30.0  # the database was away: neither beat
    assert await leases.beat() == (0, 0)  # the watcher's beat is first once it is back
    assert await _claims(db) == [("processing", "peer"), ("sending", "peer")]
    clock[0] += 2.0
    await peer_beats(now + 40)  # and the peer's next
    assert await leases.beat() == (0, 0)
    assert await _claims(db) == [("processing", "peer"), ("sending", "peer")]

    for _ in range(int(STALE_SECONDS / 2) - 1):  # then the peer stops beating ...
        clock[0] += 2.0
        assert await leases.beat() == (0, 0)
    clock[0] += 2.0  # ... for STALE_SECONDS of looks
    assert await leases.beat() == (1, 1)
    assert await _claims(db) == [("pending", None), ("queued", None)]


async def test_a_process_starting_after_an_outage_leaves_a_live_peers_claims_alone(db: Database) -> None:
    """The database was away for 30 s: no process could beat. A process starting right after it
    (a restart, or systemd starting `serve` again once it gave up waiting) saw its live peer's
    beat 30 s old and took the peer's claims over at its first look, so the message was handled
    and the reply sent again. The peer, beating again, keeps them; a predecessor that never
    beats again (a crash) loses its claims within seconds of looks."""
    now = time.time()
    clock = [1000.0]
    deps = Deps(config=Config(), db=db, http=None)  # type: ignore[arg-type]

    async def beats(owner: str, at: float) -> None:
        async with db.tx() as conn:
            if (await conn.execute(sa.select(processes.c.id).where(processes.c.id == owner))).first():
                await conn.execute(
                    sa.update(processes).where(processes.c.id == owner).values(heartbeat_at=at)
                )
            else:
                await conn.execute(sa.insert(processes).values(id=owner, started_at=at, heartbeat_at=at))

    await beats("peer", now - 30)  # its last beat before the outage
    await _claim_one_each(db, "peer", now - 31)
    starting = Leases(deps, "starting", monotonic=lambda: clock[0])
    assert await starting.beat() == (0, 0)  # its first look, the database just back
    assert await _claims(db) == [("processing", "peer"), ("sending", "peer")]
    clock[0] += 2.0
    assert await starting.beat() == (0, 0)  # the peer's beat is due about now ...
    await beats("peer", now + 2)  # ... and comes
    for _ in range(3):
        clock[0] += 2.0
        await beats("peer", now + clock[0] - 1000)
        assert await starting.beat() == (0, 0)
    assert await _claims(db) == [("processing", "peer"), ("sending", "peer")]

    # the same start after a crash: the predecessor's beat never changes again
    async with db.tx() as conn:
        await conn.execute(sa.delete(inbox))
        await conn.execute(sa.delete(outbox))
    await beats("crashed", now - 30)
    await _claim_one_each(db, "crashed", now - 31)
    restarted = Leases(deps, "restarted", monotonic=lambda: clock[0])
    taken = [await restarted.beat()]
    while taken[-1] == (0, 0) and len(taken) < 10:
        clock[0] += 2.0
        await beats("peer", now + clock[0] - 1000)
        taken.append(await restarted.beat())
    assert taken[-1] == (1, 1)
    assert 2.0 * (len(taken) - 1) < STALE_SECONDS  # within seconds of its start, as before
    assert await _claims(db) == [("pending", None), ("queued", None)]


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_claims_a_web_process_takes_over_are_handled_by_the_workers_at_once(
    bot_factory: BotFactory, fake_twilio: Any
) -> None:
    """A `web` process (no worker, no sender) heartbeats and takes over a dead process's claims
    like any other. The processes that run a worker and a sender are woken and handle them at
    once: they waited for their poll before (60 s here, 1 s by default)."""
    worker = await bot_factory(twilio=fake_twilio.section(), worker={"poll_seconds": 60.0})
    web = await bot_factory(replace(worker.config, server={"role": "web"}))
    assert "worker" not in web.runtime.lifecycle.running
    for bot in (worker, web):
        await asyncio.wait_for(bot.runtime.notifier.listening.wait(), 30)
    clock = [1000.0]
    leases_of_web = web.runtime.scheduler.leases
    assert leases_of_web is not None
    leases_of_web.watch = Watch(lambda: clock[0])  # the crashed owner's silence, without waiting
    await _claimed_rows(web, "crashed", heartbeat=time.time() - 60)
    taken = [await leases_of_web.beat()]
    while taken[-1] == (0, 0) and len(taken) < 10:
        clock[0] += HEARTBEAT_SECONDS
        taken.append(await leases_of_web.beat())
    assert taken[-1] == (1, 1)
    await fake_twilio.wait_for_messages(2, timeout=30)
    assert sorted(m["To"] for m in fake_twilio.messages) == [ALICE, BOB]


def test_a_killed_process_is_found_dead_within_the_15_seconds_spec_gives() -> None:
    """SPEC: a dead process's claims are taken over within 15 s. The real processes that tests
    kill run on shorter leases (tests/test_process.py, SHORT_LEASES): this holds the real timers
    to it. The worst case: it beat right after one of our looks and was killed; its claims go at
    the look that finds it dead (a process looks every HEARTBEAT_SECONDS)."""
    clock = [0.0]
    watch = Watch(lambda: clock[0])
    for _ in range(3):  # alive: it beats between our looks
        assert watch.dead({"me": clock[0], "peer": clock[0] - 0.1}, now=1e9 + clock[0], me="me") == []
        clock[0] += HEARTBEAT_SECONDS
    last_beat = killed_at = clock[0] - HEARTBEAT_SECONDS + 0.1  # just after our last look
    while not watch.dead({"me": clock[0], "peer": last_beat}, now=1e9 + clock[0], me="me"):
        clock[0] += HEARTBEAT_SECONDS
        assert clock[0] - killed_at < 60, "never found dead"
    assert clock[0] - killed_at <= 15


async def test_a_beat_on_a_connection_that_stopped_answering_gives_up_and_the_next_beats(
    pg_server: pg.PgServer | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL went away without closing the process's connections (a failover, a network
    fault): the heartbeat waited on its dead connection with no end, and the process beat no
    more; its peers took over the claims it was still working on, and handled or sent them
    again. A beat gives up after BEAT_SECONDS (here shortened); the next goes on a fresh
    connection."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    monkeypatch.setattr(pipeline_leases, "BEAT_SECONDS", 0.5)
    async with pg.through_a_relay(pg_server) as (url, relay):
        database = await open_database(url, migrate=True)
        at = [1000.0]
        deps = Deps(config=Config(), db=database, http=None, clock=lambda: at[0])  # type: ignore[arg-type]
        process = Leases(deps, "host-1-abcdef")
        try:
            assert await process.beat() == (0, 0)  # its connection is pooled now
            relay.freeze()
            beat = asyncio.ensure_future(process.beat())
            await asyncio.wait([beat], timeout=30)  # (a bound of the test's: it waited for good)
            assert beat.done()
            assert isinstance(beat.exception(), TimeoutError)
            assert db_reason(beat.exception()) == "TimeoutError"  # leases.heartbeat_failed's `reason`
            at[0] = 1002.0
            assert await asyncio.wait_for(process.beat(), 30) == (0, 0)
            relay.thaw()
            async with database.read() as conn:
                beats = (await conn.execute(sa.select(processes.c.heartbeat_at))).scalars().all()
            assert beats == [1002.0]  # the last beat's, on a fresh connection
        finally:
            relay.thaw()
            await database.close()


async def test_a_beat_that_waits_for_a_busy_pools_connection_is_not_given_up(
    pg_server: pg.PgServer | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of posts kept every pooled connection busy, and a beat that waited past
    BEAT_SECONDS for one gave up (`leases.heartbeat_failed`) and replaced every pooled
    connection, though nothing was dead. Its time counts from the moment it has a connection."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    monkeypatch.setattr(pipeline_leases, "BEAT_SECONDS", 0.2)
    async with pg.through_a_relay(pg_server) as (url, _relay):
        database = await open_database(url, migrate=True)
        await database.close()
        database = Database(url, pool_size=1)  # SQLAlchemy's pool: 1 connection and 1 more
        deps = Deps(config=Config(), db=database, http=None)  # type: ignore[arg-type]
        process = Leases(deps, "host-1-abcdef")
        release = asyncio.Event()
        held = asyncio.Event()
        holders = 0

        async def hold() -> None:  # a handler's transaction, busy for a while
            nonlocal holders
            async with database.tx() as conn:
                await conn.execute(sa.text("SELECT 1"))
                holders += 1
                if holders == 2:
                    held.set()
                await release.wait()

        busy = [asyncio.ensure_future(hold()) for _ in range(2)]
        try:
            await asyncio.wait_for(held.wait(), 30)
            beat = asyncio.ensure_future(process.beat())
            await asyncio.sleep(pipeline_leases.BEAT_SECONDS * 3)  # it waits, past its own time
            assert not beat.done()
            release.set()
            assert await asyncio.wait_for(beat, 30) == (0, 0)
        finally:
            release.set()
            await asyncio.gather(*busy, return_exceptions=True)
            await database.close()
