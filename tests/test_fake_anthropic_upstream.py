"""The fake Anthropic upstream speaks the real wire format: proven with the anthropic SDK."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import httpx2
import pytest
from anthropic import AsyncAnthropic

from omniroute.testing import AnthropicReply, FakeAnthropicUpstream, Reply

KEY = "sk-ant-up-1"
MODEL = "claude-sonnet-4-6"
USER = [{"role": "user", "content": "hello there"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
    },
}
TIME_TOOL = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
THINKING = {"type": "enabled", "budget_tokens": 1024}
WIRE = Path("/work/shared/fixtures/wire")


@pytest.fixture
def fake() -> FakeAnthropicUpstream:
    return FakeAnthropicUpstream(api_key=KEY)


@pytest.fixture
async def base_url(aiohttp_server: Any, fake: FakeAnthropicUpstream) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[AsyncAnthropic]:
    async with AsyncAnthropic(base_url=base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


async def post_raw(
    base_url: str, path: str, body: Any, **headers: str
) -> tuple[int, bytes, dict[str, str]]:
    """POST ``body`` (bytes verbatim, anything else as JSON); return status, body, headers."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {
        "x-api-key": KEY,
        "anthropic-version": "2023-06-01",
        "Content-Type": "application/json",
        **headers,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + path, data=data, headers=sent) as response,
    ):
        return response.status, await response.read(), dict(response.headers)


def sse_events(raw: bytes, *, strict: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, parsed data)`` pairs of an Anthropic SSE body, in order."""
    text = raw.decode()
    if strict:
        assert text.endswith("\n\n"), "every event, including the last, ends with a blank line"
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        assert set(lines) == {"event", "data"}, block
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def message(*content: Any, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": list(content)}


def tool_use(tool_id: str = "toolu_01A", name: str = "get_weather") -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": {"city": "Paris"}}


def tool_result(tool_id: str = "toolu_01A", content: str = "18C and sunny") -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content}


# -- messages: JSON -------------------------------------------------------------------------------


async def test_message_has_the_key_sets_of_the_real_capture(base_url: str) -> None:
    captured = json.loads((WIRE / "anthropic_message_text.json").read_text())
    status, raw, headers = await post_raw(
        base_url, "/v1/messages", {"model": MODEL, "max_tokens": 64, "messages": USER}
    )
    body = json.loads(raw)

    assert status == 200
    assert set(body) == set(captured)
    assert body["id"].startswith("msg_01")
    assert body["content"] == [{"type": "text", "text": "echo: hello there"}]
    assert set(body["usage"]) >= set(captured["usage"]) - {"inference_geo"}
    assert headers["request-id"].startswith("req_")


async def test_sdk_parses_a_message_echoing_the_last_user_text(client: AsyncAnthropic) -> None:
    reply = await client.messages.create(model="my-custom-model", max_tokens=64, messages=USER)

    assert reply.model == "my-custom-model"
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "echo: hello there"
    assert reply.stop_reason == "end_turn"
    assert reply.usage.input_tokens > 0
    assert reply.usage.output_tokens == 3


async def test_streaming_is_decided_by_the_body_not_the_accept_header(base_url: str) -> None:
    body = {"model": MODEL, "max_tokens": 64, "messages": USER}
    status, raw, _ = await post_raw(base_url, "/v1/messages", body, Accept="text/event-stream")

    assert status == 200
    assert json.loads(raw)["type"] == "message"


async def test_max_tokens_truncates_the_answer_with_stop_reason_max_tokens(
    client: AsyncAnthropic,
) -> None:
    reply = await client.messages.create(
        model=MODEL, max_tokens=2, messages=[{"role": "user", "content": "one two three"}]
    )

    assert reply.content[0].type == "text"
    assert reply.content[0].text == "echo: one"
    assert reply.stop_reason == "max_tokens"
    assert reply.usage.output_tokens == 2


async def test_stop_sequence_ends_the_answer_and_is_reported(client: AsyncAnthropic) -> None:
    reply = await client.messages.create(
        model=MODEL,
        max_tokens=64,
        stop_sequences=["three"],
        messages=[{"role": "user", "content": "one two three four"}],
    )

    assert reply.content[0].type == "text"
    assert reply.content[0].text == "echo: one two "
    assert reply.stop_reason == "stop_sequence"
    assert reply.stop_sequence == "three"


async def test_beta_query_is_accepted_like_claude_code_sends_it(base_url: str) -> None:
    body = {"model": MODEL, "max_tokens": 64, "messages": USER}
    status, raw, _ = await post_raw(
        base_url, "/v1/messages?beta=true", body, **{"anthropic-beta": "claude-code-20250219"}
    )

    assert status == 200
    assert json.loads(raw)["content"][0]["text"] == "echo: hello there"


# -- messages: streaming --------------------------------------------------------------------------


async def test_sdk_stream_helper_builds_the_final_message_from_text_deltas(
    client: AsyncAnthropic,
) -> None:
    async with client.messages.stream(model=MODEL, max_tokens=64, messages=USER) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert len(texts) > 1
    assert "".join(texts) == "echo: hello there"
    assert final.content[0].type == "text"
    assert final.content[0].text == "echo: hello there"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 3


async def test_stream_wire_names_every_event_and_follows_the_real_order(base_url: str) -> None:
    body = {"model": MODEL, "max_tokens": 64, "messages": USER, "stream": True}
    status, raw, headers = await post_raw(base_url, "/v1/messages", body)
    events = sse_events(raw)
    names = [name for name, _ in events]

    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert all(name == data["type"] for name, data in events)
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert names.count("content_block_delta") > 1
    assert events[-2][1]["usage"]["output_tokens"] == 3
    assert (
        events[-2][1]["usage"]["input_tokens"] == events[0][1]["message"]["usage"]["input_tokens"]
    )


async def test_text_stream_has_the_event_shapes_of_the_sdk_capture(base_url: str) -> None:
    captured = sse_events((WIRE / "anthropic_stream_text.sse").read_bytes(), strict=False)
    body = {"model": MODEL, "max_tokens": 64, "messages": USER, "stream": True}
    _, raw, _ = await post_raw(base_url, "/v1/messages", body)
    produced = sse_events(raw)

    def shapes(events: list[tuple[str, dict[str, Any]]]) -> list[tuple[Any, ...]]:
        distinct: list[tuple[Any, ...]] = []
        for name, data in events:
            shape = (name, frozenset(data), frozenset(data.get("delta", {})))
            if not distinct or distinct[-1] != shape:
                distinct.append(shape)
        return distinct

    assert shapes(produced) == shapes(captured)
    assert set(captured[0][1]["message"]) == set(produced[0][1]["message"])


async def test_tool_use_stream_sends_input_json_fragments_starting_empty(base_url: str) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 256,
        "messages": USER,
        "tools": [WEATHER_TOOL],
        "stream": True,
    }
    _, raw, _ = await post_raw(base_url, "/v1/messages", body)
    events = [data for _, data in sse_events(raw)]
    start = next(e for e in events if e["type"] == "content_block_start")
    fragments = [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]

    assert start["content_block"]["type"] == "tool_use"
    assert start["content_block"]["input"] == {}
    assert start["content_block"]["id"].startswith("toolu_")
    assert fragments[0] == ""
    assert len(fragments) > 2
    assert json.loads("".join(fragments)) == {"city": "test", "unit": "c"}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


async def test_thinking_stream_sends_thinking_deltas_then_one_signature_delta(
    base_url: str,
) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 4096,
        "thinking": THINKING,
        "messages": USER,
        "stream": True,
    }
    _, raw, _ = await post_raw(base_url, "/v1/messages", body)
    events = [data for _, data in sse_events(raw)]
    block0 = [e for e in events if e.get("index") == 0]
    deltas = [e["delta"]["type"] for e in block0 if e["type"] == "content_block_delta"]

    assert block0[0]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert deltas.count("thinking_delta") > 1
    assert deltas[-1] == "signature_delta"
    assert deltas.count("signature_delta") == 1
    assert block0[-1]["type"] == "content_block_stop"
    assert any(e.get("index") == 1 and e["type"] == "content_block_start" for e in events)


# -- tools ----------------------------------------------------------------------------------------


async def test_sdk_reassembles_a_streamed_tool_use(client: AsyncAnthropic) -> None:
    async with client.messages.stream(
        model=MODEL, max_tokens=256, tools=[WEATHER_TOOL], messages=USER
    ) as stream:
        final = await stream.get_final_message()

    call = final.content[0]
    assert final.stop_reason == "tool_use"
    assert call.type == "tool_use"
    assert call.name == "get_weather"
    assert call.input == {"city": "test", "unit": "c"}


async def ask(client: AsyncAnthropic, *, stream: bool, **params: Any) -> anthropic.types.Message:
    """One message, through the stream helper or as plain JSON."""
    if not stream:
        return await client.messages.create(**params)
    async with client.messages.stream(**params) as events:
        return await events.get_final_message()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_tool_use_round_trip_answers_with_the_tool_result(
    client: AsyncAnthropic, stream: bool
) -> None:
    params: dict[str, Any] = {"model": MODEL, "max_tokens": 256, "tools": [WEATHER_TOOL]}
    first = await ask(client, stream=stream, messages=USER, **params)
    call = first.content[0]
    assert first.stop_reason == "tool_use"
    assert call.type == "tool_use"

    history = [
        *USER,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        message(tool_result(call.id)),
    ]
    second = await ask(client, stream=stream, messages=history, **params)

    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text"
    assert second.content[0].text == "tool result: 18C and sunny"


async def test_tool_choice_tool_picks_the_named_tool(client: AsyncAnthropic) -> None:
    reply = await client.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "tool", "name": "get_time"},
        messages=USER,
    )

    assert reply.content[0].type == "tool_use"
    assert reply.content[0].name == "get_time"
    assert reply.content[0].input == {}


async def test_tool_choice_none_answers_with_text(client: AsyncAnthropic) -> None:
    reply = await client.messages.create(
        model=MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
        messages=USER,
    )

    assert reply.stop_reason == "end_turn"
    assert reply.content[0].type == "text"


async def test_tool_result_not_right_after_its_tool_use_is_rejected(
    client: AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(
            model=MODEL,
            max_tokens=256,
            tools=[WEATHER_TOOL],
            messages=[
                *USER,
                message(tool_use(), role="assistant"),
                message(tool_result(), {"type": "text", "text": "and?"}),
                message({"type": "text", "text": "ok"}, role="assistant"),
                message(tool_result()),
            ],
        )

    assert caught.value.body["error"]["message"].startswith(
        "messages.4.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_01A."
    )


async def test_tool_use_without_results_in_the_next_message_is_rejected(
    client: AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(
            model=MODEL,
            max_tokens=256,
            tools=[WEATHER_TOOL],
            messages=[
                *USER,
                message(tool_use("toolu_01A"), tool_use("toolu_01B"), role="assistant"),
                message(tool_result("toolu_01A")),
            ],
        )

    assert caught.value.body["error"]["message"].startswith(
        "messages.1: `tool_use` ids were found without `tool_result` blocks immediately "
        "after: toolu_01B."
    )


# -- thinking -------------------------------------------------------------------------------------


async def test_thinking_signature_echoed_back_in_history_is_accepted(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    first = await client.messages.create(
        model=MODEL, max_tokens=4096, thinking=THINKING, messages=USER
    )
    thinking = first.content[0]
    assert thinking.type == "thinking"
    assert thinking.signature in fake.issued_signatures

    second = await client.messages.create(
        model=MODEL,
        max_tokens=4096,
        thinking=THINKING,
        messages=[
            *USER,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {"role": "user", "content": "and again"},
        ],
    )

    assert second.content[-1].type == "text"
    assert second.content[-1].text == "echo: and again"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda block: {**block, "signature": block["signature"][:-4] + "AAAA"},
        lambda block: {**block, "thinking": block["thinking"] + " (edited)"},
    ],
    ids=["signature", "thinking-text"],
)
async def test_tampered_thinking_block_is_rejected(client: AsyncAnthropic, tamper: Any) -> None:
    first = await client.messages.create(
        model=MODEL, max_tokens=4096, thinking=THINKING, messages=USER
    )
    blocks = [b.model_dump() for b in first.content]
    blocks[0] = tamper(blocks[0])

    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(
            model=MODEL,
            max_tokens=4096,
            thinking=THINKING,
            messages=[*USER, {"role": "assistant", "content": blocks}, *USER],
        )

    assert caught.value.body["error"]["message"] == (
        "messages.1.content.0: Invalid `signature` in `thinking` block"
    )


async def test_hand_built_history_signed_by_the_fake_is_accepted(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    signature = fake.sign_thinking("I should check the weather.")
    assistant = message(
        {"type": "thinking", "thinking": "I should check the weather.", "signature": signature},
        tool_use(),
        role="assistant",
    )

    reply = await client.messages.create(
        model=MODEL,
        max_tokens=4096,
        thinking=THINKING,
        tools=[WEATHER_TOOL],
        messages=[*USER, assistant, message(tool_result())],
    )

    assert reply.content[-1].type == "text"
    assert reply.content[-1].text == "tool result: 18C and sunny"


async def test_thinking_tool_loop_without_the_thinking_block_is_rejected(
    client: AsyncAnthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(
            model=MODEL,
            max_tokens=4096,
            thinking=THINKING,
            tools=[WEATHER_TOOL],
            messages=[*USER, message(tool_use(), role="assistant"), message(tool_result())],
        )

    assert caught.value.body["error"]["message"].startswith(
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
        "`tool_use`."
    )


async def test_temperature_with_thinking_is_rejected(client: AsyncAnthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(
            model=MODEL,
            max_tokens=4096,
            thinking=THINKING,
            messages=USER,
            extra_body={"temperature": 0.5},
        )

    assert caught.value.body["error"]["message"].startswith(
        "`temperature` may only be set to 1 when thinking is enabled."
    )


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message_start"),
    [
        ({"messages": USER}, "max_tokens: Field required"),
        ({"messages": USER, "max_tokens": 0}, "max_tokens: Input should be greater than"),
        ({"max_tokens": 9, "messages": []}, "messages: at least one message is required"),
        (
            {"max_tokens": 9, "messages": [{"role": "system", "content": "x"}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {"max_tokens": 9, "messages": [{"role": "assistant", "content": "x"}]},
            'messages: first message must use the "user" role',
        ),
        (
            {"max_tokens": 9, "messages": [message({"type": "image_url", "url": "x"})]},
            "messages.0.content.0: Input tag 'image_url' found using 'type'",
        ),
        (
            {
                "max_tokens": 9,
                "messages": [*USER, message({**tool_use(), "input": "{}"}, role="assistant")],
            },
            "messages.1.content.0.tool_use.input: Input should be a valid dictionary",
        ),
        (
            {"max_tokens": 9, "messages": [{"role": "user", "content": "x", "name": "bob"}]},
            "messages.0.name: Extra inputs are not permitted",
        ),
        (
            {"max_tokens": 9, "messages": USER, "tools": [{"name": "f", "parameters": {}}]},
            "tools.0.custom.input_schema: Field required",
        ),
        (
            {
                "max_tokens": 9,
                "messages": USER,
                "tools": [WEATHER_TOOL],
                "tool_choice": {"type": "tool"},
            },
            "tool_choice.tool.name: Field required",
        ),
        (
            {"max_tokens": 9, "messages": USER, "tool_choice": {"type": "required"}},
            "tool_choice: Input tag 'required' found using 'type'",
        ),
        (
            {
                "max_tokens": 4096,
                "messages": USER,
                "thinking": {"type": "enabled", "budget_tokens": 512},
            },
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {"max_tokens": 1024, "messages": USER, "thinking": THINKING},
            "`max_tokens` must be greater than `thinking.budget_tokens`.",
        ),
        (
            {
                "max_tokens": 4096,
                "messages": [
                    *USER,
                    message({"type": "thinking", "thinking": "hmm"}, role="assistant"),
                    *USER,
                ],
            },
            "messages.1.content.0.thinking.signature: Field required",
        ),
        (
            {"max_tokens": 9, "messages": USER, "stream_options": {"include_usage": True}},
            "stream_options: Extra inputs are not permitted",
        ),
        (
            {
                "max_tokens": 9,
                "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}],
            },
            "messages: text content blocks must be non-empty",
        ),
    ],
    ids=[
        "no-max-tokens",
        "zero-max-tokens",
        "no-messages",
        "system-role",
        "assistant-first",
        "unknown-block",
        "tool-input-string",
        "openai-name-field",
        "tool-without-schema",
        "tool-choice-without-name",
        "tool-choice-unknown",
        "small-budget",
        "budget-not-below-max",
        "unsigned-thinking",
        "extra-field",
        "empty-text",
    ],
)
async def test_invalid_request_is_a_400_naming_the_field(
    base_url: str, body: dict[str, Any], message_start: str
) -> None:
    status, raw, _ = await post_raw(base_url, "/v1/messages", {"model": MODEL, **body})
    error = json.loads(raw)

    assert status == 400
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(message_start)
    assert error["request_id"].startswith("req_")


async def test_body_that_is_not_a_json_object_is_a_400(base_url: str) -> None:
    status, raw, _ = await post_raw(base_url, "/v1/messages", b"[1, 2]")

    assert status == 400
    assert json.loads(raw)["error"]["type"] == "invalid_request_error"


async def test_rejected_requests_are_recorded_and_do_not_consume_the_queue(
    base_url: str, fake: FakeAnthropicUpstream
) -> None:
    fake.enqueue(AnthropicReply.error(500))

    status, _, _ = await post_raw(base_url, "/v1/messages", {"model": MODEL})

    assert status == 400
    assert fake.pending == 1
    assert fake.requests[-1].method == "POST"
    assert fake.requests[-1].path == "/v1/messages"
    assert fake.requests[-1].json == {"model": MODEL}
    assert fake.requests[-1].headers["x-api-key"] == KEY


# -- auth -----------------------------------------------------------------------------------------


async def test_wrong_bearer_key_raises_authentication_error(base_url: str) -> None:
    async with AsyncAnthropic(base_url=base_url, api_key="sk-wrong", max_retries=0) as sdk:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await sdk.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"] == {
        "type": "authentication_error",
        "message": "invalid x-api-key",
    }
    assert caught.value.body["request_id"] == caught.value.response.headers["request-id"]


async def test_wrong_x_api_key_raises_authentication_error(
    base_url: str, fake: FakeAnthropicUpstream
) -> None:
    async with AsyncAnthropic(
        base_url=base_url, default_headers={"X-Api-Key": "sk-wrong"}, max_retries=0
    ) as sdk:
        with pytest.raises(anthropic.AuthenticationError):
            await sdk.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert "authorization" not in fake.requests[-1].headers


async def test_x_api_key_header_is_accepted(base_url: str, fake: FakeAnthropicUpstream) -> None:
    async with AsyncAnthropic(
        base_url=base_url, default_headers={"X-Api-Key": KEY}, max_retries=0
    ) as sdk:
        reply = await sdk.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert reply.content[0].type == "text"
    assert fake.requests[-1].headers["x-api-key"] == KEY


async def test_missing_anthropic_version_is_a_400(base_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(base_url + "/v1/models", headers={"x-api-key": KEY}) as response,
    ):
        body = await response.json()

    assert response.status == 400
    assert body["error"]["message"] == "anthropic-version: header is required"


async def test_oauth_token_needs_the_oauth_beta_header(aiohttp_server: Any) -> None:
    server = await aiohttp_server(FakeAnthropicUpstream(api_key=None).app)
    base = str(server.make_url("")).rstrip("/")
    token = "sk-ant-oat01-test"

    async with AsyncAnthropic(base_url=base, auth_token=token, max_retries=0) as plain:
        with pytest.raises(anthropic.AuthenticationError, match="OAuth authentication"):
            await plain.models.list()
    async with AsyncAnthropic(
        base_url=base,
        auth_token=token,
        default_headers={"anthropic-beta": "oauth-2025-04-20"},
        max_retries=0,
    ) as oauth:
        models = await oauth.models.list()

    assert models.data


# -- scripted replies -----------------------------------------------------------------------------


async def test_queued_rate_limit_raises_rate_limit_error_with_retry_after(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    fake.enqueue(AnthropicReply.error(429, headers={"retry-after": "7"}))

    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert caught.value.response.headers["retry-after"] == "7"
    assert fake.pending == 0


async def test_queued_529_raises_overloaded_error(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    fake.enqueue(AnthropicReply.error(529))

    with pytest.raises(anthropic.OverloadedError) as caught:
        await client.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert caught.value.status_code == 529
    assert caught.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


async def test_midstream_error_event_raises_api_status_error(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    fake.enqueue(AnthropicReply.midstream_error())
    received = []

    with pytest.raises(anthropic.APIStatusError) as caught:
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=USER) as stream:
            async for event in stream:
                received.append(event.type)

    assert caught.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert received[:2] == ["message_start", "content_block_start"]
    assert "text" not in received


async def test_midstream_error_wire_matches_the_capture_and_has_no_message_stop(
    base_url: str, fake: FakeAnthropicUpstream
) -> None:
    captured = sse_events((WIRE / "anthropic_stream_error_event.sse").read_bytes())
    fake.enqueue(AnthropicReply.midstream_error(type="api_error"))
    body = {"model": MODEL, "max_tokens": 64, "messages": USER, "stream": True}

    status, raw, _ = await post_raw(base_url, "/v1/messages", body)
    events = sse_events(raw)

    assert status == 200
    assert [name for name, _ in events] == [name for name, _ in captured]
    assert events[-1][1] == captured[-1][1]


async def test_cut_stream_breaks_the_body_after_the_first_events(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    fake.enqueue(AnthropicReply.cut(after_events=4))
    received = []

    # The SDK does not wrap transport errors raised while iterating a stream.
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        async with client.messages.stream(model=MODEL, max_tokens=64, messages=USER) as stream:
            async for event in stream:
                received.append(event.type)

    assert received == ["message_start", "content_block_start", "content_block_delta", "text"]


async def test_cut_json_reply_raises_api_connection_error(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    fake.enqueue(AnthropicReply.cut())

    with pytest.raises(anthropic.APIConnectionError):
        await client.messages.create(model=MODEL, max_tokens=64, messages=USER)


async def test_hang_makes_the_client_time_out(base_url: str, fake: FakeAnthropicUpstream) -> None:
    fake.enqueue(AnthropicReply.hang(30))

    async with AsyncAnthropic(base_url=base_url, api_key=KEY, max_retries=0, timeout=0.3) as sdk:
        with pytest.raises(anthropic.APITimeoutError):
            await sdk.messages.create(model=MODEL, max_tokens=64, messages=USER)


async def test_slow_stream_pauses_between_events(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    fake.enqueue(AnthropicReply.slow_stream(gap=0.05))
    arrivals = []

    stream = await client.messages.create(model=MODEL, max_tokens=64, messages=USER, stream=True)
    async for _ in stream:
        arrivals.append(time.monotonic())

    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(arrivals) == 8
    assert min(gaps) >= 0.03


async def test_explicit_stream_reply_sends_the_given_events(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    start = {
        "id": "msg_x",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    fake.enqueue(
        AnthropicReply.stream(
            [
                {"type": "message_start", "message": start},
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "scripted"},
                },
                # verbatim text, framed by the caller (here with CRLF line endings)
                'event: content_block_stop\r\ndata: {"type":"content_block_stop",'
                '"index":0}\r\n\r\n',
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 1},
                },
                ("message_stop", {"type": "message_stop"}),
            ]
        )
    )

    async with client.messages.stream(model=MODEL, max_tokens=64, messages=USER) as stream:
        final = await stream.get_final_message()

    assert final.id == "msg_x"
    assert final.content[0].type == "text"
    assert final.content[0].text == "scripted"


async def test_queued_replies_are_consumed_in_order_then_the_default_resumes(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    custom = {
        "id": "msg_custom",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "scripted"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    fake.enqueue(AnthropicReply.error(500), AnthropicReply.json(custom))

    with pytest.raises(anthropic.InternalServerError):
        await client.messages.create(model=MODEL, max_tokens=64, messages=USER)
    scripted = await client.messages.create(model=MODEL, max_tokens=64, messages=USER)
    default = await client.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert scripted.id == "msg_custom"
    assert default.content[0].type == "text"
    assert default.content[0].text == "echo: hello there"


async def test_openai_fake_replies_are_translated_to_anthropic_errors(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    fake.enqueue(Reply.error(500, "boom"), Reply.error(529, "Overloaded", type="overloaded_error"))

    with pytest.raises(anthropic.InternalServerError) as server_error:
        await client.messages.create(model=MODEL, max_tokens=64, messages=USER)
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        await client.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert server_error.value.body["error"] == {"type": "api_error", "message": "boom"}
    assert overloaded.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


# -- count_tokens and models ----------------------------------------------------------------------


async def test_count_tokens_matches_the_usage_of_the_same_request(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    params: dict[str, Any] = {"model": MODEL, "messages": USER, "tools": [WEATHER_TOOL]}
    count = await client.messages.count_tokens(**params)
    reply = await client.messages.create(max_tokens=64, **params)

    assert fake.requests[0].path == "/v1/messages/count_tokens"
    assert count.input_tokens > 0
    assert count.input_tokens == reply.usage.input_tokens


async def test_count_tokens_rejects_max_tokens_as_an_extra_input(base_url: str) -> None:
    body = {"model": MODEL, "max_tokens": 64, "messages": USER}
    status, raw, _ = await post_raw(base_url, "/v1/messages/count_tokens", body)

    assert status == 400
    assert json.loads(raw)["error"]["message"] == "max_tokens: Extra inputs are not permitted"


async def test_models_list_has_the_anthropic_shape(aiohttp_server: Any) -> None:
    fake = FakeAnthropicUpstream(api_key=KEY, models=["claude-sonnet-4-5-20250929", "my-model"])
    server = await aiohttp_server(fake.app)
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            str(server.make_url("/v1/models")),
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        ) as response,
    ):
        body = await response.json()

    assert body == {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-5-20250929",
                "display_name": "Claude Sonnet 4.5",
                "created_at": "2025-09-29T00:00:00Z",
            },
            {
                "type": "model",
                "id": "my-model",
                "display_name": "My Model",
                "created_at": "2025-01-01T00:00:00Z",
            },
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "my-model",
    }


async def test_sdk_pages_through_the_models_list(
    client: AsyncAnthropic, fake: FakeAnthropicUpstream
) -> None:
    ids = [model.id async for model in client.models.list(limit=3)]
    one = await client.models.retrieve(ids[-1])

    assert ids == fake.models
    assert len([r for r in fake.requests if r.path == "/v1/models"]) == 2
    assert one.display_name == "Claude Haiku 4.5"


async def test_serve_runs_standalone_with_a_base_url_without_v1() -> None:
    fake = FakeAnthropicUpstream(api_key=KEY)

    async with (
        fake.serve() as base_url,
        AsyncAnthropic(base_url=base_url, api_key=KEY, max_retries=0) as sdk,
    ):
        reply = await sdk.messages.create(model=MODEL, max_tokens=64, messages=USER)

    assert base_url.startswith("http://127.0.0.1:")
    assert not base_url.endswith("/v1")
    assert reply.content[0].type == "text"
    assert reply.content[0].text == "echo: hello there"
