"""`textwire chat`: text the running bot from a terminal.

Each line typed is POSTed to `{public_url}/twilio/sms` as Twilio would send it, signed with the
configured auth token (or the development one from the data folder). Replies are read from the
outbox rows for this number in the same database (polling) and shown in full; rows that carry a
link are redacted once shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys

import aiohttp
import sqlalchemy as sa

from bot.addresses import RULE, valid_sender
from bot.config import Config
from bot.devmode import twilio_auth_token
from bot.signature import SignatureChecker
from storage.db import Database
from storage.outbox import REDACTED
from storage.schema import outbox

POLL_SECONDS = 0.3


def signed_form(config: Config, token: str, from_phone: str, body: str) -> tuple[dict[str, str], str]:
    """The form Twilio would POST for `body` from `from_phone`, and its X-Twilio-Signature."""
    form = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": config.twilio.account_sid or "AC" + "0" * 32,
        "From": from_phone,
        "To": config.twilio.from_number or "+15550000000",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
    }
    url = f"{config.public_base}/twilio/sms"
    return form, SignatureChecker(token).sign(url, form.items())


async def _latest_id(db: Database, phone: str) -> int:
    async with db.read() as conn:
        value = (
            await conn.execute(sa.select(sa.func.max(outbox.c.id)).where(outbox.c.to_phone == phone))
        ).scalar()
    return int(value or 0)


async def _show_replies(db: Database, phone: str, after: int) -> int:
    while True:
        async with db.tx() as conn:
            rows = (
                await conn.execute(
                    sa.select(outbox.c.id, outbox.c.body, outbox.c.redact)
                    .where(outbox.c.to_phone == phone, outbox.c.id > after)
                    .order_by(outbox.c.id)
                )
            ).all()
            for row in rows:
                print(f"< {row.body}", flush=True)
                after = row.id
                if row.redact:
                    await conn.execute(
                        sa.update(outbox).where(outbox.c.id == row.id).values(body=REDACTED, redacted=True)
                    )
        await asyncio.sleep(POLL_SECONDS)


async def run_chat(config: Config, from_phone: str) -> int:
    if not valid_sender(from_phone):  # the webhook would refuse it: say so before anything else
        print(
            f"textwire chat: --from {from_phone!r} is not an address the bot answers: {RULE}", file=sys.stderr
        )
        return 2
    token, _ = twilio_auth_token(config)
    db = Database(config.database.url)
    url = f"{config.public_base}/twilio/sms"
    print(f"Texting {url} as {from_phone}. Type a message and press Enter; Ctrl-D to quit.", file=sys.stderr)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        try:
            await db.ping()
            last = await _latest_id(db, from_phone)
        except Exception as exc:
            print(
                f"textwire chat: cannot read the database ({type(exc).__name__}); is `textwire serve` running?",
                file=sys.stderr,
            )
            await db.close()
            return 1
        poller = asyncio.create_task(_show_replies(db, from_phone, last))
        try:
            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line:
                    break
                body = line.rstrip("\n")
                if not body.strip():
                    continue
                form, signature = signed_form(config, token, from_phone, body)
                try:
                    async with session.post(
                        url, data=form, headers={"X-Twilio-Signature": signature}
                    ) as resp:
                        if resp.status != 200:
                            print(
                                f"! the bot answered HTTP {resp.status}: {(await resp.text())[:200]}",
                                file=sys.stderr,
                            )
                except aiohttp.ClientError as exc:
                    print(f"! cannot reach {url}: {type(exc).__name__}", file=sys.stderr)
            await asyncio.sleep(1.5)  # last replies
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
            await db.close()
    return 0
