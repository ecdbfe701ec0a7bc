"""Migration 0030 (inbox.forwarded: the channel said the message was forwarded from another chat)
on a database in use: a message waiting in the inbox at 0029 is kept across the upgrade, not
forwarded, and claimed as it was; a forwarded one is stored and claimed with its mark (the
worker's batch insert and claim, on each database's own path); downgraded, both rows stay, and
upgraded again. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from bot.pipeline.worker import inbound_from_row
from storage import inbox
from storage.db import Database, head_revision
from tests.conftest import new_message
from tests.storage.test_migration_0017 import alembic, empty_url, on  # noqa: F401 (fixture)

WAITING = "SM" + "1" * 32
FORWARDED = "SM" + "2" * 32


async def test_0030_keeps_waiting_messages_and_carries_the_forwarded_mark(empty_url: str) -> None:  # noqa: F811
    await alembic(empty_url, "upgrade", "0029")
    async with on(empty_url) as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO inbox (message_sid, from_phone, body, received_at)"
                " VALUES (:sid, 'whatsapp:+15550009999', 'waiting at 0029', 1.0)"
            ),
            {"sid": WAITING},
        )
    db = Database(empty_url)
    try:
        await db.migrate()  # as `textwire migrate` does
        assert await db.revision() == head_revision()
        new = await inbox.insert_new(
            db, [new_message(FORWARDED, "whatsapp:+15550008888", "Bob's words", forwarded=True)]
        )
        assert new == {FORWARDED}
        async with db.tx() as conn:
            claimed = await inbox.QUEUE.claim(conn, owner="w", now=2.0, limit=10, lease=60.0)
        found = {m.external_id: (m.body, m.forwarded) for m in map(inbound_from_row, claimed)}
        assert found == {WAITING: ("waiting at 0029", False), FORWARDED: ("Bob's words", True)}

        await alembic(empty_url, "downgrade", "0029")
        async with on(empty_url) as conn:
            kept = (await conn.execute(sa.text("SELECT message_sid FROM inbox ORDER BY id"))).scalars().all()
        assert kept == [WAITING, FORWARDED]
        await db.migrate()
        async with db.read() as conn:
            marks = (await conn.execute(sa.text("SELECT forwarded FROM inbox ORDER BY id"))).scalars().all()
        assert [bool(m) for m in marks] == [False, False]  # the mark went with the column
    finally:
        await db.close()
