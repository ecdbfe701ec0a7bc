"""Readiness that writes: `SELECT 1` and `os.access` pass on a full or read-only disk, so
`/readyz` commits one tiny transaction (here) and writes a temporary file in the media folder
(storage/media.py); either failing is a 503."""

from __future__ import annotations

import time

import sqlalchemy as sa

from storage.db import Database
from storage.schema import ready_probe


async def write_probe(db: Database) -> None:
    """Rewrite the one row of `ready_probe` in a committed transaction; raises when it cannot."""
    async with db.tx() as conn:
        await conn.execute(sa.delete(ready_probe))
        await conn.execute(sa.insert(ready_probe).values(id=1, at=time.time()))


__all__ = ["write_probe"]
