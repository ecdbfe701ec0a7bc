"""The page layer: one jinja2 environment with autoescaping, one stylesheet, the `/` page, and what
the gallery pages say (times with their zone, an empty room, an expired photo link)."""

from __future__ import annotations

import errno
import fnmatch
import gzip
import re
import time
import tomllib
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from structlog.testing import capture_logs
from yarl import URL

from bot.gateway import pages
from storage.db import Database
from tests import ROOT, images, pg
from tests.conftest import ALICE, BOB, Bot, BotFactory, XBot, link_in
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_gallery import PHOTO, gallery_link, path_of, send_photos
from tests.features.receipts.test_media import mms, say
from tests.features.x.test_link_browser import CHROMIUM, Page
from tests.features.x.test_link_browser import page as chromium_page  # noqa: F401 (fixture)
from tests.ports import free_port

ROOT = ROOT

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)"
)
# the gallery's command and the statement's, each with a text its page shows once it is drawn
GALLERY_AND_STATEMENT = (("\\RECEIPTS", "2 receipts"), ("\\STATEMENT", "Spent"))


async def page_link(bot: Bot, fake_twilio: FakeTwilio, command: str) -> str:
    """The link in Alice's answer to `command` (\\RECEIPTS, \\STATEMENT)."""
    link = re.search(r"http://\S+", await say(bot, fake_twilio, command))
    assert link
    return link.group(0)


async def test_the_root_page_says_what_this_service_is(bot: Bot) -> None:
    resp = await bot.client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert "<p>textwire: an SMS bot that posts your texts to X" in page
    # a heading, as every other page has: a screen reader's list of headings had none here
    assert "<h1>textwire</h1>" in page
    assert '<meta name="viewport"' in page
    assert resp.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


async def test_every_page_uses_the_one_stylesheet(bot: Bot) -> None:
    page = await (await bot.client.get("/")).text()
    [href] = re.findall(r'<link rel="stylesheet" href="([^"]+)">', page)
    assert href == pages.STYLESHEET
    resp = await bot.client.get(href)
    assert resp.status == 200
    assert resp.content_type == "text/css"
    css = await resp.text()
    assert css == (ROOT / "bot" / "gateway" / "templates" / "textwire.css").read_text(encoding="utf-8")
    # a time never breaks across lines
    assert re.search(r"\.meta time[^{]*\{[^}]*white-space: nowrap", css)
    # no page carries a style of its own: the CSP allows only this stylesheet
    assert "<style" not in page
    assert "style-src 'self'" in (await bot.client.get("/")).headers["Content-Security-Policy"]


async def test_x_pages_without_x_set_up_are_a_page_too(bot: Bot) -> None:
    for method in ("GET", "POST"):
        resp = await bot.client.request(method, "/x/link/" + "A" * 43)
        assert resp.status == 404
        assert resp.content_type == "text/html"
        assert "Posting to X is not set up here." in await resp.text()
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


async def test_an_address_no_page_has_is_a_page_that_says_what_to_do(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A link cut short by a phone (or mistyped), a statement of a month that is none, a photo
    key outside the receipts' layout: they answered aiohttp's bare "404: Not Found", in plain
    text, with no language, title or heading for a screen reader to give and no word on what to
    do. Each is a page that says so and how to get a new link."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    link = URL(await gallery_link(bot, fake_twilio, ALICE))
    room_path = link.path.removesuffix("/receipts")
    for path in (
        "/nope",
        link.path[:-3],  # "/rooms/<id>/recei": the end of the link lost
        f"{room_path}/statement/2026-13?exp=1&sig=x",
        "/media/rooms/../../textwire.db",
        f"/thumbs{room_path}/receipts/0.pdf?exp=1&sig=x",
    ):
        resp = await bot.client.get(path)
        assert resp.status == 404, path
        assert resp.content_type == "text/html", path
        page = await resp.text()
        assert '<html lang="en">' in page
        assert "<title>Page not found</title>" in page
        assert page.count("<h1>") == 1
        assert "There is no page at this address." in page
        assert "text \\RECEIPTS (receipts), \\STATEMENT" in page
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    # another method on a route that has one is still a 405
    assert (await bot.client.post("/healthz")).status == 405


def test_the_template_layer_escapes_what_it_is_given() -> None:
    resp = pages.message('<script>alert("x")</script>', "a & b <i>c</i>", status=418)
    assert resp.status == 418
    assert resp.text is not None
    assert "<script>" not in resp.text
    assert "&lt;script&gt;" in resp.text
    assert "a &amp; b &lt;i&gt;c&lt;/i&gt;" in resp.text
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_the_templates_are_declared_as_package_data() -> None:
    """Every file under bot/gateway/templates matches a package-data pattern, so a non-editable install
    (the container) has them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["bot.gateway"]
    files = sorted((ROOT / "bot" / "gateway" / "templates").iterdir())
    assert files
    for path in files:
        relative = path.relative_to(ROOT / "bot" / "gateway").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def unsigned(page: str) -> str:
    """`page` with its links' expiry and signature (`exp=...&amp;sig=...`) left out."""
    return re.sub(r"exp=\d+&amp;sig=[\w-]+", "exp=&amp;sig=", page)


async def test_pages_go_gzipped_to_a_browser_that_takes_it(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Every page, the stylesheet and a statement's CSV went uncompressed: a 30-receipt gallery
    was 24 KB of HTML, 3.4 KB gzipped, on a phone's slow connection. A client that says it takes
    gzip gets it; one that does not gets the page as it is."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    for n in range(3):
        await send_photos(bot, fake_twilio, 1, f"lunch {n} $1{n}.50", ALICE)
    gallery = path_of(await gallery_link(bot, fake_twilio, ALICE))
    plain = await bot.client.get(gallery, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    page = await plain.text()
    assert "lunch 2" in page
    for path in (gallery, "/", pages.STYLESHEET):
        resp = await bot.client.get(path, headers={"Accept-Encoding": "gzip"})
        assert resp.status == 200
        assert resp.headers["Content-Encoding"] == "gzip", path
        text = await resp.text()  # the client unzips it
        assert "textwire" in text, path
    zipped = await bot.client.get(gallery, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    raw = await zipped.read()
    # the photos' links are signed from the second each page was made in, which may be the next
    assert unsigned(gzip.decompress(raw).decode()) == unsigned(page)
    assert len(raw) * 2 < len(page.encode())


async def test_an_empty_room_says_so_once(bot: Bot, fake_twilio: FakeTwilio) -> None:
    await say(bot, fake_twilio, "\\CREATE house pw")
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    assert page.count("No receipts yet") == 1
    assert "<ul" not in page


async def test_the_gallery_shows_times_with_their_zone(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [1_790_000_000.0]  # 2026-09-21 14:13:20 UTC
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "lunch", ALICE)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    assert "1 receipt, newest first" in page
    assert '<time datetime="2026-09-21T14:13:20Z">2026-09-21 14:13 UTC</time>' in page
    assert page.count("No receipts yet") == 0


async def test_an_expired_photo_link_says_to_reload_the_page_it_came_from(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "", ALICE)
    gallery = path_of(await gallery_link(bot, fake_twilio, ALICE))
    page = await (await bot.client.get(gallery)).text()
    [src] = [s.replace("&amp;", "&") for s in PHOTO.findall(page)]
    now[0] += 301  # photo links live a few minutes, the gallery link an hour
    resp = await bot.client.get(str(URL(src).relative()))
    assert resp.status == 403
    text = await resp.text()
    assert "This link has expired." in text
    assert "Reload the receipts or statement page you opened it from" in text
    assert "\\RECEIPTS" not in text
    # the statement's photo links are the same links: its readers were sent to "the gallery page"
    statement = await say(bot, fake_twilio, "\\STATEMENT")
    page = await (await bot.client.get(path_of(statement.split()[-1]))).text()
    [photo] = [s.replace("&amp;", "&") for s in PHOTO.findall(page)]
    now[0] += 301
    resp = await bot.client.get(str(URL(photo).relative()))
    assert resp.status == 403
    assert "Reload the receipts or statement page you opened it from" in await resp.text()
    # the gallery itself still opens, with fresh photo links
    fresh = await bot.client.get(gallery)
    assert fresh.status == 200
    [again] = [s.replace("&amp;", "&") for s in PHOTO.findall(await fresh.text())]
    assert (await bot.client.get(str(URL(again).relative()))).status == 200


# -- in a real browser -------------------------------------------------------------------------------

# each receipt card: how wide its text column is, against the card, and whether anything in it
# reaches past the card's right edge (text cut off, or a page that scrolls sideways)
_CARDS = """[...document.querySelectorAll('.receipts li, .statement li')].map(li => {
  const box = li.getBoundingClientRect();
  const body = li.querySelector('.body') || li;
  const past = [...li.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > box.right + 1);
  return {text: body.getBoundingClientRect().width / box.width, past: past.map(e => e.textContent)};
})"""


async def _zoomed_layout(tab: Page, url: str, until: str) -> tuple[bool, list[dict[str, object]]]:
    """`url` on a 390-pixel phone zoomed to 200% (a 195 CSS pixel viewport): whether the page
    scrolls sideways, and its receipt cards."""
    await tab.call(
        "Emulation.setDeviceMetricsOverride", width=195, height=422, deviceScaleFactor=4, mobile=False
    )
    await tab.goto(url, until=until)
    sideways = bool(await tab.evaluate("document.documentElement.scrollWidth > window.innerWidth"))
    return sideways, list(await tab.evaluate(_CARDS))


async def _on_a_port(bot_factory: BotFactory, fake_twilio: FakeTwilio) -> Bot:
    """A bot on a real port whose links a browser can open."""
    port = free_port()
    return await bot_factory(
        port=port, server={"public_url": f"http://127.0.0.1:{port}"}, twilio=fake_twilio.section()
    )


@needs_chromium
async def test_the_gallery_and_statement_read_on_a_phone_zoomed_to_200_percent(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    chromium_page: Page,  # noqa: F811
) -> None:
    """Zoomed in, a receipt's amount, payer and time were squeezed into a sliver beside the photo
    ("need / s an / amo / unt") and ran off the card: the text goes under the photo instead."""
    bot = await _on_a_port(bot_factory, fake_twilio)
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\NAME Maximilian Johansson")
    await send_photos(bot, fake_twilio, 1, "groceries 111.34", ALICE)
    await send_photos(bot, fake_twilio, 1, "no amount here", ALICE)
    for command, until in GALLERY_AND_STATEMENT:
        link = await page_link(bot, fake_twilio, command)
        sideways, cards = await _zoomed_layout(chromium_page, link, until)
        assert len(cards) == 2
        for card in cards:
            assert card["past"] == [], (command, card)
            assert float(str(card["text"])) > 0.8, (command, card)
        assert not sideways, command


@needs_chromium
async def test_a_caption_in_arabic_or_hebrew_reads_right_to_left(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    chromium_page: Page,  # noqa: F811
) -> None:
    """An Arabic caption ending in "!" was laid out left to right, as the page is: the "!" stood
    at its right end, where an Arabic sentence begins. Each caption takes its own direction."""
    bot = await _on_a_port(bot_factory, fake_twilio)
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "عشاء في مطعم الشام 45!", ALICE)
    await send_photos(bot, fake_twilio, 1, "dinner 12.50!", ALICE)
    directions = (
        "[...document.querySelectorAll('.cap')].map(e => [e.textContent, getComputedStyle(e).direction])"
    )
    for command, until in GALLERY_AND_STATEMENT:
        link = await page_link(bot, fake_twilio, command)
        await chromium_page.goto(link, until=until)
        assert sorted(await chromium_page.evaluate(directions)) == [
            ["dinner 12.50!", "ltr"],
            ["عشاء في مطعم الشام 45!", "rtl"],
        ], command


async def test_a_caption_piled_with_accents_cannot_paint_over_the_page(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A member's caption of a letter with hundreds of combining accents (Zalgo text) drew a
    column of them up and down the gallery and statement, through the room's balance and the
    other members' receipts. A caption keeps at most four accents on a letter; Vietnamese and
    pointed Hebrew keep all of theirs."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "lunch a" + "\u0301" * 300 + "b" + "\u0300" * 300, ALICE)
    await send_photos(bot, fake_twilio, 1, "taxi c" + "\u0301\u200c" * 200, ALICE)  # a non-joiner between
    await send_photos(bot, fake_twilio, 1, "ph\u1edf ng\u01b0\u0323\u0301i", ALICE)  # decomposed
    await send_photos(bot, fake_twilio, 1, "\u05e9\u05c1\u05bc\u05b8\u05c1\u05dd", ALICE)
    statement = re.search(r"https?://\S+", await say(bot, fake_twilio, "\\STATEMENT"))
    assert statement
    for link in (await gallery_link(bot, fake_twilio, ALICE), statement.group(0)):
        page = await (await bot.client.get(path_of(link))).text()
        assert "lunch a" + "\u0301" * 4 + "b" + "\u0300" * 4 + "</p>" in page, link
        assert "taxi c" + "\u0301\u200c" * 4 + "</p>" in page, link
        assert "ph\u1edf ng\u01b0\u0323\u0301i</p>" in page, link
        assert "\u05e9\u05c1\u05bc\u05b8\u05c1\u05dd</p>" in page, link


@needs_chromium
async def test_a_caption_typed_on_several_lines_keeps_its_lines(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    chromium_page: Page,  # noqa: F811
) -> None:
    """A caption typed as a list ("Costco run", "- paper towels", "- milk") ran on as one line,
    "Costco run - paper towels - milk". Its lines are kept, in the gallery and the statement."""
    bot = await _on_a_port(bot_factory, fake_twilio)
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "Costco run 23.10\n- paper towels\n- milk", ALICE)
    for command, until in (("\\RECEIPTS", "1 receipt"), ("\\STATEMENT", "Spent")):
        link = await page_link(bot, fake_twilio, command)
        await chromium_page.goto(link, until=until)
        shown = await chromium_page.evaluate("document.querySelector('.cap').innerText")
        assert shown == "Costco run 23.10\n- paper towels\n- milk", command


async def test_a_caption_of_many_lines_cannot_stretch_the_page(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Kept lines are a few: a caption of hundreds of empty lines would be a page of nothing
    between two receipts. Empty lines in a row are one, and past ten lines the rest run on."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "taxi\n\n\n\n  \n\nto the airport", ALICE)
    await send_photos(bot, fake_twilio, 1, "\n".join(f"item {n}" for n in range(1, 41)), ALICE)
    statement = re.search(r"https?://\S+", await say(bot, fake_twilio, "\\STATEMENT"))
    assert statement
    for link in (await gallery_link(bot, fake_twilio, ALICE), statement.group(0)):
        page = await (await bot.client.get(path_of(link))).text()
        assert ">taxi\n\nto the airport</p>" in page, link
        ten = (
            "\n".join(f"item {n}" for n in range(1, 10)) + "\n" + " ".join(f"item {n}" for n in range(10, 41))
        )
        assert f">{ten}</p>" in page, link


# what runs past the right edge of a phone's screen: the page's width against the screen's, and
# each text or picture that reaches beyond it
_SIDEWAYS = """(() => {
  const width = document.documentElement.clientWidth;
  const past = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1)
    .map(e => e.tagName + ' ' + e.textContent.trim().slice(0, 20));
  const size = tag => Math.max(...[...document.querySelectorAll(tag)].map(e => parseFloat(getComputedStyle(e).fontSize)));
  return {scrolls: document.documentElement.scrollWidth > width, past, h1: size('h1'), h2: size('h2')};
})()"""


@needs_chromium
async def test_the_gallery_and_statement_read_on_a_phone_zoomed_to_300_and_400_percent(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    chromium_page: Page,  # noqa: F811
) -> None:
    """Zoomed to 300% (a 390-pixel phone shows 130 CSS pixels), a member with no \\NAME
    ("+1******2222", no space to break at) and the statement's "Payments" heading ran off the
    screen: the headings were the browser's 1.5em, bigger than the page's own title, and did not
    wrap. At 400% (98 pixels) a photo or PDF was wider than its card. Nothing runs sideways, and a
    section's heading is smaller than the page's."""
    bot = await _on_a_port(bot_factory, fake_twilio)
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "JOIN house pw", sender=BOB)
    await send_photos(bot, fake_twilio, 1, "groceries 111.34", ALICE)
    await say(bot, fake_twilio, "bill $12.00", sender=BOB, **mms([fake_twilio.media.add(images.pdf())]))
    before = len(fake_twilio.messages)
    await say(bot, fake_twilio, "\\PAID +1******2222 5")
    sent = await fake_twilio.wait_for_messages(before + 2)  # Alice's answer, and Bob's notice
    assert any(m["Body"].startswith("Recorded: you paid") for m in sent[before:])
    for width in (130, 98):
        await chromium_page.call(
            "Emulation.setDeviceMetricsOverride", width=width, height=281, deviceScaleFactor=3, mobile=False
        )
        for command, until in GALLERY_AND_STATEMENT:
            link = await page_link(bot, fake_twilio, command)
            await chromium_page.goto(link, until=until)
            layout = await chromium_page.evaluate(_SIDEWAYS)
            assert layout["past"] == [], (width, command, layout)
            assert not layout["scrolls"], (width, command)
            assert layout["h2"] < layout["h1"], (command, layout)


# each photo's thumbnail as the phone draws it: its height and width in CSS pixels, once loaded
_THUMBS = """[...document.querySelectorAll('img.thumb')].map(i => {
  const box = i.getBoundingClientRect();
  return {loaded: i.complete && i.naturalWidth > 0, height: box.height, width: box.width};
})"""


@needs_chromium
async def test_a_long_receipt_or_one_shot_sideways_gets_a_thumbnail_of_a_card_s_size(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    chromium_page: Page,  # noqa: F811
) -> None:
    """A long receipt (a pharmacy's, 1 wide by 5 high) was drawn 96 pixels wide and 480 high: one
    card filled most of a phone's screen. Shot sideways, it was a sliver 19 pixels high, too thin
    to tap. A thumbnail stays between a finger's height and a card's; the full photo is a tap away."""
    bot = await _on_a_port(bot_factory, fake_twilio)
    await say(bot, fake_twilio, "\\CREATE house pw")
    for width, height, caption in ((400, 2000, "pharmacy 12.00"), (2000, 400, "sideways 3.00")):
        photo = fake_twilio.media.add(images.jpeg_with_gps(width, height))
        await say(bot, fake_twilio, caption, **mms([photo]))
    for command, until in GALLERY_AND_STATEMENT:
        link = await page_link(bot, fake_twilio, command)
        await chromium_page.goto(link, until=until)
        await chromium_page.wait_for(
            "[...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)"
        )
        thumbs = await chromium_page.evaluate(_THUMBS)
        assert len(thumbs) == 2, command
        for thumb in thumbs:
            assert thumb["width"] == 96, (command, thumb)
            assert 44 <= thumb["height"] <= 160, (command, thumb)


def _contrast(one: str, two: str) -> float:
    """WCAG's contrast ratio of two CSS colours as getComputedStyle gives them ("rgb(9, 105, 218)")."""

    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# every element with text of its own: its colour, and the background it sits on (its own or the
# nearest ancestor's that is painted), for the contrast of each
_TEXT_ON = """(() => {
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest('.sr-only')) continue;
    let at = el, bg = 'rgba(0, 0, 0, 0)';
    while (at) {
      bg = getComputedStyle(at).backgroundColor;
      if (!bg.startsWith('rgba') || !bg.endsWith(', 0)')) break;
      at = at.parentElement;
    }
    out.push([el.tagName + '.' + el.className, getComputedStyle(el).color, bg]);
  }
  return out;
})()"""


@needs_chromium
async def test_the_pages_follow_a_phone_set_to_dark_and_stay_readable(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    chromium_page: Page,  # noqa: F811
) -> None:
    """A phone set to dark got the gallery and statement bright white. They are dark, with every
    text at least 4.5:1 against what it sits on (and so in light, as before)."""
    bot = await _on_a_port(bot_factory, fake_twilio)
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "groceries 111.34", ALICE)
    await send_photos(bot, fake_twilio, 1, "no amount here", ALICE)
    for scheme in ("dark", "light"):
        await chromium_page.call(
            "Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}]
        )
        for command, until in GALLERY_AND_STATEMENT:
            link = await page_link(bot, fake_twilio, command)
            await chromium_page.goto(link, until=until)
            page = await chromium_page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert (_contrast(page, "rgb(0, 0, 0)") < 2) == (scheme == "dark"), (scheme, page)
            texts = await chromium_page.evaluate(_TEXT_ON)
            assert len(texts) > 5
            low = [(what, colour, on) for what, colour, on in texts if _contrast(colour, on) < 4.5]
            assert low == [], (scheme, command, low)


async def first_link(xbot: XBot) -> str:
    """The X link a stranger's first text is answered with."""
    await xbot.text("hello")
    [message] = await xbot.extras["twilio"].wait_for_messages(1)
    return link_in(message["Body"])


@needs_chromium
async def test_the_connect_button_shows_its_focus_plainly(
    xbot: XBot,
    chromium_page: Page,  # noqa: F811
) -> None:
    """Reached by the keyboard (Tab), the "Connect X" button showed it had the focus by a pale blue
    ring, 2.2:1 against the page: a person with low vision could not see where the focus was. The
    ring stands out at least 3:1 (WCAG's least for what shows the focus)."""
    link = await first_link(xbot)
    await chromium_page.goto(link, until="Connect X to +1******1111")
    for kind in ("keyDown", "keyUp"):
        await chromium_page.call(
            "Input.dispatchKeyEvent", type=kind, key="Tab", code="Tab", windowsVirtualKeyCode=9
        )
    await chromium_page.wait_for("document.activeElement.tagName === 'BUTTON'")
    ring, page, width = await chromium_page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineColor, getComputedStyle(document.body).backgroundColor, parseFloat(s.outlineWidth)]; })()"
    )
    assert width >= 2
    assert _contrast(ring, page) >= 3, (ring, page)


@needs_chromium
async def test_the_connect_button_has_an_edge_in_a_high_contrast_theme(
    xbot: XBot,
    chromium_page: Page,  # noqa: F811
) -> None:
    """Under a high-contrast theme (Windows' Contrast themes: forced colours), the browser drops
    the button's blue, and "Connect X" had no border: it read as a line of the page's text, with
    nothing to show it was a button to press. Its edge is drawn in the theme's colours."""
    link = await first_link(xbot)
    await chromium_page.call(
        "Emulation.setEmulatedMedia", features=[{"name": "forced-colors", "value": "active"}]
    )
    await chromium_page.goto(link, until="Connect X to +1******1111")
    assert await chromium_page.evaluate("matchMedia('(forced-colors: active)').matches")
    edge, colour, page = await chromium_page.evaluate(
        "(() => { const s = getComputedStyle(document.querySelector('button'));"
        " return [parseFloat(s.borderTopWidth), s.borderTopColor,"
        " getComputedStyle(document.body).backgroundColor]; })()"
    )
    assert edge >= 1
    assert _contrast(colour, page) >= 3, (colour, page)


@needs_chromium
async def test_the_connect_button_fits_a_phone_zoomed_to_400_percent(
    xbot: XBot,
    chromium_page: Page,  # noqa: F811
) -> None:
    """At 400% (a 390-pixel phone shows 98 CSS pixels) the "Connect X" button, its padding around
    a word it would not break, was 130 pixels wide and ran off the screen: it fits."""
    link = await first_link(xbot)
    await chromium_page.call(
        "Emulation.setDeviceMetricsOverride", width=98, height=211, deviceScaleFactor=4, mobile=False
    )
    await chromium_page.goto(link, until="Connect X")
    layout = await chromium_page.evaluate(_SIDEWAYS)
    assert layout["past"] == [], layout
    assert not layout["scrolls"]


async def test_the_receipts_are_a_list_to_voiceover_too(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """The receipts of the gallery and statement are a list drawn without bullets, and Safari takes
    the list away from such a one: VoiceOver on an iPhone read the receipts one after the other with
    no "list, 2 items" to say how many there were or where they ended. They say they are a list."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    await send_photos(bot, fake_twilio, 1, "lunch 12.50", ALICE)
    await send_photos(bot, fake_twilio, 1, "taxi 5.00", ALICE)
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, ALICE)))).text()
    assert '<ul class="receipts" role="list">' in page
    link = re.search(r"https://\S+", await say(bot, fake_twilio, "\\STATEMENT"))
    assert link
    page = await (await bot.client.get(path_of(link.group(0)))).text()
    assert '<ul class="statement" role="list">' in page


async def _spoken_names(tab: Page) -> list[str]:
    """What a screen reader is given to say of the open page: every accessible name in it."""
    tree = await tab.call("Accessibility.getFullAXTree")
    return [
        str(node["name"]["value"])
        for node in tree["nodes"]
        if not node.get("ignored") and node.get("name", {}).get("value")
    ]


@needs_chromium
async def test_a_screen_reader_says_a_masked_member_as_a_number_ending_not_stars(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    chromium_page: Page,  # noqa: F811
) -> None:
    """A member with no \\NAME shows as "+1******2222", and a screen reader read it out star by star
    ("plus one, star, star, star, star, star, star, two two two two") in each receipt's photo, its
    line, and the balance and payments: it says "number ending 2222"; the page still shows the
    number as before."""
    bot = await _on_a_port(bot_factory, fake_twilio)
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\NAME Alice")
    await say(bot, fake_twilio, "JOIN house pw", sender=BOB)
    await send_photos(bot, fake_twilio, 1, "groceries 20.00", BOB)
    await say(bot, fake_twilio, "bill $12.00", sender=BOB, **mms([fake_twilio.media.add(images.pdf())]))
    before = len(fake_twilio.messages)
    await say(bot, fake_twilio, "\\PAID +1******2222 5", sender=ALICE)
    # Alice's answer, and Bob's notice: not taken for the answer to her \\RECEIPTS below
    sent = await fake_twilio.wait_for_messages(before + 2)
    assert any(m["Body"].startswith("Recorded: you paid") for m in sent[before:])
    await chromium_page.call("Accessibility.enable")
    for command, until in GALLERY_AND_STATEMENT:
        link = await page_link(bot, fake_twilio, command)
        await chromium_page.goto(link, until=until)
        said = await _spoken_names(chromium_page)
        assert [name for name in said if "*" in name] == [], command
        heard = re.sub(r"\s+", " ", " ".join(said))
        assert "Receipt photo: $20.00, number ending 2222" in heard, command
        assert "Receipt PDF: $12.00, number ending 2222" in heard, command
        assert "Alice paid number ending 2222 $5.00" in heard, command
        assert "+1******2222" in await chromium_page.text(), command


@needs_chromium
async def test_the_x_confirm_page_says_whose_number_not_its_stars(
    xbot: XBot,
    chromium_page: Page,  # noqa: F811
) -> None:
    """The X link's page, "Connect X to +1******1111?", was read star by star as the page's title
    and again as its heading ("plus one, star, star, star, star, star, star, one one one one"):
    the first thing a blind person heard of it. Both say "number ending 1111"; the heading still
    shows the number as before."""
    link = await first_link(xbot)
    await chromium_page.call("Accessibility.enable")
    await chromium_page.goto(link, until="Connect X to +1******1111")
    said = await _spoken_names(chromium_page)
    assert [name for name in said if "*" in name] == []
    # the page (its title) and the heading
    assert len([name for name in said if re.fullmatch(r"Connect X to number ending 1111 ?\?", name)]) == 2
    assert "Connect X to +1******1111" in await chromium_page.text()
    assert await chromium_page.evaluate("document.title") == "Connect X to number ending 1111?"


def test_a_masked_member_is_read_out_and_the_rest_still_escaped() -> None:
    said = pages.speakable("<b>Bob</b> pays +1******2222 $5.00; Telegram ***7001 +4*******1234")
    assert str(said) == (
        "&lt;b&gt;Bob&lt;/b&gt; pays "
        '<span aria-hidden="true">+1******2222</span><span class="sr-only">number ending 2222</span>'
        ' $5.00; <span aria-hidden="true">Telegram ***7001</span>'
        '<span class="sr-only">Telegram chat ending 7001</span>'
        ' <span aria-hidden="true">+4*******1234</span><span class="sr-only">number ending 1234</span>'
    )
    assert pages.spoken("Receipt photo: +1******2222, <x>") == "Receipt photo: number ending 2222, <x>"


async def test_a_splits_masked_member_is_read_out_as_a_number_ending(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A `\\SPLIT` with a member who has no `\\NAME` showed "Split: Alice $10.00, +1******2222
    $10.00" on the receipts and statement pages, read star by star by a screen reader, where the
    same page's payer, balance and payments say "number ending 2222"."""
    fake = fake_twilio
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "\\NAME Alice")
    await say(bot, fake, "JOIN house pw", sender=BOB)
    await send_photos(bot, fake, 1, "groceries 20.00", BOB)
    assert (await say(bot, fake, "\\SPLIT me alice", sender=BOB)).startswith("Split $20.00 in house")
    bob = '<span aria-hidden="true">+1******2222</span><span class="sr-only">number ending 2222</span>'
    for command in ("\\RECEIPTS", "\\STATEMENT"):
        link = re.search(r"https://\S+", await say(bot, fake, command))
        assert link, command
        page = await (await bot.client.get(path_of(link.group(0)))).text()
        [split] = re.findall(r'<p class="split">(.*?)</p>', page)
        assert split == f"Split: Alice $10.00, {bob} $10.00", command


async def test_a_page_asked_of_while_the_database_is_away_is_a_503_page(
    pg_server: pg.PgServer | None, aiohttp_client: Any
) -> None:
    """The receipts or statement page opened while PostgreSQL was away (a restart, a failover):
    500 "Server got itself in trouble", and a traceback in the log. It is a 503 page saying to
    reload in a while, with Retry-After, and one line; an error that is not the database's
    is still the server's (500)."""
    if pg_server is None:
        pytest.skip(pg.SKIP_REASON)
    async with pg.through_a_relay(pg_server) as (url, relay):
        db = Database(url)

        async def reads_the_database(request: web.Request) -> web.Response:
            async with db.read() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return web.Response(text="the page")

        async def breaks(request: web.Request) -> web.Response:
            raise ValueError("a bug of the page's")

        async def its_disk_is_full(request: web.Request) -> web.Response:  # the page's own, too
            raise OSError(errno.ENOSPC, "No space left on device")

        app = web.Application()
        app.router.add_get("/rooms/{room}/receipts", pages.database_away(reads_the_database))
        app.router.add_get("/broken", pages.database_away(breaks))
        app.router.add_get("/full", pages.database_away(its_disk_is_full))
        client = await aiohttp_client(app)
        try:
            assert (await client.get("/rooms/r1/receipts")).status == 200
            await relay.close()  # the database is away: its connections closed, new ones refused
            with capture_logs() as logs:
                resp = await client.get("/rooms/r1/receipts")
                assert resp.status == 503
                assert resp.headers["Retry-After"] == str(pages.AWAY_RETRY_SECONDS)
                assert resp.headers["Cache-Control"] == "no-store"
                page = await resp.text()
                assert "<h1>Not available just now</h1>" in page
                assert "Reload the page in a minute." in page
                assert (await client.get("/broken")).status == 500
                assert (await client.get("/full")).status == 500
            [line] = [e for e in logs if e["event"] == "http.database_away"]
            assert line["route"] == "/rooms/{room}/receipts"
            assert line["log_level"] == "warning"
            assert line["reason"] in (
                "ConnectionRefusedError",
                "ConnectionDoesNotExistError",
                "InterfaceError",
            )
        finally:
            await db.close()


def test_every_page_route_answers_503_while_the_database_is_away(bot: Bot) -> None:
    """Every page a person opens from a link (the receipts, a statement, its CSV and zip, a photo
    and its thumbnail, the X link pages) goes through `pages.database_away`; the webhooks answer
    their own 503 and go without it."""
    served = {
        (route.method, route.resource.canonical): route.handler
        for route in bot.client.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    wrapped = {key for key, handler in served.items() if getattr(handler, "__wrapped__", None) is not None}
    pages_of_links = {key for key in served if key[1].startswith(("/rooms/", "/media/", "/thumbs/", "/x/"))}
    assert len(pages_of_links) == 9, sorted(pages_of_links)
    assert wrapped == pages_of_links
