"""deploy/compose.yaml for real (issue 27, item 1): PostgreSQL, the one-shot migrate, one web and
two workers from the image built from this checkout, against a local fake of Twilio's Messages
API on this host. `up` answers signed webhooks; a worker restarted in the middle of a burst loses
and doubles nothing; `down -v` leaves nothing behind.

It needs a Docker engine (`DOCKER_HOST`, see ../shared/tools/container/README.md), docker-compose,
and two local images: `textwire:compose-test` (this checkout's Dockerfile) and
`textwire-test-postgres:15` (tests/container/postgres, a stand-in for the official image, since
no registry is reachable here). Without them it is skipped, saying so; it builds the images
itself when the engine is there (a few minutes the first time).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography.fernet import Fernet
from twilio.request_validator import RequestValidator

from tests import ROOT
from tests.fakes.twilio_rest import FakeTwilio
from tests.test_process import free_port

COMPOSE = shutil.which("docker-compose")
DOCKER = shutil.which("docker")
NO_ENGINE = "no container engine: start one (../shared/tools/container/start-dockerd.sh, DOCKER_HOST)"
IMAGE, PG_IMAGE = "textwire:compose-test", "textwire-test-postgres:15"
PROJECT = "textwire-compose-test"
TEXTS, SENDERS = 240, 40


def _engine_up() -> bool:
    if DOCKER is None or COMPOSE is None:
        return False
    result = subprocess.run([DOCKER, "info"], capture_output=True, timeout=30, check=False)  # noqa: S603
    return result.returncode == 0


pytestmark = pytest.mark.skipif(not _engine_up(), reason=NO_ENGINE)


def run(
    *args: str, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the engine's own CLI on our files
        list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def ensure_image(tag: str, context: Path) -> None:
    if run(str(DOCKER), "image", "inspect", tag, timeout=30).returncode == 0:
        return
    built = run(str(DOCKER), "build", "-t", tag, str(context), timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]


@pytest.fixture(scope="module")
def images() -> None:
    ensure_image(PG_IMAGE, ROOT / "tests" / "container" / "postgres")
    ensure_image(IMAGE, ROOT)


class Stack:
    def __init__(self, tmp: Path, twilio: FakeTwilio, twilio_port: int) -> None:
        self.port = free_port()
        self.twilio_port = twilio_port
        self.public_url = f"http://127.0.0.1:{self.port}"
        self.twilio = twilio
        self.metrics_token = secrets.token_urlsafe(16)  # /readyz from outside the container
        env_file = tmp / "textwire.env"
        env_file.write_text(
            "\n".join(
                [
                    f"TEXTWIRE_SECURITY_FERNET_KEYS={Fernet.generate_key().decode()}",
                    f"TEXTWIRE_SERVER_PUBLIC_URL={self.public_url}",
                    f"TEXTWIRE_TWILIO_ACCOUNT_SID={twilio.account_sid}",
                    f"TEXTWIRE_TWILIO_AUTH_TOKEN={twilio.auth_token}",
                    "TEXTWIRE_TWILIO_FROM_NUMBER=+15557654321",
                    f"TEXTWIRE_TWILIO_API_BASE=http://host.docker.internal:{twilio_port}",
                    "TEXTWIRE_MEDIA_OCR=false",
                    f"TEXTWIRE_SERVER_METRICS_TOKEN={self.metrics_token}",
                    "TEXTWIRE_LOG_FORMAT=json",
                ]
            )
            + "\n"
        )
        override = tmp / "override.yaml"
        override.write_text(
            "services:\n"
            + "".join(
                f'  {service}:\n    extra_hosts: ["host.docker.internal:host-gateway"]\n'
                for service in ("migrate", "web", "worker")
            )
        )
        self.env = {
            **os.environ,
            "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
            "POSTGRES_IMAGE": PG_IMAGE,
            "TEXTWIRE_IMAGE": IMAGE,
            "TEXTWIRE_ENV_FILE": str(env_file),
            "TEXTWIRE_PORT": str(self.port),
        }
        self.files = ["-f", str(ROOT / "deploy" / "compose.yaml"), "-f", str(override)]

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run(str(COMPOSE), "-p", PROJECT, *self.files, *args, timeout=timeout, env=self.env)

    def sign(self, form: dict[str, str]) -> str:
        signed: str = RequestValidator(self.twilio.auth_token).compute_signature(
            f"{self.public_url}/twilio/sms", form
        )
        return signed


@pytest.fixture
def stack(images: None, tmp_path: Path) -> Iterator[Stack]:
    twilio = FakeTwilio()
    it = Stack(tmp_path, twilio, free_port())
    it.compose("down", "-v", "--remove-orphans", timeout=300)
    try:
        yield it
    finally:
        logs = it.compose("logs", "--no-color", "--tail", "200", timeout=120)
        (tmp_path / "compose.log").write_text(logs.stdout + logs.stderr)
        down = it.compose("down", "-v", "--remove-orphans", timeout=300)
        assert down.returncode == 0, down.stderr


async def _ready(url: str, token: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        while True:
            try:
                async with http.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, f"{url}/readyz never answered 200"
            await asyncio.sleep(0.5)


@pytest.mark.timeout(1200)
def test_up_answers_webhooks_and_a_restarted_worker_loses_and_doubles_nothing(stack: Stack) -> None:
    asyncio.run(_up_and_burst(stack))


async def _up_and_burst(it: Stack) -> None:
    twilio = it.twilio
    # the fake Twilio on this host, where the containers reach it (host.docker.internal)
    server = TestServer(twilio.app(), host="0.0.0.0", port=it.twilio_port)
    await server.start_server()
    try:
        up = await asyncio.to_thread(it.compose, "up", "-d", "--scale", "worker=2")
        assert up.returncode == 0, up.stdout + up.stderr
        ps = (await asyncio.to_thread(it.compose, "ps")).stdout
        assert ps.count("_worker_") >= 2, ps
        assert "Exit 0" in (await asyncio.to_thread(it.compose, "ps", "migrate")).stdout
        await _ready(it.public_url, it.metrics_token, 180)
        senders = [f"+1555{n:07d}" for n in range(SENDERS)]
        await _burst(it, twilio, senders)
    finally:
        await server.close()
    per_sender = Counter(m["To"] for m in twilio.messages)
    assert per_sender == dict.fromkeys(senders, TEXTS // SENDERS), per_sender  # each answered once


async def _burst(it: Stack, twilio: FakeTwilio, senders: list[str]) -> None:
    """TEXTS signed \\HELP texts; a third of the way through, one worker is restarted."""
    sids = []
    restart: asyncio.Task[subprocess.CompletedProcess[str]] | None = None
    async with aiohttp.ClientSession() as http:
        for n in range(TEXTS):
            form = {
                "MessageSid": "SM" + secrets.token_hex(16),
                "AccountSid": twilio.account_sid,
                "From": senders[n % len(senders)],
                "To": "+15557654321",
                "Body": "\\HELP",
                "NumMedia": "0",
            }
            async with http.post(
                f"{it.public_url}/twilio/sms", data=form, headers={"X-Twilio-Signature": it.sign(form)}
            ) as resp:
                assert resp.status == 200, await resp.text()
            sids.append(form["MessageSid"])
            if n == TEXTS // 3:  # one of the two workers: SIGTERM, then it starts again, while texts go on
                ids = (await asyncio.to_thread(it.compose, "ps", "-q", "worker")).stdout.split()
                assert len(ids) == 2, ids
                restart = asyncio.create_task(
                    asyncio.to_thread(run, str(DOCKER), "restart", "-t", "30", ids[0])
                )
    assert restart is not None
    restarted = await restart
    assert restarted.returncode == 0, restarted.stderr
    await twilio.wait_for_messages(TEXTS, timeout=300)
    await asyncio.sleep(3)  # a doubled reply would come now
    assert len(twilio.messages) == TEXTS
