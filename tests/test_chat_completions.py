"""POST /v1/chat/completions through the gateway, driven by the official openai SDK."""

from __future__ import annotations

import json

import openai
import pytest

from omniroute.testing import FakeOpenAIUpstream

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


async def test_json_chat_answers_through_the_connected_provider(gateway, upstream, fake):
    await gateway.connect(upstream)
    reply = await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hello there"}]
    )
    assert reply.choices[0].message.content == "echo: hello there"
    assert reply.usage.prompt_tokens > 0
    assert fake.requests[-1].json["model"] == "gpt-5"
    assert fake.requests[-1].headers["Authorization"] == "Bearer sk-upstream-test-key-0001"


async def test_streamed_chat_arrives_in_pieces_and_completes(gateway, upstream):
    await gateway.connect(upstream)
    stream = await gateway.openai().chat.completions.create(
        model="openai/gpt-5",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
    )
    pieces = [chunk.choices[0].delta.content async for chunk in stream if chunk.choices]
    assert len([p for p in pieces if p]) > 1
    assert "".join(p or "" for p in pieces) == "echo: one two three four"


async def test_stream_usage_reaches_the_client_only_when_asked(gateway, upstream, fake):
    await gateway.connect(upstream)
    client = gateway.openai()
    asked = await client.chat.completions.create(
        model="openai/gpt-5",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in asked]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0

    not_asked = await client.chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [c async for c in not_asked]
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    # The gateway still asked the upstream for usage, for its own ledger.
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}


async def test_streamed_tool_call_arguments_reassemble_and_the_result_round_trips(
    gateway, upstream
):
    await gateway.connect(upstream)
    client = gateway.openai()
    messages = [{"role": "user", "content": "weather in Paris?"}]
    stream = await client.chat.completions.create(
        model="openai/gpt-5", messages=messages, tools=[WEATHER_TOOL], stream=True
    )
    calls: dict[int, dict] = {}
    finish = None
    async for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            call["id"] = delta.id or call["id"]
            if delta.function and delta.function.name:
                call["name"] = delta.function.name
            if delta.function and delta.function.arguments:
                call["arguments"] += delta.function.arguments
    assert finish == "tool_calls"
    call = calls[0]
    assert call["name"] == "get_weather"
    assert isinstance(json.loads(call["arguments"]), dict)

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21C"},
    ]
    reply = await client.chat.completions.create(
        model="openai/gpt-5", messages=messages, tools=[WEATHER_TOOL]
    )
    assert "sunny, 21C" in reply.choices[0].message.content


async def test_json_tool_call_is_relayed_unchanged(gateway, upstream):
    await gateway.connect(upstream)
    reply = await gateway.openai().chat.completions.create(
        model="openai/gpt-5",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert reply.choices[0].finish_reason == "tool_calls"
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"


async def test_unknown_fields_pass_through_untouched(gateway, upstream, fake):
    await gateway.connect(upstream)
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.3,
        extra_body={"vendor_knob": {"nested": [1, 2, {"x": None}]}, "seed": 7},
    )
    sent = fake.requests[-1].json
    assert sent["vendor_knob"] == {"nested": [1, 2, {"x": None}]}
    assert sent["seed"] == 7 and sent["temperature"] == 0.3


@pytest.mark.parametrize(
    ("model", "provider", "upstream_model"),
    [
        ("openai/gpt-5", "openai", "gpt-5"),
        ("oai/gpt-5", "openai", "gpt-5"),
        ("gpt-5", "openai", "gpt-5"),
        ("openrouter/openai/gpt-5", "openrouter", "openai/gpt-5"),
        ("ds/deepseek-chat", "deepseek", "deepseek-chat"),
        ("deepseek/deepseek-chat", "deepseek", "deepseek-chat"),
    ],
)
async def test_model_resolution(gateway, aiohttp_server, model, provider, upstream_model):
    fakes = {}
    for pid in ("openai", "openrouter", "deepseek"):
        fakes[pid] = FakeOpenAIUpstream(api_key="sk-upstream-test-key-0001")
        server = await aiohttp_server(fakes[pid].app)
        await gateway.connect(str(server.make_url("/v1")), provider=pid)
    await gateway.openai().chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )
    assert [r.json["model"] for r in fakes[provider].requests] == [upstream_model]


async def test_bare_model_known_to_no_connected_provider_is_model_not_found(gateway, upstream):
    await gateway.connect(upstream)
    with pytest.raises(openai.NotFoundError) as caught:
        await gateway.openai().chat.completions.create(
            model="deepseek-chat", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.body["code"] == "model_not_found"
    assert "/v1/models" in caught.value.body["message"]


async def test_provider_prefix_alone_uses_the_connection_default_model(gateway, upstream, fake):
    await gateway.connect(upstream, defaultModel="gpt-5-mini")
    await gateway.openai().chat.completions.create(
        model="openai", messages=[{"role": "user", "content": "hi"}]
    )
    assert fake.requests[-1].json["model"] == "gpt-5-mini"


async def test_unversioned_alias_serves_chat_completions(gateway, upstream):
    await gateway.connect(upstream)
    status, body, _ = await gateway.post(
        "/chat/completions",
        json={"model": "openai/gpt-5", "messages": [{"role": "user", "content": "x"}]},
    )
    assert status == 200 and body["object"] == "chat.completion"


async def test_chat_without_stream_field_answers_json(gateway, upstream):
    await gateway.connect(upstream)
    status, body, resp = await gateway.post(
        "/v1/chat/completions",
        json={"model": "openai/gpt-5", "messages": [{"role": "user", "content": "x"}]},
        headers={"Accept": "text/event-stream"},
    )
    assert status == 200 and resp.content_type == "application/json"
    assert body["choices"][0]["message"]["content"] == "echo: x"
