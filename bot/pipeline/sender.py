"""The outbox sender: hands queued replies to the channel's transport, with retries, never to an
opted-out number.

429, 5xx, connection errors and timeouts are retried with backoff (Retry-After honoured) for up
to `worker.send_retry_hours`, then failed and logged. Permanent errors are not retried. A
"recipient gone" (SMS: Twilio's 21610, opted out at the carrier) marks the number opted out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from bot.core.channel import SendError, Sent, TemplateTransport, Transport, channel_of, window_of
from bot.core.config import TEMPLATE_KINDS
from bot.core.deps import Deps
from bot.core.logs import get_logger, mask_address
from bot.core.message import LAST_WORD
from bot.core.metrics import ALERTED_SEND_ERRORS, Metrics
from bot.pipeline.claimloop import ClaimLoop
from bot.pipeline.worker import backoff
from storage import inbox, outbox, pairing, users
from storage.lean import Writer

log = get_logger(__name__)

LEASE_SECONDS = 120.0
# a send whose outcome could not be written goes again after this (it may have been sent: where
# the channel cannot be asked, as Telegram cannot, each turn sends it again)
PUT_BACK_SECONDS = 60.0


@dataclass(frozen=True)
class Send:
    """A claimed outbox row, and whether its number was opted out at claim time."""

    id: int
    to: str
    body: str
    redact: bool
    attempts: int
    created_at: float
    opted_out: bool
    claimed_at: float
    reconcile_since: float | None  # an earlier try's outcome is unknown: look it up first
    kind: str | None = None  # what it is (storage.outbox.enqueue): a notice, or an answer
    template_only: bool = False  # outside the channel's window for free text: a template or nothing
    message_sid: str | None = None  # of the text it answers (storage.outbox.CLAIMED), for the log

    @functools.cached_property
    def channel(self) -> str:
        return channel_of(self.to)


def _bind(item: Send) -> None:
    """The context of a send's log lines: the reply, its address, and the MessageSid of the text it
    answers when there is one (the same key as the webhook's and the worker's lines)."""
    structlog.contextvars.bind_contextvars(outbox_id=item.id, to=mask_address(item.to), channel=item.channel)
    if item.message_sid is not None:
        structlog.contextvars.bind_contextvars(message_sid=item.message_sid)
    else:
        structlog.contextvars.unbind_contextvars("message_sid")


def _unanswered(exc: BaseException) -> dict[str, str]:
    """Why a send (or a lookup) got no answer at all, for the log: the transports' own words
    ("could not reach Twilio: ConnectionRefused", "timed out waiting for Twilio"). A channel's
    answer (a status) is never quoted: its message may name a phone number."""
    if isinstance(exc, SendError) and exc.status is None:
        return {"reason": str(exc)[:200]}
    return {}


def error_label(exc: SendError) -> str:
    """The channel's error code as a metric label: its digits (Twilio's are 5), else the HTTP
    status, else "none"; never free text (a label's values must stay few)."""
    code = str(exc.code) if exc.code is not None else ""
    if code.isdigit() and len(code) <= 6:
        return code
    return str(exc.status) if exc.status else "none"


@dataclass(frozen=True)
class Outcome:
    mark: outbox.Mark
    opted_out_phone: str | None = None  # Twilio said 21610: record the opt-out too
    # a send found at Twilio after its outcome was unknown: the delivery status Twilio lists for
    # it. Its status callbacks came while its sid was not recorded yet, and found no row.
    delivery: Sent | None = None


class Sender(ClaimLoop[Send, Outcome]):
    """Claims queued replies in batches (one statement, plus one query for opted-out numbers),
    sends them concurrently (at most `concurrency` at once) and records the outcomes in batches.
    64 at once: in a burst the sender, not the worker (128), was the narrow stage at 32, and 64
    answered 1.11x the texts a second at 0.9x the CPU a text (fewer, larger claims and commits;
    BENCHMARKS.md). A 429 from Twilio is retried with backoff."""

    name = "sender"
    queue = outbox.QUEUE

    def __init__(
        self,
        deps: Deps,
        transport: Transport,
        metrics: Metrics,
        *,
        concurrency: int = 64,
        owner: str | None = None,
    ) -> None:
        super().__init__(deps, owner=owner or f"sender-{secrets.token_hex(4)}", concurrency=concurrency)
        self.transport = transport
        self.metrics = metrics
        # Twilio keys its answers on our request; dev transport has no delivery to wait for.
        self._redact_when_sent = transport.delivers
        # per address, the send in flight last claimed: the next one to that address waits for
        # it, and is told whether it ended queued for a later try (True) rather than done
        self._last_to: dict[str, asyncio.Future[bool]] = {}
        # after a commit of outcomes: the other processes' senders leave an address's replies
        # while this one sends to it (storage/outbox.py `_SENT_ELSEWHERE`); they claim them when
        # woken, not a poll later (one wake-up a commit, however many sends it ended)
        self.on_settled: Callable[[], None] = lambda: None

    async def start(self) -> None:
        for channel, code in ALERTED_SEND_ERRORS:  # in /metrics at 0 from the start (alerts.yml)
            self.metrics.send_errors.labels(channel=channel, code=code)
        await super().start()

    def claim_after(self, item: Send, woken: bool) -> bool:
        """Replies have no per-number hold-back: a finished send frees none (a wake-up meanwhile
        was a claim of its own already, or found the capacity full: `_left_behind`)."""
        return False

    async def claim(self, conn: Writer, *, now: float, limit: int) -> list[Send]:
        rows = await outbox.claim(conn, now=now, limit=limit, owner=self.owner, lease=LEASE_SECONDS)
        if not rows:
            return []
        claimed: list[tuple[Any, ...]] = [tuple(row) for row in rows]  # storage.outbox.CLAIMED, in order
        opted_out = await users.opted_out_among(conn, (to for _, to, *_ in claimed))
        # notices to an address whose channel lets free text through only for a while after the
        # person's last message (WhatsApp: 24 hours): when did they last write?
        windowed = [
            to for _, to, *_, kind, _, _ in claimed if kind in TEMPLATE_KINDS and window_of(to) is not None
        ]
        last = await inbox.last_received(conn, windowed) if windowed else {}
        return [
            Send(
                id=id_,
                to=to,
                body=body,
                redact=bool(redact),
                attempts=attempts,
                created_at=created_at,
                opted_out=to in opted_out and kind != LAST_WORD,  # the goodbye still goes
                claimed_at=now,
                reconcile_since=reconcile_since,
                kind=kind,
                # WhatsApp said outside (a status callback's 63016: outbox.requeue_outside_window),
                # or our count of the person's last message does
                template_only=code == outbox.OUTSIDE_WINDOW
                or (to in windowed and now - last.get(to, float("-inf")) > (window_of(to) or 0.0)),
                message_sid=message_sid,
            )
            for id_, to, body, redact, attempts, created_at, reconcile_since, kind, code, message_sid in claimed
        ]

    async def write(self, conn: Writer, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            if outcome.opted_out_phone is not None:
                await users.set_opted_out(conn, outcome.opted_out_phone, True, outcome.mark.now)
        await outbox.mark_many(conn, self.owner, [o.mark for o in outcomes])
        for outcome in outcomes:  # after the marks: they record the sids
            if outcome.delivery is not None:
                found = outcome.delivery
                await outbox.record_delivery(
                    conn, found.sid, found.status, found.error_code, outcome.mark.now
                )

    def written(self, outcomes: Sequence[Outcome]) -> None:
        if outcomes:
            self.on_settled()

    def claimed_id(self, outcome: Outcome) -> int:
        return outcome.mark.id

    async def give_back(self, conn: Writer, outcome: Outcome) -> None:
        """Not at once, as the claim loop's put-back is: a write that failed may fail the same way
        again (a unique id the channel gave twice), and every turn sent the message again, once a
        second for as long as it did. After `PUT_BACK_SECONDS`, looked up first where it can be."""
        due = self.deps.now() + PUT_BACK_SECONDS
        if await outbox.put_back_later(conn, owner=self.owner, id_=outcome.mark.id, due=due):
            log.warning("sms.outcome_not_written", outbox_id=outcome.mark.id, retry_in=PUT_BACK_SECONDS)

    async def handle(self, item: Send) -> None:
        """Replies to one address go one after another, in queue order (the claim's; a task
        starts in the order it was created): sent at once side by side, a later one was taken
        while the one before it failed and waited for its retry, and the person read the answers
        out of order. One that follows a reply put back for a later try is put back too, due at
        once: the claim holds it until that one is due (storage/outbox.py `_RETRY_WAITING`). The
        next one goes as soon as the channel took this one, not after its outcome's commit: the
        order is the channel's, and waiting for the commit too held a burst's replies to one
        number a group commit apart each."""
        before = self._last_to.get(item.to)
        mine: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._last_to[item.to] = mine
        waits = False
        try:
            if before is not None and await before:
                waits = True
                await self._behind(item)
            else:
                waits = await self._send(item, mine)
        finally:
            if not mine.done():
                mine.set_result(waits)
            if self._last_to.get(item.to) is mine:
                del self._last_to[item.to]

    async def _behind(self, item: Send) -> None:
        """Put `item` back unsent: the reply before it to its address waits for a later try."""
        _bind(item)
        now = self.deps.now()
        behind = outbox.Mark(
            item.id, "queued", now, next_attempt_at=now, reconcile_since=item.reconcile_since
        )
        try:
            await self.commit(Outcome(behind))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # given back already, or kept to be written later (claimloop)
            log.error("sender.failed", error=type(exc).__name__)
            return
        log.info("sms.behind_retry")

    async def _send(self, item: Send, taken: asyncio.Future[bool] | None = None) -> bool:
        """Send one claimed reply and commit its outcome; True when it is queued for a later try.
        `taken`: resolved (False) once the channel took it, before the commit, for the next reply
        to its address; a failure resolves it only after its outcome is written (`handle`)."""
        _bind(item)
        try:
            if item.opted_out:

                def skipped() -> None:
                    self.metrics.outbound_by[item.channel, "skipped"].inc()
                    log.info("sms.skipped_opted_out")

                await self.commit(
                    Outcome(outbox.Mark(item.id, "skipped", self.deps.now(), error="opted out")), skipped
                )
                return False
            sent = await self._reconciled(item) if item.reconcile_since is not None else None
            found = sent
            if sent is None:
                try:
                    if item.template_only:
                        sent = await self._as_template(item)
                        if sent is None:
                            return False
                    else:
                        sent = await self.transport.send(item.to, item.body)
                except SendError as exc:
                    if str(exc.code) == outbox.OUTSIDE_WINDOW and not item.template_only:  # WhatsApp's
                        return await self._send(dataclasses.replace(item, template_only=True), taken)
                    return await self._failed(item, exc)
            if taken is not None and not taken.done():
                taken.set_result(False)  # the channel has it: the next reply to the address may go
            now = self.deps.now()
            redacted = outbox.redacted(item.body) if item.redact and self._redact_when_sent else None
            logged_sid = sent.logged or sent.sid

            def was_sent() -> None:
                self.metrics.outbound_by[item.channel, "sent"].inc()
                log.info("sms.sent", twilio_sid=logged_sid, attempts=item.attempts)

            await self.commit(
                Outcome(
                    outbox.Mark(item.id, "sent", now, twilio_sid=sent.sid, sent_at=now, body=redacted),
                    delivery=found,
                ),
                was_sent,
            )
            return False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.keeps(item.id):  # its outcome's commit met the database away: written when back
                return False
            # a database away while looking up an earlier try, a bug: put back as a claim whose
            # send's outcome is unknown (no other process takes the claim of a live one); kept and
            # written later when the database is away too. After a failed commit (the outcome was
            # given back already) this changes nothing: the claim is no longer ours.
            log.error("sender.failed", error=type(exc).__name__)
            now = self.deps.now()
            unknown = outbox.Mark(
                item.id,
                "queued",
                now,
                next_attempt_at=now + PUT_BACK_SECONDS,
                reconcile_since=item.claimed_at,
            )
            await self._give_back_or_keep(Outcome(unknown))
            return True

    async def _as_template(self, item: Send) -> Sent | None:
        """A notice outside the window: as the template its kind maps to, else not sent at all
        (skipped, logged: never retried into a loop). None when it was not sent."""
        content_sid = self.deps.config.twilio.whatsapp_templates.get(item.kind or "")
        if content_sid is None or not isinstance(self.transport, TemplateTransport):
            rerouted = await self._elsewhere(item)
            await self.commit(
                Outcome(
                    outbox.Mark(
                        item.id, "skipped", self.deps.now(), error="outside the 24-hour window; no template"
                    )
                )
            )
            self.metrics.outbound_by[item.channel, "skipped"].inc()
            log.warning(
                "whatsapp.not_sent",
                kind=item.kind,
                reason="outside_window",
                instead=mask_address(rerouted) if rerouted else None,
            )
            return None
        return await self.transport.send_template(item.to, content_sid, {"1": item.body})

    async def _elsewhere(self, item: Send, *, windowed_too: bool = False) -> str | None:
        """A notice WhatsApp will not take now goes to another address of a paired person that
        takes text at any time (their SMS number, their Telegram chat), the one they last wrote
        from (pairing.elsewhere), once: the address, or None when they have none. One the address
        refused for good (a Telegram chat that blocked the bot, a number opted out at the carrier)
        goes to the other address they last wrote from, WhatsApp too
        (`windowed_too`): its row is sent free-form within the person's 24 hours there, else as
        its template or not at all, as any notice to it (an SMS number opted out at the carrier
        left a person who wrote on WhatsApp an hour ago without the \\PAID notice, while the next
        ones went to WhatsApp). Never a last word: "no more messages from textwire here" is of
        this address, and read at another it would say the opposite."""
        if item.kind == LAST_WORD:
            return None
        now = self.deps.now()
        async with self.deps.db.tx() as conn:
            to = await pairing.elsewhere(conn, item.to, lambda key: windowed_too or window_of(key) is None)
            if to is not None:
                await outbox.enqueue(
                    conn,
                    to=to,
                    body=item.body,
                    redact=item.redact,
                    dedupe_key=f"elsewhere:{item.id}",
                    kind=item.kind,
                    now=now,
                )
        if to is not None:
            self.deps.wake_sender()
        return to

    async def _reconciled(self, item: Send) -> Sent | None:
        """The message Twilio already took for this reply, if it did (see TwilioTransport.find
        for how one is matched); None means send it. When Twilio cannot be asked, the reply is
        sent again: a lost reply is worse than a duplicate."""
        assert item.reconcile_since is not None
        try:
            candidates = await self.transport.find(item.to, item.body, item.reconcile_since)
        except Exception as exc:
            log.warning("sms.reconcile_failed", error=type(exc).__name__, **_unanswered(exc))
            return None
        if candidates:
            async with self.deps.db.read() as conn:
                known = await outbox.known_sids(conn, [c.sid for c in candidates])
            for candidate in candidates:
                if candidate.sid not in known:
                    log.info("sms.reconciled", found=True, twilio_sid=candidate.sid)
                    self.metrics.outbound_by[item.channel, "reconciled"].inc()
                    return candidate
        log.info("sms.reconciled", found=False)
        return None

    async def _failed(self, item: Send, exc: SendError) -> bool:
        """Commit a failed send's outcome; True when it is queued for a later try."""
        self.metrics.send_errors.labels(channel=item.channel, code=error_label(exc)).inc()
        now = self.deps.now()
        code = str(exc.code) if exc.code is not None else (str(exc.status) if exc.status else None)
        if exc.recipient_gone:
            await self.commit(
                Outcome(
                    outbox.Mark(item.id, "failed", now, error_code=code, error="recipient opted out"),
                    opted_out_phone=item.to,
                )
            )
            self.metrics.outbound_by[item.channel, "failed"].inc()
            # a notice (a \PAID to them, a reminder) was for the person, not for this address: one
            # who blocked an old Telegram chat, or whose SMS number the carrier opted out, reads it
            # at their other address (the next notices go there anyway, this one was lost)
            rerouted = await self._elsewhere(item, windowed_too=True) if item.kind in TEMPLATE_KINDS else None
            log.warning(
                "sms.opted_out_at_carrier",
                error_code=exc.code,
                instead=mask_address(rerouted) if rerouted else None,
            )
            return False
        window = self.deps.config.worker.send_retry_hours * 3600
        if exc.retryable and now - item.created_at < window:
            delay = max(
                exc.retry_after or 0.0,
                backoff(item.attempts, base=self.deps.config.worker.retry_base_seconds, cap=600.0),
            )

            def retried() -> None:
                self.metrics.outbound_by[item.channel, "retry"].inc()
                log.warning(
                    "sms.send_retry",
                    status=exc.status,
                    error_code=exc.code,  # not `code`: the log drops that key (an OAuth code's)
                    delay=round(delay, 1),
                    attempts=item.attempts,
                    **_unanswered(exc),
                )

            await self.commit(
                Outcome(
                    outbox.Mark(
                        item.id,
                        "queued",
                        now,
                        next_attempt_at=now + delay,
                        error_code=code,
                        error=str(exc)[:300],
                        # no answer (a timeout, a dropped connection): Twilio may have taken it
                        reconcile_since=item.claimed_at if exc.status is None else item.reconcile_since,
                    )
                ),
                retried,
            )
            return True

        def failed() -> None:
            self.metrics.outbound_by[item.channel, "failed"].inc()
            why = {"reason": exc.reason} if exc.reason else _unanswered(exc)  # a fault of ours: what to set
            log.error(
                "sms.send_failed", status=exc.status, error_code=exc.code, attempts=item.attempts, **why
            )

        await self.commit(
            Outcome(outbox.Mark(item.id, "failed", now, error_code=code, error=str(exc)[:300])), failed
        )
        return False
