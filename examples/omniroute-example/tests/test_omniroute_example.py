"""Tests for omniroute-example: the plugin loads through its entry point, a request for
``ex/<model>`` reaches an OpenAI-compatible upstream with the Example AI header, and a spent
balance moves the request to the next account.

The upstream is ``omniroute.testing.FakeOpenAIUpstream``: a real local HTTP server speaking
OpenAI's wire format, so nothing of the gateway or the plugin is mocked.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import importlib_metadata
import pytest

from omniroute import Connection, ErrorKind, Provider, Secret
from omniroute.app import create_app
from omniroute.plugins import get_plugin_manager
from omniroute.settings import Settings
from omniroute.testing import FakeOpenAIUpstream, Reply

PACKAGE_DIR = Path(__file__).resolve().parents[1]
UPSTREAM_KEY = "sk-example-upstream-0001"
PASSWORD = "example-test-password"


@pytest.fixture
def pm(monkeypatch):
    """A plugin manager loading the plugin through the entry point pyproject.toml declares,
    whether or not the package is installed."""
    monkeypatch.syspath_prepend(str(PACKAGE_DIR))
    ep = importlib_metadata.EntryPoint(
        name="omniroute-example", value="omniroute_example", group="omniroute"
    )
    return get_plugin_manager(entry_points=[ep])


@pytest.fixture
def provider(pm) -> Provider:
    """The provider object the plugin registers."""
    registered: list[Provider] = []
    importlib.import_module("omniroute_example").register_providers(register=registered.append)
    (example,) = registered
    return example


@pytest.fixture
def fake():
    return FakeOpenAIUpstream(api_key=UPSTREAM_KEY)


@pytest.fixture
async def upstream(fake, aiohttp_server) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("/v1"))


@pytest.fixture
async def gateway(pm, tmp_path, aiohttp_client):
    """A gateway with the plugin loaded and an admin session."""
    settings = Settings(data_dir=tmp_path, initial_password=PASSWORD, ledger_flush_seconds=0.01)
    client = await aiohttp_client(create_app(settings, pm))
    assert (await client.post("/api/auth/login", json={"password": PASSWORD})).status == 200
    return client


async def add_account(gateway, base_url: str, priority: int = 0) -> None:
    account = {"provider": "ex", "apiKey": UPSTREAM_KEY, "baseUrl": base_url, "priority": priority}
    resp = await gateway.post("/api/providers", json=account)
    assert resp.status == 201, await resp.text()


async def chat(gateway, model: str = "ex/example-chat-1"):
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return await gateway.post("/v1/chat/completions", json=body)


async def test_chat_reaches_the_upstream_with_the_example_header(gateway, upstream, fake):
    await add_account(gateway, upstream)
    resp = await chat(gateway)
    assert resp.status == 200
    assert (await resp.json())["choices"][0]["message"]["content"] == "echo: hi"
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["X-Example-Client"] == "omniroute"
    assert sent.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.json["model"] == "example-chat-1"


async def test_the_models_are_listed_under_the_prefix(gateway, upstream):
    await add_account(gateway, upstream)
    models = await (await gateway.get("/v1/models")).json()
    assert {"ex/example-chat-1", "ex/example-embed-1"} <= {m["id"] for m in models["data"]}


async def test_a_spent_balance_fails_over_to_the_next_account(gateway, upstream, fake):
    await add_account(gateway, upstream, priority=1)
    await add_account(gateway, upstream, priority=2)
    fake.enqueue(Reply.error(402, "Insufficient balance"))
    resp = await chat(gateway)
    assert resp.status == 200
    assert len(fake.requests) == 2


def test_the_plugin_is_listed_with_what_it_registers(pm):
    assert pm.has_plugin("omniroute-example")
    hooks = [h.name for h in pm.get_hookcallers(pm.get_plugin("omniroute-example"))]
    assert hooks == ["register_providers"]


def test_a_402_is_a_spent_quota_and_other_errors_keep_their_kind(provider):
    body = b'{"error": {"message": "Insufficient balance"}}'
    assert provider.classify_error(402, {}, body).kind is ErrorKind.QUOTA_EXHAUSTED
    assert provider.classify_error(401, {}, body).kind is ErrorKind.AUTH
    assert provider.classify_error(400, {}, body).kind is ErrorKind.BAD_REQUEST


def test_headers_keep_the_bearer_key(provider):
    conn = Connection(id="c1", provider="example", name="main", api_key=Secret("sk-test-1234"))
    assert provider.headers(conn) == {
        "Authorization": "Bearer sk-test-1234",
        "Content-Type": "application/json",
        "X-Example-Client": "omniroute",
    }
