"""The Telegram Bot API: the webhook and its secret token, Updates as inbox rows, sendMessage with
its limits, and photos through getFile."""
