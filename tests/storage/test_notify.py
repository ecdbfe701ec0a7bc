"""Two app instances on one database: wake-ups across processes (LISTEN/NOTIFY on PostgreSQL,
in-process only on SQLite), and status callbacks that race."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa

from storage import notify, outbox
from storage.notify import Notifier
from storage.schema import outbox as outbox_table
from tests import pg
from tests.conftest import BotFactory, wait_for


def _events(notifier: Notifier) -> dict[str, asyncio.Event]:
    events = {channel: asyncio.Event() for channel in notify.CHANNELS}
    for channel, event in events.items():
        notifier.subscribe(channel, event.set)
    return events


async def test_a_webhook_to_one_instance_wakes_the_others_worker_and_sender(
    fake_twilio: Any, bot_factory: BotFactory
) -> None:
    """Two app instances (separate engines and LISTEN connections) on one database: a webhook
    to the first wakes the second's worker (inbox row committed), then its sender (the reply
    queued). Polling never sets these events: only a notification from the other instance does."""
    first = await bot_factory(twilio=fake_twilio.section())
    if first.runtime.deps.db.is_sqlite:
        pytest.skip("SQLite is one process a file: wake-ups stay in the process")
    second = await bot_factory(first.config)
    listener: Notifier = second.runtime.notifier
    await asyncio.wait_for(listener.listening.wait(), 30)
    await asyncio.wait_for(first.runtime.notifier.listening.wait(), 30)
    events = _events(listener)

    form = await first.text("\\HELP")
    await asyncio.wait_for(events[notify.INBOX].wait(), 30)
    await first.handled(form["MessageSid"])
    await asyncio.wait_for(events[notify.OUTBOX].wait(), 30)


async def test_publishing_wakes_this_process_at_once_on_either_database(database_url: str) -> None:
    notifier = Notifier(database_url)
    events = _events(notifier)
    await notifier.start()
    try:
        notifier.publish(notify.INBOX)  # called synchronously: no round trip to the server
        assert events[notify.INBOX].is_set()
        assert not events[notify.OUTBOX].is_set()
        assert notifier.cross_process == database_url.startswith("postgresql")
    finally:
        await notifier.stop()


async def test_a_publish_for_the_others_only_wakes_no_one_here(database_url: str) -> None:
    """A sender's finished sends hold back only other processes' claims: `here=False`."""
    notifier = Notifier(database_url)
    events = _events(notifier)
    await notifier.start()
    try:
        notifier.publish(notify.OUTBOX, here=False)
        assert not any(event.is_set() for event in events.values())
    finally:
        await notifier.stop()


async def test_a_publish_just_before_stopping_still_reaches_the_others(
    pg_server: pg.PgServer | None,
) -> None:
    """A stopping process publishes the claims it put back, then stops its notifier at once: the
    NOTIFY went with the stop's cancellation before, and the others waited for their poll."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    name = pg_server.create_database()
    url = pg_server.url_of(name)
    stopping, listener = Notifier(url), Notifier(url)
    events = _events(listener)
    await stopping.start()
    await listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 30)
        await asyncio.wait_for(stopping.listening.wait(), 30)
        for event in events.values():  # the wake-up of (re)connecting
            event.clear()
        stopping.publish(notify.INBOX, here=False)
        await stopping.stop()
        await asyncio.wait_for(events[notify.INBOX].wait(), 30)
        assert not events[notify.OUTBOX].is_set()
    finally:
        await stopping.stop()
        await listener.stop()
        pg_server.drop_database(name)


async def test_the_listen_connection_comes_back_after_the_server_drops_it(
    pg_server: pg.PgServer | None,
) -> None:
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    name = pg_server.create_database()
    url = pg_server.url_of(name)
    sender, listener = Notifier(url), Notifier(url)
    events = _events(listener)
    await sender.start()
    await listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 30)
        await asyncio.wait_for(sender.listening.wait(), 30)
        pid = listener._server_pid
        assert pid is not None

        async def kill() -> None:
            conn = await pg_server._admin()
            try:
                await conn.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await conn.close()

        await kill()

        async def reconnected() -> bool:
            return listener.connections >= 2 and listener.listening.is_set()

        await wait_for(reconnected)
        for event in events.values():  # woken once on reconnect: something may have been missed
            assert event.is_set()
            event.clear()
        sender.publish(notify.OUTBOX)
        await asyncio.wait_for(events[notify.OUTBOX].wait(), 30)
        assert not events[notify.INBOX].is_set()
    finally:
        await sender.stop()
        await listener.stop()
        pg_server.drop_database(name)


@pytest.mark.parametrize("publishes", [True, False], ids=["publishing", "idle"])
async def test_a_listen_connection_that_stops_answering_is_replaced(
    pg_server: pg.PgServer | None, monkeypatch: pytest.MonkeyPatch, publishes: bool
) -> None:
    """The server behind the LISTEN connection went away without closing it (a failover): the
    NOTIFY of the next commit waited on it with no end, and every later wake-up of this process
    queued behind it, while it heard none of the others': after a failover each text waited for
    the workers' poll, for as long as the dead socket stayed open (seen: a web process's LISTEN
    backend frozen for 40 s, each reply 0-5 s late with `worker.poll_seconds = 5`, nothing in
    the log). A NOTIFY, or the idle check, not answered in `ANSWER_SECONDS` now counts the
    connection as lost: it connects again, and what it had to send goes then."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    monkeypatch.setattr(notify, "ANSWER_SECONDS", 0.2)
    if not publishes:
        monkeypatch.setattr(notify, "IDLE_CHECK_SECONDS", 0.05)
    async with pg.through_a_relay(pg_server) as (url, relay):
        frozen, other = Notifier(url), Notifier(url)
        events = _events(other)
        await frozen.start()
        try:
            await asyncio.wait_for(frozen.listening.wait(), 30)
            relay.freeze()  # its LISTEN connection hangs from here on; new ones go through
            await other.start()
            await asyncio.wait_for(other.listening.wait(), 30)
            for event in events.values():  # the wake-up of connecting
                event.clear()
            if publishes:
                frozen.publish(notify.INBOX, here=False)

            async def replaced() -> bool:
                return frozen.connections >= 2 and frozen.listening.is_set()

            await wait_for(replaced)
            frozen.publish(notify.OUTBOX, here=False)  # the other process hears it again
            await asyncio.wait_for(events[notify.OUTBOX].wait(), 30)
            if publishes:
                await asyncio.wait_for(events[notify.INBOX].wait(), 30)  # the one sent when frozen
        finally:
            await frozen.stop()
            await other.stop()


async def test_sent_and_delivered_callbacks_at_once_to_two_instances_end_delivered(
    fake_twilio: Any, bot_factory: BotFactory
) -> None:
    """Twilio's `sent` and `delivered` callbacks for one message reach two app instances (two
    engines) at the same moment, 50 times: the row ends `delivered` every time."""
    first = await bot_factory(twilio=fake_twilio.section())
    second = await bot_factory(first.config)
    for i in range(50):
        twilio_sid = f"SM{i:032x}"
        async with first.runtime.deps.db.tx() as conn:
            await outbox.enqueue(conn, to="+15550001111", body="hi", dedupe_key=twilio_sid, now=time.time())
            await conn.execute(
                sa.update(outbox_table)
                .where(outbox_table.c.dedupe_key == twilio_sid)
                .values(status="sent", twilio_sid=twilio_sid)
            )

        def form(status: str, sid: str = twilio_sid) -> dict[str, str]:
            return {"MessageSid": sid, "MessageStatus": status, "AccountSid": fake_twilio.account_sid}

        pair = [(first, "sent"), (second, "delivered")]
        if i % 2:
            pair.reverse()
        responses = await asyncio.gather(
            *(bot.post(form(status), path="/twilio/status") for bot, status in pair)
        )
        assert [r.status for r in responses] == [200, 200]
        status = await first.scalar("SELECT delivery_status FROM outbox WHERE twilio_sid = :s", s=twilio_sid)
        assert status == "delivered", f"pair {i}"
