"""HTTP routes of the gateway: health, readiness and metrics, the pages' static parts, the
catch-all, and the access log. The channels add their webhooks (bot/channels/*/webhook.py)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.core.feature import ReadyCheck
from bot.core.logs import db_reason, get_logger
from bot.gateway import pages
from bot.gateway.expect import MAX_BODY as MAX_BODY  # where the webhooks and the app read it
from bot.gateway.expect import expect_continue
from bot.gateway.gate import GATE, Gate
from storage import inbox, outbox

log = get_logger(__name__)

T = TypeVar("T")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


# set by a reverse proxy or a tunnel (Caddy, nginx as deploy/ sets it up, cloudflared, ngrok): a
# request that carries one came from outside, whatever address the proxy connected from
FORWARDED_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP", "CF-Connecting-IP")


def _allowed_operator(gate: Gate, request: web.Request) -> bool:
    """Loopback, or `Authorization: Bearer {server.metrics_token}` when that is set. A request a
    proxy on this machine forwarded is not loopback: the README's proxies and tunnels all connect
    from 127.0.0.1, which made /metrics and /readyz public behind them."""
    token = gate.deps.config.server.metrics_token
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    # the scheme in any case (RFC 9110, 11.1: `bearer` is `Bearer`)
    # surrogateescape: a header's bytes that are not UTF-8 come as surrogates (a 500 in encode)
    if (
        token
        and scheme.lower() == "bearer"
        and hmac.compare_digest(credentials.strip().encode("utf-8", "surrogateescape"), token.encode())
    ):
        return True
    if any(name in request.headers for name in FORWARDED_HEADERS):
        return False
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


READY_CHECK_SECONDS = 4.0  # a check not done by then is down: two of them stay under a scrape's 10 s

# checks given up on, still cleaning up after their cancellation (kept referenced until they end)
_ABANDONED: set[asyncio.Future[Any]] = set()


async def within(seconds: float, work: Awaitable[T]) -> T:
    """`work`'s result, or TimeoutError once `seconds` have passed, at once: `work` is cancelled
    and finishes its clean-up in the background. `asyncio.timeout` waits for that clean-up, and
    SQLAlchemy closes a connection cancelled in the middle of a statement politely, waiting up to
    2 s more for a database that stopped answering: a check of a frozen PostgreSQL took 6 s."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait((task,), timeout=seconds)
    except BaseException:  # the request itself was cancelled (the client went away)
        _abandon(task)
        raise
    if not done:
        _abandon(task)
        raise TimeoutError
    try:
        return task.result()
    finally:  # the error's traceback holds this frame: no cycle through the task (freed at once)
        del task, done


def _abandon(task: asyncio.Future[Any]) -> None:
    task.cancel()
    _ABANDONED.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Future[Any]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a check that failed while cancelled is not logged as lost


def check_reason(exc: BaseException) -> str:
    """Why a readiness check failed, safe to log: the system's words for an OS error (`No space
    left on device`, `Read-only file system`, `Connection refused`), the time given for one that
    did not answer, else what `db_reason` says (SQLite's words, or the error's class)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {READY_CHECK_SECONDS:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return db_reason(exc)


async def run_checks(gate: Gate) -> dict[str, str]:
    """Each readiness check, side by side: "ok" or "down: <error class>" (`TimeoutError` for one
    that does not answer within READY_CHECK_SECONDS: a hung S3 endpoint took /readyz and /metrics
    with it for minutes), so all of them answer within READY_CHECK_SECONDS; `textwire_ready{check}`
    follows."""

    async def run(name: str, check: ReadyCheck) -> str:
        try:
            await within(READY_CHECK_SECONDS, check())
            state = "ok"
        except Exception as exc:
            state = f"down: {type(exc).__name__}"
            if name not in gate.ready_down:
                gate.ready_down.add(name)
                log.warning("ready.down", check=name, error=type(exc).__name__, reason=check_reason(exc))
        else:
            if name in gate.ready_down:
                gate.ready_down.discard(name)
                log.info("ready.ok", check=name)
        gate.metrics.ready.labels(check=name).set(1 if state == "ok" else 0)
        return state

    names = list(gate.ready_checks)
    states = await asyncio.gather(*(run(name, gate.ready_checks[name]) for name in names))
    return dict(zip(names, states, strict=True))


async def readyz(request: web.Request) -> web.Response:
    gate = request.app[GATE]
    if not _allowed_operator(gate, request):
        raise web.HTTPForbidden(text="forbidden")
    checks = await run_checks(gate)
    ok = all(state == "ok" for state in checks.values())
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


async def metrics(request: web.Request) -> web.Response:
    gate = request.app[GATE]
    if not _allowed_operator(gate, request):
        raise web.HTTPForbidden(text="forbidden")
    checks = await run_checks(gate)
    if checks.get("database") == "ok":
        await queue_depths(gate)
    body = generate_latest(gate.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def queue_depths(gate: Gate) -> None:
    """The queues' gauges, read within READY_CHECK_SECONDS (and only when the database check
    passed): a database that took the connection and hung (a failover, a network fault) held
    every scrape, so the metrics went dark and the process counted as down exactly while the
    database was in trouble."""
    now = gate.deps.now()

    async def read() -> tuple[dict[str, int], dict[str, int], float | None]:
        async with gate.deps.db.read() as conn:
            return (
                await inbox.QUEUE.depth(conn),
                await outbox.QUEUE.depth(conn),
                await inbox.oldest_due(conn, now),
            )

    try:
        inbox_depth, outbox_depth, oldest = await within(READY_CHECK_SECONDS, read())
        gate.metrics.inbox_oldest.set(0.0 if oldest is None else max(0.0, now - oldest))
        for status, count in inbox_depth.items():
            gate.metrics.inbox_depth.labels(status=status).set(count)
        for status, count in outbox_depth.items():
            gate.metrics.outbox_depth.labels(status=status).set(count)
    except Exception as exc:
        log.warning("metrics.depth_failed", error=type(exc).__name__)


class ClientErrorFilter(logging.Filter):
    """aiohttp logs every request its parser rejects (a bad request line, header or
    Content-Encoding), and a body left unread that does not decode, as an error with a
    traceback, although the fault is the client's. Such a record becomes one warning,
    `http.rejected`, naming the exception class and the status only (the exception's text may
    quote the request line, and with it a link token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        client_fault = isinstance(exc, web.RequestPayloadError) or (
            isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 400) < 500
        )
        if exc is not None and client_fault:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args, record.exc_info, record.exc_text = "http.rejected", (), None, None
            record.error = type(exc).__name__
            record.status = exc.code if isinstance(exc, HttpProcessingError) and exc.code else 400
        return True


CLIENT_ERRORS = ClientErrorFilter()


async def unmatched(request: web.Request) -> web.StreamResponse:
    """Every path no route has (a route of its own, so it gets `expect_continue` too): 405 when
    another method would do, else the 404 page (`pages.not_found`: a link cut short or mistyped)."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical != UNMATCHED:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    return pages.not_found()


UNMATCHED = "/{unmatched}"


def add_routes(app: web.Application, *, public: bool = True) -> None:
    """The operator routes always; the webhooks and pages unless this process is a `worker`
    (SPEC, Contracts: roles)."""
    logging.getLogger("aiohttp.server").addFilter(CLIENT_ERRORS)  # once: the same filter object
    if public:
        pages.add_routes(app)
    app.router.add_get("/healthz", healthz, expect_handler=expect_continue)
    app.router.add_get("/readyz", readyz, expect_handler=expect_continue)
    app.router.add_get("/metrics", metrics, expect_handler=expect_continue)
    # The least explicit path, after "/" (a path tries its most explicit routes first, and the
    # ones of one prefix in the order added): routes added later (features) still match first.
    app.router.add_route("*", "/{unmatched:.*}", unmatched, expect_handler=expect_continue)


ACCEPTED = web.RequestKey("textwire_accepted", bool)
access_log = get_logger("aiohttp.access")


def route_of(request: BaseRequest) -> str:
    """The route pattern a request matched (`/x/link/{token}`), for the access log; "unmatched"
    for one that matched none, or that aiohttp's parser rejected before routing (no match_info).
    Read when the line is written: a middleware that noted it cost every request, the webhook's
    too, a layer (the webhook's own line names its route)."""
    try:
        resource = request.match_info.route.resource  # type: ignore[attr-defined]
    except (AttributeError, AssertionError):  # rejected before routing: a BaseRequest
        return "unmatched"
    if resource is None or resource.canonical == UNMATCHED:
        return "unmatched"
    return str(resource.canonical)


class AccessLogger(AbstractAccessLogger):
    """One line a request with the route pattern (`/x/link/{token}`), never the path or query.
    An accepted webhook is logged once, by its `sms.received` line, which has the same fields."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if request.get(ACCEPTED):
            return
        route = route_of(request)
        access_log.info(
            "http.request",
            method=request.method,
            route=route,
            status=response.status,
            ms=round(time * 1000, 2),
        )
