"""Process leases (issue 9 item 4). Every process has one owner id, written on every claim it
makes (inbox `claimed_by`, outbox `claimed_by`), and heartbeats every `HEARTBEAT_SECONDS` in the
`processes` table. On each beat it also takes over the claims of owners that have not heartbeated
for `STALE_SECONDS` (whose heartbeat has not changed for that long: `Watch`): a process killed with kill -9 loses its claims within about
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
import time
from collections.abc import Callable, Mapping, Sequence

from bot.core.deps import Deps
from bot.core.logs import db_reason, get_logger
from bot.core.tasks import BackgroundTask
from storage import leases

log = get_logger(__name__)

HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 10.0
# An owner this process has not seen beat, whose last beat is older than STALE_SECONDS, is dead
# once it has not beaten for this long of looks: a live peer beats within HEARTBEAT_SECONDS
# when the database is back, a crashed predecessor never does.
UNWATCHED_SECONDS = 3 * HEARTBEAT_SECONDS
# On PostgreSQL a beat not committed within this gives up (`beat`), well before STALE_SECONDS
BEAT_SECONDS = 4.0


class Watch:
    """Which owners are dead, judged by whether their heartbeats change, on this process's
    monotonic clock: an owner whose heartbeat has not changed for `STALE_SECONDS` is dead, one
    whose heartbeat changed within them is alive, whatever its clock says. Comparing another
    process's wall clock with ours made a process whose clock ran ahead (another machine's
    skew, an NTP step) take over the claims of live ones every beat, and their replies went
    twice. Only an owner not yet seen to beat is judged by the wall clock, and not at the first
    look: its beat must be older than STALE_SECONDS and stay unchanged for UNWATCHED_SECONDS of
    looks. A process starting after an outage (a restart, a failover, or systemd starting it
    again once `serve` gave up waiting) saw every live peer's beat old, since no one could
    beat, and took their claims in flight over at its first look: replies went twice. A
    process starting after a crash takes its predecessor's claims over within seconds.

    Each look counts at most `HEARTBEAT_SECONDS` of an owner's silence, however long since the
    last one: while this process could not look (the database away, or hanging, for it and its
    peers alike) no one could beat, and counting that time made every live peer dead at the
    first look after an outage of 10 s: their claims in flight were taken over and handled or
    sent again. An owner is dead after it missed the beats of `STALE_SECONDS` of looks."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._seen: dict[str, tuple[float, float, bool]] = {}  # owner -> (its beat, silent for, changed)
        self._looked: float | None = None

    def dead(self, beats: Mapping[str, float], *, now: float, me: str) -> list[str]:
        at = self._monotonic()
        step = 0.0 if self._looked is None else min(max(0.0, at - self._looked), HEARTBEAT_SECONDS)
        self._looked = at
        self._seen = {owner: self._update(owner, beat, step) for owner, beat in beats.items()}
        found = []
        for owner, (beat, silent, changed) in self._seen.items():
            if owner == me:
                continue
            if silent >= STALE_SECONDS or (
                not changed and beat < now - STALE_SECONDS and silent >= UNWATCHED_SECONDS
            ):
                found.append(owner)
        return found

    def _update(self, owner: str, beat: float, step: float) -> tuple[float, float, bool]:
        seen = self._seen.get(owner)
        if seen is None:
            return (beat, 0.0, False)
        if seen[0] != beat:
            return (beat, 0.0, True)
        return (beat, seen[1] + step, seen[2])


def new_owner_id() -> str:
    """host-pid-random: unique per process start, readable in the tables (at most 64 chars)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


class Leases:
    def __init__(
        self,
        deps: Deps,
        owner: str,
        *,
        on_takeover: Sequence[Callable[[], None]] = (),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deps = deps
        self.owner = owner
        self.watch = Watch(monotonic)
        self.on_takeover = list(on_takeover)
        self._task = BackgroundTask("leases")
        # the owners judged dead at the last look: a dead owner stays dead at every look until its
        # row is forgotten (a day), and its claims are taken at the first (here or by a peer)
        self._dead: set[str] = set()

    async def start(self) -> None:
        await self.beat()
        self._task.start(self._run)

    async def stop(self) -> None:
        await self._task.stop()
        with contextlib.suppress(Exception):
            async with self.deps.db.tx() as conn:
                await leases.forget(conn, self.owner)

    async def beat(self) -> tuple[int, int]:
        """Heartbeat, then take over dead owners' claims (one transaction). On PostgreSQL it gives
        up BEAT_SECONDS after it has its connection (`Database.tx`: TimeoutError, the pool's
        connections replaced): a beat on a connection whose server went away without closing it
        (a failover, a network fault) waited with no end, the process beat no more, and its peers
        took over the claims it was working on (handled and sent twice) while it claimed on
        fresh connections."""
        async with self.deps.db.tx(within=BEAT_SECONDS) as conn:
            now = self.deps.now()
            await leases.heartbeat(conn, self.owner, now)
            dead = self.watch.dead(await leases.heartbeats(conn), now=now, me=self.owner)
            taken = await leases.take_over(conn, now=now, dead=dead)
        newly = sorted(set(dead) - self._dead)
        self._dead = set(dead)
        if any(taken):
            # whose claims they were (host-pid-random: the process an operator killed, or the
            # machine lost), so the line can be told apart from another process's takeover
            log.warning("leases.taken_over", inbox=taken[0], outbox=taken[1], owners=newly)
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
                log.error("leases.heartbeat_failed", error=type(exc).__name__, reason=db_reason(exc))

    async def take_job(self, job_id: str, seconds: float) -> bool:
        """The lease on one run of a scheduled job for `seconds`; False when another process runs it.
        Timed by the database's clock: this process's may be off (storage/leases.py)."""
        async with self.deps.db.tx() as conn:
            return await leases.take_job(conn, job_id, self.owner, seconds=seconds)
