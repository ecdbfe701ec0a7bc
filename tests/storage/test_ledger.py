"""storage/ledger.py on both databases: a room's book (its receipts, who shares each, and its
payments) is read off the event loop, which answers other people meanwhile."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from storage import ledger, receipts, rooms, users
from storage.db import Database
from storage.receipts import NewReceipt
from tests.conftest import ALICE, BOB

T0 = 1_800_000_000.0


async def _room_with_a_receipt(db: Database) -> tuple[str, int, int]:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        bob, _ = await users.get_or_create(conn, BOB, T0)
        room = await rooms.create(conn, name="club", password_hash="x", user_id=alice.id, now=T0)
        await rooms.join(conn, user_id=bob.id, room_id=room.id, now=T0)
        rid = receipts.receipt_id("MM1", 0)
        await receipts.insert(
            conn,
            NewReceipt(
                id=rid,
                room_id=room.id,
                uploader_id=alice.id,
                uploader_phone_masked="+1555***1111",
                message_sid="MM1",
                media_index=0,
                object_key=f"rooms/{room.id}/receipts/{rid}.jpg",
                content_type="image/jpeg",
                size=1,
                sha256="0" * 64,
                caption="",
                created_at=T0 + 1,
                twilio_media_url=None,
            ),
        )
        await ledger.set_amount(conn, rid, minor=1000, currency="USD", source="caption")
        await ledger.save_split_members(conn, rid, [alice.id, bob.id])
    return room.id, alice.id, bob.id


async def test_room_book_reads_its_rows_while_the_loop_answers_others(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 60-member club's 3,000 receipts are 180,000 rows: reading them on the event loop held every
    other text and page for over a second. While they are read, the loop runs other work: the
    reading here waits for a task of the loop, and would wait in vain on the loop itself."""
    room_id, alice, bob = await _room_with_a_receipt(db)
    loop = asyncio.get_running_loop()
    other_ran = threading.Event()
    seen: list[bool] = []
    original = ledger._book_receipts

    def reading(*args: Any) -> Any:
        # another person's work is handed to the loop now, and done unless this runs on the loop
        loop.call_soon_threadsafe(other_ran.set)
        seen.append(other_ran.wait(timeout=10))
        return original(*args)

    monkeypatch.setattr(ledger, "_book_receipts", reading)
    async with db.read() as conn:
        book = await ledger.room_book(conn, room_id, "USD")
    assert seen == [True]
    assert [(r.payer, r.amount, r.members) for r in book.receipts] == [(alice, 1000, (alice, bob))]
    assert (book.uncounted, book.waiting, book.payments) == (0, 0, [])
