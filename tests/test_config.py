"""Config: file, environment overrides, strict validation naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_toml_equals_built_in_defaults() -> None:
    from_file = load_config(REPO / "config.toml", env={})
    assert from_file.server.port == 8080
    assert from_file.database.url == "sqlite:///data/textwire.db"
    assert from_file.twilio.media_hosts == ("mms.twiliocdn.com", "media.twiliocdn.com")
    assert from_file.dev_mode


def test_missing_default_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, env={})
    assert config.server.public_url == "http://127.0.0.1:8080"
    assert config == load_config(REPO / "config.toml", env={})


def test_env_overrides_and_lists(tmp_path: Path) -> None:
    env = {
        "TEXTWIRE_SERVER_PORT": "9090",
        "TEXTWIRE_TWILIO_MEDIA_HOSTS": "a.example, b.example",
        "TEXTWIRE_SECURITY_FERNET_KEYS": "k1,k2",
        "TEXTWIRE_TWILIO_AUTH_TOKEN": "tok",
        "TEXTWIRE_TWILIO_ACCOUNT_SID": "AC1",
        "TEXTWIRE_TWILIO_FROM_NUMBER": "+15550000000",
    }
    config = load_config(REPO / "config.toml", env=env)
    assert config.server.port == 9090
    assert config.twilio.media_hosts == ("a.example", "b.example")
    assert config.security.fernet_keys == ("k1", "k2")
    assert not config.dev_mode


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ("[server]\nport = 'x'\n", {}, "server.port"),
        ("[server]\nbogus = 1\n", {}, "server.bogus"),
        ("[nosuch]\n", {}, "nosuch"),
        ("", {"TEXTWIRE_SERVER_PORT": "eighty"}, "TEXTWIRE_SERVER_PORT"),
        ("[media]\nbackend = 'ftp'\n", {}, "media.backend"),
        ("[media]\nbackend = 's3'\n", {}, "s3.bucket"),
        ("[server]\npublic_url = 'not a url'\n", {}, "server.public_url"),
        ("[database]\nurl = 'mysql://x'\n", {}, "database.url"),
        ("[security]\nfernet_keys = 'abc'\n", {}, "security.fernet_keys"),
        ("", {"TEXTWIRE_TWILIO_AUTH_TOKEN": "t"}, "twilio.from_number"),
        ("[log]\nlevel = 'loud'\n", {}, "log.level"),
        ("not toml [", {}, "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path, env=env)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
