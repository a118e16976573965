"""kr/ through the gateway: the official SDKs, a fake CodeWhisperer, static-token mode."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from anthropic import AsyncAnthropic
from kiro_helpers import ACCESS_TOKEN, PROFILE_ARN, credentials
from openai import AsyncOpenAI

from omniroute.testing.fake_kiro import (
    OPERATION,
    KiroReply,
    closing_events,
    text_events,
)

MODEL = "kr/claude-sonnet-4.5"
WEATHER_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_ANTHROPIC = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": WEATHER_OPENAI["function"]["parameters"],
}


def openai_client(gateway) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=gateway.url + "/v1", api_key="k", max_retries=0, timeout=10)


def anthropic_client(gateway) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=gateway.url, api_key="k", max_retries=0, timeout=10)


def sent(kiro) -> dict:
    """The body the fake CodeWhisperer received last (it already passed the fake's checks)."""
    return kiro.last_request.json


async def test_openai_stream_gets_text_and_a_tool_call(gateway, kiro):
    await gateway.connect()
    stream = await openai_client(gateway).chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
        ],
        tools=[WEATHER_OPENAI],
        stream=True,
    )
    text, calls, finish = "", {}, None
    async for chunk in stream:
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta and delta.content:
            text += delta.content
        for call in (delta.tool_calls or []) if delta else []:
            entry = calls.setdefault(call.index, {"name": "", "arguments": ""})
            entry["name"] += call.function.name or ""
            entry["arguments"] += call.function.arguments or ""
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert text == "Hello from Kiro."
    assert calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert finish == "tool_calls"
    body = sent(kiro)
    assert "system" not in body and body["profileArn"] == PROFILE_ARN
    user = body["conversationState"]["currentMessage"]["userInputMessage"]
    assert user["content"].startswith("Be brief.")
    assert user["modelId"] == "claude-sonnet-4.5"
    headers = kiro.last_request.headers
    assert headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert headers["X-Amz-Target"] == OPERATION


async def test_openai_json_client_gets_the_collected_answer(gateway, kiro):
    await gateway.connect()
    answer = await openai_client(gateway).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_OPENAI],
    )
    message = answer.choices[0].message
    assert message.content == "Hello from Kiro."
    assert message.tool_calls[0].function.name == "get_weather"
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert answer.choices[0].finish_reason == "tool_calls"
    assert answer.usage.completion_tokens == 7


async def test_openai_tool_result_round_trip_passes_the_history_checks(gateway, kiro):
    await gateway.connect()
    answer = await openai_client(gateway).chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "tooluse_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "18C, sunny"},
        ],
        tools=[WEATHER_OPENAI],
    )
    assert answer.choices[0].message.content == "Hello from Kiro."
    state = sent(kiro)["conversationState"]
    assert state["history"][0]["userInputMessage"]["content"].startswith("Be brief.")
    results = state["currentMessage"]["userInputMessage"]["userInputMessageContext"]
    assert results["toolResults"][0]["toolUseId"] == "tooluse_1"


async def test_anthropic_stream_gets_text_and_a_tool_call(gateway, kiro):
    await gateway.connect()
    client = anthropic_client(gateway)
    async with client.messages.stream(
        model=MODEL,
        max_tokens=256,
        system="Be brief.",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_ANTHROPIC],
    ) as stream:
        message = await stream.get_final_message()
    kinds = [block.type for block in message.content]
    assert kinds == ["text", "tool_use"]
    assert message.content[0].text == "Hello from Kiro."
    assert message.content[1].name == "get_weather"
    assert message.content[1].input == {"city": "Paris"}
    assert message.stop_reason == "tool_use"
    assert sent(kiro)["inferenceConfig"] == {"maxTokens": 256}


async def test_anthropic_json_client_gets_text(gateway, kiro):
    await gateway.connect()
    message = await anthropic_client(gateway).messages.create(
        model=MODEL,
        max_tokens=64,
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Hello from Kiro."
    assert message.stop_reason == "end_turn"


async def test_a_throttled_account_reaches_the_client_as_its_own_rate_limit_error(gateway, kiro):
    await gateway.connect()
    kiro.enqueue(KiroReply.fail(429, "ThrottlingException", "Rate exceeded"))
    with pytest.raises(anthropic.RateLimitError):
        await anthropic_client(gateway).messages.create(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )


async def test_an_exception_before_any_content_fails_over_to_the_next_account(gateway, kiro):
    await gateway.connect("kiro-1")
    await gateway.connect("kiro-2")
    kiro.enqueue(KiroReply.stream([], exception=("ThrottlingException", "Rate exceeded")))
    stream = await openai_client(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Hello from Kiro."
    assert len(kiro.requests) == 2


async def test_an_exception_after_content_ends_the_clients_stream_with_an_error(gateway, kiro):
    await gateway.connect()
    kiro.enqueue(
        KiroReply.stream(
            text_events("Partial answer"), exception=("InternalServerException", "it broke")
        )
    )
    stream = await openai_client(gateway).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass


async def test_a_stream_cut_inside_a_message_is_an_error_for_the_client(gateway, kiro):
    await gateway.connect()
    kiro.enqueue(KiroReply.stream(text_events("Partial answer"), cut=True))
    client = anthropic_client(gateway)
    with pytest.raises(anthropic.APIStatusError):
        async with client.messages.stream(
            model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            async for _ in stream:
                pass


async def test_a_refused_token_is_refreshed_and_a_refused_refresh_asks_for_a_new_login(
    gateway, kiro
):
    # CodeWhisperer refuses an expired token with 403 AccessDeniedException: the kernel
    # refreshes on it like on a 401; this refresh token is unknown to the OIDC fake.
    await gateway.connect(secret=credentials(token="not-the-right-token"))
    with pytest.raises(openai.APIStatusError) as caught:
        await openai_client(gateway).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 401
    assert "omniroute login kiro" in str(caught.value)
    assert "not-the-right-token" not in str(caught.value)


async def test_usage_from_the_metrics_event_reaches_an_anthropic_stream(gateway, kiro):
    await gateway.connect()
    kiro.enqueue(KiroReply.stream([*text_events("Hi there"), *closing_events(42, 9)]))
    client = anthropic_client(gateway)
    async with client.messages.stream(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        message = await stream.get_final_message()
    assert (message.usage.input_tokens, message.usage.output_tokens) == (42, 9)
