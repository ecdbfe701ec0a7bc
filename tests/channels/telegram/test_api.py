"""The Bot API client against the local fake over real HTTP: a method's result, Telegram's refusal
with its code and retry_after, a wrong token (401) without the token in the error, an answer
that is not Telegram's, and no server at all."""

from __future__ import annotations

import aiohttp
import pytest

from bot.channels.telegram.api import TelegramApi, TelegramError, bot_id
from bot.core.config import TelegramConfig
from tests.fakes.telegram_api import FakeTelegram


def api(http: aiohttp.ClientSession, fake: FakeTelegram, **changes: object) -> TelegramApi:
    return TelegramApi(http, TelegramConfig(**{**fake.section(), **changes}))  # type: ignore[arg-type]


async def test_a_result_and_a_refusal(fake_telegram: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http:
        me = await api(http, fake_telegram).call("getMe", {})
        fake_telegram.throttle.append(7)
        with pytest.raises(TelegramError) as throttled:
            await api(http, fake_telegram).call("sendMessage", {"chat_id": 1, "text": "hi"})
        with pytest.raises(TelegramError) as wrong:
            await api(http, fake_telegram, bot_token="1:secret-token").call("getMe", {})
    assert me["id"] == int(fake_telegram.bot_id)
    assert (throttled.value.status, throttled.value.retry_after) == (429, 7.0)
    assert wrong.value.status == 401
    assert "secret-token" not in str(wrong.value)


async def test_an_answer_that_is_not_telegrams(aiohttp_server: object, refused_port: int) -> None:
    from aiohttp import web

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>proxy error</html>", status=502)

    app = web.Application()
    app.router.add_post("/{tail:.*}", html)
    server = await aiohttp_server(app)  # type: ignore[operator]
    async with aiohttp.ClientSession() as http:
        base = str(server.make_url("")).rstrip("/")
        with pytest.raises(TelegramError) as unreadable:
            await TelegramApi(http, TelegramConfig(bot_token="1:t", webhook_secret="s", api_base=base)).call(
                "getMe", {}
            )
        with pytest.raises(TelegramError) as down:
            await TelegramApi(
                http,
                TelegramConfig(
                    bot_token="1:t", webhook_secret="s", api_base=f"http://127.0.0.1:{refused_port}"
                ),
            ).call("getMe", {})
    assert unreadable.value.status == 502
    assert down.value.status is None
    assert "could not reach Telegram" in str(down.value)


def test_the_bots_id_is_its_tokens_number() -> None:
    assert bot_id("123456:ABC-DEF") == "123456"
