"""MMS media: fetched from Twilio in the worker, judged by its bytes, cleaned, then stored.

Fetching (never in the webhook):
- credentials (Basic `account_sid:auth_token`) go only to a URL under `twilio.api_base` and under
  this account's media path (`/2010-04-01/Accounts/{sid}/Messages/{MM}/Media/{ME}`); any other URL
  is refused without a request;
- redirects are followed by hand, at most `MAX_HOPS`, only to `twilio.media_hosts` (host or
  host:port) and without credentials;
- the body is streamed with a cap of `media.max_bytes` (a bigger Content-Length is refused before
  reading), and the type is judged by the first bytes, not by the claimed content type;
- a connection error, timeout, 429 or 5xx is an outage (`MediaUnavailable`): the message is kept
  and retried; any other answer refuses that one item (`Refused`, with a reason for the reply).

Cleaning: images are decoded in a thread, at most `media.decode_concurrency` at once, with the
pixel count checked against `media.max_pixels` before anything is decoded; orientation is applied,
then the image is re-encoded without EXIF, GPS, XMP or comments. HEIC/HEIF is stored as JPEG
(SPEC, Clarifications). PDF is stored as it came.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import re
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
import pillow_heif
from PIL import Image, ImageOps
from yarl import URL

from bot.channels.twilio.devmedia import media_twilio_config
from bot.channels.twilio.rest import basic_auth_header
from bot.core.config import MediaConfig, TwilioConfig
from bot.core.deps import Deps, Services
from bot.core.devmode import twilio_auth_token
from bot.core.logs import get_logger
from bot.gateway.links import media_link, signer_of
from storage import receipts
from storage.media import MediaStore, open_store

if TYPE_CHECKING:
    from bot.app.assembly import Starting

log = get_logger(__name__)

pillow_heif.register_heif_opener(thumbnails=False)
# a decompression bomb is an error here, never a warning on stderr (our explicit check refuses
# anything over media.max_pixels before Pillow's own limit applies)
warnings.simplefilter("error", Image.DecompressionBombWarning)

MAX_HOPS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024

# what the reply says about an item that was not saved
NOT_TWILIO = "it did not come from Twilio"
REDIRECTED = "its download was sent away from Twilio"
BAD_TYPE = "only photos (JPEG, PNG, GIF, WebP, HEIC) and PDF files are kept"
TOO_MANY_PIXELS = "the image has too many pixels"
BROKEN = "the file is damaged and could not be read"
GONE = "Twilio could not give it to us"


def too_big(max_bytes: int) -> str:
    mb = max_bytes / (1024 * 1024)
    return f"it is over {mb:.0f} MB" if mb >= 1 else f"it is over {max_bytes} bytes"


class Refused(Exception):
    """This item cannot be kept; `reason` goes into the reply."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class MediaUnavailable(Exception):
    """Twilio (or its CDN) is down or throttling: try the message again later."""


@dataclass(frozen=True)
class Prepared:
    data: bytes
    content_type: str
    ext: str
    kind: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


# -- where media may come from ---------------------------------------------------------------------

_ID = r"[A-Za-z0-9]{2,64}"


def media_path_pattern(twilio: TwilioConfig) -> re.Pattern[str] | None:
    if not twilio.account_sid:
        return None
    prefix = URL(twilio.api_base).path.rstrip("/")
    sid = re.escape(twilio.account_sid)
    return re.compile(rf"^{re.escape(prefix)}/2010-04-01/Accounts/{sid}/Messages/{_ID}/Media/{_ID}$")


def twilio_auth(twilio: TwilioConfig) -> dict[str, str]:
    """Basic auth for the account's own API paths (callers check the URL first)."""
    if not twilio.auth_token:
        return {}
    return {"Authorization": basic_auth_header(twilio.account_sid, twilio.auth_token)}


def is_twilio_media_url(twilio: TwilioConfig, url: str) -> bool:
    """Under the configured API base (same scheme, host and port) and this account's media path."""
    pattern = media_path_pattern(twilio)
    if pattern is None:
        return False
    try:
        target = URL(url)
        base = URL(twilio.api_base)
    except ValueError:
        return False
    if not target.is_absolute() or target.user or target.password or target.query_string or target.fragment:
        return False
    if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
        return False
    return target.raw_path == target.path and bool(pattern.match(target.path))


def is_media_host(twilio: TwilioConfig, target: URL) -> bool:
    """A redirect target on one of `twilio.media_hosts` (an entry with a port matches host:port,
    one without matches the host on its default port), over https (http only when the API base
    itself is http, as in local tests)."""
    allowed_schemes = {"https"} | ({"http"} if URL(twilio.api_base).scheme == "http" else set())
    if target.scheme not in allowed_schemes or not target.host or target.user or target.password:
        return False
    host = target.host.lower()
    for entry in twilio.media_hosts:
        entry = entry.strip().lower()
        if ":" in entry:
            if f"{host}:{target.port}" == entry:
                return True
        elif host == entry and target.is_default_port():
            return True
    return False


# -- judging by the bytes --------------------------------------------------------------------------

HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}
)


def sniff(head: bytes) -> str | None:
    """The kind of file by its first bytes: jpeg, png, gif, webp, heif, pdf, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "heif"
    if head.startswith(b"%PDF-"):
        return "pdf"
    return None


SNIFF_BYTES = 16

# kind -> (Pillow's format name to open with, format to save as, content type, extension)
_IMAGE_KINDS: dict[str, tuple[str, str, str, str]] = {
    "jpeg": ("JPEG", "JPEG", "image/jpeg", "jpg"),
    "heif": ("HEIF", "JPEG", "image/jpeg", "jpg"),
    "png": ("PNG", "PNG", "image/png", "png"),
    "gif": ("GIF", "GIF", "image/gif", "gif"),
    "webp": ("WEBP", "WEBP", "image/webp", "webp"),
}


# what a stored object's extension says it is (the gallery serves local files with it)
CONTENT_TYPES: dict[str, str] = {ext: ctype for _, _, ctype, ext in _IMAGE_KINDS.values()} | {
    "pdf": "application/pdf"
}


def reencode(data: bytes, kind: str, max_pixels: int) -> Prepared:
    """Decode (pixel count checked first), apply orientation, re-encode without metadata.
    Blocking: run it in a thread."""
    if kind == "pdf":
        return Prepared(data=data, content_type="application/pdf", ext="pdf", kind=kind)
    open_as, save_as, content_type, ext = _IMAGE_KINDS[kind]
    try:
        with Image.open(io.BytesIO(data), formats=[open_as]) as im:
            width, height = im.size
            if width <= 0 or height <= 0:
                raise Refused(BROKEN, "empty image")
            if width * height > max_pixels:
                raise Refused(TOO_MANY_PIXELS, f"{width}x{height}")
            if getattr(im, "n_frames", 1) > 1:
                im.seek(0)  # animations keep their first frame
            im.load()
            icc = im.info.get("icc_profile")
            clean = ImageOps.exif_transpose(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Refused(TOO_MANY_PIXELS, "pillow limit") from None
    except Refused:
        raise
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # UnidentifiedImageError is an OSError
        raise Refused(BROKEN, type(exc).__name__) from None
    # nothing of the original's metadata goes along: EXIF (and so GPS), XMP, comments
    clean.info = {}
    options: dict[str, object] = {}
    if save_as == "JPEG":
        if clean.mode not in ("RGB", "L", "CMYK"):
            clean = clean.convert("RGB")
        options = {"quality": 90}
    elif save_as == "WEBP":
        if clean.mode not in ("RGB", "RGBA"):
            clean = clean.convert("RGBA")
        options = {"quality": 90}
    elif save_as == "PNG" and clean.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        clean = clean.convert("RGBA")
    if icc and save_as in ("JPEG", "PNG", "WEBP"):
        options["icc_profile"] = icc  # colours, not metadata about the person
    out = io.BytesIO()
    clean.save(out, format=save_as, **options)
    return Prepared(data=out.getvalue(), content_type=content_type, ext=ext, kind=kind)


# -- fetching --------------------------------------------------------------------------------------


class MediaPipeline:
    """Fetch, judge and clean one item. One per app (the decode semaphore bounds memory)."""

    def __init__(self, http: aiohttp.ClientSession, twilio: TwilioConfig, media: MediaConfig) -> None:
        self.http = http
        self.twilio = twilio
        self.media = media
        self.decode_slots = asyncio.Semaphore(media.decode_concurrency)

    def _timeout(self) -> aiohttp.ClientTimeout:
        seconds = self.twilio.timeout_seconds
        return aiohttp.ClientTimeout(total=max(60.0, seconds * 6), connect=seconds, sock_read=seconds)

    async def fetch(self, url: str) -> tuple[bytes, str]:
        """The item's bytes and their kind; `Refused` or `MediaUnavailable` otherwise."""
        if not is_twilio_media_url(self.twilio, url):
            raise Refused(NOT_TWILIO, "not under the Twilio API base and account")
        current = URL(url)
        headers = twilio_auth(self.twilio)
        for _hop in range(MAX_HOPS + 1):
            try:
                async with self.http.get(
                    current, headers=headers, allow_redirects=False, timeout=self._timeout()
                ) as resp:
                    if resp.status in REDIRECTS:
                        location = resp.headers.get("Location", "")
                        target = current.join(URL(location)) if location else None
                        if target is None or not is_media_host(self.twilio, target):
                            raise Refused(REDIRECTED, "redirect to a host not in twilio.media_hosts")
                        current = target
                        headers = {}  # credentials go to the Twilio API only
                        continue
                    if resp.status == 429 or resp.status >= 500:
                        raise MediaUnavailable(f"HTTP {resp.status}")
                    if resp.status != 200:
                        raise Refused(GONE, f"HTTP {resp.status}")
                    return await self._read(resp)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise MediaUnavailable(type(exc).__name__) from None
        raise Refused(REDIRECTED, "too many redirects")

    async def _read(self, resp: aiohttp.ClientResponse) -> tuple[bytes, str]:
        limit = self.media.max_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise Refused(too_big(limit), f"content-length {resp.content_length}")
        buf = bytearray()
        kind: str | None = None
        async for chunk in resp.content.iter_chunked(CHUNK):
            buf.extend(chunk)
            if len(buf) > limit:
                raise Refused(too_big(limit), "stream over the limit")
            if kind is None and len(buf) >= SNIFF_BYTES:
                kind = sniff(bytes(buf[:SNIFF_BYTES]))
                if kind is None:
                    raise Refused(BAD_TYPE, "unknown magic bytes")
        if kind is None:
            kind = sniff(bytes(buf))
            if kind is None:
                raise Refused(BAD_TYPE, "unknown magic bytes")
        return bytes(buf), kind

    async def prepare(self, url: str) -> Prepared:
        data, kind = await self.fetch(url)
        if kind == "pdf":
            return reencode(data, kind, self.media.max_pixels)
        async with self.decode_slots:
            return await asyncio.to_thread(reencode, data, kind, self.media.max_pixels)


# -- deleting the copy at Twilio -------------------------------------------------------------------


async def delete_at_twilio(deps: Deps, url: str) -> bool:
    """`DELETE {media url}.json`; True when it is gone (204, 200 or 404). Never raises."""
    pipeline = pipeline_of(deps)
    twilio = pipeline.twilio if pipeline is not None else deps.config.twilio
    if not is_twilio_media_url(twilio, url):
        return False
    headers = twilio_auth(twilio)
    try:
        async with asyncio.timeout(twilio.timeout_seconds):
            async with deps.http.delete(url + ".json", headers=headers, allow_redirects=False) as resp:
                return resp.status in (200, 204, 404)
    except (aiohttp.ClientError, TimeoutError):
        return False


MAX_DELETE_ATTEMPTS = 50


async def delete_twilio_copies(
    deps: Deps, *, message_sid: str | None = None, before: float | None = None
) -> int:
    """Delete the Twilio copies of stored receipts (of one message, or older ones for the
    scheduler). A failure is logged and left for the next try; never fatal. Returns deletions."""
    async with deps.db.read() as conn:
        pending = await receipts.pending_twilio_deletes(conn, message_sid=message_sid, before=before)
    deleted = 0
    for item in pending:
        ok = await delete_at_twilio(deps, item.url)
        async with deps.db.tx() as conn:
            if ok:
                await receipts.mark_twilio_deleted(conn, item.id, deps.now())
            elif item.attempts + 1 >= MAX_DELETE_ATTEMPTS:
                await receipts.give_up_twilio_delete(conn, item.id)
            else:
                await receipts.mark_twilio_delete_failed(conn, item.id)
        if ok:
            deleted += 1
            log.info("media.deleted_at_twilio", receipt_id=item.id)
        elif item.attempts + 1 >= MAX_DELETE_ATTEMPTS:
            log.error("media.delete_gave_up", receipt_id=item.id, attempts=item.attempts + 1)
        else:
            log.warning("media.delete_failed", receipt_id=item.id, attempts=item.attempts + 1)
    return deleted


# -- the feature -----------------------------------------------------------------------------------


def pipeline_of(deps: Deps) -> MediaPipeline | None:
    return deps.services.media_pipeline


def store_of(deps: Deps) -> MediaStore | None:
    return deps.services.media_store


@contextlib.asynccontextmanager
async def lifespan(starting: Starting) -> AsyncIterator[Services]:
    """The media store (one S3 client for the app's life), the pipeline, `/readyz`'s check and the
    scheduler's clean-up jobs. Entered by the gallery feature's lifespan, after the link signer."""
    from bot.features.receipts import cleanup as media_jobs

    deps = starting.deps
    signer = signer_of(deps)

    def local_signer(key: str, expires: int) -> str:
        assert signer is not None, "the gallery feature starts first"
        return media_link(deps, signer, key, expires)

    async with contextlib.AsyncExitStack() as stack:
        store = await open_store(deps.config.media, deps.config.s3, stack, local_signer)
        dev_token, _ = await asyncio.to_thread(twilio_auth_token, deps.config)
        twilio = media_twilio_config(deps.config, dev_token)  # development: the server's stand-in
        pipeline = MediaPipeline(deps.http, twilio, deps.config.media)
        starting.ready_checks["media"] = store.ping
        media_jobs.register(starting.scheduler)
        log.info("media.ready", backend=store.name)
        yield dataclasses.replace(deps.services, media_store=store, media_pipeline=pipeline)


__all__ = [
    "MediaPipeline",
    "MediaUnavailable",
    "Prepared",
    "Refused",
    "delete_at_twilio",
    "delete_twilio_copies",
    "is_media_host",
    "is_twilio_media_url",
    "lifespan",
    "pipeline_of",
    "reencode",
    "sniff",
    "store_of",
]
