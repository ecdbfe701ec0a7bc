"""The refresh timer: bounded batches, never racing the posting path, one relink SMS for a dead
grant, and a burst guard that stops the job instead of unlinking everyone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import sqlalchemy as sa
import structlog

from bot.features.x import refresh
from bot.features.x.accounts import Refresh, XAccounts, x_accounts
from storage import users, xaccounts
from storage.lean import in_tx
from storage.schema import x_tokens
from tests.conftest import XBot, browser, link_in, open_confirm_page, wait_for


def service_of(xbot: XBot) -> XAccounts:
    service = x_accounts(xbot.runtime.deps)
    assert service is not None
    return service


async def seed(xbot: XBot, count: int, *, expires_in: float = 600.0) -> list[int]:
    """`count` linked users with real grants at the fake, expiring in `expires_in` seconds."""
    service = service_of(xbot)
    deps = xbot.runtime.deps
    ids = []
    for n in range(count):
        grant = xbot.x.grant_tokens(str(5000 + n), f"user{n}")
        async with deps.db.tx() as conn:
            user, _ = await users.get_or_create(conn, f"+1555100{n:04d}", deps.now())
            ciphertext = service.cipher.encrypt(
                user.id, {"access_token": grant["access_token"], "refresh_token": grant["refresh_token"]}
            )
            await xaccounts.save_tokens(
                conn,
                user_id=user.id,
                ciphertext=ciphertext,
                expires_at=deps.now() + expires_in,
                now=deps.now(),
            )
            await xaccounts.link_account(conn, user_id=user.id, x_user_id=str(5000 + n), handle=f"user{n}")
        ids.append(user.id)
    return ids


async def test_a_tick_refreshes_tokens_expiring_within_15_minutes_only(xbot: XBot) -> None:
    soon = await seed(xbot, 3, expires_in=600)
    async with xbot.runtime.deps.db.tx() as conn:  # one of them still has an hour
        await conn.execute(
            sa.update(x_tokens).where(x_tokens.c.user_id == soon[2]).values(expires_at=xbot.x.now + 3600)
        )
    before = {r.user_id: r.version for r in await xbot.rows("SELECT user_id, version FROM x_tokens")}
    await refresh.refresh_tokens(xbot.runtime.deps)  # the job, as APScheduler calls it
    after = {
        r.user_id: (r.version, r.expires_at)
        for r in await xbot.rows("SELECT user_id, version, expires_at FROM x_tokens")
    }
    assert xbot.x.refresh_calls == 2
    assert after[soon[0]][0] == before[soon[0]] + 1
    assert after[soon[1]][0] == before[soon[1]] + 1
    assert after[soon[2]][0] == before[soon[2]]
    assert after[soon[0]][1] > xbot.x.now + 7000
    assert len(xbot.x.live_grants()) == 3


async def test_batches_page_through_every_expiring_token(xbot: XBot) -> None:
    await seed(xbot, 7)
    result = await refresh.run_tick(xbot.runtime.deps, service_of(xbot), batch=2, concurrency=2)
    assert result.refreshed == 7
    assert xbot.x.refresh_calls == 7
    assert await xbot.scalar("SELECT count(*) FROM x_tokens WHERE expires_at < :t", t=xbot.x.now + 900) == 0


async def test_a_tick_while_the_posting_path_refreshes_keeps_the_user_linked(xbot: XBot) -> None:
    await xbot.link(user=("100", "alice"))
    xbot.x.advance(7200)
    xbot.x.post_delay = 0.05
    service = service_of(xbot)
    [user] = await xbot.rows("SELECT id FROM users")

    async def post(text: str) -> None:
        outcome, access = await service.access(user.id)
        assert outcome is Refresh.OK
        assert access is not None
        await service.client.post(access.token, text)

    await asyncio.gather(post("racing"), refresh.run_tick(xbot.runtime.deps, service), post("the timer"))
    assert xbot.x.refresh_calls == 1
    assert len(xbot.x.live_grants("100")) == 1
    [row] = await xbot.rows("SELECT x_user_id, x_needs_relink FROM users")
    assert row.x_user_id == "100"
    assert not row.x_needs_relink
    reply_form = await xbot.text("still linked?")
    await xbot.handled(reply_form["MessageSid"])
    assert ("100", "still linked?") in xbot.x.posts


async def test_a_dead_refresh_token_gets_one_relink_sms(xbot: XBot) -> None:
    twilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    start = len(twilio.messages)
    xbot.x.revoke_user("100")
    xbot.x.advance(7200 - 300)
    service = service_of(xbot)
    result = await refresh.run_tick(xbot.runtime.deps, service)
    assert len(result.dead) == 1
    messages = await twilio.wait_for_messages(start + 1)
    assert "stopped working" in messages[-1]["Body"]
    assert "/x/link/" in messages[-1]["Body"]
    for _ in range(3):  # later ticks, and a post attempt, send nothing more of the kind
        await refresh.run_tick(xbot.runtime.deps, service)
    await xbot.settled()
    assert len(twilio.messages) == start + 1
    assert await xbot.rows("SELECT * FROM x_tokens") == []
    [row] = await xbot.rows("SELECT x_needs_relink FROM users")
    assert row.x_needs_relink


async def test_a_burst_of_dead_tokens_stops_the_job_and_unlinks_nobody(xbot: XBot) -> None:
    twilio = xbot.extras["twilio"]
    ids = await seed(xbot, 8)
    for n in range(8):
        xbot.x.revoke_user(str(5000 + n))
    with structlog.testing.capture_logs() as logs:
        result = await refresh.run_tick(xbot.runtime.deps, service_of(xbot))
        assert result.stopped
        await refresh.refresh_tokens(xbot.runtime.deps)  # the next tick does nothing
    assert xbot.x.refresh_calls == 8
    assert next(e for e in logs if e["event"] == "token.refresh_burst")["log_level"] == "error"
    assert any(e["event"] == "token.refresh_job_stopped" for e in logs)
    # and in /metrics, for the alert rules (deploy/alerts.yml): the log alone was all there was
    metrics = xbot.runtime.deps.metrics
    assert metrics.x_refresh_stopped._value.get() == 1
    assert metrics.x_errors_by["refresh_dead"]._value.get() == 8
    assert len(await xbot.rows("SELECT * FROM x_tokens")) == len(ids)
    assert await xbot.scalar("SELECT count(*) FROM users WHERE x_needs_relink") == 0
    await xbot.settled()
    assert twilio.messages == []


async def test_x_down_during_a_tick_keeps_every_token(xbot: XBot) -> None:
    await seed(xbot, 3)
    xbot.x.fail_token_next(503, times=3)
    with structlog.testing.capture_logs() as logs:
        result = await refresh.run_tick(xbot.runtime.deps, service_of(xbot))
    assert result.unavailable == 3
    # why, for the operator: it said only error "XUnavailable" (X down, slow, refusing connections?)
    failed = [e for e in logs if e["event"] == "token.refresh_failed"]
    assert [e["reason"] for e in failed] == ["token endpoint answered 503"] * 3
    assert await xbot.scalar("SELECT count(*) FROM x_tokens WHERE lease_owner IS NULL") == 3
    result = await refresh.run_tick(xbot.runtime.deps, service_of(xbot))
    assert result.refreshed == 3


async def test_x_failing_the_timers_refreshes_is_counted_for_the_alert(xbot: XBot) -> None:
    """deploy/alerts.yml's "X token refreshes fail" watches textwire_x_errors_total: the timer's
    failures count there as the posting path's do (else X down for hours, every connection
    expiring, alerted nobody until people posted)."""
    await seed(xbot, 3)
    errors = xbot.runtime.deps.metrics.x_errors_by
    xbot.x.fail_token_next(503, times=2)
    xbot.x.fail_token_next(429)
    result = await refresh.run_tick(xbot.runtime.deps, service_of(xbot))
    assert result.unavailable == 3
    assert errors["refresh_failed"]._value.get() == 2
    assert errors["refresh_rate_limited"]._value.get() == 1


async def test_a_429_from_x_stops_the_tick_and_the_ticks_until_its_reset(xbot: XBot) -> None:
    """X's token endpoint said 429 with its reset 10 minutes away: the tick went on through every
    other expiring token, and each tick after it the same, hundreds of requests X refused. Nothing
    more goes to X before the reset; then the tick refreshes them all."""
    await seed(xbot, 12)
    xbot.x.fail_token_next(429, times=50, reset_in=600)
    deps, service = xbot.runtime.deps, service_of(xbot)
    with structlog.testing.capture_logs() as logs:
        result = await refresh.run_tick(deps, service, batch=5, concurrency=1)
    assert xbot.x.refresh_calls == 1
    assert (result.unavailable, result.not_tried, result.refreshed, result.dead) == (1, 4, 0, [])
    [tick] = [e for e in logs if e["event"] == "token.refresh_tick"]
    assert tick["not_tried"] == 4
    assert 590 <= tick["rate_limited_for"] <= 600
    await refresh.refresh_tokens(deps)  # the next tick, before the reset: nothing goes to X
    assert xbot.x.refresh_calls == 1
    assert await xbot.scalar("SELECT count(*) FROM x_tokens WHERE lease_owner IS NULL") == 12
    assert await xbot.scalar("SELECT count(*) FROM users WHERE x_user_id IS NOT NULL") == 12
    xbot.x.advance(601)
    xbot.x._token_failures.clear()  # X's limit has reset
    await refresh.refresh_tokens(deps)
    assert xbot.x.refresh_calls == 13
    assert len(xbot.x.live_grants()) == 12


async def test_the_job_is_registered_with_the_scheduler(xbot: XBot) -> None:
    assert "x-refresh" in xbot.runtime.scheduler.job_ids


async def test_burst_rule() -> None:
    assert not refresh.is_burst(1, 1)  # one revoked user in a small tick is just that
    assert not refresh.is_burst(5, 100)
    assert refresh.is_burst(6, 100)
    assert refresh.is_burst(3, 20)  # 15% of a batch of 20
    assert not refresh.is_burst(2, 20)


async def test_lease_of_a_crashed_process_expires(xbot: XBot) -> None:
    [user_id] = await seed(xbot, 1)
    deps = xbot.runtime.deps
    async with deps.db.tx() as conn:  # another process took the lease and died
        await xaccounts.take_lease(conn, user_id=user_id, owner="dead-process", now=deps.now() - 120)
    outcome, access = await service_of(xbot).refresh(user_id, leeway=refresh.WINDOW)
    assert outcome is Refresh.OK
    assert access is not None
    assert xbot.x.refresh_calls == 1
    await wait_for(lambda: _one(xbot))


async def _one(xbot: XBot) -> bool:
    return await xbot.scalar("SELECT count(*) FROM x_tokens WHERE lease_owner IS NULL") == 1


async def test_a_token_that_does_not_decrypt_is_relinked_by_a_tick(xbot: XBot) -> None:
    twilio = xbot.extras["twilio"]
    ids = await seed(xbot, 3)
    async with xbot.runtime.deps.db.tx() as conn:  # a corrupt row
        await conn.execute(
            sa.update(x_tokens).where(x_tokens.c.user_id == ids[0]).values(ciphertext="gAAAA-bad")
        )
    result = await refresh.run_tick(xbot.runtime.deps, service_of(xbot))
    assert result.dead == [ids[0]]
    assert result.refreshed == 2
    [message] = await twilio.wait_for_messages(1)
    assert message["To"] == "+15551000000"
    assert "/x/link/" in message["Body"]
    await refresh.run_tick(xbot.runtime.deps, service_of(xbot))
    await xbot.settled()
    assert len(twilio.messages) == 1
    assert [r.user_id for r in await xbot.rows("SELECT user_id FROM x_tokens ORDER BY user_id")] == ids[1:]


async def test_a_lease_is_not_taken_on_a_row_another_process_just_refreshed(xbot: XBot) -> None:
    """The race two processes ran into on PostgreSQL: B reads the row (stale), A leases it,
    refreshes at X and lets the lease go, then B's lease statement sees the new row. B must not
    lease it (it would refresh a fresh pair again): the lease is taken on the version B read."""
    [user_id] = await seed(xbot, 1)
    deps = xbot.runtime.deps
    async with deps.db.read() as conn:
        seen = await xaccounts.load_tokens(in_tx(conn), user_id)  # B's read
    assert seen is not None
    async with deps.db.tx() as conn:  # A: lease, refresh, new version, lease released
        leased = await xaccounts.take_lease(
            conn, user_id=user_id, owner="A", now=deps.now(), version=seen.version
        )
        assert leased is not None
        assert await xaccounts.finish_refresh(
            conn,
            user_id=user_id,
            owner="A",
            version=leased.version,
            ciphertext=leased.ciphertext,
            expires_at=deps.now() + 7200,
            now=deps.now(),
        )
    async with deps.db.tx() as conn:  # B, with what it read
        assert (
            await xaccounts.take_lease(conn, user_id=user_id, owner="B", now=deps.now(), version=seen.version)
            is None
        )
    outcome, access = await service_of(xbot).access(user_id)  # B goes round again: fresh, no call
    assert outcome is Refresh.OK
    assert access is not None
    assert xbot.x.refresh_calls == 0


async def test_a_reconnect_while_a_tick_refreshes_the_old_pair_keeps_the_new_one(xbot: XBot) -> None:
    """A person reconnects X (their callback stores a new pair and revokes the old grant) while the
    timer's refresh of the old pair is at X, which then refuses the old refresh token. The refusal
    is about the replaced pair: the new one stays, and nobody is told their X stopped working."""
    twilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    xbot.x.advance(7200 - 300)
    service = service_of(xbot)
    real_refresh = service.client.refresh

    async def reconnect_then_refresh(refresh_token: str) -> Any:
        before = len(twilio.messages)
        await xbot.text("\\LINK")
        messages = await twilio.wait_for_messages(before + 1)
        url = link_in(messages[-1]["Body"])
        async with browser() as session:
            data, headers = await open_confirm_page(session, url)
            async with session.post(url, data=data, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
        await twilio.wait_for_messages(before + 2)  # "Connected @alice"

        async def old_grant_revoked() -> bool:
            return len(xbot.x.live_grants("100")) == 1

        await wait_for(old_grant_revoked)
        return await real_refresh(refresh_token)

    with refreshing_with(service, reconnect_then_refresh):
        result = await refresh.run_tick(xbot.runtime.deps, service)
    await xbot.settled()
    assert result.dead == []
    [row] = await xbot.rows("SELECT x_user_id, x_needs_relink FROM users")
    assert row.x_user_id == "100"
    assert not row.x_needs_relink
    assert len(await xbot.rows("SELECT user_id FROM x_tokens")) == 1
    assert not any("stopped working" in m["Body"] for m in twilio.messages)


async def test_a_reconnect_after_x_refused_the_old_pair_in_a_tick_keeps_the_new_one(xbot: XBot) -> None:
    """X refuses the refresh token of a pair the person revoked, and they reconnect before the
    tick has gone through the rest of its batch (the dead are marked after it): the new pair was
    deleted and "stopped working" texted right after "Connected @alice". Only the pair the tick
    found is deleted."""
    twilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    xbot.x.revoke_user("100")
    xbot.x.advance(7200 - 300)
    service = service_of(xbot)
    real_refresh = service.refresh

    async def refused_then_reconnect(user_id: int, **kwargs: Any) -> Any:
        outcome = await real_refresh(user_id, **kwargs)
        assert outcome[0] is Refresh.DEAD
        before = len(twilio.messages)
        await xbot.text("\\LINK")
        messages = await twilio.wait_for_messages(before + 1)
        async with browser() as session:
            url = link_in(messages[-1]["Body"])
            data, headers = await open_confirm_page(session, url)
            async with session.post(url, data=data, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
        await twilio.wait_for_messages(before + 2)  # "Connected @alice"
        return outcome

    service.refresh = refused_then_reconnect  # type: ignore[method-assign]
    try:
        result = await refresh.run_tick(xbot.runtime.deps, service)
    finally:
        service.refresh = real_refresh  # type: ignore[method-assign]
    await xbot.settled()
    assert len(result.dead) == 1  # X did refuse the old pair
    [row] = await xbot.rows("SELECT x_user_id, x_needs_relink FROM users")
    assert row.x_user_id == "100"
    assert not row.x_needs_relink
    assert len(await xbot.rows("SELECT user_id FROM x_tokens")) == 1
    assert not any("stopped working" in m["Body"] for m in twilio.messages)


async def test_an_unlink_while_a_tick_refreshes_ends_the_pair_x_issued_to_the_tick(xbot: XBot) -> None:
    """`\\UNLINK` while the timer's refresh is at X: the unlink revokes the refresh token it found,
    which X has just rotated, and the pair X issued to the timer found no row to go to and was
    dropped, never revoked: the grant could stay live at X, with tokens nobody here holds. It is
    revoked as a replaced pair is."""
    await xbot.link(user=("100", "alice"))
    xbot.x.advance(7200 - 300)
    service = service_of(xbot)
    real_refresh = service.client.refresh
    issued: list[str] = []

    async def refresh_then_unlink(refresh_token: str) -> Any:
        new = await real_refresh(refresh_token)  # X has rotated the pair
        issued.append(new.refresh_token)
        form = await xbot.text("\\UNLINK")
        await xbot.handled(form["MessageSid"])
        return new

    with refreshing_with(service, refresh_then_unlink):
        result = await refresh.run_tick(xbot.runtime.deps, service)
    await xbot.settled()
    assert (result.refreshed, result.gone, result.dead) == (0, 1, [])
    assert await xbot.scalar("SELECT count(*) FROM x_tokens") == 0
    [new_refresh_token] = issued
    assert new_refresh_token in xbot.x.revoked
    assert await xbot.scalar("SELECT count(*) FROM x_revocations") == 0


async def test_a_tick_that_outlasts_its_time_leaves_the_rest_to_the_next(xbot: XBot) -> None:
    """X slow (every refresh near its timeout) with hundreds of tokens expiring at once: a tick
    ran past the job's lease (4 of its 5 minutes), so another process's tick went over the same
    rows beside it (each waiting out the other's row leases, counted as failures), and the log
    said nothing of how long it took. After TICK_SECONDS no more refreshes start; the tick says
    how long it ran and how many it left to the next."""
    await seed(xbot, 6)
    service = service_of(xbot)
    real_refresh = service.client.refresh

    async def slow(refresh_token: str) -> Any:
        xbot.x.advance(100)  # X answers after 100 s
        return await real_refresh(refresh_token)

    with refreshing_with(service, slow), structlog.testing.capture_logs() as logs:
        result = await refresh.run_tick(xbot.runtime.deps, service, concurrency=1)
    assert (result.refreshed, result.not_tried) == (2, 4)
    assert refresh.TICK_SECONDS < 200 < refresh.INTERVAL * 0.8
    assert xbot.x.refresh_calls == 2
    [tick] = [e for e in logs if e["event"] == "token.refresh_tick"]
    assert tick["not_tried"] == 4
    assert 200 <= tick["seconds"] < 201
    result = await refresh.run_tick(xbot.runtime.deps, service)  # the next tick: the rest
    assert result.refreshed == 4
    assert len(xbot.x.live_grants()) == 6


@contextlib.contextmanager
def refreshing_with(service: XAccounts, stand_in: Callable[[str], Awaitable[Any]]) -> Iterator[None]:
    """X's token refresh as `stand_in` does it for the block (it may call the real one, kept
    before the block), the client's own again after."""
    real = service.client.refresh
    service.client.refresh = stand_in  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        service.client.refresh = real  # type: ignore[method-assign]
