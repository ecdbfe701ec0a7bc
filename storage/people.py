"""A person's data, for the operator (issue 27): everything kept about one person, read in one
go (`person_data`), their message history purged (`purge_messages`), and receipt photos marked
deleted (at the person's request, or by `media.retention_days`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import ledger
from storage import rooms as room_records
from storage import users as accounts
from storage.media import MediaStore
from storage.schema import (
    addresses,
    inbox,
    join_failures,
    link_tokens,
    memberships,
    outbox,
    pair_codes,
    payments,
    posts,
    receipts,
    reply_log,
    room_departures,
    rooms,
    users,
    x_tokens,
)

REQUEST, RETENTION = "request", "retention"  # why a receipt's photo was deleted


def _row(row: Any, skip: Sequence[str] = ()) -> dict[str, Any]:
    return {k: v for k, v in row._mapping.items() if k not in skip}


async def person_of(conn: AsyncConnection, address: str) -> int | None:
    """The person (users.id) reached at `address` (a stored address key)."""
    found = (
        await conn.execute(sa.select(addresses.c.user_id).where(addresses.c.address == address))
    ).scalar()
    if found is None:  # a person from before addresses, or whose only row is users.phone
        found = (await conn.execute(sa.select(users.c.id).where(users.c.phone == address))).scalar()
    return None if found is None else int(found)


async def addresses_of(conn: AsyncConnection, user_id: int) -> list[str]:
    rows = await conn.execute(sa.select(addresses.c.address).where(addresses.c.user_id == user_id))
    keys = [str(a) for (a,) in rows]
    phone = (await conn.execute(sa.select(users.c.phone).where(users.c.id == user_id))).scalar()
    return keys if phone is None or phone in keys else [str(phone), *keys]


async def person_data(conn: AsyncConnection, user_id: int) -> dict[str, Any]:
    """Every row about the person, as plain values. Secrets stay out: of X tokens, link tokens,
    OAuth sessions and pairing codes only that they exist and when (their values are encrypted or
    hashed, and no use to anyone reading this)."""
    person = (await conn.execute(sa.select(users).where(users.c.id == user_id))).one()
    keys = await addresses_of(conn, user_id)

    async def rows(query: Any, skip: Sequence[str] = ()) -> list[dict[str, Any]]:
        return [_row(r, skip) for r in await conn.execute(query)]

    token = (
        await conn.execute(
            sa.select(x_tokens.c.expires_at, x_tokens.c.updated_at).where(x_tokens.c.user_id == user_id)
        )
    ).first()
    return {
        "person": _row(person, skip=("name_key",)),
        "addresses": await rows(
            sa.select(addresses).where(addresses.c.user_id == user_id).order_by(addresses.c.id)
        ),
        "x": {
            "user_id": person.x_user_id,
            "handle": person.x_handle,
            "tokens": None if token is None else {"stored_encrypted": True, **_row(token)},
            "links": await rows(
                sa.select(link_tokens.c.created_at, link_tokens.c.expires_at, link_tokens.c.used_at).where(
                    link_tokens.c.user_id == user_id
                )
            ),
            "posts": await rows(sa.select(posts).where(posts.c.user_id == user_id).order_by(posts.c.id)),
        },
        "rooms": await rows(
            sa.select(rooms.c.id, rooms.c.name, memberships.c.joined_at)
            .join(memberships, memberships.c.room_id == rooms.c.id)
            .where(memberships.c.user_id == user_id)
            .order_by(memberships.c.joined_at)
        ),
        "rooms_left": await rows(sa.select(room_departures).where(room_departures.c.user_id == user_id)),
        "receipts": await receipts_of(conn, [user_id]),
        "payments": await rows(
            sa.select(payments)
            .where(sa.or_(payments.c.payer_id == user_id, payments.c.payee_id == user_id))
            .order_by(payments.c.created_at)
        ),
        **await messages_of(conn, keys),
        "wrong_room_passwords": await rows(
            sa.select(join_failures.c.at, join_failures.c.kind).where(join_failures.c.phone.in_(keys))
        ),
        "pairing_codes": len(
            (await conn.execute(sa.select(pair_codes.c.id).where(pair_codes.c.user_id == user_id))).all()
        ),
    }


async def receipts_of(conn: AsyncConnection, user_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The receipts these users (a person, the former members they left) uploaded, for export."""
    if not user_ids:
        return []
    query = (
        sa.select(
            receipts.c.id,
            receipts.c.room_id,
            receipts.c.created_at,
            receipts.c.caption,
            receipts.c.amount_minor,
            receipts.c.currency,
            # what `\\AMOUNT 678 JPY @0.006667` converted to it (678, JPY, 0.006667); null when nothing was
            receipts.c.original_minor,
            receipts.c.original_currency,
            receipts.c.original_rate,
            receipts.c.object_key,
            receipts.c.content_type,
            receipts.c.size,
            receipts.c.channel,
            receipts.c.photo_deleted_at,
        )
        .where(receipts.c.uploader_id.in_(list(user_ids)))
        .order_by(receipts.c.created_at)
    )
    return [_row(r) for r in await conn.execute(query)]


async def messages_of(conn: AsyncConnection, keys: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every message from and to these addresses still kept."""
    inn = (
        sa.select(
            inbox.c.id, inbox.c.received_at, inbox.c.from_phone, inbox.c.body, inbox.c.media, inbox.c.status
        )
        .where(inbox.c.from_phone.in_(keys))
        .order_by(inbox.c.received_at)
    )
    out = (
        sa.select(outbox.c.id, outbox.c.created_at, outbox.c.to_phone, outbox.c.body, outbox.c.status)
        .where(outbox.c.to_phone.in_(keys))
        .order_by(outbox.c.created_at)
    )
    # a message's photos are stored as JSON text: given as the list it holds, not as a string of it
    return {
        "messages_in": [{**_row(r), "media": json.loads(r.media or "[]")} for r in await conn.execute(inn)],
        "messages_out": [_row(r) for r in await conn.execute(out)],
    }


async def forget(
    conn: AsyncConnection,
    user_id: int,
    shown: str,
    opted_out: Iterable[str],
    now: float,
    zone_of: Callable[[str], str | None] = lambda _: None,
    tag: str | None = None,
    left_at: float | None = None,
) -> bool:
    """`\\STOP` for a whole person: their record goes (addresses, memberships, tokens and links
    cascade; receipts stay), their place in each ledger is handed to a former member named as
    their rooms saw them (`shown` when they had no name: debts stay payable), the rooms they
    created keep the zone of their number (`zone_of`) and forget them, and the `opted_out`
    addresses stay opted out (nothing may be sent there again). True when a ledger kept them.
    `tag`: the address's keyed tag, kept on the former member (`\\STOP`; see `formers_of`).
    `left_at` (default `now`): when they left their rooms, as a `\\LEAVE` records it: the former
    member shares a photo sent before then and still being read (`ledger.members`)."""
    rooms_in = (
        (await conn.execute(sa.select(memberships.c.room_id).where(memberships.c.user_id == user_id)))
        .scalars()
        .all()
    )
    kept = await ledger.keep_former(conn, user_id, shown, now, tag)
    if kept is not None and rooms_in:
        departed = now if left_at is None else left_at
        await conn.execute(
            sa.insert(room_departures),
            [{"user_id": kept, "room_id": str(r), "left_at": departed} for r in rooms_in],
        )
    phone = (await conn.execute(sa.select(users.c.phone).where(users.c.id == user_id))).scalar()
    await room_records.creator_leaves(conn, user_id, zone_of(phone) if phone else None)
    await accounts.delete(conn, user_id)
    for key in sorted(opted_out):
        await accounts.set_opted_out(conn, key, True, now)
    return kept is not None


async def hold_person(conn: AsyncConnection, user_id: int) -> None:
    """Hold the rooms the person is in or made, then their record, until the transaction ends
    (PostgreSQL; SQLite's writers queue already), in the order a photo's receipt takes them
    (handlers/media.py: its room, then `users.hold`): a receipt being written at that moment is
    committed first and read here, and a later one finds the record gone."""
    room_ids = await conn.execute(
        sa.union(
            sa.select(memberships.c.room_id).where(memberships.c.user_id == user_id),
            sa.select(rooms.c.id).where(rooms.c.created_by == user_id),
        )
    )
    await ledger.lock_rooms(conn, [str(r) for (r,) in room_ids])
    await conn.execute(sa.select(users.c.id).where(users.c.id == user_id).with_for_update())


@dataclass(frozen=True)
class Purged:
    messages_in: int
    messages_out: int
    reply_log: int
    join_failures: int


async def purge_messages(conn: AsyncConnection, keys: Sequence[str]) -> Purged:
    """Delete every message from and to these addresses, and what the reply guard and the
    room-password throttle kept about them."""
    if not keys:
        return Purged(0, 0, 0, 0)
    out = await conn.execute(sa.delete(outbox).where(outbox.c.to_phone.in_(keys)))
    # the replies to their messages went to them: gone above; an outbox row of someone else's
    # that points at one of their messages keeps its text and loses the reference (SET NULL)
    inn = await conn.execute(sa.delete(inbox).where(inbox.c.from_phone.in_(keys)))
    log = await conn.execute(sa.delete(reply_log).where(reply_log.c.phone.in_(keys)))
    fails = await conn.execute(sa.delete(join_failures).where(join_failures.c.phone.in_(keys)))
    return Purged(int(inn.rowcount), int(out.rowcount), int(log.rowcount), int(fails.rowcount))


async def media_left_at_channel(
    conn: AsyncConnection, keys: Sequence[str], channels: Sequence[str]
) -> list[str]:
    """The media items (their references: Twilio's URLs) of the messages from these addresses on
    these channels that no receipt keeps track of: photos still waiting for a room or for the
    media store, or dropped by a `\\STOP` before they were saved. The channel still holds their
    copies, and once `purge_messages` deleted the messages nothing here knew of them (a receipt's
    copy is deleted by its own record: `storage.receipts.pending_twilio_deletes`)."""
    if not keys or not channels:
        return []
    rows = await conn.execute(
        sa.select(inbox.c.media)
        .where(
            inbox.c.from_phone.in_(list(keys)),
            inbox.c.channel.in_(list(channels)),
            inbox.c.media != "[]",
        )
        .order_by(inbox.c.id)
    )
    refs = list(dict.fromkeys(str(item[0]) for (media,) in rows for item in json.loads(media or "[]")))
    if not refs:
        return []
    kept = await conn.execute(
        sa.select(receipts.c.twilio_media_url).where(receipts.c.twilio_media_url.in_(refs))
    )
    tracked = {str(url) for (url,) in kept}
    return [ref for ref in refs if ref not in tracked]


@dataclass(frozen=True)
class Photo:
    id: str
    object_key: str


async def photos_of(conn: AsyncConnection, user_ids: Sequence[int]) -> list[Photo]:
    """The receipts of these users (a person and the former members they left behind) whose photo
    is still stored."""
    if not user_ids:
        return []
    rows = await conn.execute(
        sa.select(receipts.c.id, receipts.c.object_key)
        .where(receipts.c.uploader_id.in_(list(user_ids)), receipts.c.photo_deleted_at.is_(None))
        .order_by(receipts.c.created_at)
    )
    return [Photo(str(i), str(k)) for i, k in rows]


async def formers_of(conn: AsyncConnection, tags: Iterable[str]) -> list[int]:
    """The former members (storage/ledger.py) an address left behind by `\\STOP`, by its keyed
    tags (bot/gateway/links.py, former_tag: one a configured key)."""
    wanted = sorted({t for t in tags if t.isalnum()})  # hex: nothing LIKE reads as a wildcard
    if not wanted:
        return []
    rows = await conn.execute(
        sa.select(users.c.id)
        .where(sa.or_(*(users.c.phone.like(f"{ledger.FORMER_PREFIX}{t}.%") for t in wanted)))
        .order_by(users.c.id)
    )
    return [int(i) for (i,) in rows]


async def formers_by_messages(conn: AsyncConnection, keys: Sequence[str]) -> list[int]:
    """The former members whose receipts came in messages still kept from these addresses. Those
    a `\\STOP` left before former members were tagged (0.2.0: `former:` and 16 hex digits, nothing
    of the address) are found only so; a tagged one is found by its tag as well."""
    if not keys:
        return []
    # from the address's messages (as `messages_of` reads them) to the receipts they brought (by
    # uq_receipts_message_sid_media_index) to their uploaders
    rows = await conn.execute(
        sa.select(users.c.id)
        .select_from(
            inbox.join(receipts, receipts.c.message_sid == inbox.c.message_sid).join(
                users, users.c.id == receipts.c.uploader_id
            )
        )
        .where(
            inbox.c.from_phone.in_(list(keys)),
            users.c.phone.startswith(ledger.FORMER_PREFIX, autoescape=True),
        )
        .distinct()
        .order_by(users.c.id)
    )
    return [int(i) for (i,) in rows]


async def untag_formers(conn: AsyncConnection, ids: Sequence[int]) -> None:
    """The former members keep their places in the ledgers, and nothing ties them to the address."""
    for former in ids:
        await conn.execute(sa.update(users).where(users.c.id == former).values(phone=ledger.former_phone()))


async def has_messages(conn: AsyncConnection, keys: Sequence[str]) -> bool:
    """Whether anything from or to these addresses is still kept (after `\\STOP`, until purged)."""
    if not keys:
        return False
    found = sa.or_(
        sa.exists().where(inbox.c.from_phone.in_(keys)),
        sa.exists().where(outbox.c.to_phone.in_(keys)),
    )
    return bool((await conn.execute(sa.select(found))).scalar_one())


async def photos_before(conn: AsyncConnection, before: float, limit: int) -> list[Photo]:
    """Receipts saved before `before` whose photo is still stored, oldest first."""
    rows = await conn.execute(
        sa.select(receipts.c.id, receipts.c.object_key)
        .where(receipts.c.created_at < before, receipts.c.photo_deleted_at.is_(None))
        .order_by(receipts.c.created_at)
        .limit(limit)
    )
    return [Photo(str(i), str(k)) for i, k in rows]


async def delete_photos(store: MediaStore, photos: Sequence[Photo]) -> tuple[list[str], Exception | None]:
    """Delete the photos' objects from the store, in order, until one fails: the ids of those
    gone (for `mark_photos_deleted`) and the failure (None when every one went)."""
    gone: list[str] = []
    for photo in photos:
        try:
            await store.delete(photo.object_key)
        except Exception as exc:  # S3 down, a permission: the caller says what happens next
            return gone, exc
        gone.append(photo.id)
    return gone, None


async def mark_photos_deleted(conn: AsyncConnection, ids: Sequence[str], why: str, now: float) -> None:
    """The photos are gone from the store; at a person's request their captions go too."""
    if not ids:
        return
    values: dict[str, Any] = {"photo_deleted_at": now, "photo_deleted_why": why}
    if why == REQUEST:
        values.update(caption="", identity=None)
    await conn.execute(sa.update(receipts).where(receipts.c.id.in_(list(ids))).values(**values))


__all__ = [
    "REQUEST",
    "RETENTION",
    "Photo",
    "Purged",
    "addresses_of",
    "delete_photos",
    "forget",
    "formers_by_messages",
    "formers_of",
    "has_messages",
    "hold_person",
    "mark_photos_deleted",
    "media_left_at_channel",
    "messages_of",
    "person_data",
    "person_of",
    "photos_before",
    "photos_of",
    "purge_messages",
    "receipts_of",
    "untag_formers",
]
