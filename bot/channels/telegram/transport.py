"""Replies to Telegram chats: `sendMessage`, plain text (never `parse_mode`: a member's name or a
receipt's text must not turn into markup), link previews off.

Outcomes, as the sender understands them (bot/core/channel.py `SendError`):
- 429 with `parameters.retry_after`: Telegram throttles the whole bot, so every send is held
  that long, not only this chat's; the reply is retried after it.
- 403 ("bot was blocked by the user", or the chat is gone): the recipient is gone. The sender
  marks the address opted out: nothing more goes to that chat until the person writes again
  (bot/pipeline/middlewares.py opts a Telegram address back in on its next message).
- other 4xx: refused for good; 5xx, no answer: retried with backoff.

Pacing keeps under Telegram's limits (https://core.telegram.org/bots/faq): 30 messages in any
second of the clock overall and one a second to a chat; a send waits for its slot.
"""

from __future__ import annotations

import asyncio
import re

from bot.channels.telegram.api import TelegramApi, TelegramError
from bot.core.channel import SendError, Sent, address_of

# A command in a reply (`\\BALANCE`, `\\JOIN house <password>`), written as Telegram's are:
# `/balance` is a link a tap sends, and a phone's keyboard has a slash at hand, not a backslash.
# A tap sends the bare command, so those that do something bare stay as they are, never a tap
# away (as the command menu leaves them out, bot/channels/telegram/admin.py): `\\STOP` deletes
# the account, `\\UNLINK` disconnects X, `\\LEAVE` leaves the room, and `\\PAIR <code>`
# (to send from the other app) would draw a new code here, and the one given would die.
_COMMAND = re.compile(r"(?<![\w/\\])\\(?!(?:STOP|UNLINK|LEAVE)\b|PAIR \d)([A-Z][A-Z]+)\b")


def as_telegram_writes(body: str) -> str:
    """`body` with its commands as Telegram's: `\\BALANCE` is `/balance`."""
    return _COMMAND.sub(lambda m: "/" + m[1].lower(), body) if "\\" in body else body


OVERALL_PER_SECOND = 30.0
CHAT_SECONDS = 1.0  # between two messages to one chat


class Pacer:
    """Slots for sends: at most `per_second` in each second overall, and one per `chat_seconds`
    to a chat. A send takes the first slot free for both and waits for it; a chat waiting for its
    own spacing holds no other chat back."""

    def __init__(self, per_second: float = OVERALL_PER_SECOND, chat_seconds: float = CHAT_SECONDS) -> None:
        self.per_second = max(1, int(per_second))
        self.chat_seconds = chat_seconds
        self._seconds: dict[int, int] = {}  # a second (of the loop's clock) -> sends given a slot in it
        self._chats: dict[str, float] = {}  # a chat -> when its next send may go

    def slot(self, chat: str, now: float) -> float:
        start = max(now, self._chats.get(chat, 0.0))
        second = int(start)
        while self._seconds.get(second, 0) >= self.per_second:
            second += 1
        start = max(start, float(second))
        self._seconds[second] = self._seconds.get(second, 0) + 1
        self._chats[chat] = start + self.chat_seconds
        if len(self._seconds) > 64:  # forget the seconds gone by
            self._seconds = {s: n for s, n in self._seconds.items() if s >= int(now)}
        if len(self._chats) > 4096:  # and the chats whose spacing is over
            self._chats = {c: t for c, t in self._chats.items() if t > now}
        return start

    async def wait(self, chat: str) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = self.slot(chat, now)
        if start > now:
            await asyncio.sleep(start - now)


class TelegramTransport:
    delivers = True  # a message Telegram took is in the chat: its links are redacted once sent

    def __init__(self, api: TelegramApi, pacer: Pacer | None = None) -> None:
        self._api = api
        self.pacer = pacer or Pacer()
        self._held_until = 0.0  # loop time: a 429 holds every send until then

    def _held(self) -> float:
        return self._held_until - asyncio.get_running_loop().time()

    async def send(self, to: str, body: str) -> Sent:
        chat = address_of(to).id
        held = self._held()
        if held > 0:
            raise SendError("Telegram asked to wait", status=429, retry_after=held)
        await self.pacer.wait(chat)
        try:
            result = await self._api.call(
                "sendMessage",
                {
                    "chat_id": chat,
                    "text": as_telegram_writes(body),
                    "link_preview_options": {"is_disabled": True},
                },
            )
        except TelegramError as exc:
            raise self._refused(exc) from None
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if message_id is None:
            raise SendError("Telegram's answer could not be read")
        # a message id is unique within one bot's chat: a new bot's ids in the same chat start
        # again at 1, so the bot is part of the id kept (the outbox's ids of sent messages are unique)
        # the chat's id is the person's address: the log shows its last digits, as it shows a number's
        sid, logged = (
            f"tg{self._api.bot}:{chat}:{message_id}",
            f"tg{self._api.bot}:***{chat[-4:]}:{message_id}",
        )
        return Sent(sid=sid, status="sent", logged=logged)

    def _refused(self, exc: TelegramError) -> SendError:
        if exc.status == 429:
            wait = exc.retry_after if exc.retry_after is not None else 1.0
            self._held_until = max(self._held_until, asyncio.get_running_loop().time() + wait)
            return SendError(str(exc), status=429, code=429, retry_after=wait)
        if exc.status == 403:  # blocked by the user, kicked from the group, the user deactivated
            return SendError(str(exc), status=403, code=403, recipient_gone=True)
        return SendError(str(exc), status=exc.status, code=exc.status)

    async def find(self, to: str, body: str, since: float) -> list[Sent]:
        """The Bot API cannot list what a bot sent: a send whose outcome is unknown is sent again
        (a rare duplicate beats a lost reply, as for SMS when Twilio cannot be asked)."""
        return []


__all__ = ["CHAT_SECONDS", "OVERALL_PER_SECOND", "Pacer", "TelegramTransport", "as_telegram_writes"]
