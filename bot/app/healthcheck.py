"""`python -m bot.app.healthcheck [--ready]`: the container's HEALTHCHECK. It reads the same
configuration as `serve` (config file and `TEXTWIRE_*`), so it probes the port the server really
listens on: `/healthz` (the process answers), or with `--ready` `/readyz` (the database and the
media store answer too; deploy/compose.yaml waits on it)."""

from __future__ import annotations

import sys
import urllib.request

from bot.core.config import ConfigError, load_config

# a wildcard is probed on the loopback of its family: the server binds "::" IPv6 only
# (bot/app/startup.py bind), so a probe of 127.0.0.1 was refused and the container never healthy
WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104 - the wildcard addresses
LIVE_SECONDS = 2.0  # `/healthz` answers at once when the process is up
# `/readyz` may take its checks' 4 s (bot/gateway/routes.py READY_CHECK_SECONDS) to say ready or
# not: a probe that gave up at 2 s called a slow but answering database down, and never saw the
# 503 of one that was. Under deploy/compose.yaml's 6 s, with Python's start-up.
READY_SECONDS = 4.5
# the probe is of this container's own server: never through the outbound proxy `HTTP_PROXY`
# names (README: outbound HTTP, for Twilio, X and S3), which cannot reach it (unhealthy while the
# server answers) and would be handed `server.metrics_token`
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def healthz_url(path: str = "/healthz") -> str:
    return _probe(path).full_url


def _probe(path: str) -> urllib.request.Request:
    """The request to send. It carries `server.metrics_token` when one is set: `/readyz` answers
    without it only on loopback, and a server on a host's own address (not a wildcard) sees the
    probe come from that address, so `--ready` got 403 there, unhealthy for good."""
    config = load_config()
    host = config.server.host
    host = WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    token = config.server.metrics_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return urllib.request.Request(f"http://{host}:{config.server.port}{path}", headers=headers)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        request = _probe("/readyz" if "--ready" in args else "/healthz")
    except ConfigError as exc:
        print(f"healthcheck: configuration error: {exc}", file=sys.stderr)
        return 1
    try:
        timeout = READY_SECONDS if "--ready" in args else LIVE_SECONDS
        with OPENER.open(request, timeout=timeout) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {request.full_url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
