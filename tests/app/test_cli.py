"""`textwire migrate --check` (issue 27, upgrading): what a deploy script asks before it starts new
code. Real processes on a real SQLite file; PostgreSQL unreachable."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from storage.db import head_revision
from tests.app.test_backup import CONFIG, cli_env, run_cli
from tests.ports import free_port


def test_migrate_check_says_current_behind_or_ahead_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "data" / "textwire.db"
    missing = run_cli(tmp_path, "migrate", "--check")
    assert missing.returncode == 1, missing.stderr
    assert "does not exist yet: run `textwire migrate`" in missing.stdout
    assert not db.exists()
    assert not (tmp_path / "data").exists()  # a check makes nothing, not even the folder

    assert run_cli(tmp_path, "migrate").returncode == 0
    current = run_cli(tmp_path, "migrate", "--check")
    assert (current.returncode, current.stdout.strip()) == (
        0,
        f"database at revision {head_revision()}: current",
    )

    with sqlite3.connect(db) as conn:  # as a database the previous release left
        conn.execute("UPDATE alembic_version SET version_num = '0023'")
    behind = run_cli(tmp_path, "migrate", "--check")
    assert behind.returncode == 1
    assert behind.stdout.strip() == (
        f"database at revision 0023, this version needs {head_revision()}: run `textwire migrate`"
    )

    with sqlite3.connect(db) as conn:  # as a newer textwire would leave it
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    ahead = run_cli(tmp_path, "migrate", "--check")
    assert ahead.returncode == 2
    assert "does not know: a newer textwire migrated it" in ahead.stdout


def test_migrate_check_of_a_database_that_cannot_be_reached_is_2(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    env = cli_env(tmp_path) | {"TEXTWIRE_DATABASE_URL": f"postgresql://u:secret@127.0.0.1:{port}/textwire"}
    result = run_cli(tmp_path, "migrate", "--check", env=env)
    assert result.returncode == 2
    assert "cannot connect" in result.stderr
    assert "secret" not in result.stderr + result.stdout


def test_keys_rotate_never_migrates_and_never_creates_a_database(tmp_path: Path) -> None:
    """Only `textwire migrate` makes or migrates a schema: `keys rotate` on a mistyped SQLite path
    made a new file, migrated it and said "re-encrypted 0 rows" (exit 0), on a database behind
    this release it migrated it. Now it refuses, one line and exit 2, as `person` does."""
    env = cli_env(tmp_path) | {"TEXTWIRE_SECURITY_FERNET_KEYS": Fernet.generate_key().decode()}
    typo = tmp_path / "dta" / "textwire.db"
    missing = run_cli(tmp_path, "keys", "rotate", env=env | {"TEXTWIRE_DATABASE_URL": f"sqlite:///{typo}"})
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert missing.stderr.strip() == (
        f"textwire: database sqlite:///{typo} does not exist: check database.url or "
        "TEXTWIRE_DATABASE_URL (`textwire migrate` creates a new one)"
    )
    assert "re-encrypted" not in missing.stdout
    assert not typo.parent.exists()  # neither the file nor its folder

    db = tmp_path / "data" / "textwire.db"
    assert run_cli(tmp_path, "migrate", env=env).returncode == 0
    with sqlite3.connect(db) as conn:  # as the previous release left it
        conn.execute("UPDATE alembic_version SET version_num = '0023'")
    behind = run_cli(tmp_path, "keys", "rotate", env=env)
    assert behind.returncode == 2
    [line] = behind.stderr.strip().splitlines()
    assert line.endswith(f"is at revision 0023, this version needs {head_revision()}: run `textwire migrate`")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0023",)

    with sqlite3.connect(db) as conn:  # as a newer release leaves it: not `textwire migrate`
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for command in (["keys", "rotate"], ["person", "export", "+15550001111"], ["migrate"]):
        ahead = run_cli(tmp_path, *command, env=env)
        assert ahead.returncode == 2, command
        [line] = ahead.stderr.strip().splitlines()
        assert "a newer textwire migrated it: run that release" in line, command
        assert "`textwire migrate`" not in line, command

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (head_revision(),))
    current = run_cli(tmp_path, "keys", "rotate", env=env)
    assert current.returncode == 0, current.stderr
    assert "re-encrypted 0 rows under the newest key" in current.stdout


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["serve", "--role", "web"],
        ["chat"],
        ["migrate"],
        ["migrate", "--check"],
        ["keys", "rotate"],
        ["backup", "copy.db"],
        ["telegram", "set-webhook"],
        ["person", "export", "+15551234567"],
    ],
)
@pytest.mark.parametrize("bad", ["folder", "latin-1"])
def test_every_command_says_a_bad_config_file_in_one_line_and_exits_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    bad: str,
) -> None:
    from bot.app.cli import main

    for name in [n for n in os.environ if n.startswith("TEXTWIRE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.toml"
    if bad == "folder":
        path.mkdir()
    else:
        path.write_bytes("# caf\u00e9\n".encode("latin-1"))
    assert main([*command, "--config", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"textwire: configuration error: {'config file ' if bad == 'folder' else ''}{path}")
    assert not (tmp_path / "data").exists()  # nothing started


def test_migrate_and_keys_rotate_need_no_folder_they_do_not_use(tmp_path: Path) -> None:
    """`textwire migrate` checked the data and media folders, `keys rotate` the data folder with
    the keys in the environment: a migration job on a read-only file system (PostgreSQL, S3
    media) stopped on folders neither command writes to."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # nothing can be made under it
    (tmp_path / "db").mkdir()
    env = cli_env(tmp_path) | {
        "TEXTWIRE_SERVER_DATA_DIR": str(blocker / "data"),
        "TEXTWIRE_MEDIA_LOCAL_DIR": str(blocker / "media"),
        "TEXTWIRE_DATABASE_URL": f"sqlite:///{tmp_path}/db/textwire.db",
        "TEXTWIRE_SECURITY_FERNET_KEYS": Fernet.generate_key().decode(),
    }
    migrate = run_cli(tmp_path, "migrate", env=env)
    assert migrate.returncode == 0, migrate.stderr
    rotate = run_cli(tmp_path, "keys", "rotate", env=env)
    assert rotate.returncode == 0, rotate.stderr
    assert "re-encrypted 0 rows under the newest key" in rotate.stdout.splitlines()
    # without keys in the environment the key file is read there (never made: it is the service's)
    no_keys = run_cli(tmp_path, "keys", "rotate", env={**env, "TEXTWIRE_SECURITY_FERNET_KEYS": ""})
    assert no_keys.returncode == 2
    assert no_keys.stderr.startswith(
        f"textwire: Fernet keys: no Fernet key here: TEXTWIRE_SECURITY_FERNET_KEYS is empty and "
        f"{blocker / 'data' / 'fernet.key'} cannot be read"
    )
    # the database's own folder still is, for migrate
    elsewhere = {**env, "TEXTWIRE_DATABASE_URL": f"sqlite:///{blocker}/db/textwire.db"}
    refused = run_cli(tmp_path, "migrate", env=elsewhere)
    assert refused.returncode == 2
    assert "database.url" in refused.stderr


def test_keys_rotate_without_the_services_keys_makes_no_key_and_no_folder(tmp_path: Path) -> None:
    """Run without TEXTWIRE_SECURITY_FERNET_KEYS (the service's keys, not exported in this shell),
    `keys rotate` made the data folder and a new random fernet.key in it, then stopped ("cannot
    read ... stored X tokens"), or with no token stored yet said "re-encrypted 0 rows" under a
    key the service never had. It says there is no key here and leaves nothing behind."""
    (tmp_path / "db").mkdir()
    data = tmp_path / "data"
    env = cli_env(tmp_path) | {"TEXTWIRE_DATABASE_URL": f"sqlite:///{tmp_path}/db/textwire.db"}
    assert run_cli(tmp_path, "migrate", env=env).returncode == 0
    assert not data.exists()
    rotate = run_cli(tmp_path, "keys", "rotate", env=env)
    assert rotate.returncode == 2, rotate.stdout + rotate.stderr
    [line] = rotate.stderr.strip().splitlines()
    assert line.startswith(
        "textwire: Fernet keys: no Fernet key here: TEXTWIRE_SECURITY_FERNET_KEYS is empty"
    )
    assert "run it with the service's environment" in line
    assert "re-encrypted" not in rotate.stdout
    assert not data.exists()  # neither the folder nor a key in it


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_is_one_line_that_says_what_is_left_exit_130(tmp_path: Path) -> None:
    """Ctrl-C during `textwire person delete` (a database that waits, a slow X) printed a
    KeyboardInterrupt traceback and nothing about the person: partly deleted or not? One line now
    says to run it again to finish, exit 130 as shells expect."""
    assert run_cli(tmp_path, "migrate").returncode == 0
    db = tmp_path / "data" / "textwire.db"
    for _attempt in range(3):
        holder = sqlite3.connect(db, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")  # `person delete` waits for the database
            proc = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "bot", "person", "delete", "+15550001111", "--config", CONFIG],
                cwd=tmp_path,
                env=cli_env(tmp_path),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                # Ctrl-C as a terminal sends it: a test run started in the background (`make test
                # &`, CI) ignores SIGINT, and a child inherits that (Python then leaves it
                # ignored): the command waited the database out, "database is locked", exit 2
                preexec_fn=_sigint_as_in_a_terminal,
            )
            fds = Path(f"/proc/{proc.pid}/fd")
            while proc.poll() is None:  # until it has the database open: it is waiting on it
                try:
                    if any(os.readlink(fd) == str(db) for fd in fds.iterdir()):
                        break
                except FileNotFoundError:  # an fd closed while listed
                    continue
            # still waiting (its wait gives up after some 10 s: on a loaded machine it once had,
            # and said "database is locked", exit 2, before the interrupt came): else again
            waiting = proc.poll() is None
            if waiting:
                proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            holder.close()
        if waiting:
            break
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    # the copies at Twilio of their photos too (deleted before their messages go): it named
    # only the photos and the X grant
    assert err.strip() == (
        "textwire: interrupted: the person may be partly deleted (photos, their copies at Twilio,"
        " X grant); run the same `textwire person delete` again to finish"
    )
    assert out == ""


@pytest.mark.parametrize(
    "args",
    [("--version",), ("keys", "generate"), ("migrate", "--check"), ("migrate",)],
    ids=["version", "keys-generate", "migrate-check", "migrate"],
)
def test_a_reader_that_left_is_no_traceback(tmp_path: Path, args: tuple[str, ...]) -> None:
    """`textwire migrate --check | head -0` or `textwire --version | true`: every command but
    `person` printed a BrokenPipeError traceback (and "Exception ignored" at exit) when the
    reader of its output had gone. It ends quietly now, as `person` did: exit 1."""
    if args == ("migrate", "--check"):
        assert run_cli(tmp_path, "migrate").returncode == 0
    read, write = os.pipe()
    os.close(read)  # the reader left before a word was written
    try:
        result = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "bot", *args, "--config", CONFIG],
            cwd=tmp_path,
            env=cli_env(tmp_path),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr
    assert "BrokenPipe" not in result.stderr


def test_migrate_on_a_full_disk_is_one_line_and_leaves_the_schema_as_it_was(tmp_path: Path) -> None:
    """`textwire migrate` (and `serve`, which migrates SQLite by itself) with the disk filling up
    part way was a SQLAlchemy traceback ("disk I/O error") that said nothing of the state left.
    One line now, exit 2; the migration was one transaction, so a later run does it all."""

    def small_files() -> None:  # what a full disk does to the database's writes
        resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 1024, 200 * 1024))

    full = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "bot", "migrate", "--config", CONFIG],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=small_files,  # sets one limit in the child, before the CLI starts
    )
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    assert full.stderr.strip() == (
        f"textwire: database.url sqlite:///{tmp_path}/data/textwire.db: migrating to {head_revision()} "
        "failed (OperationalError: disk I/O error) and was undone, the schema is as it was: fix that "
        "(a full disk, the database user's rights) and run `textwire migrate` again"
    )
    behind = run_cli(tmp_path, "migrate", "--check")
    assert (behind.returncode, behind.stdout.strip()) == (
        1,
        f"database at revision none, this version needs {head_revision()}: run `textwire migrate`",
    )
    assert run_cli(tmp_path, "migrate").returncode == 0
    assert run_cli(tmp_path, "migrate", "--check").returncode == 0


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (
            ["keys"],
            [
                "generate: print a new key",
                "rotate: re-encrypt every stored token under the newest key",
                "TEXTWIRE_SECURITY_FERNET_KEYS",
                "put a new key first, restart",
            ],
        ),
        (["person"], ["export: print as JSON", "delete: forget them"]),
        (["telegram"], ["set-webhook: Telegram sends updates to", "delete-webhook: takes both away"]),
        (["migrate"], ["config file (default: $TEXTWIRE_CONFIG"]),
        (["backup"], ["config file (default: $TEXTWIRE_CONFIG"]),
        (["chat"], ["config file (default: $TEXTWIRE_CONFIG"]),
    ],
)
def test_each_commands_help_says_what_its_actions_do(
    capsys: pytest.CaptureFixture[str], command: list[str], said: list[str]
) -> None:
    """`textwire keys --help` listed `{generate,rotate}` and `--config CONFIG` and nothing of what
    either does, nor where the keys come from or how a rotation goes; `person` and `telegram`
    the same of their actions."""
    from bot.app.cli import main

    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    for words in said:
        assert words in out, (words, out)


def test_serve_with_a_mistyped_fernet_key_stops_before_it_migrates_anything(tmp_path: Path) -> None:
    """A key pasted wrong into TEXTWIRE_SECURITY_FERNET_KEYS stopped start-up only after the
    embedded SQLite database had been made (or an old one migrated to this release, which the old
    release then refuses) and the development token written. Now nothing is written first."""
    env = cli_env(tmp_path) | {
        "TEXTWIRE_SECURITY_FERNET_KEYS": f"{Fernet.generate_key().decode()},not-a-key",
        # a port of its own: a textwire serve on the default one (8080) stopped it there first
        "TEXTWIRE_SERVER_PORT": str(free_port()),
    }
    result = run_cli(tmp_path, "serve", env=env)
    assert result.returncode == 2, result.stderr
    assert "Fernet key #2 is not a valid key" in result.stderr
    assert "not-a-key" not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()  # no database, no migration, no generated file


def test_ctrl_c_during_a_wait_that_then_fails_is_still_an_interrupt() -> None:
    """Ctrl-C while `person delete` waited on a locked database: the wait, unwinding, raised
    "database is locked" and that was said as a start-up problem, exit 2, not the interrupt's
    one line and 130 (once in a CI run under load)."""
    from bot.app.cli import _or_exit_2
    from bot.core.errors import StartupError

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:

        async def waiting() -> int:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C: asyncio.run cancels this task
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                raise StartupError(
                    "database.url sqlite:///x.db: cannot connect (database is locked)"
                ) from None
            return 0

        with pytest.raises(KeyboardInterrupt):
            _or_exit_2(waiting())
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_sigterm_before_serve_is_up_ends_it_as_a_containers_first_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As pid 1 (`CMD ["textwire", "serve"]`) a SIGTERM without a handler is dropped: a `docker
    stop` that came while serve was importing and starting went unheard, and the server ran until
    the SIGKILL 60 s later (exit 137). It ends the command at once, exit 143; any other process
    keeps the default (the signal ends it)."""
    from bot.app import cli

    before = signal.getsignal(signal.SIGTERM)
    try:
        cli.stop_on_sigterm_as_init()
        assert signal.getsignal(signal.SIGTERM) == before  # not pid 1: untouched
        monkeypatch.setattr(os, "getpid", lambda: 1)
        cli.stop_on_sigterm_as_init()
        with pytest.raises(SystemExit) as stopped:
            signal.raise_signal(signal.SIGTERM)
        assert stopped.value.code == 143
    finally:
        signal.signal(signal.SIGTERM, before)
