"""Migration 0028 (receipt_members.weight 64-bit) on a database in use: a split of 0027 kept
across the upgrade, a weight past 32 bits stored after it (an exact CLF amount, which PostgreSQL
refused), then downgraded (that receipt split equally again, the others kept) and upgraded again.
On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from storage.db import Database
from tests.storage.test_migration_0017 import alembic, empty_url, on  # noqa: F401 (fixture)

NOW = 1_790_000_000.0
BIG = 6_000_000_000  # CLF 600000.0000 in minor units


async def _receipt(
    conn: sa.ext.asyncio.AsyncConnection, receipt_id: str, room_id: str, users: list[int]
) -> None:
    await conn.execute(
        sa.text(
            "INSERT INTO receipts (id, room_id, uploader_id, message_sid, media_index, object_key,"
            " content_type, size, sha256, created_at, amount_minor, currency)"
            " VALUES (:id, :room, :u, :sid, 0, :key, 'image/jpeg', 1, 'x', :now, 9000000000, 'CLF')"
        ),
        {
            "id": receipt_id,
            "room": room_id,
            "u": users[0],
            "sid": f"MM{receipt_id}",
            "key": f"k/{receipt_id}",
            "now": NOW,
        },
    )


async def _weights(db: Database) -> list[tuple[str, int | None]]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.text("SELECT receipt_id, weight FROM receipt_members ORDER BY receipt_id, position")
        )
        return [(str(r[0]), None if r[1] is None else int(r[1])) for r in rows]


async def test_0028_keeps_splits_and_takes_weights_past_32_bits(empty_url: str) -> None:  # noqa: F811
    await alembic(empty_url, "upgrade", "0027")
    async with on(empty_url) as conn:
        for phone in ("+15550000001", "+15550000002"):
            await conn.execute(
                sa.text("INSERT INTO users (phone, created_at) VALUES (:p, :now)"),
                {"p": phone, "now": NOW},
            )
        users = [int(u) for u in (await conn.execute(sa.text("SELECT id FROM users ORDER BY id"))).scalars()]
        await conn.execute(
            sa.text(
                "INSERT INTO rooms (id, name, name_key, password_hash, created_by, created_at, currency)"
                " VALUES ('r1', 'chile', 'chile', 'h', :u, :now, 'CLF')"
            ),
            {"u": users[0], "now": NOW},
        )
        await _receipt(conn, "a", "r1", users)
        for position, (user, weight) in enumerate(zip(users, (1, 2), strict=True)):
            await conn.execute(
                sa.text(
                    "INSERT INTO receipt_members (receipt_id, position, user_id, weight) VALUES ('a', :p, :u, :w)"
                ),
                {"p": position, "u": user, "w": weight},
            )
    await alembic(empty_url, "upgrade", "0028")
    db = Database(empty_url)
    try:
        async with db.tx() as conn:
            await _receipt(conn, "b", "r1", users)
            for position, (user, weight) in enumerate(zip(users, (BIG // 2, BIG), strict=True)):
                await conn.execute(
                    sa.text(
                        "INSERT INTO receipt_members (receipt_id, position, user_id, weight) VALUES ('b', :p, :u, :w)"
                    ),
                    {"p": position, "u": user, "w": weight},
                )
        assert await _weights(db) == [("a", 1), ("a", 2), ("b", BIG // 2), ("b", BIG)]
    finally:
        await db.close()
    await alembic(empty_url, "downgrade", "0027")
    db = Database(empty_url)
    try:
        assert await _weights(db) == [("a", 1), ("a", 2), ("b", None), ("b", None)]
    finally:
        await db.close()
    await alembic(empty_url, "upgrade", "0028")
