"""Talking to the bot as Telegram does: Updates POSTed to /telegram/webhook with the secret token."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.conftest import Bot

_UPDATE_IDS = itertools.count(100_000)
CHAT = 7001  # a private chat's id is its user's id
OTHER_CHAT = 7002


def update(
    text: str | None = None,
    *,
    chat: int = CHAT,
    update_id: int | None = None,
    first_name: str = "Ann",
    **message: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": 1,
        "date": 1_790_000_000,
        "chat": {"id": chat, "type": "private", "first_name": first_name},
        "from": {"id": chat, "is_bot": False, "first_name": first_name},
        **message,
    }
    if text is not None:
        body["text"] = text
    return {"update_id": update_id if update_id is not None else next(_UPDATE_IDS), "message": body}


async def post_update(bot: Bot, payload: Any, *, secret: str | None = None) -> Any:
    """POST `payload` (an Update, or raw bytes) as Telegram would; returns the response."""
    headers = {"Content-Type": "application/json"}
    token = bot.config.telegram.webhook_secret if secret is None else secret
    if token:
        headers["X-Telegram-Bot-Api-Secret-Token"] = token
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return await bot.client.post("/telegram/webhook", data=data, headers=headers)


async def say(bot: Bot, text: str | None, *, chat: int = CHAT, **message: Any) -> str:
    """A message from `chat`, acknowledged 200; returns its inbox id (`message_sid`)."""
    payload = update(text, chat=chat, **message)
    resp = await post_update(bot, payload)
    assert resp.status == 200, await resp.text()
    bot_id = bot.config.telegram.bot_token.split(":", 1)[0]
    return f"tg{bot_id}-{payload['update_id']}"


async def answer(bot: Bot, fake: Any, text: str, *, chat: int = CHAT, first_name: str = "Ann") -> str:
    """What `chat` (a person of that first name) is answered to `text`, once it is handled and
    every reply is sent: the first message the fake Bot API took for that chat."""
    before = len(fake.sent)
    assert await bot.handled(await say(bot, text, chat=chat, first_name=first_name)) == "done"
    await bot.settled()
    return next(str(m["text"]) for m in fake.sent[before:] if str(m["chat_id"]) == str(chat))


async def edit(bot: Bot, edited: dict[str, Any]) -> None:
    """`edited` (an Update made by `update`) sent again as its `edited_message`, and handled."""
    payload = {
        "update_id": edited["update_id"],
        "edited_message": edited["message"] | {"edit_date": 1_790_000_100},
    }
    assert (await post_update(bot, payload)).status == 200
    bot_id = bot.config.telegram.bot_token.split(":", 1)[0]
    assert await bot.handled(f"tg{bot_id}-{edited['update_id']}") == "done"
