"""A stand-in of Telegram's Bot API on this machine, for `textwire chat --channel telegram`: with
`telegram.api_base` on loopback (e.g. `http://127.0.0.1:8082`), chat serves it there, so the
server's Telegram channel works end to end with no Telegram account and no internet.

It answers what textwire calls, as Telegram does (https://core.telegram.org/bots/api):
`POST /bot<token>/<method>` with `{"ok": true, "result": ...}` or `{"ok": false, "error_code",
"description"}`, 401 for another token; `sendMessage` (plain text, 4,096 characters at most: it
takes the message, chat shows replies from the outbox as for SMS), `getFile` for the photos chat
sends, `GET /file/bot<token>/<path>` their bytes, and `getMe`, `setWebhook`, `deleteWebhook`.

Telegram never gives a chat's message id twice, and the server keeps the ids of what it sent
(unique): so the ids this stand-in gives go on from one run of chat to the next. They are taken
from the clock in microseconds (a send takes longer than that, so the count never runs ahead
of the clock into the next run's): larger than Telegram's, and never repeated.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_TEXT = 4096


def on_this_machine(api_base: str) -> tuple[str, int] | None:
    """(host, port) of an `api_base` chat can stand in for: http on a loopback address."""
    parts = urlsplit(api_base)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK:
        return None
    try:
        port = parts.port or 80
    except ValueError:
        return None
    return parts.hostname, port


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)


class StandIn:
    """The Bot API of one bot (its token), holding the files chat hands it."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.sent: list[dict[str, Any]] = []
        self._last_message_id = 0
        self._runner: web.AppRunner | None = None

    def add_file(self, data: bytes, suffix: str) -> str:
        """Keep a file as Telegram keeps what a person sends; its file_id."""
        file_id = "AgAC" + secrets.token_urlsafe(24)
        self.files[file_id] = (f"documents/file_{len(self.files)}{suffix}", data)
        return file_id

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        return app

    async def start(self, host: str, port: int) -> None:
        """Serve on host:port; OSError when the port is taken."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        try:
            payload: Any = (
                await request.json()
                if request.content_type == "application/json"
                else dict(await request.post())
            )
        except ValueError:
            return _error(400, "Bad Request: can't parse JSON")
        if not isinstance(payload, dict):
            return _error(400, "Bad Request: expected an object")
        name = request.match_info["method"]
        if name == "sendMessage":
            text = payload.get("text")
            if payload.get("chat_id") is None or not isinstance(text, str) or not text:
                return _error(400, "Bad Request: message text is empty")
            if len(text) > MAX_TEXT:
                return _error(400, "Bad Request: message is too long")
            self.sent.append(payload)
            result: Any = {"message_id": self._message_id(), "chat": {"id": payload["chat_id"]}, "text": text}
        elif name == "getFile":
            found = self.files.get(str(payload.get("file_id")))
            if found is None:
                return _error(400, "Bad Request: invalid file_id")
            result = {"file_id": payload["file_id"], "file_size": len(found[1]), "file_path": found[0]}
        elif name == "getMe":
            bot = self.token.split(":", 1)[0]
            result = {"id": int(bot) if bot.isdigit() else 0, "is_bot": True, "username": "textwire_chat_bot"}
        elif name in ("setWebhook", "deleteWebhook"):
            result = True
        else:
            return _error(404, "Not Found: method not found")
        return web.json_response({"ok": True, "result": result})

    def _message_id(self) -> int:
        """The next message id: after every id of this run, and of earlier runs (the clock's us)."""
        self._last_message_id = max(self._last_message_id + 1, time.time_ns() // 1_000)
        return self._last_message_id

    async def _download(self, request: web.Request) -> web.Response:
        return download(request, self.token, self.files)


def download(request: web.Request, token: str, files: dict[str, tuple[str, bytes]]) -> web.Response:
    """`GET /file/bot<token>/<file_path>`: a file's bytes, as Telegram serves them; 401 for
    another token, 404 for a path it does not hold."""
    if request.match_info["token"] != token:
        return web.Response(status=401)
    wanted = request.match_info["path"]
    for path, data in files.values():
        if path == wanted:
            return web.Response(body=data, content_type="application/octet-stream")
    return web.Response(status=404)


__all__ = ["StandIn", "download", "on_this_machine"]
