"""Assembly: the aiohttp app, start-up, serve, the CLI, chat, backup and the container's health check."""
