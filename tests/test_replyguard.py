"""Reply loops: a cap on replies to one number in a short window, and the same answer to an ask
(a link, a help text) not sent again within minutes; through the real webhook, worker and sender."""

from __future__ import annotations

import time

from bot import replyguard
from bot.dispatch import Reply
from bot.replyguard import BURST_REPLIES, POINTER, REPEAT_WINDOW, answer_key
from tests.conftest import ALICE, Bot, BotFactory, XBot
from tests.fakes.twilio_rest import FakeTwilio

LOOPY = "+15550009999"  # an auto-responder: it answers every reply at once


async def replies_to(bot: Bot, fake: FakeTwilio, phone: str) -> list[str]:
    await bot.settled()
    return [m["Body"] for m in fake.messages if m["To"] == phone]


async def test_an_auto_responder_gets_at_most_the_cap_of_replies(bot: Bot, fake_twilio: FakeTwilio) -> None:
    assert BURST_REPLIES <= 10  # well below the ~20 quick replies after which Twilio blocks a number
    answered = 0
    for n in range(31):  # it answers each of our replies, each time with another text
        form = await bot.text(f"Thanks for your message #{n}! We will get back to you.", sender=LOOPY)
        assert await bot.handled(form["MessageSid"]) == "done"
        got = len(await replies_to(bot, fake_twilio, LOOPY))
        if got == answered:
            break  # we stopped answering: so does it
        answered = got
    assert answered == BURST_REPLIES
    # a priority message is still answered; another number is not affected
    form = await bot.text("\\STOP", sender=LOOPY)
    await bot.handled(form["MessageSid"])
    assert "Goodbye" in (await replies_to(bot, fake_twilio, LOOPY))[-1]
    form = await bot.text("\\ROOMS", sender=ALICE)
    await bot.handled(form["MessageSid"])
    assert len(await replies_to(bot, fake_twilio, ALICE)) == 1


async def test_the_same_help_again_gets_one_pointer_then_nothing(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    for _ in range(5):
        form = await bot.text("\\HELP")
        await bot.handled(form["MessageSid"])
    replies = await replies_to(bot, fake_twilio, ALICE)
    assert len(replies) == 2
    assert replies[0].startswith("textwire:")
    assert replies[1] == POINTER
    # the carrier keyword HELP asks for the same text
    form = await bot.text("HELP")
    await bot.handled(form["MessageSid"])
    assert len(await replies_to(bot, fake_twilio, ALICE)) == 2
    # another ask is answered; minutes later the same ask is answered again
    form = await bot.text("\\JOIN")
    await bot.handled(form["MessageSid"])
    assert (await replies_to(bot, fake_twilio, ALICE))[-1].startswith("Usage: \\JOIN")
    now[0] += REPEAT_WINDOW + 1
    form = await bot.text("\\HELP")
    await bot.handled(form["MessageSid"])
    assert (await replies_to(bot, fake_twilio, ALICE))[-1].startswith("textwire:")


async def test_a_fresh_link_is_not_sent_again_within_minutes(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    for n in range(6):  # not linked: each plain text would get a fresh link
        form = await xbot.text(f"auto-reply {n}", sender=LOOPY)
        await xbot.handled(form["MessageSid"])
    replies = await replies_to(xbot, twilio, LOOPY)
    assert len(replies) == 3
    assert "Welcome" in replies[0]
    assert "/x/link/" in replies[1]  # the welcome, then the shorter link text once
    assert replies[2] == POINTER


def test_answers_are_the_same_whatever_link_they_carry() -> None:
    first = Reply("Connect X: https://sms.example.test/x/link/abc (10 min)", kind="x-link")
    second = Reply("Connect X: https://sms.example.test/x/link/xyz (10 min)", kind="x-link")
    assert answer_key(first) == answer_key(second)
    assert answer_key(Reply("https://x.com/alice/status/1")) is None  # not an answer to an ask
    assert answer_key(Reply("Usage: \\JOIN", kind="usage")) != answer_key(Reply("Usage: \\USE", kind="usage"))
    assert replyguard.BURST_WINDOW <= 60
