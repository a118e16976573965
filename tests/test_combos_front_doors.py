"""A combo works as the model at every front door, and may mix upstream formats."""

from __future__ import annotations

import aiohttp
import pytest

from omniroute.testing import AnthropicReply, FakeAnthropicUpstream, FakeOpenAIUpstream, Reply
from tests.conftest import UPSTREAM_KEY

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def mixed(gateway, aiohttp_server):
    """An Anthropic upstream and an OpenAI one, and combos over them in both orders."""
    claude = FakeAnthropicUpstream(api_key=UPSTREAM_KEY)
    gpt = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
    claude_server = await aiohttp_server(claude.app)
    gpt_server = await aiohttp_server(gpt.app)
    await gateway.connect(str(claude_server.make_url("")), provider="anthropic")
    await gateway.connect(str(gpt_server.make_url("/v1")), provider="openai")
    for name, models in (
        ("claude-first", ["anthropic/claude-sonnet-4-5", "openai/gpt-5"]),
        ("gpt-first", ["openai/gpt-5", "anthropic/claude-sonnet-4-5"]),
    ):
        status, data = await gateway.api(
            "POST", "/api/combos", json={"name": name, "models": models}
        )
        assert status == 201, data
    return claude, gpt


async def stream_text(gateway, path: str, body: dict) -> tuple[int, dict, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(gateway.url + path, json=body) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


async def test_an_openai_stream_falls_from_an_anthropic_target_to_an_openai_one(gateway, mixed):
    claude, gpt = mixed
    claude.enqueue(AnthropicReply.error(529, "Overloaded", type="overloaded_error"))
    stream = await gateway.openai().chat.completions.create(
        model="claude-first", messages=HI, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hi"
    assert len(claude.requests) == 1 and len(gpt.requests) == 1


async def test_an_openai_stream_falls_from_an_openai_target_to_an_anthropic_one(gateway, mixed):
    claude, gpt = mixed
    gpt.enqueue(Reply.error(500, "boom"))
    stream = await gateway.openai().chat.completions.create(
        model="gpt-first", messages=HI, stream=True
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and len(claude.requests) == 1
    assert all(c.model == "gpt-first" for c in chunks), "translated chunks name the client model"


async def test_json_answers_are_translated_per_the_target_that_answered(gateway, mixed):
    claude, gpt = mixed
    claude.enqueue(AnthropicReply.error(529, "Overloaded", type="overloaded_error"))
    reply = await gateway.openai().chat.completions.create(model="claude-first", messages=HI)
    assert reply.choices[0].message.content == "echo: hi"
    gpt.enqueue(Reply.error(500, "boom"))
    reply = await gateway.openai().chat.completions.create(model="gpt-first", messages=HI)
    assert reply.object == "chat.completion" and reply.choices[0].message.content


async def test_a_combo_works_at_the_messages_front_door(gateway, mixed):
    claude, _ = mixed
    claude.enqueue(AnthropicReply.error(529, "Overloaded", type="overloaded_error"))
    status, data, resp = await gateway.post(
        "/v1/messages", json={"model": "claude-first", "max_tokens": 20, "messages": HI}
    )
    assert status == 200, data
    assert data["type"] == "message" and data["content"][0]["text"] == "echo: hi"
    assert resp.headers["X-OmniRoute-Provider"] == "openai"


async def test_a_messages_stream_falls_over_across_formats(gateway, mixed):
    claude, _ = mixed
    claude.enqueue(AnthropicReply.error(529, "Overloaded", type="overloaded_error"))
    status, headers, body = await stream_text(
        gateway,
        "/v1/messages",
        {"model": "claude-first", "max_tokens": 20, "messages": HI, "stream": True},
    )
    assert status == 200 and headers["X-OmniRoute-Provider"] == "openai"
    assert b"message_stop" in body and b"echo: hi" in body


async def test_a_combo_works_at_the_responses_front_door(gateway, mixed):
    status, data, resp = await gateway.post(
        "/v1/responses", json={"model": "gpt-first", "input": "hi"}
    )
    assert status == 200, data
    assert data["object"] == "response"
    assert resp.headers["X-OmniRoute-Combo"] == "gpt-first"


async def test_a_combo_works_at_the_gemini_front_door_and_in_its_model_list(gateway, mixed):
    status, data, _ = await gateway.post(
        "/v1beta/models/gpt-first:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    )
    assert status == 200, data
    assert data["candidates"][0]["content"]["parts"][0]["text"] == "echo: hi"
    async with (
        aiohttp.ClientSession() as session,
        session.get(gateway.url + "/v1beta/models") as listing,
    ):
        names = [m["name"] for m in (await listing.json())["models"]]
    assert "models/gpt-first" in names


async def test_a_combo_of_embedding_models_serves_embeddings(gateway, upstream, fake):
    await gateway.connect(upstream)
    await gateway.api(
        "POST", "/api/combos", json={"name": "embed", "models": ["openai/text-embedding-3-small"]}
    )
    result = await gateway.openai().embeddings.create(model="embed", input="hello")
    assert result.data and fake.last_request.path == "/v1/embeddings"
    assert fake.last_request.json["model"] == "text-embedding-3-small"
