"""A data folder the process cannot write stops serve, migrate and keys rotate with one line naming
the key and the fix (`chown`), not a traceback (bot/app/startup.py's check_folders)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app.startup import check_folders
from bot.core.config import load_config
from bot.core.errors import StartupError
from tests import ROOT
from tests.test_process import free_port

CONFIG = str(ROOT / "config.toml")


def _env(monkeypatch: pytest.MonkeyPatch, data: Path) -> None:
    for name in list(os.environ):
        if name.startswith("TEXTWIRE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEXTWIRE_SERVER_DATA_DIR", str(data))
    monkeypatch.setenv("TEXTWIRE_DATABASE_URL", f"sqlite:///{data}/textwire.db")
    monkeypatch.setenv("TEXTWIRE_MEDIA_LOCAL_DIR", str(data / "media"))


def test_writable_folders_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, tmp_path / "data")
    check_folders(load_config(CONFIG))
    assert (tmp_path / "data" / "media").is_dir()


# not `keys rotate`: it only reads the service's key file, and makes no folder for it
@pytest.mark.parametrize("command", [["serve"], ["migrate"]])
def test_unwritable_data_dir_is_one_line_with_the_fix(tmp_path: Path, command: list[str]) -> None:
    # a folder that cannot be made: its parent is a file (root can write anywhere else)
    (tmp_path / "volume").write_text("not a folder")
    data = tmp_path / "volume" / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env.update(
        {
            "TEXTWIRE_SERVER_DATA_DIR": str(data),
            "TEXTWIRE_DATABASE_URL": f"sqlite:///{data}/textwire.db",
            "TEXTWIRE_MEDIA_LOCAL_DIR": str(data / "media"),
            "TEXTWIRE_SERVER_PORT": str(free_port()),
            "TEXTWIRE_LOG_FORMAT": "console",
        }
    )
    result = subprocess.run(  # noqa: S603 - our own CLI, a real process (serve changes the loop)
        [sys.executable, "-m", "bot", *command, "--config", CONFIG],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    err = result.stderr.strip().splitlines()
    assert len(err) == 1, result.stderr
    assert err[0].startswith(f"textwire: server.data_dir {data} cannot be created: ")
    assert f"{tmp_path / 'volume'} is a file, not a folder: move {tmp_path / 'volume'} away" in err[0]
    assert "chown" not in err[0]  # not a question of permissions: the fix for this case
    assert "Traceback" not in result.stdout + result.stderr


def test_a_data_dir_that_is_a_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.write_text("oops")
    _env(monkeypatch, data)
    with pytest.raises(StartupError) as raised:
        check_folders(load_config(CONFIG))
    assert str(raised.value) == (
        f"server.data_dir {data} is not a folder (a file is in the way): move that file away, "
        "or set server.data_dir or TEXTWIRE_SERVER_DATA_DIR to a folder"
    )


def test_a_new_data_dir_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The data folder holds the database and the keys: made 0700, the database file 0600."""
    import asyncio

    from bot.app.startup import open_db

    data = tmp_path / "data"
    _env(monkeypatch, data)
    monkeypatch.setattr(os, "umask", os.umask)  # the process's umask as it is (022 here)
    check_folders(load_config(CONFIG))
    assert data.stat().st_mode & 0o777 == 0o700

    async def open_and_close() -> None:
        db = await open_db(f"sqlite:///{data}/textwire.db", migrate=True)
        await db.close()

    asyncio.run(open_and_close())
    for name in ("textwire.db", "textwire.db-wal", "textwire.db-shm"):
        if (data / name).exists():
            assert (data / name).stat().st_mode & 0o777 == 0o600, name
    assert (data / "textwire.db").exists()


def test_read_only_volume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data folder that takes no files (0555, or immutable when root, who ignores modes: CI)."""
    from tests.app.test_startup import unwritable

    data = tmp_path / "data"
    with unwritable(data):
        _env(monkeypatch, data)
        with pytest.raises(StartupError, match=r"server\.data_dir .* is not writable by this user"):
            check_folders(load_config(CONFIG))
