"""The inbox: inbound messages, keyed by MessageSid, claimed by the worker in per-sender order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import insert_ignore
from storage.schema import inbox


@dataclass(frozen=True)
class NewMessage:
    message_sid: str
    account_sid: str
    from_phone: str
    to_phone: str
    body: str
    media: tuple[tuple[str, str], ...]
    opt_out_type: str
    idempotency_token: str | None
    priority: int
    received_at: float

    def row(self) -> dict[str, object]:
        """Column values in `_ROW_COLUMNS` order."""
        return {
            "message_sid": self.message_sid,
            "account_sid": self.account_sid,
            "from_phone": self.from_phone,
            "to_phone": self.to_phone,
            "body": self.body,
            "media": json.dumps(self.media),
            "opt_out_type": self.opt_out_type,
            "idempotency_token": self.idempotency_token,
            "priority": self.priority,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": 0.0,
            "received_at": self.received_at,
        }


_ROW_COLUMNS = (
    "message_sid", "account_sid", "from_phone", "to_phone", "body", "media", "opt_out_type",
    "idempotency_token", "priority", "status", "attempts", "next_attempt_at", "received_at",
)  # fmt: skip


def _fresh(messages: Sequence[NewMessage]) -> list[NewMessage]:
    """The first of each MessageSid in a batch (a burst of retries arrives together)."""
    seen: dict[str, NewMessage] = {}
    for message in messages:
        seen.setdefault(message.message_sid, message)
    return list(seen.values())


def _insert_returning_sql(rows: int) -> str:
    values = ", ".join(["(" + ", ".join("?" * len(_ROW_COLUMNS)) + ")"] * rows)
    columns = ", ".join(_ROW_COLUMNS)
    # built from constant column names and placeholders only
    sql = f"INSERT INTO inbox ({columns}) VALUES {values} ON CONFLICT (message_sid) DO NOTHING RETURNING message_sid"  # noqa: S608
    return sql


async def insert_batch(conn: AsyncConnection, messages: Sequence[NewMessage]) -> set[str]:
    """Insert-or-ignore many messages in one transaction; return the MessageSids that were new."""
    fresh = _fresh(messages)
    if not fresh:
        return set()
    # One statement: ON CONFLICT DO NOTHING ... RETURNING names exactly the rows this transaction
    # inserted, also when another process inserts the same MessageSid at the same moment.
    result = await conn.execute(
        insert_ignore(conn, inbox).returning(inbox.c.message_sid), [m.row() for m in fresh]
    )
    return {str(sid) for sid in result.scalars().all()}


class SqliteAppender:
    """The webhook's hot path on the embedded default: a connection of its own and one statement
    per batch (`INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING RETURNING message_sid`),
    which SQLite runs as its own transaction: one thread hop per batch instead of six through the
    pool. The rows it returns are exactly the new ones."""

    MAX_ROWS = 512  # 13 columns a row: well under SQLite's 32,766 variables

    def __init__(self, path: str, *, lock: asyncio.Lock | None = None) -> None:
        self._path = path
        # The database's in-process write lock: queue behind the worker's transactions in the
        # event loop, not in SQLite's busy handler (which sleeps in steps of up to 100 ms).
        self._lock = lock or asyncio.Lock()
        self._conn: aiosqlite.Connection | None = None
        self._sql: dict[int, str] = {}

    async def open(self) -> None:
        self._conn = await aiosqlite.connect(self._path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000"):
            await self._conn.execute(f"PRAGMA {pragma}")

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def append(self, messages: Sequence[NewMessage]) -> set[str]:
        assert self._conn is not None, "open() first"
        fresh = _fresh(messages)
        new: set[str] = set()
        for start in range(0, len(fresh), self.MAX_ROWS):
            chunk = fresh[start : start + self.MAX_ROWS]
            sql = self._sql.get(len(chunk))
            if sql is None:
                sql = self._sql[len(chunk)] = _insert_returning_sql(len(chunk))
            params = [value for m in chunk for value in m.row().values()]
            async with self._lock:
                rows = await self._conn.execute_fetchall(sql, params)
            new.update(str(row[0]) for row in rows)
        return new


async def release_claims(
    conn: AsyncConnection, *, now: float, everything: bool = False, owner: str | None = None
) -> int:
    """Put claimed rows back to pending: expired leases, one owner's claims, or all (a restart of
    the single embedded process)."""
    where = inbox.c.status == "processing"
    if owner is not None:
        where = sa.and_(where, inbox.c.claimed_by == owner)
    elif not everything:
        where = sa.and_(where, inbox.c.claimed_until < now)
    result = await conn.execute(
        sa.update(inbox).where(where).values(status="pending", claimed_by=None, claimed_until=None)
    )
    return result.rowcount


_CANDIDATES = sa.text(
    """
    SELECT i.id, i.from_phone, i.priority FROM inbox AS i
    WHERE i.next_attempt_at <= :now AND (
        i.status = 'parked'
        OR (i.status = 'pending' AND (
            i.priority = 1
            OR NOT EXISTS (
                SELECT 1 FROM inbox AS j
                WHERE j.from_phone = i.from_phone AND j.id < i.id AND j.priority = 0
                  AND j.status IN ('pending', 'processing'))))
    )
    ORDER BY i.priority DESC, i.id
    LIMIT :limit
    """
)


async def claim(
    conn: AsyncConnection,
    *,
    now: float,
    limit: int,
    owner: str,
    lease: float,
    busy_senders: Iterable[str] = (),
) -> list[sa.Row[tuple[object, ...]]]:
    """Claim up to `limit` ready rows, at most one per sender and none of a busy sender (except
    priority rows: carrier keywords and `\\STOP` are handled at once). Each claim is a
    compare-and-swap, so several processes never claim one row twice."""
    busy = set(busy_senders)
    rows = (await conn.execute(_CANDIDATES, {"now": now, "limit": limit * 4 + len(busy)})).all()
    chosen: list[int] = []
    for row in rows:
        if len(chosen) >= limit:
            break
        if row.from_phone in busy and not row.priority:
            continue
        busy.add(row.from_phone)
        chosen.append(row.id)
    claimed: list[int] = []
    for row_id in chosen:
        result = await conn.execute(
            sa.update(inbox)
            .where(
                inbox.c.id == row_id,
                inbox.c.status.in_(("pending", "parked")),
                inbox.c.next_attempt_at <= now,
            )
            .values(
                status="processing",
                claimed_by=owner,
                claimed_until=now + lease,
                attempts=inbox.c.attempts + 1,
            )
        )
        if result.rowcount == 1:
            claimed.append(row_id)
    if not claimed:
        return []
    return list(
        (await conn.execute(sa.select(inbox).where(inbox.c.id.in_(claimed)).order_by(inbox.c.id))).all()
    )


async def finish(
    conn: AsyncConnection,
    inbox_id: int,
    *,
    status: str,
    now: float,
    body: str | None = None,
    error: str | None = None,
) -> None:
    values: dict[str, object] = {
        "status": status,
        "done_at": now,
        "claimed_by": None,
        "claimed_until": None,
        "error": error,
    }
    if body is not None:
        values["body"] = body
    await conn.execute(sa.update(inbox).where(inbox.c.id == inbox_id).values(**values))


async def reschedule(
    conn: AsyncConnection,
    inbox_id: int,
    *,
    at: float,
    status: str = "pending",
    error: str | None = None,
    refund: bool = False,
) -> None:
    """Back to the queue until `at`. `refund`: the try did not fail (a deferral), so it does not
    count against the attempt limit."""
    values: dict[str, object] = {
        "status": status,
        "next_attempt_at": at,
        "claimed_by": None,
        "claimed_until": None,
        "error": error,
    }
    if refund:
        values["attempts"] = inbox.c.attempts - 1
    await conn.execute(sa.update(inbox).where(inbox.c.id == inbox_id).values(**values))


async def handled_since(conn: AsyncConnection, phone: str, since: float) -> int:
    """Messages from `phone` handled (done) since `since`: the per-sender rate window."""
    query = sa.select(sa.func.count()).where(
        inbox.c.from_phone == phone, inbox.c.status == "done", inbox.c.done_at >= since
    )
    return int((await conn.execute(query)).scalar_one())


async def depth(conn: AsyncConnection) -> dict[str, int]:
    rows = (await conn.execute(sa.select(inbox.c.status, sa.func.count()).group_by(inbox.c.status))).all()
    return {str(status): int(count) for status, count in rows}


async def purge(conn: AsyncConnection, *, before: float) -> int:
    """Delete handled rows older than `before` (retention)."""
    result = await conn.execute(
        sa.delete(inbox).where(inbox.c.status.in_(("done", "failed")), inbox.c.done_at < before)
    )
    return result.rowcount
