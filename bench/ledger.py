"""A big room's ledger (`\\BALANCE`, its gallery and statement pages compute it when asked).

    .venv/bin/python bench/ledger.py [--members 40] [--receipts 2500] [--payments 1250] [--rounds 10]

A migrated SQLite file with one room of MEMBERS members, RECEIPTS receipts each shared equally by
all of them (in the rotated order receipts are stored in) and PAYMENTS payments. Then, in one run:

- `room_ledger` ROUNDS times in turn: the CPU and wall time of each (its receipts are read in a
  thread, the adding up runs on the event loop);
- the adding up alone, on the book `room_ledger` read: the positions from every member's share of
  every receipt (`net_positions`, as `room_ledger` added them up before) against `expenses_net`
  (the bases summed per set of members, the leftover cents counted), the same positions; the
  ratio is the one to read, the machine's speed cancels out of it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bot.features.ledger.book import room_ledger
from bot.features.ledger.split import Expense, Payment, expenses_net, net_positions, split_equally
from storage import ledger as store
from storage.db import Database, open_database
from storage.schema import memberships, payments, receipt_members, receipts, rooms, users


async def seed(db: Database, members: int, count: int, paid: int) -> str:
    """One room as the docstring says; its id."""
    rng = random.Random(51)
    room_id = str(uuid.uuid4())
    now = time.time()
    people = list(range(1, members + 1))
    async with db.tx() as conn:
        await conn.execute(
            sa.insert(users),
            [{"id": i, "phone": f"+1555200{i:04d}", "created_at": now, "name": f"P{i}"} for i in people],
        )
        await conn.execute(
            sa.insert(rooms),
            [{"id": room_id, "name": "club", "name_key": "club", "password_hash": "x", "created_at": now}],
        )
        await conn.execute(
            sa.insert(memberships), [{"user_id": i, "room_id": room_id, "joined_at": now + i} for i in people]
        )
        rows, shares = [], []
        for n in range(count):
            receipt_id = str(uuid.uuid4())
            payer = rng.choice(people)
            others = [p for p in people if p != payer]
            turn = n % len(others)
            order = [*others[turn:], *others[:turn], payer]
            rows.append(
                {
                    "id": receipt_id,
                    "room_id": room_id,
                    "uploader_id": payer,
                    "message_sid": f"MM{n:032d}",
                    "media_index": 0,
                    "object_key": f"k{n}",
                    "content_type": "image/jpeg",
                    "size": 1,
                    "sha256": f"{n:064d}",
                    "created_at": now - 180 * 86400 + n,
                    "amount_minor": rng.randint(100, 20_000),
                    "currency": "USD",
                    "amount_source": "caption",
                }
            )
            shares += [{"receipt_id": receipt_id, "position": k, "user_id": u} for k, u in enumerate(order)]
        await conn.execute(sa.insert(receipts), rows)
        await conn.execute(sa.insert(receipt_members), shares)
        await conn.execute(
            sa.insert(payments),
            [
                {
                    "room_id": room_id,
                    "payer_id": rng.choice(people),
                    "payee_id": rng.choice(people),
                    "amount_minor": rng.randint(100, 5_000),
                    "currency": "USD",
                    "message_sid": f"SMp{n:030d}",
                    "created_at": now - 180 * 86400 + n,
                }
                for n in range(paid)
            ],
        )
    return room_id


def timed(fn: object, rounds: int) -> float:
    """The median seconds of `fn()` over `rounds`."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--receipts", type=int, default=2500)
    parser.add_argument("--payments", type=int, default=1250)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(f"sqlite:///{tmp}/bench.db", migrate=True)
        try:
            room_id = await seed(db, args.members, args.receipts, args.payments)
            async with db.read() as conn:
                book = await store.room_book(conn, room_id, "USD")
                await room_ledger(conn, room_id)  # warm: the statements compiled once
            cpu, wall = [], []
            for _ in range(args.rounds):
                c, w = time.process_time(), time.perf_counter()
                async with db.read() as conn:
                    await room_ledger(conn, room_id)
                cpu.append(time.process_time() - c)
                wall.append(time.perf_counter() - w)
        finally:
            await db.close()
    order = list(range(1, args.members + 1))
    paid = [Payment(p.payer, p.payee, p.amount) for p in book.payments]

    def every_share() -> dict[int | None, int]:
        expenses = [Expense(r.payer, split_equally(r.amount, list(r.members))) for r in book.receipts]
        return net_positions(expenses, paid, order=order)

    def summed() -> dict[int | None, int]:
        net = expenses_net(
            ((r.payer, r.amount, r.members, None) for r in book.receipts), dict.fromkeys(order, 0)
        )
        for p in paid:
            net[p.payer] = net.get(p.payer, 0) + p.amount
            net[p.payee] = net.get(p.payee, 0) - p.amount
        return net

    assert summed() == every_share(), "the two ways disagree"
    shares = sum(len(r.members) for r in book.receipts)
    old, new = timed(every_share, args.rounds), timed(summed, args.rounds)
    print(
        f"room of {args.members} members, {len(book.receipts)} receipts ({shares} shares), "
        f"{len(book.payments)} payments"
    )
    print(
        f"room_ledger: median {statistics.median(wall) * 1000:.0f} ms wall, "
        f"{statistics.median(cpu) * 1000:.0f} ms CPU ({args.rounds} rounds)"
    )
    print(
        f"adding up: every share {old * 1000:.1f} ms, expenses_net {new * 1000:.1f} ms: {old / new:.1f}x less"
    )


if __name__ == "__main__":
    asyncio.run(main())
