"""The Twilio channel keeps to the seam: its name, its length rules (SMS: one GSM-7 segment;
WhatsApp: 1,600 characters), and its
parts (a transport and a media source) opened for the app's life."""

from __future__ import annotations

import aiohttp

from bot.channels.twilio.channel import TwilioChannel
from bot.channels.twilio.media import TwilioMedia
from bot.channels.twilio.rest import LogTransport
from bot.core.channel import SMS, WHATSAPP, Channel, ChannelParts
from bot.core.config import Config, ServerConfig
from bot.core.deps import Deps


async def test_the_twilio_channel_keeps_to_the_seam(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = Config(server=ServerConfig(data_dir=str(tmp_path)))
    channel: Channel = TwilioChannel(config)
    assert channel.name == SMS
    assert set(channel.length_rules) == {SMS, WHATSAPP}
    fits = channel.length_rules[SMS]
    assert fits("a" * 160)
    assert not fits("a" * 161)
    assert fits("€" * 80)  # GSM-7's extension table: two septets each
    assert not fits("€" * 81)
    assert not fits("ж")  # not GSM-7 at all: every reply is written to fit one GSM-7 segment
    whatsapp = channel.length_rules[WHATSAPP]  # no segments: characters
    assert whatsapp("ж" * 1600)
    assert not whatsapp("a" * 1601)
    async with aiohttp.ClientSession() as http:
        deps = Deps(config=config, db=None, http=http)  # type: ignore[arg-type]
        async with channel.lifespan(deps) as parts:
            assert isinstance(parts, ChannelParts)
            assert isinstance(parts.transport, LogTransport)  # development mode: replies to the log
            assert parts.transport.delivers is False
            assert isinstance(parts.media, TwilioMedia)
            assert parts.media.twilio.api_base.endswith("/dev/twilio")  # the server's own stand-in


async def test_with_an_account_replies_go_to_twilio_and_media_comes_from_its_api(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.core.config import TwilioConfig

    config = Config(
        server=ServerConfig(data_dir=str(tmp_path)),
        twilio=TwilioConfig(account_sid="AC" + "1" * 32, auth_token="tok", from_number="+15557654321"),
    )
    channel = TwilioChannel(config)
    async with aiohttp.ClientSession() as http:
        deps = Deps(config=config, db=None, http=http)  # type: ignore[arg-type]
        async with channel.lifespan(deps) as parts:
            assert parts.transport.delivers is True
            assert isinstance(parts.media, TwilioMedia)
            assert parts.media.twilio.api_base == "https://api.twilio.com"
            assert channel.checker.valid(
                "https://x.test/twilio/sms", [], channel.checker.sign("https://x.test/twilio/sms", [])
            )
