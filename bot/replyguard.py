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

The worker reads the `reply_log` rows of a whole claimed batch with its claim (`recent`, one
query; `ctx.data[RECENT_KEY]`); a message fed to the dispatcher otherwise is looked up here. The
guard leaves what passed in `ctx.data["reply_log"]`; the worker writes those rows in the same
batch transaction as the message's inbox row and replies (no transaction of its own per text:
that halved the throughput). A sender's next message is claimed only after that commit, so its
claim reads them. Rows of the message
being handled do not count against it (a message handled again after a crash gets its replies
again); the retention job purges old rows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from bot.dispatch import Context, Handler, HandlerResult, Inbound, Reply, replies_of
from storage.lean import Query, Writer
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


# The rows the guard looks at, for a whole claimed batch at once (bot/worker.py): built once.
_RECENT = Query(
    sa.select(reply_log.c.phone, reply_log.c.message_sid, reply_log.c.answer, reply_log.c.at).where(
        reply_log.c.phone.in_(sa.bindparam("phones", expanding=True)), reply_log.c.at >= sa.bindparam("since")
    )
)
RECENT_KEY = "reply_log_recent"  # ctx.data: this sender's rows, read with the claim


@dataclass(frozen=True)
class Logged:
    message_sid: str
    answer: str | None
    at: float


async def recent(conn: Writer, phones: Iterable[str], now: float) -> dict[str, list[Logged]]:
    """The guard's rows of many numbers, in one query (the worker reads them with its claim: a
    sender's next message is claimed only after the rows of its previous one are committed)."""
    wanted = list(set(phones))
    found: dict[str, list[Logged]] = {phone: [] for phone in wanted}
    if wanted:
        rows = await conn.execute(
            _RECENT, {"phones": wanted, "since": now - max(REPEAT_WINDOW, BURST_WINDOW)}
        )
        for row in rows:
            found[row.phone].append(Logged(row.message_sid, row.answer, row.at))
    return found


async def reply_guard(handler: Handler, msg: Inbound, ctx: Context) -> HandlerResult:
    replies = replies_of(await handler(msg, ctx))
    if not replies:
        return replies
    now = ctx.deps.now()
    phone = msg.from_phone
    logged_before: list[Logged] | None = ctx.data.get(RECENT_KEY)
    if logged_before is None:  # not read with a claim (a test feeding the dispatcher)
        async with ctx.deps.db.read() as conn:
            logged_before = (await recent(conn, [phone], now))[phone]
    rows_before = [r for r in logged_before if r.message_sid != msg.message_sid]
    recent_count = sum(1 for r in rows_before if r.at >= now - BURST_WINDOW)
    answered = {r.answer for r in rows_before if r.answer is not None and r.at >= now - REPEAT_WINDOW}
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
        if not msg.priority and recent_count + len(kept) >= BURST_REPLIES:
            ctx.log.warning("sms.reply_capped", recent=recent_count, limit=BURST_REPLIES)
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
    "RECENT_KEY",
    "REPEAT_WINDOW",
    "Logged",
    "answer_key",
    "recent",
    "reply_guard",
]
