"""Loop protection that stops machines, not people (issue 23): a person's every ask is answered,
replies over a number's budget are delayed (in order), never dropped; a loop puts the number on
hold with one notice. Through the real webhook, worker and sender."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.core.channel import Address
from bot.pipeline import replyguard
from bot.pipeline.dispatch import Inbound
from bot.pipeline.replyguard import (
    BUDGET,
    BUDGET_WINDOW,
    HOLD_NOTICE,
    QUICK_STREAK,
    Logged,
    body_digest,
    loop_signal,
    schedule,
)
from tests.conftest import ALICE, Bot, BotFactory, XBot, browser, link_in, wait_for
from tests.fakes.twilio_rest import FakeTwilio

LOOPY = "+15550009999"  # an auto-responder: it answers every reply at once


async def replies_to(bot: Bot, fake: FakeTwilio, phone: str) -> list[str]:
    await bot.settled()
    return [m["Body"] for m in fake.messages if m["To"] == phone]


async def metric(bot: Bot, line_start: str) -> float:
    resp = await bot.client.get("/metrics")
    text = await resp.text()
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {line_start} in /metrics")


def msg(body: str, at: float, *, sid: str = "SMnew", media: bool = False, priority: bool = False) -> Inbound:
    from bot.pipeline.dispatch import Media

    return Inbound(
        id=1,
        external_id=sid,
        sender=Address("sms", ALICE),
        recipient="+15557654321",
        body=body,
        media=(Media(0, "https://x", "image/jpeg"),) if media else (),
        received_at=at,
        priority=priority,
    )


# -- the rules, alone ----------------------------------------------------------------------------


def test_the_budget_delays_the_replies_over_it_in_order() -> None:
    now = 1000.0
    assert schedule([], 3, now) == [now, now, now]
    sent = [Logged(f"SM{n}", None, now - 20 + n) for n in range(BUDGET)]  # the budget spent
    later = schedule(sent, 2, now)
    assert later[0] == sent[0].at + BUDGET_WINDOW  # when the oldest leaves the window
    assert later[1] >= later[0]  # never before a reply queued before it
    # a reply already queued for later keeps its place: the next one goes after it
    assert schedule([Logged("SM0", None, now + 12)], 1, now) == [now + 12]


def test_plain_texts_answered_at_once_again_and_again_are_a_loop() -> None:
    now = 1000.0
    rows: list[Logged] = []
    for n in range(QUICK_STREAK):  # each text 0.3 s after our reply to the one before
        rows.append(Logged(f"SM{n}", None, now + n * 1.0, received_at=now + n * 1.0 - 0.7, digest=f"d{n}"))
    last = now + QUICK_STREAK * 1.0 - 0.7
    assert loop_signal(rows, msg("auto reply", last), f"x{QUICK_STREAK}", last) == "quick"
    assert loop_signal(rows[1:], msg("auto reply", last), "x", last) is None  # one fewer: not yet
    # commands, photos and keywords are not a machine's answers: a person typing fast is no loop
    assert body_digest(msg("\\ROOMS", now)) is None
    assert body_digest(msg("/help", now)) is None
    assert body_digest(msg("\uff3cHELP", now)) is None  # a full-width backslash
    assert body_digest(msg("help", now)) is None
    assert body_digest(msg("lunch", now, media=True)) is None
    assert body_digest(msg("STOP", now, priority=True)) is None
    assert body_digest(msg(" Thanks  for your MESSAGE ", now)) == body_digest(
        msg("thanks for your message", now)
    )
    assert loop_signal(rows, msg("\\ROOMS", last), None, last) is None


def test_short_texts_typed_fast_are_no_loop_and_a_sentence_as_fast_is() -> None:
    """A person typing fast (`hey`, `you there?`, `hello??`, each a second and a half after the
    one before, our answer a moment after each) was taken for an auto-responder at the sixth and
    put on hold for 30 minutes. Text they could have typed since their last is a person's; a
    sentence as quick is still a machine's."""
    now = 1000.0
    rows = [
        Logged(f"SM{n}", None, now + n * 1.5 + 0.1, received_at=now + n * 1.5, digest=f"d{n}")
        for n in range(QUICK_STREAK + 2)
    ]
    last = now + (QUICK_STREAK + 2) * 1.5
    for body in ("you there?", "hello??", "pls", "\U0001f621\U0001f621"):
        assert loop_signal(rows, msg(body, last), "x", last) is None
    auto = "Thanks for your message! We will get back to you."
    assert loop_signal(rows, msg(auto, last), "x", last) == "quick"


def test_the_same_text_over_and_over_and_sustained_dozens_are_loops() -> None:
    now = 1000.0
    same = [
        Logged(f"SM{n}", None, now - 200 + n * 40, received_at=now - 210 + n * 40, digest="d")
        for n in range(replyguard.REPEAT_COUNT - 1)
    ]
    assert loop_signal(same, msg("x", now), "d", now) == "repeat"
    assert loop_signal(same, msg("x", now), "other", now) is None
    many = [
        Logged(f"SM{n}", None, now - 100 + n * 2.5, received_at=now - 101 + n * 2.5, digest=f"d{n}")
        for n in range(replyguard.RATE_COUNT - 1)
    ]
    assert loop_signal(many, msg("x", now), "other", now) == "rate"
    assert loop_signal(many[5:], msg("x", now), "other", now) is None
    # a person's asks (commands, photos) are never the loop's, nor counted towards one
    assert loop_signal(many, msg("\\ROOMS", now), None, now) is None
    asks = [r._replace(digest=None) for r in many]
    assert loop_signal(asks, msg("x", now), "other", now) is None


# -- people ----------------------------------------------------------------------------------


async def test_help_is_answered_every_time(bot: Bot, fake_twilio: FakeTwilio) -> None:
    for body in ("\\HELP", "\\help", "\\HELP", "HELP", "help", "\\HELP"):
        form = await bot.text(body)
        await bot.handled(form["MessageSid"])
    replies = await replies_to(bot, fake_twilio, ALICE)
    assert len(replies) == 6
    assert len(set(replies)) == 1
    assert replies[0].startswith("textwire")


async def test_help_typed_on_another_keyboard_is_answered_every_time(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\uff3cHELP` (a Japanese keyboard's full-width backslash) or `\u00a5HELP` (its yen sign) is
    \\HELP, yet counted as the same plain text repeated: the fifth put the number on hold for 30
    minutes, and \\HELP is answered every time."""
    for body in ["\uff3cHELP"] * 5 + ["\u00a5HELP"]:
        form = await bot.text(body)
        await bot.handled(form["MessageSid"])
    replies = await replies_to(bot, fake_twilio, ALICE)
    assert len(replies) == 6
    assert len(set(replies)) == 1
    assert replies[0].startswith("textwire")


async def test_a_person_typing_fast_gets_every_answer_in_order(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    asks = [f"\\HELP {family}" for family in ("ROOMS", "MONEY", "ACCOUNT")] * 4  # a dozen
    for body in asks:
        form = await bot.text(body)
        await bot.handled(form["MessageSid"])
    await bot.settled()
    assert len(await replies_to(bot, fake_twilio, ALICE)) == BUDGET  # the rest wait for the window
    delayed = await bot.rows("SELECT status, next_attempt_at FROM outbox WHERE status = 'queued'")
    assert len(delayed) == len(asks) - BUDGET
    assert all(row.next_attempt_at == pytest.approx(now[0] + BUDGET_WINDOW) for row in delayed)
    assert await metric(bot, "textwire_replies_delayed_total") == len(asks) - BUDGET
    now[0] += BUDGET_WINDOW + 1
    await fake_twilio.wait_for_messages(len(asks))
    replies = await replies_to(bot, fake_twilio, ALICE)
    assert len(replies) == len(asks)
    assert len(set(replies[:3])) == 3  # three families' texts, then the same three again, in order
    assert replies == replies[:3] * 4
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE status = 'held'") == 0


async def each_answered_none_held(
    bot: Bot, fake: FakeTwilio, now: list[float], bodies: list[str], *, every: float
) -> None:
    """Alice texts `bodies`, one every `every` seconds on the bot's clock (`now`), each handled
    before the next: every one is answered, no reply held and no hold notice sent."""
    for body in bodies:
        now[0] += every
        form = await bot.text(body)
        assert await bot.handled(form["MessageSid"]) == "done"
    replies = await replies_to(bot, fake, ALICE)
    assert HOLD_NOTICE not in replies
    assert len(replies) == len(bodies)
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE status = 'held'") == 0


async def test_forty_asks_in_two_minutes_are_all_answered_with_no_hold(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: Any
) -> None:
    """A person sending a month of receipts from WhatsApp's gallery (40 photos, one a message) or
    asking command after command was taken for a loop at the 40th in two minutes: that one's
    answer was never sent, and "replies to you are paused for 30 minutes: ... like an automated
    loop" came instead. A loop's other side sends plain texts, never our commands or photos."""
    monkeypatch.setattr(replyguard, "BUDGET", 100)  # the budget's delays are another test's
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    asks = [f"\\HELP {family}" for family in ("ROOMS", "MONEY", "REMIND", "ACCOUNT")] * 10
    assert len(asks) >= replyguard.RATE_COUNT
    # one every 2.5 s: under the per-sender limit, 40 within RATE_WINDOW
    await each_answered_none_held(bot, fake_twilio, now, asks, every=2.5)


async def test_a_person_typing_short_texts_fast_is_answered_and_not_put_on_hold(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Eight short texts a second and a half apart, as a person types them (each answered at
    once): the sixth put the number on hold ("replies to you are paused for 30 minutes ... like
    an automated loop") and the rest went unanswered."""
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    burst = ["hey", "so", "you there?", "hello", "??", "pls", "answer me", "ok"]
    await each_answered_none_held(bot, fake_twilio, now, burst, every=1.5)


async def test_link_always_gives_a_fresh_working_link(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    for _ in range(3):
        form = await xbot.text("\\LINK")
        await xbot.handled(form["MessageSid"])
    replies = await replies_to(xbot, twilio, ALICE)
    links = [link_in(r) for r in replies]
    assert len(links) == 3
    assert len(set(links)) == 3
    async with browser() as session:
        for url in links[:2]:  # the previous ones died
            async with session.get(url) as resp:
                assert resp.status in (404, 410)
        async with session.get(links[2]) as resp:
            assert resp.status == 200


async def test_a_text_after_unlink_gets_a_link(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link()
    for body in ("\\UNLINK", "hello again", "and again"):
        form = await xbot.text(body)
        await xbot.handled(form["MessageSid"])
    replies = await replies_to(xbot, twilio, ALICE)
    assert "/x/link/" in replies[-1]
    assert "/x/link/" in replies[-2]
    assert link_in(replies[-1]) != link_in(replies[-2])


async def test_a_delayed_link_superseded_by_a_newer_one_is_not_sent(xbot: XBot, fake_x: Any) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    for family in ("ROOMS", "MONEY") * (BUDGET // 2):  # the budget spent
        form = await xbot.text(f"\\HELP {family}")
        await xbot.handled(form["MessageSid"])
    for _ in range(2):
        form = await xbot.text("\\LINK")
        await xbot.handled(form["MessageSid"])
    await xbot.settled()
    assert len(await replies_to(xbot, twilio, ALICE)) == BUDGET
    rows = await xbot.rows("SELECT status, error FROM outbox WHERE kind = 'x-link' ORDER BY id")
    assert [(r.status, r.error) for r in rows] == [("skipped", "superseded"), ("queued", None)]
    fake_x.advance(BUDGET_WINDOW + 1)
    await twilio.wait_for_messages(BUDGET + 1)
    replies = await replies_to(xbot, twilio, ALICE)
    assert len(replies) == BUDGET + 1
    async with browser() as session, session.get(link_in(replies[-1])) as resp:
        assert resp.status == 200  # the one sent works
    assert await metric(xbot, 'textwire_replies_dropped_total{reason="superseded"}') == 1


# -- machines --------------------------------------------------------------------------------


async def test_an_auto_responder_is_put_on_hold_with_one_notice(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [time.time()]  # the bot's clock: each answer comes 0.5 s after our reply, however slow the host
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    answered = 0
    for n in range(40):  # it answers each of our replies at once, each time with another text
        now[0] += 0.5
        form = await bot.text(f"Thanks for your message #{n}! We will get back to you.", sender=LOOPY)
        assert await bot.handled(form["MessageSid"]) == "done"
        got = len(await replies_to(bot, fake_twilio, LOOPY))
        if got == answered:
            break  # we stopped answering: so does it
        answered = got
    replies = await replies_to(bot, fake_twilio, LOOPY)
    assert len(replies) == QUICK_STREAK + 1
    assert replies[-1] == HOLD_NOTICE
    # on hold: it keeps texting (slowly now), nothing more is sent; the replies are kept as held
    for n in range(5):
        now[0] += 0.5
        form = await bot.text(f"Are you there? {n}", sender=LOOPY)
        await bot.handled(form["MessageSid"])
    assert len(await replies_to(bot, fake_twilio, LOOPY)) == QUICK_STREAK + 1
    held = await bot.scalar("SELECT count(*) FROM outbox WHERE status = 'held'")
    assert held >= 6
    assert await metric(bot, 'textwire_loops_total{signal="quick"}') == 1
    assert await metric(bot, 'textwire_replies_dropped_total{reason="held"}') == held
    # a person's ask (a command) is answered on hold: \\HELP every time, a working \\LINK
    form = await bot.text("\\HELP", sender=LOOPY)
    await bot.handled(form["MessageSid"])
    await bot.settled()
    assert (await replies_to(bot, fake_twilio, LOOPY))[-1].startswith("textwire: \\JOIN room pw")
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE status = 'held'") == held  # no new hold
    assert await metric(bot, 'textwire_loops_total{signal="quick"}') == 1
    # a priority message is still answered; another number is not affected
    form = await bot.text("\\STOP", sender=LOOPY)
    await bot.handled(form["MessageSid"])
    assert "Goodbye" in (await replies_to(bot, fake_twilio, LOOPY))[-1]
    form = await bot.text("\\ROOMS", sender=ALICE)
    await bot.handled(form["MessageSid"])
    assert len(await replies_to(bot, fake_twilio, ALICE)) == 1


async def test_the_hold_ends(bot_factory: BotFactory, fake_twilio: FakeTwilio) -> None:
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    for _n in range(replyguard.REPEAT_COUNT):  # the same text, every 20 s
        form = await bot.text("Out of office until Monday.", sender=LOOPY)
        await bot.handled(form["MessageSid"])
        now[0] += 20
    replies = await replies_to(bot, fake_twilio, LOOPY)
    assert replies[-1] == HOLD_NOTICE
    assert len(replies) == replyguard.REPEAT_COUNT
    now[0] += replyguard.HOLD_SECONDS + 1
    form = await bot.text("\\ROOMS", sender=LOOPY)
    await bot.handled(form["MessageSid"])
    assert len(await replies_to(bot, fake_twilio, LOOPY)) == replyguard.REPEAT_COUNT + 1


async def test_a_held_number_gets_no_slow_down_notice_either(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [time.time()]
    bot = await bot_factory(
        clock=lambda: now[0], twilio=fake_twilio.section(), limits={"per_sender_per_minute": 8}
    )
    for _ in range(replyguard.REPEAT_COUNT):
        form = await bot.text("Out of office until Monday.", sender=LOOPY)
        await bot.handled(form["MessageSid"])
    assert (await replies_to(bot, fake_twilio, LOOPY))[-1] == HOLD_NOTICE
    for n in range(6):  # over the per-sender limit now: deferred, and its notice is held too
        await bot.text(f"Out of office {n}", sender=LOOPY)

    async def deferred() -> bool:
        return bool(
            await bot.scalar("SELECT count(*) FROM inbox WHERE status = 'pending' AND next_attempt_at > 0")
        )

    await wait_for(deferred)
    await bot.settled()
    replies = await replies_to(bot, fake_twilio, LOOPY)
    assert replies[-1] == HOLD_NOTICE
    assert len(replies) == replyguard.REPEAT_COUNT


async def test_metrics_have_every_reply_guard_series_from_the_start(bot: Bot) -> None:
    assert await metric(bot, "textwire_replies_delayed_total") == 0
    for reason in ("held", "superseded"):
        assert await metric(bot, f'textwire_replies_dropped_total{{reason="{reason}"}}') == 0
    for signal in replyguard.SIGNALS:
        assert await metric(bot, f'textwire_loops_total{{signal="{signal}"}}') == 0


async def test_help_names_what_a_newcomer_does_first_in_one_segment(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """\\HELP and the HELP keyword: the first steps (join or create a room, send a receipt photo,
    \\BALANCE), then every family, and how to opt out; one GSM-7 segment."""
    from bot.channels.twilio.segments import fits_one_segment

    for body in ("\\HELP", "HELP"):
        form = await bot.text(body)
        await bot.handled(form["MessageSid"])
    replies = await replies_to(bot, fake_twilio, ALICE)
    assert replies[0] == replies[1]
    text = replies[0]
    for step in (
        "\\JOIN room pw",
        "\\CREATE room pw",
        "receipt photo",
        "\\BALANCE",
        "\\HELP ROOMS, MONEY",
        "STOP",
    ):
        assert step in text
    assert fits_one_segment(text)
