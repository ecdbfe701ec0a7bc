"""`\\REMIND` and `\\TIMEZONE` (issue 26, item 6): the zone, the period due, the message, and the
job through the real bot: each member who owes gets one message a period, at a sensible local
hour, never an opted-out address, once even when two runs race."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from bot.channels.twilio.segments import fits_one_segment
from bot.features.ledger import reminders
from bot.features.ledger.book import FORMER, RoomLedger
from bot.features.ledger.money import currency_or_default
from bot.features.ledger.split import Payment
from bot.pipeline import replyguard
from storage import inbox
from storage.ledger import Reminding
from tests import images
from tests.channels.telegram.talk import OTHER_CHAT, answer
from tests.conftest import ALICE, BOB, Bot, BotFactory, new_message, new_sid
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_media import mms
from tests.handlers.test_ledger import CAROL, house, say

UTC = dt.UTC
# Monday 2026-11-30 in UTC
MONDAY = dt.datetime(2026, 11, 30, tzinfo=UTC).timestamp()
HOUR = 3600.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def room(
    remind: str | None = "weekly",
    timezone: str | None = None,
    phone: str | None = ALICE,
    done: str | None = None,
) -> Reminding:
    return Reminding("r1", "house", remind, timezone, done, phone)


@pytest.mark.parametrize(
    ("key", "zone"),
    [
        ("+12125551234", "America/New_York"),
        ("+14155551234", "America/Los_Angeles"),
        ("whatsapp:+442071234567", "Europe/London"),
        ("+15550001111", None),  # 555: no area
        # a mobile number has no area: its country's main zone, not the first of its names
        ("+34612345678", "Europe/Madrid"),  # not Atlantic/Canary
        ("+351912345678", "Europe/Lisbon"),  # not Atlantic/Azores
        ("+79161234567", "Europe/Moscow"),  # not Asia/Almaty, in Kazakhstan
        ("+18005551234", "America/New_York"),  # toll-free: not America/Adak
        ("+61412345678", "Australia/Sydney"),  # not Lord Howe Island, first in tzdata's list
        ("+299221234", "America/Nuuk"),  # libphonenumber's America/Godthab, named as tzdata does
        ("+353850123456", "Europe/Dublin"),  # not Europe/Guernsey, of the zones it is given
        # WhatsApp's Mexican mobiles keep the old 1 after +52: they were UTC
        ("whatsapp:+5215512345678", "America/Mexico_City"),
        ("+525512345678", "America/Mexico_City"),
        # and its Brazilian mobiles registered before the ninth digit keep their eight: UTC too
        ("whatsapp:+551187654321", "America/Sao_Paulo"),
        ("whatsapp:+559287654321", "America/Manaus"),
        ("+551132654321", "America/Sao_Paulo"),  # a landline of eight digits, as it always was
        ("telegram:7001", None),
        ("not a number", None),
        (None, None),
    ],
)
def test_a_number_gives_its_areas_zone(key: str | None, zone: str | None) -> None:
    assert reminders.zone_of_address(key) == zone


def test_the_zone_is_the_rooms_else_the_creators_else_utc() -> None:
    assert reminders.room_zone(room(timezone="Asia/Tokyo")).key == "Asia/Tokyo"
    assert reminders.room_zone(room(phone="+33142685300")).key == "Europe/Paris"
    assert reminders.room_zone(room(phone="+15550001111")).key == "UTC"
    assert reminders.zone_named("europe/paris") is not None
    assert reminders.zone_named("../../etc/passwd") is None
    assert reminders.zone_named("") is None


def test_a_period_is_due_once_between_ten_and_eight_local() -> None:
    weekly = room()
    assert reminders.due_period(weekly, MONDAY + 9 * HOUR) is None  # 09:00: too early
    assert reminders.due_period(weekly, MONDAY + 10 * HOUR) == "2026-W49"
    assert reminders.due_period(weekly, MONDAY + 20 * HOUR) is None  # 20:00: too late
    assert reminders.due_period(room(done="2026-W49"), MONDAY + 11 * HOUR) is None
    assert reminders.due_period(room(remind=None), MONDAY + 11 * HOUR) is None
    assert reminders.due_period(room(remind="monthly"), MONDAY + 11 * HOUR) == "2026-11"
    # New York: 10:00 there is 15:00 UTC
    new_york = room(timezone="America/New_York")
    assert reminders.due_period(new_york, MONDAY + 14 * HOUR) is None
    assert reminders.due_period(new_york, MONDAY + 15 * HOUR) == "2026-W49"


def test_a_timezone_moved_back_across_a_weeks_start_does_not_remind_the_week_before() -> None:
    """Reminded for the week of Monday in Tokyo, then `\\TIMEZONE America/Los_Angeles`: there it
    is still Sunday, the week before, and it was due again minutes after the first reminder."""
    monday_tokyo_10h = MONDAY + 1 * HOUR  # 10:00 in Tokyo is 01:00 UTC
    assert reminders.due_period(room(timezone="Asia/Tokyo"), monday_tokyo_10h) == "2026-W49"
    sunday_in_la = room(timezone="America/Los_Angeles", done="2026-W49")
    # 01:05 UTC Monday is 17:05 Sunday in Los Angeles: week 48, already past
    assert reminders.due_period(sunday_in_la, monday_tokyo_10h + 300) is None
    assert reminders.due_period(room(done="2026-W48"), MONDAY + 11 * HOUR) == "2026-W49"
    assert reminders.due_period(room(remind="monthly", done="2026-W49"), MONDAY + 11 * HOUR) == "2026-11"


def test_the_message_says_whom_and_how_much_within_one_segment() -> None:
    usd = currency_or_default("USD")
    book = RoomLedger(
        currency=usd,
        net={},
        settlement=[Payment(2, 1, 1000), Payment(2, 3, 250), Payment(3, 1, 500)],
        names={1: "Alice", 2: "Bob", 3: "Carol", None: FORMER},
        uncounted=0,
        member_ids=(1, 2, 3),
    )
    text = reminders.reminder_text("house", book, 2, fits=lambda t: len(t) <= 160)
    assert (
        text
        == "house: a reminder, you owe Alice $10.00, Carol $2.50. Paid? \\PAID <name> <amount>. \\REMIND off stops these."
    )
    assert reminders.reminder_text("house", book, 1, fits=lambda t: True) is None  # owes nothing
    short = reminders.reminder_text("house", book, 2, fits=lambda t: len(t) <= 60)
    assert short == "house: a reminder, you owe $12.50 in all. \\BALANCE house says to whom."


async def _owing_house(bot: Bot, fake: FakeTwilio) -> None:
    await house(bot, fake)
    assert (await say(bot, fake, "$30.00", **mms([fake.media.add(images.jpeg_with_gps())]))).startswith(
        "Saved $30.00"
    )


async def _reminded_weekly(bot_factory: BotFactory, fake: FakeTwilio) -> tuple[Bot, Clock]:
    """A house where Bob and Carol owe Alice, weekly reminders on, on a Saturday noon."""
    clock = Clock(MONDAY - 2 * 24 * HOUR + 12 * HOUR)
    bot = await bot_factory(twilio=fake.section(), clock=clock)
    await _owing_house(bot, fake)
    await say(bot, fake, "\\REMIND weekly")
    return bot, clock


async def test_reminders_add_up_the_room_while_others_texts_are_stored(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 60-member club's ledger takes a second to add up; the reminders did it inside the
    transaction that claims the period, and on SQLite another person's text waited all that time
    to be stored. It is stored while the room is added up, and the reminders go as before."""
    fake = fake_twilio
    bot, clock = await _reminded_weekly(bot_factory, fake)
    deps = bot.runtime.deps
    stored: list[bool] = []
    original = reminders.room_ledger

    async def adding_up(conn: Any, room_id: str, *args: Any) -> Any:
        another = new_message(new_sid(), "+15550009999", "\\HELP")
        try:  # the timeout only ends a test that fails: the text waits for the reminders
            await asyncio.wait_for(inbox.insert_new(deps.db, [another]), timeout=10)
            stored.append(True)
        except TimeoutError:
            stored.append(False)
        return await original(conn, room_id, *args)

    monkeypatch.setattr(reminders, "room_ledger", adding_up)
    clock.now = MONDAY + 10.5 * HOUR
    assert await reminders.send_reminders(deps) == 2
    assert stored == [True]


async def test_remind_monthly_sent_while_a_mondays_reminders_are_added_up_does_not_remind_twice(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`\\REMIND monthly` handled while the job added up the room for Monday's weekly reminders
    counted the month as done; the job's claim then put the week in its place, and the month's
    reminders went at the next check, ten minutes after the week's: two in ten minutes."""
    fake = fake_twilio
    bot, clock = await _reminded_weekly(bot_factory, fake)
    deps = bot.runtime.deps
    original = reminders.room_ledger
    switched: list[str] = []

    async def adding_up(conn: Any, room_id: str, *args: Any) -> Any:
        if not switched:
            switched.append(await say(bot, fake, "\\REMIND monthly"))
        return await original(conn, room_id, *args)

    monkeypatch.setattr(reminders, "room_ledger", adding_up)
    clock.now = MONDAY + 10.5 * HOUR
    first = await reminders.send_reminders(deps)
    [answer] = switched
    assert answer.startswith("house: whoever owes gets a reminder monthly")
    clock.now += 600
    second = await reminders.send_reminders(deps)
    assert first + second <= 2, (first, second)  # Bob and Carol: one each at most
    assert await bot.scalar("SELECT remind FROM rooms") == "monthly"
    # the 1st: the month's reminders go, once
    clock.now = MONDAY + 24 * HOUR + 10.5 * HOUR
    assert await reminders.send_reminders(deps) == 2
    assert await reminders.send_reminders(deps) == 0


async def test_each_member_who_owes_gets_one_reminder_a_period(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    clock = Clock(MONDAY - 2 * 24 * HOUR + 12 * HOUR)  # Saturday noon
    bot = await bot_factory(twilio=fake_twilio.section(), clock=clock)
    fake = fake_twilio
    await _owing_house(bot, fake)
    assert (
        await say(bot, fake, "\\REMIND")
        == "house: no reminders. \\REMIND weekly or monthly: whoever owes gets one."
    )
    assert await say(bot, fake, "\\REMIND weekly") == (
        "house: whoever owes gets a reminder weekly, on Mondays from 10:00 (UTC: \\TIMEZONE <city> for yours)."
        " \\REMIND off stops them."
    )
    deps = bot.runtime.deps
    assert await reminders.send_reminders(deps) == 0  # this week counts as done: the first is Monday's
    clock.now = MONDAY + 9 * HOUR
    assert await reminders.send_reminders(deps) == 0  # too early
    # asking for weekly again, before Monday's has gone, does not count this week as done
    assert (await say(bot, fake, "\\REMIND weekly")).startswith("house: whoever owes gets a reminder weekly")
    clock.now = MONDAY + 10.5 * HOUR
    before = len(fake.messages)
    sent = await asyncio.gather(reminders.send_reminders(deps), reminders.send_reminders(deps))
    assert sorted(sent) == [0, 2]  # two runs at once: one sends
    messages = await fake.wait_for_messages(before + 2)
    got = {m["To"]: m["Body"] for m in messages[before:]}
    assert got == {
        BOB: "house: a reminder, you owe Alice $10.00. Paid? \\PAID <name> <amount>. \\REMIND off stops these.",
        CAROL: "house: a reminder, you owe Alice $10.00. Paid? \\PAID <name> <amount>. \\REMIND off stops these.",
    }
    assert await reminders.send_reminders(deps) == 0  # once a period
    # next week: Carol paid, Bob opted out by the carrier keyword: nobody left to remind
    assert (await say(bot, fake, "\\PAID alice 10", sender=CAROL)).startswith(
        "Recorded: you paid Alice $10.00. house:"
    )
    await bot.text("STOP", sender=BOB)
    await bot.settled()
    clock.now = MONDAY + 7 * 24 * HOUR + 11 * HOUR
    assert await reminders.send_reminders(deps) == 0
    assert await say(bot, fake, "\\REMIND off") == "house: reminders off."
    assert await bot.scalar("SELECT remind FROM rooms") is None


async def test_a_reminder_of_a_room_that_is_not_the_active_one_says_to_switch_first(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Bob owes in house, but his photos go to trip (the room he joined last). The house reminder
    said "Paid? \\PAID <name> <amount>. \\REMIND off stops these.": both act on the active room,
    so Bob's \\PAID Alice 10 was recorded in trip (in euros) and \\REMIND off stopped trip's
    reminders. A reminder of a room that is not the debtor's active one says \\USE it first."""
    clock = Clock(MONDAY - 24 * HOUR + 12 * HOUR)
    bot = await bot_factory(twilio=fake_twilio.section(), clock=clock)
    fake = fake_twilio
    await _owing_house(bot, fake)
    assert await say(bot, fake, "\\REMIND monthly") == (
        "house: whoever owes gets a reminder monthly, on the 1st from 10:00 (UTC: \\TIMEZONE <city> for yours)."
        " \\REMIND off stops them."
    )
    assert (await say(bot, fake, "\\CREATE trip pw")).startswith("Created room trip")
    assert (await say(bot, fake, "\\JOIN trip pw", sender=BOB)).startswith("Joined trip")
    assert await say(bot, fake, "\\CURRENCY EUR", sender=BOB) == "trip counts in EUR (€) now."
    clock.now = dt.datetime(2026, 12, 1, 11, tzinfo=UTC).timestamp()
    before = len(fake.messages)
    assert await reminders.send_reminders(bot.runtime.deps) == 2
    messages = await fake.wait_for_messages(before + 2)
    got = {m["To"]: m["Body"] for m in messages[before:]}
    assert got == {
        BOB: "house: a reminder, you owe Alice $10.00. Paid? \\USE house, then \\PAID <name> <amount>. "
        "\\REMIND off there stops these.",
        CAROL: "house: a reminder, you owe Alice $10.00. Paid? \\PAID <name> <amount>. \\REMIND off stops these.",
    }
    # as it says: the payment is house's
    assert await say(bot, fake, "\\USE house", sender=BOB) == "Photos you send now go to house."
    assert (await say(bot, fake, "\\PAID Alice 10", sender=BOB)).startswith(
        "Recorded: you paid Alice $10.00. house:"
    )


async def test_a_number_on_hold_for_a_loop_gets_no_reminder(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(MONDAY - 24 * HOUR + 12 * HOUR)
    bot = await bot_factory(twilio=fake_twilio.section(), clock=clock)
    await _owing_house(bot, fake_twilio)
    await say(bot, fake_twilio, "\\REMIND monthly")
    clock.now = dt.datetime(2026, 12, 1, 11, tzinfo=UTC).timestamp()

    def held(rows: object) -> float:
        return clock.now + HOUR

    monkeypatch.setattr(replyguard, "held_until", held)
    assert await reminders.send_reminders(bot.runtime.deps) == 0
    assert await bot.scalar("SELECT reminded_period FROM rooms") == "2026-12"


async def test_a_zone_typed_as_people_write_it_gets_its_name(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\TIMEZONE PST` (the abbreviation of a place's time) or `America/New York` (a space for the
    underscore) was told only "use a name such as America/Chicago or Europe/Paris"."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\TIMEZONE PST") == (
        "PST is not a time zone: did you mean \\TIMEZONE America/Los_Angeles?"
    )
    assert (
        await say(bot, fake, "\\TIMEZONE jst")
        == "jst is not a time zone: did you mean \\TIMEZONE Asia/Tokyo?"
    )
    assert await say(bot, fake, "\\TIMEZONE America/New York") == (
        "America/New York is not a time zone: did you mean \\TIMEZONE America/New_York?"
    )
    assert await say(bot, fake, "\\TIMEZONE IST") == (  # India's, Ireland's or Israel's: no guess
        "IST is not a time zone: use a name such as America/Chicago or Europe/Paris."
    )
    # a city with its accents, which zone names leave out (said back only where the SMS stays GSM-7)
    assert await say(bot, fake, "\\TIMEZONE S\u00e3o Paulo") == (
        "That is not a time zone: did you mean \\TIMEZONE America/Sao_Paulo?"
    )
    assert await say(bot, fake, "\\TIMEZONE Bogot\u00e1") == (
        "That is not a time zone: did you mean \\TIMEZONE America/Bogota?"
    )
    assert await say(bot, fake, "\\TIMEZONE Z\u00fcrich") == (
        "Z\u00fcrich is not a time zone: did you mean \\TIMEZONE Europe/Zurich?"
    )


async def test_a_spanish_mobiles_room_keeps_madrids_time_not_the_canaries(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A room made from a Spanish mobile number kept Atlantic/Canary's clock, an hour behind
    Madrid's: its `\\STATEMENT` of 00:30 on December 1st in Madrid linked November's."""
    madrid = "+34612345678"
    clock = Clock(dt.datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp())  # 00:30 on Dec 1 in Madrid
    bot = await bot_factory(twilio=fake_twilio.section(), clock=clock)
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw", sender=madrid)).startswith("Created room house")
    assert await say(bot, fake, "\\TIMEZONE", sender=madrid) == (
        "house keeps time in Europe/Madrid, from its creator's number. Change it: \\TIMEZONE Europe/Paris"
    )
    assert "/statement/2026-12?" in await say(bot, fake, "\\STATEMENT", sender=madrid)


async def test_a_brazilian_whatsapp_number_without_its_ninth_digit_keeps_sao_paulos_time(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """WhatsApp keeps a Brazilian mobile registered before the ninth digit (2012-2016) as it was,
    `+55 11 8765-4321` for +55 11 98765-4321: a room made from it kept UTC, three hours ahead
    of S\u00e3o Paulo, its reminders due at 07:00 and its `\\STATEMENT` of 22:30 on November 30th
    linking December's."""
    old = "whatsapp:+551187654321"
    clock = Clock(dt.datetime(2026, 12, 1, 1, 30, tzinfo=UTC).timestamp())  # 22:30 on Nov 30 in Sao Paulo
    bot = await bot_factory(
        twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"}, clock=clock
    )
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE casa pw", sender=old)).startswith("Created room casa")
    assert await say(bot, fake, "\\TIMEZONE", sender=old) == (
        "casa keeps time in America/Sao_Paulo, from its creator's number. Change it: \\TIMEZONE Europe/Paris"
    )
    assert "/statement/2026-11?" in await say(bot, fake, "\\STATEMENT", sender=old)


def test_an_etc_gmt_zone_is_said_with_the_sign_people_read() -> None:
    assert reminders.utc_offset_of_etc("Etc/GMT+2") == "UTC-2"
    assert reminders.utc_offset_of_etc("Etc/GMT-14") == "UTC+14"
    assert reminders.utc_offset_of_etc("Etc/GMT+0") is None
    assert reminders.utc_offset_of_etc("Etc/GMT") is None
    assert reminders.utc_offset_of_etc("Europe/Paris") is None


def test_est_and_mst_are_the_zones_people_mean_by_them() -> None:
    assert reminders.no_summer_time("EST") == ("America/New_York", "America/Panama")
    assert reminders.no_summer_time(" mst ") == ("America/Denver", "America/Phoenix")
    assert reminders.no_summer_time("GMT") == ("Europe/London", "UTC")  # London's winter time
    assert reminders.no_summer_time("America/New_York") is None
    assert reminders.no_summer_time("HST") is None  # Hawaii keeps no summer time either: it is right


async def test_timezone_shows_sets_and_refuses(bot: Bot, fake_twilio: FakeTwilio) -> None:
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\TIMEZONE") == "house keeps time in UTC. Change it: \\TIMEZONE Europe/Paris"
    assert await say(bot, fake, "\\TIMEZONE europe/paris") == "house keeps time in Europe/Paris now."
    assert await say(bot, fake, "\\TIMEZONE Mars/Olympus") == (
        "Mars/Olympus is not a time zone: use a name such as America/Chicago or Europe/Paris."
    )
    # a city, as people type where they live: told the zone's name (it said only "is not a time zone")
    assert (
        await say(bot, fake, "\\TIMEZONE Tokyo")
        == "Tokyo is not a time zone: did you mean \\TIMEZONE Asia/Tokyo?"
    )
    assert await say(bot, fake, "\\TIMEZONE new york.") == (
        "new york is not a time zone: did you mean \\TIMEZONE America/New_York?"
    )
    assert await say(bot, fake, "\\TIMEZONE Buenos Aires") == (
        "Buenos Aires is not a time zone: did you mean \\TIMEZONE America/Argentina/Buenos_Aires?"
    )
    assert await say(bot, fake, "\\REMIND monthly") == (
        "house: whoever owes gets a reminder monthly, on the 1st from 10:00 (Europe/Paris). \\REMIND off stops them."
    )
    assert (await say(bot, fake, "\\REMIND daily")).startswith("Usage: \\REMIND weekly|monthly|off")


def test_turning_reminders_on_before_ten_on_a_periods_first_day_leaves_that_day_due() -> None:
    monday_9h = dt.datetime(2026, 11, 30, 9, 30)
    assert reminders.done_on_turning_on("weekly", monday_9h) == "2026-W48"  # Monday's still goes
    assert reminders.done_on_turning_on("weekly", monday_9h.replace(hour=10)) == "2026-W49"
    assert reminders.done_on_turning_on("weekly", dt.datetime(2026, 12, 1, 8)) == "2026-W49"  # a Tuesday
    assert reminders.done_on_turning_on("monthly", dt.datetime(2026, 12, 1, 9)) == "2026-11"
    assert reminders.done_on_turning_on("monthly", dt.datetime(2026, 12, 1, 10)) == "2026-12"
    assert reminders.done_on_turning_on("monthly", dt.datetime(2027, 1, 1, 9)) == "2026-12"
    # the ISO week of Monday 2027-01-04 is 2027-W01; the Sunday before is 2026-W53's
    assert reminders.done_on_turning_on("weekly", dt.datetime(2027, 1, 4, 9)) == "2026-W53"
    # never before the period reminded last (kept by \REMIND off): that one went already
    assert reminders.done_on_turning_on("weekly", monday_9h, reminded="2026-W49") == "2026-W49"
    assert reminders.done_on_turning_on("monthly", monday_9h, reminded="2026-W49") == "2026-11"


async def test_reminders_off_then_on_again_before_ten_on_a_monday_still_remind_that_day(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\REMIND off`, then `\\REMIND weekly` again at 09:30 on a Monday: told "weekly, on Mondays
    from 10:00", nobody was reminded that day, nor that week (turning them on counted the week as
    done). That day's reminder goes at 10:00, once; off and on again after it went, not twice."""
    fake = fake_twilio
    bot, clock = await _reminded_weekly(bot_factory, fake)
    deps = bot.runtime.deps
    clock.now = MONDAY + 9.5 * HOUR
    assert await say(bot, fake, "\\REMIND off") == "house: reminders off."
    assert (await say(bot, fake, "\\REMIND weekly")).startswith(
        "house: whoever owes gets a reminder weekly, on Mondays from 10:00"
    )
    assert await reminders.send_reminders(deps) == 0  # 09:30: not yet
    clock.now = MONDAY + 10.5 * HOUR
    before = len(fake.messages)
    assert await reminders.send_reminders(deps) == 2
    messages = await fake.wait_for_messages(before + 2)
    assert {m["To"] for m in messages[before:]} == {BOB, CAROL}
    # off and on again once it went: this week's is not sent again
    clock.now = MONDAY + 11 * HOUR
    assert await say(bot, fake, "\\REMIND off") == "house: reminders off."
    await say(bot, fake, "\\REMIND weekly")
    assert await bot.scalar("SELECT reminded_period FROM rooms") == "2026-W49"
    assert await reminders.send_reminders(deps) == 0


async def test_a_reminder_that_goes_to_the_paired_sms_number_fits_one_segment(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Wally started on WhatsApp and paired his SMS number. A reminder more than 24 hours after his
    last message, on WhatsApp, with no template for it, goes to the SMS number, but it was worded
    for WhatsApp's 1,600 characters: owing four people, it took two SMS. Worded for where it goes,
    it fits one."""
    wally, sms = "whatsapp:+15550009999", "+15550007777"
    clock = Clock(MONDAY - 24 * HOUR + 12 * HOUR)
    bot = await bot_factory(
        twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"}, clock=clock
    )
    fake = fake_twilio
    await house(bot, fake)
    dave = "+15550004444"
    for phone in (dave, wally):
        assert (await say(bot, fake, "\\JOIN house pw", sender=phone)).startswith("Joined house")
    offer = await say(bot, fake, "\\PAIR", sender=wally)
    code = offer.split("Your code: ", 1)[1][:6]
    assert (await say(bot, fake, f"\\PAIR {code}", sender=sms)).startswith("Paired:")
    assert (await say(bot, fake, "\\ROOMS", sender=wally)).startswith("Your rooms")  # his last
    for variant, (phone, name) in enumerate(
        ((ALICE, "Alexandrina"), (BOB, "Bartholomew"), (CAROL, "Carolinamaria"), (dave, "Dominique"))
    ):
        assert await say(bot, fake, f"\\NAME {name}", sender=phone) == f"Your rooms now see you as {name}."
        url = fake.media.add(images.jpeg_with_gps(variant=variant))
        assert (await say(bot, fake, f"${1000 + variant}.25", sender=phone, **mms([url]))).startswith("Saved")
    assert (await say(bot, fake, "\\REMIND monthly")).startswith("house: whoever owes")
    clock.now = dt.datetime(2026, 12, 1, 11, tzinfo=UTC).timestamp()  # Wally wrote days ago
    before = len(fake.messages)
    assert await reminders.send_reminders(bot.runtime.deps) >= 1
    await bot.settled()
    [body] = [m["Body"] for m in fake.messages[before:] if m["To"] == sms]
    assert body.startswith("house: a reminder, you owe "), body
    assert fits_one_segment(body), body


async def test_a_reminder_is_queued_for_the_address_that_can_take_it(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Wally, who reads SMS, once wrote from WhatsApp, his last message, two days before the
    reminder; there is no `reminder` template. His reminder was queued for WhatsApp, skipped
    there every week (`whatsapp.not_sent`) and sent on to his SMS number, and whether he had
    opted out or was held back was asked of WhatsApp, not of the number it went to. It is queued
    for the SMS number itself: one reminder, no skipped row."""
    wally, sms = "whatsapp:+15550009999", "+15550007777"
    clock = Clock(MONDAY - 2 * 24 * HOUR + 12 * HOUR)
    bot = await bot_factory(
        twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"}, clock=clock
    )
    fake = fake_twilio
    await house(bot, fake)
    assert (await say(bot, fake, "\\JOIN house pw", sender=sms)).startswith("Joined house")
    code = (await say(bot, fake, "\\PAIR", sender=sms)).split("Your code: ", 1)[1][:6]
    clock.now += 60
    assert (await say(bot, fake, f"\\PAIR {code}", sender=wally)).startswith("Paired:")  # his last
    url = fake.media.add(images.jpeg_with_gps())
    assert (await say(bot, fake, "$30.00", **mms([url]))).startswith("Saved $30.00")
    await say(bot, fake, "\\REMIND weekly")
    clock.now = MONDAY + 10.5 * HOUR
    before = len(fake.messages)
    assert await reminders.send_reminders(bot.runtime.deps) == 3  # Bob's, Carol's and Wally's
    await fake.wait_for_messages(before + 3)
    await bot.settled()
    rows = await bot.rows(
        "SELECT to_phone, status FROM outbox WHERE kind = 'reminder' AND to_phone IN (:a, :b)",
        a=sms,
        b=wally,
    )
    assert [tuple(r) for r in rows] == [(sms, "sent")]
    [body] = [m["Body"] for m in fake.messages[before:] if m["To"] == sms]
    assert body.startswith("house: a reminder, you owe Alice $7.50."), body
    assert [m for m in fake.messages[before:] if m["To"] == wally] == []


async def test_a_reminder_goes_to_the_address_the_person_last_wrote_from(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, fake_telegram: Any
) -> None:
    """Bob texted by SMS, then paired a Telegram chat and wrote from it since: his reminder went
    to the SMS number, his first address. It goes to the chat; once he texts by SMS again, the
    next week's goes by SMS."""
    fake = fake_twilio
    clock = Clock(MONDAY - 2 * 24 * HOUR + 12 * HOUR)
    bot = await bot_factory(twilio=fake.section(), telegram=fake_telegram.section(), clock=clock)
    await _owing_house(bot, fake)
    await say(bot, fake, "\\REMIND weekly")
    code = (await say(bot, fake, "\\PAIR", sender=BOB)).split("Your code: ", 1)[1][:6]
    clock.now += 60
    paired = await answer(bot, fake_telegram, f"/pair {code}", chat=OTHER_CHAT, first_name="Bob")
    assert paired.startswith("Paired:"), paired

    async def reminded(week: int) -> tuple[list[str], list[str]]:
        """The reminders Bob got by SMS and in his chat, `week` weeks after the first Monday."""
        clock.now = MONDAY + week * 7 * 24 * HOUR + 10.5 * HOUR
        sms_before, chat_before = len(fake.messages), len(fake_telegram.to(OTHER_CHAT))
        assert await reminders.send_reminders(bot.runtime.deps) == 2  # Bob's and Carol's
        await fake.wait_for_messages(sms_before + 1)  # Carol's, by SMS
        await bot.settled()
        by_sms = [m["Body"] for m in fake.messages[sms_before:] if m["To"] == BOB]
        return by_sms, fake_telegram.to(OTHER_CHAT)[chat_before:]

    reminder = "house: a reminder, you owe Alice $10.00."
    by_sms, in_chat = await reminded(0)
    assert (by_sms, [m[: len(reminder)] for m in in_chat]) == ([], [reminder])
    assert (await say(bot, fake, "\\ROOMS", sender=BOB)).startswith("Your rooms")  # back on SMS
    by_sms, in_chat = await reminded(1)
    assert ([m[: len(reminder)] for m in by_sms], in_chat) == ([reminder], [])


async def test_a_room_on_utc_for_want_of_a_zone_is_told_how_to_set_its_own(
    bot_factory: BotFactory, fake_telegram: Any
) -> None:
    """A room made on Telegram has no number to take a zone from: it runs on UTC, and `/remind
    weekly` said only "from 10:00 (UTC)", so a household in Los Angeles was reminded at 02:00
    without a word on how to change it. Set to a zone, the room is told nothing more."""
    bot = await bot_factory(telegram=fake_telegram.section())

    async def telegram(text: str) -> str:
        return await answer(bot, fake_telegram, text)

    await telegram("/create flat pw")
    assert await telegram("/remind weekly") == (
        "flat: whoever owes gets a reminder weekly, on Mondays from 10:00 (UTC: /timezone <city> for"
        " yours). /remind off stops them."
    )
    assert await telegram("/timezone America/Los_Angeles") == "flat keeps time in America/Los_Angeles now."
    assert await telegram("/remind monthly") == (
        "flat: whoever owes gets a reminder monthly, on the 1st from 10:00 (America/Los_Angeles)."
        " /remind off stops them."
    )
