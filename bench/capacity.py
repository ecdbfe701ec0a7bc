"""bench/capacity: texts a second per web core and per worker core on PostgreSQL, each role alone
on a core of its own (issue 27, item 6).

On a machine of two cores the two roles cannot each have a core beside PostgreSQL's, so they are
measured one at a time, as an operator would size them: the role measured on `--core` (taskset),
PostgreSQL (its postmaster and every backend, which inherit the postmaster's affinity) and this
process (the load generator and the fake Twilio Messages API) on `--other-core`.

Per round, on a database of its own:
1. warm-up: a web and a worker process; `--senders` numbers text once and are answered; then the
   worker stops (SIGTERM, a clean drain);
2. web alone: `--burst` signed webhooks (`--body`) from those senders through 64 connections; no
   worker runs, so every text stays in the inbox. Web texts/s = burst / the posts' span, the web
   process's CPU over that span (its share of its core), PostgreSQL's CPU a text, the connections
   to the database while it is up. Then the web stops;
3. worker alone: a worker starts and drains that inbox (the backlog a worker meets after a burst
   or an outage), sending each reply to the fake. Worker texts/s = replies / (last reply - first
   reply), its CPU and PostgreSQL's over the same span, its connections.

A core's capacity is 1,000 / CPU ms a text: when the role's core is under 100% busy the other core
(PostgreSQL with the load generator) was the limit, and the texts/s it reached is less.

    PYTHONPATH=$PWD .venv/bin/python bench/capacity.py [--burst 6000] [--senders 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import drop_pg_database, free_port, save_results, wait_healthy  # noqa: E402
from bench.e2e import (  # noqa: E402
    AUTH_TOKEN,
    Fake,
    Load,
    cpu_seconds,
    pg_connections,
    postgres_cpu,
    textwire_pg_env,
)


def pin_postgres(cores: str) -> None:
    """Every PostgreSQL server process (the postmaster among them: backends started later inherit
    its affinity) onto `cores`."""
    for pid in postgres_cpu():
        with contextlib.suppress(ProcessLookupError):  # a backend that just ended
            os.sched_setaffinity(pid, set(_cores(cores)))


def _cores(spec: str) -> range:
    first, _, last = spec.partition("-")
    return range(int(first), int(last or first) + 1)


class Role:
    """One `textwire serve --role ROLE` process pinned to a core."""

    def __init__(self, role: str, env: dict[str, str], core: int, cwd: Path, name: str) -> None:
        self.port = free_port() if role == "worker" else int(env["TEXTWIRE_SERVER_PORT"])
        self.env = {**env, "TEXTWIRE_SERVER_ROLE": role, "TEXTWIRE_SERVER_PORT": str(self.port)}
        self.log = (cwd / f"{name}.log").open("wb")
        cmd = [sys.executable, "-m", "bot", "serve", "--config", str(ROOT / "config.toml")]
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(core), *cmd],
            cwd=cwd,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    async def ready(self) -> None:
        await asyncio.to_thread(wait_healthy, f"http://127.0.0.1:{self.port}/readyz", self.proc)

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, 60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def pg_total(before: dict[int, float]) -> float:
    return sum(t - before.get(pid, 0.0) for pid, t in postgres_cpu().items())


async def one_round(args: argparse.Namespace, fake: Fake, api_base: str, tmp: Path) -> dict[str, Any]:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env.update(await textwire_pg_env(tmp, port, public_url, api_base, args))
    url = env["TEXTWIRE_DATABASE_URL"]
    try:
        migrate = [sys.executable, "-m", "bot", "migrate", "--config", str(ROOT / "config.toml")]
        subprocess.run(migrate, cwd=tmp, env=env, check=True, capture_output=True)  # noqa: ASYNC221
        senders = [f"+1555{n:07d}" for n in range(1, args.senders + 1)]

        # 1. warm-up: every sender known, then no worker
        web_ = Role("web", env, args.core, tmp, "web")
        worker = Role("worker", env, args.core, tmp, "warm-worker")
        await web_.ready()
        await worker.ready()
        load = Load(fake, port, public_url, AUTH_TOKEN, senders)
        try:
            fake.reset()
            await load.closed(len(senders), 64, args.warmup_body)
            if not await fake.wait_answered(len(senders), args.timeout):
                raise SystemExit(f"warm-up not answered ({fake.answered}/{len(senders)})")
            await worker.stop()
            await asyncio.sleep(1.0)

            # 2. the web role alone
            fake.reset()
            pg0, cpu0 = postgres_cpu(), web_.cpu()
            start = await load.closed(args.burst, 64, args.body)
            span = time.monotonic() - start
            web_cpu, pg_cpu = web_.cpu() - cpu0, pg_total(pg0)
            web_connections = await pg_connections(url)
            if load.errors:
                raise SystemExit(f"{load.errors} webhooks were not answered 200")
        finally:
            await load.session.close()
        await web_.stop()
        web = {
            "texts_per_s": round(args.burst / span),
            "core_busy": round(web_cpu / span, 2),
            "cpu_ms_per_text": round(web_cpu * 1000 / args.burst, 3),
            "pg_cpu_ms_per_text": round(pg_cpu * 1000 / args.burst, 3),
            "connections": web_connections,
        }
        print("web", web, flush=True)

        # 3. a worker alone drains that inbox
        await asyncio.sleep(1.0)
        worker = Role("worker", env, args.core, tmp, "worker")
        try:
            await fake.wait_answered(1, args.timeout)
            t0, first, pg0, cpu0 = time.monotonic(), fake.answered, postgres_cpu(), worker.cpu()
            ok = await fake.wait_answered(args.burst, args.timeout)
            span = fake.last_reply - t0
            done = fake.answered - first
            worker_cpu, pg_cpu = worker.cpu() - cpu0, pg_total(pg0)
            worker_connections = await pg_connections(url)
        finally:
            await worker.stop()
        drained = {
            "complete": ok,
            "texts_per_s": round(done / span),
            "core_busy": round(worker_cpu / span, 2),
            "cpu_ms_per_text": round(worker_cpu * 1000 / done, 3),
            "pg_cpu_ms_per_text": round(pg_cpu * 1000 / done, 3),
            "connections": worker_connections,
            "unexpected": fake.unexpected,
        }
        print("worker", drained, flush=True)
        return {"web": web, "worker": drained}
    finally:
        if not args.keep:
            await drop_pg_database(args.pg, url)


async def amain(args: argparse.Namespace) -> None:
    fake = Fake()
    runner, api_base = await fake.serve()
    pin_postgres(str(args.other_core))
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-capacity-") as tmp_name:
            for n in range(args.repeat):
                rtmp = Path(tmp_name) / f"round{n}"
                rtmp.mkdir()
                results.append(await one_round(args, fake, api_base, rtmp))
    finally:
        await runner.cleanup()
        pin_postgres(f"0-{(os.cpu_count() or 1) - 1}")  # as it was: every core

    print(
        "\n| round | role | texts/s | its core busy | CPU ms a text | texts/s a core (1000 / CPU ms)"
        " | PostgreSQL CPU ms a text | connections |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n, r in enumerate(results):
        for role in ("web", "worker"):
            x = r[role]
            print(
                f"| {n} | {role} | {x['texts_per_s']:,} | {x['core_busy']:.0%} | {x['cpu_ms_per_text']:.3f}"
                f" | {1000 / x['cpu_ms_per_text']:,.0f} | {x['pg_cpu_ms_per_text']:.3f} | {x['connections']} |"
            )
    for role in ("web", "worker"):
        per_core = [1000 / r[role]["cpu_ms_per_text"] for r in results]
        pg = [r[role]["pg_cpu_ms_per_text"] for r in results]
        print(
            f"{role}: median {statistics.median(per_core):,.0f} texts/s a core;"
            f" PostgreSQL {statistics.median(pg):.3f} ms a text"
        )
    save_results("capacity", {"args": vars(args), "results": results})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--burst", type=int, default=6000)
    parser.add_argument("--senders", type=int, default=1000)
    parser.add_argument("--body", default="\\ROOMS", help="what the burst texts (answered every time)")
    parser.add_argument("--warmup-body", default="\\HELP")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--keep", action="store_true", help="keep each round's database")
    parser.add_argument("--pg", default="postgresql://textwire:textwire@127.0.0.1:5432/postgres")
    parser.add_argument("--core", type=int, default=0, help="the role measured")
    parser.add_argument("--other-core", type=int, default=1, help="PostgreSQL and the load generator")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.other_core})
    uvloop.run(amain(args))


if __name__ == "__main__":
    main()
