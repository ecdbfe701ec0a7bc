"""textwire's runtime. `bot.core.compat` first: a dependency imports `pkg_resources` at import time."""

import bot.core.compat  # noqa: F401

# the release (CHANGELOG.md); pyproject.toml reads it from here. Between releases, the next one's
# development version (PEP 440 `.dev0`): what runs is told apart from the release before it
__version__ = "0.3.0.dev0"
