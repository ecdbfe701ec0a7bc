"""Outer middlewares: run on every message before a handler is chosen."""

from __future__ import annotations

import dataclasses

from bot.core.channel import RESUMES_ON_MESSAGE
from bot.core.errors import Defer
from bot.pipeline.dispatch import Context, Handler, HandlerResult, Inbound
from storage import inbox, users

SLOW_DOWN = "You are sending messages faster than we can handle. We will get to the rest shortly."
WINDOW = 60.0


async def load_user(handler: Handler, msg: Inbound, ctx: Context) -> HandlerResult:
    """`ctx.user`: the sender's record, created on their first message. The worker loads the
    users of a whole claimed batch in one query (`users.senders`) and sets `ctx.user` and
    `ctx.data["new_user"]` before the middlewares run; anything else (a test feeding the
    dispatcher directly) gets them here."""
    if ctx.has_user and ctx.user.phone == msg.sender.key:
        created = bool(ctx.data.get("new_user"))
    else:
        async with ctx.deps.db.tx() as conn:
            if await inbox.dropped(conn, msg.id):
                # a `\\STOP` or `\\UNPAIR` of the address went ahead of this message and dropped it
                # while it was being taken up: handled now, it made a new person of the address
                # (a photo it sent waited as a newcomer's); its outcome is a no-op (the claim went)
                ctx.log.info("sms.dropped_in_flight")
                return None
            ctx.user, created = await users.get_or_create(conn, msg.sender.key, ctx.deps.now())
        ctx.data["new_user"] = created
    if created:
        ctx.log.info("user.created")
    elif (
        msg.sender.channel in RESUMES_ON_MESSAGE
        and await _stopped_here(msg, ctx)
        and not await _overtaken(msg, ctx)
    ):
        # Telegram: the bot hears nothing from a chat that blocked it, so a message means it was
        # unblocked: replies go there again (a STOP in this very message opts it out again)
        async with ctx.deps.db.tx() as conn:
            await users.set_opted_out(conn, msg.sender.key, False, ctx.deps.now())
        if ctx.user.phone == msg.sender.key:  # the person's flag is their first address's
            ctx.user = dataclasses.replace(ctx.user, opted_out=False)
        ctx.data["resumed"] = True  # a START in this message answers "replies again" all the same
        ctx.log.info("user.resumed", channel=msg.sender.channel)
    if msg.sender_name is not None:
        await _keep_label(msg, ctx)
    return await handler(msg, ctx)


async def _stopped_here(msg: Inbound, ctx: Context) -> bool:
    """Whether the sender's own address is opted out (what the sender reads before a send). The
    person's flag follows their first address only: a paired Telegram chat that blocked the bot
    stayed silenced after it wrote again."""
    if ctx.user.phone == msg.sender.key:
        return ctx.user.opted_out
    async with ctx.deps.db.read() as conn:
        return msg.sender.key in await users.opted_out_among(conn, [msg.sender.key])


async def _overtaken(msg: Inbound, ctx: Context) -> bool:
    """Whether a later message of the chat went ahead of this one and is done: `/rooms` and then
    STOP at once, the STOP handled first. This one was sent before the opt-out, so it says nothing
    of the chat being unblocked: it resumed the chat, and was answered after the confirmation."""
    async with ctx.deps.db.read() as conn:
        return await inbox.overtaken(conn, msg.sender.key, msg.id)


async def _keep_label(msg: Inbound, ctx: Context) -> None:
    """The name the channel gave the sender (Telegram's first name), kept on their address: the
    rooms show it for a member with no `\\NAME`. Written only when it changed."""
    name = msg.sender_name
    async with ctx.deps.db.read() as conn:
        same = await users.label_of(conn, msg.sender.key) == name
    if not same:
        async with ctx.deps.db.tx() as conn:
            await users.set_label(conn, msg.sender.key, name)


async def rate_limit(handler: Handler, msg: Inbound, ctx: Context) -> HandlerResult:
    """At most `limits.per_sender_per_minute` messages a minute per sender, of those it sent that
    fast. Above it a message is kept and handled when the window allows; the sender is told once per window. Priority
    messages (carrier keywords, \\STOP) are never held back."""
    if msg.priority:
        return await handler(msg, ctx)
    limit = ctx.deps.config.limits.per_sender_per_minute
    now = ctx.deps.now()
    count = ctx.data.get("handled_recently")  # the worker counts for the whole batch at claim time
    if not isinstance(count, int) or count >= limit:
        # over it by when they were handled: were they sent as fast? After a backlog (the worker
        # down, a slow receipt ahead) someone who sent a text every few minutes had them all
        # handled in a minute, and was told to slow down and kept waiting. Only the ones that
        # came in within the minute before this one count then (rarely read: the worker's count,
        # by when handled, is never below it).
        async with ctx.deps.db.read() as conn:
            count = await inbox.handled_since(
                conn, msg.sender.key, now - WINDOW, sent_since=msg.received_at - WINDOW
            )
    if count < limit:
        return await handler(msg, ctx)
    notice = None
    user = ctx.user  # load_user runs first: always set here
    if user.slowdown_notified_at is None or user.slowdown_notified_at < now - WINDOW:
        notice = SLOW_DOWN
        async with ctx.deps.db.tx() as conn:
            await users.mark_slowdown_notified(conn, user.id, now)
    ctx.log.info("sms.rate_limited", count=count, limit=limit)
    raise Defer(now + WINDOW / limit * 2, notice=notice, notice_key="slowdown")
