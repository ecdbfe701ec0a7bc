"""The typed dependencies every handler and job gets (`ctx.deps`, a job's argument): one frozen
object for the app's life, built once every feature has started.

`Services` holds what the features provide, one typed field each (None while a feature is off or
not started); nothing is looked up by a string.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp

from bot.core.channel import FitsOne, MediaLimits, MediaSource, Transport, fits_160
from bot.core.config import Config
from bot.core.logs import get_logger
from bot.core.metrics import Metrics

if TYPE_CHECKING:
    from bot.features.ocr.reader import OcrReader
    from bot.features.receipts.media import DecodePool, MediaPipeline
    from bot.features.x.accounts import XAccounts
    from bot.gateway.links import LinkSigner
    from storage.crypto import TokenCipher
    from storage.db import Database
    from storage.media import MediaStore


@dataclass(frozen=True)
class Services:
    transport: Transport | None = None  # how replies leave (Twilio, or the log in development)
    media_source: MediaSource | None = None  # the channel's media: fetched, then released
    # each kind of address's length rule (SMS: one GSM-7 segment; WhatsApp, Telegram: characters)
    length_rules: Mapping[str, FitsOne] = field(default_factory=dict)
    media_limits: Mapping[str, MediaLimits] = field(default_factory=dict)  # the biggest item, by channel
    cipher: TokenCipher | None = None  # tokens at rest (bot/features/x/link.py)
    x: XAccounts | None = None  # posting to X; None when x.client_id is empty
    link_signer: LinkSigner | None = None  # gallery and local media links (bot/features/receipts/gallery.py)
    media_store: MediaStore | None = None  # receipts' photos (bot/features/receipts/media.py)
    media_pipeline: MediaPipeline | None = None  # fetch, check and clean receipts' photos
    decode_pool: DecodePool | None = None  # image work off the loop, bounded (cleaning, thumbnails)
    ocr: OcrReader | None = None  # receipt totals (bot/ocr); None when media.ocr is off

    def fits(self, channel: str) -> FitsOne:
        """The length rule of replies to an address of `channel`: whether one goes out as one
        message (160 characters when no open channel states its own)."""
        return self.length_rules.get(channel, fits_160)

    def media_limits_of(self, channel: str) -> MediaLimits:
        """The biggest media items an address of `channel` carries (MMS's 5 MB when it states
        nothing)."""
        return self.media_limits.get(channel) or MediaLimits()


@dataclass(frozen=True)
class Deps:
    config: Config
    db: Database
    http: aiohttp.ClientSession
    wake_sender: Callable[[], None] = lambda: None
    clock: Callable[[], float] = time.time
    services: Services = field(default_factory=Services)
    metrics: Metrics = field(default_factory=Metrics)  # the app's counters (/metrics)

    def now(self) -> float:
        return self.clock()


__all__ = ["Deps", "Services"]


_media_log = get_logger("bot.features.receipts.media")  # the lines' logger, as before they moved here


async def release_refused(deps: Deps, refused: Sequence[tuple[int, str]]) -> None:
    """Delete the channel's copies of the items of a message that were not kept (`(item number,
    reference)`: a video, a damaged file, one too big; photos `\\STOP` dropped; a message given up
    after its outage window), as a stored item's copy is deleted: a person's media stays at Twilio
    no longer than what was saved. Once, side by side (a channel that does not answer holds the
    caller one timeout, not one an item): a failure is logged and nothing records the item to try
    it again."""
    source = deps.services.media_source
    if source is None:
        return
    ours = [(number, ref) for number, ref in refused if source.owns(ref)]  # else nothing there of ours
    done = await asyncio.gather(*(source.release(ref) for _, ref in ours))
    for (number, _), ok in zip(ours, done, strict=True):
        if ok:
            _media_log.info("media.refused_deleted", item=number)
        else:
            _media_log.warning("media.refused_delete_failed", item=number)
