"""The anthropic/ provider: addressing, headers, error classification, connection check."""

from __future__ import annotations

from omniroute_claude import AnthropicProvider

from omniroute import Connection, Endpoint, ErrorKind, Secret
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.testing import FakeAnthropicUpstream

KEY = "sk-ant-api03-test-key-000000"


def provider() -> AnthropicProvider:
    registered = build_registry(get_plugin_manager()).providers["anthropic"]
    assert isinstance(registered, AnthropicProvider)
    return registered


def connection(base_url: str | None = None) -> Connection:
    return Connection("c1", "anthropic", "test", Secret(KEY), base_url=base_url)


def test_anthropic_is_registered_with_its_prefix_alias_and_format():
    anthropic = provider()
    assert (anthropic.prefix, anthropic.aliases, anthropic.format) == (
        "anthropic",
        ("claude",),
        "anthropic",
    )
    assert any(m.id == "claude-sonnet-4-5" for m in anthropic.models)


def test_messages_and_token_counts_live_under_v1():
    conn = connection("http://127.0.0.1:9")
    assert provider().url(conn, Endpoint.CHAT) == "http://127.0.0.1:9/v1/messages"
    assert provider().url(conn, Endpoint.COUNT_TOKENS) == (
        "http://127.0.0.1:9/v1/messages/count_tokens"
    )


def test_requests_carry_the_key_and_the_api_version():
    headers = provider().headers(connection())
    assert headers["x-api-key"] == KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in headers


def test_an_empty_credit_balance_is_an_exhausted_quota_not_a_bad_request():
    body = (
        b'{"type":"error","error":{"type":"invalid_request_error","message":'
        b'"Your credit balance is too low to access the Anthropic API."}}'
    )
    err = provider().classify_error(400, {}, body)
    assert err.kind is ErrorKind.QUOTA_EXHAUSTED and err.failover


def test_overload_is_an_upstream_failure_that_fails_over():
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    err = provider().classify_error(529, {}, body)
    assert err.kind is ErrorKind.UPSTREAM and err.message == "Overloaded"


async def test_check_lists_models_with_the_key(aiohttp_server, aiohttp_client):
    fake = FakeAnthropicUpstream(api_key=KEY)
    server = await aiohttp_server(fake.app)
    async with (await aiohttp_client(server)).session as session:
        result = await provider().check(session, connection(str(server.make_url("")).rstrip("/")))
    assert result.ok and result.models


async def test_check_reports_a_wrong_key(aiohttp_server, aiohttp_client):
    fake = FakeAnthropicUpstream(api_key="another-key-entirely-0000")
    server = await aiohttp_server(fake.app)
    async with (await aiohttp_client(server)).session as session:
        result = await provider().check(session, connection(str(server.make_url("")).rstrip("/")))
    assert not result.ok and result.status == 401
