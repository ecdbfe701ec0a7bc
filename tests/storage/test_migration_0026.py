"""Migration 0026 (x_revocations) on a database in use: a linked user's tokens kept across the
upgrade, the new table usable, then downgraded and upgraded again. On a SQLite file and on
PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

from storage import xaccounts
from storage.db import Database, head_revision
from tests.storage.test_migration_0017 import alembic, empty_url, on  # noqa: F401 (fixture)

NOW = 1_790_000_000.0


async def test_0026_upgrades_downgrades_and_upgrades_again(empty_url: str) -> None:  # noqa: F811
    await alembic(empty_url, "upgrade", "0025")
    async with on(empty_url) as conn:
        await conn.execute(
            sa.text("INSERT INTO users (phone, created_at) VALUES ('+15550000001', :now)"), {"now": NOW}
        )
        user_id = (await conn.execute(sa.text("SELECT id FROM users"))).scalar_one()
        await conn.execute(
            sa.text(
                "INSERT INTO x_tokens (user_id, ciphertext, expires_at, version, updated_at)"
                " VALUES (:u, 'ct', :now, 1, :now)"
            ),
            {"u": user_id, "now": NOW},
        )
    await alembic(empty_url, "upgrade", "0026")
    async with on(empty_url) as conn:
        queued = await xaccounts.queue_revocation(
            conn, user_id=user_id, ciphertext="ct2", now=NOW, claim_until=NOW + 300
        )
        assert await xaccounts.claim_revocations(conn, now=NOW, until=NOW + 600, limit=10) == []
        [claimed] = await xaccounts.claim_revocations(conn, now=NOW + 300, until=NOW + 600, limit=10)
        assert claimed.id == queued.id
        assert claimed.attempts == 0
        assert (await conn.execute(sa.text("SELECT ciphertext FROM x_tokens"))).scalar_one() == "ct"
    await alembic(empty_url, "downgrade", "0025")
    db = Database(empty_url)
    try:
        async with db.read() as conn:
            tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            assert "x_revocations" not in tables
            assert (await conn.execute(sa.text("SELECT count(*) FROM x_tokens"))).scalar_one() == 1
    finally:
        await db.close()
    await alembic(empty_url, "upgrade", "0026")


async def test_a_migration_on_opening_says_from_which_revision(empty_url: str) -> None:  # noqa: F811
    """`serve` migrates the embedded SQLite database by itself (README: Upgrading): after a new
    release started on a database of the one before, no line of its log said the schema had
    moved (the operator learnt it from `--version`, or when rolling back failed)."""
    from structlog.testing import capture_logs

    from storage.db import head_revision, open_database

    await alembic(empty_url, "upgrade", "0025")
    with capture_logs() as logs:
        db = await open_database(empty_url, migrate=True)
        await db.close()
    upgraded = [e for e in logs if e["event"] == "db.upgraded"]
    assert [(e["from_revision"], e["revision"]) for e in upgraded] == [("0025", head_revision())]
    with capture_logs() as logs:  # current: nothing to say
        db = await open_database(empty_url, migrate=True)
        await db.close()
    assert [e for e in logs if e["event"] == "db.upgraded"] == []


async def test_0026_upgrades_a_restored_backup_whose_table_was_left_behind(empty_url: str) -> None:  # noqa: F811
    """Rolling back as README says on PostgreSQL (`pg_restore --clean --if-exists` of the backup
    made before the upgrade) drops and restores only what the dump holds: x_revocations, made
    by 0026, stays while alembic_version says the revision before. Upgrading again then failed
    ("relation x_revocations already exists") with a message about a full disk, however often
    it was run: the operator could neither upgrade nor tell why. The table left behind (and the
    revocations it still holds) is kept and the upgrade goes on."""
    await alembic(empty_url, "upgrade", "0026")
    async with on(empty_url) as conn:
        await xaccounts.queue_revocation(conn, user_id=7, ciphertext="left", now=NOW, claim_until=NOW)
        # what the restored dump of a 0025 database says, with the newer table still there
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0025'"))
    await alembic(empty_url, "upgrade", "head")
    async with on(empty_url) as conn:
        assert (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalar_one() == (
            head_revision()
        )
        [left] = await xaccounts.claim_revocations(conn, now=NOW, until=NOW + 600, limit=10)
        assert left.ciphertext == "left"
