"""Real test images made with Pillow (and pillow-heif), some with metadata to be stripped."""

from __future__ import annotations

import io
import itertools
import random
import struct
import zlib

import pillow_heif
from PIL import Image, ImageDraw, PngImagePlugin

pillow_heif.register_heif_opener()

GPS = {1: "N", 2: (37.0, 46.0, 30.0), 3: "W", 4: (122.0, 25.0, 10.0)}


_PICTURES = itertools.count(1)


def _picture(
    width: int, height: int, colour: tuple[int, int, int] = (200, 40, 40), *, variant: int | None = None
) -> Image.Image:
    """A picture of its own on every call (a room counts the same picture once: `variant` picks
    one again): a top-left marker for orientation checks, and a pattern of cells in the lower
    half drawn from `variant`'s bits."""
    im = Image.new("RGB", (width, height), (250, 250, 245))
    draw = ImageDraw.Draw(im)
    draw.rectangle((4, 4, width // 2, height // 3), fill=colour)  # top-left marker: orientation checks
    draw.line((0, height - 1, width - 1, 0), fill=(0, 0, 0), width=3)
    bits = random.Random(next(_PICTURES) if variant is None else variant).getrandbits(64)
    left, top = 0, height // 2
    cw, ch = max(1, (width - left) // 16), max(1, (height - top) // 4)
    for n in range(64):
        if bits >> n & 1:
            x, y = left + (n % 16) * cw, top + (n // 16) * ch
            draw.rectangle((x, y, x + cw - 1, y + ch - 1), fill=(30, 30, 30))
    return im


def _exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 15"
    exif.get_ifd(0x8825).update(GPS)
    return exif


def jpeg_with_gps(
    width: int = 64, height: int = 48, orientation: int = 6, *, variant: int | None = None
) -> bytes:
    """A JPEG with EXIF (camera, GPS) and an orientation that turns it on its side; a picture of
    its own unless `variant` names one."""
    out = io.BytesIO()
    _picture(width, height, variant=variant).save(out, format="JPEG", quality=90, exif=_exif(orientation))
    return out.getvalue()


def png_with_text(width: int = 40, height: int = 30) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at 12 Main Street")
    out = io.BytesIO()
    _picture(width, height, (20, 160, 60)).save(out, format="PNG", pnginfo=info, exif=_exif())
    return out.getvalue()


def grey_png_16(shapes: list[tuple[int, int, int, int]], width: int = 120, height: int = 160) -> bytes:
    """A receipt as a scanner app saves it in greyscale: a 16-bit PNG (values 0-65535), paper
    with a box of ink for each of `shapes`. The ink is dark grey, as printed ink photographs (a
    black of 0 reads the same in 8 bits and 16)."""
    image = Image.new("I", (width, height), 62000)
    draw = ImageDraw.Draw(image)
    for box in shapes:
        draw.rectangle(box, fill=5000)
    out = io.BytesIO()
    image.convert("I;16").save(out, format="PNG")
    return out.getvalue()


def heic_with_gps(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    _picture(width, height, (30, 30, 200)).save(out, format="HEIF", quality=80, exif=_exif())
    return out.getvalue()


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + b"\x00" * width
    idat = zlib.compress(row * 16, 9)  # a few rows; the header alone must be refused
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def big_jpeg_like(size: int) -> bytes:
    """JPEG magic followed by filler: too big, whatever it is."""
    return b"\xff\xd8\xff\xe0" + b"\x00" * (size - 4)


HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>" * 4
