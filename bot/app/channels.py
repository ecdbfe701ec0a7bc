"""The channels this app speaks, in one list: adding one is its folder under bot/channels/, its
config section and one line here."""

from __future__ import annotations

from bot.channels.telegram.channel import TelegramChannel
from bot.channels.twilio.channel import TwilioChannel
from bot.core.channel import Channel, Transport
from bot.core.config import Config


def build_channels(config: Config, transport: Transport | None = None) -> list[Channel]:
    """The channels the configuration turns on. `transport`: a test's stand-in for the SMS
    channel's Messages API."""
    channels: list[Channel] = [
        TwilioChannel(config, transport),  # SMS, MMS and WhatsApp through Twilio (bot/channels/twilio/)
    ]
    if config.telegram.bot_token:
        channels.append(TelegramChannel(config))  # the Telegram Bot API (bot/channels/telegram/)
    return channels


__all__ = ["build_channels"]
