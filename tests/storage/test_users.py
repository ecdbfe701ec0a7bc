"""storage/users.py on both databases: a user a phone, created once (with its "sms" address),
looked up by phone, id and address; opting out and back in (the address follows); which of many
numbers are opted out; the worker's batch of senders (created when new, their recent count, whether
more of theirs wait); deleting a user takes its addresses along."""

from __future__ import annotations

import sqlalchemy as sa

from storage import inbox, users
from storage.db import Database
from storage.schema import addresses
from storage.schema import users as users_table
from tests.conftest import ALICE, BOB, new_message

CAROL = "+15550003333"
T0 = 1_800_000_000.0


async def opted_out_at(db: Database, phone: str) -> float | None:
    async with db.read() as conn:
        value = (
            await conn.execute(sa.select(users_table.c.opted_out_at).where(users_table.c.phone == phone))
        ).scalar()
    return None if value is None else float(value)


async def test_get_or_create_makes_one_user_a_phone(db: Database) -> None:
    async with db.tx() as conn:
        alice, created = await users.get_or_create(conn, ALICE, T0)
    assert created is True
    assert (alice.phone, alice.created_at, alice.opted_out) == (ALICE, T0, False)
    assert (alice.x_linked, alice.active_room_id, alice.slowdown_notified_at) == (False, None, None)

    async with db.tx() as conn:
        again, created_again = await users.get_or_create(conn, ALICE, T0 + 50)
        bob, bob_created = await users.get_or_create(conn, BOB, T0 + 60)
    assert created_again is False
    assert again == alice  # the first one, its creation time kept
    assert bob_created is True
    assert bob.id != alice.id

    async with db.read() as conn:
        assert await users.get_by_phone(conn, ALICE) == alice
        assert await users.get_by_id(conn, alice.id) == alice
        assert await users.phone_of(conn, bob.id) == BOB
        assert await users.get_by_phone(conn, CAROL) is None
        assert await users.get_by_id(conn, 10_000) is None
        assert await users.phone_of(conn, 10_000) is None
        assert await conn.scalar(sa.select(sa.func.count()).select_from(users_table)) == 2


async def test_a_user_is_reached_at_the_sms_address_of_its_phone(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        await users.get_or_create(conn, ALICE, T0 + 1)  # no second address
    async with db.read() as conn:
        assert await users.addresses_of(conn, alice.id) == [users.Address("sms", ALICE, False, T0)]
        assert await users.get_by_address(conn, "sms", ALICE) == alice
        assert await users.get_by_address(conn, "whatsapp", ALICE) is None
        assert await users.get_by_address(conn, "sms", BOB) is None


async def test_opting_out_and_back_in(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        await users.set_opted_out(conn, ALICE, True, T0 + 10)
    async with db.read() as conn:
        assert await users.is_opted_out(conn, ALICE) is True
        user = await users.get_by_phone(conn, ALICE)
        assert user is not None
        assert (user.id, user.opted_out) == (alice.id, True)
        assert [a.opted_out for a in await users.addresses_of(conn, alice.id)] == [True]
    assert await opted_out_at(db, ALICE) == T0 + 10

    async with db.tx() as conn:
        await users.set_opted_out(conn, ALICE, False, T0 + 20)
    async with db.read() as conn:
        assert await users.is_opted_out(conn, ALICE) is False
        assert [a.opted_out for a in await users.addresses_of(conn, alice.id)] == [False]
    assert await opted_out_at(db, ALICE) is None


async def test_opting_out_a_number_never_seen_creates_its_user(db: Database) -> None:
    async with db.write() as conn:  # the sender's path (Twilio said the number is gone)
        await users.set_opted_out(conn, CAROL, True, T0)
    async with db.read() as conn:
        carol = await users.get_by_phone(conn, CAROL)
        assert carol is not None
        assert (carol.opted_out, carol.created_at) == (True, T0)
        assert await users.addresses_of(conn, carol.id) == [users.Address("sms", CAROL, True, T0)]
        assert await users.is_opted_out(conn, BOB) is False  # unknown: not opted out


async def test_opted_out_among_names_the_opted_out_numbers_of_many(db: Database) -> None:
    async with db.tx() as conn:
        for phone in (ALICE, BOB, CAROL):
            await users.get_or_create(conn, phone, T0)
        await users.set_opted_out(conn, BOB, True, T0)
        await users.set_opted_out(conn, CAROL, True, T0)
        await users.set_opted_out(conn, CAROL, False, T0 + 1)
    async with db.write() as conn:
        assert await users.opted_out_among(conn, [ALICE, BOB, CAROL, "+15550009999", BOB]) == {BOB}
        assert await users.opted_out_among(conn, [ALICE]) == set()
        assert await users.opted_out_among(conn, []) == set()
    async with db.tx() as conn:  # on SQLAlchemy's connection too
        assert await users.opted_out_among(conn, iter([BOB, CAROL])) == {BOB}


def numbered(n: int, sender: str, priority: int = 0) -> inbox.NewMessage:
    return new_message(f"SM{n:032d}", sender, f"message {n}", priority=priority, received_at=T0 + n)


async def test_senders_loads_a_batchs_users_creating_the_new_ones(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
    # Alice: two messages done within the window, one before it; one more pending
    await inbox.insert_new(db, [numbered(n, ALICE) for n in range(4)])
    async with db.tx() as conn:
        for n, done_at in ((0, T0 - 100), (1, T0 - 10), (2, T0 - 5)):
            await conn.execute(
                sa.text("UPDATE inbox SET status = 'done', done_at = :at WHERE message_sid = :sid"),
                {"at": done_at, "sid": f"SM{n:032d}"},
            )

    async with db.write() as conn:
        found = await users.senders(conn, [ALICE, BOB, ALICE], now=T0, since=T0 - 60)
    assert set(found) == {ALICE, BOB}
    assert found[ALICE].user == alice
    assert (found[ALICE].created, found[ALICE].handled_recently, found[ALICE].waiting) == (False, 2, True)
    bob = found[BOB]
    assert (bob.user.phone, bob.user.created_at, bob.created) == (BOB, T0, True)
    assert (bob.handled_recently, bob.waiting) == (0, False)
    async with db.read() as conn:
        assert await users.get_by_address(conn, "sms", BOB) == bob.user  # its address made with it

    async with db.write() as conn:
        again = await users.senders(conn, [BOB], now=T0 + 1, since=T0 - 60)
        assert await users.senders(conn, [], now=T0, since=T0) == {}
    assert again[BOB].user == bob.user
    assert again[BOB].created is False


async def test_delete_takes_the_users_addresses_along(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        bob, _ = await users.get_or_create(conn, BOB, T0)
        await users.delete(conn, alice.id)
    async with db.read() as conn:
        assert await users.get_by_id(conn, alice.id) is None
        owners = (await conn.execute(sa.select(addresses.c.user_id))).scalars().all()
    assert owners == [bob.id]


async def test_the_slow_down_notice_is_remembered(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        await users.mark_slowdown_notified(conn, alice.id, T0 + 5)
    async with db.read() as conn:
        user = await users.get_by_id(conn, alice.id)
    assert user is not None
    assert user.slowdown_notified_at == T0 + 5


async def test_an_address_keeps_the_name_its_channel_last_gave(db: Database) -> None:
    chat = "telegram:7001"
    async with db.tx() as conn:
        await users.get_or_create(conn, chat, T0)
        await users.get_or_create(conn, ALICE, T0)
    async with db.read() as conn:
        assert await users.label_of(conn, chat) is None
    async with db.tx() as conn:
        await users.set_label(conn, chat, "Ann")
    async with db.read() as conn:
        assert await users.label_of(conn, chat) == "Ann"
        assert await users.label_of(conn, ALICE) is None  # only that address
        assert await users.label_of(conn, "telegram:9999") is None  # no such address
