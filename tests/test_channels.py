"""One room, one ledger, any channel (issue 25), end to end through the real app: a Telegram member
creates a room, an SMS member joins it, each sends a receipt (a Telegram photo through getFile,
an MMS through Twilio's media API), and `/balance` on Telegram and `\\BALANCE` by SMS agree."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from bot.features.x.accounts import XAccounts
from bot.pipeline.dispatch import Context, Dispatcher, Inbound, Reply
from tests import images
from tests.channels.telegram.talk import CHAT, OTHER_CHAT, say
from tests.conftest import ALICE, BOB, Bot, BotFactory, XBot, wait_for
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_rest import FakeTwilio


async def first_reply(bot: Bot, fake_twilio: FakeTwilio, body: str, sender: str) -> str:
    """Text the bot and return the first message sent to `sender` after it (its reply), once all
    it sent for it is out (a `\\PAIR <code>` tells the address that asked for the code too)."""
    return (await reply_to(bot, fake_twilio, body, sender))["Body"]


async def reply_to(bot: Bot, fake_twilio: FakeTwilio, body: str, sender: str) -> dict[str, str]:
    """`first_reply`, the whole message."""
    before = len(fake_twilio.messages)
    form = await bot.text(body, sender=sender)
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    return next(m for m in fake_twilio.messages[before:] if m["To"] == sender)


WHATSAPP_FROM = "whatsapp:+14155238886"


async def whatsapp_bot(bot_factory: BotFactory, fake_twilio: FakeTwilio, **sections: Any) -> Bot:
    """The bot with WhatsApp on too (through the same fake of Twilio); `sections`: more config."""
    return await bot_factory(twilio={**fake_twilio.section(), "whatsapp_from": WHATSAPP_FROM}, **sections)


def code_in(reply: str) -> str:
    """The code in \\PAIR's answer ("Your code: 415140. ...")."""
    return reply.split("Your code: ", 1)[1][:6]


async def alices_room_and_code(bot: Bot, fake_twilio: FakeTwilio) -> str:
    """Alice makes house by SMS and asks for a code to pair another address with: the code."""
    await first_reply(bot, fake_twilio, "\\CREATE house hunter22", ALICE)
    return code_in(await first_reply(bot, fake_twilio, "\\PAIR", ALICE))


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
        await bot.settled()  # and what it told the person elsewhere (a `\\PAIR <code>`'s notice)
        return next(m for m in fake_twilio.messages[before:] if m["To"] == ALICE)["Body"]

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


async def test_a_whatsapp_address_paired_with_an_sms_one_is_the_same_person(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram
) -> None:
    """\\PAIR from SMS gives a code; \\PAIR <code> from WhatsApp joins that address to the person:
    the same name, rooms and balances, each reply going where its message came from. \\STOP from
    one address ends that address only and opts it out (its goodbye still goes)."""
    wally = "whatsapp:+15550009999"
    bot = await whatsapp_bot(bot_factory, fake_twilio, telegram=fake_telegram.section())

    async def text(body: str, sender: str) -> dict[str, str]:
        return await reply_to(bot, fake_twilio, body, sender)

    await text("\\CREATE house hunter22", ALICE)
    await text("\\NAME Alice", ALICE)
    offer = await text("\\PAIR", ALICE)
    code = code_in(offer["Body"])
    assert code.isdigit()
    wrong = await text("\\PAIR 000000" if code != "000000" else "\\PAIR 111111", wally)
    assert wrong["Body"].startswith("That code is wrong")
    paired = await text(f"\\PAIR {code}", wally)
    assert (paired["To"], paired["From"]) == (wally, WHATSAPP_FROM)
    assert paired["Body"].startswith("Paired: this address and SMS +1******1111 are one person now")
    again = await text(f"\\PAIR {code}", "+15550003333")  # single use
    assert again["Body"].startswith("That code is wrong")

    rooms_from_whatsapp = await text("\\ROOMS", wally)
    assert "house" in rooms_from_whatsapp["Body"]
    assert rooms_from_whatsapp["To"] == wally
    people = await bot.scalar("SELECT count(*) FROM users WHERE phone IN (:a, :w)", a=ALICE, w=wally)
    assert people == 1

    bye = await text("\\STOP", wally)
    assert bye["Body"].startswith("Goodbye from textwire at this address")
    still = await text("\\ROOMS", ALICE)
    assert "house" in still["Body"]
    # the address is a new person now, answered as anyone who writes (not opted out: that
    # silenced even its \\HELP, with nothing saying why)
    fresh = await text("\\ROOMS", wally)
    assert fresh["Body"].startswith("You are not in a room"), fresh
    assert (await text("\\HELP", wally))["Body"].startswith("textwire:")
    assert await bot.scalar("SELECT count(*) FROM users WHERE phone = :w", w=wally) == 1
    assert not await bot.scalar("SELECT opted_out FROM users WHERE phone = :w", w=wally)


async def test_an_address_with_rooms_of_its_own_is_refused_with_what_to_do(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    bot = await bot_factory(twilio=fake_twilio.section())
    bob = "+15550002222"

    async def text(body: str, sender: str) -> str:
        return await first_reply(bot, fake_twilio, body, sender)

    code = code_in(await text("\\PAIR", ALICE))
    await text("\\CREATE flat pw12345", bob)
    refused = await text(f"\\PAIR {code}", bob)
    assert refused.startswith("This address has rooms of its own. Pair the other way")
    # a refusal does not spend the code: the address it was meant for still pairs with it
    assert (await text(f"\\PAIR {code}", "+15550005555")).startswith("Paired: this address")
    code = code_in(await text("\\PAIR", ALICE))
    for attempt in range(5):
        await text(f"\\PAIR {attempt:06d}" if f"{attempt:06d}" != code else "\\PAIR 999999", "+15550004444")
    assert await text(f"\\PAIR {code}", "+15550004444") == (
        "Too many wrong passwords or codes. Please wait 15 minutes before you try again."
    )


async def test_a_code_copied_with_its_full_stop_or_read_out_in_two_halves_pairs(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """The code comes as "Your code: 415140."; `\\PAIR 415140.` answered "That code is wrong" and
    counted toward the lockout, and `\\PAIR 415 140` answered the usage."""
    bot = await bot_factory(twilio=fake_twilio.section())

    async def text(body: str, sender: str) -> str:
        return await first_reply(bot, fake_twilio, body, sender)

    code = code_in(await text("\\PAIR", ALICE))
    assert (await text(f"\\PAIR {code}.", "+15550005555")).startswith("Paired: this address")
    code = code_in(await text("\\PAIR", ALICE))
    assert (await text(f"\\pair {code[:3]} {code[3:]}", "+15550006666")).startswith("Paired: this address")
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0
    bodies = [r.body for r in await bot.rows("SELECT body FROM inbox WHERE from_phone <> :p", p=ALICE)]
    assert bodies == ["\\PAIR ***", "\\PAIR *** ***"], bodies


async def test_a_code_typed_in_an_arabic_or_devanagari_keyboards_digits_pairs(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A code read off one phone and typed on another whose keyboard writes Arabic-Indic (or
    Persian, Devanagari) digits, `\\PAIR \u0664\u0661\u0665\u0661\u0664\u0660`, was "That code is wrong or
    has expired" and counted toward the lockout, though `\\AMOUNT` and `\\STATEMENT` read such digits."""
    bot = await bot_factory(twilio=fake_twilio.section())

    async def text(body: str, sender: str) -> str:
        return await first_reply(bot, fake_twilio, body, sender)

    for sender, zero in (("+15550005555", 0x660), ("+15550006666", 0x6F0), ("+15550007777", 0x966)):
        code = code_in(await text("\\PAIR", ALICE))
        typed = "".join(chr(zero + int(d)) for d in code)
        assert (await text(f"\\PAIR {typed}", sender)).startswith("Paired: this address"), sender
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0
    # a superscript or a fraction is no digit of a code: wrong, as before
    assert await text("\\PAIR \u00b9\u00b2\u00b3456", "+15550008888") == (
        "That code is wrong or has expired. Send \\PAIR from your other address for a new one."
    )


async def test_a_refused_pair_says_a_way_that_works(bot_factory: BotFactory, fake_twilio: FakeTwilio) -> None:
    """Rooms both sides: \\LEAVE them when nothing in them is this address's (not "pair the other
    way", refused too); an X account: \\UNLINK."""
    bot = await bot_factory(twilio=fake_twilio.section())
    bob, carol = "+15550002222", "+15550003333"

    async def text(body: str, sender: str) -> str:
        return await first_reply(bot, fake_twilio, body, sender)

    await text("\\CREATE flat pw12345", ALICE)
    await text("\\CREATE den pw12345", bob)
    code = code_in(await text("\\PAIR", ALICE))
    # nothing of bob's own in den: leaving it is a way (tests/handlers/test_account.py)
    assert (await text(f"\\PAIR {code}", bob)).startswith("This address is in rooms with nothing")
    await text("\\HELP", carol)
    async with bot.runtime.deps.db.tx() as conn:  # carol linked X (the link flow: tests/features/x)
        await conn.execute(sa.text("UPDATE users SET x_user_id = '77' WHERE phone = :p"), {"p": carol})
    assert await text(f"\\PAIR {code}", carol) == (
        "This address has an X account of its own. Send \\UNLINK here, then the code again."
    )
    code = code_in(await text("\\PAIR", carol))
    assert await text(f"\\PAIR {code}", bob) == (
        "This address has rooms of its own. Pair the other way: \\UNLINK on your other address, "
        "\\PAIR here, then the code from there."
    )


class Both:
    """One bot with Telegram and SMS: a chat's message, or Alice's text, and the answer to it."""

    def __init__(self, bot: Any, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram) -> None:
        self.bot, self.fake_twilio, self.fake_telegram = bot, fake_twilio, fake_telegram

    async def telegram(self, text: str, chat: int = CHAT, first_name: str = "Ann") -> str:
        before = len(self.fake_telegram.sent)
        sid = await say(self.bot, text, chat=chat, first_name=first_name)
        assert await self.bot.handled(sid) == "done"
        await self.bot.settled()  # and what it told the person elsewhere (a `\\PAIR <code>`'s notice)
        return str(next(m for m in self.fake_telegram.sent[before:] if m["chat_id"] == str(chat))["text"])

    async def sms(self, body: str) -> str:
        return await first_reply(self.bot, self.fake_twilio, body, ALICE)


async def test_a_telegram_member_without_a_name_goes_by_their_telegram_first_name(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram
) -> None:
    """Members with no \\NAME are shown by the first name Telegram gives them (kept up to date),
    and `\\PAID` takes it; a first name `\\NAME` would refuse (not GSM-7) is not shown."""
    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    both = Both(bot, fake_twilio, fake_telegram)
    telegram, sms = both.telegram, both.sms

    await telegram("/create house hunter22")
    await telegram("/join house hunter22", chat=OTHER_CHAT, first_name="Анна")
    await sms("\\JOIN house hunter22")
    paid = await sms("\\PAID Ann 10")
    assert "Ann" in paid, paid
    assert "Ann pays +1******1111 $10.00" in await sms("\\BALANCE")
    paid = await sms("\\PAID ***7002 4")  # no name that fits an SMS: their masked chat id
    assert "Telegram ***7002" in paid, paid
    assert "Анна" not in await sms("\\BALANCE")

    await telegram("/help", first_name="Annie")  # renamed in Telegram
    assert "Annie pays" in await sms("\\BALANCE")
    await telegram("/name Ann2")  # a \NAME wins
    assert "Ann2 pays" in await sms("\\BALANCE")


async def test_a_telegram_member_who_stops_keeps_their_first_name_on_the_books(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram
) -> None:
    """SPEC: a member who left keeps the name they had in \\BALANCE, and \\PAID accepts it; a
    Telegram member without a \\NAME had their first name, and became their masked chat id."""
    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    both = Both(bot, fake_twilio, fake_telegram)
    telegram, sms = both.telegram, both.sms

    await telegram("/create house hunter22")
    await telegram("/join house hunter22", chat=OTHER_CHAT, first_name="Alex")
    await sms("\\JOIN house hunter22")
    await sms("\\PAID Alex 6")
    await fake_telegram.wait_for_sent(3)  # the two answers, and Alex's notice of the payment
    assert "Alex pays" in await sms("\\BALANCE")
    assert (await telegram("/stop", chat=OTHER_CHAT, first_name="Alex")).startswith("Goodbye")
    balance = await sms("\\BALANCE")
    assert "Alex pays" in balance, balance
    assert "***7002" not in balance
    assert "Alex" in await sms("\\PAID Alex 1")


async def test_a_paired_telegram_chat_that_stopped_resumes_when_it_writes(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram
) -> None:
    """A chat that sent STOP (or blocked the bot) gets replies again once it writes. For a chat
    paired to an SMS number the resume read the person's flag, which is the SMS number's: the
    chat stayed silenced for good."""
    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    form = await bot.text("\\PAIR", sender=ALICE)
    assert await bot.handled(form["MessageSid"]) == "done"
    code = code_in((await fake_twilio.wait_for_messages(1))[0]["Body"])

    async def telegram(text: str) -> list[str]:
        before = len(fake_telegram.sent)
        assert await bot.handled(await say(bot, text, chat=OTHER_CHAT)) == "done"
        await bot.settled()
        return [str(m["text"]) for m in fake_telegram.sent[before:]]

    assert (await telegram(f"/pair {code}"))[0].startswith("Paired:")
    assert (await telegram("STOP"))[0].startswith("You will get no more messages")
    assert (await telegram("/rooms"))[0].startswith("You are not in a room")
    rows = await bot.rows("SELECT opted_out FROM addresses WHERE address = :a", a=f"telegram:{OTHER_CHAT}")
    assert [bool(r.opted_out) for r in rows] == [False]


async def test_a_stop_on_a_persons_first_address_does_not_silence_the_next_one(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """WhatsApp first, an SMS number paired to it. The WhatsApp address opts out (STOP) and then
    leaves (\\\\STOP): the SMS number became the person's first address with the WhatsApp
    address's opt-out, and its own \\\\HELP, and its goodbye, were never sent."""
    wally, sms = "whatsapp:+15550008001", "+15550008002"
    bot = await whatsapp_bot(bot_factory, fake_twilio)

    async def text(body: str, sender: str) -> list[str]:
        before = len(fake_twilio.messages)
        form = await bot.text(body, sender=sender)
        assert await bot.handled(form["MessageSid"]) == "done"
        await bot.settled()
        return [m["Body"] for m in fake_twilio.messages[before:] if m["To"] == sender]

    code = code_in((await text("\\PAIR", wally))[0])
    assert (await text(f"\\PAIR {code}", sms))[0].startswith("Paired:")
    assert (await text("STOP", wally))[0].startswith("You will get no more messages")
    assert (await text("\\STOP", wally))[0].startswith("Goodbye from textwire at this address")
    assert await bot.scalar("SELECT opted_out FROM users WHERE phone = :p", p=sms) in (False, 0)
    assert (await text("\\HELP", sms))[0].startswith("textwire:")
    assert (await text("\\STOP", sms))[0].startswith("Goodbye from textwire")


async def test_the_help_keyword_on_telegram_lists_every_command_as_help_does(
    bot_factory: BotFactory, fake_telegram: FakeTelegram
) -> None:
    """HELP gave the one-segment SMS text on Telegram, where /help lists every command."""
    bot = await bot_factory(telegram=fake_telegram.section())
    answers = []
    for text in ("/help", "HELP"):
        before = len(fake_telegram.sent)
        assert await bot.handled(await say(bot, text)) == "done"
        answers.append(str((await fake_telegram.wait_for_sent(before + 1))[before]["text"]))
    assert answers[0] == answers[1]
    assert len(answers[1]) > 160


async def sms_handled(bot: Bot, body: str, sender: str, **extra: str) -> None:
    """Text the bot and wait until all it sends for that has gone."""
    form = await bot.text(body, sender=sender, **extra)
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()


async def bob_in_house_with_his_chat_paired(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Alice makes house, Bob joins it by SMS as Bob, and pairs his Telegram chat (OTHER_CHAT)."""
    await sms_handled(bot, "\\CREATE house pw", ALICE)
    await sms_handled(bot, "\\JOIN house pw", BOB)
    await sms_handled(bot, "\\NAME Bob", BOB)
    await sms_handled(bot, "\\PAIR", BOB)
    code = code_in([m["Body"] for m in fake_twilio.messages if m["To"] == BOB][-1])
    assert await bot.handled(await say(bot, f"/pair {code}", chat=OTHER_CHAT)) == "done"


async def test_a_notice_goes_to_an_address_the_person_still_reads(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram
) -> None:
    """Bob's first address is an SMS number, his Telegram chat is paired to it. After STOP by SMS
    his `\\\\PAID` notices were skipped as opted out, though his chat reads them: they go there."""
    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    await bob_in_house_with_his_chat_paired(bot, fake_twilio)
    await sms_handled(bot, "STOP", BOB, OptOutType="STOP")  # the carrier's: Bob's SMS number is opted out
    before = len(fake_telegram.sent)
    await sms_handled(bot, "\\PAID Bob 5", ALICE)
    sent = await fake_telegram.wait_for_sent(before + 1)
    notices = [(m["chat_id"], str(m["text"])) for m in sent[before:]]
    assert len(notices) == 1
    assert str(notices[0][0]) == str(OTHER_CHAT)
    assert " paid you $5.00 in house" in notices[0][1]


async def test_a_notice_goes_to_the_address_the_person_last_wrote_from(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: FakeTelegram
) -> None:
    """Bob texted by SMS, his first address, then paired his Telegram chat and wrote from it: his
    `\\\\PAID` notices kept going to the SMS number. They go to the chat; once he texts by SMS
    again, the next one goes by SMS."""
    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    await bob_in_house_with_his_chat_paired(bot, fake_twilio)
    await bot.settled()

    async def notices(amount: str) -> tuple[list[str], list[str]]:
        """The notices of Alice's `\\\\PAID Bob <amount>`: by SMS and in Bob's chat."""
        texts, chats = len(fake_twilio.messages), len(fake_telegram.to(OTHER_CHAT))
        await sms_handled(bot, f"\\PAID Bob {amount}", ALICE)
        paid = f" paid you ${amount}.00 in house"
        by_sms = [m["Body"] for m in fake_twilio.messages[texts:] if m["To"] == BOB and paid in m["Body"]]
        return by_sms, [m for m in fake_telegram.to(OTHER_CHAT)[chats:] if paid in m]

    by_sms, in_chat = await notices("5")
    assert (len(by_sms), len(in_chat)) == (0, 1)
    await sms_handled(bot, "\\ROOMS", BOB)  # back on SMS
    by_sms, in_chat = await notices("3")
    assert (len(by_sms), len(in_chat)) == (1, 0)


async def test_a_photo_from_a_new_address_goes_to_the_persons_room_once_it_is_paired(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A person's new WhatsApp address sends a receipt before it is paired: it is in no room, so
    the photo waits for one; `\\PAIR <code>` makes it the person's, and the photo goes to their
    room at once (not 10 minutes later, nor dropped)."""
    wally = "whatsapp:+15550009999"
    bot = await whatsapp_bot(bot_factory, fake_twilio)
    assert (await first_reply(bot, fake_twilio, "\\CREATE house hunter22", ALICE)).startswith("Created")
    offer = await first_reply(bot, fake_twilio, "\\PAIR", ALICE)
    code = code_in(offer)
    url = fake_twilio.media.add(images.jpeg_with_gps())
    before = len(fake_twilio.messages)
    photo = await bot.text(
        "$12.00", sender=wally, NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg"
    )
    notice = (await fake_twilio.wait_for_messages(before + 1))[before]["Body"]
    assert notice.startswith("Photos are kept in rooms:"), notice
    before = len(fake_twilio.messages)
    form = await bot.text(f"\\PAIR {code}", sender=wally)
    assert await bot.handled(form["MessageSid"]) == "done"
    assert await bot.handled(photo["MessageSid"]) == "done"
    await bot.settled()
    answers = sorted(m["Body"][:22] for m in fake_twilio.messages[before:] if m["To"] == wally)
    assert answers == ["Paired: this address a", "Saved $12.00 to house:"], answers
    rows = await bot.rows("SELECT r.channel, u.phone FROM receipts r JOIN users u ON u.id = r.uploader_id")
    assert [tuple(r) for r in rows] == [("whatsapp", ALICE)]


async def test_two_people_never_hold_the_same_live_code(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codes are 6 random digits: when Bob drew the code Alice held, both were live, and the
    phone Bob meant to pair with it joined Alice (her rooms, her balances, her X account)."""
    bot = await bot_factory(twilio=fake_twilio.section())
    draws = iter([415140, 415140, 271828])
    monkeypatch.setattr(secrets, "randbelow", lambda _n: next(draws))

    async def text(body: str, sender: str) -> str:
        return await first_reply(bot, fake_twilio, body, sender)

    await text("\\CREATE house hunter22", ALICE)
    assert (await text("\\PAIR", ALICE)).startswith("Your code: 415140.")
    bob = "+15550002222"
    bobs = code_in(await text("\\PAIR", bob))
    assert bobs == "271828"
    assert (await text(f"\\PAIR {bobs}", "+15550003333")).startswith(
        "Paired: this address and SMS +1******2222"
    )
    assert (await text("\\PAIR 415140", "+15550004444")).startswith(
        "Paired: this address and SMS +1******1111"
    )


async def test_a_name_given_before_pairing_is_the_persons_when_they_had_none(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\NAME Zed` from a new number ("Your rooms now see you as Zed."), then `\\PAIR <code>` of
    the person's first number, who had no name: the name was deleted with the new number's person,
    the rooms saw a masked number, and `\\PAID Zed 5` found no one."""
    bot = await bot_factory(twilio=fake_twilio.section())
    second, bob = "+15550005555", "+15550002222"

    async def text(body: str, sender: str) -> str:
        return await first_reply(bot, fake_twilio, body, sender)

    await text("\\CREATE house hunter22", ALICE)
    code = code_in(await text("\\PAIR", ALICE))
    assert await text("\\NAME Zed", second) == "Your rooms now see you as Zed."
    assert (await text(f"\\PAIR {code}", second)).startswith("Paired:")
    await text("\\JOIN house hunter22", bob)
    before = len(fake_twilio.messages)
    await text("\\PAID Zed 5", bob)  # the notice to Zed may come first
    await bot.settled()
    [paid] = [m["Body"] for m in fake_twilio.messages[before:] if m["To"] == bob]
    assert paid.startswith("Recorded: you paid Zed $5.00."), paid
    # a name someone in their rooms goes by already stays the new number's: the person keeps none
    await text("\\NAME Bob", bob)
    carol = "+15550007777"
    await text("\\CREATE flat hunter22", carol)
    await text("\\JOIN flat hunter22", bob)
    code = code_in(await text("\\PAIR", carol))
    assert await text("\\NAME Bob", "+15550006666") == "Your rooms now see you as Bob."
    assert (await text(f"\\PAIR {code}", "+15550006666")).startswith("Paired:")
    assert await bot.scalar("SELECT name FROM users WHERE phone = :p", p=carol) is None


async def test_an_address_that_left_a_room_owing_is_refused_like_one_with_rooms(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Bob left house owing $15.00, then sent another person's code: he had no rooms, receipts or
    payments, so he was let in, his record went, and his debt became "a former member pays Alice
    $15.00", which no one could settle."""
    bot = await bot_factory(twilio=fake_twilio.section())
    bob, carol = "+15550002222", "+15550007777"

    async def text(body: str, sender: str, **extra: str) -> str:
        before = len(fake_twilio.messages)
        form = await bot.text(body, sender=sender, **extra)
        assert await bot.handled(form["MessageSid"]) == "done"
        await bot.settled()
        [reply] = [m["Body"] for m in fake_twilio.messages[before:] if m["To"] == sender]
        return str(reply)

    await text("\\CREATE house hunter22", ALICE)
    await text("\\NAME Alice", ALICE)
    await text("\\JOIN house hunter22", bob)
    await text("\\NAME Bob", bob)
    url = fake_twilio.media.add(images.jpeg_with_gps())
    saved = await text("$30.00", ALICE, NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    assert saved.startswith("Saved $30.00 to house"), saved
    assert (await text("\\LEAVE", bob)).startswith("You left house; you still owe $15.00")
    code = code_in(await text("\\PAIR", carol))
    refused = await text(f"\\PAIR {code}", bob)
    assert refused.startswith("This address has balances of its own. Pair the other way"), refused
    assert await text("\\BALANCE", ALICE) == "house: Bob pays Alice $15.00."


class Gate:
    """Holds the worker's handling of messages whose body starts with `prefix` (after they are
    claimed, with their sender's user read; before any handler's transaction) until let go:
    `reached` once one is held. Every wait is bounded: a test whose order never comes fails
    instead of hanging."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.entered = asyncio.Event()
        self.go = asyncio.Event()

    async def reached(self) -> None:
        await asyncio.wait_for(self.entered.wait(), 20)


def hold(monkeypatch: pytest.MonkeyPatch, *gates: Gate) -> None:
    feed = Dispatcher.feed

    async def held(self: Dispatcher, msg: Inbound, ctx: Context) -> list[Reply]:
        for gate in gates:
            if msg.body.startswith(gate.prefix):
                gate.entered.set()
                await asyncio.wait_for(gate.go.wait(), 20)
        return await feed(self, msg, ctx)

    monkeypatch.setattr(Dispatcher, "feed", held)


async def test_a_stop_right_behind_the_pair_of_a_new_address_takes_only_that_address_out(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`\\PAIR <code>` then `\\STOP` from a new WhatsApp address within milliseconds: `\\STOP`
    goes ahead of earlier messages, so the worker took it up with the address's own new record
    while the `\\PAIR` was still being handled; the pair then joined the address to the person,
    and `\\STOP` deleted the empty record: "your record is deleted, and you left your rooms",
    `user.deleted`, and the address stayed paired, not opted out. It takes the address out of
    the person it is paired with now, with that goodbye."""
    wally = "whatsapp:+15550009999"
    bot = await whatsapp_bot(bot_factory, fake_twilio)
    code = await alices_room_and_code(bot, fake_twilio)
    # the \\STOP taken up with the address's new record while the pair is handled; handled after it
    pairing, stopping = Gate("\\PAIR"), Gate("\\STOP")
    hold(monkeypatch, pairing, stopping)
    before = len(fake_twilio.messages)
    with structlog.testing.capture_logs() as logs:
        paired = await bot.text(f"\\PAIR {code}", sender=wally)
        await pairing.reached()
        stop = await bot.text("\\STOP", sender=wally)
        await stopping.reached()
        pairing.go.set()
        assert await bot.handled(paired["MessageSid"]) == "done"
        stopping.go.set()
        assert await bot.handled(stop["MessageSid"]) == "done"
        await bot.settled()
    replies = [m["Body"] for m in fake_twilio.messages[before:] if m["To"] == wally]
    assert replies[-1].startswith("Goodbye from textwire at this address"), replies
    events = [e["event"] for e in logs]
    assert "user.address_left" in events, events
    assert "user.deleted" not in events, events
    assert await bot.scalar("SELECT count(*) FROM addresses WHERE address = :w", w=wally) == 0
    assert (await first_reply(bot, fake_twilio, "\\ROOMS", ALICE)).startswith("Your rooms")


async def test_a_stop_done_before_the_pair_of_its_address_is_not_undone_by_it(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other order: `\\STOP` (it goes ahead) is done while the `\\PAIR` sent before it is
    still being handled. The address's record is deleted; the pair joins nothing and leaves the
    code unspent, and the address's next message is a new person's."""
    wally = "whatsapp:+15550009999"
    bot = await whatsapp_bot(bot_factory, fake_twilio)
    code = await alices_room_and_code(bot, fake_twilio)
    pairing = Gate("\\PAIR")
    hold(monkeypatch, pairing)
    with structlog.testing.capture_logs() as logs:
        paired = await bot.text(f"\\PAIR {code}", sender=wally)
        await pairing.reached()
        stop = await bot.text("\\STOP", sender=wally)
        assert await bot.handled(stop["MessageSid"]) == "done"
        pairing.go.set()
        assert await bot.handled(paired["MessageSid"]) == "done"  # at once: \\STOP dropped it

        # its handler, let go, is still to finish: until it has, the address's next message (a
        # new person's) could be the one it finds (under load it did, and joined that person)
        async def pair_done() -> bool | None:
            return "pair.address_gone" in [e["event"] for e in logs] or None

        await wait_for(pair_done)
        await bot.settled()
    events = [e["event"] for e in logs]
    assert "user.deleted" in events, events
    assert "pair.joined" not in events, events
    assert await bot.scalar("SELECT count(*) FROM addresses WHERE address = :w", w=wally) == 0

    async def reply(body: str) -> str:
        # the held pair's own answer ("Nothing was paired ...") may still go out to the address
        # after it came back (once, under load): the reply is the first message that is not it
        before = len(fake_twilio.messages)
        form = await bot.text(body, sender=wally)
        assert await bot.handled(form["MessageSid"]) == "done"

        async def found() -> str | None:
            late = [m["Body"] for m in fake_twilio.messages[before:] if m["To"] == wally]
            return next((b for b in late if not b.startswith("Nothing was paired")), None)

        return str(await wait_for(found))

    assert (await reply("\\ROOMS")).startswith("You are not in a room")
    assert (await reply(f"\\PAIR {code}")).startswith("Paired:")


async def test_a_pair_that_a_stop_dropped_never_joins_the_new_person_of_its_address(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`\\STOP` dropped the `\\PAIR <code>` sent before it while its handler was in flight; the
    address's next text made a new person, and the late handler then found that person at the
    address and joined them to the code's owner: a stranger with the phone next (a number given
    up) was Alice, with her rooms and balances. A dropped message's handler does nothing."""
    wally = "whatsapp:+15550009999"
    bot = await whatsapp_bot(bot_factory, fake_twilio)
    code = await alices_room_and_code(bot, fake_twilio)
    pairing = Gate("\\PAIR")
    hold(monkeypatch, pairing)
    with structlog.testing.capture_logs() as logs:
        paired = await bot.text(f"\\PAIR {code}", sender=wally)
        await pairing.reached()
        stop = await bot.text("\\STOP", sender=wally)
        assert await bot.handled(stop["MessageSid"]) == "done"
        assert await bot.handled(paired["MessageSid"]) == "done"  # dropped by the \\STOP
        hello = await bot.text("\\ROOMS", sender=wally)  # the address's next person
        assert await bot.handled(hello["MessageSid"]) == "done"
        pairing.go.set()

        async def pair_done() -> bool | None:
            return any(e["event"].startswith("pair.") for e in logs) or None

        await wait_for(pair_done)
        await bot.settled()
    events = [e["event"] for e in logs]
    assert "pair.joined" not in events, events
    assert "pair.dropped" in events, events
    alice = await bot.scalar("SELECT user_id FROM addresses WHERE address = :a", a=ALICE)
    assert await bot.scalar("SELECT user_id FROM addresses WHERE address = :w", w=wally) != alice


async def test_a_stop_that_revokes_x_while_its_address_is_paired_takes_that_address_out(
    xbot: XBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same, with the pair done between `\\STOP`'s look at the address (alone: a whole
    person) and the deletion, while X is asked to revoke: the address is taken out of the person
    it is paired with by then, not left paired behind a whole-person goodbye."""
    twilio: FakeTwilio = xbot.extras["twilio"]
    wally = "+15550009999"
    code = await alices_room_and_code(xbot, twilio)
    pairing, revoking = Gate("\\PAIR"), Gate("")
    hold(monkeypatch, pairing)
    revoke = XAccounts.revoke_and_delete

    async def held(self: XAccounts, user_id: int) -> bool:
        revoking.entered.set()
        await asyncio.wait_for(revoking.go.wait(), 20)
        return await revoke(self, user_id)

    monkeypatch.setattr(XAccounts, "revoke_and_delete", held)
    before = len(twilio.messages)
    with structlog.testing.capture_logs() as logs:
        paired = await xbot.text(f"\\PAIR {code}", sender=wally)
        await pairing.reached()
        stop = await xbot.text("\\STOP", sender=wally)
        await revoking.reached()
        pairing.go.set()
        assert await xbot.handled(paired["MessageSid"]) == "done"
        revoking.go.set()
        assert await xbot.handled(stop["MessageSid"]) == "done"
        await xbot.settled()
    replies = [m["Body"] for m in twilio.messages[before:] if m["To"] == wally]
    assert replies[-1].startswith("Goodbye from textwire at this address"), replies
    events = [e["event"] for e in logs]
    assert "user.address_left" in events, events
    assert "user.deleted" not in events, events
    assert await xbot.scalar("SELECT count(*) FROM addresses WHERE address = :w", w=wally) == 0
