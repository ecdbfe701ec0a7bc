"""bot/channels/twilio/http1.py: the sender's keep-alive HTTP/1.1 client, against real servers on loopback
(aiohttp's, a TLS one, and raw sockets for the answers a well-behaved server never gives)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import uvloop
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.channels.twilio.http1 import Answer, HttpError, Origin
from tests.conftest import wait_for

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _echo_app(seen: list[tuple[str, str, bytes, object]]) -> web.Application:
    """Records (method, path, body, the connection it came on); answers like the Messages API."""

    async def create(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.method, request.path_qs, body, request.transport))
        headers = {"Retry-After": "7"} if request.path.endswith("busy") else {}
        status = 429 if request.path.endswith("busy") else 201
        if request.path.endswith("bye"):
            headers["Connection"] = "close"
        if request.path.endswith("big"):
            return web.Response(body=b"x" * 5000, status=201)
        if request.path.endswith("chunked"):
            response = web.StreamResponse(status=201)
            response.enable_chunked_encoding()
            await response.prepare(request)
            for part in (b'{"sid": ', b'"SM1"', b"}"):
                await response.write(part)
            await response.write_eof()
            return response  # type: ignore[return-value]
        if request.path.endswith("slow"):
            await asyncio.sleep(0.5)
        return web.json_response(
            {"sid": "SM" + "0" * 32, "got": body.decode()}, status=status, headers=headers
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", create)
    return app


@pytest.fixture
async def echo(aiohttp_server: Any) -> tuple[str, list[tuple[str, str, bytes, object]]]:
    seen: list[tuple[str, str, bytes, object]] = []
    server = await aiohttp_server(_echo_app(seen))
    return str(server.make_url("")).rstrip("/"), seen


async def _post(origin: Origin, path: str, body: bytes = b"a=1") -> Answer:
    head = origin.head("POST", path, {"Content-Type": "application/x-www-form-urlencoded"})
    return await origin.request(head, body)


async def test_requests_share_a_kept_alive_connection(echo: Any) -> None:
    base, seen = echo
    origin = Origin(base)
    try:
        first = await _post(origin, "/one", b"To=%2B1555&Body=hi")
        await _post(origin, "/two?x=1", b"b=2")
    finally:
        await origin.close()
    assert first.status == 201
    assert first.headers["content-type"] == "application/json; charset=utf-8"
    assert b'"got": "To=%2B1555&Body=hi"' in first.body
    assert [(m, p, b) for m, p, b, _ in seen] == [
        ("POST", "/one", b"To=%2B1555&Body=hi"),
        ("POST", "/two?x=1", b"b=2"),
    ]
    assert seen[0][3] is seen[1][3]  # one connection


def test_under_uvloop_what_serve_runs(tmp_path: Path) -> None:
    """`textwire serve` runs on uvloop, whose transports are not asyncio's classes and whose TLS
    is its own: plain and https exchanges on it."""
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    seen: list[tuple[str, str, bytes, object]] = []

    async def exchange() -> list[Answer]:
        runner = web.AppRunner(_echo_app(seen))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx).start()
        plain_port, tls_port = (address[1] for address in runner.addresses)
        plain = Origin(f"http://127.0.0.1:{plain_port}")
        tls = Origin(
            f"https://localhost:{tls_port}", ssl_context=ssl.create_default_context(cafile=str(cert))
        )
        try:
            return [await _post(plain, "/one"), await _post(plain, "/two"), await _post(tls, "/tls")]
        finally:
            await plain.close()
            await tls.close()
            await runner.cleanup()

    answers = uvloop.run(exchange())
    assert [a.status for a in answers] == [201, 201, 201]
    assert [path for _, path, _, _ in seen] == ["/one", "/two", "/tls"]
    assert seen[0][3] is seen[1][3]


async def test_concurrent_requests_each_get_their_own_answer(echo: Any) -> None:
    base, seen = echo
    origin = Origin(base)
    try:
        answers = await asyncio.gather(*(_post(origin, f"/n{i}", str(i).encode()) for i in range(20)))
        again = await asyncio.gather(*(_post(origin, f"/m{i}", str(i).encode()) for i in range(20)))
    finally:
        await origin.close()
    for i, answer in enumerate(answers + again):
        assert f'"got": "{i % 20}"'.encode() in answer.body
    assert len({id(conn) for *_, conn in seen}) <= 20  # the second round reused the first's


@pytest.mark.parametrize(
    ("first", "keepalive"),
    [("/bye", 15.0), ("/one", 0.0)],
    ids=["answered-with-connection-close", "idle-past-keepalive"],
)
async def test_a_connection_is_not_reused_after_close_or_past_keepalive(
    echo: Any, first: str, keepalive: float
) -> None:
    base, seen = echo
    origin = Origin(base, keepalive=keepalive)
    try:
        await _post(origin, first)
        await _post(origin, "/after")
    finally:
        await origin.close()
    assert seen[0][3] is not seen[1][3]


async def test_error_statuses_chunked_answers_and_the_size_cap(echo: Any) -> None:
    base, _ = echo
    origin = Origin(base, max_body=4096)
    try:
        busy = await _post(origin, "/busy")
        chunked = await _post(origin, "/chunked")
        with pytest.raises(HttpError, match="over 4096 bytes"):
            await _post(origin, "/big")
        after = await _post(origin, "/after")  # a fresh connection
    finally:
        await origin.close()
    assert busy.status == 429
    assert busy.headers["retry-after"] == "7"
    assert chunked.body == b'{"sid": "SM1"}'
    assert after.status == 201


async def test_a_timeout_closes_the_connection_and_the_late_answer_is_dropped(echo: Any) -> None:
    base, seen = echo
    origin = Origin(base)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await _post(origin, "/slow")
        answer = await _post(origin, "/after")
    finally:
        await origin.close()
    assert answer.status == 201
    assert [path for _, path, _, _ in seen] == ["/slow", "/after"]
    assert seen[1][3] is not seen[0][3]  # the timed-out connection was not reused


async def test_a_request_past_its_deadline_fails_and_its_connection_is_dropped(echo: Any) -> None:
    """`timeout=`: the origin's sweep fails a request whose answer is late (TimeoutError), closes
    its connection, and stops once nothing is in flight; a request answered in time is not
    touched."""
    base, seen = echo
    origin = Origin(base)
    try:
        with pytest.raises(TimeoutError):
            await origin.request(origin.head("POST", "/slow", {}), b"x", timeout=0.1)
        answer = await origin.request(origin.head("POST", "/after", {}), b"y", timeout=5.0)
        assert not origin._asked

        async def swept() -> bool:  # the sweep after the last answer finds nothing: no more sweeps
            return origin._sweep is None

        await wait_for(swept)
    finally:
        await origin.close()
    assert answer.status == 201
    assert [path for _, path, _, _ in seen] == ["/slow", "/after"]
    assert seen[1][3] is not seen[0][3]  # the timed-out connection was not reused


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
    ("answer", "error"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", "unreadable answer"),
        (b'HTTP/1.1 201 Created\r\nContent-Length: 100\r\n\r\n{"sid"', "closed before the answer ended"),
        (b"", "closed before the answer ended"),
    ],
    ids=["garbage", "cut-short", "hang-up"],
)
async def test_answers_no_server_should_give_are_errors(
    raw_server: Callable[[Handler], Awaitable[str]], answer: bytes, error: str
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    origin = Origin(await raw_server(handler))
    try:
        with pytest.raises(HttpError, match=error):
            await _post(origin, "/x")
    finally:
        await origin.close()


async def test_a_connection_the_server_closed_while_idle_is_replaced(
    raw_server: Callable[[Handler], Awaitable[str]],
) -> None:
    """A server (Twilio's load balancer) may close a kept-alive connection while it is idle,
    without having said `Connection: close`: the next request goes on a new connection, and
    succeeds, instead of failing on the dead one."""
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await _read_request(reader)
        writer.write(b'HTTP/1.1 201 Created\r\nContent-Length: 13\r\n\r\n{"sid": "SM"}')
        await writer.drain()
        writer.close()  # idle, then gone

    origin = Origin(await raw_server(handler))
    try:
        first = await _post(origin, "/one")

        async def close_seen() -> bool:
            return origin._idle[0].closed

        await wait_for(close_seen, within=10)
        second = await _post(origin, "/two")
    finally:
        await origin.close()
    assert (first.status, second.status, connections) == (201, 201, 2)


async def test_no_server_is_an_error_and_a_closed_client_refuses(unused_tcp_port: int) -> None:
    origin = Origin(f"http://127.0.0.1:{unused_tcp_port}")
    with pytest.raises(HttpError, match="could not connect"):
        await _post(origin, "/x")
    await origin.close()
    with pytest.raises(HttpError, match="closed"):
        await _post(origin, "/x")


def test_only_http_urls() -> None:
    for url in ("ftp://example.com", "example.com", "http://"):
        with pytest.raises(ValueError, match="not an http"):
            Origin(url)
    origin = Origin("https://user:pw@api.example.com:8443/base")
    assert (origin.host, origin.port, origin.netloc) == ("api.example.com", 8443, "api.example.com:8443")
    assert origin.head("GET", "/x", {"A": "b"}) == "GET /x HTTP/1.1\r\nHost: api.example.com:8443\r\nA: b\r\n"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_https_checks_the_certificate_and_the_host_name(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    seen: list[tuple[str, str, bytes, object]] = []
    runner = web.AppRunner(_echo_app(seen))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        origin = Origin(f"https://localhost:{port}", ssl_context=trusted)
        try:
            answer = await _post(origin, "/tls")
        finally:
            await origin.close()
        assert answer.status == 201
        assert seen[0][1] == "/tls"

        untrusted = Origin(f"https://localhost:{port}")  # the default context: not our CA
        with pytest.raises(HttpError, match="could not connect"):
            await _post(untrusted, "/tls")
        await untrusted.close()
    finally:
        await runner.cleanup()
