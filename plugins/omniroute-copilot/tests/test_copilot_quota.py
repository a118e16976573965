"""``gh/`` quota: the monthly premium requests window from ``copilot_internal/user`` (read with
the GitHub token), and an account whose premium requests are spent skipped until the monthly
reset. The fake is :class:`test_copilot.FakeCopilot`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import importlib_metadata
import pytest
from omniroute_copilot import build_provider, parse_copilot_user
from openai import AsyncOpenAI
from test_copilot import FakeCopilot

from omniroute import UpstreamError
from omniroute.accounts import connections
from omniroute.app import create_app
from omniroute.appkeys import GATEWAY, SECRETS, STORE
from omniroute.oauth import OAuthCredentials
from omniroute.oauth.quota import QUOTA_REASON, watcher_of
from omniroute.plugins import get_plugin_manager
from omniroute.reload import reload_index
from omniroute.settings import Settings

pytestmark = pytest.mark.timeout(20)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
WORK = "gho_" + "w" * 36
HOME = "gho_" + "h" * 36
SPENT = {"entitlement": 300, "remaining": 0, "percent_remaining": 0.0, "unlimited": False}


def test_premium_requests_parse_as_percent_used_resetting_at_the_reset_date():
    [window] = parse_copilot_user(
        {
            "quota_reset_date": "2030-02-01",
            "quota_snapshots": {
                "chat": {"unlimited": True, "percent_remaining": 100.0},
                "premium_interactions": {"percent_remaining": 12.5, "unlimited": False},
            },
        }
    )
    assert (window.name, window.used_percent) == ("premium_interactions", 87.5)
    assert window.resets_at == datetime(2030, 2, 1, tzinfo=UTC).timestamp()


def test_an_unlimited_plan_or_an_answer_without_snapshots_has_no_window():
    unlimited = {"premium_interactions": {"unlimited": True, "percent_remaining": 100.0}}
    assert parse_copilot_user({"quota_snapshots": unlimited}) == []
    assert parse_copilot_user({"login": "octocat"}) == []


async def test_quota_reads_the_window_with_the_github_token(aiohttp_server):
    fake = FakeCopilot(WORK)
    server = await aiohttp_server(fake.app)
    api = str(server.make_url("")).rstrip("/")
    provider = build_provider({"OMNIROUTE_COPILOT_API_URL": api})
    async with aiohttp.ClientSession() as session:
        [window] = await provider.quota(session, OAuthCredentials(access_token=WORK))
        with pytest.raises(UpstreamError) as refused:
            await provider.quota(session, OAuthCredentials(access_token="gho_unknown"))
    assert window.used_percent == 20.0 and refused.value.status == 401
    read = next(r for r in fake.requests if r.path == "/copilot_internal/user")
    assert read.headers["Authorization"] == f"token {WORK}"


async def test_an_account_with_spent_premium_requests_is_skipped(
    tmp_path, aiohttp_server, monkeypatch
):
    monkeypatch.syspath_prepend(str(PACKAGE_DIR))
    fake = FakeCopilot(lambda token: token in (WORK, HOME))
    fake.premium_by_token[WORK] = SPENT
    server = await aiohttp_server(fake.app)
    monkeypatch.setenv("OMNIROUTE_COPILOT_API_URL", str(server.make_url("")).rstrip("/"))
    monkeypatch.setenv("OMNIROUTE_COPILOT_TOKEN_URL", "http://127.0.0.1:9/token")
    monkeypatch.setenv("OMNIROUTE_COPILOT_DEVICE_URL", "http://127.0.0.1:9/device")
    ep = importlib_metadata.EntryPoint(
        name="omniroute-copilot", value="omniroute_copilot", group="omniroute"
    )
    settings = Settings(data_dir=tmp_path, initial_password=secrets.token_hex(8), read_timeout=5.0)
    gateway = await aiohttp_server(create_app(settings, get_plugin_manager(entry_points=[ep])))
    app = gateway.app
    for priority, token in enumerate((WORK, HOME)):
        secret = OAuthCredentials(access_token=token, scope="read:user").to_secret()
        fields = connections.ConnectionCreate(provider="copilot", name=token, priority=priority)
        await app[STORE].call(
            lambda db, f=fields, s=secret: connections.insert(db, app[SECRETS].vault, f, s)
        )
    await reload_index(app)
    watcher = watcher_of(app)
    assert watcher is not None
    await watcher.refresh_all()

    url = str(gateway.make_url("/v1"))
    async with AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=10) as sdk:
        reply = await sdk.chat.completions.create(
            model="gh/gpt-4.1", messages=[{"role": "user", "content": "hi"}]
        )
    assert reply.choices[0].message.content == "echo: hi"
    [exchange] = [r for r in fake.requests if r.path == "/copilot_internal/v2/token"]
    assert exchange.headers["Authorization"] == f"token {HOME}"
    reasons = {s.cooldown_reason for s in app[GATEWAY].resilience.state.accounts().values()}
    assert QUOTA_REASON in reasons
