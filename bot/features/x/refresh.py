"""The X token refresh job: every 5 minutes, refresh tokens that expire within the next 15.

Work goes in batches of `BATCH` rows with at most `CONCURRENCY` refreshes in flight, each through
`XAccounts.refresh` (per-user lock in the process, lease and compare-and-swap on the row across
processes), so a tick never races the posting path and no refresh token is spent twice.

A refresh that X rejects (dead refresh token) normally unlinks that user and texts them one fresh
link. But a burst of them in one tick (more than `BURST_USERS` users, or more than `BURST_SHARE`
of a batch of at least `BURST_MIN_BATCH`) smells of a configuration fault (a wrong client id or
secret, X changing something), not of people revoking the app: the job then stops itself, logs an
error and unlinks nobody. The posting path still refreshes on demand; a restart re-arms the job.
A stored token that does not decrypt for its user is relinked the same way (and counts the same).

X's token endpoint answering 429 (with the time its limit resets) stops the tick's remaining
refreshes, and the ticks until that reset send X nothing: each went on through every expiring
token, hundreds of requests X refused, tick after tick, which only kept the limit spent.

A tick starts no refresh after TICK_SECONDS (X slow, hundreds of tokens expiring at once), so it
ends within the job's lease: another process's tick would go over the same rows beside it.
`token.refresh_tick` says how long it ran and how many it left to the next (`not_tried`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.core.deps import Deps
from bot.core.logs import get_logger
from bot.features.x.accounts import Refresh, XAccounts, x_accounts
from bot.features.x.client import XError, XRateLimited
from storage import xaccounts
from storage.crypto import CipherError

log = get_logger(__name__)

INTERVAL = 300.0  # seconds between ticks
WINDOW = 900.0  # refresh tokens expiring within this
BATCH = 200
CONCURRENCY = 16
BURST_USERS = 5
BURST_SHARE = 0.10
BURST_MIN_BATCH = 10
UNREADABLE = "unreadable"  # a row that does not decrypt for its user: relinked, counted as dead
NOT_TRIED = "not_tried"  # left to a later tick: X's token endpoint said 429, or TICK_SECONDS passed
# A tick starts no refresh after this long (a refresh then takes at most `x.timeout_seconds`), so
# it ends well within the job's lease (4/5 of INTERVAL): another process's tick never goes over
# the same rows beside it.
TICK_SECONDS = 180.0


@dataclass
class TickResult:
    refreshed: int = 0
    dead: list[int] = field(default_factory=list)
    unavailable: int = 0
    gone: int = 0
    not_tried: int = 0  # left alone after X said 429, until its reset
    stopped: bool = False


async def refresh_tokens(deps: Deps) -> None:
    service = x_accounts(deps)
    if service is None:
        return
    if service.refresh_stopped:
        log.error(
            "token.refresh_job_stopped", detail="stopped after a burst of refresh failures; restart to re-arm"
        )
        return
    wait = service.refresh_limited_until - deps.now()
    if wait > 0:  # X's token endpoint said 429: nothing goes to it before the reset
        log.info("token.refresh_tick", refreshed=0, dead=0, unavailable=0, rate_limited_for=round(wait))
        return
    await run_tick(deps, service)


def is_burst(dead: int, batch: int) -> bool:
    return dead > BURST_USERS or (batch >= BURST_MIN_BATCH and dead > BURST_SHARE * batch)


async def run_tick(
    deps: Deps, service: XAccounts, *, batch: int = BATCH, concurrency: int = CONCURRENCY
) -> TickResult:
    """One pass over every token expiring within WINDOW, in keyset-paged batches."""
    result = TickResult()
    started = deps.now()
    limit = asyncio.Semaphore(concurrency)
    before = deps.now() + WINDOW
    after: tuple[float, int] | None = None

    async def one(user_id: int) -> Refresh | str | None:
        async with limit:
            if service.refresh_limited_until > deps.now() or deps.now() - started > TICK_SECONDS:
                return NOT_TRIED
            try:
                outcome, _ = await service.refresh(user_id, unlink_on_dead=False, leeway=WINDOW)
            except CipherError:  # the row does not decrypt for this user: relinked like a dead one
                log.warning("token.unreadable", user_id=user_id)
                return UNREADABLE
            except XError as exc:  # counted as the posting path counts it (deploy/alerts.yml)
                log.warning(
                    "token.refresh_failed", user_id=user_id, error=type(exc).__name__, reason=str(exc)
                )
                kind = "refresh_rate_limited" if isinstance(exc, XRateLimited) else "refresh_failed"
                deps.metrics.x_errors_by[kind].inc()
                return None
            return outcome

    while True:
        async with deps.db.read() as conn:
            rows = await xaccounts.expiring(conn, before=before, limit=batch, after=after)
        if not rows:
            break
        after = rows[-1][:2]
        user_ids = [user_id for _, user_id, _ in rows]
        versions = {user_id: version for _, user_id, version in rows}
        outcomes = await asyncio.gather(*(one(u) for u in user_ids))
        dead = [u for u, o in zip(user_ids, outcomes, strict=True) if o is Refresh.DEAD or o == UNREADABLE]
        result.refreshed += sum(o is Refresh.OK for o in outcomes)
        result.gone += sum(o is Refresh.GONE for o in outcomes)
        result.unavailable += sum(o is None for o in outcomes)
        result.not_tried += sum(o == NOT_TRIED for o in outcomes)
        if is_burst(len(result.dead) + len(dead), len(rows)):
            service.refresh_stopped = True
            result.stopped = True
            # seen from outside too (deploy/alerts.yml): X refused these, though nobody is unlinked
            deps.metrics.x_errors_by["refresh_dead"].inc(len(dead))
            deps.metrics.x_refresh_stopped.set(1)
            log.error(
                "token.refresh_burst",
                dead=len(result.dead) + len(dead),
                batch=len(rows),
                detail="X rejected many refresh tokens at once: refresh job stopped, nobody unlinked; "
                "check x.client_id / x.client_secret",
            )
            return result
        for user_id, outcome in zip(user_ids, outcomes, strict=True):
            if user_id in dead:
                # only the pair this tick found: a reconnect (or \\UNLINK) meanwhile stands
                await service.mark_dead(
                    user_id,
                    reason="unreadable" if outcome == UNREADABLE else "rejected",
                    version=versions[user_id],
                )
        result.dead.extend(dead)
        if len(rows) < batch or result.not_tried:
            break
    if result.refreshed or result.dead or result.unavailable or result.not_tried:
        left: dict[str, int] = {}
        if result.not_tried:  # and, after a 429, when the next tick will try them
            left["not_tried"] = result.not_tried
            if service.refresh_limited_until > deps.now():
                left["rate_limited_for"] = round(service.refresh_limited_until - deps.now())
        log.info(
            "token.refresh_tick",
            refreshed=result.refreshed,
            dead=len(result.dead),
            unavailable=result.unavailable,
            seconds=round(deps.now() - started, 1),
            **left,
        )
    return result


__all__ = ["INTERVAL", "TICK_SECONDS", "TickResult", "is_burst", "refresh_tokens", "run_tick"]
