"""Telegram Updates as inbox rows (https://core.telegram.org/bots/api#update).

An Update with a `message` becomes one inbox row: its sender's address is the chat
(`telegram:<chat id>`, where replies go), its id `tg<bot id>-<update_id>` (Telegram's retries and
replays carry the same update_id, so the inbox's insert-or-ignore makes them no-ops; the bot's
id keeps a new bot's update_ids apart from an old one's). The text, or else the caption, is the
body; a command's `@botname` (`/join@textwire_bot house pw`, as groups send it) is dropped.
Photos come as their largest size (OCR needs the pixels, not a thumbnail); documents that are
images or PDFs come as they are; a video, a voice note, a sticker, a location, a contact or a
poll as an item refused by name (`tgkind:<kind>`, never fetched), so the person hears why nothing
was done. An edit of a message (`edited_message`) is such an item too (`tgkind:edit`, or
`tgkind:edit-caption` for a photo's or a file's caption), with no body: its new text is not run
nor posted, and the person is told to send it again (a caption: to set the amount with
`\\AMOUNT`). A message forwarded from another chat (`forward_origin`, Bot API 7.0; before it
`forward_from`, `forward_from_chat`, `forward_sender_name`, `forward_date`) is marked `forwarded`:
its words are someone else's, never posted to X as the person's (handlers/forwarded.py). Other
updates (callbacks, member changes), messages from bots and blank texts are not stored.
"""

from __future__ import annotations

from typing import Any

from bot.core.channel import TELEGRAM, Address
from storage import inbox

MEDIA_PREFIX = (
    "tgfile:"  # an inbox row's media reference: "tgfile:<file_id>" (bot/channels/telegram/media.py)
)
# an item of a kind no receipt is (a video, a voice note, a Word file): "tgkind:<kind>", refused by
# name without a download, so that its caption stays a caption (never a text to post) and the
# reply says why, as for an MMS video
KIND_PREFIX = "tgkind:"
DOCUMENT_TYPES = ("image/", "application/pdf")
NOT_RECEIPTS = ("video", "animation", "video_note", "voice", "audio")
# what a message may carry that is no file at all: nothing in it to keep or to read (a venue before
# its location, which it carries too)
NOT_READ = ("sticker", "venue", "location", "contact", "poll", "dice", "game", "story")
EDITED = "edit"  # the kind of an edited message: what it says now is not read
# the kind of an edited caption of a receipt (a photo, a file): its new words are often the amount
# the photo lacked, which a new text would not set
EDITED_CAPTION = "edit-caption"


class NotAnUpdate(ValueError):
    """The body is JSON but not a Telegram Update (400)."""


def _command(text: str) -> str:
    """`/join@textwire_bot house pw` -> `/join house pw`."""
    if not text.startswith("/"):
        return text
    end = next((i for i, c in enumerate(text) if c.isspace()), len(text))  # a line break ends it too
    name, at, _bot = text[:end].partition("@")
    return name + text[end:] if at else text


def _whole(value: Any) -> int:
    """A whole number the Update gives, else 0 (never a bool, a string or a list: a 500 before)."""
    return value if type(value) is int else 0


def _largest(photos: list[Any]) -> dict[str, Any] | None:
    sizes = [p for p in photos if isinstance(p, dict) and isinstance(p.get("file_id"), str)]
    if not sizes:
        return None
    return max(
        sizes,
        key=lambda p: (_whole(p.get("width")) * _whole(p.get("height")), _whole(p.get("file_size"))),
    )


OCTET_STREAM = "application/octet-stream"


def _media(message: dict[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    photos = message.get("photo")
    if isinstance(photos, list):
        best = _largest(photos)
        if best is not None:
            found.append((MEDIA_PREFIX + best["file_id"], "image/jpeg"))
    for kind in NOT_RECEIPTS:
        if isinstance(message.get(kind), dict):
            return [*found, (KIND_PREFIX + kind, OCTET_STREAM)]  # a GIF's document too
    document = message.get("document")
    if isinstance(document, dict) and isinstance(document.get("file_id"), str):
        mime = document.get("mime_type")
        if not isinstance(mime, str) or mime in ("", OCTET_STREAM) or mime.startswith(DOCUMENT_TYPES):
            # Telegram's mime_type is optional: without one, or with the generic one a client sets
            # for a file it did not type (a .img, a receipt without its extension), the file's
            # first bytes say what it is
            found.append((MEDIA_PREFIX + document["file_id"], mime or OCTET_STREAM))
        else:
            found.append((KIND_PREFIX + "document", mime))
    if not found:
        for kind in NOT_READ:
            if isinstance(message.get(kind), dict):  # a sticker, a location, a poll: said why not
                return [(KIND_PREFIX + kind, OCTET_STREAM)]
    return found


# Telegram keeps the updates a webhook did not take (a restart, an outage) and delivers them later,
# for up to 24 hours, each with its message's `date`: one that comes this late or more counts from
# when it was sent. A `/paid` of 23:58 on the 31st delivered at 00:05 was in the next month's
# statement. One that comes at once (or with a clock ahead of ours) counts from its arrival, as an
# SMS does: Twilio's webhook has no such date.
LATE_SECONDS = 10.0
KEPT_SECONDS = 24 * 3600.0


# what marks a message forwarded from another chat: `forward_origin` since Bot API 7.0
# (https://core.telegram.org/bots/api#messageorigin), and the fields it replaced, which a Bot API
# server older than 7.0 (a self-hosted one) sends instead
FORWARD_FIELDS = (
    "forward_origin",
    "forward_from",
    "forward_from_chat",
    "forward_sender_name",
    "forward_date",
)


def forwarded(message: dict[str, Any]) -> bool:
    """Whether the person forwarded `message` from another chat (someone else's words): not when
    what they forwarded was their own (`forward_origin` of type "user", or `forward_from`, naming
    the sender), from a group or a saved chat: those words are theirs."""
    if not any(message.get(name) is not None for name in FORWARD_FIELDS):
        return False
    origin = message.get("forward_origin")
    author = origin.get("sender_user") if isinstance(origin, dict) and origin.get("type") == "user" else None
    author = author if author is not None else message.get("forward_from")
    sender = message.get("from")
    return not (
        isinstance(author, dict)
        and isinstance(sender, dict)
        and author.get("id") is not None
        and author.get("id") == sender.get("id")
    )


def sent_at(message: dict[str, Any], now: float) -> float:
    """When the person sent `message` (its edit, for an edited one), when Telegram delivered it
    late; else `now`."""
    date = message.get("edit_date", message.get("date"))
    if type(date) is not int or not now - KEPT_SECONDS <= date <= now - LATE_SECONDS:
        return now
    return float(date)


def message_from_update(update: Any, *, bot: str, now: float) -> inbox.NewMessage | None:
    """The inbox row of an Update, None for one with nothing to handle; NotAnUpdate when the
    JSON is not an Update at all."""
    if not isinstance(update, dict) or type(update.get("update_id")) is not int:
        raise NotAnUpdate("not a Telegram Update: no update_id")
    message = update.get("message")
    edited = message is None and update.get("edited_message") is not None
    if edited:
        message = update["edited_message"]
    if message is None:
        return None  # a callback, a member change: nothing we answer
    if not isinstance(message, dict):
        raise NotAnUpdate("message is not an object")
    chat = message.get("chat")
    if not isinstance(chat, dict) or type(chat.get("id")) is not int:
        raise NotAnUpdate("message.chat.id missing")
    if chat.get("type", "private") != "private":
        # a group's chat is not one person: its members would share one account, and a \\PAIR
        # code or a gallery link would be shown to all of them. textwire is a private chat.
        return None
    sender = message.get("from")
    if isinstance(sender, dict) and sender.get("is_bot") is True:
        return None  # another bot: answering it could start a loop
    text = message.get("text")
    caption = message.get("caption")
    body = text if isinstance(text, str) and text else caption if isinstance(caption, str) else ""
    media = _media(message)
    if edited and isinstance(message.get("location"), dict):
        return None  # a live location moving: Telegram edits it every few seconds, nobody typed it
    if edited:
        # the person changed a message already handled (a typo in a command, a text posted to X):
        # running or posting the new text would act twice, and saying nothing leaves them waiting
        receipt = any(ref.startswith(MEDIA_PREFIX) for ref, _ in media)
        body, media = "", [(KIND_PREFIX + (EDITED_CAPTION if receipt else EDITED), OCTET_STREAM)]
    if not body.strip() and not media:
        return None  # a blank text, a service message (a pin): nothing to answer
    return inbox.NewMessage(
        message_sid=f"tg{bot}-{update['update_id']}"[:64],
        account_sid="",
        from_phone=Address(TELEGRAM, str(chat["id"])).key,
        to_phone=f"{TELEGRAM}:{bot}"[:32],
        body=_command(body.replace("\x00", "\ufffd")),  # PostgreSQL's text holds no NUL
        media=tuple(media),
        opt_out_type="",
        idempotency_token=None,
        priority=0,
        received_at=sent_at(message, now),
        sender_name=_first_name(chat, sender),
        forwarded=forwarded(message),
    )


GROUPS = ("group", "supergroup")
IN_GROUPS = (
    "textwire answers private chats only, so it reads nothing in this group. Each of you can "
    "message it directly; a room (\\CREATE, \\JOIN) is where you share receipts and split bills."
)


def added_to_group(update: Any, *, bot: str) -> int | None:
    """The group's chat id when this Update says the bot was just added to a group (its service
    message `new_chat_members` names the bot, or the group was made with it in), else None. Group
    messages are not handled (see `message_from_update`): without a word there, whoever added the
    bot waited for an answer that never came."""
    message = update.get("message") if isinstance(update, dict) else None
    if not isinstance(message, dict):
        return None
    chat = message.get("chat")
    if not isinstance(chat, dict) or chat.get("type") not in GROUPS or type(chat.get("id")) is not int:
        return None
    joined = message.get("new_chat_members")
    ours = isinstance(joined, list) and any(
        isinstance(member, dict) and str(_whole(member.get("id"))) == bot for member in joined
    )
    created = message.get("group_chat_created") is True or message.get("supergroup_chat_created") is True
    return int(chat["id"]) if ours or created else None


def asked_in_group(update: Any, *, bot: str) -> int | None:
    """The group's chat id when this Update is someone there asking the bot something (a
    command, or a reply to one of its messages), else None. A group that had used the bot (0.2.0
    answered groups) heard nothing at all, `/help` included, once group messages were left
    unhandled: a group told the bot was added only when it was added."""
    message = update.get("message") if isinstance(update, dict) else None
    if not isinstance(message, dict):
        return None
    chat, sender = message.get("chat"), message.get("from")
    if not isinstance(chat, dict) or chat.get("type") not in GROUPS or type(chat.get("id")) is not int:
        return None
    if not isinstance(sender, dict) or sender.get("is_bot") is not False:
        return None  # another bot (or a channel posting as the group): never a loop
    text = message.get("text")
    replied = message.get("reply_to_message")
    author = replied.get("from") if isinstance(replied, dict) else None
    to_us = isinstance(author, dict) and str(_whole(author.get("id"))) == bot
    return int(chat["id"]) if (isinstance(text, str) and text.startswith("/")) or to_us else None


def topic_of(update: Any) -> int | None:
    """The forum topic a group's message was written in (`message_thread_id` of a topic message),
    else None: an answer without it goes to the General topic, where the person asking in their
    topic did not see it (and a member may not post when General is closed). A plain group's
    thread of replies is no topic: there the answer needs none."""
    message = update.get("message") if isinstance(update, dict) else None
    if not isinstance(message, dict) or message.get("is_topic_message") is not True:
        return None
    thread = message.get("message_thread_id")
    return thread if type(thread) is int else None


def _first_name(chat: dict[str, Any], sender: Any) -> str | None:
    """The person's first name in a private chat (a group's chat is not one person); the rooms
    show it only when it is a name `\\NAME` would take (bot/features/ledger/book.py)."""
    if chat.get("type") != "private" or not isinstance(sender, dict):
        return None
    name = sender.get("first_name")
    if not isinstance(name, str):
        return None
    name = " ".join(name.replace("\x00", "\ufffd").split())[:64]  # PostgreSQL's text holds no NUL
    return name or None


__all__ = [
    "EDITED",
    "EDITED_CAPTION",
    "IN_GROUPS",
    "MEDIA_PREFIX",
    "NotAnUpdate",
    "added_to_group",
    "asked_in_group",
    "forwarded",
    "message_from_update",
    "topic_of",
]
