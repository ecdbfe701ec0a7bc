"""The core every layer may use: configuration, logs, errors, metrics, the dependency record and
the channel-neutral types. It imports nothing else of textwire."""
