"""Logging: masked phones, secrets dropped, JSON lines, stdlib loggers through the same pipeline."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import logging

import pytest
import structlog
from structlog.testing import capture_logs

from bot.channels.twilio.rest import mask_links
from bot.core.logs import configure_logging, get_logger, mask_phone, scrub


def test_mask_phone() -> None:
    assert mask_phone("+15550001111") == "+1******1111"
    assert mask_phone("+447700900123") == "+4*******0123"


def test_scrub_drops_secret_keys_and_masks_numbers_everywhere() -> None:
    event = scrub(
        None,
        "info",
        {
            "event": "x.test",
            "token": "t0ps3cret",
            "password": "hunter2",
            "body": "\\JOIN house hunter2",
            "note": "from +15550001111 to +15557654321",
            "nested": {"refresh_token": "r", "phone": "+15550002222"},
        },
    )
    text = json.dumps(event)
    for secret in ("t0ps3cret", "hunter2", '"r"', "+15550001111", "+15557654321", "+15550002222"):
        assert secret not in text
    assert "+1******1111" in text


def test_mask_links() -> None:
    text = "Connect X: https://h/x/link/AbC_123-xyz and https://h/rooms/1/receipts?exp=123&sig=deadbeef"
    masked = mask_links(text)
    assert "AbC_123" not in masked
    assert "deadbeef" not in masked
    assert "/x/link/***" in masked
    # a \\PAIR offer's code is a secret too (the development log is where replies go)
    offer = "Your code: 793925. Within 10 minutes, send \\PAIR 793925 from your other number"
    assert mask_links(offer) == "Your code: ***. Within 10 minutes, send \\PAIR *** from your other number"


def test_json_lines_and_stdlib_loggers_share_the_pipeline() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream)
    try:
        structlog.contextvars.bind_contextvars(message_sid="SM1")
        get_logger("t").info("sms.received", sender="+15550001111", token="abc123")
        logging.getLogger("aiohttp.access").info(
            "http.request", extra={"route": "/x/link/{token}", "status": 200}
        )
        try:
            raise ValueError("boom +15550001111")
        except ValueError:
            get_logger("t").exception("handler.failed")
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["sms.received", "http.request", "handler.failed"]
    assert lines[0]["message_sid"] == "SM1"
    assert lines[0]["sender"] == "+1******1111"
    assert "token" not in lines[0]
    assert lines[1]["route"] == "/x/link/{token}"
    assert "+15550001111" not in stream.getvalue()
    assert "abc123" not in stream.getvalue()
    exc = lines[2]["exception"]
    assert isinstance(exc, list)
    assert all(not frame.get("locals") for e in exc for frame in e["frames"])


def test_capture_logs_sees_context() -> None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        structlog.contextvars.bind_contextvars(message_sid="SM2")
        get_logger("t").info("sms.handled")
        structlog.contextvars.clear_contextvars()
    assert logs[0]["message_sid"] == "SM2"


async def test_the_server_writes_its_log_lines_once_per_event_loop_turn() -> None:
    """`per_turn`: inside a running loop lines wait for the end of the turn, then go out in order
    in one write (structlog's and the standard library's alike); outside a loop, at once."""
    writes: list[str] = []

    class Stream(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return super().write(text)

    stream = Stream()
    configure_logging("info", "json", stream, per_turn=True)
    try:
        get_logger("t").info("one")
        logging.getLogger("aiohttp.access").info("two")
        get_logger("t").info("three")
        assert writes == []  # this turn is not over
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(writes) == 1
        assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == [
            "one",
            "two",
            "three",
        ]
        get_logger("t").info("four")
        await asyncio.to_thread(get_logger("t").info, "from a thread")  # no loop there: at once
        assert "from a thread" in stream.getvalue()
        await asyncio.sleep(0)
        events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
        assert sorted(events[3:]) == ["four", "from a thread"]
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_outside_a_loop_per_turn_lines_are_written_at_once() -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream, per_turn=True)
    try:
        get_logger("t").info("now")
        assert json.loads(stream.getvalue())["event"] == "now"
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()


def test_json_line_renders_as_the_processor_chain_does() -> None:
    """The server's one-call processor gives the line structlog's chain gives (shared processors,
    ExceptionRenderer, scrub, JSONRenderer): context variables, level, a UTC timestamp, secrets
    dropped, phones masked, an object JSON has no type for, an exception's traceback."""
    from bot.core.logs import JsonLine, shared_processors

    line = JsonLine()
    chain = [*shared_processors(), line.exceptions, scrub, structlog.processors.JSONRenderer()]

    class Opaque:
        def __repr__(self) -> str:
            return "<opaque +15550009999>"

    def through_chain(name: str, event: dict[str, object]) -> dict[str, object]:
        value: object = dict(event)
        for processor in chain:
            value = processor(None, name, value)  # type: ignore[arg-type]
        return dict(json.loads(str(value)))

    try:
        raise ValueError("boom for +15550001111")
    except ValueError as exc:
        error = exc
    events = [
        ("info", {"event": "sms.sent", "logger": "bot.pipeline.sender", "twilio_sid": "SMx", "attempts": 1}),
        ("warning", {"event": "x.y", "token": "t0p", "note": "from +15550001111", "n": None, "f": 1.5}),
        ("error", {"event": "x.failed", "exc_info": error, "ok": True, "obj": Opaque()}),
        (
            "exception",
            {"event": "x.failed", "exc_info": error, "nested": {"password": "p", "to": "+15550002222"}},
        ),
    ]
    structlog.contextvars.bind_contextvars(outbox_id=7, to="+1******1111")
    try:
        for name, event in events:
            ours = json.loads(str(line(None, name, dict(event))))
            theirs = through_chain(name, event)
            ours_at, theirs_at = (
                datetime.datetime.fromisoformat(str(d.pop("timestamp")).replace("Z", "+00:00"))
                for d in (ours, theirs)
            )
            assert abs((ours_at - theirs_at).total_seconds()) < 60
            assert ours == theirs
            assert list(ours) == list(theirs)
    finally:
        structlog.contextvars.clear_contextvars()
    stamp = json.loads(str(line(None, "info", {"event": "e"})))["timestamp"]
    assert datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").year >= 2026


def test_the_timestamp_is_structlogs_iso_utc_across_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_iso_now` formats the date and time once a second: the text is TimeStamper's (ISO, UTC,
    `Z`, no fraction on a whole second), also when the second changes between lines."""
    import time

    from bot.core import logs

    for now in (1_700_000_000.0, 1_700_000_000.5, 1_700_000_000.75, 1_700_000_001.25, 1_700_086_400.0):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        expected = datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat().replace("+00:00", "Z")
        assert logs._iso_now() == expected


def test_a_line_renders_as_json_would_orjson_or_not() -> None:
    """Lines are rendered by orjson, and by json's encoder where orjson would differ: the same
    JSON either way, always ASCII (non-ASCII text escaped), NaN as json writes it, datetimes and
    dataclasses by their repr, int keys as strings, integers past 64 bits."""
    import dataclasses

    from bot.core.logs import _encode, _json_default

    @dataclasses.dataclass
    class Point:
        x: int

    moment = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.UTC)
    for value in (
        {"event": "sms.sent", "attempts": 1, "twilio_sid": "SMx", "ok": True, "n": None, "f": 1.5},
        {"event": "x", "name": "Zoë 🎉", "nested": {"city": "Łódź"}},
        {"event": "x", "big": 2**70, "small": -(2**65)},
        {"event": "x", "bad": float("nan"), "worse": [float("inf")], "n": None},
        {"event": "x", "at": moment, "point": Point(3), 7: "seven", "items": (1, "two")},
    ):
        line = _encode(value)
        assert line.isascii()
        assert "\n" not in line
        expected = json.dumps(value, default=_json_default, separators=(",", ":"))
        assert line == expected
