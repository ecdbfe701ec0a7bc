"""Who may text the bot: the one check of a sender address, for the webhook and `textwire chat`.

Twilio's `From` is an E.164 number (`+` and 1-15 ASCII digits), a short code (3-8 ASCII digits),
or, for other channels, the same behind a lowercase channel prefix (`whatsapp:+15551234567`).
Anything else (fullwidth or Arabic-Indic digits, national numbers, spaces) would become a separate
user: it is refused (SPEC, Clarifications: "Addresses").
"""

from __future__ import annotations

import re

_NUMBER = r"(?:\+[0-9]{1,15}|[0-9]{3,8})"  # explicit ASCII digits: \d matches any script's
_ADDRESS = re.compile(rf"(?:[a-z][a-z0-9-]{{0,14}}:)?{_NUMBER}")
RULE = "E.164 (+ and 1-15 digits), a short code (3-8 digits), or channel:number (whatsapp:+15551234567)"


def valid_sender(address: str) -> bool:
    """True for an address the bot answers (see the module docstring)."""
    return _ADDRESS.fullmatch(address) is not None


__all__ = ["RULE", "valid_sender"]
