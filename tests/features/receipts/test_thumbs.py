"""Gallery thumbnails: the gallery's <img> is a small JPEG made on request from the stored photo
(either backend), signed like the photo links; the link around it opens the full photo. Damaged,
gone, a store down, HEAD, expired and forged links each get an answer, never a 500."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from typing import Any

import pytest
from PIL import Image
from structlog.testing import capture_logs
from yarl import URL

from bot.features.receipts import gallery, media
from bot.features.receipts.thumbs import THUMB_SIDE, Unthumbable, make_thumbnail, target_size
from tests import images
from tests.conftest import ALICE, Bot, BotFactory
from tests.fakes.s3 import Bucket, s3_sections
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_gallery import IMG, PHOTO, gallery_link, path_of
from tests.features.receipts.test_media import mms, say

MB = 1 << 20


def _decoded(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _photo(width: int, height: int, *, orientation: int = 1) -> bytes:
    return images.jpeg_with_gps(width, height, orientation)


# -- making one ------------------------------------------------------------------------------------


def test_a_thumbnail_is_a_small_jpeg_of_the_photos_shape() -> None:
    data = _photo(1600, 2400)
    small = make_thumbnail(data, 5 * MB, 40_000_000)
    im = _decoded(small)
    assert im.format == "JPEG"
    assert im.size == (320, THUMB_SIDE)
    assert len(small) < len(data)
    assert not im.getexif()  # nothing of the photo's metadata (camera, GPS) goes along
    # a photo already smaller than a thumbnail is not enlarged
    assert _decoded(make_thumbnail(_photo(200, 100), 5 * MB, 40_000_000)).size == (200, 100)


def test_draft_decodes_fewer_pixels_to_the_same_thumbnail(monkeypatch: pytest.MonkeyPatch) -> None:
    """With `Image.draft` libjpeg scales while decoding (here 1/4): what `thumbnail()` resamples
    is a quarter of the width, not the whole photo."""
    data = _photo(2000, 1500)
    loaded: list[tuple[int, int]] = []
    real = Image.Image.thumbnail

    def spy(self: Image.Image, size: Any, *args: Any, **kwargs: Any) -> None:
        loaded.append(self.size)  # after draft: the size the decoder will produce
        real(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "thumbnail", spy)
    fast = make_thumbnail(data, 5 * MB, 40_000_000)
    slow = make_thumbnail(data, 5 * MB, 40_000_000, draft=False)
    assert loaded == [(500, 375), (2000, 1500)]
    assert _decoded(fast).size == _decoded(slow).size == (480, 360)


def test_the_photos_orientation_is_honoured() -> None:
    # EXIF orientation 6: the stored pixels lie on their side; shown upright, it is tall
    im = _decoded(make_thumbnail(_photo(1200, 800, orientation=6), 5 * MB, 40_000_000))
    assert im.size == (320, 480)
    # the red marker drawn top-left of the sideways pixels ends up top-right
    r, g, b = im.convert("RGB").getpixel((im.width - 40, 40))  # type: ignore[misc]
    assert r > 150
    assert max(g, b) < 100


def test_transparency_is_laid_on_white_and_an_animation_shows_its_first_frame() -> None:
    clear = Image.new("RGBA", (600, 300), (0, 0, 0, 0))
    out = io.BytesIO()
    clear.save(out, format="PNG")
    im = _decoded(make_thumbnail(out.getvalue(), 5 * MB, 40_000_000)).convert("RGB")
    assert im.getpixel((10, 10)) > (240, 240, 240)  # type: ignore[operator]
    frames = [Image.new("RGB", (100, 100), colour) for colour in ((0, 0, 255), (255, 0, 0))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    first = _decoded(make_thumbnail(out.getvalue(), 5 * MB, 40_000_000)).convert("RGB")
    r, _, b = first.getpixel((50, 50))  # type: ignore[misc]
    assert b > 200
    assert r < 50


@pytest.mark.parametrize(
    ("data", "max_bytes", "why"),
    [
        (b"\xff\xd8\xff\xe0" + b"\x00" * 400, 5 * MB, "UnidentifiedImageError"),
        (_photo(600, 400)[:900], 5 * MB, "OSError"),  # cut off: "image file is truncated"
        (images.png_bomb(8000, 8000), 5 * MB, "8000x8000"),  # over media.max_pixels
        (_photo(600, 400), 1000, "bytes"),  # bigger than media.max_bytes: not decoded
        (images.pdf(), 5 * MB, "UnidentifiedImageError"),
    ],
)
def test_what_cannot_be_made_small_says_why(data: bytes, max_bytes: int, why: str) -> None:
    with pytest.raises(Unthumbable, match=why):
        make_thumbnail(data, max_bytes, 8000 * 8000 - 1)


def test_target_size_keeps_the_shape() -> None:
    assert target_size(4032, 3024) == (480, 360)
    assert target_size(1000, 40000) == (12, 480)
    assert target_size(1, 100000) == (1, 480)
    assert target_size(300, 200) == (300, 200)


# -- through the gallery ---------------------------------------------------------------------------


async def _one_photo(bot: Bot, fake: FakeTwilio, data: bytes | None = None) -> tuple[str, str, str]:
    """A room with one photo: (its thumbnail's link, its photo's link, its object key)."""
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "", **mms([fake.media.add(data or _photo(1600, 1200))]))
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake, ALICE)))).text()
    [thumb] = [s.replace("&amp;", "&") for s in IMG.findall(page)]
    [photo] = [s.replace("&amp;", "&") for s in PHOTO.findall(page)]
    key = str(await bot.scalar("SELECT object_key FROM receipts"))
    return thumb, photo, key


async def test_the_gallery_shows_thumbnails_and_links_the_full_photo(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    # the thumbnail is made in the app's decode pool, in a thread: never on the event loop
    pool = bot.runtime.deps.services.decode_pool
    assert pool is not None
    ran: list[tuple[str, bool]] = []
    run = pool.run

    async def spy(work: Any, *args: Any) -> Any:
        def watched(*a: Any) -> Any:
            ran.append((work.__name__, threading.current_thread() is threading.main_thread()))
            return work(*a)

        return await run(watched, *args)

    monkeypatch.setattr(pool, "run", spy)
    thumb, photo, key = await _one_photo(bot, fake_twilio)
    assert thumb.startswith(f"{bot.config.public_base}/thumbs/{key}?exp=")
    assert photo.startswith(f"{bot.config.public_base}/media/{key}?exp=")
    stored = (bot.config.data_dir / "media" / key).read_bytes()

    resp = await bot.client.get(path_of(thumb))
    assert resp.status == 200
    assert resp.content_type == "image/jpeg"
    # kept by the browser as long as the gallery page's link lives (an hour from its `\\RECEIPTS`)
    assert 3590 <= int(resp.headers["Cache-Control"].removeprefix("private, max-age=")) <= 3600
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    body = await resp.read()
    assert max(_decoded(body).size) == THUMB_SIDE
    assert len(body) < len(stored) / 3
    assert ("make_thumbnail", False) in ran
    # the full photo is still the stored one
    assert await (await bot.client.get(path_of(photo))).read() == stored

    # kept by the browser no longer than the link lives
    now[0] += 200
    resp = await bot.client.get(path_of(thumb))
    assert resp.status == 200
    assert 3390 <= int(resp.headers["Cache-Control"].rsplit("=", 1)[1]) <= 3400
    # HEAD: headers only, no photo read (it answers with the file gone)
    (bot.config.data_dir / "media" / key).unlink()
    before = len(ran)
    resp = await bot.client.head(path_of(thumb))
    assert resp.status == 200
    assert resp.content_type == "image/jpeg"
    assert len(ran) == before


async def test_a_16_bit_grey_receipt_shows_in_its_thumbnail(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """A scanner app's greyscale PNG (16 bits a pixel) had a white thumbnail: no receipt on it."""
    receipt = images.grey_png_16([(0, 40, 119, 60)], width=120, height=100)
    thumb, _, _ = await _one_photo(bot, fake_twilio, receipt)
    resp = await bot.client.get(path_of(thumb))
    assert resp.status == 200
    small = _decoded(await resp.read()).convert("L")
    assert small.getpixel((60, 10)) > 220  # type: ignore[operator]  # paper
    assert small.getpixel((60, 50)) < 30  # type: ignore[operator]  # the receipt's dark line
    # one stored as it came, 16 bits, before pictures were brought to 8: its thumbnail too
    stored = _decoded(make_thumbnail(receipt, 5 * MB, 40_000_000)).convert("L")
    assert stored.getpixel((60, 50)) < 30  # type: ignore[operator]


async def test_expired_and_forged_thumbnail_links_are_refused_like_photo_links(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    thumb, photo, key = await _one_photo(bot, fake_twilio)
    gallery_path = path_of(await gallery_link(bot, fake_twilio, ALICE))
    url, photo_url = URL(thumb), URL(photo)
    sig = url.query["sig"]
    cases = [
        url.update_query(sig=sig[:-1] + ("A" if sig[-1] != "A" else "B")),
        url.update_query(exp=str(int(url.query["exp"]) + 3600)),
        url.update_query(sig=photo_url.query["sig"]),  # the photo's signature does not open its thumbnail
        url.with_query({}),
        url.update_query(sig="é" * 22),
    ]
    for bad in cases:
        resp = await bot.client.get(str(bad.relative()))
        assert resp.status == 403, bad
        assert resp.content_type == "text/html"
        assert "This link is not valid." in await resp.text()
    # nor the thumbnail's signature the photo
    assert (await bot.client.get(str(photo_url.update_query(sig=sig).relative()))).status == 403
    # a key outside the receipts layout, or a PDF's, has no thumbnail
    assert (await bot.client.get("/thumbs/rooms/../../textwire.db")).status == 404
    pdf_key = key.rsplit(".", 1)[0] + ".pdf"
    assert (await bot.client.get(f"/thumbs/{pdf_key}?exp={url.query['exp']}&sig={sig}")).status == 404
    # a page scrolled minutes after it opened asks for its lazy thumbnails then: they still open
    # after a photo's few minutes (the photo's own link has ended), and a reload of the same page
    # link gives the same thumbnail links, which the browser has kept
    now[0] += 301
    assert (await bot.client.get(path_of(thumb))).status == 200
    assert (await bot.client.get(path_of(photo))).status == 403
    page = await (await bot.client.get(gallery_path)).text()
    assert thumb in [s.replace("&amp;", "&") for s in IMG.findall(page)]
    # they end with the page's link
    now[0] += 3600 - 301
    for method in ("GET", "HEAD"):
        resp = await bot.client.request(method, path_of(thumb))
        assert resp.status == 403
    text = await (await bot.client.get(path_of(thumb))).text()
    assert "This link has expired." in text
    assert "Reload the receipts or statement page you opened it from" in text


async def test_a_photo_stored_bigger_than_it_came_still_gets_a_thumbnail(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, make_config: Any
) -> None:
    """A photo is stored re-encoded (JPEG at quality 90; a HEIC as JPEG), often bigger than it
    came (a 12-megapixel HEIC of 1.5 MB is a 3 MB JPEG). Its "thumbnail" was then the whole
    stored photo (over `media.max_bytes`, it was not decoded), and a gallery of such receipts
    downloaded every full photo on a phone. It gets its small JPEG as any other."""
    config = make_config(twilio=fake_twilio.section())
    max_bytes = 300_000
    bot = await bot_factory(
        dataclasses.replace(config, media=dataclasses.replace(config.media, max_bytes=max_bytes))
    )
    bands = [Image.effect_noise((1200, 900), sigma) for sigma in (30, 40, 50)]
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, format="JPEG", quality=30)
    sent = out.getvalue()
    assert len(sent) < max_bytes  # taken: within media.max_bytes as it came
    with capture_logs() as logs:
        thumb, _, key = await _one_photo(bot, fake_twilio, sent)
        stored = (bot.config.data_dir / "media" / key).read_bytes()
        assert len(stored) > max_bytes  # and bigger than that as stored
        resp = await bot.client.get(path_of(thumb))
        assert resp.status == 200
        assert resp.content_type == "image/jpeg"
        body = await resp.read()
    assert max(_decoded(body).size) == THUMB_SIDE
    assert len(body) < len(stored) / 3
    assert [e for e in logs if e["event"] == "gallery.thumb_undecodable"] == []


async def test_a_photo_gone_damaged_or_unreadable_gets_a_page_or_the_original(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    thumb, photo, key = await _one_photo(bot, fake_twilio)
    path = bot.config.data_dir / "media" / key
    # a damaged file (a disk's bit rot, a cut-off copy): the original as it is, not a 500
    damaged = path.read_bytes()[:700]
    path.write_bytes(damaged)
    resp = await bot.client.get(path_of(thumb))
    assert resp.status == 200
    assert resp.content_type == "image/jpeg"
    assert await resp.read() == damaged
    # gone from the folder: the photo route's page
    path.unlink()
    for link in (thumb, photo):
        resp = await bot.client.get(path_of(link))
        assert resp.status == 404
        assert resp.content_type == "text/html"
        assert "This receipt&#39;s photo is not in the store any more." in await resp.text()
    # a disk that fails to read (here: a folder where the file was): 503, the photo kept
    path.mkdir()
    for link in (thumb, photo):
        resp = await bot.client.get(path_of(link))
        assert resp.status == 503, link
        assert resp.content_type == "text/html"
        page = await resp.text()
        assert "did not answer" in page
        assert "Reload the page in a few minutes." in page
        assert resp.headers["Cache-Control"] == "no-store"


async def test_thumbnails_from_s3_and_with_s3_down_or_the_photo_gone(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, s3_bucket: Bucket
) -> None:
    bot = await bot_factory(**s3_sections(fake_twilio, s3_bucket.endpoint, s3_bucket.name))
    thumb, photo, key = await _one_photo(bot, fake_twilio)
    assert photo.startswith(f"{s3_bucket.endpoint}/{s3_bucket.name}/{key}?")
    assert thumb.startswith(f"{bot.config.public_base}/thumbs/{key}?")
    resp = await bot.client.get(path_of(thumb))
    assert resp.status == 200
    assert resp.content_type == "image/jpeg"
    assert max(_decoded(await resp.read()).size) == THUMB_SIDE

    store = bot.runtime.deps.services.media_store
    assert store is not None
    real_bucket = store.bucket  # type: ignore[attr-defined]
    store.bucket = "gone-" + real_bucket  # type: ignore[attr-defined]  # the store answers no more
    resp = await bot.client.get(path_of(thumb))
    assert resp.status == 503
    assert "Reload the page in a few minutes." in await resp.text()
    store.bucket = real_bucket  # type: ignore[attr-defined]

    s3_bucket.client().delete_object(Bucket=s3_bucket.name, Key=key)
    resp = await bot.client.get(path_of(thumb))
    assert resp.status == 404
    assert "This receipt&#39;s photo is not in the store any more." in await resp.text()


async def test_the_pool_bounds_decodes_and_the_photos_held_for_them() -> None:
    """At most `decode_concurrency` decodes run at once, and twice that many stored photos are
    held for thumbnails: a burst of requests waits, it does not hold every photo in memory."""
    pool = media.DecodePool(1)
    assert await pool.run(sum, [1, 2]) == 3
    async with pool.reading, pool.reading:
        assert pool.reading.locked()
    assert not pool.reading.locked()
    none = media.DecodePool(0)  # at least one slot, whatever the setting
    async with none.reading:
        assert not none.reading.locked()


async def test_a_thumbnail_the_store_cannot_give_gets_the_photo_routes_page(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thumbnail route had its own copy of "gone or down": its 503 carried no Retry-After.
    It reads through the gallery's one reader: the same page as the full photo's, whatever the
    store raised."""
    thumb, photo, key = await _one_photo(bot, fake_twilio)
    store = bot.runtime.deps.services.media_store
    assert store is not None

    async def hung(key: str) -> bytes:
        raise TimeoutError

    monkeypatch.setattr(store, "get", hung)
    resp = await bot.client.get(path_of(thumb))
    assert resp.status == 503
    assert resp.headers["Retry-After"] == str(gallery.RETRY_SECONDS)
    text = await resp.text()
    assert "The store that keeps the receipt photos did not answer. The photo is kept." in text
    assert "Reload the page in a few minutes." in text
    monkeypatch.undo()

    (bot.config.data_dir / "media" / key).unlink()
    pages = []
    for link in (thumb, photo):
        resp = await bot.client.get(path_of(link))
        assert resp.status == 404
        pages.append(await resp.text())
    assert pages[0] == pages[1]
    assert "This receipt&#39;s photo is not in the store any more." in pages[0]
