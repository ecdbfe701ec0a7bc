"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# The label values of the counters the hot path increments (a webhook, a message handled, a reply
# sent: one each a text). Their children are made once (`Metrics.inbound_by` ...): `labels()`
# looks its child up under a lock on every call, 1.28 us an increment against 0.28 for the child.
# Made at start, every series is also in /metrics from the start, at 0.
INBOUND_RESULTS = ("accepted", "duplicate", "forbidden", "bad_request", "too_large", "error")
HANDLED_RESULTS = ("done", "deferred", "failed", "retry")
OUTBOUND_STATUSES = ("sent", "retry", "failed", "skipped", "reconciled")
DROP_REASONS = ("held", "superseded")
LOOP_SIGNALS = ("quick", "repeat", "rate")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.inbound = Counter(
            "textwire_inbound_total",
            "Inbound webhooks by result (accepted, duplicate, forbidden, bad_request, too_large, error)",
            ["result"],
            registry=self.registry,
        )
        self.handled = Counter(
            "textwire_handled_total", "Inbox messages handled by result", ["result"], registry=self.registry
        )
        self.outbound = Counter(
            "textwire_outbound_total",
            "Outbound SMS by status (sent, retry, failed, skipped, reconciled)",
            ["status"],
            registry=self.registry,
        )
        self.inbound_by = {result: self.inbound.labels(result=result) for result in INBOUND_RESULTS}
        self.handled_by = {result: self.handled.labels(result=result) for result in HANDLED_RESULTS}
        self.outbound_by = {status: self.outbound.labels(status=status) for status in OUTBOUND_STATUSES}
        # the reply guard (bot/replyguard.py): replies over a number's budget, kept for later;
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
        self.replies_dropped_by = {r: self.replies_dropped.labels(reason=r) for r in DROP_REASONS}
        self.loops_by = {s: self.loops.labels(signal=s) for s in LOOP_SIGNALS}
        self.webhook_seconds = Histogram(
            "textwire_webhook_seconds",
            "Time to answer POST /twilio/sms",
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
        self.in_flight = Gauge(
            "textwire_http_in_flight",
            "HTTP requests being handled now, by route pattern",
            ["route"],
            registry=self.registry,
        )
