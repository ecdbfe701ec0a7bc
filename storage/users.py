"""Users: one row a person, reached at one or more addresses (a channel, and the id there).

Every user has the "sms" address of its `phone`, created with it in the same transaction, opted
out as the user is (`users.opted_out` is what the sender reads); `addresses` rows go with their
user (ON DELETE CASCADE)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import PREFIXED, SMS
from storage.db import insert_ignore, insert_ignoring
from storage.lean import Query, Writer, write_later
from storage.schema import INBOX_DONE, addresses, inbox, inbox_waiting, literal, users


def _channel_of(key: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """The channel of a stored address (`bot.core.channel.Address.key`), in SQL: its prefix
    (`whatsapp:...`, `telegram:...`), else SMS."""
    return sa.case(
        *((key.startswith(f"{name}:"), sa.literal(name)) for name in PREFIXED), else_=sa.literal(SMS)
    )


@dataclass(frozen=True)
class User:
    id: int
    phone: str
    created_at: float
    opted_out: bool
    active_room_id: str | None
    x_user_id: str | None
    x_handle: str | None
    x_needs_relink: bool
    x_relink_notified_at: float | None
    slowdown_notified_at: float | None

    @property
    def x_linked(self) -> bool:
        return self.x_user_id is not None and not self.x_needs_relink


# User's fields, in its order: what a claim reads of each sender (not the name, opted_out_at)
_USER_COLUMNS = (
    users.c.id, users.c.phone, users.c.created_at, users.c.opted_out, users.c.active_room_id, users.c.x_user_id,
    users.c.x_handle, users.c.x_needs_relink, users.c.x_relink_notified_at, users.c.slowdown_notified_at,
)  # fmt: skip


def _user_of(values: Sequence[Any]) -> User:
    """A User from `_USER_COLUMNS`' values, by position (the worker's claim reads one a text:
    by name through the row's mapping it took 5 us a row, BENCHMARKS.md "The reply guard's rows
    as tuples")."""
    (
        id_, phone, created_at, opted_out, active_room_id, x_user_id, x_handle, x_needs_relink,
        x_relink_notified_at, slowdown_notified_at,
    ) = values  # fmt: skip
    return User(
        id_, phone, created_at, bool(opted_out), active_room_id, x_user_id, x_handle, bool(x_needs_relink),
        x_relink_notified_at, slowdown_notified_at,
    )  # fmt: skip


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    """A User from a row that has `_USER_COLUMNS` among its columns (by name)."""
    m = row._mapping
    return _user_of([m[column.name] for column in _USER_COLUMNS])


async def get_by_phone(conn: AsyncConnection, phone: str) -> User | None:
    row = (await conn.execute(sa.select(users).where(users.c.phone == phone))).first()
    return _user(row) if row else None


async def get_by_address(conn: AsyncConnection, channel: str, address: str) -> User | None:
    """The user reached at `address` on `channel`, or None."""
    row = (
        await conn.execute(
            sa.select(users)
            .join(addresses, addresses.c.user_id == users.c.id)
            .where(addresses.c.channel == channel, addresses.c.address == address)
        )
    ).first()
    return _user(row) if row else None


@dataclass(frozen=True)
class Address:
    channel: str
    address: str
    opted_out: bool
    created_at: float


async def addresses_of(conn: AsyncConnection, user_id: int) -> list[Address]:
    """The user's addresses, oldest first."""
    rows = (
        await conn.execute(
            sa.select(addresses.c.channel, addresses.c.address, addresses.c.opted_out, addresses.c.created_at)
            .where(addresses.c.user_id == user_id)
            .order_by(addresses.c.created_at, addresses.c.id)
        )
    ).all()
    return [Address(str(r.channel), str(r.address), bool(r.opted_out), float(r.created_at)) for r in rows]


def _sms_address_of(phones: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """The address row of the `phone` of the users that `phones` selects (its channel by its
    prefix: "sms" for a number): opted out as they are, known since they are (as migration 0017
    made them for the users before it)."""
    return sa.select(
        users.c.id, _channel_of(users.c.phone), users.c.phone, users.c.opted_out, users.c.created_at
    ).where(phones)


_ADDRESS_COLUMNS = ("user_id", "channel", "address", "opted_out", "created_at")
_NEW_SMS_ADDRESSES: dict[str, Query] = {}


def _new_sms_addresses(conn: Writer) -> Query:
    """INSERT the "sms" address of the users of `phones` (an expanding parameter) unless it
    exists: built once per dialect."""
    found = _NEW_SMS_ADDRESSES.get(conn.dialect.name)
    if found is None:
        select = _sms_address_of(users.c.phone.in_(sa.bindparam("phones", expanding=True)))
        statement = insert_ignore(conn, addresses).from_select(_ADDRESS_COLUMNS, select)
        found = _NEW_SMS_ADDRESSES[conn.dialect.name] = Query(statement)
    return found


async def get_by_id(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(sa.select(users).where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def phone_of(conn: AsyncConnection, user_id: int) -> str | None:
    value = (await conn.execute(sa.select(users.c.phone).where(users.c.id == user_id))).scalar()
    return str(value) if value is not None else None


@dataclass(frozen=True)
class Sender:
    """What the worker needs about a sender before handling a message: the user, whether it was
    created just now, and how many of their messages were handled in the rate window."""

    user: User
    created: bool
    handled_recently: int
    waiting: bool = True  # more of their messages are pending (read with the claim)


_HANDLED_RECENTLY = (
    sa.select(sa.func.count())
    .where(
        inbox.c.from_phone == addresses.c.address,
        INBOX_DONE,  # by ix_inbox_sender_done: the done rows of the last minute, not all of them
        inbox.c.done_at >= sa.bindparam("since"),
    )
    .scalar_subquery()
)
# Whether the sender has ordinary messages waiting (after the claim: behind the one just claimed),
# by ix_inbox_waiting (its condition as written, then pending only: the claimed one is not): the
# worker claims again when such a message's predecessor is done. A priority message never waits.
_WAITING = (
    sa.select(inbox.c.id)
    .where(
        inbox.c.from_phone == addresses.c.address, inbox_waiting(inbox), inbox.c.status == literal("pending")
    )
    .exists()
)
# The person behind each address (its own, or the one `\\PAIR` joined it to), by ix_addresses_address.
_SENDERS = Query(
    sa.select(
        *_USER_COLUMNS,
        addresses.c.address.label("key"),
        _HANDLED_RECENTLY.label("handled_recently"),
        _WAITING.label("waiting"),
    )
    .select_from(addresses.join(users, users.c.id == addresses.c.user_id))
    .where(addresses.c.address.in_(sa.bindparam("phones", expanding=True)))
)


async def senders(conn: Writer, phones: Iterable[str], *, now: float, since: float) -> dict[str, Sender]:
    """The users of `phones` (created when new) with their messages handled since `since`: one
    query for a batch of messages (two more only when someone texts for the first time)."""
    wanted = set(phones)
    if not wanted:
        return {}
    params = {"phones": list(wanted), "since": since}
    found = {
        key: Sender(_user_of(fields), False, int(handled), bool(waiting))
        for *fields, key, handled, waiting in (await conn.execute(_SENDERS, params)).all()
    }
    missing = wanted - found.keys()
    if missing:
        await conn.execute(insert_ignoring(conn, users), [{"phone": p, "created_at": now} for p in missing])
        params["phones"] = list(missing)
        # their "sms" addresses (another process creating one of them at once made its own)
        await write_later(conn, _new_sms_addresses(conn), {"phones": params["phones"]})
        for *fields, key, handled, waiting in (await conn.execute(_SENDERS, params)).all():
            found[key] = Sender(_user_of(fields), True, int(handled), bool(waiting))
    return found


async def get_or_create(conn: AsyncConnection, phone: str, now: float) -> tuple[User, bool]:
    """The person reached at address `phone` (theirs, or the one `\\PAIR` joined it to),
    created if new with that address; the flag says whether the user was created."""
    user = await of_address(conn, phone)
    if user is not None:
        return user, False
    result = await conn.execute(insert_ignore(conn, users).values(phone=phone, created_at=now))
    await conn.execute(_new_sms_addresses(conn), {"phones": [phone]})
    user = await of_address(conn, phone)
    assert user is not None
    return user, result.rowcount == 1


async def of_address(conn: Writer, key: str) -> User | None:
    """The person reached at the stored address `key` (any channel), or None."""
    row = (
        await conn.execute(
            sa.select(users)
            .join(addresses, addresses.c.user_id == users.c.id)
            .where(addresses.c.address == key)
        )
    ).first()
    return _user(row) if row else None


async def owner_held(conn: AsyncConnection, key: str) -> User | None:
    """`of_address`, with the address's row held until the transaction ends (PostgreSQL `FOR
    UPDATE`; SQLite's writers queue already): the person it is now, not the one read when its
    message was taken up, and no `\\PAIR` or `\\STOP` of it changes that before this commits."""
    row = (
        await conn.execute(
            sa.select(users)
            .join(addresses, addresses.c.user_id == users.c.id)
            .where(addresses.c.address == key)
            .with_for_update(of=addresses)
        )
    ).first()
    return _user(row) if row else None


async def set_opted_out(conn: Writer, phone: str, opted_out: bool, now: float) -> None:
    """Record an opt-out (or opt-in) for a phone, creating its row if needed; its "sms" address
    follows (made when missing)."""
    if await of_address(conn, phone) is None:  # a new address: its person, as on a first message
        await conn.execute(insert_ignore(conn, users).values(phone=phone, created_at=now))
        await conn.execute(_new_sms_addresses(conn), {"phones": [phone]})
    await conn.execute(  # the person, when this is their first address (users.phone)
        sa.update(users)
        .where(users.c.phone == phone)
        .values(opted_out=opted_out, opted_out_at=now if opted_out else None)
    )
    await conn.execute(  # the address itself, whoever's it is: what the sender reads
        sa.update(addresses).where(addresses.c.address == phone).values(opted_out=opted_out)
    )


async def label_of(conn: AsyncConnection, key: str) -> str | None:
    """The name the channel last gave the address `key` (Telegram's first name), if any."""
    value = (await conn.execute(sa.select(addresses.c.label).where(addresses.c.address == key))).scalar()
    return None if value is None else str(value)


async def set_label(conn: Writer, key: str, label: str | None) -> None:
    await conn.execute(sa.update(addresses).where(addresses.c.address == key).values(label=label))


_OPTED_OUT_AMONG = Query(
    sa.select(addresses.c.address).where(
        addresses.c.address.in_(sa.bindparam("phones", expanding=True)), addresses.c.opted_out.is_(True)
    )
)


async def opted_out_among(conn: Writer, phones: Iterable[str]) -> set[str]:
    """Which of `phones` are opted out (one query for a batch of sends)."""
    wanted = list(set(phones))
    if not wanted:
        return set()
    return {str(p) for p in (await conn.execute(_OPTED_OUT_AMONG, {"phones": wanted})).scalars()}


async def is_opted_out(conn: AsyncConnection, phone: str) -> bool:
    value = (await conn.execute(sa.select(users.c.opted_out).where(users.c.phone == phone))).scalar()
    return bool(value)


async def hold(conn: AsyncConnection, user_id: int) -> bool:
    """Whether the user still has a record, kept from being deleted until the transaction ends
    (PostgreSQL `FOR KEY SHARE`; SQLite's writers queue already): a row written now that refers
    to the user (a photo's receipt) is committed before a `\\STOP` or `person delete` that comes
    at the same moment reads the user's rows, never half-way through it."""
    query = sa.select(users.c.id).where(users.c.id == user_id).with_for_update(read=True, key_share=True)
    return (await conn.execute(query)).first() is not None


async def delete(conn: AsyncConnection, user_id: int) -> None:
    """Delete the user; its addresses go with it (ON DELETE CASCADE; SQLite's connections all
    run with `foreign_keys=ON`, storage/db.py)."""
    await conn.execute(sa.delete(users).where(users.c.id == user_id))


async def mark_slowdown_notified(conn: AsyncConnection, user_id: int, now: float) -> None:
    await conn.execute(sa.update(users).where(users.c.id == user_id).values(slowdown_notified_at=now))
