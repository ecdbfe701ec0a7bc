"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
            "Outbound SMS by status (sent, retry, failed, skipped)",
            ["status"],
            registry=self.registry,
        )
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
