"""Revoking at X when X does not answer: `\\UNLINK`, `\\STOP` and a reconnect queue the refresh token
(encrypted) with the deletion of its pair, ask X at once, and the x-revoke job retries with backoff
until X takes it (or says it is not valid), for a bounded time."""

from __future__ import annotations

import pytest
import structlog

from bot.features.x import revoke
from bot.features.x.accounts import REVOKE_BACKOFF, REVOKE_FOR, XAccounts, x_accounts
from storage.crypto import TokenCipher, generate_key, rotate_all
from tests.conftest import ALICE, XBot
from tests.fakes.twilio_rest import FakeTwilio
from tests.handlers.talk import people_type_fast, say  # noqa: F401 (autouse)

DISCONNECTED = "Disconnected @alice: your texts are no longer posted to X. Send \\LINK to connect again."
GOODBYE = (
    "Goodbye from textwire: your X connection and your record are deleted, and you left your "
    "rooms. Receipts you shared stay there. Text us anytime to start again."
)


def service_of(xbot: XBot) -> XAccounts:
    service = x_accounts(xbot.runtime.deps)
    assert service is not None
    return service


async def tick(xbot: XBot) -> int:
    return await revoke.retry_revocations(xbot.runtime.deps)


async def pending(xbot: XBot) -> list[tuple[int, float]]:
    """(attempts, when it is due) of each revocation waiting. Its due time is compared with the
    clock read before and after what set it, never with a reading taken later: on a loaded machine
    the second a reply takes once made a 60 s backoff read 58."""
    rows = await xbot.rows("SELECT attempts, next_attempt_at FROM x_revocations ORDER BY id")
    return [(r.attempts, float(r.next_attempt_at)) for r in rows]


def due_after(due_at: float, wait: float, start: float, end: float, whole: bool = False) -> bool:
    """`due_at` is `wait` seconds after a moment between `start` and `end` (`whole`: X's reset
    is given in whole seconds)."""
    return start + wait - (1.0 if whole else 0.01) <= due_at <= end + wait + 0.01


@pytest.mark.parametrize("answer", [503, 500, 429])
async def test_unlink_while_x_is_down_revokes_later(xbot: XBot, answer: int) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    [grant] = xbot.x.live_grants("100")
    refresh = grant.live_refresh
    assert refresh
    xbot.x.fail_revoke_next(answer, reset_in=600)
    start = xbot.x.now
    with structlog.testing.capture_logs() as logs:
        assert await say(xbot, twilio, "\\UNLINK") == DISCONNECTED  # gone here, nothing more posted
    end = xbot.x.now
    assert [e["error"] for e in logs if e["event"] == "token.revoke_failed"]
    assert await xbot.scalar("SELECT count(*) FROM x_tokens") == 0
    assert xbot.x.live_grants("100") == [grant]  # X did not take it: still live there
    [row] = await xbot.rows("SELECT user_id, ciphertext FROM x_revocations")
    assert refresh not in row.ciphertext  # encrypted, as tokens are stored
    assert service_of(xbot).cipher.decrypt(row.user_id, row.ciphertext) == {"refresh_token": refresh}
    wait = 600 if answer == 429 else REVOKE_BACKOFF  # a 429 waits for X's reset (whole seconds)
    [(attempts, due_at)] = await pending(xbot)
    assert attempts == 1
    assert due_after(due_at, wait, start, end, whole=answer == 429)
    assert await tick(xbot) == 0  # not due yet: X is not asked
    assert xbot.x.revoke_calls == 1
    xbot.x.advance(wait + 1)
    assert await tick(xbot) == 1
    assert refresh in xbot.x.revoked
    assert xbot.x.live_grants("100") == []
    assert await xbot.scalar("SELECT count(*) FROM x_revocations") == 0
    assert await tick(xbot) == 0
    assert xbot.x.revoke_calls == 2


async def test_stop_while_x_is_down_revokes_after_the_record_is_gone(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    xbot.x.fail_revoke_next(503, times=3)
    start = xbot.x.now
    assert await say(xbot, twilio, "\\STOP") == GOODBYE
    assert await xbot.scalar("SELECT count(*) FROM users") == 0
    assert len(xbot.x.live_grants("100")) == 1
    # backoff doubles while X stays down
    for attempts, wait in ((1, REVOKE_BACKOFF), (2, 2 * REVOKE_BACKOFF), (3, 4 * REVOKE_BACKOFF)):
        end = xbot.x.now
        [(tried, due_at)] = await pending(xbot)
        assert tried == attempts
        assert due_after(due_at, wait, start, end)
        xbot.x.advance(wait + 1)
        start = xbot.x.now
        await tick(xbot)
    assert xbot.x.live_grants("100") == []
    assert await xbot.scalar("SELECT count(*) FROM x_revocations") == 0


async def test_a_token_x_says_is_not_valid_counts_as_revoked(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    xbot.x.fail_revoke_next(400)
    assert await say(xbot, twilio, "\\UNLINK") == DISCONNECTED
    assert await xbot.scalar("SELECT count(*) FROM x_revocations") == 0
    assert xbot.x.revoke_calls == 1


async def test_the_retry_is_bounded(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    xbot.x.fail_revoke_next(503, times=1000)
    await say(xbot, twilio, "\\UNLINK")
    with structlog.testing.capture_logs() as logs:
        while await xbot.scalar("SELECT count(*) FROM x_revocations"):
            xbot.x.advance(6 * 3600 + 1)
            await tick(xbot)
            assert xbot.x.revoke_calls < 100
    assert [e["event"] for e in logs if e["event"] == "token.revoke_abandoned"] == ["token.revoke_abandoned"]
    assert xbot.x.revoke_calls * 6 * 3600 >= REVOKE_FOR  # tried for the whole time, no longer


async def test_a_claimed_revocation_is_not_asked_twice(xbot: XBot) -> None:
    """The row is claimed before X is asked: a second process's tick at the same moment skips it,
    and a claimer that died lets it come due again."""
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    xbot.x.fail_revoke_next(503)
    await say(xbot, twilio, "\\UNLINK")
    xbot.x.advance(REVOKE_BACKOFF + 1)
    from storage import xaccounts

    deps = xbot.runtime.deps
    async with deps.db.tx() as conn:  # another process claimed it and died
        [claimed] = await xaccounts.claim_revocations(conn, now=deps.now(), until=deps.now() + 300, limit=10)
    assert await tick(xbot) == 0
    assert xbot.x.revoke_calls == 1
    xbot.x.advance(301)
    assert await tick(xbot) == 1
    assert claimed.user_id is not None


async def test_a_reconnect_while_x_is_down_revokes_the_old_grant_later(xbot: XBot) -> None:
    from tests.features.x.test_link import relink

    await xbot.link(user=("100", "alice"))
    [old] = xbot.x.live_grants("100")
    xbot.x.fail_revoke_next(503)
    assert "Connected as @alice" in await relink(xbot, ("100", "alice"))
    assert len(xbot.x.live_grants("100")) == 2
    xbot.x.advance(REVOKE_BACKOFF + 1)
    assert await tick(xbot) == 1
    assert xbot.x.live_grants("100") != [old]
    assert old.revoked
    assert len(xbot.x.live_grants("100")) == 1


async def test_keys_rotate_covers_queued_revocations(xbot: XBot) -> None:
    from storage.crypto import load_keys

    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    xbot.x.fail_revoke_next(503)
    await say(xbot, twilio, "\\UNLINK")
    newest = generate_key()
    await rotate_all(xbot.runtime.deps.db, TokenCipher([newest, *load_keys(xbot.config)[0]]))
    [row] = await xbot.rows("SELECT user_id, ciphertext FROM x_revocations")
    assert TokenCipher([newest]).decrypt(row.user_id, row.ciphertext)["refresh_token"]


async def test_the_job_is_registered_with_the_scheduler(xbot: XBot) -> None:
    assert "x-revoke" in xbot.runtime.scheduler.job_ids


async def test_person_delete_while_x_is_down_leaves_the_revocation_to_the_job(xbot: XBot) -> None:
    """`textwire person delete` is `\\STOP` for an operator: X down, the grant still ends, by the
    running service's x-revoke job."""
    from bot.app import person

    await xbot.link(user=("100", "alice"))
    xbot.x.fail_revoke_next(503)
    deleted_at = xbot.x.now
    assert await person.delete(xbot.config, ALICE, receipts=False, now=deleted_at) == 0
    assert await xbot.scalar("SELECT count(*) FROM users") == 0
    assert len(xbot.x.live_grants("100")) == 1
    assert await pending(xbot) == [(0, deleted_at)]  # due at once, untried
    assert await tick(xbot) == 1
    assert xbot.x.live_grants("100") == []
    assert await xbot.scalar("SELECT count(*) FROM x_revocations") == 0


async def test_person_delete_without_the_services_x_settings_or_keys_deletes_nothing(xbot: XBot) -> None:
    """Run from a shell without the service's environment (x.client_id empty, or other Fernet
    keys), `textwire person delete` deleted the tokens unrevoked, said only `"x_revoked": false`
    and exit 0, and the grant stayed live at X for good. Now it stops first, deleting nothing."""
    from bot.app import person
    from bot.core.config import replace
    from bot.core.errors import StartupError

    await xbot.link(user=("100", "alice"))
    for config, says in (
        (replace(xbot.config, x={"client_id": ""}), "x.client_id is empty here"),
        (replace(xbot.config, security={"fernet_keys": (generate_key(),)}), "Fernet keys"),
    ):
        with pytest.raises(StartupError, match=says) as exc:
            await person.delete(config, ALICE, receipts=False, now=xbot.x.now)
        assert "nothing was deleted" in str(exc.value)
        assert await xbot.scalar("SELECT count(*) FROM users") == 1
        assert await xbot.scalar("SELECT count(*) FROM x_tokens") == 1
        assert len(xbot.x.live_grants("100")) == 1
    assert await person.delete(xbot.config, ALICE, receipts=False, now=xbot.x.now) == 0
    assert xbot.x.live_grants("100") == []
    assert await xbot.scalar("SELECT count(*) FROM x_revocations") == 0


async def test_person_delete_stopped_by_the_media_store_leaves_the_x_grant_alone(xbot: XBot) -> None:
    """`--receipts` with a store that does not answer stops before anything of the person is
    deleted, X included: the grant was revoked at X first (and their tokens kept), so a person
    "nothing was deleted" of had lost their X connection."""
    from bot.app import person
    from bot.core.config import replace
    from storage.media import StoreUnavailable
    from tests import images
    from tests.features.receipts.test_media import mms
    from tests.features.receipts.test_media import say as say_mms

    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    await say(xbot, twilio, "\\CREATE house hunter22")
    reply = await say_mms(xbot, twilio, "lunch $30.00", **mms([twilio.media.add(images.jpeg_with_gps())]))
    assert reply.startswith("Saved $30.00 to house"), reply
    in_the_way = xbot.config.data_dir / "not-a-folder"
    in_the_way.write_text("")
    away = replace(xbot.config, media={"local_dir": str(in_the_way)})  # the store cannot open
    with pytest.raises(StoreUnavailable, match="nothing was deleted"):
        await person.delete(away, ALICE, receipts=True, now=xbot.x.now)
    assert len(xbot.x.live_grants("100")) == 1
    assert await xbot.scalar("SELECT count(*) FROM x_tokens") == 1
    assert await xbot.scalar("SELECT count(*) FROM x_revocations") == 0
    assert await person.delete(xbot.config, ALICE, receipts=True, now=xbot.x.now) == 0  # run again
    assert xbot.x.live_grants("100") == []


async def test_a_429_from_x_holds_the_rest_of_the_tick_until_its_reset(xbot: XBot) -> None:
    """X's revoke endpoint answered 429 (its reset 10 minutes away) to the first of many waiting
    revocations (people who left while X was down): the tick asked X for each of the others all
    the same, up to 100 refusals a minute. The rest wait for the reset without asking X."""
    deps, service = xbot.runtime.deps, service_of(xbot)
    from storage import xaccounts

    async with deps.db.tx() as conn:
        for n in range(5):
            grant = xbot.x.grant_tokens(str(100 + n), f"user{n}")
            ciphertext = service.cipher.encrypt(1000 + n, {"refresh_token": grant["refresh_token"]})
            await xaccounts.queue_revocation(
                conn, user_id=1000 + n, ciphertext=ciphertext, now=deps.now(), claim_until=deps.now()
            )
    xbot.x.fail_revoke_next(429, times=10, reset_in=600)
    start = xbot.x.now
    assert await tick(xbot) == 0
    end = xbot.x.now
    assert xbot.x.revoke_calls == 1
    waiting = await pending(xbot)
    assert [attempts for attempts, _ in waiting] == [1, 0, 0, 0, 0]
    assert all(due_after(due_at, 600, start, end, whole=True) for _, due_at in waiting)
    xbot.x.advance(601)
    xbot.x._revoke_failures.clear()  # X's limit has reset
    assert await tick(xbot) == 5
    assert xbot.x.revoke_calls == 6
    assert xbot.x.live_grants() == []
