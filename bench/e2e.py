"""bench/e2e: signed webhooks in, replies out at a local fake of Twilio's Messages API.

Three servers in one run, each pinned to one core (`--server-core`, taskset): the bare aiohttp app
(bench/e2e_bare.py), the straightforward durable app (bench/e2e_durable.py) and `textwire serve`
(all in one, SQLite). This process is the load generator and the fake Messages API (Basic auth,
201 with a JSON Message like Twilio's), pinned to the other core.

Per server: 500 senders text once (they "texted before"), then
- burst: 3,000 `\\HELP` from those 500 senders, posted as fast as 64 connections allow; answered
  texts/s = 3,000 / (last reply - first post), CPU ms per answered text from the server's
  utime + stime in /proc/<pid>/stat over the same span, and its threads' context switches per
  answered text (/proc/<pid>/task/*/status: each hand-off between the event loop and a helper
  thread sharing its core is one);
- open loop at each `--rates` (texts/s) for `--seconds`: each text posted at its scheduled time,
  whatever the server does; reply latency = the reply's arrival at the fake - the text's
  scheduled time (the k-th reply to a sender answers its k-th text: per-sender order).

    .venv/bin/python bench/e2e.py [--only textwire] [--seconds 5] [--rates 100,300,1000] [--repeat 3]

`--repeat N` runs all the servers N times, interleaved, and prints the ratios of each round and
their median: the host's speed drifts between minutes, a ratio within one round much less. Each
round starts one server later than the one before (`--only a,b`: a then b, then b then a, ...):
where a server runs in its round moves its rate (BENCHMARKS.md "Stop 58"), so take an even
number of rounds for two servers, a multiple of three for three.

`--baseline DIR` (a checkout of another commit, e.g. `git worktree add /tmp/base HEAD~3`) adds
`textwire@base` (and `textwire-pg@base` beside `textwire-pg`) to `--only`: the same server from
that checkout's code (PYTHONPATH), in the same rounds: before and after a change, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import dataclasses
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import sqlalchemy as sa
import uvloop
from aiohttp import web
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import create_pg_database, drop_pg_database, free_port, save_results, wait_healthy  # noqa: E402
from bot.core.config import ServerConfig  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
ACCOUNT_SID = "AC" + "1" * 32
BODY = "\\HELP"  # --body
WARMUP_BODY = "\\HELP"  # --warmup-body (default: --body)
AUTH_TOKEN = secrets.token_hex(16)


def cpu_seconds(pid: int, *, main_thread: bool = False) -> float:
    """utime + stime of every thread of `pid`, or of its main thread alone (the event loop; the
    rest is SQLite's and other helper threads)."""
    stat = f"/proc/{pid}/task/{pid}/stat" if main_thread else f"/proc/{pid}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def switches(pid: int) -> int:
    """Context switches of every thread of `pid` so far (voluntary and not): each hand-off between
    the event loop and a helper thread on the one core is one."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if "ctxt_switches:" in line:
                total += int(line.split()[1])
    return total


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every PostgreSQL server process on this machine (its backends among them),
    by pid: the database's share of a text on PostgreSQL (the difference over a burst; a backend
    started during it counts from zero)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" not in text:
            continue
        fields = text.rsplit(")", 1)[1].split()
        found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


async def pg_connections(url: str) -> int:
    """Connections to the bench's database now (pg_stat_activity), the watcher's own excluded."""
    import asyncpg

    from bot.core.dburl import pg_connect_args

    dsn, kwargs = pg_connect_args(url)
    conn = await asyncpg.connect(dsn, **kwargs)
    try:
        value = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(value)
    finally:
        await conn.close()


@dataclass
class Fake:
    """The Messages API: checks Basic auth, records when each reply arrived, matches it to the
    oldest unanswered text of that sender."""

    expected: dict[str, collections.deque[float]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    answered: int = 0
    unexpected: int = 0
    last_reply: float = 0.0
    bad_auth: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def reset(self) -> None:
        self.expected.clear()
        self.latencies.clear()
        self.answered = self.unexpected = 0

    async def create(self, request: web.Request) -> web.Response:
        auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != auth:
            self.bad_auth += 1
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        form = await request.post()
        to = str(form.get("To", ""))
        now = time.monotonic()
        queue = self.expected.get(to)
        if queue:
            self.latencies.append(now - queue.popleft())
            self.answered += 1
            self.last_reply = now
            self.changed.set()
        else:
            self.unexpected += 1
        sid = "SM" + secrets.token_hex(16)
        return web.json_response(
            {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": to,
                "from": form.get("From"),
                "body": form.get("Body"),
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "date_created": "Mon, 23 Nov 2026 10:00:00 +0000",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            },
            status=201,
        )

    async def serve(self) -> tuple[web.AppRunner, str]:
        """Listen on a free loopback port as Twilio's Messages API; the runner and the base URL."""
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, f"http://127.0.0.1:{port}"

    async def wait_answered(self, count: int, timeout: float) -> bool:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while self.answered < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 1.0))
        return True


class Load:
    def __init__(self, fake: Fake, port: int, public_url: str, token: str, senders: list[str]) -> None:
        self.fake = fake
        self.url = f"http://127.0.0.1:{port}/twilio/sms"
        self.signed_url = public_url + "/twilio/sms"
        self.validator = RequestValidator(token)
        self.senders = senders
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
        self.errors = 0

    def signed(self, sender: str, body: str) -> tuple[bytes, str]:
        form = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": "+15550000000",
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
        }
        return urlencode(form).encode(), self.validator.compute_signature(self.signed_url, form)

    async def post(self, data: bytes, signature: str) -> None:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
        try:
            async with self.session.post(self.url, data=data, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    self.errors += 1
        except aiohttp.ClientError:
            self.errors += 1

    def plan(self, count: int, body: str | None = None) -> list[tuple[str, bytes, str]]:
        text = BODY if body is None else body
        return [
            (s, *self.signed(s, text)) for s in (self.senders[i % len(self.senders)] for i in range(count))
        ]

    async def closed(self, count: int, connections: int, body: str | None = None) -> float:
        """Post `count` texts (`body`, else `--body`) through `connections` loops; the first post's time."""
        plan = self.plan(count, body)
        queue = collections.deque(plan)
        start = time.monotonic()

        async def loop() -> None:
            while queue:
                sender, data, sig = queue.popleft()
                self.fake.expected.setdefault(sender, collections.deque()).append(time.monotonic())
                await self.post(data, sig)

        await asyncio.gather(*(loop() for _ in range(connections)))
        return start

    async def open_loop(self, rate: int, seconds: float) -> None:
        plan = self.plan(int(rate * seconds))
        tasks = set()
        start = time.monotonic() + 0.05
        for i, (sender, data, sig) in enumerate(plan):
            at = start + i / rate
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.fake.expected.setdefault(sender, collections.deque()).append(at)
            task = asyncio.create_task(self.post(data, sig))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_one(
    name: str,
    cmd: list[str],
    env: dict[str, str],
    cwd: Path,
    fake: Fake,
    args: argparse.Namespace,
    workers: list[dict[str, str]] | None = None,
) -> dict[str, object]:
    """Start `cmd` (the process that takes the webhooks) and one more process per `workers`
    environment; CPU is the sum over all of them."""
    port = int(env["BENCH_PORT"])
    log_path = cwd / f"{name}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once per server, before the load
            ["taskset", "-c", str(args.server_core), *cmd],
            cwd=cwd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    others = []
    for i, worker_env in enumerate(workers or []):
        with (cwd / f"{name}-worker{i}.log").open("wb") as log_file:
            others.append(
                subprocess.Popen(  # noqa: ASYNC220 - started once per server, before the load
                    ["taskset", "-c", str(args.server_core), *cmd],
                    cwd=cwd,
                    env=worker_env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            )
    pids = [proc.pid] + [o.pid for o in others]

    def cpu() -> float:
        return sum(cpu_seconds(pid) for pid in pids)

    result: dict[str, object] = {"server": name}
    try:
        try:
            await asyncio.to_thread(wait_healthy, f"http://127.0.0.1:{port}/healthz", proc)
        except SystemExit as exc:
            raise SystemExit(f"{name}: {exc}; see {log_path}") from None
        token = env.get("BENCH_TOKEN", AUTH_TOKEN)
        senders = [f"+1555{n:07d}" for n in range(1, args.senders + 1)]
        load = Load(fake, port, env["BENCH_PUBLIC_URL"], token, senders)
        try:
            fake.reset()
            await load.closed(len(senders), 64, WARMUP_BODY)  # they texted before
            if not await fake.wait_answered(len(senders), 120):
                raise SystemExit(f"{name}: warm-up not answered ({fake.answered}/{len(senders)})")
            await asyncio.sleep(0.5)

            fake.reset()
            spy = None
            if args.profile and name == args.profile_server:
                if args.profile.endswith(".strace"):  # syscalls by name, every thread
                    profiler = ["strace", "-c", "-f", "-p", str(proc.pid), "-o", args.profile]
                    if os.environ.get("BENCH_STRACE"):  # e.g. -e trace=ioctl: the calls themselves
                        profiler[1:2] = os.environ["BENCH_STRACE"].split()
                elif args.profile.endswith(".perf"):  # perf record: where the C side spends it
                    profiler = ["perf", "record", "-g", "-F", "999", "-p", str(proc.pid), "-o", args.profile]
                else:
                    profiler = [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "-p",
                        str(proc.pid),
                        "-o",
                        args.profile,
                        "-r",
                        "200",
                        "--nonblocking",
                        "-f",
                        "flamegraph" if args.profile.endswith(".svg") else "raw",
                    ]
                spy = subprocess.Popen(  # noqa: ASYNC220 - before the burst
                    profiler, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                await asyncio.sleep(1.0)
            on_pg = name.startswith("textwire-pg")
            pg0 = postgres_cpu() if on_pg else {}
            sw0 = switches(proc.pid)
            cpu0, each0, loop0 = (
                cpu(),
                [cpu_seconds(pid) for pid in pids],
                cpu_seconds(proc.pid, main_thread=True),
            )
            start = await load.closed(args.burst, 64)
            connections = await pg_connections(env["TEXTWIRE_DATABASE_URL"]) if on_pg else 0
            ok = await fake.wait_answered(args.burst, args.timeout)
            cpu1, each1, loop1 = (
                cpu(),
                [cpu_seconds(pid) for pid in pids],
                cpu_seconds(proc.pid, main_thread=True),
            )
            sw1 = switches(proc.pid)
            pg1 = postgres_cpu() if on_pg else {}
            if spy is not None:
                spy.send_signal(2)
                await asyncio.to_thread(spy.wait)
            span = fake.last_reply - start
            result["burst"] = {
                "answered": fake.answered,
                "complete": ok,
                "texts_per_s": round(fake.answered / span, 1),
                "cpu_ms_per_text": round((cpu1 - cpu0) * 1000 / max(1, fake.answered), 3),
                # per process (the web one first, then the workers): where the CPU went
                "cpu_ms_per_text_each": [
                    round((b - a) * 1000 / max(1, fake.answered), 3)
                    for a, b in zip(each0, each1, strict=True)
                ],
                # of the first process's: its event loop's thread (the rest: SQLite's threads, ...)
                "cpu_ms_per_text_loop": round((loop1 - loop0) * 1000 / max(1, fake.answered), 3),
                "switches_per_text": round((sw1 - sw0) / max(1, fake.answered), 2),
                "p50_ms": round(pct(fake.latencies, 0.5) * 1000, 1),
                "p99_ms": round(pct(fake.latencies, 0.99) * 1000, 1),
                "unexpected": fake.unexpected,
            }
            if on_pg:  # the database's CPU a text, and its connections after the posts (all processes)
                used = sum(t - pg0.get(pid, 0.0) for pid, t in pg1.items())
                result["burst"]["pg_cpu_ms_per_text"] = round(used * 1000 / max(1, fake.answered), 3)  # type: ignore[index]
                result["burst"]["pg_connections"] = connections  # type: ignore[index]
            print(name, "burst", result["burst"], flush=True)
            for rate in args.rates:
                await asyncio.sleep(1.0)
                fake.reset()
                count = int(rate * args.seconds)
                cpu0 = cpu()
                await load.open_loop(rate, args.seconds)
                ok = await fake.wait_answered(count, args.timeout)
                cpu1 = cpu()
                result[f"open_{rate}"] = {
                    "texts": count,
                    "answered": fake.answered,
                    "complete": ok,
                    "p50_ms": round(pct(fake.latencies, 0.5) * 1000, 1),
                    "p99_ms": round(pct(fake.latencies, 0.99) * 1000, 1),
                    "max_ms": round(max(fake.latencies, default=0) * 1000, 1),
                    "cpu_ms_per_text": round((cpu1 - cpu0) * 1000 / max(1, fake.answered), 3),
                    "unexpected": fake.unexpected,
                }
                print(name, rate, result[f"open_{rate}"], flush=True)
            result["post_errors"] = load.errors
        finally:
            await load.session.close()
    finally:
        for p in [proc, *others]:
            p.terminate()
        for p in [proc, *others]:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    return result


HAS_ROLES = "role" in {f.name for f in dataclasses.fields(ServerConfig)}


async def textwire_pg_env(
    tmp: Path, port: int, public_url: str, api_base: str, args: argparse.Namespace
) -> dict[str, str]:
    """A fresh PostgreSQL database on `--pg` for this run, and the environment for it."""
    url = await create_pg_database(args.pg, "textwire_bench_")
    data = tmp / f"data-pg-{url.rsplit('/', 1)[1]}"
    return {
        "TEXTWIRE_SERVER_PORT": str(port),
        "TEXTWIRE_SERVER_PUBLIC_URL": public_url,
        "TEXTWIRE_SERVER_DATA_DIR": str(data),
        "TEXTWIRE_DATABASE_URL": url,
        "TEXTWIRE_MEDIA_LOCAL_DIR": str(data / "media"),
        "TEXTWIRE_LOG_LEVEL": args.log_level,
        "TEXTWIRE_LOG_FORMAT": "json",
        "TEXTWIRE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TEXTWIRE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TEXTWIRE_TWILIO_FROM_NUMBER": "+15550000000",
        "TEXTWIRE_TWILIO_API_BASE": api_base,
        "TEXTWIRE_LIMITS_PER_SENDER_PER_MINUTE": "1000",
    }


async def prefill(url: str, count: int) -> None:
    """`--history`: `count` messages handled a day ago, with their replies, from the senders'
    numbers (the server's migrated database, before it starts): the hot path's statements against
    tables that hold days of rows, not only the run's."""
    from bench.purge import handled
    from storage.db import open_database, sqlite_path

    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = await open_database(url, migrate=path is not None)
    try:
        at = time.time() - 86400
        for start in range(1, count + 1, 50_000):
            async with db.tx() as conn:
                await handled(conn, range(start, min(count + 1, start + 50_000)), at)
        if db.is_postgres:  # ids were given: move the sequences past them; and the statistics
            async with db.tx() as conn:
                for statement in (
                    "SELECT setval(pg_get_serial_sequence('inbox', 'id'), max(id)) FROM inbox",
                    "SELECT setval(pg_get_serial_sequence('outbox', 'id'), max(id)) FROM outbox",
                ):
                    await conn.execute(sa.text(statement))
            await db.analyze()  # autovacuum would have by then
    finally:
        await db.close()


async def amain(args: argparse.Namespace) -> None:
    fake = Fake()
    runner, api_base = await fake.serve()
    results = []
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    with (
        contextlib.nullcontext(args.keep) if args.keep else tempfile.TemporaryDirectory(prefix="bench-e2e-")
    ) as tmp_name:
        tmp = Path(tmp_name)
        py = sys.executable
        for round_no in range(args.repeat):  # rounds interleave the servers: the host's speed drifts
            rtmp = tmp / f"round{round_no}" if args.repeat > 1 else tmp
            rtmp.mkdir(exist_ok=True)
            names = servers(args)
            # each round starts one server later: a server's place in a round moves its rate by
            # up to a tenth (the same build measured 1.07-1.15 of itself second against third)
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                port = free_port()
                public_url = f"http://127.0.0.1:{port}"
                env = {**base_env, "BENCH_PORT": str(port), "BENCH_PUBLIC_URL": public_url}
                config = str(ROOT / "config.toml")
                if name.endswith("@base"):  # that checkout's code (bench/e2e.py --baseline)
                    env["PYTHONPATH"] = args.baseline
                    config = str(
                        Path(args.baseline) / "config.toml"
                    )  # its keys: older code refuses newer ones
                if name == "bare":
                    cmd = [py, str(ROOT / "bench/e2e_bare.py"), str(port), api_base, ACCOUNT_SID, AUTH_TOKEN]
                elif name == "durable":
                    db = rtmp / "durable.db"
                    cmd = [
                        py,
                        str(ROOT / "bench/e2e_durable.py"),
                        str(port),
                        api_base,
                        ACCOUNT_SID,
                        AUTH_TOKEN,
                        str(db),
                        public_url,
                    ]
                elif name.startswith("textwire-pg"):
                    env.update(await textwire_pg_env(rtmp, port, public_url, api_base, args))
                    env.update(kv.split("=", 1) for kv in args.env)  # type: ignore[misc]
                    cmd = [py, "-m", "bot", "serve", "--config", config]
                    migrate = subprocess.run(  # noqa: ASYNC221 - once, before the load
                        [py, "-m", "bot", "migrate", "--config", config],
                        cwd=rtmp,
                        env=env,
                        check=False,
                    )
                    assert migrate.returncode == 0, "textwire migrate failed"
                    if args.history:
                        await prefill(env["TEXTWIRE_DATABASE_URL"], args.history)
                    workers = []
                    for _ in range(args.pg_workers):
                        worker_env = {**env, "TEXTWIRE_SERVER_PORT": str(free_port())}
                        if HAS_ROLES:
                            worker_env["TEXTWIRE_SERVER_ROLE"] = "worker"
                        workers.append(worker_env)
                    if HAS_ROLES:
                        env["TEXTWIRE_SERVER_ROLE"] = "web"
                    results.append(
                        {
                            **await run_one(name, cmd, env, rtmp, fake, args, workers),
                            "round": round_no,
                        }
                    )
                    if not args.keep:  # its processes have stopped
                        await drop_pg_database(args.pg, env["TEXTWIRE_DATABASE_URL"])
                    continue
                else:
                    data = rtmp / f"data-{name}"
                    env.update(
                        TEXTWIRE_SERVER_PORT=str(port),
                        TEXTWIRE_SERVER_PUBLIC_URL=public_url,
                        TEXTWIRE_SERVER_DATA_DIR=str(data),
                        TEXTWIRE_DATABASE_URL=f"sqlite:///{data}/textwire.db",
                        TEXTWIRE_MEDIA_LOCAL_DIR=str(data / "media"),
                        TEXTWIRE_LOG_LEVEL=args.log_level,
                        TEXTWIRE_LOG_FORMAT="json",
                        TEXTWIRE_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                        TEXTWIRE_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                        TEXTWIRE_TWILIO_FROM_NUMBER="+15550000000",
                        TEXTWIRE_TWILIO_API_BASE=api_base,
                        # the burst and the open-loop runs text each sender ~20 times a minute
                        TEXTWIRE_LIMITS_PER_SENDER_PER_MINUTE="1000",
                    )
                    env.update(kv.split("=", 1) for kv in args.env)  # type: ignore[misc]
                    if args.history:
                        await prefill(env["TEXTWIRE_DATABASE_URL"], args.history)
                    cmd = [py, "-m", "bot", "serve", "--config", config]
                    if args.cprofile:  # the whole run under cProfile (slower; for where, not how much)
                        cmd[1:1] = ["-m", "cProfile", "-o", args.cprofile]  # absolute: main()
                results.append({**await run_one(name, cmd, env, rtmp, fake, args), "round": round_no})
    await runner.cleanup()

    print(
        "\n| round | server | answered texts/s (burst 3,000) | CPU ms / answered text | "
        + " | ".join(f"p50 / p99 ms at {r}/s" for r in args.rates)
        + " |"
    )
    print("|---:|---|---:|---:|" + "---:|" * len(args.rates))
    for r in results:
        b = r["burst"]
        cells = [
            f"{r[f'open_{rate}']['p50_ms']:.0f} / {r[f'open_{rate}']['p99_ms']:.0f}"
            + ("" if r[f"open_{rate}"]["complete"] else " (incomplete)")
            for rate in args.rates
        ]
        print(
            f"| {r['round']} | {r['server']} | {b['texts_per_s']:,.0f} | {b['cpu_ms_per_text']:.2f} | "
            + " | ".join(cells)
            + " |"
        )
    for peer in ("durable", "bare", "textwire@base"):
        speed, cpu = [], []
        for round_no in range(args.repeat):
            by = {r["server"]: r["burst"] for r in results if r["round"] == round_no}
            if "textwire" in by and peer in by:
                speed.append(by["textwire"]["texts_per_s"] / by[peer]["texts_per_s"])
                cpu.append(by["textwire"]["cpu_ms_per_text"] / by[peer]["cpu_ms_per_text"])
        if speed:
            print(
                f"textwire / {peer}: texts/s {', '.join(f'{x:.2f}' for x in speed)} (median"
                f" {statistics.median(speed):.2f}); CPU per text {', '.join(f'{x:.1f}x' for x in cpu)}"
                f" (median {statistics.median(cpu):.1f}x)"
            )
    save_results("e2e", {"args": vars(args), "results": results})


def servers(args: argparse.Namespace) -> list[str]:
    """`--only`, and with `--baseline` the textwire servers again from that checkout."""
    names = list(args.only)
    if args.baseline:
        names += [f"{name}@base" for name in args.only if name.startswith("textwire")]
    return names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="bare,durable,textwire", type=lambda s: s.split(","))
    parser.add_argument("--baseline", help="a checkout of another commit: its textwire runs too (@base)")
    parser.add_argument("--rates", default="100,300,1000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--burst", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=500)
    parser.add_argument(
        "--body",
        default="\\HELP",
        help="the text every sender sends; the reply guard answers a repeated ask (\\HELP) once a"
        " sender in 10 minutes, so measure textwire's throughput with a command that is not an ask,"
        " such as \\ROOMS; or warm up with one (--warmup-body) and make the burst each sender's"
        " first \\HELP (--senders = --burst)",
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="textwire's database starts with this many messages handled a day ago (and their replies)",
    )
    parser.add_argument("--warmup-body", help="what the senders text before (default: --body)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of all the servers, interleaved; ratios per round and their median",
    )
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--env", action="append", default=[], help="TEXTWIRE_X=Y for textwire serve")
    parser.add_argument(
        "--profile",
        help="profile the burst of --profile-server into this file: .perf perf record, .strace syscall counts, .svg a py-spy flame graph, else py-spy collapsed stacks",
    )
    parser.add_argument("--profile-server", default="textwire", help="the server --profile watches")
    parser.add_argument("--cprofile", help="run textwire serve under cProfile, stats into this file")
    parser.add_argument("--keep", help="run in this folder and keep it (logs, SQLite files)")
    parser.add_argument("--pg", default="postgresql://textwire:textwire@127.0.0.1:5432/postgres")
    parser.add_argument("--pg-workers", type=int, default=2, help="worker processes beside the web one")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--load-core", type=int, default=1)
    args = parser.parse_args()
    if args.baseline:
        args.baseline = str(Path(args.baseline).resolve())
    if args.cprofile:
        args.cprofile = str(Path(args.cprofile).resolve())
    global BODY, WARMUP_BODY
    BODY = args.body
    WARMUP_BODY = args.warmup_body if args.warmup_body is not None else args.body
    os.sched_setaffinity(0, {args.load_core})
    uvloop.run(amain(args))


if __name__ == "__main__":
    main()
