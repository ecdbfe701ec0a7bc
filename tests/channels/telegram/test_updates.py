"""Telegram Updates as inbox rows: which updates are stored, the address and id they get, the text
or caption as the body, a command's @botname dropped, photos by their largest size, documents
that are images or PDFs."""

from __future__ import annotations

import pytest

from bot.channels.telegram.updates import (
    KIND_PREFIX,
    MEDIA_PREFIX,
    NotAnUpdate,
    message_from_update,
    topic_of,
)
from tests.channels.telegram.talk import CHAT, update


def row(payload: object) -> object:
    return message_from_update(payload, bot="42", now=1000.0)


def test_a_message_is_a_row_of_its_chat_keyed_by_bot_and_update_id() -> None:
    message = row(update("/help", update_id=77))
    assert message is not None
    assert (message.message_sid, message.from_phone, message.to_phone, message.body) == (
        "tg42-77",
        f"telegram:{CHAT}",
        "telegram:42",
        "/help",
    )
    assert (message.media, message.received_at, message.account_sid) == ((), 1000.0, "")


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("/join@textwire_bot house pw", "/join house pw"),
        ("/balance@textwire_bot", "/balance"),
        ("mail me at a@b.c", "mail me at a@b.c"),
        ("/start", "/start"),
        # the name on a line of its own: the words on the next lines were dropped with it
        # (`/join@textwire_bot` then `house pw` joined "pw"; `/pair@...` then a code made a new code)
        ("/join@textwire_bot\nhouse pw", "/join\nhouse pw"),
        ("/pair@textwire_bot\n415140", "/pair\n415140"),
        ("/join@textwire_bot\thouse pw", "/join\thouse pw"),
    ],
)
def test_a_commands_bot_name_is_dropped(text: str, body: str) -> None:
    message = row(update(text))
    assert message is not None
    assert message.body == body


def test_the_largest_photo_is_taken_with_the_caption_as_body() -> None:
    photo = [
        {"file_id": "small", "width": 90, "height": 60, "file_size": 1000},
        {"file_id": "large", "width": 1280, "height": 960, "file_size": 90000},
        {"file_id": "medium", "width": 320, "height": 240, "file_size": 9000},
    ]
    message = row(update(photo=photo, caption="$12.00"))
    assert message is not None
    assert message.media == ((MEDIA_PREFIX + "large", "image/jpeg"),)
    assert message.body == "$12.00"


@pytest.mark.parametrize(
    ("mime", "kept"),
    [
        ("application/pdf", True),
        ("image/png", True),
        ("application/zip", False),
        # what a client sets for a file it did not type (a JPEG named r.img): read by its bytes, as
        # an MMS is; it was refused as "not a photo" unread
        ("application/octet-stream", True),
    ],
)
def test_documents_that_are_images_or_pdfs_are_media(mime: str, kept: bool) -> None:
    """Another document is an item refused by name (never fetched), so its caption stays one."""
    message = row(update("receipt", document={"file_id": "doc1", "mime_type": mime}))
    assert message is not None
    assert message.media == (
        ((MEDIA_PREFIX + "doc1", mime),) if kept else ((KIND_PREFIX + "document", mime),)
    )


def test_a_document_without_a_mime_type_is_read_by_its_first_bytes() -> None:
    message = row(update("hotel 120", document={"file_id": "doc2", "file_name": "r.pdf"}))
    assert message is not None
    assert message.media == ((MEDIA_PREFIX + "doc2", "application/octet-stream"),)


@pytest.mark.parametrize("kind", ["video", "animation", "video_note", "voice", "audio"])
def test_a_video_or_a_voice_note_is_an_item_refused_by_name_and_its_caption_no_text(kind: str) -> None:
    """Its caption was the message's body with no media: a post to X for a linked person."""
    extra = {"document": {"file_id": "gif", "mime_type": "video/mp4"}} if kind == "animation" else {}
    message = row(update("dinner 40", **{kind: {"file_id": "v1"}}, **extra))
    assert message is not None
    assert message.media == ((KIND_PREFIX + kind, "application/octet-stream"),)
    assert message.body == "dinner 40"


def test_an_edit_is_an_item_refused_by_name_with_no_body() -> None:
    """An edit was dropped: a command corrected by an edit did nothing, and no one said so."""
    edit = update("/join house hunter22", update_id=9)["message"] | {"edit_date": 1_790_000_100}
    message = row({"update_id": 9, "edited_message": edit})
    assert message is not None
    assert (message.message_sid, message.from_phone) == ("tg42-9", f"telegram:{CHAT}")
    assert message.media == ((KIND_PREFIX + "edit", "application/octet-stream"),)
    assert message.body == ""


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"sticker": {"file_id": "s", "emoji": "\U0001f44d"}}, "sticker"),
        ({"location": {"latitude": 40.7, "longitude": -74.0}}, "location"),
        (
            {"venue": {"location": {"latitude": 1.0, "longitude": 2.0}, "title": "Cafe"}, "location": {}},
            "venue",
        ),
        ({"contact": {"phone_number": "+15551112222", "first_name": "Bob"}}, "contact"),
        ({"poll": {"id": "1", "question": "who pays?", "options": []}}, "poll"),
        ({"dice": {"emoji": "\U0001f3b2", "value": 4}}, "dice"),
    ],
    ids=["sticker", "location", "venue", "contact", "poll", "dice"],
)
def test_a_sticker_or_a_location_is_an_item_refused_by_name(fields: dict[str, object], kind: str) -> None:
    """They were dropped as "nothing to read", and the person who sent one heard nothing."""
    message = row(update(**fields))
    assert message is not None
    assert message.media == ((KIND_PREFIX + kind, "application/octet-stream"),)
    assert message.body == ""


@pytest.mark.parametrize(
    "payload",
    [
        {"update_id": 1, "callback_query": {"id": "1", "data": "x"}},
        {"update_id": 2, "edited_message": {"chat": {"id": -100, "type": "group"}, "text": "/help"}},
        {
            "update_id": 3,
            "edited_message": {**update()["message"], "location": {"latitude": 1.0, "longitude": 2.0}},
        },
        update("   "),
        update(pinned_message={"message_id": 3, "date": 1, "chat": {"id": CHAT}}),
        {**update("hi"), "message": {**update("hi")["message"], "from": {"id": 5, "is_bot": True}}},
    ],
    ids=["a-callback", "an-edit-in-a-group", "a-live-location-moving", "blank", "a-pin", "bot"],
)
def test_updates_with_nothing_to_handle_are_none(payload: object) -> None:
    assert row(payload) is None


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"update_id": "7"},
        {"update_id": 7, "message": "hi"},
        {"update_id": 7, "message": {"text": "x"}},
    ],
    ids=["null", "list", "id-a-string", "message-a-string", "no-chat"],
)
def test_what_is_not_an_update_is_refused(payload: object) -> None:
    with pytest.raises(NotAnUpdate):
        row(payload)


@pytest.mark.parametrize("kind", ["group", "supergroup", "channel"])
def test_a_group_chat_is_not_one_person_and_is_not_answered(kind: str) -> None:
    """Its members would share one account, and a \\PAIR code or a gallery link would be shown to
    all of them (a \\PAIR code was: anyone in the group could take the account with it)."""
    group = update("/pair")
    group["message"]["chat"] = {"id": -100123, "type": kind, "title": "House"}
    assert row(group) is None


def test_odd_shapes_are_refused_or_read_never_an_error() -> None:
    with pytest.raises(NotAnUpdate):
        row({**update("hi"), "update_id": True})  # a bool is no update_id
    odd_chat = update("hi")
    odd_chat["message"]["chat"] = {"id": True, "type": "private"}
    with pytest.raises(NotAnUpdate):
        row(odd_chat)
    photos = [{"file_id": "a", "width": [1], "height": 1}, {"file_id": "b", "width": "9", "height": None}]
    message = row(update(photo=photos))  # was a TypeError: a 500 to Telegram
    assert message is not None
    assert len(message.media) == 1


def test_a_nul_in_the_text_is_kept_as_a_replacement_character() -> None:
    message = row(update("a\x00b"))
    assert message is not None
    assert message.body == "a\ufffdb"


def test_a_private_chat_carries_its_persons_first_name() -> None:
    message = row(update("/help", first_name="  Ann   Marie "))
    assert message is not None
    assert message.sender_name == "Ann Marie"
    nameless = update("/help")
    del nameless["message"]["from"]
    message = row(nameless)
    assert message is not None
    assert message.sender_name is None


@pytest.mark.parametrize(
    ("sent", "received_at"),
    [
        (1000 - 300, 700.0),  # redelivered five minutes late: when it was sent
        (1000 - 2, 1000.0),  # on time (Telegram's date is whole seconds): when it came
        (1000 + 30, 1000.0),  # a clock ahead of ours: never later than it came
        (1000 - 90_000, 1000.0),  # older than Telegram keeps an update: no date to trust
        ("soon", 1000.0),
    ],
)
def test_a_message_telegram_delivers_late_counts_from_when_it_was_sent(
    sent: object, received_at: float
) -> None:
    message = row(update("/paid ann 5", date=sent))
    assert message is not None
    assert message.received_at == received_at


@pytest.mark.parametrize(
    ("fields", "topic"),
    [
        ({"message_thread_id": 42, "is_topic_message": True}, 42),
        ({"message_thread_id": 42}, None),  # a reply thread in a plain group, no forum topic
        ({"message_thread_id": "42", "is_topic_message": True}, None),
        ({"message_thread_id": True, "is_topic_message": True}, None),
        ({"is_topic_message": True}, None),
    ],
)
def test_the_topic_of_a_message_is_its_thread_only_in_a_forum_topic(
    fields: dict[str, object], topic: int | None
) -> None:
    assert topic_of(update("/help", **fields)) == topic
    assert topic_of({"update_id": 1, "edited_message": update("/help", **fields)["message"]}) is None


BOB = {"id": 777, "is_bot": False, "first_name": "Bob"}


@pytest.mark.parametrize(
    "marks",
    [
        # Bot API 7.0 and later: where it came from, as a MessageOrigin
        {"forward_origin": {"type": "user", "date": 1_789_990_000, "sender_user": BOB}},
        {"forward_origin": {"type": "hidden_user", "date": 1_789_990_000, "sender_user_name": "Bob"}},
        {
            "forward_origin": {
                "type": "channel",
                "date": 1_789_990_000,
                "chat": {"id": -100, "type": "channel"},
                "message_id": 5,
            }
        },
        # the fields it replaced, which a Bot API server before 7.0 sends
        {"forward_from": BOB, "forward_date": 1_789_990_000},
        {"forward_sender_name": "Bob", "forward_date": 1_789_990_000},
        {"forward_from_chat": {"id": -100, "type": "channel"}, "forward_date": 1_789_990_000},
    ],
    ids=["origin-user", "origin-hidden-user", "origin-channel", "from", "sender-name", "from-chat"],
)
def test_a_forwarded_message_is_marked_forwarded(marks: dict[str, object]) -> None:
    """Someone else's words forwarded by the person: the row says so (the text is not posted to
    X as the person's, handlers/forwarded.py); its text and photos are the message's as ever."""
    text = row(update("Bob: the landlord is a crook", **marks))
    assert text is not None
    assert (text.forwarded, text.body) == (True, "Bob: the landlord is a crook")
    photo = [{"file_id": "large", "width": 1280, "height": 960}]
    receipt = row(update(photo=photo, caption="12.50", **marks))
    assert receipt is not None
    assert (receipt.forwarded, receipt.media, receipt.body) == (
        True,
        ((MEDIA_PREFIX + "large", "image/jpeg"),),
        "12.50",
    )


def test_a_message_the_person_wrote_is_not_forwarded() -> None:
    message = row(update("my own words", reply_to_message={"message_id": 1, "text": "hi", "from": BOB}))
    assert message is not None
    assert message.forwarded is False


@pytest.mark.parametrize(
    "marks",
    [
        {
            "forward_origin": {
                "type": "user",
                "date": 1_789_990_000,
                "sender_user": {"id": CHAT, "is_bot": False},
            }
        },
        {"forward_from": {"id": CHAT, "is_bot": False, "first_name": "Ann"}, "forward_date": 1_789_990_000},
    ],
    ids=["origin-user", "from"],
)
def test_the_persons_own_message_forwarded_back_is_theirs(marks: dict[str, object]) -> None:
    """A person forwarding their own earlier message (from a group, a saved chat) to the bot: the
    words are theirs, and it was "not posted: forwarded" as if someone else had written them."""
    message = row(update("my own words, from the group", **marks))
    assert message is not None
    assert message.forwarded is False
