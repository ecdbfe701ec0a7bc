"""SMS segments: every reply should fit one GSM-7 segment (SPEC: every extra segment is billed).

GSM-7 (3GPP TS 23.038, the `gsm0338` codec) has a basic table of one septet a character and an
extension table (`\\ [ ] { } | ~ ^ €` and the form feed) of two: ESC and the character. One
segment holds 160 septets; a text with any character outside both tables goes as UCS-2, where a
segment holds 70 UTF-16 code units. Longer texts are split into parts of 153 septets (67 UCS-2
units) each, because every part carries a header.
"""

from __future__ import annotations

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


def gsm7_septets(text: str) -> int | None:
    """Septets of `text` in GSM-7 (extension characters count two), None when it is not GSM-7."""
    try:
        return len(text.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def segments(text: str) -> int:
    """How many SMS segments `text` takes."""
    septets = gsm7_septets(text)
    if septets is not None:
        return 1 if septets <= GSM7_SINGLE else -(-septets // GSM7_PART)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= UCS2_SINGLE else -(-units // UCS2_PART)


def fits_one_segment(text: str) -> bool:
    """One GSM-7 segment: GSM-7 only, at most 160 septets."""
    if len(text) > GSM7_SINGLE:  # every character is a septet or two: too long without encoding it
        return False
    septets = gsm7_septets(text)
    return septets is not None and septets <= GSM7_SINGLE


__all__ = ["fits_one_segment", "gsm7_septets", "segments"]
