"""Connecting X: `/x/link/{token}` (confirm page, then POST) and `/x/callback`.

The SMS carries a one-time link bound to the phone. GET shows whose phone it is for and a button;
only the POST consumes the link, so previews and scanners cannot use it up. The POST must come from
that page in the browser that loaded it (login CSRF: a page elsewhere must not make a victim's
browser connect the attacker's link): a cross-site POST (Sec-Fetch-Site, Origin) is refused, and
the form carries an HMAC, keyed by a random SameSite=Strict HttpOnly cookie the GET set, over the
link's token; a refused POST leaves the link unused. Unknown, used and expired links all get one
page and one status (404), to a GET and to a POST that passes those checks (one that does not is
refused first, whatever the link: neither answer says whether a link exists). The POST starts the
OAuth 2.0 authorization code flow with PKCE (S256): verifier (encrypted) and state (hashed) are
stored server side, bound to the browser by an HttpOnly, SameSite=Lax cookie. The callback
accepts only that browser's state, exchanges the code at once, reads /2/users/me, stores the
tokens encrypted and texts the phone `Connected @handle`.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from bot.core.config import Config
from bot.core.deps import Deps, Services
from bot.core.feature import Feature, Starting
from bot.core.logs import get_logger, mask_address
from bot.features.x.accounts import XAccounts, x_accounts
from bot.features.x.client import (
    TokenSet,
    XAuthRejected,
    XClient,
    XError,
    XRateLimited,
    new_pkce,
    new_state,
)
from bot.gateway import pages
from bot.gateway.expect import expect_continue
from bot.gateway.gate import GATE, Gate
from bot.gateway.webhook import BODY_SECONDS
from storage import outbox, pairing, xaccounts
from storage.crypto import KEY_FILE, CipherError, KeyMismatch, TokenCipher, load_keys, verify_keys

log = get_logger(__name__)

COOKIE = "tw_oauth"
# The confirm page's cookie: set by the GET, needed by the POST (SameSite=Strict). Over https it is
# a `__Host-` cookie (Secure, Path=/, no Domain), so a sibling subdomain cannot plant one.
CONFIRM_COOKIE = "tw_confirm"
CONFIRM_FIELD = "confirm"
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")
NEW_LINK_HINT = "Send \\LINK to textwire for a new link."
# also what a reload of the callback after connecting shows (the sign-in is spent, its cookie gone)
NOT_RECOGNISED = (
    "This sign-in is finished, did not start in this browser, or has expired. If X was connected,"
    f" textwire sent you a message that says so. Otherwise: {NEW_LINK_HINT[0].lower()}{NEW_LINK_HINT[1:]}"
)


def page(title: str, message: str, *, status: int = 200) -> web.Response:
    return pages.message(title, message, status=status)


def not_valid() -> web.Response:
    """The one answer for an unknown, used or expired link, to GET and POST alike, so nobody learns
    whether a token ever existed."""
    return page(
        "Link not valid",
        # a newer link kills the unused ones before it: a newcomer who texted twice opened the
        # first, a minute old and never used, and read only "links work once, for 10 minutes"
        "This link is not valid: a link works once, for 10 minutes, and only the last one sent to you"
        f" works. {NEW_LINK_HINT}",
        status=404,
    )


def refused() -> web.Response:
    """A POST that did not come from the confirm page in this browser (checked before the link is
    looked up, so it says nothing about the link either)."""
    return page(
        "Open the link again",
        "This button was not pressed on the page of your link in this browser. Open the link from "
        "the message that brought it (a text, WhatsApp or Telegram) again and press Connect X there.",
        status=403,
    )


def _service(request: web.Request) -> tuple[Gate, XAccounts]:
    runtime = request.app[GATE]
    service = x_accounts(runtime.deps)
    if service is None:
        page = pages.message("Not set up", "Posting to X is not set up here.", status=404)
        headers = {k: v for k, v in page.headers.items() if k != "Content-Type"}
        raise web.HTTPNotFound(text=page.text, content_type="text/html", headers=headers)
    return runtime, service


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _confirm_cookie_name(config: Config) -> str:
    return f"__Host-{CONFIRM_COOKIE}" if config.public_base.startswith("https://") else CONFIRM_COOKIE


def _form_token(cookie: str, token: str) -> str:
    """The form's hidden value: an HMAC keyed by this browser's cookie over this link's token, so
    the form works only in the browser that loaded it and only for this link."""
    mac = hmac.new(cookie.encode("ascii"), f"x-link-confirm\n{token}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _cross_site(request: web.Request, config: Config) -> str | None:
    """Why a POST is not from our own page (None when it may be): a browser says where a request
    comes from in Sec-Fetch-Site and Origin; a client that sends neither still needs the cookie."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site != "same-origin":
        return "sec-fetch-site"
    origin = request.headers.get("Origin")
    if origin == "null":
        # an opaque origin (a sandboxed frame, a data: URL, or a page under "no-referrer"): only
        # a browser that says the request is same-origin gets on to the cookie check
        return None if site == "same-origin" else "origin"
    if origin is not None:
        try:
            netloc = urlsplit(origin).netloc
        except ValueError:  # no URL (`http://[::1`: urlsplit raises), so no page of ours
            return "origin"
        own = origin.lower() == _origin(config.public_base)
        same_host = netloc.lower() == request.host.lower()
        if not (own or same_host):
            return "origin"
    return None


async def _form_matches(request: web.Request, cookie: str, token: str) -> bool:
    if not _COOKIE_VALUE.match(cookie):
        return False
    try:
        # a form that trickles in is a connection held for good (bot/gateway/webhook.py)
        async with asyncio.timeout(BODY_SECONDS):
            form = await request.post()
    # LookupError: a charset no codec knows (`charset=nonexistent`), a 500 before
    except (ValueError, UnicodeDecodeError, LookupError, RequestPayloadError, TimeoutError):
        return False
    sent = form.get(CONFIRM_FIELD)
    if not isinstance(sent, str):
        return False
    return hmac.compare_digest(sent.encode("utf-8"), _form_token(cookie, token).encode("ascii"))


async def link_page(request: web.Request) -> web.Response:
    runtime, _ = _service(request)
    config = runtime.deps.config
    token = request.match_info["token"]
    async with runtime.deps.db.read() as conn:
        state = await xaccounts.peek_link(conn, token, runtime.deps.now())
    if state is None or state.status != "ok":
        return not_valid()
    name = _confirm_cookie_name(config)
    cookie = request.cookies.get(name, "")
    if not _COOKIE_VALUE.match(cookie):
        cookie = secrets.token_urlsafe(32)
    response = pages.render(
        "confirm.html",
        title=f"Connect X to {mask_address(state.phone)}?",
        # the texts of every address of the person (paired ones too), whatever the channel: "what
        # this phone texts" told a Telegram chat that asked for the link about a phone
        message="You will be sent to X to approve. textwire posts only the plain texts you send it.",
        button="Connect X",
        field=CONFIRM_FIELD,
        form_token=_form_token(cookie, token),
        # the POST answers with a redirect to X's authorize page, which form-action covers too
        form_action=f"'self' {_origin(config.x.authorize_url)}",
        # the POST to this page carries its Origin (under "no-referrer" it would be "null"); the
        # link's URL still goes to no other site, and the redirect to X is "no-referrer"
        referrer="same-origin",
    )
    https = config.public_base.startswith("https://")
    response.set_cookie(
        name,
        cookie,
        max_age=int(xaccounts.LINK_TTL),
        path="/" if https else "/x/link/",
        httponly=True,
        samesite="Strict",
        secure=https,
    )
    return response


async def link_start(request: web.Request) -> web.Response:
    runtime, service = _service(request)
    deps = runtime.deps
    token = request.match_info["token"]
    reason = _cross_site(request, deps.config)
    if reason is None and not await _form_matches(
        request, request.cookies.get(_confirm_cookie_name(deps.config), ""), token
    ):
        reason = "form"
    if reason is not None:
        log.warning("x.link.refused", reason=reason)
        return refused()
    now = deps.now()
    verifier, challenge = new_pkce()
    state = new_state()
    async with deps.db.tx() as conn:
        link = await xaccounts.consume_link(conn, token, now)
        if link is None:
            return not_valid()
        user_id, address = link
        cookie = await xaccounts.create_session(
            conn,
            user_id=user_id,
            state=state,
            verifier_ciphertext=service.cipher.encrypt(user_id, {"verifier": verifier}),
            now=now,
            address=address,
        )
    log.info("x.link.started", user_id=user_id)
    response = web.HTTPSeeOther(service.client.authorize_url(state, challenge), headers=pages.BASE_HEADERS)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(xaccounts.SESSION_TTL),
        path="/x/",
        httponly=True,
        samesite="Lax",
        secure=deps.config.public_base.startswith("https://"),
    )
    raise response


async def callback(request: web.Request) -> web.Response:
    runtime, service = _service(request)
    deps = runtime.deps
    now = deps.now()
    cookie = request.cookies.get(COOKIE, "")
    if not _COOKIE_VALUE.match(cookie):  # none of ours (bytes that are not UTF-8 were a 500)
        cookie = ""
    query = request.query
    if "error" in query:
        closed: int | None = None  # the user whose sign-in X ended
        if cookie and query.get("state"):
            async with deps.db.tx() as conn:
                closed = await xaccounts.close_session(conn, cookie, query["state"], now)
        log.info("x.link.denied", error=query.get("error", "")[:40], session_closed=closed is not None)
        if closed is None:  # another's error link leaves the sign-in be, and learns nothing of it
            return page("Not connected", f"X was not connected. {NEW_LINK_HINT}", status=400)
        return _clear(await _not_connected(deps, closed, "X was not connected.", status=400))
    code, state = query.get("code", ""), query.get("state", "")
    # Not recognised: the cookie stays. Any site can link here (the cookie is SameSite=Lax), and
    # clearing it ended the sign-in under way, as an error link did: X's real callback then found
    # no cookie. The session it names is still this browser's, for X's callback to finish.
    if not cookie or not code or not state:
        return page("Sign-in not recognised", NOT_RECOGNISED, status=400)
    async with deps.db.tx() as conn:
        found = await xaccounts.consume_session(conn, cookie=cookie, state=state, now=now)
    if found is None:
        log.warning("x.link.bad_state")
        return page("Sign-in not recognised", NOT_RECOGNISED, status=400)
    user_id, verifier_ciphertext, asked_from = found
    tokens: TokenSet | None = None
    try:
        verifier = service.cipher.decrypt(user_id, verifier_ciphertext)["verifier"]
        tokens = await service.client.exchange_code(code, verifier)
        me = await service.client.me(tokens.access_token)
    except XAuthRejected as exc:
        # X's token endpoint refused this browser's code (bad, used, or older than X's 30 s): the
        # request went wrong, X did not. The link and this session are spent; \LINK gives a new one.
        log.warning("x.link.failed", user_id=user_id, error=type(exc).__name__)
        return _clear(await _not_connected(deps, user_id, "The connection was not completed.", status=400))
    except (XError, CipherError) as exc:
        # which step and why: X's status or error code, a timeout, a refused connection
        reason = str(exc) if isinstance(exc, XError) else "the sign-in session does not decrypt"
        log.warning(
            "x.link.failed",
            user_id=user_id,
            error=type(exc).__name__,
            step="exchange" if tokens is None else "users/me",
            reason=reason,
        )
        if tokens is not None:
            # X made a grant (the code was exchanged) that nothing here keeps: revoke it, or it
            # would stay live at X with nobody able to end it (retried by x-revoke when X is down)
            await service.revoke_replaced(user_id, service.store(user_id, tokens))
        status = 503 if isinstance(exc, XRateLimited) else 502
        return _clear(
            await _not_connected(deps, user_id, "X did not complete the connection.", status=status)
        )
    async with deps.db.tx() as conn:
        replaced = await xaccounts.replace_tokens(
            conn,
            user_id=user_id,
            ciphertext=service.store(user_id, tokens),
            expires_at=tokens.expires_at,
            now=now,
        )
        await xaccounts.link_account(conn, user_id=user_id, x_user_id=me.id, handle=me.username)
        # the address the link was texted to (the chat that asked, of a paired person), while
        # they still read it; else where every notice goes
        phone = await pairing.answer_address(conn, user_id, asked_from)
        if phone:
            await outbox.enqueue(
                conn,
                to=phone,
                body=f"Connected @{me.username}",
                dedupe_key=f"connected:{user_id}:{now}",
                kind="connected",
                now=now,
            )
    deps.wake_sender()
    log.info("x.link.connected", user_id=user_id, replaced=replaced is not None)
    if replaced is not None:  # a reconnect: the grant it replaced would stay live at X, unreachable
        await service.revoke_replaced(user_id, replaced)
    return _clear(page("Connected", f"Connected as @{me.username}. You can close this page."))


async def _not_connected(deps: Deps, user_id: int, what: str, *, status: int) -> web.Response:
    """The page of a sign-in that did not connect (cancelled at X, or X did not complete it): `what`
    went wrong and how to get a new link; to a person still connected (a switch of accounts,
    `\\LINK` while connected), that nothing changed and which account their texts still go to ("Not
    connected" read as if the account they had were gone)."""
    async with deps.db.read() as conn:
        handle = await xaccounts.linked_handle(conn, user_id)
    if handle is None:
        return page("Not connected", f"{what} {NEW_LINK_HINT}", status=status)
    hint = f"{NEW_LINK_HINT[0].lower()}{NEW_LINK_HINT[1:]}"
    return page(
        "Nothing changed", f"You still post to X as @{handle}. To switch accounts: {hint}", status=status
    )


def _clear(response: web.Response) -> web.Response:
    response.del_cookie(COOKIE, path="/x/")
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/x/link/{token}", pages.database_away(link_page), expect_handler=expect_continue)
    app.router.add_post("/x/link/{token}", pages.database_away(link_start), expect_handler=expect_continue)
    app.router.add_get("/x/callback", pages.database_away(callback), expect_handler=expect_continue)


@asynccontextmanager
async def lifespan(starting: Starting) -> AsyncIterator[Services]:
    """Keys (a wrong key stops start-up and touches nothing), the X client, the refresh job."""
    deps = starting.deps
    keys, generated = load_keys(deps.config)
    if generated:
        log.warning("security.dev_key_generated", path=str(deps.config.data_dir / "fernet.key"))
    cipher = TokenCipher(keys)
    try:
        unreadable = await verify_keys(deps.db, cipher)
    except KeyMismatch as exc:
        if not generated:
            raise
        # fernet.key was missing beside a database holding tokens: a restore without the keys'
        # backup. The new key reads none of them; left in place, it would be the one backed up
        # next and stop every later start the same way
        key_file = deps.config.data_dir / KEY_FILE
        key_file.unlink(missing_ok=True)
        raise KeyMismatch(
            f"{key_file} was missing (a restore without the keys?) beside a database that holds X "
            "tokens: the key made in its place reads none of them and was removed again: put back "
            "fernet.key and link-signing.key from the keys' backup (or set TEXTWIRE_SECURITY_FERNET_KEYS "
            "to the keys the tokens were written with), then start again"
        ) from exc
    for user_id in unreadable:  # single bad rows among readable ones: not a wrong key
        log.warning("token.unreadable", user_id=user_id, detail="the stored X token does not decrypt")
    if deps.config.x.client_id:
        client = XClient(deps.http, deps.config.x, f"{deps.config.public_base}/x/callback", clock=deps.clock)
        service = XAccounts(deps, client, cipher)
        for user_id in unreadable:
            await service.mark_dead(user_id, reason="unreadable")
        from bot.features.x import refresh, revoke

        starting.scheduler.every("x-refresh", refresh.refresh_tokens, seconds=refresh.INTERVAL, jitter=30)
        starting.scheduler.every("x-revoke", revoke.retry_revocations, seconds=revoke.INTERVAL, jitter=10)
        yield dataclasses.replace(deps.services, cipher=cipher, x=service)
    else:
        yield dataclasses.replace(deps.services, cipher=cipher)


FEATURE = Feature(name="x", add_routes=add_routes, lifespan=lifespan)
