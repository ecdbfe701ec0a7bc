"""HTTP routes of the gateway: Twilio webhooks, health, readiness and metrics.

`POST /twilio/sms` answers in this order (SPEC, Clarifications): a body over 64 KiB gets 413, a
missing or wrong signature 403, a malformed form 400; then the message is committed to the inbox
(group commit) and only then does the answer come: 200 with an empty TwiML `<Response/>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
from urllib.parse import unquote_plus

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.app.runtime import RUNTIME, Runtime
from bot.channels.twilio.phones import valid_sender
from bot.core.logs import get_logger, mask_phone
from bot.gateway import pages
from bot.gateway.expect import expect_continue
from bot.pipeline.dispatch import Context, Inbound, Media
from storage import inbox, outbox

log = get_logger(__name__)

MAX_BODY = 64 * 1024
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")  # fullmatch: `$` would let a trailing newline in


def _twiml() -> web.Response:
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def _public_url(runtime: Runtime, request: web.Request) -> str:
    """The URL Twilio signed: the configured public base + the raw path and query (never Host)."""
    return runtime.deps.config.public_base + request.raw_path


def parse_form(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True)`, in half the time (12.4 -> 6.3 us for Twilio's 20
    fields): only a name or value with a `%` or a `+` in it is decoded (tests/test_web.py checks
    it against parse_qsl)."""
    fields = []
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        fields.append((name, value))
    return fields


async def _signed_form(runtime: Runtime, request: web.Request) -> list[tuple[str, str]]:
    """Read the body (413 past 64 KiB), check the signature (403), return the form fields."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    raw = bytearray()
    try:
        async for chunk in request.content.iter_chunked(16384):
            raw.extend(chunk)
            if len(raw) > MAX_BODY:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw))
    except (web.RequestPayloadError, ConnectionResetError):  # does not decode, or was cut short
        raise web.HTTPBadRequest(text="unreadable body") from None
    params: list[tuple[str, str]] = []
    if request.content_type == "application/x-www-form-urlencoded":
        try:
            params = parse_form(bytes(raw).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            params = []
    if not runtime.checker.valid(
        _public_url(runtime, request), params, request.headers.get("X-Twilio-Signature")
    ):
        raise web.HTTPForbidden(text="invalid signature")
    if request.content_type != "application/x-www-form-urlencoded":
        raise web.HTTPBadRequest(text="expected a form")
    if b"%00" in raw or b"\x00" in raw:  # the only ways a field holds a NUL
        # PostgreSQL's text cannot hold NUL: one in a Body would fail the whole batch's insert
        # (every webhook in it a 503, and Twilio's retries of this one fail again for ever).
        # Signed, so Twilio sent it: keep the message, with U+FFFD where each NUL was.
        params = [(key, value.replace("\x00", "\ufffd")) for key, value in params]
    return params


async def _message_from(
    runtime: Runtime, params: list[tuple[str, str]], idempotency: str | None
) -> inbox.NewMessage:
    """Validate the form of an inbound SMS/MMS (400 with the reason when it is malformed)."""
    form: dict[str, str] = {}
    for key, value in params:
        form.setdefault(key, value)
    sid = form.get("MessageSid", "")
    if not _SID.fullmatch(sid):
        raise web.HTTPBadRequest(text="MessageSid missing or malformed")
    from_phone = form.get("From", "")
    if not valid_sender(from_phone):
        raise web.HTTPBadRequest(text="From missing or malformed")
    configured_sid = runtime.deps.config.twilio.account_sid
    # as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500)
    account_sid = form.get("AccountSid", "").encode("utf-8")
    if configured_sid and not hmac.compare_digest(account_sid, configured_sid.encode("utf-8")):
        raise web.HTTPBadRequest(text="AccountSid does not match")
    try:
        num_media = int(form.get("NumMedia", "0") or "0")
    except ValueError:
        raise web.HTTPBadRequest(text="NumMedia is not a number") from None
    if not 0 <= num_media <= 10:
        raise web.HTTPBadRequest(text="NumMedia out of range")
    media = []
    for n in range(num_media):
        url = form.get(f"MediaUrl{n}", "")
        if not url.startswith(("http://", "https://")):
            raise web.HTTPBadRequest(text=f"MediaUrl{n} missing")
        media.append((url, form.get(f"MediaContentType{n}", "")))
    body = form.get("Body", "")
    opt_out_type = form.get("OptOutType", "")[:16]
    to_phone = form.get("To", "")[:32]  # the column's width: one overlong row must not fail a batch
    # the dispatcher knows which handlers are priority ones (carrier keywords, \STOP, \UNLINK)
    probe = Inbound(
        id=0,
        message_sid=sid,
        from_phone=from_phone,
        to_phone=to_phone,
        body=body,
        media=tuple(Media(i, url, ctype) for i, (url, ctype) in enumerate(media)),
        opt_out_type=opt_out_type,
    )
    priority = await runtime.dispatcher.is_priority(probe, Context(deps=runtime.deps, log=log))
    return inbox.NewMessage(
        message_sid=sid,
        account_sid=form.get("AccountSid", "")[:64],
        from_phone=from_phone,
        to_phone=to_phone,
        body=body,
        media=tuple(media),
        opt_out_type=opt_out_type,
        idempotency_token=(idempotency or None) and idempotency[:128],
        priority=1 if priority else 0,
        received_at=runtime.deps.now(),
    )


async def twilio_sms(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    started = time.perf_counter()
    result = "error"
    try:
        params = await _signed_form(runtime, request)
        message = await _message_from(runtime, params, request.headers.get("I-Twilio-Idempotency-Token"))
        try:
            is_new = await runtime.writer.add(message)
        except Exception:
            log.error("sms.store_failed", message_sid=message.message_sid)
            raise web.HTTPServiceUnavailable(text="could not store the message; retry") from None
        result = "accepted" if is_new else "duplicate"
        # this line stands for the access log line of an accepted webhook (see AccessLogger)
        log.info(
            "sms.received" if is_new else "sms.duplicate",
            message_sid=message.message_sid,
            sender=mask_phone(message.from_phone),
            media=len(message.media),
            route="/twilio/sms",
            status=200,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        request[ACCEPTED] = True
        return _twiml()
    except web.HTTPException as exc:
        result = {413: "too_large", 403: "forbidden", 400: "bad_request"}.get(exc.status, "error")
        if exc.status in (403, 400):
            log.warning("sms.rejected", status=exc.status, reason=exc.text)
        raise
    finally:
        runtime.metrics.inbound_by[result].inc()
        runtime.metrics.webhook_seconds.observe(time.perf_counter() - started)


_ERROR_CODE = re.compile(r"[0-9]{1,10}")


async def twilio_status(request: web.Request) -> web.Response:
    """Delivery status callbacks: signed like the webhook; a late one never moves a row back."""
    runtime = request.app[RUNTIME]
    params = await _signed_form(runtime, request)
    form = dict(params)
    sid = form.get("MessageSid", "")
    status = form.get("MessageStatus", "")
    if not _SID.fullmatch(sid) or not status:
        raise web.HTTPBadRequest(text="MessageSid or MessageStatus missing")
    # Twilio's error codes are a few digits (30003, 21610): anything else is not one of theirs
    code = form.get("ErrorCode", "")
    error_code = code if _ERROR_CODE.fullmatch(code) else None
    async with runtime.deps.db.tx() as conn:
        applied = await outbox.record_delivery(conn, sid, status, error_code, runtime.deps.now())
    runtime.metrics.delivery.labels(status=status if status in outbox.DELIVERY_RANK else "other").inc()
    log.info("sms.status", twilio_sid=sid, status=status, applied=applied, error_code=error_code)
    return _twiml()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _allowed_operator(runtime: Runtime, request: web.Request) -> bool:
    """Loopback, or `Authorization: Bearer {server.metrics_token}` when that is set."""
    token = runtime.deps.config.server.metrics_token
    header = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return True
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if not _allowed_operator(runtime, request):
        raise web.HTTPForbidden(text="forbidden")
    checks: dict[str, str] = {}
    ok = True
    for name, check in runtime.ready_checks.items():
        try:
            await check()
            checks[name] = "ok"
        except Exception as exc:
            ok = False
            checks[name] = f"down: {type(exc).__name__}"
    return web.json_response(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )


async def metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if not _allowed_operator(runtime, request):
        raise web.HTTPForbidden(text="forbidden")
    try:
        async with runtime.deps.db.read() as conn:
            inbox_depth = await inbox.QUEUE.depth(conn)
            outbox_depth = await outbox.QUEUE.depth(conn)
        for status, count in inbox_depth.items():
            runtime.metrics.inbox_depth.labels(status=status).set(count)
        for status, count in outbox_depth.items():
            runtime.metrics.outbox_depth.labels(status=status).set(count)
    except Exception as exc:
        log.warning("metrics.depth_failed", error=type(exc).__name__)
    body = generate_latest(runtime.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


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
    another method would do, else 404, as aiohttp answers."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical != UNMATCHED:
            allowed |= (await resource.resolve(request))[1]
    if allowed:
        raise web.HTTPMethodNotAllowed(request.method, allowed)
    raise web.HTTPNotFound()


UNMATCHED = "/{unmatched}"


def add_routes(app: web.Application, *, public: bool = True) -> None:
    """The operator routes always; the webhooks and pages unless this process is a `worker`
    (SPEC, Contracts: roles)."""
    logging.getLogger("aiohttp.server").addFilter(CLIENT_ERRORS)  # once: the same filter object
    if public:
        app.router.add_post("/twilio/sms", twilio_sms, expect_handler=expect_continue)
        app.router.add_post("/twilio/status", twilio_status, expect_handler=expect_continue)
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
