"""The OCR feature: one `OcrReader` for the app's life (`media.ocr`, `media.ocr_concurrency`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from bot.app import Feature
from bot.logs import get_logger
from bot.ocr.reader import SERVICE, OcrReader
from bot.runtime import Runtime

log = get_logger(__name__)


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime) -> AsyncIterator[None]:
    media = runtime.deps.config.media
    if not media.ocr:
        yield
        return
    reader = OcrReader(media.ocr_concurrency)
    runtime.deps.services[SERVICE] = reader
    log.info("ocr.ready", concurrency=media.ocr_concurrency)
    try:
        yield
    finally:
        runtime.deps.services.pop(SERVICE, None)
        reader.close()


FEATURE = Feature(name="ocr", lifespan=lifespan)

__all__ = ["FEATURE", "lifespan"]
