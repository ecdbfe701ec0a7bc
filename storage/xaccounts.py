"""X accounts: one-time link tokens, OAuth browser sessions, encrypted tokens, post intents.

Secrets are stored only as SHA-256 (link tokens, session cookies, OAuth state) or encrypted
(tokens, PKCE verifier; storage/crypto.py). Consuming a link or a session is one conditional
UPDATE: it succeeds once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import delete_some, insert_ignoring, upsert
from storage.lean import Query, Reads, Writer, in_tx
from storage.schema import addresses, link_tokens, oauth_sessions, posts, users, x_revocations, x_tokens

LINK_TTL = 600.0  # 10 minutes
SESSION_TTL = 600.0


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_link_token() -> str:
    """128 random bits, URL-safe (22 characters): unguessable, and the SMS stays one segment."""
    return secrets.token_urlsafe(16)


# -- one-time links -----------------------------------------------------------------------------


async def create_link(conn: AsyncConnection, user_id: int, now: float, *, address: str | None = None) -> str:
    """A fresh link token for the user; the earlier unused ones die (SPEC, Clarifications: `\\LINK`
    always gives a fresh, working link and the previous one dies): a link lost in a delayed or
    superseded SMS, or forwarded, cannot be used after a newer one was asked for. `address`: the
    one it is texted to (the confirm page names it; "Connected @handle" goes back there)."""
    await conn.execute(
        sa.update(link_tokens)
        .where(
            link_tokens.c.user_id == user_id, link_tokens.c.used_at.is_(None), link_tokens.c.expires_at > now
        )
        .values(expires_at=now)
    )
    token = new_link_token()
    await conn.execute(
        sa.insert(link_tokens).values(
            token_hash=digest(token),
            user_id=user_id,
            created_at=now,
            expires_at=now + LINK_TTL,
            address=address,
        )
    )
    return token


async def end_links_to(conn: AsyncConnection, user_id: int, address: str, now: float) -> None:
    """The person's links texted to `address`, and sign-ins begun from them, die: the address
    left them (`\\STOP` from one of several), and whoever holds it now connected their own X
    account to the person through a link still in its messages."""
    for table in (link_tokens, oauth_sessions):
        await conn.execute(
            sa.update(table)
            .where(
                table.c.user_id == user_id,
                table.c.address == address,
                table.c.used_at.is_(None),
                table.c.expires_at > now,
            )
            .values(expires_at=now)
        )


@dataclass(frozen=True)
class LinkState:
    user_id: int
    phone: str
    status: str  # "ok", "used", "expired"


async def peek_link(conn: AsyncConnection, token: str, now: float) -> LinkState | None:
    """The link's owner and state, without consuming it (the confirm page). `phone`: the address
    the link was texted to while it is still the owner's, else their first."""
    row = (
        await conn.execute(
            sa.select(
                link_tokens.c.user_id,
                link_tokens.c.expires_at,
                link_tokens.c.used_at,
                sa.func.coalesce(addresses.c.address, users.c.phone).label("phone"),
            )
            .join(users, users.c.id == link_tokens.c.user_id)
            .outerjoin(
                addresses,
                sa.and_(
                    addresses.c.address == link_tokens.c.address, addresses.c.user_id == link_tokens.c.user_id
                ),
            )
            .where(link_tokens.c.token_hash == digest(token))
        )
    ).first()
    if row is None:
        return None
    status = "used" if row.used_at is not None else "expired" if row.expires_at <= now else "ok"
    return LinkState(user_id=row.user_id, phone=row.phone, status=status)


async def consume_link(conn: AsyncConnection, token: str, now: float) -> tuple[int, str | None] | None:
    """Use the link once; (the user id, the address it was texted to, if known), or None when
    unknown, used or expired."""
    token_hash = digest(token)
    result = await conn.execute(
        sa.update(link_tokens)
        .where(
            link_tokens.c.token_hash == token_hash,
            link_tokens.c.used_at.is_(None),
            link_tokens.c.expires_at > now,
        )
        .values(used_at=now)
    )
    if result.rowcount != 1:
        return None
    row = (
        await conn.execute(
            sa.select(link_tokens.c.user_id, link_tokens.c.address).where(
                link_tokens.c.token_hash == token_hash
            )
        )
    ).first()
    return (int(row.user_id), row.address) if row is not None else None


# -- OAuth browser sessions -----------------------------------------------------------------------


async def create_session(
    conn: AsyncConnection,
    *,
    user_id: int,
    state: str,
    verifier_ciphertext: str,
    now: float,
    address: str | None = None,
) -> str:
    """A session bound to the browser by a cookie; returns the cookie value."""
    cookie = new_secret()
    await conn.execute(
        sa.insert(oauth_sessions).values(
            session_hash=digest(cookie),
            user_id=user_id,
            state_hash=digest(state),
            verifier_ciphertext=verifier_ciphertext,
            created_at=now,
            expires_at=now + SESSION_TTL,
            address=address,
        )
    )
    return cookie


async def consume_session(
    conn: AsyncConnection, *, cookie: str, state: str, now: float
) -> tuple[int, str, str | None] | None:
    """(user id, verifier ciphertext, the link's address if known) when the cookie's session
    matches `state`, once."""
    session_hash = digest(cookie)
    result = await conn.execute(
        sa.update(oauth_sessions)
        .where(
            oauth_sessions.c.session_hash == session_hash,
            oauth_sessions.c.state_hash == digest(state),
            oauth_sessions.c.used_at.is_(None),
            oauth_sessions.c.expires_at > now,
        )
        .values(used_at=now)
    )
    if result.rowcount != 1:
        return None
    row = (
        await conn.execute(
            sa.select(
                oauth_sessions.c.user_id, oauth_sessions.c.verifier_ciphertext, oauth_sessions.c.address
            ).where(oauth_sessions.c.session_hash == session_hash)
        )
    ).one()
    return int(row.user_id), str(row.verifier_ciphertext), row.address


async def close_session(conn: AsyncConnection, cookie: str, state: str, now: float) -> int | None:
    """A denied callback spends the session, when it carries the session's `state` (X sends it
    back with an error too, RFC 6749 4.1.2.1): an error link from anywhere else (the cookie is
    SameSite=Lax, so any site's link brings it) must not end a sign-in under way. The session's
    user id when it did (None when it did not)."""
    row = (
        await conn.execute(
            sa.update(oauth_sessions)
            .where(
                oauth_sessions.c.session_hash == digest(cookie),
                oauth_sessions.c.state_hash == digest(state),
                oauth_sessions.c.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(oauth_sessions.c.user_id)
        )
    ).first()
    return None if row is None else int(row.user_id)


async def linked_handle(conn: AsyncConnection, user_id: int) -> str | None:
    """The X account the user's texts are posted to now (None when they are not connected)."""
    row = (
        await conn.execute(
            sa.select(users.c.x_handle).where(
                users.c.id == user_id,
                users.c.x_user_id.is_not(None),
                users.c.x_needs_relink.is_(False),
            )
        )
    ).first()
    return None if row is None or row.x_handle is None else str(row.x_handle)


# -- tokens ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    user_id: int
    ciphertext: str
    expires_at: float
    version: int


async def save_tokens(
    conn: AsyncConnection, *, user_id: int, ciphertext: str, expires_at: float, now: float
) -> None:
    """Store a new pair (a link or re-link) in one statement (an upsert: two saves at once never
    collide on the key). The version moves on and any lease is dropped, so a refresh that was in
    flight for the old pair cannot overwrite this one (its compare-and-swap fails)."""
    stmt = upsert(conn, x_tokens).values(
        user_id=user_id, ciphertext=ciphertext, expires_at=expires_at, version=1, updated_at=now
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[x_tokens.c.user_id],
            set_={
                "ciphertext": stmt.excluded.ciphertext,
                "expires_at": stmt.excluded.expires_at,
                "version": x_tokens.c.version + 1,
                "lease_owner": None,
                "lease_until": None,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


async def replace_tokens(
    conn: AsyncConnection, *, user_id: int, ciphertext: str, expires_at: float, now: float
) -> str | None:
    """`save_tokens` for a (re)link, returning the ciphertext of the pair it replaced (None when
    there was none), whose grant the caller revokes at X once this commits. The user's row is
    locked first, so two callbacks of one user at once (PostgreSQL) take turns: each replaces, and
    hands back, what the other committed."""
    await conn.execute(sa.select(users.c.id).where(users.c.id == user_id).with_for_update())
    old = (await conn.execute(sa.select(x_tokens.c.ciphertext).where(x_tokens.c.user_id == user_id))).scalar()
    await save_tokens(conn, user_id=user_id, ciphertext=ciphertext, expires_at=expires_at, now=now)
    return str(old) if old is not None else None


_TOKENS = Query(sa.select(x_tokens).where(x_tokens.c.user_id == sa.bindparam("user_id")))


async def load_tokens(reads: Reads, user_id: int) -> TokenRow | None:
    """`reads`: the Database (one statement on its own) or `lean.in_tx(conn)`."""
    found = await reads.fetch(_TOKENS, {"user_id": user_id})
    if not found:
        return None
    row = found[0]
    return TokenRow(
        user_id=row.user_id, ciphertext=row.ciphertext, expires_at=row.expires_at, version=row.version
    )


async def take_lease(
    conn: AsyncConnection,
    *,
    user_id: int,
    owner: str,
    now: float,
    seconds: float = 60.0,
    version: int | None = None,
) -> TokenRow | None:
    """Lease the user's token row for a refresh (across processes). None when another holds it,
    or (`version`) when the row is no longer the version the caller found stale: on PostgreSQL
    another process may have refreshed it and let the lease go between the caller's read and
    this statement, which then sees the new row."""
    result = await conn.execute(
        sa.update(x_tokens)
        .where(
            x_tokens.c.user_id == user_id,
            sa.or_(x_tokens.c.lease_until.is_(None), x_tokens.c.lease_until < now),
            x_tokens.c.version == version if version is not None else sa.true(),
        )
        .values(lease_owner=owner, lease_until=now + seconds)
    )
    if result.rowcount != 1:
        return None
    return await load_tokens(in_tx(conn), user_id)


async def finish_refresh(
    conn: AsyncConnection,
    *,
    user_id: int,
    owner: str,
    version: int,
    ciphertext: str,
    expires_at: float,
    now: float,
) -> bool:
    """Commit the new pair if this owner still holds the lease on `version` (compare-and-swap)."""
    result = await conn.execute(
        sa.update(x_tokens)
        .where(x_tokens.c.user_id == user_id, x_tokens.c.lease_owner == owner, x_tokens.c.version == version)
        .values(
            ciphertext=ciphertext,
            expires_at=expires_at,
            version=version + 1,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )
    )
    return result.rowcount == 1


async def release_lease(conn: AsyncConnection, *, user_id: int, owner: str) -> None:
    await conn.execute(
        sa.update(x_tokens)
        .where(x_tokens.c.user_id == user_id, x_tokens.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


async def expiring(
    conn: AsyncConnection, *, before: float, limit: int, after: tuple[float, int] | None = None
) -> list[tuple[float, int, int]]:
    """(expires_at, user_id, version) of tokens expiring before `before`, soonest first; `after`
    (an earlier row's expires_at and user_id) pages on (keyset: rows refreshed meanwhile drop
    out, rows that failed are not seen twice in a tick)."""
    query = sa.select(x_tokens.c.expires_at, x_tokens.c.user_id, x_tokens.c.version).where(
        x_tokens.c.expires_at < before
    )
    if after is not None:
        query = query.where(sa.tuple_(x_tokens.c.expires_at, x_tokens.c.user_id) > sa.tuple_(*after))
    rows = await conn.execute(query.order_by(x_tokens.c.expires_at, x_tokens.c.user_id).limit(limit))
    return [(float(r.expires_at), int(r.user_id), int(r.version)) for r in rows]


async def link_account(conn: AsyncConnection, *, user_id: int, x_user_id: str, handle: str) -> None:
    await conn.execute(
        sa.update(users)
        .where(users.c.id == user_id)
        .values(x_user_id=x_user_id, x_handle=handle, x_needs_relink=False, x_relink_notified_at=None)
    )


async def unlink_account(conn: AsyncConnection, user_id: int, *, needs_relink: bool) -> None:
    """Delete the tokens; `needs_relink` marks a dead grant (the user is told once)."""
    await conn.execute(sa.delete(x_tokens).where(x_tokens.c.user_id == user_id))
    values: dict[str, object] = {"x_needs_relink": needs_relink}
    if not needs_relink:
        values.update(x_user_id=None, x_handle=None, x_relink_notified_at=None)
    await conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))


async def mark_relink_notified(conn: AsyncConnection, user_id: int, now: float) -> bool:
    """True the first time only: one relink SMS per dead grant."""
    result = await conn.execute(
        sa.update(users)
        .where(users.c.id == user_id, users.c.x_relink_notified_at.is_(None))
        .values(x_relink_notified_at=now)
    )
    return result.rowcount == 1


# -- revocations X has not taken yet --------------------------------------------------------------


@dataclass(frozen=True)
class Revocation:
    id: int
    user_id: int
    ciphertext: str  # {"uid", "refresh_token"}
    attempts: int
    created_at: float


async def queue_revocation(
    conn: AsyncConnection, *, user_id: int, ciphertext: str, now: float, claim_until: float
) -> Revocation:
    """Record a refresh token to revoke at X, in the transaction that deletes or replaces its pair
    (the intent before the call). It is claimed until `claim_until` by the caller, who tries at
    once; after that the x-revoke job may."""
    result = await conn.execute(
        sa.insert(x_revocations)
        .values(
            user_id=user_id, ciphertext=ciphertext, attempts=0, next_attempt_at=claim_until, created_at=now
        )
        .returning(x_revocations.c.id)
    )
    return Revocation(
        id=int(result.scalar_one()), user_id=user_id, ciphertext=ciphertext, attempts=0, created_at=now
    )


async def claim_revocations(
    conn: AsyncConnection, *, now: float, until: float, limit: int
) -> list[Revocation]:
    """Up to `limit` due revocations, each claimed until `until` by a conditional UPDATE (another
    process that read the same row loses it; a claimer that dies lets it come due again)."""
    rows = (
        await conn.execute(
            sa.select(x_revocations)
            .where(x_revocations.c.next_attempt_at <= now)
            .order_by(x_revocations.c.next_attempt_at, x_revocations.c.id)
            .limit(limit)
        )
    ).all()
    claimed = []
    for row in rows:
        result = await conn.execute(
            sa.update(x_revocations)
            .where(x_revocations.c.id == row.id, x_revocations.c.next_attempt_at == row.next_attempt_at)
            .values(next_attempt_at=until)
        )
        if result.rowcount == 1:
            claimed.append(
                Revocation(
                    id=row.id,
                    user_id=row.user_id,
                    ciphertext=row.ciphertext,
                    attempts=row.attempts,
                    created_at=row.created_at,
                )
            )
    return claimed


async def retry_revocation(conn: AsyncConnection, revocation_id: int, *, at: float) -> None:
    await conn.execute(
        sa.update(x_revocations)
        .where(x_revocations.c.id == revocation_id)
        .values(attempts=x_revocations.c.attempts + 1, next_attempt_at=at)
    )


async def postpone_revocations(conn: AsyncConnection, revocation_ids: list[int], *, at: float) -> None:
    """Claimed revocations not asked (X said 429 to another): due again at `at`, no attempt counted."""
    await conn.execute(
        sa.update(x_revocations).where(x_revocations.c.id.in_(revocation_ids)).values(next_attempt_at=at)
    )


async def drop_revocation(conn: AsyncConnection, revocation_id: int) -> None:
    await conn.execute(sa.delete(x_revocations).where(x_revocations.c.id == revocation_id))


# -- post intents (at most once per inbound message) ----------------------------------------------


# A plain text's post to X: its statements built once (every plain text of a linked user runs them).
_POST_STATE = Query(sa.select(posts.c.state).where(posts.c.message_sid == sa.bindparam("sid")))
_END_POST = Query(
    sa.update(posts)
    .where(posts.c.message_sid == sa.bindparam("sid"))
    .values(
        state=sa.bindparam("b_state"),
        tweet_id=sa.bindparam("b_tweet_id", type_=sa.String),
        error=sa.bindparam("b_error", type_=sa.Text),
        updated_at=sa.bindparam("b_now"),
    )
)


async def begin_post(conn: Writer, *, message_sid: str, user_id: int, now: float) -> str | None:
    """Record the intent. None when new; else the earlier attempt's state."""
    inserted = await conn.execute(
        insert_ignoring(conn, posts),
        {
            "message_sid": message_sid,
            "user_id": user_id,
            "state": "attempting",
            "created_at": now,
            "updated_at": now,
        },
    )
    if inserted.rowcount == 1:
        return None
    existing = (await conn.execute(_POST_STATE, {"sid": message_sid})).scalar()
    return str(existing) if existing is not None else "attempting"  # forgotten meanwhile: not ours


async def end_post(
    conn: Writer,
    *,
    message_sid: str,
    state: str,
    now: float,
    tweet_id: str | None = None,
    error: str | None = None,
) -> None:
    await conn.execute(
        _END_POST,
        {"sid": message_sid, "b_state": state, "b_tweet_id": tweet_id, "b_error": error, "b_now": now},
    )


async def forget_post(conn: AsyncConnection, message_sid: str) -> None:
    """The request surely never reached X (or was rate limited): a later try may post."""
    await conn.execute(sa.delete(posts).where(posts.c.message_sid == message_sid))


async def post_of(conn: AsyncConnection, message_sid: str) -> tuple[str, str | None] | None:
    row = (
        await conn.execute(
            sa.select(posts.c.state, posts.c.tweet_id).where(posts.c.message_sid == message_sid)
        )
    ).first()
    return (str(row.state), row.tweet_id) if row else None


async def purge(conn: AsyncConnection, *, now: float) -> int:
    """Expired links and browser sessions (a day after expiry: the 410 page still says "used or
    expired" meanwhile)."""
    count = 0
    for table, column in (
        (link_tokens, link_tokens.c.expires_at),
        (oauth_sessions, oauth_sessions.c.expires_at),
    ):
        result = await conn.execute(sa.delete(table).where(column < now - 86400))
        count += result.rowcount
    return count


async def purge_posts(conn: AsyncConnection, *, before: float, limit: int) -> int:
    """Up to `limit` post intents older than `before` (as old as the inbox rows they guard)."""
    return await delete_some(conn, posts, posts.c.created_at < before, limit=limit)
