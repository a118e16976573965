"""cc/ end to end: a login (``omniroute login cc`` or ``/api/oauth/cc``) against the fake
authorization server, then official SDKs through the gateway to the fake Claude OAuth upstream;
the token is refreshed when it expires (rotation persisted) and a revoked refresh token leaves
the connection ``needs_reauth``."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from anthropic import AsyncAnthropic
from omniroute_claude.claude_code import CLAUDE_CODE_SYSTEM

from omniroute.accounts import connections
from omniroute.appkeys import SECRETS, STORE
from omniroute.oauth import OAuthCredentials
from omniroute.testing import FakeOAuthServer
from omniroute.testing.fake_claude_oauth import FakeClaudeOAuthUpstream
from tests.conftest import Gateway, GatewayFactory, make_gateway

__all__ = ["make_gateway"]  # the fixture, imported for this module's tests

pytestmark = pytest.mark.timeout(30)

CLIENT = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
HELLO = [{"role": "user", "content": "hi"}]


class Claude:
    """The fake authorization server and upstream, running, with the env pointing at them."""

    def __init__(self, oauth: FakeOAuthServer, upstream: FakeClaudeOAuthUpstream) -> None:
        self.oauth = oauth
        self.upstream = upstream


@pytest.fixture
async def claude(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Claude]:
    oauth = FakeOAuthServer(
        client_id=CLIENT,
        token_format="json",
        paste_back=True,
        access_prefix="sk-ant-oat01-",
        refresh_prefix="sk-ant-ort01-",
        token_extra={"account": {"uuid": "acc-1", "email_address": "max@example.com"}},
    )
    upstream = FakeClaudeOAuthUpstream(oauth)
    async with oauth.serve() as oauth_base, upstream.serve() as upstream_base:
        monkeypatch.setenv("OMNIROUTE_CLAUDE_AUTHORIZE_URL", oauth.authorize_url(oauth_base))
        monkeypatch.setenv("OMNIROUTE_CLAUDE_TOKEN_URL", oauth.token_url(oauth_base))
        monkeypatch.setenv("OMNIROUTE_CLAUDE_BASE_URL", upstream_base)
        yield Claude(oauth, upstream)


async def login(gw: Gateway, claude: Claude) -> dict[str, Any]:
    """The dashboard's login: authorize, the user approves and pastes ``code#state``."""
    status, started = await gw.api("GET", "/api/oauth/cc/authorize")
    assert status == 200, started
    pasted = await claude.oauth.approve_authorization(started["url"])
    status, conn = await gw.api(
        "POST", "/api/oauth/cc/exchange", json={"session": started["session"], "code": pasted}
    )
    assert status in (200, 201), conn
    return conn


async def stored(gw: Gateway) -> OAuthCredentials:
    conns = await gw.app[STORE].call(connections.load, gw.app[SECRETS].vault)
    (conn,) = [c for c in conns if c.provider == "claude-code"]
    return OAuthCredentials.from_connection(conn)


def sdk(gw: Gateway) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=gw.url, api_key="no-key", max_retries=0, timeout=10)


async def ask(gw: Gateway, **kwargs: Any) -> str:
    reply = await sdk(gw).messages.create(
        model="cc/claude-opus-4-6", max_tokens=64, messages=HELLO, **kwargs
    )
    block = reply.content[0]
    assert block.type == "text"
    return block.text


async def test_login_then_the_anthropic_sdk_gets_an_answer(make_gateway: GatewayFactory, claude):
    gw = await make_gateway()
    conn = await login(gw, claude)
    assert conn["provider"] == "claude-code" and "sk-ant-oat01-" not in str(conn)
    assert await ask(gw, system="Be brief.") == "echo: hi"
    sent = claude.upstream.last_request
    assert sent is not None and sent.path == "/v1/messages"
    assert "oauth-2025-04-20" in sent.headers["anthropic-beta"]
    assert sent.json["system"][0]["text"] == CLAUDE_CODE_SYSTEM
    assert sent.json["system"][1]["text"] == "Be brief."
    assert "x-api-key" not in sent.headers
    creds = await stored(gw)
    assert claude.upstream.seen_tokens == [creds.access_token] and creds.email == "max@example.com"


async def test_the_openai_sdk_reaches_cc_through_translation(make_gateway: GatewayFactory, claude):
    gw = await make_gateway()
    await login(gw, claude)
    reply = await gw.openai().chat.completions.create(model="cc/claude-opus-4-6", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"


async def test_a_client_beta_header_is_kept_next_to_the_oauth_beta(
    make_gateway: GatewayFactory, claude
):
    gw = await make_gateway()
    await login(gw, claude)
    await ask(gw, extra_headers={"anthropic-beta": "context-1m-2025-08-07"})
    sent = claude.upstream.last_request
    assert sent is not None
    betas = sent.headers["anthropic-beta"].split(",")
    assert betas[0] == "context-1m-2025-08-07" and "oauth-2025-04-20" in betas


async def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_stored(
    make_gateway: GatewayFactory, claude
):
    gw = await make_gateway()
    await login(gw, claude)
    first = await stored(gw)
    assert await ask(gw) == "echo: hi"
    claude.oauth.expire()  # the upstream now answers 401 "OAuth token has expired"
    assert await ask(gw) == "echo: hi"
    after = await stored(gw)
    assert claude.oauth.refresh_requests == 1
    assert after.refresh_token != first.refresh_token
    assert claude.oauth.live_refresh_tokens == [after.refresh_token]
    assert claude.upstream.seen_tokens[-1] == after.access_token != first.access_token


async def test_a_token_near_expiry_is_refreshed_before_the_call(
    make_gateway: GatewayFactory, claude
):
    claude.oauth.expires_in = 60  # inside cc/'s refresh lead time
    gw = await make_gateway()
    await login(gw, claude)
    first = await stored(gw)
    assert await ask(gw) == "echo: hi"
    assert claude.oauth.refresh_requests == 1
    assert first.access_token not in claude.upstream.seen_tokens


async def test_a_revoked_refresh_token_leaves_the_connection_needing_a_new_login(
    make_gateway: GatewayFactory, claude
):
    gw = await make_gateway()
    conn = await login(gw, claude)
    creds = await stored(gw)
    assert creds.refresh_token is not None
    claude.oauth.revoke(creds.refresh_token)
    claude.oauth.expire()
    with pytest.raises(anthropic.APIStatusError):
        await ask(gw)
    status, listed = await gw.api("GET", "/api/providers")
    assert status == 200
    rows = listed if isinstance(listed, list) else listed.get("connections", listed.get("data"))
    (row,) = [r for r in rows if r["id"] == conn["id"]]
    assert row["needsReauth"] is True and row["status"] == "needs_reauth"


async def test_omniroute_login_cc_pastes_back_and_the_gateway_serves_the_account(
    make_gateway: GatewayFactory, claude, tmp_path: Path
):
    """``omniroute login cc --no-browser`` in a real process: it prints the URL, the user
    approves and pastes ``code#state``; a gateway on the same data directory then answers."""
    data_dir = tmp_path / "login-data"
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "omniroute"),
        "login",
        "cc",
        "--no-browser",
        "--data-dir",
        str(data_dir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        url = ""
        async with asyncio.timeout(15):
            while not url.startswith("http"):
                line = await proc.stdout.readline()
                assert line, "omniroute login ended without printing a URL"
                url = line.decode().strip()
        pasted = await claude.oauth.approve_authorization(url)
        proc.stdin.write(pasted.encode() + b"\n")
        await proc.stdin.drain()
        async with asyncio.timeout(15):
            output = (await proc.stdout.read()).decode()
            assert await proc.wait() == 0, output
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "added connection" in output and "max@example.com" in output
    assert "sk-ant-" not in output
    gw = await make_gateway(data_dir=data_dir)
    assert await ask(gw) == "echo: hi"
    assert claude.upstream.seen_tokens == [(await stored(gw)).access_token]
