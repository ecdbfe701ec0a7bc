"""`textwire telegram set-webhook | delete-webhook`, as a real process, against a local fake of the
Bot API: the URL, the secret and the updates asked for; what Telegram answered; no token; a
token Telegram refuses; and the configuration's rule that a token needs a secret."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app.assembly import build_dispatcher
from bot.channels.telegram.admin import MENU
from tests import ROOT
from tests.fakes.telegram_api import FakeTelegram
from tests.ports import free_port

CONFIG = str(ROOT / "config.toml")


async def textwire(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    environment.update(
        {
            "TEXTWIRE_SERVER_DATA_DIR": str(tmp_path / "data"),
            "TEXTWIRE_SERVER_PUBLIC_URL": "https://bot.example",
        }
    )
    environment.update(env)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        "--config",
        CONFIG,
        cwd=tmp_path,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def telegram_env(fake: FakeTelegram, **changes: str) -> dict[str, str]:
    env = {
        "TEXTWIRE_TELEGRAM_BOT_TOKEN": fake.token,
        "TEXTWIRE_TELEGRAM_WEBHOOK_SECRET": fake.secret,
        "TEXTWIRE_TELEGRAM_API_BASE": fake.api_base,
    }
    env.update(changes)
    return env


async def test_set_webhook_points_telegram_here_and_delete_takes_it_away(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    code, out, err = await textwire(tmp_path, "telegram", "set-webhook", **telegram_env(fake_telegram))
    assert (code, err) == (0, "")
    assert out == (
        "Telegram sends this bot's messages to https://bot.example/telegram/webhook\n"
        f"Its command menu lists {len(MENU)} commands\n"
    )
    assert fake_telegram.webhook == {
        "url": "https://bot.example/telegram/webhook",
        "secret_token": fake_telegram.secret,
        "allowed_updates": ["message", "edited_message"],  # an edit is answered: it must come
    }
    # the menu behind "/", checked by Telegram's rules (the fake refuses a bad name or description)
    assert fake_telegram.commands == list(MENU)
    assert [name for name, _ in fake_telegram.commands][:3] == ["help", "create", "join"]
    assert "stop" not in dict(fake_telegram.commands)  # deletes the account: never one tap away
    code, out, _ = await textwire(tmp_path, "telegram", "delete-webhook", **telegram_env(fake_telegram))
    assert code == 0
    assert "no longer" in out
    assert fake_telegram.webhook is None
    assert fake_telegram.commands == []


def test_every_menu_entry_is_a_command_the_bot_answers() -> None:
    """The menu names commands the dispatcher has (a renamed or dropped command would leave a
    menu entry answered "Unknown command"), each within Telegram's rules."""
    registered = {
        entry.split(maxsplit=1)[0].lstrip("\\").lower() for entry in build_dispatcher([]).all_help_entries()
    }
    for name, description in MENU:
        assert name in registered | {"help"}, name
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name), name
        assert 1 <= len(description) <= 256
        assert "\\" not in description  # Telegram's people type "/"


async def test_without_a_token_it_says_what_to_set(tmp_path: Path) -> None:
    code, out, err = await textwire(tmp_path, "telegram", "set-webhook")
    assert (code, out) == (2, "")
    assert "TEXTWIRE_TELEGRAM_BOT_TOKEN" in err


async def test_a_token_telegram_refuses_is_said_without_the_token(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    env = telegram_env(fake_telegram, TEXTWIRE_TELEGRAM_BOT_TOKEN="123:not-the-token")
    code, out, err = await textwire(tmp_path, "telegram", "set-webhook", **env)
    assert (code, out) == (1, "")
    assert "Unauthorized" in err
    assert "not-the-token" not in err


async def test_a_token_without_a_secret_stops_with_one_line(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    env = telegram_env(fake_telegram, TEXTWIRE_TELEGRAM_WEBHOOK_SECRET="")
    code, _, err = await textwire(tmp_path, "telegram", "set-webhook", **env)
    assert code == 2
    assert err.strip().count("\n") == 0
    assert "telegram.webhook_secret: required when telegram.bot_token is set" in err


async def test_a_telegram_that_does_not_answer_is_not_said_to_refuse(tmp_path: Path) -> None:
    """No Bot API at telegram.api_base (a typo, a firewall): it said "Telegram said no: ...",
    which sent the operator after the token."""
    env = {
        "TEXTWIRE_TELEGRAM_BOT_TOKEN": "123:abc",
        "TEXTWIRE_TELEGRAM_WEBHOOK_SECRET": "s",
        "TEXTWIRE_TELEGRAM_API_BASE": f"http://127.0.0.1:{free_port()}",
    }
    code, out, err = await textwire(tmp_path, "telegram", "set-webhook", **env)
    assert (code, out) == (1, "")
    assert err.startswith("textwire telegram: Telegram did not answer (setWebhook: could not reach Telegram")
    assert "check telegram.api_base" in err
    assert "said no" not in err


async def test_a_token_telegram_does_not_know_says_which_setting(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    env = telegram_env(fake_telegram, TEXTWIRE_TELEGRAM_BOT_TOKEN="123:not-the-token")
    code, _, err = await textwire(tmp_path, "telegram", "delete-webhook", **env)
    assert code == 1
    assert "telegram.bot_token is no bot's token: set TEXTWIRE_TELEGRAM_BOT_TOKEN" in err
    assert "not-the-token" not in err


async def test_a_menu_telegram_refuses_says_the_webhook_is_set(
    tmp_path: Path, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """setWebhook went through and setMyCommands did not: "Telegram said no: setMyCommands: ..."
    read as if nothing had changed."""
    answer = fake_telegram._answer

    async def no_menu(name: str, payload: dict[str, Any]) -> Any:
        if name == "setMyCommands":
            return web.json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: x"}, status=400
            )
        return await answer(name, payload)

    monkeypatch.setattr(fake_telegram, "_answer", no_menu)
    code, out, err = await textwire(tmp_path, "telegram", "set-webhook", **telegram_env(fake_telegram))
    assert (code, out) == (1, "")
    assert fake_telegram.webhook is not None
    assert (
        "the webhook is set to https://bot.example/telegram/webhook, the command menu is not "
        "(setMyCommands: Bad Request: x): run it again"
    ) in err
