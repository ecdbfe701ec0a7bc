"""Receipt totals read by the real OCR engine (rapidocr-onnxruntime, offline) from receipts the
tests draw themselves (tests/receipt_images.py). OCR takes about a second a receipt on one core:
the engine is made once for the module and these tests stay few."""

from __future__ import annotations

import io
import random
import threading
from typing import Any

import pytest
from PIL import Image

from bot.channels.twilio import media as twilio_media
from bot.channels.twilio.segments import fits_one_segment
from bot.core.channel import BAD_TYPE
from bot.features.ledger import book
from bot.features.ledger.intake import saved_replies
from bot.features.ledger.money import Amount
from bot.features.ledger.money import currency_or_default as currency_of
from bot.features.ocr import reader as reader_module
from bot.features.ocr.reader import OcrReader
from bot.features.ocr.total import NOT_RECEIPT
from bot.features.receipts import media
from handlers import media as photos
from storage.ledger import ReceiptAmount
from tests import receipt_images as ri
from tests.conftest import ALICE, BOB, Bot, BotFactory, wait_for
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_media import mms
from tests.handlers.test_ledger import CAROL, house, say

pytestmark = pytest.mark.skipif(not ri.fonts_available(), reason=ri.MISSING_FONTS)


@pytest.fixture(scope="module")
def engine() -> Any:
    return reader_module.new_engine()


class Counting:
    """The shared engine, counting calls (or failing, to stand for a broken engine)."""

    def __init__(self, engine: Any, fail: bool = False) -> None:
        self.engine = engine
        self.fail = fail
        self.calls = 0

    def __call__(self, image: Any) -> Any:
        self.calls += 1
        if self.fail:
            raise RuntimeError("onnxruntime fell over")
        return self.engine(image)


@pytest.fixture
def counting(engine: Any, monkeypatch: pytest.MonkeyPatch) -> Counting:
    wrapper = Counting(engine)
    monkeypatch.setattr(reader_module, "new_engine", lambda: wrapper)
    return wrapper


@pytest.mark.parametrize(
    ("layout", "angle"), [(ri.grocery, 3.0), (ri.restaurant, -2.5), (ri.fuel, 2.0), (ri.card_slip, -3.5)]
)
async def test_the_total_of_each_layout(counting: Counting, layout: Any, angle: float) -> None:
    receipt = layout(random.Random(7))
    data = ri.render(receipt, angle=angle, quality=60, noise=20.0, font="DejaVuSans.ttf")
    reading = await OcrReader(1).read(data, "jpeg", 2)
    assert (reading.status, reading.minor) == ("ok", receipt.total), reading


@pytest.mark.parametrize("layout", [ri.no_total, ri.disagreeing])
async def test_no_total_or_disagreeing_candidates_ask(counting: Counting, layout: Any) -> None:
    data = ri.render(layout(random.Random(1)), angle=1.5)
    reading = await OcrReader(1).read(data, "jpeg", 2)
    assert reading.minor is None
    assert reading.status == ("none" if layout is ri.no_total else "ask")


@pytest.mark.parametrize(("layout", "turn"), [(ri.grocery, 90), (ri.card_slip, 90), (ri.restaurant, 270)])
async def test_a_receipt_photographed_on_its_side_is_read(counting: Counting, layout: Any, turn: int) -> None:
    """A receipt on its side, with no orientation to turn it upright by (a carrier that
    re-encodes MMS drops EXIF): "it doesn't look like a receipt", nothing counted. Its standing
    lines are seen, and it is read turned back."""
    receipt = layout(random.Random(30))
    with Image.open(io.BytesIO(ri.render(receipt, seed=30))) as upright:
        out = io.BytesIO()
        upright.rotate(turn, expand=True).save(out, format="JPEG", quality=85)
    reading = await OcrReader(1).read(out.getvalue(), "jpeg", 2)
    assert (reading.status, reading.minor) == ("ok", receipt.total), reading
    # an upright one is read once, as before
    counting.calls = 0
    reading = await OcrReader(1).read(ri.render(receipt, seed=30), "jpeg", 2)
    assert (reading.minor, counting.calls) == (receipt.total, 1)


@pytest.mark.parametrize(
    ("layout", "seed"), [(ri.grocery, 108), (ri.restaurant, 31), (ri.fuel, 32), (ri.card_slip, 33)]
)
async def test_a_receipt_photographed_upside_down_is_read(counting: Counting, layout: Any, seed: int) -> None:
    """A receipt upside down, with no orientation to turn it by: the detector found a few of its
    lines and the recogniser gibberish (`E`, `S`, `00'0`), so it was "not a receipt" or "no
    total found". It is read again turned over; an upright receipt with no total is read once."""
    receipt = layout(random.Random(seed))
    with Image.open(io.BytesIO(ri.render(receipt, seed=seed))) as upright:
        out = io.BytesIO()
        upright.transpose(Image.Transpose.ROTATE_180).save(out, format="JPEG", quality=90)
    reading = await OcrReader(1).read(out.getvalue(), "jpeg", 2)
    assert (reading.status, reading.minor) == ("ok", receipt.total), reading
    assert counting.calls == 2
    counting.calls = 0
    reading = await OcrReader(1).read(ri.render(ri.no_total(random.Random(seed))), "jpeg", 2)
    assert (reading.status, counting.calls) == ("none", 1)


# the ledger's storage runs on both databases in tests/handlers/test_ledger.py; OCR is the slow part here
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_an_mms_of_two_receipts_gets_one_reply(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    grocery = ri.grocery(random.Random(3))
    assert grocery.total == 5439
    urls = [
        fake_twilio.media.add(ri.render(grocery, angle=-2.0)),
        fake_twilio.media.add(ri.render(ri.no_total(random.Random(0)), angle=2.0)),
    ]
    assert await say(bot, fake_twilio, "", **mms(urls)) == (
        "Saved 2 receipts to house, $54.39 in all: split 3 ways, you are owed $36.26. "
        "No total on photo 2: reply \\AMOUNT 12.34 for each, in order."
    )
    assert counting.calls == 2
    rows = await bot.rows("SELECT amount_source, ocr_status, amount_minor FROM receipts ORDER BY media_index")
    assert [tuple(r) for r in rows] == [("ocr", "ok", 5439), (None, "none", None)]


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_the_caption_wins_and_a_broken_engine_asks(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    photo = ri.render(ri.grocery(random.Random(3)))
    url = fake_twilio.media.add(photo)
    assert await say(bot, fake_twilio, "$5.00", **mms([url])) == (
        "Saved $5.00 to house: split 3 ways, you are owed $3.34. \\BALANCE for all."
    )
    assert counting.calls == 0  # the caption's amount: no OCR at all
    counting.fail = True
    url = fake_twilio.media.add(ri.render(ri.grocery(random.Random(4))))  # another receipt
    assert await say(bot, fake_twilio, "", **mms([url])) == (
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    assert counting.calls == 1


# the head of each app's screen for a payment sent, as OCR reads it
PAYMENT_APPS = {
    "venmo": ["You paid Bob Stone", "$20.00", "Rent share", "Nov 24, 2026, 7:12 PM"],
    "cash app": ["$20", "to Bob", "For groceries", "Completed"],
    "zelle": ["You sent $20.00 to Bob Stone", "Enrolled with Zelle", "Nov 24, 2026"],
    "paypal": ["You sent $20.00 USD to Bob", "Payment sent", "Nov 24, 2026", "Total $20.00 USD"],
}


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_a_payment_to_someone_outside_the_room_is_asked_about(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """The rent sent to the landlord by Zelle is no payment between members: \\AMOUNT counts it."""
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    url = fake_twilio.media.add(ri.screenshot(["You sent $1,200.00 to Mark Jones", "Enrolled with Zelle"]))
    assert await say(bot, fake_twilio, "", **mms([url])) == (
        "Saved to house; it looks like a payment to Mark Jones, not a receipt, so it is not counted. "
        "Reply \\AMOUNT 1200.00 if it was spent for the room."
    )
    assert (await say(bot, fake_twilio, "\\AMOUNT 1200.00")).startswith("Set $1,200.00")


# the head of each app's screen for a payment received, as OCR reads it
RECEIVED_APPS = {
    "venmo": ["Bob Stone paid you", "$20.00", "Rent share", "Nov 24, 2026, 7:12 PM"],
    "cash app": ["$20", "from Bob", "For groceries", "Completed"],
    "zelle": ["Bob Stone sent you $20.00", "Enrolled with Zelle", "Nov 24, 2026"],
    "paypal": ["You received $20.00 USD", "from Bob Stone", "Nov 24, 2026"],
}


SENT = (
    "Saved to house; it looks like a payment to Bob, not shared spending, so it is not counted. "
    "Reply \\PAID Bob 20.00 to record it."
)
RECEIVED = (
    "Saved to house; it looks like Bob paid you, not shared spending, so it is not counted. "
    "Bob can send \\PAID Alice 20.00 to record it."
)


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("app", "money", "screen", "reply"),
    [(f"{app} sent", None, rows, SENT) for app, rows in PAYMENT_APPS.items()]
    + [(f"{app} received", None, rows, RECEIVED) for app, rows in RECEIVED_APPS.items()]
    + [
        (
            "monzo sent",
            "GBP",
            ["You sent £20.00 to Bob Stone", "Monzo", "24 Nov 2026"],
            SENT,
        ),  # OCR: `f20.00`
        ("monzo received", "GBP", ["Bob Stone sent you £20.00", "24 Nov 2026"], RECEIVED),
        ("revolut sent", "EUR", ["You paid Bob", "€20,00", "Revolut"], SENT),  # OCR: `20,00`
        ("venmo's list, sent", None, ["You paid Bob Stone", "- $20.00", "Rent share"], SENT),
        ("revolut received", "EUR", ["Bob Stone sent you €20,00", "24 Nov 2026"], RECEIVED),
        # euros in a room of pounds: no figure of the room's to offer
        ("euros among pounds", "GBP", ["You paid Bob", "€20,00", "Revolut"], SENT.replace("20.00", "12.34")),
    ],
)
async def test_a_payment_apps_screenshot_is_no_shared_spending_and_points_to_paid(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    counting: Counting,
    app: str,
    money: str | None,
    screen: list[str],
    reply: str,
) -> None:
    """Alice sends the room her screenshot of paying Bob $20.00 back, or of Bob paying her. PayPal's
    (`Total $20.00 USD`) was counted as $20.00 of spending split three ways, Bob owing a third of
    his own money; the others asked for `\\AMOUNT 12.34`, which would count it the same (and count
    money Bob paid her as her spending), and in a room of pounds or euros none was recognised
    (only `$` figures were known; OCR reads no `£` nor `€`). It is a payment between members:
    kept, not counted, and the reply names the `\\PAID` that records it, hers or the one Bob sends
    (Venmo's full name for the room's Bob, Cash App's whole dollars), with its figure when it is
    in the room's money."""
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    if money is not None:
        assert (await say(bot, fake_twilio, f"\\CURRENCY {money}")).startswith(f"house counts in {money}")
    url = fake_twilio.media.add(ri.screenshot(screen))
    assert await say(bot, fake_twilio, "", **mms([url])) == reply
    assert await say(bot, fake_twilio, "\\BALANCE") == "house: all settled."
    rows = await bot.rows("SELECT amount_minor, ocr_status FROM receipts")
    assert [tuple(r) for r in rows] == [(None, NOT_RECEIPT)]


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_a_payment_received_from_someone_outside_the_room_is_not_counted(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """Money that came in is no one's spending: not counted. `\\AMOUNT` is offered all the same,
    as a landlord's `Received from John Smith` is the rent John paid for the flat."""
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    url = fake_twilio.media.add(ri.screenshot(["Mark Jones paid you", "$45.00", "Concert ticket"]))
    assert await say(bot, fake_twilio, "", **mms([url])) == (
        "Saved to house; it looks like a payment from Mark Jones, not a receipt, so it is not counted. "
        "Reply \\AMOUNT 45.00 if it was spent for the room."
    )


class Gate:
    """An engine that holds every photo until the test opens the gate (no real OCR)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.calls = 0

    def __call__(self, image: Any) -> Any:
        self.calls += 1
        if not self.open.wait(60):
            raise RuntimeError("the test never opened the gate")
        return [], 0.0


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_photos_waiting_for_ocr_never_take_every_worker_slot(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate()
    monkeypatch.setattr(reader_module, "new_engine", lambda: gate)
    bot = await bot_factory(
        twilio=fake_twilio.section(), media={"ocr": True, "ocr_concurrency": 1}, worker={"concurrency": 4}
    )
    await house(bot, fake_twilio)
    dave = "+15550004444"
    assert (await say(bot, fake_twilio, "\\JOIN house pw", sender=dave)).startswith("Joined house")
    try:
        sids = []
        for n, sender in enumerate((ALICE, BOB, CAROL, dave)):  # four receipts for a worker of four slots
            photo = ri.render(ri.grocery(random.Random(3 + n)))
            form = await bot.text("", sender=sender, **mms([fake_twilio.media.add(photo)]))
            sids.append(form["MessageSid"])

        async def reading() -> bool:
            return gate.calls == 1

        await wait_for(reading)
        # OCR is stuck on the first photo; someone else's text is still answered
        text = await bot.text("\\ROOMS", sender="+15550005555")
        assert await bot.handled(text["MessageSid"]) == "done"
        assert gate.calls == 1
        assert not gate.open.is_set()
    finally:
        gate.open.set()
    for sid in sids:
        assert await bot.handled(sid) == "done"
    await bot.settled()
    assert gate.calls == 4
    asks = [m["Body"] for m in fake_twilio.messages if m["Body"].startswith("Saved to house")]
    # the gate's engine finds no text at all: not a receipt, by its reading
    assert (
        asks
        == [
            "Saved to house; it doesn't look like a receipt, so it is not counted. Reply \\AMOUNT 12.34 if it is."
        ]
        * 4
    )


async def test_a_photo_with_no_receipt_like_text_is_kept_but_not_counted(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """Issue 26, item 2: a sunset is kept in the gallery, not counted, and the reply says how to
    count it if it is a receipt after all; a receipt in the same message is counted."""
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    sunset = Image.linear_gradient("L").resize((480, 360)).convert("RGB")
    sky = Image.radial_gradient("L").resize((480, 360)).convert("RGB")
    url = fake_twilio.media.add(_jpeg(sunset))
    assert await say(bot, fake_twilio, "", **mms([url])) == (
        "Saved to house; it doesn't look like a receipt, so it is not counted. Reply \\AMOUNT 12.34 if it is."
    )
    grocery = ri.grocery(random.Random(11))
    both = await say(
        bot,
        fake_twilio,
        "",
        sender=BOB,
        **mms([fake_twilio.media.add(ri.render(grocery, angle=1.0)), fake_twilio.media.add(_jpeg(sky))]),
    )
    assert both.startswith(f"Saved 2 receipts to house, ${ri.money(grocery.total or 0)} in all"), both
    assert "Photo 2 doesn't look like a receipt: not counted. Reply \\AMOUNT 12.34 if it is." in both, both
    rows = await bot.rows("SELECT ocr_status FROM receipts ORDER BY created_at, media_index")
    assert [r[0] for r in rows] == ["not_receipt", "ok", "not_receipt"]


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
async def test_amount_goes_to_the_photo_the_reply_asked_about(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """A photo that is no receipt, then one with no total: the reply asks an amount for photo 2,
    so the first \\AMOUNT is photo 2's (it went to photo 1, counting the sunset); a second one
    counts photo 1 anyway, as its part of the reply offered."""
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    sunset = Image.linear_gradient("L").resize((480, 360)).convert("RGB")
    urls = [
        fake_twilio.media.add(_jpeg(sunset)),
        fake_twilio.media.add(ri.render(ri.no_total(random.Random(0)), angle=2.0)),
    ]
    reply = await say(bot, fake_twilio, "", **mms(urls))
    assert "No total on photo 2" in reply, reply
    assert "Photo 1 doesn't look like a receipt: not counted." in reply, reply
    await say(bot, fake_twilio, "\\AMOUNT 10")
    rows = await bot.rows("SELECT media_index, amount_minor FROM receipts ORDER BY media_index")
    assert [tuple(r) for r in rows] == [(0, None), (1, 1000)]
    await say(bot, fake_twilio, "\\AMOUNT 11")
    rows = await bot.rows("SELECT media_index, amount_minor FROM receipts ORDER BY media_index")
    assert [tuple(r) for r in rows] == [(0, 1100), (1, 1000)]


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def test_a_yen_receipt_in_a_dollar_room_is_kept_in_yen_not_counted(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """Its figures are no amounts with two decimals (`¥1,496`): "no total found. Reply \\AMOUNT
    12.34", and `\\AMOUNT 1496`, as the hint asked, counted $1,496.00. It is read in yen, kept,
    and not counted (README: a receipt clearly in another currency)."""
    receipt = ri.japan(random.Random(5))
    assert receipt.total is not None
    reading = await OcrReader(1).read(ri.render(receipt, angle=1.0), "jpeg", 2)
    assert (reading.status, reading.minor, reading.currency) == ("ok", receipt.total, "JPY"), reading
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    url = fake_twilio.media.add(ri.render(receipt, angle=1.0))
    assert await say(bot, fake_twilio, "", **mms([url])) == (
        f"Saved to house; not counted: ¥{receipt.total:,} in a USD room. Reply \\CURRENCY JPY to count house "
        "in JPY, or \\AMOUNT 12.34 in USD."
    )
    assert await bot.scalar("SELECT currency FROM receipts") == "JPY"


@pytest.mark.parametrize("card", ["VISA •••• 1234", "Mastercard 5678"])
async def test_a_cards_last_digits_on_a_yen_receipt_are_no_charge(counting: Counting, card: str) -> None:
    """In yen four digits are an amount: OCR reads `VISA •••• 1234` as `VISA·..·1234` and
    `Mastercard 5678` as it is, each a card charge that disagreed with `TOTAL ¥1,460`, and the
    photo was asked about. The phone, register and approval numbers are no amounts either."""
    receipt = ri.Receipt(
        "yen",
        [
            ("RAMEN YOKOCHO", ""),
            ("2026/11/24 12:30", ""),
            ("TEL 03-1234-5678", ""),
            ("REG 03  No. 0012", ""),
            ("", ""),
            ("RAMEN", "¥980"),
            ("GYOZA", "¥480"),
            ("", ""),
            ("TOTAL", "¥1,460"),
            (card, ""),
            ("APPROVAL 004512", ""),
        ],
        1460,
        exponent=0,
    )
    data = ri.render(receipt, font="DejaVuSans.ttf", angle=-1.5, quality=60, noise=15.0)
    reading = await OcrReader(1).read(data, "jpeg", 0)
    assert (reading.status, reading.minor, reading.currency) == ("ok", 1460, "JPY"), reading


def test_several_photos_some_not_saved_still_say_how_much_was_counted() -> None:
    """Six photos: one counted ($8.70), one with no total, one no receipt, one a repeat, and two
    not saved. The reply fitted one segment only in its shortest form, "Saved 4 receipts to flat.
    Some need \\AMOUNT 12.34. 2 photos not saved: ...": nothing said that $8.70 was counted."""
    usd = currency_of("USD")
    ledger = book.RoomLedger(
        currency=usd, net={1: 0}, settlement=[], names={1: "Ann"}, uncounted=0, member_ids=(1,)
    )
    twin = ReceiptAmount("t", "r", 1, "MM", 0, 2450, "USD", "ok", 1_795_000_000.0)
    items = [
        ReceiptAmount("a", "r", 1, "MM", 0, None, None, "duplicate", 0.0, duplicate_of="t"),
        ReceiptAmount("b", "r", 1, "MM", 1, None, None, NOT_RECEIPT, 0.0),
        ReceiptAmount("c", "r", 1, "MM", 2, None, None, "no_total", 0.0),
        ReceiptAmount("d", "r", 1, "MM", 5, 870, "USD", "ok", 0.0),
    ]
    heads = saved_replies("flat", items, ledger, 1, {"t": twin})
    reply = photos.photos_reply(
        heads, [(4, BAD_TYPE), (5, media.BROKEN)], fits=fits_one_segment, shorts=twilio_media.SHORT
    )
    assert reply == (
        "Saved 4 receipts to flat, $8.70 in all. Some need \\AMOUNT 12.34. 2 not counted. "
        "2 photos not saved: not photos, too big or damaged."
    )


def test_a_repeat_captioned_in_another_currency_is_not_offered_the_earlier_receipts_figure() -> None:
    """The same photo as a $14.50 receipt, sent again captioned `trip dinner 47.30 EUR`: the reply
    said "Reply \\AMOUNT 14.50 to count it anyway", which counts the euros the person had just
    typed as $14.50. It offers a figure to fill in, in the room's currency, as a receipt read in
    another currency is offered."""
    usd = currency_of("USD")
    ledger = book.RoomLedger(
        currency=usd,
        net={1: 0, 3: 0},
        settlement=[],
        names={1: "Ann", 3: "Cat"},
        uncounted=0,
        member_ids=(1, 3),
    )
    twin = ReceiptAmount("t", "r", 1, "MM1", 0, 1450, "USD", "ok", 1_795_771_093.0)
    repeat = [
        ReceiptAmount("a", "r", 3, "MM2", 0, None, None, "duplicate", 1_795_771_101.0, duplicate_of="t")
    ]
    euros = Amount(4730, currency_of("EUR"))
    assert saved_replies("flat", repeat, ledger, 3, {"t": twin}, euros)[0] == (
        "Saved to flat; not counted: it repeats the receipt saved Nov 27 ($14.50). "
        "Reply \\AMOUNT 12.34 to count it anyway."
    )
    # a caption in the room's currency is still offered as typed
    dollars = Amount(6001, usd)
    assert saved_replies("flat", repeat, ledger, 3, {"t": twin}, dollars)[0].endswith(
        "Reply \\AMOUNT 60.01 to count it anyway."
    )


async def test_a_receipt_in_dollars_or_pesos_is_not_counted_in_a_euro_room(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """A Mexican receipt (`TOTAL $40.50`) sent to a euro room was counted as €40.50 (and a
    `$1,250.00 M.N.` one as €1250.00): a `$` is no euro. It is kept in USD, as a caption's `$` in
    that room is read, and not counted; in a room of pesos (MX$, COP) it is the room's own, and
    in a room of rupees (shown by its code, as Colombia's pesos are) it was the rupees' too."""
    receipt = ri.Receipt(
        "mexico",
        [
            ("OXXO", ""),
            ("27/11/2026 09:12", ""),
            ("Agua", "18.00"),
            ("Sabritas", "22.50"),
            ("TOTAL", "$40.50"),
        ],
        4050,
    )
    photo = ri.render(receipt, seed=3)
    bot = await house_in(bot_factory, fake_twilio, "EUR")
    reply = await say(bot, fake_twilio, "", **mms([fake_twilio.media.add(photo)]))
    assert reply.startswith("Saved to house; not counted: $40.50 in a EUR room."), reply
    assert await bot.scalar("SELECT currency FROM receipts") == "USD"
    await say(bot, fake_twilio, "\\CREATE primos pw-primos")
    assert (await say(bot, fake_twilio, "\\CURRENCY MXN")).startswith("primos counts in MXN")
    reply = await say(bot, fake_twilio, "", **mms([fake_twilio.media.add(photo)]))
    assert reply.startswith("Saved MX$40.50 to primos"), reply
    # a room of money shown by its code: Colombia's pesos are written with a `$` at home, India's
    # rupees are not (from another number: the reply budget)
    await say(bot, fake_twilio, "\\CREATE bogota pw-bogota", BOB)
    assert (await say(bot, fake_twilio, "\\CURRENCY COP", BOB)).startswith("bogota counts in COP")
    reply = await say(bot, fake_twilio, "", BOB, **mms([fake_twilio.media.add(photo)]))
    assert reply.startswith("Saved COP 40.50 to bogota"), reply
    await say(bot, fake_twilio, "\\CREATE delhi pw-delhi", BOB)
    assert (await say(bot, fake_twilio, "\\CURRENCY INR", BOB)).startswith("delhi counts in INR")
    reply = await say(bot, fake_twilio, "", BOB, **mms([fake_twilio.media.add(photo)]))
    assert reply.startswith("Saved to delhi; not counted: $40.50 in a INR room."), reply


async def house_in(bot_factory: BotFactory, fake_twilio: FakeTwilio, code: str) -> Bot:
    """A bot that reads receipts, and Alice's and Bob's room `house`, counting in `code`."""
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    assert (await say(bot, fake_twilio, f"\\CURRENCY {code}")).startswith(f"house counts in {code}")
    return bot


async def send_photo(
    bot: Bot, fake_twilio: FakeTwilio, receipt: ri.Receipt, seed: int, sender: str = ALICE
) -> str:
    """The one reply to `receipt`, drawn with `seed`, sent as a photo by `sender`."""
    return await say(
        bot, fake_twilio, "", sender, **mms([fake_twilio.media.add(ri.render(receipt, seed=seed))])
    )


async def test_a_receipt_whose_pounds_ocr_cannot_see_is_asked_about_in_a_dollar_room(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """The OCR engine has no `£` (nor `€`, `₹`): a London café's `TOTAL £14.70` read `TOTAL
    14.70`, saved as $14.70 and counted in a trip room of dollars. Its `VAT @ 20% INCLUDED` line
    says it is no dollar receipt: kept, not counted, and the reply asks which money, offering the
    rate form and the room's; the same photo in a room of pounds is counted."""
    receipt = ri.britain(random.Random(7))
    assert receipt.total is not None
    figure = f"{receipt.total // 100}.{receipt.total % 100:02d}"
    photo = ri.render(receipt, seed=2)
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    reply = await say(bot, fake_twilio, "", **mms([fake_twilio.media.add(photo)]))
    assert reply == (
        f"Saved to house; not counted: {figure} in which money? It names VAT, not a USD tax. "
        f"Reply \\AMOUNT {figure} GBP @rate (USD for 1 GBP), or \\AMOUNT {figure} if it is USD."
    ), reply
    assert await bot.scalar("SELECT amount_minor FROM receipts") is None
    reply = await say(bot, fake_twilio, f"\\AMOUNT {figure} GBP @1.25")
    assert reply.startswith(f"Set ${receipt.total * 125 // 100 // 100}."), reply
    await say(bot, fake_twilio, "\\CREATE london pw-london")
    assert (await say(bot, fake_twilio, "\\CURRENCY GBP")).startswith("london counts in GBP")
    reply = await send_photo(bot, fake_twilio, receipt, 4)
    assert reply.startswith(f"Saved £{figure} to london"), reply


async def test_a_total_with_a_decimal_comma_is_asked_about_in_a_room_of_dollars(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """`TOTAL 23,68 €` on a Madrid bar's ticket reads `TOTAL 23,68` (OCR has no `€`), with no tax
    figure or code to say it is not in dollars: it was counted as $23.68 in a trip room of dollars,
    which a US receipt never prints that way. Kept, not counted, and the reply asks which money; in
    a room of euros the same ticket is counted, and so is Quebec's `12,50 $` in a room of CAD."""
    receipt = ri.spain(random.Random(2))
    assert receipt.total is not None
    figure = f"{receipt.total // 100}.{receipt.total % 100:02d}"
    printed = figure.replace(".", ",")
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    await house(bot, fake_twilio)
    reply = await send_photo(bot, fake_twilio, receipt, 2)
    assert reply == (
        f"Saved to house; not counted: {printed} in which money? It has a decimal comma. "
        f"Reply \\AMOUNT {figure} EUR @rate (USD for 1 EUR), or \\AMOUNT {figure} if it is USD."
    ), reply
    assert fits_one_segment(reply)
    assert await bot.scalar("SELECT amount_minor FROM receipts") is None
    reply = await say(bot, fake_twilio, f"\\AMOUNT {figure} EUR @1.10")
    assert reply.startswith(f"Set ${receipt.total * 110 // 100 // 100}."), reply
    await say(bot, fake_twilio, "\\CREATE madrid pw-madrid")
    assert (await say(bot, fake_twilio, "\\CURRENCY EUR")).startswith("madrid counts in EUR")
    reply = await send_photo(bot, fake_twilio, receipt, 3)
    assert reply.startswith(f"Saved €{figure} to madrid"), reply


async def test_a_montreal_receipt_with_tps_and_tvq_is_counted_in_a_cad_room(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """TPS and TVQ were no taxes to the reader: SOUS-TOTAL plus nothing was not the TOTAL, and
    every Montreal receipt got `no total found`. Both are added now; in a room of dollars (USD)
    the same receipt is asked about, its taxes being Canada's."""
    receipt = ri.quebec(random.Random(3))
    assert receipt.total is not None
    shown = f"{receipt.total // 100}.{receipt.total % 100:02d}"
    bot = await house_in(bot_factory, fake_twilio, "CAD")
    reply = await send_photo(bot, fake_twilio, receipt, 1)
    assert reply.startswith(f"Saved CA${shown} to house: split 3 ways"), reply
    await say(bot, fake_twilio, "\\CREATE trip pw-trip")
    reply = await send_photo(bot, fake_twilio, receipt, 5)
    assert reply.startswith(f"Saved to trip; not counted: {shown} in which money? It names TPS"), reply


async def test_a_total_in_the_thousands_grouped_by_a_space_is_read_whole(counting: Counting) -> None:
    """`TOTAL 1 234,97 $`: OCR keeps the space a till pads its column with, and the reader took
    `234,97` alone; the subtotal read the same way made the arithmetic agree, and a laptop was
    saved, sure, for a thousand dollars less."""
    receipt = ri.quebec(random.Random(2), sep="  ", big=True)
    assert receipt.total is not None
    assert receipt.total > 100_000
    reading = await OcrReader(1).read(ri.render(receipt, seed=2), "jpeg", 2)
    assert (reading.status, reading.minor) == ("ok", receipt.total), reading


async def test_a_receipt_in_kronor_or_koruny_is_counted_only_in_its_own_money(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """A Stockholm shop's `SUMMA 57,40 kr` was "no total found" (SUMMA was no word the reader
    knew), and read as a figure alone it would have been €57.40 in a room of euros; a Prague
    one's `CELKEM 57,40 Kč` (OCR reads `57,40K`) was counted as €57.40. `kr` is Sweden's,
    Norway's, Denmark's or Iceland's money: the room's when it is one of them, else the person
    is asked which; `Kč` is the koruna, kept and not counted in a room of euros."""
    swedish = ri.Receipt(
        "sweden",
        [("ICA NARA STOCKHOLM", ""), ("BROD", "32,90 kr"), ("MJOLK", "24,50 kr"), ("SUMMA", "57,40 kr")],
        5740,
    )
    czech = ri.Receipt(
        "czechia",
        [("POTRAVINY NOVAK", ""), ("CHLEB", "32,90 Kč"), ("MLEKO", "24,50 Kč"), ("CELKEM", "57,40 Kč")],
        5740,
    )
    bot = await house_in(bot_factory, fake_twilio, "EUR")
    reply = await send_photo(bot, fake_twilio, swedish, 1)
    assert reply.startswith(
        "Saved to house; not counted: 57.40 kr in which money? Reply \\AMOUNT 57.40 SEK @rate"
    ), reply
    assert fits_one_segment(reply)
    reply = await send_photo(bot, fake_twilio, czech, 1)
    assert reply.startswith("Saved to house; not counted: CZK 57.40 in a EUR room."), reply
    assert (
        await bot.scalar("SELECT count(*) FROM receipts WHERE amount_minor IS NOT NULL") == 1
    )  # the CZK one, kept
    await say(bot, fake_twilio, "\\CREATE stockholm pw-stockholm")
    assert (await say(bot, fake_twilio, "\\CURRENCY SEK")).startswith("stockholm counts in SEK")
    reply = await send_photo(bot, fake_twilio, swedish, 2)
    assert reply.startswith("Saved SEK 57.40 to stockholm"), reply
    # in a room of yen, or of Iceland's whole krónur, the figure keeps the two decimals it was read with
    # (from another number: eleven replies in half a minute would wait for the reply budget)
    await say(bot, fake_twilio, "\\CREATE tokyo pw-tokyo", BOB)
    assert (await say(bot, fake_twilio, "\\CURRENCY JPY", BOB)).startswith("tokyo counts in JPY")
    reply = await send_photo(bot, fake_twilio, swedish, 3, BOB)
    assert reply.startswith("Saved to tokyo; not counted: 57.40 kr in which money?"), reply


async def test_a_receipt_printed_in_whole_forints_is_counted_in_a_room_of_forints(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """A Budapest shop prints `ÖSSZESEN 1 490 Ft`: forints have two decimals no receipt prints,
    and the photo was "no total found" in a room of forints (in a room of euros too). It is
    counted in a room of forints, with or without its `Ft`, and kept as forints, not counted, in
    a room of euros."""
    signed = ri.Receipt(
        "hungary",
        [
            ("ALDI DEBRECEN", ""),
            ("TEJ", "389 Ft"),
            ("KAVE", "1 101 Ft"),
            ("ALMA", "900 Ft"),
            ("ÖSSZESEN", "2 390 Ft"),
        ],
        239000,
    )
    bare = ri.Receipt(
        "hungary",
        [("SPAR BUDAPEST", ""), ("KENYER", "249"), ("SAJT", "1 241"), ("ÖSSZESEN", "1 490")],
        149000,
    )
    bot = await house_in(bot_factory, fake_twilio, "HUF")
    reply = await send_photo(bot, fake_twilio, bare, 1)
    assert reply.startswith("Saved HUF 1,490.00 to house"), reply
    reply = await send_photo(bot, fake_twilio, signed, 2, BOB)
    assert reply.startswith("Saved HUF 2,390.00 to house"), reply
    await say(bot, fake_twilio, "\\CREATE trip pw-trip", BOB)
    assert (await say(bot, fake_twilio, "\\CURRENCY EUR", BOB)).startswith("trip counts in EUR")
    reply = await send_photo(bot, fake_twilio, signed, 3, BOB)
    assert reply.startswith("Saved to trip; not counted: HUF 2,390.00 in a EUR room."), reply
    reply = await send_photo(bot, fake_twilio, bare, 4, BOB)
    # with no sign, in a room of euros, `1 490` is no figure in euros: asked, not counted
    assert reply == "Saved to trip; no total found. Reply \\AMOUNT 12.34 to set it.", reply


async def test_a_total_with_a_space_before_its_last_three_figures_is_asked_about(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, counting: Counting
) -> None:
    """`TOTAL 1 490.00` (South Africa's way with thousands) was counted as 490.00 without asking:
    the 1 taken for a count. Kept, not counted, and the reply offers both; `R 1 490.00`, the
    rand's sign before it, is one figure and counted."""
    bot = await house_in(bot_factory, fake_twilio, "ZAR")
    lines: list[ri.Line] = [("SPAR", ""), ("", ""), ("GROCERIES", "1 490.00"), ("", "")]
    tender = [("CASH", "1 500.00"), ("CHANGE", "10.00")]
    asked = ri.Receipt("grocery", [*lines, ("TOTAL", "1 490.00"), *tender], 149000)
    assert await send_photo(bot, fake_twilio, asked, 7) == (
        "Saved to house; not counted: is its total ZAR 1,490.00, or ZAR 490.00 after a count? "
        "Reply \\AMOUNT 1490.00 or \\AMOUNT 490.00."
    )
    assert await bot.scalar("SELECT amount_minor FROM receipts") is None
    assert (await say(bot, fake_twilio, "\\AMOUNT 1490.00")).startswith("Set ZAR 1,490.00")
    signed = ri.Receipt(
        "grocery",
        [("CHECKERS", ""), ("", ""), ("BRAAI PACK", "2 310.00"), ("", ""), ("TOTAL", "R 2 310.00")],
        231000,
    )
    reply = await send_photo(bot, fake_twilio, signed, 7)
    assert reply.startswith("Saved ZAR 2,310.00 to house"), reply
