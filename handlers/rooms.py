"""Rooms: `\\CREATE`, `\\JOIN` (also bare `JOIN`), `\\LEAVE`, `\\ROOMS`, `\\USE`, `\\RECEIPTS`,
`\\PASSWORD`.

Wrong passwords are throttled by the name guessed, whether or not a room has it (SPEC,
Clarifications), so an unknown name and an existing one get the same texts after the same work,
lockout included: an unknown name is checked against a dummy hash, and every throttle counts the
name's failures, never the room's. A password longer than `\\CREATE` allows is refused before any
hashing and is no guess.

- Per number: 5 failures in 15 minutes lock that number's `\\JOIN` out (`LOCKED`).
- Per name: once a name has had 10 failures in 15 minutes, from any numbers, it is under attack.
  A number that failed on it lately gets `ROOM_LOCKED` and no check. A number with no failure for
  it (a newcomer with the right password) is not refused: its guess waits for the name's slot,
  one password check every `rooms.SLOT_SECONDS` on average across all processes, up to
  `rooms.SLOT_BURST` at once after a quiet spell (the message is put back for a moment,
  unanswered, `room.join_deferred`), so it joins within seconds during a flood from other numbers
  while the checks that reach the password hash stay bounded per name. A number with one wrong
  guess for the name (a typo) waits for a slot of its own kind (`Slot`): a flood's second
  guesses never spend the newcomers'.
- Members are never throttled (their `\\JOIN` is answered without a guess); a former member of
  the room (back after `\\LEAVE`) waits for the slot even after failures of their own.

A locked-out number is told once per 15 minutes; the guesses after that get no answer. The
password of `\\CREATE` and `\\JOIN` is declared `secret`: the inbox keeps `***` in its place once
handled, whatever the arguments (the dispatcher redacts), and no password reaches a log line.
"""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import FitsOne
from bot.core.errors import Defer
from bot.features.ledger.book import accents_off, in_another_script, room_ledger
from bot.features.ledger.money import Currency
from bot.gateway.links import gallery_link
from bot.pipeline.dispatch import Context, HandlerResult, Inbound, Reply, Router
from handlers.filters import (
    NOT_IN_ROOM,
    ROOM_NAMES,
    room_named_or_active,
    room_of,
    room_word,
    typed_word,
)
from storage import rooms
from storage.lean import in_tx

router = Router(name=__name__)

CREATE_USAGE = "\\CREATE <room> <password>"
JOIN_USAGE = "\\JOIN <room> <password>"
# `\\JOIN house my pw` (a password of two words) was told what a room name is, as if the room
# were the trouble: the note says both are one word
ONE_WORD_EACH = "Room names are 1-32 letters, digits, - or _ (no spaces), and a password is one word."
WRONG = "No room with that name and password. Check both and try again."
# a password whose first letter alone is a capital, as a phone's autocorrect makes `hunter22` at the
# start of a sentence or of a word it knows (`Paris`): "Check both" never said which letter it was.
# Said from what was typed alone, for a room that exists or not (SPEC: the answer never tells).
WRONG_CAPITAL = f"{WRONG} Passwords are case-sensitive: did your phone capitalise the first letter?"


# a password that ends in a full stop (or ! ? , ; :), as a T9 phone or a double space puts one
# after the last word: "Check both" showed the person the password they knew, right
_ENDS = ".!?,;:"


def wrong_for(password: str) -> str:
    """The wrong-password answer, with the capital's hint when the password looks autocorrected,
    and the mark's when it ends in one (from what was typed alone, as SPEC's answer never says
    whether the room exists)."""
    capital = password[:1].isupper() and not any(letter.isupper() for letter in password[1:])
    mark = end_mark(password)
    if mark and capital:
        return f"{WRONG} Passwords are exact: did your phone capitalise it, or add the {mark} at its end?"
    if mark:
        return f"{WRONG} Passwords are exact: was the {mark} at its end part of it?"
    return WRONG_CAPITAL if capital else WRONG


# one count per person (all their addresses, a phone on SMS and WhatsApp alike: storage.rooms.guessers)
# for wrong room passwords and wrong \\PAIR codes (storage.rooms.record_failure):
# the reply names both, since either may have filled it
LOCKED = "Too many wrong passwords or codes. Please wait 15 minutes before you try again."
ROOM_LOCKED = "Too many wrong passwords for that room lately. Please wait 15 minutes before you try again."


def receipts_reply(link: str) -> str:
    """No room name: with a 40-character public URL the link alone is 134 characters."""
    return f"Receipts, 1 hour: {link}"


def rooms_reply(names: list[str], active: str | None, *, fits: FitsOne, page: int = 1) -> str:
    """`\\ROOMS`: the rooms in order, the active one marked; as many as fit one segment (the
    active one always shown), and the others counted with the page that lists them: "and 8 more"
    alone left a person in 20 rooms no way to see those 8 (`\\ROOMS 2` lists the next ones)."""
    pages = _rooms_pages(names, active, fits)
    number = min(max(page, 1), len(pages))
    shown = pages[number - 1]
    more = sum(len(later) for later in pages[number:])
    return _rooms_text(shown, more, number, len(names))


def _rooms_text(shown: list[str], more: int, page: int, count: int) -> str:
    head = "Your rooms" if page == 1 else f"Your rooms, page {page}"
    tail = f" and {more} more: \\ROOMS {page + 1} lists them." if more else "."
    switch = " Switch with \\USE <room>." if page == 1 and count > 1 else ""
    return f"{head}: {', '.join(shown)}{tail}{switch}"


def _rooms_pages(names: list[str], active: str | None, fits: FitsOne) -> list[list[str]]:
    """The rooms, a page a segment: the first with the active one marked (always on it), each
    next page the rooms in order that the ones before did not show."""
    first = [f"{name} (active)" if name == active else name for name in names]
    while True:
        droppable = [n for n in range(len(first)) if not first[n].endswith(" (active)")]
        if fits(_rooms_text(first, len(names) - len(first), 1, len(names))) or not droppable:
            break
        if len(first) == 1:  # one room is always shown, whatever its name's length
            break
        first.pop(droppable[-1])
    on_first = {name.removesuffix(" (active)") for name in first}
    rest = [name for name in names if name not in on_first]
    pages = [first]
    while rest:
        shown = [rest[0]]
        for name in rest[1:]:
            if not fits(_rooms_text([*shown, name], len(rest) - len(shown) - 1, len(pages) + 1, len(names))):
                break
            shown.append(name)
        pages.append(shown)
        rest = rest[len(shown) :]
    return pages


# a room name typed with accents or in another script: "1-32 letters" said nothing of which
ROOM_LETTERS = (
    f"Room names are 1-32 of A-Z, 0-9, - or _: no accents, other scripts or spaces. Usage: {CREATE_USAGE}"
)


def room_spelt(spelt: str) -> str:
    """`\\CREATE Caf\u00e9 pw`: the name it can have (the password is not said back)."""
    return f"Room names keep to A-Z, 0-9, - and _: send \\CREATE {spelt} <password>"


def bad_room_name(name: str) -> str:
    """Why `\\CREATE` refused a room name, and what to type when its letters are why."""
    spelt = accents_off(name)
    if spelt != name and rooms.valid_name(spelt):
        return room_spelt(spelt)
    if in_another_script(name, rooms.valid_name):
        return ROOM_LETTERS
    return f"{ROOM_NAMES} Usage: {CREATE_USAGE}"


def too_long() -> str:
    return f"That password is too long (at most {rooms.MAX_PASSWORD} characters)."


@router.command("CREATE", args=2, secret=(1,), usage=CREATE_USAGE, usage_note=ONE_WORD_EACH)
async def create(msg: Inbound, ctx: Context) -> HandlerResult:
    name, password = typed_word(ctx.args[0]), ctx.args[1]
    if not rooms.valid_name(name):
        return bad_room_name(name)
    if len(password) > rooms.MAX_PASSWORD:
        return too_long()
    found = await rooms.find_by_name(ctx.deps.db, name)
    if found is not None and made_by_this_text(msg, ctx, found):
        return created(found.name, password)
    if found is not None:
        return f"The name {name} is taken. Pick another name for your room."
    password_hash = await rooms.hash_password(password)
    try:
        async with ctx.deps.db.tx() as conn:
            # when it was sent, as a receipt's time is: a member from then shares the photos sent
            # after it, however late the worker got to either (a backlog, a restart)
            room = await rooms.create(
                conn,
                name=name,
                password_hash=password_hash,
                user_id=ctx.user.id,
                now=msg.received_at or ctx.deps.now(),
            )
    except rooms.NameTaken:
        return f"The name {name} is taken. Pick another name for your room."
    except rooms.CreatorGone:  # `\\STOP` overtook this text: its goodbye is the last word
        return None
    ctx.log.info("room.created", room_id=room.id)
    return created(room.name, password)


def created(name: str, password: str = "") -> str:
    """What `\\CREATE` answers; with the mark a password ends in said (`pw.`, a T9 phone's full
    stop after the last word): newcomers told `pw` got "No room with that name and password" and no
    hint, since the answer to a guess can never say what the room's password is like."""
    mark = end_mark(password)
    if mark:
        return f"Created room {name}; its password ends in the {mark} you typed. Others join with \\JOIN {name} <password>."
    return f"Created room {name}; photos you send now go there. Others join with \\JOIN {name} <password>."


def end_mark(password: str) -> str:
    """The full stop (or ! ? , ; :) a password ends in, as a phone may put one after the last word."""
    return password[-1] if len(password) > 1 and password[-1] in _ENDS else ""


def made_by_this_text(msg: Inbound, ctx: Context, room: rooms.Room) -> bool:
    """The room this very text made, on an earlier try: its worker died (kill -9, a lost machine)
    after the room was committed and before the answer was, and another process handles the text
    again. Its sender made the room after the text came in (their later texts wait for this one)."""
    return msg.attempts > 1 and room.created_by == ctx.user.id and room.created_at >= msg.received_at


# also bare `JOIN house pw`: upper case, exactly two words after it (SPEC, Clarifications)
@router.command("JOIN", args=2, secret=(1,), usage=JOIN_USAGE, usage_note=ONE_WORD_EACH, bare=True)
async def join(msg: Inbound, ctx: Context) -> HandlerResult:
    name, password = room_word(ctx.args[0]), ctx.args[1]
    if len(password) > rooms.MAX_PASSWORD:  # no room has one: refused before any hashing
        return too_long()
    now = ctx.deps.now()
    user_id = ctx.user.id
    key = rooms.name_key(name) if rooms.valid_name(name) else None
    async with ctx.deps.db.read() as conn:
        room = await rooms.find_by_name(in_tx(conn), name) if key is not None else None
        member = room is not None and await rooms.is_member(conn, user_id, room.id)
        throttle = None if member else await _throttle(conn, msg.sender.key, user_id, key, room, now)
    if isinstance(throttle, str):  # answered once per window: a flood of guesses costs one SMS
        async with ctx.deps.db.tx() as conn:
            tell = await rooms.claim_lock_notice(conn, msg.sender.key, now)
        ctx.log.warning("room.join_locked", per="phone" if throttle is LOCKED else "name", answered=tell)
        return throttle if tell else None
    if isinstance(throttle, Slot) and key is not None:  # the name is under attack: wait for its slot
        async with ctx.deps.db.tx() as conn:
            wait = await rooms.take_slot(conn, key, now, again=throttle is Slot.AGAIN)
        if wait is not None:
            ctx.log.info("room.join_deferred", seconds=round(wait - now, 1))
            raise Defer(wait + random.uniform(0.0, 0.25))
    if member and room is not None:
        async with ctx.deps.db.tx() as conn:
            await rooms.set_active(conn, user_id, room.id)
        ctx.log.info("room.joined", room_id=room.id, already=True)
        return f"You are in {room.name} already; it is now your active room."
    if room is None:
        await rooms.dummy_verify(password)
        ok = False
    else:
        ok = await rooms.verify_password(password, room.password_hash)
    while room is not None:
        async with ctx.deps.db.tx() as conn:
            # a `\\PASSWORD` committed while this one was checked: checked again against the new
            # hash (the old password got in after the change; the new one was refused)
            current = await rooms.password_hash_now(conn, room.id)
            if current == room.password_hash and ok:
                # a member from when the text was sent, as a photo is shared by those in the room
                # when it was sent: a JOIN of 19:00 and a photo of 19:02 both handled at 19:30 (a
                # backlog, a restart) left the newcomer out of that photo's split
                joined = await rooms.join(conn, user_id=user_id, room_id=room.id, now=msg.received_at or now)
                await rooms.set_active(conn, user_id, room.id)
                break
        if current is None or current == room.password_hash:
            room = None
        else:
            room = dataclasses.replace(room, password_hash=current)
            ok = await rooms.verify_password(password, current)
    if room is None:
        async with ctx.deps.db.tx() as conn:
            await rooms.record_failure(conn, msg.sender.key, now, room_key=key)
        ctx.log.info("room.join_refused")
        return wrong_for(password)
    ctx.log.info("room.joined", room_id=room.id, already=not joined)
    if not joined:
        return f"You are in {room.name} already; it is now your active room."
    return f"Joined {room.name}; photos you send now go there. \\RECEIPTS shows them all."


class Slot(enum.Enum):
    """Which of the name's slots a guess waits for while the name is under attack: NEW for a
    number with no wrong guess for it (a newcomer, a former member of the room), AGAIN for one
    with one (a typo). Guessers' second tries never hold a newcomer back (storage/rooms.py
    AGAIN_SLOT)."""

    NEW = "new"
    AGAIN = "again"


async def _throttle(
    conn: AsyncConnection, phone: str, user_id: int, key: str | None, room: rooms.Room | None, now: float
) -> str | Slot | None:
    """For a guess (members never get here): the lockout answer (per number, then per name), or
    the slot the guess must wait for when the name is under attack, or None. Only the name's
    failures count, never whether a room has it. Under attack, a number locked out of the name is
    one with `NAME_GUESSES_BEFORE_LOCK` wrong guesses for it (a typo alone does not keep a person
    with the password out for 15 minutes); a former member of the room waits for the newcomers'
    slot whatever their own failures."""
    guesser = await rooms.guessers(conn, phone, user_id)
    if await rooms.locked_out(conn, guesser, now):
        return LOCKED
    if key is None or not await rooms.room_locked_out(conn, key, now):
        return None
    if room is not None and await rooms.left_room(conn, user_id, room.id):
        return Slot.NEW
    failures = await rooms.failures_for(conn, guesser, key, now)
    if failures >= rooms.NAME_GUESSES_BEFORE_LOCK:
        return ROOM_LOCKED
    return Slot.AGAIN if failures else Slot.NEW


def left_reply(room_name: str, left: int, cur: Currency, next_room: str | None) -> str:
    """`You left house; you still owe $0.27 there.`: what is left stays in the room's ledger."""
    text = f"You left {room_name}"
    if left > 0:
        text += f"; you are still owed {cur.format(left)} there"
    elif left < 0:
        text += f"; you still owe {cur.format(-left)} there"
    if next_room is not None:
        return f"{text}. Your active room is {next_room}."
    return f"{text}."


def leave_asked(room_name: str) -> str:
    """`\\LEAVE?` is asked, as `\\STOP?` is: said, not done (coming back takes the password)."""
    return (
        f"\\LEAVE takes you out of {room_name} (or the room you name); coming back takes its password. "
        "Send it without the ? to do it."
    )


@router.command(
    "LEAVE",
    args=(0, 1),
    usage="\\LEAVE [<room>]",
    usage_note=ROOM_NAMES,
    resolve=(room_named_or_active,),
)
async def leave(msg: Inbound, ctx: Context) -> HandlerResult:
    user_id, room = ctx.user.id, room_of(ctx)
    if ctx.command.asked:  # `\\LEAVE?`, a newcomer asking what it does, took them out of the room
        return Reply(leave_asked(room.name), kind="usage")
    async with ctx.deps.db.tx() as conn:
        # when it was sent, as a JOIN's is: a photo sent after it is no longer theirs to share,
        # however late the worker got to either (a backlog, a restart)
        next_room = await rooms.leave(conn, user_id, room.id, now=msg.received_at or ctx.deps.now())
    # what is left stays in the room's ledger: added up once the transaction is done (a big room's
    # takes a second, and on SQLite every other person's text waited that long to be stored)
    async with ctx.deps.db.read() as conn:
        book = await room_ledger(conn, room.id)
    ctx.log.info("room.left", room_id=room.id)
    return left_reply(room.name, book.position(user_id), book.currency, next_room.name if next_room else None)


@router.command("ROOMS", args=(0, 99), usage="\\ROOMS")
async def list_rooms(msg: Inbound, ctx: Context) -> HandlerResult:
    mine, active = await rooms.rooms_with_active(ctx.deps.db, ctx.user.id)
    if not mine:
        return NOT_IN_ROOM
    return rooms_reply(
        [r.name for r in mine],
        active.name if active is not None else None,
        fits=ctx.deps.services.fits(msg.sender.channel),
        page=_page(ctx.args),
    )


def _page(args: Sequence[str]) -> int:
    """`\\ROOMS 2`: the page its reply pointed to; other words after it (`\\ROOMS thanks!`) are
    not read."""
    word = typed_word(args[0]) if args else ""
    return int(word) if word.isascii() and word.isdigit() and len(word) <= 3 else 1


@router.command("USE", args=1, usage="\\USE <room>", usage_note=ROOM_NAMES, resolve=(room_named_or_active,))
async def use(msg: Inbound, ctx: Context) -> HandlerResult:
    room = room_of(ctx)
    async with ctx.deps.db.tx() as conn:
        await rooms.set_active(conn, ctx.user.id, room.id)
    ctx.log.info("room.used", room_id=room.id)
    return f"Photos you send now go to {room.name}."


@router.command(
    "RECEIPTS",
    args=(0, 1),
    usage="\\RECEIPTS [<room>]",
    usage_note=ROOM_NAMES,
    resolve=(room_named_or_active,),
)
async def receipts(msg: Inbound, ctx: Context) -> HandlerResult:
    room = room_of(ctx)
    link = gallery_link(ctx.deps, room.id)
    if link is None:
        return "The receipt gallery is not set up on this number."
    ctx.log.info("gallery.link_sent", room_id=room.id)
    return Reply(receipts_reply(link), redact=True)


REKEY_USAGE = "\\PASSWORD [<room>] <new password>"


@router.command(
    "PASSWORD",
    args=(1, 2),
    secret=(0, 1),
    usage=REKEY_USAGE,
    usage_note="A password is one word; the room is your active one unless you name it.",
)
async def change_password(msg: Inbound, ctx: Context) -> HandlerResult:
    """A member gives the room a new password: a password shared too widely (a group chat, a
    flatmate who moved out) let anyone who had it join for good. Members stay; the old password
    joins no one from now on. Anyone in the room may change it, as anyone in it may tell it."""
    *named, password = ctx.args
    mine, active = await rooms.rooms_with_active(ctx.deps.db, ctx.user.id)
    if not mine:
        return NOT_IN_ROOM
    room = _mine_named(mine, named[0]) if named else None
    if named and room is None:
        if len(ctx.command.own_line) != 1:  # the word is as secret as the password: `\\PASSWORD my secret`
            return Reply(NO_ROOM_OF_THAT_NAME, kind="usage")
        # `\\PASSWORD sekrit99` and `thanks!` on the next line: the password is the command's line
        password = ctx.command.own_line[0]
    if room is None:
        meant = _mine_named(mine, password)
        if meant is not None:  # `\\PASSWORD house`: the new password left out
            return Reply(room_not_password(meant.name), kind="usage")
        if active is None:
            return NOT_IN_ROOM
        room = active
    if len(password) > rooms.MAX_PASSWORD:
        return too_long()
    password_hash = await rooms.hash_password(password)  # in a thread: Argon2id
    async with ctx.deps.db.tx() as conn:
        sent_at = msg.received_at or ctx.deps.now()
        changed = await rooms.set_password(conn, room.id, ctx.user.id, password_hash, sent_at)
        member = changed or await rooms.is_member(conn, ctx.user.id, room.id)
    if not member:  # they left it (or \STOP) meanwhile
        return None
    if not changed:  # handled again after its worker died, or after a later one
        ctx.log.info("room.password_superseded", room_id=room.id)
        return f"Nothing changed: a member gave {room.name} a newer password after this one. Ask them for it."
    ctx.log.info("room.password_changed", room_id=room.id)
    return password_changed(room.name, password, ctx.deps.services.fits(msg.sender.channel))


# the room word of `\\PASSWORD <room> <new password>` is secret as the password is (the inbox keeps
# `\\PASSWORD *** ***`): a password of two words, or one with a second line (`thanks!`), put its
# first word there, and "You are not in a room named sekrit99" said it back and kept it in clear
NO_ROOM_OF_THAT_NAME = (
    "Nothing changed: you are in no room of that name, and a password is one word. \\ROOMS lists your rooms."
)


def room_not_password(name: str) -> str:
    """`\\PASSWORD house` from a member of house: the room's name, not a new password for the
    active room (it made "house" its password, and the person never knew they had set one)."""
    return f"Nothing changed: {name} is your room's name. Send \\PASSWORD {name} <new password>."


def _mine_named(mine: list[rooms.Room], word: str) -> rooms.Room | None:
    """The sender's room a typed word names, from their rooms already read."""
    name = room_word(word)
    if not rooms.valid_name(name):
        return None
    key = rooms.name_key(name)
    return next((room for room in mine if room.name_key == key), None)


def password_changed(name: str, password: str = "", fits: FitsOne = lambda text: True) -> str:
    """What `\\PASSWORD` answers: not the password, which the sender knows, but the mark it ends
    in, when it does (as `created`). One SMS for a 32-letter name (160 GSM-7 characters; "its
    members stay. The old one lets no one in now" made it two)."""
    mark = end_mark(password)
    if mark:
        text = (
            f"{name} has a new password, ending in the {mark} you typed; members stay, the old one lets "
            f"no one in: newcomers \\JOIN {name} <new password>."
        )
        return (
            text
            if fits(text)
            else f"{name} has a new password, ending in the {mark} you typed: newcomers \\JOIN {name} <new password>."
        )
    return f"{name} has a new password; members stay, the old one lets no one in: newcomers \\JOIN {name} <new password>."
