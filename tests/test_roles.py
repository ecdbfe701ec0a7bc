"""`textwire serve --role all|web|worker`: which routes each role serves and which parts it runs,
and a web and a worker over one database answering a text together (SPEC, Contracts)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app.assembly import build_app
from bot.app.cli import _parser
from bot.app.runtime import RUNTIME
from bot.core.config import Config
from bot.pipeline.lifecycle import Lifecycle, Part
from tests.conftest import ALICE, BotFactory

OPERATOR = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
WEB = {
    ("POST", "/twilio/sms"),
    ("POST", "/twilio/status"),
    ("GET", "/x/link/{token}"),
    ("POST", "/x/link/{token}"),
    ("GET", "/x/callback"),
    ("GET", "/rooms/{room_id}/receipts"),
    ("GET", "/"),
}


def routes(client: TestClient[Any, Any]) -> set[tuple[str, str]]:
    return {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.method not in ("HEAD", "*") and route.resource is not None  # "*": the 404 catch-all
    }


async def test_web_role_serves_webhooks_and_pages_and_runs_only_the_writer(
    bot_factory: BotFactory, fake_twilio: Any
) -> None:
    web = await bot_factory(server={"role": "web"}, twilio=fake_twilio.section())
    assert web.runtime.lifecycle.running == ("writer",)
    assert routes(web.client) >= WEB | OPERATOR
    for _, path in OPERATOR:
        assert (await web.client.get(path)).status == 200, path
    form = await web.text("\\HELP")  # acknowledged after the commit ...
    status = await web.scalar("SELECT status FROM inbox WHERE message_sid = :sid", sid=form["MessageSid"])
    assert status == "pending"  # ... and left to a worker: this process handles nothing
    assert fake_twilio.messages == []


async def test_worker_role_serves_only_health_readiness_and_metrics(
    bot_factory: BotFactory, fake_twilio: Any
) -> None:
    worker = await bot_factory(server={"role": "worker"}, twilio=fake_twilio.section())
    assert worker.runtime.lifecycle.running == ("worker", "sender")  # the test app runs no scheduler
    assert routes(worker.client) == OPERATOR
    for _, path in OPERATOR:
        assert (await worker.client.get(path)).status == 200, path
    form = worker.form("\\HELP")
    assert (await worker.post(form)).status == 404
    assert (await worker.client.get("/rooms/r1/receipts")).status == 404
    assert await worker.scalar("SELECT count(*) FROM inbox") == 0


async def test_a_web_and_a_worker_on_one_database_answer_a_text(
    bot_factory: BotFactory, fake_twilio: Any
) -> None:
    web = await bot_factory(server={"role": "web"}, twilio=fake_twilio.section())
    worker = await bot_factory(server={"role": "worker"}, twilio=fake_twilio.section())
    assert web.config.database.url == worker.config.database.url
    form = await web.text("\\HELP")
    assert await worker.handled(form["MessageSid"]) == "done"
    [sent] = await fake_twilio.wait_for_messages(1)
    assert sent["To"] == ALICE
    await worker.settled()
    assert len(fake_twilio.messages) == 1


@pytest.mark.parametrize(
    ("role", "parts"),
    [
        ("all", ("writer", "worker", "sender", "scheduler")),
        ("web", ("writer",)),
        ("worker", ("worker", "sender", "scheduler")),
    ],
)
async def test_each_role_starts_its_parts_in_order_with_the_scheduler(
    aiohttp_client: Any, make_config: Any, role: str, parts: tuple[str, ...]
) -> None:
    config: Config = make_config(server={"role": role})
    client: TestClient[Any, Any] = await aiohttp_client(build_app(config, features=[]))
    runtime = client.app[RUNTIME]
    assert runtime.lifecycle.running == parts
    assert runtime.scheduler.aps.running == ("scheduler" in parts)
    await client.close()
    assert runtime.lifecycle.running == ()
    assert not runtime.scheduler.aps.running


async def test_lifecycle_stops_in_reverse_and_after_a_failed_start() -> None:
    events: list[str] = []

    def part(name: str, *, fail: bool = False) -> Part:
        async def start() -> None:
            if fail:
                raise RuntimeError("cannot start")
            events.append(f"start {name}")

        async def stop() -> None:
            events.append(f"stop {name}")

        return Part(name, start, stop)

    lifecycle = Lifecycle()
    await lifecycle.start([part("writer"), part("worker"), part("sender"), part("scheduler")])
    assert lifecycle.running == ("writer", "worker", "sender", "scheduler")
    await lifecycle.stop()
    assert events == [
        "start writer",
        "start worker",
        "start sender",
        "start scheduler",
        "stop scheduler",
        "stop sender",
        "stop worker",
        "stop writer",
    ]
    events.clear()
    lifecycle = Lifecycle()
    with pytest.raises(RuntimeError):
        await lifecycle.start([part("writer"), part("worker", fail=True), part("sender")])
    await lifecycle.stop()
    assert events == ["start writer", "stop writer"]
    with pytest.raises(AssertionError, match="out of order"):
        await Lifecycle().start([part("sender"), part("writer")])


def test_serve_takes_a_role_and_refuses_others(capsys: pytest.CaptureFixture[str]) -> None:
    assert _parser().parse_args(["serve", "--role", "worker"]).role == "worker"
    assert _parser().parse_args(["serve"]).role is None  # server.role decides
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["serve", "--role", "both"])
    assert exc.value.code == 2
    assert "invalid choice: 'both'" in capsys.readouterr().err
