"""The Codex login against a local authorization server that checks what OpenAI's does (form
token request, PKCE S256, client id, redirect URI, single-use codes, refresh rotation): the
account id comes from the token answer's id_token, on login and on refresh."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import orjson
import pytest
from omniroute_codex import (
    FLOW_ID,
    IMPORT_FLOW_ID,
    CodexSettings,
    login_flow,
    register_auth_flows,
)

from omniroute.oauth.flows import OAuthError
from omniroute.testing.fake_oauth import FakeOAuthServer

CLIENT_ID = CodexSettings().client_id
TIMEOUT = aiohttp.ClientTimeout(total=5)


def id_token(account: str, email: str = "dev@example.com") -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    claims = {
        "email": email,
        "https://api.openai.com/auth": {"chatgpt_account_id": account, "chatgpt_plan_type": "pro"},
    }
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"


@pytest.fixture
async def oauth(aiohttp_server) -> tuple[FakeOAuthServer, str]:
    server = FakeOAuthServer(
        client_id=CLIENT_ID,
        token_format="form",
        redirect_uris=["http://localhost:1455/auth/callback"],
        token_extra={"id_token": id_token("acct-login")},
    )
    running = await aiohttp_server(server.app)
    return server, str(running.make_url("")).rstrip("/")


def settings_for(base: str) -> CodexSettings:
    return CodexSettings.from_env(
        {
            "OMNIROUTE_CODEX_AUTHORIZE_URL": base + "/oauth/authorize",
            "OMNIROUTE_CODEX_TOKEN_URL": base + "/oauth/token",
        }
    )


async def test_a_login_yields_the_tokens_and_the_chatgpt_account(oauth):
    server, base = oauth
    flow = login_flow(settings_for(base))
    start = flow.start()
    redirect = await server.approve_authorization(start.url)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        creds = await flow.exchange(session, start, redirect)
    assert server.is_valid(creds.access_token)
    assert creds.account_id == "acct-login"
    assert creds.extra["chatgpt_account_id"] == "acct-login"
    assert creds.extra["plan_type"] == "pro"
    assert creds.email == "dev@example.com"
    assert "id_token" not in creds.extra
    assert server.token_bodies[-1]["grant_type"] == "authorization_code"
    assert server.token_bodies[-1]["code_verifier"] == start.verifier


async def test_the_authorization_url_carries_the_codex_parameters(oauth):
    _, base = oauth
    start = login_flow(settings_for(base)).start()
    assert start.url.startswith(base + "/oauth/authorize?")
    for param in (
        "prompt=login",
        "id_token_add_organizations=true",
        "codex_cli_simplified_flow=true",
        "code_challenge_method=S256",
        "redirect_uri=http%3A%2F%2Flocalhost%3A1455%2Fauth%2Fcallback",
    ):
        assert param in start.url


async def test_a_refresh_rotates_the_tokens_and_keeps_the_account(oauth):
    server, base = oauth
    flow = login_flow(settings_for(base))
    start = flow.start()
    redirect = await server.approve_authorization(start.url)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        creds = await flow.exchange(session, start, redirect)
        fresh = await flow.refresh(session, creds)
    assert fresh.refresh_token != creds.refresh_token
    assert fresh.account_id == "acct-login"
    assert server.token_bodies[-1]["scope"] == "openid profile email"


async def test_a_login_whose_id_token_names_no_account_is_refused(oauth):
    server, base = oauth
    server.token_extra = {"id_token": "not-a-jwt"}
    flow = login_flow(settings_for(base))
    start = flow.start()
    redirect = await server.approve_authorization(start.url)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        with pytest.raises(ValueError):
            await flow.exchange(session, start, redirect)


async def test_a_pasted_code_of_another_login_is_refused(oauth):
    _, base = oauth
    flow = login_flow(settings_for(base))
    start = flow.start()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        with pytest.raises(OAuthError):
            await flow.exchange(session, start, "some-code#another-state")


def test_the_login_listens_on_port_1455_at_the_callback_path():
    flow = login_flow(CodexSettings())
    assert flow.callback_port == 1455 and flow.callback_path == "/auth/callback"
    assert flow.token_format == "form"


async def test_an_imported_codex_auth_file_names_its_account():
    flows: dict[str, Any] = {}
    register_auth_flows(register=lambda flow: flows.setdefault(flow.id, flow))
    assert set(flows) == {FLOW_ID, IMPORT_FLOW_ID}
    importer = flows[IMPORT_FLOW_ID].driver
    content = orjson.dumps(
        {"tokens": {"access_token": "at-1", "refresh_token": "rt-1", "id_token": id_token("a-9")}}
    ).decode()
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        creds = await importer.finish(session, importer.read(content))
    assert creds.account_id == "a-9" and creds.extra == {
        "chatgpt_account_id": "a-9",
        "plan_type": "pro",
    }
