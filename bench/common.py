"""What the benchmarks share: a free loopback port, waiting for a server to come up, and a
database of their own on a PostgreSQL server."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    """Drop the database of `url` (made by `create_pg_database`; nothing connected to it)."""
    import asyncpg

    admin = await asyncpg.connect(server_url.replace("postgresql://", "postgres://"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}"')
    finally:
        await admin.close()
