"""bot/features/ledger/money.py: minor units, ISO 4217 exponents, amounts people type."""

from __future__ import annotations

import random

import pytest
from babel.numbers import list_currencies

from bot.features.ledger.money import (
    Amount,
    amounts_in,
    caption_amount,
    caption_figure,
    currency,
    currency_or_default,
    is_figure,
    is_zero,
    parse_amount,
    parse_number,
    unclear_amount,
    unclear_caption,
    writes_decimal_point,
)

USD = currency("USD")
assert USD is not None


def read_as(text: str, room: str) -> tuple[int, str] | None:
    """What `text`, typed in a room of `room`, is read as: (minor units, code), or None."""
    cur = currency(room)
    assert cur is not None
    found = parse_amount(text, cur)
    return None if found is None else (found.minor, found.currency.code)


def test_currencies_have_their_exponents_and_gsm_symbols() -> None:
    assert currency("usd") == USD
    assert (USD.exponent, USD.symbol) == (2, "$")
    jpy, bhd, inr, eur = currency("JPY"), currency("BHD"), currency("INR"), currency("EUR")
    assert jpy is not None
    assert jpy.exponent == 0
    assert bhd is not None
    assert bhd.exponent == 3
    assert eur is not None
    assert eur.format(1250) == "€12.50"
    assert inr is not None
    assert inr.format(1250) == "INR 12.50"
    assert jpy.format(1200) == "¥1,200"
    assert USD.format(-5) == "-$0.05"
    assert currency("XYZ") is None
    assert currency("US") is None
    assert currency_or_default(None) == USD


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("12.50", 1250),
        ("12,50", 1250),
        ("12.5", 1250),
        ("12", 1200),
        ("1,234.56", 123456),
        ("1.234,56", 123456),
        ("1,234", 123400),
        ("1.234.56", None),
        ("12.345", 1234500),
        ("0.050", None),  # no thousands group starts at 0: three decimals, more than cents
        ("0,001", None),
        ("00.125", None),
        ("0.05", 5),
        ("12.3456", None),
        ("abc", None),
        ("12,34,5", None),
    ],
)
def test_parse_number(text: str, minor: int | None) -> None:
    assert parse_number(text, 2) == minor


def test_parse_number_three_decimals() -> None:
    assert parse_number("1.234", 3) == 1234


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("1,20,000", 12000000),
        ("1,23,456.78", 12345678),
        ("12,34,567", 123456700),
        ("1,00,000.5", 10000050),
        ("1,20,000.505", None),  # more decimals than rupees have
        ("1,2,345", None),
        ("12,34,5", None),
        ("1 20 000", None),  # spaces group thousands only
    ],
)
def test_parse_number_in_lakhs(text: str, minor: int | None) -> None:
    assert parse_number(text, 2) == minor


def test_an_amount_grouped_in_lakhs_is_read_as_indian_groups_write_it() -> None:
    """`\\AMOUNT 1,20,000`, `\\PAID Ravi 60,000`, a caption `rent ₹1,20,000`: in an INR room the
    rent of 1.2 lakh rupees was answered with the usage, and its photo was "no total found"."""
    inr = currency("INR")
    assert inr is not None
    for text, minor in (("1,20,000", 12000000), ("₹1,23,456.78", 12345678), ("INR 1,20,000", 12000000)):
        found = parse_amount(text, inr)
        assert found is not None, text
        assert (found.minor, found.currency.code) == (minor, "INR")
        assert unclear_amount(text, inr) is None
    found = caption_amount("rent ₹1,20,000 for March", inr)
    assert found is not None
    assert (found.minor, found.currency.code) == (12000000, "INR")
    crore = parse_amount("INR 1,00,00,000", inr)  # ten million rupees: $115,000, below a million dollars
    assert crore is not None
    assert crore.minor == 1_00_00_000_00
    assert parse_amount("INR 1,00,00,00,000", inr) is None  # a hundred crore: above what an amount may be


@pytest.mark.parametrize(
    ("caption", "minor", "code"),
    [
        ("$12.50", 1250, "USD"),
        ("12.50", 1250, "USD"),
        ("12,50", 1250, "USD"),
        ("EUR 12.50", 1250, "EUR"),
        ("12.50 eur", 1250, "EUR"),
        ("€12,50", 1250, "EUR"),
        ("lunch 12.50", 1250, "USD"),
        ("2 pizzas 25.00", 2500, "USD"),
        ("$5 tip", 500, "USD"),
        ("25", 2500, "USD"),
    ],
)
def test_caption_amounts(caption: str, minor: int, code: str) -> None:
    found = caption_amount(caption, USD)
    assert found is not None
    assert (found.minor, found.currency.code) == (minor, code)


@pytest.mark.parametrize(
    ("caption", "room", "minor", "code"),
    [
        # how people write yen, won and rupees: a yen room's "ramen 3000円" was "no total found"
        ("ramen 3000円", "JPY", 3000, "JPY"),
        ("3,000円", "JPY", 3000, "JPY"),
        ("ramen 3000 yen", "JPY", 3000, "JPY"),
        ("3000円", "USD", 3000, "JPY"),  # another currency: kept, not counted
        # with no decimals, its thousands show a price: "ramen 1,200" was "doesn't look like a receipt"
        ("ramen 1,200", "JPY", 1200, "JPY"),
        ("chikin 18,000", "KRW", 18000, "KRW"),
        ("ramen 1.200", "JPY", 1200, "JPY"),
        ("₩5000", "KRW", 5000, "KRW"),
        ("5000원", "KRW", 5000, "KRW"),
        ("₹600", "INR", 60000, "INR"),
        # "yen" before a figure is a word (a friend called Yen), not the currency
        ("dinner with Yen 30.00", "USD", 3000, "USD"),
        # a full-width keyboard's digits, separators and signs: \uff11\uff12\uff0c\uff15\uff10 \u20ac was \u20ac50.00
        ("\u30e9\u30f3\u30c1\u3000\uff11\uff12\uff0c\uff15\uff10 \u20ac", "USD", 1250, "EUR"),
        ("\u30e9\u30f3\u30c1 \uff11\uff12\uff0e\uff15\uff10", "USD", 1250, "USD"),
        ("\uffe5\uff11,\uff12\uff10\uff10", "JPY", 1200, "JPY"),
        ("lunch \uff04\uff18", "USD", 800, "USD"),
        # the signs people write by their own money: `12,50 z\u0142` was counted as the room's 12.50
        ("lunch 12,50 z\u0142", "EUR", 1250, "PLN"),
        # typed on a keyboard with no \u0142, as Poles often write it
        ("lunch 12,50 zl", "EUR", 1250, "PLN"),
        ("obiad 12,50 ZL", "EUR", 1250, "PLN"),
        ("obiad 12 z\u0142otych", "USD", 1200, "PLN"),
        ("\u20bd500", "EUR", 50000, "RUB"),
        ("taxi 50 \u20aa", "USD", 5000, "ILS"),
        ("\u20ba12,50", "EUR", 1250, "TRY"),
        ("kebap 12,50 TL", "EUR", 1250, "TRY"),
        ("oběd 249,90 K\u010d", "EUR", 24990, "CZK"),
        ("nasi lemak RM 12.50", "USD", 1250, "MYR"),
        ("dinner 12.50 RMB", "USD", 1250, "CNY"),
        # a sign several currencies share is the room's when it is one of them
        ("fika 45,50 kr", "SEK", 4550, "SEK"),
        ("Fr. 12.50", "CHF", 1250, "CHF"),
        ("tacos 250 pesos", "MXN", 25000, "MXN"),
        # the euro by its name after a figure; before one a word (`Euro 2024 final 30,00`)
        ("cena 23,40 euros", "EUR", 2340, "EUR"),
        ("lunch 12,50 euros", "USD", 1250, "EUR"),
        ("Euro 2024 final 30,00", "EUR", 3000, "EUR"),
        ("pesos 1,250.00", "MXN", 125000, "MXN"),
        ("asado 12.000 pesos", "CLP", 12000, "CLP"),
        # whole units as German, Swiss, Dutch and Scandinavian prices write them: no total found
        ("Pizza 12,- \u20ac", "USD", 1200, "EUR"),
        ("Pizza 12,-", "EUR", 1200, "EUR"),
        ("Fr. 12.-", "CHF", 1200, "CHF"),
        ("Miete 1.234,\u2013", "EUR", 123400, "EUR"),
        # an Arabic keyboard's digits and separators
        ("\u063a\u062f\u0627\u0621 \u0661\u0662\u066b\u0665\u0660", "USD", 1250, "USD"),
        ("\u0661\u066c\u0662\u0663\u0664\u066b\u0665\u0660 \u20ac", "USD", 123450, "EUR"),
    ],
)
def test_caption_amounts_as_people_write_them(caption: str, room: str, minor: int, code: str) -> None:
    cur = currency(room)
    assert cur is not None
    found = caption_amount(caption, cur)
    assert found is not None
    assert (found.minor, found.currency.code) == (minor, code)


@pytest.mark.parametrize(
    "caption",
    [
        "",
        "dinner",
        "tea 3",
        "12.50 and 3.00",
        "call 555-1234",
        "0.00",
        "refund -12.50",
        "-$5.00",
        "back \u22127.20",
        # a space before three digits: a count and a price, or thousands (`1 234,56`)? It was
        # $3120.00 and $12250.00
        "dinner for 3 120.00",
        "table 12 250.00",
        "taxi 1 234,56",
        # a sign several currencies share, none of them the room's (USD): which krona? Asked
        "fika 45,50 kr",
        "kr 45,50",
        "Fr. 12.50",
        "thali Rs. 450.00",
        "tacos 250 pesos",  # which peso? Asked in a dollar room, never $250.00
    ],
)
def test_captions_without_one_amount(caption: str) -> None:
    assert caption_amount(caption, USD) is None


@pytest.mark.parametrize(
    ("caption", "asked"),
    [
        (
            "12.345",
            "12.345 is unclear: reply \\AMOUNT 12345.00 for $12,345.00, or \\AMOUNT 12.35 for $12.35.",
        ),
        (
            "dinner $1.200",
            "1.200 is unclear: reply \\AMOUNT 1200.00 for $1,200.00, or \\AMOUNT 1.20 for $1.20.",
        ),
        ("taxi 1,200.00", None),
        ("lunch 12.50", None),
        ("tea 3", None),
    ],
)
def test_a_caption_amount_that_reads_two_ways_is_asked_about_not_taken(
    caption: str, asked: str | None
) -> None:
    """`dinner $1.200` was a receipt of $1200.00, counted without a question."""
    assert unclear_caption(caption, USD) == asked
    if asked is not None:
        assert caption_amount(caption, USD) is None


def test_parse_amount_is_the_whole_text() -> None:
    assert parse_amount("7.72", USD) is not None
    assert parse_amount("7.72 please", USD) is None
    assert parse_amount("XYZ 7.72", USD) is None
    assert parse_amount("1000001", USD) is None  # over the limit: a typo, not a bill
    mxn = currency("MXN")
    assert mxn is not None
    found = parse_amount("250 pesos", mxn)  # `\\PAID Lupe 250 pesos` got the usage alone
    assert found is not None
    assert (found.minor, found.currency.code) == (25000, "MXN")
    euro = currency("EUR")
    assert euro is not None
    found = parse_amount("8,40 euros", euro)  # `\\PAID Begoña 8,40 euros` got the usage
    assert found is not None
    assert (found.minor, found.currency.code) == (840, "EUR")
    assert amounts_in("12.50 12.50", USD) == amounts_in("12.50", USD)


@pytest.mark.parametrize(
    ("typed", "room", "minor", "code"),
    [
        ("500 rupees", "INR", 50000, "INR"),
        ("1,200 rupee", "PKR", 120000, "PKR"),
        ("10 reais", "BRL", 1000, "BRL"),
        ("10,50 reais", "USD", 1050, "BRL"),
        ("40 z\u0142otych", "PLN", 4000, "PLN"),
        ("40 zloty", "EUR", 4000, "PLN"),
        ("12 francs", "CHF", 1200, "CHF"),
        ("12 Franken", "CHF", 1200, "CHF"),
    ],
)
def test_a_typed_amount_with_its_moneys_name_after_it_is_that_amount(
    typed: str, room: str, minor: int, code: str
) -> None:
    """`\\PAID Ana 500 rupees` in a room of rupees, `10 reais` in one of reais, `40 z\u0142otych`,
    `12 Franken` got the usage, where `250 pesos` and `8,40 euros` were read. A name several
    moneys go by (rupees, francs) is the room's when it is one of them, as `kr` is."""
    cur = currency(room)
    assert cur is not None
    found = parse_amount(typed, cur)
    assert found is not None
    assert (found.minor, found.currency.code) == (minor, code)


def test_a_moneys_name_several_go_by_is_no_amount_in_a_room_of_other_money() -> None:
    assert parse_amount("500 rupees", USD) is None
    assert caption_amount("thali 500 rupees", USD) is None
    assert parse_amount("12 francs", USD) is None


def test_a_typed_amount_in_whole_units_with_a_dash_is_that_amount() -> None:
    """`\\AMOUNT 12,-` (German, Swiss, Dutch, Scandinavian prices) got the usage."""
    eur = currency("EUR")
    assert eur is not None
    assert parse_amount("12,-", eur) == Amount(1200, eur)
    assert parse_amount("\u20ac 1.234,-", USD) == Amount(123400, eur)
    assert parse_amount("12.\u2013", USD) == Amount(1200, USD)
    assert parse_amount("12,-5", USD) is None
    assert amounts_in("refund -12,-", USD) == []


def test_an_amount_with_the_euro_sign_in_place_of_its_decimal_mark_is_that_amount() -> None:
    """`12\u20ac50`, as prices are written in France, Belgium and Portugal: `\\AMOUNT 12\u20ac50` and
    `\\PAID Zoe 8\u20ac40` got the usage, a caption `resto 23\u20ac80` was no total. Two digits after
    the sign are its cents; other figures around a sign stay no amount."""
    eur = currency("EUR")
    assert eur is not None
    assert parse_amount("12\u20ac50", eur) == Amount(1250, eur)
    assert parse_amount("1.234\u20ac56", USD) == Amount(123456, eur)
    assert caption_amount("resto 23\u20ac80", eur) == Amount(2380, eur)
    assert parse_amount("12\u20ac5", eur) is None
    assert parse_amount("12\u20ac500", eur) is None


def test_an_indian_amount_ending_in_slash_dash_is_that_amount() -> None:
    """`Rs. 450/-` (no paise, as Indian prices and bills are written): `\\PAID Priya Rs. 450/-`
    got the usage and a caption `dinner 450/-` was no total; lakhs and decimals stay as written,
    and a date's slash is no amount."""
    inr = currency("INR")
    assert inr is not None
    assert parse_amount("Rs. 450/-", inr) == Amount(45000, inr)
    assert parse_amount("450/-", inr) == Amount(45000, inr)
    assert parse_amount("\u20b91,20,000/-", inr) == Amount(12000000, inr)
    assert parse_amount("1,23,456.78/-", inr) == Amount(12345678, inr)
    assert parse_amount("INR 450.5/-", inr) == Amount(45050, inr)
    assert caption_amount("dinner 450/-", inr) == Amount(45000, inr)
    assert caption_amount("paid 27/11/-", inr) is None
    assert parse_amount("450/-5", inr) is None


def test_thousands_grouped_with_a_phones_curly_apostrophe_are_thousands() -> None:
    """Swiss figures group thousands with an apostrophe (`1'234.50`), which an iPhone's smart
    punctuation sends as a curly one: `\\AMOUNT 1\u2019234.50` got the usage, and a caption
    `Znacht CHF 1\u2019234.50` was no total."""
    chf = currency("CHF")
    assert chf is not None
    assert parse_amount("1\u2019234.50", chf) == Amount(123450, chf)
    assert parse_amount("CHF 1\u2019234.50", USD) == Amount(123450, chf)
    assert amounts_in("Znacht CHF 1\u2019234.50", chf) == [Amount(123450, chf)]
    assert amounts_in("Zo\u00eb\u2019s lunch 12.50", USD) == [Amount(1250, USD)]


@pytest.mark.parametrize(
    ("text", "code", "asked"),
    [
        ("12.345", "USD", "12.345 is unclear: send 12345.00 for $12,345.00, or 12.35 for $12.35."),
        ("$1.200", "USD", "1.200 is unclear: send 1200.00 for $1,200.00, or 1.20 for $1.20."),
        # in another currency than the room's, each figure keeps it: a bare 12345.00 sent back as
        # the reply said was $12345.00, counted in a dollar room
        ("12.345 EUR", "USD", "12.345 is unclear: send €12,345.00 or €12.35."),
        (
            "1,200",
            "USD",
            None,
        ),  # a comma before three digits is a thousands separator: no currency has 3 decimals to mean
        ("12.34", "USD", None),
        ("1.234,50", "EUR", None),  # both separators: clear
        ("0.050", "USD", None),  # no fifty: not an amount at all (parse_amount says None)
        ("1.200", "JPY", None),  # no decimals in yen: a thousands separator only
        ("12.345", "BHD", None),  # three decimals in dinars: a decimal part only
    ],
)
def test_a_typed_amount_that_reads_two_ways_is_asked_about(text: str, code: str, asked: str | None) -> None:
    room = currency(code)
    assert room is not None
    assert unclear_amount(text, room) == asked


@pytest.mark.parametrize(
    "code", ["USD", "CAD", "AUD", "MXN", "NZD", "HKD", "CNY", "EUR", "GBP", "JPY", "XAF", "INR"]
)
def test_every_amount_as_shown_reads_back_as_itself(code: str) -> None:
    """What a reply shows (`CA$72.88`, `¥1234`, `FCFA 500`, `INR 12.50`), a person may send back."""
    cur = currency(code)
    assert cur is not None
    minor = 7288 * 10 ** max(cur.exponent - 2, 0)
    for room in (USD, cur):
        assert parse_amount(cur.format(minor), room) == Amount(minor, cur), (code, room.code)
    assert parse_amount(cur.format(minor).lower(), cur) == Amount(minor, cur)
    assert parse_amount(cur.example, cur) is not None  # the hint's figure is one this currency takes
    assert parse_amount(cur.number(minor), cur) == Amount(minor, cur)


def test_a_hint_shows_a_figure_of_the_currencys_decimals() -> None:
    examples = {code: c.example for code in ("USD", "JPY", "BHD") if (c := currency(code))}
    assert examples == {"USD": "12.34", "JPY": "1234", "BHD": "12.340"}
    jpy = currency("JPY")
    assert jpy is not None
    assert parse_amount("12.34", jpy) is None  # why yen rooms are not shown 12.34


@pytest.mark.parametrize("code", sorted(list_currencies()))
def test_every_amount_a_room_shows_reads_back_as_that_amount(code: str) -> None:
    """Replies show amounts to be sent back as they are (`\\AMOUNT CLF 12.3400`, the hint
    `\\AMOUNT 12.3400`): in a room of a currency with four decimals (CLF, UYW) no figure with
    four decimals was an amount, so the usage's own example got the usage again."""
    cur = currency(code)
    if cur is None:
        return  # a code `\\CURRENCY` refuses
    rng = random.Random(code)
    samples = {1, cur.minor_of_major(1), cur.largest, *(rng.randint(1, cur.largest) for _ in range(40))}
    for minor in sorted(samples):
        for shown in (cur.number(minor), cur.format(minor)):
            assert parse_amount(shown, cur) == Amount(minor, cur), shown
    assert parse_amount(cur.example, cur) is not None


@pytest.mark.parametrize(
    ("text", "code", "zero"),
    [
        ("0", "USD", True),
        ("0.00", "USD", True),
        ("$0", "USD", True),
        ("$0.00", "USD", True),
        ("0,00 USD", "USD", True),
        ("0.0", "USD", True),
        ("0.000", "BHD", True),
        ("¥0", "JPY", True),
        ("€0", "USD", False),  # nothing in another currency: no amount of this room's
        ("0.01", "USD", False),
        ("zero", "USD", False),
        ("", "USD", False),
    ],
)
def test_a_zero_typed_as_amounts_are_written_is_zero(text: str, code: str, zero: bool) -> None:
    """`\\AMOUNT $0.00` (as replies show amounts) takes a receipt out as `\\AMOUNT 0` does: it
    was answered with the usage, which says 0 takes it out."""
    cur = currency(code)
    assert cur is not None
    assert is_zero(text, cur) is zero


@pytest.mark.parametrize(
    ("text", "room", "minor", "code"),
    [
        ("Rs 500", "INR", 50000, "INR"),
        ("Rs.450", "INR", 45000, "INR"),
        ("Rs. 1,20,000", "INR", 12000000, "INR"),
        ("500 Rs", "INR", 50000, "INR"),
        ("Rs 500", "PKR", 50000, "PKR"),  # the room's own rupee
        ("US$45", "USD", 4500, "USD"),
        ("US$ 45.00", "CAD", 4500, "USD"),  # in a Canadian room, $ alone is CA$
    ],
)
def test_rupees_and_us_dollars_as_people_write_them(text: str, room: str, minor: int, code: str) -> None:
    """`\\AMOUNT Rs 500` in a rupee room and `\\AMOUNT US$45` were answered with the usage."""
    assert read_as(text, room) == (minor, code)


def test_rs_in_a_room_of_no_rupee_is_asked_never_the_rooms() -> None:
    """Rs is India's, Pakistan's, Sri Lanka's, Nepal's, ... rupee: in a dollar room it is no amount
    (asked for), never 500 of the room's dollars."""
    usd = currency("USD")
    assert usd is not None
    assert parse_amount("Rs 500", usd) is None
    assert caption_amount("auto Rs 500", usd) is None


def test_rs_inside_a_word_is_no_rupee() -> None:
    inr = currency("INR")
    assert inr is not None
    assert caption_amount("drinks 12.50", inr) == Amount(1250, inr)
    assert caption_amount("Mrs. Rao's cab 450.00", inr) == Amount(45000, inr)


@pytest.mark.parametrize(
    ("caption", "code", "offered"),
    [
        ("dinner 30", "USD", 3000),
        ("30 pizza", "EUR", 3000),
        ("ramen 1200", "JPY", 1200),
        ("taxi \uff14\uff15", "USD", 4500),  # a full-width keyboard's digits
        ("pizza for 4 48", "USD", None),  # two numbers: which one?
        ("dinner 1,200 tonight", "USD", None),  # a figure with a separator: no count to offer
        ("dinner", "USD", None),
        ("table 0", "USD", None),  # no amount
    ],
)
def test_a_captions_one_whole_number_is_the_figure_offered(
    caption: str, code: str, offered: int | None
) -> None:
    room = currency(code)
    assert caption_amount(caption, room) is None  # never counted
    found = caption_figure(caption, room)
    assert (found.minor if found is not None else None) == offered


@pytest.mark.parametrize(
    ("caption", "asked"),
    [
        (
            "ordi 1 234,56 $",
            "1 234,56 is unclear: reply \\AMOUNT 1234.56 for CA$1,234.56, or \\AMOUNT 234.56 for CA$234.56.",
        ),
        (
            "souper pour 3 120,00 $",
            "3 120,00 is unclear: reply \\AMOUNT 3120.00 for CA$3,120.00, or \\AMOUNT 120.00 for CA$120.00.",
        ),
        ("souper 45,20 $", None),
        ("2 cafés 4,50 $ et 3,25 $", None),  # two amounts: no one to ask about
    ],
)
def test_a_caption_figure_with_a_space_before_three_digits_is_asked_about(
    caption: str, asked: str | None
) -> None:
    """`ordi 1 234,56 $`, as Quebec writes a thousand, reads two ways (a count and a price, or
    thousands): it was answered `no total found. Reply \\AMOUNT 12.34 to set it.`, as if nothing
    had been typed. The reply now offers both readings."""
    cad = currency("CAD")
    assert cad is not None
    assert unclear_caption(caption, cad) == asked
    if asked is not None:
        assert caption_amount(caption, cad) is None


def test_a_figure_alone_is_an_amount_in_any_currency_and_nothing_more() -> None:
    """`is_figure`: a whole text that is one amount (what people reply to "Reply \\AMOUNT 12.34")."""
    for text in (
        "42.10",
        " $42.10 ",
        "12,50 EUR",
        "1.234,56",
        "\u00a5678",
        "42",
        "150k",
        "1tr5",
        "15\ub9cc\uc6d0",
    ):
        assert is_figure(text), text
    for text in ("hello 42", "42 bucks", "4/5", "+15551234567", "100%", "10:30", "", "$", "12km", "k"):
        assert not is_figure(text), text


@pytest.mark.parametrize(
    ("code", "point"),
    [
        ("USD", True), ("GBP", True), ("INR", True), ("AUD", True), ("JPY", True), ("usd", True),
        # written `12,50` somewhere at home: Quebec, Geneva; or money of no one country
        ("CAD", False), ("CHF", False), ("BRL", False), ("ZAR", False), ("EUR", False), ("XAF", False),
        ("XYZ", False),
    ],
)  # fmt: skip
def test_which_money_is_written_with_a_decimal_point_at_home(code: str, point: bool) -> None:
    """A receipt's total printed `12,50` with no sign OCR can read is no surprise in a room of
    euros, reais or Canadian dollars, and is asked about in a room of US dollars or pounds."""
    assert writes_decimal_point(code) is point


def test_the_money_written_with_a_dollar_sign_at_home_is_cldr_s() -> None:
    """`DOLLAR_AT_HOME` is what CLDR says: money whose symbol is `$` alone in a locale of the
    country its code is named after (R$, HK$, RD$ are others' signs)."""
    from babel.core import Locale, UnknownLocaleError
    from babel.localedata import locale_identifiers
    from babel.numbers import get_currency_symbol, get_territory_currencies

    from bot.features.ledger.money import DOLLAR_AT_HOME, in_use

    identifiers = list(locale_identifiers())
    found = set()
    for code in list_currencies():
        territory = code[:2]
        try:
            if not in_use(code) or code not in get_territory_currencies(territory):
                continue
            home = [Locale.parse(f"und_{territory}")]
        except (UnknownLocaleError, ValueError):
            continue
        home += [Locale.parse(ident) for ident in identifiers if ident.endswith(f"_{territory}")]
        if any(get_currency_symbol(code, locale) == "$" for locale in home):
            found.add(code)
    assert found == DOLLAR_AT_HOME


@pytest.mark.parametrize(
    ("code", "text", "read"),
    [
        ("CLP", "$11.990", (11990, "CLP")),  # Chile's pesos, written with a `$` at home
        ("COP", "$12.900", (1290000, "COP")),
        ("SGD", "$12.50", (1250, "SGD")),
        ("BRL", "$12.50", (1250, "BRL")),  # a room shown with a `$` of its own (R$): as before
        ("INR", "$12.50", (1250, "USD")),  # nobody's rupees
        ("EUR", "$12.50", (1250, "USD")),
        ("VND", "40.000đ", (40000, "VND")),  # the dong's sign as Vietnamese type it
        ("EUR", "40.000 Đ", (40000, "VND")),
        ("HUF", "1 490 Ft", (149000, "HUF")),  # the forint's sign, in a room of forints
        ("HUF", "1490 ft", (149000, "HUF")),
    ],
)
def test_a_dollar_sign_is_the_room_s_money_where_it_is_written_so_at_home(
    code: str, text: str, read: tuple[int, str]
) -> None:
    """`\\AMOUNT $11.990` in a room of Chilean pesos was US dollars, asked about as `$11990.00
    or $11.99`; Chileans, Colombians, Argentines and Singaporeans write their money with a `$`.
    And the dong's `đ` and (in a room of forints) the forint's `Ft` after a figure got the usage."""
    room = currency(code)
    assert room is not None
    amount = parse_amount(text, room)
    assert amount is not None
    assert (amount.minor, amount.currency.code) == read


def test_ft_is_no_money_outside_a_room_of_forints() -> None:
    """`rope 12 ft` is feet in a room of dollars: no amount, as before the forint's `Ft` was read."""
    usd = currency("USD")
    assert usd is not None
    assert parse_amount("12 ft", usd) is None
    assert caption_amount("rope 12 ft", usd) is None
    assert unclear_caption("rope 12 ft", usd) is None


@pytest.mark.parametrize("text", ["R1490", "R1 490.00", "R 1 490.00", "r1490.00", "R 1490,00"])
def test_the_rand_s_r_is_the_room_s_money_in_a_room_of_rand(text: str) -> None:
    """South Africans write the rand `R150`: `\\AMOUNT R1490` got the usage, and a caption's
    `braai R1 490.00` was counted as R490.00 (the 1 after the R taken for a count). A figure
    after a sign is one figure; elsewhere than a room of rand, no figure after `R` is read."""
    zar, usd = currency("ZAR"), currency("USD")
    assert zar is not None
    assert usd is not None
    for found in (parse_amount(text, zar), caption_amount(f"braai {text}", zar)):
        assert found is not None, text
        assert (found.minor, found.currency.code) == (149000, "ZAR")
    assert unclear_caption(f"braai {text}", zar) is None
    assert parse_amount(text, usd) is None
    assert caption_amount(f"braai {text}", usd) is None


def test_thousands_after_a_sign_in_a_caption_are_one_figure() -> None:
    """`$1 490.00` in a caption asked whether it was $1490.00 or $490.00 after a count; no count
    comes between a sign and its figure. Without a sign it is still asked."""
    usd = currency("USD")
    assert usd is not None
    found = caption_amount("laptop $1 490.00", usd)
    assert found is not None
    assert found.minor == 149000
    assert unclear_caption("laptop $1 490.00", usd) is None
    assert caption_amount("laptop 1 490.00", usd) is None
    assert unclear_caption("laptop 1 490.00", usd) is not None


@pytest.mark.parametrize(
    ("code", "text", "minor"),
    [
        ("VND", "150k", 150_000),
        ("VND", "150K", 150_000),
        ("VND", "1tr5", 1_500_000),  # triệu: a million, its digits after it its decimals
        ("VND", "1.5tr", 1_500_000),
        ("VND", "150kđ", 150_000),
        ("IDR", "150rb", 15_000_000),  # ribu, in rupiah's two decimals
        ("IDR", "1,5jt", 150_000_000),  # juta
        ("IDR", "Rp150rb", 15_000_000),
        ("KRW", "15만원", 150_000),
        ("JPY", "1.2万", 12_000),
        ("INR", "2 lakh", 20_000_000),
        ("USD", "1.5k", 150_000),
    ],
)
def test_a_figure_typed_with_a_word_for_its_thousands(code: str, text: str, minor: int) -> None:
    """`\\AMOUNT 150k` in a room of dong, `\\PAID Sari 150rb`, `15만원`: people text prices so,
    and they got the usage."""
    assert read_as(text, code) == (minor, code)


def test_a_word_for_thousands_is_read_in_a_typed_amount_only() -> None:
    """In a caption, `5k run` is no $5,000.00; `12km` and `1.5tr5` are no figures."""
    usd, vnd = currency("USD"), currency("VND")
    assert usd is not None
    assert vnd is not None
    found = caption_amount("5k run 12.50", usd)
    assert found is not None
    assert found.minor == 1250
    assert parse_amount("12km", usd) is None
    assert parse_amount("1.5tr5", vnd) is None


@pytest.mark.parametrize(
    ("code", "minor", "shown"),
    [
        ("USD", 123456789, "$1,234,567.89"),
        ("VND", 1500000, "VND 1,500,000"),
        ("JPY", 1200, "\u00a51,200"),
        ("JPY", 999, "\u00a5999"),
        ("INR", 12000000, "INR 1,20,000.00"),  # a rent of 1.2 lakh, as India groups it
        ("INR", 1234567890, "INR 1,23,45,678.90"),
        ("INR", 9999999, "INR 99,999.99"),
        ("BDT", 12345678, "BDT 1,23,456.78"),
        ("PKR", 12345678, "PKR 123,456.78"),  # Pakistan groups in thousands
        ("USD", -100000, "-$1,000.00"),
    ],
)
def test_amounts_are_shown_with_their_thousands_grouped(code: str, minor: int, shown: str) -> None:
    """`Bob pays Alice VND 1250000` left the zeros to count."""
    cur = currency(code)
    assert cur is not None
    assert cur.format(minor) == shown
    assert cur.number(abs(minor)) == shown.lstrip("-").rsplit(" ", 1)[-1].lstrip("$\u00a5").replace(",", "")


@pytest.mark.parametrize("caption", ["12 eurostar", "rent 2 lakh", "3 usbs"])
def test_three_letters_at_the_start_of_a_word_are_no_currency(caption: str) -> None:
    """`12 eurostar` was €12.00 (EUR), `rent 2 lakh` the kip's LAK 2, kept and not counted: a code
    after a figure is a word of its own, as before one."""
    usd = currency("USD")
    assert usd is not None
    assert amounts_in(caption, usd) == []
    assert caption_amount(caption, usd) is None
    found = caption_amount(caption.replace(caption.split()[-1], "EUR"), usd)
    assert found is not None
    assert found.currency.code == "EUR"


def test_a_caption_s_figure_with_a_word_for_its_thousands_is_offered_spelled_out() -> None:
    """A photo with no total found and the caption `rent 2 lakh` was offered `\\AMOUNT 2.00`: the
    figure is offered as the word makes it (offered, never counted from a caption)."""
    inr = currency("INR")
    assert inr is not None
    offered = caption_figure("rent 2 lakh", inr)
    assert offered is not None
    assert offered.minor == 2_00_000_00
    assert caption_amount("rent 2 lakh", inr) is None


@pytest.mark.parametrize(
    ("caption", "code", "counted", "asked"),
    [
        ("dinner 1,200", "USD", 120000, False),  # as "1,200" alone is
        ("dinner: 1,200!", "USD", 120000, False),
        ("dinner 1.200", "USD", None, True),  # as "1.200" alone is: $1,200.00 or $1.20?
        ("lunch 12.345", "USD", None, True),
        ("lunch 12.345", "BHD", 12345, False),  # a dinar has three decimals: BD 12.345
        ("dinner 1.200", "BHD", 1200, False),
        ("ramen 1.200", "JPY", 1200, False),  # as before
        ("Uber 2,500 rupees", "USD", None, False),  # a word after it: no dollars
        ("1,200 people", "USD", None, False),
        ("table 4", "USD", None, False),
    ],
)
def test_a_figure_with_a_thousands_mark_in_a_caption_reads_as_it_does_alone(
    caption: str, code: str, counted: int | None, asked: bool
) -> None:
    """`dinner 1,200` was no amount at all where `1,200` alone is $1,200.00; `dinner 1.200` was
    not asked about where `1.200` is; a dinar room's `lunch 12.345` was no amount where
    `12.345` is BD 12.345: a word before a figure with a thousands' mark (which no count or table
    number has) no longer hides it."""
    room = currency(code)
    assert room is not None
    found = caption_amount(caption, room)
    assert (found.minor if found is not None else None) == counted
    assert (unclear_caption(caption, room) is not None) == asked
