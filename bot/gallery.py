"""The receipt gallery: `GET /rooms/{room_id}/receipts?exp=...&sig=...`, a plain HTML page of a
room's receipts, newest first, each opened through a presigned URL of a few minutes.

Links are signed with HMAC-SHA256 over (purpose, subject, expiry) and live 1 hour. The signing key
is derived with HKDF from each configured Fernet key (the first signs, any verifies, so a key
rotation does not break links in flight), or, with no keys configured, generated once into
`{data_dir}/link-signing.key` (0600). The local media backend serves its files through
`GET /media/{key}?exp=...&sig=...`, signed the same way for a few minutes.

An expired or altered link gets 403 and a page that says how to get a new one. Pages are
`Cache-Control: no-store` and `Referrer-Policy: no-referrer`, so a presigned URL never leaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import sqlalchemy as sa
from aiohttp import web

from bot import media
from bot.app import Feature
from bot.links import GALLERY_SECONDS, MEDIA_LINK_SECONDS, LinkSigner, make_signer, signer_of
from bot.logs import get_logger
from bot.runtime import RUNTIME, Runtime
from bot.web import expect_continue
from storage.media import KEY_PATTERN, LocalMediaStore
from storage.schema import receipts, rooms

log = get_logger(__name__)

PAGE_LIMIT = 200
FORMER_MEMBER = "a former member"


# -- pages -----------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;padding:12px;max-width:720px;margin:auto;"
    "color:#222;background:#fafafa}h1{font-size:1.3em}ul{list-style:none;padding:0}"
    "li{display:flex;gap:12px;align-items:flex-start;background:#fff;border:1px solid #ddd;"
    "border-radius:8px;padding:8px;margin:0 0 10px}img{width:120px;height:auto;border-radius:4px}"
    ".pdf{display:inline-block;width:120px;padding:40px 0;text-align:center;background:#eee;"
    "border-radius:4px}.meta{font-size:.9em;color:#555}.cap{margin:4px 0 0;word-break:break-word}"
)
_CSP = (
    "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": _CSP,
            "X-Frame-Options": "DENY",
        },
    )


def _denied(verdict: str) -> web.Response:
    reason = "This link has expired." if verdict == "expired" else "This link is not valid."
    body = (
        f"<h1>{reason}</h1><p>Gallery links work for 1 hour. Text <b>\\RECEIPTS</b> to the bot "
        "to get a new one.</p>"
    )
    return _page("Link expired or not valid", body, status=403)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _verdict(request: web.Request, signer: LinkSigner, purpose: str, subject: str, max_age: int) -> str:
    """The request's `exp` and `sig` checked for `purpose` and `subject`: "ok", "expired", "invalid"."""
    query = request.query
    now = request.app[RUNTIME].deps.now()
    return signer.check(
        purpose, subject, query.get("exp", ""), query.get("sig", ""), now=now, max_age=max_age
    )


async def gallery(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    signer = signer_of(runtime.deps)
    store = media.store_of(runtime.deps)
    if signer is None or store is None:
        raise web.HTTPServiceUnavailable(text="the gallery is not running")
    room_id = request.match_info["room_id"]
    verdict = _verdict(request, signer, "gallery", room_id, GALLERY_SECONDS)
    if verdict != "ok":
        log.info("gallery.denied", verdict=verdict)
        return _denied(verdict)
    async with runtime.deps.db.read() as conn:
        room = (await conn.execute(sa.select(rooms.c.name).where(rooms.c.id == room_id))).first()
        rows = (
            await conn.execute(
                sa.select(receipts)
                .where(receipts.c.room_id == room_id)
                .order_by(receipts.c.created_at.desc(), receipts.c.message_sid, receipts.c.media_index)
                .limit(PAGE_LIMIT)
            )
        ).all()
    if room is None:
        return _page("Room not found", "<h1>This room does not exist any more.</h1>", status=404)
    urls = await asyncio.gather(*(store.url(r.object_key) for r in rows))
    items = []
    for row, url in zip(rows, urls, strict=True):
        who = FORMER_MEMBER if row.uploader_id is None else row.uploader_phone_masked or FORMER_MEMBER
        href = html.escape(url, quote=True)
        if row.content_type == "application/pdf":
            thumb = f'<a href="{href}" rel="noreferrer"><span class="pdf">PDF</span></a>'
        else:
            thumb = (
                f'<a href="{href}" rel="noreferrer"><img src="{href}" alt="receipt" loading="lazy" '
                'referrerpolicy="no-referrer"></a>'
            )
        caption = f'<p class="cap">{html.escape(row.caption)}</p>' if row.caption else ""
        items.append(
            f'<li>{thumb}<div><div class="meta">{html.escape(who)} &middot; {_when(row.created_at)}</div>'
            f"{caption}</div></li>"
        )
    name = html.escape(room.name)
    count = len(rows)
    summary = f"{count} receipt{'s' if count != 1 else ''}, newest first" if rows else "No receipts yet."
    more = f"<p>Showing the newest {PAGE_LIMIT}.</p>" if count >= PAGE_LIMIT else ""
    body = (
        f"<h1>Receipts of {name}</h1><p>{summary}. Photos open through links that work for a few "
        f"minutes; reload this page for fresh ones.</p><ul>{''.join(items)}</ul>{more}"
    )
    log.info("gallery.viewed", room_id=room_id, receipts=count)
    return _page(f"Receipts of {room.name}", body)


async def local_media(request: web.Request) -> web.StreamResponse:
    """A file of the local media backend, through a signed link of a few minutes."""
    runtime = request.app[RUNTIME]
    signer = signer_of(runtime.deps)
    store = media.store_of(runtime.deps)
    key = request.match_info["key"]
    if signer is None or not isinstance(store, LocalMediaStore) or not KEY_PATTERN.match(key):
        raise web.HTTPNotFound()
    verdict = _verdict(request, signer, "media", key, MEDIA_LINK_SECONDS)
    if verdict != "ok":
        return _denied(verdict)
    try:
        data = await store.get(key)
    except FileNotFoundError:
        raise web.HTTPNotFound() from None
    return web.Response(
        body=data,
        content_type=media.CONTENT_TYPES[key.rsplit(".", 1)[1]],
        headers={
            "Cache-Control": "private, max-age=300",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": "inline",
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/rooms/{room_id}/receipts", gallery, expect_handler=expect_continue)
    app.router.add_get("/media/{key:rooms/.+}", local_media, expect_handler=expect_continue)


@contextlib.asynccontextmanager
async def lifespan(runtime: Runtime) -> AsyncIterator[None]:
    """The link signer, then the media store and pipeline (bot/media.py), which sign local file
    links with it."""
    runtime.deps.services["link_signer"] = await make_signer(runtime.deps.config)
    async with media.lifespan(runtime):
        yield


FEATURE = Feature(name="gallery", add_routes=add_routes, lifespan=lifespan)

__all__ = ["FEATURE", "add_routes", "gallery", "local_media"]
