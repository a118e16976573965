"""The fake Responses upstream speaks the real wire format: proven with the openai SDK."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import openai
import pytest
from multidict import CIMultiDict
from openai import AsyncOpenAI
from openai.types.responses import Response

from omniroute.testing import FakeResponsesUpstream, Reply, ResponsesReply

KEY = "sk-up-responses-1"
MODEL = "gpt-5"
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
    },
}
TIME_TOOL = {"type": "function", "name": "get_time", "parameters": {"type": "object"}}
WIRE = Path("/work/shared/fixtures/wire")


@pytest.fixture
def fake() -> FakeResponsesUpstream:
    return FakeResponsesUpstream(api_key=KEY)


@pytest.fixture
async def base_url(aiohttp_server: Any, fake: FakeResponsesUpstream) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("/v1"))


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


async def post_raw(base_url: str, body: Any, **headers: str) -> tuple[int, bytes, CIMultiDict[str]]:
    """POST ``body`` as JSON to ``/v1/responses``; return status, body, headers."""
    sent = {"Authorization": f"Bearer {KEY}", **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + "/responses", json=body, headers=sent) as response,
    ):
        return response.status, await response.read(), CIMultiDict(response.headers)


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """``(event name, parsed data)`` pairs of a Responses SSE body, in order."""
    text = raw.decode()
    assert text.endswith("\n\n"), "every event, including the last, ends with a blank line"
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        assert set(lines) == {"event", "data"}, block
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def shapes(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Event names with runs of the same delta event collapsed to one."""
    return [name for name, _ in itertools.groupby(name for name, _ in events)]


async def bad_request(client: AsyncOpenAI, **params: Any) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.responses.create(**{"model": MODEL, "input": "hi", **params})
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    return body


# -- JSON responses -------------------------------------------------------------------------------


async def test_response_has_the_key_sets_of_the_real_capture(base_url: str) -> None:
    captured = json.loads((WIRE / "responses_nonstream_text.json").read_text())
    status, raw, headers = await post_raw(base_url, {"model": MODEL, "input": "hello there"})
    body = json.loads(raw)

    assert status == 200
    assert set(body) == set(captured)
    assert set(body["output"][0]) == set(captured["output"][0])
    assert set(body["output"][0]["content"][0]) == set(captured["output"][0]["content"][0])
    assert set(body["usage"]) == set(captured["usage"])
    assert body["id"].startswith("resp_")
    assert headers["x-request-id"].startswith("req_")


async def test_sdk_create_echoes_the_last_user_text(client: AsyncOpenAI) -> None:
    reply = await client.responses.create(model="my-model", input="hello there")

    assert reply.model == "my-model"
    assert reply.status == "completed"
    assert reply.output_text == "echo: hello there"
    assert reply.usage is not None
    assert reply.usage.output_tokens == 3
    assert reply.usage.total_tokens == reply.usage.input_tokens + 3


async def test_message_items_and_instructions_are_accepted(client: AsyncOpenAI) -> None:
    reply = await client.responses.create(
        model=MODEL,
        instructions="be brief",
        input=[
            {"role": "developer", "content": "rules"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "b"}]},
            {"role": "user", "content": "hello there"},
        ],
    )

    assert reply.instructions == "be brief"
    assert reply.output_text == "echo: hello there"


async def test_reasoning_puts_a_reasoning_item_first(client: AsyncOpenAI) -> None:
    reply = await client.responses.create(
        model=MODEL,
        input="hello there",
        reasoning={"effort": "low", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    reasoning = reply.output[0]

    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text.endswith("thinking about: hello there")
    assert reasoning.encrypted_content
    assert reply.output[1].type == "message"
    assert reply.usage is not None
    assert reply.usage.output_tokens_details.reasoning_tokens > 0


async def test_max_output_tokens_cuts_the_answer_as_incomplete(client: AsyncOpenAI) -> None:
    words = " ".join(f"w{n}" for n in range(20))
    reply = await client.responses.create(model=MODEL, input=words, max_output_tokens=16)

    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None
    assert reply.incomplete_details.reason == "max_output_tokens"
    assert len(reply.output_text.split()) == 16


async def test_json_schema_format_answers_with_json_matching_the_schema(
    client: AsyncOpenAI,
) -> None:
    reply = await client.responses.create(
        model=MODEL,
        input="hello there",
        text={
            "format": {
                "type": "json_schema",
                "name": "weather",
                "schema": WEATHER_TOOL["parameters"],
            }
        },
    )

    assert json.loads(reply.output_text) == {"city": "test", "unit": "c"}


# -- streaming ------------------------------------------------------------------------------------


async def test_sdk_stream_helper_builds_the_final_response_from_deltas(
    client: AsyncOpenAI,
) -> None:
    async with client.responses.stream(model=MODEL, input="hello there") as stream:
        deltas = [
            event.delta async for event in stream if event.type == "response.output_text.delta"
        ]
        final = await stream.get_final_response()

    assert len(deltas) > 1
    assert "".join(deltas) == "echo: hello there"
    assert final.output_text == "echo: hello there"
    assert final.usage is not None
    assert final.usage.output_tokens == 3


async def test_stream_wire_names_every_event_with_increasing_sequence_numbers(
    base_url: str,
) -> None:
    body = {"model": MODEL, "input": "hello there", "stream": True}
    status, raw, headers = await post_raw(base_url, body)
    events = sse_events(raw)

    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert all(name == data["type"] for name, data in events)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert "[DONE]" not in raw.decode()
    assert events[-1][1]["response"]["usage"]["output_tokens"] == 3


async def test_text_stream_follows_the_event_order_of_the_capture(base_url: str) -> None:
    captured = sse_events((WIRE / "responses_stream_text.sse").read_bytes())
    body = {"model": MODEL, "input": "hello there", "reasoning": {"effort": "minimal"}}
    _, raw, _ = await post_raw(base_url, {**body, "stream": True})
    events = sse_events(raw)
    delta = next(data for name, data in events if name == "response.output_text.delta")
    captured_delta = next(d for n, d in captured if n == "response.output_text.delta")

    assert shapes(events) == shapes(captured)
    assert set(delta) == set(captured_delta)
    assert set(events[0][1]["response"]) >= set(captured[0][1]["response"])


async def test_function_call_stream_follows_the_event_order_of_the_capture(
    base_url: str,
) -> None:
    captured = sse_events((WIRE / "responses_stream_function_call.sse").read_bytes())
    body = {
        "model": MODEL,
        "input": "weather?",
        "tools": [WEATHER_TOOL],
        "reasoning": {"effort": "medium"},
        "stream": True,
    }
    _, raw, _ = await post_raw(base_url, body)
    events = sse_events(raw)
    fragments = [d["delta"] for n, d in events if n == "response.function_call_arguments.delta"]
    done = next(d for n, d in events if n == "response.function_call_arguments.done")

    assert shapes(events) == shapes(captured)
    assert len(fragments) > 2
    assert json.loads("".join(fragments)) == {"city": "test", "unit": "c"}
    assert set(done) == set(next(d for n, d in captured if n == done["type"]))


async def test_reasoning_summary_is_streamed_as_summary_events(client: AsyncOpenAI) -> None:
    names = []
    async with client.responses.stream(
        model=MODEL, input="hello there", reasoning={"effort": "low", "summary": "detailed"}
    ) as stream:
        async for event in stream:
            names.append(event.type)
        final = await stream.get_final_response()

    assert "response.reasoning_summary_text.delta" in names
    assert names.index("response.reasoning_summary_part.done") < names.index(
        "response.output_text.delta"
    )
    assert final.output[0].type == "reasoning"


async def test_obfuscation_can_be_turned_off(base_url: str) -> None:
    body = {
        "model": MODEL,
        "input": "hello there",
        "stream": True,
        "stream_options": {"include_obfuscation": False},
    }
    _, raw, _ = await post_raw(base_url, body)

    assert "obfuscation" not in raw.decode()


# -- tools ----------------------------------------------------------------------------------------


async def ask(client: AsyncOpenAI, *, stream: bool, **params: Any) -> Response:
    """One response, through the stream helper or as plain JSON."""
    if not stream:
        return await client.responses.create(**params)
    async with client.responses.stream(**params) as events:
        return await events.get_final_response()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_function_call_round_trip_answers_with_the_output(
    client: AsyncOpenAI, stream: bool
) -> None:
    question = {"role": "user", "content": "weather in Paris?"}
    first = await ask(
        client,
        stream=stream,
        model=MODEL,
        input=[question],
        tools=[WEATHER_TOOL],
        reasoning={"effort": "low", "summary": "auto"},
    )
    call = first.output[-1]
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "test", "unit": "c"}

    output = {"type": "function_call_output", "call_id": call.call_id, "output": "18C"}
    history = [question, *first.output, output]  # the SDK objects go back as they came
    second = await ask(client, stream=stream, model=MODEL, input=history, tools=[WEATHER_TOOL])

    assert second.output_text == "tool result: 18C"


async def test_tool_choice_function_picks_the_named_tool(client: AsyncOpenAI) -> None:
    reply = await client.responses.create(
        model=MODEL,
        input="what time is it?",
        tools=[WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "name": "get_time"},
    )

    assert reply.output[0].type == "function_call"
    assert reply.output[0].name == "get_time"
    assert reply.output[0].arguments == "{}"


async def test_tool_choice_none_answers_with_text(client: AsyncOpenAI) -> None:
    reply = await client.responses.create(
        model=MODEL, input="hello there", tools=[WEATHER_TOOL], tool_choice="none"
    )

    assert reply.output_text == "echo: hello there"


async def test_previous_response_id_continues_a_stored_tool_call(client: AsyncOpenAI) -> None:
    first = await client.responses.create(model=MODEL, input="weather?", tools=[WEATHER_TOOL])
    call = first.output[0]
    assert call.type == "function_call"

    second = await client.responses.create(
        model=MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "rain"}],
    )
    stored = await client.responses.retrieve(second.id)

    assert second.output_text == "tool result: rain"
    assert second.previous_response_id == first.id
    assert stored.output_text == "tool result: rain"


# -- validation -----------------------------------------------------------------------------------


async def test_chat_style_nested_tool_is_rejected_with_the_real_error(
    client: AsyncOpenAI,
) -> None:
    nested = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    body = await bad_request(client, tools=[nested])

    assert body["message"] == "Missing required parameter: 'tools[0].name'."
    assert body["param"] == "tools[0].name"
    assert body["code"] == "missing_required_parameter"


async def test_function_call_output_without_its_call_is_rejected(client: AsyncOpenAI) -> None:
    output = {"type": "function_call_output", "call_id": "call_missing", "output": "18C"}
    body = await bad_request(client, input=[{"role": "user", "content": "hi"}, output])

    assert body["message"] == (
        "No tool call found for function call output with call_id call_missing."
    )
    assert body["param"] == "input"


async def test_function_call_without_its_output_is_rejected(client: AsyncOpenAI) -> None:
    call = {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    body = await bad_request(client, input=[call, {"role": "user", "content": "and?"}])

    assert body["message"] == "No tool output found for function call call_1."


@pytest.mark.parametrize(
    ("params", "message", "param"),
    [
        (
            {"max_output_tokens": 8},
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, "
            "but got 8 instead.",
            "max_output_tokens",
        ),
        (
            {"input": [{"role": "tool", "content": "x"}]},
            "Invalid value: 'tool'. Supported values are: 'assistant', 'system', 'developer', "
            "and 'user'.",
            "input[0].role",
        ),
        (
            {"input": [{"type": "item_x"}]},
            "Invalid value: 'item_x'. Supported values are: 'message', 'function_call', "
            "'function_call_output', and 'reasoning'.",
            "input[0].type",
        ),
        (
            {"input": [{"role": "assistant", "content": [{"type": "input_text", "text": "x"}]}]},
            "Invalid value: 'input_text'. Supported values are: 'output_text', and 'refusal'.",
            "input[0].content[0].type",
        ),
        (
            {"input": {"role": "user"}},
            "Invalid type for 'input': expected a string or an array of input items, but got "
            "object instead.",
            "input",
        ),
        ({"extra_body": {"max_tokens": 64}}, "Unknown parameter: 'max_tokens'.", "max_tokens"),
        (
            {"reasoning": {"effort": "extreme"}},
            "Invalid value: 'extreme'. Supported values are: 'none', 'minimal', 'low', 'medium', "
            "'high', and 'xhigh'.",
            "reasoning.effort",
        ),
    ],
    ids=[
        "max-output-tokens",
        "role",
        "item-type",
        "assistant-part",
        "input-type",
        "unknown",
        "effort",
    ],
)
async def test_invalid_request_is_a_400_naming_the_param(
    client: AsyncOpenAI, params: dict[str, Any], message: str, param: str
) -> None:
    body = await bad_request(client, **params)

    assert body["message"] == message
    assert body["param"] == param


async def test_model_is_required(base_url: str) -> None:
    status, raw, _ = await post_raw(base_url, {"input": "hi"})

    assert status == 400
    assert json.loads(raw)["error"]["message"] == "Missing required parameter: 'model'."


async def test_unknown_previous_response_id_is_rejected(client: AsyncOpenAI) -> None:
    body = await bad_request(client, previous_response_id="resp_unknown")

    assert body["message"] == "Previous response with id 'resp_unknown' not found."
    assert body["param"] == "previous_response_id"


async def test_rejected_requests_are_recorded_and_do_not_consume_the_queue(
    client: AsyncOpenAI, fake: FakeResponsesUpstream
) -> None:
    fake.enqueue(ResponsesReply.error(500))
    await bad_request(client, max_output_tokens=1)

    assert fake.pending == 1
    assert fake.requests[0].json["max_output_tokens"] == 1


# -- auth -----------------------------------------------------------------------------------------


async def test_wrong_key_raises_authentication_error(base_url: str) -> None:
    async with AsyncOpenAI(base_url=base_url, api_key="sk-wrong-key-123", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.responses.create(model=MODEL, input="hi")

    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"


async def test_missing_authorization_is_a_401(base_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + "/responses", json={"model": MODEL, "input": "hi"}) as response,
    ):
        error = (await response.json())["error"]

    assert response.status == 401
    assert error["message"].startswith("You didn't provide an API key.")


# -- scripted replies -----------------------------------------------------------------------------


async def test_queued_rate_limit_raises_rate_limit_error_with_retry_after(
    client: AsyncOpenAI, fake: FakeResponsesUpstream
) -> None:
    fake.enqueue(ResponsesReply.error(429, headers={"retry-after": "7"}))

    with pytest.raises(openai.RateLimitError) as caught:
        await client.responses.create(model=MODEL, input="hi")

    assert caught.value.body == {
        "message": "Rate limit exceeded. Please try again in 20 seconds.",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert caught.value.response.headers["retry-after"] == "7"
    assert fake.pending == 0


async def test_insufficient_quota_in_the_stream_raises_api_error(
    client: AsyncOpenAI, fake: FakeResponsesUpstream
) -> None:
    fake.enqueue(ResponsesReply.midstream_error())
    received = []

    with pytest.raises(openai.APIError) as caught:
        stream = await client.responses.create(model=MODEL, input="hi", stream=True)
        async for event in stream:
            received.append(event.type)

    assert received == ["response.created", "response.in_progress"]
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "insufficient_quota"


async def test_insufficient_quota_wire_matches_the_capture(
    base_url: str, fake: FakeResponsesUpstream
) -> None:
    captured = sse_events((WIRE / "responses_stream_error_insufficient_quota.sse").read_bytes())
    fake.enqueue(ResponsesReply.midstream_error())
    status, raw, _ = await post_raw(base_url, {"model": MODEL, "input": "hi", "stream": True})
    events = sse_events(raw)

    assert status == 200
    assert [name for name, _ in events] == [name for name, _ in captured]
    assert events[2][1] == captured[2][1]
    assert events[3][1]["response"]["status"] == "failed"
    assert events[3][1]["response"]["error"] == captured[3][1]["response"]["error"]


async def test_cut_stream_breaks_the_body_after_the_first_events(
    client: AsyncOpenAI, fake: FakeResponsesUpstream
) -> None:
    fake.enqueue(ResponsesReply.cut(after_events=3))
    received = []

    with pytest.raises(openai.APIConnectionError) as caught:
        stream = await client.responses.create(model=MODEL, input="hello there", stream=True)
        async for event in stream:
            received.append(event.type)

    assert received == ["response.created", "response.in_progress", "response.output_item.added"]
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)


async def test_cut_json_reply_raises_api_connection_error(
    client: AsyncOpenAI, fake: FakeResponsesUpstream
) -> None:
    fake.enqueue(ResponsesReply.cut())

    with pytest.raises(openai.APIConnectionError):
        await client.responses.create(model=MODEL, input="hi")


async def test_hang_makes_the_client_time_out(base_url: str, fake: FakeResponsesUpstream) -> None:
    fake.enqueue(ResponsesReply.hang(30))

    async with AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0, timeout=0.3) as sdk:
        with pytest.raises(openai.APITimeoutError):
            await sdk.responses.create(model=MODEL, input="hi")


async def test_slow_stream_pauses_between_events(
    client: AsyncOpenAI, fake: FakeResponsesUpstream
) -> None:
    fake.enqueue(ResponsesReply.slow_stream(gap=0.05))
    arrivals = []

    stream = await client.responses.create(model=MODEL, input="hello there", stream=True)
    async for _ in stream:
        arrivals.append(time.monotonic())

    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(arrivals) == 11
    assert min(gaps) >= 0.03


async def test_explicit_stream_reply_sends_the_given_events(
    client: AsyncOpenAI, fake: FakeResponsesUpstream
) -> None:
    _, raw, _ = await post_raw(
        str(client.base_url).rstrip("/"), {"model": MODEL, "input": "x", "stream": True}
    )
    recorded = [data for _, data in sse_events(raw)]
    recorded[-1]["response"]["output"][0]["content"][0]["text"] = "scripted"
    fake.enqueue(ResponsesReply.stream([recorded[0], ("response.completed", recorded[-1])]))

    async with client.responses.stream(model=MODEL, input="hello") as stream:
        final = await stream.get_final_response()

    assert final.output_text == "scripted"


async def test_queued_replies_are_consumed_in_order_then_the_default_resumes(
    client: AsyncOpenAI, fake: FakeResponsesUpstream
) -> None:
    fake.enqueue(ResponsesReply.error(500), Reply.error(400, "from the openai fake"))

    with pytest.raises(openai.InternalServerError):
        await client.responses.create(model=MODEL, input="hi")
    with pytest.raises(openai.BadRequestError) as translated:
        await client.responses.create(model=MODEL, input="hi")
    default = await client.responses.create(model=MODEL, input="hello there")

    assert isinstance(translated.value.body, dict)
    assert translated.value.body["message"] == "from the openai fake"
    assert default.output_text == "echo: hello there"


# -- models and standalone ------------------------------------------------------------------------


async def test_models_list_has_the_openai_shape(client: AsyncOpenAI) -> None:
    ids = [model.id async for model in client.models.list()]

    assert ids[0] == "gpt-5"


async def test_serve_runs_standalone_with_a_base_url_ending_in_v1() -> None:
    fake = FakeResponsesUpstream(api_key=KEY)

    async with (
        fake.serve() as base_url,
        AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=0) as sdk,
    ):
        reply = await sdk.responses.create(model=MODEL, input="hello there")

    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/v1")
    assert reply.output_text == "echo: hello there"
