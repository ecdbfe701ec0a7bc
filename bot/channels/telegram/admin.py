"""`textwire telegram set-webhook | delete-webhook`: point Telegram at this server's
`{server.public_url}/telegram/webhook` with the secret token and `allowed_updates` (messages, and
edits of them, which are answered: bot/channels/telegram/updates.py), and give the bot its command
menu (the list Telegram shows behind "/" and the menu button, `setMyCommands`); or take the webhook
and the menu away (https://core.telegram.org/bots/api#setwebhook, #setmycommands)."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.channels.telegram.api import TelegramApi, TelegramError
from bot.core.config import Config

# what Telegram sends us: without "edited_message" an edit never came, and went unanswered
ALLOWED_UPDATES = ["message", "edited_message"]

# The command menu: what a person taps after "/" (each sends the bare command; one that takes
# arguments answers with its usage). Telegram's rules: a name of 1-32 of a-z, 0-9 and _, a
# description of 1-256 characters. In the order a person needs them; `/stop`, which deletes the
# account (SPEC), is left out of a menu tapped by accident, as `/unlink` (still typed as ever).
MENU: tuple[tuple[str, str], ...] = (
    ("help", "The commands"),
    ("create", "Make a room: /create <room> <password>"),
    ("join", "Join a room: /join <room> <password>"),
    ("rooms", "Your rooms, the active one marked"),
    ("use", "Switch the active room: /use <room>"),
    ("receipts", "A link to the room's receipts"),
    ("balance", "Who owes whom in the room"),
    ("paid", "Record a payment: /paid <name> <amount>"),
    ("amount", "Set your last receipt's total: /amount 12.34"),
    ("split", "Split your last receipt: /split alice bob"),
    ("statement", "A link to this month's statement"),
    ("name", "How the room's members see you: /name <name>"),
    ("link", "Connect X, to post your texts"),
    ("pair", "Use another app or number as you too"),
)


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
    commands = [{"command": name, "description": text} for name, text in MENU]
    try:
        await _call(config, "setMyCommands", {"commands": commands})
    except TelegramError as exc:  # said alone, it read as if nothing had changed
        raise TelegramError(
            f"the webhook is set to {url}, the command menu is not ({exc}): run it again",
            status=exc.status,
        ) from None
    return f"Telegram sends this bot's messages to {url}\nIts command menu lists {len(commands)} commands"


async def delete_webhook(config: Config) -> str:
    await _call(config, "deleteWebhook", {"drop_pending_updates": False})
    await _call(config, "deleteMyCommands", {})
    return "Telegram no longer sends this bot's messages to a webhook, and shows no command menu"


__all__ = ["MENU", "NotConfigured", "TelegramError", "delete_webhook", "set_webhook", "webhook_url"]
