"""`textwire serve | chat | keys generate | keys rotate | migrate [--check | --from SQLITE_URL] |
backup | telegram | person export|delete`, and `textwire --version` (also `python -m bot ...`)."""

from __future__ import annotations

import os
import signal
import sys


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def stop_on_sigterm_as_init() -> None:
    """As a container's first process (pid 1, `CMD ["textwire", "serve"]`) a SIGTERM with no
    handler is dropped by the kernel, not fatal: a `docker stop` (or compose's, Kubernetes') that
    came while serve was still importing and starting was never heard, the server started and
    ran until the stop timeout's SIGKILL (exit 137, 60 s later). Until serve's own handler
    takes over (a drained stop), it ends the command at once, as it would end any other process:
    exit 143. Set before the imports below: without bytecode (the image keeps none) they take
    most of a second."""
    if os.getpid() == 1:
        signal.signal(signal.SIGTERM, _terminated)


stop_on_sigterm_as_init()

import argparse  # noqa: E402
import asyncio  # noqa: E402
from collections.abc import Coroutine, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from structlog.typing import FilteringBoundLogger  # noqa: E402

from bot.core.config import ROLES, Config, ConfigError, load_config, replace  # noqa: E402
from bot.core.logs import configure_logging, get_logger  # noqa: E402


def _log() -> FilteringBoundLogger:
    """Bound when used: a module-level logger would be bound before `configure_logging` runs and
    keep structlog's default (console) output."""
    return get_logger(__name__)


class _Version(argparse.Action):
    """`--version`: the release and the schema revision it migrates to (what a deploy script
    compares with `textwire migrate --check`). The revision is looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and its schema revision")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from bot import __version__
        from storage.db import head_revision

        print(f"textwire {__version__} (schema {head_revision()})")
        parser.exit()


CONFIG_HELP = "config file (default: $TEXTWIRE_CONFIG, then ./config.toml)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textwire", description="SMS bot and gateway worker.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="web server + worker + sender + scheduler in one process")
    serve.add_argument(
        "--role",
        choices=ROLES,
        help="all (default): everything; web: webhooks and pages; worker: worker, sender, scheduler "
        "(and only /healthz, /readyz, /metrics); overrides server.role and TEXTWIRE_SERVER_ROLE",
    )
    serve.add_argument("--config", help=CONFIG_HELP)
    chat = sub.add_parser("chat", help="text the running bot from a terminal")
    chat.add_argument(
        "--channel",
        choices=["sms", "whatsapp", "telegram"],
        default="sms",
        help="text as SMS (default), as WhatsApp through Twilio, or as a Telegram chat",
    )
    chat.add_argument(
        "--from",
        dest="from_phone",
        default=None,
        help="the number you text from (default +15550001111), or the Telegram chat id (default 1001)",
    )
    chat.add_argument(
        "--photo",
        action="append",
        default=[],
        metavar="PATH",
        help="send one MMS with this file (repeat for more, up to media.max_items); development mode",
    )
    chat.add_argument("--text", help="the MMS's caption (or a single text to send) instead of reading stdin")
    chat.add_argument("--config", help=CONFIG_HELP)
    keys = sub.add_parser(
        "keys",
        help="Fernet keys: X tokens at rest, signed links",
        description="Keys come from TEXTWIRE_SECURITY_FERNET_KEYS (newest first), else the data "
        "folder's fernet.key. To rotate: put a new key first, restart, run `keys rotate`, then "
        "drop the old key.",
    )
    keys.add_argument(
        "action",
        choices=["generate", "rotate"],
        help="generate: print a new key; rotate: re-encrypt every stored token under the newest key",
    )
    keys.add_argument("--config", help=CONFIG_HELP)
    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 0 when the schema is current, 1 when it is behind (run migrate), "
        "2 when the database cannot be reached or a newer textwire migrated it",
    )
    migrate.add_argument(
        "--from",
        dest="from_url",
        metavar="SQLITE_URL",
        help="move to PostgreSQL: migrate the empty PostgreSQL database of database.url, then copy "
        "every row of this SQLite database (sqlite:///PATH, at this release's schema, its serve "
        "stopped; only read) into it in one transaction; exit 2 when a precondition is not met, 1 "
        "when the copy failed (nothing is copied then)",
    )
    migrate.add_argument("--config", help=CONFIG_HELP)
    person = sub.add_parser("person", help="what is kept about a person, or forget them")
    person.add_argument(
        "action",
        choices=["export", "delete"],
        help="export: print as JSON what is kept about them; delete: forget them (revoke X, purge "
        "their messages; their receipts stay in the ledgers)",
    )
    person.add_argument(
        "address", help="any of their addresses: +15550001111, whatsapp:+1..., telegram:<chat id>"
    )
    person.add_argument(
        "--receipts",
        action="store_true",
        help="delete: their receipt photos too (the receipts stay in the ledgers)",
    )
    person.add_argument("--config", help=CONFIG_HELP)
    backup = sub.add_parser("backup", help="a consistent copy of the SQLite database, while serving")
    backup.add_argument("path", help="the file to write (replaced atomically when it exists)")
    backup.add_argument("--config", help=CONFIG_HELP)
    telegram = sub.add_parser("telegram", help="point Telegram at this server's webhook, or take it away")
    telegram.add_argument(
        "action",
        choices=["set-webhook", "delete-webhook"],
        help="set-webhook: Telegram sends updates to {server.public_url}/telegram/webhook, and the "
        "bot gets its command menu; delete-webhook: takes both away",
    )
    telegram.add_argument("--config", help=CONFIG_HELP)
    return parser


def _load(path: str | None) -> Config:
    return load_config(path)


def serve(config: Config, config_path: str | None = None) -> int:
    from bot.app.serve import serve as serve_async

    loop_factory = None
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        pass
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(serve_async(config, config_path))


async def _migrate_check(config: Config) -> int:
    """`migrate --check`: 0 current, 1 behind, 2 unreachable or ahead of this code; one line."""
    from bot.app.startup import open_db, sqlite_file_exists
    from bot.core.dburl import mask_url
    from storage.db import head_revision, known_revisions, sqlite_path

    url, wanted = config.database.url, head_revision()
    path = sqlite_path(url)
    if path is not None and not sqlite_file_exists(path):  # asked, not made: a check creates nothing
        print(f"database {mask_url(url)} does not exist yet: run `textwire migrate` (needs {wanted})")
        return 1
    db = await open_db(url, migrate=False)  # unreachable: a StartupError, exit 2
    try:
        current = await db.revision()
    finally:
        await db.close()
    if current == wanted:
        print(f"database at revision {current}: current")
        return 0
    if current is None or current in known_revisions():
        print(
            f"database at revision {current or 'none'}, this version needs {wanted}: run `textwire migrate`"
        )
        return 1
    print(
        f"database at revision {current}, which this version ({wanted}) does not know: a newer textwire migrated it"
    )
    return 2


async def _migrate_from(config: Config, source_url: str) -> int:
    from bot.app.from_sqlite import CopyFailed, migrate_from
    from bot.core.dburl import mask_url

    try:
        copied = await migrate_from(config, source_url, say=print)
    except CopyFailed as exc:
        print(f"textwire: {exc}", file=sys.stderr)
        return 1
    print(
        f"copied {copied.rows} rows of {len(copied.tables)} tables from {source_url} to "
        f"{mask_url(config.database.url)} in {copied.seconds:.1f} s (database at revision "
        f"{copied.revision}; sequences set; row counts match): start the processes on it"
    )
    return 0


async def _migrate(config: Config) -> int:
    from bot.app.startup import open_db

    db = await open_db(config.database.url, migrate=True)
    revision = await db.revision()
    await db.close()
    _log().info("db.migrated", revision=revision)
    print(f"database at revision {revision}")
    return 0


UNREADABLE_SHOWN = 50  # user ids on `keys rotate`'s line; the log line has them all


async def _rotate(config: Config) -> int:
    from bot.app.startup import open_current
    from storage import crypto

    # never migrates nor makes one (only `textwire migrate` does): a schema not current is refused
    db = await open_current(config.database.url)
    try:
        keys, _ = crypto.load_keys(config, create=False)  # the service's: never made here
        cipher = crypto.TokenCipher(keys)
        # keys that cannot read the stored tokens (a missing key) stop it, as they stop `serve`
        await crypto.verify_keys(db, cipher)
        done = await crypto.rotate_all(db, cipher)
    finally:
        await db.close()
    _log().info("keys.rotated", rows=done.changed, unreadable=done.unreadable)
    print(f"re-encrypted {done.changed} rows under the newest key")
    if done.unreadable:
        # rows gone bad (copied from another user's row, corrupt): as `serve` does, they stay as
        # they are and each such person is asked to relink when the token is used
        _log().warning("keys.unreadable", rows=done.unreadable, user_ids=done.unreadable_users)
        shown = ", ".join(str(u) for u in done.unreadable_users[:UNREADABLE_SHOWN])
        more = len(done.unreadable_users) - UNREADABLE_SHOWN
        shown += f" and {more} more (all in the keys.unreadable log line)" if more > 0 else ""
        print(
            f"left {done.unreadable} rows that no configured key reads as they are (user ids {shown}): "
            "each such person is asked to relink X when their token is next used"
        )
    return 0


async def _backup(path: str, config: Config) -> int:
    from bot.app.backup import BackupError, backup

    try:
        result = await backup(config, path)
    except BackupError as exc:
        print(f"textwire backup: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"backed up the database to {result.path} ({result.size} bytes, integrity ok)")
    return 0


async def _telegram(action: str, config: Config) -> int:
    from bot.channels.telegram.admin import NotConfigured, TelegramError, delete_webhook, set_webhook

    try:
        line = await (set_webhook(config) if action == "set-webhook" else delete_webhook(config))
    except NotConfigured as exc:
        print(f"textwire telegram: {exc}", file=sys.stderr)
        return 2
    except TelegramError as exc:
        if exc.status is None:  # no answer: "Telegram said no" sent the operator after the token
            print(
                f"textwire telegram: Telegram did not answer ({exc}): check telegram.api_base and "
                "this machine's network, then run it again",
                file=sys.stderr,
            )
        elif exc.status in (401, 404):  # Telegram's answer to a token that is no bot's
            print(
                f"textwire telegram: Telegram said no: {exc}: telegram.bot_token is no bot's token: "
                "set TEXTWIRE_TELEGRAM_BOT_TOKEN to the one BotFather gave (123456789:AA...)",
                file=sys.stderr,
            )
        else:
            print(f"textwire telegram: Telegram said no: {exc}", file=sys.stderr)
        return 1
    print(line)
    return 0


def _or_exit_2(work: Coroutine[Any, Any, int]) -> int:
    """Run a one-shot command: a start-up problem (the database, the store) is one line, exit 2."""
    from bot.core.errors import StartupError
    from storage.media import StoreUnavailable

    async def interruptible() -> int:
        try:
            return await work
        except (StartupError, StoreUnavailable):
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Ctrl-C came while it waited (a locked database: its connection's close, as the
                # cancel unwound, raised "database is locked", said as a start-up problem, exit 2):
                # the interrupt is what happened, and asyncio.run makes it KeyboardInterrupt
                raise asyncio.CancelledError from None
            raise

    try:
        return asyncio.run(interruptible())
    except (StartupError, StoreUnavailable) as exc:
        print(f"textwire: {exc}", file=sys.stderr)
        return 2


def _interrupted(args: argparse.Namespace | None) -> str:
    """The one line for Ctrl-C: what the interrupted command left, and what to do."""
    command = [getattr(args, "command", None), getattr(args, "action", None)]
    if command == ["person", "delete"]:
        return (
            "interrupted: the person may be partly deleted (photos, their copies at Twilio, X grant);"
            " run the same `textwire person delete` again to finish"
        )
    if command[0] == "backup":
        return f"interrupted: no backup was written to {args.path if args else 'PATH'}"
    if command[0] == "migrate" and getattr(args, "from_url", None):
        return (
            "interrupted: nothing was copied (the copy is one transaction): run the same "
            "`textwire migrate --from` again"
        )
    if command[0] == "migrate" and not getattr(args, "check", False):
        return "interrupted: run `textwire migrate` again to finish"
    if command == ["keys", "rotate"]:
        return "interrupted: run `textwire keys rotate` again (the rows done so far stay done)"
    return "interrupted"


def main(argv: Sequence[str] | None = None) -> int:
    """Ctrl-C is one line on stderr that says what is left to do, exit 130 (not a traceback);
    a reader that left (`| head`) ends it quietly, exit 1."""
    args: argparse.Namespace | None = None
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        if args.command == "person" and args.action == "export" and args.receipts:
            # taken without a word: an operator who meant `delete --receipts` was told nothing
            parser.error("--receipts goes with `person delete` (an export lists every receipt already)")
        if args.command == "migrate" and args.check and args.from_url:
            parser.error("--check changes nothing and --from copies: give one of them")
        return _run(args)
    except KeyboardInterrupt:
        print(f"\ntextwire: {_interrupted(args)}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `| head`: the reader left; say nothing more on that pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "keys" and args.action == "generate":
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode("ascii"))
        return 0
    try:
        config = _load(args.config)
        if args.command == "serve" and args.role:
            config = replace(config, server={"role": args.role})
    except ConfigError as exc:
        print(f"textwire: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "chat":
        configure_logging("warning", "console", sys.stderr)
        from bot.app.chat import run_chat

        return asyncio.run(run_chat(config, args.from_phone, args.photo, args.text, channel=args.channel))
    if args.command == "telegram":
        configure_logging("warning", "console", sys.stderr)
        return asyncio.run(_telegram(args.action, config))
    if args.command == "person":  # stdout: the JSON, for scripts; warnings to stderr
        import time

        from bot.app import person

        configure_logging(config.log.level, "json", sys.stderr)  # an audit line for each
        if args.action == "export":
            return _or_exit_2(person.export(config, args.address, time.time()))
        return _or_exit_2(person.delete(config, args.address, args.receipts, time.time()))
    if args.command == "backup":  # stdout: its one line, for scripts; warnings to stderr
        configure_logging("warning", "console", sys.stderr)
        return asyncio.run(_backup(args.path, config))
    configure_logging(config.log.level, config.log.format, per_turn=args.command == "serve")
    from bot.app.serve import json_logs
    from bot.core.errors import StartupError
    from storage.crypto import CipherError, KeyMismatch

    try:
        if args.command == "migrate" and args.check:  # changes nothing, not even a folder
            return asyncio.run(_migrate_check(config))
        if args.command == "migrate" and not args.from_url:  # the SQLite file's folder only
            from bot.app.startup import check_database_folder

            check_database_folder(config)
        if args.command == "serve":
            return serve(config, args.config)
        if args.command == "migrate" and args.from_url:
            return asyncio.run(_migrate_from(config, args.from_url))
        if args.command == "migrate":
            return asyncio.run(_migrate(config))
        if args.command == "keys":
            return asyncio.run(_rotate(config))
    except ConfigError as exc:
        _log().error("config.invalid", error=str(exc))
        print(f"textwire: configuration error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        # one line that names the problem and the fix; also a JSON event when logs are JSON
        if json_logs(config):
            _log().error("app.start_failed", error=str(exc))
        print(f"textwire: {exc}", file=sys.stderr)
        # serve: 1 for a database that did not answer in time (its service manager tries again);
        # migrate and keys, run by hand (and `migrate --check`: 2 unreachable), say 2
        return exc.exit_code if args.command == "serve" else 2
    except (KeyMismatch, CipherError) as exc:
        _log().error("security.key_mismatch", error=str(exc))
        print(f"textwire: Fernet keys: {exc}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover - argparse rejects anything else


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
