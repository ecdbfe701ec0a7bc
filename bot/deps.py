"""The typed dependencies every handler gets as `ctx.deps` (one frozen object for the app's life)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.config import Config
from storage.db import Database


@dataclass(frozen=True)
class Deps:
    config: Config
    db: Database
    http: aiohttp.ClientSession
    wake_sender: Callable[[], None] = lambda: None
    clock: Callable[[], float] = time.time
    # Services of later features (X client, token cipher, media store) live here, typed by their
    # modules; `services` holds them until each gets its own field.
    services: dict[str, Any] = field(default_factory=dict)

    def now(self) -> float:
        return self.clock()
