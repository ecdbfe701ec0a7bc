"""Tokens at rest: MultiFernet, with the owner's user id inside the plaintext.

Keys come from `TEXTWIRE_SECURITY_FERNET_KEYS` (comma-separated, newest first) or, when that is
empty, from `{data_dir}/fernet.key` (generated once, mode 0600, with a warning). The newest key
encrypts; every key decrypts. The plaintext is JSON `{"uid": <user id>, ...}` and decryption checks
the id, so a ciphertext copied into another user's row is refused.

At start-up `verify_keys` decrypts a sample of stored rows: keys that read none of them (or only
a few: a missing key) stop the server before it touches anything (a wrong key would otherwise look
like every user's tokens being dead). A few unreadable rows among readable ones are single rows
gone bad (copied from another user, corrupt): they are returned, and their users asked to relink,
as is any row found unreadable later. `textwire keys rotate` re-encrypts every row under the
newest key; a row no configured key reads is left as it is and reported (its user is asked to
relink when it is used), so a few bad rows never stop a rotation.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.config import Config
from bot.core.devmode import write_secret_file
from storage.db import Database
from storage.schema import oauth_sessions, x_revocations, x_tokens

KEY_FILE = "fernet.key"
SAMPLE = 20  # rows checked at start-up
# Unreadable rows in the sample that are still single bad rows (relinked), not a missing key
# (start-up stops): never all of the sample, and at most a quarter of a sample of 4 or more.
BAD_ROW_SHARE = 0.25
BAD_ROW_MIN_SAMPLE = 4


class CipherError(Exception):
    """A ciphertext that no key reads, or that belongs to another user."""


class KeyMismatch(Exception):
    """The configured keys cannot read the stored tokens: start-up stops."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def load_keys(config: Config, *, create: bool = True) -> tuple[list[str], bool]:
    """(keys newest first, generated): from config, else the key file (created when missing,
    unless `create` is False: the CLI's commands read the service's keys, and one run without
    them, that then stopped, left a new random key, and the data folder made for it)."""
    if config.security.fernet_keys:
        keys = list(config.security.fernet_keys)
        generated = False
    else:
        path = config.data_dir / KEY_FILE
        generated = write_secret_file(path, generate_key()) if create else False
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            if create:
                raise
            raise KeyMismatch(
                f"no Fernet key here: TEXTWIRE_SECURITY_FERNET_KEYS is empty and {path} cannot be"
                f" read ({exc.strerror or type(exc).__name__}): run it with the service's environment"
                " or server.data_dir"
            ) from None
        keys = [line.strip() for line in text.splitlines() if line.strip()]
        if not keys:
            raise KeyMismatch("no Fernet key: set TEXTWIRE_SECURITY_FERNET_KEYS or remove an empty key file")
        check_keys(keys, where=str(path))
        return keys, generated
    check_keys(keys)
    return keys, generated


CONFIGURED = "TEXTWIRE_SECURITY_FERNET_KEYS (security.fernet_keys)"
_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")  # what Fernet.generate_key() makes: 32 bytes, url-safe


def check_keys(keys: Sequence[str], where: str = CONFIGURED) -> None:
    """Raises KeyMismatch, naming the first key that is not a Fernet key and where it was set
    (`where`: the variable, or the key file). `serve` checks the configured ones before it opens
    the database: a key pasted wrong stopped start-up only after the embedded SQLite database had
    been migrated to the new release."""
    for n, key in enumerate(keys):
        try:
            Fernet(key)
            # base64 decoding skips what is not base64: "KEY1 KEY2", two keys without their comma,
            # was taken for KEY1 alone, and KEY2's tokens were unreadable
            valid = bool(_KEY.fullmatch(key))
        except (ValueError, TypeError):
            valid = False
        if not valid:
            # the key is never shown; what is wrong with it is, when it is one of the usual slips
            if any(c.isspace() for c in key.strip()):
                slip = f": keys are separated by commas, {CONFIGURED.split()[0]}=newest,older"
            elif "=" in key.rstrip("="):
                slip = ": write the key alone, not a name= in front of it"
            elif len(key) != 44:
                slip = f": it is {len(key)} characters, a key is 44"
            else:
                slip = ""
            raise KeyMismatch(
                f"{where}: Fernet key #{n + 1} is not a valid key (32 url-safe base64-encoded bytes,"
                f" 44 characters; `textwire keys generate` prints one){slip}"
            )


class TokenCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise KeyMismatch("no Fernet key")
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._newest = Fernet(keys[0])

    def encrypt(self, user_id: int, payload: dict[str, Any]) -> str:
        data = json.dumps({**payload, "uid": user_id}, separators=(",", ":")).encode("utf-8")
        return self._fernet.encrypt(data).decode("ascii")

    def decrypt(self, user_id: int, ciphertext: str) -> dict[str, Any]:
        try:
            data = json.loads(self._fernet.decrypt(ciphertext.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError):
            raise CipherError("no configured key reads this ciphertext") from None
        if not isinstance(data, dict) or data.pop("uid", None) != user_id:
            raise CipherError("ciphertext belongs to another user")
        return data

    def readable_by_newest(self, ciphertext: str) -> bool:
        try:
            self._newest.decrypt(ciphertext.encode("ascii"))
        except (InvalidToken, ValueError):  # ValueError: not ASCII (a row gone bad)
            return False
        return True

    def rotate(self, ciphertext: str) -> str:
        """The same plaintext under the newest key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, ValueError):
            raise CipherError("no configured key reads this ciphertext") from None


_TABLES = (  # each table's key, its ciphertext, and the user whose it is
    (x_tokens, x_tokens.c.user_id, x_tokens.c.ciphertext, x_tokens.c.user_id),
    (
        oauth_sessions,
        oauth_sessions.c.session_hash,
        oauth_sessions.c.verifier_ciphertext,
        oauth_sessions.c.user_id,
    ),
    (x_revocations, x_revocations.c.id, x_revocations.c.ciphertext, x_revocations.c.user_id),
)


async def _sample(conn: AsyncConnection) -> list[tuple[int, str]]:
    """Up to SAMPLE rows in user id order from a random point, wrapping around: by the primary
    key, so every start of every process does not read and sort the whole table (`ORDER BY
    random()`: 155 ms at a million linked users on SQLite)."""
    low, high = (  # each its own subquery: SQLite answers a lone min() or max() from the key's ends
        await conn.execute(
            sa.select(
                sa.select(sa.func.min(x_tokens.c.user_id)).scalar_subquery(),
                sa.select(sa.func.max(x_tokens.c.user_id)).scalar_subquery(),
            )
        )
    ).one()
    if low is None:
        return []
    start = int(low) + secrets.randbelow(int(high) - int(low) + 1)
    columns = sa.select(x_tokens.c.user_id, x_tokens.c.ciphertext).order_by(x_tokens.c.user_id)
    rows = list((await conn.execute(columns.where(x_tokens.c.user_id >= start).limit(SAMPLE))).all())
    if len(rows) < SAMPLE:
        wrapped = columns.where(x_tokens.c.user_id < start).limit(SAMPLE - len(rows))
        rows += (await conn.execute(wrapped)).all()
    return [(int(row.user_id), str(row.ciphertext)) for row in rows]


async def verify_keys(db: Database, cipher: TokenCipher) -> list[int]:
    """Raise KeyMismatch when the keys cannot read the stored tokens (checks a sample); else the
    users whose sampled row does not decrypt for them (a few bad rows: relink those users)."""
    async with db.read() as conn:
        rows = await _sample(conn)
    unreadable: list[int] = []
    for user_id, ciphertext in rows:
        try:
            cipher.decrypt(user_id, ciphertext)
        except CipherError:
            unreadable.append(user_id)
    too_many = len(rows) >= BAD_ROW_MIN_SAMPLE and len(unreadable) > BAD_ROW_SHARE * len(rows)
    if unreadable and (len(unreadable) == len(rows) or too_many):
        raise KeyMismatch(
            f"the configured Fernet keys cannot read {len(unreadable)} of {len(rows)} stored X tokens "
            "sampled: set TEXTWIRE_SECURITY_FERNET_KEYS to the keys they were written with (newest first)"
        )
    return unreadable


@dataclass
class Rotation:
    """What `rotate_all` did: rows re-encrypted, and the rows no configured key reads (left as
    they are), by the user whose they are (never their contents)."""

    changed: int = 0
    unreadable: int = 0
    unreadable_users: list[int] = field(default_factory=list)  # sorted, each once


async def rotate_all(db: Database, cipher: TokenCipher, *, batch: int = 500) -> Rotation:
    """Re-encrypt every stored ciphertext that a configured key reads under the newest key.

    Each row is rewritten only if it still holds the ciphertext read (a refresh meanwhile wins).
    A row that no key reads is skipped and counted: one bad row does not stop the others."""
    result = Rotation()
    users: set[int] = set()
    for table, key_col, ct_col, user_col in _TABLES:
        last: Any = None
        while True:
            query = sa.select(key_col, ct_col, user_col).order_by(key_col).limit(batch)
            if last is not None:
                query = query.where(key_col > last)
            async with db.read() as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                break
            last = rows[-1][0]
            updates = []
            for key, old, user_id in rows:
                if cipher.readable_by_newest(old):
                    continue
                try:
                    updates.append((key, old, cipher.rotate(old)))
                except CipherError:
                    result.unreadable += 1
                    users.add(int(user_id))
            if updates:
                async with db.tx() as conn:
                    for key, old, new in updates:
                        done = await conn.execute(
                            sa.update(table).where(key_col == key, ct_col == old).values({ct_col.name: new})
                        )
                        result.changed += done.rowcount
    result.unreadable_users = sorted(users)
    return result


__all__ = [
    "KEY_FILE",
    "CipherError",
    "KeyMismatch",
    "Rotation",
    "TokenCipher",
    "check_keys",
    "generate_key",
    "load_keys",
    "rotate_all",
    "verify_keys",
]
