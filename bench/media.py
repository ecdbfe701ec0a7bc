"""bench/media: MMS receipts through the real server, against S3 (moto) on loopback.

`textwire serve` runs as a subprocess (pinned to one core with taskset when there are two or
more), with `media.backend = "s3"` pointing at moto's ThreadedMotoServer and Twilio pointing at
a local fake (Messages API, media with Basic auth, a CDN host it redirects to), both in this
process. Each round posts `--messages` signed MMS webhooks of `--photos` JPEGs of about
`--photo-kb` KB each (distinct photos, random noise so they do not shrink), then waits until every
receipt row is committed. It reports receipts per second and the server's memory: its resident
set before the load and its peak (VmHWM) after each round. With a bounded decode
(`media.decode_concurrency`) the peak must not grow from round to round.

    .venv/bin/python bench/media.py [--messages 50] [--photos 5] [--photo-kb 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import boto3  # noqa: E402
from aiohttp import web  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from PIL import Image  # noqa: E402

from bench.common import free_port, save_results, wait_healthy  # noqa: E402
from bot.channels.twilio.signature import SignatureChecker  # noqa: E402
from tests.fakes.twilio_rest import FakeTwilio  # noqa: E402


def photo(target_bytes: int, seed: int) -> bytes:
    """A JPEG of about `target_bytes`: colour noise (a receipt photo's size, not its looks)."""
    side = 1000
    while True:
        width, height = side, side * 3 // 4
        channels = [Image.effect_noise((width, height), 30 + 7 * ((seed + i) % 5)) for i in range(3)]
        out = io.BytesIO()
        Image.merge("RGB", channels).save(out, format="JPEG", quality=90)
        if out.tell() >= target_bytes * 0.95 or side > 5000:
            return out.getvalue()
        side = int(side * (target_bytes / out.tell()) ** 0.5 * 1.02) + 8


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident set) of a process, in KiB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def start_server(cmd: list[str], cwd: Path, env: dict[str, str], log_file: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT)


class Poster:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str, account_sid: str) -> None:
        self.session = session
        self.base = base
        self.checker = SignatureChecker(token)
        self.account_sid = account_sid

    async def post(self, sender: str, body: str, media: list[str] | None = None) -> str:
        sid = "MM" + secrets.token_hex(16)
        form = [
            ("MessageSid", sid),
            ("AccountSid", self.account_sid),
            ("From", sender),
            ("To", "+15550000000"),
            ("Body", body),
            ("NumMedia", str(len(media or []))),
        ]
        for n, url in enumerate(media or []):
            form += [(f"MediaUrl{n}", url), (f"MediaContentType{n}", "image/jpeg")]
        signature = self.checker.sign(self.base + "/twilio/sms", form)
        async with self.session.post(
            self.base + "/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}
        ) as resp:
            assert resp.status == 200, await resp.text()
        return sid


def count(db: Path, query: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(query).fetchone()[0])


async def wait_count(db: Path, query: str, target: int, timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while count(db, query) < target:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {count(db, query)} of {target} for {query}")
        await asyncio.sleep(0.05)


@dataclass
class RoomServer:
    """`textwire serve` against local fakes of Twilio's API and media CDN, with one room that
    every sender has joined (`room_server`)."""

    fake: FakeTwilio
    public: str
    db: Path
    server: subprocess.Popen[bytes]
    poster: Poster
    senders: list[str]


@asynccontextmanager
async def room_server(
    prefix: str, senders: int, server_core: int, settings: dict[str, str]
) -> AsyncIterator[RoomServer]:
    """Start the fakes and the server (pinned to `server_core`; `settings`: TEXTWIRE_* keys on
    top of the common ones), wait until it is healthy, have the first sender create a room and
    the others join it; stop everything on the way out."""
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

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
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
        TEXTWIRE_LIMITS_PER_SENDER_PER_MINUTE="1000",
        TEXTWIRE_LOG_LEVEL="warning",
        TEXTWIRE_LOG_FORMAT="json",
    )
    env.update(settings)
    cmd = [sys.executable, "-m", "bot", "serve", "--config", str(ROOT / "config.toml")]
    if (os.cpu_count() or 1) >= 2:
        cmd = ["taskset", "-c", str(server_core), *cmd]
    log_file = (tmp / "server.log").open("wb")
    server = start_server(cmd, tmp, env, log_file)
    db = tmp / "data" / "textwire.db"
    try:
        await asyncio.to_thread(wait_healthy, f"{public}/healthz", server)
        phones = [f"+1555{n:07d}" for n in range(senders)]
        async with aiohttp.ClientSession() as session:
            poster = Poster(session, public, fake.auth_token, fake.account_sid)
            await poster.post(phones[0], "\\CREATE bench pw")
            await wait_count(db, "SELECT count(*) FROM rooms", 1, 30)
            await asyncio.gather(*(poster.post(s, "JOIN bench pw") for s in phones[1:]))
            await wait_count(db, "SELECT count(*) FROM memberships", len(phones), 60)
            yield RoomServer(fake, public, db, server, poster, phones)
    finally:
        server.terminate()
        server.wait(30)
        log_file.close()
        await api_runner.cleanup()
        await cdn_runner.cleanup()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    # dummy credentials for moto, through the standard chain
    dummy = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(dummy)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    s3_endpoint = f"http://{host}:{port}"
    bucket = "bench-receipts"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)

    photos = [photo(args.photo_kb * 1000, seed) for seed in range(args.photos * 2)]
    sizes = [len(p) for p in photos]
    rounds: list[dict[str, float]] = []
    settings = {
        "TEXTWIRE_MEDIA_BACKEND": "s3",
        "TEXTWIRE_MEDIA_DECODE_CONCURRENCY": str(args.decode_concurrency),
        "TEXTWIRE_S3_BUCKET": bucket,
        "TEXTWIRE_S3_ENDPOINT_URL": s3_endpoint,
    }
    try:
        async with room_server("bench-media-", args.senders, args.server_core, settings) as bench:
            fake, db, poster, senders = bench.fake, bench.db, bench.poster, bench.senders
            baseline = proc_status(bench.server.pid)
            done = 0
            for round_no in range(args.rounds):
                bodies = []
                for m in range(args.messages):
                    urls = [
                        fake.media.add(photos[(m + i) % len(photos)], "image/jpeg")
                        for i in range(args.photos)
                    ]
                    bodies.append((senders[m % len(senders)], f"receipt {round_no}-{m}", urls))
                started = time.perf_counter()
                await asyncio.gather(*(poster.post(s, b, u) for s, b, u in bodies))
                done += args.messages * args.photos
                await wait_count(db, "SELECT count(*) FROM receipts", done, 600)
                elapsed = time.perf_counter() - started
                status = proc_status(bench.server.pid)
                rounds.append(
                    {
                        "receipts": args.messages * args.photos,
                        "seconds": round(elapsed, 2),
                        "receipts_per_s": round(args.messages * args.photos / elapsed, 1),
                        "peak_rss_mib": round(status["VmHWM"] / 1024, 1),
                        "rss_after_mib": round(status["VmRSS"] / 1024, 1),
                    }
                )
                print(json.dumps({"round": round_no + 1, **rounds[-1]}), flush=True)
            await wait_count(
                db, "SELECT count(*) FROM receipts WHERE twilio_deleted_at IS NOT NULL", done, 60
            )
            objects = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").list_objects_v2(
                Bucket=bucket, MaxKeys=1000
            )
            stored = objects.get("KeyCount", 0)
            failed = count(db, "SELECT count(*) FROM inbox WHERE status = 'failed'")
    finally:
        moto.stop()
    return {
        "args": vars(args),
        "photo_bytes": {"min": min(sizes), "max": max(sizes), "mean": round(sum(sizes) / len(sizes))},
        "baseline_rss_mib": round(baseline["VmRSS"] / 1024, 1),
        "rounds": rounds,
        "s3_objects": stored,
        "twilio_deleted": len(fake.media.deleted),
        "failed_messages": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--photos", type=int, default=5)
    parser.add_argument("--photo-kb", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--decode-concurrency", type=int, default=2)
    parser.add_argument("--server-core", type=int, default=0)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print()
    print("| round | receipts | seconds | receipts/s | peak RSS MiB (VmHWM) | RSS after MiB |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, r in enumerate(result["rounds"], 1):
        print(
            f"| {n} | {r['receipts']:.0f} | {r['seconds']} | {r['receipts_per_s']} | {r['peak_rss_mib']} | {r['rss_after_mib']} |"
        )
    photo_kb = result["photo_bytes"]["mean"] / 1000
    print(
        f"\nbaseline RSS {result['baseline_rss_mib']} MiB; photos {photo_kb:.0f} KB on average; "
        f"S3 objects {result['s3_objects']}; deleted at Twilio {result['twilio_deleted']}; "
        f"failed messages {result['failed_messages']}"
    )
    save_results("media", result)


if __name__ == "__main__":
    main()
