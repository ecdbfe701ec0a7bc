"""Handlers: one module per command family, each exporting a `router`.

Adding a module is a two-line change: import it here and put its router in `ROUTERS`, in routing
order (carrier keywords first, then what was forwarded from another chat, then commands, then the
unknown-command answer, then photos, then plain text).
"""

from __future__ import annotations

from bot.pipeline.dispatch import Router
from handlers import account, forwarded, help, keywords, ledger, media, post, rooms

ROUTERS: tuple[Router, ...] = (
    keywords.router,
    forwarded.router,
    account.router,
    rooms.router,
    ledger.router,
    help.router,
    help.fallback,
    media.router,
    post.router,
)
