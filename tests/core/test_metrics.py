"""Every metric family /metrics promises (README "Metrics"), each series there from the start, and
the new counters moving when what they count happens: OCR outcomes and X errors by kind (the reply
guard's are in tests/pipeline/test_replyguard.py)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from PIL import Image

from bot.core.metrics import ALERTED_SEND_ERRORS, DB_ERROR_OPS, OCR_OUTCOMES, X_ERROR_KINDS, Metrics
from bot.features.ocr.reader import OcrReader
from tests import ROOT
from tests.conftest import Bot, BotFactory, XBot
from tests.fakes.twilio_rest import FakeTwilio

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _families(metrics: Metrics) -> dict[str, set[str]]:
    """Each family's name (as scraped, counters with _total) and its label names."""
    out: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels: set[str] = set()
        for sample in family.samples:
            labels.update(k for k in sample.labels if k != "le")
        out[name] = labels
    return out


def test_the_readme_lists_every_metric_family_with_its_labels() -> None:
    families = _families(Metrics())
    assert len(families) >= 12
    for name, labels in families.items():
        row = next((line for line in README.splitlines() if f"`{name}" in line), None)
        assert row is not None, f"README does not list {name}"
        for label in labels:
            assert label in row, f"README's line for {name} does not name its label {label}"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(out, "JPEG")
    return out.getvalue()


async def test_ocr_outcomes_are_counted() -> None:
    metrics = Metrics()

    def engine_with(result: Any) -> Any:
        def engine(image: Any) -> tuple[Any, Any]:
            if isinstance(result, Exception):
                raise result
            return result, 0.0

        return lambda: engine

    box = [[0, 0], [100, 0], [100, 20], [0, 20]]
    read = OcrReader(1, engine_with([[box, "TOTAL 12.50", 0.99]]), metrics=metrics)
    assert (await read.read(_jpeg(), "jpeg", 2)).minor == 1250
    asked = OcrReader(1, engine_with([]), metrics=metrics)
    assert (await asked.read(_jpeg(), "jpeg", 2)).minor is None
    failed = OcrReader(1, engine_with(RuntimeError("engine broke")), metrics=metrics)
    assert (await failed.read(_jpeg(), "jpeg", 2)).minor is None
    assert {o: metrics.ocr_by[o]._value.get() for o in OCR_OUTCOMES} == {"read": 1, "asked": 1, "failed": 1}
    for reader in (read, asked, failed):
        reader.close()


async def scrape(bot: Bot) -> str:
    resp = await bot.client.get("/metrics")
    assert resp.status == 200
    return await resp.text()


def value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, f"no {series}"
    return float(match.group(1))


async def test_every_x_error_kind_is_a_series_from_the_start(bot: Bot) -> None:
    text = await scrape(bot)
    for kind in X_ERROR_KINDS:
        assert value(text, f'textwire_x_errors_total{{kind="{kind}"}}') == 0
    for outcome in OCR_OUTCOMES:
        assert value(text, f'textwire_ocr_total{{outcome="{outcome}"}}') == 0


@pytest.mark.parametrize(
    ("status", "kind"), [(429, "rate_limited"), (403, "duplicate"), (400, "rejected"), (503, "unconfirmed")]
)
async def test_x_errors_are_counted_by_kind(xbot: XBot, status: int, kind: str) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link()
    fake = xbot.x
    if kind == "duplicate":
        form = await xbot.text("the same words")
        await xbot.handled(form["MessageSid"])
        form = await xbot.text("the same words")
    else:
        fake.fail_post_next(status)
        form = await xbot.text(f"a post that meets a {status}")
    if kind != "rate_limited":  # a rate-limited post is parked until the reset
        await xbot.handled(form["MessageSid"])
    await xbot.settled()
    assert twilio.messages
    assert value(await scrape(xbot), f'textwire_x_errors_total{{kind="{kind}"}}') == 1
    assert value(await scrape(xbot), 'textwire_x_errors_total{kind="too_long"}') == 0


@pytest.mark.parametrize(
    ("role", "parts"), [("all", ("worker", "sender")), ("web", ()), ("worker", ("worker", "sender"))]
)
async def test_db_errors_and_in_flight_series_are_there_from_the_start(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, role: str, parts: tuple[str, ...]
) -> None:
    """README: every labelled series is in /metrics from the start, at 0. `textwire_db_errors_total`
    appeared only at a part's first failure, so `increase(...[5m])` (deploy/alerts.yml) missed the
    first burst; `textwire_http_in_flight` listed only routes already requested. Now each part the
    process runs has its (part, op) series at 0, and every route the process serves its gauge."""
    bot = await bot_factory(server={"role": role}, twilio=fake_twilio.section())
    text = await scrape(bot)
    for part in ("worker", "sender"):
        for op in DB_ERROR_OPS:
            series = f'textwire_db_errors_total{{op="{op}",part="{part}"}}'
            if part in parts:
                assert value(text, series) == 0
            else:  # a web process runs neither: no series that could never move
                assert f'part="{part}"' not in "".join(
                    re.findall(r"^textwire_db_errors_total.*$", text, re.M)
                )
    for channel, code in ALERTED_SEND_ERRORS:  # what the alerts' increase() needs to see the first
        series = f'textwire_send_errors_total{{channel="{channel}",code="{code}"}}'
        assert (value(text, series) == 0) if parts else series not in text
    routes = [r.canonical for r in bot.client.app.router.resources()]
    assert "/metrics" in routes
    assert ("/twilio/sms" in routes) == (role != "worker")
    for route in routes:
        expected = 1 if route == "/metrics" else 0  # this scrape is in flight
        assert value(text, f'textwire_http_in_flight{{route="{route}"}}') == expected


# the labelled families of one role's parts: the webhooks' (web), the worker's and sender's
WEBHOOK_FAMILIES = ("textwire_inbound_total",)
HANDLING_FAMILIES = (
    "textwire_handled_total",
    "textwire_outbound_total",
    "textwire_replies_dropped_total",
    "textwire_loops_total",
    "textwire_ocr_total",
)


@pytest.mark.parametrize(
    ("role", "webhooks", "handling"), [("all", True, True), ("web", True, False), ("worker", False, True)]
)
async def test_a_role_lists_at_0_only_the_series_of_the_parts_it_runs(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, role: str, webhooks: bool, handling: bool
) -> None:
    """README: every labelled series is there from the start, at 0, "for the parts the process
    runs". A `--role worker` listed 18 `textwire_inbound_total` series (webhooks it never takes)
    and a `--role web` every `textwire_handled_total`, `textwire_outbound_total`, loop, OCR and
    dropped-reply series at 0: on a dashboard by instance, the web processes looked like workers
    that handled nothing. A series another role's part counts comes when first counted."""
    bot = await bot_factory(server={"role": role}, twilio=fake_twilio.section())
    text = await scrape(bot)

    def listed(family: str) -> bool:
        return re.search(rf"^{family}{{", text, re.M) is not None

    for family in WEBHOOK_FAMILIES:
        assert listed(family) == webhooks, family
    for family in HANDLING_FAMILIES:
        assert listed(family) == handling, family
    assert listed("textwire_x_errors_total")  # the web's X callback counts them too
