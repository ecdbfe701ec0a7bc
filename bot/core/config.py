"""Configuration: `config.toml` for defaults, `TEXTWIRE_<SECTION>_<KEY>` for overrides and secrets.

Every key has a type and a default. Unknown sections or keys (in the file, or a `TEXTWIRE_*`
variable that names none), and values that do not cast, raise `ConfigError` naming the key, which
stops start-up. An empty `TEXTWIRE_*` variable is not set. `database.url` and `media.local_dir`
default to places under `server.data_dir`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.core.dburl import PERCENT_ENCODE, is_postgres, mask_url, unencoded_password

ENV_PREFIX = "TEXTWIRE_"
# deploy/compose.yaml's own variables (README: Compose): the image, the env file, the web port on
# the host. Exported in the shell that runs compose, or kept in the one env file compose and the
# containers both read, they stopped every textwire command in that shell, and every container, as
# unknown settings. They are the deploy kit's, not config keys: the server in the container keeps
# listening on server.port (8080), which TEXTWIRE_PORT publishes on the host.
COMPOSE_VARIABLES = frozenset({"TEXTWIRE_IMAGE", "TEXTWIRE_ENV_FILE", "TEXTWIRE_PORT"})
# TEXTWIRE_* variables that are not config keys
NOT_KEYS = frozenset({"TEXTWIRE_CONFIG", *COMPOSE_VARIABLES})
TEST_PREFIX = "TEXTWIRE_TEST_"  # the test suite's own settings (e.g. TEXTWIRE_TEST_PG_URL)
# Kubernetes gives every container of a namespace the address of each Service in it
# (enableServiceLinks, on by default): a Service named `textwire-web` sets TEXTWIRE_WEB_SERVICE_HOST,
# _SERVICE_PORT, _SERVICE_PORT_<PORT NAME>, _PORT and _PORT_<n>_TCP[_PROTO|_PORT|_ADDR]. With a
# Service named `textwire` or `textwire-...` beside the pods, every pod stopped at start-up on
# "TEXTWIRE_SERVICE_HOST: unknown setting". A group is recognised by its _SERVICE_HOST,
# _SERVICE_PORT and _PORT together.
_SERVICE_HOST = re.compile(r"(TEXTWIRE(?:_[A-Z0-9_]+?)?)_SERVICE_HOST")


class ConfigError(Exception):
    """A bad or missing configuration value; the message names the key."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    data_dir: str = "data"
    metrics_token: str = ""
    role: str = "all"
    # after SIGTERM and the drain: how long the parts and resources get to stop before the process
    # gives up on them and exits 1 (a database that stopped answering); under the supervisor's 60 s
    stop_seconds: float = 40.0


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///data/textwire.db"


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str = ""
    auth_token: str = ""
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base: str = "https://api.twilio.com"
    media_hosts: tuple[str, ...] = ("mms.twiliocdn.com", "media.twiliocdn.com")
    timeout_seconds: float = 10.0
    whatsapp_from: str = ""  # e.g. whatsapp:+14155238886; empty: WhatsApp replies use the messaging service
    # kind -> ContentSid, for messages outside WhatsApp's 24-hour window (TEMPLATE_KINDS)
    whatsapp_templates: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TelegramConfig:
    bot_token: str = ""  # empty: the Telegram channel is off (/telegram/webhook 404)
    webhook_secret: str = ""  # required with a token: X-Telegram-Bot-Api-Secret-Token
    api_base: str = "https://api.telegram.org"
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class XConfig:
    client_id: str = ""
    client_secret: str = ""
    api_base: str = "https://api.x.com"
    authorize_url: str = "https://x.com/i/oauth2/authorize"
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class MediaConfig:
    backend: str = "local"
    local_dir: str = "data/media"
    max_bytes: int = 5_242_880
    max_items: int = 10
    max_pixels: int = 40_000_000
    decode_concurrency: int = 2
    ocr: bool = True  # read receipt totals (bot/ocr); off: amounts come from captions and \AMOUNT
    ocr_concurrency: int = 1
    retention_days: int = 0  # receipt photos older than this are deleted from the store; 0: kept


@dataclass(frozen=True)
class S3Config:
    bucket: str = ""
    endpoint_url: str = ""
    public_endpoint_url: str = ""
    region: str = "us-east-1"
    server_side_encryption: str = "AES256"
    kms_key_id: str = ""


@dataclass(frozen=True)
class SecurityConfig:
    fernet_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class LimitsConfig:
    per_sender_per_minute: int = 30


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = 128
    max_attempts: int = 5
    outage_retry_hours: float = 24.0
    send_retry_hours: float = 1.0
    poll_seconds: float = 1.0
    retry_base_seconds: float = 2.0


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"
    format: str = "auto"


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    twilio: TwilioConfig = field(default_factory=TwilioConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    x: XConfig = field(default_factory=XConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    s3: S3Config = field(default_factory=S3Config)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    log: LogConfig = field(default_factory=LogConfig)

    @property
    def dev_mode(self) -> bool:
        """Development mode: no Twilio auth token configured (SPEC, Clarifications)."""
        return not self.twilio.auth_token

    @property
    def data_dir(self) -> Path:
        return Path(self.server.data_dir)

    @property
    def public_base(self) -> str:
        return self.server.public_url.rstrip("/")


ROLES = ("all", "web", "worker")
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_TELEGRAM_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")  # `123456789:AAH...`: the bot's id, then its secret
_CREDENTIALS = (  # used as they are in headers and signatures
    ("server", "metrics_token"),
    ("twilio", "account_sid"),
    ("twilio", "auth_token"),
    ("telegram", "bot_token"),
    ("x", "client_id"),
    ("x", "client_secret"),
)
_WHATSAPP_ADDRESS = re.compile(r"whatsapp:\+[1-9][0-9]{6,14}")
# what Twilio sends SMS from: a number in E.164, a short code, or an alphanumeric sender ID (up to
# 11 letters, digits and spaces, one letter at least); `+1 555 123 4567` or `5551234567` had
# every reply refused by Twilio, with nothing said at start-up
_SMS_FROM = re.compile(
    r"\+[1-9][0-9]{6,14}|[0-9]{3,8}|(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9][A-Za-z0-9 ]{0,10}"
)
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
# Twilio's ids: two letters of kind, 32 hex digits (a webhook whose AccountSid is not this one is
# refused 400: a mistyped account_sid refused every text, with nothing said at start-up)
_TWILIO_SIDS = (
    ("account_sid", re.compile(r"AC[0-9a-fA-F]{32}")),
    ("messaging_service_sid", re.compile(r"MG[0-9a-fA-F]{32}")),
)
# the messages that are not answers, which WhatsApp lets through outside its 24-hour window only
# as templates: the payee's \PAID notice, "Connected @handle", the relink notice, reminders and
# statements
TEMPLATE_KINDS = ("paid", "connected", "relink", "reminder", "statement")
# keys that went away, with what replaced them
RETIRED = {("worker", "enabled"): "replaced by server.role: 'web' takes webhooks and runs no worker"}

_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("server", "role"): ROLES,
    ("media", "backend"): ("local", "s3"),
    ("log", "format"): ("auto", "json", "console"),
    ("log", "level"): ("debug", "info", "warning", "error", "critical"),
    ("s3", "server_side_encryption"): ("AES256", "aws:kms", ""),
}


def _cast(key: str, hint: Any, value: Any, *, from_env: bool) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
        if (
            from_env
            and isinstance(value, str)
            and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off")
        ):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if from_env and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_env and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if typing.get_origin(hint) is tuple:
        if from_env and isinstance(value, str):
            if value.strip().startswith("[") and value.strip().endswith("]"):
                # config.toml's list copied into an env file: read as hosts, it crashed start-up
                # with a traceback (exit 1: restarted in a loop). Not echoed: it may be keys.
                raise ConfigError(
                    f"{key}: a list here is comma-separated, without brackets or quotes: {key}=first,second"
                )
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
    if typing.get_origin(hint) is dict:
        if from_env and isinstance(value, str):  # kind=HX...,kind2=HX...
            pairs: dict[str, Any] = {}
            for part in (p.strip() for p in value.split(",")):
                if not part:
                    continue
                name, equals, item = part.partition("=")
                if not equals or not name.strip():
                    raise ConfigError(f"{key}: expected name=value pairs separated by commas, got {part!r}")
                pairs[name.strip()] = item.strip()
            value = pairs
        if isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            return dict(value)
        raise ConfigError(f"{key}: expected a table of strings, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {hint!r}")  # pragma: no cover - a programming error


def _section_types() -> dict[str, type[Any]]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")
# botocore's rules for a bucket (botocore.handlers VALID_BUCKET, VALID_S3_ARN: an access point)
_S3_BUCKET = re.compile(r"[a-zA-Z0-9.\-_]{1,255}")
_S3_ARN = re.compile(
    r"^arn:(aws).*:(s3|s3-object-lambda):[a-z\-0-9]*:[0-9]{12}:accesspoint[/:][a-zA-Z0-9\-.]{1,63}$"
    r"|^arn:(aws).*:s3-outposts:[a-z\-0-9]+:[0-9]{12}:outpost[/:][a-zA-Z0-9\-]{1,63}[/:]accesspoint[/:]"
    r"[a-zA-Z0-9\-]{1,63}$"
)
_S3_REGION = re.compile(r"(?![0-9]+$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)")  # botocore's validate_region_name
_S3_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"  # botocore's rule for an endpoint's host: no "_"
_S3_HOST_NAME = re.compile(rf"{_S3_LABEL}(\.{_S3_LABEL})*\.?")


_USERINFO_PASSWORD = re.compile(r"(//[^/?#@:]*:)[^/?#]*@")  # to the last @: a password may hold one


def _check_url(key: str, value: str) -> None:
    """An http(s) URL that its client (aiohttp and yarl, botocore for S3) takes as it is: a host
    name, an IPv4 address or an [IPv6] address, a port of 1-65535 when one is given, no spaces. A
    bad port or host passed a scheme-and-netloc check, then crashed the server later with a
    traceback."""
    s3 = key.startswith("s3.")
    shown = _USERINFO_PASSWORD.sub(r"\1***@", value)  # an error names the URL, never a password in it
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:  # unbalanced brackets, not an IPv6 address between them
        raise ConfigError(
            f"{key}: expected an http(s) URL such as https://host.example, got {shown!r}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key}: expected an http(s) URL, got {shown!r}")
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port == 0:
        raise ConfigError(f"{key}: the port must be a number 1-65535, got {shown!r}")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ConfigError(f"{key}: a URL has no spaces or control characters, got {shown!r}")
    if "[" in parts.netloc:
        valid = ":" in host  # urlsplit has checked the address between the brackets
    else:
        if s3:  # botocore refuses "_" and anything but ASCII in an endpoint's host
            valid = bool(_S3_HOST_NAME.fullmatch(host))
        else:
            try:  # yarl takes an international name: its ASCII form must be a host name
                valid = bool(_HOST_NAME.fullmatch(host.encode("idna").decode("ascii")))
            except UnicodeError:
                valid = False
    if not valid:
        chars = "letters, digits, '-'" if s3 else "letters, digits, '-', '_'"
        raise ConfigError(
            f"{key}: the host {host!r} is neither a name ({chars}, dot-separated) nor an IP address"
            f" (IPv6 in brackets), got {shown!r}"
        )


def _check_media_hosts(hosts: tuple[str, ...]) -> None:
    """Each entry a host or host:port, as redirects are matched against them: a URL
    (`https://mms.twiliocdn.com`) matched no redirect, so every photo was refused as "not from
    Twilio" while start-up said nothing. None at all refused every photo the same way (Twilio's
    media URLs answer with a redirect to its CDN), also in silence."""
    if not hosts:
        raise ConfigError(
            "twilio.media_hosts: empty, so every photo would be refused (Twilio's media URLs redirect"
            " to these hosts): remove the key for the default, mms.twiliocdn.com and media.twiliocdn.com"
        )
    for entry in hosts:
        try:
            parts = urlsplit(f"//{entry.strip()}")
            host = parts.hostname or ""
            port = parts.port
        except ValueError:  # a port not a number or above 65535, brackets that hold no address
            parts, host, port = urlsplit(""), "", 0
        if parts.netloc != entry.strip() or "@" in entry or port == 0 or not _HOST_NAME.fullmatch(host):
            raise ConfigError(
                f"twilio.media_hosts: each entry is a host name or host:port, no scheme or path"
                f" (mms.twiliocdn.com), got {entry!r}"
            )


def _check_port(port: int) -> None:
    if not (0 < port < 65536):
        raise ConfigError(f"server.port: expected 1-65535, got {port}")


def _validate_numbers(config: Config) -> None:
    """Every decimal setting (timeouts, the worker's poll and retry times) is a finite number above
    0. NaN and infinity pass float(), then crash the tasks that sleep on them (the process stays up
    and /readyz says 200); 0 or less is a busy loop (poll, retry delay), a timeout that fails every
    request, or a reply dropped at its first failure (the retry windows). No decimal setting
    documents 0 as a value of its own (whole-number ones do: media.retention_days)."""
    for section in dataclasses.fields(config):
        body = getattr(config, section.name)
        hints = typing.get_type_hints(type(body))
        for item in dataclasses.fields(body):
            value = getattr(body, item.name)
            if hints[item.name] is float and not (math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"{section.name}.{item.name}: expected a finite number above 0"
                    f" (default {getattr(type(body), item.name)!r}), got {value!r}"
                )


def _validate(config: Config) -> None:
    for (section, key), choices in _CHOICES.items():
        value = getattr(getattr(config, section), key)
        if value not in choices:
            raise ConfigError(
                f"{section}.{key}: must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )
    for section, key in (
        ("server", "public_url"),
        ("twilio", "api_base"),
        ("telegram", "api_base"),
        ("x", "api_base"),
        ("x", "authorize_url"),
        ("s3", "endpoint_url"),  # these two may be empty (AWS; presigned URLs use endpoint_url)
        ("s3", "public_endpoint_url"),
    ):
        value = getattr(getattr(config, section), key)
        if value or section != "s3":
            _check_url(f"{section}.{key}", value)
    _check_media_hosts(config.twilio.media_hosts)
    public = urlsplit(config.server.public_url)
    if "@" in public.netloc:
        # every link texted to people and the start-up log are built from it: a user name and
        # password there went to every phone and into the log
        raise ConfigError(
            "server.public_url: no user name or password in it (every link texted to people is"
            " built from it): the scheme, host and port only (https://sms.example.com)"
        )
    if public.path.rstrip("/") or public.query or public.fragment:
        # every route (webhooks, links, X's redirect_uri) is at the root of this URL: a path made
        # each of them a 404 while start-up said nothing
        raise ConfigError(
            "server.public_url: the scheme, host and port only, no path or query"
            f" (https://sms.example.com), got {config.server.public_url!r}"
        )
    _check_port(config.server.port)
    url = config.database.url
    if not (url.startswith("sqlite:///") or is_postgres(url)):
        raise ConfigError(
            f"database.url: expected sqlite:///... or postgresql://user:pass@host:5432/db, got {mask_url(url)!r}"
        )
    if is_postgres(url) and unencoded_password(url):
        raise ConfigError(f"database.url: {PERCENT_ENCODE}, got {mask_url(url)!r}")
    if url.startswith("sqlite:///") and url[len("sqlite:///") :].split("?")[0] in ("", ":memory:"):
        raise ConfigError(
            f"database.url: a SQLite database is a file, e.g. sqlite:////var/lib/textwire/textwire.db, got {url!r}"
        )
    if config.s3.region and not _S3_REGION.fullmatch(config.s3.region):
        # botocore's rule: "US East (N. Virginia)" or us_east_1 crashed start-up with a traceback
        raise ConfigError(
            f"s3.region: a region code such as us-east-1 (letters, digits and '-'), got {config.s3.region!r}"
        )
    sqlite_file = url[len("sqlite:///") :].split("?")[0] if url.startswith("sqlite:///") else ""
    for key, path in (
        ("server.data_dir", config.server.data_dir),
        ("database.url", sqlite_file),
        ("media.local_dir", config.media.local_dir),
    ):
        if "\0" in path:
            # no file system takes it: the first folder made or file opened there ended start-up
            # (and every command) with a traceback, "ValueError: embedded null byte"
            raise ConfigError(f"{key}: a path has no NUL character (\\u0000) in it, got {path!r}")
        if path.startswith("~"):
            # no shell reads it: `data_dir = "~/textwire"` made a folder named "~" in the working
            # folder (the start-up block said "~/textwire/textwire.db"), one `rm -rf ~` from the
            # operator's home
            raise ConfigError(
                f"{key}: {path!r} begins with ~, which is not the home folder here (a folder named ~"
                " would be made in the working folder): write the whole path, e.g. /home/you/textwire"
            )
    if config.media.backend == "local" and not config.media.local_dir.strip():
        # Path(""): the photos, and /readyz's probe file, went to the working folder
        raise ConfigError(
            "media.local_dir: empty: leave the key out for {server.data_dir}/media, or write . for the"
            " working folder"
        )
    if config.media.backend == "s3" and not config.s3.bucket:
        raise ConfigError("s3.bucket: required when media.backend is 's3'")
    if config.s3.bucket and not (_S3_BUCKET.fullmatch(config.s3.bucket) or _S3_ARN.search(config.s3.bucket)):
        # botocore refuses it in every request (ParamValidationError): start-up said the bucket
        # "cannot be reached" and photos "wait until it works", which they never did
        raise ConfigError(
            "s3.bucket: the bucket's name alone (letters, digits, '.', '-' and '_'), no s3:// and no"
            f" folder in it, got {config.s3.bucket!r}"
        )
    if config.s3.server_side_encryption == "aws:kms" and not config.s3.kms_key_id:
        raise ConfigError("s3.kms_key_id: required when s3.server_side_encryption is 'aws:kms'")
    for section, key in (
        ("media", "max_bytes"),
        ("media", "max_items"),
        ("media", "max_pixels"),
        ("media", "decode_concurrency"),
        ("media", "ocr_concurrency"),
        ("limits", "per_sender_per_minute"),
        ("worker", "concurrency"),
        ("worker", "max_attempts"),
    ):
        if getattr(getattr(config, section), key) < 1:
            raise ConfigError(f"{section}.{key}: must be at least 1")
    _validate_numbers(config)
    if config.media.retention_days < 0:
        raise ConfigError("media.retention_days: 0 keeps receipt photos; else a number of days")
    if config.twilio.auth_token and not (config.twilio.from_number or config.twilio.messaging_service_sid):
        raise ConfigError("twilio.from_number: set it or twilio.messaging_service_sid to send replies")
    if config.twilio.auth_token and not config.twilio.account_sid:
        raise ConfigError("twilio.account_sid: required when twilio.auth_token is set")
    for key, sid in _TWILIO_SIDS:
        value = getattr(config.twilio, key)
        if value and not sid.fullmatch(value):
            kind = sid.pattern[:2]
            raise ConfigError(
                f"twilio.{key}: expected {kind} and 32 hex digits, as Twilio's console shows it "
                f"(got {len(value)} characters{', starting ' + value[:2] if value[:2] != kind else ''})"
            )
    from_number = config.twilio.from_number
    if from_number and not _SMS_FROM.fullmatch(from_number):
        typed = re.sub(r"[\s().-]", "", from_number)
        hint = f"; write it as {typed}" if re.fullmatch(r"\+[1-9][0-9]{6,14}", typed) else ""
        raise ConfigError(
            "twilio.from_number: expected the number in E.164 (e.g. +14155551234), a short code or an"
            f" alphanumeric sender ID, got {from_number!r}{hint}"
        )
    whatsapp_from = config.twilio.whatsapp_from
    if whatsapp_from and not _WHATSAPP_ADDRESS.fullmatch(whatsapp_from):
        raise ConfigError(
            f"twilio.whatsapp_from: expected whatsapp:+E164 (e.g. whatsapp:+14155238886), got {whatsapp_from!r}"
        )
    for kind, content_sid in config.twilio.whatsapp_templates.items():
        if kind not in TEMPLATE_KINDS:
            raise ConfigError(
                f"twilio.whatsapp_templates: unknown kind {kind!r}; the kinds are {', '.join(TEMPLATE_KINDS)}"
            )
        if not _CONTENT_SID.fullmatch(content_sid):
            raise ConfigError(
                f"twilio.whatsapp_templates.{kind}: expected a ContentSid (HX and 32 hex digits)"
            )
    if config.telegram.bot_token and not config.telegram.webhook_secret:
        raise ConfigError(
            "telegram.webhook_secret: required when telegram.bot_token is set"
            " (set TEXTWIRE_TELEGRAM_WEBHOOK_SECRET to a long random string)"
        )
    for section, key in _CREDENTIALS:
        value = getattr(getattr(config, section), key)
        if value and (value != value.strip() or not value.isprintable()):
            # a line break or a space at an end (an env file's, a file read into a variable) is
            # in no header nor in the credential itself: with it the Twilio token failed every
            # webhook's signature (403) and every send, the metrics token every scrape, and the
            # health check died with a traceback
            raise ConfigError(
                f"{section}.{key}: has a line break, a control character or a space at either end:"
                f" set {ENV_PREFIX}{section.upper()}_{key.upper()} to the value alone"
            )
    token = config.telegram.bot_token
    if token and not _TELEGRAM_TOKEN.fullmatch(token):
        # in the path of every Bot API call: a URL or a "bot" copied with it started in silence,
        # and every reply and photo download then failed. Never echoed: it is the bot's password.
        hint = ", without the 'bot' in front" if token.lower().startswith("bot") else ""
        raise ConfigError(
            "telegram.bot_token: expected the token as BotFather gives it, the bot's number, ':' and"
            f" letters, digits, '-' or '_' (123456789:AAH...){hint}; got {len(token)} characters"
        )
    secret = config.telegram.webhook_secret
    if secret and not _TELEGRAM_SECRET.fullmatch(secret):
        raise ConfigError(
            "telegram.webhook_secret: 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)"
        )


def _unknown_env(name: str, known: Mapping[str, tuple[str, str]]) -> str:
    """`TEXTWIRE_SERVER_PROT: unknown setting; did you mean TEXTWIRE_SERVER_PORT?`"""
    retired = {f"{ENV_PREFIX}{s.upper()}_{k.upper()}": hint for (s, k), hint in RETIRED.items()}
    if name in retired:
        return f"{name}: unknown setting ({retired[name]})"
    names = [*known, *(NOT_KEYS - COMPOSE_VARIABLES)]  # TEXTWIRE_PROT is no mistyped TEXTWIRE_PORT
    # by the upper-case name: TEXTWIRE_SERVER_port is TEXTWIRE_SERVER_PORT typed in the wrong case
    # (compared as typed, it was nearest TEXTWIRE_SERVER_ROLE)
    upper = name.upper()
    close = [upper] if upper in names else difflib.get_close_matches(upper, names, n=1, cutoff=0.8)
    if close:
        return f"{name}: unknown setting; did you mean {close[0]}?"
    return f"{name}: unknown setting; TEXTWIRE_<SECTION>_<KEY> must name a key of config.toml"


def _unknown_in_file(section: str, key: str | None) -> str:
    """What a name config.toml does not know was meant to be, when that is clear: a key typed
    another way (`public-url`, `authToken`: "; did you mean server.public_url?"), a key in
    another section (`[media] bucket`: s3.bucket), a section's name in capitals (`[Server]`), or a
    key above every section (`port = 8080` before `[server]`). Before, the line named the key and
    nothing more, while a mistyped TEXTWIRE_* variable got its "did you mean"."""
    keys = {s: list(typing.get_type_hints(cls)) for s, cls in _section_types().items()}

    def norm(name: str) -> str:
        return name.lower().replace("-", "_").replace(" ", "_")

    if key is None:  # an unknown section, or a key outside any section
        owners = [s for s, names in keys.items() if norm(section) in names]
        if len(owners) == 1:
            return f": put it under [{owners[0]}] ({owners[0]}.{norm(section)})"
        close = difflib.get_close_matches(norm(section), list(keys), n=1, cutoff=0.75)
        return f"; did you mean [{close[0]}]?" if close else f"; the sections are {', '.join(keys)}"
    wanted = norm(key)
    if wanted in keys[section]:
        return f"; did you mean {section}.{wanted}?"
    squashed = {name.replace("_", ""): name for name in keys[section]}
    if wanted.replace("_", "") in squashed:  # authtoken, publicUrl
        return f"; did you mean {section}.{squashed[wanted.replace('_', '')]}?"
    elsewhere = [s for s, names in keys.items() if wanted in names]
    if elsewhere:
        return f"; did you mean {elsewhere[0]}.{wanted}? (under [{elsewhere[0]}])"
    close = difflib.get_close_matches(wanted, keys[section], n=1, cutoff=0.75)
    if close:
        return f"; did you mean {section}.{close[0]}?"
    return f"; [{section}] has {', '.join(keys[section])}"


def _service_links(env: Mapping[str, str]) -> dict[str, str]:
    """The variables Kubernetes set for Services named `textwire` or `textwire-*` (see
    _SERVICE_HOST), each with its Service's name."""
    links: dict[str, str] = {}
    for name in env:
        match = _SERVICE_HOST.fullmatch(name)
        if match is None:
            continue
        prefix = match.group(1)
        if f"{prefix}_SERVICE_PORT" not in env or f"{prefix}_PORT" not in env:
            continue  # Kubernetes sets all three: one alone is a mistyped setting
        group = re.compile(
            rf"{prefix}_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?"
            r"|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_PROTO|_PORT|_ADDR)?)?)"
        )
        service = prefix.lower().replace("_", "-")
        links.update({other: service for other in env if group.fullmatch(other)})
    return links


def _read_config_file(file_path: Path, *, explicit: bool) -> str | None:
    """The file's text; None for a missing default ./config.toml (built-in defaults). A folder, a
    file that is not UTF-8 or cannot be read is a ConfigError naming the file, not a traceback."""
    try:
        data = file_path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        if explicit:
            raise ConfigError(f"config file {file_path} does not exist") from None
        return None
    except IsADirectoryError:
        raise ConfigError(
            f"config file {file_path} is a folder: give the file, e.g. --config {file_path / 'config.toml'}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {file_path} cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{file_path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): save it as UTF-8"
        ) from None


def _refuse_quotes(name: str, value: str) -> None:
    """A value in quotes, as a systemd EnvironmentFile or a shell takes it (`KEY="value"`):
    `docker run --env-file` keeps the quotes as part of the value, so a quoted Twilio auth token
    failed every webhook's signature (403) and a quoted sender every send, with nothing said at
    start-up. The value is not shown: it may be a secret."""
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        raise ConfigError(
            f"{name}: the value is in quotes, which `docker run --env-file` keeps as part of it:"
            f" write {name}=value without them"
        )


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the file (a missing default ./config.toml means built-in defaults), then the environment."""
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("TEXTWIRE_CONFIG"))
    file_path = Path(path if path is not None else env.get("TEXTWIRE_CONFIG") or "config.toml")
    raw: dict[str, Any] = {}
    text = _read_config_file(file_path, explicit=explicit)
    if text is not None:
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_path}: not valid TOML: {exc}") from None

    sections = _section_types()
    values: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for section, body in raw.items():
        if section not in sections and not isinstance(body, dict):
            raise ConfigError(
                f"{section}: a key outside any section in {file_path}{_unknown_in_file(section, None)}"
            )
        if section not in sections:
            raise ConfigError(f"{section}: unknown section in {file_path}{_unknown_in_file(section, None)}")
        if not isinstance(body, dict):
            raise ConfigError(f"{section}: expected a table")
        hints = typing.get_type_hints(sections[section])
        for key, value in body.items():
            if key not in hints:
                hint = RETIRED.get((section, key))
                raise ConfigError(
                    f"{section}.{key}: unknown key in {file_path}"
                    + (f" ({hint})" if hint else _unknown_in_file(section, key))
                )
            values[section][key] = _cast(f"{section}.{key}", hints[key], value, from_env=False)

    known = {
        f"{ENV_PREFIX}{s.upper()}_{k.upper()}": (s, k)
        for s, cls in sections.items()
        for k in typing.get_type_hints(cls)
    }
    # an empty variable is not set (`TEXTWIRE_DATABASE_URL=`, as deploy/env.example ships them):
    # the key keeps its value from the file or its default. No key documents an empty value that
    # differs from its default; one that must be empty on purpose is set so in config.toml.
    env = {name: value for name, value in env.items() if not (name in known and not value.strip())}
    links = _service_links(env)
    for name, value in env.items():
        if name in known:
            section, key = known[name]
            _refuse_quotes(name, value)
            hint = typing.get_type_hints(sections[section])[key]
            try:
                values[section][key] = _cast(name, hint, value, from_env=True)
            except ConfigError:
                if name not in links:
                    raise
                # a Service named textwire-server: its TEXTWIRE_SERVER_PORT is tcp://10.96.1.2:8080
                raise ConfigError(
                    f"{name}: set by Kubernetes to the address of a Service named {links[name]}, not"
                    " a setting: rename the Service, or set enableServiceLinks: false in the pod spec"
                ) from None
        elif name in links:
            continue
        elif name.startswith(ENV_PREFIX) and name not in NOT_KEYS and not name.startswith(TEST_PREFIX):
            raise ConfigError(_unknown_env(name, known))

    # the public URL follows where the server listens unless it is set (in the file to something
    # other than the default, or in the environment): `TEXTWIRE_SERVER_PORT=9000` alone must not
    # leave `textwire chat` and the signatures pointing at port 8080
    server = values["server"]
    if server.get("public_url", ServerConfig.public_url) == ServerConfig.public_url and (
        f"{ENV_PREFIX}SERVER_PUBLIC_URL" not in env
    ):
        given = str(server.get("host", ServerConfig.host))
        host = "127.0.0.1" if given in ("", "0.0.0.0") else "::1" if given == "::" else given  # noqa: S104
        shown = f"[{host}]" if ":" in host else host
        port = server.get("port", ServerConfig.port)
        # a bad port or host is the operator's server.port or server.host, never the URL made of
        # them: "server.public_url: the port must be a number 1-65535" named a key they never set
        _check_port(port)
        server["public_url"] = f"http://{shown}:{port}"
        try:
            _check_url("server.public_url", server["public_url"])
        except ConfigError:
            raise ConfigError(
                f"server.host: expected a host name or an IP address (127.0.0.1, or 0.0.0.0 for every"
                f" interface), got {given!r}"
            ) from None

    # the SQLite file and the local media live under the data folder unless they are set
    if not str(values["server"].get("data_dir", ServerConfig.data_dir)).strip():
        # the keys and media went to the working folder (Path("")) and the database to
        # /textwire.db, the root of the file system
        raise ConfigError("server.data_dir: empty: write . for the working folder, or the folder's path")
    data_dir = str(values["server"].get("data_dir", ServerConfig.data_dir)).rstrip("/") or "/"
    values["database"].setdefault("url", f"sqlite:///{data_dir}/textwire.db")
    values["media"].setdefault("local_dir", str(Path(data_dir) / "media"))

    built = Config(**{name: cls(**values[name]) for name, cls in sections.items()})
    _validate(built)
    if "security" in raw and raw["security"].get("fernet_keys"):
        raise ConfigError(
            "security.fernet_keys: keep keys out of config.toml; set TEXTWIRE_SECURITY_FERNET_KEYS"
        )
    return built


def replace(config: Config, **sections: Mapping[str, Any]) -> Config:
    """A copy of `config` with some keys of some sections changed (tests and the chat command)."""
    changes = {
        name: dataclasses.replace(getattr(config, name), **dict(body)) for name, body in sections.items()
    }
    return dataclasses.replace(config, **changes)


__all__ = [
    "ROLES",
    "TEMPLATE_KINDS",
    "Config",
    "ConfigError",
    "DatabaseConfig",
    "LimitsConfig",
    "LogConfig",
    "MediaConfig",
    "S3Config",
    "SecurityConfig",
    "ServerConfig",
    "TelegramConfig",
    "TwilioConfig",
    "WorkerConfig",
    "XConfig",
    "load_config",
    "replace",
]
