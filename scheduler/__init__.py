"""APScheduler 3.11 jobs, run inside `textwire serve` (started and stopped with the app).

Jobs are module-level coroutine functions that take the app's `Deps` as their one argument (as
python-telegram-bot's JobQueue passes the application to its callbacks): the scheduler gets the
object when it starts, never through a registry. APScheduler's memory job store keeps the
argument as it is (nothing is pickled). A job is safe to run on several processes at once: each
does its work in short transactions with compare-and-swap updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.deps import Deps
from bot.core.logs import db_reason, get_logger
from bot.pipeline.leases import Leases
from storage.db import transient

JobFunc = Callable[[Deps], Awaitable[Any]]
STOP_GRACE_SECONDS = 5.0  # a job running at shutdown gets this long to finish its turn

log = get_logger(__name__)


class Scheduler:
    """`leases`: each run of a job first takes that job's lease for most of its interval, so with
    several processes a job runs once per interval, on one of them."""

    def __init__(self, *, leases: Leases | None = None) -> None:
        self.leases = leases
        self.aps = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        )
        self._jobs: list[tuple[str, JobFunc, float, float, bool]] = []
        self._running: set[asyncio.Task[Any]] = set()  # the jobs' turns in progress

    @property
    def job_ids(self) -> list[str]:
        return [job_id for job_id, *_ in self._jobs]

    def every(
        self, job_id: str, func: JobFunc, *, seconds: float, jitter: float = 0, run_now: bool = False
    ) -> None:
        self._jobs.append((job_id, func, seconds, jitter, run_now))

    def start(self, deps: Deps) -> None:
        """Call inside the running loop (APScheduler grabs it in `start`); every job gets `deps`."""
        for job_id, func, seconds, jitter, run_now in self._jobs:
            extra: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if run_now else {}
            self.aps.add_job(
                self._turn(job_id, func, seconds),
                "interval",
                seconds=seconds,
                jitter=jitter or None,
                id=job_id,
                args=[deps],
                replace_existing=True,
                **extra,
            )
        self.aps.start()

    def _turn(self, job_id: str, func: JobFunc, seconds: float) -> JobFunc:
        """One turn of the job: with `leases`, only once the job's lease for most of its interval
        is taken (another process may run this interval's turn); known to `stop` while it runs.
        Stopped mid-turn (it outlasted the grace), it says so in one warning and ends: APScheduler
        would log the cancellation as the job's error, with a traceback, on every shutdown that
        caught a job running. A turn that fails says so in one `scheduler.job_failed` error (with
        its traceback only when it is not the database away): APScheduler's own was
        `Job "redact_links (trigger: ...)" raised an exception` with a page of traceback, from
        every job, on every database restart."""
        leases, running = self.leases, self._running

        async def run(deps: Deps) -> Any:
            task = asyncio.current_task()
            assert task is not None
            running.add(task)
            try:
                if leases is not None and not await leases.take_job(job_id, seconds * 0.8):
                    return None
                return await func(deps)
            except asyncio.CancelledError:
                # its transactions rolled back; the next turn (this process's or another's) redoes it
                log.warning("scheduler.job_stopped", job=job_id, why="shutdown")
                return None
            except Exception as exc:
                if isinstance(exc, sa.exc.DBAPIError) or transient(exc):
                    # the database away (a restart, a failover): one line, as the worker's
                    # `worker.claim_failed`; the next turn, here or elsewhere, does the work
                    log.error(
                        "scheduler.job_failed", job=job_id, error=type(exc).__name__, reason=db_reason(exc)
                    )
                else:  # a bug: its traceback
                    log.exception("scheduler.job_failed", job=job_id, error=type(exc).__name__)
                return None
            finally:
                running.discard(task)

        run.__name__ = run.__qualname__ = getattr(func, "__name__", job_id)
        return run

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """No new turns; the turns in progress get `grace` seconds to finish, then are stopped."""
        if not self.aps.running:
            return
        self.aps.pause()
        await asyncio.sleep(0)  # a turn submitted just before (its task not started yet) registers
        if self._running:
            await asyncio.wait(list(self._running), timeout=grace)
        # shutdown is scheduled on the loop (call_soon_threadsafe); wait=True cannot wait here.
        # It cancels the turns still running.
        self.aps.shutdown(wait=False)
        if self._running:
            await asyncio.wait(list(self._running))


def register_core_jobs(scheduler: Scheduler) -> None:
    from scheduler import jobs

    scheduler.every("retention", jobs.retention, seconds=3600, jitter=60, run_now=True)
    scheduler.every("redact-links", jobs.redact_links, seconds=60, jitter=5)
