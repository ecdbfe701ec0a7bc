"""bench/webhook: POST /twilio/sms (or /telegram/webhook) of the real server vs a bare aiohttp app,
same core, one run.

Both servers are pinned to one core (taskset); wrk runs on the other with a Lua script over
pre-signed, unique webhooks (every request a new MessageSid or update_id, so every one is a real
insert). After the run the inbox is counted: every 200 must be a committed row.

    .venv/bin/python bench/webhook.py [--duration 10] [--connections 64] [--log-level info]
    .venv/bin/python bench/webhook.py --channel telegram --worker off   # Telegram's Updates
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port, save_results, wait_healthy  # noqa: E402
from bot.channels.twilio.signature import SignatureChecker  # noqa: E402

LUA = r"""
local bodies, sigs, n, i = {}, {}, 0, 0
local bad = 0
function init(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    n = n + 1
    sigs[n] = line:sub(1, tab - 1)
    bodies[n] = line:sub(tab + 1)
  end
end
function request()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format("POST", "%(path)s",
    {["Content-Type"] = "%(content_type)s", ["%(header)s"] = sigs[i]}, bodies[i])
end
"""
CHANNELS = {
    "sms": {
        "path": "/twilio/sms",
        "content_type": "application/x-www-form-urlencoded",
        "header": "X-Twilio-Signature",
    },
    "telegram": {
        "path": "/telegram/webhook",
        "content_type": "application/json",
        "header": "X-Telegram-Bot-Api-Secret-Token",
    },
}
TELEGRAM_TOKEN = "123456789:bench-token"  # noqa: S105 - a local benchmark's
TELEGRAM_SECRET = "bench-secret_0123456789"  # noqa: S105


def make_updates(path: Path, count: int) -> None:
    """Telegram Updates, each a new update_id, from 1,000 chats; the secret as each line's header."""
    with path.open("w") as out:
        for n in range(count):
            chat = 10_000 + n % 1000
            update = {
                "update_id": n + 1,
                "message": {
                    "message_id": n + 1,
                    "date": 1_790_000_000,
                    "chat": {"id": chat, "type": "private", "first_name": "Ann"},
                    "from": {"id": chat, "is_bot": False, "first_name": "Ann"},
                    "text": "Lunch at Mario's, 23.40 split 3 ways",
                },
            }
            out.write(TELEGRAM_SECRET + "\t" + json.dumps(update, separators=(",", ":")) + "\n")


def make_bodies(path: Path, token: str, public_url: str, count: int) -> None:
    checker = SignatureChecker(token)
    url = public_url + "/twilio/sms"
    with path.open("w") as out:
        for n in range(count):
            form = [
                ("MessageSid", "SM" + secrets.token_hex(16)),
                ("AccountSid", "AC" + "0" * 32),
                ("From", f"+1555{n % 1000000:07d}"),
                ("To", "+15550000000"),
                ("Body", "Lunch at Mario's, 23.40 split 3 ways"),
                ("NumMedia", "0"),
                ("NumSegments", "1"),
            ]
            out.write(checker.sign(url, form) + "\t" + urlencode(form) + "\n")


def run_wrk(port: int, script: Path, data: Path, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        "taskset",
        "-c",
        str(args.wrk_core),
        "wrk",
        "-t1",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        str(data),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(label: str) -> float:
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {
        "rps": rps,
        "requests": total,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--worker", choices=["on", "off"], default="on")
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--wrk-core", type=int, default=1)
    parser.add_argument("--channel", choices=sorted(CHANNELS), default="sms")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp_name:
        tmp = Path(tmp_name)
        script = tmp / "signed.lua"
        script.write_text(LUA % CHANNELS[args.channel])
        results: dict[str, dict[str, float]] = {}

        # 1. the bare app
        port = free_port()
        bare = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(args.server_core),
                sys.executable,
                str(ROOT / "bench" / "bare_app.py"),
                str(port),
            ]
        )
        try:
            wait_healthy(f"http://127.0.0.1:{port}/twilio/sms", bare)
            data = tmp / "bare.tsv"
            if args.channel == "telegram":
                make_updates(data, 1000)
            else:
                make_bodies(data, "x", f"http://127.0.0.1:{port}", 1000)
            results["bare aiohttp"] = run_wrk(port, script, data, args)
        finally:
            bare.terminate()
            bare.wait()

        # 2. textwire serve, embedded default (SQLite WAL, group commit), dev mode
        port = free_port()
        public_url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
        env.update(
            TEXTWIRE_SERVER_PORT=str(port),
            TEXTWIRE_SERVER_PUBLIC_URL=public_url,
            TEXTWIRE_SERVER_DATA_DIR=str(tmp / "data"),
            TEXTWIRE_DATABASE_URL=f"sqlite:///{tmp}/data/textwire.db",
            TEXTWIRE_MEDIA_LOCAL_DIR=str(tmp / "data" / "media"),
            TEXTWIRE_LOG_LEVEL=args.log_level,
            TEXTWIRE_LOG_FORMAT="json",
            TEXTWIRE_SERVER_ROLE="all" if args.worker == "on" else "web",
        )
        if args.channel == "telegram":  # its sends go nowhere: measure with --worker off
            env.update(
                TEXTWIRE_TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
                TEXTWIRE_TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
                TEXTWIRE_TELEGRAM_API_BASE=f"http://127.0.0.1:{free_port()}",
            )
        log_file = (tmp / "server.log").open("wb")
        server = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(args.server_core),
                sys.executable,
                "-m",
                "bot",
                "serve",
                "--config",
                str(ROOT / "config.toml"),
            ],
            cwd=tmp,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_healthy(f"{public_url}/healthz", server)
            token = (tmp / "data" / "dev-twilio-token").read_text().strip()
            data = tmp / "signed.tsv"
            if args.channel == "telegram":
                make_updates(data, args.duration * 30000)
            else:
                make_bodies(data, token, public_url, args.duration * 30000)
            results["textwire"] = run_wrk(port, script, data, args)
        finally:
            server.terminate()
            server.wait(30)
            log_file.close()
        rows = (
            sqlite3.connect(tmp / "data" / "textwire.db").execute("SELECT count(*) FROM inbox").fetchone()[0]
        )

    tw, bare_r = results["textwire"], results["bare aiohttp"]
    accepted = tw["requests"] - tw["non2xx"]
    print("| server | requests/s | p50 ms | p99 ms | requests | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['requests']:.0f} | {r['non2xx']:.0f} |"
        )
    print(f"\nratio textwire/bare: {tw['rps'] / bare_r['rps']:.2f}")
    print(
        f"inbox rows committed: {rows}; 200s answered: {accepted:.0f} (every 200 a committed row: {rows >= accepted})"
    )
    print(
        f"settings: {args.channel}, {args.connections} connections, {args.duration}s, log level {args.log_level},"
        f" worker {args.worker}"
    )
    save_results("webhook", {"args": vars(args), "results": results, "rows": rows})


if __name__ == "__main__":
    main()
