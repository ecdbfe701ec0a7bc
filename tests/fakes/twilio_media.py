"""A local fake of Twilio's media: the API host serves
`GET /2010-04-01/Accounts/{sid}/Messages/{MessageSid}/Media/{MediaSid}` with Basic auth and
answers 302 to a second host (the CDN), which serves the bytes and records any Authorization
header it sees (it must never see one); `DELETE .../Media/{MediaSid}.json` deletes and records.

It is attached to the fake Messages API (tests/fakes/twilio_rest.py, fixture `fake_twilio`):
`fake_twilio.media.add(data, "image/jpeg")` returns the MediaUrl to put in a webhook.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Item:
    data: bytes
    content_type: str
    redirect_to: str | None = None  # the API answers 302 to this instead of the CDN
    chunked: bool = False  # the CDN streams it without a Content-Length


@dataclass
class Seen:
    host: str  # "api" | "cdn"
    method: str
    path: str
    authorization: str | None


@dataclass
class FakeTwilioMedia:
    account_sid: str
    auth_token: str
    api_base: str = ""
    cdn_base: str = ""
    items: dict[str, Item] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    fetch_failures: list[int] = field(default_factory=list)  # statuses for the next GETs at the API
    delete_failures: list[int] = field(default_factory=list)
    _cdn_tokens: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        data: bytes,
        content_type: str = "image/jpeg",
        *,
        message_sid: str | None = None,
        redirect_to: str | None = None,
        chunked: bool = False,
    ) -> str:
        """Store an item; return its MediaUrl (as Twilio puts it in the webhook)."""
        media_sid = "ME" + secrets.token_hex(16)
        message_sid = message_sid or "MM" + secrets.token_hex(16)
        self.items[media_sid] = Item(data, content_type, redirect_to, chunked)
        return (
            f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"
        )

    def authorizations_seen(self, host: str) -> list[str | None]:
        return [s.authorization for s in self.seen if s.host == host]

    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return (
            request.headers.get("Authorization") == expected and request.match_info["sid"] == self.account_sid
        )

    def _record(self, host: str, request: web.Request) -> None:
        self.seen.append(Seen(host, request.method, request.path, request.headers.get("Authorization")))

    async def get_media(self, request: web.Request) -> web.StreamResponse:
        self._record("api", request)
        if not self._authorized(request):
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        if self.fetch_failures:
            status = self.fetch_failures.pop(0)
            return web.json_response({"code": status, "message": "injected", "status": status}, status=status)
        item = self.items.get(request.match_info["media"])
        if item is None:
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        if item.redirect_to is not None:
            raise web.HTTPFound(item.redirect_to)
        token = secrets.token_hex(8)
        self._cdn_tokens[token] = request.match_info["media"]
        raise web.HTTPFound(f"{self.cdn_base}/{self.account_sid}/{token}")

    async def delete_media(self, request: web.Request) -> web.StreamResponse:
        self._record("api", request)
        if not self._authorized(request):
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        if self.delete_failures:
            status = self.delete_failures.pop(0)
            return web.json_response({"code": status, "message": "injected", "status": status}, status=status)
        media_sid = request.match_info["media"]
        if self.items.pop(media_sid, None) is None:
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        self.deleted.append(media_sid)
        return web.Response(status=204)

    async def cdn_get(self, request: web.Request) -> web.StreamResponse:
        self._record("cdn", request)
        if request.headers.get("Authorization"):
            return web.Response(status=400, text="credentials are not for the CDN")
        media_sid = self._cdn_tokens.get(request.match_info["token"])
        item = self.items.get(media_sid or "")
        if item is None:
            return web.Response(status=404)
        if not item.chunked:
            return web.Response(body=item.data, headers={"Content-Type": item.content_type})
        resp = web.StreamResponse(headers={"Content-Type": item.content_type})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for start in range(0, len(item.data), 256 * 1024):
                await resp.write(item.data[start : start + 256 * 1024])
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass  # the client stopped reading past its limit
        return resp

    def attach(self, app: web.Application) -> None:
        base = "/2010-04-01/Accounts/{sid}/Messages/{message}/Media"
        app.router.add_get(base + "/{media}", self.get_media)
        app.router.add_delete(base + "/{media}.json", self.delete_media)

    def cdn_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{sid}/{token}", self.cdn_get)
        return app


@dataclass
class Recorder:
    """Any other host: records every request (none should come with credentials, or at all)."""

    base: str = ""
    seen: list[Seen] = field(default_factory=list)
    body: bytes = b""
    content_type: str = "image/jpeg"

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(Seen("foreign", request.method, request.path, request.headers.get("Authorization")))
        return web.Response(body=self.body, headers={"Content-Type": self.content_type})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app
