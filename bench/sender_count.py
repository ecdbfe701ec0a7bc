"""The claim's sender query for a number that kept many done messages (the per-sender limit's count).

    .venv/bin/python bench/sender_count.py [--done 100000]

A migrated SQLite file, one user with `--done` done inbox rows spread over the 7 days they are
kept, ten of them in the last minute; times `users.senders` (the query the worker's claim runs,
with the write lock held) in a `Database.write()` transaction, and prints SQLite's plan for it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from storage import users as users_store
from storage.db import open_database
from storage.schema import inbox, users

PHONE = "+15550001111"
WEEK = 7 * 86400


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(f"sqlite:///{tmp}/bench.db", migrate=True)
        now = time.time()
        async with db.tx() as conn:
            await conn.execute(sa.insert(users).values(phone=PHONE, created_at=now - WEEK))
            rows = [
                {
                    "message_sid": f"SM{n:032d}",
                    "account_sid": "AC",
                    "from_phone": PHONE,
                    "to_phone": "+15557654321",
                    "body": "x",
                    "status": "done",
                    "done_at": now - (5 + n * 6 if n < 10 else WEEK * n / args.done),
                    "received_at": now - WEEK,
                }
                for n in range(args.done)
            ]
            for start in range(0, len(rows), 5000):
                await conn.execute(sa.insert(inbox), rows[start : start + 5000])
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            async with db.write() as conn:
                found = await users_store.senders(conn, [PHONE], now=now, since=now - 60)
            times.append((time.perf_counter() - started) * 1000)
        async with db.read() as conn:
            plan = await conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT count(*) FROM inbox WHERE from_phone = ? AND status = 'done'"
                " AND done_at >= ?",
                (PHONE, now - 60),
            )
            lines = [str(row[3]) for row in plan]
        await db.close()
    print(f"{args.done} done rows: handled in the last minute {found[PHONE].handled_recently}")
    print(
        f"users.senders: median {statistics.median(times):.2f} ms, max {max(times):.2f} ms over {args.runs}"
    )
    print("plan of the count:", "; ".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--done", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
