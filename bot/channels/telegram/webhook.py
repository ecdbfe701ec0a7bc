"""`POST /telegram/webhook`: Telegram's Updates (SPEC, Channels).

Answered in this order: a body over 64 KiB gets 413; a missing or wrong
`X-Telegram-Bot-Api-Secret-Token` 403 (compared in constant time; nothing is stored); a body
that is not JSON, or not an Update, 400; an update with nothing to handle 200, and it is dropped;
a message is committed to the inbox (the same group commit as SMS) and only then answered 200.
A replay or Telegram's retry of an update_id is a duplicate: 200, nothing more. The bot just added
to a group says, in the answer to that update (a `sendMessage` Telegram makes for us), that it
answers private chats only. The route exists
only when `telegram.bot_token` is set (otherwise 404).
"""

from __future__ import annotations

import dataclasses
import hmac
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from bot.channels.telegram.transport import as_telegram_writes
from bot.channels.telegram.updates import (
    IN_GROUPS,
    NotAnUpdate,
    added_to_group,
    asked_in_group,
    message_from_update,
    topic_of,
)
from bot.core.channel import TELEGRAM, address_of
from bot.core.logs import get_logger, mask_address
from bot.core.message import Inbound, Media
from bot.gateway.expect import expect_continue
from bot.gateway.gate import GATE, Gate
from bot.gateway.webhook import commit, counted, read_body, rejected
from storage import inbox

if TYPE_CHECKING:
    from bot.channels.telegram.channel import TelegramChannel

log = get_logger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
TELEGRAM_CHANNEL: web.AppKey[TelegramChannel] = web.AppKey("telegram_channel")


# what a group is told: written with the slash, as every reply on Telegram is (it said `\\CREATE`,
# `\\JOIN`, the only backslash commands a Telegram user was shown)
GROUP_ANSWER = as_telegram_writes(IN_GROUPS)


def _ok() -> web.Response:
    return web.json_response({"ok": True})


def _probe(message: inbox.NewMessage) -> Inbound:
    return Inbound(
        id=0,
        external_id=message.message_sid,
        sender=address_of(message.from_phone),
        recipient=message.to_phone,
        body=message.body,
        media=tuple(Media(i, url, ctype) for i, (url, ctype) in enumerate(message.media)),
        forwarded=message.forwarded,  # a forwarded \STOP is not run, so it is no priority either
    )


def _in(group: int, update: Any) -> dict[str, Any]:
    """Where the group's answer goes: the chat, and the topic asked in (in a forum)."""
    topic = topic_of(update)
    return {"chat_id": group} if topic is None else {"chat_id": group, "message_thread_id": topic}


async def _message(
    gate: Gate, channel: TelegramChannel, request: web.Request
) -> tuple[inbox.NewMessage | None, dict[str, Any] | None]:
    """The inbox row of the update, if any; else where to tell a group that textwire answers
    private chats only, if any (its chat, and the forum topic asked in): the bot was just added to
    it, or someone there asked (once a day)."""
    raw = await read_body(request)
    given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, channel.secret):
        raise web.HTTPForbidden(text="wrong secret token")
    try:
        update = orjson.loads(raw)  # 2-3x the stdlib's speed; its errors are ValueErrors
        message = message_from_update(update, bot=channel.bot_id, now=gate.deps.now())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # NotAnUpdate is a ValueError
        reason = str(exc) if isinstance(exc, NotAnUpdate) else "not JSON"
        raise web.HTTPBadRequest(text=reason) from None
    if message is None:
        group = added_to_group(update, bot=channel.bot_id)
        if group is not None:
            channel.tell_group(group, gate.deps.now())  # told: a `/help` next is not told again
            log.info("telegram.added_to_group", chat=mask_address(f"{TELEGRAM}:{group}"))
            return None, _in(group, update)
        group = asked_in_group(update, bot=channel.bot_id)  # told once a day, not at every command
        if group is not None and channel.tell_group(group, gate.deps.now()):
            log.info("telegram.group_told", chat=mask_address(f"{TELEGRAM}:{group}"))
            return None, _in(group, update)
        return None, None
    priority = await gate.is_priority(_probe(message))
    return dataclasses.replace(message, priority=1 if priority else 0), None


async def telegram_webhook(request: web.Request) -> web.Response:
    gate = request.app[GATE]
    channel = request.app[TELEGRAM_CHANNEL]
    started = time.perf_counter()
    result = "error"
    try:
        message, group = await _message(gate, channel, request)
        if message is None:
            result = "ignored"
            if group is not None:
                # one word in the group, as the answer to this update (Telegram makes the call):
                # no person, no inbox row, no outbox row for a chat textwire does not serve
                # its commands as Telegram's, as the transport writes every reply (`/create`)
                return web.json_response({"method": "sendMessage", **group, "text": GROUP_ANSWER})
            return _ok()
        result = await commit(
            gate,
            request,
            message,
            channel="telegram",
            route="/telegram/webhook",
            started=started,
            sender=mask_address(message.from_phone),  # as the worker's lines show it
        )
        return _ok()
    except web.HTTPException as exc:
        result = rejected("telegram", exc)
        raise
    finally:
        if result != "ignored":  # not a message: nothing stored, nothing to count
            counted(gate, TELEGRAM, result, started)


def add_routes(app: web.Application, channel: TelegramChannel) -> None:
    app[TELEGRAM_CHANNEL] = channel
    app.router.add_post("/telegram/webhook", telegram_webhook, expect_handler=expect_continue)


__all__ = ["GROUP_ANSWER", "SECRET_HEADER", "TELEGRAM_CHANNEL", "add_routes", "telegram_webhook"]
