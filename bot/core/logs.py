"""Structured logs for operators: one JSON object a line (console renderer on a terminal).

The standard library's loggers (aiohttp's access log, APScheduler, alembic) go through the same
processors. Phone numbers are masked wherever they appear; values under secret-looking keys are
dropped; tracebacks carry no local variables.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import json
import logging
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

import orjson
import structlog
from structlog.contextvars import STRUCTLOG_KEY_PREFIX
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from bot.core.channel import TELEGRAM, address_of
from bot.core.dburl import driver_error

_PHONE = re.compile(r"\+\d{7,15}")
# keys whose values never reach a log line
SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "auth_token",
        "secret",
        "client_secret",
        "password",
        "code",
        "state",
        "verifier",
        "code_verifier",
        "sig",
        "signature",
        "authorization",
        "cookie",
        "fernet_keys",
        "body",
    }
)


def db_reason(exc: BaseException) -> str:
    """What a failed database operation met, safe to log beside its class: SQLite's own words
    (`database or disk is full`, `database is locked`, `attempt to write a readonly database`: they
    name no row's values), else the driver's error class (asyncpg's `DiskFullError`,
    `ConnectionDoesNotExistError`), whose message may quote a row and is never logged. The class
    alone (`OperationalError`, SQLAlchemy's for both) left a full disk to guesswork."""
    inner = driver_error(exc)
    if isinstance(inner, sqlite3.Error):
        words = str(inner).strip().splitlines()[0][:120] if str(inner).strip() else ""
        return f"{type(inner).__name__}: {words}" if words else type(inner).__name__
    return type(inner).__name__


def mask_phone(phone: str) -> str:
    """`+15550001111` -> `+1******1111`: the country code's first digit and the last four."""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:2] + "*" * (len(phone) - 6) + phone[-4:]


def mask_address(key: str) -> str:
    """A stored address as members see each other without a `\\NAME`: an SMS or WhatsApp number
    masked (`+1******1111`), a Telegram chat by its last digits (`Telegram ***4567`)."""
    address = address_of(key)
    if address.channel == TELEGRAM:
        return f"Telegram ***{address.id[-4:]}"
    return mask_phone(address.id)


def mask_phones_in(text: str) -> str:
    if "+" not in text:  # every number the pattern masks starts with one
        return text
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


_PLAIN = (int, float, type(None))  # bool is an int: nothing to mask in any of them


_SECRET_SEEN: dict[object, bool] = {}  # key -> secret? (keys come from code: a few dozen)


def _secret(key: object) -> bool:
    found = _SECRET_SEEN.get(key)
    if found is None:
        found = key in SECRET_KEYS or str(key).lower() in SECRET_KEYS
        if len(_SECRET_SEEN) < 4096:
            _SECRET_SEEN[key] = found
    return found


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phones_in(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {k: ("[redacted]" if _secret(k) else _scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def scrub(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Drop secret-looking keys and mask phone numbers in every string (also in exceptions).

    Every log line passes here (three a text): the common keys (seen before) and values (strings
    without a `+`, numbers) take the first checks, inline."""
    out = {}
    seen = _SECRET_SEEN
    for key, value in event_dict.items():
        secret = seen.get(key)
        if secret is None:
            secret = _secret(key)
        if secret:
            continue
        kind = type(value)
        if kind is str:
            out[key] = mask_phones_in(value) if "+" in value else value
        elif kind is int or kind is float or kind is bool or value is None:
            out[key] = value
        else:
            out[key] = _scrub(value)
    return out


def _json_default(obj: Any) -> Any:
    """JSONRenderer's fallback for what JSON has no type for: `__structlog__()`, else `repr()`."""
    try:
        return obj.__structlog__()
    except AttributeError:
        return repr(obj)


# json's encoder for what orjson leaves (see `_encode`), with orjson's separators: one line format
_encode_json = json.JSONEncoder(default=_json_default, separators=(",", ":")).encode
# datetimes and dataclasses go to `_json_default` (their repr), as with json; subclasses of str,
# int, dict and list are what they subclass, as with json; non-str keys become strings, as with json
_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _encode(obj: Any) -> str:
    """A log line's JSON: orjson (0.3 us a line of the server's, json's encoder 1.8; three lines
    a text), unless the line holds what only json writes as it should: a character outside ASCII
    (json escapes it: a line stays ASCII whatever the stream's encoding), an integer past 64 bits,
    NaN or infinity."""
    try:
        raw = orjson.dumps(obj, default=_json_default, option=_ORJSON)
    except (orjson.JSONEncodeError, TypeError):
        return _encode_json(obj)
    if not raw.isascii() or (b"null" in raw and _has_nonfinite(obj)):
        return _encode_json(obj)
    return raw.decode("ascii")


def _has_nonfinite(obj: Any) -> bool:
    """A float NaN or infinity anywhere in `obj` (orjson writes them as null, json as NaN)."""
    if type(obj) is float:
        return obj != obj or obj in (float("inf"), float("-inf"))
    if isinstance(obj, Mapping):
        return any(_has_nonfinite(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return any(_has_nonfinite(v) for v in obj)
    return False


_second: tuple[int, str] = (-1, "")  # the second `_iso_now` last formatted, and its text


def _iso_now() -> str:
    """What structlog's `TimeStamper(fmt="iso", utc=True)` writes (`2026-11-24T21:57:50.104424Z`,
    no fraction on a whole second), with the date and time formatted once a second: 0.98 -> 0.5 us
    (three lines a text). One tuple, replaced whole: safe for lines from other threads."""
    global _second
    now = time.time()
    whole = int(now)
    micro = int((now - whole) * 1_000_000)
    second = _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{micro:06d}Z" if micro else f"{second[1]}Z"


_CONTEXT_PREFIX_LEN = len(STRUCTLOG_KEY_PREFIX)
_timestamp = structlog.processors.TimeStamper(fmt="iso", utc=True)


class JsonLine:
    """structlog's own lines in one processor: `shared_processors()` (the bound context
    variables, the level, the ISO UTC timestamp; no `color_message`), then `ExceptionRenderer`,
    `scrub` and `JSONRenderer`, with the same result. The server writes three lines a text: the
    processor chain's calls and copies were a tenth of a text's CPU (BENCHMARKS.md). The context
    merge, the timestamp and the rendering are inline (7.0 -> 5.8 us a line, stop 21)."""

    def __init__(self) -> None:
        self.exceptions = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        # one encoder for every line (json.dumps with `default=` builds one a call)
        self.render = structlog.processors.JSONRenderer(
            serializer=lambda obj, **_: _encode(obj)  # JSONRenderer passes its own keywords
        )

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> str | bytes:
        # structlog.contextvars.merge_contextvars, inline
        for var, value in contextvars.copy_context().items():
            if value is not Ellipsis and var.name.startswith(STRUCTLOG_KEY_PREFIX):
                event_dict.setdefault(var.name[_CONTEXT_PREFIX_LEN:], value)
        structlog.processors.add_log_level(logger, name, event_dict)
        event_dict["timestamp"] = _iso_now()
        event_dict.pop("color_message", None)
        if "exc_info" in event_dict or "exception" in event_dict:
            event_dict = self.exceptions(logger, name, event_dict)
        return _encode(scrub(logger, name, event_dict))


def _drop_color_message(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


def shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _timestamp,
        _drop_color_message,
    ]


class TickWriter:
    """A stream for log lines that writes once per event-loop turn instead of once per line.

    structlog's PrintLogger flushes after every line: a `write` system call each, about a third of
    a log line's cost, three lines per text (BENCHMARKS.md). Lines written while an event loop runs
    in this thread are kept until the loop's current turn ends (`call_soon`), then written in order
    with one call; outside a loop (start-up, shutdown, another thread) a flush writes at once, and
    at exit whatever is left is written. A process killed with kill -9 loses at most the lines of
    the turn it died in."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._parts: list[str] = []
        self._lock = threading.Lock()
        self._scheduled: asyncio.AbstractEventLoop | None = None  # the loop that will write
        atexit.register(self.flush_now)

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def msg(self, message: str) -> None:
        """structlog's logger interface, as PrintLogger's (which prints the line and its newline
        as two writes, then flushes): one append."""
        with self._lock:
            self._parts.append(message + "\n")
        self.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg

    def flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush_now()
            return
        if self._scheduled is not loop:
            self._scheduled = loop
            loop.call_soon(self.flush_now)

    def flush_now(self) -> None:
        with self._lock:
            self._scheduled = None
            parts, self._parts = self._parts, []
            if parts:
                with contextlib.suppress(ValueError, OSError):  # a closed stream at exit
                    self.stream.write("".join(parts))
                    self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()


_tick_writer: TickWriter | None = None  # the server's (`configure_logging(per_turn=True)`)


def flush_logs() -> None:
    """Write every line kept for the loop's turn now: before `os._exit`, which runs no atexit."""
    if _tick_writer is not None:
        _tick_writer.flush_now()
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()


def configure_logging(
    level: str = "info", fmt: str = "auto", stream: TextIO | None = None, *, per_turn: bool = False
) -> None:
    """structlog's own events are filtered by level first (a debug line below the level costs a
    method call) and rendered straight to `stream`; the standard library's loggers go through a
    ProcessorFormatter with the same processors, so every line has one shape. `per_turn`: write
    JSON lines once per event-loop turn (`TickWriter`; the server)."""
    stream = stream or sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    if per_turn and not use_console:
        stream = TickWriter(stream)  # type: ignore[assignment]
        global _tick_writer
        _tick_writer = stream  # type: ignore[assignment]
    final: list[Processor]
    if use_console:
        final = [scrub, structlog.dev.ConsoleRenderer(colors=stream.isatty())]
        own: list[Processor] = [*shared_processors(), *final]
    else:
        line = JsonLine()
        final = [line.exceptions, scrub, line.render]
        own = [line]  # the same steps as the standard library's lines take, in one call
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=own,
        logger_factory=(lambda *_: stream)
        if isinstance(stream, TickWriter)
        else structlog.PrintLoggerFactory(stream),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *shared_processors(),
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # Chatty libraries: their warnings still come through.
    for name in (
        "aiosqlite",
        "botocore",
        "aiobotocore",
        "urllib3",
        "alembic",  # its plugin set-up and migration lines on every start
        "apscheduler",
    ):
        logging.getLogger(name).setLevel(max(logging.WARNING, numeric))


def get_logger(name: str) -> FilteringBoundLogger:
    logger: FilteringBoundLogger = structlog.get_logger().bind(logger=name)
    return logger


__all__ = [
    "SECRET_KEYS",
    "JsonLine",
    "TickWriter",
    "configure_logging",
    "flush_logs",
    "get_logger",
    "mask_phone",
    "mask_phones_in",
    "scrub",
]
