"""Signed links: HMAC-SHA256 over (purpose, subject, expiry), for the receipt gallery and the
monthly statements (1 hour), the gallery's thumbnails (as long as the page showing them), and the
local media backend's files (a few minutes).

The key is derived with HKDF from each configured Fernet key (the first signs, any verifies, so a
key rotation does not break links in flight), or, with no keys configured, generated once into
`{data_dir}/link-signing.key` (0600).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.core.config import Config
from bot.core.deps import Deps
from bot.core.devmode import write_secret_file
from bot.core.logs import get_logger

log = get_logger(__name__)

GALLERY_SECONDS = 3600
MEDIA_LINK_SECONDS = 300
STATEMENT_SECONDS = 3600
KEY_FILE = "link-signing.key"
_HKDF_INFO = b"textwire signed links v1"


class LinkSigner:
    """HMAC-SHA256 links: the first key signs, any key verifies."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key")
        self.keys = keys

    @staticmethod
    def _mac(key: bytes, purpose: str, subject: str, exp: int) -> str:
        digest = hmac.new(key, f"{purpose}\n{subject}\n{exp}".encode(), hashlib.sha256).digest()
        # truncated to 128 bits: as strong as a link needs, and the SMS stays one segment
        return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")

    def sign(self, purpose: str, subject: str, exp: int) -> str:
        return self._mac(self.keys[0], purpose, subject, exp)

    def tags(self, address: str) -> list[str]:
        """The address's keyed tags, one a key (the first key's first): what a former member's row
        keeps of the address it left from (storage/ledger.py, keep_former), so `textwire person
        delete` can find what they left in their rooms. 48 bits of HMAC, hex: no use without the
        key, and no LIKE wildcard in it."""
        return [former_tag(key, address) for key in self.keys]

    def check(self, purpose: str, subject: str, exp: str, sig: str, *, now: float, max_age: int) -> str:
        """ "ok", "expired" or "invalid"."""
        # a non-ASCII sig is none of ours, and compare_digest refuses it (a TypeError, so a 500)
        if (
            not (exp.isascii() and exp.isdigit())
            or len(exp) > 12
            or not sig.isascii()
            or not 0 < len(sig) <= 100
        ):
            return "invalid"
        expires = int(exp)
        valid = False
        for key in self.keys:
            valid |= hmac.compare_digest(self._mac(key, purpose, subject, expires), sig)
        if not valid:
            return "invalid"
        if expires < now or expires > now + max_age + 60:
            return "expired"
        return "ok"


def former_tag(key: bytes, address: str) -> str:
    return hmac.new(key, f"former member\n{address}".encode(), hashlib.sha256).hexdigest()[:12]


def _derive(fernet_key: str) -> bytes:
    raw = base64.urlsafe_b64decode(fernet_key.strip().encode("ascii"))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(raw)


def _load_keys(config: Config) -> list[bytes]:
    """`existing_keys`, after generating the key file when there are no Fernet keys and no file
    holding a key (write_secret_file replaces an empty one)."""
    if not config.security.fernet_keys:
        path: Path = config.data_dir / KEY_FILE
        if write_secret_file(path, secrets.token_urlsafe(32)):
            log.warning("links.key_generated", key_file=str(path))
    return existing_keys(config)


def existing_keys(config: Config) -> list[bytes]:
    """The keys as `_load_keys` reads them, without generating a key file (for the CLI)."""
    if config.security.fernet_keys:
        return [_derive(k) for k in config.security.fernet_keys]
    return _file_key(config)


def _file_key(config: Config) -> list[bytes]:
    path: Path = config.data_dir / KEY_FILE
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError:
        return []
    return [key.encode("ascii")] if key else []


def former_keys(config: Config) -> list[bytes]:
    """Blocking (a file). Every key a former member's tag (`former_tag`) may have been made with,
    for `textwire person` to find what someone who sent `\\STOP` left in their rooms: the
    configured keys, and `link-signing.key` while it is still in the data folder. A service that
    began on its generated keys and was then given TEXTWIRE_SECURITY_FERNET_KEYS (its old
    fernet.key among them, as the tokens need) tagged those who left before with that file's key,
    which it no longer read: their receipts were "no person", their photos beyond deleting."""
    keys = existing_keys(config)
    if config.security.fernet_keys:
        keys += [key for key in _file_key(config) if key not in keys]
    return keys


async def make_signer(config: Config) -> LinkSigner:
    return LinkSigner(await asyncio.to_thread(_load_keys, config))


def signer_of(deps: Deps) -> LinkSigner | None:
    return deps.services.link_signer


def gallery_link(deps: Deps, room_id: str) -> str | None:
    """The signed gallery link of a room, valid 1 hour (None when the gallery is not running)."""
    signer = signer_of(deps)
    if signer is None:
        return None
    exp = int(deps.now()) + GALLERY_SECONDS
    sig = signer.sign("gallery", room_id, exp)
    return f"{deps.config.public_base}/rooms/{room_id}/receipts?exp={exp}&sig={sig}"


def statement_link(deps: Deps, room_id: str, month: str) -> str | None:
    """The signed link to a room's statement of `month` ("2026-11"), valid 1 hour (None when the
    pages are not running). Its CSV and zip links are signed on the page, to the same expiry."""
    signer = signer_of(deps)
    if signer is None:
        return None
    exp = int(deps.now()) + STATEMENT_SECONDS
    return f"{deps.config.public_base}/rooms/{room_id}/statement/{statement_query(signer, room_id, month, 'html', exp)}"


def statement_query(signer: LinkSigner, room_id: str, month: str, fmt: str, exp: int) -> str:
    """`2026-11.csv?exp=...&sig=...`: one form of a month's statement (html, csv, zip), signed."""
    sig = signer.sign("statement", f"{room_id}/{month}/{fmt}", exp)
    suffix = "" if fmt == "html" else f".{fmt}"
    return f"{month}{suffix}?exp={exp}&sig={sig}"


def media_link(deps: Deps, signer: LinkSigner, key: str, expires: int) -> str:
    """A signed link to a file of the local media backend."""
    exp = int(deps.now()) + min(expires, MEDIA_LINK_SECONDS)
    sig = signer.sign("media", key, exp)
    return f"{deps.config.public_base}/media/{quote(key)}?exp={exp}&sig={sig}"


def thumb_link(deps: Deps, signer: LinkSigner, key: str, expires: int) -> str:
    """A signed link to the thumbnail of a stored photo (either backend), that ends when the
    gallery or statement page showing it does (`expires`, the page link's own `exp`, at most an hour away): a
    page shows its thumbnails as it is scrolled (`loading="lazy"`), minutes after it opened, and a
    reload of the same page asks for the same links, which the browser then has. A "media"
    signature does not open it, nor its signature a photo."""
    exp = min(int(expires), int(deps.now()) + GALLERY_SECONDS)
    sig = signer.sign("thumb", key, exp)
    return f"{deps.config.public_base}/thumbs/{quote(key)}?exp={exp}&sig={sig}"


__all__ = [
    "GALLERY_SECONDS",
    "MEDIA_LINK_SECONDS",
    "STATEMENT_SECONDS",
    "LinkSigner",
    "existing_keys",
    "former_keys",
    "former_tag",
    "gallery_link",
    "make_signer",
    "media_link",
    "signer_of",
    "statement_link",
    "statement_query",
    "thumb_link",
]
