"""bench/e2e peer 1: the least an aiohttp app can do. Parse the form, start a task that POSTs the
reply to the Messages API, return empty TwiML. No signature check, no storage.

    python bench/e2e_bare.py PORT API_BASE ACCOUNT_SID AUTH_TOKEN
"""

from __future__ import annotations

import asyncio
import base64
import sys

import aiohttp
import uvloop
from aiohttp import web

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
REPLY = "textwire: \\HELP this list. Reply STOP to opt out."


def main() -> None:
    port, api_base, account_sid, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    url = f"{api_base}/2010-04-01/Accounts/{account_sid}/Messages.json"
    auth = "Basic " + base64.b64encode(f"{account_sid}:{token}".encode()).decode()
    tasks: set[asyncio.Task[None]] = set()
    app = web.Application()

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app["http"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        yield
        await app["http"].close()

    async def reply(to: str) -> None:
        form = {"To": to, "From": "+15550000000", "Body": REPLY}
        async with app["http"].post(url, data=form, headers={"Authorization": auth}) as resp:
            await resp.read()

    async def sms(request: web.Request) -> web.Response:
        form = await request.post()
        if "MessageSid" not in form:
            raise web.HTTPBadRequest()
        task = asyncio.create_task(reply(str(form["From"])))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.Response(text=TWIML, content_type="text/xml")

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/twilio/sms", sms)
    app.router.add_get("/healthz", health)
    web.run_app(
        app, host="127.0.0.1", port=int(port), print=None, access_log=None, loop=uvloop.new_event_loop()
    )


if __name__ == "__main__":
    main()
