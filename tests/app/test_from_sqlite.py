"""`textwire migrate --from sqlite:///PATH`: a SQLite service's database, filled by the bot itself,
moved by the command (a real process) into a new PostgreSQL database, where the bot then goes on
with the same people, rooms, ledger, photos, X tokens and queued messages; and what it refuses."""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import inbox, outbox
from storage.db import head_revision, open_database
from storage.schema import metadata
from tests import images
from tests.app.test_backup import cli_env, run_cli
from tests.conftest import ALICE, BOB, BotFactory, make_xbot, new_message, wait_for
from tests.fakes.twilio_rest import FakeTwilio
from tests.fakes.x_api import FakeX
from tests.features.receipts.test_media import mms, say
from tests.pg import PgServer, asyncpg_connect, run_sync

CAROL = "+15550003333"


def digest(path: Path) -> dict[str, str]:
    """The database file and its -wal, as bytes: what the copy must leave as it found them."""
    found = {}
    for file in (path, path.with_name(path.name + "-wal")):
        if file.exists():
            found[file.name] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def sqlite_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return {
            t.name: conn.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]  # noqa: S608 - the schema's names
            for t in metadata.sorted_tables
        }
    finally:
        conn.close()


async def pg_counts(url: str) -> dict[str, int]:
    conn = await asyncpg_connect(url)
    try:
        return {
            t.name: await conn.fetchval(f"SELECT count(*) FROM {t.name}")  # noqa: S608 - the schema's names
            for t in metadata.sorted_tables
        }
    finally:
        await conn.close()


def new_pg_database(server: PgServer, suffix: str) -> str:
    """An empty database, not even migrated (what `createdb` makes), named as the suite's are so a
    run that was killed has it dropped by the next one."""
    name = f"{server.tag}_{suffix}"
    server.admin_execute(f'CREATE DATABASE "{name}"')
    return name


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_a_sqlite_service_moves_to_postgresql_and_goes_on_there(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    fake_x: FakeX,
    pg_server_or_skip: PgServer,
    tmp_path: Path,
) -> None:
    # a SQLite service, used: X linked (tokens encrypted), a room with receipts, a split, a payment
    before = await make_xbot(bot_factory, fake_twilio, fake_x)
    sqlite_url = before.config.database.url
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    await before.link(ALICE)
    await say(before, fake_twilio, "\\CREATE house pw")
    await say(before, fake_twilio, "\\JOIN house pw", sender=BOB)
    await say(before, fake_twilio, "\\NAME Ann")
    await say(before, fake_twilio, "\\NAME Bob", sender=BOB)
    photos = [fake_twilio.media.add(images.jpeg_with_gps()) for _ in range(3)]
    assert (await say(before, fake_twilio, "$30.00", **mms(photos[:1]))).startswith("Saved $30.00 to house")
    assert (await say(before, fake_twilio, "\\SPLIT Ann 2 Bob 1")).startswith("Split $30.00")
    assert (await say(before, fake_twilio, "$12.00", sender=BOB, **mms(photos[1:]))).startswith("Saved 2")
    await say(before, fake_twilio, "\\PAID Bob 5")
    await say(before, fake_twilio, "posted before the move")
    assert fake_x.posts == [(fake_x.posts[0][0], "posted before the move")]
    balance = await say(before, fake_twilio, "\\BALANCE")
    await before.client.close()  # `serve` stopped

    # what it left queued: a text not handled yet, a reply not sent yet
    db = await open_database(sqlite_url, migrate=False)
    try:
        await inbox.insert_new(db, [new_message(body="posted after the move", received_at=fake_x.now)])
        async with db.tx() as conn:
            await outbox.enqueue(
                conn, to=BOB, body="a reply queued before the move", dedupe_key="q1", now=fake_x.now
            )
        async with db.read() as conn:
            largest = {
                t.name: (await conn.execute(sa.select(sa.func.max(t.c.id)))).scalar()
                for t in metadata.sorted_tables
                if t.autoincrement_column is not None
            }
    finally:
        await db.close()
    counts = sqlite_counts(path)
    assert counts["users"] == 2
    assert counts["receipts"] == 3
    assert counts["receipt_members"] == 6
    assert counts["payments"] == 1
    assert counts["x_tokens"] == 1
    assert counts["inbox"] > 10
    left_as_it_was = digest(path)

    server = pg_server_or_skip
    name = new_pg_database(server, "moved")
    pg_url = server.url_of(name)
    stack = contextlib.AsyncExitStack()
    try:
        moved = run_cli(
            tmp_path,
            "migrate",
            "--from",
            sqlite_url,
            env=cli_env(tmp_path) | {"TEXTWIRE_DATABASE_URL": pg_url},
        )
        assert moved.returncode == 0, moved.stdout + moved.stderr
        # its lines; the log's JSON events go to stdout as well (as `textwire migrate`'s)
        *lines, last = [line for line in moved.stdout.strip().splitlines() if not line.startswith("{")]
        assert f"copied {sum(counts.values())} rows of {len(counts)} tables from {sqlite_url}" in last
        assert "textwire:***@" in last
        assert "textwire:textwire@" not in moved.stdout + moved.stderr
        assert lines == [f"{table}: {rows} row{'' if rows == 1 else 's'}" for table, rows in counts.items()]
        assert digest(path) == left_as_it_was  # read, never written
        assert await pg_counts(pg_url) == counts

        # the same service on PostgreSQL: same data folder (keys, photos), same settings
        after = await make_xbot(bot_factory, fake_twilio, fake_x, database={"url": pg_url})
        stack.push_async_callback(after.client.close)  # stopped before its database is dropped
        assert await after.scalar("SELECT version_num FROM alembic_version") == head_revision()

        async def queued_went_out() -> bool:
            return any(m["Body"] == "a reply queued before the move" for m in fake_twilio.messages)

        await wait_for(queued_went_out)

        async def posted() -> bool:  # the queued text, posted with the tokens decrypted on PostgreSQL
            return any(text == "posted after the move" for _, text in fake_x.posts)

        await wait_for(posted)
        await after.settled()  # its reply sent too, unless the reply budget holds it back:
        # Ann's replies of the last minutes are past her number's budget, so the post's reply may
        # wait for its time, and once due it went out during the `\\BALANCE` below and was taken
        # for its answer (under load, once in a while). Past its time, it is sent first.
        fake_x.advance(600)
        after.runtime.sender.wake()
        await after.settled()
        assert not await after.scalar("SELECT count(*) FROM outbox WHERE status = 'queued'")
        assert await say(after, fake_twilio, "\\BALANCE") == balance
        link = re.search(r"https?://\S+", await say(after, fake_twilio, "\\RECEIPTS"))
        assert link is not None
        page = await after.client.get(link.group(0).split(after.config.public_base, 1)[1])
        assert page.status == 200
        text = await page.text()
        assert "3 receipts, newest first" in text
        thumb = re.search(r'<img src="([^"]+)"', text)
        assert thumb is not None
        picture = await after.client.get(
            thumb.group(1).replace("&amp;", "&").split(after.config.public_base, 1)[1]
        )
        assert picture.status == 200
        assert (await picture.read()).startswith(b"\xff\xd8\xff")

        # new rows take new ids: each sequence was set past the largest id copied
        await say(after, fake_twilio, "hello", sender=CAROL)
        assert await after.scalar("SELECT id FROM users WHERE phone = :p", p=CAROL) == largest["users"] + 1
        await say(after, fake_twilio, "\\PAID Ann 1", sender=BOB)
        assert await after.scalar("SELECT max(id) FROM payments") == largest["payments"] + 1
        assert (
            await after.scalar("SELECT min(id) FROM inbox WHERE id > :n", n=largest["inbox"])
            == largest["inbox"] + 1
        )
    finally:
        await stack.aclose()
        server.drop_database(name)


def _migrated_sqlite(tmp_path: Path) -> Path:
    done = run_cli(tmp_path, "migrate")
    assert done.returncode == 0, done.stderr
    return tmp_path / "data" / "textwire.db"


def test_what_it_refuses_is_one_line_and_exit_2(tmp_path: Path, pg_server_or_skip: PgServer) -> None:
    server = pg_server_or_skip
    source = _migrated_sqlite(tmp_path)
    url = f"sqlite:///{source}"
    name = new_pg_database(server, "refusals")
    pg_env = cli_env(tmp_path) | {"TEXTWIRE_DATABASE_URL": server.url_of(name)}

    def refused(*args: str, env: dict[str, str] = pg_env) -> str:
        result = run_cli(tmp_path, "migrate", "--from", *args, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        [line] = result.stderr.strip().splitlines()
        assert "Traceback" not in result.stderr
        assert "textwire:textwire@" not in line
        return line

    async def tables() -> list[str]:
        conn = await asyncpg_connect(server.url_of(name))
        try:
            return [
                r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ]
        finally:
            await conn.close()

    try:
        # a target that is not PostgreSQL (the SQLite file itself, say)
        assert refused(url, env=cli_env(tmp_path)).endswith(
            "is not PostgreSQL: `textwire migrate --from` copies into PostgreSQL: set database.url or "
            "TEXTWIRE_DATABASE_URL to the new, empty PostgreSQL database"
        )
        # a source that is no SQLite file: another URL, a missing file, a file of something else
        assert (
            "--from postgresql://u:***@db/x is not a SQLite file: give the SQLite database as sqlite:///PATH"
            in (refused("postgresql://u:secret@db/x"))
        )
        # the database's path as it is: said to be "not a SQLite file" when it was one
        bare = refused(str(source))
        assert bare.endswith(f"--from {source} is a path: give it as a URL, --from sqlite:///{source}")
        assert "not a SQLite" not in bare
        assert f"there is no file at {tmp_path}/data/textwre.db" in refused(
            f"sqlite:///{tmp_path}/data/textwre.db"
        )
        (tmp_path / "notes.txt").write_text("not a database\n" * 10)
        assert "notes.txt is not a SQLite database" in refused(f"sqlite:///{tmp_path}/notes.txt")
        # a source behind this release: migrate it first
        with sqlite3.connect(source) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0023'")
        assert refused(url).endswith(
            f"is at revision 0023, this version copies from {head_revision()}: run this release's "
            f"`textwire migrate` (or `serve`) on it first, with TEXTWIRE_DATABASE_URL={url}, then this command again"
        )
        with sqlite3.connect(source) as conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (head_revision(),))
            # a serve still running on it (its heartbeat is fresh)
            conn.execute(
                "INSERT INTO processes (id, started_at, heartbeat_at) VALUES ('p', ?, ?)", (time.time(),) * 2
            )
        assert "a textwire process still runs on it" in refused(url)
        with sqlite3.connect(source) as conn:
            conn.execute("DELETE FROM processes")
        assert run_sync(tables) == []  # none of these touched the target

        # a target that already holds rows: not even migrated further
        filled = server.create_database()  # migrated, as a PostgreSQL service's
        try:
            server_exec(server, filled, "INSERT INTO users (phone, created_at) VALUES ('+15550009999', 1)")
            line = refused(url, env=cli_env(tmp_path) | {"TEXTWIRE_DATABASE_URL": server.url_of(filled)})
            assert (
                "already holds rows (users): `textwire migrate --from` copies into an empty database only"
                in line
            )
        finally:
            server.drop_database(filled)

        # the same file, as it is, copies
        ok = run_cli(tmp_path, "migrate", "--from", url, env=pg_env)
        assert ok.returncode == 0, ok.stderr
        assert "copied 0 rows of" in ok.stdout
        again = run_cli(tmp_path, "migrate", "--from", url, env=pg_env)  # migrated, still empty
        assert again.returncode == 0, again.stderr
    finally:
        server.drop_database(name)


def server_exec(server: PgServer, name: str, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg_connect(server.url_of(name))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_sync(run)
