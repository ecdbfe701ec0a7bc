"""Receipts: one row a stored photo or PDF, unique by (MessageSid, media index), so a redelivered
or retried MMS never stores anything twice. The copy at Twilio is tracked until it is deleted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import insert_ignore
from storage.schema import receipt_members, receipts

# receipt ids are derived from (MessageSid, index): a retry after a crash between the upload and
# the row rewrites the same object instead of leaving a second one
_NAMESPACE = uuid.UUID("6f1c0d4e-2b7a-4f3e-9a51-6b0e3c7d2a10")


def receipt_id(message_sid: str, media_index: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{message_sid}:{media_index}"))


@dataclass(frozen=True)
class NewReceipt:
    id: str
    room_id: str
    uploader_id: int
    uploader_phone_masked: str
    message_sid: str
    media_index: int
    object_key: str
    content_type: str
    size: int
    sha256: str
    caption: str
    created_at: float
    twilio_media_url: str | None  # the channel's media reference (SMS: Twilio's media URL)
    channel: str = "sms"  # the channel the photo came in on
    phash: str | None = None  # the picture's difference hash (None: a PDF)
    identity: str | None = None  # MERCHANT|date|time as OCR read it (None: not read, or not printed)


async def existing(conn: AsyncConnection, message_sid: str) -> dict[int, sa.Row[tuple[object, ...]]]:
    """This message's receipts already stored, by media index."""
    rows = (await conn.execute(sa.select(receipts).where(receipts.c.message_sid == message_sid))).all()
    return {int(r.media_index): r for r in rows}


async def insert(conn: AsyncConnection, receipt: NewReceipt) -> bool:
    """Insert-or-ignore; False when this (MessageSid, index) was stored already."""
    result = await conn.execute(
        insert_ignore(conn, receipts).values(
            id=receipt.id,
            room_id=receipt.room_id,
            uploader_id=receipt.uploader_id,
            uploader_phone_masked=receipt.uploader_phone_masked,
            message_sid=receipt.message_sid,
            media_index=receipt.media_index,
            object_key=receipt.object_key,
            content_type=receipt.content_type,
            size=receipt.size,
            sha256=receipt.sha256,
            caption=receipt.caption,
            created_at=receipt.created_at,
            twilio_media_url=receipt.twilio_media_url,
            channel=receipt.channel,
            phash=receipt.phash,
            identity=receipt.identity,
        )
    )
    return bool(result.rowcount == 1)


@dataclass(frozen=True)
class Earlier:
    """A receipt already in the room, as a new one is compared with it."""

    id: str
    sha256: str
    phash: str | None
    amount_minor: int | None
    currency: str | None
    identity: str | None = None
    uploader_id: int | None = None


EARLIER_LIMIT = 5000  # the room's newest receipts a new one is compared with


async def earlier_in_room(conn: AsyncConnection, room_id: str, receipt_id: str) -> list[Earlier]:
    """The room's receipts other than `receipt_id` and other than repeats themselves, oldest
    first (a repeat points at the first of its picture)."""
    rows = (
        await conn.execute(
            sa.select(
                receipts.c.id,
                receipts.c.sha256,
                receipts.c.phash,
                receipts.c.amount_minor,
                receipts.c.currency,
                receipts.c.identity,
                receipts.c.uploader_id,
            )
            .where(
                receipts.c.room_id == room_id,
                receipts.c.id != receipt_id,
                receipts.c.duplicate_of.is_(None),
            )
            .order_by(receipts.c.created_at.desc())
            .limit(EARLIER_LIMIT)
        )
    ).all()
    return [
        Earlier(
            str(r.id),
            str(r.sha256),
            None if r.phash is None else str(r.phash),
            None if r.amount_minor is None else int(r.amount_minor),
            None if r.currency is None else str(r.currency),
            None if r.identity is None else str(r.identity),
            None if r.uploader_id is None else int(r.uploader_id),
        )
        for r in reversed(rows)
    ]


async def first_at(conn: AsyncConnection, room_id: str) -> float | None:
    """When the room's first receipt was sent (None: it has none). A photo sent before its sender
    was in any room, which the room they then made took, was sent before the room began."""
    value = (
        await conn.execute(sa.select(sa.func.min(receipts.c.created_at)).where(receipts.c.room_id == room_id))
    ).scalar_one_or_none()
    return None if value is None else float(value)


async def mark_duplicate(conn: AsyncConnection, receipt_id: str, twin_id: str) -> None:
    await conn.execute(sa.update(receipts).where(receipts.c.id == receipt_id).values(duplicate_of=twin_id))


async def take_over(conn: AsyncConnection, waiting_id: str, counted_id: str, uploader_id: int) -> bool:
    """`counted_id`, a repeat of `waiting_id`, now has an amount while `waiting_id` still has none
    (no total was read), and both are `uploader_id`'s: the repeat takes its place (another
    member's copy stays a repeat: its sender did not pay it). `waiting_id` becomes the repeat (not
    counted, no longer waiting for `\\AMOUNT`), and so do its other repeats. Without this, a
    person who sent the photo again with its total (or counted the repeat with `\\AMOUNT`) saw
    the first one in `\\BALANCE` as waiting for a total forever: `\\AMOUNT` reaches only a sender's
    last receipt. False (nothing changed) when `waiting_id` is another's, has an amount or repeats another."""
    taken = await conn.execute(
        sa.update(receipts)
        .where(
            receipts.c.id == waiting_id,
            receipts.c.uploader_id == uploader_id,
            receipts.c.amount_minor.is_(None),
            receipts.c.duplicate_of.is_(None),
        )
        .values(duplicate_of=counted_id)
    )
    if taken.rowcount != 1:
        return False
    await conn.execute(sa.update(receipts).where(receipts.c.id == counted_id).values(duplicate_of=None))
    # and who shares it: the first copy's members (those in the room when it was sent) and the
    # `\\SPLIT` it was given while it waited for its total, which the copy lost ("splits among
    # Bob once it has a total", then split three ways once it had one)
    shared = (
        await conn.execute(
            sa.select(receipt_members.c.position, receipt_members.c.user_id, receipt_members.c.weight).where(
                receipt_members.c.receipt_id == waiting_id
            )
        )
    ).all()
    if shared:
        await conn.execute(sa.delete(receipt_members).where(receipt_members.c.receipt_id == counted_id))
        await conn.execute(
            sa.insert(receipt_members),
            [
                {"receipt_id": counted_id, "position": r.position, "user_id": r.user_id, "weight": r.weight}
                for r in shared
            ],
        )
    await conn.execute(
        sa.update(receipts)
        .where(receipts.c.duplicate_of == waiting_id, receipts.c.id != counted_id)
        .values(duplicate_of=counted_id)
    )
    return True


@dataclass(frozen=True)
class PendingDelete:
    id: str
    url: str
    attempts: int


async def pending_twilio_deletes(
    conn: AsyncConnection, *, message_sid: str | None = None, before: float | None = None, limit: int = 100
) -> list[PendingDelete]:
    """Receipts whose copy at Twilio is not deleted yet (of one message, or older than `before`)."""
    query = sa.select(receipts.c.id, receipts.c.twilio_media_url, receipts.c.twilio_delete_attempts).where(
        receipts.c.twilio_media_url.is_not(None), receipts.c.twilio_deleted_at.is_(None)
    )
    if message_sid is not None:
        query = query.where(receipts.c.message_sid == message_sid)
    if before is not None:
        query = query.where(receipts.c.created_at < before)
    rows = (await conn.execute(query.order_by(receipts.c.created_at).limit(limit))).all()
    return [
        PendingDelete(id=r.id, url=str(r.twilio_media_url), attempts=int(r.twilio_delete_attempts))
        for r in rows
    ]


async def mark_twilio_deleted(conn: AsyncConnection, receipt_id: str, now: float) -> None:
    await conn.execute(sa.update(receipts).where(receipts.c.id == receipt_id).values(twilio_deleted_at=now))


async def mark_twilio_delete_failed(conn: AsyncConnection, receipt_id: str) -> None:
    await conn.execute(
        sa.update(receipts)
        .where(receipts.c.id == receipt_id)
        .values(twilio_delete_attempts=receipts.c.twilio_delete_attempts + 1)
    )


async def give_up_twilio_delete(conn: AsyncConnection, receipt_id: str) -> None:
    """Stop retrying: forget the URL (the copy at Twilio stays; logged by the caller)."""
    await conn.execute(sa.update(receipts).where(receipts.c.id == receipt_id).values(twilio_media_url=None))


__all__ = [
    "NewReceipt",
    "PendingDelete",
    "existing",
    "give_up_twilio_delete",
    "insert",
    "mark_twilio_delete_failed",
    "mark_twilio_deleted",
    "pending_twilio_deletes",
    "receipt_id",
]
