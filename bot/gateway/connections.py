"""A connection that has not sent a whole request head (request line and headers) within
HEAD_SECONDS of connecting is closed; between requests a connection may stay idle for
KEEPALIVE_SECONDS.

aiohttp (3.14) has one timer per connection, the keep-alive (`keepalive_timeout`, KEEPALIVE_SECONDS
here, aiohttp's default): it starts when the connection is made and again at the end of each
response, and closes the connection if no whole head has come by then. aiohttp made it just over
an hour so that it outlasts the idle timeout of the proxies and load balancers that pool
connections to the app (nginx's upstream `keepalive_timeout` is 60 s, Caddy's 2 minutes, an AWS
ALB's 60 s by default and up to 4,000 s, Google's load balancers 600 s): a server that closes a
pooled connection first races the proxy's next request on it, which then fails (a 502). But the
same timer was the only limit on a connection that never sends a request, or sends half a head
and stops: each was held for an hour. On a port exposed with no proxy in front (the Docker image,
Twilio's webhooks straight to it) a few thousand of them (slowloris) held as many file
descriptors (systemd's soft limit is 1,024) and about 4 KiB of memory each, and past the
process's limit new connections, Twilio's among them, would be refused.

aiohttp has no setting for the wait for the first head apart from that timer, and a shorter
keep-alive would cut proxies' pooled connections between their requests. So a sweep every
SWEEP_SECONDS closes each connection that has had no whole head parsed (`RequestHandler.
_request_count`, aiohttp's count of the heads it parsed on the connection, still 0) since a sweep
at least HEAD_SECONDS before: 20-25 s after it connected. A proxy, a load balancer, Twilio and a
browser send their request as soon as they connect, so only a connection that was never going to
send one is cut. It is closed without an answer (as nginx does for its `client_header_timeout`).

After a response the keep-alive governs again: the next head must come whole within
KEEPALIVE_SECONDS of it (an idle one and a half-sent one alike), which a proxy's pooled connection
needs. A body that trickles in after its head is bot/gateway/webhook.py's (408 after
BODY_SECONDS). The sweep adds nothing to a request's way: one pass over the open connections
every SWEEP_SECONDS (tests/gateway/test_connections.py checks it against the pinned aiohttp, on a
real `textwire serve`).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bot.core.logs import get_logger
from bot.core.tasks import BackgroundTask

log = get_logger(__name__)

KEEPALIVE_SECONDS = 3630.0  # aiohttp's default keepalive_timeout: longer than the proxies' idle timeouts
HEAD_SECONDS = 20.0  # a new connection's first request line and headers must have come by then
SWEEP_SECONDS = 5.0  # how often the open connections are looked at


class HeadDeadline:
    """Closes the connections of `server` (an AppRunner's) that send no whole head in time."""

    def __init__(self, server: web.Server) -> None:
        self._server = server
        self._headless: dict[RequestHandler, float] = {}  # connection -> when first seen without a head
        self._task = BackgroundTask("http.head_deadline")

    def start(self) -> None:
        self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()
        self._headless.clear()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            self.sweep(loop.time())

    def sweep(self, now: float) -> int:
        """Close the connections seen without a head since HEAD_SECONDS before `now`; how many."""
        headless: dict[RequestHandler, float] = {}
        closed = 0
        for handler in self._server.connections:
            if handler._request_count:  # a head came whole: the keep-alive and the body's limits govern
                continue
            since = self._headless.get(handler, now)
            if now - since >= HEAD_SECONDS:
                handler.force_close()  # what aiohttp's keep-alive timer does to an idle connection
                closed += 1
            else:
                headless[handler] = since
        self._headless = headless  # connections gone since the last sweep are forgotten
        if closed:
            log.info("http.head_timed_out", connections=closed, seconds=HEAD_SECONDS)
        return closed


__all__ = ["HEAD_SECONDS", "KEEPALIVE_SECONDS", "SWEEP_SECONDS", "HeadDeadline"]
