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


async def pair_code(bot: Bot, fake: FakeTwilio, sender: str = ALICE) -> str:
    """`\\PAIR` from `sender`: the 6-digit code its reply gives."""
    return (await say(bot, fake, "\\PAIR", sender)).split("Your code: ", 1)[1][:6]


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


def store_down(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The media store refuses every put until `down[0] = False` (the switch returned)."""
    from storage.media import StoreUnavailable

    store = bot.runtime.deps.services.media_store
    assert store is not None
    real_put, down = store.put, [True]

    async def put(key: str, data: bytes, content_type: str) -> None:
        if down[0]:
            raise StoreUnavailable("injected")
        await real_put(key, data, content_type)

    monkeypatch.setattr(store, "put", put)
    return down


async def photo_parked_while_the_store_is_down(
    bot: Bot, fake: FakeTwilio, monkeypatch: pytest.MonkeyPatch, caption: str = ""
) -> tuple[str, list[bool]]:
    """Alice's photo sent while the media store refuses every put: it is parked (retried later)
    and she is told it waits. Its MessageSid, and the switch that brings the store back
    (`down[0] = False`)."""
    from handlers.media import STORE_WAIT
    from tests import images
    from tests.conftest import new_sid, wait_for
    from tests.features.receipts.test_media import mms

    down = store_down(bot, monkeypatch)
    sid = new_sid("MM")
    url = fake.media.add(images.jpeg_with_gps(), message_sid=sid)
    before = len(fake.messages)
    assert (await bot.post(bot.form(caption, sid=sid, **mms([url])))).status == 200

    async def parked() -> bool:
        return await bot.scalar("SELECT status FROM inbox WHERE message_sid = :s", s=sid) == "parked"

    await wait_for(parked)
    # told the photo waits (sent after the parking's commit: awaited, or it could come while a
    # later text is answered and be counted among its replies)
    assert (await fake.wait_for_messages(before + 1))[before]["Body"] == STORE_WAIT
    return sid, down
