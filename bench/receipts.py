"""bench/receipts: reading receipt totals (issue 12).

Part 1, the reader alone (in this process, one engine, one ONNX thread): `--count` generated
receipts (tests/receipt_images.py: grocery, restaurant with tip, fuel, card slip; six DejaVu
fonts, 18-26 px, turned -4..4 degrees, JPEG quality 45-85, noise, blur) are read, and it reports
the share read exactly, how many were answered with a wrong total without asking (the goal is
0), how many asked, and the time per receipt.

Part 2, through the real server: `textwire serve` (local media, OCR on, pinned to one core with
taskset when there are two or more) against a local fake of Twilio; `--messages` signed MMS
webhooks of one receipt each from `--senders` members of one room, then a few `\\ROOMS` texts
from someone else while the receipts are being read. It reports receipts per second, the
server's peak resident memory (VmHWM) against its baseline, the totals stored right or wrong,
and how long the plain texts took while OCR was busy (OCR is bounded by media.ocr_concurrency;
the worker goes on with other messages).

Part 3, `--tall N` (0 unless asked): N tall phone screenshots of digital receipts
(tests/receipt_images.py `tall_screenshots`: a delivery app's receipt, an online order, a store's
e-receipt; 1170 px wide, 2532 to 6000 tall, 34-44 px text), read as in part 1: the share read
exactly, the wrong ones, and the time per screenshot.

    .venv/bin/python bench/receipts.py [--count 60] [--messages 24] [--senders 3] [--tall 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.common import save_results  # noqa: E402
from bench.media import count, proc_status, room_server, wait_count  # noqa: E402
from bot.features.ocr.reader import boxes_of, new_engine  # noqa: E402
from bot.features.ocr.total import total_of_boxes  # noqa: E402
from tests import receipt_images as ri  # noqa: E402


def offline(count_: int, seed: int) -> dict[str, Any]:
    receipts = ri.generate(count_, seed)
    engine = new_engine()
    exact = asked = wrong = 0
    seconds: list[float] = []
    by_layout: dict[str, list[int]] = {}
    by_condition: dict[str, list[int]] = {}
    for n, (receipt, condition, data) in enumerate(receipts):
        started = time.perf_counter()
        reading = total_of_boxes(boxes_of(engine, data) or [], receipt.exponent)
        seconds.append(time.perf_counter() - started)
        outcome = 0 if reading.minor == receipt.total else 1 if reading.minor is None else 2
        by_layout.setdefault(receipt.layout, [0, 0, 0])[outcome] += 1
        by_condition.setdefault(condition, [0, 0, 0])[outcome] += 1
        if outcome == 0:
            exact += 1
        elif outcome == 1:
            asked += 1
            print(f"asked #{n} {receipt.layout}, {condition}: {reading.reason}", flush=True)
        else:
            wrong += 1
            print(
                f"WRONG #{n} {receipt.layout}, {condition}: read {reading.minor}, is {receipt.total}",
                flush=True,
            )
    seconds.sort()

    def table(tallies: dict[str, list[int]]) -> dict[str, dict[str, int]]:
        return {k: dict(zip(("exact", "asked", "wrong"), v, strict=True)) for k, v in tallies.items()}

    return {
        "receipts": count_,
        "exact": exact,
        "exact_share": round(exact / count_, 3),
        "asked": asked,
        "wrong_without_asking": wrong,
        "seconds_median": round(statistics.median(seconds), 3),
        "seconds_p95": round(seconds[int(0.95 * (len(seconds) - 1))], 3),
        "by_layout": table(by_layout),
        "by_condition": table(by_condition),
    }


def tall(count_: int, seed: int) -> dict[str, Any]:
    engine = new_engine()
    exact = asked = wrong = 0
    seconds: list[float] = []
    for n, (screen, size, data) in enumerate(ri.tall_screenshots(count_, seed)):
        started = time.perf_counter()
        reading = total_of_boxes(boxes_of(engine, data) or [], 2)
        seconds.append(time.perf_counter() - started)
        if reading.minor == screen.total:
            exact += 1
        elif reading.minor is None:
            asked += 1
            print(f"asked tall #{n} {screen.layout} {size}: {reading.reason}", flush=True)
        else:
            wrong += 1
            print(
                f"WRONG tall #{n} {screen.layout} {size}: read {reading.minor}, is {screen.total}", flush=True
            )
    seconds.sort()
    return {
        "screenshots": count_,
        "exact": exact,
        "asked": asked,
        "wrong_without_asking": wrong,
        "seconds_median": round(statistics.median(seconds), 3),
        "seconds_p95": round(seconds[int(0.95 * (len(seconds) - 1))], 3),
        "seconds_max": round(seconds[-1], 3),
    }


async def through_server(args: argparse.Namespace) -> dict[str, Any]:
    receipts = ri.generate(args.messages, args.seed + 1)
    settings = {
        "TEXTWIRE_MEDIA_OCR": "true",
        "TEXTWIRE_MEDIA_OCR_CONCURRENCY": str(args.ocr_concurrency),
    }
    async with room_server("bench-receipts-", args.senders, args.server_core, settings) as bench:
        fake, db, poster, senders = bench.fake, bench.db, bench.poster, bench.senders
        await wait_count(db, "SELECT count(*) FROM inbox WHERE status = 'done'", len(senders), 60)
        baseline = proc_status(bench.server.pid)
        expected: dict[str, int | None] = {}
        started = time.perf_counter()
        for n, (receipt, _, data) in enumerate(receipts):
            url = fake.media.add(data, "image/jpeg")
            sid = await poster.post(senders[n % len(senders)], "", [url])
            expected[sid] = receipt.total
        # someone else's plain texts while the receipts are read
        text_started = time.perf_counter()
        texts = [await poster.post("+15559990000", "\\ROOMS") for _ in range(args.texts)]
        await wait_count(
            db,
            "SELECT count(*) FROM inbox WHERE status = 'done' AND from_phone = '+15559990000'",
            len(texts),
            600,
        )
        texts_seconds = time.perf_counter() - text_started
        await wait_count(
            db, "SELECT count(*) FROM receipts WHERE ocr_status IS NOT NULL", len(receipts), 1800
        )
        elapsed = time.perf_counter() - started
        status = proc_status(bench.server.pid)
    with sqlite3.connect(db) as conn:
        stored = dict(conn.execute("SELECT message_sid, amount_minor FROM receipts").fetchall())
    right = sum(1 for sid, total in expected.items() if stored.get(sid) == total and total is not None)
    wrong = sum(1 for sid, total in expected.items() if stored.get(sid) not in (None, total))
    failed = count(db, "SELECT count(*) FROM inbox WHERE status = 'failed'")
    return {
        "receipts": len(receipts),
        "seconds": round(elapsed, 1),
        "receipts_per_s": round(len(receipts) / elapsed, 2),
        "baseline_rss_mib": round(baseline["VmRSS"] / 1024, 1),
        "peak_rss_mib": round(status["VmHWM"] / 1024, 1),
        "totals_right": right,
        "totals_wrong": wrong,
        "texts": len(texts),
        "texts_done_seconds": round(texts_seconds, 2),
        "failed_messages": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=308)  # 22 rounds of the 14 layouts
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--messages", type=int, default=24)
    parser.add_argument("--senders", type=int, default=3)
    parser.add_argument("--texts", type=int, default=5)
    parser.add_argument("--ocr-concurrency", type=int, default=1)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--tall", type=int, default=0, help="tall phone screenshots to read (part 3)")
    parser.add_argument("--tall-seed", type=int, default=21)
    args = parser.parse_args()
    if not ri.fonts_available():
        raise SystemExit(ri.MISSING_FONTS)
    result: dict[str, Any] = {"args": vars(args)}
    if args.count:
        result["reader"] = offline(args.count, args.seed)
        print(json.dumps(result["reader"]), flush=True)
    if args.tall:
        result["tall"] = tall(args.tall, args.tall_seed)
        print(json.dumps(result["tall"]), flush=True)
    if not args.skip_server:
        result["server"] = asyncio.run(through_server(args))
        print(json.dumps(result["server"]), flush=True)
    save_results("receipts", result)


if __name__ == "__main__":
    main()
