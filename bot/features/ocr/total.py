"""Which amount on a receipt is its total, from OCR boxes (text + position) or plain text lines.

1. Rows: OCR returns words and amounts as separate boxes. The page's skew is the median angle of
   the boxes' top edges; box centres are turned back by it, then boxes whose centres lie within
   half a line height of each other form one row, read left to right.
2. Each row's amount is its right-most money figure (with the currency's decimals, so quantities,
   gallons at three decimals, dates and card digits are not amounts); its label (the letters
   left, squashed: OCR often drops spaces; a figure alone takes the label of a row above it that
   has no figure) gives its kind: total, card charge, subtotal, tax, tip, change, cash
   tendered, discount, or an item.
3. Candidates, scored: TOTAL-like labels (AMOUNT DUE, BALANCE DUE, GRAND TOTAL: 12; TOTAL: 10;
   BALANCE: 9; AMOUNT: 6), the card charge (VISA, DEBIT, ...: 8), the bottom-most amount after
   the subtotal and tax (5). A value equal to subtotal + taxes (+ tips) gains 4 (less the
   figures printed with a minus below the subtotal: its discounts).
   A total before a tip gives way to the total after it (lower = upper + tip; a bare amount
   below the tip that is upper + tip is that total, written by hand); an amount with the change
   below it, less that change, is another total: it was the cash handed over. Each candidate's
   score is scaled by OCR's confidence in its row (in full from 0.8, in proportion below).
4. The answer: the value with the highest summed score, only when it is sure. It asks (no
   amount) when another value scores at least half as much, when the best is weaker than 8
   (no keyword and no arithmetic backs it), or when subtotal + taxes disagree with it.
   The largest number on the page is never taken just for being the largest.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from bot.features.ledger.money import currency, names_money, printed_whole, signs
from storage.ledger import NOT_RECEIPT  # a Reading's status: no amount, hardly any text (kept as ocr_status)

# the scores of the kinds of evidence
STRONG_TOTAL = 12.0
TOTAL = 10.0
BALANCE = 9.0
CARD = 8.0
AMOUNT = 6.0
AFTER_TAX = 5.0
ARITHMETIC = 4.0
SURE = 8.0  # the best value needs at least this much
CONFIDENT = 0.8  # OCR's confidence in a row at which its evidence counts in full


def trust(confidence: float) -> float:
    """How much of a row's evidence counts: all of it from CONFIDENT up, in proportion below (a
    faint TOTAL read at 0.05 is worth 0.6, and the reply asks)."""
    return 1.0 if confidence >= CONFIDENT else max(confidence, 0.0) / CONFIDENT


RIVAL = 0.5  # another value with this share of the best's score means: ask


# A currency printed next to a figure: its sign, or its ISO code. A receipt from abroad (a trip
# room keeps dollars; the taxi in Delhi printed ₹1,180.00) was read as that many of the room's
# own and counted, unless its currency was one of a dozen. The signs are the ones amounts typed
# in a caption are read by (bot/features/ledger/money.py `signs`), and the yen sign as OCR often
# reads it: FULLWIDTH YEN SIGN (U+FFE5). `$` names no one currency: the room's own dollars.
@functools.cache
def _signs() -> dict[str, str]:
    return {**signs(), "\uffe5": "JPY"}


# codes printed beside a total; not those that are words a receipt prints beside a price (PEN,
# MAD, TRY: Peru's, Morocco's and Turkey's money are read by their signs, or not at all)
_CODES = frozenset(
    {
        "USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "MXN", "SEK", "NOK", "DKK", "PLN", "CZK",
        "INR", "PKR", "LKR", "NPR", "BDT", "BRL", "ZAR", "SGD", "HKD", "NZD", "CNY", "KRW", "THB",
        "ILS", "HUF", "RUB", "AED", "SAR", "QAR", "MYR", "PHP", "IDR", "VND", "NGN", "KES", "EGP",
        "CLP", "COP", "ARS", "UAH", "RON", "BGN", "ISK", "TWD",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Box:
    """One OCR result: four corner points (clockwise from top-left), the text, its confidence."""

    points: Sequence[Sequence[float]]
    text: str
    score: float = 1.0


@dataclass(frozen=True)
class Row:
    text: str
    y: float
    score: float  # the lowest confidence of its boxes


@dataclass(frozen=True)
class Candidate:
    value: int
    score: float
    row: int
    kind: str


class Payment(NamedTuple):
    """A payment app's screenshot of a payment between people."""

    name: str  # the other party as printed: the payee, or the payer of one `received`
    # its figure as printed, with the money printed beside it (`$20.00`, `£20.00`, `20,00 €`, `CHF
    # 20.00`), or alone (`15,00`: OCR reads no `€`), when printed (`intake.paid_figure` reads it)
    figure: str | None
    received: bool = False  # `Ann Lee paid you`: a payment to the screenshot's owner


@dataclass(frozen=True)
class Reading:
    """`minor` is set only when the total is sure; `status` is "ok", "none" (nothing like a total),
    "ask" (candidates disagree or are too weak) or "not_receipt" (no amount, hardly any text). `currency` is a code when the receipt names
    one next to its amounts, else None (the room's currency is assumed)."""

    minor: int | None
    status: str
    currency: str | None = None
    candidates: tuple[tuple[int, float], ...] = field(default=())
    reason: str = ""
    identity: str | None = None  # merchant|date|time as printed (`identity_of`), to tell a repeat
    # the total is printed with a `$` and no code: the room's money in a room of dollars or pesos
    # (MX$, CA$), else no one currency that is the room's (`intake.read_amount`)
    dollar: bool = False
    taxes: tuple[str, ...] = ()  # the taxes its tax lines name (`taxes_named`): VAT, TVA, GST, ...
    # the total is printed with a decimal comma (`12,50`) and no sign or code of its own: the
    # money of a place that writes it so, which a room of money written `12.50` asks about
    comma: bool = False
    # a payment app's screenshot (Venmo, Zelle, Cash App, PayPal: `You paid Ann Lee`, `You sent
    # $20.00 to Ann`, or one received: `Ann Lee paid you`): no total
    payment: Payment | None = None
    # `TOTAL 1 490.00`, asked: the total read with the figure before it as its thousands (1490.00);
    # the other reading is that without them (490.00, one item's price after a count)
    grouped: int | None = None


# -- rows ------------------------------------------------------------------------------------------


# The OCR engine's models read Chinese too, and with them full-width figures and marks: `TOTAL
# ￥2,728` read with a FULLWIDTH COMMA (U+FF0C) was the figures 2 and 728, and the yen receipt was
# asked about. They are read as ASCII (the yen sign stays one: `_signs`).
_FULL_WIDTH = str.maketrans(
    {
        **{chr(0xFF10 + d): str(d) for d in range(10)},
        "\uff0c": ",",
        "\uff0e": ".",
        "\uff1a": ":",
        "\uff0f": "/",
        "\uff0d": "-",
    }
)


def rows_of(boxes: Sequence[Box]) -> list[Row]:
    """Boxes grouped into rows, top to bottom, each read left to right."""
    if not boxes:
        return []
    angles: list[float] = []
    heights: list[float] = []
    for box in boxes:
        (x0, y0), (x1, y1) = box.points[0][:2], box.points[1][:2]
        (x3, y3) = box.points[3][:2]
        width = math.hypot(x1 - x0, y1 - y0)
        height = math.hypot(x3 - x0, y3 - y0)
        heights.append(max(height, 1.0))
        if width > 2 * height:
            angles.append(math.atan2(y1 - y0, x1 - x0))
    skew = statistics.median(angles) if angles else 0.0
    cos, sin = math.cos(skew), math.sin(skew)
    line = statistics.median(heights)
    placed = []
    for box in boxes:
        cx = sum(p[0] for p in box.points) / len(box.points)
        cy = sum(p[1] for p in box.points) / len(box.points)
        placed.append((-sin * cx + cos * cy, cos * cx + sin * cy, box))  # (y', x', box)
    placed.sort(key=lambda t: t[0])
    groups: list[list[tuple[float, float, Box]]] = []
    for item in placed:
        if groups:
            current = groups[-1]
            mean_y = sum(p[0] for p in current) / len(current)
            if abs(item[0] - mean_y) <= 0.5 * line:
                current.append(item)
                continue
        groups.append([item])
    rows = []
    for group in groups:
        group.sort(key=lambda t: t[1])
        rows.append(
            Row(
                text=" ".join(b.text.strip() for _, _, b in group).translate(_FULL_WIDTH),
                y=sum(p[0] for p in group) / len(group),
                score=min(b.score for _, _, b in group),
            )
        )
    return rows


def rows_of_text(lines: Sequence[str]) -> list[Row]:
    """Plain text lines (a PDF's text layer): one row a line."""
    return [
        Row(text=line.translate(_FULL_WIDTH), y=float(i), score=1.0)
        for i, line in enumerate(lines)
        if line.strip()
    ]


# -- amounts and kinds -----------------------------------------------------------------------------


# an ISO code right after a figure, or right before it, as a word of its own; or the euro by its
# name, as Italy, Spain and Portugal print it beside the total (`TOTALE EURO 61,95`, `TOTAL EUROS`:
# read as the room's dollars and counted, the word no currency)
_CODE_AFTER = re.compile(r"\s?([A-Za-z]{3}|EUROS?)(?![A-Za-z])", re.IGNORECASE)
_CODE_BEFORE = re.compile(r"(?<![A-Za-z])([A-Za-z]{3}|EUROS?|Rp)\s?$", re.IGNORECASE)
# and Romania's lei by their name (`TOTAL 12,50 LEI`: Romanian receipts seldom print RON), and
# the rupiah by its sign before a figure (`Rp 25.000`, `Rp25.000`)
_NAMES = {"EURO": "EUR", "EUROS": "EUR", "LEI": "RON", "RP": "IDR"}
# the złoty's sign after a figure (`42,50 zł`), and OCR's readings of it (its models have no `ł`:
# `zt`, `zl` or `zf`, by font), a word of its own (`12,50 ZTL`, `12,50 zloty` are none): a Polish
# bill that prints no PLN was counted as euros in a room of euros
_ZLOTY = re.compile(r"\s?(z[łtlf])(?![^\W\d_])", re.IGNORECASE)
# the koruna's after a figure (`57,40 Kč`; OCR reads `Kc`, `Ké`, or drops the `č` of one glued to
# it: `57,40K`): a Czech bill counted as euros in a room of euros, at 25 times its worth
_KORUNA = re.compile(r"(?:\s?[Kk][čcé]|K)(?![^\W\d_])")
# and the krona's or krone's (`57,40 kr`, `kr.`): Sweden's, Norway's or Denmark's, which the page
# does not say; `KRONA` until the room's money says which (or the person does). Iceland's krónur
# are printed whole: a `kr` read with decimals is none of theirs
_KRONA_AFTER = re.compile(r"\s?(?:kr|Kr|KR)\.?(?![^\W\d_])")
KRONA = "kr"
KRONAS = frozenset({"SEK", "NOK", "DKK"})
# the Turkish lira's `TL` and the forint's `Ft` after a figure (`7,48 TL`, `1 490,00 Ft`; not
# feet, `12.50 ft`)
_LIRA = re.compile(r"\s?TL(?![^\W\d_])")
_FORINT = re.compile(r"\s?Ft(?![^\W\d_])")
# the dong's after a figure (`25.000đ`, `25.000 ₫`)
_DONG = re.compile(r"\s?[đ₫](?![^\W\d_])")
# what a money's sign or word after a figure with decimals names, when nothing else does
_AFTER_FIGURE = (
    (_ZLOTY, "PLN"), (_KORUNA, "CZK"), (_KRONA_AFTER, KRONA), (_LIRA, "TRY"), (_FORINT, "HUF"), (_DONG, "VND"),
)  # fmt: skip
# and after a whole figure (`1 490 Ft`, `25.000đ`): not `kr` (Iceland's whole krónur, or a
# krona's printed whole: the room says), nor a `K` glued to it (`1490K`: thousands, as often), nor
# the złoty's look-alikes (`SIZE 12 ZL`: Poland prints its prices with decimals)
_KORUNA_WORD = re.compile(r"\s?[Kk][čcé](?![^\W\d_])")
_AFTER_WHOLE = ((_KORUNA_WORD, "CZK"), (_LIRA, "TRY"), (_FORINT, "HUF"), (_DONG, "VND"))
# OCR reads the dong's `đ` glued to a figure as `d` (`40.000d`): the dong's after thousands grouped
# by points, as Vietnam prints them (a `3D` or `2d` is no money)
_DONG_AS_READ = re.compile(r"[dD](?![^\W\d_])")


_SPACES = " \u00a0\u202f"  # a space, a no-break space, a narrow one: what groups thousands in French


_SIGN_CHARS = frozenset("$" + "".join(_signs()))


# a card's last digits named in words (`VISA Card ending 1234`, `ending in 1234`, OCR's `ending1234`):
# no amount, though four digits are a total in yen or won
_CARD_ENDING = "".join(
    rf"(?<!(?i:\b{words}{space}))"
    for words in ("ending", "ending in", "ending:", "ends in", "ending with", "last", "last 4", "last four")
    for space in ("", " ")  # a figure's match may begin at the space before it
)


@functools.cache
def _money_pattern(exponent: int) -> re.Pattern[str]:
    """A money figure with the currency's decimals: `12.50`, `12,50`, `1,234.56`, `1.234,56`, `1 234,56`,
    `1,20,000.00` (lakhs, as Indian receipts print them).
    Not one glued to a mask or a number sign (`****4421`, `XXXX4421`, `#1234`: a card's last 4, a
    store, register or transaction number), nor part of a date, a time or a longer number
    (`11.24.2026`, `2026/11/24`, `2026-11-24`, `12:45`, a phone's `03-1234-5678`: no figure touches
    another separator and digit)
    A colon after a word is a label's (`TOTAL:23,40`, OCR drops the space after it)."""
    # thousands grouped by a space before comma decimals (`1 234,56 $`, as Quebec and France
    # print them) are one figure: `234,56` alone was a laptop's total (before a decimal point they
    # may be a count and a price, `2 150.00`: a total's row printed so is asked about, see
    # `find_total`); and so are thousands grouped by an apostrophe (or
    # U+2019), as Switzerland prints them (`CHF 1'490.00`): CHF 490.00 was counted without asking
    sign = re.escape("$" + "".join(_signs()))
    # and so are thousands grouped by a space after a sign, before a decimal point (`$1 490.00`,
    # and South Africa's rand, `R 1 490.00`, `R1 490.00`): no count comes between a sign and its
    # figure, and R490.00 was counted without asking
    signed = "|".join(
        rf"(?<={before}{space})"
        for before in (f"[{sign}]", "(?<![A-Za-z])R")
        for space in ("", f"[{_SPACES}]")
    )
    whole = (
        rf"(?:{signed})\d{{1,3}}(?:[{_SPACES}]\d{{3}})+(?=\.\d)|"
        r"\d{1,2}(?:,\d{2})+,\d{3}(?![.,]\d{3})|\d{1,3}(?:,\d{3})+(?![.,]\d{3})"
        rf"|\d{{1,3}}(?:\.\d{{3}})+(?=,\d)|\d{{1,3}}(?:[{_SPACES}]\d{{3}})+(?=,\d)"
        r"|\d{1,3}(?:['’]\d{3})+(?=\.\d)|\d{1,7}"
    )
    if exponent == 0:
        # and thousands grouped by points, as whole money is printed in Chile, Vietnam, Iceland
        # and Indonesia (`$12.990`, `25.000đ`, `1.490 kr.`, `Rp 25.000`): `12` and `990` apart
        # were no total (or the wrong one)
        whole = rf"\d{{1,3}}(?:\.\d{{3}})+(?![.,]?\d)|{whole}"
        number = rf"(?P<whole>{whole})(?![.,/:]?\d|-\d)"
    else:
        number = rf"(?P<whole>{whole})\s?[.,]\s?(?P<frac>\d{{{exponent}}})(?![.,/:]?\d|-\d)"
    return re.compile(
        rf"(?<![\d.,*#/])(?<!\d:)(?<!\d-)(?<!XX)(?<!xx){_CARD_ENDING}(?P<neg>-)?\s?(?P<sym>[{sign}])?\s?{number}(?P<tail>\s?-|\s?CR\b)?"
    )


# one to three digits and a space right before a figure, and nothing figure-like before them
_GROUP_BEFORE = re.compile(rf"(?:^|[^\d.,'’])(\d{{1,3}})[{_SPACES}]$")


def _grouped_reading(text: str, exponent: int) -> int | None:
    """The row's last figure read with the digits before it as its thousands (`1 490.00`: 1490.00),
    when they may be: a space apart, before a figure of three digits and a decimal point. None
    when not (a figure with a sign before it is read whole by `_money_pattern` already)."""
    if not exponent:
        return None  # whole money joins its space groups first (`_space_groups_joined`)
    figures = [m for m in _money_pattern(exponent).finditer(text) if not (m.group("neg") or m.group("tail"))]
    if not figures:
        return None
    m = figures[-1]
    if m.group("sym") or len(m.group("whole")) != 3 or "." not in text[m.end("whole") : m.start("frac")]:
        return None
    before = _GROUP_BEFORE.search(text, 0, m.start("whole"))
    if before is None:
        return None
    thousands: int = int(before.group(1)) * 10 ** (3 + exponent)
    return thousands + _minor_of(m, exponent)


def _minor_of(m: re.Match[str], exponent: int) -> int:
    minor: int = int(re.sub(rf"[.,'’{_SPACES}]", "", m.group("whole"))) * 10**exponent
    return minor + (int(m.group("frac")) if exponent else 0)


def _deductions_of(text: str, exponent: int) -> list[int]:
    """The figures of a row printed as taken off (`-5.00`, `5.00-`, `5.00 CR`), in minor units."""
    return [
        _minor_of(m, exponent)
        for m in _money_pattern(exponent).finditer(text)
        if m.group("neg") or m.group("tail")
    ]


# In money without decimals (yen, won) a bare run of digits is an amount, and so is every other
# number a receipt prints: `VISA •••• 1234`, `**** 1234`, `XXXX/XXXX/XXXX/1234`, `____1234`, a
# card named and its last digits (`with Visa 1234`, `Mastercard 5678`), an approval code, a
# register's, receipt's or terminal's number (`AUTH 004512`, `No. 0012`, `REG 03`, `承認番号
# 123456`, which OCR reads `承番号123456`). Such a card row stood as a card charge against the
# total (asked about), and the digits under it as the charge itself (counted wrong). A figure
# printed as money (`¥1,234`, `1,234`, `1234 JPY`) is still one.
_MASKED = re.compile(r"(?:[•●·∙*_…]|[Xx]{2})[\s/_-]*$")
# a brand is one glued to other words too (OCR's `PAIDwithVisa 1234`); CARD is a word of its own
# (a `POSTCARD 1200` is bought)
# (and its digits in brackets or after one x: `VISA (1234)`, `VISA x1234`)
_CARD_NAMED = re.compile(
    r"(?:VISA|MASTERCARD|AMEX|JCB|DISCOVER|UNIONPAY|(?<![A-Z])(?:MASTER|MC|DINERS|CARD|DEBIT|CREDIT))"
    r"[\s:#.(-]*(?:X\s?)?$"
)
# those digits on a row of their own, under the card's name (`VISA` over `(1234)` or `x1234`)
_DIGITS_ALONE = re.compile(r"\(\s*[0-9]{4,5}\s*\)|[Xx]\s?[0-9]{4,5}")
# a document's number too (`INVOICE 1234`, `ORDER 1234`): `ORDER TOTAL 1460` names its total
_NUMBER_NAMED = re.compile(
    r"(?:(?<![A-Z])(?:NO|NUM|NBR|TEL|PHONE|FAX|REG|AUTH|APPR|APPROVAL|APPROVED|CODE|REF|TRANS|TRAN"
    r"|TXN|RECEIPT|RCPT|SLIP|TERMINAL|TERM|TID|MID|STORE|CASHIER|CLERK|SEQ|BATCH|ACCT|ID|INVOICE|INV"
    r"|ORDER|ORD)|番号|№)"
    r"[\s:#.]*$"
)

_DATE_KANJI = frozenset("年月日時分")
_COUNT_KANJI = frozenset("点點個个件枚本")  # `3点`: three items


def _bare_number(text: str, m: re.Match[str]) -> bool:
    """A figure of plain digits (no decimals, no sign, no thousands) that is some other number
    than money: masked or named card digits, a number named as one, or one with a leading zero."""
    whole = m.group("whole")
    if m.group("sym") or not whole.isdigit():
        return False
    before = _ZEROS_IN_WORDS.sub(lambda z: "O" * len(z.group()), text[: m.start()].upper())  # `APPR0VAL`
    after = text[m.end() : m.end() + 1]
    if after in _DATE_KANJI and not (after == "月" and int(whole) > 12):
        return True  # `2026年11月24日`: a year, a month, a day; `580円` OCR reads `580月`
    if after in _COUNT_KANJI:
        return True  # `合計点数 3点`: a count of items
    if whole.startswith("0") and len(whole) > 1:
        return True  # `0042`, `03`: money is not padded with zeros
    if _NUMBER_NAMED.search(before):
        return True
    return len(whole) in (4, 5) and bool(_MASKED.search(before) or _CARD_NAMED.search(before))


def amounts_of(text: str, exponent: int) -> list[tuple[int, str]]:
    """The money figures of a row as (minor units, currency marker next to it or "")."""
    found = []
    for m in _money_pattern(exponent).finditer(text):
        if m.group("neg") or m.group("tail"):
            continue  # a discount or a refund line, not a charge
        minor = _minor_of(m, exponent)
        marker = _signs().get(m.group("sym") or "", "")
        # a code is a word of its own: `Nails 3.00` is no shekels (ILS), `CAKES` no shillings
        after = _CODE_AFTER.match(text, m.end())
        before = _CODE_BEFORE.search(text[max(0, m.start() - 7) : m.start()])
        for code in (after, before):
            word = "" if code is None else code.group(1).upper()
            if word in _CODES or word in _NAMES:
                marker = _NAMES.get(word, word)
        if not marker:
            after_figure = _AFTER_FIGURE if exponent else _AFTER_WHOLE
            marker = next((named for sign, named in after_figure if sign.match(text, m.end())), "")
        if not marker and not exponent and "." in m.group("whole") and _DONG_AS_READ.match(text, m.end()):
            marker = "VND"
        if exponent == 0 and not marker and _bare_number(text, m):
            continue
        found.append((minor, marker))
    return found


_ZEROS_IN_WORDS = re.compile(r"(?<=[A-Z])0+(?=[A-Z])")


def _squash(text: str) -> str:
    """The label's letters, upper case, nothing else; OCR's zeros inside words read as O
    (`R00M CHARGE` is ROOM CHARGE)."""
    upper = _ZEROS_IN_WORDS.sub(lambda m: "O" * len(m.group()), text.upper())
    return re.sub(r"[^A-Z]", "", upper)


# words that are whole words on the receipt (squashed, they hide inside others: HT in NIGHT)
_WORDS = re.compile(r"[A-Z]+")
# Canada's in French: TPS (GST), TVQ (Quebec's QST), TVH (HST); a Montreal receipt prints TPS and
# TVQ on lines of their own, and with them unseen no subtotal + tax was ever its total
_TAX_WORDS = frozenset({"MWST", "TVA", "IVA", "USTR", "BTW", "MOMS", "IGST", "TPS", "TVQ", "TVH"})
_NET_WORDS = frozenset({"HT", "NETTO", "IMPONIBILE", "IMPONIBLE"})
# what a delivery app or a shop adds below the subtotal beside the tax (`Delivery Fee 2.99`,
# `Shipping 5.99`, `Small Order Fee`, `Bag Fee`): words of their own (COFFEE is no fee), or as OCR
# glues them (`DeliveryFee`)
_FEE_WORDS = frozenset({"FEE", "FEES", "SHIPPING", "HANDLING", "DELIVERY", "POSTAGE"})
_FEES = (
    "DELIVERYFEE",
    "ORDERFEE",
    "BAGFEE",
    "SHIPPINGHANDLING",
    "SHIPPINGFEE",
    "PROCESSINGFEE",
    "CONVENIENCEFEE",
)
_STRONG = (
    "GRANDTOTAL", "AMOUNTDUE", "BALANCEDUE", "TOTALDUE", "TOTALTOPAY", "PLEASEPAY", "NETAPAYER",
    "ZUZAHLEN", "TOTALAPAGAR", "APAGAR", "DAPAGARE",
    "DOZAPLATY", "DOZAPATY",  # Polish DO ZAPŁATY, with or without its Ł (squashed out)
    # Swedish ATT BETALA, Norwegian Å BETALE, Danish AT BETALE (to pay); Czech K ÚHRADĚ, with or
    # without its accents (squashed out: `KHRAD`)
    "BETALA", "BETALE", "KUHRADE", "KHRAD",
    # Finnish MAKSETTAVA, Hungarian FIZETENDŐ (read before cash: it holds TEND), Slovenian ZA
    # PLAČILO, Turkish GENEL TOPLAM
    "MAKSETTAVA", "FIZETEND", "ZAPLACILO", "ZAPLAILO", "GENELTOPLAM",
)  # fmt: skip
# more languages' words, squashed as `_squash` makes them (a letter with an accent drops out, and
# OCR often reads it without: both): Dutch, Portuguese, Italian, Finnish, Turkish, Hungarian,
# Croatian and Slovenian; and the totals of Slovak (SPOLU, CELKOM), Estonian (KOKKU),
# Lithuanian (IŠ VISO) and Icelandic (SAMTALS) receipts
_MORE_TOTALS = (
    "TOTAAL", "YHTEENSA", "YHTEENS", "TOPLAM", "OSSZESEN", "SSZESEN", "UKUPNO",
    "SPOLU", "CELKOM", "KOKKU", "ISVISO", "IVISO", "SAMTALS",
    "TONGCONG", "TNGCNG", "TONGTIEN", "TNGTIN",  # Vietnamese TỔNG CỘNG, TỔNG TIỀN (accents squashed out)
)  # fmt: skip
_MORE_CARDS = ("MULTIBANCO", "BANCOMAT", "KORTTI", "KARTYA", "KRTYA")  # and Turkish KARTI, a word
_MORE_CASH = (
    "CONTANT", "DINHEIRO", "KATEINEN", "KTEINEN", "NAKIT", "KESZPENZ", "KSZPNZ", "GOTOVINA",
    "NUMERAR", "SULARAHA",  # Romanian, Estonian
    "TIENMAT", "TINMT", "TUNAI",  # Vietnamese TIỀN MẶT, Indonesian
)  # fmt: skip
# (and TROCO, TERUG, PARA ÜSTÜ)
_MORE_CHANGE = (
    "WISSELGELD", "TAKAISIN", "VISSZAJARO", "VISSZAJR",
    "TIENTHUA", "TINTHA", "KEMBALI", "VUELTO",  # Vietnamese TIỀN THỪA, Indonesian, Latin American Spanish
)  # fmt: skip


# Japanese, Chinese and Taiwanese receipts, as the OCR engine reads them (its models read Chinese:
# kanji, often in their simplified form, 消費税 as 消费税; no katakana and hardly any hiragana; no
# hangul, so Korean receipts are not read at all). Seen on receipts drawn in IPA Gothic: お預り and
# お預かり read `预` (預 is not among its characters), お釣り nothing or `约`, 釣銭 `约钱`,
# 税込 `税达`, お会計 `会計`, 値引 `值引`, 対象 `对象`, 稅額 `额`. A receipt's largest figure is
# often the cash handed over (お預り, 实收), which is no total, nor is the change (お釣り, 找零).
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_CJK_KINDS: tuple[tuple[str, float, re.Pattern[str]], ...] = (
    ("change", 0.0, re.compile(r"釣|钓|约钱|^约$|找零|找续|找續|找赎|找贖|零钱")),
    ("discount", 0.0, re.compile(r"値引|值引|割引|优惠|優惠|折扣|折让|折讓")),
    # 内消費税, (内税 ¥100): the tax inside the prices, which no total adds on top
    ("tax_incl", 0.0, re.compile(r"[内內](?:消[費费]?)?[税稅]|^[(（][内內]")),
    # counts (合計点数 3点: the number of items) and the base a tax rate applies to (10%対象)
    ("item", 0.0, re.compile(r"点数|點數|数量|數量|件数|件數|対象|对象|對象")),
    ("subtotal", 0.0, re.compile(r"小計|小计|税抜|税拔|未税|未稅")),
    ("tender", 0.0, re.compile(r"預|预|[現现]金|[实實]收")),
    ("total", STRONG_TOTAL, re.compile(r"[应應][付收]|[请請]求")),
    ("total", TOTAL, re.compile(r"合[計计]|[总總][計计额額]|[現现][計计]|[会會][計计]|[实實]付")),
    ("tax", 0.0, re.compile(r"税|稅|^[額额]$")),
    ("card", CARD, re.compile(r"信用卡|[银銀][联聯]|微信|支付宝|支付寶")),
)


def _cjk_kind(label: str) -> tuple[str, float] | None:
    """The kind of a row labelled in Japanese or Chinese (`kind_of`), or None."""
    if not _CJK.search(label):
        return None
    squashed = re.sub(r"\s", "", label)
    for kind, score, words in _CJK_KINDS:
        if words.search(squashed):
            return kind, score
    return None


def _polish_tax(s: str, words: set[str]) -> bool:
    """A Polish receipt's tax rows, whose prices are gross: the tax of one rate (`PTU A 23,00 %`)
    and its sum (`SUMA PTU`), inside the prices, and one rate's taxable sales (`SPRZEDAŻ
    OPODATKOWANA A`), no subtotal any tax is added to. OCR glues their words (`SUMAPTU`,
    `PTUB8,00%`, `SPRZEDAZOPODATKOWANAB`); PTU inside a word is none (`CAPTURE`)."""
    return "PTU" in words or s.startswith("PTU") or "SUMAPTU" in s or "OPODATKOWANA" in s


def _nordic_or_czech_total(s: str) -> bool:
    """A Swedish, Norwegian or Danish receipt's total (`SUMMA`, `SUMMA SEK`, `SUM`, `I ALT`), or a
    Czech one's (`CELKEM`, `CELKEM K ÚHRADĚ`); SUMMA MOMS is the tax, read before this."""
    return s in ("SUMMA", "SUM", "IALT") or s.startswith(
        ("SUMMAKR", "SUMMASEK", "SUMMANOK", "SUMMADKK", "IALT", "CELKEM")
    )


def _polish_total(s: str) -> bool:
    """A Polish receipt's total: `SUMA PLN` (OCR's `SUMAPLN`), `SUMA`, `RAZEM` (SUMAC is a spice)."""
    return s in ("SUMA", "RAZEM") or s.startswith(("SUMAPLN", "RAZEM"))


def kind_of(label: str) -> tuple[str, float]:
    """The kind of a row by its label's letters, and its score as a total candidate. English,
    and the totals of French (TOTAL TTC, NET A PAYER; TOTAL HT is before tax), German (SUMME,
    GESAMT, ZU ZAHLEN; ZWISCHENSUMME is a subtotal, MWST a tax), Italian (TOTALE) and Spanish
    and Mexican (TOTAL A PAGAR, IMPORTE; BASE IMPONIBLE is before tax, IVA a tax, PROPINA a tip,
    TARJETA the card, EFECTIVO and ENTREGADO cash, CAMBIO change) and Polish (SUMA PLN, RAZEM, DO
    ZAPŁATY; SPRZEDAŻ OPODATKOWANA is one rate's sales, PTU and SUMA PTU the tax, KARTA the card,
    GOTÓWKA cash, RESZTA change) receipts; Japanese and Chinese
    ones as OCR reads them (`_CJK_KINDS`: 合計, 合计, 總計, 应付; 小計; 消費税 and 外税 a tax, 内税
    inside the prices; お預り and 现金 cash, お釣り and 找零 change)."""
    cjk = _cjk_kind(label)
    if cjk is not None:
        return cjk
    s = _squash(label)
    if not s:
        return "item", 0.0
    words = set(_WORDS.findall(_ZEROS_IN_WORDS.sub(lambda m: "O" * len(m.group()), label.upper())))
    if (
        "CHANGE" in s
        or "RENDU" in s
        or "CKGELD" in s
        or words & {"RESTO", "CAMBIO", "RESZTA"}
        # Swedish VÄXEL (its Ä squashed out or read as A), Norwegian VEKSEL, Danish BYTTEPENGE,
        # Czech VRÁCENO
        or s in ("VXEL", "VAXEL", "VEKSEL", "BYTTEPENGE", "VRACENO", "VRCENO")
        or any(w in s for w in _MORE_CHANGE)
        or words & {"TERUG", "TROCO"}  # Dutch: back; Portuguese
        or s.startswith(("PARAUSTU", "PARAST"))  # Turkish PARA ÜSTÜ
    ):
        return "change", 0.0
    if any(w in s for w in ("SAVING", "SAVED", "DISCOUNT", "COUPON", "REFUND", "RABATT", "REMISE")):
        return "discount", 0.0
    if any(
        w in s
        for w in ("ITEMS", "QTY", "QUANTITY", "POINTS", "GALLON", "LITRE", "LITER", "ARTIKEL", "ROOMCHARGE")
    ):
        return "item", 0.0
    if (
        "SUBTOTAL" in s
        or "SUBTTL" in s
        or s.startswith("SUBT")
        or s in ("NET", "NETTOTAL")
        or "ZWISCHENSUMME" in s
        or "SOUSTOTAL" in s
        or words & _NET_WORDS
        or s.startswith("TOTALHT")
        or s.startswith("ARATOPLAM")  # Turkish
    ):
        return "subtotal", 0.0
    if s.startswith("TOTAL") and ("INCL" in s or "WITH" in s or "TTC" in s):
        return "total", TOTAL
    if any(w in s for w in ("TAX", "VAT", "GST", "HST", "PST", "QST")) or words & _TAX_WORDS:
        # `VAT incl`, `Incl. VAT`, `CGST included`: the tax inside the prices (British and Indian
        # receipts print it for the record), which no total adds on top
        return ("tax_incl" if "INCL" in s or words & {"INC", "INCL"} else "tax"), 0.0
    if _polish_tax(s, words):
        return "tax_incl", 0.0
    if any(w in s for w in ("TIP", "GRATUITY", "SERVICECHARGE", "TRINKGELD", "POURBOIRE", "PROPINA")) or any(
        s.startswith(w) for w in ("SERVICE", "OPTIONALSERVICE", "DISCRETIONARYSERVICE")
    ):  # `Service 12.5%`: a British restaurant's tip (ROOM SERVICE is a folio's item)
        return "tip", 0.0
    if words & _FEE_WORDS or any(w in s for w in _FEES):
        return "fee", 0.0
    if any(w in s for w in _STRONG):
        return "total", STRONG_TOTAL
    if "AMOUNTPAID" in s or "TOTALPAID" in s:
        return "total", TOTAL
    if (
        "TOTAL" in s
        or s in ("TTL", "TOT")
        or "SUMME" in s
        or "GESAMT" in s
        or _polish_total(s)
        or _nordic_or_czech_total(s)
        or any(w in s for w in _MORE_TOTALS)
    ):
        return "total", TOTAL
    if (
        any(
            w in s
            for w in (
                *("CASH", "TEND", "PAIDOUT", "GEGEBEN", "ESPECES", "CONTANTI", "EFECTIVO", "ENTREGADO"),
                *("GOTOWKA", "GOTWKA"),  # Polish GOTÓWKA, with or without its Ó (squashed out)
                *("KONTANT", "HOTOVOST"),  # Swedish, Norwegian and Danish cash; Czech cash
                *_MORE_CASH,
            )
        )
        or "BAR" in words
    ):
        return "tender", 0.0
    if "BALANCE" in s:
        return "total", BALANCE
    if (
        any(
            w in s
            for w in (
                "VISA",
                "MASTERCARD",
                "AMEX",
                "DISCOVER",
                "DEBIT",
                "CREDIT",
                "CARD",
                "CHARGE",
                "TARJETA",
                "KARTA",
            )
        )
        or s.endswith("KORT")  # Nordic KORT, BANKKORT (Dutch KORTING is none)
        or "KORT" in words
        or words & {"PIN", "PINNEN", "KARTI"}  # Dutch; Turkish KREDİ KARTI
        or any(w in s for w in _MORE_CARDS)
        or s in ("MC", "CB", "PURCHASE", "SALE", "FUELSALE")
    ):
        return "card", CARD
    if s.startswith(("AMOUNT", "MONTANT", "BETRAG", "IMPORTE")) or s == "AMT":
        return "total", AMOUNT
    return "item", 0.0


# -- choosing --------------------------------------------------------------------------------------


RECEIPT_ROWS = 3
_WORDY = re.compile(r"[A-Za-z0-9]{2,}")


def find_total(rows: Sequence[Row], exponent: int = 2) -> Reading:
    if exponent == 0:
        # `TOTAL 1 490` in whole money (CFA francs, a forint's or a krona's whole receipt) is one
        # figure: read as `1` and `490`, it was counted as 490
        rows = _space_groups_joined(rows)
    parsed: list[tuple[int, str, float, int, str]] = []  # (row index, kind, score, value, marker)
    markers: list[str] = []
    for i, row in enumerate(rows):
        amounts = amounts_of(row.text, exponent)
        markers.extend(marker for _, marker in amounts if marker)
        if not amounts:
            continue
        value, marker = amounts[-1]
        label = _money_pattern(exponent).sub(" ", row.text)
        if not any(c.isalpha() for c in label) and i > 0 and not amounts_of(rows[i - 1].text, exponent):
            if (
                exponent == 0
                and _DIGITS_ALONE.fullmatch(row.text.strip())
                and _CARD_NAMED.search(rows[i - 1].text.upper())
            ):
                continue  # `VISA` over `(1234)`: the card's last digits on a row of their own
            # a figure alone under a label alone: written in by pen below the printed TIP or
            # TOTAL (OCR reads the two as rows of their own), or wrapped onto the next line; a
            # label in kanji is a label (`承番号123456` under `VISA....1234` is no card charge)
            label = rows[i - 1].text
        kind, score = kind_of(label)
        if (
            kind == "item"
            and not any(c.isalpha() for c in label)
            and parsed
            and parsed[-1][:2] == (i - 1, "tender")
        ):
            kind = "change"  # a figure alone under the cash handed over: OCR reads no label of お釣り
        parsed.append((i, kind, score, value, marker))
    if not parsed and sum(1 for row in rows if _WORDY.search(row.text)) < RECEIPT_ROWS:
        # no amount and hardly any text (a sunset, a face, a sign): not a receipt at all
        return Reading(None, NOT_RECEIPT, reason="no receipt-like text")
    candidates = [  # a total of nothing is no expense: BALANCE 0.00 under a paid folio
        Candidate(v, s * trust(rows[i].score), i, k)
        for i, k, s, v, _ in parsed
        if k in ("total", "card") and v > 0
    ]
    # `TOTAL 1 490.00`: thousands grouped by a space, or a count and a price; both are the
    # total's, and the person is asked which (490.00 was counted without asking)
    grouped: dict[int, int] = {}  # each such total's thousands reading: the figure without them
    for c in list(candidates):
        joined = _grouped_reading(rows[c.row].text, exponent)
        if joined is not None:
            grouped[joined] = c.value
            candidates.append(Candidate(joined, c.score, c.row, c.kind))

    # the bottom-most amount after the subtotal and tax
    last_sub = max((i for i, k, *_ in parsed if k in ("subtotal", "tax", "tax_incl", "fee")), default=None)
    if last_sub is not None:  # a labelled total below the tax first; else the first amount there
        after = [(i, kind, value) for i, kind, _, value, _ in parsed if i > last_sub and value > 0]
        labelled = [(i, kind, value) for i, kind, value in after if kind in ("total", "card")]
        plain = [(i, kind, value) for i, kind, value in after if kind == "item"]
        for i, _, value in (labelled or plain)[:1]:
            candidates.append(Candidate(value, AFTER_TAX * trust(rows[i].score), i, "after_tax"))
    sub_row, subtotal = next(((i, v) for i, k, _, v, _ in reversed(parsed) if k == "subtotal"), (0, None))
    # the fees below the subtotal go on top of it, as its taxes do (`Delivery Fee 2.99`: a
    # delivery app's receipt was asked about, its subtotal and tax short of its total)
    taxes = sum(v for i, k, _, v, _ in parsed if k == "tax" or (k == "fee" and i > sub_row))
    tips = [(i, v) for i, k, _, v, _ in parsed if k == "tip"]
    has_discount = any(k == "discount" for _, k, *_ in parsed)
    expected: set[int] = set()
    if subtotal is not None:
        # a discount printed with a minus below the subtotal (`DISCOUNT -5.00`, `PROMO 5.00-`) is
        # taken off it: its row has no amount of its own, so it was not seen at all
        below = rows[sub_row + 1 :]
        off = sum(v for row in below for v in _deductions_of(row.text, exponent))
        for base in {subtotal, subtotal - off}:
            expected |= {base + taxes, base + taxes + sum(v for _, v in tips)}
    # a total written by hand under a tip: a bare amount below the tip that is a total above it
    # plus the tip (TOTAL 43.20, TIP 8.00, then 51.20 on a row of its own, its TOTAL label left
    # on the printed line) is the total after the tip
    for upper in list(candidates):
        for i, kind, _, value, _ in parsed:
            if kind == "item" and any(upper.row < t < i and upper.value + v == value for t, v in tips):
                candidates.append(Candidate(value, TOTAL * trust(rows[i].score), i, "after_tip"))
    # a total before a tip gives way to the one after it
    dropped = set()
    for upper in candidates:
        for lower in candidates:
            if lower.row > upper.row and any(
                upper.row < i < lower.row and upper.value + v == lower.value for i, v in tips
            ):
                dropped.add(upper.value)
    # cash handed over, labelled AMOUNT PAID: the change given back from it leaves the total
    # (TOTAL 43.20, AMOUNT PAID 50.00, CHANGE 6.80), so it is no total of its own
    changes = [(i, v) for i, k, _, v, _ in parsed if k == "change" and v > 0]
    values = {c.value for c in candidates} | expected
    for c in candidates:
        if any(i > c.row and c.value - v in values for i, v in changes):
            dropped.add(c.value)
    candidates = [c for c in candidates if c.value not in dropped]
    if not candidates:
        return Reading(None, "none", reason="no total-like line")
    scores: dict[int, float] = {}
    for c in candidates:
        scores[c.value] = scores.get(c.value, 0.0) + c.score
    for value in scores:
        if value in expected:
            scores[value] += ARITHMETIC
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    summary = tuple(ranked)
    best, best_score = ranked[0]
    currency = _currency(parsed, markers, best)
    if len(ranked) > 1 and ranked[1][1] >= RIVAL * best_score:
        top = {best, ranked[1][0]}
        joined = next((j for j, plain in grouped.items() if top == {j, plain}), None)
        if joined is not None:
            return Reading(None, "ask", currency, summary, "thousands or a count", grouped=joined)
        return Reading(None, "ask", currency, summary, "candidates disagree")
    if best_score < SURE:
        return Reading(None, "ask", currency, summary, "too weak")
    if expected and best not in expected and not has_discount:
        return Reading(None, "ask", currency, summary, "subtotal and tax disagree")
    printed = [
        m
        for row in rows
        for m in _money_pattern(exponent).finditer(row.text)
        if _minor_of(m, exponent) == best
    ]
    dollar = currency is None and any(m.group("sym") == "$" for m in printed)
    # what separates its decimals, each place it is printed (`12,50`, `12.50`)
    points = {m.string[m.end("whole") : m.start("frac")].strip() for m in printed} if exponent else set()
    # a sign after it is Quebec's and France's way (`12,50 $`): a sign, just not at the front
    signed = any(m.group("sym") or m.string[m.end() :].lstrip()[:1] in _SIGN_CHARS for m in printed)
    comma = currency is None and not signed and points == {","}
    return Reading(best, "ok", currency, summary, dollar=dollar, comma=comma)


def _currency(
    parsed: Sequence[tuple[int, str, float, int, str]], markers: Sequence[str], best: int
) -> str | None:
    """The currency named next to the total, else the one every marker on the page names."""
    for _, _, _, value, marker in parsed:
        if value == best and marker:
            return marker
    distinct = set(markers)
    return distinct.pop() if len(distinct) == 1 else None


# -- which receipt it is ----------------------------------------------------------------------------

# a year of four digits is 19xx or 20xx, so a time glued to it by OCR (`11/24/202614:32`) stays
# apart; year first, a day is at most 31 and may have a time glued to it (`2026/11/1712:49`)
_NUMERIC_DATE = re.compile(
    r"(?<![\d.,])(?:((?:19|20)\d{2})[-/.](\d{1,2})[-/.](3[01]|[12]\d|0?[1-9])(?=[0-2]?\d:[0-5]\d|(?![\d.,]?\d))"
    r"|(\d{1,2})[-/.](\d{1,2})[-/.]((?:19|20)\d{2}|\d{2}(?![\d.,]?\d)))"
)
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_NAMED_DATE = re.compile(
    rf"\b(?:(\d{{1,2}})\s?({_MONTHS})[A-Z]*\.?,?\s?(\d{{2,4}})|({_MONTHS})[A-Z]*\.?\s?(\d{{1,2}}),?\s?(\d{{2,4}}))\b"
)
_TIME = re.compile(r"(?<![\d.,:])([01]?\d|2[0-3]):([0-5]\d)(?![\d.,])")
MERCHANT_ROWS = 3  # the merchant's name is printed in the first few rows


def _date_in(text: str) -> tuple[str, str] | None:
    """(the date's parts joined by -, the text without it) of the first date in `text`."""
    upper = text.upper()
    match = _NUMERIC_DATE.search(upper) or _NAMED_DATE.search(upper)
    if match is None:
        return None
    return "-".join(part for part in match.groups() if part), upper[: match.start()] + " " + upper[
        match.end() :
    ]


_BATTERY = re.compile(r"\b\d{1,3}\s?%")
_LONG_WORD = re.compile(r"[A-Za-z]{4,}")


def _status_bar(text: str) -> bool:
    """A phone's status bar atop a screenshot: a clock with a battery's percent, or with nothing
    wordy beside it (`9:41 5G 87%`, `Verizon 9:41 AM 87%`, `10:17 LTE`). Its time is when the
    picture was taken, its carrier no merchant."""
    clock = _TIME.search(text)
    if clock is None:
        return False
    rest = text[: clock.start()] + " " + text[clock.end() :]
    return bool(_BATTERY.search(rest)) or _LONG_WORD.search(rest) is None


def identity_of(rows: Sequence[Row]) -> str | None:
    """`MERCHANT|date|time` of a receipt as printed (the first rows' name, squashed; the first
    date; the first time, if any), or None without a merchant and a date. Two photos of one
    receipt read the same; two receipts alike in merchant, total and date are a repeat too
    (issue 26: same merchant, total and date), told apart by the time when it is printed. A
    screenshot's status bar (its top row) is left out: the same order screenshotted twice reads
    the same."""
    if rows and _status_bar(rows[0].text):
        rows = rows[1:]
    merchant = None
    for row in rows[:MERCHANT_ROWS]:
        name = _squash(row.text)
        if len(name) >= 4 and not amounts_of(row.text, 2) and _date_in(row.text) is None:
            merchant = name[:24]
            break
    dated = next((d for d in (_date_in(row.text) for row in rows) if d), None)
    if merchant is None or dated is None:
        return None
    date, rest = dated
    # the time: on the date's row first (read apart from the date), else on any row
    clock = next((m for m in (_TIME.search(text) for text in (rest, *(r.text for r in rows))) if m), None)
    return f"{merchant}|{date}|{f'{int(clock[1]):02d}:{clock[2]}' if clock else ''}"


def exponent_of(code: str) -> int:
    """The decimals of a currency a Reading names (one of `_CODES`): ISO 4217's, from CLDR (0 for
    JPY, KRW, VND, CLP, ISK; 2 for the rest of them)."""
    found = currency(code)
    return 2 if found is None else found.exponent


def total_in_own_decimals(rows: Sequence[Row], exponent: int, whole: bool = False) -> Reading:
    """`find_total` with the room's decimals (`exponent`); a receipt in a currency with other
    decimals (yen in a dollar room, or dollars in a yen one) is read in its own: its figures are
    none at the room's (`¥1,696` is no amount with two decimals) or of another size. The total
    then comes with its currency, in that currency's minor units, and is kept uncounted; asked
    about when that reading is not sure. A Reading's `minor` is always in the decimals of its
    `currency` (the room's when None). `whole`: the room's money has decimals its receipts do
    not print (`printed_whole`: forints, rupiah, Colombian pesos)."""
    reading = find_total(rows, exponent)
    if exponent == 2 and _yuan(reading, rows):
        return dataclasses.replace(reading, currency="CNY")
    if reading.currency is not None and exponent_of(reading.currency) != exponent:
        own = find_total(rows, exponent_of(reading.currency))
        if own.currency == reading.currency:
            return own
        if reading.minor is not None and printed_whole(reading.currency) and not _decimals_in(rows):
            return _in_decimals(reading, exponent_of(reading.currency))  # `1.490 Ft` in a yen room
        return Reading(None, "ask", reading.currency, reason="decimals of another currency")
    if reading.minor is None:
        for other in sorted({0, 2} - {exponent}):
            own = find_total(rows, other)
            if other == 2 and _yuan(own, rows):
                return dataclasses.replace(own, currency="CNY")
            if own.minor is not None and own.currency is not None and exponent_of(own.currency) == other:
                return own
        if exponent and not _decimals_in(rows):
            found = _total_in_whole_units(rows, exponent, whole)
            if found is not None:
                return found
    return reading


# thousands grouped by spaces in a whole figure (`1 490 Ft`, `ÖSSZESEN 12 990`), as Hungary prints
# them: one figure, not `1` and `490`
_SPACE_GROUPED = re.compile(rf"(?<![\d.,])\d{{1,3}}(?:[{_SPACES}]\d{{3}})+(?![\d]|[.,]\d)")


_NO_SPACES = str.maketrans("", "", _SPACES)


def _space_groups_joined(rows: Sequence[Row]) -> list[Row]:
    """The rows with thousands grouped by spaces written without them (`1 490` -> `1490`)."""
    joined = []
    for row in rows:
        text = _SPACE_GROUPED.sub(lambda m: m.group().translate(_NO_SPACES), row.text)
        joined.append(row if text == row.text else dataclasses.replace(row, text=text))
    return joined


def _total_in_whole_units(rows: Sequence[Row], exponent: int, whole: bool) -> Reading | None:
    """A receipt that prints no decimals at all, read in whole units, in minor units of money
    whose receipts print it so (`printed_whole`): the room's when `whole` and it names none, or
    the one it names (`1 490 Ft` in a room of euros: forints, kept). None when not sure or none."""
    found = find_total(rows, 0)
    if found.minor is None:
        return None
    if found.currency is None:
        return _in_decimals(found, exponent) if whole else None
    if printed_whole(found.currency):
        return _in_decimals(found, exponent_of(found.currency))
    return None


def _in_decimals(reading: Reading, exponent: int) -> Reading:
    """A reading in whole units in minor units of money with `exponent` decimals."""
    scale = 10**exponent
    assert reading.minor is not None
    return dataclasses.replace(
        reading,
        minor=reading.minor * scale,
        candidates=tuple((value * scale, score) for value, score in reading.candidates),
    )


def _decimals_in(rows: Sequence[Row]) -> bool:
    """Whether any figure of the receipt is printed with decimals (`7,48`, `$12.50`): then it is
    no receipt printed in whole units (its total lost its point to OCR: `TOTAL 5740`, not 5,740)."""
    return any(amounts_of(row.text, 2) for row in rows)


_YEN_WORDS = re.compile(r"円|JPY|\bYEN\b", re.IGNORECASE)


def _yuan(reading: Reading, rows: Sequence[Row]) -> bool:
    """A total read with a `¥` and two decimals is yuan: China prints `合计 ￥20.50` with the sign
    Japan writes, and yen have no decimals (it was asked about as "decimals of another currency" in
    a yuan room). Not when the receipt names yen (`円`, `JPY`, `YEN`) anywhere."""
    return (
        reading.currency == "JPY"
        and reading.minor is not None
        and any("¥" in row.text or "\uffe5" in row.text for row in rows)
        and not any(_YEN_WORDS.search(row.text) for row in rows)
    )


# -- whose tax it is -------------------------------------------------------------------------------

# The taxes receipts name on their tax lines, and the money of the places that print them. The OCR
# engine's characters have `$` and `¥` but no `£`, `€` or `₹`: `TOTAL £27.15` on a London pub's
# receipt reads `TOTAL 27.15`, which was counted as $27.15 in a trip room of dollars. Its
# `VAT @ 20%` line says it is not in dollars (`intake.read_amount`). A US receipt's `TAX` or
# `SALES TAX` names no one place; Ecuador's and El Salvador's IVA in dollars is left out (their
# receipts print the `$`, and a receipt asked about costs one \AMOUNT, one miscounted a wrong
# balance). The first code of each is the one a reply offers as an example.
_TAX_MONEY: dict[str, tuple[str, ...]] = {
    "VAT": (
        "GBP", "EUR", "CHF", "ZAR", "AED", "SAR", "BHD", "OMR", "PHP", "NGN", "KES", "EGP", "THB",
        "VND", "CNY", "TWD", "KRW", "ILS", "RUB", "UAH", "PLN", "CZK", "HUF", "RON", "BGN", "DKK",
        "SEK", "NOK", "ISK", "TRY", "BDT", "LKR", "NPR", "PKR", "GHS", "UGX", "TZS", "IDR", "MUR",
    ),
    "TVA": ("EUR", "CHF", "RON", "MAD", "TND", "XOF", "XAF", "DZD", "LBP", "MDL"),
    "MWST": ("EUR", "CHF"),
    "UST": ("EUR",),
    "USTR": ("EUR",),
    "IVA": ("EUR", "MXN", "CHF", "ARS", "CLP", "COP", "UYU", "PYG", "BOB", "VES", "GTQ", "HNL", "NIO", "CRC", "DOP"),
    "BTW": ("EUR", "AWG", "ANG", "SRD"),
    "MOMS": ("SEK", "DKK", "EUR"),
    "MVA": ("NOK",),
    "ALV": ("EUR",),
    "GST": ("AUD", "CAD", "NZD", "SGD", "INR", "MYR", "FJD", "PGK"),
    "HST": ("CAD",),
    "QST": ("CAD",),
    "TPS": ("CAD",),
    "TVQ": ("CAD",),
    "TVH": ("CAD",),
    "CGST": ("INR",),
    "SGST": ("INR",),
    "IGST": ("INR",),
    "UTGST": ("INR",),
}  # fmt: skip
# OCR drops spaces (`DI CUI IVA` reads `DICUIIVA`, `Incl. VAT` `INCLVAT`): these are also found at
# a word's end; UST is not (MUST, JUST, ADJUST)
_TAX_SUFFIXES = ("VAT", "IVA", "TVA", "MWST", "GST", "HST", "QST", "TPS", "TVQ")


def taxes_named(rows: Sequence[Row], exponent: int = 2) -> tuple[str, ...]:
    """The taxes named by the receipt's tax lines (rows with a figure, labelled as tax), in the
    order printed: `("VAT",)` for `VAT @ 20% INCLUDED £4.53`; none for `SALES TAX 0.85`."""
    found: list[str] = []
    for row in rows:
        if not amounts_of(row.text, exponent):
            continue
        label = _money_pattern(exponent).sub(" ", row.text)
        if kind_of(label)[0] not in ("tax", "tax_incl"):
            continue
        for word in _WORDS.findall(_ZEROS_IN_WORDS.sub(lambda m: "O" * len(m.group()), label.upper())):
            tax = word if word in _TAX_MONEY else next((t for t in _TAX_SUFFIXES if word.endswith(t)), None)
            if tax is not None and tax not in found:
                found.append(tax)
    return tuple(found)


def tax_money(tax: str) -> tuple[str, ...]:
    """The money of the places that print `tax` (one of `taxes_named`'s), the likeliest first."""
    return _TAX_MONEY.get(tax, ())


# -- a payment between people ----------------------------------------------------------------------

# How payment apps head a payment sent: Venmo `You paid Ann Lee`, Zelle `You sent $20.00 to Ann
# Lee`, PayPal `You sent $20.00 USD to Ann` (`You sent €25.00 to Ann` in euros), Monzo `You sent
# £20.00 to Ann Lee`, Revolut `You paid Ann €15,00`, `Paid to Ann`, `Sent to Ann`; Google Pay's
# and PhonePe's UPI screens `Paid to Ann Lee` over `₹500`, or `Paid ₹500 to Ann`; Cash App prints
# the figure on a row of its own and `to Ann` under it. OCR drops spaces (`YoupaidAnnLee`). The
# row is matched with its figure taken out (`Paid ₹500 to Ann` is `Paid to Ann`).
_SENT = re.compile(r"^\s*(?:you\s*(?:paid|sent)|(?:payment|paid|sent)\s*to)\b\s*(?P<rest>.*)$", re.IGNORECASE)
_SENT_GLUED = re.compile(r"^\s*[Yy]ou\s*(?:paid|sent)(?P<rest>[A-Z$].*)$")


def _leading(word: str) -> re.Pattern[str]:
    """A row that begins with `word` (`to Ann`, `TO ANN`, and as OCR glues it: `toAnn`, `TOAnn`), the
    name after it as `rest`: not the start of a name in capitals (`TONY LEE` was `NY LEE`)."""
    low, title, up = word, word.title(), word.upper()
    return re.compile(
        rf"^\s*(?:(?:{low}|{title}|{up})\s+|(?:{low}|{title})(?=[A-Z@])|{up}(?=[A-Z][a-z]|@))(?P<rest>.+)$"
    )


_TO = _leading("to")
# and a payment received: Venmo `Ann Lee paid you`, Zelle, PayPal and Monzo `Ann Lee sent you
# $20.00` (`£20.00`), `You received $20.00 USD from Ann Lee`, `Payment from Ann`; UPI `Received
# from Ann` over `₹500`, `Received ₹500 from Ann`; Cash App `$20`, then `from Ann`
_PAID_YOU = re.compile(r"^\s*(?P<name>\S.*?)\s*(?:paid|sent)\s*you\b(?!\s*(?:a|an|the)\b)", re.IGNORECASE)
_GOT = re.compile(
    r"^\s*(?:you\s*(?:received|got)|(?:payment|money)\s*(?:received\s*)?from|received\s*from)\b\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_FROM = _leading("from")
_NOT_A_PAYER = frozenset({"we", "i", "they", "it", "this", "that", "who", "what", "has", "have", "was"})
# letters of any alphabet: `José Núñez`, `Begoña`, `Zoë` were no payee, and their screenshots receipts
_PAYEE = re.compile(r"^@?[^\W\d_](?:[^\W\d_]|['.-])*(?:\s?[^\W\d_](?:[^\W\d_]|['.-])*){0,3}$")
_NOT_A_PAYEE = re.compile(r"^(?:with|by|using|via|for|on|at|in|from|your|the|a)\b", re.IGNORECASE)
# an order's `$6.45` with `To Go` under it, a ticket's `Sent to Kitchen`: where it goes, no one paid
_NO_ONE = frozenset({"go", "stay", "here", "kitchen", "bar", "table", "counter", "pickup", "printer"})
PAYMENT_ROWS = 6  # the app heads the screen with it: a receipt's `Paid to` further down is none
# what is printed right before or after a figure: its money when money.py names it (`£`, `R$`,
# `CHF`, `kr`, `zł`, `USD`, `euros`); a letter glued before it that is none is OCR's reading of a
# sign it has no character for (`You sent f20.00`: OCR reads `£` as `f`, and drops `€` and `₹`)
_MARK_BEFORE = re.compile(r"(?:^|(?<=\s))([^\s\d]{1,5})(\s?)$")
_MARK_AFTER = re.compile(r"\s?([^\s\d]{1,5})(?=\s|$)")
_GLUED_LETTERS = re.compile(r"(?<![A-Za-z])[A-Za-z]{1,2}$")  # `R` of `R$`, `CA` of `CA$`
_WORD = re.compile(r"[A-Za-z]{2,}")


class _Figure(NamedTuple):
    printed: str  # with the money printed beside it: `£20.00`, `20,00 €`, `CHF 20.00`, `20.00`
    start: int  # where it is in its row, OCR's misread sign and all
    end: int
    marked: bool  # a sign or a code is printed with it


def _figure_in(text: str, exponent: int) -> _Figure | None:
    """The first money figure of a payment app's row (`amounts_of`'s figures: in the room's
    decimals, else in two or none: `$20`, `₹500`), with the money printed beside it."""
    for e in (exponent, *sorted({2, 0} - {exponent}, reverse=True)):
        for m in _money_pattern(e).finditer(text):
            if m.group("tail") or (e == 0 and _bare_number(text, m)):
                continue
            start, end, marked = (
                m.start("sym") if m.group("sym") else m.start("whole"),
                m.end(),
                bool(m.group("sym")),
            )
            shown = start
            # money sent, as the apps' lists print it (Venmo's `- $20.00`, PayPal's `-$20.00`):
            # the figure is what was paid, and its sign goes with it out of the row
            start = m.start("neg") if m.group("neg") else start
            glued = _GLUED_LETTERS.search(text, 0, start) if marked else None
            before = None if marked else _MARK_BEFORE.search(text, 0, start)
            if glued is not None and names_money(glued.group() + text[start]):
                start = shown = glued.start()  # `R$ 50,00`
            elif before is not None and names_money(before.group(1)):
                start, shown, marked = before.start(1), before.start(1), True  # `CHF 20.00`
            elif before is not None and not before.group(2) and len(before.group(1)) == 1:
                start = before.start(1)  # `f20.00`: OCR's `£`
            after = _MARK_AFTER.match(text, end)
            printed = None
            if after is not None and not marked and _ZLOTY.fullmatch(after.group(1)):
                printed = text[shown : after.start(1)] + "zł"  # `50 zt`: OCR's `zł`
                end, marked = after.end(1), True
            elif after is not None and names_money(after.group(1)):
                end, marked = after.end(1), True  # `20,00 €`, `200 kr`, `$20.00 USD`
            return _Figure(printed or text[shown:end], start, end, marked)
    return None


def _without_figures(text: str, exponent: int) -> str:
    """The row with its figures and their money taken out: `Paid ₹500 to Ann` is `Paid to Ann`."""
    for _ in range(4):
        found = _figure_in(text, exponent)
        if found is None:
            break
        text = text[: found.start] + " " + text[found.end :]
    return text


def _lone_figure(text: str, exponent: int) -> bool:
    """A row that is a figure printed with its money and nothing else: Cash App's `$20`."""
    found = _figure_in(text, exponent)
    return found is not None and found.marked and not (text[: found.start] + text[found.end :]).strip()


def _party(rest: str, word: re.Pattern[str], exponent: int) -> str | None:
    """The person a payment's row names after `word` (`to Ann`, `from Ann`), or as it is."""
    rest = _without_figures(rest, exponent).strip()  # `$20.00USD toBob`
    to = word.match(rest)
    return _name(to.group("rest") if to else rest)


def _name(printed: str) -> str | None:
    name = re.sub(r"\s+", " ", printed).strip(" .,:!")
    if not name or _NOT_A_PAYEE.match(name) or not _PAYEE.match(name) or name.lower() in _NO_ONE:
        return None
    if " " not in name:  # OCR dropped the spaces: `AnnLee` is Ann Lee
        name = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return name.lstrip("@")


def _under_figure(head: Sequence[Row], i: int, word: re.Pattern[str], exponent: int) -> str | None:
    """Cash App: `$20`, then `to Ann` (a payment sent) or `from Ann` (received) on row `i` under
    it: the person named, else None."""
    if i > 0 and word.match(head[i].text) and _lone_figure(head[i - 1].text, exponent):
        return _party(head[i].text, word, exponent)
    return None


def _sent(head: Sequence[Row], i: int, exponent: int) -> str | None:
    """The payee of a payment sent that row `i` heads, else None."""
    row = head[i]
    text = _without_figures(row.text, exponent)
    sent = _SENT.match(text) or _SENT_GLUED.match(text)
    if sent is not None:
        return _party(sent.group("rest"), _TO, exponent)
    return _under_figure(head, i, _TO, exponent)


def _received(head: Sequence[Row], i: int, exponent: int) -> str | None:
    """The payer of a payment received that row `i` heads (Venmo `Ann Lee paid you`, Zelle and
    PayPal `Ann Lee sent you $20.00`, `You received $20.00 USD from Ann Lee`, UPI `Received from
    Ann`, Cash App `$20` with `from Ann` under it), else None."""
    row = head[i]
    by = _PAID_YOU.match(row.text)
    if by is not None:
        name = _name(by.group("name"))
        return None if name is None or name.lower() in _NOT_A_PAYER else name
    got = _GOT.match(_without_figures(row.text, exponent))
    if got is not None:
        name = _party(got.group("rest"), _FROM, exponent)
        if name is None and i + 1 < len(head) and _FROM.match(head[i + 1].text):
            name = _party(head[i + 1].text, _FROM, exponent)  # `from Ann Lee` on the row under it
        return name
    return _under_figure(head, i, _FROM, exponent)


def _figure_near(head: Sequence[Row], i: int, exponent: int) -> str | None:
    """The figure of the payment row `i` heads, as printed: on the row itself, or on one beside
    it when printed with its money (PayPal's `Total $20.00 USD`) or alone (`15,00`, `500`: OCR
    has no `€` nor `₹`); a date's `24` or an ID's digits among words are none."""
    for j in (i, i - 1, i + 1, i + 2):
        if not 0 <= j < len(head):
            continue
        text = head[j].text
        found = _figure_in(text, exponent)
        if found is not None and (
            found.marked or j == i or not _WORD.search(text[: found.start] + " " + text[found.end :])
        ):
            return found.printed
    return None


def payment_of(rows: Sequence[Row], exponent: int = 2) -> Payment | None:
    """The other party as printed and the figure (as printed, with its money) of a payment app's
    screenshot of a payment between people, sent or received, else None. Only in the first rows,
    and never on a page with a subtotal or a tax line (a receipt). `exponent`: the room's
    money's decimals."""
    if rows and _status_bar(rows[0].text):
        rows = rows[1:]
    for row in rows:  # a row with a figure: `Nov 24 at 7:12 PM` squashed holds VAT
        label = _money_pattern(2).sub(" ", row.text)
        if amounts_of(row.text, 2) and kind_of(label)[0] in ("subtotal", "tax", "tax_incl"):
            return None
    head = rows[:PAYMENT_ROWS]
    for i in range(len(head)):
        received = False
        name = _sent(head, i, exponent)
        if name is None:
            name, received = _received(head, i, exponent), True
        if name is None:
            continue
        figure = _figure_near(head, i, exponent)
        if received and figure is None:  # an app's screen prints what came in: `$20.00`
            continue
        return Payment(name, figure, received)
    return None


def _whole_reading(rows: Sequence[Row], exponent: int, whole: bool) -> Reading:
    payment = payment_of(rows, exponent)
    if payment is not None:  # a payment between people is no expense: `\\PAID`, not `\\AMOUNT`
        return Reading(None, NOT_RECEIPT, reason="a payment", identity=identity_of(rows), payment=payment)
    reading = total_in_own_decimals(rows, exponent, whole)
    return dataclasses.replace(reading, identity=identity_of(rows), taxes=taxes_named(rows, exponent))


def total_of_boxes(boxes: Sequence[Box], exponent: int = 2, whole: bool = False) -> Reading:
    """The receipt's total in money of `exponent` decimals (the room's); `whole`: money whose
    receipts print no decimals (`printed_whole`)."""
    return _whole_reading(rows_of(boxes), exponent, whole)


def total_of_text(text: str, exponent: int = 2, whole: bool = False) -> Reading:
    return _whole_reading(rows_of_text(text.splitlines()), exponent, whole)


__all__ = [
    "NOT_RECEIPT",
    "Box",
    "Candidate",
    "Payment",
    "Reading",
    "Row",
    "amounts_of",
    "exponent_of",
    "find_total",
    "identity_of",
    "kind_of",
    "payment_of",
    "rows_of",
    "rows_of_text",
    "tax_money",
    "taxes_named",
    "total_in_own_decimals",
    "total_of_boxes",
    "total_of_text",
    "trust",
]
