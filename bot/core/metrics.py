"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from bot.core.channel import SMS, TELEGRAM, WHATSAPP

# The label values of the counters the hot path increments (a webhook, a message handled, a reply
# sent: one each a text). Their children are made once (`Metrics.inbound_by` ...): `labels()`
# looks its child up under a lock on every call, 1.28 us an increment against 0.28 for the child.
# Made at start, every series is also in /metrics from the start, at 0. The three carry the
# channel of the address (sms, whatsapp, telegram) as their first label.
CHANNELS = (SMS, WHATSAPP, TELEGRAM)
INBOUND_RESULTS = ("accepted", "duplicate", "forbidden", "bad_request", "too_large", "error")
HANDLED_RESULTS = ("done", "deferred", "failed", "retry")
OUTBOUND_STATUSES = ("sent", "retry", "failed", "skipped", "reconciled")
DROP_REASONS = ("held", "superseded")
LOOP_SIGNALS = ("quick", "repeat", "rate")
OCR_OUTCOMES = ("read", "asked", "failed")
# what failed in the worker's and the sender's loops (bot/pipeline/claimloop.py); each part a
# process runs has both series from its start, at 0 (an alert on their increase sees the first)
DB_ERROR_OPS = ("claim", "commit")
# the send error codes deploy/alerts.yml alerts on (Twilio's 14107 rate limit, 21610 unsubscribed),
# for the Twilio channels: from the sender's start, at 0, so an alert's increase sees the first one
ALERTED_SEND_ERRORS = (("sms", "14107"), ("sms", "21610"), ("whatsapp", "14107"), ("whatsapp", "21610"))
# what X answered, by what the bot makes of it (handlers/post.py, bot/features/x/accounts.py)
X_ERROR_KINDS = (
    "too_long",  # over 280 weighted characters: refused before X is asked
    "unauthorized",  # 401 on a post: refreshed and tried once more
    "rate_limited",  # 429 on a post: parked until the reset
    "duplicate",
    "forbidden",  # a non-duplicate 403: the app's permissions or a locked account
    "rejected",  # any other 4xx on a post
    "unconfirmed",  # a timeout or 5xx after sending: not retried
    "unreachable",  # surely not sent (refused, DNS): retried
    "refresh_rate_limited",  # 429 from the token endpoint: retried after the reset
    "refresh_failed",  # the token endpoint unreachable, 5xx or misconfigured: retried
    "refresh_dead",  # a refresh token X refused (or a token that does not decrypt): relink
)


K = TypeVar("K", str, tuple[str, str])


class Children(dict[K, Any]):
    """A counter's children by their label values (one value, or a tuple of them), made at start
    when `listed` (in /metrics at 0 from the start), else each when first counted; a key not
    foreseen is made when first counted."""

    def __init__(self, family: Counter, keys: Iterable[K], *, listed: bool = True) -> None:
        super().__init__()
        self.family = family
        for key in keys if listed else ():  # not listed: a part this process does not run
            self[key] = self._child(key)

    def _child(self, key: K) -> Any:
        return self.family.labels(*key) if isinstance(key, tuple) else self.family.labels(key)

    def __missing__(self, key: K) -> Any:
        child = self._child(key)
        self[key] = child
        return child


def by_channel(family: Counter, values: tuple[str, ...], *, listed: bool = True) -> Children[tuple[str, str]]:
    """A counter's children by (channel, value), for every channel and value."""
    return Children(family, [(channel, value) for channel in CHANNELS for value in values], listed=listed)


class Metrics:
    """`webhooks`: the process takes webhooks (role web or all); `handling`: it runs the worker
    and the sender (worker or all). The labelled series of the parts it runs are in /metrics
    from the start, at 0 (README "Operating it"); another part's come when first counted."""

    def __init__(self, *, webhooks: bool = True, handling: bool = True) -> None:
        self.registry = CollectorRegistry()
        self.inbound = Counter(
            "textwire_inbound_total",
            "Inbound webhooks by channel and result (accepted, duplicate, forbidden, bad_request, "
            "too_large, error)",
            ["channel", "result"],
            registry=self.registry,
        )
        self.handled = Counter(
            "textwire_handled_total",
            "Inbox messages handled by channel and result",
            ["channel", "result"],
            registry=self.registry,
        )
        self.outbound = Counter(
            "textwire_outbound_total",
            "Outbound messages by channel and status (sent, retry, failed, skipped, reconciled)",
            ["channel", "status"],
            registry=self.registry,
        )
        self.inbound_by = by_channel(self.inbound, INBOUND_RESULTS, listed=webhooks)  # [channel, result]
        self.handled_by = by_channel(self.handled, HANDLED_RESULTS, listed=handling)
        self.outbound_by = by_channel(self.outbound, OUTBOUND_STATUSES, listed=handling)
        # the reply guard (bot/pipeline/replyguard.py): replies over a number's budget, kept for later;
        # replies never sent (the number on hold for a loop; a delayed link a newer one replaced);
        # numbers put on hold, by the signal that showed the loop
        self.replies_delayed = Counter(
            "textwire_replies_delayed",
            "Replies kept in the outbox for later: over their number's budget",
            registry=self.registry,
        )
        self.replies_dropped = Counter(
            "textwire_replies_dropped",
            "Replies never sent, by reason (held: the number is on hold for a loop; superseded)",
            ["reason"],
            registry=self.registry,
        )
        self.loops = Counter(
            "textwire_loops",
            "Numbers put on hold for a reply loop, by signal (quick, repeat, rate)",
            ["signal"],
            registry=self.registry,
        )
        self.replies_dropped_by = Children(self.replies_dropped, DROP_REASONS, listed=handling)
        self.loops_by = Children(self.loops, LOOP_SIGNALS, listed=handling)
        self.ocr = Counter(
            "textwire_ocr",
            "Receipt photos read for a total, by outcome (read; asked: no sure total, the reply asks "
            "for \\AMOUNT; failed: the file or the engine failed)",
            ["outcome"],
            registry=self.registry,
        )
        self.x_errors = Counter(
            "textwire_x_errors",
            "X answers other than success, by kind (rate_limited, duplicate, unconfirmed, refresh_dead, ...)",
            ["kind"],
            registry=self.registry,
        )
        self.x_refresh_stopped = Gauge(
            "textwire_x_refresh_stopped",
            "1 while the X token refresh job is stopped after X refused many refresh tokens at once"
            " (a configuration fault: x.client_id / x.client_secret; a restart re-arms it), else 0",
            registry=self.registry,
        )
        self.ocr_by = Children(self.ocr, OCR_OUTCOMES, listed=handling)
        self.x_errors_by = Children(self.x_errors, X_ERROR_KINDS)  # the web's X callback counts some
        self.webhook_seconds = Histogram(
            "textwire_webhook_seconds",
            "Time to answer a webhook (POST /twilio/sms, POST /telegram/webhook)",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=self.registry,
        )
        self.inbox_depth = Gauge(
            "textwire_inbox_depth",
            "Unfinished inbox rows (the queue) by status",
            ["status"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "textwire_outbox_depth",
            "Unfinished outbox rows (the queue) by status",
            ["status"],
            registry=self.registry,
        )
        self.delivery = Counter(
            "textwire_delivery_status_total",
            "Twilio status callbacks by status",
            ["status"],
            registry=self.registry,
        )
        # for the alert rules (deploy/alerts.yml): what a backlog's age, a channel's error codes,
        # a part's readiness and the database's failures look like from outside
        self.inbox_oldest = Gauge(
            "textwire_inbox_oldest_due_seconds",
            "Age of the oldest inbox message due and not handled yet (0: none): the backlog's age",
            registry=self.registry,
        )
        self.send_errors = Counter(
            "textwire_send_errors_total",
            "Replies a channel refused or failed, by channel and the channel's error code (Twilio's "
            "21610 unsubscribed, 14107 rate limit, 30003 unreachable ...; the HTTP status when none)",
            ["channel", "code"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "textwire_ready",
            "1 when a readiness check passes (database, media, ...), 0 when it fails; at each scrape",
            ["check"],
            registry=self.registry,
        )
        self.db_errors = Counter(
            "textwire_db_errors_total",
            "Database operations of the worker and the sender that failed (claim, commit)",
            ["part", "op"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "textwire_http_in_flight",
            "HTTP requests being handled now, by route pattern",
            ["route"],
            registry=self.registry,
        )
        # the library's standard process_* series (read from /proc at the scrape, nothing on the
        # hot path): process_start_time_seconds shows a process restarted again and again
        # (deploy/alerts.yml, TextwireRestarting: systemd and Kubernetes bring a crashing process
        # back within seconds, so `up` never stays 0), the resident memory and open files
        ProcessCollector(registry=self.registry)
