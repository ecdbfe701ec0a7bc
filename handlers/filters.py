"""Filters the handlers share. No channel module is imported here.

`InRoom` resolves the room a command is about, once, before its handler runs: registered with
`router.command(..., resolve=(room_named_or_active,))`, it runs after the argument count is
checked (a wrong count still gets the usage first), puts the room in `ctx.data` (read it with
`room_of(ctx)`), or answers in the handler's place when the sender is not in that room.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any

from bot.core.channel import FitsOne
from bot.features.ledger.book import accents_off, room_ledger
from bot.pipeline.dispatch import Context, Inbound
from storage import rooms
from storage.lean import Reads

ROOM = "room"  # the key in ctx.data
LEFT = "left"  # the key in ctx.data: the room is one the sender left with money open (`settling`)

NOT_IN_ROOM = (
    "You are not in a room. Create one with \\CREATE <room> <password> or join one with "
    "\\JOIN <room> <password>."
)


ROOM_NAMES = "Room names are 1-32 letters, digits, - or _ (no spaces)."


# what people and phones put around a word: quotes (straight, a keyboard's smart ones, guillemets)
_QUOTES = "\"'`\u201c\u201d\u201e\u2018\u2019\u00ab\u00bb"
_AFTER = _QUOTES + ".,;:!?"


# what a phone makes of the hyphens typed in a word: an iPhone's smart punctuation turns `--` into
# an em dash, pasted text has en dashes, non-breaking hyphens and minus signs. No room name,
# currency, zone or month has them (`beach--house`, `America/Port-au-Prince`, `2026-11`):
# \\JOIN beach\u2014house pw answered "No room with that name and password" and counted a wrong one
_DASHES = str.maketrans({"\u2014": "--", "\u2013": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-"})


# what an Arabic keyboard types for `.` and `,` in a figure, for `%`, and after a word: its decimal
# and thousands separators, percent sign, comma, semicolon and question mark (`\\AMOUNT \u0661\u0662\u066b\u0665\u0660`,
# with the Arabic-Indic digits read as digits, got the usage; `\\SPLIT ann \u0666\u0660\u066a bob \u0664\u0660\u066a` said no one
# goes by them)
_ARABIC = str.maketrans(
    {"\u066b": ".", "\u066c": ",", "\u066a": "%", "\u060c": ",", "\u061b": ";", "\u061f": "?"}
)


def typed_word(word: str) -> str:
    """The room, member, code or setting a typed word names: `"house"`, `\u201cBob\u201d` (a phone's
    smart quotes), `house,`, `Bob.` and `weekly.` name house, Bob and weekly (no room's or
    member's name, currency, zone or month has those characters: storage.rooms,
    bot.features.ledger.book); \\JOIN took them for an unknown room and counted a wrong password,
    \\SPLIT ann, bob said no one goes by "ann,". Dashes a phone made of hyphens are hyphens
    again (`beach\u2014house` is beach--house: `_DASHES`). One character is one character, however
    the keyboard made it (NFKC): a full-width keyboard's `\uff48\uff4f\uff55\uff53\uff45` is house and
    its `\uff11\uff12\uff0e\uff15\uff10` 12.50, and an e with a separate accent (`e\u0301`, some
    Android and Mac keyboards) the \u00e9 of Jos\u00e9: `\\NAME` refused that one, and \\JOIN counted the
    full-width room name as a wrong password."""
    word = unicodedata.normalize("NFKC", word).translate(_ARABIC)
    return (word.lstrip(_QUOTES).rstrip(_AFTER) or word).translate(_DASHES)


def room_word(word: str) -> str:
    """The room a typed word names (`typed_word`); one typed with accents is the room without
    them, as room names have none (`\\CREATE Caf\u00e9` is offered Cafe): `\\JOIN Caf\u00e9 pw`, or a
    Turkish keyboard's `\u0130stanbul`, was "No room with that name and password", a wrong password
    counted."""
    name = typed_word(word)
    plain = accents_off(name)
    return plain if not rooms.valid_name(name) and rooms.valid_name(plain) else name


def typed_words(words: Sequence[str]) -> list[str]:
    """`typed_word` of each, leaving out those that are punctuation alone (`ann , bob`)."""
    return [typed_word(word) for word in words if word.strip(_AFTER)]


def not_in_named(name: str, fits: FitsOne) -> str:
    """The name is said back when the reply stays one message (SMS: one GSM-7 segment; a curly
    quote or an emoji in it would make the SMS UCS-2). A name longer than any room's is said to be:
    cut to 32 characters it was the very name of a room the person was in (`\\USE` of a 32-letter
    room with a letter too many: "You are not in a room named <that room>")."""
    if len(name) > rooms.MAX_NAME:
        return f"You are not in a room of that name: room names have at most {rooms.MAX_NAME} characters. \\ROOMS lists yours."
    text = f"You are not in a room named {name}. \\ROOMS lists yours."
    return text if fits(text) else "You are not in a room of that name. \\ROOMS lists yours."


def left_named(name: str, *, settled: bool) -> str:
    """`\\BALANCE flat`, `\\RECEIPTS flat` from a person who left flat (`\\LEAVE`): "You are not in
    a room" (or "not in a room named flat") said nothing of their leaving it, nor of where they
    stand there. `settled`: the command asks about money, and none is open there. A room's name
    is at most 32 of `[A-Za-z0-9_-]`: either answer is one GSM-7 segment."""
    if settled:
        return f"You left {name} and are settled up there."
    return f"You left {name}. To be in it again, send \\JOIN {name} <password>."


def _meant(ctx: Context, mine: list[rooms.Room], name: str, fits: FitsOne) -> str | None:
    """`\\USE trip2` from a person in trip2026 (and in no other room whose name begins so): the
    room they meant, said with the command to send (`\\ROOMS lists yours` left a person in twenty
    rooms to look for it); None when no room of theirs (`mine`), or several, begin with what they
    typed."""
    key = rooms.name_key(name)
    if not rooms.valid_name(name):
        return None
    begun = [room for room in mine if room.name_key.startswith(key)]
    if len(begun) != 1:
        return None
    text = f"You are not in a room named {name}: did you mean \\{ctx.command.name} {begun[0].name}?"
    return text if fits(text) else None


class InRoom:
    """`named=True`: the sender's room named by the command's first argument (`\\BALANCE house`),
    else (no argument) their active room. `named=False`: their active room, whatever the arguments
    (`\\AMOUNT 12.50`). One query: `{"room": Room}`, or the answer saying why there is none.

    `settling=True` (`\\BALANCE`, `\\PAID`): a room the sender left (`\\LEAVE`) with money still
    open for them there counts too, named, or alone when they are in no room: `{"room": Room,
    "left": True}`. A member who left owing was told "you still owe $50.00 there" and then had no
    way to see it again or to record paying it."""

    def __init__(self, *, named: bool, settling: bool = False) -> None:
        self.named = named
        self.settling = settling

    async def __call__(self, msg: Inbound, ctx: Context) -> dict[str, Any] | str:
        if self.named and ctx.args:
            name = room_word(ctx.args[0])
            room = await rooms.member_room_by_name(ctx.deps.db, ctx.user.id, name)
            if room is not None:
                return {ROOM: room}
            left = await rooms.left_rooms(ctx.deps.db, ctx.user.id)
            gone = next((r for r in left if r.name_key == rooms.name_key(name)), None)
            if gone is not None:
                if self.settling and await _open(ctx, [gone]):
                    return {ROOM: gone, LEFT: True}
                # settled there, or no money asked about: "not in a room" said nothing of it
                if ctx.command.name == "LEAVE":
                    return f"You already left {gone.name}."
                return left_named(gone.name, settled=self.settling)
            mine, _ = await rooms.rooms_with_active(ctx.deps.db, ctx.user.id)
            if not mine and not (self.settling and await _open(ctx, left)):
                # `\\BALANCE please` from a person in no room: "not in a room named please.
                # \\ROOMS lists yours", and \\ROOMS listed none
                return NOT_IN_ROOM
            fits = ctx.deps.services.fits(msg.sender.channel)
            return _meant(ctx, mine, name, fits) or not_in_named(name, fits)
        room = await rooms.active_room(ctx.deps.db, ctx.user.id)
        if room is not None:
            return {ROOM: room}
        if not self.settling:
            return NOT_IN_ROOM
        open_ = await _open_in_left(ctx)
        if len(open_) == 1:
            return {ROOM: open_[0], LEFT: True}
        if not open_:
            return NOT_IN_ROOM
        names = ", ".join(left.name for left in open_[:3]) + (", ..." if len(open_) > 3 else "")
        return (
            f"You are not in a room. You left {names} with money open there: \\BALANCE <room> shows "
            "where you stand in one; to record a payment there, \\JOIN it again."
        )

    def __repr__(self) -> str:
        return f"InRoom(named={self.named}, settling={self.settling})"


async def _open_in_left(ctx: Context) -> list[rooms.Room]:
    """The rooms the sender left where they still owe or are owed, the latest left first."""
    return await _open(ctx, await rooms.left_rooms(ctx.deps.db, ctx.user.id))


async def _open(ctx: Context, left: Sequence[rooms.Room]) -> list[rooms.Room]:
    """Those of `left` (rooms the sender left) where they still owe or are owed (their ledgers read
    in one transaction)."""
    if not left:
        return []
    async with ctx.deps.db.read() as conn:
        return [room for room in left if (await room_ledger(conn, room.id)).position(ctx.user.id) != 0]


async def room_named(ctx: Context, word: str, reads: Reads | None = None) -> rooms.Room | None:
    """The sender's room `word` names, if any: for a command of the active room (`\\STATEMENT`,
    `\\CURRENCY`, ...) whose argument is no month, code or setting but a room's name. `reads`: in a
    transaction, `lean.in_tx(conn)`."""
    name = room_word(word)
    if not rooms.valid_name(name):
        return None
    return await rooms.member_room_by_name(reads or ctx.deps.db, ctx.user.id, name)


def use_first(command: str, active: str, named: str) -> str:
    """`\\STATEMENT house` from a person whose active room is trip: the command works on the active
    room, and how to have it work on house (the usage alone said neither, to a person in many rooms)."""
    return f"\\{command} works on your active room, {active}: \\USE {named} first, then \\{command} again."


room_named_or_active = InRoom(named=True)
active_room = InRoom(named=False)
settling_named_or_active = InRoom(named=True, settling=True)
settling_active = InRoom(named=False, settling=True)


def room_of(ctx: Context) -> rooms.Room:
    """The room an `InRoom` filter resolved for this command."""
    room = ctx.data.get(ROOM)
    if not isinstance(room, rooms.Room):
        raise LookupError("the room is set by an InRoom filter (handlers/filters.py); this handler has none")
    return room


__all__ = [
    "LEFT",
    "NOT_IN_ROOM",
    "ROOM",
    "ROOM_NAMES",
    "InRoom",
    "active_room",
    "not_in_named",
    "room_named",
    "room_named_or_active",
    "room_of",
    "room_word",
    "settling_active",
    "settling_named_or_active",
    "typed_word",
    "typed_words",
    "use_first",
]
