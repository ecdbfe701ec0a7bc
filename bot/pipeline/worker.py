"""The worker: claims pending inbox rows and runs each through the dispatcher.

One sender's messages are handled one at a time, in arrival order; different senders run
concurrently, at most `worker.concurrency` at once. Replies are written to the outbox in the same
transaction that marks the inbox row done. A claim is a lease: a process that dies leaves its rows
to be claimed again (at start-up for the embedded single process, or when the lease runs out).
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog

from bot.core.channel import address_of
from bot.core.deps import Deps, release_refused
from bot.core.errors import Defer, Retry
from bot.core.logs import db_reason, get_logger, mask_address
from bot.core.metrics import Metrics
from bot.pipeline import replyguard
from bot.pipeline.claimloop import ClaimLoop
from bot.pipeline.dispatch import Context, Dispatcher, Inbound, Media, Reply
from bot.pipeline.middlewares import WINDOW
from bot.pipeline.replyguard import LOG_KEY
from storage import inbox, outbox, users
from storage.db import database_away
from storage.lean import Query, Writer, write_later
from storage.schema import reply_log

log = get_logger(__name__)

LEASE_SECONDS = 300.0
_LOG_REPLIES = Query(sa.insert(reply_log))  # the reply guard's rows, with the outcomes
SORRY = "Sorry, something went wrong with your message. Please try again later, or send \\HELP."
OUTAGE_SORRY = (
    "Sorry, we could not handle your message: a service we rely on is down. Please try again later."
)
DATABASE_AWAY = "database away"  # sms.retry's reason, the inbox row's error


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter on the upper half: base * 2^(attempt-1), at most cap."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return float(delay / 2 + random.uniform(0, delay / 2))


def reply_key(msg: Inbound, index: int) -> str:
    """The outbox's dedupe key of a message's `index`-th reply: the same every time the message is
    handled (queued twice, sent once). It starts with the message's arrival time, so the keys of
    a batch of replies sort together at the end of the outbox's unique index: one page of it
    written a commit instead of one a reply (keyed by the MessageSid alone, 0.73 of the 4.7 WAL
    pages a text; SQLite's CPU 48.3 -> 45.3 us a text, BENCHMARKS.md "Stop 21")."""
    return f"{msg.received_at:.6f}:{msg.external_id}:{index}"


def _notice(msg: Inbound, text: str | None, key: str, now: float) -> list[outbox.NewReply]:
    """A `Defer`'s or `Retry`'s notice as a reply: keyed by the message and `key`, so a message
    handled again and again (a photo waiting out a store outage) says it once."""
    if not text:
        return []
    return [
        outbox.NewReply(
            to=msg.sender.key,
            body=text,
            dedupe_key=outbox.notice_key(msg.external_id, key),
            inbox_id=msg.id,
            now=now,
        )
    ]


def inbound_from_row(row: sa.Row[Any]) -> Inbound:
    """A claimed row (its columns: `storage.inbox.CLAIMED`, in that order) as the dispatcher's
    message. By position, and no JSON to parse for a text without photos: a claim reads 30 rows
    at a time (bench/e2e's profile: this was a fifth of the claim's own time)."""
    (
        id_, message_sid, from_phone, to_phone, body, media, opt_out_type, received_at, attempts, priority,
        sender_name, forwarded,
    ) = tuple(row)  # fmt: skip
    return Inbound(
        id=id_,
        external_id=message_sid,
        sender=address_of(from_phone),
        recipient=to_phone,
        body=body,
        media=()
        if media == "[]"
        else tuple(
            Media(index=i, url=url, content_type=ctype) for i, (url, ctype) in enumerate(json.loads(media))
        ),
        carrier_keyword=opt_out_type,
        received_at=received_at,
        attempts=attempts,
        priority=bool(priority),
        sender_name=sender_name,
        forwarded=bool(forwarded),
    )


@dataclass(frozen=True)
class Outcome:
    """What handling one message leaves to commit: its inbox row and the replies to queue."""

    finished: inbox.Finished | None = None
    rescheduled: inbox.Rescheduled | None = None
    replies: tuple[outbox.NewReply, ...] = ()
    logged: tuple[dict[str, object], ...] = ()  # reply_log rows (bot/pipeline/replyguard.py)


@dataclass(frozen=True)
class Claim:
    """A claimed message with what the claim read for it: its sender and the reply guard's rows."""

    msg: Inbound
    sender: users.Sender | None = None
    logged: list[replyguard.Logged] | None = None


class Worker(ClaimLoop[Claim, Outcome]):
    """Claims ready inbox rows in batches (one statement, with their senders' users and rate
    counts in one more query), handles them concurrently (`worker.concurrency` at once) and
    commits their outcomes in batches: inbox rows done or rescheduled and their replies, one
    transaction for whatever is waiting. A message is in flight until its outcome is committed,
    and its sender's next message is not claimable before that (see `inbox.QUEUE`)."""

    name = "worker"
    queue = inbox.QUEUE

    def __init__(
        self, deps: Deps, dispatcher: Dispatcher, metrics: Metrics, *, owner: str | None = None
    ) -> None:
        super().__init__(
            deps, owner=owner or f"worker-{secrets.token_hex(4)}", concurrency=deps.config.worker.concurrency
        )
        self.dispatcher = dispatcher
        self.metrics = metrics

    async def claim(self, conn: Writer, *, now: float, limit: int) -> list[Claim]:
        rows = await self.queue.claim(conn, now=now, limit=limit, owner=self.owner, lease=LEASE_SECONDS)
        if not rows:
            return []
        messages = [inbound_from_row(row) for row in rows]
        phones = {m.sender.key for m in messages}
        known = await users.senders(conn, phones, now=now, since=now - WINDOW)
        logged = await replyguard.recent(conn, phones, now)
        return [Claim(m, known.get(m.sender.key), logged.get(m.sender.key)) for m in messages]

    def task_name(self, item: Claim) -> str:
        return f"handle-{item.msg.external_id}"

    def claim_after(self, item: Claim, woken: bool) -> bool:
        """Only a sender with messages pending behind this one (read with the claim, or arrived
        since: `woken`) has one that becomes ready when it is done (a message whose sender was not
        read: assume so)."""
        return woken or item.sender is None or item.sender.waiting

    async def handle(self, item: Claim) -> None:
        await self._handle(item.msg, item.sender, item.logged)

    async def write(self, conn: Writer, outcomes: Sequence[Outcome]) -> None:
        """The outcomes, in one transaction. A reply is queued only while its message is still
        this worker's (`outbox.enqueue_held`): a `\\STOP` sent meanwhile dropped it, and its
        goodbye is the last word (SPEC: nothing is sent after it). Its password is masked all the
        same."""
        await inbox.redact(
            conn, [(o.finished.id, o.finished.body) for o in outcomes if o.finished and o.finished.body]
        )
        await inbox.settle_many(
            conn,
            self.owner,
            [o.finished for o in outcomes if o.finished is not None],
            [o.rescheduled for o in outcomes if o.rescheduled is not None],
        )
        await outbox.enqueue_held(conn, self.owner, [reply for o in outcomes for reply in o.replies])
        replies = [reply for o in outcomes for reply in o.replies]
        for reply in replies:
            if reply.kind in replyguard.SUPERSEDES and not reply.held:
                superseded = await outbox.supersede(conn, reply)
                if superseded:
                    self.metrics.replies_dropped_by["superseded"].inc(superseded)
                    log.info(
                        "sms.reply_superseded", kind=reply.kind, replies=superseded, to=mask_address(reply.to)
                    )
        logged = [row for o in outcomes for row in o.logged]
        if logged:
            await write_later(conn, _LOG_REPLIES, logged)

    def written(self, outcomes: Sequence[Outcome]) -> None:
        if any(o.replies for o in outcomes):
            self.deps.wake_sender()

    def claimed_id(self, outcome: Outcome) -> int | None:
        row = outcome.finished or outcome.rescheduled
        return None if row is None else row.id

    async def _commit(
        self,
        *,
        finished: inbox.Finished | None = None,
        rescheduled: inbox.Rescheduled | None = None,
        replies: list[outbox.NewReply] | None = None,
        logged: Sequence[dict[str, object]] = (),
        then: Callable[[], None] | None = None,
    ) -> None:
        """`then`: its metric and log line, once the outcome is written (ClaimLoop.commit)."""
        await self.commit(Outcome(finished, rescheduled, tuple(replies or ()), tuple(logged)), then)

    async def _handle(
        self, msg: Inbound, sender: users.Sender | None = None, logged: list[replyguard.Logged] | None = None
    ) -> None:
        structlog.contextvars.bind_contextvars(
            message_sid=msg.external_id, sender=mask_address(msg.sender.key), channel=msg.sender.channel
        )
        ctx = Context(deps=self.deps, log=log.bind())
        if sender is not None:
            ctx.user = sender.user
            ctx.data["new_user"] = sender.created
            ctx.data["handled_recently"] = sender.handled_recently
        if logged is not None:
            ctx.data[replyguard.RECENT_KEY] = logged
        try:
            try:
                replies = await self.dispatcher.feed(msg, ctx)
            except Defer as defer:
                await self._defer(msg, defer, ctx)
                return
            except Retry as retry:
                await self._retry(msg, retry, ctx)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._error(msg, exc, ctx)
                return

            def handled() -> None:
                self.metrics.handled_by[msg.sender.channel, "done"].inc()
                log.info("sms.handled", replies=len(replies))

            await self._finish(msg, ctx, "done", replies, then=handled)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database failed while finishing: kept and written later (claimloop)
            log.error("worker.finish_failed", error=type(exc).__name__, reason=db_reason(exc))

    async def _finish(
        self,
        msg: Inbound,
        ctx: Context | None,
        status: str,
        replies: list[Reply],
        error: str | None = None,
        then: Callable[[], None] | None = None,
    ) -> None:
        now = self.deps.now()
        self._count_guard(ctx)
        await self._commit(
            finished=inbox.Finished(
                msg.id, status, now, body=ctx.redacted_body if ctx else None, error=error
            ),
            replies=[
                outbox.NewReply(
                    to=msg.sender.key,
                    body=reply.text,
                    redact=reply.redact,
                    dedupe_key=reply_key(msg, i),
                    inbox_id=msg.id,
                    now=now,
                    not_before=reply.not_before,
                    held=reply.held,
                    kind=reply.kind or None,
                )
                for i, reply in enumerate(replies)
            ],
            logged=ctx.data.get(LOG_KEY, ()) if ctx else (),
            then=then,
        )

    def _count_guard(self, ctx: Context | None) -> None:
        """What the reply guard did with the message's replies, in /metrics."""
        verdict: replyguard.Verdict | None = ctx.data.get(replyguard.VERDICT_KEY) if ctx else None
        if verdict is None:
            return
        if verdict.delayed:
            self.metrics.replies_delayed.inc(verdict.delayed)
        if verdict.held:
            self.metrics.replies_dropped_by["held"].inc(verdict.held)
        if verdict.loop is not None:
            self.metrics.loops_by[verdict.loop].inc()

    async def _defer(self, msg: Inbound, defer: Defer, ctx: Context | None = None) -> None:
        now = self.deps.now()
        self._count_guard(ctx)

        def deferred() -> None:
            self.metrics.handled_by[msg.sender.channel, "deferred"].inc()
            log.info("sms.deferred", parked=defer.parked, seconds=round(defer.until - now, 1))

        await self._commit(
            rescheduled=inbox.Rescheduled(
                msg.id,
                defer.until,
                status="parked" if defer.parked else "pending",
                error=defer.reason,
                refund=True,
            ),
            replies=_notice(msg, defer.notice, defer.notice_key, now),
            then=deferred,
        )

    async def _retry(self, msg: Inbound, retry: Retry, ctx: Context | None = None) -> None:
        now = self.deps.now()
        window = self.deps.config.worker.outage_retry_hours * 3600
        if now - msg.received_at >= window:
            log.error("sms.failed", reason=retry.reason, attempts=msg.attempts)
            self.metrics.handled_by[msg.sender.channel, "failed"].inc()
            said = False
            if retry.failure_kind:  # one of the sender's messages given up since this one came said it
                async with self.deps.db.read() as conn:
                    said = await outbox.sent_to(
                        conn, msg.sender.key, msg.received_at, kind=retry.failure_kind
                    )
            failure = Reply(retry.failure_reply or OUTAGE_SORRY, kind=retry.failure_kind)
            await self._finish(msg, ctx, "failed", [] if said else [failure], error=retry.reason)
            # its copies at Twilio: nothing records them after this (the person sends them again)
            await release_refused(self.deps, [(item.index + 1, item.url) for item in msg.media])
            return
        delay = (
            retry.delay
            if retry.delay is not None
            else backoff(msg.attempts, base=self.deps.config.worker.retry_base_seconds * 2.5, cap=1800.0)
        )
        status = "parked" if retry.parked else "pending"

        def retried() -> None:
            self.metrics.handled_by[msg.sender.channel, "retry"].inc()
            log.warning(
                "sms.retry",
                reason=retry.reason,
                attempts=msg.attempts,
                delay=round(delay, 1),
                parked=retry.parked,
            )

        await self._commit(
            rescheduled=inbox.Rescheduled(msg.id, now + delay, status=status, error=retry.reason),
            replies=_notice(msg, retry.notice, retry.notice_key, now),
            then=retried,
        )

    async def _error(self, msg: Inbound, exc: Exception, ctx: Context | None = None) -> None:
        """The error handler: log it (no locals, no secrets), retry a bounded number of times with
        backoff, then fail the message and answer politely. The database away (a restart, a
        failover) is an outage, not the handler's fault: retried as one (`sms.retry`, one line),
        for up to `worker.outage_retry_hours`. It logged a traceback a message, and a failover
        that met a message on each of its tries answered it "Sorry, something went wrong"."""
        if database_away(exc):
            await self._retry(msg, Retry(DATABASE_AWAY), ctx)
            return
        log.exception("handler.failed", error=type(exc).__name__, attempts=msg.attempts)
        if msg.attempts >= self.deps.config.worker.max_attempts:
            self.metrics.handled_by[msg.sender.channel, "failed"].inc()
            # ctx: a handler that set `redacted_body` (a room password) gets it applied here too
            await self._finish(msg, ctx, "failed", [Reply(SORRY)], error=f"{type(exc).__name__}: {exc}"[:500])
            return
        delay = backoff(msg.attempts, base=self.deps.config.worker.retry_base_seconds, cap=300.0)
        await self._commit(
            rescheduled=inbox.Rescheduled(msg.id, self.deps.now() + delay, error=type(exc).__name__),
            then=self.metrics.handled_by[msg.sender.channel, "retry"].inc,
        )
