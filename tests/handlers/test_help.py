"""`\\HELP` (handlers/help.py): the first steps and the command families in one text; `\\HELP
<family>` or `\\HELP <command>` the family's commands, as they registered; a command no family
names shows under MORE; an unknown command is told so."""

from __future__ import annotations

from bot.pipeline.dispatch import Context, HandlerResult, Inbound, Router
from tests.conftest import Bot, BotFactory
from tests.fakes.twilio_rest import FakeTwilio
from tests.handlers.talk import (
    answers,
    pair_code,
    people_type_fast,  # noqa: F401 (autouse)
    say,
    text,
)

HELP_TEXT = (
    "textwire: \\JOIN room pw or \\CREATE room pw, send receipt photos, \\BALANCE: who owes. "
    "More: \\HELP ROOMS, MONEY, REMIND, X, ACCOUNT. STOP to opt out."
)
ROOMS = (
    "Rooms: \\CREATE <room> <password> \\JOIN <room> <password> \\LEAVE [<room>] \\ROOMS \\USE <room> "
    "\\RECEIPTS [<room>] \\PASSWORD [<room>] <new password>"
)
MONEY = (
    "Splitting the bill: \\NAME <name> \\AMOUNT <amount> (0 removes it) \\SPLIT <names and shares> \\BALANCE [<room>] "
    "\\PAID <name> <amount> \\CURRENCY [<code>]"
)
X = "X: \\LINK connect X \\UNLINK disconnect X"
# `\\CURRENCY` and `\\TIMEZONE` alone say the room's: the argument is optional (it read as required)
REMIND = "Reminders and statements: \\REMIND weekly|monthly|off \\TIMEZONE [<zone>] \\STATEMENT [YYYY-MM]"
ACCOUNT = (
    "Account: \\PAIR make another app or number you too \\UNPAIR take an app or number out of you "
    "\\STOP delete your account"
)


async def test_help_gives_the_first_steps_and_every_family(bot: Bot, fake_twilio: FakeTwilio) -> None:
    for body in ("\\HELP", "/help", "\\Help"):
        before = len(fake_twilio.messages)
        sid = await text(bot, body)
        assert [m["Body"] for m in fake_twilio.messages[before:]] == [HELP_TEXT], body
        assert await answers(bot, sid) == ["help"]


async def test_help_of_a_family_lists_its_commands_as_registered(bot: Bot, fake_twilio: FakeTwilio) -> None:
    assert await say(bot, fake_twilio, "\\HELP ROOMS") == ROOMS
    assert await say(bot, fake_twilio, "\\help money") == MONEY
    assert await say(bot, fake_twilio, "/HELP x") == X
    assert await say(bot, fake_twilio, "\\HELP Account and more") == ACCOUNT  # the first word counts


async def test_help_of_a_command_gives_its_family(bot: Bot, fake_twilio: FakeTwilio) -> None:
    assert await say(bot, fake_twilio, "\\HELP join") == ROOMS
    assert await say(bot, fake_twilio, "\\HELP \\PAID") == MONEY
    assert await say(bot, fake_twilio, "\\HELP /unlink") == X
    assert await say(bot, fake_twilio, "\\HELP stop") == ACCOUNT
    assert await say(bot, fake_twilio, "\\HELP timezone") == REMIND
    # mistyped, as a person does: "No help on room." sent them to \\HELP again
    assert await say(bot, fake_twilio, "\\HELP room") == ROOMS
    assert await say(bot, fake_twilio, "\\HELP reciepts") == ROOMS
    assert await say(bot, fake_twilio, "\\HELP Reminders") == REMIND
    assert await say(bot, fake_twilio, "\\HELP acount") == ACCOUNT


async def test_help_of_a_command_in_another_language_gives_its_family(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    # `\\SALDO` alone was offered \\BALANCE, but `\\HELP SALDO` said "No help on SALDO."
    assert await say(bot, fake_twilio, "\\HELP saldo") == MONEY
    assert await say(bot, fake_twilio, "\\HELP Rejoindre") == ROOMS
    assert await say(bot, fake_twilio, "\\HELP Währung") == MONEY
    assert await say(bot, fake_twilio, "\\HELP como pagado?") == MONEY  # a later word, as in English


async def test_help_asked_as_a_question_gives_the_family_of_the_command_in_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    # "No help on how." answered a newcomer who named the command a word later
    assert await say(bot, fake_twilio, "\\HELP how do I join?") == ROOMS
    assert await say(bot, fake_twilio, "\\Help what do I do with a \\BALANCE") == MONEY
    assert await say(bot, fake_twilio, "\\help me stop.") == ACCOUNT
    # the first word still counts first, typed or mistyped
    assert await say(bot, fake_twilio, "\\HELP reciepts and balance") == ROOMS
    assert await say(bot, fake_twilio, "\\HELP how do I do it") == (
        "No help on how. Try \\HELP with one of: ROOMS, MONEY, REMIND, X, ACCOUNT."
    )


async def test_help_asked_for_everything_gives_the_help(bot: Bot, fake_twilio: FakeTwilio) -> None:
    # "No help on me." answered `\\HELP me`, and `\\HELP all commands` the same
    whole = await say(bot, fake_twilio, "\\HELP")
    assert await say(bot, fake_twilio, "\\HELP me") == whole
    assert await say(bot, fake_twilio, "\\help all commands") == whole
    assert await say(bot, fake_twilio, "\\HELP please!") == whole
    assert await say(bot, fake_twilio, "\\help me stop.") == ACCOUNT  # a command named still counts


async def test_help_of_something_else_names_the_families(bot: Bot, fake_twilio: FakeTwilio) -> None:
    assert (
        await say(bot, fake_twilio, "\\HELP weather")
        == "No help on weather. Try \\HELP with one of: ROOMS, MONEY, REMIND, X, ACCOUNT."
    )
    word = "supercalifragilistic" + "expialidocious"
    assert (
        await say(bot, fake_twilio, f"\\HELP {word}")
        == f"No help on {word[:20]}. Try \\HELP with one of: ROOMS, MONEY, REMIND, X, ACCOUNT."
    )
    assert await say(bot, fake_twilio, "\\HELP help") == (  # \HELP is no family's
        "No help on help. Try \\HELP with one of: ROOMS, MONEY, REMIND, X, ACCOUNT."
    )
    # nor is it in another language: `\\HELP aide` (French) was the money family, as if `aide` were
    # `paid` mistyped
    assert await say(bot, fake_twilio, "\\HELP aide") == (
        "No help on aide. Try \\HELP with one of: ROOMS, MONEY, REMIND, X, ACCOUNT."
    )


async def test_an_unknown_command_is_told_so(bot: Bot, fake_twilio: FakeTwilio) -> None:
    sid = await text(bot, "\\foo bar")
    assert [m["Body"] for m in fake_twilio.messages] == ["Unknown command \\FOO. Send \\HELP for the list."]
    assert await answers(bot, sid) == ["unknown-command"]
    assert (
        await say(bot, fake_twilio, "/frobnicate_everything_at_once")
        == "Unknown command \\FROBNICATE_EVERYTHIN. Send \\HELP for the list."
    )
    # not echoed when it is not plain: a curly quote or an emoji would make the SMS two UCS-2 parts
    assert await say(bot, fake_twilio, "\\ROOMS\u2019") == "Unknown command. Send \\HELP for the list."


async def test_a_mistyped_command_is_named_and_keeps_no_password(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\JION house hunter22` said only "Unknown command \\JION", and the inbox kept the password
    for its 7 days (a \\JOIN's is `***` once handled): the reply names the command meant, and the
    arguments of an unknown command are not kept."""
    sid = await text(bot, "\\JION house hunter22")
    assert [m["Body"] for m in fake_twilio.messages] == [
        "Unknown command \\JION. Did you mean \\JOIN? Send \\HELP for the list."
    ]
    assert await bot.scalar("SELECT body FROM inbox WHERE message_sid = :s", s=sid) == "\\JION ***"
    assert await say(bot, fake_twilio, "/crate flat s3cret") == (
        "Unknown command \\CRATE. Did you mean \\CREATE? Send \\HELP for the list."
    )
    assert await say(bot, fake_twilio, "\\balence") == (
        "Unknown command \\BALENCE. Did you mean \\BALANCE? Send \\HELP for the list."
    )
    assert await say(bot, fake_twilio, "\\hlep") == (
        "Unknown command \\HLEP. Did you mean \\HELP? Send \\HELP for the list."
    )
    assert await say(bot, fake_twilio, "\\weather") == "Unknown command \\WEATHER. Send \\HELP for the list."
    # a family \\HELP names, typed as a command: `\\ACCOUNT` said "Did you mean \\AMOUNT?"
    assert await say(bot, fake_twilio, "\\money") == MONEY
    assert await say(bot, fake_twilio, "/Account") == ACCOUNT
    bodies = [r.body for r in await bot.rows("SELECT body FROM inbox")]
    assert not any("hunter22" in b or "s3cret" in b for b in bodies), bodies


async def test_a_command_with_a_question_mark_after_it_is_that_command(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\help?`, `\\HELP!` and `\\rooms.` answered "Unknown command. Send \\HELP for the list."."""
    for body in ("\\help?", "\\HELP!"):
        assert await say(bot, fake_twilio, body) == HELP_TEXT, body
    assert await say(bot, fake_twilio, "\\help rooms.") == ROOMS
    assert (await say(bot, fake_twilio, "/rooms.")).startswith("You are not in a room.")
    # but a question mark after \\STOP or \\UNLINK asks what it does: the account stays
    assert (
        await say(bot, fake_twilio, "\\STOP?")
        == "\\STOP deletes your account. Send it without the ? to do it."
    )
    assert await bot.scalar("SELECT count(*) FROM users") == 1


async def test_punctuation_a_phone_keyboard_makes_after_a_command_is_no_part_of_it(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\help...` (one ellipsis character on an iPhone) and `\\HELP\uff1f` (a Japanese keyboard's
    full-width question mark) answered "Unknown command. Send \\HELP for the list."; `\\STOP\uff1f`
    asks what \\STOP does, as `\\STOP?` does."""
    for body in ("\\help\u2026", "\uff3cHELP\uff1f", "\\help\u3002"):
        assert await say(bot, fake_twilio, body) == HELP_TEXT, body
    assert await say(bot, fake_twilio, "\\help rooms\u2026") == ROOMS
    assert (
        await say(bot, fake_twilio, "\\STOP\uff1f")
        == "\\STOP deletes your account. Send it without the ? to do it."
    )
    assert await bot.scalar("SELECT count(*) FROM users") == 1


async def test_a_backslash_typed_twice_starts_the_command_after_it(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\\\HELP`, `\\/rooms` and `\\ \\ROOMS` (a key pressed twice, a slash after it) answered
    "Unknown command. Send \\HELP for the list.", with no word of the command typed."""
    assert await say(bot, fake_twilio, "\\\\HELP") == HELP_TEXT
    assert await say(bot, fake_twilio, "\\/help rooms") == ROOMS
    assert (await say(bot, fake_twilio, "\\ \\ROOMS")).startswith("You are not in a room.")
    assert await say(bot, fake_twilio, "\\\\") == "Unknown command. Send \\HELP for the list."


async def test_two_commands_in_one_text_are_told_apart(bot: Bot, fake_twilio: FakeTwilio) -> None:
    """`\\NAME Ann \\BALANCE` said a name is 1-20 letters and digits; `\\ROOMS\n\\BALANCE` answered the
    rooms alone; `\\JOIN house pw \\BALANCE` gave the usage the person thought they had followed."""
    two = "One command a text, please: send \\{} and \\{} as two texts."
    assert await say(bot, fake_twilio, "\\NAME Ann \\BALANCE") == two.format("NAME", "BALANCE")
    assert await say(bot, fake_twilio, "\\rooms\n/balance") == two.format("ROOMS", "BALANCE")
    sid = await text(bot, "\\JOIN house hunter22 \\BALANCE")
    assert [m["Body"] for m in fake_twilio.messages][-1] == two.format("JOIN", "BALANCE")
    assert await bot.scalar("SELECT body FROM inbox WHERE message_sid = :s", s=sid) == "\\JOIN ***"
    # \\HELP takes a command's name
    assert await say(bot, fake_twilio, "\\HELP \\JOIN") == ROOMS


async def test_a_command_no_family_names_shows_under_more(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    extra = Router("extra")

    @extra.command("PING", args=0, usage="\\PING")
    async def ping(msg: Inbound, ctx: Context) -> HandlerResult:
        return "pong"

    @extra.command("PONG", args=(0, 1), usage="\\PONG [<n>]", help="\\PONG back")
    async def pong(msg: Inbound, ctx: Context) -> HandlerResult:
        return "ping"

    @extra.command("HIDDEN", args=0, help="")
    async def hidden(msg: Inbound, ctx: Context) -> HandlerResult:
        return "shh"

    bot = await bot_factory(routers=(extra,), twilio=fake_twilio.section())
    assert await say(bot, fake_twilio, "\\HELP") == (
        "textwire: \\JOIN room pw or \\CREATE room pw, send receipt photos, \\BALANCE: who owes. "
        "More: \\HELP ROOMS, MONEY, REMIND, X, ACCOUNT, MORE. STOP to opt out."
    )
    assert await say(bot, fake_twilio, "\\HELP more") == "More: \\PING \\PONG back"
    assert await say(bot, fake_twilio, "\\HELP pong") == "More: \\PING \\PONG back"
    assert await say(bot, fake_twilio, "\\HELP hidden") == (
        "No help on hidden. Try \\HELP with one of: ROOMS, MONEY, REMIND, X, ACCOUNT, MORE."
    )
    assert await say(bot, fake_twilio, "\\HIDDEN") == "shh"


async def test_help_tells_a_paired_address_that_stop_takes_it_out_alone(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\HELP ACCOUNT` said "\\STOP delete your account" to a paired address too, where `\\STOP`
    takes that address out and the person keeps their rooms, balances and other addresses: a
    person who wanted one number out was told it would delete everything."""
    second = "+15550005555"
    code = await pair_code(bot, fake_twilio)
    assert await say(bot, fake_twilio, "\\HELP ACCOUNT", sender=second) == ACCOUNT  # not paired yet
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=second)).startswith("Paired:")
    paired = (
        "Account: \\PAIR make another app or number you too \\UNPAIR take an app or number out of you "
        "\\STOP take this address out of you"
    )
    assert await say(bot, fake_twilio, "\\HELP ACCOUNT", sender=second) == paired
    assert await say(bot, fake_twilio, "\\help stop") == paired
    assert await say(bot, fake_twilio, "\\ACCOUNT") == paired
    assert await say(bot, fake_twilio, "\\HELP") == HELP_TEXT  # one segment, the families only


async def test_stop_asked_from_a_paired_address_says_it_takes_that_address_out(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """`\\STOP?` answered "\\STOP delete your account. Send it without the ? to do it." to a paired
    address too, where `\\HELP` says it takes only that address out; nothing is done either way."""
    second = "+15550005555"
    code = await pair_code(bot, fake_twilio)
    assert (await say(bot, fake_twilio, f"\\PAIR {code}", sender=second)).startswith("Paired:")
    asked = "\\STOP takes only this address out of you. Send it without the ? to do it."
    assert await say(bot, fake_twilio, "\\STOP?", sender=second) == asked
    assert await say(bot, fake_twilio, "/stop?") == asked
    assert await bot.scalar("SELECT count(*) FROM addresses") == 2


async def test_a_command_in_another_language_is_offered_the_one_it_names(
    bot: Bot, fake_twilio: FakeTwilio
) -> None:
    """A French speaker's `\\AIDE` was asked "Did you mean \\PAID?", and `\\SOLDE`, `\\PAYÉ Ann 20`
    got no hint at all. The words French, Spanish, Portuguese, Italian and German speakers type
    for the commands now name them; they are never run as the command."""
    assert (
        await say(bot, fake_twilio, "\\AIDE")
        == "Unknown command \\AIDE. Did you mean \\HELP? Send \\HELP for the list."
    )
    assert await say(bot, fake_twilio, "/saldo") == (
        "Unknown command \\SALDO. Did you mean \\BALANCE? Send \\HELP for the list."
    )
    # accented: not echoed (the SMS stays GSM-7 whatever the accent), the command still named
    assert (
        await say(bot, fake_twilio, "\\PAYÉ Ann 20")
        == "Unknown command. Did you mean \\PAID? Send \\HELP for the list."
    )
    assert await say(bot, fake_twilio, "\\Währung EUR") == (
        "Unknown command. Did you mean \\CURRENCY? Send \\HELP for the list."
    )
    assert await say(bot, fake_twilio, "\\REJOINDRE flat pw1234") == (
        "Unknown command \\REJOINDRE. Did you mean \\JOIN? Send \\HELP for the list."
    )
    bodies = [r.body for r in await bot.rows("SELECT body FROM inbox")]
    assert not any("pw1234" in b for b in bodies), bodies
    # English typos as before
    assert (
        await say(bot, fake_twilio, "\\JION")
        == "Unknown command \\JION. Did you mean \\JOIN? Send \\HELP for the list."
    )
