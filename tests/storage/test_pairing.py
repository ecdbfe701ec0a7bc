"""storage/pairing.py on both databases: a code is one person's, live for 10 minutes and one use
(asking again replaces it); joining moves the address and deletes the person it had; what a
person has of their own; leaving an address, their first one included; where a person's notices
go."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import pairing, rooms, users
from storage.db import Database
from storage.schema import inbox
from tests.conftest import ALICE, BOB

T0 = 1_800_000_000.0
WALLY = "whatsapp:+15550009999"


async def test_a_code_is_live_for_ten_minutes_and_one_use(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        await pairing.new_code(conn, alice.id, "123456", T0)
        await pairing.new_code(conn, alice.id, "654321", T0 + 1)  # asking again replaces it
        assert await pairing.owner_of(conn, "123456", T0 + 2) is None
        assert await pairing.owner_of(conn, "654321", T0 + 2) == alice.id
        assert await pairing.owner_of(conn, "654321", T0 + 2) == alice.id  # looking spends nothing
        assert await pairing.use(conn, "654321", T0 + 2)
        assert await pairing.owner_of(conn, "654321", T0 + 3) is None  # used up
        assert not await pairing.use(conn, "654321", T0 + 3)
        await pairing.new_code(conn, alice.id, "111111", T0)
        assert await pairing.owner_of(conn, "111111", T0 + pairing.CODE_SECONDS + 1) is None  # expired
        assert not await pairing.use(conn, "111111", T0 + pairing.CODE_SECONDS + 1)


async def test_joining_moves_the_address_and_its_messages_find_the_person(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        stranger, _ = await users.get_or_create(conn, WALLY, T0)
        assert await pairing.what_it_has(conn, stranger.id) is None
        await pairing.join(conn, WALLY, into=alice.id, leaving=stranger.id, now=T0)
        assert await pairing.addresses_of(conn, alice.id) == [ALICE, WALLY]
        found, created = await users.get_or_create(conn, WALLY, T0 + 5)
        assert (found.id, created) == (alice.id, False)
        assert await users.get_by_id(conn, stranger.id) is None
        senders = await users.senders(conn, [WALLY, ALICE], now=T0 + 5, since=T0)
        assert {key: s.user.id for key, s in senders.items()} == {WALLY: alice.id, ALICE: alice.id}


async def test_what_a_person_has_of_their_own(db: Database) -> None:
    async with db.tx() as conn:
        bob, _ = await users.get_or_create(conn, BOB, T0)
        assert await pairing.what_it_has(conn, bob.id) is None
        await rooms.create(conn, name="flat", password_hash="x", user_id=bob.id, now=T0)
        assert await pairing.what_it_has(conn, bob.id) == "rooms"


async def test_leaving_an_address_keeps_the_person_at_the_other(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        stranger, _ = await users.get_or_create(conn, WALLY, T0)
        await pairing.join(conn, WALLY, into=alice.id, leaving=stranger.id, now=T0)
        await pairing.leave(conn, ALICE)  # her first address: the other takes its place
        assert await pairing.addresses_of(conn, alice.id) == [WALLY]
        moved = await users.get_by_id(conn, alice.id)
        assert moved is not None
        assert moved.phone == WALLY
        again, created = await users.get_or_create(conn, ALICE, T0 + 9)
        assert created
        assert again.id != alice.id


async def test_joining_from_a_paired_address_brings_the_persons_other_addresses(db: Database) -> None:
    """An address already paired (SMS and a Telegram chat, no rooms yet) that sends another
    person's code: the chat was deleted with the person the SMS number left (its next message was
    a stranger's welcome). Every address of that person joins."""
    chat = "telegram:7001"
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        second, _ = await users.get_or_create(conn, chat, T0)
        await pairing.join(conn, chat, into=alice.id, leaving=second.id, now=T0)
        bob, _ = await users.get_or_create(conn, BOB, T0)
        await pairing.join(conn, ALICE, into=bob.id, leaving=alice.id, now=T0)
        assert await pairing.addresses_of(conn, bob.id) == [ALICE, chat, BOB]
        assert await users.get_by_id(conn, alice.id) is None
        found, created = await users.get_or_create(conn, chat, T0 + 5)
        assert (found.id, created) == (bob.id, False)


async def _wrote(conn: AsyncConnection, key: str, at: float, *, status: str = "done") -> None:
    """A message from `key`, handled at `at` (or still `status`)."""
    await conn.execute(
        sa.insert(inbox).values(
            message_sid=f"SM{key}{at}",
            from_phone=key,
            received_at=at,
            status=status,
            done_at=at if status == "done" else None,
        )
    )


async def _tom(conn: AsyncConnection) -> tuple[int, str]:
    """Tom: his SMS number first, then a Telegram chat and a WhatsApp number paired to it."""
    tom, _ = await users.get_or_create(conn, ALICE, T0)
    for key in (CHAT, WALLY):
        other, _ = await users.get_or_create(conn, key, T0)
        await pairing.join(conn, key, into=tom.id, leaving=other.id, now=T0)
    return tom.id, ALICE


CHAT = "telegram:7001"


async def test_a_notice_goes_to_the_address_the_person_last_wrote_from(db: Database) -> None:
    """Tom moved to Telegram and wrote there all week; his notices went to his first address,
    the SMS number he no longer used. They go where he last wrote; back on SMS, to SMS."""
    async with db.tx() as conn:
        tom, sms = await _tom(conn)
        bob = (await users.get_or_create(conn, BOB, T0))[0].id
        assert await pairing.notice_address(conn, tom) == sms  # nothing written yet: his first
        await _wrote(conn, sms, T0 + 10)
        await _wrote(conn, CHAT, T0 + 20)
        await _wrote(conn, CHAT, T0 + 30)
        await _wrote(conn, BOB, T0 + 40)  # someone else's message changes nothing of his
        assert await pairing.notice_addresses(conn, [tom, bob]) == {tom: CHAT, bob: BOB}
        await _wrote(conn, sms, T0 + 50)
        assert await pairing.notice_address(conn, tom) == sms
        await _wrote(conn, WALLY, T0 + 60, status="pending")  # not handled yet: not counted
        assert await pairing.notice_address(conn, tom) == sms
        await _wrote(conn, WALLY, T0 + 70)
        assert await pairing.notice_address(conn, tom) == WALLY


async def test_an_opted_out_last_address_gives_the_notice_to_the_next(db: Database) -> None:
    """The address he last wrote from is opted out (a STOP there, a Telegram chat that blocked
    the bot): the latest of the others he wrote from; none wrote, the first that is not opted out."""
    async with db.tx() as conn:
        tom, sms = await _tom(conn)
        await _wrote(conn, CHAT, T0 + 10)
        await users.set_opted_out(conn, CHAT, True, T0 + 11)
        assert await pairing.notice_address(conn, tom) == sms  # as before: his first
        await users.set_opted_out(conn, sms, True, T0 + 12)
        assert await pairing.notice_address(conn, tom) == WALLY  # as before: the first other not out
        await users.set_opted_out(conn, CHAT, False, T0 + 13)  # the chat writes again
        await _wrote(conn, CHAT, T0 + 20)
        await users.set_opted_out(conn, sms, False, T0 + 21)
        await _wrote(conn, sms, T0 + 22)
        await _wrote(conn, WALLY, T0 + 30)
        await _wrote(conn, CHAT, T0 + 31)
        await users.set_opted_out(conn, CHAT, True, T0 + 32)  # his last: blocked
        assert await pairing.notice_address(conn, tom) == WALLY  # the one he wrote from before it
        for key in (sms, WALLY):
            await users.set_opted_out(conn, key, True, T0 + 34)
        assert await pairing.notice_address(conn, tom) == sms  # all out: the first all the same


async def test_no_notice_goes_into_a_telegram_group(db: Database) -> None:
    """0.2.0 answered Telegram groups, and a group could join a room as one member. Its `\\PAID`
    notices and reminders were still posted into the group, where no one can answer (groups are
    not handled now: no `\\REMIND off`, no `\\LEAVE`). A group address is never a notice's."""
    group = "telegram:-1001234567890"
    async with db.tx() as conn:
        flat, _ = await users.get_or_create(conn, group, T0)
        await _wrote(conn, group, T0 + 10)
        assert await pairing.notice_address(conn, flat.id) is None
        # a person whose first address is such a group, with one of their own paired later
        tom, _ = await users.get_or_create(conn, "telegram:-42", T0)
        other, _ = await users.get_or_create(conn, BOB, T0)
        await pairing.join(conn, BOB, into=tom.id, leaving=other.id, now=T0)
        await _wrote(conn, "telegram:-42", T0 + 20)
        assert await pairing.notice_addresses(conn, [flat.id, tom.id]) == {tom.id: BOB}
        # nor does a notice his other address could not take go on into the group
        assert await pairing.elsewhere(conn, BOB, lambda key: True) is None


async def test_a_notice_whatsapp_will_not_take_goes_to_the_other_address_last_written_from(
    db: Database,
) -> None:
    """Tom's notice at WhatsApp (the address he last wrote from, more than a day ago; no template)
    went to his SMS number, his first other address, though he had moved to Telegram and written
    there since his last SMS. It goes to the other address he wrote from last; none of them
    wrote in the 7 days the inbox keeps, the first other, as before; one opted out is passed over."""

    def anytime(key: str) -> bool:
        return not key.startswith("whatsapp:")

    async with db.tx() as conn:
        _, sms = await _tom(conn)
        assert await pairing.elsewhere(conn, WALLY, anytime) == sms  # none wrote: the first other
        await _wrote(conn, sms, T0 + 10)
        await _wrote(conn, CHAT, T0 + 20)
        await _wrote(conn, sms, T0 + 25, status="pending")  # not handled yet: not counted
        await _wrote(conn, WALLY, T0 + 30)
        assert await pairing.elsewhere(conn, WALLY, anytime) == CHAT
        assert await pairing.elsewhere(conn, WALLY, lambda key: True) == CHAT
        await _wrote(conn, sms, T0 + 40)
        assert await pairing.elsewhere(conn, WALLY, anytime) == sms
        assert await pairing.elsewhere(conn, CHAT, lambda key: True) == sms
        await users.set_opted_out(conn, sms, True, T0 + 41)
        assert await pairing.elsewhere(conn, WALLY, anytime) == CHAT
        assert await pairing.elsewhere(conn, CHAT, anytime) is None  # WhatsApp is not usable
        assert await pairing.elsewhere(conn, CHAT, lambda key: True) == WALLY


async def test_paired_addresses_put_those_joined_by_a_code_last_in_the_order_they_joined(
    db: Database,
) -> None:
    """`\\UNPAIR` numbers a person's addresses: their own first, then those a `\\PAIR` joined, by
    when. A number that wrote to textwire long ago (a low row id) and paired today is last, not
    first, and the code's asking address is kept for the pairing notice."""
    async with db.tx() as conn:
        old, _ = await users.get_or_create(conn, WALLY, T0)  # wrote first, long ago
        alice, _ = await users.get_or_create(conn, ALICE, T0 + 10)
        assert await pairing.new_code(conn, alice.id, "123456", T0 + 20, asked_from=ALICE)
        assert await pairing.use(conn, "123456", T0 + 21) == pairing.Used(asked_from=ALICE)
        assert await pairing.use(conn, "123456", T0 + 21) is None  # spent
        await pairing.join(conn, WALLY, into=alice.id, leaving=old.id, now=T0 + 21)
        assert await pairing.paired_addresses(conn, alice.id) == [
            pairing.Paired(ALICE, None),
            pairing.Paired(WALLY, T0 + 21),
        ]
