"""storage/people.py on both databases: a person found by any of their addresses (a paired
WhatsApp address too), their message history purged across every address and nobody else's, and
photos marked deleted (a request blanks the caption, retention does not); and the inbox's backlog
age (storage/inbox.py oldest_due) for the metrics."""

from __future__ import annotations

import uuid
from pathlib import Path

import sqlalchemy as sa

from storage import inbox, ledger, outbox, pairing, people, receipts, rooms, users
from storage.db import Database
from storage.media import LocalMediaStore
from storage.schema import receipts as receipts_table
from tests.conftest import ALICE, BOB, new_message

T0 = 1_800_000_000.0
ALICE_WA = "whatsapp:+15550001111"


def message(sid: str, sender: str, at: float, body: str = "hi") -> inbox.NewMessage:
    return new_message(sid, sender, body, received_at=at)


async def test_a_person_their_addresses_and_their_messages_only(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        other, _ = await users.get_or_create(conn, ALICE_WA, T0)
        await pairing.join(
            conn, ALICE_WA, into=alice.id, leaving=other.id, now=T0
        )  # one person, two addresses
        bob, _ = await users.get_or_create(conn, BOB, T0)
    await inbox.insert_new(
        db, [message("SM1", ALICE, T0), message("SM2", ALICE_WA, T0 + 1), message("SM3", BOB, T0 + 2)]
    )
    async with db.tx() as conn:
        for n, to in enumerate((ALICE, ALICE_WA, BOB)):
            await outbox.enqueue(conn, to=to, body="reply", dedupe_key=f"k{n}", now=T0)
    async with db.read() as conn:
        assert await people.person_of(conn, ALICE_WA) == alice.id
        assert await people.person_of(conn, ALICE) == alice.id
        assert await people.person_of(conn, "+15559999999") is None
        assert sorted(await people.addresses_of(conn, alice.id)) == sorted([ALICE, ALICE_WA])
        data = await people.person_data(conn, alice.id)
    assert {m["from_phone"] for m in data["messages_in"]} == {ALICE, ALICE_WA}
    assert {m["to_phone"] for m in data["messages_out"]} == {ALICE, ALICE_WA}
    assert data["x"]["tokens"] is None
    async with db.tx() as conn:
        purged = await people.purge_messages(conn, [ALICE, ALICE_WA])
    assert (purged.messages_in, purged.messages_out) == (2, 2)
    async with db.read() as conn:
        left_in = (await conn.execute(sa.text("SELECT from_phone FROM inbox"))).scalars().all()
        left_out = (await conn.execute(sa.text("SELECT to_phone FROM outbox"))).scalars().all()
    assert (left_in, left_out) == ([BOB], [BOB])
    assert bob.id != alice.id


async def test_photos_marked_deleted_by_request_or_retention(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        room = await rooms.create(conn, name="house", password_hash="x", user_id=alice.id, now=T0)
        for n, at in enumerate((T0, T0 + 86_400 * 40)):
            await receipts.insert(
                conn,
                receipts.NewReceipt(
                    id=f"r{n}",
                    room_id=room.id,
                    uploader_id=alice.id,
                    uploader_phone_masked="+1******1111",
                    message_sid=f"MM{n}",
                    media_index=0,
                    object_key=f"rooms/{room.id}/r{n}.jpg",
                    content_type="image/jpeg",
                    size=1,
                    sha256="0" * 64,
                    caption=f"caption {n}",
                    created_at=at,
                    twilio_media_url=None,
                ),
            )
    async with db.read() as conn:
        old = await people.photos_before(conn, T0 + 86_400, limit=10)
    assert [p.id for p in old] == ["r0"]
    async with db.tx() as conn:
        await people.mark_photos_deleted(conn, ["r0"], people.RETENTION, T0 + 86_400 * 41)
        assert [p.id for p in await people.photos_of(conn, [alice.id])] == ["r1"]
        await people.mark_photos_deleted(conn, ["r1"], people.REQUEST, T0 + 86_400 * 41)
        await people.mark_photos_deleted(conn, [], people.REQUEST, T0)  # nothing: no statement
        rows = (
            await conn.execute(
                sa.select(
                    receipts_table.c.id, receipts_table.c.caption, receipts_table.c.photo_deleted_why
                ).order_by(receipts_table.c.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("r0", "caption 0", "retention"), ("r1", "", "request")]
    async with db.read() as conn:
        assert await people.photos_before(conn, T0 + 86_400 * 100, limit=10) == []


async def test_the_export_says_what_a_rate_converted_and_forgets_it_once_replaced(db: Database) -> None:
    """`\\AMOUNT 678 JPY @0.006667` set $4.52: the export said amount_minor 452, USD, and not that
    it was ¥678 at 0.006667. It says so, and an amount set later without a rate says nothing of it."""
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        room = await rooms.create(conn, name="house", password_hash="x", user_id=alice.id, now=T0)
        await receipts.insert(
            conn,
            receipts.NewReceipt(
                id="r0", room_id=room.id, uploader_id=alice.id, uploader_phone_masked="+1******1111",
                message_sid="MM0", media_index=0, object_key=f"rooms/{room.id}/r0.jpg",
                content_type="image/jpeg", size=1, sha256="0" * 64, caption="ramen", created_at=T0,
                twilio_media_url=None,
            ),
        )  # fmt: skip
        await ledger.set_amount(
            conn, "r0", minor=452, currency="USD", source="manual", original=(678, "JPY", "0.006667")
        )
    fields = ("amount_minor", "currency", "original_minor", "original_currency", "original_rate")
    async with db.read() as conn:
        [receipt] = await people.receipts_of(conn, [alice.id])
    assert tuple(receipt[f] for f in fields) == (452, "USD", 678, "JPY", "0.006667")
    async with db.tx() as conn:
        await ledger.set_amount(conn, "r0", minor=500, currency="USD", source="manual")
    async with db.read() as conn:
        [receipt] = await people.receipts_of(conn, [alice.id])
    assert tuple(receipt[f] for f in fields) == (500, "USD", None, None, None)


async def test_the_backlog_age_is_the_oldest_due_pending_message(db: Database) -> None:
    async with db.read() as conn:
        assert await inbox.oldest_due(conn, T0) is None
    await inbox.insert_new(db, [message("SM1", ALICE, T0 + 5), message("SM2", BOB, T0 + 10)])
    async with db.read() as conn:
        assert await inbox.oldest_due(conn, T0 + 60) == T0 + 5


async def test_forgetting_keeps_the_ledger_place_and_the_opt_out(db: Database) -> None:
    async with db.tx() as conn:
        alice, _ = await users.get_or_create(conn, ALICE, T0)
        room = await rooms.create(conn, name="house", password_hash="x", user_id=alice.id, now=T0)
        await receipts.insert(
            conn,
            receipts.NewReceipt(
                id="r1",
                room_id=room.id,
                uploader_id=alice.id,
                uploader_phone_masked="+1******1111",
                message_sid="MM1",
                media_index=0,
                object_key=f"rooms/{room.id}/r1.jpg",
                content_type="image/jpeg",
                size=1,
                sha256="0" * 64,
                caption="",
                created_at=T0,
                twilio_media_url=None,
            ),
        )
        await users.set_opted_out(conn, ALICE, True, T0)
    async with db.tx() as conn:
        assert await people.forget(conn, alice.id, "+1******1111", [ALICE], T0 + 1) is True
    async with db.read() as conn:
        assert await people.person_of(conn, ALICE) != alice.id  # the record is gone
        assert await users.opted_out_among(conn, [ALICE]) == {ALICE}  # nothing goes there again
        uploader = (
            await conn.execute(sa.select(receipts_table.c.uploader_id).where(receipts_table.c.id == "r1"))
        ).scalar()
    assert uploader is not None  # the receipt stays,
    assert uploader != alice.id  # under the former member
    async with db.tx() as conn:
        bob, _ = await users.get_or_create(conn, BOB, T0)  # on no ledger: nothing to keep
        assert await people.forget(conn, bob.id, "+1******2222", [], T0 + 2) is False
        assert await people.person_of(conn, BOB) is None


async def test_photos_are_deleted_in_order_until_the_store_fails(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path, lambda key, expires: "")
    keys = [f"rooms/{uuid.uuid4()}/receipts/{uuid.uuid4()}.jpg" for _ in range(3)]
    for key in keys:
        store.path_of(key).parent.mkdir(parents=True)
        store.path_of(key).write_bytes(b"photo")
    photos = [
        people.Photo("r1", keys[0]),
        people.Photo("r2", "not a receipt key"),
        people.Photo("r3", keys[2]),
    ]
    gone, failed = await people.delete_photos(store, photos)
    assert gone == ["r1"]
    assert isinstance(failed, ValueError)  # the store refused the second: the third is not tried
    assert [store.path_of(k).exists() for k in keys] == [False, True, True]
    assert await people.delete_photos(store, [people.Photo("r3", keys[2])]) == (["r3"], None)
    assert not store.path_of(keys[2]).exists()
