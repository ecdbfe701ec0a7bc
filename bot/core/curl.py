"""HTTP requests through libcurl (pycurl) on the running asyncio event loop.

For the hot outbound path (a reply's send: one small POST a text). libcurl brings what a send
needs and we must not write ourselves: kept-alive connections, TLS checked against the trust
store Python's `ssl` uses, HTTP/2, proxies (a CONNECT tunnel for https, Basic credentials),
redirects refused, timeouts covering the connect, and DNS on its own resolver thread. Through
aiohttp the same send cost twice the CPU (BENCHMARKS.md, stop 24).

The glue is libcurl's multi-socket pattern (its docs' `multi-event.c` / `hiperfifo.c`): libcurl
says which sockets to watch (`M_SOCKETFUNCTION`) and when to call back (`M_TIMERFUNCTION`); the
loop watches them and calls `socket_action`; finished transfers come out of `info_read`. Nothing
here blocks the loop: libcurl's sockets are non-blocking and its name lookups run on its own
thread.
"""

from __future__ import annotations

import asyncio
import io
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pycurl


def _error_names() -> dict[int, str]:
    """libcurl's transfer errors by number: `E_COULDNT_CONNECT` -> "COULDNT_CONNECT" in an error's
    text. pycurl also names the multi interface's codes and old aliases with the same numbers:
    the first name in sorted order wins, FTP's and the multi interface's last."""
    names: dict[int, str] = {}
    for name in sorted(dir(pycurl), key=lambda n: (n.startswith(("E_MULTI_", "E_FTP_")), n)):
        value = getattr(pycurl, name)
        if name.startswith("E_") and isinstance(value, int):
            names.setdefault(value, name[2:])
    return names


_ERROR_NAMES = _error_names()
_WANT = {pycurl.POLL_IN: 1, pycurl.POLL_OUT: 2, pycurl.POLL_INOUT: 3}

# Set by the tests' network guard: called with each address libcurl is about to connect to
# (host, port); raising refuses the connection. libcurl's sockets never pass through Python's
# `socket.connect`, which the guard patches for everything else.
connection_check: Callable[[str, int], None] | None = None


class CurlError(Exception):
    """A request that got no complete HTTP answer: `name` is libcurl's (COULDNT_CONNECT,
    OPERATION_TIMEDOUT, PEER_FAILED_VERIFICATION, ...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = _ERROR_NAMES.get(code, f"CURLE_{code}")

    @property
    def timed_out(self) -> bool:
        return self.code == pycurl.E_OPERATION_TIMEDOUT


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    header_lines: tuple[bytes, ...]  # as received, status lines included

    def header(self, name: str) -> str | None:
        """The last value of header `name` (case-insensitive), None when absent."""
        wanted = name.lower().encode("latin-1") + b":"
        found = None
        for line in self.header_lines:
            if line[: len(wanted)].lower() == wanted:
                found = line[len(wanted) :].strip().decode("latin-1")
        return found


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy (http://host:port) and its Basic credentials, if any."""

    url: str
    username: str | None = None
    password: str | None = None


def _trust_store() -> tuple[str | None, str | None]:
    """The CA file and folder Python's `ssl` trusts (SSL_CERT_FILE / SSL_CERT_DIR honoured), so
    libcurl checks servers against the same store as the app's other clients (the wheel's
    libcurl was built elsewhere: its compiled-in path may not exist here)."""
    paths = ssl.get_default_verify_paths()
    return paths.cafile, paths.capath


class CurlPool:
    """Requests over one libcurl multi handle: its connections are kept alive and shared by the
    requests it runs. Create and use it inside a running loop; `close()` when done."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._multi = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._watched: dict[int, int] = {}  # fd -> 1 read, 2 write, 3 both
        self._waiting: dict[pycurl.Curl, asyncio.Future[int]] = {}
        self._idle: list[pycurl.Curl] = []  # easy handles to reuse (each keeps its settings)
        self._cafile, self._capath = _trust_store()
        self._closed = False

    async def post(
        self,
        url: str,
        body: bytes,
        headers: list[str],
        *,
        timeout: float,  # noqa: ASYNC109 - libcurl's own deadline, connect included
        proxy: Proxy | None = None,
    ) -> Answer:
        """POST `body` to `url`; the answer, whatever its status. CurlError when there is no
        complete answer (no connection, a bad certificate, cut short, not within `timeout`)."""
        if self._closed:
            raise RuntimeError("the pool is closed")
        easy = self._idle.pop() if self._idle else self._new_easy()
        received = io.BytesIO()
        header_lines: list[bytes] = []
        easy.setopt(pycurl.URL, url)
        easy.setopt(pycurl.HTTPHEADER, headers)
        easy.setopt(pycurl.POSTFIELDS, body)
        easy.setopt(pycurl.WRITEDATA, received)
        easy.setopt(pycurl.HEADERFUNCTION, header_lines.append)
        easy.setopt(pycurl.TIMEOUT_MS, max(1, int(timeout * 1000)))
        if proxy is None:
            easy.setopt(pycurl.PROXY, "")  # never the environment's: the caller decided
        else:
            easy.setopt(pycurl.PROXY, proxy.url)
            easy.setopt(pycurl.PROXYUSERNAME, proxy.username or "")
            easy.setopt(pycurl.PROXYPASSWORD, proxy.password or "")
        done: asyncio.Future[int] = self._loop.create_future()
        self._waiting[easy] = done
        self._multi.add_handle(easy)
        try:
            status = await done
        finally:
            if self._waiting.pop(easy, None) is not None:  # cancelled: drop the transfer
                self._multi.remove_handle(easy)
            easy.setopt(pycurl.WRITEDATA, _DISCARD)
            easy.setopt(pycurl.HEADERFUNCTION, _ignore)
            if not self._closed:
                self._idle.append(easy)
        return Answer(status, received.getvalue(), tuple(header_lines))

    async def close(self) -> None:
        """Abandon what is in flight (its waiters get CancelledError) and close every connection."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for easy, done in list(self._waiting.items()):
            self._multi.remove_handle(easy)
            if not done.done():
                done.cancel()
        self._waiting.clear()
        for fd in list(self._watched):
            self._unwatch(fd)
        self._multi.close()
        for easy in self._idle:
            easy.close()
        self._idle.clear()

    def _new_easy(self) -> pycurl.Curl:
        easy = pycurl.Curl()
        easy.setopt(pycurl.NOSIGNAL, 1)  # no SIGALRM around name lookups: a threaded resolver
        easy.setopt(pycurl.FOLLOWLOCATION, 0)
        easy.setopt(pycurl.PROXYAUTH, pycurl.HTTPAUTH_BASIC)
        if self._cafile:
            easy.setopt(pycurl.CAINFO, self._cafile)
            easy.setopt(pycurl.PROXY_CAINFO, self._cafile)
        if self._capath:
            easy.setopt(pycurl.CAPATH, self._capath)
        if connection_check is not None:
            easy.setopt(pycurl.OPENSOCKETFUNCTION, _checked_socket(connection_check))
        return easy

    # -- libcurl's callbacks and the loop ------------------------------------------------------

    def _on_socket(self, what: int, fd: int, _multi: Any, _data: Any) -> None:
        if what == pycurl.POLL_REMOVE:
            self._unwatch(fd)
            return
        want, had = _WANT.get(what, 0), self._watched.get(fd, 0)
        loop = self._loop
        if want & 1 and not had & 1:
            loop.add_reader(fd, self._act, fd, pycurl.CSELECT_IN)
        elif had & 1 and not want & 1:
            loop.remove_reader(fd)
        if want & 2 and not had & 2:
            loop.add_writer(fd, self._act, fd, pycurl.CSELECT_OUT)
        elif had & 2 and not want & 2:
            loop.remove_writer(fd)
        self._watched[fd] = want

    def _unwatch(self, fd: int) -> None:
        had = self._watched.pop(fd, 0)
        if had & 1:
            self._loop.remove_reader(fd)
        if had & 2:
            self._loop.remove_writer(fd)

    def _on_timer(self, ms: int) -> None:
        """libcurl's next deadline moved: it reports each change once, so the timer always
        follows it exactly (a timer kept for an earlier deadline would leave the later one
        unwatched once it fired)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if ms == 0:  # not from inside libcurl's own call: on the loop's next turn
            self._timer = self._loop.call_soon(self._act, pycurl.SOCKET_TIMEOUT, 0)
        elif ms > 0:
            self._timer = self._loop.call_later(ms / 1000, self._act, pycurl.SOCKET_TIMEOUT, 0)

    def _act(self, fd: int, events: int) -> None:
        if self._closed:
            return
        if fd == pycurl.SOCKET_TIMEOUT:
            self._timer = None
        self._multi.socket_action(fd, events)
        while True:
            queued, finished, failed = self._multi.info_read()
            for easy in finished:
                self._multi.remove_handle(easy)
                done = self._waiting.pop(easy, None)
                if done is not None and not done.done():
                    done.set_result(easy.getinfo(pycurl.RESPONSE_CODE))
            for easy, code, message in failed:
                self._multi.remove_handle(easy)
                done = self._waiting.pop(easy, None)
                if done is not None and not done.done():
                    done.set_exception(CurlError(code, message))
            if not queued:
                return


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


_DISCARD = _Discard()


def _ignore(_line: bytes) -> None:
    return None


def _checked_socket(check: Callable[[str, int], None]) -> Callable[[int, Any], Any]:
    import socket

    def opensocket(_purpose: int, address: Any) -> Any:
        family, socktype, protocol, sockaddr = address
        try:
            check(str(sockaddr[0]), int(sockaddr[1]))
        except OSError:
            return pycurl.SOCKET_BAD
        opened = socket.socket(family, socktype, protocol)
        # pycurl hands libcurl a duplicate of its descriptor: this one closes once handed over
        asyncio.get_running_loop().call_soon(opened.close)
        return opened

    return opensocket


__all__ = ["Answer", "CurlError", "CurlPool", "Proxy", "connection_check"]
