"""The hourly retention purge of inbox rows that outbox rows still point to (`outbox.inbox_id`).

    .venv/bin/python bench/purge.py [--rows 8000,20000,100000] [--outbox-extra 0] [--without-index]

A migrated SQLite file with ROWS handled inbox rows older than the 7 days they are kept, each
with the reply it got in the outbox (kept 30 days, so still there), and `--outbox-extra` more
outbox rows (the rest of the 30 days' replies), then `scheduler.jobs`'s
retention job: the time it holds the write transaction. `--without-index` drops
`ix_outbox_inbox_id` first (as before migration 0011): each deleted inbox row then scans the
outbox for rows to set NULL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from scheduler import jobs
from storage.db import open_database
from storage.schema import inbox, outbox

DAY = 86400


async def one(rows: int, extra: int, without_index: bool) -> float:
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
            deps: Any = SimpleNamespace(db=db, now=time.time)
            started = time.perf_counter()
            await jobs.retention(deps)
            took = time.perf_counter() - started
            async with db.read() as conn:
                left = (await conn.execute(sa.select(sa.func.count()).select_from(inbox))).scalar()
            assert left == 0, left
            return took
        finally:
            await db.close()


async def main(args: argparse.Namespace) -> None:
    for rows in (int(r) for r in args.rows.split(",")):
        took = await one(rows, args.outbox_extra, args.without_index)
        index = "without" if args.without_index else "with"
        total = rows + args.outbox_extra
        print(f"{rows:>7} inbox rows, {total} outbox rows: purged in {took:6.2f} s ({index} the index)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="8000,20000,100000")
    parser.add_argument("--outbox-extra", type=int, default=0)
    parser.add_argument("--without-index", action="store_true")
    asyncio.run(main(parser.parse_args()))
