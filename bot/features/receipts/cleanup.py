"""Media and rooms clean-up jobs: Twilio copies whose deletion failed, old wrong-password records.

Each takes the app's `Deps` (see scheduler/__init__.py) and works in short transactions, so several
processes may run it at once (a copy deleted twice at Twilio answers 404, which counts as done).
"""

from __future__ import annotations

from bot.core.deps import Deps
from bot.core.logs import get_logger
from scheduler import Scheduler
from storage import rooms

log = get_logger(__name__)

DELETE_GRACE_SECONDS = 60.0  # the handler deletes right after storing; the job mops up after it


async def delete_twilio_media(deps: Deps) -> None:
    """Retry deleting the Twilio copies of stored receipts."""
    from bot.features.receipts.media import delete_twilio_copies

    deleted = await delete_twilio_copies(deps, before=deps.now() - DELETE_GRACE_SECONDS)
    if deleted:
        log.info("media.cleanup", deleted=deleted)


async def purge_join_failures(deps: Deps) -> None:
    """Wrong-password records older than the lockout window are of no use."""
    async with deps.db.tx() as conn:
        purged = await rooms.purge_failures(conn, before=deps.now() - rooms.LOCKOUT_WINDOW)
    if purged:
        log.info("rooms.failures_purged", count=purged)


def register(scheduler: Scheduler) -> None:
    scheduler.every("media-twilio-delete", delete_twilio_media, seconds=300, jitter=30)
    scheduler.every("rooms-purge-failures", purge_join_failures, seconds=3600, jitter=60)
