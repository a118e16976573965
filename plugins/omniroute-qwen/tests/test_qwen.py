"""omniroute-qwen: ``qw/`` answers official-SDK requests through the gateway in static-token mode,
each account at the API shard its login named (``resource_url``), with DashScope's headers.

:class:`FakeQwenShard` is the OpenAI fake as one Qwen shard: it accepts only the tokens issued
for it (a token of another shard is a 401, as on the real service) and refuses a request without
``X-DashScope-AuthType: qwen-oauth``.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp
import importlib_metadata
import pytest
from aiohttp import web
from omniroute_qwen import QwenConfig, QwenProvider, qwen_base_url
from openai import AsyncOpenAI

from omniroute.accounts import connections
from omniroute.app import create_app
from omniroute.appkeys import SECRETS, STORE
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.reload import reload_index
from omniroute.settings import Settings
from omniroute.testing import FakeOpenAIUpstream
from omniroute.testing.fake_oauth import FakeOAuthServer
from omniroute.testing.fake_openai import ApiError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
HELLO = [{"role": "user", "content": "hi"}]


class FakeQwenShard(FakeOpenAIUpstream):
    """One Qwen API shard: its own tokens only, DashScope's OAuth header required."""

    def __init__(self, *tokens: str) -> None:
        super().__init__(api_key=None)
        self.tokens = set(tokens)

    def _check_auth(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise ApiError(401, "Invalid access token or token expired", code="invalid_api_key")
        if request.headers.get("X-DashScope-AuthType") != "qwen-oauth":
            raise ApiError(400, "X-DashScope-AuthType header is required for OAuth access")


@pytest.fixture
def pm(monkeypatch):
    monkeypatch.syspath_prepend(str(PACKAGE_DIR))
    ep = importlib_metadata.EntryPoint(
        name="omniroute-qwen", value="omniroute_qwen", group="omniroute"
    )
    return get_plugin_manager(entry_points=[ep])


@pytest.fixture
async def gateway(pm, tmp_path, aiohttp_server, monkeypatch):
    # Nothing may reach the real service, not even a refresh attempt.
    monkeypatch.setenv("OMNIROUTE_QWEN_TOKEN_URL", "http://127.0.0.1:9/token")
    monkeypatch.setenv("OMNIROUTE_QWEN_DEVICE_URL", "http://127.0.0.1:9/device")
    settings = Settings(
        data_dir=tmp_path,
        initial_password="qwen-test-password",
        ledger_flush_seconds=0.01,
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    return await aiohttp_server(create_app(settings, pm))


async def shard(aiohttp_server, *tokens: str) -> tuple[FakeQwenShard, str]:
    fake = FakeQwenShard(*tokens)
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("")).rstrip("/")


async def add_connection(
    server, token: str, resource_url: str | None, name: str, priority: int = 0
) -> None:
    """Store a connection as the device-code login does."""
    from omniroute.oauth.credentials import OAuthCredentials

    extra = {"resource_url": resource_url} if resource_url else {}
    secret = OAuthCredentials(access_token=token, extra=extra)
    app = server.app
    fields = connections.ConnectionCreate(provider="qwen", name=name, priority=priority)
    vault = app[SECRETS].vault
    await app[STORE].call(lambda db: connections.insert(db, vault, fields, secret.to_secret()))
    await reload_index(app)


@pytest.fixture
async def sdk(gateway):
    """The official OpenAI SDK pointed at the gateway."""
    url = str(gateway.make_url("/v1"))
    async with AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=10) as client:
        yield client


async def test_each_account_is_served_by_its_own_shard(gateway, aiohttp_server, sdk):
    east, east_url = await shard(aiohttp_server, "tok-east")
    west, west_url = await shard(aiohttp_server, "tok-west")
    await add_connection(gateway, "tok-east", east_url, "east")  # no /v1: appended
    await add_connection(gateway, "tok-west", west_url + "/v1", "west", priority=1)
    for _ in range(2):
        reply = await sdk.chat.completions.create(model="qw/qwen3-coder-plus", messages=HELLO)
        assert reply.choices[0].message.content == "echo: hi"
    # fill-first: the first account serves both; the second is reachable on its own shard.
    assert [r.path for r in east.requests] == ["/v1/chat/completions"] * 2
    sent = east.requests[0]
    assert sent.headers["Authorization"] == "Bearer tok-east"
    assert sent.headers["X-DashScope-AuthType"] == "qwen-oauth"
    assert sent.headers["X-DashScope-CacheControl"] == "enable"
    assert sent.json["model"] == "qwen3-coder-plus"
    east.tokens.clear()  # east's token now refused: the request fails over to west's shard
    reply = await sdk.chat.completions.create(model="qw/qwen3-coder-flash", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    assert west.requests[-1].headers["Authorization"] == "Bearer tok-west"


async def test_a_stream_reaches_the_shard(gateway, aiohttp_server, sdk):
    fake, url = await shard(aiohttp_server, "tok-1")
    await add_connection(gateway, "tok-1", url, "main")
    stream = await sdk.chat.completions.create(
        model="qw/qwen3-coder-flash", messages=HELLO, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hi"
    assert fake.requests[-1].json["stream"] is True


def test_resource_url_becomes_an_https_v1_base():
    default = "https://portal.qwen.ai/v1"
    assert qwen_base_url("portal.qwen.ai", default) == "https://portal.qwen.ai/v1"
    assert qwen_base_url("dashscope.aliyuncs.com/compatible-mode", default) == (
        "https://dashscope.aliyuncs.com/compatible-mode/v1"
    )
    assert qwen_base_url("https://x.example/v1/", default) == "https://x.example/v1"
    assert qwen_base_url(None, default) == default
    assert qwen_base_url("", default) == default


def test_the_provider_and_its_endpoints_come_from_the_environment(pm, monkeypatch):
    monkeypatch.setenv("OMNIROUTE_QWEN_BASE_URL", "http://relay.example/qwen/v1")
    monkeypatch.setenv("OMNIROUTE_QWEN_DEVICE_URL", "http://auth.example/device")
    provider = build_registry(pm).providers["qwen"]
    assert isinstance(provider, QwenProvider)
    assert provider.prefix == "qw" and provider.auth_flow == "qwen"
    assert {m.id for m in provider.models} == {"qwen3-coder-plus", "qwen3-coder-flash"}
    assert provider.base_url == "http://relay.example/qwen/v1"
    assert provider.config.device_url == "http://auth.example/device"
    defaults = QwenConfig.from_env({})
    assert defaults.token_url == "https://chat.qwen.ai/api/v1/oauth2/token"
    assert defaults.client_id == "f0304373b74a44d2b584a3fb70ca9e56"


async def test_a_device_login_with_pkce_keeps_the_shard_and_answers(
    pm, tmp_path, aiohttp_server, monkeypatch
):
    shard_fake = FakeQwenShard()
    shard_url = str((await aiohttp_server(shard_fake.app)).make_url("")).rstrip("/")
    oauth = FakeOAuthServer(
        client_id="f0304373b74a44d2b584a3fb70ca9e56",
        device_pkce=True,
        token_extra={"resource_url": shard_url},
    )
    oauth_base = str((await aiohttp_server(oauth.app)).make_url("")).rstrip("/")
    monkeypatch.setenv("OMNIROUTE_QWEN_DEVICE_URL", oauth.device_url(oauth_base))
    monkeypatch.setenv("OMNIROUTE_QWEN_TOKEN_URL", oauth.token_url(oauth_base))
    settings = Settings(data_dir=tmp_path, initial_password="pw-qwen-1", read_timeout=5.0)
    server = await aiohttp_server(create_app(settings, pm))
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
        await admin.post(base + "/api/auth/login", json={"password": "pw-qwen-1"})
        async with admin.post(base + "/api/oauth/qw/device-code", json={}) as resp:
            assert resp.status == 200, await resp.text()
            started = await resp.json()
        oauth.approve(started["userCode"])
        async with admin.post(base + "/api/oauth/qw/poll", json=started) as resp:
            assert resp.status in (200, 201), await resp.text()
    shard_fake.tokens.update(oauth.tokens)  # the shard accepts what the login issued
    url = str(server.make_url("/v1"))
    async with AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=10) as sdk:
        reply = await sdk.chat.completions.create(model="qw/qwen3-coder-plus", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    assert shard_fake.requests[-1].path == "/v1/chat/completions"
