"""Migration 0032 (rooms.password_set_at: when the `\\PASSWORD` that set a room's password was
sent) on a database in use: a room made at 0031 keeps its password, takes a new one from a member,
and refuses one sent earlier than that; downgraded, the room and its password stay, and upgraded
again. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from storage import rooms
from storage.db import Database, head_revision
from tests.storage.test_migration_0017 import alembic, empty_url, on  # noqa: F401 (fixture)

T0 = 1_800_000_000.0


async def test_0032_keeps_rooms_and_orders_new_passwords_by_when_they_were_sent(empty_url: str) -> None:  # noqa: F811
    await alembic(empty_url, "upgrade", "0031")
    async with on(empty_url) as conn:
        for sql in (
            "INSERT INTO users (id, phone, created_at) VALUES (1, '+15550001111', 1.0)",
            "INSERT INTO rooms (id, name, name_key, password_hash, created_by, created_at)"
            " VALUES ('r1', 'house', 'house', 'old-hash', 1, 1.0)",
            "INSERT INTO memberships (user_id, room_id, joined_at) VALUES (1, 'r1', 1.0)",
        ):
            await conn.execute(sa.text(sql))
    db = Database(empty_url)
    try:
        await db.migrate()
        assert await db.revision() == head_revision()
        async with db.tx() as conn:
            assert await rooms.set_password(conn, "r1", 1, "new-hash", T0 + 10)
            assert not await rooms.set_password(conn, "r1", 1, "older-hash", T0 + 5)
        async with db.read() as conn:
            row = (await conn.execute(sa.text("SELECT password_hash, password_set_at FROM rooms"))).one()
        assert tuple(row) == ("new-hash", T0 + 10)

        await alembic(empty_url, "downgrade", "0031")
        async with on(empty_url) as conn:
            kept = (await conn.execute(sa.text("SELECT name, password_hash FROM rooms"))).one()
        assert tuple(kept) == ("house", "new-hash")
        await db.migrate()
        async with db.tx() as conn:  # the time went with the column: any new one is set
            assert await rooms.set_password(conn, "r1", 1, "again-hash", T0 + 1)
    finally:
        await db.close()
