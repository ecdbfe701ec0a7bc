"""Development mode: the server plays Twilio's media host for `textwire chat --photo`.

With no Twilio account there is nobody to hold an MMS's files, so in development mode (and only
then: outside it these routes are not added) the server answers the way Twilio's media API does,
and the photos travel the real pipeline (fetched by the worker, judged by their bytes, cleaned,
stored, then deleted "at Twilio"):

- `textwire chat` writes each file to `{data_dir}/dev-twilio-media/{MessageSid}/{MediaSid}` (the
  part Twilio plays when it receives an MMS) and sends the webhook with
  `MediaUrlN = {public_url}/dev/twilio/2010-04-01/Accounts/{sid}/Messages/{MM}/Media/{ME}`;
- `GET` of that URL checks Basic auth (the account SID and the development token), then
  redirects like Twilio to a short-lived signed URL on the "CDN",
  `{public_url}/dev/media/{MM}/{ME}?exp=...&sig=...` (HMAC-SHA256 with the development token,
  5 minutes), fetched without credentials;
- `DELETE` of the media URL + `.json` (Basic auth) deletes the file: 204, or 404 when gone.

The worker sees this as Twilio: `media_twilio_config` gives it an API base under the public URL,
the account SID (configured, or `DEV_ACCOUNT_SID`), the development token and the public URL's
host as the one media host.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import re
import time
from pathlib import Path

from aiohttp import web
from yarl import URL

from bot.channels.twilio.rest import basic_auth_header
from bot.core.config import Config, TwilioConfig
from bot.core.devmode import twilio_auth_token
from bot.gateway.expect import expect_continue

DEV_ACCOUNT_SID = "AC" + "0" * 32
API_PREFIX = "/dev/twilio"
CDN_PREFIX = "/dev/media"
MEDIA_DIR = "dev-twilio-media"
LINK_SECONDS = 300
_MESSAGE = r"MM[0-9a-f]{32}"
_MEDIA = r"ME[0-9a-f]{32}"
MESSAGE_SID = re.compile(rf"^{_MESSAGE}$")
MEDIA_SID = re.compile(rf"^{_MEDIA}$")

CONFIG = web.AppKey("devmedia_config", Config)
TOKEN = web.AppKey("devmedia_token", dict)


def account_sid(config: Config) -> str:
    return config.twilio.account_sid or DEV_ACCOUNT_SID


def media_dir(config: Config) -> Path:
    return config.data_dir / MEDIA_DIR


def media_url(config: Config, message_sid: str, media_sid: str) -> str:
    """The `MediaUrlN` of a development MMS, as Twilio would send it."""
    return (
        f"{config.public_base}{API_PREFIX}/2010-04-01/Accounts/{account_sid(config)}"
        f"/Messages/{message_sid}/Media/{media_sid}"
    )


def media_twilio_config(config: Config, dev_token: str) -> TwilioConfig:
    """The Twilio settings the media pipeline fetches and deletes with: as configured, or in
    development mode the server's own stand-in of Twilio's media API."""
    if not config.dev_mode:
        return config.twilio
    public = URL(config.public_base)
    return dataclasses.replace(
        config.twilio,
        account_sid=account_sid(config),
        auth_token=dev_token,
        api_base=config.public_base + API_PREFIX,
        media_hosts=(f"{public.host}:{public.port}",),
    )


def _sign(token: str, message_sid: str, media_sid: str, exp: int) -> str:
    mac = hmac.new(token.encode(), f"dev-media\n{message_sid}/{media_sid}\n{exp}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:16]).rstrip(b"=").decode("ascii")


async def _token(request: web.Request) -> str:
    cache = request.app[TOKEN]
    if "token" not in cache:
        token, _ = await asyncio.to_thread(twilio_auth_token, request.app[CONFIG])
        cache["token"] = token
    return str(cache["token"])


async def _file(request: web.Request) -> Path:
    """The stored file of the request's message and media SIDs (404 when malformed)."""
    message_sid = request.match_info["message"]
    media_sid = request.match_info["media"]
    if not MESSAGE_SID.match(message_sid) or not MEDIA_SID.match(media_sid):
        raise web.HTTPNotFound(text="no such media")
    return media_dir(request.app[CONFIG]) / message_sid / media_sid


async def _check_account(request: web.Request) -> None:
    config = request.app[CONFIG]
    expected = basic_auth_header(account_sid(config), await _token(request))
    given = request.headers.get("Authorization", "")
    # surrogateescape: a header's bytes that are not UTF-8 come as surrogates (a 500 in encode)
    if request.match_info["account"] != account_sid(config) or not hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode()
    ):
        raise web.HTTPUnauthorized(text="authenticate with the account SID and the development token")


async def media_api(request: web.Request) -> web.StreamResponse:
    """`GET`: redirect to the signed CDN URL. `DELETE` (`.json`): delete the file."""
    await _check_account(request)
    path = await _file(request)
    config = request.app[CONFIG]
    if request.method == "DELETE":
        if request.match_info["suffix"] != ".json":
            raise web.HTTPMethodNotAllowed("DELETE", ["GET"])
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            raise web.HTTPNotFound(text="no such media") from None
        with contextlib.suppress(OSError):  # the message's last item: its folder goes too
            await asyncio.to_thread(path.parent.rmdir)
        return web.Response(status=204)
    if request.match_info["suffix"] or not await asyncio.to_thread(path.is_file):
        raise web.HTTPNotFound(text="no such media")
    exp = int(time.time()) + LINK_SECONDS
    sig = _sign(await _token(request), path.parent.name, path.name, exp)
    location = f"{config.public_base}{CDN_PREFIX}/{path.parent.name}/{path.name}?exp={exp}&sig={sig}"
    raise web.HTTPTemporaryRedirect(location)


async def media_cdn(request: web.Request) -> web.StreamResponse:
    """The file's bytes for a signed, unexpired URL; 403 otherwise."""
    path = await _file(request)
    exp, sig = request.query.get("exp", ""), request.query.get("sig", "")
    if not (exp.isascii() and exp.isdigit()) or len(exp) > 12 or not sig:
        raise web.HTTPForbidden(text="unsigned")
    expected = _sign(await _token(request), path.parent.name, path.name, int(exp))
    now = time.time()
    # as bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500)
    signed = hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace"))
    if not signed or not now <= int(exp) <= now + LINK_SECONDS + 60:
        raise web.HTTPForbidden(text="bad or expired signature")
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise web.HTTPNotFound(text="no such media") from None
    # like Twilio's CDN, the type it was uploaded with; the worker judges the bytes anyway
    return web.Response(body=data, content_type="application/octet-stream")


def add_routes(app: web.Application, config: Config) -> None:
    """Only in development mode (the caller checks `config.dev_mode`)."""
    app[CONFIG] = config
    app[TOKEN] = {}
    api = (
        API_PREFIX + "/2010-04-01/Accounts/{account}/Messages/{message:MM[0-9a-f]{32}}"
        "/Media/{media:ME[0-9a-f]{32}}{suffix:(\\.json)?}"
    )
    app.router.add_get(api, media_api, expect_handler=expect_continue)
    app.router.add_delete(api, media_api, expect_handler=expect_continue)
    cdn = CDN_PREFIX + "/{message:MM[0-9a-f]{32}}/{media:ME[0-9a-f]{32}}"
    app.router.add_get(cdn, media_cdn, expect_handler=expect_continue)


__all__ = [
    "DEV_ACCOUNT_SID",
    "MEDIA_DIR",
    "account_sid",
    "add_routes",
    "media_dir",
    "media_twilio_config",
    "media_url",
]
