"""Receipts drawn with Pillow and Debian's DejaVu fonts (package fonts-dejavu-core), each with a
known total: grocery, restaurant with a tip, fuel, a card slip; rotated a few degrees,
JPEG-compressed, with noise. Used by tests/features/ledger/test_intake.py and bench/receipts.py."""

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


@dataclass(frozen=True)
class Receipt:
    layout: str
    lines: list[Line]
    total: int | None  # minor units; None: the receipt has no readable total


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
) -> bytes:
    """The receipt as a JPEG photo: paper on a darker table, turned by `angle` degrees."""
    rng = random.Random(seed)
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
            draw.text((x, y), label, font=face, fill=20)
        elif label:
            draw.text((margin, y), label, font=face, fill=20)
        if amount:
            draw.text((width - margin - draw.textlength(amount, font=face), y), amount, font=face, fill=20)
    noisy = Image.effect_noise(paper.size, noise)
    paper = Image.blend(paper, noisy.point(lambda v: min(255, v + 128)), 0.15)
    table = Image.new("L", (width + 120, height + 120), 120)
    table.paste(paper, (60, 60))
    turned = table.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=120)
    if rng.random() < 0.5:
        turned = turned.filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    turned.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def generate(count: int, seed: int = 12) -> list[tuple[Receipt, bytes]]:
    """`count` receipts of varied layouts, fonts, sizes, angles, JPEG quality and noise."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        receipt = LAYOUTS[n % len(LAYOUTS)](rng)
        data = render(
            receipt,
            font=rng.choice(FONTS),
            size=rng.randint(18, 26),
            angle=rng.uniform(-4.0, 4.0),
            quality=rng.randint(45, 85),
            noise=rng.uniform(5.0, 30.0),
            seed=rng.randint(0, 1 << 30),
            width=rng.randint(520, 680),
        )
        made.append((receipt, data))
    return made


__all__ = [
    "FONTS",
    "LAYOUTS",
    "MISSING_FONTS",
    "Receipt",
    "card_slip",
    "disagreeing",
    "fonts_available",
    "fuel",
    "generate",
    "grocery",
    "no_total",
    "render",
    "restaurant",
]
