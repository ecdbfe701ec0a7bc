"""The `expect_handler` every route is added with (bot/gateway/routes.py adds one for unmatched paths too)."""

from __future__ import annotations

from aiohttp import HttpVersion11, web

MAX_BODY = 64 * 1024  # a request body over this gets 413 (a webhook's form is a few KiB)


async def expect_continue(request: web.Request) -> None:
    """The `expect_handler` of every route: aiohttp's own, except that an unknown `Expect` is a
    417 that does not quote it (aiohttp's puts the value in its text, which fails with a 500 on
    bytes that are not UTF-8), and that a declared body past MAX_BODY is not invited."""
    if request.version != HttpVersion11:
        return
    if request.headers.get("Expect", "").lower() == "100-continue":
        if request.content_length is not None and request.content_length > MAX_BODY:
            # no 100 for a body that will be refused: the route answers its 413 (counted and
            # logged as its refusals are) without reading it, before the client sends a byte
            return
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the response proper has not started
        return
    raise web.HTTPExpectationFailed(text="unknown Expect")


__all__ = ["MAX_BODY", "expect_continue"]
