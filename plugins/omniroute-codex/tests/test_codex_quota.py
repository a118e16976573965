"""``cx/`` quota windows: ``/backend-api/wham/usage`` parsed into the ``primary`` (5-hour) and
``secondary`` (weekly) windows, and a connection whose window is spent skipped (the fake Codex
backend checks the token and the account header on the usage read too)."""

from __future__ import annotations

import time

import aiohttp
import importlib_metadata
import pytest
from omniroute_codex import CodexProvider, CodexSettings
from omniroute_codex.codex import parse_wham_usage, usage_url
from openai import AsyncOpenAI

from omniroute import UpstreamError
from omniroute.accounts import connections
from omniroute.app import create_app
from omniroute.appkeys import SECRETS, STORE
from omniroute.oauth.credentials import OAuthCredentials
from omniroute.oauth.quota import watcher_of
from omniroute.plugins import get_plugin_manager
from omniroute.reload import reload_index
from omniroute.settings import Settings
from omniroute.testing.fake_codex import FakeCodexUpstream, wham_usage

pytestmark = pytest.mark.timeout(20)

PASSWORD = "codex-quota-password"
ACCOUNTS = {"access-token-one-0001": "acct-one", "access-token-two-0002": "acct-two"}


def creds(token: str) -> OAuthCredentials:
    return OAuthCredentials(
        access_token=token,
        refresh_token=f"refresh-{token}",
        account_id=ACCOUNTS.get(token),
        extra={"chatgpt_account_id": ACCOUNTS.get(token, "acct-none")},
    )


def test_the_usage_url_sits_next_to_the_codex_endpoint():
    assert usage_url("https://chatgpt.com/backend-api/codex") == (
        "https://chatgpt.com/backend-api/wham/usage"
    )
    assert usage_url("http://127.0.0.1:1/backend-api/codex/") == (
        "http://127.0.0.1:1/backend-api/wham/usage"
    )


def test_primary_and_secondary_windows_parse_with_reset_at_or_reset_after():
    body = {
        "rate_limit": {
            "primary_window": {"used_percent": 97, "reset_at": 1893456000},
            "secondary_window": {"used_percent": 12.5, "reset_after_seconds": 600},
        }
    }
    primary, secondary = parse_wham_usage(body, now=1000.0)
    assert (primary.name, primary.used_percent, primary.resets_at) == ("primary", 97.0, 1893456000)
    assert (secondary.name, secondary.used_percent, secondary.resets_at) == (
        "secondary",
        12.5,
        1600.0,
    )
    assert parse_wham_usage({"rate_limit": {"primary_window": None}}) == []
    assert parse_wham_usage({"detail": "nope"}) == []


async def test_quota_reads_the_windows_with_the_account_header(aiohttp_server):
    fake = FakeCodexUpstream(accounts=ACCOUNTS)
    fake.usage = wham_usage(55.0, 20.0, primary_reset_in=1200)
    server = await aiohttp_server(fake.app)
    base = str(server.make_url("/backend-api/codex"))
    provider = CodexProvider(CodexSettings(base_url=base))
    async with aiohttp.ClientSession() as session:
        windows = await provider.quota(session, creds("access-token-one-0001"))
        with pytest.raises(UpstreamError) as refused:
            await provider.quota(session, creds("unknown-token"))
    assert [(w.name, w.used_percent) for w in windows] == [("primary", 55.0), ("secondary", 20.0)]
    assert windows[0].resets_at is not None and windows[0].resets_at > time.time() + 1000
    assert refused.value.status == 401
    [read] = [r for r in fake.requests if r.path == "/backend-api/wham/usage"][:1]
    assert read.headers["Chatgpt-Account-Id"] == "acct-one"


async def test_an_account_with_a_spent_window_is_skipped(
    tmp_path, aiohttp_server, aiohttp_client, monkeypatch
):
    fake = FakeCodexUpstream(accounts=ACCOUNTS)
    fake.account_usage["acct-one"] = wham_usage(99.0, 40.0)
    backend = await aiohttp_server(fake.app)
    monkeypatch.setenv("OMNIROUTE_CODEX_BASE_URL", str(backend.make_url("/backend-api/codex")))
    monkeypatch.setenv("OMNIROUTE_CODEX_TOKEN_URL", "http://127.0.0.1:9/oauth/token")
    monkeypatch.setenv("OMNIROUTE_CODEX_AUTHORIZE_URL", "http://127.0.0.1:9/oauth/authorize")
    ep = importlib_metadata.EntryPoint(
        name="omniroute-codex", value="omniroute_codex", group="omniroute"
    )
    settings = Settings(data_dir=tmp_path, initial_password=PASSWORD, read_timeout=5.0)
    gateway = await aiohttp_client(create_app(settings, get_plugin_manager(entry_points=[ep])))
    app = gateway.server.app
    for priority, token in enumerate(ACCOUNTS):
        fields = connections.ConnectionCreate(provider="codex", name=token, priority=priority)
        secret = creds(token).to_secret()
        await app[STORE].call(
            lambda db, f=fields, s=secret: connections.insert(db, app[SECRETS].vault, f, s)
        )
    await reload_index(app)
    watcher = watcher_of(app)
    assert watcher is not None
    await watcher.refresh_all()

    async with AsyncOpenAI(
        base_url=str(gateway.make_url("/v1")), api_key="none", max_retries=0, timeout=10
    ) as client:
        answer = await client.responses.create(model="cx/gpt-5.2-codex", input="hi")
    assert answer.output_text == "echo: hi"
    [chat] = [r for r in fake.requests if r.path == "/backend-api/codex/responses"]
    assert chat.headers["Chatgpt-Account-Id"] == "acct-two"
    assert {w["name"] for s in watcher.snapshots.values() for w in s.to_api()["windows"]} == {
        "primary",
        "secondary",
    }
