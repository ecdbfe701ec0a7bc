"""Every reply the bot can send fits one GSM-7 segment (SPEC, Clarifications), with worst-case
values: an https public URL of 40 characters, 32-character room names, the longest X handle.

To add replies (a new command family), add rows to `REPLIES`: a name and the text, built with the
module's own function or constant and the WORST values.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest
import structlog

import handlers
from bot.channels.twilio import media as twilio_media
from bot.channels.twilio.segments import fits_one_segment, gsm7_septets, segments
from bot.core.channel import BAD_TYPE, not_read
from bot.core.config import Config, ServerConfig
from bot.features.ledger import book, reminders
from bot.features.ledger.intake import saved_replies
from bot.features.ledger.money import currency_or_default as currency_of
from bot.features.ledger.split import Payment
from bot.features.ocr.total import NOT_RECEIPT
from bot.features.receipts import media
from bot.features.x import accounts as xaccount
from bot.gateway.links import LinkSigner, gallery_link, statement_link
from bot.pipeline import middlewares, worker
from bot.pipeline.dispatch import Context
from handlers import account, help, keywords, ledger, post, rooms
from handlers import media as photos
from handlers.filters import ROOM_NAMES, use_first
from storage.ledger import ReceiptAmount

PUBLIC_URL = "https://" + "a" * 27 + ".test"  # 40 characters
ROOM = "R" * 32  # the longest room name
HANDLE = "h" * 15  # the longest X handle
TWEET_ID = "1" * 19
LINK_TOKEN = "A" * 22  # 128 bits, base64url
MAX_ITEMS = 10
ZONE = "A" * 32 + ", from its creator's number"  # the longest IANA name, as the creator's number's

assert len(PUBLIC_URL) == 40


def _deps() -> Any:
    config = Config(server=ServerConfig(public_url=PUBLIC_URL))
    signer = LinkSigner([b"k" * 32])
    return SimpleNamespace(
        config=config, now=lambda: 9_999_999_999.0, services=SimpleNamespace(link_signer=signer)
    )


def _ctx() -> Context:
    from bot.app.assembly import build_dispatcher

    entries = tuple(build_dispatcher().all_help_entries())
    return Context(deps=cast(Any, None), log=structlog.get_logger(), help_entries=entries)


def _gallery() -> str:
    link = gallery_link(_deps(), str(uuid.uuid4()))
    assert link is not None
    return rooms.receipts_reply(link)


def _statement() -> str:
    link = statement_link(_deps(), str(uuid.uuid4()), "2026-11")
    assert link is not None
    return link


NAME = "N" * 20  # the longest \\NAME
BIG = 99_999_999  # $999999.99
USD = currency_of("USD")


def _book(debts: list[tuple[int, int, int]], uncounted: int = 0) -> book.RoomLedger:
    names: dict[int | None, str] = {n: f"{NAME[:-2]}{n:02}" for n in range(1, 21)}
    return book.RoomLedger(
        currency=USD,
        net={1: BIG},
        settlement=[Payment(payer, payee, amount) for payer, payee, amount in debts],
        names=names,
        uncounted=uncounted,
        member_ids=tuple(range(1, 21)),
    )


def _saved(count: int, kind: str = "counted") -> list[str]:
    def receipt(i: int) -> ReceiptAmount:
        amount, code = {
            "counted": (BIG, "USD"),
            "missing": (None, None),
            "foreign": (BIG, "INR"),
        }[kind if kind != "mixed" else ("counted", "missing", "foreign")[i % 3]]
        return ReceiptAmount(str(i), "r", 1, "MM", i, amount, code, None, 0.0)

    return saved_replies(ROOM, [receipt(i) for i in range(count)], _book([]), 1)


def _odd(count: int, kind: str) -> list[str]:
    """Photos that are not counted: repeats of an earlier receipt (`repeat`, with the longest
    amount and a two-digit day) or pictures that are no receipt (`other`); `both` alternates."""
    twin = ReceiptAmount("t", "r", 1, "MM", 0, BIG, "USD", "ok", 1_795_000_000.0)  # Nov 19

    def receipt(i: int) -> ReceiptAmount:
        repeat = kind == "repeat" or (kind == "both" and i % 2 == 0)
        return ReceiptAmount(
            str(i), "r", 1, "MM", i, None, None, "duplicate" if repeat else NOT_RECEIPT, 0.0,
            duplicate_of="t" if repeat else None,
        )  # fmt: skip

    return saved_replies(ROOM, [receipt(i) for i in range(count)], _book([]), 1, {"t": twin})


def _photos(heads: list[str], failures: list[tuple[int, str]]) -> str:
    return photos.photos_reply(heads, failures, fits=fits_one_segment, shorts=twilio_media.SHORT)


REASONS = [
    twilio_media.NOT_TWILIO,
    twilio_media.REDIRECTED,
    media.too_big(5 * 1024 * 1024),
    BAD_TYPE,
    media.TOO_MANY_PIXELS,
    media.BROKEN,
    twilio_media.GONE,
    f"at most {MAX_ITEMS} are kept per message",
]


def _help_rows() -> list[tuple[str, Callable[[], str]]]:
    ctx = _ctx()
    rows: list[tuple[str, Callable[[], str]]] = [("help", lambda: help.help_text(ctx))]
    for family in (*help.FAMILIES, help.MORE):
        rows.append((f"help {family.name}", lambda f=family.name: help.family_text(ctx, f, fits_one_segment)))  # type: ignore[misc]
    rows.append(("help unknown", lambda: help.family_text(ctx, "Z" * 40, fits_one_segment)))
    rows.append(("help unknown emoji", lambda: help.family_text(ctx, "\U0001f600" * 24, fits_one_segment)))
    for entry in ctx.help_entries:
        rows.append((f"usage {entry}", lambda e=entry: f"Usage: {e}"))  # type: ignore[misc]
        # a room command's usage also says what a room name is (its `usage_note`)
        rows.append((f"room usage {entry}", lambda e=entry: f"Usage: {e}. {ROOM_NAMES}"))  # type: ignore[misc]
        rows.append(
            (f"room and password usage {entry}", lambda e=entry: f"Usage: {e}. {rooms.ONE_WORD_EACH}")
        )  # type: ignore[misc]
    return rows


REPLIES: list[tuple[str, Callable[[], str]]] = [
    # keywords and account
    ("opted in", lambda: keywords.OPTED_IN),
    *(
        (f"no {what} read", lambda what=what: not_read(what))
        for what in [*twilio_media.NOT_READ_TYPES.values(), "locations"]
    ),
    ("goodbye", lambda: account.GOODBYE),
    ("stop asked", lambda: account.STOP_ASKED),
    ("stop asked, paired", lambda: account.STOP_ASKED_PAIRED),
    ("unlink none", lambda: "No X account is connected. Send \\LINK to connect one."),
    ("unknown command", lambda: f"Unknown command \\{'Z' * 20}. Send \\HELP for the list."),
    (
        "unknown command, meant",
        lambda: f"Unknown command \\{'Z' * 20}. Did you mean \\{'Z' * 9}? Send \\HELP for the list.",
    ),
    # X
    ("x not set up", lambda: xaccount.NOT_SET_UP_HELP),
    ("welcome, x not set up", lambda: xaccount.WELCOME_NO_X),
    ("link first", lambda: xaccount.link_reply(_deps(), LINK_TOKEN, first=True).text),
    ("link", lambda: xaccount.link_reply(_deps(), LINK_TOKEN).text),
    ("relink", lambda: xaccount.relink_reply(_deps(), LINK_TOKEN).text),
    ("relink, text not posted", lambda: xaccount.relink_reply(_deps(), LINK_TOKEN, not_posted=True).text),
    ("connected", lambda: f"Connected @{HANDLE}"),  # bot/features/x/link.py
    (
        "disconnected",
        lambda: (
            f"Disconnected @{HANDLE}: your texts are no longer posted to X. Send \\LINK to connect again."
        ),
    ),
    (
        "disconnected, texts waiting for X not posted",
        lambda: (
            f"Disconnected @{HANDLE}: your texts are no longer posted to X. Send \\LINK to connect again."
            + account.not_posted(12)
        ),
    ),
    ("posted", lambda: post.post_url(HANDLE, TWEET_ID)),
    ("too long", lambda: post.too_long(99_999)),
    ("rate limited", lambda: post.rate_limited("23:59 UTC on Sep 30")),
    ("not confirmed", lambda: post.NOT_CONFIRMED),
    ("x down", lambda: post.X_DOWN),
    ("x wait", lambda: post.X_WAIT),
    ("x busy", lambda: post.x_busy("23:59 UTC on Sep 30")),
    ("duplicate", lambda: post.DUPLICATE),
    ("forbidden", lambda: post.FORBIDDEN),
    ("rejected", lambda: post.REJECTED),
    ("blank", lambda: post.EMPTY),
    ("two commands", lambda: "One command a text, please: send \\STATEMENT and \\STATEMENT as two texts."),
    ("not posted", lambda: "This text was not posted to X."),
    # rooms
    (
        "created",
        lambda: (
            f"Created room {ROOM}; photos you send now go there. Others join with \\JOIN {ROOM} <password>."
        ),
    ),
    ("created, a mark at the password's end", lambda: rooms.created(ROOM, "hunter22.")),
    ("taken", lambda: f"The name {ROOM} is taken. Pick another name for your room."),
    ("bad name", lambda: f"{ROOM_NAMES} Usage: {rooms.CREATE_USAGE}"),
    ("room name letters", lambda: rooms.ROOM_LETTERS),
    ("room name spelt", lambda: rooms.room_spelt(ROOM)),
    ("long password", lambda: "That password is too long (at most 128 characters)."),
    ("wrong", lambda: rooms.WRONG),
    ("wrong, a mark at its end", lambda: rooms.wrong_for("hunter22.")),
    ("wrong, capital and mark", lambda: rooms.wrong_for("Hunter22;")),
    ("locked", lambda: rooms.LOCKED),
    ("new password", lambda: rooms.password_changed(ROOM)),
    ("new password, a mark at its end", lambda: rooms.password_changed(ROOM, "hunter22!", fits_one_segment)),
    ("new password, a room's name", lambda: rooms.room_not_password(ROOM)),
    ("new password, no room of that name", lambda: rooms.NO_ROOM_OF_THAT_NAME),
    ("joined", lambda: f"Joined {ROOM}; photos you send now go there. \\RECEIPTS shows them all."),
    ("joined again", lambda: f"You are in {ROOM} already; it is now your active room."),
    ("not in room", lambda: rooms.NOT_IN_ROOM),
    ("no such room", lambda: f"You are not in a room named {ROOM}. \\ROOMS lists yours."),
    ("left", lambda: f"You left {ROOM}. Your active room is {ROOM}."),
    ("rooms one", lambda: rooms.rooms_reply([ROOM], ROOM, fits=fits_one_segment)),
    (
        "rooms many",
        lambda: rooms.rooms_reply(
            [f"{ROOM[:-2]}{n:02}" for n in range(20)], f"{ROOM[:-2]}19", fits=fits_one_segment
        ),
    ),
    (
        "rooms page 2",
        lambda: rooms.rooms_reply(
            [f"{ROOM[:-2]}{n:02}" for n in range(30)], f"{ROOM[:-2]}19", fits=fits_one_segment, page=2
        ),
    ),
    ("use", lambda: f"Photos you send now go to {ROOM}."),
    *[
        (f"use first: {c}", lambda c=c: use_first(c, ROOM, ROOM))
        for c in ("STATEMENT", "CURRENCY", "REMIND", "TIMEZONE", "AMOUNT", "PAID")
    ],  # type: ignore[misc]
    ("receipts link", _gallery),
    ("gallery not set up", lambda: "The receipt gallery is not set up on this number."),
    # photos
    ("no room for photos", lambda: photos.NO_ROOM),
    ("photo waiting for a room", lambda: photos.waiting_for_room(1)),
    ("photos waiting for a room", lambda: photos.waiting_for_room(10)),
    ("photos not kept", lambda: photos.NOT_SET_UP),
    ("photos gave up", lambda: photos.GAVE_UP),
    ("saved all", lambda: _photos(_saved(MAX_ITEMS), [])),
    *[(f"one refused: {r[:20]}", lambda r=r: _photos(_saved(1), [(2, r)])) for r in REASONS],  # type: ignore[misc]
    (
        "all refused, all reasons",
        lambda: _photos(_saved(2), [(n + 1, r) for n, r in enumerate(REASONS)]),
    ),
    ("none saved", lambda: _photos([], [(n + 1, REASONS[n % 3]) for n in range(MAX_ITEMS)])),
    (
        "eleven items",
        lambda: _photos(_saved(MAX_ITEMS), [(MAX_ITEMS + 1, f"at most {MAX_ITEMS} are kept per message")]),
    ),
    # splitting the bill (issue 12): the longest names and amounts, 20 members
    *[
        (f"saved {n} ({kind})", lambda n=n, kind=kind: _photos(_saved(n, kind), []))  # type: ignore[misc]
        for n in (1, 2, MAX_ITEMS)
        for kind in ("counted", "missing", "foreign", "mixed")
    ],
    *[
        (f"not counted {n} ({kind})", lambda n=n, kind=kind: _photos(_odd(n, kind), []))  # type: ignore[misc]
        for n in (1, 2, MAX_ITEMS)
        for kind in ("repeat", "other", "both")
    ],
    ("not counted and refused", lambda: _photos(_odd(MAX_ITEMS - 1, "both"), [(10, media.BROKEN)])),
    (
        "saved mixed and refused",
        lambda: _photos(_saved(MAX_ITEMS - 1, "mixed"), [(10, media.BROKEN)]),
    ),
    ("name set", lambda: f"Your rooms now see you as {NAME}."),
    ("name taken", lambda: f"Someone in {ROOM} goes by {NAME} already. Pick another name."),
    ("name rules", lambda: ledger.NAME_RULES),
    ("name letters", lambda: ledger.NAME_LETTERS),
    ("name spelt", lambda: ledger.name_spelt(NAME)),
    ("name spelt taken", lambda: ledger.name_spelt_taken(ROOM, NAME)),
    (
        "paid several",
        lambda: ledger.several_payments(
            _book([]), [f"{NAME[:-2]}02", "999999.99", f"{NAME[:-2]}03"], "999999.99", 1, fits_one_segment
        ),
    ),
    (
        "paid at a rate",
        lambda: ledger.converted_payment(
            cast(Any, ledger._RATE.match(f"{NAME[:-2]}02 KRW 1000000 @1,450")), _book([]), 1, fits_one_segment
        ),
    ),
    ("balance settled", lambda: book.balance_line(ROOM, _book([]), fits=fits_one_segment)),
    (
        "balance two debts",
        lambda: book.balance_line(
            ROOM, _book([(2, 1, BIG), (3, 1, BIG)], uncounted=99), fits=fits_one_segment
        ),
    ),
    ("amount set", lambda: ledger.amount_reply(ROOM, _book([]), 1, BIG, USD)),
    ("amount out", lambda: ledger.amount_reply(ROOM, _book([]), 1, 0, USD)),
    (
        "amount of a split by shares",
        lambda: ledger.amount_reply(
            ROOM,
            _book([]),
            1,
            BIG,
            USD,
            day="Nov 24",
            was=USD.format(BIG),
            shares=", ".join(f"{NAME[:-2]}{n:02} {USD.format(BIG)}" for n in range(1, 21)),
            fits=fits_one_segment,
        ),
    ),
    (
        "amount foreign",
        lambda: ledger.amount_reply(ROOM, _book([]), 1, BIG, currency_of("INR"), fits=fits_one_segment),
    ),
    (
        "amount 0 on a repeat",
        lambda: ledger.repeat_stays_out(
            ROOM,
            _book([]),
            1,
            ReceiptAmount("t", "r", 1, "MM", 0, BIG, "USD", None, 0.0),
            dt.UTC,
            fits_one_segment,
        ),
    ),
    (
        "paid back",
        lambda: ledger.paid_back(ROOM, _book([]), f"{NAME[:-2]}02", "-999999.99", 1, fits_one_segment),
    ),
    *[
        (f"pair refused {has} / {theirs}", lambda has=has, theirs=theirs: account.pair_refused(has, theirs))  # type: ignore[misc]
        for has in ("rooms", "receipts", "payments", "an X account")
        for theirs in ("rooms", "receipts", "payments", "an X account", None)
    ],
    ("pair refused only rooms", lambda: account.pair_refused("rooms", "rooms", only_rooms=True)),
    ("amount usage", lambda: ledger.amount_usage(currency_of("CLF"))),
    ("amount none", lambda: ledger.no_receipts(ROOM, "AMOUNT")),
    ("split none", lambda: ledger.no_receipts(ROOM, "SPLIT")),
    ("paid notice", lambda: ledger.paid_notice(NAME, BIG, USD, ROOM)),
    ("paid usage", lambda: f"Usage: {ledger.PAID_USAGE}, e.g. \\PAID Alice 7.72"),
    ("paid above the cap", lambda: ledger.payment_cap(currency_of("CLF"))),
    ("paid wrong currency", lambda: f"{ROOM} counts in USD: send the amount in USD."),
    ("paid nobody", lambda: f"No one in {ROOM} goes by {NAME}. \\BALANCE shows the names."),
    ("paid many", lambda: ledger.MANY_BY_THAT_NAME),
    ("split figure", lambda: ledger.split_figure("9" * 40, fits_one_segment)),
    ("split figure other digits", lambda: ledger.split_figure("\u0660" * 40, fits_one_segment)),
    ("paid self", lambda: "You cannot pay yourself."),
    (
        "currency now",
        lambda: f"{ROOM} counts in USD. Change it with \\CURRENCY <code> before the first amount.",
    ),
    ("currency stays", lambda: f"{ROOM} counts in USD; it has amounts, so its currency stays."),
    ("currency bad", lambda: ledger.currency_unknown("Z" * 8, fits_one_segment)),
    ("currency bad emoji", lambda: ledger.currency_unknown("\U0001f4b6" * 8, fits_one_segment)),
    ("currency bad other letters", lambda: ledger.currency_unknown("z\u0142oty", fits_one_segment)),
    ("currency same", lambda: f"{ROOM} counts in USD already."),
    ("currency locked", lambda: f"{ROOM} has amounts in USD already; its currency cannot change now."),
    ("currency set", lambda: f"{ROOM} counts in EUR (€) now."),
    ("left owing", lambda: rooms.left_reply(ROOM, -BIG, USD, ROOM)),
    ("left owed", lambda: rooms.left_reply(ROOM, BIG, USD, None)),
    # reminders (issue 26): the longest zone name, said as the creator's number's
    *[
        (f"remind {kind}", lambda kind=kind: ledger.remind_reply(ROOM, kind, ZONE, fits_one_segment))  # type: ignore[misc]
        for kind in ("weekly", "monthly", "off")
    ],
    *[
        (
            f"remind {kind} utc",
            lambda kind=kind: ledger.remind_reply(ROOM, kind, "UTC", fits_one_segment, zone_unknown=True),  # type: ignore[misc]
        )
        for kind in ("weekly", "monthly")
    ],
    *[
        (f"remind status {kind}", lambda kind=kind: ledger.remind_status(ROOM, kind, ZONE))  # type: ignore[misc]
        for kind in ("weekly", "monthly")
    ],
    ("remind none", lambda: f"{ROOM}: no reminders. \\REMIND weekly or monthly: whoever owes gets one."),
    ("remind usage", lambda: f"Usage: {ledger.REMIND_USAGE}"),
    ("timezone now", lambda: f"{ROOM} keeps time in {ZONE}. Change it: \\TIMEZONE Europe/Paris"),
    (
        "timezone bad",
        lambda: f"{'Z' * 40} is not a time zone: use a name such as America/Chicago or Europe/Paris.",
    ),
    ("timezone set", lambda: f"{ROOM} keeps time in {'Z' * 32} now."),
    *[
        (
            f"reminder to {n}",
            lambda n=n: (
                reminders.reminder_text(  # type: ignore[misc]
                    ROOM, _book([(1, payee, BIG) for payee in range(2, n + 2)]), 1, fits=fits_one_segment
                )
                or ""
            ),
        )
        for n in (1, 3, 19)
    ],
    ("statement", lambda: ledger.statement_reply(_statement())),
    ("statement usage", lambda: f"Usage: {ledger.STATEMENT_USAGE}, e.g. \\STATEMENT 2026-11"),
    ("statement future", lambda: f"2026-12 has not begun in {ROOM} yet."),
    ("statement off", lambda: "Statements are not set up on this number."),
    # the worker and the limits
    ("sorry", lambda: worker.SORRY),
    ("outage", lambda: worker.OUTAGE_SORRY),
    ("slow down", lambda: middlewares.SLOW_DOWN),
]


ALL = REPLIES + _help_rows()


@pytest.mark.parametrize(("name", "make"), ALL, ids=[name for name, _ in ALL])
def test_reply_fits_one_gsm7_segment(name: str, make: Callable[[], str]) -> None:
    text = make()
    septets = gsm7_septets(text)
    assert septets is not None, f"{name}: not GSM-7 (UCS-2 makes a segment 70 characters): {text!r}"
    assert septets <= 160, f"{name}: {septets} septets: {text!r}"


def test_every_registered_command_is_in_the_help() -> None:
    ctx = _ctx()
    shown = " ".join(
        help.family_text(ctx, family.name, fits_one_segment) for family in (*help.FAMILIES, help.MORE)
    )
    for entry in ctx.help_entries:
        assert entry in shown
    assert len(handlers.ROUTERS) > 3


def test_the_counter_counts_like_a_phone() -> None:
    assert gsm7_septets("a" * 160) == 160
    assert fits_one_segment("a" * 160)
    assert not fits_one_segment("a" * 159 + "\\")  # the extension table takes two septets
    assert gsm7_septets("[]{}|~^€\\") == 18
    assert gsm7_septets("Café £5 @ÄÖÜ") == 12
    assert gsm7_septets("it’s") is None  # a curly quote forces UCS-2
    assert segments("a" * 161) == 2
    assert segments("a" * 306) == 2
    assert segments("a" * 307) == 3
    assert segments("😀" * 35) == 1
    assert segments("😀" * 36) == 2
