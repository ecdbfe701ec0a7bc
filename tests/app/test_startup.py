"""Start-up of the real `textwire serve` process: a failure is one line that names the problem and
the fix (and a JSON event when logs are JSON), exit code 2, no traceback, nothing "started"; a
good start prints one block that says where it listens, the mode and what to do next."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests import ROOT
from tests.conftest import free_port, wait_for
from tests.fakes.s3 import Bucket
from tests.test_process import wait_healthy

REPO = ROOT


def serve_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env.update(
        {
            "TEXTWIRE_CONFIG": str(REPO / "config.toml"),
            "TEXTWIRE_SERVER_PORT": str(port),
            "TEXTWIRE_SERVER_DATA_DIR": str(tmp_path / "data"),
            "TEXTWIRE_LOG_FORMAT": "json",
            **extra,
        }
    )
    return env


def run_failing(tmp_path: Path, env: dict[str, str]) -> tuple[str, str]:
    """Run `textwire serve` that must stop at start-up; its stdout and stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 2, (out, err)
    assert "Traceback" not in out + err
    assert "app.started" not in out
    return out, err


def one_failure(out: str, err: str) -> str:
    """The one stderr line, and the same text as the one `app.start_failed` JSON event."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("textwire: ")
    events = [json.loads(line) for line in out.splitlines()]
    failed = [e for e in events if e["event"] == "app.start_failed"]
    assert len(failed) == 1
    assert failed[0]["level"] == "error"
    assert failed[0]["error"] == lines[0].removeprefix("textwire: ")
    return lines[0]


def test_port_in_use_is_one_line_with_the_fix_and_nothing_started(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out, err = run_failing(tmp_path, serve_env(tmp_path, port))
    line = one_failure(out, err)
    assert line == f"textwire: port {port} is in use: set server.port or TEXTWIRE_SERVER_PORT"
    assert not (tmp_path / "data").exists() or not (tmp_path / "data" / "textwire.db").exists()


async def test_a_second_serve_on_the_same_port_names_the_one_running(tmp_path: Path) -> None:
    """`textwire serve` started twice by mistake (two terminals, a manual run beside the systemd
    unit) was told only "set server.port", which led to running two on purpose. The line now
    names the running serve and its pid, to stop it first."""
    port = free_port()
    env = serve_env(tmp_path, port)
    first = subprocess.Popen(  # noqa: ASYNC220 (starting it does not wait)
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, port, first)
        out, err = await asyncio.to_thread(run_failing, tmp_path, env)
        assert one_failure(out, err) == (
            f"textwire: port {port} is in use by textwire serve (pid {first.pid}), already running: "
            "stop that one first, or set server.port or TEXTWIRE_SERVER_PORT to run another beside it"
        )
    finally:
        first.send_signal(signal.SIGTERM)
        try:
            first.wait(60)
        except subprocess.TimeoutExpired:
            first.kill()
            first.wait()


def test_a_port_taken_while_starting_is_one_line_too(tmp_path: Path) -> None:
    """Two processes starting at once on one port (a web and a worker role with the same
    `server.port` on one host) can both bind it, SO_REUSEADDR and neither listening yet; the
    one that listens second must stop with the same line, not a traceback, and not run on with
    its socket closed under it (uvloop closes a socket whose listen fails, without raising)."""
    port = free_port()
    with socket.socket() as other:  # the other process: bound first, listening once we have bound
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", port))
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=tmp_path,
            env=serve_env(tmp_path, port),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()  # its first log line comes after it bound the port
        other.listen()
        out, err = (part.decode() for part in proc.communicate(timeout=60))
    assert proc.returncode == 2, (first, out, err)
    assert "Traceback" not in first + out + err
    assert "app.started" not in first + out
    assert (
        one_failure(first + out, err)
        == f"textwire: port {port} is in use: set server.port or TEXTWIRE_SERVER_PORT"
    )


def test_console_logs_get_the_line_alone(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out, err = run_failing(tmp_path, serve_env(tmp_path, port, TEXTWIRE_LOG_FORMAT="console"))
    assert err == f"textwire: port {port} is in use: set server.port or TEXTWIRE_SERVER_PORT\n"
    assert "start_failed" not in out


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """`path` (a file, or a folder made here when missing) refuses writes and new files, also to
    root (who ignores modes): immutable while root, read-only modes otherwise."""
    if not path.exists():
        path.mkdir(parents=True)
    locked, unlocked = (0o555, 0o755) if path.is_dir() else (0o444, 0o644)
    if os.getuid() != 0:
        path.chmod(locked)
        try:
            yield
        finally:
            path.chmod(unlocked)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode:  # noqa: S603
        pytest.skip(f"running as root without chattr +i: cannot make {path.name} unwritable")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)  # noqa: S603


def test_unwritable_data_folder_is_one_line_with_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with unwritable(data):
        out, err = run_failing(tmp_path, serve_env(tmp_path, free_port()))
    line = one_failure(out, err)
    uid = os.getuid()
    assert line.startswith(f"textwire: server.data_dir {data} is not writable by this user (uid {uid}")
    assert f"chown {uid} {data}" in line
    assert line.endswith("or set server.data_dir or TEXTWIRE_SERVER_DATA_DIR")


@pytest.mark.parametrize("name", ["textwire.db", "textwire.db-wal"])
def test_a_database_file_this_user_cannot_write_is_one_line_with_the_fix(tmp_path: Path, name: str) -> None:
    """A backup restored as root into the data folder (or the container's volume, whose server
    runs as uid 10001): SQLite opened it read-only, and start-up stopped on "cannot connect
    (attempt to write a readonly database): check that the database runs and is reachable"."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db = data / "textwire.db"
    sqlite3.connect(db).close()
    path = data / name
    path.touch()
    with unwritable(path):
        out, err = run_failing(tmp_path, serve_env(tmp_path, free_port()))
    line = one_failure(out, err)
    uid = os.getuid()
    assert line.startswith(f"textwire: database.url {path} is not writable by this user (uid {uid}"), line
    assert f"chown {uid} {path}" in line
    assert line.endswith("or set database.url or TEXTWIRE_DATABASE_URL")


@pytest.mark.parametrize(
    "command", [["keys", "rotate"], ["migrate", "--check"], ["person", "export", "+15551234567"]]
)
def test_the_commands_that_open_a_database_say_whose_file_it_is(tmp_path: Path, command: list[str]) -> None:
    """`serve` said whose file a database it could not write was; `keys rotate`, `migrate --check`
    and `person` said "cannot connect (attempt to write a readonly database): check that the
    database runs and is reachable", or on a read-only mount "cannot open (unable to open database
    file)", for a database that ran fine."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db = data / "textwire.db"
    sqlite3.connect(db).close()
    env = serve_env(tmp_path, free_port(), TEXTWIRE_DATABASE_URL=f"sqlite:///{db}")
    with unwritable(db):
        done = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "bot", *command], cwd=tmp_path, env=env, capture_output=True, timeout=60
        )
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "Traceback" not in err
    line = err.splitlines()[-1]
    assert line.startswith(f"textwire: database.url {db} is not writable by this user (uid {os.getuid()}"), (
        line
    )
    assert line.endswith("or set database.url or TEXTWIRE_DATABASE_URL")


@contextlib.contextmanager
def another_users_folder(data: Path) -> Iterator[list[str]]:
    """`data` (0700, as serve makes it) belongs to another user, and the command prefix that runs a
    command as a user who is not its owner: root without its powers (setpriv drops them) over a
    folder given to nobody (uid 65534), as `sudo textwire ...` on a service's folder is not; a
    user who is not root gets a folder it may not enter."""
    if os.getuid() != 0:
        data.chmod(0o000)
        try:
            yield []
        finally:
            data.chmod(0o700)
        return
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot run a command as another user")
    for path in (data, *data.rglob("*")):
        os.chown(path, 65534, 65534)
    try:
        yield [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"]
    finally:
        for path in (data, *data.rglob("*")):
            os.chown(path, 0, 0)


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "rotate"],
        ["migrate", "--check"],
        ["person", "export", "+15551234567"],
        ["person", "delete", "+15551234567"],
        ["backup", "BACKUP"],
        ["chat", "--text", "hi"],
    ],
)
def test_a_command_run_by_a_user_who_may_not_enter_the_data_folder_is_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    """The service's data folder is its user's, 0700; the operator runs `textwire person export` or
    `backup` as root without root's powers or as their login user: `keys rotate`, `migrate
    --check`, `person` and `chat` were a PermissionError traceback, `backup` said "cannot write
    .../textwire.db: check the folder's permissions" of the database it only reads."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db = data / "textwire.db"
    sqlite3.connect(db).close()
    (data / "dev-twilio-token").write_text("0123456789abcdef\n")
    env = serve_env(tmp_path, free_port())
    argv = [str(tmp_path / "copy.db") if word == "BACKUP" else word for word in command]
    with another_users_folder(data) as prefix:
        done = subprocess.run(  # noqa: S603 - our own CLI
            [*prefix, sys.executable, "-m", "bot", *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            timeout=60,
        )
    err = done.stderr.decode()
    assert "Traceback" not in err, err
    assert done.returncode == 2, err
    line = err.strip().splitlines()[-1]
    assert f"{data / 'textwire.db'} cannot be read by this user (uid {os.getuid()}" in line or (
        f"{data / 'dev-twilio-token'} cannot be read by this user (uid {os.getuid()}" in line
    ), line
    if os.getuid() == 0:
        assert f"{data} belongs to uid 65534" in line, line
        assert "run it as nobody, the folder's owner (sudo -u nobody textwire ...)" in line, line


def test_unopenable_database_is_one_line_with_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.db"
    folder.mkdir()  # SQLite cannot open a directory as its file
    env = serve_env(tmp_path, free_port(), TEXTWIRE_DATABASE_URL=f"sqlite:///{folder}")
    out, err = run_failing(tmp_path, env)
    line = one_failure(out, err)
    assert line.startswith(f"textwire: database.url sqlite:///{folder}: cannot open (")
    assert line.endswith("or set database.url or TEXTWIRE_DATABASE_URL")


@contextlib.asynccontextmanager
async def serve_waiting_for_postgresql(tmp_path: Path, password: str) -> AsyncIterator[tuple[Any, int]]:
    """`serve` on a PostgreSQL port that refuses connections (bound, never listening), once it
    logs `db.waiting`: (the process, the port); killed at the end if still running."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        url = f"postgresql://textwire:{password}@127.0.0.1:{port}/textwire"
        proc = spawn(tmp_path, serve_env(tmp_path, free_port(), TEXTWIRE_DATABASE_URL=url))
        try:

            async def waiting() -> bool:
                assert proc.poll() is None, (tmp_path / "out.log").read_text()
                return '"db.waiting"' in (tmp_path / "out.log").read_text()

            await wait_for(waiting, within=30)
            yield proc, port
        finally:
            proc.kill()
            proc.wait()


async def test_unreachable_postgresql_is_waited_for_and_named_without_the_password(tmp_path: Path) -> None:
    """serve waits for a database that does not answer yet (tests/test_postgres.py: it starts once
    the database comes up, and gives up with exit 1 after `DB_WAIT_SECONDS`), saying so."""
    async with serve_waiting_for_postgresql(tmp_path, "s3cret-pw") as (_, port):
        pass
    out = (tmp_path / "out.log").read_text()
    event = json.loads(next(line for line in out.splitlines() if '"db.waiting"' in line))
    assert event["error"].startswith(f"database.url postgresql://textwire:***@127.0.0.1:{port}/textwire: ")
    assert event["error"].endswith("or set database.url or TEXTWIRE_DATABASE_URL")
    assert "s3cret-pw" not in out
    assert "Traceback" not in out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_while_waiting_for_the_database_stops_at_once(tmp_path: Path, signum: int) -> None:
    """SIGTERM (a service manager's stop) or Ctrl-C while serve waits for the database: it stops
    then, exit 0, with nothing started. It went on waiting the 30 s out (Ctrl-C did nothing), then
    exited 1 with the database's error, or started once the database answered."""
    async with serve_waiting_for_postgresql(tmp_path, "pw") as (proc, _):
        proc.send_signal(signum)
        # a stop answered at once, not the rest of DB_WAIT_SECONDS (30 s)
        code = await asyncio.to_thread(proc.wait, 15)
    out = (tmp_path / "out.log").read_text()
    assert code == 0, out
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert events[-1] == "app.stopping", out
    assert "app.start_failed" not in events
    assert "app.started" not in events
    assert "Traceback" not in out


def test_a_proxy_without_its_scheme_is_one_line_with_the_fix(tmp_path: Path) -> None:
    """`HTTPS_PROXY=proxy.internal:3128` (as curl takes it) stopped start-up with yarl's traceback
    and exit 1, which a process manager restarts again and again."""
    env = serve_env(
        tmp_path,
        free_port(),
        TEXTWIRE_SERVER_PUBLIC_URL="https://sms.example.com",
        TEXTWIRE_TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TEXTWIRE_TWILIO_AUTH_TOKEN="x" * 32,
        TEXTWIRE_TWILIO_FROM_NUMBER="+15557654321",
        HTTPS_PROXY="relay:s3cret@proxy.internal:3128",
    )
    out, err = run_failing(tmp_path, env)
    line = one_failure(out, err)
    assert line.startswith("textwire: HTTPS_PROXY (or https_proxy) is not a proxy URL: ")
    assert "http://proxy.internal:3128" in line
    assert "s3cret" not in out + err


# -- a good start ----------------------------------------------------------------------------------


def spawn(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    with open(tmp_path / "out.log", "wb") as out:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "bot", "serve", *args], cwd=tmp_path, env=env, stdout=out, stderr=out
        )


async def printed_chat_answers_help(command: str, cwd: Path, env: dict[str, str]) -> None:
    """The `chat` command start-up printed, run as printed (from `cwd`): it answers `\\HELP`."""
    chat = await asyncio.to_thread(
        subprocess.run,
        shlex.split(command),
        cwd=cwd,
        env=env,
        input="\\HELP\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.startswith("< textwire: "), chat.stdout + chat.stderr


async def started(tmp_path: Path, env: dict[str, str], port: int) -> str:
    """Start the server, wait until it answers, stop it with SIGTERM; its stdout."""
    proc = spawn(tmp_path, env)
    try:
        async with aiohttp.ClientSession() as session:

            async def healthy() -> bool:
                assert proc.poll() is None, (tmp_path / "out.log").read_text()
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(healthy, within=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    return (tmp_path / "out.log").read_text()


async def test_start_up_block_says_where_which_mode_and_what_next(tmp_path: Path) -> None:
    port = free_port()
    env = serve_env(tmp_path, port, TEXTWIRE_LOG_FORMAT="console")
    text = await started(tmp_path, env, port)
    data = tmp_path / "data"
    assert f"textwire is listening on http://127.0.0.1:{port}\n" in text
    assert f"  public URL   http://127.0.0.1:{port} " in text  # it follows server.port when unset
    assert "  warning" not in text
    assert "  mode         development: no twilio.auth_token" in text
    assert f"               {data / 'dev-twilio-token'}  (generated now)\n" in text
    assert f"               {data / 'fernet.key'}  (generated now)\n" in text
    assert "  X posting    off (set x.client_id" in text  # not configured, not listed as on
    assert f"  next         in another terminal: {sys.executable} -m bot chat --from +15550001111\n" in text
    assert "alembic" not in text  # no plugin set-up lines on every start
    assert text.count("textwire is listening") == 1
    again = await started(tmp_path, env, port)
    assert "(generated now)" not in again  # the second start generates nothing


def test_a_relative_sqlite_file_is_shown_with_where_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sqlite:///var/lib/textwire/textwire.db` is relative (SPEC): the block said "SQLite
    var/lib/textwire/textwire.db", read as /var/lib/..., while the database went under the
    working folder. It says which file that is."""
    from bot.app.startup import database_label

    monkeypatch.chdir(tmp_path)
    assert database_label("sqlite:///var/lib/textwire/textwire.db") == (
        "SQLite var/lib/textwire/textwire.db (relative to the working folder: "
        f"{tmp_path}/var/lib/textwire/textwire.db)"
    )
    assert database_label("sqlite:////var/lib/textwire/textwire.db") == "SQLite /var/lib/textwire/textwire.db"
    assert database_label("postgresql://tw:hunter2@db:5432/tw") == "postgresql://tw:***@db:5432/tw"


async def test_json_logs_get_one_started_event_after_the_server_listens(tmp_path: Path) -> None:
    port = free_port()
    env = serve_env(tmp_path, port, TEXTWIRE_X_CLIENT_ID="client-1", TEXTWIRE_SERVER_ROLE="web")
    text = await started(tmp_path, env, port)
    events: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines()]
    names = [e["event"] for e in events]
    assert not any("alembic" in str(e.get("logger")) for e in events)
    assert names.count("app.started") == 1
    assert names.index("app.ready") < names.index("app.started") < names.index("app.stopping")
    [event] = [e for e in events if e["event"] == "app.started"]
    assert event["listening"] == [f"http://127.0.0.1:{port}"]
    assert event["role"] == "web"
    assert event["parts"] == ["writer"]
    assert event["mode"] == "development"
    assert event["x"] == "on"
    assert event["next"] == f"in another terminal: {sys.executable} -m bot chat"
    # no warning, none said: `"warning": ""` matched every log filter for one (`jq 'select(.warning)'`)
    assert "warning" not in event


async def test_the_next_step_runs_as_printed_and_chat_reaches_the_server(tmp_path: Path) -> None:
    """`TEXTWIRE_SERVER_PORT` alone: the banner's public URL follows it, and its next step, run as
    printed in the same folder and environment, texts the server and prints the answer."""
    port = free_port()
    env = serve_env(tmp_path, port, TEXTWIRE_LOG_FORMAT="console")
    proc = spawn(tmp_path, env)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, port, proc)

        async def banner() -> str | None:
            text = (tmp_path / "out.log").read_text()
            return text if "  next " in text else None

        text = await wait_for(banner)
        [line] = [line for line in text.splitlines() if line.startswith("  next ")]
        command = line.split("in another terminal: ", 1)[1]
        await printed_chat_answers_help(command, tmp_path, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


async def test_the_next_step_carries_the_config_file_serve_was_given(tmp_path: Path) -> None:
    """`textwire serve --config /etc/textwire/config.toml`: the printed chat command had no
    --config, so run as printed it read ./config.toml (or the defaults): another port and data
    folder, and it could not reach the server."""
    port = free_port()
    etc = tmp_path / "etc dir"
    etc.mkdir()
    config = etc / "config.toml"
    config.write_text(
        (REPO / "config.toml")
        .read_text()
        .replace("port = 8080", f"port = {port}")
        .replace('data_dir = "data"', f'data_dir = "{tmp_path / "data"}"')
        .replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTWIRE_")}
    env["TEXTWIRE_LOG_FORMAT"] = "console"
    proc = spawn(tmp_path, env, "--config", str(config))
    try:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, port, proc)

        async def banner() -> str | None:
            text = (tmp_path / "out.log").read_text()
            return text if "  next " in text else None

        [line] = [line for line in (await wait_for(banner)).splitlines() if line.startswith("  next ")]
        command = line.split("in another terminal: ", 1)[1]
        assert f"chat --config '{config}' --from " in command
        elsewhere = tmp_path / "elsewhere"  # no config.toml here
        elsewhere.mkdir()
        await printed_chat_answers_help(command, elsewhere, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_the_next_step_names_the_script_that_started_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` starts `.venv/bin/textwire serve` in the checkout: that is what runs chat."""
    from bot.app.startup import textwire_command

    script = tmp_path / ".venv" / "bin" / "textwire"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "serve"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert textwire_command() == ".venv/bin/textwire"
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")  # on PATH: the bare name runs it
    assert textwire_command() == "textwire"


def test_a_public_url_on_this_machine_but_another_port_is_warned_about() -> None:
    from bot.app.startup import public_url_warning
    from bot.core.config import load_config

    env = {"TEXTWIRE_SERVER_PORT": "9000"}
    assert load_config(REPO / "config.toml", env=env).server.public_url == "http://127.0.0.1:9000"
    assert public_url_warning(load_config(REPO / "config.toml", env=env)) is None
    set_apart = {**env, "TEXTWIRE_SERVER_PUBLIC_URL": "http://127.0.0.1:8080"}
    warning = public_url_warning(load_config(REPO / "config.toml", env=set_apart))
    assert warning is not None
    assert "listens on port 9000" in warning
    assert "TEXTWIRE_SERVER_PUBLIC_URL" in warning
    behind_a_proxy = {**env, "TEXTWIRE_SERVER_PUBLIC_URL": "https://sms.example.com"}
    assert public_url_warning(load_config(REPO / "config.toml", env=behind_a_proxy)) is None
    # a worker on its own port shares the web process's public URL: its links name that one
    worker = {**set_apart, "TEXTWIRE_SERVER_ROLE": "worker"}
    assert public_url_warning(load_config(REPO / "config.toml", env=worker)) is None


def test_a_worker_whose_public_url_names_itself_is_warned_about() -> None:
    """The README's `TEXTWIRE_SERVER_PORT=8081 textwire serve --role worker` on the web process's
    machine, public URL left to follow: the worker's links (X link, gallery, statement) named
    http://127.0.0.1:8081, where it serves no page (404), and photos `textwire chat` sent through
    the web process were refused as "did not come from Twilio"; start-up said nothing."""
    from bot.app.startup import public_url_warning
    from bot.core.config import load_config

    worker = {"TEXTWIRE_SERVER_PORT": "8081", "TEXTWIRE_SERVER_ROLE": "worker"}
    warning = public_url_warning(load_config(REPO / "config.toml", env=worker))
    assert warning is not None
    assert warning.startswith("server.public_url http://127.0.0.1:8081 names this worker")
    assert "TEXTWIRE_SERVER_PUBLIC_URL" in warning
    # set to the web process's URL: quiet; a web process or `all` on its own port: quiet
    shared = {**worker, "TEXTWIRE_SERVER_PUBLIC_URL": "http://127.0.0.1:8080"}
    assert public_url_warning(load_config(REPO / "config.toml", env=shared)) is None
    for role in ("web", "all"):
        env = {"TEXTWIRE_SERVER_PORT": "8081", "TEXTWIRE_SERVER_ROLE": role}
        assert public_url_warning(load_config(REPO / "config.toml", env=env)) is None


@pytest.mark.parametrize("url", ["http://0.0.0.0:8080", "http://[::]:8080"])
@pytest.mark.parametrize("role", ["all", "worker"])
def test_a_public_url_that_names_a_wildcard_address_is_warned_about(url: str, role: str) -> None:
    """TEXTWIRE_SERVER_PUBLIC_URL=http://0.0.0.0:8080 (the listening address copied) started with
    no word: every link texted to people named 0.0.0.0, and each webhook's signature, made by
    Twilio over the URL it calls, failed against it (403)."""
    from bot.app.startup import public_url_warning
    from bot.core.config import load_config

    env = {"TEXTWIRE_SERVER_PUBLIC_URL": url, "TEXTWIRE_SERVER_HOST": "0.0.0.0", "TEXTWIRE_SERVER_ROLE": role}
    warning = public_url_warning(load_config(REPO / "config.toml", env=env))
    assert warning is not None
    assert warning.startswith(f"server.public_url {url} names no host")
    assert "TEXTWIRE_SERVER_PUBLIC_URL" in warning
    # listening on every address with the public URL left to follow: it names 127.0.0.1, no warning
    assert (
        public_url_warning(load_config(REPO / "config.toml", env={"TEXTWIRE_SERVER_HOST": "0.0.0.0"})) is None
    )


async def test_chat_says_which_url_it_tried_and_which_setting_moves_it() -> None:
    from bot.app.chat import unreachable

    port = free_port()  # nothing listens there
    url = f"http://127.0.0.1:{port}/twilio/sms"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError) as raised:
            await session.post(url, data={})
    line = unreachable(url, raised.value)
    assert line.startswith(f"! cannot reach {url} (")
    assert "server.public_url (TEXTWIRE_SERVER_PUBLIC_URL)" in line
    assert "server.port" in line
    assert "\n" not in line


async def test_an_s3_bucket_that_does_not_exist_is_named_in_the_start_up_block(
    tmp_path: Path, s3_bucket: Bucket
) -> None:
    """A typo in s3.bucket started with "media  S3 bucket receipts" and nothing else: photos then
    waited unsaved and only /readyz, if asked, said "down: ClientError". The block says the
    bucket does not exist and that photos wait for it; a bucket that is there reads as before."""
    port = free_port()
    s3 = {
        "TEXTWIRE_MEDIA_BACKEND": "s3",
        "TEXTWIRE_S3_ENDPOINT_URL": s3_bucket.endpoint,
        "TEXTWIRE_LOG_FORMAT": "console",
    }
    env = serve_env(tmp_path, port, TEXTWIRE_S3_BUCKET="typo-" + s3_bucket.name, **s3)
    text = await started(tmp_path, env, port)
    [line] = [line for line in text.splitlines() if line.startswith("  media ")]
    assert line == (
        f"  media        S3 bucket typo-{s3_bucket.name}: NOT READY, s3.bucket typo-{s3_bucket.name} does "
        "not exist at the endpoint; receipt photos wait until it works (see /readyz)"
    )

    env = serve_env(tmp_path, port, TEXTWIRE_S3_BUCKET=s3_bucket.name, **s3)
    text = await started(tmp_path, env, port)
    [line] = [line for line in text.splitlines() if line.startswith("  media ")]
    assert line == f"  media        S3 bucket {s3_bucket.name}"


async def test_no_aws_credentials_or_a_hung_endpoint_are_named_in_the_start_up_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from botocore.exceptions import NoCredentialsError

    from bot.app import startup
    from bot.core.config import load_config

    config = load_config(
        REPO / "config.toml", env={"TEXTWIRE_MEDIA_BACKEND": "s3", "TEXTWIRE_S3_BUCKET": "b"}
    )

    async def no_credentials() -> None:
        raise NoCredentialsError()

    assert await startup.store_down(config, no_credentials) == (
        "no AWS credentials were found (environment, profile or role)"
    )

    async def hung() -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(startup, "READY_CHECK_SECONDS", 0.01)  # /readyz's 4 s, shortened
    assert (await startup.store_down(config, hung)).startswith("it did not answer within ")


async def test_whatsapp_messages_that_no_reply_can_answer_are_warned_about(
    bot_factory: Any, fake_twilio: Any
) -> None:
    """With neither `twilio.whatsapp_from` nor a messaging service, every WhatsApp answer fails;
    the start-up block said nothing of it. Once people have written from WhatsApp (or templates
    are configured) it warns and names the keys; an SMS-only service hears nothing of WhatsApp."""
    from bot.app.startup import whatsapp_unanswered

    bot = await bot_factory(twilio=fake_twilio.section())  # from_number only
    config, db = bot.runtime.deps.config, bot.runtime.deps.db
    assert await whatsapp_unanswered(config, db) == ""
    form = await bot.text("\\HELP", sender="whatsapp:+15550009999")
    assert await bot.handled(form["MessageSid"]) == "done"
    warning = await whatsapp_unanswered(config, db)
    assert warning.startswith("WhatsApp messages come in but no reply can go to them")
    assert "twilio.whatsapp_from" in warning
    assert "twilio.messaging_service_sid" in warning
    answered = dataclasses.replace(config.twilio, whatsapp_from="whatsapp:+14155238886")
    assert await whatsapp_unanswered(dataclasses.replace(config, twilio=answered), db) == ""


def test_x_off_asks_for_the_client_id_and_a_secret_only_for_a_web_app(tmp_path: Path) -> None:
    """With X off the start-up block said "set x.client_id and x.client_secret to post to X": an
    operator whose X app is a Native App (a public client, which has no secret; README: "empty for
    a public one") went looking for a secret X never gave them. The client id alone turns it on."""
    from bot.app.startup import summary
    from bot.core.config import load_config

    env = {"TEXTWIRE_SERVER_DATA_DIR": str(tmp_path)}
    off = summary(load_config(REPO / "config.toml", env=env), [], []).x
    assert off.startswith("off (set x.client_id to post to X")
    assert "x.client_secret too for a Web App" in off  # a confidential client needs its secret
    on = {**env, "TEXTWIRE_X_CLIENT_ID": "abc"}  # a public client: no secret
    assert summary(load_config(REPO / "config.toml", env=on), [], []).x == "on"


def test_an_empty_key_file_generated_again_is_named_as_generated_now(tmp_path: Path) -> None:
    """An empty dev-twilio-token (or key file), left by an older version on a full disk, is
    generated again at start-up, but the start-up block counted it as there before: it named no
    file "(generated now)" though the secret chat signs with had just changed."""
    from bot.app.startup import summary
    from bot.core.config import load_config
    from bot.core.devmode import twilio_auth_token

    config = load_config(REPO / "config.toml", env={"TEXTWIRE_SERVER_DATA_DIR": str(tmp_path)})
    (tmp_path / "dev-twilio-token").write_text("")
    (tmp_path / "link-signing.key").write_text("a key\n")
    token, generated = twilio_auth_token(config)
    assert generated
    assert token
    assert summary(config, [], []).generated == (str(tmp_path / "dev-twilio-token"),)


def test_a_key_file_another_process_made_meanwhile_is_not_named_as_generated_now(tmp_path: Path) -> None:
    """The web and worker processes started at once on a new data folder: both found the key
    files missing, one made them, and both start-up blocks said "(generated now)", so an operator
    could not tell which process's secrets the other had read."""
    from bot.app.startup import summary
    from bot.core.config import load_config
    from bot.core.devmode import twilio_auth_token

    config = load_config(REPO / "config.toml", env={"TEXTWIRE_SERVER_DATA_DIR": str(tmp_path)})
    (tmp_path / "dev-twilio-token").write_text("the other process's\n")  # made by the other one
    token, generated = twilio_auth_token(config)
    assert (token, generated) == ("the other process's", False)
    assert summary(config, [], []).generated == ()


def _wal_caught_up(data: Path) -> bool:
    """The -shm says every frame of the -wal was copied into the database file (a checkpoint)."""
    try:
        index = (data / "textwire.db-shm").read_bytes()[:136]
    except OSError:
        return False
    mx, copied = (int.from_bytes(index[at : at + 4], sys.byteorder) for at in (16, 96))
    return len(index) == 136 and copied > 0 and copied == mx


async def test_a_copy_made_with_cp_while_serving_put_back_beside_the_wal_is_refused(tmp_path: Path) -> None:
    """A copy of textwire.db taken with `cp` while serve ran (WAL mode, not `textwire backup`'s),
    put back after the server died, with the dead server's -wal and -shm still beside it: serve
    started, SQLite laid the newer pages over the older file, and the room had bo's payments
    but not bo (integrity_check: wrong # of entries in index ix_outbox_ready). A crash alone
    (the same -wal over the file it was written on) still starts."""
    from bot.app.startup import check_no_foreign_wal
    from tests.app.test_chat import serving

    data = tmp_path / "data"
    db = data / "textwire.db"
    with serving(tmp_path) as served:
        async with aiohttp.ClientSession() as session:
            await wait_healthy(session, served.port, served.proc)
        assert served.chat("--from", "+15550003001", stdin="\\CREATE house pw12345\n").returncode == 0
        shutil.copyfile(db, tmp_path / "cp-copy.db")  # what `cp` does, the server running
        bob = served.chat("--from", "+15550003002", stdin="\\JOIN house pw12345\n\\PAID +15550003001 5\n")
        assert bob.returncode == 0, bob.stderr

        async def caught_up() -> bool:
            return _wal_caught_up(data)

        await wait_for(caught_up)
        served.proc.kill()  # kill -9: the -wal and -shm stay
        served.proc.wait(15)
    assert (data / "textwire.db-wal").stat().st_size > 32
    check_no_foreign_wal(db)  # a crash alone: the -wal is this file's

    shutil.copyfile(tmp_path / "cp-copy.db", db)  # the restore, the -wal and -shm left beside it
    out, err = run_failing(tmp_path, serve_env(tmp_path, free_port()))
    line = one_failure(out, err)
    assert line.startswith(
        f"textwire: database.url {db}: textwire.db-wal beside it belongs to another database"
    ), line
    assert "delete textwire.db-wal and textwire.db-shm" in line, line
    assert db.read_bytes() == (tmp_path / "cp-copy.db").read_bytes()  # untouched

    for name in ("textwire.db-wal", "textwire.db-shm"):
        (data / name).unlink()
    check_no_foreign_wal(db)


# a server in miniature: it writes, checkpoints, and keeps the database open until told
_LIVE_WRITER = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("pragma journal_mode=wal")
c.execute("pragma wal_autocheckpoint=0")
c.execute("create table t(id integer primary key, v text)")
c.execute("pragma wal_checkpoint(truncate)")
print("copy", flush=True)
sys.stdin.readline()
for i in range(200):
    c.execute("insert into t(v) values (?)", ("x" * 300,))
c.execute("pragma wal_checkpoint(passive)")
print("written", flush=True)
sys.stdin.readline()
"""


def test_a_database_open_in_a_live_process_is_never_judged_foreign(tmp_path: Path) -> None:
    """`textwire person delete` (or `migrate --check`, `keys rotate`) run beside a live serve
    looks at the -wal the server is writing and checkpointing: a page read while a checkpoint
    wrote it looked like another database's, and the command was refused with "delete
    textwire.db-wal and textwire.db-shm", which would have thrown away the live server's latest
    commits. Whatever the pages hold, a database a connection has open is not judged. Here the
    file under the open connection is even replaced by an older copy: still not judged; once the
    connection is gone (as after a kill -9), it is."""
    from bot.app.startup import check_no_foreign_wal
    from bot.core.errors import StartupError

    db = tmp_path / "textwire.db"
    proc = subprocess.Popen(  # noqa: S603 - Python, and a script of ours
        [sys.executable, "-c", _LIVE_WRITER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stdout.readline() == "copy\n"
        older = db.read_bytes()
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == "written\n"
        assert (tmp_path / "textwire.db-wal").stat().st_size > 32
        db.write_bytes(older)  # the same file, older pages: what a torn read of one page also looks like
        try:
            check_no_foreign_wal(db)  # open in a live process: its own -wal
        finally:
            proc.kill()  # kill -9: the -wal and -shm stay, and nobody has them open
            proc.wait(15)
    with pytest.raises(StartupError, match="belongs to another database"):
        check_no_foreign_wal(db)


def _locks_of_this_process(*paths: Path) -> list[str]:
    """This process's lines of /proc/locks on `paths` (id, start, end), sorted."""
    ids = {
        f"{os.major(p.stat().st_dev):02x}:{os.minor(p.stat().st_dev):02x}:{p.stat().st_ino}" for p in paths
    }
    mine = str(os.getpid())
    found = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.replace("->", " ").split()
        if len(fields) >= 8 and fields[4] == mine and fields[5] in ids:
            found.append(" ".join(fields[3:8]))
    return sorted(found)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="no /proc/locks: not Linux")
def test_the_checks_before_opening_keep_this_process_s_own_connection_live(tmp_path: Path) -> None:
    """`person delete` run in the process that serves (as the tests run it) was refused once in a
    while with "textwire.db-wal beside it belongs to another database": the writability check
    opened and closed the -shm, which dropped the running connection's read lock on it (closing
    any file of SQLite's drops every lock this process holds on that file), so the database no
    longer looked open and the -wal, read mid-checkpoint, was judged another file's. The checks
    leave this process's locks as they were, and a database open here is never judged."""
    from bot.app.startup import check_no_foreign_wal, check_writable_files

    db = tmp_path / "textwire.db"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("pragma journal_mode=wal")
        conn.execute("pragma wal_autocheckpoint=0")
        conn.execute("create table t(id integer primary key, v text)")
        conn.execute("pragma wal_checkpoint(truncate)")
        older = db.read_bytes()
        for _ in range(200):
            conn.execute("insert into t(v) values (?)", ("x" * 300,))
        conn.execute("pragma wal_checkpoint(passive)")
        shm = tmp_path / "textwire.db-shm"
        held = _locks_of_this_process(shm)
        assert held, "SQLite holds a read lock on the -shm while the connection is open"
        db.write_bytes(older)  # older pages under the live connection: a torn read looks the same
        check_writable_files(db)
        assert _locks_of_this_process(shm) == held
        check_no_foreign_wal(db)  # open here: its own -wal
        assert _locks_of_this_process(shm) == held
    finally:
        conn.close()
