"""`textwire backup PATH`: a consistent copy of the live SQLite database while `serve` takes
webhooks (real processes); PostgreSQL points to pg_dump; nothing secret is printed."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.app.backup import BackupError, backup
from bot.core.config import Config, load_config
from tests import ROOT
from tests.conftest import wait_for
from tests.test_process import free_port, send, start_server, wait_healthy

CONFIG = str(ROOT / "config.toml")


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env.update(
        {
            "TEXTWIRE_SERVER_DATA_DIR": str(tmp_path / "data"),
            "TEXTWIRE_DATABASE_URL": f"sqlite:///{tmp_path}/data/textwire.db",
            "TEXTWIRE_MEDIA_LOCAL_DIR": str(tmp_path / "data" / "media"),
            "PYTHONPATH": str(ROOT),  # this checkout's code, not the one installed (a worktree)
        }
    )
    return env


def sqlite_config(tmp_path: Path) -> Config:
    """The config of a server whose SQLite database is `tmp_path`/data/textwire.db."""
    return load_config(
        env={
            "TEXTWIRE_SERVER_DATA_DIR": str(tmp_path / "data"),
            "TEXTWIRE_DATABASE_URL": f"sqlite:///{tmp_path}/data/textwire.db",
            "TEXTWIRE_CONFIG": CONFIG,
        }
    )


def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bot", *args, "--config", CONFIG],
        cwd=tmp_path,
        env=env or cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_copy(path: Path) -> int:
    """The copy opens on its own, passes integrity_check; returns its inbox row count."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        return int(conn.execute("SELECT count(*) FROM inbox").fetchone()[0])
    finally:
        conn.close()


async def test_backup_while_the_server_takes_webhooks(tmp_path: Path) -> None:
    port = free_port()
    proc = start_server(tmp_path, port)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, port, proc)
            token = (tmp_path / "data" / "dev-twilio-token").read_text().strip()
            senders = [f"+1555020{i:04d}" for i in range(8)]
            stop = asyncio.Event()

            async def traffic(sender: str) -> int:
                sent = 0
                while not stop.is_set():
                    await send(session, port, token, sender, "\\HELP")
                    sent += 1
                return sent

            tasks = [asyncio.create_task(traffic(s)) for s in senders]
            # webhooks are flowing before and during each backup
            copies = []
            for n in range(3):
                target = tmp_path / f"copy-{n}.db"
                result = await asyncio.to_thread(run_cli, tmp_path, "backup", str(target))
                assert result.returncode == 0, result.stderr
                assert result.stdout.splitlines() == [
                    f"backed up the database to {target} ({target.stat().st_size} bytes, integrity ok)"
                ]
                assert token not in result.stdout + result.stderr
                copies.append(target)
            stop.set()
            total = sum(await asyncio.gather(*tasks))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    counts = [check_copy(c) for c in copies]
    assert counts == sorted(counts)  # later copies hold at least what earlier ones did
    assert 0 < counts[-1] <= total
    assert oct(copies[0].stat().st_mode & 0o777) == "0o600"


def test_backup_replaces_the_target_atomically(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run_cli(tmp_path, "migrate", env=env).returncode == 0
    target = tmp_path / "copy.db"
    target.write_bytes(b"an older backup")
    result = run_cli(tmp_path, "backup", str(target), env=env)
    assert result.returncode == 0, result.stderr
    assert check_copy(target) == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".copy.db")] == []


def test_postgresql_points_to_pg_dump_without_the_url(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    env["TEXTWIRE_DATABASE_URL"] = "postgresql://textwire:s3cret-pw@db.example.test/textwire"
    result = run_cli(tmp_path, "backup", str(tmp_path / "x.db"), env=env)
    assert result.returncode == 2
    assert "pg_dump" in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "db.example.test" not in result.stdout + result.stderr
    assert not (tmp_path / "x.db").exists()


async def test_clear_errors(tmp_path: Path) -> None:
    config = sqlite_config(tmp_path)
    with pytest.raises(BackupError, match="no database"):
        await backup(config, tmp_path / "copy.db")
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "textwire.db").close()
    with pytest.raises(BackupError, match="is a folder"):
        await backup(config, tmp_path)
    with pytest.raises(BackupError, match="does not exist"):
        await backup(config, tmp_path / "missing" / "copy.db")
    with pytest.raises(BackupError, match="live database itself"):
        await backup(config, tmp_path / "data" / "textwire.db")


async def test_the_live_databases_folder_is_not_answered_with_the_live_database(tmp_path: Path) -> None:
    """`textwire backup data` (the data folder) was told "give the file to write, e.g.
    data/textwire.db": the live database, which the next try was refused for. The example names
    a file that is not the live database's, outside its folder."""
    config = sqlite_config(tmp_path)
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "textwire.db").close()
    with pytest.raises(BackupError, match="is a folder") as info:
        await backup(config, tmp_path / "data")
    suggested = Path(str(info.value).rpartition("e.g. ")[2].split()[0])
    assert suggested.parent != tmp_path / "data", info.value
    assert suggested.name != "textwire.db" or suggested.parent.resolve() != (tmp_path / "data").resolve()
    backups = tmp_path / "backups"
    backups.mkdir()
    with pytest.raises(BackupError, match="is a folder") as info:
        await backup(config, backups)
    assert str(backups / "textwire.db") in str(info.value)  # any other folder: as before


async def test_the_live_databases_own_files_are_refused(tmp_path: Path) -> None:
    """`textwire backup data/textwire.db-wal` (a completion away from the database) wrote the copy
    over the live WAL, which holds committed pages the main file does not have yet: the running
    server's database was malformed."""
    config = sqlite_config(tmp_path)
    (tmp_path / "data").mkdir()
    live = sqlite3.connect(tmp_path / "data" / "textwire.db")  # as the server holds it
    try:
        live.execute("PRAGMA journal_mode=WAL")
        live.execute("PRAGMA wal_autocheckpoint=0")  # the rows stay in the WAL
        live.execute("CREATE TABLE t (x INTEGER)")
        live.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(500)])
        live.commit()
        for name in ("textwire.db-wal", "textwire.db-shm", "textwire.db-journal", "./textwire.db-wal"):
            with pytest.raises(BackupError, match="a file of the live database"):
                await backup(config, tmp_path / "data" / name)
        assert live.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert live.execute("SELECT count(*) FROM t").fetchone() == (500,)
    finally:
        live.close()


async def test_ctrl_c_while_copying_leaves_no_backup_behind(tmp_path: Path) -> None:
    """Ctrl-C during `textwire backup` printed a KeyboardInterrupt traceback while the copy's
    thread ran on and put the copy in place: the operator was told it failed and found a file. The
    interrupted copy is thrown away now: PATH is as it was, and no partial file is left."""
    config = sqlite_config(tmp_path)
    (tmp_path / "data").mkdir()
    target = tmp_path / "copy.db"

    async def partial() -> bool:
        return bool(await asyncio.to_thread(lambda: list(tmp_path.glob(".copy.db.partial-*"))))

    writer = sqlite3.connect(tmp_path / "data" / "textwire.db", isolation_level=None)
    try:
        writer.execute("CREATE TABLE t (x INTEGER)")
        writer.execute("BEGIN EXCLUSIVE")  # the copy waits for it: interrupted while it runs
        task = asyncio.create_task(backup(config, target))
        await wait_for(partial, within=60)  # the thread is copying
        task.cancel()  # what asyncio.run does on Ctrl-C
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    async def thrown_away() -> bool:  # the thread finishes, and throws its copy away
        return not await partial()

    await wait_for(thrown_away, within=60)
    assert not await asyncio.to_thread(target.exists)
    assert await asyncio.to_thread(lambda: sorted(p.name for p in tmp_path.iterdir())) == ["data"]


async def test_a_device_or_pipe_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    """`textwire backup /dev/stdout | gzip` (or a named pipe) renamed the copy over that path: as
    root it replaced the /dev/stdout link with a file. Anything there that is not a regular file
    (a device, a pipe, a link to one) is refused in one line and left as it was."""
    config = sqlite_config(tmp_path)
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "textwire.db").close()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "stdout"
    link.symlink_to(fifo)  # as /dev/stdout links to the process's pipe
    for target in (fifo, link):
        with pytest.raises(BackupError, match="is not a regular file"):
            await backup(config, target)
    assert stat.S_ISFIFO(os.stat(fifo, follow_symlinks=False).st_mode)
    assert os.readlink(link) == str(fifo)
    assert sorted(os.listdir(tmp_path)) == ["data", "pipe", "stdout"]


async def test_a_folder_that_takes_no_file_is_said_to_be_the_copys(tmp_path: Path) -> None:
    """A backup folder that takes no file (a read-only mount, a folder of another user's) was a
    traceback (`OSError: [Errno 30] Read-only file system`) or "SQLite could not copy the
    database: unable to open database file", which sent the operator to a database that was fine.
    It names the copy's file and what to do, and the database is as it was."""
    from tests.app.test_startup import unwritable

    config = sqlite_config(tmp_path)
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "textwire.db").close()
    folder = tmp_path / "backups"
    with unwritable(folder), pytest.raises(BackupError) as refused:
        await backup(config, folder / "copy.db")
    assert str(refused.value) == (
        f"cannot write {folder / 'copy.db'}: its folder is not writable by this user; "
        "check its permissions or choose another folder"
    )
    assert list(folder.iterdir()) == []
    done = await backup(config, folder / "copy.db")  # writable again: the copy is made, 0600
    assert stat.S_IMODE(done.path.stat().st_mode) == 0o600


async def test_a_backup_restored_beside_the_old_databases_wal_is_refused(tmp_path: Path) -> None:
    """README's restore: put the copy in place of textwire.db and delete the -wal and -shm beside
    it. Forgotten (the old machine's server died, or the folder was copied while it ran), the old
    database's -wal was replayed into the restored copy on start-up: serve started on a database
    that failed integrity_check (rows missing from their indexes), and nothing said so."""
    from bot.app.startup import open_db
    from bot.core.errors import StartupError

    live = tmp_path / "live"
    db = await open_db(f"sqlite:///{live}/textwire.db", migrate=True)
    await db.close()
    config = load_config(
        env={"TEXTWIRE_DATABASE_URL": f"sqlite:///{live}/textwire.db", "TEXTWIRE_CONFIG": CONFIG}
    )
    await backup(config, tmp_path / "textwire-backup.db")

    # the old server, writing when the machine was lost: its -wal holds pages the file has not
    writer = sqlite3.connect(live / "textwire.db")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE later(x)")
    writer.executemany("INSERT INTO later VALUES (?)", [(str(i) * 50,) for i in range(2000)])
    writer.commit()
    restored = tmp_path / "restored"
    restored.mkdir()
    for suffix in ("-wal", "-shm"):
        (restored / f"textwire.db{suffix}").write_bytes((live / f"textwire.db{suffix}").read_bytes())
    writer.close()
    (restored / "textwire.db").write_bytes((tmp_path / "textwire-backup.db").read_bytes())

    url = f"sqlite:///{restored}/textwire.db"
    with pytest.raises(
        StartupError, match=r"textwire\.db-wal .*delete textwire\.db-wal and textwire\.db-shm"
    ):
        await open_db(url, migrate=True)
    # untouched: the copy is still the backup, byte for byte
    assert (restored / "textwire.db").read_bytes() == (tmp_path / "textwire-backup.db").read_bytes()

    for suffix in ("-wal", "-shm"):
        (restored / f"textwire.db{suffix}").unlink()
    db = await open_db(url, migrate=True)
    await db.close()
    conn = sqlite3.connect(restored / "textwire.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_a_truncated_backup_put_in_place_is_named_damaged(tmp_path: Path) -> None:
    """A backup cut short (a full disk, a copy interrupted) and restored: start-up said "cannot
    open (database disk image is malformed): check the path and its folder", sending the operator
    after a path that was right."""
    env = cli_env(tmp_path)
    assert run_cli(tmp_path, "migrate", env=env).returncode == 0
    copy = tmp_path / "textwire-backup.db"
    assert run_cli(tmp_path, "backup", str(copy), env=env).returncode == 0
    data = tmp_path / "data" / "textwire.db"
    data.write_bytes(copy.read_bytes()[: copy.stat().st_size // 2])
    for args in (("migrate",), ("migrate", "--check")):
        result = run_cli(tmp_path, *args, env=env)
        assert result.returncode == 2, (args, result.stderr)
        assert "the file is damaged or not a SQLite database" in result.stderr, (args, result.stderr)
        assert "check the path" not in result.stderr
