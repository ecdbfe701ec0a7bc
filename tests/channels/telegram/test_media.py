"""Telegram files through getFile and the file host, against the local fake: the bytes of a file,
an unknown file refused (that item only), the host down an outage (the message is retried), and
nothing to release."""

from __future__ import annotations

import aiohttp
import pytest

from bot.channels.telegram.api import TelegramApi
from bot.channels.telegram.media import TelegramMedia
from bot.channels.telegram.updates import MEDIA_PREFIX
from bot.core.channel import MediaRefused, MediaUnavailable
from bot.core.config import TelegramConfig
from handlers.media import photos_reply
from tests.fakes.telegram_api import FakeTelegram


async def read(media: TelegramMedia, ref: str) -> bytes:
    async with media.open(ref) as stream:
        return b"".join([chunk async for chunk in stream.chunks])


async def test_a_file_is_fetched_and_an_unknown_one_refused(fake_telegram: FakeTelegram) -> None:
    file_id = fake_telegram.add_file(b"\xff\xd8 picture", "photos/file_9.jpg")
    async with aiohttp.ClientSession() as http:
        media = TelegramMedia(TelegramApi(http, TelegramConfig(**fake_telegram.section())), 5.0)
        assert media.owns(MEDIA_PREFIX + file_id)
        assert not media.owns("https://api.twilio.com/x")
        assert await read(media, MEDIA_PREFIX + file_id) == b"\xff\xd8 picture"
        with pytest.raises(MediaRefused):
            await read(media, MEDIA_PREFIX + "nope")
        assert await media.release(MEDIA_PREFIX + file_id) is True  # nothing to delete at Telegram


async def test_a_file_over_what_a_bot_may_download_is_refused_as_too_big(fake_telegram: FakeTelegram) -> None:
    """getFile answers "file is too big" for a file over 20 MB (a scanned PDF): the reply said
    "Photo 1 was not saved: Telegram could not give it to us", which reads as a hitch, and the
    person sent it again. It says why, as of an MMS item over its 5 MB."""
    big = fake_telegram.add_big_file()
    async with aiohttp.ClientSession() as http:
        media = TelegramMedia(TelegramApi(http, TelegramConfig(**fake_telegram.section())), 5.0)
        with pytest.raises(MediaRefused) as refused:
            await read(media, MEDIA_PREFIX + big)
    assert refused.value.reason == "it is over 20 MB"
    reply = photos_reply([], [(1, refused.value.reason)], fits=lambda text: True)
    assert reply == "Photo 1 was not saved: it is over 20 MB."


async def test_no_file_host_is_an_outage(refused_port: int) -> None:
    config = TelegramConfig(bot_token="1:t", webhook_secret="s", api_base=f"http://127.0.0.1:{refused_port}")
    async with aiohttp.ClientSession() as http:
        media = TelegramMedia(TelegramApi(http, config), 5.0)
        with pytest.raises(MediaUnavailable):
            await read(media, MEDIA_PREFIX + "x")
