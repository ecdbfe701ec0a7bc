"""bot/features/ocr/total.py: choosing the total from lines and positions (no OCR engine here)."""

from __future__ import annotations

import math

import pytest

from bot.features.ocr.total import (
    NOT_RECEIPT,
    Box,
    Payment,
    amounts_of,
    identity_of,
    kind_of,
    payment_of,
    rows_of,
    rows_of_text,
    total_in_own_decimals,
    total_of_boxes,
    total_of_text,
    trust,
)

GROCERY = """FRESH MART
MILK 2%            3.49
BREAD              2.99
APPLES 1.2 lb      4.10
SUBTOTAL          10.58
TAX 8%             0.85
TOTAL             11.43
VISA ****1234     11.43
CHANGE             0.00"""

RESTAURANT = """LUIGI'S
2 Pasta           28.00
Wine              12.00
Subtotal          40.00
Tax                3.20
Total             43.20
Tip                8.00
Total             51.20"""

FUEL = """SHELL 0042
PUMP 3  UNLEADED
GALLONS        10.123
PRICE/GAL       3.459
FUEL SALE      $35.02
TOTAL          $35.02"""

CARD_SLIP = """MERCHANT COPY
AMOUNT        $45.00
TIP            $9.00
TOTAL         $54.00
APPROVED 123456"""

CASH = """CORNER SHOP
SODA               1.99
CHIPS              2.49
TOTAL              4.48
CASH              20.00
CHANGE            15.52"""


@pytest.mark.parametrize(
    ("text", "minor"),
    [(GROCERY, 1143), (RESTAURANT, 5120), (FUEL, 3502), (CARD_SLIP, 5400), (CASH, 448)],
)
def test_totals_of_layouts(text: str, minor: int) -> None:
    reading = total_of_text(text)
    assert (reading.status, reading.minor) == ("ok", minor), reading


def test_never_the_largest_number() -> None:
    reading = total_of_text(CASH)
    assert reading.minor == 448  # not the 20.00 handed over


def test_no_total() -> None:
    reading = total_of_text("HELLO\nTHANK YOU\nSEE YOU SOON\nMILK 3.49")
    assert (reading.status, reading.minor) == ("none", None)


def test_disagreeing_candidates_ask() -> None:
    reading = total_of_text("SUBTOTAL 10.58\nTAX 0.85\nTOTAL 11.43\nAMOUNT DUE 12.43")
    assert (reading.status, reading.minor) == ("ask", None)
    assert {value for value, _ in reading.candidates} == {1143, 1243}


def test_arithmetic_that_disagrees_asks() -> None:
    reading = total_of_text("SUBTOTAL 10.58\nTAX 0.85\nTOTAL 11.48")
    assert reading.status == "ask"


def test_a_bare_amount_after_tax_alone_is_too_weak() -> None:
    assert total_of_text("SUBTOTAL 10.00\nTAX 1.00\nFOO 12.00").status == "ask"
    assert total_of_text("SUBTOTAL 10.00\nTAX 1.00\n11.00").minor == 1100  # the sum backs it


def test_currency_next_to_the_total() -> None:
    assert total_of_text("TOTAL EUR 12.50").currency == "EUR"
    assert total_of_text("TOTAL €12,50").currency == "EUR"
    assert total_of_text("TOTAL $12.50").currency is None  # $: the room's own dollars


def test_a_receipt_from_abroad_is_read_in_its_currency_not_the_rooms() -> None:
    """A trip room keeps dollars; the taxi in Delhi printed ₹1,180.00, and it was read as $1,180.00
    and counted: only a dozen currencies were known by sign or code. Now the common ones are, with
    their own decimals (won and dong have none)."""
    assert total_of_text("DELHI CABS\nFARE ₹1,000.00\nTOTAL ₹1,180.00").currency == "INR"
    assert total_of_text("TOTAL 1,18,000.00 INR").currency == "INR"  # lakhs, as printed there
    assert total_of_text("PADARIA\nTOTAL R 45,90 BRL").currency == "BRL"
    assert total_of_text("TOTAL ฿350.00").currency == "THB"
    assert total_of_text("TOTAL ₪ 72.50").currency == "ILS"
    assert total_of_text("HAWKER\nTOTAL SGD 12.80").currency == "SGD"
    won = total_of_text("BIBIMBAP 12,000\nTOTAL ₩24,000", 2)
    assert (won.status, won.minor, won.currency) == ("ok", 24000, "KRW"), won
    dong = total_of_text("PHO 45,000\nTOTAL 90,000 VND", 2)
    assert (dong.status, dong.minor, dong.currency) == ("ok", 90000, "VND"), dong
    # words that are also codes are no currency beside a price: a pen is a pen
    assert total_of_text("STATIONERY\nPEN 2.50\nTOTAL 2.50").currency is None
    # nor the end of a word that spells one (nails: ILS, cakes: KES, dollars: ARS)
    for row in ("Nails 3.00", "CAKES 3.00", "DOLLARS 3.00", "Iron 3.00", "3.00 Cars"):
        assert amounts_of(row, 2) == [(300, "")], row
    assert total_of_text("HARDWARE\nNails 3.00\nTOTAL 3.00\nVISA 3.00").currency is None
    assert amounts_of("TOTAL EUR12.50", 2) == [(1250, "EUR")]
    assert amounts_of("TOTAL 12.50EUR", 2) == [(1250, "EUR")]


def test_amounts_and_kinds() -> None:
    assert amounts_of("GALLONS 10.123 PRICE 3.459", 2) == []
    assert amounts_of("COUPON -1.00", 2) == []
    assert amounts_of("TOTAL 1,234.56", 2) == [(123456, "")]
    assert amounts_of("TOTAL 1200", 0) == [(1200, "")]
    assert kind_of("SUB TOTAL")[0] == "subtotal"
    assert kind_of("TOTALSAVINGS")[0] == "discount"
    assert kind_of("AMOUNTDUE") == ("total", 12.0)
    assert kind_of("TOTAL ITEMS")[0] == "item"


def _box(x: float, y: float, w: float, h: float, text: str, angle: float) -> Box:
    """A word box at (x, y) turned by `angle` radians about the page's origin."""
    c, s = math.cos(angle), math.sin(angle)
    corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    return Box([(c * px - s * py, s * px + c * py) for px, py in corners], text, 0.99)


def test_rows_from_skewed_boxes() -> None:
    angle = math.radians(4)
    boxes = []
    for i, line in enumerate(GROCERY.splitlines()):
        label, _, amount = line.rpartition(" ")
        if not label.strip():
            label, amount = amount, ""
        boxes.append(_box(30, 40 + 40 * i, 14 * len(label.strip()), 26, label.strip(), angle))
        if amount:
            boxes.append(_box(420, 40 + 40 * i, 14 * len(amount), 26, amount, angle))
    boxes.reverse()  # the engine's order does not matter
    rows = rows_of(boxes)
    assert rows[5].text == "TAX 8% 0.85"
    assert len(rows) == len(GROCERY.splitlines())
    assert total_of_boxes(boxes).minor == 1143


@pytest.mark.parametrize("text", ["", "SUNSET", "OPEN\nEXIT", "~ ~\n. ."])
def test_hardly_any_text_and_no_amount_is_not_a_receipt(text: str) -> None:
    reading = total_of_text(text)
    assert (reading.status, reading.minor) == (NOT_RECEIPT, None)


def test_text_without_amounts_is_a_receipt_with_no_total() -> None:
    # a parking ticket: lines of text, no amount
    reading = total_of_text("PARKING TICKET\nENTRY 08:12\nSPACE 42\nTHANK YOU")
    assert reading.status == "none"


def _rows_of_text(lines: list[tuple[str, str, float]]) -> list[Box]:
    """Boxes for (label, amount, confidence) lines, one line a row."""
    boxes = []
    for i, (label, amount, score) in enumerate(lines):
        y = 40 + 40 * i
        boxes.append(Box([(30, y), (230, y), (230, y + 26), (30, y + 26)], label, score))
        if amount:
            boxes.append(Box([(420, y), (520, y), (520, y + 26), (420, y + 26)], amount, score))
    return boxes


def test_a_faint_total_is_asked_about_and_a_clear_one_stated() -> None:
    faint = _rows_of_text([("CAFE", "", 0.99), ("LATTE", "4.50", 0.99), ("TOTAL", "91.43", 0.05)])
    reading = total_of_boxes(faint)
    assert (reading.status, reading.minor) == ("ask", None)
    clear = _rows_of_text([("CAFE", "", 0.99), ("LATTE", "4.50", 0.99), ("TOTAL", "4.50", 0.95)])
    assert total_of_boxes(clear).minor == 450
    # in proportion below full confidence: 0.7 of TOTAL's 10 is under what a sure total needs
    middling = _rows_of_text([("CAFE", "", 0.99), ("LATTE", "4.50", 0.99), ("TOTAL", "4.50", 0.56)])
    assert total_of_boxes(middling).status == "ask"
    assert trust(0.9) == 1.0
    assert trust(0.4) == pytest.approx(0.5)


def test_a_lone_amount_line_is_not_stated() -> None:
    reading = total_of_text("AMOUNT 12.00")
    assert (reading.status, reading.minor) == ("ask", None)


# -- the ways receipts say it (issue 26, item 1) ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("CAFE\nLATTE 4.50\nMUFFIN 3.00\nAMOUNT PAID $32.00", 3200),
        ("HOTEL\nROOM 120.00\nBALANCE DUE 131.40", 13140),
        ("BAR\nBEER 6.00\nGRAND TOTAL 18.00", 1800),
        ("BISTROT\nPLAT 14,50\nTOTAL HT 12,08\nTVA 10% 1,21\nTOTAL TTC 13,29", 1329),
        ("BOULANGERIE\nBAGUETTE 1,20\nNET A PAYER 3,60", 360),
        ("BÄCKEREI\nBROT 3,20\nZWISCHENSUMME 5,00\nMWST 7% 0,33\nSUMME 5,33\nBAR 10,00\nRÜCKGELD 4,67", 533),
        ("MARKT\nKÄSE 4,99\nZU ZAHLEN 12,48", 1248),
        ("TRATTORIA\nPIZZA 9,00\nTOTALE 18,00", 1800),
        ("TIENDA\nPAN 1,10\nTOTAL A PAGAR 7,70", 770),
        # Spanish and Mexican: the tip (PROPINA) after the amount (IMPORTE), the base before IVA, the
        # card (TARJETA), cash handed over (ENTREGADO, EFECTIVO) and change (CAMBIO): these were asked
        (
            "EL BUEN GUSTO\nVino 14,00\nSUBTOTAL 52,70\nIVA21% 11,07\nIMPORTE 63,77\nPROPINA 6,00\nTOTAL 69,77",
            6977,
        ),
        ("TAQUERIA\nSUBTOTAL 1,050.00\nPROPINA 200.00\nTOTAL $1,250.00 M.N.", 125000),
        ("BAR PACO\nBASE IMPONIBLE 21,27\nIVA 10% 2,13\nIMPORTE 23,40\nTarjeta ****4421 23,40", 2340),
        ("MERCADONA\nPAN 1,20\nTOTAL 45,99\nIMPORTE PAGADO 50,00\nCAMBIO 4,01", 4599),
        ("OXXO\nAgua 18.00\nTOTAL $40.50\nEFECTIVO $50.00\nSU CAMBIO $9.50", 4050),
        ("FURNITURE\nSOFA 1,149.00\nSUBTOTAL 1,149.00\nTAX 94.79\nTOTAL 1,243.79", 124379),
        ("MÖBEL\nSOFA 1.149,00\nGESAMT 1.149,00", 114900),
        # Polish fiscal receipts (paragon fiskalny): the taxable sales of each rate (SPRZEDAŻ
        # OPODATKOWANA), the tax of each and its sum (PTU, SUMA PTU), the total (SUMA PLN), the
        # card (KARTA PŁATNICZA) or cash (GOTÓWKA) and change (RESZTA): all of them were "no
        # total found"
        (
            "PARAGON FISKALNY\nWODA 6 x2,89 17,34A\nTOST 2 x4,49 8,98C\nSPRZEDAZ OPODATKOWANA A 17,34\n"
            "PTU A 23,00 % 3,24\nSPRZEDAŻ OPODATKOWANA C 8,98\nPTU C 5,00 % 0,43\nSUMA PTU 3,67\n"
            "SUMA PLN 26,32\nKARTA PŁATNICZA 26,32",
            2632,
        ),
        ("PARAGON FISKALNY\nCHLEB 4,50\nSUMA PTU 0,33\nSUMA PLN 12,34\nGOTÓWKA 50,00\nRESZTA 37,66", 1234),
        ("PARAGON FISKALNY\nCHLEB 4,50\nSUMA PTU 0,33\nSUMA PLN 12,34\nGOTOWKA 50,00\nRESZTA 37,66", 1234),
        ("RESTAURACJA\nPIEROGI 24,00\nRAZEM 31,50", 3150),
        ("RESTAURACJA\nPIEROGI 24,00\nDO ZAPŁATY 31,50 zł", 3150),
    ],
)
def test_the_ways_receipts_say_their_total(text: str, minor: int) -> None:
    reading = total_of_text(text)
    assert (reading.status, reading.minor) == ("ok", minor), reading


def test_comma_decimals_and_thousands() -> None:
    assert amounts_of("SUMME 12,50", 2) == [(1250, "")]
    assert amounts_of("TOTAL 1.234,56 EUR", 2) == [(123456, "EUR")]
    assert amounts_of("TOTAL 1,234.56", 2) == [(123456, "")]
    assert amounts_of("TOTAL ¥1,234", 0) == [(1234, "JPY")]


def test_a_figure_after_a_labels_colon_is_read() -> None:
    """`TOTAL: 23,40 €` printed, OCR read `TOTAL:23,40` (the space dropped): no amount, so a
    Spanish bar's receipt was asked about. A time's colon still keeps its minutes out."""
    assert amounts_of("TOTAL:23,40", 2) == [(2340, "")]
    assert amounts_of("Total:$12.50", 2) == [(1250, "")]
    assert amounts_of("12:45", 0) == []
    assert amounts_of("HORA 14:32.50", 2) == []
    text = "BAR CASA PACO\nTortilla 8,50\nBASE IMPONIBLE 21,27\nIVA10% 2,13\nTOTAL:23,40"
    assert total_of_text(text).minor == 2340


def test_a_total_grouped_in_lakhs_is_read() -> None:
    """Indian receipts print `1,20,000.00`: it was no amount at all, so the total was asked for."""
    assert amounts_of("GRAND TOTAL 1,20,000.00", 2) == [(12000000, "")]
    assert amounts_of("TOTAL 12,34,567.50", 2) == [(123456750, "")]
    assert amounts_of("TOTAL 1,20,000", 0) == [(120000, "")]
    assert total_of_text("SUBTOTAL 1,00,000.00\nIGST 18,000.00\nTOTAL 1,18,000.00").minor == 11800000


@pytest.mark.parametrize(
    "row",
    [
        "VISA ****4421",  # a masked card number: its last 4 are no amount
        "VISA XXXX4421",
        "CARD xxxx4421",
        "TRANS #4421",
        "STORE #0042 REG #3",
        "DATE 11.24.2026",  # a date with dots is no 11.24
        "24.11.26 14:32",
        "TEL 555.123.4567",
        "2026/11/16 12:45",
        "11/24/2026 14:32",
    ],
)
def test_numbers_that_are_not_money(row: str) -> None:
    assert amounts_of(row, 2) == []
    assert amounts_of(row, 0) == []  # in yen too, where a whole number may be money


def test_a_card_number_is_never_a_total_even_in_yen() -> None:
    reading = total_of_text("STORE\nAPPROVED\nVISA ****4421\nTHANK YOU", exponent=0)
    assert reading.minor is None
    assert total_of_text("STORE\nSUBTOTAL 10.00\nTAX 0.80\nTOTAL 10.80\nVISA ****4421 10.80").minor == 1080


def test_words_that_only_look_like_kinds() -> None:
    assert kind_of("TOTAL HT")[0] == "subtotal"
    assert kind_of("NIGHT")[0] == "item"  # HT as a word only
    assert kind_of("ZWISCHENSUMME")[0] == "subtotal"
    assert kind_of("MWST 19%")[0] == "tax"
    assert kind_of("SUMME") == ("total", 10.0)
    assert kind_of("NET A PAYER") == ("total", 12.0)
    assert kind_of("BAR")[0] == "tender"
    assert kind_of("AMOUNT PAID") == ("total", 10.0)
    assert kind_of("IMPORTE ENTREGADO")[0] == "tender"  # cash handed over, no amount due
    assert kind_of("IMPORTE IVA")[0] == "tax"
    assert kind_of("IMPORTE") == ("total", 6.0)  # alone as weak as AMOUNT
    assert kind_of("SUMA PTU")[0] == "tax_incl"  # Polish: the tax's sum inside the prices, no total
    assert kind_of("SUMA PLN") == ("total", 10.0)
    assert kind_of("SPRZEDAŻ OPODATKOWANA A")[0] == "tax_incl"  # one rate's gross sales: no subtotal
    assert kind_of("RESZTA")[0] == "change"
    # as OCR glues them
    assert kind_of("SUMAPTU")[0] == "tax_incl"
    assert kind_of("PTUB %")[0] == "tax_incl"
    assert kind_of("SPRZEDAZOPODATKOWANAB")[0] == "tax_incl"
    assert kind_of("SUMAPLN") == ("total", 10.0)
    assert kind_of("CAPTURE")[0] == "item"
    assert kind_of("SUMAC")[0] == "item"


FOLIO = """PARK INN
FOLI0 77719
R00M 129 ARRIVAL 11/14/26
11/20 R00M CHARGE 192.88
11/21 ROOM CHARGE 192.88
OCCUPANCY TAX 46.29
RESORT FEE 15.00
TOTAL CHARGES 447.05
VISA ****1336 -447.05
BALANCE 0.00"""


def test_a_hotel_folio() -> None:
    """ROOM CHARGE (OCR's zeros in it too) is a night, not a card charge; the fee after the tax
    is no rival to the TOTAL below it; the zero balance after the payment is no total."""
    reading = total_of_text(FOLIO)
    assert (reading.status, reading.minor) == ("ok", 44705), reading
    assert kind_of("R00M CHARGE")[0] == "item"
    assert total_of_text("SHOP\nSUBTOTAL 10.00\nTAX 0.80\nBALANCE 0.00\nTHANKS").minor is None


def test_which_receipt_it_is() -> None:
    """The merchant (the first rows' name), the first date and the first time, as printed."""
    assert identity_of(rows_of_text(["FRESH MART", "123 MAIN ST", "11/24/2026 14:32", "TOTAL 3.49"])) == (
        "FRESHMART|11-24-2026|14:32"
    )
    assert identity_of(rows_of_text(["CAFE DE LA GARE", "Le 24 NOV. 2026 12h30", "TOTAL 3,49"])) == (
        "CAFEDELAGARE|24-NOV-2026|"
    )
    assert identity_of(rows_of_text(["RAMEN YOKOCHO", "2026/11/16 12:45", "TOTAL ¥1,496"])) == (
        "RAMENYOKOCHO|2026-11-16|12:45"
    )
    # OCR drops the space between a date and a time
    assert identity_of(rows_of_text(["FRESHMART", "11/24/202614:32", "TOTAL 7.00"])) == (
        "FRESHMART|11-24-2026|14:32"
    )
    assert identity_of(rows_of_text(["RAMEN YOKOCHO", "2026/11/1712:49", "TOTAL ¥3,520"])) == (
        "RAMENYOKOCHO|2026-11-17|12:49"
    )
    assert identity_of(rows_of_text(["RAMEN YOKOCHO", "2026-11-0709:05", "TOTAL ¥3,520"])) == (
        "RAMENYOKOCHO|2026-11-07|09:05"
    )
    assert identity_of(rows_of_text(["RAMEN YOKOCHO", "2026/11/79:05", "TOTAL ¥3,520"])) == (
        "RAMENYOKOCHO|2026-11-7|09:05"
    )
    assert identity_of(rows_of_text(["SHOP", "2026/11/175", "TOTAL 3.49"])) is None  # no day 175
    assert identity_of(rows_of_text(["SHOP", "TOTAL 3.49"])) is None  # no date: no telling
    assert identity_of(rows_of_text(["11/24/2026", "$3.49", "TOTAL 3.49"])) is None  # no merchant
    assert total_of_text("FRESH MART\n11/24/26\nTOTAL 3.49").identity == "FRESHMART|11-24-26|"


def test_a_receipt_in_a_currency_with_other_decimals_is_read_in_its_own() -> None:
    """A yen receipt in a dollar room had no amount with two decimals ("no total found"), and a
    dollar receipt marked USD in a yen room had none without; each is read in its own currency's
    decimals, named, so the ledger keeps it uncounted. Without a marker nothing is guessed."""
    yen = "RAMEN YOKOCHO\nRAMEN \uffe51,200\nGYOZA \u00a5496\nTOTAL \u00a51,696\nCASH \u00a52,000"
    for exponent in (2, 0):
        reading = total_of_text(yen, exponent)
        assert (reading.status, reading.minor, reading.currency) == ("ok", 1696, "JPY"), reading
    dollars = "CAFE\nLATTE 4.50 USD\nTOTAL 12.50 USD"
    reading = total_of_text(dollars, 0)
    assert (reading.status, reading.minor, reading.currency) == ("ok", 1250, "USD"), reading
    assert total_of_text("CAFE\nLATTE 4.50\nTOTAL 12.50", 0).minor is None


@pytest.mark.parametrize(
    "discount", ["DISCOUNT -5.00", "PROMO -5.00", "10% OFF 5.00-", "COUPON 5.00 CR", "MEMBER DEAL - 5.00"]
)
def test_a_discount_with_a_minus_below_the_subtotal_is_taken_off_it(discount: str) -> None:
    # the discount's row has no amount of its own (a minus is no charge): 40.00 - 5.00 + 2.80
    reading = total_of_text(f"DINER\nSUBTOTAL 40.00\n{discount}\nTAX 2.80\nTOTAL 37.80")
    assert (reading.status, reading.minor) == ("ok", 3780), reading
    # the arithmetic still tells a misread total
    assert total_of_text(f"DINER\nSUBTOTAL 40.00\n{discount}\nTAX 2.80\nTOTAL 38.80").status == "ask"


def test_amount_paid_with_change_below_it_is_the_cash_handed_over() -> None:
    # AMOUNT PAID is the total on a card slip, but here the change given back from it says it was
    # the cash handed over: the total is 50.00 - 6.80
    text = "DINER\nSUBTOTAL 40.00\nTAX 3.20\nTOTAL 43.20\nAMOUNT PAID 50.00\nCHANGE 6.80"
    reading = total_of_text(text)
    assert (reading.status, reading.minor) == ("ok", 4320), reading
    # without a printed total it is asked about, never taken
    reading = total_of_text("DINER\nSUBTOTAL 40.00\nTAX 3.20\nAMOUNT PAID 50.00\nCHANGE 6.80")
    assert reading.minor is None
    # an AMOUNT PAID that change does not explain is still the total
    assert total_of_text("CAFE\nLATTE 4.50\nAMOUNT PAID $32.00\nCHANGE 0.00").minor == 3200


def test_a_total_written_by_hand_under_the_tip_is_the_total() -> None:
    # the pen's figures sit below the printed TIP / TOTAL labels, so OCR reads them on rows of
    # their own: the printed 43.20 was stated, without the tip
    text = "LUIGI'S\nSUBTOTAL 40.00\nTAX 3.20\nTOTAL 43.20\nTIP 8.00\nTOTAL\n51.20"
    reading = total_of_text(text)
    assert (reading.status, reading.minor) == ("ok", 5120), reading
    # a bare amount that is no total plus the tip is not taken for one
    reading = total_of_text("LUIGI'S\nSUBTOTAL 40.00\nTAX 3.20\nTOTAL 43.20\nTIP 8.00\nTOTAL\n52.20")
    assert reading.minor != 5220


def test_figures_written_by_pen_under_their_labels_take_those_labels() -> None:
    # TIP and TOTAL filled in by pen, each figure a little below its printed label: OCR reads
    # the label and the figure as rows of their own, so 8.00 was no tip and 51.20 no total
    text = "LUIGI'S\nSUBTOTAL 40.00\nTAX 3.20\nTOTAL 43.20\nTIP\n8.00\nTOTAL\n51.20\nSIGNATURE"
    reading = total_of_text(text)
    assert (reading.status, reading.minor) == ("ok", 5120), reading
    # a figure under an item's name is still an item
    assert kind_of("BANANAS") == ("item", 0.0)
    reading = total_of_text("DELI\nTURKEY SANDWICH ON RYE\n7.50\nTOTAL 7.50")
    assert (reading.status, reading.minor) == ("ok", 750), reading


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        # British: VAT inside the prices, a service charge as the tip (asked: subtotal and tax disagree)
        (
            "THE CROWN PUB\n27 Nov 2026 21:05\nFish and Chips 15.95\nBurger 14.50\nSubtotal 42.85\n"
            "Service 12.5% 5.36\nVAT incl 8.04\nAmount Due 48.21\nCard payment 48.21",
            4821,
        ),
        ("PRET\nSandwich 4.50\nSubtotal 42.85\nIncl. VAT 20% 7.14\nTotal 42.85", 4285),
        ("BISTRO\nSubtotal 60.00\nOptional service 7.50\nTOTAL 67.50", 6750),
        # Indian: GST already in the prices, printed for the record
        ("DMART\nRice 1kg 73.00\nSubtotal 450.00\nCGST incl 10.71\nSGST incl 10.71\nTotal 450.00", 45000),
        # tax added on top still counts, and a folio's room service is an item
        ("PRET\nSubtotal 40.00\nVAT 20% 8.00\nTotal 48.00", 4800),
        ("HOTEL\nRoom service 25.00\nSubtotal 125.00\nTax 10.00\nTotal 135.00", 13500),
    ],
)
def test_tax_inside_the_prices_and_a_service_charge(text: str, minor: int) -> None:
    reading = total_of_text(text)
    assert (reading.status, reading.minor) == ("ok", minor)


def test_the_euro_by_its_name_beside_the_total_is_euros() -> None:
    """An Italian trattoria prints `TOTALE EURO 61,95`, Spain `TOTAL EUROS`: in a dollar room the
    receipt was read as $61.95 and counted (the word was no currency, only the code EUR was)."""
    trattoria = "TRATTORIA DA MARIO\nP.IVA 01234567890\nPIZZA 19,98\nTOTALE EURO 61,95\nDI CUI IVA 5,63\nCONTANTI 70,00\nRESTO 8,05"
    reading = total_of_text(trattoria)
    assert (reading.status, reading.minor, reading.currency) == ("ok", 6195, "EUR"), reading
    assert amounts_of("TOTAL EUROS 12,50", 2) == [(1250, "EUR")]
    assert amounts_of("SUMME 12,50 Euro", 2) == [(1250, "EUR")]
    assert amounts_of("TOTAL 12,50EUROS", 2) == [(1250, "EUR")]
    # a word that ends in it is no currency (a shop named NEURO)
    assert amounts_of("NEURO 12.50", 2) == [(1250, "")]


def test_the_taxes_a_receipt_names_say_whose_money_it_may_be() -> None:
    """`TOTAL 27.15` with no sign (OCR reads no `£`, `€`, `₹`) is the room's money unless its tax
    lines name a tax the room's money is not taxed with; a US receipt's TAX names no one place,
    and a word that only contains a tax's letters (PRIVATE ROOM, MOMS DINER) names none."""
    from bot.features.ledger.intake import unclear_money

    assert total_of_text("CAFE\nTOTAL 27.15\nVAT @ 20% INCLUDED 4.53").taxes == ("VAT",)
    assert total_of_text("TOTAL 12.50\nINCL.VAT 2.08").taxes == ("VAT",)  # spaces dropped
    assert total_of_text("TOTALE 12,50\nDI CUI IVA 1,14").taxes == ("IVA",)
    assert total_of_text("SUMME 12,50\nMWST 7% 0,82").taxes == ("MWST",)
    assert total_of_text("SUBTOTAL 10.00\nGST 0.50\nPST 0.70\nTOTAL 11.20").taxes == ("GST",)
    assert total_of_text("CGST 2.5% 12.00\nSGST 2.5% 12.00\nTOTAL 500.00").taxes == ("CGST", "SGST")
    assert total_of_text("SUBTOTAL 10.00\nSALES TAX 0.85\nTOTAL 10.85").taxes == ()
    assert total_of_text("MOMS DINER\nTOTAL 12.00\nTAX 1.00").taxes == ()
    assert total_of_text("TOTAL 12.50\nPRIVATE ROOM 2.00").taxes == ()
    assert total_of_text("ADJUST 1.00\nTOTAL 12.50").taxes == ()
    assert unclear_money(("VAT",), "USD") == "VAT"
    assert unclear_money(("VAT",), "GBP") is None
    assert unclear_money(("GST",), "CAD") is None
    assert unclear_money(("GST",), "USD") == "GST"
    assert unclear_money(("MWST", "TVA"), "CHF") is None
    assert unclear_money(("IVA",), "USD") == "IVA"
    assert unclear_money((), "USD") is None


@pytest.mark.parametrize(
    ("text", "total", "taxes"),
    [
        # a Montréal grocery: TPS (GST) and TVQ (QST) on lines of their own, amounts `45,99 $`
        (
            "MARCHE JEAN-TALON\nFROMAGE OKA 12,50$\nBAGUETTE 4,25$\nVIN ROUGE 23,25$\nSOUS-TOTAL 40,00$\n"
            "TPS5% 2,00$\nTVQ9,975% 3,99$\nTOTAL 45,99 $\nDEBIT****4421 45,99$\nTPS:123456789 RT0001\n"
            "TVQ:1234567890 TQ0001",
            4599,
            ("TPS", "TVQ"),
        ),
        # both names on one line, and a tip (POURBOIRE) after the first total
        (
            "CHEZ SCHWARTZ\nSMOKED MEAT 18,95$\nFRITES 13,05$\nSOUS-TOTAL 32,00$\nTPS/GST5% 1,60$\n"
            "TVQ/QST9,975% 3,19$\nTOTAL 36,79$\nPOURBOIRE 5,52$\nTOTAL 42,31$",
            4231,
            ("TPS", "GST", "TVQ", "QST"),
        ),
        # a warehouse club's English receipt: GST/HST and QST
        (
            "COSTCO WHOLESALE\nKS PAPER TOWEL 24.99\nKS OLIVEOIL 18.49\nROTISSERIE CHKN 7.99\nSUBTOTAL 51.47\n"
            "GST/HST 2.57\nQST 5.13\nTOTAL 59.17\nMASTERCARD ****8812 59.17",
            5917,
            ("GST", "HST", "QST"),
        ),
        # Ontario or New Brunswick in French: TVH (HST)
        ("DEPANNEUR\nLAIT 4,00\nSOUS-TOTAL 4,00\nTVH 13% 0,52\nTOTAL 4,52", 452, ("TVH",)),
    ],
)
def test_a_quebec_receipt_adds_both_its_taxes(text: str, total: int, taxes: tuple[str, ...]) -> None:
    """TPS and TVQ (QST) were no taxes: subtotal plus the tax seen (GST alone, or none) was not
    the total, and every Montréal receipt was asked about (`no total found`)."""
    from bot.features.ledger.intake import unclear_money

    reading = total_of_text(text)
    assert (reading.status, reading.minor) == ("ok", total), reading
    assert reading.taxes == taxes
    assert unclear_money(reading.taxes, "CAD") is None
    assert unclear_money(reading.taxes, "USD") == taxes[0]  # in a dollar room: which money?


def test_thousands_grouped_by_a_space_are_one_amount() -> None:
    """`1 234,56 $`, as Quebec and France print thousands: the reader took `234,56` alone, and a
    laptop's receipt whose subtotal and taxes were read the same way (`1 073,76`: 73,76) added
    up to it, so CA$1,234.56 was saved, sure, as CA$234.56."""
    laptop = (
        "BEST BUY\nPORTABLE 1 073,76 $\nSOUS-TOTAL 1 073,76 $\nTPS 53,69 $\nTVQ 107,11 $\n"
        "TOTAL 1 234,56 $\nVISA ****1234 1 234,56 $"
    )
    reading = total_of_text(laptop)
    assert (reading.status, reading.minor) == ("ok", 123456), reading
    assert amounts_of("TOTAL TTC 12 345,60 EUR", 2) == [(1234560, "EUR")]
    assert amounts_of("TOTAL 1\u00a0234,56 $", 2) == [(123456, "")]  # a no-break space
    # a space before three digits with dot decimals stays two figures (a count and a price)
    assert amounts_of("2 150.00", 2) == [(15000, "")]
    assert amounts_of("VISA 4421 1 234,56", 2)[-1] == (123456, "")


@pytest.mark.parametrize(
    "row", ["TOTAL R 1 490.00", "TOTAL R1 490.00", "TOTAL $1 490.00", "TOTAL €\u00a01 490.00"]
)
def test_thousands_grouped_by_a_space_after_a_sign_are_one_amount(row: str) -> None:
    """South Africa prints the rand `R 1 490.00`: R490.00 was counted without asking. No count
    comes between a sign and its figure."""
    reading = total_of_text(f"SHOPRITE\nBREAD 24.99\n{row}\nCARD 1 490.00")
    assert (reading.status, reading.minor) == ("ok", 149000), reading


@pytest.mark.parametrize(
    ("row", "read"),
    [
        ("TOTAL 1 490.00", (49000, 149000)),
        ("TOTAL 12 450.00", (45000, 1245000)),
        ("BALANCE DUE 3 120.00", (12000, 312000)),
    ],
)
def test_a_total_that_may_be_thousands_or_a_count_and_a_price_is_asked(
    row: str, read: tuple[int, int]
) -> None:
    """`TOTAL 1 490.00`: thousands grouped by a space, or one item at 490.00. It was counted as
    490.00 without asking; both are the total's readings now, and the person is asked."""
    reading = total_of_text(f"SHOPRITE\nBREAD 1 24.99\n{row}\nCASH 1 500.00\nCHANGE 10.00")
    assert reading.status == "ask", reading
    assert {value for value, _ in reading.candidates} >= set(read)
    # a figure of other than three digits after the space, or a number of four, is no thousands
    for plain in ("TOTAL 1 49.00", "TOTAL 1234 490.00", "TOTAL 1 x 490.00"):
        assert total_of_text(f"SHOP\nBREAD 24.99\n{plain}").status == "ok", plain


@pytest.mark.parametrize("row", ["TOTAL CHF 1'490.00", "TOTAL 1’490.00", "TOTAL 1'490.00 CHF"])
def test_thousands_grouped_by_an_apostrophe_are_one_amount(row: str) -> None:
    """A Swiss receipt's `TOTAL CHF 1'490.00` was the figures 1 and 490.00, and CHF 490.00 was
    counted without asking."""
    assert amounts_of(row, 2)[-1][0] == 149000
    reading = total_of_text(f"MIGROS\nTV 1'300.00\nKABEL 190.00\n{row}", 2)
    assert (reading.status, reading.minor) == ("ok", 149000), reading


def test_a_screenshots_status_bar_is_not_which_receipt_it_is() -> None:
    """The clock and battery at the top of a phone's screenshot are when the picture was taken,
    not what the receipt prints: the same order screenshotted at 9:41 and again at 10:17 is one
    receipt (it was counted twice), and the carrier's name in the bar is no merchant."""
    order = ["Order placed October 3, 2026", "Order # 112-3456789-1234567", "Order total: $121.16"]
    first = identity_of(rows_of_text(["9:41 5G 87%", *order]))
    again = identity_of(rows_of_text(["10:17 LTE 54%", *order]))
    assert first == again == "ORDER|OCT-3-2026|"
    assert identity_of(rows_of_text(["Verizon 9:41 AM 87%", *order])) == "ORDER|OCT-3-2026|"
    # a time the receipt prints is kept, whatever the bar says
    ride = ["Thanks for riding, Sam", "Oct 12, 2026 9:14 PM", "Total $18.75"]
    assert identity_of(rows_of_text(["10:17 5G 87%", *ride])) == "THANKSFORRIDINGSAM|OCT-12-2026|09:14"
    # a paper receipt's first line is its merchant, not a bar
    assert identity_of(rows_of_text(["FRESH MART 24", "11/24/2026", "TOTAL 3.49", "12:02"])) == (
        "FRESHMART|11-24-2026|12:02"
    )


@pytest.mark.parametrize(
    ("text", "comma"),
    [
        ("BAR LA ESQUINA\nCAFE 1,40\nTOSTADA 2,60\nTOTAL 4,00", True),  # the `€` OCR cannot read
        ("DINER\nBURGER 12.50\nTOTAL 12.50", False),
        ("MARCHE\nFROMAGE 3,20 $\nTOTAL 3,20 $", False),  # Quebec's sign after the figure
        ("SHOP\nTOTAL EUR 12,50", False),  # its money is named: read as EUR
        ("SHOP\nTOTAL $12,50", False),
        ("SHOP\nITEM 1,234.50\nTOTAL 1,234.50", False),  # a comma that groups thousands
    ],
)
def test_a_total_printed_with_a_decimal_comma_and_no_money_of_its_own_says_so(text: str, comma: bool) -> None:
    reading = total_of_text(text)
    assert reading.status == "ok", reading
    assert reading.comma is comma, reading


@pytest.mark.parametrize(
    ("text", "payment"),
    [
        ("9:41 5G 87%\nYou paid Ann Lee\n$20.00\nRent share", Payment("Ann Lee", "$20.00")),
        ("9:41\nYoupaidAnnLee\n$20.00", Payment("Ann Lee", "$20.00")),  # OCR dropped the spaces
        ("9:41\n$20\nto Ann\nFor groceries\nNov 24 at 7:12 PM", Payment("Ann", "$20")),  # Cash App
        ("9:41\n$20\nto TONY LEE", Payment("TONY LEE", "$20")),  # its `TO` was read twice: `NY LEE`
        ("9:41\n$20\ntoTOBY", Payment("TOBY", "$20")),
        ("YOU PAID TONY LEE\n$20.00", Payment("TONY LEE", "$20.00")),  # it was `NY LEE`
        ("You sent $20.00 TOAnn", Payment("Ann", "$20.00")),  # `to` glued to a name: OCR's
        ("You sent $1,200.00 to Mark Jones\nEnrolled with Zelle", Payment("Mark Jones", "$1,200.00")),
        ("You sent$20.00USD toBob\nPayment sent\nTotal $20.00 USD", Payment("Bob", "$20.00USD")),  # PayPal
        ("Paid to Ann\n$15", Payment("Ann", "$15")),
        # names in letters of any alphabet (they were no payee, and the screenshot a receipt)
        ("You paid José Núñez\n$20.00", Payment("José Núñez", "$20.00")),
        ("Begoña paid you\n$15.00", Payment("Begoña", "$15.00", received=True)),
        ("You paid Mary-Jane O'Brien\n$20.00", Payment("Mary-Jane O'Brien", "$20.00")),
        # received: Venmo, Zelle, PayPal (its `from` on a row of its own too), Cash App
        ("9:41\nAnn Lee paid you\n$20.00\nRent share", Payment("Ann Lee", "$20.00", received=True)),
        ("AnnLeepaidyou\n$20.00", Payment("Ann Lee", "$20.00", received=True)),
        (
            "Mark Jones sent you $1,200.00\nEnrolled with Zelle",
            Payment("Mark Jones", "$1,200.00", received=True),
        ),
        ("You received $20.00 USD from Bob\nNov 24", Payment("Bob", "$20.00 USD", received=True)),
        (
            "You received $20.00 USD\nfrom Bob Stone\nNov 24",
            Payment("Bob Stone", "$20.00 USD", received=True),
        ),
        ("9:41\n$20\nfrom Ann\nFor groceries", Payment("Ann", "$20", received=True)),
        # a name in capitals that begins with the word (`to` read off `TONY` twice left `NY`)
        ("9:41\n$20\nto TONY\nFor groceries", Payment("TONY", "$20")),
        ("9:41\n$20\nfrom FROMM", Payment("FROMM", "$20", received=True)),
        ("Payment from Ann\n$15", Payment("Ann", "$15", received=True)),
        # money sent with its minus, as the apps' lists print it: the figure was lost, and the
        # reply offered `\\PAID Ann 12.34`; `-$20` over Cash App's `to Ann` was a receipt
        ("You paid Ann Lee\n- $20.00\nRent share", Payment("Ann Lee", "$20.00")),  # Venmo
        ("You sent -$20.00 USD to Bob", Payment("Bob", "$20.00 USD")),  # PayPal
        ("9:41\n-$20\nto Ann\nFor groceries", Payment("Ann", "$20")),
    ],
)
def test_a_payment_apps_screenshot_names_its_payee_and_is_no_total(text: str, payment: Payment) -> None:
    """A payment sent to a person (Venmo, Cash App, Zelle, PayPal) is no receipt: PayPal's
    `Total $20.00 USD` was counted as $20.00 of spending."""
    assert payment_of(rows_of_text(text.splitlines())) == payment
    reading = total_of_text(text)
    assert (reading.minor, reading.status, reading.payment) == (None, NOT_RECEIPT, payment)


@pytest.mark.parametrize(
    "text",
    [
        "UBER\nThanks for riding\nYou paid $23.17\nwith Visa\nTotal $23.17",
        "CORNER CAFE\nYou paid with Visa 12.50\nTOTAL 12.50",
        "ACME PLUMBING\nLabor 100.00\nSubtotal 100.00\nTax 8.00\nPaid to ACME\nTotal 108.00",
        GROCERY,
        "STORE\nWe sent you a receipt\nTOTAL $12.00",  # no one by name
        "SHOP\n$6.45\nFrom Kitchen\nTOTAL 6.45",  # where it came from, no one who paid
        "DELI\nCatering sent you\nTOTAL 12.00",  # no `$` figure: no app's screen
    ],
)
def test_a_receipt_that_says_paid_is_no_payment_between_people(text: str) -> None:
    assert payment_of(rows_of_text(text.splitlines())) is None
    assert total_of_text(text).payment is None


@pytest.mark.parametrize(
    ("text", "payment"),
    [
        # Monzo, PayPal in euros (`You sent €25.00 to John Smith`), Revolut: the sign as printed, and
        # as OCR reads it (`£` as `f`; no `€` nor `₹` at all)
        ("You sent £20.00 to Ann Lee\nMonzo", Payment("Ann Lee", "£20.00")),
        ("9:41\nYou sent f20.00 to Ann Lee\nMonzo\n24 Nov 2026", Payment("Ann Lee", "20.00")),
        ("You sent €25.00 to John Smith\nPayment sent", Payment("John Smith", "€25.00")),
        ("You paid Ann €15,00\nRevolut", Payment("Ann", "€15,00")),
        ("9:41\nYou paid Ann\n15,00\nRevolut", Payment("Ann", "15,00")),
        ("You sent 1.234,56 € to Ann", Payment("Ann", "1.234,56 €")),
        # UPI (Google Pay, PhonePe, Paytm): whole rupees, the figure under the payee or in the row
        ("Paid to Ann Lee\n₹500\nUPI transaction ID 1234", Payment("Ann Lee", "₹500")),
        ("Paid to Ann Lee\n500\nUPI transaction ID 1234", Payment("Ann Lee", "500")),
        ("Paid ₹500 to Ann", Payment("Ann", "₹500")),
        # the money's code or sign before or after the figure, as money.py reads a caption's
        ("You sent CHF 20.00 to Ann", Payment("Ann", "CHF 20.00")),
        ("You sent 200 kr to Ann", Payment("Ann", "200 kr")),
        ("You sent R$ 50,00 to Ann", Payment("Ann", "R$ 50,00")),
        ("You sent 50 zł to Ann", Payment("Ann", "50 zł")),
        # OCR has no `ł`: it reads `zł` as `zt`, `zl` or `zf` (the payee was `zt to Ann`)
        ("You sent 50 zt to Ann", Payment("Ann", "50 zł")),
        ("You paid Ann 25,00zl", Payment("Ann", "25,00zł")),
        ("Ann Lee sent you 25,00 zf", Payment("Ann Lee", "25,00 zł", received=True)),
        # received: a figure is needed, in any money
        ("Ann Lee sent you £20.00", Payment("Ann Lee", "£20.00", received=True)),
        ("9:41\nAnn Lee sent you f20.00\n24 Nov 2026", Payment("Ann Lee", "20.00", received=True)),
        ("Received from Ann\n₹500", Payment("Ann", "₹500", received=True)),
        ("Received from Ann\n500\nUPI transaction ID 1234", Payment("Ann", "500", received=True)),
        ("Received ₹500 from Ann", Payment("Ann", "₹500", received=True)),
        ("You received ¥2,000 from Ann", Payment("Ann", "¥2,000", received=True)),
    ],
)
def test_a_payment_apps_screenshot_in_other_money_names_its_payee_and_figure(
    text: str, payment: Payment
) -> None:
    """Only `$` figures were known: `You sent £20.00 to Ann Lee` named no payee (the figure
    between), `Ann Lee sent you £20.00` had no figure (a received one needs it), and each was a
    receipt with no total, its reply offering `\\AMOUNT 12.34`: a payment between members counted
    as the room's spending."""
    assert payment_of(rows_of_text(text.splitlines())) == payment
    assert total_of_text(text).payment == payment


@pytest.mark.parametrize(
    "text",
    [
        "9:41\nAnn Lee paid you\nNov 24, 2026\nRent share",  # a date's 24 is no figure
        "DELI\nCatering sent you\nTOTAL 12,50",
        "TAXI\nReceived from Ann\nFare 12.00\nVAT 2.00\nTotal 14.00",  # a tax line: a receipt
        "PUB\nPaid to Ann\nSubtotal £20.00\nTotal £20.00",
    ],
)
def test_a_figure_among_words_or_a_receipts_lines_is_no_payment_in_other_money(text: str) -> None:
    assert payment_of(rows_of_text(text.splitlines())) is None


@pytest.mark.parametrize(
    "ending", ["VISA Card ending 1234", "Mastercard ENDING IN 1234", "Card ending1234", "AMEX last 4 1234"]
)
def test_a_cards_last_digits_in_words_are_no_amount_in_yen(ending: str) -> None:
    """In a room of yen (no decimals) four digits are an amount: `VISA Card ending 1234` under
    `TOTAL ¥1,460` was a card charge of ¥1234 that disagreed with the total, and the receipt was
    asked about. A card's last digits named in words are no amount, as `****1234` is not."""
    reading = total_of_text(f"RAMEN YOKOCHO\nRAMEN 980\nGYOZA 480\nTOTAL 1,460\n{ending}\nAPPROVED", 0)
    assert (reading.status, reading.minor) == ("ok", 1460), reading


def test_a_word_that_ends_in_ending_leaves_its_figure_an_amount() -> None:
    """`ending` is a word of its own: `SPENDING 1,200` or `Pending 1200` are amounts in yen."""
    assert amounts_of("SPENDING 1,200", 0) == [(1200, "")]
    assert amounts_of("Pending 1200", 0) == [(1200, "")]
    assert amounts_of("VISA PENDING 45.00", 2) == [(4500, "")]  # and in dollars
    assert amounts_of("Card ending 1234", 0) == []


DELIVERY = """Receipt
Bangkok Garden
2x Pad Thai 25.98
1x Spring Rolls 6.99
Subtotal 32.97
Delivery Fee 2.99
Service Fee 4.94
Estimated Tax 2.63
Dasher Tip 5.00
Total 48.53
Visa 1234 48.53"""


def test_a_fee_below_the_subtotal_goes_on_top_of_it_with_the_tax() -> None:
    """A delivery app's paid `Delivery Fee` was no tax nor tip: subtotal + tax + tip fell short of
    the total by it, and the receipt was asked about. So were an online order's shipping and a
    small-order fee; a coffee above the subtotal is no fee."""
    assert total_of_text(DELIVERY).minor == 4853
    shop = "SHOP\nBOOK 18.99\nSUBTOTAL 18.99\nSHIPPING & HANDLING 5.99\nTAX 1.52\nORDER TOTAL 26.50"
    assert total_of_text(shop).minor == 2650
    assert kind_of("Small Order Fee")[0] == "fee"
    assert kind_of("DeliveryFee")[0] == "fee"
    assert kind_of("COFFEE")[0] == "item"
    assert kind_of("KAFFEE")[0] == "item"


@pytest.mark.parametrize(
    "text",
    [
        "9:41 87%\nBLUE BOTTLE COFFEE\n$6.45\nTo Go\nOrder #4471\nLatte 6.45\nTotal $6.45",
        "JOE'S PIZZA\n$27.69\nto go\nLarge Pepperoni 27.69\nTOTAL 27.69",
    ],
)
def test_an_order_to_go_under_its_figure_is_no_payment(text: str) -> None:
    """Cash App prints `$20` and `to Ann` under it; an order's `$6.45` and `To Go` under it
    read as a payment to `Go`, and the coffee's receipt was not counted."""
    assert payment_of(rows_of_text(text.splitlines())) is None
    assert total_of_text(text).status == "ok"


YEN_PAID_BY_CARD = "RAMEN YOKOCHO\nRAMEN 980\nGYOZA 480\nTOTAL ¥1,460\n{}\nTHANK YOU"


@pytest.mark.parametrize(
    "row",
    [
        "VISA •••• 1234",  # bullets, then a space
        "VISA **** 1234",
        "VISA·..·1234",  # the bullets as OCR reads them
        "VISA ____1234",
        "CARD XXXX XXXX XXXX 1234",
        "VISA XXXX-XXXX-XXXX-1234",
        "with Visa 1234",  # a card named, then its last digits
        "PAIDwithVisa 1234",  # OCR drops the spaces
        "Mastercard 5678",
        "CREDIT APPROVAL 123456",  # an approval code on the card's row
        "DEBIT AUTH# 004512",
        "CARD NO. 0012",
        "VISA (1234)",  # the last digits in brackets
        "MASTERCARD (5678)",
        "VISA x1234",  # one x before them
        "VISA X1234",
        "CARD x 5678",
    ],
)
def test_a_cards_digits_are_no_charge_in_yen(row: str) -> None:
    """In a room of yen four digits are an amount: `VISA •••• 1234` under `TOTAL ¥1,460` was a
    card charge of ¥1,234 that disagreed with the total, and the receipt was asked about. A
    card's masked or named last digits, and its approval code, are no amount."""
    reading = total_of_text(YEN_PAID_BY_CARD.format(row), 0)
    assert (reading.status, reading.minor) == ("ok", 1460), reading


@pytest.mark.parametrize(
    "row",
    [
        "•••• 1234",
        "**** 1234",
        "XXXX/XXXX/XXXX/1234",
        "____1234",
        "APPROVAL 123456",
        "AUTH CODE: 004512",
        "APPR0VAL 123456",  # OCR's zero for an O
        "TEL 03-1234-5678",  # a phone number
        "No. 0012",
        "REG 03",
        "RECEIPT 0042",
        "TRANS 4421",
        "承認番号 123456",  # what OCR reads of it: `承番号123456`
        "承番号123456",
        "2026-11-24",
        "2026年11月24日 14:32",
        "INVOICE 1234",  # a document's number
        "INV 1234",
        "ORDER 1234",
        "Order 1234",
        "ORD 1234",
        "VISA (1234)",
        "VISA x1234",
    ],
)
def test_numbers_that_are_not_money_in_yen(row: str) -> None:
    assert amounts_of(row, 0) == []
    # under a card's row, the figure alone was taken for the card's charge
    reading = total_of_text(YEN_PAID_BY_CARD.format(f"VISA\n{row}"), 0)
    assert (reading.status, reading.minor) == ("ok", 1460), reading


@pytest.mark.parametrize("digits", ["(1234)", "( 1234 )", "x1234", "X 1234", "(56789)"])
def test_a_cards_digits_on_a_row_of_their_own_are_no_charge_in_yen(digits: str) -> None:
    """`VISA` on one row and `(1234)` under it (a narrow slip, or OCR splitting the line): the
    digits took the card's row as their label, a card charge of 1,234 yen against the total of
    1,460, and the receipt was asked about; with no total printed, 1,234 was the total."""
    reading = total_of_text(YEN_PAID_BY_CARD.format(f"VISA\n{digits}"), 0)
    assert (reading.status, reading.minor) == ("ok", 1460), reading
    alone = total_of_text("\n".join(["RAMEN 980", "GYOZA 480", "VISA", digits]), 0)
    assert alone.minor is None, alone
    # a figure alone under the card's name is still its charge (`VISA` over `1,460` or `1460`)
    for charge in ("1460", "1,460", "¥1460"):
        assert total_of_text("\n".join(["RAMEN 980", "GYOZA 480", "VISA", charge]), 0).minor == 1460
    # and in money with cents the brackets were never read as an amount of cents to begin with
    assert total_of_text("SOUP 12.50\nBREAD 3.20\nTOTAL 15.70\nVISA\n" + digits, 2).minor == 1570


def test_a_figure_under_a_card_row_with_a_label_in_kanji_is_no_charge() -> None:
    """A receipt printed in Japanese: OCR read `承番号123456` (an approval number) under
    `VISA....1234`, and the kanji label counted as none, so the number took the card's row as
    its label: a card charge of ¥123,456, the only candidate, stated as the total."""
    rows = ["横丁", "合計 ￥1,606", "￥1,606", "VISA....1234", "承番号123456", "云票番号0042"]
    reading = total_of_text("\n".join(rows), 0)
    assert reading.minor != 123456, reading
    assert reading.minor == 1606, reading  # 合計 is a total
    assert total_of_text("\n".join(["STORE", "VISA", "1,606"]), 0).minor == 1606  # no label of its own


@pytest.mark.parametrize(
    ("row", "amounts"),
    [
        ("PENDING 1200", [(1200, "")]),
        ("ITEM 1234", [(1234, "")]),
        ("POSTCARD 1200", [(1200, "")]),  # CARD inside a word
        ("CASINO 1200", [(1200, "")]),  # NO inside a word
        ("VISA 1,606", [(1606, "")]),  # the charge, printed as money
        ("VISA ¥1606", [(1606, "JPY")]),
        ("VISA 1606 JPY", [(1606, "JPY")]),
        ("Visa 1234 1,460", [(1460, "")]),
        ("No.5 COFFEE 480", [(480, "")]),
        ("TOTAL 1460", [(1460, "")]),
        ("ORDER TOTAL 1460", [(1460, "")]),  # ORDER names the total, not a number
        ("RECORD 1200", [(1200, "")]),  # ORD inside a word
        ("INVOICE TOTAL ¥1,460", [(1460, "JPY")]),
        ("VISA (¥1,460)", [(1460, "JPY")]),
        ("MAX 1200", [(1200, "")]),
        ("TAX (1200)", [(1200, "")]),
    ],
)
def test_real_amounts_beside_those_words_stay(row: str, amounts: list[tuple[int, str]]) -> None:
    assert amounts_of(row, 0) == amounts
    assert total_of_text("SHOP\nVISA **** 1234 1,460\nAPPROVAL 004512\nTOTAL 1,460", 0).minor == 1460


def test_full_width_figures_are_read() -> None:
    """OCR read `TOTAL ￥2,728` on a yen receipt with a FULLWIDTH COMMA (U+FF0C): the figures 2
    and 728, a total of ¥728 against the card's ¥2,728, and the receipt was asked about."""
    rows = ["RAMEN YOKOCHO", "SUBTOTAL ￥2,480", "TAX10% ￥248", "TOTAL ￥2\uff0c728", "VISA ￥2,728"]
    reading = total_of_text("\n".join(rows), 0)
    assert (reading.status, reading.minor, reading.currency) == ("ok", 2728, "JPY"), reading
    box = Box([(0, 0), (200, 0), (200, 20), (0, 20)], "TOTAL \uffe5\uff11\uff0c\uff12\uff10\uff10")
    assert rows_of([box])[0].text == "TOTAL \uffe51,200"


# Japanese and Chinese receipts as the OCR engine reads them, seen on receipts drawn in IPA Gothic
# (a system font, not needed here): kanji often in their simplified form (消費税 as 消费税), no
# katakana (クレジット is nothing), お預り as `预`, お釣り as nothing or `约`, 釣銭 as `约钱`,
# 税込 as `税达`, お会計 as `会計` or `书会計`, 円 as `月`, 稅額 as `额`.
@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("合計", "total"),
        ("合 計", "total"),
        ("合计", "total"),  # 総合計, read as one of these
        ("会計", "total"),  # お会計
        ("书会計", "total"),
        ("現计", "total"),  # 現計
        ("现計", "total"),
        ("合計（税达）", "total"),  # 合計(税込)
        ("合計金额", "total"),
        ("总计", "total"),
        ("總計", "total"),
        ("应付", "total"),
        ("應付", "total"),
        ("实付", "total"),
        ("小計", "subtotal"),
        ("小计", "subtotal"),
        ("消費税", "tax"),
        ("消费税", "tax"),
        ("消费税等", "tax"),
        ("外税", "tax"),
        ("税额", "tax"),
        ("额", "tax"),  # 稅額
        ("内消費税", "tax_incl"),
        ("内消费税", "tax_incl"),
        ("（内消费税等", "tax_incl"),
        ("（内税", "tax_incl"),
        ("（10%对象内税）", "tax_incl"),  # `(10%対象 ¥1,100 内税 ¥100)`: the right-most figure's
        ("预", "tender"),  # お預り, 預り, お預かり
        ("预合計", "tender"),  # お預り合計
        ("现金", "tender"),
        ("現金", "tender"),
        ("实收", "tender"),
        ("约钱", "change"),  # 釣銭
        ("约", "change"),  # お釣
        ("釣銭", "change"),
        ("找零", "change"),
        ("值引", "discount"),  # 値引
        ("割引", "discount"),
        ("信用卡", "card"),
        ("微信支付", "card"),
    ],
)
def test_japanese_and_chinese_labels(label: str, kind: str) -> None:
    assert kind_of(label)[0] == kind


JAPAN_CASH = """东京职前店
2026年11月24日（火）12:34
当 580月
牛乳2個 ￥396
小計 ￥976
消费税 ￥97
{total} ￥1,073
预 ￥2,000
￥927"""


@pytest.mark.parametrize("total", ["合計", "合 計", "合计", "会計", "书会計", "現计", "合計（税达）"])
def test_a_japanese_receipt_in_yen(total: str) -> None:
    """No label was read: every receipt printed in Japanese asked for \\AMOUNT. The cash handed
    over (お預り, read `预`) is the largest figure, and the change under it (お釣り) has no label."""
    reading = total_of_text(JAPAN_CASH.format(total=total), 0)
    assert (reading.status, reading.minor, reading.currency) == ("ok", 1073, "JPY"), reading


@pytest.mark.parametrize("tendered", ["预", "预合計", "現金"])
@pytest.mark.parametrize("change", ["约", "约钱", "釣銭", "找零"])
def test_cash_handed_over_and_change_are_never_the_total_in_yen(tendered: str, change: str) -> None:
    """Tax inside the prices (内消費税 is not added on top), the cash handed over the largest
    figure, the change below it: the total is 合計's."""
    rows = [
        "喫茶さくら",
        "合計点数 3点",
        "合計（税达） ￥1,100",
        "（10%对象￥1,100内税￥100）",
        "（内消费税等 ￥100）",
        f"{tendered} ￥5,000",
        f"{change} ￥3,900",
    ]
    reading = total_of_text("\n".join(rows), 0)
    assert (reading.status, reading.minor) == ("ok", 1100), reading
    # without a total line, the cash and the change are still no total
    reading = total_of_text("\n".join(r for r in rows if not r.startswith("合計（")), 0)
    assert reading.minor is None, reading


def test_a_count_of_items_and_a_yen_figure_read_with_a_month() -> None:
    """`合計点数 3点` is three items; OCR reads 円 as 月, and `580円` was taken for a month."""
    assert amounts_of("合計点数 3点", 0) == []
    assert amounts_of("当 580月", 0) == [(580, "")]
    assert amounts_of("2026年11月24日", 0) == []
    reading = total_of_text("喫茶さくら\nブレンド 580月\n合計 580月", 0)
    assert (reading.status, reading.minor) == ("ok", 580), reading


@pytest.mark.parametrize("total", ["合计", "总计", "应付", "实付", "合計", "總計", "應付"])
def test_a_chinese_receipt_in_yuan(total: str) -> None:
    rows = [
        "永和豆浆",
        "2026/11/24 12:34",
        "豆浆 12.00",
        "油条 8.50",
        "小计 20.50",
        f"{total} 20.50",
        "现金 50.00",
        "找零 29.50",
    ]
    reading = total_of_text("\n".join(rows), 2)
    assert (reading.status, reading.minor) == ("ok", 2050), reading


def test_a_chinese_receipt_with_its_tax_in_yuan() -> None:
    rows = ["小吃店", "牛肉面 100.00", "小计 100.00", "税额 6.00", "合计 106.00", "微信支付 106.00"]
    reading = total_of_text("\n".join(rows), 2)
    assert (reading.status, reading.minor) == ("ok", 10600), reading
    assert total_of_text("\n".join([*rows[:4], "实收 200.00", "找零 94.00"]), 2).minor is None


def test_a_figure_alone_under_the_cash_handed_over_is_the_change() -> None:
    """OCR reads no label of お釣り: under the tax inside the prices, printed below the total, the
    change stood as the bottom-most amount after the tax, and the receipt was asked about."""
    rows = [
        "茶",
        "牛乳 ￥880",
        "绿茶 ￥720",
        "合計点数4点",
        "合計 ￥1,600",
        "（内消费税等 ￥145)",
        "预 ￥2,000",
        "￥400",
    ]
    reading = total_of_text("\n".join(rows), 0)
    assert (reading.status, reading.minor) == ("ok", 1600), reading


@pytest.mark.parametrize("exponent", [2, 0])
def test_a_yen_sign_before_two_decimals_is_yuan(exponent: int) -> None:
    """China prints `合计 ￥20.50` with the sign Japan writes: in a yuan room it was asked about as
    "decimals of another currency" (read as yen, which have none). Two decimals after `¥` are
    yuan, kept as CNY in a room of other money; a receipt that names yen stays yen."""
    rows = ["超市", "牛奶 ￥8.50", "面包 ￥12.00", "合计 ￥20.50", "微信支付 ￥20.50"]
    reading = total_of_text("\n".join(rows), exponent)
    assert (reading.status, reading.minor, reading.currency) == ("ok", 2050, "CNY"), reading
    assert total_of_text("SHOP\nTOTAL ¥1,460", exponent).currency == "JPY"
    assert total_of_text("SHOP\nTOTAL ¥1,460円", exponent).currency == "JPY"
    assert total_of_text("STORE\nTOTAL JPY 20.50", 2).currency == "JPY"  # named yen: asked, as before


@pytest.mark.parametrize("sign", ["zł", "zt", "zl", "ZŁ", " zł"])
def test_a_bill_in_zloty_that_prints_no_pln_is_read_in_zloty(sign: str) -> None:
    """A Polish restaurant's bill prints `42,50 zł` and no PLN (OCR often reads the ł as t or
    l): read as a figure with no money of its own, it was counted as €42.50 in a room of euros.
    It is złoty, kept and not counted there."""
    text = f"RESTAURACJA\nPIEROGI 24,00{sign}\nDO ZAPŁATY 42,50{sign}"
    reading = total_of_text(text, 2)
    assert (reading.status, reading.minor, reading.currency) == ("ok", 4250, "PLN"), reading
    assert amounts_of(f"12,34{sign}", 2) == [(1234, "PLN")]


def test_a_z_word_after_a_figure_is_no_zloty() -> None:
    assert amounts_of("4,50 ZTM", 2) == [(450, "")]
    assert amounts_of("2 zlotych 4,50", 2) == [(450, "")]


@pytest.mark.parametrize("zloty", ["zł", "zt", "zl", "zf", "ZT", "ZŁ"])
@pytest.mark.parametrize("exponent", [2, 0])
def test_a_receipt_in_zloty_as_ocr_reads_it_is_in_zloty(zloty: str, exponent: int) -> None:
    """OCR has no `ł`: `Total 25,40 zł` on a receipt from Warsaw reads `Total 25,40 zt` (or `zl`,
    `zf`), a figure with no money of its own, counted as €25.40 in a room of euros (which writes
    its decimals with a comma too). After a figure it is the złoty, as `zł` is."""
    text = f"UBER\nTrip fare 22,10 {zloty}\nBooking fee 3,30{zloty}\nTotal 25,40 {zloty}\nVisa 1234"
    reading = total_in_own_decimals(rows_of_text(text.splitlines()), exponent)
    assert (reading.status, reading.minor, reading.currency) == ("ok", 2540, "PLN"), reading
    assert amounts_of(f"Total 25,40 {zloty}", 2) == [(2540, "PLN")]


@pytest.mark.parametrize(
    ("row", "exponent", "minor"),
    [("PIZZA 12,50 ZTL", 2, 1250), ("12,50 zloty", 2, 1250), ("ZT 12,50", 2, 1250), ("SIZE 12 ZL", 0, 12)],
)
def test_letters_that_only_look_like_the_zloty_are_no_money(row: str, exponent: int, minor: int) -> None:
    """Only `zł`, `zt`, `zl`, `zf` as a word of their own right after a figure with decimals are
    the złoty."""
    assert amounts_of(row, exponent) == [(minor, "")]


@pytest.mark.parametrize(
    ("row", "marker"),
    [
        ("CELKEM 57,40 Kč", "CZK"),
        ("CELKEM 57,40 Kc", "CZK"),  # OCR's readings of the koruna's sign
        ("CELKEM 57,40K", "CZK"),
        ("SUMMA 57,40 kr", "kr"),  # Sweden's, Norway's, Denmark's: the room says which
        ("SUMMA 57,40kr.", "kr"),
        ("TOTAL 57.40 KR", "kr"),
        ("TOPLAM 7,48 TL", "TRY"),  # the Turkish lira
        ("TOPLAM 7,48TL", "TRY"),
        ("OSSZESEN 1 490,00 Ft", "HUF"),  # the forint
        ("ROPE 12.50 ft", ""),  # feet
        ("TOTAL 12,50 LEI", "RON"),  # Romania's lei, by their name
        ("TOTAL 12,50 lei", "RON"),
        ("TOTAL 12,50 TLX", ""),
        ("PIZZA 12,50 KING", ""),  # words that only begin like them
        ("12,50 Ka", ""),
        ("TOTAL 12.50 K", ""),  # a K apart from the figure is no koruna
        ("0,540kg 12,50", ""),
    ],
)
def test_the_koruna_krona_lira_and_forint_after_a_figure(row: str, marker: str) -> None:
    assert [m for _, m in amounts_of(row, 2)][-1:] == [marker]


def test_a_swedish_and_a_czech_receipt_as_ocr_reads_them() -> None:
    swedish = total_of_text("ICA NARA STOCKHOLM\nBROD 32,90kr\nMJOLK 24,50kr\nSUMMA 57,40kr\nKORT 57,40kr", 2)
    assert (swedish.status, swedish.minor, swedish.currency) == ("ok", 5740, "kr"), swedish
    czech = total_of_text("POTRAVINY NOVAK\nCHLEB 32,90K\nMLEKO 24,50K\nCELKEM 57,40K\nKARTA 57,40K", 2)
    assert (czech.status, czech.minor, czech.currency) == ("ok", 5740, "CZK"), czech


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("SUMMA", "total"),  # Swedish
        ("Summa att betala", "total"),
        ("ATT BETALA", "total"),
        ("Å BETALE", "total"),  # Norwegian
        ("SUM", "total"),
        ("AT BETALE", "total"),  # Danish
        ("I ALT", "total"),
        ("CELKEM", "total"),  # Czech
        ("CELKEM K ÚHRADĚ", "total"),
        ("K UHRADE", "total"),
        ("SUMMA MOMS", "tax"),  # the tax's sum, not the total
        ("KORT", "card"),
        ("BANKKORT", "card"),
        ("KONTANT", "tender"),
        ("HOTOVOST", "tender"),
        ("VÄXEL", "change"),
        ("VEKSEL", "change"),
        ("BYTTEPENGE", "change"),
        ("VRÁCENO", "change"),
        ("KORTING", "item"),  # Dutch for a discount, no card
        ("SUMAC", "item"),
        ("TOTAAL", "total"),  # Dutch
        ("SUBTOTAAL", "subtotal"),
        ("PIN", "card"),
        ("CONTANT", "tender"),
        ("WISSELGELD", "change"),
        ("TERUG", "change"),
        ("TROCO", "change"),  # Portuguese
        ("DINHEIRO", "tender"),
        ("MULTIBANCO", "card"),
        ("BANCOMAT", "card"),  # Italian
        ("YHTEENSÄ", "total"),  # Finnish
        ("YHTEENSA", "total"),
        ("MAKSETTAVA", "total"),
        ("KÄTEINEN", "tender"),
        ("KORTTI", "card"),
        ("TAKAISIN", "change"),
        ("TOPLAM", "total"),  # Turkish
        ("ARA TOPLAM", "subtotal"),
        ("GENEL TOPLAM", "total"),
        ("NAKIT", "tender"),
        ("KREDI KARTI", "card"),
        ("PARA ÜSTÜ", "change"),
        ("ÖSSZESEN", "total"),  # Hungarian
        ("FIZETENDŐ", "total"),  # it holds TEND: was cash handed over
        ("KÉSZPÉNZ", "tender"),
        ("VISSZAJÁRÓ", "change"),
        ("BANKKÁRTYA", "card"),
        ("UKUPNO", "total"),  # Croatian
        ("GOTOVINA", "tender"),
        ("ZA PLAČILO", "total"),  # Slovenian
        ("SPOLU", "total"),  # Slovak
        ("CELKOM", "total"),
        ("KOKKU", "total"),  # Estonian
        ("SULARAHA", "tender"),
        ("IŠ VISO", "total"),  # Lithuanian
        ("IS VISO", "total"),
        ("SAMTALS", "total"),  # Icelandic
        ("NUMERAR", "tender"),  # Romanian
        ("TỔNG CỘNG", "total"),  # Vietnamese, with its accents and as OCR reads it
        ("TONG CONG", "total"),
        ("Tổng tiền", "total"),
        ("TIỀN MẶT", "tender"),
        ("TIEN THUA", "change"),
        ("TUNAI", "tender"),  # Indonesian
        ("KEMBALIAN", "change"),
        ("SU VUELTO", "change"),  # Latin American Spanish
        ("KARTING", "item"),  # words that only hold them
        ("TROCOLI", "item"),
        ("SPINACH", "item"),
    ],
)
def test_more_languages_receipts_words(label: str, kind: str) -> None:
    """Receipts from Sweden, Norway, Denmark, the Czech Republic, the Netherlands, Portugal,
    Finland, Turkey, Hungary, Croatia, Slovenia, Slovakia, Estonia, Lithuania, Iceland, Vietnam
    and Indonesia were
    "no total found": SUMMA, I ALT, CELKEM, TOTAAL and their kin were no words the reader knew
    (and in Hungary FIZETENDŐ, to pay, was taken for cash handed over)."""
    assert kind_of(label)[0] == kind


@pytest.mark.parametrize(
    "text",
    [
        "ALBERT HEIJN\nBROOD 2,49\nKAAS 4,99\nTOTAAL 7,48\nPIN 7,48",
        "K-MARKET\nLEIPA 2,49\nJUUSTO 4,99\nYHTEENSA 7,48\nKORTTI 7,48",
        "MIGROS\nEKMEK 2,49\nPEYNIR 4,99\nARA TOPLAM 7,48\nTOPLAM 7,48\nNAKIT 10,00\nPARA USTU 2,52",
        "SPAR\nKENYER 2,49\nSAJT 4,99\nOSSZESEN 7,48\nKESZPENZ 10,00\nVISSZAJARO 2,52",
    ],
)
def test_receipts_in_more_languages_are_read(text: str) -> None:
    reading = total_of_text(text, 2)
    assert (reading.status, reading.minor) == ("ok", 748), reading


WHOLE_HUNGARIAN = "SPAR BUDAPEST\nKENYER 249\nSAJT 1 241\nOSSZESEN 1 490\nBANKKARTYA 1 490"


@pytest.mark.parametrize(
    ("text", "exponent", "whole", "read"),
    [
        # forints, printed whole with thousands grouped by a space: the room's in a room of forints
        (WHOLE_HUNGARIAN, 2, True, (149000, None)),
        (WHOLE_HUNGARIAN.replace("90\n", "90 Ft\n"), 2, True, (149000, "HUF")),
        # and kept as forints in a room of euros or of yen, when the `Ft` says so
        ("SPAR\nKENYER 249Ft\nSAJT 1241Ft\nOSSZESEN 1 490Ft\nBANKKARTYA 1 490Ft", 2, False, (149000, "HUF")),
        ("SPAR\nKENYER 249 Ft\nOSSZESEN 1.490 Ft", 0, False, (149000, "HUF")),
        # Chilean pesos, Vietnamese dong (its `đ` as OCR reads it, or none), whole and grouped by points
        ("LIDER\nPAN $2.990\nLECHE $9.000\nTOTAL $11.990\nEFECTIVO $20.000\nVUELTO $8.010", 0, False, (11990, None)),
        ("CIRCLE K\nBANH MI 15.000d\nCA PHE 25.000d\nTONG CONG 40.000d\nTIEN MAT 50.000d\nTIEN THUA 10.000d", 0, False, (40000, "VND")),
        ("CIRCLE K\nBANH MI 15.000\nCA PHE 25.000\nTỔNG CỘNG 40.000\nTIỀN MẶT 50.000\nTIỀN THỪA 10.000", 0, False, (40000, None)),
        ("CIRCLE K\nBANH MI 15.000đ\nTONG CONG 40.000 ₫", 2, False, (40000, "VND")),
        # rupiah by its `Rp`, in a room of rupiah or of euros; Colombian pesos in a room of theirs
        ("INDOMARET\nROTI Rp12.000\nSUSU Rp 13.500\nTOTAL Rp 25.500\nTUNAI Rp 50.000\nKEMBALI Rp24.500", 2, True, (2550000, "IDR")),
        ("INDOMARET\nROTI Rp12.000\nTOTAL Rp 25.500\nTUNAI Rp 50.000", 2, False, (2550000, "IDR")),
        ("INDOMARET\nROTI 12.000\nSUSU 13.500\nTOTAL 25.500\nTUNAI 50.000\nKEMBALI 24.500", 2, True, (2550000, None)),
        ("EXITO\nPAN $2.900\nLECHE $10.000\nTOTAL $12.900", 2, True, (1290000, None)),
        # Iceland's whole krónur, grouped by a point
        ("BONUS\nBRAUD 459 kr.\nMJOLK 1.031 kr.\nSAMTALS 1.490 kr.", 0, False, (1490, None)),
        # CFA francs, grouped by spaces: `1 490` was the figures 1 and 490, and 490 was counted
        ("BOUTIQUE\nPAIN 490\nLAIT 1 000\nTOTAL 1 490\nESPECES 2 000\nRENDU 510", 0, False, (1490, None)),
        ("SHOP\nCOM 15 000 ₫\nTONG CONG 25 000 ₫", 2, False, (25000, "VND")),
    ],
)  # fmt: skip
def test_a_receipt_printed_in_whole_money_is_read(
    text: str, exponent: int, whole: bool, read: tuple[int, str | None]
) -> None:
    """Forints, rupiah and Colombian pesos have decimals no receipt prints (`1 490 Ft`, `Rp
    25.000`), and Chilean pesos, dong, krónur and CFA francs none at all, printed with thousands
    grouped by a point or a space (`$11.990`, `40.000đ`, `1 490`): every such receipt was "no
    total found", or in a room of whole money `1 490` was the figures 1 and 490, and 490 counted. In the room's money (`whole`: `printed_whole`) or by the
    sign it prints, the total is read, in minor units of its money."""
    reading = total_of_text(text, exponent, whole)
    assert (reading.status, (reading.minor, reading.currency)) == ("ok", read), reading


@pytest.mark.parametrize(
    ("text", "exponent", "whole"),
    [
        # the same without its forints' sign, in a room of money whose receipts print decimals
        (WHOLE_HUNGARIAN, 2, False),
        # a receipt that prints decimals lost its total's point to OCR: no whole figure read
        ("CAFE\nLATTE 4,50\nCROISSANT 3,20\nCELKEM 5740", 2, True),
        # dong without the dong's sign, in a room of dollars
        ("CIRCLE K\nBANH MI 15.000\nTONG CONG 40.000", 2, False),
    ],
)
def test_a_whole_figure_is_no_total_where_the_money_prints_decimals(
    text: str, exponent: int, whole: bool
) -> None:
    reading = total_of_text(text, exponent, whole)
    assert reading.minor is None, reading


@pytest.mark.parametrize(
    ("row", "amounts"),
    [
        ("TOTAL $12.990", [(12990, "")]),
        ("TOTAL 1.234,56", []),  # decimals: none of a whole money's figures
        ("12.11.2026", []),  # a date
        ("3D GLASSES 500", [(3, ""), (500, "")]),  # a `D` after a figure of no thousands: no dong
        ("1490K", [(1490, "")]),  # a glued K in whole money: no koruna
        ("SIZE 12 ZL", [(12, "")]),
    ],
)
def test_figures_grouped_by_points_in_whole_money(row: str, amounts: list[tuple[int, str]]) -> None:
    assert amounts_of(row, 0) == amounts


def test_money_printed_whole_is_cldr_s_cash_digits() -> None:
    from bot.features.ledger.money import printed_whole

    assert [c for c in ("HUF", "IDR", "COP", "TWD", "CZK") if not printed_whole(c)] == []
    assert [c for c in ("USD", "EUR", "GBP", "JPY", "CLP", "VND", "huf") if printed_whole(c)] == ["huf"]
