"""Process leases (issue 9 item 4). Every process has one owner id, written on every claim it
makes (inbox `claimed_by`, outbox `claimed_by`), and heartbeats every `HEARTBEAT_SECONDS` in the
`processes` table. On each beat it also takes over the claims of owners that have not heartbeated
for `STALE_SECONDS`: a process killed with kill -9 loses its claims within about
STALE_SECONDS + HEARTBEAT_SECONDS (12 s), to whichever live process beats first. No process ever
releases claims it does not own: not at start-up (the same rules hold for several processes on
one SQLite file), and on stop only its own (the worker and the sender do that).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Sequence

from bot.core.deps import Deps
from bot.core.logs import get_logger
from bot.core.tasks import BackgroundTask
from storage import leases

log = get_logger(__name__)

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 10.0


def new_owner_id() -> str:
    """host-pid-random: unique per process start, readable in the tables (at most 64 chars)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class Leases:
    def __init__(self, deps: Deps, owner: str, *, on_takeover: Sequence[Callable[[], None]] = ()) -> None:
        self.deps = deps
        self.owner = owner
        self.on_takeover = list(on_takeover)
        self._task = BackgroundTask("leases")

    async def start(self) -> None:
        await self.beat()
        self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()
        with contextlib.suppress(Exception):
            async with self.deps.db.tx() as conn:
                await leases.forget(conn, self.owner)

    async def beat(self) -> tuple[int, int]:
        """Heartbeat, then take over dead owners' claims (one transaction)."""
        async with self.deps.db.tx() as conn:
            now = self.deps.now()
            await leases.heartbeat(conn, self.owner, now)
            taken = await leases.take_over(conn, now=now, live_since=now - STALE_SECONDS)
        if any(taken):
            log.warning("leases.taken_over", inbox=taken[0], outbox=taken[1])
            for wake in self.on_takeover:
                wake()
        return taken

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again on the next beat
                log.error("leases.heartbeat_failed", error=type(exc).__name__)

    async def take_job(self, job_id: str, seconds: float) -> bool:
        """The lease on one run of a scheduled job for `seconds`; False when another process runs it."""
        async with self.deps.db.tx() as conn:
            now = self.deps.now()
            return await leases.take_job(conn, job_id, self.owner, now=now, until=now + seconds)
