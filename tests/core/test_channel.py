"""The channel seam's own types: an address, a send's outcome, the default length rule."""

from __future__ import annotations

import pytest

from bot.core.channel import (
    SMS,
    Address,
    MediaLimits,
    SendError,
    address_of,
    channel_of,
    fits_160,
    phone_forms,
)


def test_an_address_is_a_channel_and_an_id() -> None:
    alice = Address(SMS, "+15550001111")
    assert str(alice) == "sms:+15550001111"
    assert alice == Address("sms", "+15550001111")
    assert alice != Address("whatsapp", "+15550001111")
    assert len({alice, Address(SMS, "+15550001111")}) == 1


@pytest.mark.parametrize(
    "key", ["+15550001111", "whatsapp:+15550001111", "telegram:42", "telegraph:42", ":x", ""]
)
def test_the_channel_of_a_key_is_its_addresss(key: str) -> None:
    assert channel_of(key) == address_of(key).channel


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(None, True), (429, True), (500, True), (503, True), (400, False), (401, False), (404, False)],
)
def test_which_send_errors_are_tried_again(status: int | None, retryable: bool) -> None:
    assert SendError("x", status=status).retryable is retryable


def test_a_recipient_gone_is_said_by_the_channel_not_by_a_code() -> None:
    assert not SendError("refused", status=400, code=21610).recipient_gone
    assert SendError("refused", status=400, code=21610, recipient_gone=True).recipient_gone


def test_the_default_length_rule_counts_characters() -> None:
    assert fits_160("x" * 160)
    assert not fits_160("x" * 161)
    assert fits_160("€" * 160)  # characters, not GSM-7 septets


def test_media_limits_cap_photos_by_the_operator_and_documents_by_the_channel() -> None:
    mb = 1024 * 1024
    assert MediaLimits().caps(5 * mb) == (5 * mb, 5 * mb)  # MMS: 5 MB a message
    assert MediaLimits().caps(1 * mb) == (1 * mb, 1 * mb)  # the operator's lower cap holds
    whatsapp = MediaLimits(5 * mb, document_bytes=16 * mb)
    assert whatsapp.caps(5 * mb) == (5 * mb, 16 * mb)
    assert whatsapp.caps(50 * mb) == (5 * mb, 16 * mb)  # never over what the channel carries
    assert whatsapp.caps(1 * mb) == (1 * mb, 16 * mb)


@pytest.mark.parametrize(
    ("number", "forms"),
    [
        ("+15550001111", ("+15550001111",)),
        ("+525512345678", ("+525512345678", "+5215512345678")),  # WhatsApp's Mexican mobile
        ("+5215512345678", ("+5215512345678", "+525512345678")),
        ("+5511987654321", ("+5511987654321", "+551187654321")),  # an old Brazilian WhatsApp id
        ("+551187654321", ("+551187654321", "+5511987654321")),
        ("+551132654321", ("+551132654321",)),  # a Sao Paulo landline: eight digits, always
        ("7001", ("7001",)),
    ],
)
def test_one_phone_is_written_as_whatsapp_writes_it_too(number: str, forms: tuple[str, ...]) -> None:
    assert phone_forms(number) == forms
