"""`POST /telegram/webhook` through the real app: the secret token, the body limit, what is not an
Update, updates with nothing to handle, replays of an update_id, commands as groups send them,
and the answers going out through a local fake of the Bot API."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from structlog.testing import capture_logs

from bot.channels.telegram.webhook import GROUP_ANSWER
from tests import images
from tests.channels.telegram.talk import CHAT, OTHER_CHAT, edit, post_update, say, update
from tests.conftest import Bot, BotFactory, raw_request
from tests.fakes.telegram_api import FakeTelegram
from tests.features.ledger.test_reminders import Clock


@pytest.fixture
async def tbot(bot_factory: BotFactory, fake_twilio: Any, fake_telegram: FakeTelegram) -> Bot:
    return await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())


async def stored(bot: Bot) -> int:
    return int(await bot.scalar("SELECT count(*) FROM inbox"))


@pytest.mark.parametrize("secret", ["", "wrong-secret"], ids=["missing", "wrong"])
async def test_a_wrong_or_missing_secret_is_403_and_nothing_is_stored(tbot: Bot, secret: str) -> None:
    with capture_logs() as logs:
        resp = await post_update(tbot, update("/help"), secret=secret)
    assert resp.status == 403
    assert await stored(tbot) == 0
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["telegram.rejected"]


@pytest.mark.parametrize("expect", [b"\xff\xfe", b"something"], ids=["not-utf8", "unknown"])
async def test_an_expect_header_we_do_not_know_is_417_as_on_every_other_route(
    tbot: Bot, expect: bytes
) -> None:
    """`/telegram/webhook` alone was added without the routes' own `expect_handler`: aiohttp's
    quoted the header in its answer, and one whose bytes are not UTF-8 was a 500 with an
    error-level traceback, from anyone, before the secret was checked."""
    base = str(tbot.client.make_url("")).rstrip("/")
    status, text = await raw_request(base, "/telegram/webhook", b"Expect: " + expect, form={})
    assert (status, text) == (417, "unknown Expect")
    assert await stored(tbot) == 0


async def test_a_body_over_64_kib_is_413(tbot: Bot) -> None:
    resp = await post_update(tbot, b"{" + b" " * (64 * 1024 + 1) + b"}")
    assert resp.status == 413
    assert await stored(tbot) == 0


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"message": {"text": "hi"}}', b'{"update_id": 5, "message": {"text": "hi"}}'],
    ids=["not-json", "not-an-object", "no-update-id", "no-chat"],
)
async def test_what_is_not_an_update_is_400(tbot: Bot, body: bytes) -> None:
    resp = await post_update(tbot, body)
    assert resp.status == 400
    assert await stored(tbot) == 0


@pytest.mark.parametrize(
    "payload",
    [
        {"update_id": 12, "my_chat_member": {"chat": {"id": CHAT}}},
        {**update("/help"), "message": {**update("/help")["message"], "from": {"id": 9, "is_bot": True}}},
    ],
    ids=["a-member-change", "from-a-bot"],
)
async def test_updates_with_nothing_to_handle_are_200_and_dropped(
    tbot: Bot, payload: dict[str, Any], fake_telegram: FakeTelegram
) -> None:
    resp = await post_update(tbot, payload)
    assert resp.status == 200
    assert await stored(tbot) == 0


async def test_start_is_welcomed_in_plain_text_and_a_replay_is_answered_once(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    payload = update("/start")
    assert (await post_update(tbot, payload)).status == 200
    assert (await post_update(tbot, payload)).status == 200  # Telegram's retry of the same update
    await fake_telegram.wait_for_sent(1)
    await tbot.settled()
    [sent] = fake_telegram.sent
    assert sent["chat_id"] == str(CHAT)
    assert sent["text"].startswith("Welcome to textwire!")
    assert "parse_mode" not in sent
    assert sent["link_preview_options"] == {"is_disabled": True}
    assert await stored(tbot) == 1
    [row] = await tbot.rows("SELECT channel, from_phone FROM inbox")
    assert tuple(row) == ("telegram", f"telegram:{CHAT}")
    [out] = await tbot.rows("SELECT channel, to_phone, status FROM outbox")
    assert tuple(out) == ("telegram", f"telegram:{CHAT}", "sent")

    text = await tbot.metrics_once('textwire_outbound_total{channel="telegram",status="sent"} 1.0')
    assert 'textwire_inbound_total{channel="telegram",result="accepted"} 1.0' in text
    assert 'textwire_inbound_total{channel="telegram",result="duplicate"} 1.0' in text
    assert 'textwire_handled_total{channel="telegram",result="done"} 1.0' in text
    assert 'textwire_inbound_total{channel="sms",result="accepted"} 0.0' in text


async def test_help_lists_every_command_in_one_message(tbot: Bot, fake_telegram: FakeTelegram) -> None:
    """Telegram has no segments: \\HELP there is the whole list, a family a line."""
    await say(tbot, "/help")
    [sent] = await fake_telegram.wait_for_sent(1)
    text = sent["text"]
    for family in ("Rooms:", "Splitting the bill:", "X:", "Account:"):
        assert family in text
    for command in ("/join", "/create", "/balance", "/paid", "/link", "\\STOP"):  # /stop: no tap
        assert command in text
    assert "\\JOIN" not in text
    assert len(text) > 160
    assert text.count("\n") >= 4


async def test_a_group_command_with_the_bots_name_works(tbot: Bot, fake_telegram: FakeTelegram) -> None:
    await say(tbot, "/create@textwire_test_bot house hunter22")
    [sent] = await fake_telegram.wait_for_sent(1)
    assert "house" in sent["text"].lower()
    assert "unknown" not in sent["text"].lower()


async def test_the_route_is_404_when_telegram_is_off(bot: Bot) -> None:
    resp = await post_update(bot, update("/start"), secret="anything")
    assert resp.status == 404


async def test_a_video_with_a_caption_is_refused_by_name_not_taken_for_a_text(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    """As an MMS video is: never fetched, and its caption is no text (to post, for a linked person)."""
    await say(tbot, "/create flat hunter22")
    await fake_telegram.wait_for_sent(1)
    sid = await say(tbot, None, video={"file_id": "vid1", "duration": 3}, caption="dinner 40")
    assert await tbot.handled(sid) == "done"
    [reply] = (await fake_telegram.wait_for_sent(2))[1:]
    assert reply["text"] == (
        "textwire does not read videos. Send text, receipt photos or PDF files; /help lists the commands."
    )
    assert "getFile" not in fake_telegram.calls
    assert await tbot.scalar("SELECT count(*) FROM receipts") == 0


async def test_the_received_line_names_the_chat_masked_as_the_worker_does(
    bot_factory: BotFactory, fake_telegram: FakeTelegram
) -> None:
    """`telegram.received` had no `sender` (`sms.received` has one): a webhook's line could not
    be matched to the chat's other lines."""
    bot = await bot_factory(telegram=fake_telegram.section())
    chat = 123456789
    with capture_logs() as logs:
        assert await bot.handled(await say(bot, "/help", chat=chat)) == "done"
    [line] = [e for e in logs if e["event"] == "telegram.received"]
    assert line["sender"] == "Telegram ***6789"
    assert str(chat) not in str(line)


async def test_a_first_name_with_a_nul_is_stored_and_answered(tbot: Bot, fake_telegram: FakeTelegram) -> None:
    """PostgreSQL's text holds no NUL: a first name with one failed its insert, so the webhook
    answered 503 and Telegram's retries of it failed again, for ever (the text's NUL was cleaned,
    the name's was not)."""
    message_sid = await say(tbot, "/help", first_name="An\x00n")
    assert await tbot.handled(message_sid) == "done"
    assert await tbot.scalar("SELECT sender_name FROM inbox") == "An\ufffdn"


async def test_a_voice_note_from_someone_in_no_room_is_refused_at_once_not_kept_for_a_room(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    """A voice note sent before any room was answered "Photos are kept in rooms: ... this photo
    goes there", and once the person made a room, "Photo 1 was not saved": a photo that never was.
    Telegram names it, so it is refused at once and waits for nothing, and said as a sticker is
    (it was still "Photo 1 was not saved")."""
    sid = await say(tbot, None, voice={"file_id": "voice1", "duration": 3})
    assert await tbot.handled(sid) == "done"
    [reply] = await fake_telegram.wait_for_sent(1)
    assert reply["text"] == (
        "textwire does not read voice notes. Send text, receipt photos or PDF files; /help lists the commands."
    )
    await say(tbot, "/create flat hunter22")
    await fake_telegram.wait_for_sent(2)
    await tbot.settled()
    assert [s["text"].split(";")[0] for s in fake_telegram.sent[1:]] == ["Created room flat"]
    assert "getFile" not in fake_telegram.calls
    assert await tbot.scalar("SELECT count(*) FROM receipts") == 0


async def test_a_word_file_is_answered_as_a_file_not_as_a_photo_never_sent(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    """A Word file (a document Telegram types as no image nor PDF) was answered "Photo 1 was not
    saved: ...": the person sent no photo. It is a file, said as one; never fetched."""
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    for shown in ("", "/create flat hunter22"):  # in no room, then in one
        if shown:
            await say(tbot, shown)
        sid = await say(tbot, None, document={"file_id": "doc1", "file_name": "a.docx", "mime_type": docx})
        assert await tbot.handled(sid) == "done"
    sent = await fake_telegram.wait_for_sent(3)
    answer = "This file was not saved: only photos (JPEG, PNG, GIF, WebP, HEIC) and PDF files are kept."
    assert [sent[0]["text"], sent[2]["text"]] == [answer, answer]
    assert "getFile" not in fake_telegram.calls
    assert await tbot.scalar("SELECT count(*) FROM receipts") == 0


@pytest.mark.parametrize("mime", [None, "application/octet-stream"], ids=["no-type", "octet-stream"])
async def test_a_file_whose_bytes_are_no_receipt_is_answered_as_a_file(
    tbot: Bot, fake_telegram: FakeTelegram, mime: str | None
) -> None:
    """A file Telegram gives no type of its own (a ZIP, a text file: read by its first bytes) was
    answered "Photo 1 was not saved: ...", of a photo the person never sent, where a Word file is
    answered as a file. It is a file too, said as one."""
    await say(tbot, "/create flat hunter22")
    zipped = fake_telegram.add_file(b"PK\x03\x04" + b"receipts.txt " * 40, "documents/file_1")
    document: dict[str, Any] = {"file_id": zipped, "file_unique_id": "z", "file_name": "receipts.zip"}
    if mime is not None:
        document["mime_type"] = mime
    assert await tbot.handled(await say(tbot, None, document=document)) == "done"
    sent = await fake_telegram.wait_for_sent(2)
    assert sent[1]["text"] == (
        "This file was not saved: only photos (JPEG, PNG, GIF, WebP, HEIC) and PDF files are kept."
    )
    assert await tbot.scalar("SELECT count(*) FROM receipts") == 0


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"sticker": {"file_id": "st1", "emoji": "\U0001f44d"}}, "stickers"),
        ({"location": {"latitude": 40.7, "longitude": -74.0}}, "locations"),
        ({"contact": {"phone_number": "+15551112222", "first_name": "Bob"}}, "contacts"),
        ({"poll": {"id": "1", "question": "who pays?", "options": []}}, "polls"),
    ],
    ids=["sticker", "location", "contact", "poll"],
)
async def test_a_sticker_or_a_location_gets_an_answer_saying_what_textwire_reads(
    tbot: Bot, fake_telegram: FakeTelegram, fields: dict[str, Any], named: str
) -> None:
    """They were dropped at the webhook: the person heard nothing, in a room or not."""
    first = await say(tbot, None, **fields)
    assert await tbot.handled(first) == "done"
    await say(tbot, "/create flat hunter22")
    await fake_telegram.wait_for_sent(2)
    again = await say(tbot, None, **fields)
    assert await tbot.handled(again) == "done"
    sent = await fake_telegram.wait_for_sent(3)
    answer = (
        f"textwire does not read {named}. Send text, receipt photos or PDF files; /help lists the commands."
    )
    assert [sent[0]["text"], sent[2]["text"]] == [answer, answer]
    assert "getFile" not in fake_telegram.calls
    assert await tbot.scalar("SELECT count(*) FROM receipts") == 0


async def test_an_edited_command_is_not_run_and_the_person_is_told_to_send_it_again(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    """An edit was dropped without a word: a person who fixed a typo in `/create` by editing it
    waited for an answer that never came."""
    await say(tbot, "/create flat hunter22")
    await fake_telegram.wait_for_sent(1)
    await edit(tbot, update("/create flat2 hunter22"))
    [reply] = (await fake_telegram.wait_for_sent(2))[1:]
    assert reply["text"] == (
        "textwire does not read edits, so nothing changed: send the new text as a new message."
    )
    assert await tbot.scalar("SELECT count(*) FROM rooms") == 1


async def test_an_edited_caption_of_a_receipt_says_how_to_set_its_amount(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    """A person who sent a receipt photo and then edited its caption to add the amount was told
    "send the new text as a new message": the amount sent as a text set nothing (and was posted
    to X for a linked person). The answer says to send \\AMOUNT."""
    await say(tbot, "/create flat hunter22")
    await fake_telegram.wait_for_sent(1)
    file_id = fake_telegram.add_file(images.jpeg_with_gps(), "photos/file_1.jpg")
    photo = [{"file_id": file_id, "file_unique_id": "p", "width": 64, "height": 48}]
    await edit(tbot, update(None, photo=photo, caption="70.95"))
    [reply] = (await fake_telegram.wait_for_sent(2))[1:]
    assert reply["text"] == (
        "textwire does not read edits, so nothing changed. To set the amount of your last receipt, "
        "send e.g. /amount 12.50."
    )
    assert "getFile" not in fake_telegram.calls
    assert await tbot.scalar("SELECT count(*) FROM receipts") == 0


@pytest.mark.parametrize(
    "service",
    [
        {"new_chat_members": "bot"},
        {"group_chat_created": True},
    ],
    ids=["added", "group-made-with-it"],
)
async def test_the_bot_added_to_a_group_says_once_there_that_it_answers_private_chats(
    tbot: Bot, fake_telegram: FakeTelegram, service: dict[str, Any]
) -> None:
    """A group's messages are not handled, and the person who added the bot to one heard nothing,
    then or at their `/help` there. The service message that adds it is answered in the group;
    nothing is stored, and the group's messages are still not handled. Its commands are written
    as Telegram's, as every reply there is: it said `\\CREATE, \\JOIN`."""
    bot_id = int(tbot.config.telegram.bot_token.split(":", 1)[0])
    if service.get("new_chat_members") == "bot":
        service = {"new_chat_members": [{"id": bot_id, "is_bot": True, "first_name": "textwire"}]}
    group = {"id": -1001234567890, "type": "supergroup", "title": "flat"}
    added = update(**service)
    added["message"]["chat"] = group
    resp = await post_update(tbot, added)
    assert resp.status == 200
    assert await resp.json() == {
        "method": "sendMessage",
        "chat_id": group["id"],
        "text": "textwire answers private chats only, so it reads nothing in this group. Each of you can "
        "message it directly; a room (/create, /join) is where you share receipts and split bills.",
    }
    someone_else = update(new_chat_members=[{"id": 99, "is_bot": False, "first_name": "Bob"}])
    someone_else["message"]["chat"] = group
    help_there = update("/help")
    help_there["message"]["chat"] = group
    for payload in (someone_else, help_there):
        resp = await post_update(tbot, payload)
        assert (resp.status, await resp.json()) == (200, {"ok": True})
    assert await stored(tbot) == 0


async def test_a_group_that_used_the_bot_before_is_told_once_a_day_when_it_asks(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    """0.2.0 answered groups. After the upgrade a group that already had the bot heard nothing at
    all, `/balance@textwire_bot` or `/help` included: it is told, once a day (not at every
    command), that textwire answers private chats; a plain message, another bot's or one asked
    again the same day gets nothing, and nothing is stored."""
    bot_id = int(tbot.config.telegram.bot_token.split(":", 1)[0])
    group = {"id": -1001234567890, "type": "supergroup", "title": "flat"}

    async def in_group(text: str, chat: dict[str, Any] = group, **fields: Any) -> Any:
        payload = update(text)
        payload["message"]["chat"] = chat
        payload["message"].update(fields)
        resp = await post_update(tbot, payload)
        assert resp.status == 200
        return await resp.json()

    told = {"method": "sendMessage", "chat_id": group["id"], "text": GROUP_ANSWER}
    assert await in_group("who paid for the pizza?") == {"ok": True}  # not asked: said nothing
    bot_said = {"message_id": 5, "from": {"id": bot_id, "is_bot": True, "first_name": "textwire"}}
    assert await in_group("/balance@textwire_bot") == told
    assert await in_group("/help") == {"ok": True}  # the same day: once is enough
    assert await in_group("and now?", reply_to_message=bot_said) == {"ok": True}
    other = {"id": -1009876543210, "type": "group", "title": "trip"}
    assert await in_group("thanks", chat=other, reply_to_message=bot_said) == told | {"chat_id": other["id"]}
    another_bot = {"id": 77, "is_bot": True, "first_name": "otherbot"}
    third = {"id": -1005555555555, "type": "supergroup", "title": "club"}
    assert await in_group("/help", chat=third, **{"from": another_bot}) == {"ok": True}
    assert await stored(tbot) == 0


async def test_a_payment_telegram_redelivers_after_midnight_is_in_the_month_it_was_sent(
    bot_factory: BotFactory, fake_telegram: FakeTelegram
) -> None:
    """Telegram keeps what our server missed (a restart at midnight) and delivers it later, with
    the time it was sent. A `/paid` of 23:58 on January 31st in New York came at 00:05 and went
    into February's statement, and `/statement` sent at 23:59 linked February's."""
    new_york = ZoneInfo("America/New_York")
    clock = Clock(dt.datetime(2026, 1, 31, 23, 30, tzinfo=new_york).timestamp())
    bot = await bot_factory(telegram=fake_telegram.section(), clock=clock)

    async def telegram(text: str, chat: int, at: dt.datetime) -> str:
        before = len(fake_telegram.sent)
        name = "Ann" if chat == CHAT else "Bob"
        assert (
            await bot.handled(await say(bot, text, chat=chat, first_name=name, date=int(at.timestamp())))
            == "done"
        )
        await bot.settled()
        return next(str(m["text"]) for m in fake_telegram.sent[before:] if str(m["chat_id"]) == str(chat))

    now = dt.datetime.fromtimestamp(clock.now, new_york)
    assert (await telegram("/create flat pw", CHAT, now)).startswith("Created room flat")
    assert (await telegram("/timezone America/New_York", CHAT, now)).endswith("New_York now.")
    assert (await telegram("/join flat pw", OTHER_CHAT, now)).startswith("Joined flat")
    clock.now = dt.datetime(2026, 2, 1, 0, 5, tzinfo=new_york).timestamp()  # back up after midnight
    late = dt.datetime(2026, 1, 31, 23, 58, tzinfo=new_york)
    assert (await telegram("/paid ann 5", OTHER_CHAT, late)).startswith("Recorded: you paid Ann $5.00.")
    assert await bot.scalar("SELECT created_at FROM payments") == late.timestamp()
    asked = await telegram("/statement", OTHER_CHAT, late + dt.timedelta(minutes=1))
    assert "/statement/2026-01?" in asked, asked


async def test_a_group_asking_in_a_forum_topic_is_answered_in_that_topic(tbot: Bot) -> None:
    """A supergroup with topics (a flat's "Bills" topic): `/balance@textwire_bot` asked there was
    answered in the General topic, where the person asking did not see it (or not at all, when
    General is closed to members). The answer goes to the topic asked in; outside a topic (a
    plain group, or General, whose messages are no topic's) it carries no thread."""
    forum = {"id": -1001234567890, "type": "supergroup", "title": "flat", "is_forum": True}
    asked = update("/balance@textwire_bot", message_thread_id=42, is_topic_message=True)
    asked["message"]["chat"] = forum
    resp = await post_update(tbot, asked)
    assert resp.status == 200
    assert await resp.json() == {
        "method": "sendMessage",
        "chat_id": forum["id"],
        "message_thread_id": 42,
        "text": GROUP_ANSWER,
    }
    plain = {"id": -1009876543210, "type": "group", "title": "trip"}
    asked = update("/help", message_thread_id=7)  # a reply's thread in a plain group: no topic
    asked["message"]["chat"] = plain
    resp = await post_update(tbot, asked)
    assert await resp.json() == {"method": "sendMessage", "chat_id": plain["id"], "text": GROUP_ANSWER}
    assert await stored(tbot) == 0
