"""bot/channels/twilio/signature.py against twilio's own RequestValidator."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from bot.channels.twilio.signature import SignatureChecker

TOKEN = "12345678901234567890123456789012"


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("https://sms.example.test/twilio/sms", [("Body", "hi"), ("From", "+15550001111")]),
        ("https://sms.example.test/twilio/sms?x=1%2B2&y=a%20b", [("Body", "hello world")]),
        ("https://sms.example.test/twilio/sms", [("Body", "日本語 é ü 🎉"), ("From", "+15550001111")]),
        ("https://sms.example.test/twilio/sms", [("MediaUrl0", "b"), ("MediaUrl0", "a"), ("MediaUrl0", "a")]),
        ("http://127.0.0.1:8080/twilio/sms", [("Body", "")]),
        ("https://sms.example.test/twilio/sms", []),
    ],
)
def test_matches_twilio_compute_signature(url: str, params: list[tuple[str, str]]) -> None:
    from multidict import MultiDict

    expected = RequestValidator(TOKEN).compute_signature(url, MultiDict(params))
    checker = SignatureChecker(TOKEN)
    assert checker.sign(url, params) == expected
    assert checker.valid(url, params, expected)


def test_port_variants_accepted_like_twilio() -> None:
    checker = SignatureChecker(TOKEN)
    params = [("Body", "hi")]
    with_port = RequestValidator(TOKEN).compute_signature(
        "https://sms.example.test:443/twilio/sms", dict(params)
    )
    without_port = RequestValidator(TOKEN).compute_signature(
        "https://sms.example.test/twilio/sms", dict(params)
    )
    assert checker.valid("https://sms.example.test/twilio/sms", params, with_port)
    assert checker.valid("https://sms.example.test:443/twilio/sms", params, without_port)
    assert RequestValidator(TOKEN).validate("https://sms.example.test/twilio/sms", dict(params), with_port)


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "garbage",
        RequestValidator("another-token").compute_signature(
            "https://sms.example.test/twilio/sms", {"Body": "hi"}
        ),
    ],
)
def test_rejects_missing_wrong_and_foreign_signatures(signature: str | None) -> None:
    assert not SignatureChecker(TOKEN).valid(
        "https://sms.example.test/twilio/sms", [("Body", "hi")], signature
    )


def test_rejects_tampered_params_and_other_url() -> None:
    checker = SignatureChecker(TOKEN)
    good = checker.sign("https://sms.example.test/twilio/sms", [("Body", "hi")])
    assert not checker.valid("https://sms.example.test/twilio/sms", [("Body", "hi!")], good)
    assert not checker.valid("https://evil.example.test/twilio/sms", [("Body", "hi")], good)
    assert not checker.valid("https://sms.example.test/twilio/status", [("Body", "hi")], good)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text("AaBb09+ é", max_size=4), st.text("AaBb09+ é%", max_size=4)), max_size=8))
def test_matches_twilio_for_any_names_and_values(params: list[tuple[str, str]]) -> None:
    """Repeated names, repeated values, empty ones, any order: the payload is twilio's."""
    from multidict import MultiDict

    url = "https://sms.example.test/twilio/sms"
    assert SignatureChecker(TOKEN).sign(url, params) == RequestValidator(TOKEN).compute_signature(
        url, MultiDict(params)
    )
