"""Carrier keywords: whole messages, any case, handled before everything else (SPEC).

STOP and its synonyms opt the number out (nothing more is sent to it; on WhatsApp and Telegram,
where no carrier confirms it, textwire does, and on Telegram the chat's next message opts it back
in); START, YES, UNSTOP opt it back in; HELP and INFO get the help text. Twilio's `OptOutType` counts the same. A keyword is
never posted anywhere. With photos (a receipt captioned `Yes`), the keyword does its part and the
photos are saved as any others (handlers/media.py).
"""

from __future__ import annotations

import re
import unicodedata

from bot.core.channel import NO_CARRIER, RESUMES_ON_MESSAGE
from bot.core.message import LAST_WORD
from bot.pipeline.dispatch import (
    BIDI_CONTROLS,
    DOTTED_I,
    Context,
    FilterResult,
    HandlerResult,
    Inbound,
    Reply,
    Router,
    replies_of,
)
from handlers.help import as_said_to, help_for, paired, welcome_for
from handlers.media import photos
from storage import users

router = Router(name=__name__)

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
HELP = frozenset({"HELP", "INFO"})
ALL = OPT_OUT | OPT_IN | HELP

OPTED_IN = "You will get replies from textwire again. Send \\HELP for the commands."
# where no carrier confirms a STOP, textwire does: on Telegram the next message resumes, elsewhere
# (WhatsApp) START does, as on SMS
OPTED_OUT = (
    "You will get no more messages from textwire here until you write again. \\STOP deletes your account."
)
OPTED_OUT_UNTIL_START = (
    "You will get no more messages from textwire here. Send START to get them again; \\STOP deletes "
    "your account."
)
# what those end with, and what a paired address is told instead: its `\\STOP` takes only this
# address out, and the rooms, balances and other addresses stay (as `\\HELP` says there)
STOP_DELETES = "\\STOP deletes your account."
STOP_DELETES_PAIRED = "\\STOP takes only this address out of you."


# what a person does not see in a keyword: a zero-width space or joiner, a byte order mark, a
# direction mark or the isolates a shared text is wrapped in, a soft hyphen. With a full-width keyboard's letters (NFKC) the message is still
# the keyword it shows: `\uff33\uff34\uff2f\uff30` and "STOP\u200b" did not opt out, and went to X as posts
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u00ad" + BIDI_CONTROLS))

# what people end a text with (a phone's one-character ellipsis too): `Stop.`, `STOP!`, `quit...`,
# `Help?` opt out or get the help; they went to X as posts and the number stayed opted in. Only
# after an opt-out or help word, or START and UNSTOP (`Start.` stayed a post, and the number
# opted out, after its `Stop.` opted it out): `Yes!` is what people say, and stays a post.
_ENDS = ".!?\u2026"
_ENDED_OPT_IN = frozenset({"START", "UNSTOP"})


def keyword_of(body: str, opt_out_type: str = "") -> str | None:
    """ "STOP", "START" or "HELP" for a carrier keyword message, else None."""
    kind = opt_out_type.strip().upper()
    if kind in ("STOP", "START", "HELP"):
        return kind
    # and a Turkish keyboard's capital i, with its dot (QU\u0130T, \u0130NFO were posts)
    word = unicodedata.normalize("NFKC", body).translate(_INVISIBLE).translate(DOTTED_I).strip().upper()
    if word in OPT_OUT:
        return "STOP"
    if word in OPT_IN:
        return "START"
    if word in HELP:
        return "HELP"
    ended = word.rstrip(_ENDS).rstrip()
    if ended != word and ended in OPT_OUT:
        return "STOP"
    if ended != word and ended in HELP:
        return "HELP"
    if ended != word and ended in _ENDED_OPT_IN:
        return "START"
    return None


# Asking to stop in more words than the keyword: `stop please`, `Please stop texting me`, `opt
# out`, `unsubscribe me`. A keyword is the whole message (SPEC), so these opt nothing out; but
# they were posted to X, where a person asking us to stop least wants their words.
# (`pls`, `plz` as typed; `STOP STOP STOP`, as people answer a text they did not ask for)
_PLEASE = r"(?:\s+(?:PLEASE|PLS|PLZ|NOW|THANKS|THANK\s+YOU|ALREADY))*"
_LIST = r"(?:\s+(?:FROM\s+)?(?:THIS|THE|YOUR|TEXTWIRE'?S?)(?:\s+(?:TEXTING|MAILING|TEXT|SMS))?\s+LIST)?"
_ASKS_TO_STOP = re.compile(
    r"(?:(?:PLEASE|PLS|PLZ)\s+)?(?:"
    rf"(?:STOP|UNSUBSCRIBE|OPT\s*-?\s*OUT|STOP\s+ALL)(?:\s+STOP)*{_PLEASE}"
    r"|(?:STOP|QUIT)\s+(?:TEXTING|MESSAGING|SENDING|SPAMMING|CONTACTING)"
    rf"(?:\s+(?:ME|MESSAGES|TEXTS|SMS|THIS|THESE|ANY\s+MORE|ANYMORE))*{_PLEASE}"
    rf"|(?:UNSUBSCRIBE|OPT)\s+ME(?:\s+OUT)?(?:\s+FROM\s+(?:THIS|THE|YOUR|TEXTWIRE)(?:\s+LIST)?)?{_PLEASE}"
    rf"|NO\s+MORE\s+(?:TEXTS|MESSAGES){_PLEASE}"
    rf"|DON'?T\s+(?:TEXT|MESSAGE)\s+ME(?:\s+(?:AGAIN|ANYMORE|ANY\s+MORE))?{_PLEASE}"
    # how people ask a number that texts them to stop (`remove me`, `Remove me from this list`)
    rf"|(?:REMOVE\s+ME|TAKE\s+ME\s+OFF){_LIST}{_PLEASE}"
    r")"
)
# Asking for help in more words than the keyword: `help me`, `Help please!`, `I need help`.
# Posted to X as they were, a person stuck with the bot told their followers so.
_ASKS_FOR_HELP = re.compile(
    rf"(?:(?:PLEASE|PLS|PLZ)\s+)?(?:I\s+)?(?:NEED\s+)?(?:SOME\s+|MORE\s+)?(?:HELP|INFO)(?:\s+HELP)*(?:\s+ME)?{_PLEASE}"
)
_ASKS_LONGEST = 80
_ASKS_WORDS = ("stop", "quit", "opt", "unsub", "more", "text", "messag", "remove", " off", "help", "info")
_ASKS_WORD = re.compile("|".join(map(re.escape, _ASKS_WORDS)))  # one scan, not one a word
ASKED_TO_STOP = "Nothing was posted. To get no more messages from textwire, send STOP on its own."


def asked_in_words(body: str) -> str | None:
    """ "STOP" for a text that asks us to stop in more words than a keyword (`keyword_of` reads
    the keyword itself), "HELP" for one that asks for help so (`help me`, `I need help`): its
    words, past what phones add around them, are one of `_ASKS_TO_STOP` or `_ASKS_FOR_HELP`;
    None otherwise. A post (longer, or with none of their words) costs a length and a few
    substring tests."""
    if len(body) > _ASKS_LONGEST:
        return None
    sent = body
    if not body.isascii():  # a full-width keyboard's `\uff33\uff34\uff2f\uff30 please` has its words
        body = unicodedata.normalize("NFKC", body)
        # and an emoji is no word: `Stop texting me \U0001f64f`, `STOP \U0001f621` were posted
        body = "".join(" " if not c.isascii() and unicodedata.category(c)[0] in "SM" else c for c in body)
    if _ASKS_WORD.search(body.casefold()) is None:
        return None
    word = body.translate(_INVISIBLE).translate(DOTTED_I).upper()
    word = " ".join(re.sub(r"[.,!?\u2026\u2019]", lambda m: "'" if m[0] == "\u2019" else " ", word).split())
    if _ASKS_TO_STOP.fullmatch(word) is not None:
        asked = "STOP"
    elif _ASKS_FOR_HELP.fullmatch(word) is not None:
        asked = "HELP"
    else:
        return None
    return asked if keyword_of(sent) is None else None


def is_keyword(msg: Inbound, ctx: Context) -> FilterResult:
    kind = keyword_of(msg.body, msg.carrier_keyword)
    return {"keyword": kind} if kind else False


@router.message(is_keyword, priority=True)
async def carrier_keyword(msg: Inbound, ctx: Context) -> HandlerResult:
    """The keyword's part, then the photos of a message that has some: a receipt captioned `Yes`,
    `Help` or `Stop` was dropped (in no room, its copy left at Twilio), answered with the keyword
    alone. An opted-out sender's photos are saved as their texts are handled; only replies stop."""
    said = await _keyword(msg, ctx)
    if not msg.media:
        return said
    return [*replies_of(said), *replies_of(await photos(msg, ctx))]


async def _keyword(msg: Inbound, ctx: Context) -> HandlerResult:
    kind = ctx.data["keyword"]
    now = ctx.deps.now()
    if kind == "STOP":
        async with ctx.deps.db.tx() as conn:
            await users.set_opted_out(conn, msg.sender.key, True, now)
        ctx.log.info("sms.opted_out")
        if msg.sender.channel in NO_CARRIER and not msg.carrier_keyword:
            said = OPTED_OUT if msg.sender.channel in RESUMES_ON_MESSAGE else OPTED_OUT_UNTIL_START
            if await paired(ctx):  # "deletes your account" kept a paired person from taking one out
                said = said.replace(STOP_DELETES, STOP_DELETES_PAIRED)
            return Reply(said, kind=LAST_WORD)  # the sender lets this one through the opt-out
        return None  # Twilio sends the carrier's confirmation; nothing more goes to this number
    if kind == "START":
        async with ctx.deps.db.tx() as conn:
            # (on Telegram, the message itself resumed the chat before it got here)
            was_out = bool(ctx.data.get("resumed") or await users.opted_out_among(conn, [msg.sender.key]))
            await users.set_opted_out(conn, msg.sender.key, False, now)
        ctx.log.info("sms.opted_in")
        # With Advanced Opt-Out Twilio answers itself; don't send a second confirmation.
        if msg.carrier_keyword:
            return None
        if was_out:
            return OPTED_IN
        if msg.media:  # a receipt captioned `Yes`: its reply says what became of it, not the help
            return None
        # a first START (as flyers say "text START to ..."), or YES from someone who never opted
        # out, is no opt-in: "again" would puzzle them; the welcome (or the help) says what to do
        new_user = bool(ctx.data.get("new_user"))
        return Reply(
            welcome_for(msg, ctx) if new_user else await as_said_to(msg, ctx, help_for(msg, ctx)), kind="help"
        )
    # every command where the channel takes them in one message (Telegram, WhatsApp), as \\HELP
    return None if msg.carrier_keyword else Reply(await as_said_to(msg, ctx, help_for(msg, ctx)), kind="help")
