"""Migration 0034 (inbox.room_id: the room a message's photos were sent to, kept while they wait
for an outage) on a database in use: a message waiting in the inbox at 0033 is kept across the
upgrade with no room, a room is kept for it and read back; downgraded, the row stays, and
upgraded again. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from storage import inbox
from storage.db import Database, head_revision
from tests.storage.test_migration_0017 import alembic, empty_url, on  # noqa: F401 (fixture)

WAITING = "MM" + "1" * 32
ROOM = "0b0e8d7e-5c1a-4a44-9d5e-2f6f4f1f7a10"


async def test_0034_keeps_waiting_messages_and_the_room_of_their_photos(empty_url: str) -> None:  # noqa: F811
    await alembic(empty_url, "upgrade", "0033")
    async with on(empty_url) as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO inbox (message_sid, from_phone, body, received_at, status)"
                " VALUES (:sid, '+15550009999', 'dinner 30.00', 1.0, 'parked')"
            ),
            {"sid": WAITING},
        )
    db = Database(empty_url)
    try:
        await db.migrate()  # as `textwire migrate` does
        assert await db.revision() == head_revision()
        async with db.tx() as conn:
            message_id = (
                await conn.execute(sa.text("SELECT id FROM inbox WHERE message_sid = :s"), {"s": WAITING})
            ).scalar_one()
            assert await inbox.kept_room(conn, message_id) is None
            await inbox.keep_room(conn, message_id, ROOM)
        async with db.read() as conn:
            assert await inbox.kept_room(conn, message_id) == ROOM

        await alembic(empty_url, "downgrade", "0033")
        async with on(empty_url) as conn:
            kept = (await conn.execute(sa.text("SELECT message_sid, status FROM inbox"))).all()
        assert [tuple(r) for r in kept] == [(WAITING, "parked")]
        await db.migrate()
        async with db.read() as conn:
            assert await inbox.kept_room(conn, message_id) is None  # the room went with the column
    finally:
        await db.close()
