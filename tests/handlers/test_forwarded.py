"""Messages forwarded from another chat, end to end through the real app, the fake Bot API, the
fake of Twilio's Messages API and the fake of X: a forwarded text is not posted to X as the
person's (someone else's words, under their name, without that person's consent) and they are
told so once; a forwarded command is not run; a forwarded photo is a receipt as ever."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from handlers.forwarded import FORWARDED_COMMAND, FORWARDED_TEXT
from tests import images
from tests.channels.telegram.talk import CHAT, say
from tests.conftest import BotFactory, XBot, browser, link_in, make_xbot, open_confirm_page
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_rest import FakeTwilio

BOB = {"id": 777, "is_bot": False, "first_name": "Bob"}
# Bot API 7.0's mark, and the fields it replaced (a Bot API server older than 7.0 sends those)
FORWARDS = {
    "forward_origin": {"forward_origin": {"type": "user", "date": 1_789_990_000, "sender_user": BOB}},
    "forward_from": {"forward_from": BOB, "forward_date": 1_789_990_000},
    "forward_sender_name": {"forward_sender_name": "Bob", "forward_date": 1_789_990_000},
}
FROM_BOB = FORWARDS["forward_origin"]
WALLY = "whatsapp:+15550009999"


async def linked_on_telegram(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_x: Any, fake_telegram: FakeTelegram
) -> tuple[XBot, Any]:
    """A bot on the fakes of X and Telegram whose Telegram person connected X; and what the chat
    is answered to a message (its text, and the message's other fields)."""
    xbot = await make_xbot(bot_factory, fake_twilio, fake_x, telegram=fake_telegram.section())

    async def telegram(text: str | None, **message: Any) -> str:
        before = len(fake_telegram.sent)
        assert await xbot.handled(await say(xbot, text, **message)) == "done"
        return str((await fake_telegram.wait_for_sent(before + 1))[before]["text"])

    url = link_in(await telegram("hello"))
    async with browser() as session:
        data, headers = await open_confirm_page(session, url)
        async with session.post(url, data=data, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
    assert (await fake_telegram.wait_for_sent(2))[1]["text"].startswith("Connected @")
    await xbot.settled()
    return xbot, telegram


@pytest.mark.parametrize("marks", FORWARDS.values(), ids=FORWARDS.keys())
async def test_a_forwarded_text_is_not_posted_and_the_person_is_told_once(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    fake_x: Any,
    fake_telegram: FakeTelegram,
    marks: dict[str, Any],
) -> None:
    """A linked person forwarded Bob's message to the bot: it was posted to X under their name,
    Bob's words without Bob's consent, and answered with the post's link. It is not posted now;
    the one answer says why and how to post it; the log line names no words of it. Their own
    text is posted as ever."""
    xbot, telegram = await linked_on_telegram(bot_factory, fake_twilio, fake_x, fake_telegram)
    with capture_logs() as logs:
        answer = await telegram("Bob: the landlord is a crook, don't tell anyone", **marks)
    assert answer == FORWARDED_TEXT
    assert fake_x.posts == []
    [line] = [line for line in logs if line["event"] == "x.post.forwarded_skipped"]
    assert "landlord" not in repr(line)
    await xbot.settled()
    assert len(fake_telegram.to(CHAT)) == 3  # the link, "Connected", this answer: nothing more
    assert (await telegram("my own words")).startswith("https://x.com/")
    assert [text for _, text in fake_x.posts] == ["my own words"]


async def test_a_forwarded_whatsapp_text_is_not_posted(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_x: Any
) -> None:
    """WhatsApp through Twilio: `Forwarded=true` (or `FrequentlyForwarded=true`) on the signed
    webhook. The text was posted to X as the person's; it is answered instead."""
    xbot = await make_xbot(
        bot_factory, fake_twilio, fake_x, twilio={"whatsapp_from": "whatsapp:+14155238886"}
    )
    await xbot.link(sender=WALLY)
    for marks in ({"Forwarded": "true"}, {"Forwarded": "true", "FrequentlyForwarded": "true"}):
        before = len(fake_twilio.messages)
        form = await xbot.text("Forwarded many times: share this with 10 friends", sender=WALLY, **marks)
        assert await xbot.handled(form["MessageSid"]) == "done"
        assert (await fake_twilio.wait_for_messages(before + 1))[before]["Body"] == FORWARDED_TEXT
    assert fake_x.posts == []
    before = len(fake_twilio.messages)
    form = await xbot.text("my own words", sender=WALLY, Forwarded="false")
    await xbot.handled(form["MessageSid"])
    assert (await fake_twilio.wait_for_messages(before + 1))[before]["Body"].startswith("https://x.com/")
    assert [text for _, text in fake_x.posts] == ["my own words"]


async def test_a_forwarded_command_is_not_run_and_its_password_is_not_kept(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_x: Any, fake_telegram: FakeTelegram
) -> None:
    """A command someone else typed, forwarded (a `/join` shown in a group, a `/stop`, a
    `/paid`): it ran as the person's own. It is not run, nor posted; the answer says to type it;
    the inbox keeps no password of it; a forwarded `/stop` is no priority message either."""
    xbot, telegram = await linked_on_telegram(bot_factory, fake_twilio, fake_x, fake_telegram)
    assert (await telegram("/create house hunter22")).startswith("Created room house")
    for command in ("/join flat hunter22", "JOIN flat hunter22", "/stop", "/paid bob 20", "/nosuch"):
        assert await telegram(command, **FROM_BOB) == FORWARDED_COMMAND, command
    assert fake_x.posts == []
    assert await xbot.scalar("SELECT count(*) FROM rooms") == 1
    assert await xbot.scalar("SELECT count(*) FROM payments") == 0
    assert await xbot.scalar("SELECT count(*) FROM addresses WHERE address = :a", a=f"telegram:{CHAT}") == 1
    rows = await xbot.rows("SELECT body, priority FROM inbox WHERE forwarded ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("/JOIN ***", 0),
        ("JOIN ***", 0),
        ("/stop", 0),
        ("/PAID ***", 0),
        ("/nosuch", 0),
    ]
    assert (await telegram("/rooms")).startswith("Your rooms")


async def test_a_forwarded_receipt_photo_is_saved_as_ever(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram
) -> None:
    """A partner's receipt photo forwarded to the bot, with its caption: saved to the room with
    the caption's amount, as a photo the person took."""
    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    await say(bot, "/create house hunter22")
    await fake_telegram.wait_for_sent(1)
    file_id = fake_telegram.add_file(images.jpeg_with_gps(), "photos/file_1.jpg")
    photo = [{"file_id": file_id, "file_unique_id": "p", "width": 64, "height": 48}]
    assert await bot.handled(await say(bot, None, photo=photo, caption="12.50", **FROM_BOB)) == "done"
    [reply] = (await fake_telegram.wait_for_sent(2))[1:]
    assert reply["text"].startswith("Saved $12.50 to house"), reply["text"]
    assert [tuple(r) for r in await bot.rows("SELECT amount_minor FROM receipts")] == [(1250,)]


@pytest.mark.parametrize("caption", ["/stop", "\\UNLINK", "/join flat hunter22"])
async def test_a_forwarded_photos_caption_is_no_command_the_photo_is_saved(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram, caption: str
) -> None:
    """A forwarded photo whose caption is a command someone else typed: a `/stop` under it deleted
    the person's account (a priority command ran ahead of the photo, which was dropped), as a
    forwarded `/stop` alone no longer does. The photo is saved, the command is not run, and the
    reply says so."""
    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    await say(bot, "/create house hunter22")
    await fake_telegram.wait_for_sent(1)
    file_id = fake_telegram.add_file(images.jpeg_with_gps(), "photos/file_1.jpg")
    photo = [{"file_id": file_id, "file_unique_id": "p", "width": 64, "height": 48}]
    assert await bot.handled(await say(bot, None, photo=photo, caption=caption, **FROM_BOB)) == "done"
    await bot.settled()
    replies = [m["text"] for m in fake_telegram.sent[1:]]
    assert replies[0].startswith("Saved"), replies
    name = caption.split()[0].lstrip("/\\")
    said = " ".join(replies)  # the note as the chat shows a command: `/join`, or `\\STOP` (no tap)
    assert f"{name.lower()} was not run: send it on its own, not with a photo." in said.lower(), replies
    assert await bot.scalar("SELECT count(*) FROM receipts") == 1
    assert await bot.scalar("SELECT count(*) FROM users") == 1  # the person is still here
    assert await bot.scalar("SELECT count(*) FROM rooms") == 1
    rows = await bot.rows("SELECT priority FROM inbox WHERE forwarded")
    assert [r.priority for r in rows] == [0]
