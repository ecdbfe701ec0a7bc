"""Gallery thumbnails: a small JPEG of a receipt's stored photo, made when a gallery page asks for
it (`GET /thumbs/{key}?exp=...&sig=...`, bot/features/receipts/gallery.py) and never stored, so
deleting a photo leaves no thumbnail behind.

A JPEG is decoded with `Image.draft`: libjpeg scales it down by 1/2, 1/4 or 1/8 while decoding
(DCT scaling), to the smallest size still at least as big as the thumbnail, which is several times
faster and smaller in memory than decoding every pixel; `thumbnail()` then resamples to the
longest side `THUMB_SIDE`. Orientation (EXIF) is applied, transparency laid on white, and the
result saved as JPEG without metadata. The pixel count and byte size are checked before anything
is decoded, as for a photo coming in; the work runs in the app's `DecodePool`.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from bot.features.receipts.media import eight_bit, on_white

# longest side in pixels: the gallery shows a photo 6rem (96 CSS pixels) wide; a tall receipt's
# width at 480 high stays sharp on a phone's 2x-3x screen
THUMB_SIDE = 480
THUMB_QUALITY = 80
CONTENT_TYPE = "image/jpeg"
# A stored photo is its upload re-encoded (JPEG and WebP at quality 90, a HEIC as JPEG): often
# bigger than the upload `media.max_bytes` capped: a 12-megapixel HEIC of 1.5 MB is stored as a
# 3 MB JPEG, and a photo sent at quality 30-50 as about twice its size. Its thumbnail is made all
# the same: what bounds the work is its pixel count (`media.max_pixels`), checked before decoding.
STORED_GROWTH = 4


def stored_cap(max_bytes: int) -> int:
    """The most bytes a stored photo's thumbnail is made from, for uploads of `max_bytes` at most."""
    return max_bytes * STORED_GROWTH


# what Pillow may open a stored photo as (stored photos are jpg, png, gif or webp; HEIC is stored
# as JPEG)
_FORMATS = ["JPEG", "PNG", "GIF", "WEBP"]


class Unthumbable(Exception):
    """No thumbnail can be made of these bytes (damaged, too big, too many pixels): serve the
    original instead. The message is a few words for the log."""


def target_size(width: int, height: int, side: int = THUMB_SIDE) -> tuple[int, int]:
    """The thumbnail's size: the picture's aspect, its longest side `side` (never enlarged)."""
    longest = max(width, height)
    if longest <= side:
        return width, height
    return max(1, round(width * side / longest)), max(1, round(height * side / longest))


def make_thumbnail(data: bytes, max_bytes: int, max_pixels: int, *, draft: bool = True) -> bytes:
    """A JPEG of `data` (a stored photo) no bigger than THUMB_SIDE on its longest side, or
    `Unthumbable`. `draft=False` decodes every pixel first (only to measure what draft saves).
    Blocking: run it in the decode pool."""
    if len(data) > max_bytes:
        raise Unthumbable(f"{len(data)} bytes")
    if max_pixels > (Image.MAX_IMAGE_PIXELS or max_pixels):
        Image.MAX_IMAGE_PIXELS = max_pixels  # as `reencode` does: our check below is the exact one
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as im:
            width, height = im.size
            if width <= 0 or height <= 0:
                raise Unthumbable("empty image")
            if width * height > max_pixels:
                raise Unthumbable(f"{width}x{height}")
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # an animation shows its first frame
            if draft:
                im.draft("RGB", target_size(width, height))  # JPEG only; the others ignore it
            else:
                im.load()
            im.thumbnail((THUMB_SIDE, THUMB_SIDE))
            small = on_white(eight_bit(ImageOps.exif_transpose(im)))
            if small.mode != "RGB":
                small = small.convert("RGB")
            out = io.BytesIO()
            # saved without the original's info: no EXIF, no comment passed on
            small.save(out, format="JPEG", quality=THUMB_QUALITY)
    except Unthumbable:
        raise
    except Exception as exc:  # a damaged file, whatever its decoder raises (as `reencode` says)
        raise Unthumbable(type(exc).__name__) from None
    return out.getvalue()


__all__ = [
    "CONTENT_TYPE",
    "STORED_GROWTH",
    "THUMB_QUALITY",
    "THUMB_SIDE",
    "Unthumbable",
    "make_thumbnail",
    "stored_cap",
    "target_size",
]
