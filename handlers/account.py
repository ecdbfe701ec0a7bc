"""The account: `\\LINK` (a fresh link to connect X), `\\UNLINK` (revoke and delete the tokens),
`\\STOP` (revoke, leave every room, delete the user's record; one goodbye).

`\\UNLINK` and `\\STOP` are declared `priority`: handled at once, never behind a parked post.
"""

from __future__ import annotations

from bot.core.logs import mask_address
from bot.features.x.accounts import NOT_SET_UP, x_accounts
from bot.pipeline.dispatch import Context, HandlerResult, Inbound, Router
from storage import ledger, users

router = Router(name=__name__)

GOODBYE = (
    "Goodbye from textwire: your X connection, your rooms and your record are deleted. "
    "Receipts you shared stay in their rooms. Text us anytime to start again."
)


@router.command("LINK", args=0, usage="\\LINK", help="\\LINK connect X")
async def link(msg: Inbound, ctx: Context) -> HandlerResult:
    service = x_accounts(ctx.deps)
    if service is None:
        return NOT_SET_UP
    ctx.log.info("x.link.sent")
    return await service.link_reply(ctx.user)


@router.command("UNLINK", args=0, usage="\\UNLINK", help="\\UNLINK disconnect X", priority=True)
async def unlink(msg: Inbound, ctx: Context) -> HandlerResult:
    service = x_accounts(ctx.deps)
    if service is None:
        return NOT_SET_UP
    user = ctx.user
    had_tokens = await service.revoke_and_delete(user.id)
    ctx.log.info("x.unlinked", had_tokens=had_tokens)
    if not had_tokens and not user.x_user_id:
        return "No X account is connected. Send \\LINK to connect one."
    handle = f" @{user.x_handle}" if user.x_handle else ""
    return f"Disconnected{handle}: your texts are no longer posted to X. Send \\LINK to connect again."


@router.command("STOP", args=0, usage="\\STOP", help="\\STOP delete your account", priority=True)
async def stop(msg: Inbound, ctx: Context) -> HandlerResult:
    user = ctx.user
    service = x_accounts(ctx.deps)
    if service is not None:
        await service.revoke_and_delete(user.id)
    async with ctx.deps.db.tx() as conn:
        # their place in the ledgers stays, under the name their rooms knew: debts stay payable
        kept = await ledger.keep_former(conn, user.id, mask_address(user.phone), ctx.deps.now())
        await users.delete(conn, user.id)  # memberships, tokens, links cascade; receipts stay
        if user.opted_out:  # keep the carrier opt-out: nothing may be sent to this number
            await users.set_opted_out(conn, user.phone, True, ctx.deps.now())
    ctx.log.info("user.deleted", kept_in_ledgers=kept is not None)
    return GOODBYE
