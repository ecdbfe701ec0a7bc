"""Config: file, environment overrides, strict validation naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import ConfigError, load_config
from tests import ROOT

REPO = ROOT


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
        "TEXTWIRE_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
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
        # no file: every command crashed with SQLAlchemy's TypeError about pool arguments
        ("[database]\nurl = 'sqlite:///'\n", {}, "database.url"),
        ("", {"TEXTWIRE_DATABASE_URL": "sqlite:///:memory:"}, "database.url"),
        # every route is at the root of it: a path made each webhook a 404 after a quiet start
        ("[server]\npublic_url = 'https://sms.example.com/textwire'\n", {}, "server.public_url"),
        ("[server]\npublic_url = 'https://sms.example.com/?x=1'\n", {}, "server.public_url"),
        # a URL for a host matched no redirect: every photo was refused as "not from Twilio"
        ("[twilio]\nmedia_hosts = ['https://mms.twiliocdn.com']\n", {}, "twilio.media_hosts"),
        ("", {"TEXTWIRE_TWILIO_MEDIA_HOSTS": "mms.twiliocdn.com/,media.twiliocdn.com"}, "twilio.media_hosts"),
        ("", {"TEXTWIRE_TWILIO_MEDIA_HOSTS": "mms.twiliocdn.com:0"}, "twilio.media_hosts"),
        # Twilio's media URLs redirect to its CDN: with no host to follow, every photo was refused
        ("[twilio]\nmedia_hosts = []\n", {}, "twilio.media_hosts: empty"),
        ("", {"TEXTWIRE_TWILIO_MEDIA_HOSTS": ","}, "twilio.media_hosts: empty"),
        # every link texted to people, and the start-up log, carried the password
        ("", {"TEXTWIRE_SERVER_PUBLIC_URL": "https://ops:hunter2@sms.example.com"}, "server.public_url"),
        ("[security]\nfernet_keys = 'abc'\n", {}, "security.fernet_keys"),
        ("", {"TEXTWIRE_TWILIO_AUTH_TOKEN": "t"}, "twilio.from_number"),
        ("[log]\nlevel = 'loud'\n", {}, "log.level"),
        # botocore refused it when the store opened: a traceback, exit 1 (restarted in a loop)
        ("[media]\nbackend = 's3'\n[s3]\nbucket = 'b'\nregion = 'US East (N. Virginia)'\n", {}, "s3.region"),
        ("", {"TEXTWIRE_S3_REGION": "us_east_1"}, "s3.region"),
        ("", {"TEXTWIRE_S3_REGION": "123"}, "s3.region"),
        # the keys went to the working folder and the database to /textwire.db
        ("[server]\ndata_dir = ''\n", {}, "server.data_dir: empty"),
        # the photos, and /readyz's probe file, went to the working folder (Path(""))
        ("[media]\nlocal_dir = ''\n", {}, "media.local_dir: empty"),
        # no shell expands it: a folder named "~" was made in the working folder
        ("[server]\ndata_dir = '~/textwire'\n", {}, "server.data_dir: '~/textwire' begins with ~"),
        ("", {"TEXTWIRE_DATABASE_URL": "sqlite:///~/tw.db"}, "database.url: '~/tw.db' begins with ~"),
        ("", {"TEXTWIRE_MEDIA_LOCAL_DIR": "~ops/media"}, "media.local_dir: '~ops/media' begins with ~"),
        # no file system takes it: every command ended in a traceback ("embedded null byte")
        ('[server]\ndata_dir = "a\\u0000b"\n', {}, "server.data_dir: a path has no NUL character"),
        ('[database]\nurl = "sqlite:///x\\u0000.db"\n', {}, "database.url: a path has no NUL"),
        ('[media]\nlocal_dir = "m\\u0000"\n', {}, "media.local_dir: a path has no NUL"),
        # botocore refused it in every request; start-up said only that it "cannot be reached"
        ("", {"TEXTWIRE_MEDIA_BACKEND": "s3", "TEXTWIRE_S3_BUCKET": "s3://receipts"}, "s3.bucket"),
        ("", {"TEXTWIRE_MEDIA_BACKEND": "s3", "TEXTWIRE_S3_BUCKET": "receipts/photos"}, "s3.bucket"),
        # no client can send these in a header: every scrape was 403, the health check a traceback
        ("", {"TEXTWIRE_SERVER_METRICS_TOKEN": "tok\nx"}, "server.metrics_token"),
        ("", {"TEXTWIRE_SERVER_METRICS_TOKEN": "s3cret "}, "server.metrics_token"),
        (
            "",
            {
                "TEXTWIRE_TWILIO_AUTH_TOKEN": "0123abcd\n",
                "TEXTWIRE_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
                "TEXTWIRE_TWILIO_FROM_NUMBER": "+15557654321",
            },
            "twilio.auth_token",
        ),
        ("", {"TEXTWIRE_X_CLIENT_SECRET": " abc"}, "x.client_secret"),
        # a webhook whose AccountSid is not this one is refused: a typo refused every text, silently
        ("", {"TEXTWIRE_TWILIO_ACCOUNT_SID": "AC1"}, "twilio.account_sid"),
        ("", {"TEXTWIRE_TWILIO_ACCOUNT_SID": "SK" + "0" * 32}, "twilio.account_sid"),
        ("", {"TEXTWIRE_TWILIO_MESSAGING_SERVICE_SID": "MG-main"}, "twilio.messaging_service_sid"),
        ("[server]\nrole = 'both'\n", {}, "server.role"),
        ("", {"TEXTWIRE_SERVER_ROLE": "Web"}, "server.role"),
        ("[worker]\nenabled = false\n", {}, "server.role"),
        ("not toml [", {}, "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict[str, str], key: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(path, env=env)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[server]\nport = 70000\n", {}, "server.port: expected 1-65535, got 70000"),
        ("[server]\nport = 0\n", {}, "server.port: expected 1-65535, got 0"),
        ("", {"TEXTWIRE_SERVER_PORT": "-5"}, "server.port: expected 1-65535, got -5"),
        (
            "[server]\nhost = 'my host'\n",
            {},
            "server.host: expected a host name or an IP address (127.0.0.1, or 0.0.0.0 for every"
            " interface), got 'my host'",
        ),
    ],
)
def test_a_bad_port_or_host_names_it_not_the_public_url_made_of_it(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    """`server.public_url` left unset follows the host and port: a port out of range was said as
    "server.public_url: the port must be a number 1-65535, got 'http://127.0.0.1:70000'", a key
    and a URL the operator never wrote. The key they set is named, as with public_url set."""
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, env=env)
    assert str(exc.value) == message
    path.write_text(text.replace("[server]\n", "[server]\npublic_url = 'https://sms.example.com'\n"))
    if "port" in message:  # the same line when the URL is set
        with pytest.raises(ConfigError) as exc:
            load_config(path, env=env)
        assert str(exc.value) == message


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        # config.toml's value copied into an env file: a traceback, exit 1, restarted in a loop
        (
            "",
            {"TEXTWIRE_TWILIO_MEDIA_HOSTS": '["mms.twiliocdn.com", "media.twiliocdn.com"]'},
            "TEXTWIRE_TWILIO_MEDIA_HOSTS: a list here is comma-separated, without brackets or quotes:"
            " TEXTWIRE_TWILIO_MEDIA_HOSTS=first,second",
        ),
        ("", {"TEXTWIRE_TWILIO_MEDIA_HOSTS": "[]"}, "TEXTWIRE_TWILIO_MEDIA_HOSTS: a list here is"),
        ("[twilio]\nmedia_hosts = ['[]']\n", {}, "twilio.media_hosts: each entry is a host name"),
        ("[twilio]\nmedia_hosts = ['[::1']\n", {}, "twilio.media_hosts: each entry is a host name"),
        ("[twilio]\nmedia_hosts = ['[mms.twiliocdn.com]']\n", {}, "twilio.media_hosts: each entry"),
    ],
)
def test_a_list_in_brackets_is_one_line_not_a_traceback(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, env=env)
    assert str(exc.value).startswith(message)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        # the URL of a Bot API call, or the "bot" before the token in it: every call failed
        ("https://api.telegram.org/bot123456:AAHsecret", "expected the token as BotFather gives it"),
        ("bot123456:AAHsecret", "without the 'bot' in front"),
        ("AAHsecret", "expected the token as BotFather gives it"),
        ("123456:AAH/secret", "got 17 characters"),
    ],
)
def test_a_telegram_token_in_an_impossible_form_stops_start_up_without_saying_it(
    token: str, message: str
) -> None:
    env = {"TEXTWIRE_TELEGRAM_BOT_TOKEN": token, "TEXTWIRE_TELEGRAM_WEBHOOK_SECRET": "s"}
    with pytest.raises(ConfigError) as exc:
        load_config(None, env=env)
    assert str(exc.value).startswith("telegram.bot_token: ")
    assert message in str(exc.value)
    assert "secret" not in str(exc.value)


def test_a_made_up_telegram_token_of_the_right_form_is_taken() -> None:
    env = {"TEXTWIRE_TELEGRAM_BOT_TOKEN": "1:dev", "TEXTWIRE_TELEGRAM_WEBHOOK_SECRET": "s"}
    assert load_config(None, env=env).telegram.bot_token == "1:dev"  # README's development bot


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("+1 555 123 4567", "got '+1 555 123 4567'; write it as +15551234567"),
        ("+1 (555) 123-4567", "; write it as +15551234567"),
        ("5551234567", "got '5551234567'"),
        ("+14155551234 ", "; write it as +14155551234"),
        ("whatsapp:+14155551234", "got 'whatsapp:+14155551234'"),
        ("Textwire Bot2", "got 'Textwire Bot2'"),
    ],
)
def test_a_from_number_twilio_would_refuse_stops_start_up(typed: str, message: str) -> None:
    """`twilio.from_number = "+1 555 123 4567"` started, and Twilio refused every reply: the
    number in E.164, a short code or an alphanumeric sender ID is taken, anything else named."""
    env = {
        "TEXTWIRE_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TEXTWIRE_TWILIO_AUTH_TOKEN": "t",
        "TEXTWIRE_TWILIO_FROM_NUMBER": typed,
    }
    with pytest.raises(ConfigError) as exc:
        load_config(None, env=env)
    assert str(exc.value).startswith("twilio.from_number: expected the number in E.164 (e.g. +14155551234)")
    assert message in str(exc.value)


@pytest.mark.parametrize("typed", ["+14155551234", "12345", "textwire", "My Bot 1"])
def test_a_from_number_twilio_takes_is_taken(typed: str) -> None:
    env = {
        "TEXTWIRE_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TEXTWIRE_TWILIO_AUTH_TOKEN": "t",
        "TEXTWIRE_TWILIO_FROM_NUMBER": typed,
    }
    assert load_config(None, env=env).twilio.from_number == typed


def test_fernet_keys_in_brackets_are_refused_without_saying_them() -> None:
    key = "k" * 43 + "="
    with pytest.raises(ConfigError) as exc:
        load_config(REPO / "config.toml", env={"TEXTWIRE_SECURITY_FERNET_KEYS": f'["{key}"]'})
    assert str(exc.value).startswith("TEXTWIRE_SECURITY_FERNET_KEYS: a list here is comma-separated")
    assert key not in str(exc.value)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(REPO / "config.toml" / "x.toml", env={})  # under a file, not a folder


def test_a_folder_given_as_the_config_file_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path, env={})
    assert str(exc.value) == (
        f"config file {tmp_path} is a folder: give the file, e.g. --config {tmp_path / 'config.toml'}"
    )
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(None, env={"TEXTWIRE_CONFIG": str(tmp_path)})
    (tmp_path / "config.toml").mkdir()  # the default file, a folder: not mistaken for missing
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^config file config\.toml is a folder"):
        load_config(None, env={})


def test_a_config_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes("[server]\nport = 8080\n# caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert str(exc.value) == f"{path}: not UTF-8 text (byte 0xe9 on line 3): save it as UTF-8"
    path.write_text("[server]\nport = 8080 # caf\u00e9\n", encoding="utf-8")
    assert load_config(path, env={}).server.port == 8080


def test_a_config_file_that_cannot_be_read(tmp_path: Path) -> None:
    """A read that fails for another reason than a missing file or a folder (a link that points at
    itself here: CI runs as root, which a file without permissions does not stop)."""
    path = tmp_path / "config.toml"
    path.symlink_to(path)
    with pytest.raises(ConfigError, match="cannot be read: Too many levels of symbolic links"):
        load_config(path, env={})


def test_role_from_file_and_environment(tmp_path: Path) -> None:
    assert load_config(REPO / "config.toml", env={}).server.role == "all"
    path = tmp_path / "config.toml"
    path.write_text("[server]\nrole = 'web'\n")
    assert load_config(path, env={}).server.role == "web"
    assert load_config(path, env={"TEXTWIRE_SERVER_ROLE": "worker"}).server.role == "worker"


def test_database_and_media_follow_the_data_folder_unless_set(tmp_path: Path) -> None:
    config = load_config(REPO / "config.toml", env={"TEXTWIRE_SERVER_DATA_DIR": "/srv/tw2"})
    assert config.database.url == "sqlite:////srv/tw2/textwire.db"
    assert config.media.local_dir == "/srv/tw2/media"
    path = tmp_path / "config.toml"
    path.write_text("[server]\ndata_dir = 'other'\n[media]\nlocal_dir = '/mnt/photos'\n")
    config = load_config(path, env={"TEXTWIRE_DATABASE_URL": "sqlite:///shared.db"})
    assert config.database.url == "sqlite:///shared.db"  # set: kept
    assert config.media.local_dir == "/mnt/photos"
    config = load_config(path, env={})
    assert config.database.url == "sqlite:///other/textwire.db"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("TEXTWIRE_SERVER_PROT", "TEXTWIRE_SERVER_PROT: unknown setting; did you mean TEXTWIRE_SERVER_PORT?"),
        ("TEXTWIRE_TWILIO_AUTHTOKEN", "did you mean TEXTWIRE_TWILIO_AUTH_TOKEN?"),
        ("TEXTWIRE_CONFG", "did you mean TEXTWIRE_CONFIG?"),
        # the wrong case: it suggested TEXTWIRE_SERVER_ROLE
        ("TEXTWIRE_SERVER_port", "TEXTWIRE_SERVER_port: unknown setting; did you mean TEXTWIRE_SERVER_PORT?"),
        ("TEXTWIRE_Twilio_Auth_Tokn", "did you mean TEXTWIRE_TWILIO_AUTH_TOKEN?"),
        ("TEXTWIRE_NOTHING_LIKE_IT", "TEXTWIRE_NOTHING_LIKE_IT: unknown setting; TEXTWIRE_<SECTION>_<KEY>"),
        ("TEXTWIRE_WORKER_ENABLED", "replaced by server.role"),
    ],
)
def test_unknown_environment_variable_stops_start_up(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(REPO / "config.toml", env={name: "1"})
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # before, each of these said "unknown key in FILE" and no more, while a mistyped
        # TEXTWIRE_* variable got its "did you mean"
        ('[server]\npublic-url = "https://sms.example.com"\n', "server.public-url: unknown key in "),
        ('[server]\npublic-url = "https://sms.example.com"\n', "; did you mean server.public_url?"),
        ('[twilio]\nauthToken = "t"\n', "; did you mean twilio.auth_token?"),
        ('[x]\nclientid = "c"\n', "; did you mean x.client_id?"),
        ('[s3]\nendpoint = "https://s3.example.com"\n', "; did you mean s3.endpoint_url?"),
        ('[security]\nfernet_key = ""\n', "; did you mean security.fernet_keys?"),
        ('[media]\nbucket = "receipts"\n', "media.bucket: unknown key in "),
        ('[media]\nbucket = "receipts"\n', "; did you mean s3.bucket? (under [s3])"),
        ('[s3]\nbucket_name = "receipts"\n', "; [s3] has bucket, endpoint_url, "),
        ("[Server]\nport = 8081\n", "Server: unknown section in "),
        ("[Server]\nport = 8081\n", "; did you mean [server]?"),
        ("[twillio]\n", "; did you mean [twilio]?"),
        ("[db]\n", "; the sections are server, database, twilio, "),
        # a key above every section header: it was called an "unknown section"
        ("port = 8081\n[server]\n", "port: a key outside any section in "),
        ("port = 8081\n[server]\n", ": put it under [server] (server.port)"),
        ("[worker]\nenabled = false\n", "(replaced by server.role"),
    ],
)
def test_an_unknown_name_in_the_file_says_what_was_meant(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert message in str(exc.value)


# what Kubernetes puts in every container of a namespace for a Service named `textwire` (port 80,
# named http) and one named `textwire-web` (enableServiceLinks, on by default)
KUBERNETES_SERVICE_LINKS = {
    "TEXTWIRE_SERVICE_HOST": "10.96.12.34",
    "TEXTWIRE_SERVICE_PORT": "80",
    "TEXTWIRE_SERVICE_PORT_HTTP": "80",
    "TEXTWIRE_PORT": "tcp://10.96.12.34:80",
    "TEXTWIRE_PORT_80_TCP": "tcp://10.96.12.34:80",
    "TEXTWIRE_PORT_80_TCP_PROTO": "tcp",
    "TEXTWIRE_PORT_80_TCP_PORT": "80",
    "TEXTWIRE_PORT_80_TCP_ADDR": "10.96.12.34",
    "TEXTWIRE_WEB_SERVICE_HOST": "10.96.7.8",
    "TEXTWIRE_WEB_SERVICE_PORT": "8080",
    "TEXTWIRE_WEB_PORT": "tcp://10.96.7.8:8080",
    "TEXTWIRE_WEB_PORT_8080_TCP": "tcp://10.96.7.8:8080",
    "TEXTWIRE_WEB_PORT_8080_TCP_PROTO": "tcp",
    "TEXTWIRE_WEB_PORT_8080_TCP_PORT": "8080",
    "TEXTWIRE_WEB_PORT_8080_TCP_ADDR": "10.96.7.8",
    "KUBERNETES_SERVICE_HOST": "10.96.0.1",
}


def test_kubernetes_service_variables_are_not_settings() -> None:
    """A Service named `textwire` or `textwire-web` beside the pods stopped every pod at start-up
    ("TEXTWIRE_SERVICE_HOST: unknown setting; did you mean TEXTWIRE_SERVER_HOST?"): Kubernetes
    sets those variables, not the operator."""
    env = {**KUBERNETES_SERVICE_LINKS, "TEXTWIRE_SERVER_PORT": "9000"}
    assert load_config(REPO / "config.toml", env=env).server.port == 9000


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # without a Service's TEXTWIRE_..._SERVICE_HOST beside them, these are mistakes as before
        ("TEXTWIRE_SERVICE_PORT", "did you mean TEXTWIRE_SERVER_PORT?"),
        ("TEXTWIRE_SERVICE_HOST", "did you mean TEXTWIRE_SERVER_HOST?"),
        ("TEXTWIRE_SEVER_PORT", "did you mean TEXTWIRE_SERVER_PORT?"),
        ("TEXTWIRE_WEB_PORT_8080_TCP_ADDR", "TEXTWIRE_<SECTION>_<KEY>"),
    ],
)
def test_service_shaped_variables_alone_are_still_unknown(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(REPO / "config.toml", env={name: "tcp://10.0.0.1:80"})
    assert message in str(exc.value)


def test_a_service_named_like_a_section_is_named_in_the_error() -> None:
    """A Service `textwire-server` makes Kubernetes set TEXTWIRE_SERVER_PORT, the real key, to
    `tcp://...`: the error says where it came from, not only that it is no number."""
    env = {
        "TEXTWIRE_SERVER_SERVICE_HOST": "10.96.1.2",
        "TEXTWIRE_SERVER_SERVICE_PORT": "8080",
        "TEXTWIRE_SERVER_PORT": "tcp://10.96.1.2:8080",
        "TEXTWIRE_SERVER_PORT_8080_TCP": "tcp://10.96.1.2:8080",
    }
    with pytest.raises(ConfigError) as exc:
        load_config(REPO / "config.toml", env=env)
    assert "TEXTWIRE_SERVER_PORT" in str(exc.value)
    assert "Service named textwire-server" in str(exc.value)
    assert "enableServiceLinks: false" in str(exc.value)


def test_config_and_test_variables_are_not_keys() -> None:
    env = {"TEXTWIRE_CONFIG": str(REPO / "config.toml"), "TEXTWIRE_TEST_PG_URL": "postgresql://x/y"}
    assert load_config(None, env=env).server.port == 8080


FLOAT_KEYS = [
    ("server", "stop_seconds"),
    ("twilio", "timeout_seconds"),
    ("telegram", "timeout_seconds"),
    ("x", "timeout_seconds"),
    ("worker", "outage_retry_hours"),
    ("worker", "send_retry_hours"),
    ("worker", "poll_seconds"),
    ("worker", "retry_base_seconds"),
]


def test_every_decimal_setting_is_listed_here() -> None:
    """A new float key gets the same check (and a line above)."""
    import dataclasses
    import typing

    from bot.core.config import Config

    found = [
        (section.name, item.name)
        for section in dataclasses.fields(Config)
        for item in dataclasses.fields(getattr(Config(), section.name))
        if typing.get_type_hints(type(getattr(Config(), section.name)))[item.name] is float
    ]
    assert sorted(found) == sorted(FLOAT_KEYS)


@pytest.mark.parametrize(("section", "key"), FLOAT_KEYS)
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "0", "0.0", "-1", "-0.5"])
def test_decimal_settings_must_be_finite_and_above_zero(section: str, key: str, value: str) -> None:
    name = f"TEXTWIRE_{section.upper()}_{key.upper()}"
    with pytest.raises(ConfigError) as exc:
        load_config(REPO / "config.toml", env={name: value})
    message = str(exc.value)
    assert message.startswith(f"{section}.{key}: expected a finite number above 0 (default ")
    assert "\n" not in message


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "0.0", "0", "-3"])
def test_decimal_settings_in_the_file_too(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[worker]\npoll_seconds = {text}\n")
    with pytest.raises(ConfigError, match=r"^worker\.poll_seconds: expected a finite number above 0"):
        load_config(path, env={})


def test_small_decimal_settings_are_kept() -> None:
    env = {"TEXTWIRE_WORKER_POLL_SECONDS": "0.25", "TEXTWIRE_X_TIMEOUT_SECONDS": "1e-1"}
    config = load_config(REPO / "config.toml", env=env)
    assert (config.worker.poll_seconds, config.x.timeout_seconds) == (0.25, 0.1)


URL_KEYS = [
    ("server", "public_url"),
    ("twilio", "api_base"),
    ("telegram", "api_base"),
    ("x", "api_base"),
    ("x", "authorize_url"),
    ("s3", "endpoint_url"),
    ("s3", "public_endpoint_url"),
]


@pytest.mark.parametrize(("section", "key"), URL_KEYS)
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://x.com:99999", "the port must be a number 1-65535"),
        ("http://x.com:abc", "the port must be a number 1-65535"),
        ("http://x.com:0", "the port must be a number 1-65535"),
        ("http://x.com:-1", "the port must be a number 1-65535"),
        ("http://a b.com", "a URL has no spaces"),
        ("https://x.com/a\tb", "a URL has no spaces"),
        ("http://a<b.com", "the host 'a<b.com' is neither a name"),
        ("http://x..com", "is neither a name"),
        ("http://-x.com", "is neither a name"),
        ("http://:8080", "the host '' is neither a name"),
        ("http://[zz]:8080", "expected an http(s) URL"),
        ("http://[::1:8080", "expected an http(s) URL"),
        ("ftp://x.com", "expected an http(s) URL"),
    ],
)
def test_urls_with_a_bad_port_or_host_name_the_key(section: str, key: str, url: str, says: str) -> None:
    name = f"TEXTWIRE_{section.upper()}_{key.upper()}"
    env = {name: url, "TEXTWIRE_MEDIA_BACKEND": "s3", "TEXTWIRE_S3_BUCKET": "b"}
    with pytest.raises(ConfigError) as exc:
        load_config(REPO / "config.toml", env=env)
    message = str(exc.value)
    assert message.startswith(f"{section}.{key}: ")
    assert says in message
    assert message.endswith(f"got {url!r}")


@pytest.mark.parametrize(("section", "key"), URL_KEYS)
@pytest.mark.parametrize(
    "url",
    [
        "https://sms.example.com",
        "https://sms.example.com/textwire/",
        "http://127.0.0.1:8080",
        "http://[::1]:8080",
        "http://localhost:65535",
        "http://minio:9000",
        "https://user:pass@example.com",
    ],
)
def test_good_urls_pass(section: str, key: str, url: str) -> None:
    name = f"TEXTWIRE_{section.upper()}_{key.upper()}"
    if (section, key) == ("server", "public_url") and url.endswith("/textwire/"):
        with pytest.raises(ConfigError, match="no path"):  # its routes are at its root (README)
            load_config(REPO / "config.toml", env={name: url})
        return
    if (section, key) == ("server", "public_url") and "@" in url:
        with pytest.raises(ConfigError, match="no user name or password"):  # texted in every link
            load_config(REPO / "config.toml", env={name: url})
        return
    config = load_config(REPO / "config.toml", env={name: url})
    assert getattr(getattr(config, section), key) == url


def test_url_rules_of_each_client() -> None:
    """yarl and aiohttp take "_" and international names; botocore refuses both in an endpoint."""
    env = {
        "TEXTWIRE_TELEGRAM_API_BASE": "http://bot_api:8081",
        "TEXTWIRE_SERVER_PUBLIC_URL": "https://bücher.example",
    }
    assert load_config(REPO / "config.toml", env=env).telegram.api_base == "http://bot_api:8081"
    for url in ("http://my_minio:9000", "https://bücher.example"):
        with pytest.raises(ConfigError, match=r"^s3\.endpoint_url: the host .* is neither a name"):
            load_config(REPO / "config.toml", env={"TEXTWIRE_S3_ENDPOINT_URL": url})


def test_s3_endpoints_may_be_empty() -> None:
    config = load_config(
        REPO / "config.toml", env={"TEXTWIRE_MEDIA_BACKEND": "s3", "TEXTWIRE_S3_BUCKET": "b"}
    )
    assert (config.s3.endpoint_url, config.s3.public_endpoint_url) == ("", "")


def test_an_empty_variable_is_not_set(tmp_path: Path) -> None:
    """`TEXTWIRE_DATABASE_URL=` (deploy/env.example ships it so) keeps the default under
    server.data_dir; likewise every key: the file's value, else the default."""
    env = {
        "TEXTWIRE_SERVER_DATA_DIR": "/srv/tw",
        "TEXTWIRE_DATABASE_URL": "",
        "TEXTWIRE_MEDIA_LOCAL_DIR": "",
        "TEXTWIRE_SERVER_PUBLIC_URL": "",
        "TEXTWIRE_SERVER_PORT": "9000",
        "TEXTWIRE_WORKER_POLL_SECONDS": "",
        "TEXTWIRE_LOG_LEVEL": "  ",
    }
    config = load_config(REPO / "config.toml", env=env)
    assert config.database.url == "sqlite:////srv/tw/textwire.db"
    assert config.media.local_dir == "/srv/tw/media"
    assert config.server.public_url == "http://127.0.0.1:9000"  # follows the port, as when unset
    assert config.worker.poll_seconds == 1.0
    assert config.log.level == "info"
    path = tmp_path / "config.toml"
    path.write_text("[log]\nlevel = 'debug'\n[twilio]\nmedia_hosts = ['cdn.example']\n")
    config = load_config(path, env={"TEXTWIRE_LOG_LEVEL": "", "TEXTWIRE_TWILIO_MEDIA_HOSTS": ""})
    assert (config.log.level, config.twilio.media_hosts) == ("debug", ("cdn.example",))  # the file's


def test_an_empty_unknown_variable_still_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="did you mean TEXTWIRE_DATABASE_URL"):
        load_config(REPO / "config.toml", env={"TEXTWIRE_DATABASE_URLS": ""})


def test_a_public_url_with_credentials_is_refused_without_saying_them(tmp_path: Path) -> None:
    """Every link texted to people (the X link, the gallery, statements) and the start-up log are
    built from server.public_url: a user name and password in it went to every phone."""
    path = tmp_path / "config.toml"
    path.write_text("")
    for url in ("https://ops:hunter2@sms.example.com", "https://ops@sms.example.com:8443"):
        with pytest.raises(ConfigError, match=r"server\.public_url: no user name or password") as exc:
            load_config(path, env={"TEXTWIRE_SERVER_PUBLIC_URL": url})
        assert "hunter2" not in str(exc.value)


@pytest.mark.parametrize(("section", "key"), URL_KEYS)
@pytest.mark.parametrize(
    "url",
    [
        "https://ops:hunter2@bad host.example",  # a space
        "https://ops:hun@ter2@sms.example.com:99999",  # a bad port; an @ in the password
        "ftp://ops:hunter2@sms.example.com",
        "https://ops:hunter2@under_score!.example",
    ],
)
def test_a_bad_url_is_named_without_its_password(section: str, key: str, url: str) -> None:
    """The error line (stderr, and the config.invalid log event) quoted the URL whole, a password
    in it too."""
    name = f"TEXTWIRE_{section.upper()}_{key.upper()}"
    with pytest.raises(ConfigError, match=rf"{section}\.{key}") as exc:
        load_config(REPO / "config.toml", env={name: url})
    assert "hunter2" not in str(exc.value)
    assert "ter2" not in str(exc.value)
    assert "ops:***@" in str(exc.value)


def test_the_bucket_rule_is_botocores() -> None:
    """s3.bucket is checked at start-up by the rule botocore applies to every request (a name it
    refuses made each photo wait for a store that "cannot be reached"): they stay the same."""
    import botocore.handlers

    from bot.core import config

    assert config._S3_BUCKET.pattern == botocore.handlers.VALID_BUCKET.pattern.strip("^$")
    assert config._S3_ARN.pattern == botocore.handlers.VALID_S3_ARN.pattern
    for legacy in ("receipts", "My_Old.Bucket-1", "arn:aws:s3:us-east-1:123456789012:accesspoint/photos"):
        load_config(REPO / "config.toml", env={"TEXTWIRE_S3_BUCKET": legacy})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TEXTWIRE_TWILIO_AUTH_TOKEN", '"0123456789abcdef0123456789abcdef"'),
        ("TEXTWIRE_TWILIO_FROM_NUMBER", "'+15550009999'"),
        ("TEXTWIRE_SECURITY_FERNET_KEYS", '"bGBdVBWvaf3mWZCNNgFRmAg-x5nZ1jC70T5PtGoOpjs="'),
    ],
)
def test_a_value_in_quotes_from_an_env_file_is_refused_without_showing_it(name: str, value: str) -> None:
    """deploy/env.example is read by systemd (which takes `KEY="value"` without the quotes) and by
    `docker run --env-file` (which keeps them): a quoted auth token was loaded with its quotes,
    and every webhook's signature failed (403) with nothing said at start-up."""
    env = {
        "TEXTWIRE_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
        "TEXTWIRE_TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
        "TEXTWIRE_TWILIO_FROM_NUMBER": "+15550009999",
        name: value,
    }
    with pytest.raises(ConfigError) as exc:
        load_config(REPO / "config.toml", env=env)
    message = str(exc.value)
    assert message.startswith(f"{name}: the value is in quotes")
    assert f"write {name}=value without them" in message
    assert value.strip("\"'") not in message
    env[name] = value.strip("\"'")  # the same value without them loads
    load_config(REPO / "config.toml", env=env)
