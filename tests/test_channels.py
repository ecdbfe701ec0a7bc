"""One room, one ledger, any channel (issue 25), end to end through the real app: a Telegram member
creates a room, an SMS member joins it, each sends a receipt (a Telegram photo through getFile,
an MMS through Twilio's media API), and `/balance` on Telegram and `\\BALANCE` by SMS agree."""

from __future__ import annotations

from typing import Any

from tests import images
from tests.channels.telegram.talk import CHAT, say
from tests.conftest import ALICE, BotFactory
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_rest import FakeTwilio


async def test_a_room_with_a_telegram_member_and_an_sms_member_keeps_one_ledger(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram
) -> None:
    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())

    async def telegram(text: str | None, **message: Any) -> str:
        before = len(fake_telegram.sent)
        sid = await say(bot, text, **message)
        assert await bot.handled(sid) == "done"
        sent = await fake_telegram.wait_for_sent(before + 1)
        return str(sent[before]["text"])

    async def sms(body: str, **extra: str) -> str:
        before = len(fake_twilio.messages)
        form = await bot.text(body, sender=ALICE, **extra)
        assert await bot.handled(form["MessageSid"]) == "done"
        return (await fake_twilio.wait_for_messages(before + 1))[before]["Body"]

    assert "house" in (await telegram("/create house hunter22")).lower()
    await telegram("/name Ann")
    joined = await sms("\\JOIN house hunter22")
    assert "house" in joined.lower()

    # a Telegram photo (the largest size is the one fetched) with its amount in the caption
    big = fake_telegram.add_file(images.jpeg_with_gps(640, 480), "photos/file_1.jpg")
    small = fake_telegram.add_file(images.jpeg_with_gps(64, 48), "photos/file_0.jpg")
    photo = [
        {"file_id": small, "file_unique_id": "s", "width": 64, "height": 48, "file_size": 900},
        {"file_id": big, "file_unique_id": "b", "width": 640, "height": 480, "file_size": 9000},
    ]
    saved = await telegram(None, chat=CHAT, photo=photo, caption="$30.00")
    assert saved.startswith("Saved $30.00 to house"), saved
    assert fake_telegram.calls.count("getFile") == 1
    url = fake_twilio.media.add(images.jpeg_with_gps())
    mms = await sms("$10.00", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert mms.startswith("Saved $10.00 to house"), mms

    on_telegram = await telegram("/balance")
    by_sms = await sms("\\BALANCE")
    assert "$10.00" in on_telegram
    assert "$10.00" in by_sms
    rows = await bot.rows("SELECT channel, count(*) FROM receipts GROUP BY channel ORDER BY channel")
    assert [tuple(r) for r in rows] == [("sms", 1), ("telegram", 1)]
