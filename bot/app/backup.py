"""`textwire backup PATH`: a consistent copy of the SQLite database while the server runs.

Never copy a live SQLite file (the WAL holds committed pages the main file does not have yet):
SQLite's online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot through a
read transaction, which in WAL mode never blocks the server's writers. It runs in a thread, so no
event loop waits on it. The copy is written next to PATH and renamed into place only after it
passed `PRAGMA integrity_check`, so PATH is either the old file or a whole new copy.

PostgreSQL has its own tool (`pg_dump`); nothing here prints a database URL (it may hold a password).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.app.startup import sqlite_file_exists
from bot.core.config import Config
from bot.core.errors import StartupError
from storage.db import sqlite_path

SIDECARS = ("-wal", "-shm", "-journal")  # the files SQLite keeps beside a database
PG_HINT = (
    "database.url is PostgreSQL: back it up with pg_dump "
    '(for example `pg_dump --format=custom --file=textwire.dump "$DATABASE_URL"`), '
    "restore with pg_restore"
)


class BackupError(Exception):
    """The backup cannot be made; the message says why and what to do (no secrets)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class BackupResult:
    path: Path
    pages: int
    size: int


def _check(source: Path, path: Path) -> None:
    try:
        there = sqlite_file_exists(source)
    except StartupError as exc:  # a folder or file this user may not read: whose it is
        raise BackupError(str(exc), exit_code=2) from None
    if not there:
        raise BackupError(f"no database at {source}: run `textwire migrate` or `textwire serve` first")
    if path.is_dir():
        if path.resolve() == source.parent.resolve():
            # its example was the live database itself, which the next try was refused for
            today = time.strftime("%Y-%m-%d")
            raise BackupError(
                f"{path} is a folder, the live database's: give the file to write, in another folder "
                f"(a copy beside the database is lost with its disk), e.g. "
                f"/var/backups/textwire/{source.stem}-{today}.db"
            )
        raise BackupError(f"{path} is a folder: give the file to write, e.g. {path / 'textwire.db'}")
    if path.exists() and not path.is_file():
        # `backup /dev/stdout` (to pipe it on) was renamed over the /dev/stdout link: a backup is
        # a file it writes whole and renames into place, never a device, pipe or socket
        raise BackupError(
            f"{path} is not a regular file (a device, pipe or socket): give the file to write, e.g. "
            "textwire.db in a backup folder, and copy or send that file on"
        )
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} does not exist: create the folder first")
    with contextlib.suppress(OSError):
        if path.exists() and path.samefile(source):
            raise BackupError("PATH is the live database itself: choose another file")
    # its -wal holds committed pages the main file does not have yet: a copy written over it
    # (`backup data/textwire.db-wal`) left the running server's database malformed
    for suffix in SIDECARS:
        sidecar = source.with_name(source.name + suffix)
        same = path.resolve() == sidecar.resolve()
        with contextlib.suppress(OSError):
            same = same or (path.exists() and sidecar.exists() and path.samefile(sidecar))
        if same:
            raise BackupError(f"PATH is {sidecar.name}, a file of the live database: choose another file")


@dataclass
class _Interrupt:
    """Ctrl-C while the copy runs in its thread (which cannot be stopped, and ran on to put the
    copy in place under a command that said "KeyboardInterrupt"): the copy is thrown away instead,
    unless it was already in place. The lock makes that one decision."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    asked: bool = False
    done: BackupResult | None = None


# why the copy's folder takes no file, and what to do
_WHY = {
    errno.EROFS: "its folder is on a read-only filesystem; write the backup to a writable one",
    errno.EACCES: "its folder is not writable by this user; check its permissions or choose another folder",
    errno.EPERM: "its folder is not writable by this user; check its permissions or choose another folder",
    errno.ENOSPC: "the disk is full; free some space or choose another disk",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another disk",
}


def _create(tmp: Path, target: Path) -> None:
    """The copy's file, made before SQLite opens it: 0600 from the start (the database holds
    encrypted tokens and phone numbers; made 0644 and changed at the end, it could be read
    meanwhile), and a folder that takes no file is said to be the copy's, not the database's
    (a read-only mount was a traceback, an immutable folder "SQLite could not copy the database:
    unable to open database file")."""
    try:
        tmp.unlink(missing_ok=True)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        why = _WHY.get(exc.errno or 0, exc.strerror or str(exc))
        raise BackupError(f"cannot write {target}: {why}") from None


def _copy(source: Path, target: Path, interrupt: _Interrupt | None = None) -> BackupResult | None:
    """Blocking: run it in a thread. None: interrupted, nothing was written to `target`."""
    interrupt = interrupt or _Interrupt()
    _check(source, target)
    tmp = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _create(tmp, target)
    # read-only: a backup never creates or changes the live database
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(tmp)
        try:
            # one step (pages=-1): one read snapshot, so the copy is of one moment; WAL writers
            # go on meanwhile
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            (verdict,) = dst.execute("PRAGMA integrity_check").fetchone()
            (pages,) = dst.execute("PRAGMA page_count").fetchone()
        finally:
            dst.close()
    except sqlite3.OperationalError as exc:
        tmp.unlink(missing_ok=True)
        if "full" in str(exc):  # "database or disk is full": the copy's disk (the live one is only read)
            raise BackupError(f"cannot write {target}: {_WHY[errno.ENOSPC]}; nothing was written") from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    if verdict != "ok":
        tmp.unlink(missing_ok=True)
        raise BackupError(f"the copy failed PRAGMA integrity_check ({verdict}); nothing was written")
    with interrupt.lock:
        if interrupt.asked:
            tmp.unlink(missing_ok=True)
            return None
        os.replace(tmp, target)
        interrupt.done = BackupResult(path=target, pages=int(pages), size=target.stat().st_size)
    return interrupt.done


async def backup(config: Config, target: str | os.PathLike[str]) -> BackupResult:
    source = sqlite_path(config.database.url)
    if source is None:
        if config.database.url.startswith("postgresql"):
            raise BackupError(PG_HINT, exit_code=2)
        raise BackupError("database.url: only a sqlite:/// file can be backed up here", exit_code=2)
    path = Path(target)
    interrupt = _Interrupt()
    try:
        done = await asyncio.to_thread(_copy, source, path, interrupt)
    except asyncio.CancelledError:  # Ctrl-C: the thread throws its copy away, or it is in place
        with interrupt.lock:
            interrupt.asked = True
            if interrupt.done is None:
                raise
            return interrupt.done
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite could not copy the database: {exc}") from None
    except PermissionError as exc:
        raise BackupError(f"cannot write {exc.filename or path}: check the folder's permissions") from None
    assert done is not None  # None only when interrupted (`asked`), which ends above
    return done


__all__ = ["PG_HINT", "BackupError", "BackupResult", "backup"]
