"""bot/features/ocr/reader.py: what the OCR engine is handed (a recording engine here; the real
one reads receipts in tests/features/ledger/test_intake.py)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from bot.features.ocr.reader import OcrReader, gibberish
from bot.features.ocr.total import Box

# what rapidocr's detector works on at most: a 1600 px square, or a picture 12 times as tall as
# wide with its width enlarged to 736 px
DETECTOR_LIMIT = max(1600 * 1600, 736 * 736 * 12)


def detector_pixels(height: int, width: int) -> int:
    """The pixels rapidocr's detector works on for a picture of this size: the shorter side is
    enlarged to 736 (after a side under 30 px is enlarged to 30); a picture more than 8 times as
    wide as tall is padded to a quarter of its width first."""
    if min(height, width) < 30:
        ratio = 30 / min(height, width)
        height, width = round(height * ratio), round(width * ratio)
    if width > 8 * height:
        height = max(width // 8, 30) * 2
    short = min(height, width)
    return height * width * max(1, (736 / short) ** 2) if short < 736 else height * width


class Recording:
    """An engine that reads nothing and keeps the shape of each picture it was handed."""

    def __init__(self) -> None:
        self.shapes: list[tuple[int, int]] = []

    def __call__(self, image: Any) -> tuple[Any, Any]:
        self.shapes.append(image.shape[:2])
        return None, 0.0


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "size", [(1, 100_000), (100_000, 1), (40, 4000), (4000, 40), (100, 1300), (6000, 100)]
)
async def test_a_sliver_is_not_handed_to_the_engine(size: tuple[int, int]) -> None:
    """A 1x100000 picture (100,000 pixels: media.max_pixels lets it in) was shrunk to 1x1600,
    which the detector enlarged to 736 x 1,104,000: 20 GB asked for, a MemoryError after 22 s
    of a core (under a 6 GB limit), or the process killed. Over 12 times as tall as wide (50 as
    wide as tall) is not read: nothing is counted and the reply asks for \\AMOUNT, as for any
    photo OCR cannot read."""
    engine = Recording()
    reading = await OcrReader(1, engine_factory=lambda: engine).read(png(*size), "png", 2)
    assert engine.shapes == []
    assert (reading.minor, reading.status) == (None, "none")


@pytest.mark.parametrize("width", [1, 7, 30, 100, 400, 736, 1170, 3000])
@pytest.mark.parametrize("height", [1, 7, 30, 100, 400, 736, 1170, 3000, 9000])
async def test_the_detector_s_work_is_bounded(width: int, height: int) -> None:
    """A 1x3000 picture was handed over as 1x1600, which the detector enlarged to 736 x 1,177,600."""
    engine = Recording()
    await OcrReader(1, engine_factory=lambda: engine).read(png(width, height), "png", 2)
    assert all(detector_pixels(*shape) <= DETECTOR_LIMIT for shape in engine.shapes), engine.shapes


def _boxes(*texts: str) -> list[Box]:
    return [Box(points=[(0, 0), (40, 0), (40, 10), (0, 10)], text=t, score=0.9) for t in texts]


def test_gibberish_is_text_found_with_hardly_a_word() -> None:
    """What a receipt upside down reads as, and not an upright one (blurred or without a total),
    nor a picture with no text at all (read once: nothing to turn over)."""
    assert gibberish(_boxes("E", "S", "00'0", "E", "S", "0"))
    assert gibberish(_boxes("061", "dnos"))
    assert not gibberish(_boxes("FRESH MART", "6.24", "YOGURT", "12.34"))
    assert not gibberish(_boxes("Café", "Straße 5", "9,50"))
    assert not gibberish([])
