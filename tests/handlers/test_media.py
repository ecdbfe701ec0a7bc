"""Receipt photos through the real bot (handlers/media.py): who shares a receipt. Storing,
cleaning and reading photos: tests/features/receipts/test_media.py, tests/features/ledger/test_intake.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.pipeline import replyguard
from handlers import media as media_handler
from handlers.media import GAVE_UP, STORE_WAIT
from storage import inbox
from storage.media import StoreUnavailable
from tests import images
from tests.conftest import ALICE, BOB, Bot, BotFactory
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_media import _parked, mms
from tests.handlers.talk import photo_parked_while_the_store_is_down, say

CAROL = "+15550003333"
DAVE = "+15550004444"
WAITING = (
    "Photos are kept in rooms: \\CREATE <room> <password> or \\JOIN <room> <password> within "
    "10 minutes and this photo goes there."
)


@pytest.fixture(autouse=True)
def _people_type_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replyguard, "BUDGET", 100)


async def _house_of_three(bot: Bot, fake: FakeTwilio) -> None:
    """Alice's house, with Bob and Carol in it, everyone named."""
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    for phone, name in ((BOB, "Bob"), (CAROL, "Carol")):
        assert (await say(bot, fake, "\\JOIN house pw", sender=phone)).startswith("Joined house")
        assert (await say(bot, fake, f"\\NAME {name}", sender=phone)).startswith("Your rooms now see you")
    assert (await say(bot, fake, "\\NAME Alice")).startswith("Your rooms now see you")


async def _saved_on_its_retry(bot: Bot, fake: FakeTwilio, sid: str, reply: str) -> None:
    """The parked photo `sid` tried again now, and saved: its sender's last reply starts `reply`."""
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(sa.text("UPDATE inbox SET next_attempt_at = 0 WHERE message_sid = :s"), {"s": sid})
    assert await bot.handled(sid) == "done"
    await bot.settled()
    replies = [m["Body"] for m in fake.messages if m["To"] == ALICE]
    assert replies[-1].startswith(reply), replies


async def test_a_photo_saved_late_is_shared_by_those_in_the_room_when_it_was_sent(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice texts the dinner's receipt while the media store is down; Dave joins the house
    before it comes back. The receipt, saved then, was split four ways: Dave owed a share of a
    dinner he never had. It is shared by the three who were in the room when it was sent."""
    fake = fake_twilio
    await _house_of_three(bot, fake)
    sid, down = await photo_parked_while_the_store_is_down(bot, fake, monkeypatch, "$30.00")
    assert (await say(bot, fake, "\\JOIN house pw", sender=DAVE)).startswith("Joined house")
    assert (await say(bot, fake, "\\NAME Dave", sender=DAVE)).startswith("Your rooms now see you")
    down[0] = False
    await _saved_on_its_retry(bot, fake, sid, "Saved $30.00 to house: split 3 ways, you are owed $20.00.")
    assert await say(bot, fake, "\\BALANCE", sender=DAVE) == (
        "house: Bob pays Alice $10.00, Carol pays Alice $10.00."
    )
    # a photo sent after he joined is his to share
    url = fake.media.add(images.jpeg_with_gps())
    assert (await say(bot, fake, "$40.00", sender=BOB, **mms([url]))).startswith(
        "Saved $40.00 to house: split 4 ways"
    )


async def test_a_photo_saved_late_is_shared_by_one_who_left_the_room_after_it_was_sent(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice texts the dinner's receipt while the media store is down (or while it is still being
    read: a \\LEAVE sent a quarter second after it did the same through the real server); Carol
    leaves before it is saved. It was split two ways, Carol's share of a dinner she had falling
    on Bob. Those in the room when it was sent share it, Carol too."""
    fake = fake_twilio
    await _house_of_three(bot, fake)
    sid, down = await photo_parked_while_the_store_is_down(bot, fake, monkeypatch, "$30.00")
    assert await say(bot, fake, "\\LEAVE", sender=CAROL) == "You left house."
    down[0] = False
    await _saved_on_its_retry(bot, fake, sid, "Saved $30.00 to house: split 3 ways, you are owed $20.00.")
    assert await say(bot, fake, "\\BALANCE", sender=BOB) == (
        "house: Bob pays Alice $10.00, Carol pays Alice $10.00."
    )
    # a photo sent after she left is not hers to share
    url = fake.media.add(images.jpeg_with_gps())
    assert (await say(bot, fake, "$40.00", sender=BOB, **mms([url]))).startswith(
        "Saved $40.00 to house: split 2 ways"
    )


async def test_leftover_cents_of_a_rooms_receipts_go_round_its_members(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Each receipt's leftover cent went to the member who joined first: Bob paid it for all three
    of Alice's $10.01 receipts (in a club of 35, the first to join paid nearly every leftover cent
    of a season). Each receipt starts one member further along."""
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    for phone, name in ((BOB, "Bob"), (CAROL, "Carol"), (DAVE, "Dave")):
        assert (await say(bot, fake, "\\JOIN house pw", sender=phone)).startswith("Joined house")
        assert (await say(bot, fake, f"\\NAME {name}", sender=phone)).startswith("Your rooms now see you")
    assert (await say(bot, fake, "\\NAME Alice")).startswith("Your rooms now see you")
    for variant in range(3):
        url = fake.media.add(images.jpeg_with_gps(640, 480, variant=20 + variant))
        assert (await say(bot, fake, "10.01", **mms([url]))).startswith("Saved $10.01 to house: split 4 ways")
    assert await say(bot, fake, "\\BALANCE") == (
        "house: Bob pays Alice $7.51, Carol pays Alice $7.51, Dave pays Alice $7.51."
    )


async def test_a_copy_sent_with_its_total_keeps_the_split_the_first_was_given(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A receipt with no total read, `\\SPLIT bob` ("splits equally among Bob once it has a
    total"), then the same photo again with its total as the caption, which takes the first one's
    place: it was split three ways, the `\\SPLIT` lost."""
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    for phone, name in ((BOB, "Bob"), (CAROL, "Carol")):
        assert (await say(bot, fake, "\\JOIN house pw", sender=phone)).startswith("Joined house")
        assert (await say(bot, fake, f"\\NAME {name}", sender=phone)).startswith("Your rooms now see you")
    unread = images.jpeg_with_gps(640, 480, variant=11)
    first = await say(bot, fake, "", **mms([fake.media.add(unread)]))
    assert first == "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    assert await say(bot, fake, "\\SPLIT bob") == (
        "Your receipt in house splits equally among Bob once it has a total: \\AMOUNT 12.34."
    )
    again = await say(bot, fake, "lunch 12.00", **mms([fake.media.add(unread)]))
    assert again == "Saved $12.00 to house: you are owed $12.00. \\BALANCE for all."
    assert await say(bot, fake, "\\BALANCE", sender=CAROL) == "house: Bob pays +1******1111 $12.00."
    assert await bot.scalar("SELECT count(*) FROM receipts WHERE duplicate_of IS NULL") == 1


async def test_photos_sent_one_a_message_before_any_room_are_told_to_wait_once(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """WhatsApp (and Telegram) send photos one a message: three receipts sent before any room got
    "Photos are kept in rooms: ... within 10 minutes and this photo goes there." three times. The
    first is told; the room made next takes all three; photos that found no room in 10 minutes
    go unsaid, as one alone does."""
    now = [time.time()]
    bot = await bot_factory(
        clock=lambda: now[0], twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"}
    )
    wa, late = "whatsapp:+15550008877", "whatsapp:+15550008878"
    sids: dict[str, list[str]] = {wa: [], late: []}
    for sender, count in ((wa, 3), (late, 2)):
        for _ in range(count):
            form = await bot.text("", sender=sender, **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
            await _parked(bot, form["MessageSid"])
            sids[sender].append(form["MessageSid"])
    await bot.settled()
    told = [m["Body"] for m in fake_twilio.messages]
    assert told == [WAITING, WAITING], told  # once to each sender
    create = await bot.text("\\CREATE house pw", sender=wa)
    assert await bot.handled(create["MessageSid"]) == "done"
    for sid in sids[wa]:
        assert await bot.handled(sid) == "done"
    assert await bot.scalar("SELECT count(*) FROM receipts") == 3
    now[0] += inbox.WAIT_FOR_ROOM + 1
    for sid in sids[late]:
        assert await bot.handled(sid) == "done"  # the worker's poll finds them due
    await bot.settled()
    assert [m["Body"] for m in fake_twilio.messages if m["To"] == late] == [WAITING]


async def test_photos_sent_one_a_message_in_a_store_outage_are_told_once_and_given_up_once(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WhatsApp (and Telegram) send photos one a message: three receipts sent while the media
    store was down got "Got your photos, but they cannot be saved just now ..." three times, and a
    day later "We could not save your photos ... send them again" three times. Each is said once."""
    now = [time.time()]
    bot = await bot_factory(
        clock=lambda: now[0], twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"}
    )
    wa = "whatsapp:+15550008877"
    assert (await say(bot, fake_twilio, "\\CREATE house pw", sender=wa)).startswith("Created room house")
    store = bot.runtime.deps.services.media_store
    assert store is not None

    async def put(key: str, data: bytes, content_type: str) -> None:
        raise StoreUnavailable("injected")

    monkeypatch.setattr(store, "put", put)
    before = len(fake_twilio.messages)
    sids = []
    for variant in range(3):
        url = fake_twilio.media.add(images.jpeg_with_gps(variant=variant))
        form = await bot.text("", sender=wa, **mms([url]))
        await _parked(bot, form["MessageSid"])
        sids.append(form["MessageSid"])
    await bot.settled()
    assert [m["Body"] for m in fake_twilio.messages[before:]] == [STORE_WAIT]
    now[0] += bot.runtime.deps.config.worker.outage_retry_hours * 3600 + 1
    async with bot.runtime.deps.db.tx() as conn:  # their retries, now
        await conn.execute(sa.text("UPDATE inbox SET next_attempt_at = 0 WHERE status = 'parked'"))
    bot.runtime.worker.wake()
    for sid in sids:
        assert await bot.handled(sid) == "failed"
    await bot.settled()
    assert [m["Body"] for m in fake_twilio.messages[before:]] == [STORE_WAIT, GAVE_UP]


def stored_photos(bot: Bot) -> list[Path]:
    """The photos in the local media store (a small folder: listed in the test's thread)."""
    return sorted(Path(bot.config.media.local_dir).rglob("*.jpg"))


async def test_stop_while_a_photo_is_read_leaves_no_photo_in_the_store(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`\\STOP` (or `textwire person delete`) jumps the queue, so it can run while the sender's
    photo is being read, which takes seconds: the photo was stored, its receipt then failed on the
    deleted record, and the file stayed in the media store for good, a receipt photo of someone
    gone that no receipt, retention or `person delete --receipts` would ever find. It is deleted,
    and the goodbye stays the last word."""
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw", sender=CAROL)).startswith("Created room house")
    reading, read_on, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()
    real_read, real_save = media_handler.read_amount, media_handler._save

    async def slow_read(*args: Any, **kwargs: Any) -> Any:
        reading.set()
        await read_on.wait()
        return await real_read(*args, **kwargs)

    async def save(*args: Any, **kwargs: Any) -> Any:
        try:
            return await real_save(*args, **kwargs)
        finally:
            finished.set()

    monkeypatch.setattr(media_handler, "read_amount", slow_read)
    monkeypatch.setattr(media_handler, "_save", save)
    form = await bot.text("$12.00", sender=CAROL, **mms([fake.media.add(images.jpeg_with_gps())]))
    await asyncio.wait_for(reading.wait(), 30)  # stored, being read
    assert stored_photos(bot)
    stop = await bot.text("\\STOP", sender=CAROL)
    assert await bot.handled(stop["MessageSid"]) == "done"
    read_on.set()
    await asyncio.wait_for(finished.wait(), 30)
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    assert stored_photos(bot) == []
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0
    to_carol = [m["Body"] for m in fake.messages if m["To"] == CAROL]
    assert to_carol[-1].startswith("Goodbye from textwire"), to_carol


async def test_a_photo_saved_late_goes_to_the_room_it_was_sent_to(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice texts the house's dinner receipt while the media store is down ("Got your photos
    ... they will be saved"), then `\\USE trip` to send the trip's receipts. When the store came
    back the house's receipt was saved to the trip, and counted there. It goes to the house, the
    room it was sent to."""
    fake = fake_twilio
    await _house_of_three(bot, fake)
    assert (await say(bot, fake, "\\CREATE trip pw")).startswith("Created room trip")
    assert await say(bot, fake, "\\USE house") == "Photos you send now go to house."
    sid, down = await photo_parked_while_the_store_is_down(bot, fake, monkeypatch, "$30.00")
    assert await say(bot, fake, "\\USE trip") == "Photos you send now go to trip."
    down[0] = False
    await _saved_on_its_retry(bot, fake, sid, "Saved $30.00 to house: split 3 ways, you are owed $20.00.")
    assert await say(bot, fake, "\\BALANCE trip") == "trip: all settled."
