"""Reading a stored receipt's total in the worker, never on the event loop.

Photos go through rapidocr-onnxruntime (PP-OCR detection and recognition models shipped inside
its wheel: nothing is downloaded at run time) in a thread, at most `media.ocr_concurrency` at
once (a semaphore, like image decoding in bot/features/receipts/media.py), each engine with one ONNX thread so a
receipt never takes more than its core. Engines are made on first use and kept, one per slot.
A PDF gives its text layer (pypdf), read under the same bound; a PDF without one gives no amount.
Any failure of the engine is "no total" (the reply asks for `\\AMOUNT`), never a failed message.
A photo on its side (no EXIF to turn it by) whose text stands up is read again turned a quarter
each way (`read_boxes`); an upright one is read once.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from PIL import Image

from bot.core.deps import Deps
from bot.core.logs import get_logger
from bot.core.metrics import Metrics
from bot.features.ocr.total import NOT_RECEIPT, Box, Reading, total_of_boxes, total_of_text

log = get_logger(__name__)

MAX_SIDE = 1600  # photos are scaled down to this before OCR: receipts stay legible, time stays low
# rapidocr's detector enlarges a picture's shorter side to 736 px (after one under 30 px to 30),
# so its work grows with a tall picture's height over its width: a taller one is not read (a
# 1x100000 sliver, 100,000 pixels, asked for 20 GB). A wide one it pads to a quarter of its width
# first, until the shrunk picture's shorter side is under 30 px.
MAX_TALL = 12
MAX_WIDE = 50
MAX_PDF_PAGES = 5
MAX_PDF_CHARS = 50_000


class Engine(Protocol):
    def __call__(self, image: Any) -> tuple[Any, Any]: ...


def new_engine() -> Engine:
    """rapidocr with its bundled models; one ONNX thread, no 180-degree classifier (upright
    receipts: orientation is applied when the photo is cleaned)."""
    from rapidocr_onnxruntime import RapidOCR

    engine: Engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1, use_cls=False)
    return engine


def readable_shape(width: int, height: int) -> bool:
    """Not over MAX_TALL times as tall as wide nor MAX_WIDE times as wide as tall: the detector
    then works on at most 736 x 736 x 12 pixels."""
    return height <= width * MAX_TALL and width <= height * MAX_WIDE


# a receipt photographed on its side with no orientation to turn it by (a carrier that re-encodes
# MMS drops EXIF, a picture turned by an editor): its lines stand up, and it was "not a receipt"
TURNS = (Image.Transpose.ROTATE_270, Image.Transpose.ROTATE_90)  # a quarter turn clockwise, then back
UPSIDE_DOWN = Image.Transpose.ROTATE_180


def _image_array(data: bytes, turn: Image.Transpose | None = None) -> Any:
    """The picture as OpenCV's BGR array (turned by `turn`), its longer side at most MAX_SIDE;
    None for a sliver the detector would blow up (`readable_shape`)."""
    import numpy as np

    with Image.open(io.BytesIO(data)) as im:
        width, height = im.size
        if not readable_shape(*((height, width) if turn is not None else (width, height))):
            return None
        im.seek(0)
        rgb = im.convert("RGB")
    if turn is not None:
        rgb = rgb.transpose(turn)
    if max(rgb.size) > MAX_SIDE:
        rgb.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])  # BGR, as OpenCV reads


def boxes_of(engine: Engine, data: bytes, turn: Image.Transpose | None = None) -> list[Box] | None:
    """Blocking: run it in a thread. None: a sliver, not read (`readable_shape`)."""
    image = _image_array(data, turn)
    if image is None:
        return None
    result, _elapsed = engine(image)
    return [Box(points=r[0], text=str(r[1]), score=float(r[2])) for r in result or []]


def sideways(boxes: list[Box]) -> bool:
    """Whether the text found stands up: more boxes clearly taller than wide than the other way
    round, as the lines of a receipt photographed on its side are (upright, a line is many times
    wider than tall). The detector finds few of such lines, and a digit's box is nearly square:
    those count for neither."""
    tall = wide = 0
    for box in boxes:
        xs, ys = [p[0] for p in box.points], [p[1] for p in box.points]
        width, height = max(xs) - min(xs), max(ys) - min(ys)
        tall += height > 1.5 * width
        wide += width > 1.5 * height
    return tall > wide


_WORD = re.compile(r"[^\W\d_]{3,}")  # three letters in a row, in any script


def gibberish(boxes: list[Box]) -> bool:
    """Whether text was found but hardly a word of it: a receipt upside down reads so (the
    detector finds a few of its lines, the recogniser reads them as `E`, `S`, `00'0`, `dnos`),
    where one upright, even blurred, has a word on most lines. A picture with no text is not."""
    return bool(boxes) and sum(1 for box in boxes if _WORD.search(box.text)) < 2


def read_boxes(engine: Engine, data: bytes, exponent: int, whole: bool = False) -> Reading:
    """The total of a photo. One on its side with no total read upright (`sideways`) is read
    again turned a quarter each way, and the first turn that finds its total (else one that finds
    text like a receipt's) stands; one whose text reads as hardly a word (`gibberish`), turned
    over. Blocking."""
    boxes = boxes_of(engine, data)
    if boxes is None:
        return Reading(None, "none", reason="too long and thin to read")
    reading = total_of_boxes(boxes, exponent, whole)
    if reading.minor is not None:
        return reading
    if not sideways(boxes):
        if not gibberish(boxes):
            return reading
        turned = total_of_boxes(boxes_of(engine, data, UPSIDE_DOWN) or [], exponent, whole)
        if turned.minor is not None or (reading.status == NOT_RECEIPT and turned.status != NOT_RECEIPT):
            return turned
        return reading
    for turn in TURNS:
        turned = total_of_boxes(boxes_of(engine, data, turn) or [], exponent, whole)
        if turned.minor is not None:
            return turned
        if reading.status == NOT_RECEIPT and turned.status != NOT_RECEIPT:
            reading = turned
    return reading


def pdf_text(data: bytes) -> str:
    """The text layer of the first pages ("" when there is none). Blocking."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    parts: list[str] = []
    for page in reader.pages[:MAX_PDF_PAGES]:
        parts.append(page.extract_text(extraction_mode="layout") or "")
        if sum(len(p) for p in parts) > MAX_PDF_CHARS:
            break
    return "\n".join(parts)[:MAX_PDF_CHARS]


def read_pdf(data: bytes, exponent: int, whole: bool = False) -> Reading:
    """The total of a PDF's text layer. Blocking: choosing among the rows of 50,000 characters
    takes seconds, as extracting them does."""
    text = pdf_text(data)
    return total_of_text(text, exponent, whole) if text.strip() else Reading(None, "none", reason="no text")


class OcrReader:
    """One per app. `read` returns a Reading and never raises for a bad file or engine.

    OCR runs on its own threads (`concurrency` of them), not the loop's default executor: the
    same few threads reuse their memory, where a different thread each time would grow the
    process by a malloc arena per thread."""

    def __init__(
        self,
        concurrency: int,
        engine_factory: Callable[[], Engine] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics  # textwire_ocr_total{outcome}
        self.slots = asyncio.Semaphore(max(1, concurrency))
        self._engines: list[Engine] = []
        self._factory = engine_factory
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="ocr")
        self.claimed = 0  # messages whose photos are being read or wait to be

    def claim(self, limit: int) -> bool:
        """A place for one message's photos, unless `limit` messages hold one already (then its
        worker slot should not wait too). Checked and taken in one step on the event loop.
        Every True is followed by one `release`."""
        if self.claimed >= limit:
            return False
        self.claimed += 1
        return True

    def release(self) -> None:
        self.claimed -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, data: bytes, exponent: int, whole: bool = False) -> Reading:
        engine = self._engines.pop() if self._engines else (self._factory or new_engine)()
        try:
            return read_boxes(engine, data, exponent, whole)
        finally:
            self._engines.append(engine)

    async def read(self, data: bytes, kind: str, exponent: int, whole: bool = False) -> Reading:
        """The total of a photo or a PDF in money of `exponent` decimals (the room's); `whole`:
        money whose receipts print no decimals (`bot.features.ledger.money.printed_whole`)."""
        started = time.monotonic()
        try:
            # a PDF's text layer takes a core as a photo's OCR does (pypdf is pure Python: seconds a
            # page for a page of many small strokes): the same slots and threads bound them both
            async with self.slots:
                loop = asyncio.get_running_loop()
                if kind == "pdf":
                    reading = await loop.run_in_executor(self._pool, read_pdf, data, exponent, whole)
                else:
                    reading = await loop.run_in_executor(self._pool, self._run, data, exponent, whole)
        except Exception as exc:  # a broken file or engine is "no total": the reply asks
            log.warning("ocr.failed", kind=kind, error=type(exc).__name__)
            if self.metrics is not None:
                self.metrics.ocr_by["failed"].inc()
            return Reading(None, "none", reason="ocr failed")
        if self.metrics is not None:
            self.metrics.ocr_by["read" if reading.minor is not None else "asked"].inc()
        log.info(
            "ocr.read",
            kind=kind,
            status=reading.status,
            reason=reading.reason,
            candidates=len(reading.candidates),
            seconds=round(time.monotonic() - started, 3),
        )
        return reading


def reader_of(deps: Deps) -> OcrReader | None:
    return deps.services.ocr


__all__ = [
    "Engine",
    "OcrReader",
    "boxes_of",
    "gibberish",
    "new_engine",
    "pdf_text",
    "read_boxes",
    "read_pdf",
    "readable_shape",
    "reader_of",
    "sideways",
]
