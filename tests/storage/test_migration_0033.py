"""Migration 0033 (early_statuses: status callbacks that came before their reply's sid was
recorded) on a database in use: a reply queued and sent at 0032 keeps its row, a callback kept for
it is found once it has the sid; downgraded, the replies stay and the table goes, and upgraded
again. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from storage import outbox
from storage.db import Database, head_revision
from tests.storage.test_migration_0017 import alembic, empty_url, on  # noqa: F401 (fixture)

T0 = 1_800_000_000.0
SID = "SM" + "a" * 32


async def test_0033_keeps_replies_and_finds_a_kept_callback_once_its_reply_has_the_sid(
    empty_url: str,  # noqa: F811
) -> None:
    await alembic(empty_url, "upgrade", "0032")
    async with on(empty_url) as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO outbox (id, dedupe_key, to_phone, body, status, created_at, channel)"
                " VALUES (1, 'k1', '+15550001111', 'hello', 'sending', 1.0, 'sms')"
            )
        )
    db = Database(empty_url)
    try:
        await db.migrate()
        assert await db.revision() == head_revision()
        async with db.tx() as conn:
            await outbox.keep_early_status(conn, SID, "delivered", None, T0)
        async with db.read() as conn:
            assert await outbox.early_statuses_due(conn) == ([], 1)  # no reply has the sid yet
        async with db.tx() as conn:
            await conn.execute(sa.text("UPDATE outbox SET twilio_sid = :s, status = 'sent'"), {"s": SID})
        async with db.read() as conn:
            due, kept = await outbox.early_statuses_due(conn)
        assert kept == 1
        assert [(e.twilio_sid, e.status, e.error_code, e.received_at) for e in due] == [
            (SID, "delivered", None, T0)
        ]
        async with db.tx() as conn:
            assert await outbox.drop_early_statuses(conn, [due[0].id], before=T0 - 1) == 0
        async with db.read() as conn:
            assert await outbox.early_statuses_due(conn) == ([], 0)

        await alembic(empty_url, "downgrade", "0032")
        async with on(empty_url) as conn:
            kept_rows = (await conn.execute(sa.text("SELECT id, twilio_sid, body FROM outbox"))).all()
        assert [tuple(r) for r in kept_rows] == [(1, SID, "hello")]
        await db.migrate()
        async with db.tx() as conn:
            await outbox.keep_early_status(conn, SID, "read", None, T0 + 1)
        async with db.read() as conn:
            assert [e.status for e in (await outbox.early_statuses_due(conn))[0]] == ["read"]
    finally:
        await db.close()
