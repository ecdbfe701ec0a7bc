"""bot/gateway/webhook.py over real HTTP: a body under the limit is read whole, one declared or
streamed past it is 413, one cut short is 400, one that does not come in time 408; refusals are counted by their kind and logged when
the sender got it wrong."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from bot.gateway import webhook
from bot.gateway.routes import MAX_BODY
from bot.gateway.webhook import read_body, rejected
from tests.conftest import answer_head


@pytest.fixture
async def echo(aiohttp_client: Any) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await read_body(request))))

    app = web.Application()
    app.router.add_post("/", handler)
    return await aiohttp_client(app)


async def test_a_body_within_the_limit_is_read_whole(echo: Any) -> None:
    resp = await echo.post("/", data=b"x" * MAX_BODY)
    assert (resp.status, await resp.text()) == (200, str(MAX_BODY))


async def test_a_body_past_the_limit_is_413_declared_or_streamed(echo: Any) -> None:
    declared = await echo.post("/", data=b"x" * (MAX_BODY + 1))
    assert declared.status == 413

    async def chunks() -> Any:
        for _ in range(MAX_BODY // 8192 + 2):
            yield b"y" * 8192

    streamed = await echo.post("/", data=chunks())  # chunked: no Content-Length to go by
    assert streamed.status == 413


async def test_a_body_that_does_not_come_is_408_and_the_connection_closed(
    echo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body that trickles in (a byte now and then) or stops coming held the connection and its
    handler for as long as the client kept the socket open: enough of them (behind a proxy that
    streams bodies) used up the file descriptors, and real webhooks were refused. It must come
    within BODY_SECONDS; then the answer is 408 and the connection is closed."""
    monkeypatch.setattr(webhook, "BODY_SECONDS", 0.2, raising=False)
    head = await answer_head(
        echo.server.host,
        echo.server.port,
        b"POST / HTTP/1.1\r\nHost: textwire\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 1000\r\n\r\nBody=hi",
    )
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"Connection: close" in head


def test_refusals_are_named_and_the_senders_mistakes_logged() -> None:
    with capture_logs() as logs:
        assert rejected("sms", web.HTTPForbidden(text="invalid signature")) == "forbidden"
        assert rejected("telegram", web.HTTPBadRequest(text="not JSON")) == "bad_request"
        assert rejected("sms", web.HTTPRequestEntityTooLarge(max_size=1, actual_size=2)) == "too_large"
        assert rejected("sms", web.HTTPRequestTimeout()) == "error"
        assert rejected("sms", web.HTTPServiceUnavailable()) == "error"
    assert [(e["event"], e["status"]) for e in logs] == [
        ("sms.rejected", 403),
        ("telegram.rejected", 400),
        ("sms.rejected", 408),
    ]
