"""The dispatcher: routers, filters that parse once, middlewares, registration checks."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.channel import Address
from bot.core.logs import get_logger
from bot.pipeline.dispatch import (
    Command,
    Context,
    Dispatcher,
    HandlerResult,
    Inbound,
    Reply,
    Router,
    any_command,
    has_text,
    parse_command,
)


def msg(body: str) -> Inbound:
    return Inbound(
        id=1, external_id="SM" + "0" * 32, sender=Address("sms", "+15550001111"), recipient="+1", body=body
    )


def ctx() -> Context:
    return Context(deps=None, log=get_logger("test"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "own", "first"),
    [
        ("\\NAME Cat\nthanks", ("Cat",), ("Cat",)),
        ("\\STOP\nthanks for all", (), ("thanks", "for", "all")),
        ("/join\r\n\r\n house  pw \nsee you", (), ("house", "pw")),
        ("\\ \\JOIN house pw", ("house", "pw"), ("house", "pw")),
        ("\\ROOMS", (), ()),
    ],
)
def test_a_commands_lines(text: str, own: tuple[str, ...], first: tuple[str, ...]) -> None:
    cmd = parse_command(text)
    assert cmd is not None
    assert (cmd.own_line, cmd.first_line) == (own, first)


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("\\JOIN house pw", "JOIN", ("house", "pw")),
        ("/join   House   pw  ", "JOIN", ("House", "pw")),
        ("  \\help", "HELP", ()),
        ("\\ JOIN house pw", "JOIN", ("house", "pw")),  # extra spaces: not a post with a password in it
        ("/ join house pw", "JOIN", ("house", "pw")),
        ("\\", "", ()),  # a backslash always starts a command: this one unknown, never a post
        ("\\ 1", "", ("1",)),
        ("\\123", "", ("123",)),
        ("\\?", "", ("?",)),
        # a prefix typed twice: the command after it
        ("\\\\HELP", "HELP", ()),
        ("\\/rooms", "ROOMS", ()),
        ("\\ \\join house pw", "JOIN", ("house", "pw")),
        # what a person does not see or types on another keyboard: these went to X as posts
        ("\u200b\\HELP", "HELP", ()),  # a zero-width space first
        ("\ufeff \\JOIN house pw", "JOIN", ("house", "pw")),  # a byte order mark
        ("\uff3cHELP rooms", "HELP", ("rooms",)),  # FULLWIDTH REVERSE SOLIDUS (Japanese keyboards)
        ("\uff0fjoin house pw", "JOIN", ("house", "pw")),  # FULLWIDTH SOLIDUS
        # the yen and won signs Japanese and Korean keyboards have where the backslash is
        ("\u00a5JOIN house pw", "JOIN", ("house", "pw")),
        ("\u20a9 balance?", "BALANCE", ()),
        ("\uffe5help rooms", "HELP", ("rooms",)),  # FULLWIDTH YEN SIGN
        ("\uffe6ROOMS", "ROOMS", ()),  # FULLWIDTH WON SIGN
        # invisible characters pasted inside (a notes app, a web page): no part of a name or word
        ("\\JOIN house\u200b pw\u200b", "JOIN", ("house", "pw")),
        ("\\BAL\u200bANCE \u2060house\ufeff", "BALANCE", ("house",)),
        ("\\JOIN hou\u00adse \u200e\u200dpw\u200c \u200d", "JOIN", ("house", "pw")),
        ("\\JOIN house \U0001f468\u200d\U0001f467", "JOIN", ("house", "\U0001f468\u200d\U0001f467")),
        # the direction controls a phone or an app wraps shared text in: these went to X as posts
        ("\u2068\\JOIN house pw\u2069", "JOIN", ("house", "pw")),  # FIRST STRONG ISOLATE ... POP
        ("\u202a\\HELP\u202c", "HELP", ()),  # LEFT-TO-RIGHT EMBEDDING ... POP
        ("\\PAID \u2066Bob\u2069 5\u061c", "PAID", ("Bob", "5")),
        # punctuation after the name, as after any word: "Unknown command." answered these
        ("\\balance?", "BALANCE", ()),
        ("\\ROOMS.", "ROOMS", ()),
        ("/Help! rooms", "HELP", ("rooms",)),
        ("\\join: house pw", "JOIN", ("house", "pw")),
        ("\\rooms\u2026", "ROOMS", ()),  # an iPhone's ... is one character
        ("\uff3cHELP\uff1f", "HELP", ()),  # a Japanese keyboard's full-width ? (and \\)
        ("\\balance\u3002", "BALANCE", ()),  # IDEOGRAPHIC FULL STOP
        ("\\balance\u061f", "BALANCE", ()),  # ARABIC QUESTION MARK
        ("\\join\u060c house pw", "JOIN", ("house", "pw")),  # ARABIC COMMA
        # a keyboard in full-width mode types the name full-width too: "Unknown command." answered it
        ("\uff3c\uff28\uff25\uff2c\uff30", "HELP", ()),
        ("\\\uff52\uff4f\uff4f\uff4d\uff53\uff0e", "ROOMS", ()),
        ("/\uff22\uff41\uff4c\uff41\uff4e\uff43\uff45 house", "BALANCE", ("house",)),
        # a Turkish keyboard's capital i has its dot (and its small one none): "Unknown command."
        ("\\JO\u0130N house pw", "JOIN", ("house", "pw")),
        ("\\L\u0130NK", "LINK", ()),
        ("/spl\u0131t ann bob", "SPLIT", ("ann", "bob")),
        # in quotes, as a flyer or a friend's text wrote it: these went to X as posts, password and all
        ("\u201c\\JOIN house pw\u201d", "JOIN", ("house", "pw")),  # a phone's smart quotes
        ('"\\join house pw"', "JOIN", ("house", "pw")),
        ("\u201e \\Balance\u201c", "BALANCE", ()),
        ("'\\HELP rooms'", "HELP", ("rooms",)),
        ("\u201c\\JOIN house it\u2019s\u201d", "JOIN", ("house", "it\u2019s")),  # one closing quote only
        ("\u201c\\JOIN house pw\nsee you there\u201d", "JOIN", ("house", "pw", "see", "you", "there")),
        # Spanish's inverted marks before it, as a phone set to Spanish types them: posts to X
        ("\u00bf\\BALANCE?", "BALANCE", ()),
        ("\u00bf \\balance casa?", "BALANCE", ("casa?",)),
        ("\u00a1\\PAID Jos\u00e9 5!", "PAID", ("Jos\u00e9", "5!")),
        ("\u00bf\uff3cROOMS?", "ROOMS", ()),
    ],
)
def test_parse_command(text: str, name: str, args: tuple[str, ...]) -> None:
    cmd = parse_command(text)
    assert cmd is not None
    assert (cmd.name, cmd.args) == (name, args)


@pytest.mark.parametrize(
    "text",
    [
        *("hello", "/ ", "/", "/5 of us", "//rooms", "a/b", "a \\JOIN x y", "", "\u200b", "\uff0f5 of us"),
        # quotes before a slash or a word: a post (`"/r/python" is great`)
        *('"/r/python" is great', "\u201c/join house pw\u201d", '"hello"', "\u201c"),
        # an inverted mark before a slash or a word: a post
        *("\u00bf/r/python?", "\u00a1Gracias!", "\u00bf", "\u00a1 /join house pw"),
        # a yen or won sign before no name: a price, a word in another script
        *("\u00a53000 ramen", "\u00a5", "\u20a9 5000", "\u00a5\u6771\u4eac", "\uffe5 \u5186"),
    ],
)
def test_not_commands(text: str) -> None:
    assert parse_command(text) is None


def join_unknown_or_post() -> Dispatcher:
    """`\\JOIN <room> <password>` ("joined ..."), any other command ("unknown NAME"), else a post
    ("posted"): what a typed text turns out to be."""
    router, fallback, text = Router("r"), Router("unknown"), Router("text")

    @router.command("JOIN", args=2, usage="\\JOIN <room> <password>")
    async def join(m: Inbound, c: Context) -> HandlerResult:
        return "joined " + " ".join(c.command.args)

    @fallback.message(any_command)
    async def unknown(m: Inbound, c: Context) -> HandlerResult:
        return "unknown " + c.command.name

    @text.message(has_text)
    async def post(m: Inbound, c: Context) -> HandlerResult:
        return "posted"

    dp = Dispatcher()
    dp.include(router, fallback, text)
    return dp


async def test_a_yen_sign_starts_only_a_listed_command_or_a_near_miss() -> None:
    """`\u00a5JOIN house pw` (a Japanese keyboard's backslash) went to X as a post, password and
    all. Before a listed name it is that command; a near miss gets the unknown-command answer; any
    other word after it (`\u00a5Tokyo trip`) is plain text, as before."""
    dp = join_unknown_or_post()
    assert await dp.feed(msg("\u00a5join house pw"), ctx()) == [Reply("joined house pw")]
    assert await dp.feed(msg("\u20a9JOIN house pw"), ctx()) == [Reply("joined house pw")]
    assert await dp.feed(msg("\u00a5JION house pw"), ctx()) == [Reply("unknown JION")]
    assert await dp.feed(msg("\u00a5Tokyo trip"), ctx()) == [Reply("posted")]
    # a Japanese keyboard in full-width mode: its yen sign, letters and spaces are all wide
    wide_join = "\uffe5\uff2a\uff2f\uff29\uff2e\u3000house\u3000pw"
    assert await dp.feed(msg(wide_join), ctx()) == [Reply("joined house pw")]
    assert await dp.feed(msg("\uffe5\u6771\u4eac trip"), ctx()) == [Reply("posted")]
    assert await dp.feed(msg("\\Tokyo trip"), ctx()) == [Reply("unknown TOKYO")]


async def test_the_key_next_to_the_backslash_starts_only_a_listed_command_or_a_near_miss() -> None:
    """`|JOIN house pw`, the key next to `\\` on an iPhone's symbols page tapped for it, went to X
    as a post, password and all. As after a yen sign: a listed name, or a near miss answered as
    unknown; any other text after it stays a post."""
    dp = join_unknown_or_post()
    assert await dp.feed(msg("|JOIN house pw"), ctx()) == [Reply("joined house pw")]
    assert await dp.feed(msg("| join house pw"), ctx()) == [Reply("joined house pw")]
    assert await dp.feed(msg("|JION house pw"), ctx()) == [Reply("unknown JION")]
    for post_text in ("|Tokyo trip", "| hello |", "|", "||", "|5 of us"):
        assert await dp.feed(msg(post_text), ctx()) == [Reply("posted")], post_text


async def test_first_matching_handler_wins_in_include_order() -> None:
    first, second = Router("first"), Router("second")
    calls: list[str] = []

    @first.command("JOIN", args=2, usage="\\JOIN <room> <password>")
    async def join(m: Inbound, c: Context) -> HandlerResult:
        assert c.command is not None
        calls.append("join:" + ",".join(c.command.args))
        return "joined"

    @second.message(has_text)
    async def fallback(m: Inbound, c: Context) -> HandlerResult:
        calls.append("text")
        return ["a", Reply("b", redact=True)]

    dp = Dispatcher()
    dp.include(first, second)
    assert await dp.feed(msg("\\join house pw"), ctx()) == [Reply("joined")]
    assert await dp.feed(msg("hello"), ctx()) == [Reply("a"), Reply("b", redact=True)]
    assert await dp.feed(msg("\\JOIN house"), ctx()) == [
        Reply("Usage: \\JOIN <room> <password>", kind="usage")
    ]
    assert calls == ["join:house,pw", "text"]


async def test_bare_command_upper_case_only_exact_words() -> None:
    router = Router("r")

    @router.command("JOIN", args=2, bare=True)
    async def join(m: Inbound, c: Context) -> HandlerResult:
        return "joined"

    dp = Dispatcher()
    dp.include(router)
    assert await dp.feed(msg("JOIN house pw"), ctx()) == [Reply("joined")]
    assert await dp.feed(msg("join house pw"), ctx()) == []
    assert await dp.feed(msg("JOIN house pw now"), ctx()) == []
    # a full-width keyboard's JOIN (and its wide space): it went to X as a post, password and all
    assert await dp.feed(msg("\uff2a\uff2f\uff29\uff2e\u3000house\u3000pw"), ctx()) == [Reply("joined")]
    assert await dp.feed(msg("\u200bJOIN house pw"), ctx()) == [Reply("joined")]
    assert await dp.feed(msg("\uff4a\uff4f\uff49\uff4e house pw"), ctx()) == []  # upper case only
    # a Turkish keyboard's capital i, dotted: a post to X, password and all
    assert await dp.feed(msg("JO\u0130N house pw"), ctx()) == [Reply("joined")]


async def test_outer_and_inner_middlewares_order() -> None:
    order: list[str] = []
    router = Router("r")

    async def inner(handler: Any, m: Inbound, c: Context) -> HandlerResult:
        order.append("inner")
        return await handler(m, c)

    router.inner_middleware(inner)

    @router.message(Command("PING"))
    async def ping(m: Inbound, c: Context) -> HandlerResult:
        order.append("handler")
        return "pong"

    dp = Dispatcher()

    async def outer(handler: Any, m: Inbound, c: Context) -> HandlerResult:
        order.append("outer")
        return await handler(m, c)

    dp.outer_middleware(outer)
    dp.include(router)
    assert await dp.feed(msg("\\ping"), ctx()) == [Reply("pong")]
    assert await dp.feed(msg("nothing matches"), ctx()) == []
    assert order == ["outer", "inner", "handler", "outer"]


def test_sync_handlers_are_refused() -> None:
    router = Router("r")

    def sync_handler(m: Inbound, c: Context) -> HandlerResult:
        return "no"

    with pytest.raises(TypeError, match="must be an async function"):
        router.register(sync_handler, has_text)  # type: ignore[arg-type]


def test_router_included_twice_is_an_error() -> None:
    dp, router = Dispatcher(), Router("r")
    dp.include(router)
    with pytest.raises(ValueError, match="already included"):
        dp.include(router)


async def test_help_entries_collected_from_commands() -> None:
    router = Router("r")

    @router.command("ROOMS", args=0)
    async def rooms(m: Inbound, c: Context) -> HandlerResult:
        return "|".join(c.help_entries)

    @router.command("SECRET", args=0, help="")
    async def secret(m: Inbound, c: Context) -> HandlerResult:
        return None

    dp = Dispatcher()
    dp.include(router)
    assert await dp.feed(msg("\\rooms"), ctx()) == [Reply("\\ROOMS")]


async def test_secret_arguments_are_redacted_before_a_usage_answer() -> None:
    router = Router("r")
    seen: list[tuple[str, ...]] = []

    @router.command("JOIN", args=2, secret=(1,), usage="\\JOIN <room> <password>", bare=True)
    async def join(m: Inbound, c: Context) -> HandlerResult:
        seen.append(c.args)
        return "joined"

    dp = Dispatcher()
    dp.include(router)
    cases = {
        "\\join house hunter2": ("\\JOIN house ***", [Reply("joined")]),
        "JOIN house hunter2": ("JOIN house ***", [Reply("joined")]),
        "\\JOIN hunter2": ("\\JOIN ***", [Reply("Usage: \\JOIN <room> <password>", kind="usage")]),
        "/JOIN a b hunter2": ("/JOIN ***", [Reply("Usage: \\JOIN <room> <password>", kind="usage")]),
        "\\JOIN": ("\\JOIN", [Reply("Usage: \\JOIN <room> <password>", kind="usage")]),
    }
    for body, (redacted, replies) in cases.items():
        c = ctx()
        assert await dp.feed(msg(body), c) == replies
        assert c.redacted_body == redacted
    # the handler gets the real arguments
    assert seen == [("house", "hunter2"), ("house", "hunter2")]
    # a command without secrets keeps its body
    c = ctx()
    await dp.feed(msg("hello"), c)
    assert c.redacted_body is None


def test_secret_indexes_must_name_arguments() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Router("r").command("JOIN", args=2, secret=(2,))


async def test_priority_is_what_the_matching_handler_declares() -> None:
    first, second = Router("first"), Router("second")

    @first.command("STOP", args=0, priority=True)
    async def stop(m: Inbound, c: Context) -> HandlerResult:
        return "bye"

    @first.message(Command("SHADOW"))
    async def shadow(m: Inbound, c: Context) -> HandlerResult:
        return None

    @second.command("SHADOW", args=0, priority=True)  # never reached: the first match wins
    async def shadowed(m: Inbound, c: Context) -> HandlerResult:
        return None

    @second.message(has_text)
    async def text(m: Inbound, c: Context) -> HandlerResult:
        return None

    dp = Dispatcher()
    dp.include(first, second)
    assert await dp.is_priority(msg("\\stop"), ctx())
    assert await dp.is_priority(msg("/STOP now"), ctx())  # a usage answer is still handled at once
    assert not await dp.is_priority(msg("\\shadow"), ctx())
    assert not await dp.is_priority(msg("stop"), ctx())
    assert not await dp.is_priority(msg("hello"), ctx())


async def test_resolving_filters_run_after_the_argument_count_and_may_answer() -> None:
    """`resolve=`: after the usage check, in order; a dict reaches the handler through `ctx.data`,
    a text answers in the handler's place (the filters after it do not run); sync or async; never
    run by `is_priority`, which needs no user."""
    router = Router("r")
    ran: list[str] = []

    async def lookup(m: Inbound, c: Context) -> dict[str, Any] | str:
        ran.append("lookup")
        return {"thing": c.args[0]} if c.args[0] != "nothing" else "No such thing."

    def shout(m: Inbound, c: Context) -> dict[str, Any] | str | Reply:
        ran.append("shout")
        return (
            Reply("Quiet.", kind="quiet") if c.data["thing"] == "LOUD" else {"shout": c.data["thing"].upper()}
        )

    @router.command("GET", args=1, usage="\\GET <thing>", resolve=(lookup, shout), priority=True)
    async def get(m: Inbound, c: Context) -> HandlerResult:
        ran.append("handler")
        return f"{c.data['thing']} {c.data['shout']}"

    dp = Dispatcher()
    dp.include(router)
    assert await dp.feed(msg("\\GET"), ctx()) == [Reply("Usage: \\GET <thing>", kind="usage")]
    assert await dp.feed(msg("\\GET a b"), ctx()) == [Reply("Usage: \\GET <thing>", kind="usage")]
    assert ran == []
    assert await dp.feed(msg("\\get cup"), ctx()) == [Reply("cup CUP")]
    assert ran == ["lookup", "shout", "handler"]
    ran.clear()
    assert await dp.feed(msg("\\GET nothing"), ctx()) == [Reply("No such thing.")]
    assert ran == ["lookup"]
    ran.clear()
    assert await dp.feed(msg("\\GET LOUD"), ctx()) == [Reply("Quiet.", kind="quiet")]
    assert ran == ["lookup", "shout"]
    ran.clear()
    assert await dp.is_priority(msg("\\GET cup"), ctx())
    assert ran == []


def test_user_and_command_are_not_optional_to_handlers() -> None:
    c = ctx()
    with pytest.raises(LookupError, match="load_user"):
        _ = c.user
    with pytest.raises(LookupError, match="command filter"):
        _ = c.command
    assert c.args == ()
    assert not c.has_user


async def test_only_the_registrations_a_message_can_match_run_their_filters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Routing by command name and bare word: the filters of other commands never run, and the
    first match in registration order still wins (an earlier catch-all before a later command)."""
    dp = Dispatcher()
    ran: list[str] = []

    def seen(label: str, result: bool = True) -> Any:
        def check(m: Inbound, c: Context) -> bool:
            ran.append(label)
            return result

        return check

    for n in range(30):
        dp.register(_answer(f"cmd{n}"), Command(f"CMD{n}"), seen(f"cmd{n}"))
    dp.register(_answer("never"), seen("picky", False))  # not keyed: tried for every message
    router = Router("rooms")

    @router.command("JOIN", args=2, bare=True)
    async def join(m: Inbound, c: Context) -> HandlerResult:
        return "join " + " ".join(c.command.args)

    rest = Router("rest")  # a dispatcher's own registrations come before its routers'
    rest.register(_answer("text"), has_text)
    dp.include(router, rest)

    tried: list[str] = []
    real = Command.__call__

    def counted(self: Command, m: Inbound, c: Context) -> Any:
        tried.append(",".join(sorted(self.names)))
        return real(self, m, c)

    monkeypatch.setattr(Command, "__call__", counted)

    async def route(body: str) -> list[str]:
        ran.clear()
        tried.clear()
        return [r.text for r in await dp.feed(msg(body), ctx())]

    assert await route("\\cmd7 x") == ["cmd7"]
    assert ran == ["cmd7"]
    assert tried == ["CMD7"]  # not CMD0 ... CMD6 first
    assert await route("\\CMD29") == ["cmd29"]
    assert ran == ["cmd29"]
    assert await route("JOIN house pw") == ["join house pw"]  # bare form
    assert ran == ["picky"]
    assert await route("\\join house pw") == ["join house pw"]
    assert await route("JOIN house") == ["text"]  # a bare command needs its exact word count
    assert await route("hello there") == ["text"]
    assert ran == ["picky"]
    assert tried == []
    assert await route("\\unknown") == ["text"]
    assert await dp.is_priority(msg("\\cmd3"), ctx()) is False


def _answer(text: str) -> Any:
    async def handler(m: Inbound, c: Context) -> HandlerResult:
        return text

    handler.__name__ = f"answer_{text}"
    return handler


def test_a_question_mark_of_any_keyboard_makes_a_command_a_question() -> None:
    """`\\STOP?` asks what \\STOP does; an Arabic keyboard's `\\STOP\u061f` was an unknown command."""
    for text in ("\\STOP?", "\\STOP\uff1f", "\\STOP\u061f"):
        cmd = parse_command(text)
        assert cmd is not None, text
        assert (cmd.name, cmd.asked) == ("STOP", True), text
    cmd = parse_command("\\STOP")
    assert cmd is not None
    assert not cmd.asked


@pytest.mark.parametrize(
    ("text", "args", "asked"),
    [
        # a T9 phone confirms a word with a space, then its 1 key gives the full stop: `\\Balance .`
        # was "You are not in a room named .." and `\\Stop .` "Usage: \\STOP"
        ("\\Balance .", (), False),
        ("\\Stop .", (), False),
        ("\\Join cottage sunny22 .", ("cottage", "sunny22"), False),
        ("\\Remind weekly .", ("weekly",), False),
        ("\\Paid Mom 13.60 !", ("Mom", "13.60"), False),
        ("\\Help money . .", ("money",), False),
        ("\\Leave \u2026", (), False),
        # a question mark alone after the name asks, as `\\LEAVE?` does: it took them out of the room
        ("\\Leave ?", (), True),
        ("\\Stop ?", (), True),
        ("\\Balance cottage ?", ("cottage",), False),
        # punctuation inside a word or before the last word stays
        ("\\Join cottage .pw", ("cottage", ".pw"), False),
        ("\\Split me . bob", ("me", ".", "bob"), False),
    ],
)
def test_a_lone_mark_after_the_last_word_is_no_argument(
    text: str, args: tuple[str, ...], asked: bool
) -> None:
    cmd = parse_command(text)
    assert cmd is not None
    assert (cmd.args, cmd.asked) == (args, asked)
    assert cmd.own_line == cmd.first_line == args


def test_a_lone_mark_on_a_later_line_is_no_argument() -> None:
    """A line of its own with the full stop ends no argument list of a later line."""
    cmd = parse_command("\\NAME\nGrandpa Joe .")
    assert cmd is not None
    assert (cmd.args, cmd.own_line, cmd.first_line) == (("Grandpa", "Joe"), (), ("Grandpa", "Joe"))


def test_the_ascii_shortcuts_read_as_the_general_rules_do() -> None:
    """`_words`, `_undropped`, `command_name` and `bare_word` skip the Unicode work (joiners,
    dropped characters, NFKC, the dotted I) for ASCII text, which none of it changes: the same
    answers as the general rules, over every printable character and random texts of them."""
    import random
    import string
    import unicodedata

    from bot.pipeline import dispatch as d

    rng = random.Random(58)
    alphabet = string.printable
    texts = [
        *alphabet,
        *("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)),
    ]
    for text in texts:
        assert text.isascii()
        assert d._words(text) == [w for w in (x.strip(d._JOINERS) for x in text.split()) if w], text
        assert d._undropped(text) == text.translate(d._DROPPED), text
        assert d.command_name(text) == (
            unicodedata.normalize("NFKC", text.rstrip(d._AFTER_NAME)).translate(d.DOTTED_I).upper()
        ), text
        assert d.bare_word(text) == unicodedata.normalize("NFKC", text).translate(d.DOTTED_I), text
    # and the general rules still run for the rest: a joiner, a dropped character, full width
    assert d._words("\u200dJOIN\u200c house") == ["JOIN", "house"]
    assert d._undropped("JO\u200bIN") == "JOIN"
    assert d.command_name("\uff28\uff25\uff2c\uff30\uff1f") == "HELP"
    assert d.command_name("JO\u0130N") == "JOIN"
    assert d.bare_word("\uff2a\uff2f\uff29\uff2e") == "JOIN"
