"""What the gateway's routes, a channel's webhook and the features' pages share once the app has
started, under one typed AppKey: the dependencies, the metrics, the inbox writer (group commit),
the dispatcher's priority test and the readiness checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bot.core.deps import Deps
from bot.core.feature import ReadyCheck
from bot.core.message import Inbound
from bot.core.metrics import Metrics
from bot.gateway.ingest import InboxWriter


@dataclass(frozen=True)
class Gate:
    deps: Deps
    metrics: Metrics
    writer: InboxWriter
    is_priority: Callable[[Inbound], Awaitable[bool]]  # carrier keywords, \STOP, \UNLINK
    ready_checks: dict[str, ReadyCheck]
    # the checks that failed at their last run: a check logs `ready.down` when it goes down and
    # `ready.ok` when it passes again, once each, not at every scrape (bot/gateway/routes.py)
    ready_down: set[str] = field(default_factory=set)


GATE = web.AppKey("gate", Gate)

__all__ = ["GATE", "Gate"]
