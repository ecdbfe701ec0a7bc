"""`POST /telegram/webhook`: Telegram's Updates (SPEC, Channels).

Answered in this order: a body over 64 KiB gets 413; a missing or wrong
`X-Telegram-Bot-Api-Secret-Token` 403 (compared in constant time; nothing is stored); a body
that is not JSON, or not an Update, 400; an update with nothing to handle 200, and it is dropped;
a message is committed to the inbox (the same group commit as SMS) and only then answered 200.
A replay or Telegram's retry of an update_id is a duplicate: 200, nothing more. The route exists
only when `telegram.bot_token` is set (otherwise 404).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import time
from typing import TYPE_CHECKING

from aiohttp import web

from bot.channels.telegram.updates import NotAnUpdate, message_from_update
from bot.core.channel import address_of
from bot.core.logs import get_logger
from bot.core.message import Inbound, Media
from bot.gateway.gate import GATE, Gate
from bot.gateway.routes import ACCEPTED, MAX_BODY
from storage import inbox

if TYPE_CHECKING:
    from bot.channels.telegram.channel import TelegramChannel

log = get_logger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
TELEGRAM_CHANNEL: web.AppKey[TelegramChannel] = web.AppKey("telegram_channel")


def _ok() -> web.Response:
    return web.json_response({"ok": True})


async def _read(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    raw = bytearray()
    try:
        async for chunk in request.content.iter_chunked(16384):
            raw.extend(chunk)
            if len(raw) > MAX_BODY:
                raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw))
    except (web.RequestPayloadError, ConnectionResetError):
        raise web.HTTPBadRequest(text="unreadable body") from None
    return bytes(raw)


def _probe(message: inbox.NewMessage) -> Inbound:
    return Inbound(
        id=0,
        external_id=message.message_sid,
        sender=address_of(message.from_phone),
        recipient=message.to_phone,
        body=message.body,
        media=tuple(Media(i, url, ctype) for i, (url, ctype) in enumerate(message.media)),
    )


async def _message(gate: Gate, channel: TelegramChannel, request: web.Request) -> inbox.NewMessage | None:
    raw = await _read(request)
    given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, channel.secret):
        raise web.HTTPForbidden(text="wrong secret token")
    try:
        update = json.loads(raw)
        message = message_from_update(update, bot=channel.bot_id, now=gate.deps.now())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # NotAnUpdate is a ValueError
        reason = str(exc) if isinstance(exc, NotAnUpdate) else "not JSON"
        raise web.HTTPBadRequest(text=reason) from None
    if message is None:
        return None
    priority = await gate.is_priority(_probe(message))
    return dataclasses.replace(message, priority=1 if priority else 0)


async def telegram_webhook(request: web.Request) -> web.Response:
    gate = request.app[GATE]
    channel = request.app[TELEGRAM_CHANNEL]
    started = time.perf_counter()
    result = "error"
    try:
        message = await _message(gate, channel, request)
        if message is None:
            result = "ignored"
            return _ok()
        try:
            is_new = await gate.writer.add(message)
        except Exception:
            log.error("telegram.store_failed", message_sid=message.message_sid)
            raise web.HTTPServiceUnavailable(text="could not store the update; retry") from None
        result = "accepted" if is_new else "duplicate"
        log.info(
            "telegram.received" if is_new else "telegram.duplicate",
            channel="telegram",
            message_sid=message.message_sid,
            media=len(message.media),
            route="/telegram/webhook",
            status=200,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        request[ACCEPTED] = True
        return _ok()
    except web.HTTPException as exc:
        result = {413: "too_large", 403: "forbidden", 400: "bad_request"}.get(exc.status, "error")
        if exc.status in (403, 400):
            log.warning("telegram.rejected", channel="telegram", status=exc.status, reason=exc.text)
        raise
    finally:
        if result != "ignored":
            gate.metrics.inbound_by[result].inc()
        gate.metrics.webhook_seconds.observe(time.perf_counter() - started)


def add_routes(app: web.Application, channel: TelegramChannel) -> None:
    app[TELEGRAM_CHANNEL] = channel
    app.router.add_post("/telegram/webhook", telegram_webhook)


__all__ = ["SECRET_HEADER", "TELEGRAM_CHANNEL", "add_routes", "telegram_webhook"]
