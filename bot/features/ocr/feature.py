"""The OCR feature: one `OcrReader` for the app's life (`media.ocr`, `media.ocr_concurrency`)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
from collections.abc import AsyncIterator

from bot.core.deps import Services
from bot.core.errors import StartupError
from bot.core.feature import Feature, Starting
from bot.core.logs import get_logger
from bot.features.ocr.reader import OcrReader

log = get_logger(__name__)


@contextlib.asynccontextmanager
async def lifespan(starting: Starting) -> AsyncIterator[Services]:
    media = starting.deps.config.media
    if not media.ocr:
        yield starting.deps.services
        return
    if importlib.util.find_spec("rapidocr_onnxruntime") is None:  # the slim image leaves it out
        raise StartupError(
            "media.ocr is on but the OCR engine (rapidocr-onnxruntime) is not installed: "
            "set media.ocr = false or TEXTWIRE_MEDIA_OCR=false, or use the image built with OCR"
        )
    reader = OcrReader(media.ocr_concurrency, metrics=starting.deps.metrics)
    log.info("ocr.ready", concurrency=media.ocr_concurrency)
    try:
        yield dataclasses.replace(starting.deps.services, ocr=reader)
    finally:
        reader.close()


FEATURE = Feature(name="ocr", lifespan=lifespan)

__all__ = ["FEATURE", "lifespan"]
