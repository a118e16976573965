"""The fake OpenAI upstream speaks the real wire format: proven with the official openai SDK."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from omniroute.testing import FakeOpenAIUpstream, Reply

KEY = "sk-up-1"
USER = [{"role": "user", "content": "hello there"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}
CAPTURE = Path("/work/shared/fixtures/wire/openai_chat_stream_tool_call.sse")


@pytest.fixture
def fake() -> FakeOpenAIUpstream:
    return FakeOpenAIUpstream(api_key=KEY)


@pytest.fixture
async def base_url(aiohttp_server: Any, fake: FakeOpenAIUpstream) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("/v1"))


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


async def post_raw(base_url: str, path: str, body: Any, **headers: str) -> tuple[int, bytes]:
    """POST ``body`` (bytes sent verbatim, anything else as JSON) and return status and body."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + path, data=data, headers=headers) as response,
    ):
        return response.status, await response.read()


def sse_data(raw: bytes) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    events = raw.decode().split("\n\n")
    assert events[-1] == "", "every event, including the last, ends with a blank line"
    return [event.removeprefix("data: ") for event in events[:-1]]


async def test_chat_completion_has_the_real_json_shape(base_url: str) -> None:
    status, raw = await post_raw(
        base_url, "/chat/completions", {"model": "gpt-4o", "messages": USER}
    )
    body = json.loads(raw)

    assert status == 200
    assert body["id"].startswith("chatcmpl-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "gpt-4o"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "echo: hello there",
        "refusal": None,
        "annotations": [],
    }
    assert body["choices"][0]["logprobs"] is None
    assert body["choices"][0]["finish_reason"] == "stop"
    assert set(body["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    }
    assert body["service_tier"] == "default"
    assert body["system_fingerprint"].startswith("fp_")


async def test_sdk_parses_chat_completion_echoing_the_last_user_message(
    client: AsyncOpenAI,
) -> None:
    completion = await client.chat.completions.create(model="my-custom-model", messages=USER)

    assert completion.model == "my-custom-model"
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_streaming_chat_splits_content_and_ends_with_a_usage_chunk(
    client: AsyncOpenAI,
) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert len({chunk.id for chunk in chunks}) == 1
    assert len({chunk.created for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    content = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert len(content) > 1
    assert "".join(content) == "echo: hello there"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


async def test_stream_wire_has_usage_null_only_with_include_usage(base_url: str) -> None:
    body = {"model": "gpt-4o", "messages": USER, "stream": True}
    _, plain = await post_raw(base_url, "/chat/completions", body)
    _, counted = await post_raw(
        base_url, "/chat/completions", {**body, "stream_options": {"include_usage": True}}
    )

    plain_events, counted_events = sse_data(plain), sse_data(counted)
    assert plain_events[-1] == counted_events[-1] == "[DONE]"
    assert all("usage" not in json.loads(e) for e in plain_events[:-1])
    assert all(json.loads(e)["usage"] is None for e in counted_events[:-2])
    assert json.loads(counted_events[-2])["choices"] == []


async def test_streaming_is_decided_by_the_body_not_the_accept_header(base_url: str) -> None:
    body = {"model": "gpt-4o", "messages": USER}
    status, raw = await post_raw(base_url, "/chat/completions", body, Accept="text/event-stream")

    assert status == 200
    assert json.loads(raw)["object"] == "chat.completion"


async def test_sdk_reassembles_streamed_tool_call_arguments(client: AsyncOpenAI) -> None:
    async with client.chat.completions.stream(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
    ) as stream:
        fragments = [
            event.arguments_delta
            async for event in stream
            if event.type == "tool_calls.function.arguments.delta"
        ]
        completion = await stream.get_final_completion()

    choice = completion.choices[0]
    call = choice.message.tool_calls[0]
    assert len(fragments) > 1
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "test", "unit": "c"}


async def test_non_streaming_tool_call_answers_with_first_tool(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(
        model="gpt-4o", messages=USER, tools=[WEATHER_TOOL]
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls[0].function.name == "get_weather"


async def test_tool_result_message_gets_a_text_answer_mentioning_it(client: AsyncOpenAI) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    completion = await client.chat.completions.create(
        model="gpt-4o",
        tools=[WEATHER_TOOL],
        messages=[
            *USER,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
        ],
    )

    assert completion.choices[0].finish_reason == "stop"
    assert "18C and sunny" in (completion.choices[0].message.content or "")


async def test_midstream_error_raises_api_error(
    client: AsyncOpenAI, fake: FakeOpenAIUpstream
) -> None:
    fake.enqueue(Reply.midstream_error(after_chunks=2))
    stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    received = []

    with pytest.raises(openai.APIError, match="The server had an error"):
        async for chunk in stream:
            received.append(chunk)

    assert len(received) == 2


async def test_midstream_error_wire_ends_without_done(
    base_url: str, fake: FakeOpenAIUpstream
) -> None:
    fake.enqueue(Reply.midstream_error(after_chunks=3))
    body = {"model": "gpt-4o", "messages": USER, "stream": True}
    status, raw = await post_raw(base_url, "/chat/completions", body)

    events = sse_data(raw)
    assert status == 200
    assert len(events) == 4
    assert json.loads(events[-1]) == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
        }
    }


async def test_cut_stream_raises_connection_error_after_first_chunks(
    client: AsyncOpenAI, fake: FakeOpenAIUpstream
) -> None:
    fake.enqueue(Reply.cut(after_chunks=2))
    stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    received = []

    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk)

    assert [c.choices[0].delta.content for c in received] == ["", "echo:"]


async def test_queued_rate_limit_error_raises_rate_limit_error_with_headers(
    client: AsyncOpenAI, fake: FakeOpenAIUpstream
) -> None:
    fake.enqueue(
        Reply.error(
            429,
            "Rate limit reached",
            type="rate_limit_error",
            code="rate_limit_exceeded",
            headers={"retry-after": "7"},
        )
    )

    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=USER)

    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "7"
    assert fake.pending == 0


async def test_queued_replies_are_consumed_in_order_then_default_resumes(
    client: AsyncOpenAI, fake: FakeOpenAIUpstream
) -> None:
    custom = {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "scripted"},
                "finish_reason": "stop",
            }
        ],
    }
    fake.enqueue(Reply.error(500, "boom"), Reply.json(custom))

    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="gpt-4o", messages=USER)
    scripted = await client.chat.completions.create(model="gpt-4o", messages=USER)
    default = await client.chat.completions.create(model="gpt-4o", messages=USER)

    assert scripted.choices[0].message.content == "scripted"
    assert default.choices[0].message.content == "echo: hello there"


async def test_explicit_stream_reply_sends_given_chunks(
    client: AsyncOpenAI, fake: FakeOpenAIUpstream
) -> None:
    head = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    fake.enqueue(
        Reply.stream(
            [
                {**head, "choices": [{"index": 0, "delta": {"content": "a"}}]},
                {**head, "choices": [{"index": 0, "delta": {"content": "b"}}]},
            ]
        )
    )
    stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)

    assert [c.choices[0].delta.content async for c in stream] == ["a", "b"]


async def test_hang_makes_the_client_time_out(base_url: str, fake: FakeOpenAIUpstream) -> None:
    fake.enqueue(Reply.hang(30))

    async with AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=0.3) as sdk:
        with pytest.raises(openai.APITimeoutError):
            await sdk.chat.completions.create(model="gpt-4o", messages=USER)


async def test_slow_stream_pauses_between_chunks(
    client: AsyncOpenAI, fake: FakeOpenAIUpstream
) -> None:
    fake.enqueue(Reply.slow_stream(gap=0.05))
    stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    arrivals = []
    async for _ in stream:
        arrivals.append(time.monotonic())

    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(arrivals) == 5
    assert min(gaps) >= 0.03


async def test_wrong_api_key_raises_authentication_error_with_masked_key(
    base_url: str, fake: FakeOpenAIUpstream
) -> None:
    async with AsyncOpenAI(base_url=base_url, api_key="sk-wrong-key-9876", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.chat.completions.create(model="gpt-4o", messages=USER)

    assert caught.value.code == "invalid_api_key"
    assert "Incorrect API key provided: sk-**********9876." in caught.value.message
    assert "sk-wrong-key-9876" not in caught.value.message


async def test_missing_authorization_header_is_rejected_with_401(base_url: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(base_url + "/models") as response:
        body = await response.json()

    assert response.status == 401
    assert set(body["error"]) == {"message", "type", "param", "code"}


async def test_any_bearer_key_is_accepted_when_api_key_is_none(aiohttp_server: Any) -> None:
    server = await aiohttp_server(FakeOpenAIUpstream(api_key=None).app)

    async with AsyncOpenAI(
        base_url=str(server.make_url("/v1")), api_key="whatever", max_retries=0
    ) as sdk:
        models = await sdk.models.list()

    assert models.data


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages[0].role"),
        ({"messages": USER, "stream_options": {"include_usage": True}}, "stream_options"),
        ({"messages": USER, "temperature": 2.5}, "temperature"),
        ({"messages": USER, "temperature": -1}, "temperature"),
        (
            {
                "messages": [
                    *USER,
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "call_1", "type": "function", "function": {"name": "f"}}
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_2", "content": "x"},
                ]
            },
            "messages.[2].tool_call_id",
        ),
    ],
    ids=["empty-messages", "bad-role", "stream-options-without-stream", "hot", "cold", "tool-id"],
)
async def test_invalid_chat_request_raises_bad_request_naming_the_param(
    client: AsyncOpenAI, kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o", **kwargs)

    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"


async def test_stream_options_rejection_uses_the_real_message(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="only allowed when 'stream' is enabled"):
        await client.chat.completions.create(
            model="gpt-4o", messages=USER, stream_options={"include_usage": True}
        )


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        ({"messages": USER}, "model"),
        ({"model": 4, "messages": USER}, "model"),
        ({"model": "gpt-4o"}, "messages"),
        ({"model": "gpt-4o", "messages": "hi"}, "messages"),
    ],
    ids=["not-json", "no-model", "model-not-string", "no-messages", "messages-not-list"],
)
async def test_malformed_chat_body_is_rejected_with_400(
    base_url: str, body: Any, param: str | None
) -> None:
    status, raw = await post_raw(base_url, "/chat/completions", body)

    error = json.loads(raw)["error"]
    assert status == 400
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


async def test_rejected_requests_are_recorded_and_do_not_consume_the_queue(
    base_url: str, fake: FakeOpenAIUpstream
) -> None:
    fake.enqueue(Reply.error(500, "boom"))

    status, _ = await post_raw(base_url, "/chat/completions", {"model": "gpt-4o"})

    assert status == 400
    assert fake.pending == 1
    assert fake.requests[-1].method == "POST"
    assert fake.requests[-1].path == "/v1/chat/completions"
    assert fake.requests[-1].json == {"model": "gpt-4o"}
    assert fake.requests[-1].headers["authorization"] == f"Bearer {KEY}"


async def test_embeddings_default_base64_is_decoded_by_the_sdk(
    client: AsyncOpenAI, fake: FakeOpenAIUpstream
) -> None:
    decoded = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    floats = await client.embeddings.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="float"
    )

    assert fake.requests[0].json["encoding_format"] == "base64"
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]
    assert decoded.data[0].embedding != decoded.data[1].embedding


async def test_embeddings_float_encoding_returns_unit_vectors_of_requested_size(
    client: AsyncOpenAI,
) -> None:
    response = await client.embeddings.create(
        model="text-embedding-3-small", input="hello world", encoding_format="float", dimensions=5
    )

    vector = response.data[0].embedding
    assert len(vector) == 5
    assert sum(x * x for x in vector) == pytest.approx(1.0, rel=1e-5)
    assert response.usage.prompt_tokens == response.usage.total_tokens == 2


async def test_embeddings_accept_token_arrays(client: AsyncOpenAI) -> None:
    response = await client.embeddings.create(
        model="text-embedding-3-small", input=[[1, 2, 3], [4]], encoding_format="float"
    )

    assert [d.index for d in response.data] == [0, 1]
    assert len(response.data[0].embedding) == 8
    assert response.usage.prompt_tokens == 4


async def test_images_return_valid_base64_png(client: AsyncOpenAI) -> None:
    response = await client.images.generate(model="dall-e-3", prompt="an otter", n=2)

    assert response.data is not None
    assert len(response.data) == 2
    png = base64.b64decode(response.data[0].b64_json or "")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert response.data[0].revised_prompt == "an otter"


async def test_images_url_format_points_at_a_served_png(client: AsyncOpenAI) -> None:
    response = await client.images.generate(
        model="dall-e-3", prompt="an otter", response_format="url"
    )

    assert response.data is not None
    url = response.data[0].url or ""
    async with aiohttp.ClientSession() as session, session.get(url) as image:
        assert image.content_type == "image/png"
        assert (await image.read()).startswith(b"\x89PNG")


async def test_models_list_shows_configured_models(aiohttp_server: Any) -> None:
    fake = FakeOpenAIUpstream(api_key=KEY, models=["m-1", "m-2"])
    server = await aiohttp_server(fake.app)

    async with AsyncOpenAI(base_url=str(server.make_url("/v1")), api_key=KEY, max_retries=0) as sdk:
        models = [model async for model in sdk.models.list()]

    assert [m.id for m in models] == ["m-1", "m-2"]
    assert all(m.object == "model" and m.owned_by == "system" for m in models)


async def test_serve_runs_standalone_on_a_free_local_port() -> None:
    fake = FakeOpenAIUpstream(api_key=KEY)

    async with (
        fake.serve() as base_url,
        AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0) as sdk,
    ):
        completion = await sdk.chat.completions.create(model="gpt-4o", messages=USER)

    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/v1")
    assert completion.choices[0].message.content == "echo: hello there"


def _shape(chunk: dict[str, Any]) -> tuple[Any, ...]:
    """Key sets of a chunk, ignoring fields the 2024 capture predates.

    ``service_tier`` and an explicit ``"usage": null`` on non-final chunks appear in newer
    captures (wire-formats.md §1.4) but not in openai_chat_stream_tool_call.sse.
    """
    top = set(chunk) - {"service_tier", "obfuscation"}
    if chunk.get("usage", 0) is None:
        top.discard("usage")
    choices = tuple(
        (
            frozenset(choice),
            frozenset(choice["delta"]),
            tuple(
                (frozenset(call), frozenset(call.get("function", {})))
                for call in choice["delta"].get("tool_calls", ())
            ),
        )
        for choice in chunk["choices"]
    )
    return frozenset(top), choices


def _distinct_shapes(chunks: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    shapes: list[tuple[Any, ...]] = []
    for chunk in chunks:
        shape = _shape(chunk)
        if not shapes or shapes[-1] != shape:
            shapes.append(shape)
    return shapes


@pytest.fixture
def captured_tool_call_chunks() -> list[dict[str, Any]]:
    if not CAPTURE.exists():
        pytest.skip(f"wire capture {CAPTURE} not available")
    return [json.loads(e) for e in sse_data(CAPTURE.read_bytes())[:-1]]


async def test_tool_call_stream_chunks_have_the_capture_key_sets(
    base_url: str, captured_tool_call_chunks: list[dict[str, Any]]
) -> None:
    captured = captured_tool_call_chunks
    body = {
        "model": "gpt-4o",
        "messages": USER,
        "tools": [WEATHER_TOOL],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    _, raw = await post_raw(base_url, "/chat/completions", body)
    events = sse_data(raw)
    produced = [json.loads(e) for e in events[:-1]]

    assert events[-1] == "[DONE]"
    assert _distinct_shapes(produced) == _distinct_shapes(captured)
    assert set(captured[-1]["usage"]) <= set(produced[-1]["usage"])
