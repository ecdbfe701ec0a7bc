"""bot/features/ledger/rates.py: a rate given the wrong way round is told from a real one."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.features.ledger.money import in_use
from bot.features.ledger.rates import USD_FOR_ONE, inverted, rate_text


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
