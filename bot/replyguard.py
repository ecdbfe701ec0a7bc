"""The reply guard: an outer middleware against reply loops (issue 10, "Reply loops").

A number that answers every reply at once (another bot, an auto-responder) would get a reply to
each of its texts, and Twilio blocks a number after about 20 quick replies (error 14107). So:

- at most `BURST_REPLIES` replies go to one number in `BURST_WINDOW` seconds; the rest are
  dropped and logged (`sms.reply_capped`). Priority messages (\\STOP, carrier keywords) are
  always answered.
- an answer to an ask (a `Reply` with a `kind`: a fresh link, a help text, a usage, an unknown
  command) is not sent to a number again within `REPEAT_WINDOW` seconds: the repeated ask gets
  one pointer to the earlier answer, then nothing. Two answers are the same when their kind and
  their text, with links blanked out, are (each link carries a fresh token).

The guard reads `reply_log` (a read, no write lock) and leaves what passed in
`ctx.data["reply_log"]`; the worker writes those rows in the same batch transaction as the
message's inbox row and replies (no transaction of its own per text: that halved the throughput).
A sender's next message is claimed only after that commit, so it sees them. Rows of the message
being handled do not count against it (a message handled again after a crash gets its replies
again); the retention job purges old rows.
"""

from __future__ import annotations

import hashlib
import re

import sqlalchemy as sa

from bot.dispatch import Context, Handler, HandlerResult, Inbound, Reply, replies_of
from storage.schema import reply_log

BURST_REPLIES = 8  # well below the ~20 quick replies after which Twilio blocks a number
BURST_WINDOW = 60.0
REPEAT_WINDOW = 600.0
POINTER = "We answered that a few minutes ago; see our earlier message."
_URL = re.compile(r"https?://\S+")
LOG_KEY = "reply_log"  # ctx.data: the rows the worker writes with the message's outcome
KEEP_SECONDS = max(REPEAT_WINDOW, BURST_WINDOW)


def answer_key(reply: Reply) -> str | None:
    """`kind:digest` of an answer to an ask, None for any other reply."""
    if not reply.kind:
        return None
    digest = hashlib.sha256(_URL.sub("<link>", reply.text).encode("utf-8")).hexdigest()[:16]
    return f"{reply.kind[:40]}:{digest}"


async def reply_guard(handler: Handler, msg: Inbound, ctx: Context) -> HandlerResult:
    replies = replies_of(await handler(msg, ctx))
    if not replies:
        return replies
    now = ctx.deps.now()
    phone = msg.from_phone
    async with ctx.deps.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(reply_log.c.answer, reply_log.c.at).where(
                    reply_log.c.phone == phone,
                    reply_log.c.at >= now - max(REPEAT_WINDOW, BURST_WINDOW),
                    reply_log.c.message_sid != msg.message_sid,
                )
            )
        ).all()
        recent = sum(1 for r in rows if r.at >= now - BURST_WINDOW)
        answered = {r.answer for r in rows if r.answer is not None and r.at >= now - REPEAT_WINDOW}
        kept: list[Reply] = []
        keys: list[str | None] = []
        # a number that starts over (\STOP, then a text) is a new user: welcome it again
        fresh = bool(ctx.data.get("new_user"))
        for reply in replies:
            key = answer_key(reply)
            if key is not None and key in answered and not fresh:
                ctx.log.info("sms.reply_repeated", kind=reply.kind)
                pointer = answer_key(Reply(POINTER, kind="pointer"))
                if pointer in answered or pointer in keys:
                    continue
                reply, key = Reply(POINTER, kind="pointer"), pointer
            if not msg.priority and recent + len(kept) >= BURST_REPLIES:
                ctx.log.warning("sms.reply_capped", recent=recent, limit=BURST_REPLIES)
                break
            kept.append(reply)
            keys.append(key)
    logged: list[dict[str, object]] = ctx.data.setdefault(LOG_KEY, [])
    logged.extend({"phone": phone, "message_sid": msg.message_sid, "answer": k, "at": now} for k in keys)
    return kept


__all__ = [
    "BURST_REPLIES",
    "BURST_WINDOW",
    "KEEP_SECONDS",
    "LOG_KEY",
    "POINTER",
    "REPEAT_WINDOW",
    "answer_key",
    "reply_guard",
]
