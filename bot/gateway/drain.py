"""Graceful stop of the web server: every request that reaches it before the grace period ends
gets its answer.

aiohttp's own shutdown marks every connection closing first, and a closing connection drops the
bytes that still arrive: a webhook still sending its body when SIGTERM comes hangs until
`shutdown_timeout` and is cut off without an answer. So `textwire serve` stops in this order:

1. stop listening (new connections are refused);
2. `Drain.begin()`: requests already in flight go on to their normal answer (200 only after the
   inbox commit) and close their connection. A request that starts on a kept-alive connection
   after this point is served as usual (the inbox writer still runs) and its connection closed
   after the answer: Twilio retries a webhook once on a failed connection, not on a 503 (the
   default retry policy, PROTOCOL.md), so a 503 here lost the person's text;
3. wait until no request is in flight, at most `grace` seconds; requests still running then are
   cancelled and answered 503, and so is any request that starts after it (a webhook cancelled
   after its commit is a duplicate when Twilio retries, so nothing acknowledged is lost and
   nothing unacknowledged is kept twice);
4. then aiohttp closes the idle connections and the app stops its parts in reverse.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import Gauge

from bot.core.logs import get_logger
from bot.core.metrics import Metrics

log = get_logger(__name__)


class Drain:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._gauges: dict[str, Gauge] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._cancelled: set[asyncio.Task[object]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._draining = False
        self._refusing = False  # the grace period is over: what starts now gets 503

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def draining(self) -> bool:
        return self._draining

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._refusing:
            return _unavailable()
        task = asyncio.current_task()
        assert task is not None
        gauge = self._gauge(request)
        self._tasks.add(task)
        self._idle.clear()
        gauge.inc()
        try:
            response = await handler(request)
        except asyncio.CancelledError:
            if task not in self._cancelled:
                raise
            task.uncancel()  # cancelled by `wait` past the grace period, before any 200 was sent
            return _unavailable()
        finally:
            gauge.dec()
            self._tasks.discard(task)
            if not self._tasks:
                self._idle.set()
        if self._draining:  # stopping: the connection closes after this answer
            response.force_close()
        return response

    def add_routes_of(self, app: web.Application) -> None:
        """Every route `app` serves (its catch-all `/{unmatched}` too) in /metrics from the start,
        at 0: called once its routes are all added (on startup)."""
        for resource in app.router.resources():
            self._gauge_of(resource.canonical)

    def _gauge(self, request: web.Request) -> Gauge:
        resource = request.match_info.route.resource
        return self._gauge_of(resource.canonical if resource is not None else "unmatched")

    def _gauge_of(self, route: str) -> Gauge:
        gauge = self._gauges.get(route)
        if gauge is None:
            gauge = self._gauges[route] = self._metrics.in_flight.labels(route=route)
        return gauge

    def begin(self) -> None:
        """From now on every answer closes its connection (no new connections come: the listening
        sockets are closed first)."""
        self._draining = True

    async def wait(self, grace: float) -> bool:
        """Wait until no request is in flight, at most `grace` seconds; then cancel the rest (each
        answers 503, as does every request that starts after it). True when every request finished
        by itself."""
        try:
            async with asyncio.timeout(grace):
                await self._idle.wait()
            return True
        except TimeoutError:
            log.warning("http.drain_timeout", in_flight=len(self._tasks), grace=grace)
            self._refusing = True
            for task in list(self._tasks):
                self._cancelled.add(task)
                task.cancel()
            await self._idle.wait()
            return False


def _unavailable() -> web.Response:
    response = web.Response(
        status=503, text="shutting down; retry", headers={"Retry-After": "1", "Connection": "close"}
    )
    response.force_close()
    return response


DRAIN = web.AppKey("drain", Drain)

__all__ = ["DRAIN", "Drain"]
