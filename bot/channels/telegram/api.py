"""The Telegram Bot API: `POST {api_base}/bot<token>/<method>` with a JSON body, answered with
`{"ok": true, "result": ...}` or `{"ok": false, "error_code": N, "description": "...",
"parameters": {"retry_after": S}}`; files at `GET {api_base}/file/bot<token>/<file_path>`.

The token is part of every URL: no URL of this module is ever logged, and errors name the method,
never the address (https://core.telegram.org/bots/api#making-requests).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from bot.core.config import TelegramConfig


class TelegramError(Exception):
    """A call Telegram refused (`status` its error_code, `description` its words, `retry_after`
    from a 429), or one without an answer (`status` None: no connection, a timeout)."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def bot_id(token: str) -> str:
    """The bot's numeric id: the part of its token before the colon (`123456:ABC...`)."""
    return token.split(":", 1)[0]


class TelegramApi:
    def __init__(self, http: aiohttp.ClientSession, config: TelegramConfig) -> None:
        self._http = http
        base = config.api_base.rstrip("/")
        self.bot = bot_id(config.bot_token)
        self._methods = f"{base}/bot{config.bot_token}/"
        self._files = f"{base}/file/bot{config.bot_token}/"
        self._timeout = config.timeout_seconds

    async def call(self, method: str, payload: dict[str, Any]) -> Any:
        """The method's `result`; TelegramError when Telegram said no or did not answer."""
        try:
            async with asyncio.timeout(self._timeout):
                async with self._http.post(
                    self._methods + method, json=payload, allow_redirects=False
                ) as answer:
                    status = answer.status
                    text = await answer.text()
        except TimeoutError:
            raise TelegramError(f"{method}: timed out waiting for Telegram") from None
        except aiohttp.ClientError as exc:
            raise TelegramError(f"{method}: could not reach Telegram: {type(exc).__name__}") from None
        try:
            reply: Any = json.loads(text)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise TelegramError(
                f"{method}: Telegram's answer could not be read (HTTP {status})", status=status
            )
        if reply.get("ok") is True and status < 400:
            return reply.get("result")
        code = reply.get("error_code")
        parameters = reply.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        return_status = int(code) if isinstance(code, int) else status
        raise TelegramError(
            f"{method}: {str(reply.get('description') or f'HTTP {status}')[:200]}",
            status=return_status,
            retry_after=float(retry_after) if isinstance(retry_after, (int, float)) else None,
        )

    def file_url(self, file_path: str) -> str:
        """Where a file `getFile` described is downloaded (the token in it: never log it)."""
        return self._files + file_path.lstrip("/")

    @property
    def http(self) -> aiohttp.ClientSession:
        return self._http


__all__ = ["TelegramApi", "TelegramError", "bot_id"]
