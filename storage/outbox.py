"""The outbox: replies and notices waiting for (or done with) Twilio."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import WHATSAPP, channel_of
from storage.db import insert_ignore, insert_ignoring
from storage.inbox import DROPPED
from storage.lean import Query, Writer, write_later
from storage.queue import ClaimedRow, ClaimQueue
from storage.schema import early_statuses, inbox, outbox

# Twilio's delivery statuses, ranked so that a late callback never moves a row backwards.
DELIVERY_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "failed": 4,
    "undelivered": 4,
    "canceled": 4,
    "delivered": 5,
    "partially_delivered": 5,
    "read": 6,
}

# The rank of a row's delivery status, in SQL (no status yet: -1).
delivery_rank = sa.case(DELIVERY_RANK, value=outbox.c.delivery_status, else_=-1)

REDACTED = "[redacted: contained a link]"
# where a sent text's secret may start: a link, or a figure (a \\PAIR code, a link's expiry)
_SECRET = re.compile(r"[0-9]|[A-Za-z][A-Za-z0-9+.-]*://")


def redacted(body: str) -> str:
    """What a sent text that carried a link keeps: `REDACTED`, then its words before the first
    link or figure (no token, signature or code is in them), for a phone's reaction that quotes
    the text's start (`Loved \u201cWelcome to textwire! Connect X ...\u201d`) to be known as one."""
    cut = _SECRET.search(body)
    head = " ".join(body[: cut.start()].split()) if cut is not None else ""
    return f"{REDACTED} {head}" if head else REDACTED


def was_redacted(body: str) -> bool:
    return body.startswith(REDACTED)


def notice_key(external_id: str, key: str) -> str:
    """The dedupe key of a deferred or retried message's notice (`key`: which notice): queued once
    however often the message is handled again."""
    return f"{external_id}:{key}"


async def queued(conn: AsyncConnection, dedupe_key: str) -> bool:
    """Whether a message with this `dedupe_key` was queued (and not yet purged)."""
    found = await conn.execute(sa.select(outbox.c.id).where(outbox.c.dedupe_key == dedupe_key))
    return found.first() is not None


async def sent_to(
    conn: AsyncConnection,
    to: str,
    since: float,
    until: float | None = None,
    *,
    kind: str | None = None,
    notice: str | None = None,
) -> bool:
    """Whether a message was queued for `to` between `since` and `until` (or since `since`): one
    of `kind`, or a notice `notice` (the end of its dedupe key: `notice_key`) of any message."""
    query = sa.select(outbox.c.id).where(outbox.c.to_phone == to, outbox.c.created_at >= since)
    if until is not None:
        query = query.where(outbox.c.created_at <= until)
    if kind is not None:
        query = query.where(outbox.c.kind == kind)
    if notice is not None:
        query = query.where(outbox.c.dedupe_key.endswith(f":{notice}", autoescape=True))
    found = await conn.execute(query.limit(1))
    return found.first() is not None


async def enqueue(
    conn: AsyncConnection,
    *,
    to: str,
    body: str,
    dedupe_key: str,
    now: float,
    inbox_id: int | None = None,
    redact: bool = False,
    kind: str | None = None,
    not_before: float = 0.0,
) -> bool:
    """Queue one message. A second call with the same `dedupe_key` is a no-op (returns False).
    `kind`: what it is; a notice that is not an answer ("paid", "connected", "relink") may go to
    WhatsApp only as a template outside its 24-hour window (bot/pipeline/sender.py).
    `not_before`: not sent before then (a notice over its number's budget)."""
    result = await conn.execute(
        insert_ignore(conn, outbox).values(
            dedupe_key=dedupe_key,
            inbox_id=inbox_id,
            to_phone=to,
            body=body,
            redact=redact,
            status="queued",
            next_attempt_at=max(not_before, now),  # due from now (or then): behind the replies due before it
            created_at=now,
            kind=kind,
            channel=channel_of(to),
        )
    )
    return result.rowcount == 1


@dataclass(frozen=True)
class NewReply:
    """An SMS to queue; `dedupe_key` makes a second queueing of it a no-op. `not_before`: not sent
    before then (a reply over its number's budget); `held`: recorded, never sent (the number is
    on hold for a reply loop); `kind`: what answer it is (bot.pipeline.dispatch.Reply.kind)."""

    to: str
    body: str
    dedupe_key: str
    now: float
    inbox_id: int | None = None
    redact: bool = False
    not_before: float = 0.0
    held: bool = False
    kind: str | None = None

    def row(self) -> dict[str, object]:
        return {
            "dedupe_key": self.dedupe_key,
            "inbox_id": self.inbox_id,
            "to_phone": self.to,
            "body": self.body,
            "redact": self.redact,
            "status": "held" if self.held else "queued",
            # due now, or at its not-before time: the claim takes due rows in the order they fell
            # due, so a delayed reply that fell due goes ahead of its number's later ones
            "next_attempt_at": max(self.not_before, self.now),
            "created_at": self.now,
            "kind": self.kind,
            "channel": channel_of(self.to),
        }


async def enqueue_many(conn: Writer, replies: Sequence[NewReply]) -> None:
    """Queue many SMS in one executemany; rows whose `dedupe_key` exists are skipped."""
    if not replies:
        return
    await write_later(conn, insert_ignoring(conn, outbox), [r.row() for r in replies])


_REPLY_COLUMNS = tuple(NewReply("", "", "", 0.0).row())
_HELD_BY: dict[str, Query] = {}


def _enqueue_held(conn: Writer) -> Query:
    """`INSERT ... SELECT <the reply's values> WHERE <its message is the writer's> ON CONFLICT DO
    NOTHING`, per dialect. The message is the writer's while it holds the claim, and once its
    outcome has ended the claim (earlier in the transaction; on PostgreSQL that UPDATE holds the
    row, so a `\\STOP` dropping it waits and then finds it done), unless `\\STOP` dropped it
    first (`DROPPED`). Not while another worker holds it (a takeover); a message that worker
    finished has the same replies queued (the same dedupe keys: nothing twice)."""
    found = _HELD_BY.get(conn.dialect.name)
    if found is None:
        theirs = sa.or_(
            inbox.c.claimed_by == sa.bindparam("held_by"),
            sa.and_(inbox.c.claimed_by.is_(None), sa.func.coalesce(inbox.c.error, "") != DROPPED),
        )
        values = sa.select(*(sa.bindparam(c, type_=outbox.c[c].type) for c in _REPLY_COLUMNS)).where(
            sa.exists().where(inbox.c.id == sa.bindparam("held_id"), theirs)
        )
        insert = insert_ignore(conn, outbox)
        statement = type(insert)(outbox).from_select(list(_REPLY_COLUMNS), values).on_conflict_do_nothing()
        found = _HELD_BY[conn.dialect.name] = Query(statement)
    return found


async def enqueue_held(conn: Writer, owner: str, replies: Sequence[NewReply]) -> None:
    """`enqueue_many` for the replies of messages `owner` handled: each is queued only while its
    message (`inbox_id`) is still `owner`'s (`_enqueue_held`), checked in the same statement (no
    trip of its own), after the outcomes that end the claims, in their transaction. A message
    taken from under its worker (`\\STOP` dropped it while it was being handled) has replies that
    are no longer this worker's to send: they went out after the goodbye."""
    if not replies:
        return
    rows = []
    for reply in replies:
        row = reply.row()
        row["held_id"], row["held_by"] = reply.inbox_id, owner
        rows.append(row)
    await write_later(conn, _enqueue_held(conn), rows)


SUPERSEDED = "superseded"
# A delayed answer of a kind that a newer one replaces (a link: the newer link killed its token)
# is not sent: skipped, before it falls due. Only rows still waiting for their time (queued, not
# yet tried, due later): an answer that went out, or is going, stays as it is.
_SUPERSEDE = Query(
    sa.update(outbox)
    .where(
        outbox.c.to_phone == sa.bindparam("b_to"),
        outbox.c.kind == sa.bindparam("b_kind"),
        outbox.c.status == "queued",
        outbox.c.attempts == 0,
        outbox.c.next_attempt_at > sa.bindparam("b_now"),
        outbox.c.dedupe_key != sa.bindparam("b_key"),
    )
    .values(status="skipped", error=SUPERSEDED, updated_at=sa.bindparam("b_now"))
)


async def supersede(conn: Writer, reply: NewReply) -> int:
    """Skip the delayed, not yet sent answers to `reply.to` of `reply.kind` that `reply` replaces;
    how many."""
    result = await conn.execute(
        _SUPERSEDE, {"b_to": reply.to, "b_kind": reply.kind, "b_now": reply.now, "b_key": reply.dedupe_key}
    )
    return int(result.rowcount)


# `\\STOP` ends what goes to its address, with one goodbye: the answers still waiting for their
# time (over the number's budget) went out after it, half a minute after "Goodbye from textwire",
# to a person who had deleted their account. Only rows never tried and due later (as above).
_SUPERSEDE_ALL = Query(
    sa.update(outbox)
    .where(
        outbox.c.to_phone == sa.bindparam("b_to"),
        outbox.c.status == "queued",
        outbox.c.attempts == 0,
        outbox.c.next_attempt_at > sa.bindparam("b_now"),
    )
    .values(status="skipped", error=SUPERSEDED, updated_at=sa.bindparam("b_now"))
)


async def supersede_waiting(conn: Writer, to: str, now: float) -> int:
    """Skip every answer to `to` still waiting for its time (`\\STOP`'s goodbye goes now, and
    is the last word); how many."""
    result = await conn.execute(_SUPERSEDE_ALL, {"b_to": to, "b_now": now})
    return int(result.rowcount)


async def move_waiting(conn: AsyncConnection, from_: str, to: str, kinds: Sequence[str], now: float) -> int:
    """Send to `to` the notices of `kinds` waiting for their time at `from_` (over its budget, never
    tried), as an address's `\\STOP` leaves its person: they were for the person, who reads the
    next ones at `to` (a \\PAID notice held back by the budget was dropped with the address,
    and the payee never heard of it). They go now: the budget that held them was the old
    address's. How many."""
    result = await conn.execute(
        sa.update(outbox)
        .where(
            outbox.c.to_phone == from_,
            outbox.c.status == "queued",
            outbox.c.attempts == 0,
            outbox.c.next_attempt_at > now,
            outbox.c.kind.in_(list(kinds)),
        )
        .values(to_phone=to, channel=channel_of(to), next_attempt_at=now, updated_at=now)
    )
    return int(result.rowcount)


async def record_delivery(
    conn: Writer, twilio_sid: str, status: str, error_code: str | None, now: float
) -> bool:
    """Apply a status callback unless the row already has a later status. True when applied.

    One conditional UPDATE: with callbacks for one message arriving at several processes at once,
    PostgreSQL re-checks the condition on the row as the other transaction committed it, so the
    status never moves backwards (a read, then a write, would let a late `sent` undo `delivered`)."""
    rank = DELIVERY_RANK.get(status)
    if rank is None:
        return False
    values: dict[str, object] = {"delivery_status": status, "updated_at": now}
    if error_code:
        values["error_code"] = error_code[:16]  # Twilio's are 5 digits; PostgreSQL enforces the length
    result = await conn.execute(
        sa.update(outbox).where(outbox.c.twilio_sid == twilio_sid, delivery_rank < rank).values(**values)
    )
    return result.rowcount == 1


# How long a status callback that came before its reply's sid was recorded is kept for that reply
# (`keep_early_status`): the sender commits the sid within moments of Twilio's answer, or, when
# the answer was lost, looks the message up at Twilio within minutes (`reconcile_since`).
EARLY_KEEP_SECONDS = 3600.0


async def sid_known(conn: AsyncConnection, twilio_sid: str) -> bool:
    """Whether a reply has this sid (a status callback about it applies, or came late)."""
    found = await conn.execute(sa.select(outbox.c.id).where(outbox.c.twilio_sid == twilio_sid).limit(1))
    return found.first() is not None


async def keep_early_status(
    conn: AsyncConnection, twilio_sid: str, status: str, error_code: str | None, now: float
) -> None:
    """Keep a status callback no reply has the sid of yet: Twilio may call back as soon as it took
    the message, before the sender committed the sid it answered with, and a callback answered
    200 is not sent again. `early_statuses_due` gives it back once a reply has the sid."""
    await conn.execute(
        sa.insert(early_statuses).values(
            twilio_sid=twilio_sid,
            status=status[:32],
            error_code=error_code[:16] if error_code else None,
            received_at=now,
        )
    )


@dataclass(frozen=True)
class EarlyStatus:
    id: int
    twilio_sid: str
    status: str
    error_code: str | None
    received_at: float


async def early_statuses_due(conn: AsyncConnection, limit: int = 500) -> tuple[list[EarlyStatus], int]:
    """The kept status callbacks whose reply now has the sid, oldest first, and how many are kept
    in all (0: nothing to do)."""
    kept = int(await conn.scalar(sa.select(sa.func.count()).select_from(early_statuses)) or 0)
    if not kept:
        return [], 0
    rows = await conn.execute(
        sa.select(
            early_statuses.c.id,
            early_statuses.c.twilio_sid,
            early_statuses.c.status,
            early_statuses.c.error_code,
            early_statuses.c.received_at,
        )
        .where(sa.exists().where(outbox.c.twilio_sid == early_statuses.c.twilio_sid))
        .order_by(early_statuses.c.id)
        .limit(limit)
    )
    return [EarlyStatus(int(r[0]), str(r[1]), str(r[2]), r[3], float(r[4])) for r in rows], kept


async def drop_early_statuses(conn: AsyncConnection, ids: Sequence[int], *, before: float) -> int:
    """Forget the kept callbacks `ids` (applied) and those received before `before` that no reply
    took (a message not sent from here, or one whose sid never came back): how many of the latter."""
    if ids:
        await conn.execute(sa.delete(early_statuses).where(early_statuses.c.id.in_(list(ids))))
    result = await conn.execute(sa.delete(early_statuses).where(early_statuses.c.received_at < before))
    return int(result.rowcount)


OPTED_OUT = "21610"  # Twilio's error: the number opted out at the carrier (STOP)


async def opted_out_by(conn: AsyncConnection, twilio_sid: str) -> str | None:
    """The address a status callback's 21610 about this reply opts out: the reply's, unless that
    address has texted since the reply was sent (a START since, a callback come late); None then,
    or for a reply not known here."""
    row = (
        await conn.execute(
            sa.select(outbox.c.to_phone, outbox.c.sent_at, outbox.c.created_at).where(
                outbox.c.twilio_sid == twilio_sid
            )
        )
    ).first()
    if row is None:
        return None
    since = row.sent_at if row.sent_at is not None else row.created_at
    later = await conn.execute(
        sa.select(inbox.c.id).where(inbox.c.from_phone == row.to_phone, inbox.c.received_at > since).limit(1)
    )
    return None if later.first() is not None else str(row.to_phone)


async def address_of_sid(conn: AsyncConnection, twilio_sid: str) -> str | None:
    """The address a reply Twilio took was sent to; None for one not known here."""
    to = await conn.scalar(sa.select(outbox.c.to_phone).where(outbox.c.twilio_sid == twilio_sid))
    return None if to is None else str(to)


async def last_said(
    conn: AsyncConnection, to: str, since: float, limit: int = 1
) -> list[tuple[str, str | None]]:
    """The text and kind (`Reply.kind`: "help", "usage", ...) of the last `limit` messages queued
    for `to` since `since`, newest first (one that carried a link reads `redacted(...)` once
    sent): what a phone's reaction quotes, and whether the last asked for something."""
    rows = await conn.execute(
        sa.select(outbox.c.body, outbox.c.kind)
        .where(outbox.c.to_phone == to, outbox.c.created_at >= since)
        .order_by(outbox.c.id.desc())
        .limit(limit)
    )
    return [(str(body), kind) for body, kind in rows]


OUTSIDE_WINDOW = "63016"  # Twilio's error: WhatsApp free text outside the person's 24-hour window


async def requeue_outside_window(conn: AsyncConnection, twilio_sid: str, now: float) -> str | None:
    """A WhatsApp message Twilio took and then failed with 63016 (WhatsApp counts the person's 24
    hours its own way, and says so in the status callback, not in the answer to the send): queue
    it again once, marked with that error, so the sender sends it as its kind's template or, with
    none, not at all (`whatsapp.not_sent`, and to a paired person's address that takes text at any
    time), as it does for one our count puts outside and for a 63016 in the answer to the send.
    An answer too: one sent a day late (the failure reply after a day of outage retries, a
    backlog) went nowhere. Its kind when queued ("answer" for one with none); None for a row
    already queued again, a row that is itself the one resend, or one whose text was redacted
    once sent (a link: a new one is asked for)."""
    row = (
        await conn.execute(
            sa.select(
                outbox.c.dedupe_key, outbox.c.inbox_id, outbox.c.to_phone, outbox.c.body, outbox.c.kind
            ).where(outbox.c.twilio_sid == twilio_sid, outbox.c.channel == WHATSAPP)
        )
    ).first()
    if row is None or was_redacted(str(row.body)):
        return None
    if str(row.dedupe_key).endswith(f":{OUTSIDE_WINDOW}"):
        return None  # this was the once: a resend that failed so too is not sent again and again
    result = await conn.execute(
        insert_ignore(conn, outbox).values(
            dedupe_key=f"{str(row.dedupe_key)[:118]}:{OUTSIDE_WINDOW}",
            inbox_id=row.inbox_id,
            to_phone=row.to_phone,
            body=row.body,
            status="queued",
            next_attempt_at=now,
            created_at=now,
            kind=row.kind,
            channel=WHATSAPP,
            error_code=OUTSIDE_WINDOW,
        )
    )
    return str(row.kind or "answer") if result.rowcount == 1 else None


_o = outbox.alias("o")
_p = outbox.alias("p")
# An earlier reply to the same address that failed and waits for its retry (queued, tried, due
# later): the replies after it wait too, so a person reads the answers in the order of their
# texts (a retried answer landed after the later ones). By ix_outbox_ready: the rows due later
# are a handful, except in an outage, when a claim finds few rows due. A reply delayed over its
# number's budget (never tried) holds none back: its later ones are delayed behind it already
# (bot/pipeline/replyguard.py), and the HELP answered at once goes.
_RETRY_WAITING = (
    sa.select(_p.c.id)
    .where(
        _p.c.status == "queued",
        _p.c.next_attempt_at > sa.bindparam("now"),
        # not by ix_outbox_to, which SQLite picked: it walks the address's 30 days of replies
        _p.c.to_phone.op("||")(sa.literal_column("''")) == _o.c.to_phone,
        _p.c.attempts > 0,
        _p.c.id < _o.c.id,
    )
    .exists()
)
# The addresses another process is sending a reply to (`owner` is the claimer): their queued
# replies wait until that one is done, as the sender keeps one address's replies in order among
# its own (bot/pipeline/sender.py `handle`). With two senders, the answer to a person's second
# text was claimed by one while the other still held the answer to the first, and went out
# first. One list a claim (by ix_outbox_ready: the rows being sent are at most the senders'
# concurrency), not a lookup a candidate: SQLite walked every earlier reply by id for each.
_SENT_ELSEWHERE = sa.select(_p.c.to_phone).where(
    _p.c.status == "sending", _p.c.claimed_by != sa.bindparam("owner")
)
# Due replies in the order they fell due (then queue order): the order of ix_outbox_ready, so the
# claim stops after `limit` rows instead of sorting every due row (0.7 ms a claim behind 3,000).
_READY = (
    sa.select(_o.c.id)
    .where(
        _o.c.status == "queued",
        _o.c.next_attempt_at <= sa.bindparam("now"),
        ~_RETRY_WAITING,
        _o.c.to_phone.not_in(_SENT_ELSEWHERE),
    )
    .order_by(_o.c.next_attempt_at, _o.c.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True)
)
# What the sender reads of a claimed row (bot.pipeline.sender.Send), not every column (storage/inbox.py).
CLAIMED = (
    *(
        outbox.c[name]
        for name in (
            "id",
            "to_phone",
            "body",
            "redact",
            "attempts",
            "created_at",
            "reconcile_since",
            "kind",
            "error_code",
        )
    ),
    # the MessageSid of the text the reply answers (none for a reminder, a relink notice ...), for
    # the sender's log lines: an operator follows one text from the web process's `sms.received`
    # through the worker's `sms.handled` to its reply's `sms.sent` (one lookup by primary key a row)
    sa.select(inbox.c.message_sid)
    .where(inbox.c.id == outbox.c.inbox_id)
    .scalar_subquery()
    .label("message_sid"),
)
# Replies still to send or being sent; every other status (sent, failed, skipped) is final.
UNFINISHED = ("queued", "sending")

# The sender's queue: due replies in queue order (`_READY`). A claim also sets `updated_at` (the
# claim time). A claim put back (a process stopping with sends in flight, or one that died
# mid-send: storage/leases.py) is queued again marked with that claim time: whether Twilio took
# the message is unknown, so the next try looks it up at Twilio first (bot/pipeline/sender.py).
# `depth` goes by ix_outbox_ready (the sent rows, 30 days of them, are not counted on every
# scrape); `purge` deletes finished rows by ix_outbox_created_at.
QUEUE = ClaimQueue(
    outbox,
    ready=_READY,
    claimed="sending",
    claim_values={"updated_at": sa.bindparam("now")},
    put_back={"status": "queued", "reconcile_since": outbox.c.updated_at},
    returning=CLAIMED,
    order=lambda r: (int(r.id),),
    unfinished=UNFINISHED,
    age=outbox.c.created_at,
)

# pg_advisory_xact_lock key of the senders' claims (any constant that nothing else uses).
CLAIM_LOCK_KEY = 0x74776F7574626F78  # "twoutbox"
# A claim's transaction that waits this long on its process (frozen, or cut off by the network
# with its connection left open) is ended by PostgreSQL, and the lock with it: the other senders
# would wait for it for good (a dead peer's claims come back after about as long: bot/pipeline/leases.py).
CLAIM_IDLE_MS = 10_000
_CLAIMS_IN_TURN = Query(
    sa.select(
        sa.func.set_config(
            "idle_in_transaction_session_timeout", sa.bindparam("idle", type_=sa.String), True
        ),
        sa.func.pg_advisory_xact_lock(sa.literal(CLAIM_LOCK_KEY, sa.BigInteger)),
    )
)


async def claim(conn: Writer, *, now: float, limit: int, owner: str, lease: float) -> list[ClaimedRow]:
    """The sender's claim (`QUEUE.claim`), one process's at a time. Side by side on PostgreSQL,
    a claim skipped the earlier reply to a number that the other had locked and not committed
    yet, took the later one, and the two went out in the wrong order: waiting for the other
    claim's commit, it sees that reply being sent elsewhere and leaves the later one
    (`_SENT_ELSEWHERE`). A claim is a few milliseconds; on SQLite the write lock does this."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_CLAIMS_IN_TURN, {"idle": str(CLAIM_IDLE_MS)})
    return await QUEUE.claim(conn, now=now, limit=limit, owner=owner, lease=lease)


# A claim put back after its send's outcome could not be written, due again only at `b_next`.
_PUT_BACK_LATER = Query(
    QUEUE.putting_back(
        outbox.c.claimed_by == sa.bindparam("owner"), outbox.c.id == sa.bindparam("b_id")
    ).values(next_attempt_at=sa.bindparam("b_next", type_=sa.Float))
)


async def put_back_later(conn: Writer, *, owner: str, id_: int, due: float) -> int:
    """Put `owner`'s claim of the row `id_` back as a put-back claim is (queued, looked up at
    the channel before a resend), due at `due`; how many rows (0: not `owner`'s now)."""
    result = await conn.execute(_PUT_BACK_LATER, {"owner": owner, "b_id": id_, "b_next": due})
    return int(result.rowcount)


async def known_sids(conn: AsyncConnection, sids: Sequence[str]) -> set[str]:
    """Which of these Twilio sids some outbox row already records."""
    if not sids:
        return set()
    query = sa.select(outbox.c.twilio_sid).where(outbox.c.twilio_sid.in_(list(sids)))
    return {str(sid) for sid in (await conn.execute(query)).scalars()}


@dataclass(frozen=True)
class Mark:
    """The outcome of one send. None leaves a column as it is (except `error`, always written)."""

    id: int
    status: str
    now: float
    twilio_sid: str | None = None
    sent_at: float | None = None
    next_attempt_at: float | None = None
    error_code: str | None = None
    error: str | None = None
    body: str | None = None  # the redacted body, for a sent reply that carried a link
    reconcile_since: float | None = None  # the outcome is unknown: look it up before a resend

    def binds(self) -> dict[str, object]:  # _MARK's
        return {
            "b_reconcile": self.reconcile_since,
            "b_now": self.now,
            "b_sid": self.twilio_sid,
            "b_sent_at": self.sent_at,
            "b_next": self.next_attempt_at,
            "b_code": self.error_code,
            "b_error": self.error,
            "b_body": self.body,
            "b_redacted": self.body is not None,
        }


_MARK = QUEUE.settled(
    updated_at=sa.bindparam("b_now"),
    reconcile_since=sa.bindparam("b_reconcile", type_=sa.Float),
    twilio_sid=sa.func.coalesce(sa.bindparam("b_sid", type_=sa.String), outbox.c.twilio_sid),
    sent_at=sa.func.coalesce(sa.bindparam("b_sent_at", type_=sa.Float), outbox.c.sent_at),
    next_attempt_at=sa.func.coalesce(sa.bindparam("b_next", type_=sa.Float), outbox.c.next_attempt_at),
    error_code=sa.func.coalesce(sa.bindparam("b_code", type_=sa.String), outbox.c.error_code),
    error=sa.bindparam("b_error", type_=sa.Text),
    body=sa.func.coalesce(sa.bindparam("b_body", type_=sa.Text), outbox.c.body),
    redacted=sa.or_(outbox.c.redacted, sa.bindparam("b_redacted", type_=sa.Boolean)),
)


async def mark_many(conn: Writer, owner: str, marks: Sequence[Mark]) -> None:
    """Record many send outcomes in one executemany (only on rows `owner` still holds)."""
    await QUEUE.settle(conn, _MARK, owner, marks)


_REDACT_ONE = (
    sa.update(outbox)
    .where(outbox.c.id == sa.bindparam("b_id"))
    .values(body=sa.bindparam("b_body"), redacted=True)
)


async def redact_sent(conn: AsyncConnection, *, before: float) -> int:
    """Redact link-carrying rows sent before `before` (chat had its chance to show them), each
    keeping its words before the link (`redacted`), as the sender's own redaction does: with
    `REDACTED` alone, a tapback on the welcome after this ran (in development, where chat shows
    the links first) no longer matched, and was posted."""
    rows = (
        await conn.execute(
            sa.select(outbox.c.id, outbox.c.body).where(
                outbox.c.redact.is_(True),
                outbox.c.redacted.is_(False),
                outbox.c.status != "queued",
                outbox.c.created_at < before,
            )
        )
    ).all()
    if rows:
        await conn.execute(_REDACT_ONE, [{"b_id": row.id, "b_body": redacted(str(row.body))} for row in rows])
    return len(rows)
