"""The APScheduler wrapper (scheduler/__init__.py): jobs get the app's deps; at shutdown a turn in
progress finishes within the grace, one that outlasts it is stopped with one warning (not
APScheduler's error and traceback for the cancellation), and no new turn starts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import cast

import pytest
from structlog.testing import capture_logs

from bot.core.deps import Deps
from scheduler import Scheduler

DEPS = cast(Deps, object())


def apscheduler_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("apscheduler") and r.levelno >= logging.ERROR
    ]


async def stop_during_a_turn(
    job_id: str, job: Callable[[Deps], Awaitable[None]], started: asyncio.Event, grace: float
) -> list[dict[str, object]]:
    """Start a scheduler whose one job runs at once; stop it while that turn runs; the logs."""
    scheduler = Scheduler()
    scheduler.every(job_id, job, seconds=3600, run_now=True)
    scheduler.start(DEPS)
    await asyncio.wait_for(started.wait(), 10)
    with capture_logs() as logs:
        await scheduler.stop(grace=grace)
    return logs


async def test_a_turn_in_progress_finishes_at_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    started, finished, given = asyncio.Event(), asyncio.Event(), []

    async def job(deps: Deps) -> None:
        given.append(deps)
        started.set()
        await asyncio.sleep(0.2)  # the turn's work, still going when the app stops
        finished.set()

    logs = await stop_during_a_turn("slow", job, started, grace=10)
    assert finished.is_set()
    assert given == [DEPS]
    assert [e for e in logs if e["event"] == "scheduler.job_stopped"] == []
    assert apscheduler_errors(caplog) == []


async def test_a_turn_that_outlasts_the_grace_is_stopped_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, cleaned_up = asyncio.Event(), asyncio.Event()

    async def job(deps: Deps) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never finishes by itself
        finally:
            cleaned_up.set()  # its own clean-up (a transaction's rollback) runs

    logs = await stop_during_a_turn("stuck", job, started, grace=0.05)
    assert cleaned_up.is_set()
    stopped = [e for e in logs if e["event"] == "scheduler.job_stopped"]
    assert [(e["job"], e["why"], e["log_level"]) for e in stopped] == [("stuck", "shutdown", "warning")]
    assert apscheduler_errors(caplog) == []


async def test_no_new_turn_starts_once_stopping(caplog: pytest.LogCaptureFixture) -> None:
    turns: list[float] = []
    first = asyncio.Event()

    async def job(deps: Deps) -> None:
        turns.append(asyncio.get_running_loop().time())
        first.set()
        await asyncio.sleep(0.3)

    scheduler = Scheduler()
    scheduler.every("often", job, seconds=0.1, run_now=True)
    scheduler.start(DEPS)
    await asyncio.wait_for(first.wait(), 10)
    await scheduler.stop(grace=10)
    count = len(turns)
    await asyncio.sleep(0.3)  # three intervals: a scheduler still running would start a turn
    assert len(turns) == count
    assert not scheduler.aps.running
    assert apscheduler_errors(caplog) == []


async def test_a_turn_that_meets_the_database_away_says_so_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A PostgreSQL restart under a worker: each job's turn logged APScheduler's `Job "redact_links
    (trigger: ...)" raised an exception` with a page of traceback. It is one error with the
    job's name and the driver's reason, and the job goes on; a bug keeps its traceback."""
    turns: list[str] = []
    ran = {"away": asyncio.Event(), "buggy": asyncio.Event()}

    async def away(deps: Deps) -> None:
        turns.append("away")
        ran["away"].set()  # the turn's failure is logged in the same step as the raise
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    async def buggy(deps: Deps) -> None:
        turns.append("buggy")
        ran["buggy"].set()
        raise KeyError("oops")

    scheduler = Scheduler()
    scheduler.every("redact-links", away, seconds=3600, run_now=True)
    scheduler.every("reminders", buggy, seconds=3600, run_now=True)
    with capture_logs() as logs:
        scheduler.start(DEPS)
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ran.values())), 10)
        await scheduler.stop()
    failed = {e["job"]: e for e in logs if e["event"] == "scheduler.job_failed"}
    assert (failed["redact-links"]["error"], failed["redact-links"]["reason"]) == (
        "ConnectionRefusedError",
        "ConnectionRefusedError",
    )
    assert failed["redact-links"]["log_level"] == "error"
    assert "exc_info" not in failed["redact-links"]
    assert failed["reminders"]["error"] == "KeyError"
    assert failed["reminders"]["exc_info"] is True
    assert sorted(turns) == ["away", "buggy"]
    assert apscheduler_errors(caplog) == []


async def test_stop_before_start_is_nothing() -> None:
    scheduler = Scheduler()
    await scheduler.stop()
    assert not scheduler.aps.running
    assert scheduler.job_ids == []
