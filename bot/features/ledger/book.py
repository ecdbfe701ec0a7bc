"""A room's ledger, computed when asked from its receipts and payments (storage/ledger.py), and
the words replies use for it: names, positions and the settling line."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.channel import FitsOne
from bot.core.logs import mask_address
from bot.features.ledger.money import Currency, currency_or_default
from bot.features.ledger.split import Payment, expenses_net, settle, split_by_weights, split_equally
from storage import ledger as store

FORMER = "a former member"
NAME_MAX = 20
# letters (those GSM-7 has, so a reply stays one plain segment), digits and single spaces
_LETTERS = "A-Za-z0-9ÄÖÑÜäöñüàèéùìòÇØøÅåÆæßÉ"
_NAME = re.compile(rf"^[{_LETTERS}]+(?: [{_LETTERS}]+)*$")
_LETTER = re.compile(rf"[{_LETTERS}]")
# letters with no accent to take off that an SMS spells with others (Łukasz is Lukasz), and those
# a plain SMS has but a keyboard without them types so (`\\PAID soren 5` is for Søren)
_SPELT = {
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "Œ": "OE", "œ": "oe", "Þ": "Th", "þ": "th",
    "Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "ß": "ss",
}  # fmt: skip

Party = int | None  # a user id; None: a former member whose account is gone


# \\SPLIT's word for the sender; what the gallery and statements call a member who left by \\STOP
RESERVED_NAMES = frozenset({"me", FORMER})


def valid_name(name: str) -> bool:
    """1-20 letters and digits with single spaces; not digits alone, which `\\PAID` and `\\SPLIT`
    read as the last 4 digits of a member's number (a member named "0202" would take the
    payments meant for +1******0202), and not "me"."""
    return (
        1 <= len(name) <= NAME_MAX
        and bool(_NAME.match(name))
        and not name.replace(" ", "").isdigit()
        and name.casefold() not in RESERVED_NAMES
    )


def accents_off(text: str) -> str:
    """Each letter without its accents (\u00eb: e, \u00e7: c, \u0141: L); other characters as they are."""
    return "".join(
        _SPELT.get(ch) or "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        for ch in text
    )


def in_another_script(text: str, valid: Callable[[str], bool]) -> bool:
    """Whether `text` would pass `valid` with each letter of another script (or accented) read as
    a Latin one: a name refused for its letters alone (`\\NAME 王芳`, `\\CREATE Москва pw`)."""
    latin = "".join("a" if ch.isalpha() and not ch.isascii() else ch for ch in text)
    return latin != text and valid(latin)


# an apostrophe in a name, straight or as a phone's smart punctuation types it (O\u2019Brien)
_APOSTROPHES = "'\u2019\u02bc"


def sms_spelling(name: str) -> str | None:
    """A name `valid_name` refuses only for letters GSM-7 lacks, spelt with those it has, as a
    person would write it in a plain SMS: Zo\u00eb is Zoe, Fran\u00e7ois Francois, \u0141ukasz Lukasz (their
    accents taken off), without the emoji a name is decorated with (`Ann \U0001f338`), and with a space
    for a hyphen (Anne-Marie is Anne Marie), and without an apostrophe (O'Brien is OBrien: `\\NAME
    O'Brien` was told only that a name is letters and digits). None when
    that does not make a name (another script, emoji alone, too long)."""
    spelt = []
    for ch in name:
        # `Ann \U0001f338`, `\u2728Mia\u2728`: the name without its emoji; `Anne-Marie` with a space for
        # its hyphen (a name has none)
        if _decoration(ch) or ch in "-\u2010\u2011":
            spelt.append(" ")
            continue
        if ch in _APOSTROPHES:  # O'Brien is OBrien, as a passport's machine line writes it
            continue
        if ch == " " or _LETTER.fullmatch(ch):
            spelt.append(ch)
            continue
        base = accents_off(ch)
        if not base or not all(_LETTER.fullmatch(c) for c in base):
            return None
        spelt.append(base)
    text = " ".join("".join(spelt).split())
    return text if text != name and valid_name(text) else None


def _decoration(ch: str) -> bool:
    """An emoji or a symbol, or a character that only shapes one (a variation selector, a zero-width
    joiner, a skin tone, a flag's letters)."""
    return (
        unicodedata.category(ch) in ("So", "Sk")
        or ch in "\u200d\ufe0e\ufe0f\u20e3"
        or "\U0001f1e6" <= ch <= "\U0001f1ff"
        or "\U0001f3fb" <= ch <= "\U0001f3ff"
    )


def name_key(name: str) -> str:
    return name.casefold()


def shown_name(p: store.Member) -> str | None:
    """The name a member goes by: their `\\NAME`, else the name their channel gives them
    (Telegram's first name) when it is one `\\NAME` would take (GSM-7 letters and digits, so SMS
    replies stay one segment), or would once its accents are off; None: shown by their masked
    address. The channel's name is read
    as the letters it shows (NFKC), as a typed `\\NAME` is: a Jos\u00e9 with a separate accent was
    shown by the masked chat."""
    if p.name:
        return p.name
    return label_shown(p.label or "")


def label_shown(label: str) -> str | None:
    """The name a channel gives a person (Telegram's first name) as their rooms show it: when it
    is one `\\NAME` would take, or would once its accents are off; None: they go by their masked
    address."""
    label = unicodedata.normalize("NFKC", label)[:NAME_MAX].strip()
    if not label:
        return None
    # one with letters GSM-7 lacks as a plain SMS spells it (Zo\u00eb: Zoe), as `\\NAME` offers
    return label if valid_name(label) else sms_spelling(label)


async def label_name(conn: AsyncConnection, user_id: int) -> str | None:
    """The name a person with no `\\NAME` goes by from their first address's channel (Telegram's
    first name), when they go by one; None otherwise."""
    person = (await store.people(conn, {user_id})).get(user_id)
    return None if person is None or person.name else shown_name(person)


async def known_as(conn: AsyncConnection, user_id: int, phone: str) -> str:
    """The name a person's rooms know them by, which they keep in the ledgers after `\\STOP`
    (SPEC: a member who left keeps the name they had): their `\\NAME`, else their Telegram first
    name as shown, else their masked address."""
    person = (await store.people(conn, {user_id})).get(user_id)
    return (shown_name(person) if person is not None else None) or mask_address(phone)


def display_names(people: list[store.Member]) -> dict[Party, str]:
    """`\\NAME` (else the channel's name for them) else the masked address; two members with one
    name are told apart by their digits, a member who left by `\\STOP` (`store.is_former`: the
    name they had is all that is kept) by "(left)", and several who left by one name by "(left)",
    "(left 2)", ... in the order they left (two "Zed (left)" could not be told apart, so neither
    debt could be settled with `\\PAID`)."""
    shown = {p.user_id: shown_name(p) for p in people}
    counts: dict[str, int] = {}
    for p in people:
        # an unnamed member counts by their masked number: one who stopped keeps it as a name
        key = name_key(shown[p.user_id] or mask_address(p.phone))
        counts[key] = counts.get(key, 0) + 1
    left: dict[int, int] = {}  # a former member: their place among those who left by their name
    seen: dict[str, int] = {}
    for p in sorted((p for p in people if store.is_former(p)), key=lambda p: p.user_id):
        name = shown[p.user_id]
        if name:
            left[p.user_id] = seen[name_key(name)] = seen.get(name_key(name), 0) + 1
    names: dict[Party, str] = {None: FORMER}
    for p in people:
        name = shown[p.user_id]
        if name and counts[name_key(name)] == 1:
            names[p.user_id] = name
        elif name and store.is_former(p):
            nth = left[p.user_id]
            names[p.user_id] = f"{name} (left)" if nth == 1 else f"{name} (left {nth})"
        elif name:
            names[p.user_id] = f"{name} ({p.phone[-4:]})"
        else:
            names[p.user_id] = mask_address(p.phone)
    # two still shown alike (unnamed members whose masked numbers match: +1******0051 twice) are
    # told apart by their place, `+1******0051 (2)`: \\BALANCE read "+1******0051 pays
    # +1******0051", and neither could be named to \\PAID or \\SPLIT
    alike: dict[str, int] = {}
    for p in people:
        nth = alike[name_key(names[p.user_id])] = alike.get(name_key(names[p.user_id]), 0) + 1
        if nth > 1:
            names[p.user_id] = f"{names[p.user_id]} ({nth})"
    return names


@dataclass(frozen=True)
class RoomLedger:
    currency: Currency
    net: dict[Party, int]
    settlement: list[Payment[Party]]
    names: dict[Party, str]
    uncounted: int
    member_ids: tuple[int, ...]
    formers: frozenset[int] = frozenset()  # parties who left by \\STOP (their receipts: FORMER)
    # receipts `\\SPLIT` reshaped (by id): each share, in the split's order
    splits: dict[str, tuple[tuple[Party, int], ...]] = field(default_factory=dict)
    # the counted receipts (by id): their shares when asked (`shares_of`)
    receipts: Mapping[str, store.BookReceipt] = field(default_factory=dict)
    waiting: int = 0  # receipts with no amount yet (none read, none typed): not counted
    # of them, those their sender's \AMOUNT cannot reach: the sender left the room, or sent
    # receipts since (\AMOUNT sets the receipts of the sender's last message with any)
    waiting_out_of_reach: int = 0
    # the names their channel gives the people shown by a masked address (a Telegram first name
    # in letters SMS lacks: 李明, Αλέξανδρος), as typed names are compared (`label_key`)
    labels: dict[Party, str] = field(default_factory=dict)

    def name(self, party: Party) -> str:
        return self.names.get(party, FORMER)

    def shares_of(self, receipt_id: str) -> tuple[tuple[Party, int], ...]:
        """A counted receipt's shares, an equal split's too (() for one not counted): worked out
        when asked, for the few receipts a page shows, not for each of a room's every time."""
        if receipt_id in self.splits:
            return self.splits[receipt_id]
        receipt = self.receipts.get(receipt_id)
        if receipt is None:
            return ()
        return tuple(
            split_equally(receipt.amount, list(receipt.members)) or [(receipt.payer, receipt.amount)]
        )

    def position(self, party: Party) -> int:
        return self.net.get(party, 0)


LEFT, NEWER = "left", "newer"


def amount_cannot_reach(
    uploader: int | None, message_sid: str, members: Collection[int], latest: Mapping[int, Collection[str]]
) -> str:
    """Why its sender's `\\AMOUNT` cannot set a receipt of `message_sid`: LEFT (they are not a
    member: only a member sends it), NEWER (it sets the receipts of their last message with any in
    the room, `latest`: storage.ledger.latest_messages), or "" when it can."""
    if uploader is None or uploader not in members:
        return LEFT
    if message_sid not in latest.get(uploader, ()):
        return NEWER
    return ""


async def room_ledger(
    conn: AsyncConnection, room_id: str, until: float | None = None, *, book: store.Book | None = None
) -> RoomLedger:
    """The room's ledger now, or as it stood at `until` (receipts and payments before it); `book`:
    the room's book at `until`, read already (`room_books`, in the room's currency)."""
    cur = currency_or_default(await store.room_currency(conn, room_id))
    if book is None:
        book = await store.room_book(conn, room_id, cur.code, until)
    current = await store.members(conn, room_id)
    splits: dict[str, tuple[tuple[Party, int], ...]] = {}
    for receipt in book.receipts:
        if receipt.weights is not None:
            splits[receipt.id] = tuple(
                split_by_weights(receipt.amount, list(zip(receipt.members, receipt.weights, strict=True)))
            )
    order: list[Party] = [m.user_id for m in current]
    # `splits` holds the `\\SPLIT` receipts' shares only: None for the others, split equally
    net = expenses_net(
        ((r.payer, r.amount, r.members, splits.get(r.id)) for r in book.receipts), dict.fromkeys(order, 0)
    )
    for p in book.payments:
        net[p.payer] = net.get(p.payer, 0) + p.amount
        net[p.payee] = net.get(p.payee, 0) - p.amount
    others = {p for p in net if p is not None and p not in order}
    people = current + sorted((await store.people(conn, others)).values(), key=lambda p: p.user_id)
    members = {m.user_id for m in current}
    out_of_reach = 0
    if book.waiting_from:
        latest = await store.latest_messages(conn, room_id, {u for u, _ in book.waiting_from if u in members})
        out_of_reach = sum(1 for u, sid in book.waiting_from if amount_cannot_reach(u, sid, members, latest))
    return RoomLedger(
        currency=cur,
        net=net,
        settlement=settle(net),
        names=display_names(people),
        uncounted=book.uncounted,
        member_ids=tuple(m.user_id for m in current),
        formers=frozenset(p.user_id for p in people if store.is_former(p)),
        splits=splits,
        receipts={r.id: r for r in book.receipts},
        waiting=book.waiting,
        waiting_out_of_reach=out_of_reach,
        labels=_labels(people),
    )


def names_only(people: list[store.Member]) -> RoomLedger:
    """A ledger of `people`'s names and nothing owed: for finding a member by what is typed
    (`find_member`) in a room whose money is not needed."""
    ids = tuple(p.user_id for p in people)
    return RoomLedger(
        currency=currency_or_default(None),
        net=dict.fromkeys(ids, 0),
        settlement=[],
        names=display_names(people),
        uncounted=0,
        member_ids=ids,
        labels=_labels(people),
    )


def _labels(people: list[store.Member]) -> dict[Party, str]:
    """The channel's name of each of `people` the rooms show by it (no `\\NAME`), as compared."""
    return {p.user_id: label_key(p.label) for p in people if p.label and shown_name(p) is None}


def label_key(name: str) -> str:
    """A channel's name, or one typed, as they are compared: its letters as shown (NFKC), in any
    case, with single spaces."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def position_phrase(minor: int, cur: Currency) -> str:
    if minor > 0:
        return f"you are owed {cur.format(minor)}"
    if minor < 0:
        return f"you owe {cur.format(-minor)}"
    return "you are settled up"


# the longest a reply may be on every channel: Twilio takes at most 1,600 characters a message
# (SMS and WhatsApp), Telegram 4,096; past it a reply is refused and the person hears nothing
LONGEST = 1600


def balance_line(room_name: str, ledger: RoomLedger, *, fits: FitsOne, longest: int = LONGEST) -> str:
    """`house: Bob pays Alice $7.72, Carol pays Alice $7.72.` or `house: all settled.` (`fits`:
    the channel's length rule). A room with so many debts that the line would be longer than any
    channel takes (`LONGEST`), and than the asker's channel takes, names the first ones and how many
    more, which the gallery lists.
    Then what is not counted, as much as fits: receipts in another currency, and receipts with no
    total yet and how to count them (`\\AMOUNT`). `longest`: `LONGEST` less what goes before the
    line in the same message (`\\PAID`'s "Recorded: ...")."""
    if not ledger.settlement:
        text = f"{room_name}: all settled."
    else:
        debts = [
            f"{ledger.name(p.payer)} pays {ledger.name(p.payee)} {ledger.currency.format(p.amount)}"
            for p in ledger.settlement
        ]
        text = f"{room_name}: {', '.join(debts)}."
        shown = len(debts)
        # past what every channel takes, unless the asker's takes it (Telegram: 4,096 characters;
        # its people were shown 1,600 of them, "and 40 more", with room left for all)
        while len(text) > longest and not fits(text) and shown > 1:
            shown -= 1
            more = len(debts) - shown
            text = f"{room_name}: {', '.join(debts[:shown])}, and {more} more: \\RECEIPTS shows them all."
    s = "s" if ledger.uncounted != 1 else ""
    foreign = f" {ledger.uncounted} receipt{s} in another currency not counted." if ledger.uncounted else ""
    # receipts waiting for \\AMOUNT (no total read): said, with how to count them, as far as the
    # rule allows; they were left out without a word, and the balance looked final
    n, ex = ledger.waiting, ledger.currency.example
    if ledger.waiting_out_of_reach:
        # a sender who left cannot send the \\AMOUNT, and one who sent receipts since would set
        # the newer one with it: the receipts page says, receipt by receipt, what can be done
        waiting_full = (
            " 1 receipt with no total is not counted: \\RECEIPTS shows it."
            if n == 1
            else f" {n} receipts with no total are not counted: \\RECEIPTS shows them."
        )
        waiting_short = f" {n} receipt{'s' if n != 1 else ''} with no total not counted (\\RECEIPTS)."
    else:
        waiting_full = (
            f" 1 receipt with no total is not counted: its sender can reply \\AMOUNT {ex}."
            if n == 1
            else f" {n} receipts with no total are not counted: their senders can reply \\AMOUNT {ex}."
        )
        waiting_short = f" {n} receipt{'s' if n != 1 else ''} with no total not counted (\\AMOUNT)."
    if not n:
        waiting_full = waiting_short = ""
    forms = [
        text + foreign + waiting_full,
        text + foreign + waiting_short,
        text + waiting_full,
        text + waiting_short,
        text + foreign,
        text,
    ]
    if not fits(text):  # the debts take more than one segment anyway: every note is said
        return next((f for f in forms if len(f) <= longest), text)
    return next(f for f in forms if fits(f))


def own_part(ledger: RoomLedger, party: Party) -> list[str]:
    """`party`'s own payments of the settlement: `you pay Bob $50.00`, `Carol pays you $5.00`."""
    cur = ledger.currency
    return [
        f"you pay {ledger.name(p.payee)} {cur.format(p.amount)}"
        if p.payer == party
        else f"{ledger.name(p.payer)} pays you {cur.format(p.amount)}"
        for p in ledger.settlement
        if party in (p.payer, p.payee)
    ]


def left_balance_line(room_name: str, ledger: RoomLedger, party: Party) -> str:
    """What a member who left sees of a room (`\\BALANCE`, `\\PAID` after `\\LEAVE` with money
    open): their own payments of the settlement, not the room's others (who may have joined
    since): `house (you left): you pay Bob $50.00.`"""
    mine = own_part(ledger, party)
    return f"{room_name} (you left): {', '.join(mine) if mine else 'all settled'}."


__all__ = [
    "FORMER",
    "LEFT",
    "LONGEST",
    "NAME_MAX",
    "NEWER",
    "Party",
    "RoomLedger",
    "amount_cannot_reach",
    "balance_line",
    "display_names",
    "known_as",
    "label_key",
    "label_name",
    "label_shown",
    "left_balance_line",
    "name_key",
    "names_only",
    "own_part",
    "position_phrase",
    "room_ledger",
    "shown_name",
    "valid_name",
]
