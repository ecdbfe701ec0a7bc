"""Status callbacks (bot/channels/twilio/status.py) that come before the sender has recorded the
sid Twilio answered with: kept, then applied by the channel's job once the reply has it, counted
once, and never about another reply. (A WhatsApp 63016's: tests/channels/twilio/test_whatsapp.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

from structlog.testing import capture_logs

from bot.channels.twilio import status
from tests.conftest import ALICE, Bot, wait_for
from tests.core.test_metrics import scrape, value
from tests.fakes.twilio_rest import FakeTwilio


async def held_reply(bot: Bot, fake: FakeTwilio) -> tuple[str, asyncio.Event]:
    """Alice's `\\HELP` answered: Twilio has taken the reply (its sid is known to Twilio), and
    has not answered the send yet. The sid, and the event that lets Twilio answer."""
    answered = fake.hold_to[ALICE] = asyncio.Event()
    form = await bot.text("\\HELP")
    await bot.handled(form["MessageSid"])

    async def taken() -> list[dict[str, str]]:
        return [m for m in fake.messages if m["To"] == ALICE]

    [reply] = await wait_for(taken)
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE twilio_sid = :s", s=reply["sid"]) == 0
    return reply["sid"], answered


async def answered_now(bot: Bot, fake: FakeTwilio, sid: str, answered: asyncio.Event) -> None:
    del fake.hold_to[ALICE]
    answered.set()
    await wait_for(lambda: bot.scalar("SELECT id FROM outbox WHERE twilio_sid = :s", s=sid))


async def callback(bot: Bot, fake: FakeTwilio, sid: str, state: str, code: str = "") -> None:
    form: dict[str, Any] = {"MessageSid": sid, "MessageStatus": state, "AccountSid": fake.account_sid}
    if code:
        form["ErrorCode"] = code
    assert (await bot.post(form, path="/twilio/status")).status == 200


async def test_a_21610_before_the_sid_is_recorded_opts_the_number_out_once_it_is(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    sid, answered = await held_reply(bot, fake_twilio)
    with capture_logs() as logs:
        await callback(bot, fake_twilio, sid, "failed", "21610")
    assert [(e["applied"], e.get("kept")) for e in logs if e["event"] == "sms.status"] == [(False, True)]
    assert not [e for e in logs if e["event"] == "sms.opted_out_at_carrier"]
    await answered_now(bot, fake_twilio, sid, answered)
    series = 'textwire_send_errors_total{channel="sms",code="21610"}'
    assert value(await scrape(bot), series) == 0
    with capture_logs() as logs:
        await status.catch_up(bot.runtime.deps)
    assert [(e["applied"], e.get("late")) for e in logs if e["event"] == "sms.status"] == [(True, True)]
    assert [e["to"] for e in logs if e["event"] == "sms.opted_out_at_carrier"] == ["+1******1111"]
    assert await bot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=ALICE) == 1
    metrics = await scrape(bot)
    assert value(metrics, series) == 1
    # counted when it came, not again when applied
    assert value(metrics, 'textwire_delivery_status_total{status="failed"}') == 1
    assert await bot.scalar("SELECT count(*) FROM early_statuses") == 0


async def test_callbacks_kept_for_one_reply_apply_in_order_and_never_move_it_back(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`sent` and `delivered` both before the sid, then a late `sent` after it: delivered stays."""
    sid, answered = await held_reply(bot, fake_twilio)
    await callback(bot, fake_twilio, sid, "delivered")
    await callback(bot, fake_twilio, sid, "sent")
    # a status Twilio has no rank for here is neither applied nor kept
    await callback(bot, fake_twilio, sid, "receiving")
    assert await bot.scalar("SELECT count(*) FROM early_statuses") == 2
    await status.catch_up(bot.runtime.deps)  # the reply has no sid yet: kept on
    assert await bot.scalar("SELECT count(*) FROM early_statuses") == 2
    await answered_now(bot, fake_twilio, sid, answered)
    await status.catch_up(bot.runtime.deps)
    assert await bot.scalar("SELECT delivery_status FROM outbox WHERE twilio_sid = :s", s=sid) == "delivered"
    await callback(bot, fake_twilio, sid, "sent")
    assert await bot.scalar("SELECT delivery_status FROM outbox WHERE twilio_sid = :s", s=sid) == "delivered"
    assert await bot.scalar("SELECT count(*) FROM early_statuses") == 0
