"""A table worked off by claims, in one shape: the inbox (the worker's) and the outbox (the sender's).

A row is claimed by an owner (a process id, bot/pipeline/leases.py) until its lease ends, in one
statement; its outcome is written only while the owner still holds it; a stopping owner puts its
own claims back, and storage/leases.py puts back those of owners that stopped heartbeating. The
table brings what is its own: which rows are ready and in what order (`ready`: a SELECT of ids
with `now` and `limit` binds, walking an index and stopping at `limit`), the status of a claimed
row, what putting a claim back writes, the order claimed rows are handled in, and which statuses
are not final yet. The hot statements (claim, release, outcomes) are built here once and compiled
once per dialect (storage/lean.py `Query`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import delete_some
from storage.lean import Query, Writer, write_later
from storage.schema import literal

ClaimedRow = sa.Row[tuple[object, ...]]


class Settles(Protocol):
    """An outcome to write on one claimed row: its id, its new status, and the values of the
    table's own binds (`ClaimQueue.settled`)."""

    @property
    def id(self) -> int: ...

    @property
    def status(self) -> str: ...

    def binds(self) -> dict[str, object]:
        """A new dict of the table's own binds (`ClaimQueue.settle` adds `b_id`, `b_owner` and
        `b_status` to it)."""
        ...


class ClaimQueue:
    """Claims on `table`'s rows (its `id`, `status`, `attempts`, `claimed_by`, `claimed_until`).

    `ready`: the ids of the rows to claim next, in claim order (binds `now`, `limit`; on PostgreSQL
    `FOR UPDATE SKIP LOCKED`, so concurrent claimers skip each other's rows). `claimed`: a claimed
    row's status; `literal_status`: written into the statements rather than bound (a column that
    a partial index's condition names: `storage.schema.literal`). `put_back`: what a claim put
    back writes besides clearing the claim (its status, ...). `returning`: the columns a claim
    reads; `order`: the order the claimed rows come back in. `claim_values`: what a claim writes
    besides status, owner, lease and attempts (binds `now`, `owner`, `until` may be used).
    `unfinished`: the statuses that are not final (`depth`, `purge`); `age`: the column `purge`
    goes by."""

    def __init__(
        self,
        table: sa.Table,
        *,
        ready: sa.Select[Any],
        claimed: str,
        put_back: Mapping[str, Any],
        returning: Sequence[sa.ColumnElement[Any]],
        order: Callable[[ClaimedRow], tuple[int, ...]],
        unfinished: Sequence[str],
        age: sa.ColumnElement[float],
        literal_status: bool = False,
        claim_values: Mapping[str, Any] | None = None,
    ) -> None:
        self.table = table
        self.unfinished = tuple(unfinished)
        self._order = order
        self._age = age
        self._put_back = dict(put_back)
        self.is_claimed = table.c.status == (literal(claimed) if literal_status else claimed)
        # One statement claims the batch. The rows are found by id only: a second `status IN
        # (...)` here let SQLite walk every pending row of the status index to match them. It
        # would add nothing: on SQLite nothing else writes during the statement, and on
        # PostgreSQL `FOR UPDATE` re-checks `ready`'s conditions on the row it locks.
        self.claiming = Query(
            sa.update(table)
            .where(table.c.id.in_(ready.scalar_subquery()))
            .values(
                status=claimed,
                claimed_by=sa.bindparam("owner"),
                claimed_until=sa.bindparam("until"),
                attempts=table.c.attempts + 1,
                **(claim_values or {}),
            )
            .returning(*returning)
        )
        owned = table.c.claimed_by == sa.bindparam("owner")
        self.releasing = Query(self.putting_back(owned))
        self.releasing_ids = Query(
            self.putting_back(owned, table.c.id.in_(sa.bindparam("ids", expanding=True)))
        )

    def queries(self) -> dict[str, Query]:
        """The statements built here, by name (tests check every `Query` of the code base)."""
        return {"claiming": self.claiming, "releasing": self.releasing, "releasing_ids": self.releasing_ids}

    def putting_back(self, *where: sa.ColumnElement[bool]) -> sa.Update:
        """The statement that puts back the claimed rows that match `where` (no owner, no lease)."""
        return (
            sa.update(self.table)
            .where(self.is_claimed, *where)
            .values(claimed_by=None, claimed_until=None, **self._put_back)
        )

    async def claim(
        self, conn: Writer, *, now: float, limit: int, owner: str, lease: float
    ) -> list[ClaimedRow]:
        """Claim up to `limit` ready rows for `owner` until `now + lease`, in one statement (each
        claim counts as an attempt); the rows (`returning`'s columns) in the table's order."""
        result = await conn.execute(
            self.claiming, {"now": now, "limit": limit, "owner": owner, "until": now + lease}
        )
        return sorted(result.all(), key=self._order)

    async def release(self, conn: Writer, *, owner: str, ids: Sequence[int] | None = None) -> int:
        """Put `owner`'s claimed rows back (all, or those of `ids`): a process stopping, an outcome
        that could not be written. Claims of other owners are never released here: a dead
        owner's are taken over (storage/leases.py). How many."""
        if ids is None:
            result = await conn.execute(self.releasing, {"owner": owner})
        else:
            result = await conn.execute(self.releasing_ids, {"owner": owner, "ids": list(ids)})
        return int(result.rowcount)

    def settled(self, **values: Any) -> Query:
        """The statement that writes an outcome on a claimed row (`b_id`) and ends its claim, only
        while the writer (`b_owner`) still holds it: a claim taken over (its owner looked dead)
        belongs to the new owner, whose outcome counts. Its status is `b_status`; `values` are the
        table's other columns (with binds of their own, `b_...`)."""
        table = self.table
        return Query(
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"), table.c.claimed_by == sa.bindparam("b_owner"))
            .values(status=sa.bindparam("b_status"), claimed_by=None, claimed_until=None, **values)
        )

    async def settle(self, conn: Writer, statement: Query, owner: str, outcomes: Sequence[Settles]) -> None:
        """Write many outcomes with `statement` (from `settled`) in one executemany; on a `LeanTx`
        it goes with the transaction's next trip (`write_later`). Nothing for no outcomes."""
        if not outcomes:
            return
        rows = []
        for outcome in outcomes:  # the outcome's own dict, completed: no second dict a row
            row = outcome.binds()
            row["b_id"], row["b_owner"], row["b_status"] = outcome.id, owner, outcome.status
            rows.append(row)
        await write_later(conn, statement, rows)

    async def depth(self, conn: AsyncConnection) -> dict[str, int]:
        """The queue: unfinished rows by status, 0 for a status with none (by an index that leads
        with `status`: the final rows, days of them, are not read on every scrape)."""
        table = self.table
        query = (
            sa.select(table.c.status, sa.func.count())
            .where(table.c.status.in_(self.unfinished))
            .group_by(table.c.status)
        )
        counts = dict.fromkeys(self.unfinished, 0)
        for status, count in (await conn.execute(query)).all():
            counts[str(status)] = int(count)
        return counts

    async def purge(self, conn: AsyncConnection, *, before: float, limit: int) -> int:
        """Delete up to `limit` finished rows whose `age` column is before `before` (retention:
        called until it deletes fewer, a transaction each). By the index on that column: `NOT IN`
        the unfinished statuses rather than `IN` the final ones, or SQLite walks every finished row
        by the status index instead."""
        return await delete_some(
            conn, self.table, self.table.c.status.not_in(self.unfinished), self._age < before, limit=limit
        )


__all__ = ["ClaimQueue", "ClaimedRow", "Settles"]
