"""The X confirm page in a real browser (headless Chromium through the DevTools protocol), when one
is installed: a form auto-submitted by a page on another site is refused and leaves the link
unused; the button on the page itself goes through X's approval to "Connected as @handle".

aiohttp's client sends what a test tells it to; only a browser decides for itself which Origin,
Sec-Fetch-Site and cookies a POST carries (under a "no-referrer" page Chromium sends
`Origin: null`, which the client tests never did)."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import XBot, browser, link_in, wait_for

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")

DEADLINE = 30.0  # seconds a page may take to reach the state a test waits for


# what the DevTools protocol answers a call made while the page navigates (a form's submit, a
# redirect): the document it was sent to is gone, not an error of the page's
NAVIGATING = (
    "Inspected target navigated or closed",
    "Execution context was destroyed",
    "Cannot find context",
)


class DevToolsError(AssertionError):
    """An error answer to a DevTools call (the message as Chromium gave it)."""


class Page:
    """One browser tab, driven through the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json()
            if message.get("id") == call_id:
                if "error" in message:
                    raise DevToolsError(str(message))
                result: dict[str, Any] = message.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str) -> None:
        """Until `expression` is true in the page (navigations included)."""
        guarded = f"(() => {{ try {{ return !!({expression}); }} catch (e) {{ return false; }} }})()"

        async def holds() -> bool:
            try:
                return bool(await self.evaluate(guarded))
            except DevToolsError as exc:  # asked mid-navigation (it failed a run on a busy host)
                if any(reason in str(exc) for reason in NAVIGATING):
                    return False
                raise

        await wait_for(holds, within=DEADLINE)

    async def goto(self, url: str, until: str) -> None:
        """Open `url` and wait until the page shows `until` (a state the page before never had),
        and has loaded: its stylesheet is a file of its own, and a colour read before it came was
        the browser's default (black on nothing: a contrast test failed once under load)."""
        await self.evaluate("document.title = ''; document.body && (document.body.innerText = '')")
        await self.call("Page.navigate", url=url)
        await self.wait_for(
            f"document.readyState === 'complete' && document.body.innerText.includes({json.dumps(until)})"
        )

    async def text(self) -> str:
        return str(await self.evaluate("document.body ? document.body.innerText : ''"))


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Page]:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    process = subprocess.Popen(  # noqa: S603, ASYNC220 (starting it does not wait)
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=390,844",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"

        async def started() -> str:
            return port_file.read_text().split()[0] if port_file.exists() and port_file.read_text() else ""

        port = await wait_for(started, within=DEADLINE)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json") as resp:
                targets = await resp.json()
            target = next(t for t in targets if t["type"] == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tab = Page(ws)
                await tab.call("Page.enable")
                yield tab
    finally:
        process.terminate()
        process.wait(timeout=30)


async def attacker_site(aiohttp_server: Any, link: str, form_value: str) -> str:
    """A page on another site that auto-submits the attacker's link from the visitor's browser."""
    html = (
        f'<form id="f" method="post" action="{link}">'
        f'<input type="hidden" name="confirm" value="{form_value}"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )

    async def attack(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/attack", attack)
    server = await aiohttp_server(app)
    # localhost is another site than 127.0.0.1 (where the bot is)
    return f"http://localhost:{server.port}/attack"


async def test_a_real_browser_refuses_the_cross_site_post_and_connects_from_the_page(
    xbot: XBot, page: Page, aiohttp_server: Any
) -> None:
    twilio = xbot.extras["twilio"]
    await xbot.text("hello")
    [message] = await twilio.wait_for_messages(1)
    link = link_in(message["Body"])
    # the attacker's form value, from the attacker's own visit to the link
    async with browser() as attacker, attacker.get(link) as resp:
        form_value = (await resp.text()).split('name="confirm" value="', 1)[1].split('"', 1)[0]
    attack = await attacker_site(aiohttp_server, link, form_value)

    for earlier_visit in (False, True):  # the victim's browser has or has not opened the link before
        if earlier_visit:
            await page.goto(link, until="Connect X to +1******1111")
        await page.goto(attack, until="Open the link again")
        assert await page.evaluate("location.href") == link
        assert [r.used_at for r in await xbot.rows("SELECT used_at FROM link_tokens")] == [None]
        assert await xbot.rows("SELECT * FROM oauth_sessions") == []

    xbot.x.next_user = ("4242", "alice")
    await page.goto(link, until="Connect X to +1******1111")
    await page.evaluate("document.querySelector('button').click()")
    await page.wait_for("document.body.innerText.includes('Connected as @alice')")
    assert (await xbot.rows("SELECT x_handle FROM users"))[0].x_handle == "alice"
