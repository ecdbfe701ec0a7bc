"""A room's ledger in words: names (told apart when they clash), positions, and the settling line
within the channel's length rule. The ledger itself is computed from real rooms in
tests/handlers/test_ledger.py."""

from __future__ import annotations

import dataclasses

from bot.core.channel import fits_160, fits_characters
from bot.features.ledger.book import (
    FORMER,
    LONGEST,
    RoomLedger,
    balance_line,
    display_names,
    position_phrase,
    shown_name,
    valid_name,
)
from bot.features.ledger.money import currency_or_default
from bot.features.ledger.split import Payment
from storage.ledger import FORMER_PREFIX, Member

USD = currency_or_default("USD")


def book(
    settlement: list[Payment[int | None]], *, uncounted: int = 0, waiting: int = 0, out_of_reach: int = 0
) -> RoomLedger:
    return RoomLedger(
        currency=USD,
        net={},
        settlement=settlement,
        names={1: "Alice", 2: "Bob", 3: "Carol", None: FORMER},
        uncounted=uncounted,
        member_ids=(1, 2, 3),
        waiting=waiting,
        waiting_out_of_reach=out_of_reach,
    )


def test_names_that_clash_are_told_apart_and_former_members_say_so() -> None:
    names = display_names(
        [
            Member(1, "Sam", "+15550001111"),
            Member(2, "sam", "+15550002222"),
            Member(3, None, "+15550003333"),
            Member(4, "Alice", "+15550004444"),
            Member(5, "Alice", FORMER_PREFIX + "x"),
        ]
    )
    assert names[1] == "Sam (1111)"
    assert names[2] == "sam (2222)"
    assert names[3].endswith("3333")
    assert "555000" not in names[3]  # masked
    assert names[4] == "Alice (4444)"
    assert names[5] == "Alice (left)"
    assert names[None] == FORMER


def test_one_who_stopped_shows_as_left_beside_a_member_of_the_same_masked_number() -> None:
    """Someone unnamed stops and texts again (or another number with the same last 4 joins): the
    one who left keeps their masked number as their name and shows as "(left)", as a name shared
    with a current member does, not as a "(2)" that reads like the member still in the room."""
    names = display_names(
        [
            Member(1, None, "+15550003333"),
            Member(2, "+1******3333", FORMER_PREFIX + "x"),
        ]
    )
    assert names[1] == "+1******3333"
    assert names[2] == "+1******3333 (left)"


def test_a_name_is_letters_digits_and_single_spaces() -> None:
    assert valid_name("Anna Maria 2")
    assert valid_name("Room 101")
    # digits alone are how \\PAID and \\SPLIT pick out a number; "me" is the sender in \\SPLIT
    # "a former member" is the gallery's label for someone who left by \\STOP
    for bad in (
        "",
        " Anna",
        "Anna  Maria",
        "x" * 21,
        "Anna!",
        "Ан",
        "0202",
        "12 34",
        "me",
        "ME",
        "A former member",
    ):
        assert not valid_name(bad), bad


def test_the_settling_line() -> None:
    assert balance_line("house", book([]), fits=fits_160) == "house: all settled."
    line = balance_line("house", book([Payment(2, 1, 772), Payment(3, 1, 772)]), fits=fits_160)
    assert line == "house: Bob pays Alice $7.72, Carol pays Alice $7.72."


def test_receipts_in_another_currency_are_mentioned_when_the_rule_allows() -> None:
    debts = [Payment(2, 1, 772)]
    assert balance_line("house", book(debts, uncounted=2), fits=fits_160) == (
        "house: Bob pays Alice $7.72. 2 receipts in another currency not counted."
    )
    # the note would not fit, and the debts alone would: the debts only
    assert balance_line("house", book(debts, uncounted=1), fits=lambda text: len(text) <= 40) == (
        "house: Bob pays Alice $7.72."
    )
    # nothing fits anyway (a long list): the note is said too
    assert balance_line("house", book(debts, uncounted=1), fits=lambda text: False).endswith(
        "1 receipt in another currency not counted."
    )


def test_receipts_with_no_total_that_no_amount_can_reach_point_to_the_receipts_page() -> None:
    """Their sender left the room, or sent receipts since (\\AMOUNT would set the newer one):
    "its sender can reply \\AMOUNT" was untrue, or changed the wrong receipt."""
    debts = [Payment(2, 1, 772)]
    assert balance_line("house", book([], waiting=1, out_of_reach=1), fits=fits_160) == (
        "house: all settled. 1 receipt with no total is not counted: \\RECEIPTS shows it."
    )
    assert balance_line("house", book(debts, waiting=3, out_of_reach=1), fits=fits_160) == (
        "house: Bob pays Alice $7.72. 3 receipts with no total are not counted: \\RECEIPTS shows them."
    )
    assert balance_line("house", book(debts, waiting=2, out_of_reach=2), fits=lambda t: len(t) <= 90) == (
        "house: Bob pays Alice $7.72. 2 receipts with no total not counted (\\RECEIPTS)."
    )


def test_receipts_with_no_total_are_mentioned_with_how_to_count_them() -> None:
    """They were left out of the balance without a word."""
    debts = [Payment(2, 1, 772)]
    assert balance_line("house", book([], waiting=1), fits=fits_160) == (
        "house: all settled. 1 receipt with no total is not counted: its sender can reply \\AMOUNT 12.34."
    )
    assert balance_line("house", book(debts, uncounted=1, waiting=2), fits=fits_160) == (
        "house: Bob pays Alice $7.72. 1 receipt in another currency not counted. "
        "2 receipts with no total are not counted: their senders can reply \\AMOUNT 12.34."
    )
    # shorter when the rule asks: the short note, then it alone, never beyond what fits
    assert balance_line("house", book(debts, uncounted=1, waiting=2), fits=lambda t: len(t) <= 120) == (
        "house: Bob pays Alice $7.72. 1 receipt in another currency not counted. "
        "2 receipts with no total not counted (\\AMOUNT)."
    )
    assert balance_line("house", book(debts, uncounted=1, waiting=1), fits=lambda t: len(t) <= 80) == (
        "house: Bob pays Alice $7.72. 1 receipt with no total not counted (\\AMOUNT)."
    )
    assert balance_line("house", book(debts, waiting=1), fits=lambda t: len(t) <= 40) == (
        "house: Bob pays Alice $7.72."
    )
    # nothing fits anyway (a long list): every note is said
    line = balance_line("house", book(debts, uncounted=1, waiting=1), fits=lambda t: False)
    assert line.endswith(
        "not counted. 1 receipt with no total is not counted: its sender can reply \\AMOUNT 12.34."
    )


def test_a_position_in_words() -> None:
    assert position_phrase(0, USD) == "you are settled up"
    assert "$7.72" in position_phrase(772, USD)
    assert "$7.72" in position_phrase(-772, USD)
    assert position_phrase(772, USD) != position_phrase(-772, USD)


def test_a_member_with_no_name_goes_by_their_channels_name_when_it_is_one() -> None:
    names = display_names(
        [
            Member(1, None, "telegram:7001", label="Ann"),
            Member(2, "Ann", "+15550002222"),  # a \\NAME the same: both told apart
            Member(3, None, "telegram:7003", label="Анна"),  # not GSM-7: the masked chat
            Member(4, "Bob", "telegram:7004", label="Robert"),  # a \\NAME wins
            Member(5, None, "telegram:7005", label="Carol"),
            Member(7, None, "telegram:7007", label="2222"),  # digits: a number's last 4, not a name
            Member(8, None, "telegram:7008", label="Jose\u0301"),  # an accent typed apart: Jos\u00e9
            Member(9, None, "telegram:7009", label="\uff2b\uff45\uff4e"),  # full-width letters: Ken
        ]
    )
    assert names[8] == "Jos\u00e9"
    assert names[9] == "Ken"
    assert names[7] == "Telegram ***7007"
    assert names[1] == "Ann (7001)"
    assert names[2] == "Ann (2222)"
    assert names[3] == "Telegram ***7003"
    assert names[4] == "Bob"
    assert names[5] == "Carol"
    assert shown_name(Member(6, None, "+15550006666")) is None


def test_a_channels_name_with_letters_an_sms_lacks_shows_spelt_without_their_accents() -> None:
    """A Telegram Zo\u00eb or Fran\u00e7ois showed as `Telegram ***7001` to the room, where `\\NAME Zo\u00eb`
    is offered Zoe: they show as Zoe and Francois, as a plain SMS spells them."""
    names = display_names(
        [
            Member(1, None, "telegram:7001", label="Zo\u00eb"),
            Member(2, None, "telegram:7002", label="Fran\u00e7ois"),
            Member(3, None, "telegram:7003", label="\u0141ukasz"),
            Member(4, None, "telegram:7004", label="\u738b\u82b3"),  # no Latin spelling: the masked chat
        ]
    )
    assert [names[1], names[2], names[3], names[4]] == ["Zoe", "Francois", "Lukasz", "Telegram ***7004"]


def test_a_channels_name_with_an_emoji_in_it_shows_without_the_emoji() -> None:
    """Telegram first names are often decorated (`Ann \U0001f338`, `\u2728Mia\u2728`, a flag or a
    heart with its variation selector): the room saw `Telegram ***7001`. The name shows without
    its emoji; one that is emoji alone still shows by the chat."""
    names = display_names(
        [
            Member(1, None, "telegram:7001", label="Ann \U0001f338"),
            Member(2, None, "telegram:7002", label="\u2728Mia\u2728"),
            Member(3, None, "telegram:7003", label="Zo\u00eb \u2764\ufe0f \U0001f1eb\U0001f1f7"),
            Member(4, None, "telegram:7004", label="\U0001f44b\U0001f3fd"),
            Member(5, None, "telegram:7005", label="Dan \U0001f468\u200d\U0001f4bb"),
        ]
    )
    assert [names[p] for p in range(1, 6)] == ["Ann", "Mia", "Zoe", "Telegram ***7004", "Dan"]


def test_a_channels_hyphenated_name_shows_with_a_space() -> None:
    """A Telegram Anne-Marie or Jean-Lu\u00e7 showed as `Telegram ***7001`: a name has no hyphen, and
    shows with a space in its place (Anne Marie), as `\\NAME Anne-Marie` is offered."""
    names = display_names(
        [
            Member(1, None, "telegram:7001", label="Anne-Marie"),
            Member(2, None, "telegram:7002", label="Jean\u2010Lu\u00e7"),
        ]
    )
    assert [names[1], names[2]] == ["Anne Marie", "Jean Luc"]


def test_a_room_with_more_debts_than_a_message_takes_names_the_first_and_how_many_more() -> None:
    """91 debts made a 4,700-character line: Telegram (4,096) and Twilio (1,600) refused it, and
    the person asking heard nothing."""
    many = RoomLedger(
        currency=USD,
        net={},
        settlement=[Payment(n, 1, 109_890) for n in range(2, 93)],
        names={1: "Alice", **{n: f"Longmembername{n:03d}" for n in range(2, 93)}, None: FORMER},
        uncounted=1,
        member_ids=tuple(range(1, 93)),
    )
    line = balance_line("big", many, fits=lambda text: False)
    assert len(line) <= LONGEST
    assert line.startswith("big: Longmembername002 pays Alice $1,098.90, Longmembername003 pays Alice")
    shown = line.count(" pays ")
    assert line.endswith(f", and {91 - shown} more: \\RECEIPTS shows them all.")
    assert 30 < shown < 91


def test_telegram_shows_as_many_debts_as_its_4096_characters_take() -> None:
    """On Telegram a big room's `\\BALANCE` stopped at 1,600 characters ("and 55 more: \\RECEIPTS
    shows them all" of 91), Twilio's limit, where a Telegram message takes 4,096: it shows what fits."""
    many = RoomLedger(
        currency=USD,
        net={},
        settlement=[Payment(n, 1, 109_890) for n in range(2, 122)],
        names={1: "Alice", **{n: f"Longmembername{n:03d}" for n in range(2, 122)}, None: FORMER},
        uncounted=0,
        member_ids=tuple(range(1, 122)),
    )
    line = balance_line("big", many, fits=fits_characters(4096))
    assert 4000 < len(line) <= 4096
    shown = line.count(" pays ")
    assert line.endswith(f", and {120 - shown} more: \\RECEIPTS shows them all.")
    assert 91 < shown < 120
    fewer = dataclasses.replace(many, settlement=many.settlement[:91])
    assert balance_line("big", fewer, fits=fits_characters(4096)).count(" pays ") == 91  # all of them
    assert balance_line("big", fewer, fits=fits_characters(1600)).count(" pays ") < 40  # WhatsApp
