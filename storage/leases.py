"""Claims outlive their owner, never more: process heartbeats, takeover of dead owners' claims,
and leases for scheduled jobs. Dialect-agnostic (SQLite and PostgreSQL), each a conditional
statement, so processes racing on one row never both win."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import inbox, outbox
from storage.db import db_clock, insert_ignore
from storage.schema import job_leases, processes

FORGET_SECONDS = 24 * 3600.0  # a dead process's row is deleted after this long

_KNOWN = sa.select(processes.c.id)


def _dead_owner(column: sa.Column[str]) -> sa.ColumnElement[bool]:
    """No owner, an owner with no heartbeat row (it stopped, or was forgotten), or one the
    caller judged dead (`dead`: bot/pipeline/leases.py watches the heartbeats change)."""
    return sa.or_(column.is_(None), column.not_in(_KNOWN), column.in_(sa.bindparam("dead", expanding=True)))


_HEARTBEAT = (
    sa.update(processes)
    .where(processes.c.id == sa.bindparam("owner"))
    .values(heartbeat_at=sa.bindparam("now"))
)
# Dead owners' claims go back as a stopping owner's do (storage/queue.py): inbox rows pending,
# outbox rows queued, to be looked up at Twilio before they are sent again (storage/outbox.py).
_TAKE_INBOX = inbox.QUEUE.putting_back(_dead_owner(inbox.QUEUE.table.c.claimed_by))
_TAKE_OUTBOX = outbox.QUEUE.putting_back(_dead_owner(outbox.QUEUE.table.c.claimed_by))
_FORGET = sa.delete(processes).where(processes.c.heartbeat_at < sa.bindparam("forget_before"))


async def heartbeat(conn: AsyncConnection, owner: str, now: float) -> None:
    """Say `owner` is alive (registering it on its first beat)."""
    result = await conn.execute(_HEARTBEAT, {"owner": owner, "now": now})
    if result.rowcount == 0:
        await conn.execute(insert_ignore(conn, processes).values(id=owner, started_at=now, heartbeat_at=now))


async def heartbeats(conn: AsyncConnection) -> dict[str, float]:
    """Every process's last heartbeat, as its own clock wrote it."""
    rows = await conn.execute(sa.select(processes.c.id, processes.c.heartbeat_at))
    return {str(id_): float(at) for id_, at in rows}


async def take_over(conn: AsyncConnection, *, now: float, dead: Sequence[str]) -> tuple[int, int]:
    """Put back the claims of the `dead` owners (and of owners with no heartbeat row): inbox rows
    to pending, outbox rows to queued (to be reconciled). Returns (inbox rows, outbox rows)."""
    params = {"dead": list(dead)}
    taken_in = (await conn.execute(_TAKE_INBOX, params)).rowcount
    taken_out = (await conn.execute(_TAKE_OUTBOX, params)).rowcount
    await conn.execute(_FORGET, {"forget_before": now - FORGET_SECONDS})
    return taken_in, taken_out


async def forget(conn: AsyncConnection, owner: str) -> None:
    """A process stopping cleanly (after releasing its claims)."""
    await conn.execute(sa.delete(processes).where(processes.c.id == owner))


async def take_job(conn: AsyncConnection, job_id: str, owner: str, *, seconds: float) -> bool:
    """The lease on one scheduled job's run for `seconds`, when no one holds it; True when `owner`
    got it. Timed by the database's clock (`db_clock`), not the caller's: a process whose clock
    ran ahead took a lease another still held, and ran the job early; one whose clock ran behind
    wrote a lease already over by the others' clocks."""
    now = db_clock()
    result = await conn.execute(
        sa.update(job_leases)
        .where(job_leases.c.job_id == job_id, job_leases.c.until <= now)
        .values(owner=owner, until=now + seconds)
    )
    if result.rowcount == 1:
        return True
    result = await conn.execute(
        insert_ignore(conn, job_leases).values(job_id=job_id, owner=owner, until=now + seconds)
    )
    return bool(result.rowcount == 1)
