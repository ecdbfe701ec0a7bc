"""What the benchmarks share: a free loopback port, waiting for a server to come up, a database of
their own on a PostgreSQL server, and where their results go."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def save_results(kind: str, payload: Any) -> Path:
    """`payload` as bench/results/KIND-<unix time>.json (kept out of git); its path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{kind}-{int(time.time())}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Until `url` answers (200, or 405 from a POST-only app); exits if the server dies first."""
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code == 405:  # the bare app has only POST
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not come up")


async def create_pg_database(server_url: str, prefix: str) -> str:
    """A new database on the PostgreSQL server of `server_url` (a role that may create them); its URL."""
    import asyncpg

    name = prefix + secrets.token_hex(4)
    admin = await asyncpg.connect(server_url.replace("postgresql://", "postgres://"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(server_url: str, url: str) -> None:
    """Drop the database of `url` (made by `create_pg_database`). Its clients have stopped, but a
    backend may not have noticed yet: FORCE ends what is left (PostgreSQL 13 and later)."""
    import asyncpg

    admin = await asyncpg.connect(server_url.replace("postgresql://", "postgres://"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()
