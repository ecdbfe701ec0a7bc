"""The OCR feature: one `OcrReader` for the app's life (`media.ocr`, `media.ocr_concurrency`)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

from bot.app import Feature, Starting
from bot.deps import Services
from bot.logs import get_logger
from bot.ocr.reader import OcrReader

log = get_logger(__name__)


@contextlib.asynccontextmanager
async def lifespan(starting: Starting) -> AsyncIterator[Services]:
    media = starting.deps.config.media
    if not media.ocr:
        yield starting.deps.services
        return
    reader = OcrReader(media.ocr_concurrency)
    log.info("ocr.ready", concurrency=media.ocr_concurrency)
    try:
        yield dataclasses.replace(starting.deps.services, ocr=reader)
    finally:
        reader.close()


FEATURE = Feature(name="ocr", lifespan=lifespan)

__all__ = ["FEATURE", "lifespan"]
