"""Development mode: secrets generated once into the data folder, with a loud warning."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from bot.core.config import Config

DEV_TOKEN_FILE = "dev-twilio-token"  # noqa: S105 - a file name, not a secret


def write_secret_file(path: Path, value: str) -> bool:
    """Create `path` with mode 0600 holding `value`, unless it exists. True when created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return True


def twilio_auth_token(config: Config) -> tuple[str, bool]:
    """The auth token signatures are checked with: configured, or the development one (generated
    into `{data_dir}/dev-twilio-token` on first use). The flag says it was just generated."""
    if config.twilio.auth_token:
        return config.twilio.auth_token, False
    path = config.data_dir / DEV_TOKEN_FILE
    created = write_secret_file(path, secrets.token_hex(16))
    return path.read_text(encoding="utf-8").strip(), created
