"""Migration 0029 (what `\\AMOUNT 678 JPY @0.006667` converted, kept on the receipt) on a database
in use: filled as 0017's test fills it, brought to 0028 (the schema before this one), upgraded
(every row of every table kept, the new columns empty), a conversion stored and read back as the
gallery shows it, then downgraded (the amounts kept, only their origin gone) and upgraded again.
On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from bot.features.ledger.view import ledger_view
from storage import ledger
from storage.db import head_revision
from tests.storage.test_migration_0017 import (  # noqa: F401 (fixture)
    alembic,
    at_0016,
    empty_url,
    reflect,
    shape,
    snapshot,
)

ORIGINAL = ("original_minor", "original_currency", "original_rate")


async def test_0029_keeps_every_row_and_stores_what_a_rate_converted(empty_url: str) -> None:  # noqa: F811
    db, _, ids = await at_0016(empty_url)
    try:
        await alembic(empty_url, "upgrade", "0028")
        tables = await reflect(db)
        assert not set(ORIGINAL) & set(tables.tables["receipts"].c.keys())
        before, before_shape = await snapshot(db, tables), await shape(db)
        # every table 0016 had holds rows (those made since are empty: a room's receipts matter here)
        assert all(before[name] for name in ("users", "rooms", "receipts", "receipt_members", "payments"))

        await db.migrate()  # as `textwire migrate` does
        assert await db.revision() == head_revision()
        assert await snapshot(db, tables) == before
        async with db.read() as conn:
            found = (await conn.execute(sa.text("SELECT id, original_minor, original_currency, original_rate FROM receipts"))).all()  # fmt: skip
        assert found
        assert {tuple(r)[1:] for r in found} == {(None, None, None)}

        receipt_id = str(found[0][0])
        async with db.tx() as conn:
            await ledger.set_amount(
                conn,
                receipt_id,
                minor=452,
                currency="USD",
                source="manual",
                original=(678, "JPY", "0.006667"),
            )
        async with db.read() as conn:
            view = await ledger_view(conn, ids["room"], [receipt_id])
        assert view.receipts[receipt_id].amount == "$4.52 (¥678 at 0.006667)"

        await alembic(empty_url, "downgrade", "0028")
        assert await shape(db) == before_shape
        after = await snapshot(db, tables)
        amounts = {r[0]: r for r in after["receipts"]}
        column = list(tables.tables["receipts"].c.keys()).index("amount_minor")
        assert amounts[receipt_id][column] == 452  # the amount stays; only where it came from is gone

        await db.migrate()
        async with db.read() as conn:
            again = (await conn.execute(sa.text("SELECT original_minor FROM receipts"))).scalars().all()
        assert set(again) == {None}
    finally:
        await db.close()
