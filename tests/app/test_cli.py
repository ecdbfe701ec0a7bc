"""`textwire migrate --check` (issue 27, upgrading): what a deploy script asks before it starts new
code. Real processes on a real SQLite file; PostgreSQL unreachable."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

from storage.db import head_revision
from tests.app.test_backup import cli_env, run_cli


def test_migrate_check_says_current_behind_or_ahead_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "data" / "textwire.db"
    missing = run_cli(tmp_path, "migrate", "--check")
    assert missing.returncode == 1, missing.stderr
    assert "does not exist yet: run `textwire migrate`" in missing.stdout
    assert not db.exists()
    assert not (tmp_path / "data").exists()  # a check makes nothing, not even the folder

    assert run_cli(tmp_path, "migrate").returncode == 0
    current = run_cli(tmp_path, "migrate", "--check")
    assert (current.returncode, current.stdout.strip()) == (
        0,
        f"database at revision {head_revision()}: current",
    )

    with sqlite3.connect(db) as conn:  # as a database the previous release left
        conn.execute("UPDATE alembic_version SET version_num = '0023'")
    behind = run_cli(tmp_path, "migrate", "--check")
    assert behind.returncode == 1
    assert behind.stdout.strip() == (
        f"database at revision 0023, this version needs {head_revision()}: run `textwire migrate`"
    )

    with sqlite3.connect(db) as conn:  # as a newer textwire would leave it
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    ahead = run_cli(tmp_path, "migrate", "--check")
    assert ahead.returncode == 2
    assert "does not know: a newer textwire migrated it" in ahead.stdout


def test_migrate_check_of_a_database_that_cannot_be_reached_is_2(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    env = cli_env(tmp_path) | {"TEXTWIRE_DATABASE_URL": f"postgresql://u:secret@127.0.0.1:{port}/textwire"}
    result = run_cli(tmp_path, "migrate", "--check", env=env)
    assert result.returncode == 2
    assert "cannot connect" in result.stderr
    assert "secret" not in result.stderr + result.stdout
