"""A keep-alive HTTP/1.1 client for one origin: the sender's POST to Twilio's Messages API.

Every reply is one such request, and aiohttp's client (which the rest of textwire keeps using)
spends about 100 us of CPU on one around a 201 from a local server: the largest single piece of
a text's cost, a third of what the whole durable peer app spends on a text (bench/e2e.py,
BENCHMARKS.md "Stop 20"). This client spends about 27 us: the request's bytes are joined once,
written in one call, and the answer is parsed by httptools (the C parser uvicorn uses). pyreqwest
(Rust's reqwest) was measured too: 44 us alone, and 5-10% more CPU per text than this client in
the whole pipeline.

What it does:
- one request at a time on a connection (no pipelining); idle connections are reused, the most
  recent first, and closed after `keepalive` seconds idle (aiohttp's default, 15 s), or when the
  answer says `Connection: close`;
- a connection whose answer was not read to its end (an error, a timeout, a cancellation) is
  closed, never reused;
- https with the default TLS context (certificates and the host name checked), or the given one;
- an answer's body is capped at `max_body` bytes (a larger one is an error).
- a request's `timeout`: a request still unanswered past its deadline fails with `TimeoutError`
  (its connection closed), found by one sweep every `SWEEP_SECONDS` while requests are in
  flight, so up to that much late. `asyncio.timeout` around each request (a timer handle made and
  cancelled a request) cost 3.3 us, a tenth of the request; a new connection's connect still
  runs under one.
What it does not: redirects, proxies, compression, cookies, HTTP/2. The Messages API needs none,
and the caller (`bot/channels/twilio/rest.py`) reads the status.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

MAX_BODY = 1024 * 1024
KEEPALIVE_SECONDS = 15.0
SWEEP_SECONDS = 0.05  # how often requests in flight are checked against their deadlines


class HttpError(Exception):
    """The exchange failed: no connection, a connection lost or cut off mid-answer, an answer
    that does not parse, or one over the size limit. Whether the server acted on the request is
    not known."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case; a repeated header keeps its last value
    body: bytes


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the answer it is reading."""

    def __init__(self, max_body: int) -> None:
        self._max_body = max_body
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[Answer] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self.closed = False
        self.idle_since = 0.0
        self.deadline = 0.0  # loop time: the answer is late after this (0: no timeout)

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's TCPTransport does not subclass asyncio's classes)
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing was asked: a server that talks out of turn
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:  # a callback's own error comes as the context
            cause = exc.__context__
            self.fail(cause if isinstance(cause, HttpError) else HttpError(f"unreadable answer: {exc}"))

    def eof_received(self) -> bool:
        return False  # close the transport: a half-closed connection is of no more use

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.fail(HttpError("connection closed before the answer ended"))

    # -- httptools callbacks ---------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:
            raise HttpError(f"answer over {self._max_body} bytes")  # feed_data raises it
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        answer = Answer(self._parser.get_status_code(), self._headers, b"".join(self._body))
        keep = self._parser.should_keep_alive()
        self._headers, self._body, self._size = {}, [], 0
        if not keep:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    # -- the client's side -----------------------------------------------------------------------
    def ask(self, request: bytes) -> asyncio.Future[Answer]:
        assert self._transport is not None
        assert self._waiter is None
        if self.closed or self._transport.is_closing():  # a write would vanish, no answer come
            raise HttpError("connection closed before the request")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def fail(self, exc: Exception) -> None:
        """Close, and end the request waiting for an answer with `exc`."""
        self.close()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class Origin:
    """Requests to one `scheme://host[:port]` over keep-alive connections (see the module)."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 64,
        keepalive: float = KEEPALIVE_SECONDS,
        max_body: int = MAX_BODY,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.netloc = url.netloc.rsplit("@", 1)[-1]  # the Host header (no credentials)
        self._ssl: ssl.SSLContext | None = None
        if url.scheme == "https":
            self._ssl = ssl_context or ssl.create_default_context()
        self._idle: collections.deque[_Connection] = collections.deque()
        self._max_idle = max_idle
        self._keepalive = keepalive
        self._max_body = max_body
        self._closed = False
        self._asked: set[_Connection] = set()  # connections waiting for an answer with a deadline
        self._sweep: asyncio.TimerHandle | None = None

    def head(self, method: str, target: str, headers: dict[str, str]) -> str:
        """The request line and headers, up to (not including) Content-Length: the same for every
        request of one kind; build it once."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return "\r\n".join(lines) + "\r\n"

    async def request(
        self,
        head: str,
        body: bytes,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a deadline the origin sweeps (see the module)
    ) -> Answer:
        """Send `head` (from `head()`) with `body` and read the answer. Raises `HttpError`, or
        `TimeoutError` when the answer has not come `timeout` seconds after the request (connect
        included); a timeout or the caller's cancellation closes the connection."""
        loop = asyncio.get_running_loop()
        deadline = 0.0 if timeout is None else loop.time() + timeout
        conn = await self._connection(timeout)
        request = (head + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        try:
            waiter = conn.ask(request)
            if deadline:
                conn.deadline = deadline
                self._asked.add(conn)
                if self._sweep is None:
                    self._sweep = loop.call_later(SWEEP_SECONDS, self._sweep_late, loop)
            answer = await waiter
        except BaseException:
            conn.close()  # its answer may still come: never reuse it
            raise
        finally:
            self._asked.discard(conn)
        if not conn.closed and not self._closed and len(self._idle) < self._max_idle:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()
        return answer

    def _sweep_late(self, loop: asyncio.AbstractEventLoop) -> None:
        """Fail the requests past their deadline; come back while any is in flight."""
        now = loop.time()
        for conn in [c for c in self._asked if c.deadline <= now]:
            self._asked.discard(conn)
            conn.fail(TimeoutError())
        self._sweep = loop.call_later(SWEEP_SECONDS, self._sweep_late, loop) if self._asked else None

    async def _connection(self, timeout: float | None = None) -> _Connection:  # noqa: ASYNC109
        if self._closed:
            raise HttpError("client closed")
        stale = time.monotonic() - self._keepalive
        while self._idle:
            conn = self._idle.pop()  # the most recent: the likeliest to be alive
            if not conn.closed and conn.idle_since >= stale:
                return conn
            conn.close()
        max_body = self._max_body
        try:
            async with asyncio.timeout(timeout):
                _, conn = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(max_body),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )
        except TimeoutError:
            raise
        except (OSError, ssl.SSLError) as exc:
            raise HttpError(f"could not connect: {type(exc).__name__}") from None
        return conn

    async def close(self) -> None:
        self._closed = True
        if self._sweep is not None and not self._asked:  # requests in flight keep theirs
            self._sweep.cancel()
            self._sweep = None
        while self._idle:
            self._idle.pop().close()
        await asyncio.sleep(0)  # let the transports run their close callbacks


__all__ = ["MAX_BODY", "Answer", "HttpError", "Origin"]
