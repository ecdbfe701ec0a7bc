"""MMS media at Twilio: where it may come from, its download (Basic auth, redirects to the CDN),
and deleting Twilio's copy once stored. The receipts feature judges and cleans the bytes.

- credentials (Basic `account_sid:auth_token`) go only to a URL under `twilio.api_base` and under
  this account's media path (`/2010-04-01/Accounts/{sid}/Messages/{MM}/Media/{ME}`); any other URL
  is refused without a request;
- redirects are followed by hand, at most `MAX_HOPS`, only to `twilio.media_hosts` (host or
  host:port) and without credentials;
- a connection error, timeout, 429 or 5xx is an outage (`MediaUnavailable`): the message is kept
  and retried; any other answer refuses that one item (`MediaRefused`, with a reason for the reply),
  a 404 as `not_yet`: Twilio may not have the item at its media host for a moment after the
  webhook, so the handler tries again for a while before it takes the 404 for an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import aiohttp
from yarl import URL

from bot.core.channel import (
    BAD_TYPE,
    FILE_NOT_SAVED,
    MediaRefused,
    MediaStream,
    MediaUnavailable,
    not_read,
    response_chunks,
)
from bot.core.config import TwilioConfig

MAX_HOPS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024
ALREADY_GONE = 404  # Twilio's answer to a DELETE of media it no longer has

# what the reply says about an item that was not saved, and its short form for a long reply
NOT_TWILIO = "it did not come from Twilio"
REDIRECTED = "its download was sent away from Twilio"
GONE = "Twilio could not give it to us"
SHORT = {NOT_TWILIO: "not from Twilio", REDIRECTED: "not from Twilio", GONE: "gone at Twilio"}
# what Twilio says a voice note, a video or a shared contact is (WhatsApp sends them all)
NO_RECEIPT_TYPES = ("audio/", "video/", "text/vcard", "text/x-vcard", "text/directory")
# and what such an item alone is answered, as Telegram's voice notes, videos and contacts are: a
# WhatsApp voice note or contact card was "Photo 1 was not saved: only photos ...", a photo never sent
NOT_READ_TYPES = {"audio/": "voice notes", "video/": "videos", "text/": "contacts"}
# a document of no kind a receipt is, as Twilio declares it (a Word file, a spreadsheet, a ZIP sent
# on WhatsApp): refused without a download, alone answered as a file, as Telegram's are. A WhatsApp
# Word file from a person in no room was told "this photo goes there", then "Photo 1 was not saved"
# once they made one. A PDF (`application/pdf`, or a client's `application/x-pdf`) and a file
# declared by no type of its own (octet-stream) are judged by their bytes as any photo.
JUDGED_DOCUMENTS = ("application/octet-stream",)
# a WhatsApp location (`Latitude`, `Longitude`, no Body, no media) as an item of its message, so
# that it is answered as a Telegram location is, not taken for a blank text (bot/channels/twilio/webhook.py)
LOCATION_REF = "twilio:location"
LOCATION_NOT_READ = not_read("locations")
# a WhatsApp sticker: Twilio declares it `image/webp`, a type it uses on WhatsApp for stickers only
# ("The image/webp MIME type is only used for WhatsApp stickers",
# https://www.twilio.com/docs/whatsapp/guidance-whatsapp-media-messages). The webhook, which knows
# the sender's channel, declares it so (`declared_on_whatsapp`): a WebP sent by MMS is a photo. A
# thumbs-up sticker was saved to the room as a receipt, shown to every member.
STICKER_TYPE = "image/webp; whatsapp=sticker"


def declared_on_whatsapp(content_type: str) -> str:
    """The declared type of a WhatsApp item as kept: a sticker's says it is one."""
    return STICKER_TYPE if content_type.split(";", 1)[0].strip().lower() == "image/webp" else content_type


def _location() -> MediaRefused:
    return MediaRefused(BAD_TYPE, "location", short="not a photo or PDF", alone=LOCATION_NOT_READ)


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
    return {"Authorization": aiohttp.encode_basic_auth(twilio.account_sid, twilio.auth_token)}


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


def _refused(reason: str, detail: str) -> MediaRefused:
    return MediaRefused(reason, detail, short=SHORT.get(reason, ""))


class TwilioMedia:
    """The `MediaSource` of the SMS channel: an MMS item's URL is its reference."""

    def __init__(self, http: aiohttp.ClientSession, twilio: TwilioConfig) -> None:
        self.http = http
        self.twilio = twilio

    def _timeout(self) -> aiohttp.ClientTimeout:
        seconds = self.twilio.timeout_seconds
        return aiohttp.ClientTimeout(total=max(60.0, seconds * 6), connect=seconds, sock_read=seconds)

    def owns(self, ref: str) -> bool:
        return ref == LOCATION_REF or is_twilio_media_url(self.twilio, ref)

    def refuses(self, ref: str, content_type: str) -> MediaRefused | None:
        """A voice note, a video, a contact card or a WhatsApp sticker, as Twilio declares it (its
        type is Twilio's own, from the file it took): none is a receipt, so it is refused without
        a download. Any other item is judged by its bytes (SPEC, Media), whatever type it claims."""
        if ref == LOCATION_REF:
            return _location()
        declared = content_type.split(";", 1)[0].strip().lower()
        if not self.owns(ref):
            return None
        if content_type == STICKER_TYPE:
            return MediaRefused(BAD_TYPE, "sticker", short="not a photo or PDF", alone=not_read("stickers"))
        if declared.startswith("application/") and "pdf" not in declared and declared not in JUDGED_DOCUMENTS:
            return MediaRefused(BAD_TYPE, declared, short="not a photo or PDF", alone=FILE_NOT_SAVED)
        if not declared.startswith(NO_RECEIPT_TYPES):
            return None
        what = next(name for prefix, name in NOT_READ_TYPES.items() if declared.startswith(prefix))
        return MediaRefused(BAD_TYPE, declared, short="not a photo or PDF", alone=not_read(what))

    @contextlib.asynccontextmanager
    async def open(self, ref: str) -> AsyncIterator[MediaStream]:
        """The item's body as it streams in; `MediaRefused` or `MediaUnavailable` otherwise."""
        if ref == LOCATION_REF:
            raise _location()
        if not self.owns(ref):
            raise _refused(NOT_TWILIO, "not under the Twilio API base and account")
        current = URL(ref)
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
                            raise _refused(REDIRECTED, "redirect to a host not in twilio.media_hosts")
                        current = target
                        headers = {}  # credentials go to the Twilio API only
                        continue
                    if resp.status == 429 or resp.status >= 500:
                        raise MediaUnavailable(f"HTTP {resp.status}")
                    if resp.status == 404:  # maybe not at the media host yet: tried again a while
                        raise MediaRefused(GONE, "HTTP 404", short=SHORT[GONE], not_yet=True)
                    if resp.status != 200:
                        raise _refused(GONE, f"HTTP {resp.status}")
                    yield MediaStream(length=resp.content_length, chunks=response_chunks(resp, CHUNK))
                    return
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise MediaUnavailable(type(exc).__name__) from None
        raise _refused(REDIRECTED, "too many redirects")

    async def release(self, ref: str) -> bool:
        """`DELETE {media url}.json`; True when it is gone (204, 200 or 404). Never raises."""
        if ref == LOCATION_REF:
            return True  # nothing of it is kept at Twilio
        return await self.delete_status(ref) in (200, 204, ALREADY_GONE)

    async def delete_status(self, ref: str) -> int | None:
        """`DELETE {media url}.json`: Twilio's answer (404: it was gone already), None when it did
        not answer or the URL is not this account's. Never raises."""
        if not self.owns(ref) or ref == LOCATION_REF:
            return None
        try:
            async with asyncio.timeout(self.twilio.timeout_seconds):
                async with self.http.delete(
                    ref + ".json", headers=twilio_auth(self.twilio), allow_redirects=False
                ) as resp:
                    return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None


__all__ = [
    "ALREADY_GONE",
    "GONE",
    "LOCATION_REF",
    "NOT_TWILIO",
    "REDIRECTED",
    "STICKER_TYPE",
    "TwilioMedia",
    "declared_on_whatsapp",
    "is_media_host",
    "is_twilio_media_url",
    "media_path_pattern",
    "twilio_auth",
]
