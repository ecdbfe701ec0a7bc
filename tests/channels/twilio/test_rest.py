"""bot/channels/twilio/rest.py over real HTTP on loopback: a send through the proxy the environment
names (HTTP_PROXY / HTTPS_PROXY, NO_PROXY), the app's keep-alive pool, and what a send that did not
get a readable answer becomes (answers no server should give, no server, a certificate not
trusted, a late answer, and the same under uvloop, which `textwire serve` runs)."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import uvloop
from aiohttp import web
from yarl import URL

from bot.channels.twilio.rest import TwilioTransport, env_proxy
from bot.core.channel import SendError, Sent
from bot.core.config import TwilioConfig
from bot.core.curl import Proxy
from tests.certs import self_signed
from tests.conftest import ALICE, BotFactory
from tests.fakes.twilio_rest import FakeTwilio

STATUS_CALLBACK = "https://bot.example/twilio/status"
HOP_BY_HOP = {"connection", "proxy-connection", "proxy-authorization", "keep-alive", "host", "content-length"}


@dataclass
class Seen:
    method: str
    target: str  # the request line's target: absolute-form ("http://host:port/path") through a proxy
    authorization: str | None
    proxy_authorization: str | None


@dataclass
class ForwardProxy:
    """An HTTP forward proxy for http:// URLs: takes absolute-form requests, records them and
    passes them on (its own client, no proxy), answering with the upstream's status, body and
    Content-Type / Retry-After."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)

    def app(self, upstream: aiohttp.ClientSession) -> web.Application:
        async def forward(request: web.Request) -> web.Response:
            self.seen.append(
                Seen(
                    request.method,
                    request.raw_path,
                    request.headers.get("Authorization"),
                    request.headers.get("Proxy-Authorization"),
                )
            )
            if not URL(request.raw_path).is_absolute():
                return web.Response(status=400, text="not a proxy request")
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
            async with upstream.request(
                request.method,
                URL(request.raw_path, encoded=True),
                headers=headers,
                data=await request.read(),
            ) as answer:
                body = await answer.read()
                kept = {
                    k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "retry-after")
                }
                return web.Response(status=answer.status, body=body, headers=kept)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        return app


@pytest.fixture
async def proxy(aiohttp_server: Any) -> AsyncIterator[ForwardProxy]:
    async with aiohttp.ClientSession() as upstream:  # no trust_env: straight to the upstream
        forward = ForwardProxy()
        server = await aiohttp_server(forward.app(upstream))
        forward.url = str(server.make_url("")).rstrip("/")
        yield forward


def _messages_path(fake: FakeTwilio) -> str:
    return f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"


async def test_replies_go_through_the_proxy_http_proxy_names(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, fake_twilio: FakeTwilio, bot_factory: BotFactory
) -> None:
    """The whole app: a reply's send reaches the fake Twilio (an http:// API base) through the
    proxy in HTTP_PROXY, as an absolute-form request with Twilio's Basic credentials intact; the
    proxy's own credentials (from its URL) go in Proxy-Authorization. The app's session (X, media,
    the lookup before a resend) goes through it too."""
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://relay:s3cret@"))
    bot = await bot_factory(twilio=fake_twilio.section())
    await bot.text("\\HELP")
    [message] = await fake_twilio.wait_for_messages(1)
    assert message["To"] == ALICE
    found = await bot.runtime.transport.find(ALICE, message["Body"], since=0.0)
    assert [sent.sid for sent in found] == [message["sid"]]
    twilio_auth = base64.b64encode(f"{fake_twilio.account_sid}:{fake_twilio.auth_token}".encode()).decode()
    relay_auth = base64.b64encode(b"relay:s3cret").decode()
    messages = fake_twilio.api_base + _messages_path(fake_twilio)
    assert [
        (s.method, s.target.split("?")[0], s.authorization, s.proxy_authorization) for s in proxy.seen
    ] == [
        ("POST", messages, "Basic " + twilio_auth, "Basic " + relay_auth),
        ("GET", messages, "Basic " + twilio_auth, "Basic " + relay_auth),
    ]


async def test_a_lookup_goes_through_the_proxy_too(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, fake_twilio: FakeTwilio
) -> None:
    """`find` (the twilio library over the app's session, which has trust_env) and a refused send
    (429 with Retry-After, through the proxy) keep what the sender decides by."""
    monkeypatch.setenv("http_proxy", proxy.url)
    fake_twilio.fail_next(429, 20429, retry_after=7)
    async with aiohttp.ClientSession(trust_env=True) as session:
        transport = TwilioTransport(session, TwilioConfig(**fake_twilio.section()), STATUS_CALLBACK)
        try:
            with pytest.raises(SendError) as raised:
                await transport.send(ALICE, "hi")
            sent = await transport.send(ALICE, "hi")
            found = await transport.find(ALICE, "hi", since=0.0)
        finally:
            await transport.close()
    assert (raised.value.status, raised.value.code, raised.value.retry_after) == (429, 20429, 7.0)
    assert [s.sid for s in found] == [sent.sid]
    assert [(s.method, URL(s.target).path) for s in proxy.seen] == [
        ("POST", _messages_path(fake_twilio)),
        ("POST", _messages_path(fake_twilio)),
        ("GET", _messages_path(fake_twilio)),
    ]


@pytest.mark.parametrize(
    "environment",
    [{}, {"HTTP_PROXY": "{proxy}", "NO_PROXY": "127.0.0.1"}, {"HTTPS_PROXY": "{proxy}"}],
    ids=["no-proxy-variables", "host-in-no-proxy", "only-an-https-proxy"],
)
async def test_a_send_is_direct_unless_a_proxy_is_named_for_it(
    monkeypatch: pytest.MonkeyPatch, proxy: ForwardProxy, fake_twilio: FakeTwilio, environment: dict[str, str]
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(proxy=proxy.url))
    async with aiohttp.ClientSession(trust_env=True) as session:
        transport = TwilioTransport(session, TwilioConfig(**fake_twilio.section()), STATUS_CALLBACK)
        try:
            await transport.send(ALICE, "hi")
            await transport.find(ALICE, "hi", since=0.0)
        finally:
            await transport.close()
    assert len(fake_twilio.messages) == 1
    assert fake_twilio.list_requests == 1
    assert proxy.seen == []


async def test_an_https_send_asks_the_https_proxy_for_a_tunnel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twilio's real API base (https): the send asks the proxy in HTTPS_PROXY for a tunnel
    (CONNECT, the proxy's credentials with it, Twilio's not: they go inside the tunnel), and the
    proxy resolves Twilio's name (nothing here looks it up). This proxy refuses the tunnel: a
    retry without a status."""
    heads: list[bytes] = []

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("HTTPS_PROXY", f"http://relay:s3cret@127.0.0.1:{port}")
    try:
        [result] = await _send_all("https://api.twilio.com", ["hi"])
    finally:
        server.close()
        await server.wait_closed()
    assert isinstance(result, SendError)
    assert (result.status, result.retryable) == (None, True)
    [head] = heads
    lines = head.decode().split("\r\n")
    assert lines[0] == "CONNECT api.twilio.com:443 HTTP/1.1"
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if line)}
    assert headers["proxy-authorization"] == "Basic " + base64.b64encode(b"relay:s3cret").decode()
    assert "authorization" not in headers


def test_the_proxy_is_chosen_by_the_urls_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:pw@proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://plain.internal:8080")
    monkeypatch.setenv("NO_PROXY", "localhost,.example.org")
    assert env_proxy(URL("https://api.twilio.com/x")) == Proxy("http://proxy.internal:3128", "user", "pw")
    assert env_proxy(URL("http://api.twilio.com/x")) == Proxy("http://plain.internal:8080")
    assert env_proxy(URL("https://api.example.org/x")) is None
    assert env_proxy(URL("http://localhost:8080/x")) is None


# -- the send's HTTP, without a proxy ---------------------------------------------------------------


def _echo_app(seen: list[tuple[str, bytes, object]]) -> web.Application:
    """Answers like the Messages API with the form it got as the sid; records (path, body, the
    connection it came on). `/slow/...` answers 0.5 s late."""

    async def create(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.path, body, request.transport))
        if request.path.startswith("/slow/"):
            await asyncio.sleep(0.5)
        return web.json_response({"sid": body.decode(), "status": "queued"}, status=201)

    app = web.Application()
    app.router.add_post("/{tail:.*}", create)
    return app


def _config(base: str, **changes: Any) -> TwilioConfig:
    return TwilioConfig(
        account_sid="AC" + "2" * 32, auth_token="tok", from_number="+15550000000", api_base=base, **changes
    )


async def _send_all(base: str, bodies: list[str], **config: Any) -> list[Sent | SendError]:
    async with aiohttp.ClientSession(trust_env=True) as session:
        transport = TwilioTransport(session, _config(base, **config), STATUS_CALLBACK)
        results: list[Sent | SendError] = []
        try:
            for body in bodies:
                try:
                    results.append(await transport.send(ALICE, body))
                except SendError as exc:
                    results.append(exc)
        finally:
            await transport.close()
        return results


async def test_sends_share_kept_alive_connections_and_each_gets_its_own_answer(aiohttp_server: Any) -> None:
    seen: list[tuple[str, bytes, object]] = []
    server = await aiohttp_server(_echo_app(seen))
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(trust_env=True) as session:
        transport = TwilioTransport(session, _config(base), STATUS_CALLBACK)
        try:
            first = await transport.send(ALICE, "one")
            second = await transport.send(ALICE, "two")
            together = await asyncio.gather(*(transport.send(ALICE, f"n{i}") for i in range(20)))
        finally:
            await transport.close()
    assert first.sid.startswith("To=%2B15550001111&From=%2B15550000000&Body=one&StatusCallback=")
    assert "Body=two&" in second.sid
    assert [f"Body=n{i}&" in sent.sid for i, sent in enumerate(together)] == [True] * 20
    assert seen[0][2] is seen[1][2]  # one connection, kept alive


async def test_a_late_answer_times_out_and_the_next_send_gets_its_own(aiohttp_server: Any) -> None:
    """A send not answered within `timeout_seconds` is a SendError without a status (a retry
    after a look); its connection is dropped, so its late answer never answers a later send."""
    seen: list[tuple[str, bytes, object]] = []
    server = await aiohttp_server(_echo_app(seen))
    base = str(server.make_url("/slow")).rstrip("/")
    async with aiohttp.ClientSession(trust_env=True) as session:
        slow = TwilioTransport(session, _config(base, timeout_seconds=0.1), STATUS_CALLBACK)
        fast = TwilioTransport(session, _config(str(server.make_url("")).rstrip("/")), STATUS_CALLBACK)
        try:
            with pytest.raises(SendError) as raised:
                await slow.send(ALICE, "late")
            after = await fast.send(ALICE, "after")
        finally:
            await slow.close()
            await fast.close()
    assert (raised.value.status, raised.value.retryable, str(raised.value)) == (
        None,
        True,
        "timed out waiting for Twilio",
    )
    assert "Body=after&" in after.sid
    assert seen[1][2] is not seen[0][2]


async def test_a_send_cancelled_from_outside_stays_cancelled(aiohttp_server: Any) -> None:
    """A send cancelled by its caller (shutdown) raises CancelledError, not a timeout, and its
    transfer is dropped: the next send on the same transport gets its own answer."""
    arrived = asyncio.Event()

    async def create(request: web.Request) -> web.Response:
        body = await request.read()
        if b"Body=hang&" in body:
            arrived.set()
            await asyncio.sleep(30)
        return web.json_response({"sid": body.decode(), "status": "queued"}, status=201)

    app = web.Application()
    app.router.add_post("/{tail:.*}", create)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        transport = TwilioTransport(
            session, _config(str(server.make_url("")).rstrip("/"), timeout_seconds=20), STATUS_CALLBACK
        )
        try:
            task = asyncio.create_task(transport.send(ALICE, "hang"))
            await arrived.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            after = await transport.send(ALICE, "after")
        finally:
            await transport.close()
    assert "Body=after&" in after.sid


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)


@pytest.mark.parametrize(
    "answer",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b'HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{"sid"',
        b"",
        b'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{"sid": \r\n',
    ],
    ids=["garbage", "cut-short", "hang-up", "chunked-cut-short"],
)
async def test_answers_no_server_should_give_are_retries_without_a_status(
    raw_server: Callable[[Handler], Awaitable[str]], answer: bytes
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    [result] = await _send_all(await raw_server(handler), ["hi"])
    assert isinstance(result, SendError)
    assert (result.status, result.retryable) == (None, True)
    assert str(result).startswith("could not reach Twilio: ")


async def test_a_chunked_answer_is_read(raw_server: Callable[[Handler], Awaitable[str]]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'8\r\n{"sid": \r\n5\r\n"SM1"\r\n1\r\n}\r\n0\r\n\r\n'
        )
        await writer.drain()
        writer.close()

    assert await _send_all(await raw_server(handler), ["hi"]) == [Sent(sid="SM1", status="queued")]


async def test_no_server_is_a_retry_without_a_status(refused_port: int) -> None:
    [result] = await _send_all(f"http://127.0.0.1:{refused_port}", ["hi"])
    assert isinstance(result, SendError)
    assert (result.status, result.retryable, str(result)) == (
        None,
        True,
        "could not reach Twilio: COULDNT_CONNECT",
    )


async def test_https_refuses_a_certificate_not_trusted(tmp_path: Path) -> None:
    """A send over https checks the certificate and the host name (against the store Python's
    ssl trusts):
    a self-signed one is refused, before anything is sent."""
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    seen: list[tuple[str, bytes, object]] = []
    runner = web.AppRunner(_echo_app(seen))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx).start()
    port = runner.addresses[0][1]
    try:
        [result] = await _send_all(f"https://localhost:{port}", ["hi"])
    finally:
        await runner.cleanup()
    assert isinstance(result, SendError)
    assert (result.status, result.retryable) == (None, True)
    assert str(result) == "could not reach Twilio: PEER_FAILED_VERIFICATION"
    assert seen == []


def test_under_uvloop_what_serve_runs() -> None:
    """`textwire serve` runs on uvloop: sends on one kept-alive connection, and a timeout."""
    seen: list[tuple[str, bytes, object]] = []

    async def exchange() -> list[Sent | SendError]:
        runner = web.AppRunner(_echo_app(seen))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            return [
                *await _send_all(base, ["one", "two"]),
                *await _send_all(base + "/slow", ["late"], timeout_seconds=0.1),
            ]
        finally:
            await runner.cleanup()

    one, two, late = uvloop.run(exchange())
    assert isinstance(one, Sent)
    assert isinstance(two, Sent)
    assert isinstance(late, SendError)
    assert ("Body=one&" in one.sid, "Body=two&" in two.sid) == (True, True)
    assert str(late) == "timed out waiting for Twilio"
    assert seen[0][2] is seen[1][2]
