"""bot/core/curl.py against real aiohttp servers on loopback: answers with their status, body and
headers, kept-alive connections shared by concurrent requests, a deadline, a refused connection,
the tests' network guard, and closing with requests in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from bot.core.curl import Answer, CurlError, CurlPool


def _app(peers: list[object], arrived: asyncio.Event | None = None) -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        peers.append(request.transport)
        if body == b"hang":
            if arrived is not None:
                arrived.set()
            await asyncio.sleep(30)
        if body == b"busy":
            return web.json_response(
                {"code": 20429}, status=429, headers={"Retry-After": "7", "X-Seen": request.headers["X-Tag"]}
            )
        return web.Response(status=201, body=body[::-1], headers={"X-Seen": request.headers.get("X-Tag", "")})

    app = web.Application()
    app.router.add_post("/{tail:.*}", echo)
    return app


async def test_an_answer_carries_its_status_body_and_headers(aiohttp_server: Any) -> None:
    server = await aiohttp_server(_app([]))
    pool = CurlPool()
    try:
        ok = await pool.post(str(server.make_url("/a")), b"hello", ["X-Tag: one"], timeout=5)
        busy = await pool.post(str(server.make_url("/a")), b"busy", ["X-Tag: two"], timeout=5)
    finally:
        await pool.close()
    assert (ok.status, ok.body, ok.header("x-seen")) == (201, b"olleh", "one")
    assert (busy.status, busy.header("RETRY-AFTER"), busy.header("X-Seen")) == (429, "7", "two")
    assert busy.header("Absent") is None


def test_a_header_repeated_answers_its_last_value() -> None:
    answer = Answer(
        200, b"", (b"HTTP/1.1 200 OK\r\n", b"Retry-After: 1\r\n", b"retry-after:  2 \r\n", b"\r\n")
    )
    assert answer.header("Retry-After") == "2"


async def test_concurrent_requests_share_kept_alive_connections(aiohttp_server: Any) -> None:
    peers: list[object] = []
    server = await aiohttp_server(_app(peers))
    url = str(server.make_url("/"))
    pool = CurlPool()
    try:
        first = await asyncio.gather(*(pool.post(url, f"n{i}".encode(), [], timeout=5) for i in range(8)))
        second = await asyncio.gather(*(pool.post(url, f"m{i}".encode(), [], timeout=5) for i in range(8)))
    finally:
        await pool.close()
    assert [a.body for a in first] == [f"n{i}".encode()[::-1] for i in range(8)]
    assert [a.body for a in second] == [f"m{i}".encode()[::-1] for i in range(8)]
    assert len({id(p) for p in peers}) <= 8  # the second round reused the first's connections


async def test_a_late_answer_is_a_timeout(aiohttp_server: Any) -> None:
    server = await aiohttp_server(_app([]))
    pool = CurlPool()
    try:
        with pytest.raises(CurlError) as raised:
            await pool.post(str(server.make_url("/")), b"hang", [], timeout=0.2)
        after = await pool.post(str(server.make_url("/")), b"next", [], timeout=5)
    finally:
        await pool.close()
    assert (raised.value.timed_out, raised.value.name) == (True, "OPERATION_TIMEDOUT")
    assert after.body == b"txen"


async def test_a_refused_connection_is_named(refused_port: int) -> None:
    pool = CurlPool()
    try:
        with pytest.raises(CurlError) as raised:
            await pool.post(f"http://127.0.0.1:{refused_port}/", b"x", [], timeout=5)
    finally:
        await pool.close()
    assert (raised.value.name, raised.value.timed_out) == ("COULDNT_CONNECT", False)


async def test_the_tests_network_guard_stops_libcurl_too() -> None:
    """The guard (tests/conftest.py) refuses any address beyond loopback before it is connected
    to: 192.0.2.1 (TEST-NET-1) is never tried."""
    pool = CurlPool()
    try:
        with pytest.raises(CurlError) as raised:
            await pool.post("http://192.0.2.1:9/", b"x", [], timeout=5)
    finally:
        await pool.close()
    assert raised.value.name == "COULDNT_CONNECT"


async def test_closing_cancels_what_is_in_flight_and_refuses_more(aiohttp_server: Any) -> None:
    arrived = asyncio.Event()
    server = await aiohttp_server(_app([], arrived))
    pool = CurlPool()
    waiting = asyncio.create_task(pool.post(str(server.make_url("/")), b"hang", [], timeout=20))
    await arrived.wait()
    await pool.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await pool.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        await pool.post(str(server.make_url("/")), b"x", [], timeout=5)
