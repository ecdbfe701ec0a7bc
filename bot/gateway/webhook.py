"""What every channel's webhook does around its own parsing: read the body under the limit (413,
or 400 when it cannot be read; 408 when it has not come whole within BODY_SECONDS), commit the message through the group-commit writer and only then
answer (503 when it cannot be stored: the channel retries), one log line for an accepted message
(`<channel>.received` or `<channel>.duplicate`, standing for its access log line), and the result
counted in /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import time

from aiohttp import web

from bot.core.logs import get_logger
from bot.gateway.gate import Gate
from bot.gateway.routes import ACCEPTED, MAX_BODY
from storage import inbox

log = get_logger(__name__)

RESULTS = {413: "too_large", 403: "forbidden", 400: "bad_request"}
# A webhook's body (a few KiB) comes with its headers; Twilio gives up on an answer after 15 s.
# Without a deadline a body that trickled in, or stopped coming, held its connection and handler
# for as long as the client kept the socket open: behind a proxy that streams bodies (Caddy), a
# thousand of them used up the process's file descriptors (systemd's soft limit is 1024), and
# Twilio's webhooks were refused.
BODY_SECONDS = 10.0


async def read_body(request: web.Request) -> bytes:
    """The request's body: 413 past MAX_BODY (declared or read), 400 when it does not decode or
    was cut short, 408 when it has not all come within BODY_SECONDS."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
    raw = bytearray()
    try:
        # a body that came whole with its headers (a webhook's does) has nothing to wait for: no timer
        async with contextlib.nullcontext() if request.content.is_eof() else asyncio.timeout(BODY_SECONDS):
            async for chunk in request.content.iter_chunked(16384):
                raw.extend(chunk)
                if len(raw) > MAX_BODY:
                    raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw))
    except (web.RequestPayloadError, ConnectionResetError):
        raise web.HTTPBadRequest(text="unreadable body") from None
    except TimeoutError:
        # the rest is not waited for (aiohttp reads what is left for a few seconds at most, then
        # closes the connection)
        timed_out = web.HTTPRequestTimeout(text=f"the body did not come within {BODY_SECONDS:g} s")
        timed_out.force_close()
        raise timed_out from None
    return bytes(raw)


async def commit(
    gate: Gate,
    request: web.Request,
    message: inbox.NewMessage,
    *,
    channel: str,
    route: str,
    started: float,
    **fields: object,
) -> str:
    """Store `message` (group commit); "accepted" when it was new, "duplicate" when its id was
    stored already. 503 when the database cannot take it."""
    try:
        is_new = await gate.writer.add(message)
    except Exception:
        log.error(  # whose text it was, as every other line says (the retries are the sender's)
            f"{channel}.store_failed",
            message_sid=message.message_sid,
            channel=message.channel,
            **fields,
            route=route,
            status=503,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        raise web.HTTPServiceUnavailable(text="could not store the message; retry") from None
    log.info(
        f"{channel}.received" if is_new else f"{channel}.duplicate",
        message_sid=message.message_sid,
        channel=message.channel,
        **fields,
        media=len(message.media),
        route=route,
        status=200,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    request[ACCEPTED] = True
    return "accepted" if is_new else "duplicate"


def rejected(channel: str, exc: web.HTTPException, **fields: str) -> str:
    """The result of a refused webhook, logged when the sender got it wrong (400, 403, 408), with
    what the channel adds (`fields`: the URL a Twilio signature was checked against)."""
    if exc.status in (403, 400, 408):
        log.warning(f"{channel}.rejected", status=exc.status, reason=exc.text, **fields)
    return RESULTS.get(exc.status, "error")


def counted(gate: Gate, channel: str, result: str, started: float) -> None:
    gate.metrics.inbound_by[channel, result].inc()
    gate.metrics.webhook_seconds.observe(time.perf_counter() - started)


__all__ = ["BODY_SECONDS", "commit", "counted", "read_body", "rejected"]
