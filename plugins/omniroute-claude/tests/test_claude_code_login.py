"""The Claude login flow against the fake authorization server: paste-back of ``code#state``,
a JSON code exchange with PKCE, the account from the token answer, refresh with rotation and
``invalid_grant`` once the refresh token is revoked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from omniroute_claude.claude_code import ClaudeOAuthSettings
from omniroute_claude.subscription import IMPORT_FLOW, LOGIN_FLOW, ClaudeLoginFlow, login_flow

from omniroute.oauth import InvalidGrant, OAuthError, OAuthFlow
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.testing import FakeOAuthServer

pytestmark = pytest.mark.timeout(15)

CLIENT = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
ACCOUNT = {"uuid": "acc-0001", "email_address": "max@example.com"}


def claude_oauth() -> FakeOAuthServer:
    return FakeOAuthServer(
        client_id=CLIENT,
        token_format="json",
        paste_back=True,
        access_prefix="sk-ant-oat01-",
        refresh_prefix="sk-ant-ort01-",
        token_extra={"account": ACCOUNT, "organization": {"uuid": "org-1", "name": "Me"}},
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


def flow_for(oauth: FakeOAuthServer, base: str) -> ClaudeLoginFlow:
    return login_flow(
        ClaudeOAuthSettings(
            authorize_url=oauth.authorize_url(base), token_url=oauth.token_url(base)
        )
    )


def test_the_login_and_import_flows_are_registered():
    flows = build_registry(get_plugin_manager()).auth_flows
    login, imported = flows[LOGIN_FLOW], flows[IMPORT_FLOW]
    assert isinstance(login, OAuthFlow) and isinstance(login.driver, ClaudeLoginFlow)
    assert login.kind == "oauth-pkce" and imported.kind == "import"


def test_the_authorization_url_is_claudes():
    start = login_flow(ClaudeOAuthSettings()).start()
    query = parse_qs(urlsplit(start.url).query)
    assert start.url.startswith("https://claude.ai/oauth/authorize?")
    assert query["client_id"] == [CLIENT] and query["code"] == ["true"]
    assert query["code_challenge_method"] == ["S256"] and query["state"] == [start.state]
    assert query["redirect_uri"] == ["https://platform.claude.com/oauth/code/callback"]
    assert "user:inference" in query["scope"][0]


async def test_a_pasted_code_hash_state_logs_in_with_a_json_exchange(http):
    oauth = claude_oauth()
    async with oauth.serve() as base:
        flow = flow_for(oauth, base)
        start = flow.start()
        pasted = await oauth.approve_authorization(start.url)
        creds = await flow.exchange(http, start, pasted)
    assert oauth.is_valid(creds.access_token) and creds.refresh_token
    assert (creds.account_id, creds.email) == ("acc-0001", "max@example.com")
    assert creds.extra["organization_uuid"] == "org-1"
    assert list(oauth.token_bodies[0]) == [
        "grant_type",
        "code",
        "redirect_uri",
        "client_id",
        "code_verifier",
        "state",
    ]


async def test_a_code_pasted_into_another_login_is_refused(http):
    oauth = claude_oauth()
    async with oauth.serve() as base:
        flow = flow_for(oauth, base)
        first, second = flow.start(), flow.start()
        pasted = await oauth.approve_authorization(first.url)
        with pytest.raises(OAuthError):
            await flow.exchange(http, second, pasted)
    assert oauth.token_requests == 0


async def test_refresh_rotates_and_a_revoked_refresh_token_is_invalid_grant(http):
    oauth = claude_oauth()
    async with oauth.serve() as base:
        flow = flow_for(oauth, base)
        start = flow.start()
        creds = await flow.exchange(http, start, await oauth.approve_authorization(start.url))
        refreshed = await flow.refresh(http, creds)
        assert refreshed.refresh_token != creds.refresh_token
        assert refreshed.email == "max@example.com" and oauth.refresh_requests == 1
        with pytest.raises(InvalidGrant):
            await flow.refresh(http, creds)  # the rotated-away token
        assert refreshed.refresh_token is not None
        oauth.revoke(refreshed.refresh_token)
        with pytest.raises(InvalidGrant):
            await flow.refresh(http, refreshed)
