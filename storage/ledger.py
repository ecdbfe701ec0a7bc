"""The ledger's rows: receipt amounts, who shares each receipt, payments, names, room currencies.

Nothing here keeps a balance: `room_book` reads the receipts and payments of a room and the
caller computes positions with bot/features/ledger/split.py. Every statement is SQLAlchemy Core that runs
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import insert_ignore
from storage.schema import (
    addresses,
    memberships,
    payments,
    receipt_members,
    receipts,
    room_departures,
    rooms,
    users,
)


@dataclass(frozen=True)
class Member:
    user_id: int
    name: str | None
    phone: str
    label: str | None = None  # the name the channel gives their first address (Telegram's first name)


# -- one writer a room ------------------------------------------------------------------------------


async def lock_rooms(conn: AsyncConnection, room_ids: Iterable[str]) -> None:
    """Hold these rooms' rows until the transaction ends, for what reads a room and then writes by
    it (its currency, its members' names, its receipts' repeats): on PostgreSQL `FOR NO KEY
    UPDATE`, in id order, so two such transactions of one room run one after the other and never
    wait on each other in a circle, while rows that only refer to the room (a membership, a
    message) are written meanwhile; SQLite's writers queue already (it has no such clause)."""
    ids = sorted(set(room_ids))
    if ids:
        query = sa.select(rooms.c.id).where(rooms.c.id.in_(ids)).order_by(rooms.c.id)
        await conn.execute(query.with_for_update(key_share=True))


def _people() -> sa.Subquery:
    """(user_id, room_id) of every room's members and of those who left it (`\\LEAVE`): who a
    room still shows by name."""
    return sa.union(
        sa.select(memberships.c.user_id, memberships.c.room_id),
        sa.select(room_departures.c.user_id, room_departures.c.room_id),
    ).subquery()


async def lock_rooms_of(conn: AsyncConnection, user_id: int) -> None:
    """`lock_rooms` of every room the user is in or left (`name_taken_in` reads their names)."""
    people = _people()
    mine = await conn.execute(sa.select(people.c.room_id).where(people.c.user_id == user_id))
    await lock_rooms(conn, [str(room_id) for (room_id,) in mine])


# -- names ------------------------------------------------------------------------------------------


async def name_taken_in(conn: AsyncConnection, user_id: int, name_key: str) -> str | None:
    """The name of one of the user's rooms where another person goes by this name, or None. A
    room someone left (`\\LEAVE`) still shows them by their name (its balance, payments and
    receipts), so it counts for them, and they for it, as for its members."""
    people = _people()
    mine = sa.select(people.c.room_id).where(people.c.user_id == user_id)
    row = (
        await conn.execute(
            sa.select(rooms.c.name)
            .join(people, people.c.room_id == rooms.c.id)
            .join(users, users.c.id == people.c.user_id)
            .where(rooms.c.id.in_(mine), users.c.id != user_id, users.c.name_key == name_key)
            .order_by(rooms.c.name_key)
            .limit(1)
        )
    ).first()
    return str(row.name) if row else None


async def unnamed_beside(conn: AsyncConnection, user_id: int) -> list[tuple[str, Member]]:
    """(room name, person) of the others in the user's rooms (members, and those who left one)
    who have no `\\NAME`: the rooms show them by the name their channel gives them (Telegram's
    first name), which `name_taken_in` does not see."""
    people = _people()
    mine = sa.select(people.c.room_id).where(people.c.user_id == user_id)
    rows = (
        await conn.execute(
            sa.select(rooms.c.name.label("room"), users.c.id, users.c.name, users.c.phone, addresses.c.label)
            .join(people, people.c.room_id == rooms.c.id)
            .join(users, users.c.id == people.c.user_id)
            .outerjoin(addresses, addresses.c.address == users.c.phone)
            .where(
                rooms.c.id.in_(mine),
                users.c.id != user_id,
                users.c.name.is_(None),
                addresses.c.label.is_not(None),
            )
            .order_by(rooms.c.name_key)
        )
    ).all()
    return [(str(r.room), Member(int(r.id), r.name, str(r.phone), r.label)) for r in rows]


async def set_name(conn: AsyncConnection, user_id: int, name: str, name_key: str) -> None:
    await conn.execute(sa.update(users).where(users.c.id == user_id).values(name=name, name_key=name_key))


async def people(conn: AsyncConnection, user_ids: set[int]) -> dict[int, Member]:
    if not user_ids:
        return {}
    rows = (await conn.execute(_PEOPLE.where(users.c.id.in_(user_ids)))).all()
    return {int(r.id): Member(int(r.id), r.name, str(r.phone), r.label) for r in rows}


# a person with the label of their first address (users.phone), when the channel gave one
_PEOPLE = sa.select(users.c.id, users.c.name, users.c.phone, addresses.c.label).select_from(
    users.outerjoin(addresses, addresses.c.address == users.c.phone)
)


# A member who left by `\\STOP` keeps their place in the ledgers they are on: before their user row
# goes, a former-member row takes their receipts, shares and payments over. It has no number (its
# `phone` is this prefix and a random id, which no address can match, and it is opted out), no
# rooms and no tokens; only the name its rooms knew (`\\NAME`, else the masked number), so a debt
# with them can still be named in `\\BALANCE` and settled with `\\PAID`. Left by `\\STOP`, the id
# starts with a keyed tag of the address (`former:<tag>.<random>`, bot/gateway/links.py,
# former_tag): the address cannot be read from it, but `textwire person delete` given the address
# finds what they left in their rooms (their photos, at their request).
FORMER_PREFIX = "former:"


def former_phone(tag: str | None = None) -> str:
    """A former member's `phone`: 28 or 23 characters (the column takes 32)."""
    return FORMER_PREFIX + (f"{tag}.{secrets.token_hex(4)}" if tag else secrets.token_hex(8))


def is_former(member: Member) -> bool:
    return member.phone.startswith(FORMER_PREFIX)


async def keep_former(
    conn: AsyncConnection, user_id: int, shown: str, now: float, tag: str | None = None
) -> int | None:
    """Hand the user's ledger entries to a new former-member row named as their rooms saw them
    (their `\\NAME`, else `shown`: their Telegram first name or their masked number); its id, or
    None when the user is on no ledger (then nothing is kept). `tag`: the address's keyed tag."""
    on_books = sa.or_(
        sa.exists().where(receipts.c.uploader_id == user_id),
        sa.exists().where(receipt_members.c.user_id == user_id),
        sa.exists().where(sa.or_(payments.c.payer_id == user_id, payments.c.payee_id == user_id)),
    )
    if not (await conn.execute(sa.select(on_books))).scalar_one():
        return None
    name = (await conn.execute(sa.select(users.c.name).where(users.c.id == user_id))).scalar_one_or_none()
    shown = str(name or shown)
    former = (
        await conn.execute(
            sa.insert(users)
            .values(
                phone=former_phone(tag),
                created_at=now,
                opted_out=True,
                opted_out_at=now,
                name=shown[:20],
            )
            .returning(users.c.id)
        )
    ).scalar_one()
    await conn.execute(
        sa.update(receipts).where(receipts.c.uploader_id == user_id).values(uploader_id=former)
    )
    await conn.execute(
        sa.update(receipt_members).where(receipt_members.c.user_id == user_id).values(user_id=former)
    )
    await conn.execute(sa.update(payments).where(payments.c.payer_id == user_id).values(payer_id=former))
    await conn.execute(sa.update(payments).where(payments.c.payee_id == user_id).values(payee_id=former))
    return int(former)


async def members(conn: AsyncConnection, room_id: str, joined_by: float | None = None) -> list[Member]:
    """The room's members by when they joined (then by id): the order of leftover cents.
    `joined_by`: those in the room at that moment (who share a receipt sent then): the members
    who had joined by then, and after them those who have left since (`\\LEAVE`, by when they
    left). A photo still being read, or parked while the media store was down, when a member left
    was split without them, their share of a dinner they had falling on the others. A departure
    keeps no join time: one who joined and left again while the photo waited counts as there."""
    joined = [memberships.c.joined_at <= joined_by] if joined_by is not None else []
    rows = (
        await conn.execute(
            _PEOPLE.join(memberships, memberships.c.user_id == users.c.id)
            .where(memberships.c.room_id == room_id, *joined)
            .order_by(memberships.c.joined_at, users.c.id)
        )
    ).all()
    found = [Member(int(r.id), r.name, str(r.phone), r.label) for r in rows]
    if joined_by is None:
        return found
    left = (
        await conn.execute(
            _PEOPLE.join(room_departures, room_departures.c.user_id == users.c.id)
            .where(room_departures.c.room_id == room_id, room_departures.c.left_at > joined_by)
            .order_by(room_departures.c.left_at, users.c.id)
        )
    ).all()
    ids = {m.user_id for m in found}
    return found + [Member(int(r.id), r.name, str(r.phone), r.label) for r in left if int(r.id) not in ids]


# -- reminders -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reminding:
    """A room's reminder settings, and the address of its creator (for its default zone)."""

    room_id: str
    name: str
    remind: str | None
    timezone: str | None
    reminded_period: str | None
    creator_phone: str | None


_REMINDING = sa.select(
    rooms.c.id, rooms.c.name, rooms.c.remind, rooms.c.timezone, rooms.c.reminded_period, users.c.phone
).select_from(rooms.outerjoin(users, users.c.id == rooms.c.created_by))


def _reminding(r: Any) -> Reminding:
    return Reminding(str(r.id), str(r.name), r.remind, r.timezone, r.reminded_period, r.phone)


async def reminding(conn: AsyncConnection, room_id: str) -> Reminding | None:
    row = (await conn.execute(_REMINDING.where(rooms.c.id == room_id))).first()
    return _reminding(row) if row else None


async def rooms_reminding(conn: AsyncConnection) -> list[Reminding]:
    """Every room with reminders on."""
    return [_reminding(r) for r in (await conn.execute(_REMINDING.where(rooms.c.remind.is_not(None)))).all()]


async def set_remind(conn: AsyncConnection, room_id: str, remind: str | None, period: str | None) -> None:
    """Reminders on (`period`: the one counted as done) or off (None; `period`: the one reminded
    last, kept)."""
    await conn.execute(
        sa.update(rooms).where(rooms.c.id == room_id).values(remind=remind, reminded_period=period)
    )


async def set_timezone(conn: AsyncConnection, room_id: str, zone: str) -> None:
    await conn.execute(sa.update(rooms).where(rooms.c.id == room_id).values(timezone=zone))


async def claim_period(conn: AsyncConnection, room: Reminding, period: str) -> bool:
    """Take a period's reminders for this room: True for the one transaction that moved it, from
    the period `room` was read with, its reminders still of that kind. A `\\REMIND monthly` sent
    while a Monday's reminders were being added up set the month as done; the claim then put the
    week in its place, and the month's reminders went ten minutes after the week's."""
    result = await conn.execute(
        sa.update(rooms)
        .where(
            rooms.c.id == room.room_id,
            rooms.c.remind == room.remind,
            rooms.c.reminded_period.is_(None)
            if room.reminded_period is None
            else rooms.c.reminded_period == room.reminded_period,
            sa.or_(rooms.c.reminded_period.is_(None), rooms.c.reminded_period != period),
        )
        .values(reminded_period=period)
    )
    return bool(result.rowcount == 1)


# -- currencies -------------------------------------------------------------------------------------


async def room_currency(conn: AsyncConnection, room_id: str) -> str:
    value = (
        await conn.execute(sa.select(rooms.c.currency).where(rooms.c.id == room_id))
    ).scalar_one_or_none()
    return str(value or "USD")


async def set_room_currency(conn: AsyncConnection, room_id: str, code: str) -> None:
    await conn.execute(sa.update(rooms).where(rooms.c.id == room_id).values(currency=code))


async def has_entries(conn: AsyncConnection, room_id: str, currency: str) -> bool:
    """Whether the room's books count anything in `currency` (its currency): an amount on a
    receipt (`room_book` counts each one, a repeat counted anyway with \\AMOUNT too), or a
    payment. A receipt in another currency is not counted, so it does not hold the currency
    where it is (the trip whose first receipt was in euros before anyone sent \\CURRENCY EUR:
    the switch counts it)."""
    receipt = (
        await conn.execute(
            sa.select(receipts.c.id)
            .where(
                receipts.c.room_id == room_id,
                receipts.c.amount_minor > 0,
                receipts.c.currency == currency,
            )
            .limit(1)
        )
    ).first()
    if receipt is not None:
        return True
    payment = (
        await conn.execute(
            sa.select(payments.c.id)
            .where(payments.c.room_id == room_id, payments.c.currency == currency)
            .limit(1)
        )
    ).first()
    return payment is not None


# -- receipts ---------------------------------------------------------------------------------------


async def set_amount(
    conn: AsyncConnection,
    receipt_id: str,
    *,
    minor: int | None,
    currency: str | None,
    source: str | None,
    ocr_status: str | None = None,
    by_message: str | None = None,
    original: tuple[int, str, str] | None = None,
) -> None:
    """The receipt's amount; `original`: what it was converted from, (minor units, currency, the
    rate as typed) of `\\AMOUNT 678 JPY @0.006667`. Any other amount set clears what a rate left."""
    from_minor, from_currency, rate = original if original is not None else (None, None, None)
    values: dict[str, object] = {
        "amount_minor": minor,
        "currency": currency,
        "amount_source": source,
        "original_minor": from_minor,
        "original_currency": from_currency,
        "original_rate": rate,
    }
    if by_message is not None:
        values["amount_message_sid"] = by_message
    if ocr_status is not None:
        values["ocr_status"] = ocr_status
    await conn.execute(sa.update(receipts).where(receipts.c.id == receipt_id).values(**values))


async def split_members(conn: AsyncConnection, receipt_id: str) -> list[int | None]:
    rows = (
        await conn.execute(
            sa.select(receipt_members.c.user_id)
            .where(receipt_members.c.receipt_id == receipt_id)
            .order_by(receipt_members.c.position)
        )
    ).all()
    return [None if r.user_id is None else int(r.user_id) for r in rows]


async def still_members(conn: AsyncConnection, room_id: str, user_ids: set[int]) -> set[int]:
    """Which of `user_ids` are the room's members now, their memberships held (PostgreSQL `FOR
    SHARE`) until the transaction ends: a `\\LEAVE` meanwhile waits for what is written by them."""
    query = (
        sa.select(memberships.c.user_id)
        .where(memberships.c.room_id == room_id, memberships.c.user_id.in_(sorted(user_ids)))
        .with_for_update(read=True)
    )
    return {int(row.user_id) for row in await conn.execute(query)}


async def set_split(conn: AsyncConnection, receipt_id: str, weighted: list[tuple[int, int]]) -> None:
    r"""`\SPLIT`: who shares the receipt and each one's weight, in the order leftover cents go;
    replaces the split it had."""
    await conn.execute(sa.delete(receipt_members).where(receipt_members.c.receipt_id == receipt_id))
    await conn.execute(
        sa.insert(receipt_members),
        [
            {"receipt_id": receipt_id, "position": position, "user_id": user_id, "weight": weight}
            for position, (user_id, weight) in enumerate(weighted)
        ],
    )


async def leftover_turn(conn: AsyncConnection, room_id: str, receipt_id: str) -> int:
    """Where a receipt's leftover cents start among the room's members: the number of the room's
    other receipts, so each receipt starts one further along (see split_order)."""
    count = await conn.scalar(
        sa.select(sa.func.count())
        .select_from(receipts)
        .where(receipts.c.room_id == room_id, receipts.c.id != receipt_id)
    )
    return int(count or 0)


async def save_split_members(conn: AsyncConnection, receipt_id: str, ordered: list[int]) -> None:
    """Who shares the receipt, in the order leftover cents go; kept once (a retry is a no-op)."""
    for position, user_id in enumerate(ordered):
        await conn.execute(
            insert_ignore(conn, receipt_members).values(
                receipt_id=receipt_id, position=position, user_id=user_id
            )
        )


@dataclass(frozen=True)
class ReceiptAmount:
    id: str
    room_id: str
    uploader_id: int | None
    message_sid: str
    media_index: int
    amount_minor: int | None
    currency: str | None
    ocr_status: str | None
    created_at: float
    duplicate_of: str | None = None  # the earlier receipt of the room it repeats


# the ocr_status of a photo that is no receipt (an OCR Reading's status, bot/features/ocr/total.py)
NOT_RECEIPT = "not_receipt"


def _receipt(row: Any) -> ReceiptAmount:
    return ReceiptAmount(
        id=str(row.id),
        room_id=str(row.room_id),
        uploader_id=None if row.uploader_id is None else int(str(row.uploader_id)),
        message_sid=str(row.message_sid),
        media_index=int(str(row.media_index)),
        amount_minor=None if row.amount_minor is None else int(str(row.amount_minor)),
        currency=None if row.currency is None else str(row.currency),
        ocr_status=None if row.ocr_status is None else str(row.ocr_status),
        created_at=float(str(row.created_at)),
        duplicate_of=None if row.duplicate_of is None else str(row.duplicate_of),
    )


_RECEIPT_COLUMNS = (
    receipts.c.id,
    receipts.c.room_id,
    receipts.c.uploader_id,
    receipts.c.message_sid,
    receipts.c.media_index,
    receipts.c.amount_minor,
    receipts.c.currency,
    receipts.c.ocr_status,
    receipts.c.created_at,
    receipts.c.duplicate_of,
)


async def by_ids(conn: AsyncConnection, ids: set[str]) -> dict[str, ReceiptAmount]:
    if not ids:
        return {}
    rows = (await conn.execute(sa.select(*_RECEIPT_COLUMNS).where(receipts.c.id.in_(ids)))).all()
    return {str(r.id): _receipt(r) for r in rows}


async def of_message(conn: AsyncConnection, message_sid: str) -> list[ReceiptAmount]:
    rows = (
        await conn.execute(
            sa.select(*_RECEIPT_COLUMNS)
            .where(receipts.c.message_sid == message_sid)
            .order_by(receipts.c.media_index)
        )
    ).all()
    return [_receipt(r) for r in rows]


async def amount_target(
    conn: AsyncConnection,
    user_id: int,
    room_id: str,
    message_sid: str | None = None,
    currency: str | None = None,
) -> ReceiptAmount | None:
    """The receipt `\\AMOUNT` sets: the one this very message set before (it is being handled
    again after a crash), else, of the sender's last message with receipts in this room, the
    first one in `currency` (an amount typed in another currency than the room's, `\\AMOUNT 40
    EUR @1.08`, is for the receipt in euros, not for the next one without an amount), else the
    first one the reply asked an amount for (none yet, neither "not a receipt" nor a repeat),
    else the first one still without an amount (counted anyway, as its reply offered), else its
    last one."""
    if message_sid is not None:
        again = (
            await conn.execute(
                sa.select(*_RECEIPT_COLUMNS).where(
                    receipts.c.amount_message_sid == message_sid, receipts.c.room_id == room_id
                )
            )
        ).first()
        if again is not None:
            return _receipt(again)
    last = (
        await conn.execute(
            sa.select(receipts.c.message_sid)
            .where(receipts.c.uploader_id == user_id, receipts.c.room_id == room_id)
            .order_by(receipts.c.created_at.desc(), receipts.c.media_index.desc())
            .limit(1)
        )
    ).first()
    if last is None:
        return None
    found = [r for r in await of_message(conn, str(last.message_sid)) if r.room_id == room_id]
    in_currency = [r for r in found if currency is not None and r.currency == currency]
    if in_currency:
        return in_currency[0]
    waiting = [r for r in found if r.amount_minor is None]
    asked = [r for r in waiting if r.ocr_status != NOT_RECEIPT and r.duplicate_of is None]
    return asked[0] if asked else waiting[0] if waiting else found[-1]


# -- payments ---------------------------------------------------------------------------------------


async def add_payment(
    conn: AsyncConnection,
    *,
    room_id: str,
    payer_id: int,
    payee_id: int,
    minor: int,
    currency: str,
    message_sid: str,
    now: float,
    again_within: float = 0.0,
) -> tuple[bool, float | None]:
    """Record a payment once per inbound message: (False when it was recorded already, when the
    payer recorded this same payment (payee, amount, currency) by another message within
    `again_within` seconds before, else None). The look back is by ix_payments_room_created."""
    same = (
        payments.c.room_id == room_id,
        payments.c.payer_id == payer_id,
        payments.c.payee_id == payee_id,
        payments.c.amount_minor == minor,
        payments.c.currency == currency,
    )
    before = None
    if again_within > 0:
        before = await conn.scalar(
            sa.select(sa.func.max(payments.c.created_at)).where(
                *same, payments.c.created_at >= now - again_within, payments.c.message_sid != message_sid
            )
        )
    result = await conn.execute(
        insert_ignore(conn, payments).values(
            room_id=room_id,
            payer_id=payer_id,
            payee_id=payee_id,
            amount_minor=minor,
            currency=currency,
            message_sid=message_sid,
            created_at=now,
        )
    )
    return bool(result.rowcount == 1), None if before is None else float(before)


def _weights(found: list[int | None]) -> tuple[int, ...] | None:
    r"""A receipt's `\SPLIT` weights, when it has them on every member (else: equal)."""
    if not found or any(w is None for w in found):
        return None
    return tuple(w for w in found if w is not None)


# -- the room's books -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookReceipt:
    id: str
    payer: int | None
    amount: int
    members: tuple[int | None, ...]
    created_at: float
    weights: tuple[int, ...] | None = None  # \SPLIT's, one a member; None: split equally


@dataclass(frozen=True)
class BookPayment:
    payer: int | None
    payee: int | None
    amount: int
    created_at: float


async def latest_messages(conn: AsyncConnection, room_id: str, uploaders: set[Any]) -> dict[int, set[str]]:
    """Each uploader's last message with receipts in the room (by its receipts' time, as
    `amount_target` finds it; a set, for messages saved in the same instant)."""
    ids = [int(u) for u in uploaders if u is not None]
    if not ids:
        return {}
    mine = sa.and_(receipts.c.room_id == room_id, receipts.c.uploader_id.in_(ids))
    newest = (
        sa.select(receipts.c.uploader_id, sa.func.max(receipts.c.created_at).label("at"))
        .where(mine)
        .group_by(receipts.c.uploader_id)
        .subquery()
    )
    found = await conn.execute(
        sa.select(receipts.c.uploader_id, receipts.c.message_sid)
        .join(
            newest,
            sa.and_(receipts.c.uploader_id == newest.c.uploader_id, receipts.c.created_at == newest.c.at),
        )
        .where(receipts.c.room_id == room_id)
    )
    latest: dict[int, set[str]] = {}
    for uploader, sid in found:
        latest.setdefault(int(uploader), set()).add(str(sid))
    return latest


@dataclass(frozen=True)
class Book:
    receipts: list[BookReceipt]
    payments: list[BookPayment]
    uncounted: int  # receipts with an amount in another currency
    # receipts still waiting for an amount (none read, none typed): not a repeat, not "not a
    # receipt", not taken out with \AMOUNT 0 (bot/features/ledger/view.py: "needs an amount")
    waiting: int = 0
    # each such receipt's (uploader, message): whether its sender's \AMOUNT can still reach it
    waiting_from: tuple[tuple[int | None, str], ...] = ()


def _members_of(text: str | None) -> tuple[tuple[int | None, ...], list[int | None]]:
    """A receipt's members in their stored order, and their weights, from the one string the
    room's read gives it (`_MEMBERS`: "position:user:weight" items, in no set order; a user or
    weight left empty is none). None: no one stored to share it (a receipt from before)."""
    if not text:
        return (), []
    items = [item.split(":") for item in text.split(",")]
    items.sort(key=lambda item: int(item[0]))
    return (
        tuple(int(user) if user else None for _, user, _ in items),
        [int(weight) if weight else None for _, _, weight in items],
    )


def _book_receipts(
    rows: list[Any], currency: str
) -> tuple[list[BookReceipt], set[str], dict[str, tuple[int | None, str]]]:
    """`room_book`'s receipts from its rows (fetched already: no database is touched here), the
    ids of those in another currency, and those waiting for an amount (uploader, MessageSid)."""
    found: list[BookReceipt] = []
    uncounted: set[str] = set()
    waiting: dict[str, tuple[int | None, str]] = {}
    # one row a receipt, unpacked as tuples, its members in one string: a 40-member room's 2,500
    # receipts were 100,000 rows, one a member, and reading them took most of a `\BALANCE`
    for key, uploader, sid, amount, cur, created, shared in rows:
        if amount is None:
            waiting[str(key)] = (None if uploader is None else int(uploader), str(sid))
            continue
        if cur != currency:
            uncounted.add(str(key))
            continue
        members, weights = _members_of(shared)
        payer = None if uploader is None else int(uploader)
        found.append(BookReceipt(str(key), payer, int(amount), members, float(created), _weights(weights)))
    return found, uncounted, waiting


# a receipt's members as one string of "position:user:weight" items (group_concat on SQLite,
# string_agg on PostgreSQL); NULL for a receipt no one is stored to share
_MEMBERS = sa.func.aggregate_strings(
    sa.cast(receipt_members.c.position, sa.String)
    + ":"
    + sa.func.coalesce(sa.cast(receipt_members.c.user_id, sa.String), "")
    + ":"
    + sa.func.coalesce(sa.cast(receipt_members.c.weight, sa.String), ""),
    ",",
)


def _books_receipts(
    result: sa.CursorResult[Any], currency: str, untils: Sequence[float | None]
) -> list[tuple[list[BookReceipt], set[str], dict[str, tuple[int | None, str]]]]:
    """`_book_receipts` at each of `untils` (the rows made before it; None: all of them)."""
    rows: list[Any] = list(result.all())
    return [
        _book_receipts(rows if until is None else [r for r in rows if r[5] < until], currency)
        for until in untils
    ]


async def room_book(conn: AsyncConnection, room_id: str, currency: str, until: float | None = None) -> Book:
    """The receipts (with amounts in the room's currency, and who shares each) and payments; with
    `until`, only those made before it (a statement's balances at a month's end). Receipts still
    waiting for an amount are counted (`Book.waiting`) in the same statement: `\\BALANCE` left them
    out without a word."""
    return (await room_books(conn, room_id, currency, [until]))[0]


async def room_books(
    conn: AsyncConnection, room_id: str, currency: str, untils: Sequence[float | None]
) -> list[Book]:
    """`room_book` at each of `untils`, from one read of the room's receipts (a statement's
    balances where its month began and where it ended: a big room's receipts are read once)."""
    last = None if any(u is None for u in untils) else max(u for u in untils if u is not None)
    needs_amount = sa.and_(
        receipts.c.amount_minor.is_(None),
        receipts.c.duplicate_of.is_(None),
        sa.or_(receipts.c.ocr_status.is_(None), receipts.c.ocr_status != NOT_RECEIPT),
    )
    before_r = [receipts.c.created_at < last] if last is not None else []
    before_p = [payments.c.created_at < last] if last is not None else []
    result = await conn.execute(
        sa.select(
            receipts.c.id,
            receipts.c.uploader_id,
            receipts.c.message_sid,
            receipts.c.amount_minor,
            receipts.c.currency,
            receipts.c.created_at,
            _MEMBERS,
        )
        .outerjoin(receipt_members, receipt_members.c.receipt_id == receipts.c.id)
        .where(
            receipts.c.room_id == room_id,
            sa.or_(receipts.c.amount_minor > 0, needs_amount),
            *before_r,
        )
        .group_by(receipts.c.id)  # its other columns depend on it (PostgreSQL: the primary key)
        .order_by(receipts.c.created_at, receipts.c.id)
    )
    # a room's every receipt with its members (3,000 receipts of a 60-member club: 180,000 of
    # them, still tens of ms of Python to take apart): off the event loop, which meanwhile
    # answers other people
    each = await asyncio.to_thread(_books_receipts, result, currency, list(untils))
    prow = (
        await conn.execute(
            sa.select(payments)
            .where(payments.c.room_id == room_id, payments.c.currency == currency, *before_p)
            .order_by(payments.c.created_at, payments.c.id)
        )
    ).all()
    book_payments = [
        BookPayment(
            None if p.payer_id is None else int(p.payer_id),
            None if p.payee_id is None else int(p.payee_id),
            int(p.amount_minor),
            float(p.created_at),
        )
        for p in prow
    ]
    return [
        Book(
            book_receipts,
            [p for p in book_payments if until is None or p.created_at < until],
            len(uncounted),
            len(waiting),
            tuple(waiting.values()),
        )
        for until, (book_receipts, uncounted, waiting) in zip(untils, each, strict=True)
    ]


__all__ = [
    "FORMER_PREFIX",
    "NOT_RECEIPT",
    "Book",
    "BookPayment",
    "BookReceipt",
    "Member",
    "ReceiptAmount",
    "Reminding",
    "add_payment",
    "amount_target",
    "by_ids",
    "claim_period",
    "former_phone",
    "has_entries",
    "is_former",
    "keep_former",
    "latest_messages",
    "lock_rooms",
    "lock_rooms_of",
    "members",
    "name_taken_in",
    "of_message",
    "people",
    "reminding",
    "room_book",
    "room_books",
    "room_currency",
    "rooms_reminding",
    "save_split_members",
    "set_amount",
    "set_name",
    "set_remind",
    "set_room_currency",
    "set_split",
    "set_timezone",
    "split_members",
    "still_members",
]
