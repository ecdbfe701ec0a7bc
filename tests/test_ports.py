"""tests/ports.py: the ports the suite's servers are started on."""

from __future__ import annotations

import random
import socket

import pytest

from tests import ports


def test_a_port_is_handed_out_once_though_the_picker_draws_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The picker's check (bind, then close) frees the port at once: drawn again, it was handed
    out again, and two of a test's servers were told one port (tests/test_scale.py: the second
    stopped with "port in use" while the first answered /healthz for it)."""
    below = ports._below_ephemeral()
    if below is None:
        pytest.skip("no room below the ephemeral range on this host")
    draws = random.Random(7)
    first = draws.choice(below)
    monkeypatch.setattr(ports, "_pick", _Again(first, draws))
    handed = [ports.free_port() for _ in range(3)]
    assert len(set(handed)) == 3, handed
    for port in handed:  # and each is free
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


class _Again:
    """Draws `port` three times, then as `draws` does."""

    def __init__(self, port: int, draws: random.Random) -> None:
        self._first = [port] * 3
        self._draws = draws

    def choice(self, seq: range) -> int:
        return self._first.pop() if self._first else self._draws.choice(seq)
