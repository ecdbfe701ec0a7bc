"""Group commit for the webhook: many requests, one transaction.

Each webhook hands its message to `InboxWriter.add` and waits. One writer task takes everything
queued, inserts it in one transaction (insert-or-ignore on MessageSid), commits, and only then
resolves the waiters: a 200 always means a committed row. A failed commit fails every waiter of
that batch (the webhook answers 5xx and Twilio retries), after each of its messages is tried
alone: one row the database refuses fails only its own webhook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.core.logs import db_reason, get_logger
from bot.core.tasks import BackgroundTask
from storage import inbox
from storage.db import Database, sqlite_path

log = get_logger(__name__)

MAX_BATCH = 512
# A PostgreSQL batch not committed in this long fails (503): one statement on a connection whose
# server went away without closing it (a failover, a network fault) held this writer, and so every
# webhook of the process, for as long as the socket stayed open (minutes), past Twilio's 15 s.
# The next batch goes on fresh connections. Longer than Twilio's 15 s on purpose: a batch that
# is only slow (a lock held by a migration or VACUUM FULL) is still stored and answered, though
# Twilio stopped waiting, where a 503 loses its texts (Twilio does not send them again).
STORE_SECONDS = 30.0
# The first try gives up after this, and the batch is tried once more on fresh connections within
# what is left of STORE_SECONDS: a connection that stopped answering cost the texts of its batch
# (503) where a fresh one stores them before Twilio's 15 s. An INSERT that did commit before its
# answer was lost finds its rows there on the second try (duplicates: 200, handled once).
FIRST_TRY_SECONDS = 10.0


class InboxWriter:
    def __init__(self, db: Database, on_commit: Callable[[], None]) -> None:
        self._db = db
        path = sqlite_path(db.url) if db.is_sqlite else None
        self._appender = inbox.SqliteAppender(db) if path is not None else None
        self._on_commit = on_commit
        self._queue: asyncio.Queue[tuple[inbox.NewMessage, asyncio.Future[bool]]] = asyncio.Queue()
        self._task = BackgroundTask("inbox-writer")

    async def start(self) -> None:
        if self._appender is not None:
            await self._appender.open()
        self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()
        if self._appender is not None:
            await self._appender.close()
        while not self._queue.empty():  # nothing committed for these: the webhook answers 503
            _, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_exception(RuntimeError("shutting down"))

    async def add(self, message: inbox.NewMessage) -> bool:
        """Commit `message`; True when it was new, False for a duplicate MessageSid."""
        if not self._task.running:
            raise RuntimeError("inbox writer is not running")
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((message, fut))
        return await fut

    async def _insert(self, messages: list[inbox.NewMessage]) -> set[str]:
        """One transaction: the MessageSids that were new."""
        if self._appender is not None:
            return await self._appender.append(messages)
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            return await inbox.insert_new(self._db, messages, within=min(FIRST_TRY_SECONDS, STORE_SECONDS))
        except TimeoutError as exc:
            left = STORE_SECONDS - (loop.time() - began)
            if left <= 0:
                raise
            log.warning("inbox.write_retried", reason=db_reason(exc), batch=len(messages))
            return await inbox.insert_new(self._db, messages, within=left)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                fresh = await self._insert([m for m, _ in batch])
            except asyncio.CancelledError:  # stopped mid-batch: its webhooks answer 503, not hang
                _fail(batch, RuntimeError("shutting down"))
                raise
            except Exception as exc:
                if len(batch) == 1:  # the database is down or full, or this row cannot be stored
                    log.error("inbox.write_failed", error=type(exc).__name__, reason=db_reason(exc), batch=1)
                    _fail(batch, exc)
                else:  # one row that cannot be stored must not fail the others: each alone
                    try:
                        fresh = await self._one_by_one(batch, exc)
                    except asyncio.CancelledError:
                        _fail(batch, RuntimeError("shutting down"))
                        raise
                    if fresh:
                        self._on_commit()
                continue
            _resolve(batch, fresh)
            if fresh:
                self._on_commit()

    async def _one_by_one(self, batch: list[_Waiting], error: Exception) -> set[str]:
        """After a failed batch: each message in a transaction of its own. Two failures in a row
        say the database is the trouble, not a row: the rest fail at once (5xx, Twilio retries)."""
        fresh: set[str] = set()
        failed, in_a_row = 0, 0
        for n, (message, fut) in enumerate(batch):
            if in_a_row >= 2:
                _fail(batch[n:], error)
                failed += len(batch) - n
                break
            try:
                new = await self._insert([message])
            except Exception as exc:
                error, failed, in_a_row = exc, failed + 1, in_a_row + 1
                _fail([(message, fut)], exc)
                continue
            in_a_row = 0
            fresh |= new
            _resolve([(message, fut)], new)
        if failed:
            log.error(
                "inbox.write_failed",
                error=type(error).__name__,
                reason=db_reason(error),
                batch=len(batch),
                failed=failed,
            )
        else:
            log.warning("inbox.write_retried", error=type(error).__name__, batch=len(batch))
        return fresh


_Waiting = tuple[inbox.NewMessage, "asyncio.Future[bool]"]


def _fail(waiting: list[_Waiting], exc: Exception) -> None:
    for _, fut in waiting:
        if not fut.done():
            fut.set_exception(exc)


def _resolve(waiting: list[_Waiting], fresh: set[str]) -> None:
    """A waiter learns whether its message was new; a MessageSid twice in a batch is new once."""
    seen: set[str] = set()
    for message, fut in waiting:
        is_new = message.message_sid in fresh and message.message_sid not in seen
        seen.add(message.message_sid)
        if not fut.done():
            fut.set_result(is_new)
