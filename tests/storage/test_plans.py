"""The recurring jobs find their rows by an index, on both databases.

The clean-up jobs run every minute to every hour next to tables that keep days of rows (the inbox
7 days, the outbox 30). A statement that walks the kept rows to find the few old ones costs more
every day the service runs, and on SQLite it does so with the write lock held: webhooks and the
worker wait (bench/purge.py --kept: 0.15 s a table a run at a million kept rows, before migration
0013). Every statement these jobs, the `/metrics` scrape and the start-up key check run is captured here and explained:
on SQLite no table is SCANned; on PostgreSQL, with sequential scans priced out, none is left (an
index can serve each)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.pipeline import replyguard
from scheduler import jobs
from storage import crypto, inbox, outbox, receipts
from storage import users as users_store
from storage.db import Database, open_database
from storage.schema import inbox as inbox_table
from storage.schema import outbox as outbox_table
from storage.schema import reply_log, users, x_tokens

# Tables that grow with traffic or users and keep days of it. Aside: the few-row bookkeeping ones
# (processes, job_leases, ready_probe), and the ones whose purge keeps only minutes: join_failures
# (an hour of wrong passwords) and reply_log (the reply guard's last 10 minutes; an index on its
# `at` would invite PostgreSQL to walk every recent reply for the guard's per-phone read).
BIG = {"inbox", "outbox", "posts", "users", "x_tokens", "link_tokens", "oauth_sessions", "receipts"}


@contextmanager
def captured(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """Every statement run through SQLAlchemy's engine meanwhile, with its parameters."""
    executed: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            executed.append((statement, parameters))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield executed
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", capture)


def _pg_scans(node: dict[str, Any]) -> Iterator[str]:
    if node.get("Node Type") == "Seq Scan":
        yield str(node.get("Relation Name"))
    for child in node.get("Plans", []):
        yield from _pg_scans(child)


async def scans(db: Database, sql: str, parameters: Any) -> tuple[list[str], Any]:
    """The big tables `sql` reads whole, and its plan (for the failure message)."""
    async with db.read() as conn:
        if db.engine.dialect.name == "sqlite":
            plan = [
                str(row[3]) for row in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
            ]
            return [line for line in plan if line.startswith("SCAN") and line.split()[1] in BIG], plan
        await conn.exec_driver_sql("SET enable_seqscan = off")
        raw = (await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", parameters)).scalar_one()
        plan = json.loads(raw) if isinstance(raw, str) else raw
        return [name for name in _pg_scans(plan[0]["Plan"]) if name in BIG], plan


def messages(
    phones: list[str], count: int, *, status: str, at: float, first: int = 0
) -> list[dict[str, Any]]:
    """`count` inbox rows from `phones` in turn, received (and when finished, done) at `at`."""
    done = at if status in ("done", "failed") else None
    return [
        {
            "message_sid": f"SM{first + n:032d}",
            "from_phone": phones[n % len(phones)],
            "status": status,
            "received_at": at,
            "done_at": done,
        }
        for n in range(count)
    ]


async def test_the_clean_up_jobs_and_the_metrics_scrape_go_by_index(database_url: str) -> None:
    db = await open_database(database_url, migrate=True)
    try:
        deps: Any = SimpleNamespace(db=db, now=time.time)
        cipher = crypto.TokenCipher([Fernet.generate_key().decode()])
        async with db.tx() as conn:  # a linked user, so the key check reads its sample
            user_id = (
                await conn.execute(
                    sa.insert(users).values(phone="+15550001111", created_at=0.0).returning(users.c.id)
                )
            ).scalar_one()
            await conn.execute(
                sa.insert(x_tokens).values(
                    user_id=user_id, ciphertext=cipher.encrypt(user_id, {}), expires_at=0.0, updated_at=0.0
                )
            )
        with captured(db) as executed:
            await jobs.retention(deps)
            await jobs.redact_links(deps)
            await crypto.verify_keys(db, cipher)  # every process's start
            async with db.read() as conn:
                await receipts.pending_twilio_deletes(conn, before=time.time())
                await inbox.QUEUE.depth(conn)
                await outbox.QUEUE.depth(conn)
        statements = dict(executed)
        assert len(statements) >= 8, list(statements)  # 4 batched purges, 2 expiries, redact, ...
        for sql, parameters in statements.items():
            scanned, plan = await scans(db, sql, parameters)
            assert not scanned, (sql, plan)
        # and the purges do not take a status index over the age one (each walked every kept row)
        if db.engine.dialect.name == "sqlite":
            for sql, parameters in statements.items():
                if sql.startswith(("DELETE FROM inbox", "DELETE FROM outbox")):
                    _, plan = await scans(db, sql, parameters)
                    assert any("ix_inbox_received_at" in p or "ix_outbox_created_at" in p for p in plan), plan
    finally:
        await db.close()


async def test_depth_counts_the_queue_with_zeros(database_url: str) -> None:
    """`/metrics` depth is the unfinished rows by status, every status present (0 included: a
    gauge not set again would keep its last count), and not the finished rows."""
    db = await open_database(database_url, migrate=True)
    try:
        now = time.time()
        async with db.tx() as conn:
            phone = ["+15550001111"]
            await conn.execute(
                sa.insert(inbox_table),
                messages(phone, 2, status="pending", at=now)
                + messages(phone, 1, status="done", at=now, first=2)
                + messages(phone, 1, status="failed", at=now, first=3),
            )
            await conn.execute(
                sa.insert(outbox_table),
                [
                    {
                        "dedupe_key": f"k{n}",
                        "to_phone": "+15550001111",
                        "body": "ok",
                        "status": status,
                        "created_at": now,
                    }
                    for n, status in enumerate(["sending", "sent", "sent", "skipped"])
                ],
            )
        async with db.read() as conn:
            assert await inbox.QUEUE.depth(conn) == {"pending": 2, "processing": 0, "parked": 0}
            assert await outbox.QUEUE.depth(conn) == {"queued": 0, "sending": 1}
    finally:
        await db.close()


async def test_the_claims_per_sender_reads_go_by_sender_next_to_history(database_url: str) -> None:
    """The worker's claim reads, for each sender of the batch, the messages handled in the last
    minute (the per-sender limit) and the reply guard's rows of the last minutes. Next to days of
    history that the statistics know and a minute of new rows they have not seen yet (autovacuum
    lags), both must go by their per-sender index: PostgreSQL took an index on `done_at` alone
    (migration 0013's first version) and walked every message handled in the last minute for each
    sender, 60-110 ms a claim at a million rows of history (bench/e2e.py --history)."""
    db = await open_database(database_url, migrate=True)
    try:
        now = time.time()
        phones = [f"+1555{n:07d}" for n in range(40)]

        async def history(at: float, count: int, first: int) -> None:
            async with db.tx() as conn:
                await conn.execute(
                    sa.insert(inbox_table), messages(phones, count, status="done", at=at, first=first)
                )
                await conn.execute(
                    sa.insert(reply_log),
                    [
                        {"phone": phones[n % len(phones)], "message_sid": f"SM{first + n:032d}", "at": at}
                        for n in range(count)
                    ],
                )

        async with db.tx() as conn:  # the users and their addresses
            for phone in phones:
                await users_store.get_or_create(conn, phone, now)
        await history(now - 86400, 20_000, 0)
        await db.analyze()
        await history(now - 5, 4_000, 20_000)  # the last minute, not analyzed yet
        with captured(db) as executed:
            async with db.read() as conn:
                await users_store.senders(conn, phones[:20], now=now, since=now - 60)
                await replyguard.recent(conn, phones[:20], now)
        [(count_sql, count_params)] = [(s, p) for s, p in executed if "handled_recently" in s]
        [(guard_sql, guard_params)] = [(s, p) for s, p in executed if "FROM reply_log" in s]
        _, plan = await scans(db, count_sql, count_params)
        assert "ix_inbox_sender_done" in json.dumps(plan), plan
        assert "ix_inbox_received_at" not in json.dumps(plan), plan
        _, plan = await scans(db, guard_sql, guard_params)
        assert "ix_reply_log_phone_at" in json.dumps(plan), plan
    finally:
        await db.close()


async def test_the_claim_looks_each_candidates_sender_up_behind_a_burst(database_url: str) -> None:
    """A burst arrives while the statistics say the queue is empty (it is, between bursts): the
    claim's "nothing earlier of this sender waits" check must stay a lookup by sender for each
    candidate. PostgreSQL turned it into an anti-join of every candidate against every pending row
    (37-52 ms a claim behind 3,000); now a subplan by ix_inbox_waiting there, and a search of
    ix_inbox_waiting on SQLite."""
    db = await open_database(database_url, migrate=True)
    try:
        now = time.time()
        phones = [f"+1555{n:07d}" for n in range(500)]
        async with db.tx() as conn:
            await conn.execute(
                sa.insert(inbox_table), messages(phones, 20_000, status="done", at=now - 86400)
            )
        await db.analyze()  # the statistics: an empty queue
        async with db.tx() as conn:  # the burst
            await conn.execute(
                sa.insert(inbox_table), messages(phones, 1_000, status="pending", at=now, first=20_000)
            )
        with captured(db) as executed:
            async with db.tx() as conn:
                claimed = await inbox.QUEUE.claim(conn, now=now, limit=64, owner="w", lease=60)
        assert len(claimed) == 64
        [(sql, parameters)] = [(s, p) for s, p in executed if s.startswith("UPDATE inbox")]
        _, plan = await scans(db, sql, parameters)
        text = json.dumps(plan)
        if db.is_postgres:  # a subplan per candidate by the index, never an anti-join
            assert '"Join Type": "Anti"' not in text, plan
            assert '"Subplan Name"' in text, plan
            assert "ix_inbox_waiting" in text, plan
        else:
            assert "SEARCH j USING INDEX ix_inbox_waiting (from_phone=? AND id<?)" in plan, plan
    finally:
        await db.close()


async def test_the_senders_claim_never_walks_the_kept_replies(database_url: str) -> None:
    """The claim's "another process is sending to this address" check reads the rows being sent
    (ix_outbox_ready), once a claim: a lookup a candidate by `id < candidate` made SQLite walk the
    30 days of kept replies by rowid for each, 1.3 s a claim next to 200,000 (0.07 ms now)."""
    db = await open_database(database_url, migrate=True)
    try:
        now = time.time()
        phones = [f"+1555{n:07d}" for n in range(500)]

        def replies(count: int, status: str, first: int, **extra: Any) -> list[dict[str, Any]]:
            return [
                {
                    "dedupe_key": f"k{first + n}",
                    "to_phone": phones[n % len(phones)],
                    "body": "a reply",
                    "status": status,
                    "created_at": now - 60,
                    "next_attempt_at": now - 60,
                    **extra,
                }
                for n in range(count)
            ]

        async with db.tx() as conn:
            await conn.execute(sa.insert(outbox_table), replies(20_000, "sent", 0))
            await conn.execute(sa.insert(outbox_table), replies(64, "sending", 20_000, claimed_by="other"))
            await conn.execute(sa.insert(outbox_table), replies(1_000, "queued", 30_000))
        await db.analyze()
        with captured(db) as executed:
            async with db.tx() as conn:
                claimed = await outbox.QUEUE.claim(conn, now=now, limit=64, owner="s", lease=60)
        assert len(claimed) == 64
        [(sql, parameters)] = [(s, p) for s, p in executed if s.startswith("UPDATE outbox")]
        found, plan = await scans(db, sql, parameters)
        assert found == [], plan
        if not db.is_postgres:
            assert not any("PRIMARY KEY (rowid<" in line for line in plan), plan
    finally:
        await db.close()


async def test_when_addresses_last_wrote_goes_by_index(database_url: str) -> None:
    """A notice to a WhatsApp address (a reminder, a `\\PAID` to the payee) asks when the person
    last wrote (its 24-hour window). The one statement over every status had no index to go by:
    on PostgreSQL it scanned the whole inbox, 30 ms at 200,000 rows. Each status now goes by
    one, and the latest message counts whatever its status."""
    db = await open_database(database_url, migrate=True)
    try:
        now = time.time()
        ann, bob, cat = "whatsapp:+15550001111", "whatsapp:+15550002222", "whatsapp:+15550003333"
        async with db.tx() as conn:
            rows = (
                messages([ann, bob, cat], 30, status="done", at=now - 3600)
                + messages([bob], 1, status="pending", at=now - 60, first=100)
                + messages([cat], 1, status="parked", at=now - 30, first=101)
                + messages(["+15550009999"], 1, status="failed", at=now, first=102)
            )
            await conn.execute(sa.insert(inbox_table), rows)
        with captured(db) as executed:
            async with db.read() as conn:
                last = await inbox.last_received(conn, [ann, bob, cat, "whatsapp:+15550004444"])
        assert last == {ann: now - 3600, bob: now - 60, cat: now - 30}
        (sql, parameters), *_ = executed
        scanned, plan = await scans(db, sql, parameters)
        assert not scanned, (sql, plan)
    finally:
        await db.close()
