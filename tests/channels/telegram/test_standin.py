"""The stand-in of the Bot API that `textwire chat --channel telegram` serves: only on a loopback
`api_base`, answering the server's own Telegram client (bot/channels/telegram/api.py) as Telegram
does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.channels.telegram.standin import StandIn, on_this_machine
from tests.ports import free_port

TOKEN = "1:dev"


@pytest.mark.parametrize(
    ("api_base", "where"),
    [
        ("http://127.0.0.1:8082", ("127.0.0.1", 8082)),
        ("http://localhost:9000/", ("localhost", 9000)),
        ("http://[::1]:8082", ("::1", 8082)),
        ("https://api.telegram.org", None),
        ("http://10.0.0.5:8082", None),
        ("https://127.0.0.1:8082", None),  # chat serves plain http only
        ("http://127.0.0.1:notaport", None),
    ],
)
def test_chat_stands_in_only_for_an_api_base_on_this_machine(
    api_base: str, where: tuple[str, int] | None
) -> None:
    assert on_this_machine(api_base) == where


async def test_it_answers_as_the_bot_api_does(aiohttp_client: Callable[..., Any]) -> None:
    standin = StandIn(TOKEN)
    client = await aiohttp_client(standin.app())
    wrong = await client.post("/bot2:other/sendMessage", json={"chat_id": 1, "text": "hi"})
    assert wrong.status == 401
    assert (await wrong.json())["ok"] is False
    sent = await client.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": 1001, "text": "hello"})
    answer = await sent.json()
    message_id = answer["result"].pop("message_id")
    assert answer == {"ok": True, "result": {"chat": {"id": 1001}, "text": "hello"}}
    assert isinstance(message_id, int)
    assert message_id > 0
    too_long = await client.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": 1001, "text": "x" * 4097})
    assert too_long.status == 400
    file_id = standin.add_file(b"%PDF-1.4 ...", ".pdf")
    got = await (await client.post(f"/bot{TOKEN}/getFile", json={"file_id": file_id})).json()
    path = got["result"]["file_path"]
    assert path.endswith(".pdf")
    download = await client.get(f"/file/bot{TOKEN}/{path}")
    assert await download.read() == b"%PDF-1.4 ..."
    assert (await client.get(f"/file/bot2:other/{path}")).status == 401
    assert (await client.post(f"/bot{TOKEN}/getFile", json={"file_id": "nope"})).status == 400
    assert (await client.post(f"/bot{TOKEN}/sendPhoto", json={})).status == 404
    assert (
        await client.post(
            f"/bot{TOKEN}/getFile", data=b"not json", headers={"Content-Type": "application/json"}
        )
    ).status == 400


async def test_a_port_in_use_is_an_oserror_and_it_serves_until_stopped() -> None:
    port = free_port()
    standin = StandIn(TOKEN)
    await standin.start("127.0.0.1", port)
    try:
        with pytest.raises(OSError, match=r"(?i)in use"):
            await StandIn(TOKEN).start("127.0.0.1", port)
        url = f"http://127.0.0.1:{port}/bot{TOKEN}/getMe"
        async with aiohttp.ClientSession() as http, http.post(url, json={}) as resp:
            assert (await resp.json())["result"]["id"] == 1
    finally:
        await standin.stop()


async def test_message_ids_go_on_from_one_run_of_chat_to_the_next(aiohttp_client: Callable[..., Any]) -> None:
    """Telegram never gives a chat's message id twice, and the server keeps the ids of its sends
    unique: a chat run after another (a new stand-in, the same bot) must not start again at 1."""
    ids = []
    for _run in range(2):
        client = await aiohttp_client(StandIn(TOKEN).app())
        for _ in range(3):
            sent = await client.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": 1001, "text": "hi"})
            ids.append((await sent.json())["result"]["message_id"])
        await client.close()
    assert ids == sorted(ids)
    assert len(set(ids)) == 6
