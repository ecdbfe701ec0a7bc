"""A free port for a server a test starts as a process (or a port where nothing listens).

`bind(("127.0.0.1", 0))` hands out a port from the ephemeral range (`net.ipv4.ip_local_port_range`,
32768-60999 on Linux), the same range every outgoing connection gets its local port from: the
suite's own clients, a fake's, PostgreSQL's. Between the test's check and the server's own bind
one of them could take the port, and the server then stopped at start-up ("port in use", exit
2): a test that failed once in a while on a busy machine. Ports here come from below that range,
where only a listener can take them.

Each port is handed out once a process: a test that starts three servers asked for three ports,
and the picker's check (bind, close) let it hand out one port twice (one in 7,600 such tests).
The second server then stopped with "port in use" after the first answered /healthz on it for
both: in tests/test_scale.py the worker to be killed had no `processes` row for 30 s.
"""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_pick = random.Random(os.getpid() ^ time.time_ns())
_given: set[int] = set()  # handed out already by this process


def _below_ephemeral() -> range | None:
    """10000 up to the ephemeral range's start, when there is room below it (else None)."""
    try:
        low = int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(10000, low) if low > 11000 else None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing is bound to now and this process has not handed out
    before, outside the ephemeral range when it can be."""
    ports = _below_ephemeral()
    for _ in range(200 if ports else 0):
        assert ports is not None
        port = _pick.choice(ports)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    for _ in range(200):  # no room below the ephemeral range: the kernel's choice
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _given:
            _given.add(port)
            return port
    raise RuntimeError("no free port that was not handed out already")


__all__ = ["free_port"]
