"""The SMS channel's media source: where an MMS item may be fetched from (credentials only for this
account's media on the API base, redirects only to the media hosts), the stream it gives, and
releasing (deleting) Twilio's copy, over real HTTP against a local stand-in of Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from bot.channels.twilio.media import (
    GONE,
    NOT_TWILIO,
    REDIRECTED,
    TwilioMedia,
    is_media_host,
    is_twilio_media_url,
)
from bot.core.channel import MediaRefused, MediaUnavailable
from bot.core.config import TwilioConfig

TWILIO = TwilioConfig(
    account_sid="AC" + "a" * 32,
    auth_token="t",
    api_base="https://api.twilio.com",
    media_hosts=("mms.twiliocdn.com", "127.0.0.1:8443"),
)
GOOD = f"https://api.twilio.com/2010-04-01/Accounts/AC{'a' * 32}/Messages/MM{'1' * 32}/Media/ME{'2' * 32}"


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        (GOOD, True),
        (GOOD.replace("https://", "http://"), False),
        (GOOD.replace("api.twilio.com", "api.twilio.com.evil.test"), False),
        (GOOD.replace("api.twilio.com", "api.twilio.com:444"), False),
        (GOOD.replace("AC" + "a" * 32, "AC" + "b" * 32), False),  # another account
        (GOOD + "?x=1", False),
        (GOOD.replace("/Media/", "/Media/..%2F"), False),
        (GOOD.replace("https://", "https://user:pw@"), False),
        ("https://evil.test/2010-04-01/Accounts/AC" + "a" * 32 + "/Messages/MM1/Media/ME2", False),
        (f"https://api.twilio.com/2010-04-01/Accounts/AC{'a' * 32}/Messages.json", False),
    ],
)
def test_credentials_only_for_this_accounts_media_on_the_api_base(url: str, ok: bool) -> None:
    assert is_twilio_media_url(TWILIO, url) is ok


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://mms.twiliocdn.com/x", True),
        ("https://MMS.twiliocdn.com/x", True),
        ("http://mms.twiliocdn.com/x", False),  # https only when the API base is https
        ("https://mms.twiliocdn.com:8443/x", False),
        ("https://media.twiliocdn.com/x", False),
        ("https://127.0.0.1:8443/x", True),
        ("https://127.0.0.1:8444/x", False),
        ("https://evil.test/mms.twiliocdn.com", False),
        ("https://mms.twiliocdn.com.evil.test/x", False),
    ],
)
def test_redirects_only_to_the_media_hosts(url: str, ok: bool) -> None:
    assert is_media_host(TWILIO, URL(url)) is ok


SID = "AC" + "c" * 32
PATH = f"/2010-04-01/Accounts/{SID}/Messages/MM{'1' * 32}/Media/ME{'2' * 32}"


@pytest.fixture
async def twilio_host(aiohttp_server) -> AsyncIterator[tuple[TwilioMedia, dict[str, list[str]]]]:  # type: ignore[no-untyped-def]
    """A local Twilio: the media URL redirects to the "CDN" (another path on the same host, which
    is on `media_hosts`); `seen` records each request's Authorization header by path."""
    seen: dict[str, list[str]] = {}
    state = {"status": 200}

    async def media(request: web.Request) -> web.StreamResponse:
        seen.setdefault(request.path, []).append(request.headers.get("Authorization", ""))
        if request.method == "DELETE":
            return web.Response(status=204)
        if state["status"] != 200:
            return web.Response(status=state["status"])
        raise web.HTTPFound(f"http://{request.host}/cdn/photo")

    async def cdn(request: web.Request) -> web.Response:
        seen.setdefault(request.path, []).append(request.headers.get("Authorization", ""))
        return web.Response(body=b"\xff\xd8\xff" + b"x" * 100, content_type="image/jpeg")

    app = web.Application()
    app.router.add_route("*", PATH, media)
    app.router.add_route("*", PATH + ".json", media)
    app.router.add_get("/cdn/photo", cdn)
    server = await aiohttp_server(app)
    host = f"127.0.0.1:{server.port}"
    config = TwilioConfig(
        account_sid=SID, auth_token="tok", api_base=f"http://{host}", media_hosts=(host,), timeout_seconds=2.0
    )
    async with aiohttp.ClientSession() as http:
        source = TwilioMedia(http, config)
        source.state = state  # type: ignore[attr-defined]
        yield source, seen


async def test_a_fetch_sends_credentials_to_twilio_and_none_to_the_cdn(twilio_host) -> None:  # type: ignore[no-untyped-def]
    source, seen = twilio_host
    ref = source.twilio.api_base + PATH
    async with source.open(ref) as stream:
        body = b"".join([chunk async for chunk in stream.chunks])
    assert body.startswith(b"\xff\xd8\xff")
    assert stream.length == len(body)
    assert seen[PATH] == [aiohttp.encode_basic_auth(SID, "tok")]
    assert seen["/cdn/photo"] == [""]


async def test_an_item_not_from_twilio_is_refused_without_a_request(twilio_host) -> None:  # type: ignore[no-untyped-def]
    source, seen = twilio_host
    with pytest.raises(MediaRefused) as refused:
        async with source.open("http://elsewhere.test" + PATH):
            pass
    assert refused.value.reason == NOT_TWILIO
    assert refused.value.short == "not from Twilio"
    assert seen == {}


@pytest.mark.parametrize(("status", "outage"), [(404, False), (403, False), (429, True), (503, True)])
async def test_an_answer_is_an_outage_or_a_refusal(twilio_host, status: int, outage: bool) -> None:  # type: ignore[no-untyped-def]
    source, _ = twilio_host
    source.state["status"] = status
    expected = MediaUnavailable if outage else MediaRefused
    with pytest.raises(expected) as raised:
        async with source.open(source.twilio.api_base + PATH):
            pass
    if not outage:
        assert raised.value.reason == GONE  # type: ignore[union-attr]
        # a 404 may be an item not at Twilio's media host yet: the handler tries again a while
        assert raised.value.not_yet == (status == 404)  # type: ignore[union-attr]


async def test_a_redirect_away_from_the_media_hosts_is_refused(twilio_host) -> None:  # type: ignore[no-untyped-def]
    source, _ = twilio_host
    source.twilio = TwilioConfig(
        account_sid=SID,
        auth_token="tok",
        api_base=source.twilio.api_base,
        media_hosts=("mms.twiliocdn.com",),
        timeout_seconds=2.0,
    )
    with pytest.raises(MediaRefused) as refused:
        async with source.open(source.twilio.api_base + PATH):
            pass
    assert refused.value.reason == REDIRECTED


async def test_release_deletes_twilios_copy_with_credentials(twilio_host) -> None:  # type: ignore[no-untyped-def]
    source, seen = twilio_host
    assert await source.release(source.twilio.api_base + PATH) is True
    assert seen[PATH + ".json"] == [aiohttp.encode_basic_auth(SID, "tok")]
    assert await source.release("http://elsewhere.test" + PATH) is False  # never sent anywhere else


async def test_release_of_an_unreachable_twilio_is_false_not_an_error() -> None:
    config = TwilioConfig(
        account_sid=SID, auth_token="tok", api_base="http://127.0.0.1:9", timeout_seconds=1.0
    )
    async with aiohttp.ClientSession() as http:
        assert await TwilioMedia(http, config).release(config.api_base + PATH) is False
