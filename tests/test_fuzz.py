"""A fuzzer over every route: whatever a client sends, the answer is never a 5xx and no error
(no traceback) is logged.

The app runs as `textwire serve` runs it (its access logger included) on a real port, in a thread
with its own event loop; hypothesis writes raw HTTP/1.1 requests to it over plain sockets, so
header values may be any bytes (non-ASCII included) and bodies may contradict their headers.
Signed webhooks are signed with twilio's RequestValidator, so the fuzzer also reaches the form
checks behind the signature. The run is bounded and derandomized: the same examples every time.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from bot.app.assembly import build_app
from bot.core.config import Config
from bot.core.devmode import twilio_auth_token
from bot.gateway.routes import AccessLogger
from tests.conftest import PUBLIC_URL, free_port

ACCOUNT_SID = "AC" + "1" * 32
EXAMPLES = 250


@dataclass
class Server:
    port: int
    token: str
    routes: list[tuple[str, str]]  # (method, path template)
    logged: list[str]  # error records of the standard library's loggers (aiohttp's)
    events: list[dict[str, Any]]  # structlog's events (capture_logs)
    seen: int = 0

    @property
    def errors(self) -> list[str]:
        """Error lines since `clear()`: aiohttp's, and structlog events at error level."""
        bad = [f"{e.get('event')}: {e}" for e in self.events[self.seen :] if e["log_level"] in LEVELS]
        return self.logged + bad

    def clear(self) -> None:
        self.logged.clear()
        self.seen = len(self.events)


LEVELS = ("error", "critical", "exception")


class _Errors(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(f"{record.name}: {record.getMessage()} {record.exc_info and record.exc_info[1]!r}")


@pytest.fixture
def server(make_config: Callable[..., Config]) -> Iterator[Server]:
    config = make_config(
        twilio={"account_sid": ACCOUNT_SID},  # no auth token: development mode, replies to the log
        x={"client_id": "fuzz", "api_base": "http://127.0.0.1:9", "authorize_url": "http://127.0.0.1:9/a"},
    )
    token, _ = twilio_auth_token(config)
    logged: list[str] = []
    handler = _Errors(logged)
    logging.getLogger().addHandler(handler)
    capture = capture_logs()
    events = capture.__enter__()  # every structlog event, from the server's thread too
    app = build_app(config, run_scheduler=False)
    routes = sorted({(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None})
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log_class=AccessLogger)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        pending = asyncio.all_tasks(loop)  # connections of clients that went away
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, name="fuzz-server", daemon=True)
    thread.start()
    assert started.wait(30), "the server did not start"
    try:
        yield Server(port=port, token=token, routes=routes, logged=logged, events=events)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        capture.__exit__(None, None, None)
        logging.getLogger().removeHandler(handler)


# -- what a client may send --------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
header_bytes = st.one_of(
    texts.map(lambda t: t.encode("utf-8")),
    st.binary(max_size=30),
).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
ascii_tokens = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30)


def sid() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda h: "SM" + h, st.text("0123456789abcdef", min_size=32, max_size=32)), texts
    )


twilio_fields = st.fixed_dictionaries(
    {  # mostly well-formed, so the fuzzer gets past each check to the next one
        "MessageSid": sid(),
        "AccountSid": st.one_of(st.just(ACCOUNT_SID), texts, st.just("AC" + "é" * 32)),
        "From": st.one_of(st.just("+15550001111"), st.just("whatsapp:+15550001111"), texts),
    },
    optional={
        "To": texts,
        "Body": st.one_of(
            texts, st.sampled_from(["\\HELP", "\\JOIN house pw", "STOP", "\\LINK", "\\CREATE a b"])
        ),
        "NumMedia": st.one_of(st.sampled_from(["0", "1", "11", "-1", "x", ""]), texts),
        "MediaUrl0": st.one_of(st.just("https://api.twilio.com/m/1"), texts),
        "MediaContentType0": texts,
        "OptOutType": texts,
        "MessageStatus": st.one_of(st.sampled_from(["sent", "delivered", "failed"]), texts),
        "ErrorCode": texts,
    },
)


@st.composite
def requests(draw: st.DrawFn, server: Server) -> tuple[bytes, str, bool]:
    """A raw request, a description of it, and whether its body is cut short (the client then
    goes away: nothing may come back)."""
    if draw(st.integers(0, 19)) == 0:  # a request line the parser rejects
        line = draw(st.binary(min_size=1, max_size=60)).replace(b"\n", b"")
        return line + b"\r\n\r\n", f"raw {line!r}", False
    twilio = [r for r in server.routes if r[1].startswith("/twilio/")]
    method, template = draw(st.one_of(st.sampled_from(twilio), st.sampled_from(server.routes)))
    tamper = draw(st.booleans())  # else a well-formed request, to reach the checks behind the parser
    if tamper:
        method = draw(st.sampled_from([method, "GET", "POST", "HEAD", "PUT", "OPTIONS"]))

    def fill(match: re.Match[str]) -> str:
        return quote(draw(st.one_of(texts, st.just("rooms/a/receipts/b.jpg"))), safe="/")

    path = re.sub(r"\{[^}]*\}", fill, template)
    query = draw(st.dictionaries(ascii_tokens, texts, max_size=3))
    raw_path = path + ("?" + urlencode(query) if query else "")
    headers: dict[bytes, bytes] = {}
    body = b""
    if method == "POST" and template.startswith("/twilio/") and draw(st.integers(0, 3)):
        fields = draw(twilio_fields)
        body = urlencode(fields).encode("utf-8")
        headers[b"Content-Type"] = b"application/x-www-form-urlencoded"
        if draw(st.integers(0, 3)):
            signature = RequestValidator(server.token).compute_signature(PUBLIC_URL + raw_path, fields)
            headers[b"X-Twilio-Signature"] = signature.encode("ascii")
    elif draw(st.booleans()):
        body = draw(st.binary(max_size=200))
    if tamper and draw(st.booleans()):
        headers[b"Content-Type"] = draw(
            st.one_of(
                st.sampled_from(
                    [b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x", b"text/plain"]
                ),
                header_bytes,
            )
        )
    encoding = draw(st.sampled_from([None, b"gzip", b"deflate", b"br", b"identity", b"x-unknown"]))
    if tamper and encoding is not None:
        headers[b"Content-Encoding"] = encoding
        if encoding == b"gzip" and draw(st.booleans()):
            body = gzip.compress(body)  # sometimes the body matches its encoding
    for name in (b"Expect", b"X-Twilio-Signature", b"Authorization", b"Cookie", b"Origin", b"Sec-Fetch-Site"):
        if tamper and draw(st.integers(0, 3)) == 0:
            headers[name] = draw(header_bytes)
    length = len(body)
    if tamper and draw(st.integers(0, 9)) == 0:
        length = draw(st.integers(0, 300))  # a length that does not match the body
    head = [f"{method} {raw_path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    head += [name + b": " + value for name, value in headers.items()]
    head.append(b"Content-Length: " + str(length).encode())
    request = b"\r\n".join(head) + b"\r\n\r\n" + body
    cut_short = length > len(body)
    return request, f"{method} {raw_path} {headers!r} length={length} body={body[:80]!r}", cut_short


def exchange(port: int, request: bytes, *, cut_short: bool = False) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        if cut_short:
            sock.shutdown(socket.SHUT_WR)  # the client goes away before the rest of its body
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_no_request_gets_a_5xx_or_logs_an_error(server: Server) -> None:
    assert {"/twilio/sms", "/twilio/status", "/readyz", "/x/link/{token}"} <= {t for _, t in server.routes}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        server.clear()
        request, what, cut_short = data.draw(requests(server))
        response = exchange(server.port, request, cut_short=cut_short)
        status = re.match(rb"HTTP/1\.[01] (\d{3})", response)
        assert status is not None or (cut_short and response == b""), f"{what}: {response[:200]!r}"
        if status is not None:
            assert int(status.group(1)) < 500, f"{what}: {response[:300]!r}"
        assert not server.errors, f"{what}: {server.errors}"

    one()


def raw(method: str, path: str, headers: dict[bytes, bytes], body: bytes = b"") -> bytes:
    head = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    head += [name + b": " + value for name, value in headers.items()]
    head.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def status_of(response: bytes) -> int:
    found = re.match(rb"HTTP/1\.[01] (\d{3})", response)
    assert found, response[:200]
    return int(found.group(1))


def signed_sms(server: Server, **changes: str) -> bytes:
    fields = {
        "MessageSid": "SM" + "0" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": "+15550001111",
        "To": "+15557654321",
        "Body": "hi",
        "NumMedia": "0",
        **changes,
    }
    signature = RequestValidator(server.token).compute_signature(PUBLIC_URL + "/twilio/sms", fields)
    headers = {
        b"Content-Type": b"application/x-www-form-urlencoded",
        b"X-Twilio-Signature": signature.encode(),
    }
    return raw("POST", "/twilio/sms", headers, urlencode(fields).encode())


def test_a_body_that_its_content_encoding_does_not_decode_is_400(server: Server) -> None:
    for encoding in (b"gzip", b"deflate"):
        request = raw(
            "POST",
            "/twilio/sms",
            {b"Content-Type": b"application/x-www-form-urlencoded", b"Content-Encoding": encoding},
            b"From=%2B15550001111&Body=not+compressed",
        )
        assert status_of(exchange(server.port, request)) == 400
    # the same on a route that never reads its body (aiohttp drains it afterwards)
    request = raw("GET", "/healthz", {b"Content-Encoding": b"gzip"}, b"\xf7\xc4\x90e")
    assert status_of(exchange(server.port, request)) == 200
    assert not server.errors


def test_a_non_ascii_account_sid_in_a_signed_request_is_400(server: Server) -> None:
    response = exchange(server.port, signed_sms(server, AccountSid="AC" + "é" * 32))
    assert status_of(response) == 400
    assert b"AccountSid" in response
    assert status_of(exchange(server.port, signed_sms(server, AccountSid="AC" + "2" * 32))) == 400
    assert not server.errors


def test_a_non_ascii_expect_header_is_417_on_every_route(server: Server) -> None:
    paths = {
        t.replace("{token}", "abc").replace("{room_id}", "r").replace("{key}", "rooms/a/b.jpg")
        for _, t in server.routes
    }
    for path in sorted(paths | {"/nowhere"}):
        for method in ("GET", "POST", "PUT"):
            for expect in (b"\xff\xfe", "100-contïnue".encode()):
                response = exchange(server.port, raw(method, path, {b"Expect": expect}))
                assert status_of(response) == 417, (method, path, expect, response[:200])
    assert not server.errors


def test_requests_the_parser_rejects_are_access_logged_without_an_error(server: Server) -> None:
    for request in (b"\x00\x00\r\n\r\n", b"GET /healthz HTTP/1.1\r\nContent-Encoding: br\r\n\r\n"):
        assert status_of(exchange(server.port, request)) == 400
    assert not server.errors
    logged = [e for e in server.events if e.get("event") == "http.request" and e.get("status") == 400]
    assert len(logged) == 2
    assert {e["route"] for e in logged} == {"unmatched"}
    # a route that exists is named by its pattern, a path that does not is "unmatched", both logged once
    exchange(server.port, raw("GET", "/x/link/sometoken", {}))
    exchange(server.port, raw("GET", "/nowhere", {}))
    assert status_of(exchange(server.port, raw("PUT", "/healthz", {}))) == 405
    routes = [e["route"] for e in server.events if e.get("event") == "http.request"][-3:]
    assert routes == ["/x/link/{token}", "unmatched", "unmatched"]
