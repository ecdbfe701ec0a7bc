"""`textwire telegram set-webhook | delete-webhook`: point Telegram at this server's
`{server.public_url}/telegram/webhook` with the secret token and `allowed_updates` (messages, and
edits of them, which are answered: bot/channels/telegram/updates.py), or take the webhook away
(https://core.telegram.org/bots/api#setwebhook)."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.channels.telegram.api import TelegramApi, TelegramError
from bot.core.config import Config

# what Telegram sends us: without "edited_message" an edit never came, and went unanswered
ALLOWED_UPDATES = ["message", "edited_message"]


class NotConfigured(Exception):
    """`telegram.bot_token` is empty: there is no bot to set a webhook for."""


def webhook_url(config: Config) -> str:
    return f"{config.public_base}/telegram/webhook"


async def _call(config: Config, method: str, payload: dict[str, Any]) -> str:
    if not config.telegram.bot_token:
        raise NotConfigured("telegram.bot_token is empty: set TEXTWIRE_TELEGRAM_BOT_TOKEN (from BotFather)")
    async with aiohttp.ClientSession(trust_env=True) as http:
        api = TelegramApi(http, config.telegram)
        await api.call(method, payload)
    return method


async def set_webhook(config: Config) -> str:
    """What Telegram answered, in a line; raises TelegramError or NotConfigured."""
    url = webhook_url(config)
    await _call(
        config,
        "setWebhook",
        {"url": url, "secret_token": config.telegram.webhook_secret, "allowed_updates": ALLOWED_UPDATES},
    )
    return f"Telegram sends this bot's messages to {url}"


async def delete_webhook(config: Config) -> str:
    await _call(config, "deleteWebhook", {"drop_pending_updates": False})
    return "Telegram no longer sends this bot's messages to a webhook"


__all__ = ["NotConfigured", "TelegramError", "delete_webhook", "set_webhook", "webhook_url"]
