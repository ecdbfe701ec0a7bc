"""Receipt media: fetched through the channel's media source in the worker (never in the
webhook), judged by its bytes, cleaned, then stored; the channel's copy released once stored.

The body is streamed with a cap: `media.max_bytes` for photos, the channel's own limit for PDFs
where it carries bigger documents (WhatsApp 16 MB; `MediaLimits`); a bigger declared length is
refused before reading, and the type is judged by the first bytes, not by the claimed content type. Where an
item may come from, and how, is the channel's (bot/channels/twilio/media.py for MMS).

Cleaning: images are decoded in a thread, at most `media.decode_concurrency` at once (`DecodePool`,
one per app: the gallery's thumbnails share it), with the
pixel count checked against `media.max_pixels` before anything is decoded; orientation is applied,
transparency is laid on white, then the image is re-encoded without EXIF, GPS, XMP or comments.
HEIC/HEIF is stored as JPEG (SPEC, Clarifications). PDF is stored as it came.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import pillow_heif
from PIL import Image, ImageOps

from bot.core.channel import BAD_TYPE, MediaLimits, MediaSource, MediaStream, MediaUnavailable
from bot.core.channel import MediaRefused as Refused
from bot.core.config import MediaConfig
from bot.core.deps import Deps, Services
from bot.core.logs import get_logger
from bot.gateway.links import media_link, signer_of
from storage import receipts
from storage.media import MediaStore, open_store

if TYPE_CHECKING:
    from bot.core.feature import Starting

log = get_logger(__name__)

pillow_heif.register_heif_opener(thumbnails=False)
# a decompression bomb is an error here, never a warning on stderr (our explicit check refuses
# anything over media.max_pixels before Pillow's own limit applies)
warnings.simplefilter("error", Image.DecompressionBombWarning)


# what the reply says about an item that was not saved (the channel has reasons of its own)
TOO_MANY_PIXELS = "the image has too many pixels"
BROKEN = "the file is damaged and could not be read"


def too_big(max_bytes: int) -> str:
    mb = max_bytes / (1024 * 1024)
    return f"it is over {mb:.0f} MB" if mb >= 1 else f"it is over {max_bytes} bytes"


@dataclass(frozen=True)
class Prepared:
    data: bytes
    content_type: str
    ext: str
    kind: str
    sha256: str  # of `data`, hashed once by `reencode` in its thread, never on the event loop
    phash: str | None = None  # the picture's difference hash (`dhash`); None for a PDF


# -- judging by the bytes --------------------------------------------------------------------------

HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)


def sniff(head: bytes) -> str | None:
    """The kind of file by its first bytes: jpeg, png, gif, webp, heif, pdf, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heif"
    if head.startswith(b"%PDF-"):
        return "pdf"
    return None


SNIFF_BYTES = 16

# kind -> (Pillow's format name to open with, format to save as, content type, extension)
_IMAGE_KINDS: dict[str, tuple[str, str, str, str]] = {
    "jpeg": ("JPEG", "JPEG", "image/jpeg", "jpg"),
    "heif": ("HEIF", "JPEG", "image/jpeg", "jpg"),
    "png": ("PNG", "PNG", "image/png", "png"),
    "gif": ("GIF", "GIF", "image/gif", "gif"),
    "webp": ("WEBP", "WEBP", "image/webp", "webp"),
}


# what a stored object's extension says it is (the gallery serves local files with it)
CONTENT_TYPES: dict[str, str] = {ext: ctype for _, _, ctype, ext in _IMAGE_KINDS.values()} | {
    "pdf": "application/pdf"
}


# greyscale of more than 8 bits a pixel: a 16-bit PNG, as scanner apps save one
_WIDE_GREY = ("I", "I;16", "I;16B", "I;16L", "I;16N")


def eight_bit(image: Image.Image) -> Image.Image:
    """A greyscale picture of 16 bits a pixel in 8. Pillow's conversion to "L" or "RGB" clips
    its values (0-65535) at 255: a scanned receipt was white paper to OCR ("doesn't look like a
    receipt"), every such picture hashed alike (the second "repeats" the first), and its gallery
    thumbnail was blank. Blocking: part of `reencode` and of a thumbnail."""
    if image.mode not in _WIDE_GREY:
        return image
    return image.convert("I").point(lambda value: value / 256).convert("L")


def on_white(image: Image.Image) -> Image.Image:
    """A picture with transparency laid on white, as paper is. Transparent pixels are black
    underneath in most files: the receipt's dark text on them is what OCR and the difference hash
    would see (no text, every such picture alike), and what an image viewer shows on its dark
    background. Blocking: part of `reencode`."""
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in image.info:
        return image
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    paper = Image.new("RGB", rgba.size, (255, 255, 255))
    paper.paste(rgba, mask=rgba)  # its alpha is the mask: one RGB copy, the size of the picture
    return paper


def reencode(data: bytes, kind: str, max_pixels: int) -> Prepared:
    """Decode (pixel count checked first), apply orientation, re-encode without metadata.
    Blocking: run it in a thread."""
    if kind == "pdf":
        return Prepared(
            data=data,
            content_type="application/pdf",
            ext="pdf",
            kind=kind,
            sha256=hashlib.sha256(data).hexdigest(),
        )
    open_as, save_as, content_type, ext = _IMAGE_KINDS[kind]
    if max_pixels > (Image.MAX_IMAGE_PIXELS or max_pixels):
        # Pillow's own guard (89.5 M pixels) refused what an operator's higher media.max_pixels
        # lets in (a 200-megapixel phone's photo): raised to it, never lowered (the check below
        # is ours, and exact)
        Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(io.BytesIO(data), formats=[open_as]) as im:
            width, height = im.size
            if width <= 0 or height <= 0:
                raise Refused(BROKEN, "empty image")
            if width * height > max_pixels:
                raise Refused(TOO_MANY_PIXELS, f"{width}x{height}")
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # animations keep their first frame
            im.load()
            icc = im.info.get("icc_profile")
            clean = on_white(eight_bit(ImageOps.exif_transpose(im)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused(TOO_MANY_PIXELS, "pillow limit") from None
    except Refused:
        raise
    except Exception as exc:  # a damaged file, whatever its decoder raises
        # OSError (UnidentifiedImageError), ValueError, EOFError, and what Pillow's plugins let
        # out on cut-off data: a GIF that ends after its first frame raises IndexError or
        # struct.error from `n_frames`
        raise Refused(BROKEN, type(exc).__name__) from None
    # nothing of the original's metadata goes along: EXIF (and so GPS), XMP, comments
    clean.info = {}
    options: dict[str, object] = {}
    if save_as == "JPEG":
        if clean.mode not in ("RGB", "L", "CMYK"):
            clean = clean.convert("RGB")
        options = {"quality": 90}
    elif save_as == "WEBP":
        if clean.mode not in ("RGB", "RGBA"):
            clean = clean.convert("RGBA")
        options = {"quality": 90}
    elif save_as == "PNG" and clean.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        clean = clean.convert("RGBA")
    if icc and save_as in ("JPEG", "PNG", "WEBP"):
        options["icc_profile"] = icc  # colours, not metadata about the person
    out = io.BytesIO()
    clean.save(out, format=save_as, **options)
    stored = out.getvalue()
    return Prepared(
        data=stored,
        content_type=content_type,
        ext=ext,
        kind=kind,
        sha256=hashlib.sha256(stored).hexdigest(),
        phash=dhash(clean),
    )


HASH_SIZE = 16  # 16 x 16 comparisons: 256 bits


def dhash(image: Image.Image) -> str:
    """The picture's difference hash: grey, shrunk to 17 x 16, each pixel compared with its right
    neighbour; 256 bits as 64 hex digits. The same picture re-encoded, resized or recompressed
    lands within a few bits; a different photo, even of a like receipt, far off (`same_picture`).
    (imagehash computes the same, but would bring scipy and PyWavelets along for it.)"""
    small = image.convert("L").resize((HASH_SIZE + 1, HASH_SIZE), Image.Resampling.LANCZOS)
    px = small.tobytes()
    bits = 0
    for row in range(HASH_SIZE):
        at = row * (HASH_SIZE + 1)
        for col in range(HASH_SIZE):
            bits = bits << 1 | (px[at + col] > px[at + col + 1])
    return f"{bits:0{HASH_SIZE * HASH_SIZE // 4}x}"


SAME_PICTURE_BITS = 12  # of 256: what re-encoding and resizing move; a new photo moves dozens


def same_picture(a: str, b: str) -> bool:
    """Whether two difference hashes are of the same picture."""
    return len(a) == len(b) and (int(a, 16) ^ int(b, 16)).bit_count() <= SAME_PICTURE_BITS


def find_twin(prepared: Prepared, earlier: list[receipts.Earlier]) -> tuple[receipts.Earlier, bool] | None:
    """The first earlier receipt of the room this one repeats, and whether its bytes are the same
    (else: the same picture, re-encoded or resized)."""
    sha = prepared.sha256
    for twin in earlier:
        if twin.sha256 == sha:
            return twin, True
    if prepared.phash is not None:
        for twin in earlier:
            if twin.phash is not None and same_picture(twin.phash, prepared.phash):
                return twin, False
    return None


# -- fetching --------------------------------------------------------------------------------------

T = TypeVar("T")


class DecodePool:
    """Where image work runs: in a thread, never on the event loop, at most
    `media.decode_concurrency` at once. One per app: cleaning a receipt's photo (the worker) and
    making a gallery thumbnail (the web server) wait for the same slots, so neither can add decoded
    pictures in memory beyond the bound."""

    def __init__(self, slots: int) -> None:
        self._slots = asyncio.Semaphore(max(1, slots))
        # stored photos read for a thumbnail and held until decoded: twice the decode slots, so
        # the next ones are read while these decode, and a burst of thumbnail requests (a gallery
        # of 200 over HTTP/2) holds a few photos in memory, not 200 of up to 5 MB
        self.reading = asyncio.Semaphore(2 * max(1, slots))

    async def run(self, work: Callable[..., T], *args: object) -> T:
        async with self._slots:
            return await asyncio.to_thread(work, *args)


class MediaPipeline:
    """Fetch, judge and clean one item. One per app (the decode pool bounds memory)."""

    def __init__(self, source: MediaSource, media: MediaConfig, pool: DecodePool | None = None) -> None:
        self.source = source
        self.media = media
        self.pool = pool or DecodePool(media.decode_concurrency)

    async def fetch(self, ref: str, limits: MediaLimits | None = None) -> tuple[bytes, str]:
        """The item's bytes and their kind; `Refused` or `MediaUnavailable` otherwise. `limits`:
        its channel's (MMS's 5 MB when not given), under `media.max_bytes` for photos."""
        limits = limits or MediaLimits()
        image_cap, document_cap = limits.caps(self.media.max_bytes)
        async with self.source.open(ref) as stream:
            return await self._read(stream, image_cap, document_cap, limits.too_big_hint)

    async def _read(
        self, stream: MediaStream, image_cap: int, document_cap: int, hint: str = ""
    ) -> tuple[bytes, str]:
        limit = max(image_cap, document_cap)  # until the first bytes say which it is
        if stream.length is not None and stream.length > limit:
            raise Refused(too_big(limit), f"content-length {stream.length}")
        buf = bytearray()
        kind: str | None = None

        def over() -> Refused:
            # a picture is told how the channel takes it whole, if it has a way (`hint`)
            said = too_big(limit) + (hint if kind is not None and kind != "pdf" else "")
            return Refused(said, "stream over the limit")

        async for chunk in stream.chunks:
            buf.extend(chunk)
            if len(buf) > limit:
                raise over()
            if kind is None and len(buf) >= SNIFF_BYTES:
                kind = sniff(bytes(buf[:SNIFF_BYTES]))
                if kind is None:
                    raise Refused(BAD_TYPE, "unknown magic bytes")
                limit = document_cap if kind == "pdf" else image_cap
                if len(buf) > limit:
                    raise over()
        if kind is None:
            kind = sniff(bytes(buf))
            if kind is None:
                raise Refused(BAD_TYPE, "unknown magic bytes")
        return bytes(buf), kind

    async def prepare(self, url: str, limits: MediaLimits | None = None) -> Prepared:
        data, kind = await self.fetch(url, limits)
        if kind == "pdf":  # nothing to decode: only hashed (16 MB from WhatsApp: tens of ms)
            return await asyncio.to_thread(reencode, data, kind, self.media.max_pixels)
        return await self.pool.run(reencode, data, kind, self.media.max_pixels)


# -- releasing the channel's copy ------------------------------------------------------------------


async def release_copy(deps: Deps, ref: str) -> bool:
    """Delete the channel's copy of a stored item (SMS: at Twilio); True when it is gone."""
    source = deps.services.media_source
    return source is not None and await source.release(ref)


MAX_DELETE_ATTEMPTS = 50


async def delete_twilio_copies(
    deps: Deps, *, message_sid: str | None = None, before: float | None = None
) -> int:
    """Delete the Twilio copies of stored receipts (of one message, or older ones for the
    scheduler). A failure is logged and left for the next try; never fatal. Returns deletions."""
    async with deps.db.read() as conn:
        pending = await receipts.pending_twilio_deletes(conn, message_sid=message_sid, before=before)
    deleted = 0
    for item in pending:
        ok = await release_copy(deps, item.url)
        async with deps.db.tx() as conn:
            if ok:
                await receipts.mark_twilio_deleted(conn, item.id, deps.now())
            elif item.attempts + 1 >= MAX_DELETE_ATTEMPTS:
                await receipts.give_up_twilio_delete(conn, item.id)
            else:
                await receipts.mark_twilio_delete_failed(conn, item.id)
        if ok:
            deleted += 1
            log.info("media.deleted_at_twilio", receipt_id=item.id)
        elif item.attempts + 1 >= MAX_DELETE_ATTEMPTS:
            log.error("media.delete_gave_up", receipt_id=item.id, attempts=item.attempts + 1)
        else:
            log.warning("media.delete_failed", receipt_id=item.id, attempts=item.attempts + 1)
    return deleted


# -- the feature -----------------------------------------------------------------------------------


def pipeline_of(deps: Deps) -> MediaPipeline | None:
    return deps.services.media_pipeline


def store_of(deps: Deps) -> MediaStore | None:
    return deps.services.media_store


def pool_of(deps: Deps) -> DecodePool | None:
    return deps.services.decode_pool


@contextlib.asynccontextmanager
async def lifespan(starting: Starting) -> AsyncIterator[Services]:
    """The media store (one S3 client for the app's life), the pipeline, `/readyz`'s check and the
    scheduler's clean-up jobs. Entered by the gallery feature's lifespan, after the link signer."""
    from bot.features.receipts import cleanup as media_jobs

    deps = starting.deps
    signer = signer_of(deps)

    def local_signer(key: str, expires: int) -> str:
        assert signer is not None, "the gallery feature starts first"
        return media_link(deps, signer, key, expires)

    async with contextlib.AsyncExitStack() as stack:
        store = await open_store(deps.config.media, deps.config.s3, stack, local_signer)
        source = deps.services.media_source
        pool = DecodePool(deps.config.media.decode_concurrency)
        pipeline = MediaPipeline(source, deps.config.media, pool) if source is not None else None
        starting.ready_checks["media"] = store.ping
        media_jobs.register(starting.scheduler)
        log.info("media.ready", backend=store.name)
        yield dataclasses.replace(deps.services, media_store=store, media_pipeline=pipeline, decode_pool=pool)


__all__ = [
    "DecodePool",
    "MediaPipeline",
    "MediaUnavailable",
    "Prepared",
    "Refused",
    "delete_twilio_copies",
    "dhash",
    "eight_bit",
    "find_twin",
    "lifespan",
    "pipeline_of",
    "pool_of",
    "reencode",
    "release_copy",
    "same_picture",
    "sniff",
    "store_of",
]
