"""A local fake of Twilio's Messages API (`POST` and `GET /2010-04-01/Accounts/{sid}/Messages.json`:
create, and list filtered by `To` and `DateSent>=` with paging), and of
its media (tests/fakes/twilio_media.py: the API host with Basic auth, a CDN on a second host).

It checks Basic auth and the account, answers 201 with a Message resource like Twilio's, records
what it accepted, and can be told to fail: 21610 for opted-out numbers, queued failures (429 with
Retry-After, 5xx, other codes) and a delay for timeout tests. Fixture: `fake_twilio`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web

from tests.fakes.twilio_media import FakeTwilioMedia


@dataclass
class Failure:
    status: int
    code: int | None
    retry_after: float | None


@dataclass
class FakeTwilio:
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    api_base: str = ""
    cdn_host: str = "127.0.0.1:9"
    messages: list[dict[str, str]] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    delay: float = 0.0
    delay_after_accepting: float = 0.0  # take the message, then answer late (a timeout with the SMS sent)
    requests: int = 0
    abandoned: int = 0  # requests whose client hung up during `delay` (nothing was created)
    list_requests: int = 0
    list_failures: list[int] = field(default_factory=list)  # statuses for the next list requests
    failures_to: dict[str, list[Failure]] = field(default_factory=dict)  # the next failures for one To
    failures_body: dict[str, list[Failure]] = field(default_factory=dict)  # ... for one Body
    # take a message to this To, then answer only once its event is set (a send in flight for as
    # long as a test needs, whatever the machine's speed)
    hold_to: dict[str, asyncio.Event] = field(default_factory=dict)
    # a template's text by ContentSid, "{{1}}" its variable: a message sent as a template is
    # listed with its text rendered, as Twilio lists it (never the bare variable)
    templates: dict[str, str] = field(default_factory=dict)
    media: FakeTwilioMedia = field(init=False)

    def __post_init__(self) -> None:
        self.media = FakeTwilioMedia(self.account_sid, self.auth_token)

    def fail_next(
        self, status: int, code: int | None = None, retry_after: float | None = None, times: int = 1
    ) -> None:
        self.failures.extend(Failure(status, code, retry_after) for _ in range(times))

    async def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, str]]:  # noqa: ASYNC109
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"fake Twilio got {len(self.messages)} messages, expected {count}")
            await asyncio.sleep(0.01)
        return self.messages

    # -- the API ----------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization") == expected

    @staticmethod
    def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        body = {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        return web.json_response(body, status=status, headers=headers)

    async def create_message(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.delay:  # slow before taking it: a client that gave up meanwhile created nothing
            try:
                await asyncio.sleep(self.delay)
            except asyncio.CancelledError:  # the server cancels a handler whose client hung up
                self.abandoned += 1
                raise
            if request.transport is None or request.transport.is_closing():
                self.abandoned += 1
                return web.Response(status=499)
        if not self._authorized(request) or request.match_info["sid"] != self.account_sid:
            return self._error(401, 20003, "Authenticate")
        form = {k: str(v) for k, v in (await request.post()).items()}
        if self.failures:
            failure = self.failures.pop(0)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else None
            return self._error(failure.status, failure.code or failure.status, "injected failure", headers)
        for_recipient = self.failures_to.get(form.get("To", ""))
        if for_recipient:
            failure = for_recipient.pop(0)
            return self._error(failure.status, failure.code or failure.status, "injected failure")
        for_body = self.failures_body.get(form.get("Body", ""))
        if for_body:
            failure = for_body.pop(0)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else None
            return self._error(failure.status, failure.code or failure.status, "injected failure", headers)
        if form.get("To") in self.opted_out:
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
        if (
            not form.get("To")
            or not (form.get("From") or form.get("MessagingServiceSid"))
            or not ("Body" in form or form.get("ContentSid"))
        ):
            return self._error(400, 21604, "A 'To', 'From' and 'Body' (or 'ContentSid') are required")
        if "From" in form and form["To"].startswith("whatsapp:") != form["From"].startswith("whatsapp:"):
            return self._error(400, 63007, "Twilio could not find a Channel with the specified From address")
        sid = "SM" + secrets.token_hex(16)
        rendered = {}
        if form.get("ContentSid"):
            text = self.templates.get(form["ContentSid"], "Update from textwire: {{1}} Reply to continue.")
            for name, value in json.loads(form.get("ContentVariables") or "{}").items():
                text = text.replace("{{" + name + "}}", value)
            rendered = {"rendered": text}
        self.messages.append(
            {**form, **rendered, "sid": sid, "date_created": format_datetime(datetime.now(UTC), usegmt=True)}
        )
        if self.delay_after_accepting:
            await asyncio.sleep(self.delay_after_accepting)
        held = self.hold_to.get(form["To"])
        if held is not None:
            await held.wait()
        return web.json_response(
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": form["To"],
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": form.get("Body", ""),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
            status=201,
        )

    def _resource(self, message: dict[str, str]) -> dict[str, Any]:
        return {
            "sid": message["sid"],
            "account_sid": self.account_sid,
            "to": message["To"],
            "from": message.get("From"),
            "messaging_service_sid": message.get("MessagingServiceSid"),
            "body": message.get("Body", message.get("rendered", "")),
            "status": message.get("status", "sent"),  # a test may move it on (delivered, failed)
            "direction": "outbound-api",
            "num_segments": "1",
            "date_created": message["date_created"],
            "date_sent": message["date_created"],
            "date_updated": message["date_created"],
            "error_code": int(message["error_code"]) if message.get("error_code") else None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{message['sid']}.json",
        }

    async def list_messages(self, request: web.Request) -> web.Response:
        """GET Messages.json like Twilio's: `To`, `DateSent>` (a URL's `DateSent>=YYYY-MM-DD`, also
        with a time), newest first, `PageSize` and `Page` with `next_page_uri`."""
        self.list_requests += 1
        if not self._authorized(request) or request.match_info["sid"] != self.account_sid:
            return self._error(401, 20003, "Authenticate")
        if self.list_failures:
            status = self.list_failures.pop(0)
            return self._error(status, status, "injected failure")
        query = request.query
        found = list(reversed(self.messages))
        if "To" in query:
            found = [m for m in found if m["To"] == query["To"]]
        after = query.get("DateSent>")
        if after:
            day = after.lstrip("=")[:10]
            found = [m for m in found if parsedate_to_datetime(m["date_created"]).date().isoformat() >= day]
        size = min(1000, int(query.get("PageSize", "50")))
        page = int(query.get("Page", "0"))
        chunk = found[page * size : (page + 1) * size]
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

        def uri(n: int) -> str:
            params = {k: v for k, v in query.items() if k not in ("Page", "PageToken")}
            return base + "?" + urlencode({**params, "PageSize": size, "Page": n})

        more = (page + 1) * size < len(found)
        return web.json_response(
            {
                "messages": [self._resource(m) for m in chunk],
                "end": page * size + max(0, len(chunk) - 1),
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": uri(page - 1) if page > 0 else None,
                "start": page * size,
                "uri": uri(page),
            }
        )

    def section(self, **changes: Any) -> dict[str, Any]:
        """The bot's `twilio` config section pointing at this fake (its API and its media CDN)."""
        return {
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "from_number": "+15557654321",
            "api_base": self.api_base,
            "media_hosts": (self.cdn_host,),
            "timeout_seconds": 10.0,  # production's: a test that wants a timeout sets its own
            **changes,
        }

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self.list_messages)
        self.media.attach(app)
        return app


@pytest.fixture
async def fake_twilio(aiohttp_server: Callable[..., Any]) -> FakeTwilio:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    fake.api_base = fake.media.api_base = str(server.make_url("")).rstrip("/")
    cdn = await aiohttp_server(fake.media.cdn_app())
    fake.media.cdn_base = str(cdn.make_url("")).rstrip("/")
    fake.cdn_host = f"{cdn.host}:{cdn.port}"
    return fake
