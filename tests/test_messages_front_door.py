"""POST /v1/messages: Anthropic clients against upstreams of both formats, and OpenAI clients
against an Anthropic upstream, driven by the official SDKs."""

from __future__ import annotations

import anthropic
import openai
import pytest
from anthropic import AsyncAnthropic

from omniroute.testing import FakeAnthropicUpstream, Reply
from tests.conftest import UPSTREAM_KEY

WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
OPENAI_WEATHER = {
    "type": "function",
    "function": {
        "name": WEATHER["name"],
        "description": WEATHER["description"],
        "parameters": WEATHER["input_schema"],
    },
}


def claude(gateway, api_key: str = "no-key") -> AsyncAnthropic:
    """The anthropic SDK pointed at the gateway (its base URL has no /v1)."""
    return AsyncAnthropic(base_url=gateway.url, api_key=api_key, max_retries=0)


@pytest.fixture
async def anthropic_upstream(aiohttp_server):
    fake = FakeAnthropicUpstream(api_key=UPSTREAM_KEY)
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("")).rstrip("/")


# -- Anthropic client, OpenAI-format upstream -----------------------------------------------------


async def test_anthropic_client_gets_a_message_from_an_openai_upstream(gateway, upstream, fake):
    await gateway.connect(upstream)
    message = await claude(gateway).messages.create(
        model="openai/gpt-5",
        max_tokens=256,
        system="Be brief.",
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert message.content[0].text == "echo: hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0
    sent = fake.requests[-1].json
    assert sent["model"] == "gpt-5"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


async def test_anthropic_client_streams_from_an_openai_upstream(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.slow_stream(gap=0.02))  # deltas arriving apart are relayed apart
    async with claude(gateway).messages.stream(
        model="openai/gpt-5",
        max_tokens=256,
        messages=[{"role": "user", "content": "one two three four"}],
    ) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(texts) > 1
    assert "".join(texts) == "echo: one two three four"
    assert final.stop_reason == "end_turn"


async def test_anthropic_tool_use_round_trip_through_an_openai_upstream(gateway, upstream, fake):
    await gateway.connect(upstream)
    client = claude(gateway)
    messages = [{"role": "user", "content": "weather in Paris?"}]
    async with client.messages.stream(
        model="openai/gpt-5", max_tokens=256, tools=[WEATHER], messages=messages
    ) as stream:
        first = await stream.get_final_message()
    assert first.stop_reason == "tool_use"
    call = next(block for block in first.content if block.type == "tool_use")
    assert call.name == "get_weather" and isinstance(call.input, dict)

    messages += [
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
        },
    ]
    reply = await client.messages.create(
        model="openai/gpt-5", max_tokens=256, tools=[WEATHER], messages=messages
    )
    assert "sunny" in reply.content[0].text
    sent = fake.requests[-1].json["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == call.id
    assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "sunny"}


async def test_upstream_rate_limit_reaches_an_anthropic_client_in_its_own_shape(
    gateway, upstream, fake
):
    await gateway.connect(upstream)
    fake.enqueue(Reply.error(429, "Rate limit reached", headers={"retry-after": "9"}))
    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude(gateway).messages.create(
            model="openai/gpt-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert caught.value.response.headers["retry-after"] == "9"


async def test_bad_messages_request_is_a_400_in_anthropic_shape(gateway, upstream):
    await gateway.connect(upstream)
    status, body, _ = await gateway.post(
        "/v1/messages", json={"model": "openai/gpt-5", "messages": [{"role": "user"}]}
    )
    assert status == 400
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]


async def test_claude_code_style_request_with_beta_query_and_x_api_key(make_gateway, upstream):
    gateway = await make_gateway(require_api_key=True)
    await gateway.connect(upstream)
    key = await gateway.create_key()
    status, body, _ = await gateway.post(
        "/v1/messages?beta=true",
        json={
            "model": "openai/gpt-5",
            "max_tokens": 32,
            "messages": [{"role": "user", "content": "hi"}],
        },
        headers={"x-api-key": key, "anthropic-version": "2099-01-01"},
    )
    assert status == 200, body
    assert body["type"] == "message" and body["content"][0]["text"] == "echo: hi"


async def test_count_tokens_is_estimated_for_an_openai_upstream(gateway, upstream):
    await gateway.connect(upstream)
    count = await claude(gateway).messages.count_tokens(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hello " * 40}]
    )
    assert 40 <= count.input_tokens <= 200


# -- Anthropic client, Anthropic upstream (same format) -------------------------------------------


async def test_anthropic_to_anthropic_passes_through(gateway, anthropic_upstream):
    fake, base = anthropic_upstream
    await gateway.connect(base, provider="anthropic")
    message = await claude(gateway).messages.create(
        model="anthropic/claude-sonnet-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    assert message.content[0].text == "echo: hi"
    request = fake.requests[-1]
    assert request.json["model"] == "claude-sonnet-4-5"
    assert request.headers["x-api-key"] == UPSTREAM_KEY
    assert request.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"


async def test_thinking_signature_survives_an_anthropic_round_trip(gateway, anthropic_upstream):
    _, base = anthropic_upstream
    await gateway.connect(base, provider="anthropic")
    client = claude(gateway)
    messages = [{"role": "user", "content": "think about it"}]
    async with client.messages.stream(
        model="anthropic/claude-sonnet-4-5",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=messages,
    ) as stream:
        first = await stream.get_final_message()
    assert first.content[0].type == "thinking" and first.content[0].signature
    messages += [
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": "and again"},
    ]
    # The fake upstream rejects any signature it did not issue, byte for byte.
    second = await client.messages.create(
        model="anthropic/claude-sonnet-4-5",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=messages,
    )
    assert second.content[-1].type == "text"


async def test_count_tokens_is_forwarded_to_an_anthropic_upstream(gateway, anthropic_upstream):
    fake, base = anthropic_upstream
    await gateway.connect(base, provider="anthropic")
    count = await claude(gateway).messages.count_tokens(
        model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]
    )
    assert count.input_tokens > 0
    assert fake.requests[-1].path.endswith("/v1/messages/count_tokens")


# -- OpenAI client, Anthropic upstream ------------------------------------------------------------


async def test_openai_client_gets_a_completion_from_an_anthropic_upstream(
    gateway, anthropic_upstream
):
    fake, base = anthropic_upstream
    await gateway.connect(base, provider="anthropic")
    reply = await gateway.openai().chat.completions.create(
        model="anthropic/claude-sonnet-4-5",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    )
    assert reply.choices[0].message.content == "echo: hi"
    assert reply.choices[0].finish_reason == "stop"
    sent = fake.requests[-1].json
    assert sent["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
    assert sent["max_tokens"] > 0


async def test_openai_client_streams_tool_calls_from_an_anthropic_upstream(
    gateway, anthropic_upstream
):
    _, base = anthropic_upstream
    await gateway.connect(base, provider="anthropic")
    stream = await gateway.openai().chat.completions.create(
        model="anthropic/claude-sonnet-4-5",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[OPENAI_WEATHER],
        stream=True,
    )
    arguments, name, finish = "", None, None
    async for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            name = (delta.function.name if delta.function else None) or name
            arguments += (delta.function.arguments or "") if delta.function else ""
    assert name == "get_weather" and finish == "tool_calls"
    assert arguments.startswith("{")


async def test_anthropic_overload_reaches_an_openai_client_as_an_error(gateway, anthropic_upstream):
    fake, base = anthropic_upstream
    await gateway.connect(base, provider="anthropic")
    fake.enqueue(Reply.error(529, "Overloaded", type="overloaded_error"))
    with pytest.raises(openai.APIStatusError) as caught:
        await gateway.openai().chat.completions.create(
            model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 529
    assert "Overloaded" in caught.value.body["message"]
