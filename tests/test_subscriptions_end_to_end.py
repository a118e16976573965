"""Issue 6's "Done when", for each of the seven subscription providers: two accounts logged in
with ``omniroute login <provider>`` against the provider's local fake authorization server, then
a gateway on that data directory answers the provider's natural official SDK, refreshes the
token when it expires, and moves traffic to the other account when the first one's quota window
is spent (a 429 naming its reset).

The fakes and the per-provider facts are in :mod:`tests.subscriptions`. The user's part of each
login happens through the fakes: the browser the CLI opens approves at the fake authorization
server and the code is pasted back (Claude) or the browser follows the redirect to the CLI's
local listener (Codex, Gemini CLI, iFlow); device codes are approved at the fake as they are
shown (Copilot, Qwen, Kiro).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from anthropic import AsyncAnthropic
from click.testing import CliRunner
from google import genai
from google.genai import types as gtypes

from omniroute.accounts import connections
from omniroute.accounts.vault import mask
from omniroute.appkeys import SECRETS, STORE
from omniroute.cli import build_cli
from omniroute.oauth import OAuthCredentials
from omniroute.providers import Connection
from omniroute.reload import reload_index
from tests.conftest import Gateway, GatewayFactory
from tests.subscriptions import ACCOUNTS, SUBSCRIPTIONS, Running, Subscription, bearer, running

pytestmark = pytest.mark.timeout(30)

HI: list[Any] = [{"role": "user", "content": "hi"}]

PROVIDERS = [pytest.param(spec, id=spec.prefix) for spec in SUBSCRIPTIONS]


@pytest.fixture(params=PROVIDERS)
async def sub(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    """The provider's fakes, serving, with ``OMNIROUTE_<PROVIDER>_*`` pointing at them."""
    spec: Subscription = request.param
    async with running(spec) as fakes:
        for name, value in fakes.env.items():
            monkeypatch.setenv(name, value)
        yield fakes


# -- the user's side of a login -------------------------------------------------------------------


async def follow(url: str) -> int:
    """The browser following the redirect to the CLI's callback listener (which may not be
    listening yet: the CLI opens the browser first)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        for _ in range(250):
            try:
                async with session.get(url, allow_redirects=False) as resp:
                    return resp.status
            except aiohttp.ClientConnectorError:
                await asyncio.sleep(0.02)
    raise AssertionError(f"nothing listened at {url}")


async def omniroute_login(
    sub: Running, account: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """``omniroute login <prefix>`` as ``account``; returns what the command printed."""
    sub.oauth.use(account)
    loop = asyncio.get_running_loop()
    stdin = io.BytesIO()
    followed: list[Future[int]] = []

    def browser(url: str, *args: Any, **kwargs: Any) -> bool:
        # Runs in the command's thread; the fakes run on this test's loop.
        approved = asyncio.run_coroutine_threadsafe(sub.oauth.approve_authorization(url), loop)
        answer = approved.result(10)
        if sub.spec.login == "listen":
            followed.append(asyncio.run_coroutine_threadsafe(follow(answer), loop))
        else:  # what the user pastes: code#state
            stdin.write(answer.encode() + b"\n")
            stdin.seek(0)
        return True

    monkeypatch.setattr("webbrowser.open", browser)
    args = ["login", sub.spec.prefix, "--data-dir", str(data_dir)]
    result = await asyncio.to_thread(
        CliRunner().invoke, build_cli(), args, input=stdin, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    for done in followed:
        assert await asyncio.wrap_future(done) == 200
    return result.output


# -- the client's side ---------------------------------------------------------------------------


async def ask(gw: Gateway, spec: Subscription) -> str:
    """One request through the gateway with the provider's natural official SDK."""
    if spec.client == "anthropic":
        async with AsyncAnthropic(
            base_url=gw.url, api_key="no-key", max_retries=0, timeout=10
        ) as claude:
            message = await claude.messages.create(model=spec.model, max_tokens=64, messages=HI)
        block = message.content[0]
        assert block.type == "text"
        return block.text
    if spec.client == "genai":
        options = gtypes.HttpOptions(base_url=gw.url, api_version="v1beta", timeout=10_000)
        async with genai.Client(api_key="no-key", http_options=options).aio as gemini:
            reply = await gemini.models.generate_content(model=spec.model, contents="hi")
        return reply.text or ""
    async with gw.openai(timeout=10) as openai:
        if spec.client == "responses":
            answer = await openai.responses.create(model=spec.model, input="hi")
            return answer.output_text
        completion = await openai.chat.completions.create(model=spec.model, messages=HI)
    return completion.choices[0].message.content or ""


async def stored(gw: Gateway, sub: Running) -> dict[str, tuple[Connection, OAuthCredentials]]:
    """The provider's stored connections by account."""
    conns = await gw.app[STORE].call(connections.load, gw.app[SECRETS].vault)
    found = {}
    for conn in conns:
        if conn.provider == sub.spec.provider:
            creds = OAuthCredentials.from_connection(conn)
            found[sub.oauth.account_of(creds.access_token) or "?"] = (conn, creds)
    return found


async def expire_on_the_clock(gw: Gateway, conn: Connection, creds: OAuthCredentials) -> None:
    """Time passes beyond the stored token's expiry (what the gateway's clock would see)."""
    past = creds.model_copy(update={"expires_at": time.time() - 1})
    vault = gw.app[SECRETS].vault

    def write(db: Any) -> None:
        connections.update_secret(db, vault, conn.id, past.to_secret(), mask(past.access_token))

    await gw.app[STORE].call(write)
    await reload_index(gw.app)


async def test_logins_answer_refresh_and_fail_over_to_the_other_account(
    sub: Running, make_gateway: GatewayFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = sub.spec
    data_dir = tmp_path / "omniroute"
    for account in ACCOUNTS:
        printed = await omniroute_login(sub, account, data_dir, monkeypatch)
        assert "added connection" in printed, printed
    gw = await make_gateway(data_dir=data_dir)
    accounts = await stored(gw, sub)
    assert sorted(accounts) == sorted(ACCOUNTS)

    # An answer, from one of the two accounts.
    assert await ask(gw, spec) == spec.answer
    served = sub.account_of(sub.calls()[-1])
    assert served in ACCOUNTS
    (other,) = set(ACCOUNTS) - {served}

    # Its quota window is spent: the request moves to the other account, and so do the next.
    sub.upstream.enqueue(spec.exhausted())
    seen = len(sub.calls())
    assert await ask(gw, spec) == spec.answer
    assert [sub.account_of(c) for c in sub.calls()[seen:]] == [served, other]
    assert await ask(gw, spec) == spec.answer
    assert [sub.account_of(c) for c in sub.calls()[seen:]] == [served, other, other]

    # The other account's token expires at the provider: the next request is answered by that
    # account with a refreshed token, whose rotated refresh token is stored.
    conn, before = accounts[other]
    used = bearer(sub.calls()[-1])
    refreshes = sub.oauth.refresh_requests
    if spec.expire is not None:
        spec.expire(sub, other)
    else:
        sub.oauth.expire(before.access_token)
        if spec.expiry_by_clock:
            await expire_on_the_clock(gw, conn, before)
    assert await ask(gw, spec) == spec.answer
    call = sub.calls()[-1]
    assert sub.account_of(call) == other
    if spec.expire is not None:  # a token exchanged for the login's (Copilot's), exchanged again
        assert bearer(call) != used
        return
    _, after = (await stored(gw, sub))[other]
    assert sub.oauth.refresh_requests == refreshes + 1
    assert after.access_token != before.access_token and sub.oauth.is_valid(after.access_token)
    assert after.refresh_token in sub.oauth.live_refresh_tokens
    if not spec.expiry_by_clock:
        assert bearer(call) == after.access_token
