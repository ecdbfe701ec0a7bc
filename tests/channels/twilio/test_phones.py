"""Sender addresses: one validator for the webhook's `From` and `textwire chat --from`."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from bot.app.chat import run_chat
from bot.channels.twilio.phones import valid_sender
from bot.core.config import Config
from tests.conftest import Bot

VALID = [
    "+15551234567",
    "+1",
    "+123456789012345",  # 15 digits
    "12345",  # a short code
    "898211",
    "whatsapp:+15551234567",
    "messenger:+447700900123",
]
INVALID = [
    "",
    "+",
    "+1234567890123456",  # 16 digits
    "5551234567",  # a national number
    "+１５５５１２３４５６７",  # fullwidth digits
    "+١٥٥٥١٢٣٤٥٦٧",  # Arabic-Indic digits
    "+1 555 123 4567",
    "+1555123456\n",
    "12",
    "WhatsApp:+15551234567",
    "whatsapp:",
    "whatsapp:5551234567",
    "whatsapp:+1555:+1555",
    "x" * 20 + ":+1555",
    "alice",
]


@pytest.mark.parametrize("address", VALID)
def test_valid_senders(address: str) -> None:
    assert valid_sender(address)


@pytest.mark.parametrize("address", INVALID)
def test_invalid_senders(address: str) -> None:
    assert not valid_sender(address)


async def test_the_webhook_refuses_other_senders_with_400_and_stores_nothing(bot: Bot) -> None:
    for address in INVALID:
        resp = await bot.post(bot.form("hi", sender=address))
        assert resp.status == 400, address
        assert "From" in await resp.text()
    assert await bot.scalar("SELECT count(*) FROM inbox") == 0
    assert await bot.scalar("SELECT count(*) FROM users") == 0
    for address in VALID:
        form = await bot.text("\\HELP", sender=address)
        assert await bot.handled(form["MessageSid"]) == "done"
    assert await bot.scalar("SELECT count(*) FROM users") == len(VALID)


@pytest.mark.parametrize("address", ["+１５５５１２３４５６７", "5551234567", "+1 555"])
async def test_chat_refuses_a_from_the_webhook_would_refuse(
    address: str, make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_chat(make_config(), address) == 2
    err = capsys.readouterr().err
    assert "--from" in err
    assert "E.164" in err


async def test_chat_accepts_a_valid_from(
    make_config: Callable[..., Config], capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    # no server and no database: it gets past the address check and fails on the database
    config = make_config(database={"url": "sqlite:////nonexistent/dir/textwire.db"})
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert await run_chat(config, "whatsapp:+15551234567") == 1
    assert "cannot read the database" in capsys.readouterr().err
