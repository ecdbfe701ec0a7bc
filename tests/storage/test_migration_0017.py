"""Migration 0017 (addresses; the channel of inbox, outbox and receipts rows) on a database in use:
filled at revision 0016 as the code of that revision writes it, upgraded, then read back (every
row of every table kept, one "sms" address a person, the new columns "sms"), downgraded and
upgraded again; the code of 0016 keeps working against the new schema (a rolling upgrade), and
today's code reads what was migrated. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import address_of
from bot.features.ledger.book import room_ledger
from bot.features.ledger.view import ledger_view
from storage import inbox, outbox, rooms, schema, users
from storage.crypto import TokenCipher, generate_key
from storage.db import Database, alembic_config, head_revision
from storage.lean import in_tx
from storage.xaccounts import load_tokens
from tests import pg

BEFORE = "0016"
NOW = 1_790_000_000.0
PASSWORD = "correct horse 42"
KEY = generate_key()
ALICE, BOB, CAROL, DAVE = "+15550000001", "+15550000002", "+15550000003", "whatsapp:+15550000004"
FORMER = "former:0123456789abcdef"  # a member who left by \STOP, kept in the ledger (storage.ledger)
CHANNEL_TABLES = ("inbox", "outbox", "receipts")

_names = itertools.count()


@pytest.fixture
async def empty_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database (not the
    migrated template's copy the other tests get)."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path}/data/textwire.db"
        return
    server: pg.PgServer | None = request.getfixturevalue("pg_server")
    if server is None:
        pytest.skip(pg.SKIP_REASON)
    name = f"{server.tag}_m{next(_names)}"
    server.admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.url_of(name)
    finally:
        server.drop_database(name)


async def alembic(url: str, step: str, revision: str) -> None:
    """`alembic upgrade|downgrade <revision>` with the project's migrations, in one transaction."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            run = command.upgrade if step == "upgrade" else command.downgrade
            await conn.run_sync(lambda sync: run(alembic_config(sync), revision))
    finally:
        await db.close()


@contextlib.asynccontextmanager
async def on(url: str) -> AsyncIterator[AsyncConnection]:
    """One transaction on the database at `url` as it stands (between two migration steps)."""
    db = Database(url)
    try:
        async with db.tx() as conn:
            yield conn
    finally:
        await db.close()


async def reflect(db: Database) -> sa.MetaData:
    """The tables as the database has them (at 0016: as the code of 0016 knows them)."""
    found = sa.MetaData()
    async with db.engine.connect() as conn:
        await conn.run_sync(lambda sync: found.reflect(sync))
    found.remove(found.tables["alembic_version"])
    return found


async def snapshot(db: Database, tables: sa.MetaData) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of `tables` (its columns only), in primary key order."""
    rows = {}
    async with db.read() as conn:
        for table in tables.sorted_tables:
            order = list(table.primary_key.columns) or list(table.columns)
            rows[table.name] = [tuple(r) for r in await conn.execute(sa.select(table).order_by(*order))]
    return rows


async def shape(db: Database) -> dict[str, Any]:
    """The schema: each table's columns, keys, constraints and indexes (their conditions too),
    and the revision."""

    def inspect(sync: sa.Connection) -> dict[str, Any]:
        inspector = sa.inspect(sync)
        found: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            found[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (
                        fk["constrained_columns"],
                        fk["referred_table"],
                        fk["referred_columns"],
                        str(fk["options"]),
                    )
                    for fk in inspector.get_foreign_keys(table)
                ),
                "unique": sorted(
                    (u["name"], u["column_names"]) for u in inspector.get_unique_constraints(table)
                ),
            }
        if sync.dialect.name == "sqlite":
            sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
        else:
            sql = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"
        found["indexes"] = [tuple(r) for r in sync.execute(sa.text(sql))]
        found["revision"] = sync.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        return found

    async with db.engine.connect() as conn:
        return await conn.run_sync(inspect)


async def fill(db: Database, t: sa.MetaData) -> dict[str, Any]:
    """A database in use at 0016, written with that revision's tables: people (one opted out,
    one on WhatsApp, a former member kept in the ledger), a room with a password, members and
    one who left, receipts with amounts and shares (one in another currency, one whose copy at
    Twilio is still to delete), a payment, an X account with encrypted tokens, link and browser
    sessions and a post, queued and handled messages both ways, and the bookkeeping tables."""
    cipher = TokenCipher([KEY])
    password_hash = await rooms.hash_password(PASSWORD)
    room = "11111111-2222-3333-4444-555555555555"
    async with db.tx() as conn:

        async def insert(name: str, *rows: dict[str, Any]) -> list[Any]:
            table = t.tables[name]
            key = next(iter(table.primary_key.columns))
            return [
                (await conn.execute(sa.insert(table).values(row).returning(key))).scalar_one() for row in rows
            ]

        alice, bob, carol, dave, former = await insert(
            "users",
            {"phone": ALICE, "created_at": NOW - 50, "name": "Alice", "name_key": "alice", "x_user_id": "42",
             "x_handle": "alice_x", "slowdown_notified_at": NOW - 5},
            {"phone": BOB, "created_at": NOW - 40},
            {"phone": CAROL, "created_at": NOW - 30, "opted_out": True, "opted_out_at": NOW - 3},
            {"phone": DAVE, "created_at": NOW - 20},
            {"phone": FORMER, "created_at": NOW - 10, "opted_out": True, "opted_out_at": NOW - 10, "name": "Erin"},
        )  # fmt: skip
        await insert(
            "rooms",
            {"id": room, "name": "House", "name_key": "house", "password_hash": password_hash,
             "created_by": alice, "created_at": NOW - 45, "currency": "USD"},
        )  # fmt: skip
        await conn.execute(
            sa.update(t.tables["users"]).where(t.tables["users"].c.id == alice).values(active_room_id=room)
        )
        await insert(
            "memberships",
            *(
                {"user_id": u, "room_id": room, "joined_at": NOW - 45 + n}
                for n, u in enumerate((alice, bob, carol))
            ),
        )
        await insert("room_departures", {"user_id": dave, "room_id": room, "left_at": NOW - 15})

        def receipt(n: int, uploader: int, **extra: Any) -> dict[str, Any]:
            return {"id": f"r{n}", "room_id": room, "uploader_id": uploader, "uploader_phone_masked": "***0001",
                    "message_sid": f"MMr{n}", "media_index": 0, "object_key": f"receipts/r{n}.jpg",
                    "content_type": "image/jpeg", "size": 1000 + n, "sha256": f"{n:064x}",
                    "caption": f"receipt {n}", "created_at": NOW - 40 + n, "twilio_deleted_at": NOW - 39 + n,
                    "twilio_media_url": f"https://api.twilio.com/media/ME{n}", **extra}  # fmt: skip

        usd = {"currency": "USD", "amount_source": "caption", "ocr_status": "ok"}
        await insert(
            "receipts",
            receipt(1, alice, amount_minor=9000, **usd),
            receipt(2, bob, amount_minor=1001, amount_message_sid="SMamount2", **usd),
            receipt(3, former, amount_minor=600, **usd),
            receipt(4, carol, amount_minor=500, currency="EUR", amount_source="ocr", ocr_status="ok"),
            receipt(5, bob, twilio_deleted_at=None, twilio_delete_attempts=2, ocr_status="ask"),
        )
        shares = {"r1": (alice, bob, carol), "r2": (bob, alice), "r3": (former, alice), "r4": (carol, alice)}
        await insert(
            "receipt_members",
            *(
                {"receipt_id": r, "position": n, "user_id": u}
                for r, who in shares.items()
                for n, u in enumerate(who)
            ),
        )
        await insert(
            "payments",
            {"room_id": room, "payer_id": carol, "payee_id": alice, "amount_minor": 2000, "currency": "USD",
             "message_sid": "SMpaid", "created_at": NOW - 2},
        )  # fmt: skip
        await insert(
            "x_tokens",
            {"user_id": alice, "version": 3, "expires_at": NOW + 7200, "updated_at": NOW - 60,
             "ciphertext": cipher.encrypt(alice, {"access_token": "at-alice", "refresh_token": "rt-alice"})},
        )  # fmt: skip
        await insert(
            "link_tokens",
            {"token_hash": "a" * 64, "user_id": bob, "created_at": NOW, "expires_at": NOW + 600},
        )
        await insert(
            "oauth_sessions",
            {"session_hash": "b" * 64, "user_id": bob, "state_hash": "c" * 64, "created_at": NOW,
             "verifier_ciphertext": cipher.encrypt(bob, {"verifier": "v"}), "expires_at": NOW + 600},
        )  # fmt: skip
        await insert(
            "posts",
            {"message_sid": "SMpost", "user_id": alice, "state": "posted", "tweet_id": "1", "created_at": NOW,
             "updated_at": NOW},
        )  # fmt: skip
        done, *_ = await insert(
            "inbox",
            {"message_sid": "SMdone", "account_sid": "AC1", "from_phone": ALICE, "to_phone": "+15559990000",
             "body": "\\BALANCE", "status": "done", "received_at": NOW - 9, "done_at": NOW - 8},
            {"message_sid": "SMbob1", "from_phone": BOB, "to_phone": "+15559990000", "body": "hello",
             "media": '[["https://api.twilio.com/media/ME9", "image/jpeg"]]', "received_at": NOW - 7},
            {"message_sid": "SMbob2", "from_phone": BOB, "to_phone": "+15559990000", "body": "again",
             "received_at": NOW - 6},
            {"message_sid": "SMstop", "from_phone": DAVE, "to_phone": "+15559990000", "body": "STOP",
             "opt_out_type": "STOP", "priority": 1, "received_at": NOW - 5},
        )  # fmt: skip
        await insert(
            "outbox",
            {"dedupe_key": "SMdone:0", "inbox_id": done, "to_phone": ALICE, "body": "House: Bob owes you $25.00",
             "status": "sent", "delivery_status": "delivered", "twilio_sid": "SMsent", "kind": "balance",
             "attempts": 1, "created_at": NOW - 8, "sent_at": NOW - 8, "updated_at": NOW - 7},
            {"dedupe_key": "notice:1", "to_phone": BOB, "body": "Carol paid Alice $20.00", "redact": False,
             "kind": "paid", "created_at": NOW - 2},
            {"dedupe_key": "link:1", "to_phone": BOB, "body": "Link X: https://example.test/x/link/t",
             "redact": True, "kind": "x-link", "created_at": NOW - 1, "next_attempt_at": NOW + 30},
        )  # fmt: skip
        await insert("reply_log", {"phone": ALICE, "message_sid": "SMdone", "answer": "balance", "at": NOW - 8,
                                   "received_at": NOW - 9, "digest": "d" * 16})  # fmt: skip
        await insert("join_failures", {"phone": DAVE, "at": NOW - 4, "room_key": "house", "kind": "wrong"})
        await insert("join_slots", {"room_key": "house", "next_at": NOW + 3})
        await insert("processes", {"id": "worker-1", "started_at": NOW - 100, "heartbeat_at": NOW - 1})
        await insert("job_leases", {"job_id": "retention", "owner": "worker-1", "until": NOW + 60})
        await insert("ready_probe", {"id": 1, "at": NOW})
    return {"room": room, "alice": alice, "bob": bob, "carol": carol, "dave": dave, "former": former}


async def at_0016(url: str) -> tuple[Database, sa.MetaData, dict[str, Any]]:
    """A database migrated to 0016 and filled (`fill`); its 0016 tables; who is who."""
    await alembic(url, "upgrade", BEFORE)
    db = Database(url)
    tables = await reflect(db)
    assert "addresses" not in tables.tables
    assert all("channel" not in tables.tables[name].c for name in CHANNEL_TABLES)
    ids = await fill(db, tables)
    return db, tables, ids


async def check_addresses(db: Database) -> None:
    """Every user with a number has exactly its address, under its channel ("sms", and since
    0018 "whatsapp" for a whatsapp: one), opted out as the user is, since the user was created;
    the former member's row has none."""
    async with db.read() as conn:
        people = (await conn.execute(sa.text("SELECT id, phone, opted_out, created_at FROM users"))).all()
        found = (
            await conn.execute(
                sa.text("SELECT user_id, channel, address, opted_out, created_at FROM addresses")
            )
        ).all()
    expected = sorted(
        (
            p.id,
            "whatsapp" if p.phone.startswith("whatsapp:") else "sms",
            p.phone,
            bool(p.opted_out),
            p.created_at,
        )
        for p in people
        if not p.phone.startswith("former:")
    )
    assert sorted((a[0], a[1], a[2], bool(a[3]), a[4]) for a in found) == expected
    assert len(expected) == len(people) - 1


async def check_channels(db: Database) -> None:
    """Every inbox, outbox and receipts row reads channel "sms"."""
    async with db.read() as conn:
        for table, count in ((schema.inbox, 4), (schema.outbox, 3), (schema.receipts, 5)):
            rows = (
                await conn.execute(sa.select(table.c.channel, sa.func.count()).group_by(table.c.channel))
            ).all()
            assert [tuple(r) for r in rows] == [("sms", count)], table.name


async def test_0017_keeps_every_row_and_gives_each_person_their_sms_address(empty_url: str) -> None:
    db, tables, _ = await at_0016(empty_url)
    try:
        before, before_shape = await snapshot(db, tables), await shape(db)
        assert all(before.values()), before  # every table of 0016 has rows

        await db.migrate()  # as `textwire migrate` does: to the newest revision
        assert await db.revision() == head_revision()  # 0017, and the revisions after it
        assert await snapshot(db, tables) == before
        await check_addresses(db)
        await check_channels(db)

        await alembic(empty_url, "downgrade", BEFORE)
        assert await shape(db) == before_shape  # the tables, constraints, indexes (and conditions) of 0016
        assert await snapshot(db, tables) == before  # nothing cascaded or nulled on the way down

        await db.migrate()
        assert await snapshot(db, tables) == before
        await check_addresses(db)
        await check_channels(db)
    finally:
        await db.close()


async def test_the_code_of_0016_keeps_working_against_0017(empty_url: str) -> None:
    """During a rolling upgrade processes of the previous version write to the new schema with
    the tables they know: their rows read "sms"; a person they delete takes their addresses
    along; a person they create gets an address as soon as today's code meets them."""
    db, old, ids = await at_0016(empty_url)
    try:
        await db.migrate()
        async with db.tx() as conn:
            await conn.execute(sa.insert(old.tables["users"]).values(phone="+15550000077", created_at=NOW))
            await conn.execute(
                sa.insert(old.tables["inbox"]).values(
                    message_sid="SMold", from_phone="+15550000077", to_phone="+1555999000", received_at=NOW
                )
            )
            await conn.execute(
                sa.insert(old.tables["outbox"]).values(
                    dedupe_key="old:1", to_phone=BOB, body="hi", created_at=NOW
                )
            )
            await conn.execute(
                sa.insert(old.tables["receipts"]).values(
                    id="r-old", room_id=ids["room"], uploader_id=ids["bob"], message_sid="MMold", media_index=0,
                    object_key="receipts/old.jpg", content_type="image/jpeg", size=1, sha256="0" * 64, created_at=NOW,
                )
            )  # fmt: skip
            await conn.execute(sa.delete(old.tables["users"]).where(old.tables["users"].c.id == ids["bob"]))
        async with db.read() as conn:
            for table, key in (
                (schema.inbox, schema.inbox.c.message_sid == "SMold"),
                (schema.outbox, schema.outbox.c.dedupe_key == "old:1"),
                (schema.receipts, schema.receipts.c.id == "r-old"),
            ):
                assert (await conn.execute(sa.select(table.c.channel).where(key))).scalar_one() == "sms"
            assert await users.addresses_of(conn, ids["bob"]) == []  # gone with Bob
            newcomer = await users.get_by_phone(conn, "+15550000077")
            assert newcomer is not None
            assert await users.addresses_of(conn, newcomer.id) == []  # created by the old code
        async with db.tx() as conn:
            again, created = await users.get_or_create(conn, "+15550000077", NOW + 1)
            assert (again.id, created) == (newcomer.id, False)
            assert [
                (a.channel, a.address, a.opted_out) for a in await users.addresses_of(conn, newcomer.id)
            ] == [("sms", "+15550000077", False)]
        await check_addresses(db)
    finally:
        await db.close()


async def test_todays_code_reads_what_0017_migrated(empty_url: str) -> None:
    """People found by address, the room's password, the balances, the X tokens, and the queued
    messages both ways, as the running code reads them."""
    db, _, ids = await at_0016(empty_url)
    try:
        await db.migrate()
        async with db.tx() as conn:
            for phone in (ALICE, BOB, CAROL, DAVE):
                by_address = await users.get_by_address(conn, address_of(phone).channel, phone)
                assert by_address is not None
                assert by_address == await users.get_by_phone(conn, phone)
            assert await users.get_by_address(conn, "sms", FORMER) is None
            assert [
                (a.channel, a.address, a.opted_out) for a in await users.addresses_of(conn, ids["carol"])
            ] == [("sms", CAROL, True)]
            room = await rooms.get(conn, ids["room"])
            assert room is not None
            assert await rooms.verify_password(PASSWORD, room.password_hash)
            assert await rooms.is_member(conn, ids["carol"], ids["room"])
            ledger = await room_ledger(conn, ids["room"])
            # 90.00 by Alice for three, 10.01 by Bob for two (the odd cent his), 6.00 by the former
            # member for two, Carol paid Alice 20.00; Carol's EUR receipt is not counted
            assert ledger.net == {
                ids["alice"]: 3200,
                ids["bob"]: -2500,
                ids["carol"]: -1000,
                ids["former"]: 300,
            }
            assert ledger.uncounted == 1
            # the gallery's and statement's lines (reading what 0029 added: nothing converted yet)
            ids_of = [str(r) for r in (await conn.execute(sa.text("SELECT id FROM receipts"))).scalars()]
            view = await ledger_view(conn, ids["room"], ids_of)
            assert sorted(line.amount for line in view.receipts.values() if line.amount) == [
                "$10.01", "$6.00", "$90.00", "€5.00 (not counted)",
            ]  # fmt: skip
            tokens = await load_tokens(in_tx(conn), ids["alice"])
            assert tokens is not None
            assert tokens.version == 3
            assert TokenCipher([KEY]).decrypt(ids["alice"], tokens.ciphertext) == {
                "access_token": "at-alice",
                "refresh_token": "rt-alice",
            }
            claimed = await inbox.QUEUE.claim(conn, now=time.time(), limit=10, owner="w", lease=60)
            assert [r.message_sid for r in claimed] == [
                "SMstop",
                "SMbob1",
            ]  # priority first; Bob's second waits
            sends = await outbox.QUEUE.claim(conn, now=NOW, limit=10, owner="s", lease=60)
            assert [r.to_phone for r in sends] == [BOB]  # the link is due later
            await users.set_opted_out(conn, BOB, True, NOW)
            assert [(a.address, a.opted_out) for a in await users.addresses_of(conn, ids["bob"])] == [
                (BOB, True)
            ]
            await users.delete(conn, ids["bob"])
        await check_addresses(db)
    finally:
        await db.close()
