"""A small client for X's OAuth 2.0 endpoints and API v2, over the app's one aiohttp session.

authlib has no aiohttp integration (PROTOCOL.md section 3), so this uses its pure helpers for the
PKCE challenge, random tokens and the authorize URL, and speaks HTTP itself. Every base URL comes
from config (`x.api_base`, `x.authorize_url`), so tests point it at a local fake.

Client authentication: Basic `client_id:client_secret` when a secret is configured (a confidential
client), `client_id` in the form otherwise, with aiohttp's `encode_basic_auth` (its `BasicAuth`
warns on 3.14, PROTOCOL.md section 8).
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from twitter_text import parse_tweet

from bot.core.config import XConfig

SCOPES = ("tweet.read", "tweet.write", "users.read", "offline.access")
MAX_WEIGHTED_LENGTH = 280
VERIFIER_LENGTH = 64  # RFC 7636: 43-128 characters


# -- errors ---------------------------------------------------------------------------------------


class XError(Exception):
    """X answered something unusable, or could not be reached."""


class XAuthRejected(XError):
    """The token endpoint refused the code or the refresh token (any 400): the grant is dead."""


class XUnauthorized(XError):
    """401 from the API: the access token is expired or revoked."""


class XForbidden(XError):
    """403 other than a duplicate: the account may not post (suspended, locked, missing scope)."""


class XDuplicate(XError):
    """403: a post with the same text already exists."""


class XRateLimited(XError):
    """429: try again at `reset_at` (Unix seconds)."""

    def __init__(self, reset_at: float) -> None:
        super().__init__(f"rate limited until {reset_at:.0f}")
        self.reset_at = reset_at


class XRejected(XError):
    """Another 4xx from the API: the request itself is wrong, retrying will not help."""


class XUnavailable(XError):
    """5xx, timeout or connection error. `sent`: the request may have reached X (a post may exist)."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.sent = sent


# -- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str
    expires_at: float
    scope: str = ""

    def __repr__(self) -> str:  # never print a token
        return f"TokenSet(expires_at={self.expires_at:.0f}, scope={self.scope!r})"


@dataclass(frozen=True)
class XUser:
    id: str
    username: str


@dataclass(frozen=True)
class Posted:
    id: str
    text: str


def new_pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = str(generate_token(VERIFIER_LENGTH))
    return verifier, str(create_s256_code_challenge(verifier))


def new_state() -> str:
    return str(generate_token(43))


# An emoji sequence as a phone types it (UTS #51): pictographs joined by ZWJ, each with its
# variation selector and skin tone. twitter-text-parser knows the sequences of Emoji 12.0 (2019)
# only and counts a newer one by its parts: a heart on fire 5, a handshake with two skin tones 9.
_ZWJ, _VS16 = "\u200d", "\ufe0f"
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_EMOJI_CLUSTER = re.compile(
    "[^\\s\u200d\ufe0f\U0001f3fb-\U0001f3ff]\ufe0f?[\U0001f3fb-\U0001f3ff]?\ufe0f?"
    "(?:\u200d[^\\s\u200d\ufe0f\U0001f3fb-\U0001f3ff]\ufe0f?[\U0001f3fb-\U0001f3ff]?\ufe0f?)*"
)


def _pictographic(char: str) -> bool:
    """A character an emoji sequence is built of: a symbol (Python's Unicode data is older than
    the newest emoji: an unassigned code point in the emoji planes counts), or the arrows of
    `head shaking` (mathematical symbols)."""
    code = ord(char)
    category = unicodedata.category(char)
    return (
        (category == "So" and code > 0xFF)
        or (category == "Cn" and 0x1F000 <= code <= 0x1FAFF)
        or 0x2194 <= code <= 0x2199
    )


def _emoji_sequences(text: str) -> list[str]:
    """The sequences of two or more pictographs (ZWJ), or one with a skin tone, in `text`."""
    found = []
    for match in _EMOJI_CLUSTER.finditer(text):
        cluster = match.group()
        parts = [c for c in cluster if c not in (_ZWJ, _VS16) and ord(c) not in _SKIN_TONES]
        joined = len(parts) < len(cluster.replace(_VS16, ""))  # a ZWJ or a skin tone
        if joined and all(_pictographic(c) for c in parts):
            found.append(cluster)
    return found


def weighted_length(text: str) -> int:
    """X's weighted length: CJK and emoji count 2, URLs 23, NFC-normalized (twitter-text), and an
    emoji sequence newer than twitter-text's list 2 as well."""
    text = unicodedata.normalize("NFC", text)
    counted = int(parse_tweet(text).weightedLength)
    if not text.isascii():
        for sequence in _emoji_sequences(text):
            counted -= max(0, int(parse_tweet(sequence).weightedLength) - 2)
    return counted


def over_limit(text: str) -> int:
    """How many weighted characters too long the text is (0 when it fits)."""
    return max(0, weighted_length(text) - MAX_WEIGHTED_LENGTH)


# -- the client -----------------------------------------------------------------------------------


class XClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: XConfig,
        redirect_uri: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.config = config
        self.redirect_uri = redirect_uri
        self.clock = clock
        self.api_base = config.api_base.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=config.timeout_seconds)

    # -- OAuth ------------------------------------------------------------------------------------
    def authorize_url(self, state: str, challenge: str) -> str:
        url: str = prepare_grant_uri(
            self.config.authorize_url,
            self.config.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope=list(SCOPES),
            state=state,
            code_challenge=challenge,
            code_challenge_method="S256",
        )
        return url

    async def exchange_code(self, code: str, verifier: str) -> TokenSet:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def revoke(self, token: str) -> None:
        status, body, headers = await self._request(
            "POST",
            "/2/oauth2/revoke",
            data=self._client_form({"token": token}),
            headers=self._client_headers(),
        )
        if status == 400:  # X says the token is not valid (already revoked or spent): nothing to end
            raise XAuthRejected(f"revoke refused the token ({_error_code(body)})")
        if status == 429:
            raise XRateLimited(self._reset_at(headers))
        if status >= 500:
            raise XUnavailable(f"revoke answered {status}", sent=True)
        if status >= 400:  # 401: our client credentials are wrong (configuration, not the token)
            raise XRejected(f"revoke answered {status} ({_error_code(body)})")

    async def _token(self, form: dict[str, str]) -> TokenSet:
        sent_at = self.clock()
        status, body, headers = await self._request(
            "POST", "/2/oauth2/token", data=self._client_form(form), headers=self._client_headers()
        )
        if status == 400:
            raise XAuthRejected(
                f"token endpoint refused the {form['grant_type']} grant ({_error_code(body)})"
            )
        if status == 429:
            raise XRateLimited(self._reset_at(headers))
        if status >= 500:
            raise XUnavailable(f"token endpoint answered {status}", sent=True)
        if status != 200:  # 401: our client credentials are wrong (configuration, not the user)
            raise XError(f"token endpoint answered {status} ({_error_code(body)})")
        data = _json(body)
        try:
            access = str(data["access_token"])
            refresh = str(data["refresh_token"])
            expires_in = float(data.get("expires_in", 7200))
        except (KeyError, TypeError, ValueError):
            raise XError("token response without access_token, refresh_token (offline.access?)") from None
        return TokenSet(access, refresh, sent_at + expires_in, str(data.get("scope", "")))

    def _client_form(self, form: dict[str, str]) -> dict[str, str]:
        return form if self.config.client_secret else {**form, "client_id": self.config.client_id}

    def _client_headers(self) -> dict[str, str]:
        if not self.config.client_secret:
            return {}
        return {"Authorization": aiohttp.encode_basic_auth(self.config.client_id, self.config.client_secret)}

    # -- API --------------------------------------------------------------------------------------
    async def me(self, access_token: str) -> XUser:
        status, body, _ = await self._request("GET", "/2/users/me", headers=_bearer(access_token))
        self._raise_for_api(status, body, {})
        data = _json(body).get("data") or {}
        try:
            return XUser(id=str(data["id"]), username=str(data["username"]))
        except (KeyError, TypeError):
            raise XError("users/me without id and username") from None

    async def post(self, access_token: str, text: str) -> Posted:
        """POST /2/tweets. XUnavailable(sent=True) when the request may have reached X."""
        status, body, headers = await self._request(
            "POST", "/2/tweets", json_body={"text": text}, headers=_bearer(access_token), may_have_sent=True
        )
        if status == 403 and "duplicate" in _detail(body).lower():
            raise XDuplicate("duplicate content")
        self._raise_for_api(status, body, headers, sent=True)
        data = _json(body).get("data") or {}
        if "id" not in data:
            raise XUnavailable("post answered without an id", sent=True)
        return Posted(id=str(data["id"]), text=str(data.get("text", text)))

    def _raise_for_api(
        self, status: int, body: bytes, headers: Mapping[str, str], *, sent: bool = False
    ) -> None:
        if 200 <= status < 300:
            return
        if status == 401:
            raise XUnauthorized("access token refused")
        if status == 403:
            raise XForbidden(_detail(body)[:200] or "forbidden")
        if status == 429:
            raise XRateLimited(self._reset_at(headers))
        if status >= 500:
            raise XUnavailable(f"X answered {status}", sent=sent)
        raise XRejected(f"X answered {status}: {_detail(body)[:200]}")

    def _reset_at(self, headers: Mapping[str, str]) -> float:
        """When posting is allowed again: the 24-hour reset when such a window is spent (the
        user's, or the app's own, which every user shares; the later of the two when both are),
        else the 15-minute one; 15 minutes from now when X says nothing."""
        now = self.clock()
        spent = [
            headers.get(f"x-{whose}-limit-24hour-reset")
            for whose in ("user", "app")
            if headers.get(f"x-{whose}-limit-24hour-remaining") == "0"
        ]
        resets = [_timestamp(value) for value in spent] or [_timestamp(headers.get("x-rate-limit-reset"))]
        known = [reset for reset in resets if reset is not None]
        reset = max(known) if known else now + 900
        return max(reset, now + 1)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        data: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        may_have_sent: bool = False,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        """One request; connection errors and timeouts become XUnavailable. `sent` is False only
        when the connection was never made (nothing reached X)."""
        try:
            async with self.session.request(
                method,
                self.api_base + path,
                data=data,
                json=json_body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            ) as response:
                body = await response.content.read(1 << 20)
                return response.status, body, response.headers
        except aiohttp.ClientConnectorError as exc:
            raise XUnavailable(f"cannot connect to X: {type(exc).__name__}", sent=False) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise XUnavailable(f"X did not answer: {type(exc).__name__}", sent=may_have_sent) from None


def _timestamp(value: str | None) -> float | None:
    """A Unix time from a header, or None when it is missing or not a finite number."""
    try:
        found = float(value) if value else None
    except ValueError:
        return None
    return found if found is not None and math.isfinite(found) else None


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _detail(body: bytes) -> str:
    data = _json(body)
    return str(data.get("detail") or data.get("title") or "")


def _error_code(body: bytes) -> str:
    """The OAuth error code only (the description may echo input)."""
    return str(_json(body).get("error", "unknown"))[:40]


__all__ = [
    "MAX_WEIGHTED_LENGTH",
    "SCOPES",
    "Posted",
    "TokenSet",
    "XAuthRejected",
    "XClient",
    "XDuplicate",
    "XError",
    "XForbidden",
    "XRateLimited",
    "XRejected",
    "XUnauthorized",
    "XUnavailable",
    "XUser",
    "new_pkce",
    "new_state",
    "over_limit",
    "weighted_length",
]
