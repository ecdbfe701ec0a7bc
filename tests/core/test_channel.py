"""The channel seam's own types: an address, a send's outcome, the default length rule; and that
the Twilio channel keeps to the seam (its length rule is GSM-7's, its parts are a transport and a
media source)."""

from __future__ import annotations

import aiohttp
import pytest

from bot.channels.twilio.channel import TwilioChannel
from bot.channels.twilio.rest import LogTransport
from bot.core.channel import SMS, Address, Channel, ChannelParts, SendError, fits_160
from bot.core.config import Config, ServerConfig
from bot.core.deps import Deps


def test_an_address_is_a_channel_and_an_id() -> None:
    alice = Address(SMS, "+15550001111")
    assert str(alice) == "sms:+15550001111"
    assert alice == Address("sms", "+15550001111")
    assert alice != Address("whatsapp", "+15550001111")
    assert len({alice, Address(SMS, "+15550001111")}) == 1


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(None, True), (429, True), (500, True), (503, True), (400, False), (401, False), (404, False)],
)
def test_which_send_errors_are_tried_again(status: int | None, retryable: bool) -> None:
    assert SendError("x", status=status).retryable is retryable


def test_a_recipient_gone_is_said_by_the_channel_not_by_a_code() -> None:
    assert not SendError("refused", status=400, code=21610).recipient_gone
    assert SendError("refused", status=400, code=21610, recipient_gone=True).recipient_gone


def test_the_default_length_rule_counts_characters() -> None:
    assert fits_160("x" * 160)
    assert not fits_160("x" * 161)
    assert fits_160("€" * 160)  # characters, not GSM-7 septets


async def test_the_twilio_channel_keeps_to_the_seam(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = Config(server=ServerConfig(data_dir=str(tmp_path)))
    channel: Channel = TwilioChannel(config)
    assert channel.name == SMS
    assert channel.fits_one("a" * 160)
    assert not channel.fits_one("a" * 161)
    assert channel.fits_one("€" * 80)  # GSM-7's extension table: two septets each
    assert not channel.fits_one("€" * 81)
    assert not channel.fits_one("ж")  # not GSM-7 at all: every reply is written to fit one GSM-7 segment
    async with aiohttp.ClientSession() as http:
        deps = Deps(config=config, db=None, http=http)  # type: ignore[arg-type]
        async with channel.lifespan(deps) as parts:
            assert isinstance(parts, ChannelParts)
            assert isinstance(parts.transport, LogTransport)  # development mode: replies to the log
            assert parts.transport.delivers is False
            assert parts.media is not None
