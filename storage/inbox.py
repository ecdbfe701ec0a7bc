"""The inbox: inbound messages, keyed by MessageSid, claimed by the worker in per-sender order."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import channel_of
from storage.db import Database, insert_ignore
from storage.lean import Query, Writer, write_later
from storage.queue import ClaimQueue
from storage.schema import INBOX_DONE, addresses, inbox, inbox_waiting, literal


@dataclass(frozen=True)
class NewMessage:
    message_sid: str
    account_sid: str
    from_phone: str
    to_phone: str
    body: str
    media: tuple[tuple[str, str], ...]
    opt_out_type: str
    idempotency_token: str | None
    priority: int
    received_at: float
    sender_name: str | None = None  # the name the channel gives the sender (Telegram's first name)
    forwarded: bool = False  # the channel says it was forwarded from another chat

    @functools.cached_property
    def channel(self) -> str:
        """The channel of its sender's address (sms, whatsapp, telegram)."""
        return channel_of(self.from_phone)

    def row(self) -> dict[str, object]:
        """Column values in `_ROW_COLUMNS` order."""
        return {
            "message_sid": self.message_sid,
            "account_sid": self.account_sid,
            "from_phone": self.from_phone,
            "to_phone": self.to_phone,
            "body": self.body,
            "media": json.dumps(self.media),
            "opt_out_type": self.opt_out_type,
            "idempotency_token": self.idempotency_token,
            "priority": self.priority,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": 0.0,
            "received_at": self.received_at,
            "channel": self.channel,
            "sender_name": self.sender_name,
            "forwarded": self.forwarded,
        }


_ROW_COLUMNS = (
    "message_sid", "account_sid", "from_phone", "to_phone", "body", "media", "opt_out_type",
    "idempotency_token", "priority", "status", "attempts", "next_attempt_at", "received_at", "channel",
    "sender_name", "forwarded",
)  # fmt: skip


def _fresh(messages: Sequence[NewMessage]) -> list[NewMessage]:
    """The first of each MessageSid in a batch (a burst of retries arrives together)."""
    seen: dict[str, NewMessage] = {}
    for message in messages:
        seen.setdefault(message.message_sid, message)
    return list(seen.values())


def _insert_returning_sql(rows: int) -> str:
    values = ", ".join(["(" + ", ".join("?" * len(_ROW_COLUMNS)) + ")"] * rows)
    columns = ", ".join(_ROW_COLUMNS)
    # built from constant column names and placeholders only
    sql = f"INSERT INTO inbox ({columns}) VALUES {values} ON CONFLICT (message_sid) DO NOTHING RETURNING message_sid"  # noqa: S608
    return sql


async def insert_batch(conn: AsyncConnection, messages: Sequence[NewMessage]) -> set[str]:
    """Insert-or-ignore many messages in one transaction; return the MessageSids that were new."""
    fresh = _fresh(messages)
    if not fresh:
        return set()
    # One statement: ON CONFLICT DO NOTHING ... RETURNING names exactly the rows this transaction
    # inserted, also when another process inserts the same MessageSid at the same moment.
    result = await conn.execute(
        insert_ignore(conn, inbox).returning(inbox.c.message_sid), [m.row() for m in fresh]
    )
    return {str(sid) for sid in result.scalars().all()}


# PostgreSQL: a batch is one statement of arrays, whatever its size (one prepared statement,
# one round trip, its own transaction): 14 us of CPU a message in a batch of 64, 134 us alone,
# against 29 and 513 us through SQLAlchemy's executemany (BENCHMARKS.md, stop 17).
_PG_ARRAYS = {
    "priority": "int",
    "attempts": "int",
    "next_attempt_at": "float8",
    "received_at": "float8",
    "forwarded": "bool",
}
_PG_UNNEST = ", ".join(
    f"${n}::{_PG_ARRAYS.get(column, 'text')}[]" for n, column in enumerate(_ROW_COLUMNS, 1)
)
# built from constant column names and placeholders only
_PG_INSERT = (
    f"INSERT INTO inbox ({', '.join(_ROW_COLUMNS)}) SELECT * FROM unnest({_PG_UNNEST})"  # noqa: S608
    " ON CONFLICT (message_sid) DO NOTHING RETURNING message_sid"
)


async def insert_new(
    db: Database, messages: Sequence[NewMessage], *, within: float | None = None
) -> set[str]:
    """Insert-or-ignore a batch in one transaction; the MessageSids that were new. (The webhook
    on a SQLite file has `SqliteAppender`.) `within`: on PostgreSQL, seconds before it gives up
    (TimeoutError; `Database.pg_rows`)."""
    if db.is_postgres:
        return await _insert_batch_pg(db, messages, within)
    async with db.tx() as conn:
        return await insert_batch(conn, messages)


async def _insert_batch_pg(
    db: Database, messages: Sequence[NewMessage], within: float | None = None
) -> set[str]:
    """`insert_batch` on PostgreSQL, as one statement of arrays on the lean pool."""
    fresh = _fresh(messages)
    if not fresh:
        return set()
    columns = list(zip(*(m.row().values() for m in fresh), strict=True))  # one array a column
    return {str(row[0]) for row in await db.pg_rows(_PG_INSERT, *columns, within=within)}


class SqliteAppender:
    """The webhook's hot path on the embedded default: one statement per batch (`INSERT ...
    VALUES (...), (...) ON CONFLICT DO NOTHING RETURNING message_sid`), which SQLite runs as its
    own transaction: one thread hop per batch instead of six through the pool. The rows it returns
    are exactly the new ones. It runs on the database's writer connection (`Database.write()`'s),
    under the same lock: writes of this process queue in the event loop, not in SQLite's busy
    handler (which sleeps in steps of up to 100 ms), and every write of the process goes through
    one connection, whose page cache a commit of another connection would empty."""

    MAX_ROWS = 512  # 16 columns a row: well under SQLite's 32,766 variables

    def __init__(self, db: Database) -> None:
        assert db.write_lock is not None, "a SQLite database"
        self._db = db
        self._lock = db.write_lock
        self._conn: aiosqlite.Connection | None = None
        self._sql: dict[int, str] = {}

    async def open(self) -> None:
        self._conn = await self._db.sqlite_writer()

    async def close(self) -> None:
        self._conn = None  # the database's connection: Database.close() closes it

    async def append(self, messages: Sequence[NewMessage]) -> set[str]:
        assert self._conn is not None, "open() first"
        fresh = _fresh(messages)
        new: set[str] = set()
        for start in range(0, len(fresh), self.MAX_ROWS):
            chunk = fresh[start : start + self.MAX_ROWS]
            sql = self._sql.get(len(chunk))
            if sql is None:
                sql = self._sql[len(chunk)] = _insert_returning_sql(len(chunk))
            params = [value for m in chunk for value in m.row().values()]
            async with self._lock:
                rows = await self._conn.execute_fetchall(sql, params)
            new.update(str(row[0]) for row in rows)
        return new


# A row is ready when it is due and is the first unfinished message of its sender; priority rows
# skip the ordinary ones before them (but not an earlier priority row: STOP then START run in
# order), parked rows skip the line (but one sender's come back one at a time, in order: three texts
# parked until X's rate-limit reset were posted all at once, in any order, at the reset), and an
# ordinary row waits for every unfinished row before it,
# priority ones included (`inbox_waiting`). Three arms, each walking an index in id order and stopping at
# `limit` (ix_inbox_queue: status, priority, id): priority rows, parked rows, and the heads of the
# ordinary queue. One `ORDER BY priority DESC, id` over all pending rows instead had to look at,
# and sort, every pending row on each claim: 1.1 ms a claim behind a burst of 3,000 (BENCHMARKS.md).
# Aliases keep the subqueries apart from the UPDATE's own table.
_j = inbox.alias("j")


def _arm(status: str, priority: int | None, *, heads: bool) -> sa.Subquery:
    c = inbox.alias(f"c_{status}" if priority is None else f"c_{status}_{priority}")
    where = [c.c.status == literal(status), c.c.next_attempt_at <= sa.bindparam("now")]
    if priority is not None:
        where.append(c.c.priority == literal(priority))
    if heads:  # no earlier unfinished message of the same sender (a priority one: no earlier priority)
        before = [_j.c.from_phone == c.c.from_phone, _j.c.id < c.c.id, inbox_waiting(_j)]
        if priority == 1:
            before.append(_j.c.priority == literal(1))
        where.append(
            ~sa.select(_j.c.id)
            .where(*before)
            # PostgreSQL: a lookup per candidate, not an anti-join. Its statistics rarely see
            # pending rows (the queue is empty between bursts), so it estimated one and joined
            # every candidate against every pending row: 37-52 ms a claim behind 3,000 (OFFSET
            # keeps the EXISTS from being turned into a join; SQLite runs it per row anyway)
            .offset(0)
            .exists()
        )
    else:  # a parked row: not while an earlier one of its sender runs, is in line, or is due too
        earlier = [_j.c.from_phone == c.c.from_phone, _j.c.id < c.c.id]
        where.append(~sa.select(_j.c.id).where(*earlier, inbox_waiting(_j)).offset(0).exists())
        where.append(
            ~sa.select(_j.c.id)
            .where(*earlier, _j.c.status == literal("parked"), _j.c.next_attempt_at <= sa.bindparam("now"))
            .offset(0)
            .exists()
        )
    return (
        sa.select(c.c.id, c.c.priority)
        .where(*where)
        .order_by(c.c.id)
        .limit(sa.bindparam("limit"))
        .with_for_update(skip_locked=True)  # PostgreSQL: concurrent claimers skip each other's rows
        .subquery()
    )


_arms = [_arm("pending", 1, heads=True), _arm("parked", None, heads=False), _arm("pending", 0, heads=True)]
_candidates = sa.union_all(*(sa.select(arm.c.id, arm.c.priority) for arm in _arms)).subquery("ready")
_READY = (
    sa.select(_candidates.c.id)
    .order_by(_candidates.c.priority.desc(), _candidates.c.id)
    .limit(sa.bindparam("limit"))
)
# What the worker reads of a claimed row (bot.pipeline.worker.inbound_from_row), not every column: each
# column of each row is an object built on the connection's thread and a value SQLAlchemy's row
# carries (the body a second time, the idempotency token, the error ...).
_CLAIMED_COLUMNS = (
    "id", "message_sid", "from_phone", "to_phone", "body", "media", "opt_out_type", "received_at", "attempts",
    "priority", "sender_name", "forwarded",
)  # fmt: skip
CLAIMED = tuple(inbox.c[name] for name in _CLAIMED_COLUMNS)

# Rows still to handle or being handled; every other status (done, failed) is final.
UNFINISHED = ("pending", "processing", "parked")

# The worker's queue. A claim takes up to `limit` ready rows (`_READY`): the first unfinished
# message of each sender (so one sender's messages run one at a time, in order), priority rows
# (carrier keywords, `\STOP`) at once and first; they come back in priority, then arrival order.
# A claim put back is pending again. `depth` goes by ix_inbox_queue (the done rows, days of them,
# are not counted on every scrape); `purge` deletes handled rows by ix_inbox_received_at.
QUEUE = ClaimQueue(
    inbox,
    ready=_READY,
    returning=CLAIMED,
    order=lambda r: (-int(r.priority), int(r.id)),
    claimed="processing",
    literal_status=True,  # ix_inbox_waiting and ix_inbox_sender_done name inbox.status
    put_back={"status": "pending"},
    unfinished=UNFINISHED,
    age=inbox.c.received_at,
)
_FINISH = QUEUE.settled(
    done_at=sa.bindparam("b_now"),
    error=sa.bindparam("b_error", type_=sa.Text),
    body=sa.func.coalesce(sa.bindparam("b_body", type_=sa.Text), inbox.c.body),
)
_RESCHEDULE = QUEUE.settled(
    next_attempt_at=sa.bindparam("b_at"),
    error=sa.bindparam("b_error", type_=sa.Text),
    attempts=inbox.c.attempts - sa.bindparam("b_refund", type_=sa.Integer),
)


# inbox.error of a message with photos that came before its sender was in any room: parked (so
# later messages go on) until the sender makes or joins one, or WAIT_FOR_ROOM seconds pass
WAITING_FOR_ROOM = "waiting for a room"
WAIT_FOR_ROOM = 600.0


async def wake_waiting_for_room(conn: AsyncConnection, user_id: int) -> int:
    """The person's messages parked for want of a room, due at once: the room they now have takes
    their photos (one statement; the few parked rows, by ix_inbox_queue)."""
    theirs = sa.exists().where(
        addresses.c.user_id == user_id,
        addresses.c.channel == inbox.c.channel,
        addresses.c.address == inbox.c.from_phone,
    )
    result = await conn.execute(
        sa.update(inbox)
        .where(inbox.c.status == literal("parked"), inbox.c.error == WAITING_FOR_ROOM, theirs)
        .values(next_attempt_at=0.0)
    )
    return int(result.rowcount or 0)


async def keep_room(conn: AsyncConnection, message_id: int, room_id: str) -> None:
    """The room a message's photos were sent to, kept while they wait for an outage to end: the
    sender's later messages go on meanwhile, and a `\\USE` among them moved the photos to the
    room it named."""
    await conn.execute(sa.update(inbox).where(inbox.c.id == message_id).values(room_id=room_id))


async def kept_room(conn: AsyncConnection, message_id: int) -> str | None:
    """The room `keep_room` kept for the message, if any."""
    value = (await conn.execute(sa.select(inbox.c.room_id).where(inbox.c.id == message_id))).scalar()
    return None if value is None else str(value)


async def parked_besides(conn: AsyncConnection, key: str, message_id: int, reasons: Sequence[str]) -> bool:
    """Whether a message from `key` other than `message_id` is parked for a reason that starts
    with one of `reasons` (WAITING_FOR_ROOM, an outage of the media store): on WhatsApp and
    Telegram photos come one a message, and the first was told that they wait."""
    found = await conn.execute(
        sa.select(inbox.c.id)
        .where(
            inbox.c.status == literal("parked"),
            sa.or_(*(inbox.c.error.startswith(reason, autoescape=True) for reason in reasons)),
            inbox.c.from_phone == key,
            inbox.c.id != message_id,
        )
        .limit(1)
    )
    return found.first() is not None


def _x_waiting(reasons: Sequence[str], key: str | None) -> list[sa.ColumnElement[bool]]:
    where = [
        inbox.c.status == literal("parked"),
        inbox.c.media == "[]",
        sa.or_(*(inbox.c.error.startswith(reason, autoescape=True) for reason in reasons)),
    ]
    if key is not None:
        where.append(inbox.c.from_phone == key)
    return where


async def x_waiting(
    conn: AsyncConnection, reasons: Sequence[str], now: float, *, key: str | None = None
) -> bool:
    """Whether `wake_x_waiting` would wake any: a read, so that a post in ordinary times (none
    parked) takes no write transaction of its own for it."""
    where = [*_x_waiting(reasons, key), inbox.c.next_attempt_at > now]
    return (await conn.execute(sa.select(inbox.c.id).where(*where).limit(1))).first() is not None


async def wake_x_waiting(
    conn: AsyncConnection, reasons: Sequence[str], now: float, *, key: str | None = None, first: bool = False
) -> int:
    """Texts parked while X could not be reached (their error starts with one of `reasons`) and
    due later, due now: X answered again. Their backoff had grown to 5, 10, 30 minutes apart, and
    they waited that long after X was back. With `key`, only that sender's; with `first` too, only
    the first of them (the others come after it: woken, each would try X again beside it). By
    ix_inbox_queue (the few parked rows)."""
    where = _x_waiting(reasons, key)
    if key is not None and first:
        first_id = (await conn.execute(sa.select(sa.func.min(inbox.c.id)).where(*where))).scalar()
        if first_id is None:
            return 0
        where.append(inbox.c.id == first_id)
    where.append(inbox.c.next_attempt_at > now)
    result = await conn.execute(sa.update(inbox).where(*where).values(next_attempt_at=now))
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class Finished:
    """A handled message's row: done or failed, with the redacted body when a handler set one."""

    id: int
    status: str
    now: float
    body: str | None = None
    error: str | None = None

    def binds(self) -> dict[str, object]:  # _FINISH's
        return {"b_now": self.now, "b_error": self.error, "b_body": self.body}


@dataclass(frozen=True)
class Rescheduled:
    """Back to the queue until `at` (`refund`: a deferral, not counted as an attempt)."""

    id: int
    at: float
    status: str = "pending"
    error: str | None = None
    refund: bool = False

    def binds(self) -> dict[str, object]:  # _RESCHEDULE's
        return {"b_at": self.at, "b_error": self.error, "b_refund": 1 if self.refund else 0}


async def settle_many(
    conn: Writer, owner: str, finished: Sequence[Finished], rescheduled: Sequence[Rescheduled]
) -> None:
    """Write the outcome of many messages: two executemany statements at most (on a `LeanTx`
    they go with the transaction's next trip)."""
    await QUEUE.settle(conn, _FINISH, owner, finished)
    await QUEUE.settle(conn, _RESCHEDULE, owner, rescheduled)


_REDACT = Query(
    sa.update(inbox).where(inbox.c.id == sa.bindparam("b_id")).values(body=sa.bindparam("b_body"))
)


async def redact(conn: Writer, bodies: Sequence[tuple[int, str]]) -> None:
    """Put masked bodies (`\\JOIN house ***`) on rows whatever their claim: a row dropped while
    it was handled keeps no password either (on a `LeanTx` with the transaction's next trip)."""
    if bodies:
        await write_later(conn, _REDACT, [{"b_id": id_, "b_body": body} for id_, body in bodies])


def _last_received() -> sa.Select[tuple[str, float]]:
    """Each address's latest message, by status so that each arm has an index (on PostgreSQL the
    one statement over every status scanned the whole inbox: 30 ms at 200,000 rows, 0.3 ms so):
    done rows by ix_inbox_sender_done, the queue's by ix_inbox_waiting, parked and failed ones
    (few) by ix_inbox_queue. Statuses as literals: a partial index is used only then."""
    wanted = inbox.c.from_phone.in_(sa.bindparam("addresses", expanding=True))
    arms = sa.union_all(
        sa.select(inbox.c.from_phone, inbox.c.received_at).where(wanted, INBOX_DONE),
        sa.select(inbox.c.from_phone, inbox.c.received_at).where(wanted, inbox_waiting(inbox)),
        sa.select(inbox.c.from_phone, inbox.c.received_at).where(
            wanted, inbox.c.status.in_([literal("parked"), literal("failed")])
        ),
    ).subquery()
    return sa.select(arms.c.from_phone, sa.func.max(arms.c.received_at)).group_by(arms.c.from_phone)


_LAST_RECEIVED = Query(_last_received())


async def oldest_due(conn: AsyncConnection, now: float) -> float | None:
    """When the oldest message due now and not handled yet came in (None: none waits): the
    backlog's age is `now` minus it. By the claim's own index (status, next_attempt_at)."""
    value = (
        await conn.execute(
            sa.select(sa.func.min(inbox.c.received_at)).where(
                inbox.c.status == "pending", inbox.c.next_attempt_at <= now
            )
        )
    ).scalar()
    return None if value is None else float(value)


async def last_received(conn: Writer, addresses: Sequence[str]) -> dict[str, float]:
    """When each of `addresses` last wrote (inbox rows are kept 7 days: none, none since)."""
    if not addresses:
        return {}
    rows = (await conn.execute(_LAST_RECEIVED, {"addresses": list(set(addresses))})).all()
    return {str(address): float(at) for address, at in rows}


async def overtaken(conn: Writer, key: str, message_id: int) -> bool:
    """Whether a message from `key` that came after `message_id` is done already: one that went
    ahead of it (a carrier keyword, `\\STOP`, `\\UNLINK`). Read only for a Telegram chat that is
    opted out (bot/pipeline/middlewares.py): by ix_inbox_sender_done."""
    row = await conn.execute(
        sa.select(inbox.c.id)
        .where(inbox.c.from_phone == key, inbox.c.status == literal("done"), inbox.c.id > message_id)
        .limit(1)
    )
    return row.first() is not None


async def went_ahead(conn: AsyncConnection, key: str, message_id: int, limit: int = 20) -> list[str]:
    """The texts of the messages from `key` that came after `message_id` and are done already:
    those that went ahead of it (a carrier keyword, `\\STOP`, `\\UNLINK`). By ix_inbox_sender_done."""
    rows = await conn.execute(
        sa.select(inbox.c.body)
        .where(inbox.c.from_phone == key, inbox.c.status == literal("done"), inbox.c.id > message_id)
        .order_by(inbox.c.id)
        .limit(limit)
    )
    return [str(body) for (body,) in rows if body]


async def bodies_from(conn: AsyncConnection, key: str, since: float, limit: int) -> list[str]:
    """The texts of the last `limit` messages from `key` done since `since`, newest first (masked
    as kept: `\\JOIN house ***`): what a phone's reaction to its owner's own text quotes. By
    ix_inbox_sender_done."""
    rows = await conn.execute(
        sa.select(inbox.c.body)
        .where(inbox.c.from_phone == key, inbox.c.status == literal("done"), inbox.c.done_at >= since)
        .order_by(inbox.c.done_at.desc())
        .limit(limit)
    )
    return [str(body) for (body,) in rows if body]


DROPPED = "dropped: the sender stopped"  # the error of a message `drop_waiting` ended


def _waiting_before(key: str, before_id: int) -> tuple[sa.ColumnElement[bool], ...]:
    """The messages from `key` before `before_id` not done yet: what `drop_waiting` ends."""
    return (
        inbox.c.from_phone == key,
        inbox.c.id < before_id,
        inbox.c.status.in_([literal("pending"), literal("parked"), literal("processing")]),
    )


async def media_waiting(conn: AsyncConnection, key: str, before_id: int) -> list[str]:
    """The media items (their references) of the messages `drop_waiting` would end: photos
    waiting for a room or for the media store, whose copies the channel still holds."""
    rows = await conn.execute(
        sa.select(inbox.c.media)
        .where(*_waiting_before(key, before_id), inbox.c.media != "[]")
        .order_by(inbox.c.id)
    )
    return [str(item[0]) for (media,) in rows for item in json.loads(media or "[]")]


async def drop_waiting(conn: AsyncConnection, key: str, before_id: int, now: float) -> int:
    """`\\STOP`: the messages from `key` that came before it and are not done (pending, parked for
    X, or being handled beside it: `\\STOP` jumps the queue) are done, unanswered: the person they
    were from is gone, and one handled again later (a post parked until X's reset, a `\\PAID` that
    failed on the deleted record and was retried) came back as a stranger's first text after the
    goodbye. A claim taken from under its worker makes that worker's outcome a no-op (an outcome
    is written only while its writer holds the claim)."""
    result = await conn.execute(
        sa.update(inbox)
        .where(*_waiting_before(key, before_id))
        .values(
            status="done",
            done_at=now,
            error=DROPPED,
            next_attempt_at=now,
            claimed_by=None,
            claimed_until=None,
        )
    )
    return int(result.rowcount)


async def dropped(conn: AsyncConnection, message_id: int) -> bool:
    """Whether a `\\STOP` dropped the message (`drop_waiting`) while it was being handled, its row
    held until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's writers queue already): a
    handler that acts on whoever holds the address now asks this after `users.owner_held`, in the
    order `\\STOP` takes the two rows."""
    row = (
        await conn.execute(
            sa.select(inbox.c.status, inbox.c.error).where(inbox.c.id == message_id).with_for_update()
        )
    ).first()
    return row is not None and row.status == "done" and row.error == DROPPED


UNLINKED = "dropped: X was disconnected"  # the error of a text `drop_parked_posts` ended


async def drop_parked_posts(conn: AsyncConnection, keys: Sequence[str], before_id: int, now: float) -> int:
    """`\\UNLINK`: the texts from `keys` (the person's addresses) that came before it and wait
    aside for X (parked: its rate-limit reset, or X down; a parked message without media is a
    post) are done, unposted. Handled after the reset, each one answered with a link to connect X,
    unasked, to someone who had just disconnected it. By ix_inbox_queue (the few parked rows)."""
    if not keys:
        return 0
    result = await conn.execute(
        sa.update(inbox)
        .where(
            inbox.c.status == literal("parked"),
            inbox.c.from_phone.in_(list(keys)),
            inbox.c.id < before_id,
            inbox.c.media == "[]",
        )
        .values(status="done", done_at=now, error=UNLINKED, next_attempt_at=now)
    )
    return int(result.rowcount)


BEING_POSTED_SECONDS = 1.0  # how long a text waits behind an earlier one of its sender being posted


async def parked_post_due(
    conn: AsyncConnection, key: str, before_id: int, now: float
) -> tuple[float, str | None] | None:
    """When the last of the texts from `key` before `before_id` that wait aside for X (parked, no
    media: a post, as `drop_parked_posts` has it) comes due, and what it waits for (its error);
    None when none waits. A later text waits behind them: it went straight to X once X was back,
    before them (a thread's "2/3" before its "1/3"). One of them being posted right now (claimed
    beside this one: a woken text does not hold the queue as a pending one does) is waited for too,
    BEING_POSTED_SECONDS at a time (its post, when X takes it, wakes this one at once). By
    ix_inbox_queue (the few parked and processing rows)."""
    found = await conn.execute(
        sa.select(inbox.c.next_attempt_at, inbox.c.error, inbox.c.status)
        .where(
            inbox.c.status.in_([literal("parked"), literal("processing")]),
            inbox.c.from_phone == key,
            inbox.c.id < before_id,
            inbox.c.media == "[]",
        )
        .order_by(inbox.c.next_attempt_at.desc())
        .limit(1)
    )
    row = found.first()
    if row is None:
        return None
    due = float(row.next_attempt_at)
    return (max(due, now + BEING_POSTED_SECONDS) if row.status == "processing" else due), row.error


async def photos_waiting(conn: AsyncConnection, key: str, before_id: int) -> int:
    """Messages with media from `key` that came before `before_id` and wait aside for an outage
    (parked: the media store, or the channel's media, down; or being tried again right now, beside
    the message asking): their receipts are not saved yet, so the sender's "last receipt" is still
    the one before them. By ix_inbox_queue (the few parked and processing rows). A message handled
    in order has none: an earlier one still pending or processing holds it back."""
    query = sa.select(sa.func.count()).where(
        inbox.c.status.in_([literal("parked"), literal("processing")]),
        inbox.c.from_phone == key,
        inbox.c.id < before_id,
        inbox.c.media != "[]",
    )
    return int((await conn.execute(query)).scalar_one())


async def handled_since(
    conn: AsyncConnection, phone: str, since: float, *, sent_since: float | None = None
) -> int:
    """Messages from `phone` handled (done) since `since`: the per-sender rate window; with
    `sent_since`, only those that came in since then (by ix_inbox_sender_done, then the rows)."""
    query = sa.select(sa.func.count()).where(
        inbox.c.from_phone == phone, INBOX_DONE, inbox.c.done_at >= since
    )
    if sent_since is not None:
        query = query.where(inbox.c.received_at >= sent_since)
    return int((await conn.execute(query)).scalar_one())
