"""`textwire person export | delete` and `media.retention_days` (issue 27, a person's data): on
SQLite and PostgreSQL (the `db_backend` of every bot), the local store and S3 (moto over HTTP),
and through the real CLI."""

from __future__ import annotations

import html
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import person
from bot.core.config import replace
from bot.core.errors import StartupError
from bot.features.receipts.cleanup import expire_photos
from storage.crypto import generate_key
from tests import images
from tests.app.test_backup import cli_env, run_cli
from tests.conftest import ALICE, BOB, Bot, BotFactory, wait_for
from tests.fakes.s3 import Bucket, s3_sections
from tests.fakes.twilio_rest import FakeTwilio
from tests.features.receipts.test_gallery import gallery_link, path_of
from tests.features.receipts.test_media import mms, say

PASSWORD = "hunter2-secret"


def first_json(out: str) -> dict[str, object] | Any:
    """The command's JSON (here the tests' log lines share its stdout; the CLI's go to stderr)."""
    start = out.index("{")
    return json.JSONDecoder().raw_decode(out[start:])[0]


async def _house(bot: Bot, fake: FakeTwilio) -> None:
    """Alice's room with Bob in it; Alice's $30.00 receipt; Bob's \\PAID $5 to her."""
    await say(bot, fake, f"\\CREATE house {PASSWORD}")
    await say(bot, fake, "\\NAME Alice")
    await say(bot, fake, f"JOIN house {PASSWORD}", sender=BOB)
    reply = await say(bot, fake, "lunch at Luigi's $30.00", **mms([fake.media.add(images.jpeg_with_gps())]))
    assert reply.startswith("Saved $30.00 to house"), reply
    before = len(fake.messages)
    await say(bot, fake, "\\PAID Alice 5", sender=BOB)
    await fake.wait_for_messages(before + 2)


async def test_export_is_everything_kept_about_a_person_and_no_secret(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str]
) -> None:
    await _house(bot, fake_twilio)
    capsys.readouterr()
    assert await person.export(bot.config, ALICE, time.time()) == 0
    out = capsys.readouterr().out
    data = first_json(out)
    assert data["person"]["phone"] == ALICE
    assert data["person"]["name"] == "Alice"
    assert [a["address"] for a in data["addresses"]] == [ALICE]
    assert [r["name"] for r in data["rooms"]] == ["house"]
    [receipt] = data["receipts"]
    assert (receipt["caption"], receipt["amount_minor"], receipt["currency"]) == (
        "lunch at Luigi's $30.00",
        3000,
        "USD",
    )
    assert receipt["object_key"].startswith("rooms/")
    assert [(p["amount_minor"], p["payee_id"]) for p in data["payments"]] == [(500, data["person"]["id"])]
    bodies = [m["body"] for m in data["messages_in"]]
    assert "\\NAME Alice" in bodies
    assert any(body.startswith("Saved $30.00") for body in (m["body"] for m in data["messages_out"]))
    assert PASSWORD not in out  # the inbox keeps *** for a room password
    assert BOB not in out  # only Alice's own messages and rows
    assert await person.export(bot.config, "+15550009999", time.time()) == 1


async def test_export_lists_a_messages_photos_as_json_not_as_a_string_of_it(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str]
) -> None:
    """A photo message's media read as one escaped string of JSON in the export, and a text's as
    `"[]"`: the person reads a list of the photos they sent (URL and type)."""
    await _house(bot, fake_twilio)
    capsys.readouterr()
    assert await person.export(bot.config, ALICE, time.time()) == 0
    data = first_json(capsys.readouterr().out)
    media = {m["body"]: m["media"] for m in data["messages_in"]}
    assert media["\\NAME Alice"] == []
    [(url, content_type)] = media["lunch at Luigi's $30.00"]
    assert url.startswith("http")
    assert content_type == "image/jpeg"


@pytest.mark.parametrize("with_receipts", [False, True])
async def test_delete_forgets_the_person_and_keeps_the_ledger(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str], with_receipts: bool
) -> None:
    await _house(bot, fake_twilio)
    [(key,)] = await bot.rows("SELECT object_key FROM receipts")
    photo = bot.config.data_dir / "media" / str(key)
    assert photo.exists()
    capsys.readouterr()
    assert await person.delete(bot.config, ALICE, with_receipts, time.time()) == 0
    summary = first_json(capsys.readouterr().out)
    assert summary["addresses"] == 1
    assert summary["kept_in_ledgers"] is True
    assert summary["messages_in"] == 3  # \\CREATE, \\NAME, the photo
    assert summary["photos_deleted"] == (1 if with_receipts else 0)
    assert await bot.scalar("SELECT count(*) FROM users WHERE phone = :p", p=ALICE) == 0
    assert await bot.scalar("SELECT count(*) FROM inbox WHERE from_phone = :p", p=ALICE) == 0
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE to_phone = :p", p=ALICE) == 0
    # the receipt stays in the ledger: Bob still owes the rest of his half, to "Alice"
    assert await say(bot, fake_twilio, "\\BALANCE", sender=BOB) == "house: +1******2222 pays Alice $10.00."
    rows = await bot.rows("SELECT caption, photo_deleted_why FROM receipts")
    if with_receipts:
        assert [tuple(r) for r in rows] == [("", "request")]
        assert not photo.exists()
        page = html.unescape(
            await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, BOB)))).text()
        )
        assert "photo deleted at the uploader's request" in page
        assert str(key) not in page
    else:
        assert [tuple(r) for r in rows] == [("lunch at Luigi's $30.00", None)]
        assert photo.exists()
    assert await person.export(bot.config, ALICE, time.time()) == 1


async def test_delete_with_receipts_deletes_a_photo_saved_while_it_ran(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`person delete --receipts` read the person's photos, deleted them, and then forgot the
    person: a photo the running service saved meanwhile (being read when the delete began: OCR
    takes seconds) went to the former member with its photo and caption kept, though they had
    asked for their photos to go. It is deleted with the others."""
    await _house(bot, fake_twilio)
    real = person._release_at_twilio

    async def meanwhile(*args: Any, **kwargs: Any) -> Any:
        taxi = fake_twilio.media.add(images.jpeg_with_gps(640, 480, variant=3))
        reply = await say(bot, fake_twilio, "taxi $12.00", **mms([taxi]))
        assert reply.startswith("Saved $12.00 to house"), reply
        return await real(*args, **kwargs)

    monkeypatch.setattr(person, "_release_at_twilio", meanwhile)
    capsys.readouterr()
    assert await person.delete(bot.config, ALICE, True, time.time()) == 0
    assert first_json(capsys.readouterr().out)["photos_deleted"] == 2
    rows = await bot.rows("SELECT caption, photo_deleted_why, object_key FROM receipts ORDER BY created_at")
    assert [(r.caption, r.photo_deleted_why) for r in rows] == [("", "request"), ("", "request")]
    assert [r.object_key for r in rows if (bot.config.data_dir / "media" / str(r.object_key)).exists()] == []
    assert await say(bot, fake_twilio, "\\BALANCE", sender=BOB) == "house: +1******2222 pays Alice $16.00."


async def test_an_opted_out_address_stays_opted_out(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str]
) -> None:
    await say(bot, fake_twilio, "hello")
    form = await bot.text("STOP", OptOutType="STOP")
    await bot.handled(form["MessageSid"])
    assert await person.delete(bot.config, ALICE, False, time.time()) == 0
    # nothing of the person; only that nothing may be sent there
    assert await bot.scalar("SELECT count(*) FROM users WHERE phone = :p AND opted_out", p=ALICE) == 1
    assert await bot.scalar("SELECT count(*) FROM users WHERE phone = :p AND name IS NOT NULL", p=ALICE) == 0


async def test_delete_with_receipts_on_s3(
    bot_factory: BotFactory, fake_twilio: FakeTwilio, s3_bucket: Bucket, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = await bot_factory(**s3_sections(fake_twilio, s3_bucket.endpoint, s3_bucket.name))
    await _house(bot, fake_twilio)
    [(key,)] = await bot.rows("SELECT object_key FROM receipts")
    assert str(key) in await s3_bucket.keys()
    assert await person.delete(bot.config, ALICE, True, time.time()) == 0
    assert str(key) not in await s3_bucket.keys()


async def test_photos_older_than_the_retention_are_deleted_and_said_so(
    bot_factory: BotFactory, fake_twilio: FakeTwilio
) -> None:
    now = [time.time()]
    bot = await bot_factory(clock=lambda: now[0], twilio=fake_twilio.section(), media={"retention_days": 30})
    await _house(bot, fake_twilio)
    deps = bot.runtime.deps
    assert await expire_photos(deps) == 0  # a day old: kept
    now[0] += 31 * 86400
    newer = await say(bot, fake_twilio, "taxi $12.00", **mms([fake_twilio.media.add(images.jpeg_with_gps())]))
    assert newer.startswith("Saved $12.00")
    assert await expire_photos(deps) == 1  # the old one only
    rows = await bot.rows("SELECT caption, photo_deleted_why FROM receipts ORDER BY created_at")
    assert [tuple(r) for r in rows] == [("lunch at Luigi's $30.00", "retention"), ("taxi $12.00", None)]
    assert await expire_photos(deps) == 0
    page = html.unescape(
        await (await bot.client.get(path_of(await gallery_link(bot, fake_twilio, BOB)))).text()
    )
    assert "photo deleted: older than this service keeps photos" in page
    assert len(re.findall(r"<img ", page)) == 1
    # still counted in the ledger
    assert "Alice" in await say(bot, fake_twilio, "\\BALANCE", sender=BOB)


async def test_delete_deletes_at_twilio_the_photos_still_waiting_for_a_room(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str]
) -> None:
    """A photo sent before any room waits in the inbox, its copy still at Twilio: `person delete`
    purged the message and with it the only record of that copy, which stayed in the operator's
    Twilio account for good. It is deleted there first; Twilio not answering stops the delete
    before anything of the person goes (run it again)."""
    waiting = fake_twilio.media.add(images.jpeg_with_gps())
    form = await bot.text("dinner $24.50", **mms([waiting]))
    await fake_twilio.wait_for_messages(1)  # "... within 10 minutes and this photo goes there."
    await wait_for(
        lambda: bot.scalar("SELECT status = 'parked' FROM inbox WHERE message_sid = :s", s=form["MessageSid"])
    )
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}", sender=BOB)
    saved = fake_twilio.media.add(images.jpeg_with_gps())  # Bob's: saved, its copy deleted as ever
    assert (await say(bot, fake_twilio, "taxi $12.00", sender=BOB, **mms([saved]))).startswith("Saved")
    waiting_sid = waiting.rsplit("/", 1)[1]
    assert waiting_sid in fake_twilio.media.items
    fake_twilio.media.delete_failures.append(503)
    capsys.readouterr()
    with pytest.raises(StartupError, match="run it again when Twilio answers"):
        await person.delete(bot.config, ALICE, False, time.time())
    assert await bot.scalar("SELECT count(*) FROM users WHERE phone = :p", p=ALICE) == 1  # nothing went
    assert await bot.scalar("SELECT count(*) FROM inbox WHERE from_phone = :p", p=ALICE) == 1
    assert await person.delete(bot.config, ALICE, False, time.time()) == 0
    assert first_json(capsys.readouterr().out)["deleted_at_twilio"] == 1
    assert waiting_sid not in fake_twilio.media.items
    assert await bot.scalar("SELECT count(*) FROM inbox WHERE from_phone = :p", p=ALICE) == 0
    # Bob, forgotten too: his saved photo's copy was deleted when it was stored, and the receipt
    # keeps track of it; nothing else of his is at Twilio, and nothing is asked of it again
    asked = len(fake_twilio.media.seen)
    assert await person.delete(bot.config, BOB, False, time.time()) == 0
    assert first_json(capsys.readouterr().out)["deleted_at_twilio"] == 0
    assert len(fake_twilio.media.seen) == asked


async def test_deleted_at_twilio_counts_only_the_copies_deleted_now(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy at Twilio gone already (Twilio answered 404: deleted by an earlier run that was
    then stopped, or in Twilio's console) was counted in `deleted_at_twilio` as deleted now: run
    again, `person delete` said it deleted copies it had not. Those gone already are apart."""
    first = fake_twilio.media.add(images.jpeg_with_gps())
    second = fake_twilio.media.add(images.jpeg_with_gps())
    form = await bot.text("dinner $24.50", **mms([first, second]))
    await fake_twilio.wait_for_messages(1)  # "... within 10 minutes and this photo goes there."
    await wait_for(
        lambda: bot.scalar("SELECT status = 'parked' FROM inbox WHERE message_sid = :s", s=form["MessageSid"])
    )
    del fake_twilio.media.items[first.rsplit("/", 1)[1]]  # deleted at Twilio before this run
    capsys.readouterr()
    assert await person.delete(bot.config, ALICE, False, time.time()) == 0
    summary = first_json(capsys.readouterr().out)
    assert summary["deleted_at_twilio"] == 1  # the second: 2 before, the first counted too
    assert summary["already_gone_at_twilio"] == 1
    assert fake_twilio.media.deleted == [second.rsplit("/", 1)[1]]


async def bobs_receipt_in_house(bot: Bot, fake_twilio: FakeTwilio) -> str:
    """Alice's room house, Bob in it with a $12.00 receipt: its photo's object key."""
    await say(bot, fake_twilio, f"\\CREATE house {PASSWORD}")
    await say(bot, fake_twilio, f"JOIN house {PASSWORD}", sender=BOB)
    reply = await say(
        bot, fake_twilio, "taxi $12.00", sender=BOB, **mms([fake_twilio.media.add(images.jpeg_with_gps())])
    )
    assert reply.startswith("Saved $12.00 to house"), reply
    [(key,)] = await bot.rows("SELECT object_key FROM receipts")
    return str(key)


async def test_receipts_left_by_stop_are_found_after_the_keys_move_to_the_environment(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service that ran on its generated keys (fernet.key, link-signing.key) tagged those who
    sent \\STOP with the file's key. Given TEXTWIRE_SECURITY_FERNET_KEYS later (a new key, and the
    old fernet.key for the stored tokens), `person export` said "no person" of them and `delete
    --receipts` could not delete their photos, though link-signing.key was still in the folder."""
    assert not bot.config.security.fernet_keys  # the generated key files
    key = await bobs_receipt_in_house(bot, fake_twilio)
    assert (await say(bot, fake_twilio, "\\STOP", sender=BOB)).startswith("Goodbye")
    old = (bot.config.data_dir / "fernet.key").read_text().strip()
    moved = replace(bot.config, security={"fernet_keys": (generate_key(), old)})
    capsys.readouterr()
    assert await person.export(moved, BOB, time.time()) == 0
    data = first_json(capsys.readouterr().out)
    assert [r["object_key"] for r in data["receipts_left_in_rooms"]] == [key]
    assert await person.delete(moved, BOB, True, time.time()) == 0
    assert first_json(capsys.readouterr().out)["photos_deleted"] == 1
    assert not (bot.config.data_dir / "media" / str(key)).exists()


def test_the_cli_exports_and_deletes(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "migrate").returncode == 0
    keyed = cli_env(tmp_path) | {"TEXTWIRE_SECURITY_FERNET_KEYS": generate_key()}
    unknown = run_cli(tmp_path, "person", "export", "+15550001111", env=keyed)
    # the line goes to stderr: with `export ADDRESS > person.json` it was written into the file
    assert (unknown.returncode, unknown.stdout, unknown.stderr.strip()) == (
        1,
        "",
        "textwire: no person at +15550001111",
    )
    assert run_cli(tmp_path, "person", "delete", "+15550001111", env=keyed).returncode == 1
    # run without the service's environment (no keys, none generated here): someone who sent \STOP
    # cannot be found, and it says so rather than a bare "no person"
    keyless = run_cli(tmp_path, "person", "delete", "+15550001111")
    assert keyless.returncode == 1
    assert "no keys here" in keyless.stderr
    assert "service's environment" in keyless.stderr
    assert not (tmp_path / "data" / "link-signing.key").exists()
    bad = run_cli(tmp_path, "person", "erase", "+15550001111")
    assert bad.returncode == 2
    assert "invalid choice" in bad.stderr
    # `--receipts` on an export was taken without a word, from one who meant a delete
    mixed = run_cli(tmp_path, "person", "export", "+15550001111", "--receipts", env=keyed)
    assert (mixed.returncode, mixed.stdout) == (2, "")
    assert "--receipts goes with `person delete`" in mixed.stderr

    digits = run_cli(tmp_path, "person", "export", "15550001111")  # no +: said how numbers are kept
    assert digits.stderr.strip() == (
        "textwire: no person at 15550001111 (numbers are kept with their country code and +, e.g. +15550001111)"
    )
    # so on WhatsApp: it read a bare "no person", and the person was told nothing was kept
    whatsapp = run_cli(tmp_path, "person", "delete", "WhatsApp: 1 555 000 1111", env=keyed)
    assert (whatsapp.returncode, whatsapp.stdout) == (1, "")
    assert whatsapp.stderr.strip() == (
        "textwire: no person at whatsapp:15550001111 (numbers are kept with their country code and +, "
        "e.g. whatsapp:+15550001111)"
    )
    # what an operator may paste: a number copied from a log line (masked), another channel's
    # prefix, a name: each says what to give instead of a bare "no person"
    masked = run_cli(tmp_path, "person", "export", "+1******1111", env=keyed)
    assert (masked.returncode, masked.stdout) == (1, "")
    assert "masked, as the logs print it: give the whole number" in masked.stderr
    tel = run_cli(tmp_path, "person", "delete", "tel:+15550001111", env=keyed)
    assert (tel.returncode, tel.stdout) == (1, "")
    assert "no channel 'tel'" in tel.stderr
    name = run_cli(tmp_path, "person", "export", "Pat", env=keyed)
    assert (name.returncode, name.stdout) == (1, "")
    assert "not an address: give +15550001111" in name.stderr
    typo = tmp_path / "dta" / "textwire.db"  # a mistyped database: refused, nothing made there
    env = cli_env(tmp_path) | {"TEXTWIRE_DATABASE_URL": f"sqlite:///{typo}"}
    for action in ("export", "delete"):
        missing = run_cli(tmp_path, "person", action, "+15550001111", env=env)
        assert missing.returncode == 2, missing.stdout + missing.stderr
        assert missing.stderr.strip().endswith(
            "does not exist: check database.url or TEXTWIRE_DATABASE_URL "
            "(`textwire migrate` creates a new one)"
        )
    assert not typo.parent.exists()


def test_a_delete_that_stops_for_want_of_the_keys_leaves_no_key_behind(tmp_path: Path) -> None:
    """Run without the service's keys (TEXTWIRE_SECURITY_FERNET_KEYS not exported) on a person
    linked to X, `person delete` made a new random data/fernet.key, found it read none of the
    tokens and stopped with "nothing was deleted": the new key stayed in the data folder. It says
    there is no key here, and leaves nothing."""
    import sqlite3

    from storage.crypto import TokenCipher

    assert run_cli(tmp_path, "migrate").returncode == 0
    key = generate_key()
    with sqlite3.connect(tmp_path / "data" / "textwire.db") as conn:  # as the service left it
        conn.execute("INSERT INTO users (id, phone, created_at) VALUES (7, '+15550001111', 0)")
        conn.execute(
            "INSERT INTO x_tokens (user_id, ciphertext, expires_at, updated_at) VALUES (7, ?, 0, 0)",
            (TokenCipher([key]).encrypt(7, {"access_token": "a", "refresh_token": "r"}),),
        )
    before = sorted(p.name for p in (tmp_path / "data").iterdir())
    env = cli_env(tmp_path) | {"TEXTWIRE_X_CLIENT_ID": "cid", "TEXTWIRE_X_CLIENT_SECRET": "cs"}
    stopped = run_cli(tmp_path, "person", "delete", "+15550001111", env=env)
    assert stopped.returncode == 2, stopped.stdout + stopped.stderr
    [line] = stopped.stderr.strip().splitlines()
    assert "no Fernet key here" in line
    assert line.endswith("nothing was deleted")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == before  # no fernet.key
    keyed = run_cli(
        tmp_path, "person", "export", "+15550001111", env=env | {"TEXTWIRE_SECURITY_FERNET_KEYS": key}
    )
    assert keyed.returncode == 0  # still there


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("+1 (555) 000-1111", "+15550001111"),
        (" +1.555.000.1111 ", "+15550001111"),
        ("WhatsApp: +1 555 000 9999", "whatsapp:+15550009999"),
        ("telegram: 7001", "telegram:7001"),
        ("telegram:-100123", "telegram:-100123"),
        ("15550001111", "15550001111"),  # nothing guessed
        # an SMS address in the channel:id form DESIGN.md writes addresses in (stored bare)
        ("sms:+15550001111", "+15550001111"),
        ("SMS: +1 555 000-1111", "+15550001111"),
    ],
)
def test_an_address_as_an_operator_types_it(typed: str, key: str) -> None:
    assert person.as_key(typed) == key


async def test_export_finds_a_number_typed_with_spaces_and_dashes(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str]
) -> None:
    await _house(bot, fake_twilio)
    capsys.readouterr()
    assert await person.export(bot.config, "+1 555-000-1111", time.time()) == 0
    assert first_json(capsys.readouterr().out)["person"]["phone"] == ALICE


@pytest.mark.parametrize("came_back", [False, True])
async def test_delete_after_stop_finds_the_photos_they_left_in_their_rooms(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str], came_back: bool
) -> None:
    """A person who sent \\STOP, then asked the operator to delete their photos too: their
    receipts stay in the rooms under a former member, and `person delete --receipts` with their
    number said "no person" and left the photos in the store and their texts in the inbox."""
    key = await bobs_receipt_in_house(bot, fake_twilio)
    photo = bot.config.data_dir / "media" / str(key)
    assert photo.exists()
    assert (await say(bot, fake_twilio, "\\STOP", sender=BOB)).startswith("Goodbye")
    if came_back:  # a new record at the same number: the old photos are theirs all the same
        await say(bot, fake_twilio, "\\HELP", sender=BOB)
    capsys.readouterr()
    assert await person.export(bot.config, BOB, time.time()) == 0  # what is kept: they may ask
    data = first_json(capsys.readouterr().out)
    assert [r["object_key"] for r in data["receipts_left_in_rooms"]] == [key]
    assert (data["person"] is None) is not came_back
    assert "taxi $12.00" in [m["body"] for m in data["messages_in"]]
    assert await person.delete(bot.config, BOB, True, time.time()) == 0
    summary = first_json(capsys.readouterr().out)
    assert summary["photos_deleted"] == 1
    assert not photo.exists()
    assert [tuple(r) for r in await bot.rows("SELECT caption, photo_deleted_why FROM receipts")] == [
        ("", "request")
    ]
    assert await bot.scalar("SELECT count(*) FROM inbox WHERE from_phone = :p", p=BOB) == 0
    assert await bot.scalar("SELECT count(*) FROM outbox WHERE to_phone = :p", p=BOB) == 0
    # the ledger keeps the receipt: Alice still owes the former member her half
    assert await say(bot, fake_twilio, "\\BALANCE") == "house: +1******1111 pays +1******2222 $6.00."
    # and nothing ties the former member to the number any more
    assert await person.export(bot.config, BOB, time.time()) == 1


async def test_receipts_left_by_a_stop_before_the_upgrade_are_found_by_their_messages(
    bot: Bot, fake_twilio: FakeTwilio, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.2.0 handed the receipts of someone who sent \\STOP to a former member with no tag of the
    address (`former:` and 16 hex digits). Upgraded, the operator asked for that person's data by
    their number: `export` said `receipts_left_in_rooms: []` beside the very messages that
    brought those photos, and `delete --receipts` deleted none of them. The messages still kept
    from the address name the receipts they brought (`receipts.message_sid`)."""
    key = await bobs_receipt_in_house(bot, fake_twilio)
    assert (await say(bot, fake_twilio, "\\STOP", sender=BOB)).startswith("Goodbye")
    async with bot.runtime.deps.db.tx() as conn:  # the former member as 0.2.0 wrote it
        await conn.execute(
            sa.text("UPDATE users SET phone = 'former:0123456789abcdef' WHERE phone LIKE 'former:%'")
        )
    capsys.readouterr()
    assert await person.export(bot.config, BOB, time.time()) == 0
    data = first_json(capsys.readouterr().out)
    assert [r["object_key"] for r in data["receipts_left_in_rooms"]] == [key]
    assert await person.delete(bot.config, BOB, True, time.time()) == 0
    assert first_json(capsys.readouterr().out)["photos_deleted"] == 1
    assert not (bot.config.data_dir / "media" / key).exists()
    assert [tuple(r) for r in await bot.rows("SELECT caption, photo_deleted_why FROM receipts")] == [
        ("", "request")
    ]
    # Alice's own receipts are hers: only a former member's are found so
    assert await person.export(bot.config, BOB, time.time()) == 1
