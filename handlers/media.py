"""An MMS with photos: each item becomes a receipt of the sender's active room.

Per item: already stored (a retried or redelivered message) -> skipped; fetched from Twilio,
judged and cleaned (bot/media.py); stored under `rooms/<room>/receipts/<receipt>.<ext>`; recorded.
An item that cannot be kept is named in the reply and the others are still saved. When Twilio or
the store is down the message is retried later (`Retry`): what was stored stays stored and is
never stored twice. After the objects are stored, the copies at Twilio are deleted (a failure is
logged and retried by the scheduler).
"""

from __future__ import annotations

from bot.dispatch import Context, HandlerResult, Inbound, Router, has_media
from bot.errors import Retry
from bot.logs import mask_phone
from bot.media import (
    BAD_TYPE,
    BROKEN,
    GONE,
    NOT_TWILIO,
    REDIRECTED,
    TOO_MANY_PIXELS,
    MediaUnavailable,
    Refused,
    delete_twilio_copies,
    pipeline_of,
    store_of,
)
from bot.segments import fits_one_segment
from storage import receipts, rooms
from storage.media import StoreUnavailable, object_key

router = Router(name=__name__)

NO_ROOM = (
    "Photos are kept in rooms. Create one with \\CREATE <room> <password> or join one with "
    "\\JOIN <room> <password>, then send the photos again."
)
NOT_SET_UP = "Photos are not kept on this number."
GAVE_UP = "We could not save your photos: a service we rely on was down for too long. Please send them again."
CAPTION_MAX = 500


# the reasons in a few words, for a reply about many photos that must still fit one segment
SHORT_REASONS = {
    BAD_TYPE: "not a photo or PDF",
    BROKEN: "damaged",
    TOO_MANY_PIXELS: "too many pixels",
    NOT_TWILIO: "not from Twilio",
    REDIRECTED: "not from Twilio",
    GONE: "gone at Twilio",
}


def _saved_text(count: int, room_name: str) -> str:
    return f"Saved {count} receipt{'s' if count != 1 else ''} to {room_name}"


def _short(reason: str) -> str:
    if reason in SHORT_REASONS:
        return SHORT_REASONS[reason]
    if reason.startswith("it is "):  # "it is over 5 MB"
        return reason.removeprefix("it is ")
    if reason.startswith("at most "):  # "at most 10 are kept per message"
        return "over the limit per message"
    return reason


def photos_reply(saved: int, room_name: str, failures: list[tuple[int, str]]) -> str:
    """The one reply to an MMS: what was saved, and each photo that was not and why; shortened,
    then summed up, when that would take more than one segment."""
    head = _saved_text(saved, room_name) if saved else ""
    detailed = [f"{head}." if failures else head] if head else []
    detailed += [f"Photo {number} was not saved: {reason}." for number, reason in failures]
    text = " ".join(detailed)
    if fits_one_segment(text) or not failures:
        return text
    grouped: dict[str, list[int]] = {}
    for number, reason in failures:
        grouped.setdefault(_short(reason), []).append(number)
    tail = "; ".join(f"{', '.join(map(str, numbers))} ({why})" for why, numbers in grouped.items())
    text = f"{head}. Photos not saved: {tail}." if head else f"Photos not saved: {tail}."
    if fits_one_segment(text):
        return text
    count = len(failures)
    summary = f"{count} photo{'s' if count != 1 else ''} not saved: not photos, too big or damaged."
    return f"{head}. {summary}" if head else summary


@router.message(has_media)
async def photos(msg: Inbound, ctx: Context) -> HandlerResult:
    deps = ctx.deps
    pipeline, store = pipeline_of(deps), store_of(deps)
    if pipeline is None or store is None:
        return NOT_SET_UP
    user_id = ctx.user.id
    async with deps.db.read() as conn:
        done = await receipts.existing(conn, msg.message_sid)
        room = await rooms.active_room(conn, user_id)
        if done:  # an earlier try stored some: the rest go to the same room
            room = await rooms.get(conn, str(next(iter(done.values())).room_id)) or room
    if room is None:
        return NO_ROOM
    caption = msg.text[:CAPTION_MAX]
    max_items = deps.config.media.max_items
    saved = len(done)
    failures: list[tuple[int, str]] = []
    for item in msg.media:
        number = item.index + 1
        if item.index in done:
            continue
        if item.index >= max_items:
            failures.append((number, f"at most {max_items} are kept per message"))
            continue
        try:
            prepared = await pipeline.prepare(item.url)
        except Refused as refused:
            ctx.log.info("media.refused", item=number, reason=refused.reason, detail=refused.detail)
            failures.append((number, refused.reason))
            continue
        except MediaUnavailable as exc:
            ctx.log.warning("media.fetch_unavailable", item=number, error=str(exc))
            raise Retry(f"twilio media: {exc}", failure_reply=GAVE_UP) from None
        receipt_id = receipts.receipt_id(msg.message_sid, item.index)
        key = object_key(room.id, receipt_id, prepared.ext)
        try:
            await store.put(key, prepared.data, prepared.content_type)
        except StoreUnavailable as exc:
            ctx.log.warning("media.store_unavailable", item=number, error=str(exc))
            raise Retry(f"media store: {exc}", failure_reply=GAVE_UP) from None
        async with deps.db.tx() as conn:
            await receipts.insert(
                conn,
                receipts.NewReceipt(
                    id=receipt_id,
                    room_id=room.id,
                    uploader_id=user_id,
                    uploader_phone_masked=mask_phone(msg.from_phone),
                    message_sid=msg.message_sid,
                    media_index=item.index,
                    object_key=key,
                    content_type=prepared.content_type,
                    size=len(prepared.data),
                    sha256=prepared.sha256,
                    caption=caption,
                    created_at=msg.received_at or deps.now(),  # a message's photos share its time
                    twilio_media_url=item.url,
                ),
            )
        saved += 1
        ctx.log.info(
            "receipt.saved",
            receipt_id=receipt_id,
            room_id=room.id,
            item=number,
            content_type=prepared.content_type,
            size=len(prepared.data),
        )
    if saved:
        await delete_twilio_copies(deps, message_sid=msg.message_sid)
    return photos_reply(saved, room.name, failures)
