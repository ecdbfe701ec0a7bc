"""The x-revoke job: revocations X has not taken yet (storage `x_revocations`), retried.

`\\UNLINK`, `\\STOP` and a reconnect delete or replace the stored pair and queue its refresh token
in the same transaction, then ask X at once. When X could not be reached or answered 5xx or 429,
the token waits with a backoff (XAccounts.attempt_revocation) and this job asks again when it is
due, until X takes it, says it is not valid (400: already ended), or REVOKE_FOR has passed. Each
tick is one process's (the scheduler's job lease), and each row is claimed by a conditional UPDATE
before X is asked, so no two processes revoke one token at once. Once X answers 429 (to the job
or to an `\\UNLINK`'s revocation), the rest of the tick's rows wait for its reset unasked: each
was asked all the same, up to BATCH refusals a minute, which only kept X's limit spent.
"""

from __future__ import annotations

from bot.core.deps import Deps
from bot.core.logs import get_logger
from bot.features.x.accounts import REVOKE_CLAIM, x_accounts
from storage import xaccounts

log = get_logger(__name__)

INTERVAL = 60.0  # seconds between ticks
BATCH = 100  # revocations a tick


async def retry_revocations(deps: Deps) -> int:
    """One tick: every due revocation, up to BATCH; returns how many X took."""
    service = x_accounts(deps)
    if service is None:
        return 0
    now = deps.now()
    if service.revoke_limited_until > now:  # X said 429: nothing is due before its reset
        return 0
    async with deps.db.tx() as conn:
        due = await xaccounts.claim_revocations(conn, now=now, until=now + REVOKE_CLAIM, limit=BATCH)
    done = 0
    for n, pending in enumerate(due):
        if service.revoke_limited_until > deps.now():
            async with deps.db.tx() as conn:
                await xaccounts.postpone_revocations(
                    conn, [p.id for p in due[n:]], at=service.revoke_limited_until
                )
            break
        done += await service.attempt_revocation(pending)
    return done


__all__ = ["BATCH", "INTERVAL", "retry_revocations"]
