"""The hourly retention purge of inbox rows that outbox rows still point to (`outbox.inbox_id`).

    .venv/bin/python bench/purge.py [--rows 8000,20000,100000] [--outbox-extra 0] [--without-index]

A migrated SQLite file with ROWS handled inbox rows older than the 7 days they are kept, each
with the reply it got in the outbox (kept 30 days, so still there), and `--outbox-extra` more
outbox rows (the rest of the 30 days' replies), then `scheduler.jobs`'s
retention job, timed: in all, and its longest transaction (the longest SQLite's write lock is
held at a time; the job deletes in batches of `scheduler.jobs.PURGE_BATCH`). `--without-index` drops
`ix_outbox_inbox_id` first (as before migration 0011): each deleted inbox row then scans the
outbox for rows to set NULL.
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

from scheduler import jobs
from storage.db import open_database
from storage.schema import inbox, outbox

DAY = 86400


async def one(rows: int, extra: int, without_index: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(f"sqlite:///{tmp}/bench.db", migrate=True)
        try:
            old = time.time() - 8 * DAY
            async with db.tx() as conn:
                await conn.execute(
                    sa.insert(inbox),
                    [
                        {
                            "id": n,
                            "message_sid": f"SM{n:032d}",
                            "from_phone": f"+1555{n % 5000:07d}",
                            "body": "\\ROOMS",
                            "status": "done",
                            "received_at": old,
                            "done_at": old,
                        }
                        for n in range(1, rows + 1)
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
                            "created_at": old,
                        }
                        for n in range(1, rows + 1)
                    ],
                )
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
                if without_index:
                    await conn.execute(sa.text("DROP INDEX ix_outbox_inbox_id"))
            longest = 0.0
            tx = db.tx

            @contextlib.asynccontextmanager
            async def timed() -> AsyncIterator[Any]:
                nonlocal longest
                began = time.perf_counter()
                async with tx() as conn:
                    yield conn
                longest = max(longest, time.perf_counter() - began)

            db.tx = timed  # type: ignore[method-assign]
            deps: Any = SimpleNamespace(db=db, now=time.time)
            started = time.perf_counter()
            await jobs.retention(deps)
            took = time.perf_counter() - started
            async with db.read() as conn:
                left = (await conn.execute(sa.select(sa.func.count()).select_from(inbox))).scalar()
            assert left == 0, left
            return took, longest
        finally:
            await db.close()


async def main(args: argparse.Namespace) -> None:
    for rows in (int(r) for r in args.rows.split(",")):
        took, longest = await one(rows, args.outbox_extra, args.without_index)
        index = "without" if args.without_index else "with"
        total = rows + args.outbox_extra
        print(
            f"{rows:>7} inbox rows, {total} outbox rows: purged in {took:6.2f} s, longest transaction {longest:6.3f} s ({index} the index)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="8000,20000,100000")
    parser.add_argument("--outbox-extra", type=int, default=0)
    parser.add_argument("--without-index", action="store_true")
    asyncio.run(main(parser.parse_args()))
