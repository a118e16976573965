"""``cc/`` quota windows: ``/api/oauth/usage`` parsed (a ``seven_day_<family>`` window names its
model family), read by the gateway's quota watcher, and a subscription whose 5-hour window is
spent skipped until it resets, while a per-model window rests that model only."""

from __future__ import annotations

import time
from typing import Any

import importlib_metadata
import pytest
from aiohttp import web
from anthropic import AsyncAnthropic
from omniroute_claude.claude_code import parse_usage

from omniroute.accounts import connections
from omniroute.appkeys import SECRETS, STORE
from omniroute.oauth import OAuthCredentials
from omniroute.oauth.quota import QUOTA_REASON, watcher_of
from omniroute.plugins import get_plugin_manager
from omniroute.reload import reload_index
from omniroute.testing import FakeOAuthServer
from omniroute.testing.fake_claude_oauth import FakeClaudeOAuthUpstream
from tests.conftest import Gateway, GatewayFactory, make_gateway

__all__ = ["make_gateway"]  # the fixture, imported for this module's tests

pytestmark = pytest.mark.timeout(20)

CLIENT = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
HELLO = [{"role": "user", "content": "hi"}]


class PerTokenUsage(FakeClaudeOAuthUpstream):
    """The fake Claude upstream with usage windows per access token (``by_token``)."""

    def __init__(self, oauth: FakeOAuthServer) -> None:
        super().__init__(oauth)
        self.by_token: dict[str, dict[str, Any]] = {}

    async def _usage(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return web.json_response(self.by_token.get(token, self.usage))


def test_a_seven_day_window_of_a_model_family_names_the_family():
    windows = {
        w.name: w
        for w in parse_usage(
            {
                "five_hour": {"utilization": 20.0, "resets_at": None},
                "seven_day_opus": {"utilization": 100.0, "resets_at": None},
                "seven_day_oauth_apps": {"utilization": 3.0, "resets_at": None},
            }
        )
    }
    assert windows["seven_day_opus"].model == "opus"
    assert windows["five_hour"].model is None and windows["seven_day_oauth_apps"].model is None


@pytest.fixture
async def claude(make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch):
    oauth = FakeOAuthServer(client_id=CLIENT, token_format="json", paste_back=True)
    upstream = PerTokenUsage(oauth)
    async with oauth.serve() as oauth_base, upstream.serve() as upstream_base:
        monkeypatch.setenv("OMNIROUTE_CLAUDE_AUTHORIZE_URL", oauth.authorize_url(oauth_base))
        monkeypatch.setenv("OMNIROUTE_CLAUDE_TOKEN_URL", oauth.token_url(oauth_base))
        monkeypatch.setenv("OMNIROUTE_CLAUDE_BASE_URL", upstream_base)
        ep = importlib_metadata.EntryPoint(
            name="omniroute-claude", value="omniroute_claude", group="omniroute"
        )
        gw = await make_gateway(get_plugin_manager(entry_points=[ep]))
        tokens = []
        for priority in (0, 1):
            token = oauth.issue().access_token
            tokens.append(token)
            secret = OAuthCredentials(access_token=token, refresh_token=None).to_secret()
            fields = connections.ConnectionCreate(
                provider="claude-code", name=f"max-{priority}", priority=priority
            )
            await gw.app[STORE].call(
                lambda db, f=fields, s=secret: connections.insert(db, gw.app[SECRETS].vault, f, s)
            )
        await reload_index(gw.app)
        yield upstream, gw, tokens


async def ask(gw: Gateway, model: str = "cc/claude-opus-4-6") -> None:
    async with AsyncAnthropic(base_url=gw.url, api_key="no-key", max_retries=0, timeout=10) as sdk:
        await sdk.messages.create(model=model, max_tokens=16, messages=HELLO)


def spent(name: str, resets_in: float) -> dict[str, Any]:
    resets_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + resets_in))
    return {name: {"utilization": 100.0, "resets_at": resets_at}}


async def test_a_subscription_with_a_spent_five_hour_window_is_skipped(claude):
    upstream, gw, (first, second) = claude
    upstream.by_token[first] = {**upstream.usage, **spent("five_hour", 3600)}
    watcher = watcher_of(gw.app)
    assert watcher is not None
    await watcher.refresh_all()
    await ask(gw)
    assert upstream.seen_tokens[-1] == second
    _, lockouts = await gw.api("GET", "/api/resilience/lockouts")
    assert [row["reason"] for row in lockouts["lockouts"]] == [QUOTA_REASON]


async def test_a_spent_opus_window_rests_opus_only(claude):
    upstream, gw, (first, second) = claude
    upstream.by_token[first] = {**upstream.usage, **spent("seven_day_opus", 3600)}
    watcher = watcher_of(gw.app)
    assert watcher is not None
    await watcher.refresh_all()
    await ask(gw)  # opus: the other account
    assert upstream.seen_tokens[-1] == second
    await ask(gw, "cc/claude-sonnet-4-5")  # sonnet: this account is still in use
    assert upstream.seen_tokens[-1] == first
    _, rows = await gw.api("GET", "/api/providers")
    opus = [w for w in rows[0]["quota"] if w["name"] == "seven_day_opus"]
    assert opus and opus[0]["model"] == "opus" and opus[0]["usedPercent"] == 100.0
