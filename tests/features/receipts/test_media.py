"""MMS receipts: fetched from (a local fake of) Twilio with credentials only there, redirected to
its CDN without them, judged by their bytes, cleaned of metadata, stored in S3 (moto over HTTP),
recorded once, and deleted at Twilio."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import sys
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image, ImageDraw
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from bot.channels.twilio.segments import fits_one_segment
from bot.features.receipts import cleanup as media_jobs
from bot.features.receipts.media import (
    BROKEN,
    TOO_MANY_PIXELS,
    Refused,
    dhash,
    find_twin,
    reencode,
    same_picture,
    sniff,
    too_big,
)
from handlers.media import NO_ROOM, STORE_WAIT
from storage.media import LocalMediaStore, StoreUnavailable
from storage.receipts import Earlier
from tests import images
from tests.conftest import ALICE, BOB, Bot, BotFactory, new_sid, wait_for
from tests.fakes.hung import hung_server
from tests.fakes.s3 import Bucket, s3_sections, start_moto
from tests.fakes.twilio_media import Recorder
from tests.fakes.twilio_rest import FakeTwilio
from tests.ports import free_port

KEY = re.compile(r"^rooms/([0-9a-f-]{36})/receipts/([0-9a-f-]{36})\.(jpg|png|gif|webp|pdf)$")


async def say(bot: Bot, fake: FakeTwilio, body: str, sender: str = ALICE, **extra: str) -> str:
    before = len(fake.messages)
    form = await bot.text(body, sender=sender, **extra)
    assert await bot.handled(form["MessageSid"]) == "done"
    messages = await fake.wait_for_messages(before + 1)
    return messages[before]["Body"]


def mms(urls: list[str], claimed: list[str] | None = None) -> dict[str, str]:
    """The media fields of an MMS webhook."""
    fields = {"NumMedia": str(len(urls))}
    for n, url in enumerate(urls):
        fields[f"MediaUrl{n}"] = url
        fields[f"MediaContentType{n}"] = (claimed or [])[n] if claimed else "image/jpeg"
    return fields


@pytest.fixture
async def s3_bot(bot_factory: BotFactory, fake_twilio: FakeTwilio, s3_bucket: Bucket) -> Bot:
    return await bot_factory(**s3_sections(fake_twilio, s3_bucket.endpoint, s3_bucket.name))


async def test_an_mms_of_three_photos_lands_in_s3_clean(
    s3_bot: Bot, fake_twilio: FakeTwilio, s3_bucket: Bucket
) -> None:
    bot = s3_bot
    await say(bot, fake_twilio, "\\CREATE house pw")
    room_id = await bot.scalar("SELECT id FROM rooms")
    sid = new_sid("MM")
    originals = [images.jpeg_with_gps(), images.png_with_text(), images.heic_with_gps()]
    urls = [
        fake_twilio.media.add(data, ctype, message_sid=sid)
        for data, ctype in zip(originals, ["image/jpeg", "image/png", "image/heic"], strict=True)
    ]
    before = len(fake_twilio.messages)
    form = bot.form("Lunch at Mario's", sid=sid, **mms(urls))
    assert (await bot.post(form)).status == 200
    assert await bot.handled(sid) == "done"
    [reply] = (await fake_twilio.wait_for_messages(before + 1))[before:]
    assert (
        reply["Body"]
        == "Saved 3 receipts to house. No total on photos 1, 2, 3: reply \\AMOUNT 12.34 for each, in order."
    )

    keys = await s3_bucket.keys()
    assert len(keys) == 3
    rows = await bot.rows("SELECT * FROM receipts ORDER BY media_index")
    assert [r.media_index for r in rows] == [0, 1, 2]
    assert sorted(r.object_key for r in rows) == keys
    expected_types = ["image/jpeg", "image/png", "image/jpeg"]  # HEIC is stored as JPEG
    alice = await bot.scalar("SELECT id FROM users WHERE phone = :p", p=ALICE)
    for row, ctype in zip(rows, expected_types, strict=True):
        match = KEY.match(row.object_key)
        assert match, row.object_key
        assert match.group(1) == room_id
        assert match.group(2) == row.id
        assert match.group(3) == {"image/jpeg": "jpg", "image/png": "png"}[ctype]
        data, head = await s3_bucket.get(row.object_key)
        assert head["ContentType"] == ctype == row.content_type
        assert head["ServerSideEncryption"] == "AES256"
        assert row.size == len(data)
        assert row.sha256 == hashlib.sha256(data).hexdigest()
        assert row.message_sid == sid
        assert row.uploader_id == alice
        assert row.uploader_phone_masked == "+1******1111"
        assert row.caption == "Lunch at Mario's"
        assert row.twilio_deleted_at is not None
        with Image.open(io.BytesIO(data)) as stored:
            assert not stored.getexif(), "EXIF left in the stored image"
            assert "exif" not in stored.info
            assert "xmp" not in stored.info
            assert "Comment" not in stored.info
        assert b"Exif\x00\x00" not in data
        assert b"PhoneMaker" not in data
        assert b"12 Main Street" not in data

    # the JPEG was on its side (orientation 6): stored upright, so width and height swapped
    jpeg, _ = await s3_bucket.get(rows[0].object_key)
    with Image.open(io.BytesIO(jpeg)) as upright:
        assert upright.size == (48, 64)
    # deleted at Twilio, credentials only ever sent to the API host, never to the CDN
    assert sorted(fake_twilio.media.deleted) == sorted(u.rsplit("/", 1)[1] for u in urls)
    assert fake_twilio.media.authorizations_seen("cdn") == [None, None, None]
    api_auth = fake_twilio.media.authorizations_seen("api")
    assert len(api_auth) == 6  # 3 GETs and 3 DELETEs
    assert all(a and a.startswith("Basic ") for a in api_auth)


async def test_the_same_mms_twice_stores_three_objects_not_six(
    s3_bot: Bot, fake_twilio: FakeTwilio, s3_bucket: Bucket
) -> None:
    bot = s3_bot
    await say(bot, fake_twilio, "\\CREATE house pw")
    sid = new_sid("MM")
    urls = [fake_twilio.media.add(images.jpeg_with_gps(), message_sid=sid) for _ in range(3)]
    form = bot.form("", sid=sid, **mms(urls))
    for _ in range(2):
        assert (await bot.post(form)).status == 200
    assert await bot.handled(sid) == "done"
    assert len(await s3_bucket.keys()) == 3
    assert await bot.scalar("SELECT count(*) FROM receipts") == 3
    assert await bot.scalar("SELECT count(*) FROM inbox") == 2  # the \CREATE and this MMS
    gets = len([s for s in fake_twilio.media.seen if s.method == "GET"])

    # handled again (a retry after a crash, a lease run out): nothing fetched or stored twice
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(
            sa.text("UPDATE inbox SET status = 'pending', done_at = NULL WHERE message_sid = :sid"),
            {"sid": sid},
        )
    bot.runtime.worker.wake()
    assert await bot.handled(sid) == "done"
    assert len(await s3_bucket.keys()) == 3
    assert await bot.scalar("SELECT count(*) FROM receipts") == 3
    assert len([s for s in fake_twilio.media.seen if s.method == "GET"]) == gets


async def test_bad_items_are_refused_by_name_and_the_rest_saved(
    s3_bot: Bot, fake_twilio: FakeTwilio, s3_bucket: Bucket, aiohttp_server: Any
) -> None:
    bot = s3_bot
    foreign = Recorder(body=images.jpeg_with_gps())
    server = await aiohttp_server(foreign.app())
    foreign.base = str(server.make_url("")).rstrip("/")
    await say(bot, fake_twilio, "\\CREATE house pw")
    sid = new_sid("MM")
    media = fake_twilio.media
    foreign_path = f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages/{sid}/Media/ME{'1' * 32}"
    urls = [
        foreign.base + foreign_path,  # 1: a URL on another host
        media.add(images.jpeg_with_gps(), message_sid=sid, redirect_to=foreign.base + "/cdn/x"),  # 2
        media.add(images.big_jpeg_like(6 * 1024 * 1024), message_sid=sid),  # 3: 6 MB
        media.add(images.HTML, "image/jpeg", message_sid=sid),  # 4: HTML that claims to be a JPEG
        media.add(images.png_bomb(), "image/png", message_sid=sid),  # 5: a decompression bomb
        media.add(b"\xff\xd8\xff\xe0broken jpeg data" * 10, message_sid=sid),  # 6: broken
        media.add(images.jpeg_with_gps(), message_sid=sid),  # 7: fine
        media.add(images.pdf(), "application/pdf", message_sid=sid),  # 8: a PDF, kept as is
    ]
    before = len(fake_twilio.messages)
    with capture_logs(processors=[merge_contextvars]) as logs:
        assert (await bot.post(bot.form("", sid=sid, **mms(urls)))).status == 200
        assert await bot.handled(sid) == "done"
    reply = (await fake_twilio.wait_for_messages(before + 1))[before]["Body"]
    # one segment: six reasons in full would take three, so they are said in a few words
    assert reply == (
        "Saved 2 receipts to house. No total on photos 7, 8: reply \\AMOUNT 12.34 for each, in order. "
        "6 photos not saved: not photos, too big or damaged."
    )
    rows = await bot.rows("SELECT media_index, content_type FROM receipts ORDER BY media_index")
    assert [(r.media_index, r.content_type) for r in rows] == [(6, "image/jpeg"), (7, "application/pdf")]
    pdf_key = await bot.scalar("SELECT object_key FROM receipts WHERE media_index = 7")
    assert (await s3_bucket.get(pdf_key))[0] == images.pdf()
    assert len(await s3_bucket.keys()) == 2
    # no request at all reached the other host, so no credentials either
    assert foreign.seen == []
    assert fake_twilio.media.authorizations_seen("cdn") == [None] * 6  # items 3-8 went to the CDN
    refused = [e["item"] for e in logs if e["event"] == "media.refused"]
    assert refused == [1, 2, 3, 4, 5, 6]
    # what was not kept is deleted at Twilio as what was kept is: none of it stays there; the
    # foreign URL is not Twilio's to ask
    assert sorted(fake_twilio.media.deleted) == sorted(url.rsplit("/", 1)[1] for url in urls[1:])
    assert [e["item"] for e in logs if e["event"] == "media.refused_deleted"] == [2, 3, 4, 5, 6]
    # the worker is still healthy: the next message is handled
    assert await say(bot, fake_twilio, "\\ROOMS") == "Your rooms: house (active)."


NOT_IN_ROOM = (
    "You are not in a room. Create one with \\CREATE <room> <password> or join one with "
    "\\JOIN <room> <password>."
)


async def _parked(bot: Bot, sid: str) -> None:
    async def parked() -> bool:
        status = await bot.scalar("SELECT status FROM inbox WHERE message_sid = :sid", sid=sid)
        return status == "parked"

    await wait_for(parked)


async def test_photos_before_any_room_go_to_the_room_the_person_then_makes(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A newcomer's first photo, sent before they were in any room, was dropped ("send the photos
    again"): they had to find it and send it a second time. It waits 10 minutes for a room: the
    room they make (or join) takes it, and the texts they send meanwhile are answered at once."""
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    url = fake_twilio.media.add(images.jpeg_with_gps())
    form = await bot.text("dinner $24.50", **mms([url]))
    notice = (await fake_twilio.wait_for_messages(1))[0]["Body"]
    assert notice == (
        "Photos are kept in rooms: \\CREATE <room> <password> or \\JOIN <room> <password> within "
        "10 minutes and this photo goes there."
    )
    assert fits_one_segment(notice)
    await _parked(bot, form["MessageSid"])
    assert fake_twilio.media.seen == []  # nothing fetched, nothing deleted yet
    assert await say(bot, fake_twilio, "\\ROOMS") == NOT_IN_ROOM  # not held up behind the photo
    now[0] += 300
    create = await bot.text("\\CREATE house pw")
    assert await bot.handled(create["MessageSid"]) == "done"
    assert await bot.handled(form["MessageSid"]) == "done"
    # the two answers, in either order: the photo may be taken up before "Created" is sent
    answers = sorted(m["Body"][:22] for m in (await fake_twilio.wait_for_messages(4))[2:])
    assert answers == ["Created room house; ph", "Saved $24.50 to house:"], answers
    assert await bot.scalar("SELECT caption FROM receipts") == "dinner $24.50"
    assert fake_twilio.media.deleted == [url.rsplit("/", 1)[1]]  # kept here now, so gone at Twilio
    # a second photo goes straight in
    assert (
        await say(bot, fake_twilio, "$3.00", **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    ).startswith("Saved $3.00 to house")


async def test_photos_that_waited_10_minutes_for_a_room_go_unsaid(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """No room came within 10 minutes: the photo is not kept (its copy at Twilio goes) and nothing
    more is said: the person was told when it came. A room made later does not take it."""
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    url = fake_twilio.media.add(images.jpeg_with_gps())
    form = await bot.text("", **mms([url]))
    await fake_twilio.wait_for_messages(1)
    await _parked(bot, form["MessageSid"])
    now[0] += 601
    assert await bot.handled(form["MessageSid"]) == "done"  # the worker's poll finds it due
    assert fake_twilio.media.deleted == [url.rsplit("/", 1)[1]]
    assert [seen.method for seen in fake_twilio.media.seen] == ["DELETE"]  # never fetched
    await bot.settled()
    assert len(fake_twilio.messages) == 1  # the notice alone
    assert (await say(bot, fake_twilio, "\\CREATE house pw")).startswith("Created room house")
    await bot.settled()
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0
    assert len(fake_twilio.messages) == 2


async def test_photos_first_handled_after_10_minutes_say_how_to_get_a_room(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A photo handled for the first time 10 minutes after it came (the worker was away) was never
    told to wait: it gets the answer of old (send it again once in a room)."""
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await bot.runtime.worker.stop()  # away
    url = fake_twilio.media.add(images.jpeg_with_gps())
    form = await bot.text("", **mms([url]))
    now[0] += 601
    await bot.runtime.worker.start()  # back, 10 minutes on
    assert await bot.handled(form["MessageSid"]) == "done"
    assert (await fake_twilio.wait_for_messages(1))[0]["Body"] == NO_ROOM
    assert [seen.method for seen in fake_twilio.media.seen] == ["DELETE"]  # nothing fetched
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0
    assert fake_twilio.media.deleted == [url.rsplit("/", 1)[1]]


async def test_a_photo_with_a_command_in_no_room_says_both_at_once(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\JOIN house pw` as a photo's caption is not run (a password in a caption): the person is
    told so, and how photos are kept, in one answer, as before; the photo is not kept."""
    url = fake_twilio.media.add(images.jpeg_with_gps())
    form = await bot.text("\\JOIN house pw", **mms([url]))
    assert await bot.handled(form["MessageSid"]) == "done"
    bodies = [m["Body"] for m in await fake_twilio.wait_for_messages(2)]
    assert bodies[0] == NO_ROOM
    assert bodies[1].startswith("\\JOIN was not run")


async def test_a_photo_on_the_local_backend_and_the_singular_reply(bot: Bot, fake_twilio: FakeTwilio) -> None:
    await say(bot, fake_twilio, "\\CREATE house pw")
    url = fake_twilio.media.add(images.heic_with_gps(), "image/heic")
    assert (
        await say(bot, fake_twilio, "dinner", **mms([url]))
        == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    key = await bot.scalar("SELECT object_key FROM receipts")
    assert key.endswith(".jpg")
    stored = (bot.config.data_dir / "media" / key).read_bytes()
    assert stored.startswith(b"\xff\xd8\xff")
    assert await bot.scalar("SELECT sha256 FROM receipts") == hashlib.sha256(stored).hexdigest()


async def test_s3_down_on_the_first_attempt_is_stored_on_a_retry(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, aws_env: None
) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    name = f"late-bucket-{secrets.token_hex(4)}"  # moto keeps buckets per process: the other half's too
    bot = await bot_factory(**s3_sections(fake_twilio, endpoint, name))
    assert (await bot.client.get("/readyz")).status == 503  # the store is down, the app is up
    await say(bot, fake_twilio, "\\CREATE house pw")
    sid = new_sid("MM")
    urls = [fake_twilio.media.add(images.jpeg_with_gps(), message_sid=sid) for _ in range(2)]
    before = len(fake_twilio.messages)
    assert (await bot.post(bot.form("", sid=sid, **mms(urls)))).status == 200

    async def retried() -> bool:
        error = await bot.scalar("SELECT error FROM inbox WHERE message_sid = :sid", sid=sid)
        return bool(error and error.startswith("media store"))

    await wait_for(retried)
    assert await bot.scalar("SELECT status FROM inbox WHERE message_sid = :sid", sid=sid) in (
        "parked",
        "processing",
    )
    assert fake_twilio.media.deleted == []  # nothing deleted at Twilio before it is stored
    # the person is told it waits (sent after the retry's commit: awaited, or it could come after
    # the \\HELP below was asked and be taken for its answer)
    assert (await fake_twilio.wait_for_messages(before + 1))[before]["Body"] == STORE_WAIT
    # it waits aside: the sender's next texts are answered meanwhile (they waited behind it, up to
    # worker.outage_retry_hours, with no answer at all)
    assert (await say(bot, fake_twilio, "\\HELP")).startswith("textwire:")
    server, _ = start_moto(port)
    try:
        bucket = Bucket(endpoint, name)
        bucket.create()
        assert await bot.handled(sid) == "done"
        assert len(await bucket.keys()) == 2
        assert await bot.scalar("SELECT count(*) FROM receipts") == 2
        assert (await bot.client.get("/readyz")).status == 200
        assert len(fake_twilio.media.deleted) == 2
    finally:
        await bot.client.close()
        server.stop()


@pytest.mark.usefixtures("aws_env")
async def test_a_store_that_takes_the_photo_and_never_answers_sets_it_aside(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3 endpoint that takes the connection and never answers (a hung proxy, a frozen
    gateway) held the photo for good: botocore waits for `100 Continue` with no timeout, so it
    was never set aside, the person heard nothing, and their later texts, `\\HELP` included,
    waited behind it. A put not done within PUT_SECONDS is the store down."""
    from storage import media as media_store

    monkeypatch.setattr(media_store, "PUT_SECONDS", 1.0, raising=False)
    async with hung_server() as port:
        bot = await bot_factory(**s3_sections(fake_twilio, f"http://127.0.0.1:{port}", "receipts"))
        await say(bot, fake_twilio, "\\CREATE house pw")
        sid = new_sid("MM")
        url = fake_twilio.media.add(images.jpeg_with_gps(), message_sid=sid)
        before = len(fake_twilio.messages)
        assert (await bot.post(bot.form("lunch 12.50", sid=sid, **mms([url])))).status == 200
        await fake_twilio.wait_for_messages(before + 1, timeout=30.0)
        assert fake_twilio.messages[before]["Body"] == STORE_WAIT
        assert await bot.scalar("SELECT error FROM inbox WHERE message_sid = :sid", sid=sid) == (
            "media store: s3 put: TimeoutError"
        )
        assert (await say(bot, fake_twilio, "\\HELP")).startswith("textwire:")
        assert fake_twilio.media.deleted == []


async def test_a_twilio_media_outage_keeps_the_message_for_a_retry(bot: Bot, fake_twilio: FakeTwilio) -> None:
    await say(bot, fake_twilio, "\\CREATE house pw")
    sid = new_sid("MM")
    urls = [fake_twilio.media.add(images.jpeg_with_gps(), message_sid=sid) for _ in range(2)]
    fake_twilio.media.fetch_failures.extend([503])  # the first GET fails
    assert (await bot.post(bot.form("", sid=sid, **mms(urls)))).status == 200
    assert await bot.handled(sid) == "done"
    assert await bot.scalar("SELECT attempts FROM inbox WHERE message_sid = :sid", sid=sid) == 2
    assert await bot.scalar("SELECT count(*) FROM receipts") == 2


async def test_a_photo_twilio_does_not_have_yet_is_fetched_again(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Twilio's media URL can answer 404 for a moment after the webhook names it (the item is not
    at the media host yet; twilio-node #636). The photo was refused at once ("Twilio could not give
    it to us") and its copy at Twilio deleted, so the receipt was lost for good. A 404 within
    MEDIA_SETTLE_SECONDS of the message's arrival is tried again, in the sender's order."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    sid = new_sid("MM")
    url = fake_twilio.media.add(images.jpeg_with_gps(), message_sid=sid)
    fake_twilio.media.fetch_failures.extend([404, 404])  # not there yet, twice
    before = len(fake_twilio.messages)
    assert (await bot.post(bot.form("lunch 12.50", sid=sid, **mms([url])))).status == 200
    amount = await bot.text("\\AMOUNT 13.75")  # sent right after: about this photo
    assert await bot.handled(sid) == "done"
    assert await bot.handled(amount["MessageSid"]) == "done"
    replies = [m["Body"] for m in await fake_twilio.wait_for_messages(before + 2)]
    assert replies[before].startswith("Saved $12.50 to house"), replies[before:]
    assert "13.75" in replies[before + 1], replies[before:]
    assert await bot.scalar("SELECT attempts FROM inbox WHERE message_sid = :sid", sid=sid) == 3
    assert await bot.scalar("SELECT amount_minor FROM receipts") == 1375
    assert fake_twilio.media.deleted == [url.rsplit("/", 1)[1]]  # once stored


async def test_a_photo_still_missing_after_the_settling_time_is_refused(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    import handlers.media

    monkeypatch.setattr(handlers.media, "MEDIA_SETTLE_SECONDS", 0.0)
    await say(bot, fake_twilio, "\\CREATE house pw")
    sid = new_sid("MM")
    url = fake_twilio.media.add(images.jpeg_with_gps(), message_sid=sid)
    fake_twilio.media.fetch_failures.extend([404])
    reply = await say(bot, fake_twilio, "", MessageSid=sid, **mms([url]))
    assert reply == "Photo 1 was not saved: Twilio could not give it to us."
    assert await bot.scalar("SELECT attempts FROM inbox WHERE message_sid = :sid", sid=sid) == 1
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0


class FlakyStore:
    """Puts into the local store, but the second upload fails once (S3 going down mid-message)."""

    def __init__(self, inner: LocalMediaStore) -> None:
        self.real_put = inner.put
        self.puts: list[str] = []
        self.failed = False

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        if len(self.puts) == 1 and not self.failed:
            self.failed = True
            raise StoreUnavailable("injected")
        self.puts.append(key)
        await self.real_put(key, data, content_type)


async def test_a_retry_after_partial_success_stores_nothing_twice(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = bot.runtime.deps.services.media_store
    assert isinstance(store, LocalMediaStore)
    flaky = FlakyStore(store)
    monkeypatch.setattr(store, "put", flaky.put)
    await say(bot, fake_twilio, "\\CREATE house pw")
    sid = new_sid("MM")
    urls = [fake_twilio.media.add(images.jpeg_with_gps(), message_sid=sid) for _ in range(3)]
    before = len(fake_twilio.messages)
    assert (await bot.post(bot.form("", sid=sid, **mms(urls)))).status == 200
    assert await bot.handled(sid) == "done"
    assert flaky.failed
    assert len(flaky.puts) == 3 == len(set(flaky.puts))  # each object once
    assert await bot.scalar("SELECT count(*) FROM receipts") == 3
    notice, reply = (await fake_twilio.wait_for_messages(before + 2))[before:]
    assert notice["Body"] == STORE_WAIT
    assert (
        reply["Body"]
        == "Saved 3 receipts to house. No total on photos 1, 2, 3: reply \\AMOUNT 12.34 for each, in order."
    )
    assert len(fake_twilio.media.deleted) == 3


async def test_a_photo_waiting_for_the_store_is_told_so_once_then_saved(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 down for several tries: the person hears at once that the photo is kept (they heard
    nothing until the store came back, for up to worker.outage_retry_hours), once, and then the
    usual answer; nothing is stored twice."""
    bot = await bot_factory(
        worker={"poll_seconds": 0.05, "retry_base_seconds": 0.01}, twilio=fake_twilio.section()
    )
    store = bot.runtime.deps.services.media_store
    assert isinstance(store, LocalMediaStore)
    real_put = store.put
    outage = [3]  # the first three puts fail

    async def put(key: str, data: bytes, content_type: str) -> None:
        if outage[0]:
            outage[0] -= 1
            raise StoreUnavailable("injected")
        await real_put(key, data, content_type)

    monkeypatch.setattr(store, "put", put)
    await say(bot, fake_twilio, "\\CREATE house pw")
    sid = new_sid("MM")
    url = fake_twilio.media.add(images.jpeg_with_gps(), message_sid=sid)
    before = len(fake_twilio.messages)
    assert (await bot.post(bot.form("lunch 12.50", sid=sid, **mms([url])))).status == 200
    assert await bot.handled(sid) == "done"
    assert await bot.scalar("SELECT attempts FROM inbox WHERE message_sid = :sid", sid=sid) == 4

    async def answered() -> bool:
        return any(m["Body"].startswith("Saved") for m in fake_twilio.messages[before:])

    await wait_for(answered)
    bodies = [m["Body"] for m in fake_twilio.messages[before:]]
    assert bodies[0] == STORE_WAIT
    assert bodies[1].startswith("Saved $12.50 to house")
    assert len(bodies) == 2
    assert await bot.scalar("SELECT count(*) FROM receipts") == 1


async def test_a_failed_delete_at_twilio_is_logged_and_retried_later(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [time.time()]
    bot = await bot_factory(
        clock=lambda: now[0],
        twilio=fake_twilio.section(),
    )
    await say(bot, fake_twilio, "\\CREATE house pw")
    url = fake_twilio.media.add(images.jpeg_with_gps())
    fake_twilio.media.delete_failures.append(500)
    with capture_logs(processors=[merge_contextvars]) as logs:
        assert (
            await say(bot, fake_twilio, "", **mms([url]))
            == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
        )
    assert "media.delete_failed" in [e["event"] for e in logs]
    [row] = await bot.rows("SELECT twilio_deleted_at, twilio_delete_attempts FROM receipts")
    assert row.twilio_deleted_at is None
    assert row.twilio_delete_attempts == 1
    assert fake_twilio.media.deleted == []
    now[0] += 3600
    await media_jobs.delete_twilio_media(bot.runtime.deps)
    assert await bot.scalar("SELECT twilio_deleted_at FROM receipts") is not None
    assert len(fake_twilio.media.deleted) == 1


# -- the pieces ------------------------------------------------------------------------------------


def test_sniff_judges_by_the_bytes() -> None:
    assert sniff(images.jpeg_with_gps()[:16]) == "jpeg"
    assert sniff(images.png_with_text()[:16]) == "png"
    assert sniff(images.heic_with_gps()[:16]) == "heif"
    assert sniff(images.pdf()[:16]) == "pdf"
    assert sniff(b"GIF89a" + b"\x00" * 10) == "gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff(images.HTML[:16]) is None
    assert sniff(b"PK\x03\x04" + b"\x00" * 12) is None


def test_media_max_pixels_above_pillows_own_guard_is_what_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """An operator's media.max_pixels above Pillow's guard (89.5 M pixels: a 200-megapixel phone's
    photo is over it) was overruled by it: such photos were refused as "too many pixels". The
    guard here is lowered to the size of a small picture, to price the same rule without
    decoding 90 M pixels."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # warning above it, error above twice it
    picture = images.jpeg_with_gps(64, 48)  # 3,072 pixels
    assert reencode(picture, "jpeg", 64 * 48).content_type == "image/jpeg"
    assert Image.MAX_IMAGE_PIXELS == 64 * 48
    with pytest.raises(Refused) as over:
        reencode(picture, "jpeg", 64 * 48 - 1)  # the limit is still ours, exact
    assert over.value.reason == TOO_MANY_PIXELS


def test_reencode_refuses_bombs_before_decoding_and_broken_files() -> None:
    with pytest.raises(Refused) as bomb:
        reencode(images.png_bomb(), "png", 40_000_000)
    assert bomb.value.reason == TOO_MANY_PIXELS
    with pytest.raises(Refused) as small_limit:
        reencode(images.jpeg_with_gps(64, 48), "jpeg", 64 * 48 - 1)
    assert small_limit.value.reason == TOO_MANY_PIXELS
    with pytest.raises(Refused) as broken:
        reencode(b"\xff\xd8\xff\xe0" + b"junk" * 10, "jpeg", 40_000_000)
    assert broken.value.reason == BROKEN
    # a PNG pretending to be a JPEG is opened only as a JPEG: refused
    with pytest.raises(Refused):
        reencode(images.png_with_text(), "jpeg", 40_000_000)


def test_gif_and_webp_keep_their_type_without_metadata() -> None:
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 255, 0))]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], comment=b"secret place")
    out = reencode(gif.getvalue(), "gif", 40_000_000)
    assert (out.content_type, out.ext) == ("image/gif", "gif")
    assert b"secret place" not in out.data
    webp = io.BytesIO()
    frames[0].save(webp, format="WEBP", exif=Image.Exif())
    out = reencode(webp.getvalue(), "webp", 40_000_000)
    assert (out.content_type, out.ext) == ("image/webp", "webp")


async def test_readyz_checks_the_media_store(bot: Bot) -> None:
    resp = await bot.client.get("/readyz")
    assert resp.status == 200
    assert (await resp.json())["checks"] == {"database": "ok", "media": "ok"}


async def test_messages_from_bob_go_to_bobs_room(bot: Bot, fake_twilio: FakeTwilio) -> None:
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\JOIN house pw", sender=BOB)
    await say(bot, fake_twilio, "\\CREATE trip pw", sender=BOB)
    url = fake_twilio.media.add(images.jpeg_with_gps())
    assert (
        await say(bot, fake_twilio, "", sender=BOB, **mms([url]))
        == "Saved to trip; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    trip = await bot.scalar("SELECT id FROM rooms WHERE name = 'trip'")
    assert await bot.scalar("SELECT room_id FROM receipts") == trip


async def test_the_size_cap_holds_while_streaming_without_a_length(bot: Bot, fake_twilio: FakeTwilio) -> None:
    await say(bot, fake_twilio, "\\CREATE house pw")
    big = fake_twilio.media.add(images.big_jpeg_like(6 * 1024 * 1024), chunked=True)
    fine = fake_twilio.media.add(images.jpeg_with_gps(), chunked=True)
    reply = await say(bot, fake_twilio, "", **mms([big, fine]))
    assert (
        reply
        == f"Saved to house; no total found. Reply \\AMOUNT 12.34 to set it. Photo 1 was not saved: {too_big(5 * 1024 * 1024)}."
    )


async def test_items_over_the_configured_limit_are_named(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    bot = await bot_factory(
        media={"max_items": 2},
        twilio=fake_twilio.section(),
    )
    await say(bot, fake_twilio, "\\CREATE house pw")
    urls = [fake_twilio.media.add(images.jpeg_with_gps()) for _ in range(3)]
    reply = await say(bot, fake_twilio, "", **mms(urls))
    assert (
        reply
        == "Saved 2 receipts to house. No total on photos 1, 2: reply \\AMOUNT 12.34 for each, in order. Photo 3 was not saved: at most 2 are kept per message."
    )


async def outlasted_outage(bot_factory: BotFactory, fake_twilio: FakeTwilio) -> tuple[Bot, str, str]:
    """A photo whose fetch failed (Twilio's media down) until `worker.outage_retry_hours` ran out:
    the bot, the photo's URL at Twilio and the reply its message got."""
    bot = await bot_factory(
        worker={"poll_seconds": 0.05, "retry_base_seconds": 0.01, "outage_retry_hours": 0.0},
        twilio=fake_twilio.section(),
    )
    await say(bot, fake_twilio, "\\CREATE house pw")
    fake_twilio.media.fetch_failures.extend([503] * 5)
    url = fake_twilio.media.add(images.jpeg_with_gps())
    before = len(fake_twilio.messages)
    form = await bot.text("", **mms([url]))
    assert await bot.handled(form["MessageSid"]) == "failed"
    return bot, url, (await fake_twilio.wait_for_messages(before + 1))[before]["Body"]


async def test_an_outage_that_outlasts_the_retry_window_gets_a_failure_reply(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    bot, _, reply = await outlasted_outage(bot_factory, fake_twilio)
    assert reply.startswith("We could not save your photos")
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0


OCR_ONLY = ("rapidocr_onnxruntime", "onnxruntime", "cv2", "numpy", "shapely", "pyclipper", "pypdf")


class OcrStackAbsent:
    """An import finder for an image built without OCR (`docker build --build-arg OCR=false`):
    the OCR-only packages cannot be imported, and every attempt is recorded."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in OCR_ONLY:
            self.asked.append(name)
            raise ImportError(f"{name} is not installed (no OCR in this image)")


async def test_with_ocr_off_photos_and_pdfs_never_import_the_ocr_stack(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = OcrStackAbsent()
    for name in list(sys.modules):
        if name.split(".")[0] in OCR_ONLY:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [absent, *sys.meta_path])
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": False})
    await say(bot, fake_twilio, "\\CREATE house pw")
    photo = fake_twilio.media.add(images.jpeg_with_gps())
    ask = "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert await say(bot, fake_twilio, "", **mms([photo])) == ask
    pdf = fake_twilio.media.add(images.pdf(), "application/pdf")
    assert await say(bot, fake_twilio, "", **mms([pdf], ["application/pdf"])) == ask
    other = fake_twilio.media.add(images.jpeg_with_gps(width=80))
    assert (await say(bot, fake_twilio, "lunch $12.50", **mms([other]))).startswith("Saved $12.50 to house")
    assert await bot.scalar("SELECT count(*) FROM receipts") == 3
    assert absent.asked == []


async def test_ocr_on_without_the_engine_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The slim image with `media.ocr` turned back on: say so at start, not "no total" on every photo."""
    import importlib.util
    from types import SimpleNamespace

    from bot.core.config import Config
    from bot.core.errors import StartupError
    from bot.features.ocr import feature

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "rapidocr_onnxruntime" else real(name, *a),
    )
    starting: Any = SimpleNamespace(deps=SimpleNamespace(config=Config(), services=None))
    with pytest.raises(StartupError, match=r"TEXTWIRE_MEDIA_OCR=false"):
        async with feature.lifespan(starting):
            pass


def test_the_same_picture_resized_or_recompressed_is_found_and_another_is_not() -> None:
    picture = Image.open(io.BytesIO(images.jpeg_with_gps(640, 480, orientation=1, variant=3)))
    smaller = io.BytesIO()
    picture.resize((200, 150)).save(smaller, "JPEG", quality=50)
    same = dhash(Image.open(smaller))
    assert len(dhash(picture)) == 64
    assert same_picture(dhash(picture), same)
    other = dhash(Image.open(io.BytesIO(images.jpeg_with_gps(640, 480, orientation=1, variant=4))))
    assert not same_picture(dhash(picture), other)
    assert not same_picture(dhash(picture), dhash(picture)[:16])  # a hash of another size

    prepared = reencode(images.jpeg_with_gps(variant=5), "jpeg", 10**8)
    like = reencode(images.jpeg_with_gps(variant=5, orientation=6), "jpeg", 10**8)
    first = Earlier("a", "0" * 64, None, 100, "USD")
    by_bytes = Earlier("b", prepared.sha256, None, None, None)
    by_picture = Earlier("c", "1" * 64, like.phash, 200, "USD")
    assert find_twin(prepared, [first, by_picture, by_bytes]) == (by_bytes, True)  # bytes first
    assert prepared.phash is not None
    assert find_twin(prepared, [first]) is None
    assert reencode(images.pdf(), "pdf", 10**8).phash is None


def transparent_png(shapes: list[tuple[int, int, int, int]], *, palette: bool = False) -> bytes:
    """A receipt as some apps export it: dark marks on a transparent background (the transparent
    pixels are black underneath, as most encoders leave them)."""
    image = Image.new("RGBA", (120, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for box in shapes:
        draw.rectangle(box, fill=(0, 0, 0, 255))
    if palette:  # a palette PNG with a transparent colour (tRNS), as GIFs and small PNGs are
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
        image.info["transparency"] = image.getpixel((0, 0))
    out = io.BytesIO()
    image.save(out, "PNG", transparency=image.info.get("transparency"))
    return out.getvalue()


@pytest.mark.parametrize("palette", [False, True])
def test_a_transparent_picture_is_laid_on_white_before_it_is_read_or_compared(palette: bool) -> None:
    """On its black underside a transparent receipt's dark text vanishes: OCR read nothing, every
    such picture hashed to zero (two different receipts of one total were repeats of each other),
    and an image viewer's dark background showed a black square."""
    lines = transparent_png([(10, 10, 110, 20), (10, 40, 60, 50), (10, 70, 90, 80)], palette=palette)
    block = transparent_png([(20, 90, 100, 150)], palette=palette)
    out = reencode(lines, "png", 40_000_000)
    stored = Image.open(io.BytesIO(out.data))
    assert "A" not in stored.mode
    assert "transparency" not in stored.info
    rgb = stored.convert("RGB")
    assert rgb.getpixel((2, 2)) == (255, 255, 255)  # the background is paper
    assert max(rgb.getpixel((50, 15))) < 60  # the text stays dark
    other = reencode(block, "png", 40_000_000)
    assert out.phash is not None
    assert other.phash is not None
    assert not same_picture(out.phash, other.phash)


def test_a_16_bit_grey_picture_is_brought_to_8_bits_before_it_is_read_or_compared() -> None:
    """A scanner app's greyscale PNG has 16 bits a pixel: Pillow's conversion to 8 bits clips
    them at 255, so the receipt was white paper to OCR ("doesn't look like a receipt"), every such
    picture hashed alike (a second one "repeats" the first) and its thumbnail was blank."""
    lines = images.grey_png_16([(10, 10, 110, 20), (10, 40, 60, 50), (10, 70, 90, 80)])
    block = images.grey_png_16([(20, 90, 100, 150)])
    out = reencode(lines, "png", 40_000_000)
    stored = Image.open(io.BytesIO(out.data))
    assert stored.mode == "L"
    assert stored.getpixel((2, 2)) > 230  # the paper stays light
    assert stored.getpixel((50, 15)) < 30  # and the text dark
    other = reencode(block, "png", 40_000_000)
    assert out.phash is not None
    assert other.phash is not None
    assert not same_picture(out.phash, other.phash)


def cut_off_gif(tail: bytes) -> bytes:
    """A GIF whose download ended after its first frame (`tail`: the next block's first bytes)."""
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, "GIF")
    return out.getvalue()[:-1] + tail  # no trailer: the next block begins and the data ends


@pytest.mark.parametrize("tail", [b"!", b","])
def test_a_gif_cut_off_after_its_first_frame_is_damaged(tail: bytes) -> None:
    with pytest.raises(Refused) as broken:
        reencode(cut_off_gif(tail), "gif", 40_000_000)
    assert broken.value.reason == BROKEN


async def test_a_cut_off_gif_is_named_and_the_other_photos_saved(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Pillow let an IndexError out of the cut-off GIF: the message failed five times, with a
    traceback each, and the person got "something went wrong", their good photo unsaved."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    urls = [
        fake_twilio.media.add(images.jpeg_with_gps()),
        fake_twilio.media.add(cut_off_gif(b"!"), "image/gif"),
    ]
    assert await say(bot, fake_twilio, "", **mms(urls)) == (
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it. "
        "Photo 2 was not saved: the file is damaged and could not be read."
    )
    assert await bot.scalar("SELECT count(*) FROM receipts") == 1


async def test_each_item_is_hashed_once_off_the_event_loop(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored bytes' sha256 was a property, computed on the event loop each time it was
    asked for (up to four times an item: 16 MB from WhatsApp took the loop tens of ms each)."""
    from bot.features.receipts import media as media_module

    threads: list[threading.Thread] = []

    class Recording:
        @staticmethod
        def sha256(data: bytes) -> Any:
            threads.append(threading.current_thread())
            return hashlib.sha256(data)

    monkeypatch.setattr(media_module, "hashlib", Recording)
    await say(bot, fake_twilio, "\\CREATE house pw")
    urls = [
        fake_twilio.media.add(images.pdf(), "application/pdf"),
        fake_twilio.media.add(images.jpeg_with_gps()),
    ]
    assert (await say(bot, fake_twilio, "", **mms(urls))).startswith("Saved 2 receipts to house")
    assert len(threads) == 2
    assert threading.main_thread() not in threads
    stored = await bot.scalar("SELECT sha256 FROM receipts WHERE media_index = 0")
    assert stored == hashlib.sha256(images.pdf()).hexdigest()


async def test_a_telegram_picture_sent_as_a_file_over_the_cap_is_told_to_send_it_as_a_photo(
    bot_factory: BotFactory, fake_telegram: Any
) -> None:
    """A receipt photo sent on Telegram as a file (whole, as a phone camera took it: 6 MB) was
    answered "Photo 1 was not saved: it is over 5 MB.", and the person had nothing to try. As a
    photo Telegram compresses it far below the cap: the reply says so. A PDF over its cap has no
    such way and is answered as before."""
    from tests.channels.telegram.talk import say as tell

    bot = await bot_factory(telegram=fake_telegram.section())

    async def telegram(text: str | None, **message: Any) -> str:
        before = len(fake_telegram.sent)
        assert await bot.handled(await tell(bot, text, **message)) == "done"
        return str((await fake_telegram.wait_for_sent(before + 1))[before]["text"])

    await telegram("/create house pw")
    six_mb = 6 * 1024 * 1024
    picture = fake_telegram.add_file(images.big_jpeg_like(six_mb), "documents/file_1.jpg")
    document = {"file_id": picture, "file_unique_id": "p", "mime_type": "image/jpeg", "file_size": six_mb}
    assert await telegram(None, document=document, caption="12.50") == (
        "Photo 1 was not saved: it is over 5 MB (send it as a photo, not as a file)."
    )
    big_pdf = fake_telegram.add_big_file()
    document = {"file_id": big_pdf, "file_unique_id": "q", "mime_type": "application/pdf"}
    assert await telegram(None, document=document) == "Photo 1 was not saved: it is over 20 MB."
