"""Real processes over one database (issue 9): one process takes the webhooks, two more work the
queue; one of those is killed with kill -9 in the middle of a burst. Every message is handled
once and answered once, each sender's messages in order, and the dead process's claims are taken
over once its heartbeat is stale (the processes run on shorter leases, tests/test_process.py's
SHORT_LEASES; tests/pipeline/test_leases.py holds the real ones to SPEC's 15 s). On SQLite
(several processes on one file), and on PostgreSQL when this build can reach one (the
`database_url` fixture of tests/conftest.py)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from bot.core.config import ServerConfig
from storage import outbox
from storage.db import Database
from tests.conftest import new_sid, wait_for
from tests.fakes.twilio_rest import FakeTwilio
from tests.test_process import SHORT_LEASES, bot_command, free_port, stop_processes, wait_healthy

HAS_ROLES = "role" in {f.name for f in dataclasses.fields(ServerConfig)}
# at most replyguard.BUDGET texts a sender: more in 30 s and the guard delays replies
SENDERS = 40
PER_SENDER = 6


def _env(tmp_path: Path, url: str, fake: FakeTwilio, port: int, role: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env.update(
        TEXTWIRE_SERVER_PORT=str(port),
        TEXTWIRE_SERVER_PUBLIC_URL="https://sms.example.test",
        TEXTWIRE_SERVER_DATA_DIR=str(tmp_path / "data"),
        TEXTWIRE_DATABASE_URL=url,
        TEXTWIRE_MEDIA_LOCAL_DIR=str(tmp_path / "data" / "media"),
        TEXTWIRE_LOG_FORMAT="json",
        TEXTWIRE_TWILIO_ACCOUNT_SID=fake.account_sid,
        TEXTWIRE_TWILIO_AUTH_TOKEN=fake.auth_token,
        TEXTWIRE_TWILIO_FROM_NUMBER="+15557654321",
        TEXTWIRE_TWILIO_API_BASE=fake.api_base,
        TEXTWIRE_WORKER_POLL_SECONDS="0.2",
    )
    if HAS_ROLES:
        env["TEXTWIRE_SERVER_ROLE"] = role
    return env


def _start(
    tmp_path: Path,
    env: dict[str, str],
    name: str,
    *args: str,
    constants: Mapping[str, Mapping[str, object]] | None = None,
) -> subprocess.Popen[bytes]:
    config = str(Path(__file__).parent.parent / "config.toml")
    with open(tmp_path / f"{name}.log", "wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            bot_command(*args, "--config", config, constants=constants),
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_a_burst_over_three_processes_with_one_killed(
    tmp_path: Path, fake_twilio: FakeTwilio, database_url: str
) -> None:
    (tmp_path / "data").mkdir(exist_ok=True)
    ports = [free_port() for _ in range(3)]
    envs = [
        _env(tmp_path, database_url, fake_twilio, port, role)
        for port, role in zip(ports, ["web", "worker", "worker"], strict=True)
    ]
    migrate = _start(tmp_path, envs[0], "migrate", "migrate")
    assert await asyncio.to_thread(migrate.wait, 120) == 0
    procs: list[subprocess.Popen[bytes]] = []
    db = Database(database_url)
    try:
        async with aiohttp.ClientSession() as session:
            procs.append(_start(tmp_path, envs[0], "web", "serve", constants=SHORT_LEASES))
            await wait_healthy(session, ports[0], procs[0], within=60)
            # the worker to be killed starts first and takes the first half alone: with both
            # running, one process's sender could hold every number's reply in flight while the
            # other found each number's next reply waiting behind it (replies to a number go in
            # order across processes), and the victim sometimes held nothing to take over
            procs.append(_start(tmp_path, envs[1], "worker1", "serve", constants=SHORT_LEASES))
            await wait_healthy(session, ports[1], procs[1], within=60)

            validator = RequestValidator(fake_twilio.auth_token)
            url = "https://sms.example.test/twilio/sms"
            senders = [f"+1555000{n:04d}" for n in range(SENDERS)]
            texts = [(s, f"\\T{n}X{k}") for k in range(PER_SENDER) for n, s in enumerate(senders)]

            async def post(sender: str, body: str) -> None:
                form = {
                    "MessageSid": new_sid(),
                    "AccountSid": fake_twilio.account_sid,
                    "From": sender,
                    "To": "+15557654321",
                    "Body": body,
                    "NumMedia": "0",
                }
                headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
                async with session.post(
                    f"http://127.0.0.1:{ports[0]}/twilio/sms", data=form, headers=headers
                ) as resp:
                    assert resp.status == 200, await resp.text()

            # first half, then the second worker, then kill -9 the first while it has sends in
            # flight (Twilio takes each SMS and answers 5 s later: a number's three replies in
            # turn keep it busy about 15 s, longer than the second worker takes to start on a
            # loaded machine), then the rest
            fake_twilio.delay_after_accepting = 5.0
            half = len(texts) // 2
            await asyncio.gather(*(post(s, b) for s, b in texts[:half]))

            async def victim_owner() -> str | None:
                # a victim that stopped (its row is deleted as it stops) says why, not "no row"
                assert victim.poll() is None, (tmp_path / "worker1.log").read_text()[-3000:]
                async with db.read() as conn:
                    for owner in (await conn.execute(sa.text("SELECT id FROM processes"))).scalars():
                        if f"-{victim.pid}-" in str(owner):
                            return str(owner)
                return None

            async def dead_claims() -> int:
                async with db.read() as conn:
                    return int(
                        (
                            await conn.execute(
                                sa.text(
                                    "SELECT (SELECT count(*) FROM inbox WHERE status = 'processing'"
                                    " AND claimed_by = :o) + (SELECT count(*) FROM outbox"
                                    " WHERE status = 'sending' AND claimed_by = :o)"
                                ),
                                {"o": owner},
                            )
                        ).scalar_one()
                    )

            async def victim_busy() -> bool:
                return await dead_claims() > 0

            victim = procs[1]
            owner = await wait_for(victim_owner, within=30)
            await wait_for(victim_busy, within=60)  # alone, with Twilio slow: it holds sends in flight
            procs.append(_start(tmp_path, envs[2], "worker2", "serve", constants=SHORT_LEASES))
            await wait_healthy(session, ports[2], procs[2], within=60)
            await wait_for(victim_busy, within=60)
            victim.send_signal(signal.SIGKILL)
            await asyncio.to_thread(victim.wait, 30)
            killed_at = time.monotonic()
            fake_twilio.delay_after_accepting = 0
            await asyncio.gather(*(post(s, b) for s, b in texts[half:]))

            async def taken_over() -> bool:
                return await dead_claims() == 0

            # once its heartbeat is STALE_SECONDS old, at the next look: with the leases' timers
            # as they are, 12 s of SPEC's 15 (tests/pipeline/test_leases.py); 8 s of slack
            short = SHORT_LEASES["bot.pipeline.leases"]
            within = short["STALE_SECONDS"] + short["HEARTBEAT_SECONDS"] + 8
            await wait_for(taken_over, within=within)
            assert time.monotonic() - killed_at < within

            def reply(body: str) -> str:
                return f"Unknown command {body}. Send \\HELP for the list."

            async def all_answered() -> bool:
                bodies = {m["Body"] for m in fake_twilio.messages}
                return all(reply(b) in bodies for _, b in texts)

            await wait_for(all_answered, within=120)

            async def settled() -> bool:
                async with db.read() as conn:
                    busy = (
                        await conn.execute(
                            sa.text(
                                "SELECT (SELECT count(*) FROM inbox WHERE status IN ('pending', 'processing'))"
                                " + (SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending'))"
                            )
                        )
                    ).scalar_one()
                return int(busy) == 0

            await wait_for(settled, within=60)

        # each text answered once
        counts = collections.Counter(m["Body"] for m in fake_twilio.messages)
        assert {b: counts[reply(b)] for _, b in texts} == {b: 1 for _, b in texts}
        assert len(fake_twilio.messages) == len(texts)
        async with db.read() as conn:
            rows = (
                await conn.execute(sa.text("SELECT from_phone, body, status, done_at FROM inbox ORDER BY id"))
            ).all()
        assert len(rows) == len(texts)
        assert {r.status for r in rows} == {"done"}
        # each sender's texts handled in arrival order (ids are arrival order; done_at is the
        # commit of each outcome, and a sender's next text is claimable only after that)
        by_sender: dict[str, list[Any]] = collections.defaultdict(list)
        for row in rows:
            by_sender[row.from_phone].append(row)
        for sender, handled in by_sender.items():
            assert sorted(r.body for r in handled) == sorted(b for s, b in texts if s == sender)
            assert [r.done_at for r in handled] == sorted(r.done_at for r in handled), sender
    finally:
        await asyncio.to_thread(stop_processes, procs)
        await db.close()


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
async def test_a_reply_held_behind_another_worker_goes_once_that_send_is_committed(
    tmp_path: Path, fake_twilio: FakeTwilio, database_url: str
) -> None:
    """Two `--role worker` processes on PostgreSQL, polling only every 5 minutes. The first sends
    a reply to a number and Twilio holds its answer; the second, starting, claims and leaves that
    number's next reply (storage/outbox.py `_SENT_ELSEWHERE`). When Twilio answers, the first
    commits the send and its NOTIFY wakes the second, which sends the next reply at once; it
    waited for a poll before (1 s by default, and 5 minutes here)."""
    (tmp_path / "data").mkdir(exist_ok=True)
    ports = [free_port() for _ in range(2)]
    envs = [_env(tmp_path, database_url, fake_twilio, port, "worker") for port in ports]
    for env in envs:
        env.update(TEXTWIRE_WORKER_POLL_SECONDS="300", TEXTWIRE_TWILIO_TIMEOUT_SECONDS="300")
    migrate = _start(tmp_path, envs[0], "migrate", "migrate")
    assert await asyncio.to_thread(migrate.wait, 120) == 0
    alice, bob = "+15550001111", "+15550002222"
    held = {to: fake_twilio.hold_to.setdefault(to, asyncio.Event()) for to in (alice, bob)}
    procs: list[subprocess.Popen[bytes]] = []
    db = Database(database_url)

    async def listening(name: str) -> bool:
        return b'"notify.listening"' in (tmp_path / f"{name}.log").read_bytes()

    async def queue(*replies: tuple[str, str], notify: bool = False) -> None:
        async with db.tx() as conn:
            now = time.time()
            for to, body in replies:
                await outbox.enqueue(conn, to=to, body=body, dedupe_key=body, now=now)
        if notify:
            async with db.tx() as conn:
                await conn.execute(sa.text("SELECT pg_notify('textwire_outbox', '')"))

    def bodies() -> list[str]:
        return [m["Body"] for m in fake_twilio.messages]

    try:
        async with aiohttp.ClientSession() as session:
            for n, name in enumerate(("worker1", "worker2")):
                if n == 1:  # while the first holds a0 in flight: a1 to the same number, b0 to another
                    await queue((alice, "a1"), (bob, "b0"))
                procs.append(_start(tmp_path, envs[n], name, "serve"))
                await wait_healthy(session, ports[n], procs[n], within=60)
                await wait_for(lambda name=name: listening(name), within=60)  # type: ignore[misc]
                if n == 0:
                    await queue((alice, "a0"), notify=True)
                    await fake_twilio.wait_for_messages(1, timeout=60)
            # the second claimed as it started: b0 (held too), not a1, which waits behind a0
            await fake_twilio.wait_for_messages(2, timeout=60)
            assert bodies() == ["a0", "b0"]
            released = time.monotonic()
            held[alice].set()

            async def a1_sent() -> bool:
                return "a1" in bodies()

            await wait_for(a1_sent, within=30)
            waited = time.monotonic() - released
            print(f"a1 sent {waited * 1000:.0f} ms after Twilio answered a0")
            held[bob].set()
            assert bodies() == ["a0", "b0", "a1"]
            async with db.read() as conn:
                a1 = (await conn.execute(sa.text("SELECT id FROM outbox WHERE body = 'a1'"))).scalar_one()

            async def sent_by(name: str) -> set[object]:
                lines = (tmp_path / f"{name}.log").read_text().splitlines()
                events = [json.loads(line) for line in lines if line.startswith("{")]
                return {e.get("outbox_id") for e in events if e.get("event") == "sms.sent"}

            async def logged() -> bool:
                return a1 in await sent_by("worker2")

            await wait_for(logged, within=30)  # the second sent it: woken by the first's commit
            assert a1 not in await sent_by("worker1")
    finally:
        for event in held.values():
            event.set()
        await asyncio.to_thread(stop_processes, procs)
        await db.close()
