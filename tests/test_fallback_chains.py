"""Global fallback chains: the API, and where a model goes when its own targets are exhausted."""

from __future__ import annotations

import openai
import pytest

from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import UPSTREAM_KEY

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def two_providers(gateway, aiohttp_server):
    """``openai`` and ``groq``, each a fake upstream with one connection."""
    fakes = {}
    for provider in ("openai", "groq"):
        fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        await gateway.connect(str(server.make_url("/v1")), provider=provider)
        fakes[provider] = fake
    return fakes


async def add_chain(gateway, model, fallbacks, expect=201):
    status, data = await gateway.api(
        "POST", "/api/fallback/chains", json={"model": model, "fallbacks": fallbacks}
    )
    assert status == expect, data
    return data


async def test_chains_are_created_listed_replaced_and_deleted(gateway):
    created = await add_chain(gateway, "openai/*", ["groq/llama"])
    assert created["model"] == "openai/*" and created["fallbacks"] == ["groq/llama"]
    replaced = await add_chain(gateway, "OPENAI/*", ["groq/mixtral"], expect=200)
    assert replaced["id"] == created["id"] and replaced["fallbacks"] == ["groq/mixtral"]
    status, listed = await gateway.api("GET", "/api/fallback/chains")
    assert status == 200 and [c["id"] for c in listed] == [created["id"]]
    status, _ = await gateway.api("DELETE", f"/api/fallback/chains/{created['id']}")
    assert status == 200
    assert (await gateway.api("GET", "/api/fallback/chains"))[1] == []
    assert (await gateway.api("DELETE", f"/api/fallback/chains/{created['id']}"))[0] == 404


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "openai/*", "fallbacks": []}, "fallbacks"),
        ({"model": "openai/*"}, "fallbacks"),
        ({"model": "a b", "fallbacks": ["groq/x"]}, "model"),
        ({"model": "x", "fallbacks": ["nosuch/x"]}, "fallbacks.0"),
        ({"model": "x", "fallbacks": ["groq/x", "no-combo"]}, "fallbacks.1"),
        ({"model": "x", "fallbacks": ["groq/x", "GROQ/x"]}, "fallbacks"),
    ],
)
async def test_bad_chains_are_refused_naming_the_field(gateway, body, param):
    status, data = await gateway.api("POST", "/api/fallback/chains", json=body)
    assert status == 400, data
    assert data["error"]["param"] == param


async def test_the_chain_serves_when_the_models_own_targets_fail(gateway, two_providers):
    await add_chain(gateway, "openai/*", ["groq/llama"])
    two_providers["openai"].enqueue(Reply.error(503, "overloaded"))
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="openai/gpt-5", messages=HI
    )
    assert raw.headers["x-omniroute-provider"] == "groq"
    assert raw.headers["x-omniroute-fallback-attempts"] == "1"
    assert two_providers["groq"].last_request.json["model"] == "llama"


async def test_the_chain_is_not_used_while_the_model_answers(gateway, two_providers):
    await add_chain(gateway, "openai/*", ["groq/llama"])
    await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=HI)
    assert not two_providers["groq"].requests


async def test_a_chain_follows_a_combo_and_may_name_another_combo(gateway, two_providers):
    payload = {"name": "primary", "models": ["openai/gpt-5"]}
    await gateway.api("POST", "/api/combos", json=payload)
    await gateway.api("POST", "/api/combos", json={"name": "backup", "models": ["groq/llama"]})
    await add_chain(gateway, "primary", ["backup"])
    two_providers["openai"].enqueue(Reply.error(429, "slow down"))
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="primary", messages=HI
    )
    assert raw.headers["x-omniroute-combo"] == "primary"
    assert raw.headers["x-omniroute-provider"] == "groq"
    status, data = await gateway.api("DELETE", "/api/combos/backup")
    assert status == 409 and "fallback chain" in data["error"]["message"]


async def test_a_bare_model_matches_the_chain_of_its_prefixed_name(gateway, two_providers):
    await add_chain(gateway, "openai/gpt-5*", ["groq/llama"])
    two_providers["openai"].enqueue(Reply.error(500, "boom"))
    await gateway.openai().chat.completions.create(model="gpt-5", messages=HI)
    assert two_providers["groq"].last_request.json["model"] == "llama"


async def test_a_request_error_does_not_reach_the_chain(gateway, two_providers):
    await add_chain(gateway, "openai/*", ["groq/llama"])
    two_providers["openai"].enqueue(Reply.error(400, "Invalid 'messages'", param="messages"))
    with pytest.raises(openai.BadRequestError):
        await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=HI)
    assert not two_providers["groq"].requests


async def test_a_context_length_error_moves_on_to_the_next_target(gateway, two_providers):
    await add_chain(gateway, "openai/*", ["groq/llama"])
    two_providers["openai"].enqueue(
        Reply.error(
            400,
            "This model's maximum context length is 8192 tokens.",
            code="context_length_exceeded",
        )
    )
    reply = await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=HI)
    assert reply.choices[0].message.content == "echo: hi"
    assert len(two_providers["groq"].requests) == 1


async def test_when_everything_fails_the_most_informative_error_is_reported(gateway, two_providers):
    await add_chain(gateway, "openai/*", ["groq/llama"])
    two_providers["openai"].enqueue(Reply.error(429, "slow down", headers={"retry-after": "7"}))
    two_providers["groq"].enqueue(Reply.error(503, "overloaded"))
    status, data, resp = await gateway.post(
        "/v1/chat/completions", json={"model": "openai/gpt-5", "messages": HI}
    )
    assert status == 429
    assert resp.headers["Retry-After"] == "7"
    message = data["error"]["message"]
    assert "all 2 targets of 'openai/gpt-5' and its fallbacks failed" in message
    assert "openai/gpt-5: slow down" in message
    assert resp.headers["X-OmniRoute-Fallback-Attempts"] == "2"
