"""The aiohttp application: routes, and one lifespan (`cleanup_ctx`) that opens and closes every
resource together: database, HTTP session, transports, features, worker, sender, scheduler."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from bot.config import Config
from bot.deps import Deps
from bot.devmode import twilio_auth_token
from bot.dispatch import Dispatcher, Router
from bot.ingest import InboxWriter
from bot.leases import Leases, new_owner_id
from bot.logs import get_logger
from bot.metrics import Metrics
from bot.middlewares import load_user, rate_limit
from bot.runtime import METRICS, RUNTIME, Runtime
from bot.sender import Sender
from bot.signature import SignatureChecker
from bot.twilio_client import LogTransport, Transport, TwilioTransport
from bot.web import MAX_BODY, add_routes
from bot.worker import Worker
from scheduler import Scheduler, register_core_jobs
from storage import notify
from storage.db import open_database
from storage.dburl import is_sqlite as db_is_sqlite
from storage.notify import Notifier

log = get_logger(__name__)


@dataclass(frozen=True)
class Feature:
    """A product feature beyond the core: its routes (added when the app is built) and its
    lifespan (entered at start-up with the runtime: services, scheduler jobs, ready checks)."""

    name: str
    add_routes: Callable[[web.Application], None] | None = None
    lifespan: Callable[[Runtime], AbstractAsyncContextManager[None]] | None = None


def default_features() -> list[Feature]:
    from bot import features

    return list(features.FEATURES)


def build_dispatcher(extra_routers: Sequence[Router] = ()) -> Dispatcher:
    """The root: outer middlewares, then handlers.ROUTERS in order (`extra_routers` first: tests)."""
    import handlers

    dp = Dispatcher()
    dp.outer_middleware(load_user)
    dp.outer_middleware(rate_limit)
    dp.include(*extra_routers, *handlers.ROUTERS)
    return dp


class _Wakeup:
    """`deps.wake_sender`, bound to the sender once it exists."""

    def __init__(self) -> None:
        self.target: Callable[[], None] = lambda: None

    def __call__(self) -> None:
        self.target()


def build_app(
    config: Config,
    *,
    transport: Transport | None = None,
    clock: Callable[[], float] = time.time,
    features: Sequence[Feature] | None = None,
    run_scheduler: bool = True,
    extra_routers: Sequence[Router] = (),
) -> web.Application:
    feature_list = default_features() if features is None else list(features)
    app = web.Application(client_max_size=MAX_BODY)
    add_routes(app)
    for feature in feature_list:
        if feature.add_routes is not None:
            feature.add_routes(app)
    metrics = Metrics()
    app[METRICS] = metrics

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            runtime = await _start(
                stack, config, metrics, transport, clock, feature_list, run_scheduler, extra_routers
            )
            app[RUNTIME] = runtime
            yield
            log.info("app.stopping")
        log.info("app.stopped")

    app.cleanup_ctx.append(lifespan)
    return app


async def _start(
    stack: contextlib.AsyncExitStack,
    config: Config,
    metrics: Metrics,
    transport: Transport | None,
    clock: Callable[[], float],
    features: Sequence[Feature],
    run_scheduler: bool,
    extra_routers: Sequence[Router],
) -> Runtime:
    token, generated = twilio_auth_token(config)
    if config.dev_mode:
        log.warning(
            "dev.mode",
            detail="no twilio.auth_token: signatures use the development token, replies go to the log",
            token_file=str(config.data_dir / "dev-twilio-token"),
            generated=generated,
        )
    # The embedded SQLite default migrates itself (`make run` on a fresh clone); PostgreSQL is
    # migrated by `textwire migrate` and a schema that is not current stops start-up.
    db = await open_database(config.database.url, migrate=db_is_sqlite(config.database.url), check=True)
    stack.push_async_callback(db.close)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60, connect=10))
    stack.push_async_callback(http.close)

    if transport is None:
        if config.dev_mode:
            transport = LogTransport()
        else:
            transport = TwilioTransport(
                http, config.twilio, status_callback=f"{config.public_base}/twilio/status"
            )

    # Wake-ups: in this process at once, and on PostgreSQL in every other one (LISTEN/NOTIFY).
    notifier = Notifier(config.database.url)
    await notifier.start()
    stack.push_async_callback(notifier.stop)
    wakeup = _Wakeup()
    deps = Deps(config=config, db=db, http=http, wake_sender=wakeup, clock=clock, services={})
    dispatcher = build_dispatcher(extra_routers)
    owner = new_owner_id()  # this process's claims and heartbeats (bot/leases.py)
    worker = Worker(deps, dispatcher, metrics, owner=owner)
    sender = Sender(deps, transport, metrics, owner=owner)
    leases = Leases(deps, owner, on_takeover=(worker.wake, sender.wake))
    notifier.subscribe(notify.INBOX, worker.wake)
    notifier.subscribe(notify.OUTBOX, sender.wake)
    wakeup.target = lambda: notifier.publish(notify.OUTBOX)
    writer = InboxWriter(db, on_commit=lambda: notifier.publish(notify.INBOX))
    runtime = Runtime(
        deps=deps,
        metrics=metrics,
        checker=SignatureChecker(token),
        dispatcher=dispatcher,
        writer=writer,
        worker=worker,
        sender=sender,
        transport=transport,
    )
    deps.services["transport"] = transport
    runtime.extras["ready_checks"] = {"database": db.ping}
    runtime.extras["notifier"] = notifier
    scheduler = Scheduler(deps, leases=leases)
    runtime.scheduler = scheduler
    register_core_jobs(scheduler)

    for feature in features:
        if feature.lifespan is not None:
            await stack.enter_async_context(feature.lifespan(runtime))

    # Stopped in reverse: the scheduler, then the worker (its last replies queue), then the sender,
    # then the heartbeat (after the worker and the sender released their own claims).
    await leases.start()
    stack.push_async_callback(leases.stop)
    await sender.start()
    stack.push_async_callback(sender.stop)
    await writer.start()
    stack.push_async_callback(writer.stop)
    if config.worker.enabled:
        await worker.start()
        stack.push_async_callback(worker.stop)
    else:
        log.warning("worker.disabled", detail="this process only takes webhooks; run workers elsewhere")
    if run_scheduler:
        scheduler.start()
        stack.callback(scheduler.shutdown)
    log.info(
        "app.started",
        dev_mode=config.dev_mode,
        database=config.database.url.split(":", 1)[0],
        features=[f.name for f in features],
    )
    return runtime


__all__ = ["Feature", "build_app", "build_dispatcher"]
