"""bot/pipeline/middlewares.py, each middleware called alone around a recording handler, on a real
database (both backends): `load_user` (creates the sender's user once; keeps the worker's
`ctx.user` for the same sender; a different sender gets their own) and `rate_limit` (the
per-sender limit a minute: priority messages never held back; above the limit a `Defer`, with the
slow-down notice once a window; the count from the worker's batch, or from the inbox)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from bot.core.channel import Address
from bot.core.config import Config, LimitsConfig
from bot.core.deps import Deps
from bot.core.errors import Defer
from bot.core.logs import get_logger
from bot.pipeline.dispatch import Context, HandlerResult, Inbound
from bot.pipeline.middlewares import SLOW_DOWN, WINDOW, load_user, rate_limit
from storage import inbox as inbox_store
from storage import users
from storage.db import Database
from storage.schema import inbox
from storage.schema import users as users_table
from tests.conftest import ALICE, BOB

LIMIT = 3
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A handler: the users it saw, in order."""

    def __init__(self) -> None:
        self.seen: list[users.User] = []
        self.calls = 0

    async def __call__(self, msg: Inbound, ctx: Context) -> HandlerResult:
        self.calls += 1
        if ctx.has_user:
            self.seen.append(ctx.user)
        return "ok"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(db: Database, clock: Clock) -> Deps:
    config = Config(limits=LimitsConfig(per_sender_per_minute=LIMIT))
    return Deps(config=config, db=db, http=None, clock=clock)  # type: ignore[arg-type]


def msg(sender: str = ALICE, *, priority: bool = False, n: int = 1) -> Inbound:
    return Inbound(
        id=n,
        external_id=f"SM{n:032d}",
        sender=Address("sms", sender),
        recipient="+15557654321",
        body="hello",
        priority=priority,
    )


def context(deps: Deps, **data: Any) -> Context:
    return Context(deps=deps, log=get_logger("test"), data=dict(data))


async def user_rows(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(users_table.c.phone, users_table.c.id))).all()
    return {str(r.phone): int(r.id) for r in rows}


# -- load_user -------------------------------------------------------------------------------------


async def test_load_user_creates_the_senders_user_once(deps: Deps, db: Database) -> None:
    handler = Recorder()
    first, second = context(deps), context(deps)
    with capture_logs() as first_logs:
        assert await load_user(handler, msg(), first) == "ok"
    with capture_logs() as second_logs:
        assert await load_user(handler, msg(n=2), second) == "ok"
    alice = handler.seen[0]
    assert alice.phone == ALICE
    assert alice.created_at == T0  # the deps' clock
    assert first.data["new_user"] is True
    assert second.data["new_user"] is False
    assert handler.seen[1].id == alice.id
    assert await user_rows(db) == {ALICE: alice.id}
    assert [e["event"] for e in first_logs] == ["user.created"]
    assert [e["event"] for e in second_logs] == []


async def test_load_user_keeps_the_workers_user_for_the_same_sender(deps: Deps, db: Database) -> None:
    """The worker loads a batch's users in one query and sets them: nothing is read or written."""
    handler = Recorder()
    given = users.User(
        id=4242,
        phone=ALICE,
        created_at=1.0,
        opted_out=False,
        active_room_id=None,
        x_user_id=None,
        x_handle=None,
        x_needs_relink=False,
        x_relink_notified_at=None,
        slowdown_notified_at=None,
    )
    ctx = context(deps, new_user=True)
    ctx.user = given
    with capture_logs() as logs:
        await load_user(handler, msg(), ctx)
    assert handler.seen == [given]
    assert handler.seen[0] is given
    assert ctx.data["new_user"] is True
    assert await user_rows(db) == {}  # not created: the worker's user is taken as it is
    assert [e["event"] for e in logs] == ["user.created"]  # the worker's flag is told


async def test_load_user_gives_a_different_sender_their_own_user(deps: Deps, db: Database) -> None:
    handler = Recorder()
    ctx = context(deps)
    await load_user(handler, msg(ALICE), ctx)
    alice = ctx.user
    ctx.data["new_user"] = False  # as if Alice's user had come with the batch
    await load_user(handler, msg(BOB, n=2), ctx)
    bob = ctx.user
    assert (alice.phone, bob.phone) == (ALICE, BOB)
    assert bob.id != alice.id
    assert ctx.data["new_user"] is True
    assert [u.phone for u in handler.seen] == [ALICE, BOB]
    assert await user_rows(db) == {ALICE: alice.id, BOB: bob.id}


async def test_a_message_dropped_while_taken_up_makes_no_new_person(deps: Deps, db: Database) -> None:
    """A photo from an address paired with Alice waited (the media store down); `\\UNPAIR` took the
    address out and dropped it just as a worker took it up again. The worker's user was Alice's
    (not the address's own), so the address was looked up anew: unowned now, it was made a new
    person, and the photo waited as a newcomer's. A dropped message is not handled."""
    async with db.tx() as conn:
        await conn.execute(
            sa.insert(inbox).values(
                id=7, message_sid="SM" + "7" * 32, from_phone=BOB, received_at=T0, status="processing"
            )
        )
        assert await inbox_store.drop_waiting(conn, BOB, 8, T0) == 1
    handler = Recorder()
    with capture_logs() as logs:
        assert await load_user(handler, msg(BOB, n=7), context(deps)) is None
    assert handler.calls == 0
    assert await user_rows(db) == {}
    assert [e["event"] for e in logs] == ["sms.dropped_in_flight"]


async def test_a_message_a_stop_overtook_does_not_resume_the_telegram_chat(deps: Deps, db: Database) -> None:
    """Telegram: `/rooms`, then STOP at once. STOP goes ahead of earlier texts and opts the chat
    out; the `/rooms` before it then resumed the chat as a new message does (a chat that blocked
    the bot writes nothing), was answered after STOP's confirmation, and the chat was opted in
    again. A message sent before the opt-out says nothing of unblocking: the chat stays out."""
    chat = Address("telegram", "7001")
    async with db.tx() as conn:
        earlier = (
            await conn.execute(
                sa.insert(inbox)
                .values(message_sid="SMrooms", from_phone=chat.key, body="/rooms", received_at=T0)
                .returning(inbox.c.id)
            )
        ).scalar_one()
        await conn.execute(
            sa.insert(inbox).values(
                message_sid="SMstop",
                from_phone=chat.key,
                body="STOP",
                priority=1,
                status="done",
                received_at=T0 + 0.5,
                done_at=T0 + 1,
            )
        )
        await users.get_or_create(conn, chat.key, T0)
        await users.set_opted_out(conn, chat.key, True, T0 + 1)  # by the STOP
    rooms = replace(msg(n=earlier), sender=chat, body="/rooms", received_at=T0)
    ctx = context(deps)
    with capture_logs() as logs:
        assert await load_user(Recorder(), rooms, ctx) == "ok"
    assert "resumed" not in ctx.data
    assert "user.resumed" not in [e["event"] for e in logs]
    async with db.read() as conn:
        assert await users.opted_out_among(conn, [chat.key]) == {chat.key}
    # a message after the STOP does resume it
    async with db.tx() as conn:
        later = (
            await conn.execute(
                sa.insert(inbox)
                .values(message_sid="SMlater", from_phone=chat.key, body="/help", received_at=T0 + 5)
                .returning(inbox.c.id)
            )
        ).scalar_one()
    ctx = context(deps)
    await load_user(Recorder(), replace(rooms, id=later, external_id="SMlater", received_at=T0 + 5), ctx)
    assert ctx.data["resumed"] is True
    async with db.read() as conn:
        assert await users.opted_out_among(conn, [chat.key]) == set()


# -- rate_limit ------------------------------------------------------------------------------------


async def loaded(deps: Deps, sender: str = ALICE, **data: Any) -> Context:
    """A context with the sender's user, as `load_user` (which runs before) leaves it."""
    ctx = context(deps, **data)
    async with deps.db.tx() as conn:
        ctx.user, _ = await users.get_or_create(conn, sender, deps.now())
    return ctx


async def done(db: Database, sender: str, at: float, n: int, *, received: float | None = None) -> None:
    """One of `sender`'s messages, handled at `at` (received then too, unless `received`)."""
    async with db.tx() as conn:
        await conn.execute(
            sa.insert(inbox).values(
                message_sid=f"SMdone{sender}{n}",
                from_phone=sender,
                status="done",
                received_at=at if received is None else received,
                done_at=at,
            )
        )


async def slowdown_notified_at(db: Database, phone: str) -> float | None:
    async with db.read() as conn:
        user = await users.get_by_phone(conn, phone)
    assert user is not None
    return user.slowdown_notified_at


async def test_under_the_limit_the_handler_runs(deps: Deps) -> None:
    handler = Recorder()
    for count in range(LIMIT):
        assert await rate_limit(handler, msg(), await loaded(deps, handled_recently=count)) == "ok"
    assert handler.calls == LIMIT


async def test_at_the_limit_the_message_is_deferred_with_one_notice_a_window(
    deps: Deps, db: Database, clock: Clock
) -> None:
    handler = Recorder()
    for n in range(LIMIT):
        await done(db, ALICE, T0 - 1, n)
    ctx = await loaded(deps, handled_recently=LIMIT)
    with pytest.raises(Defer) as first:
        await rate_limit(handler, msg(), ctx)
    assert handler.calls == 0
    assert first.value.until == T0 + WINDOW / LIMIT * 2
    assert first.value.notice == SLOW_DOWN
    assert first.value.notice_key == "slowdown"
    assert not first.value.parked  # the sender's later messages wait behind it
    assert await slowdown_notified_at(db, ALICE) == T0

    clock.now = T0 + WINDOW - 1  # within the window: deferred again, without a second notice
    for n in range(LIMIT, LIMIT + 2):
        await done(db, ALICE, clock.now - 1, n)
    with pytest.raises(Defer) as again:
        await rate_limit(handler, msg(), await loaded(deps, handled_recently=LIMIT + 2))
    assert again.value.notice is None
    assert again.value.until == clock.now + WINDOW / LIMIT * 2
    assert await slowdown_notified_at(db, ALICE) == T0

    clock.now = T0 + WINDOW + 1  # a new window: told again
    for n in range(LIMIT + 2, LIMIT * 2):
        await done(db, ALICE, clock.now - 1, n)
    with pytest.raises(Defer) as later:
        await rate_limit(handler, msg(), await loaded(deps, handled_recently=LIMIT))
    assert later.value.notice == SLOW_DOWN
    assert await slowdown_notified_at(db, ALICE) == clock.now
    assert handler.calls == 0


async def test_messages_sent_minutes_apart_are_not_held_back_however_fast_handled(
    deps: Deps, db: Database
) -> None:
    """After a backlog, messages sent minutes apart are handled within a minute: the worker's
    count (by when handled) is over the limit, but they were not sent that fast."""
    for n in range(LIMIT):
        await done(db, ALICE, T0 - 5, n, received=T0 - 600 + n * 120)  # two minutes apart
    handler = Recorder()
    late = replace(msg(n=9), received_at=T0 - 240)
    assert await rate_limit(handler, late, await loaded(deps, handled_recently=LIMIT)) == "ok"
    for n in range(LIMIT):
        await done(db, ALICE, T0 - 4, 10 + n, received=T0 - 230 + n * 10)  # ten seconds apart
    fast = replace(msg(n=19), received_at=T0 - 200)  # LIMIT sent within the minute before it
    with pytest.raises(Defer):
        await rate_limit(handler, fast, await loaded(deps, handled_recently=LIMIT * 2))
    assert handler.calls == 1


async def test_priority_messages_are_never_held_back(deps: Deps) -> None:
    handler = Recorder()
    ctx = await loaded(deps, handled_recently=LIMIT * 10)
    assert await rate_limit(handler, msg(priority=True), ctx) == "ok"
    assert handler.calls == 1


async def test_without_the_workers_count_the_inbox_is_counted(deps: Deps, db: Database) -> None:
    """A message fed without `handled_recently` (not through the worker): the sender's messages
    done within the last WINDOW seconds, read from the inbox; older ones and others' do not count."""

    for n in range(LIMIT - 1):
        await done(db, ALICE, T0 - 10, n)
    await done(db, ALICE, T0 - WINDOW - 1, 99)  # before the window
    for n in range(LIMIT):
        await done(db, BOB, T0 - 5, n)  # Bob's, not Alice's

    handler = Recorder()
    assert await rate_limit(handler, msg(), await loaded(deps)) == "ok"  # LIMIT - 1 in the window
    assert handler.calls == 1
    await done(db, ALICE, T0 - 1, 100)  # now LIMIT in the window
    with pytest.raises(Defer):
        await rate_limit(handler, msg(), await loaded(deps))
    with pytest.raises(Defer):
        await rate_limit(handler, msg(BOB), await loaded(deps, BOB))
    assert handler.calls == 1
