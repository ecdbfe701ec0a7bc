"""`\\PAIR`: one person reached at several addresses (issue 25). A code asked for from one address
joins another address to that person: the address's row moves to them, and the person the
address had (new, with nothing of their own) is deleted.

Codes are 6 digits, good for CODE_SECONDS and one use, kept as their SHA-256; a person has at
most one live code (asking again replaces it). Wrong codes are throttled per address like room
passwords (storage/rooms.py: 5 in 15 minutes, under the key `PAIR_KEY`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import inbox
from storage.schema import (
    INBOX_DONE,
    addresses,
    memberships,
    pair_codes,
    payments,
    receipt_members,
    receipts,
    users,
)
from storage.schema import inbox as inbox_rows

CODE_SECONDS = 600.0
GROUP_CHAT = "telegram:-"  # a Telegram group's chat (its id is negative), not one person's
PAIR_KEY = "\\PAIR"  # the join_failures key wrong codes are counted under


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii", "replace")).hexdigest()


async def new_code(
    conn: AsyncConnection, user_id: int, code: str, now: float, *, asked_from: str | None = None
) -> bool:
    """The person's one live code (an earlier one dies), asked for from address `asked_from`;
    expired codes are cleared on the way. False, and no code, when `code` is another person's
    live code: the address that typed it would join whichever of the two was found first (draw
    another)."""
    await conn.execute(
        sa.delete(pair_codes).where(sa.or_(pair_codes.c.user_id == user_id, pair_codes.c.expires_at <= now))
    )
    hashed = code_hash(code)
    taken = sa.exists().where(pair_codes.c.code_hash == hashed, pair_codes.c.expires_at > now)
    result = await conn.execute(  # one conditional statement: no read, then a write
        sa.insert(pair_codes).from_select(
            ["user_id", "code_hash", "expires_at", "created_at", "asked_from"],
            sa.select(
                sa.literal(user_id, sa.Integer),
                sa.literal(hashed, sa.String),
                sa.literal(now + CODE_SECONDS, sa.Float),
                sa.literal(now, sa.Float),
                sa.literal(asked_from, sa.String),
            ).where(~taken),
        )
    )
    return bool(result.rowcount)


async def owner_of(conn: AsyncConnection, code: str, now: float) -> int | None:
    """The person whose live code `code` is (the code stays; `use` spends it). None: no such
    live code."""
    row = (
        await conn.execute(
            sa.select(pair_codes.c.user_id).where(
                pair_codes.c.code_hash == code_hash(code), pair_codes.c.expires_at > now
            )
        )
    ).first()
    return None if row is None else int(row.user_id)


class Used(NamedTuple):
    """A code spent: the address it was asked for from (None: asked for before migration 0031)."""

    asked_from: str | None


async def use(conn: AsyncConnection, code: str, now: float) -> Used | None:
    """Spend the live code `code`; None when it was not live (another address spent it first)."""
    row = (
        await conn.execute(
            sa.delete(pair_codes)
            .where(pair_codes.c.code_hash == code_hash(code), pair_codes.c.expires_at > now)
            .returning(pair_codes.c.asked_from)
        )
    ).first()
    return None if row is None else Used(row.asked_from)


X_ACCOUNT = "an X account"  # what_it_has's last answer: the one `\\UNLINK` gives up


async def what_it_has(conn: AsyncConnection, user_id: int, *, memberships_too: bool = True) -> str | None:
    """What a person has of their own that pairing would lose: "rooms", "receipts", "payments",
    "balances" (a share of a receipt in a room they left: a debt that would become no one's),
    "an X account"; None when nothing. Without `memberships_too`, being in a room is not
    counted (what would be left after `\\LEAVE`ing them all)."""
    checks = (
        ("rooms", sa.select(memberships.c.user_id).where(memberships.c.user_id == user_id)),
        ("receipts", sa.select(receipts.c.id).where(receipts.c.uploader_id == user_id)),
        (
            "payments",
            sa.select(payments.c.id).where(
                sa.or_(payments.c.payer_id == user_id, payments.c.payee_id == user_id)
            ),
        ),
        ("balances", sa.select(receipt_members.c.receipt_id).where(receipt_members.c.user_id == user_id)),
        (X_ACCOUNT, sa.select(users.c.id).where(users.c.id == user_id, users.c.x_user_id.is_not(None))),
    )
    for what, query in checks:
        if what == "rooms" and not memberships_too:
            continue
        if (await conn.execute(query.limit(1))).first() is not None:
            return what
    return None


async def join(conn: AsyncConnection, key: str, into: int, leaving: int, now: float) -> None:
    """Address `key` becomes `into`'s, paired at `now`; `leaving`, the person it had, is deleted
    (with nothing of their own: `what_it_has` said so). Their other addresses (`key` was paired
    already) come along: deleting the person took them with it, and their next message was a
    stranger's."""
    await conn.execute(
        sa.update(addresses)
        .where(sa.or_(addresses.c.address == key, addresses.c.user_id == leaving))
        .values(user_id=into, paired_at=now)
    )
    await conn.execute(sa.delete(users).where(users.c.id == leaving))
    await inbox.wake_waiting_for_room(conn, into)  # photos it sent in no room: the person's room


async def addresses_of(conn: AsyncConnection, user_id: int) -> list[str]:
    rows = await conn.execute(
        sa.select(addresses.c.address).where(addresses.c.user_id == user_id).order_by(addresses.c.id)
    )
    return [str(r[0]) for r in rows]


class Paired(NamedTuple):
    """One of a person's addresses, as `\\UNPAIR` lists them: when a `\\PAIR` joined it to them
    (None: their first address, or paired before migration 0031)."""

    address: str
    paired_at: float | None
    label: str | None = None  # the name the channel gives it (Telegram's first name)


async def paired_addresses(conn: AsyncConnection, user_id: int) -> list[Paired]:
    """The person's addresses in the order they came to them: those no `\\PAIR` joined first, then
    the paired ones by when (an address that wrote to textwire long ago and paired today is last)."""
    rows = await conn.execute(
        sa.select(addresses.c.address, addresses.c.paired_at, addresses.c.label)
        .where(addresses.c.user_id == user_id)
        .order_by(addresses.c.paired_at.is_not(None), addresses.c.paired_at, addresses.c.id)
    )
    return [
        Paired(str(r.address), None if r.paired_at is None else float(r.paired_at), r.label) for r in rows
    ]


def _last_wrote(address: sa.TableClause) -> sa.ScalarSelect[Any]:
    """When `address` (a row of `addresses`) last wrote: its latest handled message, one step down
    ix_inbox_sender_done (from_phone, done_at, of done rows) from its end; NULL when it has not
    in the days the inbox keeps (7)."""
    return (
        sa.select(sa.func.max(inbox_rows.c.done_at))
        .where(inbox_rows.c.from_phone == address.c.address, INBOX_DONE)
        .scalar_subquery()
    )


async def notice_addresses(conn: AsyncConnection, user_ids: Iterable[int]) -> dict[int, str]:
    """Where a notice to each person goes (a payment to them, a reminder, X's news): the address
    they last wrote from, of those not opted out (Tom, who moved from SMS to Telegram, got his
    `\\PAID` notices by SMS, his first address, all week); when none of those wrote in the days
    the inbox keeps (7), their first address (`users.phone`), else, when that one is opted out,
    the first of their others that is not (a paired person who sent STOP on WhatsApp still
    hears of a `\\PAID` on Telegram), else the first all the same (the sender skips it as opted
    out, and logs it). One statement: each address's latest handled message is one step down
    ix_inbox_sender_done (from_phone, done_at, of done rows) from its end."""
    wanted = list(set(user_ids))
    if not wanted:
        return {}
    last_wrote = _last_wrote(addresses)
    rows = (
        await conn.execute(
            sa.select(
                addresses.c.user_id,
                addresses.c.address,
                addresses.c.opted_out,
                users.c.phone,
                last_wrote.label("last_wrote"),
            )
            .join(users, users.c.id == addresses.c.user_id)
            .where(addresses.c.user_id.in_(wanted))
            .order_by(addresses.c.user_id, addresses.c.id)
        )
    ).all()
    firsts: dict[int, str] = {}
    reachable: dict[int, list[str]] = {}
    latest: dict[int, tuple[float, str]] = {}
    for user_id, address, opted_out, first, wrote_at in rows:
        uid = int(user_id)
        if str(address).startswith(GROUP_CHAT):
            # a Telegram group that joined rooms under 0.2.0 (which answered groups): its members
            # cannot answer there (\REMIND off, \LEAVE), so nothing is posted into it
            continue
        firsts.setdefault(uid, str(first))
        if opted_out:
            continue
        reachable.setdefault(uid, []).append(str(address))
        # the latest wins; of two at the same moment, the earlier address (rows come in id order)
        if wrote_at is not None and (uid not in latest or float(wrote_at) > latest[uid][0]):
            latest[uid] = (float(wrote_at), str(address))
    chosen: dict[int, str] = {}
    for uid, first in firsts.items():
        if uid in latest:
            chosen[uid] = latest[uid][1]
        elif first.startswith(GROUP_CHAT):  # a group first: the first other, else none
            if reachable.get(uid):
                chosen[uid] = reachable[uid][0]
        else:
            chosen[uid] = first if first in reachable.get(uid, [first]) else reachable[uid][0]
    return chosen


async def notice_address(conn: AsyncConnection, user_id: int) -> str | None:
    """`notice_addresses` of one person; None when they have no address (left by `\\STOP`)."""
    return (await notice_addresses(conn, [user_id])).get(user_id)


async def answer_address(conn: AsyncConnection, user_id: int, asked_from: str | None) -> str | None:
    """Where the news of something asked for at one address goes ("Connected @handle" after the
    link texted there): that address while it is still the person's and not opted out, else
    `notice_address` (a link from before migration 0027 has no address)."""
    if asked_from is not None:
        row = (
            await conn.execute(
                sa.select(addresses.c.opted_out).where(
                    addresses.c.address == asked_from, addresses.c.user_id == user_id
                )
            )
        ).first()
        if row is not None and not row.opted_out:
            return asked_from
    return await notice_address(conn, user_id)


async def elsewhere(conn: AsyncConnection, key: str, usable: Callable[[str], bool]) -> str | None:
    """Another address of `key`'s person that is not opted out and is `usable` (a notice that
    cannot go to `key`: WhatsApp outside its 24 hours with no template): the one of those the
    person last wrote from (Tom, who moved from SMS to Telegram, had it at his old SMS number,
    his first other address), else, none of them having written in the days the inbox keeps, the
    first; None when the person has none (or `key` is no one's). The person's few addresses, each
    with its last message by index (`_last_wrote`), in one statement."""
    owner = addresses.alias("owner")
    rows = await conn.execute(
        sa.select(addresses.c.address, _last_wrote(addresses))
        .join(owner, owner.c.user_id == addresses.c.user_id)
        .where(owner.c.address == key, addresses.c.address != key, addresses.c.opted_out.is_(sa.false()))
        .order_by(addresses.c.id)
    )
    found: list[tuple[float, str]] = []  # (-when it last wrote, address); min() takes the first of a tie
    for address, wrote_at in rows:
        if usable(str(address)) and not str(address).startswith(GROUP_CHAT):  # no notice into a group
            found.append((-float(wrote_at) if wrote_at is not None else float("inf"), str(address)))
    return min(found, key=lambda f: f[0])[1] if found else None


async def channel_used(conn: AsyncConnection, channel: str) -> bool:
    """Whether anyone has an address of `channel` (has written from it)."""
    found = await conn.execute(sa.select(addresses.c.id).where(addresses.c.channel == channel).limit(1))
    return found.first() is not None


async def leave(conn: AsyncConnection, key: str) -> None:
    """Address `key` no longer reaches its person, who keeps their other addresses (when it was
    their first, `users.phone`, the next one takes its place: notices go there)."""
    owner = (await conn.execute(sa.select(addresses.c.user_id).where(addresses.c.address == key))).scalar()
    await conn.execute(sa.delete(addresses).where(addresses.c.address == key))
    if owner is None:
        return
    rest = await addresses_of(conn, int(owner))
    if rest:
        # the person's opt-out flag is their first address's: it follows the address that takes
        # the place, not the one that left (a WhatsApp STOP silenced the SMS number after it)
        opted_out = bool(
            (
                await conn.execute(sa.select(addresses.c.opted_out).where(addresses.c.address == rest[0]))
            ).scalar()
        )
        await conn.execute(
            sa.update(users)
            .where(users.c.id == owner, users.c.phone == key)
            .values(
                phone=rest[0],
                opted_out=opted_out,
                opted_out_at=users.c.opted_out_at if opted_out else None,
            )
        )


__all__ = [
    "CODE_SECONDS",
    "PAIR_KEY",
    "X_ACCOUNT",
    "Paired",
    "Used",
    "addresses_of",
    "answer_address",
    "code_hash",
    "elsewhere",
    "join",
    "leave",
    "new_code",
    "notice_address",
    "notice_addresses",
    "owner_of",
    "paired_addresses",
    "use",
    "what_it_has",
]
