"""What a product feature (bot/features/) is to the app that assembles it (bot/app/features.py):
its routes, and a lifespan that adds its services to the app's `Deps`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from bot.core.deps import Deps, Services
    from scheduler import Scheduler

ReadyCheck = Callable[[], Awaitable[None]]  # raises when its dependency is down (`/readyz`)


@dataclass(frozen=True)
class Starting:
    """What a feature's lifespan gets while the app starts: the dependencies so far (with the
    services of the features started before it), the scheduler to register its jobs with (each
    job gets the app's final `Deps` as its argument), and the readiness checks to add to."""

    deps: Deps
    scheduler: Scheduler
    ready_checks: dict[str, ReadyCheck]


@dataclass(frozen=True)
class Feature:
    """A product feature beyond the core: its routes (added when the app is built) and its
    lifespan, entered at start-up, which yields `Services` with its own fields set
    (`dataclasses.replace(starting.deps.services, ...)`) and closes them at shutdown."""

    name: str
    add_routes: Callable[[web.Application], None] | None = None
    lifespan: Callable[[Starting], AbstractAsyncContextManager[Services]] | None = None


__all__ = ["Feature", "ReadyCheck", "Starting"]
