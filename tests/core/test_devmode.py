"""Development mode's secrets: generated once into the data folder, private, then reused."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from bot.core.config import Config, ServerConfig, TwilioConfig
from bot.core.devmode import DEV_TOKEN_FILE, twilio_auth_token, write_secret_file
from bot.core.errors import StartupError


def test_a_secret_file_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "key"
    assert write_secret_file(path, "one") is True
    assert write_secret_file(path, "two") is False  # never overwritten
    assert path.read_text() == "one\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_development_token_is_generated_then_kept(tmp_path: Path) -> None:
    config = Config(server=ServerConfig(data_dir=str(tmp_path)))
    token, created = twilio_auth_token(config)
    again, created_again = twilio_auth_token(config)
    assert created
    assert not created_again
    assert token == again
    assert len(token) == 32
    assert (tmp_path / DEV_TOKEN_FILE).read_text().strip() == token


def test_a_configured_token_is_used_and_nothing_written(tmp_path: Path) -> None:
    config = Config(server=ServerConfig(data_dir=str(tmp_path)), twilio=TwilioConfig(auth_token="real"))
    assert twilio_auth_token(config) == ("real", False)
    assert not (tmp_path / DEV_TOKEN_FILE).exists()


def test_an_empty_secret_file_is_replaced_and_a_full_disk_is_one_line(tmp_path: Path) -> None:
    """A file created, then not written (a full disk, a kill in between), was read as the secret
    ever after: an empty development token, an empty link-signing key (links anyone can sign)."""
    path = tmp_path / "link-signing.key"
    path.write_text("\n")  # what such a start left
    assert write_secret_file(path, "fresh") is True
    assert path.read_text() == "fresh\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert write_secret_file(path, "other") is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link-signing.key"]  # nothing left aside

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    missing = tmp_path / "dev-twilio-token"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "fsync", full)
        with pytest.raises(
            StartupError, match=r"cannot write .*dev-twilio-token \(No space left on device\)"
        ):
            write_secret_file(missing, "token")
    assert not missing.exists()  # nothing half-made for the next start to trust
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link-signing.key"]
