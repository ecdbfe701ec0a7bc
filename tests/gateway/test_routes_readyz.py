"""`/readyz` on a full or a read-only disk: it writes (a tiny transaction, a temporary file in the
media folder) and answers 503 when that fails. Real small filesystems (tmpfs mounts): skipped,
saying so, where this process may not mount."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestClient

from bot.app.assembly import build_app
from bot.core.config import Config, DatabaseConfig, MediaConfig, ServerConfig
from tests import pg
from tests.conftest import PUBLIC_URL, Bot, BotFactory, wait_for
from tests.fakes.hung import hung_server

Mount = Callable[[str], Path]
MOUNT = shutil.which("mount") or "/bin/mount"
UMOUNT = shutil.which("umount") or "/bin/umount"


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    """mount(8) and umount(8), with fixed arguments and paths of our own tmp folder."""
    return subprocess.run(args, capture_output=True, check=False)  # noqa: S603 - fixed commands


async def arun(*args: str) -> int:
    process = await asyncio.create_subprocess_exec(*args)
    return await process.wait()


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Mount]:
    """`mount("name")`: a fresh 16 MiB tmpfs (room for the migrated database and its WAL) under tmp_path; unmounted after the test."""
    mounted: list[Path] = []

    def make(name: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = run(MOUNT, "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(point))
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small filesystem here: {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield make
    for point in reversed(mounted):
        run(UMOUNT, "-l", str(point))


def fill(folder: Path) -> Path:
    """Write a file until the filesystem is full."""
    filler = folder / "filler"
    try:
        with filler.open("wb") as out:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
    except OSError as exc:  # at a write, or at the open or close when already (nearly) full
        full = exc.errno
    assert full == errno.ENOSPC
    return filler


async def ready(bot: Bot) -> tuple[int, dict[str, Any]]:
    resp = await bot.client.get("/readyz")
    return resp.status, (await resp.json())["checks"]


async def test_readyz_is_503_on_a_full_disk(
    bot_factory: BotFactory, mount: Mount, db_backend: str, fake_twilio: Any
) -> None:
    disk = mount("disk")
    sections: dict[str, Any] = {"media": {"local_dir": str(disk / "media")}}
    if db_backend == "sqlite":  # on PostgreSQL the database lives elsewhere
        sections["database"] = {"url": f"sqlite:///{disk}/textwire.db"}
    bot = await bot_factory(twilio=fake_twilio.section(), **sections)
    assert await ready(bot) == (200, {"database": "ok", "media": "ok"})
    filler = await asyncio.to_thread(fill, disk)
    status, checks = await ready(bot)
    assert status == 503
    assert checks["media"].startswith("down")
    if db_backend == "sqlite":
        assert checks["database"].startswith("down")
    else:
        assert checks["database"] == "ok"
    filler.unlink()
    assert await ready(bot) == (200, {"database": "ok", "media": "ok"})


async def test_readyz_is_503_on_a_read_only_media_folder(
    bot_factory: BotFactory, mount: Mount, fake_twilio: Any
) -> None:
    media = mount("media")
    bot = await bot_factory(twilio=fake_twilio.section(), media={"local_dir": str(media)})
    assert (await ready(bot))[0] == 200
    assert await arun(MOUNT, "-o", "remount,ro", str(media)) == 0
    try:
        status, checks = await ready(bot)
        assert status == 503
        assert checks["media"].startswith("down")
        assert checks["database"] == "ok"
    finally:
        await arun(MOUNT, "-o", "remount,rw", str(media))
    assert (await ready(bot))[0] == 200


@pytest.mark.usefixtures("aws_env")
async def test_a_store_that_does_not_answer_is_down_within_seconds(
    bot_factory: BotFactory, fake_twilio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3 endpoint that takes the connection and never answers held /readyz and /metrics
    (which runs the same checks) for as long as botocore retried, minutes: the probe and the
    scrape timed out and the metrics went dark exactly when the store was in trouble."""
    from bot.gateway import routes
    from tests.fakes.s3 import s3_sections

    monkeypatch.setattr(routes, "READY_CHECK_SECONDS", 0.5, raising=False)
    async with hung_server() as port:
        bot = await bot_factory(**s3_sections(fake_twilio, f"http://127.0.0.1:{port}", "receipts"))
        assert await ready(bot) == (503, {"database": "ok", "media": "down: TimeoutError"})
        resp = await bot.client.get("/metrics")
        assert resp.status == 200
        assert 'textwire_ready{check="media"} 0.0' in await resp.text()


@contextlib.asynccontextmanager
async def behind_a_proxy(server: Any, tmp_path: Path) -> AsyncIterator[tuple[Config, pg.Relay]]:
    """A configuration whose PostgreSQL database (a fresh one of the test server's) is reached
    through a `Relay` the test can freeze (tests/pg.py)."""
    name = server.acquire()
    url = urlsplit(server.url_of(name))
    proxy = pg.Relay(url.hostname or "127.0.0.1", url.port or 5432)
    port = await proxy.start()
    netloc = url.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{port}" if "@" in url.netloc else f"127.0.0.1:{port}"
    data = tmp_path / "data"
    config = Config(
        server=ServerConfig(public_url=PUBLIC_URL, data_dir=str(data)),
        database=DatabaseConfig(url=urlunsplit(url._replace(netloc=netloc))),
        media=MediaConfig(local_dir=str(data / "media"), ocr=False),
    )
    try:
        yield config, proxy
    finally:
        await proxy.close()
        server.release(name)


async def test_metrics_answer_within_seconds_while_the_database_hangs(
    pg_server_or_skip: Any, aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL that takes the connections and stops answering: /readyz said 503 after its
    check's 4 s, but /metrics, after the same checks, read the queues' depth with no bound and
    hung for as long as the database did (minutes, in a failover): the scrape timed out, the
    process counted as down and every metric went dark while the database was in trouble. The
    scrape answers, saying the database is down."""
    from bot.gateway import routes

    monkeypatch.setattr(routes, "READY_CHECK_SECONDS", 0.5)
    async with behind_a_proxy(pg_server_or_skip, tmp_path) as (config, proxy):
        client: TestClient[Any, Any] = await aiohttp_client(build_app(config, run_scheduler=False))
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert 'textwire_ready{check="database"} 1.0' in await resp.text()

        proxy.freeze(new_too=True)  # the database hangs
        async with asyncio.timeout(10):  # a scrape's default timeout
            resp = await client.get("/metrics")
            assert resp.status == 200
            text = await resp.text()
        assert 'textwire_ready{check="database"} 0.0' in text
        assert 'textwire_ready{check="media"} 1.0' in text
        async with asyncio.timeout(10):
            resp = await client.get("/readyz")
        assert resp.status == 503
        assert (await resp.json())["checks"]["database"] == "down: TimeoutError"

        proxy.thaw()  # it answers again
        resp = await client.get("/metrics")
        assert 'textwire_ready{check="database"} 1.0' in await resp.text()
        await client.close()  # its connections, before the relay ends them


async def test_readyz_answers_within_its_4_s_while_the_database_hangs(
    pg_server_or_skip: Any, aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README: a check that has not answered in 4 s is down. With PostgreSQL frozen (connections
    open, nothing answering), /readyz took 6 s: the check timed out at 4 s, and then waited for
    SQLAlchemy to close the cancelled connection, which waits up to 2 s for the server. It
    answers 503 at 4 s, and the checks run side by side, so /readyz as a whole does too."""
    import time

    from bot.gateway import routes

    # a short deadline: the cancelled connection's close still waits its 2 s on the frozen server
    # (the old answer came after deadline + 2 s; now at the deadline)
    monkeypatch.setattr(routes, "READY_CHECK_SECONDS", 0.5)
    async with behind_a_proxy(pg_server_or_skip, tmp_path) as (config, proxy):
        client: TestClient[Any, Any] = await aiohttp_client(build_app(config, run_scheduler=False))
        assert (await client.get("/readyz")).status == 200  # a pooled connection, used once

        proxy.freeze(new_too=True)  # the database hangs
        for _ in range(2):
            started = time.monotonic()
            resp = await client.get("/readyz")
            took = time.monotonic() - started
            assert resp.status == 503
            assert (await resp.json())["checks"] == {"database": "down: TimeoutError", "media": "ok"}
            assert routes.READY_CHECK_SECONDS <= took < routes.READY_CHECK_SECONDS + 1.5, took

        proxy.thaw()  # it answers again

        async def ready_again() -> bool:
            return (await client.get("/readyz")).status == 200

        await wait_for(ready_again, within=30)
        await client.close()  # its connections, before the relay ends them


async def test_readyz_is_503_on_a_full_disk_after_texts(
    bot_factory: BotFactory, mount: Mount, tmp_path: Path, fake_twilio: Any
) -> None:
    """The database's probe rewrote one row: on a full disk that fits in the write-ahead log's
    pages already there (a log grown by earlier texts), so `/readyz` said `"database": "ok"`
    (and `textwire_ready{check="database"}` 1) while a burst of texts was answered 503, "database
    or disk is full", and Twilio dropped them. The probe needs room on the database's disk too."""
    disk = mount("disk")
    bot = await bot_factory(
        twilio=fake_twilio.section(),
        database={"url": f"sqlite:///{disk}/textwire.db"},
        media={"local_dir": str(tmp_path / "media")},  # elsewhere: the database's check alone
    )
    for n in range(20):  # the log grows with the texts
        await bot.text(f"\\HELP {n}")
    await bot.settled()

    def written_back() -> bool:  # every frame of the log is in the database file (a checkpoint)
        with contextlib.closing(sqlite3.connect(disk / "textwire.db")) as conn:
            busy, frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return bool(busy == 0 and frames > 0 and frames == done)

    await wait_for(lambda: asyncio.to_thread(written_back))
    filler = await asyncio.to_thread(fill, disk)
    status, checks = await ready(bot)
    assert (status, checks["database"][:4]) == (503, "down")
    filler.unlink()
    assert await ready(bot) == (200, {"database": "ok", "media": "ok"})


async def test_a_failing_check_says_why_in_the_log_once_and_when_it_is_back(
    bot_factory: BotFactory, mount: Mount, fake_twilio: Any
) -> None:
    """A full disk made /readyz 503 (`textwire_ready` 0, the TextwireNotReady page) while the log
    said nothing: the texts still fitted in the write-ahead log, and /readyz's body names only the
    error's class (`down: OSError`). Now a check that goes down logs one `ready.down` warning
    with the reason in SQLite's or the system's words, not again at every scrape, and `ready.ok` once when it
    passes again."""
    from structlog.testing import capture_logs

    disk = mount("disk")
    bot = await bot_factory(
        twilio=fake_twilio.section(),
        database={"url": f"sqlite:///{disk}/textwire.db"},
        media={"local_dir": str(disk / "media")},
    )
    with capture_logs() as logs:
        assert (await ready(bot))[0] == 200
        filler = await asyncio.to_thread(fill, disk)
        for _ in range(3):  # scrapes while the disk stays full
            assert (await ready(bot))[0] == 503
        filler.unlink()
        for _ in range(2):
            assert (await ready(bot))[0] == 200
    lines = [
        (line["event"], line["check"], line.get("reason"))
        for line in logs
        if line["event"].startswith("ready.")
    ]
    assert sorted(lines) == [
        ("ready.down", "database", "OperationalError: database or disk is full"),
        ("ready.down", "media", "No space left on device"),
        ("ready.ok", "database", None),
        ("ready.ok", "media", None),
    ]
    assert {line["log_level"] for line in logs if line["event"] == "ready.down"} == {"warning"}
