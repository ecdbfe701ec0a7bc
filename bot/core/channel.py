"""The channel seam: what the pipeline, handlers and features know of a channel, and nothing more.

A channel (bot/channels/<name>/) says how messages arrive (its routes, verification, and parsing
into a channel-neutral inbox row whose sender is an `Address`), how a reply leaves (`Transport`:
sent, retry after, refused, recipient gone), how media is fetched and released (`MediaSource`),
and its length rules (`length_rules`: SMS counts GSM-7 segments, others characters). Everything above
the channel speaks these types; none of it names Twilio, a phone number or a MessageSid.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import aiohttp

if TYPE_CHECKING:
    from aiohttp import web

    from bot.core.deps import Deps


FitsOne = Callable[[str], bool]  # a channel's length rule: whether a reply goes out as one message

SMS = "sms"  # the channel name of SMS and MMS (through Twilio); stored in inbox and outbox rows
WHATSAPP = "whatsapp"  # WhatsApp through Twilio: `whatsapp:+E164`, as Twilio writes it
TELEGRAM = "telegram"  # the Telegram Bot API: `telegram:<chat id>`
PREFIXED = (WHATSAPP, TELEGRAM)  # channels whose stored addresses carry their name in front
# channels that take free text only for a while after the person's last message (WhatsApp: 24
# hours); outside it a notice goes as a template, or not at all
WINDOWS = {WHATSAPP: 24 * 3600.0}
# channels where a person who could not be reached (Telegram: the bot was blocked) is reachable
# again once they write: nobody can message a bot they blocked
RESUMES_ON_MESSAGE = frozenset({TELEGRAM})
# channels where nobody but textwire answers a STOP: Twilio confirms an SMS one itself (its STOP
# filtering is the carriers' rules for SMS), not a WhatsApp one, and Telegram has no carrier
NO_CARRIER = frozenset({WHATSAPP, TELEGRAM})


@dataclass(frozen=True, slots=True)
class Address:
    """Where a person is reached: a channel's name and the id it knows them by (for SMS, the
    E.164 number; for Telegram, the chat id)."""

    channel: str
    id: str

    @property
    def key(self) -> str:
        """The address as stored (inbox and outbox rows, the person it belongs to): an SMS
        number as it is (`+15550001111`), any other with its channel in front
        (`whatsapp:+15550001111`, Twilio's own form; `telegram:123456`)."""
        return self.id if self.channel == SMS else f"{self.channel}:{self.id}"

    def __str__(self) -> str:
        return f"{self.channel}:{self.id}"


def phone_forms(number: str) -> tuple[str, ...]:
    """One phone's number as each of Twilio's channels may write it: as dialled (an SMS `From`),
    and as WhatsApp keeps it where that differs. WhatsApp writes a Mexican mobile with the 1
    dialled before mobiles until 2019 (`+5215512345678` for `+525512345678`), and keeps a Brazilian
    mobile registered before the ninth digit without it (`+551187654321` for `+5511987654321`)."""
    digits = number[1:]
    if not (number.startswith("+") and digits.isascii() and digits.isdigit()):
        return (number,)
    if len(digits) == 13 and digits.startswith("521"):
        return (number, f"+52{digits[3:]}")
    if len(digits) == 12 and digits.startswith("52"):
        return (number, f"+521{digits[2:]}")
    if len(digits) == 12 and digits.startswith("55") and digits[4] in "6789":  # a mobile's old eight
        return (number, f"+{digits[:4]}9{digits[4:]}")
    if len(digits) == 13 and digits.startswith("55") and digits[4] == "9" and digits[5] in "6789":
        return (number, f"+{digits[:4]}{digits[5:]}")
    return (number,)


def window_of(key: str) -> float | None:
    """Seconds after a person's last message during which free text may go to `key`; None: always."""
    return WINDOWS.get(channel_of(key))


def channel_of(key: str) -> str:
    """The channel of a stored address key: `address_of(key).channel` with no Address made (the
    hot path asks it of every text and reply)."""
    channel, colon, _ = key.partition(":")
    return channel if colon and channel in PREFIXED else SMS


def address_of(key: str) -> Address:
    """The address a stored `key` names (`Address.key` read back)."""
    channel, colon, rest = key.partition(":")
    if colon and channel in PREFIXED:
        return Address(channel, rest)
    return Address(SMS, key)


@dataclass(frozen=True)
class Sent:
    """A reply the channel took: its id there (for delivery receipts) and the status it gave;
    `logged`: the id as the log may show it, when the id names the person (a Telegram chat);
    `error_code`: the channel's error code with that status (a message found failed)."""

    sid: str
    status: str
    logged: str = ""
    error_code: str | None = None


class SendError(Exception):
    """The channel did not take the reply. `retryable`: try again later (after `retry_after`
    seconds when the channel said so); `recipient_gone`: the person cannot be reached there any
    more (SMS: opted out at the carrier); otherwise it refused this one reply. `reason`: why, in
    our own words, for the log, when the fault is ours (the configuration) and the channel was
    never asked; a channel's own message is not logged (it may name a phone number)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        retry_after: float | None = None,
        recipient_gone: bool = False,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
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


@runtime_checkable
class TemplateTransport(Protocol):
    """A transport that can also send a channel's pre-approved template (WhatsApp: a ContentSid
    with its variables), for messages outside the window in which free text may go."""

    async def send_template(self, to: str, content_sid: str, variables: Mapping[str, str]) -> Sent: ...


# why an item that is no photo or PDF is not kept (a video, a voice note, a Word file ...)
BAD_TYPE = "only photos (JPEG, PNG, GIF, WebP, HEIC) and PDF files are kept"
# the answer to a file of no kind a receipt is (a Word file, a ZIP) sent alone, on any channel:
# "Photo 1 was not saved: ..." spoke of a photo the person never sent
FILE_NOT_SAVED = f"This file was not saved: {BAD_TYPE}."


def not_read(what: str) -> str:
    """The answer to a message that is only something no receipt can be (`what`: "stickers",
    "locations"), on any channel."""
    return (
        f"textwire does not read {what}. Send text, receipt photos or PDF files; \\HELP lists the commands."
    )


class MediaRefused(Exception):
    """A media item we will not take: `reason` goes into the reply ("Photo 2 was not saved:
    {reason}."), `short` is its few words for a reply about many items, `detail` is for the log;
    `alone` the whole answer when it is all a message carries and is no file at all (a sticker, a
    location: "Photo 1 was not saved" would not be about it). `not_yet`: the host may not have the
    item yet (Twilio's media URL answers 404 for a moment after the webhook names it): refused only
    once the message is older than a short settling time, tried again before that."""

    def __init__(
        self, reason: str, detail: str = "", *, short: str = "", alone: str = "", not_yet: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.short = short
        self.alone = alone
        self.not_yet = not_yet


class MediaUnavailable(Exception):
    """The channel's media host is down or throttling: try the message again later."""


@dataclass(frozen=True)
class MediaStream:
    """A media item's body as it arrives: its declared length, if any, and its chunks (reading one
    may raise `MediaUnavailable`)."""

    length: int | None
    chunks: AsyncIterator[bytes]


async def response_chunks(resp: aiohttp.ClientResponse, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A media download's body as it arrives, for `MediaStream.chunks`: the connection failing
    or stalling midway is `MediaUnavailable` (the message is tried again later)."""
    try:
        async for chunk in resp.content.iter_chunked(size):
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise MediaUnavailable(type(exc).__name__) from None


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

    def refuses(self, ref: str, content_type: str) -> MediaRefused | None:
        """The refusal of an item the channel knows is no receipt without fetching it (Telegram
        names a voice note, a video; Twilio's declared type says audio or video); None when only
        its bytes can tell."""
        ...


@dataclass(frozen=True)
class ChannelJob:
    """A timer of a channel's, run by the app's scheduler (on one process at a time) every
    `seconds` with the app's `Deps`."""

    id: str
    run: Callable[[Deps], Awaitable[object]]
    seconds: float


@dataclass(frozen=True)
class ChannelParts:
    """What an open channel gives the app: how replies leave, its media, if it has any, and its
    timers."""

    transport: Transport
    media: MediaSource | None = None
    jobs: tuple[ChannelJob, ...] = ()


MB = 1024 * 1024


@dataclass(frozen=True)
class MediaLimits:
    """The biggest media item a kind of address carries: photos, and documents (PDF) when those
    may be bigger (WhatsApp: images 5 MB, documents 16 MB; Telegram's getFile: 20 MB). The
    operator's `media.max_bytes` caps photos on every channel; a document may be as big as its
    channel allows, and no bigger than photos where the channel states nothing more."""

    image_bytes: int = 5 * MB  # Twilio: 5 MB a message
    document_bytes: int | None = None  # None: as photos
    # said after "it is over 5 MB" of a picture: how to send it so that it fits, where the channel
    # has a way (Telegram: a photo sent as a file comes whole, as a photo compressed)
    too_big_hint: str = ""

    def caps(self, max_bytes: int) -> tuple[int, int]:
        """(photos, documents) under the operator's cap for photos."""
        image = min(max_bytes, self.image_bytes)
        return image, image if self.document_bytes is None else self.document_bytes


class Channel(Protocol):
    """One way people text the bot. Adding one is a folder under bot/channels/, its config
    section and one line in bot/app/channels.py. `length_rules`: for each kind of address it
    serves (Twilio: "sms" and "whatsapp"), whether a reply goes out as one message (SMS: one
    GSM-7 segment, billed per segment; WhatsApp 1,600 characters; Telegram 4,096); its transport
    sends to all of them. `media_limits`: the biggest media each kind of address carries."""

    name: str
    length_rules: Mapping[str, FitsOne]
    media_limits: Mapping[str, MediaLimits]  # by kind of address, as `length_rules`

    def add_routes(self, app: web.Application) -> None:
        """Its webhooks (a `worker` process adds none)."""
        ...

    def lifespan(self, deps: Deps) -> AbstractAsyncContextManager[ChannelParts]:
        """Its transport and media source, open for the app's life."""
        ...


def fits_160(text: str) -> bool:
    """A length rule that counts characters (160, one SMS's worth): the default until a channel
    gives its own."""
    return len(text) <= 160


def fits_characters(limit: int) -> FitsOne:
    """A length rule that counts characters: channels without segments (WhatsApp, Telegram)."""

    def fits(text: str) -> bool:
        return len(text) <= limit

    return fits


class Transports:
    """The open channels' transports as one: a reply goes by its address's channel (the
    address, `Address.key`, is handed on whole). An address of a channel that is not open (its
    configuration was removed) is refused, not retried."""

    def __init__(self, by_channel: Mapping[str, Transport]) -> None:
        self._by_channel = dict(by_channel)
        # False when any only logs (development): its rows keep their links for `textwire chat`
        self.delivers = all(t.delivers for t in self._by_channel.values())

    def _for(self, to: str) -> Transport:
        channel = channel_of(to)
        transport = self._by_channel.get(channel)
        if transport is None:
            raise SendError(f"the {channel} channel is not open", status=410)
        return transport

    async def send(self, to: str, body: str) -> Sent:
        return await self._for(to).send(to, body)

    async def find(self, to: str, body: str, since: float) -> list[Sent]:
        return await self._for(to).find(to, body, since)

    async def send_template(self, to: str, content_sid: str, variables: Mapping[str, str]) -> Sent:
        transport = self._for(to)
        if not isinstance(transport, TemplateTransport):
            raise SendError(f"the {channel_of(to)} channel has no templates", status=400)
        return await transport.send_template(to, content_sid, variables)


class MediaSources:
    """The open channels' media sources as one: a reference goes to the source that owns it."""

    def __init__(self, sources: Sequence[MediaSource]) -> None:
        assert sources, "at least one channel has media"
        self._sources = list(sources)

    def _for(self, ref: str) -> MediaSource:
        for source in self._sources:
            if source.owns(ref):
                return source
        return self._sources[0]  # which refuses it in its own words (SMS: not Twilio's)

    def owns(self, ref: str) -> bool:
        return any(source.owns(ref) for source in self._sources)

    def open(self, ref: str) -> AbstractAsyncContextManager[MediaStream]:
        return self._for(ref).open(ref)

    async def release(self, ref: str) -> bool:
        for source in self._sources:
            if source.owns(ref):
                return await source.release(ref)
        return False

    def refuses(self, ref: str, content_type: str) -> MediaRefused | None:
        return self._for(ref).refuses(ref, content_type) if self.owns(ref) else None


__all__ = [
    "PREFIXED",
    "RESUMES_ON_MESSAGE",
    "SMS",
    "TELEGRAM",
    "WHATSAPP",
    "WINDOWS",
    "Address",
    "Channel",
    "ChannelJob",
    "ChannelParts",
    "FitsOne",
    "MediaLimits",
    "MediaRefused",
    "MediaSource",
    "MediaSources",
    "MediaStream",
    "MediaUnavailable",
    "SendError",
    "Sent",
    "TemplateTransport",
    "Transport",
    "Transports",
    "address_of",
    "channel_of",
    "fits_160",
    "fits_characters",
    "not_read",
    "phone_forms",
    "response_chunks",
    "window_of",
]
