"""The reply guard: loop protection that stops machines, not people (issue 23, "People first").

The goal: no auto-responder, other bot or echoing number can make textwire reach Twilio's 14107
("SMS send rate limit exceeded" between two numbers, after 15-30 messages in 30 s) or run up a
bill. But a person's ask is always answered: `\\HELP` every time, `\\LINK` with a fresh link every
time, twelve commands in a minute twelve answers. So the guard does two things, and nothing else:

- **A budget, not a cap.** At most `BUDGET` replies go to one number in any `BUDGET_WINDOW`
  seconds. A reply over it is not dropped: it is kept in the outbox with a not-before time (the
  moment the window has room again) and sent then, after the number's earlier replies
  (`sms.reply_delayed`). A delayed link that a newer link superseded is dropped when the newer one
  is queued (bot/pipeline/worker.py, `sms.reply_superseded`): its token is dead by then.
- **A hold for loops.** A loop is recognised by what machines do and people don't:
  - `quick`: `QUICK_STREAK` plain texts in a row, each arriving within `QUICK_SECONDS` of one of
    our replies (an auto-responder answers every reply at once; a person reads first), the last
    longer than a person types (`TYPED_PER_SECOND`) since the text before it (a person typing
    fast sends `hey`, `you there?` as quickly as that);
  - `repeat`: the same plain text `REPEAT_COUNT` times within `REPEAT_WINDOW` seconds;
  - `rate`: `RATE_COUNT` answered plain texts within `RATE_WINDOW` seconds, sustained.
  Only plain texts (no command, no photo, no carrier keyword) count, for all three: the
  other side of a loop does not speak our commands (our replies never start with a backslash),
  while a person typing commands fast, or asking `\\HELP` again, does. The number is then put on
  hold for `HOLD_SECONDS`: one notice (`HOLD_NOTICE`), then no replies to plain texts until the
  hold ends (they are written to the outbox as `held`, never sent); an operator log line
  `sms.loop_held` (warning, with the signal) and `textwire_loops_total{signal}`. A command or a
  photo is still answered on hold (within the budget): it is a person's ask, never the loop's.
  Priority messages (carrier keywords, `\\STOP`, `\\UNLINK`) are answered, and never delayed.

State lives in `reply_log` rows (one a reply, written in the batch transaction that marks the
message done; `at` is when the reply goes out), read for a whole claimed batch with its claim
(`recent`, one query). A sender's next message is claimed only after that commit, so its claim
reads them. Rows of the message being handled do not count against it (a message handled again
after a crash gets its replies again). The retention job purges rows older than `KEEP_SECONDS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa

from bot.core.errors import Defer
from bot.pipeline.dispatch import Context, Handler, HandlerResult, Inbound, Reply, parse_command, replies_of
from storage.lean import Query, Writer
from storage.schema import reply_log

# The budget: well under the 15 quick replies in 30 s after which Twilio may block a number.
BUDGET = 10
BUDGET_WINDOW = 30.0
# The loop detector.
QUICK_SECONDS = 2.0
QUICK_STREAK = 6
TYPED_PER_SECOND = 8.0  # characters: quicker than this since their text before, no person typed it
REPEAT_COUNT = 5
REPEAT_WINDOW = 300.0
RATE_COUNT = 40
RATE_WINDOW = 120.0
HOLD_SECONDS = 1800.0
HOLD = "hold"  # reply_log.answer of the hold notice: the hold runs from its `at`
HOLD_NOTICE = (
    "textwire: replies to you are paused for 30 minutes: our messages and yours went "
    "back and forth like an automated loop."
)
KEEP_SECONDS = HOLD_SECONDS + 60.0  # the retention job keeps reply_log rows this long
LOG_KEY = "reply_log"  # ctx.data: the rows the worker writes with the message's outcome
VERDICT_KEY = "reply_verdict"  # ctx.data: what the guard did (the worker counts it in /metrics)
RECENT_KEY = "reply_log_recent"  # ctx.data: this sender's rows, read with the claim
SIGNALS = ("quick", "repeat", "rate")
SUPERSEDES = frozenset({"x-link"})  # a newer answer of these kinds makes a delayed one stale


def body_digest(msg: Inbound, parse: Callable[[str], object | None] = parse_command) -> str | None:
    """A digest of a plain text's body (no command, photo or carrier keyword), None otherwise:
    only plain texts count as a machine's answers. `parse`: the context's (`Context.parse`, the
    dispatcher's own reading of the text, made once)."""
    if msg.priority or msg.media:
        return None
    text = " ".join(msg.body.split()).casefold()
    if not text or text[0] in "\\/" or text.upper() in ("HELP", "INFO"):
        return None
    if parse(msg.body) is not None:  # `\u00a5HELP`, `\uff3cHELP`, a zero-width space first
        return None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# The rows the guard looks at, for a whole claimed batch at once (bot/pipeline/worker.py): built once.
_RECENT = Query(
    sa.select(
        reply_log.c.phone,
        reply_log.c.message_sid,
        reply_log.c.answer,
        reply_log.c.at,
        reply_log.c.received_at,
        reply_log.c.digest,
    ).where(
        reply_log.c.phone.in_(sa.bindparam("phones", expanding=True)), reply_log.c.at >= sa.bindparam("since")
    )
)


class Logged(NamedTuple):
    """One reply_log row. A tuple, not a frozen dataclass: a claim reads about three a text, and a
    frozen dataclass's __init__ cost 0.6 us against 0.2 (BENCHMARKS.md, "The reply guard's rows as
    tuples")."""

    message_sid: str
    answer: str | None  # the reply's kind; HOLD for a hold notice
    at: float  # when the reply goes (went) out
    received_at: float | None = None  # the answered message's arrival
    digest: str | None = None  # the answered message's body, when it was a plain text


@dataclass
class Verdict:
    """What the guard did with one message's replies."""

    delayed: int = 0
    held: int = 0
    loop: str | None = None  # the signal that put the number on hold now
    longest: float = 0.0  # seconds, the longest delay


async def recent(conn: Writer, phones: Iterable[str], now: float) -> dict[str, list[Logged]]:
    """The guard's rows of many numbers, in one query (the worker reads them with its claim: a
    sender's next message is claimed only after the rows of its previous one are committed)."""
    wanted = list(set(phones))
    found: dict[str, list[Logged]] = {phone: [] for phone in wanted}
    if wanted:
        rows = await conn.execute(_RECENT, {"phones": wanted, "since": now - HOLD_SECONDS})
        for phone, message_sid, answer, at, received_at, digest in rows:  # _RECENT's columns, by position
            found[phone].append(Logged(message_sid, answer, at, received_at, digest))
    return found


def held_until(rows: Sequence[Logged]) -> float | None:
    """The end of the number's hold, if it has one that started within `HOLD_SECONDS`."""
    starts = [r.at for r in rows if r.answer == HOLD]
    return max(starts) + HOLD_SECONDS if starts else None


def loop_signal(rows: Sequence[Logged], msg: Inbound, digest: str | None, now: float) -> str | None:
    """Which machine pattern this message completes, if any (see the module's docstring)."""
    # one entry per earlier message that was answered: (arrival, digest)
    messages: dict[str, tuple[float, str | None]] = {}
    for r in rows:
        if r.received_at is not None:
            messages.setdefault(r.message_sid, (r.received_at, r.digest))
    arrivals = sorted(((at, d, sid) for sid, (at, d) in messages.items()), key=lambda m: m[0])
    if digest is None:  # a command or a photo: a person's ask, never the loop's
        return None
    # plain texts only: 40 photos from a phone's gallery, or command after command, are a person
    if sum(1 for at, d, _ in arrivals if d is not None and at >= now - RATE_WINDOW) + 1 >= RATE_COUNT:
        return "rate"
    if sum(1 for at, d, _ in arrivals if d == digest and at >= now - REPEAT_WINDOW) + 1 >= REPEAT_COUNT:
        return "repeat"
    streak = 0
    for arrival, d, sid in [*arrivals, (msg.received_at, digest, msg.external_id)]:
        # an answer to one of our replies to another message (its own come after it)
        quick = d is not None and any(
            r.message_sid != sid and arrival - QUICK_SECONDS <= r.at <= arrival for r in rows
        )
        streak = streak + 1 if quick else 0
    if streak < QUICK_STREAK:
        return None
    # a person typing fast sends short texts as quickly: one they could have typed since their
    # text before it is no machine's answer (`hey`, `you there?`, `hello??` a second and a half
    # apart were put on hold for 30 minutes); an auto-responder's sentence comes quicker than that
    before = max((at for at, _, _ in arrivals if at <= msg.received_at), default=None)
    if before is not None and len(msg.body.strip()) <= TYPED_PER_SECOND * (msg.received_at - before):
        return None
    return "quick"


def schedule(rows: Sequence[Logged], count: int, now: float) -> list[float]:
    """When each of `count` new replies may go: now while the number's budget allows, else the
    moment the window has room again, and never before a reply already queued for it (order)."""
    times = sorted(r.at for r in rows if r.at > now - BUDGET_WINDOW)
    out: list[float] = []
    for _ in range(count):
        at = max(now, times[-1]) if times else now
        window = [t for t in times if t > at - BUDGET_WINDOW]
        if len(window) >= BUDGET:
            at = window[-BUDGET] + BUDGET_WINDOW
        times.append(at)
        out.append(at)
    return out


async def notice_time(conn: Writer, phone: str, message_sid: str, kind: str, now: float) -> float:
    """When a notice that `phone` did not ask for (a payment to them) may go: within the number's
    budget, after its replies already queued, as a reply would. It is logged as one, so the
    number's next replies count it: another member's twenty-five `\\PAID` in a minute sent
    twenty-five notices to one phone within seconds, past the 15 in 30 s after which Twilio
    blocks the number (14107)."""
    rows = (await recent(conn, [phone], now))[phone]
    at = schedule(rows, 1, now)[0]
    await conn.execute(
        sa.insert(reply_log),
        {"phone": phone, "message_sid": message_sid[:64], "answer": kind[:64], "at": at},
    )
    return at


async def _rows(msg: Inbound, ctx: Context, now: float) -> list[Logged]:
    """The number's rows, less the message's own (read with the claim, else here)."""
    logged_before: list[Logged] | None = ctx.data.get(RECENT_KEY)
    if logged_before is None:  # not read with a claim (a test feeding the dispatcher)
        async with ctx.deps.db.read() as conn:
            logged_before = (await recent(conn, [msg.sender.key], now))[msg.sender.key]
    return [r for r in logged_before if r.message_sid != msg.external_id]


async def reply_guard(handler: Handler, msg: Inbound, ctx: Context) -> HandlerResult:
    try:
        replies = replies_of(await handler(msg, ctx))
    except Defer as defer:  # a deferral's notice (slow down, a post waiting) is a reply too
        if defer.notice and not msg.priority and body_digest(msg, ctx.parse) is not None:
            now = ctx.deps.now()
            until = held_until(await _rows(msg, ctx, now))
            if until is not None and until > now:
                ctx.data.setdefault(VERDICT_KEY, Verdict()).held += 1
                ctx.log.info("sms.reply_held", replies=1, until=round(until - now))
                raise Defer(
                    defer.until, parked=defer.parked, notice=None, notice_key=defer.notice_key
                ) from None
        raise
    if not replies:
        return replies
    now = ctx.deps.now()
    phone = msg.sender.key
    rows = await _rows(msg, ctx, now)
    verdict = ctx.data.setdefault(VERDICT_KEY, Verdict())
    digest = body_digest(msg, ctx.parse)
    if not msg.priority:
        until = held_until(rows)
        on_hold = until is not None and until > now
        if on_hold and digest is not None:  # a plain text: the loop's kind of message
            verdict.held += len(replies)
            ctx.log.info("sms.reply_held", replies=len(replies), until=round((until or now) - now))
            return [dataclasses.replace(r, held=True) for r in replies]
        # a command or a photo is a person's ask, answered on hold too (SPEC: `\\HELP` every
        # time, `\\LINK` a working link every time): a loop's other side never sends one
        signal = None if on_hold else loop_signal(rows, msg, digest, now)
        if signal is not None:
            verdict.loop = signal
            verdict.held += len(replies)
            ctx.log.warning("sms.loop_held", signal=signal, hold_seconds=int(HOLD_SECONDS))
            replies = [*(dataclasses.replace(r, held=True) for r in replies), Reply(HOLD_NOTICE, kind=HOLD)]
    kept: list[Reply] = []
    logged: list[dict[str, object]] = ctx.data.setdefault(LOG_KEY, [])
    to_send = [r for r in replies if not r.held]
    when = [now] * len(to_send) if msg.priority else schedule(rows, len(to_send), now)
    times = iter(when)
    for reply in replies:
        if reply.held:
            kept.append(reply)
            continue
        at = next(times)
        if at > now:
            verdict.delayed += 1
            verdict.longest = max(verdict.longest, at - now)
            reply = dataclasses.replace(reply, not_before=at)
        kept.append(reply)
        logged.append(
            {
                "phone": phone,
                "message_sid": msg.external_id,
                "answer": reply.kind[:64] or None,
                "at": at,
                "received_at": msg.received_at,
                "digest": digest,
            }
        )
    if verdict.delayed:
        ctx.log.info("sms.reply_delayed", replies=verdict.delayed, seconds=round(verdict.longest, 1))
    return kept


__all__ = [
    "BUDGET",
    "BUDGET_WINDOW",
    "HOLD",
    "HOLD_NOTICE",
    "HOLD_SECONDS",
    "KEEP_SECONDS",
    "LOG_KEY",
    "QUICK_SECONDS",
    "QUICK_STREAK",
    "RATE_COUNT",
    "RATE_WINDOW",
    "RECENT_KEY",
    "REPEAT_COUNT",
    "REPEAT_WINDOW",
    "SIGNALS",
    "SUPERSEDES",
    "TYPED_PER_SECOND",
    "VERDICT_KEY",
    "Logged",
    "Verdict",
    "body_digest",
    "held_until",
    "loop_signal",
    "notice_time",
    "recent",
    "reply_guard",
    "schedule",
]
