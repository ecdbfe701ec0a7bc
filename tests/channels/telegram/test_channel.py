"""The Telegram channel keeps to the seam: its name, 4,096 characters as its length rule, its
parts (the Bot API transport and its media), and it is on only with a token."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from bot.app.channels import build_channels
from bot.channels.telegram.channel import TelegramChannel
from bot.channels.telegram.media import TelegramMedia
from bot.channels.telegram.transport import TelegramTransport
from bot.core.channel import TELEGRAM, Channel
from bot.core.config import Config, ServerConfig, TelegramConfig
from bot.core.deps import Deps


async def test_the_telegram_channel_keeps_to_the_seam(tmp_path: Path) -> None:
    config = Config(
        server=ServerConfig(data_dir=str(tmp_path)),
        telegram=TelegramConfig(bot_token="5:t", webhook_secret="s"),
    )
    channel: Channel = TelegramChannel(config)
    assert channel.name == TELEGRAM
    fits = channel.length_rules[TELEGRAM]
    assert fits("ж" * 4096)
    assert not fits("a" * 4097)
    async with aiohttp.ClientSession() as http:
        deps = Deps(config=config, db=None, http=http)  # type: ignore[arg-type]
        async with channel.lifespan(deps) as parts:
            assert isinstance(parts.transport, TelegramTransport)
            assert isinstance(parts.media, TelegramMedia)
    assert [c.name for c in build_channels(config)] == ["sms", TELEGRAM]
    assert [c.name for c in build_channels(Config(server=ServerConfig(data_dir=str(tmp_path))))] == ["sms"]
