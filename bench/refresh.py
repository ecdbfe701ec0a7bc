"""bench/refresh: the X token refresh job over 10,000 linked users against the local fake X.

The fake X (tests/fakes/x_api.py, rotating single-use refresh tokens) runs in its own process on
one core; this process, pinned to the other, seeds a real SQLite file with 10,000 users whose
Fernet-encrypted tokens all expire within the job's window, then runs one tick of the job
(`bot.features.x.refresh.run_tick`, the code APScheduler calls) with its bounded concurrency and
measures the time and the peak memory. Afterwards every user must still hold a working pair: the
row's version moved on, the new refresh token is the live one at the fake, no grant was revoked.

    .venv/bin/python bench/refresh.py [--users 10000] [--concurrency 16] [--batch 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, save_results  # noqa: E402

FAKE = r"""
import json, sys
from aiohttp import web
sys.path.insert(0, sys.argv[3])
from tests.fakes.x_api import FakeX

fake = FakeX()
grants = [fake.grant_tokens(str(7000000 + n), f"user{n}") for n in range(int(sys.argv[2]))]
with open(sys.argv[4], "w") as fh:
    json.dump([[g["access_token"], g["refresh_token"]] for g in grants], fh)

async def stats(request):
    live = fake.live_grants()
    return web.json_response({
        "refresh_calls": fake.refresh_calls,
        "live_grants": len(live),
        "live_refresh": sorted(g.live_refresh for g in live),
        "revoked": sum(g.revoked for g in fake.grants),
    })

fake.app.router.add_get("/_stats", stats)
web.run_app(fake.app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(args: argparse.Namespace, workdir: Path, base: str, grants: list[list[str]]) -> dict[str, Any]:
    from bot.core.logs import configure_logging

    configure_logging("warning", "json")  # before the modules below bind their loggers

    import aiohttp
    import sqlalchemy as sa

    from bot.core.config import Config, DatabaseConfig, ServerConfig, XConfig
    from bot.core.deps import Deps
    from bot.features.x import refresh
    from bot.features.x.accounts import XAccounts
    from bot.features.x.client import XClient
    from storage.crypto import TokenCipher, generate_key
    from storage.db import open_database
    from storage.schema import users, x_tokens

    config = Config(
        server=ServerConfig(data_dir=str(workdir)),
        database=DatabaseConfig(url=f"sqlite:///{workdir}/bench.db"),
        x=XConfig(client_id="test-client", api_base=base, authorize_url=base + "/i/oauth2/authorize"),
    )
    db = await open_database(config.database.url, migrate=True)
    cipher = TokenCipher([generate_key()])
    now = time.time()
    seed_start = time.perf_counter()
    async with db.tx() as conn:
        await conn.execute(
            sa.insert(users),
            [
                {
                    "id": n + 1,
                    "phone": f"+1555{n:07d}",
                    "created_at": now,
                    "x_user_id": str(7000000 + n),
                    "x_handle": f"user{n}",
                }
                for n in range(args.users)
            ],
        )
        await conn.execute(
            sa.insert(x_tokens),
            [
                {
                    "user_id": n + 1,
                    "ciphertext": cipher.encrypt(n + 1, {"access_token": a, "refresh_token": r}),
                    "expires_at": now + 60 + (n % 780),  # all within the 15-minute window
                    "version": 1,
                    "updated_at": now,
                }
                for n, (a, r) in enumerate(grants)
            ],
        )
    seed_s = time.perf_counter() - seed_start
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    deps = Deps(config=config, db=db, http=http)
    service = XAccounts(deps, XClient(http, config.x, "http://127.0.0.1/x/callback"), cipher)
    rss_before = rss_mib()
    peak_before = peak_mib()
    start = time.perf_counter()
    result = await refresh.run_tick(deps, service, batch=args.batch, concurrency=args.concurrency)
    elapsed = time.perf_counter() - start
    rss_after = rss_mib()
    peak_after = peak_mib()
    await http.close()

    async with db.read() as conn:
        rows = (await conn.execute(sa.select(x_tokens))).all()
    held = sorted(cipher.decrypt(r.user_id, r.ciphertext)["refresh_token"] for r in rows)
    await db.close()
    return {
        "held_refresh_tokens": held,
        "rows": len(rows),
        "users": args.users,
        "concurrency": args.concurrency,
        "batch": args.batch,
        "seconds": round(elapsed, 2),
        "refreshes_per_second": round(result.refreshed / elapsed, 1),
        "refreshed": result.refreshed,
        "dead": len(result.dead),
        "unavailable": result.unavailable,
        "rows_still_expiring": sum(1 for r in rows if r.expires_at < time.time() + refresh.WINDOW),
        "rss_before_mib": round(rss_before, 1),
        "rss_after_mib": round(rss_after, 1),
        "peak_rss_before_tick_mib": round(peak_before, 1),
        "peak_rss_after_tick_mib": round(peak_after, 1),
        "seed_seconds": round(seed_s, 2),
    }


def stats_of(base: str, *, wait: bool = False) -> dict[str, Any]:
    for _ in range(600 if wait else 1):
        try:
            with urllib.request.urlopen(base + "/_stats", timeout=30) as resp:  # noqa: S310 - loopback
                data: dict[str, Any] = json.loads(resp.read())
                return data
        except OSError:
            if not wait:
                raise
            time.sleep(0.1)
    raise SystemExit("the fake X did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--bench-core", type=int, default=0)
    parser.add_argument("--fake-core", type=int, default=1)
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.bench_core})
    with tempfile.TemporaryDirectory(prefix="textwire-bench-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        grants_file = workdir / "grants.json"
        fake = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(args.fake_core),
                sys.executable,
                "-c",
                FAKE,
                str(port),
                str(args.users),
                str(ROOT),
                str(grants_file),
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            stats_of(base, wait=True)
            grants = json.loads(grants_file.read_text())
            result = asyncio.run(run(args, workdir, base, grants))
            # Every user still holds a working pair: the live refresh token at the fake.
            stats = stats_of(base)
        finally:
            fake.terminate()
            fake.wait(10)
    held = result.pop("held_refresh_tokens")
    result["x_refresh_calls"] = stats["refresh_calls"]
    result["x_revoked_grants"] = stats["revoked"]
    result["rows_lost"] = args.users - result.pop("rows")
    result["rows_not_matching_live_token"] = len(set(held) ^ set(stats["live_refresh"]))
    print(json.dumps(result, indent=2))
    save_results("refresh", {"args": vars(args), "result": result})
    ok = (
        result["rows_lost"] == 0
        and result["rows_not_matching_live_token"] == 0
        and result["x_revoked_grants"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
