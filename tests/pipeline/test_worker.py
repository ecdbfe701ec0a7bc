"""The worker: per-sender order, concurrency across senders, retries, crash recovery, limits."""

from __future__ import annotations

import asyncio
import errno
import time
from typing import Any

import sqlalchemy as sa
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from bot.app.assembly import build_app
from bot.core.channel import Address
from bot.core.errors import Retry
from bot.pipeline.dispatch import Command, Context, HandlerResult, Inbound, Router
from tests.conftest import ALICE, BOB, Bot, BotFactory, wait_for
from tests.fakes.twilio_rest import FakeTwilio


def recording_router(log: list[str], gate: asyncio.Event | None = None) -> Router:
    router = Router("test")

    @router.message(Command("REC"))
    async def record(msg: Inbound, ctx: Context) -> HandlerResult:
        assert ctx.command is not None
        if gate is not None and ctx.command.args[0] == "slow":
            await gate.wait()
        log.append(f"{msg.sender.id}:{ctx.command.arg_text}")
        return None

    return router


async def test_one_senders_messages_in_order_senders_in_parallel(bot_factory: BotFactory) -> None:
    seen: list[str] = []
    gate = asyncio.Event()
    bot = await bot_factory(routers=(recording_router(seen, gate),))
    await bot.text("\\REC slow", sender=ALICE)
    for i in range(5):
        await bot.text(f"\\REC {i}", sender=ALICE)
    bob = await bot.text("\\REC bob", sender=BOB)
    await bot.handled(bob["MessageSid"])  # Bob is not held up by Alice's slow message
    assert seen == [f"{BOB}:bob"]
    gate.set()

    async def all_done() -> bool:
        return len(seen) == 7

    await wait_for(all_done)
    assert [s for s in seen if s.startswith(ALICE)] == [f"{ALICE}:slow"] + [f"{ALICE}:{i}" for i in range(5)]


async def test_stop_is_handled_at_once_even_behind_a_slow_message(bot_factory: BotFactory) -> None:
    seen: list[str] = []
    gate = asyncio.Event()
    bot = await bot_factory(routers=(recording_router(seen, gate),))
    await bot.text("\\REC slow")
    stop = await bot.text("STOP")
    assert await bot.handled(stop["MessageSid"]) == "done"
    assert seen == []
    gate.set()


async def test_unexpected_errors_are_retried_then_failed_with_a_polite_reply(bot_factory: BotFactory) -> None:
    router = Router("boom")
    calls = 0

    @router.message(Command("BOOM"))
    async def boom(msg: Inbound, ctx: Context) -> HandlerResult:
        nonlocal calls
        calls += 1
        raise RuntimeError("kaput")

    bot = await bot_factory(
        routers=(router,), worker={"poll_seconds": 0.05, "retry_base_seconds": 0.01, "max_attempts": 3}
    )
    form = await bot.text("\\BOOM")
    assert await bot.handled(form["MessageSid"]) == "failed"
    assert calls == 3
    [row] = await bot.rows("SELECT status, attempts, error FROM inbox")
    assert row.attempts == 3
    assert "RuntimeError" in row.error
    body = await bot.scalar("SELECT body FROM outbox")
    assert body.startswith("Sorry, something went wrong")


async def test_the_database_away_in_a_handler_is_an_outage_retried_not_a_failure(
    bot_factory: BotFactory,
) -> None:
    """A failover met by a handler (its pool's connect refused, its connection lost under a
    statement) is retried as an outage, past `max_attempts`, with one line and no traceback; a
    handler's own OSError (a full disk) is still the handler's failure."""
    router = Router("away")
    lost = sa.exc.DBAPIError.instance(
        "SELECT 1",
        {},
        ConnectionResetError(errno.ECONNRESET, "reset"),
        Exception,
        connection_invalidated=True,
    )
    faults: list[BaseException] = [ConnectionRefusedError(errno.ECONNREFUSED, "refused"), lost]

    @router.message(Command("AWAY"))
    async def handler(msg: Inbound, ctx: Context) -> HandlerResult:
        if faults:
            raise faults.pop(0)
        return "here"

    @router.message(Command("FULL"))
    async def full(msg: Inbound, ctx: Context) -> HandlerResult:
        raise OSError(errno.ENOSPC, "No space left on device")

    bot = await bot_factory(
        routers=(router,), worker={"poll_seconds": 0.05, "retry_base_seconds": 0.001, "max_attempts": 1}
    )
    with capture_logs() as logs:
        form = await bot.text("\\AWAY")
        assert await bot.handled(form["MessageSid"]) == "done"
        full_form = await bot.text("\\FULL", sender=BOB)
        assert await bot.handled(full_form["MessageSid"]) == "failed"
    assert await bot.scalar("SELECT body FROM outbox WHERE to_phone = :to", to=ALICE) == "here"
    retries = [e for e in logs if e["event"] == "sms.retry"]
    assert [e["reason"] for e in retries] == ["database away", "database away"]
    assert [e["error"] for e in logs if e["event"] == "handler.failed"] == ["OSError"]


async def test_retry_on_outage_then_success(bot_factory: BotFactory) -> None:
    router = Router("flaky")
    calls = 0

    @router.message(Command("FLAKY"))
    async def flaky(msg: Inbound, ctx: Context) -> HandlerResult:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Retry("s3 down", delay=0.01)
        return "stored"

    bot = await bot_factory(routers=(router,))
    form = await bot.text("\\FLAKY")
    assert await bot.handled(form["MessageSid"]) == "done"
    assert calls == 3
    assert await bot.scalar("SELECT body FROM outbox") == "stored"


async def test_outage_longer_than_the_window_fails_with_a_reply(bot_factory: BotFactory) -> None:
    router = Router("down")

    @router.message(Command("DOWN"))
    async def down(msg: Inbound, ctx: Context) -> HandlerResult:
        raise Retry(
            "s3 down", delay=0.01, failure_reply="Could not save your receipts. Please send them again later."
        )

    bot = await bot_factory(
        routers=(router,),
        worker={"poll_seconds": 0.05, "retry_base_seconds": 0.01, "outage_retry_hours": 0.0001},
    )
    form = await bot.text("\\DOWN")
    assert await bot.handled(form["MessageSid"]) == "failed"
    assert (
        await bot.scalar("SELECT body FROM outbox")
        == "Could not save your receipts. Please send them again later."
    )


async def test_photos_given_up_after_the_outage_window_are_deleted_at_twilio(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A photo that waited out `worker.outage_retry_hours` (Twilio's media or the store down) is
    answered "Please send them again", and its copy stayed at Twilio for good: nothing recorded
    it once the message was done. It is deleted there, as a refused item's copy is."""
    from tests.features.receipts.test_media import outlasted_outage

    _, url, reply = await outlasted_outage(bot_factory, fake_twilio)
    assert reply.startswith("We could not save")

    async def deleted() -> bool:  # just after the failed outcome is written
        return bool(fake_twilio.media.deleted)

    await wait_for(deleted)
    assert fake_twilio.media.deleted == [url.rsplit("/", 1)[1]]


async def test_claimed_rows_of_a_dead_process_are_handled_after_restart(
    bot_factory: BotFactory, aiohttp_client: Any
) -> None:
    bot = await bot_factory()
    form = await bot.text("\\HELP")
    await bot.handled(form["MessageSid"])
    # a row claimed by a process that died mid-message
    async with bot.runtime.deps.db.tx() as conn:
        import sqlalchemy as sa

        from storage.schema import inbox

        await conn.execute(
            sa.insert(inbox).values(
                message_sid="SM" + "e" * 32,
                from_phone=BOB,
                body="\\HELP",
                status="processing",
                claimed_by="worker-dead",
                # SQLite (one process a file) releases every claim at start; PostgreSQL (many
                # processes) only claims whose lease ran out
                claimed_until=time.time() + (300 if bot.runtime.deps.db.is_sqlite else -1),
                attempts=1,
                received_at=time.time(),
            )
        )
    await bot.client.close()
    app = build_app(bot.config, run_scheduler=False)
    client = await aiohttp_client(app)
    restarted = Bot(client=client, config=bot.config, token=bot.token)
    assert await restarted.handled("SM" + "e" * 32) == "done"


async def test_over_the_per_sender_limit_messages_wait_and_one_notice_is_sent(
    bot_factory: BotFactory,
) -> None:
    now = [time.time()]
    seen: list[str] = []
    bot = await bot_factory(
        routers=(recording_router(seen),), limits={"per_sender_per_minute": 3}, clock=lambda: now[0]
    )
    forms = [await bot.text(f"\\REC {i}") for i in range(6)]
    await bot.handled(forms[2]["MessageSid"])

    async def notice() -> Any:
        return await bot.scalar("SELECT count(*) FROM outbox WHERE body LIKE 'You are sending%'")

    assert await wait_for(notice) == 1
    await bot.settled()
    assert len(seen) == 3  # the rest are kept, not dropped
    assert await bot.scalar("SELECT count(*) FROM inbox WHERE status = 'pending'") == 3
    now[0] += 61  # the window moves on
    bot.runtime.worker.wake()
    await bot.handled(forms[5]["MessageSid"])
    assert seen == [f"{ALICE}:{i}" for i in range(6)]
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE body LIKE 'You are sending%'") == 1


async def test_texts_sent_minutes_apart_and_handled_at_once_are_not_told_to_slow_down(
    bot_factory: BotFactory,
) -> None:
    """Texts sent a few minutes apart that waited behind a slow one (a backlog) were all handled
    within a minute once it was done: the fourth was held back a minute and its sender told "You
    are sending messages too fast". The limit counts how fast they were sent."""
    now = [time.time()]
    seen: list[str] = []
    gate = asyncio.Event()
    bot = await bot_factory(
        routers=(recording_router(seen, gate),), limits={"per_sender_per_minute": 3}, clock=lambda: now[0]
    )
    await bot.text("\\REC slow")

    async def slow_started() -> bool:
        return await bot.scalar("SELECT count(*) FROM inbox WHERE status = 'processing'") == 1

    await wait_for(slow_started)
    forms = []
    for i in range(5):
        now[0] += 300  # one every five minutes
        forms.append(await bot.text(f"\\REC {i}"))
    gate.set()
    await bot.handled(forms[-1]["MessageSid"])
    assert seen == [f"{ALICE}:slow"] + [f"{ALICE}:{i}" for i in range(5)]
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE body LIKE 'You are sending%'") == 0


async def test_commands_from_the_first_message_and_case_insensitive(bot: Bot, fake_twilio: Any) -> None:
    form = await bot.text("  /help  ")
    await fake_twilio.wait_for_messages(1)
    assert fake_twilio.messages[0]["Body"].startswith("textwire:")
    assert await bot.handled(form["MessageSid"]) == "done"


async def test_a_senders_next_message_is_claimed_when_the_one_before_is_done_without_polling(
    bot_factory: BotFactory,
) -> None:
    """The poll is a minute here: the messages queued behind a slow one (some before its claim,
    some while it ran) are claimed when it is done, because the claim read that more were
    waiting, or a wake-up came while it ran."""
    seen: list[str] = []
    gate = asyncio.Event()
    bot = await bot_factory(routers=(recording_router(seen, gate),), worker={"poll_seconds": 60.0})
    await bot.text("\\REC slow", sender=ALICE)

    async def slow_started() -> bool:
        return await bot.scalar("SELECT count(*) FROM inbox WHERE status = 'processing'") == 1

    await wait_for(slow_started)
    for i in range(3):
        await bot.text(f"\\REC {i}", sender=ALICE)
    gate.set()

    async def all_done() -> bool:
        return len(seen) == 4

    await wait_for(all_done, within=20.0)
    assert seen == [f"{ALICE}:slow"] + [f"{ALICE}:{i}" for i in range(3)]


async def test_a_finished_message_with_nothing_behind_it_claims_nothing_more(
    bot_factory: BotFactory, monkeypatch: Any
) -> None:
    """At low rates every text used to cost an empty claim (a transaction) after it was done."""
    from bot.pipeline.worker import Worker

    claims: list[int] = []
    real = Worker.claim

    async def counting(self: Worker, conn: Any, *, now: float, limit: int) -> Any:
        found = await real(self, conn, now=now, limit=limit)
        claims.append(len(found))
        return found

    monkeypatch.setattr(Worker, "claim", counting)
    seen: list[str] = []
    bot = await bot_factory(routers=(recording_router(seen),), worker={"poll_seconds": 60.0})

    # Settle first: on PostgreSQL the LISTEN connection, once up, wakes the worker (a catch-up
    # claim for anything missed). Wait for it, then let one text through: every wake-up so far is
    # spent by the time it is handled.
    notifier = bot.runtime.notifier
    if notifier.cross_process:
        await asyncio.wait_for(notifier.listening.wait(), 30)
    warm = await bot.text("\\REC warm", sender=ALICE)
    await bot.handled(warm["MessageSid"])
    seen.clear()
    claims.clear()
    first = await bot.text("\\REC one", sender=ALICE)
    await bot.handled(first["MessageSid"])
    second = await bot.text("\\REC two", sender=BOB)
    await bot.handled(second["MessageSid"])
    assert seen == [f"{ALICE}:one", f"{BOB}:two"]
    assert claims == [1, 1]


async def test_a_replys_dedupe_key_sorts_by_arrival_and_is_the_same_each_handling(bot: Bot) -> None:
    """The outbox's unique dedupe key of a reply starts with its message's arrival time: a batch
    of replies lands together at the end of the index (one page written, not one a reply), and a
    message handled again (its outcome written twice) queues its reply once."""
    from bot.pipeline.worker import reply_key
    from storage import outbox

    first = await bot.text("\\HELP", sender=ALICE)
    second = await bot.text("\\HELP", sender=BOB)
    await bot.handled(first["MessageSid"])
    await bot.handled(second["MessageSid"])
    rows = await bot.rows(
        "SELECT i.id, i.message_sid, i.received_at, o.dedupe_key FROM inbox i"
        " JOIN outbox o ON o.inbox_id = i.id ORDER BY i.id"
    )
    assert len(rows) == 2
    keys = []
    for row in rows:
        msg = Inbound(
            id=row.id,
            external_id=row.message_sid,
            sender=Address("sms", ""),
            recipient="",
            body="",
            received_at=row.received_at,
        )
        assert row.dedupe_key == reply_key(msg, 0)
        keys.append(row.dedupe_key)
    assert keys == sorted(keys)
    assert reply_key(Inbound(0, "SMb", Address("sms", ""), "", "", received_at=1.5), 0) < reply_key(
        Inbound(0, "SMa", Address("sms", ""), "", "", received_at=2.5), 0
    )
    # the outcome written again: the reply is not queued twice
    async with bot.runtime.deps.db.write() as conn:
        await outbox.enqueue_many(
            conn, [outbox.NewReply(to=ALICE, body="again", dedupe_key=rows[0].dedupe_key, now=time.time())]
        )
    assert await bot.scalar("SELECT count(*) FROM outbox") == 2


async def test_a_message_fed_without_its_user_gets_one_from_load_user(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`load_user` creates the sender's user when the worker did not set one (`ctx.user` raises
    while unset: the middleware asks `has_user`, or its fallback could never run)."""
    from bot.core.logs import get_logger
    from bot.pipeline.dispatch import Context, Inbound

    runtime = bot.runtime
    ctx = Context(deps=runtime.deps, log=get_logger(__name__))
    msg = Inbound(
        id=0,
        external_id="SMfed",
        sender=Address("sms", "+15550004444"),
        recipient="+15557654321",
        body="\\ROOMS",
    )
    replies = await runtime.dispatcher.feed(msg, ctx)
    assert ctx.user.phone == "+15550004444"
    assert ctx.data["new_user"] is True
    assert replies
    assert replies[0].text.startswith("You are not in a room")


async def test_a_message_sid_sent_again_after_it_was_handled_is_not_handled_again(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Twilio retries a webhook it thinks failed, or a replay comes long after: the inbox keeps
    the first row as it is (insert-or-ignore), so the message is handled and answered once, and
    its redacted password stays redacted."""
    form = bot.form("\\CREATE house hunter22")
    assert (await bot.post(form)).status == 200
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    for _ in range(2):
        resp = await bot.post(form)
        assert resp.status == 200
        assert "<Response />" in await resp.text()
    await bot.settled()
    assert len(fake_twilio.messages) == 1
    rows = await bot.rows("SELECT status, body FROM inbox WHERE message_sid = :sid", sid=form["MessageSid"])
    assert [(r.status, r.body) for r in rows] == [("done", "\\CREATE house ***")]


async def test_a_message_dropped_by_stop_while_handled_sends_nothing_after_the_goodbye(
    bot_factory: BotFactory,
) -> None:
    """`\\STOP` jumps the queue and drops the sender's message being handled beside it. That
    message's handler still finished: its reply ("Created room ...") went out after the goodbye,
    and its password stayed in the inbox (the outcome that masks it was no longer the worker's
    to write)."""
    gate = asyncio.Event()
    router = Router("test")

    @router.command("REC", args=2, secret=(1,))
    async def record(msg: Inbound, ctx: Context) -> HandlerResult:
        await gate.wait()
        return "recorded"

    bot = await bot_factory(routers=(router,))
    slow = await bot.text("\\REC slow hunter22")

    async def handling() -> bool:
        query = "SELECT status FROM inbox WHERE message_sid = :s"
        return await bot.scalar(query, s=slow["MessageSid"]) == "processing"

    await wait_for(handling)
    stop = await bot.text("\\STOP")
    assert await bot.handled(stop["MessageSid"]) == "done"
    gate.set()

    async def written() -> bool:  # its task ends once its outcome is committed
        return not bot.runtime.worker._tasks

    await wait_for(written)
    await bot.settled()
    [row] = await bot.rows(
        "SELECT status, error, body FROM inbox WHERE message_sid = :s", s=slow["MessageSid"]
    )
    assert (row.status, row.error, row.body) == ("done", "dropped: the sender stopped", "\\REC slow ***")
    replies = await bot.rows("SELECT to_phone, body FROM outbox ORDER BY id")
    assert [(r.to_phone, r.body[:21]) for r in replies] == [(ALICE, "Goodbye from textwire")]


async def test_a_text_whose_outcomes_waited_out_the_database_is_in_metrics_once_written(
    bot_factory: BotFactory, monkeypatch: Any
) -> None:
    """A PostgreSQL restart met the commits of a text's handling and of its reply's send: both
    outcomes were kept and written once the database answered, and the reply went, but
    `textwire_handled_total` and `textwire_outbound_total` never counted them, nor did the log say
    `sms.handled` and `sms.sent` for them: after an outage /metrics said fewer texts were answered
    than were."""
    bot = await bot_factory()
    for loop in (bot.runtime.worker, bot.runtime.sender):
        away = [loop.name] * 2  # the batch's write, then the outcome's own: the database away
        real = loop.write

        async def write(conn: Any, outcomes: Any, real: Any = real, away: list[str] = away) -> None:
            if away:
                away.pop()
                raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")
            await real(conn, outcomes)

        monkeypatch.setattr(loop, "write", write)
    with capture_logs(processors=[merge_contextvars]) as logs:
        form = await bot.text("\\HELP")
        assert await bot.handled(form["MessageSid"]) == "done"
        await bot.settled()
    assert await bot.scalar("SELECT status FROM outbox") == "sent"
    text = await bot.metrics_once("textwire_handled_total")
    assert 'textwire_handled_total{channel="sms",result="done"} 1.0' in text
    assert 'textwire_outbound_total{channel="sms",status="sent"} 1.0' in text
    events = [(e["event"], e.get("message_sid")) for e in logs]
    assert ("worker.outcomes_restored", None) in events
    assert ("sender.outcomes_restored", None) in events
    assert events.count(("sms.handled", form["MessageSid"])) == 1
    assert events.count(("sms.sent", form["MessageSid"])) == 1
