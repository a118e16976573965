"""The fake Gemini upstream speaks the real wire format: proven with the google-genai SDK."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx2
import pytest
from google import genai
from google.genai import errors, types

from omniroute.testing import FakeGeminiUpstream, GeminiReply, Reply

KEY = "AIza-fake-up-1"
MODEL = "gemini-2.5-flash"
GENERATE = f"/v1beta/models/{MODEL}:generateContent"
STREAM = f"/v1beta/models/{MODEL}:streamGenerateContent"
USER = [{"role": "user", "parts": [{"text": "hello there"}]}]
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "OBJECT",
        "properties": {"city": {"type": "STRING"}, "unit": {"type": "STRING", "enum": ["c", "f"]}},
        "required": ["city", "unit"],
    },
}
TOOLS = [{"functionDeclarations": [WEATHER]}]
NO_AFC = types.AutomaticFunctionCallingConfig(disable=True)
WIRE = Path("/work/shared/fixtures/wire")

# google-genai subclasses aiohttp.ClientSession for its async client; not our warning.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)


@pytest.fixture
def fake() -> FakeGeminiUpstream:
    return FakeGeminiUpstream(api_key=KEY)


@pytest.fixture
async def base_url(aiohttp_server: Any, fake: FakeGeminiUpstream) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("")).rstrip("/")


def make_client(base_url: str, api_version: str = "v1beta", **options: Any) -> genai.Client:
    """The official SDK pointed at the fake (keep a reference: a dropped Client closes)."""
    http_options = types.HttpOptions(base_url=base_url, api_version=api_version, **options)
    return genai.Client(api_key=KEY, http_options=http_options)


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[genai.Client]:
    sdk = make_client(base_url)
    yield sdk
    await sdk.aio.aclose()


async def post_raw(
    base_url: str, path: str, body: Any, **headers: str
) -> tuple[int, bytes, dict[str, str]]:
    """POST ``body`` (bytes verbatim, anything else as JSON); return status, body, headers."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"x-goog-api-key": KEY, "Content-Type": "application/json", **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + path, data=data, headers=sent) as response,
    ):
        return response.status, await response.read(), dict(response.headers)


def sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    """The parsed ``data:`` payloads of a Gemini SSE body (CRLF framing, no terminator)."""
    text = raw.decode()
    assert text.endswith("\r\n\r\n"), "every event, including the last, ends with a blank line"
    chunks = []
    for block in text[: -len("\r\n\r\n")].split("\r\n\r\n"):
        assert block.startswith("data: "), block
        chunks.append(json.loads(block[len("data: ") :]))
    return chunks


def tool_config(**config: Any) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        **config,
        automatic_function_calling=NO_AFC,
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def call_turn(signature: str | None = None, name: str = "get_weather") -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"name": name, "args": {"city": "Paris"}}}
    if signature is not None:
        part["thoughtSignature"] = signature
    return {"role": "model", "parts": [part]}


def response_turn(*names: str) -> dict[str, Any]:
    parts = [{"functionResponse": {"name": n, "response": {"result": "18C"}}} for n in names]
    return {"role": "user", "parts": parts}


async def rejection(base_url: str, body: Any, path: str = GENERATE) -> dict[str, Any]:
    status, raw, _ = await post_raw(base_url, path, body)
    assert status == 400, raw
    error = json.loads(raw)["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    return error


# -- generateContent ------------------------------------------------------------------------------


async def test_response_has_the_key_sets_of_the_real_capture(base_url: str) -> None:
    captured = json.loads((WIRE / "gemini_generate_content.json").read_text())
    status, raw, headers = await post_raw(base_url, GENERATE, {"contents": USER})
    body = json.loads(raw)

    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert set(body) == set(captured)
    assert set(body["candidates"][0]) == set(captured["candidates"][0])
    assert set(body["candidates"][0]["content"]["parts"][0]) == {"text", "thoughtSignature"}
    assert set(body["usageMetadata"]) == set(captured["usageMetadata"]) - {"thoughtsTokenCount"}
    assert body["modelVersion"] == MODEL


async def test_sdk_generate_content_echoes_the_last_user_text(client: genai.Client) -> None:
    reply = await client.aio.models.generate_content(model=MODEL, contents="hello there")

    assert reply.text == "echo: hello there"
    assert reply.candidates is not None
    assert reply.candidates[0].finish_reason == types.FinishReason.STOP
    assert reply.usage_metadata is not None
    assert reply.usage_metadata.candidates_token_count == 3
    assert (
        reply.usage_metadata.total_token_count == (reply.usage_metadata.prompt_token_count or 0) + 3
    )
    assert reply.response_id


async def test_v1_api_version_is_served_too(base_url: str, fake: FakeGeminiUpstream) -> None:
    sdk = make_client(base_url, api_version="v1")
    reply = await sdk.aio.models.generate_content(model=MODEL, contents="hello there")
    await sdk.aio.aclose()

    assert reply.text == "echo: hello there"
    assert fake.requests[0].path == f"/v1/models/{MODEL}:generateContent"


async def test_snake_case_fields_are_accepted(base_url: str) -> None:
    body = {
        "contents": USER,
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {
            "max_output_tokens": 2,
            "thinking_config": {"include_thoughts": False},
        },
    }
    status, raw, _ = await post_raw(base_url, GENERATE, body)
    candidate = json.loads(raw)["candidates"][0]

    assert status == 200
    assert candidate["content"]["parts"][0]["text"] == "echo: hello"
    assert candidate["finishReason"] == "MAX_TOKENS"


async def test_include_thoughts_puts_a_thought_part_first(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(include_thoughts=True)
    )
    reply = await client.aio.models.generate_content(
        model=MODEL, contents="hello there", config=config
    )
    assert reply.candidates is not None and reply.candidates[0].content is not None
    parts = reply.candidates[0].content.parts or []

    assert parts[0].thought is True
    assert parts[0].text is not None and "hello there" in parts[0].text
    assert parts[1].text == "echo: hello there"
    assert reply.usage_metadata is not None
    assert (reply.usage_metadata.thoughts_token_count or 0) > 0


async def test_json_mime_type_answers_with_json_matching_the_schema(client: genai.Client) -> None:
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=WEATHER["parameters"]
    )
    reply = await client.aio.models.generate_content(
        model=MODEL, contents="hello there", config=config
    )

    assert json.loads(reply.text or "") == {"city": "test", "unit": "c"}


# -- streaming ------------------------------------------------------------------------------------


async def test_sdk_stream_splits_text_and_ends_with_finish_reason_and_usage(
    client: genai.Client,
) -> None:
    chunks = [
        chunk
        async for chunk in await client.aio.models.generate_content_stream(
            model=MODEL, contents="hello there"
        )
    ]
    last = chunks[-1]

    assert len(chunks) > 2
    assert "".join(chunk.text or "" for chunk in chunks) == "echo: hello there"
    assert [c.candidates[0].finish_reason for c in chunks if c.candidates][:-1] == [None] * (
        len(chunks) - 1
    )
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert last.usage_metadata.candidates_token_count == 3


async def test_sync_client_streams_over_httpx2(base_url: str) -> None:
    sdk = make_client(base_url)

    def collect() -> list[str]:
        stream = sdk.models.generate_content_stream(model=MODEL, contents="hello there")
        return [chunk.text or "" for chunk in stream]

    texts = await asyncio.to_thread(collect)
    sdk.close()

    assert texts == ["echo:", " hello", " there", ""]


async def test_sse_wire_matches_the_capture_framing_and_shapes(base_url: str) -> None:
    captured = sse_chunks((WIRE / "gemini_stream_text.sse").read_bytes())
    status, raw, headers = await post_raw(base_url, STREAM + "?alt=sse", {"contents": USER})
    chunks = sse_chunks(raw)

    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    assert "[DONE]" not in raw.decode()
    assert [set(c) for c in chunks] == [set(captured[0])] * len(chunks)
    last = chunks[-1]["candidates"][0]
    assert set(last) == set(captured[-1]["candidates"][0])
    assert [set(part) for part in last["content"]["parts"]] == [{"text", "thoughtSignature"}]
    assert last["content"]["parts"][0]["text"] == ""
    assert len({c["responseId"] for c in chunks}) == 1


async def test_stream_without_alt_sse_is_one_json_array(base_url: str) -> None:
    status, raw, headers = await post_raw(base_url, STREAM, {"contents": USER})
    chunks = json.loads(raw)

    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert isinstance(chunks, list)
    assert "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks) == (
        "echo: hello there"
    )
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_function_call_stream_sends_the_signed_call_whole_in_one_chunk(
    base_url: str,
) -> None:
    captured = sse_chunks((WIRE / "gemini_stream_function_call.sse").read_bytes())
    body = {"contents": USER, "tools": TOOLS}
    _, raw, _ = await post_raw(base_url, STREAM + "?alt=sse", body)
    chunks = sse_chunks(raw)
    parts = [c["candidates"][0]["content"]["parts"] for c in chunks]

    assert len(chunks) == len(captured)
    assert set(parts[0][0]) == set(captured[0]["candidates"][0]["content"]["parts"][0])
    assert parts[0][0]["functionCall"] == {
        "name": "get_weather",
        "args": {"city": "test", "unit": "c"},
    }
    assert parts[1] == [{"text": ""}]
    assert chunks[1]["candidates"][0]["finishReason"] == "STOP"


# -- function calling and thought signatures ------------------------------------------------------


async def ask(client: genai.Client, contents: Any, *, stream: bool) -> types.Content:
    """The model turn for ``contents``, merged from the stream or from one response."""
    if not stream:
        reply = await client.aio.models.generate_content(
            model=MODEL, contents=contents, config=tool_config()
        )
        assert reply.candidates is not None and reply.candidates[0].content is not None
        return reply.candidates[0].content
    parts: list[types.Part] = []
    async for chunk in await client.aio.models.generate_content_stream(
        model=MODEL, contents=contents, config=tool_config()
    ):
        assert chunk.candidates is not None and chunk.candidates[0].content is not None
        parts.extend(p for p in chunk.candidates[0].content.parts or [] if p.text != "")
    return types.Content(role="model", parts=parts)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_function_call_round_trip_echoes_the_thought_signature(
    client: genai.Client, fake: FakeGeminiUpstream, stream: bool
) -> None:
    question = types.Content(role="user", parts=[types.Part(text="weather in Paris?")])
    model_turn = await ask(client, [question], stream=stream)
    call = (model_turn.parts or [])[0]
    assert call.function_call is not None
    assert call.function_call.name == "get_weather"
    assert call.thought_signature

    answer = types.Content(
        role="user",
        parts=[types.Part.from_function_response(name="get_weather", response={"result": "18C"})],
    )
    final = await ask(client, [question, model_turn, answer], stream=stream)
    assert fake.last_request is not None
    sent = fake.last_request.json["contents"][1]["parts"][0]

    assert "".join(p.text or "" for p in final.parts or []) == "tool result: 18C"
    assert base64.urlsafe_b64decode(sent["thoughtSignature"]) == call.thought_signature


async def test_function_call_without_thought_signature_is_rejected(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(
            model=MODEL,
            contents=[user("weather?"), call_turn(), response_turn("get_weather")],
            config=tool_config(),
        )

    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == (
        "Function call is missing a thought_signature in functionCall parts. This is required "
        "for tools to work correctly, and missing thought_signature may lead to degraded model "
        "performance. Additional data, function call `default_api:get_weather` , position 2. "
        "Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
        "details."
    )


async def test_documented_bypass_signature_is_accepted(base_url: str) -> None:
    history = [
        user("weather?"),
        call_turn("skip_thought_signature_validator"),
        response_turn("get_weather"),
    ]
    status, raw, _ = await post_raw(base_url, GENERATE, {"contents": history, "tools": TOOLS})

    assert status == 200
    assert json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"] == "tool result: 18C"


async def test_hand_built_history_signed_by_the_fake_is_accepted(
    base_url: str, fake: FakeGeminiUpstream
) -> None:
    signature = fake.issue_thought_signature()
    history = [user("weather?"), call_turn(signature), response_turn("get_weather")]
    status, _, _ = await post_raw(base_url, GENERATE, {"contents": history, "tools": TOOLS})

    assert status == 200
    assert signature in fake.issued_signatures


async def test_forged_thought_signature_is_rejected(base_url: str) -> None:
    forged = base64.b64encode(b"not issued by the fake").decode()
    history = [user("weather?"), call_turn(forged), response_turn("get_weather")]
    error = await rejection(base_url, {"contents": history, "tools": TOOLS})

    assert error["message"] == "Unable to submit request because Thought signature is not valid."


async def test_signatures_of_earlier_turns_are_not_checked(base_url: str) -> None:
    history = [
        user("weather?"),
        call_turn(),
        response_turn("get_weather"),
        {"role": "model", "parts": [{"text": "18C"}]},
        user("thanks"),
    ]
    status, _, _ = await post_raw(base_url, GENERATE, {"contents": history})

    assert status == 200


async def test_signature_check_can_be_turned_off(aiohttp_server: Any) -> None:
    fake = FakeGeminiUpstream(api_key=KEY, require_thought_signatures=False)
    server = await aiohttp_server(fake.app)
    history = [user("weather?"), call_turn(), response_turn("get_weather")]
    status, _, _ = await post_raw(
        str(server.make_url("")).rstrip("/"), GENERATE, {"contents": history}
    )

    assert status == 200


async def test_consecutive_same_role_contents_are_rejected(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model=MODEL, contents=[user("one"), user("two")])

    assert caught.value.code == 400
    assert caught.value.message == (
        "Please ensure that multiturn requests alternate between user and model."
    )


async def test_function_response_count_must_match_the_call_turn(
    base_url: str, fake: FakeGeminiUpstream
) -> None:
    signature = fake.issue_thought_signature()
    two_calls = call_turn(signature)
    two_calls["parts"].append({"functionCall": {"name": "get_time", "args": {}}})
    history = [user("weather and time?"), two_calls, response_turn("get_weather")]
    error = await rejection(base_url, {"contents": history})

    assert error["message"] == (
        "Please ensure that the number of function response parts is equal to the number of "
        "function call parts of the function call turn."
    )


async def test_function_response_must_follow_a_function_call_turn(base_url: str) -> None:
    history = [user("hi"), {"role": "model", "parts": [{"text": "hello"}]}, response_turn("x")]
    error = await rejection(base_url, {"contents": history})

    assert error["message"] == (
        "Please ensure that function response turn comes immediately after a function call turn."
    )


async def test_function_response_for_another_function_is_rejected(
    base_url: str, fake: FakeGeminiUpstream
) -> None:
    history = [
        user("weather?"),
        call_turn(fake.issue_thought_signature()),
        response_turn("get_time"),
    ]
    error = await rejection(base_url, {"contents": history})

    assert error["message"] == "Request contains an invalid argument."


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "* GenerateContentRequest.contents: contents is not specified\n"),
        ({"contents": []}, "* GenerateContentRequest.contents: contents is not specified\n"),
        (
            {"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]},
            "Please use a valid role: user, model.",
        ),
        (
            {"contents": [{"role": "user", "parts": []}]},
            "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"thought": True}]}]},
            "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' "
            "must have one initialized field\n",
        ),
        (
            {"contents": [{"parts": [{"text": "hi", "cache_control": {}}]}]},
            'Invalid JSON payload received. Unknown name "cache_control" at '
            "'contents[0].parts[0]': Cannot find field.",
        ),
        (
            {"contents": USER, "generationConfig": {"thinkingConfig": {"budget": 5}}},
            'Invalid JSON payload received. Unknown name "budget" at '
            "'generation_config.thinking_config': Cannot find field.",
        ),
        (
            {"contents": USER, "tools": [{"functionDeclarations": [{"name": "bad name"}]}]},
            "The GenerateContentRequest proto is invalid:\n  * tools[0].function_declarations[0]"
            ".name: [FIELD_INVALID] Invalid function name. Must start with a letter or an "
            "underscore. Must be a-z, A-Z, 0-9, or contain underscores (_), dots (.), colons "
            "(:), or dashes (-), with a maximum length of 64.",
        ),
        (
            {"contents": USER, "toolConfig": {"functionCallingConfig": {"mode": "auto"}}},
            "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/"
            'google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "auto"',
        ),
    ],
    ids=[
        "no-contents",
        "empty-contents",
        "bad-role",
        "empty-parts",
        "no-data",
        "unknown-part-field",
        "unknown-config-field",
        "bad-function-name",
        "bad-enum",
    ],
)
async def test_invalid_request_is_a_400_naming_the_field(
    base_url: str, body: dict[str, Any], message: str
) -> None:
    error = await rejection(base_url, body)

    assert error["message"] == message


async def test_body_that_is_not_a_json_object_is_a_400(base_url: str) -> None:
    error = await rejection(base_url, b"[1, 2]")

    assert error["message"] == (
        'Invalid JSON payload received. Unknown name "": Root element must be a message.'
    )


async def test_array_stream_errors_come_wrapped_in_an_array(base_url: str) -> None:
    status, raw, _ = await post_raw(base_url, STREAM, {"contents": []})

    assert status == 400
    assert json.loads(raw)[0]["error"]["status"] == "INVALID_ARGUMENT"


async def test_rejected_requests_are_recorded_and_do_not_consume_the_queue(
    base_url: str, fake: FakeGeminiUpstream
) -> None:
    fake.enqueue(GeminiReply.error(503))
    await rejection(base_url, {"contents": []})

    assert fake.pending == 1
    assert fake.requests[0].json == {"contents": []}


# -- auth -----------------------------------------------------------------------------------------


async def test_wrong_api_key_is_the_real_api_key_invalid_error(base_url: str) -> None:
    sdk = genai.Client(
        api_key="AIza-wrong",
        http_options=types.HttpOptions(base_url=base_url, api_version="v1beta"),
    )
    with pytest.raises(errors.ClientError) as caught:
        await sdk.aio.models.generate_content(model=MODEL, contents="hi")
    await sdk.aio.aclose()

    assert caught.value.code == 400
    assert caught.value.message == "API key not valid. Please pass a valid API key."
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


async def test_key_query_parameter_is_accepted(base_url: str) -> None:
    status, _, _ = await post_raw(
        base_url, GENERATE + f"?key={KEY}", {"contents": USER}, **{"x-goog-api-key": ""}
    )

    assert status == 200


async def test_missing_key_is_a_403_permission_denied(base_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + GENERATE, json={"contents": USER}) as response,
    ):
        error = (await response.json())["error"]

    assert response.status == 403
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"].startswith("Method doesn't allow unregistered callers")


async def test_api_key_sent_as_bearer_token_is_a_401(base_url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            base_url + GENERATE,
            json={"contents": USER},
            headers={"Authorization": f"Bearer {KEY}"},
        ) as response,
    ):
        error = (await response.json())["error"]

    assert response.status == 401
    assert error["status"] == "UNAUTHENTICATED"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"


# -- scripted replies -----------------------------------------------------------------------------


async def test_queued_429_raises_client_error_with_retry_info(
    client: genai.Client, fake: FakeGeminiUpstream
) -> None:
    captured = json.loads((WIRE / "gemini_error_429.json").read_text())
    fake.enqueue(GeminiReply.error(429, retry_delay="7s"))

    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model=MODEL, contents="hi")

    assert caught.value.code == 429
    assert caught.value.status == "RESOURCE_EXHAUSTED"
    assert set(caught.value.details["error"]) == set(captured["error"])
    assert caught.value.details["error"]["details"] == [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    ]
    assert fake.pending == 0


async def test_queued_503_raises_server_error(
    client: genai.Client, fake: FakeGeminiUpstream
) -> None:
    fake.enqueue(GeminiReply.error(503))

    with pytest.raises(errors.ServerError) as caught:
        await client.aio.models.generate_content(model=MODEL, contents="hi")

    assert caught.value.status == "UNAVAILABLE"
    assert caught.value.message == "The model is overloaded. Please try again later."


@pytest.mark.parametrize("raw", [False, True], ids=["data-line", "raw-json"])
async def test_midstream_error_raises_after_the_first_chunks(
    client: genai.Client, fake: FakeGeminiUpstream, raw: bool
) -> None:
    fake.enqueue(GeminiReply.midstream_error(after_chunks=2, raw=raw))
    received = []

    with pytest.raises(errors.ServerError) as caught:
        async for chunk in await client.aio.models.generate_content_stream(
            model=MODEL, contents="hello there"
        ):
            received.append(chunk.text)

    assert received == ["echo:", " hello"]
    assert caught.value.code == 500
    assert caught.value.status == "INTERNAL"


async def test_cut_stream_breaks_the_body_after_the_first_chunks(
    client: genai.Client, fake: FakeGeminiUpstream
) -> None:
    fake.enqueue(GeminiReply.cut(after_chunks=1))
    received = []

    # google-genai's async client uses aiohttp when it is installed, httpx2 otherwise.
    with pytest.raises((aiohttp.ClientPayloadError, httpx2.RemoteProtocolError)):
        async for chunk in await client.aio.models.generate_content_stream(
            model=MODEL, contents="hello there"
        ):
            received.append(chunk.text)

    assert received == ["echo:"]


async def test_hang_makes_the_client_time_out(base_url: str, fake: FakeGeminiUpstream) -> None:
    fake.enqueue(GeminiReply.hang(30))
    sdk = make_client(base_url, timeout=300)

    with pytest.raises((TimeoutError, httpx2.TimeoutException)):
        await sdk.aio.models.generate_content(model=MODEL, contents="hi")
    await sdk.aio.aclose()


async def test_slow_stream_pauses_between_chunks(
    client: genai.Client, fake: FakeGeminiUpstream
) -> None:
    fake.enqueue(GeminiReply.slow_stream(gap=0.05))
    arrivals = []

    async for _ in await client.aio.models.generate_content_stream(
        model=MODEL, contents="hello there"
    ):
        arrivals.append(time.monotonic())

    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(arrivals) == 4
    assert min(gaps) >= 0.03


async def test_explicit_stream_reply_sends_the_given_chunks(
    client: genai.Client, fake: FakeGeminiUpstream
) -> None:
    chunk = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "scripted"}]}}],
        "responseId": "r-1",
    }
    fake.enqueue(
        GeminiReply.stream(
            [
                chunk,
                # verbatim text, framed by the caller (here with LF line endings)
                'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"!"}]},'
                '"finishReason":"STOP"}]}\n\n',
            ]
        )
    )

    texts = [
        c.text
        async for c in await client.aio.models.generate_content_stream(model=MODEL, contents="x")
    ]

    assert texts == ["scripted", "!"]


async def test_openai_fake_replies_are_translated_to_gemini_errors(
    client: genai.Client, fake: FakeGeminiUpstream
) -> None:
    fake.enqueue(Reply.error(429, "slow down"))

    with pytest.raises(errors.ClientError) as caught:
        await client.aio.models.generate_content(model=MODEL, contents="hi")

    assert caught.value.details == {
        "error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}
    }


# -- countTokens and models -----------------------------------------------------------------------


async def test_count_tokens_matches_the_prompt_tokens_of_the_same_contents(
    client: genai.Client,
) -> None:
    count = await client.aio.models.count_tokens(model=MODEL, contents="hello there")
    reply = await client.aio.models.generate_content(model=MODEL, contents="hello there")

    assert count.total_tokens is not None and count.total_tokens > 0
    assert reply.usage_metadata is not None
    assert count.total_tokens == reply.usage_metadata.prompt_token_count


async def test_models_list_has_the_gemini_shape(aiohttp_server: Any) -> None:
    fake = FakeGeminiUpstream(api_key=KEY, models=["gemini-2.5-flash"])
    server = await aiohttp_server(fake.app)
    async with (
        aiohttp.ClientSession() as session,
        session.get(str(server.make_url("/v1beta/models")), headers={"x-goog-api-key": KEY}) as r,
    ):
        body = await r.json()

    model = body["models"][0]
    assert set(body) == {"models"}
    assert model["name"] == "models/gemini-2.5-flash"
    assert model["displayName"] == "Gemini 2.5 Flash"
    assert "generateContent" in model["supportedGenerationMethods"]
    assert {"inputTokenLimit", "outputTokenLimit", "version"} <= set(model)


async def test_sdk_pages_through_the_models_list(
    client: genai.Client, fake: FakeGeminiUpstream
) -> None:
    names = [model.name async for model in await client.aio.models.list(config={"page_size": 4})]
    one = await client.aio.models.get(model="gemini-3-pro-preview")

    assert names == [f"models/{model}" for model in fake.models]
    assert len([r for r in fake.requests if r.path == "/v1beta/models"]) == 2
    assert one.display_name == "Gemini 3 Pro Preview"


async def test_serve_runs_standalone_with_a_base_url_without_version() -> None:
    fake = FakeGeminiUpstream(api_key=KEY)

    async with fake.serve() as base_url:
        sdk = make_client(base_url)
        reply = await sdk.aio.models.generate_content(model=MODEL, contents="hello there")
        await sdk.aio.aclose()

    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.count("/") == 2
    assert reply.text == "echo: hello there"
