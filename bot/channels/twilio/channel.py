"""The SMS/MMS and WhatsApp channel through Twilio: the webhooks, the Messages API (or the log in
development mode), MMS media, and its length rules (SMS: GSM-7 segments)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

from aiohttp import web

from bot.channels.twilio import devmedia, status, webhook
from bot.channels.twilio.media import TwilioMedia
from bot.channels.twilio.rest import LogTransport, TwilioTransport
from bot.channels.twilio.segments import fits_one_segment
from bot.channels.twilio.signature import SignatureChecker
from bot.core.channel import (
    MB,
    SMS,
    WHATSAPP,
    ChannelJob,
    ChannelParts,
    FitsOne,
    MediaLimits,
    Transport,
    fits_characters,
)
from bot.core.config import Config
from bot.core.deps import Deps
from bot.core.devmode import twilio_auth_token


class TwilioChannel:
    name = SMS

    def __init__(self, config: Config, transport: Transport | None = None) -> None:
        self.config = config
        self._transport = transport  # tests hand in their own
        self.checker = SignatureChecker("")  # the account's token, read when the app starts

    # SMS: one GSM-7 segment (billed per segment); WhatsApp has no segments: 1,600 characters
    length_rules: Mapping[str, FitsOne] = {SMS: fits_one_segment, WHATSAPP: fits_characters(1600)}
    # MMS: 5 MB a message; WhatsApp: images 5 MB, documents 16 MB
    media_limits: Mapping[str, MediaLimits] = {
        SMS: MediaLimits(5 * MB),
        WHATSAPP: MediaLimits(5 * MB, document_bytes=16 * MB),
    }

    def add_routes(self, app: web.Application) -> None:
        webhook.add_routes(app, self)
        if self.config.dev_mode:  # the stand-in of Twilio's media API for `textwire chat --photo`
            devmedia.add_routes(app, self.config)

    @contextlib.asynccontextmanager
    async def lifespan(self, deps: Deps) -> AsyncIterator[ChannelParts]:
        config = self.config
        token, _ = await asyncio.to_thread(twilio_auth_token, config)
        self.checker = SignatureChecker(token)
        # development: the server's own stand-in of Twilio's media API
        media = TwilioMedia(deps.http, devmedia.media_twilio_config(config, token))
        async with contextlib.AsyncExitStack() as stack:
            transport = self._transport
            if transport is None and config.dev_mode:
                transport = LogTransport()
            elif transport is None:
                twilio = TwilioTransport(
                    deps.http, config.twilio, status_callback=f"{config.public_base}/twilio/status"
                )
                stack.push_async_callback(twilio.close)
                transport = twilio
            # status callbacks that came before their reply's sid was recorded (status.py); the
            # development log sends nothing, and no callback comes
            jobs = (
                ()
                if isinstance(transport, LogTransport)
                else (ChannelJob("twilio-early-statuses", status.catch_up, status.CATCH_UP_SECONDS),)
            )
            yield ChannelParts(transport=transport, media=media, jobs=jobs)


__all__ = ["TwilioChannel"]
