"""Group commit for the webhook: many requests, one transaction.

Each webhook hands its message to `InboxWriter.add` and waits. One writer task takes everything
queued, inserts it in one transaction (insert-or-ignore on MessageSid), commits, and only then
resolves the waiters: a 200 always means a committed row. A failed commit fails every waiter of
that batch (the webhook answers 5xx and Twilio retries).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from bot.logs import get_logger
from storage import inbox
from storage.db import Database, sqlite_path

log = get_logger(__name__)

MAX_BATCH = 512


class InboxWriter:
    def __init__(self, db: Database, on_commit: Callable[[], None]) -> None:
        self._db = db
        path = sqlite_path(db.url) if db.is_sqlite else None
        self._appender = inbox.SqliteAppender(str(path), lock=db.write_lock) if path is not None else None
        self._on_commit = on_commit
        self._queue: asyncio.Queue[tuple[inbox.NewMessage, asyncio.Future[bool]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._appender is not None:
            await self._appender.open()
        self._task = asyncio.create_task(self._run(), name="inbox-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._appender is not None:
            await self._appender.close()
        while not self._queue.empty():  # nothing committed for these: the webhook answers 503
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(RuntimeError("shutting down"))

    async def add(self, message: inbox.NewMessage) -> bool:
        """Commit `message`; True when it was new, False for a duplicate MessageSid."""
        if self._task is None or self._task.done():
            raise RuntimeError("inbox writer is not running")
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((message, fut))
        return await fut

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                messages = [m for m, _ in batch]
                if self._appender is not None:
                    fresh = await self._appender.append(messages)
                else:
                    async with self._db.tx() as conn:
                        fresh = await inbox.insert_batch(conn, messages)
            except Exception as exc:  # the database is down or full: every waiter gets 5xx
                log.error("inbox.write_failed", error=type(exc).__name__, batch=len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            seen: set[str] = set()
            for message, fut in batch:
                is_new = message.message_sid in fresh and message.message_sid not in seen
                seen.add(message.message_sid)
                if not fut.done():
                    fut.set_result(is_new)
            if fresh:
                self._on_commit()
