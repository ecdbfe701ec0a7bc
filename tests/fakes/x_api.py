"""A local fake of X (Twitter) for tests: OAuth 2.0 PKCE, rotating refresh tokens, posts.

It follows PROTOCOL.md section 2: the authorize page auto-approves (or denies) and redirects,
codes live 30 s of the fake clock and are single use, refresh tokens rotate and reusing a spent
one revokes the whole grant, duplicates are 403, 429 carries the rate-limit headers.

Use the `fake_x` fixture (it needs pytest-aiohttp's `aiohttp_server`)::

    async def test_something(fake_x: FakeX) -> None:
        fake_x.redirect_uris.add("http://127.0.0.1:8080/x/callback")
        fake_x.next_user = ("123", "alice")
        config = XConfig(client_id=fake_x.client_id, api_base=fake_x.base_url,
                         authorize_url=fake_x.authorize_url)

Time is `fake.now` (Unix seconds, a float: real time plus an offset); `advance(seconds)` moves it. Nothing sleeps except
`post_delay`, which simulates a slow answer (the post is recorded before the delay), and nothing
waits except for `hold_posts`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

REQUIRED_SCOPES = frozenset({"tweet.read", "tweet.write", "users.read", "offline.access"})
CODE_TTL = 30.0
ACCESS_TTL = 7200

INVALID_TOKEN = {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "title": "Forbidden",
    "type": "about:blank",
    "status": 403,
}


@dataclass
class Grant:
    """One user's consent: every access and refresh token issued from one code."""

    id: int
    user_id: str
    username: str
    scope: str
    revoked: bool = False
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expires_at
    refresh_tokens: set[str] = field(default_factory=set)  # every refresh token ever issued
    live_refresh: str | None = None  # the one refresh token that may still be used


@dataclass
class AuthCode:
    user_id: str
    username: str
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class Failure:
    status: int
    reset_in: float = 60.0
    body: str | None = None
    daily: bool = False
    app_daily: bool = False


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeX:
    """State and rules of the fake; `app` serves them."""

    def __init__(
        self,
        *,
        client_id: str = "test-client",
        client_secret: str | None = None,
        redirect_uris: set[str] | None = None,
        now: float | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret  # None: a public client
        self.redirect_uris: set[str] = set(redirect_uris or ())
        self._offset = 0.0 if now is None else now - time.time()
        self.base_url = ""  # set once the server listens
        self.next_user: tuple[str, str] | None = None  # (id, username); sticky; None: a new user each time
        self.deny_next = False  # the next authorize is denied (then resets)
        self.post_delay = 0.0  # seconds /2/tweets waits before answering (after recording the post)
        # an Event: /2/tweets waits for it before answering (after recording the post), a post X
        # is slow to answer for exactly as long as the test wants
        self.hold_posts: asyncio.Event | None = None
        self.users: dict[str, str] = {}  # id -> username
        self.grants: list[Grant] = []
        self.codes: dict[str, AuthCode] = {}
        self.posts: list[tuple[str, str]] = []  # (user_id, text)
        self.post_ids: list[str] = []
        self.revoked: list[str] = []  # tokens passed to /2/oauth2/revoke
        self.refresh_calls = 0  # every grant_type=refresh_token request, failed ones included
        self.token_calls = 0  # every request to /2/oauth2/token
        self.forbidden_users: set[str] = set()  # posts by these users get a non-duplicate 403
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._token_failures: list[Failure] = []
        self._post_failures: list[Failure] = []
        self._revoke_failures: list[Failure] = []
        self._me_failures: list[Failure] = []
        self.revoke_calls = 0  # every request to /2/oauth2/revoke, failed ones included
        self._next_tweet_id = 1_800_000_000_000_000_000
        self._next_user_id = 1_000_000_000_000_000_000
        self._next_grant = 1
        self.app = self._build_app()

    # -- controls ---------------------------------------------------------------------------

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/i/oauth2/authorize"

    @property
    def now(self) -> float:
        """The fake's clock: real time plus whatever `advance` added (so retries still come due)."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def fail_token_next(
        self, status: int, times: int = 1, *, body: str | None = None, reset_in: float = 60
    ) -> None:
        """The next `times` requests to /2/oauth2/token answer `status` (a raw `body` if given); a
        429 carries x-rate-limit-* headers with reset now+reset_in."""
        self._token_failures.extend(Failure(status, reset_in, body=body) for _ in range(times))

    def fail_revoke_next(self, status: int, times: int = 1, *, reset_in: float = 60) -> None:
        """The next `times` requests to /2/oauth2/revoke answer `status` and revoke nothing (X down
        or busy, as the real one can be); a 429 carries x-rate-limit-* headers with reset now+reset_in."""
        self._revoke_failures.extend(Failure(status, reset_in) for _ in range(times))

    def fail_me_next(self, status: int, times: int = 1, *, reset_in: float = 60) -> None:
        """The next `times` requests to /2/users/me answer `status` (X down or busy after the code
        was exchanged); a 429 carries x-rate-limit-* headers with reset now+reset_in."""
        self._me_failures.extend(Failure(status, reset_in) for _ in range(times))

    def fail_post_next(
        self,
        status: int,
        times: int = 1,
        reset_in: float = 60,
        *,
        body: str | None = None,
        daily: bool = False,
        app_daily: bool = False,
    ) -> None:
        """The next `times` posts answer `status`. A 429 carries x-rate-limit-* headers with reset
        now+reset_in; with `daily`, the 15-minute window looks fine but x-user-limit-24hour-remaining
        is 0 and its reset is now+reset_in; with `app_daily` the same of the app's own 24-hour
        allowance (x-app-limit-24hour-*, every user of the app at once), the user's being fine."""
        self._post_failures.extend(Failure(status, reset_in, body, daily, app_daily) for _ in range(times))

    def grant_tokens(self, user_id: str = "", username: str = "") -> dict[str, Any]:
        """Issue a grant without the browser flow; returns the token response X would send."""
        user_id, username = self._user(user_id, username)
        grant = self._new_grant(user_id, username, " ".join(sorted(REQUIRED_SCOPES)))
        return self._issue(grant)

    def revoke_user(self, user_id: str) -> None:
        """The user revoked the app at X: every grant of theirs dies."""
        for grant in self.grants:
            if grant.user_id == user_id:
                grant.revoked = True

    def live_grants(self, user_id: str | None = None) -> list[Grant]:
        return [g for g in self.grants if not g.revoked and (user_id is None or g.user_id == user_id)]

    def access_token_valid(self, token: str) -> bool:
        return self._grant_for_access(token) is not None

    # -- internals --------------------------------------------------------------------------

    def _user(self, user_id: str = "", username: str = "") -> tuple[str, str]:
        if not user_id:
            if self.next_user is not None:
                user_id, username = self.next_user
            else:
                self._next_user_id += 1
                user_id = str(self._next_user_id)
                username = username or f"user{self._next_user_id % 100000}"
        username = username or f"user{user_id[-5:]}"
        self.users[user_id] = username
        return user_id, username

    def _new_grant(self, user_id: str, username: str, scope: str) -> Grant:
        grant = Grant(self._next_grant, user_id, username, scope)
        self._next_grant += 1
        self.grants.append(grant)
        return grant

    def _issue(self, grant: Grant) -> dict[str, Any]:
        access = secrets.token_urlsafe(40)
        grant.access_tokens[access] = self.now + ACCESS_TTL
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": ACCESS_TTL,
            "access_token": access,
            "scope": grant.scope,
        }
        if "offline.access" in grant.scope.split():
            refresh = secrets.token_urlsafe(40)
            grant.refresh_tokens.add(refresh)
            grant.live_refresh = refresh
            body["refresh_token"] = refresh
        return body

    def _grant_for_access(self, token: str) -> Grant | None:
        for grant in self.grants:
            expires_at = grant.access_tokens.get(token)
            if expires_at is not None:
                if grant.revoked or self.now >= expires_at:
                    return None
                return grant
        return None

    def _bearer_grant(self, request: web.Request) -> Grant | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        return self._grant_for_access(header[len("Bearer ") :].strip())

    def _client_auth_error(self, request: web.Request, form: Any) -> web.Response | None:
        if self.client_secret is not None:
            header = request.headers.get("Authorization", "")
            expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if not header.startswith("Basic ") or not secrets.compare_digest(header[6:].strip(), expected):
                return web.json_response(
                    {
                        "error": "unauthorized_client",
                        "error_description": "Missing valid authorization header",
                    },
                    status=401,
                )
            return None
        client_id = form.get("client_id")
        if not client_id:
            return web.json_response(
                {"error": "invalid_request", "error_description": "Missing required parameter [client_id]."},
                status=400,
            )
        if client_id != self.client_id:
            return web.json_response(
                {"error": "unauthorized_client", "error_description": "Missing valid authorization header"},
                status=401,
            )
        return None

    @staticmethod
    def _failure_response(failure: Failure) -> web.Response:
        if failure.body is not None:
            return web.Response(status=failure.status, text=failure.body, content_type="text/html")
        return web.json_response(
            {
                "title": "Service Unavailable",
                "detail": "Service Unavailable",
                "type": "about:blank",
                "status": failure.status,
            },
            status=failure.status,
        )

    # -- handlers ---------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        @web.middleware
        async def record(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            self.requests.append((request.method, request.path))
            return await handler(request)

        app = web.Application(middlewares=[record])
        app.router.add_get("/i/oauth2/authorize", self._authorize)
        app.router.add_post("/2/oauth2/token", self._token)
        app.router.add_post("/2/oauth2/revoke", self._revoke)
        app.router.add_get("/2/users/me", self._me)
        app.router.add_post("/2/tweets", self._tweets)
        return app

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        q = request.query

        def bad(reason: str) -> web.Response:
            return web.Response(
                status=400,
                text=f"<html><body><h1>Something went wrong</h1><p>{reason}</p></body></html>",
                content_type="text/html",
            )

        if q.get("response_type") != "code":
            return bad("response_type must be code")
        if q.get("client_id") != self.client_id:
            return bad("unknown client_id")
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return bad("redirect_uri is not registered")
        scopes = set(q.get("scope", "").split(" "))
        if not scopes >= REQUIRED_SCOPES:
            return bad("scope must include " + " ".join(sorted(REQUIRED_SCOPES)))
        state = q.get("state", "")
        if not state or len(state) > 500:
            return bad("state is required (at most 500 characters)")
        if q.get("code_challenge_method") != "S256":
            return bad("code_challenge_method must be S256")
        challenge = q.get("code_challenge", "")
        if not challenge:
            return bad("code_challenge is required")
        sep = "&" if "?" in redirect_uri else "?"
        if self.deny_next:
            self.deny_next = False
            location = redirect_uri + sep + urlencode({"error": "access_denied", "state": state})
            raise web.HTTPFound(location)
        user_id, username = self._user()
        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthCode(
            user_id=user_id,
            username=username,
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            challenge=challenge,
            scope=" ".join(s for s in q.get("scope", "").split(" ") if s),
            expires_at=self.now + CODE_TTL,
        )
        raise web.HTTPFound(redirect_uri + sep + urlencode({"state": state, "code": code}))

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.token_calls += 1
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            self.refresh_calls += 1
        if self._token_failures:
            failure = self._token_failures.pop(0)
            response = self._failure_response(failure)
            if failure.status == 429:
                response.headers.update(self._limit_headers(0, self.now + failure.reset_in))
            return response
        auth_error = self._client_auth_error(request, form)
        if auth_error is not None:
            return auth_error
        if grant_type == "authorization_code":
            return self._exchange(form)
        if grant_type == "refresh_token":
            return self._refresh(form)
        return web.json_response(
            {"error": "invalid_request", "error_description": "Missing required parameter [grant_type]."},
            status=400,
        )

    def _exchange(self, form: Any) -> web.Response:
        code = self.codes.get(str(form.get("code", "")))
        if code is None or code.used or self.now > code.expires_at:
            return web.json_response(INVALID_TOKEN, status=400)
        code.used = True  # single use, whatever happens next
        if form.get("redirect_uri") != code.redirect_uri:
            return web.json_response(INVALID_TOKEN, status=400)
        verifier = str(form.get("code_verifier", ""))
        if not verifier or not secrets.compare_digest(s256(verifier), code.challenge):
            return web.json_response(INVALID_TOKEN, status=400)
        grant = self._new_grant(code.user_id, code.username, code.scope)
        return web.json_response(self._issue(grant))

    def _refresh(self, form: Any) -> web.Response:
        token = str(form.get("refresh_token", ""))
        for grant in self.grants:
            if token in grant.refresh_tokens:
                if grant.revoked:
                    return web.json_response(INVALID_TOKEN, status=400)
                if token != grant.live_refresh:
                    grant.revoked = True  # a spent token was replayed: the whole chain dies
                    return web.json_response(INVALID_TOKEN, status=400)
                return web.json_response(self._issue(grant))
        return web.json_response(INVALID_TOKEN, status=400)

    async def _revoke(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.revoke_calls += 1
        if self._revoke_failures:
            failure = self._revoke_failures.pop(0)
            response = self._failure_response(failure)
            if failure.status == 429:
                response.headers.update(self._limit_headers(0, self.now + failure.reset_in))
            return response
        auth_error = self._client_auth_error(request, form)
        if auth_error is not None:
            return auth_error
        token = str(form.get("token", ""))
        if not token:
            return web.json_response(
                {"error": "invalid_request", "error_description": "Missing required parameter [token]."},
                status=400,
            )
        self.revoked.append(token)
        for grant in self.grants:
            if token in grant.refresh_tokens or token in grant.access_tokens:
                grant.revoked = True
        return web.json_response({"revoked": True})

    async def _me(self, request: web.Request) -> web.Response:
        grant = self._bearer_grant(request)
        if grant is None:
            return web.json_response(UNAUTHORIZED, status=401)
        if self._me_failures:
            failure = self._me_failures.pop(0)
            response = self._failure_response(failure)
            if failure.status == 429:
                response.headers.update(self._limit_headers(0, self.now + failure.reset_in))
            return response
        return web.json_response(
            {"data": {"id": grant.user_id, "name": grant.username.title(), "username": grant.username}}
        )

    def _limit_headers(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "100",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(reset)),
        }

    async def _tweets(self, request: web.Request) -> web.Response:
        grant = self._bearer_grant(request)
        if grant is None:
            return web.json_response(UNAUTHORIZED, status=401)
        if self._post_failures:
            failure = self._post_failures.pop(0)
            if failure.status == 429:
                if failure.daily or failure.app_daily:
                    headers = self._limit_headers(99, self.now + 900)
                    spent, fine = ("app", "user") if failure.app_daily else ("user", "app")
                    headers.update(
                        {
                            f"x-{spent}-limit-24hour-limit": "17",
                            f"x-{spent}-limit-24hour-remaining": "0",
                            f"x-{spent}-limit-24hour-reset": str(int(self.now + failure.reset_in)),
                            f"x-{fine}-limit-24hour-limit": "17",
                            f"x-{fine}-limit-24hour-remaining": "5",
                            f"x-{fine}-limit-24hour-reset": str(int(self.now + 3600)),
                        }
                    )
                else:
                    headers = self._limit_headers(0, self.now + failure.reset_in)
                body = failure.body or json.dumps(
                    {
                        "title": "Too Many Requests",
                        "detail": "Too Many Requests",
                        "type": "about:blank",
                        "status": 429,
                        "errors": [{"code": 88, "message": "Rate limit exceeded"}],
                    }
                )
                return web.Response(status=429, text=body, headers=headers, content_type="application/json")
            return self._failure_response(failure)
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        text = payload.get("text") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text.strip():
            return web.json_response(
                {
                    "errors": [{"message": "text must be a non-empty string"}],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
                status=400,
            )
        if grant.user_id in self.forbidden_users:
            return web.json_response(
                {
                    "detail": "You are not permitted to perform this action.",
                    "title": "Forbidden",
                    "type": "about:blank",
                    "status": 403,
                },
                status=403,
            )
        if (grant.user_id, text) in self.posts:
            return web.json_response(DUPLICATE, status=403)
        self._next_tweet_id += 1
        tweet_id = str(self._next_tweet_id)
        self.posts.append((grant.user_id, text))
        self.post_ids.append(tweet_id)
        if self.post_delay:
            await asyncio.sleep(self.post_delay)
        if self.hold_posts is not None:
            await self.hold_posts.wait()
        return web.json_response(
            {"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}},
            status=201,
            headers=self._limit_headers(99, self.now + 900),
        )


def basic_auth_header(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def decode_basic(header: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = raw.partition(":")
    return client_id, secret


async def start_fake_x(aiohttp_server: Callable[..., Awaitable[TestServer]], **kwargs: Any) -> FakeX:
    """Serve a new FakeX on a local port (for fixtures that need other settings)."""
    fake = FakeX(**kwargs)
    server = await aiohttp_server(fake.app)
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
async def fake_x(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeX:
    """A public-client FakeX (client_id "test-client") listening on 127.0.0.1."""
    return await start_fake_x(aiohttp_server)


__all__ = ["FakeX", "Grant", "basic_auth_header", "decode_basic", "fake_x", "s256", "start_fake_x"]
