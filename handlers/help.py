"""`\\HELP`: the commands, in one or two segments; and the answer to an unknown command."""

from __future__ import annotations

from bot.dispatch import Context, HandlerResult, Inbound, Router, any_command

router = Router(name=__name__)
fallback = Router(name=__name__ + ".unknown")

INTRO = "textwire:"


def help_text(ctx: Context) -> str:
    return " ".join([INTRO, *ctx.help_entries, "Reply STOP to opt out."])


@router.command("HELP", args=(0, 99), help="")
async def help_command(msg: Inbound, ctx: Context) -> HandlerResult:
    return help_text(ctx)


@fallback.message(any_command)
async def unknown_command(msg: Inbound, ctx: Context) -> HandlerResult:
    name = ctx.command.name[:20]
    return f"Unknown command \\{name}. Send \\HELP for the list."
