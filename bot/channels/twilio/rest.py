"""Sending SMS: through Twilio's Messages API, or to the log in development mode.

Twilio: a send is one POST of the form `messages.create_async` sends (To, From or
MessagingServiceSid, Body, StatusCallback) to Messages.json, over the app's aiohttp connection
pool, with a timeout, keeping the status, error code and Retry-After of a failed answer. It
honours the proxy the environment names for the API's URL (HTTPS_PROXY / HTTP_PROXY, NO_PROXY),
looked up once (`env_proxy`). The twilio library lists messages (`find`) through an
`AsyncHttpClient` of ours over the app's aiohttp session, which builds the Basic header by hand,
applies a timeout (the library's async client ignores its own) and raises the same `SendError`
(TwilioRestException drops the headers). PROTOCOL.md sections 1 and 10.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from yarl import URL

from bot.core.channel import SendError, Sent, Transport
from bot.core.config import TwilioConfig
from bot.core.curl import CurlError, CurlPool, Proxy
from bot.core.errors import StartupError
from bot.core.logs import get_logger, mask_address

log = get_logger(__name__)

OPTED_OUT = 21610


CLOCK_ALLOWANCE_SECONDS = 2.0  # our clock against Twilio's, and date_created's whole seconds
FIND_LIMIT = 200


# A send's form is mostly the same strings every time (the field names, From, StatusCallback, and
# often To and Body): urlencode quotes each one in Python, 11 us a send, 1 us from this cache.
_quoted = functools.lru_cache(maxsize=1024)(quote_plus)


def form_encoded(form: list[tuple[str, str]]) -> bytes:
    """`urllib.parse.urlencode(form)`, with each quoted string remembered."""
    return "&".join(f"{_quoted(key)}={_quoted(value)}" for key, value in form).encode("ascii")


def basic_auth_header(user: str, password: str) -> str:
    return aiohttp.encode_basic_auth(user, password)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _refused(status: int, text: str, headers: Mapping[str, str]) -> SendError:
    """A 4xx or 5xx answer: Twilio's error code and message from its JSON body, and Retry-After."""
    code: int | None = None
    message = f"HTTP {status}"
    try:
        payload: Any = json.loads(text)
        if isinstance(payload, dict):
            code = int(payload["code"]) if payload.get("code") is not None else None
            message = str(payload.get("message") or message)
    except (ValueError, TypeError, KeyError):
        pass
    return SendError(
        message,
        status=status,
        code=code,
        retry_after=_retry_after(headers),
        recipient_gone=code == OPTED_OUT,  # the number opted out at the carrier
    )


class SessionHttpClient(AsyncHttpClient):  # type: ignore[misc]
    """The twilio library's HTTP seam, over the app's aiohttp session, with a real timeout."""

    def __init__(self, session: aiohttp.ClientSession, timeout: float) -> None:
        super().__init__(logger=None, is_async=True, timeout=timeout)
        self._session = session
        self._timeout = timeout

    async def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the twilio library passes it; we apply it with asyncio.timeout
        allow_redirects: bool = False,
    ) -> Response:
        send_headers = dict(headers or {})
        if auth is not None:
            send_headers["Authorization"] = basic_auth_header(*auth)
        form: list[tuple[str, str]] = []
        for key, value in (data or {}).items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                form.append((key, str(item)))
        body: bytes | None = None
        if form:  # encoded here: aiohttp's FormData would build a multipart writer (a uuid4) per send
            body = form_encoded(form)
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        query = [(k, str(v)) for k, v in (params or {}).items() if v is not None]
        try:
            async with asyncio.timeout(timeout or self._timeout):
                async with self._session.request(
                    method.upper(),
                    uri,
                    params=query or None,
                    data=body,
                    headers=send_headers,
                    allow_redirects=allow_redirects,
                ) as resp:
                    text = await resp.text()
                    status = resp.status
                    resp_headers = dict(resp.headers)
        except TimeoutError:
            raise SendError("timed out waiting for Twilio") from None
        except aiohttp.ClientError as exc:
            raise SendError(f"could not reach Twilio: {type(exc).__name__}") from None
        if status >= 400:
            raise _refused(status, text, resp_headers)
        return Response(status, text, resp_headers)


SEND_HEADERS = {"Accept": "application/json", "User-Agent": "textwire"}


def env_proxy(url: URL) -> Proxy | None:
    """The proxy the environment names for `url`, found as aiohttp's `trust_env` finds it
    (HTTPS_PROXY or HTTP_PROXY by the URL's scheme, none for a host NO_PROXY lists, the proxy's
    credentials from its URL or ~/.netrc); None: direct. It reads the environment and ~/.netrc:
    look it up once, not per request."""
    try:
        proxy, auth = get_env_proxy_for_url(url)
    except LookupError:
        return None
    if not proxy.is_absolute():
        # `proxy.internal:3128`, as curl takes it: start-up died with yarl's traceback (exit 1, so
        # a process manager restarted it again and again), and aiohttp could not use it either
        name = f"{url.scheme.upper()}_PROXY"
        raise StartupError(
            f"{name} (or {name.lower()}) is not a proxy URL: write it with its scheme,"
            " e.g. http://proxy.internal:3128 (hosts to reach directly go in NO_PROXY)"
        )
    return Proxy(
        str(proxy.with_user(None)),
        auth.login if auth is not None else None,
        auth.password if auth is not None else None,
    )


class TwilioTransport:
    """Sends go through libcurl (`bot.core.curl`): keep-alive, TLS, HTTP/2 and the proxy for
    half the CPU of the same POST through aiohttp (BENCHMARKS.md, stop 24); the proxy the
    environment names for the API's URL is looked up once (`env_proxy`). Looking messages up
    (`find`, rare) goes through the app's aiohttp session and the twilio library."""

    delivers = True  # Twilio's status callbacks report each delivery

    def __init__(self, session: aiohttp.ClientSession, config: TwilioConfig, status_callback: str) -> None:
        self._status_callback = status_callback
        self._http = SessionHttpClient(session, config.timeout_seconds)
        self._client = Client(config.account_sid, config.auth_token, http_client=self._http)
        base = config.api_base.rstrip("/")
        self._client.api.base_url = base
        send_url = URL(f"{base}/2010-04-01/Accounts/{quote(config.account_sid, safe='')}/Messages.json")
        self._send_url = str(send_url)
        self._send_headers = [
            f"{name}: {value}"
            for name, value in {
                **SEND_HEADERS,
                "Authorization": basic_auth_header(config.account_sid, config.auth_token),
                "Content-Type": "application/x-www-form-urlencoded",
                "Expect": "",  # no 100-continue round trip, whatever the body's size
            }.items()
        ]
        self._timeout = config.timeout_seconds  # connecting included
        self._proxy = env_proxy(send_url)
        if self._proxy is not None:
            log.info("twilio.proxy", proxy=self._proxy.url)  # without its credentials
        self._pool: CurlPool | None = None  # made in the running loop, at the first send
        self._from = (
            ("MessagingServiceSid", config.messaging_service_sid)
            if config.messaging_service_sid
            else ("From", config.from_number)
        )
        self._whatsapp_from = config.whatsapp_from

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def client(self) -> Client:
        return self._client

    async def send(self, to: str, body: str) -> Sent:
        """POST Messages.json with the fields `create_async` sends, and read the new message's
        sid and status from the answer (the library's request building and its MessageInstance,
        with three RFC 2822 dates parsed, were 16 us a send; BENCHMARKS.md). A send not answered
        within `timeout_seconds` (connecting included) is a SendError without a status: its
        connection is dropped, and the sender looks for the message before trying again."""
        return await self._post(to, [("Body", body)])

    async def send_template(self, to: str, content_sid: str, variables: Mapping[str, str]) -> Sent:
        """A WhatsApp template (a ContentSid approved by WhatsApp, with its variables): what may
        go to a person outside the 24-hour window after their last message."""
        return await self._post(
            to,
            [
                ("ContentSid", content_sid),
                ("ContentVariables", json.dumps(dict(variables), ensure_ascii=False)),
            ],
        )

    def _sender_of(self, to: str) -> tuple[str, str]:
        if not to.startswith("whatsapp:"):
            return self._from
        if self._whatsapp_from:
            return ("From", self._whatsapp_from)
        if self._from[0] == "MessagingServiceSid":
            return self._from
        why = "no WhatsApp sender: set twilio.whatsapp_from or twilio.messaging_service_sid"
        raise SendError(why, status=400, reason=why)

    async def _post(self, to: str, content: list[tuple[str, str]]) -> Sent:
        field, sender = self._sender_of(to)
        form = form_encoded(
            [("To", to), (field, sender), *content, ("StatusCallback", self._status_callback)]
        )
        if self._pool is None:
            self._pool = CurlPool()
        try:
            answer = await self._pool.post(
                self._send_url, form, self._send_headers, timeout=self._timeout, proxy=self._proxy
            )
        except CurlError as exc:
            if exc.timed_out:  # libcurl closes its connection: a late answer answers nothing
                raise SendError("timed out waiting for Twilio") from None
            raise SendError(f"could not reach Twilio: {exc.name}") from None
        status = answer.status
        text = answer.body.decode("utf-8", "replace")
        if status >= 400:
            retry_after = answer.header("Retry-After")
            raise _refused(status, text, {"Retry-After": retry_after} if retry_after is not None else {})
        try:
            message: Any = json.loads(text)
            return Sent(sid=str(message["sid"]), status=str(message.get("status") or "queued"))
        except (ValueError, TypeError, KeyError, AttributeError):
            # Twilio took it (2xx) but its answer cannot be read: tried again after a look
            # for it (`find`), as after a send that timed out
            raise SendError(f"Twilio's answer could not be read (HTTP {status})") from None

    async def find(self, to: str, body: str, since: float) -> list[Sent]:
        """The account's messages that could be the reply whose try, claimed at `since`, ended
        with an unknown outcome (its process died mid-send, or Twilio did not answer in time).

        How a sent message is matched:
        - Twilio lists the account's Messages filtered by `To` = the recipient and `DateSent>=`
          the claim's UTC date (its filter works on whole days), newest first, at most
          FIND_LIMIT of them. A message Twilio accepted but has not sent yet has no DateSent and
          is not listed: a takeover comes STALE_SECONDS after the owner's last heartbeat, by
          when Twilio has usually sent it.
        - It went out from this account (`direction` outbound-*),
        - with exactly this body (Twilio keeps the body it was given); to a WhatsApp address,
          also a body that holds it: a template (a notice outside the 24-hour window) is listed
          with its text rendered, the reply its variable, never the bare reply,
        - and was created no earlier than the claim time, less CLOCK_ALLOWANCE_SECONDS (Twilio's
          `date_created` has whole seconds; the clocks may differ a little): a message created
          before the claim belongs to an earlier reply.
        The sender then drops candidates already recorded as another outbox row's `twilio_sid`
        (the same text to the same person twice) and takes the oldest one left.
        """
        day = datetime.fromtimestamp(since - CLOCK_ALLOWANCE_SECONDS, UTC).date().isoformat()
        earliest = since - CLOCK_ALLOWANCE_SECONDS
        templated = to.startswith("whatsapp:")
        try:
            listed = await self._client.messages.list_async(
                to=to, date_sent_after=day, limit=FIND_LIMIT, page_size=50
            )
        except SendError:
            raise
        except Exception as exc:  # an answer the library could not read
            raise SendError(f"could not list messages: {type(exc).__name__}") from None
        found = [
            Sent(
                sid=str(m.sid),
                status=str(m.status or "sent"),
                error_code=str(m.error_code) if m.error_code is not None else None,
            )
            for m in listed
            if str(m.direction or "").startswith("outbound")
            and (m.body == body or (templated and bool(body) and body in (m.body or "")))
            and m.date_created is not None
            and m.date_created.timestamp() >= earliest
        ]
        found.reverse()  # oldest first
        return found


_LINKS = re.compile(r"(/x/link/)[A-Za-z0-9_\-]+|((?:sig|exp)=)[^&\s]+|((?:code: |\\PAIR ))\d+")


def mask_links(text: str) -> str:
    """What grants something masked for logs: X link tokens, gallery signatures, and the code
    of a `\\PAIR` offer (`Your code: ***. ... send \\PAIR ***`; SPEC: no code is logged)."""

    return _LINKS.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "***", text)


class LogTransport:
    """Development mode: replies go to the log (links masked); `textwire chat` reads the outbox."""

    delivers = False  # nothing leaves the process: no delivery receipt to wait for

    async def send(self, to: str, body: str) -> Sent:
        log.info("sms.sent.dev", to=mask_address(to), text=mask_links(body))
        return Sent(sid="DV" + secrets.token_hex(16), status="sent")

    async def send_template(self, to: str, content_sid: str, variables: Mapping[str, str]) -> Sent:
        log.info(
            "sms.sent.dev", to=mask_address(to), template=content_sid, text=mask_links(variables.get("1", ""))
        )
        return Sent(sid="DV" + secrets.token_hex(16), status="sent")

    async def find(self, to: str, body: str, since: float) -> list[Sent]:
        return []  # nothing leaves the process: a resend is only another log line


__all__ = [
    "LogTransport",
    "SendError",
    "Sent",
    "SessionHttpClient",
    "Transport",
    "TwilioTransport",
    "basic_auth_header",
    "env_proxy",
    "mask_links",
]
