"""Provider-scoped routes: ``/v1/providers/{provider}/...`` reaches that provider only."""

from __future__ import annotations

import pytest

from omniroute.testing import FakeAnthropicUpstream, FakeOpenAIUpstream
from tests.conftest import UPSTREAM_KEY

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def groq(gateway, aiohttp_server):
    """A fake OpenAI-compatible upstream connected as the ``groq`` provider."""
    fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
    server = await aiohttp_server(fake.app)
    await gateway.connect(str(server.make_url("/v1")), provider="groq")
    return fake


@pytest.mark.parametrize("model", ["llama-3", "groq/llama-3", "GROQ/llama-3"])
async def test_the_prefix_is_added_when_the_model_lacks_it(gateway, groq, model):
    status, data, _ = await gateway.post(
        "/v1/providers/groq/chat/completions", json={"model": model, "messages": HI}
    )
    assert status == 200, data
    assert groq.last_request.json["model"] == "llama-3"


async def test_a_model_of_another_provider_is_a_400_in_the_callers_shape(gateway, groq):
    status, data, _ = await gateway.post(
        "/v1/providers/groq/chat/completions", json={"model": "openai/gpt-5", "messages": HI}
    )
    assert status == 400
    assert data["error"]["param"] == "model" and data["error"]["code"] == "provider_mismatch"
    status, data, _ = await gateway.post(
        "/v1/providers/groq/messages",
        json={"model": "openai/gpt-5", "max_tokens": 5, "messages": HI},
    )
    assert status == 400 and data["type"] == "error"
    assert data["error"]["type"] == "invalid_request_error"
    assert not groq.requests


async def test_an_unknown_provider_is_a_404(gateway):
    status, data, _ = await gateway.post(
        "/v1/providers/nosuch/chat/completions", json={"model": "m", "messages": HI}
    )
    assert status == 404 and data["error"]["code"] == "provider_not_found"


async def test_a_combo_name_is_just_a_model_of_the_provider_there(gateway, groq):
    await gateway.api("POST", "/api/combos", json={"name": "fast", "models": ["openai/gpt-5"]})
    status, _, _ = await gateway.post(
        "/v1/providers/groq/chat/completions", json={"model": "fast", "messages": HI}
    )
    assert status == 200
    assert groq.last_request.json["model"] == "fast"


async def test_embeddings_and_images_are_scoped_too(gateway, groq):
    status, data, _ = await gateway.post(
        "/v1/providers/groq/embeddings", json={"model": "embed", "input": "hello"}
    )
    assert status == 200, data
    assert groq.last_request.path == "/v1/embeddings"
    status, data, _ = await gateway.post(
        "/v1/providers/groq/images/generations", json={"model": "img", "prompt": "a cat"}
    )
    assert status == 200, data
    assert groq.last_request.path == "/v1/images/generations"


async def test_messages_and_responses_reach_the_provider_translated(gateway, groq):
    status, data, _ = await gateway.post(
        "/v1/providers/groq/messages",
        json={"model": "llama-3", "max_tokens": 20, "messages": HI},
    )
    assert status == 200, data
    assert data["type"] == "message" and data["content"][0]["text"] == "echo: hi"
    status, data, _ = await gateway.post(
        "/v1/providers/groq/responses", json={"model": "llama-3", "input": "hi"}
    )
    assert status == 200, data
    assert data["object"] == "response"
    assert groq.last_request.path == "/v1/chat/completions"


async def test_an_anthropic_provider_is_reached_without_translation(gateway, aiohttp_server):
    fake = FakeAnthropicUpstream(api_key=UPSTREAM_KEY)
    server = await aiohttp_server(fake.app)
    await gateway.connect(str(server.make_url("")), provider="anthropic")
    status, data, _ = await gateway.post(
        "/v1/providers/anthropic/messages",
        json={"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": HI},
    )
    assert status == 200, data
    assert fake.last_request.json["model"] == "claude-sonnet-4-5"
