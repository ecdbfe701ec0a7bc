"""Core jobs: retention and clean-up. Each takes the app's `Deps` (see scheduler/__init__.py)."""

from __future__ import annotations

import sqlalchemy as sa

from bot.deps import Deps
from bot.logs import get_logger
from bot.replyguard import KEEP_SECONDS
from storage import inbox, outbox, xaccounts
from storage.schema import reply_log

log = get_logger(__name__)

INBOX_KEEP_SECONDS = 7 * 24 * 3600
OUTBOX_KEEP_SECONDS = 30 * 24 * 3600
LINK_SHOW_SECONDS = 15 * 60  # `textwire chat` shows links in full for this long in development


async def retention(deps: Deps) -> None:
    """Purge handled inbox rows after 7 days and finished outbox rows after 30."""
    now = deps.now()
    async with deps.db.tx() as conn:
        purged_in = await inbox.purge(conn, before=now - INBOX_KEEP_SECONDS)
        purged_out = await outbox.purge(conn, before=now - OUTBOX_KEEP_SECONDS)
        purged_x = await xaccounts.purge(conn, now=now, posts_before=now - INBOX_KEEP_SECONDS)
        await conn.execute(sa.delete(reply_log).where(reply_log.c.at < now - KEEP_SECONDS))
    log.info("retention.purged", inbox=purged_in, outbox=purged_out, x=purged_x)


async def redact_links(deps: Deps) -> None:
    """Outbox rows that carried a link, sent a while ago, lose the link (a safety net behind the
    sender, which redacts at once when Twilio took the message)."""
    async with deps.db.tx() as conn:
        count = await outbox.redact_sent(conn, before=deps.now() - LINK_SHOW_SECONDS)
    if count:
        log.info("outbox.redacted", count=count)
