"""POST /twilio/sms and /twilio/status through aiohttp's test server, with real signatures."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from bot.channels.twilio import webhook
from bot.gateway import routes as web
from bot.pipeline.dispatch import Context, HandlerResult, Inbound, Router
from storage.db import sqlite_path
from tests.conftest import ALICE, Bot, BotFactory, new_message, raw_request, wait_for
from tests.core.test_metrics import scrape, value


async def test_signed_help_gets_empty_twiml_then_one_reply_through_twilio(bot: Bot, fake_twilio: Any) -> None:
    form = bot.form("\\HELP")
    resp = await bot.post(form)
    assert resp.status == 200
    assert resp.content_type == "text/xml"
    assert await resp.text() == '<?xml version="1.0" encoding="UTF-8"?><Response />'
    await fake_twilio.wait_for_messages(1)
    assert await bot.handled(form["MessageSid"]) == "done"
    [sent] = fake_twilio.messages
    assert sent["To"] == ALICE
    assert sent["From"] == "+15557654321"
    assert sent["Body"].startswith("textwire:")
    assert "STOP" in sent["Body"]
    assert sent["StatusCallback"] == "https://sms.example.test/twilio/status"
    await bot.settled()
    assert len(fake_twilio.messages) == 1


async def test_same_webhook_ten_times_concurrently_is_one_row_and_one_reply(
    bot: Bot, fake_twilio: Any
) -> None:
    form = bot.form("\\HELP")
    responses = await asyncio.gather(*(bot.post(form) for _ in range(10)))
    assert [r.status for r in responses] == [200] * 10
    assert await bot.scalar("SELECT count(*) FROM inbox") == 1
    await fake_twilio.wait_for_messages(1)
    await bot.handled(form["MessageSid"])
    await bot.settled()
    assert len(fake_twilio.messages) == 1
    assert await bot.scalar("SELECT count(*) FROM outbox") == 1


async def test_forged_missing_and_wrong_url_signatures_are_403_and_store_nothing(bot: Bot) -> None:
    form = bot.form("\\HELP")
    forged = RequestValidator("not-the-token").compute_signature(bot.config.public_base + "/twilio/sms", form)
    wrong_url = bot.signature(form, url="https://attacker.example/twilio/sms")
    other_path = bot.signature(form, path="/twilio/status")
    for signature in (forged, "", wrong_url, other_path):
        resp = await bot.post(form, signature=signature)
        assert resp.status == 403, signature
    resp = await bot.client.post("/twilio/sms", data=form)  # no header at all
    assert resp.status == 403
    tampered = dict(form, Body="\\STOP")
    resp = await bot.post(tampered, signature=bot.signature(form))
    assert resp.status == 403
    assert await bot.scalar("SELECT count(*) FROM inbox") == 0


async def test_port_and_proxy_variants_of_a_genuine_request_are_accepted(bot: Bot) -> None:
    # The test server listens on 127.0.0.1:<random>; Twilio signed the public URL (behind a proxy).
    form = bot.form("\\HELP")
    with_port = bot.signature(form, url="https://sms.example.test:443/twilio/sms")
    resp = await bot.post(form, signature=with_port)
    assert resp.status == 200
    form2 = bot.form("\\HELP")
    resp = await bot.client.post(
        "/twilio/sms",
        data=form2,
        headers={
            "X-Twilio-Signature": bot.signature(form2),
            "Host": "internal:8080",
            "X-Forwarded-Proto": "http",
        },
    )
    assert resp.status == 200
    # the query string is part of what Twilio signs (e.g. connection overrides in the URL)
    form3 = bot.form("\\HELP")
    path = "/twilio/sms?source=twilio%2Bsms&x=a%20b"
    resp = await bot.post(form3, path=path)
    assert resp.status == 200
    assert await bot.scalar("SELECT count(*) FROM inbox") == 3


async def test_a_signature_for_the_consoles_other_url_is_403_and_the_log_names_both_urls(bot: Bot) -> None:
    """A console URL that differs from server.public_url (http for https, www. or not, or
    public_url left at this machine's address behind a proxy that passes the Host on) was a 403 on
    every text with only "invalid signature" in the log. It stays a 403; the line says which URL
    was checked and which one the signature is right for."""
    checked = "https://sms.example.test/twilio/sms"
    cases = [
        ("http://sms.example.test/twilio/sms", {}),
        ("https://www.sms.example.test/twilio/sms", {}),
        ("https://sms.example.com/twilio/sms", {"Host": "sms.example.com", "X-Forwarded-Proto": "https"}),
        ("http://sms.example.com:8443/twilio/sms", {"X-Forwarded-Host": "sms.example.com:8443"}),
    ]
    for signed_url, headers in cases:
        form = bot.form("\\HELP")
        with capture_logs() as logs:
            resp = await bot.client.post(
                "/twilio/sms",
                data=form,
                headers={"X-Twilio-Signature": bot.signature(form, url=signed_url), **headers},
            )
        assert resp.status == 403
        [line] = [e for e in logs if e["event"] == "sms.rejected"]
        assert line["checked"] == checked
        assert line["signed_for"] == signed_url
        assert (
            f"the URL in the Twilio console is {signed_url}, server.public_url gives {checked}" in line["fix"]
        )
    # a wrong token, or a forger: the URL checked, nothing guessed
    form = bot.form("\\HELP")
    forged = RequestValidator("not-the-token").compute_signature("http://sms.example.test/twilio/sms", form)
    with capture_logs() as logs:
        resp = await bot.post(form, signature=forged)
    assert resp.status == 403
    [line] = [e for e in logs if e["event"] == "sms.rejected"]
    assert line["checked"] == checked
    assert "signed_for" not in line
    assert "fix" not in line
    assert await bot.scalar("SELECT count(*) FROM inbox") == 0


async def test_malformed_forms_are_400_after_the_signature(bot: Bot) -> None:
    cases = [
        {k: v for k, v in bot.form("hi").items() if k != "MessageSid"},
        bot.form("hi", sid="SM123"),
        bot.form("hi", From=""),
        bot.form("hi", From="telegram:123"),  # not a channel Twilio carries: it spoke as a Telegram chat
        bot.form("hi", NumMedia="x"),
        bot.form("hi", NumMedia="2", MediaUrl0="https://api.twilio.com/x"),
        bot.form("hi", NumMedia="11"),
        bot.form("hi", AccountSid="AC" + "f" * 32),  # another account's webhook
    ]
    for form in cases:
        resp = await bot.post(form)
        assert resp.status == 400, form
    assert await bot.scalar("SELECT count(*) FROM inbox") == 0


async def test_non_form_body_is_400_when_signed_and_403_when_not(bot: Bot) -> None:
    url = bot.config.public_base + "/twilio/sms"
    signature = RequestValidator(bot.token).compute_signature(url, {})
    resp = await bot.client.post(
        "/twilio/sms",
        data=b"{}",
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/json"},
    )
    assert resp.status == 400
    resp = await bot.client.post("/twilio/sms", data=b"{}", headers={"Content-Type": "application/json"})
    assert resp.status == 403


async def test_body_over_64_kib_is_413_before_the_signature(bot: Bot) -> None:
    form = bot.form("x" * (65 * 1024))
    resp = await bot.client.post("/twilio/sms", data=form)  # unsigned: size is checked first
    assert resp.status == 413
    resp = await bot.post(form)
    assert resp.status == 413
    assert await bot.scalar("SELECT count(*) FROM inbox") == 0


async def test_a_webhook_whose_request_line_names_the_whole_url_is_checked_as_its_path(
    bot_factory: BotFactory, make_config: Any, fake_twilio: Any
) -> None:
    """A request line in absolute form (`POST http://host/twilio/sms HTTP/1.1`, which a server must
    accept, RFC 9112 3.2.2, and a forward proxy sends) was checked against the public URL with the
    whole URL pasted after it: any such request, forged or not, was a 500 with a traceback (a port
    that is no number) behind a public URL with a port. It is checked as its path and query."""
    config = make_config(twilio=fake_twilio.section())
    public = dataclasses.replace(config.server, public_url="https://sms.example.test:8443")
    bot = await bot_factory(dataclasses.replace(config, server=public))
    base = str(bot.client.make_url("")).rstrip("/")
    twiml = (200, webhook.EMPTY_TWIML)

    async def absolute(path: str, form: dict[str, str], signature: str) -> tuple[int, str]:
        return await raw_request(base, base + path, b"X-Twilio-Signature: " + signature.encode(), form=form)

    form, query = bot.form("\\HELP"), bot.form("\\HELP")
    status = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
    with capture_logs() as logs:
        assert await absolute("/twilio/sms", form, bot.signature(form)) == twiml
        assert (await absolute("/twilio/sms", bot.form("\\HELP"), "forged"))[0] == 403
        assert (await absolute("/twilio/status", status, "forged"))[0] == 403
        signed = bot.signature(query, path="/twilio/sms?a=%2B1")
        assert await absolute("/twilio/sms?a=%2B1", query, signed) == twiml
    assert [e for e in logs if e["log_level"] == "error"] == []
    assert await bot.handled(form["MessageSid"]) == "done"
    assert await bot.scalar("SELECT count(*) FROM inbox") == 2


async def test_an_idempotency_header_that_is_not_utf8_does_not_stop_the_message(
    bot: Bot, fake_twilio: Any
) -> None:
    """The signature does not cover headers: a signed webhook with an `I-Twilio-Idempotency-Token`
    whose bytes are not UTF-8 failed its insert (surrogates), answered 503 with
    `inbox.write_failed` at error level, and did so again on every retry. Twilio's tokens are
    ASCII: any other is none of Twilio's, and the message is stored without it."""
    form = bot.form("\\HELP")
    base = str(bot.client.make_url("")).rstrip("/")
    header = (
        b"X-Twilio-Signature: " + bot.signature(form).encode() + b"\r\nI-Twilio-Idempotency-Token: \xff\xfe"
    )
    with capture_logs() as logs:
        assert await raw_request(base, "/twilio/sms", header, form=form) == (200, webhook.EMPTY_TWIML)
    assert [e for e in logs if e["log_level"] == "error"] == []
    assert await bot.scalar("SELECT idempotency_token FROM inbox") is None
    assert await bot.handled(form["MessageSid"]) == "done"


async def test_storage_failure_answers_5xx_never_200(bot: Bot) -> None:
    """The 503's log line names the sender as every other line does (it said only the
    MessageSid: during a database outage the operator could not tell whose texts Twilio was
    told to retry, or find them later by number)."""
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(sa.text("ALTER TABLE inbox RENAME TO inbox_gone"))
    form = bot.form("\\HELP", sender="+15550004567")
    with capture_logs() as logs:
        resp = await bot.post(form)
    assert resp.status == 503
    [line] = [e for e in logs if e["event"] == "sms.store_failed"]
    assert line["message_sid"] == form["MessageSid"]
    assert line["sender"] == "+1******4567"
    assert line["channel"] == "sms"
    assert line["route"] == "/twilio/sms"
    assert line["status"] == 503


async def test_status_callbacks_are_signed_and_never_move_backwards(bot: Bot, fake_twilio: Any) -> None:
    await bot.text("\\HELP")
    await fake_twilio.wait_for_messages(1)
    twilio_sid = fake_twilio.messages[0]["sid"]

    async def has_sid() -> Any:
        return await bot.scalar("SELECT id FROM outbox WHERE twilio_sid = :s", s=twilio_sid)

    await wait_for(has_sid)

    async def callback(status: str, signed: bool = True) -> int:
        form = {"MessageSid": twilio_sid, "MessageStatus": status, "AccountSid": fake_twilio.account_sid}
        resp = await bot.post(form, path="/twilio/status", signature=None if signed else "bad")
        return int(resp.status)

    assert await callback("delivered", signed=False) == 403
    assert await callback("delivered") == 200
    assert await callback("sent") == 200  # late, out of order
    assert (
        await bot.scalar("SELECT delivery_status FROM outbox WHERE twilio_sid = :s", s=twilio_sid)
        == "delivered"
    )
    form = {"MessageSid": twilio_sid}
    resp = await bot.post(form, path="/twilio/status")
    assert resp.status == 400


async def test_a_forged_or_malformed_status_callback_logs_why_it_was_refused(bot: Bot) -> None:
    """A status callback with a wrong signature or without its MessageStatus left only its access
    line (403, 400, no reason): the operator could not tell a forger from a callback signed for
    another URL, nor what a 400 lacked. Each gets a line that says why, as an inbound text does."""
    form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    other_url = bot.signature(form, url="http://sms.example.test/twilio/status")
    with capture_logs() as logs:
        assert (await bot.post(form, path="/twilio/status", signature="forged")).status == 403
        assert (await bot.post(form, path="/twilio/status", signature=other_url)).status == 403
        assert (await bot.post({"MessageSid": form["MessageSid"]}, path="/twilio/status")).status == 400
    lines = [e for e in logs if e["event"] == "sms.status_rejected"]
    assert [(e["status"], e["reason"]) for e in lines] == [
        (403, "invalid signature"),
        (403, "invalid signature"),
        (400, "MessageSid or MessageStatus missing"),
    ]
    assert lines[0]["checked"] == "https://sms.example.test/twilio/status"
    assert "signed_for" not in lines[0]
    assert lines[1]["signed_for"] == "http://sms.example.test/twilio/status"
    assert all("fix" not in e for e in lines)


async def test_a_reply_twilio_took_then_could_not_deliver_is_counted_as_a_send_error(
    bot: Bot, fake_twilio: Any
) -> None:
    """`textwire_send_errors_total` ("replies a channel refused or failed", README, with 30003 as
    a code) counted only refusals in the answer to the send: a 30003 (unreachable handset) comes
    in the status callback, and the alert on a channel's errors never saw one. A callback's
    failure is counted by channel and code; a late one already applied, or a delivery, is not."""
    await bot.text("\\HELP")
    [reply] = await fake_twilio.wait_for_messages(1)
    await wait_for(lambda: bot.scalar("SELECT id FROM outbox WHERE twilio_sid = :s", s=reply["sid"]))
    series = 'textwire_send_errors_total{channel="sms",code="30003"}'

    async def callback(status: str, code: str = "") -> None:
        form = {"MessageSid": reply["sid"], "MessageStatus": status, "AccountSid": fake_twilio.account_sid}
        if code:
            form["ErrorCode"] = code
        assert (await bot.post(form, path="/twilio/status")).status == 200

    await callback("sent")
    assert series not in await scrape(bot)
    await callback("undelivered", "30003")
    assert value(await scrape(bot), series) == 1
    await callback("undelivered", "30003")  # Twilio's retry of the same callback: applied once
    assert value(await scrape(bot), series) == 1


async def test_a_21610_in_a_status_callback_marks_the_number_opted_out(bot: Bot, fake_twilio: Any) -> None:
    """Twilio took the reply (201), then its status callback said `failed` with 21610 (the number
    opted out at the carrier): the number stayed opted in here, and every later reply, `\\PAID`
    notice and reminder went to Twilio to fail the same way. It is now marked opted out, as a
    21610 in the answer to the send marks it; a stale one, about a reply sent before the number's
    latest text (a START since), is not."""
    await bot.text("\\HELP")
    [first] = await fake_twilio.wait_for_messages(1)

    async def sent(sid: str) -> Any:
        return await bot.scalar("SELECT id FROM outbox WHERE twilio_sid = :s", s=sid)

    await wait_for(lambda: sent(first["sid"]))
    await bot.text("START")  # texted after that reply went
    await fake_twilio.wait_for_messages(2)
    await wait_for(lambda: sent(fake_twilio.messages[1]["sid"]))

    async def failed(sid: str) -> int:
        form = {
            "MessageSid": sid,
            "MessageStatus": "failed",
            "ErrorCode": "21610",
            "AccountSid": fake_twilio.account_sid,
        }
        return int((await bot.post(form, path="/twilio/status")).status)

    assert await failed(first["sid"]) == 200  # late: the START came after it
    assert await bot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=ALICE) == 0
    assert await failed(fake_twilio.messages[1]["sid"]) == 200
    assert await bot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=ALICE) == 1
    requests = fake_twilio.requests
    again = await bot.text("\\HELP")
    assert await bot.handled(again["MessageSid"]) == "done"

    async def skipped() -> bool:
        status = await bot.scalar(
            "SELECT o.status FROM outbox o JOIN inbox i ON o.inbox_id = i.id WHERE i.message_sid = :s",
            s=again["MessageSid"],
        )
        return bool(status == "skipped")

    await wait_for(skipped)
    assert fake_twilio.requests == requests  # nothing more sent to it


async def test_health_ready_and_metrics(bot: Bot) -> None:
    resp = await bot.client.get("/healthz")
    assert resp.status == 200
    resp = await bot.client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["checks"]["database"] == "ok"
    sms = await bot.text("\\HELP")
    await bot.post(bot.form("hi"), signature="bad")
    await bot.handled(sms["MessageSid"])

    text = await bot.metrics_once('textwire_outbound_total{channel="sms",status="sent"} 1.0')
    assert 'textwire_inbound_total{channel="sms",result="accepted"} 1.0' in text
    assert 'textwire_inbound_total{channel="sms",result="forbidden"} 1.0' in text
    assert 'textwire_handled_total{channel="sms",result="done"} 1.0' in text
    assert 'textwire_outbound_total{channel="sms",status="sent"} 1.0' in text
    # every series of the hot path's counters is there from the start, at 0
    assert 'textwire_inbound_total{channel="telegram",result="too_large"} 0.0' in text
    assert 'textwire_handled_total{channel="whatsapp",result="failed"} 0.0' in text
    assert 'textwire_outbound_total{channel="telegram",status="skipped"} 0.0' in text
    assert "textwire_webhook_seconds_bucket" in text
    assert "textwire_inbox_depth" in text
    assert "textwire_outbox_depth" in text


async def test_readyz_is_503_when_the_database_is_down(bot: Bot) -> None:
    async def broken() -> None:
        raise ConnectionError("down")

    bot.runtime.ready_checks["database"] = broken
    resp = await bot.client.get("/readyz")
    assert resp.status == 503


async def test_metrics_need_loopback_or_the_bearer_token(bot_factory: BotFactory) -> None:
    bot = await bot_factory(server={"public_url": "https://sms.example.test", "metrics_token": "s3cret"})
    # aiohttp's test client is on loopback, so show the token path with a spoofed remote
    from bot.gateway.routes import _allowed_operator

    class Req:
        remote = "203.0.113.9"

        def __init__(self, auth: str) -> None:
            self.headers = {"Authorization": auth}

    assert not _allowed_operator(bot.runtime.gate, Req(""))  # type: ignore[arg-type]
    assert not _allowed_operator(bot.runtime.gate, Req("Bearer wrong"))  # type: ignore[arg-type]
    assert _allowed_operator(bot.runtime.gate, Req("Bearer s3cret"))  # type: ignore[arg-type]


async def test_an_unknown_command_gets_a_pointer_to_help(bot: Bot, fake_twilio: Any) -> None:
    form = await bot.text("\\FOO bar")
    await fake_twilio.wait_for_messages(1)
    assert fake_twilio.messages[0]["Body"] == "Unknown command \\FOO. Send \\HELP for the list."
    assert await bot.handled(form["MessageSid"]) == "done"


async def test_the_webhook_asks_the_dispatcher_which_messages_are_priority(bot_factory: BotFactory) -> None:
    extra = Router("extra")

    @extra.command("URGENT", args=0, priority=True)
    async def urgent(msg: Inbound, ctx: Context) -> HandlerResult:
        return None

    bot = await bot_factory(routers=(extra,))
    expected = {"\\urgent": 1, "STOP": 1, "\\STOP": 1, "/unlink": 1, "\\HELP": 0, "hello": 0, "\\URGENTLY": 0}
    sids = {body: (await bot.text(body))["MessageSid"] for body in expected}
    for body, priority in expected.items():
        stored = await bot.scalar("SELECT priority FROM inbox WHERE message_sid = :s", s=sids[body])
        assert stored == priority, body


async def test_whatsapps_forwarded_marks_are_stored_with_the_message(bot: Bot) -> None:
    """Twilio's inbound WhatsApp webhook says a message was forwarded (`Forwarded`) or forwarded
    many times (`FrequentlyForwarded`), "true" (https://www.twilio.com/docs/messaging/guides/webhook-request):
    they were ignored, and a forwarded text was posted to X as the person's. The row keeps the
    mark for the worker; anything but "true" is not one; SMS carries none. Signed as Twilio signs."""
    wally = "whatsapp:+15550009999"
    cases = [
        ({"Forwarded": "true"}, wally, True),
        ({"FrequentlyForwarded": "true", "Forwarded": "true"}, wally, True),
        ({"FrequentlyForwarded": "true"}, wally, True),
        ({"Forwarded": "false", "FrequentlyForwarded": "false"}, wally, False),
        ({"Forwarded": "yes"}, wally, False),
        ({}, wally, False),
        ({}, ALICE, False),
    ]
    for n, (marks, sender, forwarded) in enumerate(cases):
        form = await bot.text(f"words {n}", sender=sender, **marks)
        stored = await bot.rows(
            "SELECT forwarded, priority FROM inbox WHERE message_sid = :s", s=form["MessageSid"]
        )
        assert [(bool(r[0]), r[1]) for r in stored] == [(forwarded, 0)], marks
    # a forwarded \STOP is not run (handlers/forwarded.py), so the webhook stores it as no priority
    form = await bot.text("\\STOP", sender=wally, Forwarded="true")
    assert await bot.scalar("SELECT priority FROM inbox WHERE message_sid = :s", s=form["MessageSid"]) == 0
    form = await bot.text("\\STOP", sender=wally)
    assert await bot.scalar("SELECT priority FROM inbox WHERE message_sid = :s", s=form["MessageSid"]) == 1


def test_the_webhook_imports_no_handler_module() -> None:
    """bot/gateway/routes.py keeps no list of priority commands: it asks the dispatcher."""
    tree = ast.parse(Path(web.__file__).read_text())
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [name for name in imported if name.split(".")[0] == "handlers"]


def _new(n: int, body: str) -> Any:
    return new_message(f"SM{n:032x}", f"+1555000{n:04d}", body, received_at=1.0)


async def test_a_row_the_database_refuses_fails_only_its_own_webhook(bot: Bot, monkeypatch: Any) -> None:
    """The group commit inserts a batch in one transaction; when that fails, each message is tried
    alone: the others are stored (and answered 200), only the refused one fails."""
    from structlog.testing import capture_logs

    from storage import inbox

    writer = bot.runtime.writer
    insert = writer._insert

    async def refusing(messages: list[inbox.NewMessage]) -> set[str]:
        if any(m.body == "poison" for m in messages):
            raise sa.exc.DataError("INSERT", None, ValueError("this row cannot be stored"))
        return await insert(messages)

    monkeypatch.setattr(writer, "_insert", refusing)

    batch = [_new(1, "\\HELP"), _new(2, "poison"), _new(3, "\\HELP"), _new(1, "\\HELP")]
    with capture_logs() as logs:  # added at once: one batch
        results = await asyncio.gather(*(writer.add(m) for m in batch), return_exceptions=True)
    assert results[0] is True and results[2] is True and results[3] is False  # noqa: PT018
    assert isinstance(results[1], sa.exc.DataError)
    stored = await bot.rows("SELECT message_sid FROM inbox ORDER BY message_sid")
    assert [r.message_sid for r in stored] == [f"SM{1:032x}", f"SM{3:032x}"]
    assert [(e["event"], e.get("failed")) for e in logs if e["event"].startswith("inbox.")] == [
        ("inbox.write_failed", 1)
    ]


async def test_when_the_database_itself_fails_a_batch_is_not_retried_row_by_row(
    bot: Bot, monkeypatch: Any
) -> None:
    from storage import inbox

    writer = bot.runtime.writer
    calls: list[int] = []

    async def down(messages: list[inbox.NewMessage]) -> set[str]:
        calls.append(len(messages))
        raise sa.exc.OperationalError("INSERT", None, OSError("the database is away"))

    monkeypatch.setattr(writer, "_insert", down)
    batch = [_new(n, "hi") for n in range(6)]
    results = await asyncio.gather(*(writer.add(m) for m in batch), return_exceptions=True)
    assert all(isinstance(r, sa.exc.OperationalError) for r in results)
    assert calls == [6, 1, 1]  # the batch, two alone, then the rest fail at once


async def test_the_webhooks_insert_waits_for_a_write_in_progress_on_the_shared_connection(bot: Bot) -> None:
    """On a SQLite file the webhook's batch insert runs on `Database.write()`'s connection (one
    page cache for every write of the process), under the write lock: a webhook that comes while a
    write transaction is open waits for it, and a transaction rolled back does not take the
    webhook's row with it (run inside it, the row would go too)."""
    db = bot.runtime.deps.db
    if db.write_lock is None or sqlite_path(db.url) is None:
        pytest.skip("the appender is the SQLite file's")
    appender = bot.runtime.writer._appender
    assert appender is not None
    assert appender._conn is await db.sqlite_writer()
    appending = asyncio.Event()
    append = appender.append

    async def signalling(messages: Any) -> set[str]:
        appending.set()
        return await append(messages)

    appender.append = signalling  # type: ignore[method-assign]
    form = bot.form("\\HELP")
    posted: list[asyncio.Task[Any]] = []

    async def rolled_back() -> None:
        async with db.write() as conn:
            await conn.execute(sa.text("UPDATE users SET name = 'x' WHERE 0"))
            posted.append(asyncio.create_task(bot.post(form)))
            await appending.wait()  # the batch is on its way: it must wait for this block
            await asyncio.sleep(0.05)  # a chance to run inside it, if it did not wait
            assert not posted[0].done()
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await rolled_back()
    response = await posted[0]
    assert response.status == 200
    rows = await bot.rows("SELECT message_sid FROM inbox")
    assert [r.message_sid for r in rows] == [form["MessageSid"]]


@settings(max_examples=500, deadline=None)
@given(st.text("ab=&+%2F3Dg ;\u00e9\u65e5\x00", max_size=40))
def test_the_webhooks_form_parser_is_parse_qsl(text: str) -> None:
    """`web.parse_form` decodes only what has a `%` or a `+`: the same fields as parse_qsl with
    blank values kept, for any text (broken escapes, `=` in values, empty pairs, NUL)."""
    from urllib.parse import parse_qsl

    assert webhook.parse_form(text) == parse_qsl(text, keep_blank_values=True)


async def test_a_failed_store_says_why_without_a_rows_values(bot: Bot, monkeypatch: Any) -> None:
    """A full disk logged `inbox.write_failed` with `OperationalError` alone (SQLAlchemy's class
    for any driver): the operator could not tell it from a lock or a lost connection. SQLite's
    own words name no values and are logged; another driver's message may quote a row and is not."""
    import sqlite3

    from structlog.testing import capture_logs

    from storage import inbox

    writer = bot.runtime.writer
    failure: list[BaseException] = [sqlite3.OperationalError("database or disk is full")]

    async def failing(messages: list[inbox.NewMessage]) -> set[str]:
        raise sa.exc.OperationalError("INSERT", None, failure[0])

    monkeypatch.setattr(writer, "_insert", failing)
    with capture_logs() as logs:
        [result] = await asyncio.gather(writer.add(_new(1, "\\HELP")), return_exceptions=True)
        failure[0] = ValueError("the row of +15550001111 cannot be stored")
        [other] = await asyncio.gather(writer.add(_new(2, "\\HELP")), return_exceptions=True)
    assert isinstance(result, sa.exc.OperationalError)
    assert isinstance(other, sa.exc.OperationalError)
    reasons = [(e["error"], e["reason"]) for e in logs if e["event"] == "inbox.write_failed"]
    assert reasons == [
        ("OperationalError", "OperationalError: database or disk is full"),
        ("OperationalError", "ValueError"),
    ]


async def test_a_status_callback_the_database_cannot_take_is_a_503_without_a_traceback(bot: Bot) -> None:
    """A delivery status callback that came while the database was away (a PostgreSQL restart or
    failover, SQLite's file locked by another process past its wait) answered Twilio 500 with a
    traceback in the log. It is a 503 and one warning line, as an inbound message's is."""
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(sa.text("ALTER TABLE outbox RENAME TO outbox_gone"))
    form = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    with capture_logs() as logs:
        resp = await bot.post(form, path="/twilio/status")
    assert resp.status == 503
    assert [e for e in logs if "exc_info" in e] == []  # (the sender's claims fail too: no table)
    [line] = [e for e in logs if e["event"] == "sms.status_failed"]
    assert line["twilio_sid"] == form["MessageSid"]
    assert line["log_level"] == "warning"
