"""The routes every role serves: /metrics and /readyz answer on loopback or with the operator's
token, and a request a reverse proxy or a tunnel forwarded is not loopback, though the proxy
connects from 127.0.0.1 (the README's Caddy, nginx, cloudflared and ngrok setups all do)."""

from __future__ import annotations

import pytest

from tests.conftest import BotFactory, raw_request

FORWARDED = [
    {"X-Forwarded-For": "203.0.113.9"},
    {"Forwarded": "for=203.0.113.9;proto=https"},
    {"X-Real-IP": "203.0.113.9"},
    {"CF-Connecting-IP": "203.0.113.9"},
]


@pytest.mark.parametrize("path", ["/metrics", "/readyz"])
async def test_operator_routes_answer_loopback_but_not_what_a_proxy_forwarded(
    bot_factory: BotFactory, path: str
) -> None:
    bot = await bot_factory(server={"metrics_token": "s3cret"})
    assert (await bot.client.get(path)).status == 200  # aiohttp's test client: loopback
    for headers in FORWARDED:
        resp = await bot.client.get(path, headers=headers)
        assert resp.status == 403, headers
        assert "textwire_" not in await resp.text()
    # the token opens them from anywhere, forwarded or not
    token = {"Authorization": "Bearer s3cret"}
    assert (await bot.client.get(path, headers={**FORWARDED[0], **token})).status == 200
    assert (await bot.client.get(path, headers={**FORWARDED[0], "Authorization": "Bearer x"})).status == 403
    for spelled in ("bearer s3cret", "BEARER  s3cret"):  # a scheme is case-insensitive
        assert (await bot.client.get(path, headers={**FORWARDED[0], "Authorization": spelled})).status == 200
    for wrong in ("Basic s3cret", "Bearer s3cre", "Bearers3cret", "s3cret", "Bearer"):
        assert (await bot.client.get(path, headers={**FORWARDED[0], "Authorization": wrong})).status == 403


async def test_healthz_answers_everyone(bot_factory: BotFactory) -> None:
    bot = await bot_factory()
    resp = await bot.client.get("/healthz", headers=FORWARDED[0])
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}


@pytest.mark.parametrize("path", ["/metrics", "/readyz"])
async def test_a_token_that_is_not_utf8_is_refused(bot_factory: BotFactory, path: str) -> None:
    """`Authorization: Bearer` and bytes that are not UTF-8 reached the comparison as surrogates
    and answered 500 with a traceback: a wrong token, 403."""
    bot = await bot_factory(server={"metrics_token": "s3cret"})
    base = str(bot.client.make_url("")).rstrip("/")
    status, body = await raw_request(
        base, path, b"X-Forwarded-For: 203.0.113.9\r\nAuthorization: Bearer \xff\xfe"
    )
    assert (status, body) == (403, "forbidden")
