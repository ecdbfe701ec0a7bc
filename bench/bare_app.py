"""The baseline for bench/webhook.py: aiohttp (uvloop) that parses the form and returns the same
empty TwiML (or parses a Telegram Update's JSON and answers `{"ok": true}`), with no signature or
secret check and no database."""

from __future__ import annotations

import json
import sys

import uvloop
from aiohttp import web

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


async def sms(request: web.Request) -> web.Response:
    form = await request.post()
    if "MessageSid" not in form:
        raise web.HTTPBadRequest()
    return web.Response(text=TWIML, content_type="text/xml")


async def telegram(request: web.Request) -> web.Response:
    update = json.loads(await request.read())
    if "update_id" not in update:
        raise web.HTTPBadRequest()
    return web.json_response({"ok": True})


def main() -> None:
    app = web.Application()
    app.router.add_post("/twilio/sms", sms)
    app.router.add_post("/telegram/webhook", telegram)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        print=None,
        access_log=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
