"""textwire's runtime. `bot.compat` first: a dependency imports `pkg_resources` at import time."""

import bot.compat  # noqa: F401
