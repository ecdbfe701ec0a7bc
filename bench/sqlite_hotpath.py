"""SQLite's share of a text, statement by statement: the hot path's own SQL, without the server.

    .venv/bin/python bench/sqlite_hotpath.py [--batch 21] [--cycles 150] [--history 6000] [--drop-index NAME,...]

In bench/e2e.py a text costs the SQLite threads about a quarter of its CPU, spread over the
webhook's insert, the worker's claim and outcome, the sender's claim and marks (BENCHMARKS.md
"Stop 20"). This runs those statements (the `Query` objects the code runs, compiled for SQLite,
with the parameters it passes) on one sqlite3 connection with the server's pragmas, in batches of
`--batch` texts from distinct senders (as in a burst: ~21 a worker claim), against a migrated
database holding `--history` handled messages, and reports each step's thread CPU per text. The
parameter conversion (storage/lean.py, the event loop's share in the server) is reported apart.
`--drop-index` drops indexes first, to price them (the statements still run, maybe slower).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import aiosqlite
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bench.purge import handled
from bot.pipeline import replyguard
from bot.pipeline.worker import _LOG_REPLIES, inbound_from_row, reply_key
from storage import inbox, lean, outbox, users
from storage.db import SQLITE_PRAGMAS, open_database
from storage.schema import outbox as outbox_table

DIALECT = aiosqlite.dialect()
ENQUEUE = lean.Query(sqlite_insert(outbox_table).on_conflict_do_nothing())  # storage.db.insert_ignoring
SENDERS = 3000


class Steps:
    """Thread CPU per named step; the parameter conversion (`sql`) kept apart."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.params = 0.0

    def sql(self, query: lean.Query, params: dict[str, Any] | list[dict[str, Any]]) -> tuple[str, Any]:
        started = time.thread_time()
        try:
            if isinstance(params, list):
                return query.for_dialect(DIALECT, params[0], many=True).many(params)
            return query.for_dialect(DIALECT, params).parameters(params)
        finally:
            self.params += time.thread_time() - started

    def timed(self, name: str, run: Callable[[], Any]) -> Any:
        started = time.thread_time()
        result = run()
        self.seconds[name] = self.seconds.get(name, 0.0) + time.thread_time() - started
        return result


def cycle(conn: sqlite3.Connection, steps: Steps, batch: int, first: int) -> None:
    """One batch through the whole path, as the server runs it (each step its own transaction)."""
    now = time.time()
    phones = [f"+1555{(first + i) % SENDERS + 1:07d}" for i in range(batch)]
    new = [
        inbox.NewMessage(
            "SM" + secrets.token_hex(16), "AC1", p, "+15550000000", "\\HELP", (), "", None, 0, now
        )
        for p in phones
    ]
    insert = inbox._insert_returning_sql(batch)  # the webhook's SqliteAppender: one statement
    values = [value for message in new for value in message.row().values()]
    steps.timed("webhook: insert batch (autocommit)", lambda: conn.execute(insert, values).fetchall())

    conn.execute("BEGIN IMMEDIATE")
    sql, params = steps.sql(
        inbox.QUEUE.claiming, {"now": now, "limit": batch, "owner": "w", "until": now + 300}
    )
    rows = steps.timed("worker: claim", lambda: conn.execute(sql, params).fetchall())
    assert len(rows) == batch, f"claimed {len(rows)} of {batch}"
    messages = [inbound_from_row(row) for row in rows]  # as the worker reads them
    claimed = list({m.sender.key for m in messages})
    sql, params = steps.sql(users._SENDERS, {"phones": claimed, "since": now - 60})
    steps.timed("worker: senders and rate counts", lambda: conn.execute(sql, params).fetchall())
    sql, params = steps.sql(replyguard._RECENT, {"phones": claimed, "since": now - replyguard.HOLD_SECONDS})
    steps.timed("worker: reply guard's rows", lambda: conn.execute(sql, params).fetchall())
    steps.timed("worker: claim COMMIT", lambda: conn.execute("COMMIT"))

    conn.execute("BEGIN IMMEDIATE")
    done = [
        {"b_id": m.id, "b_owner": "w", "b_status": "done", "b_now": now, "b_error": None, "b_body": None}
        for m in messages
    ]
    sql, params = steps.sql(inbox._FINISH, done)
    steps.timed("worker: inbox rows done", lambda: conn.executemany(sql, params))
    replies = [
        outbox.NewReply(
            to=m.sender.key, body="textwire: help", dedupe_key=reply_key(m, 0), inbox_id=m.id, now=now
        ).row()
        for m in messages
    ]
    sql, params = steps.sql(ENQUEUE, replies)
    steps.timed("worker: replies queued", lambda: conn.executemany(sql, params))
    logged = [
        {"phone": m.sender.key, "message_sid": m.external_id, "answer": "help", "at": now} for m in messages
    ]
    sql, params = steps.sql(_LOG_REPLIES, logged)
    steps.timed("worker: reply guard's rows in", lambda: conn.executemany(sql, params))
    steps.timed("worker: outcome COMMIT", lambda: conn.execute("COMMIT"))

    conn.execute("BEGIN IMMEDIATE")
    sql, params = steps.sql(
        outbox.QUEUE.claiming, {"now": now, "limit": 64, "owner": "s", "until": now + 300}
    )
    sends = steps.timed("sender: claim", lambda: conn.execute(sql, params).fetchall())
    # storage.outbox.CLAIMED's columns: to_phone second
    sql, params = steps.sql(users._OPTED_OUT_AMONG, {"phones": list({s[1] for s in sends})})
    steps.timed("sender: opted out among", lambda: conn.execute(sql, params).fetchall())
    steps.timed("sender: claim COMMIT", lambda: conn.execute("COMMIT"))

    conn.execute("BEGIN IMMEDIATE")
    marks = [
        {
            "b_id": s[0],
            "b_owner": "s",
            "b_reconcile": None,
            "b_status": "sent",
            "b_now": now,
            "b_sid": "SM" + secrets.token_hex(16),
            "b_sent_at": now,
            "b_next": None,
            "b_code": None,
            "b_error": None,
            "b_body": None,
            "b_redacted": False,
        }
        for s in sends
    ]
    sql, params = steps.sql(outbox._MARK, marks)
    steps.timed("sender: marks", lambda: conn.executemany(sql, params))
    steps.timed("sender: marks COMMIT", lambda: conn.execute("COMMIT"))


async def prepare(path: Path, history: int) -> None:
    db = await open_database(f"sqlite:///{path}", migrate=True)
    try:
        async with db.tx() as conn:
            await conn.execute(
                sa.insert(users.users),
                [{"phone": f"+1555{n:07d}", "created_at": 0.0} for n in range(1, SENDERS + 1)],
            )
            if history:
                await handled(conn, range(1, history + 1), time.time() - 3600)
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=21)
    parser.add_argument("--cycles", type=int, default=150)
    parser.add_argument("--history", type=int, default=6000)
    parser.add_argument("--drop-index", default="", help="comma-separated index names to drop first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hotpath-") as tmp:
        path = Path(tmp) / "textwire.db"
        asyncio.run(prepare(path, args.history))
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")
        for name in filter(None, args.drop_index.split(",")):
            conn.execute(f"DROP INDEX {name}")
        steps = Steps()
        for n in range(args.cycles):
            cycle(conn, steps, args.batch, n * args.batch)
        conn.close()
    texts = args.batch * args.cycles
    for name, seconds in steps.seconds.items():
        print(f"{seconds / texts * 1e6:6.1f} us a text  {name}")
    print(f"{sum(steps.seconds.values()) / texts * 1e6:6.1f} us a text  SQLite in all")
    print(
        f"{steps.params / texts * 1e6:6.1f} us a text  parameter conversion (the event loop's, in the server)"
    )


if __name__ == "__main__":
    main()
