"""The receipt gallery: `GET /rooms/{room_id}/receipts?exp=...&sig=...`, a plain HTML page of a
room's receipts, newest first, each opened through a presigned URL of a few minutes.

Links are signed with HMAC-SHA256 over (purpose, subject, expiry) and live 1 hour. The signing key
is derived with HKDF from each configured Fernet key (the first signs, any verifies, so a key
rotation does not break links in flight), or, with no keys configured, generated once into
`{data_dir}/link-signing.key` (0600). The local media backend serves its files through
`GET /media/{key}?exp=...&sig=...`, signed the same way for a few minutes. Each photo is shown
through its thumbnail (`GET /thumbs/{key}?exp=...&sig=...`, bot/features/receipts/thumbs.py: a
small JPEG made on request, never stored), signed the same way for either backend until the page's
own link ends (a page is scrolled, and its lazy thumbnails asked for, long after it opened); the
link around it opens the full photo.

An expired or altered link gets 403 and a page that says how to get a new one. Pages are
`Cache-Control: no-store` and `Referrer-Policy: no-referrer`, so a presigned URL never leaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from aiohttp import web

from bot.core.deps import Services
from bot.core.feature import Feature, Starting
from bot.core.logs import get_logger
from bot.features.ledger.reminders import room_zone, zone_unknown
from bot.features.ledger.view import ledger_view
from bot.features.receipts import media, thumbs
from bot.gateway import pages
from bot.gateway.expect import expect_continue
from bot.gateway.gate import GATE
from bot.gateway.links import (
    GALLERY_SECONDS,
    MEDIA_LINK_SECONDS,
    LinkSigner,
    make_signer,
    signer_of,
    thumb_link,
)
from storage import ledger as ledger_store
from storage.db import Database
from storage.media import KEY_PATTERN, LocalMediaStore, MediaStore, StoreUnavailable
from storage.schema import payments, receipts, rooms

log = get_logger(__name__)

PAGE_LIMIT = 200
# the newest payments the page lists above the receipts: a club's year of \\PAID (200 listed)
# put its first receipt 10,000 px down a phone's page; a month's are on its \\STATEMENT
PAYMENTS_SHOWN = 10
FORMER_MEMBER = "a former member"


# -- pages -----------------------------------------------------------------------------------------

# presigned URLs point at the media store (S3, a CDN, or this server), so photos may come from anywhere
_IMG_SRC = "* data:"


@dataclass(frozen=True)
class Item:
    """One receipt as the gallery shows it."""

    url: str
    is_pdf: bool
    who: str
    when: str
    iso: str
    caption: str
    amount: str = ""  # "$23.17", "€12.50 (not counted)", or "" (no amount yet)
    split: str = ""  # the shares of a receipt `\\SPLIT` reshaped
    note: str = ""  # not counted (why), or needs an amount
    deleted: str = ""  # the photo is gone from the store, and why (then `url` is "")
    thumb: str = ""  # the signed link of the photo's thumbnail ("" for a PDF or a deleted photo)


# why a receipt's photo is gone (receipts.photo_deleted_why; the receipt stays in the ledger)
DELETED = {
    "request": "photo deleted at the uploader's request",
    "retention": "photo deleted: older than this service keeps photos",
}


def deleted_note(row: Any) -> str:
    """Why a receipt row's photo is gone from the store, or "" while it is kept."""
    return DELETED.get(row.photo_deleted_why or "", "") if row.photo_deleted_at is not None else ""


async def photo_url(store: MediaStore, object_key: str, deleted: bool) -> str:
    """A presigned URL of a receipt's photo, or "" when the photo was deleted."""
    return "" if deleted else await store.url(object_key)


def denied(verdict: str, what: str, *, room: str = "", month: str = "") -> web.Response:
    """403 for an expired or altered link: a gallery or statement link says what to text for a new
    one of the same page (`room`: the name of the room an expired link, whose signature held, was
    for; `month`: the statement's), a photo link says to reload its page (its links are fresh
    for a few minutes after each load). A bare \\RECEIPTS or \\STATEMENT answers with the active
    room's gallery and this month's statement: not the page the link was for."""
    reason = "This link has expired." if verdict == "expired" else "This link is not valid."
    if what == "gallery":
        command = f"\\RECEIPTS {room}" if room else "\\RECEIPTS"
        hint = f"Gallery links work for 1 hour. Text {command} to the bot to get a new one."
    elif what == "statement":
        command = f"\\STATEMENT {month}".strip()
        hint = f"Statement links work for 1 hour. Text {command} to the bot to get a new one"
        hint += f" (from {room}: \\USE {room} first if it is not your active room)." if room else "."
    else:
        # the statement's photo links too: "the gallery page" sent its readers looking for one
        hint = "Photo links work for a few minutes. Reload the receipts or statement page you opened it from to get fresh ones."
    return pages.message("Link expired or not valid", hint, heading=reason, status=403)


async def expired_room(request: web.Request, verdict: str, room_id: str) -> str:
    """The name of the room an expired link was for ("" for a link not valid, whose room id may be
    anyone's, or a room gone)."""
    if verdict != "expired":
        return ""
    async with request.app[GATE].deps.db.read() as conn:
        name = (await conn.execute(sa.select(rooms.c.name).where(rooms.c.id == room_id))).scalar_one_or_none()
    return str(name or "")


def _when(ts: float, zone: ZoneInfo) -> tuple[str, str]:
    """(shown, ISO 8601) of a time in the room's zone: "2026-11-23 10:55 UTC", "2026-11-23 05:55
    EST" (the statement's zone: the room's `\\TIMEZONE`, else its creator's number's)."""
    moment = datetime.fromtimestamp(ts, zone)
    iso = moment.strftime("%Y-%m-%dT%H:%M:%SZ") if zone.key == "UTC" else moment.isoformat(timespec="seconds")
    return moment.strftime("%Y-%m-%d %H:%M %Z"), iso


def link_verdict(request: web.Request, signer: LinkSigner, purpose: str, subject: str, max_age: int) -> str:
    """The request's `exp` and `sig` checked for `purpose` and `subject`: "ok", "expired", "invalid"."""
    query = request.query
    now = request.app[GATE].deps.now()
    return signer.check(
        purpose, subject, query.get("exp", ""), query.get("sig", ""), now=now, max_age=max_age
    )


async def gallery(request: web.Request) -> web.Response:
    runtime = request.app[GATE]
    signer = signer_of(runtime.deps)
    store = media.store_of(runtime.deps)
    if signer is None or store is None:
        raise web.HTTPServiceUnavailable(text="the gallery is not running")
    room_id = request.match_info["room_id"]
    verdict = link_verdict(request, signer, "gallery", room_id, GALLERY_SECONDS)
    if verdict != "ok":
        log.info("gallery.denied", verdict=verdict)
        return denied(verdict, "gallery", room=await expired_room(request, verdict, room_id))
    page_expires = int(request.query["exp"])  # checked: its thumbnails end with it
    async with runtime.deps.db.read() as conn:
        room = (await conn.execute(sa.select(rooms.c.name).where(rooms.c.id == room_id))).first()
        settings = await ledger_store.reminding(conn, room_id)
        rows = (
            await conn.execute(
                sa.select(receipts)
                .where(receipts.c.room_id == room_id)
                .order_by(receipts.c.created_at.desc(), receipts.c.message_sid, receipts.c.media_index)
                .limit(PAGE_LIMIT)
            )
        ).all()
        # how many the room has: past PAGE_LIMIT, the page said "200 receipts" of a room of 350
        total = len(rows)
        if total >= PAGE_LIMIT:
            total = (
                await conn.execute(
                    sa.select(sa.func.count()).select_from(receipts).where(receipts.c.room_id == room_id)
                )
            ).scalar_one()
        ledger = await ledger_view(conn, room_id, [str(r.id) for r in rows]) if room is not None else None
        payments_total = len(ledger.payments) if ledger is not None else 0
        if payments_total > PAYMENTS_SHOWN:
            payments_total = (
                await conn.execute(
                    sa.select(sa.func.count()).select_from(payments).where(payments.c.room_id == room_id)
                )
            ).scalar_one()
    if room is None or ledger is None:
        return pages.message("Room not found", "This room does not exist any more.", status=404)
    zone = room_zone(settings) if settings is not None else ZoneInfo("UTC")
    urls = await asyncio.gather(
        *(photo_url(store, r.object_key, r.photo_deleted_at is not None) for r in rows)
    )
    items = []
    for row, url in zip(rows, urls, strict=True):
        line = ledger.receipts.get(str(row.id))
        who = FORMER_MEMBER if row.uploader_id is None else row.uploader_phone_masked or FORMER_MEMBER
        if line is not None and row.uploader_id is not None:
            who = line.paid_by  # their \NAME when they set one
        when, iso = _when(row.created_at, zone)
        is_pdf = row.content_type == "application/pdf"
        shows_thumb = bool(url) and not is_pdf
        items.append(
            Item(
                url=url,
                thumb=thumb_link(runtime.deps, signer, row.object_key, page_expires) if shows_thumb else "",
                is_pdf=is_pdf,
                who=who,
                when=when,
                iso=iso,
                caption=row.caption or "",
                amount=line.amount if line is not None else "",
                split=line.split if line is not None else "",
                note=line.note if line is not None else "",
                deleted=deleted_note(row),
            )
        )
    log.info("gallery.viewed", room_id=room_id, receipts=len(items))
    return pages.render(
        "gallery.html",
        title=f"Receipts of {room.name}",
        img_src=_IMG_SRC,
        room=room.name,
        items=items,
        total=total,
        settle=ledger.settle,
        positions=ledger.positions,
        payments=[(_when(p.at, zone), p.text) for p in ledger.payments[:PAYMENTS_SHOWN]],
        payments_more=max(0, payments_total - PAYMENTS_SHOWN),
        zone=zone.key,
        zone_unknown=settings is not None and zone_unknown(settings),
        currency=ledger.currency,
    )


async def local_media(request: web.Request) -> web.StreamResponse:
    """A file of the local media backend, through a signed link of a few minutes."""
    runtime = request.app[GATE]
    signer = signer_of(runtime.deps)
    store = media.store_of(runtime.deps)
    key = request.match_info["key"]
    if signer is None or not isinstance(store, LocalMediaStore) or not KEY_PATTERN.match(key):
        return pages.not_found()
    verdict = link_verdict(request, signer, "media", key, MEDIA_LINK_SECONDS)
    if verdict != "ok":
        return denied(verdict, "media")
    path = await read_photo(store.file(key), "photo", key=key, db=runtime.deps.db)
    if isinstance(path, Unreadable):
        return unreadable_page(path)
    # streamed from disk (a photo is up to 5 MB: never held whole in memory, however many are
    # asked for at once), a HEAD reads nothing, and a reload is answered 304 (Last-Modified)
    headers = _file_headers("private, max-age=300")
    headers["Content-Type"] = media.CONTENT_TYPES[key.rsplit(".", 1)[1]]
    return web.FileResponse(path, headers=headers)


# a receipt's file as this site serves it (a photo, a thumbnail, a PDF as it was sent): shown, and
# nothing in it run with this site's origin. A PDF's own script (an OpenAction) ran in a viewer
# that runs one in the document's origin; the sandbox gives the file a unique origin and no
# scripts. Chromium shows photos and PDFs under it as without; the inline style is its image view's.
FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def _file_headers(cache: str) -> dict[str, str]:
    return {
        "Cache-Control": cache,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "inline",
        "Content-Security-Policy": FILE_CSP,
    }


# -- a photo the store did not give -----------------------------------------------------------------

# how long a page that found the store down asks a browser (or a person) to wait before trying again
RETRY_SECONDS = 120

# the log events of each reader: (the photo not there, the store not answering)
_UNREADABLE_EVENTS = {
    "photo": ("gallery.photo_missing", "gallery.photo_unavailable"),
    "thumb": ("gallery.thumb_missing", "gallery.thumb_unavailable"),
    "zip": ("statement.zip_missing", "statement.zip_missing"),
}

T = TypeVar("T")


@dataclass(frozen=True)
class Unreadable:
    """A stored photo the store did not give: `gone` (not in the store: deleted, when `deleted`
    says why, else lost: a restore without the media), or not (the store did not answer: down, a
    disk that fails to read, a timeout; the photo is kept)."""

    gone: bool
    deleted: str = ""  # gone because it was deleted (`DELETED`: at the uploader's request, ...)


async def read_photo(
    read: Awaitable[T], where: str, *, key: str, db: Database | None = None, **fields: str
) -> T | Unreadable:
    """What `read` (the store's `get` or `file` of `key`) gives, or why it gave nothing: the one
    place the full photo route, the thumbnails and the statement's zip tell a lost photo from a
    store that is down (`where`: "photo", "thumb", "zip"). Whatever the store raised is one of
    the two, never a 500. With `db`, a photo gone says whether it was deleted, and why (a page
    opened before the deletion still holds its links)."""
    missing, unavailable = _UNREADABLE_EVENTS[where]
    try:
        return await read
    except FileNotFoundError:
        deleted = await _deleted(db, key) if db is not None else ""
        if deleted:  # as meant: nothing for an operator to look into
            log.info(missing, key=key, error="deleted", **fields)
        else:
            log.warning(missing, key=key, error="FileNotFoundError", **fields)
        return Unreadable(gone=True, deleted=deleted)
    except Exception as exc:  # StoreUnavailable, or whatever else the store raised: not a lost photo
        # a StoreUnavailable says what failed in a few words of ours ("s3 get: ClientError 403")
        error = str(exc) if isinstance(exc, StoreUnavailable) else type(exc).__name__
        log.warning(unavailable, key=key, error=error, **fields)
        return Unreadable(gone=False)


async def _deleted(db: Database, key: str) -> str:
    """Why the receipt photo stored at `key` was deleted ("" when no deletion marked it)."""
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(receipts.c.photo_deleted_at, receipts.c.photo_deleted_why).where(
                    receipts.c.object_key == key
                )
            )
        ).first()
    return deleted_note(row) if row is not None else ""


def unreadable_page(fault: Unreadable, *, photos: bool = False) -> web.Response:
    """The page of a photo (or its thumbnail) the store did not give: 410 when it was deleted
    (saying why), 404 when it is gone otherwise, 503 with Retry-After when the store did not
    answer. `photos`: the page of the statement's zip of the month's photos (whose gone ones are
    listed in it: only the store being down stops it)."""
    if fault.deleted:
        return pages.message(
            "Photo deleted",
            # "The photo was deleted at the uploader's request."
            "The photo was" + fault.deleted.removeprefix("photo") + ".",
            hint="The receipt itself is still in the room's ledger.",
            status=410,
        )
    if fault.gone:
        return pages.message(
            "Photo not found",
            "This receipt's photo is not in the store any more.",
            hint="The receipt itself is still in the room's ledger.",
            status=404,
        )
    response = pages.message(
        "Photos not available just now" if photos else "Photo not available just now",
        "The store that keeps the receipt photos did not answer. "
        + ("The photos are kept." if photos else "The photo is kept."),
        hint="Try the download again in a few minutes." if photos else "Reload the page in a few minutes.",
        status=503,
    )
    response.headers["Retry-After"] = str(RETRY_SECONDS)
    return response


async def thumbnail(request: web.Request) -> web.Response:
    """A stored photo's thumbnail, through a signed link that ends with the gallery or statement
    page showing it (either backend): made in the decode pool from the stored photo, never
    stored. Where none can be made (a damaged file, one over `media.max_pixels`, or bigger than
    any stored photo may be: `thumbs.stored_cap`), the original is answered as it is. A HEAD reads and decodes nothing."""
    runtime = request.app[GATE]
    deps = runtime.deps
    signer, store, pool = signer_of(deps), media.store_of(deps), media.pool_of(deps)
    key = request.match_info["key"]
    if signer is None or store is None or pool is None or not KEY_PATTERN.match(key) or key.endswith(".pdf"):
        return pages.not_found()
    verdict = link_verdict(request, signer, "thumb", key, GALLERY_SECONDS)
    if verdict != "ok":
        return denied(verdict, "media")
    # kept no longer than the link lives (a browser may show it again only while it could fetch it)
    life = max(0, min(GALLERY_SECONDS, int(request.query["exp"]) - int(deps.now())))
    headers = _file_headers(f"private, max-age={life}")
    if request.method == "HEAD":  # a link checker's or a preview's look: no photo read, no decode
        return web.Response(content_type=thumbs.CONTENT_TYPE, headers=headers)
    limits = deps.config.media
    async with pool.reading:  # a few photos held at once, whatever the number of requests
        data = await read_photo(store.get(key), "thumb", key=key, db=deps.db)
        if isinstance(data, Unreadable):
            return unreadable_page(data)
        try:
            small = await pool.run(
                thumbs.make_thumbnail, data, thumbs.stored_cap(limits.max_bytes), limits.max_pixels
            )
        except thumbs.Unthumbable as exc:
            log.warning("gallery.thumb_undecodable", key=key, reason=str(exc))
            return web.Response(
                body=data, content_type=media.CONTENT_TYPES[key.rsplit(".", 1)[1]], headers=headers
            )
    return web.Response(body=small, content_type=thumbs.CONTENT_TYPE, headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_get(
        "/rooms/{room_id}/receipts", pages.database_away(gallery), expect_handler=expect_continue
    )
    app.router.add_get(
        "/media/{key:rooms/.+}", pages.database_away(local_media), expect_handler=expect_continue
    )
    app.router.add_get(
        "/thumbs/{key:rooms/.+}", pages.database_away(thumbnail), expect_handler=expect_continue
    )


@contextlib.asynccontextmanager
async def lifespan(starting: Starting) -> AsyncIterator[Services]:
    """The link signer, then the media store and pipeline (bot/features/receipts/media.py), which sign local file
    links with it."""
    signer = await make_signer(starting.deps.config)
    services = dataclasses.replace(starting.deps.services, link_signer=signer)
    with_signer = dataclasses.replace(starting.deps, services=services)
    async with media.lifespan(dataclasses.replace(starting, deps=with_signer)) as services:
        yield services


FEATURE = Feature(name="gallery", add_routes=add_routes, lifespan=lifespan)

__all__ = [
    "DELETED",
    "FEATURE",
    "RETRY_SECONDS",
    "Unreadable",
    "add_routes",
    "deleted_note",
    "denied",
    "expired_room",
    "gallery",
    "link_verdict",
    "local_media",
    "photo_url",
    "read_photo",
    "thumbnail",
    "unreadable_page",
]
