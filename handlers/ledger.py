"""Splitting the bill: `\\NAME`, `\\AMOUNT`, `\\BALANCE`, `\\PAID`, `\\CURRENCY` (issue 12).

Balances are never stored: every answer computes the room's ledger from its receipts and
payments (bot/features/ledger/book.py). `\\PAID` is recorded once per inbound message, and the member who
was paid gets one SMS saying so.
"""

from __future__ import annotations

from bot.features.ledger.book import (
    NAME_MAX,
    RoomLedger,
    balance_line,
    name_key,
    position_phrase,
    room_ledger,
    valid_name,
)
from bot.features.ledger.money import Currency, currency, currency_or_default, parse_amount
from bot.features.ledger.split import split_order
from bot.pipeline.dispatch import Context, HandlerResult, Inbound, Router
from handlers.filters import active_room, room_named_or_active, room_of
from storage import ledger, outbox

router = Router(name=__name__)

NAME_RULES = f"A name is 1-{NAME_MAX} letters and digits, with single spaces. Usage: \\NAME <name>"
PAID_USAGE = "\\PAID <name> <amount>"


@router.command("NAME", args=(1, 10), usage="\\NAME <name>")
async def name(msg: Inbound, ctx: Context) -> HandlerResult:
    wanted = " ".join(ctx.args)
    if not valid_name(wanted):
        return NAME_RULES
    user_id = ctx.user.id
    async with ctx.deps.db.tx() as conn:
        clash = await ledger.name_taken_in(conn, user_id, name_key(wanted))
        if clash is not None:
            return f"Someone in {clash} goes by {wanted} already. Pick another name."
        await ledger.set_name(conn, user_id, wanted, name_key(wanted))
    ctx.log.info("ledger.named")
    return f"Your rooms now see you as {wanted}."


@router.command("BALANCE", args=(0, 1), usage="\\BALANCE [<room>]", resolve=(room_named_or_active,))
async def balance(msg: Inbound, ctx: Context) -> HandlerResult:
    room = room_of(ctx)
    async with ctx.deps.db.read() as conn:
        book = await room_ledger(conn, room.id)
    return balance_line(room.name, book, fits=ctx.deps.services.fits(msg.sender.channel))


AMOUNT_USAGE = "Usage: \\AMOUNT 12.34 (0 takes the receipt out of the ledger)"


def amount_reply(room_name: str, book: RoomLedger, user_id: int, minor: int, cur: Currency) -> str:
    """After `\\AMOUNT`: the amount set (or the receipt taken out) and where the sender stands."""
    position = position_phrase(book.position(user_id), book.currency)
    if minor == 0:
        return f"Your receipt is out of the ledger of {room_name}: {position}. \\BALANCE for all."
    shown = cur.format(minor)
    if cur != book.currency:
        return f"Set {shown} on your receipt in {room_name}; not counted: {shown} in a {book.currency.code} room."
    return f"Set {shown} on your receipt in {room_name}: {position}. \\BALANCE for all."


def paid_notice(payer_name: str, minor: int, cur: Currency, room_name: str) -> str:
    """The one SMS to the member who was paid."""
    return f"{payer_name} paid you {cur.format(minor)} in {room_name}. \\BALANCE {room_name} for all."


@router.command("AMOUNT", args=(1, 2), usage="\\AMOUNT <amount>", resolve=(active_room,))
async def amount(msg: Inbound, ctx: Context) -> HandlerResult:
    user_id, room = ctx.user.id, room_of(ctx)
    async with ctx.deps.db.tx() as conn:
        room_cur = currency_or_default(await ledger.room_currency(conn, room.id))
        text = " ".join(ctx.args)
        value = parse_amount(text, room_cur)
        if value is None and text.strip() in ("0", "0.00", "0,00"):
            minor, code = 0, room_cur.code
        elif value is None:
            return AMOUNT_USAGE
        else:
            minor, code = value.minor, value.currency.code
        target = await ledger.amount_target(conn, user_id, room.id, msg.external_id)
        if target is None:
            return f"You have no receipts in {room.name} yet. Send a photo of one first."
        await ledger.set_amount(
            conn, target.id, minor=minor, currency=code, source="manual", by_message=msg.external_id
        )
        if not await ledger.split_members(conn, target.id):  # saved before the ledger existed
            member_ids = [m.user_id for m in await ledger.members(conn, room.id)]
            await ledger.save_split_members(conn, target.id, split_order(user_id, member_ids))
        book = await room_ledger(conn, room.id)
    ctx.log.info("ledger.amount_set", receipt_id=target.id, room_id=room.id, counted=code == room_cur.code)
    return amount_reply(room.name, book, user_id, minor, currency_or_default(code))


def _find_member(book: RoomLedger, wanted: str, user_id: int) -> int | str | None:
    """A member, or someone who left with something still on the books (by `\\LEAVE`, or by
    `\\STOP`: the name they had), by the name `\\BALANCE` shows (any case), that name without its
    "(...)" note, their masked number or last digits; else a reply. A whole name shown beats a
    partial match."""
    key = name_key(wanted)
    digits = wanted.lstrip("+").replace("*", "")
    parties = list(book.member_ids) + [p for p in book.net if p is not None and p not in book.member_ids]
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
                and (("*" in shown and shown.endswith(digits[-4:])) or shown.endswith(f"({digits[-4:]})"))
            )
        ):
            matches.append(party)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        return f"More than one member goes by {wanted[:NAME_MAX]}: use their last 4 digits."
    return None


@router.command("PAID", args=(2, 11), usage=PAID_USAGE, resolve=(active_room,))
async def paid(msg: Inbound, ctx: Context) -> HandlerResult:
    *who_words, amount_text = ctx.args
    who = " ".join(who_words)
    user_id, room = ctx.user.id, room_of(ctx)
    async with ctx.deps.db.tx() as conn:
        book = await room_ledger(conn, room.id)
        value = parse_amount(amount_text, book.currency)
        if value is None:
            return f"Usage: {PAID_USAGE}, e.g. \\PAID Alice 7.72"
        if value.currency != book.currency:
            return f"{room.name} counts in {book.currency.code}: send the amount in {book.currency.code}."
        payee = _find_member(book, who, user_id)
        if isinstance(payee, str):
            return payee
        if payee is None:
            return f"No one in {room.name} goes by {who[:NAME_MAX]}. \\BALANCE shows the names."
        if payee == user_id:
            return "You cannot pay yourself."
        recorded = await ledger.add_payment(
            conn,
            room_id=room.id,
            payer_id=user_id,
            payee_id=payee,
            minor=value.minor,
            currency=book.currency.code,
            message_sid=msg.external_id,
            now=ctx.deps.now(),
        )
        book = await room_ledger(conn, room.id)
        payee_phone = (await ledger.people(conn, {payee}))[payee].phone
        if recorded and payee not in book.formers:  # a member who left by \\STOP has no number
            await outbox.enqueue(
                conn,
                to=payee_phone,
                body=paid_notice(book.name(user_id), value.minor, book.currency, room.name),
                dedupe_key=f"{msg.external_id}:paid",
                kind="paid",
                inbox_id=msg.id,
                now=ctx.deps.now(),
            )
    if recorded:
        ctx.deps.wake_sender()
    ctx.log.info("ledger.paid", room_id=room.id, recorded=recorded)
    return balance_line(room.name, book, fits=ctx.deps.services.fits(msg.sender.channel))


@router.command("CURRENCY", args=(0, 1), usage="\\CURRENCY <code>", resolve=(active_room,))
async def set_currency(msg: Inbound, ctx: Context) -> HandlerResult:
    room = room_of(ctx)
    async with ctx.deps.db.tx() as conn:
        current = currency_or_default(await ledger.room_currency(conn, room.id))
        if not ctx.args:
            return f"{room.name} counts in {current.code}. Change it with \\CURRENCY <code> before the first amount."
        wanted = currency(ctx.args[0])
        if wanted is None:
            return f"{ctx.args[0][:8]} is not an ISO 4217 currency code (USD, EUR, GBP, ...)."
        if wanted == current:
            return f"{room.name} counts in {current.code} already."
        if await ledger.has_entries(conn, room.id):
            return f"{room.name} has amounts in {current.code} already; its currency cannot change now."
        await ledger.set_room_currency(conn, room.id, wanted.code)
    ctx.log.info("ledger.currency_set", room_id=room.id, currency=wanted.code)
    shown = f" ({wanted.symbol})" if wanted.symbol else ""
    return f"{room.name} counts in {wanted.code}{shown} now."
