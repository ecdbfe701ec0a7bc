"""`python -m bot.app.healthcheck [--ready] [--config PATH]`: the container's HEALTHCHECK. It reads
the same configuration as `serve` (`--config`, else `$TEXTWIRE_CONFIG`, else ./config.toml, and
`TEXTWIRE_*`), so it probes the port the server really listens on: `/healthz` (the process
answers), or with `--ready` `/readyz` (the database and the media store answer too;
deploy/compose.yaml waits on it)."""

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


USAGE = "usage: python -m bot.app.healthcheck [--ready] [--config PATH]"


def healthz_url(path: str = "/healthz", config_path: str | None = None) -> str:
    return _probe(path, config_path).full_url


def _arguments(args: list[str]) -> tuple[bool, str | None]:
    """`--ready` and `--config PATH` (or `--config=PATH`), as `serve` takes it. Anything else is a
    ValueError: ignored, `--config` probed ./config.toml's port and a mistyped `--ready` probed
    `/healthz`, each a wrong answer given with confidence."""
    ready, config_path, rest = False, None, list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--ready":
            ready = True
        elif arg == "--config" and rest:
            config_path = rest.pop(0)
        elif arg.startswith("--config=") and arg != "--config=":
            config_path = arg.removeprefix("--config=")
        elif arg.startswith("--config"):
            raise ValueError("--config needs a PATH")
        else:
            raise ValueError(f"{arg!r} is not an argument it takes")
    return ready, config_path


def _probe(path: str, config_path: str | None = None) -> urllib.request.Request:
    """The request to send. It carries `server.metrics_token` when one is set: `/readyz` answers
    without it only on loopback, and a server on a host's own address (not a wildcard) sees the
    probe come from that address, so `--ready` got 403 there, unhealthy for good."""
    config = load_config(config_path)
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
        # 1, not argparse's 2: Docker reserves a HEALTHCHECK's exit code 2
        ready, config_path = _arguments(args)
    except ValueError as exc:
        print(f"healthcheck: {exc}; {USAGE}", file=sys.stderr)
        return 1
    try:
        request = _probe("/readyz" if ready else "/healthz", config_path)
    except ConfigError as exc:
        print(f"healthcheck: configuration error: {exc}", file=sys.stderr)
        return 1
    try:
        timeout = READY_SECONDS if ready else LIVE_SECONDS
        with OPENER.open(request, timeout=timeout) as resp:
            return 0 if resp.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck: {request.full_url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
