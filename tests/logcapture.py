"""Capture every structlog event, including those of module-level loggers bound at import time.

`structlog.testing.capture_logs` edits the processor list of the current configuration in place;
loggers bound at import (`get_logger(__name__)`) keep the list that was current then, which a
`configure()` or `reset_defaults()` in an earlier test replaces. This helper edits both lists.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog
from structlog.testing import LogCapture

import bot.worker


@contextmanager
def capture_all_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    cap = LogCapture()
    current = structlog.get_config()["processors"]
    lists = {id(p): p for p in (current, bot.worker.log._processors)}  # type: ignore[attr-defined]
    saved = {key: list(p) for key, p in lists.items()}
    for p in lists.values():
        p[:] = [structlog.contextvars.merge_contextvars, cap]
    try:
        yield cap.entries
    finally:
        for key, p in lists.items():
            p[:] = saved[key]
