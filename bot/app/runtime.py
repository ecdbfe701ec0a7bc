"""What the running app holds, under one typed aiohttp AppKey."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from bot.core.channel import Transport
from bot.core.deps import Deps
from bot.core.feature import ReadyCheck
from bot.core.metrics import Metrics
from bot.gateway.gate import Gate
from bot.gateway.ingest import InboxWriter
from bot.pipeline.dispatch import Dispatcher
from bot.pipeline.lifecycle import Lifecycle
from bot.pipeline.sender import Sender
from bot.pipeline.worker import Worker
from scheduler import Scheduler
from storage.notify import Notifier


@dataclass
class Runtime:
    deps: Deps
    metrics: Metrics
    gate: Gate
    dispatcher: Dispatcher
    writer: InboxWriter
    worker: Worker
    sender: Sender
    transport: Transport
    scheduler: Scheduler
    notifier: Notifier
    ready_checks: dict[str, ReadyCheck]
    role: str = "all"
    lifecycle: Lifecycle = field(default_factory=Lifecycle)


RUNTIME = web.AppKey("runtime", Runtime)
METRICS = web.AppKey("metrics", Metrics)
