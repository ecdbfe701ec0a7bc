"""bench/thumbs: the gallery's thumbnails, what they cost and what they save.

CPU: each photo is made what the store keeps (`reencode`, as an MMS is cleaned), then its
thumbnail is made `--reps` times with `Image.draft` (JPEG's scaled decoding) and without it
(every pixel decoded, then `thumbnail()`); the median CPU time (process time, one thread) of
each. Photos: `--photos` of bench/media.py's noise JPEGs of about `--photo-kb` KB, and
`--phone` smoother 4032x3024 pictures, a phone camera's size (noise that big is over 5 MB).

Bytes: what a gallery of those receipts makes a browser download, the sum of its images: the
stored photos (the gallery's <img> before) against their thumbnails (after).

`--gallery URL` instead reads a real gallery page (a running `textwire serve`) and sums what its
<img> links answer (thumbnails) and what the links around them answer (the full photos the page
used to load).

    .venv/bin/python bench/thumbs.py [--photos 40] [--photo-kb 1000] [--phone 3] [--reps 5]
    .venv/bin/python bench/thumbs.py --gallery 'http://127.0.0.1:8080/rooms/...?exp=...&sig=...'
"""

from __future__ import annotations

import argparse
import html
import io
import json
import platform
import re
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from bench.common import save_results  # noqa: E402
from bench.media import photo  # noqa: E402
from bot.features.receipts.media import reencode  # noqa: E402
from bot.features.receipts.thumbs import make_thumbnail  # noqa: E402

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000


def phone_photo(seed: int) -> bytes:
    """A 4032x3024 JPEG (12 MP, a phone camera's) of a page with lines of text on a blurred,
    lightly noisy background: a few MB, as a phone's photo of a receipt is."""
    width, height = 4032, 3024
    base = Image.effect_noise((width // 2, height // 2), 40).resize((width, height)).convert("RGB")
    base = base.filter(ImageFilter.GaussianBlur(1))
    draw = ImageDraw.Draw(base)
    draw.rectangle((900, 200, 3100, 2900), fill=(245, 244, 238))
    for line in range(40):
        y = 300 + line * 62
        draw.rectangle((1000, y, 1000 + 600 + (line * 97 + seed * 31) % 1400, y + 30), fill=(40, 40, 40))
    out = io.BytesIO()
    base.save(out, format="JPEG", quality=90)
    return out.getvalue()


def cpu_ms(data: bytes, draft: bool, reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.process_time()
        make_thumbnail(data, MAX_BYTES, MAX_PIXELS, draft=draft)
        times.append((time.process_time() - started) * 1000)
    return statistics.median(times)


def measure(kind: str, stored: list[bytes], reps: int) -> dict[str, object]:
    size = Image.open(io.BytesIO(stored[0])).size
    draft = [cpu_ms(d, True, reps) for d in stored]
    full = [cpu_ms(d, False, reps) for d in stored]
    thumbs = [make_thumbnail(d, MAX_BYTES, MAX_PIXELS) for d in stored]
    return {
        "kind": kind,
        "photos": len(stored),
        "size": f"{size[0]}x{size[1]}",
        "stored_bytes_median": int(statistics.median(len(d) for d in stored)),
        "thumb_bytes_median": int(statistics.median(len(t) for t in thumbs)),
        "page_bytes_before": sum(len(d) for d in stored),
        "page_bytes_after": sum(len(t) for t in thumbs),
        "cpu_ms_draft": round(statistics.median(draft), 1),
        "cpu_ms_no_draft": round(statistics.median(full), 1),
    }


def report(row: dict[str, object]) -> None:
    print(
        f"{row['kind']}: {row['photos']} photos of {row['size']}, stored {row['stored_bytes_median']} B"
        f" (median), thumbnail {row['thumb_bytes_median']} B; page images"
        f" {row['page_bytes_before']} B before, {row['page_bytes_after']} B after;"
        f" CPU per thumbnail {row['cpu_ms_draft']} ms with draft, {row['cpu_ms_no_draft']} ms without"
    )


def fetch_size(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - the operator's own server
        return len(resp.read()), resp.headers.get("Content-Type", "")


def gallery(url: str) -> dict[str, object]:
    """A real gallery page's images: the thumbnails it loads, and the photos it used to load."""
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310
        page = resp.read().decode("utf-8")
    pairs = re.findall(r'<a href="([^"]+)" rel="noreferrer"><img src="([^"]+)"', page)
    photos = [fetch_size(html.unescape(href)) for href, _ in pairs]
    thumbs = [fetch_size(html.unescape(src)) for _, src in pairs]
    row: dict[str, object] = {
        "images": len(pairs),
        "page_bytes_before": sum(n for n, _ in photos),
        "page_bytes_after": sum(n for n, _ in thumbs),
        "thumb_types": sorted({t for _, t in thumbs}),
    }
    print(
        f"gallery: {row['images']} images; full photos {row['page_bytes_before']} B (before),"
        f" thumbnails {row['page_bytes_after']} B (after); thumbnail types {row['thumb_types']}"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--photo-kb", type=int, default=1000)
    parser.add_argument("--phone", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--gallery", default="")
    args = parser.parse_args()
    results: dict[str, object] = {"machine": platform.processor() or platform.machine(), "date": time.ctime()}
    if args.gallery:
        results["gallery"] = gallery(args.gallery)
    else:
        rows = []
        noise = [
            reencode(photo(args.photo_kb * 1000, n), "jpeg", MAX_PIXELS).data for n in range(args.photos)
        ]
        rows.append(measure("bench/media noise", noise, args.reps))
        if args.phone:
            phone = [reencode(phone_photo(n), "jpeg", MAX_PIXELS).data for n in range(args.phone)]
            rows.append(measure("12 MP phone-size", phone, args.reps))
        for row in rows:
            report(row)
        results["rows"] = rows
    print(json.dumps(results))
    print(f"saved {save_results('thumbs', results)}")


if __name__ == "__main__":
    main()
