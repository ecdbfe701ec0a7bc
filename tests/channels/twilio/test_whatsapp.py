"""WhatsApp through Twilio, end to end through the real app and the local fake of the Messages API:
a `whatsapp:` sender is answered from `twilio.whatsapp_from`; a notice that is not an answer (the
payee's \\PAID notice) more than 24 hours after the person's last message goes as the template
its kind maps to, or not at all (logged); Twilio's 63016 is handled the same way, never retried
into a loop; and the configuration says what is wrong with a sender or a template."""

from __future__ import annotations

import asyncio
import io
import re
import time
from typing import Any

import pytest
from PIL import Image
from structlog.testing import capture_logs

from bot.channels.twilio import status
from bot.core.config import ConfigError, load_config
from storage import outbox
from tests import images
from tests.conftest import ALICE, Bot, BotFactory, wait_for
from tests.fakes.twilio_rest import Failure, FakeTwilio

WALLY = "whatsapp:+15550009999"
WHATSAPP_FROM = "whatsapp:+14155238886"
PAID_TEMPLATE = "HX" + "1" * 32
DAY = 24 * 3600


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def make(bot_factory: BotFactory, fake: FakeTwilio, clock: Clock, **twilio: Any) -> Bot:
    return await bot_factory(clock=clock, twilio={**fake.section(), "whatsapp_from": WHATSAPP_FROM, **twilio})


async def say(bot: Bot, fake: FakeTwilio, body: str, sender: str) -> dict[str, str]:
    """The first message to `sender` after `body`, once all it sent for it is out (a `\\PAIR
    <code>` tells the address that asked for the code too)."""
    before = len(fake.messages)
    form = await bot.text(body, sender=sender)
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    return next(m for m in fake.messages[before:] if m["To"] == sender)


async def room_with_wally(bot: Bot, fake: FakeTwilio) -> None:
    answer = await say(bot, fake, "\\CREATE house hunter22", WALLY)
    assert (answer["To"], answer["From"]) == (WALLY, WHATSAPP_FROM)
    assert "house" in answer["Body"].lower()
    await say(bot, fake, "\\NAME Wally", WALLY)
    await say(bot, fake, "\\JOIN house hunter22", ALICE)


async def test_a_whatsapp_sender_is_answered_from_the_whatsapp_number(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    bot = await make(bot_factory, fake_twilio, Clock())
    answer = await say(bot, fake_twilio, "\\HELP", WALLY)
    assert (answer["To"], answer["From"]) == (WALLY, WHATSAPP_FROM)
    sms = await say(bot, fake_twilio, "\\HELP", ALICE)
    assert sms["From"] == fake_twilio.section()["from_number"]
    rows = await bot.rows("SELECT channel FROM outbox ORDER BY id")
    assert [r[0] for r in rows] == ["whatsapp", "sms"]


async def test_a_notice_within_the_window_is_free_text(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    clock = Clock()
    bot = await make(bot_factory, fake_twilio, clock, whatsapp_templates={"paid": PAID_TEMPLATE})
    await room_with_wally(bot, fake_twilio)
    before = len(fake_twilio.messages)
    form = await bot.text("\\PAID Wally 5", sender=ALICE)
    await bot.handled(form["MessageSid"])
    messages = await fake_twilio.wait_for_messages(before + 2)
    [notice] = [m for m in messages[before:] if m["To"] == WALLY]
    assert "Body" in notice
    assert "ContentSid" not in notice


async def test_a_notice_after_24_hours_goes_as_its_template(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    clock = Clock()
    bot = await make(bot_factory, fake_twilio, clock, whatsapp_templates={"paid": PAID_TEMPLATE})
    await room_with_wally(bot, fake_twilio)
    clock.now += DAY + 60
    before = len(fake_twilio.messages)
    form = await bot.text("\\PAID Wally 5", sender=ALICE)
    await bot.handled(form["MessageSid"])
    messages = await fake_twilio.wait_for_messages(before + 2)
    [notice] = [m for m in messages[before:] if m["To"] == WALLY]
    assert notice["ContentSid"] == PAID_TEMPLATE
    assert "Body" not in notice
    assert "5.00" in notice["ContentVariables"]
    assert notice["From"] == WHATSAPP_FROM


async def test_a_template_send_twilio_took_without_answering_in_time_is_not_sent_again(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Twilio took the \\PAID notice's template and did not answer within the timeout. Before
    it went again the sender looked it up, matching the text exactly: a template is listed with
    its own text around the notice, never the bare notice, so it was never found and Wally got the
    template twice. It is found now, and sent once."""
    clock = Clock()
    clock.now -= DAY + 60  # Wally wrote a day ago; the claim's time is Twilio's (it lists by date)
    bot = await make(
        bot_factory, fake_twilio, clock, whatsapp_templates={"paid": PAID_TEMPLATE}, timeout_seconds=1.0
    )
    await room_with_wally(bot, fake_twilio)
    clock.now = time.time()
    released = fake_twilio.hold_to[WALLY] = asyncio.Event()  # taken, answered after the timeout
    form = await bot.text("\\PAID Wally 5", sender=ALICE)
    await bot.handled(form["MessageSid"])

    async def unknown() -> bool:
        rows = await bot.rows(
            "SELECT reconcile_since FROM outbox WHERE to_phone = :w AND kind = 'paid'", w=WALLY
        )
        return bool(rows) and rows[0][0] is not None

    await wait_for(unknown)
    released.set()
    clock.now += 600  # the retry is due
    bot.runtime.deps.wake_sender()
    await bot.settled()
    templates = [m for m in fake_twilio.messages if m["To"] == WALLY and m.get("ContentSid")]
    assert len(templates) == 1
    [row] = await bot.rows(
        "SELECT status, twilio_sid FROM outbox WHERE to_phone = :w AND kind = 'paid'", w=WALLY
    )
    assert tuple(row) == ("sent", templates[0]["sid"])


async def test_without_a_template_the_late_notice_is_not_sent_and_is_logged(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    clock = Clock()
    bot = await make(bot_factory, fake_twilio, clock)
    await room_with_wally(bot, fake_twilio)
    clock.now += DAY + 60
    with capture_logs() as logs:
        before = len(fake_twilio.messages)
        form = await bot.text("\\PAID Wally 5", sender=ALICE)
        await bot.handled(form["MessageSid"])
        await fake_twilio.wait_for_messages(before + 1)  # ALICE's answer
        await bot.settled()
    assert [m["To"] for m in fake_twilio.messages[before:]] == [ALICE]
    [row] = await bot.rows("SELECT status, error FROM outbox WHERE to_phone = :w AND kind = 'paid'", w=WALLY)
    assert tuple(row) == ("skipped", "outside the 24-hour window; no template")
    assert [e["kind"] for e in logs if e["event"] == "whatsapp.not_sent"] == ["paid"]


async def test_without_a_template_a_paired_persons_late_notice_goes_to_their_sms_number(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Wally started on WhatsApp and paired his SMS number. A day after his last message, on
    WhatsApp, with no template for the kind, Alice's \\PAID notice was skipped at WhatsApp and he
    heard of it nowhere. It goes to the SMS number now (once; the WhatsApp row stays skipped and
    logged). (Had he written by SMS since, the notice would go there at once.)"""
    clock = Clock()
    bot = await make(bot_factory, fake_twilio, clock)
    await room_with_wally(bot, fake_twilio)
    sms = "+15550007777"
    offer = await say(bot, fake_twilio, "\\PAIR", WALLY)
    code = offer["Body"].split("Your code: ", 1)[1][:6]
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sms))["Body"].startswith("Paired:")
    await say(bot, fake_twilio, "\\ROOMS", WALLY)  # the address he last wrote from
    clock.now += DAY + 60
    with capture_logs() as logs:
        before = len(fake_twilio.messages)
        form = await bot.text("\\PAID Wally 5", sender=ALICE)
        await bot.handled(form["MessageSid"])
        await fake_twilio.wait_for_messages(before + 2)  # ALICE's answer, the notice
        await bot.settled()
    late = [m for m in fake_twilio.messages[before:] if m["To"] != ALICE]
    assert [(m["To"], m["Body"]) for m in late] == [
        (sms, "+1******1111 paid you $5.00 in house. \\BALANCE house for all.")
    ]
    rows = await bot.rows("SELECT to_phone, status FROM outbox WHERE kind = 'paid' ORDER BY id")
    assert [tuple(r) for r in rows] == [(WALLY, "skipped"), (sms, "sent")]
    [logged] = [e for e in logs if e["event"] == "whatsapp.not_sent"]
    assert logged["kind"] == "paid"


@pytest.mark.parametrize("template", [True, False], ids=["then-its-template", "then-nothing"])
async def test_twilios_63016_is_handled_as_outside_the_window_never_in_a_loop(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, template: bool
) -> None:
    """Our inbox says Wally wrote within 24 hours, WhatsApp says the window is closed (63016):
    the notice goes once as its template, or is not sent; it is never retried as text."""
    clock = Clock()
    templates = {"paid": PAID_TEMPLATE} if template else {}
    bot = await make(bot_factory, fake_twilio, clock, whatsapp_templates=templates)
    await room_with_wally(bot, fake_twilio)
    fake_twilio.failures_to[WALLY] = [Failure(400, 63016, None)]
    before, requests = len(fake_twilio.messages), fake_twilio.requests
    form = await bot.text("\\PAID Wally 5", sender=ALICE)
    await bot.handled(form["MessageSid"])
    await bot.settled()
    to_wally = [m for m in fake_twilio.messages[before:] if m["To"] == WALLY]
    [row] = await bot.rows(
        "SELECT status, attempts FROM outbox WHERE to_phone = :w AND kind = 'paid'", w=WALLY
    )
    if template:
        assert [m.get("ContentSid") for m in to_wally] == [PAID_TEMPLATE]
        assert row[0] == "sent"
    else:
        assert to_wally == []
        assert row[0] == "skipped"
    assert fake_twilio.requests - requests == (
        3 if template else 2
    )  # ALICE's answer, the refused text[, the template]


@pytest.mark.parametrize("template", [True, False], ids=["then-its-template", "then-nothing"])
async def test_63016_in_a_status_callback_is_outside_the_window_too(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, template: bool
) -> None:
    """Twilio takes the text (201) and WhatsApp refuses it after: the 63016 comes in the status
    callback. The notice then goes once as its template, or is logged as not sent; a second
    callback for it queues nothing more."""
    clock = Clock()
    templates = {"paid": PAID_TEMPLATE} if template else {}
    bot = await make(bot_factory, fake_twilio, clock, whatsapp_templates=templates)
    await room_with_wally(bot, fake_twilio)
    before = len(fake_twilio.messages)
    form = await bot.text("\\PAID Wally 5", sender=ALICE)
    await bot.handled(form["MessageSid"])
    await bot.settled()
    [notice] = [m for m in fake_twilio.messages[before:] if m["To"] == WALLY]
    assert "Body" in notice  # as text: by our count Wally wrote a moment ago
    sid = await bot.scalar("SELECT twilio_sid FROM outbox WHERE to_phone = :w AND kind = 'paid'", w=WALLY)
    callback = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016"}
    with capture_logs() as logs:
        for _ in range(2):  # Twilio may call twice
            resp = await bot.post(callback, path="/twilio/status")
            assert resp.status == 200, await resp.text()
        bot.runtime.deps.wake_sender()
        await bot.settled()
    again = [m for m in fake_twilio.messages[before:] if m["To"] == WALLY][1:]
    rows = await bot.rows(
        "SELECT status, error_code FROM outbox WHERE to_phone = :w AND kind = 'paid' ORDER BY id", w=WALLY
    )
    assert [tuple(r) for r in rows] == [("sent", "63016"), ("sent" if template else "skipped", "63016")]
    if template:
        assert [m.get("ContentSid") for m in again] == [PAID_TEMPLATE]
    else:
        assert again == []
        assert [e["kind"] for e in logs if e["event"] == "whatsapp.not_sent"] == ["paid"]
    assert [e.get("requeued_as_template") for e in logs if e["event"] == "whatsapp.outside_window"] == [
        "paid",
        None,
    ]
    if template:  # the template itself failing so too is not sent again (it went again each time)
        resend = await bot.scalar(
            "SELECT twilio_sid FROM outbox WHERE to_phone = :w AND kind = 'paid' ORDER BY id DESC", w=WALLY
        )
        resp = await bot.post({**callback, "MessageSid": resend}, path="/twilio/status")
        assert resp.status == 200
        bot.runtime.deps.wake_sender()
        await bot.settled()
        assert (
            await bot.scalar("SELECT count(*) FROM outbox WHERE to_phone = :w AND kind = 'paid'", w=WALLY)
            == 2
        )


async def wally_paired_with_sms(bot_factory: BotFactory, fake_twilio: FakeTwilio) -> tuple[Bot, str]:
    """Wally (WhatsApp) in house, paired with an SMS number: the bot and that number."""
    bot = await make(bot_factory, fake_twilio, Clock())
    await room_with_wally(bot, fake_twilio)
    sms = "+15550007777"
    offer = await say(bot, fake_twilio, "\\PAIR", WALLY)
    code = offer["Body"].split("Your code: ", 1)[1][:6]
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sms))["Body"].startswith("Paired:")
    return bot, sms


async def test_an_answer_refused_with_63016_in_a_status_callback_goes_to_the_paired_sms_number(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """An answer WhatsApp refused as outside the window (one sent late: the failure reply after a
    day of outage retries, a backlog) went to a paired person's SMS number when the 63016 came in
    the answer to the send, and nowhere, with no `whatsapp.not_sent`, when it came in the status
    callback, as WhatsApp sends it: it is handled the same way now."""
    bot, sms = await wally_paired_with_sms(bot_factory, fake_twilio)
    answer = await say(bot, fake_twilio, "\\ROOMS", WALLY)
    assert answer["Body"] == "Your rooms: house (active)."
    await bot.settled()  # the fake has the message before the sender has written its sid down
    sid = await bot.scalar(
        "SELECT twilio_sid FROM outbox WHERE to_phone = :w AND body = :b", w=WALLY, b=answer["Body"]
    )
    before = len(fake_twilio.messages)
    with capture_logs() as logs:
        callback = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016"}
        for _ in range(2):  # Twilio may call twice
            resp = await bot.post(callback, path="/twilio/status")
            assert resp.status == 200, await resp.text()
        bot.runtime.deps.wake_sender()
        await fake_twilio.wait_for_messages(before + 1)
        await bot.settled()
    assert [(m["To"], m["Body"]) for m in fake_twilio.messages[before:]] == [
        (sms, "Your rooms: house (active).")
    ]
    rows = await bot.rows("SELECT to_phone, status FROM outbox WHERE body = :b ORDER BY id", b=answer["Body"])
    assert [tuple(r) for r in rows] == [(WALLY, "sent"), (WALLY, "skipped"), (sms, "sent")]
    assert [e["instead"] for e in logs if e["event"] == "whatsapp.not_sent"] == ["+1******7777"]


async def test_a_stops_confirmation_refused_with_63016_goes_nowhere_else(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """ "You will get no more messages from textwire here", refused by WhatsApp, is not sent to the
    person's paired SMS number instead: there it would say the opposite of what it did."""
    bot, sms = await wally_paired_with_sms(bot_factory, fake_twilio)
    said = await say(bot, fake_twilio, "STOP", WALLY)
    assert said["Body"].startswith("You will get no more messages from textwire here.")
    await bot.settled()  # the fake has the message before the sender has written its sid down
    sid = await bot.scalar(
        "SELECT twilio_sid FROM outbox WHERE to_phone = :w AND kind = 'last-word'", w=WALLY
    )
    before = len(fake_twilio.messages)
    callback = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016"}
    resp = await bot.post(callback, path="/twilio/status")
    assert resp.status == 200, await resp.text()
    bot.runtime.deps.wake_sender()
    await bot.settled()
    assert fake_twilio.messages[before:] == []
    assert (
        await bot.scalar("SELECT count(*) FROM outbox WHERE to_phone = :s AND kind = 'last-word'", s=sms) == 0
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TEXTWIRE_TWILIO_WHATSAPP_FROM": "+14155238886"}, "twilio.whatsapp_from: expected whatsapp:+E164"),
        ({"TEXTWIRE_TWILIO_WHATSAPP_TEMPLATES": "bill=HX" + "1" * 32}, "unknown kind 'bill'"),
        (
            {"TEXTWIRE_TWILIO_WHATSAPP_TEMPLATES": "paid=nope"},
            "whatsapp_templates.paid: expected a ContentSid",
        ),
        ({"TEXTWIRE_TWILIO_WHATSAPP_TEMPLATES": "paid"}, "expected name=value pairs"),
    ],
    ids=["sender-without-prefix", "unknown-kind", "not-a-content-sid", "not-a-pair"],
)
def test_the_configuration_says_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(env={"TEXTWIRE_CONFIG": "", **env})


async def test_whatsapp_carries_bigger_documents_than_mms_but_not_bigger_photos(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Each channel states its media limits through the seam: a 6 MB PDF is kept from WhatsApp
    (documents up to 16 MB) and refused by MMS (5 MB a message); a 6 MB photo is refused on both."""
    bot = await make(bot_factory, fake_twilio, Clock())
    await room_with_wally(bot, fake_twilio)
    six_mb = 6 * 1024 * 1024
    big_pdf = images.pdf() + b"%" * (six_mb - len(images.pdf()))

    def media(data: bytes, ctype: str) -> dict[str, str]:
        url = fake_twilio.media.add(data, chunked=True)
        return {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": ctype}

    kept = await say_with(bot, fake_twilio, WALLY, media(big_pdf, "application/pdf"))
    assert kept.startswith("Saved to house"), kept
    refused = await say_with(bot, fake_twilio, ALICE, media(big_pdf, "application/pdf"))
    assert refused.endswith("was not saved: it is over 5 MB."), refused
    photo = await say_with(bot, fake_twilio, WALLY, media(images.big_jpeg_like(six_mb), "image/jpeg"))
    assert photo.endswith("was not saved: it is over 5 MB."), photo
    sizes = await bot.rows("SELECT channel, size FROM receipts")
    assert [tuple(r) for r in sizes] == [("whatsapp", len(big_pdf))]


async def say_with(bot: Bot, fake: FakeTwilio, sender: str, fields: dict[str, str]) -> str:
    before = len(fake.messages)
    form = await bot.text("", sender=sender, **fields)
    assert await bot.handled(form["MessageSid"]) == "done"
    return (await fake.wait_for_messages(before + 1))[before]["Body"]


async def test_the_development_log_masks_a_whatsapp_number_as_every_other_line(
    bot_factory: BotFactory,
) -> None:
    """In development mode a WhatsApp reply's `sms.sent.dev` line showed `wh***************9999`
    where every other line of the number shows `+1******9999`: a grep for the number missed it."""
    bot = await bot_factory()
    assert bot.config.dev_mode
    with capture_logs() as logs:
        await bot.text("\\HELP", sender=WALLY)

        async def sent() -> int:
            return int(await bot.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'"))

        await wait_for(sent)
    [received] = [e["sender"] for e in logs if e["event"] == "sms.received"]
    assert received == "+1******9999"
    assert [e["to"] for e in logs if e["event"] == "sms.sent.dev"] == [received]


@pytest.mark.parametrize(
    ("ctype", "named"),
    [("audio/ogg", "voice notes"), ("video/mp4", "videos"), ("text/vcard", "contacts")],
    ids=["voice-note", "video", "contact"],
)
async def test_a_voice_note_from_someone_in_no_room_is_refused_at_once_not_kept_for_a_room(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, ctype: str, named: str
) -> None:
    """A WhatsApp voice note (a video, a shared contact) from a person in no room was answered
    "Photos are kept in rooms: ... this photo goes there", and "Photo 1 was not saved" once they
    made a room. Twilio says what it is: refused at once, never downloaded, its copy deleted. It is
    answered as Telegram's is ("Photo 1 was not saved" spoke of a photo never sent)."""
    bot = await make(bot_factory, fake_twilio, Clock())
    url = fake_twilio.media.add(b"OggS\x00\x02" + b"\x00" * 64, ctype)
    answer = await say_with(
        bot, fake_twilio, WALLY, {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": ctype}
    )
    assert answer == (
        f"textwire does not read {named}. Send text, receipt photos or PDF files; \\HELP lists the commands."
    )
    assert [s.method for s in fake_twilio.media.seen] == ["DELETE"]
    created = await say(bot, fake_twilio, "\\CREATE house hunter22", WALLY)
    assert created["Body"].startswith("Created room house")
    await bot.settled()
    assert [m["Body"][:19] for m in fake_twilio.messages if m["To"] == WALLY][2:] == []
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0


@pytest.mark.parametrize(
    "ctype",
    [
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/zip",
        "application/msword; name=receipt.doc",
    ],
    ids=["docx", "zip", "doc"],
)
async def test_a_word_file_is_answered_as_a_file_at_once_not_kept_for_a_room(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, ctype: str
) -> None:
    """A Word file (a ZIP) sent on WhatsApp from a person in no room was told "Photos are kept in
    rooms: ... this photo goes there", then "Photo 1 was not saved: ..." once they made a room,
    about a photo they never sent; on Telegram the same file is "This file was not saved" at once.
    Twilio says what it is: refused at once, never downloaded, its copy at Twilio deleted."""
    bot = await make(bot_factory, fake_twilio, Clock())
    answer = "This file was not saved: only photos (JPEG, PNG, GIF, WebP, HEIC) and PDF files are kept."
    url = fake_twilio.media.add(b"PK\x03\x04" + b"\x00" * 64, ctype)
    fields = {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": ctype}
    assert await say_with(bot, fake_twilio, WALLY, fields) == answer
    assert [s.method for s in fake_twilio.media.seen] == ["DELETE"]
    created = await say(bot, fake_twilio, "\\CREATE house hunter22", WALLY)
    assert created["Body"].startswith("Created room house")
    await bot.settled()
    assert [m["Body"] for m in fake_twilio.messages if m["To"] == WALLY][2:] == []
    # in a room, the same
    url = fake_twilio.media.add(b"PK\x03\x04" + b"\x00" * 64, ctype)
    fields = {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": ctype}
    assert await say_with(bot, fake_twilio, WALLY, fields) == answer
    assert [s.method for s in fake_twilio.media.seen] == ["DELETE", "DELETE"]
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0


def _webp() -> bytes:
    picture = io.BytesIO()
    Image.new("RGBA", (512, 512), (255, 200, 0, 255)).save(picture, format="WEBP")
    return picture.getvalue()


async def test_a_sticker_is_answered_as_a_sticker_not_saved_as_a_receipt(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A sticker sent on WhatsApp (a thumbs-up after a \\PAID) comes as `image/webp`, a type
    Twilio uses on WhatsApp for stickers only (https://www.twilio.com/docs/whatsapp/guidance-whatsapp-media-messages,
    "Supported MIME Types"): it was saved to the room as a receipt ("it doesn't look like a
    receipt, so it is not counted"), shown in the gallery and the statement's photos to every
    member. It is answered as Telegram's sticker is, never downloaded, its copy deleted; a WebP
    photo by MMS is still a receipt."""
    bot = await make(bot_factory, fake_twilio, Clock())
    await say(bot, fake_twilio, "\\CREATE house hunter22", WALLY)
    url = fake_twilio.media.add(_webp(), "image/webp")
    fields = {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/webp"}
    assert await say_with(bot, fake_twilio, WALLY, fields) == (
        "textwire does not read stickers. Send text, receipt photos or PDF files; \\HELP lists the commands."
    )
    assert [s.method for s in fake_twilio.media.seen] == ["DELETE"]
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0
    await say(bot, fake_twilio, "\\JOIN house hunter22", ALICE)
    url = fake_twilio.media.add(_webp(), "image/webp")
    fields = {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": "image/webp", "Body": "12.50"}
    assert (await say_with(bot, fake_twilio, ALICE, fields)).startswith("Saved $12.50")
    assert await bot.scalar("SELECT count(*) FROM receipts") == 1


async def test_a_pdf_however_declared_is_still_judged_by_its_bytes(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A PDF a client declares as `application/x-pdf`, or a file declared as octet-stream, is
    fetched and judged by its bytes, as before: only documents of another kind are refused by name."""
    bot = await make(bot_factory, fake_twilio, Clock())
    await say(bot, fake_twilio, "\\CREATE house hunter22", WALLY)
    for ctype in ("application/x-pdf", "application/octet-stream"):
        url = fake_twilio.media.add(images.pdf(), ctype)
        fields = {"NumMedia": "1", "MediaUrl0": url, "MediaContentType0": ctype, "Body": "12.50"}
        assert (await say_with(bot, fake_twilio, WALLY, fields)).startswith("Saved ")
    assert await bot.scalar("SELECT count(*) FROM receipts") == 2


async def test_a_shared_location_is_answered_as_a_location_not_as_a_blank_text(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A location shared on WhatsApp comes with no Body and no media, only `Latitude` and
    `Longitude`: it was taken for a blank text ("Posting to X is not set up", or a link to connect
    X). It is answered as Telegram's is, in a room or not, and nothing is asked of Twilio."""
    bot = await make(bot_factory, fake_twilio, Clock())
    await say(bot, fake_twilio, "\\HELP", WALLY)
    where = {"Latitude": "40.7128", "Longitude": "-74.0060", "Address": "", "Label": ""}
    answer = (
        "textwire does not read locations. Send text, receipt photos or PDF files; \\HELP lists the commands."
    )
    assert await say_with(bot, fake_twilio, WALLY, where) == answer
    await say(bot, fake_twilio, "\\CREATE house hunter22", WALLY)
    assert await say_with(bot, fake_twilio, WALLY, where) == answer
    assert fake_twilio.media.seen == []
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0


@pytest.mark.parametrize("window", ["open", "closed"])
async def test_a_notice_to_an_sms_number_opted_out_at_the_carrier_goes_to_the_paired_whatsapp(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, window: str
) -> None:
    """Sam started on SMS and paired WhatsApp, where he writes now; his SMS number was opted out
    at the carrier (a STOP Twilio took, 21610). Alice's \\PAID notice went to his SMS number, was
    refused, and reached him nowhere: the other address it was passed on to had to take text at
    any time, and WhatsApp was never one, even within his 24 hours (notices after it went there
    already). It goes to his WhatsApp now, free-form within the window; outside it with no
    template, it is skipped and logged, and passed on no further."""
    clock = Clock()
    bot = await make(bot_factory, fake_twilio, clock)
    sam = "+15550006666"
    await say(bot, fake_twilio, "\\CREATE house hunter22", sam)
    await say(bot, fake_twilio, "\\NAME Sam", sam)
    await say(bot, fake_twilio, "\\JOIN house hunter22", ALICE)
    offer = await say(bot, fake_twilio, "\\PAIR", sam)
    code = offer["Body"].split("Your code: ", 1)[1][:6]
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", WALLY))["Body"].startswith("Paired:")
    if window == "closed":
        clock.now += DAY + 60
    fake_twilio.opted_out.add(sam)
    with capture_logs() as logs:
        before = len(fake_twilio.messages)
        form = await bot.text("\\PAID Sam 5", sender=ALICE)
        await bot.handled(form["MessageSid"])
        await fake_twilio.wait_for_messages(before + (2 if window == "open" else 1))

        async def passed_on() -> bool:
            # the refused notice is marked failed in one commit and passed on in the next (then
            # logged): the outbox is idle for a moment between the two, so `settled` alone could
            # end this block before the passing on (once in a suite run under load)
            rows = await bot.rows("SELECT status FROM outbox WHERE kind = 'paid' ORDER BY id")
            return len(rows) == 2 and rows[1][0] in ("sent", "skipped")

        await wait_for(passed_on)
        await bot.settled()
    notice = "+1******1111 paid you $5.00 in house. \\BALANCE house for all."
    late = [(m["To"], m["Body"]) for m in fake_twilio.messages[before:] if m["To"] != ALICE]
    rows = await bot.rows("SELECT to_phone, status FROM outbox WHERE kind = 'paid' ORDER BY id")
    [carrier] = [e for e in logs if e["event"] == "sms.opted_out_at_carrier"]
    assert carrier["instead"] == "+1******9999"
    if window == "open":
        assert late == [(WALLY, notice)]
        assert [tuple(r) for r in rows] == [(sam, "failed"), (WALLY, "sent")]
    else:
        assert late == []
        assert [tuple(r) for r in rows] == [(sam, "failed"), (WALLY, "skipped")]
        [skipped] = [e for e in logs if e["event"] == "whatsapp.not_sent"]
        assert skipped["instead"] is None


async def test_a_whatsapp_member_without_a_name_goes_by_their_whatsapp_profile_name(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Twilio sends a WhatsApp sender's profile name (`ProfileName`) with each message. Members on
    WhatsApp with no `\\NAME` were shown to their rooms by their masked number, while members on
    Telegram are shown by their first name: they are shown by their profile name now (kept up to
    date), and `\\PAID` takes it; a name `\\NAME` would refuse is not shown, and a `\\NAME` wins."""
    bot = await make(bot_factory, fake_twilio, Clock())

    async def wally(body: str, profile: str) -> str:
        before = len(fake_twilio.messages)
        form = await bot.text(body, sender=WALLY, ProfileName=profile)
        assert await bot.handled(form["MessageSid"]) == "done"
        await bot.settled()
        return str(next(m for m in fake_twilio.messages[before:] if m["To"] == WALLY)["Body"])

    assert "house" in await wally("\\CREATE house hunter22", "  Wally   West ")
    await say(bot, fake_twilio, "\\JOIN house hunter22", ALICE)
    paid = (await say(bot, fake_twilio, "\\PAID wally west 10", ALICE))["Body"]
    assert "Wally West" in paid, paid
    balance = (await say(bot, fake_twilio, "\\BALANCE", ALICE))["Body"]
    assert "Wally West pays" in balance, balance
    await wally("\\HELP", "\U0001f30a Вэлли")  # renamed: not a name an SMS can show
    balance = (await say(bot, fake_twilio, "\\BALANCE", ALICE))["Body"]
    assert "Wally West" not in balance, balance
    assert "***9999" in balance, balance
    await wally("\\HELP", "Wally")
    assert "Wally pays" in (await say(bot, fake_twilio, "\\BALANCE", ALICE))["Body"]
    await wally("\\NAME Flash", "Wally")  # a \NAME wins
    assert "Flash pays" in (await say(bot, fake_twilio, "\\BALANCE", ALICE))["Body"]
    # an SMS sender's form carries no profile name, and one would not be read
    form = await bot.text("\\HELP", ProfileName="Mallory")
    assert await bot.handled(form["MessageSid"]) == "done"
    assert (
        await bot.scalar("SELECT sender_name FROM inbox WHERE message_sid = :s", s=form["MessageSid"]) is None
    )


async def test_a_63016_that_comes_before_the_sid_is_recorded_is_applied_once_it_is(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Twilio may call back as soon as it has taken a message, before the sender has committed the
    sid Twilio answered with. Such a callback matched no reply and was answered 200 (Twilio does
    not send it again): the notice refused with 63016 was never sent as its template. It is kept,
    and applied once the reply has its sid; one about no reply of ours is forgotten after an
    hour."""
    clock = Clock()
    bot = await make(bot_factory, fake_twilio, clock, whatsapp_templates={"paid": PAID_TEMPLATE})
    await room_with_wally(bot, fake_twilio)
    assert "twilio-early-statuses" in bot.runtime.scheduler.job_ids
    before = len(fake_twilio.messages)
    answered = fake_twilio.hold_to[WALLY] = asyncio.Event()  # taken, its answer not given yet
    form = await bot.text("\\PAID Wally 5", sender=ALICE)
    await bot.handled(form["MessageSid"])

    def notices() -> list[dict[str, str]]:
        return [m for m in fake_twilio.messages[before:] if m["To"] == WALLY]

    async def taken() -> list[dict[str, str]]:
        return notices()

    await wait_for(taken)
    sid = notices()[0]["sid"]
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE twilio_sid = :s", s=sid) == 0
    callback = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "63016"}
    with capture_logs() as logs:
        assert (await bot.post(callback, path="/twilio/status")).status == 200
        # nothing to apply yet: the reply has no sid
        await status.catch_up(bot.runtime.deps)
    said = ("sms.status", "whatsapp.outside_window", "sms.opted_out_at_carrier")
    assert [(e["event"], e.get("kept")) for e in logs if e["event"] in said] == [("sms.status", True)]
    assert await bot.scalar("SELECT count(*) FROM early_statuses") == 1
    del fake_twilio.hold_to[WALLY]
    answered.set()
    await wait_for(lambda: bot.scalar("SELECT id FROM outbox WHERE twilio_sid = :s", s=sid))
    with capture_logs() as logs:
        await status.catch_up(bot.runtime.deps)
        bot.runtime.deps.wake_sender()
        await bot.settled()
    assert [e.get("requeued_as_template") for e in logs if e["event"] == "whatsapp.outside_window"] == [
        "paid"
    ]
    assert [e.get("late") for e in logs if e["event"] == "sms.status"] == [True]
    assert [m.get("ContentSid") for m in notices()] == [None, PAID_TEMPLATE]
    assert (
        await bot.scalar("SELECT delivery_status FROM outbox WHERE twilio_sid = :s", s=sid) == "undelivered"
    )
    assert await bot.scalar("SELECT count(*) FROM early_statuses") == 0
    await status.catch_up(bot.runtime.deps)  # applied once: nothing more is queued
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE to_phone = :w AND kind = 'paid'", w=WALLY) == 2

    # a callback about a message no reply of ours took: kept an hour, then forgotten
    stray = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    assert (await bot.post(stray, path="/twilio/status")).status == 200
    await status.catch_up(bot.runtime.deps)
    assert await bot.scalar("SELECT count(*) FROM early_statuses") == 1
    clock.now += outbox.EARLY_KEEP_SECONDS + 1
    with capture_logs() as logs:
        await status.catch_up(bot.runtime.deps)
    assert [e["count"] for e in logs if e["event"] == "sms.status_unmatched"] == [1]
    assert await bot.scalar("SELECT count(*) FROM early_statuses") == 0
