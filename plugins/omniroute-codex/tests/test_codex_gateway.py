"""``cx/`` through a real gateway, in static-token mode: connections hold OAuth credentials with
a valid access token (as a login stores them), the upstream is the fake Codex backend, which
refuses what the real one refuses (a non-streaming call, a missing ``instructions``, ``store``,
unsupported parameters, a missing account header), and the clients are the official SDKs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import importlib_metadata
import omniroute_codex
import pytest
from omniroute_codex import CodexProvider
from openai import AsyncOpenAI

from omniroute import ErrorKind
from omniroute.accounts import connections
from omniroute.app import create_app
from omniroute.appkeys import SECRETS, STORE
from omniroute.oauth.credentials import OAuthCredentials
from omniroute.plugins import get_plugin_manager
from omniroute.reload import reload_index
from omniroute.settings import Settings
from omniroute.testing.fake_codex import FakeCodexUpstream, model_at_capacity, usage_limit_reached

PASSWORD = "codex-test-password"
ACCOUNTS = {"access-token-one-0001": "acct-one", "access-token-two-0002": "acct-two"}
HI = [{"role": "user", "content": "hi there"}]


@pytest.fixture
def pm():
    ep = importlib_metadata.EntryPoint(
        name="omniroute-codex", value="omniroute_codex", group="omniroute"
    )
    return get_plugin_manager(entry_points=[ep])


@pytest.fixture
def fake() -> FakeCodexUpstream:
    return FakeCodexUpstream(accounts=ACCOUNTS)


@pytest.fixture
async def gateway(pm, fake, tmp_path, aiohttp_server, aiohttp_client, monkeypatch):
    """A gateway whose ``cx/`` provider points at the fake (through the environment, as a
    self-hosted relay would be configured)."""
    backend = await aiohttp_server(fake.app)
    monkeypatch.setenv("OMNIROUTE_CODEX_BASE_URL", str(backend.make_url("/backend-api/codex")))
    # Nothing may reach the real login service.
    monkeypatch.setenv("OMNIROUTE_CODEX_TOKEN_URL", "http://127.0.0.1:9/oauth/token")
    monkeypatch.setenv("OMNIROUTE_CODEX_AUTHORIZE_URL", "http://127.0.0.1:9/oauth/authorize")
    settings = Settings(
        data_dir=tmp_path,
        initial_password=PASSWORD,
        ledger_flush_seconds=0.01,
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    client = await aiohttp_client(create_app(settings, pm))
    assert (await client.post("/api/auth/login", json={"password": PASSWORD})).status == 200
    return client


async def add_account(gateway, token: str, priority: int = 0, name: str | None = None) -> str:
    """Store a connection as the login would: the tokens, the account id from the id_token."""
    creds = OAuthCredentials(
        access_token=token,
        refresh_token=f"refresh-{token}",
        expires_at=None,
        account_id=ACCOUNTS[token],
        extra={"chatgpt_account_id": ACCOUNTS[token]},
    )
    app = gateway.server.app
    fields = connections.ConnectionCreate(provider="codex", name=name or token, priority=priority)
    row = await app[STORE].call(
        lambda db: connections.insert(db, app[SECRETS].vault, fields, creds.to_secret())
    )
    await reload_index(app)
    return str(row["id"])


def openai_client(gateway) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=str(gateway.make_url("/v1")), api_key="none", max_retries=0, timeout=10
    )


def sent(fake: FakeCodexUpstream) -> list[Any]:
    return [r for r in fake.requests if r.path == "/backend-api/codex/responses"]


async def ledger_rows(gateway) -> list[dict[str, Any]]:
    for _ in range(100):
        page = await (await gateway.get("/api/usage/history")).json()
        if page["rows"]:
            return list(page["rows"])
        await asyncio.sleep(0.02)
    raise AssertionError("no ledger row was written")


# -- the four ways in -----------------------------------------------------------------------------


async def test_a_responses_client_gets_its_json_answer_from_the_collected_stream(gateway, fake):
    await add_account(gateway, "access-token-one-0001")
    answer = await openai_client(gateway).responses.create(model="cx/gpt-5.2-codex", input="hi")
    assert answer.output_text == "echo: hi"
    assert answer.usage is not None and answer.usage.output_tokens > 0
    [request] = sent(fake)
    assert request.json["stream"] is True and request.json["store"] is False


async def test_a_streaming_responses_client_gets_the_stream(gateway, fake):
    await add_account(gateway, "access-token-one-0001")
    stream = await openai_client(gateway).responses.create(
        model="cx/gpt-5.2-codex", input="hi", stream=True
    )
    events = [event async for event in stream]
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "echo: hi"


async def test_a_chat_completions_client_gets_a_translated_answer(gateway, fake):
    await add_account(gateway, "access-token-one-0001")
    reply = await openai_client(gateway).chat.completions.create(
        model="cx/gpt-5.2", messages=[{"role": "system", "content": "be brief"}, *HI]
    )
    assert reply.choices[0].message.content == "echo: hi there"
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    [request] = sent(fake)
    assert request.json["instructions"] == "be brief"


async def test_a_streaming_chat_completions_client_gets_a_translated_stream(gateway, fake):
    await add_account(gateway, "access-token-one-0001")
    stream = await openai_client(gateway).chat.completions.create(
        model="cx/gpt-5.2", messages=HI, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hi there"


async def test_an_anthropic_client_is_served_too(gateway, fake):
    await add_account(gateway, "access-token-one-0001")
    client = anthropic.AsyncAnthropic(
        base_url=str(gateway.make_url("")), api_key="none", max_retries=0, timeout=10
    )
    message = await client.messages.create(model="cx/gpt-5.2", max_tokens=64, messages=HI)
    assert message.content[0].type == "text" and message.content[0].text == "echo: hi there"


# -- what the backend sees ------------------------------------------------------------------------


async def test_the_backend_gets_the_token_the_account_and_a_conforming_body(gateway, fake):
    await add_account(gateway, "access-token-one-0001")
    await openai_client(gateway).responses.create(
        model="cx/gpt-5.2-codex",
        input=[{"role": "system", "content": "rules"}, {"role": "user", "content": "hi"}],
        temperature=0.3,
        max_output_tokens=500,
        prompt_cache_key="conversation-7",
    )
    [request] = sent(fake)
    assert request.headers["Authorization"] == "Bearer access-token-one-0001"
    assert request.headers["Chatgpt-Account-Id"] == "acct-one"
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Originator"] == "codex_cli_rs"
    assert request.headers["session_id"] == "conversation-7"
    body = request.json
    assert body["model"] == "gpt-5.2-codex"
    assert body["instructions"] == ""
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["input"][0]["role"] == "developer"
    assert not {"temperature", "max_output_tokens"} & set(body)


async def test_the_credentials_json_never_reaches_the_backend(gateway, fake):
    await add_account(gateway, "access-token-one-0001")
    await openai_client(gateway).responses.create(model="cx/gpt-5.2-codex", input="hi")
    [request] = sent(fake)
    assert b"refresh-access-token" not in request.body
    assert all("refresh-access-token" not in v for v in request.headers.values())


async def test_a_continued_conversation_is_refused_before_reaching_the_backend(gateway, fake):
    await add_account(gateway, "access-token-one-0001")
    resp = await gateway.post(
        "/v1/responses",
        json={"model": "cx/gpt-5.2-codex", "input": "hi", "previous_response_id": "resp_1"},
    )
    assert resp.status == 400
    assert (await resp.json())["error"]["param"] == "previous_response_id"
    assert sent(fake) == []


# -- usage and quota ------------------------------------------------------------------------------


async def test_a_collected_answer_records_its_usage_in_the_ledger(gateway, fake):
    await add_account(gateway, "access-token-one-0001")
    answer = await openai_client(gateway).responses.create(model="cx/gpt-5.2-codex", input="hi")
    assert answer.usage is not None
    [row] = await ledger_rows(gateway)
    assert row["status"] == 200 and row["provider"] == "codex"
    assert row["tokensOut"] == answer.usage.output_tokens
    assert row["costUsd"] == 0


async def test_a_spent_usage_window_moves_to_the_next_account(gateway, fake):
    await add_account(gateway, "access-token-one-0001", priority=1)
    await add_account(gateway, "access-token-two-0002", priority=2)
    fake.enqueue(usage_limit_reached(resets_in_seconds=1800))
    answer = await openai_client(gateway).responses.create(model="cx/gpt-5.2-codex", input="hi")
    assert answer.output_text == "echo: hi"
    first, second = sent(fake)
    assert first.headers["Chatgpt-Account-Id"] == "acct-one"
    assert second.headers["Chatgpt-Account-Id"] == "acct-two"
    # The spent account rests until its window resets: the next request goes straight on.
    await openai_client(gateway).responses.create(model="cx/gpt-5.2-codex", input="again")
    assert sent(fake)[-1].headers["Chatgpt-Account-Id"] == "acct-two"
    assert len(sent(fake)) == 3


async def test_a_model_at_capacity_moves_to_the_next_account(gateway, fake):
    await add_account(gateway, "access-token-one-0001", priority=1)
    await add_account(gateway, "access-token-two-0002", priority=2)
    fake.enqueue(model_at_capacity())
    reply = await openai_client(gateway).chat.completions.create(model="cx/gpt-5.2", messages=HI)
    assert reply.choices[0].message.content == "echo: hi there"
    assert len(sent(fake)) == 2


# -- the provider ---------------------------------------------------------------------------------


async def test_testing_a_connection_makes_one_small_call_with_its_token(gateway, fake):
    conn_id = await add_account(gateway, "access-token-one-0001")
    resp = await gateway.post(f"/api/providers/{conn_id}/test")
    assert resp.status == 200
    result = await resp.json()
    assert result["ok"] is True, result
    [request] = sent(fake)
    assert request.headers["Chatgpt-Account-Id"] == "acct-one"


def test_a_usage_limit_is_an_exhausted_quota_until_its_reset():
    body = (
        b'{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached",'
        b'"resets_in_seconds":1800}}'
    )
    err = CodexProvider().classify_error(429, {}, body)
    assert err.kind is ErrorKind.QUOTA_EXHAUSTED and err.retry_after == 1800


def test_a_model_at_capacity_is_a_rate_limit_of_that_model_whatever_its_status():
    body = b'{"error":{"message":"Selected model is at capacity. Please try a different model."}}'
    err = CodexProvider().classify_error(500, {}, body)
    assert err.kind is ErrorKind.RATE_LIMITED
    assert err.model_scoped  # the account's other models stay in use


def test_the_backends_detail_bodies_give_the_message():
    err = CodexProvider().classify_error(400, {}, b'{"detail":"Store must be set to false"}')
    assert err.kind is ErrorKind.BAD_REQUEST and err.message == "Store must be set to false"


def test_the_provider_streams_upstream_and_is_billed_by_subscription():
    provider = CodexProvider()
    assert provider.prefix == "cx" and provider.format == "responses"
    assert provider.upstream_streams is True and provider.billing == "subscription"
    ids = {m.id for m in provider.models}
    assert ids == {"gpt-5.2-codex", "gpt-5.2", "gpt-5.1-codex-max", "gpt-5.1-codex-mini"}


def test_the_plugin_is_loaded_through_its_entry_point(pm):
    assert pm.has_plugin("omniroute-codex")
    assert pm.get_plugin("omniroute-codex") is omniroute_codex
