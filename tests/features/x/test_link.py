"""Connecting X: the whole flow through the real routes, and every way it can go wrong."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import structlog
from yarl import URL

from bot.features.x.accounts import x_accounts
from tests.conftest import (
    BOB,
    XBot,
    answer_head,
    browser,
    link_in,
    make_xbot,
    open_confirm_page,
    raw_request,
    wait_for,
)
from tests.fakes.x_api import start_fake_x


async def press(session: Any, url: str, **kwargs: Any) -> Any:
    """Open the confirm page in `session` and press its button: the POST's response (a context)."""
    data, headers = await open_confirm_page(session, url)
    return session.post(url, data=data, headers=headers, **kwargs)


async def to_callback(session: Any, url: str) -> tuple[str, str]:
    """Open the link's button and X's authorize page; returns (authorize URL, callback URL)."""
    async with await press(session, url, allow_redirects=False) as resp:
        authorize = str(resp.headers["Location"])
    async with session.get(authorize, allow_redirects=False) as resp:
        callback = str(resp.headers["Location"])
    return authorize, callback


async def first_link(xbot: XBot, sender: str = "+15550001111") -> str:
    return await link_answering(xbot, "hello world", sender)


async def link_answering(xbot: XBot, text: str, sender: str = "+15550001111") -> str:
    """The link in the reply to `text` (a stranger's first text, `\\LINK`)."""
    twilio = xbot.extras["twilio"]
    before = len(twilio.messages)
    await xbot.text(text, sender=sender)
    messages = await twilio.wait_for_messages(before + 1)
    return link_in(messages[-1]["Body"])


async def test_first_text_gets_a_link_and_is_not_posted(xbot: XBot) -> None:
    twilio = xbot.extras["twilio"]
    await xbot.text("my first words")
    [message] = await twilio.wait_for_messages(1)
    assert "/x/link/" in message["Body"]
    assert "\\HELP" in message["Body"]
    assert "+1555" not in link_in(message["Body"])  # the phone never appears in a URL
    assert xbot.x.posts == []
    # the link's token is at least 128 bits and stored only as its SHA-256
    token = link_in(message["Body"]).rsplit("/", 1)[1]
    assert len(token) >= 22
    stored = await xbot.rows("SELECT token_hash FROM link_tokens")
    assert [r.token_hash for r in stored] != [token]
    assert len(stored[0].token_hash) == 64


async def test_the_whole_flow_from_first_sms_to_a_post(xbot: XBot) -> None:
    twilio = xbot.extras["twilio"]
    url = await first_link(xbot)
    async with browser() as session:
        async with session.get(url) as resp:  # the confirm page does not consume the link
            page = await resp.text()
            assert resp.status == 200
            assert "<title>Connect X to number ending 1111?</title>" in page
            assert '<h1>Connect X to <span aria-hidden="true">+1******1111</span>' in page
            # the link's URL goes to no other site; the POST to the page itself carries its Origin
            assert resp.headers["Referrer-Policy"] == "same-origin"
            assert '<meta name="referrer" content="same-origin">' in page
        async with session.get(url) as resp:
            assert resp.status == 200
        xbot.x.next_user = ("4242", "alice")
        async with await press(session, url) as resp:
            page = await resp.text()
            assert resp.status == 200, page
            assert "Connected as @alice. You can close this page." in page
            assert resp.url.path == "/x/callback"
            assert "token" not in str(resp.url)
            assert url not in str(resp.url)
            # every hop: the link page redirected to X, X back to the callback
            assert [str(h.url).split("?")[0] for h in resp.history] == [url, xbot.x.authorize_url]
            assert resp.history[0].status == 303
            authorize = resp.history[1].url
            assert authorize.query["code_challenge_method"] == "S256"
            assert set(authorize.query["scope"].split()) == {
                "tweet.read",
                "tweet.write",
                "users.read",
                "offline.access",
            }
            assert resp.history[0].headers["Referrer-Policy"] == "no-referrer"  # X never sees the link
            cookie = resp.history[0].headers["Set-Cookie"]  # the OAuth session's cookie
            assert "HttpOnly" in cookie
            assert "SameSite=Lax" in cookie
            assert "Path=/x/" in cookie
    messages = await twilio.wait_for_messages(2)
    assert messages[-1]["Body"] == "Connected @alice"
    row = await xbot.rows("SELECT x_user_id, x_handle FROM users")
    assert (row[0].x_user_id, row[0].x_handle) == ("4242", "alice")
    [tokens] = await xbot.rows("SELECT ciphertext FROM x_tokens")
    grant = xbot.x.live_grants("4242")[0]
    assert grant.live_refresh not in tokens.ciphertext  # encrypted at rest

    form = await xbot.text("Hello from my phone")
    await xbot.handled(form["MessageSid"])
    messages = await twilio.wait_for_messages(3)
    assert xbot.x.posts == [("4242", "Hello from my phone")]
    assert messages[-1]["Body"] == f"https://x.com/alice/status/{xbot.x.post_ids[0]}"


async def test_secure_cookie_when_public_url_is_https(
    bot_factory: Any, fake_x: Any, fake_twilio: Any
) -> None:
    fake_x.redirect_uris.add("https://sms.example.test/x/callback")
    bot = await bot_factory(
        x={"client_id": fake_x.client_id, "api_base": fake_x.base_url, "authorize_url": fake_x.authorize_url},
        twilio=fake_twilio.section(),
    )
    await bot.text("hi")
    [message] = await fake_twilio.wait_for_messages(1)
    path = "/x/link/" + link_in(message["Body"]).rsplit("/", 1)[1]
    page = await bot.client.get(path)
    assert page.status == 200
    # over https the confirm page's cookie is a __Host- cookie: Secure, Path=/, no Domain
    confirm = page.cookies["__Host-tw_confirm"]
    assert confirm["secure"]
    assert confirm["httponly"]
    assert confirm["path"] == "/"
    assert not confirm["domain"]
    assert confirm["samesite"] == "Strict"
    [(field, value)] = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', await page.text())
    resp = await bot.client.post(
        path,
        data={field: value},
        headers={"Origin": "https://sms.example.test", "Cookie": f"__Host-tw_confirm={confirm.value}"},
        allow_redirects=False,
    )
    assert resp.status == 303
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    location = resp.headers["Location"]
    assert location.startswith(fake_x.authorize_url)
    assert URL(location).query["redirect_uri"] == "https://sms.example.test/x/callback"


async def test_a_used_link_cannot_be_used_again(xbot: XBot) -> None:
    url = await first_link(xbot)
    async with browser() as session:
        data, headers = await open_confirm_page(session, url)
        async with session.post(url, data=data, headers=headers) as resp:
            assert resp.status == 200
        # the same form pressed again (a second tab, the back button)
        async with session.post(url, data=data, headers=headers, allow_redirects=False) as resp:
            assert resp.status == 404
            page = await resp.text()
            # the way to a new link, on whatever channel the person uses: not "the textwire number"
            assert "Send \\LINK to textwire for a new link." in page
            assert "number" not in page
            assert "phone" not in page
        async with session.get(url) as resp:
            assert resp.status == 404
    assert len(xbot.x.grants) == 1


async def test_a_link_a_newer_one_replaced_says_so(xbot: XBot) -> None:
    """A newcomer texts twice ("hi", then "hello?") and gets two links; the first, opened a minute
    later and never used, said only "links work once, for 10 minutes", which it had not been
    used for nor was it that old. The one page of a link that is not valid also names the newer
    link (only the last one sent works) as a reason, still without telling which reason it is."""
    first = await first_link(xbot)
    second = await first_link(xbot)
    assert first != second
    async with browser() as session:
        async with session.get(first) as resp:
            assert resp.status == 404
            page = await resp.text()
        assert "only the last one sent to you works" in page
        assert "Send \\LINK to textwire for a new link." in page
        async with session.get(second) as resp:
            assert resp.status == 200


async def test_an_expired_link_never_goes_to_x(xbot: XBot) -> None:
    url = await first_link(xbot)
    async with browser() as session:
        data, headers = await open_confirm_page(session, url)
        xbot.x.advance(601)
        async with session.post(url, data=data, headers=headers, allow_redirects=False) as resp:
            assert resp.status == 404
            assert "Location" not in resp.headers
    assert ("GET", "/i/oauth2/authorize") not in xbot.x.requests
    assert await xbot.rows("SELECT * FROM oauth_sessions") == []


async def _link_state(xbot: XBot) -> list[Any]:
    return await xbot.rows("SELECT used_at FROM link_tokens")


async def _unused(xbot: XBot) -> None:
    """The link is as it was: not used, no OAuth session, nothing asked of X."""
    assert [r.used_at for r in await _link_state(xbot)] == [None]
    assert await xbot.rows("SELECT * FROM oauth_sessions") == []
    assert ("GET", "/i/oauth2/authorize") not in xbot.x.requests


ATTACKER = "+15550009999"


@pytest.mark.parametrize(
    "attack",
    [
        "other-origin",
        "null-origin",
        "malformed-origin",
        "cross-site",
        "no-cookie",
        "other-cookie",
        "no-form",
        "forged-form",
    ],
)
async def test_login_csrf_a_post_from_elsewhere_is_refused_and_the_link_stays_unused(
    xbot: XBot, attack: str
) -> None:
    """The attacker's own fresh link, submitted from the victim's browser by a page on another
    site, must not start the OAuth flow (else X would be connected to the victim's account and
    the attacker's texts posted as the victim)."""
    url = await first_link(xbot, sender=ATTACKER)
    origin = str(URL(url).origin())
    async with browser() as attacker, browser() as victim:
        # the attacker loads their own confirm page: a valid form for the attacker's browser
        attacker_form, _ = await open_confirm_page(attacker, url)
        # the victim's browser, as it would come from the attacker's page
        data: dict[str, str] = dict(attacker_form)
        headers = {"Origin": "https://evil.example.test", "Sec-Fetch-Site": "cross-site"}
        if attack in (
            "other-origin",
            "null-origin",
            "malformed-origin",
            "cross-site",
            "no-form",
            "forged-form",
        ):
            # even a browser that did load the page: the headers say where the POST comes from
            data, _ = await open_confirm_page(victim, url)
        if attack == "other-origin":
            headers = {"Origin": "https://evil.example.test"}
        elif attack == "null-origin":
            headers = {"Origin": "null"}
        elif attack == "malformed-origin":  # urlsplit raised on it: a 500 and a traceback
            headers = {"Origin": "http://[::1"}
        elif attack == "cross-site":
            headers = {"Origin": origin, "Sec-Fetch-Site": "cross-site"}
        elif attack == "no-cookie":
            headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        elif attack == "other-cookie":
            # the victim's browser holds a confirm cookie of its own (it opened a link before)
            await open_confirm_page(victim, await first_link(xbot, sender=BOB))
            headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        elif attack == "no-form":
            data, headers = {}, {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        else:  # a value of the right shape that no cookie made
            data = {key: "A" * len(value) for key, value in data.items()}
            headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        before = [r.used_at for r in await _link_state(xbot)]
        with structlog.testing.capture_logs() as logs:
            async with victim.post(url, data=data, headers=headers, allow_redirects=False) as resp:
                assert resp.status == 403
                assert "Location" not in resp.headers
                assert (
                    "Open the link from the message that brought it (a text, WhatsApp or Telegram) again"
                    in await resp.text()
                )
        assert [e for e in logs if e["event"] == "x.link.refused"]
        assert [r.used_at for r in await _link_state(xbot)] == before
        assert await xbot.rows("SELECT * FROM oauth_sessions") == []
        assert ("GET", "/i/oauth2/authorize") not in xbot.x.requests
        # the link is still good for its owner, in the browser that loaded it
        async with await press(attacker, url) as resp:
            assert resp.status == 200
            assert "Connected as @" in await resp.text()


async def test_an_opaque_origin_passes_only_when_the_browser_says_same_origin(xbot: XBot) -> None:
    """Under a "no-referrer" policy browsers send `Origin: null` with a form's POST; with
    `Sec-Fetch-Site: same-origin` and the cookie's form value that is still our own page."""
    url = await first_link(xbot)
    async with browser() as session:
        data, _ = await open_confirm_page(session, url)
        headers = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
        async with session.post(url, data=data, headers=headers, allow_redirects=False) as resp:
            assert resp.status == 303


async def test_the_confirm_page_sets_a_strict_cookie_and_a_form_bound_to_it(xbot: XBot) -> None:
    url = await first_link(xbot)
    async with browser() as session:
        async with session.get(url) as resp:
            assert resp.status == 200
            cookie = resp.cookies["tw_confirm"]
            assert cookie["httponly"]
            assert cookie["samesite"] == "Strict"
            assert cookie["path"] == "/x/link/"
            assert not cookie["secure"]  # http public_url
            page = await resp.text()
            assert 'method="post"' in page
            csp = resp.headers["Content-Security-Policy"]
            assert "form-action 'self' " + str(URL(xbot.x.authorize_url).origin()) in csp
            assert "frame-ancestors 'none'" in csp
        # a second load (another tab) keeps the cookie, so both tabs' forms work
        first, _ = await open_confirm_page(session, url)
        second, headers = await open_confirm_page(session, url)
        assert first == second
        async with session.post(url, data=first, headers=headers) as resp:
            assert resp.status == 200


async def test_unknown_used_and_expired_links_look_the_same(xbot: XBot) -> None:
    """GET and POST of a token that never existed, one used and one expired: one status, one page."""
    from bot.features.x.link import CONFIRM_FIELD, _form_token

    used = await first_link(xbot)
    expired = await first_link(xbot, sender=BOB)
    base = xbot.config.public_base
    unknown = f"{base}/x/link/{'Q' * 22}"
    answers = []
    async with browser() as session:
        data, headers = await open_confirm_page(session, used)
        async with session.post(used, data=data, headers=headers) as resp:
            assert resp.status == 200
        expired_form, _ = await open_confirm_page(session, expired)
        xbot.x.advance(601)
        cookie = next(c.value for c in session.cookie_jar if c.key == "tw_confirm")
        forms = {
            used: data,
            expired: expired_form,
            unknown: {CONFIRM_FIELD: _form_token(cookie, unknown.rsplit("/", 1)[1])},
        }
        for url, form in forms.items():
            async with session.get(url) as resp:
                answers.append((resp.status, await resp.text()))
            async with session.post(url, data=form, headers=headers, allow_redirects=False) as resp:
                answers.append((resp.status, await resp.text()))
    assert len(answers) == 6
    assert {status for status, _ in answers} == {404}
    assert len({page for _, page in answers}) == 1
    assert "\\LINK" in answers[0][1]


async def test_a_guessed_link_is_not_found(xbot: XBot) -> None:
    await first_link(xbot)
    base = xbot.config.public_base
    async with browser() as session:
        for guess in ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x", "..%2f..%2fetc"):
            async with session.post(f"{base}/x/link/{guess}", allow_redirects=False) as resp:
                assert resp.status in (403, 404)
                assert "Location" not in resp.headers
    assert await xbot.rows("SELECT * FROM oauth_sessions") == []


async def test_opened_in_one_browser_finished_in_another(xbot: XBot) -> None:
    url = await first_link(xbot)
    async with browser() as first:
        _authorize, callback = await to_callback(first, url)
    async with browser() as second, second.get(callback) as resp:  # no session cookie
        assert resp.status == 400
        assert "did not start in this browser" in await resp.text()
    assert await xbot.rows("SELECT * FROM x_tokens") == []
    assert (await xbot.rows("SELECT x_user_id FROM users"))[0].x_user_id is None


@pytest.mark.parametrize("variant", ["missing", "foreign", "replayed"])
async def test_callback_state_must_be_this_sessions(xbot: XBot, variant: str) -> None:
    url = await first_link(xbot)
    other_url = await first_link(xbot, sender=BOB)
    async with browser() as session, browser() as other:
        _authorize, callback = await to_callback(session, url)
        _other_authorize, other_callback = await to_callback(other, other_url)
        code = re.search(r"code=([^&]+)", callback)
        assert code
        if variant == "missing":
            target = callback.split("?")[0] + "?code=" + code.group(1)
        elif variant == "foreign":  # Bob's state in Alice's browser
            other_state = re.search(r"state=([^&]+)", other_callback)
            assert other_state
            target = callback.split("?")[0] + f"?state={other_state.group(1)}&code={code.group(1)}"
        else:
            async with session.get(callback) as resp:
                assert resp.status == 200
            target = callback
        before = await xbot.rows("SELECT user_id FROM x_tokens")
        async with session.get(target) as resp:
            assert resp.status == 400
            text = await resp.text()
            assert "Sign-in not recognised" in text
            # a reload after connecting: it says where the answer is, not only "text \LINK"
            assert "If X was connected, textwire sent you a message that says so." in text
        assert await xbot.rows("SELECT user_id FROM x_tokens") == before
    if variant != "replayed":
        assert await xbot.rows("SELECT * FROM x_tokens") == []


async def test_access_denied_is_a_clean_refusal(xbot: XBot) -> None:
    url = await first_link(xbot)
    xbot.x.deny_next = True
    async with browser() as session, await press(session, url) as resp:
        assert resp.status == 400
        page = await resp.text()
    assert "X was not connected" in page
    assert "\\LINK" in page
    assert await xbot.rows("SELECT * FROM x_tokens") == []
    assert (await xbot.rows("SELECT x_user_id FROM users"))[0].x_user_id is None
    assert xbot.x.token_calls == 0


async def test_cancelling_a_switch_at_x_says_the_account_still_posts(xbot: XBot) -> None:
    """`\\LINK` while connected ("To switch accounts: <link>"), then Cancel at X: the page said
    "Not connected. X was not connected.", as if the connection the person has were gone. It
    says that nothing changed and which account their texts still go to."""
    await xbot.link(user=("100", "alice"))
    url = await link_answering(xbot, "\\LINK")
    xbot.x.deny_next = True
    async with browser() as session, await press(session, url) as resp:
        assert resp.status == 400
        page = await resp.text()
    assert "Nothing changed" in page
    assert "You still post to X as @alice." in page
    assert "\\LINK" in page
    assert "X was not connected" not in page
    assert (await xbot.rows("SELECT x_handle FROM users"))[0].x_handle == "alice"
    form = await xbot.text("still alice")
    await xbot.handled(form["MessageSid"])
    await wait_for(lambda: _posted(xbot))
    assert xbot.x.posts == [("100", "still alice")]


@pytest.mark.parametrize(("fail", "status"), [("token", 502), ("me", 503), ("old code", 400)])
async def test_a_switch_x_does_not_complete_says_the_account_still_posts(
    xbot: XBot, fail: str, status: int
) -> None:
    """`\\LINK` while connected, approved at X, then X fails the exchange (5xx), /2/users/me (429)
    or refuses a code gone stale: the page said "Not connected", as if the account the person had
    were gone. It stays, and the page says so."""
    await xbot.link(user=("100", "alice"))
    url = await link_answering(xbot, "\\LINK")
    xbot.x.next_user = ("200", "bob")
    async with browser() as session:
        _authorize, callback = await to_callback(session, url)
        if fail == "token":
            xbot.x.fail_token_next(503)
        elif fail == "me":
            xbot.x.fail_me_next(429)
        else:
            xbot.x.advance(31)  # X's codes live 30 s
        async with session.get(callback) as resp:
            assert resp.status == status
            page = await resp.text()
    assert "Nothing changed" in page
    assert "You still post to X as @alice." in page
    assert "\\LINK" in page
    assert (await xbot.rows("SELECT x_handle FROM users"))[0].x_handle == "alice"
    form = await xbot.text("still alice")
    await xbot.handled(form["MessageSid"])
    await wait_for(lambda: _posted(xbot))
    assert xbot.x.posts == [("100", "still alice")]


async def test_an_error_link_from_elsewhere_does_not_end_a_sign_in(xbot: XBot) -> None:
    """Any site can link to `/x/callback?error=x` (the cookie is SameSite=Lax): it ended the
    sign-in under way, and the real callback then said "Sign-in not recognised". Only X's own
    error, which carries the session's state, ends it."""
    url = await first_link(xbot)
    async with browser() as session:
        _authorize, callback = await to_callback(session, url)
        base = callback.split("?")[0]
        for forged in ("?error=access_denied", "?error=access_denied&state=WRONG"):
            async with session.get(base + forged) as resp:
                assert resp.status == 400
                assert "X was not connected" in await resp.text()
        async with session.get(callback) as resp:
            assert resp.status == 200
    assert len(await xbot.rows("SELECT * FROM x_tokens")) == 1


async def test_a_callback_link_from_elsewhere_does_not_end_a_sign_in(xbot: XBot) -> None:
    """Any site can link to `/x/callback?code=x&state=y` too (or to a bare `/x/callback`): it
    was "not recognised", and its answer deleted the browser's session cookie, so the sign-in
    under way ended as an error link's did, and X's real callback then said "Sign-in not
    recognised". Such a link changes nothing now; the real callback connects."""
    url = await first_link(xbot)
    async with browser() as session:
        _authorize, callback = await to_callback(session, url)
        base = callback.split("?")[0]
        for forged in ("?code=junk&state=junk", "?code=junk", "?state=junk", ""):
            async with session.get(base + forged) as resp:
                assert resp.status == 400
                assert "Sign-in not recognised" in await resp.text()
                assert "tw_oauth" not in resp.cookies  # neither deleted nor replaced
        async with session.get(callback) as resp:
            assert resp.status == 200
            assert "Connected as @" in await resp.text()
    assert len(await xbot.rows("SELECT * FROM x_tokens")) == 1


@pytest.mark.parametrize(("answer", "status"), [(503, 502), (429, 503)])
async def test_a_failed_exchange_stores_nothing(xbot: XBot, answer: int, status: int) -> None:
    """X down (5xx) or busy (429) at the token endpoint: our upstream failed, a 502 or 503."""
    url = await first_link(xbot)
    xbot.x.fail_token_next(answer)
    with structlog.testing.capture_logs() as logs:
        async with browser() as session, await press(session, url) as resp:
            assert resp.status == status
            assert "did not complete" in await resp.text()
    assert await xbot.rows("SELECT * FROM x_tokens") == []
    # the operator reads which step failed and why (it said only "XUnavailable")
    [failed] = [e for e in logs if e["event"] == "x.link.failed"]
    assert failed["step"] == "exchange"
    assert failed["reason"].startswith(
        {503: "token endpoint answered 503", 429: "rate limited until"}[answer]
    )


@pytest.mark.parametrize(("answer", "status"), [(503, 502), (429, 503)])
async def test_x_failing_after_the_exchange_revokes_the_grant_it_made(
    xbot: XBot, answer: int, status: int
) -> None:
    """X took the code and gave a pair, then /2/users/me failed (5xx, 429): the page said "X did
    not complete the connection" and the pair was dropped, but the grant stayed live at X, where
    nothing here could ever end it. The pair's refresh token is revoked (the queue retries it
    when X will not take it now)."""
    url = await first_link(xbot)
    xbot.x.fail_me_next(answer)
    with structlog.testing.capture_logs() as logs:
        async with browser() as session, await press(session, url) as resp:
            assert resp.status == status
            assert "did not complete" in await resp.text()
    assert await xbot.rows("SELECT * FROM x_tokens") == []
    [failed] = [e for e in logs if e["event"] == "x.link.failed"]
    assert failed["step"] == "users/me"
    assert failed["reason"].startswith({503: "X answered 503", 429: "rate limited until"}[answer])
    [grant] = xbot.x.grants
    assert grant.live_refresh in xbot.x.revoked
    assert xbot.x.live_grants() == []


async def test_an_old_code_is_refused_by_x(xbot: XBot) -> None:
    """X's codes live 30 s: the callback exchanges at once; a late one fails cleanly (X refused the
    browser's code: not our upstream failing, so no 5xx)."""
    url = await first_link(xbot)
    async with browser() as session:
        _authorize, callback = await to_callback(session, url)
        xbot.x.advance(31)
        async with session.get(callback) as resp:
            assert resp.status == 400
            assert "\\LINK" in await resp.text()
    assert await xbot.rows("SELECT * FROM x_tokens") == []


async def test_a_code_x_refuses_is_a_400_and_a_new_link_connects(xbot: XBot) -> None:
    """A bad or expired `code` with this browser's cookie and state: X's token endpoint answers
    400. That is the browser's request gone wrong, not X down: a 400 page that says the connection
    was not completed and to send \\LINK; nothing stored, and the new link then connects."""
    url = await first_link(xbot)
    async with browser() as session:
        _authorize, callback = await to_callback(session, url)
        state = re.search(r"state=([^&]+)", callback)
        assert state
        bogus = callback.split("?")[0] + f"?state={state.group(1)}&code=bogus"
        with structlog.testing.capture_logs() as logs:
            async with session.get(bogus) as resp:
                page = await resp.text()
                assert resp.status == 400, page
        assert "not completed" in page
        assert "\\LINK" in page
        assert not any(c.key == "tw_oauth" and c.value for c in session.cookie_jar)  # cleared
        async with session.get(callback) as resp:  # the session is spent: the real code is no use now
            assert resp.status == 400
    assert [e.get("error") for e in logs if e["event"] == "x.link.failed"] == ["XAuthRejected"]
    assert await xbot.rows("SELECT * FROM x_tokens") == []
    assert (await xbot.rows("SELECT x_user_id FROM users"))[0].x_user_id is None
    # the retry the page asks for: \LINK gives a fresh link that goes all the way
    url = await link_answering(xbot, "\\LINK")
    xbot.x.next_user = ("4242", "alice")
    async with browser() as session, await press(session, url) as resp:
        assert resp.status == 200
        assert "Connected as @alice" in await resp.text()
    assert await xbot.scalar("SELECT count(*) FROM x_tokens") == 1


async def test_confidential_client_sends_basic_auth(
    bot_factory: Any, fake_twilio: Any, aiohttp_server: Any
) -> None:
    fake = await start_fake_x(aiohttp_server, client_secret="s3cret-value")
    xbot = await make_xbot(bot_factory, fake_twilio, fake, client_secret="s3cret-value")
    page = await xbot.link(user=("77", "carol"))
    assert "Connected as @carol" in page
    assert xbot.x.token_calls == 1  # the fake refuses a confidential client without Basic auth


async def test_no_secret_in_any_log_line(xbot: XBot) -> None:
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        url = await first_link(xbot)
        async with browser() as session:
            authorize, callback = await to_callback(session, url)
            cookie = next(c.value for c in session.cookie_jar if c.key == "tw_oauth")
            async with session.get(callback) as resp:
                assert resp.status == 200
        form = await xbot.text("a post to check the logs")
        await xbot.handled(form["MessageSid"])
        await wait_for(lambda: _posted(xbot))
    grant = xbot.x.grants[0]
    secrets = [
        url.rsplit("/", 1)[1],
        cookie,
        re.search(r"state=([^&]+)", callback).group(1),  # type: ignore[union-attr]
        re.search(r"code=([^&]+)", callback).group(1),  # type: ignore[union-attr]
        re.search(r"code_challenge=([^&]+)", authorize).group(1),  # type: ignore[union-attr]
        *grant.access_tokens,
        *grant.refresh_tokens,
        xbot.config.x.client_id if len(xbot.config.x.client_id) > 12 else "\x00",
    ]
    text = "\n".join(repr(entry) for entry in logs)
    assert logs
    for secret in secrets:
        assert secret not in text
    assert "+15550001111" not in text


async def _posted(xbot: XBot) -> bool:
    return bool(xbot.x.posts)


async def test_retention_purges_old_links_and_sessions_but_keeps_tokens(xbot: XBot) -> None:
    from scheduler import jobs

    await xbot.link(user=("100", "alice"))
    await first_link(xbot, sender=BOB)  # an unused link
    await jobs.retention(xbot.runtime.deps)
    assert await xbot.scalar("SELECT count(*) FROM link_tokens") == 2  # not yet a day past expiry
    xbot.x.advance(2 * 86400)
    await jobs.retention(xbot.runtime.deps)
    assert await xbot.scalar("SELECT count(*) FROM link_tokens") == 0
    assert await xbot.scalar("SELECT count(*) FROM oauth_sessions") == 0
    assert await xbot.scalar("SELECT count(*) FROM x_tokens") == 1


async def relink(xbot: XBot, user: tuple[str, str]) -> str:
    """`\\LINK` from a linked phone, completed in a browser as `user`; returns the callback page."""
    twilio = xbot.extras["twilio"]
    before = len(twilio.messages)
    url = await link_answering(xbot, "\\LINK")
    xbot.x.next_user = user
    async with browser() as session, await press(session, url) as resp:
        page = await resp.text()
        assert resp.status == 200, page
    await twilio.wait_for_messages(before + 2)
    await xbot.settled()
    return page


@pytest.mark.parametrize("again", ["same account", "another account"])
async def test_reconnecting_revokes_the_grant_it_replaces(xbot: XBot, again: str) -> None:
    """`\\LINK` while linked, completed: the new pair replaces the old one here, and the old grant
    is revoked at X (after the new pair is committed), or it would stay live with nobody able to
    revoke it."""
    await xbot.link(user=("100", "alice"))
    [old] = xbot.x.live_grants("100")
    user = ("100", "alice") if again == "same account" else ("200", "bob")
    page = await relink(xbot, user)
    assert f"Connected as @{user[1]}" in page
    assert old.live_refresh in xbot.x.revoked
    assert old.revoked
    [new] = xbot.x.live_grants()  # only the new grant is live at X
    assert new.user_id == user[0]
    [tokens] = await xbot.rows("SELECT ciphertext FROM x_tokens")
    service = x_accounts(xbot.runtime.deps)
    assert service is not None
    [row] = await xbot.rows("SELECT user_id FROM x_tokens")
    assert service.cipher.decrypt(row.user_id, tokens.ciphertext)["refresh_token"] == new.live_refresh
    form = await xbot.text("posted with the new grant")
    await xbot.handled(form["MessageSid"])
    await wait_for(lambda: _posted(xbot))
    assert xbot.x.posts == [(user[0], "posted with the new grant")]


async def test_reconnecting_when_x_will_not_revoke_still_connects(xbot: XBot) -> None:
    """A revocation X does not take is logged; the new link stands."""
    await xbot.link(user=("100", "alice"))
    xbot.x.fail_revoke_next(503, times=10)
    with structlog.testing.capture_logs() as logs:
        page = await relink(xbot, ("100", "alice"))
    assert "Connected as @alice" in page
    assert xbot.x.revoke_calls >= 1
    assert any(e["event"] == "token.revoke_failed" for e in logs)
    assert await xbot.scalar("SELECT count(*) FROM x_tokens") == 1
    assert (await xbot.rows("SELECT x_handle FROM users"))[0].x_handle == "alice"


async def test_a_form_in_a_charset_nobody_knows_is_refused_and_the_link_stays_unused(xbot: XBot) -> None:
    """`Content-Type: application/x-www-form-urlencoded; charset=nonexistent` on the button's POST
    made aiohttp's form parser raise LookupError: a 500 and a traceback. It is a form we cannot
    read: refused like any other, and the link still works from its page."""
    url = await first_link(xbot)
    async with browser() as session:
        data, headers = await open_confirm_page(session, url)
        for charset in ("nonexistent", "x" * 300):
            odd = {**headers, "Content-Type": f"application/x-www-form-urlencoded; charset={charset}"}
            body = "&".join(f"{key}={value}" for key, value in data.items())
            with structlog.testing.capture_logs() as logs:
                async with session.post(url, data=body, headers=odd, allow_redirects=False) as resp:
                    assert resp.status == 403
                    assert (
                        "Open the link from the message that brought it (a text, WhatsApp or Telegram) again"
                        in await resp.text()
                    )
            assert [e["reason"] for e in logs if e["event"] == "x.link.refused"] == ["form"]
        assert await xbot.rows("SELECT * FROM oauth_sessions") == []
        async with await press(session, url) as resp:
            assert resp.status == 200
            assert "Connected as @" in await resp.text()


async def test_a_press_whose_form_does_not_come_is_refused_in_time_and_the_link_stays_unused(
    xbot: XBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A POST of the confirm page whose form trickled in, or stopped coming, held its connection
    for as long as the client kept it open (a way to use up the server's file descriptors). The
    form must come within BODY_SECONDS, like a webhook's body; else the press is refused and the
    link still works from its page."""
    from urllib.parse import urlencode

    from bot.features.x import link

    monkeypatch.setattr(link, "BODY_SECONDS", 0.2, raising=False)
    url = URL(await first_link(xbot))
    assert url.host is not None
    assert url.port is not None
    async with browser() as session:
        data, headers = await open_confirm_page(session, str(url))
        cookies = "; ".join(f"{c.key}={c.value}" for c in session.cookie_jar)
        body = urlencode(data).encode()
        head = await answer_head(
            url.host,
            url.port,
            f"POST {url.raw_path} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
            f"Origin: {headers['Origin']}\r\nSec-Fetch-Site: same-origin\r\nCookie: {cookies}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10],  # and the rest never comes
        )
        assert head.startswith(b"HTTP/1.1 403 ")
        await _unused(xbot)
        async with await press(session, str(url)) as resp:
            assert resp.status == 200
            assert "Connected as @" in await resp.text()


@pytest.mark.parametrize("query", ["code=abc&state=def", "error=access_denied&state=def"])
async def test_a_session_cookie_that_is_not_utf8_is_not_recognised(xbot: XBot, query: str) -> None:
    """A `tw_oauth` cookie of bytes that are not UTF-8 reached the session's hash as surrogates
    and the callback answered 500 with a traceback: it is no cookie of ours."""
    url = await first_link(xbot)
    async with browser() as session:
        await to_callback(session, url)  # a sign-in under way, which such a request must not end
    status, page = await raw_request(
        xbot.config.public_base, f"/x/callback?{query}", b"Cookie: tw_oauth=\xff\xfe\xc3"
    )
    assert status == 400
    assert ("Sign-in not recognised" if "code=" in query else "X was not connected") in page
    assert [r.used_at for r in await xbot.rows("SELECT used_at FROM oauth_sessions")] == [None]


async def _paired_on_telegram(
    bot_factory: Any, fake_twilio: Any, fake_x: Any, fake_telegram: Any
) -> tuple[XBot, Callable[[str], Awaitable[str]], dict[str, str]]:
    """A bot linked to the fakes of X and Telegram, and a person who texted \\PAIR by SMS and
    paired their Telegram chat with the code: the bot, what the chat is answered to a text, and
    the SMS offering the code."""
    from tests.channels.telegram.talk import say

    xbot = await make_xbot(bot_factory, fake_twilio, fake_x, telegram=fake_telegram.section())

    async def telegram(text: str) -> str:
        before = len(fake_telegram.sent)
        sid = await say(xbot, text)
        assert await xbot.handled(sid) == "done"
        return str((await fake_telegram.wait_for_sent(before + 1))[before]["text"])

    form = await xbot.text("\\PAIR")
    await xbot.handled(form["MessageSid"])
    [offer] = await fake_twilio.wait_for_messages(1)
    assert (await telegram(f"/pair {offer['Body'].split('Your code: ', 1)[1][:6]}")).startswith("Paired:")
    return xbot, telegram, offer


async def test_connected_goes_to_the_chat_that_asked_for_the_link(
    bot_factory: Any, fake_twilio: Any, fake_x: Any, fake_telegram: Any
) -> None:
    """A person paired on SMS and Telegram who sends /link on Telegram: the confirm page named
    their SMS number, and "Connected @alice" went to that number, not to the chat they were in.
    Both are the address the link was asked from now."""
    from tests.channels.telegram.talk import CHAT

    xbot, telegram, offer = await _paired_on_telegram(bot_factory, fake_twilio, fake_x, fake_telegram)
    url = link_in(await telegram("/link"))
    xbot.x.next_user = ("4242", "alice")
    async with browser() as session:
        async with session.get(url) as resp:
            page = await resp.text()
            assert f"<title>Connect X to Telegram chat ending {str(CHAT)[-4:]}?</title>" in page
            assert f'<h1>Connect X to <span aria-hidden="true">Telegram ***{str(CHAT)[-4:]}</span>' in page
            # what is posted: the person's texts, from any of their addresses, never "this phone"
            assert "textwire posts only the plain texts you send it." in page
            assert "phone" not in page.lower()
        before = len(fake_telegram.sent)
        async with await press(session, url) as resp:
            assert resp.status == 200, await resp.text()
    sent = await fake_telegram.wait_for_sent(before + 1)
    assert sent[before]["text"] == "Connected @alice"
    await xbot.settled()
    # nothing more by SMS than the code and the news of the pairing
    bodies = [m["Body"] for m in fake_twilio.messages]
    assert len(bodies) == 2, bodies
    assert bodies[0] == offer["Body"]
    assert bodies[1].startswith(f"Telegram ***{str(CHAT)[-4:]} (Ann) is you too now"), bodies


async def test_connected_goes_where_notices_go_when_the_chat_that_asked_opted_out(
    bot_factory: Any, fake_twilio: Any, fake_x: Any, fake_telegram: Any
) -> None:
    """The chat that asked for the link sent STOP before the button was pressed: it gets nothing
    more, so "Connected @alice" goes where every notice of the person goes (their SMS number)."""
    xbot, telegram, _ = await _paired_on_telegram(bot_factory, fake_twilio, fake_x, fake_telegram)
    url = link_in(await telegram("/link"))
    assert "no more messages" in await telegram("STOP")
    xbot.x.next_user = ("4242", "alice")
    async with browser() as session, await press(session, url) as resp:
        assert resp.status == 200, await resp.text()
    messages = await fake_twilio.wait_for_messages(3)  # the code, the news of the pairing, this
    assert messages[-1]["Body"] == "Connected @alice"
