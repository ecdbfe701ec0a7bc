"""A new receipt's amount, and the one reply for an MMS of receipts.

The amount: a caption with exactly one amount wins (only for a message with one photo: a caption
cannot say which of several photos it is for); else the photo's total as OCR reads it (or the
PDF's text layer); else none, and the reply asks for `\\AMOUNT`. A receipt in another currency
than its room's is kept with that currency and not counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.core.channel import FitsOne
from bot.features.ledger.book import NAME_MAX, RoomLedger, accents_off, name_key, position_phrase
from bot.features.ledger.money import (
    Amount,
    Currency,
    currency,
    currency_or_default,
    dollar_sign_is,
    parse_amount,
    printed_whole,
    shown,
    writes_decimal_point,
)
from bot.features.ledger.view import receipt_status
from bot.features.ocr.reader import OcrReader
from bot.features.ocr.total import KRONA, KRONAS, Payment, exponent_of, tax_money
from storage.ledger import ReceiptAmount

DUPLICATE = "duplicate"  # ocr_status of a receipt that repeats an earlier one of the room
DECIMAL_COMMA = ","  # Found.unclear's reason when the total was printed `12,50` in a room of `12.50`
# Found.unclear's reason when the total was printed `1 490.00`: 1490.00, or one item at 490.00
GROUPED = " "


@dataclass(frozen=True)
class Found:
    minor: int | None
    currency: str | None
    source: str | None  # caption | ocr | pdf
    ocr_status: str | None  # ok | none | ask | not_receipt | duplicate (None: not read)
    identity: str | None = None  # MERCHANT|date|time the receipt prints (Reading.identity)
    # a total read with no money of its own beside a tax the room's money is not taxed with
    # (`TOTAL 27.15`, `VAT 4.53` in a USD room), or printed with a decimal comma in a room of
    # money written with a point (`TOTAL 12,50` in a USD room): (its figure in the room's
    # decimals, the tax or DECIMAL_COMMA), not counted (`unclear_money`); or printed `1 490.00`,
    # thousands or a count and a price: (its figure read with the thousands, GROUPED)
    unclear: tuple[int, str] | None = None
    # a payment app's screenshot of a payment between people (Reading.payment): not counted, and
    # the reply points to \\PAID; its figure the room's, as \\PAID takes it (`paid_figure`)
    payment: Payment | None = None


async def read_amount(
    reader: OcrReader | None, data: bytes, kind: str, caption: Amount | None, room: Currency
) -> Found:
    if caption is not None:
        return Found(caption.minor, caption.currency.code, "caption", None)
    if reader is None:
        return Found(None, None, None, None)
    exponent = room.exponent
    reading = await reader.read(data, kind, exponent, printed_whole(room.code))
    if reading.payment is not None:
        payment = reading.payment._replace(figure=await paid_figure(reading.payment.figure, room))
        return Found(None, None, None, reading.status, reading.identity, payment=payment)
    if reading.grouped is not None and reading.currency in (None, room.code):
        return Found(None, None, None, "ask", reading.identity, unclear=(reading.grouped, GROUPED))
    if reading.currency == KRONA:
        # `kr` names no one country's money: the room's, when it is a krona or a krone; else
        # (yen, euros, Iceland's whole krónur) the person is asked which: `57,40 kr` was €57.40
        if room.code in KRONAS:
            reading = dataclasses.replace(reading, currency=room.code)
        elif reading.minor is not None:
            return Found(None, None, None, "ask", reading.identity, unclear=(reading.minor, KRONA))
    # `TOTAL $40.50` on a receipt in a room of euros, pounds or yen is none of them (a Mexican
    # receipt's pesos were counted as €1250.00): USD, as a caption's `$` there is read
    # (bot/features/ledger/money.py), kept and not counted. A room of money written with a `$` at
    # home (COP, ARS, CLP, SGD) or shown with a sign with one (R$, HK$) keeps it as its own; a room
    # of rupees or rand takes it for US dollars, as a caption's (`dollar_sign_is`).
    dollar = reading.currency is None and reading.dollar and not dollar_sign_is(room)
    code = reading.currency or ("USD" if dollar else room.code)
    if reading.minor is not None and reading.currency is None and not dollar:
        tax = unclear_money(reading.taxes, room.code)
        # (CLDR's locales read once a currency, 13-22 ms: off the event loop)
        if (
            tax is None
            and reading.comma
            and room.exponent
            and await asyncio.to_thread(writes_decimal_point, room.code)
        ):
            # `Total € 12,50` reads `Total 12,50` (OCR has no €): a euro café's bill was counted
            # as $12.50 in a trip room of dollars, which a US receipt never prints
            tax = DECIMAL_COMMA
        if tax is not None:
            return Found(None, None, None, "ask", reading.identity, unclear=(reading.minor, tax))
    found = currency(code)
    # the reading's figure is in its currency's decimals (bot/features/ocr/total.py reads a yen
    # receipt in a dollar room in yen): kept in that currency, uncounted when it is not the room's
    read_in = exponent if reading.currency is None else exponent_of(reading.currency)
    if reading.minor is None or found is None or found.exponent != read_in or not found.takes(reading.minor):
        # nothing sure, decimals this code does not know the currency to have, or more than any
        # amount typed may be (a misread, or one that no \\PAID or \\AMOUNT could match): ask
        return Found(None, None, None, reading.status if reading.minor is None else "ask", reading.identity)
    return Found(reading.minor, code, "pdf" if kind == "pdf" else "ocr", reading.status, reading.identity)


# a figure with no sign or code of its own, and no one OCR misread (`20.00`, `15,00`)
_BARE = re.compile(r"[\d.,\s'\u00a0\u202f]+")


async def paid_figure(printed: str | None, room: Currency) -> str | None:
    """A payment app's figure as printed (`Payment.figure`), as `\\PAID` takes it when it is in
    the room's money (`£20.00` in a room of pounds: `20.00`), else None (`€15,00` or `$20` in a
    room of pounds). One printed alone (OCR reads no `£`, `€` nor `₹`) is the room's, unless the
    room's money is dollars (every app of theirs prints the `$`, and OCR reads it) or is written
    with a decimal point and the figure with a comma (`15,00` in a room of pounds: euros)."""
    if printed is None:
        return None
    amount = parse_amount(printed, room, uncapped=True)
    if amount is None or amount.currency != room:
        return None
    if _BARE.fullmatch(printed):
        if "$" in room.symbol:
            return None
        # (CLDR's locales read once a currency, 13-22 ms: off the event loop)
        comma = re.search(r",\d{1,2}$", printed) is not None
        if comma and await asyncio.to_thread(writes_decimal_point, room.code):
            return None
    return room.number(amount.minor)


def rate_form(receipt: ReceiptAmount, code: str, room: Currency) -> str:
    """`\\AMOUNT 1496 JPY @rate (USD for 1 JPY)`: what counts a receipt kept in other money."""
    theirs = currency(code)
    assert receipt.amount_minor is not None
    figure = theirs.number(receipt.amount_minor) if theirs is not None else str(receipt.amount_minor)
    return f"\\AMOUNT {figure} {code} @rate ({room.code} for 1 {code})"


def unclear_money(taxes: Sequence[str], room: str) -> str | None:
    """The tax that says a total printed with no money of its own (OCR reads no `£`, `€`, `₹`)
    is not in the room's `room` money: a tax line naming only taxes of places that pay in other
    money (VAT, TVA, MwSt, IVA, GST, ... in a USD room: US receipts print TAX). None when a tax
    named is one of the room's money's, or none is named."""
    if not taxes or any(room in tax_money(tax) for tax in taxes):
        return None
    return taxes[0]


def payee_in(ledger: RoomLedger, printed: str, sender: int) -> int | None:
    """The one member (not the sender) a payment app's payee is: `Ann Lee` as the room shows her,
    or Venmo's full `Ann Lee` for the room's `Ann` (and Cash App's `Ann` for `Ann Lee`); None when
    no one, or more than one, is."""
    key = accents_off(name_key(printed))
    first = key.split()[0] if key.split() else key
    shown = {
        party: accents_off(name_key(ledger.name(party).split(" (")[0]))
        for party in ledger.member_ids
        if party != sender
    }
    exact = [party for party, name in shown.items() if name == key]
    matches = exact or [party for party, name in shown.items() if first == name or name.split()[:1] == [key]]
    return matches[0] if len(matches) == 1 else None


def payment_replies(room_name: str, payment: Payment, ledger: RoomLedger, sender: int) -> list[str]:
    """The reply to a payment app's screenshot: not counted, as no one's spending; the `\\PAID`
    that records it when its other party is a member (its figure when it is in the room's money,
    `paid_figure`): the sender's own, or, for one the sender received, the one its payer sends."""
    cur = ledger.currency
    printed, figure, received = payment
    number = cur.example if figure is None else figure
    party = payee_in(ledger, printed, sender)
    if received:
        # Ann's \PAID records Ann paying: the sender cannot record it for her, and \AMOUNT would
        # count money that came in as the sender's spending. From no member, it may be the
        # sender's own payment as its payee acknowledged it (a landlord's `Received from John
        # Smith`, the rent John paid for the flat): \AMOUNT is offered, as for one sent
        if party is None:
            return [
                f"Saved to {room_name}; it looks like a payment from {printed[:NAME_MAX]}, not a receipt, "
                f"so it is not counted. Reply \\AMOUNT {number} if it was spent for the room.",
                f"Saved to {room_name}; a payment, not a receipt: not counted. \\AMOUNT {number} if it is one.",
            ]
        payer, you = ledger.name(party), ledger.name(sender)
        return [
            f"Saved to {room_name}; it looks like {payer} paid you, not shared spending, so it is not "
            f"counted. {payer} can send \\PAID {you} {number} to record it.",
            f"Saved to {room_name}; {payer} paid you: not counted. {payer} can send \\PAID {you} {number}.",
            f"Saved to {room_name}; a payment to you, not counted. {payer} can send \\PAID.",
        ]
    if party is None:
        return [
            f"Saved to {room_name}; it looks like a payment to {printed[:NAME_MAX]}, not a receipt, so it is "
            f"not counted. Reply \\AMOUNT {number} if it was spent for the room.",
            f"Saved to {room_name}; a payment, not a receipt: not counted. \\AMOUNT {number} if it is one.",
        ]
    name = ledger.name(party)
    return [
        f"Saved to {room_name}; it looks like a payment to {name}, not shared spending, so it is not "
        f"counted. Reply \\PAID {name} {number} to record it.",
        f"Saved to {room_name}; a payment to {name}, not counted. Reply \\PAID {name} {number} to record it.",
        f"Saved to {room_name}; a payment, not counted. \\PAID {name} {number} records it.",
    ]


def _fmt(r: ReceiptAmount) -> str:
    assert r.amount_minor is not None
    return shown(r.amount_minor, r.currency or "")


def _repeat(
    twin: ReceiptAmount | None,
    cur: Currency,
    ask: str,
    caption: Amount | None = None,
    zone: dt.tzinfo = dt.UTC,
) -> tuple[str, str]:
    """(`the receipt saved Nov 24 ($12.00)`, the `\\AMOUNT` that counts the repeat anyway: the
    figure its caption gave in the room's currency, else `ask` when its caption gave one in
    another, else the earlier one's when it was in the room's currency, else `ask`, one to fill
    in, as for any other)."""
    earlier, count = _repeat_of_twin(twin, cur, ask, zone)
    if caption is not None and caption.currency.code == cur.code:
        count = f"\\AMOUNT {cur.number(caption.minor)}"  # what the person typed, not 12.34
    elif caption is not None:
        # a caption in another currency (`dinner 47.30 EUR`): the earlier receipt's $14.50 was
        # offered, which contradicts what the person just typed; a figure to fill in, as for a
        # receipt read in another currency
        count = ask
    return earlier, count


def _repeat_of_twin(twin: ReceiptAmount | None, cur: Currency, ask: str, zone: dt.tzinfo) -> tuple[str, str]:
    if twin is None:
        return "an earlier receipt", ask
    # the day in the room's zone (its statement's): in UTC a Tokyo morning's receipt was "saved"
    # the day before
    day = dt.datetime.fromtimestamp(twin.created_at, zone).strftime("%b %d").replace(" 0", " ")
    if twin.amount_minor:
        earlier = f"the receipt saved {day} ({_fmt(twin)})"
        if (twin.currency or cur.code) == cur.code:
            return earlier, f"\\AMOUNT {cur.number(twin.amount_minor)}"
        return earlier, ask  # a figure in another currency would count as the room's
    return f"the receipt saved {day}", ask


def saved_replies(
    room_name: str,
    items: list[ReceiptAmount],
    ledger: RoomLedger,
    sender: int,
    twins: Mapping[str, ReceiptAmount] | None = None,
    caption: Amount | None = None,
    zone: dt.tzinfo = dt.UTC,
    sharing: Sequence[int | None] | None = None,
    *,
    offered: Amount | None = None,
    switch: bool = False,
    unclear: tuple[int, str] | None = None,
    payment: Payment | None = None,
) -> list[str]:
    """The reply to saved receipts, richest first, then shorter forms for when it (and what is
    said about photos that were not saved) would not fit one segment.

    `Saved $23.17 to house: split 3 ways, you are owed $15.45. \\BALANCE for all.`; the shapes
    for no total, another currency, a repeat of an earlier receipt (`twins`: those earlier ones
    by id; `caption`: the amount its caption gave, for the `\\AMOUNT` that counts a repeat
    anyway), and several photos (one reply sums them up). `sharing`: who shares them (those in
    the room when they were sent, or whom a `\\SPLIT` named; None: its members now). `offered`:
    the figure a lone photo's caption gave with no amount in it (`dinner 30`), what the reply
    to a photo with no total found offers to set. `switch`: nothing counts in the room's currency
    yet, so `\\CURRENCY` may still change it (a Mumbai flat's first receipt in rupees, in a room
    made in USD, the default: offered only `\\AMOUNT 12.34` in dollars). `unclear`: a lone
    photo's total read with no money of its own beside another money's tax, or that may have its
    thousands grouped by a space (`Found.unclear`).
    `payment`: a lone photo is a payment app's screenshot (`Found.payment`)."""
    cur = ledger.currency
    ask = f"\\AMOUNT {cur.example}"  # 12.34, or 1234 where the currency has no decimals
    status = [receipt_status(r, cur.code) for r in items]

    def having(wanted: str) -> list[ReceiptAmount]:
        return [r for r, s in zip(items, status, strict=True) if s == wanted]

    counted, foreign = having("counted"), having("other currency")
    repeats, others, missing = having("duplicate"), having("not a receipt"), having("needs an amount")
    shared = list(ledger.member_ids) if sharing is None else list(sharing)
    position = position_phrase(ledger.position(sender), cur)
    if len(shared) > 1:
        split = f"split {len(shared)} ways, {position}"
    elif shared in ([], [sender]):
        split = f"you are its only member, {position}"
    else:  # one other member's, as a \\SPLIT said
        split = position
    if len(items) == 1:
        if counted:
            return [
                f"Saved {_fmt(counted[0])} to {room_name}: {split}. \\BALANCE for all.",
                f"Saved {_fmt(counted[0])} to {room_name}: {position}.",
            ]
        if foreign:
            theirs = foreign[0].currency
            switching = (
                [
                    f"Saved to {room_name}; not counted: {_fmt(foreign[0])} in a {cur.code} room. "
                    f"Reply \\CURRENCY {theirs} to count {room_name} in {theirs}, or {ask} in {cur.code}."
                ]
                if switch and theirs
                else []
            )
            # at a rate, which travellers need (a figure of their own in the room's money was all
            # that was offered: the yen worked out by hand); the rate's way round said, as
            # `\\AMOUNT 678 JPY @150` stored $101,700.00
            at_rate = (
                [
                    f"Saved to {room_name}; not counted: {_fmt(foreign[0])} in a {cur.code} room. "
                    f"Reply {rate_form(foreign[0], theirs, cur)} to count it, or {ask} in {cur.code}."
                ]
                if theirs and foreign[0].amount_minor is not None
                else []
            )
            return [
                *switching,
                *at_rate,
                f"Saved to {room_name}; not counted: {_fmt(foreign[0])} in a {cur.code} room. "
                f"Reply {ask} to count it in {cur.code}.",
                f"Saved to {room_name}; not counted: {_fmt(foreign[0])} in a {cur.code} room.",
            ]
        if repeats:
            twin = (twins or {}).get(repeats[0].duplicate_of or "")
            earlier, count = _repeat(twin, cur, ask, caption, zone)
            # a repeat of the sender's own receipt with no total: \\AMOUNT sets it, and the repeat
            # takes its place (storage.receipts.take_over)
            if twin is not None and twin.amount_minor is None and twin.uploader_id == sender:
                return [
                    f"Saved to {room_name}; it repeats {earlier}, which has no total yet. Reply {ask} to set it.",
                    f"Saved to {room_name}; it repeats {earlier}. Reply {ask} to set its total.",
                    f"Saved to {room_name}; it repeats an earlier receipt with no total.",
                ]
            return [
                f"Saved to {room_name}; not counted: it repeats {earlier}. Reply {count} to count it anyway.",
                f"Saved to {room_name}; not counted: it repeats {earlier}.",
                f"Saved to {room_name}; not counted: it repeats an earlier receipt.",
            ]
        if others and payment is not None:
            return payment_replies(room_name, payment, ledger, sender)
        if others:
            return [
                f"Saved to {room_name}; it doesn't look like a receipt, so it is not counted. "
                f"Reply {ask} if it is.",
                f"Saved to {room_name}; not a receipt, not counted. {ask} if it is.",
            ]
        if missing and unclear is not None and unclear[1] == DECIMAL_COMMA:
            number = cur.number(unclear[0])
            printed = number.replace(".", ",")
            as_own, as_other = f"\\AMOUNT {number}", f"\\AMOUNT {number} EUR @rate"
            return [
                f"Saved to {room_name}; not counted: {printed} in which money? It has a decimal comma. "
                f"Reply {as_other} ({cur.code} for 1 EUR), or {as_own} if it is {cur.code}.",
                f"Saved to {room_name}; not counted: {printed} in which money? "
                f"Reply {as_other}, or {as_own} if it is {cur.code}.",
                f"Saved to {room_name}; not counted: {printed} in which money?",
            ]
        if missing and unclear is not None and unclear[1] == GROUPED:
            thousands = 10 ** (3 + cur.exponent)
            both = [f"\\AMOUNT {cur.number(minor)}" for minor in (unclear[0], unclear[0] % thousands)]
            return [
                f"Saved to {room_name}; not counted: is its total {cur.format(unclear[0])}, or "
                f"{cur.format(unclear[0] % thousands)} after a count? Reply {both[0]} or {both[1]}.",
                f"Saved to {room_name}; not counted: {cur.format(unclear[0])}? Reply {both[0]} or {both[1]}.",
                f"Saved to {room_name}; no total found. Reply {ask} to set it.",
            ]
        if missing and unclear is not None and unclear[1] == KRONA:
            number = currency_or_default("SEK").number(unclear[0])  # read in kronor's decimals
            as_other = f"\\AMOUNT {number} SEK @rate"
            return [
                f"Saved to {room_name}; not counted: {number} kr in which money? Reply {as_other} "
                f"({cur.code} for 1 SEK), or with NOK or DKK if it is theirs.",
                f"Saved to {room_name}; not counted: {number} kr in which money? Reply {as_other}, or NOK or DKK.",
                f"Saved to {room_name}; not counted: {number} kr in which money?",
            ]
        if missing and unclear is not None:
            number, tax = cur.number(unclear[0]), unclear[1]
            example = next((code for code in tax_money(tax) if code != cur.code), "EUR")
            as_own, as_other = f"\\AMOUNT {number}", f"\\AMOUNT {number} {example} @rate"
            return [
                f"Saved to {room_name}; not counted: {number} in which money? It names {tax}, not a "
                f"{cur.code} tax. Reply {as_other} ({cur.code} for 1 {example}), or {as_own} if it is {cur.code}.",
                f"Saved to {room_name}; not counted: {number} in which money (it names {tax})? "
                f"Reply {as_other}, or {as_own} if it is {cur.code}.",
                f"Saved to {room_name}; not counted: {number} in which money? It names {tax}.",
            ]
        if missing:
            offer = f"\\AMOUNT {cur.number(offered.minor)}" if offered is not None else ask
            return [f"Saved to {room_name}; no total found. Reply {offer} to set it."]
        return [f"Saved to {room_name}."]
    head = f"Saved {len(items)} receipts to {room_name}"
    total = cur.format(sum(r.amount_minor or 0 for r in counted))
    photos = ", ".join(str(r.media_index + 1) for r in missing)
    s = "s" if len(missing) > 1 else ""
    full = f"{head}, {total} in all: {split}." if counted else f"{head}."
    compact = f"{head}, {total} in all: {position}." if counted else f"{head}."
    if missing:
        full += f" No total on photo{s} {photos}: reply {ask} for each, in order."
        compact += f" No total on {len(missing)} photo{s}: reply {ask} for each."
    if foreign:
        full += f" Not counted: {', '.join(_fmt(r) for r in foreign)} in a {cur.code} room."
        compact += f" {len(foreign)} in another currency not counted."
    if others:
        numbers = ", ".join(str(r.media_index + 1) for r in others)
        many = len(others) > 1
        full += f" Photo{'s' if many else ''} {numbers} {'do' if many else 'does'}n't look like a receipt: not counted."
        if not missing and not repeats:  # then \\AMOUNT goes to them, in order (storage.ledger.amount_target)
            full += f" Reply {ask} for each, in order, if they are." if many else f" Reply {ask} if it is."
        compact += f" {len(others)} not receipt{'s' if many else ''}."
    if repeats:
        numbers = ", ".join(str(r.media_index + 1) for r in repeats)
        s = "s" if len(repeats) > 1 else ""
        full += f" Photo{s} {numbers} repeat{'' if s else 's'} earlier receipts: not counted."
        compact += f" {len(repeats)} repeat{s} not counted."
    if counted and not missing and not foreign and not repeats and not others:
        full += " \\BALANCE for all."
    minimal = f"{head}." + (f" Some need {ask}." if missing else "")
    if not counted:
        return [full, compact, minimal]
    # what was counted outlasts the details: with photos that were not saved besides, the
    # minimal form alone ("Saved 4 receipts to house. Some need ...") fitted, and the person
    # never learnt how much was added
    uncounted = len(foreign) + len(others) + len(repeats)
    brief = f"{head}, {total} in all." + (f" Some need {ask}." if missing else "")
    brief += f" {uncounted} not counted." if uncounted else ""
    return [full, compact, brief, minimal]


def saved_reply(
    room_name: str,
    items: list[ReceiptAmount],
    ledger: RoomLedger,
    sender: int,
    *,
    fits: FitsOne,
    twins: Mapping[str, ReceiptAmount] | None = None,
) -> str:
    """The richest form of `saved_replies` that fits one message (`fits`: the channel's rule)."""
    forms = saved_replies(room_name, items, ledger, sender, twins)
    return next((f for f in forms if fits(f)), forms[-1])


__all__ = ["DUPLICATE", "Found", "read_amount", "saved_replies", "saved_reply"]
