"""Splitting the bill: `\\NAME`, `\\AMOUNT`, `\\BALANCE`, `\\PAID`, `\\CURRENCY` (issue 12), `\\SPLIT`
(issue 26).

Balances are never stored: every answer computes the room's ledger from its receipts and
payments (bot/features/ledger/book.py). `\\PAID` is recorded once per inbound message, and the member who
was paid gets one SMS saying so.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import FitsOne
from bot.features.ledger import rates, reminders
from bot.features.ledger.book import (
    LONGEST,
    NAME_MAX,
    Party,
    RoomLedger,
    accents_off,
    balance_line,
    in_another_script,
    label_key,
    left_balance_line,
    name_key,
    names_only,
    own_part,
    position_phrase,
    room_ledger,
    shown_name,
    sms_spelling,
    valid_name,
)
from bot.features.ledger.money import (
    Amount,
    Currency,
    converted_from,
    currency,
    currency_meant,
    currency_or_default,
    in_use,
    is_zero,
    parse_amount,
    parse_number,
    unclear_amount,
)
from bot.features.ledger.split import split_by_weights, split_order
from bot.features.ledger.view import shares_text
from bot.features.receipts.statement import month_of
from bot.gateway.links import statement_link
from bot.pipeline import replyguard
from bot.pipeline.dispatch import Context, HandlerResult, Inbound, Reply, Router
from handlers.filters import (
    LEFT,
    ROOM_NAMES,
    active_room,
    room_named,
    room_of,
    settling_active,
    settling_named_or_active,
    typed_word,
    typed_words,
    use_first,
)
from storage import inbox, lean, ledger, outbox, pairing, receipts, rooms

router = Router(name=__name__)

NAME_RULES = (
    f"A name is 1-{NAME_MAX} letters and digits, with single spaces; not digits alone (they pick out "
    "a number) and not me or a former member. Usage: \\NAME <name>"
)
# a name in another script (Chinese, Arabic, Hebrew, ...): "1-20 letters" said nothing of which
NAME_LETTERS = (
    f"A name is written in the letters a plain SMS has (A-Z, \u00e9, \u00f1, \u00fc, \u00f8 and a few more), digits "
    f"and single spaces, 1-{NAME_MAX} in all. Usage: \\NAME <name>"
)
PAID_USAGE = "\\PAID <name> <amount>"


def name_spelt(spelt: str) -> str:
    """A name with letters a plain SMS lacks (`\\NAME Zo\u00eb`), answered with how to write it."""
    return f"A name keeps to the letters a plain SMS has: send \\NAME {spelt}"


def name_spelt_taken(room: str, spelt: str) -> str:
    """A name with letters a plain SMS lacks, whose plain spelling someone in `room` goes by."""
    return (
        f"A name keeps to the letters a plain SMS has, and someone in {room} goes by {spelt} already."
        " Pick another name."
    )


def name_refused(wanted: str) -> str:
    """Why `\\NAME` refused a name, and what to type instead when the letters are why."""
    spelt = sms_spelling(wanted)
    if spelt is not None:
        return name_spelt(spelt)
    if in_another_script(wanted, valid_name):  # a name but for its letters
        return NAME_LETTERS
    return NAME_RULES


def photo_waiting(command: str) -> str:
    """The answer to `\\AMOUNT` or `\\SPLIT` sent while a photo before it waits for the media store
    (an outage): the receipt it would change is the one before that photo."""
    return (
        f"Your last photo is not saved yet (we keep trying): nothing was changed. "
        f"Send \\{command} again once its reply comes."
    )


def _is_figure(word: str, cur: Currency) -> bool:
    """Whether a typed word is an amount, or one that reads two ways (`12.345`)."""
    return parse_amount(word, cur, uncapped=True) is not None


def paid_how(cur: Currency) -> str:
    """`PAID_HOW` with a figure the room's currency takes: `\\PAID Alice 772` in a yen room (a
    yen room was shown 7.72, which it refuses)."""
    return f"Usage: {PAID_USAGE}, e.g. \\PAID Alice {cur.figure(772)}"


PAID_HOW = paid_how(currency_or_default(None))  # a dollar room's


async def _name_clash(conn: AsyncConnection, user_id: int, wanted: str) -> str | None:
    """The room of the person's where someone goes by `wanted` already, or None."""
    clash: str | None = await ledger.name_taken_in(conn, user_id, name_key(wanted))
    if clash is None:  # or by their Telegram first name, with no \NAME: "Fay (3002)" beside you
        unnamed = await ledger.unnamed_beside(conn, user_id)
        shown = ((room, shown_name(other)) for room, other in unnamed)
        clash = next((room for room, by in shown if by and name_key(by) == name_key(wanted)), None)
    return clash


@router.command("NAME", args=(1, 10), usage="\\NAME <name>")
async def name(msg: Inbound, ctx: Context) -> HandlerResult:
    # a name is one line: what follows it (a "thanks!", a signature the phone adds) is not in it
    wanted = " ".join(typed_words(ctx.command.first_line))  # `\\NAME \u201cGus\u201d`, `Gus.`: Gus
    spelt = None
    if not valid_name(wanted):
        spelt = sms_spelling(wanted)
        if spelt is None or not valid_name(spelt):
            return name_refused(wanted)
    user_id = ctx.user.id
    async with ctx.deps.db.tx() as conn:
        await ledger.lock_rooms_of(conn, user_id)  # two members naming themselves alike at once
        clash = await _name_clash(conn, user_id, spelt or wanted)
        if spelt is not None:
            # `\NAME Mar\u00eda` beside a Maria was told to send `\NAME Maria`, which was then
            # refused: the spelling offered is one no one in their rooms goes by
            if clash is None:
                return name_spelt(spelt)
            return name_spelt_taken(clash, spelt)
        if clash is not None:
            return f"Someone in {clash} goes by {wanted} already. Pick another name."
        await ledger.set_name(conn, user_id, wanted, name_key(wanted))
    ctx.log.info("ledger.named")
    return f"Your rooms now see you as {wanted}."


@router.command(
    "BALANCE",
    args=(0, 1),
    usage="\\BALANCE [<room>]",
    usage_note=ROOM_NAMES,
    resolve=(settling_named_or_active,),
)
async def balance(msg: Inbound, ctx: Context) -> HandlerResult:
    room = room_of(ctx)
    async with ctx.deps.db.read() as conn:
        book = await room_ledger(conn, room.id)
    if ctx.data.get(LEFT):  # a room they left with money open: their own part of it
        line = left_balance_line(room.name, book, ctx.user.id)
        active = await rooms.active_room(ctx.deps.db, ctx.user.id) if book.position(ctx.user.id) < 0 else None
        if active is not None:
            # their \\PAID goes to the room they are in: `\\PAID Bob 7` after "trip (you left): you
            # pay Bob $7.00." was recorded in house, where nobody owed it, and trip kept the debt
            fits = ctx.deps.services.fits(msg.sender.channel)
            for how in (
                f" Your \\PAID goes to {active.name}: \\JOIN {room.name} <password> again to record paying there.",
                f" To record paying there, \\JOIN {room.name} again.",
            ):
                if fits(line + how):
                    return line + how
        return line
    fits = ctx.deps.services.fits(msg.sender.channel)
    line = balance_line(room.name, book, fits=fits)
    if fits(line) or not book.settlement:
        return line
    # more than one message (SMS: a room of a dozen takes two or more parts): the asker's own part
    # first, then the room's. It was somewhere in the parts, which an old phone may show apart or
    # out of order, the second with no room named; one owed by many: what they are owed in all
    mine = own_part(book, ctx.user.id)
    own = (
        ", ".join(mine) if 0 < len(mine) <= 2 else position_phrase(book.position(ctx.user.id), book.currency)
    )
    return balance_line(f"{room.name}: {own}. All", book, fits=fits)


def no_receipts(room_name: str, command: str) -> str:
    """`\\AMOUNT` or `\\SPLIT` from a member who sent no receipt in the room. A phone that sends
    no photos (SMS only) has its person's receipts sent by someone else, who is the one to set
    them: "Send a photo of one first" was all such a person heard."""
    return (
        f"You have sent no receipts in {room_name}. Send a photo of one, or ask whoever sent yours "
        f"to \\{command} it."
    )


def amount_usage(cur: Currency) -> str:
    return f"Usage: \\AMOUNT {cur.example} (0 takes the receipt out of the ledger)"


def amount_reply(
    room_name: str,
    book: RoomLedger,
    user_id: int,
    minor: int,
    cur: Currency,
    how: str = "",
    *,
    day: str = "",
    was: str = "",
    shares: str = "",
    fits: FitsOne | None = None,
) -> str:
    """After `\\AMOUNT`: the amount set (or the receipt taken out) and where the sender stands;
    `how` follows the amount (`(€40.00 at 1.08)`: what it was converted from). `day`: the day the
    receipt was sent, when not today (`Nov 24`), and `was`: the amount it had (`$12.00`, or `taken
    out` by `\\AMOUNT 0`), so that a late `\\AMOUNT`, or one correcting a total, says which
    receipt it changed; `shares`: each
    member's part of a receipt `\\SPLIT` by shares or amounts (`Ann $34.87, Bob $15.13`), which the
    new amount divides in the same proportion. Dropped, `was` first, then `day`, then the shares'
    figures, where the reply would not fit one segment (`fits`)."""
    same = ", split by the same shares" if shares else ""
    said = f", split {shares}" if shares else ""
    forms = [
        (day, was, said, True),
        (day, "", said, True),
        ("", "", said, True),
        ("", "", same, True),
        ("", "", same, False),
    ]
    if fits is None:
        forms = forms[:1]
    replies = [_amount_reply(room_name, book, user_id, minor, cur, how, d, w, s, r) for d, w, s, r in forms]
    return next((r for r in replies if fits is None or fits(r)), replies[-1])


def _amount_reply(
    room_name: str,
    book: RoomLedger,
    user_id: int,
    minor: int,
    cur: Currency,
    how: str,
    day: str,
    was: str,
    split: str,
    at_rate: bool,
) -> str:
    position = position_phrase(book.position(user_id), book.currency)
    receipt = f"receipt of {day}" if day else "receipt"
    before = f" (was {was})" if was else ""
    if minor == 0:
        return f"Your {receipt} is out of the ledger of {room_name}{before}: {position}. \\BALANCE for all."
    shown = cur.format(minor) + (f" {how}" if how else "")
    if cur != book.currency:  # how to count it, as a photo read in that money is told
        code = book.currency.code
        # at its rate, the way round said (the person named the money: a figure of the room's was
        # all that was offered, the conversion left to them); the room's figure where that does
        # not fit
        how_to = (
            f"\\AMOUNT {cur.number(minor)} {cur.code} @rate ({code} for 1 {cur.code}) to count it"
            if at_rate
            else f"\\AMOUNT {book.currency.example} to count it in {code}"
        )
        return f"Set {shown} on your {receipt} in {room_name}{before}; not counted: {shown} in a {code} room. Reply {how_to}."
    return f"Set {shown} on your {receipt} in {room_name}{before}{split}: {position}. \\BALANCE for all."


def paid_notice(payer_name: str, minor: int, cur: Currency, room_name: str, *, member: bool = True) -> str:
    """The one SMS to the member who was paid; one who left the room is not sent to a \\BALANCE
    of it (it answers "You are not in a room named ..." to them)."""
    text = f"{payer_name} paid you {cur.format(minor)} in {room_name}."
    return f"{text} \\BALANCE {room_name} for all." if member else text


def payment_cap(cur: Currency) -> str:
    """`\\PAID` of more than one amount may be that does not settle a debt as large."""
    return f"{cur.format(cur.largest)} is the most a payment may be, unless it settles what \\BALANCE says you pay them."


# `@0.92`, and `@.92` as a rate is often written (it got the usage, which names no rate); `at
# 0.92` as the replies and pages say it (`$43.20 (\u20ac40.00 at 1.08)`), typed back, got the usage
_RATE = re.compile(
    r"^(?P<amount>.+?)(?:\s*@\s*|\s+at\s+)(?P<rate>\d{1,6}(?:[.,]\d{1,9})?|[.,]\d{1,9})$", re.IGNORECASE
)
RATE_USAGE = "Usage: \\AMOUNT 40 EUR @1.08 counts 40 EUR at 1.08 of the room's currency each."


def converted(value: Amount, rate: Decimal, room: Currency) -> int:
    """`value` at `rate` room units for one of its own, in the room's minor units (half up)."""
    major = Decimal(value.minor).scaleb(-value.currency.exponent) * rate
    return int(major.scaleb(room.exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def wrong_way_rate(
    value: Amount, rate: Decimal, meant: Decimal, minor: int, room: Currency, fits: FitsOne
) -> str:
    """`¥678 @150 is $101700.00, but the rate is USD for 1 JPY (1/150 = 0.006667): \\AMOUNT 678
    JPY @0.006667`: nothing is set."""
    code, number = value.currency.code, value.currency.number(value.minor)
    command = f"\\AMOUNT {number} {code} @{rates.rate_text(meant)}"
    forms = (
        f"{value.currency.format(value.minor)} @{rate} is {room.format(minor)}, but the rate is "
        f"{room.code} for 1 {code} (1/{rate} = {rates.rate_text(meant)}): {command}",
        f"The rate is {room.code} for 1 {code}: {command}",
    )
    return next((form for form in forms if fits(form)), forms[-1])


@router.command(
    "AMOUNT",
    args=(1, 4),
    usage="\\AMOUNT <amount> [<CUR> @<rate>]",
    help="\\AMOUNT <amount> (0 removes it)",
    resolve=(active_room,),
)
async def amount(msg: Inbound, ctx: Context) -> HandlerResult:
    user_id, room = ctx.user.id, room_of(ctx)
    async with ctx.deps.db.tx() as conn:
        if await inbox.photos_waiting(conn, msg.sender.key, msg.id):
            return photo_waiting("AMOUNT")
        await ledger.lock_rooms(conn, [room.id])  # the currency cannot change under the amount
        room_cur = currency_or_default(await ledger.room_currency(conn, room.id))
        # `\\AMOUNT 45.`, `"45"`: what is typed around an amount, as \\PAID reads past it; an
        # amount is one line (`\\AMOUNT 45` and "thanks!" under it got the usage)
        text = " ".join(typed_words(ctx.command.own_line or ctx.command.first_line or ctx.args))
        at_rate = _RATE.match(text)
        rate: Decimal | None = None
        thousands: Decimal | None = None
        if at_rate:  # `@1,450`: maybe won to the dollar (`thousands`)
            text, (rate, thousands) = at_rate.group("amount"), rates.typed(at_rate.group("rate"))
        # its two readings offered as commands: "send 12.35" was followed as written, a bare
        # figure, and posted to X
        rate_typed = f" @{at_rate.group('rate')}" if at_rate else ""
        unclear = unclear_amount(text, room_cur, command="\\AMOUNT ", after=rate_typed)
        if unclear is not None:
            return unclear
        value = parse_amount(text, room_cur)
        # an amount in another currency is for the receipt read in it (of a message of several)
        typed_in = value.currency.code if value is not None and value.currency != room_cur else None
        if rate is not None:
            if value is None or rate <= 0:
                return RATE_USAGE
            if value.currency == room_cur and parse_number(text, room_cur.exponent) is None:  # `$40 @1.08`
                return f"{room.name} counts in {room_cur.code} already: \\AMOUNT {text} needs no rate."
            if value.currency == room_cur:
                # a bare figure at a rate (`\\AMOUNT 4136 @0.0067`) is in the money its receipt was
                # read in (¥4136): "needs no rate" was said, and `\\AMOUNT 4136` then counted $4136.00
                held = await ledger.amount_target(conn, user_id, room.id, msg.external_id)
                if held is None:  # no receipt of theirs to ask the money of
                    return no_receipts(room.name, "AMOUNT")
                theirs = currency(held.currency) if held.currency else None
                if theirs is None or theirs == room_cur:  # nothing says which (a rate corrected later)
                    other = "EUR" if room_cur.code != "EUR" else "USD"
                    return (
                        f"Which money is {text} in? Send its code: \\AMOUNT {text} {other} @{rate}. "
                        f"{room.name} counts in {room_cur.code}: \\AMOUNT {text} is {room_cur.format(value.minor)}."
                    )
                value = parse_amount(text, theirs)
                if value is None:
                    return RATE_USAGE  # `4136.5` in yen
                typed_in = theirs.code
            foreign = value
            # `\\AMOUNT 40 USD @1,450` in a room of won: 1450, not 1.45
            rate, wrong_way = rates.reading(value.currency.code, room_cur.code, rate, thousands)
            minor = converted(value, rate, room_cur)
            if wrong_way is not None:  # `\\AMOUNT 678 JPY @150`: yen for a dollar, $101700.00 counted
                read, meant = wrong_way
                return wrong_way_rate(
                    value,
                    read,
                    meant,
                    converted(value, read, room_cur),
                    room_cur,
                    ctx.deps.services.fits(msg.sender.channel),
                )
            if not room_cur.takes(minor):  # as any amount typed in: no 0, no billions
                return (
                    f"{value.currency.format(value.minor)} @{rate} is {room_cur.format(minor)}: "
                    f"an amount is more than 0 and at most {room_cur.format(room_cur.largest)}."
                )
            value = Amount(minor, room_cur)
        if value is None and is_zero(text, room_cur):
            minor, code = 0, room_cur.code
        elif value is None:
            over = parse_amount(text, room_cur, uncapped=True)
            if over is not None:  # `\\AMOUNT 5000000` got the usage, as if it were no figure
                cur = over.currency
                most = f"is more than an amount may be: at most {cur.format(cur.largest)}."
                said = f"{cur.format(over.minor)} {most}"
                # a figure hundreds of digits long, written out, was past what an SMS may be
                return said if ctx.deps.services.fits(msg.sender.channel)(said) else f"That {most}"
            return await _in_another_room(conn, ctx, "AMOUNT", text) or amount_usage(room_cur)
        else:
            minor, code = value.minor, value.currency.code
        target = await ledger.amount_target(conn, user_id, room.id, msg.external_id, typed_in)
        if target is None:
            return no_receipts(room.name, "AMOUNT")
        # which receipt it was: its day when not today in the room's zone, and what it said before
        settings = await ledger.reminding(conn, room.id)
        zone = reminders.room_zone(settings) if settings is not None else dt.UTC
        sent = dt.datetime.fromtimestamp(target.created_at, zone).date()
        # today: the day the \\AMOUNT was sent, on the app's clock (the host's calendar said "of
        # Sep 30" on Sep 30 to a bot on another clock)
        today = dt.datetime.fromtimestamp(msg.received_at or ctx.deps.now(), zone).date()
        day = "" if sent == today else f"{sent:%b} {sent.day}"
        # (what a receipt read in other money had was not counted: nothing to correct)
        had = target.amount_minor
        counted = target.currency in (None, room_cur.code)
        changed = had is not None and counted and (had, room_cur.code) != (minor, code)
        # one taken out with `\\AMOUNT 0` had no amount to name: "(was $0.00)" said it had
        was = ("taken out" if had == 0 else room_cur.format(had)) if had is not None and changed else ""
        # `\\AMOUNT 0` on a repeat, never counted, after the same photo was sent twice: the first
        # copy still counts, and "Your receipt is out of the ledger" read as if it were out
        twin = None
        if minor == 0 and had is None and target.duplicate_of is not None:
            twin = (await ledger.by_ids(conn, {target.duplicate_of})).get(target.duplicate_of)
            if twin is None or not twin.amount_minor or (twin.currency or room_cur.code) != room_cur.code:
                twin = None
        # what a rate converted, kept beside the amount (the gallery, statement and export show
        # `$4.52 (¥678 at 0.006667)`); an amount set without one clears it
        original = (foreign.minor, foreign.currency.code, format(rate, "f")) if rate is not None else None
        await ledger.set_amount(
            conn,
            target.id,
            minor=minor,
            currency=code,
            source="manual",
            by_message=msg.external_id,
            original=original,
        )
        if minor and target.duplicate_of is not None:  # a repeat counted: the first may wait for a total
            await receipts.take_over(conn, target.duplicate_of, target.id, user_id)
        if not await ledger.split_members(conn, target.id):  # saved before the ledger existed
            member_ids = [m.user_id for m in await ledger.members(conn, room.id)]
            await ledger.save_split_members(conn, target.id, split_order(user_id, member_ids))
    # the room's balance with the amount, added up once its transaction is done: a big room's
    # ledger takes a second, and on SQLite every other person's text waited meanwhile
    async with ctx.deps.db.read() as conn:
        book = await room_ledger(conn, room.id)
    ctx.log.info("ledger.amount_set", receipt_id=target.id, room_id=room.id, counted=code == room_cur.code)
    # `Set $43.20 (€40.00 at 1.08) on your receipt ...`
    how = converted_from(*original) if original is not None else ""
    fits = ctx.deps.services.fits(msg.sender.channel)
    if twin is not None:  # counted: it has an amount in the room's currency
        return repeat_stays_out(room.name, book, user_id, twin, zone, fits)
    # a receipt `\\SPLIT` by shares or amounts keeps its proportions: `\\SPLIT me $70 bob $30.36`,
    # then `\\AMOUNT 50`, left Bob $15.13 with nothing said of it (`book.receipts`: the counted)
    counted_now = book.receipts.get(target.id)
    weights = counted_now.weights if counted_now is not None else None
    uneven = weights is not None and len(set(weights)) > 1
    return amount_reply(
        room.name,
        book,
        user_id,
        minor,
        currency_or_default(code),
        how,
        day=day,
        was=was,
        shares=shares_text(book, target.id) if uneven else "",
        fits=fits,
    )


def repeat_stays_out(
    room_name: str, book: RoomLedger, user_id: int, twin: ledger.ReceiptAmount, zone: dt.tzinfo, fits: FitsOne
) -> str:
    """After `\\AMOUNT 0` on a repeat that was never counted: it stays out, and the receipt it
    repeats (named as the photo's reply named it) still counts."""
    day = dt.datetime.fromtimestamp(twin.created_at, zone)
    earlier = book.currency.format(twin.amount_minor or 0)
    position = position_phrase(book.position(user_id), book.currency)
    forms = [
        f"Your receipt in {room_name} stays out: it repeats the receipt saved {day:%b} {day.day} "
        f"({earlier}), which still counts. {position[0].upper()}{position[1:]}.",
        f"Your receipt in {room_name} stays out: it repeats one of {earlier}, which still counts.",
    ]
    return next((form for form in forms if fits(form)), forms[-1])


MANY_BY_THAT_NAME = "More than one member goes by that name: use the name \\BALANCE shows them by."


def _no_one(room: str, who: str, fits: FitsOne) -> str:
    """No one goes by `who`: said back when the reply stays one message (a curly quote or an
    emoji typed in it would make the SMS UCS-2)."""
    text = f"No one in {room} goes by {who[:NAME_MAX]}. \\BALANCE shows the names."
    return text if fits(text) else f"No one in {room} goes by that name. \\BALANCE shows the names."


def _find_member(
    book: RoomLedger, wanted: str, user_id: int, fits: FitsOne, *, current: bool = False
) -> int | str | None:
    """A member, or someone who left with something still on the books (by `\\LEAVE`, or by
    `\\STOP`: the name they had), by the name `\\BALANCE` shows (any case), that name without its
    "(...)" note, their masked number or last digits, else that name without its accents (`\\PAID
    jose 5` typed on a keyboard with none is for Jos\u00e9: "No one in house goes by jose") or as
    Telegram shows it (with its emoji, its hyphen); else a reply. A whole name shown beats a
    partial match. `@Bob`, as people mention someone (on Telegram above all), is Bob: no name
    has an @ (it said "No one in house goes by @bob"). `current`: the room's members only."""
    wanted = wanted[1:] if wanted.startswith("@") and len(wanted) > 1 else wanted
    key = name_key(wanted)
    digits = wanted.lstrip("+").replace("*", "")
    parties = list(book.member_ids)
    if not current:
        parties += [p for p in book.net if p is not None and p not in book.member_ids]
    exact = [p for p in parties if name_key(book.name(p)) == key]
    if len(exact) == 1:
        return exact[0]
    matches = []
    for party in parties:
        shown = book.name(party)
        if (
            name_key(shown) == key
            or shown.split(" (")[0].casefold() == key
            or (
                digits.isdigit()
                and len(digits) >= 4
                and (
                    ("*" in shown and shown.split(" (")[0].endswith(digits[-4:]))
                    or shown.endswith(f"({digits[-4:]})")
                )
            )
        ):
            matches.append(party)
    if not matches:  # typed without its accents (`jose` on a keyboard with none), or with them
        # or as Telegram shows the person, whom the room shows without the emoji after the name or
        # the hyphen in it (`Dev` and a flower is Dev, `Anne-Marie` Anne Marie): "No one goes by"
        plain = accents_off(name_key(sms_spelling(wanted) or wanted))
        matches = [p for p in parties if accents_off(book.name(p).split(" (")[0].casefold()) == plain]
    if not matches:  # the name Telegram shows for one the room shows masked (`\\PAID 李明 5`: the
        # room knows them as Telegram ***0101, and said no one went by it)
        matches = [p for p in parties if book.labels.get(p) == label_key(wanted)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:  # each as `\\BALANCE` shows them, which is a name this takes
        names = " or ".join(book.name(p) for p in matches[:3])
        for text in (
            f"More than one member goes by {wanted[:NAME_MAX]}: {names}. Use the one you mean.",
            f"More than one member goes by that name: {names}. Use the one you mean.",
        ):
            if fits(text):
                return text
        return MANY_BY_THAT_NAME
    return None


def other_currency_payment(
    words: Sequence[str], book: RoomLedger, user_id: int, fits: FitsOne
) -> Currency | None:
    """The currency of an amount in another currency than the room's, its code or sign typed
    apart, beside words that name a member: `\\PAID Bob 5 EUR`, `\\PAID 5 EUR Bob` (they got the
    usage, or "No one in house goes by EUR Bob"). None otherwise: `\\PAID Top 5` is for a Top
    (TOP is a currency too), and says no one goes by it when no one does."""
    for i in range(len(words) - 1):
        pair = words[i : i + 2]
        if sum(any(ch.isdigit() for ch in w) for w in pair) != 1:
            continue
        value = parse_amount(" ".join(pair), book.currency, uncapped=True)
        if value is None or value.currency == book.currency:
            continue
        rest = [*words[:i], *words[i + 2 :]]
        if rest and _find_member(book, " ".join(rest), user_id, fits) is not None:
            return value.currency
    return None


def converted_payment(at_rate: re.Match[str], book: RoomLedger, user_id: int, fits: FitsOne) -> str | None:
    """`\\PAID Ana 50 EUR @1.47`: a payment in another currency at a rate, as `\\AMOUNT` takes one.
    Nothing is recorded (a payment is in the room's money); the reply says what it comes to and
    the `\\PAID` to send. None when the words before the rate are no amount in another currency
    beside a member's name."""
    words = at_rate.group("amount").split()
    rate, thousands = rates.typed(at_rate.group("rate"))
    # the amount a word (`¥5000`) or two (`50 EUR`, `EUR 50`), the rest the payee's name
    spans = [(i, n) for n in (1, 2) for i in range(len(words) - n + 1)]
    for i, n in spans:
        part = words[i : i + n]
        if sum(any(ch.isdigit() for ch in w) for w in part) != 1:
            continue
        value = parse_amount(" ".join(part), book.currency)
        if value is None or value.currency == book.currency:
            continue
        payee = _find_member(book, " ".join([*words[:i], *words[i + n :]]), user_id, fits, current=True)
        if not isinstance(payee, int) or payee == user_id:
            continue
        room = book.currency
        if rate <= 0:
            return RATE_USAGE
        rate, wrong_way = rates.reading(value.currency.code, room.code, rate, thousands)
        if wrong_way is not None:
            rate = wrong_way[1]
            said = f"The rate is {room.code} for 1 {value.currency.code} (1/{wrong_way[0]}): "
        else:
            said = ""
        minor = converted(value, rate, room)
        if not room.takes(minor):
            return None
        command = f"\\PAID {book.name(payee)} {room.number(minor)}"
        forms = (
            f"Nothing recorded: payments are in {room.code}. {said}{value.currency.format(value.minor)} "
            f"at {rates.rate_text(rate)} is {room.format(minor)}: {command}",
            f"Nothing recorded: payments are in {room.code}. {said}{room.format(minor)}: {command}",
            f"Nothing recorded: payments are in {room.code}: {command}",
        )
        return next((form for form in forms if fits(form)), forms[-1])
    return None


async def _other_currency_paid(
    conn: AsyncConnection, ctx: Context, room: str, cur: Currency, typed_in: Currency
) -> str:
    """`\\PAID` in another currency than the active room's. When the sender left a room in that
    currency with money open there, how to record paying it: `\\PAID Ben 1.00 EUR` from someone who
    left trip owing euros, whose active room is house, was told "house counts in USD: send the
    amount in USD", and following it recorded the euros they owed in trip as dollars paid in house."""
    said = f"{room} counts in {cur.code}: send the amount in {cur.code}."
    if ctx.data.get(LEFT):  # a room they left is the one this \\PAID is for already
        return said
    for left in await rooms.left_rooms(lean.in_tx(conn), ctx.user.id):
        if currency_or_default(await ledger.room_currency(conn, left.id)).code != typed_in.code:
            continue
        if (await room_ledger(conn, left.id)).position(ctx.user.id) != 0:
            return (
                f"{room} counts in {cur.code}. To record paying in {left.name}, which you left, "
                f"\\JOIN {left.name} <password> again."
            )
    return said


async def _payee_elsewhere(
    conn: AsyncConnection, ctx: Context, room: rooms.Room, who: str, fits: FitsOne
) -> str | None:
    """`\\PAID Bob 5` from a person whose active room (trip) has no Bob, while another room of
    theirs (house) has one: it said "No one in trip goes by Bob", and \\BALANCE, which it pointed
    to, showed trip's names. Where Bob is, and how to pay him there. None unless exactly one of
    their other rooms has a member by that name (the names alone are read: no room's ledger)."""
    if ctx.data.get(LEFT):
        return None
    mine, _ = await rooms.rooms_with_active(lean.in_tx(conn), ctx.user.id)
    found: list[tuple[rooms.Room, str]] = []
    for other in mine:
        if other.id == room.id:
            continue
        names = names_only(await ledger.members(conn, other.id))
        payee = _find_member(names, who, ctx.user.id, fits, current=True)
        if isinstance(payee, int) and payee != ctx.user.id:
            found.append((other, names.name(payee)))
    if len(found) != 1:
        return None
    other, name = found[0]
    text = f"No one in {room.name} goes by {who[:NAME_MAX]}; {name} is in {other.name}: \\USE {other.name}, then \\PAID again."
    return text if fits(text) else use_first("PAID", room.name, other.name)


def several_payments(
    book: RoomLedger, who_words: Sequence[str], amount_text: str, user_id: int, fits: FitsOne
) -> str | None:
    """What to say of a `\\PAID` that gives several payments (`Alex 5 Bob 5`): none is recorded,
    one a text. None when the words before its first figure name no member."""
    first = next((i for i, w in enumerate(who_words) if i and _is_figure(w, book.currency)), None)
    if first is None:
        return None
    payee = _find_member(book, " ".join(who_words[:first]), user_id, fits, current=True)
    if not isinstance(payee, int) or payee == user_id:
        return None
    text = f"Nothing recorded: one payment a text. Send \\PAID {book.name(payee)} {who_words[first]}"
    rest = who_words[first + 1 :]
    # `Bob 5 and Carol 5`: the `and` joins the payments, no part of the next (it offered
    # `\\PAID and Carol 5`, which no one goes by), unless a member's name has the word
    if rest and rest[0].casefold() in _AND and rest[0].casefold() not in _name_words(book):
        rest = rest[1:]
    if rest and not any(_is_figure(w, book.currency) for w in rest):
        fuller = f"{text}, then \\PAID {' '.join(rest)} {amount_text}."
        if fits(fuller):
            return fuller
    return f"{text}, then the next."


def paid_back(
    room_name: str, book: RoomLedger, who: str, amount_text: str, user_id: int, fits: FitsOne
) -> str | None:
    """`\\PAID Bob -20`, a payment recorded for the wrong member or amount taken back: the usage
    answered, and nothing said how the mistake is put right. No payment is taken back; the payee's
    own `\\PAID` of it back, in this room (theirs may be another), evens the ledger. None when it
    is no negative amount to a member."""
    if not amount_text.startswith(("-", "\u2212")):
        return None
    value = parse_amount(amount_text[1:].lstrip(), book.currency, uncapped=True)
    if value is None or value.currency != book.currency:
        return None
    payee = _find_member(book, who, user_id, fits)
    if not isinstance(payee, int) or payee == user_id or payee in book.formers:  # formers: no number
        return None
    them, back = book.name(payee), f"\\PAID {book.name(user_id)} {book.currency.number(value.minor)}"
    forms = [
        f"Nothing recorded: a payment is not taken back. If yours to {them} was a mistake, "
        f"{them} records paying it back in {room_name}: {back}",
        f"Nothing recorded: a payment is not taken back. {them} can record paying it back in {room_name}: {back}",
        f"A payment is not taken back. {them} can record paying it back in {room_name}: {back}",
        # an amount hundreds of digits long: the \\PAID to send back, written out, fits no message
        f"A payment is not taken back. {them} can record paying it back in {room_name}.",
    ]
    return next((form for form in forms if fits(form)), forms[-1])


def payment_words(words: list[str], book: RoomLedger) -> list[str]:
    """A `\\PAID`'s words without those that say it as a sentence: what it was for, after its
    name and amount (`Bob 20 for pizza`, `20 Bob for the taxi`), and a `to` before the name (`20 to
    Bob`, `to Bob 20`). They got the usage, or "No one in house goes by to bob". Kept when a
    member's name has the word."""
    names = _name_words(book)
    cur = book.currency
    if "for" not in names:
        for i in range(2, len(words)):
            if words[i].casefold() == "for" and any(_is_figure(w, cur) for w in words[:i]):
                words = words[:i]
                break
    if "to" not in names and len(words) >= 3:
        at = 1 if _is_figure(words[0], cur) else 0
        if words[at].casefold() == "to":
            # after the amount, what follows `to` is the payee, whatever it looks like: `5 to 3333`
            # (a member shown by their masked number) read 3333 as the amount, "no one goes by 5"
            words = [*words[2:], words[0]] if at else words[1:]
    return words


def paid_unclear(book: RoomLedger, who: str, amount_text: str, user_id: int, fits: FitsOne) -> str | None:
    """`\\PAID Bob 1.250`: its two readings, each as the `\\PAID` to send (`reply \\PAID Bob
    1250.00 for $1,250.00, or \\PAID Bob 1.25 for $1.25.`); None when it reads one way. It said
    "send 1.25", and the bare figure sent was a post to X, the payment still unrecorded."""
    if unclear_amount(amount_text, book.currency) is None:
        return None
    payee = _find_member(book, who, user_id, fits)
    name = book.name(payee) if isinstance(payee, int) else " ".join(who.split())[:NAME_MAX]
    for command in (f"\\PAID {name} ", "\\PAID <name> "):
        unclear = unclear_amount(amount_text, book.currency, command=command)
        if fits(unclear or ""):
            break
    return unclear


@router.command("PAID", args=(2, 11), usage=PAID_USAGE, resolve=(settling_active,))
async def paid(msg: Inbound, ctx: Context) -> HandlerResult:
    user_id, room = ctx.user.id, room_of(ctx)
    # the names and the balance the payment is read against, added up before its transaction: a
    # big room's ledger takes a second, and on SQLite every other person's text waited meanwhile
    async with ctx.deps.db.read() as conn:
        book = await room_ledger(conn, room.id)
    async with ctx.deps.db.tx() as conn:
        await ledger.lock_rooms(conn, [room.id])  # a \\CURRENCY at once would leave it uncounted
        members = set(book.member_ids)
        if (
            currency_or_default(await ledger.room_currency(conn, room.id)) != book.currency
            or await ledger.still_members(conn, room.id, members) != members
        ):
            # a \\CURRENCY came in between, or a member left (a \\STOP took their record, and
            # a payment to it failed): read in it
            book = await room_ledger(conn, room.id)
        # `\\PAID "Ann", 5`: what is typed around a name or amount; `Ravi INR 617.25`: its code
        # a name and an amount on the command's line are the payment: what follows is not in it
        # (`\\PAID Bob 5` and "thx" under it: no one went by "Bob 5 thx")
        line = ctx.command.own_line if len(ctx.command.own_line) >= 2 else ctx.args
        words = payment_words(amount_words(typed_words(line), book, book.currency), book)
        if len(words) < 2:
            return paid_how(book.currency)
        fits = ctx.deps.services.fits(msg.sender.channel)
        at_rate = _RATE.match(" ".join(words))
        if at_rate:  # `\\PAID Ana 50 EUR @1.47` got the usage, which said nothing of the rate
            offer = converted_payment(at_rate, book, user_id, fits)
            if offer is not None:
                return offer
        typed_in = other_currency_payment(words, book, user_id, fits)
        if typed_in is not None:
            return await _other_currency_paid(conn, ctx, room.name, book.currency, typed_in)
        *who_words, amount_text = words
        if _is_figure(words[0], book.currency) and not _is_figure(amount_text, book.currency):
            # `\\PAID 20 alice`, the amount first as people say it: it answered the usage
            amount_text, *who_words = words
        who = " ".join(who_words)
        unclear = paid_unclear(book, who, amount_text, user_id, fits)
        if unclear is not None:
            return unclear
        value = parse_amount(amount_text, book.currency, uncapped=True)
        if value is None:
            back = paid_back(room.name, book, who, amount_text, user_id, fits)
            if back is not None:
                return back
            return await _in_another_room(conn, ctx, "PAID", " ".join(words)) or paid_how(book.currency)
        if value.currency != book.currency:
            return await _other_currency_paid(conn, ctx, room.name, book.currency, value.currency)
        payee = _find_member(book, who, user_id, fits)
        if payee is None:
            # `\\PAID Alex 5 Bob 5`, settling up with several at once: "No one in club goes by
            # Alex 5 Bob", which left them to guess what was wrong
            several = several_payments(book, who_words, amount_text, user_id, fits)
            if several is not None:
                return several
        if isinstance(payee, str):
            return payee
        if payee is None:
            if who.casefold() == "me":
                return "You cannot pay yourself."
            return await _payee_elsewhere(conn, ctx, room, who, fits) or _no_one(room.name, who, fits)
        if payee == user_id:
            return "You cannot pay yourself."
        if not book.currency.takes(value.minor):
            # above what one amount may be: only to settle what \\BALANCE says the sender pays
            # them (a debt over $1,000,000.00 took two payments, the first answered by the usage)
            owed = sum(p.amount for p in book.settlement if p.payer == user_id and p.payee == payee)
            if value.minor > owed:
                return payment_cap(book.currency)
        # the same payment sent again within minutes (no reply seen yet, a resend): both count,
        # and the reply says so (it said only "Recorded", and the room's balance was off by it)
        at = msg.received_at or ctx.deps.now()
        recorded, again = await ledger.add_payment(
            conn,
            room_id=room.id,
            payer_id=user_id,
            payee_id=payee,
            minor=value.minor,
            currency=book.currency.code,
            message_sid=msg.external_id,
            # when it was sent, as a receipt's: a \\PAID of 23:59 on the 30th handled after
            # midnight (a backlog, a restart) fell in the next month's statement
            now=at,
            again_within=AGAIN_SECONDS,
        )
        # the address they last wrote from, else their first, of those they still read
        # (pairing.notice_addresses); none for a member who left by \\STOP (no number)
        payee_phone = (await pairing.notice_addresses(conn, [payee])).get(payee)
        if recorded and payee_phone is not None and payee not in book.formers:
            # within the payee's reply budget: a member's flood of `\\PAID` made their phone
            # buzz a notice a second, and Twilio then blocks the number (14107)
            now = ctx.deps.now()
            await outbox.enqueue(
                conn,
                to=payee_phone,
                body=paid_notice(
                    book.name(user_id), value.minor, book.currency, room.name, member=payee in book.member_ids
                ),
                dedupe_key=f"{msg.external_id}:paid",
                kind="paid",
                inbox_id=msg.id,
                now=now,
                not_before=await replyguard.notice_time(
                    conn, payee_phone, f"{msg.external_id}:paid", "paid", now
                ),
            )
    # the room's balance with the payment, added up once its transaction is done
    async with ctx.deps.db.read() as conn:
        book = await room_ledger(conn, room.id)
    if recorded:
        ctx.deps.wake_sender()
    ctx.log.info("ledger.paid", room_id=room.id, recorded=recorded)
    # what was recorded, then where the room stands: the balance alone ("house: all settled.")
    # left the payer to work out whether their payment was the one that counted
    resent = f" again (also {minutes_ago(at - again)}): both count" if recorded and again is not None else ""
    done = f"Recorded: you paid {book.name(payee)} {book.currency.format(value.minor)}{resent}. "
    if ctx.data.get(LEFT):  # paid what they left owing: their own part of the room
        return done + left_balance_line(room.name, book, user_id)
    fits = ctx.deps.services.fits(msg.sender.channel)
    # the whole reply within what every channel takes: the line alone was, and the reply a few
    # characters over Twilio's 1,600 was refused (the payer heard nothing of their payment)
    whole = done + balance_line(
        room.name, book, fits=lambda text: fits(done + text), longest=LONGEST - len(done)
    )
    if fits(whole):
        return whole
    # a room whose balance takes more than one message: the payer's own part of it, one SMS (the
    # room's whole balance, 1,300 characters in a club of 25, nine segments, came with each
    # \PAID; only \BALANCE is answered past one segment)
    mine = own_part(book, user_id)
    forms = [
        f"{done}{room.name}: {', '.join(mine) if mine else 'you are settled up'}. \\BALANCE for all.",
        f"{done}{room.name}: {position_phrase(book.position(user_id), book.currency)}. \\BALANCE for all.",
        f"{done}\\BALANCE for all.",
    ]
    return next((form for form in forms if fits(form)), forms[-1])


AGAIN_SECONDS = 15 * 60.0  # a \\PAID the same as one this long before is said to be again


def minutes_ago(seconds: float) -> str:
    """ "a moment ago", "1 min ago", "12 min ago"."""
    minutes = round(seconds / 60)
    return "a moment ago" if minutes < 1 else f"{minutes} min ago"


def currency_unknown(code: str, fits: FitsOne) -> str:
    """A `\\CURRENCY` that is no code, said back when the reply stays one message: `\\CURRENCY
    z\u0142oty` (or a flag, or an emoji) made the SMS UCS-2."""
    text = f"{code[:8]} is not an ISO 4217 currency code (USD, EUR, GBP, ...)."
    return text if fits(text) else "That is not an ISO 4217 currency code (USD, EUR, GBP, ...)."


@router.command("CURRENCY", args=(0, 1), usage="\\CURRENCY [<code>]", resolve=(active_room,))
async def set_currency(msg: Inbound, ctx: Context) -> HandlerResult:
    room = room_of(ctx)
    args = ctx.args
    if args and currency(typed_word(args[0])) is None and currency_meant(typed_word(args[0])) is None:
        # `\\CURRENCY house`, a room of theirs: "house is not an ISO 4217 currency code"
        if (named := await room_named(ctx, args[0])) is not None and named.id != room.id:
            return use_first("CURRENCY", room.name, named.name)
        if named is not None:
            args = ()
    async with ctx.deps.db.tx() as conn:
        await ledger.lock_rooms(conn, [room.id])  # no amount is being recorded meanwhile
        current = currency_or_default(await ledger.room_currency(conn, room.id))
        if not args:
            if await ledger.has_entries(conn, room.id, current.code):  # too late to change it
                return f"{room.name} counts in {current.code}; it has amounts, so its currency stays."
            return f"{room.name} counts in {current.code}. Change it with \\CURRENCY <code> before the first amount."
        code = typed_word(args[0])  # `eur.`, `"EUR"`: what is typed around a word
        wanted = currency(code)
        if wanted is None:
            meant = currency_meant(code)  # `\\CURRENCY \u20ac`, `euro`: the code they stand for
            if meant is None:
                return currency_unknown(code, ctx.deps.services.fits(msg.sender.channel))
            text = f"{code[:8]} is not an ISO 4217 currency code: did you mean \\CURRENCY {meant}?"
            plain = f"That is not an ISO 4217 currency code: did you mean \\CURRENCY {meant}?"
            return text if ctx.deps.services.fits(msg.sender.channel)(text) else plain
        if not in_use(wanted.code):  # DEM, XXX, XAU: codes, but no country's money today
            return f"{wanted.code} is no country's money today: use one in use (USD, EUR, GBP, ...)."
        if wanted == current:
            return f"{room.name} counts in {current.code} already."
        if await ledger.has_entries(conn, room.id, current.code):
            return f"{room.name} has amounts in {current.code} already; its currency cannot change now."
        await ledger.set_room_currency(conn, room.id, wanted.code)
    ctx.log.info("ledger.currency_set", room_id=room.id, currency=wanted.code)
    shown = f" ({wanted.symbol})" if wanted.symbol else ""
    return f"{room.name} counts in {wanted.code}{shown} now."


# -- \\SPLIT ----------------------------------------------------------------------------------------

SPLIT_USAGE = "\\SPLIT <names and shares>"
# the most words a \SPLIT takes: a share for each member of a big club (it took 24, so splitting
# among 13 by shares, or 25 by name, got the bare usage)
SPLIT_WORDS = 200
SPLIT_HOW = (
    "Usage: \\SPLIT ann bob (equally), ann 2 bob 1, ann 60% bob 40%, or ann 12.50 bob 7.50; me is you."
)
_PERCENT = re.compile(r"^(\d{1,3})(?:[.,](\d{1,2}))?%$")
_WHOLE = re.compile(r"^\d{1,6}$")


def split_figure(word: str, fits: FitsOne) -> str:
    """A figure in a `\\SPLIT` that is no share, no percentage with up to 2 decimals and no
    amount above 0 (`33.333%`, `0.00`): it said "No one in house goes by 33.333%". The figure
    is said back when the reply stays one message (digits of another script, `\u0660`, made the
    SMS three UCS-2 segments)."""
    text = f"{word[:NAME_MAX]} is no share, % or amount above 0. {SPLIT_HOW}"
    return text if fits(text) else f"That is no share, % or amount above 0. {SPLIT_HOW}"


_FIGURE = re.compile(r"^[-+]?[$€£¥]?\d[\d.,]*%?$")  # `33.333%`, `0.00`: meant as a value, not a name
SHARES, PERCENT, AMOUNTS = "shares", "percent", "amounts"
_AND = frozenset({"and", "&", "+"})  # between the names of a `\\SPLIT`, no name
# how a split among names goes, said in words (the usage's own `\\SPLIT ann bob (equally)`, typed
# as it reads, was answered "No one in house goes by (equally)"): no name either
_EQUALLY = frozenset({"equally", "evenly", "between", "among"})
# the whole room, said in a word: the way back to an equal split after one by shares or amounts
# (`\\SPLIT all` was "No one in house goes by all": every member had to be named)
_EVERYONE = frozenset({"all", "everyone", "everybody"})


@dataclass(frozen=True)
class SplitAsked:
    """What `\\SPLIT` asked for: each member once, with a weight; how it was given."""

    kind: str | None  # None: names only (equal among them)
    weighted: list[tuple[int, int]]  # (user id, weight) in the order named


def _value(token: str, cur: Currency) -> tuple[str, int] | None:
    """A share (`2`), a percentage in basis points (`60%`: 6000) or an amount (`12.50`, `$7`)."""
    if _WHOLE.match(token):
        return SHARES, int(token)
    percent = _PERCENT.match(token)
    if percent:
        return PERCENT, int(percent.group(1)) * 100 + int((percent.group(2) or "0").ljust(2, "0"))
    amount = parse_amount(token, cur)
    if amount is not None and amount.currency == cur:
        return AMOUNTS, amount.minor
    return None


def _as_amount(value: tuple[str, int] | None, cur: Currency) -> tuple[str, int] | None:
    """A whole-number share read as that many of the currency's units (`10`: $10.00)."""
    if value is None or value[0] != SHARES:
        return value
    return AMOUNTS, cur.minor_of_major(value[1])


_NAME_EXTRA_WORDS = 2  # a name typed with words its shown form lacks (an emoji, a "(left)")


def _members_named(
    words: list[str], book: RoomLedger, user_id: int, room: str, fits: FitsOne
) -> list[int] | str:
    """The members a run of words names, the longest name first (`Anna Maria` is one)."""
    found: list[int] = []
    # the most words a name can take: one shown (`Anna Maria (0101)`), or typed as Telegram shows
    # it, an emoji apart (`Dev \U0001f338`). Every run of the words was tried: a \SPLIT naming
    # 36 members of a club held the event loop a second, and one of 99 in a room of 100, 16 s
    longest = max((len(book.name(p).split()) for p in book.net), default=1) + _NAME_EXTRA_WORDS
    i = 0
    while i < len(words):
        told: str | None = None  # what `_find_member` said of a name several members go by
        for j in range(min(len(words), i + longest), i, -1):
            wanted = " ".join(words[i:j])
            # a member first: `\\SPLIT me bob` with a Bob who left beside the Bob in the room
            # asked which Bob, offering the one it then refused
            party: Party | str = (
                user_id
                if wanted.casefold() == "me"
                else _find_member(book, wanted, user_id, fits, current=True)
            )
            if party is None:  # one who left: said so below
                party = _find_member(book, wanted, user_id, fits)
                if isinstance(party, str):
                    # no member goes by it, only several who left (two Bobs who stopped): it
                    # asked "Bob (left) or Bob (left 2)? Use the one you mean.", offering two
                    # it then refused
                    party = _all_left(room, wanted, fits)
            if isinstance(party, int):
                break
            if isinstance(party, str):
                told = told or party
        else:
            # as \\PAID says it: "no one goes by carol" was untrue with two carols in the room
            if told is None and _FIGURE.match(words[i]):  # a figure that is no share, % or amount
                return split_figure(words[i], fits)
            return told or _no_one(room, words[i], fits)
        if party not in book.member_ids:
            # it read as done ("split among its members") while nothing had changed
            return f"{book.name(party)} is not in {room} any more, so nothing changed: \\SPLIT only among its members."
        found.append(party)
        i = j
    return found


def _all_left(room: str, wanted: str, fits: FitsOne) -> str:
    """What `\\SPLIT` says of a name that only people who left go by."""
    for who in (wanted[:NAME_MAX], "that name"):
        text = (
            f"Everyone who went by {who} has left {room}, so nothing changed: \\SPLIT only among its members."
        )
        if fits(text):
            return text
    return f"They left {room}: \\SPLIT only among its members."


def _name_words(book: RoomLedger) -> set[str]:
    """Every word of a name the room's ledger shows (`Anna Maria`: anna, maria), as keys."""
    return {word for p in book.net if p is not None for word in name_key(book.name(p)).split()}


def _ends_a_name(words: Sequence[str], token: str, book: RoomLedger) -> bool:
    """Whether `token` ends the name of a member of the room whose other words end `words`
    (`room` `2` of a Room 2), where `words` do not end in a member's name already (`bob 2` beside
    a Bob is Bob's share of 2)."""
    names = {name_key(book.name(m)) for m in book.member_ids} | {"me"}
    longest = max(len(name.split()) for name in names)

    def ends_in_one(run: Sequence[str]) -> bool:
        return any(name_key(" ".join(run[-n:])) in names for n in range(1, min(len(run), longest) + 1))

    return bool(words) and not ends_in_one(words) and ends_in_one([*words, token])


def amount_words(args: Sequence[str], book: RoomLedger, cur: Currency) -> list[str]:
    """`args` with each amount in `cur` whose code or sign is a word of its own (`INR 617.25`,
    `617.25 USD`, `$ 5`: replies show amounts of a currency with no plain symbol with its code),
    or whose thousands are set apart by a space (`1 234,56`), as one word, unless the code is a
    word of a member's name. `\\PAID Ravi INR 617.25` and
    `\\SPLIT priya INR 600.00 me INR 634.50` answered that no one in the room went by INR. Only
    `cur`'s code: Bob, Ron or Top are currencies too (`\\PAID Bob 5` is for a Bob)."""
    names = _name_words(book)
    tokens: list[str] = []
    i = 0
    while i < len(args):
        pair = args[i : i + 2]
        marker = [w for w in pair if not any(ch.isdigit() for ch in w)]
        value = parse_amount(" ".join(pair), cur) if len(pair) == 2 and len(marker) <= 1 else None
        if (
            value is not None
            and value.currency == cur
            and not names.intersection(w.casefold() for w in marker)
        ):
            tokens.append(" ".join(pair))
            i += 2
        else:
            tokens.append(args[i])
            i += 1
    return tokens


def parse_split(
    args: Sequence[str], book: RoomLedger, user_id: int, room: str, cur: Currency, fits: FitsOne
) -> SplitAsked | str:
    """`ann bob`, `ann 2 bob 1`, `ann 60% bob 40%`, `ann 12.50 bob 7.50` (`me`: the sender); a
    reply saying what is wrong otherwise."""
    named: list[tuple[int, tuple[str, int] | None]] = []
    words: list[str] = []
    joined: list[str] = []
    # `ann, bob and me`, `ann & me`: the way people list names, unless a member's name has the word
    names = _name_words(book)
    for word in typed_words(args):  # `ann, bob`: the comma is no part of a name or a share
        if word.casefold() in _AND and word.casefold() not in names:
            continue
        if (said := word.strip("()").casefold()) in _EQUALLY and said not in names:
            continue
        if word == "%" and joined:  # `ann 60 %`, as French typography (and its phones) space it
            joined[-1] += word
        else:
            joined.append(word)
    tokens = amount_words(joined, book, cur)  # `priya INR 600.00`: the code is the amount's
    if not tokens:
        return SPLIT_HOW
    if len(tokens) == 1 and (said := tokens[0].casefold()) in _EVERYONE and said not in names:
        return SplitAsked(None, [(m, 1) for m in book.member_ids])
    for token in tokens:
        value = _value(token, cur)
        # a member's last 4 digits, as \\PAID takes them and the replies advise (`\\SPLIT me 0302`):
        # a share of 302 otherwise, silently giving the sender the whole receipt
        last_digits = value is not None and value[0] == SHARES and len(token) == 4
        if last_digits and isinstance(_find_member(book, token, user_id, fits), int):
            value = None
        # the number that ends a member's name (`\\NAME Room 2`), after the rest of it: a share of
        # 2 otherwise, and `\\SPLIT room 2 jo` said no one went by room
        if value is not None and value[0] == SHARES and _ends_a_name(words, token, book):
            value = None
        if value is None:
            words.append(token)
            continue
        if not words:
            return SPLIT_HOW
        members = _members_named(words, book, user_id, room, fits)
        if isinstance(members, str):
            return members
        named.extend((m, None) for m in members[:-1])  # names before the last one have no value
        named.append((members[-1], value))
        words = []
    if words:
        members = _members_named(words, book, user_id, room, fits)
        if isinstance(members, str):
            return members
        named.extend((m, None) for m in members)
    people = [m for m, _ in named]
    if len(set(people)) != len(people):
        return "Name each member once."
    values = [v for _, v in named]
    if all(v is None for v in values):
        return SplitAsked(None, [(m, 1) for m in people])
    if any(v is None for v in values):
        return "Give everyone a share, or no one: \\SPLIT ann 2 bob 1, or \\SPLIT ann bob."
    kinds = {v[0] for v in values if v is not None}
    if kinds == {SHARES, AMOUNTS}:
        # `me 10 bob 10.00 carol 10.61`: a whole number beside amounts is an amount ($10.00), as
        # people write exact amounts; it was "Use one kind", though they had used one
        named = [(m, _as_amount(v, cur)) for m, v in named]
        kinds = {AMOUNTS}
    if len(kinds) != 1:
        return "Use one kind: shares (ann 2 bob 1), percentages (ann 60% bob 40%) or amounts."
    kind = kinds.pop()
    weighted = [(m, v[1]) for m, v in named if v is not None]
    if any(w <= 0 for _, w in weighted):
        return "Every share must be more than 0: leave out who pays nothing."
    if kind == PERCENT and sum(w for _, w in weighted) != 10_000:
        given = " + ".join(_percent(w) for _, w in weighted)
        return f"{given} is {_percent(sum(w for _, w in weighted))}, not 100%."
    return SplitAsked(kind, weighted)


def other_currency_split(args: Sequence[str], book: RoomLedger, cur: Currency, fits: FitsOne) -> str | None:
    """What to say of a `\\SPLIT` that gives amounts in another currency than its receipt counts
    in (`\\SPLIT me €20 bob €20` of a receipt of €40.00 counted at $43.20): it was "€20 is
    no share, % or amount above 0", or "No one in house goes by EUR". None when it gives none."""
    names = _name_words(book)
    words = typed_words(args)
    for i in range(len(words)):
        for text in (words[i], " ".join(words[i : i + 2]) if i + 1 < len(words) else ""):
            value = parse_amount(text, cur) if text else None
            marker = [w.casefold() for w in text.split() if not any(ch.isdigit() for ch in w)]
            if value is None or value.currency == cur or names.intersection(marker):
                continue
            code = value.currency.code
            text = (
                f"{value.currency.format(value.minor)} is in {code}, and your receipt counts in"
                f" {cur.code}: give {cur.code} amounts, shares (ann 2 bob 1) or percentages."
            )
            return (
                text
                if fits(text)
                else f"Your receipt counts in {cur.code}: give {cur.code} amounts, shares or %."
            )
    return None


# the factors that make shares such as `0.5` or `1.25` whole, smallest first
_SHARE_FACTORS = (2, 4, 10)
# (`1.5,` of `me 1.5, bob 1`: the comma after it is kept as typed)
_BARE_NUMBER = re.compile(r"(?P<number>\d{1,2}(?:[.,]\d{1,2})?)(?P<after>[,;]?)")


def half_shares(
    args: Sequence[str], weighted: list[tuple[int, int]], total: int, cur: Currency, wrong: str, fits: FitsOne
) -> str:
    """`\\SPLIT ann 1 bob 1 cat 0.5` of a $64.31 receipt meant half a share for cat; it was read as
    amounts and answered "$1.00 + $1.00 + $0.50 is $2.50, not its total $64.31", leaving the
    person to guess that shares are whole. Bare small numbers (no money sign or code, none over
    10, together under half the total) also get the whole shares they mean: the command as they
    typed it, each number made whole, ready to send."""
    unit = cur.minor_of_major(1)
    found = {i: bare for i, word in enumerate(args) if (bare := _BARE_NUMBER.fullmatch(word))}
    numbers = list(found)
    values = [round(float(found[i]["number"].replace(",", ".")) * unit) for i in numbers]
    if (
        unit == 1
        or any(word.casefold() == cur.code.casefold() for word in args)
        or values != [w for _, w in weighted]
        or any(w > 10 * unit for w in values)
        or sum(values) * 2 > total
    ):
        return wrong
    factor = next((f for f in _SHARE_FACTORS if all(w * f % unit == 0 for w in values)), None)
    if factor is None:
        return wrong
    words = list(args)
    for i, w in zip(numbers, values, strict=True):
        words[i] = f"{w * factor // unit}{found[i]['after']}"
    command = "\\SPLIT " + " ".join(words)
    for text in (f"{wrong} Shares are whole: {command}", f"Shares are whole numbers: {command}"):
        if fits(text):
            return text
    return wrong


def _percent(basis_points: int) -> str:
    whole, frac = divmod(basis_points, 100)
    return f"{whole}.{frac:02d}%".replace(".00%", "%")


@router.command("SPLIT", args=(0, SPLIT_WORDS), usage=SPLIT_USAGE, resolve=(active_room,))
async def split(msg: Inbound, ctx: Context) -> HandlerResult:
    """Reshape the sender's last receipt in the active room: equally among the names given, by
    shares, by percentages, or by exact amounts that add up to its total."""
    user_id, room = ctx.user.id, room_of(ctx)
    fits = ctx.deps.services.fits(msg.sender.channel)
    # the names the split is read against, added up before its transaction (a big room's ledger
    # takes a second, and on SQLite every other person's text waited meanwhile); a split changes
    # no name, so the reply names them from it too
    async with ctx.deps.db.read() as conn:
        if await inbox.photos_waiting(conn, msg.sender.key, msg.id):
            return photo_waiting("SPLIT")
        book = await room_ledger(conn, room.id)
    async with ctx.deps.db.tx() as conn:
        target = await ledger.amount_target(conn, user_id, room.id)
        if target is None:
            return no_receipts(room.name, "SPLIT")
        cur = currency_or_default(target.currency or book.currency.code)
        asked = parse_split(ctx.args, book, user_id, room.name, cur, fits)
        named = set() if isinstance(asked, str) else {m for m, _ in asked.weighted}
        if named and await ledger.still_members(conn, room.id, named) != named:
            # one of them left after the members were read: read as a split after it is
            book = await room_ledger(conn, room.id)
            asked = parse_split(ctx.args, book, user_id, room.name, cur, fits)
        if isinstance(asked, str):
            return other_currency_split(ctx.args, book, cur, fits) or asked
        total = target.amount_minor
        # a repeat of another receipt is not counted until `\\AMOUNT` counts it anyway, with the
        # figure its photo reply gave (it said "once it has a total: \\AMOUNT 12.34", as if none
        # had been read)
        count = f"\\AMOUNT {cur.example}"
        if not total and target.duplicate_of is not None:
            twin = (await ledger.by_ids(conn, {target.duplicate_of})).get(target.duplicate_of)
            if twin is not None and twin.amount_minor and (twin.currency or cur.code) == cur.code:
                count = f"\\AMOUNT {cur.number(twin.amount_minor)}"
        if asked.kind == AMOUNTS:
            if not total:
                if target.duplicate_of is not None:
                    return f"It repeats another receipt: count it first ({count}), then split it by amounts."
                return f"Set its total first (\\AMOUNT {cur.example}), then split it by amounts."
            given = sum(w for _, w in asked.weighted)
            if given != total:
                wrong = f"{' + '.join(cur.format(w) for _, w in asked.weighted)} is {cur.format(given)}, not its total {cur.format(total)}."
                return half_shares(ctx.args, asked.weighted, total, cur, wrong, fits)
        # leftover cents: in the order the receipt was saved with (the others from its turn in
        # the room, the sender last: split_order), then any who joined since; by join order
        # alone, a club's first members took every leftover cent of the \SPLITs too
        stored = [m for m in await ledger.split_members(conn, target.id) if m is not None and m != user_id]
        ranked = [*stored, *(m for m in split_order(user_id, list(book.member_ids)) if m not in stored)]
        order = {m: i for i, m in enumerate(ranked)}
        weighted = sorted(asked.weighted, key=lambda mw: order.get(mw[0], len(order)))
        if total and asked.kind in (SHARES, PERCENT):
            nothing = next((m for m, share in split_by_weights(total, weighted) if share == 0), None)
            if nothing is not None:  # `\\SPLIT me 999999 bob 1` gave Bob a $0.00 share
                return zero_share(book.name(nothing), cur.format(total), cur, fits)
        await ledger.set_split(conn, target.id, weighted)
    ctx.log.info(
        "ledger.split",
        receipt_id=target.id,
        room_id=room.id,
        kind=asked.kind or "equal",
        members=len(weighted),
    )
    repeat = count if not total and target.duplicate_of is not None else None
    return split_reply(room.name, book, cur, total, asked, weighted, fits, repeat=repeat)


def zero_share(name: str, total: str, cur: Currency, fits: FitsOne) -> str:
    """A share or percentage that comes to nothing of the receipt's total: it was split so, the
    member named with a share of `$0.00` they were meant to pay some of."""
    for who in (name, "A member"):
        text = (
            f"{who}'s part of {total} would be {cur.format(0)}: give a bigger share, or leave out"
            " who pays nothing. Nothing changed."
        )
        if fits(text):
            return text
    return f"A part of {total} would be {cur.format(0)}. Nothing changed."


def split_reply(
    room: str,
    book: RoomLedger,
    cur: Currency,
    total: int | None,
    asked: SplitAsked,
    weighted: list[tuple[int, int]],
    fits: FitsOne,
    *,
    repeat: str | None = None,
) -> str:
    """`Split $30.00 in house: Ann $20.00, Bob $10.00.`, shorter when that does not fit.
    `repeat`: the receipt repeats another, and this `\\AMOUNT` counts it anyway."""
    if total:
        parts = ", ".join(
            f"{book.name(m)} {cur.format(share)}" for m, share in split_by_weights(total, weighted)
        )
        text = f"Split {cur.format(total)} in {room}: {parts}."
        if fits(text):
            return text
        return f"Split {cur.format(total)} among {len(weighted)} in {room}. \\BALANCE for all."
    if asked.kind is None:
        how = "equally among " + ", ".join(book.name(m) for m, _ in weighted)
    elif asked.kind == PERCENT:
        how = ", ".join(f"{book.name(m)} {_percent(w)}" for m, w in weighted)
    else:
        how = ", ".join(f"{book.name(m)} {w}" for m, w in weighted) + " shares"
    if repeat is not None:
        text = f"Your receipt in {room} splits {how} once counted: it repeats another, {repeat} counts it."
        if fits(text):
            return text
        return f"Your receipt in {room} splits among {len(weighted)} once counted: it repeats another, {repeat} counts it."
    text = f"Your receipt in {room} splits {how} once it has a total: \\AMOUNT {cur.example}."
    if fits(text):
        return text
    return f"Your receipt in {room} splits among {len(weighted)} once it has a total: \\AMOUNT {cur.example}."


# -- \\REMIND and \\TIMEZONE ---------------------------------------------------------------------------

REMIND_USAGE = "\\REMIND weekly|monthly|off"
_WHEN = {reminders.WEEKLY: "weekly, on Mondays", reminders.MONTHLY: "monthly, on the 1st"}


def _zone_said(room: ledger.Reminding) -> str:
    zone = reminders.room_zone(room)
    if room.timezone:
        return zone.key
    return (
        f"{zone.key}, from its creator's number" if reminders.zone_of_address(room.creator_phone) else "UTC"
    )


async def _room_and_rest(
    ctx: Context, command: str, args: Sequence[str], means: Callable[[Sequence[str]], bool]
) -> tuple[Sequence[str] | None, str | None]:
    """`\\REMIND house weekly`, `\\STATEMENT 2026-11 house`: the words left when the first or the
    last names a room of theirs and the rest `means` something to the command, and the answer
    when that room is not the active one (`use_first`); (None, None) when no word does that."""
    if len(args) < 2:
        return None, None
    room = room_of(ctx)
    for word, rest in ((args[0], args[1:]), (args[-1], args[:-1])):
        if not means(rest):
            continue
        named = await room_named(ctx, word)
        if named is None:
            continue
        if named.id != room.id:
            return None, use_first(command, room.name, named.name)
        return rest, None
    return None, None


def _a_setting(words: Sequence[str]) -> bool:
    return len(words) == 1 and typed_word(words[0]).lower() in ("off", *reminders.KINDS)


@router.command("REMIND", args=(0, 2), usage=REMIND_USAGE, resolve=(active_room,))
async def remind(msg: Inbound, ctx: Context) -> HandlerResult:
    """Reminders of who owes, for the active room: weekly, monthly or off (the default)."""
    room = room_of(ctx)
    args: Sequence[str] = ctx.args
    if len(args) == 2:
        # `\\REMIND house weekly`: the active room named with the setting is as naming none
        rest, answer = await _room_and_rest(ctx, "REMIND", args, _a_setting)
        if rest is None:
            return answer or f"Usage: {REMIND_USAGE}"
        args = rest
    wanted = typed_word(args[0]).lower() if args else None
    if wanted not in (None, "off", *reminders.KINDS):
        # `\\REMIND house`, a room of theirs: told the usage alone
        if (named := await room_named(ctx, ctx.args[0])) is None:
            return f"Usage: {REMIND_USAGE}"
        if named.id != room.id:
            return use_first("REMIND", room.name, named.name)
        wanted = None
    async with ctx.deps.db.tx() as conn:
        settings = await ledger.reminding(conn, room.id)
        assert settings is not None  # the active room exists
        if wanted is None:
            if settings.remind not in reminders.KINDS:
                return f"{room.name}: no reminders. \\REMIND weekly or monthly: whoever owes gets one."
            return remind_status(room.name, settings.remind, _zone_said(settings))
        if wanted == "off":
            # the period reminded last is kept: turned on again, that one does not go twice
            await ledger.set_remind(conn, room.id, None, settings.reminded_period)
        elif wanted == settings.remind:
            pass  # as it was: marking this period reminded again would skip a reminder not yet sent
        else:
            # when it was sent: one of 09:59 on a Monday handled after 10:00 (a backlog, a
            # restart) counted that Monday's reminder as gone, and nobody was reminded that week
            sent = msg.received_at or ctx.deps.now()
            local = dt.datetime.fromtimestamp(sent, reminders.room_zone(settings))
            done = reminders.done_on_turning_on(wanted, local, settings.reminded_period)
            await ledger.set_remind(conn, room.id, wanted, done)
    ctx.log.info("ledger.remind_set", room_id=room.id, remind=wanted)
    return remind_reply(
        room.name,
        wanted,
        _zone_said(settings),
        ctx.deps.services.fits(msg.sender.channel),
        zone_unknown=reminders.zone_unknown(settings),
    )


async def _in_another_room(conn: AsyncConnection, ctx: Context, command: str, text: str) -> str | None:
    """`\\PAID Bob 5 house`, `\\AMOUNT 12 house`: a room of theirs after what does not parse, when
    it is not the room the command works on. These got the usage alone (and once the room was
    left off, they would have gone to the active room): the answer says to `\\USE house` first."""
    words = text.split()
    if len(words) < 2 or ctx.data.get(LEFT):
        return None
    named = await room_named(ctx, words[-1], lean.in_tx(conn))
    room = room_of(ctx)
    return use_first(command, room.name, named.name) if named is not None and named.id != room.id else None


def _zone_before_words(args: Sequence[str]) -> ZoneInfo | None:
    """`\\TIMEZONE Europe/Paris please` (or `thanks!` on the next line): the zone its first word
    names, an Area/City one, when no word after it names another. It was answered "Europe/Paris
    please is not a time zone: use a name such as America/Chicago or Europe/Paris"."""
    if len(args) < 2:
        return None
    zone = reminders.zone_named(typed_word(args[0]))
    if zone is None or "/" not in zone.key:
        return None
    rest = typed_words(args[1:])
    return zone if all(_no_zone(word) for word in rest) else None


def _no_zone(name: str) -> bool:
    """Whether `\\TIMEZONE` makes nothing of `name`: no zone, city or summerless abbreviation."""
    return (
        reminders.no_summer_time(name) is None
        and reminders.zone_named(name) is None
        and reminders.zone_of_city(name) is None
    )


def remind_status(room: str, kind: str, zone: str) -> str:
    """What `\\REMIND` alone says when reminders are on."""
    return f"{room}: reminders go {_WHEN[kind]} from 10:00 ({zone})."


def remind_reply(room: str, wanted: str, zone: str, fits: FitsOne, *, zone_unknown: bool = False) -> str:
    """The answer to `\\REMIND weekly|monthly|off`: the richest form that fits one message. A room
    on UTC for want of a zone (`zone_unknown`) is told how to set its own: a Telegram household in
    Los Angeles was reminded at 02:00."""
    if wanted == "off":
        return f"{room}: reminders off."
    text = (
        f"{room}: whoever owes gets a reminder {_WHEN[wanted]} from 10:00 ({zone}). \\REMIND off stops them."
    )
    if zone_unknown:
        hinted = (
            f"{room}: whoever owes gets a reminder {_WHEN[wanted]} from 10:00 ({zone}: \\TIMEZONE "
            "<city> for yours). \\REMIND off stops them."
        )
        if fits(hinted):
            return hinted
    return text if fits(text) else f"{room}: reminders {wanted} from 10:00. \\REMIND off stops them."


@router.command("TIMEZONE", args=(0, 3), usage="\\TIMEZONE [<zone>]", resolve=(active_room,))
async def timezone(msg: Inbound, ctx: Context) -> HandlerResult:
    """The active room's IANA time zone, for its reminders."""
    room = room_of(ctx)
    args: Sequence[str] = ctx.args
    if len(args) >= 2 and reminders.zone_named(" ".join(typed_words(args))) is None:
        # `\\TIMEZONE house Europe/Paris`: the active room named with a zone is as naming none
        rest, answer = await _room_and_rest(
            ctx,
            "TIMEZONE",
            args,
            lambda words: reminders.zone_named(" ".join(typed_words(words))) is not None,
        )
        if answer is not None:
            return answer
        args = rest if rest is not None else args
    if len(args) == 1 and _no_zone(typed_word(args[0])):
        # `\\TIMEZONE house`, a room of theirs: "house is not a time zone"
        if (named := await room_named(ctx, args[0])) is not None and named.id != room.id:
            return use_first("TIMEZONE", room.name, named.name)
        if named is not None:
            args = ()
    async with ctx.deps.db.tx() as conn:
        settings = await ledger.reminding(conn, room.id)
        assert settings is not None
        if not args:
            return f"{room.name} keeps time in {_zone_said(settings)}. Change it: \\TIMEZONE Europe/Paris"
        name = " ".join(typed_words(args)) or args[0]
        summerless = reminders.no_summer_time(name)
        if summerless is not None:
            meant, all_year = summerless  # EST: America/New_York, or America/Panama all year
            said = name.strip().upper()
            return f"{said} keeps no summer time: did you mean \\TIMEZONE {meant}? ({all_year} keeps {said} all year.)"
        zone = reminders.zone_named(name) or _zone_before_words(args)
        if zone is None:
            # `\\TIMEZONE Tokyo`, `\\TIMEZONE New York`: the city of a zone gets the zone's name
            city = reminders.zone_of_city(name)
            how = (
                f"did you mean \\TIMEZONE {city}?"
                if city
                else "use a name such as America/Chicago or Europe/Paris."
            )
            text = f"{name[:40]} is not a time zone: {how}"
            plain = f"That is not a time zone: {how}"
            return text if ctx.deps.services.fits(msg.sender.channel)(text) else plain
        await ledger.set_timezone(conn, room.id, zone.key)
    ctx.log.info("ledger.timezone_set", room_id=room.id, zone=zone.key)
    offset = reminders.utc_offset_of_etc(zone.key)
    if offset is not None:  # Etc/GMT+2 is UTC-2: said, for those who read it as UTC+2
        return f"{room.name} keeps time in {zone.key} now: {offset} all year (tzdata reverses the sign)."
    return f"{room.name} keeps time in {zone.key} now."


# -- \\STATEMENT -----------------------------------------------------------------------------------

STATEMENT_USAGE = "\\STATEMENT [YYYY-MM]"


# a month as other countries and phones write it: `10/2026`, `2026/10`, `10-2026`, `2026-1`, `10.2026`
_OTHER_MONTH = re.compile(r"(\d{4})[-/.](\d{1,2})|(\d{1,2})[-/.](\d{4})")


_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip


# months back from this one, as people say them (`\\STATEMENT last month` got the usage)
_RELATIVE_MONTH = {"this month": 0, "current month": 0, "last month": 1, "previous month": 1, "prev month": 1}


def meant_month(word: str, today: tuple[int, int]) -> str | None:
    """`2026-10` for `10/2026` and the like (the 4-digit number is the year: no guess); for a
    month's English name, whole or of 3 letters at least (`october`, `Oct`, `sept`), the last such
    month that has begun by `today`, or that month of a year typed with it (`Oct 2026`, `2026
    october`); `last month` (or `previous month`) the one before `today`'s, `this month` its own;
    else None."""
    words = word.split()
    relative = _RELATIVE_MONTH.get(" ".join(words).lower().rstrip(".!?"))
    if relative is not None:  # `last month`, `this month`: by `today`
        back_year, back_month = divmod(today[0] * 12 + today[1] - 1 - relative, 12)
        return f"{back_year:04d}-{back_month + 1:02d}"
    if len(words) == 2:
        typed_year = next((w for w in words if re.fullmatch(r"\d{4}", w)), None)
        other = (words[1] if typed_year == words[0] else words[0]).rstrip(".")
        by_name = meant_month(other, today) if typed_year is not None and other.isalpha() else None
        with_year = f"{typed_year}-{by_name[5:]}" if by_name is not None else ""
        return with_year if month_of(with_year) is not None else None
    name = word.lower()
    named = next((i for i, full in enumerate(_MONTH_NAMES, 1) if len(name) >= 3 and full.startswith(name)), 0)
    if named:
        return f"{today[0] if named <= today[1] else today[0] - 1:04d}-{named:02d}"
    found = _OTHER_MONTH.fullmatch(word)
    if found is None:
        return None
    year, month = (found[1], found[2]) if found[1] else (found[4], found[3])
    meant = f"{int(year):04d}-{int(month):02d}"
    return meant if month_of(meant) is not None else None


def statement_reply(link: str) -> str:
    """With a 40-character public URL the link alone is 143 characters: no room name."""
    return f"Statement: {link}"


@router.command("STATEMENT", args=(0, 3), usage=STATEMENT_USAGE, resolve=(active_room,))
async def statement(msg: Inbound, ctx: Context) -> HandlerResult:
    """A signed link (1 hour) to the active room's statement of a month: receipts, payments,
    balances at its end, a CSV and the photos; this month by default."""
    room = room_of(ctx)
    async with ctx.deps.db.read() as conn:
        settings = await ledger.reminding(conn, room.id)
        first_receipt = await receipts.first_at(conn, room.id)
    assert settings is not None
    today = dt.datetime.fromtimestamp(ctx.deps.now(), reminders.room_zone(settings))
    # this month: the one it was sent in, as a \\PAID's time is (one of 23:59 on the 30th handled
    # after midnight, a backlog or a restart, linked the next month's, with nothing in it)
    sent = dt.datetime.fromtimestamp(msg.received_at or ctx.deps.now(), reminders.room_zone(settings))
    this_month = f"{sent.year:04d}-{sent.month:02d}"
    # `\\STATEMENT Oct 2026`: two words, as people write a month and its year
    month = " ".join(typed_word(arg) for arg in ctx.args) if ctx.args else this_month
    if month_of(month) is None and meant_month(month, (today.year, today.month)) is None:
        # `\\STATEMENT house 2026-11`: the active room named with a month is as naming none
        rest, answer = await _room_and_rest(
            ctx,
            "STATEMENT",
            ctx.args,
            lambda words: (
                month_of(" ".join(typed_words(words))) is not None
                or meant_month(" ".join(typed_words(words)), (today.year, today.month)) is not None
            ),
        )
        if answer is not None:
            return answer
        month = " ".join(typed_word(arg) for arg in rest) if rest is not None else month
    ym = month_of(month)
    if ym is None:
        # `\\STATEMENT 10/2026` (or `october`) was told the usage with this month as its example
        if (meant := meant_month(month, (today.year, today.month))) is not None:
            return f"Usage: {STATEMENT_USAGE}. Did you mean \\STATEMENT {meant}?"
        # `\\STATEMENT house`, a room of theirs: told the usage alone
        if (named := await room_named(ctx, month)) is not None and named.id != room.id:
            return use_first("STATEMENT", room.name, named.name)
        if named is None:
            return f"Usage: {STATEMENT_USAGE}, e.g. \\STATEMENT {today.year:04d}-{today.month:02d}"
        month, ym = this_month, month_of(this_month)
        assert ym is not None
    # the month in ASCII digits: one typed in an Arabic or Devanagari keyboard's digits is read
    # (`month_of`), and was said back as typed, in the link too (a UCS-2 SMS of 3 segments)
    month = f"{ym[0]:04d}-{ym[1]:02d}"
    if ym > (today.year, today.month):
        return f"{month} has not begun in {room.name} yet."
    # its first receipt may be older than the room: a photo sent at 23:58 on December 31st that
    # waited for the room its sender made at 00:01 was in no statement, December's refused
    began = dt.datetime.fromtimestamp(
        min(room.created_at, first_receipt or room.created_at), reminders.room_zone(settings)
    )
    if ym < (began.year, began.month):  # a link to an empty page, as if the month had nothing
        first = f"{began.year:04d}-{began.month:02d}"
        return f"{room.name} began in {first}: \\STATEMENT {first} is its first month."
    link = statement_link(ctx.deps, room.id, month)
    if link is None:
        return "Statements are not set up on this number."
    ctx.log.info("ledger.statement_sent", room_id=room.id, month=month)
    return Reply(statement_reply(link), redact=True, kind="statement")
