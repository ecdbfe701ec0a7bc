"""Migration 0031 (addresses.paired_at, pair_codes.asked_from: when a `\\PAIR` joined an address,
and where its code was asked for) on a database in use: a person paired at 0030 keeps both
addresses, which count as paired long ago (either may `\\UNPAIR` the other), and a code asked for
at 0030 still pairs after the upgrade; downgraded, the rows stay, and upgraded again. On a SQLite
file and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from storage import pairing
from storage.db import Database, head_revision
from tests.storage.test_migration_0017 import alembic, empty_url, on  # noqa: F401 (fixture)

T0 = 1_800_000_000.0


async def test_0031_keeps_pairings_and_live_codes(empty_url: str) -> None:  # noqa: F811
    await alembic(empty_url, "upgrade", "0030")
    async with on(empty_url) as conn:
        for sql in (
            "INSERT INTO users (id, phone, created_at) VALUES (1, '+15550001111', 1.0)",
            "INSERT INTO users (id, phone, created_at) VALUES (2, '+15550002222', 1.0)",
            "INSERT INTO addresses (user_id, channel, address, created_at) VALUES (1, 'sms', '+15550001111', 1.0)",
            "INSERT INTO addresses (user_id, channel, address, created_at) VALUES (1, 'telegram', 'telegram:42', 2.0)",
            "INSERT INTO addresses (user_id, channel, address, created_at) VALUES (2, 'sms', '+15550002222', 3.0)",
        ):
            await conn.execute(sa.text(sql))
        await conn.execute(
            sa.text(
                "INSERT INTO pair_codes (user_id, code_hash, expires_at, created_at) VALUES (1, :h, :e, :c)"
            ),
            {"h": pairing.code_hash("123456"), "e": T0 + 600, "c": T0},
        )
    db = Database(empty_url)
    try:
        await db.migrate()
        assert await db.revision() == head_revision()
        async with db.tx() as conn:
            assert await pairing.paired_addresses(conn, 1) == [
                pairing.Paired("+15550001111", None),
                pairing.Paired("telegram:42", None),
            ]
            used = await pairing.use(conn, "123456", T0 + 1)
            assert used == pairing.Used(asked_from=None)  # asked for before 0031: told elsewhere
            await pairing.join(conn, "+15550002222", into=1, leaving=2, now=T0 + 1)
            assert await pairing.paired_addresses(conn, 1) == [
                pairing.Paired("+15550001111", None),
                pairing.Paired("telegram:42", None),
                pairing.Paired("+15550002222", T0 + 1),
            ]
            await pairing.new_code(conn, 1, "654321", T0 + 2, asked_from="telegram:42")
            assert await pairing.use(conn, "654321", T0 + 3) == pairing.Used(asked_from="telegram:42")

        await alembic(empty_url, "downgrade", "0030")
        async with on(empty_url) as conn:
            kept = (await conn.execute(sa.text("SELECT address FROM addresses ORDER BY id"))).scalars().all()
        assert kept == ["+15550001111", "telegram:42", "+15550002222"]
        await db.migrate()
        async with db.read() as conn:
            assert [a.paired_at for a in await pairing.paired_addresses(conn, 1)] == [None, None, None]
    finally:
        await db.close()
