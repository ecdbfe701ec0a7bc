"""Messages the person forwarded from another chat: someone else's words.

The channel marks them (`Inbound.forwarded`: Telegram's `forward_origin`, WhatsApp's `Forwarded`
through Twilio; SMS has no such mark). Plain text from a linked person is posted to X under their
name, so a forwarded one would put another person's words there, without that person's consent:
it is not posted, and the reply says how to post it (send it as their own text). A command in a
forwarded message was typed by someone else too (a `\\PAID bob 20` or a `\\STOP` shown in a
group, forwarded by a slip of the thumb): it is not run, and the reply says to type it. Photos
forwarded (a receipt a partner sent) are receipts as ever, and a command in their caption is not
run, not even `\\STOP` (the dispatcher routes them to the photos' handler, which notes it), and a
carrier keyword (STOP) is one whoever typed it first: both are routed before this router or never
reach it.
"""

from __future__ import annotations

from bot.features.x.accounts import x_accounts
from bot.pipeline.dispatch import (
    BareCommand,
    Context,
    FilterResult,
    HandlerResult,
    Inbound,
    Router,
    any_command,
)

router = Router(name=__name__)

FORWARDED_TEXT = (
    "That message was forwarded, so it was not posted to X. To post it, send it as your own text."
)
FORWARDED_COMMAND = "That command was forwarded, so it was not run. To run it, type it yourself."

# the bare command (handlers/rooms.py: `JOIN house pw`, upper case, two words after it)
_BARE_JOIN = BareCommand("JOIN", 2)


def forwarded_command(msg: Inbound, ctx: Context) -> FilterResult:
    """A forwarded message without photos whose text is a command (prefixed, known or not, or a
    bare `JOIN house pw`)."""
    if not msg.forwarded or msg.media:
        return False
    return any_command(msg, ctx) or _BARE_JOIN(msg, ctx)


def forwarded_text(msg: Inbound, ctx: Context) -> FilterResult:
    """A forwarded text, from a person who has been here before, on a number that posts to X. A
    newcomer's first message gets the welcome (handlers/post.py; nothing of it is posted), and
    without X set up "Posting to X is not set up" says more than this answer would."""
    return (
        msg.forwarded and not msg.media and not ctx.data.get("new_user") and x_accounts(ctx.deps) is not None
    )


@router.message(forwarded_command)
async def command_not_run(msg: Inbound, ctx: Context) -> HandlerResult:
    command = ctx.command
    if command.args:  # a forwarded `\\JOIN house pw`: its password kept no more than a run one's
        ctx.redacted_body = command.redacted((), well_formed=False)
    ctx.log.info("command.forwarded_skipped")
    return FORWARDED_COMMAND


@router.message(forwarded_text)
async def text_not_posted(msg: Inbound, ctx: Context) -> HandlerResult:
    ctx.log.info("x.post.forwarded_skipped", linked=ctx.user.x_linked)
    return FORWARDED_TEXT


__all__ = ["FORWARDED_COMMAND", "FORWARDED_TEXT", "router"]
