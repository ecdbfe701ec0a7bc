"""The worker: claims pending inbox rows and runs each through the dispatcher.

One sender's messages are handled one at a time, in arrival order; different senders run
concurrently, at most `worker.concurrency` at once. Replies are written to the outbox in the same
transaction that marks the inbox row done. A claim is a lease: a process that dies leaves its rows
to be claimed again (at start-up for the embedded single process, or when the lease runs out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
from collections.abc import Callable

import sqlalchemy as sa
import structlog

from bot.deps import Deps
from bot.dispatch import Context, Dispatcher, Inbound, Media, Reply
from bot.errors import Defer, Retry
from bot.logs import get_logger, mask_phone
from bot.metrics import Metrics
from storage import inbox, outbox

log = get_logger(__name__)

LEASE_SECONDS = 300.0
SORRY = "Sorry, something went wrong with your message. Please try again later, or send \\HELP."
OUTAGE_SORRY = (
    "Sorry, we could not handle your message: a service we rely on is down. Please try again later."
)


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter on the upper half: base * 2^(attempt-1), at most cap."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return float(delay / 2 + random.uniform(0, delay / 2))


def inbound_from_row(row: sa.Row[tuple[object, ...]]) -> Inbound:
    m = row._mapping
    media = tuple(
        Media(index=i, url=url, content_type=ctype) for i, (url, ctype) in enumerate(json.loads(m["media"]))
    )
    return Inbound(
        id=m["id"],
        message_sid=m["message_sid"],
        from_phone=m["from_phone"],
        to_phone=m["to_phone"],
        body=m["body"],
        media=media,
        opt_out_type=m["opt_out_type"],
        received_at=m["received_at"],
        attempts=m["attempts"],
        priority=bool(m["priority"]),
    )


class Worker:
    def __init__(
        self, deps: Deps, dispatcher: Dispatcher, metrics: Metrics, *, owner: str | None = None
    ) -> None:
        self.deps = deps
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.owner = owner or f"worker-{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._tasks: dict[asyncio.Task[None], str] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.on_idle: Callable[[], None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        async with self.deps.db.tx() as conn:
            released = await inbox.release_claims(
                conn, now=self.deps.now(), everything=self.deps.db.is_sqlite
            )
        if released:
            log.warning("worker.claims_released", count=released)
        self._loop_task = asyncio.create_task(self._run(), name="worker")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let handlers in flight finish for `grace` seconds, then cancel them and
        release their claims so another process (or the next start) takes them."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(Exception):
            async with self.deps.db.tx() as conn:
                await inbox.release_claims(conn, now=self.deps.now(), owner=self.owner)

    async def _run(self) -> None:
        poll = self.deps.config.worker.poll_seconds
        limit = self.deps.config.worker.concurrency
        while not self._stopping:
            self._wake.clear()
            free = limit - len(self._tasks)
            claimed = []
            if free > 0:
                try:
                    async with self.deps.db.tx() as conn:
                        now = self.deps.now()
                        await inbox.release_claims(conn, now=now)
                        claimed = await inbox.claim(
                            conn,
                            now=now,
                            limit=free,
                            owner=self.owner,
                            lease=LEASE_SECONDS,
                            busy_senders=self._tasks.values(),
                        )
                except Exception as exc:
                    log.error("worker.claim_failed", error=type(exc).__name__)
            for row in claimed:
                msg = inbound_from_row(row)
                task = asyncio.create_task(self._handle(msg), name=f"handle-{msg.message_sid}")
                self._tasks[task] = msg.from_phone
                task.add_done_callback(self._done)
            if len(claimed) == free and free > 0:
                continue  # there may be more ready right now
            if not self._tasks and not claimed and self.on_idle is not None:
                self.on_idle()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        self._wake.set()

    async def _handle(self, msg: Inbound) -> None:
        structlog.contextvars.bind_contextvars(message_sid=msg.message_sid, sender=mask_phone(msg.from_phone))
        ctx = Context(deps=self.deps, log=log.bind())
        try:
            try:
                replies = await self.dispatcher.feed(msg, ctx)
            except Defer as defer:
                await self._defer(msg, defer)
                return
            except Retry as retry:
                await self._retry(msg, retry, ctx)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._error(msg, exc, ctx)
                return
            await self._finish(msg, ctx, "done", replies)
            self.metrics.handled.labels(result="done").inc()
            log.info("sms.handled", replies=len(replies))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database failed while finishing: the lease will bring it back
            log.error("worker.finish_failed", error=type(exc).__name__)

    async def _finish(
        self, msg: Inbound, ctx: Context | None, status: str, replies: list[Reply], error: str | None = None
    ) -> None:
        now = self.deps.now()
        async with self.deps.db.tx() as conn:
            await inbox.finish(
                conn, msg.id, status=status, now=now, body=ctx.redacted_body if ctx else None, error=error
            )
            for i, reply in enumerate(replies):
                await outbox.enqueue(
                    conn,
                    to=msg.from_phone,
                    body=reply.text,
                    redact=reply.redact,
                    dedupe_key=f"{msg.message_sid}:{i}",
                    inbox_id=msg.id,
                    now=now,
                )
        if replies:
            self.deps.wake_sender()

    async def _defer(self, msg: Inbound, defer: Defer) -> None:
        now = self.deps.now()
        async with self.deps.db.tx() as conn:
            await inbox.reschedule(
                conn, msg.id, at=defer.until, status="parked" if defer.parked else "pending", refund=True
            )
            if defer.notice:
                await outbox.enqueue(
                    conn,
                    to=msg.from_phone,
                    body=defer.notice,
                    dedupe_key=f"{msg.message_sid}:{defer.notice_key}",
                    inbox_id=msg.id,
                    now=now,
                )
        if defer.notice:
            self.deps.wake_sender()
        self.metrics.handled.labels(result="deferred").inc()
        log.info("sms.deferred", parked=defer.parked, seconds=round(defer.until - now, 1))

    async def _retry(self, msg: Inbound, retry: Retry, ctx: Context | None = None) -> None:
        now = self.deps.now()
        window = self.deps.config.worker.outage_retry_hours * 3600
        if now - msg.received_at >= window:
            log.error("sms.failed", reason=retry.reason, attempts=msg.attempts)
            self.metrics.handled.labels(result="failed").inc()
            await self._finish(
                msg, ctx, "failed", [Reply(retry.failure_reply or OUTAGE_SORRY)], error=retry.reason
            )
            return
        delay = (
            retry.delay
            if retry.delay is not None
            else backoff(msg.attempts, base=self.deps.config.worker.retry_base_seconds * 2.5, cap=1800.0)
        )
        async with self.deps.db.tx() as conn:
            await inbox.reschedule(conn, msg.id, at=now + delay, error=retry.reason)
        self.metrics.handled.labels(result="retry").inc()
        log.warning("sms.retry", reason=retry.reason, attempts=msg.attempts, delay=round(delay, 1))

    async def _error(self, msg: Inbound, exc: Exception, ctx: Context | None = None) -> None:
        """The error handler: log it (no locals, no secrets), retry a bounded number of times with
        backoff, then fail the message and answer politely."""
        log.exception("handler.failed", error=type(exc).__name__, attempts=msg.attempts)
        if msg.attempts >= self.deps.config.worker.max_attempts:
            self.metrics.handled.labels(result="failed").inc()
            # ctx: a handler that set `redacted_body` (a room password) gets it applied here too
            await self._finish(msg, ctx, "failed", [Reply(SORRY)], error=f"{type(exc).__name__}: {exc}"[:500])
            return
        delay = backoff(msg.attempts, base=self.deps.config.worker.retry_base_seconds, cap=300.0)
        async with self.deps.db.tx() as conn:
            await inbox.reschedule(conn, msg.id, at=self.deps.now() + delay, error=type(exc).__name__)
        self.metrics.handled.labels(result="retry").inc()
