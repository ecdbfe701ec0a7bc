"""The account (handlers/account.py): `\\LINK` sends a fresh link to connect X, `\\UNLINK` revokes
and deletes the tokens, `\\STOP` deletes the record (X revoked, every room left, a carrier opt-out
kept) with one goodbye. `\\UNLINK` and `\\STOP` are handled at once."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.channels.twilio.segments import fits_one_segment
from bot.pipeline import replyguard
from handlers.account import UNPAIR_ALONE, UNPAIR_WAIT_SECONDS, WRONG_CODE
from handlers.rooms import LOCKED
from storage import rooms
from tests import images
from tests.conftest import ALICE, BOB, Bot, XBot, browser, link_in, open_confirm_page, wait_for
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_media import mms
from tests.handlers.talk import (
    inbox_row,
    opted_out,
    pair_code,
    people_type_fast,  # noqa: F401 (autouse)
    say,
    silent,
    store_down,
    text,
)

NOT_SET_UP = "Posting to X is not set up on this number."
GOODBYE = (
    "Goodbye from textwire: your X connection and your record are deleted, and you left your "
    "rooms. Receipts you shared stay there. Text us anytime to start again."
)
NOT_IN_ROOM = (
    "You are not in a room. Create one with \\CREATE <room> <password> or join one with "
    "\\JOIN <room> <password>."
)


async def test_link_and_unlink_say_when_x_is_not_set_up(bot: Bot, fake_twilio: FakeTwilio) -> None:
    assert await say(bot, fake_twilio, "\\LINK") == NOT_SET_UP
    assert await say(bot, fake_twilio, "\\unlink") == NOT_SET_UP
    assert await bot.scalar("SELECT count(*) FROM link_tokens") == 0


async def test_link_sends_a_fresh_link_each_time(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await text(xbot, "hello")  # the first text's welcome link
    first = await say(xbot, twilio, "\\LINK")
    second = await say(xbot, twilio, "/link")
    for reply in (first, second):
        assert reply == f"Connect X to post your texts: {link_in(reply)} (10 min). \\HELP: commands"
    assert link_in(first) != link_in(second)
    assert await xbot.scalar("SELECT count(*) FROM link_tokens") == 3
    assert await say(xbot, twilio, "\\LINK now") == "Usage: \\LINK"


async def test_link_while_connected_names_the_account_it_switches_from(xbot: XBot) -> None:
    """`\\LINK` from a connected person answered "Connect X to post your texts", as if they had
    no account: a person checking whether they are connected learnt nothing, and one switching
    accounts was not told which one they had. The link still works: it switches the account."""
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    reply = await say(xbot, twilio, "\\LINK")
    assert (
        reply == f"You post to X as @alice. To switch accounts: {link_in(reply)} (10 min). \\HELP: commands"
    )
    assert fits_one_segment(reply.replace(xbot.config.public_base, "https://" + "h" * 32))
    xbot.x.next_user = ("200", "bob")
    before = len(twilio.messages)
    async with browser() as session:
        url = link_in(reply)
        data, headers = await open_confirm_page(session, url)
        async with session.post(url, data=data, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
    assert (await twilio.wait_for_messages(before + 1))[-1]["Body"].startswith("Connected @bob")
    assert await xbot.scalar("SELECT x_handle FROM users") == "bob"
    await say(xbot, twilio, "\\UNLINK")
    reply = await say(xbot, twilio, "\\LINK")  # none now: the plain link again
    assert reply == f"Connect X to post your texts: {link_in(reply)} (10 min). \\HELP: commands"


async def test_unlink_revokes_at_x_deletes_the_tokens_and_stops_posting(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    refresh = xbot.x.live_grants("100")[0].live_refresh
    assert await say(xbot, twilio, "\\UNLINK") == (
        "Disconnected @alice: your texts are no longer posted to X. Send \\LINK to connect again."
    )
    assert refresh in xbot.x.revoked
    assert await xbot.scalar("SELECT count(*) FROM x_tokens") == 0
    await text(xbot, "not posted")
    assert xbot.x.posts == []
    assert await say(xbot, twilio, "\\UNLINK") == "No X account is connected. Send \\LINK to connect one."


async def test_stop_deletes_the_record_and_leaves_every_room_with_one_goodbye(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    await say(bot, fake_twilio, "\\CREATE house pw1")
    await say(bot, fake_twilio, "\\JOIN house pw1", sender=BOB)
    before = len(fake_twilio.messages)
    assert await say(bot, fake_twilio, "\\STOP") == GOODBYE
    assert len(fake_twilio.messages) == before + 1  # nothing to the room's other members
    assert await bot.rows("SELECT id FROM users WHERE phone = :p", p=ALICE) == []
    assert await bot.scalar("SELECT count(*) FROM memberships") == 1  # Bob's
    assert await bot.scalar("SELECT count(*) FROM rooms") == 1  # the room stays
    # texting again starts over: a new record, in no room
    assert await say(bot, fake_twilio, "\\ROOMS") == NOT_IN_ROOM


@pytest.mark.parametrize("paired", [False, True])
async def test_stop_deletes_at_twilio_the_photos_it_drops(
    bot: Bot, fake_twilio: FakeTwilio, paired: bool
) -> None:
    """A photo sent before any room waits for one, its copy still at Twilio; `\\STOP` drops it
    unsaved (the goodbye is the last word), and nothing recorded the copy any more: it stayed in
    the operator's Twilio account for good. It is deleted there with the drop (that address's
    only, when the person has another)."""
    sender = ALICE
    if paired:  # the paired address's \\STOP: that address leaves, the person stays
        sender = "+15550005555"
        code = await pair_code(bot, fake_twilio)
        assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=sender)).startswith("Paired:")
    url = fake_twilio.media.add(images.jpeg_with_gps())
    form = await bot.text("dinner $24.50", sender=sender, **mms([url]))
    await wait_for(
        lambda: bot.scalar("SELECT status = 'parked' FROM inbox WHERE message_sid = :s", s=form["MessageSid"])
    )
    await bot.settled()  # its "... within 10 minutes and this photo goes there."
    assert fake_twilio.media.deleted == []
    assert (await say(bot, fake_twilio, "\\STOP", sender=sender)).startswith("Goodbye")
    assert fake_twilio.media.deleted == [url.rsplit("/", 1)[1]]
    assert await bot.scalar("SELECT error FROM inbox WHERE message_sid = :s", s=form["MessageSid"]) == (
        "dropped: the sender stopped"
    )


async def test_stop_revokes_x(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    assert await say(xbot, twilio, "\\STOP") == GOODBYE
    assert xbot.x.live_grants("100") == []
    assert await xbot.scalar("SELECT count(*) FROM x_tokens") == 0


async def test_stop_keeps_a_carrier_opt_out(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """After the STOP keyword nothing may be sent to the number, even once its record is gone."""
    await say(bot, fake_twilio, "\\CREATE house pw1")
    await silent(bot, fake_twilio, "STOP")
    await silent(bot, fake_twilio, "\\STOP")  # the goodbye is not sent either
    assert await bot.scalar("SELECT count(*) FROM memberships") == 0
    assert await opted_out(bot, ALICE) is True
    await silent(bot, fake_twilio, "\\HELP")


async def test_unlink_and_stop_are_handled_at_once_link_is_not(bot: Bot, fake_twilio: FakeTwilio) -> None:
    for body, priority in (("\\LINK", 0), ("\\UNLINK", 1), ("/unlink", 1), ("\\STOP", 1), ("\\stop now", 1)):
        sid = await text(bot, body)
        assert (await inbox_row(bot, sid)).priority == priority, body


async def test_a_rooms_creator_who_stops_leaves_it_their_zone_and_no_successor(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A room's zone comes from its creator's number. After the creator's `\\STOP`, SQLite gave
    their user id to the next new person, who became the room's creator: a London number moved
    a New York room's month and reminders to London."""
    creator, newcomer = "+12125550200", "+442071838751"
    await say(bot, fake_twilio, "\\HELP", sender=BOB)  # the creator's id is the highest
    assert (await say(bot, fake_twilio, "\\CREATE nyroom pw", sender=creator)).startswith("Created room")
    assert (await say(bot, fake_twilio, "\\JOIN nyroom pw", sender=BOB)).startswith("Joined nyroom")
    before = "nyroom keeps time in America/New_York, from its creator's number."
    assert (await say(bot, fake_twilio, "\\TIMEZONE", sender=BOB)).startswith(before[:-1])
    creator_id = await bot.scalar("SELECT created_by FROM rooms")
    assert await say(bot, fake_twilio, "\\STOP", sender=creator) == GOODBYE
    await say(bot, fake_twilio, "\\HELP", sender=newcomer)
    assert await bot.scalar("SELECT created_by FROM rooms") is None
    if bot.config.database.url.startswith("sqlite"):  # the id the deleted creator had, given again
        assert await bot.scalar("SELECT id FROM users WHERE phone = :p", p=newcomer) == creator_id
    assert (await say(bot, fake_twilio, "\\TIMEZONE", sender=BOB)).startswith(
        "nyroom keeps time in America/New_York"
    )


async def test_a_member_known_by_telegram_name_keeps_it_when_that_chat_leaves(
    bot_factory: Any, fake_twilio: FakeTwilio, fake_telegram: Any
) -> None:
    """Ann, with no \\\\NAME, was shown to her room by her Telegram first name. She paired her SMS
    number, then sent \\\\STOP in the Telegram chat (that address only): her room saw her as
    +1******1111 from then on, and Bob's `\\\\PAID Ann 5` said no one in house goes by Ann. She keeps
    the name the room knew."""
    from tests.channels.telegram.talk import say as telegram_say

    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())

    async def telegram(body: str) -> str:
        before = len(fake_telegram.sent)
        sid = await telegram_say(bot, body, first_name="Ann")
        assert await bot.handled(sid) == "done"
        return str((await fake_telegram.wait_for_sent(before + 1))[before]["text"])

    async def sms(body: str, sender: str) -> str:
        before = len(fake_twilio.messages)
        form = await bot.text(body, sender=sender)
        assert await bot.handled(form["MessageSid"]) == "done"
        await fake_twilio.wait_for_messages(before + 1)
        await bot.settled()
        [answer] = [m["Body"] for m in fake_twilio.messages[before:] if m["To"] == sender]
        return str(answer)

    await telegram("/create house hunter22")
    code = (await telegram("/pair")).split("Your code: ", 1)[1][:6]
    assert (await sms(f"\\PAIR {code}", ALICE)).startswith("Paired:")
    await sms("\\JOIN house hunter22", BOB)
    assert (await telegram("/stop")).startswith("Goodbye from textwire at this address")
    assert (
        await sms("\\PAID Ann 5", BOB) == "Recorded: you paid Ann $5.00. house: Ann pays +1******2222 $5.00."
    )
    notice = "+1******2222 paid you $5.00 in house. \\BALANCE house for all."
    assert [m["Body"] for m in fake_twilio.messages if m["To"] == ALICE].count(notice) == 1


async def test_a_paired_address_that_opted_out_stays_opted_out_after_its_stop(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A paired number that sent STOP, then `\\STOP` (that address only): the address was deleted
    with its opt-out, so every answer after its goodbye went to a number that had opted out (an
    unpaired one keeps it: `test_stop_keeps_a_carrier_opt_out`)."""
    second = "+15550005555"
    await say(bot, fake_twilio, "\\CREATE house pw1")
    code = await pair_code(bot, fake_twilio)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=second)).startswith("Paired:")
    await silent(bot, fake_twilio, "STOP", sender=second)
    assert (await say(bot, fake_twilio, "\\STOP", sender=second)).startswith("Goodbye from textwire at this")
    assert await opted_out(bot, second) is True
    await silent(bot, fake_twilio, "\\HELP", sender=second)
    assert (await say(bot, fake_twilio, "\\ROOMS")).startswith("Your rooms: house")


async def test_a_rooms_creator_who_pairs_elsewhere_leaves_it_their_zone(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A room's zone comes from its creator's number. The New York creator left the room and sent
    another person's `\\\\PAIR` code: their record went, and the room lost its zone (or, on SQLite,
    went to the next new person's number with their id)."""
    creator = "+12125550200"
    assert (await say(bot, fake_twilio, "\\CREATE nyroom pw", sender=creator)).startswith("Created room")
    assert (await say(bot, fake_twilio, "\\JOIN nyroom pw", sender=BOB)).startswith("Joined nyroom")
    assert (await say(bot, fake_twilio, "\\LEAVE", sender=creator)).startswith("You left nyroom")
    code = await pair_code(bot, fake_twilio)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=creator)).startswith("Paired:")
    await say(bot, fake_twilio, "\\HELP", sender="+442071838751")  # a new person, maybe with that id
    assert (await say(bot, fake_twilio, "\\TIMEZONE", sender=BOB)).startswith(
        "nyroom keeps time in America/New_York"
    )


async def test_a_rooms_zone_stays_when_its_creators_number_leaves_their_pairing(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A room takes its zone from its creator's first address. The New York creator paired another
    address (a Telegram chat, which has no zone; here a London number) and then sent `\\\\STOP` from
    the New York number (that address only): the next address took its place, and the room's
    reminders and statements moved to UTC (or London). The room keeps New York's time."""
    creator, london = "+12125550300", "+442071838752"
    assert (await say(bot, fake_twilio, "\\CREATE nyroom pw", sender=creator)).startswith("Created room")
    assert (await say(bot, fake_twilio, "\\JOIN nyroom pw", sender=BOB)).startswith("Joined nyroom")
    code = await pair_code(bot, fake_twilio, creator)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=london)).startswith("Paired:")
    assert (await say(bot, fake_twilio, "\\STOP", sender=creator)).startswith("Goodbye from textwire at this")
    assert (await say(bot, fake_twilio, "\\TIMEZONE", sender=BOB)).startswith(
        "nyroom keeps time in America/New_York"
    )
    assert (await say(bot, fake_twilio, "\\TIMEZONE", sender=london)).startswith(
        "nyroom keeps time in America/New_York"
    )
    # the other way round: rooms on UTC (an address with no zone, as a Telegram chat) stay on it
    plain, paris = "+15550007000", "+33142685300"
    assert (await say(bot, fake_twilio, "\\CREATE utcroom pw", sender=plain)).startswith("Created room")
    code = await pair_code(bot, fake_twilio, plain)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=paris)).startswith("Paired:")
    assert (await say(bot, fake_twilio, "\\STOP", sender=plain)).startswith("Goodbye from textwire at this")
    assert (await say(bot, fake_twilio, "\\TIMEZONE", sender=paris)).startswith("utcroom keeps time in UTC")


async def test_paired_names_the_other_addresss_channel(bot_factory: Any, fake_twilio: FakeTwilio) -> None:
    """`\\\\PAIR <code>` from the WhatsApp of the number that asked for the code answered "Paired:
    this address and +1******1111 are one person now": on WhatsApp +1******1111 that read as the
    address paired with itself. The reply names the other address's channel."""
    bot = await bot_factory(twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"})
    code = await pair_code(bot, fake_twilio)
    whatsapp = "whatsapp:" + ALICE
    assert await say(bot, fake_twilio, f"\\PAIR {code}", sender=whatsapp) == (
        "Paired: this address and SMS +1******1111 are one person now: same name, rooms and balances."
    )
    first = "whatsapp:+15550006666"  # a person who began on WhatsApp pairs the number's SMS
    code = await pair_code(bot, fake_twilio, first)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender="+15550006666")).startswith(
        "Paired: this address and WhatsApp +1******6666 are one person now"
    )


async def test_replies_delayed_over_the_budget_are_not_sent_after_the_goodbye(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replies over a number's budget wait for their time; `\\STOP` is answered at once. The ones
    still waiting went out half a minute after "Goodbye from textwire", to a person who had just
    deleted their account (or, from a paired address, been told "nothing of yours comes here"):
    the goodbye is the last word, and they are skipped."""
    monkeypatch.setattr(replyguard, "BUDGET", 10)  # the real budget (people_type_fast raised it)
    second = "+15550005566"
    code = await pair_code(bot, fake_twilio)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=second)).startswith("Paired:")
    for sender in (second, ALICE):  # that address alone, then the whole account
        for _ in range(replyguard.BUDGET + 2):
            form = await bot.text("\\ROOMS", sender=sender)
            await bot.handled(form["MessageSid"])
        waiting = "SELECT count(*) FROM outbox WHERE status = 'queued' AND to_phone = :p"
        assert await bot.scalar(waiting, p=sender) >= 2  # over the budget: waiting for their time
        stop = await bot.text("\\STOP", sender=sender)
        assert await bot.handled(stop["MessageSid"]) == "done"
        await bot.settled()
        assert await bot.scalar(waiting, p=sender) == 0
        skipped = "SELECT count(*) FROM outbox WHERE error = 'superseded' AND to_phone = :p"
        assert await bot.scalar(skipped, p=sender) >= 2
        assert [m["Body"][:21] for m in fake_twilio.messages if m["To"] == sender][
            -1
        ] == "Goodbye from textwire"


async def test_a_notice_waiting_at_an_address_that_stops_goes_to_the_persons_other_one(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tom wrote a lot from his new number; Ann's `\\PAID` notice to him waited there for the
    number's budget, and he sent `\\STOP` from it. The notice was dropped with the address, and
    Tom never heard that Ann paid him. It goes to the address he still has; his own answers
    waiting there are still skipped (the goodbye is that address's last word)."""
    monkeypatch.setattr(replyguard, "BUDGET", 10)  # the real budget (people_type_fast raised it)
    tom2 = "+15550005566"
    assert (await say(bot, fake_twilio, "\\CREATE house pw")).startswith("Created room house")
    assert (await say(bot, fake_twilio, "\\JOIN house pw", sender=BOB)).startswith("Joined house")
    assert (await say(bot, fake_twilio, "\\NAME Tom", sender=BOB)).startswith("Your rooms now see")
    code = await pair_code(bot, fake_twilio, BOB)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=tom2)).startswith("Paired:")
    for _ in range(replyguard.BUDGET + 2):
        form = await bot.text("\\ROOMS", sender=tom2)
        await bot.handled(form["MessageSid"])
    assert (await say(bot, fake_twilio, "\\PAID Tom 5")).startswith("Recorded")
    waiting = "SELECT count(*) FROM outbox WHERE status = 'queued' AND kind = 'paid' AND to_phone = :p"
    assert await bot.scalar(waiting, p=tom2) == 1  # over tom2's budget: waiting for its time
    stop = await bot.text("\\STOP", sender=tom2)
    assert await bot.handled(stop["MessageSid"]) == "done"

    async def noticed() -> list[str] | None:
        return [m["Body"] for m in fake_twilio.messages if m["To"] == BOB and "paid you" in m["Body"]] or None

    assert "$5.00" in (await wait_for(noticed))[0]
    await bot.settled()
    assert [m["Body"][:21] for m in fake_twilio.messages if m["To"] == tom2][-1] == "Goodbye from textwire"
    skipped = "SELECT count(*) FROM outbox WHERE error = 'superseded' AND to_phone = :p"
    assert await bot.scalar(skipped, p=tom2) >= 1  # his \\ROOMS answers: not moved


async def test_wrong_pair_codes_from_sms_lock_out_the_numbers_whatsapp_too(
    bot_factory: Any, fake_twilio: FakeTwilio
) -> None:
    """A number locked out after 5 wrong codes guessed 5 more from its WhatsApp (`whatsapp:` and
    the same phone): one phone, one count."""
    bot = await bot_factory(twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"})
    for _ in range(rooms.LOCKOUT_FAILURES):
        assert await say(bot, fake_twilio, "\\PAIR 000000", sender=BOB) == WRONG_CODE
    assert await say(bot, fake_twilio, "\\PAIR 000000", sender="whatsapp:" + BOB) == LOCKED


async def test_wrong_pair_codes_past_the_lockout_are_told_once(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """After 5 wrong codes, every further `\\\\PAIR <code>` was answered "Too many wrong passwords
    or codes ...", a text each (a script guessing codes was answered as fast as it guessed), where
    `\\\\JOIN` is told once per 15 minutes and silent after. `\\\\PAIR` follows the same rule, and
    shares the one notice: a number told by one is not told again by the other."""
    for _ in range(rooms.LOCKOUT_FAILURES):
        assert await say(bot, fake_twilio, "\\PAIR 000000", sender=BOB) == WRONG_CODE
    assert await say(bot, fake_twilio, "\\PAIR 000000", sender=BOB) == LOCKED
    await silent(bot, fake_twilio, "\\PAIR 000000", sender=BOB)
    await silent(bot, fake_twilio, "\\JOIN house pw", sender=BOB)
    assert await say(bot, fake_twilio, "\\HELP", sender=BOB) != LOCKED  # the rest still answers


async def test_an_address_only_in_rooms_is_told_to_leave_them_to_pair(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Chloé's new number (or Telegram account) joined the flat before she learnt of `\\\\PAIR`.
    Her code was refused with "neither can join the other without losing them", though nothing in
    the flat was the new address's: it can leave and pair. It is told so; with a share of a bill
    of its own it is refused as before."""
    new = "+15550007777"
    await say(bot, fake_twilio, "\\CREATE flat pw1")
    await say(bot, fake_twilio, "\\JOIN flat pw1", sender=new)
    code = await pair_code(bot, fake_twilio)
    assert await say(bot, fake_twilio, f"\\PAIR {code}", sender=new) == (
        "This address is in rooms with nothing of its own there: \\LEAVE each here (\\ROOMS lists "
        "them), then send the code again."
    )
    await say(bot, fake_twilio, "\\LEAVE flat", sender=new)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=new)).startswith("Paired:")

    other = "+15550008888"
    await say(bot, fake_twilio, "\\JOIN flat pw1", sender=other)
    await say(bot, fake_twilio, "$12.00", **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    code = await pair_code(bot, fake_twilio)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=other)).endswith(
        "neither can join the other without losing them."
    )


async def test_an_x_account_whose_code_owner_has_nothing_is_told_to_pair_the_other_way(xbot: XBot) -> None:
    """Ana posts to X from her number and asked for a code on her new one, which has nothing yet.
    Her number's `\\\\PAIR <code>` was told to `\\\\UNLINK` first (her X connection gone, to link
    again after), where pairing the other way loses nothing: it is told that, and it works."""
    twilio: FakeTwilio = xbot.extras["twilio"]
    new = "+15550007777"
    await xbot.link(user=("100", "ana"))
    code = await pair_code(xbot, twilio, sender=new)
    assert await say(xbot, twilio, f"\\PAIR {code}") == (
        "This address has an X account of its own. Pair the other way: send \\PAIR here, then the "
        "code from your other address."
    )
    code = await pair_code(xbot, twilio)
    assert (await say(xbot, twilio, f"\\PAIR {code}", sender=new)).startswith("Paired:")
    linked = "SELECT x_handle FROM users JOIN addresses ON addresses.user_id = users.id WHERE address = :a"
    assert await xbot.scalar(linked, a=new) == "ana"


async def test_an_address_that_leaves_by_stop_takes_its_x_links_with_it(xbot: XBot) -> None:
    """Maria paired her new number and sent `\\\\STOP` from the old one ("nothing of yours comes
    here"). A `\\\\LINK` texted to the old number a minute before still worked: the page offered to
    connect X to her new number, and whoever held the old phone connected their X account, and
    her texts from the new number went to it. So did a sign-in begun from that link, finished at
    X after the `\\\\STOP`. Both die with the address; her X account stays as it was."""
    twilio: FakeTwilio = xbot.extras["twilio"]
    new = "+15550009999"
    await xbot.link(user=("100", "maria"))
    code = await pair_code(xbot, twilio)
    assert (await say(xbot, twilio, f"\\PAIR {code}", sender=new)).startswith("Paired:")
    xbot.x.next_user = ("200", "stranger")
    async with browser() as begun:
        # a sign-in begun on the old phone: its button pressed, X's page open, not yet approved
        url = link_in(await say(xbot, twilio, "\\LINK"))
        data, headers = await open_confirm_page(begun, url)
        async with begun.post(url, data=data, headers=headers, allow_redirects=False) as resp:
            authorize = str(resp.headers["Location"])
        unused = link_in(await say(xbot, twilio, "\\LINK"))  # and one not opened yet (the newest)
        assert (await say(xbot, twilio, "\\STOP")).startswith("Goodbye from textwire at this address")
        async with begun.get(authorize, allow_redirects=False) as resp:
            callback = str(resp.headers["Location"])
        async with begun.get(callback) as resp:
            assert resp.status == 400, await resp.text()
    async with browser() as session, session.get(unused) as resp:
        assert resp.status == 404, await resp.text()
    await xbot.settled()
    assert await xbot.scalar("SELECT x_handle FROM users") == "maria"
    assert [m["Body"] for m in twilio.messages if m["To"] == new][-1].startswith("Paired:")


async def test_unpair_lists_the_addresses_and_an_older_one_takes_a_new_one_out(
    bot_factory: Any, fake_twilio: FakeTwilio
) -> None:
    """A 6-digit `\\PAIR` code read over someone's shoulder joined a stranger's number to them for
    good: no one was told, and nothing could take it out (`\\STOP` ends only the address it is
    sent from). The address that asked for the code is told at once, and `\\UNPAIR <number>` from
    it takes the stranger out; the stranger's address, paired a moment ago, cannot take the
    person's own number out, and may a day later."""
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    stranger, third = "+15550009999", "+15550007777"
    assert (await say(bot, fake_twilio, "\\CREATE house pw12345")).startswith("Created room house")
    assert await say(bot, fake_twilio, "\\UNPAIR") == UNPAIR_ALONE
    code = await pair_code(bot, fake_twilio)
    before = len(fake_twilio.messages)
    await text(bot, f"\\PAIR {code}", sender=stranger)
    told = [m["Body"] for m in fake_twilio.messages[before:] if m["To"] == ALICE]
    assert told == ["SMS +1******9999 is you too now (\\PAIR). Not you? Send \\UNPAIR to take it out."]

    assert await say(bot, fake_twilio, "\\UNPAIR", sender=stranger) == (
        "You are at: 1 SMS +1******1111, 2 SMS +1******9999 (here). Paired under a day ago: "
        "\\UNPAIR from another. \\STOP takes this one out."
    )
    too_soon = "This address was paired less than a day ago, so it cannot take others out yet: send \\UNPAIR from another."
    assert await say(bot, fake_twilio, "\\UNPAIR 1", sender=stranger) == too_soon
    assert await say(bot, fake_twilio, "/depair 1", sender=stranger) == too_soon  # as people type it
    assert await say(bot, fake_twilio, "\\ROOMS") == "Your rooms: house (active)."  # still there
    assert await say(bot, fake_twilio, "\\UNPAIR") == (
        "You are at: 1 SMS +1******1111 (here), 2 SMS +1******9999. \\UNPAIR 2 takes that one out; "
        "\\STOP here takes this one out."
    )
    assert (
        await say(bot, fake_twilio, "\\UNPAIR 1")
        == "That is this address: send \\STOP here to take it out of you."
    )
    assert await say(bot, fake_twilio, "\\UNPAIR 3") == (
        "You have no address 3. \\UNPAIR alone lists yours with their numbers."
    )
    assert await say(bot, fake_twilio, "\\UNPAIR \u0663") == (  # an Arabic-Indic keyboard's 3
        "You have no address 3. \\UNPAIR alone lists yours with their numbers."
    )
    assert await say(bot, fake_twilio, "\\UNPAIR #2") == (
        "Took SMS +1******9999 out of you. Your rooms and balances stay here."
    )
    assert await say(bot, fake_twilio, "\\ROOMS", sender=stranger) == NOT_IN_ROOM  # a new person there
    assert await say(bot, fake_twilio, "\\UNPAIR") == UNPAIR_ALONE

    # a day after pairing, the new address is as good as the first
    code = await pair_code(bot, fake_twilio)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=third)).startswith("Paired:")
    now[0] += UNPAIR_WAIT_SECONDS + 1
    assert await say(bot, fake_twilio, "\\UNPAIR 1", sender=third) == (
        "Took SMS +1******1111 out of you. Your rooms and balances stay here."
    )
    assert await say(bot, fake_twilio, "\\ROOMS", sender=third) == "Your rooms: house (active)."


async def test_the_pairing_notice_names_every_address_that_came_along(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A stranger with two addresses paired to each other (nothing of their own yet) sends Alice's
    overheard code from one: both become Alice. She was told of the one that sent it only, and
    after `\\\\UNPAIR`ing it the other was still her, in her rooms. The notice names both."""
    stranger, second = "+15550009999", "+15550007777"
    await say(bot, fake_twilio, "\\CREATE house pw12345")
    theirs = await pair_code(bot, fake_twilio, sender=stranger)
    assert (await say(bot, fake_twilio, f"\\PAIR {theirs}", sender=second)).startswith("Paired:")
    code = await pair_code(bot, fake_twilio)
    before = len(fake_twilio.messages)
    await text(bot, f"\\PAIR {code}", sender=second)
    told = [m["Body"] for m in fake_twilio.messages[before:] if m["To"] == ALICE]
    assert told == [
        "SMS +1******7777 and SMS +1******9999 are you too now (\\PAIR). Not you? Send \\UNPAIR to "
        "take them out."
    ]
    assert fits_one_segment(told[0])


async def test_unpair_leaves_the_address_as_its_own_stop_does(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """What `\\UNPAIR` takes out leaves the person as after that address's own `\\STOP`: its
    carrier opt-out stays (nothing is sent there), and it is no longer the person's."""
    second = "+15550004444"
    await say(bot, fake_twilio, "\\CREATE house pw1")
    code = await pair_code(bot, fake_twilio)
    await text(bot, f"\\PAIR {code}", sender=second)
    await silent(bot, fake_twilio, "STOP", sender=second)  # the carrier's opt-out, not \\STOP
    assert (await say(bot, fake_twilio, "\\UNPAIR 2")).startswith("Took SMS +1******4444 out of you.")
    assert await opted_out(bot, second) is True  # its own record now, opted out
    await silent(bot, fake_twilio, "\\HELP", sender=second)
    owner = "SELECT count(*) FROM addresses a JOIN users u ON u.id = a.user_id WHERE u.phone = :p"
    assert await bot.scalar(owner, p=ALICE) == 1
    assert (await say(bot, fake_twilio, "\\ROOMS")).startswith("Your rooms: house")


async def test_unpair_drops_what_the_address_sent_that_still_waits(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stranger's number paired with an overheard code sends a photo while the media store is
    down: it waits to be saved. Taken out with `\\UNPAIR`, the address had that photo handled later
    as a newcomer's ("\\CREATE <room> <password> ... within 10 minutes and this photo goes
    there"), its copy kept at Twilio. What the address sent before the `\\UNPAIR` and still waits is
    dropped, as after its own `\\STOP`, and its photo's copy deleted at Twilio."""
    stranger = "+15550009999"
    await say(bot, fake_twilio, "\\CREATE house pw12345")
    code = await pair_code(bot, fake_twilio)
    await text(bot, f"\\PAIR {code}", sender=stranger)
    down = store_down(bot, monkeypatch)
    url = fake_twilio.media.add(images.jpeg_with_gps())
    form = await bot.text("$30.00", sender=stranger, **mms([url]))
    sid = form["MessageSid"]
    await wait_for(lambda: bot.scalar("SELECT status = 'parked' FROM inbox WHERE message_sid = :s", s=sid))
    await bot.settled()
    told = len([m for m in fake_twilio.messages if m["To"] == stranger])
    assert await say(bot, fake_twilio, "\\UNPAIR 2") == (
        "Took SMS +1******9999 out of you. Your rooms and balances stay here."
    )
    down[0] = False
    assert await bot.scalar("SELECT status FROM inbox WHERE message_sid = :s", s=sid) == "done"
    assert await bot.scalar("SELECT error FROM inbox WHERE message_sid = :s", s=sid) == (
        "dropped: the sender stopped"
    )
    assert fake_twilio.media.deleted == [url.rsplit("/", 1)[1]]
    await bot.settled()
    assert len([m for m in fake_twilio.messages if m["To"] == stranger]) == told
    assert await bot.scalar("SELECT count(*) FROM receipts") == 0
    assert await bot.scalar("SELECT count(*) FROM users WHERE phone = :p", p=stranger) == 0
    # the address's next text is a newcomer's, as after its own \\STOP
    assert await say(bot, fake_twilio, "\\ROOMS", sender=stranger) == NOT_IN_ROOM


async def test_the_pairing_notice_and_unpair_list_show_a_telegram_chats_first_name(
    bot_factory: Any, fake_twilio: FakeTwilio, fake_telegram: Any
) -> None:
    """A stranger's Telegram chat that paired with an overheard code was shown as `Telegram ***7001`
    alone: the person could not tell it from their own. Its first name, as Telegram gives it, is
    shown in the pairing notice and in `\\UNPAIR`'s list."""
    from tests.channels.telegram.talk import say as telegram_say

    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    code = await pair_code(bot, fake_twilio)
    before = len(fake_telegram.sent)
    assert await bot.handled(await telegram_say(bot, f"/pair {code}", first_name="Mallory")) == "done"
    await fake_telegram.wait_for_sent(before + 1)
    await bot.settled()
    told = [m["Body"] for m in fake_twilio.messages if m["To"] == ALICE][-1]
    assert (
        told == "Telegram ***7001 (Mallory) is you too now (\\PAIR). Not you? Send \\UNPAIR to take it out."
    )
    assert await say(bot, fake_twilio, "\\UNPAIR") == (
        "You are at: 1 SMS +1******1111 (here), 2 Telegram ***7001 (Mallory). \\UNPAIR 2 takes that one "
        "out; \\STOP here takes this one out."
    )


async def test_the_unpair_list_of_sms_whatsapp_and_a_telegram_chat_fits_one_sms(
    bot_factory: Any, fake_twilio: FakeTwilio, fake_telegram: Any
) -> None:
    """A person on SMS, WhatsApp and Telegram (Maria Fernanda there) who sent `\\UNPAIR` by SMS
    got their list in two segments, billed twice (the chat's name, or the day-old address's
    longer advice, took it past 160 characters). To an SMS number it fits one: without the
    chat's name when that is what it takes, and with shorter advice when even that is not
    enough; the chat's own list still shows the name."""
    from tests.channels.telegram.talk import OTHER_CHAT
    from tests.channels.telegram.talk import answer as telegram_answer

    bot = await bot_factory(
        twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"},
        telegram=fake_telegram.section(),
    )
    maria = "Maria Fernanda"
    code = await pair_code(bot, fake_twilio)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender="whatsapp:" + ALICE)).startswith("Paired:")
    code = await pair_code(bot, fake_twilio)
    assert (await telegram_answer(bot, fake_telegram, f"/pair {code}", first_name=maria)).startswith(
        "Paired:"
    )
    listed = await say(bot, fake_twilio, "\\UNPAIR")
    assert listed == (
        "You are at: 1 SMS +1******1111 (here), 2 WhatsApp +1******1111, 3 Telegram ***7001. "
        "\\UNPAIR and a number take one out; \\STOP here takes this one out."
    )
    assert fits_one_segment(listed)
    there = await telegram_answer(bot, fake_telegram, "/unpair", first_name=maria)
    assert f"3 Telegram ***7001 ({maria}) (here)" in there, there

    # a person who began on Telegram, and whose SMS number was paired a moment ago
    await telegram_answer(bot, fake_telegram, "/start", chat=OTHER_CHAT, first_name=maria)
    for address in ("whatsapp:" + BOB, BOB):
        offer = await telegram_answer(bot, fake_telegram, "/pair", chat=OTHER_CHAT, first_name=maria)
        code = offer.split("Your code: ", 1)[1][:6]
        assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=address)).startswith("Paired:")
    listed = await say(bot, fake_twilio, "\\UNPAIR", sender=BOB)
    assert listed == (
        "You are at: 1 Telegram ***7002, 2 WhatsApp +1******2222, 3 SMS +1******2222 (here). "
        "Paired under a day ago: \\UNPAIR from another. \\STOP takes this one out."
    )
    assert fits_one_segment(listed)


@pytest.mark.parametrize(
    ("first_name", "shown"),
    [("Zo\u00eb \U0001f338", " (Zoe)"), ("\u674e\u660e", "")],
    ids=["accent-and-emoji", "another-script"],
)
async def test_a_telegram_first_name_is_spelt_for_sms_in_the_pairing_notice_and_unpair_list(
    bot_factory: Any, fake_twilio: FakeTwilio, fake_telegram: Any, first_name: str, shown: str
) -> None:
    """A first name with an emoji or a letter GSM-7 lacks (`Zo\u00eb \U0001f338`) made the pairing
    notice too long for one UCS-2 segment, so it went without the name it was there to show, and
    `\\UNPAIR`'s list to the SMS number carried it as typed: the SMS went UCS-2, two segments
    instead of one. To an SMS number the name is spelt as the rooms show it (Zoe), and one in
    another script is left out; the Telegram chat's own list shows it as Telegram gives it."""
    from tests.channels.telegram.talk import answer as telegram_answer
    from tests.channels.telegram.talk import say as telegram_say

    bot = await bot_factory(twilio=fake_twilio.section(), telegram=fake_telegram.section())
    code = await pair_code(bot, fake_twilio)
    before = len(fake_telegram.sent)
    assert await bot.handled(await telegram_say(bot, f"/pair {code}", first_name=first_name)) == "done"
    await fake_telegram.wait_for_sent(before + 1)
    await bot.settled()
    told = [m["Body"] for m in fake_twilio.messages if m["To"] == ALICE][-1]
    assert told == (
        f"Telegram ***7001{shown} is you too now (\\PAIR). Not you? Send \\UNPAIR to take it out."
    )
    listed = await say(bot, fake_twilio, "\\UNPAIR")
    assert listed == (
        f"You are at: 1 SMS +1******1111 (here), 2 Telegram ***7001{shown}. \\UNPAIR 2 takes that one "
        "out; \\STOP here takes this one out."
    )
    assert fits_one_segment(told)
    assert fits_one_segment(listed)
    there = await telegram_answer(bot, fake_telegram, "/unpair", first_name=first_name)
    assert f"2 Telegram ***7001 ({first_name}) (here)" in there, there
