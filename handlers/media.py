"""An MMS with photos: each item becomes a receipt of the sender's active room.

Per item: already stored (a retried or redelivered message) -> skipped; fetched from Twilio,
judged and cleaned (bot/features/receipts/media.py); stored under `rooms/<room>/receipts/<receipt>.<ext>`; recorded.
An item that cannot be kept is named in the reply and the others are still saved. When Twilio or
the store is down the message is retried later (`Retry`): what was stored stays stored and is
never stored twice; it waits aside (parked), so the sender's later messages are answered
meanwhile. After the objects are stored, the copies at Twilio are deleted (a failure is logged
and retried by the scheduler).

Each receipt's amount (issue 12): the caption's amount, else its total read by OCR, else none
(bot/features/ledger/intake.py); it is split among the room's members at that moment (their order is
stored with it). One reply sums the message up: `Saved $23.17 to house: split 3 ways, you are
owed $15.45. \\BALANCE for all.`, or asks for `\\AMOUNT` when no total was read with confidence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bot.core.channel import BAD_TYPE, FILE_NOT_SAVED, FitsOne
from bot.core.deps import Deps, release_refused
from bot.core.errors import Defer, Retry
from bot.core.logs import mask_address
from bot.features.ledger.book import room_ledger
from bot.features.ledger.intake import DUPLICATE, Found, read_amount, saved_replies
from bot.features.ledger.money import (
    Amount,
    Currency,
    caption_amount,
    caption_figure,
    caption_too_big,
    currency_or_default,
    parse_amount,
    unclear_amount,
    unclear_caption,
)
from bot.features.ledger.reminders import room_zone
from bot.features.ledger.split import split_order
from bot.features.ocr.reader import reader_of
from bot.features.ocr.total import Payment
from bot.features.receipts.media import (
    BROKEN,
    TOO_MANY_PIXELS,
    MediaUnavailable,
    Prepared,
    Refused,
    delete_twilio_copies,
    find_twin,
    pipeline_of,
    store_of,
)
from bot.pipeline.dispatch import CommandObject, Context, HandlerResult, Inbound, Router, has_media
from storage import inbox, ledger, outbox, receipts, rooms, users
from storage.lean import in_tx
from storage.media import StoreUnavailable, object_key

router = Router(name=__name__)

NO_ROOM = (
    "Photos are kept in rooms. Create one with \\CREATE <room> <password> or join one with "
    "\\JOIN <room> <password>, then send the photos again."
)
NOT_SET_UP = "Photos are not kept on this number."
STORE_WAIT = (
    "Got your photos, but they cannot be saved just now. They will be saved and counted as soon "
    "as we can; no need to send them again."
)


NO_ROOM_NOTICE = "no-room"  # the notice key of `waiting_for_room`


def waiting_for_room(count: int) -> str:
    """The answer to photos from a person in no room: they wait for one (one segment)."""
    these = "this photo goes" if count == 1 else "these photos go"
    return (
        "Photos are kept in rooms: \\CREATE <room> <password> or \\JOIN <room> <password> within "
        f"10 minutes and {these} there."
    )


GAVE_UP = "We could not save your photos: a service we rely on was down for too long. Please send them again."
GAVE_UP_KIND = "photos-gave-up"  # its outbox kind: said once to photos sent one a message
STORE_DOWN, CHANNEL_MEDIA_DOWN = "media store", "channel media"  # the retries' reasons begin so
CAPTION_MAX = 500
# how long after a message came a 404 for one of its items may mean "not at the host yet" (Twilio
# names a media URL in the webhook a moment before its media host has the item): tried again with
# the worker's backoff (up to 5, 10, 20, 40 s ...) until then, refused after
MEDIA_SETTLE_SECONDS = 120.0


async def _outage(msg: Inbound, deps: Deps, reason: str, exc: Exception, room: rooms.Room) -> Retry:
    """The retry of a photo the channel or the media store cannot take now: parked, with STORE_WAIT
    unless another of the sender's photos already waits for the outage to end (WhatsApp and
    Telegram send photos one a message, and three receipts got it three times). The room it was
    sent to is kept with it: the sender's later messages go on meanwhile, and a `\\USE` among them
    moved the photo to the room it named."""
    async with deps.db.tx() as conn:
        await inbox.keep_room(conn, msg.id, room.id)
        told = await inbox.parked_besides(conn, msg.sender.key, msg.id, (STORE_DOWN, CHANNEL_MEDIA_DOWN))
    return Retry(
        f"{reason}: {exc}",
        failure_reply=GAVE_UP,
        failure_kind=GAVE_UP_KIND,
        parked=True,
        notice=None if told else STORE_WAIT,
        notice_key="store-wait",
    )


OCR_BUSY_SECONDS = 2.0


def ocr_waiting_limit(deps: Deps) -> int:
    """At most half the worker's slots wait for OCR; the rest stay free for other messages."""
    return max(1, deps.config.worker.concurrency // 2)


# the reasons in a few words, for a reply about many photos that must still fit one segment (the
# channel gives its own reasons' short forms: `MediaRefused.short`)
SHORT_REASONS = {
    BAD_TYPE: "not a photo or PDF",
    BROKEN: "damaged",
    TOO_MANY_PIXELS: "too many pixels",
}


def _short(reason: str, shorts: dict[str, str]) -> str:
    if reason in shorts:
        return shorts[reason]
    if reason in SHORT_REASONS:
        return SHORT_REASONS[reason]
    if reason.startswith("it is "):  # "it is over 5 MB"
        return reason.removeprefix("it is ")
    if reason.startswith("at most "):  # "at most 10 are kept per message"
        return "over the limit per message"
    return reason


def photos_reply(
    heads: Sequence[str],
    failures: list[tuple[int, str]],
    *,
    fits: FitsOne,
    shorts: dict[str, str] | None = None,
) -> str:
    """The one reply to an MMS: what was saved (`heads`: its forms, richest first, from
    bot/features/ledger/intake.py), and each photo that was not and why; shortened, then summed up, when
    that would take more than one segment."""
    forms = list(heads) or [""]
    count = len(failures)
    detailed = " ".join(f"Photo {number} was not saved: {reason}." for number, reason in failures)
    grouped: dict[str, list[int]] = {}
    for number, reason in failures:
        grouped.setdefault(_short(reason, shorts or {}), []).append(number)
    tail = "; ".join(f"{', '.join(map(str, numbers))} ({why})" for why, numbers in grouped.items())
    summary = f"{count} photo{'s' if count != 1 else ''} not saved: not photos, too big or damaged."
    tails = [detailed, f"Photos not saved: {tail}.", summary] if failures else [""]
    candidates = [" ".join(p for p in (head, t) if p) for t in tails for head in forms[:1]]
    candidates += [" ".join(p for p in (head, tails[-1]) if p) for head in forms[1:]]
    return next((c for c in candidates if fits(c)), candidates[-1])


def _same_total(found: Found, twin: receipts.Earlier) -> bool:
    """Whether a like picture has the earlier receipt's total (known on both sides, the same
    amount in the same currency). A picture alone is not enough: at the size a perceptual hash
    sees them, receipts of one layout look alike (bench: distinct receipts within 0 of 256 bits)."""
    if found.minor is None or twin.amount_minor is None:
        return False
    return (found.minor, found.currency) == (twin.amount_minor, twin.currency)


def _told_apart(found: Found, twin: receipts.Earlier) -> bool:
    """Whether OCR read another date, or another time, on the two (`identity`: MERCHANT|date|time):
    a like picture of another day's receipt from the same till (yesterday's coffee, today's), not
    this photo again."""
    ours, theirs = (found.identity or "").split("|"), (twin.identity or "").split("|")
    if len(ours) != 3 or len(theirs) != 3:
        return False
    (_, date, clock), (_, their_date, their_clock) = ours, theirs
    return date != their_date or bool(clock and their_clock and clock != their_clock)


def _repeat_of(
    prepared: Prepared,
    found: Found,
    earlier: list[receipts.Earlier],
    pictured: tuple[receipts.Earlier, bool] | None = None,
) -> tuple[receipts.Earlier, bool] | None:
    """The earlier receipt this one repeats, and whether its bytes are the same: the same bytes;
    the same picture (`pictured`, else looked for) with the same total, unless another date or
    time is printed on it; else another photo of the same receipt (merchant, date and total as
    printed)."""
    twin = pictured if pictured is not None else find_twin(prepared, earlier)
    if twin is not None and (twin[1] or (_same_total(found, twin[0]) and not _told_apart(found, twin[0]))):
        return twin
    return next(
        (
            (e, False)
            for e in earlier
            if found.identity and e.identity == found.identity and _same_total(found, e)
        ),
        None,
    )


def caption_not_used(amount: Amount, photos: int) -> str:
    """The reply's second part when the caption of several photos has an amount: not counted
    (which photo's total is it?), and said so: the person typed it for a reason."""
    return f"Your caption's {amount.currency.format(amount.minor)} was not used: with {photos} photos it cannot say whose total it is."


def command_note(command: CommandObject) -> str:
    """The reply's second part when the text with the photos was a command (not run)."""
    name = command.name[:20]
    plain = name.isascii() and name.replace("_", "").isalnum()
    what = f"\\{name}" if plain else "A command"
    return f"{what} was not run: send it on its own, not with a photo."


def refused_at_once(msg: Inbound, ctx: Context) -> str | None:
    """The answer to a message whose every item the channel knows is no receipt without fetching
    it (a Telegram voice note, a sticker, a WhatsApp voice note or contact card): given now, in a room or not. Such a message never waits
    for a room ("this photo goes there"), to be refused once one is made. None otherwise."""
    source = ctx.deps.services.media_source
    if source is None:
        return None
    refusals = [source.refuses(item.url, item.content_type) for item in msg.media]
    known = [r for r in refusals if r is not None]
    if not known or len(known) != len(refusals):
        return None
    for item, refused in zip(msg.media, known, strict=True):
        ctx.log.info("media.refused", item=item.index + 1, reason=refused.reason, detail=refused.detail)
    if len(known) == 1 and known[0].alone:  # a sticker, a location: no photo that failed
        return known[0].alone
    failures = [(item.index + 1, refused.reason) for item, refused in zip(msg.media, known, strict=True)]
    shorts = {r.reason: r.short for r in known if r.short}
    return photos_reply([], failures, fits=ctx.deps.services.fits(msg.sender.channel), shorts=shorts)


@router.message(has_media)
async def photos(msg: Inbound, ctx: Context) -> HandlerResult:
    """The photos of a message, whatever its text (the dispatcher sends a message with media
    here unless its text is a priority command; a carrier keyword's handler hands them on). A
    command as the text (`ctx.text_command`) is not run and not kept as the caption (a `\\JOIN`
    password would show in the gallery), except `\\AMOUNT <amount>` with one photo: that photo's
    amount, as a caption's would be."""
    deps = ctx.deps
    pipeline, store = pipeline_of(deps), store_of(deps)
    if pipeline is None or store is None:
        return NOT_SET_UP
    command = ctx.text_command
    note = command_note(command) if command is not None else None
    refused = refused_at_once(msg, ctx)
    if refused is not None:
        await release_refused(deps, [(item.index + 1, item.url) for item in msg.media])
        return [refused, note] if note else refused
    user_id = ctx.user.id
    async with deps.db.read() as conn:
        done = await receipts.existing(conn, msg.external_id)
        room = await rooms.active_room(in_tx(conn), user_id)
        kept = await inbox.kept_room(conn, msg.id)
        if done:  # an earlier try stored some: the rest go to the same room
            room = await rooms.get(conn, str(next(iter(done.values())).room_id)) or room
        elif kept is not None:  # the room it was sent to, before an outage kept it waiting
            room = await rooms.get(conn, kept) or room
        room_currency = currency_or_default(await ledger.room_currency(conn, room.id)) if room else None
    if room is None or room_currency is None:
        waited = deps.now() - msg.received_at
        if note is None and waited < inbox.WAIT_FOR_ROOM:
            # kept at the channel, parked: the room the person makes or joins next takes them
            # (storage/rooms.py, set_active), and later texts go on meanwhile
            ctx.log.info("media.waiting_for_room", photos=len(msg.media))
            # WhatsApp and Telegram send photos one a message: the first was told, and three
            # receipts sent at once got the notice three times
            async with deps.db.read() as conn:
                told = await inbox.parked_besides(conn, msg.sender.key, msg.id, (inbox.WAITING_FOR_ROOM,))
            raise Defer(
                msg.received_at + inbox.WAIT_FOR_ROOM,
                parked=True,
                notice=None if told else waiting_for_room(len(msg.media)),
                notice_key=NO_ROOM_NOTICE,
                reason=inbox.WAITING_FOR_ROOM,
            )
        # nothing is kept: the copies at the channel go, as those of items that are refused do
        await release_refused(deps, [(item.index + 1, item.url) for item in msg.media])
        if note is not None:
            return [NO_ROOM, note]
        async with deps.db.read() as conn:
            told = await outbox.queued(conn, outbox.notice_key(msg.external_id, NO_ROOM_NOTICE))
            # or with the photo before it (one a message): a notice to the sender about then
            told = told or await outbox.sent_to(
                conn,
                msg.sender.key,
                msg.received_at - inbox.WAIT_FOR_ROOM,
                msg.received_at + inbox.WAIT_FOR_ROOM,
                notice=NO_ROOM_NOTICE,
            )
        return None if told else NO_ROOM  # told when it came that it would wait 10 minutes
    caption = msg.text[:CAPTION_MAX] if command is None else ""
    # a caption's amount is for a message with one photo: it cannot say which of several it is for
    caption_money = caption_amount(caption, room_currency) if len(msg.media) == 1 else None
    if caption_money is None and len(msg.media) == 1:  # `dinner 1.200`: asked about, not guessed
        note = unclear_caption(caption, room_currency) or caption_too_big(caption, room_currency) or note
    elif len(msg.media) > 1 and (several := caption_amount(caption, room_currency)) is not None:
        note = caption_not_used(several, len(msg.media))  # it was dropped without a word
    if command is not None and command.name == "AMOUNT" and len(msg.media) == 1:
        unclear = unclear_amount(command.arg_text, room_currency, command="\\AMOUNT ")
        caption_money = None if unclear else parse_amount(command.arg_text, room_currency)
        if caption_money is not None:
            caption, note = command.arg_text[:CAPTION_MAX], None
        note = unclear or note
    reader = reader_of(deps)
    claimed = reader is not None and caption_money is None and not done
    if reader is not None and claimed and not reader.claim(ocr_waiting_limit(deps)):
        # OCR is bounded (media.ocr_concurrency); a worker slot waiting for it is a slot other
        # people's texts cannot use. Nothing is stored yet: come back in a moment.
        ctx.log.info("ocr.busy_deferred", claimed=reader.claimed)
        raise Defer(deps.now() + OCR_BUSY_SECONDS)
    try:
        saved = await _save(msg, ctx, room, done, caption, caption_money, room_currency)
        if saved is None:  # `\STOP` overtook this message: its goodbye is the last word
            return None
        return [saved, note] if note else saved
    finally:
        if reader is not None and claimed:
            reader.release()


class UploaderGone(Exception):
    """The sender's record is gone: `\\STOP` (which jumps the queue) or `textwire person delete`
    deleted it while their photo was being fetched and read."""


async def _save(
    msg: Inbound,
    ctx: Context,
    room: rooms.Room,
    done: dict[int, Any],
    caption: str,
    caption_money: Amount | None,
    room_currency: Currency,
) -> str | None:
    """Fetch, store, read and record each item not stored yet; the one reply (None: the sender's
    record was deleted meanwhile, `UploaderGone`)."""
    deps = ctx.deps
    pipeline, store, reader = pipeline_of(deps), store_of(deps), reader_of(deps)
    if pipeline is None or store is None:  # checked by the caller; the app is stopping
        return NOT_SET_UP
    user_id = ctx.user.id
    max_items = deps.config.media.max_items
    limits = deps.services.media_limits_of(msg.sender.channel)
    saved = len(done)
    failures: list[tuple[int, str]] = []
    not_kept: list[tuple[int, str]] = []  # (item number, its reference): deleted at the channel too
    unclear: dict[str, tuple[int, str]] = {}  # receipt id: its total and another money's tax (Found.unclear)
    shorts: dict[str, str] = {}  # the channel's reasons in a few words
    payments: dict[str, Payment] = {}  # receipt id: a payment app's screenshot (Found.payment)
    for item in msg.media:
        number = item.index + 1
        if item.index in done:
            continue
        if item.index >= max_items:
            failures.append((number, f"at most {max_items} are kept per message"))
            not_kept.append((number, item.url))
            continue
        try:
            prepared = await pipeline.prepare(item.url, limits)
        except Refused as refused:
            if refused.not_yet and deps.now() - msg.received_at < MEDIA_SETTLE_SECONDS:
                # kept in the sender's order: an `\AMOUNT` sent after the photo waits for it
                ctx.log.info("media.not_yet", item=number, detail=refused.detail)
                raise Retry(f"{CHANNEL_MEDIA_DOWN}: item {number} not there yet") from None
            ctx.log.info("media.refused", item=number, reason=refused.reason, detail=refused.detail)
            failures.append((number, refused.reason))
            not_kept.append((number, item.url))
            if refused.short:
                shorts[refused.reason] = refused.short
            continue
        except MediaUnavailable as exc:
            ctx.log.warning("media.fetch_unavailable", item=number, error=str(exc))
            raise await _outage(msg, deps, CHANNEL_MEDIA_DOWN, exc, room) from None
        receipt_id = receipts.receipt_id(msg.external_id, item.index)
        key = object_key(room.id, receipt_id, prepared.ext)
        try:
            await store.put(key, prepared.data, prepared.content_type)
        except StoreUnavailable as exc:
            ctx.log.warning("media.store_unavailable", item=number, error=str(exc))
            raise await _outage(msg, deps, STORE_DOWN, exc, room) from None
        async with deps.db.read() as conn:
            earlier = await receipts.earlier_in_room(conn, room.id, receipt_id)
        twin = find_twin(prepared, earlier)
        # the same photo again from its sender, with the total its first copy was saved without (in
        # the caption): counted, and it takes the first one's place (which waited for \AMOUNT)
        replaces = (
            twin[0]
            if twin is not None
            and twin[0].amount_minor is None
            and twin[0].uploader_id == user_id
            and caption_money is not None
            else None
        )
        if replaces is not None:
            found = await read_amount(reader, prepared.data, prepared.kind, caption_money, room_currency)
            twin = None
        elif twin is not None and twin[1]:  # the very same bytes: nothing to read
            found = Found(None, None, None, DUPLICATE)
        else:
            found = await read_amount(reader, prepared.data, prepared.kind, caption_money, room_currency)
            twin = _repeat_of(prepared, found, earlier, twin)
            if twin is not None:
                found = Found(None, None, None, DUPLICATE, found.identity)
        if found.unclear is not None:
            unclear[receipt_id] = found.unclear
        if found.payment is not None:
            payments[receipt_id] = found.payment
        took_over = False
        try:
            async with deps.db.tx() as conn:
                await ledger.lock_rooms(conn, [room.id])
                if not await users.hold(conn, user_id):
                    raise UploaderGone
                if twin is None:  # a copy another member sent at the same moment, saved meanwhile
                    seen = {e.id for e in earlier}
                    newer = [
                        e
                        for e in await receipts.earlier_in_room(conn, room.id, receipt_id)
                        if e.id not in seen
                    ]
                    twin = _repeat_of(prepared, found, newer) if newer else None
                    if twin is not None:
                        found = Found(None, None, None, DUPLICATE, found.identity)
                inserted = await receipts.insert(
                    conn,
                    receipts.NewReceipt(
                        id=receipt_id,
                        room_id=room.id,
                        uploader_id=user_id,
                        uploader_phone_masked=mask_address(msg.sender.key),
                        message_sid=msg.external_id,
                        media_index=item.index,
                        object_key=key,
                        content_type=prepared.content_type,
                        size=len(prepared.data),
                        sha256=prepared.sha256,
                        caption=caption,
                        created_at=msg.received_at or deps.now(),  # a message's photos share its time
                        twilio_media_url=item.url,
                        channel=msg.sender.channel,
                        phash=prepared.phash,
                        identity=found.identity,
                    ),
                )
                if inserted:
                    await ledger.set_amount(
                        conn,
                        receipt_id,
                        minor=found.minor,
                        currency=found.currency,
                        source=found.source,
                        ocr_status=found.ocr_status,
                    )
                    # those in the room when the photo was sent: one saved hours later (the media
                    # store was down) was shared with whoever joined meanwhile, for a dinner they
                    # never had; the sender shares it even when the room took it later (a photo that
                    # waited for a room)
                    sent = await ledger.members(conn, room.id, joined_by=msg.received_at or deps.now())
                    member_ids = [user_id, *(m.user_id for m in sent if m.user_id != user_id)]
                    turn = await ledger.leftover_turn(conn, room.id, receipt_id)
                    await ledger.save_split_members(conn, receipt_id, split_order(user_id, member_ids, turn))
                    if twin is not None:
                        await receipts.mark_duplicate(conn, receipt_id, twin[0].id)
                    elif replaces is not None and found.minor is not None:
                        # in its place, shared as it was
                        took_over = await receipts.take_over(conn, replaces.id, receipt_id, user_id)
        except UploaderGone:
            # `\STOP` or `textwire person delete` ran while the photo was being read: no receipt
            # may refer to the person any more, and no deletion would ever find the stored object
            ctx.log.info("media.refused", item=number, reason="sender deleted")
            try:
                await store.delete(key)
            except Exception as exc:  # a store that fails now: the object stays, as before
                ctx.log.warning("media.delete_failed", item=number, error=type(exc).__name__)
            return None
        saved += 1
        ctx.log.info(
            "receipt.saved",
            receipt_id=receipt_id,
            room_id=room.id,
            item=number,
            content_type=prepared.content_type,
            size=len(prepared.data),
            amount_source=found.source,
            ocr_status=found.ocr_status,
            duplicate_of=twin[0].id if twin is not None else None,
            replaces=replaces.id if took_over and replaces is not None else None,
        )
    if saved:
        await delete_twilio_copies(deps, message_sid=msg.external_id)
    await release_refused(deps, not_kept)
    heads: list[str] = []
    if saved:
        async with deps.db.read() as conn:
            items = await ledger.of_message(conn, msg.external_id)
            book = await room_ledger(conn, room.id)
            twins = await ledger.by_ids(conn, {r.duplicate_of for r in items if r.duplicate_of})
            settings = await ledger.reminding(conn, room.id) if twins else None
            sharing = await ledger.split_members(conn, items[0].id) if items else None
            # one receipt in other money, and nothing counted in the room's: \\CURRENCY may change it
            other = len(items) == 1 and items[0].currency not in (None, book.currency.code)
            switch = other and not await ledger.has_entries(conn, room.id, book.currency.code)
        zone = room_zone(settings) if settings is not None else dt.UTC
        # `dinner 30` counts no amount (`table 4` is none), but its 30 is what to offer setting
        offered = (
            caption_figure(caption, room_currency) if caption_money is None and len(items) == 1 else None
        )
        heads = saved_replies(
            room.name,
            items,
            book,
            user_id,
            twins,
            caption_money,
            zone,
            sharing or None,
            offered=offered,
            switch=switch,
            unclear=unclear.get(items[0].id) if len(items) == 1 else None,
            payment=payments.get(items[0].id) if len(items) == 1 else None,
        )
    if not heads and len(msg.media) == 1 and [reason for _, reason in failures] == [BAD_TYPE]:
        # a file alone whose bytes are no photo or PDF (a ZIP or a text file with no type of its
        # own, as Telegram and WhatsApp send one): answered as a file known by its type is
        return FILE_NOT_SAVED
    return photos_reply(heads, failures, fits=deps.services.fits(msg.sender.channel), shorts=shorts)
