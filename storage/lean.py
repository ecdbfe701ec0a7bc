"""One-statement reads without SQLAlchemy's connection machinery.

A read through `Database.read()` checks a connection out of the pool (waiting, when every one is
taken, in `asyncio.wait_for`), begins, executes through the async adapter's greenlet, commits and
checks the connection in: about 0.3 ms of CPU for a handler's one `SELECT` in a burst, a third of
all the CPU a text costs (bench/e2e.py, BENCHMARKS.md "Stop 16"). Most reads on the hot path are
one statement: the sender's rooms for `\\ROOMS`, the X tokens before a post, a room by name.

`Query` holds such a statement, built once at import with `sa.bindparam` placeholders, and
compiles it once per dialect. `Database.fetch(query, params)` runs it:

- SQLite file: on a reader connection of its own, outside the pool, in autocommit mode with
  `PRAGMA query_only`: one trip to the connection's thread (storage/onehop.py), the statement its
  own snapshot (WAL: it never waits for a writer, and it sees every transaction committed before
  it started). Every task's read goes to the same connection, whose thread runs them one after
  another without waiting for the event loop in between.
- PostgreSQL and `:memory:` SQLite: `Database.read()` and SQLAlchemy, as before.

Rows are SQLAlchemy `Row`s either way (attribute access, `_mapping`), with the columns' result
processors applied (Boolean, for one, comes back a `bool`). A read that needs several statements
to agree with each other still takes `Database.read()`; `in_tx(conn)` runs a `Query` on a
connection the caller holds (inside a write transaction, say).

Statements whose parameters are rendered at execution time (an expanding `IN` list, literal
execute) cannot be compiled once: `Query` refuses them when first compiled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.ext.asyncio import AsyncConnection

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

    def parameters(self, params: Params | None) -> tuple[Any, ...]:
        """Positional parameters (qmark) in the statement's order, converted for the driver."""
        values = self.compiled.construct_params(params)  # checks that required ones are given
        procs = self.bind_processors
        out = []
        for name in self.positions:
            value = values[name]
            proc = procs.get(name)
            out.append(proc(value) if proc is not None and value is not None else value)
        return tuple(out)

    def rows(self, raw: Sequence[Any]) -> Sequence[Row[Any]]:
        return cast(Rows, IteratorResult(self.meta, iter(raw)).all())


class Query:
    """A SELECT built once, compiled once per dialect (see the module docstring)."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, Compiled] = {}

    def for_dialect(self, dialect: Dialect) -> Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, sa.sql.compiler.SQLCompiler)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise TypeError(
                "a Query cannot hold parameters rendered at execution time (an expanding IN list):"
                " run this statement through Database.read()"
            )
        if not dialect.positional or compiled.positiontup is None:
            raise TypeError(f"Query compiles for positional drivers only, not {dialect.name}")
        processors = [
            column.type._cached_result_processor(dialect, None) for column in compiled._result_columns
        ]
        meta = SimpleResultMetaData(
            [column.keyname for column in compiled._result_columns], _processors=processors
        )
        found = Compiled(
            sql=compiled.string,
            compiled=compiled,
            positions=tuple(compiled.positiontup),
            bind_processors=dict(compiled._bind_processors),
            meta=meta,
        )
        self._compiled[dialect.name] = found
        return found


class Reads(Protocol):
    """What storage functions that read with a `Query` take: the `Database`, or `in_tx(conn)`."""

    async def fetch(self, query: Query, params: Params | None = None) -> Sequence[Row[Any]]: ...


class InTx:
    """`Reads` on a connection the caller holds (its transaction, its snapshot)."""

    __slots__ = ("conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def fetch(self, query: Query, params: Params | None = None) -> Sequence[Row[Any]]:
        return cast(Rows, (await self.conn.execute(query.statement, dict(params or {}))).all())


def in_tx(conn: AsyncConnection) -> InTx:
    return InTx(conn)


__all__ = ["Compiled", "InTx", "Params", "Query", "Reads", "Rows", "in_tx"]
