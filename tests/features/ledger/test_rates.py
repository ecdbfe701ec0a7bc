"""bot/features/ledger/rates.py: a rate given the wrong way round is told from a real one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.features.ledger.money import _in_use, currency, in_use
from bot.features.ledger.rates import _DOLLAR_DIGITS, USD_FOR_ONE, dollar_digits, inverted, rate_text


@pytest.mark.parametrize(
    ("of", "into", "rate", "meant"),
    [
        ("JPY", "USD", "150", "0.006667"),  # yen to the dollar, as exchange boards quote it
        ("USD", "JPY", "0.0067", "149.3"),
        ("INR", "USD", "83", "0.01205"),
        ("VND", "USD", "25000", "0.00004"),
        ("IDR", "EUR", "16300", "0.00006135"),
        ("USD", "MXN", "0.055", "18.18"),
    ],
)
def test_the_inverse_is_offered_for_a_rate_the_wrong_way_round(
    of: str, into: str, rate: str, meant: str
) -> None:
    found = inverted(of, into, Decimal(rate))
    assert found is not None
    assert rate_text(found) == meant


@pytest.mark.parametrize(
    ("of", "into", "rate"),
    [
        ("JPY", "USD", "0.0067"),  # right
        ("USD", "JPY", "150"),
        ("EUR", "USD", "0.92"),  # like monies: either way round may be right
        ("GBP", "USD", "0.79"),
        ("EUR", "USD", "999999"),  # wrong either way: the inverse is no nearer
        ("ARS", "USD", "1000"),  # a money whose value moves too fast for fixed figures
        ("USD", "USD", "150"),
    ],
)
def test_a_rate_that_may_be_right_is_not_questioned(of: str, into: str, rate: str) -> None:
    assert inverted(of, into, Decimal(rate)) is None


def test_every_money_in_the_table_is_in_use_today() -> None:
    assert all(in_use(code) for code in USD_FOR_ONE)
    assert len(USD_FOR_ONE) >= 40


def test_a_rate_is_written_as_typed() -> None:
    assert rate_text(Decimal("6.667E-3")) == "0.006667"
    assert rate_text(Decimal("150")) == "150"
    assert rate_text(Decimal("1.50")) == "1.5"


def test_every_money_in_use_has_a_size_and_one_only() -> None:
    """What an amount may be at most scales by what a dollar buys: a money in use that neither
    table knows would be capped at a million units, as dong were (VND 1,000,000 is $40)."""
    in_use_now = set(_in_use())
    assert in_use_now <= set(USD_FOR_ONE) | set(_DOLLAR_DIGITS)
    assert not set(USD_FOR_ONE) & set(_DOLLAR_DIGITS)
    assert set(_DOLLAR_DIGITS) <= in_use_now


@pytest.mark.parametrize("code", sorted(USD_FOR_ONE))
def test_the_most_an_amount_may_be_is_a_million_dollars_worth_or_up_to_ten_times(code: str) -> None:
    cur = currency(code)
    assert cur is not None
    dollars = Decimal(cur.largest).scaleb(-cur.exponent) * USD_FOR_ONE[code]
    assert Decimal(1_000_000) <= dollars < Decimal(10_000_000) or (
        USD_FOR_ONE[code] >= 1 and dollars == 1_000_000 * USD_FOR_ONE[code]
    )


@pytest.mark.parametrize(
    ("code", "digits"),
    [
        ("USD", 0),
        ("EUR", 0),
        ("KWD", 0),
        ("SEK", 1),
        ("INR", 2),
        ("JPY", 3),
        ("KRW", 4),
        ("VND", 5),
        ("IRR", 7),
        ("XXX", 0),
    ],
)
def test_dollar_digits(code: str, digits: int) -> None:
    assert dollar_digits(code) == digits
