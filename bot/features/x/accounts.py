"""X accounts at run time: links, access tokens with serialized refreshes, unlinking.

X refresh tokens are single use: two refreshes of one user at once sign that user out. So a
refresh holds a per-user lock in this process and a lease on the token row across processes,
and commits the new pair (compare-and-swap on the row's version) before anyone uses it.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.deps import Deps
from bot.core.logs import get_logger
from bot.features.x.client import TokenSet, XAuthRejected, XClient, XError, XRateLimited
from bot.pipeline.dispatch import Reply
from storage import outbox, pairing, xaccounts
from storage.crypto import CipherError, TokenCipher
from storage.lean import in_tx
from storage.users import User

log = get_logger(__name__)

REFRESH_LEEWAY = 60.0  # refresh when the access token expires within this
NOT_SET_UP = "Posting to X is not set up on this number."
# The first text of a new number when X is not set up: what the number is for, and where to start.
WELCOME_NO_X = (
    "Welcome to textwire! Share receipts in a room: \\CREATE room pw or \\JOIN room pw, then send "
    "photos. \\HELP for more."
)
NOT_SET_UP_HELP = f"{NOT_SET_UP} Send \\HELP for the commands."
RELINK = "Your X connection stopped working."
# A refresh token whose pair is deleted or replaced here, that X has not yet revoked: tried at once,
# then by the x-revoke job after REVOKE_BACKOFF seconds, doubling up to REVOKE_BACKOFF_MAX, for
# REVOKE_FOR seconds in all. REVOKE_CLAIM: how long an attempt in flight keeps the job off it.
REVOKE_BACKOFF = 60.0
REVOKE_BACKOFF_MAX = 6 * 3600.0
REVOKE_FOR = 7 * 86400.0
REVOKE_CLAIM = 300.0


class Refresh(enum.Enum):
    OK = "ok"
    DEAD = "dead"  # X rejected the refresh token: relink needed
    GONE = "gone"  # no tokens (unlinked meanwhile)


def link_reply(deps: Deps, token: str, *, first: bool = False, handle: str | None = None) -> Reply:
    """One segment with a public URL of up to 40 characters (SPEC, Clarifications). `handle`: the
    X account the person posts to now (`\\LINK` while connected switches accounts: they are told
    which one they have, not asked to connect as if they had none)."""
    url = f"{deps.config.public_base}/x/link/{token}"
    if handle:
        return Reply(
            f"You post to X as @{handle}. To switch accounts: {url} (10 min). \\HELP: commands",
            redact=True,
            kind="x-link",
        )
    if first:
        return Reply(
            f"Welcome to textwire! Connect X to post your texts: {url} (10 min). \\HELP: commands",
            redact=True,
            kind="x-link",
        )
    return Reply(
        f"Connect X to post your texts: {url} (10 min). \\HELP: commands", redact=True, kind="x-link"
    )


def relink_reply(deps: Deps, token: str, *, not_posted: bool = False) -> Reply:
    """The SMS after X rejected a user's refresh token. `not_posted`: it answers a text that was
    therefore not posted (which "stopped working" alone left to guess: posted, or to be once
    reconnected?)."""
    said = f"{RELINK[:-1]}, so this text was not posted." if not_posted else RELINK
    return Reply(f"{said} Reconnect: {deps.config.public_base}/x/link/{token} (10 min)", redact=True)


@dataclass(frozen=True)
class Access:
    token: str
    version: int  # of the token row: a 401 forces a refresh of exactly this version

    def __repr__(self) -> str:
        return f"Access(version={self.version})"


class XAccounts:
    def __init__(self, deps: Deps, client: XClient, cipher: TokenCipher) -> None:
        self.deps = deps
        self.client = client
        self.cipher = cipher
        self.owner = f"x-{secrets.token_hex(6)}"
        self.refresh_stopped = False  # set by the refresh job's burst guard; a restart re-arms it
        # X's token endpoint answered 429 (to the job or to a post's refresh): the refresh job
        # sends it nothing more until this reset (Unix seconds)
        self.refresh_limited_until = 0.0
        # X's revoke endpoint answered 429: the x-revoke job asks it nothing more until this reset
        self.revoke_limited_until = 0.0
        self._locks: dict[int, list[Any]] = {}  # user id -> [lock, users of it]

    # -- links ----------------------------------------------------------------------------------
    async def new_link(self, user_id: int, *, address: str | None = None) -> str:
        """A fresh link, to be texted to `address` (where "Connected @handle" goes back)."""
        async with self.deps.db.tx() as conn:
            return await xaccounts.create_link(conn, user_id, self.deps.now(), address=address)

    async def link_reply(
        self, user: User, *, address: str, first: bool = False, handle: str | None = None
    ) -> Reply:
        """The link, as the answer to a message from `address`; `handle`: the account the person
        posts to now (`\\LINK` while connected)."""
        token = await self.new_link(user.id, address=address)
        return link_reply(self.deps, token, first=first, handle=handle)

    # -- tokens ---------------------------------------------------------------------------------
    def store(self, user_id: int, tokens: TokenSet) -> str:
        return self.cipher.encrypt(
            user_id, {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token}
        )

    async def access(self, user_id: int, *, unlink_on_dead: bool = True) -> tuple[Refresh, Access | None]:
        """A usable access token, refreshed on demand when it expires within 60 s. Raises XError
        when X cannot be reached for the refresh, CipherError when no key reads the row."""
        row = await xaccounts.load_tokens(self.deps.db, user_id)
        if row is None:
            return Refresh.GONE, None
        if row.expires_at > self.deps.now() + REFRESH_LEEWAY:
            return Refresh.OK, Access(
                self.cipher.decrypt(user_id, row.ciphertext)["access_token"], row.version
            )
        return await self.refresh(user_id, unlink_on_dead=unlink_on_dead)

    async def refresh(
        self,
        user_id: int,
        *,
        stale_version: int | None = None,
        unlink_on_dead: bool = True,
        leeway: float = REFRESH_LEEWAY,
    ) -> tuple[Refresh, Access | None]:
        """Refresh unless the token is valid for `leeway` more seconds (someone else may just have
        refreshed it). `stale_version`: force a refresh of that version (X answered 401 to its
        access token). Raises XError when X is unreachable."""
        entry = self._locks.setdefault(user_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                return await self._refresh_locked(user_id, stale_version, unlink_on_dead, leeway)
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._locks[user_id]  # keep the map small: only users being refreshed

    async def _refresh_locked(
        self, user_id: int, stale_version: int | None, unlink_on_dead: bool, leeway: float
    ) -> tuple[Refresh, Access | None]:
        for _ in range(100):  # another process holds the lease: wait for its new pair
            now = self.deps.now()
            async with self.deps.db.tx() as conn:
                row = await xaccounts.load_tokens(in_tx(conn), user_id)
                if row is None:
                    return Refresh.GONE, None
                fresh = row.expires_at > now + leeway
                if (stale_version is None and fresh) or (
                    stale_version is not None and row.version != stale_version
                ):
                    return Refresh.OK, Access(
                        self.cipher.decrypt(user_id, row.ciphertext)["access_token"], row.version
                    )
                leased = await xaccounts.take_lease(
                    conn, user_id=user_id, owner=self.owner, now=now, version=row.version
                )
            if leased is not None:
                break
            await asyncio.sleep(0.1)
        else:
            raise XError("token refresh lease not released")
        try:
            refresh_token = self.cipher.decrypt(user_id, leased.ciphertext)["refresh_token"]
            new = await self.client.refresh(refresh_token)
        except XAuthRejected:
            if await self._replaced(user_id, leased.version):  # a reconnect revoked the old grant
                return await self._refresh_locked(user_id, stale_version, unlink_on_dead, leeway)
            if unlink_on_dead:
                await self.mark_dead(user_id)
            else:
                async with self.deps.db.tx() as conn:
                    await xaccounts.release_lease(conn, user_id=user_id, owner=self.owner)
            return Refresh.DEAD, None
        except (XError, CipherError) as exc:
            if isinstance(exc, XRateLimited):
                self.refresh_limited_until = max(self.refresh_limited_until, exc.reset_at)
            async with self.deps.db.tx() as conn:
                await xaccounts.release_lease(conn, user_id=user_id, owner=self.owner)
            raise
        async with self.deps.db.tx() as conn:
            committed = await xaccounts.finish_refresh(
                conn,
                user_id=user_id,
                owner=self.owner,
                version=leased.version,
                ciphertext=self.store(user_id, new),
                expires_at=new.expires_at,
                now=self.deps.now(),
            )
        if not committed and await self._replaced(user_id, leased.version):
            # X rotated the pair for a row replaced (a reconnect) or deleted (`\\UNLINK`, `\\STOP`)
            # meanwhile, whose revocation named the refresh token X had just spent: the pair
            # X issued here is held by nobody else, so it is ended at X as a replaced one is
            await self.revoke_replaced(user_id, self.store(user_id, new))
            return await self._refresh_locked(user_id, stale_version, unlink_on_dead, leeway)
        if not committed:  # the lease ran out and another refresh won: X has revoked our pair
            log.error("token.refresh_lost_race", user_id=user_id)
            return Refresh.DEAD, None
        log.debug("token.refreshed", user_id=user_id)
        return Refresh.OK, Access(new.access_token, leased.version + 1)

    async def _replaced(self, user_id: int, version: int) -> bool:
        """Whether the pair of `version` was replaced (a reconnect stored a new one, or the person
        unlinked) while it was being refreshed: a refusal or a lost compare-and-swap is then about
        the old pair, and what is stored now stands; the caller goes round again with it."""
        row = await xaccounts.load_tokens(self.deps.db, user_id)
        return row is None or row.version != version

    # -- unlinking ------------------------------------------------------------------------------
    async def mark_dead(
        self,
        user_id: int,
        *,
        text_user: bool = True,
        reason: str = "rejected",
        version: int | None = None,
        answering: str | None = None,
    ) -> Reply | None:
        """X rejected the refresh token, or the stored token does not decrypt for this user
        (`reason="unreadable"`): delete the tokens, mark the user for relinking, and give them one
        fresh link (only the first time for this grant). With `text_user` the link is queued as an
        SMS here; without, it is returned for the caller to answer the text from `answering` with
        (the link's address, as `link_reply`'s), saying that text was not posted. `version`: only when the
        stored pair is still that one (the refresh timer marks its batch's dead after the whole
        batch went through X: a person who reconnected, or unlinked, meanwhile keeps what they
        did, and is not told their connection stopped)."""
        now = self.deps.now()
        reply: Reply | None = None
        async with self.deps.db.tx() as conn:
            if version is not None:
                row = await xaccounts.load_tokens(in_tx(conn), user_id)
                if row is None or row.version != version:
                    log.info("token.dead_replaced", user_id=user_id)
                    return None
            await xaccounts.unlink_account(conn, user_id, needs_relink=True)
            first = await xaccounts.mark_relink_notified(conn, user_id, now)
            phone = await pairing.notice_address(conn, user_id)  # one they still read
            if first and phone:
                token = await xaccounts.create_link(
                    conn, user_id, now, address=phone if text_user or answering is None else answering
                )
                reply = relink_reply(self.deps, token, not_posted=not text_user)
                if text_user:
                    await outbox.enqueue(
                        conn,
                        to=phone,
                        body=reply.text,
                        redact=True,
                        dedupe_key=f"relink:{user_id}:{int(now)}",
                        kind="relink",
                        now=now,
                    )
        log.warning("token.dead", user_id=user_id, notified=first, reason=reason)
        self.deps.metrics.x_errors_by["refresh_dead"].inc()
        if text_user:
            if reply is not None:
                self.deps.wake_sender()
            return None
        return reply

    async def revoke_replaced(self, user_id: int, ciphertext: str) -> None:
        """A reconnect committed a new pair over `ciphertext` (or a connection that did not complete
        keeps none): revoke that grant at X (nothing here can reach it any more), through the
        queue, so X down retries it later. A revocation X does not take is logged; the new link
        stands."""
        async with self.deps.db.tx() as conn:
            pending = await self.queue_revocation(conn, user_id, ciphertext)
        if pending is not None:
            await self.attempt_revocation(pending)

    async def revoke_and_delete(self, user_id: int) -> bool:
        """`\\UNLINK` and `\\STOP`: revoke the refresh token at X (ends the grant), delete both.
        The token moves to the revocation queue in the transaction that deletes the pair, then X is
        asked at once; when X cannot be reached (or answers 5xx or 429) the x-revoke job asks again
        with backoff, so the grant ends even though nothing is stored here any more."""
        async with self.deps.db.tx() as conn:
            row = await xaccounts.load_tokens(in_tx(conn), user_id)
            pending = None if row is None else await self.queue_revocation(conn, user_id, row.ciphertext)
            await xaccounts.unlink_account(conn, user_id, needs_relink=False)
        if pending is not None:
            await self.attempt_revocation(pending)
        return row is not None

    async def queue_revocation(
        self, conn: AsyncConnection, user_id: int, ciphertext: str
    ) -> xaccounts.Revocation | None:
        """The pair's refresh token, re-encrypted alone, queued for revocation (claimed by the
        caller for REVOKE_CLAIM seconds). None when no key reads the pair: nothing to revoke."""
        alone = refresh_token_alone(self.cipher, user_id, ciphertext)
        if alone is None:
            return None
        now = self.deps.now()
        return await xaccounts.queue_revocation(
            conn, user_id=user_id, ciphertext=alone, now=now, claim_until=now + REVOKE_CLAIM
        )

    async def attempt_revocation(self, pending: xaccounts.Revocation) -> bool:
        """Ask X to revoke a queued token (claimed by the caller). True when it is done: X took it,
        or said it is not valid (400: already ended); the record is then deleted. X down, busy or
        refusing our client: the record waits, with backoff, until REVOKE_FOR has passed since it
        was queued (then `token.revoke_abandoned`)."""
        user_id = pending.user_id
        try:
            refresh_token = self.cipher.decrypt(user_id, pending.ciphertext)["refresh_token"]
            await self.client.revoke(refresh_token)
        except XAuthRejected:
            pass  # not valid at X any more (400): the grant has ended
        except (CipherError, KeyError) as exc:  # no key reads it any more: nobody ever could
            log.error("token.revoke_abandoned", user_id=user_id, error=type(exc).__name__)
            async with self.deps.db.tx() as conn:
                await xaccounts.drop_revocation(conn, pending.id)
            return False
        except XError as exc:
            now = self.deps.now()
            if now - pending.created_at >= REVOKE_FOR:
                log.error(
                    "token.revoke_abandoned",
                    user_id=user_id,
                    error=type(exc).__name__,
                    attempts=pending.attempts + 1,
                    detail="X did not take the revocation in time: the person can remove textwire at x.com",
                )
                async with self.deps.db.tx() as conn:
                    await xaccounts.drop_revocation(conn, pending.id)
                return False
            at = now + min(REVOKE_BACKOFF * 2**pending.attempts, REVOKE_BACKOFF_MAX)
            if isinstance(exc, XRateLimited):
                at = max(at, exc.reset_at)
                self.revoke_limited_until = max(self.revoke_limited_until, exc.reset_at)
            async with self.deps.db.tx() as conn:
                await xaccounts.retry_revocation(conn, pending.id, at=at)
            log.warning(
                "token.revoke_failed",
                user_id=user_id,
                error=type(exc).__name__,
                attempts=pending.attempts + 1,
                retry_in=round(at - now),
            )
            return False
        async with self.deps.db.tx() as conn:
            await xaccounts.drop_revocation(conn, pending.id)
        log.info("token.revoked", user_id=user_id, attempts=pending.attempts + 1)
        return True


def refresh_token_alone(cipher: TokenCipher, user_id: int, ciphertext: str) -> str | None:
    """A stored pair's refresh token alone, encrypted for `x_revocations` (the access token is no
    use there); None, with a warning, when no configured key reads the pair: nothing to revoke."""
    try:
        refresh_token = cipher.decrypt(user_id, ciphertext)["refresh_token"]
    except (CipherError, KeyError) as exc:
        log.warning("token.revoke_failed", user_id=user_id, error=type(exc).__name__)
        return None
    return cipher.encrypt(user_id, {"refresh_token": refresh_token})


async def revoke_grant(client: XClient, cipher: TokenCipher, user_id: int, ciphertext: str) -> bool:
    """Revoke the user's refresh token at X, which ends the grant; False (and a warning) when X
    did not take it or no key reads the row. The stored tokens are the caller's to delete."""
    try:
        tokens = cipher.decrypt(user_id, ciphertext)
        await client.revoke(tokens["refresh_token"])
    except XAuthRejected:  # not valid at X any more: the grant has ended
        return True
    except (XError, CipherError) as exc:
        log.warning("token.revoke_failed", user_id=user_id, error=type(exc).__name__)
        return False
    return True


def x_accounts(deps: Deps) -> XAccounts | None:
    """The X service, or None when posting to X is not configured (`x.client_id` empty)."""
    return deps.services.x
