"""Development mode: secrets generated once into the data folder, with a loud warning."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from bot.core.config import Config
from bot.core.errors import StartupError

DEV_TOKEN_FILE = "dev-twilio-token"  # noqa: S105 - a file name, not a secret
_MADE_HERE: set[Path] = set()  # the secret files this process created (write_secret_file)


def write_secret_file(path: Path, value: str) -> bool:
    """Create `path` with mode 0600 holding `value`, unless it holds one already. True when created.

    The file appears whole or not at all (written aside, then linked into place): created first
    and written after, a full disk or a kill in between left it empty, and every later start read
    the empty string as the secret (an empty link-signing key signs links anyone can make). Such
    an empty file is replaced. A write that fails (a full disk) is a StartupError, one line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if holds_a_secret(path):
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # never over a file another process has just made
        except FileExistsError:
            if holds_a_secret(path):
                return False
            os.replace(tmp, path)  # empty: it never held a secret
    except OSError as exc:
        raise StartupError(
            f"cannot write {path} ({exc.strerror or type(exc).__name__}): free space in "
            "server.data_dir or set server.data_dir or TEXTWIRE_SERVER_DATA_DIR"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    _MADE_HERE.add(path)
    return True


def made_here(path: Path) -> bool:
    """Whether this process created `path` with write_secret_file: two processes started at once
    on a new data folder both found it missing, and both said they had generated it."""
    return path in _MADE_HERE


def holds_a_secret(path: Path) -> bool:
    try:
        return bool(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        return False


def twilio_auth_token(config: Config) -> tuple[str, bool]:
    """The auth token signatures are checked with: configured, or the development one (generated
    into `{data_dir}/dev-twilio-token` on first use). The flag says it was just generated."""
    if config.twilio.auth_token:
        return config.twilio.auth_token, False
    path = config.data_dir / DEV_TOKEN_FILE
    created = write_secret_file(path, secrets.token_hex(16))
    return path.read_text(encoding="utf-8").strip(), created
