"""Exceptions a handler raises to tell the worker what to do with a message it could not finish,
and the one anything raises to stop start-up (`StartupError`)."""

from __future__ import annotations


class Retry(Exception):
    """A dependency is down (S3, Twilio media, X unreachable): keep the message and try again later
    with backoff, for up to `worker.outage_retry_hours`; then answer with a failure reply.

    `parked=True` lets later messages of the sender go on meanwhile (a post waiting for X to come
    back: the person's `\\HELP` or `\\ROOMS` does not need X), as `Defer`'s does. `notice` is
    sent once per message and `notice_key` (a photo waiting for the store: the person hears that
    it is kept, not silence for hours). `failure_kind`: the failure reply's kind, said once to a
    sender whose messages are given up together (photos one a message, WhatsApp's and Telegram's):
    not when a reply of that kind went to them since the message came."""

    def __init__(
        self,
        reason: str,
        *,
        delay: float | None = None,
        failure_reply: str | None = None,
        parked: bool = False,
        notice: str | None = None,
        notice_key: str = "retry",
        failure_kind: str = "",
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.failure_reply = failure_reply
        self.parked = parked
        self.notice = notice
        self.notice_key = notice_key
        self.failure_kind = failure_kind


class Defer(Exception):
    """Not now, and not a failure: handle the message again at `until`.

    `parked=True` lets later messages of the sender go on meanwhile (a post waiting for X's
    rate-limit reset). `notice` is sent once per `notice_key`. `reason`: what the row waits for
    (`inbox.error`), for whatever can end the wait early (storage/inbox.py, WAITING_FOR_ROOM)."""

    def __init__(
        self,
        until: float,
        *,
        parked: bool = False,
        notice: str | None = None,
        notice_key: str = "defer",
        reason: str | None = None,
    ) -> None:
        super().__init__(f"deferred until {until:.0f}")
        self.until = until
        self.parked = parked
        self.notice = notice
        self.notice_key = notice_key
        self.reason = reason


class StartupError(Exception):
    """Start-up cannot go on. The message is one line: the problem, then the fix ("port 8080 is in
    use: set server.port or TEXTWIRE_SERVER_PORT"). Raise it anywhere during start-up (the app's
    lifespan, a feature, the database); `textwire serve` prints it and exits with `exit_code`: 2,
    what a restart will not fix (the units' `RestartPreventExitStatus=2`)."""

    exit_code = 2
