"""Replies to Telegram through a local fake of the Bot API: a 429 holds every send for its
retry_after and the reply still arrives; a chat that blocked the bot gets nothing more (no retry,
no notice) until it writes again; a wrong token is refused for good; the pacing's slots."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.transport import CHAT_SECONDS, Pacer, TelegramTransport, as_telegram_writes
from bot.core.channel import SendError
from bot.core.config import TelegramConfig
from bot.core.logs import scrub
from tests.channels.telegram.talk import CHAT, OTHER_CHAT, say
from tests.conftest import Bot, BotFactory, wait_for
from tests.fakes.telegram_api import FakeTelegram


@pytest.fixture
async def tbot(bot_factory: BotFactory, fake_twilio: Any, fake_telegram: FakeTelegram) -> Bot:
    return await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())


async def test_a_429_holds_every_send_and_the_reply_still_arrives(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.throttle.append(0.3)
    await say(tbot, "/help")
    [sent] = await fake_telegram.wait_for_sent(1)
    assert sent["chat_id"] == str(CHAT)
    assert fake_telegram.refused == [("sendMessage", 429)]
    await tbot.settled()
    [row] = await tbot.rows("SELECT status, attempts FROM outbox")
    assert tuple(row) == ("sent", 2)


async def test_while_held_no_send_reaches_telegram(fake_telegram: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        transport = TelegramTransport(
            TelegramApi(http, TelegramConfig(**fake_telegram.section())),
            Pacer(per_second=1000, chat_seconds=0),
        )
        fake_telegram.throttle.append(30)
        with pytest.raises(SendError) as first:
            await transport.send(f"telegram:{CHAT}", "one")
        with pytest.raises(SendError) as second:
            await transport.send(f"telegram:{OTHER_CHAT}", "two")  # another chat: held too
    assert (first.value.status, first.value.retry_after, first.value.retryable) == (429, 30, True)
    assert second.value.status == 429
    assert 29 < (second.value.retry_after or 0) <= 30
    assert fake_telegram.calls == ["sendMessage"]  # the second never left


async def test_a_chat_that_blocked_the_bot_hears_nothing_until_it_writes_again(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.blocked.add(str(CHAT))
    sid = await say(tbot, "/help")
    await tbot.handled(sid)
    await tbot.settled()
    assert fake_telegram.refused == [("sendMessage", 403)]  # once: not retried
    [row] = await tbot.rows("SELECT status, error FROM outbox")
    assert tuple(row) == ("failed", "recipient opted out")
    assert await tbot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=f"telegram:{CHAT}")

    fake_telegram.blocked.clear()  # unblocked, and writes again: answered
    await say(tbot, "/help")
    [sent] = await fake_telegram.wait_for_sent(1)
    assert sent["chat_id"] == str(CHAT)
    assert not await tbot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=f"telegram:{CHAT}")


async def test_stop_on_telegram_is_confirmed_and_the_next_message_resumes(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    """No carrier answers a STOP on Telegram, as Twilio does for SMS: textwire says what it did,
    sends nothing more (a room's notices included) and the chat's next message resumes."""
    key = f"telegram:{CHAT}"
    await say(tbot, "/create flat hunter22")
    await say(tbot, "/help", chat=OTHER_CHAT)
    await fake_telegram.wait_for_sent(2)
    await say(tbot, "/join flat hunter22", chat=OTHER_CHAT)
    await say(tbot, "/name Bea", chat=OTHER_CHAT)
    await fake_telegram.wait_for_sent(4)
    sid = await say(tbot, "stop")
    assert await tbot.handled(sid) == "done"
    [confirmed] = (await fake_telegram.wait_for_sent(5))[4:]
    assert confirmed["chat_id"] == str(CHAT)
    assert confirmed["text"] == (
        "You will get no more messages from textwire here until you write again. \\STOP deletes your account."
    )
    assert await tbot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=key)

    paid = await say(tbot, "/paid ann 5", chat=OTHER_CHAT)  # a notice to the opted-out chat ...
    assert await tbot.handled(paid) == "done"
    await tbot.settled()
    skipped = await tbot.scalar(
        "SELECT count(*) FROM outbox WHERE to_phone = :p AND status = 'skipped'", p=key
    )
    assert skipped == 1  # ... is not sent
    assert [m["chat_id"] for m in fake_telegram.sent[5:]] == [str(OTHER_CHAT)]

    await say(tbot, "/rooms")  # writing again resumes
    [answer] = (await fake_telegram.wait_for_sent(7))[6:]
    assert answer["chat_id"] == str(CHAT)
    assert not await tbot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=key)


async def test_start_on_telegram_after_stop_says_replies_come_again_and_a_first_start_welcomes(
    tbot: Bot, fake_telegram: FakeTelegram
) -> None:
    """The chat's next message resumes it before any handler runs; a START then is still an
    opt-in ("again"), while a START from a chat that never stopped gets the welcome."""
    await say(tbot, "START", chat=OTHER_CHAT)
    [welcome] = await fake_telegram.wait_for_sent(1)
    assert welcome["text"].startswith("Welcome to textwire! ")
    await say(tbot, "stop")
    await fake_telegram.wait_for_sent(2)
    await say(tbot, "start")
    [again] = (await fake_telegram.wait_for_sent(3))[2:]
    assert again["text"] == "You will get replies from textwire again. Send /help for the commands."


async def test_stop_by_sms_is_left_to_the_carrier_to_confirm(tbot: Bot, fake_twilio: Any) -> None:
    form = await tbot.text("STOP")
    assert await tbot.handled(form["MessageSid"]) == "done"
    await tbot.settled()
    assert fake_twilio.messages == []
    assert await tbot.scalar("SELECT count(*) FROM outbox") == 0


async def test_the_log_shows_a_chats_id_as_it_shows_a_number(tbot: Bot, fake_telegram: FakeTelegram) -> None:
    """A private chat's id is its person's Telegram id: the log shows its last 4 digits only,
    in the send's id too (the outbox keeps it whole)."""
    chat = 987654321
    with capture_logs(processors=[merge_contextvars]) as logs:
        await say(tbot, "/help", chat=chat)
        await fake_telegram.wait_for_sent(1)
        await tbot.settled()
    [sent] = [e for e in logs if e["event"] == "sms.sent"]
    assert sent["twilio_sid"] == f"tg{fake_telegram.bot_id}:***4321:1"
    assert not [e for e in logs if "987654321" in repr(scrub(None, "", dict(e)))]
    assert await tbot.scalar("SELECT twilio_sid FROM outbox") == f"tg{fake_telegram.bot_id}:{chat}:1"


async def test_a_wrong_token_is_refused_for_good(fake_telegram: FakeTelegram) -> None:
    section = {**fake_telegram.section(), "bot_token": "1:wrong"}
    async with aiohttp.ClientSession() as http:
        transport = TelegramTransport(TelegramApi(http, TelegramConfig(**section)), Pacer(chat_seconds=0))
        with pytest.raises(SendError) as refused:
            await transport.send(f"telegram:{CHAT}", "hi")
    assert (refused.value.status, refused.value.retryable) == (401, False)
    assert "1:wrong" not in str(refused.value)  # the token is never in an error


def test_the_pacer_spaces_a_chat_by_a_second_and_all_by_thirty_a_second() -> None:
    pacer = Pacer(per_second=30, chat_seconds=1.0)
    assert pacer.slot("a", 100.5) == 100.5
    assert pacer.slot("a", 100.5) == pytest.approx(101.5)  # the same chat: a second later
    assert pacer.slot("b", 100.5) == 100.5  # another chat is not held behind it
    others = [pacer.slot(f"c{n}", 100.5) for n in range(30)]
    assert others[:28] == [100.5] * 28  # 30 in second 100: a, b and these 28 ...
    assert others[28:] == [101.0, 101.0]  # ... then the start of the next


async def test_a_transport_made_without_a_pacer_spaces_each_chat_by_a_second() -> None:
    """As the channel makes it (bot/channels/telegram/channel.py). A bot on the `fake_telegram`
    fixture paces more briefly (tests/fakes/telegram_api.py), so this test, without it, is what
    keeps Telegram's one message a second to a chat."""
    async with aiohttp.ClientSession() as http:
        transport = TelegramTransport(TelegramApi(http, TelegramConfig(bot_token="1:x")))
        assert transport.pacer.chat_seconds == CHAT_SECONDS == 1.0
        assert transport.pacer.slot("a", 5.0) == 5.0
        assert transport.pacer.slot("a", 5.0) == 6.0


async def test_every_send_takes_a_slot_of_the_pacer_first(fake_telegram: FakeTelegram) -> None:
    """The pacer is asked before each sendMessage (a bot's timing is not what tests wait on)."""
    slots: list[tuple[str, int]] = []

    class Recording(Pacer):
        def slot(self, chat: str, now: float) -> float:
            slots.append((chat, len(fake_telegram.sent)))  # taken before the send reached the fake
            return super().slot(chat, now)

    async with aiohttp.ClientSession() as http:
        transport = TelegramTransport(
            TelegramApi(http, TelegramConfig(**fake_telegram.section())), Recording(chat_seconds=0.01)
        )
        for text in ("one", "two"):
            await transport.send(f"telegram:{CHAT}", text)
    assert slots == [(str(CHAT), 0), (str(CHAT), 1)]
    assert [m["text"] for m in fake_telegram.sent] == ["one", "two"]


async def test_replies_to_one_chat_keep_their_order(tbot: Bot, fake_telegram: FakeTelegram) -> None:
    await say(tbot, "/help")
    await say(tbot, "/rooms")
    sent = await fake_telegram.wait_for_sent(2)

    async def both() -> bool:
        return len(fake_telegram.to(CHAT)) == 2

    await wait_for(both)
    assert "Rooms:" in sent[0]["text"] or "textwire" in sent[0]["text"]
    assert sent[0]["text"] != sent[1]["text"]


async def test_a_new_bot_on_the_same_database_sends_each_reply_once(
    bot_factory: BotFactory, fake_twilio: Any, fake_telegram: FakeTelegram, aiohttp_server: Any
) -> None:
    """A message id is unique within one bot's chat only: when the operator moves to a new bot,
    its ids in the same chat start again at 1. Its sends are recorded apart from the old bot's
    (each outbox row keeps the id of its own send), and each reply goes out once."""
    old = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    await say(old, "/help")
    [first] = await fake_telegram.wait_for_sent(1)
    await old.settled()
    await old.client.close()

    new_bot = FakeTelegram()
    new_bot.api_base = str((await aiohttp_server(new_bot.app())).make_url("")).rstrip("/")
    new = await bot_factory(twilio=fake_twilio.section(), telegram=new_bot.section())
    await say(new, "/help")
    await new_bot.wait_for_sent(1)
    await new.settled()
    assert [m["chat_id"] for m in new_bot.sent] == [str(CHAT)]  # once, not again after a failed commit
    rows = await new.rows("SELECT status, twilio_sid FROM outbox ORDER BY id")
    assert [r.status for r in rows] == ["sent", "sent"]
    assert rows[0].twilio_sid == f"tg{fake_telegram.bot_id}:{CHAT}:1"
    assert rows[1].twilio_sid == f"tg{new_bot.bot_id}:{CHAT}:1"
    assert first["chat_id"] == str(CHAT)


@pytest.mark.parametrize(
    ("reply", "sent"),
    [
        ("flat: all settled. \\BALANCE [<room>]", "flat: all settled. /balance [<room>]"),
        (
            "Unknown command \\BALANSE. Did you mean \\BALANCE?",
            "Unknown command /balanse. Did you mean /balance?",
        ),
        ("Others join with \\JOIN flat <password>.", "Others join with /join flat <password>."),
        # a tap sends the bare command: those that do something bare are never a tap away
        (
            "\\PAIR make another app \\STOP delete your account",
            "/pair make another app \\STOP delete your account",
        ),
        ("\\LEAVE [<room>] \\UNLINK disconnect X", "\\LEAVE [<room>] \\UNLINK disconnect X"),
        ("send \\PAIR 739351 from your other number", "send \\PAIR 739351 from your other number"),
        ("STOP to opt out. a\\b C:\\Users \\x", "STOP to opt out. a\\b C:\\Users \\x"),
    ],
)
def test_commands_in_a_reply_are_written_as_telegrams(reply: str, sent: str) -> None:
    """Replies named commands with a backslash, which a phone keyboard hides and Telegram does
    not make a link of: `/balance` is a tap away, as in any Telegram bot."""
    assert as_telegram_writes(reply) == sent
