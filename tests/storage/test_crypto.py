"""Tokens at rest: MultiFernet keys, user-bound plaintexts, start-up checks, rotation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from cryptography.fernet import Fernet
from structlog.testing import capture_logs

from bot.app import cli
from bot.core.config import Config
from bot.features.x.accounts import x_accounts
from storage import crypto, xaccounts
from storage.crypto import CipherError, KeyMismatch, TokenCipher
from storage.db import open_database
from storage.lean import in_tx
from storage.schema import users, x_tokens
from tests import ROOT
from tests.conftest import BotFactory, XBot, free_port


def test_plaintext_is_bound_to_the_user() -> None:
    cipher = TokenCipher([Fernet.generate_key().decode()])
    ciphertext = cipher.encrypt(1, {"access_token": "a", "refresh_token": "r"})
    assert cipher.decrypt(1, ciphertext) == {"access_token": "a", "refresh_token": "r"}
    with pytest.raises(CipherError):
        cipher.decrypt(2, ciphertext)  # copied into another user's row
    with pytest.raises(CipherError):
        cipher.decrypt(1, ciphertext[:-4] + "AAAA")  # altered
    with pytest.raises(CipherError):
        TokenCipher([Fernet.generate_key().decode()]).decrypt(1, ciphertext)  # another key
    for bad in ("gAAAA-bad", "gAAAA-\u00e9"):  # a row gone bad, even to non-ASCII: no key reads it
        assert not cipher.readable_by_newest(bad)
        with pytest.raises(CipherError):
            cipher.rotate(bad)


def test_load_keys_generates_a_private_key_file_once(make_config: Any) -> None:
    config: Config = make_config()
    keys, generated = crypto.load_keys(config)
    assert generated
    path = config.data_dir / crypto.KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    again, generated_again = crypto.load_keys(config)
    assert again == keys
    assert not generated_again


def test_a_malformed_key_is_refused_with_a_clear_message(make_config: Any) -> None:
    config: Config = make_config(security={"fernet_keys": ("not-a-key",)})
    with pytest.raises(KeyMismatch, match="not a valid key"):
        crypto.load_keys(config)


@pytest.mark.parametrize(
    ("pasted", "said"),
    [
        # the line said "Fernet key #1 is not a valid key" and named neither the variable nor
        # what was wrong: a name= pasted with it, a key cut short or run into the next
        ("fernet_keys={key}", "write the key alone, not a name= in front of it"),
        ("{key40}", "it is 40 characters, a key is 44"),
        # two keys without their comma: base64 decoding skipped the space and the rest, and the
        # older key (the one that reads the stored tokens) was dropped without a word
        ("{key} {key}", "keys are separated by commas, TEXTWIRE_SECURITY_FERNET_KEYS=newest,older"),
    ],
)
def test_a_mistyped_key_names_the_variable_and_the_slip(make_config: Any, pasted: str, said: str) -> None:
    key = crypto.generate_key()
    value = pasted.format(key=key, key40=key[:40])
    config: Config = make_config(security={"fernet_keys": (value,)})
    with pytest.raises(KeyMismatch) as exc:
        crypto.load_keys(config)
    message = str(exc.value)
    assert message.startswith(
        "TEXTWIRE_SECURITY_FERNET_KEYS (security.fernet_keys): Fernet key #1 is not a valid key"
    )
    assert said in message
    assert key[:40] not in message


def test_a_key_file_that_holds_no_key_is_named(make_config: Any) -> None:
    config: Config = make_config()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    (config.data_dir / crypto.KEY_FILE).write_text("not-a-key\n")
    with pytest.raises(KeyMismatch) as exc:
        crypto.load_keys(config)
    assert str(exc.value).startswith(f"{config.data_dir / crypto.KEY_FILE}: Fernet key #1 is not a valid key")


async def stored_ciphertexts(config: Config) -> dict[int, str]:
    db = await open_database(config.database.url, migrate=True)
    try:
        async with db.read() as conn:
            rows = (await conn.exec_driver_sql("SELECT user_id, ciphertext FROM x_tokens")).all()
    finally:
        await db.close()
    return {r.user_id: r.ciphertext for r in rows}


async def test_rotation_reencrypts_under_the_newest_key(xbot: XBot, tmp_path: Path) -> None:
    old_key = (xbot.config.data_dir / crypto.KEY_FILE).read_text().strip()
    await xbot.link(user=("100", "alice"))
    await xbot.link(sender="+15550002222", user=("200", "bob"))
    await xbot.client.close()
    new_key = Fernet.generate_key().decode()
    from bot.core.config import replace

    both = replace(xbot.config, security={"fernet_keys": (new_key, old_key)})
    before = await stored_ciphertexts(both)
    db = await open_database(both.database.url, migrate=False)
    try:
        await crypto.verify_keys(db, TokenCipher([new_key, old_key]))  # old rows readable with both
        done = await crypto.rotate_all(db, TokenCipher([new_key, old_key]))
        assert done == crypto.Rotation(changed=4)  # two token rows, the two browser sessions' verifiers
        with pytest.raises(KeyMismatch):
            await crypto.verify_keys(db, TokenCipher([old_key]))  # the old key alone no longer reads them
        await crypto.verify_keys(db, TokenCipher([new_key]))
        assert await crypto.rotate_all(db, TokenCipher([new_key])) == crypto.Rotation(changed=0)
        async with db.read() as conn:
            row = await xaccounts.load_tokens(in_tx(conn), 1)
        assert row is not None
        assert TokenCipher([new_key]).decrypt(1, row.ciphertext)["refresh_token"]
    finally:
        await db.close()
    after = await stored_ciphertexts(both)
    assert set(after) == set(before)
    assert all(after[k] != before[k] for k in before)


async def test_a_wrong_key_stops_start_up_and_touches_nothing(xbot: XBot, aiohttp_client: Any) -> None:
    await xbot.link(user=("100", "alice"))
    config = xbot.config
    await xbot.client.close()
    before = await stored_ciphertexts(config)
    from bot.app.assembly import build_app
    from bot.core.config import replace

    wrong = replace(config, security={"fernet_keys": (Fernet.generate_key().decode(),)})
    runner = web.AppRunner(build_app(wrong, run_scheduler=False))
    with pytest.raises(KeyMismatch, match="cannot read"):
        await runner.setup()  # runs the app's start-up
    await runner.cleanup()
    assert await stored_ciphertexts(config) == before


def test_cli_keys_generate_prints_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["keys", "generate"]) == 0
    key = capsys.readouterr().out.strip()
    Fernet(key)  # a valid key


async def serve_once(cwd: Path, env: dict[str, str]) -> tuple[Any, bytes, bytes]:
    """`textwire serve` run in `cwd` (no ./config.toml there) with `env` until it exits: (the
    process, its stdout, its stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process, out, err


async def test_cli_serve_refuses_a_wrong_key(xbot: XBot, tmp_path: Path) -> None:
    await xbot.link(user=("100", "alice"))
    await xbot.client.close()
    env = {
        **os.environ,
        "TEXTWIRE_SERVER_DATA_DIR": str(xbot.config.data_dir),
        "TEXTWIRE_DATABASE_URL": xbot.config.database.url,
        "TEXTWIRE_SERVER_PORT": str(free_port()),
        "TEXTWIRE_X_CLIENT_ID": "test-client",
        "TEXTWIRE_SECURITY_FERNET_KEYS": Fernet.generate_key().decode(),
        "TEXTWIRE_LOG_FORMAT": "json",
    }
    process, out, err = await serve_once(tmp_path, env)
    assert process.returncode == 2
    assert "Fernet keys" in err.decode()
    events = [json.loads(line)["event"] for line in out.decode().splitlines() if line.startswith("{")]
    assert "security.key_mismatch" in events
    assert "app.started" not in out.decode()


async def test_cli_serve_restored_without_its_key_file_says_so_and_keeps_no_new_key(
    xbot: XBot, tmp_path: Path
) -> None:
    """A restore of the database and the photos without the keys' backup: serve generated a new
    fernet.key, then stopped on "set TEXTWIRE_SECURITY_FERNET_KEYS ...", a setting the operator
    never used, and left the new key in the data folder (read, and backed up, as the service's key
    from then on)."""
    await xbot.link(user=("100", "alice"))
    await xbot.client.close()
    data = tmp_path / "restored"
    data.mkdir()
    url = xbot.config.database.url
    if url.startswith("sqlite:///"):  # the backup put in the new data folder (PostgreSQL: as it was)
        copy = sqlite3.connect(data / "textwire.db")
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as live:
            live.backup(copy)
        copy.close()
        url = f"sqlite:///{data / 'textwire.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env.update(
        {
            "TEXTWIRE_DATABASE_URL": url,
            "TEXTWIRE_SERVER_DATA_DIR": str(data),
            "TEXTWIRE_SERVER_PORT": str(free_port()),
            "TEXTWIRE_X_CLIENT_ID": "test-client",
            "TEXTWIRE_LOG_FORMAT": "json",
            "PYTHONPATH": str(ROOT),  # this checkout's code, not the one installed (a worktree)
        }
    )
    process, out, err = await serve_once(tmp_path, env)
    assert process.returncode == 2, err.decode()
    assert f"{data / 'fernet.key'} was missing" in err.decode()
    assert "put back fernet.key and link-signing.key from the keys' backup" in err.decode()
    assert "app.started" not in out.decode()
    assert not (data / "fernet.key").exists()


async def corrupt(xbot: XBot, user_id: int) -> None:
    async with xbot.runtime.deps.db.tx() as conn:
        await conn.execute(
            sa.update(x_tokens).where(x_tokens.c.user_id == user_id).values(ciphertext="gAAAA-bad")
        )


async def test_a_few_unreadable_rows_are_a_relink_many_are_a_missing_key(xbot: XBot) -> None:
    from tests.features.x.test_refresh import seed

    ids = await seed(xbot, 4)
    service = x_accounts(xbot.runtime.deps)
    assert service is not None
    cipher = service.cipher
    await corrupt(xbot, ids[2])
    assert await crypto.verify_keys(xbot.runtime.deps.db, cipher) == [ids[2]]
    await corrupt(xbot, ids[3])  # half the rows: a key is missing, nobody is relinked
    with pytest.raises(KeyMismatch, match="cannot read 2 of 4"):
        await crypto.verify_keys(xbot.runtime.deps.db, cipher)


async def test_rotation_goes_past_a_few_unreadable_rows_and_names_their_users(
    xbot: XBot, capsys: pytest.CaptureFixture[str]
) -> None:
    """One row no key reads stopped `keys rotate` (exit 2) with nothing rotated, though `serve`
    goes on with it (that person is asked to relink): the rotation could never be finished. Now
    every readable row is rotated, the bad ones stay as they are and are reported by user id,
    never by content, and the command succeeds."""
    from tests.features.x.test_refresh import seed

    ids = await seed(xbot, 5)
    await corrupt(xbot, ids[1])
    config = xbot.config
    await xbot.client.close()
    old_key = (config.data_dir / crypto.KEY_FILE).read_text().strip()
    new_key = Fernet.generate_key().decode()
    from bot.core.config import replace

    both = replace(config, security={"fernet_keys": (new_key, old_key)})
    capsys.readouterr()
    with capture_logs() as logs:
        assert await cli._rotate(both) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "re-encrypted 4 rows under the newest key",
        f"left 1 rows that no configured key reads as they are (user ids {ids[1]}): "
        "each such person is asked to relink X when their token is next used",
    ]
    [rotated] = [e for e in logs if e["event"] == "keys.rotated"]
    assert (rotated["rows"], rotated["unreadable"]) == (4, 1)
    [unreadable] = [e for e in logs if e["event"] == "keys.unreadable"]
    assert (unreadable["rows"], unreadable["user_ids"]) == (1, [ids[1]])
    after = await stored_ciphertexts(both)
    assert after[ids[1]] == "gAAAA-bad"  # left as it was
    assert "gAAAA-bad" not in out + repr(logs)  # the bad row's content is never shown
    newest = TokenCipher([new_key])
    assert all(newest.decrypt(u, after[u])["refresh_token"] for u in ids if u != ids[1])

    # a rerun rotates nothing more and reports the same row; keys that read none of the rows
    # (the new key alone) still stop it before it touches anything, as they stop `serve`
    with capture_logs():
        assert await cli._rotate(both) == 0
    again = capsys.readouterr().out.splitlines()
    assert again[0] == "re-encrypted 0 rows under the newest key"
    assert again[1].startswith(f"left 1 rows that no configured key reads as they are (user ids {ids[1]})")
    with pytest.raises(KeyMismatch, match="cannot read"):
        await cli._rotate(replace(config, security={"fernet_keys": (Fernet.generate_key().decode(),)}))
    assert await stored_ciphertexts(both) == after


async def test_an_unreadable_row_among_readable_ones_is_relinked_at_start_up(
    xbot: XBot, bot_factory: BotFactory
) -> None:
    from tests.features.x.test_refresh import seed

    twilio = xbot.extras["twilio"]
    ids = await seed(xbot, 3, expires_in=7200)
    await corrupt(xbot, ids[1])
    config = xbot.config
    await xbot.client.close()
    with capture_logs() as logs:
        again = await bot_factory(config=config, clock=lambda: xbot.x.now)
    assert [e["user_id"] for e in logs if e["event"] == "token.unreadable"] == [ids[1]]
    assert not [e for e in logs if e["log_level"] == "error"]
    [message] = await twilio.wait_for_messages(1)
    assert message["To"] == "+15551000001"
    assert "/x/link/" in message["Body"]
    rows = await again.rows("SELECT user_id FROM x_tokens ORDER BY user_id")
    assert [r.user_id for r in rows] == [ids[0], ids[2]]
    assert await again.scalar("SELECT x_needs_relink FROM users WHERE id = :u", u=ids[1])


async def test_the_start_up_sample_is_spread_by_key_and_wraps_around(database_url: str) -> None:
    """`verify_keys` reads SAMPLE rows from a random user id on, by the primary key (not `ORDER
    BY random()` over every row), wrapping around to the first ids: always SAMPLE distinct rows
    when there are that many, every row when there are fewer."""
    cipher = TokenCipher([Fernet.generate_key().decode()])
    db = await open_database(database_url, migrate=True)
    try:
        async with db.tx() as conn:
            ids = [
                (
                    await conn.execute(
                        sa.insert(users)
                        .values(phone=f"+1555000{n:04d}", created_at=0.0)
                        .returning(users.c.id)
                    )
                ).scalar_one()
                for n in range(crypto.SAMPLE + 5)
            ]
            await conn.execute(
                sa.insert(x_tokens),
                [
                    {
                        "user_id": uid,
                        "ciphertext": cipher.encrypt(uid, {"access_token": "a"}),
                        "expires_at": 0.0,
                        "updated_at": 0.0,
                    }
                    for uid in ids
                ],
            )
        starts = set()
        for _ in range(40):
            async with db.read() as conn:
                sample = [user_id for user_id, _ in await crypto._sample(conn)]
            assert len(sample) == len(set(sample)) == crypto.SAMPLE
            assert set(sample) <= set(ids)
            starts.add(sample[0])
        assert len(starts) > 1  # not always the same rows (40 draws from 25 starts)
        assert await crypto.verify_keys(db, cipher) == []
        async with db.tx() as conn:
            await conn.execute(sa.delete(x_tokens).where(x_tokens.c.user_id.in_(ids[3:])))
        async with db.read() as conn:
            assert sorted(user_id for user_id, _ in await crypto._sample(conn)) == ids[:3]
    finally:
        await db.close()
