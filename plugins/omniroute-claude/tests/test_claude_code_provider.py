"""The cc/ provider: registration, what ``authorize`` puts on an attempt, error classification
and the usage windows, against the fake Claude OAuth upstream."""

from __future__ import annotations

import time

import aiohttp
import pytest
from omniroute_claude.claude_code import CLAUDE_CODE_SYSTEM, ClaudeOAuthSettings
from omniroute_claude.subscription import ClaudeCodeProvider

from omniroute import Attempt, Connection, Endpoint, ErrorKind, Secret, UpstreamError
from omniroute.oauth.credentials import OAuthCredentials
from omniroute.oauth.provider import OAuthProvider
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.testing import FakeOAuthServer
from omniroute.testing.fake_claude_oauth import FakeClaudeOAuthUpstream

pytestmark = pytest.mark.timeout(15)


def creds(token: str = "sk-ant-oat01-test") -> OAuthCredentials:
    return OAuthCredentials(access_token=token, refresh_token="rt", expires_at=time.time() + 3600)


def connection(base_url: str | None = None, token: str = "sk-ant-oat01-test") -> Connection:
    return Connection(
        "c1", "claude-code", "me", Secret(creds(token).to_secret()), base_url=base_url
    )


def attempt(provider: ClaudeCodeProvider, body: dict, extra_headers: dict | None = None) -> Attempt:
    conn = connection("http://127.0.0.1:9")
    headers = provider.headers(conn)
    headers.update(extra_headers or {})
    return Attempt(
        provider=provider,
        connection=conn,
        endpoint=Endpoint.CHAT,
        url=provider.url(conn, Endpoint.CHAT),
        headers=headers,
        body=body,
        stream=False,
        request_id="r1",
        model="claude-opus-4-6",
    )


def test_cc_is_registered_as_a_subscription_oauth_provider():
    provider = build_registry(get_plugin_manager()).providers["claude-code"]
    assert isinstance(provider, ClaudeCodeProvider) and isinstance(provider, OAuthProvider)
    assert (provider.prefix, provider.format, provider.billing) == (
        "cc",
        "anthropic",
        "subscription",
    )
    assert {"claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5"} <= {
        m.id for m in provider.models
    }


def test_messages_go_to_the_beta_endpoint_of_the_configured_base_url():
    provider = ClaudeCodeProvider(ClaudeOAuthSettings(base_url="http://relay.local"))
    assert provider.url(connection(), Endpoint.CHAT) == "http://relay.local/v1/messages?beta=true"
    with pytest.raises(UpstreamError):
        provider.url(connection(), Endpoint.EMBEDDINGS)


def test_headers_never_carry_the_stored_credential():
    conn = connection()
    headers = ClaudeCodeProvider().headers(conn)
    assert conn.api_key.reveal() not in str(headers) and "sk-ant-oat01-test" not in str(headers)
    assert "x-api-key" not in {k.lower() for k in headers}


def test_authorize_sets_bearer_betas_identity_and_the_system_line():
    provider = ClaudeCodeProvider()
    body = {"model": "claude-opus-4-6", "system": "Be brief.", "messages": []}
    att = attempt(provider, body, {"anthropic-beta": "context-1m-2025-08-07"})
    provider.authorize(att, creds("sk-ant-oat01-abc"))
    assert att.headers["Authorization"] == "Bearer sk-ant-oat01-abc"
    assert att.headers["anthropic-beta"] == (
        "context-1m-2025-08-07,claude-code-20250219,oauth-2025-04-20"
    )
    assert att.headers["anthropic-version"] == "2023-06-01"
    assert att.headers["User-Agent"].startswith("claude-cli/") and att.headers["X-App"] == "cli"
    assert att.body["system"] == [
        {"type": "text", "text": CLAUDE_CODE_SYSTEM},
        {"type": "text", "text": "Be brief."},
    ]


def test_authorizing_again_after_a_refresh_replaces_the_token_and_keeps_one_system_line():
    provider = ClaudeCodeProvider()
    att = attempt(provider, {"messages": []})
    provider.authorize(att, creds("old"))
    provider.authorize(att, creds("new"))
    assert att.headers["Authorization"] == "Bearer new"
    assert [k for k in att.headers if k.lower() == "authorization"] == ["Authorization"]
    assert att.body["system"] == [{"type": "text", "text": CLAUDE_CODE_SYSTEM}]
    assert att.headers["anthropic-beta"] == "claude-code-20250219,oauth-2025-04-20"


def test_a_rejected_unified_window_is_an_exhausted_quota_until_its_reset():
    reset = time.time() + 600
    err = ClaudeCodeProvider().classify_error(
        429,
        {
            "anthropic-ratelimit-unified-status": "rejected",
            "anthropic-ratelimit-unified-reset": str(int(reset)),
        },
        b'{"type":"error","error":{"type":"rate_limit_error","message":"limit reached"}}',
    )
    assert err.kind is ErrorKind.QUOTA_EXHAUSTED
    assert err.retry_after is not None and 590 < err.retry_after <= 600


def test_an_expired_token_is_an_auth_error():
    err = ClaudeCodeProvider().classify_error(
        401,
        {},
        b'{"type":"error","error":{"type":"authentication_error",'
        b'"message":"OAuth token has expired. Please obtain a new token."}}',
    )
    assert err.kind is ErrorKind.AUTH


async def test_quota_reads_the_five_hour_and_weekly_windows(aiohttp_server):
    oauth = FakeOAuthServer(client_id="cid", token_format="json", paste_back=True)
    upstream = FakeClaudeOAuthUpstream(oauth)
    upstream.usage["five_hour"]["utilization"] = 97.0
    server = await aiohttp_server(upstream.app)
    provider = ClaudeCodeProvider(
        ClaudeOAuthSettings(base_url=str(server.make_url("")).rstrip("/"))
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        windows = await provider.quota(session, creds(oauth.issue().access_token))
        with pytest.raises(UpstreamError) as refused:
            await provider.quota(session, creds("sk-ant-oat01-unknown"))
    by_name = {w.name: w for w in windows}
    assert by_name["five_hour"].used_percent == 97.0 and by_name["seven_day"].resets_at
    assert refused.value.kind is ErrorKind.AUTH


async def test_check_uses_the_stored_token(aiohttp_server):
    oauth = FakeOAuthServer(client_id="cid", token_format="json", paste_back=True)
    upstream = FakeClaudeOAuthUpstream(oauth)
    server = await aiohttp_server(upstream.app)
    base = str(server.make_url("")).rstrip("/")
    provider = ClaudeCodeProvider(ClaudeOAuthSettings(base_url=base))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        good = await provider.check(session, connection(base, oauth.issue().access_token))
        bad = await provider.check(session, connection(base, "sk-ant-oat01-unknown"))
    assert good.ok and not bad.ok and bad.status == 401
