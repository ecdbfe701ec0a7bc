"""SIGTERM on the real `textwire serve`: it stops accepting connections, a webhook still sending
its body gets its answer (200 after the commit), a new request on a kept-alive connection is
stored and answered too (then its connection closes), and nothing acknowledged is lost. Past the
grace period a request still running gets 503, and so does one that starts then."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from twilio.request_validator import RequestValidator

from bot.core.metrics import Metrics
from bot.gateway.drain import Drain
from storage.db import Database
from tests.app.test_startup import serve_env
from tests.conftest import free_port, new_sid, wait_for

PUBLIC_URL = "https://sms.example.test"


def spawn(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(tmp_path / "out.log", "wb") as out, open(tmp_path / "err.log", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, stdout=out, stderr=err
        )


def signed_request(token: str, port: int, body_text: str, sender: str) -> tuple[str, bytes, bytes]:
    """(MessageSid, head, body) of a signed webhook as raw HTTP/1.1 (keep-alive)."""
    sid = new_sid()
    form = {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "+15550000000",
        "Body": body_text,
        "NumMedia": "0",
    }
    body = urlencode(form).encode()
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + "/twilio/sms", form)
    head = (
        f"POST /twilio/sms HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nX-Twilio-Signature: {signature}\r\n\r\n"
    ).encode()
    return sid, head, body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], str]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status_line, *header_lines = head.strip().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body.decode()


async def test_sigterm_answers_the_request_still_sending_its_body(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn(tmp_path, serve_env(tmp_path, port, TEXTWIRE_SERVER_PUBLIC_URL=PUBLIC_URL))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def healthy() -> bool:
                assert proc.poll() is None, (tmp_path / "err.log").read_text()
                try:
                    async with session.get(f"{base}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(healthy, within=30)
            token = (tmp_path / "data" / "dev-twilio-token").read_text().strip()

            # B: a kept-alive connection, idle when SIGTERM comes
            b_reader, b_writer = await asyncio.open_connection("127.0.0.1", port)
            b_writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            assert (await read_response(b_reader))[0] == 200

            # A: a webhook whose body is half sent
            sid, head, body = signed_request(token, port, "\\HELP", "+15550101234")
            a_reader, a_writer = await asyncio.open_connection("127.0.0.1", port)
            a_writer.write(head + body[:20])
            await a_writer.drain()

            async def a_in_flight() -> bool:
                async with session.get(f"{base}/metrics") as resp:
                    text = await resp.text()
                return 'textwire_http_in_flight{route="/twilio/sms"} 1.0' in text

            await wait_for(a_in_flight)
            proc.send_signal(signal.SIGTERM)

            async def refusing() -> bool:
                try:
                    async with aiohttp.ClientSession() as fresh, fresh.get(f"{base}/healthz"):
                        return False
                except aiohttp.ClientConnectionError:
                    return True

            await wait_for(refusing)  # no new connections
            assert proc.poll() is None  # still waiting for A

            # a new request on the kept-alive connection: stored and answered (Twilio does not
            # retry a 503 by default: refusing it lost the text), then the connection closes
            b_sid, b_head, b_body = signed_request(token, port, "\\HELP", "+15550105678")
            b_writer.write(b_head + b_body)
            status, headers, text = await read_response(b_reader)
            assert status == 200, text
            assert headers.get("connection", "").lower() == "close"
            assert await b_reader.read() == b""  # closed by the server
            b_writer.close()

            a_writer.write(body[20:])  # the rest of A's body, after SIGTERM
            await a_writer.drain()
            status, headers, text = await read_response(a_reader)
            assert status == 200, text
            assert "<Response />" in text
            assert headers.get("connection", "").lower() == "close"
            a_writer.close()
        assert await asyncio.to_thread(proc.wait, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events: list[dict[str, Any]] = [
        json.loads(line) for line in (tmp_path / "out.log").read_text().splitlines()
    ]
    names = [e["event"] for e in events]
    assert names.index("app.stopping") < names.index("app.stopped")
    assert "http.drain_timeout" not in names
    assert (tmp_path / "err.log").read_text() == ""
    db = Database(f"sqlite:///{tmp_path}/data/textwire.db")
    try:
        async with db.read() as conn:
            stored = (await conn.execute(sa.text("SELECT message_sid FROM inbox"))).scalars().all()
    finally:
        await db.close()
    assert sorted(stored) == sorted([sid, b_sid])  # both were acknowledged, both are kept


async def test_past_the_grace_period_a_running_request_gets_503(aiohttp_client: Any) -> None:
    started = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await asyncio.Event().wait()  # never answers by itself
        raise AssertionError("unreachable")

    drain = Drain(Metrics())
    app = web.Application(middlewares=[drain.middleware])
    app.router.add_get("/slow", slow)
    client = await aiohttp_client(app)
    pending = asyncio.ensure_future(client.get("/slow"))
    await started.wait()
    assert drain.in_flight == 1
    drain.begin()
    assert await drain.wait(0.05) is False
    resp = await pending
    assert resp.status == 503
    assert drain.in_flight == 0
    assert (await client.get("/slow")).status == 503  # past the grace period: refused at once


async def test_a_request_that_starts_while_draining_is_served_and_its_connection_closed(
    aiohttp_client: Any,
) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="stored")

    drain = Drain(Metrics())
    app = web.Application(middlewares=[drain.middleware])
    app.router.add_post("/hook", ok)
    client = await aiohttp_client(app)
    assert (await client.post("/hook")).headers.get("Connection", "").lower() != "close"
    drain.begin()
    resp = await client.post("/hook")
    assert resp.status == 200
    assert await resp.text() == "stored"
    assert resp.headers.get("Connection", "").lower() == "close"
    assert await drain.wait(1.0) is True
