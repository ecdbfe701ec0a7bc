"""Core jobs: retention and clean-up. Each takes the app's `Deps` (see scheduler/__init__.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.deps import Deps
from bot.core.logs import get_logger
from bot.pipeline.replyguard import KEEP_SECONDS
from storage import inbox, outbox, xaccounts
from storage.db import delete_some
from storage.schema import reply_log

log = get_logger(__name__)

INBOX_KEEP_SECONDS = 7 * 24 * 3600
OUTBOX_KEEP_SECONDS = 30 * 24 * 3600
LINK_SHOW_SECONDS = 15 * 60  # `textwire chat` shows links in full for this long in development


# rows a transaction: SQLite's write lock held ~50 ms at a time next to a million kept rows
PURGE_BATCH = 1000  # (bench/purge.py --kept)


async def _in_batches(deps: Deps, purge: Callable[[AsyncConnection, int], Awaitable[int]]) -> int:
    """Run `purge` (delete up to N rows) a transaction at a time until it deletes fewer than N:
    an hour of a busy inbox is hundreds of thousands of rows, and one transaction for all of them
    held SQLite's write lock (webhooks and the worker waiting) for seconds. Between batches the
    webhook's and the worker's transactions get their turn."""
    total = 0
    while True:
        async with deps.db.tx() as conn:
            deleted = await purge(conn, PURGE_BATCH)
        total += deleted
        if deleted < PURGE_BATCH:
            return total
        await asyncio.sleep(0)


async def retention(deps: Deps) -> None:
    """Purge handled inbox rows and post intents after 7 days, finished outbox rows after 30,
    the reply guard's rows after its window, expired links and sessions. The big tables in
    batches, a transaction each."""
    now = deps.now()
    purged_in = await _in_batches(
        deps, lambda conn, limit: inbox.QUEUE.purge(conn, before=now - INBOX_KEEP_SECONDS, limit=limit)
    )
    purged_out = await _in_batches(
        deps, lambda conn, limit: outbox.QUEUE.purge(conn, before=now - OUTBOX_KEEP_SECONDS, limit=limit)
    )
    purged_x = await _in_batches(
        deps, lambda conn, limit: xaccounts.purge_posts(conn, before=now - INBOX_KEEP_SECONDS, limit=limit)
    )
    await _in_batches(
        deps,
        lambda conn, limit: delete_some(conn, reply_log, reply_log.c.at < now - KEEP_SECONDS, limit=limit),
    )
    async with deps.db.tx() as conn:
        purged_x += await xaccounts.purge(conn, now=now)
    log.info("retention.purged", inbox=purged_in, outbox=purged_out, x=purged_x)


async def redact_links(deps: Deps) -> None:
    """Outbox rows that carried a link, sent a while ago, lose the link (a safety net behind the
    sender, which redacts at once when Twilio took the message)."""
    async with deps.db.tx() as conn:
        count = await outbox.redact_sent(conn, before=deps.now() - LINK_SHOW_SECONDS)
    if count:
        log.info("outbox.redacted", count=count)
