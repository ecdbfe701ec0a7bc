"""`\\REMIND weekly|monthly|off`: scheduled reminders of who owes (issue 26, item 6).

A job (every 10 minutes, once across processes) looks at the rooms with reminders on. For each it
takes the room's local time (`\\TIMEZONE`, else the zone of its creator's number from
libphonenumber's data, else UTC); between 10:00 and 20:00 local, in a period (an ISO week, a
month) the room has not been reminded of yet, one transaction moves the room's
`reminded_period` (a conditional update: one process, once) and queues one message to each
current member who owes: whom, how much, and how to stop them. Never to an opted-out address or
a number on hold for a reply loop. Turning reminders on counts the period under way as done: the
first goes at the start of the next one (Monday, the 1st); turned on before 10:00 on a period's
first day, that day's goes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import importlib.resources
import re
import unicodedata
import zoneinfo
from collections.abc import AsyncIterator, Collection
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import TELEGRAM, FitsOne, address_of, channel_of, phone_forms, window_of
from bot.core.deps import Deps, Services
from bot.core.feature import Feature, Starting
from bot.core.logs import get_logger
from bot.features.ledger.book import RoomLedger, room_ledger
from bot.pipeline import replyguard
from storage import inbox, ledger, outbox, pairing, rooms, users

log = get_logger(__name__)

WEEKLY, MONTHLY = "weekly", "monthly"
KINDS = (WEEKLY, MONTHLY)
FROM_HOUR, UNTIL_HOUR = 10, 20  # local: reminders go between 10:00 and 20:00
CHECK_SECONDS = 600


# files of the system's zone folder that name no zone: `localtime` is the host's own (a room set to
# it kept the server's time, told "keeps time in localtime"), `Factory` a placeholder ("-00")
NOT_ZONES = frozenset({"localtime", "factory", "posixrules"})


@functools.cache
def _zone_names() -> dict[str, str]:
    """Every IANA zone name this machine knows (tzdata's), by its case-folded form."""
    names = {name.casefold(): name for name in zoneinfo.available_timezones()}
    return {key: name for key, name in names.items() if key not in NOT_ZONES}


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone `name` (`Europe/Paris`, in any case), or None."""
    known = _zone_names().get(name.casefold()) if name and len(name) <= 64 else None
    if known is None:
        return None
    try:
        return ZoneInfo(known)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# the areas of IANA zone names whose last part is a city (`Asia/Tokyo`), not a legacy alias
# (`US/Eastern`, `Japan`)
_AREAS = frozenset(
    {"africa", "america", "antarctica", "asia", "atlantic", "australia", "europe", "indian", "pacific"}
)


@functools.cache
def _zones_by_city() -> dict[str, str]:
    """Each zone by its city (`tokyo`: Asia/Tokyo, `new_york`: America/New_York); of two names for
    one city the longer is today's (`America/Argentina/Buenos_Aires`, not `America/Buenos_Aires`)."""
    found: dict[str, str] = {}
    for key, name in sorted(_zone_names().items()):
        if "/" not in key or key.split("/", 1)[0] not in _AREAS:
            continue
        city = key.rsplit("/", 1)[1]
        if city not in found or name.count("/") > found[city].count("/"):
            found[city] = name
    return found


# what people type for their zone that is no zone's name: the abbreviation of its time (one that
# names one place's time; IST, India's, Ireland's or Israel's, or CST, Chicago's or China's, do
# not). `\\TIMEZONE PST` was told only "use a name such as America/Chicago".
_ABBREVIATIONS = {
    **dict.fromkeys(("et", "edt"), "America/New_York"),
    **dict.fromkeys(("ct", "cdt"), "America/Chicago"),
    **dict.fromkeys(("mt", "mdt"), "America/Denver"),
    **dict.fromkeys(("pt", "pst", "pdt"), "America/Los_Angeles"),
    **dict.fromkeys(("akst", "akdt"), "America/Anchorage"),
    **dict.fromkeys(("bst",), "Europe/London"),
    **dict.fromkeys(("cest",), "Europe/Paris"),
    **dict.fromkeys(("jst",), "Asia/Tokyo"),
    **dict.fromkeys(("kst",), "Asia/Seoul"),
    **dict.fromkeys(("sgt",), "Asia/Singapore"),
    **dict.fromkeys(("hkt",), "Asia/Hong_Kong"),
    **dict.fromkeys(("aest", "aedt"), "Australia/Sydney"),
    **dict.fromkeys(("nzst", "nzdt"), "Pacific/Auckland"),
}


# names tzdata keeps for old systems that people type for their region's time, but whose clocks
# never change for summer: `\\TIMEZONE EST` set a New York room an hour off from March to November
# (a receipt of 00:30 on July 1st in June's statement, reminders at 11:00). Each with the zone
# people mean, and the one that keeps that time all year. `\\TIMEZONE GMT`, as Londoners call
# their winter time, ran a London room an hour off from March to October (BST was taken for
# London's, GMT kept as tzdata's no-summer zone).
_NO_SUMMER = {
    "est": ("America/New_York", "America/Panama"),
    "mst": ("America/Denver", "America/Phoenix"),
    "gmt": ("Europe/London", "UTC"),
}


def no_summer_time(text: str) -> tuple[str, str] | None:
    """For a `\\TIMEZONE` of EST or MST: the zone people mean by it, and the one that keeps it all
    year (which they can name when they mean that); else None."""
    return _NO_SUMMER.get(text.strip().casefold())


_ETC_GMT = re.compile(r"Etc/GMT([+-])(\d{1,2})")


def utc_offset_of_etc(key: str) -> str | None:
    """What tzdata's `Etc/GMT+2` is, `UTC-2`: its sign is POSIX's, the reverse of what people
    read in it. A room set to Etc/GMT+2 by someone two hours ahead of UTC was told only that it
    "keeps time in Etc/GMT+2", and ran four hours behind them. None for any other zone."""
    match = _ETC_GMT.fullmatch(key)
    if match is None or int(match[2]) == 0:
        return None
    return f"UTC{'-' if match[1] == '+' else '+'}{int(match[2])}"


def zone_of_city(text: str) -> str | None:
    """The zone a city names (`Tokyo`, `new york`, `Los_Angeles`, `America/New York`) or the
    abbreviation of its time (`PST`), for a `\\TIMEZONE` that is no zone's name: people type their
    city, and were told only that it "is not a time zone". A city is typed with its accents, which
    zone names leave out (`S\u00e3o Paulo`: America/Sao_Paulo, `Z\u00fcrich`, `Bogot\u00e1`)."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    key = "_".join(bare.split()).casefold()
    if not 0 < len(key) <= 64:
        return None
    return _ABBREVIATIONS.get(key) or _zones_by_city().get(key.rsplit("/", 1)[-1])


def zone_of_address(key: str | None) -> str | None:
    """The zone of a phone number's area (`+12125551234`: America/New_York), if it has one."""
    if not key:
        return None
    address = address_of(key)
    if address.channel == TELEGRAM:
        return None
    try:
        number = phonenumbers.parse(address.id)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        # WhatsApp writes a Mexican mobile with the 1 Mexico dialled before mobiles until 2019
        # (`whatsapp:+5215512345678`), and keeps a Brazilian mobile registered before the ninth
        # digit without it (`whatsapp:+551187654321`): libphonenumber knows no zone of either,
        # and a room made from one kept UTC, its reminders hours off. The number as dialled has.
        for other in phone_forms(address.id)[1:]:
            dialled = phonenumbers.parse(other)
            if phonenumbers.is_valid_number(dialled):
                number = dialled
                break
    zones = [z for z in phone_zones.time_zones_for_number(number) if zone_named(z) is not None]
    if not zones:
        return None
    # a mobile number has no area: its zones are all of its country's (and, for +7, Kazakhstan's
    # too), by name. Their first put every Spanish mobile's room on the Canaries' clock, every
    # Portuguese one's on the Azores', every Russian one's on Almaty's: an hour or two off, so a
    # receipt of 00:30 on the 1st was in the month before's statement. The country's main zone
    # is the one meant, named as zone.tab names it (libphonenumber has America/Godthab for
    # Nuuk); a country of one zone that the number's list leaves out (Ireland's mobiles are
    # given London's and the Channel Islands') has that zone.
    same = {_current_names().get(z, z) for z in zones}
    own = _zones_of_country().get(phonenumbers.region_code_for_number(number) or "", ())
    found = next((z for z in own if _current_names().get(z, z) in same), None)
    if found is None and len(own) == 1:
        return own[0]
    return found or zones[0]


# zone.tab lists a country's zones in an order that "makes geographical sense", most populous
# first only where geography allows: Australia's begins with Lord Howe Island, whose clock is half
# an hour off Sydney's half the year. Where that first is not the main one, the main one.
_MAIN_ZONE = {"AU": "Australia/Sydney"}


@functools.cache
def _zones_of_country() -> dict[str, tuple[str, ...]]:
    """Each country's zones (`ES`: Europe/Madrid, Africa/Ceuta, Atlantic/Canary), its main one
    first: zone.tab's order, but for `_MAIN_ZONE`."""
    found: dict[str, list[str]] = {}
    try:
        text = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("ascii")
    except (OSError, ModuleNotFoundError):
        return {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            country, _, name, *_ = line.split("\t")
            found.setdefault(country, []).append(name)
    for country, main in _MAIN_ZONE.items():
        if main in found.get(country, ()):
            found[country].remove(main)
            found[country].insert(0, main)
    return {country: tuple(names) for country, names in found.items()}


@functools.cache
def _current_names() -> dict[str, str]:
    """A zone's other names to the one tzdata keeps its rules under (`America/Godthab`:
    `America/Nuuk`, `Africa/Kinshasa`: `Africa/Lagos`): its links, to compare names by."""
    try:
        text = importlib.resources.files("tzdata").joinpath("zoneinfo", "tzdata.zi").read_text("utf-8")
    except (OSError, ModuleNotFoundError):
        return {}
    links = (line.split() for line in text.splitlines() if line.startswith("L "))
    return {parts[2]: parts[1] for parts in links if len(parts) == 3}


def room_zone(room: ledger.Reminding) -> ZoneInfo:
    for name in (room.timezone, zone_of_address(room.creator_phone)):
        zone = zone_named(name or "")
        if zone is not None:
            return zone
    return ZoneInfo("UTC")


def zone_unknown(room: ledger.Reminding) -> bool:
    """UTC only for want of a zone: none set, none from the creator's number (a room made on
    Telegram, or from a number with no area), so 10:00 may be in the middle of someone's night and
    a month may end in the middle of their day."""
    return not room.timezone and zone_of_address(room.creator_phone) is None


def period_of(kind: str, local: dt.datetime) -> str:
    """The period `local` falls in: `2026-W48` (ISO week) or `2026-11`."""
    if kind == WEEKLY:
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def done_on_turning_on(kind: str, local: dt.datetime, reminded: str | None = None) -> str:
    """The period that turning reminders on at `local` counts as reminded: the one under way, so
    nobody is reminded the minute they ask; but on its first day before 10:00 (a Monday, the
    1st) the one before, as its reminder has not had its time yet: `\\REMIND off` then on again
    at 09:30 on a Monday skipped that week's, though the answer said "on Mondays from 10:00".
    Never one before `reminded` (the room's last, kept by `\\REMIND off`): that one went."""
    first_day = local.isoweekday() == 1 if kind == WEEKLY else local.day == 1
    before = local - dt.timedelta(days=1) if first_day and local.hour < FROM_HOUR else local
    period = period_of(kind, before)
    if reminded is not None and ("W" in reminded) == ("W" in period) and reminded > period:
        return reminded
    return period


def due_period(room: ledger.Reminding, now: float) -> str | None:
    """The period to remind the room of now, or None (off, outside the hours, done already)."""
    if room.remind not in KINDS:
        return None
    local = dt.datetime.fromtimestamp(now, room_zone(room))
    if not FROM_HOUR <= local.hour < UNTIL_HOUR:
        return None
    period = period_of(room.remind, local)
    return period if _later(period, room.reminded_period) else None


def _later(period: str, reminded: str | None) -> bool:
    """Whether `period` comes after the one reminded last. Not merely another: a `\\TIMEZONE`
    that moves the room's clock back across a week's or month's start made the period before
    come round again, and its debtors got a second reminder minutes after the first. Periods of
    one kind sort as text (`2026-W48` < `2026-W49`, `2026-11` < `2026-12`); another kind's
    (`\\REMIND` changed) is no guide."""
    if reminded is None or ("W" in period) != ("W" in reminded):
        return True
    return period > reminded


def reminder_text(
    room: str, book: RoomLedger, debtor: int, *, fits: FitsOne, elsewhere: bool = False
) -> str | None:
    """What `debtor` owes, to whom: the richest form that fits one message; None if nothing.
    `elsewhere`: the room is not the debtor's active one, where `\\PAID` and `\\REMIND` act; the
    reminder says to `\\USE` it first (a house debtor whose photos went to trip recorded their
    `\\PAID` in trip, and `\\REMIND off` stopped trip's reminders)."""
    debts = [p for p in book.settlement if p.payer == debtor]
    if not debts:
        return None
    cur = book.currency
    owed = ", ".join(f"{book.name(p.payee)} {cur.format(p.amount)}" for p in debts)
    total = cur.format(sum(p.amount for p in debts))
    if elsewhere:
        paid = f"Paid? \\USE {room}, then \\PAID <name> <amount>."
        forms = [
            f"{room}: a reminder, you owe {owed}. {paid} \\REMIND off there stops these.",
            f"{room}: a reminder, you owe {owed}. {paid}",
        ]
    else:
        forms = [
            f"{room}: a reminder, you owe {owed}. Paid? \\PAID <name> <amount>. \\REMIND off stops these.",
            f"{room}: a reminder, you owe {owed}. \\REMIND off stops these.",
        ]
    forms.append(f"{room}: a reminder, you owe {total} in all. \\BALANCE {room} says to whom.")
    return next((f for f in forms if fits(f)), forms[-1])


async def _read_at(conn: AsyncConnection, deps: Deps, phones: Collection[str], now: float) -> dict[str, str]:
    """The address each of `phones` will read its reminder at, when another: WhatsApp more than
    24 hours after the person's last message, with no `reminder` template, cannot take it, and
    it is queued for their paired address that takes text at any time, the one they last wrote
    from (pairing.elsewhere, as bot/pipeline/sender.py `_elsewhere` would send it on), worded for
    that one's length (an SMS number: one segment, not WhatsApp's 1,600 characters)."""
    if "reminder" in deps.config.twilio.whatsapp_templates:
        return {}
    windowed = [phone for phone in phones if window_of(phone) is not None]
    last = await inbox.last_received(conn, windowed) if windowed else {}
    found = {}
    for phone in windowed:
        if now - last.get(phone, float("-inf")) > (window_of(phone) or 0.0):
            other = await pairing.elsewhere(conn, phone, lambda key: window_of(key) is None)
            if other is not None:
                found[phone] = other
    return found


async def remind_room(deps: Deps, room: ledger.Reminding, period: str) -> int:
    """Queue the period's reminders of one room, once; how many were queued."""
    now = deps.now()
    queued = 0
    # who owes, added up before the transaction that claims the period: a big room's ledger takes
    # a second, and on SQLite every other person's text waited that long to be stored
    async with deps.db.read() as conn:
        book = await room_ledger(conn, room.room_id)
    async with deps.db.tx() as conn:
        if not await ledger.claim_period(conn, room, period):
            return 0  # another process (or an earlier run) took this period, or \\REMIND changed it
        debtors = {p.payer for p in book.settlement if p.payer is not None and p.payer in book.member_ids}
        noticed = await pairing.notice_addresses(conn, debtors)  # an address they still read
        # queued for the address it will be read at: WhatsApp outside its 24 hours with no
        # template skipped it every week and the sender sent it on; the opt-out and the hold
        # are asked of the address it goes to
        read_at = await _read_at(conn, deps, noticed.values(), now)
        phones = {uid: read_at.get(phone, phone) for uid, phone in noticed.items()}
        opted_out = await users.opted_out_among(conn, phones.values())
        guard = await replyguard.recent(conn, phones.values(), now)
        active = await rooms.active_room_ids(conn, phones.keys())
        for uid, phone in sorted(phones.items()):
            held = replyguard.held_until(guard.get(phone, []))
            if phone in opted_out or (held is not None and held > now):
                continue
            text = reminder_text(
                room.name,
                book,
                uid,
                fits=deps.services.fits(channel_of(phone)),
                elsewhere=active.get(uid) != room.room_id,
            )
            if text is None:
                continue
            queued += await outbox.enqueue(
                conn,
                to=phone,
                body=text,
                dedupe_key=f"remind:{room.room_id}:{period}:{uid}",
                kind="reminder",
                now=now,
            )
    return queued


async def send_reminders(deps: Deps) -> int:
    """The scheduler's job: every room due a reminder now gets its period's, once."""
    async with deps.db.read() as conn:
        rooms = await ledger.rooms_reminding(conn)
    total = 0
    now = deps.now()
    for room in rooms:
        period = due_period(room, now)
        if period is None:
            continue
        queued = await remind_room(deps, room, period)
        log.info("reminders.sent", room_id=room.room_id, period=period, count=queued)
        total += queued
    if total:
        deps.wake_sender()
    return total


@contextlib.asynccontextmanager
async def lifespan(starting: Starting) -> AsyncIterator[Services]:
    starting.scheduler.every("ledger-reminders", send_reminders, seconds=CHECK_SECONDS, jitter=30)
    yield starting.deps.services


FEATURE = Feature(name="reminders", lifespan=lifespan)

__all__ = [
    "FEATURE",
    "KINDS",
    "MONTHLY",
    "WEEKLY",
    "done_on_turning_on",
    "due_period",
    "no_summer_time",
    "period_of",
    "remind_room",
    "reminder_text",
    "room_zone",
    "send_reminders",
    "utc_offset_of_etc",
    "zone_named",
    "zone_of_address",
    "zone_of_city",
    "zone_unknown",
]
