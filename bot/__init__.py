"""textwire's runtime. `bot.core.compat` first: a dependency imports `pkg_resources` at import time."""

import bot.core.compat  # noqa: F401
