"""The Twilio webhooks: `POST /twilio/sms` (an inbound SMS or MMS) and `POST /twilio/status`
(delivery receipts).

`POST /twilio/sms` answers in this order (SPEC, Clarifications): a body over 64 KiB gets 413, a
missing or wrong signature 403, a malformed form 400; then the message is committed to the inbox
(group commit) and only then does the answer come: 200 with an empty TwiML `<Response/>`.
"""

from __future__ import annotations

import hmac
import re
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from aiohttp import web

from bot.channels.twilio.media import LOCATION_REF, declared_on_whatsapp
from bot.channels.twilio.phones import valid_sender
from bot.channels.twilio.status import apply_status, report
from bot.core.channel import SMS, WHATSAPP, address_of, channel_of
from bot.core.logs import db_reason, get_logger, mask_address
from bot.core.message import Inbound, Media
from bot.gateway.expect import expect_continue
from bot.gateway.gate import GATE, Gate
from bot.gateway.webhook import commit, counted, read_body, rejected
from storage import inbox

if TYPE_CHECKING:
    from bot.channels.twilio.channel import TwilioChannel

log = get_logger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")  # fullmatch: `$` would let a trailing newline in

CHANNEL: web.AppKey[TwilioChannel] = web.AppKey("twilio_channel")


def _twiml() -> web.Response:
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def _target(request: web.Request) -> str:
    """The raw path and query of the request line. One in absolute form (`POST http://host/twilio/sms`,
    RFC 9112 3.2.2: a forward proxy's) gave the whole URL, pasted after the public base: a 500 with
    a traceback (no port in `...:8443http:`) for any such request, forged or not."""
    raw = request.raw_path
    return raw if raw.startswith("/") else request.rel_url.raw_path_qs


def _public_url(gate: Gate, request: web.Request) -> str:
    """The URL Twilio signed: the configured public base + the raw path and query (never Host)."""
    return gate.deps.config.public_base + _target(request)


def _other_urls(gate: Gate, request: web.Request) -> list[str]:
    """The URLs a console could name instead of `{public_url}{path}` (a wrong signature only):
    the other scheme, the host with or without `www.`, and the host the proxy passed on (`Host`,
    `X-Forwarded-Host`) with the scheme it says (`X-Forwarded-Proto`) or either."""
    base = gate.deps.config.public_base
    scheme, _, host = base.partition("://")
    other = "http" if scheme == "https" else "https"
    www = host[4:] if host.startswith("www.") else f"www.{host}"
    bases = [f"{other}://{host}", f"{scheme}://{www}", f"{other}://{www}"]
    passed = request.headers.get("X-Forwarded-Host") or request.headers.get("Host") or ""
    passed = passed.partition(",")[0].strip()
    if passed and passed != host and _HOST.fullmatch(passed):
        proto = request.headers.get("X-Forwarded-Proto", "").partition(",")[0].strip().lower()
        schemes = [proto] if proto in ("http", "https") else ["https", "http"]
        bases += [f"{s}://{passed}" for s in schemes]
    return [b + _target(request) for b in bases]


_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")


class BadSignature(web.HTTPForbidden):
    """403 "invalid signature"; its `sms.rejected` line says which URL the signature was checked
    against (`checked`: `{public_url}{path}`, no query) and, when the signature is right for another
    URL the console may name (`http` for `https`, `www.` or not, the host the proxy passed on),
    that URL (`signed_for`) and the fix: a 403 on every text with only "invalid signature" left
    the operator comparing URLs by hand."""

    def __init__(self, gate: Gate, request: web.Request, signed_for: str | None) -> None:
        super().__init__(text="invalid signature")
        self.fields: dict[str, str] = {"checked": gate.deps.config.public_base + request.path}
        if signed_for is not None:
            found = signed_for.partition("?")[0]
            self.fields["signed_for"] = found
            self.fields["fix"] = (
                f"the URL in the Twilio console is {found}, server.public_url gives"
                f" {self.fields['checked']}: make them the same (Troubleshooting, README)"
            )


# WhatsApp's marks of a message the person forwarded from another chat, as Twilio's inbound
# webhook carries them: `Forwarded` "true if the message has been forwarded once",
# `FrequentlyForwarded` "true if the message has been frequently forwarded" (Twilio, "Twilio's
# request to your incoming message Webhook URL", WhatsApp-specific parameters:
# https://www.twilio.com/docs/messaging/guides/webhook-request). SMS has no such mark.
FORWARD_PARAMS = ("Forwarded", "FrequentlyForwarded")


def forwarded(form: dict[str, str]) -> bool:
    """Whether Twilio says the person forwarded the message (someone else's words)."""
    return any(form.get(name, "").strip().lower() == "true" for name in FORWARD_PARAMS)


def parse_form(text: str) -> list[tuple[str, str]]:
    """`parse_qsl(text, keep_blank_values=True)`, in half the time (12.4 -> 6.3 us for Twilio's 20
    fields): only a name or value with a `%` or a `+` in it is decoded (tests/channels/twilio/test_webhook.py checks
    it against parse_qsl)."""
    fields = []
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        fields.append((name, value))
    return fields


async def _signed_form(gate: Gate, request: web.Request) -> list[tuple[str, str]]:
    """Read the body (413 past 64 KiB), check the signature (403), return the form fields."""
    raw = await read_body(request)
    params: list[tuple[str, str]] = []
    if request.content_type == "application/x-www-form-urlencoded":
        try:
            params = parse_form(bytes(raw).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            params = []
    signature = request.headers.get("X-Twilio-Signature")
    checker = request.app[CHANNEL].checker
    if not checker.valid(_public_url(gate, request), params, signature):
        raise BadSignature(gate, request, checker.signed_for(_other_urls(gate, request), params, signature))
    if request.content_type != "application/x-www-form-urlencoded":
        raise web.HTTPBadRequest(text="expected a form")
    if b"%00" in raw or b"\x00" in raw:  # the only ways a field holds a NUL
        # PostgreSQL's text cannot hold NUL: one in a Body would fail the whole batch's insert
        # (every webhook in it a 503, and Twilio's retries of this one fail again for ever).
        # Signed, so Twilio sent it: keep the message, with U+FFFD where each NUL was.
        params = [(key, value.replace("\x00", "\ufffd")) for key, value in params]
    return params


async def _message_from(
    gate: Gate, params: list[tuple[str, str]], idempotency: str | None
) -> inbox.NewMessage:
    """Validate the form of an inbound SMS/MMS (400 with the reason when it is malformed)."""
    form: dict[str, str] = {}
    for key, value in params:
        form.setdefault(key, value)
    sid = form.get("MessageSid", "")
    if not _SID.fullmatch(sid):
        raise web.HTTPBadRequest(text="MessageSid missing or malformed")
    from_phone = form.get("From", "")
    # a channel of Twilio's (SMS, `whatsapp:`, another `channel:` of its own, SPEC "Addresses"),
    # never one of ours that Twilio does not carry: `telegram:42` spoke as a Telegram chat
    channel = channel_of(from_phone)
    if not valid_sender(from_phone) or channel not in (SMS, WHATSAPP):
        raise web.HTTPBadRequest(text="From missing or malformed")
    configured_sid = gate.deps.config.twilio.account_sid
    # as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500)
    account_sid = form.get("AccountSid", "").encode("utf-8")
    if configured_sid and not hmac.compare_digest(account_sid, configured_sid.encode("utf-8")):
        raise web.HTTPBadRequest(text="AccountSid does not match")
    try:
        num_media = int(form.get("NumMedia", "0") or "0")
    except ValueError:
        raise web.HTTPBadRequest(text="NumMedia is not a number") from None
    if not 0 <= num_media <= 10:
        raise web.HTTPBadRequest(text="NumMedia out of range")
    media = []
    for n in range(num_media):
        url = form.get(f"MediaUrl{n}", "")
        if not url.startswith(("http://", "https://")):
            raise web.HTTPBadRequest(text=f"MediaUrl{n} missing")
        declared = form.get(f"MediaContentType{n}", "")
        media.append((url, declared_on_whatsapp(declared) if channel == WHATSAPP else declared))
    body = form.get("Body", "")
    if not media and not body.strip() and form.get("Latitude") and form.get("Longitude"):
        # a location shared on WhatsApp: no text and no media, but not a blank text (for a person
        # without X, that got a link to connect it); answered as what it is (bot/channels/twilio/media.py)
        media.append((LOCATION_REF, ""))
    opt_out_type = form.get("OptOutType", "")[:16]
    to_phone = form.get("To", "")[:32]  # the column's width: one overlong row must not fail a batch
    is_forwarded = forwarded(form)
    # the dispatcher knows which handlers are priority ones (carrier keywords, \STOP, \UNLINK)
    probe = Inbound(
        id=0,
        external_id=sid,
        sender=address_of(from_phone),
        recipient=to_phone,
        body=body,
        media=tuple(Media(i, url, ctype) for i, (url, ctype) in enumerate(media)),
        carrier_keyword=opt_out_type,
        forwarded=is_forwarded,  # a forwarded \STOP is not run, so it is no priority either
    )
    priority = await gate.is_priority(probe)
    return inbox.NewMessage(
        message_sid=sid,
        account_sid=form.get("AccountSid", "")[:64],
        from_phone=from_phone,
        to_phone=to_phone,
        body=body,
        media=tuple(media),
        opt_out_type=opt_out_type,
        # Twilio's are ASCII; the signature does not cover headers, and a header's bytes that are
        # not UTF-8 come as surrogates, which no database stores (every retry a 503)
        idempotency_token=idempotency[:128] if idempotency and idempotency.isascii() else None,
        priority=1 if priority else 0,
        received_at=gate.deps.now(),
        forwarded=is_forwarded,
        sender_name=profile_name(form) if channel == WHATSAPP else None,
    )


def profile_name(form: dict[str, str]) -> str | None:
    """The name a WhatsApp sender gave their profile (Twilio's `ProfileName`), as Telegram's
    first name: the rooms show it for a member with no `\\NAME`, when it is a name `\\NAME`
    would take (bot/features/ledger/book.py). Members on WhatsApp were shown by their masked
    number, beside Telegram members shown by name."""
    name = " ".join(form.get("ProfileName", "").split())[:64]
    return name or None


async def twilio_sms(request: web.Request) -> web.Response:
    gate = request.app[GATE]
    started = time.perf_counter()
    result, channel = "error", SMS  # the channel of its sender once read (sms or whatsapp)
    try:
        params = await _signed_form(gate, request)
        message = await _message_from(gate, params, request.headers.get("I-Twilio-Idempotency-Token"))
        channel = message.channel
        # its log line stands for the access log line of an accepted webhook (see AccessLogger)
        result = await commit(
            gate, request, message, channel="sms", route="/twilio/sms", started=started,
            sender=mask_address(message.from_phone),  # as the worker's lines show it
        )  # fmt: skip
        return _twiml()
    except web.HTTPException as exc:
        result = rejected("sms", exc, **getattr(exc, "fields", {}))
        raise
    finally:
        counted(gate, channel, result, started)


_ERROR_CODE = re.compile(r"[0-9]{1,10}")


def status_rejected(exc: web.HTTPException) -> None:
    """One line for a status callback refused as the sender's fault (400, 403, 408), as an inbound
    message's `sms.rejected`: a forged or malformed callback left only its access line, a 403 or
    400 with no reason, and no URL the signature was checked against. The console's URL is no
    part of a callback's (we name it in each send), so no `fix`."""
    if exc.status in (400, 403, 408):
        fields = {k: v for k, v in getattr(exc, "fields", {}).items() if k != "fix"}
        log.warning("sms.status_rejected", status=exc.status, reason=exc.text, **fields)


async def twilio_status(request: web.Request) -> web.Response:
    """Delivery status callbacks: signed like the webhook; a late one never moves a row back, and
    one about a reply whose sid is not recorded yet is kept for it (bot/channels/twilio/status.py)."""
    gate = request.app[GATE]
    try:
        params = await _signed_form(gate, request)
    except web.HTTPException as exc:
        status_rejected(exc)
        raise
    form = dict(params)
    sid = form.get("MessageSid", "")
    status = form.get("MessageStatus", "")
    if not _SID.fullmatch(sid) or not status:
        refused = web.HTTPBadRequest(text="MessageSid or MessageStatus missing")
        status_rejected(refused)
        raise refused
    # Twilio's error codes are a few digits (30003, 21610): anything else is not one of theirs
    code = form.get("ErrorCode", "")
    error_code = code if _ERROR_CODE.fullmatch(code) else None
    try:
        async with gate.deps.db.tx() as conn:
            done = await apply_status(conn, sid, status, error_code, gate.deps.now())
    except Exception as exc:  # the database away: a 503 and one line, as an inbound message's
        log.warning(
            "sms.status_failed",
            twilio_sid=sid,
            status=status,
            error=type(exc).__name__,
            reason=db_reason(exc),
        )
        raise web.HTTPServiceUnavailable(text="could not record the status; retry") from None
    report(gate.metrics, done)
    return _twiml()


def add_routes(app: web.Application, channel: TwilioChannel) -> None:
    app[CHANNEL] = channel
    app.router.add_post("/twilio/sms", twilio_sms, expect_handler=expect_continue)
    app.router.add_post("/twilio/status", twilio_status, expect_handler=expect_continue)


__all__ = [
    "CHANNEL",
    "EMPTY_TWIML",
    "add_routes",
    "forwarded",
    "parse_form",
    "profile_name",
    "twilio_sms",
    "twilio_status",
]
