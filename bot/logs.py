"""Structured logs for operators: one JSON object a line (console renderer on a terminal).

The standard library's loggers (aiohttp's access log, APScheduler, alembic) go through the same
processors. Phone numbers are masked wherever they appear; values under secret-looking keys are
dropped; tracebacks carry no local variables.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

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
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phones_in(value)
    if isinstance(value, Mapping):
        return {k: ("[redacted]" if str(k).lower() in SECRET_KEYS else _scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def scrub(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Drop secret-looking keys and mask phone numbers in every string (also in exceptions)."""
    out: MutableMapping[str, Any] = {}
    for key, value in event_dict.items():
        if key.lower() in SECRET_KEYS:
            continue
        out[key] = _scrub(value)
    return dict(out)


def _drop_color_message(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)
    return event_dict


def shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
    ]


def configure_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and the standard library's root logger to write to `stream` (stdout)."""
    stream = stream or sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Processor
    final: list[Processor]
    if use_console:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        final = [scrub, renderer]
    else:
        renderer = structlog.processors.JSONRenderer()
        final = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            scrub,
            renderer,
        ]
    structlog.configure(
        processors=[*shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Chatty libraries: their warnings still come through.
    for name in (
        "aiosqlite",
        "botocore",
        "aiobotocore",
        "urllib3",
        "alembic.runtime.migration",
        "apscheduler.scheduler",
    ):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("apscheduler.executors").setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger


__all__ = ["SECRET_KEYS", "configure_logging", "get_logger", "mask_phone", "mask_phones_in", "scrub"]
