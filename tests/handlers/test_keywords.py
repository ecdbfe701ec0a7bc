"""Carrier keywords (handlers/keywords.py): whole messages, any case, handled at once. STOP and its
synonyms opt the number out with no answer; START, YES, UNSTOP opt it back in; HELP and INFO get
the help text; Twilio's `OptOutType` counts the same, and then Twilio has answered already. A
keyword is never posted."""

from __future__ import annotations

import pytest

from bot.pipeline import replyguard
from handlers.keywords import ASKED_TO_STOP
from tests import images
from tests.conftest import ALICE, Bot, BotFactory, XBot
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_media import mms
from tests.handlers.talk import (
    answers,
    inbox_row,
    opted_out,
    pair_code,
    people_type_fast,  # noqa: F401 (autouse)
    say,
    silent,
    text,
)

OPTED_IN = "You will get replies from textwire again. Send \\HELP for the commands."
HELP_TEXT = (
    "textwire: \\JOIN room pw or \\CREATE room pw, send receipt photos, \\BALANCE: who owes. "
    "More: \\HELP ROOMS, MONEY, REMIND, X, ACCOUNT. STOP to opt out."
)


def phone(n: int) -> str:
    return f"+1555010{n:04d}"


async def test_every_opt_out_word_in_any_case_opts_out_without_an_answer(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    words = ["STOP", "stopall", "Unsubscribe", " cancel ", "END", "quit", "REVOKE", "OptOut"]
    for n, word in enumerate(words):
        await silent(bot, fake_twilio, word, sender=phone(n))
        assert await opted_out(bot, phone(n)) is True, word


async def test_after_stop_nothing_is_sent_until_the_number_opts_back_in(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    await silent(bot, fake_twilio, "stop")
    help_sid = await silent(bot, fake_twilio, "\\HELP")  # answered, never sent
    assert (
        await bot.scalar(
            "SELECT o.status FROM outbox o JOIN inbox i ON o.inbox_id = i.id WHERE i.message_sid = :s",
            s=help_sid,
        )
        == "skipped"
    )
    assert await say(bot, fake_twilio, "start") == OPTED_IN
    assert await opted_out(bot, ALICE) is False
    assert await say(bot, fake_twilio, "\\HELP") == HELP_TEXT


async def test_every_opt_in_word_opts_back_in_and_says_so(bot: Bot, fake_twilio: FakeTwilio) -> None:
    for n, word in enumerate(["START", "yes", " Unstop "]):
        await silent(bot, fake_twilio, "STOP", sender=phone(n))
        assert await say(bot, fake_twilio, word, sender=phone(n)) == OPTED_IN, word
        assert await opted_out(bot, phone(n)) is False, word


async def test_help_and_info_get_the_help_text(bot: Bot, fake_twilio: FakeTwilio) -> None:
    for body in ("HELP", "info", " Help "):
        before = len(fake_twilio.messages)
        sid = await text(bot, body)
        assert [m["Body"] for m in fake_twilio.messages[before:]] == [HELP_TEXT], body
        assert await answers(bot, sid) == ["help"]


async def test_opt_out_type_counts_whatever_the_words(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Twilio's Advanced Opt-Out knows other words (and languages): its `OptOutType` decides. It
    also answered the number itself, so START and HELP get no second answer from us."""
    await silent(bot, fake_twilio, "arrêt s'il vous plaît", OptOutType="STOP")
    assert await opted_out(bot, ALICE) is True
    await silent(bot, fake_twilio, "démarrer", OptOutType="START")
    assert await opted_out(bot, ALICE) is False
    await silent(bot, fake_twilio, "aide", OptOutType="help")
    await silent(bot, fake_twilio, "START", OptOutType="START")
    await silent(bot, fake_twilio, "HELP", OptOutType="HELP")
    assert await opted_out(bot, ALICE) is False


async def test_a_photo_captioned_with_a_keyword_is_saved_as_the_keyword_does_its_part(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A receipt photo captioned `Yes` (or `Help`, `Stop`) got the keyword's answer alone: the
    photo was dropped, in no room and never counted, and its copy stayed at Twilio. The keyword
    does what it does (the help for HELP, an opt-out for STOP) and the photo is saved."""
    fake = fake_twilio
    assert (await say(bot, fake, "\\CREATE house pw")).startswith("Created room house")
    saved = "Saved to house; no total found. Reply \\AMOUNT 12.34 to set it."
    for n, (caption, expected) in enumerate((("Yes", [saved]), ("help", [HELP_TEXT, saved]))):
        url = fake.media.add(images.jpeg_with_gps(640, 480, variant=40 + n))
        before = len(fake.messages)
        await text(bot, caption, **mms([url]))
        assert [m["Body"] for m in fake.messages[before:]] == expected, caption
    url = fake.media.add(images.jpeg_with_gps(640, 480, variant=42))
    await silent(bot, fake, "STOP", **mms([url]))
    assert await opted_out(bot, ALICE) is True
    assert await bot.scalar("SELECT count(*) FROM receipts") == 3
    assert len(fake.media.deleted) == 3  # stored, so no copy is left at Twilio


async def test_a_keyword_is_the_whole_message(bot: Bot, fake_twilio: FakeTwilio) -> None:
    for body in ("stop please", "please stop", "STOP STOP"):
        reply = await say(bot, fake_twilio, body)
        assert reply != HELP_TEXT
        assert not await opted_out(bot, ALICE), body
    # not the keyword (not handled at once, as a keyword is), but asking for the help in words
    sid = await text(bot, "help me")
    assert (await inbox_row(bot, sid)).priority == 0
    assert [m["Body"] for m in fake_twilio.messages][-1] == HELP_TEXT


async def test_keywords_are_handled_at_once(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """Stored as priority by the webhook: never held back behind the number's other texts."""
    expected = {"stop": 1, "START": 1, "yes": 1, "help": 1, "INFO": 1, "stop please": 0, "helpful": 0}
    for n, (body, priority) in enumerate(expected.items()):
        sid = await text(bot, body, sender=phone(n))
        assert (await inbox_row(bot, sid)).priority == priority, body


async def test_a_keyword_in_full_width_letters_or_with_invisible_characters_is_that_keyword(
    xbot: XBot,
) -> None:
    """A full-width keyboard's \uff33\uff34\uff2f\uff30, or STOP with a zero-width space or a byte order mark
    a paste left in (or the direction isolates a shared text is wrapped in), is the keyword the
    person sees: they were posted to X, and the number was not opted out."""
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    for body in ("\uff33\uff34\uff2f\uff30", "STOP\u200b", "\ufeffstop", "\u2068STOP\u2069"):
        sid = await silent(xbot, twilio, body)
        assert (await inbox_row(xbot, sid)).priority == 1, body
        assert await opted_out(xbot, ALICE) is True, body
        assert await say(xbot, twilio, "\uff33\uff34\uff21\uff32\uff34") == OPTED_IN
    assert await say(xbot, twilio, "\u200bhelp") == HELP_TEXT
    assert xbot.x.posts == []


async def test_a_keyword_typed_on_a_turkish_keyboard_is_that_keyword(xbot: XBot) -> None:
    """A Turkish keyboard types a capital i with its dot (QU\u0130T, \u0130NFO): they went to X as
    posts, and the number was not opted out."""
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    assert await say(xbot, twilio, "\u0130NFO") == HELP_TEXT
    await silent(xbot, twilio, "QU\u0130T")
    assert await opted_out(xbot, ALICE) is True
    assert await say(xbot, twilio, "START") == OPTED_IN
    await silent(xbot, twilio, "unsubscr\u0131be")
    assert await opted_out(xbot, ALICE) is True
    assert xbot.x.posts == []


async def test_a_keyword_is_never_posted(xbot: XBot) -> None:
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    for body in ("help", "Info", "yes"):
        await text(xbot, body)
    await silent(xbot, twilio, "stop")
    assert xbot.x.posts == []
    await say(xbot, twilio, "start")
    await text(xbot, "posted")  # plain text from a linked number is posted
    assert xbot.x.posts == [("100", "posted")]


async def test_stop_on_whatsapp_is_confirmed_by_textwire_and_start_ends_it(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """Twilio confirms an SMS STOP (carrier rules), not a WhatsApp one: textwire says what it did
    and how to undo it; the address stays opted out until START, as on SMS."""
    bot = await bot_factory(twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"})
    wa = "whatsapp:+15550109999"
    assert await say(bot, fake_twilio, "stop", sender=wa) == (
        "You will get no more messages from textwire here. Send START to get them again; "
        "\\STOP deletes your account."
    )
    assert await opted_out(bot, wa) is True
    await silent(bot, fake_twilio, "\\HELP", sender=wa)  # answered, not sent
    assert await say(bot, fake_twilio, "START", sender=wa) == OPTED_IN


async def test_stop_on_a_paired_whatsapp_says_stop_takes_only_that_address_out(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    """A paired WhatsApp that sent STOP was told "\\STOP deletes your account", where its `\\STOP`
    takes that address out alone and the rooms and balances stay with the other (as `\\HELP` says
    there): a person who wanted one app out read that it would delete everything."""
    bot = await bot_factory(twilio={**fake_twilio.section(), "whatsapp_from": "whatsapp:+14155238886"})
    wa = "whatsapp:+15550109998"
    await say(bot, fake_twilio, "\\CREATE house pw1")
    code = await pair_code(bot, fake_twilio)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=wa)).startswith("Paired:")
    assert await say(bot, fake_twilio, "stop", sender=wa) == (
        "You will get no more messages from textwire here. Send START to get them again; "
        "\\STOP takes only this address out of you."
    )
    assert await bot.scalar("SELECT opted_out FROM addresses WHERE address = :a", a=wa)
    await silent(bot, fake_twilio, "\\ROOMS", sender=wa)  # answered, not sent
    assert await say(bot, fake_twilio, "START", sender=wa) == OPTED_IN


async def test_start_or_yes_from_someone_never_opted_out_gets_the_welcome(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A newcomer who texts START (as a flyer says) or a member who answers YES was never opted
    out: "replies again" would puzzle them; the newcomer gets the welcome, the member the help."""
    # what to do first, as a first text's welcome says it ("Send \\HELP for the commands." alone
    # sent the newcomer from the flyer back to the keyboard before they learned anything)
    welcome = (
        "Welcome to textwire! Share receipts in a room: \\CREATE room pw or \\JOIN room pw, then send "
        "photos. \\HELP for more."
    )
    assert await say(bot, fake_twilio, "START", sender=phone(1)) == welcome
    assert await say(bot, fake_twilio, "\\NAME Ann", sender=phone(2)) == "Your rooms now see you as Ann."
    assert await say(bot, fake_twilio, "yes", sender=phone(2)) == HELP_TEXT
    assert await opted_out(bot, phone(1)) is False
    await silent(bot, fake_twilio, "STOP", sender=phone(1))
    assert await say(bot, fake_twilio, "START", sender=phone(1)) == OPTED_IN


async def test_an_opt_out_or_help_word_ended_as_people_end_a_text_is_that_keyword(xbot: XBot) -> None:
    """`Stop.`, `STOP!`, `quit...` or `Help?`: the keyword, as CHANGELOG says, with what a phone
    adds after a word read past. They went to X as posts, and the number was not opted out.
    `Yes!` stays a post (people say it), as does `stop please`."""
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    assert await say(xbot, twilio, "Help?") == HELP_TEXT
    assert await say(xbot, twilio, "Info.") == HELP_TEXT
    for body, back in zip(
        ("Stop.", "STOP!", "quit...", "Cancel\u2026", "stop !"),
        ("START", "Start.", "unstop!", "START\u2026", "Start ."),
        strict=True,
    ):
        sid = await silent(xbot, twilio, body)
        assert (await inbox_row(xbot, sid)).priority == 1, body
        assert await opted_out(xbot, ALICE) is True, body
        # and back the same way: `Start.` was a post, and the number stayed opted out
        assert await say(xbot, twilio, back) == OPTED_IN, back
        assert await opted_out(xbot, ALICE) is False, back
    assert xbot.x.posts == []
    await text(xbot, "Yes!")
    assert xbot.x.posts == [("100", "Yes!")]


async def test_asking_to_stop_in_more_words_is_not_posted_and_says_how(
    xbot: XBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stop please`, `Please stop texting me`, `opt out`: a keyword is the whole message (SPEC),
    so none opts out, but each was posted to X, where someone asking us to stop least wants their
    words, and a newcomer's got the welcome and an X link. Each says how to stop, and nothing is
    posted; a post that only has the word in it is posted as before."""
    # seven plain texts, each right after our answer: a loop's quick streak to the reply guard
    monkeypatch.setattr(replyguard, "QUICK_STREAK", 100)
    twilio: FakeTwilio = xbot.extras["twilio"]
    assert await say(xbot, twilio, "Stop texting me", sender=phone(1)) == ASKED_TO_STOP  # a first text
    await xbot.link(user=("100", "alice"))
    for body in (
        "stop please", "Please stop texting me!", "opt out", "Unsubscribe me.", "No more texts",
        "stop pls", "STOP STOP", "Stop stop stop!", "unsubscribe plz",
    ):  # fmt: skip
        assert await say(xbot, twilio, body) == ASKED_TO_STOP, body
        assert await opted_out(xbot, ALICE) is False, body
    await say(xbot, twilio, "Can't stop smiling")
    assert xbot.x.posts == [("100", "Can't stop smiling")]
    await silent(xbot, twilio, "STOP")  # the keyword itself opts out, as ever
    assert await opted_out(xbot, ALICE) is True


async def test_asking_for_help_in_more_words_gets_the_help_and_is_not_posted(
    xbot: XBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`help me`, `Help please!`, `I need help`: HELP is a keyword only as the whole message, so
    these were plain texts, and a person connected to X who asked the bot for help so had it
    posted to their followers (one not connected got a link to connect X). They get the help, as
    HELP does, and nothing is posted; a post with the word in it is posted as before."""
    monkeypatch.setattr(replyguard, "QUICK_STREAK", 100)
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    helped = await say(xbot, twilio, "HELP")
    assert helped.startswith("textwire: \\JOIN room pw")
    for body in (
        "help me", "Help please!", "please help", "I need help", "help pls", "need help?",
        "info please", "Help me please \U0001f64f", "help help",
    ):  # fmt: skip
        assert await say(xbot, twilio, body) == helped, body
    await say(xbot, twilio, "help me decide: pizza or tacos?")
    assert xbot.x.posts == [("100", "help me decide: pizza or tacos?")]


async def test_asking_to_stop_in_full_width_letters_or_to_be_removed_is_not_posted(
    xbot: XBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`\uff33\uff34\uff2f\uff30 please` from a full-width keyboard, and `remove me` or `Remove me from this list`
    (how people ask a number that texts them to stop) were posted to X. They opt nothing out (a
    keyword is the whole message) but say how to stop, as `stop please` does; a post about
    removing something is posted as before."""
    monkeypatch.setattr(replyguard, "QUICK_STREAK", 100)
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    for body in (
        "\uff33\uff34\uff2f\uff30 please",
        "\uff53\uff54\uff4f\uff50 \uff50\uff4c\uff45\uff41\uff53\uff45",
        "remove me",
        "Remove me from this list",
        "Please remove me from your list.",
        "take me off your list",
    ):
        assert await say(xbot, twilio, body) == ASKED_TO_STOP, body
        assert await opted_out(xbot, ALICE) is False, body
    await say(xbot, twilio, "remove me from the group photo lol")
    assert xbot.x.posts == [("100", "remove me from the group photo lol")]


async def test_asking_to_stop_with_an_emoji_is_not_posted(
    xbot: XBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Stop texting me 🙏`, `STOP 😡`, `🛑 stop`: an emoji is no word, but it kept these from
    reading as asking to stop, and they were posted to X. They say how to stop and opt nothing out
    (the keyword is the whole message, as the carrier reads it); a post with an emoji that only has
    the word in it is posted as before."""
    monkeypatch.setattr(replyguard, "QUICK_STREAK", 100)
    twilio: FakeTwilio = xbot.extras["twilio"]
    await xbot.link(user=("100", "alice"))
    for body in (
        "Stop texting me \U0001f64f",
        "stop please \U0001f64f\U0001f3fd",
        "STOP \U0001f621",
        "\U0001f6d1 stop",
    ):
        assert await say(xbot, twilio, body) == ASKED_TO_STOP, body
        assert await opted_out(xbot, ALICE) is False, body
    await say(xbot, twilio, "Can't stop smiling \U0001f60a")
    assert xbot.x.posts == [("100", "Can't stop smiling \U0001f60a")]
