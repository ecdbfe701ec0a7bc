"""The aiohttp application's shared parts: the group-commit appender, drain, health and metrics
routes, signed links and the HTML pages."""
