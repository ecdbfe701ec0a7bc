"""The retention job: what it purges, what it keeps, and in transactions of a bounded size."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from scheduler import jobs
from storage.db import open_database
from storage.schema import inbox, outbox, posts, reply_log, users

DAY = 86400.0


async def test_old_handled_rows_go_in_batches_and_the_rest_stay(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handled inbox rows older than 7 days are deleted, a bounded batch a transaction (one
    transaction for an hour of a busy inbox held SQLite's write lock for seconds); recent and
    unfinished rows stay; the outbox keeps its replies (30 days), no longer pointing at them."""
    monkeypatch.setattr(jobs, "PURGE_BATCH", 5)
    db = await open_database(database_url, migrate=True)
    try:
        now = time.time()
        old = now - 8 * DAY
        rows = [(n, "done", old) for n in range(1, 13)]  # 12 to purge: batches of 5, 5, 2
        rows += [(13, "failed", old), (14, "done", now - DAY), (15, "pending", old), (16, "processing", old)]
        async with db.tx() as conn:
            await conn.execute(
                sa.insert(inbox),
                [
                    {
                        "id": n,
                        "message_sid": f"SM{n:032d}",
                        "from_phone": "+15550001111",
                        "status": status,
                        "received_at": at,
                        "done_at": at if status in ("done", "failed") else None,
                    }
                    for n, status, at in rows
                ],
            )
            await conn.execute(
                sa.insert(outbox),
                [
                    {
                        "dedupe_key": f"SM{n:032d}:0",
                        "inbox_id": n,
                        "to_phone": "+15550001111",
                        "body": "ok",
                        "status": "sent",
                        "created_at": at,
                    }
                    for n, _, at in rows
                ]
                # older than the outbox's 30 days: 6 finished (batches of 5, 1), 1 still queued
                + [
                    {
                        "dedupe_key": f"old{n}",
                        "inbox_id": None,
                        "to_phone": "+15550001111",
                        "body": "ok",
                        "status": "queued" if n == 6 else ("sent", "failed", "skipped")[n % 3],
                        "created_at": now - 31 * DAY,
                    }
                    for n in range(7)
                ],
            )
            # post intents (7 days, as the inbox) and the reply guard's rows (its window): 6 old
            # of each (batches of 5, 1) and one recent
            user_id = (
                await conn.execute(
                    sa.insert(users).values(phone="+15550001111", created_at=old).returning(users.c.id)
                )
            ).scalar_one()
            await conn.execute(
                sa.insert(posts),
                [
                    {
                        "message_sid": f"SMpost{n}",
                        "user_id": user_id,
                        "state": "posted",
                        "created_at": at,
                        "updated_at": at,
                    }
                    for n, at in enumerate([old] * 6 + [now - DAY])
                ],
            )
            await conn.execute(
                sa.insert(reply_log),
                [
                    {"phone": "+15550001111", "message_sid": f"SMlog{n}", "at": at}
                    for n, at in enumerate([now - 3600.0] * 6 + [now])
                ],
            )
        transactions = 0
        tx = db.tx

        @contextlib.asynccontextmanager
        async def counted() -> AsyncIterator[Any]:
            nonlocal transactions
            transactions += 1
            async with tx() as conn:
                yield conn

        monkeypatch.setattr(db, "tx", counted)
        with capture_logs() as logs:
            await jobs.retention(SimpleNamespace(db=db, now=lambda: now))  # type: ignore[arg-type]
        async with db.read() as conn:
            left = sorted((await conn.execute(sa.select(inbox.c.id))).scalars())
            pointers = dict((await conn.execute(sa.select(outbox.c.dedupe_key, outbox.c.inbox_id))).all())
            posts_left = list((await conn.execute(sa.select(posts.c.message_sid))).scalars())
            log_left = list((await conn.execute(sa.select(reply_log.c.message_sid))).scalars())
    finally:
        await db.close()
    assert left == [14, 15, 16]
    assert len(pointers) == len(rows) + 1  # every reply under 30 days kept, and the queued one
    assert "old6" in pointers
    assert {key for key, inbox_id in pointers.items() if inbox_id is None} == {
        f"SM{n:032d}:0" for n in range(1, 14)
    } | {"old6"}
    assert posts_left == ["SMpost6"]
    assert log_left == ["SMlog6"]
    # inbox: 5 + 5 + 3 (the failed one too), the last batch short; outbox, post intents and the
    # reply guard's rows: 5 + 1 each; links and sessions: one
    assert transactions == 3 + 2 + 2 + 2 + 1
    [purged] = [line for line in logs if line["event"] == "retention.purged"]
    assert purged["inbox"] == 13
    assert purged["outbox"] == 6
    assert purged["x"] == 6
