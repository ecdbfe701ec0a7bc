"""The product's features beyond the gateway core, in the order their lifespans start.

Adding one is a two-line change: import its module and list its `FEATURE`.
"""

from __future__ import annotations

from bot import xlink
from bot.app import Feature

FEATURES: tuple[Feature, ...] = (xlink.FEATURE,)
