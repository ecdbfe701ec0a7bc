"""`textwire serve | chat | keys generate | keys rotate | migrate` (also `python -m bot ...`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from structlog.typing import FilteringBoundLogger

from bot.config import Config, ConfigError, load_config
from bot.logs import configure_logging, get_logger


def _log() -> FilteringBoundLogger:
    """Bound when used: a module-level logger would be bound before `configure_logging` runs and
    keep structlog's default (console) output."""
    return get_logger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textwire", description="SMS bot and gateway worker.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="web server + worker + sender + scheduler in one process")
    serve.add_argument("--config", help="config file (default: $TEXTWIRE_CONFIG, then ./config.toml)")
    chat = sub.add_parser("chat", help="text the running bot from a terminal")
    chat.add_argument(
        "--from", dest="from_phone", default="+15550001111", help="the phone number you text from"
    )
    chat.add_argument("--config")
    keys = sub.add_parser("keys", help="Fernet keys for tokens at rest")
    keys.add_argument("action", choices=["generate", "rotate"])
    keys.add_argument("--config")
    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--config")
    return parser


def _load(path: str | None) -> Config:
    return load_config(path)


def serve(config: Config) -> int:
    from aiohttp import web

    from bot.app import build_app
    from bot.web import AccessLogger

    app = build_app(config)
    loop: asyncio.AbstractEventLoop | None = None
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency off Windows
        loop = None
    web.run_app(
        app,
        host=config.server.host,
        port=config.server.port,
        print=None,  # the banner would break the JSON-lines stream
        access_log_class=AccessLogger,
        shutdown_timeout=10,
        loop=loop,
    )
    return 0


async def _migrate(config: Config) -> int:
    from storage.db import open_database

    db = await open_database(config.database.url, migrate=True)
    revision = await db.revision()
    await db.close()
    _log().info("db.migrated", revision=revision)
    print(f"database at revision {revision}")
    return 0


async def _rotate(config: Config) -> int:
    from storage import crypto
    from storage.db import open_database

    keys, _ = crypto.load_keys(config)
    cipher = crypto.TokenCipher(keys)
    db = await open_database(config.database.url, migrate=True)
    try:
        count = await crypto.rotate_all(db, cipher)
    finally:
        await db.close()
    _log().info("keys.rotated", rows=count)
    print(f"re-encrypted {count} rows under the newest key")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "keys" and args.action == "generate":
        from cryptography.fernet import Fernet

        print(Fernet.generate_key().decode("ascii"))
        return 0
    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(f"textwire: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "chat":
        configure_logging("warning", "console", sys.stderr)
        from bot.chat import run_chat

        return asyncio.run(run_chat(config, args.from_phone))
    configure_logging(config.log.level, config.log.format)
    from storage.crypto import CipherError, KeyMismatch
    from storage.dburl import DatabaseError

    try:
        if args.command == "serve":
            return serve(config)
        if args.command == "migrate":
            return asyncio.run(_migrate(config))
        if args.command == "keys":
            return asyncio.run(_rotate(config))
    except ConfigError as exc:
        _log().error("config.invalid", error=str(exc))
        print(f"textwire: configuration error: {exc}", file=sys.stderr)
        return 2
    except DatabaseError as exc:  # unreachable, or a schema that is not current: one line, no password
        _log().error("db.unusable", error=str(exc))
        print(f"textwire: {exc}", file=sys.stderr)
        return 2
    except (KeyMismatch, CipherError) as exc:
        _log().error("security.key_mismatch", error=str(exc))
        print(f"textwire: Fernet keys: {exc}", file=sys.stderr)
        return 2
    return 1  # pragma: no cover - argparse rejects anything else


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
