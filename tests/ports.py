"""A free port for a server a test starts as a process (or a port where nothing listens).

`bind(("127.0.0.1", 0))` hands out a port from the ephemeral range (`net.ipv4.ip_local_port_range`,
32768-60999 on Linux), the same range every outgoing connection gets its local port from: the
suite's own clients, a fake's, PostgreSQL's. Between the test's check and the server's own bind
one of them could take the port, and the server then stopped at start-up ("port in use", exit
2): a test that failed once in a while on a busy machine. Ports here come from below that range,
where only a listener can take them.
"""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_pick = random.Random(os.getpid() ^ time.time_ns())


def _below_ephemeral() -> range | None:
    """10000 up to the ephemeral range's start, when there is room below it (else None)."""
    try:
        low = int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(10000, low) if low > 11000 else None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing is bound to now, outside the ephemeral range when it can be."""
    ports = _below_ephemeral()
    for _ in range(200 if ports else 0):
        assert ports is not None
        port = _pick.choice(ports)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # no room below the ephemeral range: the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


__all__ = ["free_port"]
