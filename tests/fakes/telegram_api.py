"""A local fake of the Telegram Bot API (https://core.telegram.org/bots/api), real HTTP.

`POST /bot<token>/<method>` with a JSON body (or a form), answered as Telegram does:
`{"ok": true, "result": ...}`, or `{"ok": false, "error_code": N, "description": "..."}`. A wrong
token gets 401. `sendMessage` records each message (refusing `parse_mode` outright: textwire never
sends markup), answers 403 "bot was blocked by the user" for a blocked chat, and 429 with
`parameters.retry_after` while told to throttle; `getFile` describes the files it holds and
`GET /file/bot<token>/<path>` serves their bytes; `setWebhook`, `deleteWebhook`, `getMe` and
the command menu (`setMyCommands` checked by Telegram's rules, `deleteMyCommands`) are recorded. Fixture: `fake_telegram`.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from bot.channels.telegram.standin import download

CHAT_SPACING = 0.01  # seconds between two sends to one chat, for a bot on this fake


def _error(status: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


@dataclass
class FakeTelegram:
    token: str = field(
        default_factory=lambda: f"{secrets.randbelow(10**9) + 10**8}:{secrets.token_urlsafe(26)}"
    )
    api_base: str = ""
    sent: list[dict[str, Any]] = field(default_factory=list)  # every sendMessage it took
    blocked: set[str] = field(default_factory=set)  # chat ids (as strings) that blocked the bot
    throttle: list[float] = field(default_factory=list)  # retry_after of the next sendMessage calls
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id -> (file_path, bytes)
    too_big: set[str] = field(default_factory=set)  # file_ids of files over getFile's 20 MB
    webhook: dict[str, Any] | None = None
    commands: list[tuple[str, str]] = field(default_factory=list)  # the menu (setMyCommands)
    calls: list[str] = field(default_factory=list)  # method names, in order
    refused: list[tuple[str, int]] = field(default_factory=list)  # (method, status) answered with an error

    @property
    def bot_id(self) -> str:
        return self.token.split(":", 1)[0]

    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # the webhook's

    def section(self) -> dict[str, Any]:
        """The `[telegram]` section of a config that uses this fake."""
        return {"bot_token": self.token, "webhook_secret": self.secret, "api_base": self.api_base}

    def add_file(self, data: bytes, path: str = "photos/file_0.jpg") -> str:
        file_id = "AgAC" + secrets.token_urlsafe(24)
        self.files[file_id] = (path, data)
        return file_id

    def add_big_file(self) -> str:
        """A file over the 20 MB a bot may download: getFile answers "file is too big"."""
        file_id = "BQAC" + secrets.token_urlsafe(24)
        self.too_big.add(file_id)
        return file_id

    def to(self, chat: int | str) -> list[str]:
        return [m["text"] for m in self.sent if str(m["chat_id"]) == str(chat)]

    async def wait_for_sent(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.sent) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {count} messages, have {self.sent}")
            await asyncio.sleep(0.02)
        return self.sent

    def app(self) -> web.Application:
        async def method(request: web.Request) -> web.Response:
            if request.match_info["token"] != self.token:
                return _error(401, "Unauthorized")
            name = request.match_info["method"]
            self.calls.append(name)
            if request.content_type == "application/json":
                payload: Any = await request.json()
            else:
                payload = dict(await request.post())
            if not isinstance(payload, dict):
                return _error(400, "Bad Request: expected an object")
            answer = await self._answer(name, payload)
            if answer.status >= 400:
                self.refused.append((name, answer.status))
            return answer

        async def file(request: web.Request) -> web.StreamResponse:
            return download(request, self.token, self.files)  # as chat's stand-in serves them

        app = web.Application()
        app.router.add_post("/bot{token}/{method}", method)
        app.router.add_get("/file/bot{token}/{path:.+}", file)
        return app

    async def _answer(self, name: str, payload: dict[str, Any]) -> web.Response:
        if name == "getMe":
            return web.json_response(
                {
                    "ok": True,
                    "result": {"id": int(self.bot_id), "is_bot": True, "username": "textwire_test_bot"},
                }
            )
        if name == "setWebhook":
            if not payload.get("url"):
                return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
            self.webhook = payload
            return web.json_response({"ok": True, "result": True, "description": "Webhook was set"})
        if name == "setMyCommands":
            commands = payload.get("commands")
            if not isinstance(commands, list) or len(commands) > 100:
                return _error(400, "Bad Request: commands must be a list of at most 100")
            for command in commands:
                if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                    return _error(400, "Bad Request: BOT_COMMAND_INVALID")
                if not 1 <= len(str(command.get("description", ""))) <= 256:
                    return _error(400, "Bad Request: command description is empty or too long")
            self.commands = [(c["command"], c["description"]) for c in commands]
            return web.json_response({"ok": True, "result": True})
        if name == "deleteMyCommands":
            self.commands = []
            return web.json_response({"ok": True, "result": True})
        if name == "deleteWebhook":
            self.webhook = None
            return web.json_response({"ok": True, "result": True, "description": "Webhook was deleted"})
        if name == "getFile":
            if str(payload.get("file_id")) in self.too_big:
                return _error(400, "Bad Request: file is too big")
            found = self.files.get(str(payload.get("file_id")))
            if found is None:
                return _error(400, "Bad Request: invalid file_id")
            path, data = found
            return web.json_response(
                {
                    "ok": True,
                    "result": {"file_id": payload["file_id"], "file_size": len(data), "file_path": path},
                }
            )
        if name == "sendMessage":
            chat, text = payload.get("chat_id"), payload.get("text")
            if chat is None or not isinstance(text, str) or not text:
                return _error(400, "Bad Request: message text is empty")
            if "parse_mode" in payload:
                return _error(400, "Bad Request: this fake refuses parse_mode (textwire sends plain text)")
            if len(text) > 4096:
                return _error(400, "Bad Request: message is too long")
            if self.throttle:
                return _error(429, "Too Many Requests: retry later", retry_after=self.throttle.pop(0))
            if str(chat) in self.blocked:
                return _error(403, "Forbidden: bot was blocked by the user")
            self.sent.append(
                {
                    "chat_id": str(chat),
                    "text": text,
                    **{k: v for k, v in payload.items() if k not in ("chat_id", "text")},
                }
            )
            return web.json_response(
                {"ok": True, "result": {"message_id": len(self.sent), "chat": {"id": chat}, "text": text}}
            )
        return _error(404, "Not Found: method not found")


@pytest.fixture
async def fake_telegram(aiohttp_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> FakeTelegram:
    """The fake, and a bot that sends to one chat every CHAT_SPACING s rather than every second
    (bot/channels/telegram/transport.py's Pacer, as Telegram asks): a test of three replies to a
    chat waited two seconds on the pacer's timer. The pacer still paces (its slots are
    tests/channels/telegram/test_transport.py's), the fake enforces no rate."""
    from bot.channels.telegram import transport

    monkeypatch.setattr(transport, "Pacer", functools.partial(transport.Pacer, chat_seconds=CHAT_SPACING))
    fake = FakeTelegram()
    server = await aiohttp_server(fake.app())
    fake.api_base = str(server.make_url("")).rstrip("/")
    return fake
