"""Rooms: `\\CREATE`, `\\JOIN` (also bare `JOIN`), `\\LEAVE`, `\\ROOMS`, `\\USE`, `\\RECEIPTS`.

A wrong password and an unknown room get the same answer (after the same work: an unknown room is
checked against a dummy hash); 5 failures in 15 minutes per phone lock `\\JOIN` out. The inbox
keeps `***` instead of the password of `\\CREATE` and `\\JOIN` once handled (`ctx.redacted_body`),
whatever the arguments, and no password reaches a log line.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.dispatch import BareCommand, Context, HandlerResult, Inbound, Reply, Router
from bot.ledger.book import room_ledger
from bot.links import gallery_link
from storage import rooms

router = Router(name=__name__)

CREATE_USAGE = "\\CREATE <room> <password>"
JOIN_USAGE = "\\JOIN <room> <password>"
NAME_RULES = "Room names are 1-32 letters, digits, - or _."
NOT_IN_ROOM = (
    "You are not in a room. Create one with \\CREATE <room> <password> or join one with "
    "\\JOIN <room> <password>."
)
WRONG = "No room with that name and password. Check both and try again."
LOCKED = "Too many wrong room passwords. Please wait 15 minutes before you try again."


def _redact(ctx: Context) -> None:
    """The stored inbox body keeps the command and the room, never the password."""
    cmd = ctx.command
    assert cmd is not None
    head = f"{cmd.prefix}{cmd.name}"
    if len(cmd.args) == 2:
        ctx.redacted_body = f"{head} {cmd.args[0]} ***"
    else:  # a malformed one: which word is the password is anyone's guess
        ctx.redacted_body = f"{head} ***" if cmd.args else head


def _user_id(ctx: Context) -> int:
    assert ctx.user is not None, "load_user runs first"
    return ctx.user.id


@router.command("CREATE", args=(0, 99), usage=CREATE_USAGE)
async def create(msg: Inbound, ctx: Context) -> HandlerResult:
    _redact(ctx)
    assert ctx.command is not None
    if len(ctx.command.args) != 2:
        return f"Usage: {CREATE_USAGE}"
    name, password = ctx.command.args
    if not rooms.valid_name(name):
        return f"{NAME_RULES} Usage: {CREATE_USAGE}"
    if len(password) > rooms.MAX_PASSWORD:
        return f"That password is too long (at most {rooms.MAX_PASSWORD} characters)."
    async with ctx.deps.db.read() as conn:
        taken = await rooms.find_by_name(conn, name) is not None
    if taken:
        return f"The name {name} is taken. Pick another name for your room."
    password_hash = await rooms.hash_password(password)
    try:
        async with ctx.deps.db.tx() as conn:
            room = await rooms.create(
                conn, name=name, password_hash=password_hash, user_id=_user_id(ctx), now=ctx.deps.now()
            )
    except rooms.NameTaken:
        return f"The name {name} is taken. Pick another name for your room."
    ctx.log.info("room.created", room_id=room.id)
    return (
        f"Created room {room.name}; photos you send now go there. "
        f"Others join with \\JOIN {room.name} <password>."
    )


@router.command("JOIN", args=(0, 99), usage=JOIN_USAGE)
async def join_command(msg: Inbound, ctx: Context) -> HandlerResult:
    _redact(ctx)
    assert ctx.command is not None
    if len(ctx.command.args) != 2:
        return f"Usage: {JOIN_USAGE}"
    return await _join(msg, ctx, *ctx.command.args)


# bare `JOIN house pw`: upper case, exactly two words after it (SPEC, Clarifications)
@router.message(BareCommand("JOIN", 2))
async def bare_join(msg: Inbound, ctx: Context) -> HandlerResult:
    _redact(ctx)
    assert ctx.command is not None
    return await _join(msg, ctx, *ctx.command.args)


async def _join(msg: Inbound, ctx: Context, name: str, password: str) -> HandlerResult:
    now = ctx.deps.now()
    async with ctx.deps.db.read() as conn:
        if await rooms.locked_out(conn, msg.from_phone, now):
            ctx.log.warning("room.join_locked")
            return LOCKED
        room = await rooms.find_by_name(conn, name) if rooms.valid_name(name) else None
    if room is None:
        await rooms.dummy_verify(password)
        ok = False
    else:
        ok = await rooms.verify_password(password, room.password_hash)
    if not ok or room is None:
        async with ctx.deps.db.tx() as conn:
            await rooms.record_failure(conn, msg.from_phone, now)
        ctx.log.info("room.join_refused")
        return WRONG
    async with ctx.deps.db.tx() as conn:
        joined = await rooms.join(conn, user_id=_user_id(ctx), room_id=room.id, now=now)
        await rooms.set_active(conn, _user_id(ctx), room.id)
    ctx.log.info("room.joined", room_id=room.id, already=not joined)
    if not joined:
        return f"You are in {room.name} already; it is now your active room."
    return f"Joined {room.name}; photos you send now go there. \\RECEIPTS shows them all."


async def _named_or_active(conn: AsyncConnection, user_id: int, args: tuple[str, ...]) -> rooms.Room | str:
    """The member's room named in `args`, else their active room; or the reply saying why not."""
    if args:
        room = await rooms.member_room_by_name(conn, user_id, args[0])
        return (
            room if room is not None else f"You are not in a room named {args[0][:32]}. \\ROOMS lists yours."
        )
    active = await rooms.active_room(conn, user_id)
    return active if active is not None else NOT_IN_ROOM


@router.command("LEAVE", args=(0, 1), usage="\\LEAVE [<room>]")
async def leave(msg: Inbound, ctx: Context) -> HandlerResult:
    assert ctx.command is not None
    user_id = _user_id(ctx)
    async with ctx.deps.db.tx() as conn:
        room = await _named_or_active(conn, user_id, ctx.command.args)
        if isinstance(room, str):
            return room
        next_room = await rooms.leave(conn, user_id, room.id)
        book = await room_ledger(conn, room.id)  # what is left stays in the room's ledger
    ctx.log.info("room.left", room_id=room.id)
    left = book.position(user_id)
    text = f"You left {room.name}"
    if left > 0:
        text += f"; you are still owed {book.currency.format(left)} there"
    elif left < 0:
        text += f"; you still owe {book.currency.format(-left)} there"
    if next_room is not None:
        return f"{text}. Your active room is {next_room.name}."
    return f"{text}."


@router.command("ROOMS", args=(0, 99), usage="\\ROOMS")
async def list_rooms(msg: Inbound, ctx: Context) -> HandlerResult:
    user_id = _user_id(ctx)
    async with ctx.deps.db.read() as conn:
        mine = await rooms.rooms_of(conn, user_id)
        active = await rooms.active_room(conn, user_id)
    if not mine:
        return NOT_IN_ROOM
    names = [f"{r.name} (active)" if active is not None and r.id == active.id else r.name for r in mine]
    tail = " Switch with \\USE <room>." if len(mine) > 1 else ""
    return f"Your rooms: {', '.join(names)}.{tail}"


@router.command("USE", args=1, usage="\\USE <room>")
async def use(msg: Inbound, ctx: Context) -> HandlerResult:
    assert ctx.command is not None
    user_id = _user_id(ctx)
    async with ctx.deps.db.tx() as conn:
        room = await _named_or_active(conn, user_id, ctx.command.args)
        if isinstance(room, str):
            return room
        await rooms.set_active(conn, user_id, room.id)
    ctx.log.info("room.used", room_id=room.id)
    return f"Photos you send now go to {room.name}."


@router.command("RECEIPTS", args=(0, 1), usage="\\RECEIPTS [<room>]")
async def receipts(msg: Inbound, ctx: Context) -> HandlerResult:
    assert ctx.command is not None
    user_id = _user_id(ctx)
    async with ctx.deps.db.read() as conn:
        room = await _named_or_active(conn, user_id, ctx.command.args)
    if isinstance(room, str):
        return room
    link = gallery_link(ctx.deps, room.id)
    if link is None:
        return "The receipt gallery is not set up on this number."
    ctx.log.info("gallery.link_sent", room_id=room.id)
    return Reply(f"Receipts of {room.name} (1 hour): {link}", redact=True)
