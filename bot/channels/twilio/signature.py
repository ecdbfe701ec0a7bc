"""X-Twilio-Signature, as twilio's RequestValidator computes it, without its per-request overhead.

The URL is the configured public base plus the request's raw path (never the Host header), so a
proxy in front changes nothing. Like twilio's validator, a signature computed over the URL with
or without its default port is accepted. tests/channels/twilio/test_signature.py checks this against
`RequestValidator.compute_signature` (ports, repeated keys, non-ASCII bodies).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit


def _port_variants(url: str) -> list[str]:
    """The URL as given, then with the default port added or the port removed."""
    parts = urlsplit(url)
    variants = [url]
    if parts.port:
        host = parts.netloc.rsplit(":", 1)[0]
        variants.append(urlunsplit(parts._replace(netloc=host)))
    else:
        default = 443 if parts.scheme == "https" else 80
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}")))
    return variants


def signing_payload(params: Iterable[tuple[str, str]]) -> str:
    """Names in sorted order, each followed by its distinct values in sorted order: the distinct
    (name, value) pairs, sorted (2.0 us for Twilio's 20 fields; grouping by name first, 5.1)."""
    return "".join([name + value for name, value in sorted(set(params))])


class SignatureChecker:
    """Checks `X-Twilio-Signature` for one auth token."""

    def __init__(self, auth_token: str) -> None:
        self._key = auth_token.encode("utf-8")

    def sign(self, url: str, params: Iterable[tuple[str, str]]) -> str:
        mac = hmac.new(self._key, (url + signing_payload(params)).encode("utf-8"), hashlib.sha1)
        return base64.b64encode(mac.digest()).decode("ascii")

    def valid(self, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
        if not signature:
            return False
        payload = signing_payload(params)
        expected = signature.encode("ascii", "replace")
        if self._matches(url, payload, expected):  # the usual case: one HMAC, no URL parsing
            return True
        return any(self._matches(variant, payload, expected) for variant in _port_variants(url)[1:])

    def signed_for(
        self, urls: Iterable[str], params: Iterable[tuple[str, str]], signature: str | None
    ) -> str | None:
        """Which of `urls` the signature is right for, if any: only to say in the log what the
        console's URL is when it differs from the public URL (never to accept a request)."""
        if not signature:
            return None
        payload = signing_payload(params)
        expected = signature.encode("ascii", "replace")
        return next((url for url in urls if self._matches(url, payload, expected)), None)

    def _matches(self, url: str, payload: str, expected: bytes) -> bool:
        mac = hmac.new(self._key, (url + payload).encode("utf-8"), hashlib.sha1)
        return hmac.compare_digest(base64.b64encode(mac.digest()), expected)


__all__ = ["SignatureChecker", "signing_payload"]
