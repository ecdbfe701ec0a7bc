"""storage/db.py: the database's connections on PostgreSQL when its server stops answering (a
failover, a network fault that leaves the old sockets open), through a relay that can hang."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from bot.core import dburl
from storage.db import Database, away, database_away
from tests import pg
from tests.conftest import IPTABLES_SKIP


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


IPTABLES = shutil.which("iptables")


def _iptables_usable() -> bool:
    """Whether this test may add a firewall rule (root, and iptables that answers)."""
    if IPTABLES is None or os.geteuid() != 0:
        return False
    listed = subprocess.run([IPTABLES, "-w", "-L", "INPUT", "-n"], capture_output=True, check=False)  # noqa: S603
    return listed.returncode == 0


async def _iptables(*args: str) -> None:
    assert IPTABLES is not None
    proc = await asyncio.create_subprocess_exec(IPTABLES, "-w", *args)
    assert await proc.wait() == 0, args


async def test_a_statement_the_server_never_acknowledges_fails_at_the_bound_not_in_15_minutes(
    pg_server: pg.PgServer | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failover that moved the server's address (or a network fault that drops packets): a
    statement sent on a connection of before got no acknowledgement, and waited for the kernel's
    retransmissions to give up, about 15 minutes, with its handler and the sender's later texts
    behind it. Every connection bounds its unacknowledged bytes (TCP_USER_TIMEOUT_MS, here
    shortened): the statement fails as a lost connection, and the next goes on a fresh one.
    The dropped packets are made with a firewall rule on the relay's port alone."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    if not _iptables_usable():
        pytest.skip(IPTABLES_SKIP)
    monkeypatch.setattr(dburl, "TCP_USER_TIMEOUT_MS", 1000)
    async with pg.through_a_relay(pg_server) as (url, _relay):
        rule = ["INPUT", "-p", "tcp", "-i", "lo", "--dport", str(urlsplit(url).port), "-j", "DROP"]
        db = Database(url)
        try:
            assert await _select_one(db) == 1  # an idle connection of before
            await _iptables("-I", *rule)
            try:
                tried = asyncio.ensure_future(_select_one(db))
                await asyncio.wait([tried], timeout=60)  # (a bound of the test's: 15 minutes before)
                assert tried.done()
                error = tried.exception()
                assert error is not None
                assert away(error), repr(error)
            finally:
                await _iptables("-D", *rule)
            assert await asyncio.wait_for(_select_one(db), 30) == 1
        finally:
            await db.close()


async def test_a_write_that_waits_for_a_busy_pools_connection_is_not_given_up(
    pg_server: pg.PgServer | None,
) -> None:
    """`write(within=)` counts from the moment the block has its connection: a wait for one of a
    busy pool's (every connection in a handler's hands) is no dead server, and giving up then
    replaced every pooled connection."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    async with pg.through_a_relay(pg_server) as (url, _relay):
        db = Database(url, pool_size=1)  # the lean pool: one connection
        release = asyncio.Event()
        held = asyncio.Event()

        async def hold() -> None:
            async with db.write() as tx:
                await tx.execute(sa.text("SELECT 1"))
                held.set()
                await release.wait()

        busy = asyncio.ensure_future(hold())
        try:
            await asyncio.wait_for(held.wait(), 30)
            waiting = asyncio.ensure_future(_write_one(db, within=0.2))
            await asyncio.sleep(0.6)  # it waits for the pool, past its own time
            assert not waiting.done()
            release.set()
            await asyncio.wait_for(waiting, 30)
        finally:
            release.set()
            await asyncio.gather(busy, return_exceptions=True)
            await db.close()


async def _write_one(db: Database, *, within: float) -> None:
    async with db.write(within=within) as tx:
        await tx.execute(sa.text("SELECT 1"))


def test_an_error_out_of_a_handler_or_a_page_is_the_databases_only_when_it_says_so() -> None:
    """`database_away` (the worker's handlers, the pages): a statement's error as `away` judges it,
    a pool's connect refused, reset, unreachable or timed out; not a page's or handler's own
    OSError (a full disk, a missing file), which `away` alone took for the database."""
    lost = sa.exc.DBAPIError.instance(
        "SELECT 1",
        {},
        ConnectionResetError(errno.ECONNRESET, "reset"),
        Exception,
        connection_invalidated=True,
    )
    refused_sql = sa.exc.DBAPIError.instance("SELECT 1", {}, ValueError("bad value"), Exception)
    for error in (
        lost,
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        TimeoutError(),
        OSError(errno.EHOSTUNREACH, "No route to host"),
    ):
        assert database_away(error), repr(error)
    for error in (
        refused_sql,
        OSError(errno.ENOSPC, "No space left on device"),
        FileNotFoundError(errno.ENOENT, "gone"),
        ValueError("a bug"),
    ):
        assert not database_away(error), repr(error)
    assert away(FileNotFoundError(errno.ENOENT, "gone"))  # why pages no longer ask `away`
