"""Embeddings, image generation and the model list through the OpenAI SDK."""

from __future__ import annotations

import base64

import openai
import pytest

from omniroute.testing import FakeOpenAIUpstream
from tests.conftest import UPSTREAM_KEY


async def test_embeddings_pass_through_in_base64_and_float(gateway, upstream, fake):
    await gateway.connect(upstream)
    client = gateway.openai()
    default = await client.embeddings.create(
        model="openai/text-embedding-3-small", input=["alpha", "beta"]
    )
    floats = await client.embeddings.create(
        model="openai/text-embedding-3-small", input=["alpha", "beta"], encoding_format="float"
    )
    assert len(default.data) == 2
    assert default.data[0].embedding == floats.data[0].embedding
    assert fake.requests[0].json["encoding_format"] == "base64"
    assert fake.requests[0].json["model"] == "text-embedding-3-small"
    assert default.usage.prompt_tokens > 0


async def test_embeddings_without_input_is_400(gateway, upstream):
    await gateway.connect(upstream)
    status, body, _ = await gateway.post(
        "/v1/embeddings", json={"model": "openai/text-embedding-3-small"}
    )
    assert status == 400 and body["error"]["param"] == "input"


async def test_image_generation_passes_through(gateway, upstream, fake):
    await gateway.connect(upstream)
    result = await gateway.openai().images.generate(
        model="openai/gpt-image-1", prompt="a lighthouse", n=1
    )
    assert base64.b64decode(result.data[0].b64_json).startswith(b"\x89PNG")
    assert fake.requests[-1].json["prompt"] == "a lighthouse"


async def test_image_generation_without_prompt_is_400(gateway, upstream):
    await gateway.connect(upstream)
    status, body, _ = await gateway.post("/v1/images/generations", json={"model": "openai/x"})
    assert status == 400 and body["error"]["param"] == "prompt"


async def test_models_lists_prefixed_models_of_connected_providers_only(gateway, upstream):
    client = gateway.openai()
    assert [m.id async for m in await client.models.list()] == []
    await gateway.connect(upstream)
    ids = [m.id async for m in await client.models.list()]
    assert "openai/gpt-5" in ids
    assert all(i.startswith("openai/") for i in ids)


async def test_models_include_custom_node_models(gateway, upstream):
    status, node = await gateway.api(
        "POST",
        "/api/provider-nodes",
        json={
            "name": "Local vLLM",
            "prefix": "local",
            "baseUrl": upstream,
            "models": ["qwen3-coder", {"id": "bge-m3", "type": "embedding"}],
        },
    )
    assert status == 201, node
    await gateway.connect(upstream, provider=node["id"])
    listed = {m.id: m async for m in await gateway.openai().models.list()}
    assert {"local/qwen3-coder", "local/bge-m3"} <= set(listed)
    assert listed["local/qwen3-coder"].owned_by == node["id"]


async def test_unversioned_models_alias(gateway, upstream):
    await gateway.connect(upstream)
    async with gateway.admin.get(gateway.url + "/models") as resp:
        body = await resp.json()
    assert body["object"] == "list" and body["data"]


async def test_ambiguous_bare_model_asks_for_a_prefix(gateway, aiohttp_server):
    for provider in ("openai", "openrouter"):
        fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        await gateway.connect(str(server.make_url("/v1")), provider=provider)
    # Register a node that also lists gpt-5, so the bare id has two owners.
    _, node = await gateway.api(
        "POST",
        "/api/provider-nodes",
        json={
            "name": "Mirror",
            "prefix": "mirror",
            "baseUrl": "http://127.0.0.1:9/v1",
            "models": ["gpt-5"],
        },
    )
    await gateway.connect("http://127.0.0.1:9/v1", provider=node["id"])
    with pytest.raises(openai.BadRequestError) as caught:
        await gateway.openai().chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "hi"}]
        )
    assert "openai/gpt-5" in caught.value.body["message"]
    assert "mirror/gpt-5" in caught.value.body["message"]
