"""bot/features/x/client.py against the local fake of X over real HTTP (tests/fakes/x_api.py): the
authorize URL with PKCE, the code exchange (a wrong verifier refused), refresh-token rotation (a
spent refresh token refused), posting, how X's answers map to errors (rate limited with the time
to retry, unauthorized, duplicate, forbidden, rejected, unavailable), and the client's
authentication: HTTP Basic with a client secret, `client_id` in the form without one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.core.config import XConfig
from bot.features.x.client import (
    SCOPES,
    VERIFIER_LENGTH,
    Posted,
    XAuthRejected,
    XClient,
    XDuplicate,
    XError,
    XForbidden,
    XRateLimited,
    XRejected,
    XUnauthorized,
    XUnavailable,
    XUser,
    new_pkce,
    new_state,
    over_limit,
    weighted_length,
)
from tests.conftest import free_port
from tests.fakes.x_api import ACCESS_TTL, FakeX, basic_auth_header, s256, start_fake_x

REDIRECT = "http://127.0.0.1:8080/x/callback"
SECRET = "s3cret-value"


@dataclass
class Sent:
    """What the client put on the wire: each request's method, URL, headers and body."""

    requests: list[dict[str, Any]] = field(default_factory=list)

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def start(_: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams) -> None:
            ctx.request = {"method": params.method, "url": str(params.url), "headers": params.headers}
            ctx.request["body"] = b""
            self.requests.append(ctx.request)

        async def chunk(_: Any, ctx: SimpleNamespace, params: aiohttp.TraceRequestChunkSentParams) -> None:
            ctx.request["body"] += params.chunk

        config.on_request_start.append(start)
        config.on_request_chunk_sent.append(chunk)
        return config

    def form(self, n: int = -1) -> dict[str, list[str]]:
        return parse_qs(self.requests[n]["body"].decode())


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
async def session(sent: Sent) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trace_configs=[sent.trace()]) as http:
        yield http


def client_of(session: aiohttp.ClientSession, fake: FakeX, *, secret: str = "", **x: Any) -> XClient:
    """A client of `fake` whose clock stands still at the fake's present moment."""
    fake.redirect_uris.add(REDIRECT)
    settings = {"api_base": fake.base_url, "authorize_url": fake.authorize_url, "timeout_seconds": 5.0, **x}
    config = XConfig(client_id=fake.client_id, client_secret=secret, **settings)
    now = fake.now
    return XClient(session, config, REDIRECT, clock=lambda: now)


@pytest.fixture
def client(session: aiohttp.ClientSession, fake_x: FakeX) -> XClient:
    return client_of(session, fake_x)


async def code_for(client: XClient, challenge: str) -> str:
    """Follow the authorize URL as a browser would (the fake approves at once): X's code."""
    async with client.session.get(
        client.authorize_url(new_state(), challenge), allow_redirects=False
    ) as resp:
        assert resp.status == 302, await resp.text()
        location = resp.headers["Location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)["code"][0]


# -- OAuth ---------------------------------------------------------------------------------------


def test_pkce_verifier_and_s256_challenge() -> None:
    verifier, challenge = new_pkce()
    assert len(verifier) == VERIFIER_LENGTH
    assert challenge == s256(verifier)
    assert new_pkce()[0] != verifier
    assert len(new_state()) >= 43


def test_the_authorize_url_asks_for_a_code_with_pkce_and_the_scopes(client: XClient, fake_x: FakeX) -> None:
    url = urlsplit(client.authorize_url("the-state", "the-challenge"))
    assert f"{url.scheme}://{url.netloc}{url.path}" == fake_x.authorize_url
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": fake_x.client_id,
        "redirect_uri": REDIRECT,
        "scope": " ".join(SCOPES),
        "state": "the-state",
        "code_challenge": "the-challenge",
        "code_challenge_method": "S256",
    }


async def test_a_code_is_exchanged_with_its_verifier_only(client: XClient, fake_x: FakeX) -> None:
    fake_x.next_user = ("1234", "alice")
    verifier, challenge = new_pkce()
    with pytest.raises(XAuthRejected, match="authorization_code grant"):
        await client.exchange_code(await code_for(client, challenge), new_pkce()[0])  # another verifier
    assert fake_x.grants == []

    tokens = await client.exchange_code(await code_for(client, challenge), verifier)
    assert tokens.expires_at == client.clock() + ACCESS_TTL  # from the moment the request was sent
    assert set(tokens.scope.split()) == set(SCOPES)
    assert fake_x.access_token_valid(tokens.access_token)
    assert await client.me(tokens.access_token) == XUser(id="1234", username="alice")
    assert tokens.access_token not in repr(tokens)
    assert tokens.refresh_token not in repr(tokens)


async def test_a_code_is_single_use(client: XClient) -> None:
    verifier, challenge = new_pkce()
    code = await code_for(client, challenge)
    await client.exchange_code(code, verifier)
    with pytest.raises(XAuthRejected):
        await client.exchange_code(code, verifier)


async def test_refresh_rotates_the_refresh_token_and_a_spent_one_is_refused(
    client: XClient, fake_x: FakeX
) -> None:
    first = fake_x.grant_tokens("42", "bob")
    second = await client.refresh(first["refresh_token"])
    assert second.refresh_token != first["refresh_token"]
    assert second.access_token != first["access_token"]
    assert second.expires_at == client.clock() + ACCESS_TTL
    assert (await client.me(second.access_token)).id == "42"

    with pytest.raises(XAuthRejected, match="refresh_token grant"):
        await client.refresh(first["refresh_token"])  # spent: X revokes the whole grant
    with pytest.raises(XAuthRejected):
        await client.refresh(second.refresh_token)
    with pytest.raises(XUnauthorized):
        await client.me(second.access_token)


async def test_revoke_ends_the_grant(client: XClient, fake_x: FakeX) -> None:
    tokens = fake_x.grant_tokens()
    await client.revoke(tokens["refresh_token"])
    assert fake_x.revoked == [tokens["refresh_token"]]
    with pytest.raises(XAuthRejected):
        await client.refresh(tokens["refresh_token"])


async def test_token_endpoint_outages_and_limits(client: XClient, fake_x: FakeX) -> None:
    tokens = fake_x.grant_tokens()
    fake_x.fail_token_next(503)
    with pytest.raises(XUnavailable) as down:
        await client.refresh(tokens["refresh_token"])
    assert down.value.sent is True
    fake_x.fail_token_next(429, reset_in=300)
    with pytest.raises(XRateLimited) as limited:
        await client.refresh(tokens["refresh_token"])
    assert limited.value.reset_at == pytest.approx(fake_x.now + 300, abs=2)
    fake_x.fail_token_next(200, body="<html>not json</html>")
    with pytest.raises(XError, match="without access_token"):
        await client.refresh(tokens["refresh_token"])
    assert (await client.refresh(tokens["refresh_token"])).access_token  # the grant is still good


# -- client authentication -------------------------------------------------------------------------


async def test_a_public_client_sends_its_id_in_the_form_and_no_authorization(
    client: XClient, fake_x: FakeX, sent: Sent
) -> None:
    tokens = fake_x.grant_tokens()
    await client.refresh(tokens["refresh_token"])
    request = sent.requests[-1]
    assert request["url"] == fake_x.base_url + "/2/oauth2/token"
    assert "Authorization" not in request["headers"]
    assert sent.form() == {
        "grant_type": ["refresh_token"],
        "refresh_token": [tokens["refresh_token"]],
        "client_id": [fake_x.client_id],
    }


async def test_a_confidential_client_authenticates_with_basic_and_not_in_the_form(
    session: aiohttp.ClientSession,
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    sent: Sent,
) -> None:
    fake = await start_fake_x(aiohttp_server, client_secret=SECRET)
    client = client_of(session, fake, secret=SECRET)
    verifier, challenge = new_pkce()
    tokens = await client.exchange_code(await code_for(client, challenge), verifier)
    request = sent.requests[-1]
    assert request["headers"]["Authorization"] == basic_auth_header(fake.client_id, SECRET)
    assert sent.form() == {
        "grant_type": ["authorization_code"],
        "code": sent.form()["code"],
        "redirect_uri": [REDIRECT],
        "code_verifier": [verifier],
    }
    assert (await client.refresh(tokens.refresh_token)).access_token
    assert "client_id" not in sent.form()
    await client.revoke(tokens.access_token)
    assert sent.requests[-1]["headers"]["Authorization"] == basic_auth_header(fake.client_id, SECRET)

    # the secret left out of the configuration: X refuses the client (401), not the grant
    without = client_of(session, fake)
    with pytest.raises(XError) as refused:
        await without.refresh(fake.grant_tokens()["refresh_token"])
    assert not isinstance(refused.value, XAuthRejected)


# -- the API -------------------------------------------------------------------------------------


async def test_posting_returns_the_posts_id(client: XClient, fake_x: FakeX, sent: Sent) -> None:
    tokens = fake_x.grant_tokens("77", "carol")
    posted = await client.post(tokens["access_token"], "hello from textwire")
    assert posted == Posted(id=fake_x.post_ids[-1], text="hello from textwire")
    assert fake_x.posts == [("77", "hello from textwire")]
    assert sent.requests[-1]["headers"]["Authorization"] == f"Bearer {tokens['access_token']}"


async def test_a_duplicate_post_is_its_own_error(client: XClient, fake_x: FakeX) -> None:
    access = fake_x.grant_tokens()["access_token"]
    await client.post(access, "same words")
    with pytest.raises(XDuplicate):
        await client.post(access, "same words")


async def test_a_refused_token_is_unauthorized(client: XClient, fake_x: FakeX) -> None:
    with pytest.raises(XUnauthorized):
        await client.post("not-a-token", "hello")
    with pytest.raises(XUnauthorized):
        await client.me("not-a-token")
    tokens = fake_x.grant_tokens()
    fake_x.advance(ACCESS_TTL + 1)  # expired
    with pytest.raises(XUnauthorized):
        await client.post(tokens["access_token"], "hello")
    assert fake_x.posts == []


async def test_rate_limited_posts_say_when_to_try_again(client: XClient, fake_x: FakeX) -> None:
    access = fake_x.grant_tokens()["access_token"]
    fake_x.fail_post_next(429, reset_in=600)
    with pytest.raises(XRateLimited) as window:
        await client.post(access, "one")
    assert window.value.reset_at == pytest.approx(fake_x.now + 600, abs=2)  # x-rate-limit-reset

    fake_x.fail_post_next(429, reset_in=20_000, daily=True)  # the 24-hour allowance is spent
    with pytest.raises(XRateLimited) as daily:
        await client.post(access, "two")
    assert daily.value.reset_at == pytest.approx(fake_x.now + 20_000, abs=2)  # not the 15-minute reset

    # the app's own 24-hour allowance spent (every user of the app): retried every 15 minutes
    # until the next day, each time refused, and the person told "after" a time 15 minutes away
    fake_x.fail_post_next(429, reset_in=50_000, app_daily=True)
    with pytest.raises(XRateLimited) as app_daily:
        await client.post(access, "three")
    assert app_daily.value.reset_at == pytest.approx(fake_x.now + 50_000, abs=2)
    assert fake_x.posts == []


async def test_other_refusals_and_outages(client: XClient, fake_x: FakeX) -> None:
    tokens = fake_x.grant_tokens("99", "dave")
    access = tokens["access_token"]
    fake_x.forbidden_users.add("99")
    with pytest.raises(XForbidden, match="not permitted"):
        await client.post(access, "suspended")
    fake_x.forbidden_users.clear()

    with pytest.raises(XRejected, match="400"):
        await client.post(access, "   ")  # X refuses an empty text

    fake_x.fail_post_next(503)
    with pytest.raises(XUnavailable) as down:
        await client.post(access, "later")
    assert down.value.sent is True  # a post may exist

    fake_x.fail_post_next(201, body="<html>odd</html>")
    with pytest.raises(XUnavailable, match="without an id"):
        await client.post(access, "odd")
    assert fake_x.posts == []


async def test_no_connection_is_unavailable_and_nothing_sent(
    session: aiohttp.ClientSession, fake_x: FakeX
) -> None:
    client = client_of(session, fake_x, api_base=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(XUnavailable) as down:
        await client.post("token", "hello")
    assert down.value.sent is False
    with pytest.raises(XUnavailable):
        await client.refresh("refresh")


def test_an_emoji_newer_than_twitter_texts_list_counts_2_as_x_counts_it() -> None:
    """twitter-text-parser knows the emoji of 2019: a heart on fire counted 5, a handshake with two
    skin tones 9, so a text X takes (280 with its emoji at 2) was refused as 3 too long."""
    newer = [
        "\u2764\ufe0f\u200d\U0001f525",
        "\U0001faf1\U0001f3fb\u200d\U0001faf2\U0001f3ff",
        "\U0001f3f3\ufe0f\u200d\u26a7\ufe0f",
        "\U0001f408\u200d\u2b1b",
        "\U0001faf6\U0001f3fd",
        "\U0001f9d1\u200d\U0001f9d1\u200d\U0001f9d2",
        "\U0001f642\u200d\u2194\ufe0f",
    ]
    for emoji in newer:
        assert weighted_length(emoji) == 2, ascii(emoji)
        assert over_limit("a" * 277 + " " + emoji) == 0, ascii(emoji)
        assert over_limit("a" * 278 + " " + emoji) == 1, ascii(emoji)
    # what twitter-text knew stays as it was: one family, a skin tone, a flag, a keycap at 2 each
    known = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 \U0001f44d\U0001f3fd \U0001f1fa\U0001f1f8 #\ufe0f\u20e3"
    assert weighted_length(known) == 11
    assert weighted_length("\U0001f525\U0001f525") == 4  # two emoji side by side are two
    assert weighted_length("20\u00b0C \u00a9 2026") == 12  # a degree sign 1, the copyright sign 2
    assert weighted_length("e\u0301" * 280) == 280  # NFC: 280 accented letters
    assert weighted_length("\u65e5" * 141) == 282
    assert weighted_length("see https://example.com/a \u2764\ufe0f\u200d\U0001f525") == 4 + 23 + 1 + 2
