"""The aiohttp application: routes, and one lifespan (`cleanup_ctx`) that opens and closes every
resource together: database, HTTP session, transports, features, then the parts that `server.role`
runs (bot/pipeline/lifecycle.py: writer, worker, sender, scheduler, stopped in reverse).

Roles (SPEC, Contracts): `all` runs everything; `web` the webhooks and pages (and the inbox writer
behind them); `worker` the worker, sender and scheduler, and only `/healthz`, `/readyz` and
`/metrics` on `server.port`."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial

import aiohttp
from aiohttp import web

from bot.app.channels import build_channels
from bot.app.runtime import METRICS, RUNTIME, Runtime
from bot.app.startup import check_folders, open_db_waiting
from bot.core.channel import (
    Channel,
    ChannelJob,
    FitsOne,
    MediaLimits,
    MediaSource,
    MediaSources,
    Transport,
    Transports,
)
from bot.core.config import Config
from bot.core.dburl import DatabaseUnreachable, mask_url
from bot.core.dburl import is_sqlite as db_is_sqlite
from bot.core.deps import Deps, Services
from bot.core.devmode import twilio_auth_token
from bot.core.errors import StartupError
from bot.core.feature import Feature, ReadyCheck, Starting
from bot.core.logs import db_reason, get_logger
from bot.core.metrics import Metrics
from bot.gateway.drain import DRAIN, Drain
from bot.gateway.gate import GATE, Gate
from bot.gateway.ingest import InboxWriter
from bot.gateway.routes import MAX_BODY, add_routes
from bot.pipeline.dispatch import Context, Dispatcher, Inbound, Router
from bot.pipeline.leases import Leases, new_owner_id
from bot.pipeline.lifecycle import ROLE_PARTS, Part
from bot.pipeline.middlewares import load_user, rate_limit
from bot.pipeline.replyguard import reply_guard
from bot.pipeline.sender import Sender
from bot.pipeline.worker import Worker
from scheduler import Scheduler, register_core_jobs
from storage import notify
from storage.crypto import check_keys
from storage.db import database_away
from storage.health import write_probe
from storage.notify import Notifier

log = get_logger(__name__)


def default_features() -> list[Feature]:
    from bot.app import features

    return list(features.FEATURES)


def build_dispatcher(extra_routers: Sequence[Router] = ()) -> Dispatcher:
    """The root: outer middlewares, then handlers.ROUTERS in order (`extra_routers` first: tests)."""
    import handlers

    dp = Dispatcher()
    dp.outer_middleware(reply_guard)  # outermost: it sees every reply (reply loops)
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
    # worker: only /healthz, /readyz and /metrics; web and all: webhooks and pages too
    serves_web = config.server.role != "worker"
    channels = build_channels(config, transport)
    add_routes(app, public=serves_web)
    if serves_web:
        for channel in channels:
            channel.add_routes(app)
    for feature in feature_list:
        if serves_web and feature.add_routes is not None:
            feature.add_routes(app)
    handling = "worker" in ROLE_PARTS[config.server.role]
    metrics = Metrics(webhooks=serves_web, handling=handling)
    app[METRICS] = metrics
    drain = Drain(metrics)
    app[DRAIN] = drain
    app.middlewares.insert(0, drain.middleware)  # outermost: it sees every request

    async def routes_at_zero(app: web.Application) -> None:  # its routes are all added by now
        drain.add_routes_of(app)

    app.on_startup.append(routes_at_zero)

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            try:
                runtime = await _start(
                    stack, config, metrics, channels, clock, feature_list, run_scheduler, extra_routers
                )
            except StartupError:
                raise
            except Exception as exc:
                # the database lost after it answered (a restart, a failover, mid-start): one line
                # and exit 1, so the service manager starts serve again; it was a traceback
                if not database_away(exc):
                    raise
                raise DatabaseUnreachable(
                    f"database.url {mask_url(config.database.url)}: lost during start-up "
                    f"({db_reason(exc)}): check that the database runs and is reachable, or set "
                    "database.url or TEXTWIRE_DATABASE_URL"
                ) from None
            app[RUNTIME] = runtime
            app[GATE] = runtime.gate
            yield
        log.info("app.stopped")

    app.cleanup_ctx.append(lifespan)
    return app


async def _start(
    stack: contextlib.AsyncExitStack,
    config: Config,
    metrics: Metrics,
    channels: Sequence[Channel],
    clock: Callable[[], float],
    features: Sequence[Feature],
    run_scheduler: bool,
    extra_routers: Sequence[Router],
) -> Runtime:
    check_keys(config.security.fernet_keys)  # before anything is written or migrated
    check_folders(config)
    _, generated = twilio_auth_token(config)
    if config.dev_mode:
        log.warning(
            "dev.mode",
            detail="no twilio.auth_token: signatures use the development token, replies go to the log",
            token_file=str(config.data_dir / "dev-twilio-token"),
            generated=generated,
        )
    # The embedded SQLite default migrates itself (`make run` on a fresh clone); PostgreSQL is
    # migrated by `textwire migrate` and a schema that is not current stops start-up.
    db = await open_db_waiting(config.database.url, migrate=db_is_sqlite(config.database.url), check=True)
    stack.push_async_callback(db.close)
    # The app's outbound HTTP (X, media fetches, Twilio): through the proxy the environment names
    # (HTTPS_PROXY / HTTP_PROXY, NO_PROXY); Twilio sends look theirs up once (TwilioTransport).
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60, connect=10), trust_env=True)
    stack.push_async_callback(http.close)

    # Wake-ups: in this process at once, and on PostgreSQL in every other one (LISTEN/NOTIFY).
    notifier = Notifier(config.database.url)
    await notifier.start()
    stack.push_async_callback(notifier.stop)
    wakeup = _Wakeup()
    deps = Deps(config=config, db=db, http=http, wake_sender=wakeup, clock=clock, metrics=metrics)
    # every open channel's transport and media; replies go by their address's channel
    by_channel: dict[str, Transport] = {}
    media: list[MediaSource] = []
    length_rules: dict[str, FitsOne] = {}
    media_limits: dict[str, MediaLimits] = {}
    channel_jobs: list[ChannelJob] = []
    for channel in channels:
        parts = await stack.enter_async_context(channel.lifespan(deps))
        channel_jobs.extend(parts.jobs)
        for name, rule in channel.length_rules.items():
            by_channel[name], length_rules[name] = parts.transport, rule
        media_limits.update(channel.media_limits)
        if parts.media is not None:
            media.append(parts.media)
    transport: Transport = Transports(by_channel)
    services = Services(
        transport=transport,
        media_source=MediaSources(media) if media else None,
        length_rules=length_rules,
        media_limits=media_limits,
    )
    deps = dataclasses.replace(deps, services=services)
    owner = new_owner_id()  # this process's claims and heartbeats (bot/pipeline/leases.py)
    leases = Leases(deps, owner)
    scheduler = Scheduler(leases=leases)
    register_core_jobs(scheduler)
    for job in channel_jobs:
        scheduler.every(job.id, job.run, seconds=job.seconds, jitter=job.seconds / 10)
    ready_checks: dict[str, ReadyCheck] = {"database": partial(write_probe, db)}  # a write, not SELECT 1
    for feature in features:  # each adds its services; the last `deps` is the app's
        if feature.lifespan is not None:
            services = await stack.enter_async_context(
                feature.lifespan(Starting(deps, scheduler, ready_checks))
            )
            deps = dataclasses.replace(deps, services=services)

    dispatcher = build_dispatcher(extra_routers)
    worker = Worker(deps, dispatcher, metrics, owner=owner)
    # a commit of sends' outcomes wakes the other processes' senders (not this one's: only
    # another owner's send holds a reply back from its claim)
    sender = Sender(deps, transport, metrics, owner=owner)
    sender.on_settled = lambda: notifier.publish(notify.OUTBOX, here=False)
    # claims a stopping process puts back: the other processes take them at once
    worker.on_released = lambda: notifier.publish(notify.INBOX, here=False)
    sender.on_released = lambda: notifier.publish(notify.OUTBOX, here=False)
    # claims taken over from a dead process: this process's worker and sender, and the others'
    # (a `web` process, which runs neither, takes them over as soon as one that does)
    leases.on_takeover += [partial(notifier.publish, notify.INBOX), partial(notifier.publish, notify.OUTBOX)]
    notifier.subscribe(notify.INBOX, worker.wake)
    notifier.subscribe(notify.OUTBOX, sender.wake)
    wakeup.target = lambda: notifier.publish(notify.OUTBOX)
    writer = InboxWriter(db, on_commit=lambda: notifier.publish(notify.INBOX))

    async def is_priority(msg: Inbound) -> bool:
        return await dispatcher.is_priority(msg, Context(deps=deps, log=log))

    gate = Gate(deps, metrics, writer, is_priority, ready_checks)
    runtime = Runtime(
        deps=deps,
        metrics=metrics,
        gate=gate,
        dispatcher=dispatcher,
        writer=writer,
        worker=worker,
        sender=sender,
        transport=transport,
        scheduler=scheduler,
        notifier=notifier,
        ready_checks=ready_checks,
        role=config.server.role,
    )

    async def start_scheduler() -> None:
        scheduler.start(deps)

    async def stop_scheduler() -> None:
        await scheduler.stop()

    available = {
        "writer": Part("writer", writer.start, writer.stop),
        "worker": Part("worker", worker.start, worker.stop),
        "sender": Part("sender", sender.start, sender.stop),
        "scheduler": Part("scheduler", start_scheduler, stop_scheduler),
    }
    wanted = [name for name in ROLE_PARTS[config.server.role] if run_scheduler or name != "scheduler"]
    # every role heartbeats, and stops heartbeating last (after its parts released their claims)
    await leases.start()
    stack.push_async_callback(leases.stop)
    stack.push_async_callback(runtime.lifecycle.stop)
    await runtime.lifecycle.start([available[name] for name in wanted])
    # `app.started` comes from `textwire serve` once the server listens (bot/app/serve.py)
    log.info("app.ready", role=config.server.role, parts=list(runtime.lifecycle.running))
    return runtime


__all__ = ["build_app", "build_dispatcher"]
