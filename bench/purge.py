"""The hourly retention purge of inbox rows that outbox rows still point to (`outbox.inbox_id`).

    .venv/bin/python bench/purge.py [--rows 8000,20000,100000] [--outbox-extra 0] [--without-index]

A migrated SQLite file with ROWS handled inbox rows older than the 7 days they are kept, each
with the reply it got in the outbox (kept 30 days, so still there), and `--outbox-extra` more
outbox rows (the rest of the 30 days' replies), then `scheduler.jobs`'s
retention job, timed: in all, and its longest transaction (the longest SQLite's write lock is
held at a time; the job deletes in batches of `scheduler.jobs.PURGE_BATCH`). `--without-index` drops
`ix_outbox_inbox_id` first (as before migration 0011): each deleted inbox row then scans the
outbox for rows to set NULL.

`--pg postgresql://textwire:textwire@127.0.0.1:5432/postgres`: the same on PostgreSQL (a new
database, analyzed after the load, dropped after the run).

`--kept N`: the steady state. Besides the old rows, N rows of each purged table that are still
inside their window (handled a day ago, replies and post intents of a day ago, the reply guard's
rows of the last minute): the hourly purge deletes an hour of rows next to days of kept ones, and
its last batch must not walk the kept ones (it did, with the write lock held, before migration
0013).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench.common import create_pg_database, drop_pg_database
from scheduler import jobs
from storage import inbox as inbox_store
from storage import outbox as outbox_store
from storage.db import open_database
from storage.schema import inbox, outbox, posts, reply_log, users

DAY = 86400
DURATIONS: list[float] = []


async def handled(conn: Any, ids: range, at: float) -> None:
    """Inbox rows `ids`, handled at `at`, each with its reply (sent) in the outbox."""
    await conn.execute(
        sa.insert(inbox),
        [
            {
                "id": n,
                "message_sid": f"SM{n:032d}",
                "from_phone": f"+1555{n % 5000:07d}",
                "body": "\\ROOMS",
                "status": "done",
                "received_at": at,
                "done_at": at,
            }
            for n in ids
        ],
    )
    await conn.execute(
        sa.insert(outbox),
        [
            {
                "dedupe_key": f"SM{n:032d}:0",
                "inbox_id": n,
                "to_phone": f"+1555{n % 5000:07d}",
                "body": "You are in no rooms.",
                "status": "sent",
                "created_at": at,
            }
            for n in ids
        ],
    )


async def keep(conn: Any, rows: int, kept: int) -> None:
    """`kept` rows of each purged table inside their windows (ids after the old ones)."""
    now = time.time()
    user_id = (
        await conn.execute(
            sa.insert(users).values(phone="+15559990000", created_at=now).returning(users.c.id)
        )
    ).scalar_one()
    for start in range(0, kept, 50_000):
        ids = range(rows + 1 + start, rows + 1 + min(kept, start + 50_000))
        await handled(conn, ids, now - DAY)
        await conn.execute(
            sa.insert(posts),
            [
                {
                    "message_sid": f"SM{n:032d}",
                    "user_id": user_id,
                    "state": "posted",
                    "created_at": now - DAY,
                    "updated_at": now - DAY,
                }
                for n in ids
            ],
        )
        await conn.execute(
            sa.insert(reply_log),
            [{"phone": f"+1555{n % 5000:07d}", "message_sid": f"SM{n:032d}", "at": now - 60} for n in ids],
        )


@contextlib.asynccontextmanager
async def database_url(pg: str | None) -> AsyncIterator[str]:
    """A new SQLite file, or a new database on the PostgreSQL server of `pg` (dropped after)."""
    if pg is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    url = await create_pg_database(pg, "textwire_purge_")
    try:
        yield url
    finally:
        await drop_pg_database(pg, url)


async def one(
    rows: int, extra: int, without_index: bool, kept: int = 0, pg: str | None = None
) -> tuple[float, float]:
    async with database_url(pg) as url:
        db = await open_database(url, migrate=True)
        try:
            old = time.time() - 8 * DAY
            async with db.tx() as conn:
                await handled(conn, range(1, rows + 1), old)
                if extra:
                    await conn.execute(
                        sa.insert(outbox),
                        [
                            {
                                "dedupe_key": f"later{n}",
                                "to_phone": "+15550001111",
                                "body": "You are in no rooms.",
                                "status": "sent",
                                "created_at": time.time() - DAY,
                            }
                            for n in range(extra)
                        ],
                    )
                if kept:
                    await keep(conn, rows, kept)
                if without_index:
                    await conn.execute(sa.text("DROP INDEX ix_outbox_inbox_id"))
            if db.is_postgres:  # the statistics autovacuum would have gathered by then
                await db.analyze()
            longest = 0.0
            tx = db.tx

            @contextlib.asynccontextmanager
            async def timed() -> AsyncIterator[Any]:
                nonlocal longest
                began = time.perf_counter()
                async with tx() as conn:
                    yield conn
                longest = max(longest, time.perf_counter() - began)
                DURATIONS.append(time.perf_counter() - began)

            db.tx = timed  # type: ignore[method-assign]
            deps: Any = SimpleNamespace(db=db, now=time.time)
            scrape = time.perf_counter()
            async with db.read() as conn:  # what a /metrics scrape counts
                await inbox_store.QUEUE.depth(conn)
                await outbox_store.QUEUE.depth(conn)
            print(f"  /metrics depth: {1000 * (time.perf_counter() - scrape):.1f} ms")
            started = time.perf_counter()
            await jobs.retention(deps)
            took = time.perf_counter() - started
            async with db.read() as conn:
                left = (await conn.execute(sa.select(sa.func.count()).select_from(inbox))).scalar()
            assert left == kept, left
            return took, longest
        finally:
            await db.close()


async def main(args: argparse.Namespace) -> None:
    jobs.PURGE_BATCH = args.batch
    for rows in (int(r) for r in args.rows.split(",")):
        DURATIONS.clear()
        took, longest = await one(rows, args.outbox_extra, args.without_index, args.kept, args.pg)
        index = "without" if args.without_index else "with"
        total = rows + args.outbox_extra
        print(
            f"{rows:>7} inbox rows, {total} outbox rows, {args.kept} kept in each table: purged in {took:6.2f} s,"
            f" longest transaction {longest:6.3f} s ({index} ix_outbox_inbox_id)"
        )
        print("  transactions (s):", " ".join(f"{d:.3f}" for d in DURATIONS))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="8000,20000,100000")
    parser.add_argument("--outbox-extra", type=int, default=0)
    parser.add_argument("--without-index", action="store_true")
    parser.add_argument("--batch", type=int, default=jobs.PURGE_BATCH, help="rows a transaction")
    parser.add_argument("--kept", type=int, default=0, help="rows of each table still inside their window")
    parser.add_argument(
        "--pg", help="a PostgreSQL server's URL: run there, in a new database, instead of SQLite"
    )
    asyncio.run(main(parser.parse_args()))
