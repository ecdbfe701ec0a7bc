"""Shared fixtures: a network guard, configs on real SQLite files, and a bot behind aiohttp's
test server whose webhooks are signed with twilio's own RequestValidator."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import os
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
import structlog.dev
import structlog.testing
from aiohttp import web
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from bot.app.assembly import build_app
from bot.app.runtime import RUNTIME, Runtime
from bot.channels.twilio.rest import Transport
from bot.core import curl as libcurl
from bot.core.config import Config, DatabaseConfig, MediaConfig, ServerConfig, WorkerConfig, replace
from bot.core.devmode import twilio_auth_token
from bot.core.feature import Feature
from bot.pipeline.dispatch import Router
from storage import inbox, onehop
from storage.db import Database, head_revision, open_database
from tests import pg
from tests.ports import free_port

pytest_plugins = [
    "tests.fakes.twilio_rest",
    "tests.fakes.x_api",
    "tests.fakes.s3",
    "tests.fakes.telegram_api",
]

PUBLIC_URL = "https://sms.example.test"
ALICE = "+15550001111"
BOB = "+15550002222"


def _is_local(host: object) -> bool:
    if host is None or host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any test that would reach beyond loopback fails (name lookups and connections)."""
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_local(host.decode() if isinstance(host, bytes) else host):
            raise OSError(f"test tried to reach the internet: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address: Any) -> None:
        if isinstance(address, tuple) and not _is_local(address[0]):
            raise OSError(f"test tried to reach the internet: {address[0]}")

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> Any:
        check(address)
        return real_connect_ex(self, address)

    def curl_check(host: str, port: int) -> None:  # libcurl's sockets (bot/core/curl.py)
        check((host, port))

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(libcurl, "connection_check", curl_check)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


@pytest.fixture(autouse=True)
def no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's outbound HTTP honours the proxy variables (and aiohttp then reads ~/.netrc), and
    every server a test talks to is on loopback: the runner's proxy and ~/.netrc do not apply
    (tests/channels/twilio/test_rest.py sets its own)."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NETRC", os.devnull)


def _plain_tracebacks() -> None:
    """The app configures no logging in-process (the CLI does: bot/app/cli.py), so a test's lines
    go through structlog's default console renderer, whose default exception formatter is rich's
    traceback with every frame's locals: rendering the three of one test's retried handler took
    seconds of CPU. Tracebacks here print as the standard library prints them. Set on the default
    renderer itself: loggers bound at import keep its processor list (`keep_structlog_config`)."""
    for processor in structlog.get_config()["processors"]:
        if isinstance(processor, structlog.dev.ConsoleRenderer):
            processor.exception_formatter = structlog.dev.plain_traceback


_plain_tracebacks()


@pytest.fixture(autouse=True)
def no_full_collection_inside_a_test() -> Iterator[None]:
    """One pytest process runs the whole suite, and what it keeps between tests (the libraries,
    moto's and botocore's models, the session's fixtures) grew to 1.2-2.2 million objects. With
    the cyclic garbage each test's app leaves behind, a full collection that came due inside a
    test walked all of it: 1-3.7 s with the event loop stopped, longer than the 2 s the fakes'
    clients wait (a CI run's X callback timed out on `users/me` so). Each test's garbage is
    collected after it, and what is left is frozen (`gc.freeze`: the serve command does the same
    after start-up), so a collection inside a test walks only what that test made."""
    yield
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def keep_structlog_config() -> Iterator[None]:
    """Tests that configure logging must not leave module-level loggers (bound at import to the
    processor list of that moment) outside what `capture_logs` sees."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


def new_message(
    sid: str | None = None, sender: str = ALICE, body: Any = "hi", **fields: Any
) -> inbox.NewMessage:
    """An inbox row as the webhook builds it (a text to the bot's number); `fields` change the
    rest, e.g. `received_at`, `priority`, `media`."""
    row: dict[str, Any] = {
        "message_sid": sid or new_sid(),
        "account_sid": "AC" + "0" * 32,
        "from_phone": sender,
        "to_phone": "+15557654321",
        "body": body,
        "media": (),
        "opt_out_type": "",
        "idempotency_token": None,
        "priority": 0,
        "received_at": 1000.0,
    }
    return inbox.NewMessage(**(row | fields))


@pytest.fixture(params=pg.backends())
def db_backend(request: pytest.FixtureRequest) -> str:
    """Every test that uses a database runs on SQLite and on PostgreSQL (`TEXTWIRE_TEST_DB`
    picks one); the PostgreSQL half is skipped, saying so, when no server is reachable."""
    backend: str = request.param
    return backend


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PgServer | None]:
    server = pg.PgServer.connect()
    if server is None and os.environ.get("TEXTWIRE_TEST_REQUIRE_PG") == "1":
        pytest.fail(f"{pg.SKIP_REASON}, and TEXTWIRE_TEST_REQUIRE_PG=1 (CI) requires it")
    yield server
    if server is not None:
        server.close()


@pytest.fixture
def pg_server_or_skip(pg_server: pg.PgServer | None) -> pg.PgServer:
    """The PostgreSQL server, for a test that runs on PostgreSQL only (skipped without one)."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    return pg_server


async def _make_sqlite_template(path: Path) -> None:
    """Migrate a new SQLite file at `path` to the newest revision, checkpoint its WAL into the file
    and check what a copy of it will be: WAL mode, at this code's head revision, no -wal or -shm
    file beside it (a copy is the one file)."""
    with structlog.testing.capture_logs():  # the template's `db.upgraded` is no test's log line
        database = await open_database(f"sqlite:///{path}", migrate=True)
        await database.close()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    finally:
        conn.close()
    assert journal_mode == "wal", journal_mode
    assert revision == [(head_revision(),)], revision
    left = [p.name for p in path.parent.iterdir() if p != path]
    assert left == [], f"the SQLite template left {left} beside it"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file per test session, migrated to the newest schema: a test's database is a
    copy of it (~0.03 s to open) rather than a new file migrated through every revision (~0.2 s)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "textwire.db"
    pg.run_sync(lambda: _make_sqlite_template(path))
    return path


def copy_sqlite_template(template: Path, target: Path) -> None:
    """A migrated SQLite file at `target`, made as `serve` makes one: its folder 0700, the file
    0600 (bot/app/startup.py)."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as out, template.open("rb") as src:
        shutil.copyfileobj(src, out)


def migrated_sqlite_file(request: pytest.FixtureRequest, target: Path) -> None:
    """Put a copy of the session's migrated template at `target`, unless the test is marked
    `fresh_database` (then nothing is there: the code under test makes the file)."""
    if request.node.get_closest_marker("fresh_database") is None:
        copy_sqlite_template(request.getfixturevalue("sqlite_template"), target)


async def open_current(url: str, request: pytest.FixtureRequest) -> Database:
    """The test's database opened at the newest schema: a template's copy checked to be current,
    a `fresh_database` one migrated here."""
    fresh = request.node.get_closest_marker("fresh_database") is not None
    return await open_database(url, migrate=fresh, check=not fresh)


@pytest.fixture
def database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database for this test in the state of a migrated template: a copy of this session's
    migrated SQLite file (`sqlite_template`; no file at all for a test marked `fresh_database`),
    or a PostgreSQL database made from the template database (tests/pg.py)."""
    if db_backend == "sqlite":
        path = tmp_path / "data" / "textwire.db"
        migrated_sqlite_file(request, path)
        yield f"sqlite:///{path}"
        return
    server: pg.PgServer | None = request.getfixturevalue("pg_server")
    if server is None:
        pytest.skip(pg.SKIP_REASON)
    name = server.acquire()
    try:
        yield server.url_of(name)
    finally:
        server.release(name)


@pytest.fixture
async def db(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """That database opened at the newest schema (a module with a schema of its own overrides
    this fixture): a template's copy is checked to be current, a `fresh_database` one migrated."""
    database = await open_current(database_url, request)
    yield database
    await database.close()


@contextlib.asynccontextmanager
async def database_with_tables(database_url: str, metadata: sa.MetaData) -> AsyncIterator[Database]:
    """The test's database as it is (not migrated here), with `metadata`'s tables made in it and
    dropped again after: PostgreSQL's test databases are reused when their schema is the
    template's (tests/pg.py)."""
    database = await open_database(database_url, migrate=False)
    async with database.tx() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield database
    finally:
        async with database.tx() as conn:
            await conn.run_sync(metadata.drop_all)
        await database.close()


@pytest.fixture
def make_config(tmp_path: Path, database_url: str) -> Callable[..., Config]:
    """A Config on a fresh data folder and database; keyword arguments change sections."""

    def make(**sections: dict[str, Any]) -> Config:
        data = tmp_path / "data"
        base = Config(
            server=ServerConfig(public_url=PUBLIC_URL, data_dir=str(data)),
            database=DatabaseConfig(url=database_url),
            # OCR off unless a test turns it on (tests/features/ledger/test_intake.py shares one engine)
            media=MediaConfig(local_dir=str(data / "media"), ocr=False),
            worker=WorkerConfig(poll_seconds=0.05, retry_base_seconds=0.05),
        )
        return replace(base, **sections)

    return make


async def wait_for(
    predicate: Callable[[], Awaitable[Any]], within: float = 30.0, interval: float = 0.02
) -> Any:
    """Poll `predicate` until it returns something truthy (event-driven code has no hook to await)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"timed out after {within}s waiting for {getattr(predicate, '__name__', predicate)}"
            )
        await asyncio.sleep(interval)


async def answer_head(host: str, port: int, sent: bytes) -> bytes:
    """Send `sent` (a request cut short, say) on a connection of its own and return the head of the
    server's answer (status line and headers), waiting for the answer, not a guess at its timing."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(sent)
    await writer.drain()
    try:
        async with asyncio.timeout(30):
            return await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()


@dataclass
class Bot:
    client: TestClient[web.Request, web.Application]
    config: Config
    token: str
    sent: list[str] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return self.client.app[RUNTIME]

    def form(
        self, body: str = "", *, sender: str = ALICE, sid: str | None = None, **extra: str
    ) -> dict[str, str]:
        form = {
            "MessageSid": sid or new_sid(),
            "AccountSid": self.config.twilio.account_sid or "AC" + "0" * 32,
            "From": sender,
            "To": "+15557654321",
            "Body": body,
            "NumMedia": "0",
        }
        form.update(extra)
        return form

    def signature(self, form: dict[str, str], path: str = "/twilio/sms", url: str | None = None) -> str:
        signed: str = RequestValidator(self.token).compute_signature(
            url or self.config.public_base + path, form
        )
        return signed

    async def post(
        self, form: dict[str, str], path: str = "/twilio/sms", signature: str | None = None
    ) -> Any:
        headers = {"X-Twilio-Signature": signature if signature is not None else self.signature(form, path)}
        return await self.client.post(path, data=form, headers=headers)

    async def text(self, body: str, *, sender: str = ALICE, **extra: str) -> dict[str, str]:
        """Send a signed SMS; assert the 200 with empty TwiML; return the form."""
        form = self.form(body, sender=sender, **extra)
        resp = await self.post(form)
        assert resp.status == 200, await resp.text()
        assert "<Response />" in await resp.text()
        return form

    async def rows(self, query: str, **params: Any) -> list[sa.Row[Any]]:
        async with self.runtime.deps.db.read() as conn:
            return list((await conn.execute(sa.text(query), params)).all())

    async def scalar(self, query: str, **params: Any) -> Any:
        async with self.runtime.deps.db.read() as conn:
            return (await conn.execute(sa.text(query), params)).scalar()

    async def busy(self) -> int:
        """Rows the bot would still act on now: inbox rows being processed, or pending or parked,
        due, and not waiting behind an earlier message of their sender (a message deferred by the
        per-sender limit holds the later ones); outbox rows queued and due, or being sent. The
        inbox is read first: a row finishing between the two reads has already committed its
        replies to the outbox."""
        now = self.runtime.deps.now()
        inbox_busy = await self.scalar(
            """SELECT count(*) FROM inbox AS i WHERE i.status = 'processing' OR (
                 i.next_attempt_at <= :now AND (i.status = 'parked' OR (i.status = 'pending' AND
                   NOT EXISTS (
                     SELECT 1 FROM inbox AS j WHERE j.from_phone = i.from_phone AND j.id < i.id
                       AND (i.priority = 0 OR j.priority = 1) AND j.status IN ('pending', 'processing')))))""",
            now=now,
        )
        outbox_busy = await self.scalar(
            "SELECT count(*) FROM outbox WHERE status = 'sending'"
            " OR (status = 'queued' AND next_attempt_at <= :now)",
            now=now,
        )
        return int(inbox_busy) + int(outbox_busy)

    async def settled(self, within: float = 20.0) -> None:
        """Wait until the inbox and the outbox have nothing pending: whatever the bot was going to
        send for what it received so far has been sent (or given up on). Use before asserting that
        nothing more was sent."""

        async def idle() -> bool:
            return await self.busy() == 0

        await wait_for(idle, within=within)

    async def metrics_once(self, series: str) -> str:
        """/metrics once it shows `series` (a counter moves when its commit is done)."""

        async def scraped() -> str | None:
            resp = await self.client.get("/metrics")
            assert resp.status == 200
            text = await resp.text()
            return text if series in text else None

        return str(await wait_for(scraped))

    async def handled(self, sid: str) -> str:
        async def done() -> str | None:
            status = await self.scalar("SELECT status FROM inbox WHERE message_sid = :sid", sid=sid)
            return status if status in ("done", "failed") else None

        result: str = await wait_for(done)
        return result


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 where nothing listens, nor can start to while the test runs: a socket
    of the test's own is bound to it (without SO_REUSEADDR) and never listens, so a connection to
    it is refused at once. pytest-aiohttp's `unused_tcp_port`, a port free a moment before, was
    taken under pytest-xdist by a server of the test running beside it (the servers of tests take
    ports the same way): the sends it was to refuse met that server instead, and a test of
    refused connections timed out."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def bot_factory(make_config: Callable[..., Config], aiohttp_client: Any) -> BotFactory:
    # make_config first: its database is dropped after the app (set up later) has stopped
    async def make(
        config: Config | None = None,
        *,
        transport: Transport | None = None,
        features: list[Feature] | None = None,
        routers: tuple[Router, ...] = (),
        clock: Callable[[], float] = time.time,
        port: int | None = None,
        **sections: dict[str, Any],
    ) -> Bot:
        config = config or make_config(**sections)
        app = build_app(
            config,
            transport=transport,
            features=features,
            run_scheduler=False,
            extra_routers=routers,
            clock=clock,
        )
        client = await aiohttp_client(app, server_kwargs={"port": port} if port else None)
        token, _ = twilio_auth_token(config)
        return Bot(client=client, config=config, token=token)

    return make


@pytest.fixture
def frequent_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bots look at the heartbeats, and take dead owners' claims over, every 0.05 s instead of
    every HEARTBEAT_SECONDS (2 s, bot/pipeline/leases.py): a test that leaves claims to an owner
    with no heartbeat row waits for a look, not for 2 s. Ask for it before the bot (its loop reads
    the constant as it sleeps). Dead is still judged by STALE_SECONDS of silence."""
    monkeypatch.setattr("bot.pipeline.leases.HEARTBEAT_SECONDS", 0.05)


@pytest.fixture
async def bot(bot_factory: BotFactory, fake_twilio: Any) -> Bot:
    """The bot on the embedded default, sending through a local fake of Twilio's Messages API."""
    return await bot_factory(twilio=fake_twilio.section())


async def raw_request(
    base: str, target: str, header: bytes, form: dict[str, str] | None = None
) -> tuple[int, str]:
    """GET `base` + `target` (POST `form`, when given) with one more header line of these bytes
    (not UTF-8, say), as no client library sends it: (status, body)."""
    from urllib.parse import urlencode

    from yarl import URL

    url = URL(base)
    assert url.host is not None
    body = b"" if form is None else urlencode(form).encode()
    request = f"{'GET' if form is None else 'POST'} {target} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
    if form is not None:
        request += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(request.encode() + b"Connection: close\r\n" + header + b"\r\n\r\n" + body)
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, text = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), text.decode("utf-8", "replace")


@dataclass
class XBot(Bot):
    """A bot linked to a local fake of X, on a real port so browsers can follow redirects."""

    x: Any = None  # tests.fakes.x_api.FakeX

    async def link(self, sender: str = ALICE, *, user: tuple[str, str] | None = None) -> str:
        """Text the bot, follow the link through X's approval; returns the callback page."""
        from tests.fakes.twilio_rest import FakeTwilio

        twilio: FakeTwilio = self.extras["twilio"]
        before = len(twilio.messages)
        await self.text("hello", sender=sender)
        messages = await twilio.wait_for_messages(before + 1)
        url = link_in(messages[-1]["Body"])
        if user is not None:
            self.x.next_user = user
        async with browser() as session:
            data, headers = await open_confirm_page(session, url)
            async with session.post(url, data=data, headers=headers) as resp:
                page = await resp.text()
                assert resp.status == 200, page
        await twilio.wait_for_messages(before + 2)
        # the "Connected" reply reached the fake; wait until the sender has marked it sent too, so a
        # test that then jumps the clock does not expire its send lease (and send it again)
        await self.settled()
        return page

    extras: dict[str, Any] = field(default_factory=dict)


def link_in(text: str) -> str:
    import re

    found = re.search(r"https?://\S+/x/link/[A-Za-z0-9_-]+", text)
    assert found, f"no link in {text!r}"
    return found.group(0)


async def open_confirm_page(session: Any, url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Load the X confirm page in `session` as a browser does; returns what the browser then
    sends when the button is pressed: the form's fields and the headers of a same-origin POST."""
    import re

    from yarl import URL

    async with session.get(url) as resp:
        page = await resp.text()
        assert resp.status == 200, page
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    assert fields, page
    origin = str(URL(url).origin())
    return fields, {"Origin": origin, "Sec-Fetch-Site": "same-origin"}


def browser() -> Any:
    """A browser: follows redirects, keeps cookies (also for 127.0.0.1)."""
    import aiohttp

    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def make_xbot(
    bot_factory: BotFactory,
    fake_twilio: Any,
    fake_x: Any,
    *,
    telegram: dict[str, Any] | None = None,
    database: dict[str, Any] | None = None,
    twilio: dict[str, Any] | None = None,
    **x: Any,
) -> XBot:
    """The bot with X configured against `fake_x`, on the fake's clock, on a real port (the fake's
    authorize page redirects browsers back to it). `x`: more keys of the x section; `telegram`:
    the telegram section (a fake's), for the channel too; `database`: another database section
    than the test's; `twilio`: more keys of the twilio section (`whatsapp_from`)."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    fake_x.redirect_uris.add(public + "/x/callback")
    bot = await bot_factory(
        port=port,
        clock=lambda: fake_x.now,
        server={"public_url": public},
        twilio=fake_twilio.section(**(twilio or {})),
        **({"telegram": telegram} if telegram is not None else {}),
        **({"database": database} if database is not None else {}),
        x={
            "client_id": fake_x.client_id,
            "api_base": fake_x.base_url,
            "authorize_url": fake_x.authorize_url,
            # the fake answers at once: the client waits as in production (10 s), not less, so a
            # stalled moment of a loaded machine is not an X that did not answer
            "timeout_seconds": 10.0,
            **x,
        },
    )
    return XBot(
        client=bot.client, config=bot.config, token=bot.token, x=fake_x, extras={"twilio": fake_twilio}
    )


@pytest.fixture
async def xbot(bot_factory: BotFactory, fake_twilio: Any, fake_x: Any) -> XBot:
    """The bot with X configured against the fake (a public client)."""
    return await make_xbot(bot_factory, fake_twilio, fake_x)


# The only skips a CI run may have (CI=true): tests that do not apply to one of the two database
# backends they are parametrized over. Any other skip under CI (a browser, a tool, a privilege
# missing) fails the run: .ci/run installs what the suite needs, so a skip there means a test
# that silently stopped guarding what it claims.
IPTABLES_SKIP = "iptables cannot be used here (root and iptables needed to drop a connection's packets)"
CI_SKIPS = {
    # CI starts no container engine; tests/test_compose.py runs by hand (README: Docker)
    "no container engine: start one (../shared/tools/container/start-dockerd.sh, DOCKER_HOST)": "by hand",
    "SQLite is one process a file: wake-ups stay in the process": "LISTEN/NOTIFY is PostgreSQL's",
    "the appender is the SQLite file's": "PostgreSQL inserts through its own path",
    # .ci/run installs iptables; a machine whose kernel or sandbox refuses firewall rules even to
    # root has no other way to drop a connection's packets (tests/storage/test_db.py)
    IPTABLES_SKIP: "netfilter refused",
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI, a skip not on CI_SKIPS fails the run (said in the summary's last lines)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if _in_ci() and any(_skip_reason(r) not in CI_SKIPS for r in skipped) and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _skip_reason(report: Any) -> str:
    """A skip's reason as pytest keeps it: `(file, line, "Skipped: reason")`."""
    longrepr = getattr(report, "longrepr", None)
    text = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return str(text).removeprefix("Skipped: ").strip()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The last line says what was skipped and why, grouped by reason (one line, counts first), and
    where the PostgreSQL half would have run when it did not."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        terminalreporter.write_line("skipped: nothing")
        return
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = _skip_reason(report)
        reasons[reason] = reasons.get(reason, 0) + 1
    if pg.SKIP_REASON in reasons:
        from bot.core.dburl import mask_url

        where = mask_url(pg.server_url())
        reasons[f"{pg.SKIP_REASON} (no server at {where}: TEXTWIRE_TEST_PG_URL)"] = reasons.pop(
            pg.SKIP_REASON
        )
    parts = [f"{count} {reason}" for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    unexpected = sorted(reason for reason in reasons if reason not in CI_SKIPS)
    if _in_ci() and unexpected:
        terminalreporter.write_line(
            f"CI: these skips are not on tests/conftest.py's CI_SKIPS, so the run fails: {'; '.join(unexpected)}",
            red=True,
        )
    terminalreporter.write_line(f"skipped {len(skipped)}: " + "; ".join(parts), yellow=True)


@pytest.fixture
async def sqlite_db(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A migrated SQLite file of the test's own (whatever the database backend parameter): a copy
    of the session's template (`fresh_database`: a new file, migrated here)."""
    path = tmp_path / "one.db"
    migrated_sqlite_file(request, path)
    db = await open_current(f"sqlite:///{path}", request)
    yield db
    await db.close()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call made on a SQLite connection's thread (storage/onehop.py), by name."""
    seen: list[str] = []
    real = onehop.OneHopConnection._execute

    async def counting(self: onehop.OneHopConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(onehop.OneHopConnection, "_execute", counting)
    return seen
