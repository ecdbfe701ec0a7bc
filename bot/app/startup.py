"""Start-up: what can stop it (one line that names the problem and the fix), the listening
sockets (bound before anything starts), and the block that says where it listens and what next.

Anything during start-up raises `StartupError("what is wrong: how to fix it")`; `textwire serve`
prints that one line (a JSON event when logs are JSON) and exits with 2, without a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import pwd
import re
import shlex
import shutil
import socket
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot.core.channel import WHATSAPP
from bot.core.config import Config
from bot.core.dburl import DatabaseUnreachable, mask_url
from bot.core.devmode import DEV_TOKEN_FILE, made_here
from bot.core.errors import StartupError
from bot.core.logs import get_logger
from bot.gateway.routes import READY_CHECK_SECONDS
from storage import pairing
from storage.db import Database, open_database, sqlite_path
from storage.media import AccessDenied, BucketNotFound, unusable, why

log = get_logger(__name__)

# How long `serve` waits at start-up for a database that does not answer yet (a PostgreSQL that
# boots after textwire, a failover), trying again after 1, 2, 4, 5, 5, ... s.
DB_WAIT_SECONDS = 30.0

# -- folders ---------------------------------------------------------------------------------------


def check_writable(path: Path, key: str, env: str) -> None:
    """Create `path` if needed (0700: it holds the database and the keys) and write a file in it;
    else one line that says what is wrong (cannot create, not a folder, not writable, read-only
    or full) and the fix for that case."""
    if path.exists() and not path.is_dir():
        raise StartupError(
            f"{key} {path} is not a folder (a file is in the way): move that file away, "
            f"or set {key} or {env} to a folder"
        )
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            problem = f"cannot be created: {blocker} is a file, not a folder"
            fix = f"move {blocker} away"
        elif exc.errno in (errno.EROFS, errno.ENOSPC):
            problem = f"cannot be created: {os.strerror(exc.errno or 0).lower()}"
            fix = "free the disk or mount it writable"
        else:
            parent = next((p for p in path.parents if p.exists()), path.parent)
            problem = f"cannot be created: {parent} is not writable by this user (uid {os.getuid()}{_owner(parent)})"
            fix = f"create it (mkdir -p {path}; chown {os.getuid()} {path})"
        raise StartupError(f"{key} {path} {problem}: {fix}, or set {key} or {env}") from None
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".textwire-write-check-"):
            pass
    except OSError as exc:
        owner = _owner(path)
        problem = {
            errno.EROFS: "is on a read-only filesystem",
            errno.ENOSPC: "is on a full disk",
        }.get(exc.errno or 0, f"is not writable by this user (uid {os.getuid()}{owner})")
        fix = {
            errno.EROFS: "mount it writable",
            errno.ENOSPC: "free some space",
        }.get(exc.errno or 0, f"make it writable (e.g. chown {os.getuid()} {path})")
        raise StartupError(f"{key} {path} {problem}: {fix} or set {key} or {env}") from None


def _owner(path: Path) -> str:
    for candidate in (path, *path.parents):
        try:
            uid = candidate.stat().st_uid
        except OSError:
            continue
        return f"; {candidate} belongs to uid {uid}" if uid != os.getuid() else ""
    return ""


def _owner_uid(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        try:
            return candidate.stat().st_uid
        except OSError:
            continue
    return None


def not_readable(path: Path, key: str, env: str) -> StartupError:
    """One line for a file in a folder this user may not enter or read: the service's data folder
    (0700, its user's) with `textwire person`, `backup` or `chat` run as another user (a login
    user, or root without root's powers) was a PermissionError traceback."""
    uid = _owner_uid(path)
    if uid is not None and uid != os.getuid():
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = f"'#{uid}'"
        fix = f"run it as {name}, the folder's owner (sudo -u {name} textwire ...)"
    else:
        fix = f"make it readable (chmod u+rwx {path.parent})"
    return StartupError(
        f"{key} {path} cannot be read by this user (uid {os.getuid()}{_owner(path)}): {fix}, or set {key} or {env}"
    )


def sqlite_file_exists(path: Path) -> bool:
    """Whether the SQLite file is there, for the commands that never make one; a folder this user
    may not enter is one line (`not_readable`), and so is a file it may not read. Asked with
    access(2), not by opening it: closing the file would drop this process's locks on it."""
    try:
        if not path.exists():
            return False
        readable = os.access(path, os.R_OK, effective_ids=True)
    except PermissionError:
        readable = False
    if not readable:
        raise not_readable(path, "database.url", "TEXTWIRE_DATABASE_URL")
    return True


def check_folders(config: Config) -> None:
    """The data folder, the SQLite file's folder and the local media folder take writes."""
    check_writable(config.data_dir, "server.data_dir", "TEXTWIRE_SERVER_DATA_DIR")
    check_database_folder(config)
    if config.media.backend == "local":
        check_writable(Path(config.media.local_dir), "media.local_dir", "TEXTWIRE_MEDIA_LOCAL_DIR")


def check_database_folder(config: Config) -> None:
    """The SQLite file's folder takes writes (nothing for PostgreSQL): all `textwire migrate`
    needs. It checked the data and media folders too, so a migration on PostgreSQL from a host or
    job without them (a read-only file system, S3 media) stopped on a folder it never uses."""
    db_file = sqlite_path(config.database.url)
    if db_file is None:
        return
    if db_file.parent.resolve() == config.data_dir.resolve():
        check_writable(config.data_dir, "server.data_dir", "TEXTWIRE_SERVER_DATA_DIR")
    else:
        check_writable(db_file.parent, "database.url", "TEXTWIRE_DATABASE_URL")


def check_writable_files(db_file: Path) -> None:
    """The SQLite file and its -wal and -shm, where they exist, open for writing. One another
    user owns (a backup restored as root into the data folder or the container's volume) was
    opened read-only by SQLite, or not at all (0600, as `docker cp` leaves a restored copy), and
    start-up stopped on "cannot connect (attempt to write a readonly database): check that the
    database runs and is reachable" or "cannot open ...: check the path", no word of whose file.
    Asked of the kernel (access(2), as this process's user), not by opening them: closing a file
    of SQLite's drops every lock this process holds on it, a live connection's too."""
    for path in (db_file, db_file.with_name(f"{db_file.name}-wal"), db_file.with_name(f"{db_file.name}-shm")):
        try:
            if not path.is_file() or os.access(path, os.W_OK, effective_ids=True):
                continue
            read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
        except OSError:
            continue  # not a question of who may write it: opening the database says what
        if read_only:
            problem, fix = "is on a read-only filesystem", "mount it writable"
        else:
            problem = f"is not writable by this user (uid {os.getuid()}{_owner(path)})"
            fix = f"make it writable (e.g. chown {os.getuid()} {path})"
        raise StartupError(
            f"database.url {path} {problem}: {fix} or set database.url or TEXTWIRE_DATABASE_URL"
        )


# -- the database ----------------------------------------------------------------------------------


async def open_db(url: str, *, migrate: bool, check: bool = False) -> Database:
    """`open_database` (whose `DatabaseError` is a `StartupError` already), with a SQLite file that
    cannot be opened, or a missing driver, as one line too."""
    try:
        path = sqlite_path(url)
        if path is not None:
            # a file this user may not write, or on a read-only mount, says so: `keys rotate`,
            # `person` and `migrate --check` said "cannot open (unable to open database file)" or
            # "cannot connect (attempt to write a readonly database): check that the database runs"
            await asyncio.to_thread(check_writable_files, path)
            # opened here first: aiosqlite, failing to open, leaves its thread to resolve a future
            # on a loop that is closed by then (a traceback after the one line)
            await asyncio.to_thread(_probe_sqlite, path)
        return await open_database(url, migrate=migrate, check=check)
    except StartupError:
        raise
    except ModuleNotFoundError as exc:
        raise StartupError(
            f"database.url {mask_url(url)}: its driver ({exc.name}) is not installed: "
            "install textwire's pinned dependencies, or set database.url or TEXTWIRE_DATABASE_URL"
        ) from None
    except (OSError, sqlite3.Error) as exc:
        fix = "check the path and its folder, or set database.url or TEXTWIRE_DATABASE_URL"
        if isinstance(exc, sqlite3.DatabaseError) and _DAMAGED.search(str(exc)):
            # a truncated or half-copied backup put in place: the path is right, the file is not
            fix = (
                "the file is damaged or not a SQLite database (a truncated or half-copied backup?): "
                "put a whole copy in its place (`textwire backup` checks the copies it writes)"
            )
        raise StartupError(f"database.url {mask_url(url)}: cannot open ({_reason(exc)}): {fix}") from None


async def open_db_waiting(
    url: str, *, migrate: bool, check: bool = False, within: float = DB_WAIT_SECONDS
) -> Database:
    """`open_db` for `serve`: a database that does not answer yet (`DatabaseUnreachable`) is tried
    again, with a `db.waiting` warning each time, for up to `within` seconds; then the error goes
    on (exit code 1: the service manager starts serve again; the units keep exit 2, what a restart
    will not fix, from restarting)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = 1.0
    attempt = 1
    while True:
        try:
            return await open_db(url, migrate=migrate, check=check)
        except DatabaseUnreachable as exc:
            left = deadline - loop.time()
            if left <= 0:
                raise
            log.warning("db.waiting", attempt=attempt, retry_in=round(min(delay, left), 1), error=str(exc))
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, 5.0)
            attempt += 1


async def open_current(url: str) -> Database:
    """For the commands that work on a database `serve` made (`keys rotate`, `person`): never
    migrated nor made here (only `textwire migrate` and `serve` do), so a SQLite path that does not
    exist, a mistyped one, is refused rather than made empty, and a schema not current too."""
    path = sqlite_path(url)
    if path is not None and not sqlite_file_exists(path):
        raise StartupError(
            f"database {mask_url(url)} does not exist: check database.url or TEXTWIRE_DATABASE_URL "
            "(`textwire migrate` creates a new one)"
        )
    return await open_db(url, migrate=False, check=True)


def check_no_foreign_wal(path: Path, key: str = "database.url") -> None:
    """A database file in rollback-journal mode (header byte 18 is 1, as `textwire backup` writes
    its copies) with a -wal beside it that holds frames: that -wal is another database's, left when
    a backup was restored in place of a live one (README Backups: delete the -wal and -shm). A
    database in WAL mode says 2 there, and going back to rollback mode deletes its -wal; opened
    together, SQLite replays the old database's pages into the copy, which then fails
    integrity_check (rows missing from their indexes) while serve starts as if all were well."""
    wal, shm = path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")
    if _open_elsewhere(shm):
        # a live connection's -wal is its own file's (and it may be mid-checkpoint); looked at
        # before any file is opened here: closing one drops this process's locks on it
        return
    try:
        with path.open("rb") as file:
            header = file.read(100)
        frames = wal.stat().st_size > 32  # a -wal of its 32-byte header alone replays nothing
    except OSError:
        return  # no -wal (or no file): opening the database says what is wrong, if anything
    if len(header) == 100 and header.startswith(b"SQLite format 3\x00") and header[18] == 1 and frames:
        raise StartupError(
            f"{key} {path}: {wal.name} beside it belongs to another database ({path.name} is "
            f"a backup copy put in its place): opened together they corrupt the copy: delete {wal.name} "
            f'and {path.name}-shm, then start again (README "Backups")'
        )
    if frames and _copied_pages_differ(path, wal, shm):
        raise StartupError(
            f"{key} {path}: {wal.name} beside it belongs to another database ({path.name} is not "
            f"the file it was written on: a copy put in its place, made with cp while the server ran?): "
            f"opened together they corrupt it: delete {wal.name} and {path.name}-shm, then start again, "
            'and make copies with `textwire backup` (README "Backups")'
        )


_WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
_WAL_HEADER, _FRAME_HEADER = 32, 24


def _wal_state(wal: Path, shm: Path) -> tuple[bytes, bytes] | None:
    """The -wal's header and the -shm's first 136 bytes (its index header, twice, and the
    checkpoint's), when both are there and the -shm indexes this -wal (the same salts)."""
    try:
        with wal.open("rb") as file:
            header = file.read(_WAL_HEADER)
        with shm.open("rb") as file:
            index = file.read(136)
    except OSError:
        return None
    if len(header) < _WAL_HEADER or header[:4] not in _WAL_MAGIC or len(index) < 136:
        return None
    if index[:48] != index[48:96] or index[32:40] != header[16:24]:  # torn, or of an older -wal
        return None
    return header, index


_SHM_DMS = 128  # the -shm byte every connection that has the database open holds a read lock on
_LOCKS = Path("/proc/locks")


def _open_elsewhere(shm: Path) -> bool:
    """Whether a connection has the database open now, in another process or in this one: SQLite
    holds a read lock on the -shm's byte 128 for as long as it has the -shm open, and Linux lists
    every lock in /proc/locks. A live server's -wal is its own file's, and a look at it while it
    checkpoints can read a page half written: `textwire person delete` run beside a serve was once
    refused and told to delete the live -wal. Read from /proc, not by asking for a lock on the
    file: closing a file of SQLite's drops every lock this process holds on it. Where there is no
    /proc/locks (not Linux), False."""
    try:
        st = shm.stat()
        listing = _LOCKS.read_text()
    except OSError:
        return False
    me = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in listing.splitlines():
        fields = line.replace("->", " ").split()
        # "3: POSIX  ADVISORY  READ 9830 fe:00:2532423 128 128" (start, end; end may be EOF)
        if len(fields) < 8 or fields[5] != me or not fields[6].isdigit():
            continue
        if int(fields[6]) <= _SHM_DMS and (
            fields[7] == "EOF" or (fields[7].isdigit() and int(fields[7]) >= _SHM_DMS)
        ):
            return True
    return False


def _copied_pages_differ(path: Path, wal: Path, shm: Path) -> bool:
    """Whether the pages the -shm says were copied into the database file (a checkpoint: textwire
    makes one every 0.25 s) hold none of the versions the -wal has of them: then the file is not the
    one the -wal was written on. Left by a crash, a -wal and its -shm describe the file beside them
    (SQLite copied those frames into it, or was copying one of the later ones); a database file
    copied with `cp` from an earlier moment and put in its place was opened with the -wal, SQLite
    laid the newer pages over the older file, and serve started on a database that failed
    integrity_check (wrong entries in the outbox's indexes, payments gone). Asked of a database no
    connection has open (`check_no_foreign_wal` looks first), and judged only when the -wal stayed
    as it was during the look (a process starting meanwhile may write it), else False."""
    before = _wal_state(wal, shm)
    if before is None:
        return False
    header, index = before
    size = int.from_bytes(header[8:12], "big")
    size = 65536 if size == 1 else size
    copied = int.from_bytes(index[96:100], sys.byteorder)  # nBackfill: frames copied into the file
    if copied == 0 or size < 512:
        return False
    # a page copied into the file holds its last version among the copied frames, or (a checkpoint
    # cut short by the crash) a version from a later frame
    allowed: dict[int, set[bytes]] = {}
    try:
        with wal.open("rb") as frames, path.open("rb") as db:
            frames.seek(_WAL_HEADER)
            number = 0
            while True:
                frame = frames.read(_FRAME_HEADER)
                page = frames.read(size)
                if len(frame) < _FRAME_HEADER or len(page) < size or frame[8:16] != header[16:24]:
                    break  # the end of this -wal's frames
                number += 1
                pgno, digest = (
                    int.from_bytes(frame[:4], "big"),
                    hashlib.blake2b(page, digest_size=16).digest(),
                )
                if number <= copied:
                    allowed[pgno] = {digest}
                elif pgno in allowed:
                    allowed[pgno].add(digest)
            if number < copied:
                return False  # the -wal is shorter than its index says: no judging it
            differ = False
            for pgno in sorted(allowed):
                db.seek((pgno - 1) * size)
                mine = db.read(size)
                if len(mine) == size and hashlib.blake2b(mine, digest_size=16).digest() not in allowed[pgno]:
                    differ = True
                    break
    except OSError:
        return False
    return differ and _wal_state(wal, shm) == before


def _probe_sqlite(path: Path) -> None:
    """Open the SQLite file once; a new one is created 0600 (it holds tokens, if encrypted, and
    everyone's numbers), and so are its -wal and -shm files (SQLite gives them the database's
    mode)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    check_no_foreign_wal(path)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    finally:
        conn.close()


_DAMAGED = re.compile(r"malformed|not a database")  # SQLite's words for a file it cannot read as one


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (text or type(exc).__name__)[:200]


# -- sockets ---------------------------------------------------------------------------------------


def bind(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to `host:port` before the app starts, so a port in use stops start-up before
    anything has started; connections are refused until the server listens on them."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise StartupError(
            f"server.host {host!r} is not an address of this machine: "
            "set server.host or TEXTWIRE_SERVER_HOST (127.0.0.1, or 0.0.0.0 for every interface)"
        ) from None
    sockets: list[socket.socket] = []
    seen: set[object] = set()
    try:
        for family, kind, proto, _, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)  # listened on when the app has started (asyncio's create_server)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise _listen_error(exc, host, port) from None
    return sockets


BACKLOG = 128  # aiohttp's SockSite default


def listen(sockets: Iterable[socket.socket], host: str, port: int) -> None:
    """Start listening on the sockets `bind` made, once the app has started. Two sockets with
    SO_REUSEADDR may both bind a port while neither listens (two processes starting at once on
    one port: a web and a worker role with the same `server.port`); the second finds out here.
    Done before aiohttp's site starts, because uvloop's `create_server(sock=...)` closes a socket
    whose `listen` fails without raising: the server would run listening on nothing."""
    try:
        for sock in sockets:
            sock.listen(BACKLOG)
    except OSError as exc:
        raise _listen_error(exc, host, port) from None


def _listening_inodes(port: int) -> set[str]:
    """The inodes of the sockets listening on TCP `port` (Linux's /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address "0100007F:1F90", state 0A (LISTEN), the inode 10th
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.add(fields[9])
    return found


def port_holder(port: int) -> int | None:
    """The pid of a `textwire serve` (or `python -m bot serve`) listening on `port`, when this
    user may see it: a second serve started by mistake on the same data folder and port (two
    terminals, a manual run beside the systemd unit) said only "set server.port", which led to
    running two on purpose. None when it is another program, or none can be told (not Linux)."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if not any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or another user's
            continue
        words = [os.path.basename(a.decode(errors="replace")) for a in argv]
        if "serve" in words and ("textwire" in words or "bot" in words):
            return int(proc.name)
        return None
    return None


def _listen_error(exc: OSError, host: str, port: int) -> StartupError:
    """The one line for a socket that could not bind or listen."""
    if exc.errno == errno.EADDRINUSE:
        holder = port_holder(port)
        if holder is not None:
            return StartupError(
                f"port {port} is in use by textwire serve (pid {holder}), already running: stop that one "
                "first, or set server.port or TEXTWIRE_SERVER_PORT to run another beside it"
            )
        return StartupError(f"port {port} is in use: set server.port or TEXTWIRE_SERVER_PORT")
    if exc.errno == errno.EACCES:
        return StartupError(
            f"port {port} needs privileges this user does not have: "
            "set server.port or TEXTWIRE_SERVER_PORT to 1024 or above"
        )
    return StartupError(
        f"cannot listen on {host}:{port} ({os.strerror(exc.errno or 0)}): "
        "set server.host / server.port or TEXTWIRE_SERVER_HOST / TEXTWIRE_SERVER_PORT"
    )


# -- the block -------------------------------------------------------------------------------------

CHAT_FROM = "+15550001111"  # `textwire chat`'s default
GENERATED_FILES = (DEV_TOKEN_FILE, "fernet.key", "link-signing.key")


@dataclass(frozen=True)
class Summary:
    """What a person starting the server needs to know, as a block and as one JSON event."""

    listening: tuple[str, ...]
    public_url: str
    role: str
    mode: str
    parts: tuple[str, ...]
    database: str
    sms: str
    x: str
    media: str
    generated: tuple[str, ...]
    dev_files: tuple[str, ...]
    next_step: str
    warning: str = ""  # server.public_url on this machine, on another port; WhatsApp unanswered

    def fields(self) -> dict[str, object]:
        """The event's fields; a warning and a next step only when there is one, as in the block
        (`"warning": ""` on every start matched a log filter for warnings, `jq 'select(.warning)'`)."""
        fields: dict[str, object] = {
            "listening": list(self.listening),
            "public_url": self.public_url,
            "role": self.role,
            "mode": self.mode,
            "dev_files": list(self.dev_files),
            "parts": list(self.parts),
            "database": self.database,
            "sms": self.sms,
            "x": self.x,
            "media": self.media,
            "generated": list(self.generated),
            "next": self.next_step.replace(f" --from {CHAT_FROM}", ""),  # a phone would be masked
            "warning": self.warning,
        }
        return {key: value for key, value in fields.items() if value or key not in ("next", "warning")}

    def block(self) -> str:
        lines = [
            f"textwire is listening on {', '.join(self.listening)}",
            f"  public URL   {self.public_url}   (Twilio and browsers use this)",
            *([f"  warning      {self.warning}"] if self.warning else []),
            f"  role         {self.role}: {', '.join(self.parts) or 'web only'}",
            f"  mode         {self.mode}",
        ]
        if self.dev_files:
            lines[-1] += ": no twilio.auth_token, so replies go to the log; development secrets in"
        for path in self.dev_files:
            note = "  (generated now)" if path in self.generated else ""
            lines.append(f"               {path}{note}")
        lines += [
            f"  database     {self.database}",
            f"  SMS          {self.sms}",
            f"  X posting    {self.x}",
            f"  media        {self.media}",
        ]
        if self.next_step:
            lines.append(f"  next         {self.next_step}")
        return "\n".join(lines)


async def store_down(config: Config, check: Callable[[], Awaitable[None]] | None) -> str:
    """Why the S3 bucket cannot be used, for the start-up block, or "" when it answers. A bucket
    that does not exist or credentials it refuses started with nothing said: the block read
    "S3 bucket receipts" and photos waited, unsaved, until someone asked /readyz. Not fatal: the
    store may come up later, and the photos are saved then."""
    if config.media.backend != "s3" or check is None:
        return ""
    try:
        async with asyncio.timeout(READY_CHECK_SECONDS):  # as /readyz's: a hung endpoint holds nothing
            await check()
    except (BucketNotFound, AccessDenied) as exc:
        return str(exc)
    except TimeoutError:
        return f"it did not answer within {READY_CHECK_SECONDS:.0f} s"
    except Exception as exc:
        found = unusable(exc, config.s3.bucket)
        return str(found) if found is not None else f"it cannot be reached ({why(exc)})"
    return ""


async def whatsapp_unanswered(config: Config, db: Database) -> str:
    """A warning for the start-up block when WhatsApp messages come in (people have written from
    WhatsApp, or templates are configured) but no reply can go to them: neither
    `twilio.whatsapp_from` nor a messaging service, so every WhatsApp answer fails. "" otherwise;
    development mode only logs replies, and the question is never worth failing a start."""
    twilio = config.twilio
    if config.dev_mode or twilio.whatsapp_from or twilio.messaging_service_sid:
        return ""
    if not twilio.whatsapp_templates:
        try:
            async with db.read() as conn:
                if not await pairing.channel_used(conn, WHATSAPP):
                    return ""
        except Exception:  # the database's own checks say what is wrong with it
            return ""
    return (
        "WhatsApp messages come in but no reply can go to them (sms.send_failed): set "
        "twilio.whatsapp_from (TEXTWIRE_TWILIO_WHATSAPP_FROM) or twilio.messaging_service_sid"
    )


def summary(
    config: Config,
    sockets: Iterable[socket.socket],
    parts: Iterable[str],
    config_path: str | None = None,
    media_down: str = "",
    whatsapp_down: str = "",
) -> Summary:
    listening = []
    for sock in sockets:
        host, port = sock.getsockname()[:2]
        listening.append(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
    dev_files = tuple(
        str(config.data_dir / name) for name in GENERATED_FILES if (config.data_dir / name).exists()
    )
    generated = tuple(
        str(config.data_dir / name) for name in GENERATED_FILES if made_here(config.data_dir / name)
    )
    if config.dev_mode:
        sms = "development: replies are logged, `textwire chat` shows them"
    else:
        sender = config.twilio.from_number or config.twilio.messaging_service_sid
        sms = f"Twilio, from {sender}"
    x = (
        "on"
        if config.x.client_id
        else "off (set x.client_id to post to X; x.client_secret too for a Web App)"
    )
    if config.media.backend == "s3":
        media = f"S3 bucket {config.s3.bucket}"
        if media_down:
            media += f": NOT READY, {media_down}; receipt photos wait until it works (see /readyz)"
    else:
        media = f"local folder {config.media.local_dir}"
    next_step = ""
    if config.dev_mode and config.server.role != "worker":
        # started with --config: chat without it reads ./config.toml, another port and data folder
        given = f" --config {shlex.quote(config_path)}" if config_path else ""
        next_step = f"in another terminal: {textwire_command()} chat{given} --from {CHAT_FROM}"
    return Summary(
        listening=tuple(listening),
        public_url=config.public_base,
        role=config.server.role,
        mode="development" if config.dev_mode else "production",
        parts=tuple(parts),
        database=database_label(config.database.url),
        sms=sms,
        x=x,
        media=media,
        generated=generated,
        dev_files=dev_files if config.dev_mode else (),
        next_step=next_step,
        warning="; ".join(w for w in (public_url_warning(config), whatsapp_down) if w),
    )


def textwire_command() -> str:
    """How to run textwire again from here, as the person started it: `textwire` when that is on
    PATH and is this one, else the path of the running script (`.venv/bin/textwire` from a
    checkout), else `python -m bot` with this interpreter."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "textwire" and argv0.exists():
        found = shutil.which("textwire")
        if found is not None and Path(found).resolve() == argv0.resolve():
            return "textwire"
        try:
            relative = argv0.resolve().relative_to(Path.cwd())
            return str(relative) if relative.parent != Path(".") else f"./{relative}"
        except ValueError:
            return str(argv0.resolve())
    python = Path(sys.executable)
    try:
        return f"{python.relative_to(Path.cwd())} -m bot"
    except ValueError:
        return f"{python} -m bot"


def public_url_warning(config: Config) -> str | None:
    """A public URL that names a wildcard address (for every role: a worker's links use it too), or
    one on this machine that is not where the server listens: `textwire chat` (and a browser)
    would knock on the wrong door. For a worker the other way round: it serves no webhook or page,
    so its links must name the web process's URL, never its own port."""
    public = urlsplit(config.public_base)
    if public.hostname in ("0.0.0.0", "::"):  # noqa: S104 - names of the wildcard addresses
        # where to listen, not where anyone reaches it: every link texted to people named it, and
        # Twilio's signatures (made over the URL it calls) failed against it, with nothing said
        return (
            f"server.public_url {config.public_base} names no host (0.0.0.0 is where to listen, "
            "server.host): the links texted to people and Twilio's signatures use it; set "
            "server.public_url (TEXTWIRE_SERVER_PUBLIC_URL) to where Twilio and phones reach the "
            "server, e.g. https://sms.example.com"
        )
    if public.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    port = public.port or (443 if public.scheme == "https" else 80)
    if config.server.role == "worker":
        if port != config.server.port:
            return None
        # left to follow its own port (the README's `TEXTWIRE_SERVER_PORT=8081 ... --role worker`):
        # every link it texted named a process that serves no page
        return (
            f"server.public_url {config.public_base} names this worker, which serves no pages: the "
            "links it texts (X link, gallery, statement) and the photos of `textwire chat` need the "
            "web process's URL; set server.public_url (TEXTWIRE_SERVER_PUBLIC_URL) to it, the same "
            "for every process"
        )
    if port == config.server.port:
        return None
    return (
        f"server.public_url {config.public_base} is on this machine but the server listens on port "
        f"{config.server.port}: set server.public_url (TEXTWIRE_SERVER_PUBLIC_URL) to where Twilio and "
        "browsers reach it, or leave it unset to follow server.host and server.port"
    )


def database_label(url: str) -> str:
    """The database without its password; a relative SQLite file with the file it is (SPEC:
    `sqlite:///var/lib/textwire/x.db` is relative): the block said "SQLite var/lib/textwire/x.db",
    easily read as /var/lib/..., while the database went under the working folder."""
    path = sqlite_path(url)
    if path is None:
        return mask_url(url)
    if path.is_absolute():
        return f"SQLite {path}"
    return f"SQLite {path} (relative to the working folder: {os.path.abspath(path)})"


__all__ = [
    "StartupError",
    "Summary",
    "bind",
    "check_folders",
    "check_writable",
    "database_label",
    "listen",
    "open_db",
    "public_url_warning",
    "store_down",
    "summary",
    "textwire_command",
    "whatsapp_unanswered",
]
