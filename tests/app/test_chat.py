"""`textwire chat` against a real `textwire serve`: a photo from the terminal travels the real
receipts pipeline through the server's development stand-in of Twilio's media API; piped chat
texts each line, prints the replies that were sent (a skipped one as skipped) and exits."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from bot.app.chat import Session
from storage import inbox
from storage.db import Database
from storage.inbox import WAITING_FOR_ROOM
from storage.schema import inbox as inbox_table
from storage.schema import outbox as outbox_table
from tests import ROOT
from tests.conftest import new_message, wait_for
from tests.images import jpeg_with_gps, png_with_text
from tests.test_process import free_port, wait_healthy

CONFIG = str(ROOT / "config.toml")
ALICE = "+15550001111"
BOB = "+15550002222"


@dataclass
class Served:
    dir: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes]

    def chat(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """`textwire chat` in the same folder with the same environment as `serve` (no exports)."""
        return subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "bot", "chat", *args],
            cwd=self.dir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    def query(self, sql: str) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(self.dir / "data" / "textwire.db")
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()


@contextlib.contextmanager
def serving(tmp_path: Path, **env_extra: str) -> Iterator[Served]:
    """`textwire serve` in development mode, run the way a newcomer does: from a folder holding
    config.toml, data in ./data, the public URL being where it listens; `env_extra` on top."""
    port = free_port()
    (tmp_path / "config.toml").write_text(
        Path(CONFIG).read_text().replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env.update({"TEXTWIRE_SERVER_PORT": str(port), "TEXTWIRE_LOG_FORMAT": "json", **env_extra})
    with open(tmp_path / "serve.log", "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    try:
        yield Served(dir=tmp_path, port=port, env=env, proc=proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as served:
        yield served


def chat_photo(served: Served, caption: str) -> Any:
    """`textwire chat --photo` of a plain picture (no text on it) from Alice, which exits 0."""
    photo = served.dir / "receipt.jpg"
    photo.write_bytes(jpeg_with_gps(320, 240))
    sent = served.chat("--from", ALICE, "--photo", str(photo), "--text", caption)
    assert sent.returncode == 0, sent.stderr
    return sent


async def test_a_photo_from_chat_becomes_a_receipt_in_the_gallery(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        await wait_healthy(http, served.port, served.proc)
        created = served.chat("--from", ALICE, stdin="\\CREATE house hunter22\n")
        assert created.returncode == 0, created.stderr
        assert created.stdout.startswith("< Created room house")

        sent = chat_photo(served, "lunch")
        # the real server reads the photo (OCR on, config.toml); a plain picture has no text at all
        assert sent.stdout.strip() == (
            "< Saved to house; it doesn't look like a receipt, so it is not counted. "
            "Reply \\AMOUNT 12.34 if it is."
        )

        rows = served.query("SELECT object_key, content_type, size, caption FROM receipts")
        assert len(rows) == 1
        key, content_type, size, caption = rows[0]
        assert (content_type, caption) == ("image/jpeg", "lunch")
        stored = served.dir / "data" / "media" / str(key)
        assert stored.stat().st_size == size
        assert b"GPS" not in stored.read_bytes()  # cleaned by the real pipeline
        # deleted at "Twilio" once stored
        assert served.query("SELECT count(*) FROM receipts WHERE twilio_deleted_at IS NOT NULL") == [(1,)]
        assert list((served.dir / "data" / "dev-twilio-media").iterdir()) == []

        gallery = served.chat("--from", ALICE, stdin="\\RECEIPTS\n")
        assert gallery.returncode == 0, gallery.stderr
        link = re.search(r"http://\S+/receipts\?\S+", gallery.stdout)
        assert link, gallery.stdout
        async with http.get(link.group(0)) as resp:
            page = await resp.text()
            assert resp.status == 200, page
        assert "lunch" in page
        image = re.search(r'href="([^"]+/media/[^"]+)"', page)  # the full photo, around its thumbnail
        assert image, page
        async with http.get(image.group(1).replace("&amp;", "&")) as resp:
            assert resp.status == 200
            assert await resp.read() == stored.read_bytes()
        thumb = re.search(r'src="([^"]+/thumbs/[^"]+)"', page)
        assert thumb, page
        async with http.get(thumb.group(1).replace("&amp;", "&")) as resp:
            assert resp.status == 200
            assert resp.content_type == "image/jpeg"


async def test_a_photo_before_any_room_waits_for_the_room_made_next(served: Served) -> None:
    """A photo sent before any room: chat shows that it waits for one and returns at once (it
    waited 60 s for the parked message, then said replies were missing, exit 1); the room made
    next takes it."""
    async with aiohttp.ClientSession() as http:
        await wait_healthy(http, served.port, served.proc)
        sent = chat_photo(served, "lunch")
        assert sent.stdout.strip() == (
            "< Photos are kept in rooms: \\CREATE <room> <password> or \\JOIN <room> <password> "
            "within 10 minutes and this photo goes there."
        )
        assert "still waiting" not in sent.stderr
        created = served.chat("--from", ALICE, stdin="\\CREATE house hunter22\n")
        assert created.returncode == 0, created.stderr
        assert "< Created room house" in created.stdout

        async def saved() -> bool:
            return served.query("SELECT caption FROM receipts") == [("lunch",)]

        await wait_for(saved)


async def test_several_photos_and_the_chat_photo_line(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        await wait_healthy(http, served.port, served.proc)
        (served.dir / "a.jpg").write_bytes(jpeg_with_gps())
        (served.dir / "c.jpg").write_bytes(jpeg_with_gps())  # another receipt (a.jpg again would be a repeat)
        (served.dir / "b.png").write_bytes(png_with_text())
        (served.dir / "notes.txt").write_text("not a photo")
        result = served.chat(
            "--from",
            BOB,
            stdin=(
                "\\CREATE trip hunter22\n:photo a.jpg dinner 40.00\n:photo missing.jpg\n:photo notes.txt\n"
            ),
        )
        assert result.returncode == 1, result.stderr  # missing.jpg was not sent; the rest were
        assert result.stdout.splitlines()[1:] == [
            "< Saved $40.00 to trip: you are its only member, you are settled up. \\BALANCE for all.",
            "< This file was not saved: only photos (JPEG, PNG, GIF, WebP, HEIC) and PDF files are kept.",
        ]
        assert "cannot read missing.jpg" in result.stderr
        both = served.chat("--from", BOB, "--photo", "c.jpg", "--photo", "b.png")
        assert both.stdout.strip() == (
            "< Saved 2 receipts to trip. Photos 1, 2 don't look like a receipt: not counted. "
            "Reply \\AMOUNT 12.34 for each, in order, if they are."
        )
        too_many = served.chat("--from", BOB, *[arg for _ in range(11) for arg in ("--photo", "a.jpg")])
        assert too_many.returncode == 2
        assert "at most 10 photos" in too_many.stderr
        assert served.query("SELECT caption FROM receipts ORDER BY created_at") == [
            ("dinner 40.00",),
            ("",),
            ("",),
        ]


async def test_several_photos_from_whatsapp_go_one_a_message_as_whatsapp_sends_them(served: Served) -> None:
    """WhatsApp carries one photo a message: `--channel whatsapp --photo a --photo b` sent one
    message with both, answered as an MMS ("Saved 2 receipts ... \\AMOUNT for each, in order"),
    which no WhatsApp sender sees. They go as two messages, the caption with the first."""
    async with aiohttp.ClientSession() as http:
        await wait_healthy(http, served.port, served.proc)
        (served.dir / "a.jpg").write_bytes(jpeg_with_gps())
        (served.dir / "b.png").write_bytes(png_with_text())
        made = served.chat("--channel", "whatsapp", "--from", BOB, stdin="\\CREATE trip hunter22\n")
        assert made.returncode == 0, made.stderr
        both = served.chat(
            "--channel", "whatsapp", "--from", BOB, "--photo", "a.jpg", "--photo", "b.png", "--text", "40.00"
        )
        assert both.returncode == 0, both.stderr
        assert both.stdout.splitlines() == [
            "< Saved $40.00 to trip: you are its only member, you are settled up. \\BALANCE for all.",
            "< Saved to trip; it doesn't look like a receipt, so it is not counted. Reply \\AMOUNT 12.34 if it is.",
        ]
        rows = served.query(
            "SELECT body, json_array_length(media) FROM inbox WHERE from_phone = 'whatsapp:+15550002222' ORDER BY id"
        )
        assert rows[1:] == [("40.00", 1), ("", 1)]


async def test_piped_chat_prints_sent_replies_and_shows_skipped_ones(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        await wait_healthy(http, served.port, served.proc)
        result = served.chat("--from", ALICE, stdin="\\HELP\n\n\\ROOMS\n")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert len(lines) == 2
        assert all(line.startswith("< ") for line in lines)
        assert "> " not in result.stderr  # no prompt when stdin is not a terminal

        opted_out = served.chat("--from", BOB, stdin="STOP\n\\HELP\n")
        assert opted_out.returncode == 0, opted_out.stderr
        out = opted_out.stdout.splitlines()
        assert out
        assert out[-1].startswith("- skipped (opted out): ")
        assert not any(line.startswith("< ") for line in out[1:])

        # a line that did not reach the bot fails the run: scripts saw exit 0 after "cannot reach"
        elsewhere = f"http://127.0.0.1:{free_port()}"
        away = dataclasses.replace(served, env=dict(served.env, TEXTWIRE_SERVER_PUBLIC_URL=elsewhere))
        unreachable = away.chat("--from", ALICE, stdin="\\HELP\n")
        assert unreachable.returncode == 1, unreachable.stderr
        assert "cannot reach" in unreachable.stderr
        no_photo = served.chat("--from", ALICE, stdin=":photo nowhere.jpg\n\\HELP\n")
        assert no_photo.returncode == 1, no_photo.stderr
        assert no_photo.stdout.startswith("< textwire:")  # the lines after it are still texted

        # a text that begins with a colon is a text (each printed chat's help and was never sent)
        smiles = served.chat("--from", "+15550004444", stdin=":) hello\n:\\ meh\n:help\n")
        assert smiles.returncode == 0, smiles.stderr
        assert len([line for line in smiles.stdout.splitlines() if line.startswith("< ")]) == 2
        assert smiles.stderr.count(":photo PATH [caption]") == 1  # :help, and only it
        assert served.query("SELECT body FROM inbox WHERE body LIKE ':%' ORDER BY id") == [
            (":) hello",),
            (":\\ meh",),
        ]


def test_photos_need_development_mode(served: Served) -> None:
    wait_healthy_blocking(served)  # chat says so of a database serve has not made yet
    env = dict(served.env, TEXTWIRE_TWILIO_AUTH_TOKEN="x" * 32, TEXTWIRE_TWILIO_ACCOUNT_SID="AC" + "1" * 32)
    env["TEXTWIRE_TWILIO_FROM_NUMBER"] = "+15557654321"
    (served.dir / "a.jpg").write_bytes(jpeg_with_gps())
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--photo", "a.jpg"],
        cwd=served.dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "development mode" in result.stderr


@pytest.fixture
def telegram_in_a_thread() -> Iterator[Any]:
    """The fake Bot API on a real port, served from a thread of its own (chat blocks this one)."""
    import asyncio
    import threading

    from aiohttp import web

    from tests.fakes.telegram_api import FakeTelegram

    fake = FakeTelegram()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner = web.AppRunner(fake.app())

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        fake.api_base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        ready.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    assert ready.wait(10)
    yield fake
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()  # an unclosed loop is a ResourceWarning in whichever test comes next


@pytest.fixture
def served_with_telegram(tmp_path: Path, telegram_in_a_thread: Any) -> Iterator[tuple[Served, Any]]:
    """`textwire serve` in development mode with the Telegram channel on, against the fake."""
    fake = telegram_in_a_thread
    with serving(
        tmp_path,
        TEXTWIRE_TELEGRAM_BOT_TOKEN=fake.token,
        TEXTWIRE_TELEGRAM_WEBHOOK_SECRET=fake.secret,
        TEXTWIRE_TELEGRAM_API_BASE=fake.api_base,
    ) as served:
        yield served, fake


async def test_chat_talks_as_whatsapp_and_as_telegram(served_with_telegram: tuple[Served, Any]) -> None:
    """`--channel whatsapp` texts as `whatsapp:+...` through the Twilio webhook; `--channel
    telegram` posts Updates with the webhook's secret; each prints its replies."""
    served, fake = served_with_telegram
    async with aiohttp.ClientSession() as http:
        await wait_healthy(http, served.port, served.proc)
    whatsapp = served.chat("--channel", "whatsapp", "--from", BOB, stdin="\\HELP\n")
    assert whatsapp.returncode == 0, whatsapp.stderr
    assert whatsapp.stdout.startswith("< textwire:"), whatsapp.stdout
    telegram = served.chat("--channel", "telegram", "--from", "4242", stdin="/start\n")
    assert telegram.returncode == 0, telegram.stderr
    assert telegram.stdout.startswith("< Welcome to textwire!"), telegram.stdout
    # shown as the chat shows it, with Telegram's commands, a backslash only where no tap may go
    assert "/join room pw or /create room pw" in telegram.stdout
    assert "\\STOP delete your account" in telegram.stdout
    assert [m["chat_id"] for m in fake.sent] == ["4242"]
    assert telegram.stdout.startswith(f"< {fake.sent[0]['text'].splitlines()[0]}")
    assert served.query("SELECT to_phone FROM outbox ORDER BY id") == [
        (f"whatsapp:{BOB}",),
        ("telegram:4242",),
    ]
    wrong = served.chat("--channel", "telegram", "--from", "not-a-chat", stdin="/start\n")
    assert wrong.returncode == 2
    assert "a Telegram chat id is a number" in wrong.stderr


def test_chat_stands_in_for_the_bot_api_so_telegram_works_with_no_account(tmp_path: Path) -> None:
    """With `telegram.api_base` on this machine, `chat --channel telegram` serves the Bot API
    there: the server's replies (sendMessage) and a photo's getFile and download go to chat, so
    a room and a receipt work end to end with a made-up token and no Telegram account."""
    (tmp_path / "receipt.jpg").write_bytes(jpeg_with_gps())
    with serving(
        tmp_path,
        TEXTWIRE_TELEGRAM_BOT_TOKEN="1:dev",
        TEXTWIRE_TELEGRAM_WEBHOOK_SECRET="dev-secret",
        TEXTWIRE_TELEGRAM_API_BASE=f"http://127.0.0.1:{free_port()}",
    ) as served:
        wait_healthy_blocking(served)
        created = served.chat("--channel", "telegram", "--from", "4243", stdin="/create house pw12345\n")
        assert created.returncode == 0, created.stderr
        assert "house" in created.stdout, created.stdout
        photo = served.chat(
            "--channel", "telegram", "--from", "4243", "--photo", "receipt.jpg", "--text", "$12.00"
        )
        assert photo.returncode == 0, photo.stderr
        assert "< Saved $12.00 to house" in photo.stdout, photo.stdout
        assert served.query("SELECT channel, status FROM outbox ORDER BY id") == [
            ("telegram", "sent"),
            ("telegram", "sent"),
        ]
        two = served.chat("--channel", "telegram", "--photo", "receipt.jpg", "--photo", "receipt.jpg")
        assert two.returncode == 2
        assert "one --photo" in two.stderr


def wait_healthy_blocking(served: Served) -> None:
    import asyncio

    async def wait() -> None:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, served.port, served.proc)

    asyncio.run(wait())


async def test_a_text_kept_for_x_is_said_to_wait_once(
    db: Database, make_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plain text sent while X could not be reached is kept (parked) and gets no reply until X
    answers: chat ended as if it had been answered, with nothing shown (a piped chat exited 0, a
    person saw their text vanish). It says the text is kept and why, once; a photo waiting for a
    room is not said twice (its notice is a reply)."""
    kept, photo = new_message(body="hello X"), new_message(body="", media=("m",))
    await inbox.insert_new(db, [kept, photo])
    async with db.tx() as conn:
        for sid, why in (
            (kept.message_sid, "x unreachable: connection refused"),
            (photo.message_sid, WAITING_FOR_ROOM),
        ):
            await conn.execute(
                sa.update(inbox_table)
                .where(inbox_table.c.message_sid == sid)
                .values(status="parked", error=why)
            )
    async with aiohttp.ClientSession() as http:
        session = Session(
            make_config(), db, http, "token", ALICE, sent_sids=[kept.message_sid, photo.message_sid]
        )
        assert await session.wait_settled(within=5)
        assert await session.wait_settled(within=5)
    assert capsys.readouterr().out.splitlines() == [
        "- kept for later (x unreachable: connection refused): the bot handles it then"
    ]


async def test_chat_waits_for_replies_the_reply_budget_holds(db: Database, make_config: Any) -> None:
    """30 lines piped at once are answered over 90 s (10 replies to a number in any 30 s), and
    chat gave up after 60 s saying it was still waiting, exit 1, while it had printed when each
    held reply would go. It waits for them (up to 10 minutes past now), not for a retried send."""
    now = time.time()
    async with db.tx() as conn:
        await conn.execute(
            sa.insert(outbox_table).values(
                dedupe_key="held",
                to_phone=ALICE,
                body="the 11th reply",
                created_at=now,
                next_attempt_at=now + 1,
            )
        )
    async with db.tx() as conn:  # a send retried after a failure, due in a minute
        await conn.execute(
            sa.insert(outbox_table).values(
                dedupe_key="retried",
                to_phone=BOB,
                body="x",
                created_at=now,
                next_attempt_at=now + 60,
                attempts=1,
            )
        )

    async def sender() -> None:  # its sender's turn: sent once it is due (the budget's time)
        await asyncio.sleep(max(0.0, now + 1 - time.time()))
        async with db.tx() as conn:
            await conn.execute(
                sa.update(outbox_table)
                .where(outbox_table.c.dedupe_key == "held")
                .values(status="sent", sent_at=time.time())
            )

    async with aiohttp.ClientSession() as http:
        session = Session(make_config(), db, http, "token", ALICE)
        sending = asyncio.create_task(sender())
        assert await session.wait_settled(within=0.2)
        await sending
        # a send retried after a failure is not waited for past `within`
        bob = Session(make_config(), db, http, "token", BOB)
        assert not await bob.wait_settled(within=0.2)


async def test_chat_forwards_a_message_on_whatsapp_and_telegram_not_on_sms(
    served_with_telegram: tuple[Served, Any],
) -> None:
    """`:forward TEXT` sends the text marked as forwarded from another chat, as WhatsApp (through
    Twilio's `Forwarded`) and Telegram (`forward_origin`) mark it: the forwarded `\\STOP` is not
    run. SMS carries no such mark: said, and nothing sent."""
    served, _ = served_with_telegram
    async with aiohttp.ClientSession() as http:
        await wait_healthy(http, served.port, served.proc)
    forwarded = "That command was forwarded, so it was not run. To run it, type it yourself."
    whatsapp = served.chat("--channel", "whatsapp", "--from", BOB, stdin=":forward \\STOP\n\\ROOMS\n")
    assert whatsapp.returncode == 0, whatsapp.stderr
    assert whatsapp.stdout.splitlines()[0] == f"< {forwarded}", whatsapp.stdout
    telegram = served.chat("--channel", "telegram", "--from", "4244", stdin=":forward /stop\n")
    assert telegram.returncode == 0, telegram.stderr
    assert telegram.stdout.splitlines()[0] == f"< {forwarded}", telegram.stdout
    assert served.query("SELECT count(*) FROM inbox WHERE forwarded") == [(2,)]
    sms = served.chat("--from", ALICE, stdin=":forward hi\n")
    assert sms.returncode != 0
    assert "SMS has no mark of a forwarded message" in sms.stderr
    assert served.query("SELECT count(*) FROM inbox WHERE from_phone NOT LIKE '%:%'") == [(0,)]  # no SMS


def test_chat_before_serve_makes_no_database_and_says_to_start_serve(tmp_path: Path) -> None:
    """`textwire chat` run before `serve` on a fresh folder made `data/textwire.db` itself (0644,
    in a 0755 folder) and said "cannot read the database (OperationalError)"; `serve` then kept
    that file, with every phone number and message in it, readable by every user of the machine.
    Now chat makes nothing and says to start `serve` first."""
    (tmp_path / "config.toml").write_text(Path(CONFIG).read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    result = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bot", "chat", "--from", ALICE, "--text", "\\HELP"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "start `textwire serve`" in result.stderr
    assert "Error" not in result.stderr
    assert not (tmp_path / "data").exists()


async def test_chat_at_a_process_that_takes_no_texts_says_so_in_one_line(tmp_path: Path) -> None:
    """Chat run with a `--role worker`'s settings (its port, public_url left to follow it) posted
    to a process that serves no webhooks, and printed the first 200 characters of its 404 page:
    seven lines of HTML cut off in a tag. Now one line saying what to point chat at."""
    with serving(tmp_path, TEXTWIRE_SERVER_ROLE="worker") as served:
        async with aiohttp.ClientSession() as http:
            await wait_healthy(http, served.port, served.proc)
        result = served.chat("--from", ALICE, stdin="\\HELP\n")
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "<" not in line
    assert "HTTP 404" in line
    assert "--role worker" in line


class _Typed:
    """A chat session that keeps what it would text the bot."""

    def __init__(self, config: Any) -> None:
        self.config, self.phone, self.standin = config, ALICE, None
        self.sent: list[tuple[str, int]] = []

    async def send(self, body: str, photos: Any = (), *, forwarded: bool = False) -> bool:
        self.sent.append((body, len(photos)))
        return True

    def show_prompt(self) -> None:
        pass


async def test_a_script_saved_with_a_byte_order_mark_keeps_chats_own_words(
    make_config: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A script piped into chat from a file Windows Notepad saved (UTF-8 with a byte order mark
    first): its first line, `:photo receipt.jpg lunch`, was texted to the bot as words, a post
    on X for a person with X connected, and no photo went. The mark is no part of a line."""
    from bot.app.chat import _line

    (tmp_path / "receipt.jpg").write_bytes(jpeg_with_gps(32, 24))
    session = _Typed(make_config())
    assert await _line(f"\ufeff:photo {tmp_path / 'receipt.jpg'} lunch\r\n", session)  # type: ignore[arg-type]
    assert await _line("\ufeff:help\n", session)  # type: ignore[arg-type]
    assert await _line("\ufeff\\HELP\n", session)  # type: ignore[arg-type]
    assert session.sent == [("lunch", 1), ("\\HELP", 0)]
    assert ":photo PATH" in capsys.readouterr().err
