"""Rooms: create, join (also bare JOIN), wrong password, lockout, leave, use, rooms, receipts link;
passwords never stored or logged in clear."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

import handlers.rooms as rooms_handlers
from bot.channels.twilio.segments import fits_one_segment
from bot.pipeline import replyguard
from handlers.filters import ROOM_NAMES
from handlers.rooms import (
    LOCKED,
    NOT_IN_ROOM,
    ROOM_LETTERS,
    ROOM_LOCKED,
    WRONG,
    WRONG_CAPITAL,
    room_spelt,
    too_long,
    wrong_for,
)
from storage import inbox, rooms
from storage.schema import metadata
from tests import images
from tests.conftest import ALICE, BOB, Bot, BotFactory, new_message, new_sid, wait_for
from tests.fakes.twilio_rest import FakeTwilio

CAROL = "+15550003333"
PASSWORD = "hunter2"  # a distinctive string: searched for in the database and the logs


async def say(bot: Bot, fake: FakeTwilio, body: str, sender: str = ALICE) -> str:
    """Text the bot and return its reply (as Twilio got it): the first message to `sender` after
    it (a `\\PAIR <code>` tells the address that asked for the code too)."""
    before = len(fake.messages)
    form = await bot.text(body, sender=sender)
    assert await bot.handled(form["MessageSid"]) == "done"

    async def reply() -> str | None:
        return next((m["Body"] for m in fake.messages[before:] if m["To"] == sender), None)

    return str(await wait_for(reply))


async def silent(bot: Bot, fake: FakeTwilio, body: str, sender: str = ALICE) -> None:
    """Text the bot; it handles the message and answers nothing."""
    before = len(fake.messages)
    form = await bot.text(body, sender=sender)
    assert await bot.handled(form["MessageSid"]) == "done"
    await bot.settled()
    assert len(fake.messages) == before


async def dump_database(bot: Bot) -> str:
    """Every row of every table, as text."""
    tables = [table.name for table in metadata.sorted_tables]
    out = []
    for table in tables:
        for row in await bot.rows(f'SELECT * FROM "{table}"'):  # noqa: S608 - table names from the schema
            out.append(json.dumps([str(v) for v in row]))
    return "\n".join(out)


async def test_create_joins_the_creator_and_makes_it_active(bot: Bot, fake_twilio: FakeTwilio) -> None:
    reply = await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    assert reply.startswith("Created room house")
    [room] = await bot.rows("SELECT id, name, name_key, password_hash FROM rooms")
    assert room.name == "house"
    assert room.name_key == "house"
    assert len(room.id) == 36
    assert room.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in room.password_hash
    user = await bot.scalar("SELECT id FROM users WHERE phone = :p", p=ALICE)
    assert await bot.scalar("SELECT active_room_id FROM users WHERE id = :u", u=user) == room.id
    assert await bot.scalar("SELECT count(*) FROM memberships WHERE user_id = :u", u=user) == 1
    assert await say(bot, fake_twilio, "\\ROOMS") == "Your rooms: house (active)."


async def test_a_new_number_creating_a_room_gets_a_room_not_a_link(bot: Bot, fake_twilio: FakeTwilio) -> None:
    reply = await say(bot, fake_twilio, "\\CREATE house pw", sender=CAROL)
    assert reply.startswith("Created room house")
    assert "/x/link/" not in reply


async def test_names_are_case_insensitive_and_taken_names_are_said_taken(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    await say(bot, fake_twilio, f"\\CREATE House {PASSWORD}")
    reply = await say(bot, fake_twilio, "/create HOUSE other", sender=BOB)
    assert reply == "The name HOUSE is taken. Pick another name for your room."
    assert await bot.scalar("SELECT count(*) FROM rooms") == 1
    # joining with any case works
    assert (await say(bot, fake_twilio, f"\\join hOuSe {PASSWORD}", sender=BOB)).startswith("Joined House")


async def test_usage_and_name_rules(bot: Bot, fake_twilio: FakeTwilio) -> None:
    rules = "Room names are 1-32 letters, digits, - or _ (no spaces)."
    # \\CREATE and \\JOIN also say that a password is one word: `\\JOIN house my pw` was told
    # only what a room name is, as if the room were the trouble
    both = "Room names are 1-32 letters, digits, - or _ (no spaces), and a password is one word."
    assert await say(bot, fake_twilio, "\\CREATE house") == f"Usage: \\CREATE <room> <password>. {both}"
    assert await say(bot, fake_twilio, "\\JOIN") == f"Usage: \\JOIN <room> <password>. {both}"
    assert await say(bot, fake_twilio, "\\JOIN house my pw") == f"Usage: \\JOIN <room> <password>. {both}"
    assert await say(bot, fake_twilio, "\\USE") == f"Usage: \\USE <room>. {rules}"
    # a room name of two words got only the usage, which the person thought they had followed
    assert await say(bot, fake_twilio, "\\CREATE my house pw") == f"Usage: \\CREATE <room> <password>. {both}"
    assert await say(bot, fake_twilio, "\\BALANCE my house") == f"Usage: \\BALANCE [<room>]. {rules}"
    assert await say(bot, fake_twilio, "\\LEAVE my house") == f"Usage: \\LEAVE [<room>]. {rules}"
    reply = await say(bot, fake_twilio, "\\CREATE hou$e pw")
    assert reply.startswith(rules)
    reply = await say(bot, fake_twilio, f"\\CREATE {'x' * 33} pw")
    assert reply.startswith("Room names are")
    print(
        "DBG",
        await bot.rows("SELECT message_sid, status, error FROM inbox"),
        await bot.rows("SELECT * FROM rooms"),
    )
    assert await bot.scalar("SELECT count(*) FROM rooms") == 0


async def test_join_and_bare_join(bot: Bot, fake_twilio: FakeTwilio) -> None:
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    await say(bot, fake_twilio, "\\CREATE trip pw2", sender=BOB)
    reply = await say(bot, fake_twilio, f"JOIN house {PASSWORD}", sender=BOB)
    assert reply.startswith("Joined house")
    assert await say(bot, fake_twilio, "\\ROOMS", sender=BOB) == (
        "Your rooms: house (active), trip. Switch with \\USE <room>."
    )
    again = await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=BOB)
    assert again == "You are in house already; it is now your active room."
    # bare JOIN is upper case with exactly two words; otherwise it is no command
    count = await bot.scalar("SELECT count(*) FROM memberships")
    for body in ("join trip pw2", "JOIN trip pw2 please"):
        form = await bot.text(body, sender=CAROL)
        await bot.handled(form["MessageSid"])
    assert await bot.scalar("SELECT count(*) FROM memberships") == count


async def test_a_room_name_in_quotes_or_before_a_comma_is_that_room(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\JOIN "house" pw` (or a phone's smart quotes, or `house,`) answered "No room with that
    name and password" and counted a wrong password toward the lockout: a room's name has no
    quotes or punctuation, so they are what was typed around it."""
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    assert (await say(bot, fake_twilio, f'\\JOIN "house" {PASSWORD}', sender=BOB)).startswith("Joined house")
    assert (await say(bot, fake_twilio, f"\\join \u201cHouse\u201d {PASSWORD}", sender=CAROL)).startswith(
        "Joined house"
    )
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0
    assert (await say(bot, fake_twilio, f"\\CREATE 'trip', {PASSWORD}", sender=BOB)).startswith(
        "Created room trip;"
    )
    assert await say(bot, fake_twilio, "\\USE house.", sender=BOB) == "Photos you send now go to house."
    assert await say(bot, fake_twilio, "\\BALANCE \u2018trip\u2019", sender=BOB) == "trip: all settled."
    assert (
        await say(bot, fake_twilio, '\\LEAVE "trip"?', sender=BOB)
        == "You left trip. Your active room is house."
    )


async def test_rooms_that_do_not_fit_one_message_are_listed_by_the_next_pages(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: Any
) -> None:
    """A person in 22 rooms got "Your rooms: ... and 10 more" with no way to see those 10: the
    reply says which page lists them (`\\ROOMS 2`), and the pages together list every room once."""
    monkeypatch.setattr(replyguard, "BUDGET", 100)  # faster than anyone types
    names = [
        f"{word}{n:02}" for n, word in enumerate(["household", "trip-to-rome", "lunch-club"] * 7 + ["zz"])
    ]
    for name in names:
        await say(bot, fake_twilio, f"\\CREATE {name} {PASSWORD}")
    await say(bot, fake_twilio, "\\USE lunch-club02")
    first = await say(bot, fake_twilio, "\\ROOMS")
    assert first.startswith("Your rooms: household00, household03, ")
    assert "lunch-club02 (active)" in first
    assert fits_one_segment(first)
    listed = first.removeprefix("Your rooms: ").split(" and ")[0].replace(" (active)", "").split(", ")
    page = 1
    while " more: \\ROOMS " in first:
        more = int(first.split(" and ")[1].split(" more")[0])
        page += 1
        assert f" more: \\ROOMS {page} lists them." in first
        first = await say(bot, fake_twilio, f"\\ROOMS {page}")
        assert fits_one_segment(first)
        assert first.startswith(f"Your rooms, page {page}: ")
        shown = first.split(": ", 1)[1].split(" and ")[0].rstrip(".").split(", ")
        assert len(shown) <= more
        listed += shown
    assert sorted(listed, key=str.casefold) == sorted(names, key=str.casefold)
    assert page > 2
    # a page past the last is the last; other words after \\ROOMS are not read
    assert await say(bot, fake_twilio, "\\ROOMS 99") == first
    assert (await say(bot, fake_twilio, "\\ROOMS thanks!")).startswith("Your rooms: household00, ")


async def test_leave_with_a_question_mark_after_it_says_what_it_does_and_leaves_nothing(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\LEAVE?`, a newcomer asking what it does, took them out of the room (back in only with
    its password): it is asked, as `\\STOP?` is. A question mark after the room is punctuation."""
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    await say(bot, fake_twilio, f"\\CREATE trip {PASSWORD}")
    said = "takes you out of {} (or the room you name); coming back takes its password. Send it without the ? to do it."
    assert await say(bot, fake_twilio, "\\LEAVE?") == "\\LEAVE " + said.format("trip")
    assert await say(bot, fake_twilio, "\\leave\uff1f house") == "\\LEAVE " + said.format("house")
    assert (await say(bot, fake_twilio, "\\ROOMS")).startswith("Your rooms: house, trip (active).")
    assert fits_one_segment("\\LEAVE " + said.format("x" * 32))
    assert await say(bot, fake_twilio, "\\LEAVE.") == "You left trip. Your active room is house."
    assert await say(bot, fake_twilio, "\\LEAVE house?") == "You left house."


async def test_a_room_name_typed_in_full_width_letters_is_that_room(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A Japanese or Chinese keyboard in full-width mode types \uff48\uff4f\uff55\uff53\uff45 for house:
    \\JOIN answered "No room with that name and password" and counted a wrong password, \\USE and
    \\BALANCE said the sender was in no room of that name."""
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    wide = "\uff48\uff4f\uff55\uff53\uff45"
    assert (await say(bot, fake_twilio, f"\\JOIN {wide} {PASSWORD}", sender=BOB)).startswith("Joined house")
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0
    assert await say(bot, fake_twilio, f"\\USE {wide}", sender=BOB) == "Photos you send now go to house."
    assert await say(bot, fake_twilio, f"\\BALANCE {wide.upper()}", sender=BOB) == "house: all settled."


async def test_invisible_characters_pasted_into_a_command_are_no_part_of_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\JOIN house pw` copied from a notes app or a web page, with a zero-width space or a soft
    hyphen inside (nothing a person sees), answered "No room with that name and password" and
    counted a wrong password toward the lockout. They are dropped, in the name and the password,
    as they are before the command."""
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}\u200b")  # the creator's paste, too
    assert (await say(bot, fake_twilio, f"\\JOIN house\u200b {PASSWORD}", sender=BOB)).startswith(
        "Joined house"
    )
    assert (await say(bot, fake_twilio, f"JOIN hou\u00adse {PASSWORD}\u2060", sender=CAROL)).startswith(
        "Joined house"
    )
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0
    assert await say(bot, fake_twilio, "\\BAL\u200bANCE \ufeffhouse", sender=BOB) == "house: all settled."


async def test_dashes_a_phone_made_of_hyphens_in_a_room_name_are_hyphens(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """An iPhone turns the `--` of `beach--house` into an em dash: \\JOIN beach\u2014house pw
    answered "No room with that name and password" and counted a wrong password, and \\CREATE
    said a room name is letters, digits, - or _. A room name has only ASCII hyphens: an em dash
    is `--`, an en dash (or a minus sign, a non-breaking hyphen) `-`."""
    await say(bot, fake_twilio, f"\\CREATE beach--house {PASSWORD}")
    assert (await say(bot, fake_twilio, f"\\JOIN beach\u2014house {PASSWORD}", sender=BOB)).startswith(
        "Joined beach--house"
    )
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0
    assert (await say(bot, fake_twilio, f"\\CREATE ski\u2013trip {PASSWORD}", sender=BOB)).startswith(
        "Created room ski-trip;"
    )
    assert (
        await say(bot, fake_twilio, "\\USE beach\u2014house", sender=BOB)
        == "Photos you send now go to beach--house."
    )
    assert await say(bot, fake_twilio, "\\BALANCE ski\u2011trip", sender=BOB) == "ski-trip: all settled."
    assert (
        await say(bot, fake_twilio, "\\TIMEZONE America/Port\u2013au\u2013Prince", sender=BOB)
    ) == "beach--house keeps time in America/Port-au-Prince now."


async def test_words_on_the_lines_after_a_command_are_no_part_of_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\JOIN house pw` with "see you there!" on the next line got the usage, which the person
    had followed, as did `\\ROOMS` and "thanks!": a command whose words do not fit is read on its
    own line."""
    assert (await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}\nfor the flat")).startswith(
        "Created room house"
    )
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}\r\nsee you there!", sender=BOB)).startswith(
        "Joined house"
    )
    assert (
        await say(bot, fake_twilio, "\\USE house\nthanks", sender=BOB) == "Photos you send now go to house."
    )
    assert (await say(bot, fake_twilio, "\\ROOMS\nthanks!", sender=BOB)).startswith("Your rooms: house")
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0
    # but \\STOP, which ends the account, only as typed alone
    assert await say(bot, fake_twilio, "\\STOP\nafter the trip", sender=BOB) == "Usage: \\STOP"
    # on the next line when nothing follows the command (Telegram's `/join@bot` and a line break)
    assert (await say(bot, fake_twilio, f"/join\nhouse {PASSWORD}", sender=CAROL)).startswith("Joined house")
    # and the usage still, when the words on the line do not fit either
    assert (await say(bot, fake_twilio, "\\USE my house\nthanks", sender=BOB)).startswith(
        "Usage: \\USE <room>"
    )
    bodies = [r.body for r in await bot.rows("SELECT body FROM inbox")]
    assert not any(PASSWORD in body for body in bodies)


async def test_wrong_password_and_unknown_room_get_the_same_answer(bot: Bot, fake_twilio: FakeTwilio) -> None:
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    wrong = await say(bot, fake_twilio, "\\JOIN house hunter3", sender=BOB)
    unknown = await say(bot, fake_twilio, f"\\JOIN nowhere {PASSWORD}", sender=BOB)
    malformed = await say(bot, fake_twilio, f"\\JOIN no$where {PASSWORD}", sender=BOB)
    assert wrong == unknown == malformed == WRONG
    assert await bot.scalar("SELECT count(*) FROM join_failures WHERE phone = :p", p=BOB) == 3
    assert await bot.scalar("SELECT count(*) FROM memberships") == 1


async def test_a_wrong_password_with_a_capital_first_letter_says_passwords_are_case_sensitive(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\Join house Hunter22`, the phone's autocorrect capitalising the password, was told "Check
    both": nothing said which letter. The hint comes from what was typed alone, the same for a
    room that does not exist; nothing is joined on a guessed lower-case password."""
    await say(bot, fake_twilio, "\\CREATE house hunter22")
    assert await say(bot, fake_twilio, "\\Join house Hunter22", sender=BOB) == WRONG_CAPITAL
    assert await say(bot, fake_twilio, "\\Join nowhere Hunter22", sender=BOB) == WRONG_CAPITAL
    assert await say(bot, fake_twilio, "JOIN flat Paris", sender=BOB) == WRONG_CAPITAL
    assert await bot.scalar("SELECT count(*) FROM memberships") == 1
    # any other wrong password: the answer as before
    for room, password in (
        ("house", "HUNTER22"),
        ("house", "hunter23"),
        ("flat", "HunTer22"),
        ("flat", "22Hunter"),
    ):
        assert await say(bot, fake_twilio, f"\\JOIN {room} {password}", sender=CAROL) == WRONG, password
    assert fits_one_segment(WRONG_CAPITAL)


async def test_a_wrong_password_with_a_full_stop_at_its_end_says_so(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\Join house hunter22.`, the full stop a T9 phone (or a double space) puts after the last
    word, was told "Check both" and nothing more: the person saw the password they knew, right.
    The hint comes from what was typed alone, the same for a room that does not exist; nothing
    is joined on a password with the mark taken off."""
    await say(bot, fake_twilio, "\\CREATE house hunter22")
    hint = f"{WRONG} Passwords are exact: was the . at its end part of it?"
    assert await say(bot, fake_twilio, "\\Join house hunter22.", sender=BOB) == hint
    assert await say(bot, fake_twilio, "\\Join nowhere hunter22.", sender=BOB) == hint
    assert await say(bot, fake_twilio, "\\Join house Hunter22!", sender=CAROL) == (
        f"{WRONG} Passwords are exact: did your phone capitalise it, or add the ! at its end?"
    )
    assert await bot.scalar("SELECT count(*) FROM memberships") == 1
    assert await say(bot, fake_twilio, "\\JOIN house hunter23", sender=CAROL) == WRONG
    for typed in ("x.", "Hunter22?", "a" * 127 + ","):
        assert fits_one_segment(wrong_for(typed)), typed
    assert wrong_for(".") == WRONG  # a mark alone is the password, not a mark after it


async def test_lockout_after_five_failures_in_fifteen_minutes(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [time.time()]
    bot = await bot_factory(
        clock=lambda: now[0],
        twilio=fake_twilio.section(),
    )
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    for n in range(rooms.LOCKOUT_FAILURES):
        assert await say(bot, fake_twilio, f"\\JOIN house wrong{n}", sender=BOB) == WRONG
    # the sixth try is refused even with the right password, and says so, once in the window
    assert await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=BOB) == LOCKED
    await silent(bot, fake_twilio, f"\\JOIN nowhere {PASSWORD}", sender=BOB)
    # another phone is not locked out
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=CAROL)).startswith("Joined")
    # fifteen minutes later the window has passed
    now[0] += rooms.LOCKOUT_WINDOW + 1
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=BOB)).startswith("Joined house")


async def test_one_phone_on_sms_and_whatsapp_and_a_paired_address_share_the_lockout(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Five wrong passwords from a number locked it out, and then its WhatsApp (the same phone,
    `whatsapp:` in front) guessed five more, as did every address paired to the same person:
    the limit is per phone (SPEC), and a person's addresses guess as one."""
    bot = await bot_factory(twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"})
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    for n in range(rooms.LOCKOUT_FAILURES):
        assert await say(bot, fake_twilio, f"\\JOIN house wrong{n}", sender=BOB) == WRONG
    assert await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender="whatsapp:" + BOB) == LOCKED
    # a person's other address (paired before the guessing) is them too
    code = (await say(bot, fake_twilio, "\\PAIR", sender=CAROL)).split("Your code: ", 1)[1][:6]
    fourth = "+15550004444"
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=fourth)).startswith("Paired:")
    await bot.settled()  # the news of it to Carol is out before her next text
    for n in range(rooms.LOCKOUT_FAILURES):
        assert await say(bot, fake_twilio, f"\\JOIN house again{n}", sender=CAROL) == WRONG
    assert await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=fourth) == LOCKED


@pytest.mark.parametrize(
    ("sms", "whatsapp", "other_sms", "other_whatsapp"),
    [
        ("+525512345678", "whatsapp:+5215512345678", "+525587654321", "whatsapp:+5215587654321"),
        ("+5511987654321", "whatsapp:+551187654321", "+5521987654321", "whatsapp:+552187654321"),
    ],
    ids=["mexico", "brazil"],
)
async def test_one_phone_whose_whatsapp_writes_its_number_another_way_shares_the_lockout(
    bot_factory: BotFactory,
    fake_twilio: FakeTwilio,
    sms: str,
    whatsapp: str,
    other_sms: str,
    other_whatsapp: str,
) -> None:
    """WhatsApp writes a Mexican mobile with the 1 dialled before mobiles until 2019, and keeps a
    Brazilian mobile registered before the ninth digit without it: a phone locked out on SMS
    guessed five more from its WhatsApp, and the other way round."""
    bot = await bot_factory(twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"})
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    for n in range(rooms.LOCKOUT_FAILURES):
        assert await say(bot, fake_twilio, f"\\JOIN house wrong{n}", sender=sms) == WRONG
    assert await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=whatsapp) == LOCKED
    for n in range(rooms.LOCKOUT_FAILURES):
        assert await say(bot, fake_twilio, f"\\JOIN house wrong{n}", sender=other_whatsapp) == WRONG
    assert await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=other_sms) == LOCKED


async def test_a_room_typed_short_of_its_name_is_offered_when_one_of_theirs_begins_so(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: Any
) -> None:
    """`\\USE trip2` from a person in trip2026 was "not in a room named trip2. \\ROOMS lists yours",
    and in 20 rooms \\ROOMS did not show them all: the one room of theirs that begins so is offered
    with the command to send. Several such rooms, or none, or only another person's: as before."""
    monkeypatch.setattr(replyguard, "BUDGET", 100)  # faster than anyone types
    for name in ("house", "House2", "trip2026", "ski-2025", "ski-2026"):
        await say(bot, fake_twilio, f"\\CREATE {name} pw")
    await say(bot, fake_twilio, "\\CREATE roadtrip-eu pw", sender=BOB)
    assert (
        await say(bot, fake_twilio, "\\USE TRIP2")
        == "You are not in a room named TRIP2: did you mean \\USE trip2026?"
    )
    assert await say(bot, fake_twilio, "\\balance trip") == (
        "You are not in a room named trip: did you mean \\BALANCE trip2026?"
    )
    assert await say(bot, fake_twilio, "\\USE house2") == "Photos you send now go to House2."
    for typed in ("ski", "hous", "road", "trip20266"):
        assert (
            await say(bot, fake_twilio, f"\\USE {typed}")
            == f"You are not in a room named {typed}. \\ROOMS lists yours."
        )
    assert await say(bot, fake_twilio, "\\ROOMS") == (
        "Your rooms: house, House2 (active), ski-2025, ski-2026, trip2026. Switch with \\USE <room>."
    )
    assert fits_one_segment(f"You are not in a room named {'t' * 32}: did you mean \\RECEIPTS {'t' * 32}?")


async def test_a_room_name_over_32_characters_is_not_cut_to_the_name_of_ones_room(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: Any
) -> None:
    """`\\USE` of a 32-letter room with one letter too many was cut to 32 and answered "You are
    not in a room named <the very room they are in>": it says names have at most 32 characters."""
    monkeypatch.setattr(replyguard, "BUDGET", 100)  # faster than anyone types
    name = "abcdefghijklmnopqrstuvwxyz012345"
    await say(bot, fake_twilio, f"\\CREATE {name} pw")
    await say(bot, fake_twilio, "\\CREATE house pw")
    for command in ("USE", "BALANCE", "RECEIPTS", "LEAVE"):
        reply = await say(bot, fake_twilio, f"\\{command} {name}6")
        assert reply == (
            "You are not in a room of that name: room names have at most 32 characters. \\ROOMS lists yours."
        ), command
        assert fits_one_segment(reply)
    assert await say(bot, fake_twilio, f"\\USE {name}") == f"Photos you send now go to {name}."


async def test_leave_use_and_rooms(bot: Bot, fake_twilio: FakeTwilio, monkeypatch: Any) -> None:
    monkeypatch.setattr(replyguard, "BUDGET", 100)  # faster than anyone types
    assert await say(bot, fake_twilio, "\\ROOMS") == NOT_IN_ROOM
    # a word after a command that names a room, from a person in none: "not in a room named
    # please. \\ROOMS lists yours", and \\ROOMS listed none
    for typed in ("\\BALANCE please", "\\RECEIPTS house", "\\USE house"):
        assert await say(bot, fake_twilio, typed) == NOT_IN_ROOM, typed
    assert await say(bot, fake_twilio, "\\LEAVE") == NOT_IN_ROOM
    await say(bot, fake_twilio, "\\CREATE house pw1")
    await say(bot, fake_twilio, "\\CREATE trip pw2")
    assert (
        await say(bot, fake_twilio, "\\ROOMS")
        == "Your rooms: house, trip (active). Switch with \\USE <room>."
    )
    assert await say(bot, fake_twilio, "\\USE HOUSE") == "Photos you send now go to house."
    assert (
        await say(bot, fake_twilio, "\\ROOMS")
        == "Your rooms: house (active), trip. Switch with \\USE <room>."
    )
    assert (
        await say(bot, fake_twilio, "\\USE nowhere")
        == "You are not in a room named nowhere. \\ROOMS lists yours."
    )
    # a room one is not in cannot be used, even when it exists
    await say(bot, fake_twilio, "\\CREATE bobs pw3", sender=BOB)
    assert (
        await say(bot, fake_twilio, "\\USE bobs") == "You are not in a room named bobs. \\ROOMS lists yours."
    )
    # leaving the active room makes another one active
    assert await say(bot, fake_twilio, "\\LEAVE") == "You left house. Your active room is trip."
    assert await say(bot, fake_twilio, "\\ROOMS") == "Your rooms: trip (active)."
    assert await say(bot, fake_twilio, "\\LEAVE house") == "You already left house."
    assert (
        await say(bot, fake_twilio, "\\USE house")
        == "You left house. To be in it again, send \\JOIN house <password>."
    )
    assert await say(bot, fake_twilio, "\\LEAVE Trip") == "You left trip."
    assert await say(bot, fake_twilio, "\\ROOMS") == NOT_IN_ROOM
    user = await bot.scalar("SELECT id FROM users WHERE phone = :p", p=ALICE)
    assert await bot.scalar("SELECT active_room_id FROM users WHERE id = :u", u=user) is None
    # the rooms stay (their receipts belong to the other members too)
    assert await bot.scalar("SELECT count(*) FROM rooms") == 3


async def test_receipts_link_only_for_members(bot: Bot, fake_twilio: FakeTwilio) -> None:
    assert await say(bot, fake_twilio, "\\RECEIPTS") == NOT_IN_ROOM
    await say(bot, fake_twilio, "\\CREATE house pw1")
    await say(bot, fake_twilio, "\\CREATE bobs pw2", sender=BOB)
    reply = await say(bot, fake_twilio, "\\RECEIPTS")
    room_id = await bot.scalar("SELECT id FROM rooms WHERE name = 'house'")
    assert reply.startswith("Receipts, 1 hour: ")
    assert f"{bot.config.public_base}/rooms/{room_id}/receipts?exp=" in reply
    assert "&sig=" in reply
    assert len(reply) <= 160
    assert (
        await say(bot, fake_twilio, "\\RECEIPTS bobs")
        == "You are not in a room named bobs. \\ROOMS lists yours."
    )
    # the outbox row with the link is marked to be redacted once sent
    row = (await bot.rows("SELECT redact FROM outbox WHERE body LIKE 'Receipts, %' OR redacted"))[0]
    assert row.redact


async def test_passwords_are_never_stored_or_logged_in_clear(bot: Bot, fake_twilio: FakeTwilio) -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
        await say(bot, fake_twilio, f"JOIN house {PASSWORD}", sender=BOB)
        await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}x", sender=CAROL)
        await say(bot, fake_twilio, f"\\JOIN {PASSWORD}", sender=CAROL)  # a usage error keeps no password
        await say(bot, fake_twilio, f"\\CREATE a b {PASSWORD}", sender=CAROL)
    events = [e["event"] for e in logs]
    assert "room.created" in events
    assert "room.joined" in events
    assert "room.join_refused" in events
    assert "sms.handled" in events
    logged: list[Any] = [json.dumps(e, default=str) for e in logs]
    assert not [line for line in logged if PASSWORD in line]
    dump = await dump_database(bot)
    assert PASSWORD not in dump
    bodies = [r.body for r in await bot.rows("SELECT body FROM inbox ORDER BY id")]
    assert bodies == [
        "\\CREATE house ***",
        "JOIN house ***",
        "\\JOIN house ***",
        "\\JOIN ***",
        "\\CREATE ***",
    ]


async def test_password_hashing_is_salted_and_verifies() -> None:
    first = await rooms.hash_password(PASSWORD)
    second = await rooms.hash_password(PASSWORD)
    assert first != second  # each has its own salt
    assert await rooms.verify_password(PASSWORD, first)
    assert await rooms.verify_password(PASSWORD, second)
    assert not await rooms.verify_password("hunter3", first)
    assert not await rooms.verify_password(PASSWORD, "not a hash")


def phone(n: int) -> str:
    return f"+1555009{n:04d}"


async def test_an_over_long_join_password_is_refused_before_hashing(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: Any
) -> None:
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    checked: list[int] = []
    real = rooms._verify_sync

    def spy(password: str, encoded: str) -> bool:
        checked.append(len(password))
        return real(password, encoded)

    monkeypatch.setattr(rooms, "_verify_sync", spy)
    for body in (f"\\JOIN house {'x' * 60_000}", f"JOIN nowhere {'x' * 129}"):
        assert await say(bot, fake_twilio, body, sender=BOB) == too_long()
    assert checked == []
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0
    # the longest password \CREATE allows is still a guess
    assert await say(bot, fake_twilio, f"\\JOIN house {'x' * 128}", sender=BOB) == WRONG
    assert checked == [128]


async def test_a_room_guessed_from_many_phones_locks_out_guessers_never_members_or_newcomers(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=BOB)).startswith("Joined house")
    assert (await say(bot, fake_twilio, "\\LEAVE house", sender=BOB)).startswith("You left house")
    # two phones spend their five guesses each: the name is under attack
    per_phone = rooms.LOCKOUT_FAILURES
    for n in range(rooms.ROOM_LOCKOUT_FAILURES):
        assert await say(bot, fake_twilio, f"\\JOIN house guess{n}", sender=phone(n // per_phone)) == WRONG
    assert await bot.scalar("SELECT count(*) FROM join_failures WHERE room_key = 'house'") == 10
    # a newcomer's typo is a typo: it waits for the name's slot, as before it, and joins
    typo = phone(51)
    assert await say(bot, fake_twilio, f"\\JOIN house {PASSWORD.upper()}", sender=typo) == WRONG
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=typo)).startswith("Joined house")
    # a guesser with two failures for the name is locked out of it (one answer in the window)
    guesser = phone(50)
    assert await say(bot, fake_twilio, "\\JOIN house g1", sender=guesser) == WRONG
    assert await say(bot, fake_twilio, "\\JOIN house g2", sender=guesser) == WRONG
    assert await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=guesser) == ROOM_LOCKED
    for n in range(5):  # a flood from a locked-out phone costs one SMS in the window, not one each
        await silent(bot, fake_twilio, f"\\JOIN house flood{n}", sender=guesser)
    await silent(bot, fake_twilio, f"JOIN house {PASSWORD}", sender=guesser)
    # a newcomer with the password is not locked out: it waits for the name's slot, then joins
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=phone(99))).startswith(
        "Joined house"
    )
    # the unknown-room answer is not told apart: a name that does not exist locks the same way
    for n in range(rooms.ROOM_LOCKOUT_FAILURES):
        await say(bot, fake_twilio, f"\\JOIN nowhere guess{n}", sender=phone(10 + n // per_phone))
    assert await say(bot, fake_twilio, "\\JOIN nowhere g1", sender=phone(60)) == WRONG
    assert await say(bot, fake_twilio, "\\JOIN nowhere g2", sender=phone(60)) == WRONG
    assert await say(bot, fake_twilio, f"\\JOIN nowhere {PASSWORD}", sender=phone(60)) == ROOM_LOCKED
    assert await say(bot, fake_twilio, f"\\JOIN nowhere {PASSWORD}", sender=phone(98)) == WRONG
    # members are in: their \JOIN is no guess and is never locked out
    reply = await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}")
    assert reply == "You are in house already; it is now your active room."
    assert await say(bot, fake_twilio, "JOIN house typo") == reply
    # a former member comes back (with the password) while strangers are locked out
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=BOB)).startswith("Joined house")
    # no guess was recorded for a member, a locked-out phone or a right password
    assert (
        await bot.scalar("SELECT count(*) FROM join_failures WHERE kind = 'wrong' AND room_key = 'house'")
        == 13
    )


async def _script(bot: Bot, fake: FakeTwilio, name: str, first: int, checks: list[str]) -> list[str]:
    """One guessing script against the name `name`, from numbers `phone(first + ...)`: the reply to
    each guess (None: no reply) and how many password checks it made."""
    per_phone = rooms.LOCKOUT_FAILURES
    steps = [(phone(first), f"\\JOIN {name} wrong{n}") for n in range(per_phone + 2)]  # per number
    steps += [(phone(first + 1 + n), f"\\JOIN {name} g{n}") for n in range(rooms.ROOM_LOCKOUT_FAILURES)]
    steps += [(phone(first + 1), f"\\JOIN {name} {PASSWORD}x")]  # its second wrong guess for the name
    steps += [(phone(first + 1), f"\\JOIN {name} {PASSWORD}y")]  # now locked out of it
    steps += [(phone(first + 20), f"\\JOIN {name} newcomer")]  # no failure of its own: waits, then a check
    out: list[str] = []
    for sender, body in steps:
        before_checks = len(checks)
        before = len([m for m in fake.messages if m["To"] == sender])
        form = await bot.text(body, sender=sender)
        assert await bot.handled(form["MessageSid"]) == "done"
        await bot.settled()
        got = [m["Body"] for m in fake.messages if m["To"] == sender]
        out.append(f"{got[-1] if len(got) > before else None} / checks {len(checks) - before_checks}")
    return out


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password checked against a hash (a room's or the dummy one), in order."""
    seen: list[str] = []
    real = rooms._verify_sync

    def spy(password: str, encoded: str) -> bool:
        seen.append(password)
        return real(password, encoded)

    monkeypatch.setattr(rooms, "_verify_sync", spy)
    return seen


async def test_an_unknown_name_and_a_room_answer_alike_lockouts_included(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: Any, checks: list[str]
) -> None:
    """The same guesses against a room and against a name no room has get the same texts after
    the same number of password checks, through the per-number and the per-name lockouts."""
    monkeypatch.setattr(rooms, "SLOT_SECONDS", 0.2)  # the name's turns come quicker, alike for both
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}", sender=CAROL)
    await say(bot, fake_twilio, f"\\JOIN warmup {PASSWORD}", sender=CAROL)  # the dummy hash exists now
    existing = await _script(bot, fake_twilio, "house", 100, checks)
    unknown = await _script(bot, fake_twilio, "ghost", 200, checks)
    assert existing == unknown
    assert existing[rooms.LOCKOUT_FAILURES] == f"{LOCKED} / checks 0"
    assert existing[-3] == f"{WRONG} / checks 1"
    assert existing[-2] == f"{ROOM_LOCKED} / checks 0"
    assert existing[-1] == f"{WRONG} / checks 1"


async def test_a_flood_of_wrong_guesses_never_locks_out_a_newcomer_with_the_password(
    bot: Bot, fake_twilio: FakeTwilio, checks: list[str]
) -> None:
    """Ten numbers guess as fast as they can; a newcomer with the right password still joins within
    seconds, and the guesses that reach the password hash stay bounded."""
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    attackers = [phone(300 + n) for n in range(10)]
    for round_ in range(3):
        for n, attacker in enumerate(attackers):
            await bot.text(f"\\JOIN house r{round_}n{n}", sender=attacker)
    before = len(fake_twilio.messages)
    newcomer = phone(399)
    form = await bot.text(f"\\JOIN house {PASSWORD}", sender=newcomer)
    for round_ in range(3, 8):  # the flood goes on meanwhile
        for n, attacker in enumerate(attackers):
            await bot.text(f"\\JOIN house r{round_}n{n}", sender=attacker)
    assert await bot.handled(form["MessageSid"]) == "done"  # waited for the name's turn, then checked

    async def answered() -> list[str]:  # handled is not sent yet: the sender has its own queue
        return [m["Body"] for m in fake_twilio.messages[before:] if m["To"] == newcomer]

    joined = await wait_for(answered)
    assert joined[0].startswith("Joined house")
    await bot.settled()
    # 80 guesses: those handled before the name's tenth failure was committed (about the first of
    # each number, a few more handled at the same time), one more of each number in the name's
    # slots, and the newcomer's reach the hash; the rest got no check (their number failed twice
    # on the name: locked out of it)
    assert len(checks) <= 3 * len(attackers) + 1
    assert PASSWORD in checks


async def test_a_burst_of_first_guesses_from_fresh_numbers_does_not_hold_the_password_back(
    bot: Bot, fake_twilio: FakeTwilio, checks: list[str]
) -> None:
    """A name under attack, then 25 fresh numbers each guessing once at the same moment: the
    person with the password behind them waited for the name's slot, one check every 2 s drawn
    by lot, and joined after a minute or two (71 s in a try with 30). The name's checks run in
    bursts of up to SLOT_BURST after a quiet spell, one every 2 s on average as before: the
    person is checked at once."""
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    for n in range(5):  # 10 failures: the name is under attack
        for guess in range(2):
            form = await bot.text(f"\\JOIN house x{n}{guess}", sender=phone(500 + n))
            assert await bot.handled(form["MessageSid"]) == "done"
    fresh = [await bot.text(f"\\JOIN house y{n}", sender=phone(600 + n)) for n in range(25)]
    newcomer = phone(699)
    with capture_logs(processors=[merge_contextvars]) as logs:
        form = await bot.text(f"\\JOIN house {PASSWORD}", sender=newcomer)
        assert await bot.handled(form["MessageSid"]) == "done"
    deferred = [e for e in logs if e["event"] == "room.join_deferred"]
    assert [e for e in deferred if e.get("message_sid") == form["MessageSid"]] == []
    for f in fresh:
        assert await bot.handled(f["MessageSid"]) == "done"
    await bot.settled()
    assert next(m["Body"] for m in fake_twilio.messages if m["To"] == newcomer).startswith("Joined house")
    # the bound per name holds: one check per guess that reached the hash
    assert len(checks) <= 10 + 25 + 1
    assert rooms.SLOT_BURST * rooms.SLOT_SECONDS <= 60


async def test_guessers_second_tries_do_not_spend_the_newcomers_slots(
    bot: Bot, fake_twilio: FakeTwilio, checks: list[str]
) -> None:
    """A name under attack, then 20 numbers guessing twice each: with one bucket of slots, their
    second guesses spent it (40 checks against a burst of 30), and a newcomer with the password
    waited behind the rest of them, 53 s in a try on PostgreSQL with two workers. A second try
    waits for a bucket of its own; each number's first guess is its only one in the newcomers'."""
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    for n in range(5):  # 10 failures: the name is under attack
        for guess in range(2):
            form = await bot.text(f"\\JOIN house x{n}{guess}", sender=phone(500 + n))
            assert await bot.handled(form["MessageSid"]) == "done"
    guessers = [phone(700 + n) for n in range(rooms.SLOT_BURST * 2 // 3)]
    assert 2 * len(guessers) > rooms.SLOT_BURST >= len(guessers)
    with capture_logs(processors=[merge_contextvars]) as logs:
        for guess in range(2):  # each number's second guess is handled after its first (its order)
            for guesser in guessers:
                await bot.text(f"\\JOIN house y{guess}", sender=guesser)

        async def all_checked_or_put_back() -> bool:
            return len(
                [e for e in logs if e["event"] in ("room.join_refused", "room.join_deferred")]
            ) >= 2 * len(guessers)

        await wait_for(all_checked_or_put_back)
        form = await bot.text(f"\\JOIN house {PASSWORD}", sender=phone(799))
        assert await bot.handled(form["MessageSid"]) == "done"
    assert [e for e in logs if e["event"] == "room.join_deferred"] == []
    await bot.settled()
    assert next(m["Body"] for m in fake_twilio.messages if m["To"] == phone(799)).startswith("Joined house")
    assert len(checks) == 10 + 2 * len(guessers) + 1  # the bound per name: each bucket's burst


async def test_the_names_checks_are_a_token_bucket_of_slot_burst_at_one_every_slot_seconds(bot: Bot) -> None:
    db = bot.runtime.deps.db
    now = 1_000_000.0

    async def take(at: float) -> float | None:
        async with db.tx() as conn:
            return await rooms.take_slot(conn, "house", at)

    assert [await take(now) for _ in range(rooms.SLOT_BURST)] == [None] * rooms.SLOT_BURST
    wait = await take(now)  # the burst is spent: the next may run one slot on
    assert wait == pytest.approx(now + rooms.SLOT_SECONDS)
    assert await take(now + rooms.SLOT_SECONDS) is None
    assert await take(now + rooms.SLOT_SECONDS) is not None  # one a slot, no more
    # a quiet spell refills it, up to SLOT_BURST
    later = now + 10 * rooms.SLOT_BURST * rooms.SLOT_SECONDS
    assert [await take(later) for _ in range(rooms.SLOT_BURST)] == [None] * rooms.SLOT_BURST
    assert await take(later) is not None


async def test_a_create_handled_again_after_its_worker_died_says_created_not_taken(
    frequent_looks: None, bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A worker killed (kill -9, a lost machine) after `\\CREATE house pw` committed the room and
    before the message's outcome: another process takes the claim over and handles the text
    again. The person was told "The name house is taken. Pick another name for your room." of
    the room they had just made (and were in). The text that made it is answered as made."""
    form = await bot.text(f"\\CREATE house {PASSWORD}")
    assert await bot.handled(form["MessageSid"]) == "done"
    [first] = await fake_twilio.wait_for_messages(1)
    assert first["Body"].startswith("Created room house")
    # the state a worker killed between those two commits leaves: the room, and the message still
    # claimed (by an owner with no heartbeat), unanswered
    async with bot.runtime.deps.db.tx() as conn:
        inbox_id = (
            await conn.execute(
                sa.text("SELECT id FROM inbox WHERE message_sid = :s"), {"s": form["MessageSid"]}
            )
        ).scalar_one()
        await conn.execute(sa.text("DELETE FROM outbox WHERE inbox_id = :i"), {"i": inbox_id})
        await conn.execute(
            sa.text(
                "UPDATE inbox SET status = 'processing', claimed_by = 'killed-worker',"
                " claimed_until = :u, done_at = NULL, body = :b WHERE id = :i"
            ),
            {"u": time.time() + 300, "b": form["Body"], "i": inbox_id},
        )
    second = (await fake_twilio.wait_for_messages(2))[1]  # taken over and handled again
    assert second["To"] == ALICE
    assert second["Body"] == first["Body"]
    assert await bot.handled(form["MessageSid"]) == "done"
    assert await bot.scalar("SELECT count(*) FROM rooms") == 1
    # a later \\CREATE of the same name is still told it is taken, by its creator too
    assert await say(bot, fake_twilio, "\\CREATE house other") == (
        "The name house is taken. Pick another name for your room."
    )


async def test_a_password_typed_with_a_phones_smart_punctuation_opens_the_room_typed_plain(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """An iPhone types `it's--ok` as `it\u2019s\u2014ok` (smart punctuation), an Android keyboard as
    typed, a full-width keyboard in its own letters: the same password, whichever phone made the
    room. A Bob on Android was told "No room with that name and password" by Alice's room."""
    assert (await say(bot, fake_twilio, "\\CREATE house it\u2019s\u2014\u201cok\u201d")).startswith("Created")
    assert (await say(bot, fake_twilio, '\\JOIN house it\'s--"ok"', sender=BOB)).startswith("Joined")
    assert (await say(bot, fake_twilio, "\\CREATE flat it's--ok", sender=BOB)).startswith("Created")
    assert (await say(bot, fake_twilio, "JOIN flat it\u2019s\u2014ok", sender=CAROL)).startswith("Joined")
    assert (await say(bot, fake_twilio, "\\JOIN flat \uff49\uff54's--ok")).startswith("Joined")
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0


async def test_a_room_made_before_passwords_were_read_as_typed_still_opens_with_its_password(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A room whose hash is of the password as the phone sent it, curly quote and all."""
    await say(bot, fake_twilio, "\\CREATE house pw")
    async with bot.runtime.deps.db.tx() as conn:
        await conn.execute(
            sa.text("UPDATE rooms SET password_hash = :h"), {"h": rooms._hash_sync("it\u2019s")}
        )
    assert await say(bot, fake_twilio, "\\JOIN house it's", sender=BOB) == WRONG
    assert (await say(bot, fake_twilio, "\\JOIN house it\u2019s", sender=CAROL)).startswith("Joined")


async def test_a_room_name_with_accents_or_in_another_script_is_answered_with_what_to_type(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\CREATE Caf\u00e9 pw` was told "Room names are 1-32 letters, digits, - or _": Caf\u00e9 is
    letters, and nothing said which. A name spelt without its accents is offered; one in another
    script is told the letters a room name has. The password is never said back."""
    assert await say(bot, fake_twilio, "\\CREATE Caf\u00e9 pw") == room_spelt("Cafe")
    assert await say(bot, fake_twilio, "\\create Z\u00fcrich-Tr\u00e4ume pw") == room_spelt("Zurich-Traume")
    assert await say(bot, fake_twilio, "\\CREATE \u5bb6 pw") == ROOM_LETTERS
    assert await say(bot, fake_twilio, "\\CREATE \u05d1\u05d9\u05ea pw") == ROOM_LETTERS
    assert (
        await say(bot, fake_twilio, "\\CREATE hou$e pw") == f"{ROOM_NAMES} Usage: \\CREATE <room> <password>"
    )
    assert (await say(bot, fake_twilio, "\\CREATE Cafe pw")).startswith("Created room Cafe")
    assert room_spelt("Cafe").endswith("\\CREATE Cafe <password>")


async def test_a_room_name_typed_with_accents_is_the_room_without_them(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """Room names have no accents (`\\CREATE Caf\u00e9` is offered Cafe), but a friend told of the
    room Caf\u00e9 typed `\\JOIN Caf\u00e9 pw` and was told "No room with that name and password", a
    wrong password counted; a Turkish keyboard's capital \u0130 likewise. It is that room."""
    assert (await say(bot, fake_twilio, "\\CREATE Cafe pw")).startswith("Created room Cafe")
    assert (await say(bot, fake_twilio, "\\JOIN Caf\u00e9 pw", sender=BOB)).startswith("Joined Cafe")
    assert (await say(bot, fake_twilio, "\\CREATE istanbul pw", sender=BOB)).startswith("Created")
    assert (await say(bot, fake_twilio, "\\JOIN \u0130stanbul pw", sender=CAROL)).startswith(
        "Joined istanbul"
    )
    assert await say(bot, fake_twilio, "\\USE caf\u00e9", sender=BOB) == "Photos you send now go to Cafe."
    assert await bot.scalar("SELECT count(*) FROM join_failures") == 0


async def test_leave_adds_up_the_room_while_others_texts_are_stored(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """\\LEAVE says what the leaver still owes or is owed: it added up the room's ledger inside the
    transaction that ends the membership, and on SQLite (a 60-member club's ledger takes a second)
    another person's text waited that long to be stored. It is stored meanwhile now."""
    from tests.handlers.test_ledger import house, photo

    await house(bot, fake_twilio)
    await photo(bot, fake_twilio, "$30.00", sender=BOB)
    db = bot.runtime.deps.db
    stored: list[bool] = []
    original = rooms_handlers.room_ledger

    async def adding_up(conn: Any, room_id: str, *args: Any) -> Any:
        another = new_message(new_sid(), "+15550009999", "\\HELP")
        try:  # the timeout only ends a test that fails: the text waits for \\LEAVE to finish
            await asyncio.wait_for(inbox.insert_new(db, [another]), timeout=10)
            stored.append(True)
        except TimeoutError:
            stored.append(False)
        return await original(conn, room_id, *args)

    monkeypatch.setattr(rooms_handlers, "room_ledger", adding_up)
    assert (await say(bot, fake_twilio, "\\LEAVE", sender=BOB)).startswith("You left house")
    assert stored == [True]


async def bob_then_a_photo_handled_late(bot: Bot, fake: FakeTwilio, body: str, sent: float) -> list[str]:
    """Bob's `body` sent at `sent` and Alice's $30.00 photo two minutes later, each handled now
    (the clock is past both): Alice's replies."""
    deps = bot.runtime.deps
    bob_sid, photo_sid = new_sid(), new_sid()
    await inbox.insert_new(deps.db, [new_message(bob_sid, BOB, body, received_at=sent)])
    bot.runtime.worker.wake()
    assert await bot.handled(bob_sid) == "done"
    url = fake.media.add(images.jpeg_with_gps())
    photo = new_message(photo_sid, ALICE, "$30.00", media=((url, "image/jpeg"),), received_at=sent + 120)
    await inbox.insert_new(deps.db, [photo])
    bot.runtime.worker.wake()
    assert await bot.handled(photo_sid) == "done"
    await bot.settled()
    return [m["Body"] for m in fake.messages if m["To"] == ALICE]


async def test_a_join_and_a_photo_handled_late_share_it_as_they_were_sent(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Bob's `JOIN house pw` of 19:00 and Alice's dinner photo of 19:02, both handled at 19:30 (a
    backlog, a restart): the photo is shared by those in the room when it was sent, and Bob was
    counted a member from 19:30, when his JOIN was handled; Alice paid the dinner alone."""
    sent = 1_790_000_000.0
    now = [sent - 600]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    now[0] = sent + 1800
    replies = await bob_then_a_photo_handled_late(bot, fake, "JOIN house pw", sent)
    assert replies[-1].startswith("Saved $30.00 to house: split 2 ways, you are owed $15.00."), replies


async def test_a_leave_and_a_photo_handled_late_leave_the_leaver_out_as_they_were_sent(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Bob's `\\LEAVE` of 19:00 and Alice's dinner photo of 19:02, both handled at 19:30 (a
    backlog, a restart): Bob was counted a member until 19:30, when his LEAVE was handled, and
    owed half of a dinner sent after he had left."""
    sent = 1_790_000_000.0
    now = [sent - 600]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    assert (await say(bot, fake, "\\JOIN house pw", sender=BOB)).startswith("Joined house")
    now[0] = sent + 1800
    replies = await bob_then_a_photo_handled_late(bot, fake, "\\LEAVE", sent)
    assert replies[-1].startswith("Saved $30.00 to house"), replies
    assert "split 2 ways" not in replies[-1], replies


async def test_a_stop_and_a_photo_sent_before_it_handled_after_share_it_with_the_stopper(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Alice's dinner photo of 19:00 and Bob's `\\STOP` of 19:02; the STOP (which jumps the
    queue) handled first, the photo after it (being read, or kept through a media outage): Bob
    was in the room when it was sent, but his membership was gone with his record, and the
    dinner fell on Alice alone. His place in the ledger (a former member) shares it, as a
    `\\LEAVE` handled first leaves the leaver in; a photo sent after the STOP leaves him out."""
    sent = 1_790_000_000.0
    now = [sent - 600]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    fake = fake_twilio
    deps = bot.runtime.deps
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    assert (await say(bot, fake, "\\JOIN house pw", sender=BOB)).startswith("Joined house")
    assert (await say(bot, fake, "\\NAME Bob", sender=BOB)).startswith("Your rooms now see you as Bob")
    first = new_sid()  # Bob is on the ledger: he owes half of this
    url = fake.media.add(images.jpeg_with_gps())
    await inbox.insert_new(
        deps.db, [new_message(first, ALICE, "$10.00", media=((url, "image/jpeg"),), received_at=sent - 300)]
    )
    bot.runtime.worker.wake()
    assert await bot.handled(first) == "done"
    now[0] = sent + 1800
    stop_sid = new_sid()
    await inbox.insert_new(deps.db, [new_message(stop_sid, BOB, "\\STOP", received_at=sent + 120)])
    bot.runtime.worker.wake()
    assert await bot.handled(stop_sid) == "done"
    for sid, at in ((new_sid(), sent), (new_sid(), sent + 240)):  # before the STOP, and after it
        url = fake.media.add(images.jpeg_with_gps())
        photo = new_message(sid, ALICE, "$30.00", media=((url, "image/jpeg"),), received_at=at)
        await inbox.insert_new(deps.db, [photo])
        bot.runtime.worker.wake()
        assert await bot.handled(sid) == "done"
    await bot.settled()
    replies = [m["Body"] for m in fake.messages if m["To"] == ALICE]
    assert replies[-2].startswith("Saved $30.00 to house: split 2 ways, you are owed $20.00."), replies
    assert replies[-1].startswith("Saved $30.00 to house"), replies
    assert "split 2 ways" not in replies[-1], replies
    balance = await say(bot, fake, "\\BALANCE")
    assert "Bob pays" in balance, balance
    assert "$20.00" in balance, balance


async def test_a_create_that_stop_overtook_leaves_no_empty_room_holding_the_name(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: Any
) -> None:
    """`\\CREATE flat pw` then `\\STOP` at once: the goodbye jumps the queue and deletes the
    person while the room's password is still being hashed. The room was then made all the same,
    for no one (on SQLite): no member, and `flat` taken for good ("The name flat is taken" to
    everyone after). The room goes with its creator's record."""
    hashing, go_on, finished = asyncio.Event(), asyncio.Event(), asyncio.Event()
    real_hash, real_finish = rooms.hash_password, bot.runtime.worker._finish

    async def slow_hash(password: str) -> str:
        hashing.set()
        await go_on.wait()
        return await real_hash(password)

    async def finish(msg: Any, *args: Any, **kwargs: Any) -> None:
        await real_finish(msg, *args, **kwargs)
        if msg.body.startswith("\\CREATE"):
            finished.set()

    monkeypatch.setattr(rooms, "hash_password", slow_hash)
    monkeypatch.setattr(bot.runtime.worker, "_finish", finish)
    create = await bot.text(f"\\CREATE flat {PASSWORD}", sender=CAROL)
    await asyncio.wait_for(hashing.wait(), 30)  # being handled, the room not made yet
    stop = await bot.text("\\STOP", sender=CAROL)
    assert await bot.handled(stop["MessageSid"]) == "done"
    go_on.set()
    await asyncio.wait_for(finished.wait(), 30)  # the CREATE went on, and its handler is done
    assert await bot.handled(create["MessageSid"]) == "done"
    await bot.settled()
    assert await bot.scalar("SELECT count(*) FROM rooms") == 0
    assert await bot.scalar("SELECT count(*) FROM users WHERE phone = :p", p=CAROL) == 0
    monkeypatch.setattr(rooms, "hash_password", real_hash)
    assert (await say(bot, fake_twilio, f"\\CREATE flat {PASSWORD}", sender=BOB)).startswith(
        "Created room flat"
    )


async def test_a_member_gives_the_room_a_new_password_and_the_old_one_joins_no_one(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A password shared too widely (a group chat, a flatmate who moved out) let anyone who had it
    join for good: no command changed it. Any member changes it now; the members stay, the old
    password joins no one, the new one does, and neither is kept or logged in clear."""
    new = "pa55wordNEW"
    with capture_logs(processors=[merge_contextvars]) as logs:
        await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
        assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=BOB)).startswith(
            "Joined house"
        )
        assert await say(bot, fake_twilio, f"\\PASSWORD {new}", sender=BOB) == (
            "house has a new password; members stay, the old one lets no one in: "
            "newcomers \\JOIN house <new password>."
        )
        assert await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=CAROL) == WRONG
        assert (await say(bot, fake_twilio, f"\\JOIN house {new}", sender=CAROL)).startswith("Joined house")
        assert await say(bot, fake_twilio, "\\ROOMS") == "Your rooms: house (active)."  # Alice stays
        # the room named: one of the sender's, else said so; a room of others is not changed
        assert (await say(bot, fake_twilio, f"\\PASSWORD house {PASSWORD}")).startswith(
            "house has a new password"
        )
        assert await say(bot, fake_twilio, "\\PASSWORD trip x") == rooms_handlers.NO_ROOM_OF_THAT_NAME
    assert (await say(bot, fake_twilio, f"\\JOIN house {new}", sender="+15550004444")) == WRONG
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender="+15550004444")).startswith(
        "Joined"
    )
    events = [e["event"] for e in logs]
    assert events.count("room.password_changed") == 2
    logged = [json.dumps(e, default=str) for e in logs]
    assert not [line for line in logged if new in line or PASSWORD in line]
    dump = await dump_database(bot)
    assert new not in dump
    assert PASSWORD not in dump
    bodies = [r.body for r in await bot.rows("SELECT body FROM inbox ORDER BY id")]
    assert [b for b in bodies if b.startswith("\\PASSWORD")] == [
        "\\PASSWORD ***",
        "\\PASSWORD *** ***",
        "\\PASSWORD *** ***",
    ]


async def test_a_join_checked_against_the_old_password_while_it_changes_is_checked_again(
    bot: Bot, fake_twilio: FakeTwilio, monkeypatch: Any
) -> None:
    """`\\JOIN house <old password>` from a newcomer and `\\PASSWORD` from a member at once: the
    join was checked against the hash it read before the change and got in with the password
    that "lets no one in" now. The check is made again against the room's password when the
    join is written: the old one is refused, and the new one, checked against the old hash
    meanwhile, joins."""
    new = "pa55wordNEW"
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    checking, go_on = asyncio.Event(), asyncio.Event()
    real_verify = rooms.verify_password

    async def held_verify(password: str, encoded: str) -> bool:
        if not go_on.is_set():
            checking.set()
            await go_on.wait()
        return await real_verify(password, encoded)

    monkeypatch.setattr(rooms, "verify_password", held_verify)
    for password, changed_to, sender, reply in (
        (PASSWORD, new, BOB, WRONG),
        ("other1", "other1", CAROL, "Joined"),
    ):
        checking.clear()
        go_on.clear()
        before = len(fake_twilio.messages)
        join = await bot.text(f"\\JOIN house {password}", sender=sender)
        await asyncio.wait_for(checking.wait(), 30)  # the old hash read, being checked
        changed = await say(bot, fake_twilio, f"\\PASSWORD {changed_to}")
        assert changed.startswith("house has a new password"), changed
        go_on.set()
        assert await bot.handled(join["MessageSid"]) == "done"

        async def answer(to: str = sender, since: int = before) -> str | None:
            return next((m["Body"] for m in fake_twilio.messages[since:] if m["To"] == to), None)

        assert str(await wait_for(answer)).startswith(reply)
    monkeypatch.setattr(rooms, "verify_password", real_verify)
    members = await bot.scalar("SELECT count(*) FROM memberships")
    assert members == 2  # Alice and Carol; Bob, with the old password, is not in


async def test_a_new_password_from_someone_in_no_room_or_over_long_changes_nothing(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    before = await bot.scalar("SELECT password_hash FROM rooms")
    assert await say(bot, fake_twilio, "\\PASSWORD house stolen", sender=CAROL) == NOT_IN_ROOM
    assert await say(bot, fake_twilio, "\\PASSWORD stolen", sender=CAROL) == NOT_IN_ROOM
    assert await say(bot, fake_twilio, "\\PASSWORD " + "x" * (rooms.MAX_PASSWORD + 1)) == too_long()
    assert (await say(bot, fake_twilio, "\\PASSWORD")).startswith("Usage: \\PASSWORD [<room>] <new password>")
    assert await bot.scalar("SELECT password_hash FROM rooms") == before
    # one who left the room changes it no more
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=BOB)).startswith("Joined")
    await say(bot, fake_twilio, "\\LEAVE", sender=BOB)
    assert await say(bot, fake_twilio, "\\PASSWORD house stolen", sender=BOB) == NOT_IN_ROOM
    assert await bot.scalar("SELECT password_hash FROM rooms") == before


async def test_a_new_password_is_not_set_for_one_who_left_while_it_was_hashed(bot: Bot) -> None:
    """`\\LEAVE` (or `\\STOP`) handled while the new password's hash is computed: nothing is set."""
    await bot.text(f"\\CREATE house {PASSWORD}")
    await bot.settled()
    room_id = await bot.scalar("SELECT id FROM rooms")
    alice = await bot.scalar("SELECT id FROM users WHERE phone = :p", p=ALICE)
    before = await bot.scalar("SELECT password_hash FROM rooms")
    async with bot.runtime.deps.db.tx() as conn:
        await rooms.leave(conn, alice, room_id, now=time.time())
    async with bot.runtime.deps.db.tx() as conn:
        assert not await rooms.set_password(
            conn, room_id, alice, await rooms.hash_password("other"), time.time()
        )
    assert await bot.scalar("SELECT password_hash FROM rooms") == before


async def test_a_new_password_for_a_long_named_room_is_answered_in_one_sms(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A 32-letter room's `\\PASSWORD` reply was 167 characters: two SMS, billed twice."""
    name = "summer-trips-to-lisbon-and-porto"  # 32 letters, the longest a name has
    await say(bot, fake_twilio, f"\\CREATE {name} {PASSWORD}")
    reply = await say(bot, fake_twilio, "\\PASSWORD pa55wordNEW")
    assert reply.startswith(f"{name} has a new password")
    assert f"\\JOIN {name} <new password>" in reply
    assert fits_one_segment(reply), len(reply)


async def test_a_new_password_that_is_a_room_of_the_senders_changes_nothing(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\PASSWORD trip`, the new password left out, made "trip" the active room's password (house's,
    when trip was another room) and answered "house has a new password": the person did not know
    they had set one, and anyone guessing the room's own name got in."""
    await say(bot, fake_twilio, f"\\CREATE trip {PASSWORD}")
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    before = [r.password_hash for r in await bot.rows("SELECT password_hash FROM rooms ORDER BY name")]
    for typed, room in (("trip", "trip"), ("House", "house"), ("\u201chouse.\u201d", "house")):
        assert await say(bot, fake_twilio, f"\\PASSWORD {typed}") == (
            f"Nothing changed: {room} is your room's name. Send \\PASSWORD {room} <new password>."
        )
    assert [
        r.password_hash for r in await bot.rows("SELECT password_hash FROM rooms ORDER BY name")
    ] == before
    assert (await say(bot, fake_twilio, "\\JOIN house house", sender=BOB)) == WRONG
    # said with the room, it is meant: the room's own name is its password then
    assert (await say(bot, fake_twilio, "\\PASSWORD trip trip")).startswith("trip has a new password")
    assert (await say(bot, fake_twilio, "\\JOIN trip trip", sender=BOB)).startswith("Joined trip")


async def test_a_new_password_is_not_said_back_as_a_room_name(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """The word before the password is as secret as it (the inbox keeps `\\PASSWORD *** ***`), yet
    a password of two words (`\\PASSWORD sekrit99 secret`) was answered "You are not in a room
    named sekrit99", said back and kept in the outbox in clear; so was a password with `thanks!`
    on the next line, which now sets it, the command's line alone."""
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    before = await bot.scalar("SELECT password_hash FROM rooms")
    reply = await say(bot, fake_twilio, "\\PASSWORD sekrit99 secret")
    assert reply == (
        "Nothing changed: you are in no room of that name, and a password is one word. \\ROOMS lists your rooms."
    )
    assert await bot.scalar("SELECT password_hash FROM rooms") == before
    assert (await say(bot, fake_twilio, "\\PASSWORD sekrit99\nthanks!")).startswith(
        "house has a new password"
    )
    assert "sekrit99" not in await dump_database(bot)
    assert (await say(bot, fake_twilio, "\\JOIN house sekrit99", sender=BOB)).startswith("Joined house")


async def test_a_password_ending_in_a_full_stop_is_said_so_to_the_one_who_set_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A T9 phone (or a double space) puts a full stop after the last word: the room's password
    became `pw.`, and a newcomer told `pw` got "No room with that name and password" with no hint
    (the answer to a guess never says what the password is like). The one who set it is told."""
    assert await say(bot, fake_twilio, "\\CREATE house hunter22.") == (
        "Created room house; its password ends in the . you typed. Others join with \\JOIN house <password>."
    )
    assert await say(bot, fake_twilio, "\\JOIN house hunter22", sender=BOB) == wrong_for("hunter22")
    assert (await say(bot, fake_twilio, "\\JOIN house hunter22.", sender=BOB)).startswith("Joined house")
    assert await say(bot, fake_twilio, "\\PASSWORD house2026!", sender=BOB) == (
        "house has a new password, ending in the ! you typed; members stay, the old one lets no one in: "
        "newcomers \\JOIN house <new password>."
    )
    assert await say(bot, fake_twilio, "\\PASSWORD house2026") == (
        "house has a new password; members stay, the old one lets no one in: newcomers \\JOIN house <new password>."
    )


async def test_a_new_password_lets_in_a_number_locked_out_by_guesses_at_the_old_one(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Bob, told the password wrong, guessed it five times and was locked out; the members gave
    the room a new password and told him: he was refused it for the rest of his 15 minutes ("Too
    many wrong passwords"). The guesses at the old password go with it; his guesses at other
    rooms still count toward his lockout."""
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    for n in range(2):
        assert await say(bot, fake_twilio, f"\\JOIN flat wrong{n}", sender=BOB) == WRONG
    for n in range(rooms.LOCKOUT_FAILURES - 2):
        assert await say(bot, fake_twilio, f"\\JOIN house wrong{n}", sender=BOB) == WRONG
    assert await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=BOB) == LOCKED
    now[0] += 1
    assert (await say(bot, fake_twilio, "\\PASSWORD newpass9")).startswith("house has a new password")
    assert (await say(bot, fake_twilio, "\\JOIN house newpass9", sender=BOB)).startswith("Joined house")
    # the guesses at flat still count: three more there lock his number out again
    for n in range(rooms.LOCKOUT_FAILURES - 2):
        assert await say(bot, fake_twilio, f"\\JOIN flat again{n}", sender=BOB) == WRONG
    await silent(bot, fake_twilio, "\\JOIN flat x", sender=BOB)  # locked out, and told so already
    assert await bot.scalar("SELECT count(*) FROM join_failures WHERE room_key = 'flat'") == 5


async def test_an_older_new_password_handled_after_a_later_one_sets_nothing(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Alice's `\\PASSWORD one` handled after Bob's later `\\PASSWORD two` (its worker died after
    setting it and before recording it handled; another process took it up once its lease ended):
    it set `one` again over `two`, and the newcomers Bob had told `two` were refused. The password
    sent last is the room's."""
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section())
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    assert (await say(bot, fake_twilio, f"\\JOIN house {PASSWORD}", sender=BOB)).startswith("Joined")
    now[0] += 60
    assert (await say(bot, fake_twilio, "\\PASSWORD twotwo2", sender=BOB)).startswith("house has a new")
    now[0] -= 30  # Alice's, sent before Bob's, handled after it
    assert await say(bot, fake_twilio, "\\PASSWORD oneone1") == (
        "Nothing changed: a member gave house a newer password after this one. Ask them for it."
    )
    now[0] += 60
    assert await say(bot, fake_twilio, "\\JOIN house oneone1", sender=CAROL) == WRONG
    assert (await say(bot, fake_twilio, "\\JOIN house twotwo2", sender=CAROL)).startswith("Joined house")
