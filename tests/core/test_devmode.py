"""Development mode's secrets: generated once into the data folder, private, then reused."""

from __future__ import annotations

import stat
from pathlib import Path

from bot.core.config import Config, ServerConfig, TwilioConfig
from bot.core.devmode import DEV_TOKEN_FILE, twilio_auth_token, write_secret_file


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
