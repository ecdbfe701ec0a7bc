"""Connecting X: `/x/link/{token}` (confirm page, then POST) and `/x/callback`.

The SMS carries a one-time link bound to the phone. GET shows whose phone it is for and a button;
only the POST consumes the link, so previews and scanners cannot use it up. The POST starts the
OAuth 2.0 authorization code flow with PKCE (S256): verifier (encrypted) and state (hashed) are
stored server side, bound to the browser by an HttpOnly, SameSite=Lax cookie. The callback
accepts only that browser's state, exchanges the code at once, reads /2/users/me, stores the
tokens encrypted and texts the phone `Connected @handle`.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from bot.app import Feature
from bot.logs import get_logger, mask_phone
from bot.runtime import RUNTIME, Runtime
from bot.web import expect_continue
from bot.xaccount import XAccounts, x_accounts
from bot.xclient import XClient, XError, new_pkce, new_state
from storage import outbox, users, xaccounts
from storage.crypto import CipherError, TokenCipher, load_keys, verify_keys

log = get_logger(__name__)

COOKIE = "tw_oauth"
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https:",
}
NEW_LINK_HINT = "Text \\LINK to the textwire number for a new link."


def page(title: str, message: str, *, status: int = 200, form: str = "") -> web.Response:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}
button{{font-size:1.1rem;padding:.6rem 1.2rem}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>{form}</body></html>"""
    return web.Response(text=body, content_type="text/html", status=status, headers=SECURITY_HEADERS)


def _service(request: web.Request) -> tuple[Runtime, XAccounts]:
    runtime = request.app[RUNTIME]
    service = x_accounts(runtime.deps)
    if service is None:
        raise web.HTTPNotFound(text="Posting to X is not set up here.")
    return runtime, service


async def link_page(request: web.Request) -> web.Response:
    runtime, _ = _service(request)
    async with runtime.deps.db.read() as conn:
        state = await xaccounts.peek_link(conn, request.match_info["token"], runtime.deps.now())
    if state is None:
        return page("Link not found", f"This link is not valid. {NEW_LINK_HINT}", status=404)
    if state.status != "ok":
        return page("Link expired", f"This link was already used or has expired. {NEW_LINK_HINT}", status=410)
    phone = html.escape(mask_phone(state.phone))
    form = '<form method="post"><button type="submit">Connect X</button></form>'
    return page(
        f"Connect X to {phone}?",
        "You will be sent to X to approve. textwire posts only what this phone texts.",
        form=form,
    )


async def link_start(request: web.Request) -> web.Response:
    runtime, service = _service(request)
    deps = runtime.deps
    now = deps.now()
    verifier, challenge = new_pkce()
    state = new_state()
    async with deps.db.tx() as conn:
        user_id = await xaccounts.consume_link(conn, request.match_info["token"], now)
        if user_id is None:
            return page(
                "Link expired", f"This link was already used or has expired. {NEW_LINK_HINT}", status=410
            )
        cookie = await xaccounts.create_session(
            conn,
            user_id=user_id,
            state=state,
            verifier_ciphertext=service.cipher.encrypt(user_id, {"verifier": verifier}),
            now=now,
        )
    log.info("x.link.started", user_id=user_id)
    response = web.HTTPSeeOther(service.client.authorize_url(state, challenge), headers=SECURITY_HEADERS)
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
    query = request.query
    if "error" in query:
        if cookie:
            async with deps.db.tx() as conn:
                await xaccounts.close_session(conn, cookie, now)
        log.info("x.link.denied", error=query.get("error", "")[:40])
        return _clear(page("Not connected", f"X was not connected. {NEW_LINK_HINT}", status=400))
    code, state = query.get("code", ""), query.get("state", "")
    if not cookie or not code or not state:
        return _clear(
            page(
                "Sign-in not recognised",
                f"This sign-in did not start in this browser or has expired. {NEW_LINK_HINT}",
                status=400,
            )
        )
    async with deps.db.tx() as conn:
        found = await xaccounts.consume_session(conn, cookie=cookie, state=state, now=now)
    if found is None:
        log.warning("x.link.bad_state")
        return _clear(
            page(
                "Sign-in not recognised",
                f"This sign-in did not start in this browser or has expired. {NEW_LINK_HINT}",
                status=400,
            )
        )
    user_id, verifier_ciphertext = found
    try:
        verifier = service.cipher.decrypt(user_id, verifier_ciphertext)["verifier"]
        tokens = await service.client.exchange_code(code, verifier)
        me = await service.client.me(tokens.access_token)
    except (XError, CipherError) as exc:
        log.warning("x.link.failed", user_id=user_id, error=type(exc).__name__)
        return _clear(
            page("Not connected", f"X did not complete the connection. {NEW_LINK_HINT}", status=502)
        )
    async with deps.db.tx() as conn:
        await xaccounts.save_tokens(
            conn,
            user_id=user_id,
            ciphertext=service.store(user_id, tokens),
            expires_at=tokens.expires_at,
            now=now,
        )
        await xaccounts.link_account(conn, user_id=user_id, x_user_id=me.id, handle=me.username)
        phone = await users.phone_of(conn, user_id)
        if phone:
            await outbox.enqueue(
                conn,
                to=phone,
                body=f"Connected @{me.username}",
                dedupe_key=f"connected:{user_id}:{now}",
                now=now,
            )
    deps.wake_sender()
    log.info("x.link.connected", user_id=user_id)
    return _clear(page("Connected", f"Connected as @{me.username}. You can close this page."))


def _clear(response: web.Response) -> web.Response:
    response.del_cookie(COOKIE, path="/x/")
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/x/link/{token}", link_page, expect_handler=expect_continue)
    app.router.add_post("/x/link/{token}", link_start, expect_handler=expect_continue)
    app.router.add_get("/x/callback", callback, expect_handler=expect_continue)


@asynccontextmanager
async def lifespan(runtime: Runtime) -> AsyncIterator[None]:
    """Keys (a wrong key stops start-up and touches nothing), the X client, the refresh job."""
    deps = runtime.deps
    keys, generated = load_keys(deps.config)
    if generated:
        log.warning("security.dev_key_generated", path=str(deps.config.data_dir / "fernet.key"))
    cipher = TokenCipher(keys)
    unreadable = await verify_keys(deps.db, cipher)
    deps.services["cipher"] = cipher
    for user_id in unreadable:  # single bad rows among readable ones: not a wrong key
        log.warning("token.unreadable", user_id=user_id, detail="the stored X token does not decrypt")
    if deps.config.x.client_id:
        client = XClient(deps.http, deps.config.x, f"{deps.config.public_base}/x/callback", clock=deps.clock)
        service = XAccounts(deps, client, cipher)
        deps.services["x"] = service
        for user_id in unreadable:
            await service.mark_dead(user_id, reason="unreadable")
        from scheduler import refresh

        runtime.scheduler.every("x-refresh", refresh.refresh_tokens, seconds=refresh.INTERVAL, jitter=30)
    yield


FEATURE = Feature(name="x", add_routes=add_routes, lifespan=lifespan)
