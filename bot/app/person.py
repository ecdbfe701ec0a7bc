"""`textwire person export ADDRESS` and `textwire person delete ADDRESS [--receipts]` (issue 27):
an operator answering a person who asks what is kept about them, or to be forgotten.

- export prints, as JSON, every row about the person reached at ADDRESS (any of their addresses):
  their record and addresses, X account (that tokens exist, never their values), rooms, receipts
  with their object keys, payments, messages in and out, wrong room passwords.
- delete does what `\\STOP` does for the whole person (every address): revokes the X grant,
  hands their place in each ledger to an anonymous former member (debts stay payable), deletes
  their record; then purges their message history. With `--receipts` their receipt photos are
  deleted from the store too (S3 or the local folder) and their captions blanked; the receipts
  stay in the ledgers, and the gallery says the photo was deleted at the uploader's request.
  An address that had opted out stays opted out: nothing is ever sent there again.
- after `\\STOP` (no record at the address any more) both still find what they left in their
  rooms (a former member's receipts, by the address's keyed tag) and the messages still kept.

Both change nothing unless the schema is current; an unknown address is exit 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from structlog.typing import FilteringBoundLogger

from bot.core.channel import PREFIXED, SMS, TELEGRAM, WHATSAPP
from bot.core.config import Config, TwilioConfig
from bot.core.errors import StartupError
from bot.core.logs import get_logger, mask_address
from bot.features.ledger.book import known_as
from bot.features.ledger.reminders import zone_of_address
from bot.gateway.links import existing_keys, former_keys, former_tag
from storage import people, users
from storage.db import Database

_AT_TWILIO = re.compile(r"/2010-04-01/Accounts/[^/]+/Messages/[^/]+/Media/[^/]+")  # Twilio's own media path
TWILIO_CHANNELS = (SMS, WHATSAPP)  # whose messages' media Twilio keeps until it is deleted there


def _log() -> FilteringBoundLogger:
    """Bound when used, after the CLI configured logging (as bot/app/cli.py's)."""
    return get_logger(__name__)


async def _open(config: Config) -> Database:
    from bot.app.startup import open_current

    return await open_current(config.database.url)


_SEPARATORS = str.maketrans("", "", " -.()\t")


def as_key(typed: str) -> str:
    """An address as an operator may type it, as it is stored: `+1 (555) 000-1111` is
    `+15550001111`, `WhatsApp: +1 555 000 9999` is `whatsapp:+15550009999`, `telegram: 7001` is
    `telegram:7001`, `sms:+15550001111` is `+15550001111`. Nothing is guessed: a number without
    its `+` stays without it."""
    prefix, colon, rest = typed.strip().partition(":")
    if colon and prefix.strip().lower() == SMS:  # `sms:+1555...` (DESIGN's form): kept bare
        return rest.translate(_SEPARATORS)
    if colon and prefix.strip().lower() in PREFIXED:
        channel = prefix.strip().lower()
        return f"{channel}:{rest.strip() if channel == TELEGRAM else rest.translate(_SEPARATORS)}"
    return typed.translate(_SEPARATORS)


def _not_found(config: Config, address: str) -> int:
    """One line on stderr, exit 1: stdout is the JSON (`export ADDRESS > person.json`), so the
    line reaches the operator's terminal, not the file."""
    hint = ""
    channel, colon, rest = address.partition(":")
    if address.isdigit():  # stored with their +: say so rather than "no person"
        hint = f" (numbers are kept with their country code and +, e.g. +{address})"
    elif colon and channel != TELEGRAM and channel in PREFIXED and rest.isdigit():  # whatsapp:1555...
        hint = f" (numbers are kept with their country code and +, e.g. {channel}:+{rest})"
    elif "*" in address:  # copied from a log line, where numbers are masked
        hint = " (that number is masked, as the logs print it: give the whole number, e.g. +15550001111)"
    elif colon and channel not in PREFIXED:
        hint = f" (no channel {channel!r}: give +15550001111, whatsapp:+15550001111 or telegram:<chat id>)"
    elif not any(c.isdigit() for c in address):
        hint = " (not an address: give +15550001111, whatsapp:+15550001111 or telegram:<chat id>)"
    elif not existing_keys(config):  # what someone left by \STOP is found by the service's keys
        hint = (
            " (no keys here, TEXTWIRE_SECURITY_FERNET_KEYS or link-signing.key: someone who sent"
            " \\STOP is found by them; run it with the service's environment)"
        )
    print(f"textwire: no person at {address}{hint}", file=sys.stderr)
    return 1


async def _formers(config: Config, conn: Any, keys: list[str]) -> list[int]:
    """The former members the person's addresses left behind by `\\STOP` (their receipts stay in
    their rooms), found by each address's keyed tag under every configured key, and by the
    messages still kept that brought their receipts (a `\\STOP` before the tags: 0.2.0)."""
    signing = await asyncio.to_thread(former_keys, config)
    tagged = await people.formers_of(conn, (former_tag(k, a) for k in signing for a in keys))
    return sorted({*tagged, *await people.formers_by_messages(conn, keys)})


async def export(config: Config, address: str, now: float) -> int:
    address = as_key(address)
    db = await _open(config)
    try:
        async with db.tx() as conn:  # one snapshot
            user_id = await people.person_of(conn, address)
            keys = [address] if user_id is None else await people.addresses_of(conn, user_id)
            formers = await _formers(config, conn, keys)
            data: dict[str, Any] | None = None
            if user_id is not None:
                data = await people.person_data(conn, user_id)
            elif formers or await people.has_messages(conn, keys):  # they sent \STOP
                data = {"person": None, **await people.messages_of(conn, keys)}
            if data is not None:
                # what they left in their rooms by \STOP: theirs, until `person delete` forgets it
                data["receipts_left_in_rooms"] = await people.receipts_of(conn, formers)
    finally:
        await db.close()
    if data is None:
        return _not_found(config, address)
    print(
        json.dumps(
            {"address": address, "exported_at": now, **data}, indent=2, default=str, ensure_ascii=False
        )
    )
    _log().info("person.exported", address=mask_address(address))
    return 0


async def _x_grant(config: Config, db: Database, user_id: int) -> tuple[Any, str, str] | None:
    """The person's X grant to revoke: (cipher, stored pair, refresh token alone), None when there
    is none or no configured key reads this one row. Checked before anything is deleted, X or
    photos: run without the service's X settings or keys (another shell, an env file not loaded)
    it stops (StartupError, exit 2); it deleted the tokens unrevoked and said nothing but
    `"x_revoked": false`, and the grant stayed live at X."""
    from bot.features.x.accounts import refresh_token_alone
    from storage import crypto, xaccounts

    row = await xaccounts.load_tokens(db, user_id)
    if row is None:
        return None
    if not config.x.client_id:
        raise StartupError(
            "this person has X tokens and x.client_id is empty here: run it with the service's "
            "settings (TEXTWIRE_X_CLIENT_ID, ...) so their X grant is revoked; nothing was deleted"
        )
    try:
        keys, _ = crypto.load_keys(config, create=False)  # the service's: never made here
        cipher = crypto.TokenCipher(keys)
        await crypto.verify_keys(db, cipher)  # as `serve` and `keys rotate` check them
    except (crypto.CipherError, crypto.KeyMismatch) as exc:
        raise StartupError(f"Fernet keys: {exc}; nothing was deleted") from None
    alone = refresh_token_alone(cipher, user_id, row.ciphertext)
    if alone is None:  # this one row no configured key reads (the others do): nobody can revoke it
        return None
    return cipher, row.ciphertext, alone


async def _revoke_x(
    config: Config, db: Database, user_id: int, grant: tuple[Any, str, str] | None, now: float
) -> bool:
    """Revoke the person's X grant at X, as `\\STOP` does; False when there was none or X did
    not take it (the tokens are deleted with the record all the same). X down, busy or refusing:
    the refresh token waits in `x_revocations` for the running service's x-revoke job, as after
    a `\\STOP` (README, Posting to X), so the grant still ends."""
    from bot.features.x.accounts import revoke_grant
    from bot.features.x.client import XClient
    from storage import xaccounts

    if grant is None:
        return False
    cipher, ciphertext, alone = grant
    async with aiohttp.ClientSession() as session:
        client = XClient(session, config.x, f"{config.public_base}/x/callback")
        if await revoke_grant(client, cipher, user_id, ciphertext):
            return True
    async with db.tx() as conn:  # due for the job at once
        await xaccounts.queue_revocation(conn, user_id=user_id, ciphertext=alone, now=now, claim_until=now)
    _log().warning("token.revoke_queued", user_id=user_id)
    return False


async def _delete_photos(config: Config, photos: list[people.Photo]) -> list[str]:
    """Delete the objects; the ids of those gone (a store that fails stops here: exit 2)."""
    from storage.media import StoreUnavailable, open_store

    gone: list[str] = []
    failed: Exception | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            store = await open_store(config.media, config.s3, stack, lambda key, expires: "")
            gone, failed = await people.delete_photos(store, photos)
    except Exception as exc:  # the store would not open
        failed = exc
    if failed is not None:  # nothing of the person is deleted: run it again once the store is back
        raise StoreUnavailable(
            f"media store: cannot delete a photo ({type(failed).__name__}); nothing was deleted of the "
            f"person ({len(gone)} photos were): run it again when the store answers"
        )
    return gone


def _twilio_path(ref: str) -> bool:
    """A URL of Twilio's media API (any host: the service's settings say which)."""
    try:
        return bool(_AT_TWILIO.fullmatch(urlsplit(ref).path))
    except ValueError:
        return False


def _twilio_token(config: Config) -> str:
    """Blocking (a file): the auth token the service's media requests carry; in development mode
    the running server's generated one (read, never made here)."""
    from bot.core.devmode import DEV_TOKEN_FILE

    if not config.dev_mode:
        return config.twilio.auth_token
    path = config.data_dir / DEV_TOKEN_FILE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


async def _twilio_copies(config: Config, refs: list[str]) -> tuple[TwilioConfig, list[str]]:
    """The Twilio settings to delete with, and the copies at Twilio of the photos in the person's
    messages that no receipt keeps (waiting for a room, or for the media store, or dropped by
    `\\STOP`): purging the messages forgot the only record of them, and they stayed in the
    operator's Twilio account for good. Run without the service's Twilio settings (development
    mode) with such copies at Twilio, it stops before anything is deleted (exit 2)."""
    from bot.channels.twilio import devmedia
    from bot.channels.twilio.media import LOCATION_REF

    token = await asyncio.to_thread(_twilio_token, config) if refs else ""
    # the service's media source: the account, or in development mode the server's stand-in
    twilio = devmedia.media_twilio_config(config, token)
    ours = [ref for ref in refs if ref != LOCATION_REF and _owned(twilio, ref)]  # a location: not kept
    stranded = [ref for ref in refs if ref not in ours and _twilio_path(ref)]
    if stranded and config.dev_mode:
        raise StartupError(
            f"{len(stranded)} photos of this person's messages are still at Twilio and "
            "twilio.auth_token is empty here: run it with the service's settings "
            "(TEXTWIRE_TWILIO_ACCOUNT_SID, TEXTWIRE_TWILIO_AUTH_TOKEN) so they are deleted there; "
            "nothing was deleted"
        )
    return twilio, ours


def _owned(twilio: TwilioConfig, ref: str) -> bool:
    from bot.channels.twilio.media import is_twilio_media_url

    return is_twilio_media_url(twilio, ref)


async def _release_at_twilio(
    config: Config, twilio: TwilioConfig, ours: list[str], stored: int
) -> tuple[int, int]:
    """Delete those copies at Twilio (`stored`: the person's photos already deleted from the
    store): (deleted now, gone already). Gone already (404) is a copy a run before this one (or
    Twilio) deleted: counted as deleted, a run again after a stop said it deleted them twice.
    Twilio not answering stops it before the person's record and messages go (exit 2): run it
    again."""
    from bot.channels.twilio.media import ALREADY_GONE, TwilioMedia

    gone = already = 0
    if not ours:
        return gone, already
    async with aiohttp.ClientSession() as http:
        media = TwilioMedia(http, twilio)
        for ref in ours:
            status = await media.delete_status(ref)
            if status == ALREADY_GONE:
                already += 1
                continue
            if status not in (200, 204):
                where = (
                    " (in development mode `textwire serve` plays Twilio: start it)"
                    if config.dev_mode
                    else ""
                )
                raise StartupError(
                    f"Twilio did not delete a photo of this person's messages{where}; the person is not "
                    f"deleted ({stored} photos in the store and {gone + already} of {len(ours)} at Twilio "
                    "were): run it again when Twilio answers"
                )
            gone += 1
    return gone, already


LATE_ROUNDS = 5  # tries of the last transaction while photos of the person keep being saved


class LatePhotos(Exception):
    """Photos of the person saved while `delete` ran: deleted before their record is."""

    def __init__(self, photos: list[people.Photo]) -> None:
        super().__init__(len(photos))
        self.photos = photos


async def delete(config: Config, address: str, receipts: bool, now: float) -> int:
    address = as_key(address)
    db = await _open(config)
    try:
        async with db.read() as conn:
            user_id = await people.person_of(conn, address)
            keys = [address] if user_id is None else await people.addresses_of(conn, user_id)
            formers = await _formers(config, conn, keys)
            if user_id is None and not formers and not await people.has_messages(conn, keys):
                return _not_found(config, address)
            opted_out = await users.opted_out_among(conn, keys)
            owners = formers if user_id is None else [user_id, *formers]
            photos = await people.photos_of(conn, owners) if receipts else []
            at_twilio = await people.media_left_at_channel(conn, keys, TWILIO_CHANNELS)
            phone = keys[0]
        grant = None if user_id is None else await _x_grant(config, db, user_id)  # may stop it
        twilio, copies = await _twilio_copies(config, at_twilio)  # may stop it
        # a store that does not answer stops it before X is asked (the grant was revoked, and
        # the tokens kept, of a person "nothing was deleted" of)
        gone = await _delete_photos(config, photos) if photos else []
        # after the store: a store that stopped it left the messages' copies for their photos
        released, already_gone = await _release_at_twilio(config, twilio, copies, len(gone))  # may stop it
        revoked = False if user_id is None else await _revoke_x(config, db, user_id, grant, now)
        for _ in range(LATE_ROUNDS):
            try:
                async with db.tx() as conn:
                    if user_id is not None:
                        await people.hold_person(conn, user_id)
                    # a photo of theirs the running service saved since they were read above
                    # (being read when this started): handed to the former member below, with
                    # its photo kept, though they asked for their photos to go
                    late = (
                        [p for p in await people.photos_of(conn, owners) if p.id not in gone]
                        if receipts
                        else []
                    )
                    if late:
                        raise LatePhotos(late)
                    await people.mark_photos_deleted(conn, gone, people.REQUEST, now)
                    purged = await people.purge_messages(conn, keys)
                    await people.untag_formers(conn, formers)
                    kept = bool(formers)
                    if user_id is not None:
                        shown = await known_as(conn, user_id, phone)
                        kept = (
                            await people.forget(conn, user_id, shown, opted_out, now, zone_of_address) or kept
                        )
                break
            except LatePhotos as more:
                gone += await _delete_photos(config, more.photos)  # may stop it
        else:
            from storage.media import StoreUnavailable

            raise StoreUnavailable(
                f"the person's photos keep coming ({len(gone)} deleted): nothing else was deleted of the "
                "person; run it again"
            )
    finally:
        await db.close()
    summary: dict[str, Any] = {
        "deleted": address,
        "addresses": len(keys),
        "x_revoked": revoked,
        "kept_in_ledgers": kept,
        "messages_in": purged.messages_in,
        "messages_out": purged.messages_out,
        "photos_deleted": len(gone),
        "deleted_at_twilio": released,
        "already_gone_at_twilio": already_gone,
    }
    print(json.dumps(summary))
    _log().info(
        "person.deleted",
        address=mask_address(address),
        **{k: v for k, v in summary.items() if k != "deleted"},
    )
    return 0


__all__ = ["delete", "export"]
