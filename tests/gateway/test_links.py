"""Signed links: the first key signs, any key verifies (rotation), and a link is bound to its
purpose, subject and expiry."""

from __future__ import annotations

from bot.gateway.links import LinkSigner

OLD, NEW = b"o" * 32, b"n" * 32


def test_a_link_checks_for_its_purpose_subject_and_time() -> None:
    signer = LinkSigner([NEW])
    sig = signer.sign("gallery", "room-1", 1_000)
    assert signer.check("gallery", "room-1", "1000", sig, now=900, max_age=3600) == "ok"
    assert signer.check("media", "room-1", "1000", sig, now=900, max_age=3600) == "invalid"
    assert signer.check("gallery", "room-2", "1000", sig, now=900, max_age=3600) == "invalid"
    assert signer.check("gallery", "room-1", "1001", sig, now=900, max_age=3600) == "invalid"
    assert signer.check("gallery", "room-1", "1000", sig, now=1_001, max_age=3600) == "expired"
    # an expiry further out than the link's life could be is not one we made
    far = signer.sign("gallery", "room-1", 10_000)
    assert signer.check("gallery", "room-1", "10000", far, now=900, max_age=3600) == "expired"


def test_malformed_parameters_are_invalid_not_errors() -> None:
    signer = LinkSigner([NEW])
    # "²" and "①" are digits to str.isdigit, not to int(): a 500 on any page's link before
    for exp, sig in (
        ("", "x"),
        ("12a", "x"),
        ("9" * 13, "x"),
        ("1000", ""),
        ("1000", "x" * 101),
        ("²", "x"),
        ("1①", "x"),
        ("1000", "é"),  # compare_digest refuses a str with non-ASCII characters (a TypeError)
        ("1000", "\udcff"),
    ):
        assert signer.check("gallery", "room-1", exp, sig, now=0, max_age=3600) == "invalid"


def test_links_signed_before_a_key_rotation_still_verify() -> None:
    sig = LinkSigner([OLD]).sign("gallery", "room-1", 1_000)
    rotated = LinkSigner([NEW, OLD])
    assert rotated.check("gallery", "room-1", "1000", sig, now=900, max_age=3600) == "ok"
    assert rotated.sign("gallery", "room-1", 1_000) != sig  # the new key signs
    assert LinkSigner([NEW]).check("gallery", "room-1", "1000", sig, now=900, max_age=3600) == "invalid"
