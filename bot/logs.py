"""Structured logs for operators: one JSON object a line (console renderer on a terminal).

The standard library's loggers (aiohttp's access log, APScheduler, alembic) go through the same
processors. Phone numbers are masked wherever they appear; values under secret-looking keys are
dropped; tracebacks carry no local variables.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

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


def mask_phone(phone: str) -> str:
    """`+15550001111` -> `+1******1111`: the country code's first digit and the last four."""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:2] + "*" * (len(phone) - 6) + phone[-4:]


def mask_phones_in(text: str) -> str:
    if "+" not in text:  # every number the pattern masks starts with one
        return text
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


_PLAIN = (int, float, type(None))  # bool is an int: nothing to mask in any of them


def _secret(key: object) -> bool:
    return key in SECRET_KEYS or str(key).lower() in SECRET_KEYS


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

    Every log line passes here (three a text): the common values (short strings without a `+`,
    numbers) take the first checks."""
    return {key: _scrub(value) for key, value in event_dict.items() if not _secret(key)}


def _drop_color_message(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


def shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
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
    final: list[Processor]
    if use_console:
        final = [scrub, structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    else:
        final = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            scrub,
            structlog.processors.JSONRenderer(),
        ]
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*shared_processors(), *final],
        logger_factory=structlog.PrintLoggerFactory(stream),
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
    "TickWriter",
    "configure_logging",
    "get_logger",
    "mask_phone",
    "mask_phones_in",
    "scrub",
]
