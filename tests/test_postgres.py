"""PostgreSQL support: URLs (masked, libpq options), migrations (concurrent, checked at start-up),
and statements that stay right with several processes on one database."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from bot.app.startup import open_db_waiting
from bot.core.dburl import DatabaseError, DatabaseUnreachable, mask_url, pg_connect_args
from storage import outbox
from storage.db import Database, SchemaNotCurrent, open_database
from storage.lean import in_tx
from storage.schema import inbox as inbox_table
from storage.schema import outbox as outbox_table
from tests import ROOT, pg
from tests.conftest import wait_for
from tests.ports import free_port


def test_mask_url_hides_the_password_and_only_it() -> None:
    assert mask_url("postgresql://tw:s3cr%40t@db.internal:5432/tw?sslmode=require") == (
        "postgresql://tw:***@db.internal:5432/tw?sslmode=require"
    )
    assert (
        mask_url("postgresql://db/tw?user=tw&password=hunter2") == "postgresql://db/tw?user=tw&password=***"
    )
    assert mask_url("postgresql://tw@db/tw") == "postgresql://tw@db/tw"
    assert mask_url("sqlite:///data/textwire.db") == "sqlite:///data/textwire.db"


def test_libpq_options_become_asyncpg_arguments() -> None:
    dsn, kwargs = pg_connect_args(
        "postgresql://tw:pw@db:5432/tw?sslmode=verify-full&sslrootcert=/etc/ca.pem&connect_timeout=7"
        "&application_name=textwire"
    )
    # asyncpg reads sslmode/sslrootcert from the DSN; connect_timeout is its `timeout`
    assert (
        dsn
        == "postgresql://tw:pw@db:5432/tw?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=textwire"
    )
    assert kwargs == {"timeout": 7.0}
    assert pg_connect_args("postgres://db/tw")[0] == "postgresql://db/tw"
    with pytest.raises(DatabaseError, match="connect_timeout"):
        pg_connect_args("postgresql://db/tw?connect_timeout=soon")
    for broken in ("postgresql://tw:hunter2@db:notaport/tw", "postgresql://tw:hunter2@[::1/tw"):
        with pytest.raises(DatabaseError, match=r"database\.url") as info:
            pg_connect_args(broken)
        assert "hunter2" not in str(info.value)


def test_a_bad_database_url_is_a_config_error_without_the_password() -> None:
    from bot.core.config import ConfigError, load_config

    with pytest.raises(ConfigError) as info:
        load_config(None, env={"TEXTWIRE_DATABASE_URL": "mysql://root:hunter2@db/tw"})
    assert "database.url" in str(info.value)
    assert "hunter2" not in str(info.value)


async def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    port = free_port()
    with pytest.raises(DatabaseError) as info:
        await open_database(f"postgresql://tw:hunter2@127.0.0.1:{port}/tw?connect_timeout=3", migrate=False)
    message = str(info.value)
    assert "hunter2" not in message
    assert "\n" not in message
    assert f"postgresql://tw:***@127.0.0.1:{port}/tw" in message


# -- on a real PostgreSQL server -------------------------------------------------------------------


@pytest.fixture
def empty_pg_database(pg_server_or_skip: pg.PgServer) -> Any:
    """A new PostgreSQL database with no tables (not from the migrated template)."""
    server = pg_server_or_skip
    name = f"{server.tag}_empty_{time.monotonic_ns()}"

    async def create() -> None:
        conn = await server._admin()
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    pg.run_sync(create)
    yield server.url_of(name)
    server.drop_database(name)


async def test_migrate_run_twice_at_once_on_postgresql(empty_pg_database: str) -> None:
    dbs = [Database(empty_pg_database) for _ in range(3)]
    try:
        await asyncio.gather(*(db.migrate() for db in dbs))
        await dbs[0].check_schema()
    finally:
        for db in dbs:
            await db.close()


async def test_serve_refuses_a_database_that_is_not_migrated(empty_pg_database: str) -> None:
    with pytest.raises(SchemaNotCurrent, match="is not migrated: run `textwire migrate`"):
        await open_database(empty_pg_database, migrate=False, check=True)
    db = await open_database(empty_pg_database, migrate=True)
    async with db.tx() as conn:
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    await db.close()
    with pytest.raises(SchemaNotCurrent, match="a newer textwire migrated it: run that release"):
        await open_database(empty_pg_database, migrate=False, check=True)
    with pytest.raises(SchemaNotCurrent, match="at revision ffff, which this version does not know"):
        await open_database(empty_pg_database, migrate=True)


def test_cli_serve_on_an_unmigrated_database_is_one_line_and_exit_2(
    empty_pg_database: str, tmp_path: Path
) -> None:
    url = empty_pg_database
    env = {
        "PATH": "/usr/bin:/bin",
        "TEXTWIRE_DATABASE_URL": url,
        "TEXTWIRE_SERVER_DATA_DIR": str(tmp_path / "data"),
        "TEXTWIRE_SERVER_PORT": str(free_port()),
    }
    serve = _cli("serve", env, tmp_path)
    assert serve.returncode == 2, serve.stderr
    lines = serve.stderr.strip().splitlines()
    assert len(lines) == 1, serve.stderr
    assert "run `textwire migrate`" in lines[0]
    password = urlsplit(url).password
    if password:
        assert f":{password}@" not in serve.stderr + serve.stdout
    migrate = _cli("migrate", env, tmp_path)
    assert migrate.returncode == 0, migrate.stderr
    assert "database at revision" in migrate.stdout


def test_cli_keys_rotate_refuses_an_unmigrated_database_and_migrates_nothing(
    empty_pg_database: str, tmp_path: Path
) -> None:
    """Only `textwire migrate` migrates PostgreSQL: a rotation on the wrong (empty) database said
    "re-encrypted 0 rows", exit 0, after migrating it."""
    from cryptography.fernet import Fernet

    env = {
        "PATH": "/usr/bin:/bin",
        "TEXTWIRE_DATABASE_URL": empty_pg_database,
        "TEXTWIRE_SERVER_DATA_DIR": str(tmp_path / "data"),
        "TEXTWIRE_SECURITY_FERNET_KEYS": Fernet.generate_key().decode(),
    }
    rotate = _cli("keys", env, tmp_path, "rotate")
    assert rotate.returncode == 2, rotate.stdout + rotate.stderr
    lines = rotate.stderr.strip().splitlines()
    assert len(lines) == 1, rotate.stderr
    assert "is not migrated: run `textwire migrate`" in lines[0]
    assert "re-encrypted" not in rotate.stdout

    async def tables() -> list[str]:
        conn = await pg.asyncpg_connect(empty_pg_database)
        try:
            return [
                r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ]
        finally:
            await conn.close()

    assert pg.run_sync(tables) == []  # not migrated behind the operator's back


def _cli(command: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bot", command, *args],
        env={**env, "PYTHONPATH": str(ROOT)},  # this checkout's code, not the one installed
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _queue_sent_row(db: Database, sid: str) -> None:
    async with db.tx() as conn:
        await outbox.enqueue(conn, to="+15550001111", body="hi", dedupe_key=sid, now=time.time())
        await conn.execute(
            sa.update(outbox_table)
            .where(outbox_table.c.dedupe_key == sid)
            .values(status="sent", twilio_sid=sid, delivery_status="queued")
        )


async def _callback(db: Database, sid: str, status: str, start: asyncio.Event) -> bool:
    await start.wait()
    async with db.tx() as conn:
        return await outbox.record_delivery(conn, sid, status, None, time.time())


async def test_sent_and_delivered_at_once_to_two_processes_end_delivered(database_url: str) -> None:
    """Two engines (two processes' pools) on one database get `sent` and `delivered` for one
    message at the same moment; the row ends `delivered` every time."""
    one, two = Database(database_url), Database(database_url)
    await one.migrate()  # a no-op: from the migrated template already (tests/conftest.py)
    try:
        for i in range(50):
            sid = f"SM{i:032d}"
            await _queue_sent_row(one, sid)
            start = asyncio.Event()
            # `delivered` is started first half of the time, `sent` first the other half
            pair = [(one, "sent"), (two, "delivered")]
            if i % 2:
                pair.reverse()
            tasks = [asyncio.create_task(_callback(db, sid, status, start)) for db, status in pair]
            await asyncio.sleep(0)
            start.set()
            await asyncio.gather(*tasks)
            async with one.read() as conn:
                status = (
                    await conn.execute(
                        sa.select(outbox_table.c.delivery_status).where(outbox_table.c.twilio_sid == sid)
                    )
                ).scalar()
            assert status == "delivered", f"pair {i}"
        async with one.tx() as conn:  # a late `sent` never moves a row back
            assert not await outbox.record_delivery(conn, "SM" + "0" * 32, "sent", None, time.time())
    finally:
        await one.close()
        await two.close()


async def test_saving_tokens_twice_at_once_keeps_one_row_and_stops_a_refresh(database_url: str) -> None:
    from storage import users, xaccounts

    one, two = Database(database_url), Database(database_url)
    await one.migrate()  # a no-op: from the migrated template already (tests/conftest.py)
    try:
        async with one.tx() as conn:
            user, _ = await users.get_or_create(conn, "+15550001111", time.time())
            await xaccounts.save_tokens(conn, user_id=user.id, ciphertext="a", expires_at=1.0, now=1.0)
            lease = await xaccounts.take_lease(conn, user_id=user.id, owner="refresher", now=1.0)
        assert lease is not None

        async def save(db: Database, text: str) -> None:
            async with db.tx() as conn:
                await xaccounts.save_tokens(conn, user_id=user.id, ciphertext=text, expires_at=2.0, now=2.0)

        await asyncio.gather(save(one, "b"), save(two, "c"))
        async with one.tx() as conn:
            row = await xaccounts.load_tokens(in_tx(conn), user.id)
            assert row is not None
            assert row.ciphertext in ("b", "c")
            # the refresh that leased the old pair cannot overwrite the new one
            assert not await xaccounts.finish_refresh(
                conn,
                user_id=user.id,
                owner="refresher",
                version=lease.version,
                ciphertext="stale",
                expires_at=3.0,
                now=3.0,
            )
    finally:
        await one.close()
        await two.close()


def test_cli_on_an_unreachable_server_exits_2_without_the_password(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "TEXTWIRE_DATABASE_URL": f"postgresql://tw:hunter2@127.0.0.1:{free_port()}/tw",
        "TEXTWIRE_SERVER_DATA_DIR": str(tmp_path / "data"),
    }
    for command in (["migrate"], ["migrate", "--check"], ["keys", "rotate"]):  # at once (serve waits)
        run = _cli(command[0], env, tmp_path, *command[1:])
        assert run.returncode == 2, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert "cannot connect" in run.stderr
        assert "hunter2" not in run.stderr + run.stdout


async def test_the_migrations_create_exactly_the_schema_module(database_url: str) -> None:
    """Alembic's autogenerate diff between storage/schema.py and the migrated database is empty,
    on SQLite and on PostgreSQL (types and server defaults compared too)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from storage.schema import metadata

    db = await open_database(database_url, migrate=True)
    try:
        async with db.engine.connect() as conn:

            def diff(sync_conn: sa.Connection) -> list[Any]:
                def on_this_database(obj: Any, *_: Any) -> bool:  # an index only for PostgreSQL
                    only = getattr(obj, "_ddl_if", None)
                    return only is None or only.dialect in (None, sync_conn.dialect.name)

                context = MigrationContext.configure(
                    sync_conn,
                    opts={
                        "compare_type": True,
                        "compare_server_default": _defaults_differ,
                        "include_object": on_this_database,
                    },
                )
                return list(compare_metadata(context, metadata))

            differences = await conn.run_sync(diff)
    finally:
        await db.close()
    assert differences == [], "\n".join(map(repr, differences))


async def test_every_foreign_key_column_leads_an_index(database_url: str) -> None:
    """Deleting a parent row (the retention purge of inbox rows, an account's deletion) makes the
    database find the children of each one: without an index on the child's column, a scan of
    the child table per deleted row (quadratic for the purge). Checked on the migrated database,
    SQLite and PostgreSQL: each foreign key column is the first of an index, primary key or
    unique constraint."""
    db = await open_database(database_url, migrate=True)
    try:
        async with db.engine.connect() as conn:

            def unindexed(sync_conn: sa.Connection) -> list[str]:
                inspector = sa.inspect(sync_conn)
                missing = []
                for table in inspector.get_table_names():
                    if table == "alembic_version":
                        continue
                    leading = {index["column_names"][0] for index in inspector.get_indexes(table)}
                    leading |= {u["column_names"][0] for u in inspector.get_unique_constraints(table)}
                    leading |= set(inspector.get_pk_constraint(table)["constrained_columns"][:1])
                    for fk in inspector.get_foreign_keys(table):
                        if fk["constrained_columns"][0] not in leading:
                            missing.append(f"{table}.{fk['constrained_columns'][0]}")
                return missing

            missing = await conn.run_sync(unindexed)
    finally:
        await db.close()
    assert missing == []


def _default_text(value: Any) -> str:
    """A server default as reflected or rendered, without quoting, casts or parentheses:
    `'pending'::character varying`, `('pending')` and `'pending'` are all `pending`; SQLite's 0
    and PostgreSQL's false are one Boolean default."""
    text = str(value or "").strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    if "::" in text:
        text = text.split("::", 1)[0]
    text = text.strip("'\"")
    return {"false": "0", "true": "1"}.get(text.lower(), text)


def _defaults_differ(
    _context: Any,
    _inspected_column: Any,
    _metadata_column: Any,
    inspected_default: Any,
    _metadata_default: Any,
    rendered_metadata_default: Any,
) -> bool:
    return _default_text(inspected_default) != _default_text(rendered_metadata_default)


async def test_one_message_sid_inserted_at_once_by_two_processes_is_new_to_one(database_url: str) -> None:
    """Twilio retries a webhook and two processes commit it at the same moment: exactly one of
    them is told the message is new (the other answers it as a duplicate)."""
    from storage import inbox

    one, two = Database(database_url), Database(database_url)
    await one.migrate()
    try:
        for i in range(20):
            message = inbox.NewMessage(
                message_sid=f"SM{i:032x}",
                account_sid="AC",
                from_phone="+15550001111",
                to_phone="+15557654321",
                body="hi",
                media=(),
                opt_out_type="",
                idempotency_token=None,
                priority=0,
                received_at=time.time(),
            )
            start = asyncio.Event()

            async def insert(
                db: Database, message: inbox.NewMessage = message, start: asyncio.Event = start
            ) -> set[str]:
                await start.wait()
                return await inbox.insert_new(db, [message, message])  # the webhook's batch insert

            tasks = [asyncio.create_task(insert(db)) for db in (one, two)]
            await asyncio.sleep(0)
            start.set()
            results = await asyncio.gather(*tasks)
            assert sorted(len(r) for r in results) == [0, 1], f"try {i}: {results}"
    finally:
        await one.close()
        await two.close()


async def test_a_database_migrated_by_newer_code_is_refused_not_migrated(database_url: str) -> None:
    db = await open_database(database_url, migrate=True)
    async with db.tx() as conn:
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
    await db.close()
    for migrate in (True, False):  # `migrate` and `serve` (and `person`, `keys rotate`) say the same
        with pytest.raises(
            SchemaNotCurrent, match="at revision ffff, which this version does not know"
        ) as refused:
            await open_database(database_url, migrate=migrate, check=True)
        # a rollback's advice: `textwire migrate` cannot help (it refuses the same way)
        assert "a newer textwire migrated it: run that release" in str(refused.value)
        assert 'README "Upgrading"' in str(refused.value)
        assert "`textwire migrate`" not in str(refused.value)


async def test_after_the_server_drops_every_connection_the_next_try_reconnects(
    pg_server_or_skip: pg.PgServer,
) -> None:
    """A server restart or failover costs one failed statement (the caller retries), not a pool
    of dead connections."""
    server = pg_server_or_skip
    name = server.create_database()
    db = Database(server.url_of(name))
    try:
        await asyncio.gather(*(db.ping() for _ in range(4)))  # a few pooled connections

        server.terminate_connections(name)
        with pytest.raises(sa.exc.DBAPIError) as info:
            async with db.tx() as conn:
                await conn.execute(sa.text("SELECT 1"))
        assert info.value.connection_invalidated
        await asyncio.gather(*(db.ping() for _ in range(4)))  # every pooled connection is fresh
    finally:
        await db.close()
        server.drop_database(name)


async def test_long_fields_from_a_client_fit_their_columns_on_either_database(bot: Any) -> None:
    """PostgreSQL enforces VARCHAR lengths (SQLite does not): over-long To, AccountSid and
    ErrorCode are cut to their columns, never a 5xx that fails the webhook's whole batch."""
    form = bot.form("\\HELP", To="+1" + "5" * 60)
    if not bot.config.twilio.account_sid:
        form["AccountSid"] = "AC" + "1" * 100
    resp = await bot.post(form)
    assert resp.status == 200, await resp.text()
    assert await bot.handled(form["MessageSid"]) == "done"
    status = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", "ErrorCode": "3" * 40}
    resp = await bot.post(status, path="/twilio/status")
    assert resp.status == 200, await resp.text()


async def test_a_nul_character_in_a_text_is_stored_as_a_replacement_on_either_database(bot: Any) -> None:
    """PostgreSQL's text cannot hold NUL (SQLite's can): a signed text with one in its Body, To or
    OptOutType is stored with U+FFFD in its place and handled, never a 503 that fails the
    webhook's whole batch (and Twilio's every retry of it)."""
    form = bot.form("\\HELP\x00 me", To="+15557654321\x00", OptOutType="\x00")
    resp = await bot.post(form)
    assert resp.status == 200, await resp.text()
    assert await bot.handled(form["MessageSid"]) == "done"
    row = (
        await bot.rows(
            "SELECT body, to_phone, opt_out_type FROM inbox WHERE message_sid = :s", s=form["MessageSid"]
        )
    )[0]
    assert (row.to_phone, row.opt_out_type) == ("+15557654321\ufffd", "\ufffd")
    assert "\x00" not in row.body


async def test_the_webhooks_batch_insert_stores_every_field_on_either_database(database_url: str) -> None:
    """PostgreSQL's batch is one statement of arrays (`unnest`), not SQLAlchemy's insert: the
    same row either way, NULLs and JSON included."""
    from storage import inbox

    db = await open_database(database_url, migrate=True)
    try:
        message = inbox.NewMessage(
            message_sid="SM" + "e" * 32,
            account_sid="AC" + "1" * 32,
            from_phone="+15550001111",
            to_phone="+15557654321",
            body="é ☃ 'quoted' \\ back",
            media=(("https://api.twilio.com/m/1", "image/jpeg"),),
            opt_out_type="STOP",
            idempotency_token=None,
            priority=1,
            received_at=1234.5,
        )
        second = dataclasses.replace(message, message_sid="SM" + "f" * 32, idempotency_token="tok", media=())
        assert await inbox.insert_new(db, [message, second, message]) == {
            message.message_sid,
            second.message_sid,
        }
        assert await inbox.insert_new(db, [message]) == set()  # a redelivery
        async with db.read() as conn:
            rows = (await conn.execute(sa.select(inbox_table).order_by(inbox_table.c.id))).all()
        got = [
            (r.message_sid, r.account_sid, r.body, json.loads(r.media), r.opt_out_type, r.idempotency_token,
             r.priority, r.status, r.attempts, r.next_attempt_at, r.received_at)
            for r in rows
        ]  # fmt: skip
        assert got == [
            (message.message_sid, message.account_sid, message.body, [["https://api.twilio.com/m/1", "image/jpeg"]],
             "STOP", None, 1, "pending", 0, 0.0, 1234.5),
            (second.message_sid, second.account_sid, second.body, [], "STOP", "tok", 1, "pending", 0, 0.0, 1234.5),
        ]  # fmt: skip
    finally:
        await db.close()


def _serve_through(
    database_url: str,
    proxy_port: int,
    tmp_path: Path,
    constants: Mapping[str, Mapping[str, object]] | None = None,
    **env_extra: str,
) -> tuple[subprocess.Popen[bytes], Path]:
    """`textwire serve` (a process of its own, this checkout's code) on `database_url` reached
    through 127.0.0.1:`proxy_port`; its output in the file returned. `constants`: module
    constants set in it (tests/test_process.py's bot_command)."""
    from tests.app.test_startup import serve_env
    from tests.test_process import bot_command

    real = urlsplit(database_url)
    url = database_url.replace(f"@{real.hostname}:{real.port}/", f"@127.0.0.1:{proxy_port}/", 1)
    assert url != database_url
    env = serve_env(tmp_path, free_port(), TEXTWIRE_DATABASE_URL=url, **env_extra)
    env["PYTHONPATH"] = str(ROOT)
    out_path = tmp_path / "out.log"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            bot_command("serve", constants=constants),
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, out_path


async def test_serve_waits_for_a_database_that_comes_up_after_it(
    empty_pg_database: str, tmp_path: Path
) -> None:
    """A PostgreSQL that boots after textwire (or fails over) at start-up: serve tries again,
    with a `db.waiting` line a try (no password), and starts once the database answers; it used
    to exit 2 at once, which the systemd units do not restart."""
    db = await open_database(empty_pg_database, migrate=True)
    await db.close()
    real = urlsplit(empty_pg_database)
    proxy_port = free_port()
    proc, out_path = _serve_through(empty_pg_database, proxy_port, tmp_path)
    proxy = None
    try:

        async def waiting() -> bool:
            assert proc.poll() is None, out_path.read_text()
            return '"db.waiting"' in out_path.read_text()

        await wait_for(waiting, within=30)
        assert real.hostname is not None
        assert real.port is not None
        proxy = pg.Relay(real.hostname, real.port)
        await proxy.start(proxy_port)

        async def started() -> bool:
            assert proc.poll() is None, out_path.read_text()
            return '"app.started"' in out_path.read_text()

        await wait_for(started, within=60)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proxy is not None:
            await proxy.close()
    text = out_path.read_text()
    assert "Traceback" not in text
    password = real.password
    if password:
        assert f":{password}@" not in text
    waits = [json.loads(line) for line in text.splitlines() if '"db.waiting"' in line]
    assert waits
    assert waits[0]["level"] == "warning"
    assert "cannot connect" in waits[0]["error"]


async def test_a_refused_password_is_not_waited_for(pg_server_or_skip: Any) -> None:
    url = pg_server_or_skip.url_of("postgres")
    parts = urlsplit(url)
    wrong = url.replace(f"{parts.username}:{parts.password}@", f"{parts.username}:not-{parts.password}@", 1)
    assert wrong != url
    with pytest.raises(DatabaseError) as info:
        await open_db_waiting(wrong, migrate=False, within=30)
    assert not isinstance(info.value, DatabaseUnreachable)
    assert info.value.exit_code == 2
    # the server answered and refused: the line points at the URL's user and password, not at a
    # database to start or a network to mend
    assert "user name and password" in str(info.value)
    assert "runs and is reachable" not in str(info.value)
    assert f"not-{parts.password}" not in str(info.value)


async def test_a_database_name_the_server_does_not_have_says_so(pg_server_or_skip: Any) -> None:
    """An operator who pointed a process at a database not created yet (or misspelt) read
    "cannot connect (InvalidCatalogNameError: ...): check that the database runs and is
    reachable": it runs and answered. The line says to create it or fix the name."""
    url = pg_server_or_skip.url_of(f"no_such_db_{time.monotonic_ns()}")
    with pytest.raises(DatabaseError) as info:
        await open_db_waiting(url, migrate=False, within=30)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "InvalidCatalogNameError" in message
    assert "create it" in message
    assert "runs and is reachable" not in message


async def _drop_once_ready(target: tuple[str, int]) -> asyncio.Server:
    """A relay to PostgreSQL that lets a connection log in, then drops it once the server says it
    is ready for a query (the first ReadyForQuery): a server restarted or failed over under a
    connection just made. Every connection, for as long as it listens."""

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*target)

        async def upstream() -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    up_writer.write(data)

        async def downstream() -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while True:  # the server's messages: a type byte, then a length that counts itself
                    head = await up_reader.readexactly(5)
                    body = await up_reader.readexactly(int.from_bytes(head[1:], "big") - 4)
                    writer.write(head + body)
                    if head[:1] == b"Z":
                        await writer.drain()
                        return

        sending = asyncio.ensure_future(upstream())
        await downstream()
        sending.cancel()
        for end in (writer, up_writer):
            end.transport.abort()

    return await asyncio.start_server(relay, "127.0.0.1", 0)


async def test_a_connection_dropped_at_start_up_is_waited_for_not_exit_2(
    empty_pg_database: str, tmp_path: Path
) -> None:
    """PostgreSQL restarted (or failed over) just as serve connected: its first statement found the
    connection closed (`ConnectionDoesNotExistError`). serve stopped at once with exit 2, which
    the systemd units do not restart (`RestartPreventExitStatus=2`): the process stayed down
    after a blip. It is the database away, waited for as one that does not answer yet."""
    db = await open_database(empty_pg_database, migrate=True)
    await db.close()
    real = urlsplit(empty_pg_database)
    assert real.hostname is not None
    assert real.port is not None
    relay = await _drop_once_ready((real.hostname, real.port))
    assert "sslmode=disable" in empty_pg_database  # the relay reads the plain protocol
    proc, out_path = _serve_through(empty_pg_database, relay.sockets[0].getsockname()[1], tmp_path)
    try:

        async def waiting() -> bool:
            assert proc.poll() is None, out_path.read_text()
            return '"db.waiting"' in out_path.read_text()

        await wait_for(waiting, within=60)
    finally:
        proc.kill()
        proc.wait()
        relay.close()
        await relay.wait_closed()
    text = out_path.read_text()
    assert "Traceback" not in text
    wait = json.loads(next(line for line in text.splitlines() if '"db.waiting"' in line))
    assert "ConnectionDoesNotExistError" in wait["error"], wait


async def test_a_database_that_never_answers_is_exit_1_after_the_wait() -> None:
    url = f"postgresql://tw:hunter2@127.0.0.1:{free_port()}/tw"
    with capture_logs() as logs, pytest.raises(DatabaseUnreachable) as info:
        await open_db_waiting(url, migrate=False, within=1.5)
    assert info.value.exit_code == 1
    waits = [e for e in logs if e["event"] == "db.waiting"]
    assert waits
    assert [e["attempt"] for e in waits] == list(range(1, len(waits) + 1))
    assert all("hunter2" not in str(e) for e in logs)
    assert "hunter2" not in str(info.value)


async def test_a_stop_while_the_database_hangs_ends_at_its_deadline(
    empty_pg_database: str, tmp_path: Path
) -> None:
    """SIGTERM while PostgreSQL stopped answering (a frozen network: connections open, nothing
    comes back): the parts waited on statements with no end, and `serve` never exited, until the
    supervisor killed it at its own timeout with no line saying why. It gives up after
    `server.stop_seconds`, says so (`app.stop_timed_out`, naming the part still stopping), and
    exits 1; the claims it held come back by lease."""
    db = await open_database(empty_pg_database, migrate=True)
    await db.close()
    real = urlsplit(empty_pg_database)
    assert real.hostname is not None
    assert real.port is not None
    proxy_port = free_port()
    proxy = pg.Relay(real.hostname, real.port)
    await proxy.start(proxy_port)
    proc, out_path = _serve_through(empty_pg_database, proxy_port, tmp_path, TEXTWIRE_SERVER_STOP_SECONDS="3")
    try:

        async def started() -> bool:
            assert proc.poll() is None, out_path.read_text()
            return '"app.started"' in out_path.read_text()

        await wait_for(started, within=60)
        proxy.freeze(new_too=True)
        proc.send_signal(signal.SIGTERM)
        # without the deadline it waited for good (the test's own limit: 60 s)
        assert await asyncio.to_thread(proc.wait, 60) == 1, out_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await proxy.close()
    text = out_path.read_text()
    assert "Traceback" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    gave_up = [e for e in lines if e["event"] == "app.stop_timed_out"]
    assert len(gave_up) == 1, text
    assert gave_up[0]["level"] == "error"
    assert gave_up[0]["seconds"] == 3.0
    assert gave_up[0]["stopping"] in ("sender", "worker", "writer", "scheduler", "resources"), gave_up
    assert lines[-1]["event"] == "app.stop_timed_out"  # written before the exit, the last line


async def test_a_workers_readyz_answers_within_its_4_s_while_the_database_hangs(
    empty_pg_database: str, tmp_path: Path
) -> None:
    """A `--role worker` process whose PostgreSQL stopped answering (connections open, nothing
    comes back): README says a readiness check that has not answered in 4 s is down, but
    /readyz took 6 s (its check gave up at 4 s, then waited for the cancelled connection to be
    closed). It answers 503 at its deadline, here shortened (README's 4 s is the real one)."""
    import aiohttp

    from bot.gateway import routes

    assert routes.READY_CHECK_SECONDS == 4.0  # README's
    db = await open_database(empty_pg_database, migrate=True)
    await db.close()
    real = urlsplit(empty_pg_database)
    assert real.hostname is not None
    assert real.port is not None
    proxy_port, port = free_port(), free_port()
    proxy = pg.Relay(real.hostname, real.port)
    await proxy.start(proxy_port)
    # a short deadline, as tests/gateway/test_routes_readyz.py's in-process one: the cancelled
    # connection's close still waits its 2 s on the frozen server (the old answer came 2 s after
    # the deadline; now at it)
    deadline = 1.0
    proc, out_path = _serve_through(
        empty_pg_database,
        proxy_port,
        tmp_path,
        {"bot.gateway.routes": {"READY_CHECK_SECONDS": deadline}},
        TEXTWIRE_SERVER_PORT=str(port),
        TEXTWIRE_SERVER_ROLE="worker",
    )
    try:

        async def started() -> bool:
            assert proc.poll() is None, out_path.read_text()
            return '"app.started"' in out_path.read_text()

        await wait_for(started, within=60)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            readyz = f"http://127.0.0.1:{port}/readyz"
            async with session.get(readyz) as resp:
                assert resp.status == 200, await resp.text()
            proxy.freeze(new_too=True)
            for _ in range(2):
                began = time.monotonic()
                async with session.get(readyz) as resp:
                    took = time.monotonic() - began
                    assert resp.status == 503
                    assert (await resp.json())["checks"]["database"] == "down: TimeoutError"
                assert took < deadline + 1.0, took  # it was 2 s more
    finally:
        if proc.poll() is None:  # its stop would wait server.stop_seconds on the frozen database
            proc.kill()
            await asyncio.to_thread(proc.wait, 30)
        await proxy.close()


async def test_a_migration_the_database_refuses_is_one_line_and_undone(empty_pg_database: str) -> None:
    """`textwire migrate` that PostgreSQL refused part way (here a table already there, as in a
    database someone else used; also a full disk or a user without CREATE) was a SQLAlchemy
    traceback that said nothing of the state left. It is one line now, and the schema is as it
    was: nothing of the 18 migrations before the refused one stayed. (Not x_revocations: 0026
    keeps one a rollback's restore left behind.)"""
    setup = Database(empty_pg_database)
    try:
        async with setup.tx() as conn:
            await conn.execute(sa.text("CREATE TABLE pair_codes (id integer)"))
    finally:
        await setup.close()
    with pytest.raises(DatabaseError) as caught:
        await open_database(empty_pg_database, migrate=True)
    message = str(caught.value)
    assert "\n" not in message
    assert "migrating to" in message
    assert "was undone, the schema is as it was" in message
    assert "run `textwire migrate` again" in message
    assert ":***@" in message  # the URL, its password masked
    db = Database(empty_pg_database)
    try:
        assert await db.revision() is None
        async with db.read() as conn:
            tables = (
                await conn.execute(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            ).scalars()
            assert list(tables) == ["pair_codes"]
    finally:
        await db.close()
