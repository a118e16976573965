"""omniroute-copilot: ``gh/`` answers official-SDK requests through the gateway in static-token
mode (the connection's secret is the GitHub token as a login stores it), with a Copilot token
exchanged for it, cached per connection and exchanged again before it expires.

The fake is :class:`FakeCopilot`: the OpenAI fake with Copilot's token-exchange endpoint, and a
chat API that refuses a missing, unknown or expired Copilot token and a request without the
editor headers, as the real one does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import importlib_metadata
import omniroute_copilot
import pytest
from aiohttp import web
from omniroute_copilot import CopilotConfig, CopilotProvider
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
PASSWORD = "copilot-test-password"
GITHUB_TOKEN = "gho_" + "a" * 36
HELLO = [{"role": "user", "content": "hi"}]


class FakeCopilot(FakeOpenAIUpstream):
    """GitHub's Copilot token exchange and Copilot's chat API on one server.

    ``lifetime`` is how long issued Copilot tokens live; :meth:`revoke_all` makes the chat API
    refuse every token issued so far (as after a plan change). :attr:`premium` is the
    ``quota_snapshots.premium_interactions`` that ``copilot_internal/user`` reports
    (:attr:`premium_by_token` per GitHub token).
    """

    def __init__(self, github_token: str | Callable[[str], bool], *, lifetime: float = 1800):
        super().__init__(api_key=None)
        self.is_github_token = (
            github_token if callable(github_token) else lambda token: token == github_token
        )
        self.lifetime = lifetime
        self.issued: dict[str, float] = {}
        self.exchanges = 0
        self.premium: dict[str, Any] = {
            "entitlement": 300,
            "remaining": 240,
            "percent_remaining": 80.0,
            "unlimited": False,
            "overage_permitted": False,
        }
        self.premium_by_token: dict[str, dict[str, Any]] = {}
        self.quota_reset_date = "2030-02-01"

    auth_prefixes = ("/v1/", "/chat/", "/models")

    def _setup_app(self, app: web.Application) -> None:
        app.router.add_get("/copilot_internal/v2/token", self._token)
        app.router.add_get("/user", self._user)
        app.router.add_get("/copilot_internal/user", self._copilot_user)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/models", self._list_models)
        super()._setup_app(app)

    async def _token(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not self.is_github_token(token):
            body = {"message": "Bad credentials", "documentation_url": "https://docs.github.com"}
            return web.json_response(body, status=401)
        self.exchanges += 1
        value = f"tid={secrets.token_hex(8)};exp={int(time.time() + self.lifetime)};sku=free"
        self.issued[value] = time.time() + self.lifetime
        answer = {
            "token": value,
            "expires_at": int(self.issued[value]),
            "refresh_in": int(self.lifetime) - 300,
            "endpoints": {"api": str(request.url.origin())},
        }
        return web.json_response(answer)

    async def _user(self, request: web.Request) -> web.Response:
        _, _, token = request.headers.get("Authorization", "").partition(" ")
        if not self.is_github_token(token):
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response({"login": "octocat", "id": 1})

    async def _copilot_user(self, request: web.Request) -> web.Response:
        """The account's plan and quota snapshots (read with the GitHub token, like the
        token exchange)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not self.is_github_token(token):
            return web.json_response({"message": "Bad credentials"}, status=401)
        unlimited = {"unlimited": True, "percent_remaining": 100.0}
        return web.json_response(
            {
                "login": "octocat",
                "copilot_plan": "individual",
                "quota_reset_date": self.quota_reset_date,
                "quota_snapshots": {
                    "chat": unlimited,
                    "completions": unlimited,
                    "premium_interactions": self.premium_by_token.get(token, self.premium),
                },
            }
        )

    def revoke_all(self) -> None:
        self.issued.clear()

    def _check_auth(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self.issued.get(token) if scheme.lower() == "bearer" else None
        if expires is None or expires < time.time():
            raise ApiError(401, "unauthorized: token expired", code="unauthorized")
        if not request.headers.get("Editor-Version"):
            raise ApiError(400, "bad request: missing Editor-Version header for IDE auth")
        if not request.headers.get("Copilot-Integration-Id"):
            raise ApiError(400, "bad request: missing Copilot-Integration-Id header")


@pytest.fixture
def pm(monkeypatch):
    """The plugin through the entry point its pyproject declares (installed or not)."""
    monkeypatch.syspath_prepend(str(PACKAGE_DIR))
    ep = importlib_metadata.EntryPoint(
        name="omniroute-copilot", value="omniroute_copilot", group="omniroute"
    )
    return get_plugin_manager(entry_points=[ep])


@pytest.fixture
def copilot() -> FakeCopilot:
    return FakeCopilot(GITHUB_TOKEN)


@pytest.fixture
async def copilot_url(copilot, aiohttp_server) -> str:
    server = await aiohttp_server(copilot.app)
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def gateway(pm, tmp_path, aiohttp_server, monkeypatch, copilot_url):
    """A gateway with the plugin, GitHub's API pointed at the fake."""
    monkeypatch.setenv("OMNIROUTE_COPILOT_API_URL", copilot_url)
    # Nothing may reach the real service, not even a login endpoint.
    monkeypatch.setenv("OMNIROUTE_COPILOT_TOKEN_URL", "http://127.0.0.1:9/token")
    monkeypatch.setenv("OMNIROUTE_COPILOT_DEVICE_URL", "http://127.0.0.1:9/device")
    settings = Settings(
        data_dir=tmp_path,
        initial_password=PASSWORD,
        ledger_flush_seconds=0.01,
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    return await aiohttp_server(create_app(settings, pm))


async def add_connection(
    server, github_token: str = GITHUB_TOKEN, name: str = "work", priority: int = 0
) -> str:
    """Store a connection as a device-code login does: the GitHub token as OAuth credentials."""
    from omniroute.oauth.credentials import OAuthCredentials

    secret = OAuthCredentials(access_token=github_token, scope="read:user").to_secret()
    app = server.app
    fields = connections.ConnectionCreate(provider="copilot", name=name, priority=priority)
    row = await app[STORE].call(
        lambda db: connections.insert(db, app[SECRETS].vault, fields, secret)
    )
    await reload_index(app)
    return row["id"]


@pytest.fixture
async def sdk(gateway):
    """The official OpenAI SDK pointed at the gateway."""
    url = str(gateway.make_url("/v1"))
    async with AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=10) as client:
        yield client


def chats(fake: FakeCopilot) -> list[Any]:
    return [r for r in fake.requests if r.path == "/chat/completions"]


async def test_a_chat_reaches_copilot_with_an_exchanged_token_and_editor_headers(
    gateway, copilot, sdk
):
    await add_connection(gateway)
    reply = await sdk.chat.completions.create(model="gh/gpt-4.1", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    (sent,) = chats(copilot)
    assert sent.headers["Authorization"].removeprefix("Bearer ") in copilot.issued
    assert GITHUB_TOKEN not in sent.headers["Authorization"]
    assert sent.headers["Editor-Version"].startswith("vscode/")
    assert sent.headers["Copilot-Integration-Id"] == "vscode-chat"
    assert sent.headers["X-Initiator"] == "user"  # the default when the client sends none
    assert sent.json["model"] == "gpt-4.1"
    exchange = next(r for r in copilot.requests if r.path == "/copilot_internal/v2/token")
    assert exchange.headers["Authorization"] == f"token {GITHUB_TOKEN}"


async def test_the_clients_x_initiator_reaches_copilot(gateway, copilot, sdk):
    await add_connection(gateway)
    await sdk.chat.completions.create(
        model="gh/gpt-4.1", messages=HELLO, extra_headers={"X-Initiator": "agent"}
    )
    (sent,) = chats(copilot)
    assert sent.headers["X-Initiator"] == "agent"


async def test_a_stream_reaches_copilot(gateway, copilot, sdk):
    await add_connection(gateway)
    stream = await sdk.chat.completions.create(
        model="gh/claude-sonnet-4.5", messages=HELLO, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hi"
    assert chats(copilot)[0].json["stream"] is True


async def test_the_copilot_token_is_reused_while_it_is_fresh(gateway, copilot, sdk):
    await add_connection(gateway)
    for _ in range(3):
        await sdk.chat.completions.create(model="gh/gpt-4.1", messages=HELLO)
    assert copilot.exchanges == 1
    assert len({r.headers["Authorization"] for r in chats(copilot)}) == 1


async def test_a_token_close_to_expiry_is_exchanged_again_before_use(gateway, copilot, sdk):
    copilot.lifetime = 60  # inside the refresh lead: never good enough to reuse
    await add_connection(gateway)
    for _ in range(2):
        await sdk.chat.completions.create(model="gh/gpt-4.1", messages=HELLO)
    assert copilot.exchanges == 2
    first, second = (r.headers["Authorization"] for r in chats(copilot))
    assert first != second


async def test_a_refused_copilot_token_is_exchanged_again_and_the_call_retried(
    gateway, copilot, sdk
):
    await add_connection(gateway)
    await sdk.chat.completions.create(model="gh/gpt-4.1", messages=HELLO)
    copilot.revoke_all()
    reply = await sdk.chat.completions.create(model="gh/gpt-4.1", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    assert copilot.exchanges == 2
    assert len(chats(copilot)) == 3  # the refused call, then its retry


async def test_a_refused_github_token_fails_over_to_the_next_account(gateway, copilot, sdk):
    await add_connection(gateway, github_token="gho_revoked", name="old")
    await add_connection(gateway, name="work", priority=1)
    reply = await sdk.chat.completions.create(model="gh/gpt-5", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    assert len(chats(copilot)) == 1


async def test_gpt5_gets_max_completion_tokens(gateway, copilot, sdk):
    await add_connection(gateway)
    await sdk.chat.completions.create(model="gh/gpt-5", messages=HELLO, max_tokens=50)
    sent = chats(copilot)[0].json
    assert sent["max_completion_tokens"] == 50 and "max_tokens" not in sent


async def test_the_fake_refuses_chat_without_editor_headers(copilot, copilot_url):
    async with aiohttp.ClientSession() as session:
        async with session.get(
            copilot_url + "/copilot_internal/v2/token",
            headers={"Authorization": f"token {GITHUB_TOKEN}"},
        ) as resp:
            token = (await resp.json())["token"]
        body = {"model": "gpt-4.1", "messages": HELLO}
        headers = {"Authorization": f"Bearer {token}"}
        async with session.post(copilot_url + "/chat/completions", json=body, headers=headers) as r:
            assert r.status == 400
        async with session.post(copilot_url + "/chat/completions", json=body) as r:
            assert r.status == 401


def test_the_models_and_endpoints_come_from_the_environment(pm, monkeypatch):
    monkeypatch.setenv("OMNIROUTE_COPILOT_BASE_URL", "https://relay.example/copilot")
    monkeypatch.setenv("OMNIROUTE_COPILOT_CLIENT_ID", "Iv1.test")
    provider = build_registry(pm).providers["copilot"]
    assert isinstance(provider, CopilotProvider)
    assert provider.prefix == "gh"
    assert {m.id for m in provider.models} >= {
        "gpt-5",
        "gpt-4.1",
        "claude-sonnet-4.5",
        "gemini-2.5-pro",
    }
    assert provider.config.client_id == "Iv1.test"
    assert provider.base_url == "https://relay.example/copilot"
    defaults = CopilotConfig.from_env({})
    assert defaults.base_url == "https://api.githubcopilot.com"
    assert defaults.api_url == "https://api.github.com"
    assert omniroute_copilot.DEFAULTS["CLIENT_ID"] == "Iv1.b507a08c87ecfe98"


def test_headers_carry_no_credential(pm):
    provider = build_registry(pm).providers["copilot"]
    from omniroute import Connection, Secret

    conn = Connection(id="c1", provider="copilot", name="w", api_key=Secret('{"accessToken":"x"}'))
    assert not any("accessToken" in v or v == "x" for v in provider.headers(conn).values())


async def test_a_device_login_stores_a_connection_that_answers(
    pm, tmp_path, aiohttp_server, monkeypatch
):
    oauth = FakeOAuthServer(
        client_id="Iv1.b507a08c87ecfe98",
        require_pkce=False,
        issue_refresh_token=False,
        expires_in=None,
        pending_status=200,
    )
    oauth_base = str((await aiohttp_server(oauth.app)).make_url("")).rstrip("/")
    fake = FakeCopilot(oauth.is_valid)
    fake_base = str((await aiohttp_server(fake.app)).make_url("")).rstrip("/")
    monkeypatch.setenv("OMNIROUTE_COPILOT_DEVICE_URL", oauth.device_url(oauth_base))
    monkeypatch.setenv("OMNIROUTE_COPILOT_TOKEN_URL", oauth.token_url(oauth_base))
    monkeypatch.setenv("OMNIROUTE_COPILOT_API_URL", fake_base)
    settings = Settings(data_dir=tmp_path, initial_password=PASSWORD, read_timeout=5.0)
    server = await aiohttp_server(create_app(settings, pm))
    base = str(server.make_url("")).rstrip("/")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as admin:
        await admin.post(base + "/api/auth/login", json={"password": PASSWORD})
        async with admin.post(base + "/api/oauth/gh/device-code", json={}) as resp:
            assert resp.status == 200, await resp.text()
            started = await resp.json()
        async with admin.post(base + "/api/oauth/gh/poll", json=started) as resp:
            assert (await resp.json())["status"] == "pending"
        oauth.approve(started["userCode"])
        async with admin.post(base + "/api/oauth/gh/poll", json=started) as resp:
            assert resp.status in (200, 201), await resp.text()
    url = str(server.make_url("/v1"))
    async with AsyncOpenAI(base_url=url, api_key="none", max_retries=0, timeout=10) as sdk:
        reply = await sdk.chat.completions.create(model="gh/gpt-4.1", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hi"
    assert fake.exchanges == 2  # one at login (the subscription check), one for the chat
