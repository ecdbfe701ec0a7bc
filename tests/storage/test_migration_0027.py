"""Migration 0027 (the address an X link was texted to) on a database in use: a link made before
it still opens, naming the person's first address; a new one names its own; then downgraded and
upgraded again. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from storage import xaccounts
from storage.db import Database
from tests.storage.test_migration_0017 import alembic, empty_url, on  # noqa: F401 (fixture)

NOW = 1_790_000_000.0


async def test_0027_upgrades_downgrades_and_upgrades_again(empty_url: str) -> None:  # noqa: F811
    await alembic(empty_url, "upgrade", "0026")
    async with on(empty_url) as conn:
        await conn.execute(
            sa.text("INSERT INTO users (phone, created_at) VALUES ('+15550000001', :now)"), {"now": NOW}
        )
        user_id = (await conn.execute(sa.text("SELECT id FROM users"))).scalar_one()
        for channel, address in (("sms", "+15550000001"), ("telegram", "telegram:7001")):
            await conn.execute(
                sa.text(
                    "INSERT INTO addresses (user_id, channel, address, opted_out, created_at)"
                    " VALUES (:u, :c, :a, false, :now)"
                ),
                {"u": user_id, "c": channel, "a": address, "now": NOW},
            )
        await conn.execute(
            sa.text(
                "INSERT INTO link_tokens (token_hash, user_id, created_at, expires_at)"
                " VALUES (:h, :u, :now, :until)"
            ),
            {"h": xaccounts.digest("old-token"), "u": user_id, "now": NOW, "until": NOW + 600},
        )
    await alembic(empty_url, "upgrade", "0027")
    async with on(empty_url) as conn:
        old = await xaccounts.peek_link(conn, "old-token", NOW)
        assert old is not None
        assert (old.phone, old.status) == ("+15550000001", "ok")
        new = await xaccounts.create_link(conn, user_id, NOW + 1, address="telegram:7001")
        peeked = await xaccounts.peek_link(conn, new, NOW + 1)
        assert peeked is not None
        assert peeked.phone == "telegram:7001"
        assert await xaccounts.consume_link(conn, new, NOW + 2) == (user_id, "telegram:7001")
    await alembic(empty_url, "downgrade", "0026")
    db = Database(empty_url)
    try:
        async with db.read() as conn:
            columns = await conn.run_sync(lambda sync: sa.inspect(sync).get_columns("link_tokens"))
            assert "address" not in {c["name"] for c in columns}
            assert (await conn.execute(sa.text("SELECT count(*) FROM link_tokens"))).scalar_one() == 2
    finally:
        await db.close()
    await alembic(empty_url, "upgrade", "0027")
