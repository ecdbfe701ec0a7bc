"""Wake-ups across processes: a committed inbox row wakes a worker, a committed outbox row wakes a
sender, in whichever process they run.

`Notifier.publish(channel)` is called right after a commit. It wakes this process's own
subscribers at once (an in-process signal: all there is on SQLite), unless the commit concerns
only the others (`here=False`: a sender's finished sends, which hold back only other processes'
claims). On PostgreSQL it also sends
`NOTIFY` on one dedicated connection per process (asyncpg, outside the pool), which also `LISTEN`s
and wakes this process's subscribers when another process publishes. Publishes coalesce: while a
`NOTIFY` is in flight, any number of publishes on that channel make one more. The connection
reconnects with backoff when it is lost or stops answering (a NOTIFY or an idle check not answered
within `ANSWER_SECONDS`), and wakes every subscriber once when it is back (a notification may have
been missed meanwhile). Polling stays the fallback: a lost or late
notification only costs the poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from bot.core.dburl import bound_unacknowledged, is_postgres, mask_url, pg_connect_args
from bot.core.logs import get_logger
from bot.core.tasks import BackgroundTask

log = get_logger(__name__)

INBOX = "textwire_inbox"
OUTBOX = "textwire_outbox"
CHANNELS = (INBOX, OUTBOX)

RECONNECT_FIRST = 0.2
RECONNECT_MAX = 5.0
FLUSH_SECONDS = 1.0  # a stop's last NOTIFYs: a database that does not answer is not waited on
# A NOTIFY (or the idle check) not answered in this long counts the connection as lost: one left
# open by a server that froze or went away without closing it (a failover, a network fault)
# would otherwise hold every NOTIFY of this process, and hear none of the others', for as long as
# the socket stays open, while the pool's fresh connections work and texts wait for the poll.
ANSWER_SECONDS = 5.0
IDLE_CHECK_SECONDS = 30.0  # an idle connection is asked `SELECT 1` this often: LISTEN alone hears nothing


class Notifier:
    def __init__(self, url: str | None) -> None:
        """`url`: the database URL; only a PostgreSQL one crosses processes."""
        self._url = url if url is not None and is_postgres(url) else None
        self._subscribers: dict[str, list[Callable[[], None]]] = {channel: [] for channel in CHANNELS}
        self._pending: set[str] = set()
        self._dirty = asyncio.Event()
        self._task = BackgroundTask("notifier")
        self._conn: Any = None
        self._server_pid: int | None = None
        self.listening = asyncio.Event()  # set while the LISTEN connection is up (tests wait on it)
        self.connections = 0  # how many times it connected (a reconnect counts)

    @property
    def cross_process(self) -> bool:
        return self._url is not None

    def subscribe(self, channel: str, callback: Callable[[], None]) -> None:
        self._subscribers[channel].append(callback)

    def publish(self, channel: str, *, here: bool = True) -> None:
        """Call after the commit of a row on `channel`: wakes subscribers elsewhere, and here
        unless `here` is False."""
        if here:
            self._wake_local(channel)
        if self._url is not None:
            self._pending.add(channel)
            self._dirty.set()

    async def start(self) -> None:
        if self._url is not None:
            self._task.start(self._run)

    async def stop(self) -> None:
        """Stop listening. What was published and not yet sent goes first (a stopping process's
        released claims: the others take them at once, not a poll later)."""
        await self._task.stop()
        await self._flush()
        await self._close()

    async def _flush(self) -> None:
        conn, channels, self._pending = self._conn, self._pending, set()
        if not channels or conn is None or conn.is_closed():
            return
        try:
            async with asyncio.timeout(FLUSH_SECONDS):
                for channel in sorted(channels):
                    await conn.execute("SELECT pg_notify($1, '')", channel)
        except Exception as exc:  # the others' poll takes them; a stop never waits on it for long
            log.warning("notify.flush_failed", error=type(exc).__name__)

    def _wake_local(self, channel: str) -> None:
        for callback in self._subscribers[channel]:
            callback()

    def _on_notification(self, _conn: Any, pid: int, channel: str, _payload: str) -> None:
        if pid == self._server_pid:  # our own NOTIFY: this process was woken when it published
            return
        if channel in self._subscribers:
            self._wake_local(channel)

    async def _run(self) -> None:
        assert self._url is not None
        delay = RECONNECT_FIRST
        while True:
            lost = asyncio.Event()
            try:
                await self._connect(lost)
                delay = RECONNECT_FIRST
                for channel in CHANNELS:  # something may have been missed while disconnected
                    self._wake_local(channel)
                if self._pending:
                    self._dirty.set()
                await self._send_until(lost)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "notify.disconnected",
                    error=type(exc).__name__,
                    database=mask_url(self._url),
                    retry_in=delay,
                )
            await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _connect(self, lost: asyncio.Event) -> None:
        import asyncpg

        assert self._url is not None
        dsn, kwargs = pg_connect_args(self._url)
        conn = await asyncpg.connect(dsn, **kwargs)
        bound_unacknowledged(conn)
        self._conn = conn
        conn.add_termination_listener(lambda _conn: lost.set())
        for channel in CHANNELS:
            await conn.add_listener(channel, self._on_notification)
        self._server_pid = conn.get_server_pid()
        self.connections += 1
        self.listening.set()
        log.info("notify.listening", channels=list(CHANNELS), reconnects=self.connections - 1)

    async def _send_until(self, lost: asyncio.Event) -> None:
        """Send pending NOTIFYs until the connection is lost."""
        while True:
            dirty = asyncio.ensure_future(self._dirty.wait())
            gone = asyncio.ensure_future(lost.wait())
            try:
                await asyncio.wait(
                    (dirty, gone), timeout=IDLE_CHECK_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                dirty.cancel()
                gone.cancel()
            conn = self._conn
            if lost.is_set() or conn is None or conn.is_closed():
                raise ConnectionError("LISTEN connection lost")
            if not self._dirty.is_set():  # idle: is the server still there?
                async with asyncio.timeout(ANSWER_SECONDS):
                    await conn.execute("SELECT 1")
                continue
            self._dirty.clear()
            channels, self._pending = self._pending, set()
            try:
                async with asyncio.timeout(ANSWER_SECONDS):
                    for channel in sorted(channels):
                        await conn.execute("SELECT pg_notify($1, '')", channel)
            except BaseException:
                self._pending |= channels  # sent again after the reconnect
                raise

    async def _close(self) -> None:
        self.listening.clear()
        conn, self._conn = self._conn, None
        self._server_pid = None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)
        elif conn is not None:
            conn.terminate()


__all__ = ["CHANNELS", "INBOX", "OUTBOX", "Notifier"]
