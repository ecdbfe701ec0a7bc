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

    .venv/bin/python bench/receipts.py [--count 60] [--messages 24] [--senders 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench.common import free_port, wait_healthy  # noqa: E402
from bench.media import Poster, count, proc_status, start_server, wait_count  # noqa: E402
from bot.ocr.reader import boxes_of, new_engine  # noqa: E402
from bot.ocr.total import total_of_boxes  # noqa: E402
from tests import receipt_images as ri  # noqa: E402
from tests.fakes.twilio_rest import FakeTwilio  # noqa: E402


def offline(count_: int, seed: int) -> dict[str, Any]:
    receipts = ri.generate(count_, seed)
    engine = new_engine()
    exact = asked = wrong = 0
    seconds: list[float] = []
    by_layout: dict[str, list[int]] = {}
    for receipt, data in receipts:
        started = time.perf_counter()
        reading = total_of_boxes(boxes_of(engine, data))
        seconds.append(time.perf_counter() - started)
        tally = by_layout.setdefault(receipt.layout, [0, 0, 0])
        if reading.minor == receipt.total:
            exact += 1
            tally[0] += 1
        elif reading.minor is None:
            asked += 1
            tally[1] += 1
        else:
            wrong += 1
            tally[2] += 1
            print(f"WRONG {receipt.layout}: read {reading.minor}, is {receipt.total}", flush=True)
    seconds.sort()
    return {
        "receipts": count_,
        "exact": exact,
        "exact_share": round(exact / count_, 3),
        "asked": asked,
        "wrong_without_asking": wrong,
        "seconds_median": round(statistics.median(seconds), 3),
        "seconds_p95": round(seconds[int(0.95 * (len(seconds) - 1))], 3),
        "by_layout": {
            k: dict(zip(("exact", "asked", "wrong"), v, strict=True)) for k, v in by_layout.items()
        },
    }


async def through_server(args: argparse.Namespace) -> dict[str, Any]:
    fake = FakeTwilio()
    api_runner = web.AppRunner(fake.app(), access_log=None)
    await api_runner.setup()
    api_port, cdn_port = free_port(), free_port()
    await web.TCPSite(api_runner, "127.0.0.1", api_port).start()
    cdn_runner = web.AppRunner(fake.media.cdn_app(), access_log=None)
    await cdn_runner.setup()
    await web.TCPSite(cdn_runner, "127.0.0.1", cdn_port).start()
    fake.api_base = fake.media.api_base = f"http://127.0.0.1:{api_port}"
    fake.media.cdn_base = f"http://127.0.0.1:{cdn_port}"

    receipts = ri.generate(args.messages, args.seed + 1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-receipts-"))
    server_port = free_port()
    public = f"http://127.0.0.1:{server_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env.update(
        TEXTWIRE_SERVER_PORT=str(server_port),
        TEXTWIRE_SERVER_PUBLIC_URL=public,
        TEXTWIRE_SERVER_DATA_DIR=str(tmp / "data"),
        TEXTWIRE_TWILIO_ACCOUNT_SID=fake.account_sid,
        TEXTWIRE_TWILIO_AUTH_TOKEN=fake.auth_token,
        TEXTWIRE_TWILIO_FROM_NUMBER="+15550000000",
        TEXTWIRE_TWILIO_API_BASE=fake.api_base,
        TEXTWIRE_TWILIO_MEDIA_HOSTS=f"127.0.0.1:{cdn_port}",
        TEXTWIRE_MEDIA_OCR="true",
        TEXTWIRE_MEDIA_OCR_CONCURRENCY=str(args.ocr_concurrency),
        TEXTWIRE_LIMITS_PER_SENDER_PER_MINUTE="1000",
        TEXTWIRE_LOG_LEVEL="warning",
        TEXTWIRE_LOG_FORMAT="json",
    )
    cmd = [sys.executable, "-m", "bot", "serve", "--config", str(ROOT / "config.toml")]
    if (os.cpu_count() or 1) >= 2:
        cmd = ["taskset", "-c", str(args.server_core), *cmd]
    log_file = (tmp / "server.log").open("wb")
    server = start_server(cmd, tmp, env, log_file)
    db = tmp / "data" / "textwire.db"
    try:
        await asyncio.to_thread(wait_healthy, f"{public}/healthz", server)
        senders = [f"+1555{n:07d}" for n in range(args.senders)]
        async with aiohttp.ClientSession() as session:
            poster = Poster(session, public, fake.auth_token, fake.account_sid)
            await poster.post(senders[0], "\\CREATE bench pw")
            await wait_count(db, "SELECT count(*) FROM rooms", 1, 30)
            await asyncio.gather(*(poster.post(s, "JOIN bench pw") for s in senders[1:]))
            await wait_count(db, "SELECT count(*) FROM memberships", len(senders), 60)
            await wait_count(db, "SELECT count(*) FROM inbox WHERE status = 'done'", len(senders), 60)
            baseline = proc_status(server.pid)
            expected: dict[str, int | None] = {}
            started = time.perf_counter()
            for n, (receipt, data) in enumerate(receipts):
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
            status = proc_status(server.pid)
        with sqlite3.connect(db) as conn:
            stored = dict(conn.execute("SELECT message_sid, amount_minor FROM receipts").fetchall())
        right = sum(1 for sid, total in expected.items() if stored.get(sid) == total and total is not None)
        wrong = sum(1 for sid, total in expected.items() if stored.get(sid) not in (None, total))
        failed = count(db, "SELECT count(*) FROM inbox WHERE status = 'failed'")
    finally:
        server.terminate()
        server.wait(30)
        log_file.close()
        await api_runner.cleanup()
        await cdn_runner.cleanup()
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
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--messages", type=int, default=24)
    parser.add_argument("--senders", type=int, default=3)
    parser.add_argument("--texts", type=int, default=5)
    parser.add_argument("--ocr-concurrency", type=int, default=1)
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    if not ri.fonts_available():
        raise SystemExit(ri.MISSING_FONTS)
    result: dict[str, Any] = {"args": vars(args)}
    if args.count:
        result["reader"] = offline(args.count, args.seed)
        print(json.dumps(result["reader"]), flush=True)
    if not args.skip_server:
        result["server"] = asyncio.run(through_server(args))
        print(json.dumps(result["server"]), flush=True)
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"receipts-{int(time.time())}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
