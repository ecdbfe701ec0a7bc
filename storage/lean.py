"""Statements compiled once, run without SQLAlchemy's connection machinery on SQLite.

A read through `Database.read()` checks a connection out of the pool (waiting, when every one is
taken, in `asyncio.wait_for`), begins, executes through the async adapter's greenlet, commits and
checks the connection in: about 0.3 ms of CPU for a handler's one `SELECT` in a burst, a third of
all the CPU a text cost (bench/e2e.py, BENCHMARKS.md "Stop 16"). A write transaction of two
statements costs 0.31 ms that way, 0.08 ms on the driver directly.

`Query` holds a statement built once at import (with `sa.bindparam` placeholders) and compiles it
once per dialect. On a SQLAlchemy connection it executes like the statement it holds.

- `Database.fetch(query, params)` runs a one-statement read. On a SQLite file: on a reader
  connection of its own, outside the pool, in autocommit mode with `PRAGMA query_only`: one trip to
  the connection's thread (storage/onehop.py), the statement its own snapshot (WAL: it never waits
  for a writer, and sees every transaction committed before it started). Every task's read goes to
  the same connection, whose thread runs them back to back.
- `Database.write()` is a write transaction for the hot path: the claim loops' batched statements
  (claims, outcomes, marks) and a post's intent and outcome. On a SQLite file it runs on a writer connection of its own (writers of this
  process queue on one asyncio lock anyway) and yields a `LeanTx`, whose `execute` takes a `Query`
  (compiled once) or any statement (compiled on each call: for the rare paths) with one mapping
  or a list of them (executemany), in one trip each, and returns a result with `all()`,
  `scalars()`, `first()`, `rowcount`; errors are SQLAlchemy's (`IntegrityError`, ...). On
  PostgreSQL `write()` is `tx()`: storage functions take either (`Writer`).
- PostgreSQL and `:memory:` SQLite: SQLAlchemy as before.

Rows are SQLAlchemy `Row`s either way (attribute access, `_mapping`), with the columns' result
processors applied (Boolean, for one, comes back a `bool`). A read that needs several statements
to agree still takes `Database.read()`; `in_tx(conn)` runs a `Query`'s read on a connection the
caller holds. Expanding parameters (`IN` lists) are rendered per call by SQLAlchemy's
`construct_expanded_state`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable

from storage import onehop

Params = Mapping[str, Any]
Rows = Sequence[Row[Any]]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A `Query` for one dialect: the SQL text, how to order and convert the parameters, and the
    result's keys and converters."""

    sql: str
    compiled: sa.sql.compiler.SQLCompiler
    positions: tuple[str, ...]
    bind_processors: Mapping[str, Any]
    meta: SimpleResultMetaData
    expanding: bool  # parameters rendered per call (an IN list): SQL text per call

    def parameters(self, params: Params | None) -> tuple[str, tuple[Any, ...]]:
        """The SQL text and its positional (qmark) parameters, converted for the driver."""
        if self.expanding:
            state = self.compiled.construct_expanded_state(params)
            assert state.positiontup is not None
            return state.statement, _converted(state.parameters, state.positiontup, state.processors)
        values = self.compiled.construct_params(params)  # checks that required ones are given
        return self.sql, _converted(values, self.positions, self.bind_processors)

    def many(self, params: Sequence[Params]) -> tuple[str, list[tuple[Any, ...]]]:
        """executemany: the SQL text and one parameter tuple per mapping."""
        if self.expanding:
            raise sa.exc.InvalidRequestError("'expanding' parameters can't be used with executemany()")
        if self.compiled._result_columns:  # SQLAlchemy's "insertmanyvalues": not done here
            raise sa.exc.InvalidRequestError(
                "executemany() of a statement that returns rows: use Database.tx()"
            )
        construct, positions, procs = self.compiled.construct_params, self.positions, self.bind_processors
        return self.sql, [_converted(construct(p), positions, procs) for p in params]

    def rows(self, raw: Sequence[Any]) -> Rows:
        return cast(Rows, IteratorResult(self.meta, iter(raw)).all())


def _converted(
    values: Mapping[str, Any], positions: Sequence[str], procs: Mapping[str, Any]
) -> tuple[Any, ...]:
    out = []
    for name in positions:
        value = values[name]
        proc = procs.get(name)
        out.append(proc(value) if proc is not None and value is not None else value)
    return tuple(out)


class Query(Executable):
    """A statement built once, compiled once per dialect (see the module docstring). On a
    SQLAlchemy connection (`conn.execute(query, ...)`) it executes as its statement does."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, tuple[str, ...], bool], Compiled] = {}

    def _execute_on_connection(self, connection: Any, distilled_params: Any, execution_options: Any) -> Any:
        return self.statement._execute_on_connection(connection, distilled_params, execution_options)

    def for_dialect(self, dialect: Dialect, params: Params | None = None, *, many: bool = False) -> Compiled:
        """Compiled as SQLAlchemy compiles it for these parameters: with their names as the
        column keys (an INSERT without `.values()` inserts the columns given), once per dialect and
        set of names."""
        keys = tuple(sorted(params)) if params else ()
        found = self._compiled.get((dialect.name, keys, many))
        if found is None:
            found = self._compiled[(dialect.name, keys, many)] = compile_for(
                self.statement, dialect, keys, many=many
            )
        return found


def compile_for(
    statement: Executable, dialect: Dialect, keys: Sequence[str] = (), *, many: bool = False
) -> Compiled:
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=dialect, column_keys=list(keys), for_executemany=many
    )
    assert isinstance(compiled, sa.sql.compiler.SQLCompiler)
    # SQLite's driver only: its result converters need no column type codes from the cursor
    # (asyncpg's do), and its parameters are positional. PostgreSQL runs `statement` through
    # SQLAlchemy (`Query` executes as its statement there).
    if dialect.name != "sqlite" or compiled.positiontup is None:
        raise TypeError(f"lean statements run on SQLite's driver only, not {dialect.name}")
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise TypeError("a column default computed in Python needs SQLAlchemy's execution: use Database.tx()")
    processors = [column.type._cached_result_processor(dialect, None) for column in compiled._result_columns]
    meta = SimpleResultMetaData(
        [column.keyname for column in compiled._result_columns], _processors=processors
    )
    return Compiled(
        sql=compiled.string,
        compiled=compiled,
        positions=tuple(compiled.positiontup),
        bind_processors=dict(compiled._bind_processors),
        meta=meta,
        expanding=bool(compiled.post_compile_params or compiled.literal_execute_params),
    )


@contextmanager
def driver_errors(sql: str, values: Any) -> Iterator[None]:
    """sqlite3's errors as SQLAlchemy raises them (IntegrityError, OperationalError, ...), so
    callers catch the same exceptions on either path."""
    try:
        yield
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, values, exc, sqlite3.Error) from exc


async def read_on(
    connection: onehop.OneHopConnection, dialect: Dialect, query: Query, params: Params | None
) -> Rows:
    """A one-statement read on `connection` in autocommit: one trip (`Database.fetch`)."""
    compiled = query.for_dialect(dialect, params)
    sql, values = compiled.parameters(params)
    with driver_errors(sql, values):
        _, _, _, raw = await connection._statement(sql, values, many=False)
    return compiled.rows(raw)


class LeanResult(IteratorResult):  # type: ignore[type-arg]
    """What `LeanTx.execute` returns: the rows (`all()`, `first()`, `scalars()`, ...) and the
    driver's `rowcount`."""

    def __init__(self, meta: SimpleResultMetaData, rows: Sequence[Any], rowcount: int) -> None:
        super().__init__(meta, iter(rows))
        self.rowcount = rowcount


class LeanTx:
    """One write transaction on a SQLite connection of its own (`Database.write()`)."""

    def __init__(self, connection: onehop.OneHopConnection, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self._deferred: list[onehop.Deferred] = []

    def _compiled(self, statement: Executable, first: Params | None, many: bool) -> Compiled:
        if isinstance(statement, Query):
            return statement.for_dialect(self.dialect, first, many=many)
        return compile_for(statement, self.dialect, tuple(sorted(first or ())), many=many)

    def _prepared(
        self, statement: Executable, parameters: Params | Sequence[Params] | None
    ) -> tuple[Compiled, onehop.Deferred]:
        """The statement compiled for these parameters (one mapping, or a list: executemany), and
        what the driver runs: SQL text, parameter tuple(s), whether it is an executemany."""
        if isinstance(parameters, Sequence):
            first = parameters[0] if parameters else None
            compiled = self._compiled(statement, first, True)
            sql, many_values = compiled.many(parameters)
            return compiled, (sql, many_values, True)
        compiled = self._compiled(statement, parameters, False)
        sql, values = compiled.parameters(parameters)
        return compiled, (sql, values, False)

    def defer(self, statement: Executable, parameters: Params | Sequence[Params]) -> None:
        """Queue a statement whose result nobody reads: it goes to SQLite with the next statement
        or with COMMIT, in the same trip. Its error, if any, is raised there."""
        if isinstance(parameters, Sequence) and not parameters:
            return
        self._deferred.append(self._prepared(statement, parameters)[1])

    async def finish(self) -> None:
        """COMMIT, after whatever is still deferred (one trip)."""
        deferred, self._deferred = self._deferred, []
        with driver_errors("COMMIT", None):
            await self.connection.commit_after(deferred)

    async def execute(
        self, statement: Executable, parameters: Params | Sequence[Params] | None = None
    ) -> LeanResult:
        compiled, (sql, values, many) = self._prepared(statement, parameters)
        deferred, self._deferred = self._deferred, []
        with driver_errors(sql, values):
            _, rowcount, _, raw = await self.connection._statement(sql, values, many=many, before=deferred)
        return LeanResult(compiled.meta, raw, rowcount)


# What the claim loops' storage functions take: `Database.write()` yields one or the other.
Writer = AsyncConnection | LeanTx


async def write_later(conn: Writer, statement: Executable, parameters: Params | Sequence[Params]) -> None:
    """A statement whose result the caller does not need: on a `LeanTx` it rides with the next
    trip (`LeanTx.defer`), elsewhere it runs now."""
    if isinstance(conn, LeanTx):
        conn.defer(statement, parameters)
    else:
        await conn.execute(statement, parameters)


class Reads(Protocol):
    """What storage functions that read with a `Query` take: the `Database`, or `in_tx(conn)`."""

    async def fetch(self, query: Query, params: Params | None = None) -> Sequence[Row[Any]]: ...


class InTx:
    """`Reads` on a connection the caller holds (its transaction, its snapshot)."""

    __slots__ = ("conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def fetch(self, query: Query, params: Params | None = None) -> Sequence[Row[Any]]:
        return (await self.conn.execute(query.statement, dict(params or {}))).all()


def in_tx(conn: AsyncConnection) -> InTx:
    return InTx(conn)


__all__ = [
    "Compiled",
    "InTx",
    "LeanResult",
    "LeanTx",
    "Params",
    "Query",
    "Reads",
    "Rows",
    "Writer",
    "compile_for",
    "driver_errors",
    "in_tx",
    "read_on",
    "write_later",
]
