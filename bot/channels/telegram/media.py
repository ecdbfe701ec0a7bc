"""Photos and documents sent to the bot: `getFile` for the file's path, then
`GET {api_base}/file/bot<token>/<file_path>` (https://core.telegram.org/bots/api#getfile). The
receipts feature judges and cleans the bytes, with the same size caps and byte sniffing as MMS.

- a connection error, timeout, 429 or 5xx is an outage (`MediaUnavailable`): the message is
  kept and retried; a file Telegram will not give (gone, over the 20 MB a bot may download)
  refuses that one item (`MediaRefused`);
- nothing is deleted afterwards: a bot cannot delete a user's file at Telegram (releasing
  is done at once).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp

from bot.channels.telegram.api import TelegramApi, TelegramError
from bot.channels.telegram.updates import (
    EDITED,
    EDITED_CAPTION,
    KIND_PREFIX,
    MEDIA_PREFIX,
    NOT_READ,
    NOT_RECEIPTS,
)
from bot.core.channel import (
    BAD_TYPE,
    FILE_NOT_SAVED,
    MB,
    MediaRefused,
    MediaStream,
    MediaUnavailable,
    not_read,
    response_chunks,
)

CHUNK = 64 * 1024
GONE = "Telegram could not give it to us"
# what getFile answers for a file over the 20 MB a bot may download ("Bad Request: file is too
# big"), and what the reply says of it, as of an MMS item over its 5 MB
TOO_BIG_AT_TELEGRAM = "file is too big"
DOWNLOAD_LIMIT = 20 * MB
TOO_BIG = f"it is over {DOWNLOAD_LIMIT // MB} MB"
# what a message that is no file at all is called in its answer (bot/channels/telegram/updates.py)
NOT_READ_NAMES = {
    "sticker": "stickers",
    "venue": "locations",
    "location": "locations",
    "contact": "contacts",
    "poll": "polls",
    "dice": "dice",
    "game": "games",
    "story": "stories",
}
assert set(NOT_READ_NAMES) == set(NOT_READ)
# and a voice note, a video, ... alone: "Photo 1 was not saved" was about a photo never sent
NOT_RECEIPT_NAMES = {
    "voice": "voice notes",
    "audio": "audio files",
    "video": "videos",
    "video_note": "videos",
    "animation": "GIFs",
}
assert set(NOT_RECEIPT_NAMES) == set(NOT_RECEIPTS)


def not_read_kind(kind: str) -> str:
    """The answer to a message that is only a sticker, a location, ...: what textwire takes."""
    return not_read(NOT_READ_NAMES.get(kind, "those"))


# the answer to an edited message (bot/channels/telegram/updates.py)
EDIT_NOT_READ = "textwire does not read edits, so nothing changed: send the new text as a new message."
# to an edited caption of a photo or a file: the new caption sent as a text would be no amount (and
# a post to X for a linked person)
CAPTION_EDIT_NOT_READ = (
    "textwire does not read edits, so nothing changed. To set the amount of your last receipt, "
    "send e.g. \\AMOUNT 12.50."
)


def _unavailable_or_refused(exc: TelegramError) -> Exception:
    if exc.status is None or exc.status == 429 or exc.status >= 500:
        return MediaUnavailable(str(exc))
    if TOO_BIG_AT_TELEGRAM in str(exc).lower():
        # a 25 MB PDF was "not saved: Telegram could not give it to us", and was sent again
        return MediaRefused(TOO_BIG, str(exc))
    return MediaRefused(GONE, str(exc), short="gone at Telegram")


class TelegramMedia:
    """The `MediaSource` of the Telegram channel: "tgfile:<file_id>" is an item's reference."""

    def __init__(self, api: TelegramApi, timeout_seconds: float) -> None:
        self.api = api
        self._timeout = aiohttp.ClientTimeout(
            total=max(60.0, timeout_seconds * 6), connect=timeout_seconds, sock_read=timeout_seconds
        )

    def owns(self, ref: str) -> bool:
        return any(
            ref.startswith(prefix) and len(ref) > len(prefix) for prefix in (MEDIA_PREFIX, KIND_PREFIX)
        )

    def refuses(self, ref: str, content_type: str = "") -> MediaRefused | None:
        """A video, a voice note, a Word file, a sticker: no receipt, known without a fetch."""
        if not ref.startswith(KIND_PREFIX) or not self.owns(ref):
            return None
        kind = ref[len(KIND_PREFIX) :]
        alone = {EDITED: EDIT_NOT_READ, EDITED_CAPTION: CAPTION_EDIT_NOT_READ}.get(kind) or (
            not_read_kind(kind)
            if kind in NOT_READ
            else not_read(NOT_RECEIPT_NAMES[kind])
            if kind in NOT_RECEIPT_NAMES
            else FILE_NOT_SAVED
            if kind == "document"
            else ""
        )
        return MediaRefused(BAD_TYPE, kind, short="not a photo or PDF", alone=alone)

    @contextlib.asynccontextmanager
    async def open(self, ref: str) -> AsyncIterator[MediaStream]:
        refused = self.refuses(ref)
        if refused is not None:  # never fetched
            raise refused
        if not self.owns(ref):
            raise MediaRefused(GONE, "not a Telegram file reference", short="gone at Telegram")
        try:
            described = await self.api.call("getFile", {"file_id": ref[len(MEDIA_PREFIX) :]})
        except TelegramError as exc:
            raise _unavailable_or_refused(exc) from None
        path = described.get("file_path") if isinstance(described, dict) else None
        if not isinstance(path, str) or not path:
            raise MediaRefused(GONE, "getFile gave no file_path", short="gone at Telegram")
        try:
            async with self.api.http.get(
                self.api.file_url(path), allow_redirects=False, timeout=self._timeout
            ) as resp:
                if resp.status == 429 or resp.status >= 500:
                    raise MediaUnavailable(f"HTTP {resp.status}")
                if resp.status != 200:
                    raise MediaRefused(GONE, f"HTTP {resp.status}", short="gone at Telegram")
                yield MediaStream(length=resp.content_length, chunks=response_chunks(resp, CHUNK))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise MediaUnavailable(type(exc).__name__) from None

    async def release(self, ref: str) -> bool:
        """Nothing to do: a bot cannot delete a user's file at Telegram, so there is no copy of
        ours to clean up (True: done, never retried)."""
        return self.owns(ref)


__all__ = ["TelegramMedia"]
