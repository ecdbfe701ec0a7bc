"""What the gallery and statement pages show of a room's ledger (bot/features/ledger/view.py):
each receipt's amount, payer and note."""

from __future__ import annotations

import html
import re

from tests.conftest import ALICE, BOB, Bot, BotFactory
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_gallery import gallery_link, path_of, send_photos
from tests.features.receipts.test_media import say
from tests.features.receipts.test_statement import statement_link


async def _notes(bot: Bot, fake: FakeTwilio, link: str) -> list[str]:
    page = html.unescape(await (await bot.client.get(path_of(link))).text())
    return re.findall(r'<p class="note">([^<]+)</p>', page)


async def test_a_receipt_with_no_amount_says_whose_amount_it_waits_for(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Every member read "needs an amount: \\AMOUNT 12.34" under Bob's receipt; `\\AMOUNT` sets
    the sender's own last receipt, so Alice following it changed her $30.00 lunch. The note says
    its sender can reply, and once that sender has left by `\\STOP`, that no one can."""
    fake = fake_twilio
    bot = await bot_factory(twilio=fake.section())
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "JOIN house pw", sender=BOB)
    await send_photos(bot, fake, 1, "lunch 30.00", ALICE)
    assert await send_photos(bot, fake, 1, "", BOB) == (
        "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    )
    for link in (await gallery_link(bot, fake, ALICE), await statement_link(bot, fake, ALICE)):
        assert await _notes(bot, fake, link) == ["needs an amount: its sender can reply \\AMOUNT 12.34"]
    await say(bot, fake, "\\STOP", sender=BOB)
    for link in (await gallery_link(bot, fake, ALICE), await statement_link(bot, fake, ALICE)):
        assert await _notes(bot, fake, link) == ["not counted: no amount, and its sender has left"]


async def test_a_receipt_in_another_currency_says_why_and_how_to_count_it(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A yen receipt in a dollar room showed "¥3000 (not counted)" and nothing more on the pages,
    though its reply had said why and how to count it."""
    fake = fake_twilio
    bot = await bot_factory(twilio=fake.section())
    await say(bot, fake, "\\CREATE house pw")
    assert await send_photos(bot, fake, 1, "ramen ¥3000", ALICE) == (
        "Saved to house; not counted: ¥3,000 in a USD room. Reply \\CURRENCY JPY to count house in JPY, "
        "or \\AMOUNT 12.34 in USD."
    )
    for link in (await gallery_link(bot, fake, ALICE), await statement_link(bot, fake, ALICE)):
        page = html.unescape(await (await bot.client.get(path_of(link))).text())
        assert "¥3,000 (not counted)" in page
        assert re.findall(r'<p class="note">([^<]+)</p>', page) == [
            "in a USD room: its sender can reply \\AMOUNT 12.34 to count it in USD"
        ]
    await say(bot, fake, "JOIN house pw", sender=BOB)
    await say(bot, fake, "\\STOP")  # no one can send that \\AMOUNT now
    for link in (await gallery_link(bot, fake, BOB), await statement_link(bot, fake, BOB)):
        page = html.unescape(await (await bot.client.get(path_of(link))).text())
        assert re.findall(r'<p class="note">([^<]+)</p>', page) == ["in a USD room, and its sender has left"]


async def test_a_receipt_of_a_member_who_left_does_not_ask_them_for_its_amount(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Bob sent a photo with no total and left with `\\LEAVE`: the pages still said "its sender can
    reply \\AMOUNT 12.34", which Bob, out of the room, no longer can (his \\AMOUNT answers that he
    is in no room). They say its sender has left, as after `\\STOP`; his name stays."""
    fake = fake_twilio
    bot = await bot_factory(twilio=fake.section())
    await say(bot, fake, "\\CREATE house pw")
    await say(bot, fake, "JOIN house pw", sender=BOB)
    await say(bot, fake, "\\NAME Bob", sender=BOB)
    await send_photos(bot, fake, 1, "", BOB)
    await send_photos(bot, fake, 1, "ramen ¥3000", BOB)
    assert (await say(bot, fake, "\\LEAVE", sender=BOB)).startswith("You left house")
    for link in (await gallery_link(bot, fake, ALICE), await statement_link(bot, fake, ALICE)):
        notes = await _notes(bot, fake, link)
        assert sorted(notes) == [
            "in a USD room, and its sender has left",
            "not counted: no amount, and its sender has left",
        ], notes
        page = html.unescape(await (await bot.client.get(path_of(link))).text())
        assert "Bob" in page


async def test_an_older_receipt_with_no_amount_does_not_send_its_sender_to_amount(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Alice's photo of paint had no total; then she sent nails, $20.00. Under the paint the pages
    said "its sender can reply \\AMOUNT 12.34", but \\AMOUNT sets a receipt of her last message:
    following it changed the nails to $15.00 and left the paint without an amount. The note says
    her \\AMOUNT now sets her newer receipt; the receipts of her last message still say to reply."""
    fake = fake_twilio
    bot = await bot_factory(twilio=fake.section())
    await say(bot, fake, "\\CREATE house pw")
    await send_photos(bot, fake, 1, "paint", ALICE)
    await send_photos(bot, fake, 1, "ramen ¥3000", ALICE)
    await send_photos(bot, fake, 1, "nails 20.00", ALICE)
    for link in (await gallery_link(bot, fake, ALICE), await statement_link(bot, fake, ALICE)):
        assert sorted(await _notes(bot, fake, link)) == [
            "in a USD room; its sender's \\AMOUNT now sets their newer receipt",
            "not counted: no amount, and its sender's \\AMOUNT now sets their newer receipt",
        ]
    # two photos with no total in her last message: each still waits for her \AMOUNT, in order
    await send_photos(bot, fake, 2, "", ALICE)
    for link in (await gallery_link(bot, fake, ALICE), await statement_link(bot, fake, ALICE)):
        notes = await _notes(bot, fake, link)
        assert notes.count("needs an amount: its sender can reply \\AMOUNT 12.34") == 2, notes
        assert len(notes) == 4, notes
