"""The outbox sender against a local fake of Twilio's Messages API."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import sqlalchemy as sa
import structlog
from aiohttp import web
from structlog.testing import capture_logs
from twilio.rest import Client

from bot.channels.twilio.rest import SessionHttpClient, TwilioTransport, form_encoded
from bot.core.channel import SendError, Sent
from bot.core.config import TwilioConfig
from bot.core.logs import scrub
from storage import outbox
from storage.schema import outbox as outbox_table
from tests.channels.telegram.talk import say
from tests.conftest import ALICE, BOB, Bot, BotFactory, wait_for
from tests.fakes.twilio_rest import Failure


async def _status(bot: Bot, sid: str) -> Any:
    return await bot.scalar(
        "SELECT o.status FROM outbox o JOIN inbox i ON o.inbox_id = i.id WHERE i.message_sid = :s", s=sid
    )


async def test_stop_means_no_sends_and_start_sends_again(bot: Bot, fake_twilio: Any) -> None:
    stop = await bot.text("stop")
    assert await bot.handled(stop["MessageSid"]) == "done"
    assert await bot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=ALICE) == 1
    help_form = await bot.text("\\HELP")
    await bot.handled(help_form["MessageSid"])

    async def skipped() -> bool:
        return await _status(bot, help_form["MessageSid"]) == "skipped"

    await wait_for(skipped)
    assert fake_twilio.messages == []

    start = await bot.text("START")
    await bot.handled(start["MessageSid"])
    await fake_twilio.wait_for_messages(1)
    assert "again" in fake_twilio.messages[0]["Body"]
    await bot.text("\\HELP")
    await fake_twilio.wait_for_messages(2)


async def test_every_opt_out_keyword_and_opt_out_type(bot: Bot, fake_twilio: Any) -> None:
    for i, word in enumerate(["STOPALL", "unsubscribe", " Cancel ", "END", "quit", "REVOKE", "optout"]):
        phone = f"+1555000{i:04d}"
        form = await bot.text(word, sender=phone)
        await bot.handled(form["MessageSid"])
        assert await bot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=phone) == 1, word
    form = await bot.text("please stop texting me", sender=BOB, OptOutType="STOP")
    await bot.handled(form["MessageSid"])
    assert await bot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=BOB) == 1
    await bot.settled()
    assert fake_twilio.messages == []


async def test_help_keyword_answers_help(bot: Bot, fake_twilio: Any) -> None:
    await bot.text("info")
    await fake_twilio.wait_for_messages(1)
    assert fake_twilio.messages[0]["Body"].startswith("textwire:")


async def test_twilio_21610_marks_the_number_opted_out(bot: Bot, fake_twilio: Any) -> None:
    fake_twilio.opted_out.add(ALICE)
    form = await bot.text("\\HELP")

    async def failed() -> bool:
        return await _status(bot, form["MessageSid"]) == "failed"

    await wait_for(failed)
    assert await bot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=ALICE) == 1
    requests_before = fake_twilio.requests
    again = await bot.text("\\HELP")

    async def skipped() -> bool:
        return await _status(bot, again["MessageSid"]) == "skipped"

    await wait_for(skipped)
    assert fake_twilio.requests == requests_before  # nothing more sent to it


async def test_429_then_201_is_sent_once_after_the_retry(bot: Bot, fake_twilio: Any) -> None:
    fake_twilio.fail_next(429, code=20429, retry_after=0)
    form = await bot.text("\\HELP")
    await fake_twilio.wait_for_messages(1)

    async def sent() -> bool:
        return await _status(bot, form["MessageSid"]) == "sent"

    await wait_for(sent)
    assert fake_twilio.requests == 2
    assert await bot.scalar("SELECT attempts FROM outbox") == 2
    await bot.settled()
    assert len(fake_twilio.messages) == 1


async def test_5xx_and_timeouts_are_retried(bot: Bot, fake_twilio: Any) -> None:
    fake_twilio.fail_next(503)
    fake_twilio.fail_next(500)
    await bot.text("\\HELP")
    await fake_twilio.wait_for_messages(1)
    assert fake_twilio.requests == 3


async def test_a_reply_behind_one_waiting_for_its_retry_goes_after_it(bot: Bot, fake_twilio: Any) -> None:
    """Twilio refused the answer to \\HELP (429, retry in a second); the answer to \\ROOMS,
    texted meanwhile, went out first and the person read the answers out of order."""
    fake_twilio.fail_next(429, code=20429, retry_after=1)
    first = await bot.text("\\HELP")

    async def waiting_for_its_retry() -> bool:
        status = await _status(bot, first["MessageSid"])
        return status == "queued" and await bot.scalar("SELECT attempts FROM outbox") == 1

    await wait_for(waiting_for_its_retry)
    await bot.text("\\ROOMS")
    await fake_twilio.wait_for_messages(2)
    assert fake_twilio.messages[0]["Body"].startswith("textwire:")  # the help first
    assert fake_twilio.messages[1]["Body"].startswith("You are not in a room")
    await bot.settled()
    assert len(fake_twilio.messages) == 2


async def test_replies_claimed_together_keep_their_order_when_the_first_is_refused(
    bot: Bot, fake_twilio: Any
) -> None:
    """Two replies to one number in one claim were sent side by side: the first refused (429),
    the second sent, and the first came after it."""
    fake_twilio.failures_body["first"] = [Failure(429, 20429, 0.3)]
    now = bot.runtime.deps.now()
    async with bot.runtime.deps.db.write() as conn:  # one commit: one claim takes both
        for n, body in enumerate(["first", "second"]):
            await outbox.enqueue(conn, to=ALICE, body=body, dedupe_key=f"order-{n}", now=now)
    await fake_twilio.wait_for_messages(2)
    assert [m["Body"] for m in fake_twilio.messages] == ["first", "second"]
    assert fake_twilio.requests == 3  # the second was not sent before the first's retry
    await bot.settled()
    assert len(fake_twilio.messages) == 2


async def test_a_slow_twilio_is_timed_out_and_retried(bot_factory: Any, fake_twilio: Any) -> None:
    bot = await bot_factory(twilio=fake_twilio.section(timeout_seconds=0.2))
    fake_twilio.delay = 1.0
    form = await bot.text("\\HELP")

    async def retried() -> bool:
        return (await bot.scalar("SELECT attempts FROM outbox") or 0) >= 2

    await wait_for(retried)

    async def gave_up() -> bool:  # the client hung up on the slow answer: a timeout, not a wait
        return fake_twilio.abandoned >= 1

    await wait_for(gave_up)
    assert fake_twilio.messages == []
    fake_twilio.delay = 0
    await fake_twilio.wait_for_messages(1)

    async def sent() -> bool:
        return await _status(bot, form["MessageSid"]) == "sent"

    await wait_for(sent)
    await bot.settled()
    assert len(fake_twilio.messages) == 1


async def test_permanent_errors_are_not_retried(bot: Bot, fake_twilio: Any) -> None:
    fake_twilio.fail_next(400, code=21211)  # invalid 'To' number
    form = await bot.text("\\HELP")

    async def failed() -> bool:
        return await _status(bot, form["MessageSid"]) == "failed"

    await wait_for(failed)
    await bot.settled()
    assert fake_twilio.requests == 1
    assert await bot.scalar("SELECT error_code FROM outbox") == "21211"


async def test_a_refused_send_logs_twilios_error_code(bot: Bot, fake_twilio: Any) -> None:
    """`sms.send_failed`, `sms.send_retry` and `sms.opted_out_at_carrier` passed Twilio's error
    code as `code`, a key the log drops (an OAuth code's), so an operator read "status 400" and
    never 21211: the code is the line's `error_code`, as in `sms.status`."""
    # Alice's reply: rate limited, then an invalid 'To' number; Bob has opted out at the carrier
    fake_twilio.failures_to[ALICE] = [Failure(429, 20429, 0), Failure(400, 21211, None)]
    fake_twilio.opted_out.add(BOB)
    with structlog.testing.capture_logs() as logs:
        form = await bot.text("\\HELP")
        stopped = await bot.text("\\HELP", sender=BOB)

        async def failed() -> bool:
            return {await _status(bot, form["MessageSid"]), await _status(bot, stopped["MessageSid"])} == {
                "failed"
            }

        await wait_for(failed)
    written = {e["event"]: scrub(None, "", dict(e)) for e in logs}  # what the log's lines keep
    assert written["sms.send_retry"]["error_code"] == 20429
    assert written["sms.send_failed"]["error_code"] == 21211
    assert written["sms.opted_out_at_carrier"]["error_code"] == 21610


async def test_a_reply_s_send_is_logged_with_the_message_sid_of_the_text_it_answers(
    bot: Bot, fake_twilio: Any
) -> None:
    """With web and worker processes, an operator followed a text by its MessageSid from the web
    process's `sms.received` to the worker's `sms.handled`, and lost it there: the `sms.sent` of
    its reply (the sender, perhaps in another process) said only `outbox_id` and the masked
    number. The sender's lines carry the MessageSid of the text the reply answers."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        form = await bot.text("\\HELP")

        async def sent() -> bool:
            return bool(await _status(bot, form["MessageSid"]) == "sent")

        await wait_for(sent)
    lines = [e for e in logs if e["event"] == "sms.sent"]
    assert [e.get("message_sid") for e in lines] == [form["MessageSid"]]


async def test_a_whatsapp_reply_with_no_whatsapp_sender_logs_why(
    bot_factory: BotFactory, fake_twilio: Any
) -> None:
    """With neither `twilio.whatsapp_from` nor a messaging service, every WhatsApp reply failed
    with `sms.send_failed` status 400 and nothing more: no Twilio error code, since Twilio was never
    asked, and the operator could not tell why. The line names the keys to set."""
    bot = await bot_factory(twilio=fake_twilio.section())  # from_number only
    with structlog.testing.capture_logs() as logs:
        form = await bot.text("\\HELP", sender="whatsapp:+15550009999")

        async def failed() -> bool:
            return await _status(bot, form["MessageSid"]) == "failed"

        await wait_for(failed)
    [line] = [scrub(None, "", dict(e)) for e in logs if e["event"] == "sms.send_failed"]
    assert line["reason"] == "no WhatsApp sender: set twilio.whatsapp_from or twilio.messaging_service_sid"
    assert fake_twilio.requests == 0


async def test_a_reply_queued_twice_is_sent_once(bot: Bot, fake_twilio: Any) -> None:
    async with bot.runtime.deps.db.tx() as conn:
        first = await outbox.enqueue(conn, to=BOB, body="hello", dedupe_key="k1", now=1.0)
        second = await outbox.enqueue(conn, to=BOB, body="hello", dedupe_key="k1", now=1.0)
    assert (first, second) == (True, False)
    bot.runtime.sender.wake()
    await fake_twilio.wait_for_messages(1)
    await bot.settled()
    assert len(fake_twilio.messages) == 1


async def test_a_send_whose_outcome_cannot_be_written_goes_again_after_a_wait(
    bot: Bot, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message went, its 'sent' could not be written (a unique id the channel gave twice did
    it): the claim was put back due at once, and the message went again every second for as long
    as the write failed. It is put back due in a minute, to be looked up before it goes again."""
    real = outbox.mark_many
    failures = []

    async def failing(conn: Any, owner: str, marks: Any) -> None:
        if any(m.status == "sent" for m in marks):
            failures.append(len(marks))
            raise RuntimeError("the write failed")
        await real(conn, owner, marks)

    monkeypatch.setattr(outbox, "mark_many", failing)
    async with bot.runtime.deps.db.tx() as conn:
        await outbox.enqueue(conn, to=BOB, body="hello", dedupe_key="k1", now=1.0)
    bot.runtime.sender.wake()
    await fake_twilio.wait_for_messages(1)

    async def put_back() -> Any:
        rows = await bot.rows("SELECT status, next_attempt_at, reconcile_since FROM outbox")
        return rows if rows[0].status == "queued" else None

    [row] = await wait_for(put_back)
    now = bot.runtime.deps.now()
    assert row.next_attempt_at > now + 50  # not due again at once
    assert row.reconcile_since is not None  # looked up at Twilio before it goes again
    assert len(failures) == 2  # the batch, then the outcome alone
    assert len(fake_twilio.messages) == 1


async def test_a_send_that_fails_unexpectedly_is_put_back_not_kept_claimed(
    bot: Bot, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something other than the channel's answer failed mid-send (the database away while an
    earlier try was looked up, a bug): the row stayed claimed by this live process, which no
    other takes over, and the reply never went until a restart. It is put back, to be looked up
    at Twilio before it goes again."""
    sender = bot.runtime.sender
    real = sender.transport.send
    calls = []

    async def failing(to: str, body: str) -> Sent:
        calls.append(body)
        raise ConnectionResetError("not a SendError")

    monkeypatch.setattr(sender.transport, "send", failing)
    async with bot.runtime.deps.db.tx() as conn:
        await outbox.enqueue(conn, to=BOB, body="hello", dedupe_key="k1", now=bot.runtime.deps.now())
    sender.wake()

    async def put_back() -> Any:
        rows = await bot.rows("SELECT status, claimed_by, next_attempt_at, reconcile_since FROM outbox")
        return rows if rows[0].status == "queued" and rows[0].reconcile_since is not None else None

    [row] = await wait_for(put_back)
    assert row.claimed_by is None
    assert row.next_attempt_at > bot.runtime.deps.now() + 50  # not at once, and looked up first
    assert calls == ["hello"]
    monkeypatch.setattr(sender.transport, "send", real)


async def test_a_sent_reply_whose_outcome_met_a_database_restart_is_not_sent_again(
    bot: Bot, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL restart over in a moment: Twilio took the reply, the write of its outcome met
    the restart, the give-back a moment later did not. The reply was put back and sent again a
    minute later ("a1" twice where Twilio cannot be asked), the person's next replies waiting
    behind it. The outcome is kept and written once the database answers."""
    sender = bot.runtime.sender
    real_write = sender.write
    away, writes = True, []

    async def write(conn: Any, outcomes: Any) -> None:
        writes.append(len(outcomes))
        if away:
            raise ConnectionRefusedError(111, "the database is restarting")
        await real_write(conn, outcomes)

    monkeypatch.setattr(sender, "write", write)
    async with bot.runtime.deps.db.tx() as conn:
        await outbox.enqueue(conn, to=BOB, body="hello", dedupe_key="k1", now=bot.runtime.deps.now())
    sender.wake()
    await fake_twilio.wait_for_messages(1)

    async def tried_alone() -> bool:  # the batch's write, then the outcome's alone
        return len(writes) >= 2

    await wait_for(tried_alone)
    away = False
    sender.wake()

    async def settled() -> Any:
        [row] = await bot.rows("SELECT status, reconcile_since, next_attempt_at FROM outbox")
        return row if row.status == "sent" or row.reconcile_since is not None else None

    row = await wait_for(settled)
    assert row.status == "sent"
    assert [m["Body"] for m in fake_twilio.messages] == ["hello"]


async def test_messaging_service_sid_is_used_when_set(bot_factory: Any, fake_twilio: Any) -> None:
    bot = await bot_factory(twilio=fake_twilio.section(messaging_service_sid="MG" + "1" * 32, from_number=""))
    await bot.text("\\HELP")
    await fake_twilio.wait_for_messages(1)
    assert fake_twilio.messages[0]["MessagingServiceSid"] == "MG" + "1" * 32
    assert "From" not in fake_twilio.messages[0]


def test_the_send_form_is_encoded_as_urlencode_encodes_it() -> None:
    forms = [
        [("To", "+15550001111"), ("From", "+15550000000"), ("Body", "héllo & bye = ok/?\n 100% \\ROOMS 🙂")],
        [("StatusCallback", "https://example.com/twilio/status?x=1&y=2"), ("Body", "")],
        [("a b", "x+y"), ("a b", "x+y")],  # the cached strings, twice
        [],
    ]
    for form in forms:
        assert form_encoded(form) == urlencode(form).encode("ascii")


async def test_a_send_posts_what_twilios_create_async_posts(aiohttp_server: Any) -> None:
    """The transport posts Messages.json itself: the same URL, form and Basic credentials as the
    twilio library's `create_async` with the same arguments, seen by one server."""
    seen: list[tuple[str, dict[str, str], str | None]] = []

    async def create(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        seen.append((request.path, form, request.headers.get("Authorization")))
        return web.json_response({"sid": "SM" + "0" * 32, "status": "queued"}, status=201)

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create)
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    for sender in ({"from_number": "+15550000000"}, {"messaging_service_sid": "MG" + "1" * 32}):
        config = TwilioConfig(account_sid="AC" + "2" * 32, auth_token="tok", api_base=base, **sender)
        async with aiohttp.ClientSession() as session:
            transport = TwilioTransport(session, config, "https://bot.example/twilio/status")
            sent = await transport.send("+15550001111", "héllo & bye 🙂")
            # the library over the same HTTP seam: its URL, form fields and credentials
            library = Client(
                config.account_sid, config.auth_token, http_client=SessionHttpClient(session, 5.0)
            )
            library.api.base_url = base
            fields = (
                {"from_": config.from_number}
                if config.from_number
                else {"messaging_service_sid": config.messaging_service_sid}
            )
            await library.messages.create_async(
                to="+15550001111",
                body="héllo & bye 🙂",
                status_callback="https://bot.example/twilio/status",
                **fields,
            )
            await transport.close()
        assert sent == Sent(sid="SM" + "0" * 32, status="queued")
        ours, theirs = seen[-2], seen[-1]
        assert ours == theirs


async def _messages_api(
    aiohttp_server: Any, create: Callable[[web.Request], Awaitable[web.Response]], **config: Any
) -> TwilioConfig:
    """A Messages API answering with `create`, and a Twilio config that points at it."""
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create)
    server = await aiohttp_server(app)
    return TwilioConfig(
        account_sid="AC" + "2" * 32,
        auth_token="tok",
        from_number="+15550000000",
        api_base=str(server.make_url("")),
        **config,
    )


async def test_an_unreadable_answer_to_a_send_is_a_retry_after_a_look(aiohttp_server: Any) -> None:
    """Twilio answered 2xx but not with a message: it may have taken it, so the sender tries
    again after looking for it (a SendError without a status, as after a timeout)."""

    async def create(request: web.Request) -> web.Response:
        return web.Response(text="<html>proxy</html>", status=201)

    config = await _messages_api(aiohttp_server, create)
    async with aiohttp.ClientSession() as session:
        transport = TwilioTransport(session, config, "https://bot.example/twilio/status")
        with pytest.raises(SendError) as raised:
            await transport.send("+15550001111", "hi")
        await transport.close()
    assert raised.value.status is None
    assert raised.value.retryable


async def test_a_refused_send_keeps_twilios_status_code_and_retry_after(aiohttp_server: Any) -> None:
    """What the sender decides by: the HTTP status, Twilio's error code, Retry-After; and a
    send Twilio does not answer in time is a retry without a status (looked up first)."""
    answers = [
        web.json_response(
            {"code": 20429, "message": "Too Many Requests"}, status=429, headers={"Retry-After": "7"}
        ),
        web.json_response(
            {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}, status=400
        ),
        web.Response(text="<html>bad gateway</html>", status=502),
    ]

    answered = asyncio.Event()  # the last send's answer waits for it: past its timeout

    async def create(request: web.Request) -> web.Response:
        if answers:
            return answers.pop(0)
        await answered.wait()
        return web.json_response({"sid": "SM" + "0" * 32, "status": "queued"}, status=201)

    config = await _messages_api(aiohttp_server, create)
    async with aiohttp.ClientSession() as session:
        errors = []
        for timeout in (config.timeout_seconds,) * 3 + (0.2,):
            transport = TwilioTransport(
                session,
                dataclasses.replace(config, timeout_seconds=timeout),
                "https://bot.example/twilio/status",
            )
            with pytest.raises(SendError) as raised:
                await transport.send("+15550001111", "hi")
            errors.append(raised.value)
            await transport.close()
        answered.set()
    busy, opted_out, gateway, timed_out = errors
    assert (busy.status, busy.code, busy.retry_after, busy.retryable) == (429, 20429, 7.0, True)
    assert str(busy) == "Too Many Requests"
    assert (opted_out.status, opted_out.recipient_gone, opted_out.retryable) == (400, True, False)
    assert (gateway.status, gateway.code, gateway.retryable, str(gateway)) == (502, None, True, "HTTP 502")
    assert (timed_out.status, timed_out.retryable, str(timed_out)) == (
        None,
        True,
        "timed out waiting for Twilio",
    )


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_a_reply_held_behind_another_process_send_goes_when_that_send_is_committed(
    bot_factory: BotFactory, fake_twilio: Any
) -> None:
    """Two app instances (each its own engine and LISTEN connection, as two processes) on one
    PostgreSQL database. One sends a reply to a number (Twilio holds its answer); the other's
    claim leaves that number's next reply (storage/outbox.py `_SENT_ELSEWHERE`). Once the one
    commits its send, the other is woken and sends the next reply: it waited for its poll (60 s
    here; 1 s by default) before."""
    slow = {"poll_seconds": 60.0, "retry_base_seconds": 0.05}
    first = await bot_factory(twilio=fake_twilio.section(timeout_seconds=60.0), worker=slow)
    second = await bot_factory(first.config)
    for bot in (first, second):
        await asyncio.wait_for(bot.runtime.notifier.listening.wait(), 30)
    gate = fake_twilio.hold_to[ALICE] = asyncio.Event()
    # each instance's claims: (how many it had begun before this one, what it took)
    claims: dict[int, list[tuple[int, list[str]]]] = {id(first): [], id(second): []}
    begun = {id(first): 0, id(second): 0}
    claimed = asyncio.Event()

    def spy(bot: Bot) -> None:
        sender = bot.runtime.sender
        claim = sender.claim

        async def spied(conn: Any, *, now: float, limit: int) -> list[Any]:
            n = begun[id(bot)]
            begun[id(bot)] += 1
            sends = await claim(conn, now=now, limit=limit)
            claims[id(bot)].append((n, [s.body for s in sends]))
            claimed.set()
            return sends

        sender.claim = spied  # type: ignore[method-assign]

    async def claims_once(bot: Bot) -> list[str]:
        """What a claim of `bot` begun after now takes (not one under way: it may not see what
        was just queued)."""
        since = begun[id(bot)]
        bot.runtime.sender.wake()
        while True:
            claimed.clear()
            for n, took in claims[id(bot)]:
                if n >= since:
                    return took
            await asyncio.wait_for(claimed.wait(), 30)

    for bot in (first, second):  # and the claim each makes as it starts is behind it
        spy(bot)
        assert await claims_once(bot) == []

    async def queue(to: str, body: str) -> None:
        async with first.runtime.deps.db.tx() as conn:
            await outbox.enqueue(conn, to=to, body=body, dedupe_key=body, now=first.runtime.deps.now())

    await queue(ALICE, "a0")  # nothing wakes anyone but the test: a reply that fell due, say
    await claims_once(first)
    await fake_twilio.wait_for_messages(1)  # taken by Twilio, its answer held
    # the first took it, or the second in a claim still under way from the wake-ups as it started
    sending, waiting = (first, second) if ["a0"] in [t for _, t in claims[id(first)]] else (second, first)
    await queue(ALICE, "a1")
    assert await claims_once(waiting) == []  # a1 waits for the other's send of a0

    since = begun[id(waiting)]
    gate.set()
    await fake_twilio.wait_for_messages(2, timeout=20)
    assert [m["Body"] for m in fake_twilio.messages] == ["a0", "a1"]
    # the waiting one took it, woken by the other's commit
    assert ["a1"] in [took for n, took in claims[id(waiting)] if n >= since]
    assert ["a1"] not in [took for _, took in claims[id(sending)]]


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_a_stopping_process_wakes_the_others_for_the_sends_it_puts_back(
    bot_factory: BotFactory, fake_twilio: Any
) -> None:
    """Two app instances on one PostgreSQL database, polling every 60 s. One is sending a reply
    (Twilio holds its answer) when it stops: its claim is put back, and the other instance takes
    the reply at once, woken by the stop (it waited for its poll before: a rolling restart held
    each reply in flight for up to `worker.poll_seconds`)."""
    slow = {"poll_seconds": 60.0, "retry_base_seconds": 0.05}
    first = await bot_factory(twilio=fake_twilio.section(timeout_seconds=60.0), worker=slow)
    second = await bot_factory(first.config)
    for bot in (first, second):
        await asyncio.wait_for(bot.runtime.notifier.listening.wait(), 30)
    gate = fake_twilio.hold_to[ALICE] = asyncio.Event()
    async with first.runtime.deps.db.tx() as conn:
        await outbox.enqueue(conn, to=ALICE, body="a0", dedupe_key="a0", now=first.runtime.deps.now())
    first.runtime.sender.wake()
    second.runtime.sender.wake()
    await fake_twilio.wait_for_messages(1)  # taken by Twilio, its answer held
    # whichever took it stops, its send still in flight: cancelled, its claim put back
    sending, other = (first, second) if first.runtime.sender._tasks else (second, first)
    assert sending.runtime.sender._tasks
    assert not other.runtime.sender._tasks
    await sending.runtime.sender.stop(grace=0)
    gate.set()  # Twilio answers from now on (the cancelled request's answer comes to no one)

    async def settled_by_the_other() -> bool:
        async with other.runtime.deps.db.read() as conn:
            found = await conn.execute(sa.select(outbox_table.c.status, outbox_table.c.claimed_by))
            return [tuple(row) for row in found] == [("sent", None)]

    # the other claimed it at once, looked it up at Twilio (a put-back send may have gone) and
    # found it sent: settled, not sent twice
    await wait_for(settled_by_the_other, within=20)
    assert [m["Body"] for m in fake_twilio.messages] == ["a0"]


async def test_a_notice_a_blocked_chat_refuses_goes_to_the_persons_other_chat(
    bot_factory: BotFactory, fake_telegram: Any
) -> None:
    """Bob moved to a new Telegram account (paired to the old one), wrote once more from the old
    chat and blocked the bot there. Alice's `\\\\PAID` notice went to it, the chat he last wrote
    from, Telegram said 403, and it was lost: Bob never heard of that payment. It goes to his
    other chat."""
    alice, old, new = 7001, 7002, 7003
    bot = await bot_factory(telegram=fake_telegram.section())

    async def telegram(text: str, chat: int) -> list[str]:
        before = len(fake_telegram.sent)
        name = "Ann" if chat == alice else "Bob"
        assert await bot.handled(await say(bot, text, chat=chat, first_name=name)) == "done"
        await bot.settled()
        return [str(m["text"]) for m in fake_telegram.sent[before:] if str(m["chat_id"]) == str(chat)]

    await telegram("/create house pw", alice)
    await telegram("/join house pw", old)
    code = (await telegram("/pair", old))[0].split("Your code: ", 1)[1][:6]
    assert (await telegram(f"/pair {code}", new))[0].startswith("Paired:")
    await telegram("/rooms", old)  # the last he wrote from, then blocked
    fake_telegram.blocked.add(str(old))
    await telegram("/paid Bob 5", alice)

    async def noticed() -> list[str]:
        return [m for m in fake_telegram.to(new) if " paid you $5.00 in house" in m]

    assert len(await wait_for(noticed)) == 1
    assert ("sendMessage", 403) in fake_telegram.refused


async def test_a_send_that_reaches_no_twilio_says_why_in_the_log(
    bot_factory: BotFactory, fake_twilio: Any, refused_port: int
) -> None:
    """With Twilio's API unreachable (refused connections), every `sms.send_retry` said
    `"status": null, "error_code": null` and the next try's `sms.reconcile_failed` said
    `"error": "SendError"`: the operator could not tell a dead API from a timeout or a bug. With
    no answer, the lines carry our own words for it (`reason`), never a channel's message."""
    bot = await bot_factory(twilio=fake_twilio.section(api_base=f"http://127.0.0.1:{refused_port}"))
    with structlog.testing.capture_logs() as logs:
        await bot.text("\\HELP")

        async def looked_up() -> bool:
            return (
                any(e["event"] == "sms.reconcile_failed" for e in logs)
                and sum(e["event"] == "sms.send_retry" for e in logs) >= 2
            )

        await wait_for(looked_up)
    written = [scrub(None, "", dict(e)) for e in logs]
    retry = next(e for e in written if e["event"] == "sms.send_retry")
    assert retry["status"] is None
    assert retry["reason"].startswith("could not reach Twilio: ")
    lookup = next(e for e in written if e["event"] == "sms.reconcile_failed")
    assert lookup["reason"].startswith("could not ")
