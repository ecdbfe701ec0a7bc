"""The product's features beyond the gateway core, in the order their lifespans start.

Adding one is a two-line change: import its module and list its `FEATURE`.
"""

from __future__ import annotations

from bot import gallery, xlink
from bot.app import Feature
from bot.ocr import feature as ocr

# X: keys, client, link routes, refresh job (bot/xlink.py). Rooms and receipts: the gallery's
# routes, link signer and media store (bot/gallery.py, bot/media.py).
# Receipt totals: the OCR reader (bot/ocr).
FEATURES: tuple[Feature, ...] = (xlink.FEATURE, gallery.FEATURE, ocr.FEATURE)
