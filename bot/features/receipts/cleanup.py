"""Media and rooms clean-up jobs: Twilio copies whose deletion failed, old wrong-password records,
receipt photos older than `media.retention_days`.

Each takes the app's `Deps` (see scheduler/__init__.py) and works in short transactions, so several
processes may run it at once (a copy deleted twice at Twilio answers 404, which counts as done).
"""

from __future__ import annotations

from bot.core.deps import Deps
from bot.core.logs import get_logger
from scheduler import Scheduler
from storage import people, rooms

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


RETENTION_BATCH = 500  # photos a run deletes at most; the next run goes on


async def expire_photos(deps: Deps) -> int:
    """`media.retention_days`: delete the photos of receipts older than that from the store and
    mark them (the receipts stay in their ledgers; the gallery says the photo was deleted). A
    store that fails stops the run; what was deleted is marked, the rest waits for the next."""
    from bot.features.receipts.media import store_of

    days = deps.config.media.retention_days
    store = store_of(deps)
    if days <= 0 or store is None:
        return 0
    now = deps.now()
    async with deps.db.read() as conn:
        photos = await people.photos_before(conn, now - days * 86400, RETENTION_BATCH)
    gone, failed = await people.delete_photos(store, photos)
    if failed is not None:  # S3 down, a permission: what is deleted is marked, the rest waits
        log.warning("media.retention_failed", error=type(failed).__name__, deleted=len(gone))
    async with deps.db.tx() as conn:
        await people.mark_photos_deleted(conn, gone, people.RETENTION, now)
    if gone:
        log.info("media.retention_deleted", count=len(gone), days=days)
    return len(gone)


def register(scheduler: Scheduler) -> None:
    scheduler.every("media-twilio-delete", delete_twilio_media, seconds=300, jitter=30)
    scheduler.every("rooms-purge-failures", purge_join_failures, seconds=3600, jitter=60)
    scheduler.every("media-retention", expire_photos, seconds=3600, jitter=60)
