"""Money as integer minor units (cents), never floats.

Currencies are ISO 4217 codes with their minor-unit exponents from babel's CLDR data (USD 2,
JPY 0, BHD 3). Amounts are shown with the currency's symbol when it is plain GSM-7 text ("$",
"€", "£", "¥", "CA$"), else with its code ("INR 12.50"), so a reply stays one GSM-7 segment.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel.core import Locale, UnknownLocaleError, get_global
from babel.localedata import locale_identifiers
from babel.numbers import (
    get_currency_precision,
    get_currency_symbol,
    get_decimal_symbol,
    get_territory_currencies,
    list_currencies,
)

from bot.features.ledger import rates

DEFAULT_CURRENCY = "USD"
# the most an amount may be, in dollars' worth of major units (`Currency.largest`): a typo, not a
# bill, beyond it
MAX_MAJOR = 1_000_000

_SYMBOL_CHARS = re.compile(r"^[A-Za-z$£¥€]{1,4}$")


# the money whose home groups thousands in lakhs and crores (CLDR's `#,##,##0.###` in en_IN, ne_NP,
# bn_BD, dz_BT): `INR 1,20,000.00` is how a rent of 1.2 lakh reads there, not 120,000.00
_IN_LAKHS = frozenset({"INR", "NPR", "BDT", "BTN"})


_PAIRS = re.compile(r"(\d)(?=(?:\d{2})+$)")  # a comma before every two digits from the right


def _grouped(major: int, lakhs: bool) -> str:
    """`1234567` as `1,234,567`, or in lakhs as `12,34,567`."""
    if not lakhs or major < 100_000:
        return f"{major:,}"
    head, last = divmod(major, 1000)
    pairs = _PAIRS.sub(r"\1,", str(head))
    return f"{pairs},{last:03d}"


@dataclass(frozen=True)
class Currency:
    code: str
    exponent: int
    symbol: str  # "" when shown by its code

    def format(self, minor: int) -> str:
        """`$23.17`, `-$1.00`, `€12.50`, `¥1,200`, `INR 12.50`, `VND 1,500,000`: thousands grouped,
        as people read an amount (`VND 1500000` left the zeros to count). `number` is what
        `\\AMOUNT` takes: a reply's command carries that, ungrouped."""
        sign = "-" if minor < 0 else ""
        major, point, frac = self.number(abs(minor)).partition(".")
        number = f"{_grouped(int(major), self.code in _IN_LAKHS)}{point}{frac}"
        if self.symbol:
            return f"{sign}{self.symbol}{number}"
        return f"{sign}{self.code} {number}"

    def number(self, minor: int) -> str:
        """The amount's figure alone, as `\\AMOUNT` takes it in this currency: `23.17`, `1200`."""
        if not self.exponent:
            return str(minor)
        major, frac = divmod(minor, 10**self.exponent)
        return f"{major}.{frac:0{self.exponent}d}"

    @property
    def example(self) -> str:
        """A figure to show in a hint (`\\AMOUNT 12.34`) that this currency takes: `1234` in yen."""
        return self.figure(1234)

    def figure(self, hundredths: int) -> str:
        """`hundredths` of a unit as a figure this currency takes: 772 is `7.72`, or `772` in yen."""
        return self.number(hundredths * 10 ** max(self.exponent - 2, 0))

    def minor_of_major(self, major: int) -> int:
        return major * int(10**self.exponent)

    @property
    def largest(self) -> int:
        """The most an amount may be, in minor units: `MAX_MAJOR` in dollars and the monies worth
        more, and as many times that as a dollar buys, to a power of ten (rates.dollar_digits), in
        the others: a VND 1,500,000 dinner is $60, and ¥1,200,000 a week at a hotel. Both were
        refused by a cap of a million units of any money."""
        return self.minor_of_major(MAX_MAJOR * 10 ** rates.dollar_digits(self.code))

    def takes(self, minor: int) -> bool:
        """Whether `minor` is an amount: more than 0 and at most `largest`."""
        return 0 < minor <= self.largest


@cache
def _codes() -> frozenset[str]:
    return frozenset(list_currencies())


@cache
def _in_use() -> frozenset[str]:
    """The codes some country uses today (CLDR: no end date), less the units that are no money
    to split a bill in: gold and other metals, the SDR, bond units, the test and "no currency"
    codes (X-codes that are not legal tender; XAF, XOF, XCD, XPF are). Funds codes a country
    counts in (CLF, the Chilean UF rents are set in; UYW) stay."""
    found: set[str] = set()
    for periods in get_global("territory_currencies").values():
        for code, _start, end, tender in periods:
            if end is None and (tender or not code.startswith("X")):
                found.add(code)
    return frozenset(found)


def in_use(code: str) -> bool:
    """A currency a room may count in (`\\CURRENCY`): one some country uses today. Amounts in
    other ISO 4217 codes (DEM, a receipt's XAU) are still read and shown."""
    return code.upper() in _in_use()


@cache
def currency(code: str) -> Currency | None:
    """The currency for an ISO 4217 code (any case), or None."""
    code = code.strip().upper()
    if len(code) != 3 or code not in _codes():
        return None
    symbol = get_currency_symbol(code, locale="en_US")
    if symbol == code or not _SYMBOL_CHARS.match(symbol):
        symbol = ""
    return Currency(code=code, exponent=int(get_currency_precision(code)), symbol=symbol)


@cache
def printed_whole(code: str) -> bool:
    """Money with decimals whose receipts print whole units: CLDR's cash digits are 0 where its
    digits are not (HUF, IDR, COP, TWD, CZK, SEK, NOK: no coins for the decimals), so a bill
    prints `1 490 Ft` or `Rp 25.000`, not `1 490,00 Ft`."""
    fractions = get_global("currency_fractions")
    digits, _rounding, cash, _cash_rounding = fractions.get(code.upper(), fractions["DEFAULT"])
    return bool(digits) and cash == 0


@cache
def writes_decimal_point(code: str) -> bool:
    """Whether the money's home writes its decimals only after a point (`12.50`: USD, GBP, INR,
    AUD), from CLDR: every language of the country its code begins with, if that country pays in
    it. False for money also written `12,50` at home (CAD in Quebec, CHF in Geneva, BRL, ZAR) and
    for money of no one country (EUR): a receipt of theirs with a decimal comma is no surprise."""
    code = code.upper()
    territory = code[:2]
    try:
        if code not in get_territory_currencies(territory):
            return False
        spoken = [Locale.parse(f"und_{territory}")] + [
            Locale.parse(ident) for ident in locale_identifiers() if ident.endswith(f"_{territory}")
        ]
        return all(get_decimal_symbol(locale) == "." for locale in spoken)
    except (UnknownLocaleError, ValueError):
        return False


def shown(minor: int, code: str) -> str:
    """An amount as people read it in its own currency (`$12.50`, `INR 12.50`), or by its code
    and minor units when the code is none we know."""
    own = currency(code)
    return own.format(minor) if own else f"{code} {minor}"


def converted_from(minor: int, code: str, rate: str) -> str:
    """What `\\AMOUNT 678 JPY @0.006667` converted, as its reply said it: `(¥678 at 0.006667)`."""
    return f"({shown(minor, code)} at {rate})"


def currency_or_default(code: str | None) -> Currency:
    found = currency(code or DEFAULT_CURRENCY)
    if found is None:
        found = currency(DEFAULT_CURRENCY)
        assert found is not None
    return found


# -- reading amounts people type ---------------------------------------------------------------------

# a number with optional thousands separators and an optional decimal part (up to 4 decimals:
# CLF and UYW have four, and their amounts are shown with them); or grouped as India, Pakistan,
# Nepal and Bangladesh group it, in lakhs and crores (`1,20,000.00`, `1,00,00,000`)
_LAKHS = r"\d{1,2}(?:,\d{2})+,\d{3}(?:\.\d{1,4})?"
_NUMBER = rf"{_LAKHS}|\d{{1,3}}(?:[,.' ]\d{{3}})+(?:[.,]\d{{1,4}})?|\d+(?:[.,]\d{{1,4}})?"


@cache
def _symbols() -> dict[str, str]:
    """Every symbol amounts are shown with (`Currency.format`), upper case, to its currency's
    code: what a reply shows, a person may type back (`CA$72.88`, `A$5`, `€3`). `$` alone is
    the room's dollar or peso, else USD (`_marker_currency`)."""
    found: dict[str, str] = {}
    for code in sorted(_codes()):
        cur = currency(code)
        if cur is not None and cur.symbol and cur.symbol != "$":
            found.setdefault(cur.symbol.upper(), code)
    for marker, code in _WRITTEN.items():
        if currency(code) is not None:
            found.setdefault(marker, code)
    return found


@cache
def signs() -> dict[str, str]:
    """The one-character signs of money (`€`, `₹`, `₩`, `฿`, ...) to their currencies' codes: what
    a caption or a receipt writes before a figure. `$` is none of them (the room's dollar)."""
    return {sign: code for sign, code in _symbols().items() if len(sign) == 1 and not sign.isalpha()}


# how people write some currencies that replies show by code: `3000円` and `3000 yen` (a yen room's
# captions were "no total found"), `₹600`, `₩5000`
_WRITTEN = {"円": "JPY", "YEN": "JPY", "₹": "INR", "₩": "KRW", "원": "KRW", "US$": "USD"}
# and the signs people write by their own money, which replies show by code (no GSM-7 symbol): a
# caption `lunch 12,50 zł` in a euro room was counted as €12.50 (the zł no currency, the figure
# taken alone in the room's), and so were ₽, ₪, ₺, Kč, RM, Rp, ... amounts
_WRITTEN.update(
    {
        **{"ZŁ": "PLN", "₽": "RUB", "₪": "ILS", "₺": "TRY", "TL": "TRY", "₴": "UAH", "₫": "VND"},
        **{"฿": "THB", "₱": "PHP", "₦": "NGN", "KČ": "CZK", "RM": "MYR", "RMB": "CNY"},
        **{"RP": "IDR", "₸": "KZT", "₾": "GEL", "₼": "AZN", "LEI": "RON", "₡": "CRC", "৳": "BDT"},
    }
)
# and the euro by its name, after a figure as people write it (`\\PAID Begoña 8,40 euros` got the usage);
# before one it is a word (`Euro 2024 final`)
_WRITTEN.update({"EURO": "EUR", "EUROS": "EUR"})
# and the złoty as typed on a keyboard with no ł (`12,50 zl`, counted as €12.50 in a euro room):
# after a figure only, as the euro's name
_WRITTEN.update({"ZL": "PLN"})
# and the dong's `đ` after a figure, as Vietnamese type it (`40.000đ`; the forint's `Ft` is read in
# a room of forints only: `_SHARED`)
_WRITTEN.update({"Đ": "VND"})
# and the names of the real and the złoty after a figure, as people write them (`\\PAID Ana 10
# reais` and `40 złotych` got the usage where `8,40 euros` was read)
_ZLOTY = ("ZLOTY", "ZŁOTY", "ZLOTYCH", "ZŁOTYCH")
_WRITTEN.update({"REAIS": "BRL", **dict.fromkeys(_ZLOTY, "PLN")})
_AFTER_ONLY = frozenset({"YEN", "EURO", "EUROS", "ZL", "Đ", "REAIS", *_ZLOTY})
# the money whose home writes it with a `$` alone (CLDR: the symbol in a locale of the country its
# code is named after, as `writes_decimal_point` reads them; tests/features/ledger/test_money.py
# checks this list against CLDR, which takes a second to read): `\AMOUNT $11.990` in a room of Chilean
# pesos was US dollars and asked about as `$11990.00 or $11.99`
DOLLAR_AT_HOME = frozenset(
    {
        "ARS", "AUD", "BBD", "BMD", "BND", "BSD", "BZD", "CAD", "CLP", "COP", "CUP", "FJD", "GYD",
        "JMD", "KYD", "LRD", "MXN", "NAD", "NZD", "SBD", "SGD", "SRD", "TTD", "TWD", "USD", "UYU",
    }
)  # fmt: skip
# signs several currencies share: the room's when it is one of them, else no amount is read from
# that figure (it is asked for), never the figure alone in the room's currency
_SHARED = {
    **dict.fromkeys(("KR", "KR."), frozenset({"SEK", "NOK", "DKK", "ISK"})),
    **dict.fromkeys(("FR", "FR."), frozenset({"CHF"})),
    # and by their names (`\\PAID Priya 500 rupees`, `12 Franken` got the usage)
    **dict.fromkeys(("RS", "RS.", "RUPEE", "RUPEES"), frozenset({"INR", "PKR", "LKR", "NPR", "MUR", "SCR"})),
    **dict.fromkeys(("FRANC", "FRANCS", "FRANKEN"), frozenset({"CHF"})),
    # `\\PAID Lupe 250 pesos` in a Mexican room was answered with the usage alone
    **dict.fromkeys(("PESO", "PESOS"), frozenset({"MXN", "ARS", "CLP", "COP", "UYU", "DOP", "CUP", "PHP"})),
    # the forint's `Ft` in a room of forints (`\AMOUNT 1 490 Ft` got the usage); elsewhere it is
    # feet as often (`rope 12 ft`), and no figure beside it is read
    "FT": frozenset({"HUF"}),
    # the rand's `R` in a room of rand (`\AMOUNT R1490` got the usage, and a caption's `R1 490.00`
    # was counted as 490.00); elsewhere a figure after it is not read as the room's
    "R": frozenset({"ZAR"}),
}


# the names people give a currency for its code (`\\CURRENCY euro`); a name several currencies go by
# (dollar, peso, franc) names none
_NAMES = {
    **dict.fromkeys(("EURO", "EUROS"), "EUR"),
    **dict.fromkeys(("POUND", "POUNDS", "QUID", "STERLING"), "GBP"),
    **dict.fromkeys(("YEN",), "JPY"),
    **dict.fromkeys(("WON",), "KRW"),
    **dict.fromkeys(("RUPEE", "RUPEES"), "INR"),
    **dict.fromkeys(("YUAN", "RMB", "RENMINBI"), "CNY"),
}


def currency_meant(word: str) -> str | None:
    """The code a currency's symbol or name stands for (`\u20ac`, `euro`, `yen`: EUR, EUR, JPY), for a
    `\\CURRENCY` that is no code: told only that it "is not an ISO 4217 currency code". `$` names
    too many dollars to pick one."""
    key = word.strip().upper()
    return _NAMES.get(key) or _symbols().get(key)


def names_money(marker: str) -> bool:
    """Whether `marker` is one a figure is written with: a sign (`£`, `R$`, `zł`), a code (`CHF`),
    a sign several currencies share (`kr`, `Rs.`), the euro's name or `$`. What a figure printed
    beside it is in is `parse_amount`'s to say, in the room's money."""
    key = marker.strip().upper()
    return key == "$" or key in _symbols() or key in _SHARED or currency(key) is not None


@cache
def _amount_pattern() -> re.Pattern[str]:
    markers = sorted({*_symbols(), *_SHARED, "$"}, key=len, reverse=True)  # CA$ before $
    # a sign of letters is a word of its own: `12.50 RMB` is no RM (ringgit) and B
    marker = "|".join(re.escape(m) + ("(?![a-z])" if m.isascii() and m.isalpha() else "") for m in markers)
    # and a code is a word of its own too: `12 eurostar` was €12.00, `rent 2 lakh` LAK 2 (kip)
    marker += "|[A-Z]{3}(?![^\\W\\d_])"
    return re.compile(
        rf"(?<![\w.,])(?:(?P<pre>{marker})\s?)?(?P<num>{_NUMBER})(?:\s?(?P<post>{marker}))?(?![\w.,]*\d)",
        re.IGNORECASE,
    )


def is_figure(text: str) -> bool:
    """Whether a whole text is one amount and nothing else (`42.10`, `$42.10`, `12,50 EUR`), in
    whatever currency: an answer to "Reply \\AMOUNT 12.34" sent without its command (`150k` too)."""
    match = _amount_pattern().fullmatch(_SHORTHAND.sub(_spelled_out, text.strip(), count=1))
    return match is not None and parse_number(match.group("num"), 2) is not None


def parse_number(text: str, exponent: int) -> int | None:
    """`12.50` / `12,50` / `1,234.56` / `1.234,56` / `12` / `1,20,000` (lakhs) -> minor units; None
    when it is not one amount. A separator followed by exactly three digits is a thousands separator, unless the
    currency itself has three decimals or more or what comes before it is 0 (`0.050` is no
    fifty)."""
    text = text.strip()
    if re.fullmatch(_LAKHS, text):  # `1,20,000.50`: no other reading has groups of two
        whole, _, decimals = text.partition(".")
        if len(decimals) > exponent:
            return None
        return int(whole.replace(",", "") + decimals.ljust(exponent, "0"))
    # a space or an apostrophe only ever groups thousands: as the other separator than the one
    # the decimals take (`1 234,56` is French for 1234.56; it read as three groups and was none)
    grouping = "." if "," in text else ","
    text = text.replace("'", grouping).replace(" ", grouping)
    if not re.fullmatch(r"[\d.,]+", text) or not text[0].isdigit() or not text[-1].isdigit():
        return None
    seps = [(i, ch) for i, ch in enumerate(text) if ch in ".,"]
    decimals = ""
    whole = text
    if seps:
        last_i, last_ch = seps[-1]
        tail = text[last_i + 1 :]
        kinds = {ch for _, ch in seps}
        is_decimal = len(kinds) == 2 or (
            len(seps) == 1 and (len(tail) != 3 or exponent >= 3 or text[:last_i].lstrip("0") == "")
        )
        if len(kinds) == 2 and [ch for _, ch in seps].count(last_ch) > 1:
            return None  # 1.234.56: no reading of it is sure
        if is_decimal:
            whole, decimals = text[:last_i], tail
        groups = re.split(r"[.,]", whole)
        if len(groups) > 1 and (len(groups[0]) > 3 or any(len(g) != 3 for g in groups[1:])):
            return None
        whole = "".join(groups)
    if len(decimals) > exponent:
        return None
    return int(whole + decimals.ljust(exponent, "0"))


@dataclass(frozen=True)
class Amount:
    minor: int
    currency: Currency


def dollar_sign_is(room: Currency) -> bool:
    """Whether a `$` alone, typed or printed, is the room's money: money shown with a sign that
    holds one (`$`, `CA$`, `R$`), or written with a `$` at home (`DOLLAR_AT_HOME`: Chilean pesos,
    Singapore dollars); else it is US dollars."""
    return "$" in room.symbol or room.code in DOLLAR_AT_HOME


def _marker_currency(marker: str | None, room: Currency, *, after: bool = False) -> Currency | bool | None:
    """The currency a marker names: a Currency, None (no marker), False (not a currency), or
    True (a sign several currencies share, none of them the room's: `12,50 kr` in a euro room).
    `after`: the marker follows the figure (`3000 yen`); before one, `yen` is a word (`dinner
    with Yen 30.00` is $30.00, Yen a friend)."""
    if not marker:
        return None
    shared = _SHARED.get(marker.upper())
    if shared is not None:
        return room if room.code in shared else True
    if not after and marker.upper() in _AFTER_ONLY:
        return False
    if marker == "$":
        return room if dollar_sign_is(room) else currency("USD")
    code = _symbols().get(marker.upper())
    return currency(code or marker) or False


def parse_amount(text: str, room: Currency, *, uncapped: bool = False) -> Amount | None:
    """An amount someone typed (`\\AMOUNT 12.34`, `\\PAID Bob 7,72`, `EUR 12.50`): the whole text
    is one amount, with an optional currency symbol or code. None when it is not. `uncapped`: one
    above `Currency.largest` too (a payment that settles a larger debt)."""
    found = [amount for amount, _ in _found_in(_cents_alone(text), room, whole=True, uncapped=uncapped)]
    return found[0] if len(found) == 1 else None


# a typed figure that starts at its decimal mark: `.50`, `$.50`, `,5 EUR`, as cents are written
_CENTS_ALONE = re.compile(r"(?<![\w.,])([.,]\d{1,2})(?![\d.,])")


def _cents_alone(text: str) -> str:
    """`\\PAID Bob .50` got the usage: the figure is read as `0.50` (typed amounts only; in a
    caption a lone `.5` may be anything)."""
    return _CENTS_ALONE.sub(r"0\1", text) if "." in text or "," in text else text


def is_zero(text: str, room: Currency) -> bool:
    """Whether a typed amount is nothing in the room's currency: `0`, `0.00`, `$0`, `0,00 USD`
    (`\\AMOUNT 0` takes a receipt out; `\\AMOUNT $0.00` was answered with the usage)."""
    match = _amount_pattern().fullmatch(text.strip())
    if match is None:
        return False
    for marker, after in ((match.group("pre"), False), (match.group("post"), True)):
        cur = _marker_currency(marker, room, after=after)
        if cur is False or (cur is not None and cur != room):
            return False
    return parse_number(match.group("num"), room.exponent) == 0


def unclear_amount(text: str, room: Currency, *, command: str = "", after: str = "") -> str | None:
    """What to ask when a typed amount reads two ways, else None. One dot followed by exactly
    three digits (`12.345`, `1.200`) in a currency with one or two decimals is a thousands
    separator to some and a mistyped decimal part to others: `parse_amount` reads thousands, and
    a payment of $12,345.00 texted to a member must not be the guess. `command`: what each figure
    the answer offers is sent with (`\\AMOUNT `, `\\PAID Bob `: a bare figure, as "send 12.35"
    had it, is a post to X); `after`: what follows each figure (` @1.08`, the rate typed)."""
    stripped = text.strip()
    match = _amount_pattern().fullmatch(stripped)
    found = parse_amount(stripped, room)
    if match is None or found is None:
        return None
    return _two_readings(match.group("num"), found, room, command, after)


def _two_readings(num: str, found: Amount, room: Currency, command: str, after: str = "") -> str | None:
    """The question when `num`, read as `found`, could also be a decimal part mistyped. Its
    figures go back as they are: in the room's currency bare, else with their currency (a bare
    12345.00 sent back for a receipt in euros would count as $12345.00 in a dollar room)."""
    if not 0 < found.currency.exponent < 3:
        return None
    if not re.fullmatch(r"\d{1,3}\.\d{3}", num) or not int(num.split(".")[0]):
        return None
    cur = found.currency
    rounded = Decimal(num).quantize(Decimal(1).scaleb(-cur.exponent), rounding=ROUND_HALF_UP)
    small = int(rounded.scaleb(cur.exponent))
    if not cur.takes(small):
        return None
    how = f"reply {command}" if command else "send "
    if after:  # at a rate: the figures are in the money typed, not what they count in the room
        big, little = (cur.number(m) if cur == room else cur.format(m) for m in (found.minor, small))
        return f"{num} is unclear: {how}{big}{after} or {command}{little}{after}."
    if cur != room:
        return f"{num} is unclear: {how}{cur.format(found.minor)} or {command}{cur.format(small)}."
    return (
        f"{num} is unclear: {how}{cur.number(found.minor)} for {cur.format(found.minor)}, "
        f"or {command}{cur.number(small)} for {cur.format(small)}."
    )


def amounts_in(text: str, room: Currency, *, whole: bool = False) -> list[Amount]:
    """Amounts in free text (a caption): numbers with decimals or with a currency marker; a bare
    whole number counts only when it is all the text. Distinct values, in order."""
    return [amount for amount, _ in _found_in(text, room, whole=whole)]


# an Arabic keyboard's decimal and thousands separators (its digits are digits already): a caption
# `\u0661\u0662\u066b\u0665\u0660` was no total
_ARABIC = str.maketrans({"\u066b": ".", "\u066c": ","})
# `12,-`, `12.\u2013`, `1.234,-`: whole units, as prices are written in Germany, Austria,
# Switzerland, the Netherlands and Scandinavia (`\\AMOUNT 12,-` got the usage, a caption `Pizza
# 12,- \u20ac` no total): read as `12,00`, with the separator the figure uses
_WHOLE_UNITS = re.compile(r"(?<=\d)([.,])[-\u2013\u2014](?!\w)")
# `12\u20ac50`: the euro's sign in place of the decimal comma, as prices are written in France,
# Belgium and Portugal (`\\AMOUNT 12\u20ac50` got the usage, a caption `resto 23\u20ac80` no total):
# read as `12,50 \u20ac`. Two digits after the sign only: they are its cents
_SIGN_AS_MARK = re.compile(r"(?<=\d)\u20ac(\d{2})(?![\d.,]*\d)")
# `450/-`, `Rs. 1,200/-`, `1,23,456.78/-`: the "and no paise" mark of Indian (and Pakistani, Sri
# Lankan, Bangladeshi) prices: `\\PAID Priya Rs. 450/-` got the usage, a caption `dinner 450/-` no
# total. A whole figure gets `.00`, one with decimals stays as it is
_SLASH_DASH = re.compile(r"(?<![\d/])(\d(?:[\d,' ]*\d)?)([.,]\d{1,2})?/[-\u2013\u2014](?!\w)")


def _slash_dash(match: re.Match[str]) -> str:
    return match.group(1) + (match.group(2) or ".00")


# the apostrophe Swiss figures group thousands with (`1'234.50`), as an iPhone's smart punctuation
# sends it, curly: `\\AMOUNT 1\u2019234.50` got the usage
_CURLY_GROUPING = re.compile(r"(?<=\d)\u2019(?=\d{3}(?!\d))")


# A figure typed with a word for its thousands or millions, as people text prices: `150k`
# (Vietnam, Indonesia, anywhere), `150rb` (ribu), `1,5jt` (juta), `1tr5` (triệu: 1.5 million),
# `15만원`, `1.2万`, `2 lakh`, `1 crore`. Read in a typed amount only (all of `\AMOUNT` or a
# `\PAID` figure): in a caption `5k run` is no amount. Digits after the word go on as its
# decimals (`1tr5`, `2k5`), as Vietnamese type them.
_SHORTHAND = re.compile(
    r"(?<![\d.,])(?P<num>\d+(?:[.,]\d+)?)\s?"
    r"(?P<word>k|rb|ribu|jt|juta|tr|triệu|trieu|万|萬|만|lakhs?|lacs?|crores?|cr)"
    r"(?P<more>\d{1,3})?(?![A-Za-z\d])",
    re.IGNORECASE,
)
_SHORTHAND_TIMES = {
    **dict.fromkeys(("k", "rb", "ribu"), 1_000),
    **dict.fromkeys(("万", "萬", "만"), 10_000),
    **dict.fromkeys(("lakh", "lakhs", "lac", "lacs"), 100_000),
    **dict.fromkeys(("jt", "juta", "tr", "triệu", "trieu"), 1_000_000),
    **dict.fromkeys(("cr", "crore", "crores"), 10_000_000),
}


def _spelled_out(match: re.Match[str]) -> str:
    """`150k` as `150000`, `1tr5` as `1500000`, `1.2万` as `12000`: the figure in plain digits."""
    num, more = match.group("num").replace(",", "."), match.group("more")
    if more:
        if "." in num:
            return match.group()  # `1.5tr5`: no figure
        num = f"{num}.{more}"
    figure = Decimal(num) * _SHORTHAND_TIMES[match.group("word").lower()]
    return format(figure.normalize(), "f")


def _found_in(
    text: str, room: Currency, *, whole: bool = False, uncapped: bool = False
) -> list[tuple[Amount, str]]:
    """`amounts_in`, each with its figure as typed (`1.200`). Read after NFKC: a full-width
    keyboard's `\uff11\uff12\uff0c\uff15\uff10 \u20ac` was \u20ac50.00 (its comma no separator, the 50 after
    it taken alone) and its `\uffe5` or `\uff04` no currency."""
    typed = _CURLY_GROUPING.sub("'", unicodedata.normalize("NFKC", text).translate(_ARABIC))
    stripped = _SLASH_DASH.sub(_slash_dash, _WHOLE_UNITS.sub(r"\g<1>00", typed.strip()))
    stripped = _SIGN_AS_MARK.sub(",\\1 \u20ac", stripped)
    if whole:
        stripped = _SHORTHAND.sub(_spelled_out, stripped, count=1)
    found: list[tuple[Amount, str]] = []
    for m in _amount_pattern().finditer(stripped):
        if whole and (m.start() != 0 or m.end() != len(stripped)):
            continue
        if m.start() > 0 and stripped[m.start() - 1] in "-\u2212":
            continue  # "refund -12.50": no expense (a charge was counted for it)
        pre, post = m.group("pre"), m.group("post")
        cur_pre, cur_post = _marker_currency(pre, room), _marker_currency(post, room, after=True)
        if cur_pre is True or cur_post is True:
            continue  # `12,50 kr` in a euro room: some krona or krone, not a euro; asked for
        # `2,500 rupees`, `1,200 people`: a word after the figure may say it is no room's money
        word_after = cur_post is False or re.match(r"\s*[^\W\d_]", stripped[m.end() :]) is not None
        if cur_pre is False or cur_post is False:
            if whole:
                return []
            # a word that is no currency ("lunch 12.50", "12.50 and"): the number alone counts
            cur_pre = None if cur_pre is False else cur_pre
            cur_post = None if cur_post is False else cur_post
        if cur_pre and cur_post and cur_pre != cur_post:
            continue
        cur = cur_pre or cur_post or room
        assert isinstance(cur, Currency)
        num = m.group("num")
        has_decimals = bool(re.search(r"[.,]\d{1,4}$", num)) and parse_number(num, 0) is None
        marked = bool(cur_pre or cur_post)
        # a currency with no decimals (yen, won) shows a price by its thousands instead: a yen
        # room's "ramen 1,200" was "it doesn't look like a receipt"
        grouped = cur.exponent == 0 and bool(re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", num))
        # and in any money a figure with a thousands' mark is one, as it is alone (no count or
        # table number has one), unless a word follows it: "dinner 1,200" is $1,200.00 as "1,200"
        # is, "dinner 1.200" asked about as "1.200" is, a dinar room's "lunch 12.345" BD 12.345:
        # each was no amount at all
        marked_thousands = not word_after and bool(re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", num))
        if not (has_decimals or marked or grouped or marked_thousands or num == stripped):
            continue
        # in free text a space before three digits reads two ways (`dinner for 3 120.00` is no
        # $3120.00): both readings are found, so a caption of them is no one amount
        # (after a sign it is one figure: no count comes between a sign and its figure, `R1 490.00`)
        readings = [num, num.rsplit(" ", 1)[1]] if " " in num and not whole and not cur_pre else [num]
        for figure in readings:
            minor = parse_number(figure, cur.exponent)
            if minor is None or not (cur.takes(minor) or (uncapped and minor > 0)):
                continue
            amount = Amount(minor, cur)
            if all(amount != seen for seen, _ in found):
                found.append((amount, figure))
    return found


def caption_amount(caption: str, room: Currency) -> Amount | None:
    """The amount in a caption when there is exactly one (`$12.50`, `12,50`, `EUR 12.50`,
    `lunch 12.50`) and it reads one way; several different amounts are no answer, and neither is
    one that `unclear_caption` asks about (`dinner 1.200`: not guessed to be $1,200.00)."""
    found = _found_in(caption, room)
    if len(found) != 1 or _two_readings(found[0][1], found[0][0], room, "") is not None:
        return None
    return found[0][0]


# every figure in a text: digits, with what separates groups or decimals between them
_FIGURES = re.compile(r"\d+(?:[.,' ]\d+)*")


def caption_figure(caption: str, room: Currency) -> Amount | None:
    """The one number of a caption that has no amount, when it is a whole number the room's
    currency takes (`dinner 30`, `30 pizza`): not counted (`table 4` is no $4.00), but the
    figure a "no total found" reply offers (`\\AMOUNT 30`) instead of one to fill in (12.34),
    which told a person who had typed the total to type a total. None for no number or several
    (`pizza for 4 48`)."""
    typed = unicodedata.normalize("NFKC", caption).translate(_ARABIC)
    # `rent 2 lakh` offers 200000, not 2 (a figure's word is offered, never counted, here)
    typed = _SHORTHAND.sub(_spelled_out, typed)
    figures = _FIGURES.findall(typed)
    if len(figures) != 1 or not figures[0].isdigit():
        return None
    for found in _amount_pattern().finditer(typed):
        # by a sign of other money (`thali Rs. 450` in a dollar room: a rupee sign, or another's),
        # never offered in the room's: `\AMOUNT 450.00` would count $450
        for group, after in (("pre", False), ("post", True)):
            named = _marker_currency(found.group(group), room, after=after)
            if named is True or (isinstance(named, Currency) and named != room):
                return None
    minor = parse_number(figures[0], room.exponent)
    return Amount(minor, room) if minor is not None and room.takes(minor) else None


def unclear_caption(caption: str, room: Currency) -> str | None:
    """What to ask when a caption's one amount reads two ways (`12.345`, `lunch $1.200`, `ordi
    1 234,56 $`), as `unclear_amount` asks of a typed one; else None."""
    found = _found_in(caption, room)
    if len(found) == 2 and " " in found[0][1] and found[0][1].rsplit(" ", 1)[1] == found[1][1]:
        # `ordi 1 234,56 $`, as Quebec and France write a thousand, is a count and a price to
        # others (`for 3 120.00`): it was answered "no total found", as if nothing was typed
        (big, figure), (small, _) = found
        cur, command = big.currency, "\\AMOUNT "
        if cur != room:
            return f"{figure} is unclear: reply {command}{cur.format(big.minor)} or {command}{cur.format(small.minor)}."
        return (
            f"{figure} is unclear: reply {command}{cur.number(big.minor)} for {cur.format(big.minor)}, "
            f"or {command}{cur.number(small.minor)} for {cur.format(small.minor)}."
        )
    return _two_readings(found[0][1], found[0][0], room, "\\AMOUNT ") if len(found) == 1 else None


def caption_too_big(caption: str, room: Currency) -> str | None:
    """What to say of a caption whose one amount is more than an amount may be (`$2,000,000`, a
    zero too many): it was left out without a word, the photo's reply saying "no total found" of
    a total the person had typed. As `\\AMOUNT` says it of one typed; else None."""
    found = _found_in(caption, room, uncapped=True)
    if len(found) != 1 or found[0][0].currency.takes(found[0][0].minor):
        return None
    amount, cur = found[0][0], found[0][0].currency
    return f"{cur.format(amount.minor)} is more than an amount may be: at most {cur.format(cur.largest)}."


__all__ = [
    "DEFAULT_CURRENCY",
    "DOLLAR_AT_HOME",
    "Amount",
    "Currency",
    "amounts_in",
    "caption_amount",
    "caption_figure",
    "caption_too_big",
    "currency",
    "currency_meant",
    "currency_or_default",
    "dollar_sign_is",
    "in_use",
    "is_figure",
    "is_zero",
    "names_money",
    "parse_amount",
    "parse_number",
    "printed_whole",
    "shown",
    "signs",
    "unclear_amount",
    "unclear_caption",
    "writes_decimal_point",
]
