"""bench/e2e peer 2: the straightforward durable app. twilio's RequestValidator, an aiosqlite
INSERT + commit per webhook (then 200), then a task that sends the reply with twilio's
`create_async` and marks the row sent.

    python bench/e2e_durable.py PORT API_BASE ACCOUNT_SID AUTH_TOKEN DB_PATH PUBLIC_URL
"""

from __future__ import annotations

import asyncio
import sys

import aiosqlite
import uvloop
from aiohttp import web
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
REPLY = "textwire: \\HELP this list. Reply STOP to opt out."


def main() -> None:
    port, api_base, account_sid, token, db_path, public_url = sys.argv[1:7]
    validator = RequestValidator(token)
    tasks: set[asyncio.Task[None]] = set()
    app = web.Application()

    async def ctx(app: web.Application):  # type: ignore[no-untyped-def]
        db = await aiosqlite.connect(db_path)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute(
            "CREATE TABLE IF NOT EXISTS inbox (sid TEXT PRIMARY KEY, from_phone TEXT, body TEXT,"
            " status TEXT, reply_sid TEXT)"
        )
        await db.commit()
        client = Client(account_sid, token, http_client=AsyncTwilioHttpClient())
        client.api.base_url = api_base
        app["db"], app["client"] = db, client
        yield
        await db.close()

    async def reply(sid: str, to: str) -> None:
        msg = await app["client"].messages.create_async(to=to, from_="+15550000000", body=REPLY)
        await app["db"].execute(
            "UPDATE inbox SET status = 'sent', reply_sid = ? WHERE sid = ?", (msg.sid, sid)
        )
        await app["db"].commit()

    async def sms(request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        if not validator.validate(
            public_url + request.path_qs, params, request.headers.get("X-Twilio-Signature", "")
        ):
            raise web.HTTPForbidden()
        await app["db"].execute(
            "INSERT OR IGNORE INTO inbox VALUES (?, ?, ?, 'pending', NULL)",
            (params["MessageSid"], params["From"], params.get("Body", "")),
        )
        await app["db"].commit()
        task = asyncio.create_task(reply(params["MessageSid"], params["From"]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.Response(text=TWIML, content_type="text/xml")

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.cleanup_ctx.append(ctx)
    app.router.add_post("/twilio/sms", sms)
    app.router.add_get("/healthz", health)
    web.run_app(
        app, host="127.0.0.1", port=int(port), print=None, access_log=None, loop=uvloop.new_event_loop()
    )


if __name__ == "__main__":
    main()
