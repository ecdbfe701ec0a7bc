"""The SQLite template of tests/conftest.py: a test's SQLite file is a copy of one file migrated
once per session, as `serve` would have made it; a test marked `fresh_database` gets none."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from storage.db import Database, head_revision, sqlite_path


@pytest.fixture
def db_backend() -> str:
    """SQLite only, whatever `TEXTWIRE_TEST_DB` says: the template is the SQLite half's."""
    return "sqlite"


def test_the_template_is_one_checkpointed_file_in_wal_mode_at_the_head(sqlite_template: Path) -> None:
    assert [p.name for p in sqlite_template.parent.iterdir()] == [sqlite_template.name]
    conn = sqlite3.connect(f"{sqlite_template.as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
    finally:
        conn.close()


def test_a_tests_database_is_a_copy_of_the_template_made_as_serve_makes_it(
    database_url: str, sqlite_template: Path
) -> None:
    path = sqlite_path(database_url)
    assert path is not None
    assert path.read_bytes() == sqlite_template.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_the_db_fixture_opens_the_copy_at_the_head_with_nothing_in_it(db: Database) -> None:
    assert await db.revision() == head_revision()
    async with db.read() as conn:
        assert (await conn.exec_driver_sql("SELECT count(*) FROM users")).scalar() == 0


@pytest.mark.fresh_database
def test_a_test_marked_fresh_database_gets_no_file(database_url: str) -> None:
    path = sqlite_path(database_url)
    assert path is not None
    assert not path.exists()
    assert not path.parent.exists()


@pytest.mark.fresh_database
async def test_its_db_fixture_migrates_a_new_file(db: Database) -> None:
    assert await db.revision() == head_revision()
