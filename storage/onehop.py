"""aiosqlite, one trip to the connection's thread per statement.

aiosqlite runs every sqlite3 call in the connection's own thread and wakes the event loop when it
is done: a cross-thread wake-up (a write to the loop's self-pipe, an epoll wake, a read) for each
call. SQLAlchemy's aiosqlite adapter makes five such calls per statement (cursor, execute,
fetchall, close, and the pool's rollback on check-in) and two more per transaction (`BEGIN` is a
statement of its own, then `COMMIT`): nine trips, about 0.6 ms of CPU, for a one-statement read
(bench/e2e.py, BENCHMARKS.md "One trip per statement").

`OneHopConnection` is an `aiosqlite.Connection` whose cursors do the whole statement (create the
sqlite3 cursor, execute, fetch every row, read `description`/`rowcount`/`lastrowid`) in one call
on the connection's thread, and whose transaction start (`defer_begin`) rides along with the
transaction's first statement. `rollback()` with no transaction open (the pool's reset on check-in
after a commit) is answered without a trip: the thread reports `in_transaction` after every call.
A read transaction is then two trips (BEGIN + SELECT, COMMIT), a write transaction one per
statement plus its COMMIT.

Semantics are the driver's: the same sqlite3 connection, the same statements in the same order,
on the same thread; only the number of wake-ups changes. Rows are fetched eagerly, as
SQLAlchemy's adapter already does for every non-server-side cursor.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

Description = tuple[tuple[Any, ...], ...] | None
Deferred = tuple[str, Any, bool]  # SQL, parameters, executemany: run before the next statement


class OneHopCursor:
    """The cursor SQLAlchemy's adapter drives: `execute` is one trip; the rest is local."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _take(self, result: tuple[Description, int, int | None, list[Any]]) -> OneHopCursor:
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def execute(
        self, sql: str, parameters: Sequence[Any] | dict[str, Any] | None = None
    ) -> OneHopCursor:
        return self._take(await self._connection._statement(sql, parameters, many=False))

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> OneHopCursor:
        return self._take(await self._connection._statement(sql, parameters, many=True))

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        n = size or self.arraysize
        rows, self._rows = self._rows[:n], self._rows[n:]
        return rows

    async def close(self) -> None:
        self._rows = []


class OneHopConnection(aiosqlite.Connection):
    """See the module docstring. `defer_begin(sql)`: run `sql` (`BEGIN`, `BEGIN IMMEDIATE`) just
    before the next statement, in the same trip; a transaction with no statement never starts."""

    _pending_begin: str | None = None
    _in_tx = False
    # calls handed to the connection's thread, and the last it finished (FIFO): a call whose
    # awaiting task was cancelled still runs there, and `_in_tx` is as it left it only after
    _submitted = 0
    _finished = 0

    def defer_begin(self, sql: str) -> None:
        self._pending_begin = sql

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """aiosqlite's one trip, which also notes whether a transaction is open afterwards (for
        every call on this connection, so `rollback()` never skips one that is)."""

        self._submitted += 1
        number = self._submitted

        def tracked() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                try:
                    self._in_tx = self._connection is not None and self._connection.in_transaction
                except sqlite3.ProgrammingError:  # closed
                    self._in_tx = False
                self._finished = number  # after `_in_tx`: read in that order's reverse

        return await super()._execute(tracked)  # type: ignore[no-untyped-call]

    def _begin_and(self, before: Sequence[Deferred]) -> None:
        """On the connection's thread: the deferred BEGIN, then statements queued without a trip of
        their own (results unused; an error raises here, for the statement that was to follow)."""
        conn = self._conn
        begin, self._pending_begin = self._pending_begin, None
        if begin is not None:
            conn.execute(begin)
        for sql, parameters, many in before:
            cursor = conn.cursor()
            try:
                if many:
                    cursor.executemany(sql, parameters)
                else:
                    cursor.execute(sql, parameters)
            finally:
                cursor.close()

    def _run(
        self, sql: str, parameters: Any, many: bool, before: Sequence[Deferred] = ()
    ) -> tuple[Description, int, int | None, list[Any]]:
        """On the connection's thread."""
        conn = self._conn
        self._begin_and(before)
        cursor = conn.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            elif parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            rows = cursor.fetchall() if cursor.description is not None else []
            return cursor.description, cursor.rowcount, cursor.lastrowid, rows
        finally:
            cursor.close()

    async def _statement(
        self, sql: str, parameters: Any, *, many: bool, before: Sequence[Deferred] = ()
    ) -> tuple[Description, int, int | None, list[Any]]:
        result: tuple[Description, int, int | None, list[Any]] = await self._execute(
            self._run, sql, parameters, many, before
        )
        return result

    async def commit_after(self, before: Sequence[Deferred]) -> None:
        """Run `before` (statements whose results nobody needs), then COMMIT: one trip."""
        if not before:
            await self.commit()
            return
        await self._execute(self._end, True, before)

    def _end(self, commit: bool, before: Sequence[Deferred] = ()) -> None:
        """On the connection's thread."""
        if before:
            self._begin_and(before)
        if commit:
            self._conn.commit()
        else:
            self._conn.rollback()

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def commit(self) -> None:
        if self._pending_begin is not None:  # begun, nothing ran: there is no transaction
            self._pending_begin = None
            if not self._in_tx:
                return
        await self._execute(self._end, True)

    async def rollback(self) -> None:
        """End the open transaction, if any. A statement still running on the connection's thread
        (its task cancelled: a shutdown, a deadline) may be opening one (its deferred `BEGIN
        IMMEDIATE`): the rollback then goes after it, on the thread, where the rollback of no
        transaction is a no-op. Read as "no transaction" from before it ended, the rollback did
        nothing, and the next write failed: "cannot start a transaction within a transaction"."""
        self._pending_begin = None
        idle = self._finished == self._submitted  # first: `_in_tx` is written before `_finished`
        if idle and not self._in_tx:
            return  # nothing to roll back (the pool's reset after a commit): no trip
        await self._execute(self._end, False)


async def connect(path: str) -> OneHopConnection:
    """Open `path` like SQLAlchemy's aiosqlite dialect does (`check_same_thread=False`), with
    the connection's thread a daemon (a process that exits without closing does not hang)."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(path, check_same_thread=False)

    connection = OneHopConnection(connector, 64)
    connection._thread.daemon = True
    await connection
    return connection


__all__ = ["OneHopConnection", "OneHopCursor", "connect"]
