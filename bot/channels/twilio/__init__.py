"""Twilio SMS and MMS: the webhook and its signature, the Messages API, media fetch and delete,
GSM-7 segments, and the development media host."""
