"""Readiness that writes: `SELECT 1` and `os.access` pass on a full or read-only disk, so
`/readyz` commits one tiny transaction (here) and writes a temporary file in the media folder
(storage/media.py); either failing is a 503. On SQLite the transaction alone is not enough: on
a full disk its one row fits in the write-ahead log's pages already there, while a burst of texts
needs new ones and is refused ("database or disk is full"); so it also writes a temporary file
beside the database, the room a few batches of texts take."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from storage.db import Database, sqlite_path
from storage.schema import ready_probe

ROOM_BYTES = 64 * 1024  # 16 pages of the write-ahead log: a few webhook batches' worth


def disk_room(folder: Path, size: int) -> None:
    """Write `size` bytes in `folder`, flush them to disk and remove them: ENOSPC on a full disk,
    EROFS on a read-only one, where `os.access` passes (and always does for root). The local media
    folder's check (storage/media.py) and the SQLite database's (`write_probe`)."""
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".ready-") as probe:
        probe.write(bytes(size))
        probe.flush()
        os.fsync(probe.fileno())


async def write_probe(db: Database) -> None:
    """Rewrite the one row of `ready_probe` in a committed transaction (and, on SQLite, make
    room on the database's disk); raises when it cannot."""
    async with db.tx() as conn:
        await conn.execute(sa.delete(ready_probe))
        await conn.execute(sa.insert(ready_probe).values(id=1, at=time.time()))
    path = sqlite_path(db.url)
    if path is not None:
        await asyncio.to_thread(disk_room, path.parent, ROOM_BYTES)


__all__ = ["ROOM_BYTES", "disk_room", "write_probe"]
