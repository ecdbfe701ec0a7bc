"""bot/app/assembly.py: `build_app` for each role (all, web, worker): the routes it serves (a worker
only /healthz, /readyz and /metrics; the channel's webhooks and the features' routes for the web
roles), the parts it runs, and the features' lifespans: entered in their order, each seeing the
services of those before it, closed in reverse once the parts have stopped (also when a later one
fails to start)."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app.assembly import build_app, build_dispatcher
from bot.app.runtime import RUNTIME
from bot.core.config import Config
from bot.core.dburl import DatabaseUnreachable, mask_url
from bot.core.deps import Services
from bot.core.feature import Feature, Starting
from bot.pipeline.middlewares import load_user, rate_limit
from bot.pipeline.replyguard import reply_guard

OPERATOR = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
WEBHOOKS = {("POST", "/twilio/sms"), ("POST", "/twilio/status")}


def routes(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method not in ("HEAD", "*") and route.resource is not None  # "*": the catch-all
    }


class Recorder:
    """Features that record their lifespans; `marker(name)` is the object a feature puts in the
    services (as `link_signer`, a field no other feature sets here)."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.seen: dict[str, Any] = {}  # feature -> the link_signer it found when it started
        self.app: web.Application | None = None

    def feature(self, name: str, *, fails: bool = False) -> Feature:
        async def page(request: web.Request) -> web.Response:
            return web.Response(text=name)

        def add_routes(app: web.Application) -> None:
            app.router.add_get(f"/feature/{name}", page)

        @contextlib.asynccontextmanager
        async def lifespan(starting: Starting) -> AsyncIterator[Services]:
            self.seen[name] = starting.deps.services.link_signer
            if fails:
                raise RuntimeError(f"{name} cannot start")
            self.events.append(f"enter {name}")

            async def ready() -> None:
                return None

            starting.ready_checks[name] = ready
            try:
                yield dataclasses.replace(starting.deps.services, link_signer=f"signer of {name}")  # type: ignore[arg-type]
            finally:
                running = self.app[RUNTIME].lifecycle.running if self.app is not None else None
                self.events.append(f"exit {name} (parts running: {running})")

        return Feature(name, add_routes=add_routes, lifespan=lifespan)


@pytest.fixture
def start(make_config: Callable[..., Config], aiohttp_client: Any) -> Callable[..., Any]:
    async def start(
        role: str, features: list[Feature], recorder: Recorder | None = None
    ) -> TestClient[Any, Any]:
        app = build_app(make_config(server={"role": role}), features=features, run_scheduler=False)
        if recorder is not None:
            recorder.app = app
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return start


@pytest.mark.parametrize(
    ("role", "parts"),
    [("all", ("writer", "worker", "sender")), ("web", ("writer",)), ("worker", ("worker", "sender"))],
)
async def test_each_role_runs_its_parts_and_stops_them(
    start: Callable[..., Any], role: str, parts: tuple[str, ...]
) -> None:
    client = await start(role, [])
    runtime = client.app[RUNTIME]
    assert runtime.role == role
    assert runtime.lifecycle.running == parts
    assert not runtime.scheduler.aps.running  # run_scheduler=False (a test app)
    await client.close()
    assert runtime.lifecycle.running == ()


@pytest.mark.parametrize("role", ["all", "web"])
async def test_web_roles_serve_the_channels_webhooks_and_the_features_routes(
    start: Callable[..., Any], role: str
) -> None:
    recorder = Recorder()
    client = await start(role, [recorder.feature("a")])
    assert routes(client.app) >= OPERATOR | WEBHOOKS | {("GET", "/feature/a"), ("GET", "/")}
    assert (await client.post("/twilio/sms", data={"Body": "hi"})).status == 403  # there; unsigned
    assert await (await client.get("/feature/a")).text() == "a"
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": "ok", "a": "ok"}


async def test_a_worker_serves_only_health_readiness_and_metrics(start: Callable[..., Any]) -> None:
    recorder = Recorder()
    client = await start("worker", [recorder.feature("a")])
    assert routes(client.app) == OPERATOR  # no webhooks, no pages, no feature routes
    for _, path in OPERATOR:
        assert (await client.get(path)).status == 200, path
    assert (await client.post("/twilio/sms", data={"Body": "hi"})).status == 404
    assert (await client.get("/feature/a")).status == 404
    assert recorder.events == ["enter a"]  # its lifespan runs all the same: its services and jobs


async def test_features_start_in_order_and_close_in_reverse_after_the_parts(
    start: Callable[..., Any],
) -> None:
    recorder = Recorder()
    client = await start(
        "all", [recorder.feature("a"), recorder.feature("b"), recorder.feature("c")], recorder
    )
    runtime = client.app[RUNTIME]
    assert recorder.events == ["enter a", "enter b", "enter c"]
    # each sees the services of the ones before it; the app's are the last one's
    assert recorder.seen == {"a": None, "b": "signer of a", "c": "signer of b"}
    assert runtime.deps.services.link_signer == "signer of c"
    assert runtime.worker.deps.services.link_signer == "signer of c"
    assert runtime.deps.services.transport is runtime.transport  # the channel's, kept through them
    await client.close()
    assert recorder.events == [
        "enter a",
        "enter b",
        "enter c",
        "exit c (parts running: ())",
        "exit b (parts running: ())",
        "exit a (parts running: ())",
    ]


async def test_a_feature_that_fails_to_start_closes_the_ones_before_it(
    make_config: Callable[..., Config],
) -> None:
    recorder = Recorder()
    features = [recorder.feature("a"), recorder.feature("b"), recorder.feature("c", fails=True)]
    runner = web.AppRunner(build_app(make_config(), features=features, run_scheduler=False))
    with pytest.raises(RuntimeError, match="c cannot start"):
        await runner.setup()  # runs the app's start-up
    await runner.cleanup()
    assert recorder.events == [
        "enter a",
        "enter b",
        "exit b (parts running: None)",
        "exit a (parts running: None)",
    ]


async def test_the_database_lost_during_start_up_is_one_line_and_exit_1(
    make_config: Callable[..., Config],
) -> None:
    """PostgreSQL restarted after serve connected but before it was up (a feature reading its
    rows, the first heartbeat): serve died with a page of SQLAlchemy traceback. It is one line
    naming the database (no password) and exit 1: the service manager starts it again."""
    lost = sa.exc.DBAPIError.instance(
        "UPDATE processes SET heartbeat_at=$1",
        {},
        ConnectionResetError(errno.ECONNRESET, "reset"),
        Exception,
        connection_invalidated=True,
    )

    @contextlib.asynccontextmanager
    async def lifespan(starting: Starting) -> AsyncIterator[Services]:
        raise lost
        yield starting.deps.services  # pragma: no cover - never reached

    config = make_config()
    runner = web.AppRunner(
        build_app(config, features=[Feature("rows", lifespan=lifespan)], run_scheduler=False)
    )
    with pytest.raises(DatabaseUnreachable) as info:
        await runner.setup()  # runs the app's start-up
    await runner.cleanup()
    assert info.value.exit_code == 1
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(f"database.url {mask_url(config.database.url)}: lost during start-up (")
    assert line.endswith("or set database.url or TEXTWIRE_DATABASE_URL")


def test_the_dispatcher_runs_the_outer_middlewares_in_their_order() -> None:
    """The reply guard sees every reply (outermost); the user is loaded before the rate limit,
    which reads it."""
    assert build_dispatcher().outer_middlewares == [reply_guard, load_user, rate_limit]
