"""Talking to the real app over HTTP (signed webhooks in, the fake Twilio's messages out), as
tests/test_rooms.py and tests/test_ledger.py do, with Twilio's extra form fields (`OptOutType`)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.pipeline import replyguard
from tests.conftest import ALICE, Bot
from tests.fakes.twilio_rest import FakeTwilio


@pytest.fixture(autouse=True)
def people_type_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """These conversations send more texts a minute to one number than the reply guard's budget
    lets through at once: imported into a test module, it raises the budget there."""
    monkeypatch.setattr(replyguard, "BUDGET", 100)


async def text(bot: Bot, body: str, sender: str = ALICE, **extra: str) -> str:
    """Text the bot and wait until it has handled the message and sent what it answered; returns
    the message's sid."""
    form = await bot.text(body, sender=sender, **extra)
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    return form["MessageSid"]


async def say(bot: Bot, fake: FakeTwilio, body: str, sender: str = ALICE, **extra: str) -> str:
    """The one reply to `sender`."""
    before = len(fake.messages)
    await text(bot, body, sender, **extra)
    replies = [m["Body"] for m in fake.messages[before:] if m["To"] == sender]
    assert len(replies) == 1, replies
    return replies[0]


async def silent(bot: Bot, fake: FakeTwilio, body: str, sender: str = ALICE, **extra: str) -> str:
    """Text the bot; it handles the message and sends nothing to anyone. Returns the sid."""
    before = len(fake.messages)
    sid = await text(bot, body, sender, **extra)
    assert fake.messages[before:] == []
    return sid


async def inbox_row(bot: Bot, sid: str) -> Any:
    [row] = await bot.rows("SELECT priority, status FROM inbox WHERE message_sid = :s", s=sid)
    return row


async def answers(bot: Bot, sid: str) -> list[str | None]:
    """The kinds of the replies to one message, as the reply guard logged them."""
    rows = await bot.rows("SELECT answer FROM reply_log WHERE message_sid = :s ORDER BY id", s=sid)
    return [r.answer for r in rows]


async def opted_out(bot: Bot, phone: str) -> bool | None:
    """The number's opt-out flag; None when it has no record."""
    value = await bot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=phone)
    return None if value is None else bool(value)
