"""textwire's runtime. `bot.core.compat` first: a dependency imports `pkg_resources` at import time."""

import bot.core.compat  # noqa: F401

__version__ = "0.2.0"  # the release (CHANGELOG.md); pyproject.toml reads it from here
