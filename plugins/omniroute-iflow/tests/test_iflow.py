"""omniroute-iflow: ``if/`` answers official-SDK requests through the gateway in static-token mode
with the account's API key and a valid request signature; the login's post-step fetches that key.

:class:`FakeIFlow` is the OpenAI fake with iFlow's checks: the Bearer value must be the account's
API key (not the OAuth token), and ``x-iflow-signature`` must be the HMAC of
``iFlow-Cli:<session-id>:<x-iflow-timestamp>`` under that key, with a recent timestamp. It also
serves ``getUserInfo``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import importlib_metadata
import pytest
from aiohttp import web
from omniroute_iflow import IFlowConfig, IFlowProvider, fetch_api_key, sign
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
API_KEY = "sk-iflow-" + "k" * 24
ACCESS = "iflow-access-token-0001"
HELLO = [{"role": "user", "content": "hi"}]


class FakeIFlow(FakeOpenAIUpstream):
    """iFlow's model API (signed requests, API key only) plus ``getUserInfo``."""

    def __init__(self, api_key: str, access_token: str | Callable[[str], bool]) -> None:
        super().__init__(api_key=api_key)
        self.is_access_token = (
            access_token if callable(access_token) else lambda token: token == access_token
        )

    def _setup_app(self, app: web.Application) -> None:
        app.router.add_get("/api/oauth/getUserInfo", self._user_info)
        super()._setup_app(app)

    async def _user_info(self, request: web.Request) -> web.Response:
        if not self.is_access_token(request.query.get("accessToken", "")):
            return web.json_response({"success": False, "message": "invalid token"})
        data = {"apiKey": self.api_key, "email": "user@example.com", "phone": "138****0000"}
        return web.json_response({"success": True, "data": data})

    def _check_auth(self, request: web.Request) -> None:
        super()._check_auth(request)  # Bearer must be the API key
        session_id = request.headers.get("session-id", "")
        timestamp = request.headers.get("x-iflow-timestamp", "")
        signature = request.headers.get("x-iflow-signature", "")
        if not session_id or not timestamp.isdigit():
            raise ApiError(401, "missing iFlow signature headers")
        if abs(time.time() * 1000 - int(timestamp)) > 5 * 60 * 1000:
            raise ApiError(401, "request timestamp expired")
        message = f"iFlow-Cli:{session_id}:{timestamp}".encode()
        expected = hmac.new(str(self.api_key).encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            raise ApiError(401, "invalid signature")


@pytest.fixture
def pm(monkeypatch):
    monkeypatch.syspath_prepend(str(PACKAGE_DIR))
    ep = importlib_metadata.EntryPoint(
        name="omniroute-iflow", value="omniroute_iflow", group="omniroute"
    )
    return get_plugin_manager(entry_points=[ep])


@pytest.fixture
def fake() -> FakeIFlow:
    return FakeIFlow(API_KEY, ACCESS)


@pytest.fixture
async def fake_url(fake, aiohttp_server) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def gateway(pm, tmp_path, aiohttp_server, monkeypatch, fake_url):
    monkeypatch.setenv("OMNIROUTE_IFLOW_BASE_URL", fake_url + "/v1")
    # Nothing may reach the real service, not even a refresh attempt.
    monkeypatch.setenv("OMNIROUTE_IFLOW_TOKEN_URL", "http://127.0.0.1:9/token")
    settings = Settings(
        data_dir=tmp_path,
        initial_password="iflow-test-password",
        ledger_flush_seconds=0.01,
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    return await aiohttp_server(create_app(settings, pm))


async def add_connection(
    server, api_key: str = API_KEY, name: str = "main", priority: int = 0
) -> None:
    """Store a connection as the login does: the OAuth tokens plus the fetched API key."""
    from omniroute.oauth.credentials import OAuthCredentials

    creds = OAuthCredentials(access_token=ACCESS, extra={"api_key": api_key})
    app = server.app
    fields = connections.ConnectionCreate(provider="iflow", name=name, priority=priority)
    vault = app[SECRETS].vault
    await app[STORE].call(lambda db: connections.insert(db, vault, fields, creds.to_secret()))
    await reload_index(app)


@pytest.fixture
async def sdk(gateway):
    """The official OpenAI SDK pointed at the gateway."""
    url = str(gateway.make_url("/v1"))
    async with AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=10) as client:
        yield client


async def test_a_chat_is_signed_with_the_api_key(gateway, fake, sdk):
    await add_connection(gateway)
    reply = await sdk.chat.completions.create(model="if/kimi-k2-thinking", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    sent = fake.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["User-Agent"] == "iFlow-Cli"
    assert sent.headers["session-id"].startswith("session-")
    assert sent.json["model"] == "kimi-k2-thinking"


async def test_a_stream_is_signed_too(gateway, fake, sdk):
    await add_connection(gateway)
    stream = await sdk.chat.completions.create(
        model="if/deepseek-v3.2", messages=HELLO, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hi"


async def test_a_wrong_key_fails_over_to_the_next_account(gateway, fake, sdk):
    await add_connection(gateway, api_key="sk-iflow-stale-key-000000", name="stale")
    await add_connection(gateway, name="good", priority=1)
    reply = await sdk.chat.completions.create(model="if/qwen3-coder-plus", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    assert [r.headers["Authorization"] for r in fake.requests] == [
        "Bearer sk-iflow-stale-key-000000",
        f"Bearer {API_KEY}",
    ]


async def test_the_fake_refuses_a_bad_signature(fake, fake_url):
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "session-id": "session-1",
        "x-iflow-timestamp": str(int(time.time() * 1000)),
        "x-iflow-signature": sign("another-key", "session-1", "0"),
    }
    body = {"model": "kimi-k2-thinking", "messages": HELLO}
    async with (
        aiohttp.ClientSession() as session,
        session.post(fake_url + "/v1/chat/completions", json=body, headers=headers) as resp,
    ):
        assert resp.status == 401


async def test_the_login_post_step_fetches_the_api_key(fake, fake_url):
    from omniroute.oauth.credentials import OAuthCredentials

    creds = OAuthCredentials(access_token=ACCESS, refresh_token="r1")
    async with aiohttp.ClientSession() as session:
        updated = await fetch_api_key(session, creds, fake_url + "/api/oauth/getUserInfo")
        assert updated.extra["api_key"] == API_KEY
        assert updated.email == "user@example.com"
        assert updated.refresh_token == "r1"
        with pytest.raises(ValueError):
            stale = OAuthCredentials(access_token="wrong")
            await fetch_api_key(session, stale, fake_url + "/api/oauth/getUserInfo")


def test_the_signature_is_the_documented_hmac():
    expected = hmac.new(b"key", b"iFlow-Cli:session-x:1700000000000", hashlib.sha256).hexdigest()
    assert sign("key", "session-x", "1700000000000") == expected


def test_the_provider_and_its_endpoints_come_from_the_environment(pm, monkeypatch):
    monkeypatch.setenv("OMNIROUTE_IFLOW_CLIENT_SECRET", "test-secret")
    provider = build_registry(pm).providers["iflow"]
    assert isinstance(provider, IFlowProvider)
    assert provider.prefix == "if" and provider.auth_flow == "iflow"
    assert {m.id for m in provider.models} == {
        "kimi-k2-thinking",
        "qwen3-coder-plus",
        "deepseek-v3.2",
    }
    assert provider.config.client_secret == "test-secret"
    defaults = IFlowConfig.from_env({})
    assert defaults.base_url == "https://apis.iflow.cn/v1"
    assert defaults.client_secret == ""


async def test_a_login_fetches_the_api_key_and_the_connection_answers(
    pm, tmp_path, aiohttp_server, monkeypatch, fake, fake_url
):
    oauth = FakeOAuthServer(
        client_id="10009311001",
        client_secret="iflow-test-secret",
        redirect_param="redirect",
        require_pkce=False,
    )
    fake.is_access_token = oauth.is_valid
    oauth_base = str((await aiohttp_server(oauth.app)).make_url("")).rstrip("/")
    monkeypatch.setenv("OMNIROUTE_IFLOW_AUTHORIZE_URL", oauth.authorize_url(oauth_base))
    monkeypatch.setenv("OMNIROUTE_IFLOW_TOKEN_URL", oauth.token_url(oauth_base))
    monkeypatch.setenv("OMNIROUTE_IFLOW_CLIENT_SECRET", "iflow-test-secret")
    monkeypatch.setenv("OMNIROUTE_IFLOW_USERINFO_URL", fake_url + "/api/oauth/getUserInfo")
    monkeypatch.setenv("OMNIROUTE_IFLOW_BASE_URL", fake_url + "/v1")
    settings = Settings(data_dir=tmp_path, initial_password="pw-iflow-1", read_timeout=5.0)
    server = await aiohttp_server(create_app(settings, pm))
    base = str(server.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
        await admin.post(base + "/api/auth/login", json={"password": "pw-iflow-1"})
        async with admin.get(base + "/api/oauth/if/authorize") as resp:
            assert resp.status == 200, await resp.text()
            started = await resp.json()
        assert "loginMethod=phone" in started["url"] and "redirect=" in started["url"]
        callback = await oauth.approve_authorization(started["url"])
        exchange = {"session": started["session"], "code": callback}
        async with admin.post(base + "/api/oauth/if/exchange", json=exchange) as resp:
            assert resp.status in (200, 201), await resp.text()
    assert oauth.token_bodies[-1]["grant_type"] == "authorization_code"
    url = str(server.make_url("/v1"))
    async with AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=10) as sdk:
        reply = await sdk.chat.completions.create(model="if/kimi-k2-thinking", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {API_KEY}"
