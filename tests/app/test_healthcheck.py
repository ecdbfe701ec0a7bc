"""The container's HEALTHCHECK (`python -m bot.app.healthcheck`) probes the port the server is
configured with (TEXTWIRE_SERVER_PORT), not a fixed 8080."""

from __future__ import annotations

import asyncio
import os
import socket
import urllib.request
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.app import healthcheck
from tests.test_process import free_port


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("TEXTWIRE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEXTWIRE_SERVER_HOST", "0.0.0.0")
    return monkeypatch


def probed(ready: list[bool]) -> web.Application:
    """A server's `/healthz`, and its `/readyz` answering 503 while `ready[0]` is False."""

    async def readyz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, status=200 if ready[0] else 503)

    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", readyz)
    return app


async def test_probes_the_configured_port(env: pytest.MonkeyPatch) -> None:
    ready = [True]
    app = probed(ready)
    port = free_port()
    async with TestServer(app, host="127.0.0.1", port=port):
        env.setenv("TEXTWIRE_SERVER_PORT", str(port))
        assert healthcheck.healthz_url() == f"http://127.0.0.1:{port}/healthz"
        assert await asyncio.to_thread(healthcheck.main, []) == 0
        assert await asyncio.to_thread(healthcheck.main, ["--ready"]) == 0
        ready[0] = False  # /readyz answers 503: the database or the store is away
        assert await asyncio.to_thread(healthcheck.main, ["--ready"]) == 1
        assert await asyncio.to_thread(healthcheck.main, []) == 0
        env.setenv("TEXTWIRE_SERVER_PORT", str(free_port()))
        assert await asyncio.to_thread(healthcheck.main, []) == 1


def test_a_specific_host_is_probed_as_configured(env: pytest.MonkeyPatch) -> None:
    env.setenv("TEXTWIRE_SERVER_HOST", "::1")
    env.setenv("TEXTWIRE_SERVER_PORT", "9000")
    assert healthcheck.healthz_url() == "http://[::1]:9000/healthz"


async def test_a_server_on_every_ipv6_address_is_probed_on_ipv6(env: pytest.MonkeyPatch) -> None:
    """`server.host = "::"` binds IPv6 only (bot/app/startup.py bind sets IPV6_V6ONLY): the probe
    went to 127.0.0.1, was refused, and the container stayed unhealthy while the server ran."""
    port = free_port()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as bind() does for "::"
    sock.bind(("::", port))
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        env.setenv("TEXTWIRE_SERVER_HOST", "::")
        env.setenv("TEXTWIRE_SERVER_PORT", str(port))
        assert healthcheck.healthz_url() == f"http://[::1]:{port}/healthz"
        assert await asyncio.to_thread(healthcheck.main, []) == 0
    finally:
        await runner.cleanup()


def test_bad_config_is_unhealthy_not_a_traceback(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("TEXTWIRE_SERVER_PORT", "nine")
    assert healthcheck.main([]) == 1
    assert "TEXTWIRE_SERVER_PORT" in capsys.readouterr().err


async def test_ready_carries_the_metrics_token(env: pytest.MonkeyPatch) -> None:
    """A server on one of the host's own addresses (not a wildcard, not loopback) sees the probe
    come from that address, so /readyz answers it only with `server.metrics_token`: `--ready`
    sent none and got 403 whatever the database did (unhealthy for good)."""
    seen: list[str] = []

    async def readyz(request: web.Request) -> web.Response:  # as the server answers a non-loopback peer
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != "Bearer s3cret":
            raise web.HTTPForbidden(text="forbidden")
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/readyz", readyz)
    port = free_port()
    async with TestServer(app, host="127.0.0.1", port=port):
        env.setenv("TEXTWIRE_SERVER_HOST", "127.0.0.1")
        env.setenv("TEXTWIRE_SERVER_PORT", str(port))
        env.setenv("TEXTWIRE_SERVER_METRICS_TOKEN", "s3cret")
        assert await asyncio.to_thread(healthcheck.main, ["--ready"]) == 0
        env.delenv("TEXTWIRE_SERVER_METRICS_TOKEN")
        assert await asyncio.to_thread(healthcheck.main, ["--ready"]) == 1
    assert seen == ["Bearer s3cret", ""]


async def test_ready_waits_for_the_checks_of_a_slow_database(env: pytest.MonkeyPatch) -> None:
    """`/readyz` takes up to its checks' 4 s to answer (a slow database): the probe gave up at 2 s
    and called a database that answered at 2.5 s down; it waits long enough for the answer, and
    within deploy/compose.yaml's timeout."""
    from bot.gateway.routes import READY_CHECK_SECONDS

    assert READY_CHECK_SECONDS < healthcheck.READY_SECONDS <= 5.0
    assert "timeout: 6s" in (Path(__file__).parents[2] / "deploy" / "compose.yaml").read_text()
    answered = asyncio.Event()

    async def readyz(request: web.Request) -> web.Response:
        await asyncio.sleep(2.5)  # the slow database: a check that answers late, not a wait for state
        answered.set()
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/readyz", readyz)
    port = free_port()
    async with TestServer(app, host="127.0.0.1", port=port):
        env.setenv("TEXTWIRE_SERVER_PORT", str(port))
        assert await asyncio.to_thread(healthcheck.main, ["--ready"]) == 0
    assert answered.is_set()


async def test_the_probe_never_goes_through_the_outbound_proxy(env: pytest.MonkeyPatch) -> None:
    """`HTTP_PROXY` (README: outbound HTTP through a proxy) is set in the container for Twilio, X
    and S3: the probe of the server's own port went to that proxy, so the container turned
    unhealthy while the server answered (and `--ready` handed the proxy the metrics token)."""
    proxied: list[str] = []

    async def proxy(request: web.Request) -> web.Response:  # a proxy that cannot reach the container
        proxied.append(request.headers.get("Authorization", ""))
        return web.Response(status=502)

    proxy_app = web.Application()
    proxy_app.router.add_route("*", "/{tail:.*}", proxy)
    app = web.Application()
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _healthz)
    port, proxy_port = free_port(), free_port()
    async with (
        TestServer(app, host="127.0.0.1", port=port),
        TestServer(proxy_app, host="127.0.0.1", port=proxy_port),
    ):
        env.setenv("TEXTWIRE_SERVER_PORT", str(port))
        env.setenv("TEXTWIRE_SERVER_METRICS_TOKEN", "s3cret")
        for name in ("HTTP_PROXY", "http_proxy"):
            env.setenv(name, f"http://127.0.0.1:{proxy_port}")
        for name in ("NO_PROXY", "no_proxy"):
            env.delenv(name, raising=False)
        # each probe is a new process: urlopen's opener, made once a process, reads the proxy then
        env.setattr(urllib.request, "_opener", None)
        assert await asyncio.to_thread(healthcheck.main, []) == 0
        assert await asyncio.to_thread(healthcheck.main, ["--ready"]) == 0
    assert proxied == []


async def test_config_is_read_from_the_file_given_and_a_mistyped_flag_is_said(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`serve --config /etc/textwire/config.toml` (the systemd units) listens on that file's port;
    `healthcheck --config` of the same file probed ./config.toml's 8080 instead, and called the
    server down. A mistyped `--readyz` probed `/healthz` and said healthy while the database was
    away. Both flags are read now, and anything else is one line, unhealthy."""
    ready = [False]
    app = probed(ready)
    port = free_port()
    config = tmp_path / "textwire.toml"
    config.write_text(f'[server]\nhost = "127.0.0.1"\nport = {port}\n')
    env.delenv("TEXTWIRE_SERVER_HOST")
    env.chdir(tmp_path)  # no ./config.toml: the defaults would be port 8080
    async with TestServer(app, host="127.0.0.1", port=port):
        assert await asyncio.to_thread(healthcheck.main, ["--config", str(config)]) == 0
        assert await asyncio.to_thread(healthcheck.main, [f"--config={config}", "--ready"]) == 1
        ready[0] = True
        assert await asyncio.to_thread(healthcheck.main, ["--ready", "--config", str(config)]) == 0
        capsys.readouterr()
        assert await asyncio.to_thread(healthcheck.main, ["--readyz", "--config", str(config)]) == 1
        err = capsys.readouterr().err
        assert "--readyz" in err
        assert "--ready" in err.replace("--readyz", "")
        assert await asyncio.to_thread(healthcheck.main, ["--config"]) == 1
