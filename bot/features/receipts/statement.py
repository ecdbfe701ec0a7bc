"""A room's monthly statement (issue 26, item 7): `\\STATEMENT [YYYY-MM]` texts a signed link to

    GET /rooms/{room_id}/statement/2026-11?exp=...&sig=...       the page
    GET /rooms/{room_id}/statement/2026-11.csv?exp=...&sig=...   one row per receipt and payment
    GET /rooms/{room_id}/statement/2026-11.zip?exp=...&sig=...   the month's photos and PDFs

The month is the room's (`\\TIMEZONE`, else its creator's number's zone, else UTC): the receipts
and payments made in it, and the balances as they stood at its end (the ledger computed from what
came before). Each form is signed on its own (HMAC over room, month and form) and lives 1 hour,
like the gallery's links; an expired or altered one gets the gallery's 403 page. The page shows
each photo's thumbnail as the gallery does (the same `/thumbs` links, ending with the page's own),
each opening the full photo.

Whatever a member typed (names, captions) is data: escaped by the page's templates, and in the CSV
a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a
spreadsheet shows it as text and never runs it as a formula (OWASP, CSV injection). The zip is
streamed one file at a time (stored, not compressed: photos are compressed already), so memory
holds one photo whatever the month's size; a file the store cannot give is listed in MISSING.txt.
"""

from __future__ import annotations

import asyncio
import calendar
import csv
import datetime as dt
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from bot.core.feature import Feature
from bot.core.logs import get_logger
from bot.features.ledger.book import room_ledger
from bot.features.ledger.money import currency, currency_or_default
from bot.features.ledger.reminders import room_zone, zone_unknown
from bot.features.ledger.view import ledger_view, shares_text
from bot.features.receipts import media
from bot.features.receipts.gallery import (
    FORMER_MEMBER,
    Unreadable,
    deleted_note,
    denied,
    expired_room,
    link_verdict,
    photo_url,
    read_photo,
    unreadable_page,
)
from bot.gateway import pages
from bot.gateway.expect import expect_continue
from bot.gateway.gate import GATE
from bot.gateway.links import STATEMENT_SECONDS, LinkSigner, signer_of, statement_query, thumb_link
from storage import ledger
from storage.media import MediaStore
from storage.schema import receipts

log = get_logger(__name__)

MONTH = re.compile(r"(\d{4})-(\d{2})")
FORMS = ("html", "csv", "zip")
CSV_COLUMNS = (
    "date",
    "type",
    "paid_by",
    "paid_to",
    "amount",
    "currency",
    "status",
    "split",
    "caption",
    "receipt_id",
    # after the documented ten, so formulas that name columns by place keep working: what
    # `\\AMOUNT 678 JPY @0.006667` converted (678, JPY, 0.006667), empty when nothing was
    "original_amount",
    "original_currency",
    "rate",
    # the offset from UTC of the row's date (`UTC-04:00`): in the hour a clock goes back, the
    # same local time comes twice, and a sheet read apart from its page had no way to tell them
    "utc_offset",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ZIP_CHUNK = 1 << 16
PDF = "application/pdf"


def month_of(text: str) -> tuple[int, int] | None:
    """(year, month) of "2026-11", or None for anything else (a year past 2999 too: December
    9999's end is no date, and its signed page answered 500)."""
    match = MONTH.fullmatch(text)
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    return (year, month) if 2000 <= year <= 2999 and 1 <= month <= 12 else None


def month_bounds(year: int, month: int, zone: dt.tzinfo) -> tuple[float, float]:
    """[start, end) of a month in `zone`, as Unix times."""
    start = dt.datetime(year, month, 1, tzinfo=zone)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return start.timestamp(), end.timestamp()


def safe_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a `'`."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def utc_offset(iso: str) -> str:
    """`UTC-04:00` for `2025-11-02T01:30:00-04:00` (a bare `-04:00` reads as a formula, or a
    negative time, to a spreadsheet)."""
    offset = dt.datetime.fromisoformat(iso).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


def decimal_amount(minor: int, code: str) -> str:
    """12.50 for 1250 USD, 1250 for JPY: the amount a spreadsheet reads as a number."""
    own = currency(code)
    exponent = own.exponent if own is not None else 2
    return str(Decimal(minor).scaleb(-exponent))


@dataclass(frozen=True)
class Entry:
    """A receipt of the month."""

    id: str
    when: str  # "2026-11-03 14:30", the room's time
    iso: str
    who: str
    amount: str  # as shown: "$23.17", "€12.50 (not counted)", or ""
    amount_decimal: str  # "23.17", or "" (no amount yet)
    currency: str
    status: str
    note: str
    split: str
    caption: str
    object_key: str
    content_type: str
    deleted: str = ""  # the photo is gone from the store, and why
    deleted_at: float | None = None  # when it went (None: kept)
    shown: str = ""  # `when` on the page (`shown_time`); "": `when`
    size: int = 0  # the stored file's bytes
    shares: str = ""  # each share, an equal split's too (the CSV's split column); "": not counted
    # what a rate converted (`\\AMOUNT 678 JPY @0.006667`): "678", "JPY", "0.006667"; "": not converted
    original_decimal: str = ""
    original_currency: str = ""
    original_rate: str = ""


@dataclass(frozen=True)
class PaymentEntry:
    when: str
    iso: str
    payer: str
    payee: str
    amount: str  # "$11.45"
    amount_decimal: str
    currency: str
    shown: str = ""  # `when` on the page (`shown_time`); "": `when`


def shown_time(moment: dt.datetime) -> str:
    """A time as the page shows it: `2026-11-03 14:30`, the room's time (the page names the
    zone); in the hour that comes twice when clocks go back, with which of the two it is
    (`2026-11-01 01:30 PDT`, `2026-11-01 01:10 PST`): a receipt of 01:30 and a payment 40
    minutes later were listed as 01:30, then 01:10, in time order but reading backwards."""
    text = moment.strftime("%Y-%m-%d %H:%M")
    twice = moment.replace(fold=1 - moment.fold).utcoffset() != moment.utcoffset()
    return f"{text} {moment.strftime('%Z')}" if twice else text


@dataclass(frozen=True)
class Statement:
    room: str
    month: str  # "2026-11"
    heading: str  # "November 2026"
    zone: str
    currency: str
    receipts: list[Entry]
    payments: list[PaymentEntry]
    settle: list[str]
    positions: list[str]
    # the month under way: the balances are as they stand now ("2026-11-26 01:45", the room's
    # time), not at its end (the page said "Balance at the end of November" on the 26th)
    as_of: str = ""
    # what the month's counted receipts came to ("$199.43"), and who paid how much of it ("Ann
    # $103.29"), most first: a statement listed each receipt but never their sum
    spent: str = ""
    spent_by: tuple[str, ...] = ()
    counted: int = 0
    uncounted: int = 0  # receipts of the month left out of the ledger (no amount, duplicate, ...)
    # where each stood when the month began ("Bob: owes $10.00"), from the months before: the
    # page gave the month's receipts and payments and the balance at its end, which did not add
    # up by hand when a debt was carried in
    opening: tuple[str, ...] = ()
    # UTC only for want of a zone (a room made on Telegram): said, with how to set the room's own,
    # as `\\REMIND` says it; the months of a Sydney household's room ended at 11:00 on the 1st
    zone_unknown: bool = False


async def load(request: web.Request, room_id: str, year: int, month: int) -> Statement | None:
    """The room's statement of the month, or None when the room is gone."""
    deps = request.app[GATE].deps
    async with deps.db.read() as conn:
        settings = await ledger.reminding(conn, room_id)
        if settings is None:
            return None
        zone = room_zone(settings)
        start, end = month_bounds(year, month, zone)
        now = deps.now()
        rows = (
            await conn.execute(
                sa.select(receipts)
                .where(
                    receipts.c.room_id == room_id, receipts.c.created_at >= start, receipts.c.created_at < end
                )
                .order_by(receipts.c.created_at, receipts.c.message_sid, receipts.c.media_index)
            )
        ).all()
        # the balances where the month ended and where it began, from one read of the room's
        # receipts (a 60-member club's 3,000 receipts took a second a read)
        code = currency_or_default(await ledger.room_currency(conn, room_id)).code
        at_end, at_start = await ledger.room_books(conn, room_id, code, [end, start])
        view = await ledger_view(
            conn, room_id, [str(r.id) for r in rows], since=start, until=end, at_until=at_end
        )
        before = await room_ledger(conn, room_id, start, book=at_start)

    def local(ts: float) -> tuple[str, str]:
        moment = dt.datetime.fromtimestamp(ts, zone)
        return moment.strftime("%Y-%m-%d %H:%M"), moment.isoformat(timespec="seconds")

    def shown(ts: float) -> str:
        return shown_time(dt.datetime.fromtimestamp(ts, zone))

    entries = []
    for r in rows:
        line = view.receipts.get(str(r.id))
        who = FORMER_MEMBER if r.uploader_id is None or line is None else line.paid_by
        when, iso = local(float(r.created_at))
        entries.append(
            Entry(
                id=str(r.id),
                when=when,
                iso=iso,
                who=who,
                amount=line.amount if line is not None else "",
                # none for a receipt taken out with \\AMOUNT 0, as the page shows it and as for
                # every receipt with no amount: its row said 0.00, an amount it never had
                amount_decimal=(
                    decimal_amount(int(r.amount_minor), str(r.currency or view.currency))
                    if r.amount_minor
                    else ""
                ),
                currency=str(r.currency or view.currency),
                status=line.status if line is not None else "",
                note=line.note if line is not None else "",
                split=line.split if line is not None else "",
                caption=r.caption or "",
                object_key=r.object_key,
                content_type=r.content_type,
                deleted=deleted_note(r),
                deleted_at=r.photo_deleted_at,
                shown=shown(float(r.created_at)),
                size=int(r.size),
                shares=shares_text(view.book, str(r.id)) if line is not None else "",
                **_original(r),
            )
        )
    paid = [
        PaymentEntry(
            *local(p.at),
            payer=p.payer,
            payee=p.payee,
            amount=p.amount,
            amount_decimal=decimal_amount(p.minor, p.currency),
            currency=p.currency,
            shown=shown(p.at),
        )
        for p in reversed(view.payments)  # the month's, oldest first
    ]
    by_payer: dict[str, int] = {}
    counted = 0
    for r in rows:
        line = view.receipts.get(str(r.id))
        if line is not None and line.status == "counted":
            counted += 1
            who = FORMER_MEMBER if r.uploader_id is None else line.paid_by
            by_payer[who] = by_payer.get(who, 0) + int(r.amount_minor)
    cur = view.book.currency
    return Statement(
        room=settings.name,
        month=f"{year:04d}-{month:02d}",
        heading=f"{calendar.month_name[month]} {year}",
        zone=zone.key,
        currency=view.currency,
        receipts=entries,
        payments=paid,
        settle=view.settle,
        positions=view.positions,
        as_of=shown(now) if end > now else "",
        spent=cur.format(sum(by_payer.values())) if counted else "",
        spent_by=tuple(
            f"{who} {cur.format(minor)}"
            for who, minor in sorted(by_payer.items(), key=lambda item: (-item[1], item[0]))
        ),
        counted=counted,
        uncounted=len(rows) - counted,
        opening=tuple(
            f"{before.name(party)}: {'owed' if value > 0 else 'owes'} {before.currency.format(abs(value))}"
            for party, value in before.net.items()
            if value
        ),
        zone_unknown=zone_unknown(settings),
    )


def _original(r: Any) -> dict[str, str]:
    """The Entry fields of what a rate converted, none when the amount was not converted."""
    if r.original_minor is None or not r.original_currency or not r.original_rate:
        return {}
    return {
        "original_decimal": decimal_amount(int(r.original_minor), str(r.original_currency)),
        "original_currency": str(r.original_currency),
        "original_rate": str(r.original_rate),
    }


def csv_text(statement: Statement) -> str:
    """One row per receipt and payment, in time order; every typed text neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    rows: list[tuple[str, list[str]]] = []
    for e in statement.receipts:
        cells = [
            e.when,
            "receipt",
            e.who,
            "",
            e.amount_decimal,
            e.currency,
            e.status,
            e.shares,  # who shared it: an equal split's shares too (the page names only a \\SPLIT's)
            e.caption,
            e.id,
            e.original_decimal,
            e.original_currency,
            e.original_rate,
            utc_offset(e.iso),
        ]
        rows.append((e.iso, cells))
    for p in statement.payments:
        rows.append(
            (
                p.iso,
                [
                    p.when,
                    "payment",
                    p.payer,
                    p.payee,
                    p.amount_decimal,
                    p.currency,
                    *[""] * (len(CSV_COLUMNS) - 7),
                    utc_offset(p.iso),
                ],
            )
        )
    # by the moment, not its local text: in the hour a clock falls back, 01:10 (PST) comes after
    # 01:30 (PDT) the same night
    for _, cells in sorted(rows, key=lambda row: dt.datetime.fromisoformat(row[0])):
        writer.writerow([safe_cell(cell) for cell in cells])
    return out.getvalue()


class _Chunks(io.RawIOBase):
    """A write-only, unseekable file: zipfile writes into it, the response takes what it holds."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


# the letters of a `\\NAME` (bot/features/ledger/book.py) that have no plain letter inside them
_PLAIN = str.maketrans({"Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "ß": "ss"})


def _plain(name: str) -> str:
    """A name in plain letters: José is Jose, Zoë Zoe, Søren Soren (not "Jos", "Zo", "S-ren")."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_PLAIN))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def zip_name(n: int, entry: Entry) -> str:
    """`2026-11-03_1430_003_Alice.jpg`: sortable, and nothing a member typed beyond [A-Za-z0-9_-]."""
    stamp = entry.when.replace("-", "").replace(" ", "_").replace(":", "")
    who = re.sub(r"[^A-Za-z0-9_-]+", "-", _plain(entry.who)).strip("-")[:24] or "member"
    extension = entry.object_key.rsplit(".", 1)[-1]
    return f"{stamp}_{n:03d}_{who}.{extension}"


@dataclass(frozen=True)
class Opened:
    """A statement whose link checked out, with what its routes need to serve it."""

    room_id: str
    statement: Statement
    signer: LinkSigner
    store: MediaStore


async def _opened(request: web.Request, fmt: str) -> Opened | web.Response:
    """The statement a signed link of form `fmt` names, or the page that refuses it (403 for a
    link expired or altered, 404 for a room gone); a month that is none is 404 at once."""
    runtime = request.app[GATE]
    signer, store = signer_of(runtime.deps), media.store_of(runtime.deps)
    if signer is None or store is None:
        raise web.HTTPServiceUnavailable(text="statements are not running")
    room_id, month_text = request.match_info["room_id"], request.match_info["month"]
    ym = month_of(month_text)
    if ym is None:
        return pages.not_found()
    verdict = link_verdict(request, signer, "statement", f"{room_id}/{month_text}/{fmt}", STATEMENT_SECONDS)
    if verdict != "ok":
        log.info("statement.denied", verdict=verdict, form=fmt)
        room = await expired_room(request, verdict, room_id)
        return denied(verdict, "statement", room=room, month=month_text)
    statement = await load(request, room_id, *ym)
    if statement is None:
        return pages.message("Room not found", "This room does not exist any more.", status=404)
    return Opened(room_id, statement, signer, store)


async def page(request: web.Request) -> web.Response:
    opened = await _opened(request, "html")
    if isinstance(opened, web.Response):
        return opened
    statement, signer, room_id = opened.statement, opened.signer, opened.room_id
    exp = int(request.query["exp"])
    urls = await asyncio.gather(
        *(photo_url(opened.store, e.object_key, e.deleted_at is not None) for e in statement.receipts)
    )
    # each photo's thumbnail, as the gallery shows it: signed until the page's own link ends (a
    # page scrolled long after it opened asks for its lazy thumbnails then); a PDF or a photo
    # deleted has none
    deps = request.app[GATE].deps
    thumbs = [
        thumb_link(deps, signer, e.object_key, exp) if url and e.content_type != PDF else ""
        for e, url in zip(statement.receipts, urls, strict=True)
    ]
    log.info("statement.viewed", room_id=room_id, month=statement.month, receipts=len(statement.receipts))
    return pages.render(
        "statement.html",
        # what the page is, not only its room and month: a screen reader says the title first
        title=f"Statement of {statement.room}: {statement.heading}",
        img_src="'self'",  # the thumbnails, from this server's /thumbs
        s=statement,
        items=list(zip(statement.receipts, urls, thumbs, strict=True)),
        csv_link=statement_query(signer, room_id, statement.month, "csv", exp),
        # none when every photo of the month is deleted (`media.retention_days`, a person's request):
        # its zip held only a MISSING.txt
        zip_link=(
            statement_query(signer, room_id, statement.month, "zip", exp)
            if any(e.deleted_at is None for e in statement.receipts)
            else ""
        ),
        # how much the zip is, before a phone on a slow or metered connection starts on it
        zip_size=download_size(sum(e.size for e in statement.receipts if e.deleted_at is None)),
    )


def download_size(size: int) -> str:
    """A download's size as a phone shows one: "240 KB", "4.1 MB" (the zip stores the photos as they
    are: its size is theirs and a few hundred bytes each)."""
    if size < 999_500:  # past it, "1000 KB"
        return f"{max(1, round(size / 1000))} KB"
    return f"{size / 1_000_000:.1f} MB"


async def csv_download(request: web.Request) -> web.Response:
    opened = await _opened(request, "csv")
    if isinstance(opened, web.Response):
        return opened
    statement = opened.statement
    log.info("statement.csv", room_id=opened.room_id, month=statement.month)
    return pages.compressed(
        web.Response(
            body=csv_text(statement).encode("utf-8-sig"),  # the BOM: spreadsheets then read UTF-8
            content_type="text/csv",
            charset="utf-8",
            headers={
                **pages.BASE_HEADERS,
                "Content-Disposition": f'attachment; filename="{statement.room}-{statement.month}.csv"',
            },
        )
    )


async def zip_download(request: web.Request) -> web.StreamResponse:
    """The month's photos. The first one is fetched before the answer starts: with the store down
    (S3 unreachable) the person gets a page that says to try again, not a zip of a MISSING.txt
    that says every photo is gone from the store. One that fails midway is listed as not
    fetched, and the rest are not tried (each would wait on the store again)."""
    opened = await _opened(request, "zip")
    if isinstance(opened, web.Response):
        return opened
    statement, store, room_id = opened.statement, opened.store, opened.room_id
    headers = {
        **pages.BASE_HEADERS,
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{statement.room}-{statement.month}-photos.zip"',
    }
    if request.method == "HEAD":  # a link checker's or a preview's look: its headers, no photo read
        return web.Response(headers=headers)
    first = next((n for n, e in enumerate(statement.receipts, 1) if e.deleted_at is None), None)
    first_data = None if first is None else await _fetch(store, statement.receipts[first - 1], room_id)
    if isinstance(first_data, Unreadable) and not first_data.gone:
        return unreadable_page(first_data, photos=True)
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    try:
        files = await _write_zip(response, statement, store, room_id, first, first_data)
    except _Cut as cut:
        # a phone that cancelled the download, or stopped taking it: its connection ends here (it
        # was logged as the database away, http.database_away, with a 503 in the access log)
        if cut.why == "stalled" and request.transport is not None:
            request.transport.abort()  # what it did not take is dropped, not kept to send
        log.info("statement.zip_cut", room_id=room_id, month=statement.month, reason=cut.why, files=cut.files)
        return response
    log.info("statement.zip", room_id=room_id, month=statement.month, files=files)
    return response


# The zip goes out in pieces, each of which the phone must take within STALL_SECONDS. A download
# it stopped reading (paused, a connection gone quiet but kept open) held the photo under way (up
# to 5 MB, twice) and the connection for as long as the phone kept it open: 20 such downloads of
# a month with a 4 MB photo held 220 MB. A phone that reads slowly but reads is never cut off (a
# piece is a few seconds on 3G); one that stops gets the connection closed, as nginx's send_timeout.
PIECE_BYTES = 64 * 1024
STALL_SECONDS = 60.0


class _Cut(Exception):
    """The phone stopped taking the zip: `why` is "gone" (it closed the connection) or "stalled"
    (it took nothing for STALL_SECONDS); `files` were sent whole before."""

    def __init__(self, why: str, files: int) -> None:
        super().__init__(why)
        self.why, self.files = why, files


async def _send(response: web.StreamResponse, data: bytes, files: int) -> None:
    view = memoryview(data)
    try:
        for start in range(0, len(view), PIECE_BYTES):
            async with asyncio.timeout(STALL_SECONDS):
                await response.write(view[start : start + PIECE_BYTES])
    except TimeoutError:
        raise _Cut("stalled", files) from None
    except ConnectionError:  # aiohttp's ClientConnectionResetError: the phone closed it
        raise _Cut("gone", files) from None


async def _write_zip(
    response: web.StreamResponse,
    statement: Statement,
    store: MediaStore,
    room_id: str,
    first: int | None,
    first_data: bytes | Unreadable | None,
) -> int:
    """The month's photos written to `response` as a zip; how many files it holds."""
    sent = 0
    sink = _Chunks()
    missing: list[str] = []
    later: list[str] = []  # not fetched: the store stopped answering
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
        for n, entry in enumerate(statement.receipts, 1):
            name = zip_name(n, entry)
            if entry.deleted_at is not None:
                missing.append(f"{name} ({entry.deleted})")
                continue
            if n == first:
                data = first_data
            else:  # once the store stopped answering, the rest are not tried (each would wait)
                data = Unreadable(gone=False) if later else await _fetch(store, entry, room_id)
            if isinstance(data, Unreadable):
                (missing if data.gone else later).append(name)
                continue
            assert data is not None
            info = zipfile.ZipInfo(name, date_time=_zip_time(entry.when))
            await asyncio.to_thread(archive.writestr, info, data)  # CRC-32 over a photo: off the loop
            await _send(response, sink.take(), sent)
            sent += 1
        notes = []
        if missing:
            notes.append("Not in the store any more:\n" + "\n".join(missing) + "\n")
        if later:
            notes.append(
                "Not fetched: the store that keeps the receipt photos did not answer. They are kept;"
                " download the zip again in a few minutes for them:\n" + "\n".join(later) + "\n"
            )
        if notes:
            archive.writestr("MISSING.txt", "\n".join(notes))
    await _send(response, sink.take(), sent)
    try:
        await response.write_eof()
    except ConnectionError:
        raise _Cut("gone", sent) from None
    return sent


async def _fetch(store: MediaStore, entry: Entry, room_id: str) -> bytes | Unreadable:
    """A photo's bytes for the zip, or why the store did not give them (the gallery's reader)."""
    return await read_photo(store.get(entry.object_key), "zip", key=entry.object_key, room_id=room_id)


def _zip_time(when: str) -> tuple[int, int, int, int, int, int]:
    moment = dt.datetime.strptime(when, "%Y-%m-%d %H:%M")
    return moment.year, moment.month, moment.day, moment.hour, moment.minute, 0


def add_routes(app: web.Application) -> None:
    base = r"/rooms/{room_id}/statement/{month:\d{4}-\d{2}}"
    app.router.add_get(base, pages.database_away(page), expect_handler=expect_continue)
    app.router.add_get(base + ".csv", pages.database_away(csv_download), expect_handler=expect_continue)
    app.router.add_get(base + ".zip", pages.database_away(zip_download), expect_handler=expect_continue)


FEATURE = Feature(name="statement", add_routes=add_routes)

__all__ = [
    "CSV_COLUMNS",
    "FEATURE",
    "Statement",
    "add_routes",
    "csv_text",
    "decimal_amount",
    "load",
    "month_bounds",
    "month_of",
    "safe_cell",
    "zip_name",
]
