"""bot/pipeline/claimloop.py: the shape of the worker and the sender, through a loop of its own over
a table of its own (a `ClaimQueue` on `claimloop_test_jobs`), on SQLite and PostgreSQL: a claim
takes at most the free capacity, outcomes that wait together are written in one transaction,
`wake()` claims at once, `stop()` gives the tasks in flight their grace, cancels the rest and puts
back only its own claims, and a batch the database refuses is written again one outcome at a time.

The poll is an hour: whatever the loop claims, it claims because it was woken. The tests wait on
the loop's state (`Watch`), never for a while."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from bot.core.config import Config, WorkerConfig
from bot.core.deps import Deps
from bot.pipeline import claimloop
from bot.pipeline.claimloop import ClaimLoop
from storage.db import Database, open_database
from storage.lean import Writer
from storage.queue import ClaimQueue
from tests import pg
from tests.conftest import database_with_tables

metadata = sa.MetaData()
jobs = sa.Table(
    "claimloop_test_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_until", sa.Float),
    sa.Column("result", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False, server_default="0"),
    sa.CheckConstraint("result IS NULL OR result <> 'bad'", name="no_bad_result"),  # a row refused
)
_j = jobs.alias("j")
QUEUE = ClaimQueue(
    jobs,
    ready=sa.select(_j.c.id)
    .where(_j.c.status == "ready")
    .order_by(_j.c.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True),
    claimed="working",
    put_back={"status": "ready"},
    returning=(jobs.c.id,),
    order=lambda row: (int(row.id),),
    unfinished=("ready", "working"),
    age=jobs.c.created_at,
)
DONE = QUEUE.settled(result=sa.bindparam("b_result"))
OWNER = "loop-under-test"


@dataclass(frozen=True)
class Result:
    """An outcome (storage.queue.Settles)."""

    id: int
    result: str
    status: str = "done"

    def binds(self) -> dict[str, object]:
        return {"b_result": self.result}


class Watch:
    """State a test waits on: `until(predicate)` returns once the predicate holds after a change
    (the timeout is a safety net, not a wait)."""

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def changed(self) -> None:
        for predicate, future in list(self._waiters):
            if not future.done() and predicate():
                future.set_result(None)
                self._waiters.remove((predicate, future))

    async def until(self, predicate: Callable[[], bool], within: float = 15.0) -> None:
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        async with asyncio.timeout(within):
            await future


class Jobs(ClaimLoop[int, Result]):
    """A loop whose tasks wait for their gate (`open(id)`), then commit `r<id>` (or "bad", which
    the table's CHECK refuses, for an id in `bad`: once). Everything it does is recorded."""

    name = "jobs"
    queue = QUEUE

    def __init__(self, deps: Deps, *, concurrency: int) -> None:
        super().__init__(deps, owner=OWNER, concurrency=concurrency)
        self.watch = Watch()
        self.claims: list[tuple[int, list[int]]] = []  # (limit, ids claimed)
        self.started: list[int] = []
        self.committing: list[int] = []  # outcomes handed to the committer
        self.writes: list[list[int]] = []  # each write() call: the ids of its outcomes
        self.written_batches: list[list[int]] = []  # each written() call
        self.cancelled: set[int] = set()
        self.errors: dict[int, BaseException] = {}
        self.recorded: list[int] = []  # each commit()'s `then`, run once its outcome is written
        self.db_errors: list[str] = []  # each failed claim or commit (`db_error`)
        self.bad: set[int] = set()
        self.hold: asyncio.Event | None = None  # when set up, write() waits for it
        self.down = False  # the database is away: write() and give_back() fail as they would
        self.writes_away = False  # the database away for write() only (back by the give-back)
        self._gates: dict[int, asyncio.Event] = {}

    def _record(self, item: int) -> None:
        self.recorded.append(item)
        self.watch.changed()

    def gate(self, item: int) -> asyncio.Event:
        return self._gates.setdefault(item, asyncio.Event())

    def open(self, *items: int) -> None:
        for item in items:
            self.gate(item).set()

    def task_name(self, item: int) -> str:
        return f"job-{item}"

    async def claim(self, conn: Writer, *, now: float, limit: int) -> list[int]:
        rows = await self.queue.claim(conn, now=now, limit=limit, owner=self.owner, lease=600)
        ids = [int(row.id) for row in rows]
        self.claims.append((limit, ids))
        self.watch.changed()
        return ids

    async def handle(self, item: int) -> None:
        self.started.append(item)
        self.watch.changed()
        try:
            await self.gate(item).wait()
            result = "bad" if item in self.bad else f"r{item}"
            self.bad.discard(item)
            self.committing.append(item)
            self.watch.changed()
            await self.commit(Result(item, result), then=lambda: self._record(item))
        except asyncio.CancelledError:
            self.cancelled.add(item)
            self.watch.changed()
            raise
        except Exception as exc:  # the commit failed
            self.errors[item] = exc
            self.watch.changed()

    async def write(self, conn: Writer, outcomes: Sequence[Result]) -> None:
        self.writes.append([o.id for o in outcomes])
        self.watch.changed()
        if self.hold is not None:
            await self.hold.wait()
        if self.down or self.writes_away:
            raise ConnectionRefusedError("the database is away")
        await self.queue.settle(conn, DONE, self.owner, outcomes)

    async def give_back(self, conn: Writer, outcome: Result) -> None:
        if self.down:
            raise ConnectionRefusedError("the database is away")
        await super().give_back(conn, outcome)

    def claimed_id(self, outcome: Result) -> int | None:
        return outcome.id

    def db_error(self, op: str) -> None:
        super().db_error(op)
        self.db_errors.append(op)
        self.watch.changed()

    def written(self, outcomes: Sequence[Result]) -> None:
        self.written_batches.append([o.id for o in outcomes])
        self.watch.changed()

    @property
    def done(self) -> list[int]:
        return sorted(i for batch in self.written_batches for i in batch)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The test's database with the jobs table (dropped after)."""
    async with database_with_tables(database_url, metadata) as database:
        yield database


@pytest.fixture
async def make_loop(db: Database) -> AsyncIterator[Callable[..., Jobs]]:
    """A `Jobs` loop on the test's database, polling once an hour; stopped after the test."""
    deps = Deps(config=Config(worker=WorkerConfig(poll_seconds=3600.0)), db=db, http=None)  # type: ignore[arg-type]
    loops: list[Jobs] = []

    def make(*, concurrency: int) -> Jobs:
        loop = Jobs(deps, concurrency=concurrency)
        loops.append(loop)
        return loop

    yield make
    for loop in loops:
        for item in list(loop._gates):
            loop.open(item)
        await loop.stop(grace=5.0)


async def add(db: Database, count: int, **values: Any) -> list[int]:
    async with db.tx() as conn:
        return [
            int(
                (
                    await conn.execute(
                        sa.insert(jobs).values({"status": "ready", **values}).returning(jobs.c.id)
                    )
                ).scalar_one()
            )
            for _ in range(count)
        ]


async def table(db: Database) -> dict[int, tuple[str, str | None, str | None, int]]:
    """id -> (status, claimed_by, result, attempts)."""
    async with db.read() as conn:
        found = (await conn.execute(sa.select(jobs).order_by(jobs.c.id))).all()
    return {int(r.id): (r.status, r.claimed_by, r.result, int(r.attempts)) for r in found}


async def test_a_claim_takes_at_most_the_free_capacity_and_a_finished_task_frees_a_place(
    db: Database, make_loop: Callable[..., Jobs]
) -> None:
    await add(db, 5)
    loop = make_loop(concurrency=3)
    await loop.start()
    await loop.watch.until(lambda: len(loop.started) == 3)
    assert sorted(loop.started) == [1, 2, 3]

    loop.open(1)  # one task ends: one place is free, and the loop claims one row for it
    await loop.watch.until(lambda: 4 in loop.started)
    assert loop.claims == [(3, [1, 2, 3]), (1, [4])]  # nothing claimed while the capacity was full
    state = await table(db)
    assert state[1][:3] == ("done", None, "r1")
    assert [state[i][0] for i in (2, 3, 4)] == ["working"] * 3
    assert state[5][0] == "ready"  # no place for it yet

    loop.open(2, 3, 4, 5)
    await loop.watch.until(lambda: loop.done == [1, 2, 3, 4, 5])
    assert all(status == "done" for status, *_ in (await table(db)).values())


async def test_outcomes_waiting_together_are_written_in_one_transaction(
    db: Database, make_loop: Callable[..., Jobs]
) -> None:
    await add(db, 4)
    loop = make_loop(concurrency=4)
    loop.hold = asyncio.Event()
    await loop.start()
    await loop.watch.until(lambda: len(loop.started) == 4)

    loop.open(1)  # the first outcome's transaction is held open ...
    await loop.watch.until(lambda: loop.writes == [[1]])
    loop.open(2, 3, 4)  # ... while three more outcomes arrive
    await loop.watch.until(lambda: sorted(loop.committing) == [1, 2, 3, 4])
    loop.hold.set()
    await loop.watch.until(lambda: loop.done == [1, 2, 3, 4])

    assert loop.writes == [[1], [2, 3, 4]]  # one transaction for the three that waited together
    assert loop.written_batches == [[1], [2, 3, 4]]
    assert {i: row[:3] for i, row in (await table(db)).items()} == {
        i: ("done", None, f"r{i}") for i in (1, 2, 3, 4)
    }
    assert loop.errors == {}


async def test_wake_makes_the_loop_claim_at_once(db: Database, make_loop: Callable[..., Jobs]) -> None:
    loop = make_loop(concurrency=8)
    await loop.start()
    await loop.watch.until(lambda: len(loop.claims) == 1)  # the first claim: nothing ready
    assert loop.claims == [(8, [])]

    await add(db, 2)  # the poll is an hour away: only a wake-up brings these in now
    loop.wake()
    await loop.watch.until(lambda: len(loop.started) == 2)
    assert loop.claims == [(8, []), (8, [1, 2])]


async def test_stop_gives_tasks_in_flight_their_grace_then_cancels_and_releases_only_its_own(
    db: Database, make_loop: Callable[..., Jobs]
) -> None:
    await add(db, 3)
    [other] = await add(db, 1, status="working", claimed_by="another-process", attempts=1)
    loop = make_loop(concurrency=3)
    await loop.start()
    await loop.watch.until(lambda: len(loop.started) == 3)

    [claiming] = [task for task in asyncio.all_tasks() if task.get_name() == loop.name]
    stopping = asyncio.create_task(loop.stop(grace=1.5))
    await asyncio.wait([claiming])  # stop() has ended the claiming task: the grace has begun ...
    assert not stopping.done()
    loop.open(1)  # ... and task 1 finishes within it; 2 and 3 never would
    await stopping

    assert loop.done == [1]
    assert loop.cancelled == {2, 3}
    assert loop.errors == {}
    state = await table(db)
    assert state[1][:3] == ("done", None, "r1")
    assert state[2][:2] == state[3][:2] == ("ready", None)  # put back for the next owner
    assert state[other][:2] == ("working", "another-process")  # not this loop's to put back
    assert loop.claims == [(3, [1, 2, 3])]


async def test_a_refused_batch_is_written_one_by_one_and_only_the_bad_outcome_is_given_back(
    db: Database, make_loop: Callable[..., Jobs]
) -> None:
    await add(db, 4)
    loop = make_loop(concurrency=4)
    loop.bad = {3}  # its first outcome breaks the table's CHECK: the whole transaction fails
    loop.hold = asyncio.Event()
    await loop.start()
    await loop.watch.until(lambda: len(loop.started) == 4)
    loop.open(1)
    await loop.watch.until(lambda: loop.writes == [[1]])
    loop.open(2, 3, 4)
    await loop.watch.until(lambda: sorted(loop.committing) == [1, 2, 3, 4])
    loop.hold.set()

    # the batch of three fails; each is written alone: 2 and 4 are committed, 3's commit() raises
    # and its claim is given back; claimed again, it is handled again and done
    await loop.watch.until(lambda: loop.done == [1, 2, 3, 4])
    assert loop.writes[:5] == [[1], [2, 3, 4], [2], [3], [4]]
    assert loop.written_batches[:2] == [[1], [2, 4]]
    assert list(loop.errors) == [3]
    assert isinstance(loop.errors[3], sa.exc.IntegrityError)
    assert loop.started.count(3) == 2
    assert sorted(loop.recorded) == [1, 2, 3, 4]  # 3 once: when its second outcome was written
    failed = {"part": "jobs", "op": "commit"}  # the batch's failed commit, for the alert rules
    assert loop.deps.metrics.registry.get_sample_value("textwire_db_errors_total", failed) == 1.0
    state = await table(db)
    assert state == {
        1: ("done", None, "r1", 1),
        2: ("done", None, "r2", 1),
        3: ("done", None, "r3", 2),  # claimed twice
        4: ("done", None, "r4", 1),
    }


async def test_outcomes_the_database_was_away_for_are_written_when_it_is_back(
    db: Database, make_loop: Callable[..., Jobs]
) -> None:
    """A 30 s database outage: the outcomes could be neither written nor given back. The claims
    stay this live process's (no other process takes over a process that heartbeats), so unless
    this loop writes them later, their messages are never answered until it restarts."""
    await add(db, 2)
    loop = make_loop(concurrency=2)
    loop.down = True
    await loop.start()
    await loop.watch.until(lambda: len(loop.started) == 2)
    loop.open(1, 2)
    await loop.watch.until(lambda: sorted(loop.errors) == [1, 2])  # each commit() raised
    assert [row[:2] for row in (await table(db)).values()] == [("working", OWNER)] * 2
    assert loop.recorded == []

    loop.down = False  # back: the loop's next turn (a wake-up, else the poll) writes them
    loop.wake()
    await loop.watch.until(lambda: {1, 2} <= set(loop.done))
    # what each commit() was to record once written (a metric, a log line), now that it is
    await loop.watch.until(lambda: sorted(loop.recorded) == [1, 2])
    assert {i: row[:3] for i, row in (await table(db)).items()} == {
        1: ("done", None, "r1"),
        2: ("done", None, "r2"),
    }


async def test_an_outcome_whose_write_met_the_database_away_is_kept_though_it_is_back_at_once(
    db: Database, make_loop: Callable[..., Jobs]
) -> None:
    """A PostgreSQL restart is over in a blink: the write met it, the give-back a moment later did
    not. The finished outcome was given back, and its message handled again (a reply already
    sent went again a minute later, and the person's next replies waited behind it). It is kept,
    still this process's claim, and written once the database answers; handled once."""
    await add(db, 1)
    loop = make_loop(concurrency=1)
    loop.writes_away = True
    await loop.start()
    await loop.watch.until(lambda: loop.started == [1])
    loop.open(1)
    await loop.watch.until(lambda: list(loop.errors) == [1])
    assert (await table(db))[1][:2] == ("working", OWNER)

    loop.writes_away = False
    loop.wake()
    await loop.watch.until(lambda: loop.done == [1])
    assert loop.started == [1]
    assert (await table(db))[1] == ("done", None, "r1", 1)


async def test_a_claim_on_a_connection_that_stopped_answering_gives_up_and_the_next_goes_through(
    pg_server: pg.PgServer | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL went away without closing the worker's connections (a failover, a network
    fault): the claim waited on its dead connection with no end, and the process handled and sent
    nothing more, while its heartbeat went on, until the socket died. The claim gives up after
    TX_SECONDS (here shortened), and the next turn claims on a fresh connection; the outcome is
    written on one too."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    monkeypatch.setattr(claimloop, "TX_SECONDS", 0.5)
    async with pg.through_a_relay(pg_server) as (url, relay):
        database = await open_database(url, migrate=False)
        async with database.tx() as conn:
            await conn.run_sync(metadata.create_all)
        deps = Deps(config=Config(worker=WorkerConfig(poll_seconds=3600.0)), db=database, http=None)  # type: ignore[arg-type]
        loop = Jobs(deps, concurrency=2)
        try:
            await loop.start()
            await loop.watch.until(lambda: len(loop.claims) == 1)  # its connection is pooled now
            [job] = await add(database, 1)
            relay.freeze()
            loop.wake()
            await loop.watch.until(lambda: loop.db_errors == ["claim"])  # it waited for good
            loop.wake()  # the next turn (the poll's, here an hour)
            await loop.watch.until(lambda: loop.started == [job])
            loop.open(job)
            await loop.watch.until(lambda: loop.done == [job])
            relay.thaw()
            assert (await table(database))[job][:3] == ("done", None, f"r{job}")
        finally:
            relay.thaw()
            loop.open(*loop._gates)
            await loop.stop(grace=5.0)
            await database.close()
