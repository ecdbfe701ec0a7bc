"""The Telegram Bot API channel: the webhook, `sendMessage`, photos through `getFile`, and 4,096
characters as its length rule (no segments). On only when `telegram.bot_token` is set."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from bot.channels.telegram import webhook
from bot.channels.telegram.api import TelegramApi, bot_id
from bot.channels.telegram.media import TelegramMedia
from bot.channels.telegram.transport import TelegramTransport
from bot.core.channel import MB, TELEGRAM, ChannelParts, FitsOne, MediaLimits, Transport, fits_characters
from bot.core.config import Config
from bot.core.deps import Deps

MAX_CHARACTERS = 4096  # sendMessage's limit


GROUP_TOLD_SECONDS = 24 * 3600.0


class TelegramChannel:
    name = TELEGRAM
    length_rules: Mapping[str, FitsOne] = {TELEGRAM: fits_characters(MAX_CHARACTERS)}
    # getFile serves files of up to 20 MB; photos arrive compressed, far below it (and far below
    # `media.max_bytes`), a picture sent as a file whole: a phone camera's is often over 5 MB
    media_limits: Mapping[str, MediaLimits] = {
        TELEGRAM: MediaLimits(
            20 * MB, document_bytes=20 * MB, too_big_hint=" (send it as a photo, not as a file)"
        )
    }

    def __init__(self, config: Config, transport: Transport | None = None) -> None:
        self.config = config
        self._transport = transport  # tests hand in their own
        self.secret = config.telegram.webhook_secret.encode("utf-8")
        self.bot_id = bot_id(config.telegram.bot_token)
        self._groups_told: dict[int, float] = {}  # a group -> when it was last told (this process)

    def tell_group(self, group: int, now: float) -> bool:
        """Whether to answer a group that asks something with "private chats only": once a
        group a day (in this process), so a busy group is not answered at every command."""
        if now - self._groups_told.get(group, float("-inf")) < GROUP_TOLD_SECONDS:
            return False
        if len(self._groups_told) >= 4096:  # forget the groups told longest ago
            for old in sorted(self._groups_told, key=self._groups_told.__getitem__)[:1024]:
                del self._groups_told[old]
        self._groups_told[group] = now
        return True

    def add_routes(self, app: web.Application) -> None:
        webhook.add_routes(app, self)

    @contextlib.asynccontextmanager
    async def lifespan(self, deps: Deps) -> AsyncIterator[ChannelParts]:
        api = TelegramApi(deps.http, self.config.telegram)
        transport = self._transport if self._transport is not None else TelegramTransport(api)
        yield ChannelParts(
            transport=transport, media=TelegramMedia(api, self.config.telegram.timeout_seconds)
        )


__all__ = ["GROUP_TOLD_SECONDS", "MAX_CHARACTERS", "TelegramChannel"]
