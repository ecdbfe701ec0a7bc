"""Plain text: posted to the sender's X account, at most once per inbound message.

The intent is recorded before X is called and the post id after, so a crash in between never
leads to a blind second post: the retry tells the person to check their timeline. X's answers map
to clear replies (SPEC, "At most once, and retries"): 401 refreshes once; a rate limit parks the
message until the reset and says so once; a failure that surely never reached X is retried with
backoff; a timeout or 5xx after sending is not retried. A refresh that fails (the token endpoint
answers 429 or 5xx, or cannot be reached) comes before anything was posted: it is a not-sent
failure, retried after the reset or with backoff, never "X did not confirm".
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence

from bot.core.channel import FitsOne
from bot.core.errors import Defer, Retry
from bot.features.ledger.money import is_figure
from bot.features.x.accounts import NOT_SET_UP_HELP, WELCOME_NO_X, Access, Refresh, XAccounts, x_accounts
from bot.features.x.client import (
    MAX_WEIGHTED_LENGTH,
    XDuplicate,
    XError,
    XForbidden,
    XRateLimited,
    XRejected,
    XUnauthorized,
    XUnavailable,
    over_limit,
)
from bot.pipeline.dispatch import Context, HandlerResult, Inbound, Reply, Router, has_text, parse_command
from handlers.help import as_said_to, bare_command, help_for
from handlers.keywords import ASKED_TO_STOP, asked_in_words
from storage import inbox, outbox, xaccounts
from storage.crypto import CipherError
from storage.users import User

router = Router(name=__name__)

NOT_CONFIRMED = "X did not confirm your post. Please check your timeline before sending it again."
X_DOWN = "X could not be reached for a long while, so your text was not posted. Please send it again."
X_WAIT = (
    "X cannot be reached just now. Your text is kept and will be posted when X is back; no need to"
    " send it again."
)
# how long a text waits for X before the person hears that it is kept (a blip, retried within
# seconds, goes by unsaid; an outage is tried again for up to a day, and was silent all along)
X_WAIT_AFTER = 60.0


def x_busy(when: str) -> str:
    """X's token endpoint said 429: the text waits for its reset, told when (a minute or more)."""
    return f"X is busy just now. Your text is kept and will be posted after {when}; no need to send it again."


# what a text set aside while X could not be reached waits for (the start of inbox.error): its
# sender's next text tries the first of them at once; a post of anyone's brings forward those
# that met a connection X refused (X_UNREACHABLE)
UNREACHABLE_WHY, REFRESH_WHY, ERROR_WHY = "x unreachable:", "x token refresh:", "x error:"
X_DOWN_REASONS = (UNREACHABLE_WHY, REFRESH_WHY, ERROR_WHY)
X_UNREACHABLE = (UNREACHABLE_WHY,)
# what a text waiting for X's posting limit to reset waits for (inbox.error): a later text of
# its sender waits behind it, told as it was
POST_RATE_LIMITED = "x rate limited"
REFRESH_RATE_LIMITED = "x token endpoint rate limited"
DUPLICATE = "X refused this post: you have already posted the same text."
FORBIDDEN = "X refused this post (your X account may be locked or restricted). Nothing was posted."
REJECTED = "X rejected this post. Nothing was posted."
UNLINKED_NOT_POSTED = (
    "This text was not posted: you disconnected X after sending it. Send \\LINK to connect again."
)
# a text X's refusal kept from being posted, when its link went out before (said once a grant)
RELINK_NOT_POSTED = (
    "Your X connection stopped working, so this text was not posted. Send \\LINK for a new link."
)


def post_url(handle: str | None, tweet_id: str) -> str:
    return f"https://x.com/{handle or 'i/web'}/status/{tweet_id}"


def rate_limited(when: str) -> str:
    return f"X's posting limit is reached. Your text will be posted after {when}."


def reset_when(reset_at: float, now: float) -> str:
    """When X's limit resets, as the notice says it: `12:23 UTC`, with the day when that is not
    today (`12:23 UTC on Nov 27`): X's daily limit resets up to a day later, and "after 12:23 UTC"
    read at 12:08 promised a post 15 minutes away that came the next day."""
    at, today = time.gmtime(reset_at), time.gmtime(now)
    when = time.strftime("%H:%M UTC", at)
    if at[:3] == today[:3]:
        return when
    return f"{when} on {time.strftime('%b', at)} {at.tm_mday}"


def too_long(excess: int) -> str:
    return (
        f"Too long for X by {excess} character{'s' if excess != 1 else ''} "
        f"({MAX_WEIGHTED_LENGTH} max; links count 23, emoji and CJK 2). Nothing was posted."
    )


EMPTY = "That text was blank, so nothing was posted. Send \\HELP for the commands."


def blank(text: str) -> bool:
    """Nothing to see: only spaces and invisible format characters (a zero-width space, a
    direction mark, a BOM pasted from a sheet), which X showed as an empty post."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in text)


# A reaction on a phone that texts by SMS (an iPhone's tapback, Google Messages' fallback) reaches
# us as a text naming it and quoting the message it is on: `Liked “https://x.com/ann/status/1”`.
# A thumbs-up on "Posted: ..." was posted to X as a post of its own, and one on a link's reply
# got a new link (which killed the one they were about to tap).
# A phone set to another language says it in that language, with its quotes: `Le gustó “…”`,
# `Reaccionó con 🔥 a “…”` (Spanish), `A aimé « … »`, `A ajouté un « J'adore » à « … ».`
# (French), `Gefällt „…“`, `„…“ ein Herz hinzugefügt` (German: the quote first), `Curtiu “…”`
# (Portuguese), `Ha aggiunto un cuoricino a “…”` (Italian). Their words differ between iOS
# versions, so each language's are a few more than seen: only a quote of one of our texts makes
# a reaction of it, and any other text that reads like one is posted.
_QUOTES = "\"'\u201c\u201d\u201e\u2018\u2019\u201a\u00ab\u00bb\u2039\u203a"
_REACTED = (
    # English (iOS, iOS 18's emoji, Google Messages)
    r"Liked|Loved|Disliked|Laughed at|Emphasi[sz]ed|Questioned|Removed an? [a-z]+(?: [a-z]+)? from"
    r"|Reacted (?:with )?\S{1,24} to|Removed \S{1,24} from"
    # Spanish
    r"|(?:Ya no |No )?[Ll]e (?:gust[óa]|encant[óa])|Le (?:dio risa|hizo gracia|hace gracia)|Se ri[óo] de"
    r"|Exclam[óo] por|Enfatiz[óo]|Dud[óo] (?:sobre|de)|Cuestion[óo]"
    r"|(?:Se ha reaccionado|Ha reaccionado|Reaccion[óo]) con \S{1,24} a|(?:Elimin[óo]|Quit[óo]) (?:\S+ ){1,4}(?:de|a)"
    # French
    r"|A aimé|A adoré|N[’']a pas aimé|A ri (?:de|à)|A souligné|A mis en (?:évidence|doute)|A questionné"
    r"|S[’']est interrogée? sur|A ajouté (?:un|une) .{1,30}? à|A réagi avec \S{1,24} à"
    r"|A (?:retiré|supprimé) (?:\S+ ){1,5}(?:de|à)"
    # German (the quote first, below, for most)
    r"|Gefällt"
    # Portuguese
    r"|Curtiu|Amou|Adorou|Gostou de|N[ãa]o curtiu|Descurtiu|N[ãa]o gostou de|Riu (?:de|com)|Enfatizou"
    r"|Destacou|Questionou|Reagiu (?:com )?\S{1,24} a|Removeu (?:\S+ ){1,4}(?:de|a)"
    # Italian
    r"|Ha aggiunto (?:un|una) .{1,30}? a|Ha reagito con \S{1,24} a|Ha (?:rimosso|tolto) (?:\S+ ){1,5}(?:da|a)"
)
_REACTION = re.compile(
    rf"(?:{_REACTED})\s?[{_QUOTES}](?P<quoted>.+?)(?:[{_QUOTES}](?: nicht)?\.?)?\Z",
    re.DOTALL,
)
# German puts the quote first: `„…“ ein Herz hinzugefügt`, `„…“ gefällt mir`
_REACTION_AFTER = re.compile(
    rf"[{_QUOTES}](?P<quoted>.+?)[{_QUOTES}]\s?(?:gefällt mir(?: nicht)?"
    r"|(?:\S+ ){0,3}(?:hinzugefügt|entfernt|reagiert|hervorgehoben|markiert))\.?\Z",
    re.DOTALL,
)


def reaction_quote(text: str) -> str | None:
    """What a text that reads like a phone's reaction quotes, else None (a regular expression's
    first letters for any other text)."""
    found = _REACTION.match(text) or _REACTION_AFTER.match(text)
    return None if found is None else found["quoted"]


REACTION_DAYS = 7.0  # as long as messages are kept (README): reactions come within hours
REACTION_OF_LAST = 20  # our texts to the address a reaction may be on
# a quote this long that begins one of our texts is that text, shortened by the phone
REACTION_PREFIX = 12
REACTION_HEAD = 8  # the words before its link a sent text keeps (`outbox.redacted`): at least these


_STRAIGHT = str.maketrans("\u2018\u2019\u201c\u201d", "''\"\"")


def _spaced(text: str) -> str:
    return " ".join(text.split())


def _compared(text: str) -> str:
    """A text as a quote of it is compared: spaces as one, quotes straight (a phone that turns
    `doesn't` into `doesn\u2019t` as it quotes it)."""
    return _spaced(text).translate(_STRAIGHT)


def quotes_ours(text: str, bodies: Sequence[str]) -> bool:
    """Whether `text` is a phone's reaction to one of `bodies` (our latest texts to its sender,
    newest first): its quote is one of them, or the start of a long one. A text that carried a link
    (`/x/link/`, a page's `sig=`) keeps only its words before the link once sent
    (`outbox.redacted`): a quote of it starts with them, or has the link."""
    quoted = reaction_quote(text)
    if quoted is None:
        return False
    said = _compared(quoted)
    shortened = said.rstrip(".\u2026 ")
    if not shortened:
        return False
    for body in bodies:
        if outbox.was_redacted(body):
            head = _compared(body[len(outbox.REDACTED) :])
            if "/x/link/" in said or "sig=" in said:
                return True
            if len(head) >= REACTION_HEAD and (
                said.startswith(head) or (len(shortened) >= REACTION_PREFIX and head.startswith(shortened))
            ):
                return True
            continue
        body = _compared(body)
        if body == said or (len(shortened) >= REACTION_PREFIX and body.startswith(shortened)):
            return True
    return False


async def _reaction(msg: Inbound, ctx: Context) -> bool:
    """`quotes_ours` for this text, on our latest texts to its sender or the sender's own latest
    texts, read only when it reads like a reaction (a regular expression's first letters: no
    query for any other text)."""
    if reaction_quote(msg.text) is None:
        return False
    since = ctx.deps.now() - REACTION_DAYS * 86400
    async with ctx.deps.db.read() as conn:
        said = await outbox.last_said(conn, msg.sender.key, since, limit=REACTION_OF_LAST)
        if quotes_ours(msg.text, [body for body, _ in said]):
            return True
        # or on the person's own text (a phone reacts to its own messages too): `Liked "lunch
        # was great"` seconds after it was posted went to X as a second post
        own = await inbox.bodies_from(conn, msg.sender.key, since, REACTION_OF_LAST)
    return quotes_ours(msg.text, own)


# A phone's automatic answer to a text of ours, sent while its owner drives (iPhone's Driving
# Focus, Android's driving mode, "Do Not Disturb While Driving" before iOS 15): "I'm driving with
# Driving Focus turned on. I'll see your message when I get where I'm going." It came seconds
# after a \\PAID notice or a reminder, and was posted to X as the person's own post.
_AP = "(?:'|\u2019)"
_DRIVING = re.compile(
    # iPhone: "I'm driving with Driving Focus turned on. I'll see your message when I get where
    # I'm going.", maybe with its "If it's urgent, reply "urgent" ..." after it
    rf"(?:I{_AP}m driving with [^.]{{1,60}} turned on\. I{_AP}ll see your message when I get where I{_AP}m going\."
    r"(?:\s+If it.{1,200})?"
    # Android and carriers' driving modes: "I'm driving right now. I'll get back to you later."
    rf"|(?:Auto[ -]?reply:\s*)?I(?:{_AP}m| am) driving(?: right now)?[.!,]?"
    rf"(?:\s*I{_AP}ll (?:get back to you|reply|respond|text you back|call you back)"
    r"(?: later| soon| when I can| when I(?:'|\u2019)m (?:parked|not driving|stopped))?[.!]?)?)",
    re.IGNORECASE | re.DOTALL,
)
DRIVING_REPLY_SECONDS = 300.0  # an automatic answer comes seconds after our text arrives


async def _auto_reply(msg: Inbound, ctx: Context) -> bool:
    """Whether the text is a phone's automatic "I'm driving" answer to a text of ours sent to it
    just before (a regular expression's first letters for any other text: no query)."""
    if _DRIVING.fullmatch(msg.text.strip()) is None:
        return False
    since = ctx.deps.now() - DRIVING_REPLY_SECONDS
    async with ctx.deps.db.read() as conn:
        return bool(await outbox.last_said(conn, msg.sender.key, since))


# A bare figure (`42.10`) soon after our last text, which asked for `\\AMOUNT` ("... Reply
# \\AMOUNT 12.34 if it is.") answers it without the command: it was posted to X as "42.10"
AMOUNT_ASKED_SECONDS = 1800.0


_AMOUNT_MEANT = "Nothing posted. To set your receipt's amount, send \\AMOUNT "
AMOUNT_MEANT_SHORT = _AMOUNT_MEANT + "and the amount."


def amount_meant(figure: str, fits: FitsOne = lambda _: True) -> str:
    """What a bare figure after our ask is answered: the command to send, the figure in it when
    that fits one message (not a sign that is no GSM-7 character, `\u20b9` or `z\u0142`, which
    made an SMS of two UCS-2 parts, nor a figure of dozens of digits)."""
    said = _AMOUNT_MEANT + figure
    return said if fits(said) else AMOUNT_MEANT_SHORT


# an `\\AMOUNT` put to the reader; `\\BALANCE`'s "1 receipt with no total is not counted: its
# sender can reply \\AMOUNT 12.34" is about whoever sent it (a score sent after it was told to be
# an \\AMOUNT)
_ASKS_AMOUNT = re.compile(r"(?<!its sender can reply )\\AMOUNT\b")


async def _amount_answer(msg: Inbound, ctx: Context) -> str | None:
    """The answer to a bare figure sent soon after we asked for `\\AMOUNT`, else None (a figure
    with no ask before it is a post; any other text is one regular expression's failed match)."""
    if not is_figure(msg.text):
        return None
    since = ctx.deps.now() - AMOUNT_ASKED_SECONDS
    async with ctx.deps.db.read() as conn:
        last = await outbox.last_said(conn, msg.sender.key, since)
    # the last thing we said asked for it: not the help, which lists `\\AMOUNT <amount>` among
    # the commands (a year or a score sent after `\\HELP MONEY` was told to be an \\AMOUNT)
    if not last or last[0][1] == "help" or _ASKS_AMOUNT.search(last[0][0]) is None:
        return None
    return amount_meant(_spaced(msg.text), ctx.deps.services.fits(msg.sender.channel))


# A card's number (typed or pasted into the wrong chat, "4111 1111 1111 1111 exp 12/27 for the
# flat's bills"): 15 to 19 digits in a card's groups, a card network's first digits, its check
# digit right. A public post is the last place for it.
# (not after a `+`: `+49 1512 3456789` is a phone number, of a 13-digit Visa's length once)
# Between digits a space or a dash, or what else people type there: two or three spaces, a
# no-break space a pasted number keeps, a dot, a slash or an underscore, a dash with spaces around
# it (`4111.1111.1111.1111`, `4111  1111  1111  1111`, `4111/1111/1111/1111` were posted). Dates
# (`11/28/2026`) have groups too short for a card's. Full-width digits are digits (`\d`).
_CARD = re.compile(
    r"(?<![\d+\-\u2010-\u2015/_])(?<!\d\.)\d"
    r"(?:(?:[^\S\r\n]{1,3}|[^\S\r\n]?[-./_\u2010-\u2015\u2212][^\S\r\n]?)?\d){13,18}"
    r"(?![\d\-\u2010-\u2015/_])(?!\.\d)"
)
_CARD_GAP = re.compile(r"\D+")
_CARD_LENGTHS = {"34": (15,), "37": (15,), "4": (16, 19), "5": (16,), "2": (16,), "6": (16, 17, 18, 19)}
# the cards that start with 2: Mastercard's 2221-2720 and Mir's 2200-2204 (an order or build
# number that starts with its date, `2024112809153001`, is none, though its check digit may be)
_TWO_SERIES = (("2200", "2204"), ("2221", "2720"))
CARD_NOT_POSTED = "Not posted: that text has what looks like a card number in it."


def _luhn(digits: str) -> bool:
    total = 0
    for n, d in enumerate(reversed(digits)):
        value = int(d) * (2 if n % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_number_in(text: str) -> bool:
    """Whether `text` has a payment card's number in it (Visa, Mastercard, Amex, Discover and the
    like: their first digits and lengths, and the Luhn check digit)."""
    for found in _CARD.finditer(text):
        groups = _CARD_GAP.split(found[0])
        # a gap other than one space or one dash is only a card's between groups of digits
        # (`4111.1111`, `3782  822463`): prices' cents (`45.00 12.50 33.10 10.09`) are none
        if min(map(len, groups)) < 3 and any(gap not in (" ", "-") for gap in _CARD_GAP.findall(found[0])):
            continue
        digits = "".join(str(int(d)) for d in "".join(groups))  # (a full-width `\uff14` is 4)
        lengths = _CARD_LENGTHS.get(digits[:2]) or _CARD_LENGTHS.get(digits[0], ())
        if digits[0] == "2" and not any(low <= digits[:4] <= high for low, high in _TWO_SERIES):
            continue
        if len(digits) in lengths and len(set(digits)) > 1 and _luhn(digits):
            return True
    return False


# `join house hunter22`, `Create trip pw2`: a room command typed without its backslash (bare JOIN
# is one only in upper case, SPEC), which would have put the room's password on X for anyone to
# read. Held whatever the room: answered the same whether a room goes by that name or not, and
# whatever the password, so it tells no one which rooms there are or which passwords are right.
_ROOM_WORDS = re.compile(r"\s*(join|create)\s+([A-Za-z0-9_-]{1,32})\s+\S+\s*", re.IGNORECASE)


def room_command_meant(text: str) -> tuple[str, str] | None:
    """(`JOIN`, `house`) for `join house hunter22` (any case, exactly a room and one word after
    it); None for anything else."""
    found = _ROOM_WORDS.fullmatch(text)
    return (found[1].upper(), found[2]) if found else None


# `Pair 415140`, `pair 415 140.`: the code `\\PAIR` gave, typed without its backslash (as the
# reply says it, on a phone that hides the backslash). Posted, it put a live code on X, for
# anyone who read it to make their own number the person who asked for it.
_PAIR_WORDS = re.compile(r"\s*(pair)\s+([\d\s.]+)", re.IGNORECASE)


def pair_code_meant(text: str) -> str | None:
    """The word `pair` as typed, for `pair` and a 6-digit code (spaced or with a full stop as
    people copy it); None for anything else."""
    found = _PAIR_WORDS.fullmatch(text)
    if found is None or sum(c.isdecimal() for c in found[2]) != 6:
        return None
    return found[1]


def pair_code_hint(*, linked: bool) -> str:
    """The answer to a pairing code typed without its backslash: never the code back."""
    how = "To pair, send \\PAIR <code>."
    return f"Not posted: it reads as a pairing code, which X would show to everyone. {how}" if linked else how


def room_command_hint(command: str, room: str, *, linked: bool) -> str:
    """The answer to a room command typed without its backslash: never the password back."""
    how = f"To {command.lower()} {room}, send \\{command} {room} <password>."
    return (
        f"Not posted: it reads as a room and its password, which X would show to everyone. {how}"
        if linked
        else how
    )


def bare_command_hint(command: str, *, linked: bool) -> str:
    """The answer to a command's name sent alone without its backslash (`balance`)."""
    if linked:
        return f"Not posted: it reads as a command. To use it, send \\{command}."
    return f"To use the command, send \\{command}."


def died_before(user: User, msg: Inbound) -> bool:
    """Whether the person's X connection was found dead (and they were told) after this text came
    in: it was waiting to be posted, and was not."""
    told = user.x_relink_notified_at
    return user.x_needs_relink and told is not None and msg.received_at < told


async def _unlinked_after(msg: Inbound, ctx: Context) -> bool:
    """Whether a `\\UNLINK` sent after this text went ahead of it (it jumps the queue)."""
    async with ctx.deps.db.read() as conn:
        ahead = await inbox.went_ahead(conn, msg.sender.key, msg.id)
    return any((command := parse_command(body)) is not None and command.name == "UNLINK" for body in ahead)


def plain_text(msg: Inbound, ctx: Context) -> bool:
    """A text, a blank one too (only spaces: nothing else takes it, and a newcomer whose first
    text was blank went unanswered and never got the welcome)."""
    return bool(has_text(msg, ctx)) or not msg.media


@router.message(plain_text)
async def post_text(msg: Inbound, ctx: Context) -> HandlerResult:
    user = ctx.user
    service = x_accounts(ctx.deps)
    new_user = bool(ctx.data.get("new_user"))
    asked = asked_in_words(msg.text)
    if asked == "STOP":  # in more words than the keyword: not one (SPEC), nor a post
        ctx.log.info("x.post.asked_to_stop", linked=user.x_linked)
        return ASKED_TO_STOP
    # `help me`: the help, as the keyword gets it (a newcomer: the welcome)
    if asked == "HELP" and not new_user:
        ctx.log.info("x.post.asked_for_help", linked=user.x_linked)
        return Reply(await as_said_to(msg, ctx, help_for(msg, ctx)), kind="help")
    if not new_user and await _reaction(msg, ctx):
        # a reaction, not a text to post (nor to answer: it answers us, and costs a message)
        ctx.log.info("x.post.reaction_skipped", linked=user.x_linked)
        return None
    if not new_user and await _auto_reply(msg, ctx):
        # the phone's, not the person's: neither posted nor answered (its owner is driving)
        ctx.log.info("x.post.auto_reply_skipped", linked=user.x_linked)
        return None
    bare = None if new_user else bare_command(ctx, msg.text)
    if bare == "LINK" and not user.x_linked:  # `link` from one not linked: the link, as any text gets
        bare = None
    if bare is not None:  # `balance`: the command without its backslash, not a post
        ctx.log.info("x.post.command_meant", linked=user.x_linked, command=bare)
        return bare_command_hint(bare, linked=user.x_linked)
    room_meant = None if new_user else room_command_meant(msg.text)
    if room_meant is not None:  # held for a linked person too: no room's password goes to X
        ctx.log.info("x.post.room_command_meant", linked=user.x_linked, command=room_meant[0])
        return room_command_hint(*room_meant, linked=user.x_linked)
    pair_meant = None if new_user else pair_code_meant(msg.text)
    if pair_meant is not None:  # a live code: not on X, nor kept in the inbox
        ctx.redacted_body = f"{pair_meant} ***"
        ctx.log.info("x.post.pair_code_meant", linked=user.x_linked)
        return pair_code_hint(linked=user.x_linked)
    meant = None if new_user else await _amount_answer(msg, ctx)
    if meant is not None:
        ctx.log.info("x.post.amount_meant", linked=user.x_linked)
        return meant
    if service is None:  # a new person learns what the number does and where to start
        return WELCOME_NO_X if new_user else NOT_SET_UP_HELP
    if not new_user and not user.x_linked and await _unlinked_after(msg, ctx):
        # sent just before `\\UNLINK`, which went ahead of it: a link here, unasked, went to
        # someone who had just disconnected X
        return UNLINKED_NOT_POSTED
    if died_before(user, msg):
        # kept for X (a rate limit's reset, an outage) while the grant died: the relink SMS has
        # the link; a new one here killed it and never said this text was not posted
        return RELINK_NOT_POSTED
    if new_user or not user.x_linked:
        ctx.log.info("x.link.sent", new_user=new_user)
        return await service.link_reply(user, address=msg.sender.key, first=new_user)
    text = msg.text
    if blank(text):
        return EMPTY
    if card_number_in(text):
        ctx.log.info("x.post.card_number")
        return CARD_NOT_POSTED
    excess = over_limit(text)
    if excess:
        ctx.log.info("x.post.too_long", excess=excess)
        _count(ctx, "too_long")
        return too_long(excess)
    async with ctx.deps.db.read() as conn:
        behind = await inbox.parked_post_due(conn, msg.sender.key, msg.id, ctx.deps.now())
    if behind is not None:  # the sender's earlier texts wait for X: this one goes after them
        due, why = behind
        notice: str | None = None
        if why == POST_RATE_LIMITED:  # told as the text before it was (it waits for the reset + 1 s)
            notice, key = rate_limited(reset_when(due - 1, ctx.deps.now())), "x-rate-limit"
        elif why == REFRESH_RATE_LIMITED and due - ctx.deps.now() >= X_WAIT_AFTER:
            notice, key = x_busy(reset_when(due - 1, ctx.deps.now())), "x-wait"
        else:
            notice, key = _x_wait_notice(ctx, msg.received_at), "x-wait"
        new_text = ctx.deps.now() - msg.received_at < X_WAIT_AFTER  # (handled again: no)
        if new_text and why and why.startswith(X_DOWN_REASONS) and due - ctx.deps.now() > X_WAIT_AFTER:
            # the ones before it wait minutes apart for X to be back: try the first of them now
            # (posted, it brings the rest and this one along; still down, all wait as they did)
            async with ctx.deps.db.tx() as conn:
                await inbox.wake_x_waiting(
                    conn, X_DOWN_REASONS, ctx.deps.now(), key=msg.sender.key, first=True
                )
        raise Defer(max(due, ctx.deps.now()), parked=True, notice=notice, notice_key=key, reason=why)
    async with ctx.deps.db.write() as conn:
        earlier = await xaccounts.begin_post(
            conn, message_sid=msg.external_id, user_id=user.id, now=ctx.deps.now()
        )
    if earlier is not None:
        return await _after_earlier_attempt(ctx, user, msg.external_id)
    return await _post(
        ctx, service, user, msg.external_id, text, sender=msg.sender.key, received_at=msg.received_at
    )


def _count(ctx: Context, kind: str) -> None:
    """textwire_x_errors_total{kind} (bot/core/metrics.py's X_ERROR_KINDS)."""
    ctx.deps.metrics.x_errors_by[kind].inc()


async def _post(
    ctx: Context, service: XAccounts, user: User, sid: str, text: str, *, sender: str, received_at: float
) -> HandlerResult:
    notice = _x_wait_notice(ctx, received_at)
    try:
        access = await _access(ctx, service, user, sid, sender=sender, notice=notice)
        if isinstance(access, Reply):
            return await _forget(ctx, sid, access)
        try:
            posted = await service.client.post(access.token, text)
        except XUnauthorized:  # expired early or revoked: refresh once, then try once more
            ctx.log.info("x.post.unauthorized")
            _count(ctx, "unauthorized")
            access = await _access(ctx, service, user, sid, sender=sender, notice=notice, stale=access)
            if isinstance(access, Reply):
                return await _forget(ctx, sid, access)
            posted = await service.client.post(access.token, text)
    except XUnauthorized:
        relink = await service.mark_dead(user.id, text_user=False, answering=sender)
        return await _forget(ctx, sid, relink or Reply(RELINK_NOT_POSTED))
    except XRateLimited as exc:
        await _forget(ctx, sid, None)
        when = reset_when(exc.reset_at, ctx.deps.now())
        ctx.log.info("x.post.rate_limited", reset_in=round(exc.reset_at - ctx.deps.now()))
        _count(ctx, "rate_limited")
        raise Defer(
            exc.reset_at + 1,
            parked=True,
            notice=rate_limited(when),
            notice_key="x-rate-limit",
            reason=POST_RATE_LIMITED,
        ) from None
    except XUnavailable as exc:
        if exc.sent:
            await _end(ctx, sid, "unknown", error=str(exc))
            ctx.log.warning("x.post.unconfirmed", error=str(exc))
            _count(ctx, "unconfirmed")
            return NOT_CONFIRMED
        await _forget(ctx, sid, None)
        _count(ctx, "unreachable")
        raise Retry(
            f"{UNREACHABLE_WHY} {exc}", failure_reply=X_DOWN, parked=True, notice=notice, notice_key="x-wait"
        ) from None
    except XDuplicate:
        await _end(ctx, sid, "failed", error="duplicate")
        ctx.log.info("x.post.duplicate")
        _count(ctx, "duplicate")
        return DUPLICATE
    except XForbidden as exc:
        await _end(ctx, sid, "failed", error=f"forbidden: {exc}")
        ctx.log.warning("x.post.forbidden")
        _count(ctx, "forbidden")
        return FORBIDDEN
    except XRejected as exc:
        await _end(ctx, sid, "failed", error=str(exc))
        ctx.log.warning("x.post.rejected", error=str(exc))
        _count(ctx, "rejected")
        return REJECTED
    except XError as exc:  # the token endpoint misbehaving: configuration, retried with backoff
        await _forget(ctx, sid, None)
        _count(ctx, "refresh_failed")
        raise Retry(
            f"{ERROR_WHY} {exc}", failure_reply=X_DOWN, parked=True, notice=notice, notice_key="x-wait"
        ) from None
    # Anything else (a crash, a cancel mid-request) leaves the intent "attempting": the retry
    # then says to check the timeline rather than risk a second post.
    await _end(ctx, sid, "posted", tweet_id=posted.id)
    now = ctx.deps.now()
    # X is back for the texts set aside while it was not: this sender's, and anyone's that met a
    # connection refused (not the token endpoint's failures: that may still be down); looked for
    # first, so that an ordinary post (none waiting) takes no write of its own
    async with ctx.deps.db.read() as conn:
        waiting = await inbox.x_waiting(conn, X_DOWN_REASONS, now, key=sender)
        waiting = waiting or await inbox.x_waiting(conn, X_UNREACHABLE, now)
    woken = 0
    if waiting:
        async with ctx.deps.db.tx() as conn:
            woken = await inbox.wake_x_waiting(conn, X_DOWN_REASONS, now, key=sender)
            woken += await inbox.wake_x_waiting(conn, X_UNREACHABLE, now)
    ctx.log.info("x.posted", tweet_id=posted.id)
    if woken:
        ctx.log.info("x.back", woken=woken)
    return post_url(user.x_handle, posted.id)


def _x_wait_notice(ctx: Context, received_at: float) -> str | None:
    """The `Retry` notice of a text X has kept waiting for a minute or more: that it is kept and
    will be posted (said once: `notice_key` "x-wait", keyed by the message)."""
    return X_WAIT if ctx.deps.now() - received_at >= X_WAIT_AFTER else None


async def _access(
    ctx: Context,
    service: XAccounts,
    user: User,
    sid: str,
    *,
    sender: str,
    notice: str | None,
    stale: Access | None = None,
) -> Access | Reply:
    """A usable token, or the reply to send instead (relink). A refresh that X's token endpoint
    did not answer usefully raises `Retry`: nothing was posted, so the intent is dropped and the
    message tried again (after the reset when the endpoint said 429)."""
    try:
        if stale is None:
            outcome, access = await service.access(user.id, unlink_on_dead=False)
        else:
            outcome, access = await service.refresh(
                user.id, stale_version=stale.version, unlink_on_dead=False
            )
    except XRateLimited as exc:
        await _forget(ctx, sid, None)
        delay = max(1.0, exc.reset_at + 1 - ctx.deps.now())
        ctx.log.info("x.refresh.rate_limited", reset_in=round(delay))
        _count(ctx, "refresh_rate_limited")
        # a wait of a minute or more is said, with when, as a 429 on the post itself is: the text
        # waited up to X's reset (10 minutes, a day) with no word
        busy = x_busy(reset_when(exc.reset_at, ctx.deps.now())) if delay >= X_WAIT_AFTER or notice else None
        raise Retry(
            REFRESH_RATE_LIMITED,
            delay=delay,
            failure_reply=X_DOWN,
            parked=True,
            notice=busy,
            notice_key="x-wait",
        ) from None
    except XError as exc:  # 5xx, unreachable, a misconfigured client: nothing reached /2/tweets
        await _forget(ctx, sid, None)
        ctx.log.warning("x.refresh.failed", error=str(exc))
        _count(ctx, "refresh_failed")
        raise Retry(
            f"{REFRESH_WHY} {exc}", failure_reply=X_DOWN, parked=True, notice=notice, notice_key="x-wait"
        ) from None
    except CipherError:  # this row does not decrypt for this user: no retry will read it
        ctx.log.warning("token.unreadable", user_id=user.id)
        relink = await service.mark_dead(user.id, text_user=False, reason="unreadable", answering=sender)
        return relink or Reply(RELINK_NOT_POSTED)
    if outcome is Refresh.OK and access is not None:
        return access
    if outcome is Refresh.DEAD:
        relink = await service.mark_dead(user.id, text_user=False, answering=sender)
        return relink or Reply(RELINK_NOT_POSTED)
    return await service.link_reply(user, address=sender)  # unlinked meanwhile


async def _forget(ctx: Context, sid: str, reply: Reply | None) -> HandlerResult:
    """Nothing reached X: drop the intent so a later try may post."""
    async with ctx.deps.db.tx() as conn:
        await xaccounts.forget_post(conn, sid)
    return reply


async def _end(
    ctx: Context, sid: str, state: str, *, tweet_id: str | None = None, error: str | None = None
) -> None:
    async with ctx.deps.db.write() as conn:
        await xaccounts.end_post(
            conn, message_sid=sid, state=state, now=ctx.deps.now(), tweet_id=tweet_id, error=error
        )


async def _after_earlier_attempt(ctx: Context, user: User, sid: str) -> HandlerResult:
    """This message was tried before (a crash or a redelivery): never post blindly again."""
    async with ctx.deps.db.read() as conn:
        found = await xaccounts.post_of(conn, sid)
    state, tweet_id = found or ("unknown", None)
    ctx.log.warning("x.post.earlier_attempt", post_state=state)  # `state`: dropped (OAuth's)
    if state == "posted" and tweet_id:
        return post_url(user.x_handle, tweet_id)
    if state == "failed":
        return "This text was not posted to X."
    return NOT_CONFIRMED
