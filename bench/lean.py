"""CPU per database operation: SQLAlchemy's path against storage/lean.py's.

    .venv/bin/python bench/lean.py [--ops 2000] [--core 0] [--pg postgresql://user:pw@host/db]

One process pinned to a core, a migrated SQLite file (or, with `--pg`, a database
`textwire_bench_lean` created afresh on that server) with 200 users; each operation awaited one
after another (no overlap: the worst case for trips to a connection's thread):
- read: one SELECT of 20 rows by `Database.read()` + `conn.execute`, against `Database.fetch`;
- write: a transaction of a SELECT and an executemany UPDATE of 20 rows by `Database.tx()`,
  against `Database.write()`; and the same with the UPDATE deferred (`lean.write_later`).
Rounds alternate the two paths; prints the median CPU microseconds per operation.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from storage import lean
from storage.db import Database, open_database
from storage.schema import users

SELECT = lean.Query(sa.select(users.c.id, users.c.phone).where(users.c.id <= sa.bindparam("n")))
TOUCH = lean.Query(
    sa.update(users).where(users.c.id == sa.bindparam("b_id")).values(created_at=sa.bindparam("b_at"))
)


PG_DATABASE = "textwire_bench_lean"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def per_op(fn: Callable[[], Awaitable[object]], ops: int) -> float:
    for _ in range(min(50, ops)):
        await fn()
    start = cpu()
    for _ in range(ops):
        await fn()
    return (cpu() - start) / ops * 1e6


async def fresh_pg_database(url: str) -> str:
    import asyncpg

    from bot.core.dburl import pg_connect_args

    dsn, kwargs = pg_connect_args(url)
    admin = await asyncpg.connect(dsn, **kwargs)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE}")
        await admin.execute(f"CREATE DATABASE {PG_DATABASE}")
    finally:
        await admin.close()
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + PG_DATABASE, parts.query, parts.fragment))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = await fresh_pg_database(args.pg) if args.pg else f"sqlite:///{tmp}/bench.db"
        db: Database = await open_database(url, migrate=True)
        async with db.tx() as conn:
            await conn.execute(
                sa.insert(users), [{"phone": f"+1555{n:07d}", "created_at": 1.0} for n in range(200)]
            )
        marks = [{"b_id": i, "b_at": 2.0} for i in range(1, 21)]

        async def read_sa() -> None:
            async with db.read() as conn:
                (await conn.execute(SELECT.statement, {"n": 20})).all()

        async def read_lean() -> None:
            await db.fetch(SELECT, {"n": 20})

        async def write_sa() -> None:
            async with db.tx() as conn:
                (await conn.execute(SELECT.statement, {"n": 20})).all()
                await conn.execute(TOUCH.statement, marks)

        async def write_lean() -> None:
            async with db.write() as conn:
                (await conn.execute(SELECT, {"n": 20})).all()
                await conn.execute(TOUCH, marks)

        async def write_lean_deferred() -> None:
            async with db.write() as conn:
                (await conn.execute(SELECT, {"n": 20})).all()
                await lean.write_later(conn, TOUCH, marks)

        cases = {
            "read: read() + execute": read_sa,
            "read: fetch()": read_lean,
            "write: tx()": write_sa,
            "write: write()": write_lean,
            "write: write(), UPDATE deferred": write_lean_deferred,
        }
        results: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, fn in cases.items():
                results[name].append(await per_op(fn, args.ops))
        await db.close()
    where = "PostgreSQL" if args.pg else "SQLite"
    print(f"{where}: CPU us per operation, median of {args.rounds} rounds of {args.ops} (core {args.core}):")
    for name, values in results.items():
        print(f"  {name:34s} {statistics.median(values):7.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--pg", help="a PostgreSQL server's URL: measure there instead of SQLite")
    arguments = parser.parse_args()
    os.sched_setaffinity(0, {arguments.core})  # the connections' threads inherit it
    import uvloop

    uvloop.run(main(arguments))
