"""The background tasks of the long-lived parts (the inbox writer, the heartbeat, the LISTEN
connection, SQLite's checkpointer, the claim loops), started and stopped one way.

A task that ends with an exception is logged as it ends (`task.crashed`, with its traceback),
instead of by asyncio's "Task exception was never retrieved" whenever the garbage collector
frees it, or never. Such a crash is a bug, and the part it ran is gone: `textwire serve` sets
`on_crash` to stop the process with exit code 1, so its supervisor starts it again, rather than
let it answer /readyz while no text is handled. `stop()` cancels the task and waits until it has
ended; a crash logged before is not raised again there (a part that stops goes on stopping), and a cancellation of the
caller itself is not swallowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from bot.core.logs import get_logger

log = get_logger(__name__)

_crash_handler: Callable[[str], None] | None = None


def on_crash(handler: Callable[[str], None] | None) -> None:
    """Call `handler(task name)` when a task crashes (None: only log it, as tests and chat do)."""
    global _crash_handler
    _crash_handler = handler


class BackgroundTask:
    """One task, by name (the asyncio task's name, and the log line's `task`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Started, and not ended (by a stop, a return or a crash)."""
        return self._task is not None and not self._task.done()

    def start(self, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `run()` as the task; nothing when it runs already."""
        if self.running:
            return
        self._task = asyncio.create_task(run(), name=self.name)
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        """Cancel the task and wait until it has ended (nothing when none was started)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        await asyncio.wait([task])  # raises nothing of the task's; a cancellation of ours propagates

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("task.crashed", task=self.name, error=type(error).__name__, exc_info=error)
            if _crash_handler is not None:
                _crash_handler(self.name)


__all__ = ["BackgroundTask", "on_crash"]
