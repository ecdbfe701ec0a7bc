"""Two people at the same instant in one room, on PostgreSQL, where their transactions run side by
side (SQLite's writers queue, one at a time). Each test holds the room's row, as the other
person's transaction would, sends the message, waits until its transaction waits for that row
(PostgreSQL says so in pg_stat_activity), makes the other person's write, and lets go: without
the room's lock the message would not wait, and would write on what it read before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database
from tests import images
from tests.conftest import ALICE, BOB, Bot, wait_for
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_media import mms
from tests.handlers.test_ledger import CAROL, house, say

pytestmark = pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)


@asynccontextmanager
async def holding_room(bot: Bot, name: str) -> AsyncIterator[AsyncConnection]:
    """A transaction of another connection that holds the room's row as the app's do
    (`storage.ledger.lock_rooms`); committed on leaving."""
    db = Database(bot.config.database.url)
    try:
        async with db.tx() as conn:
            query = sa.text("SELECT id FROM rooms WHERE name_key = :n FOR NO KEY UPDATE")
            assert (await conn.execute(query, {"n": name})).scalar() is not None
            yield conn
    finally:
        await db.close()


async def waiting(bot: Bot, count: int = 1) -> None:
    """Until `count` transactions wait for a row lock."""

    async def enough() -> bool:
        n = await bot.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return int(n) >= count

    await wait_for(enough)


async def replies(bot: Bot, fake: FakeTwilio, sid: str, to: str) -> list[str]:
    assert await bot.handled(sid) == "done"
    await bot.settled()
    return [m["Body"] for m in fake.messages if m["To"] == to]


async def test_two_members_taking_one_name_at_once(bot: Bot, fake_twilio: FakeTwilio) -> None:
    await house(bot, fake_twilio)
    async with holding_room(bot, "house") as other:
        form = await bot.text("\\NAME Zed", sender=BOB)
        await waiting(bot)
        await other.execute(
            sa.text("UPDATE users SET name = 'Zed', name_key = 'zed' WHERE phone = :p"), {"p": CAROL}
        )
    assert (await replies(bot, fake_twilio, form["MessageSid"], BOB))[-1] == (
        "Someone in house goes by Zed already. Pick another name."
    )
    assert await bot.scalar("SELECT count(*) FROM users WHERE name_key = 'zed'") == 1


async def test_a_payment_while_the_currency_changes_counts_in_the_new_one(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID` read the room's currency, `\\CURRENCY EUR` (no amounts yet) changed it, and the
    payment was written in dollars: left out of every balance, with "paid you €5.00" told."""
    await house(bot, fake_twilio)
    async with holding_room(bot, "house") as other:
        form = await bot.text("\\PAID Bob 5", sender=ALICE)
        await waiting(bot)
        await other.execute(sa.text("UPDATE rooms SET currency = 'EUR' WHERE name_key = 'house'"))
    assert (await replies(bot, fake_twilio, form["MessageSid"], ALICE))[-1] == (
        "Recorded: you paid Bob €5.00. house: Bob pays Alice €5.00."
    )
    assert await bot.scalar("SELECT currency FROM payments") == "EUR"


async def test_the_same_photo_from_two_members_at_once_is_counted_once(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    fake = fake_twilio
    await house(bot, fake)
    photo = images.jpeg_with_gps(640, 480, variant=21)
    async with holding_room(bot, "house"):
        first = await bot.text("$30.00", sender=ALICE, **mms([fake.media.add(photo)]))
        await waiting(bot, 1)
        second = await bot.text("$30.00", sender=BOB, **mms([fake.media.add(photo)]))
        await waiting(bot, 2)  # both read the room's receipts before either saved its own
    for form in (first, second):
        assert await bot.handled(form["MessageSid"]) == "done"
    rows = await bot.rows("SELECT amount_minor, duplicate_of FROM receipts ORDER BY created_at, id")
    counted = [r for r in rows if r.duplicate_of is None]
    assert [(r.amount_minor, r.duplicate_of is None) for r in counted] == [(3000, True)]
    assert len(rows) == 2  # the other is kept, not counted: it repeats the first
    assert (await say(bot, fake, "\\BALANCE", sender=CAROL)).count("$10.00") == 2


async def test_stop_beside_its_own_message_in_flight_leaves_nothing_after_the_goodbye(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\STOP` jumps the queue, so it can run beside the sender's message being handled: a
    `\\PAID` that then failed on the deleted record was retried as a stranger's first text (a new
    record, "You are not in a room" after the goodbye). It is dropped with the others."""
    await house(bot, fake_twilio)
    async with holding_room(bot, "house"):
        paid = await bot.text("\\PAID Bob 5", sender=CAROL)
        await waiting(bot)  # being handled, waiting for the room
        stop = await bot.text("\\STOP", sender=CAROL)
        assert await bot.handled(stop["MessageSid"]) == "done"
    assert await bot.handled(paid["MessageSid"]) == "done"
    await bot.settled()
    [row] = await bot.rows("SELECT status, error FROM inbox WHERE message_sid = :s", s=paid["MessageSid"])
    assert (row.status, row.error) == ("done", "dropped: the sender stopped")
    assert await bot.scalar("SELECT count(*) FROM users WHERE phone = :p", p=CAROL) == 0
    assert await bot.scalar("SELECT count(*) FROM payments") == 0
    to_carol = [m["Body"] for m in fake_twilio.messages if m["To"] == CAROL]
    assert to_carol[-1].startswith("Goodbye from textwire")
