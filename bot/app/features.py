"""The product's features beyond the gateway core, in the order their lifespans start.

Adding one is a two-line change: import its module and list its `FEATURE`.
"""

from __future__ import annotations

from bot.core.feature import Feature
from bot.features.ledger import reminders
from bot.features.ocr import feature as ocr
from bot.features.receipts import gallery, statement
from bot.features.x import link as xlink

# X: keys, client, link routes, refresh job (bot/features/x/link.py). Rooms and receipts: the gallery's
# routes, link signer and media store (bot/features/receipts/gallery.py, bot/features/receipts/media.py).
# Receipt totals: the OCR reader (bot/ocr).
# Reminders of who owes: the scheduled job (bot/features/ledger/reminders.py).
FEATURES: tuple[Feature, ...] = (
    xlink.FEATURE,
    gallery.FEATURE,
    statement.FEATURE,
    ocr.FEATURE,
    reminders.FEATURE,
)
