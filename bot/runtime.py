"""What the running app holds, under one typed aiohttp AppKey."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.deps import Deps
from bot.dispatch import Dispatcher
from bot.ingest import InboxWriter
from bot.lifecycle import Lifecycle
from bot.metrics import Metrics
from bot.sender import Sender
from bot.signature import SignatureChecker
from bot.twilio_client import Transport
from bot.worker import Worker


@dataclass
class Runtime:
    deps: Deps
    metrics: Metrics
    checker: SignatureChecker
    dispatcher: Dispatcher
    writer: InboxWriter
    worker: Worker
    sender: Sender
    transport: Transport
    role: str = "all"
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    scheduler: Any = None
    extras: dict[str, Any] = field(default_factory=dict)


RUNTIME = web.AppKey("runtime", Runtime)
METRICS = web.AppKey("metrics", Metrics)
