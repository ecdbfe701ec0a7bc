"""The channel seam: what the pipeline, handlers and features know of a channel, and nothing more.

A channel (bot/channels/<name>/) says how messages arrive (its routes, verification, and parsing
into a channel-neutral inbox row whose sender is an `Address`), how a reply leaves (`Transport`:
sent, retry after, refused, recipient gone), how media is fetched and released (`MediaSource`),
and its length rule (`fits_one`: SMS counts GSM-7 segments, others characters). Everything above
the channel speaks these types; none of it names Twilio, a phone number or a MessageSid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aiohttp import web

    from bot.core.deps import Deps


SMS = "sms"  # the channel name of SMS and MMS (through Twilio); stored in inbox and outbox rows


@dataclass(frozen=True, slots=True)
class Address:
    """Where a person is reached: a channel's name and the id it knows them by (for SMS, the
    E.164 number)."""

    channel: str
    id: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.id}"


@dataclass(frozen=True)
class Sent:
    """A reply the channel took: its id there (for delivery receipts) and the status it gave."""

    sid: str
    status: str


class SendError(Exception):
    """The channel did not take the reply. `retryable`: try again later (after `retry_after`
    seconds when the channel said so); `recipient_gone`: the person cannot be reached there any
    more (SMS: opted out at the carrier); otherwise it refused this one reply."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
        recipient_gone: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.recipient_gone = recipient_gone

    @property
    def retryable(self) -> bool:
        if self.status is None:  # connection error or timeout: a rare duplicate beats a lost reply
            return True
        return self.status == 429 or self.status >= 500


class Transport(Protocol):
    """How replies leave. `delivers`: False for a transport that only logs (development), whose
    rows have no delivery receipt to wait for."""

    delivers: bool

    async def send(self, to: str, body: str) -> Sent: ...

    async def find(self, to: str, body: str, since: float) -> list[Sent]:
        """Replies already taken for `to` with `body` since `since` (oldest first); raises
        SendError when that cannot be known."""
        ...


class MediaRefused(Exception):
    """A media item we will not take: `reason` goes into the reply ("Photo 2 was not saved:
    {reason}."), `short` is its few words for a reply about many items, `detail` is for the log."""

    def __init__(self, reason: str, detail: str = "", *, short: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.short = short


class MediaUnavailable(Exception):
    """The channel's media host is down or throttling: try the message again later."""


@dataclass(frozen=True)
class MediaStream:
    """A media item's body as it arrives: its declared length, if any, and its chunks (reading one
    may raise `MediaUnavailable`)."""

    length: int | None
    chunks: AsyncIterator[bytes]


class MediaSource(Protocol):
    """How a channel's media is fetched and released once stored (SMS: the copy at Twilio
    deleted). `owns`: whether a reference is this channel's to fetch."""

    def owns(self, ref: str) -> bool: ...

    def open(self, ref: str) -> AbstractAsyncContextManager[MediaStream]:
        """The item's stream; raises `MediaRefused` or `MediaUnavailable`."""
        ...

    async def release(self, ref: str) -> bool:
        """Delete the channel's copy; True when it is gone. Never raises."""
        ...


@dataclass(frozen=True)
class ChannelParts:
    """What an open channel gives the app: how replies leave, and its media, if it has any."""

    transport: Transport
    media: MediaSource | None = None


class Channel(Protocol):
    """One way people text the bot. Adding one is a folder under bot/channels/, its config
    section and one line in bot/app/channels.py."""

    name: str

    def fits_one(self, text: str) -> bool:
        """Whether a reply goes out as one message (SMS: one GSM-7 segment; billed per segment)."""
        ...

    def add_routes(self, app: web.Application) -> None:
        """Its webhooks (a `worker` process adds none)."""
        ...

    def lifespan(self, deps: Deps) -> AbstractAsyncContextManager[ChannelParts]:
        """Its transport and media source, open for the app's life."""
        ...


FitsOne = Callable[[str], bool]


def fits_160(text: str) -> bool:
    """A length rule that counts characters (160, one SMS's worth): the default until a channel
    gives its own."""
    return len(text) <= 160


__all__ = [
    "SMS",
    "Address",
    "Channel",
    "ChannelParts",
    "FitsOne",
    "MediaRefused",
    "MediaSource",
    "MediaStream",
    "MediaUnavailable",
    "SendError",
    "Sent",
    "Transport",
    "fits_160",
]
