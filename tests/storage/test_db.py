"""storage/db.py: the database's connections on PostgreSQL when its server stops answering (a
failover, a network fault that leaves the old sockets open), through a relay that can hang."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from storage.db import Database
from tests import pg


async def test_a_connection_given_up_on_takes_every_pooled_one_with_it_sqlalchemys_too(
    pg_server: pg.PgServer | None,
) -> None:
    """After a failover the lean pool's connection that did not answer was closed and that pool's
    others replaced, but SQLAlchemy's pool (the handlers' transactions) kept its idle connections
    of before: a handler that took one waited on it with no end, and its sender's later messages
    behind it. Every pooled connection is replaced once one is given up on."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    async with pg.through_a_relay(pg_server) as (url, relay):
        db = Database(url)
        try:
            async with db.tx() as conn:  # an idle SQLAlchemy connection from here on
                await conn.execute(sa.text("SELECT 1"))
            async with db.write() as tx:  # and an idle lean one
                await tx.execute(sa.text("SELECT 1"))
            relay.freeze()
            with pytest.raises(TimeoutError, match=r"no answer within 0\.5 s"):
                async with db.write(within=0.5) as tx:
                    await tx.execute(sa.text("SELECT 1"))
            tried = asyncio.ensure_future(_select_one(db))
            await asyncio.wait([tried], timeout=30)  # (a bound of the test's: it waited for good)
            assert tried.done()
            assert tried.result() == 1
        finally:
            relay.thaw()
            await db.close()


async def _select_one(db: Database) -> int:
    async with db.tx() as conn:
        return int((await conn.execute(sa.text("SELECT 1"))).scalar_one())
