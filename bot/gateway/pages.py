"""The HTML pages: one jinja2 environment with autoescaping over `bot/gateway/templates/`, one stylesheet
(`/static/textwire.css`), and the headers every page carries.

Every page is `render(template, status=..., **context)`: the context is escaped by jinja2 (values
are never pasted into HTML by hand), the page is `Cache-Control: no-store` and
`Referrer-Policy: no-referrer`, and its Content-Security-Policy allows only this site's stylesheet;
a page widens it where it must (`img_src` for the gallery's photos, `form_action` for the X
confirm page, whose POST is redirected to X). The templates are package data, read once at import.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from markupsafe import Markup, escape

from bot.core.logs import db_reason, get_logger
from bot.gateway.expect import expect_continue
from storage.db import database_away as away_from_the_database

log = get_logger(__name__)

STYLESHEET_PATH = "/static/textwire.css"
_TEMPLATES = resources.files("bot.gateway") / "templates"
_CSS = (_TEMPLATES / "textwire.css").read_bytes()
# the stylesheet's URL changes with its content, so browsers may keep it for a day
STYLESHEET = f"{STYLESHEET_PATH}?v={hashlib.sha256(_CSS).hexdigest()[:10]}"
HOME_TEXT = "textwire: an SMS bot that posts your texts to X and keeps shared rooms of receipt photos."

_ENV = jinja2.Environment(
    loader=jinja2.DictLoader(
        {
            entry.name: entry.read_text(encoding="utf-8")
            for entry in _TEMPLATES.iterdir()
            if entry.name.endswith(".html")
        }
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

# a member without a \NAME as the pages show them (bot.core.logs.mask_address): "+1******1111",
# "Telegram ***4567". A screen reader read each star ("plus one, star, star, star, star, star,
# star, one one one one"), for every receipt and debt of such a member.
_MASKED = re.compile(r"\+\d\*+(\d{4})(?!\d)|Telegram \*+(\d{1,4})(?!\d)")


def _said(match: re.Match[str]) -> str:
    number, chat = match.groups()
    return f"number ending {number}" if number else f"Telegram chat ending {chat}"


def spoken(text: object) -> str:
    """`text` with each masked member as a screen reader should say it ("number ending 1111"): for
    what is only read out (an image's alt, a link's aria-label)."""
    return _MASKED.sub(_said, str(text))


def speakable(text: object) -> Markup:
    """`text`, escaped, with each masked member shown as ever and read out as `spoken` says it."""
    value, parts, start = str(text), [], 0
    for match in _MASKED.finditer(value):
        parts += [
            escape(value[start : match.start()]),
            Markup('<span aria-hidden="true">{}</span><span class="sr-only">{}</span>').format(
                match.group(0), _said(match)
            ),
        ]
        start = match.end()
    return Markup("").join([*parts, escape(value[start:])])


# accents on one letter that a caption keeps on the pages: Vietnamese has two, pointed Hebrew three
# or four; a member's caption of a letter with hundreds (Zalgo text) drew a column of them up
# and down the page, through the room's balance and the other members' receipts
MARKS_MAX = 4


def few_marks(text: object) -> str:
    """`text` with at most `MARKS_MAX` combining marks in a row: what a member typed is shown as
    typed, but it cannot paint over the rest of the page."""
    out: list[str] = []
    run = 0
    for ch in str(text):
        kind = unicodedata.category(ch)
        if kind in ("Mn", "Me", "Cf"):
            # an invisible format character between the marks (a zero-width non-joiner) keeps
            # them on the same letter: it does not end the run, and goes with the marks past it
            run += kind != "Cf"
            if run > MARKS_MAX:
                continue
        else:
            run = 0
        out.append(ch)
    return "".join(out)


# lines a caption keeps on the pages (the stylesheet shows its line breaks): a list typed on a
# phone ("Costco run", "- milk") ran on as one line; hundreds of empty lines would be a page of
# nothing between two receipts
LINES_MAX = 10


def few_lines(text: object) -> str:
    """`text` with its line breaks as typed, but empty lines in a row as one and none at either
    end, and past `LINES_MAX` lines the rest run on, joined by spaces."""
    lines: list[str] = []
    for line in (part.strip() for part in str(text).splitlines()):
        if line or (lines and lines[-1]):
            lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) > LINES_MAX:
        lines[LINES_MAX - 1 :] = [" ".join(line for line in lines[LINES_MAX - 1 :] if line)]
    return "\n".join(lines)


_ENV.filters["spoken"] = spoken
_ENV.filters["few_marks"] = few_marks
_ENV.filters["few_lines"] = few_lines
_ENV.filters["speakable"] = speakable

BASE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def csp(*, img_src: str = "'none'", form_action: str = "'none'") -> str:
    return (
        f"default-src 'none'; style-src 'self'; img-src {img_src}; form-action {form_action}; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


def render(
    template: str,
    *,
    title: str,
    status: int = 200,
    img_src: str = "'none'",
    form_action: str = "'none'",
    referrer: str = "no-referrer",
    **context: Any,
) -> web.Response:
    """The page `template` rendered with `context` (autoescaped), with the security headers.
    `referrer`: the page's Referrer-Policy (a form that posts to this site needs "same-origin":
    under "no-referrer" browsers send `Origin: null` with the POST)."""
    text = _ENV.get_template(template).render(
        title=title, stylesheet=STYLESHEET, referrer=referrer, **context
    )
    headers = {
        **BASE_HEADERS,
        "Referrer-Policy": referrer,
        "Content-Security-Policy": csp(img_src=img_src, form_action=form_action),
    }
    return compressed(
        web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=headers)
    )


def compressed(resp: web.Response) -> web.Response:
    """`resp` gzipped (or deflated) for a client that says it takes it (Accept-Encoding): a 30-receipt
    gallery was 24 KB of HTML, 3.4 KB gzipped, on a phone's slow connection. A large body is
    compressed in aiohttp's executor, off the event loop."""
    resp.enable_compression()
    return resp


def message(title: str, text: str, *, status: int = 200, hint: str = "", heading: str = "") -> web.Response:
    """A page with a heading and a sentence or two (errors, confirmations)."""
    return render("message.html", title=title, status=status, message=text, hint=hint, heading=heading)


def not_found() -> web.Response:
    """The 404 of an address no page has (a link cut short or mistyped, a month that is none): it
    was aiohttp's bare "404: Not Found", with no language, title or heading for a screen reader
    and no word on what to do."""
    return message(
        "Page not found",
        "There is no page at this address. A link from textwire may have been cut short: open the"
        " whole link from the message.",
        hint="For a new link, text \\RECEIPTS (receipts), \\STATEMENT (a month's statement) or"
        " \\LINK (connecting X) to textwire.",
        status=404,
    )


# seconds a page asks to be reloaded after when the database did not answer (Retry-After)
AWAY_RETRY_SECONDS = 30


def database_away(handler: Handler) -> Handler:
    """A page's handler (the receipts, a statement, its CSV or photos, the X link pages) as it
    answers while the database is away (a restart, a failover, a network fault): it answered 500
    "Server got itself in trouble", with a traceback in the log. It is a 503 page that says to
    reload in a while (`Retry-After`), and one line (`http.database_away`); any other error is
    still the server's. Only pages: a webhook answers its own 503, and costs no extra layer."""

    @functools.wraps(handler)
    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            if not away_from_the_database(exc):  # as a handler's: a page's own OSError is its own
                raise
            resource = request.match_info.route.resource
            log.warning(
                "http.database_away",
                route=resource.canonical if resource is not None else "unmatched",
                error=type(exc).__name__,
                reason=db_reason(exc),
            )
            response = message(
                "Not available just now",
                "The database behind this page did not answer. Nothing is lost.",
                hint="Reload the page in a minute.",
                status=503,
            )
            response.headers["Retry-After"] = str(AWAY_RETRY_SECONDS)
            return response

    return answered


async def home(request: web.Request) -> web.Response:
    return render("home.html", title="textwire", message=HOME_TEXT)


async def stylesheet(request: web.Request) -> web.Response:
    return compressed(
        web.Response(
            body=_CSS,
            content_type="text/css",
            charset="utf-8",
            headers={
                "Cache-Control": "public, max-age=86400",
                "X-Content-Type-Options": "nosniff",
                "Vary": "Accept-Encoding",  # a shared cache keeps the gzipped and the plain apart
            },
        )
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home, expect_handler=expect_continue)
    app.router.add_get(STYLESHEET_PATH, stylesheet, expect_handler=expect_continue)


__all__ = ["STYLESHEET", "add_routes", "csp", "database_away", "message", "not_found", "render"]
