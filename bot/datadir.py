"""The folders the process writes (data folder, SQLite file's folder, local media) checked once at
start-up, so a volume the process user cannot write gets one line and the fix, not a traceback."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bot.config import Config
from storage.db import sqlite_path


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def unwritable_folder(config: Config) -> str | None:
    """One line naming the key, the folder and the fix; None when every folder is writable."""
    folders: list[tuple[str, Path]] = [("server.data_dir", config.data_dir)]
    db_file = sqlite_path(config.database.url)
    if db_file is not None:
        folders.append(("database.url", db_file.parent))
    if config.media.backend == "local":
        folders.append(("media.local_dir", Path(config.media.local_dir)))
    for key, folder in folders:
        if not _writable(folder):
            uid, gid = os.getuid(), os.getgid()
            return (
                f"{key}: {folder} is not writable by this user (uid {uid}); "
                f"fix: `chown -R {uid}:{gid} {folder.resolve()}` "
                f"(Docker: `docker run --rm -u 0 -v VOLUME:/data --entrypoint chown IMAGE -R {uid}:{gid} /data`)"
            )
    return None


__all__ = ["unwritable_folder"]
