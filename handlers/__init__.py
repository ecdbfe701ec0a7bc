"""Handlers: one module per command family, each exporting a `router`.

Adding a module is a two-line change: import it here and put its router in `ROUTERS`, in routing
order (carrier keywords first, then commands, then the unknown-command answer, then photos, then
plain text).
"""

from __future__ import annotations

from bot.dispatch import Router
from handlers import help, keywords, media, rooms

ROUTERS: tuple[Router, ...] = (
    keywords.router,
    help.router,
    # X account commands (\LINK, \UNLINK, \STOP): handlers/account.py
    rooms.router,
    help.fallback,
    media.router,
    # plain text posted to X: handlers/post.py
)
