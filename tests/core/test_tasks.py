"""One way to start and stop a background task: a crash is logged as it happens, a stop cancels
and waits, and a stop never raises the task's own error."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from bot.core.tasks import BackgroundTask


async def test_a_task_runs_until_stopped_and_stop_waits_for_its_end() -> None:
    started, ended = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.set()

    task = BackgroundTask("forever")
    task.start(run)
    task.start(run)  # already running: nothing more
    await started.wait()
    assert task.running
    await task.stop()
    assert ended.is_set()
    assert not task.running
    await task.stop()  # stopping twice is nothing


async def test_a_crash_is_logged_when_it_happens_and_stop_does_not_raise_it() -> None:
    crashed = asyncio.Event()

    async def run() -> None:
        crashed.set()
        raise RuntimeError("boom")

    task = BackgroundTask("crasher")
    with capture_logs() as logs:
        task.start(run)
        await crashed.wait()
        await task.stop()  # returns once the task has ended: its crash is logged by then
    errors = [entry for entry in logs if entry["event"] == "task.crashed"]
    assert len(errors) == 1
    assert errors[0]["task"] == "crasher"
    assert errors[0]["error"] == "RuntimeError"


async def test_a_cancelled_task_is_not_a_crash() -> None:
    async def run() -> None:
        await asyncio.Event().wait()

    task = BackgroundTask("quiet")
    with capture_logs() as logs:
        task.start(run)
        await asyncio.sleep(0)
        await task.stop()
    assert not [entry for entry in logs if entry["event"] == "task.crashed"]


async def test_the_caller_being_cancelled_while_stopping_is_not_swallowed() -> None:
    release, finished = asyncio.Event(), asyncio.Event()

    async def run() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await release.wait()  # a task slow to end
            finished.set()

    task = BackgroundTask("slow")
    task.start(run)
    await asyncio.sleep(0)
    stopper = asyncio.create_task(task.stop())
    await asyncio.sleep(0)
    stopper.cancel()
    try:
        await stopper
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the stopper's own cancellation was swallowed")
    release.set()
    await finished.wait()
