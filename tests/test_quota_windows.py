"""Quota windows of subscription accounts: the watcher reads each OAuth connection's windows,
a connection whose window is at or above ``quotaThreshold`` rests until the window resets (and
is used again after), a 429 reads the windows again at once, and the snapshots are shown in
``/api/providers`` and ``/api/monitoring/health``.

The provider is a test subscription provider (static-token mode) whose upstream serves chat and
a scripted quota endpoint per access token.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import web

from omniroute import ModelInfo, hookimpl
from omniroute.accounts import connections
from omniroute.appkeys import GATEWAY, SECRETS, STORE
from omniroute.errors import ErrorKind, UpstreamError
from omniroute.oauth import OAuthCredentials, OAuthProvider, QuotaWindow
from omniroute.oauth.quota import QUOTA_REASON, QuotaWatcher, over_threshold, watcher_of
from omniroute.plugins import get_plugin_manager
from omniroute.reload import reload_index
from tests.conftest import Gateway, GatewayFactory

pytestmark = pytest.mark.timeout(20)

HELLO = [{"role": "user", "content": "hello"}]


class QuotaUpstream:
    """Chat (OpenAI format) and ``GET /v1/quota`` for Bearer tokens it knows; ``windows`` is
    what the quota endpoint answers per token, ``fail_next`` the tokens whose next chat call
    gets a 429 without a reset hint."""

    def __init__(self) -> None:
        self.windows: dict[str, list[dict[str, Any]]] = {}
        self.quota_reads: list[str] = []
        self.quota_status = 200
        self.fail_next: set[str] = set()
        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", self.chat)
        self.app.router.add_get("/v1/quota", self.quota)

    def token(self, request: web.Request) -> str:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.windows:
            raise web.HTTPUnauthorized(text='{"error": {"message": "bad token"}}')
        return token

    async def quota(self, request: web.Request) -> web.Response:
        token = self.token(request)
        self.quota_reads.append(token)
        if self.quota_status != 200:
            body = {"error": {"message": "quota service down"}}
            return web.json_response(body, status=self.quota_status)
        return web.json_response({"windows": self.windows[token]})

    async def chat(self, request: web.Request) -> web.Response:
        token = self.token(request)
        if token in self.fail_next:
            self.fail_next.discard(token)
            body = {"error": {"message": "rate limited", "type": "rate_limit_error"}}
            return web.json_response(body, status=429)
        body = await request.json()
        message = {"role": "assistant", "content": f"from {token}"}
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )


class QuotaProvider(OAuthProvider):
    """A subscription provider whose windows come from ``{base}/quota``."""

    async def quota(self, session: Any, creds: OAuthCredentials) -> list[QuotaWindow]:
        headers = {"Authorization": f"Bearer {creds.access_token}"}
        async with session.get(self.base_url + "/quota", headers=headers) as resp:
            if resp.status >= 400:
                raise UpstreamError(ErrorKind.UPSTREAM, "quota read failed", status=resp.status)
            data = await resp.json()
        return [
            QuotaWindow(w["name"], w["used"], w.get("resets_at"), w.get("model"))
            for w in data["windows"]
        ]


class QuotaPlugin:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @hookimpl
    def register_providers(self, register: Any) -> None:
        register(
            QuotaProvider(
                id="qt",
                name="Quota test",
                base_url=self.base_url,
                models=(ModelInfo("sub-model"),),
                format="openai",
                auth_flow="qt-login",
            )
        )


@pytest.fixture
async def setup(make_gateway: GatewayFactory, aiohttp_server: Any):
    upstream = QuotaUpstream()
    server = await aiohttp_server(upstream.app)
    pm = get_plugin_manager()
    pm.register(QuotaPlugin(str(server.make_url("/v1"))), name="quota-test")
    gw = await make_gateway(pm)
    return upstream, gw


async def add(gw: Gateway, upstream: QuotaUpstream, token: str, priority: int) -> str:
    """A connection holding ``token`` (as a login stores it), with a quiet window."""
    upstream.windows[token] = [{"name": "five_hour", "used": 10.0, "resets_at": None}]
    creds = OAuthCredentials(access_token=token, refresh_token=f"r-{token}")
    fields = connections.ConnectionCreate(provider="qt", name=token, priority=priority)
    app = gw.app
    row = await app[STORE].call(
        lambda db: connections.insert(db, app[SECRETS].vault, fields, creds.to_secret())
    )
    await reload_index(app)
    return str(row["id"])


def watcher(gw: Gateway) -> QuotaWatcher:
    found = watcher_of(gw.app)
    assert found is not None
    return found


async def ask(gw: Gateway) -> str:
    async with gw.openai(timeout=10) as client:
        reply = await client.chat.completions.create(model="qt/sub-model", messages=HELLO)
    return reply.choices[0].message.content or ""


def window(used: float, resets_in: float | None, **extra: Any) -> list[dict[str, Any]]:
    resets_at = time.time() + resets_in if resets_in is not None else None
    return [{"name": "five_hour", "used": used, "resets_at": resets_at, **extra}]


async def test_a_connection_over_the_threshold_is_skipped_until_its_window_resets(setup):
    upstream, gw = setup
    await add(gw, upstream, "tok-a", priority=0)
    await add(gw, upstream, "tok-b", priority=1)
    assert await ask(gw) == "from tok-a"
    upstream.windows["tok-a"] = window(97.0, resets_in=0.6)
    await watcher(gw).refresh_all()
    assert await ask(gw) == "from tok-b"
    await asyncio.sleep(0.7)  # the window reset
    assert await ask(gw) == "from tok-a"


async def test_a_window_back_under_the_threshold_ends_the_rest_at_the_next_read(setup):
    upstream, gw = setup
    await add(gw, upstream, "tok-a", priority=0)
    await add(gw, upstream, "tok-b", priority=1)
    upstream.windows["tok-a"] = window(100.0, resets_in=3600)
    await watcher(gw).refresh_all()
    assert await ask(gw) == "from tok-b"
    upstream.windows["tok-a"] = window(3.0, resets_in=18_000)  # reset early by the provider
    await watcher(gw).refresh_all()
    assert await ask(gw) == "from tok-a"


async def test_the_rest_lasts_until_the_reset_and_is_listed_with_its_reason(setup):
    upstream, gw = setup
    conn = await add(gw, upstream, "tok-a", priority=0)
    upstream.windows["tok-a"] = window(96.0, resets_in=3 * 86_400)  # beyond maxHintSeconds
    await watcher(gw).refresh_all()
    status, lockouts = await gw.api("GET", "/api/resilience/lockouts")
    assert status == 200
    [row] = [r for r in lockouts["lockouts"] if r["id"] == conn]
    assert row["reason"] == QUOTA_REASON
    assert 3 * 86_400 - 60 < row["secondsLeft"] <= 3 * 86_400


async def test_the_snapshot_is_shown_in_the_providers_api_and_in_health(setup):
    upstream, gw = setup
    conn = await add(gw, upstream, "tok-a", priority=0)
    upstream.windows["tok-a"] = [
        {"name": "five_hour", "used": 42.5, "resets_at": 1893456000.0},
        {"name": "seven_day", "used": 7.0, "resets_at": None},
    ]
    await watcher(gw).refresh_all()
    status, rows = await gw.api("GET", "/api/providers")
    assert status == 200
    [row] = [r for r in rows if r["id"] == conn]
    assert row["quota"] == [
        {"name": "five_hour", "usedPercent": 42.5, "resetsAt": "2030-01-01T00:00:00+00:00"},
        {"name": "seven_day", "usedPercent": 7.0, "resetsAt": None},
    ]
    assert row["quotaCheckedAt"].endswith("+00:00")
    status, one = await gw.api("GET", f"/api/providers/{conn}")
    assert status == 200 and one["quota"] == row["quota"]
    status, health = await gw.api("GET", "/api/monitoring/health")
    assert status == 200
    [entry] = health["quota"]
    assert entry["connection"] == conn and entry["provider"] == "qt"
    assert entry["windows"] == row["quota"] and entry["error"] is None


async def test_a_connection_never_read_has_no_quota_field(setup):
    upstream, gw = setup
    conn = await add(gw, upstream, "tok-a", priority=0)
    _, rows = await gw.api("GET", "/api/providers")
    assert "quota" not in next(r for r in rows if r["id"] == conn)


async def test_the_threshold_is_a_validated_routing_setting_defaulting_to_95(setup):
    _upstream, gw = setup
    status, routing = await gw.api("GET", "/api/settings/routing")
    assert status == 200 and routing["quotaThreshold"] == 95
    for bad in (101, -1, "lots"):
        status, err = await gw.api("PATCH", "/api/settings/routing", json={"quotaThreshold": bad})
        assert status == 400 and "quotaThreshold" in str(err), err
    status, routing = await gw.api("PATCH", "/api/settings/routing", json={"quotaThreshold": 99})
    assert status == 200 and routing["quotaThreshold"] == 99


async def test_a_higher_threshold_keeps_a_busy_connection_in_use(setup):
    upstream, gw = setup
    await add(gw, upstream, "tok-a", priority=0)
    await add(gw, upstream, "tok-b", priority=1)
    await gw.api("PATCH", "/api/settings/routing", json={"quotaThreshold": 99})
    upstream.windows["tok-a"] = window(97.0, resets_in=3600)
    await watcher(gw).refresh_all()
    assert await ask(gw) == "from tok-a"
    await gw.api("PATCH", "/api/settings/routing", json={"quotaThreshold": 90})
    await watcher(gw).refresh_all()
    assert await ask(gw) == "from tok-b"


async def test_a_429_reads_the_windows_again_and_rests_the_connection_until_the_reset(setup):
    upstream, gw = setup
    conn = await add(gw, upstream, "tok-a", priority=0)
    await add(gw, upstream, "tok-b", priority=1)
    await watcher(gw).refresh_all()
    reads = len(upstream.quota_reads)
    upstream.fail_next.add("tok-a")
    upstream.windows["tok-a"] = window(100.0, resets_in=2 * 3600)  # longer than maxHintSeconds
    watcher(gw).snapshots[conn].checked_at -= 60  # not read within the last few seconds
    assert await ask(gw) == "from tok-b"
    await watcher(gw).wait_idle()
    assert len(upstream.quota_reads) == reads + 1
    state = gw.app[GATEWAY].resilience.state.account(conn)
    left = state.cooldown_until - gw.app[GATEWAY].resilience.clock()
    assert state.cooldown_reason == QUOTA_REASON and 2 * 3600 - 60 < left <= 2 * 3600


async def test_a_window_of_one_model_does_not_rest_the_connection(setup):
    upstream, gw = setup
    await add(gw, upstream, "tok-a", priority=0)
    await add(gw, upstream, "tok-b", priority=1)
    upstream.windows["tok-a"] = [
        {"name": "seven_day_opus", "used": 100.0, "resets_at": time.time() + 3600, "model": "opus"}
    ]
    await watcher(gw).refresh_all()
    assert await ask(gw) == "from tok-a"
    _, rows = await gw.api("GET", "/api/providers")
    assert rows[0]["quota"][0]["model"] == "opus"


async def test_a_failed_read_keeps_the_last_windows_and_says_why(setup):
    upstream, gw = setup
    conn = await add(gw, upstream, "tok-a", priority=0)
    upstream.windows["tok-a"] = window(50.0, resets_in=None)
    await watcher(gw).refresh_all()
    upstream.quota_status = 503
    await watcher(gw).refresh_all()
    _, rows = await gw.api("GET", "/api/providers")
    [row] = [r for r in rows if r["id"] == conn]
    assert row["quota"][0]["usedPercent"] == 50.0 and row["quotaError"] == "quota read failed"


async def test_the_watcher_reads_in_the_background_every_interval(
    make_gateway: GatewayFactory, aiohttp_server: Any
):
    upstream = QuotaUpstream()
    server = await aiohttp_server(upstream.app)
    pm = get_plugin_manager()
    pm.register(QuotaPlugin(str(server.make_url("/v1"))), name="quota-test")
    gw = await make_gateway(pm, quota_refresh_seconds=0.05)
    await add(gw, upstream, "tok-a", priority=0)
    for _ in range(200):
        if len(upstream.quota_reads) >= 2:
            break
        await asyncio.sleep(0.02)
    assert upstream.quota_reads[:2] == ["tok-a", "tok-a"]


def test_the_spent_window_is_the_connection_wide_one_resetting_last():
    now = 1000.0
    windows = [
        QuotaWindow("five_hour", 99.0, now + 60),
        QuotaWindow("seven_day", 96.0, now + 6000),
        QuotaWindow("seven_day_opus", 100.0, now + 9000, model="opus"),
        QuotaWindow("old", 100.0, now - 1),
    ]
    spent = over_threshold(windows, 95.0, now)
    assert spent is not None and spent.name == "seven_day"
    assert over_threshold(windows, 99.5, now) is None
