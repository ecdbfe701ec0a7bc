"""The outbox sender: posts queued replies to Twilio, with retries, never to an opted-out number.

429, 5xx, connection errors and timeouts are retried with backoff (Retry-After honoured) for up
to `worker.send_retry_hours`, then failed and logged. Permanent errors are not retried. Error
21610 (the recipient has opted out at the carrier) marks the number opted out.
"""

from __future__ import annotations

import asyncio
import contextlib

import sqlalchemy as sa
import structlog

from bot.deps import Deps
from bot.logs import get_logger, mask_phone
from bot.metrics import Metrics
from bot.twilio_client import LogTransport, SendError, Transport
from bot.worker import backoff
from storage import outbox, users

log = get_logger(__name__)

LEASE_SECONDS = 120.0


class Sender:
    def __init__(self, deps: Deps, transport: Transport, metrics: Metrics, *, concurrency: int = 8) -> None:
        self.deps = deps
        self.transport = transport
        self.metrics = metrics
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        # Twilio keys its answers on our request; dev transport has no delivery to wait for.
        self._redact_when_sent = not isinstance(transport, LogTransport)

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        if self.deps.db.is_sqlite:
            async with self.deps.db.tx() as conn:
                released = await outbox.release_claims(conn)
            if released:
                log.warning("sender.claims_released", count=released)
        self._loop_task = asyncio.create_task(self._run(), name="sender")

    async def stop(self, grace: float = 10.0) -> None:
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

    async def _run(self) -> None:
        poll = self.deps.config.worker.poll_seconds
        while not self._stopping:
            self._wake.clear()
            free = self.concurrency - len(self._tasks)
            rows = []
            if free > 0:
                try:
                    async with self.deps.db.tx() as conn:
                        rows = await outbox.claim(conn, now=self.deps.now(), limit=free, lease=LEASE_SECONDS)
                except Exception as exc:
                    log.error("sender.claim_failed", error=type(exc).__name__)
            for row in rows:
                task = asyncio.create_task(self._send(row))
                self._tasks.add(task)
                task.add_done_callback(self._done)
            if rows and len(rows) == free:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def _send(self, row: sa.Row[tuple[object, ...]]) -> None:
        m = row._mapping
        row_id: int = m["id"]
        to: str = m["to_phone"]
        structlog.contextvars.bind_contextvars(outbox_id=row_id, to=mask_phone(to))
        try:
            async with self.deps.db.read() as conn:
                opted_out = await users.is_opted_out(conn, to)
            if opted_out:
                async with self.deps.db.tx() as conn:
                    await outbox.mark(conn, row_id, now=self.deps.now(), status="skipped", error="opted out")
                self.metrics.outbound.labels(status="skipped").inc()
                log.info("sms.skipped_opted_out")
                return
            try:
                sent = await self.transport.send(to, m["body"])
            except SendError as exc:
                await self._failed(m, exc)
                return
            now = self.deps.now()
            values: dict[str, object] = {
                "status": "sent",
                "twilio_sid": sent.sid,
                "sent_at": now,
                "error": None,
            }
            if m["redact"] and self._redact_when_sent:
                values.update(body=outbox.REDACTED, redacted=True)
            async with self.deps.db.tx() as conn:
                await outbox.mark(conn, row_id, now=now, **values)
            self.metrics.outbound.labels(status="sent").inc()
            log.info("sms.sent", twilio_sid=sent.sid, attempts=m["attempts"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the lease brings the row back
            log.error("sender.failed", error=type(exc).__name__)

    async def _failed(self, m: sa.RowMapping, exc: SendError) -> None:
        now = self.deps.now()
        row_id: int = m["id"]
        code = str(exc.code) if exc.code is not None else (str(exc.status) if exc.status else None)
        if exc.opted_out:
            async with self.deps.db.tx() as conn:
                await users.set_opted_out(conn, m["to_phone"], True, now)
                await outbox.mark(
                    conn, row_id, now=now, status="failed", error_code=code, error="recipient opted out"
                )
            self.metrics.outbound.labels(status="failed").inc()
            log.warning("sms.opted_out_at_carrier", code=exc.code)
            return
        window = self.deps.config.worker.send_retry_hours * 3600
        if exc.retryable and now - m["created_at"] < window:
            delay = max(
                exc.retry_after or 0.0,
                backoff(m["attempts"], base=self.deps.config.worker.retry_base_seconds, cap=600.0),
            )
            async with self.deps.db.tx() as conn:
                await outbox.mark(
                    conn,
                    row_id,
                    now=now,
                    status="queued",
                    next_attempt_at=now + delay,
                    error_code=code,
                    error=str(exc)[:300],
                )
            self.metrics.outbound.labels(status="retry").inc()
            log.warning(
                "sms.send_retry",
                status=exc.status,
                code=exc.code,
                delay=round(delay, 1),
                attempts=m["attempts"],
            )
            return
        async with self.deps.db.tx() as conn:
            await outbox.mark(conn, row_id, now=now, status="failed", error_code=code, error=str(exc)[:300])
        self.metrics.outbound.labels(status="failed").inc()
        log.error("sms.send_failed", status=exc.status, code=exc.code, attempts=m["attempts"])
