"""Rough exchange rates, to tell a rate given the wrong way round from a real one.

`\\AMOUNT 678 JPY @150` (150 yen to the dollar, as exchange boards and banks quote it) counted
$101,700.00 in a dollar room: the rate `\\AMOUNT` takes is the room's money for one of the
receipt's (0.0067). Nothing here converts an amount: the person's rate always does. A rate is
questioned only when it is more than `TOLERANCE` times away from what these figures say and its
inverse is nearer; rates between monies of a like size (EUR and USD) are never questioned, as
either way round is plausible.

The figures are US dollars for one unit, rounded, late 2025. Only their order of magnitude
matters (a factor of 30 either way), so they hold for years; currencies whose value moved by
such factors within a few years (ARS, VES, LBP, TRY, NGN, EGP, IRR, ...) are left out, and a
rate of theirs is never questioned. Shipped with the code: nothing is fetched at run time.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal
from functools import cache

# how far (a factor, either way) a rate may be from these figures before its inverse is offered
TOLERANCE = Decimal(30)

USD_FOR_ONE: dict[str, Decimal] = {
    code: Decimal(value)
    for code, value in {
        "USD": "1",
        "EUR": "1.1",
        "GBP": "1.3",
        "CHF": "1.2",
        "JPY": "0.0067",
        "CNY": "0.14",
        "HKD": "0.13",
        "TWD": "0.032",
        "KRW": "0.0007",
        "SGD": "0.76",
        "MYR": "0.23",
        "THB": "0.030",
        "IDR": "0.00006",
        "PHP": "0.017",
        "VND": "0.00004",
        "INR": "0.0115",
        "PKR": "0.0035",
        "BDT": "0.0082",
        "LKR": "0.0033",
        "NPR": "0.0072",
        "AUD": "0.65",
        "NZD": "0.58",
        "CAD": "0.72",
        "MXN": "0.054",
        "BRL": "0.18",
        "CLP": "0.00105",
        "COP": "0.00025",
        "PEN": "0.28",
        "CRC": "0.002",
        "DOP": "0.016",
        "GTQ": "0.13",
        "SEK": "0.10",
        "NOK": "0.097",
        "DKK": "0.15",
        "ISK": "0.0078",
        "PLN": "0.27",
        "CZK": "0.046",
        "HUF": "0.0029",
        "RON": "0.22",
        "BGN": "0.56",
        "RSD": "0.0095",
        "ZAR": "0.056",
        "KES": "0.0077",
        "MAD": "0.107",
        "ILS": "0.29",
        "AED": "0.272",
        "SAR": "0.267",
        "QAR": "0.275",
        "KWD": "3.25",
        "BHD": "2.65",
        "OMR": "2.6",
        "JOD": "1.41",
    }.items()
}


# Units of each money a US dollar buys, as a power of ten at or above it, for the monies the
# figures above leave out: what an amount may be at most scales by it (`dollar_digits`). Rounded
# up, late 2025, with a power of ten more (or two) for monies losing value fast (ARS, IRR, LBP,
# NGN, SSP, VES, ...): too high a bound only lets a typo through, too low one refuses a real bill.
# Not a rate: nothing is converted by it.
_DOLLAR_DIGITS = {
    **dict.fromkeys(("BMD", "BSD", "CHE", "CHW", "CLF", "FKP", "GIP", "KYD", "PAB", "SHP", "USN"), 0),
    **dict.fromkeys(
        ("AWG", "AZN", "BAM", "BBD", "BND", "BOV", "BYN", "BZD", "CNH", "COU", "FJD", "GEL", "MOP"), 1
    ),
    **dict.fromkeys(("MXV", "PGK", "SBD", "TMT", "TND", "TOP", "TTD", "UYI", "WST", "XCD", "XCG"), 1),
    **dict.fromkeys(("AFN", "ALL", "BOB", "BTN", "BWP", "CVE", "ERN", "GHS", "GMD", "HNL", "KGS"), 2),
    **dict.fromkeys(("LSL", "LYD", "MDL", "MKD", "MRU", "MUR", "MVR", "MZN", "NAD", "NIO", "SCR"), 2),
    **dict.fromkeys(("SLE", "SRD", "STN", "SZL", "TJS", "UAH", "UYU", "UYW", "ZMW"), 2),
    **dict.fromkeys(("AMD", "CUP", "DJF", "DZD", "EGP", "ETB", "GYD", "HTG", "JMD", "KMF", "KZT"), 3),
    **dict.fromkeys(("LRD", "RUB", "SOS", "TRY", "VUV", "XAF", "XOF", "XPF", "YER", "ZWG"), 3),
    **dict.fromkeys(("AOA", "BIF", "CDF", "GNF", "IQD", "KHR", "KPW", "MGA", "MMK", "MNT", "MWK"), 4),
    **dict.fromkeys(("PYG", "RWF", "SDG", "TZS", "UGX"), 4),
    **dict.fromkeys(("LAK", "NGN", "SSP", "SYP", "UZS", "VED", "VES"), 5),
    **dict.fromkeys(("ARS", "LBP"), 6),
    "IRR": 7,
}


@cache
def dollar_digits(code: str) -> int:
    """The power of ten at or above the units of `code` a US dollar buys (0 for a money worth a
    dollar or more): `\\AMOUNT` in dong may be 10**5 times what it may be in dollars. 0 for a code
    none of the tables know."""
    if code in USD_FOR_ONE:
        per_dollar = 1 / USD_FOR_ONE[code]
        return max(0, int(per_dollar.log10().to_integral_value(rounding=ROUND_CEILING)))
    return _DOLLAR_DIGITS.get(code, 0)


def _off(rate: Decimal, expected: Decimal) -> Decimal:
    """How many times `rate` is away from `expected`, either way (1: the same)."""
    return rate / expected if rate >= expected else expected / rate


def inverted(of: str, into: str, rate: Decimal) -> Decimal | None:
    """The rate meant when `rate` (`into` for one `of`) looks given the wrong way round, to four
    significant digits (`@150` of yen into dollars: 0.006667); None when it may be right, or
    when either money is one these figures leave out."""
    if of == into or rate <= 0 or of not in USD_FOR_ONE or into not in USD_FOR_ONE:
        return None
    expected = USD_FOR_ONE[of] / USD_FOR_ONE[into]
    inverse = 1 / rate
    if _off(rate, expected) <= TOLERANCE or _off(inverse, expected) >= _off(rate, expected):
        return None
    return inverse.quantize(Decimal(1).scaleb(inverse.adjusted() - 3)).normalize()


def read_inverted(
    of: str, into: str, rate: Decimal, thousands: Decimal | None = None
) -> tuple[Decimal, Decimal] | None:
    """(the rate as read, the rate meant) when the rate looks given the wrong way round, as
    `inverted`; `thousands`: the rate read with its comma as a thousands one (`@1,450` of won into
    dollars: 1450, as exchange boards quote it), taken when its inverse is the nearer. Read as 1.450
    alone, the inverse offered was 0.6897, a ₩50000 dinner counted $34485.00."""
    meant = inverted(of, into, rate)
    if meant is None or thousands is None:
        return None if meant is None else (rate, meant)
    other = inverted(of, into, thousands)
    expected = USD_FOR_ONE[of] / USD_FOR_ONE[into]
    if other is not None and _off(other, expected) < _off(meant, expected):
        return thousands, other
    return rate, meant


def as_thousands(of: str, into: str, rate: Decimal, thousands: Decimal) -> bool:
    """Whether `@1,450` (read 1.450) means 1450: the decimal reading is far from any rate the two
    monies have had and the thousands one near (`\\AMOUNT 40 USD @1,450` in a room of won counted
    ₩58 for a $40 dinner)."""
    if of == into or rate <= 0 or of not in USD_FOR_ONE or into not in USD_FOR_ONE:
        return False
    expected = USD_FOR_ONE[of] / USD_FOR_ONE[into]
    return _off(rate, expected) > TOLERANCE and _off(thousands, expected) <= TOLERANCE


# `@1,450`: a comma then three digits, which may be a thousands comma
_THOUSANDS = re.compile(r"\d{1,3},\d{3}")


def typed(rate: str) -> tuple[Decimal, Decimal | None]:
    """A rate as typed after `@`: its comma a decimal one (`1,47`: 1.47), and, for a comma before
    three digits, the thousands reading too (`1,450`: 1.450 and 1450), else None."""
    thousands = Decimal(rate.replace(",", "")) if _THOUSANDS.fullmatch(rate) else None
    return Decimal(rate.replace(",", ".")), thousands


def reading(
    of: str, into: str, rate: Decimal, thousands: Decimal | None
) -> tuple[Decimal, tuple[Decimal, Decimal] | None]:
    """The rate taken (`@1,450` as 1450 where only that reading is near, `as_thousands`), and
    (the rate as read, the rate meant) when it looks given the wrong way round (`read_inverted`)."""
    if thousands is not None and as_thousands(of, into, rate, thousands):
        rate = thousands
    return rate, read_inverted(of, into, rate, thousands)


def rate_text(rate: Decimal) -> str:
    """A rate as a person types it: `0.006667`, `150`, never `6.667E-3`."""
    text = format(rate, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
