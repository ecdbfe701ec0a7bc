"""A TCP server that takes connections and never answers: a hung S3 endpoint, proxy or gateway
(neither refusing nor closing), the failure a timeout must catch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def hung_server() -> AsyncIterator[int]:
    """Its port, while it runs; every connection is held open, unanswered, until the end."""
    stop = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await stop.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        stop.set()
        server.close()
