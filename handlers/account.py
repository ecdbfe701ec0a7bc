"""The account: `\\LINK` (a fresh link to connect X), `\\UNLINK` (revoke and delete the tokens),
`\\STOP` (revoke, leave every room, delete the user's record; one goodbye; from one of several
addresses, that address only), `\\PAIR` (one person at several addresses: SMS, WhatsApp,
Telegram).

`\\UNLINK` and `\\STOP` are declared `priority`: handled at once, never behind a parked post.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import SMS, WHATSAPP, FitsOne, channel_of
from bot.core.config import TEMPLATE_KINDS
from bot.core.deps import release_refused
from bot.core.logs import mask_address
from bot.core.message import LAST_WORD
from bot.features.ledger.book import known_as, label_name, label_shown, name_key
from bot.features.ledger.reminders import zone_of_address
from bot.features.x.accounts import NOT_SET_UP, x_accounts
from bot.gateway.links import signer_of
from bot.pipeline import replyguard
from bot.pipeline.dispatch import Context, HandlerResult, Inbound, Reply, Router
from handlers.filters import typed_words
from handlers.rooms import LOCKED
from storage import inbox, ledger, outbox, pairing, people, rooms, users, xaccounts

router = Router(name=__name__)

# the person leaves their rooms (SPEC: `\\STOP` leaves every room); the rooms stay, as do the
# receipts they shared there ("your rooms ... are deleted" told them their friends' rooms went)
GOODBYE = (
    "Goodbye from textwire: your X connection and your record are deleted, and you left your "
    "rooms. Receipts you shared stay there. Text us anytime to start again."
)


@router.command("LINK", args=0, usage="\\LINK", help="\\LINK connect X")
async def link(msg: Inbound, ctx: Context) -> HandlerResult:
    service = x_accounts(ctx.deps)
    if service is None:
        return NOT_SET_UP
    ctx.log.info("x.link.sent")
    user = ctx.user
    handle = user.x_handle if user.x_linked else None  # told which account they switch from
    return await service.link_reply(user, address=msg.sender.key, handle=handle)


@router.command("UNLINK", args=0, usage="\\UNLINK", help="\\UNLINK disconnect X", priority=True)
async def unlink(msg: Inbound, ctx: Context) -> HandlerResult:
    service = x_accounts(ctx.deps)
    if service is None:
        return NOT_SET_UP
    user = ctx.user
    # texts parked for X (its rate-limit reset, an outage) are not posted: each came back after
    # the reset with a link to connect X, to someone who had just disconnected it
    async with ctx.deps.db.tx() as conn:
        # the person the address is now (`\\UNLINK` goes ahead of a `\\PAIR` sent before it)
        user = await users.of_address(conn, msg.sender.key) or user
        keys = await pairing.addresses_of(conn, user.id)
        dropped = await inbox.drop_parked_posts(conn, keys, msg.id, ctx.deps.now())
    had_tokens = await service.revoke_and_delete(user.id)
    ctx.log.info("x.unlinked", had_tokens=had_tokens, dropped=dropped)
    if not had_tokens and not user.x_user_id:
        return "No X account is connected. Send \\LINK to connect one." + not_posted(dropped)
    handle = f" @{user.x_handle}" if user.x_handle else ""
    return (
        f"Disconnected{handle}: your texts are no longer posted to X. Send \\LINK to connect again."
        + not_posted(dropped)
    )


def not_posted(dropped: int) -> str:
    """What `\\UNLINK` says of the texts it kept from X ("" when there were none)."""
    if dropped == 1:
        return " 1 text waiting for X was not posted."
    return f" {dropped} texts waiting for X were not posted." if dropped else ""


async def users_first(conn: AsyncConnection, user_id: int) -> str | None:
    """The person's first address now (`users.phone`'s place), None when they have none."""
    found = await pairing.addresses_of(conn, user_id)
    return found[0] if found else None


LEFT = (
    "Goodbye from textwire at this address: it is no longer you, and nothing of yours comes here. "
    "Your rooms and balances stay with your other address."
)


# what `\\HELP` says of `\\STOP` (handlers/help.py says `STOP_HELP_PAIRED` to a paired address)
STOP_HELP = "\\STOP delete your account"
STOP_HELP_PAIRED = "\\STOP take this address out of you"


async def release_dropped(ctx: Context, photos: list[str]) -> None:
    """The channel's copies of the photos `\\STOP` dropped unsaved (waiting for a room, or for
    the media store): nothing else records them, and they stayed at Twilio for good. Side by
    side, so a Twilio that does not answer holds the goodbye back one timeout, not one a photo."""
    await release_refused(ctx.deps, list(enumerate(photos, 1)))


# `\\STOP?`, a question: what it would do, as it holds for this address (to a paired one, "\\STOP
# delete your account" was said, which it does not do there, and kept them from taking one out)
STOP_ASKED = "\\STOP deletes your account. Send it without the ? to do it."
STOP_ASKED_PAIRED = "\\STOP takes only this address out of you. Send it without the ? to do it."


# what goes to a person rather than answers an address: moved on when the address leaves them.
# The messages that are not answers (TEMPLATE_KINDS), but a statement's link, asked for there.
NOTICE_KINDS = tuple(kind for kind in TEMPLATE_KINDS if kind != "statement")


async def _take_out(
    conn: AsyncConnection, msg: Inbound, ctx: Context, user: users.User
) -> tuple[list[str], int] | None:
    """`\\STOP` from one of the person's several addresses: that address only leaves them; the
    photos it had waiting and how many of its messages were dropped. None, and nothing done, when
    the address is the person's only one."""
    if len(await pairing.addresses_of(conn, user.id)) <= 1:
        return None
    await _address_leaves(conn, msg.sender.key, ctx, user)
    photos = await inbox.media_waiting(conn, msg.sender.key, msg.id)
    dropped = await inbox.drop_waiting(conn, msg.sender.key, msg.id, ctx.deps.now())
    return photos, dropped


async def _address_leaves(conn: AsyncConnection, key: str, ctx: Context, user: users.User) -> None:
    """Address `key` leaves `user`, who has others (its `\\STOP`, or another address's `\\UNPAIR`):
    a message from it later is a new person's, answered as the unpaired \\STOP's "text us
    anytime" is: not opted out (that is a carrier's STOP; it silenced the \\HELP after)."""
    # a person shown by this address's name (Telegram's first name, no \\NAME) keeps it:
    # their rooms know them by it, and `\\PAID Ann` must still find them
    label = await label_name(conn, user.id) if user.phone == key else None
    # an opt-out (STOP) outlives the address's place in the person, as it outlives a whole
    # person's `\\STOP`: after this goodbye nothing more is sent there
    was_out = bool(await users.opted_out_among(conn, [key]))
    await pairing.leave(conn, key)
    # an X link texted there (and a sign-in begun from one) would still connect an X account to
    # the person: whoever holds the address now could make their texts post to theirs
    await xaccounts.end_links_to(conn, user.id, key, ctx.deps.now())
    had = zone_of_address(user.phone)
    if user.phone == key and had != zone_of_address(await users_first(conn, user.id)):
        # the rooms they made took their zone from this address (`users.phone`); the next
        # address takes its place, and a Telegram chat has no zone: New York's rooms went
        # to UTC (reminders at 5 a.m., statements' months cut at 7 p.m.), and a chat's
        # rooms to the number's zone
        await rooms.keep_zone(conn, user.id, had or "UTC")
    if was_out:
        await users.set_opted_out(conn, key, True, ctx.deps.now())
    if label is not None:
        await ledger.set_name(conn, user.id, label, name_key(label))
    # and what waits in the outbox for its time: the goodbye is the last word there; a notice
    # for the person (a payment to them, a reminder) goes on to where they read the next ones
    elsewhere = await pairing.notice_address(conn, user.id)
    if elsewhere is not None:
        await outbox.move_waiting(conn, key, elsewhere, NOTICE_KINDS, ctx.deps.now())
    await outbox.supersede_waiting(conn, key, ctx.deps.now())


async def _left(ctx: Context, photos: list[str], dropped: int) -> Reply:
    await release_dropped(ctx, photos)
    ctx.log.info("user.address_left", dropped=dropped)
    return Reply(LEFT, kind=LAST_WORD)  # the sender lets this one through the opt-out


@router.command("STOP", args=0, usage="\\STOP", help=STOP_HELP, priority=True, answers_asked=True)
async def stop(msg: Inbound, ctx: Context) -> HandlerResult:
    # whose the address is now, read in the transaction that acts on it with its row held:
    # `ctx.user` was read when the worker took this up, and `\\STOP` goes ahead of the messages
    # sent before it. A new address's `\\PAIR <code>` being handled then joined it to the person
    # meanwhile, and this deleted the address's own empty record ("your record is deleted, and
    # you left your rooms"), leaving the address paired and not opted out.
    key = msg.sender.key
    if ctx.command.asked:
        async with ctx.deps.db.read() as conn:
            user = await users.of_address(conn, key) or ctx.user
            several = len(await pairing.addresses_of(conn, user.id)) > 1
        return Reply(STOP_ASKED_PAIRED if several else STOP_ASKED, kind="usage")
    async with ctx.deps.db.tx() as conn:
        user = await users.owner_held(conn, key) or ctx.user
        left = await _take_out(conn, msg, ctx, user)
    if left is not None:
        return await _left(ctx, *left)
    service = x_accounts(ctx.deps)
    if service is not None:
        await service.revoke_and_delete(user.id)
    # what they leave in their rooms stays findable by `textwire person delete` with this address
    # (their photos, should they ask): it said "no person", and the photos stayed for good
    signer = signer_of(ctx.deps)
    tag = signer.tags(key)[0] if signer is not None else None
    async with ctx.deps.db.tx() as conn:  # a carrier's opt-out outlives the account
        current = await users.owner_held(conn, key)
        if current is not None and current.id != user.id:  # paired since the transaction above
            user = current
            left = await _take_out(conn, msg, ctx, user)
        if left is None:
            # the address's own flag (what the sender reads), not a person's copy of it
            opted_out = sorted(await users.opted_out_among(conn, [user.phone]))
            known = await known_as(conn, user.id, user.phone)
            kept = await people.forget(
                conn,
                user.id,
                known,
                opted_out,
                ctx.deps.now(),
                zone_of_address,
                tag=tag,
                left_at=msg.received_at or ctx.deps.now(),  # when sent, as a \\LEAVE counts
            )
            photos = await inbox.media_waiting(conn, key, msg.id)
            dropped = await inbox.drop_waiting(conn, key, msg.id, ctx.deps.now())
            await outbox.supersede_waiting(conn, key, ctx.deps.now())
    if left is not None:
        return await _left(ctx, *left)
    await release_dropped(ctx, photos)
    ctx.log.info("user.deleted", kept_in_ledgers=kept, dropped=dropped)
    return GOODBYE


PAIR_USAGE = "\\PAIR or \\PAIR <code>"


def pair_refused(has: str, theirs: str | None, *, only_rooms: bool = False) -> str:
    """Why `\\PAIR <code>` cannot make this address (which `has` something of its own) the code's
    person (who has `theirs`), and a way that works: when that person has nothing, the other way
    round; else an X account is dropped with `\\UNLINK`; rooms, receipts and payments are not,
    so the address with none of them joins the other.
    `only_rooms`: this address is in rooms with nothing of its own there (a new Telegram account
    that joined the flat before pairing), so it can leave them and pair."""
    if theirs is None:  # an X account too: `\\UNLINK` would have ended it for nothing
        return (
            f"This address has {has} of its own. Pair the other way: send \\PAIR here, then the"
            " code from your other address."
        )
    if has == pairing.X_ACCOUNT:
        return f"This address has {has} of its own. Send \\UNLINK here, then the code again."
    if theirs == pairing.X_ACCOUNT:
        return (
            f"This address has {has} of its own. Pair the other way: \\UNLINK on your other "
            "address, \\PAIR here, then the code from there."
        )
    if only_rooms:
        return (
            "This address is in rooms with nothing of its own there: \\LEAVE each here (\\ROOMS "
            "lists them), then send the code again."
        )
    return (
        f"This address has {has} of its own, and your other address has {theirs}: "
        "neither can join the other without losing them."
    )


def paired_with(key: str) -> str:
    """The address a `\\PAIR` joined, as its reply names it: with its channel, since an SMS number
    and its WhatsApp are masked alike ("Paired: this address and +1******1111", said on WhatsApp
    +1******1111, read as the address paired with itself)."""
    channel = {SMS: "SMS", WHATSAPP: "WhatsApp"}.get(channel_of(key))
    return f"{channel} {mask_address(key)}" if channel else mask_address(key)  # Telegram ***4567


async def _keep_name(conn: AsyncConnection, joining: int, into: int) -> None:
    """The `\\NAME` the joining address's person gave ("Your rooms now see you as Zed.") becomes
    the person's when they have none, unless someone in their rooms goes by it already: it went
    with the joining person, and the rooms saw a masked number."""
    named = await ledger.people(conn, {joining, into})
    mine = named[joining].name if joining in named else None
    if not mine or (into in named and named[into].name):
        return
    await ledger.lock_rooms_of(conn, into)  # as `\\NAME` does: two members naming themselves alike
    if await ledger.name_taken_in(conn, into, name_key(mine)) is None:
        await ledger.set_name(conn, into, mine, name_key(mine))


CODE_DIGITS = 6
ADDRESS_GONE = (
    "Nothing was paired: this address left textwire (\\STOP) meanwhile. Send the code again to pair it."
)
WRONG_CODE = "That code is wrong or has expired. Send \\PAIR from your other address for a new one."


# the code is a secret until used: `***` in the inbox, and the reply that carries it is redacted
# once sent (as a link's is)
@router.command(
    "PAIR", args=(0, 2), secret=(0, 1), usage=PAIR_USAGE, help="\\PAIR make another app or number you too"
)
async def pair(msg: Inbound, ctx: Context) -> HandlerResult:
    """`\\PAIR`: a code for this person; `\\PAIR <code>` from another address: that address is
    them too (name, rooms, balances, X account), and replies go where each message came from."""
    now = ctx.deps.now()
    user = ctx.user
    if not ctx.args:
        async with ctx.deps.db.tx() as conn:
            while True:  # a code another person holds is drawn again (one in a million a live code)
                code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
                if await pairing.new_code(conn, user.id, code, now, asked_from=msg.sender.key):
                    break
        ctx.log.info("pair.code_sent")
        return Reply(
            f"Your code: {code}. Within 10 minutes, send \\PAIR {code} from your other number or app"
            " to make it you too.",
            redact=True,
        )
    # as people copy or read it out: `415140.` (the reply's "Your code: 415140."), `415 140`;
    # typed on a keyboard with Arabic-Indic, Persian or Devanagari digits, the digits they are
    # (a superscript or a fraction is no decimal digit: it stays, and the code is wrong)
    code = "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() else c for c in "".join(typed_words(ctx.args))
    )
    key = msg.sender.key
    async with ctx.deps.db.tx() as conn:
        # the address as it is now, its row held until this commits: a `\\STOP` sent after this
        # message goes ahead of it, and one done meanwhile deleted the address's record (a pair
        # then joined nothing, and spent the code); one waiting for this row sees it paired
        held = await users.owner_held(conn, key)
        if held is None:
            ctx.log.info("pair.address_gone")
            return ADDRESS_GONE
        if await inbox.dropped(conn, msg.id):
            # a `\\STOP` went ahead and dropped it: the address's next message may have made a
            # new person there since, whom this would have joined to the code's owner
            ctx.log.info("pair.dropped")
            return None
        user = held
        if await rooms.locked_out(conn, await rooms.guessers(conn, key, user.id), now):
            # one count for wrong codes and wrong room passwords, and one notice: told once per
            # window, as `\\JOIN` is (a script guessing codes got a text a guess)
            tell = await rooms.claim_lock_notice(conn, key, now)
            ctx.log.warning("pair.locked", answered=tell)
            return LOCKED if tell else None
        well_formed = code.isascii() and code.isdigit() and len(code) == CODE_DIGITS
        owner = await pairing.owner_of(conn, code, now) if well_formed else None
        if owner is None:
            await rooms.record_failure(conn, key, now, room_key=pairing.PAIR_KEY)
            ctx.log.warning("pair.wrong_code")
            return WRONG_CODE
        # a refusal leaves the code as it was: the person pairs the right way with it
        if owner == user.id:
            return "This address is already you. Send the code from your other number or app."
        has = await pairing.what_it_has(conn, user.id)
        if has is not None:
            theirs = await pairing.what_it_has(conn, owner)
            only_rooms = (
                has == "rooms" and await pairing.what_it_has(conn, user.id, memberships_too=False) is None
            )
            ctx.log.info("pair.refused", has=has, theirs=theirs)
            return pair_refused(has, theirs, only_rooms=only_rooms)
        used = await pairing.use(conn, code, now)
        if used is None:  # another address spent it a moment ago
            return WRONG_CODE
        others = await pairing.addresses_of(conn, owner)
        # the joining person's other addresses come along (`pairing.join`): the notice names them
        along = [a for a in await pairing.addresses_of(conn, user.id) if a != key]
        await _keep_name(conn, user.id, owner)
        # a room this address made and left keeps the zone of its number, as after a `\\STOP`
        await rooms.creator_leaves(conn, user.id, zone_of_address(user.phone))
        await pairing.join(conn, key, into=owner, leaving=user.id, now=now)
        # the address that asked for the code hears of it at once: a code read over someone's
        # shoulder (or a screenshot of the reply) joined a stranger, and no one was told
        told = await pairing.answer_address(conn, owner, used.asked_from)
        if told is not None and told != key:
            dedupe = f"{msg.external_id}:paired"
            label = await users.label_of(conn, key)
            await outbox.enqueue(
                conn,
                to=told,
                body=paired_notice(
                    key, label, ctx.deps.services.fits(channel_of(told)), to=told, along=along
                ),
                dedupe_key=dedupe,
                kind="paired",
                inbox_id=msg.id,
                now=now,
                not_before=await replyguard.notice_time(conn, told, dedupe, "paired", now),
            )
    ctx.log.info("pair.joined")
    shown = paired_with(others[0]) if others else "your other address"
    return f"Paired: this address and {shown} are one person now: same name, rooms and balances."


def paired_notice(
    key: str,
    label: str | None = None,
    fits: FitsOne = lambda text: True,
    *,
    to: str = "",
    along: Sequence[str] = (),
) -> str:
    """To the address that asked for the code (`to`), when it joined `key`: with the name its
    channel gives it (Telegram's first name), which a stranger's shows, when the message stays one.
    `along`: the other addresses of `key`'s person, which joined with it (told of `key` alone,
    Alice took it out, and a stranger's second number stayed her)."""
    if along:
        more = paired_with(along[0]) if len(along) == 1 else f"{len(along)} other addresses"
        text = (
            f"{shown_address(key, label, to)} and {more} are you too now (\\PAIR). Not you? Send "
            "\\UNPAIR to take them out."
        )
    else:
        text = (
            f"{shown_address(key, label, to)} is you too now (\\PAIR). Not you? Send \\UNPAIR to take it out."
        )
    return text if label is None or fits(text) else paired_notice(key, along=along)


def shown_address(key: str, label: str | None, to: str = "") -> str:
    """An address as `\\UNPAIR` and the pairing notice show it: `Telegram ***4567 (Ann)`. To an SMS
    number (`to`) the name is spelt as the rooms show it, in the letters a plain SMS has (`Ann
    \U0001f338` is Ann, Zo\u00eb Zoe, a name in another script not shown): as typed, an emoji or an
    accent GSM-7 lacks made the SMS UCS-2, twice the segments, and dropped the name from the
    notice that was there to show it."""
    if label and to and channel_of(to) == SMS:
        label = label_shown(label)
    return f"{paired_with(key)} ({label[:32]})" if label else paired_with(key)


# an address this new takes no other out: a stranger who read a code over someone's shoulder
# could have taken the person's own number out before they saw the pairing notice (Telegram's
# new sessions wait a day likewise before they may end others)
UNPAIR_WAIT_SECONDS = 24 * 3600.0
UNPAIR_USAGE = "\\UNPAIR or \\UNPAIR <number>"
UNPAIR_ALONE = "This address is paired with no other. \\PAIR makes another number or app you too."


def unpair_list(
    mine: Sequence[pairing.Paired], here: str, now: float, fits: FitsOne = lambda text: True
) -> str:
    """`\\UNPAIR`: the person's addresses, numbered as `\\UNPAIR <number>` takes them, and what
    this address may do (one paired in the last day takes no other out). As one message of the
    channel (`fits`): to an SMS number the chats' names go when the list would not fit, then the
    advice is said shorter (SMS, WhatsApp and a named Telegram chat made two segments)."""
    new = too_new(mine, here, now)
    text = ""
    for named, short in ((True, False), (False, False), (False, True)):
        shown = ", ".join(
            f"{n} {shown_address(a.address, a.label if named else None, here)}"
            f"{' (here)' if a.address == here else ''}"
            for n, a in enumerate(mine, 1)
        )
        text = f"You are at: {shown}. {_unpair_advice(mine, here, new, short=short)}"
        if fits(text):
            break
    return text


def _unpair_advice(mine: Sequence[pairing.Paired], here: str, new: bool, *, short: bool) -> str:
    if new and short:
        return "Paired under a day ago: \\UNPAIR from another. \\STOP takes this one out."
    if new:
        return (
            "This address was paired less than a day ago: send \\UNPAIR from another to take one "
            "out. \\STOP here takes this one out."
        )
    others = [n for n, a in enumerate(mine, 1) if a.address != here]
    which = (
        f"\\UNPAIR {others[0]} takes that one out"
        if len(others) == 1
        else "\\UNPAIR and a number take one out"
    )
    return f"{which}; \\STOP here takes this one out."


def too_new(mine: Sequence[pairing.Paired], address: str, now: float) -> bool:
    """Whether `address`, of the person's `mine`, was paired in the last day
    (UNPAIR_WAIT_SECONDS): it takes no other out."""
    here = next((a for a in mine if a.address == address), None)
    return here is not None and here.paired_at is not None and now - here.paired_at < UNPAIR_WAIT_SECONDS


def _number(words: Sequence[str]) -> int | None:
    """`2`, `#2`, `2.`: the number an `\\UNPAIR` list gave (typed in any keyboard's digits, as a
    `\\PAIR` code is); None when it is no such number."""
    word = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in "".join(typed_words(words)))
    word = word.lstrip("#")
    return int(word) if word.isascii() and word.isdigit() and len(word) <= 2 else None


@router.command(
    "UNPAIR", "DEPAIR", args=(0, 1), usage=UNPAIR_USAGE, help="\\UNPAIR take an app or number out of you"
)
async def unpair(msg: Inbound, ctx: Context) -> HandlerResult:
    """`\\UNPAIR`: the person's addresses, numbered; `\\UNPAIR <number>` from one of them takes
    another out (as its own `\\STOP` would), unless the asking one was paired in the last day."""
    key = msg.sender.key
    wanted = _number(ctx.args) if ctx.args else None
    if not ctx.args or ctx.command.asked:
        async with ctx.deps.db.read() as conn:
            user = await users.of_address(conn, key) or ctx.user
            mine = await pairing.paired_addresses(conn, user.id)
        if len(mine) <= 1:
            return UNPAIR_ALONE
        # what was asked for, no usage answer
        return unpair_list(mine, key, ctx.deps.now(), ctx.deps.services.fits(msg.sender.channel))
    if wanted is None:
        return Reply(
            f"Usage: {UNPAIR_USAGE}. \\UNPAIR alone lists your addresses with their numbers.", kind="usage"
        )
    now = ctx.deps.now()
    async with ctx.deps.db.tx() as conn:
        # the person as they are now, this address's row held (a `\\STOP` or `\\PAIR` of it
        # handled meanwhile changes who that is)
        user = await users.owner_held(conn, key) or ctx.user
        mine = await pairing.paired_addresses(conn, user.id)
        if len(mine) <= 1:
            return UNPAIR_ALONE
        if not 1 <= wanted <= len(mine):
            return f"You have no address {wanted}. \\UNPAIR alone lists yours with their numbers."
        target = mine[wanted - 1]
        if target.address == key:
            return "That is this address: send \\STOP here to take it out of you."
        if too_new(mine, key, now):
            ctx.log.warning("pair.unpair_too_soon")
            return (
                "This address was paired less than a day ago, so it cannot take others out yet: "
                "send \\UNPAIR from another."
            )
        # the target's row held too, and still this person's: its own \\STOP may have gone first
        held = await users.owner_held(conn, target.address)
        if held is None or held.id != user.id:
            return f"{paired_with(target.address)} is not you any more: it left meanwhile."
        await _address_leaves(conn, target.address, ctx, user)
        # and what it sent before this and is not done (a photo waiting for the media store, a
        # text over the rate limit): dropped, as after its own `\\STOP`. A stranger's photo sent
        # while the address was the person's went on later as a newcomer's ("\\CREATE a room
        # within 10 minutes and this photo goes there"); one being handled now, read as the
        # person's, is not answered to the address taken out
        photos = await inbox.media_waiting(conn, target.address, msg.id)
        dropped = await inbox.drop_waiting(conn, target.address, msg.id, now)
    await release_dropped(ctx, photos)
    ctx.log.info("pair.unpaired", address=mask_address(target.address), dropped=dropped)
    return f"Took {paired_with(target.address)} out of you. Your rooms and balances stay here."
