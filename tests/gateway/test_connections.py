"""A real `textwire serve` closes a connection that sends no whole request head in time (idle,
half a head, a head trickled a byte at a time), keeps a keep-alive connection idle between
requests, and leaves a body that trickles in to its own 408."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp

from bot.gateway import connections
from tests.test_process import free_port, start_server, stop_processes, wait_healthy

HEAD_SECONDS = 0.5
BODY_SECONDS = 1.5  # longer than HEAD_SECONDS: the sweep has passed the slow body's connection many times
CONSTANTS = {
    "bot.gateway.connections": {"HEAD_SECONDS": HEAD_SECONDS, "SWEEP_SECONDS": 0.1},
    "bot.gateway.webhook": {"BODY_SECONDS": BODY_SECONDS},
}
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: textwire\r\n\r\n"
HALF_A_HEAD = b"POST /twilio/sms HTTP/1.1\r\nHost: textwire\r\nContent-Ty"


async def connect(
    port: int, opened: list[asyncio.StreamWriter], sent: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened.append(writer)
    writer.write(sent)
    await writer.drain()
    return reader, writer


async def answer(reader: asyncio.StreamReader) -> bytes:
    """One whole answer to a GET /healthz (its head, then its Content-Length's worth of body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + await reader.readexactly(length)


async def closed_without_answer(reader: asyncio.StreamReader) -> None:
    """EOF, or a reset (a byte of ours that came after the close, or that was still unread: the
    kernel answers it with RST, a suite run under load met it): the server closed it, said nothing."""
    with contextlib.suppress(ConnectionResetError):
        assert await reader.read() == b""


async def trickled_until_closed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A slowloris: a byte of a head now and then, never the end of it, until the server closes."""
    for byte in HALF_A_HEAD * 1000:  # progress that never ends the head
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            return
        try:
            assert await asyncio.wait_for(reader.read(1), 0.05) == b""
            return
        except ConnectionResetError:  # closed with a byte of ours still on its way: RST
            return
        except TimeoutError:
            continue  # still open: the next byte
    raise AssertionError("a head trickled in was never cut off")


async def test_a_connection_without_a_whole_head_is_closed_and_one_between_requests_is_kept(
    tmp_path: Path,
) -> None:
    """aiohttp's only timer on a connection that sends no request, or half of a head, is the
    keep-alive (3630 s): each was held for an hour, and a few thousand of them (slowloris) took a
    directly exposed server's file descriptors. Now one is closed HEAD_SECONDS after connecting,
    while an idle keep-alive connection (a proxy's pooled one) is kept and answers its next request,
    and a body that trickles in after its head still gets its 408."""
    port = free_port()
    proc = start_server(tmp_path, port, extra_env={"TEXTWIRE_MEDIA_OCR": "false"}, constants=CONSTANTS)
    opened: list[asyncio.StreamWriter] = []
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, port, proc)
        kept_reader, kept_writer = await connect(port, opened, HEALTHZ)
        assert (await answer(kept_reader)).startswith(b"HTTP/1.1 200 ")
        idle, _ = await connect(port, opened)
        half, _ = await connect(port, opened, HALF_A_HEAD)
        trickle = await connect(port, opened)
        slow_body, _ = await connect(
            port,
            opened,
            b"POST /twilio/sms HTTP/1.1\r\nHost: textwire\r\nContent-Type: application/x-www-form-urlencoded"
            b"\r\nContent-Length: 1000\r\n\r\nBody=hi",
        )
        async with asyncio.timeout(20):  # a bound for a failing test, not a timing under test
            await closed_without_answer(idle)
            await closed_without_answer(half)
            await trickled_until_closed(*trickle)
            # idle for at least HEAD_SECONDS since its answer (the others connected after it)
            kept_writer.write(HEALTHZ)
            assert (await answer(kept_reader)).startswith(b"HTTP/1.1 200 ")
            slow_head = await slow_body.readuntil(b"\r\n\r\n")
        assert slow_head.startswith(b"HTTP/1.1 408 "), slow_head
    finally:
        for writer in opened:
            writer.close()
        await asyncio.gather(*(writer.wait_closed() for writer in opened), return_exceptions=True)
        stop_processes([proc])
    log = (tmp_path / "stdout-0.log").read_text() + (tmp_path / "stderr-0.log").read_text()
    assert '"event":"http.head_timed_out"' in log
    assert "Traceback" not in log
    assert '"level":"error"' not in log


def test_idle_between_requests_is_aiohttps_keepalive() -> None:
    """The time between requests is aiohttp's default keep-alive, longer than the idle timeouts of
    the proxies in front (nginx 60 s, Caddy 2 min, an AWS ALB up to 4,000 s by its setting but 60 s
    by default, Google's 600 s): shorter, a proxy's next request could meet a connection closing."""
    from aiohttp.web_protocol import RequestHandler

    default = RequestHandler.__init__.__kwdefaults__["keepalive_timeout"]
    assert connections.KEEPALIVE_SECONDS == default >= 3600
    assert 10 <= connections.HEAD_SECONDS <= 30
