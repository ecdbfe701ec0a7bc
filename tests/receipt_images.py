"""Receipts drawn with Pillow and Debian's DejaVu fonts (package fonts-dejavu-core), each with a
known total: grocery (with savings and points), restaurant with a tip, fuel, a card slip, a hotel
folio, a pharmacy, a long receipt, two columns, euro receipts with comma decimals (French,
German, Italian), pounds and yen; rotated a few degrees, JPEG-compressed, with noise, under a
photo condition (perspective, shadow, crease, low light, faded print, blur). Used by
tests/features/ledger/test_intake.py and bench/receipts.py."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
# the fonts of fonts-dejavu-core
FONTS = (
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
)
MISSING_FONTS = "Debian's DejaVu fonts are missing: apt-get install fonts-dejavu-core"


def fonts_available() -> bool:
    return all((FONT_DIR / name).is_file() for name in FONTS)


Line = tuple[str, str]  # (label, amount): either may be ""


def money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def money_k(minor: int) -> str:
    """1,234.56: a thousands separator."""
    return f"{minor // 100:,}.{minor % 100:02d}"


def money_eu(minor: int) -> str:
    """1.234,56: the comma decimals of most of Europe."""
    return f"{minor // 100:,}".replace(",", ".") + f",{minor % 100:02d}"


def last4(rng: random.Random) -> str:
    return str(rng.randint(1000, 9999))


@dataclass(frozen=True)
class Receipt:
    layout: str
    lines: list[Line]
    total: int | None  # minor units; None: the receipt has no readable total
    exponent: int = 2  # the currency's decimals (0: yen)


def _items(rng: random.Random, names: list[str], count: int) -> tuple[list[Line], int]:
    lines, subtotal = [], 0
    for name in rng.sample(names, count):
        price = rng.randint(99, 2499)
        subtotal += price
        lines.append((name, money(price)))
    return lines, subtotal


GROCERIES = [
    "MILK 2%",
    "BREAD",
    "EGGS 12CT",
    "BANANAS",
    "COFFEE",
    "CHEESE",
    "PASTA",
    "RICE 2LB",
    "APPLES",
    "YOGURT",
]
DISHES = ["Margherita", "Caesar Salad", "Lasagna", "Tiramisu", "Espresso", "House Wine", "Risotto", "Soup"]


def grocery(rng: random.Random) -> Receipt:
    items, subtotal = _items(rng, GROCERIES, rng.randint(3, 7))
    tax = subtotal * rng.choice([0, 5, 7, 8]) // 100
    total = subtotal + tax
    lines: list[Line] = [
        (rng.choice(["FRESH MART", "GREEN GROCER", "CITY MARKET"]), ""),
        ("123 MAIN ST", ""),
        ("", ""),
    ]
    lines += [*items, ("", ""), ("SUBTOTAL", money(subtotal)), ("TAX", money(tax)), ("TOTAL", money(total))]
    if rng.random() < 0.5:
        lines += [("VISA ****" + str(rng.randint(1000, 9999)), money(total))]
    else:
        cash = (total // 1000 + 1) * 1000
        lines += [("CASH", money(cash)), ("CHANGE", money(cash - total))]
    lines += [("", ""), ("THANK YOU", "")]
    return Receipt("grocery", lines, total)


def restaurant(rng: random.Random) -> Receipt:
    items, subtotal = _items(rng, DISHES, rng.randint(2, 5))
    tax = subtotal * 8 // 100
    tip = (subtotal * rng.choice([15, 18, 20]) // 100) // 100 * 100
    lines: list[Line] = [("TRATTORIA LUIGI", ""), ("Table 12  Server: Ann", ""), ("", "")]
    lines += [
        *items,
        ("", ""),
        ("Subtotal", money(subtotal)),
        ("Tax", money(tax)),
        ("Total", money(subtotal + tax)),
        ("Tip", money(tip)),
        ("Total", money(subtotal + tax + tip)),
        ("", ""),
        ("Thank you!", ""),
    ]
    return Receipt("restaurant", lines, subtotal + tax + tip)


def fuel(rng: random.Random) -> Receipt:
    gallons = rng.randint(5000, 15000)  # thousandths
    price = rng.randint(2899, 4599)  # thousandths of a dollar
    total = (gallons * price + 5_000) // 10_000
    lines: list[Line] = [
        (rng.choice(["SHELL 0042", "CHEVRON 1187", "EXXON 77"]), ""),
        ("PUMP 3 UNLEADED", ""),
        ("", ""),
        ("GALLONS", f"{gallons // 1000}.{gallons % 1000:03d}"),
        ("PRICE/GAL", f"${price // 1000}.{price % 1000:03d}"),
        ("FUEL SALE", "$" + money(total)),
        ("", ""),
        ("TOTAL", "$" + money(total)),
        ("DEBIT ****" + str(rng.randint(1000, 9999)), ""),
    ]
    return Receipt("fuel", lines, total)


def card_slip(rng: random.Random) -> Receipt:
    amount = rng.randint(1500, 12000)
    tip = amount * rng.choice([15, 18, 20]) // 100
    lines: list[Line] = [
        ("MERCHANT COPY", ""),
        ("BISTRO 9", ""),
        ("", ""),
        ("AMOUNT", "$" + money(amount)),
        ("TIP", "$" + money(tip)),
        ("TOTAL", "$" + money(amount + tip)),
        ("", ""),
        ("APPROVED  AUTH 0" + str(rng.randint(10000, 99999)), ""),
        ("X__________________", ""),
    ]
    return Receipt("card slip", lines, amount + tip)


def no_total(rng: random.Random) -> Receipt:
    return Receipt(
        "no total", [("PARKING TICKET", ""), ("ENTRY 08:12", ""), ("SPACE 42", ""), ("THANK YOU", "")], None
    )


def disagreeing(rng: random.Random) -> Receipt:
    """TOTAL and AMOUNT DUE that differ: a careful reader asks."""
    return Receipt(
        "disagreeing",
        [
            ("CORNER CAFE", ""),
            ("", ""),
            ("LATTE", "4.50"),
            ("MUFFIN", "3.25"),
            ("TOTAL", "7.75"),
            ("AMOUNT DUE", "9.75"),
        ],
        None,
    )


LAYOUTS = (grocery, restaurant, fuel, card_slip)


# -- the wider set (issue 26): more layouts, currencies and ways of saying the total ----------------


def grocery_savings(rng: random.Random) -> Receipt:
    """Member prices, a saving line, loyalty points: numbers that are not the total."""
    items, subtotal = _items(rng, GROCERIES, rng.randint(4, 8))
    saving = rng.randint(50, min(300, subtotal // 2))
    net = subtotal - saving
    tax = net * rng.choice([0, 5, 7]) // 100
    total = net + tax
    lines: list[Line] = [
        (rng.choice(["SAVE MORE FOODS", "VALUE MARKET", "FOOD CO-OP"]), ""),
        (f"STORE #{rng.randint(100, 999)} REG {rng.randint(1, 9)}", ""),
        ("", ""),
        *items,
        ("MEMBER SAVINGS", "-" + money(saving)),
        ("", ""),
        ("SUBTOTAL", money(net)),
        ("TAX", money(tax)),
        ("TOTAL", money(total)),
        ("MASTERCARD ****" + last4(rng), money(total)),
        ("", ""),
        ("YOU SAVED", money(saving)),
        ("POINTS EARNED", str(rng.randint(20, 400))),
        ("THANK YOU", ""),
    ]
    return Receipt("grocery savings", lines, total)


def hotel_folio(rng: random.Random) -> Receipt:
    """Nights at a rate, taxes and a fee; the payment and a zero balance below the total."""
    nights = rng.randint(1, 4)
    rate = rng.randint(8900, 24900)
    tax = nights * rate * 12 // 100
    fee = rng.choice([0, 1500, 2500])
    total = nights * rate + tax + fee
    lines: list[Line] = [
        (rng.choice(["GRAND HARBOR HOTEL", "PARK INN", "THE LANTERN"]), ""),
        (f"FOLIO {rng.randint(10000, 99999)}", ""),
        (f"ROOM {rng.randint(101, 950)}  ARRIVAL 11/{rng.randint(10, 20)}/26", ""),
        ("", ""),
    ]
    lines += [(f"11/{20 + n} ROOM CHARGE", money_k(rate)) for n in range(nights)]
    lines.append(("OCCUPANCY TAX", money_k(tax)))
    if fee:
        lines.append(("RESORT FEE", money(fee)))
    lines += [
        ("", ""),
        ("TOTAL CHARGES", money_k(total)),
        ("VISA ****" + last4(rng), "-" + money_k(total)),
        ("BALANCE", "0.00"),
    ]
    return Receipt("hotel folio", lines, total)


def pharmacy(rng: random.Random) -> Receipt:
    """A prescription copay, items at a quantity, AMOUNT PAID."""
    copay = rng.choice([500, 1000, 1500, 2500])
    qty, unit = rng.randint(2, 3), rng.randint(299, 899)
    other = rng.randint(199, 1299)
    subtotal = copay + qty * unit + other
    tax = (qty * unit + other) * 7 // 100
    total = subtotal + tax
    lines: list[Line] = [
        (rng.choice(["CITY PHARMACY", "CORNER DRUG", "WELL RX"]), ""),
        (f"RX# {rng.randint(1000000, 9999999)}  REFILLS 2", ""),
        ("", ""),
        ("RX COPAY", money(copay)),
        (f"IBUPROFEN {qty} @ {money(unit)}", money(qty * unit)),
        ("VITAMIN C", money(other)),
        ("", ""),
        ("SUBTOTAL", money(subtotal)),
        ("TAX", money(tax)),
        ("TOTAL", money(total)),
        ("AMOUNT PAID", money(total)),
        ("DEBIT ****" + last4(rng), ""),
    ]
    return Receipt("pharmacy", lines, total)


LONG_ITEMS = [f"{name} {n}" for n in range(1, 4) for name in GROCERIES]


def long_receipt(rng: random.Random) -> Receipt:
    """A week's shopping: 18-26 items."""
    items, subtotal = _items(rng, LONG_ITEMS, rng.randint(18, 26))
    tax = subtotal * 6 // 100
    total = subtotal + tax
    lines: list[Line] = [("BIG BOX GROCERY", ""), ("", ""), *items, ("", "")]
    lines += [("SUBTOTAL", money_k(subtotal)), ("TAX", money(tax)), ("TOTAL", money_k(total))]
    lines += [("VISA ****" + last4(rng), money_k(total)), ("ITEMS SOLD " + str(len(items)), "")]
    return Receipt("long", lines, total)


def two_column(rng: random.Random) -> Receipt:
    """Quantity, item and unit price on the left, the line's amount on the right."""
    lines: list[Line] = [("DELI & BAGELS", ""), ("QTY ITEM       PRICE", ""), ("", "")]
    subtotal = 0
    for name in rng.sample(["BAGEL", "COFFEE", "LOX", "JUICE", "MUFFIN", "SOUP"], rng.randint(3, 5)):
        qty, unit = rng.randint(1, 4), rng.randint(125, 895)
        subtotal += qty * unit
        lines.append((f"{qty}  {name:<9} {money(unit)}", money(qty * unit)))
    tax = subtotal * 8 // 100
    lines += [("", ""), ("SUBTOTAL", money(subtotal)), ("TAX", money(tax)), ("TOTAL", money(subtotal + tax))]
    return Receipt("two column", lines, subtotal + tax)


def france(rng: random.Random) -> Receipt:
    """Comma decimals; TOTAL HT (before tax), TVA, TOTAL TTC; paid by card (CB)."""
    items, ht = _items(
        rng, ["CAFE", "CROISSANT", "JUS ORANGE", "OMELETTE", "SALADE", "TARTE"], rng.randint(2, 5)
    )
    tva = ht * 10 // 100
    ttc = ht + tva
    lines: list[Line] = [
        (rng.choice(["CAFE DE LA GARE", "BRASSERIE DU PORT"]), ""),
        ("TEL 01 42 60 12 34", ""),
        ("", ""),
        *[(label, money_eu(int(amount.replace(".", "")))) for label, amount in items],
        ("", ""),
        ("TOTAL HT", money_eu(ht)),
        ("TVA 10%", money_eu(tva)),
        ("TOTAL TTC", money_eu(ttc) + " EUR"),
        ("CB ****" + last4(rng), money_eu(ttc)),
        ("MERCI", ""),
    ]
    return Receipt("euro comma", lines, ttc)


def _paid_cash(
    rng: random.Random,
    layout: str,
    head: list[str],
    names: list[str],
    labels: tuple[str, str, str, str],
    tax_percent: int,
) -> Receipt:
    """A comma-decimal receipt paid cash: its total with the tax inside it, the cash handed over
    and the change; `labels` name the total, the tax, the cash and the change."""
    items, total = _items(rng, names, rng.randint(2, 5))
    tax = total * tax_percent // (100 + tax_percent)
    cash = (total // 1000 + 1) * 1000
    total_label, tax_label, cash_label, change_label = labels
    lines: list[Line] = [(line, "") for line in head]
    lines += [
        ("", ""),
        *[(label, money_eu(int(amount.replace(".", "")))) for label, amount in items],
        ("", ""),
        (total_label, money_eu(total)),
        (tax_label, money_eu(tax)),
        (cash_label, money_eu(cash)),
        (change_label, money_eu(cash - total)),
    ]
    return Receipt(layout, lines, total)


def germany(rng: random.Random) -> Receipt:
    """SUMME with the tax inside it (MWST), paid cash (BAR) with change (RUECKGELD)."""
    names = ["BROT", "BREZEL", "KAFFEE", "KUCHEN", "SEMMEL", "MILCH"]
    labels = ("SUMME EUR", "MWST 7%", "BAR", "RUECKGELD")
    return _paid_cash(rng, "euro summe", ["BAECKEREI MUELLER"], names, labels, 7)


def italy(rng: random.Random) -> Receipt:
    """TOTALE, IVA inside it, CONTANTI and RESTO."""
    names = ["PIZZA", "ACQUA", "BIRRA", "PASTA", "CAFFE", "DOLCE"]
    labels = ("TOTALE EURO", "DI CUI IVA", "CONTANTI", "RESTO")
    return _paid_cash(rng, "euro totale", ["TRATTORIA DA MARIO", "P.IVA 01234567890"], names, labels, 10)


def spain(rng: random.Random) -> Receipt:
    """A bar's ticket: comma decimals with the euro sign after them (which OCR cannot read), no
    code and no tax figure: nothing printed that OCR can read says it is not in dollars but the
    decimal comma."""
    items, total = _items(rng, ["CAFE", "CANA", "TOSTADA", "ZUMO", "AGUA", "BOCADILLO"], rng.randint(2, 4))
    lines: list[Line] = [
        ("BAR LA ESQUINA", ""),
        ("", ""),
        *[(label, money_eu(int(amount.replace(".", ""))) + " €") for label, amount in items],
        ("", ""),
        ("TOTAL", money_eu(total) + " €"),
        ("IVA INCLUIDO", ""),
        ("GRACIAS POR SU VISITA", ""),
    ]
    return Receipt("euro bar", lines, total)


def britain(rng: random.Random) -> Receipt:
    """Pounds; VAT included in the total, shown below it."""
    items, total = _items(rng, ["TEA", "SCONE", "SANDWICH", "CRISPS", "FLAPJACK", "SOUP"], rng.randint(2, 5))
    vat = total * 20 // 120
    lines: list[Line] = [
        ("HIGH STREET CAFE", ""),
        ("", ""),
        *[(label, "£" + amount) for label, amount in items],
        ("", ""),
        ("TOTAL", "£" + money(total)),
        ("VISA DEBIT ****" + last4(rng), "£" + money(total)),
        ("VAT @ 20% INCLUDED", "£" + money(vat)),
    ]
    return Receipt("pound", lines, total)


def japan(rng: random.Random) -> Receipt:
    """Yen: no decimals, thousands separators; a date, a time, a phone number, a register's and a
    receipt's number that are not amounts, and half of them paid by card, its last digits and
    approval code printed under the charge (in yen four digits could be an amount). The card's
    digits and the numbers come from the total, drawing nothing: the other layouts' receipts of
    a seed stay as they were."""
    lines: list[Line] = [
        ("RAMEN YOKOCHO", ""),
        (f"2026/11/{rng.randint(10, 28)} 12:{rng.randint(10, 59)}", ""),
        ("TEL 03-3342-7781", ""),
        ("", ""),
    ]
    subtotal = 0
    for name in rng.sample(["RAMEN", "GYOZA", "BEER", "RICE", "EDAMAME", "TEA"], rng.randint(2, 4)):
        price = rng.randint(3, 15) * 80
        subtotal += price
        lines.append((name, f"¥{price:,}"))
    tax = subtotal // 10
    total = subtotal + tax
    cash = (total // 1000 + 1) * 1000
    lines += [
        ("", ""),
        ("SUBTOTAL", f"¥{subtotal:,}"),
        ("TAX 10%", f"¥{tax:,}"),
        ("TOTAL", f"¥{total:,}"),
    ]
    if total // 8 % 2:  # prices of 80s: totals of 8s
        lines += [
            ("VISA", f"¥{total:,}"),
            (f"•••• {1000 + total * 7 % 9000}", ""),
            (f"APPROVAL {total * 31 % 1_000_000:06d}", ""),
        ]
    else:
        lines += [("CASH", f"¥{cash:,}"), ("CHANGE", f"¥{cash - total:,}")]
    lines.append((f"REG 02  No. {total * 13 % 10_000:04d}", ""))
    return Receipt("yen", lines, total, exponent=0)


def money_qc(minor: int, sep: str = " ") -> str:
    """1 234,56 $: Quebec's figures, thousands grouped by a space, comma decimals, the sign after."""
    return f"{minor // 100:,}".replace(",", sep) + f",{minor % 100:02d} $"


def quebec(rng: random.Random, *, sep: str = " ", big: bool = False) -> Receipt:
    """A Montreal receipt: SOUS-TOTAL, TPS (GST 5%) and TVQ (QST 9.975%) on lines of their own,
    amounts as `45,99 $`, the store's tax numbers under the total. `big`: a total in the
    thousands (`1 234,56 $`), grouped by `sep` (a space, two where a till pads to a column)."""
    if big:
        items = [("PORTABLE", rng.randint(100_000, 180_000))]
    else:
        names = ["FROMAGE OKA", "BAGUETTE", "VIN ROUGE", "BLEUETS", "SIROP D'ERABLE", "CAFE"]
        items = [(name, rng.randint(199, 2499)) for name in rng.sample(names, rng.randint(2, 4))]
    subtotal = sum(price for _, price in items)
    tps = (subtotal * 5 + 50) // 100
    tvq = (subtotal * 9975 + 50_000) // 100_000
    total = subtotal + tps + tvq
    lines: list[Line] = [("MARCHE JEAN-TALON", ""), ("7070 AV HENRI-JULIEN", ""), ("", "")]
    lines += [(name, money_qc(price, sep)) for name, price in items]
    lines += [
        ("", ""),
        ("SOUS-TOTAL", money_qc(subtotal, sep)),
        ("TPS 5%", money_qc(tps, sep)),
        ("TVQ 9,975%", money_qc(tvq, sep)),
        ("TOTAL", money_qc(total, sep)),
        ("DEBIT ****" + last4(rng), money_qc(total, sep)),
        ("", ""),
        ("TPS: 123456789 RT0001", ""),
        ("TVQ: 1234567890 TQ0001", ""),
        ("MERCI", ""),
    ]
    return Receipt("quebec", lines, total)


ALL_LAYOUTS = (
    grocery, restaurant, fuel, card_slip, grocery_savings, hotel_folio, pharmacy, long_receipt, two_column,
    france, germany, italy, britain, japan,
)  # fmt: skip
CONDITIONS = ("plain", "perspective", "shadow", "crease", "low light", "faded", "blur")


def render(
    receipt: Receipt,
    *,
    font: str = "DejaVuSansMono.ttf",
    size: int = 22,
    angle: float = 2.0,
    quality: int = 70,
    noise: float = 12.0,
    seed: int = 0,
    width: int = 560,
    condition: str = "plain",
) -> bytes:
    """The receipt as a JPEG photo: paper on a darker table, turned by `angle` degrees, under
    one of CONDITIONS: seen at a slant (perspective), half in shadow, folded (crease), in a dim
    room (low light), printed by a tired thermal head (faded), or out of focus (blur)."""
    rng = random.Random(seed)
    ink = rng.randint(105, 140) if condition == "faded" else 20
    face = ImageFont.truetype(str(FONT_DIR / font), size)
    line_height = int(size * 1.6)
    margin = 28
    height = margin * 2 + line_height * len(receipt.lines)
    paper = Image.new("L", (width, height), 250)
    draw = ImageDraw.Draw(paper)
    for i, (label, amount) in enumerate(receipt.lines):
        y = margin + i * line_height
        if label and not amount and i < 2:
            x = (width - draw.textlength(label, font=face)) / 2
            draw.text((x, y), label, font=face, fill=ink)
        elif label:
            draw.text((margin, y), label, font=face, fill=ink)
        if amount:
            draw.text((width - margin - draw.textlength(amount, font=face), y), amount, font=face, fill=ink)
    noisy = Image.effect_noise(paper.size, noise)
    paper = Image.blend(paper, noisy.point(lambda v: min(255, v + 128)), 0.15)
    table = Image.new("L", (width + 120, height + 120), 120)
    table.paste(paper, (60, 60))
    turned = table.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=120)
    turned = _condition(turned, condition, rng)
    if condition != "blur" and rng.random() < 0.5:
        turned = turned.filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    turned.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def screenshot(rows: list[str], *, width: int = 1170, height: int = 2532, size: int = 48) -> bytes:
    """A phone's screenshot (PNG, its size in pixels): a status bar's clock, then `rows`, centred,
    dark on white, as a payment app shows a payment (`You paid Ann Lee`, `$20.00`)."""
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    small = ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), 40)
    draw.text((60, 40), "9:41", font=small, fill=20)
    face = ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), size)
    y = 240
    for row in rows:
        draw.text(((width - draw.textlength(row, font=face)) / 2, y), row, font=face, fill=20)
        y += int(size * 2)
    out = io.BytesIO()
    page.save(out, format="PNG")
    return out.getvalue()


# -- tall phone screenshots: a digital receipt, an online order, a delivery app's receipt --------

Row = tuple[str, str, str]  # (label, amount, style): style "text", "muted", "bold" or "rule"

DELIVERY_DISHES = [
    "Pad Thai", "Green Curry", "Spring Rolls", "Fried Rice", "Tom Yum Soup", "Mango Sticky Rice",
    "Chicken Satay", "Thai Iced Tea", "Papaya Salad", "Basil Chicken", "Massaman Curry", "Jasmine Rice",
]  # fmt: skip
MODIFIERS = ["No peanuts", "Extra spicy", "Mild", "Add shrimp", "No cilantro", "Sauce on the side"]
SHOP_ITEMS = [
    "USB-C Cable 2m", "Phone Case Clear", "AA Batteries 12pk", "Notebook A5", "Gel Pens 10ct",
    "Desk Lamp LED", "HDMI Adapter", "Sticky Notes", "Water Bottle", "Mouse Pad", "Laptop Stand",
    "Screen Wipes", "Label Maker Tape", "Paper Clips", "Stapler", "Extension Cord",
]  # fmt: skip


@dataclass(frozen=True)
class Screen:
    layout: str
    rows: list[Row]
    total: int  # minor units


def _dollars(minor: int) -> str:
    return "$" + money_k(minor)


def delivery_app(rng: random.Random, items: int) -> Screen:
    """A food-delivery app's receipt: dishes with a quantity and a grey line of choices under
    some, then fees, tax, the courier's tip, Total in bold, and the card it was paid with."""
    rows: list[Row] = [
        ("Receipt", "", "bold"),
        (rng.choice(["Bangkok Garden", "Thai Orchid", "Lotus Kitchen"]), "", "text"),
        (f"Order #{rng.randint(100000, 999999)}  Delivered", "", "muted"),
        ("", "", "rule"),
    ]
    subtotal = 0
    for n in range(items):
        qty, price = rng.randint(1, 3), rng.randint(399, 1899)
        subtotal += qty * price
        rows.append((f"{qty}x {DELIVERY_DISHES[n % len(DELIVERY_DISHES)]}", _dollars(qty * price), "text"))
        if rng.random() < 0.4:
            rows.append((rng.choice(MODIFIERS), "", "muted"))
    delivery, service = rng.choice([0, 199, 299, 499]), subtotal * 15 // 100
    tax = subtotal * 8 // 100
    tip = rng.choice([300, 500, 800, subtotal * 18 // 100])
    total = subtotal + delivery + service + tax + tip
    rows += [
        ("", "", "rule"),
        ("Subtotal", _dollars(subtotal), "text"),
        ("Delivery Fee", _dollars(delivery) if delivery else "Free", "text"),
        ("Service Fee", _dollars(service), "text"),
        ("Estimated Tax", _dollars(tax), "text"),
        ("Dasher Tip", _dollars(tip), "text"),
        ("", "", "rule"),
        ("Total", _dollars(total), "bold"),
        (f"Visa •••• {last4(rng)}", _dollars(total), "muted"),
        ("", "", "rule"),
        ("Rate your order", "", "text"),
        ("Get help with this order", "", "muted"),
    ]
    return Screen("delivery app", rows, total)


def online_order(rng: random.Random, items: int) -> Screen:
    """An online shop's order confirmation: items with Qty lines, then Items, Shipping, Total
    before tax, Estimated tax, Order total in bold; the address below it."""
    rows: list[Row] = [
        ("Order placed, thank you!", "", "bold"),
        (f"Order # 112-{rng.randint(1000000, 9999999)}-{rng.randint(1000000, 9999999)}", "", "muted"),
        ("Arriving Thursday", "", "text"),
        ("", "", "rule"),
    ]
    subtotal = 0
    for n in range(items):
        qty, price = rng.randint(1, 2), rng.randint(299, 4999)
        subtotal += qty * price
        rows.append((SHOP_ITEMS[n % len(SHOP_ITEMS)], _dollars(qty * price), "text"))
        rows.append((f"Qty: {qty}  Sold by Shop{rng.randint(10, 99)}", "", "muted"))
    shipping = rng.choice([0, 599])
    before_tax = subtotal + shipping
    tax = before_tax * rng.choice([6, 7, 8]) // 100
    total = before_tax + tax
    rows += [
        ("", "", "rule"),
        (f"Items ({items}):", _dollars(subtotal), "text"),
        ("Shipping & handling:", _dollars(shipping), "text"),
        ("Total before tax:", _dollars(before_tax), "text"),
        ("Estimated tax:", _dollars(tax), "text"),
        ("Order total:", _dollars(total), "bold"),
        ("", "", "rule"),
        ("Ship to: Ann Lee", "", "muted"),
        (f"{rng.randint(10, 999)} Pine St, Springfield", "", "muted"),
    ]
    return Screen("online order", rows, total)


def e_receipt(rng: random.Random, items: int) -> Screen:
    """A store's digital receipt in its app: many lines, SUBTOTAL, TAX, TOTAL, the card and a
    thank-you."""
    rows: list[Row] = [
        (rng.choice(["FRESH MART", "CITY MARKET", "VALUE FOODS"]), "", "bold"),
        (f"Store {rng.randint(100, 999)}  Lane {rng.randint(1, 12)}", "", "muted"),
        ("", "", "rule"),
    ]
    subtotal = 0
    for name in [LONG_ITEMS[n % len(LONG_ITEMS)] for n in range(items)]:
        price = rng.randint(99, 1599)
        subtotal += price
        rows.append((name.title(), _dollars(price), "text"))
    tax = subtotal * rng.choice([0, 5, 7]) // 100
    total = subtotal + tax
    rows += [
        ("", "", "rule"),
        ("Subtotal", _dollars(subtotal), "text"),
        ("Tax", _dollars(tax), "text"),
        ("Total", _dollars(total), "bold"),
        (f"Mastercard •••• {last4(rng)}", _dollars(total), "muted"),
        (f"{items} items", "", "muted"),
        ("Thank you for shopping with us", "", "muted"),
    ]
    return Screen("e-receipt", rows, total)


TALL_LAYOUTS = (delivery_app, online_order, e_receipt)


def render_screen(screen: Screen, *, width: int = 1170, size: int = 40, min_height: int = 2532) -> bytes:
    """`screen` as a phone's screenshot (PNG, `width` px wide, at least `min_height` tall): a status
    bar (clock, battery), then its rows, dark on white, `size` px text as an app draws it at 3x
    (13-15 pt), muted rows smaller and grey, rules as hairlines."""
    step = int(size * 2.1)
    margin = width // 20
    height = max(min_height, 300 + step * len(screen.rows) + 200)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    bar = ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), 44)
    draw.text((margin + 30, 40), "9:41", font=bar, fill=0)
    draw.rounded_rectangle((width - margin - 110, 48, width - margin - 30, 88), 10, outline=0, width=3)
    draw.rectangle((width - margin - 104, 54, width - margin - 50, 82), fill=0)
    faces = {
        "text": (ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), size), 25),
        "bold": (ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), int(size * 1.1)), 0),
        "muted": (ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), int(size * 0.85)), 120),
    }
    y = 260
    for label, amount, style in screen.rows:
        if style == "rule":
            draw.line((margin, y + step // 3, width - margin, y + step // 3), fill=215, width=2)
            y += step * 2 // 3
            continue
        face, ink = faces[style]
        if label:
            draw.text((margin, y), label, font=face, fill=ink)
        if amount:
            draw.text((width - margin - draw.textlength(amount, font=face), y), amount, font=face, fill=ink)
        y += step
    out = io.BytesIO()
    page.save(out, format="PNG")
    return out.getvalue()


def tall_screenshots(count: int, seed: int = 21) -> list[tuple[Screen, str, bytes]]:
    """`count` tall screenshots of digital receipts (TALL_LAYOUTS in turn): 1170 px wide (a 6.1"
    iPhone), 14-46 item rows, text 34-44 px, so each is 2532 to about 6000 px tall. Not part of
    `generate`'s set. (screen, its size as WxH, PNG)."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        layout = TALL_LAYOUTS[n % len(TALL_LAYOUTS)]
        size = rng.randint(34, 44)
        screen = layout(rng, rng.randint(14, 46 if layout is e_receipt else 30))
        rows = len(screen.rows)
        while 300 + int(size * 2.1) * rows + 200 > 6000:  # at most 6000 px tall
            size -= 1
        data = render_screen(screen, size=size)
        with Image.open(io.BytesIO(data)) as im:
            made.append((screen, f"{im.width}x{im.height}", data))
    return made


def _condition(image: Image.Image, condition: str, rng: random.Random) -> Image.Image:
    w, h = image.size
    if condition == "perspective":  # the top edge further away: a trapezoid, straightened nowhere
        inset = rng.uniform(0.04, 0.09) * w
        lift = rng.uniform(0.0, 0.03) * h
        quad = (-inset, -lift, -inset * 0.1, h, w + inset * 0.1, h, w + inset, -lift)
        return image.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC, fillcolor=120)
    if condition == "shadow":  # a hand's or a phone's shadow over one side, soft-edged
        mask = Image.new("L", (w, h), 0)
        edge = rng.uniform(0.35, 0.65) * w
        ImageDraw.Draw(mask).polygon(
            [(0, 0), (edge, 0), (edge + rng.uniform(-0.2, 0.2) * w, h), (0, h)], fill=255
        )
        mask = mask.filter(ImageFilter.GaussianBlur(25))
        dark = image.point(lambda v: int(v * rng.uniform(0.45, 0.6)))
        return Image.composite(dark, image, mask)
    if condition == "crease":  # a fold across: a dark line with a light edge beside it
        draw = ImageDraw.Draw(image)
        for _ in range(rng.randint(1, 2)):
            y = rng.uniform(0.25, 0.75) * h
            slope = rng.uniform(-0.05, 0.05) * w
            draw.line([(0, y), (w, y + slope)], fill=90, width=3)
            draw.line([(0, y + 4), (w, y + slope + 4)], fill=235, width=2)
        return image.filter(ImageFilter.GaussianBlur(0.4))
    if condition == "low light":  # a dim room: dark, flat, grainy
        scale, offset = rng.uniform(0.35, 0.5), rng.randint(8, 20)
        dim = image.point(lambda v: int(v * scale) + offset)
        grain = Image.effect_noise((w, h), 18).point(lambda v: v // 6)
        return Image.blend(dim, grain, 0.12)
    if condition == "blur":  # out of focus, or a shaking hand
        return image.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 1.5)))
    return image


def generate(count: int, seed: int = 12) -> list[tuple[Receipt, str, bytes]]:
    """`count` receipts: each layout of ALL_LAYOUTS in turn, each of CONDITIONS in turn (so every
    layout meets every condition), in varied fonts, sizes, angles, JPEG quality and noise. A fixed
    set for a seed: (receipt, condition, JPEG)."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        receipt = ALL_LAYOUTS[n % len(ALL_LAYOUTS)](rng)
        condition = CONDITIONS[(n // len(ALL_LAYOUTS) + n) % len(CONDITIONS)]
        data = render(
            receipt,
            font=rng.choice(FONTS),
            size=rng.randint(18, 26),
            angle=rng.uniform(-4.0, 4.0),
            quality=rng.randint(45, 85),
            noise=rng.uniform(5.0, 30.0),
            seed=rng.randint(0, 1 << 30),
            width=rng.randint(520, 680),
            condition=condition,
        )
        made.append((receipt, condition, data))
    return made


__all__ = [
    "ALL_LAYOUTS",
    "CONDITIONS",
    "FONTS",
    "LAYOUTS",
    "MISSING_FONTS",
    "TALL_LAYOUTS",
    "Receipt",
    "Screen",
    "card_slip",
    "disagreeing",
    "fonts_available",
    "fuel",
    "generate",
    "grocery",
    "no_total",
    "render",
    "render_screen",
    "restaurant",
    "screenshot",
    "tall_screenshots",
]
