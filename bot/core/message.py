"""A message in the pipeline's terms, whatever channel it came by: the `Inbound` a handler gets,
its `Media`, and the `Reply` it gives."""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.channel import Address


@dataclass(frozen=True)
class Media:
    """One item of a message: its place, the channel's reference to fetch it by (Twilio: the
    media URL) and the content type the channel declared (the bytes decide what it is)."""

    index: int
    url: str
    content_type: str


@dataclass(frozen=True)
class Inbound:
    """One inbound message, as stored in the inbox, in any channel's terms: `external_id` is the
    channel's id of the message (Twilio: the MessageSid), `sender` who sent it, `recipient` the
    channel's id of us (Twilio: our number), `carrier_keyword` the channel's own reading of an
    opt-out or help keyword (Twilio: OptOutType), if any. `forwarded`: the channel says the person
    forwarded it from another chat (Telegram's `forward_origin`, WhatsApp's `Forwarded`), so its
    words are someone else's: a text is not posted nor a command run (handlers/forwarded.py)."""

    id: int
    external_id: str
    sender: Address
    recipient: str
    body: str
    media: tuple[Media, ...] = ()
    carrier_keyword: str = ""
    received_at: float = 0.0
    attempts: int = 1
    priority: bool = False  # carrier keywords, \STOP, \UNLINK: handled at once, never held back
    sender_name: str | None = None  # the name the channel gives the sender (Telegram's first name)
    forwarded: bool = False

    @property
    def text(self) -> str:
        return self.body.strip()


# A reply's kind for the goodbye to an address that has just opted out (`\\STOP` from one of a
# person's addresses): the one reply the sender still sends to an opted-out address.
LAST_WORD = "last-word"


@dataclass(frozen=True)
class Reply:
    """One SMS back. `redact`: it carries a link; the outbox row is redacted once sent. `kind`:
    what answer it is ("x-link", "help", "usage", ...; "" for anything else): a delayed link is
    superseded by a newer one. The reply guard (bot/pipeline/replyguard.py) sets the last two: `not_before`,
    a reply over its number's budget goes out then; `held`, the number is on hold for a loop and
    the reply is recorded but never sent."""

    text: str
    redact: bool = False
    kind: str = ""
    not_before: float = 0.0
    held: bool = False


__all__ = ["LAST_WORD", "Inbound", "Media", "Reply"]
