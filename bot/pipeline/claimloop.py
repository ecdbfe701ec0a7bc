"""One shape for the moving parts that work off a table: the worker (inbox) and the sender (outbox).

A loop claims ready rows in one statement (up to the free capacity), starts a task per row, and
sleeps until woken (a commit, a finished task) or `poll_seconds` pass. Tasks hand their outcomes
to one committer task, which writes every outcome waiting in one transaction (group commit) and
then resolves their waiters. `stop()` stops claiming, gives the tasks in flight `grace` seconds
to finish and commit, cancels the rest, and releases only this process's own claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import ClassVar, Generic, TypeVar

from bot.core.deps import Deps
from bot.core.logs import db_reason, get_logger
from bot.core.metrics import DB_ERROR_OPS
from bot.core.tasks import BackgroundTask
from storage.db import away
from storage.lean import Writer
from storage.queue import ClaimQueue

log = get_logger(__name__)

# seconds a transaction of a loop may take on PostgreSQL (`_tx`): its statements take
# milliseconds and never wait for another's locks long (claims skip locked rows)
TX_SECONDS = 10.0

Claimed = TypeVar("Claimed")
Outcome = TypeVar("Outcome")


class ClaimLoop(ABC, Generic[Claimed, Outcome]):
    name = "loop"
    queue: ClassVar[ClaimQueue]  # the table's claims (storage/queue.py)

    def __init__(self, deps: Deps, *, owner: str, concurrency: int) -> None:
        self.deps = deps
        self.owner = owner
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        # the tasks handling claimed rows: each with its row and the wake-up count at its claim
        self._tasks: dict[asyncio.Task[None], tuple[Claimed, int]] = {}
        self._loop_task = BackgroundTask(self.name)
        self._committer = BackgroundTask(f"{self.name}-commit")
        self._outcomes: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._outcome_ready = asyncio.Event()
        self._stopping = False
        self._left_behind = False  # the last claim filled the free capacity
        # outcomes neither written nor given back (the database was away): still this process's
        # claims, which no other process takes over while it heartbeats; written on a later turn
        self._stranded: list[Outcome] = []
        # what to record once a kept outcome is written (`commit`'s `then`), by its claimed row
        self._then: dict[int, Callable[[], object]] = {}
        self._wakes = 0  # wake() calls so far: rows that arrived while a task ran may wait for it
        # after a stop put this process's claims back: wakes the other processes' loops, which
        # take them at once rather than at their next poll (bot/app/assembly.py)
        self.on_released: Callable[[], None] = lambda: None

    # -- what a loop does -----------------------------------------------------------------------
    @abstractmethod
    async def claim(self, conn: Writer, *, now: float, limit: int) -> list[Claimed]:
        """Claim up to `limit` ready rows (one statement) and whatever they need, in `conn`."""

    @abstractmethod
    async def handle(self, item: Claimed) -> None:
        """Work on one claimed row; hand the outcome to `commit()`."""

    @abstractmethod
    async def write(self, conn: Writer, outcomes: Sequence[Outcome]) -> None:
        """Write many outcomes in `conn` (one transaction)."""

    @abstractmethod
    def claimed_id(self, outcome: Outcome) -> int | None:
        """The id of the claimed row `outcome` is of (None: no row to give back)."""

    async def release(self, conn: Writer) -> int:
        """Put this process's own claims back (on stop)."""
        return await self.queue.release(conn, owner=self.owner)

    async def give_back(self, conn: Writer, outcome: Outcome) -> None:
        """Put back the claim of an outcome that could not be written (so it is tried again)."""
        claimed = self.claimed_id(outcome)
        if claimed is not None:
            await self.queue.release(conn, owner=self.owner, ids=[claimed])

    def written(self, outcomes: Sequence[Outcome]) -> None:
        """After a commit of `outcomes` (wake whoever consumes them)."""

    def task_name(self, item: Claimed) -> str:
        return self.name

    def claim_after(self, item: Claimed, woken: bool) -> bool:
        """Whether to claim again when the task of `item` ends: its row may have held back others
        (the worker's next message of the same sender). `woken`: a wake-up came since its claim
        (rows the claim did not see, which may wait behind it). Besides this, a loop claims again
        when its last claim was cut short by capacity; new rows bring their own wake-up, due
        retries the poll. An empty claim is a transaction: at 100 texts/s it was one per text."""
        return True

    # -- the shape ------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wakes += 1
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        for op in DB_ERROR_OPS:  # in /metrics from the start, at 0, for the parts this process runs
            self.deps.metrics.db_errors.labels(part=self.name, op=op)
        self._committer.start(self._commit_loop)
        self._loop_task.start(self._run)

    async def stop(self, grace: float = 10.0) -> None:
        self._stopping = True
        self._wake.set()
        await self._loop_task.stop()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._committer.stop()
        if self._stranded:
            await self._restore()
        try:
            async with self._tx() as conn:
                released = await self.release(conn)
            if released:
                log.info(f"{self.name}.claims_released", count=released)
                self.on_released()
        except Exception as exc:  # the lease brings them back
            log.warning(f"{self.name}.release_failed", error=type(exc).__name__)

    async def commit(self, outcome: Outcome, then: Callable[[], None] | None = None) -> None:
        """Hand `outcome` to the committer; return once it is committed (raise if that failed).
        `then`: what to record once it is written (its metric, its log line): after the commit,
        or, for an outcome kept while the database was away, when `_restore` writes it (in the
        context it was committed in: its MessageSid on the line). Counted after the commit
        alone, a text answered after a database restart was never in /metrics."""
        claimed = self.claimed_id(outcome)
        if then is not None and claimed is not None:
            self._then[claimed] = functools.partial(contextvars.copy_context().run, then)
        committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outcomes.append((outcome, committed))
        self._outcome_ready.set()
        await committed  # failed: kept for `_restore`, or given back (`_give_back_or_keep`)
        if claimed is None:
            if then is not None:
                then()
        else:
            self._recorded(claimed)

    def _recorded(self, claimed: int | None) -> None:
        """Run the `then` of the outcome of the claimed row `claimed`, now written (once)."""
        then = self._then.pop(claimed, None) if claimed is not None else None
        if then is not None:
            then()

    def _tx(self) -> AbstractAsyncContextManager[Writer]:
        """A transaction of this loop's (a claim, a batch of outcomes, a give-back, the release),
        which gives up after TX_SECONDS on PostgreSQL (`Database.write`): a server that went away
        without closing the connection (a failover, a network fault) left the claim waiting with
        no end, and nothing of this process was handled or sent, its heartbeat going on, until
        the socket died (minutes; for a frozen server, never). The claim then fails as when the
        database is away (`claim_failed`, tried again at the next turn on a fresh connection); an
        outcome is kept and written later (`_stranded`)."""
        return self.deps.db.write(within=TX_SECONDS)

    def db_error(self, op: str) -> None:
        """Count a failed claim or commit (`textwire_db_errors_total`)."""
        self.deps.metrics.db_errors.labels(part=self.name, op=op).inc()

    async def _run(self) -> None:
        poll = self.deps.config.worker.poll_seconds
        while not self._stopping:
            self._wake.clear()
            free = self.concurrency - len(self._tasks)
            claimed: list[Claimed] = []
            wakes = self._wakes  # before the claim: a wake-up after this point may be for a row
            # the claim did not see, or saw blocked behind one of the tasks it starts
            if self._stranded:
                await self._restore()
            if free > 0:
                try:
                    async with self._tx() as conn:
                        claimed = await self.claim(conn, now=self.deps.now(), limit=free)
                except Exception as exc:
                    log.error(f"{self.name}.claim_failed", error=type(exc).__name__, reason=db_reason(exc))
                    self.db_error("claim")
            for item in claimed:
                task = asyncio.create_task(self.handle(item), name=self.task_name(item))
                self._tasks[task] = (item, wakes)
                task.add_done_callback(self._done)
            # rows may have been left for want of capacity: a task that ends frees some
            self._left_behind = free <= 0 or len(claimed) == free
            if claimed and len(claimed) == free:
                continue  # there may be more ready right now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await self._wake.wait()

    def _done(self, task: asyncio.Task[None]) -> None:
        item, wakes = self._tasks.pop(task)
        if self._left_behind or self.claim_after(item, woken=wakes != self._wakes):
            self._wake.set()

    async def _commit_loop(self) -> None:
        while True:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            batch, self._outcomes = self._outcomes, []
            if not batch:
                continue
            outcomes = [outcome for outcome, _ in batch]
            try:
                async with self._tx() as conn:
                    await self.write(conn, outcomes)
            except Exception as exc:
                log.error(
                    f"{self.name}.commit_failed",
                    error=type(exc).__name__,
                    reason=db_reason(exc),
                    batch=len(batch),
                )
                self.db_error("commit")
                await self._one_by_one(batch)
                continue
            for _, committed in batch:
                if not committed.done():
                    committed.set_result(None)
            self.written(outcomes)

    async def _one_by_one(self, batch: list[tuple[Outcome, asyncio.Future[None]]]) -> None:
        """After a failed batch: write each outcome alone, so one bad outcome cannot hold back the
        others; one that still fails gives its claim back to be tried again. When the database is
        away (the write could not reach it, or lost its connection), the outcome is kept
        (`_stranded`) and written on a later turn of the loop, once the database answers
        (`_restore`): so is one whose give-back fails too."""
        written: list[Outcome] = []
        for outcome, committed in batch:
            try:
                async with self._tx() as conn:
                    await self.write(conn, [outcome])
            except Exception as exc:
                await self._give_back_or_keep(outcome, exc)
                if not committed.done():
                    committed.set_exception(exc)
                continue
            written.append(outcome)
            if not committed.done():
                committed.set_result(None)
        if written:
            self.written(written)

    def keeps(self, claimed: int) -> bool:
        """Whether an outcome of the claimed row `claimed` is kept to be written later."""
        return any(self.claimed_id(outcome) == claimed for outcome in self._stranded)

    async def _give_back_or_keep(self, outcome: Outcome, exc: Exception | None = None) -> None:
        """A PostgreSQL restart is over in a blink: the write met it, the give-back a moment later
        did not, and a finished outcome was given back: its message was handled again, a reply
        already sent went again a minute later (bot/pipeline/sender.py `give_back`), and the
        replies behind it waited. An outcome whose write met the database away is kept."""
        if exc is not None and away(exc):
            self._stranded.append(outcome)
            return
        try:
            async with self._tx() as conn:
                await self.give_back(conn, outcome)
        except Exception:
            self._stranded.append(outcome)
            return
        claimed = self.claimed_id(outcome)
        if claimed is not None:  # handled again, and recorded then
            self._then.pop(claimed, None)

    async def _restore(self) -> None:
        """Write the outcomes kept while the database was away, each alone (one that fails is
        given back, as in `_one_by_one`, or kept again). Without this, their messages stayed
        claimed by this live process, unanswered, with their senders' later messages behind them,
        until it restarted."""
        stranded, self._stranded = self._stranded, []
        written: list[Outcome] = []
        for n, outcome in enumerate(stranded):
            try:
                async with self._tx() as conn:
                    await self.write(conn, [outcome])
            except Exception as exc:
                await self._give_back_or_keep(outcome, exc)
                if self._stranded:  # still away: the rest wait for a later turn
                    self._stranded.extend(stranded[n + 1 :])
                    break
                continue
            written.append(outcome)
        if written:
            log.info(f"{self.name}.outcomes_restored", count=len(written))
            self.written(written)
        for outcome in written:
            self._recorded(self.claimed_id(outcome))
