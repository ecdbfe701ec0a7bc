"""Splitting the bill through the real bot (issue 12): names, caption amounts, \\AMOUNT,
\\BALANCE, \\PAID, \\CURRENCY, \\LEAVE with a balance, a receipt in another currency, a PDF's
text layer. OCR of photos: tests/features/ledger/test_intake.py."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import html
import io
import re
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image, ImageOps
from structlog.testing import capture_logs
from yarl import URL

import handlers.ledger as ledger_handlers
from bot.channels.twilio.segments import fits_one_segment
from bot.features.ledger import reminders
from bot.features.ledger.book import RoomLedger
from bot.features.ledger.money import currency
from bot.features.ocr import reader as reader_module
from bot.features.ocr.reader import pdf_text
from bot.pipeline import replyguard
from handlers.filters import NOT_IN_ROOM
from handlers.ledger import (
    NAME_LETTERS,
    NAME_RULES,
    PAID_HOW,
    SPLIT_HOW,
    name_spelt,
    no_receipts,
    photo_waiting,
)
from storage import inbox
from tests import images
from tests.channels.telegram.talk import answer
from tests.conftest import ALICE, BOB, Bot, BotFactory, new_message, new_sid, wait_for
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_gallery import gallery_link, path_of, shown
from tests.features.receipts.test_media import mms, transparent_png
from tests.features.receipts.test_statement import statement_link
from tests.handlers.talk import photo_parked_while_the_store_is_down

CAROL = "+15550003333"


@pytest.fixture(autouse=True)
def _people_type_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """These conversations send more texts a minute than the reply guard lets through."""
    monkeypatch.setattr(replyguard, "BUDGET", 100)


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds `lines` (Helvetica, one line each)."""
    ops = ["BT", "/F1 11 Tf", "14 TL", "40 800 Td"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({escaped}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode()
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Resources<</Font<</F1 4 0 R>>>>/Contents 5 0 R>>",
        b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
        b"<</Length %d>>stream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


async def answers(bot: Bot, fake: FakeTwilio, body: str, sender: str = ALICE, **extra: str) -> list[str]:
    """The replies to `sender` (other members may get notices meanwhile)."""
    before = len(fake.messages)
    form = await bot.text(body, sender=sender, **extra)
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    return [m["Body"] for m in fake.messages[before:] if m["To"] == sender]


async def say(bot: Bot, fake: FakeTwilio, body: str, sender: str = ALICE, **extra: str) -> str:
    """The one reply to `sender` (other members may get notices meanwhile)."""
    replies = await answers(bot, fake, body, sender, **extra)
    assert len(replies) == 1, replies
    return replies[0]


async def photo(bot: Bot, fake: FakeTwilio, caption: str, sender: str = ALICE, count: int = 1) -> str:
    urls = [fake.media.add(images.jpeg_with_gps()) for _ in range(count)]
    return await say(bot, fake, caption, sender=sender, **mms(urls))


async def house(bot: Bot, fake: FakeTwilio) -> None:
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    for phone, name in ((BOB, "Bob"), (CAROL, "Carol")):
        assert (await say(bot, fake, "\\JOIN house pw", sender=phone)).startswith("Joined house")
        assert await say(bot, fake, f"\\NAME {name}", sender=phone) == f"Your rooms now see you as {name}."
    assert await say(bot, fake, "\\name  Alice") == "Your rooms now see you as Alice."


async def house_and_trip(bot: Bot, fake: FakeTwilio, currency: str = "") -> None:
    """`house`, then Alice makes trip (in `currency`, if given: her active room now) and Carol
    joins it, staying in house too."""
    await house(bot, fake)
    assert (await say(bot, fake, "\\CREATE trip pw")).startswith("Created room trip")
    if currency:
        assert (await say(bot, fake, f"\\CURRENCY {currency}")).startswith(f"trip counts in {currency}")
    assert (await say(bot, fake, "\\JOIN trip pw", sender=CAROL)).startswith("Joined trip")


async def a_new_bob_after_bob_left(bot: Bot, fake: FakeTwilio) -> str:
    """In `house`: Bob pays $30.00 and stops; Dan joins as Bob. Dan's phone."""
    await photo(bot, fake, "$30.00", sender=BOB)
    assert (await say(bot, fake, "\\STOP", sender=BOB)).startswith("Goodbye")
    dan = "+15550004444"
    assert (await say(bot, fake, "\\JOIN house pw", sender=dan)).startswith("Joined house")
    assert await say(bot, fake, "\\NAME Bob", sender=dan) == "Your rooms now see you as Bob."
    return dan


async def carol_left_house_owing_alice_50(bot: Bot, fake: FakeTwilio) -> None:
    """In `house`: Alice pays Carol $50.00, and Carol leaves."""
    assert (
        await say(bot, fake, "\\PAID Carol 50")
        == "Recorded: you paid Carol $50.00. house: Carol pays Alice $50.00."
    )
    assert await say(bot, fake, "\\LEAVE", sender=CAROL) == "You left house; you still owe $50.00 there."


async def test_three_members_receipts_and_payments_give_exact_balances(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\BALANCE") == "house: all settled."
    assert (
        await photo(bot, fake, "$23.17")
        == "Saved $23.17 to house: split 3 ways, you are owed $15.45. \\BALANCE for all."
    )
    # the leftover cent goes to the first other member by join order (Bob), never to the payer
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $7.73, Carol pays Alice $7.72."
    assert (
        await photo(bot, fake, "12,00", sender=BOB)
        == "Saved $12.00 to house: split 3 ways, you are owed $0.27. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\BALANCE house") == "house: Carol pays Alice $11.45, Carol pays Bob $0.27."
    before = len(fake.messages)
    assert (
        await say(bot, fake, "\\PAID alice 11.45", sender=CAROL)
        == "Recorded: you paid Alice $11.45. house: Carol pays Bob $0.27."
    )
    messages = await fake.wait_for_messages(before + 2)
    notices = [m for m in messages[before:] if m["To"] == ALICE]
    assert [m["Body"] for m in notices] == ["Carol paid you $11.45 in house. \\BALANCE house for all."]
    # the ledger is rows, not a stored balance
    assert await bot.scalar("SELECT count(*) FROM payments") == 1
    assert await bot.scalar("SELECT count(*) FROM receipt_members") == 6
    # leaving with a balance says what is left, and it stays in the room's ledger
    assert await say(bot, fake, "\\LEAVE", sender=CAROL) == "You left house; you still owe $0.27 there."
    assert await say(bot, fake, "\\BALANCE", sender=BOB) == "house: Carol pays Bob $0.27."
    # a receipt saved now is split among the members of this moment: Alice and Bob
    assert await photo(bot, fake, "") == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert (
        await say(bot, fake, "\\AMOUNT 3")
        == "Set $3.00 on your receipt in house: you are owed $1.50. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $1.23, Carol pays Alice $0.27."
    assert (
        await say(bot, fake, "\\AMOUNT 0")
        == "Your receipt is out of the ledger of house (was $3.00): you are settled up. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Carol pays Bob $0.27."
    # the gallery shows each receipt's amount and who paid, the balance and the payments
    link = await gallery_link(bot, fake, BOB)
    page = html.unescape(await (await bot.client.get(path_of(link))).text())
    assert "Balance (USD)" in page
    assert "<li>Carol pays Bob $0.27</li>" in page
    assert "Bob: owed $0.27 · Carol: owes $0.27" in page
    assert "Carol paid Alice $11.45" in page
    amounts = re.findall(
        r'<strong class="amount">([^<]+)</strong> paid by <span class="who">([^<]+)</span>', page
    )
    assert amounts == [("$12.00", "Bob"), ("$23.17", "Alice")]  # newest first; the one taken out shows none
    assert ALICE not in page


async def test_a_receipt_in_another_currency_is_kept_but_not_counted(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    fake = fake_twilio
    await house(bot, fake)
    assert (
        await photo(bot, fake, "EUR 12.50", sender=BOB)
        # nothing counts in USD yet: the room's currency may still change, and the reply says how
        == "Saved to house; not counted: €12.50 in a USD room. Reply \\CURRENCY EUR to count house in EUR, "
        "or \\AMOUNT 12.34 in USD."
    )
    assert await bot.scalar("SELECT currency FROM receipts") == "EUR"
    assert (
        await say(bot, fake, "\\BALANCE") == "house: all settled. 1 receipt in another currency not counted."
    )
    # a sign people write by their own money that replies show by code: `12,50 z\u0142` was
    # counted as $12.50
    assert await photo(bot, fake, "obiad 12,50 z\u0142", sender=BOB) == (
        "Saved to house; not counted: PLN 12.50 in a USD room. Reply \\CURRENCY PLN to count house in PLN, "
        "or \\AMOUNT 12.34 in USD."
    )
    assert (
        await say(bot, fake, "\\BALANCE") == "house: all settled. 2 receipts in another currency not counted."
    )
    # nothing is counted in USD yet: the room may still switch, and the euro receipt counts then
    # (it said "has amounts in USD already", which was not so)
    assert await say(bot, fake, "\\CURRENCY EUR") == "house counts in EUR (€) now."
    assert (await say(bot, fake, "\\BALANCE")).startswith("house: Alice pays Bob €")
    assert (
        await say(bot, fake, "\\CURRENCY USD")
        == "house has amounts in EUR already; its currency cannot change now."
    )
    async with bot.runtime.deps.db.tx() as conn:  # back to USD for the story below
        await conn.execute(sa.text("UPDATE rooms SET currency = 'USD'"))
    assert (
        await say(bot, fake, "\\AMOUNT 13.60", sender=BOB)
        == "Set $13.60 on your receipt in house: you are owed $9.07. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\CURRENCY EUR") == (
        "house has amounts in USD already; its currency cannot change now."
    )
    # asked with amounts in: it said "Change it ... before the first amount", too late for that
    assert await say(bot, fake, "\\CURRENCY") == "house counts in USD; it has amounts, so its currency stays."
    assert await say(bot, fake, "\\CREATE trip pw") == (
        "Created room trip; photos you send now go there. Others join with \\JOIN trip <password>."
    )
    assert await say(bot, fake, "\\CURRENCY") == (
        "trip counts in USD. Change it with \\CURRENCY <code> before the first amount."
    )
    assert (
        await say(bot, fake, "\\CURRENCY xyz") == "xyz is not an ISO 4217 currency code (USD, EUR, GBP, ...)."
    )
    # a currency's symbol or name, as people say it: told only that it is no ISO 4217 code
    assert (
        await say(bot, fake, "\\CURRENCY \u20ac")
        == "\u20ac is not an ISO 4217 currency code: did you mean \\CURRENCY EUR?"
    )
    assert (
        await say(bot, fake, "\\CURRENCY yen.")
        == "yen is not an ISO 4217 currency code: did you mean \\CURRENCY JPY?"
    )
    assert await say(bot, fake, "\\CURRENCY \u20a9") == (  # no GSM-7 character: not said back in an SMS
        "That is not an ISO 4217 currency code: did you mean \\CURRENCY KRW?"
    )
    assert await say(bot, fake, "\\CURRENCY z\u0142oty") == (  # a name amounts are typed with
        "That is not an ISO 4217 currency code: did you mean \\CURRENCY PLN?"
    )
    assert (
        await say(bot, fake, "\\CURRENCY dollars")
        == "dollars is not an ISO 4217 currency code (USD, EUR, GBP, ...)."
    )
    # nor a word with a letter that is no GSM-7 one, or an emoji: they made the SMS UCS-2
    for word in ("\u0142\u00f3d\u017a", "\U0001f1ea\U0001f1fa", "\u0440\u0443\u0431\u043b\u044c"):
        assert (
            await say(bot, fake, f"\\CURRENCY {word}")
            == "That is not an ISO 4217 currency code (USD, EUR, GBP, ...)."
        )
    # codes, but no country's money today: a room set to DEM or XXX showed "XXX 12.50" amounts
    for code in ("dem", "XXX", "XAU"):
        assert await say(bot, fake, f"\\CURRENCY {code}") == (
            f"{code.upper()} is no country's money today: use one in use (USD, EUR, GBP, ...)."
        )
    assert await say(bot, fake, "\\CURRENCY eur") == "trip counts in EUR (€) now."
    assert (
        await photo(bot, fake, "lunch 12,50 EUR")
        == "Saved €12.50 to trip: you are its only member, you are settled up. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\PAID Bob 5") == (
        "No one in trip goes by Bob; Bob is in house: \\USE house, then \\PAID again."
    )


async def test_a_name_ends_at_its_line(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\NAME Cat` with "thanks!" on the next line (or a signature the phone adds) named the
    person "Cat thanks!"... and `\\PAID Cat 5` found no one: the name is its line."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME Cat\nthanks", sender=BOB) == "Your rooms now see you as Cat."
    assert await say(bot, fake, "\\NAME Mary Ann  \r\n\r\n-- sent from my phone") == (
        "Your rooms now see you as Mary Ann."
    )
    # on the next line when nothing follows the command (Telegram's `/name@bot` and a line break)
    assert (
        await say(bot, fake, "/name\nDan Lee\nthanks", sender=CAROL) == "Your rooms now see you as Dan Lee."
    )
    assert (await say(bot, fake, "\\PAID Cat 5")).startswith("Recorded: you paid Cat $5.00.")


async def test_the_same_paid_again_within_minutes_says_both_count(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID Alice 20` sent again a minute later (no reply seen yet, a resend): both were
    recorded and the second answer said only "Recorded", while the room's balance moved $20.00
    the wrong way. It says it is the second, and that both count; the same payment a day later,
    or another amount, is answered as before."""
    fake = fake_twilio
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake.section())
    await house(bot, fake)
    first = await say(bot, fake, "\\PAID Alice 20", sender=BOB)
    assert first.startswith("Recorded: you paid Alice $20.00. house:"), first
    now[0] += 120
    again = await say(bot, fake, "\\PAID alice 20.00", sender=BOB)
    assert again.startswith("Recorded: you paid Alice $20.00 again (also 2 min ago): both count."), again
    assert len(again) <= 160, again
    other = await say(bot, fake, "\\PAID Alice 5", sender=BOB)
    assert other.startswith("Recorded: you paid Alice $5.00. "), other
    now[0] += 24 * 3600
    later = await say(bot, fake, "\\PAID Alice 20", sender=BOB)
    assert later.startswith("Recorded: you paid Alice $20.00. "), later
    assert await bot.scalar("SELECT count(*) FROM payments") == 4


async def test_a_captions_one_whole_number_is_offered_not_counted(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """A photo captioned `dinner 30` with no total found was told "Reply \\AMOUNT 12.34 to set
    it": the person who had typed the total was asked to type one, with a figure of nobody's.
    The 30 is not counted (`table 4` is no $4.00), but it is the figure offered; a caption of
    two numbers, or none, still gets one to fill in."""
    fake = fake_twilio
    await house(bot, fake)
    assert (
        await photo(bot, fake, "dinner 30")
        == "Saved to house; no total found. Reply \\AMOUNT 30.00 to set it."
    )
    assert await bot.scalar("SELECT amount_minor FROM receipts") is None
    assert (
        await say(bot, fake, "\\AMOUNT 30")
        == "Set $30.00 on your receipt in house: you are owed $20.00. \\BALANCE for all."
    )
    assert (
        await photo(bot, fake, "pizza for 4 48", sender=BOB)
        == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    # several photos in one message: no caption's figure is any one photo's
    assert (await photo(bot, fake, "dinner 30", sender=CAROL, count=2)).startswith(
        "Saved 2 receipts to house."
    )


async def test_an_amount_or_a_payment_ends_at_its_line(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\AMOUNT 12.50` with "thanks!" on the next line (or a phone's signature) got the usage, and
    `\\PAID Bob 5` with it said no one goes by "Bob 5 thanks": as `\\NAME`, they are their line."""
    fake = fake_twilio
    await house(bot, fake)
    assert await photo(bot, fake, "") == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert (
        await say(bot, fake, "\\AMOUNT 45\nthanks!")
        == "Set $45.00 on your receipt in house: you are owed $30.00. \\BALANCE for all."
    )
    assert (
        await say(bot, fake, "\\AMOUNT 12.50\r\n-- \r\nAnn")
        == "Set $12.50 on your receipt in house (was $45.00): you are owed $8.34. \\BALANCE for all."
    )
    assert (await say(bot, fake, "\\PAID Bob 4.16\nthx")).startswith("Recorded: you paid Bob $4.16.")
    assert (await say(bot, fake, "\\PAID Carol\n4.16")).startswith("Recorded: you paid Carol $4.16.")
    # a one-line amount that is wrong still gets the usage, whatever follows it
    assert await say(bot, fake, "\\AMOUNT lots\nthanks") == (
        "Usage: \\AMOUNT 12.34 (0 takes the receipt out of the ledger)"
    )


async def test_an_amount_or_a_name_ending_a_sentence_or_in_quotes_is_read(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\AMOUNT 45.` (a sentence's full stop) and `\\AMOUNT "45"` got the usage, which shows the
    very amount typed, and `\\NAME \u201cGus\u201d` (a phone's smart quotes) or `\\NAME Gus.` the name
    rules: what is typed around them is read past, as \\PAID and \\SPLIT read past it."""
    fake = fake_twilio
    await house(bot, fake)
    assert await photo(bot, fake, "") == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert (
        await say(bot, fake, "\\AMOUNT 45.")
        == "Set $45.00 on your receipt in house: you are owed $30.00. \\BALANCE for all."
    )
    assert (
        await say(bot, fake, "\\AMOUNT \u201c$12.30\u201d!")
        == "Set $12.30 on your receipt in house (was $45.00): you are owed $8.20. \\BALANCE for all."
    )
    assert (
        await say(bot, fake, "\\AMOUNT 40 EUR @1.10.")
        == "Set $44.00 (\u20ac40.00 at 1.10) on your receipt in house (was $12.30): you are owed $29.34. \\BALANCE for all."
    )
    # whole units as German and Swiss prices write them: it got the usage
    assert (
        await say(bot, fake, "\\AMOUNT 12,-")
        == "Set $12.00 on your receipt in house (was $44.00): you are owed $8.00. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\NAME \u201cGus\u201d", sender=BOB) == "Your rooms now see you as Gus."
    assert await say(bot, fake, "\\NAME Big Al.") == "Your rooms now see you as Big Al."
    assert await say(bot, fake, "\\NAME Al!ce") == NAME_RULES


async def test_a_name_or_an_amount_typed_on_another_keyboard_is_the_same(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """An e and a separate accent (some Android and Mac keyboards type Jos\u00e9 so) got the name
    rules, and a full-width keyboard's \uff11\uff12\uff0e\uff15\uff10 the usage of \\AMOUNT: one character is one
    character however it was typed (NFKC), so Jos\u00e9 typed either way is one name."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME Jose\u0301", sender=BOB) == "Your rooms now see you as Jos\u00e9."
    assert (
        await say(bot, fake, "\\NAME Jos\u00e9", sender=CAROL)
        == "Someone in house goes by Jos\u00e9 already. Pick another name."
    )
    assert (
        await say(bot, fake, "\\NAME \uff23\uff41\uff52\uff4f\uff4c", sender=CAROL)
        == "Your rooms now see you as Carol."
    )
    assert await photo(bot, fake, "") == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert (
        await say(bot, fake, "\\AMOUNT \uff14\uff15\uff0e\uff10\uff10")
        == "Set $45.00 on your receipt in house: you are owed $30.00. \\BALANCE for all."
    )
    assert (await say(bot, fake, "\\PAID JOSE\u0301 5")).startswith("Recorded: you paid Jos\u00e9 $5.00.")


async def test_an_amount_or_a_share_typed_on_an_arabic_keyboard_is_read(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Arabic-Indic digits with the Arabic decimal separator (\u0661\u0662\u066b\u0665\u0660) got the usage of
    \\AMOUNT, and an Arabic percent sign (\u0666\u0660\u066a) a \\SPLIT's "no one goes by"."""
    fake = fake_twilio
    await house(bot, fake)
    assert await photo(bot, fake, "") == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert await say(bot, fake, "\\SPLIT bob \u0666\u0660\u066a\u060c me \u0664\u0660\u066a") == (
        "Your receipt in house splits Bob 60%, Alice 40% once it has a total: \\AMOUNT 12.34."
    )
    assert (await say(bot, fake, "\\AMOUNT \u0661\u066c\u0662\u0663\u0664\u066b\u0665\u0660")).startswith(
        "Set $1,234.50 on your receipt in house"
    )
    assert (await say(bot, fake, "\\PAID Bob \u0665\u066b\u0662\u0665")).startswith(
        "Recorded: you paid Bob $5.25."
    )


async def test_a_name_with_letters_an_sms_lacks_is_answered_with_how_to_write_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\NAME Zo\u00eb` or `\\NAME Fran\u00e7ois` was told "A name is 1-20 letters and digits...":
    they are letters, and nothing said which ones. A name an SMS can spell without its accents is
    answered with that spelling; one in another script with the letters a name is written in."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME Zo\u00eb") == name_spelt("Zoe")
    assert await say(bot, fake, "\\NAME Zoe") == "Your rooms now see you as Zoe."
    assert await say(bot, fake, "\\name Fran\u00e7ois \u0141uk\u00e1\u0161", sender=BOB) == name_spelt(
        "Francois Lukas"
    )
    assert await say(bot, fake, "\\name \u738b\u82b3", sender=CAROL) == NAME_LETTERS
    assert await say(bot, fake, "\\name \u0645\u062d\u0645\u062f", sender=CAROL) == NAME_LETTERS
    assert await say(bot, fake, "\\name Ann \u738b", sender=CAROL) == NAME_LETTERS
    assert await say(bot, fake, "\\name \U0001f355", sender=CAROL) == NAME_RULES
    assert name_spelt("Zoe").endswith("\\NAME Zoe")


async def test_a_name_with_accents_is_never_answered_with_a_spelling_someone_goes_by(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """In a club with a Maria, `\\NAME Mar\u00eda` was told "send \\NAME Maria", which was then refused
    ("Someone in house goes by Maria already"): a spelling is offered only when it is free."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME Zo\u00eb", sender=BOB) == name_spelt("Zoe")
    assert await say(bot, fake, "\\NAME Car\u00f3l", sender=BOB) == (
        "A name keeps to the letters a plain SMS has, and someone in house goes by Carol already."
        " Pick another name."
    )
    assert (
        await say(bot, fake, "\\NAME Carol", sender=BOB)
        == "Someone in house goes by Carol already. Pick another name."
    )
    assert await say(bot, fake, "\\NAME Car\u00f3l B", sender=BOB) == name_spelt("Carol B")


async def test_a_name_typed_with_an_emoji_is_answered_with_the_name_without_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\NAME Ann \U0001f338` got "A name is 1-20 letters and digits, ...": it is answered with the
    name it can be, as a name with accents is."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME Dana \U0001f338", sender=CAROL) == name_spelt("Dana")
    assert await say(bot, fake, "\\NAME \u2728Zo\u00eb\u2728", sender=CAROL) == name_spelt("Zoe")
    assert await say(bot, fake, "\\NAME \U0001f338", sender=CAROL) == NAME_RULES


async def test_a_hyphenated_name_is_answered_with_the_name_with_a_space(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\NAME Anne-Marie` got "A name is 1-20 letters and digits, with single spaces; ...", which
    left the person to work out what to type."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME Anne-Marie", sender=CAROL) == name_spelt("Anne Marie")
    assert await say(bot, fake, "\\NAME Anne Marie", sender=CAROL) == "Your rooms now see you as Anne Marie."
    assert await say(bot, fake, "\\NAME -", sender=CAROL) == NAME_RULES


async def test_a_name_with_an_apostrophe_is_answered_with_the_name_without_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\NAME O'Brien` (or O\u2019Brien, as an iPhone types it) got "A name is 1-20 letters and
    digits, with single spaces; ...", which did not say the apostrophe was the trouble. It is
    offered without it, as `\\NAME Anne-Marie` is offered with a space, and `\\PAID O'Brien`
    finds the member who took it."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME O'Brien", sender=CAROL) == name_spelt("OBrien")
    assert await say(bot, fake, "\\NAME D\u2019Angelo", sender=CAROL) == name_spelt("DAngelo")
    assert await say(bot, fake, "\\NAME OBrien", sender=CAROL) == "Your rooms now see you as OBrien."
    assert (await say(bot, fake, "\\PAID O\u2019Brien 2", sender=BOB)).startswith(
        "Recorded: you paid OBrien $2.00."
    )
    assert await say(bot, fake, "\\NAME '", sender=CAROL) == NAME_RULES


async def test_a_name_typed_as_telegram_shows_it_is_that_member(
    bot_factory: BotFactory, fake_telegram: Any
) -> None:
    """Dev's Telegram first name is `Dev` and a flower; the room shows Dev. A flatmate who typed the
    name as Telegram shows it, `/paid Dev \U0001f338 5`, was told "No one in flat goes by Dev
    \U0001f338." (and `/paid Anne-Marie 5` for an Anne Marie): it is Dev."""
    bot = await bot_factory(telegram=fake_telegram.section())
    names = {7001: "Ann", 7002: "Dev \U0001f338", 7003: "Anne-Marie"}

    async def telegram(text: str, chat: int) -> str:
        return await answer(bot, fake_telegram, text, chat=chat, first_name=names[chat])

    await telegram("/create flat pw", 7001)
    await telegram("/join flat pw", 7002)
    await telegram("/join flat pw", 7003)
    assert (await telegram("/paid Dev \U0001f338 5", 7001)).startswith("Recorded: you paid Dev $5.00.")
    assert (await telegram("/paid anne-marie 2", 7001)).startswith("Recorded: you paid Anne Marie $2.00.")


async def test_a_name_typed_without_its_accents_is_that_member(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\PAID jose 5` or `\\SPLIT jose me`, typed on a keyboard with no accents, was "No one in
    house goes by jose." for a Jos\u00e9 in the room; `\\PAID Zo\u00eb 5` likewise for a Zoe. A name
    that matches no one as typed is matched without its accents; as typed still wins."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME Jos\u00e9", sender=BOB) == "Your rooms now see you as Jos\u00e9."
    assert await say(bot, fake, "\\NAME Zoe", sender=CAROL) == "Your rooms now see you as Zoe."
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\SPLIT jose me") == "Split $30.00 in house: Jos\u00e9 $15.00, Alice $15.00."
    assert (await say(bot, fake, "\\PAID JOSE 5", sender=CAROL)).startswith(
        "Recorded: you paid Jos\u00e9 $5.00."
    )
    assert (await say(bot, fake, "\\PAID Zo\u00eb 5")).startswith("Recorded: you paid Zoe $5.00.")
    # a Jose and a Jos\u00e9 in one room: each as typed
    assert await say(bot, fake, "\\NAME Jose") == "Your rooms now see you as Jose."
    assert (await say(bot, fake, "\\PAID jose 1", sender=CAROL)).startswith("Recorded: you paid Jose $1.00.")
    assert (await say(bot, fake, "\\PAID jos\u00e9 1", sender=CAROL)).startswith(
        "Recorded: you paid Jos\u00e9 $1.00."
    )


async def test_a_name_with_a_letter_of_its_own_is_found_as_an_english_keyboard_types_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID soren 5` for a S\u00f8ren, or `\\SPLIT aesa me` for an \u00c6sa: \u00f8 and \u00e6 have no
    accent to take off, so a keyboard without them (an American phone's) found "No one in house
    goes by soren", where `jose` finds a Jos\u00e9. They are o and ae, as the statement's zip names
    them."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME S\u00f8ren", sender=BOB) == "Your rooms now see you as S\u00f8ren."
    assert await say(bot, fake, "\\NAME \u00c6sa", sender=CAROL) == "Your rooms now see you as \u00c6sa."
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\SPLIT aesa me") == "Split $30.00 in house: \u00c6sa $15.00, Alice $15.00."
    assert (await say(bot, fake, "\\PAID SOREN 5", sender=CAROL)).startswith(
        "Recorded: you paid S\u00f8ren $5.00."
    )


async def test_names_and_usage(bot: Bot, fake_twilio: FakeTwilio) -> None:
    fake = fake_twilio
    await house(bot, fake)
    assert (
        await say(bot, fake, "\\NAME alice", sender=BOB)
        == "Someone in house goes by alice already. Pick another name."
    )
    assert await say(bot, fake, "\\NAME Al!ce") == NAME_RULES
    # a name of digits alone would take payments meant for the member whose number ends so
    assert await say(bot, fake, "\\NAME 2222", sender=CAROL) == NAME_RULES
    assert await say(bot, fake, "\\NAME me", sender=CAROL) == NAME_RULES
    assert await say(bot, fake, "\\NAME " + "x" * 21) == NAME_RULES
    assert await say(bot, fake, "\\NAME Mary Ann", sender=CAROL) == "Your rooms now see you as Mary Ann."
    assert await say(bot, fake, "\\PAID Alice", sender=BOB) == "Usage: \\PAID <name> <amount>"
    assert (
        await say(bot, fake, "\\PAID Alice lots", sender=BOB)
        == "Usage: \\PAID <name> <amount>, e.g. \\PAID Alice 7.72"
    )
    assert await say(bot, fake, "\\PAID Bob 1", sender=BOB) == "You cannot pay yourself."
    assert (
        await say(bot, fake, "\\PAID mary ann 2.50", sender=BOB)
        == "Recorded: you paid Mary Ann $2.50. house: Mary Ann pays Bob $2.50."
    )
    assert await say(bot, fake, "\\AMOUNT 5") == no_receipts("house", "AMOUNT")
    assert (
        await say(bot, fake, "\\AMOUNT five")
        == "Usage: \\AMOUNT 12.34 (0 takes the receipt out of the ledger)"
    )
    # without a name a member is shown by the masked number, and can be paid by its last digits
    assert (await say(bot, fake, "\\JOIN house pw", sender="+15550004444")).startswith("Joined house")
    assert await say(bot, fake, "\\PAID 4444 1.00", sender=BOB) == (
        "Recorded: you paid +1******4444 $1.00. house: Mary Ann pays Bob $2.50, +1******4444 pays Bob $1.00."
    )


async def test_several_photos_are_summed_up_in_one_reply(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    fake = fake_twilio
    await house(bot, fake)
    receipts = [
        text_pdf(["CAFE", "Latte 4.50", "SUBTOTAL 4.50", "TAX 0.36", "TOTAL 4.86"]),
        text_pdf(["HARDWARE", "Nails 3.00", "TOTAL 3.00", "VISA 3.00"]),
        text_pdf([]),  # no text layer: no amount
    ]
    urls = [fake.media.add(data, "application/pdf") for data in receipts]
    assert await say(bot, fake, "", **mms(urls, ["application/pdf"] * 3)) == (
        "Saved 3 receipts to house, $7.86 in all: split 3 ways, you are owed $5.24. "
        "No total on photo 3: reply \\AMOUNT 12.34 for each, in order."
    )
    sources = await bot.rows("SELECT amount_source, amount_minor FROM receipts ORDER BY media_index")
    assert [tuple(r) for r in sources] == [("pdf", 486), ("pdf", 300), (None, None)]
    assert (
        await say(bot, fake, "\\AMOUNT 1")
        == "Set $1.00 on your receipt in house: you are owed $5.91. \\BALANCE for all."
    )
    assert await bot.scalar("SELECT amount_minor FROM receipts WHERE media_index = 2") == 100


async def test_a_total_read_above_what_an_amount_may_be_is_asked_for(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A total read as $2,345,678.90 was counted, though \\AMOUNT and \\PAID take at most
    $1000000.00: the settling payment \\BALANCE named could not be sent as \\PAID, and the repeat's
    `\\AMOUNT 2345678.90 to count it anyway` got the usage. Such a reading is asked about."""
    bot = await bot_factory(twilio=fake_twilio.section(), media={"ocr": True})
    fake = fake_twilio
    await house(bot, fake)
    big = text_pdf(["MOTORS", "Car 2,345,678.90", "SUBTOTAL 2,345,678.90", "TAX 0.00", "TOTAL 2,345,678.90"])
    url = fake.media.add(big, "application/pdf")
    assert await say(bot, fake, "", **mms([url], ["application/pdf"])) == (
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    assert await bot.scalar("SELECT amount_minor FROM receipts") is None
    assert await say(bot, fake, "\\BALANCE") == (
        "house: all settled. 1 receipt with no total is not counted: its sender can reply \\AMOUNT 12.34."
    )


def test_pdf_text_layer() -> None:
    assert "TOTAL 4.86" in pdf_text(text_pdf(["TOTAL 4.86"]))
    assert pdf_text(text_pdf([])).strip() == ""


async def test_a_pdfs_total_is_chosen_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Choosing the total among a long text layer's rows (4,500 TOTAL lines: 2.4 s) ran on the
    event loop, and every webhook and reply of the server waited for it."""
    threads: list[threading.Thread] = []
    choose = reader_module.total_of_text

    def watched(text: str, exponent: int, whole: bool = False) -> Any:
        threads.append(threading.current_thread())
        return choose(text, exponent, whole)

    monkeypatch.setattr(reader_module, "total_of_text", watched)
    reader = reader_module.OcrReader(1)
    try:
        assert (await reader.read(text_pdf(["TOTAL 4.86"]), "pdf", 2)).minor == 486
    finally:
        reader.close()
    assert threads
    assert threading.main_thread() not in threads


async def test_a_pdf_is_read_in_an_ocr_slot_as_a_photo_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """pypdf is pure Python and a page of many small strokes takes it seconds: PDFs were read on
    the loop's default threads, as many at once as people sent, past `media.ocr_concurrency`."""
    entered, go = threading.Event(), threading.Event()

    def slow_pdf_text(data: bytes) -> str:
        entered.set()
        go.wait(30)
        return "TOTAL 4.86"

    monkeypatch.setattr(reader_module, "pdf_text", slow_pdf_text)
    reader = reader_module.OcrReader(1)
    try:
        reading = asyncio.create_task(reader.read(text_pdf(["TOTAL 4.86"]), "pdf", 2))
        assert await asyncio.to_thread(entered.wait, 30)
        assert reader.slots.locked()  # the one slot is the PDF's: a photo (or another PDF) waits
        go.set()
        assert (await reading).minor == 486
    finally:
        go.set()
        reader.close()


async def test_amount_handled_again_after_a_crash_sets_the_same_receipt(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A worker that dies after `\\AMOUNT`'s transaction but before the inbox row is marked done
    hands the message to another: it must set the same receipt, not the next one waiting."""
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    await photo(bot, fake, "", count=2)  # two receipts, no total on either
    form = await bot.text("\\AMOUNT 5")
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    amounts = "SELECT amount_minor FROM receipts ORDER BY media_index"
    assert [r.amount_minor for r in await bot.rows(amounts)] == [500, None]
    # what a crash between the handler's commit and the batch's leaves: the row is handled again
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(
            sa.text(
                "UPDATE inbox SET status = 'pending', claimed_by = NULL, claimed_until = NULL, "
                "next_attempt_at = 0 WHERE message_sid = :sid"
            ),
            {"sid": form["MessageSid"]},
        )
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    assert [r.amount_minor for r in await bot.rows(amounts)] == [500, None]


async def test_amount_and_split_wait_for_a_photo_the_media_store_has_not_taken_yet(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the media store down, a photo waits aside (retried) and the person's later texts are
    answered: `\\AMOUNT 12` meant for that photo set the receipt before it, and `\\SPLIT`
    reshaped it, with nothing said. They change nothing until the photo is saved."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house")
    sid, down = await photo_parked_while_the_store_is_down(bot, fake, monkeypatch)
    amounts = "SELECT amount_minor FROM receipts ORDER BY created_at"
    assert await say(bot, fake, "\\AMOUNT 12") == photo_waiting("AMOUNT")
    assert await say(bot, fake, "\\SPLIT bob") == photo_waiting("SPLIT")
    assert [r.amount_minor for r in await bot.rows(amounts)] == [3000]
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $10.00, Carol pays Alice $10.00."
    down[0] = False
    async with bot.runtime.deps.db.tx() as conn:  # its retry, now
        await conn.execute(sa.text("UPDATE inbox SET next_attempt_at = 0 WHERE message_sid = :s"), {"s": sid})
    assert await bot.handled(sid) == "done"
    await bot.settled()
    assert (await say(bot, fake, "\\AMOUNT 12")).startswith("Set $12.00 on your receipt in house")
    assert [r.amount_minor for r in await bot.rows(amounts)] == [3000, 1200]


async def test_amount_after_amount_0_says_the_receipt_was_taken_out(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A receipt taken out with `\\AMOUNT 0` and counted again with `\\AMOUNT 12.50` was said to
    have been $0.00 ("Set $12.50 on your receipt in house (was $0.00)"), an amount it never had."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house")
    assert (await say(bot, fake, "\\AMOUNT 0")).startswith(
        "Your receipt is out of the ledger of house (was $30.00)"
    )
    assert await say(bot, fake, "\\AMOUNT 12.50") == (
        "Set $12.50 on your receipt in house (was taken out): you are owed $8.34. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $4.17, Carol pays Alice $4.17."


async def test_paid_to_a_member_of_another_of_the_senders_rooms_says_where_they_are(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Alice, whose active room is trip, owing Bob in house: `\\PAID Bob 5` was answered "No one
    in trip goes by Bob. \\BALANCE shows the names.", and trip's names have no Bob. It says where
    Bob is and how to pay him there; nothing is recorded."""
    fake = fake_twilio
    await house_and_trip(bot, fake)
    assert await say(bot, fake, "\\PAID bob 5") == (
        "No one in trip goes by bob; Bob is in house: \\USE house, then \\PAID again."
    )
    assert await bot.scalar("SELECT count(*) FROM payments") == 0
    # a name no room of theirs has is still no one's
    assert await say(bot, fake, "\\PAID Zed 5") == "No one in trip goes by Zed. \\BALANCE shows the names."
    assert (await say(bot, fake, "\\USE house")).startswith("Photos you send now go to house")
    assert (await say(bot, fake, "\\PAID bob 5")).startswith("Recorded: you paid Bob $5.00.")


async def test_a_caption_over_what_an_amount_may_be_is_said_so(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """A photo captioned `$2,000,000` (a zero too many) was answered "no total found. Reply
    \\AMOUNT 12.34 to set it." of a total the person had typed. It is saved uncounted, and a
    second answer says why its figure was not taken, as `\\AMOUNT 2000000` says it."""
    fake = fake_twilio
    await house(bot, fake)
    too_big = "$2,000,000.00 is more than an amount may be: at most $1,000,000.00."
    for caption in ("$2,000,000", "2000000.00"):
        urls = [fake.media.add(images.jpeg_with_gps())]
        assert await answers(bot, fake, caption, **mms(urls)) == [
            "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it.",
            too_big,
        ]
    assert await say(bot, fake, "\\AMOUNT 2000000") == too_big
    assert await say(bot, fake, "\\BALANCE") == (
        "house: all settled. 2 receipts with no total are not counted: \\RECEIPTS shows them."
    )


async def test_paid_to_several_members_in_one_text_says_one_payment_a_text(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Settling up with two at once, `\\PAID Bob 5 Carol 5`, was answered "No one in house goes by
    Bob 5 Carol.": it says nothing was recorded and how to send them."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\PAID Bob 5 Carol 5") == (
        "Nothing recorded: one payment a text. Send \\PAID Bob 5, then \\PAID Carol 5."
    )
    assert await say(bot, fake, "\\PAID bob 5, carol 2.50") == (
        "Nothing recorded: one payment a text. Send \\PAID Bob 5, then \\PAID carol 2.50."
    )
    assert await say(bot, fake, "\\PAID Bob 5 Carol 5 Bob 1", sender=CAROL) == (
        "Nothing recorded: one payment a text. Send \\PAID Bob 5, then the next."
    )
    assert (
        await say(bot, fake, "\\PAID Zed 5 Carol 5")
        == "No one in house goes by Zed 5 Carol. \\BALANCE shows the names."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: all settled."


async def test_paid_to_several_members_joined_by_and_offers_a_paid_that_works(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID Bob 5 and Carol 5` offered `\\PAID and Carol 5` for the second payment, which
    was answered "No one in house goes by and Carol"."""
    fake = fake_twilio
    await house(bot, fake)
    for joined in ("and", "&", "AND"):
        assert await say(bot, fake, f"\\PAID Bob 5 {joined} Carol 5") == (
            "Nothing recorded: one payment a text. Send \\PAID Bob 5, then \\PAID Carol 5."
        )
    assert (await say(bot, fake, "\\PAID Carol 5")).startswith("Recorded: you paid Carol $5.00.")


async def test_paid_said_as_a_sentence_records_the_payment(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\PAID Bob 20 for pizza`, what it was for after it as payment apps ask, got the usage, and
    `\\PAID 20 to Bob` "No one in house goes by to Bob": nothing was recorded. What it was for and
    a `to` before the name are no part of the payment; a `for` before the amount is still no name."""
    fake = fake_twilio
    await house(bot, fake)
    for typed, minor in (
        ("\\PAID Bob 20 for pizza", 2000),
        ("\\PAID bob $7.50 for the taxi, thanks", 750),
        ("\\PAID 5 Bob for 2 coffees", 500),
        ("\\PAID 3 to Bob", 300),
        ("\\PAID to bob 1.25", 125),
        ("\\PAID to Bob 4 for lunch", 400),
    ):
        assert (await say(bot, fake, typed, sender=CAROL)).startswith("Recorded: you paid Bob "), typed
        assert await bot.scalar("SELECT amount_minor FROM payments ORDER BY id DESC LIMIT 1") == minor
    assert (
        await say(bot, fake, "\\PAID bob for 20", sender=CAROL)
        == "No one in house goes by bob for. \\BALANCE shows the names."
    )
    assert await bot.scalar("SELECT count(*) FROM payments") == 6


async def test_paid_amount_first_to_a_member_named_by_digits_pays_them(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID 5 to 3333`, for a member the room shows by their masked number (or a name that
    ends in a number, `\\PAID 5 to room 2`), read the last figure as the amount: "No one in house
    goes by 5", or by "5 room". What follows the `to` is the payee."""
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    for phone in (BOB, CAROL):
        assert (await say(bot, fake, "\\JOIN house pw", sender=phone)).startswith("Joined house")
    assert await say(bot, fake, "\\NAME Room 2", sender=BOB) == "Your rooms now see you as Room 2."
    assert (await say(bot, fake, "\\PAID 5 to 3333")).startswith("Recorded: you paid +1******3333 $5.00.")
    assert (await say(bot, fake, "\\PAID 7 to room 2")).startswith("Recorded: you paid Room 2 $7.00.")
    assert [tuple(r) for r in await bot.rows("SELECT amount_minor FROM payments ORDER BY id")] == [
        (500,),
        (700,),
    ]


async def test_paid_of_a_negative_amount_says_how_a_mistaken_payment_is_evened(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID Bob 20` for the wrong member, then `\\PAID Bob -20` to take it back: the usage
    answered, and nothing said how the mistake is put right. Nothing is recorded, and the reply
    says how: the payee records paying it back, which leaves the ledger as it was."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await say(bot, fake, "\\PAID Bob 20")).startswith("Recorded: you paid Bob $20.00.")
    assert await say(bot, fake, "\\PAID bob -20") == (
        "Nothing recorded: a payment is not taken back. If yours to Bob was a mistake, "
        "Bob records paying it back in house: \\PAID Alice 20.00"
    )
    assert await say(bot, fake, "\\PAID Bob \u221220.00") == await say(bot, fake, "\\PAID Bob -20")
    assert await bot.scalar("SELECT count(*) FROM payments") == 1
    assert (await say(bot, fake, "\\PAID Alice 20.00", sender=BOB)).startswith(
        "Recorded: you paid Alice $20.00."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: all settled."
    # no such member: as before
    assert await say(bot, fake, "\\PAID Zed -5") == PAID_HOW


async def test_paid_names_a_member_who_left(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Bob paid a receipt, then left (\\LEAVE, then \\STOP): the others still owe him, and \\PAID
    to the name he had settles it, with no SMS to a number that is gone."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.00", sender=BOB)
    assert await say(bot, fake, "\\BALANCE") == "house: Alice pays Bob $10.00, Carol pays Bob $10.00."
    assert (await say(bot, fake, "\\LEAVE", sender=BOB)).startswith("You left house")
    # after \LEAVE: he is still a person, named as before, and gets the notice (with no pointer
    # to a \BALANCE of a room he is not in: it would answer "You are not in a room named house")
    before = len(fake.messages)
    assert (
        await say(bot, fake, "\\PAID Bob 10")
        == "Recorded: you paid Bob $10.00. house: Carol pays Bob $10.00."
    )
    await bot.settled()
    assert [m["Body"] for m in fake.messages[before:] if m["To"] == BOB] == [
        "Alice paid you $10.00 in house."
    ]
    # after \STOP: his number and record are gone; his name stays on the books
    assert (await say(bot, fake, "\\STOP", sender=BOB)).startswith("Goodbye")
    assert await bot.scalar("SELECT count(*) FROM users WHERE phone = :p", p=BOB) == 0
    assert await say(bot, fake, "\\BALANCE", sender=CAROL) == "house: Carol pays Bob $10.00."
    before = len(fake.messages)
    assert (
        await say(bot, fake, "\\PAID bob 10", sender=CAROL)
        == "Recorded: you paid Bob $10.00. house: all settled."
    )
    await bot.settled()
    assert [m for m in fake.messages[before:] if m["To"] != CAROL] == []
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE to_phone LIKE 'former:%'") == 0
    # the gallery still says "a former member" for his receipt (SPEC), never his number
    page = html.unescape(await (await bot.client.get(path_of(await gallery_link(bot, fake, ALICE)))).text())
    assert "a former member" in page
    assert BOB not in page


def adding_up_watched(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, seen_sql: str
) -> list[tuple[bool, list[Any]]]:
    """Each time a handler adds up a room's ledger: whether a text from someone else could be
    stored meanwhile (as the webhook stores it), and what another connection sees of `seen_sql`."""
    db = bot.runtime.deps.db
    seen: list[tuple[bool, list[Any]]] = []
    original = ledger_handlers.room_ledger

    async def adding_up(conn: Any, room_id: str, *args: Any) -> Any:
        another = new_message(new_sid(), "+15550009999", "\\HELP")
        try:  # the timeout only ends a test that fails: the text waits for the handler to finish
            await asyncio.wait_for(inbox.insert_new(db, [another]), timeout=10)
            stored = True
        except TimeoutError:
            stored = False
        async with db.read() as other:
            seen.append((stored, [row[0] for row in (await other.execute(sa.text(seen_sql))).all()]))
        return await original(conn, room_id, *args)

    monkeypatch.setattr(ledger_handlers, "room_ledger", adding_up)
    return seen


async def test_paid_adds_up_the_room_outside_its_payments_transaction(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """\\PAID reads the names against the room's ledger and replies with where the room stands. In
    a 60-member club with two years of receipts each ledger takes a second, and both were added up
    inside the payment's transaction: on SQLite another person's text waited all that time to be
    stored. Now others' texts are stored while it is added up, and the reply's balance is added
    up once the payment is stored (another connection sees it)."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.00", sender=BOB)
    seen = adding_up_watched(bot, monkeypatch, "SELECT amount_minor FROM payments")
    assert (
        await say(bot, fake, "\\PAID Bob 10")
        == "Recorded: you paid Bob $10.00. house: Carol pays Bob $10.00."
    )
    # the names looked up before the payment, the reply's balance once it is stored
    assert seen == [(True, []), (True, [1000])]


async def test_amount_adds_up_the_room_once_the_amount_is_stored(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """\\AMOUNT's reply (what the sender is owed) was added up inside the transaction that sets
    the amount, holding SQLite's only writer for the second a big room's ledger takes."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "")
    seen = adding_up_watched(bot, monkeypatch, "SELECT amount_minor FROM receipts")
    assert (await say(bot, fake, "\\AMOUNT 30")).startswith("Set $30.00 on your receipt in house")
    assert seen == [(True, [3000])]


async def test_split_adds_up_the_room_outside_its_transaction(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """\\SPLIT added up the room's ledger twice inside the transaction that sets the split (the
    names, then again for the reply, whose names a split does not change): once, before it."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.00")
    seen = adding_up_watched(
        bot, monkeypatch, "SELECT count(*) FROM receipt_members WHERE weight IS NOT NULL"
    )
    assert await say(bot, fake, "\\SPLIT bob me") == "Split $30.00 in house: Bob $15.00, Alice $15.00."
    assert seen == [(True, [0])]


async def test_paid_takes_an_amount_with_its_code_or_sign_as_a_word_of_its_own(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID Alice USD 10.00` said "No one in house goes by Alice USD", `\\PAID Alice 10 USD`
    gave the usage: the amount was the last word alone, though amounts take a code or sign."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\PAID Alice USD 6.00", sender=BOB) == (
        "Recorded: you paid Alice $6.00. house: Carol pays Alice $10.00, Bob pays Alice $4.00."
    )
    assert (
        await say(bot, fake, "\\PAID Alice 4 usd", sender=BOB)
        == "Recorded: you paid Alice $4.00. house: Carol pays Alice $10.00."
    )
    assert await say(bot, fake, "\\PAID Alice 5 EUR", sender=CAROL) == (
        "house counts in USD: send the amount in USD."
    )
    assert (
        await say(bot, fake, "\\PAID Alice $ 10", sender=CAROL)
        == "Recorded: you paid Alice $10.00. house: all settled."
    )
    assert await bot.scalar("SELECT sum(amount_minor) FROM payments") == 2000
    # a name whose last word is also a currency code (BOB: the boliviano) is still that name
    assert await say(bot, fake, "\\NAME Big Bob", sender=BOB) == "Your rooms now see you as Big Bob."
    assert (
        await say(bot, fake, "\\PAID Big Bob 5")
        == "Recorded: you paid Big Bob $5.00. house: Big Bob pays Alice $5.00."
    )
    # thousands set apart by a space, as in French (`1 234,56`): the usage, or "No one in house
    # goes by Alice 1"
    assert await say(bot, fake, "\\AMOUNT 1 234,56") == (
        "Set $1,234.56 on your receipt in house (was $30.00): you are owed $808.04. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\PAID Alice 1 000,00", sender=BOB) == (
        "Recorded: you paid Alice $1,000.00. house: Carol pays Big Bob $401.52, Alice pays Big Bob $191.96."
    )


async def test_someone_who_stopped_without_a_name_keeps_their_masked_number(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    assert (await say(bot, fake, "\\JOIN house pw", sender=BOB)).startswith("Joined house")
    await photo(bot, fake, "$10.00", sender=BOB)
    assert await say(bot, fake, "\\BALANCE") == "house: +1******1111 pays +1******2222 $5.00."
    assert (await say(bot, fake, "\\STOP", sender=BOB)).startswith("Goodbye")
    assert await say(bot, fake, "\\BALANCE") == "house: +1******1111 pays +1******2222 $5.00."
    assert (
        await say(bot, fake, "\\PAID 2222 5") == "Recorded: you paid +1******2222 $5.00. house: all settled."
    )


async def test_a_name_shared_with_someone_who_stopped_is_told_apart(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Bob stops; a new Bob joins: the one who left shows as "Bob (left)", and \\PAID names either."""
    fake = fake_twilio
    await house(bot, fake)
    dan = await a_new_bob_after_bob_left(bot, fake)
    assert (
        await say(bot, fake, "\\BALANCE")
        == "house: Alice pays Bob (left) $10.00, Carol pays Bob (left) $10.00."
    )
    assert (
        await say(bot, fake, "\\PAID bob (left) 10")
        == "Recorded: you paid Bob (left) $10.00. house: Carol pays Bob (left) $10.00."
    )
    await photo(bot, fake, "$40.00", sender=dan)  # split among Alice, Carol and the new Bob
    balance = await say(bot, fake, "\\BALANCE")
    assert "Alice pays Bob (4444) $" in balance
    assert "Alice pays Bob (left) $10.00" in balance
    # the names as \\BALANCE shows them, which \\PAID takes (the one who left has no digits)
    assert (
        await say(bot, fake, "\\PAID bob 1")
        == "More than one member goes by bob: Bob (4444) or Bob (left). Use the one you mean."
    )
    assert "Bob (4444)" in await say(bot, fake, "\\PAID 4444 1")
    # \\SPLIT is among the room's members only, so the Bob in the room is the one: it asked "Bob
    # (4444) or Bob (left)?", offering the one it then refused ("Bob (left) is not in house any
    # more"); before that it said "No one in house goes by bob"
    assert await say(bot, fake, "\\SPLIT bob alice", sender=dan) == (
        "Split $40.00 in house: Alice $20.00, Bob (4444) $20.00."
    )
    # it takes the last 4 digits too (they were read as a share of 4444)
    assert (await say(bot, fake, "\\SPLIT 4444 alice", sender=dan)).startswith("Split $40.00 in house:")
    assert await say(bot, fake, "\\SPLIT bob (left) alice", sender=dan) == (
        "Bob (left) is not in house any more, so nothing changed: \\SPLIT only among its members."
    )


async def test_two_who_stopped_by_one_name_are_told_apart(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Bob stops; a new Bob joins, pays, and stops too: \\BALANCE named both "Bob (left)", and
    \\PAID to either answered "More than one member goes by Bob (left): Bob (left) or Bob (left)":
    neither debt could be settled."""
    fake = fake_twilio
    await house(bot, fake)
    dan = await a_new_bob_after_bob_left(bot, fake)
    await photo(bot, fake, "$60.00", sender=dan)
    assert (await say(bot, fake, "\\STOP", sender=dan)).startswith("Goodbye")
    assert await say(bot, fake, "\\BALANCE") == (
        "house: Alice pays Bob (left 2) $30.00, Carol pays Bob (left) $20.00, Carol pays Bob (left 2) $10.00."
    )
    assert await say(bot, fake, "\\PAID bob 1") == (
        "More than one member goes by bob: Bob (left) or Bob (left 2). Use the one you mean."
    )
    # the settling payments, each as \\BALANCE names it, bring everyone to zero
    assert await say(bot, fake, "\\PAID Bob (left 2) 30") == (
        "Recorded: you paid Bob (left 2) $30.00. house: Carol pays Bob (left) $20.00, Carol pays Bob (left 2) $10.00."
    )
    assert (
        await say(bot, fake, "\\PAID Bob (left) 20", sender=CAROL)
        == "Recorded: you paid Bob (left) $20.00. house: Carol pays Bob (left 2) $10.00."
    )
    assert (
        await say(bot, fake, "\\PAID bob (left 2) 10", sender=CAROL)
        == "Recorded: you paid Bob (left 2) $10.00. house: all settled."
    )


async def test_a_split_naming_only_people_who_left_by_one_name_says_they_left(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Two Bobs stopped and no Bob is left in the room: `\\SPLIT me bob` asked "Bob (left) or Bob
    (left 2)? Use the one you mean.", offering two it then refused ("Bob (left) is not in house
    any more"). It says at once that whoever went by that name has left."""
    fake = fake_twilio
    await house(bot, fake)
    dan = await a_new_bob_after_bob_left(bot, fake)
    await photo(bot, fake, "$60.00", sender=dan)
    assert (await say(bot, fake, "\\STOP", sender=dan)).startswith("Goodbye")
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\SPLIT me bob") == (
        "Everyone who went by bob has left house, so nothing changed: \\SPLIT only among its members."
    )
    # \\PAID may name either, so it still asks which
    assert await say(bot, fake, "\\PAID bob 1") == (
        "More than one member goes by bob: Bob (left) or Bob (left 2). Use the one you mean."
    )


async def test_members_whose_masked_numbers_match_are_told_apart(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Two unnamed members whose numbers end alike both showed as +1******2222: \\BALANCE read
    "+1******2222 pays +1******2222", and \\PAID could name neither (`\\PAID 2222` took the
    first silently)."""
    fake = fake_twilio
    twin = "+15559992222"
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    for phone in (BOB, twin):
        assert (await say(bot, fake, "\\JOIN house pw", sender=phone)).startswith("Joined house")
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\BALANCE") == (
        "house: +1******2222 pays +1******1111 $10.00, +1******2222 (2) pays +1******1111 $10.00."
    )
    assert await say(bot, fake, "\\PAID 2222 1", sender=ALICE) == (
        "More than one member goes by 2222: +1******2222 or +1******2222 (2). Use the one you mean."
    )
    assert await say(bot, fake, "\\PAID +1******1111 10", sender=twin) == (
        "Recorded: you paid +1******1111 $10.00. house: +1******2222 pays +1******1111 $10.00."
    )
    assert await say(bot, fake, "\\SPLIT +1******2222 (2) me") == (
        "Split $30.00 in house: +1******2222 (2) $15.00, +1******1111 $15.00."
    )


async def test_split_in_a_club_names_many_members_by_shares_without_trying_every_run_of_words(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A club of 32: `\\SPLIT` by shares among 15 members (30 words) got the bare "Usage: \\SPLIT
    <names and shares>", as one naming 25 did: it took 24 words. And each name was looked for in
    every run of the words after it, the whole rest first: 36 names held the event loop a second."""
    fake = fake_twilio
    await house(bot, fake)
    club = [(f"+1555000{n:04d}", f"Mate{chr(65 + n % 26)}{chr(65 + n // 26)}") for n in range(29)]
    for phone, name in club:
        assert (await say(bot, fake, "\\JOIN house pw", sender=phone)).startswith("Joined house")
        assert await say(bot, fake, f"\\NAME {name}", sender=phone) == f"Your rooms now see you as {name}."
    await photo(bot, fake, "$31.00")
    looked_up: list[str] = []
    find = ledger_handlers._find_member

    def counted(book: Any, wanted: str, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(wanted)
        return find(book, wanted, *args, **kwargs)

    monkeypatch.setattr(ledger_handlers, "_find_member", counted)
    shares = " ".join(f"{name} {1 + n % 2}" for n, (_, name) in enumerate(club[:15]))
    assert await say(bot, fake, f"\\SPLIT {shares}") == "Split $31.00 among 15 in house. \\BALANCE for all."
    names = " ".join(name for _, name in club[:26])
    assert await say(bot, fake, f"\\SPLIT {names} me") == "Split $31.00 among 27 in house. \\BALANCE for all."
    # runs of at most a name's words and two more from each name on (every run: 702 lookups)
    assert len([w for w in looked_up if " " in w]) <= 2 * 2 * 27, looked_up
    balance = await say(bot, fake, "\\BALANCE")
    assert "MateAB" not in balance
    assert "Carol" not in balance
    assert "MateAA pays Alice $1.15" in balance


async def test_a_splits_leftover_cent_follows_the_receipts_turn_not_who_joined_first(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Each receipt's leftover cents start one member further along than the one before it; a
    `\\SPLIT bob carol` of Alice's second receipt gave its cent to Bob, who joined first, as every
    \\SPLIT did: it goes by the receipt's order (Carol first on the second receipt)."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$3.00")).startswith("Saved $3.00 to house")
    url = fake.media.add(images.jpeg_with_gps(640, 480, variant=31))
    assert (await say(bot, fake, "$10.01", **mms([url]))).startswith("Saved $10.01 to house")
    assert await say(bot, fake, "\\SPLIT bob carol") == "Split $10.01 in house: Carol $5.01, Bob $5.00."
    assert await say(bot, fake, "\\BALANCE") == "house: Carol pays Alice $6.01, Bob pays Alice $6.00."


async def test_amount_and_split_of_one_who_sent_no_receipt_say_whose_it_is(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A member with a phone that sends no photos (a flip phone: SMS only) has their receipt sent
    by someone else, and then types its `\\AMOUNT` or `\\SPLIT` themselves: "Send a photo of one
    first" was all they heard, which they cannot do. The answer says the receipt is its sender's."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "for carol", sender=BOB)).startswith("Saved to house; no total found.")
    for command in ("AMOUNT 12", "SPLIT me bob"):
        assert await say(bot, fake, f"\\{command}", sender=CAROL) == (
            f"You have sent no receipts in house. Send a photo of one, or ask whoever sent yours to "
            f"\\{command.split()[0]} it."
        )
    assert await say(bot, fake, "\\AMOUNT 12", sender=BOB) == (
        "Set $12.00 on your receipt in house: you are owed $8.00. \\BALANCE for all."
    )
    room = "r" * 32  # the longest name
    assert all(fits_one_segment(no_receipts(room, name)) for name in ("AMOUNT", "SPLIT"))


async def test_split_reshapes_the_last_receipt_by_names_shares_percentages_or_amounts(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """\\SPLIT (issue 26): equal among the names given, shares, percentages, exact amounts; `me`
    is the sender; \\BALANCE and \\AMOUNT follow; a split that does not add up says why."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\SPLIT bob") == no_receipts("house", "SPLIT")
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $10.00, Carol pays Alice $10.00."
    # names only: equal among them (Alice paid for Bob and Carol alone)
    assert await say(bot, fake, "\\SPLIT bob carol") == "Split $30.00 in house: Bob $15.00, Carol $15.00."
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $15.00, Carol pays Alice $15.00."
    # names as people list them: "and", "&" and "+" join them as commas do (it said "No one in
    # house goes by and.")
    assert await say(bot, fake, "\\SPLIT Bob, Carol and me") == (
        "Split $30.00 in house: Bob $10.00, Carol $10.00, Alice $10.00."
    )
    assert await say(bot, fake, "\\SPLIT bob & me") == "Split $30.00 in house: Bob $15.00, Alice $15.00."
    assert (
        await say(bot, fake, "\\SPLIT bob 2 + carol 1") == "Split $30.00 in house: Bob $20.00, Carol $10.00."
    )
    # shares, with me
    assert await say(bot, fake, "\\SPLIT me 1 bob 2") == "Split $30.00 in house: Bob $20.00, Alice $10.00."
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $20.00."
    # percentages, leftover cents to the largest remainders
    assert await say(bot, fake, "\\SPLIT bob 33.34% carol 33.33% me 33.33%") == (
        "Split $30.00 in house: Bob $10.00, Carol $10.00, Alice $10.00."
    )
    assert await say(bot, fake, "\\SPLIT bob 60% carol 30%") == "60% + 30% is 90%, not 100%."
    # exact amounts that add up, and ones that do not
    assert await say(bot, fake, "\\SPLIT bob 12.50 carol 17.50") == (
        "Split $30.00 in house: Bob $12.50, Carol $17.50."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Carol pays Alice $17.50, Bob pays Alice $12.50."
    assert await say(bot, fake, "\\SPLIT bob 12.50 carol 7.50") == (
        "$12.50 + $7.50 is $20.00, not its total $30.00."
    )
    # an amount with its code apart, as replies show amounts of a currency with no plain symbol
    # (`INR 12.50`): it said "No one in house goes by USD"
    assert await say(bot, fake, "\\SPLIT bob USD 12.50 carol 17.50 usd") == (
        "Split $30.00 in house: Bob $12.50, Carol $17.50."
    )
    # what does not parse says what to do; nothing changes
    assert await say(bot, fake, "\\SPLIT bob 2 carol") == (
        "Give everyone a share, or no one: \\SPLIT ann 2 bob 1, or \\SPLIT ann bob."
    )
    assert (await say(bot, fake, "\\SPLIT bob 2 carol 50%")).startswith("Use one kind:")
    assert await say(bot, fake, "\\SPLIT bob 1 bob 2") == "Name each member once."
    assert (
        await say(bot, fake, "\\SPLIT dave 1") == "No one in house goes by dave. \\BALANCE shows the names."
    )
    assert (
        await say(bot, fake, "\\SPLIT bob 0 carol 1")
        == "Every share must be more than 0: leave out who pays nothing."
    )
    assert (await say(bot, fake, "\\SPLIT 2 bob")).startswith("Usage: \\SPLIT ann bob (equally)")
    assert await say(bot, fake, "\\BALANCE") == "house: Carol pays Alice $17.50, Bob pays Alice $12.50."
    # \\AMOUNT keeps the proportions of the split, and says what each part came to (it said
    # nothing of the split: Bob's $12.50 became $25.00 unseen)
    assert await say(bot, fake, "\\AMOUNT 60") == (
        "Set $60.00 on your receipt in house (was $30.00), split Bob $25.00, Carol $35.00:"
        " you are owed $60.00. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Carol pays Alice $35.00, Bob pays Alice $25.00."
    weights = await bot.rows("SELECT weight FROM receipt_members ORDER BY position")
    assert [r[0] for r in weights] == [1250, 1750]  # minor units: exact, whatever the total becomes
    # the gallery shows the split's shares on the receipt
    page = html.unescape(await (await bot.client.get(path_of(await gallery_link(bot, fake, BOB)))).text())
    assert '<p class="split">Split: Bob $25.00, Carol $35.00</p>' in page
    # "and" is a name when a member goes by it
    assert await say(bot, fake, "\\NAME And", sender=CAROL) == "Your rooms now see you as And."
    assert await say(bot, fake, "\\SPLIT bob and") == "Split $60.00 in house: Bob $30.00, And $30.00."
    # split equally among some: nothing about the split to tell
    assert await say(bot, fake, "\\AMOUNT 40") == (
        "Set $40.00 on your receipt in house (was $60.00): you are owed $40.00. \\BALANCE for all."
    )


async def test_exact_amounts_may_have_a_whole_number_among_them(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\SPLIT me 10 bob 10.00 carol 10.61` (exact amounts, one of them a round $10) answered "Use
    one kind", though they had used one: a whole number beside amounts is that many dollars. With
    shares or percentages only, a whole number stays a share."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.61")
    assert await say(bot, fake, "\\SPLIT me 10 bob 10.00 carol 10.61") == (
        "Split $30.61 in house: Bob $10.00, Carol $10.61, Alice $10.00."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Carol pays Alice $10.61, Bob pays Alice $10.00."
    weights = await bot.rows("SELECT weight FROM receipt_members ORDER BY position")
    assert [r[0] for r in weights] == [1000, 1061, 1000]
    # read as amounts, they must add up like any others
    assert await say(bot, fake, "\\SPLIT me 2 bob 10.50") == "$2.00 + $10.50 is $12.50, not its total $30.61."
    assert (await say(bot, fake, "\\SPLIT bob 2 carol 50%")).startswith("Use one kind:")
    assert await say(bot, fake, "\\SPLIT me 1 bob 2") == "Split $30.61 in house: Bob $20.41, Alice $10.20."


async def test_exact_amounts_of_a_four_decimal_currency_past_32_bits(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """In a CLF room (four decimals) `\\SPLIT me 300000.0000 bob 600000.0000` weighs 3 and 6
    billion minor units: on PostgreSQL (a 32-bit column) it answered "something went wrong", five
    times over. The split is stored as typed, on either database."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\CURRENCY CLF") == "house counts in CLF now."
    await photo(bot, fake, "CLF 900000.0000")
    assert await say(bot, fake, "\\SPLIT me 300000.0000 bob 600000.0000") == (
        "Split CLF 900,000.0000 in house: Bob CLF 600,000.0000, Alice CLF 300,000.0000."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice CLF 600,000.0000."
    weights = await bot.rows("SELECT weight FROM receipt_members ORDER BY position")
    assert [r[0] for r in weights] == [6_000_000_000, 3_000_000_000]


async def test_a_debt_above_the_largest_amount_is_settled_in_one_payment(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """\\BALANCE said "Bob pays Alice $2000000.00" and `\\PAID Alice 2000000` (copied from it)
    answered the usage: it took two payments. A payment above $1,000,000.00 settles what Bob pays
    Alice; past that it is refused, saying why, and nothing is recorded."""
    fake = fake_twilio
    await house(bot, fake)
    for caption in ("$1000000.00", "$1000000.00 again"):
        await photo(bot, fake, caption)
        assert (await say(bot, fake, "\\SPLIT bob")).startswith("Split $1,000,000.00 in house: Bob")
    assert await say(bot, fake, "\\BALANCE", sender=BOB) == "house: Bob pays Alice $2,000,000.00."
    assert await say(bot, fake, "\\PAID Alice 2000000.01", sender=BOB) == (
        "$1,000,000.00 is the most a payment may be, unless it settles what \\BALANCE says you pay them."
    )
    assert await say(bot, fake, "\\PAID Bob 1000000.01") == (
        "$1,000,000.00 is the most a payment may be, unless it settles what \\BALANCE says you pay them."
    )
    assert (
        await say(bot, fake, "\\PAID Alice 2,000,000.00", sender=BOB)
        == "Recorded: you paid Alice $2,000,000.00. house: all settled."
    )
    notices = [m["Body"] for m in fake.messages if m["To"] == ALICE and "paid you" in m["Body"]]
    assert notices == ["Bob paid you $2,000,000.00 in house. \\BALANCE house for all."]
    payments = await bot.rows("SELECT amount_minor FROM payments")
    assert [r[0] for r in payments] == [200_000_000]


async def test_a_flood_of_payments_notifies_the_payee_within_their_reply_budget(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob's twelve `\\PAID Alice 0.01` in a row sent Alice twelve "Bob paid you" notices within a
    second: her reply budget held back Bob's own answers, never the notices to her, and past 15 in
    30 s Twilio blocks the messages to her number (14107). Notices to a number now go within its
    budget: the ones over it wait for the window, none is dropped, and her own next answer comes
    after them."""
    monkeypatch.setattr(replyguard, "BUDGET", 10)
    fake = fake_twilio
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake.section())
    await house(bot, fake)  # Alice's own two replies: of her 10
    for _ in range(12):
        form = await bot.text("\\PAID Alice 0.01", sender=BOB)
        assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    assert len([m for m in fake.messages if m["To"] == ALICE]) == 10
    notices = [m["Body"] for m in fake.messages if m["To"] == ALICE and "paid you" in m["Body"]]
    assert len(notices) == 8  # the budget's rest
    waiting = await bot.rows(
        "SELECT next_attempt_at FROM outbox WHERE to_phone = :to AND status = 'queued' ORDER BY id", to=ALICE
    )
    assert len(waiting) == 4
    assert all(row.next_attempt_at > now[0] for row in waiting)
    form = await bot.text("\\BALANCE")
    assert await bot.handled(form["MessageSid"]) == "done"
    answer = await bot.rows(
        "SELECT next_attempt_at FROM outbox WHERE inbox_id = (SELECT id FROM inbox WHERE message_sid = :sid)",
        sid=form["MessageSid"],
    )
    assert answer[0].next_attempt_at >= max(row.next_attempt_at for row in waiting)
    now[0] += 2 * replyguard.BUDGET_WINDOW + 1
    await bot.settled()
    to_alice = [m["Body"] for m in fake.messages if m["To"] == ALICE]
    assert [b for b in to_alice if "paid you" in b] == [
        "Bob paid you $0.01 in house. \\BALANCE house for all."
    ] * 12
    assert to_alice[-1].startswith("house: ")


async def test_the_paid_usage_shows_a_figure_the_rooms_currency_takes(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """In a yen room `\\PAID Bob 1000.5` was answered "e.g. \\PAID Alice 7.72", a figure a yen room
    refuses as well: the example has the room's decimals."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\PAID Bob five") == PAID_HOW  # dollars: as before
    assert await say(bot, fake, "\\CURRENCY JPY") == "house counts in JPY (¥) now."
    assert await say(bot, fake, "\\PAID Bob 1000.5") == "Usage: \\PAID <name> <amount>, e.g. \\PAID Alice 772"
    assert (
        await say(bot, fake, "\\PAID Bob 772") == "Recorded: you paid Bob ¥772. house: Bob pays Alice ¥772."
    )


async def test_a_member_mentioned_with_an_at_sign_is_that_member(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\PAID @alice 5` and `\\SPLIT @bob @carol` (a mention, as Telegram has people type it) said
    "No one in house goes by @alice": no name has an @, so the name after it is meant."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\SPLIT @bob @Carol") == "Split $30.00 in house: Bob $15.00, Carol $15.00."
    assert await say(bot, fake, "\\PAID @alice 5", sender=BOB) == (
        "Recorded: you paid Alice $5.00. house: Carol pays Alice $15.00, Bob pays Alice $10.00."
    )
    assert (
        await say(bot, fake, "\\PAID @ 5", sender=BOB)
        == "No one in house goes by @. \\BALANCE shows the names."
    )


async def test_a_payment_with_its_amount_first_is_recorded(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\PAID 5 alice` (or `\\PAID $2.50 Alice`), the amount first as people say it, answered
    the usage: it is the same payment. Two figures are a name and an amount, as before."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\PAID 5 alice", sender=BOB) == (
        "Recorded: you paid Alice $5.00. house: Carol pays Alice $10.00, Bob pays Alice $5.00."
    )
    assert await say(bot, fake, "\\PAID $2.50 Alice", sender=CAROL) == (
        "Recorded: you paid Alice $2.50. house: Carol pays Alice $7.50, Bob pays Alice $5.00."
    )
    assert (
        await say(bot, fake, "\\PAID 5 5", sender=BOB)
        == "No one in house goes by 5. \\BALANCE shows the names."
    )
    notices = [m["Body"] for m in fake.messages if m["To"] == ALICE and "paid you" in m["Body"]]
    assert notices == [
        "Bob paid you $5.00 in house. \\BALANCE house for all.",
        "Carol paid you $2.50 in house. \\BALANCE house for all.",
    ]


async def test_names_in_quotes_or_with_commas_between_them_are_those_members(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\SPLIT bob, carol` said "No one in house goes by bob,." and `\\PAID "Bob" 5` "No one in
    house goes by "Bob"": the commas of a list and quotes (a phone's curly ones too) are what was
    typed around the names, which have none."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "30.00")
    assert await say(bot, fake, "\\SPLIT bob, carol") == "Split $30.00 in house: Bob $15.00, Carol $15.00."
    assert (
        await say(bot, fake, "\\split \u201cBob\u201d 2, me 1.")
        == "Split $30.00 in house: Bob $20.00, Alice $10.00."
    )
    assert await say(bot, fake, "\\SPLIT bob , carol , me") == (
        "Split $30.00 in house: Bob $10.00, Carol $10.00, Alice $10.00."
    )
    assert await say(bot, fake, "\\SPLIT , ;") == SPLIT_HOW
    # typed alone to learn how: the forms, as a \\SPLIT that names no one gets them
    assert await say(bot, fake, "\\SPLIT") == SPLIT_HOW
    assert (
        await say(bot, fake, '\\PAID "Bob" 5')
        == "Recorded: you paid Bob $5.00. house: Bob pays Alice $15.00, Carol pays Alice $10.00."
    )
    assert (
        await say(bot, fake, "\\PAID Carol, 5.")
        == "Recorded: you paid Carol $5.00. house: Bob pays Alice $15.00, Carol pays Alice $15.00."
    )
    assert await say(bot, fake, "\\PAID , 5") == PAID_HOW
    # a space before % (French typography): it said "No one in house goes by %."
    assert (
        await say(bot, fake, "\\SPLIT bob 60 % me 40 %") == "Split $30.00 in house: Bob $18.00, Alice $12.00."
    )


async def test_a_setting_typed_with_a_full_stop_or_in_quotes_is_that_setting(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\REMIND weekly.` answered its usage, `\\TIMEZONE Europe/Paris.` "is not a time zone" and
    `\\CURRENCY "EUR"` "is not an ISO 4217 currency code": what is typed after or around a word."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, '\\currency "eur".') == "house counts in EUR (\u20ac) now."
    assert await say(bot, fake, "\\TIMEZONE Europe/Paris.") == "house keeps time in Europe/Paris now."
    assert (await say(bot, fake, "\\REMIND Weekly!")).startswith("house: whoever owes gets a reminder weekly")
    assert await say(bot, fake, "\\STATEMENT 2999-01.") == "2999-01 has not begun in house yet."


async def test_split_said_equally_in_words_as_its_usage_writes_it(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """The usage reads `\\SPLIT ann bob (equally)`; typed as it reads, `\\SPLIT bob carol (equally)`
    was answered "No one in house goes by (equally)", and `\\SPLIT me and bob equally` or
    `\\SPLIT between bob and carol` the same of their words. They split equally among the names,
    as the names alone do; a member who goes by such a word is still named by it."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.00")
    assert SPLIT_HOW.startswith("Usage: \\SPLIT ann bob (equally), ")
    for typed, said in (
        ("\\SPLIT bob carol (equally)", "Bob $15.00, Carol $15.00"),
        ("\\SPLIT me and bob equally", "Bob $15.00, Alice $15.00"),
        ("\\SPLIT between bob and carol", "Bob $15.00, Carol $15.00"),
        ("\\SPLIT evenly among me, bob, carol", "Bob $10.00, Carol $10.00, Alice $10.00"),
    ):
        assert await say(bot, fake, typed) == f"Split $30.00 in house: {said}.", typed
    assert await say(bot, fake, "\\NAME Evenly", sender=CAROL) == "Your rooms now see you as Evenly."
    assert await say(bot, fake, "\\SPLIT bob evenly") == "Split $30.00 in house: Bob $15.00, Evenly $15.00."


async def test_split_names_a_member_whose_name_ends_in_a_number(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\NAME Room 2` is a name (letters and digits), and `\\PAID room 2 5` pays them, but
    `\\SPLIT room 2 carol` was answered "No one in house goes by room": its 2 was read as a share."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\NAME Room 2", sender=BOB) == "Your rooms now see you as Room 2."
    await photo(bot, fake, "$30.00")
    for typed, said in (
        ("\\SPLIT room 2 carol", "Room 2 $15.00, Carol $15.00"),
        ("\\SPLIT me 2 room 2 1", "Room 2 $10.00, Alice $20.00"),
        ("\\SPLIT carol 1 room 2 2", "Room 2 $20.00, Carol $10.00"),
        ("\\SPLIT Room 2 20 me 10", "Room 2 $20.00, Alice $10.00"),
    ):
        assert await say(bot, fake, typed) == f"Split $30.00 in house: {said}.", typed
    # beside a member the words before it name already, the number is theirs: a share
    assert (
        await say(bot, fake, "\\SPLIT carol 2 me 1") == "Split $30.00 in house: Carol $20.00, Alice $10.00."
    )


async def test_split_all_or_everyone_goes_back_to_an_equal_split_among_the_members(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """After a split by shares, the way back to an equal one was to name every member: `\\SPLIT
    all` and `\\SPLIT everyone` were "No one in house goes by all". They split among everyone in
    the room; a member who goes by the word is still named by it, and one who left shares no more."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\SPLIT bob 2 me 1") == "Split $30.00 in house: Bob $20.00, Alice $10.00."
    assert await say(bot, fake, "\\SPLIT all") == (
        "Split $30.00 in house: Bob $10.00, Carol $10.00, Alice $10.00."
    )
    assert await say(bot, fake, "\\SPLIT bob me") == "Split $30.00 in house: Bob $15.00, Alice $15.00."
    assert await say(bot, fake, "\\split Everyone equally.") == (
        "Split $30.00 in house: Bob $10.00, Carol $10.00, Alice $10.00."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $10.00, Carol pays Alice $10.00."
    assert (await say(bot, fake, "\\LEAVE", sender=CAROL)).startswith("You left house")
    assert await say(bot, fake, "\\SPLIT everybody") == "Split $30.00 in house: Bob $15.00, Alice $15.00."
    assert await say(bot, fake, "\\NAME All", sender=BOB) == "Your rooms now see you as All."
    assert await say(bot, fake, "\\SPLIT all") == "Split $30.00 in house: All $30.00."


async def test_a_share_that_comes_to_nothing_is_said_and_nothing_changes(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\SPLIT me 999999 bob 1` of a $30.00 receipt was taken: "Split $30.00 in house: Bob $0.00,
    Alice $30.00", Bob named with a share he was meant to pay some of. A share or percentage that
    comes to nothing is said, and the split stays as it was; an equal split of a few cents may
    leave someone nothing, as it must."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$30.00")
    assert await say(bot, fake, "\\SPLIT me 999999 bob 1") == (
        "Bob's part of $30.00 would be $0.00: give a bigger share, or leave out who pays nothing."
        " Nothing changed."
    )
    assert await say(bot, fake, "\\SPLIT bob 99.99% carol 0.01%") == (
        "Carol's part of $30.00 would be $0.00: give a bigger share, or leave out who pays nothing."
        " Nothing changed."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $10.00, Carol pays Alice $10.00."
    assert await say(bot, fake, "\\SPLIT me 2999 bob 1") == "Split $30.00 in house: Bob $0.01, Alice $29.99."
    assert (await say(bot, fake, "\\AMOUNT 0.02")).startswith("Set $0.02 on your receipt in house")
    assert await say(bot, fake, "\\SPLIT all") == "Split $0.02 in house: Bob $0.01, Carol $0.01, Alice $0.00."


async def test_split_before_a_total_says_how_it_will_split_and_a_leaver_cannot_share(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    fake = fake_twilio
    await house(bot, fake)
    assert await photo(bot, fake, "") == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert await say(bot, fake, "\\SPLIT bob 12.50 carol 7.50") == (
        "Set its total first (\\AMOUNT 12.34), then split it by amounts."
    )
    assert await say(bot, fake, "\\SPLIT bob 60% me 40%") == (
        "Your receipt in house splits Bob 60%, Alice 40% once it has a total: \\AMOUNT 12.34."
    )
    assert (await say(bot, fake, "\\AMOUNT 10")).startswith("Set $10.00 on your receipt in house")
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $6.00."
    assert (
        await say(bot, fake, "\\PAID carol 1")
        == "Recorded: you paid Carol $1.00. house: Bob pays Alice $6.00, Carol pays Alice $1.00."
    )
    assert (await say(bot, fake, "\\LEAVE", sender=CAROL)).startswith("You left house")
    assert await say(bot, fake, "\\SPLIT carol") == (
        "Carol is not in house any more, so nothing changed: \\SPLIT only among its members."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $6.00, Carol pays Alice $1.00."


def hold_room_ledger(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """The ledger handlers' first read of a room's ledger waits once read (`read` set) until
    `go_on` is set: a command held after it has read the names, while another is handled."""
    read, go_on = asyncio.Event(), asyncio.Event()
    real_ledger = ledger_handlers.room_ledger

    async def held_ledger(conn: Any, room_id: str, *args: Any, **kwargs: Any) -> RoomLedger:
        book = await real_ledger(conn, room_id, *args, **kwargs)
        if not go_on.is_set():
            read.set()
            await go_on.wait()
        return book

    monkeypatch.setattr(ledger_handlers, "room_ledger", held_ledger)
    return read, go_on


async def test_a_split_among_one_who_leaves_meanwhile_changes_nothing(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`\\SPLIT me bob` from Alice while Bob's `\\LEAVE` is handled: the split read the room's
    members before Bob left and put $15.00 on him after he had left owing $10.00 ("You left
    house; you still owe $10.00 there"), which a split after his leave refuses. It is refused
    the same way now, and Bob owes what he was told."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house: split 3 ways")
    read, go_on = hold_room_ledger(monkeypatch)
    before = len(fake.messages)
    split = await bot.text("\\SPLIT me bob")
    await asyncio.wait_for(read.wait(), 30)  # the members read, Bob among them
    leave = await bot.text("\\LEAVE", sender=BOB)
    assert await bot.handled(leave["MessageSid"]) == "done"

    async def left() -> str | None:
        return next((m["Body"] for m in fake.messages[before:] if m["To"] == BOB), None)

    assert await wait_for(left) == "You left house; you still owe $10.00 there."
    go_on.set()
    assert await bot.handled(split["MessageSid"]) == "done"
    await bot.settled()
    replies = [m["Body"] for m in fake.messages[before:] if m["To"] == ALICE]
    assert replies == ["Bob is not in house any more, so nothing changed: \\SPLIT only among its members."]
    balance = await say(bot, fake, "\\BALANCE")
    assert balance == "house: Carol pays Alice $10.00, Bob pays Alice $10.00.", balance


async def test_a_payment_to_one_who_stops_meanwhile_is_recorded_at_once(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`\\PAID bob 5` from Alice while Bob's `\\STOP` is handled: the payment was written to
    Bob's deleted record, failed with a foreign-key error (a traceback in the log) and was only
    recorded when the message was tried again. It is recorded at once, to Bob as his rooms
    keep him."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house: split 3 ways")
    read, go_on = hold_room_ledger(monkeypatch)
    before = len(fake.messages)
    with capture_logs() as logs:
        paid = await bot.text("\\PAID bob 5")
        await asyncio.wait_for(read.wait(), 30)  # the names read, Bob's record among them
        stop = await bot.text("\\STOP", sender=BOB)
        assert await bot.handled(stop["MessageSid"]) == "done"
        go_on.set()
        assert await bot.handled(paid["MessageSid"]) == "done"
        await bot.settled()
    assert [e for e in logs if e["event"] == "handler.failed"] == []
    replies = [m["Body"] for m in fake.messages[before:] if m["To"] == ALICE]
    assert replies == ["Recorded: you paid Bob $5.00. house: Bob pays Alice $15.00, Carol pays Alice $10.00."]


async def test_a_repeat_counted_anyway_holds_the_currency_as_any_counted_receipt(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """The same photo sent twice with no total, then `\\AMOUNT 30` (which counts the repeat, as
    its reply offered): `\\CURRENCY EUR` went through, and the $30.00 everyone saw counted
    dropped out of the balances as "in another currency"."""
    fake = fake_twilio
    await house(bot, fake)
    picture = images.jpeg_with_gps(640, 480, variant=3)
    assert await say(bot, fake, "", **mms([fake.media.add(picture)])) == (
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    again = await say(bot, fake, "", **mms([fake.media.add(picture)]))
    assert again.startswith("Saved to house; it repeats the receipt saved"), again
    assert (await say(bot, fake, "\\AMOUNT 30")).startswith("Set $30.00 on your receipt in house")
    # the counted repeat took the first photo's place: nothing waits for a total
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $10.00, Carol pays Alice $10.00."
    assert await say(bot, fake, "\\CURRENCY EUR") == (
        "house has amounts in USD already; its currency cannot change now."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $10.00, Carol pays Alice $10.00."


async def test_two_receipts_on_transparent_backgrounds_with_one_total_are_two_receipts(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Dark text on a transparent background (an app's exported receipt) used to be read on the
    black beneath it: every such picture was the same picture, so the second $20.00 receipt of
    the room was taken for a repeat of the first and not counted."""
    fake = fake_twilio
    await house(bot, fake)
    lunch = transparent_png([(10, 10, 110, 20), (10, 40, 60, 50), (10, 70, 90, 80)])
    taxi = transparent_png([(20, 90, 100, 150)])
    first = await say(bot, fake, "20.00", **mms([fake.media.add(lunch, "image/png")]))
    assert first.startswith("Saved $20.00 to house"), first
    second = await say(bot, fake, "20.00", sender=BOB, **mms([fake.media.add(taxi, "image/png")]))
    assert second.startswith("Saved $20.00 to house"), second
    assert await say(bot, fake, "\\BALANCE") == "house: Carol pays Alice $6.67, Carol pays Bob $6.67."


async def saved_day(bot: Bot) -> str:
    """The day the room's first receipt was saved, as a reply names it (UTC). Read off the clock
    before the photo was sent, it was the day before when the test ran across midnight."""
    at = await bot.scalar("SELECT min(created_at) FROM receipts")
    return time.strftime("%b %d", time.gmtime(at)).replace(" 0", " ")


async def test_a_repeat_names_the_day_of_the_earlier_receipt_in_the_rooms_zone(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """In a Tokyo room, a receipt saved at 5 am on November 27th (20:00 UTC on the 26th): its
    repeat said "the receipt saved Nov 26", a day no one in the room lived. The day is the room's,
    as on its statement."""
    at = dt.datetime(2026, 11, 26, 20, 0, tzinfo=dt.UTC).timestamp()
    bot = await bot_factory(clock=lambda: at, twilio=fake_twilio.section())
    await say(bot, fake_twilio, "\\CREATE house pw")
    assert "Asia/Tokyo" in await say(bot, fake_twilio, "\\TIMEZONE Asia/Tokyo")
    photo = images.jpeg_with_gps(640, 480, variant=7)
    assert (await say(bot, fake_twilio, "$30.00", **mms([fake_twilio.media.add(photo)]))).startswith("Saved")
    again = await say(bot, fake_twilio, "", **mms([fake_twilio.media.add(photo)]))
    assert "it repeats the receipt saved Nov 27 ($30.00)" in again, again


async def test_the_same_photo_twice_is_counted_once_and_the_reply_says_how_to_count_it_anyway(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Issue 26, item 3: the same bytes, or the same picture re-encoded smaller, in the same room
    are kept but not counted; the reply names the earlier receipt and the \\AMOUNT that counts it
    anyway. A like picture with another total is another receipt."""
    fake = fake_twilio
    await house(bot, fake)
    original = images.jpeg_with_gps(640, 480, variant=7)
    first = await say(bot, fake, "$30.00", **mms([fake.media.add(original)]))
    assert first.startswith("Saved $30.00 to house")
    day = await saved_day(bot)
    again = await say(bot, fake, "", sender=BOB, **mms([fake.media.add(original)]))
    assert again == (
        f"Saved to house; not counted: it repeats the receipt saved {day} ($30.00). "
        "Reply \\AMOUNT 30.00 to count it anyway."
    )
    smaller = io.BytesIO()
    ImageOps.exif_transpose(Image.open(io.BytesIO(original))).resize((240, 320)).save(
        smaller, "JPEG", quality=60
    )
    resent = await say(bot, fake, "30.00", sender=CAROL, **mms([fake.media.add(smaller.getvalue())]))
    assert resent.startswith("Saved to house; not counted: it repeats the receipt saved"), resent
    # the picture alone is not enough (receipts of one layout look alike): no total, no repeat
    unread = await say(bot, fake, "", sender=CAROL, **mms([fake.media.add(smaller.getvalue())]))
    assert unread == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert await say(bot, fake, "\\AMOUNT 0", sender=CAROL) == (
        "Your receipt is out of the ledger of house: you owe $10.00. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $10.00, Carol pays Alice $10.00."
    # several photos in one message: the repeat is named, the new one counted
    both = await say(
        bot, fake, "", sender=BOB, **mms([fake.media.add(original), fake.media.add(images.jpeg_with_gps())])
    )
    assert "Photo 1 repeats earlier receipts: not counted." in both, both
    assert "No total on photo 2" in both, both
    # the first \\AMOUNT is for the photo the reply asked about; the next counts the repeat anyway
    assert (await say(bot, fake, "\\AMOUNT 12.00", sender=BOB)).startswith(
        "Set $12.00 on your receipt in house"
    )
    assert (await say(bot, fake, "\\AMOUNT 30.00", sender=BOB)).startswith(
        "Set $30.00 on your receipt in house"
    )
    amounts = await bot.rows(
        "SELECT amount_minor FROM receipts ORDER BY created_at DESC, media_index LIMIT 2"
    )
    assert [r[0] for r in amounts] == [3000, 1200]
    rows = await bot.rows("SELECT count(*) FROM receipts WHERE duplicate_of IS NOT NULL")
    assert rows[0][0] == 3
    # the gallery tells apart what is counted, what needs an amount and what is not counted
    page = html.unescape(await (await bot.client.get(path_of(await gallery_link(bot, fake, BOB)))).text())
    notes = re.findall(r'<p class="note">([^<]+)</p>', page)
    assert notes.count("not counted: it repeats another receipt") == 2  # one was counted anyway
    assert notes.count("taken out with \\AMOUNT 0") == 1
    assert await bot.scalar("SELECT count(*) FROM receipts") == 6


async def test_balance_says_how_many_receipts_wait_for_an_amount_and_how_to_count_them(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A receipt whose total could not be read was left out of `\\BALANCE` without a word: the
    room saw its balance as final while Bob's $60.00 was not in it. The balance says how many
    wait for an amount and how to count them; repeats and receipts taken out with `\\AMOUNT 0`
    are not waiting (their replies said so), and the note goes once the amount is set."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house")
    assert (
        await photo(bot, fake, "", sender=BOB)
        == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    assert await say(bot, fake, "\\BALANCE", sender=CAROL) == (
        "house: Bob pays Alice $10.00, Carol pays Alice $10.00. "
        "1 receipt with no total is not counted: its sender can reply \\AMOUNT 12.34."
    )
    # one taken out, one a repeat: neither waits for an amount
    assert (
        await photo(bot, fake, "", sender=CAROL)
        == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    assert (await say(bot, fake, "\\AMOUNT 0", sender=CAROL)).startswith("Your receipt is out of the ledger")
    picture = images.jpeg_with_gps(640, 480, variant=5)
    assert (await say(bot, fake, "$9.00", sender=CAROL, **mms([fake.media.add(picture)]))).startswith(
        "Saved $9.00"
    )
    again = await say(bot, fake, "", **mms([fake.media.add(picture)]))
    assert again.startswith("Saved to house; not counted: it repeats"), again
    assert (await say(bot, fake, "\\BALANCE")).endswith(
        " 1 receipt with no total is not counted: its sender can reply \\AMOUNT 12.34."
    )
    assert await photo(bot, fake, "") == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    # a \\PAID's answer says it too, shorter when the whole answer would not fit one segment
    assert await say(bot, fake, "\\PAID Alice 7", sender=CAROL) == (
        "Recorded: you paid Alice $7.00. house: Bob pays Alice $10.00, Bob pays Carol $3.00. "
        "2 receipts with no total not counted (\\AMOUNT)."
    )
    assert (await say(bot, fake, "\\AMOUNT 60", sender=BOB)).startswith("Set $60.00 on your receipt")
    assert (await say(bot, fake, "\\AMOUNT 0")).startswith("Your receipt is out of the ledger")
    assert await say(bot, fake, "\\BALANCE") == "house: Carol pays Bob $17.00, Alice pays Bob $10.00."


async def test_amount_0_on_a_repeat_says_the_receipt_it_repeats_still_counts(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """The same photo sent twice, then `\\AMOUNT 0` to take it back out: the repeat, its last
    receipt, was never counted, and the reply said "Your receipt is out of the ledger of house"
    while the first copy's $30.00 still counted. It says which receipt still counts."""
    fake = fake_twilio
    await house(bot, fake)
    photo = images.jpeg_with_gps(640, 480, variant=7)
    assert (await say(bot, fake, "$30.00", **mms([fake.media.add(photo)]))).startswith("Saved $30.00")
    day = await saved_day(bot)
    assert "not counted: it repeats" in await say(bot, fake, "", **mms([fake.media.add(photo)]))
    assert await say(bot, fake, "\\AMOUNT 0") == (
        f"Your receipt in house stays out: it repeats the receipt saved {day} ($30.00), "
        "which still counts. You are owed $20.00."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $10.00, Carol pays Alice $10.00."


class PrintedReceipt:
    """An OCR engine that reads the lines it is given, whatever the picture: two different photos
    of one paper receipt."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, image: object) -> tuple[list[list[object]], float]:
        boxes: list[list[object]] = [
            [[[10, 30 * n], [300, 30 * n], [300, 30 * n + 20], [10, 30 * n + 20]], line, 0.99]
            for n, line in enumerate(self.lines)
        ]
        return boxes, 0.0


async def test_every_amount_a_reply_suggests_is_one_amount_takes_in_that_room(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A hint says what to send back: in a CAD room the figure shown as CA$72.88 (and CA$72.88 as
    shown works too); in a yen room 1234, not 12.34 (which yen refuses); for a repeat of a receipt
    in another currency a figure to fill in, never its euros to be counted as dollars."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await say(bot, fake, "\\CURRENCY CAD")).startswith("house counts in CAD")
    canada = images.jpeg_with_gps(640, 480, variant=11)
    assert (await say(bot, fake, "CA$72.88", **mms([fake.media.add(canada)]))).startswith("Saved CA$72.88")
    again = await say(bot, fake, "", sender=BOB, **mms([fake.media.add(canada)]))
    assert again.endswith("(CA$72.88). Reply \\AMOUNT 72.88 to count it anyway."), again
    assert (await say(bot, fake, "\\AMOUNT CA$72.88", sender=BOB)).startswith("Set CA$72.88 on your receipt")
    assert (await say(bot, fake, "\\AMOUNT 72.88 ca$", sender=BOB)).startswith("Set CA$72.88")
    assert (await say(bot, fake, "\\AMOUNT A$5", sender=BOB)).startswith("Set A$5.00")  # not counted

    assert (await say(bot, fake, "\\CREATE tokyo pw", sender=CAROL)).startswith("Created room tokyo")
    assert (await say(bot, fake, "\\CURRENCY JPY", sender=CAROL)).startswith("tokyo counts in JPY")
    unread = await say(bot, fake, "", sender=CAROL, **mms([fake.media.add(images.jpeg_with_gps(variant=12))]))
    assert unread == "Saved to tokyo; no total found. Reply \\AMOUNT 1234 to set it."
    assert (await say(bot, fake, "\\AMOUNT 1234", sender=CAROL)).startswith(
        "Set ¥1,234 on your receipt in tokyo"
    )
    assert await say(bot, fake, "\\AMOUNT 12.34", sender=CAROL) == (
        "Usage: \\AMOUNT 1234 (0 takes the receipt out of the ledger)"
    )

    assert (await say(bot, fake, "\\CREATE trip pw", sender=BOB)).startswith("Created room trip")
    paris = images.jpeg_with_gps(640, 480, variant=13)
    foreign = await say(bot, fake, "€75.07", sender=BOB, **mms([fake.media.add(paris)]))
    assert "not counted: €75.07 in a USD room" in foreign, foreign
    repeat = await say(bot, fake, "", sender=BOB, **mms([fake.media.add(paris)]))
    assert repeat.endswith("(€75.07). Reply \\AMOUNT 12.34 to count it anyway."), repeat


async def test_another_photo_of_the_same_receipt_is_a_repeat(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26, item 3: the same merchant, total, date (and time, when printed) already in the
    room is a repeat though the photos differ; another time or total is another receipt."""
    engine = PrintedReceipt()
    monkeypatch.setattr(reader_module, "new_engine", lambda: engine)
    fake = fake_twilio
    bot = await bot_factory(twilio=fake.section(), media={"ocr": True})
    await house(bot, fake)
    engine.lines = ["FRESH MART", "11/24/2026 14:32", "MILK 3.49", "TOTAL 23.17", "VISA ****1234 23.17"]
    first = await say(bot, fake, "", **mms([fake.media.add(images.jpeg_with_gps())]))
    assert first.startswith("Saved $23.17 to house"), first
    day = await saved_day(bot)
    # Bob's photo of it: another picture (another hash), the same printed receipt
    again = await say(bot, fake, "", sender=BOB, **mms([fake.media.add(images.jpeg_with_gps(480, 640))]))
    assert again == (
        f"Saved to house; not counted: it repeats the receipt saved {day} ($23.17). "
        "Reply \\AMOUNT 23.17 to count it anyway."
    )
    # the same total at the same shop, another time that day: another purchase
    engine.lines[1] = "11/24/2026 16:05"
    later = await say(bot, fake, "", sender=CAROL, **mms([fake.media.add(images.jpeg_with_gps())]))
    assert later.startswith("Saved $23.17 to house"), later
    # the same moment, another total: another receipt
    engine.lines[1], engine.lines[3], engine.lines[4] = "11/24/2026 14:32", "TOTAL 9.99", "VISA 9.99"
    other = await say(bot, fake, "", sender=CAROL, **mms([fake.media.add(images.jpeg_with_gps())]))
    assert other.startswith("Saved $9.99 to house"), other
    identities = await bot.rows("SELECT identity, duplicate_of IS NOT NULL FROM receipts ORDER BY created_at")
    assert [tuple(r) for r in identities] == [
        ("FRESHMART|11-24-2026|14:32", False),
        ("FRESHMART|11-24-2026|14:32", True),
        ("FRESHMART|11-24-2026|16:05", False),
        ("FRESHMART|11-24-2026|14:32", False),
    ]


async def test_a_like_picture_of_another_days_receipt_with_the_same_total_is_counted(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Receipts from one till look alike to the picture hash: today's $7.50 coffee and muffin
    was taken for a repeat of yesterday's, though OCR read another date and time on it, and was
    not counted."""
    engine = PrintedReceipt()
    monkeypatch.setattr(reader_module, "new_engine", lambda: engine)
    fake = fake_twilio
    bot = await bot_factory(twilio=fake.section(), media={"ocr": True})
    await house(bot, fake)
    engine.lines = ["DAILY COFFEE", "11/23/2026 08:05", "LATTE 4.00", "TOTAL 7.50", "VISA ****9911 7.50"]
    picture = images.jpeg_with_gps(640, 480, variant=21)
    first = await say(bot, fake, "", **mms([fake.media.add(picture)]))
    assert first.startswith("Saved $7.50 to house"), first
    smaller = io.BytesIO()
    ImageOps.exif_transpose(Image.open(io.BytesIO(picture))).resize((240, 320)).save(smaller, "JPEG")
    engine.lines[1] = "11/24/2026 08:12"
    today = await say(bot, fake, "", sender=BOB, **mms([fake.media.add(smaller.getvalue())]))
    assert today.startswith("Saved $7.50 to house"), today
    # the same picture with the same date and time read on it is still the repeat it was
    engine.lines[1] = "11/23/2026 08:05"
    again = await say(bot, fake, "", sender=CAROL, **mms([fake.media.add(smaller.getvalue())]))
    assert again.startswith("Saved to house; not counted: it repeats the receipt saved"), again
    # bytes alike are the same photo whatever OCR would read
    engine.lines[1] = "11/25/2026 09:00"
    same = await say(bot, fake, "", sender=CAROL, **mms([fake.media.add(picture)]))
    assert same.startswith("Saved to house; not counted: it repeats the receipt saved"), same


async def test_a_like_picture_with_another_total_is_another_receipt(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    fake = fake_twilio
    await house(bot, fake)
    original = images.jpeg_with_gps(640, 480, variant=8)
    assert (await say(bot, fake, "$30.00", **mms([fake.media.add(original)]))).startswith("Saved $30.00")
    smaller = io.BytesIO()
    ImageOps.exif_transpose(Image.open(io.BytesIO(original))).resize((240, 320)).save(
        smaller, "JPEG", quality=60
    )
    other = await say(bot, fake, "$12.00", **mms([fake.media.add(smaller.getvalue())]))
    assert other.startswith("Saved $12.00 to house"), other


async def test_amount_at_a_rate_counts_a_foreign_receipt(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Issue 26, item 4: `\\AMOUNT 40 EUR @1.08` counts a receipt in another currency at the rate
    the person gives, in the room's minor units (half up)."""
    fake = fake_twilio
    await house(bot, fake)
    kept = await photo(bot, fake, "EUR 40.00")
    assert kept.startswith("Saved to house; not counted: €40.00 in a USD room."), kept
    assert await say(bot, fake, "\\AMOUNT 40 EUR @1.08") == (
        "Set $43.20 (€40.00 at 1.08) on your receipt in house: you are owed $28.80. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $14.40, Carol pays Alice $14.40."
    assert (await say(bot, fake, "\\AMOUNT 40 EUR @abc")).startswith("Usage: \\AMOUNT 12.34")
    assert (await say(bot, fake, "\\AMOUNT 1000 JPY @0.0067")).startswith("Set $6.70 (¥1,000 at 0.0067)")
    # the receipt is in dollars now: a figure at a rate names no money of its own
    assert await say(bot, fake, "\\AMOUNT 40 @1.08") == (
        "Which money is 40 in? Send its code: \\AMOUNT 40 EUR @1.08. house counts in USD: \\AMOUNT 40 is $40.00."
    )
    # one who sent no receipt has no money to be asked about
    assert await say(bot, fake, "\\AMOUNT 40 @1.08", sender=BOB) == no_receipts("house", "AMOUNT")
    assert (
        await say(bot, fake, "\\AMOUNT $40 @1.08")
        == "house counts in USD already: \\AMOUNT $40 needs no rate."
    )
    assert await say(bot, fake, "\\AMOUNT 40 EUR @0") == (
        "Usage: \\AMOUNT 40 EUR @1.08 counts 40 EUR at 1.08 of the room's currency each."
    )
    # a conversion is held to what a typed amount is: not 0 (the receipt silently out), no billions
    assert await say(bot, fake, "\\AMOUNT 0.01 EUR @0.1") == (
        "€0.01 @0.1 is $0.00: an amount is more than 0 and at most $1,000,000.00."
    )
    assert (await say(bot, fake, "\\AMOUNT 999999 EUR @999999")).endswith("at most $1,000,000.00.")
    rows = await bot.rows("SELECT amount_minor, currency FROM receipts")
    assert [tuple(r) for r in rows] == [(670, "USD")]


async def test_a_figure_at_a_rate_is_in_the_money_its_receipt_was_read_in(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A ramen receipt read as ¥4136 in a dollar room, then `\\AMOUNT 4136 @0.0067` (the code left
    out, the rate given): the reply said `house counts in USD already: \\AMOUNT 4136 needs no
    rate.`, and sending that counted $4136.00. The figure is in the receipt's own money; where
    no receipt says which (it was converted already: a rate corrected later), the reply asks."""
    fake = fake_twilio
    await house(bot, fake)
    kept = await photo(bot, fake, "ramen ¥4136")
    assert kept.startswith("Saved to house; not counted: ¥4,136 in a USD room."), kept
    assert (await say(bot, fake, "\\AMOUNT 4136 @0.0067")).startswith("Set $27.71 (¥4,136 at 0.0067)")
    # a yen figure has no decimals
    assert (await say(bot, fake, "\\AMOUNT 4136.5 JPY @0.0068")).startswith("Usage: \\AMOUNT 40 EUR @1.08")
    assert await say(bot, fake, "\\AMOUNT 4136 @0.0068") == (
        "Which money is 4136 in? Send its code: \\AMOUNT 4136 EUR @0.0068. house counts in USD: "
        "\\AMOUNT 4136 is $4,136.00."
    )
    assert (await say(bot, fake, "\\AMOUNT 4136 JPY @0.0068")).startswith(
        "Set $28.12 (¥4,136 at 0.0068) on your receipt in house (was $27.71)"
    )
    rows = await bot.rows("SELECT amount_minor, currency FROM receipts")
    assert [tuple(r) for r in rows] == [(2812, "USD")]


async def test_what_a_rate_converted_is_kept_and_shown_where_the_amount_is(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\AMOUNT 678 JPY @0.006667` answered `Set $4.52 (¥678 at 0.006667) ...`, then the gallery,
    the statement page and its CSV said only $4.52: a flatmate looking at a ramen receipt for
    "$4.52" could not tell where it came from or check the rate. They say it as the reply did, the
    CSV in three columns after its documented ten; an amount set without a rate clears it."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "ramen ¥678")).startswith(
        "Saved to house; not counted: ¥678 in a USD room."
    )
    assert (await say(bot, fake, "\\AMOUNT 678 JPY @0.006667")).startswith("Set $4.52 (¥678 at 0.006667)")

    async def pages() -> tuple[str, str, list[dict[str, str]]]:
        gallery = shown(await (await bot.client.get(path_of(await gallery_link(bot, fake, BOB)))).text())
        link = await statement_link(bot, fake, BOB)
        statement = await (await bot.client.get(path_of(link))).text()
        href = re.search(r'href="(\d{4}-\d{2}\.csv\?[^"]+)"', statement)
        assert href
        csv_url = URL(link).join(URL(html.unescape(href.group(1))))
        text = (await (await bot.client.get(str(csv_url.relative()))).read()).decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        return gallery, shown(statement), [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]

    gallery, statement, rows = await pages()
    assert '<strong class="amount">$4.52 (¥678 at 0.006667)</strong>' in gallery, gallery
    assert '<strong class="amount">$4.52 (¥678 at 0.006667)</strong>' in statement, statement
    [row] = rows
    assert list(row)[:10] == ["date", "type", "paid_by", "paid_to", "amount", "currency", "status",
                              "split", "caption", "receipt_id"]  # fmt: skip
    assert (row["amount"], row["currency"], row["status"]) == ("4.52", "USD", "counted")
    assert (row["original_amount"], row["original_currency"], row["rate"]) == ("678", "JPY", "0.006667")

    # corrected without a rate: $5.00 is no longer ¥678 at anything
    assert (await say(bot, fake, "\\AMOUNT 5")).startswith("Set $5.00 on your receipt in house (was $4.52)")
    gallery, statement, [row] = await pages()
    assert '<strong class="amount">$5.00</strong>' in gallery
    assert "(¥678 at" not in gallery
    assert "(¥678 at" not in statement
    assert (row["amount"], row["original_amount"], row["original_currency"], row["rate"]) == (
        "5.00",
        "",
        "",
        "",
    )
    # and taken out
    assert (await say(bot, fake, "\\AMOUNT 678 JPY @0.006667")).startswith("Set $4.52 (¥678 at 0.006667)")
    assert (await say(bot, fake, "\\AMOUNT 0")).startswith("Your receipt is out of the ledger of house")
    rows_left = await bot.rows(
        "SELECT amount_minor, original_minor, original_currency, original_rate FROM receipts"
    )
    assert [tuple(r) for r in rows_left] == [(0, None, None, None)]


async def test_amount_at_a_rate_with_no_leading_zero(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\AMOUNT 40 USD @.92`, the rate as it is often written, got `Usage: \\AMOUNT 12.34`, a
    usage that names no rate at all: it counts the receipt at 0.92, as `@0.92` does."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await say(bot, fake, "\\CURRENCY EUR")).startswith("house counts in EUR")
    kept = await photo(bot, fake, "USD 40.00")
    assert kept.startswith("Saved to house; not counted: $40.00 in a EUR room."), kept
    assert (await say(bot, fake, "\\AMOUNT 40 USD @.92")).startswith("Set €36.80 ($40.00 at 0.92)")
    assert (await say(bot, fake, "\\AMOUNT 40 USD @,5")).startswith("Set €20.00 ($40.00 at 0.5)")
    rows = await bot.rows("SELECT amount_minor, currency FROM receipts")
    assert [tuple(r) for r in rows] == [(2000, "EUR")]


async def test_a_rate_typed_with_at_as_the_replies_write_it(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """The replies, the gallery and the statement say a rate with `at`: `Set $43.20 (\u20ac40.00 at
    1.08)`. `\\AMOUNT 40 EUR at 1.08`, typed the same way, got `Usage: \\AMOUNT 12.34 (0 takes the
    receipt out of the ledger)`, which names no rate, and `\\PAID Bob 50 EUR at 1.47` the `\\PAID`
    usage. They are read as `@1.08` is."""
    fake = fake_twilio
    await house(bot, fake)
    kept = await photo(bot, fake, "EUR 40.00")
    assert kept.startswith("Saved to house; not counted: \u20ac40.00 in a USD room."), kept
    for typed in ("\\AMOUNT 40 EUR at 1.08", "\\amount \u20ac40 AT 1.08", "\\AMOUNT 40.00 eur at 1,08"):
        assert (await say(bot, fake, typed)).startswith("Set $43.20 (\u20ac40.00 at 1.08) on your receipt"), (
            typed
        )
    assert await say(bot, fake, "\\PAID Bob 50 EUR at 1.47") == (
        "Nothing recorded: payments are in USD. \u20ac50.00 at 1.47 is $73.50: \\PAID Bob 73.50"
    )
    assert await bot.scalar("SELECT count(*) FROM payments") == 0
    rows = await bot.rows("SELECT amount_minor, currency, original_rate FROM receipts")
    assert [tuple(r) for r in rows] == [(4320, "USD", "1.08")]


async def test_a_photo_sent_with_a_command_is_saved_and_the_command_is_not_run(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A photo whose text is a command used to go to the command alone: the photo was dropped
    and `\\AMOUNT 7` set the amount of the receipt before it. The photos are the message; a
    command beside them is not run (unless it is a priority one) and not kept as the caption."""
    fake = fake_twilio
    await house(bot, fake)
    assert (
        await photo(bot, fake, "pizza 10.01")
        == "Saved $10.01 to house: split 3 ways, you are owed $6.68. \\BALANCE for all."
    )
    # `\AMOUNT 7` with one photo is that photo's amount
    assert (
        await photo(bot, fake, "\\AMOUNT 7")
        == "Saved $7.00 to house: split 3 ways, you are owed $11.35. \\BALANCE for all."
    )
    rows = await bot.rows("SELECT caption, amount_minor FROM receipts ORDER BY created_at, id")
    assert [(r.caption, r.amount_minor) for r in rows] == [("pizza 10.01", 1001), ("7", 700)]
    # any other command: the photo is saved without it as a caption, and the reply says it did not run
    urls = [fake.media.add(images.jpeg_with_gps())]
    assert await answers(bot, fake, "JOIN other hunter22", **mms(urls)) == [
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it.",
        "\\JOIN was not run: send it on its own, not with a photo.",
    ]
    urls = [fake.media.add(images.jpeg_with_gps())]
    assert await answers(bot, fake, "\\BALANCE", sender=BOB, **mms(urls)) == [
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it.",
        "\\BALANCE was not run: send it on its own, not with a photo.",
    ]
    assert await bot.scalar("SELECT count(*) FROM receipts") == 4
    assert await bot.scalar("SELECT count(*) FROM receipts WHERE caption LIKE '%JOIN%'") == 0
    # the password is masked in the inbox as the command's own route masks it
    bodies = [r.body for r in await bot.rows("SELECT body FROM inbox ORDER BY id")]
    assert "JOIN other ***" in bodies
    assert not any("hunter22" in b for b in bodies)
    assert await bot.scalar("SELECT count(*) FROM rooms") == 1  # \JOIN did not run
    # a priority command still runs: the person is leaving
    urls = [fake.media.add(images.jpeg_with_gps())]
    (goodbye,) = await answers(bot, fake, "\\STOP", sender=CAROL, **mms(urls))
    assert goodbye.startswith("Goodbye from textwire")
    assert await bot.scalar("SELECT count(*) FROM receipts") == 4


async def test_an_amount_in_the_caption_of_several_photos_is_said_not_to_be_used(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`$45` as the caption of two photos: not counted (whose total is it?), and nothing said, so
    the person who typed it thought it was. The reply says it was not used; the photos are
    saved as without a caption's amount, and one photo's caption still counts."""
    fake = fake_twilio
    await house(bot, fake)
    urls = [fake.media.add(images.jpeg_with_gps()), fake.media.add(images.jpeg_with_gps())]
    assert await answers(bot, fake, "dinner $45", **mms(urls)) == [
        "Saved 2 receipts to house. No total on photos 1, 2: reply \\AMOUNT 12.34 for each, in order.",
        "Your caption's $45.00 was not used: with 2 photos it cannot say whose total it is.",
    ]
    rows = await bot.rows("SELECT caption, amount_minor FROM receipts ORDER BY media_index")
    assert [(r.caption, r.amount_minor) for r in rows] == [("dinner $45", None), ("dinner $45", None)]
    # no amount in it, or one photo: as before
    urls = [fake.media.add(images.jpeg_with_gps()), fake.media.add(images.jpeg_with_gps())]
    assert await answers(bot, fake, "dinner", **mms(urls)) == [
        "Saved 2 receipts to house. No total on photos 1, 2: reply \\AMOUNT 12.34 for each, in order."
    ]
    assert (
        await photo(bot, fake, "dinner $45")
        == "Saved $45.00 to house: split 3 ways, you are owed $30.00. \\BALANCE for all."
    )


async def test_cents_typed_from_the_decimal_mark_are_an_amount(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\PAID Bob .50`, `\\AMOUNT $.75`: fifty cents as many write them, and the usage came back."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$3.00")).startswith("Saved $3.00 to house: split 3 ways")
    assert (await say(bot, fake, "\\PAID Alice .50", sender=BOB)).startswith(
        "Recorded: you paid Alice $0.50."
    )
    assert (await say(bot, fake, "\\AMOUNT $.75")).startswith("Set $0.75 on your receipt in house")
    rows = await bot.rows("SELECT amount_minor FROM payments")
    assert [r.amount_minor for r in rows] == [50]


async def test_an_amount_typed_in_another_currency_says_how_to_count_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\AMOUNT 12\u20ac`, `12 EUR` or `\u20ac12` in a dollar room was answered "Set \u20ac12.00 on your
    receipt in house; not counted: \u20ac12.00 in a USD room." and nothing on how to count it, which
    a photo read in euros is told. It says so: at its rate, the rate's way round said (a figure
    in dollars was all that was offered, the conversion left to them)."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "")
    said = (
        "Set \u20ac12.00 on your receipt in house; not counted: \u20ac12.00 in a USD room. "
        "Reply \\AMOUNT 12.00 EUR @rate (USD for 1 EUR) to count it."
    )
    for typed in ("\\AMOUNT 12\u20ac", "\\amount 12 eur", "\\AMOUNT \u20ac12", "\\Amount 12,00 Eur"):
        assert await say(bot, fake, typed) == said
    assert (await say(bot, fake, "\\AMOUNT 12.00 EUR @1.10")).startswith("Set $13.20 (\u20ac12.00 at 1.10)")


async def test_the_question_of_an_amount_that_reads_two_ways_offers_commands(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\AMOUNT 12.345` was answered "send 12345.00 for $12,345.00, or 12.35 for $12.35": the
    person sent `12.35` as told, a bare figure, which is a post to X (here: "Posting to X is not
    set up"), and the receipt kept its amount; `\\PAID Bob 1.250`'s "send 1.25" the same, the
    payment unrecorded. Each reading is offered as the command to send, the payee as the room
    shows them and a rate typed kept, and a bare figure after the question is not posted."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "12.50")
    assert await say(bot, fake, "\\AMOUNT 12.345") == (
        "12.345 is unclear: reply \\AMOUNT 12345.00 for $12,345.00, or \\AMOUNT 12.35 for $12.35."
    )
    assert (
        await say(bot, fake, "12.35") == "Nothing posted. To set your receipt's amount, send \\AMOUNT 12.35"
    )
    assert (await say(bot, fake, "\\AMOUNT 12.35")).startswith("Set $12.35 on your receipt in house")
    # at a rate, the figures in the money typed, with the rate
    assert await say(bot, fake, "\\AMOUNT 12.345 EUR @1.08") == (
        "12.345 is unclear: reply \\AMOUNT \u20ac12,345.00 @1.08 or \\AMOUNT \u20ac12.35 @1.08."
    )
    assert (await say(bot, fake, "\\AMOUNT \u20ac12.35 @1.08")).startswith(
        "Set $13.34 (\u20ac12.35 at 1.08) on your receipt in house"
    )
    # the payee as \\BALANCE shows them, whatever case was typed
    asked = "1.250 is unclear: reply \\PAID Bob 1250.00 for $1,250.00, or \\PAID Bob 1.25 for $1.25."
    assert await say(bot, fake, "\\PAID bob 1.250", sender=CAROL) == asked
    assert await say(bot, fake, "\\PAID 1.250 BOB", sender=CAROL) == asked
    assert await bot.scalar("SELECT count(*) FROM payments") == 0
    assert (await say(bot, fake, "\\PAID Bob 1.25", sender=CAROL)).startswith("Recorded: you paid Bob $1.25.")


async def test_an_amount_that_reads_two_ways_is_asked_about_not_recorded(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`12.345` was read as 12,345 (a thousands separator): a $12,345.00 payment, texted to the
    payee. A dot before exactly three digits is asked about in `\\PAID`, `\\AMOUNT` and an
    `\\AMOUNT` sent with a photo."""
    fake = fake_twilio
    await house(bot, fake)
    asked = "12.345 is unclear: reply \\PAID Bob 12345.00 for $12,345.00, or \\PAID Bob 12.35 for $12.35."
    assert await say(bot, fake, "\\PAID Bob 12.345", sender=CAROL) == asked
    assert await bot.scalar("SELECT count(*) FROM payments") == 0
    assert (
        await photo(bot, fake, "12.50")
        == "Saved $12.50 to house: split 3 ways, you are owed $8.34. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\AMOUNT 12.345") == (
        "12.345 is unclear: reply \\AMOUNT 12345.00 for $12,345.00, or \\AMOUNT 12.35 for $12.35."
    )
    assert await bot.scalar("SELECT amount_minor FROM receipts") == 1250
    urls = [fake.media.add(images.jpeg_with_gps())]
    # beside a photo a bare figure would be a post: the answer says \\AMOUNT
    assert await answers(bot, fake, "\\AMOUNT 1.200", **mms(urls)) == [
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it.",
        "1.200 is unclear: reply \\AMOUNT 1200.00 for $1,200.00, or \\AMOUNT 1.20 for $1.20.",
    ]
    # so is a caption's: `dinner $1.200` was saved as $1200.00, split and owed without a word
    for caption in ("1.200", "dinner $1.200"):
        urls = [fake.media.add(images.jpeg_with_gps())]
        assert await answers(bot, fake, caption, **mms(urls)) == [
            "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it.",
            "1.200 is unclear: reply \\AMOUNT 1200.00 for $1,200.00, or \\AMOUNT 1.20 for $1.20.",
        ]
    assert await bot.scalar("SELECT count(*) FROM receipts WHERE amount_minor IS NOT NULL") == 1
    # in another currency the figures keep it: `\\AMOUNT 1.20` as it said was $1.20, counted
    urls = [fake.media.add(images.jpeg_with_gps())]
    assert await answers(bot, fake, "taxi €1.200", **mms(urls)) == [
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it.",
        "1.200 is unclear: reply \\AMOUNT €1,200.00 or \\AMOUNT €1.20.",
    ]
    assert await say(bot, fake, "\\AMOUNT €1.20") == (
        "Set €1.20 on your receipt in house; not counted: €1.20 in a USD room. Reply \\AMOUNT 1.20 EUR"
        " @rate (USD for 1 EUR) to count it."
    )
    assert (
        await say(bot, fake, "\\AMOUNT 1.20")
        == "Set $1.20 on your receipt in house: you are owed $9.14. \\BALANCE for all."
    )
    # a comma before three digits stays a thousands separator
    assert (
        await say(bot, fake, "\\PAID Bob 1,200", sender=CAROL)
        == "Recorded: you paid Bob $1,200.00. house: Bob pays Carol $1,195.43, Bob pays Alice $9.14. "
        "3 receipts with no total are not counted: \\RECEIPTS shows them."  # older than Alice's last
    )


async def test_a_name_typed_outside_gsm_7_is_not_said_back_over_sms(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A curly quote (a phone's smart punctuation), an emoji or another script said back in a
    reply made the SMS UCS-2: two segments where SPEC says one."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "12.00")  # something to \\SPLIT
    assert (
        await say(bot, fake, "\\PAID Zo\u00eb\u2019s 5")
        == "No one in house goes by that name. \\BALANCE shows the names."
    )
    assert (
        await say(bot, fake, "\\SPLIT \u201cz\u00f4e\u201d")
        == "No one in house goes by that name. \\BALANCE shows the names."
    )
    assert (
        await say(bot, fake, "\\USE \u201ch\u00f4me\u2019s\u201d")
        == "You are not in a room of that name. \\ROOMS lists yours."
    )
    # a room name typed with accents is said back without them, in one plain segment
    assert (
        await say(bot, fake, "\\USE \u201ch\u00f4me\u201d")
        == "You are not in a room named home. \\ROOMS lists yours."
    )
    assert await say(bot, fake, "\\RECEIPTS \u043a\u043e\u043c\u043d\u0430\u0442\u0430") == (
        "You are not in a room of that name. \\ROOMS lists yours."
    )
    assert (await say(bot, fake, "\\HELP \U0001f600\U0001f600")).startswith(
        "No help on that. Try \\HELP with one of:"
    )
    assert (await say(bot, fake, "\\TIMEZONE \U0001f600")).startswith("That is not a time zone:")
    # files of the system's zone folder that are no zone: `localtime` is the server's own
    for word in ("localtime", "Factory"):
        assert (await say(bot, fake, f"\\TIMEZONE {word}")).startswith(f"{word} is not a time zone:")
    # plain names are still said back
    assert await say(bot, fake, "\\PAID Dave 5") == "No one in house goes by Dave. \\BALANCE shows the names."


async def test_an_amount_in_another_currency_goes_to_the_receipt_in_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Of a message of two photos, one read as €26.96 (not counted in a USD room) and one a repeat
    without an amount, `\\AMOUNT 26.96 EUR @1.10` set the repeat (the first without an amount),
    which was then counted, and the euro receipt stayed out."""
    fake = fake_twilio
    await house(bot, fake)
    urls = [fake.media.add(images.jpeg_with_gps()) for _ in range(2)]
    await answers(bot, fake, "", **mms(urls))
    first, second = [r.id for r in await bot.rows("SELECT id FROM receipts ORDER BY media_index")]
    # as the photos were read: the first in euros, the second a repeat of it
    await bot.rows(
        "UPDATE receipts SET amount_minor = 2696, currency = 'EUR' WHERE id = :r RETURNING id", r=first
    )
    await bot.rows("UPDATE receipts SET duplicate_of = :d WHERE id = :r RETURNING id", d=first, r=second)
    assert (await say(bot, fake, "\\AMOUNT 26.96 EUR @1.10")).startswith(
        "Set $29.66 (€26.96 at 1.10) on your receipt in house"
    )
    rows = await bot.rows("SELECT amount_minor, currency FROM receipts ORDER BY media_index")
    assert [(r.amount_minor, r.currency) for r in rows] == [(2966, "USD"), (None, None)]


async def test_split_figures_and_paying_me_get_answers_that_say_what_is_wrong(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\SPLIT bob 33.333% carol 66.667%` said "No one in house goes by 33.333%", and `\\PAID me
    5` "No one in house goes by me"."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "12.00")
    for split in ("\\SPLIT bob 33.333% carol 66.667%", "\\SPLIT bob 0.00 carol 12.00"):
        figure = split.split()[2]
        assert await say(bot, fake, split) == f"{figure} is no share, % or amount above 0. {SPLIT_HOW}"
    # digits of another script: not said back (the SMS was three UCS-2 segments)
    assert (
        await say(bot, fake, "\\SPLIT bob \u0663\u0663.\u0663\u0663\u0663% carol 66.667%")
        == f"That is no share, % or amount above 0. {SPLIT_HOW}"
    )
    assert await say(bot, fake, "\\PAID me 5") == "You cannot pay yourself."
    assert await bot.scalar("SELECT count(*) FROM payments") == 0


async def test_paid_in_another_currency_with_its_code_apart_says_which_the_room_counts_in(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID Bob €5` was told the room counts in USD, but `\\PAID Bob 5 EUR` (the code typed
    apart, as people write it) or `\\PAID Bob EUR 5` got the usage, as if the amount were missing.
    Nothing is recorded."""
    fake = fake_twilio
    await house(bot, fake)
    said = "house counts in USD: send the amount in USD."
    assert await say(bot, fake, "\\PAID Bob \u20ac5") == said
    assert await say(bot, fake, "\\PAID Bob 5 EUR") == said
    assert await say(bot, fake, "\\paid bob 12,50 eur") == said
    assert await say(bot, fake, "\\PAID Bob EUR 5") == said
    assert await say(bot, fake, "\\PAID 5 EUR Bob") == said
    assert await bot.scalar("SELECT count(*) FROM payments") == 0
    # the room's own code apart is that amount
    assert (await say(bot, fake, "\\PAID Bob 5 usd")).startswith("Recorded: you paid Bob $5.00.")


async def test_paid_in_another_currency_at_a_rate_says_what_it_comes_to_and_records_nothing(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID Bob 50 EUR @1,47`, a rate typed as `\\AMOUNT` takes one (decimal comma and all),
    got "Usage: \\PAID <name> <amount>", which said nothing of the rate. It says what the payment
    comes to in the room's money and the `\\PAID` to send; nothing is recorded until it is sent."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\PAID Bob 50 EUR @1,47") == (
        "Nothing recorded: payments are in USD. \u20ac50.00 at 1.47 is $73.50: \\PAID Bob 73.50"
    )
    assert await say(bot, fake, "\\PAID Bob \u00a55000 @0.0067") == (
        "Nothing recorded: payments are in USD. \u00a55,000 at 0.0067 is $33.50: \\PAID Bob 33.50"
    )
    # yen to the dollar, as exchange boards quote it: the rate the right way round
    assert await say(bot, fake, "\\PAID Bob 5000 JPY @150") == (
        "Nothing recorded: payments are in USD. The rate is USD for 1 JPY (1/150): "
        "\u00a55,000 at 0.006667 is $33.34: \\PAID Bob 33.34"
    )
    assert await bot.scalar("SELECT count(*) FROM payments") == 0
    assert (await say(bot, fake, "\\PAID Bob 73.50")).startswith("Recorded: you paid Bob $73.50.")


async def test_split_in_the_currency_a_receipt_came_in_says_which_it_counts_in(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A receipt of €40.00 counted at $43.20 (`\\AMOUNT 40 EUR @1.08`), then `\\SPLIT bob €20 me
    €20`: "€20 is no share, % or amount above 0", and with the code apart "No one in house goes
    by EUR". It says the receipt counts in USD and what to give; the split is unchanged."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "40.00 EUR")
    assert (await say(bot, fake, "\\AMOUNT 40 EUR @1.08")).startswith("Set $43.20 (€40.00 at 1.08)")
    said = (
        "€20.00 is in EUR, and your receipt counts in USD: give USD amounts, shares (ann 2 bob 1)"
        " or percentages."
    )
    assert await say(bot, fake, "\\SPLIT bob €20 me €20") == said
    assert await say(bot, fake, "\\SPLIT bob 20 EUR me 20 EUR") == said
    # a member's name that is a currency's code (BOB: Bolivia's) is still the member
    assert (
        await say(bot, fake, "\\SPLIT bob 20.00 me 23.20")
        == "Split $43.20 in house: Bob $20.00, Alice $23.20."
    )
    assert (
        await say(bot, fake, "\\SPLIT bob zed") == "No one in house goes by zed. \\BALANCE shows the names."
    )


async def test_a_member_who_left_with_only_uncounted_receipts_keeps_their_name_in_the_gallery(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Off the books (nothing counted), a member who left was shown by their masked number in the
    gallery and the statement, though the room knew them as Bob (SPEC: a member who left keeps the
    name they had)."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "", sender=BOB)).startswith("Saved to house; no total found")
    assert (await say(bot, fake, "\\LEAVE", sender=BOB)).startswith("You left house")
    page = await (await bot.client.get(path_of(await gallery_link(bot, fake, ALICE)))).text()
    assert '<span class="who">Bob</span>' in page
    assert "2222" not in shown(page)


async def test_a_member_who_left_owing_sees_it_and_records_paying_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\LEAVE` says "you still owe $50.00 there"; then `\\BALANCE` and `\\PAID` answered "You are
    not in a room", and no one could record that debt paid. A room left with money open counts
    for those two, showing the leaver only their own part of it."""
    fake = fake_twilio
    await house(bot, fake)
    await carol_left_house_owing_alice_50(bot, fake)
    assert await say(bot, fake, "\\BALANCE", sender=CAROL) == "house (you left): you pay Alice $50.00."
    assert await say(bot, fake, "\\BALANCE house", sender=CAROL) == "house (you left): you pay Alice $50.00."
    assert (
        await say(bot, fake, "\\PAID Bob 5", sender=CAROL)
        == "Recorded: you paid Bob $5.00. house (you left): you pay Alice $45.00."
    )
    before = len(fake.messages)
    assert (
        await say(bot, fake, "\\PAID Alice 45", sender=CAROL)
        == "Recorded: you paid Alice $45.00. house (you left): all settled."
    )
    notices = [m["Body"] for m in (await fake.wait_for_messages(before + 2))[before:] if m["To"] == ALICE]
    assert notices == ["Carol paid you $45.00 in house. \\BALANCE house for all."]
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $5.00."
    assert (
        await say(bot, fake, "\\PAID Alice 5", sender=BOB)
        == "Recorded: you paid Alice $5.00. house: all settled."
    )
    # settled: the room is theirs no more (and they are in none); named, it is said they left it
    # (it was "You are not in a room", as of a room they were never in)
    assert await say(bot, fake, "\\BALANCE", sender=CAROL) == NOT_IN_ROOM
    assert await say(bot, fake, "\\BALANCE house", sender=CAROL) == "You left house and are settled up there."
    assert await say(bot, fake, "\\PAID Alice 1", sender=CAROL) == NOT_IN_ROOM
    assert (
        await say(bot, fake, "\\RECEIPTS House", sender=CAROL)
        == "You left house. To be in it again, send \\JOIN house <password>."
    )
    assert await say(bot, fake, "\\BALANCE attic", sender=CAROL) == NOT_IN_ROOM  # never in it


async def test_a_member_who_left_owing_cannot_take_a_name_someone_there_goes_by(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Carol left house owing Alice, then sent `\\NAME Alice` and was told "Your rooms now see you
    as Alice": house's \\BALANCE read "Alice (...) pays Alice (...)" and `\\PAID Carol` found no
    one. A room left with money open is still one of the rooms that see the name."""
    fake = fake_twilio
    await house(bot, fake)
    await carol_left_house_owing_alice_50(bot, fake)
    assert (
        await say(bot, fake, "\\NAME alice", sender=CAROL)
        == "Someone in house goes by alice already. Pick another name."
    )
    assert (
        await say(bot, fake, "\\NAME Bob", sender=CAROL)
        == "Someone in house goes by Bob already. Pick another name."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Carol pays Alice $50.00."
    # settled, house's payments still show her by her name: the names there stay taken for her
    assert (await say(bot, fake, "\\PAID Alice 50", sender=CAROL)).startswith("Recorded: you paid Alice")
    assert (
        await say(bot, fake, "\\NAME Bob", sender=CAROL)
        == "Someone in house goes by Bob already. Pick another name."
    )
    assert await say(bot, fake, "\\NAME Cara", sender=CAROL) == "Your rooms now see you as Cara."
    # nor can a member of house take the name she goes by there
    assert (
        await say(bot, fake, "\\NAME cara", sender=BOB)
        == "Someone in house goes by cara already. Pick another name."
    )


async def test_a_member_who_left_two_rooms_owing_is_told_which(bot: Bot, fake_twilio: FakeTwilio) -> None:
    fake = fake_twilio
    await house_and_trip(bot, fake)
    assert (
        await say(bot, fake, "\\PAID Carol 7")
        == "Recorded: you paid Carol $7.00. trip: Carol pays Alice $7.00."
    )
    assert await say(bot, fake, "\\USE house") == "Photos you send now go to house."
    assert (
        await say(bot, fake, "\\PAID Carol 3")
        == "Recorded: you paid Carol $3.00. house: Carol pays Alice $3.00."
    )
    assert (await say(bot, fake, "\\LEAVE house", sender=CAROL)).startswith(
        "You left house; you still owe $3.00"
    )
    assert (await say(bot, fake, "\\LEAVE trip", sender=CAROL)).startswith(
        "You left trip; you still owe $7.00"
    )
    told = await say(bot, fake, "\\PAID Alice 3", sender=CAROL)
    assert told == (
        "You are not in a room. You left trip, house with money open there: \\BALANCE <room> shows "
        "where you stand in one; to record a payment there, \\JOIN it again."
    )
    assert await say(bot, fake, "\\BALANCE trip", sender=CAROL) == "trip (you left): you pay Alice $7.00."


async def test_the_balance_of_a_room_one_left_owing_says_where_paid_goes_while_in_another(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Carol left trip owing Alice $5.00 and is still in house, her active room. `\\BALANCE trip`
    said "trip (you left): you pay Alice $5.00.", and the `\\PAID Alice 5` that followed was
    recorded in house, where nobody owed it, while trip kept the debt. It says where her `\\PAID`
    goes and how to record paying in trip."""
    fake = fake_twilio
    await house_and_trip(bot, fake)
    assert (await say(bot, fake, "\\PAID Carol 7")).startswith("Recorded: you paid Carol $7.00.")
    assert (await say(bot, fake, "\\PAID Alice 2", sender=CAROL)).startswith(
        "Recorded: you paid Alice $2.00."
    )
    assert (await say(bot, fake, "\\LEAVE trip", sender=CAROL)).startswith(
        "You left trip; you still owe $5.00"
    )
    told = await say(bot, fake, "\\BALANCE trip", sender=CAROL)
    assert told == (
        "trip (you left): you pay Alice $5.00. Your \\PAID goes to house: \\JOIN trip <password> "
        "again to record paying there."
    )
    assert fits_one_segment(told)


async def test_a_payment_in_the_currency_of_a_room_one_left_says_how_to_record_it_there(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Carol left trip (euros) owing, still in house (dollars), her active room. `\\PAID Alice
    7 EUR` was answered "house counts in USD: send the amount in USD", and following it recorded
    the euros she owed in trip as dollars paid in house. It says how to record it in trip."""
    fake = fake_twilio
    await house_and_trip(bot, fake, "EUR")
    assert (await say(bot, fake, "\\PAID Carol 7")).startswith("Recorded: you paid Carol €7.00.")
    assert (await say(bot, fake, "\\LEAVE trip", sender=CAROL)).startswith(
        "You left trip; you still owe €7.00"
    )
    hint = "house counts in USD. To record paying in trip, which you left, \\JOIN trip <password> again."
    assert await say(bot, fake, "\\PAID Alice 7 EUR", sender=CAROL) == hint
    assert await say(bot, fake, "\\PAID Alice €7", sender=CAROL) == hint
    # another currency than either room's, or once trip is settled: the room's currency, as before
    assert await say(bot, fake, "\\PAID Alice £7", sender=CAROL) == (
        "house counts in USD: send the amount in USD."
    )
    assert (await say(bot, fake, "\\JOIN trip pw", sender=CAROL)).startswith("Joined trip")
    assert (await say(bot, fake, "\\PAID Alice 7", sender=CAROL)).startswith(
        "Recorded: you paid Alice €7.00."
    )
    assert (await say(bot, fake, "\\LEAVE trip", sender=CAROL)).startswith("You left trip.")
    assert await say(bot, fake, "\\PAID Alice 7 EUR", sender=CAROL) == (
        "house counts in USD: send the amount in USD."
    )


async def test_a_repeat_with_an_amount_in_its_caption_offers_that_amount(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A photo read as no receipt, then the same photo captioned `lunch 12.50`: a repeat, not
    counted, and the reply's way to count it anyway offered `\\AMOUNT 12.34` (or the earlier
    one's figure), not the 12.50 the person had just typed."""
    fake = fake_twilio
    await house(bot, fake)
    original = images.jpeg_with_gps(640, 480, variant=5)
    first = await say(bot, fake, "$30.00", **mms([fake.media.add(original)]))
    assert first.startswith("Saved $30.00 to house")
    day = await saved_day(bot)
    captioned = await say(bot, fake, "lunch 12.50", sender=BOB, **mms([fake.media.add(original)]))
    assert captioned == (
        f"Saved to house; not counted: it repeats the receipt saved {day} ($30.00). "
        "Reply \\AMOUNT 12.50 to count it anyway."
    )
    assert (await say(bot, fake, "\\AMOUNT 12.50", sender=BOB)).startswith(
        "Set $12.50 on your receipt in house"
    )


async def test_an_older_receipt_with_no_total_is_counted_by_sending_it_again_with_its_total(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A receipt saved with no total, then another: `\\AMOUNT` reaches only the last, so the first
    stayed "1 receipt with no total is not counted" in every `\\BALANCE`, and the same photo sent
    again with its total in the caption was a repeat, not counted. Now the copy with the total is
    counted and takes the first one's place; another member's copy stays a repeat."""
    fake = fake_twilio
    await house(bot, fake)
    unread = images.jpeg_with_gps(640, 480, variant=7)
    first = await say(bot, fake, "", **mms([fake.media.add(unread)]))
    assert first == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert (await photo(bot, fake, "30.00")).startswith("Saved $30.00 to house")
    assert await say(bot, fake, "\\BALANCE") == (
        "house: Bob pays Alice $10.00, Carol pays Alice $10.00. 1 receipt with no total is not "
        "counted: \\RECEIPTS shows it."  # not \\AMOUNT: Alice's would set the $30.00 one
    )
    # another member's copy with a total is not theirs to count: a repeat, as before
    bobs = await say(bot, fake, "12.00", sender=BOB, **mms([fake.media.add(unread)]))
    assert bobs.startswith("Saved to house; not counted: it repeats the receipt saved"), bobs
    again = await say(bot, fake, "lunch 12.00", **mms([fake.media.add(unread)]))
    assert again == "Saved $12.00 to house: split 3 ways, you are owed $28.00. \\BALANCE for all."
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $14.00, Carol pays Alice $14.00."
    # the first copy is now the repeat (and Bob's copy too): later copies repeat the counted one
    assert await bot.scalar("SELECT count(*) FROM receipts WHERE duplicate_of IS NULL") == 2
    third = await say(bot, fake, "", sender=CAROL, **mms([fake.media.add(unread)]))
    assert third.startswith("Saved to house; not counted: it repeats the receipt saved"), third
    assert "($12.00)" in third, third


async def test_amount_on_a_repeat_of_ones_own_receipt_with_no_total_sets_that_total(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """The same photo again without a caption, its first copy still with no total: the reply said
    "not counted: it repeats ... Reply \\AMOUNT 12.34 to count it anyway", and that \\AMOUNT
    counted the copy while the first one kept waiting for a total in \\BALANCE."""
    fake = fake_twilio
    await house(bot, fake)
    unread = images.jpeg_with_gps(640, 480, variant=8)
    await say(bot, fake, "", **mms([fake.media.add(unread)]))
    assert (await photo(bot, fake, "30.00")).startswith("Saved $30.00 to house")
    day = await saved_day(bot)
    again = await say(bot, fake, "", **mms([fake.media.add(unread)]))
    assert again == (
        f"Saved to house; it repeats the receipt saved {day}, which has no total yet. "
        "Reply \\AMOUNT 12.34 to set it."
    )
    assert await say(bot, fake, "\\AMOUNT 9") == (
        "Set $9.00 on your receipt in house: you are owed $26.00. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $13.00, Carol pays Alice $13.00."


async def test_a_paid_sent_before_midnight_counts_in_its_month_though_handled_after(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Bob's `\\PAID Alice 5` of 23:59:50 on November 30th, handled at 00:00:30 (a backlog, a
    restart): the payment took the time it was handled, so November's statement had no payment
    and its balance at the month's end said Bob still owed the $5.00. It takes the time it was
    sent, as a receipt does."""
    now = [dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC).timestamp()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    fake = fake_twilio
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "\\NAME Alice")
    await say(bot, fake, "JOIN house pw", sender=BOB)
    await say(bot, fake, "\\NAME Bob", sender=BOB)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house")
    sent = dt.datetime(2026, 11, 30, 23, 59, 50, tzinfo=dt.UTC).timestamp()
    now[0] = sent + 40  # handled at 00:00:30 on December 1st
    sid = new_sid()
    await inbox.insert_new(bot.runtime.deps.db, [new_message(sid, BOB, "\\PAID Alice 5", received_at=sent)])
    bot.runtime.worker.wake()
    assert await bot.handled(sid) == "done"
    await bot.settled()
    assert await bot.scalar("SELECT created_at FROM payments") == pytest.approx(sent, abs=1)
    page = await (await bot.client.get(path_of(await statement_link(bot, fake, BOB, "2026-11")))).text()
    assert "Bob paid Alice $5.00" in page
    assert "Bob pays Alice $10.00" in page  # his $15.00 half, less the $5.00: at November's end


async def test_paid_in_a_room_with_very_many_debts_stays_within_what_twilio_takes(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID` in a room of 55 (54 debts) answered "Recorded: you paid ..." and then a balance
    cut to 1,600 characters: the reply was 1,608, over the 1,600 Twilio takes, so it was refused
    and the payer heard nothing of their payment. The whole reply keeps within 1,600."""
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE bighouse pw")).startswith("Created room bighouse")
    members = [f"+1555010{n:04d}" for n in range(54)]
    for phone in members:
        assert (await say(bot, fake, "\\JOIN bighouse pw", sender=phone)).startswith("Joined bighouse")
    assert (await photo(bot, fake, "$550.00")).startswith("Saved $550.00 to bighouse")
    reply = await say(bot, fake, "\\PAID +1******0000 0.01")
    # and in one SMS (SPEC: only \BALANCE is answered past one segment): the room's whole
    # balance, cut to 1,600 characters, was eleven; the payer's own part is what fits
    assert (
        reply == "Recorded: you paid +1******0000 $0.01. bighouse: you are owed $540.01. \\BALANCE for all."
    )
    bob = await say(bot, fake, "\\PAID +1******0000 0.01", sender=members[1])
    assert bob == (
        "Recorded: you paid +1******0000 $0.01. bighouse: you pay +1******1111 $9.99. \\BALANCE for all."
    )


async def test_a_balance_of_several_parts_starts_with_the_askers_own(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A room of twelve: `\\BALANCE` takes more than one SMS, and the asker's own payment was
    somewhere in it (an old phone shows the parts apart, or out of order). It comes first, then
    the room's; a balance that fits one SMS is as it was."""
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE cottage pw")).startswith("Created room cottage")
    members = [f"+1555010{n:04d}" for n in range(11)]
    for phone in members:
        assert (await say(bot, fake, "\\JOIN cottage pw", sender=phone)).startswith("Joined cottage")
    assert (await photo(bot, fake, "$120.00")).startswith("Saved $120.00 to cottage")
    reply = await say(bot, fake, "\\BALANCE", sender=members[4])
    assert not fits_one_segment(reply)
    assert reply.startswith(
        "cottage: you pay +1******1111 $10.00. All: +1******0000 pays +1******1111 $10.00, "
    )
    assert reply.count("pays +1******1111 $10.00") == 11, reply
    owed = await say(bot, fake, "\\BALANCE")  # owed by all eleven: in all, then each
    assert owed.startswith("cottage: you are owed $110.00. All: +1******0000 pays +1******1111 $10.00, "), (
        owed
    )


async def test_a_photo_that_waited_for_its_room_over_midnight_is_in_its_months_statement(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Alice's dinner photo of 23:58 on December 31st, sent before she was in any room, waited for
    the room she made at 00:01. The receipt kept its time, so January's statement did not list
    it, and `\\STATEMENT 2026-12` answered that the room began in 2027-01: the receipt was in no
    statement at all. December's is the room's first month."""
    now = [dt.datetime(2026, 12, 31, 23, 58, tzinfo=dt.UTC).timestamp()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    fake = fake_twilio
    url = fake.media.add(images.jpeg_with_gps())
    form = await bot.text("dinner $45.00", **mms([url]))
    await fake.wait_for_messages(1)  # the photo waits for a room

    async def parked() -> bool:
        return (
            await bot.scalar("SELECT status FROM inbox WHERE message_sid = :s", s=form["MessageSid"])
            == "parked"
        )

    await wait_for(parked)
    now[0] += 180  # 00:01 on January 1st
    create = await bot.text("\\CREATE house pw")
    assert await bot.handled(create["MessageSid"]) == "done"
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    assert sorted(m["Body"][:22] for m in fake.messages[1:]) == [
        "Created room house; ph",
        "Saved $45.00 to house:",
    ]
    page = await (await bot.client.get(path_of(await statement_link(bot, fake, ALICE, "2026-12")))).text()
    assert "December 2026" in page
    assert "2026-12-31 23:58" in page
    assert "$45.00" in page
    # a month before the first receipt is still before the room
    assert await say(bot, fake, "\\STATEMENT 2026-11") == (
        "house began in 2026-12: \\STATEMENT 2026-12 is its first month."
    )


async def test_a_zero_written_with_its_sign_or_cents_takes_a_receipt_out(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\AMOUNT $0.00`, `\\AMOUNT 0.0`: the usage answered, though it says 0 takes a receipt out."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house")
    assert await say(bot, fake, "\\AMOUNT $0.00") == (
        "Your receipt is out of the ledger of house (was $30.00): you are settled up. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\BALANCE", sender=BOB) == "house: all settled."
    assert (await say(bot, fake, "\\AMOUNT 30")).startswith("Set $30.00 on your receipt in house")
    assert (await say(bot, fake, "\\AMOUNT 0.0")).startswith("Your receipt is out of the ledger of house")
    assert (
        await say(bot, fake, "\\AMOUNT €0") == "Usage: \\AMOUNT 12.34 (0 takes the receipt out of the ledger)"
    )


async def test_timezone_est_is_not_taken_for_new_yorks_time(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\TIMEZONE EST` set tzdata's EST, which keeps no summer time: a New York room's
    statements and reminders ran an hour off from March to November (a receipt of 00:30 on
    July 1st was in June's statement). It asks, as `\\TIMEZONE PST` does."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\TIMEZONE EST") == (
        "EST keeps no summer time: did you mean \\TIMEZONE America/New_York? "
        "(America/Panama keeps EST all year.)"
    )
    assert await say(bot, fake, "\\TIMEZONE mst.") == (
        "MST keeps no summer time: did you mean \\TIMEZONE America/Denver? "
        "(America/Phoenix keeps MST all year.)"
    )
    assert await say(bot, fake, "\\TIMEZONE") == "house keeps time in UTC. Change it: \\TIMEZONE Europe/Paris"
    assert await say(bot, fake, "\\TIMEZONE America/Panama") == "house keeps time in America/Panama now."


async def test_timezone_with_words_after_the_zone_sets_the_zone(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\TIMEZONE Europe/Paris please` (or `thanks!` on the next line) was answered "Europe/Paris
    please is not a time zone: use a name such as America/Chicago or Europe/Paris": told to use the
    zone they had typed. The zone the text begins with is set; two zones are still asked about."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\TIMEZONE Europe/Paris please") == "house keeps time in Europe/Paris now."
    assert await say(bot, fake, "\\TIMEZONE america/new_york\nthanks!") == (
        "house keeps time in America/New_York now."
    )
    assert (await say(bot, fake, "\\TIMEZONE Europe/Paris or Europe/Berlin")).startswith(
        "Europe/Paris or Europe/Berlin is not a time zone"
    )
    assert await say(bot, fake, "\\TIMEZONE") == (
        "house keeps time in America/New_York. Change it: \\TIMEZONE Europe/Paris"
    )
    assert (await say(bot, fake, "\\TIMEZONE EST please")).startswith("EST please is not a time zone")


async def test_timezone_etc_gmt_says_its_sign_is_the_reverse(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\TIMEZONE Etc/GMT+2`, typed by someone two hours ahead of UTC, set tzdata's zone of
    UTC-2 (its sign is POSIX's), and the answer said only "keeps time in Etc/GMT+2 now": their
    room ran four hours behind them. The answer says what the zone is."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\TIMEZONE Etc/GMT+2") == (
        "house keeps time in Etc/GMT+2 now: UTC-2 all year (tzdata reverses the sign)."
    )
    assert await say(bot, fake, "\\TIMEZONE etc/gmt-10") == (
        "house keeps time in Etc/GMT-10 now: UTC+10 all year (tzdata reverses the sign)."
    )
    assert await say(bot, fake, "\\TIMEZONE Etc/GMT") == "house keeps time in Etc/GMT now."


async def test_timezone_gmt_is_not_taken_for_londons_time(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\TIMEZONE GMT`, as Londoners call their time, set tzdata's GMT, which keeps no summer
    time: a London room's statements and reminders ran an hour off from March to October (a
    receipt of 00:30 on May 1st was in April's statement), while BST was taken for London's."""
    fake = fake_twilio
    await house(bot, fake)
    assert await say(bot, fake, "\\TIMEZONE gmt") == (
        "GMT keeps no summer time: did you mean \\TIMEZONE Europe/London? (UTC keeps GMT all year.)"
    )
    assert await say(bot, fake, "\\TIMEZONE") == "house keeps time in UTC. Change it: \\TIMEZONE Europe/Paris"
    assert await say(bot, fake, "\\TIMEZONE BST") == (
        "BST is not a time zone: did you mean \\TIMEZONE Europe/London?"
    )


async def test_a_statement_asked_before_midnight_is_of_its_month_though_handled_after(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\STATEMENT` of 23:59:50 on November 30th, handled at 00:00:30 (a backlog, a restart):
    it linked December's statement, empty, as a `\\PAID` of that moment once fell in December."""
    now = [dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC).timestamp()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    fake = fake_twilio
    await say(bot, fake, "\\CREATE house pw")
    sent = dt.datetime(2026, 11, 30, 23, 59, 50, tzinfo=dt.UTC).timestamp()
    now[0] = sent + 40
    sid = new_sid()
    before = len(fake.messages)
    await inbox.insert_new(bot.runtime.deps.db, [new_message(sid, ALICE, "\\STATEMENT", received_at=sent)])
    bot.runtime.worker.wake()
    assert await bot.handled(sid) == "done"
    await bot.settled()
    [reply] = [m["Body"] for m in fake.messages[before:] if m["To"] == ALICE]
    assert "/statement/2026-11?" in reply, reply


async def test_a_statement_month_written_the_other_way_round_is_suggested_as_yyyy_mm(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\STATEMENT 10/2026` in November was told "e.g. \\STATEMENT 2026-11": the usage, with the
    month they did not mean as its example. The year is the 4-digit number: October is suggested."""
    now = [dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC).timestamp()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    fake = fake_twilio
    await say(bot, fake, "\\CREATE house pw")
    for typed in ("10/2026", "2026/10", "10-2026", "10.2026."):
        assert await say(bot, fake, f"\\STATEMENT {typed}") == (
            "Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT 2026-10?"
        ), typed
    assert await say(bot, fake, "\\Statement 2026-9") == (
        "Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT 2026-09?"
    )
    assert await say(bot, fake, "\\Statement 1/2027") == (
        "Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT 2027-01?"
    )
    # a month's name: the last one that has begun (December is last year's)
    assert await say(bot, fake, "\\Statement October.") == (
        "Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT 2026-10?"
    )
    assert await say(bot, fake, "\\STATEMENT sept") == (
        "Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT 2026-09?"
    )
    assert await say(bot, fake, "\\STATEMENT dec") == (
        "Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT 2025-12?"
    )
    # a month as people say it (it got the usage): from November, October; in January, December
    for typed in ("last month", "Last month.", "previous month"):
        assert await say(bot, fake, f"\\STATEMENT {typed}") == (
            "Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT 2026-10?"
        ), typed
    assert await say(bot, fake, "\\STATEMENT this month") == (
        "Usage: \\STATEMENT [YYYY-MM]. Did you mean \\STATEMENT 2026-11?"
    )
    assert ledger_handlers.meant_month("last month", (2027, 1)) == "2026-12"
    # no 4-digit year, or no month: the usage as before, nothing guessed
    for typed in ("10/26", "13/2026", "2026/13", "10/11", "ma", "octobre"):
        assert await say(bot, fake, f"\\STATEMENT {typed}") == (
            "Usage: \\STATEMENT [YYYY-MM], e.g. \\STATEMENT 2026-11"
        ), typed


async def test_a_command_of_the_active_room_naming_another_room_says_how_to_get_there(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\STATEMENT house` (or `\\CURRENCY`, `\\REMIND`, `\\TIMEZONE` with a room's name) from a
    person in several rooms got the usage alone, or "house is not a time zone": it says the command
    works on the active room and to `\\USE house` first. Naming the active room is as naming none."""
    fake = fake_twilio
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "\\CREATE trip2026 pw")
    await say(bot, fake, "\\CREATE Trip pw")
    for command in ("STATEMENT", "CURRENCY", "REMIND", "TIMEZONE"):
        said = f"\\{command} works on your active room, Trip: \\USE house first, then \\{command} again."
        assert await say(bot, fake, f"\\{command.lower()} HOUSE") == said
        assert fits_one_segment(said.replace("Trip", "t" * 32).replace("house", "h" * 32))
    assert (await say(bot, fake, "\\STATEMENT trip")).startswith("Statement: ")
    assert (
        await say(bot, fake, "\\CURRENCY trip.")
        == "Trip counts in USD. Change it with \\CURRENCY <code> before the first amount."
    )
    assert (
        await say(bot, fake, "\\REMIND Trip")
        == "Trip: no reminders. \\REMIND weekly or monthly: whoever owes gets one."
    )
    assert (await say(bot, fake, "\\TIMEZONE trip")).startswith("Trip keeps time in ")
    # nothing changed in any room; a word that is no room of theirs gets what it got before
    assert await say(bot, fake, "\\TIMEZONE nowhere") == (
        "nowhere is not a time zone: use a name such as America/Chicago or Europe/Paris."
    )
    assert await say(bot, fake, "\\REMIND trip202") == "Usage: \\REMIND weekly|monthly|off"
    assert (
        await bot.scalar("SELECT count(*) FROM rooms WHERE remind IS NOT NULL OR timezone IS NOT NULL") == 0
    )


async def test_a_reminder_zone_or_statement_with_a_room_named_too_acts_on_the_active_one(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\REMIND house weekly`, `\\STATEMENT house 2026-11` and `\\TIMEZONE house Europe/Paris`,
    as people name the room they mean, got the usage alone (or "did you mean \\TIMEZONE
    Europe/Paris?", which would set the active room's): naming the active room is as naming none,
    and another room of theirs says to `\\USE` it first; nothing changes anywhere then."""
    fake = fake_twilio
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "\\CREATE trip pw")
    said = "\\{} works on your active room, trip: \\USE house first, then \\{} again."
    assert await say(bot, fake, "\\REMIND house weekly") == said.format("REMIND", "REMIND")
    assert await say(bot, fake, "\\REMIND monthly HOUSE") == said.format("REMIND", "REMIND")
    assert await say(bot, fake, "\\STATEMENT house 2026-11") == said.format("STATEMENT", "STATEMENT")
    assert await say(bot, fake, "\\TIMEZONE house Europe/Paris") == said.format("TIMEZONE", "TIMEZONE")
    assert (
        await bot.scalar("SELECT count(*) FROM rooms WHERE remind IS NOT NULL OR timezone IS NOT NULL") == 0
    )
    assert (await say(bot, fake, "\\REMIND trip weekly")).startswith(
        "trip: whoever owes gets a reminder weekly, on Mondays from 10:00"
    )
    assert (await say(bot, fake, "\\remind off Trip.")) == "trip: reminders off."
    assert (await say(bot, fake, "\\STATEMENT trip 2026-11")).startswith("Statement: ")
    assert "/statement/2026-11?" in await say(bot, fake, "\\STATEMENT 2026-11 trip")
    assert await say(bot, fake, "\\TIMEZONE trip Europe/Paris") == "trip keeps time in Europe/Paris now."
    assert await bot.scalar("SELECT name FROM rooms WHERE timezone = 'Europe/Paris'") == "trip"
    # words that are no room of theirs, or two settings, get the usage as before
    assert await say(bot, fake, "\\REMIND nowhere weekly") == "Usage: \\REMIND weekly|monthly|off"
    assert await say(bot, fake, "\\REMIND weekly monthly") == "Usage: \\REMIND weekly|monthly|off"
    assert (await say(bot, fake, "\\STATEMENT nowhere 2026-11")).startswith(
        "Usage: \\STATEMENT [YYYY-MM], e.g."
    )


async def test_a_payment_or_amount_naming_another_room_says_to_use_it_first(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PAID Bob 5 house` or `\\AMOUNT 12 house` from a person whose active room is trip got the
    usage alone: it says they work on the active room and to `\\USE house` first; nothing is
    recorded anywhere."""
    fake = fake_twilio
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "\\JOIN house pw", sender=BOB)
    await say(bot, fake, "\\NAME Bob", sender=BOB)
    await say(bot, fake, "\\CREATE trip pw")
    await say(bot, fake, "\\JOIN trip pw", sender=BOB)
    await say(bot, fake, "\\USE trip")
    said = "\\{} works on your active room, trip: \\USE house first, then \\{} again."
    assert await say(bot, fake, "\\PAID Bob 5 house") == said.format("PAID", "PAID")
    assert await say(bot, fake, "\\paid bob 5 in HOUSE.") == said.format("PAID", "PAID")
    assert await say(bot, fake, "\\AMOUNT 12 house") == said.format("AMOUNT", "AMOUNT")
    assert await bot.scalar("SELECT count(*) FROM payments") == 0
    # a word that is no room of theirs, or the active room, is the usage as before
    assert (await say(bot, fake, "\\PAID Bob 5 zzz")).startswith("Usage: \\PAID <name> <amount>")
    assert (await say(bot, fake, "\\AMOUNT 12 trip")).startswith("Usage: \\AMOUNT")
    assert (await say(bot, fake, "\\PAID Bob 5")).startswith("Recorded: you paid Bob $5.00. trip: ")


async def test_reminders_turned_on_before_ten_on_a_monday_and_handled_after_still_remind_that_day(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\REMIND weekly` of 09:59:50 on a Monday, handled at 10:00:30 (a backlog, a restart): it
    counted that Monday's reminder as gone, though it was asked for before 10:00."""
    monday = dt.datetime(2026, 11, 30, tzinfo=dt.UTC).timestamp()
    now = [monday - 36 * 3600]  # Saturday noon
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house")
    sent = monday + 10 * 3600 - 10
    now[0] = sent + 40
    sid = new_sid()
    await inbox.insert_new(
        bot.runtime.deps.db, [new_message(sid, ALICE, "\\REMIND weekly", received_at=sent)]
    )
    bot.runtime.worker.wake()
    assert await bot.handled(sid) == "done"
    await bot.settled()
    now[0] = monday + 10.5 * 3600
    before = len(fake.messages)
    assert await reminders.send_reminders(bot.runtime.deps) == 2
    messages = await fake.wait_for_messages(before + 2)
    assert {m["To"] for m in messages[before:]} == {BOB, CAROL}


async def test_balance_sends_to_receipts_for_a_total_no_amount_can_reach(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """\\BALANCE said "its sender can reply \\AMOUNT 12.34" of a receipt with no total whose
    sender had left the room (who could not send it) or had sent receipts since (their \\AMOUNT
    set the newer one: following it changed the wrong receipt). It points to \\RECEIPTS, whose
    page says receipt by receipt what can be done."""
    fake = fake_twilio
    await house(bot, fake)
    no_total = "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    reach = "house: all settled. 1 receipt with no total is not counted: its sender can reply \\AMOUNT 12.34."
    out_of_reach = "house: all settled. 1 receipt with no total is not counted: \\RECEIPTS shows it."
    assert await photo(bot, fake, "", sender=CAROL) == no_total
    assert await say(bot, fake, "\\BALANCE") == reach
    assert (await say(bot, fake, "\\LEAVE", sender=CAROL)).startswith("You left house")
    assert await say(bot, fake, "\\BALANCE") == out_of_reach

    assert (await say(bot, fake, "\\JOIN house pw", sender=CAROL)).startswith("Joined house")
    assert await say(bot, fake, "\\BALANCE") == reach  # hers again, and her last
    assert (await photo(bot, fake, "$9.00", sender=CAROL)).startswith("Saved $9.00 to house")
    assert await say(bot, fake, "\\BALANCE") == (
        "house: Alice pays Carol $3.00, Bob pays Carol $3.00. 1 receipt with no total is not counted:"
        " \\RECEIPTS shows it."
    )


async def test_split_of_a_repeat_says_how_to_count_it_not_that_it_has_no_total(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """The same photo sent twice: the repeat's reply said "Reply \\AMOUNT 12.00 to count it
    anyway", then its `\\SPLIT` "splits Bob, Alice once it has a total: \\AMOUNT 12.34", as if no
    total had been read. It says it repeats another and which `\\AMOUNT` counts it."""
    fake = fake_twilio
    await house(bot, fake)
    picture = images.jpeg_with_gps()
    assert (await say(bot, fake, "$12.00", **mms([fake.media.add(picture)]))).startswith("Saved $12.00")
    repeat = await say(bot, fake, "", **mms([fake.media.add(picture)]))
    assert "Reply \\AMOUNT 12.00 to count it anyway" in repeat, repeat
    assert (
        await say(bot, fake, "\\SPLIT bob me")
        == "Your receipt in house splits equally among Bob, Alice once counted: it repeats another,"
        " \\AMOUNT 12.00 counts it."
    )
    assert (
        await say(bot, fake, "\\SPLIT bob 6.00 me 6.00")
        == "It repeats another receipt: count it first (\\AMOUNT 12.00), then split it by amounts."
    )
    assert (
        await say(bot, fake, "\\AMOUNT 12.00")
        == "Set $12.00 on your receipt in house: you are owed $14.00. \\BALANCE for all."
    )


async def test_a_name_a_telegram_member_goes_by_is_taken(bot_factory: BotFactory, fake_telegram: Any) -> None:
    """Fay has no `\\\\NAME`: the flat shows her by her Telegram first name. Alice's `\\\\NAME Fay`
    was taken all the same, and the flat showed "Fay (7001)" and "Fay (7002)", whom `\\\\PAID Fay`
    could not tell apart. It is answered as a name another member set is."""
    bot = await bot_factory(telegram=fake_telegram.section())
    names = {7001: "Ann", 7002: "Fay"}

    async def telegram(text: str, chat: int) -> str:
        return await answer(bot, fake_telegram, text, chat=chat, first_name=names[chat])

    await telegram("/create flat pw", 7001)
    await telegram("/join flat pw", 7002)
    assert await telegram("/name fay", 7001) == "Someone in flat goes by fay already. Pick another name."
    assert await telegram("/name Ann", 7001) == "Your rooms now see you as Ann."
    assert await telegram("/name Fay", 7002) == "Your rooms now see you as Fay."


async def test_a_statement_month_in_another_scripts_digits_links_the_month_in_ascii_digits(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """`\\STATEMENT \u0662\u0660\u0662\u0666-\u0661\u0661` (an Arabic keyboard's digits) or
    `\u0968\u0966\u0968\u096c-\u0967\u0967` (Devanagari) was read as 2026-11, but the link said the month as typed:
    `.../statement/\u0662\u0660\u0662\u0666-\u0661\u0661?...`, a UCS-2 SMS of 3 segments whose link a phone may
    cut at the first such digit. The link, and any reply, says the month in ASCII digits."""
    now = [dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC).timestamp()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    fake = fake_twilio
    await say(bot, fake, "\\CREATE house pw")
    for typed in (
        "\u0662\u0660\u0662\u0666-\u0661\u0661",
        "\u0968\u0966\u0968\u096c-\u0967\u0967",
        "\u06f2\u06f0\u06f2\u06f6-\u06f1\u06f1",
    ):
        reply = await say(bot, fake, f"\\STATEMENT {typed}")
        assert "/statement/2026-11?" in reply, reply
        assert fits_one_segment(reply), reply
    assert await say(bot, fake, "\\STATEMENT \u0662\u0669\u0669\u0669-\u0660\u0661") == (
        "2999-01 has not begun in house yet."
    )


async def test_a_late_or_correcting_amount_says_which_receipt_it_changed(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\AMOUNT` sets the sender's last receipt, however long ago it was sent, and said only "Set
    $30.00 on your receipt": days later, or correcting a total read wrong, the person could not
    tell which receipt it changed, nor that it had one before. The day is named when it is not
    today, and the amount it replaced."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house")
    assert await say(bot, fake, "\\AMOUNT 32.50") == (
        "Set $32.50 on your receipt in house (was $30.00): you are owed $21.67. \\BALANCE for all."
    )
    sent = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp()  # Nov 20 in any zone of the Americas
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(sa.text("UPDATE receipts SET created_at = :at"), {"at": sent})
    assert await say(bot, fake, "\\AMOUNT 32.50") == (  # the same again: nothing it replaced
        "Set $32.50 on your receipt of Nov 20 in house: you are owed $21.67. \\BALANCE for all."
    )
    assert await say(bot, fake, "\\AMOUNT 0") == (
        "Your receipt of Nov 20 is out of the ledger of house (was $32.50): you are settled up. \\BALANCE for all."
    )


async def test_an_amount_on_a_receipt_of_the_same_day_names_no_day_on_the_bots_clock(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Whether the receipt an `\\AMOUNT` sets was sent today was judged by the host's calendar,
    not the clock the bot runs on: a flat running on the test clock (a year of receipts, one
    month at a time) was told "your receipt of Sep 30" for one sent minutes before, that day."""
    fake = fake_twilio
    noon = dt.datetime(2027, 9, 30, 16, tzinfo=dt.UTC).timestamp()  # Sep 30 in any zone of the Americas
    bot = await bot_factory(twilio=fake.section(), clock=lambda: noon)
    await house(bot, fake)
    assert (await photo(bot, fake, "$30.00")).startswith("Saved $30.00 to house")
    assert await say(bot, fake, "\\AMOUNT 32.50") == (
        "Set $32.50 on your receipt in house (was $30.00): you are owed $21.67. \\BALANCE for all."
    )


async def test_a_name_telegram_shows_in_letters_sms_lacks_is_that_member(
    bot_factory: BotFactory, fake_telegram: Any
) -> None:
    """Li Ming's Telegram first name is 李明, which SMS cannot show: the room shows him by his
    masked chat. `/paid 李明 5`, the name his flatmates see in Telegram, were
    "No one in flat goes by 李明"; they are him."""
    bot = await bot_factory(telegram=fake_telegram.section())
    names = {
        7001: "Ann",
        7002: "\u674e\u660e",
        7003: "\u0391\u03bb\u03ad\u03be\u03b1\u03bd\u03b4\u03c1\u03bf\u03c2",
    }

    async def telegram(text: str, chat: int) -> str:
        return await answer(bot, fake_telegram, text, chat=chat, first_name=names[chat])

    await telegram("/create flat pw", 7001)
    await telegram("/join flat pw", 7002)
    await telegram("/join flat pw", 7003)
    balance = await telegram("/balance", 7001)
    assert "\u674e\u660e" not in balance
    li = (await telegram("/paid \u674e\u660e 5", 7001)).removeprefix("Recorded: you paid ")
    assert li == "Telegram ***7002 $5.00. flat: Telegram ***7002 pays Ann $5.00."
    assert await bot.scalar("SELECT count(*) FROM payments") == 1
    # in any case, as Telegram shows it to his flatmates
    assert (
        await telegram("/paid \u0391\u039b\u0388\u039e\u0391\u039d\u0394\u03a1\u039f\u03a3 2", 7001)
    ).startswith("Recorded: you paid Telegram ")
    assert await bot.scalar("SELECT count(*) FROM payments") == 2


async def test_a_first_receipt_in_other_money_offers_the_rooms_currency_while_it_may_change(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A Mumbai flat made its room (USD, the default) and sent its first receipt in rupees: the
    reply offered only `\\AMOUNT 12.34` in dollars, though `\\CURRENCY INR` could still make the
    room count in rupees, this receipt too. It is offered while nothing counts in the room's
    currency; once something does, the currency stays, and so does the reply."""
    fake = fake_twilio
    await house(bot, fake)
    # `Rs.` is the sign of several rupees: no amount read, and its figure not offered in dollars
    # (it was: "Reply \\AMOUNT 450.00 to set it", which would have counted $450)
    assert (
        await photo(bot, fake, "thali Rs. 450")
        == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    assert await say(bot, fake, "\\AMOUNT 0") == (
        "Your receipt is out of the ledger of house: you are settled up. \\BALANCE for all."
    )
    assert await photo(bot, fake, "thali \u20b9450") == (
        "Saved to house; not counted: INR 450.00 in a USD room. Reply \\CURRENCY INR to count house in INR, "
        "or \\AMOUNT 12.34 in USD."
    )
    assert await say(bot, fake, "\\CURRENCY INR") == "house counts in INR now."
    assert (await say(bot, fake, "\\BALANCE")).startswith("house: Bob pays Alice INR 150.00")
    assert await photo(bot, fake, "lunch $12.00", sender=BOB) == (
        "Saved to house; not counted: $12.00 in a INR room. Reply \\AMOUNT 12.00 USD @rate (INR for 1 USD)"
        " to count it, or \\AMOUNT 12.34 in INR."
    )


async def test_a_caption_of_a_thousand_written_the_quebec_way_is_asked_about(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`ordi 1 234,56 $` (a space groups the thousands) reads two ways, as `for 3 120.00` does:
    the photo was answered `no total found. Reply \\AMOUNT 12.34 to set it.` and nothing more,
    as if the person had typed no total. The second reply offers both readings."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await say(bot, fake, "\\CURRENCY CAD")).startswith("house counts in CAD")
    urls = [fake.media.add(images.jpeg_with_gps())]
    assert await answers(bot, fake, "ordi 1 234,56 $", **mms(urls)) == [
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it.",
        "1 234,56 is unclear: reply \\AMOUNT 1234.56 for CA$1,234.56, or \\AMOUNT 234.56 for CA$234.56.",
    ]
    assert (await say(bot, fake, "\\AMOUNT 1234.56")).startswith("Set CA$1,234.56 on your receipt in house")


async def test_a_half_share_gets_the_whole_shares_it_means(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\SPLIT me 1 bob 1 carol 0.5` (Carol away half the month) was read as amounts and answered
    "$1.00 + $1.00 + $0.50 is $2.50, not its total $64.31", leaving the person to guess that
    shares are whole. Small bare numbers now also get the command with whole shares, as typed;
    amounts with a money sign or code, or near the total, are told only that they do not add up."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "$64.31")
    hint = await say(bot, fake, "\\SPLIT me 1 Bob 1 carol 0.5")
    assert hint == (
        "$1.00 + $1.00 + $0.50 is $2.50, not its total $64.31. Shares are whole: \\SPLIT me 2 Bob 2 carol 1"
    )
    assert await say(bot, fake, hint.split(": ", 1)[1]) == (
        "Split $64.31 in house: Bob $25.73, Carol $12.86, Alice $25.72."
    )
    assert await say(bot, fake, "\\SPLIT me 1.25 bob 1,5") == (
        "$1.25 + $1.50 is $2.75, not its total $64.31. Shares are whole: \\SPLIT me 5 bob 6"
    )
    # a list written with commas after its numbers, as the split itself reads it
    assert await say(bot, fake, "\\SPLIT me 1.5, bob 1, carol 1") == (
        "$1.50 + $1.00 + $1.00 is $3.50, not its total $64.31. Shares are whole: \\SPLIT me 3, bob 2, carol 2"
    )
    # amounts meant as amounts: a money sign or code, or near the total
    assert await say(bot, fake, "\\SPLIT me $1 bob 0.50") == "$1.00 + $0.50 is $1.50, not its total $64.31."
    assert (
        await say(bot, fake, "\\SPLIT me 1 USD bob 0.50") == "$1.00 + $0.50 is $1.50, not its total $64.31."
    )
    assert (
        await say(bot, fake, "\\SPLIT me 32 bob 32.30") == "$32.00 + $32.30 is $64.30, not its total $64.31."
    )
    assert await say(bot, fake, "\\BALANCE") == "house: Bob pays Alice $25.73, Carol pays Alice $12.86."


async def test_a_rate_given_the_wrong_way_round_is_questioned(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\AMOUNT 678 JPY @150` (yen to the dollar, as exchange boards quote it) counted
    $101700.00 in a dollar room, a debt of $67,800 for each flatmate. A rate far from any the
    two monies have had, whose inverse is near one, sets nothing and offers the inverse."""
    fake = fake_twilio
    await house(bot, fake)
    kept = await photo(bot, fake, "ramen ¥678")
    assert kept.startswith("Saved to house; not counted: ¥678 in a USD room."), kept
    offered = await say(bot, fake, "\\AMOUNT 678 JPY @150")
    assert offered == (
        "¥678 @150 is $101,700.00, but the rate is USD for 1 JPY (1/150 = 0.006667): \\AMOUNT 678 JPY @0.006667"
    )
    assert [tuple(r) for r in await bot.rows("SELECT amount_minor, currency FROM receipts")] == [(678, "JPY")]
    # the figure alone, in the receipt's money
    assert (await say(bot, fake, "\\AMOUNT 678 @149")).endswith(
        "(1/149 = 0.006711): \\AMOUNT 678 JPY @0.006711"
    )
    # `@1,450`: won to the dollar with a thousands comma; 1.450's inverse (0.6897) would count
    # $34485.00 for a ₩50000 dinner
    assert (await photo(bot, fake, "KRW 50000")).startswith(
        "Saved to house; not counted: KRW 50,000 in a USD room."
    )
    assert await say(bot, fake, "\\AMOUNT 50000 KRW @1,450") == (
        "KRW 50,000 @1450 is $72,500,000.00, but the rate is USD for 1 KRW (1/1450 = 0.0006897): "
        "\\AMOUNT 50000 KRW @0.0006897"
    )
    # a comma that is a decimal one stays one (`@0,0067`, `@150,5`)
    assert (await say(bot, fake, "\\AMOUNT 678 JPY @150,5")).endswith(
        "(1/150.5 = 0.006645): \\AMOUNT 678 JPY @0.006645"
    )
    assert (await say(bot, fake, offered.split(": ", 1)[1])).startswith("Set $4.52 (¥678 at 0.006667)")
    # a dollar receipt in a yen room, the other way; like monies either way round are never questioned, nor a rate near the right one
    assert (await say(bot, fake, "\\AMOUNT 40 EUR @0.92")).startswith("Set $36.80 (€40.00 at 0.92)")
    assert (await say(bot, fake, "\\AMOUNT 40 EUR @1.08")).startswith("Set $43.20 (€40.00 at 1.08)")
    assert (await say(bot, fake, "\\CREATE tokyo pw1234")).startswith("Created room tokyo")
    assert (await say(bot, fake, "\\CURRENCY JPY")).startswith("tokyo counts in JPY")
    assert (await photo(bot, fake, "USD 12.00")).startswith(
        "Saved to tokyo; not counted: $12.00 in a JPY room."
    )
    assert (await say(bot, fake, "\\AMOUNT 12 USD @150")).startswith("Set ¥1,800 ($12.00 at 150)")
    assert await say(bot, fake, "\\AMOUNT 12 USD @0.0067") == (
        "$12.00 @0.0067 is ¥0, but the rate is JPY for 1 USD (1/0.0067 = 149.3): \\AMOUNT 12.00 USD @149.3"
    )


async def test_a_rate_with_a_thousands_comma_the_right_way_round(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\AMOUNT 40 USD @1,450` in a room of won (1,450 won to the dollar, the right way round)
    was read as 1.45: a $40 dinner counted ₩58. Where 1.45 is far from any rate the two monies
    have had and 1450 near one, it is 1450; a decimal comma near the right rate stays one."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await say(bot, fake, "\\CURRENCY KRW")).startswith("house counts in KRW")
    assert (await photo(bot, fake, "USD 40.00")).startswith(
        "Saved to house; not counted: $40.00 in a KRW room."
    )
    assert (await say(bot, fake, "\\AMOUNT 40 USD @1,450")).startswith("Set KRW 58,000 ($40.00 at 1450)")
    assert (await say(bot, fake, "\\CREATE paris pw1234")).startswith("Created room paris")
    assert (await say(bot, fake, "\\CURRENCY EUR")).startswith("paris counts in EUR")
    assert (await photo(bot, fake, "USD 40.00")).startswith(
        "Saved to paris; not counted: $40.00 in a EUR room."
    )
    assert (await say(bot, fake, "\\AMOUNT 40 USD @0,920")).startswith("Set €36.80 ($40.00 at 0.920)")


@pytest.mark.parametrize(
    ("code", "bill", "shown", "cap"),
    [
        ("VND", "1500000", "VND 1,500,000", "VND 100,000,000,000"),
        ("JPY", "1200000", "¥1,200,000", "¥1,000,000,000"),
        ("IDR", "2.500.000", "IDR 2,500,000.00", "IDR 100,000,000,000.00"),
    ],
)
async def test_a_bill_in_money_worth_little_is_not_too_large(
    bot: Bot, fake_twilio: FakeTwilio, code: str, bill: str, shown: str, cap: str
) -> None:
    """A VND 1,500,000 dinner is $60 and a ¥1,200,000 week at a hotel $8,000, but a million units
    of any money was the most an amount could be: `\\AMOUNT 1500000` in a room of dong answered
    the usage, and the bill could not be counted at all. The bound is a million dollars' worth
    now; past it the answer says what the most is, where it gave the usage."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await say(bot, fake, f"\\CURRENCY {code}")).startswith(f"house counts in {code}")
    await photo(bot, fake, "dinner")
    assert (await say(bot, fake, f"\\AMOUNT {bill}")).startswith(f"Set {shown}")
    rows = await bot.rows("SELECT amount_minor, currency FROM receipts")
    assert [r[1] for r in rows] == [code]
    assert await say(bot, fake, "\\AMOUNT 999999999999999") == (
        f"{_shown_in(code, 999999999999999)} is more than an amount may be: at most {cap}."
    )


def _shown_in(code: str, figure: int) -> str:
    from bot.features.ledger.money import currency

    cur = currency(code)
    assert cur is not None
    return cur.format(cur.minor_of_major(figure))


async def test_a_figure_above_the_most_an_amount_may_be_says_so(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\AMOUNT 5000000` in a room of dollars answered the usage, as if it were no figure."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "dinner")
    assert await say(bot, fake, "\\AMOUNT 5000000") == (
        "$5,000,000.00 is more than an amount may be: at most $1,000,000.00."
    )
    assert (
        await say(bot, fake, "\\AMOUNT lots")
        == "Usage: \\AMOUNT 12.34 (0 takes the receipt out of the ledger)"
    )
    assert (await say(bot, fake, "\\AMOUNT 1000000")).startswith("Set $1,000,000.00")


async def test_a_figure_of_hundreds_of_digits_gets_a_one_segment_answer(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\AMOUNT` of a figure hundreds of digits long (a paste, a key held down) was answered with
    the figure written out, 2,177 characters: past the 1,600 an SMS may be, so Twilio refuses the
    reply and the person hears nothing. `\\PAID Bob -<the same>` wrote it out in the \\PAID to
    send back. The answers say the same in one segment."""
    fake = fake_twilio
    await house(bot, fake)
    await photo(bot, fake, "dinner")
    figure = "9" * 1590
    said = await say(bot, fake, f"\\AMOUNT {figure}")
    assert said == "That is more than an amount may be: at most $1,000,000.00."
    assert (await say(bot, fake, "\\PAID Bob 20")).startswith("Recorded: you paid Bob $20.00.")
    said = await say(bot, fake, f"\\PAID Bob -{figure}")
    assert said == "A payment is not taken back. Bob can record paying it back in house."
    assert fits_one_segment(said)
    assert await bot.scalar("SELECT count(*) FROM payments") == 1


async def test_amounts_typed_with_a_word_for_their_thousands(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\AMOUNT 300k` in a room of dong and `\\PAID Alice 100k` got the usage: Vietnamese and
    Indonesians text prices so (`150k`, `1tr5`, `150rb`)."""
    fake = fake_twilio
    await house(bot, fake)
    assert (await say(bot, fake, "\\CURRENCY VND")).startswith("house counts in VND")
    await photo(bot, fake, "dinner")
    assert (await say(bot, fake, "\\AMOUNT 300k")).startswith("Set VND 300,000 on your receipt in house")
    reply = await say(bot, fake, "\\PAID Alice 100k", sender=BOB)
    assert reply.startswith("Recorded: you paid Alice VND 100,000."), reply
    assert (await say(bot, fake, "\\AMOUNT 1tr5")).startswith("Set VND 1,500,000 on your receipt in house")


def test_an_amount_on_a_split_too_long_to_name_says_it_keeps_the_shares() -> None:
    """A room's worth of shares does not fit one SMS beside the amount: the reply says the split
    keeps its proportions rather than dropping it unsaid."""
    usd = currency("USD")
    assert usd is not None
    book = RoomLedger(
        currency=usd, net={1: 6000}, settlement=[], names={1: "Alice"}, uncounted=0, member_ids=(1,)
    )
    shares = ", ".join(f"Member{n:02} $3.00" for n in range(20))
    text = ledger_handlers.amount_reply(
        "house", book, 1, 6000, usd, was="$30.00", shares=shares, fits=fits_one_segment
    )
    assert text == (
        "Set $60.00 on your receipt in house, split by the same shares: you are owed $60.00. \\BALANCE for all."
    )
    short = ledger_handlers.amount_reply(
        "house", book, 1, 6000, usd, shares="Bob $25.00, Carol $35.00", fits=fits_one_segment
    )
    assert short == (
        "Set $60.00 on your receipt in house, split Bob $25.00, Carol $35.00: you are owed $60.00. \\BALANCE for all."
    )
