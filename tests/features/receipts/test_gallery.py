"""The receipt gallery: a member's signed link lists the room's receipts (newest first, masked
uploaders, escaped captions, presigned URLs that open the photos); an expired or altered link
gets 403 with a clear page."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from yarl import URL

from bot.core.config import Config
from bot.features.receipts import gallery
from bot.gateway.links import LinkSigner, make_signer
from tests import images
from tests.conftest import ALICE, BOB, Bot, BotFactory, wait_for
from tests.fakes.s3 import Bucket, s3_sections
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_media import mms, say

IMG = re.compile(r'<img src="([^"]+)"')  # a photo's thumbnail
PHOTO = re.compile(r'<a href="([^"]+)" rel="noreferrer"><img ')  # the full photo around it
LINK = re.compile(r'(?:href|src)="[^"]*"')


def shown(page: str) -> str:
    """The page without its links' addresses: those carry random ids and signatures (a room id
    with "2222" in it once made "Bob's digits are not on the page" fail)."""
    return LINK.sub("", page)


async def send_photos(bot: Bot, fake: FakeTwilio, count: int, caption: str, sender: str) -> str:
    urls = [fake.media.add(images.jpeg_with_gps()) for _ in range(count)]
    return await say(bot, fake, caption, sender=sender, **mms(urls))


def path_of(link: str) -> str:
    url = URL(link)
    return str(url.relative())


async def gallery_link(bot: Bot, fake: FakeTwilio, sender: str, room: str = "") -> str:
    reply = await say(bot, fake, f"\\RECEIPTS {room}".strip(), sender=sender)
    match = re.search(r"(https://\S+)", reply)
    assert match, reply
    return match.group(1)


async def test_a_members_link_lists_the_rooms_receipts_newest_first(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, s3_bucket: Bucket
) -> None:
    now = [time.time()]
    bot = await bot_factory(
        clock=lambda: now[0], **s3_sections(fake_twilio, s3_bucket.endpoint, s3_bucket.name)
    )
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "JOIN house pw", sender=BOB)
    assert (
        await send_photos(bot, fake_twilio, 2, "<b>Lunch</b> & co", ALICE)
        == "Saved 2 receipts to house. No total on photos 1, 2: reply \\AMOUNT 12.34 for each, in order."
    )
    now[0] += 60
    assert (
        await send_photos(bot, fake_twilio, 1, "taxi", BOB)
        == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    link = await gallery_link(bot, fake_twilio, BOB)
    assert link.startswith(f"{bot.config.public_base}/rooms/")

    resp = await bot.client.get(path_of(link))
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert "Receipts of house" in page
    assert "3 receipts, newest first" in page
    assert '<meta name="viewport"' in page
    # newest first: Bob's taxi, then Alice's two
    assert page.index("taxi") < page.index("&lt;b&gt;Lunch&lt;/b&gt; &amp; co")
    assert "<b>Lunch</b>" not in page
    assert page.count('<span class="who"><span aria-hidden="true">+1******2222</span>') == 1
    assert page.count('<span class="who"><span aria-hidden="true">+1******1111</span>') == 2
    assert ALICE not in page
    assert BOB not in page
    # the photos open through presigned SigV4 URLs of the private objects
    srcs = [s.replace("&amp;", "&") for s in PHOTO.findall(page)]
    assert len(srcs) == 3
    keys = await s3_bucket.keys()
    async with aiohttp.ClientSession() as session:
        for src in srcs:
            url = URL(src)
            assert src.startswith(f"{s3_bucket.endpoint}/{s3_bucket.name}/rooms/")
            assert url.query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
            assert int(url.query["X-Amz-Expires"]) <= 600
            key = url.path.split(f"/{s3_bucket.name}/", 1)[1]
            assert key in keys
            async with session.get(src) as photo:
                assert photo.status == 200
                body = await photo.read()
            assert body == (await s3_bucket.get(key))[0]
    # each shows as its thumbnail, a signed link of this server, made from the photo in S3
    thumbs = [s.replace("&amp;", "&") for s in IMG.findall(page)]
    assert [URL(t).path.removeprefix("/thumbs/") for t in thumbs] == [
        URL(s).path.split(f"/{s3_bucket.name}/", 1)[1] for s in srcs
    ]
    for thumb in thumbs:
        assert thumb.startswith(f"{bot.config.public_base}/thumbs/rooms/")
        resp = await bot.client.get(path_of(thumb))
        assert resp.status == 200
        assert resp.content_type == "image/jpeg"
        assert resp.headers["Cache-Control"] == "private, max-age=3600"  # as long as the page's link
        assert (await resp.read()).startswith(b"\xff\xd8\xff")

    # the reply with the link is redacted in the outbox once Twilio took it
    async def redacted() -> bool:
        rows = await bot.rows("SELECT body, redacted FROM outbox WHERE redact")
        return bool(rows) and all(r.redacted and "sig=" not in r.body for r in rows)

    await wait_for(redacted)


async def test_expired_or_altered_links_get_403(bot_factory: BotFactory, fake_twilio: FakeTwilio) -> None:
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\CREATE trip pw")
    link = await gallery_link(bot, fake_twilio, ALICE, "house")
    other = await gallery_link(bot, fake_twilio, ALICE, "trip")
    url = URL(link)
    assert (await bot.client.get(path_of(link))).status == 200

    sig = url.query["sig"]
    altered_sig = sig[:-1] + ("A" if sig[-1] != "A" else "B")
    later_exp = str(int(url.query["exp"]) + 3600)
    trip_id = URL(other).path.split("/")[2]
    cases = [
        url.update_query(sig=altered_sig),
        url.update_query(exp=later_exp),  # a longer life, same signature
        url.with_path(f"/rooms/{trip_id}/receipts"),  # another room, this room's signature
        url.with_query({"exp": url.query["exp"]}),
        url.with_query({}),
        url.update_query(exp="abc"),
        url.update_query(exp="²"),  # a digit to str.isdigit, not to int(): was a 500
        url.update_query(sig=sig[:-1] + "é"),  # compare_digest refuses non-ASCII str: was a 500
    ]
    for bad in cases:
        resp = await bot.client.get(str(bad.relative()))
        assert resp.status == 403, bad
        page = await resp.text()
        assert "This link is not valid." in page
        assert "\\RECEIPTS" in page
        assert resp.headers["Cache-Control"] == "no-store"

    now[0] += 3600 + 1
    resp = await bot.client.get(path_of(link))
    assert resp.status == 403
    page = await resp.text()
    assert "This link has expired." in page
    # a bare \RECEIPTS gives the active room's (trip's): the page names the room the link was for
    assert "Text \\RECEIPTS house to the bot to get a new one." in page
    again = await gallery_link(bot, fake_twilio, ALICE, "house")
    assert URL(again).path == url.path
    assert "Receipts of house" in await (await bot.client.get(path_of(again))).text()


async def test_the_local_backend_serves_photos_through_signed_links(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "", ALICE)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    [src] = [s.replace("&amp;", "&") for s in PHOTO.findall(page)]
    assert src.startswith(f"{bot.config.public_base}/media/rooms/")
    resp = await bot.client.get(path_of(src))
    assert resp.status == 200
    assert resp.content_type == "image/jpeg"
    key = await bot.scalar("SELECT object_key FROM receipts")
    stored = (bot.config.data_dir / "media" / key).read_bytes()
    assert await resp.read() == stored
    assert resp.headers["Cache-Control"] == "private, max-age=300"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert resp.headers["Content-Disposition"] == "inline"
    # streamed from the file: a HEAD gets its length and no body, a reload the browser's copy
    head = await bot.client.head(path_of(src))
    assert head.status == 200
    assert head.content_type == "image/jpeg"
    assert int(head.headers["Content-Length"]) == len(stored)
    assert await head.read() == b""
    again = await bot.client.get(path_of(src), headers={"If-Modified-Since": resp.headers["Last-Modified"]})
    assert again.status == 304
    assert await again.read() == b""
    tampered = URL(src).update_query(sig="A" * 22)
    assert (await bot.client.get(str(tampered.relative()))).status == 403
    accented = URL(src).update_query(sig="é" * 22)  # was a 500 and a traceback
    assert (await bot.client.get(str(accented.relative()))).status == 403
    # a key outside the receipts layout is not served at all
    assert (await bot.client.get("/media/rooms/../../textwire.db")).status == 404
    # a photo gone from the folder (a restore without the media, a disk lost): a page that says
    # so, not a bare "404: Not Found"
    (bot.config.data_dir / "media" / key).unlink()
    resp = await bot.client.get(path_of(src))
    assert resp.status == 404
    assert resp.content_type == "text/html"
    assert "This receipt&#39;s photo is not in the store any more." in await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"


# a PDF that runs its own script as it opens (what a member could send as a "receipt")
HOSTILE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R/OpenAction 3 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"3 0 obj<</S/JavaScript/JS(app.alert(document.domain))>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


async def test_photos_pdfs_and_thumbnails_run_no_script_on_this_site(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A receipt's file is served from this site's own origin, and a PDF is stored as it was sent:
    its script (a PDF's OpenAction), in a viewer that runs one in the document's origin, ran with
    this site's, and the photos and thumbnails came with no Content-Security-Policy either. Each
    comes with one that lets it show and nothing run (a sandbox: a unique origin, no scripts)."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "lunch 12.50", ALICE)
    await say(bot, fake_twilio, "hotel", **mms([fake_twilio.media.add(HOSTILE_PDF)]))
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    [photo] = [s.replace("&amp;", "&") for s in PHOTO.findall(page)]
    [thumb] = [s.replace("&amp;", "&") for s in IMG.findall(page)]
    [pdf] = [
        s.replace("&amp;", "&")
        for s in re.findall(r'<a href="([^"]+)" rel="noreferrer" aria-label="Receipt PDF', page)
    ]
    for link, kind in ((photo, "image/jpeg"), (thumb, "image/jpeg"), (pdf, "application/pdf")):
        for method in ("GET", "HEAD"):
            resp = await bot.client.request(method, path_of(link))
            assert resp.status == 200, (link, method)
            assert resp.content_type == kind
            policy = [part.strip() for part in resp.headers["Content-Security-Policy"].split(";")]
            assert "sandbox" in policy, link
            assert "default-src 'none'" in policy, link
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Content-Disposition"] == "inline"
    assert await (await bot.client.get(path_of(pdf))).read() == HOSTILE_PDF  # kept as it was sent


async def test_receipts_of_a_deleted_user_show_a_former_member(bot: Bot, fake_twilio: FakeTwilio) -> None:
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\JOIN house pw", sender=BOB)
    await send_photos(bot, fake_twilio, 1, "from bob", BOB)
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(sa.text("DELETE FROM users WHERE phone = :p"), {"p": BOB})
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    assert "a former member" in page
    assert "+1******2222" not in page
    assert "from bob" in page


async def test_receipts_of_someone_who_stopped_show_a_former_member_counted_or_not(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """\\STOP keeps a person's receipts in their rooms as "a former member" (SPEC): the ones not
    counted (no amount yet) too, which no balance names."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\JOIN house pw", sender=BOB)
    await send_photos(bot, fake_twilio, 1, "from bob", BOB)
    assert await bot.scalar("SELECT amount_minor FROM receipts") is None
    assert (await say(bot, fake_twilio, "\\STOP", sender=BOB)).startswith("Goodbye")
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    assert "a former member" in page
    assert "2222" not in shown(page)
    assert "from bob" in page


async def test_presigned_urls_use_the_public_endpoint_when_set(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, s3_bucket: Bucket
) -> None:
    public = "https://files.example.test"
    bot = await bot_factory(
        **s3_sections(fake_twilio, s3_bucket.endpoint, s3_bucket.name, public_endpoint_url=public)
    )
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "", ALICE)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    [src] = PHOTO.findall(page)
    assert src.startswith(f"{public}/{s3_bucket.name}/rooms/")
    assert "X-Amz-Signature=" in src


def test_signer_keys_rotate_without_breaking_links() -> None:
    old, new = b"o" * 32, b"n" * 32
    sig = LinkSigner([old]).sign("gallery", "room", 2_000_000_000)
    rotated = LinkSigner([new, old])
    assert rotated.check("gallery", "room", "2000000000", sig, now=2_000_000_000 - 10, max_age=3600) == "ok"
    assert rotated.sign("gallery", "room", 2_000_000_000) != sig
    assert LinkSigner([new]).check("gallery", "room", "2000000000", sig, now=0, max_age=3600) == "invalid"
    # a signature for the media route does not open the gallery
    media_sig = rotated.sign("media", "room", 2_000_000_000)
    assert rotated.check(
        "gallery", "room", "2000000000", media_sig, now=2_000_000_000 - 10, max_age=3600
    ) == ("invalid")


@pytest.mark.parametrize("keys", [(), ("k",)])
def test_signer_needs_a_key(keys: tuple[str, ...]) -> None:
    if not keys:
        with pytest.raises(ValueError, match="at least one key"):
            LinkSigner([])
    else:
        assert LinkSigner([k.encode() for k in keys]).sign("gallery", "r", 1)


async def test_the_link_key_comes_from_the_fernet_keys_or_a_generated_file(
    make_config: Callable[..., Config],
) -> None:
    newest, older = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    config = make_config(security={"fernet_keys": (newest, older)})
    first, second = await make_signer(config), await make_signer(config)
    assert first.keys == second.keys
    assert len(first.keys) == 2
    assert newest.encode() not in first.keys  # derived, not the Fernet key itself
    key_file = config.data_dir / "link-signing.key"
    assert not key_file.exists()
    # an old link still opens after a rotation that kept the older key second
    sig = (await make_signer(make_config(security={"fernet_keys": (older,)}))).sign("gallery", "r", 10**10)
    assert first.check("gallery", "r", str(10**10), sig, now=10**10 - 5, max_age=3600) == "ok"

    plain = make_config()
    generated = await make_signer(plain)
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (await make_signer(plain)).keys == generated.keys


async def test_times_are_in_the_rooms_zone_as_on_its_statement(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """The gallery gave every time in UTC while the room's statement gave them in the room's
    `\\TIMEZONE`: a receipt of 7 pm in New York showed as past midnight, on another day."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    assert "America/New_York" in await say(bot, fake_twilio, "\\TIMEZONE America/New_York")
    await send_photos(bot, fake_twilio, 1, "$5.00", ALICE)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    assert "Times are in America/New_York." in page
    created = await bot.scalar("SELECT created_at FROM receipts")
    local = dt.datetime.fromtimestamp(float(created), ZoneInfo("America/New_York"))
    assert f'<time datetime="{local.isoformat(timespec="seconds")}">' in page
    assert local.strftime("%Y-%m-%d %H:%M %Z") in page  # "2026-11-26 04:38 EST"
    assert " UTC" not in page


async def test_a_room_past_the_pages_limit_says_how_many_it_has(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gallery shows the newest PAGE_LIMIT receipts; it said "200 receipts" of a room of 350
    (and "Showing the newest 200" of a room of exactly 200)."""
    from bot.features.receipts import gallery

    monkeypatch.setattr(gallery, "PAGE_LIMIT", 3)
    bot = await bot_factory(twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 3, "", ALICE)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    assert "3 receipts, newest first." in page
    assert "Showing the newest" not in page
    await send_photos(bot, fake_twilio, 2, "", ALICE)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    assert len(IMG.findall(page)) == 3
    assert "5 receipts, newest first (the newest 3 are shown)." in page
    assert "Showing the newest 3 of 5: \\STATEMENT YYYY-MM lists a month's receipts." in page


async def paid_alice(bot: Bot, fake: FakeTwilio, cents: int) -> None:
    before = len(fake.messages)
    await say(bot, fake, f"\\PAID Alice 0.0{cents}", sender=BOB)
    await fake.wait_for_messages(before + 2)  # Alice's notice too: not taken for a later answer


async def test_a_room_with_many_payments_shows_its_receipts_near_the_top(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A club of 25 with a year of `\\PAID` listed its newest 200 payments above the receipts:
    on a 320 px phone the first receipt came 10,000 px down the "Receipts" page. The page lists
    the newest PAYMENTS_SHOWN and says how many more there are and where they are."""
    from bot.features.receipts import gallery

    monkeypatch.setattr(gallery, "PAYMENTS_SHOWN", 3, raising=False)
    bot = await bot_factory(twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\NAME Alice")
    await say(bot, fake_twilio, "JOIN house pw", sender=BOB)
    await say(bot, fake_twilio, "\\NAME Bob", sender=BOB)
    await send_photos(bot, fake_twilio, 1, "$50.00", ALICE)
    for cents in range(1, 4):
        await paid_alice(bot, fake_twilio, cents)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    assert page.count("Bob paid Alice") == 3
    assert "more payments" not in page
    for cents in range(4, 6):
        await paid_alice(bot, fake_twilio, cents)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    payments = page[page.index("<h2>Payments</h2>") : page.index("<h2>Receipts</h2>")]
    # the newest three, newest first
    assert re.findall(r"Bob paid Alice \$(0\.0\d)", payments) == ["0.05", "0.04", "0.03"]
    assert "2 more payments: \\STATEMENT YYYY-MM lists a month's." in payments


async def test_a_screen_reader_can_tell_the_photos_apart_and_find_the_receipts(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Every photo's link was read out as "receipt", and the list of receipts came under the
    "Payments" heading: each photo says whose it is, of how much and when, under "Receipts"."""
    now = [1_790_000_000.0]  # 2026-09-21 14:13:20 UTC
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\NAME Alice")
    await say(bot, fake_twilio, "JOIN house pw", sender=BOB)
    await send_photos(bot, fake_twilio, 1, "lunch 30.00", ALICE)
    now[0] += 60
    await send_photos(bot, fake_twilio, 1, "no total", BOB)
    now[0] += 60
    before = len(fake_twilio.messages)
    await say(bot, fake_twilio, "\\PAID Alice 5", sender=BOB)
    # Bob's answer, and Alice's notice: not taken for the answer to her \RECEIPTS below
    await fake_twilio.wait_for_messages(before + 2)
    resp = await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))
    page = await resp.text()
    assert re.findall(r'<img [^>]*alt="([^"]*)"', page) == [
        "Receipt photo: number ending 2222, 2026-09-21 14:14 UTC",
        "Receipt photo: $30.00, Alice, 2026-09-21 14:13 UTC",
    ]
    headings = re.findall(r"<h2>([^<]*)</h2>", page)
    assert headings == ["Balance (USD)", "Payments", "Receipts"]
    assert page.index("<h2>Receipts</h2>") < page.index('<ul class="receipts"')


async def test_a_photo_the_local_store_cannot_read_gets_a_page_not_a_500(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A disk that fails to read a photo (here: a folder where its file was) answered 500 with a
    traceback: a page says the photo is kept and to reload in a few minutes (a store down, not a
    photo gone)."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "", ALICE)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    [src] = [s.replace("&amp;", "&") for s in PHOTO.findall(page)]
    key = await bot.scalar("SELECT object_key FROM receipts")
    path = bot.config.data_dir / "media" / key
    path.unlink()
    path.mkdir()
    resp = await bot.client.get(path_of(src))
    assert resp.status == 503
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert "The photo is kept." in text
    assert "not in the store any more" not in text


async def test_a_photo_the_store_cannot_give_gets_one_page_whatever_it_raised(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The photo route told a store down from a photo gone with code of its own: a failure that
    was neither `FileNotFoundError` nor `StoreUnavailable` answered 500 with a traceback, and its
    503 carried no Retry-After. It reads through the gallery's one reader, as the thumbnails and
    the statement's zip do: 503 with Retry-After and the same words as theirs, or 404 when the
    photo is gone."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "", ALICE)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    [src] = [s.replace("&amp;", "&") for s in PHOTO.findall(page)]
    store = bot.runtime.deps.services.media_store
    assert store is not None

    async def broken(key: str) -> Any:
        raise RuntimeError("the disk's driver gave up")

    monkeypatch.setattr(store, "file", broken)
    resp = await bot.client.get(path_of(src))
    assert resp.status == 503
    assert resp.content_type == "text/html"
    assert resp.headers["Retry-After"] == str(gallery.RETRY_SECONDS)
    assert resp.headers["Cache-Control"] == "no-store"
    text = await resp.text()
    assert "The store that keeps the receipt photos did not answer. The photo is kept." in text
    assert "Reload the page in a few minutes." in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    monkeypatch.undo()

    key = await bot.scalar("SELECT object_key FROM receipts")
    (bot.config.data_dir / "media" / key).unlink()
    resp = await bot.client.get(path_of(src))
    assert resp.status == 404
    assert "Retry-After" not in resp.headers
    text = await resp.text()
    assert "This receipt&#39;s photo is not in the store any more." in text
    assert "The receipt itself is still in the room&#39;s ledger." in text


async def test_a_photo_deleted_after_its_page_opened_says_it_was_deleted_and_why(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Bob's photos were deleted at his request (`textwire person delete --receipts`) while Alice
    had the gallery open: tapping his photo, or scrolling to its thumbnail, said the photo was
    "not in the store any more" (404), as for a file lost by accident. It is a 410 that says it
    was deleted, and why; the page reloaded shows the receipt without it."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\JOIN house pw", sender=BOB)
    await send_photos(bot, fake_twilio, 1, "from bob", BOB)
    link = path_of(await gallery_link(bot, fake_twilio, ALICE))
    page = await (await bot.client.get(link)).text()
    [photo] = [s.replace("&amp;", "&") for s in PHOTO.findall(page)]
    [thumb] = [s.replace("&amp;", "&") for s in IMG.findall(page)]
    key = await bot.scalar("SELECT object_key FROM receipts")
    (bot.config.data_dir / "media" / key).unlink()
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(sa.text("UPDATE receipts SET photo_deleted_at = 1, photo_deleted_why = 'request'"))
    for src in (photo, thumb):
        resp = await bot.client.get(path_of(src))
        assert resp.status == 410, src
        assert resp.content_type == "text/html"
        text = await resp.text()
        assert "The photo was deleted at the uploader&#39;s request." in text
        assert "The receipt itself is still in the room&#39;s ledger." in text
        assert "not in the store any more" not in text
    page = await (await bot.client.get(link)).text()
    assert PHOTO.findall(page) == []
    assert "photo deleted at the uploader&#39;s request" in page
