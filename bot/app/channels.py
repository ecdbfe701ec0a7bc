"""The channels this app speaks, in one list: adding one is its folder under bot/channels/, its
config section and one line here."""

from __future__ import annotations

from bot.channels.twilio.channel import TwilioChannel
from bot.core.channel import Channel, Transport
from bot.core.config import Config


def build_channels(config: Config, transport: Transport | None = None) -> list[Channel]:
    """`transport`: a test's stand-in for the SMS channel's Messages API."""
    return [
        TwilioChannel(config, transport),  # SMS and MMS through Twilio (bot/channels/twilio/)
    ]


__all__ = ["build_channels"]
