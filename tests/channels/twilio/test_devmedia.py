"""The development stand-in of Twilio's media API: only in development mode, Basic auth on the
API path, a signed expiring CDN URL, DELETE like Twilio's."""

from __future__ import annotations

import secrets
import time
from typing import Any

from bot.channels.twilio import devmedia
from bot.channels.twilio.rest import basic_auth_header
from tests.conftest import BotFactory, raw_request


def _staged(config: Any) -> tuple[str, str, bytes]:
    message_sid, media_sid = "MM" + secrets.token_hex(16), "ME" + secrets.token_hex(16)
    folder = devmedia.media_dir(config) / message_sid
    folder.mkdir(parents=True)
    data = b"\xff\xd8\xff" + secrets.token_bytes(64)
    (folder / media_sid).write_bytes(data)
    return message_sid, media_sid, data


async def test_absent_outside_development_mode(bot_factory: BotFactory, fake_twilio: Any) -> None:
    bot = await bot_factory(twilio=fake_twilio.section())
    assert not bot.config.dev_mode
    message_sid, media_sid, _ = _staged(bot.config)
    path = devmedia.media_url(bot.config, message_sid, media_sid).removeprefix(bot.config.public_base)
    auth = {"Authorization": basic_auth_header(bot.config.twilio.account_sid, bot.config.twilio.auth_token)}
    assert (await bot.client.get(path, headers=auth, allow_redirects=False)).status == 404
    assert (await bot.client.delete(path + ".json", headers=auth)).status == 404
    assert (await bot.client.get(f"/dev/media/{message_sid}/{media_sid}?exp=1&sig=x")).status == 404


async def test_fetch_redirect_and_delete(bot_factory: BotFactory) -> None:
    bot = await bot_factory()
    config = bot.config
    assert config.dev_mode
    message_sid, media_sid, data = _staged(config)
    path = devmedia.media_url(config, message_sid, media_sid).removeprefix(config.public_base)
    auth = {"Authorization": basic_auth_header(devmedia.DEV_ACCOUNT_SID, bot.token)}

    assert (await bot.client.get(path, allow_redirects=False)).status == 401
    wrong = {"Authorization": basic_auth_header(devmedia.DEV_ACCOUNT_SID, "not-the-token")}
    assert (await bot.client.get(path, headers=wrong, allow_redirects=False)).status == 401
    base = str(bot.client.make_url("")).rstrip("/")
    assert (await raw_request(base, path, b"Authorization: Basic \xff\xfe"))[0] == 401  # was a 500

    resp = await bot.client.get(path, headers=auth, allow_redirects=False)
    assert resp.status == 307
    location = resp.headers["Location"]
    assert location.startswith(f"{config.public_base}/dev/media/{message_sid}/{media_sid}?exp=")
    cdn = location.removeprefix(config.public_base)
    got = await bot.client.get(cdn)
    assert got.status == 200
    assert await got.read() == data
    assert (await bot.client.get(cdn.replace("sig=", "sig=x"))).status == 403
    assert (await bot.client.get(cdn.replace("sig=", "sig=%C3%A9"))).status == 403  # "é": was a 500
    expired = f"/dev/media/{message_sid}/{media_sid}?exp={int(time.time()) - 1}&sig=x"
    assert (await bot.client.get(expired)).status == 403
    assert (
        await bot.client.get(f"/dev/media/{message_sid}/{media_sid}?exp=%C2%B2&sig=x")
    ).status == 403  # "²"

    assert (await bot.client.delete(path + ".json")).status == 401
    assert (await bot.client.delete(path + ".json", headers=auth)).status == 204
    assert not (devmedia.media_dir(config) / message_sid).exists()
    assert (await bot.client.delete(path + ".json", headers=auth)).status == 404
    assert (await bot.client.get(path, headers=auth, allow_redirects=False)).status == 404


def test_the_pipeline_sees_the_stand_in_as_twilio(make_config: Any) -> None:
    from yarl import URL

    from bot.channels.twilio.media import is_media_host, is_twilio_media_url

    config = make_config(server={"public_url": "http://127.0.0.1:8931"})
    twilio = devmedia.media_twilio_config(config, "dev-token")
    url = devmedia.media_url(config, "MM" + "a" * 32, "ME" + "b" * 32)
    assert is_twilio_media_url(twilio, url)
    assert is_media_host(twilio, URL("http://127.0.0.1:8931/dev/media/x"))
    assert not is_media_host(twilio, URL("http://127.0.0.1:8932/dev/media/x"))
    production = make_config(
        twilio={"auth_token": "t", "account_sid": "AC" + "1" * 32, "from_number": "+1555"}
    )
    assert devmedia.media_twilio_config(production, "dev-token") is production.twilio


async def test_an_expect_header_we_do_not_know_is_417_as_on_every_other_route(
    bot_factory: BotFactory,
) -> None:
    """The stand-in's routes were added without the routes' own `expect_handler`: an `Expect`
    whose bytes are not UTF-8 was a 500 with an error-level traceback."""
    bot = await bot_factory()
    message_sid, media_sid, _ = _staged(bot.config)
    base = str(bot.client.make_url("")).rstrip("/")
    api = devmedia.media_url(bot.config, message_sid, media_sid).removeprefix(bot.config.public_base)
    for path in (api, f"/dev/media/{message_sid}/{media_sid}?exp=1&sig=x"):
        assert await raw_request(base, path, b"Expect: \xff\xfe") == (417, "unknown Expect")
