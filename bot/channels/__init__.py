"""Channels: how messages arrive and replies leave. One folder a channel (twilio/ for SMS and MMS)."""
