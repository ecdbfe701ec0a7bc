"""`textwire chat`: text the running bot from a terminal.

Each line typed is POSTed to `{public_url}/twilio/sms` as Twilio would send it, signed with the
configured auth token (or the development one from the data folder). Two kinds of line are
chat's own: `:photo PATH [caption]` sends an MMS, `:forward TEXT` (or `:forward :photo PATH
[caption]`) sends it as forwarded from another chat (WhatsApp and Telegram mark that; SMS does
not), `:help` lists them; every other is texted. `--photo PATH ...
[--text CAPTION]` sends one MMS and exits once its replies are in.

Photos (development mode only): chat plays the part of Twilio receiving the MMS. It writes each
file where the server's stand-in of Twilio's media API serves it (bot/channels/twilio/devmedia.py) and sends the
webhook with those media URLs, so the worker fetches, judges, cleans, stores and then deletes
them "at Twilio" exactly as it would in production.

Telegram (`--channel telegram`): each line is an Update POSTed to `{public_url}/telegram/webhook`
with the webhook's secret. With `telegram.api_base` on this machine, chat also serves the Bot API
there (bot/channels/telegram/standin.py): the server's replies and a photo's getFile and download
come to it, so the channel works with no Telegram account.

Replies are read from the outbox rows for this number in the same database (polling) and shown
in full once sent; a reply not sent because the number opted out shows as skipped, one over the
number's reply budget as delayed (then in full when it goes), one held for a reply loop as held. Rows that carry
a link are redacted once shown. With piped stdin it texts each line and exits once everything it
sent has been handled and every reply has been sent or skipped.
"""

from __future__ import annotations

import asyncio
import math
import mimetypes
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

from bot.app.startup import not_readable, sqlite_file_exists
from bot.channels.telegram.api import bot_id
from bot.channels.telegram.standin import StandIn, on_this_machine
from bot.channels.telegram.transport import as_telegram_writes
from bot.channels.twilio import devmedia
from bot.channels.twilio.phones import RULE, valid_sender
from bot.channels.twilio.signature import SignatureChecker
from bot.core.channel import TELEGRAM, WHATSAPP, address_of
from bot.core.config import Config
from bot.core.devmode import twilio_auth_token
from bot.core.errors import StartupError
from bot.core.tasks import BackgroundTask
from storage.db import Database, sqlite_path
from storage.inbox import WAITING_FOR_ROOM
from storage.outbox import redacted
from storage.schema import inbox, outbox

POLL_SECONDS = 0.3
SETTLE_SECONDS = 60.0  # how long chat waits for replies before it gives up and exits
DELAYED_MAX = 600.0  # how long past now it waits for replies the reply budget holds till later
DELAYED_SLACK = 10.0  # and past the time such a reply is due, for the sender to send it
HELP = (
    ":photo PATH [caption]  send a photo as an MMS; :forward TEXT (or :forward :photo PATH)  send it as"
    " forwarded from another chat (WhatsApp, Telegram); :help  this; Ctrl-D  quit"
)
# what `:forward` says on SMS, which carries no mark of a forwarded message
NO_FORWARD_ON_SMS = ":forward: SMS has no mark of a forwarded message; use --channel whatsapp or telegram"
TELEGRAM_PHOTOS = (
    "photos on Telegram need telegram.api_base on this machine (TEXTWIRE_TELEGRAM_API_BASE="
    "http://127.0.0.1:8082, for serve too): chat then stands in for Telegram's Bot API"
)


class ChatError(Exception):
    """Something the person must fix (a missing file, photos outside development mode)."""


@dataclass(frozen=True)
class Photo:
    data: bytes
    content_type: str


def signed_form(
    config: Config,
    token: str,
    from_phone: str,
    body: str,
    media: Sequence[str] = (),
    content_types: Sequence[str] = (),
    message_sid: str | None = None,
    forwarded: bool = False,
) -> tuple[dict[str, str], str]:
    """The form Twilio would POST for `body` (and media URLs) from `from_phone`, and its signature;
    `forwarded`: marked as WhatsApp marks a forwarded message (`Forwarded`)."""
    prefix = "MM" if media else "SM"
    form = {
        "MessageSid": message_sid or prefix + secrets.token_hex(16),
        "AccountSid": devmedia.account_sid(config),
        "From": from_phone,
        "To": config.twilio.from_number or "+15550000000",
        "Body": body,
        "NumMedia": str(len(media)),
        "NumSegments": "1",
    }
    for n, url in enumerate(media):
        form[f"MediaUrl{n}"] = url
        form[f"MediaContentType{n}"] = content_types[n] if n < len(content_types) else ""
    if forwarded:
        form["Forwarded"] = "true"
    url = f"{config.public_base}/twilio/sms"
    return form, SignatureChecker(token).sign(url, form.items())


def read_photos(config: Config, paths: Sequence[str], *, telegram: bool = False) -> list[Photo]:
    """The files to send, checked the way a phone would (blocking: small local reads). MMS need
    development mode (chat stands in for Twilio's media API); Telegram photos the stand-in of the
    Bot API (`telegram`: it runs)."""
    if not config.dev_mode and not telegram:
        raise ChatError(
            "photos need development mode (twilio.auth_token empty): with a real Twilio account, "
            "send the MMS from a phone"
        )
    if len(paths) > config.media.max_items:
        raise ChatError(f"at most {config.media.max_items} photos in one MMS (media.max_items)")
    photos = []
    for name in paths:
        path = Path(name).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ChatError(f"cannot read {name}: {exc.strerror or type(exc).__name__}") from None
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        photos.append(Photo(data=data, content_type=content_type))
    return photos


def stage_photos(config: Config, message_sid: str, photos: Sequence[Photo]) -> list[str]:
    """What Twilio does when it receives an MMS: keep the files, hand out their media URLs.
    Blocking: run it in a thread."""
    folder = devmedia.media_dir(config) / message_sid
    folder.mkdir(parents=True, exist_ok=True)
    urls = []
    for photo in photos:
        media_sid = "ME" + secrets.token_hex(16)
        (folder / media_sid).write_bytes(photo.data)
        urls.append(devmedia.media_url(config, message_sid, media_sid))
    return urls


@dataclass
class Session:
    """One chat: what was sent, what was shown."""

    config: Config
    db: Database
    http: aiohttp.ClientSession
    token: str
    phone: str  # the address replies go to (`Address.key`): +1555..., whatsapp:+1555..., telegram:1001
    standin: StandIn | None = None  # the Bot API on this machine, when telegram.api_base is on loopback
    last_shown: int = 0
    waiting_shown: set[str] = field(default_factory=set)  # parked texts already said to wait
    sent_sids: list[str] = field(default_factory=list)
    delayed: set[int] = field(default_factory=set)  # delayed replies already announced
    prompt: bool = False

    async def latest_id(self) -> int:
        async with self.db.read() as conn:
            value = (
                await conn.execute(sa.select(sa.func.max(outbox.c.id)).where(outbox.c.to_phone == self.phone))
            ).scalar()
        return int(value or 0)

    async def send(self, body: str, photos: Sequence[Photo] = (), *, forwarded: bool = False) -> bool:
        """Text the bot (an MMS when there are photos; `forwarded`: marked as forwarded from
        another chat). False when the server did not take it."""
        if self.phone.startswith(f"{TELEGRAM}:"):
            return await self._send_update(body, photos, forwarded=forwarded)
        if self.phone.startswith(f"{WHATSAPP}:") and len(photos) > 1:
            # WhatsApp carries one photo or document a message (Twilio's NumMedia is 0 or 1): several
            # are several messages, the caption with the first. As one message of many, they were
            # answered as an MMS is ("Saved 2 receipts ... \\AMOUNT for each, in order"), which a
            # WhatsApp sender never sees
            sent = [
                await self.send(body if n == 0 else "", [photo], forwarded=forwarded)
                for n, photo in enumerate(photos)
            ]
            return all(sent)
        message_sid = ("MM" if photos else "SM") + secrets.token_hex(16)
        urls: list[str] = []
        if photos:
            urls = await asyncio.to_thread(stage_photos, self.config, message_sid, photos)
        form, signature = signed_form(
            self.config,
            self.token,
            self.phone,
            body,
            urls,
            [p.content_type for p in photos],
            message_sid=message_sid,
            forwarded=forwarded,
        )
        url = f"{self.config.public_base}/twilio/sms"
        if not await self._post(url, data=form, headers={"X-Twilio-Signature": signature}):
            return False
        self.sent_sids.append(message_sid)
        return True

    async def _post(self, url: str, **request: Any) -> bool:
        """POST to the bot's webhook; False (said on stderr) when it did not answer 200."""
        try:
            async with self.http.post(url, **request) as resp:
                if resp.status != 200:
                    print(refused(url, resp.status, await resp.text()), file=sys.stderr, flush=True)
                    return False
        except aiohttp.ClientError as exc:
            print(unreachable(url, exc), file=sys.stderr, flush=True)
            return False
        return True

    async def _send_update(self, body: str, photos: Sequence[Photo] = (), *, forwarded: bool = False) -> bool:
        """What Telegram would POST for a message from this chat, with the webhook's secret; its
        photos kept by the stand-in of the Bot API, where the server fetches them."""
        chat = int(address_of(self.phone).id)
        update_id = secrets.randbelow(2**31)
        message: dict[str, Any] = {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "chat"},
            "from": {"id": chat, "is_bot": False, "first_name": "chat"},
        }
        if forwarded:  # Bot API 7.0's mark, from a sender who hides their account
            message["forward_origin"] = {
                "type": "hidden_user",
                "date": int(time.time()),
                "sender_user_name": "someone",
            }
        if photos and self.standin is not None:
            # one photo or document a message, as Telegram sends them (an album is one a message)
            photo = photos[0]
            suffix = mimetypes.guess_extension(photo.content_type) or ""
            file_id = self.standin.add_file(photo.data, suffix)
            if photo.content_type in ("image/jpeg", "image/png", "image/webp"):
                size = {"file_id": file_id, "file_unique_id": file_id[-8:], "width": 0, "height": 0}
                message["photo"] = [{**size, "file_size": len(photo.data)}]
            else:
                message["document"] = {
                    "file_id": file_id,
                    "file_unique_id": file_id[-8:],
                    "mime_type": photo.content_type,
                    "file_size": len(photo.data),
                }
            if body:
                message["caption"] = body
        else:
            message["text"] = body
        update = {"update_id": update_id, "message": message}
        url = f"{self.config.public_base}/telegram/webhook"
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.config.telegram.webhook_secret}
        if not await self._post(url, json=update, headers=headers):
            return False
        self.sent_sids.append(f"tg{bot_id(self.config.telegram.bot_token)}-{update_id}")
        return True

    async def show_new(self) -> int:
        """Print replies sent (or skipped) since the last call; returns how many."""
        shown = 0
        async with self.db.tx() as conn:
            rows = (
                await conn.execute(
                    sa.select(
                        outbox.c.id,
                        outbox.c.body,
                        outbox.c.redact,
                        outbox.c.status,
                        outbox.c.error,
                        outbox.c.next_attempt_at,
                        outbox.c.attempts,
                    )
                    .where(outbox.c.to_phone == self.phone, outbox.c.id > self.last_shown)
                    .order_by(outbox.c.id)
                )
            ).all()
            now = time.time()
            telegram = address_of(self.phone).channel == TELEGRAM  # shown as the chat shows it
            for row in rows:
                body = as_telegram_writes(row.body) if telegram else row.body
                if row.status in ("queued", "sending"):
                    # shown in order, once it is sent; a reply over the number's budget says so
                    if row.attempts == 0 and row.next_attempt_at > now and row.id not in self.delayed:
                        self.delayed.add(row.id)
                        print(
                            f"- delayed {math.ceil(row.next_attempt_at - now)} s (reply budget): it follows",
                            flush=True,
                        )
                    break
                if row.status == "sent":
                    print(f"< {body}", flush=True)
                elif row.status == "held":
                    print(f"- held (loop protection, not sent): {body}", flush=True)
                elif row.status == "skipped":
                    print(f"- skipped ({row.error or 'not sent'}): {body}", flush=True)
                else:
                    print(f"! {row.status} ({row.error or 'not sent'}): {body}", flush=True)
                shown += 1
                self.last_shown = row.id
                if row.redact:
                    await conn.execute(
                        sa.update(outbox)
                        .where(outbox.c.id == row.id)
                        .values(body=redacted(row.body), redacted=True)
                    )
        if shown:
            self.show_prompt()
        return shown

    def show_prompt(self) -> None:
        if self.prompt:
            print("> ", end="", file=sys.stderr, flush=True)

    async def settled(self) -> bool:
        """Everything sent has been handled and every reply to it is sent, skipped or failed."""
        async with self.db.read() as conn:
            open_inbox = 0
            if self.sent_sids:
                open_inbox = (
                    await conn.execute(
                        sa.select(sa.func.count()).where(
                            inbox.c.message_sid.in_(self.sent_sids),
                            # parked: waiting for what the conversation does not bring (a room the
                            # person has yet to join, X's rate-limit reset); its notice is shown
                            inbox.c.status.not_in(("done", "failed", "parked")),
                        )
                    )
                ).scalar_one()
            open_outbox = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        outbox.c.to_phone == self.phone,
                        outbox.c.id > self.last_shown,
                    )
                )
            ).scalar_one()
        return open_inbox == 0 and open_outbox == 0

    async def poll(self) -> None:
        while True:
            await self.show_new()
            await asyncio.sleep(POLL_SECONDS)

    async def delayed_until(self) -> float | None:
        """When the last reply the reply budget holds for this address goes out (wall clock), or
        None when none is held."""
        async with self.db.read() as conn:
            last = (
                await conn.execute(
                    sa.select(sa.func.max(outbox.c.next_attempt_at)).where(
                        outbox.c.to_phone == self.phone,
                        outbox.c.id > self.last_shown,
                        outbox.c.status == "queued",
                        outbox.c.attempts == 0,  # held by the budget, not retried after a failure
                    )
                )
            ).scalar_one()
        return float(last) if last is not None and last > time.time() else None

    async def wait_settled(self, within: float = SETTLE_SECONDS, *, held: bool = True) -> bool:
        """Wait for everything sent to be answered, for `within` seconds, and longer for replies
        the reply budget holds (shown as "- delayed N s"): 30 lines piped at once were answered
        over 90 s, and chat gave up after 60 saying it was still waiting (exit 1). `held` False:
        not longer (a person quitting with Ctrl-D)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            await self.show_new()
            if await self.settled():
                await self.show_waiting()
                return True
            until = await self.delayed_until() if held else None
            if until is not None:  # a known time, not a wait for nothing: up to DELAYED_MAX more
                deadline = max(deadline, loop.time() + min(until - time.time() + DELAYED_SLACK, DELAYED_MAX))
            await asyncio.sleep(POLL_SECONDS)
        return False

    async def show_waiting(self) -> None:
        """Say, once each, which texts the bot keeps for later (parked: X unreachable or rate
        limited) and why: a text kept while X was down got no reply,
        and a piped chat ended as if it had been answered."""
        fresh = [sid for sid in self.sent_sids if sid not in self.waiting_shown]
        if not fresh:
            return
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(inbox.c.message_sid, inbox.c.error).where(
                        inbox.c.message_sid.in_(fresh),
                        inbox.c.status == "parked",
                        # a photo waiting for a room has its notice (shown as a reply) already
                        inbox.c.error.is_distinct_from(WAITING_FOR_ROOM),
                    )
                )
            ).all()
        for row in rows:
            self.waiting_shown.add(row.message_sid)
            print(f"- kept for later ({row.error or 'waiting'}): the bot handles it then", flush=True)


def unreachable(url: str, exc: BaseException) -> str:
    """One line: the URL chat tried, why it failed, and the settings that move it."""
    reason = str(getattr(exc, "os_error", None) or exc).split("] ")[-1].strip() or type(exc).__name__
    return (
        f"! cannot reach {url} ({reason[:120]}): is `textwire serve` running there? chat texts "
        "server.public_url (TEXTWIRE_SERVER_PUBLIC_URL), which follows server.host and "
        "server.port (TEXTWIRE_SERVER_PORT) when it is not set; run chat with the same "
        "config.toml and environment as serve"
    )


def refused(url: str, status: int, text: str) -> str:
    """One line: what the server answered a text with, other than 200. A 404 is a process that
    takes no texts there (a `--role worker`, or Telegram off): its HTML page, cut at 200
    characters, was printed as it came."""
    if status == 404:
        what = "the Telegram channel on" if url.endswith("/telegram/webhook") else "role all or web"
        return (
            f"! nothing at {url} takes texts (HTTP 404): a `--role worker` process? chat texts "
            f"server.public_url (TEXTWIRE_SERVER_PUBLIC_URL), a `textwire serve` with {what}"
        )
    if text.lstrip().startswith("<"):  # a page, not a reason: its title, else nothing
        title = text.partition("<title>")[2].partition("</title>")[0]
        text = " ".join(title.split())
    return f"! the bot answered HTTP {status}: {' '.join(text.split())[:200]}"


async def _line(line: str, session: Session, *, forwarded: bool = False) -> bool:
    """One typed line: chat's own `:` commands, or a text to the bot. False when what it was to
    send did not reach the bot (said on stderr)."""
    # a script saved by Windows Notepad starts with a byte order mark and ends its lines with
    # CRLF: `\ufeff:photo receipt.jpg lunch` was texted to the bot as words (a post on X)
    body = line.rstrip("\r\n").lstrip("\ufeff")
    if not body.strip():
        return True
    parts = body.split(maxsplit=2)
    if parts[0] == ":forward" and len(parts) >= 2:
        if not session.phone.startswith((f"{TELEGRAM}:", f"{WHATSAPP}:")):
            print(f"! {NO_FORWARD_ON_SMS}", file=sys.stderr, flush=True)
            session.show_prompt()
            return False
        return await _line(body.split(maxsplit=1)[1], session, forwarded=True)
    # chat's own words only: any other line is a text, `:)` or `:\` at its start too (every line
    # that began with a colon printed this help and was never sent)
    if parts[0] in (":photo", ":help"):
        if parts[0] == ":photo" and len(parts) >= 2:
            if session.phone.startswith(f"{TELEGRAM}:") and session.standin is None:
                print(f"! {TELEGRAM_PHOTOS}", file=sys.stderr, flush=True)
                session.show_prompt()
                return False
            try:
                photos = await asyncio.to_thread(
                    partial(read_photos, session.config, [parts[1]], telegram=session.standin is not None)
                )
            except ChatError as exc:
                print(f"! {exc}", file=sys.stderr, flush=True)
                session.show_prompt()
                return False
            return await session.send(parts[2] if len(parts) > 2 else "", photos, forwarded=forwarded)
        print(HELP, file=sys.stderr, flush=True)
        session.show_prompt()
        return True
    return await session.send(body, forwarded=forwarded)


def chat_address(channel: str, given: str | None) -> tuple[str | None, str]:
    """The address chat texts from on `channel` (`Address.key`), or None and why not."""
    if channel == TELEGRAM:
        chat = given or "1001"
        if not (chat.isascii() and chat.lstrip("-").isdigit()):
            return None, f"--from {chat!r}: a Telegram chat id is a number (e.g. 1001)"
        return f"{TELEGRAM}:{chat}", ""
    address = given or "+15550001111"
    if channel == WHATSAPP and not address.startswith(f"{WHATSAPP}:"):
        address = f"{WHATSAPP}:{address}"
    if not valid_sender(address):
        return None, f"--from {address!r} is not an address the bot answers: {RULE}"
    return address, ""


async def run_chat(
    config: Config,
    from_phone: str | None,
    photos: Sequence[str] = (),
    text: str | None = None,
    channel: str = "sms",
) -> int:
    address, why = chat_address(channel, from_phone)
    if address is None:
        print(f"textwire chat: {why}", file=sys.stderr)
        return 2
    if channel == TELEGRAM and not config.telegram.bot_token:
        print(
            "textwire chat: --channel telegram needs the Telegram channel on: set TEXTWIRE_TELEGRAM_BOT_TOKEN"
            " and TEXTWIRE_TELEGRAM_WEBHOOK_SECRET for the server and for chat",
            file=sys.stderr,
        )
        return 2
    standin_at = on_this_machine(config.telegram.api_base) if channel == TELEGRAM else None
    if channel == TELEGRAM and photos and standin_at is None:
        print(f"textwire chat: {TELEGRAM_PHOTOS}", file=sys.stderr)
        return 2
    if channel == TELEGRAM and len(photos) > 1:
        print("textwire chat: Telegram sends one photo a message: give one --photo", file=sys.stderr)
        return 2
    from_phone = address
    if (
        not valid_sender(from_phone) and channel != TELEGRAM
    ):  # the webhook would refuse it: say so before anything else
        print(
            f"textwire chat: --from {from_phone!r} is not an address the bot answers: {RULE}", file=sys.stderr
        )
        return 2
    try:
        # the data folder is the service's user's (0700): as another user, one line, no traceback
        db_file = sqlite_path(config.database.url)
        if db_file is not None and not sqlite_file_exists(db_file):
            # `serve` makes the database (0600, in a 0700 folder); one chat made stayed 0644
            print(
                f"textwire chat: no database at {db_file} yet: start `textwire serve` first"
                " (with the same --config)",
                file=sys.stderr,
            )
            return 1
        token, _ = twilio_auth_token(config)
    except PermissionError as exc:
        path = Path(exc.filename or config.data_dir)
        print(
            f"textwire chat: {not_readable(path, 'server.data_dir', 'TEXTWIRE_SERVER_DATA_DIR')}",
            file=sys.stderr,
        )
        return 2
    except StartupError as exc:
        print(f"textwire chat: {exc}", file=sys.stderr)
        return 2
    db = Database(config.database.url)
    url = f"{config.public_base}/{'telegram/webhook' if channel == TELEGRAM else 'twilio/sms'}"
    one_shot = bool(photos) or text is not None
    try:
        staged = (
            await asyncio.to_thread(partial(read_photos, config, photos, telegram=channel == TELEGRAM))
            if photos
            else []
        )
    except ChatError as exc:
        print(f"textwire chat: {exc}", file=sys.stderr)
        await db.close()
        return 2
    # No trust_env: chat talks to this bot's own server (public_url, often loopback), which a
    # proxy the environment names for outbound traffic is not meant for.
    standin = None
    if standin_at is not None:
        standin = StandIn(config.telegram.bot_token)
        try:
            await standin.start(*standin_at)
        except OSError:
            # something serves it already (a local Bot API server, another chat): texts still go
            standin = None
            if staged:
                print(
                    f"textwire chat: telegram.api_base {config.telegram.api_base} is served by something "
                    "else (a local Bot API server? another chat?): chat cannot stand in for it to "
                    "send a photo",
                    file=sys.stderr,
                )
                await db.close()
                return 1
    async with aiohttp.ClientSession() as http:
        session = Session(config=config, db=db, http=http, token=token, phone=from_phone, standin=standin)
        try:
            await db.ping()
            session.last_shown = await session.latest_id()
        except Exception as exc:
            print(
                f"textwire chat: cannot read the database ({type(exc).__name__}); is `textwire serve` running?",
                file=sys.stderr,
            )
            await db.close()
            return 1
        try:
            if one_shot:
                if not await session.send(text or "", staged):
                    return 1
                return 0 if await _finish(session) else 1
            return await _conversation(session, url)
        finally:
            await db.close()
            if standin is not None:
                await standin.stop()


async def _conversation(session: Session, url: str) -> int:
    interactive = sys.stdin.isatty()
    loop = asyncio.get_running_loop()
    if interactive:
        print(
            f"Texting {url} as {session.phone}. Type a message and press Enter; {HELP}.",
            file=sys.stderr,
        )
        session.prompt = True
        print("> ", end="", file=sys.stderr, flush=True)
        poller = BackgroundTask("chat-poller")
        poller.start(session.poll)
        try:
            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line:
                    break
                await _line(line, session)
        finally:
            await poller.stop()
        print(file=sys.stderr)
        await session.wait_settled(within=5.0, held=False)
        return 0
    # piped: each line is texted in turn, then wait for what was sent to be answered; exit 1 when
    # a line did not reach the bot (a script saw 0 after "! cannot reach ..." on every line)
    delivered = True
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        delivered = await _line(line, session) and delivered
        await session.show_new()
    return 0 if await _finish(session) and delivered else 1


async def _finish(session: Session) -> bool:
    if await session.wait_settled():
        return True
    print(
        f"! still waiting for replies after {SETTLE_SECONDS:.0f} s; they will show in the server's log",
        file=sys.stderr,
    )
    return False


__all__ = ["ChatError", "Session", "read_photos", "run_chat", "signed_form", "stage_photos"]
