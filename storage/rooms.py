"""Rooms of receipts: rooms, memberships, the active room, and wrong-password throttling.

Passwords are hashed with Argon2id (cryptography's `Argon2id`, PHC string with its own random salt)
and always off the event loop (`hash_password` / `verify_password` run in a thread). The hash of
an unknown room is checked against a dummy hash, so the time of an answer does not tell whether a
room exists.
"""

from __future__ import annotations

import asyncio
import os
import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import SMS, WHATSAPP, Address, address_of, phone_forms
from storage import inbox
from storage.db import insert_ignore, upsert
from storage.lean import Query, Reads
from storage.schema import addresses, join_failures, join_slots, memberships, room_departures, rooms, users

# OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane.
ARGON2_MEMORY_KIB = 19_456
ARGON2_ITERATIONS = 2
ARGON2_LANES = 1

MAX_NAME = 32
NAME_PATTERN = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_NAME}}}$")
MAX_PASSWORD = 128

LOCKOUT_FAILURES = 5  # wrong passwords per phone in LOCKOUT_WINDOW
ROOM_LOCKOUT_FAILURES = 10  # wrong passwords per room name, from any phones, in LOCKOUT_WINDOW
LOCKOUT_WINDOW = 15 * 60.0
SLOT_SECONDS = 2.0  # a name under attack: one password check every this many seconds, on average
# ... of which this many may run at once after a quiet spell (a token bucket, `take_slot`): a
# person with the password behind a burst of first guesses from fresh numbers is checked at once
# (one at a time, they waited a minute or two behind 30), while the checks an hour stay the same
SLOT_BURST = 30
# a name under attack: a number with this many wrong guesses for it is locked out of it (one is a
# typo: that person waits for the name's slot like a newcomer, and joins with the password)
NAME_GUESSES_BEFORE_LOCK = 2
# A name's slots are two token buckets (`take_slot`'s `again`): one for numbers with no wrong guess
# for the name (a newcomer, a former member), one for numbers with one (a typo, or a guesser's
# second try). With one bucket, 20 numbers guessing twice each spent its burst with their second
# guesses, and a newcomer with the password waited behind them, 53 s in a try. Each number's first
# guess is its only one in the newcomers' bucket.
AGAIN_SLOT = "#again"  # room keys are [a-z0-9_-]: never this


@dataclass(frozen=True)
class Room:
    id: str
    name: str
    name_key: str
    password_hash: str
    created_at: float
    created_by: int | None = None  # users.id; None once its creator deleted their record


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))


def name_key(name: str) -> str:
    return name.casefold()


def _kdf() -> Argon2id:
    return Argon2id(
        salt=os.urandom(16),
        length=32,
        iterations=ARGON2_ITERATIONS,
        lanes=ARGON2_LANES,
        memory_cost=ARGON2_MEMORY_KIB,
    )


# what a phone's keyboard makes of the quotes and hyphens typed in a password: an iPhone's smart
# punctuation turns ' and " into curly quotes and -- into an em dash, where an Android keyboard
# types them plain (the handlers' reading of room names and settings does the same with dashes).
# With NFKC (a full-width keyboard's letters, an accent typed apart), a password is the characters
# it shows: a room made on an iPhone with `it\u2019s` told everyone on Android "No room with that
# name and password".
_TYPED = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2014": "--",
        "\u2013": "-",
        "\u2010": "-",
        "\u2011": "-",
        "\u2212": "-",
    }
)


def password_forms(password: str) -> tuple[str, ...]:
    """The password as hashed (its characters as shown, quotes and dashes plain), then, when it
    differs, as typed: a room made before passwords were read so has the hash of that one. The
    forms depend on the typed text alone, so a room and an unknown name spend the same checks."""
    shown = unicodedata.normalize("NFKC", password).translate(_TYPED)
    return (shown,) if shown == password else (shown, password)


def _hash_sync(password: str) -> str:
    encoded: str = _kdf().derive_phc_encoded(password.encode("utf-8"))
    return encoded


def _verify_sync(password: str, encoded: str) -> bool:
    try:
        Argon2id.verify_phc_encoded(password.encode("utf-8"), encoded)
    except (InvalidKey, ValueError):
        return False
    return True


async def hash_password(password: str) -> str:
    """`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` of `password_forms(password)[0]`, computed
    in a thread."""
    return await asyncio.to_thread(_hash_sync, password_forms(password)[0])


async def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check (inside cryptography) of each of `password_forms`, computed in a
    thread."""
    for form in password_forms(password):
        if await asyncio.to_thread(_verify_sync, form, encoded):
            return True
    return False


_DUMMY_HASH: str | None = None


async def dummy_verify(password: str) -> None:
    """Spend the time of a real check, for a room that does not exist."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = await hash_password(os.urandom(16).hex())
    await verify_password(password, _DUMMY_HASH)


def _room(row: sa.Row[tuple[object, ...]]) -> Room:
    m = row._mapping
    return Room(
        id=m["id"],
        name=m["name"],
        name_key=m["name_key"],
        password_hash=m["password_hash"],
        created_at=m["created_at"],
        created_by=m.get("created_by"),
    )


class NameTaken(Exception):
    pass


class CreatorGone(Exception):
    """The room's creator has no record any more (`\\STOP`, which jumps the queue, deleted it
    while their `\\CREATE` was being handled): no room is made."""


async def create(conn: AsyncConnection, *, name: str, password_hash: str, user_id: int, now: float) -> Room:
    """Create a room, join its creator and make it their active room. `NameTaken` when the
    case-insensitive name exists."""
    room_id = str(uuid.uuid4())
    result = await conn.execute(
        insert_ignore(conn, rooms).values(
            id=room_id,
            name=name,
            name_key=name_key(name),
            password_hash=password_hash,
            created_by=user_id,
            created_at=now,
        )
    )
    if result.rowcount != 1:
        raise NameTaken(name)
    if not await join(conn, user_id=user_id, room_id=room_id, now=now):
        # its creator vanished meanwhile: the room would be no one's, its name taken for good
        raise CreatorGone(name)
    await set_active(conn, user_id, room_id)
    room = await get(conn, room_id)
    assert room is not None
    return room


async def creator_leaves(conn: AsyncConnection, user_id: int, zone: str | None) -> None:
    """The person who created rooms deletes their record: each room keeps the zone it took from
    their number (`zone`, where `\\TIMEZONE` set none) and forgets who made it. SQLite gives a
    deleted user's id to the next new person, who became the creator of their rooms (and moved
    the room's month and reminders to the newcomer's zone)."""
    await keep_zone(conn, user_id, zone)
    await conn.execute(sa.update(rooms).where(rooms.c.created_by == user_id).values(created_by=None))


async def keep_zone(conn: AsyncConnection, user_id: int, zone: str | None) -> None:
    """The rooms `user_id` created keep `zone` (the one they took from the creator's number) where
    `\\TIMEZONE` set none: the number it came from is leaving its person."""
    if zone is not None:
        await conn.execute(
            sa.update(rooms)
            .where(rooms.c.created_by == user_id, rooms.c.timezone.is_(None))
            .values(timezone=zone)
        )


async def get(conn: AsyncConnection, room_id: str) -> Room | None:
    row = (await conn.execute(sa.select(rooms).where(rooms.c.id == room_id))).first()
    return _room(row) if row else None


_BY_NAME = Query(sa.select(rooms).where(rooms.c.name_key == sa.bindparam("name_key")))


async def find_by_name(reads: Reads, name: str) -> Room | None:
    """`reads`: the Database (one statement on its own) or `lean.in_tx(conn)`."""
    found = await reads.fetch(_BY_NAME, {"name_key": name_key(name)})
    return _room(found[0]) if found else None


async def join(conn: AsyncConnection, *, user_id: int, room_id: str, now: float) -> bool:
    """Add a membership; False when the user was a member already."""
    try:
        result = await conn.execute(
            insert_ignore(conn, memberships).values(user_id=user_id, room_id=room_id, joined_at=now)
        )
    except IntegrityError:  # the user or the room vanished meanwhile
        return False
    return bool(result.rowcount == 1)


async def set_password(
    conn: AsyncConnection, room_id: str, user_id: int, password_hash: str, sent_at: float
) -> bool:
    """A new password hash for the room, set by one of its members in a message sent at
    `sent_at`: False (nothing set) when `user_id` is none of them any more, or when a message sent
    later set one already (this one handled again after its worker died, or out of order). The
    wrong guesses recorded against the room's name go with the old password (`clear_guesses`)."""
    member = sa.select(memberships.c.user_id).where(
        memberships.c.user_id == user_id, memberships.c.room_id == room_id
    )
    result = await conn.execute(
        sa.update(rooms)
        .where(
            rooms.c.id == room_id,
            member.exists(),
            sa.or_(rooms.c.password_set_at.is_(None), rooms.c.password_set_at <= sent_at),
        )
        .values(password_hash=password_hash, password_set_at=sent_at)
        .returning(rooms.c.name_key)
    )
    row = result.first()
    if row is None:
        return False
    await clear_guesses(conn, str(row.name_key))
    return True


async def clear_guesses(conn: AsyncConnection, room_key: str) -> None:
    """Forget the wrong passwords guessed for the name `room_key`, and its slots: they were
    guesses at a password it has no more. The number told the old password by someone who had
    it wrong, locked out by 5 tries, was refused the new one for up to 15 minutes; a name under
    a flood held every newcomer back. A number's guesses at other rooms and codes still count."""
    await conn.execute(
        sa.delete(join_failures).where(join_failures.c.room_key == room_key, join_failures.c.kind == "wrong")
    )
    await conn.execute(
        sa.delete(join_slots).where(join_slots.c.room_key.in_([room_key, room_key + AGAIN_SLOT]))
    )


async def password_hash_now(conn: AsyncConnection, room_id: str) -> str | None:
    """The room's password hash as it is now, its row held (PostgreSQL `FOR SHARE`) until the
    transaction ends: a join written with it is not overtaken by a `\\PASSWORD` (None: the room
    is gone). Joins at once, and what only refers to the room, go on meanwhile."""
    query = sa.select(rooms.c.password_hash).where(rooms.c.id == room_id).with_for_update(read=True)
    return (await conn.execute(query)).scalar_one_or_none()


async def is_member(conn: AsyncConnection, user_id: int, room_id: str) -> bool:
    row = (
        await conn.execute(
            sa.select(memberships.c.user_id).where(
                memberships.c.user_id == user_id, memberships.c.room_id == room_id
            )
        )
    ).first()
    return row is not None


_MEMBER_ROOM_BY_NAME = Query(
    sa.select(rooms)
    .join(memberships, memberships.c.room_id == rooms.c.id)
    .where(memberships.c.user_id == sa.bindparam("user_id"), rooms.c.name_key == sa.bindparam("name_key"))
)


async def member_room_by_name(reads: Reads, user_id: int, name: str) -> Room | None:
    """The user's room of that name, or None (also when the room exists but they are not in it).
    `reads`: the Database (one statement on its own) or `lean.in_tx(conn)`."""
    found = await reads.fetch(_MEMBER_ROOM_BY_NAME, {"user_id": user_id, "name_key": name_key(name)})
    return _room(found[0]) if found else None


_LEFT_ROOMS = Query(
    sa.select(rooms)
    .join(room_departures, room_departures.c.room_id == rooms.c.id)
    .where(
        room_departures.c.user_id == sa.bindparam("user_id"),
        ~sa.exists().where(
            memberships.c.user_id == room_departures.c.user_id, memberships.c.room_id == rooms.c.id
        ),
    )
    .order_by(room_departures.c.left_at.desc(), rooms.c.name_key)
)


async def left_rooms(reads: Reads, user_id: int) -> list[Room]:
    """The rooms the user left (`\\LEAVE`) and is not back in, the latest first."""
    return [_room(row) for row in await reads.fetch(_LEFT_ROOMS, {"user_id": user_id})]


async def leave(conn: AsyncConnection, user_id: int, room_id: str, *, now: float) -> Room | None:
    """Remove a membership. When it was the active room, the most recently joined other room
    becomes active (or none); that room is returned. The departure is remembered: a former
    member coming back is not locked out by others' wrong guesses."""
    await conn.execute(
        sa.delete(memberships).where(memberships.c.user_id == user_id, memberships.c.room_id == room_id)
    )
    await conn.execute(
        sa.delete(room_departures).where(
            room_departures.c.user_id == user_id, room_departures.c.room_id == room_id
        )
    )
    await conn.execute(sa.insert(room_departures).values(user_id=user_id, room_id=room_id, left_at=now))
    active = await active_room_id(conn, user_id)
    if active is not None and active != room_id:
        return await get(conn, active)
    row = (
        await conn.execute(
            sa.select(rooms)
            .join(memberships, memberships.c.room_id == rooms.c.id)
            .where(memberships.c.user_id == user_id)
            .order_by(memberships.c.joined_at.desc(), rooms.c.name_key)
            .limit(1)
        )
    ).first()
    next_room = _room(row) if row else None
    await set_active(conn, user_id, next_room.id if next_room else None)
    return next_room


# `\ROOMS`: a user's rooms, and which is active, in one statement built once.
_ROOMS_OF_WITH_ACTIVE = Query(
    sa.select(
        rooms,
        (
            rooms.c.id
            == sa.select(users.c.active_room_id)
            .where(users.c.id == sa.bindparam("user_id"))
            .scalar_subquery()
        ).label("is_active"),
    )
    .join(memberships, memberships.c.room_id == rooms.c.id)
    .where(memberships.c.user_id == sa.bindparam("user_id"))
    .order_by(rooms.c.name_key)
)


async def rooms_with_active(reads: Reads, user_id: int) -> tuple[list[Room], Room | None]:
    """The user's rooms by name, and the active one among them (None when they left it)."""
    mine: list[Room] = []
    active: Room | None = None
    for row in await reads.fetch(_ROOMS_OF_WITH_ACTIVE, {"user_id": user_id}):
        room = _room(row)
        mine.append(room)
        if row.is_active:
            active = room
    return mine, active


async def active_room_id(conn: AsyncConnection, user_id: int) -> str | None:
    value = (await conn.execute(sa.select(users.c.active_room_id).where(users.c.id == user_id))).scalar()
    return str(value) if value is not None else None


async def active_room_ids(conn: AsyncConnection, user_ids: Iterable[int]) -> dict[int, str | None]:
    """Each person's active room (None: none), in one query."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = (
        await conn.execute(sa.select(users.c.id, users.c.active_room_id).where(users.c.id.in_(wanted)))
    ).all()
    return {int(r.id): None if r.active_room_id is None else str(r.active_room_id) for r in rows}


_ACTIVE_ROOM = Query(
    sa.select(rooms)
    .join(users, users.c.active_room_id == rooms.c.id)
    .join(memberships, sa.and_(memberships.c.room_id == rooms.c.id, memberships.c.user_id == users.c.id))
    .where(users.c.id == sa.bindparam("user_id"))
)


async def active_room(reads: Reads, user_id: int) -> Room | None:
    """The user's active room, if they are still a member of it. `reads`: the Database (one
    statement on its own) or `lean.in_tx(conn)`."""
    found = await reads.fetch(_ACTIVE_ROOM, {"user_id": user_id})
    return _room(found[0]) if found else None


async def set_active(conn: AsyncConnection, user_id: int, room_id: str | None) -> None:
    """The user's active room; photos they sent while in no room go there now."""
    await conn.execute(sa.update(users).where(users.c.id == user_id).values(active_room_id=room_id))
    if room_id is not None:
        await inbox.wake_waiting_for_room(conn, user_id)


async def leave_all(conn: AsyncConnection, user_id: int) -> int:
    """Every membership of a user removed (for `\\STOP`); receipts stay in their rooms."""
    result = await conn.execute(sa.delete(memberships).where(memberships.c.user_id == user_id))
    await set_active(conn, user_id, None)
    return int(result.rowcount)


# -- wrong-password throttling ------------------------------------------------------------------


async def record_failure(conn: AsyncConnection, phone: str, now: float, room_key: str | None = None) -> None:
    """A wrong password (or an unknown room) from `phone` for the room name `room_key`."""
    await conn.execute(sa.insert(join_failures).values(phone=phone, at=now, room_key=room_key))


async def guessers(conn: AsyncConnection, key: str, user_id: int) -> list[str]:
    """The addresses whose wrong guesses count as one with `key`'s (the address a guess came from,
    of the person `user_id`): every address of the person, and each phone number on both of
    Twilio's channels (`+15550001111` and `whatsapp:+15550001111` are one phone, and so are
    `+525512345678` and `whatsapp:+5215512345678`, as WhatsApp writes a Mexican mobile:
    `phone_forms`). Counted apart, a number guessed 5 passwords or codes on SMS and 5 more on
    WhatsApp, and a person 5 more from each address they paired."""
    rows = await conn.execute(sa.select(addresses.c.address).where(addresses.c.user_id == user_id))
    keys = {key, *(str(row[0]) for row in rows)}
    for each in list(keys):
        address = address_of(each)
        if address.channel in (SMS, WHATSAPP):
            keys.update(
                Address(channel, number).key
                for number in phone_forms(address.id)
                for channel in (SMS, WHATSAPP)
            )
    return sorted(keys)


async def failures_since(conn: AsyncConnection, phones: Iterable[str], since: float) -> int:
    query = sa.select(sa.func.count()).where(
        join_failures.c.phone.in_(list(phones)), join_failures.c.at >= since, join_failures.c.kind == "wrong"
    )
    return int((await conn.execute(query)).scalar_one())


async def room_failures_since(conn: AsyncConnection, room_key: str, since: float) -> int:
    query = sa.select(sa.func.count()).where(
        join_failures.c.room_key == room_key, join_failures.c.at >= since, join_failures.c.kind == "wrong"
    )
    return int((await conn.execute(query)).scalar_one())


async def failures_for(conn: AsyncConnection, phones: Iterable[str], room_key: str, now: float) -> int:
    """How many wrong passwords `phones` (one guesser, `guessers`) guessed for the name `room_key` within the window, up to
    `NAME_GUESSES_BEFORE_LOCK` (the number locked out of it)."""
    query = (
        sa.select(join_failures.c.id)
        .where(
            join_failures.c.room_key == room_key,
            join_failures.c.at >= now - LOCKOUT_WINDOW,
            join_failures.c.phone.in_(list(phones)),
            join_failures.c.kind == "wrong",
        )
        .limit(NAME_GUESSES_BEFORE_LOCK)
    )
    return len((await conn.execute(query)).all())


async def take_slot(conn: AsyncConnection, room_key: str, now: float, *, again: bool = False) -> float | None:
    """The name's password check, for a name under attack: None when this guess may check now,
    else the time a guess may next. A token bucket kept as one time (the generic cell rate
    algorithm): `next_at` is when the name's checks so far would be paid off at one every
    SLOT_SECONDS; a check may run while that is at most SLOT_BURST - 1 slots ahead, and moves it
    one slot on. One conditional upsert: two processes never both take one slot. `again`: the
    bucket of numbers that guessed wrong for the name once already (AGAIN_SLOT), apart from the
    newcomers'."""
    if again:
        room_key += AGAIN_SLOT
    ahead = (SLOT_BURST - 1) * SLOT_SECONDS
    stmt = upsert(conn, join_slots).values(room_key=room_key, next_at=now + SLOT_SECONDS)
    stmt = stmt.on_conflict_do_update(
        index_elements=[join_slots.c.room_key],
        set_={
            "next_at": sa.case(
                (join_slots.c.next_at > now, join_slots.c.next_at + SLOT_SECONDS), else_=stmt.excluded.next_at
            )
        },
        where=join_slots.c.next_at <= now + ahead,
    ).returning(join_slots.c.room_key)
    if (await conn.execute(stmt)).first() is not None:
        return None
    query = sa.select(join_slots.c.next_at).where(join_slots.c.room_key == room_key)
    next_at = (await conn.execute(query)).scalar_one_or_none()
    return float(next_at) - ahead if next_at is not None else now


async def locked_out(conn: AsyncConnection, phones: Iterable[str], now: float) -> bool:
    """Too many wrong passwords or codes lately from `phones` (one guesser, `guessers`)."""
    return await failures_since(conn, phones, now - LOCKOUT_WINDOW) >= LOCKOUT_FAILURES


async def room_locked_out(conn: AsyncConnection, room_key: str, now: float) -> bool:
    """Too many wrong passwords for this room name lately, from any phones. Members are never
    asked (they are in) and former members are let through (`left_room`)."""
    return await room_failures_since(conn, room_key, now - LOCKOUT_WINDOW) >= ROOM_LOCKOUT_FAILURES


async def left_room(conn: AsyncConnection, user_id: int, room_id: str) -> bool:
    row = (
        await conn.execute(
            sa.select(room_departures.c.user_id).where(
                room_departures.c.user_id == user_id, room_departures.c.room_id == room_id
            )
        )
    ).first()
    return row is not None


async def claim_lock_notice(conn: AsyncConnection, phone: str, now: float) -> bool:
    """True when this phone has not been told it is locked out within the window (and records
    that it is being told now): a flood of locked-out guesses costs one SMS, not one each."""
    query = sa.select(sa.func.count()).where(
        join_failures.c.phone == phone,
        join_failures.c.at >= now - LOCKOUT_WINDOW,
        join_failures.c.kind == "notice",
    )
    if int((await conn.execute(query)).scalar_one()):
        return False
    await conn.execute(sa.insert(join_failures).values(phone=phone, at=now, kind="notice"))
    return True


async def purge_failures(conn: AsyncConnection, *, before: float) -> int:
    result = await conn.execute(sa.delete(join_failures).where(join_failures.c.at < before))
    await conn.execute(sa.delete(join_slots).where(join_slots.c.next_at < before))
    return int(result.rowcount)


__all__ = [
    "AGAIN_SLOT",
    "LOCKOUT_FAILURES",
    "LOCKOUT_WINDOW",
    "MAX_NAME",
    "MAX_PASSWORD",
    "NAME_GUESSES_BEFORE_LOCK",
    "ROOM_LOCKOUT_FAILURES",
    "SLOT_BURST",
    "SLOT_SECONDS",
    "CreatorGone",
    "NameTaken",
    "Room",
    "active_room",
    "active_room_ids",
    "claim_lock_notice",
    "create",
    "dummy_verify",
    "failures_for",
    "find_by_name",
    "guessers",
    "hash_password",
    "join",
    "leave",
    "leave_all",
    "left_room",
    "locked_out",
    "member_room_by_name",
    "password_hash_now",
    "purge_failures",
    "record_failure",
    "room_locked_out",
    "take_slot",
    "valid_name",
    "verify_password",
]
