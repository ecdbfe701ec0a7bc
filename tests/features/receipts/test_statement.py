"""`\\STATEMENT [YYYY-MM]`: a signed link to a room's month (receipts, payments, balances at its
end), its CSV (formula cells neutralised) and a zip of its photos; each form signed on its own."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import random
import re
import socket
import zipfile
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs
from yarl import URL

from bot.features.receipts import gallery, media
from bot.features.receipts.statement import (
    Entry,
    PaymentEntry,
    Statement,
    csv_text,
    decimal_amount,
    download_size,
    month_bounds,
    month_of,
    safe_cell,
    zip_name,
)
from tests import images
from tests.conftest import ALICE, BOB, Bot, BotFactory, wait_for
from tests.fakes.s3 import Bucket, s3_sections
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_media import mms, say

OCT_15 = dt.datetime(2026, 10, 15, 12, 0, tzinfo=dt.UTC).timestamp()


def path_of(link: str) -> str:
    return str(URL(link).relative())


async def statement_link(bot: Bot, fake: FakeTwilio, sender: str, month: str = "") -> str:
    reply = await say(bot, fake, f"\\STATEMENT {month}".strip(), sender=sender)
    match = re.fullmatch(r"Statement: (https://\S+)", reply)
    assert match, reply
    return match.group(1)


async def _october(bot: Bot, fake: FakeTwilio, now: list[float]) -> bytes:
    """Alice and Bob's house: in October a $30.00 receipt of Alice's (a caption that starts like a
    formula) and Bob's $5.00 to her; in November a $10.00 receipt of Alice's. The October photo."""
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "\\NAME Alice")
    await say(bot, fake, "JOIN house pw", sender=BOB)
    await say(bot, fake, "\\NAME Bob", sender=BOB)
    photo = images.jpeg_with_gps()
    now[0] += 60
    reply = await say(bot, fake, "=HYPERLINK(1) <b>lunch</b> $30.00", **mms([fake.media.add(photo)]))
    assert reply.startswith("Saved $30.00 to house"), reply
    now[0] += 60
    before = len(fake.messages)
    await say(bot, fake, "\\PAID Alice 5", sender=BOB)
    sent = await fake.wait_for_messages(before + 2)  # Bob's answer, and Alice's notice
    assert any(m["Body"].startswith("Bob paid you $5.00") for m in sent[before:])
    now[0] = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC).timestamp()
    reply = await say(bot, fake, "taxi $10.00", **mms([fake.media.add(images.jpeg_with_gps())]))
    assert reply.startswith("Saved $10.00 to house"), reply
    return photo


async def test_a_months_statement_page_csv_and_photos(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await _october(bot, fake_twilio, now)
    link = await statement_link(bot, fake_twilio, BOB, "2026-10")
    assert "/statement/2026-10?exp=" in link

    resp = await bot.client.get(path_of(link))
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    page = await resp.text()
    assert "house: October 2026" in page
    assert "&lt;b&gt;lunch&lt;/b&gt;" in page
    assert "<b>lunch</b>" not in page
    assert "Bob paid Alice $5.00" in page
    assert "taxi" not in page  # November's
    # the balance at October's end: Bob's half of $30.00, less the $5.00 he paid
    assert "Bob pays Alice $10.00" in page
    assert ALICE not in page
    assert BOB not in page

    csv_href = re.search(r'href="(2026-10\.csv\?[^"]+)"', page)
    zip_href = re.search(r'href="(2026-10\.zip\?[^"]+)"', page)
    assert csv_href
    assert zip_href
    base = URL(link)
    csv_url = base.join(URL(csv_href.group(1).replace("&amp;", "&")))
    resp = await bot.client.get(str(csv_url.relative()))
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    assert 'filename="house-2026-10.csv"' in resp.headers["Content-Disposition"]
    text = (await resp.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["type"], r["paid_by"], r["paid_to"], r["amount"], r["currency"]) for r in rows] == [
        ("receipt", "Alice", "", "30.00", "USD"),
        ("payment", "Bob", "Alice", "5.00", "USD"),
    ]
    assert rows[0]["status"] == "counted"
    # the documented ten first, as spreadsheets built on them read them; then what a rate converted
    # (none here), on every row
    assert list(rows[0]) == [
        "date", "type", "paid_by", "paid_to", "amount", "currency", "status", "split", "caption", "receipt_id",
        "original_amount", "original_currency", "rate", "utc_offset",
    ]  # fmt: skip
    assert [(r["original_amount"], r["original_currency"], r["rate"]) for r in rows] == [("", "", "")] * 2
    # who shared it, an equal split too: the column was empty unless \\SPLIT had reshaped it
    assert rows[0]["split"] == "Alice $15.00, Bob $15.00"
    assert rows[1]["split"] == ""
    assert rows[0]["caption"] == "'=HYPERLINK(1) <b>lunch</b> $30.00"  # shown as text, never run
    assert rows[0]["date"].startswith("2026-10-15 12:0")

    zip_url = base.join(URL(zip_href.group(1).replace("&amp;", "&")))
    # a HEAD (a link checker, a chat app's preview) gets the headers and reads no photo: it read
    # every one, as for the archive it then threw away
    reads: list[str] = []
    store = type(media.store_of(bot.runtime.deps))
    real_get = store.get

    async def counted_get(self: Any, key: str) -> bytes:
        reads.append(key)
        return await real_get(self, key)

    monkeypatch.setattr(store, "get", counted_get)
    resp = await bot.client.head(str(zip_url.relative()))
    assert resp.status == 200
    assert resp.content_type == "application/zip"
    assert await resp.read() == b""
    assert reads == []
    resp = await bot.client.get(str(zip_url.relative()))
    assert resp.status == 200
    assert resp.content_type == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
    assert archive.testzip() is None
    names = archive.namelist()
    assert len(names) == 1
    assert re.fullmatch(r"20261015_1201_001_Alice\.jpg", names[0]), names
    stored = await bot.rows("SELECT object_key FROM receipts ORDER BY created_at")
    local = bot.config.data_dir / "media" / stored[0].object_key
    assert archive.read(names[0]) == local.read_bytes()

    # a file gone from the store is listed, the others still come
    local.unlink()
    resp = await bot.client.get(str(zip_url.relative()))
    archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
    assert archive.namelist() == ["MISSING.txt"]
    assert names[0] in archive.read("MISSING.txt").decode()


async def zip_of(bot: Bot, link: str) -> aiohttp.ClientResponse:
    page = await (await bot.client.get(path_of(link))).text()
    href = re.search(r'href="(\d{4}-\d{2}\.zip\?[^"]+)"', page)
    assert href
    return await bot.client.get(str(URL(link).join(URL(href.group(1).replace("&amp;", "&"))).relative()))


async def test_the_zip_with_the_store_down_says_to_try_again_not_that_the_photos_are_gone(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, s3_bucket: Bucket
) -> None:
    """With S3 down, the zip took over a minute and held only a MISSING.txt that said every photo
    was "not in the store any more": a page says to try again in a few minutes; a photo that is
    really gone from the bucket is still listed as gone."""
    bot = await bot_factory(
        clock=lambda: OCT_15, **s3_sections(fake_twilio, s3_bucket.endpoint, s3_bucket.name)
    )
    await say(bot, fake_twilio, "\\CREATE house pw")
    for total in ("$30.00", "$12.00"):
        reply = await say(
            bot, fake_twilio, f"lunch {total}", **mms([fake_twilio.media.add(images.jpeg_with_gps())])
        )
        assert reply.startswith(f"Saved {total} to house"), reply
    link = await statement_link(bot, fake_twilio, ALICE)
    store = bot.runtime.deps.services.media_store
    assert store is not None
    real_bucket = store.bucket  # type: ignore[attr-defined]

    store.bucket = "gone-" + real_bucket  # type: ignore[attr-defined]  # the store answers no more
    resp = await zip_of(bot, link)
    assert resp.status == 503
    assert resp.content_type == "text/html"
    assert resp.headers["Retry-After"] == str(gallery.RETRY_SECONDS)
    page = await resp.text()
    # the words of the photo and thumbnail routes' page, for the month's photos
    assert "The store that keeps the receipt photos did not answer. The photos are kept." in page
    assert "Try the download again in a few minutes" in page
    assert "not in the store any more" not in page.lower()

    store.bucket = real_bucket  # type: ignore[attr-defined]
    keys = await s3_bucket.keys()
    assert len(keys) == 2
    s3_bucket.client().delete_object(Bucket=s3_bucket.name, Key=keys[0])
    resp = await zip_of(bot, link)
    assert resp.status == 200
    archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
    names = archive.namelist()
    assert len(names) == 2, names
    assert "MISSING.txt" in names
    missing = archive.read("MISSING.txt").decode()
    assert missing.startswith("Not in the store any more:\n"), missing
    assert "Not fetched" not in missing


async def test_the_month_under_way_shows_the_balance_now_not_at_its_end(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """On October 15th the October page said "Balance at the end of October 2026" and that the
    balances stood as at the month's end, as if the month were closed: it says they are as of
    now. Once October is over, its page gives the balance at its end."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "JOIN house pw", sender=BOB)
    await say(bot, fake_twilio, "$30.00", **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    page = await (await bot.client.get(path_of(await statement_link(bot, fake_twilio, BOB)))).text()
    assert "Balance on 2026-10-15 12:00 (USD)" in page
    assert "balances as they stand now, on 2026-10-15 12:00 (the month is not over)." in page
    assert "end of October" not in page
    assert "month&#39;s end" not in page
    assert "month's end" not in page
    now[0] = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC).timestamp()
    page = await (
        await bot.client.get(path_of(await statement_link(bot, fake_twilio, BOB, "2026-10")))
    ).text()
    assert "Balance at the end of October 2026 (USD)" in page
    assert "Balance on" not in page


async def test_a_months_page_says_what_was_carried_in_from_the_months_before(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """November's page listed its $10.00 receipt (Bob's half: $5.00) and said "Bob pays Alice
    $15.00": the $10.00 he still owed from October was nowhere on it, and the page did not add up
    by hand. It says where each stood when the month began."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await _october(bot, fake_twilio, now)
    november = await (await bot.client.get(path_of(await statement_link(bot, fake_twilio, BOB)))).text()
    assert "Bob pays Alice $15.00" in november
    assert (
        "At the start of November 2026, from the months before: Alice: owed $10.00 · Bob: owes $10.00."
        in november
    ), november
    # the room's first month carries nothing in
    october = await (
        await bot.client.get(path_of(await statement_link(bot, fake_twilio, BOB, "2026-10")))
    ).text()
    assert "At the start of" not in october


async def test_a_months_page_reads_the_rooms_receipts_once(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A statement gives the balances where its month began and where it ended. Each was a read of
    every receipt of the room with its members (a 60-member club's 3,000 receipts: 180,000 rows, a
    second a read): both now come from one read, and say what they said."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await _october(bot, fake_twilio, now)
    link = path_of(await statement_link(bot, fake_twilio, BOB))
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "JOIN receipt_members" in statement:
            reads.append(statement)

    engine = bot.runtime.deps.db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        november = await (await bot.client.get(link)).text()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(reads) == 1
    assert "Bob pays Alice $15.00" in november
    assert (
        "At the start of November 2026, from the months before: Alice: owed $10.00 · Bob: owes $10.00."
        in november
    ), november


async def test_each_form_is_signed_on_its_own_and_expires(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\CREATE trip pw")
    link = URL(await statement_link(bot, fake_twilio, ALICE, "2026-10"))
    assert (await bot.client.get(str(link.relative()))).status == 200
    room_id = link.path.split("/")[2]
    sig = link.query["sig"]
    cases = [
        link.update_query(sig=sig[:-1] + ("A" if sig[-1] != "A" else "B")),
        link.update_query(exp=str(int(link.query["exp"]) + 3600)),
        link.with_path(f"/rooms/{room_id}/statement/2026-09"),  # another month
        link.with_path(f"/rooms/{room_id}/statement/2026-10.csv"),  # the page's signature, the CSV
        link.with_path(f"/rooms/{room_id}/statement/2026-10.zip"),
        link.with_query({}),
        link.update_query(sig=sig[:-1] + "é"),  # was a 500 and a traceback
    ]
    for bad in cases:
        resp = await bot.client.get(str(bad.relative()))
        assert resp.status == 403, bad
        page = await resp.text()
        assert "This link is not valid." in page
        assert "\\STATEMENT" in page
    for bad_month in ("2026-13", "2026-1", "1999-12", "abcd-10"):
        resp = await bot.client.get(f"/rooms/{room_id}/statement/{bad_month}?exp=1&sig=x")
        assert resp.status == 404
    now[0] += 3600 + 1
    resp = await bot.client.get(str(link.relative()))
    assert resp.status == 403
    page = await resp.text()
    assert "This link has expired." in page
    # a bare \STATEMENT is this month's (November's): the page names the month and room it was for
    assert "Text \\STATEMENT 2026-10 to the bot to get a new one" in page
    assert "(from trip: \\USE trip first if it is not your active room)." in page
    assert "house" not in page


async def test_the_command_takes_this_month_or_a_past_one(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    assert (await say(bot, fake_twilio, "\\STATEMENT")).startswith("You are not in a room.")
    await say(bot, fake_twilio, "\\CREATE house pw")
    assert "/statement/2026-10?" in await statement_link(bot, fake_twilio, ALICE)
    # a month before the room was made: its link gave an empty page, as if nothing had happened
    assert await say(bot, fake_twilio, "\\STATEMENT 2025-01") == (
        "house began in 2026-10: \\STATEMENT 2026-10 is its first month."
    )
    assert await say(bot, fake_twilio, "\\STATEMENT 2026-11") == "2026-11 has not begun in house yet."
    assert (
        await say(bot, fake_twilio, "\\STATEMENT october")
        == "Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT 2026-10?"
    )
    assert (
        await say(bot, fake_twilio, "\\STATEMENT last")
        == "Usage: \\STATEMENT [YYYY-MM], e.g. \\STATEMENT 2026-10"
    )
    # the room's zone decides the month: 23:30 UTC on Oct 31 is November in Paris
    now[0] = dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.UTC).timestamp()
    await say(bot, fake_twilio, "\\TIMEZONE Europe/Paris")
    assert "/statement/2026-11?" in await statement_link(bot, fake_twilio, ALICE)


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+15550001111", "'+15550001111"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("lunch = 12", "lunch = 12"),
        ("", ""),
    ],
)
def test_a_cell_that_starts_like_a_formula_is_text(value: str, safe: str) -> None:
    assert safe_cell(value) == safe


def test_months_and_amounts() -> None:
    assert month_of("2026-11") == (2026, 11)
    assert month_of("2026-00") is None
    assert month_of(" 2026-11") is None
    assert month_of("9999-12") is None  # its end is no date: a signed page for it answered 500
    assert month_of("2999-12") == (2999, 12)
    month_bounds(2999, 12, ZoneInfo("Pacific/Kiritimati"))
    paris = ZoneInfo("Europe/Paris")
    start, end = month_bounds(2026, 12, paris)
    assert dt.datetime.fromtimestamp(start, paris) == dt.datetime(2026, 12, 1, tzinfo=paris)
    assert dt.datetime.fromtimestamp(end, paris) == dt.datetime(2027, 1, 1, tzinfo=paris)
    # October in Paris has 31 days and one hour more (summer time ends)
    start, end = month_bounds(2026, 10, paris)
    assert end - start == 31 * 86400 + 3600
    assert decimal_amount(2317, "USD") == "23.17"
    assert decimal_amount(100, "USD") == "1.00"
    assert decimal_amount(4421, "JPY") == "4421"
    assert decimal_amount(1234, "BHD") == "1.234"


def _photo_of(who: str) -> Entry:
    """A statement entry of a photo by `who` (what a zip name is made of)."""
    return Entry(
        id="r1",
        when="2026-10-15 12:01",
        iso="",
        who=who,
        amount="",
        amount_decimal="",
        currency="USD",
        status="counted",
        note="",
        split="",
        caption="",
        object_key="rooms/x/y.jpg",
        content_type="image/jpeg",
    )


def test_zip_names_keep_nothing_typed_but_plain_characters() -> None:
    entry = _photo_of("../../etc/passwd Bob")
    assert zip_name(3, entry) == "20261015_1201_003_etc-passwd-Bob.jpg"


@pytest.mark.parametrize(
    ("who", "name"),
    [
        ("José", "Jose"),
        ("Zoë Müller", "Zoe-Muller"),
        ("Søren Ærø", "Soren-AEro"),
        ("Straße", "Strasse"),
        ("Åsa Ñúñez", "Asa-Nunez"),
        ("Дмитрий", "member"),
    ],
)
def test_zip_names_keep_a_members_accented_name_in_plain_letters(who: str, name: str) -> None:
    """José's photos were named `..._Jos.jpg`, Søren's `..._S-ren.jpg`: each letter a `\\NAME` may
    have is kept as its plain letter."""
    entry = _photo_of(who)
    assert zip_name(3, entry) == f"20261015_1201_003_{name}.jpg"


def test_csv_rows_keep_time_order_across_the_hour_a_clock_falls_back() -> None:
    """A receipt at 01:30 PDT and a payment 40 minutes later at 01:10 PST (2026-11-01, Los
    Angeles): sorted by their local text, the payment came first."""
    zone = ZoneInfo("America/Los_Angeles")
    receipt_at = dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC).astimezone(zone)
    paid_at = dt.datetime(2026, 11, 1, 9, 10, tzinfo=dt.UTC).astimezone(zone)
    receipt = Entry(
        "r1", receipt_at.strftime("%Y-%m-%d %H:%M"), receipt_at.isoformat(timespec="seconds"), "Bob",
        "$12.00", "12.00", "USD", "counted", "", "", "groceries", "k", "image/jpeg",
    )  # fmt: skip
    payment = PaymentEntry(
        paid_at.strftime("%Y-%m-%d %H:%M"), paid_at.isoformat(timespec="seconds"), "Zoe", "Bob", "$5.00",
        "5.00", "USD",
    )  # fmt: skip
    statement = Statement("house", "2026-11", "November 2026", zone.key, "USD", [receipt], [payment], [], [])
    rows = list(csv.reader(io.StringIO(csv_text(statement).lstrip("\ufeff"))))
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("2026-11-01 01:30", "receipt"),
        ("2026-11-01 01:10", "payment"),
    ]


async def test_the_page_says_what_the_months_receipts_came_to_and_who_paid_it(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """The statement listed each receipt of the month but never their sum: a room settling up
    added the amounts by hand. It says what the counted receipts came to, who paid how much of it
    (most first), and how many were left out (a photo with no amount)."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\NAME Alice")
    await say(bot, fake_twilio, "JOIN house pw", sender=BOB)
    await say(bot, fake_twilio, "\\NAME Bob", sender=BOB)
    for sender, caption in ((ALICE, "$30.00"), (BOB, "$45.50"), (ALICE, "$4.25"), (BOB, "no total here")):
        now[0] += 60
        await say(
            bot, fake_twilio, caption, sender=sender, **mms([fake_twilio.media.add(images.jpeg_with_gps())])
        )
    page = await (await bot.client.get(path_of(await statement_link(bot, fake_twilio, BOB)))).text()
    assert (
        "Spent: <strong>$79.75</strong> on 3 receipts (Bob $45.50 · Alice $34.25); 1 more not counted."
        in page
    ), page
    # a month whose receipts are none of them counted says so
    now[0] = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC).timestamp()
    await say(bot, fake_twilio, "no total", **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    november = await (await bot.client.get(path_of(await statement_link(bot, fake_twilio, BOB)))).text()
    assert "None of these receipts is counted (see each one's note)." in november
    assert "Spent" not in november


async def test_a_zip_whose_store_stops_midway_lists_the_rest_in_the_galleries_words(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zip read its photos with a copy of its own of the gallery's "gone or down": it reads
    through the gallery's one reader. The store failing after the first photo (whatever it
    raised) lists the rest as not fetched, kept, to download again; a photo gone is listed as
    gone."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    for total in ("$30.00", "$12.00", "$5.00"):
        await say(bot, fake_twilio, total, **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    link = await statement_link(bot, fake_twilio, ALICE)
    store = bot.runtime.deps.services.media_store
    assert store is not None
    async with bot.runtime.deps.db.read() as conn:
        order = "SELECT object_key FROM receipts ORDER BY created_at, message_sid, media_index"
        keys = [str(k) for k in (await conn.execute(sa.text(order))).scalars()]
    (bot.config.data_dir / "media" / keys[1]).unlink()
    real = store.get
    calls: list[str] = []

    async def failing_after_two(key: str) -> bytes:
        calls.append(key)
        if len(calls) > 2:
            raise RuntimeError("connection pool closed")
        return await real(key)

    monkeypatch.setattr(store, "get", failing_after_two)
    resp = await zip_of(bot, link)
    assert resp.status == 200
    archive = zipfile.ZipFile(io.BytesIO(await resp.read()))
    names = archive.namelist()
    assert len(names) == 2, names
    assert names[1] == "MISSING.txt"
    missing = archive.read("MISSING.txt").decode()
    gone, later = missing.split("\n\n")
    assert gone.startswith("Not in the store any more:\n")
    assert later.startswith(
        "Not fetched: the store that keeps the receipt photos did not answer. They are kept;"
        " download the zip again in a few minutes for them:\n"
    )


async def test_the_statement_shows_each_photos_thumbnail_as_the_gallery_does(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """The statement listed its receipts with a bare "photo" link while the gallery showed each
    one's thumbnail: it shows the same thumbnails (the same /thumbs links, signed until the page's
    own link ends), each opening the full photo; a PDF keeps its link and a deleted photo its
    note, with no picture."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "lunch $30.00", **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    await say(bot, fake_twilio, "bill $12.00", **mms([fake_twilio.media.add(images.pdf())]))
    await say(bot, fake_twilio, "taxi $5.00", **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(
            sa.text(
                "UPDATE receipts SET photo_deleted_at = :at, photo_deleted_why = 'request'"
                " WHERE caption = 'taxi $5.00'"
            ),
            {"at": OCT_15},
        )
    link = await statement_link(bot, fake_twilio, ALICE)
    resp = await bot.client.get(path_of(link))
    assert "img-src 'none'" not in resp.headers["Content-Security-Policy"]
    page = await resp.text()
    pairs = re.findall(r'<a href="([^"]+)" rel="noreferrer"><img src="([^"]+)"', page)
    assert len(pairs) == 1, pairs  # the photo's; the PDF and the deleted photo have none
    photo, thumb = (URL(s.replace("&amp;", "&")) for s in pairs[0])
    assert thumb.path.startswith("/thumbs/rooms/")
    assert thumb.query["exp"] == URL(link).query["exp"]  # it ends with the page
    assert 'alt="Receipt photo: $30.00, ' in page
    assert 'loading="lazy"' in page
    assert ">PDF</a>" in page
    assert "photo deleted at the uploader&#39;s request" in page
    resp = await bot.client.get(str(thumb.relative()))
    assert resp.status == 200
    assert resp.content_type == "image/jpeg"
    resp = await bot.client.get(str(photo.relative()))  # tapping it opens the full photo
    assert resp.status == 200
    key = await bot.scalar("SELECT object_key FROM receipts WHERE caption = 'lunch $30.00'")
    assert await resp.read() == (bot.config.data_dir / "media" / key).read_bytes()
    # scrolled to after a photo link's few minutes, the thumbnail still shows; after the page's
    # hour it has ended with it
    now[0] += 301
    assert (await bot.client.get(str(thumb.relative()))).status == 200
    now[0] += 3600
    assert (await bot.client.get(str(thumb.relative()))).status == 403


async def test_a_month_whose_photos_are_all_deleted_offers_no_zip(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Once every photo of a month was deleted (`media.retention_days`, or at the uploaders'
    request), its page still offered "Photos (zip)", a download that held only a MISSING.txt: it
    says the month's photos are deleted instead. One photo kept brings the link back."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    for caption in ("lunch $30.00", "taxi $5.00"):
        await say(bot, fake_twilio, caption, **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(
            sa.text("UPDATE receipts SET photo_deleted_at = :at, photo_deleted_why = 'retention'"),
            {"at": OCT_15},
        )
    page = await (await bot.client.get(path_of(await statement_link(bot, fake_twilio, ALICE)))).text()
    assert "Photos (zip" not in page
    assert ".zip?" not in page
    assert "the month's photos are deleted" in page
    assert "Download CSV" in page
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(
            sa.text("UPDATE receipts SET photo_deleted_at = NULL WHERE caption = 'taxi $5.00'")
        )
    page = await (await bot.client.get(path_of(await statement_link(bot, fake_twilio, ALICE)))).text()
    assert "Photos (zip, " in page
    assert "photos are deleted" not in page


async def test_the_page_tells_apart_the_times_of_the_hour_a_clock_falls_back(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Los Angeles, 2026-11-01: Alice's receipt at 01:30 PDT and Bob's payment 40 minutes later,
    at 01:10 PST. The page listed them as 01:30 and then 01:10, in time order but reading
    backwards; in the hour that comes twice each time says which it is."""
    fake = fake_twilio
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake.section())
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "\\NAME Alice")
    await say(bot, fake, "JOIN house pw", sender=BOB)
    await say(bot, fake, "\\NAME Bob", sender=BOB)
    assert await say(bot, fake, "\\TIMEZONE America/Los_Angeles") == (
        "house keeps time in America/Los_Angeles now."
    )
    now[0] = dt.datetime(2026, 11, 1, 8, 30, tzinfo=dt.UTC).timestamp()  # 01:30 PDT
    reply = await say(bot, fake, "$12.00", **mms([fake.media.add(images.jpeg_with_gps())]))
    assert reply.startswith("Saved $12.00 to house"), reply
    now[0] = dt.datetime(2026, 11, 1, 9, 10, tzinfo=dt.UTC).timestamp()  # 01:10 PST
    before = len(fake.messages)
    await say(bot, fake, "\\PAID Alice 5", sender=BOB)
    await fake.wait_for_messages(before + 2)  # Bob's answer, and Alice's notice
    now[0] = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC).timestamp()  # 04:00 PST
    link = await statement_link(bot, fake, ALICE)
    page = await (await bot.client.get(path_of(link))).text()
    assert ">2026-11-01 01:30 PDT</time>" in page, page
    assert ">2026-11-01 01:10 PST</time> Bob paid Alice $5.00" in page, page
    assert "Balance on 2026-11-01 04:00 (USD)" in page  # an hour that comes once: as before
    # the CSV keeps the plain local time a spreadsheet reads as a date, in time order, and says
    # at its end which of the two 01:xx each is: the CSV alone, read apart from its page, could not
    csv_href = re.search(r'href="(2026-11\.csv\?[^"]+)"', page)
    assert csv_href
    csv_url = URL(link).join(URL(csv_href.group(1).replace("&amp;", "&")))
    text = await (await bot.client.get(str(csv_url.relative()))).text()
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert [(r[0], r[1], r[-1]) for r in rows[1:]] == [
        ("2026-11-01 01:30", "receipt", "UTC-07:00"),
        ("2026-11-01 01:10", "payment", "UTC-08:00"),
    ]
    assert rows[0][-1] == "utc_offset"


async def test_a_pdf_receipts_link_says_whose_it_is_of_how_much_and_when(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A screen reader's list of the statement's links read each PDF receipt as "PDF", one like
    the other: it says whose receipt it is, of how much and when, as the gallery's does."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    await say(bot, fake_twilio, "\\NAME Alice")
    await say(bot, fake_twilio, "bill $12.00", **mms([fake_twilio.media.add(images.pdf())]))
    page = await (await bot.client.get(path_of(await statement_link(bot, fake_twilio, ALICE)))).text()
    [link] = re.findall(r'<a href="[^"]+/media/[^"]+"[^>]*>PDF</a>', page)
    assert 'aria-label="Receipt PDF: $12.00, Alice, 2026-10-15 12:00"' in link


async def test_the_pages_title_says_it_is_the_rooms_statement(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """The statement's title and heading were "house: November 2026": a screen reader opening it,
    or a browser's list of tabs beside the receipts page ("Receipts of house"), did not say what
    the page was. It is "Statement of house: October 2026"."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    page = await (await bot.client.get(path_of(await statement_link(bot, fake_twilio, ALICE)))).text()
    assert "<title>Statement of house: October 2026</title>" in page
    assert page.count("<h1>") == 1
    assert "<h1>Statement of house: October 2026</h1>" in page


async def test_the_photos_zip_link_says_how_big_the_download_is(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """ "Photos (zip)" said nothing of its size: a month of phone photos is tens of MB, and a person
    on a slow or metered connection learnt it only by waiting. The link says it ("Photos (zip,
    4.1 MB)"): the kept photos' stored bytes, as the zip holds them."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    for caption in ("lunch $30.00", "taxi $5.00"):
        await say(bot, fake_twilio, caption, **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    size = int(await bot.scalar("SELECT SUM(size) FROM receipts"))
    link = await statement_link(bot, fake_twilio, ALICE)
    page = await (await bot.client.get(path_of(link))).text()
    assert f"download>Photos (zip, {download_size(size)})</a>" in page
    archive = await (await zip_of(bot, link)).read()
    assert size < len(archive) < size + 1000  # the photos as they are, and their names
    assert [download_size(n) for n in (0, 240_400, 999_499, 999_500, 4_130_000, 48_000_000)] == [
        "1 KB",
        "240 KB",
        "999 KB",
        "1.0 MB",
        "4.1 MB",
        "48.0 MB",
    ]


async def test_a_room_on_utc_for_want_of_a_zone_says_so_on_its_pages(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A room with no zone (made on Telegram, or from a number with no area) keeps UTC: a Sydney
    household's months ended at 11:00 on the 1st, and a receipt of that morning was in the month
    before. `\\REMIND` said how to set the room's zone; the statement and the gallery, where the
    months and times are, said only "times in UTC". They say how too, until the room has one."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")  # Alice's +1 555 number: no area, no zone
    await say(bot, fake_twilio, "lunch $30.00", **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    hint = "has no time zone yet: text \\TIMEZONE &lt;city&gt; to set yours"

    async def pages() -> tuple[str, str]:
        statement = await (
            await bot.client.get(path_of(await statement_link(bot, fake_twilio, ALICE)))
        ).text()
        gallery = (await say(bot, fake_twilio, "\\RECEIPTS")).rsplit(" ", 1)[-1]
        return statement, await (await bot.client.get(path_of(gallery))).text()

    statement, receipts = await pages()
    assert f"times in UTC (the room {hint}, and its months and times follow it);" in statement
    assert f"Times are in UTC (the room {hint})." in receipts
    assert (await say(bot, fake_twilio, "\\TIMEZONE Australia/Sydney")).endswith("Australia/Sydney now.")
    statement, receipts = await pages()
    assert "times in Australia/Sydney;" in statement
    assert "Times are in Australia/Sydney." in receipts
    assert "no time zone" not in statement + receipts


async def test_a_month_typed_with_its_year_is_answered_with_the_form_to_send(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\STATEMENT october` was answered "Did you mean \\STATEMENT 2026-10?", but `\\STATEMENT
    Oct 2026` (two words, as people write a month) got the bare usage, with no month to send."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    # a month and its year, as people write them: the form to send
    for typed, meant in (("2026 Oct", "2026-10"), ("september 2026", "2026-09"), ("Sept. 2025", "2025-09")):
        assert (
            await say(bot, fake_twilio, f"\\STATEMENT {typed}")
            == f"Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT {meant}?"
        )
    # the active room named after the month is as naming none
    assert "/statement/2026-10?" in await say(bot, fake_twilio, "\\STATEMENT 2026-10 house")


async def _zip_target(bot: Bot, link: str) -> str:
    page = await (await bot.client.get(path_of(link))).text()
    href = re.search(r'href="(\d{4}-\d{2}\.zip\?[^"]+)"', page)
    assert href
    return str(URL(link).join(URL(href.group(1).replace("&amp;", "&"))).relative())


async def test_a_zip_the_phone_stops_taking_or_cancels_ends_and_is_not_the_database(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A phone that stopped reading the month's zip (a paused download, a connection gone quiet
    but kept open) held the photo under way and its connection for as long as it kept it open;
    one that cancelled the download was logged as the database away (http.database_away, 503 in
    the access log). A download taking nothing for STALL_SECONDS is closed, and either ends with
    one line, statement.zip_cut."""
    monkeypatch.setattr("bot.features.receipts.statement.STALL_SECONDS", 0.2, raising=False)
    await say(bot, fake_twilio, "\\CREATE house pw")
    for total in ("$30.00", "$12.00"):
        await say(bot, fake_twilio, total, **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    for row in await bot.rows("SELECT object_key FROM receipts"):
        # 5 MB each, more than the sockets' buffers hold: the download has to wait on the phone
        (bot.config.data_dir / "media" / row.object_key).write_bytes(random.randbytes(5_000_000))
    target = await _zip_target(bot, await statement_link(bot, fake_twilio, ALICE))
    server = bot.client.server
    assert server.host is not None
    assert server.port is not None
    assert server.runner is not None
    # as `textwire serve` runs (aiohttp's default): a handler whose client went away goes on
    server.runner.server.handler_cancellation = False  # type: ignore[union-attr]

    async def open_download() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A phone that asks for the zip, reads its status line and then reads no more."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (server.host, server.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1024)
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        return reader, writer

    with capture_logs() as logs:
        reader, writer = await open_download()
        (stalled,) = await wait_for(lambda: _events(logs, "statement.zip_cut", 1), within=10)
        assert (stalled["reason"], stalled["files"]) == ("stalled", 0)
        async with asyncio.timeout(10):  # the server closed the connection: the phone's read ends
            with contextlib.suppress(ConnectionResetError):
                while await reader.read(65536):
                    pass
        writer.close()

        reader, writer = await open_download()
        writer.transport.abort()  # the phone cancels the download
        cut = await wait_for(lambda: _events(logs, "statement.zip_cut", 2), within=10)
        assert cut[1]["reason"] == "gone"
    assert not [e for e in logs if e["event"] in ("http.database_away", "statement.zip")]


async def _events(logs: list[dict[str, Any]], event: str, count: int) -> list[dict[str, Any]]:
    found = [e for e in logs if e["event"] == event]
    return found if len(found) >= count else []


async def two_receipts_split(bot_factory: BotFactory, fake: FakeTwilio, command: str) -> Bot:
    """A room of Alice, Bob and Carol (by when they joined) where Alice sent two receipts of
    $10.01 in October and split each with `command`; the second's leftover cents start further
    along the room than the first's."""
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake.section())
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "\\NAME Alice")
    for phone, name in ((BOB, "Bob"), ("+15550003333", "Carol")):
        await say(bot, fake, "JOIN house pw", sender=phone)
        await say(bot, fake, f"\\NAME {name}", sender=phone)
    for caption in ("$10.01", "$10.01"):
        now[0] += 60
        assert (await say(bot, fake, caption, **mms([fake.media.add(images.jpeg_with_gps())]))).startswith(
            "Saved"
        )
        assert (await say(bot, fake, command)).startswith("Split")
    return bot


async def test_the_csvs_split_names_a_splits_shares_in_the_rooms_order(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\SPLIT me 2 bob 1 carol 1` was listed in the CSV in the order its leftover cents go (Bob,
    Carol, Alice: the payer last, the others turning one along each receipt), neither as typed nor
    as the README says: the room's order, members by when they joined."""
    fake = fake_twilio
    bot = await two_receipts_split(bot_factory, fake, "\\SPLIT me 2 bob 1 carol 1")
    link = await statement_link(bot, fake, ALICE, "2026-10")
    page = await (await bot.client.get(path_of(link))).text()
    csv_href = re.search(r'href="(2026-10\.csv\?[^"]+)"', page)
    assert csv_href
    text = await (
        await bot.client.get(str(URL(link).join(URL(csv_href.group(1).replace("&amp;", "&"))).relative()))
    ).text()
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [[share.split(" ")[0] for share in r["split"].split(", ")] for r in rows] == [
        ["Alice", "Bob", "Carol"]
    ] * 2


async def test_a_receipt_taken_out_has_no_amount_in_the_csv_as_on_the_page(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\AMOUNT 0` takes a receipt out: the page showed it with no amount ("taken out with
    \\AMOUNT 0"), as every receipt that is not counted for want of one, while its CSV row said
    0.00, an amount it never had."""
    fake = fake_twilio
    now = [OCT_15]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake.section())
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "\\NAME Alice")
    for caption in ("$30.00", "no total here"):
        now[0] += 60
        reply = await say(bot, fake, caption, **mms([fake.media.add(images.jpeg_with_gps())]))
        assert reply.startswith("Saved"), reply
    now[0] += 60
    reply = await say(bot, fake, "$12.00", **mms([fake.media.add(images.jpeg_with_gps())]))
    assert reply.startswith("Saved $12.00"), reply
    assert (await say(bot, fake, "\\AMOUNT 0")).startswith("Your receipt is out of the ledger")
    link = await statement_link(bot, fake, ALICE, "2026-10")
    page = await (await bot.client.get(path_of(link))).text()
    csv_href = re.search(r'href="(2026-10\.csv\?[^"]+)"', page)
    assert csv_href
    text = await (
        await bot.client.get(str(URL(link).join(URL(csv_href.group(1).replace("&amp;", "&"))).relative()))
    ).text()
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert [(r["amount"], r["status"]) for r in rows] == [
        ("30.00", "counted"),
        ("", "needs an amount"),
        ("", "taken out"),
    ]


async def test_the_pages_list_a_splits_shares_in_the_rooms_order_as_the_csv_does(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """The CSV listed a `\\SPLIT`'s shares in the room's order, but the statement page beside it
    and the gallery still listed them in the order the leftover cents go: `Split: Bob $2.50, Carol
    $2.50, Alice $5.01`, then `Carol ..., Bob ..., Alice ...` for the next receipt split the same
    way. Both pages list them as the CSV does: members by when they joined."""
    from tests.features.receipts.test_gallery import gallery_link

    fake = fake_twilio
    bot = await two_receipts_split(bot_factory, fake, "\\SPLIT carol 1 me 2 bob 1")
    split = "Split: Alice $5.01, Bob $2.50, Carol $2.50"
    statement = await (
        await bot.client.get(path_of(await statement_link(bot, fake, ALICE, "2026-10")))
    ).text()
    assert re.findall(r"Split: [^<]*", statement) == [split] * 2
    gallery_page = await (await bot.client.get(path_of(await gallery_link(bot, fake, ALICE)))).text()
    assert re.findall(r"Split: [^<]*", gallery_page) == [split] * 2
