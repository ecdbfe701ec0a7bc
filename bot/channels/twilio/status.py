"""Delivery status callbacks (`POST /twilio/status`), applied to the reply they are about: its
delivery status (never moved backwards), a 63016 (outside WhatsApp's 24 hours) queued again as
its template, a 21610 (opted out at the carrier) opting the address out, and a failure counted as
a refusal in the answer to the send is.

Twilio may call back as soon as it has taken a message, before the sender has committed the sid
Twilio answered it with; a callback answered 200 is not sent again. One that matches no reply yet
is kept (storage.outbox.keep_early_status), and `catch_up`, a job of this channel, applies it
once the reply has the sid.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import channel_of
from bot.core.deps import Deps
from bot.core.logs import get_logger, mask_address
from bot.core.metrics import Metrics
from storage import outbox, users

log = get_logger(__name__)

# a reply Twilio took and then could not deliver (30003 unreachable, 30007 filtered, 63016 ...):
# counted in textwire_send_errors_total as one it refused in the answer to the send is
FAILED = ("failed", "undelivered")
CATCH_UP_SECONDS = 30.0  # how often `catch_up` looks for the replies kept callbacks are about


@dataclass(frozen=True)
class StatusOutcome:
    """What a status callback did, for its log lines and metrics once committed."""

    sid: str
    status: str
    error_code: str | None
    applied: bool
    kept: bool = False  # no reply had the sid yet: kept for it
    requeued: str | None = None  # a 63016's reply, queued again as its kind's template
    opted_out: str | None = None  # the address a 21610 opted out
    failed_to: str | None = None  # the address of a reply Twilio took and could not deliver


async def apply_status(
    conn: AsyncConnection, sid: str, status: str, error_code: str | None, now: float, *, keep: bool = True
) -> StatusOutcome:
    """Apply one status callback in `conn`; `keep`: one about no reply yet is kept for it."""
    applied = await outbox.record_delivery(conn, sid, status, error_code, now)
    if not applied:
        kept = keep and status in outbox.DELIVERY_RANK and not await outbox.sid_known(conn, sid)
        if kept:
            await outbox.keep_early_status(conn, sid, status, error_code, now)
        return StatusOutcome(sid, status, error_code, applied=False, kept=kept)
    failed_to = requeued = opted_out = None
    if error_code and status in FAILED:  # taken by Twilio, then not delivered
        failed_to = await outbox.address_of_sid(conn, sid)
    if error_code == outbox.OUTSIDE_WINDOW:  # SPEC: 63016 as outside the window
        requeued = await outbox.requeue_outside_window(conn, sid, now)
    if error_code == outbox.OPTED_OUT:  # as a 21610 in the answer to the send
        opted_out = await outbox.opted_out_by(conn, sid)
        if opted_out is not None:
            await users.set_opted_out(conn, opted_out, True, now)
    return StatusOutcome(sid, status, error_code, True, False, requeued, opted_out, failed_to)


def report(metrics: Metrics, done: StatusOutcome, *, late: bool = False) -> None:
    """The metrics and log lines of a committed callback; `late`: one kept, applied now."""
    status = done.status
    if not late:  # counted when it came
        metrics.delivery.labels(status=status if status in outbox.DELIVERY_RANK else "other").inc()
    if done.failed_to is not None and done.error_code is not None:  # as a refusal in the answer to the send
        metrics.send_errors.labels(channel=channel_of(done.failed_to), code=done.error_code).inc()
    extra = {"late": True} if late else {"kept": True} if done.kept else {}
    log.info(
        "sms.status",
        twilio_sid=done.sid,
        status=status,
        applied=done.applied,
        error_code=done.error_code,
        **extra,
    )
    if done.error_code == outbox.OUTSIDE_WINDOW and (done.applied or not done.kept):
        log.warning("whatsapp.outside_window", twilio_sid=done.sid, requeued_as_template=done.requeued)
    if done.opted_out is not None:
        log.warning(
            "sms.opted_out_at_carrier",
            twilio_sid=done.sid,
            error_code=done.error_code,
            to=mask_address(done.opted_out),
        )


async def catch_up(deps: Deps) -> None:
    """Apply the kept status callbacks whose reply now has the sid, each as if it came now, and
    forget those no reply took within `outbox.EARLY_KEEP_SECONDS`."""
    async with deps.db.read() as conn:
        due, kept = await outbox.early_statuses_due(conn)
    if not kept:
        return
    now = deps.now()
    done: list[StatusOutcome] = []
    async with deps.db.tx() as conn:
        for early in due:
            done.append(
                await apply_status(conn, early.twilio_sid, early.status, early.error_code, now, keep=False)
            )
        dropped = await outbox.drop_early_statuses(
            conn, [early.id for early in due], before=now - outbox.EARLY_KEEP_SECONDS
        )
    for outcome in done:
        report(deps.metrics, outcome, late=True)
    if dropped:
        log.warning("sms.status_unmatched", count=dropped)


__all__ = ["CATCH_UP_SECONDS", "FAILED", "StatusOutcome", "apply_status", "catch_up", "report"]
