"""`textwire serve`: bind, start, say where, wait for SIGTERM, drain, stop.

1. The folders are checked and the port is bound before anything starts: a port in use stops
   start-up with one line (bot/app/startup.py), and nothing says "started" before the server listens.
2. The app starts (bot/app/assembly.py: database, features, the parts of `server.role`), then it listens,
   then one block (or one `app.started` JSON event) says where, in which mode, and what next.
3. SIGTERM or SIGINT: stop listening, let requests in flight finish (bot/gateway/drain.py), then stop the
   parts in reverse and close the resources.
4. A part's task that crashes (a bug: bot/core/tasks.py) stops it the same way, and the process exits
   with code 1 (`app.part_crashed`): its supervisor starts it again (systemd `Restart=on-failure`,
   compose `restart: unless-stopped`), where a process without that part would answer /readyz
   while its texts wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys

from aiohttp import web

from bot.app.runtime import RUNTIME
from bot.app.startup import bind, listen, store_down, summary, whatsapp_unanswered
from bot.core import tasks
from bot.core.config import Config
from bot.core.logs import flush_logs, get_logger
from bot.gateway.connections import KEEPALIVE_SECONDS, HeadDeadline
from bot.gateway.drain import DRAIN

GRACE_SECONDS = 10.0  # requests in flight get this long to finish after SIGTERM
GC_THRESHOLD = 10_000  # allocations between collections of the youngest generation (default 700)


def json_logs(config: Config) -> bool:
    """Logs are JSON lines (bot/core/logs.py: `auto` means JSON unless stdout is a terminal)."""
    return config.log.format == "json" or (config.log.format == "auto" and not sys.stdout.isatty())


async def serve(config: Config, config_path: str | None = None) -> int:
    """Serve until SIGTERM or SIGINT (0), or until a part's task crashes (1). `config_path`: the
    `--config` it was given, which the next step it prints (`chat`) must be given too."""
    from bot.app.assembly import build_app
    from bot.gateway.routes import AccessLogger

    log = get_logger(__name__)
    sockets = bind(config.server.host, config.server.port)
    try:
        app = build_app(config)
        runner = web.AppRunner(
            app,
            access_log_class=AccessLogger,
            handle_signals=False,
            shutdown_timeout=GRACE_SECONDS,
            keepalive_timeout=KEEPALIVE_SECONDS,  # idle between requests (bot/gateway/connections.py)
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        crashed: list[str] = []

        def part_crashed(task: str) -> None:
            crashed.append(task)
            stop.set()

        tasks.on_crash(part_crashed)
        # the app starts here; a StartupError leaves nothing running
        if not await _set_up_unless_stopped(runner, stop):
            log.info("app.stopping", in_flight=0, starting=True)
            await _stop_within(runner, app, config.server.stop_seconds)
            return 0
        assert runner.server is not None  # set up above
        # a connection that sends no whole request head within 20 s is closed (slowloris)
        head_deadline = HeadDeadline(runner.server)
        try:
            listen(sockets, config.server.host, config.server.port)  # a port taken meanwhile: one line
            for sock in sockets:
                await web.SockSite(runner, sock).start()
            head_deadline.start()
            runtime = app[RUNTIME]
            media_down = await store_down(config, runtime.ready_checks.get("media"))
            whatsapp_down = await whatsapp_unanswered(config, runtime.deps.db)
            about = summary(
                config, sockets, runtime.lifecycle.running, config_path, media_down, whatsapp_down
            )
            if json_logs(config):
                log.info("app.started", **about.fields())
            else:
                print(about.block(), flush=True)
            # What start-up built (modules, compiled statements, templates, the OCR model) lives
            # as long as the process: keep it out of the garbage collector's full passes, which
            # otherwise walk all of it again and again under load.
            gc.freeze()
            # A text allocates a few thousand short-lived objects; at the default threshold
            # (700) the youngest generation was collected several times a text (GC ~4% of the
            # CPU in `perf` under a burst).
            gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
            await stop.wait()
            if crashed:
                log.error("app.part_crashed", tasks=crashed, exit_code=1)
            log.info("app.stopping", in_flight=app[DRAIN].in_flight)
            for site in list(runner.sites):
                await site.stop()  # no new connections
            app[DRAIN].begin()
            await app[DRAIN].wait(GRACE_SECONDS)
        finally:
            await head_deadline.stop()
            await _stop_within(runner, app, config.server.stop_seconds)
            tasks.on_crash(None)
    finally:
        for sock in sockets:
            sock.close()
    return 1 if crashed else 0


async def _set_up_unless_stopped(runner: web.AppRunner, stop: asyncio.Event) -> bool:
    """Start the app (`runner.setup()`), unless SIGTERM or Ctrl-C comes first (False): start-up
    may wait up to 30 s for a database that does not answer (`db.waiting`), and a stop asked for
    meanwhile went unheard (Ctrl-C did nothing) until the wait ended, in exit 1 with the
    database's error, or in a start once the database answered. Cancelled, the start-up undoes
    what it had started (the lifespan's exit stack); the caller then cleans up the rest."""
    setup = asyncio.ensure_future(runner.setup())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({setup, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if setup.done():
        setup.result()  # its StartupError, if any, as before
        return True
    setup.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await setup
    return False


async def _stop_within(runner: web.AppRunner, app: web.Application, seconds: float) -> None:
    """Stop the parts and close the resources (the app's cleanup), or give up after `seconds`: a
    database that stopped answering (a frozen network, a hung server) held a stop forever, each
    part waiting on a statement with no end, until the supervisor killed the process (systemd's
    `TimeoutStopSec`, compose's `stop_grace_period`: 60 s) with no line saying why. Past the
    deadline: `app.stop_timed_out` names the part still stopping, and the process exits 1 at once
    (what is left would only wait again); its claims come back by lease, as after a crash."""
    cleanup = asyncio.ensure_future(runner.cleanup())
    done, _ = await asyncio.wait({cleanup}, timeout=seconds)
    if done:
        cleanup.result()  # its error, if any, as before
        return
    runtime = app.get(RUNTIME)
    stopping = runtime.lifecycle.stopping if runtime is not None else None
    get_logger(__name__).error(
        "app.stop_timed_out", seconds=seconds, stopping=stopping or "resources", exit_code=1
    )
    flush_logs()
    sys.stdout.flush()
    os._exit(1)


__all__ = ["GRACE_SECONDS", "json_logs", "serve"]
