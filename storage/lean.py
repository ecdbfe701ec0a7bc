"""Statements compiled once, run on the driver (sqlite3, asyncpg) without SQLAlchemy's connection machinery.

A read through `Database.read()` checks a connection out of the pool (waiting, when every one is
taken, in `asyncio.wait_for`), begins, executes through the async adapter's greenlet, commits and
checks the connection in: about 0.3 ms of CPU for a handler's one `SELECT` in a burst, a third of
all the CPU a text cost (bench/e2e.py, BENCHMARKS.md "Stop 16"). A write transaction of two
statements costs 0.31 ms that way, 0.08 ms on the driver directly.

`Query` holds a statement built once at import (with `sa.bindparam` placeholders) and compiles it
once per dialect. On a SQLAlchemy connection it executes like the statement it holds.

- `Database.fetch(query, params)` runs a one-statement read, in autocommit (the statement is its
  own snapshot). On a SQLite file: on a reader connection of its own, outside the pool, with
  `PRAGMA query_only`: one trip to the connection's thread (storage/onehop.py); WAL: it never
  waits for a writer, and sees every transaction committed before it started. Every task's read
  goes to the same connection, whose thread runs them back to back. On PostgreSQL: one statement
  on a connection of the lean pool (asyncpg's own pool, beside SQLAlchemy's).
- `Database.write()` is a write transaction for the hot path: the claim loops' batched statements
  (claims, outcomes, marks) and a post's intent and outcome. On a SQLite file it runs on a writer
  connection of its own (writers of this process queue on one asyncio lock anyway) and yields a
  `LeanTx`; on PostgreSQL it takes a connection of the lean pool and yields a `PgTx`. Both
  `execute` a `Query` (compiled once) or any statement (compiled on each call: for the rare
  paths) with one mapping or a list of them (executemany), and return a result with `all()`,
  `scalars()`, `first()`, `rowcount`; errors are SQLAlchemy's (`IntegrityError`, ...,
  `connection_invalidated` when the connection died). `defer` holds a statement whose result
  nobody reads until the next statement (SQLite: in the same trip) or COMMIT.
- `:memory:` SQLite (tests): SQLAlchemy as before.

Rows are SQLAlchemy `Row`s either way (attribute access, `_mapping`), with the columns' result
processors applied as SQLAlchemy applies them (Boolean comes back a `bool` on SQLite; on
PostgreSQL the processors see the column type OIDs asyncpg reports, as SQLAlchemy's cursor
description gives them). A read that needs several statements to agree still takes
`Database.read()`; `in_tx(conn)` runs a `Query`'s read on a connection the caller holds. Expanding
parameters (`IN` lists) are rendered per call by SQLAlchemy's `construct_expanded_state`.

What it saves (bench/lean.py, CPU per operation): SQLite, a 20-row read 220 -> 36 us, a
two-statement write transaction 344 -> 112 us; PostgreSQL in BENCHMARKS.md.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    result's keys and column types."""

    sql: str
    compiled: sa.sql.compiler.SQLCompiler
    dialect: Dialect
    positions: tuple[str, ...]
    bind_processors: Mapping[str, Any]
    keys: tuple[str, ...]
    types: tuple[Any, ...]  # each result column's SQLAlchemy type
    expanding: bool  # parameters rendered per call (an IN list): SQL text per call
    # how each position's value is found in a caller's mapping, without `construct_params` (see
    # `_plan`); None: through `construct_params`
    plan: tuple[tuple[str, str, Any, bool, Any], ...] | None = None
    # result metadata (the columns' result processors) per tuple of the driver's column type codes:
    # SQLite's driver has none (one entry, `()`); asyncpg reports PostgreSQL's type OIDs, on which
    # some processors depend (a FLOAT column's comes back as it is, a NUMERIC one converted), as
    # SQLAlchemy's cursor description gives them
    metas: dict[tuple[int, ...], SimpleResultMetaData] = field(default_factory=dict)

    @property
    def returns_rows(self) -> bool:
        return bool(self.types)

    def meta(self, coltypes: tuple[int, ...] = ()) -> SimpleResultMetaData:
        found = self.metas.get(coltypes)
        if found is None:
            codes: Sequence[int | None] = coltypes or [None] * len(self.types)
            processors = [
                type_._cached_result_processor(self.dialect, code)
                for type_, code in zip(self.types, codes, strict=True)
            ]
            found = self.metas[coltypes] = SimpleResultMetaData(list(self.keys), _processors=processors)
        return found

    def parameters(self, params: Params | None) -> tuple[str, tuple[Any, ...]]:
        """The SQL text and its positional parameters, converted for the driver."""
        if self.expanding:
            state = self.compiled.construct_expanded_state(params)
            assert state.positiontup is not None
            return state.statement, _converted(state.parameters, state.positiontup, state.processors)
        if self.plan is not None and params:
            return self.sql, self._planned(params)
        values = self.compiled.construct_params(params)  # checks that required ones are given
        return self.sql, _converted(values, self.positions, self.bind_processors)

    def many(self, params: Sequence[Params]) -> tuple[str, list[tuple[Any, ...]]]:
        """executemany: the SQL text and one parameter tuple per mapping."""
        if self.expanding:
            raise sa.exc.InvalidRequestError("'expanding' parameters can't be used with executemany()")
        if self.returns_rows:  # SQLAlchemy's "insertmanyvalues": not done here
            raise sa.exc.InvalidRequestError(
                "executemany() of a statement that returns rows: use Database.tx()"
            )
        if self.plan is not None:
            return self.sql, [self._planned(p) for p in params]
        construct, positions, procs = self.compiled.construct_params, self.positions, self.bind_processors
        return self.sql, [_converted(construct(p), positions, procs) for p in params]

    def _planned(self, params: Params) -> tuple[Any, ...]:
        """`_converted(construct_params(params), ...)` by the plan: a given value by the bind's key
        or name, else the bind's own value (`.values(status="sending")`), each through its bind
        processor. 0.9 us a row of the sender's marks instead of 2.5 (a text writes four such
        rows). A required value that is missing goes to `construct_params`, which says which."""
        assert self.plan is not None
        out = []
        for key, name, value, required, proc in self.plan:
            if key in params:
                value = params[key]
            elif name in params:
                value = params[name]
            elif required:
                self.compiled.construct_params(params)  # raises InvalidRequestError naming it
            out.append(value if proc is None or value is None else proc(value))
        return tuple(out)

    def rows(self, raw: Sequence[Any], coltypes: tuple[int, ...] = ()) -> Rows:
        return cast(Rows, IteratorResult(self.meta(coltypes), iter(raw)).all())


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
        self._compiled: dict[tuple[str, str, tuple[str, ...], bool], Compiled] = {}

    def _execute_on_connection(self, connection: Any, distilled_params: Any, execution_options: Any) -> Any:
        return self.statement._execute_on_connection(connection, distilled_params, execution_options)

    def for_dialect(self, dialect: Dialect, params: Params | None = None, *, many: bool = False) -> Compiled:
        """Compiled as SQLAlchemy compiles it for these parameters: with their names as the
        column keys (an INSERT without `.values()` inserts the columns given), once per dialect and
        set of names."""
        keys = tuple(sorted(params)) if params else ()
        found = self._compiled.get((dialect.name, dialect.driver, keys, many))
        if found is None:
            found = self._compiled[(dialect.name, dialect.driver, keys, many)] = compile_for(
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
    # The drivers run here: SQLite's (qmark) and asyncpg ($1): both positional.
    if dialect.driver not in ("pysqlite", "aiosqlite", "asyncpg") or compiled.positiontup is None:
        raise TypeError(f"lean statements run on SQLite's driver and asyncpg only, not {dialect.driver}")
    if compiled.insert_prefetch or compiled.update_prefetch:
        raise TypeError("a column default computed in Python needs SQLAlchemy's execution: use Database.tx()")
    positions = tuple(compiled.positiontup)
    bind_processors = dict(compiled._bind_processors)
    expanding = bool(compiled.post_compile_params or compiled.literal_execute_params)
    return Compiled(
        sql=compiled.string,
        compiled=compiled,
        dialect=dialect,
        positions=positions,
        bind_processors=bind_processors,
        keys=tuple(column.keyname for column in compiled._result_columns),
        types=tuple(column.type for column in compiled._result_columns),
        expanding=expanding,
        plan=None if expanding else _plan(compiled, positions, bind_processors),
    )


def _plan(
    compiled: sa.sql.compiler.SQLCompiler, positions: Sequence[str], procs: Mapping[str, Any]
) -> tuple[tuple[str, str, Any, bool, Any], ...] | None:
    """Per position: the bind's key and name (`construct_params` looks a value up by either),
    its own value, whether it is required, and its processor. None where `construct_params`
    does more than that: escaped names, values computed per call, parameters given with the
    statement (`.params()`), a name bound twice."""
    if compiled.escaped_bind_names or getattr(compiled, "_collected_params", None):
        return None
    binds: dict[str, Any] = {}
    for bind, name in compiled.bind_names.items():
        if bind.callable is not None or name in binds:
            return None
        binds[name] = bind
    if any(name not in binds for name in positions):
        return None
    return tuple(
        (binds[name].key, name, binds[name].value, bool(binds[name].required), procs.get(name))
        for name in positions
    )


@contextmanager
def driver_errors(sql: str, values: Any) -> Iterator[None]:
    """sqlite3's errors as SQLAlchemy raises them (IntegrityError, OperationalError, ...), so
    callers catch the same exceptions on either path."""
    try:
        yield
    except sqlite3.Error as exc:  # parameters left out: a log line must never carry what they hold
        raise sa.exc.DBAPIError.instance(sql, values, exc, sqlite3.Error, hide_parameters=True) from exc


async def read_on(
    connection: onehop.OneHopConnection, dialect: Dialect, query: Query, params: Params | None
) -> Rows:
    """A one-statement read on `connection` in autocommit: one trip (`Database.fetch`)."""
    compiled = query.for_dialect(dialect, params)
    sql, values = compiled.parameters(params)
    with driver_errors(sql, values):
        _, _, _, raw = await connection._statement(sql, values, many=False)
    return compiled.rows(raw)


def _prepared(
    statement: Executable, dialect: Dialect, parameters: Params | Sequence[Params] | None
) -> tuple[Compiled, onehop.Deferred]:
    """The statement compiled for these parameters (one mapping, or a list: executemany), and
    what the driver runs: SQL text, parameter tuple(s), whether it is an executemany."""
    many = isinstance(parameters, Sequence)
    first = (parameters[0] if parameters else None) if isinstance(parameters, Sequence) else parameters
    if isinstance(statement, Query):
        compiled = statement.for_dialect(dialect, first, many=many)
    else:
        compiled = compile_for(statement, dialect, tuple(sorted(first or ())), many=many)
    if isinstance(parameters, Sequence):
        sql, many_values = compiled.many(parameters)
        return compiled, (sql, many_values, True)
    sql, values = compiled.parameters(parameters)
    return compiled, (sql, values, False)


class LeanResult(IteratorResult):  # type: ignore[type-arg]
    """What `LeanTx.execute` and `PgTx.execute` return: the rows (`all()`, `first()`, `scalars()`, ...) and the
    driver's `rowcount`."""

    def __init__(self, meta: SimpleResultMetaData, rows: Sequence[Any], rowcount: int) -> None:
        super().__init__(meta, iter(rows))
        self.rowcount = rowcount


class _Tx:
    """What `LeanTx` and `PgTx` share: a driver connection, its dialect, and the statements
    deferred until the next one or COMMIT."""

    def __init__(self, connection: Any, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self._deferred: list[tuple[Compiled, onehop.Deferred]] = []

    def defer(self, statement: Executable, parameters: Params | Sequence[Params]) -> None:
        """Queue a statement whose result nobody reads: it runs before the transaction's next
        statement or COMMIT (on SQLite in the same trip). Its error, if any, is raised there."""
        if isinstance(parameters, Sequence) and not parameters:
            return
        self._deferred.append(_prepared(statement, self.dialect, parameters))

    def _take_deferred(self) -> list[tuple[Compiled, onehop.Deferred]]:
        deferred, self._deferred = self._deferred, []
        return deferred


class LeanTx(_Tx):
    """One write transaction on a SQLite connection of its own (`Database.write()`)."""

    connection: onehop.OneHopConnection

    async def finish(self) -> None:
        """COMMIT, after whatever is still deferred (one trip)."""
        deferred = [run for _, run in self._take_deferred()]
        with driver_errors("COMMIT", None):
            await self.connection.commit_after(deferred)

    async def execute(
        self, statement: Executable, parameters: Params | Sequence[Params] | None = None
    ) -> LeanResult:
        compiled, (sql, values, many) = _prepared(statement, self.dialect, parameters)
        deferred = [run for _, run in self._take_deferred()]
        with driver_errors(sql, values):
            _, rowcount, _, raw = await self.connection._statement(sql, values, many=many, before=deferred)
        return LeanResult(compiled.meta(), raw, rowcount)


# --- PostgreSQL: the same on an asyncpg connection of `Database`'s lean pool ---------------------


def _pg_error(dialect: Dialect, connection: Any, exc: Exception, sql: str, values: Any) -> sa.exc.DBAPIError:
    """asyncpg's exception as SQLAlchemy's asyncpg dialect raises it (IntegrityError, ...);
    `connection_invalidated` when the connection died (a server restart: the pool starts over)."""
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    dbapi = dialect.loaded_dbapi
    translated: Exception = exc
    try:
        AsyncAdapt_asyncpg_connection._handle_exception_no_connection(dbapi, exc)
    except Exception as error:
        translated = error
    wrapped = sa.exc.DBAPIError.instance(
        sql,
        values,
        translated,
        dbapi.Error,
        hide_parameters=True,  # as the engine's (storage/db.py)
        connection_invalidated=pg_dead(connection),
    )
    assert isinstance(wrapped, sa.exc.DBAPIError)
    return wrapped


def pg_dead(connection: Any) -> bool:
    """Whether a lean pool's connection died (its pool detaches a connection that closed: asking
    it anything then raises)."""
    import asyncpg

    try:
        return bool(connection.is_closed())
    except asyncpg.InterfaceError:
        return True


@contextmanager
def pg_errors(dialect: Dialect, connection: Any, sql: str, values: Any) -> Iterator[None]:
    import asyncpg

    try:
        yield
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _pg_error(dialect, connection, exc, sql, values) from exc


_COUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+|MERGE) (\d+)")


async def _pg_run(
    connection: Any, dialect: Dialect, compiled: Compiled, sql: str, values: Any, many: bool
) -> tuple[Sequence[Any], int, tuple[int, ...]]:
    """One statement on an asyncpg connection: its rows, rowcount (as SQLAlchemy's asyncpg
    cursor gives it: -1 for an executemany) and the result's column type OIDs. asyncpg prepares
    each statement once per connection (its statement cache). Errors are raised as `dialect`'s,
    the engine's: the dialect `compiled` was first compiled for (its cache is per dialect name)
    may be one without a driver loaded."""
    with pg_errors(dialect, connection, sql, values):
        if many:
            await connection.executemany(sql, values)
            return (), -1, ()
        if not compiled.returns_rows:
            status = await connection.execute(sql, *values)
            found = _COUNT.match(status or "")
            return (), int(found.group(1)) if found else -1, ()
        coltypes = _PG_COLTYPES.get(compiled.sql)
        if coltypes is None:  # once per statement: what SQLAlchemy's cursor description holds
            prepared = await connection.prepare(sql)
            coltypes = _PG_COLTYPES[compiled.sql] = tuple(a.type.oid for a in prepared.get_attributes())
        rows = await connection.fetch(sql, *values)
        return rows, len(rows), coltypes


# a compiled statement's text (before an IN list is rendered into it) -> its result's column type
# OIDs; the statements are the code's own: a bounded set
_PG_COLTYPES: dict[str, tuple[int, ...]] = {}


async def pg_fetch(connection: Any, dialect: Dialect, query: Query, params: Params | None) -> Rows:
    """A one-statement read on an asyncpg connection, in autocommit (`Database.fetch`)."""
    compiled = query.for_dialect(dialect, params)
    sql, values = compiled.parameters(params)
    rows, _, coltypes = await _pg_run(connection, dialect, compiled, sql, values, False)
    return compiled.rows(rows, coltypes)


class PgTx(_Tx):
    """`LeanTx` on PostgreSQL: one write transaction on an asyncpg connection (`Database.write()`),
    statements compiled once, deferred ones run before the next statement or COMMIT."""

    async def _flush(self) -> None:
        for compiled, (sql, values, many) in self._take_deferred():
            await _pg_run(self.connection, self.dialect, compiled, sql, values, many)

    async def finish(self) -> None:
        """What is still deferred, then COMMIT."""
        await self._flush()
        with pg_errors(self.dialect, self.connection, "COMMIT", None):
            await self.connection.execute("COMMIT")

    async def execute(
        self, statement: Executable, parameters: Params | Sequence[Params] | None = None
    ) -> LeanResult:
        compiled, (sql, values, many) = _prepared(statement, self.dialect, parameters)
        await self._flush()
        rows, rowcount, coltypes = await _pg_run(self.connection, self.dialect, compiled, sql, values, many)
        return LeanResult(compiled.meta(coltypes), rows, rowcount)


# What the claim loops' storage functions take: `Database.write()` yields one of these.
Writer = AsyncConnection | LeanTx | PgTx


async def write_later(conn: Writer, statement: Executable, parameters: Params | Sequence[Params]) -> None:
    """A statement whose result the caller does not need: on a `LeanTx` it rides with the next
    trip, on a `PgTx` it runs before the next statement (`defer`), elsewhere it runs now."""
    if isinstance(conn, (LeanTx, PgTx)):
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
    "PgTx",
    "Query",
    "Reads",
    "Rows",
    "Writer",
    "compile_for",
    "driver_errors",
    "in_tx",
    "pg_dead",
    "pg_errors",
    "pg_fetch",
    "read_on",
    "write_later",
]
