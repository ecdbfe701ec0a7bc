"""The moving parts of a process, started in one explicit order and stopped in reverse.

The order is fixed for every role (python-telegram-bot's Application: initialize, start, stop,
shutdown): the inbox writer (webhooks commit through it), the worker (it handles what the writer
committed), the sender (it sends what the worker queued), the scheduler (its jobs use all of the
above). A role runs a subset of them, in the same order (SPEC, Contracts: `--role`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.core.logs import get_logger

log = get_logger(__name__)

ORDER = ("writer", "worker", "sender", "scheduler")
ROLE_PARTS: dict[str, tuple[str, ...]] = {
    "all": ORDER,
    "web": ("writer",),
    "worker": ("worker", "sender", "scheduler"),
}


@dataclass(frozen=True)
class Part:
    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]


class Lifecycle:
    """Starts parts one after the other; `stop` stops the started ones in reverse, each once."""

    def __init__(self) -> None:
        self._running: list[Part] = []
        self.stopping: str | None = None  # the part `stop` waits for now (named when stopping hangs)

    @property
    def running(self) -> tuple[str, ...]:
        return tuple(part.name for part in self._running)

    async def start(self, parts: Sequence[Part]) -> None:
        names = [part.name for part in parts]
        assert names == [n for n in ORDER if n in names], f"parts out of order: {names}"
        for part in parts:
            await part.start()
            self._running.append(part)
            log.debug("part.started", part=part.name)

    async def stop(self) -> None:
        while self._running:
            part = self._running.pop()
            self.stopping = part.name
            try:
                await part.stop()
            except Exception as exc:  # the other parts still stop
                log.error("part.stop_failed", part=part.name, error=type(exc).__name__)
            else:
                log.debug("part.stopped", part=part.name)
        self.stopping = None


__all__ = ["ORDER", "ROLE_PARTS", "Lifecycle", "Part"]
