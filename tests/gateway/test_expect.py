"""bot/gateway/expect.py: `Expect: 100-continue` is answered 100 only for a body the route may
take; a declared body past the limit gets its 413 before a byte of it is sent."""

from __future__ import annotations

from bot.gateway.routes import MAX_BODY
from tests.conftest import Bot, answer_head


async def test_a_declared_body_past_the_limit_is_413_not_invited(bot: Bot) -> None:
    """A client that asked first (`Expect: 100-continue`) with a 10 MB body was answered "100
    Continue", sent the 10 MB, and only then got its 413: the point of asking is to be told before
    sending. It is answered 413 at once, and counted as the webhook's refusals are."""
    server = bot.client.server
    head = await answer_head(
        server.host,
        server.port,
        b"POST /twilio/sms HTTP/1.1\r\nHost: textwire\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n",
    )
    assert head.startswith(b"HTTP/1.1 413 ")
    metrics = await (await bot.client.get("/metrics")).text()
    assert 'textwire_inbound_total{channel="sms",result="too_large"} 1.0' in metrics


async def test_a_body_within_the_limit_is_invited(bot: Bot) -> None:
    server = bot.client.server
    head = await answer_head(
        server.host,
        server.port,
        b"POST /twilio/sms HTTP/1.1\r\nHost: textwire\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {MAX_BODY}\r\nExpect: 100-continue\r\n\r\n".encode(),
    )
    assert head.startswith(b"HTTP/1.1 100 Continue")
