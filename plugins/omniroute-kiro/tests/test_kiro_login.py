"""kr/ end to end: AWS SSO OIDC device login against a local fake, then the upstream call,
then a refreshed token on the next call — the official openai SDK as the client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from openai import AsyncOpenAI

from omniroute.app import create_app
from omniroute.plugins import get_plugin_manager
from omniroute.settings import Settings
from omniroute.testing.fake_kiro import FakeKiroUpstream
from omniroute.testing.fake_oauth import FakeOAuthServer, OAuthPaths

PASSWORD = "test-admin-password"
AWS_PATHS = OAuthPaths(token="/token", device="/device_authorization", register="/client/register")


async def start(tmp_path: Path, aiohttp_server: Any, monkeypatch: Any, expires_in: int):
    oauth = FakeOAuthServer(token_format="aws", paths=AWS_PATHS, expires_in=expires_in)
    kiro = FakeKiroUpstream(oauth.is_valid)
    oidc = await aiohttp_server(oauth.app)
    upstream = await aiohttp_server(kiro.app)
    # Read when the plugin registers: set before the plugin manager is built.
    monkeypatch.setenv("OMNIROUTE_KIRO_OIDC_URL", str(oidc.make_url("")).rstrip("/"))
    monkeypatch.setenv("OMNIROUTE_KIRO_BASE_URL", str(upstream.make_url("")).rstrip("/"))
    settings = Settings(
        data_dir=tmp_path / "data",
        initial_password=PASSWORD,
        ledger_flush_seconds=0.01,
        config_poll_seconds=0.05,
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    gateway = await aiohttp_server(
        create_app(settings, get_plugin_manager(load=["omniroute-kiro"], disable=()))
    )
    return oauth, kiro, str(gateway.make_url("")).rstrip("/")


async def login(admin: aiohttp.ClientSession, url: str, oauth: FakeOAuthServer) -> dict:
    async with admin.post(url + "/api/auth/login", json={"password": PASSWORD}) as resp:
        assert resp.status == 200
    async with admin.post(url + "/api/oauth/kiro/device-code", json={}) as resp:
        started = await resp.json()
        assert resp.status == 200, started
    async with admin.post(url + "/api/oauth/kiro/poll", json={"session": started["session"]}) as r:
        assert (await r.json())["status"] == "pending"
    oauth.approve(started["userCode"])
    async with admin.post(url + "/api/oauth/kiro/poll", json={"session": started["session"]}) as r:
        connection = await r.json()
        assert r.status == 201, connection
    return connection


async def ask(url: str) -> str:
    client = AsyncOpenAI(base_url=url + "/v1", api_key="k", max_retries=0, timeout=10)
    answer = await client.chat.completions.create(
        model="kr/claude-haiku-4.5", messages=[{"role": "user", "content": "hi"}]
    )
    return answer.choices[0].message.content or ""


async def test_a_device_login_stores_a_connection_that_answers(
    tmp_path, aiohttp_server, monkeypatch
):
    oauth, kiro, url = await start(tmp_path, aiohttp_server, monkeypatch, expires_in=3600)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
        connection = await login(admin, url, oauth)
    assert connection["provider"] == "kiro"
    assert await ask(url) == "Hello from Kiro."
    assert oauth.refresh_requests == 0
    token = kiro.last_request.headers["Authorization"].removeprefix("Bearer ")
    assert oauth.is_valid(token)
    # AWS SSO OIDC (the fake takes camelCase JSON only, and records it snake_cased): the
    # poll carried the client registered at the start of the login.
    poll = oauth.token_bodies[-1]
    assert poll["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"
    assert poll["client_id"].startswith("aws-client-")


async def test_a_token_about_to_expire_is_refreshed_before_the_call(
    tmp_path, aiohttp_server, monkeypatch
):
    # Tokens live 60 s, under kr/'s refresh lead: every call finds the token due.
    oauth, kiro, url = await start(tmp_path, aiohttp_server, monkeypatch, expires_in=60)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
        await login(admin, url, oauth)
    issued = set(oauth.tokens)
    assert await ask(url) == "Hello from Kiro."
    assert oauth.refresh_requests == 1
    used = kiro.last_request.headers["Authorization"].removeprefix("Bearer ")
    assert used not in issued and oauth.is_valid(used)
    refresh = oauth.token_bodies[-1]
    assert refresh["grant_type"] == "refresh_token" and refresh["client_secret"]
