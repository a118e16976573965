"""The OpenAI Responses codec: requests, responses and streams to and from the IR.

Golden tests read the real captures in ``../shared/fixtures/wire/`` when they are there (and
skip otherwise); every core behaviour is also pinned by a small inline fixture of the same
shape, so the suite never depends on that folder. Encoded streams are checked against the
official ``openai`` SDK's types, and read by the SDK itself over a real socket.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import openai
import orjson
import pydantic
import pytest
from aiohttp import web
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_create_params import ResponseCreateParamsStreaming

from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.formats import ir
from omniroute.formats.base import Format
from omniroute.formats.responses import ResponsesFormat, register_formats
from omniroute.formats.responses_wire import usage_from_wire, usage_to_wire
from omniroute.gateway.sse import SSEScanner
from omniroute.testing.fake_responses_validation import validate_responses_request

FMT = ResponsesFormat()
WIRE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "wire"
EVENT_ADAPTER: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
CAPTURES = [
    "responses_stream_text.sse",
    "responses_stream_function_call.sse",
    "responses_stream_error_insufficient_quota.sse",
]
SIG = "gAAAAABo2TA-encrypted-reasoning"  # the shape of OpenAI's encrypted_content


def capture(name: str) -> bytes:
    """A real capture from the shared fixtures, or skip the test when it is not there."""
    path = WIRE / name
    if not path.exists():
        pytest.skip(f"capture {name} not available")
    return path.read_bytes()


def sse(*payloads: dict[str, Any]) -> bytes:
    """A Responses stream: each payload as ``event: <type>`` + ``data:``, numbered from 0."""
    out = b""
    for n, payload in enumerate(payloads):
        body = {"type": payload["type"], "sequence_number": n, **payload}
        out += b"event: " + body["type"].encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"
    return out


def decode(raw: bytes, pieces: list[int] | None = None) -> list[ir.Event]:
    """Decode a whole stream, fed in pieces of the given sizes (one piece by default)."""
    decoder = FMT.stream_decoder()
    events: list[ir.Event] = []
    start = 0
    for size in pieces or []:
        events += decoder.feed(raw[start : start + size])
        start += size
    events += decoder.feed(raw[start:])
    return events + decoder.close()


def frames(stream: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """The ``(event name, data)`` pairs of an encoded stream, in order."""
    out = []
    for raw, data in SSEScanner().feed(stream):
        name = None
        for line in raw.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
        assert data is not None
        out.append((name, orjson.loads(data)))
    return out


def encode(events: list[ir.Event], model: str = "gpt-5", client: Any = None) -> bytes:
    encoder = FMT.stream_encoder(model, client)
    return encoder.encode(events) + encoder.finish()


def arguments(events: list[ir.Event], index: int) -> str:
    return "".join(
        e.fragment for e in events if isinstance(e, ir.ToolArgumentsDelta) and e.index == index
    )


def response_shell(status: str = "in_progress", **fields: Any) -> dict[str, Any]:
    """The ``response`` object of the captures (only the fields the codec reads vary)."""
    return {
        "id": "resp_inline",
        "object": "response",
        "created_at": 1758982136,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": "gpt-5-2025-08-07",
        "output": [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": None,
        **fields,
    }


USAGE = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 1024},
    "output_tokens": 40,
    "output_tokens_details": {"reasoning_tokens": 16},
    "total_tokens": 1240,
}

MESSAGE_ITEM = {
    "id": "msg_1",
    "type": "message",
    "status": "completed",
    "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hello"}],
    "role": "assistant",
}


def text_stream(*, terminal: str = "response.completed", **terminal_fields: Any) -> bytes:
    """The event sequence of ``responses_stream_text.sse``, inline."""
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    done = {**part, "text": "Hello world"}
    return sse(
        {"type": "response.created", "response": response_shell()},
        {"type": "response.in_progress", "response": response_shell()},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**MESSAGE_ITEM, "status": "in_progress", "content": []},
        },
        {"type": "response.content_part.added", **where, "part": part},
        {"type": "response.output_text.delta", **where, "delta": "Hello", "logprobs": []},
        {"type": "response.output_text.delta", **where, "delta": " world", "logprobs": []},
        {"type": "response.output_text.done", **where, "text": "Hello world", "logprobs": []},
        {"type": "response.content_part.done", **where, "part": done},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**MESSAGE_ITEM, "content": [done]},
        },
        {
            "type": terminal,
            "response": response_shell(
                "completed" if terminal == "response.completed" else "incomplete",
                output=[{**MESSAGE_ITEM, "content": [done]}],
                usage=USAGE,
                **terminal_fields,
            ),
        },
    )


def call_item(n: int, status: str = "completed", arguments: str = "") -> dict[str, Any]:
    return {
        "id": f"fc_{n}",
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": f"call_{n}",
        "name": "get_weather",
    }


def parallel_calls_stream() -> bytes:
    """Two function calls, one after the other, as the API streams parallel calls."""
    events: list[dict[str, Any]] = [{"type": "response.created", "response": response_shell()}]
    for n, city in ((0, "Paris"), (1, "Rome")):
        args = orjson.dumps({"city": city}).decode()
        where = {"item_id": f"fc_{n}", "output_index": n}
        events += [
            {
                "type": "response.output_item.added",
                "output_index": n,
                "item": call_item(n, "in_progress"),
            },
            {"type": "response.function_call_arguments.delta", **where, "delta": args[:5]},
            {"type": "response.function_call_arguments.delta", **where, "delta": args[5:]},
            {"type": "response.function_call_arguments.done", **where, "arguments": args},
            {"type": "response.output_item.done", "output_index": n, "item": call_item(n)},
        ]
    events.append({"type": "response.completed", "response": response_shell("completed")})
    return sse(*events)


def reasoning_stream() -> bytes:
    """A reasoning item with two summary parts and encrypted content, then the answer."""
    where = {"item_id": "rs_1", "output_index": 0}
    item = {"id": "rs_1", "type": "reasoning", "summary": []}
    summary = [
        {"type": "summary_text", "text": "**Plan**"},
        {"type": "summary_text", "text": "Say hi."},
    ]
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": response_shell()},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
    ]
    for index, part in enumerate(summary):
        at = {**where, "summary_index": index}
        events += [
            {
                "type": "response.reasoning_summary_part.added",
                **at,
                "part": {"type": "summary_text", "text": ""},
            },
            {"type": "response.reasoning_summary_text.delta", **at, "delta": part["text"]},
            {"type": "response.reasoning_summary_text.done", **at, "text": part["text"]},
            {"type": "response.reasoning_summary_part.done", **at, "part": part},
        ]
    events += [
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {**item, "summary": summary, "encrypted_content": SIG},
        },
        {"type": "response.completed", "response": response_shell("completed")},
    ]
    return sse(*events)


RICH_REQUEST: dict[str, Any] = {
    "model": "gpt-5",
    "instructions": "Be brief.",
    "input": [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Weather in this picture's cities?"},
                {
                    "type": "input_image",
                    "image_url": "data:image/png;base64,iVBORw0K",
                    "detail": "auto",
                },
                {"type": "input_image", "image_url": "https://example.com/m.jpg", "detail": "low"},
            ],
        },
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "Two cities."}],
            "encrypted_content": SIG,
        },
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
        },
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {
            "type": "function_call",
            "call_id": "call_2",
            "name": "get_weather",
            "arguments": '{"city": "Rome"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"type": "function_call_output", "call_id": "call_2", "output": "25C"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Thanks"}]},
    ],
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            "strict": False,
        },
        {"type": "web_search"},
    ],
    "tool_choice": {"type": "function", "name": "get_weather"},
    "parallel_tool_calls": True,
    "reasoning": {"effort": "low", "summary": "auto"},
    "text": {
        "format": {
            "type": "json_schema",
            "name": "answer",
            "schema": {"type": "object"},
            "strict": True,
        },
        "verbosity": "low",
    },
    "max_output_tokens": 500,
    "temperature": 0.2,
    "top_p": 0.9,
    "stream": True,
    "user": "u-1",
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "metadata": {"team": "a"},
    "prompt_cache_key": "k-1",
}


def body_with(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-5", "input": "hi", **fields}


def user(*parts: ir.Part) -> ir.Message:
    return ir.Message("user", list(parts))


def assistant(*parts: ir.Part) -> ir.Message:
    return ir.Message("assistant", list(parts))


def without_responses_extras(parts: list[ir.Part]) -> list[ir.Part]:
    """The parts with what only Responses keeps (item ids, statuses) taken out."""
    out = []
    for part in parts:
        part = copy.deepcopy(part)
        part.extras.pop("responses", None)
        out.append(part)
    return out


# -- the format ---------------------------------------------------------------------------------


def test_responses_format_is_id_responses_and_translates():
    assert (FMT.id, FMT.translates) == ("responses", True)


def test_register_formats_registers_one_responses_format():
    registered: list[Format] = []
    register_formats(registered.append)
    assert [type(f) for f in registered] == [ResponsesFormat]


# -- errors -------------------------------------------------------------------------------------


def test_error_body_is_openai_shaped_with_the_api_rate_limit_code():
    body = orjson.loads(FMT.error_body(GatewayError(ErrorKind.RATE_LIMITED, "slow down")))
    assert body == {
        "error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
            "param": None,
        }
    }


def test_error_body_keeps_a_code_the_provider_gave():
    err = GatewayError(ErrorKind.BAD_REQUEST, "too long", code="context_length_exceeded")
    assert orjson.loads(FMT.error_body(err))["error"]["code"] == "context_length_exceeded"


def test_stream_error_event_is_an_error_then_response_failed():
    out = FMT.stream_error_event(GatewayError(ErrorKind.QUOTA_EXHAUSTED, "no credit"))
    (name, error), (failed_name, failed) = frames(out)
    assert (name, failed_name) == ("error", "response.failed")
    assert error == {
        "type": "error",
        "code": "insufficient_quota",
        "message": "no credit",
        "param": None,
        "error": {
            "message": "no credit",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
            "param": None,
        },
    }
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "insufficient_quota", "message": "no credit"}
    assert out.endswith(b"\n\n")


def test_stream_error_event_decodes_to_the_same_kind():
    out = FMT.stream_error_event(GatewayError(ErrorKind.RATE_LIMITED, "slow down"))
    assert decode(out) == [ir.StreamError("rate_limited", "slow down", 429)]


# -- parsing requests ---------------------------------------------------------------------------


def test_instructions_become_the_system_prompt():
    assert FMT.parse_request(body_with(instructions="Be brief.")).system == [
        ir.TextPart("Be brief.")
    ]


def test_a_string_input_is_one_user_message():
    assert FMT.parse_request(body_with(input="hello")).messages == [user(ir.TextPart("hello"))]


def test_a_message_without_type_and_with_string_content_is_a_message():
    request = FMT.parse_request(body_with(input=[{"role": "user", "content": "hi there"}]))
    assert request.messages == [user(ir.TextPart("hi there"))]


def test_input_text_and_images_become_text_and_image_parts():
    request = FMT.parse_request(RICH_REQUEST)
    assert request.messages[0] == user(
        ir.TextPart("Weather in this picture's cities?"),
        ir.ImagePart(data="iVBORw0K", media_type="image/png", detail="auto"),
        ir.ImagePart(url="https://example.com/m.jpg", detail="low"),
    )


def test_system_and_developer_messages_join_the_system_prompt():
    request = FMT.parse_request(
        body_with(
            instructions="one",
            input=[
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "two"}],
                },
                {"role": "system", "content": "three"},
                {"role": "user", "content": "hi"},
            ],
        )
    )
    assert [p.text for p in request.system] == ["one", "two", "three"]
    assert request.messages == [user(ir.TextPart("hi"))]


def test_reasoning_message_and_function_calls_make_one_assistant_turn_in_order():
    turn = FMT.parse_request(RICH_REQUEST).messages[1]
    assert turn.role == "assistant"
    assert [type(p) for p in turn.parts] == [
        ir.ThinkingPart,
        ir.TextPart,
        ir.ToolCallPart,
        ir.ToolCallPart,
    ]
    assert turn.parts[2:] == [
        ir.ToolCallPart("call_1", "get_weather", '{"city":"Paris"}'),
        ir.ToolCallPart("call_2", "get_weather", '{"city": "Rome"}'),
    ]


def test_function_call_outputs_become_one_user_turn_of_results_named_after_the_calls():
    results = FMT.parse_request(RICH_REQUEST).messages[2]
    assert results == user(
        ir.ToolResultPart("call_1", [ir.TextPart("18C")], name="get_weather"),
        ir.ToolResultPart("call_2", [ir.TextPart("25C")], name="get_weather"),
    )


def test_a_function_call_output_of_parts_becomes_result_content():
    output = [
        {"type": "input_text", "text": "see"},
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "high"},
    ]
    request = FMT.parse_request(
        body_with(input=[{"type": "function_call_output", "call_id": "c", "output": output}])
    )
    result = request.messages[0].parts[0]
    assert isinstance(result, ir.ToolResultPart)
    assert result.content == [
        ir.TextPart("see"),
        ir.ImagePart(url="https://x/y.png", detail="high"),
    ]


def test_a_reasoning_item_is_thinking_with_its_encrypted_content_as_signature():
    thinking = FMT.parse_request(RICH_REQUEST).messages[1].parts[0]
    assert isinstance(thinking, ir.ThinkingPart)
    assert (thinking.text, thinking.signature) == ("Two cities.", SIG)


def test_reasoning_summary_parts_are_joined_by_blank_lines():
    item = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "a"}, {"type": "summary_text", "text": "b"}],
    }
    thinking = FMT.parse_request(body_with(input=[item])).messages[0].parts[0]
    assert isinstance(thinking, ir.ThinkingPart) and thinking.text == "a\n\nb"


def test_unknown_input_items_are_kept_with_their_position(caplog):
    reference = {"type": "item_reference", "id": "msg_old"}
    with caplog.at_level(logging.WARNING):
        request = FMT.parse_request(body_with(input=[{"role": "user", "content": "a"}, reference]))
    assert request.extras["responses_unknown"] == [[1, reference]]
    assert "item_reference" in caplog.text


def test_unknown_input_items_are_restored_where_they_were():
    body = body_with(
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"}]},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        ],
        store=False,
    )
    assert FMT.render_request(FMT.parse_request(body))["input"] == body["input"]


def test_unknown_content_parts_are_kept_on_their_message_and_restored():
    pdf = {"type": "input_file", "file_id": "file-1"}
    body = body_with(
        input=[
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "read"}, pdf],
            }
        ],
        store=False,
    )
    request = FMT.parse_request(body)
    assert request.messages[0].parts == [ir.TextPart("read")]
    assert FMT.render_request(request)["input"] == body["input"]


def test_function_tools_are_flat_and_keep_name_description_parameters_and_strict():
    assert FMT.parse_request(RICH_REQUEST).tools == [
        ir.Tool(
            name="get_weather",
            description="Weather for a city",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            strict=False,
        )
    ]


def test_non_function_tools_travel_in_extras():
    request = FMT.parse_request(RICH_REQUEST)
    assert request.extras["responses_tools"] == [[1, {"type": "web_search"}]]


@pytest.mark.parametrize(
    ("wire", "choice"),
    [
        ("auto", ir.ToolChoice("auto")),
        ("none", ir.ToolChoice("none")),
        ("required", ir.ToolChoice("required")),
        ({"type": "function", "name": "f"}, ir.ToolChoice("tool", "f")),
    ],
)
def test_tool_choice_modes_translate_both_ways(wire, choice):
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False}]
    request = FMT.parse_request(body_with(tools=tools, tool_choice=wire))
    assert request.tool_choice == choice
    assert FMT.render_request(request)["tool_choice"] == wire


def test_a_tool_choice_the_ir_cannot_hold_stays_in_extras():
    choice = {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]}
    request = FMT.parse_request(body_with(tool_choice=choice))
    assert request.tool_choice is None
    assert request.extras["responses"]["tool_choice"] == choice


def test_generation_parameters_are_read():
    request = FMT.parse_request(RICH_REQUEST)
    assert (request.max_tokens, request.temperature, request.top_p) == (500, 0.2, 0.9)
    assert (request.parallel_tool_calls, request.stream, request.user) == (True, True, "u-1")


@pytest.mark.parametrize(
    ("wire", "reasoning"),
    [
        ({"effort": "minimal"}, ir.Reasoning(effort="minimal")),
        ({"effort": "high"}, ir.Reasoning(effort="high")),
        ({"effort": "xhigh"}, ir.Reasoning(effort="high")),
        ({"effort": "none"}, ir.Reasoning(enabled=False)),
        ({"summary": "auto"}, ir.Reasoning()),
    ],
)
def test_reasoning_effort_becomes_reasoning(wire, reasoning):
    assert FMT.parse_request(body_with(reasoning=wire)).reasoning == reasoning


@pytest.mark.parametrize(
    "wire", [{"effort": "xhigh"}, {"effort": "none"}, {"effort": "low", "summary": "detailed"}]
)
def test_reasoning_the_ir_cannot_say_renders_back_as_it_came(wire):
    assert FMT.render_request(FMT.parse_request(body_with(reasoning=wire)))["reasoning"] == wire


@pytest.mark.parametrize(
    ("wire", "parsed"),
    [
        ({"type": "text"}, ir.ResponseFormat("text")),
        ({"type": "json_object"}, ir.ResponseFormat("json_object")),
        (
            {"type": "json_schema", "name": "a", "schema": {"type": "object"}, "strict": True},
            ir.ResponseFormat("json_schema", schema={"type": "object"}, name="a", strict=True),
        ),
    ],
)
def test_text_format_translates_both_ways(wire, parsed):
    request = FMT.parse_request(body_with(text={"format": wire}))
    assert request.response_format == parsed
    assert FMT.render_request(request)["text"] == {"format": wire}


def test_text_verbosity_stays_in_extras_beside_the_format():
    request = FMT.parse_request(RICH_REQUEST)
    assert request.extras["responses"]["text"] == {"verbosity": "low"}
    assert FMT.render_request(request)["text"]["verbosity"] == "low"


def test_unknown_fields_travel_in_responses_extras():
    extras = FMT.parse_request(RICH_REQUEST).extras["responses"]
    assert {k: extras[k] for k in ("store", "include", "metadata", "prompt_cache_key")} == {
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "metadata": {"team": "a"},
        "prompt_cache_key": "k-1",
    }


def test_input_that_is_neither_string_nor_array_is_a_bad_request():
    with pytest.raises(BadRequest) as caught:
        FMT.parse_request(body_with(input=5))
    assert caught.value.param == "input"


def test_an_input_item_that_is_not_an_object_is_a_bad_request():
    with pytest.raises(BadRequest, match=r"input\[0\]"):
        FMT.parse_request(body_with(input=["hi"]))


# -- rendering requests -------------------------------------------------------------------------


def test_a_request_renders_back_to_the_body_it_came_from():
    assert FMT.render_request(FMT.parse_request(RICH_REQUEST)) == RICH_REQUEST


def test_a_request_round_trips_through_the_ir():
    parsed = FMT.parse_request(RICH_REQUEST)
    assert FMT.parse_request(FMT.render_request(parsed)) == parsed


def test_item_ids_and_statuses_the_client_sent_are_kept():
    item = {"type": "function_call", "id": "fc_9", "status": "completed"}
    item |= {"call_id": "c", "name": "f", "arguments": "{}"}
    body = body_with(input=[item], store=True)
    assert FMT.render_request(FMT.parse_request(body))["input"] == [item]


def test_tool_results_render_right_after_the_calls_and_before_the_user_text():
    request = ir.Request(
        model="m",
        messages=[
            assistant(ir.TextPart("Checking."), ir.ToolCallPart("t1", "f", '{"a":1}')),
            user(ir.TextPart("and?"), ir.ToolResultPart("t1", [ir.TextPart("ok")])),
        ],
    )
    assert FMT.render_request(request)["input"] == [
        {"type": "message", "role": "assistant", "content": "Checking."},
        {"type": "function_call", "call_id": "t1", "name": "f", "arguments": '{"a":1}'},
        {"type": "function_call_output", "call_id": "t1", "output": "ok"},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and?"}]},
    ]


def test_tool_results_with_images_render_as_output_parts():
    result = ir.ToolResultPart(
        "t1", [ir.TextPart("see"), ir.ImagePart(data="AAA", media_type="image/jpeg")]
    )
    item = FMT.render_request(ir.Request(model="m", messages=[user(result)]))["input"][0]
    assert item["output"] == [
        {"type": "input_text", "text": "see"},
        {"type": "input_image", "image_url": "data:image/jpeg;base64,AAA", "detail": "auto"},
    ]


def test_consecutive_text_parts_of_another_format_render_as_one_string_message():
    request = ir.Request(model="m", messages=[assistant(ir.TextPart("a"), ir.TextPart("b"))])
    assert FMT.render_request(request)["input"] == [
        {"type": "message", "role": "assistant", "content": "ab"}
    ]


def test_a_translated_request_is_valid_for_the_sdk_request_type():
    request = ir.Request(
        model="gpt-5",
        system=[ir.TextPart("Be brief.")],
        messages=[
            user(ir.TextPart("Weather?"), ir.ImagePart(data="AAA", media_type="image/png")),
            assistant(ir.TextPart("Checking."), ir.ToolCallPart("toolu_1", "get_weather", "{}")),
            user(ir.ToolResultPart("toolu_1", [ir.TextPart("18C")]), ir.TextPart("Thanks")),
        ],
        tools=[ir.Tool("get_weather", "Weather", {"type": "object", "properties": {}})],
        tool_choice=ir.ToolChoice("tool", "get_weather"),
        parallel_tool_calls=False,
        max_tokens=1024,
        temperature=0.5,
        stream=True,
        reasoning=ir.Reasoning(budget_tokens=2048),
        response_format=ir.ResponseFormat("json_schema", schema={"type": "object"}, name="a"),
    )
    params = pydantic.TypeAdapter(ResponseCreateParamsStreaming)
    params.validate_python(FMT.render_request(request))
    validate_responses_request(FMT.render_request(request), {})  # the fake upstream's rules


def test_a_json_schema_format_without_a_schema_renders_as_json_object():
    request = ir.Request(model="m", response_format=ir.ResponseFormat("json_schema", name="a"))
    assert FMT.render_request(request)["text"] == {"format": {"type": "json_object"}}


def test_thinking_signed_by_another_provider_is_dropped():
    request = ir.Request(
        model="m",
        messages=[
            assistant(
                ir.ThinkingPart("hmm", signature="EqQBCkYIBxgC-anthropic"),
                ir.ThinkingPart("plain"),
                ir.ThinkingPart(redacted=True, data="opaque"),
                ir.TextPart("Hi"),
            )
        ],
    )
    assert [item["type"] for item in FMT.render_request(request)["input"]] == ["message"]


def test_thinking_with_openai_encrypted_content_renders_as_a_reasoning_item():
    request = ir.Request(model="m", messages=[assistant(ir.ThinkingPart("t", signature=SIG))])
    assert FMT.render_request(request)["input"] == [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "t"}],
            "encrypted_content": SIG,
        }
    ]


def test_unsigned_thinking_with_its_item_id_renders_for_stored_responses():
    item = {"type": "reasoning", "id": "rs_1", "summary": []}
    body = body_with(input=[item], store=True)
    assert FMT.render_request(FMT.parse_request(body))["input"] == [item]


def test_a_translated_request_is_not_stored_and_asks_for_encrypted_reasoning():
    request = ir.Request(model="m", reasoning=ir.Reasoning(budget_tokens=10000))
    body = FMT.render_request(request)
    assert body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["reasoning"] == {"effort": "high"}


def test_without_reasoning_nothing_is_included():
    assert "include" not in FMT.render_request(ir.Request(model="m"))


def test_disabled_reasoning_sends_no_reasoning():
    body = FMT.render_request(ir.Request(model="m", reasoning=ir.Reasoning(enabled=False)))
    assert "reasoning" not in body and "include" not in body


def test_function_tools_always_say_strict():
    request = ir.Request(model="m", tools=[ir.Tool(name="f", parameters={"type": "object"})])
    assert FMT.render_request(request)["tools"] == [
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": False}
    ]


def test_tool_choice_and_parallel_tool_calls_go_only_with_tools():
    request = ir.Request(model="m", tool_choice=ir.ToolChoice("none"), parallel_tool_calls=False)
    body = FMT.render_request(request)
    assert "tool_choice" not in body and "parallel_tool_calls" not in body


def test_max_output_tokens_is_at_least_the_api_minimum():
    assert FMT.render_request(ir.Request(model="m", max_tokens=1))["max_output_tokens"] == 16


def test_stop_sequences_and_top_k_are_dropped():
    body = FMT.render_request(ir.Request(model="m", stop=["END"], top_k=5))
    assert not {"stop", "stop_sequences", "top_k"} & body.keys()


def test_several_system_parts_render_as_one_instructions_string():
    request = ir.Request(model="m", system=[ir.TextPart("one"), ir.TextPart("two")])
    assert FMT.render_request(request)["instructions"] == "one\n\ntwo"


def test_a_plain_user_turn_renders_as_a_typed_message_with_input_text():
    body = FMT.render_request(ir.Request(model="m", messages=[user(ir.TextPart("hi"))]))
    assert body["input"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ]


# -- responses ----------------------------------------------------------------------------------

RESPONSE: dict[str, Any] = {
    **response_shell("completed"),
    "output": [
        {
            "id": "rs_1",
            "type": "reasoning",
            "encrypted_content": SIG,
            "summary": [{"type": "summary_text", "text": "Need weather."}],
        },
        MESSAGE_ITEM,
        call_item(0, arguments='{"city":"Paris"}'),
        call_item(1, arguments='{"city":"Rome"}'),
    ],
    "usage": USAGE,
    "store": False,
}


def test_capture_response_parses_to_its_text_stop_reason_and_usage():
    response = FMT.parse_response(orjson.loads(capture("responses_nonstream_text.json")))
    assert [p.text for p in response.parts if isinstance(p, ir.TextPart)] == [
        "Why did the scarecrow win an award?\n\nBecause he was outstanding in his field!"
    ]
    assert (response.id, response.model) == (
        "resp_0388c79043df3e3400695f9f83cd6481959062cec6830d8d51",
        "gpt-4o-mini-2024-07-18",
    )
    assert response.stop_reason == "end_turn"
    assert response.usage == ir.Usage(input=11, output=18)


def test_capture_response_renders_back_exactly():
    body = orjson.loads(capture("responses_nonstream_text.json"))
    assert FMT.render_response(FMT.parse_response(body)) == body


def test_reasoning_message_and_calls_parse_in_order_with_the_tool_use_stop():
    response = FMT.parse_response(RESPONSE)
    assert without_responses_extras(response.parts) == [
        ir.ThinkingPart("Need weather.", signature=SIG),
        ir.TextPart("Hello"),
        ir.ToolCallPart("call_0", "get_weather", '{"city":"Paris"}'),
        ir.ToolCallPart("call_1", "get_weather", '{"city":"Rome"}'),
    ]
    assert response.stop_reason == "tool_use"


def test_response_renders_back_with_every_field_it_had():
    rendered = FMT.render_response(FMT.parse_response(RESPONSE))
    assert {key: rendered[key] for key in RESPONSE} == RESPONSE


def test_response_usage_input_excludes_cached_tokens():
    assert FMT.parse_response(RESPONSE).usage == ir.Usage(
        input=176, output=40, cache_read=1024, reasoning=16
    )


def test_usage_renders_input_tokens_including_cache_reads_and_writes():
    usage = usage_to_wire(ir.Usage(input=10, output=5, cache_read=20, cache_write=3, reasoning=2))
    assert usage == {
        "input_tokens": 33,
        "input_tokens_details": {"cached_tokens": 20, "cache_write_tokens": 3},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 38,
    }
    assert usage_from_wire(usage) == ir.Usage(
        input=10, output=5, cache_read=20, cache_write=3, reasoning=2
    )


@pytest.mark.parametrize(
    ("status", "details", "reason"),
    [
        ("incomplete", {"reason": "max_output_tokens"}, "max_tokens"),
        ("incomplete", {"reason": "content_filter"}, "content_filter"),
        ("completed", None, "end_turn"),
    ],
)
def test_status_and_incomplete_details_translate_both_ways(status, details, reason):
    body = {**response_shell(status), "incomplete_details": details, "output": [MESSAGE_ITEM]}
    response = FMT.parse_response(body)
    assert response.stop_reason == reason
    rendered = FMT.render_response(response)
    assert (rendered["status"], rendered["incomplete_details"]) == (status, details)


def test_a_refusal_part_is_text_with_the_refusal_stop_reason():
    refusal = {**MESSAGE_ITEM, "content": [{"type": "refusal", "refusal": "I can't."}]}
    response = FMT.parse_response({**response_shell("completed"), "output": [refusal]})
    assert [p.text for p in response.parts if isinstance(p, ir.TextPart)] == ["I can't."]
    assert response.stop_reason == "refusal"


def test_unknown_output_items_are_restored_where_they_were():
    search = {"id": "ws_1", "type": "web_search_call", "status": "completed"}
    body = {**RESPONSE, "output": [search, MESSAGE_ITEM]}
    assert FMT.render_response(FMT.parse_response(body))["output"] == [search, MESSAGE_ITEM]


def test_a_response_of_another_format_renders_as_a_valid_sdk_response():
    response = ir.Response(
        id="msg_01abc",
        model="claude-x",
        parts=[
            ir.ThinkingPart("think", signature="sig"),
            ir.TextPart("Here."),
            ir.ToolCallPart("toolu_1", "f", '{"a":1}'),
        ],
        stop_reason="tool_use",
        usage=ir.Usage(input=10, output=20, cache_read=5),
    )
    parsed = Response.model_validate(FMT.render_response(response))
    assert parsed.id == "resp_msg_01abc"
    assert parsed.output_text == "Here."
    assert [item.type for item in parsed.output] == ["reasoning", "message", "function_call"]
    assert parsed.usage is not None and parsed.usage.input_tokens == 15


def test_a_response_round_trips_through_the_wire():
    response = ir.Response(
        id="resp_1",
        model="gpt-5",
        parts=[
            ir.ThinkingPart("think", signature=SIG),
            ir.TextPart("Here."),
            ir.ToolCallPart("call_1", "f", '{"a":1}'),
        ],
        stop_reason="tool_use",
        usage=ir.Usage(input=10, output=20, cache_read=5, cache_write=3, reasoning=7),
    )
    back = FMT.parse_response(FMT.render_response(response))
    assert (back.id, back.model, back.stop_reason, back.usage) == (
        response.id,
        response.model,
        response.stop_reason,
        response.usage,
    )
    assert without_responses_extras(back.parts) == response.parts


def test_a_max_tokens_response_renders_as_incomplete():
    response = ir.Response(id="r", model="m", parts=[ir.TextPart("cut")], stop_reason="max_tokens")
    rendered = FMT.render_response(response)
    assert rendered["status"] == "incomplete"
    assert rendered["incomplete_details"] == {"reason": "max_output_tokens"}


# -- stream decoding: the captures ---------------------------------------------------------------


def test_capture_text_stream_decodes_to_thinking_then_text_then_usage_and_stop():
    assert decode(capture("responses_stream_text.sse")) == [
        ir.MessageStart(
            "resp_68d7eff889908196bde536de7b601b7d07152cb8c6ac9072", "gpt-5-2025-08-07"
        ),
        ir.PartStart(0, "thinking"),
        ir.SignatureDelta(0, "encrypted-2"),
        ir.PartStop(0),
        ir.PartStart(1, "text"),
        ir.TextDelta(1, "Hello"),
        ir.TextDelta(1, ","),
        ir.TextDelta(1, " World"),
        ir.TextDelta(1, "!"),
        ir.PartStop(1),
        ir.UsageUpdate(ir.Usage(input=12, output=10)),
        ir.Stop("end_turn"),
    ]


def test_capture_function_call_stream_decodes_to_a_tool_call_and_tool_use():
    events = decode(capture("responses_stream_function_call.sse"))
    assert (
        ir.PartStart(1, "tool_call", id="call_5dp5Uj0Loqn1YcyIpqSq6sLX", name="get_weather")
        in events
    )
    assert arguments(events, 1) == '{ "location": "New York City, USA" }'
    signature = next(e for e in events if isinstance(e, ir.SignatureDelta))
    assert signature.index == 0 and signature.signature.startswith("gAAAAABo2TA_9aBc")
    assert events[-2:] == [
        ir.UsageUpdate(ir.Usage(input=75, output=155, reasoning=128)),
        ir.Stop("tool_use"),
    ]


def test_capture_insufficient_quota_stream_ends_with_a_quota_error():
    events = decode(capture("responses_stream_error_insufficient_quota.sse"))
    assert len(events) == 2
    assert isinstance(events[0], ir.MessageStart)
    error = events[1]
    assert isinstance(error, ir.StreamError)
    assert (error.kind, error.status) == ("quota_exhausted", 429)
    assert error.message.startswith("You exceeded your current quota")


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_decodes_the_same_at_every_split_point(name):
    raw = capture(name)
    whole = decode(raw)
    step = max(1, len(raw) // 400)  # the long captures: every byte near the start, then a sample
    for split in [*range(min(len(raw), 600)), *range(600, len(raw), step)]:
        assert decode(raw, [split]) == whole


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_decodes_the_same_when_fed_one_byte_at_a_time(name):
    raw = capture(name)
    assert decode(raw, [1] * len(raw)) == decode(raw)


# -- stream decoding: behaviours ----------------------------------------------------------------


def test_text_stream_decodes_to_one_text_part_then_usage_then_stop():
    assert decode(text_stream()) == [
        ir.MessageStart("resp_inline", "gpt-5-2025-08-07"),
        ir.PartStart(0, "text"),
        ir.TextDelta(0, "Hello"),
        ir.TextDelta(0, " world"),
        ir.PartStop(0),
        ir.UsageUpdate(ir.Usage(input=176, output=40, cache_read=1024, reasoning=16)),
        ir.Stop("end_turn"),
    ]


def test_every_split_point_gives_the_same_events():
    raw = text_stream()
    whole = decode(raw)
    for split in range(len(raw)):
        assert decode(raw, [split]) == whole


def test_crlf_line_endings_comments_and_padding_decode_the_same():
    raw = text_stream()
    noisy = b": keep-alive\r\n\r\n" + raw.replace(b"data: ", b"data:  ").replace(b"\n", b"\r\n")
    assert decode(noisy) == decode(raw)


def test_reasoning_summary_parts_are_thinking_joined_by_a_blank_line_and_signed():
    assert decode(reasoning_stream()) == [
        ir.MessageStart("resp_inline", "gpt-5-2025-08-07"),
        ir.PartStart(0, "thinking"),
        ir.ThinkingDelta(0, "**Plan**"),
        ir.ThinkingDelta(0, "\n\n"),
        ir.ThinkingDelta(0, "Say hi."),
        ir.SignatureDelta(0, SIG),
        ir.PartStop(0),
        ir.Stop("end_turn"),
    ]


def test_raw_reasoning_text_deltas_are_thinking():
    item = {"id": "rs_1", "type": "reasoning", "summary": []}
    raw = sse(
        {"type": "response.output_item.added", "output_index": 0, "item": item},
        {
            "type": "response.reasoning_text.delta",
            "item_id": "rs_1",
            "output_index": 0,
            "content_index": 0,
            "delta": "raw thought",
        },
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": response_shell("completed")},
    )
    assert ir.ThinkingDelta(0, "raw thought") in decode(raw)


def test_parallel_function_calls_get_one_part_each_in_order():
    events = decode(parallel_calls_stream())
    starts = [e for e in events if isinstance(e, ir.PartStart)]
    assert starts == [
        ir.PartStart(0, "tool_call", id="call_0", name="get_weather"),
        ir.PartStart(1, "tool_call", id="call_1", name="get_weather"),
    ]
    assert (arguments(events, 0), arguments(events, 1)) == ('{"city":"Paris"}', '{"city":"Rome"}')
    assert events[-1] == ir.Stop("tool_use")


def test_response_incomplete_stops_with_max_tokens():
    raw = text_stream(
        terminal="response.incomplete", incomplete_details={"reason": "max_output_tokens"}
    )
    assert decode(raw)[-1] == ir.Stop("max_tokens")


def test_an_incomplete_content_filter_stops_with_content_filter():
    raw = text_stream(
        terminal="response.incomplete", incomplete_details={"reason": "content_filter"}
    )
    assert decode(raw)[-1] == ir.Stop("content_filter")


def test_response_failed_is_a_stream_error_classified_by_its_code():
    failed = response_shell("failed", error={"code": "rate_limit_exceeded", "message": "slow"})
    raw = sse(
        {"type": "response.created", "response": response_shell()},
        {"type": "response.failed", "response": failed},
    )
    assert decode(raw)[1:] == [ir.StreamError("rate_limited", "slow", 429)]


def test_a_server_error_in_response_failed_is_an_upstream_error():
    failed = response_shell("failed", error={"code": "server_error", "message": "oops"})
    assert decode(sse({"type": "response.failed", "response": failed})) == [
        ir.StreamError("upstream", "oops", 500)
    ]


def test_a_flat_error_event_as_the_sdk_types_declare_it_is_read_too():
    raw = sse({"type": "error", "code": "insufficient_quota", "message": "pay", "param": None})
    assert decode(raw) == [ir.StreamError("quota_exhausted", "pay", 429)]


def test_nothing_follows_the_first_error():
    error = {
        "type": "error",
        "error": {"type": "server_error", "code": "server_error", "message": "x"},
    }
    failed = response_shell("failed", error={"code": "server_error", "message": "x"})
    events = decode(sse(error, {"type": "response.failed", "response": failed}))
    assert events == [ir.StreamError("upstream", "x", 500)]


def test_a_stream_ending_without_a_terminal_event_is_an_error():
    raw = text_stream()
    cut = raw[: raw.index(b"event: response.output_text.done")]
    events = decode(cut)
    assert events[-1] == ir.StreamError("upstream", "stream ended before it was complete")
    assert not any(isinstance(e, ir.Stop) for e in events)


def test_a_final_event_without_its_blank_line_still_counts():
    assert decode(text_stream().rstrip(b"\n"))[-1] == ir.Stop("end_turn")


def test_a_malformed_event_is_a_stream_error():
    raw = b"event: response.created\ndata: {not json}\n\n"
    assert decode(raw) == [ir.StreamError("upstream", "malformed event in upstream stream")]


def test_done_events_add_what_the_deltas_did_not_carry():
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "annotations": [], "text": ""}
    raw = sse(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {**MESSAGE_ITEM, "content": []},
        },
        {"type": "response.content_part.added", **where, "part": part},
        {"type": "response.output_text.delta", **where, "delta": "Hel"},
        {"type": "response.output_text.done", **where, "text": "Hello"},
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": call_item(1, "in_progress"),
        },
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": call_item(1, arguments="{}"),
        },
        {"type": "response.completed", "response": response_shell("completed")},
    )
    events = decode(raw)
    assert [e.text for e in events if isinstance(e, ir.TextDelta)] == ["Hel", "lo"]
    assert arguments(events, 1) == "{}"


def test_items_sent_only_in_the_terminal_response_are_decoded():
    completed = response_shell("completed", output=[MESSAGE_ITEM, call_item(0, arguments="{}")])
    events = decode(sse({"type": "response.completed", "response": completed}))
    assert events == [
        ir.MessageStart("", ""),
        ir.PartStart(0, "text"),
        ir.TextDelta(0, "Hello"),
        ir.PartStop(0),
        ir.PartStart(1, "tool_call", id="call_0", name="get_weather"),
        ir.ToolArgumentsDelta(1, "{}"),
        ir.PartStop(1),
        ir.Stop("tool_use"),
    ]


def test_built_in_tool_items_are_skipped(caplog):
    search = {"id": "ws_1", "type": "web_search_call", "status": "in_progress"}
    raw = sse(
        {"type": "response.output_item.added", "output_index": 0, "item": search},
        {"type": "response.output_item.done", "output_index": 0, "item": search},
        {"type": "response.completed", "response": response_shell("completed")},
    )
    with caplog.at_level(logging.WARNING):
        events = decode(raw)
    assert events == [ir.MessageStart("", ""), ir.Stop("end_turn")]
    assert "web_search_call" in caplog.text


def test_deltas_naming_only_their_item_id_find_their_part():
    raw = sse(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": call_item(0, "in_progress"),
        },
        {"type": "response.function_call_arguments.delta", "item_id": "fc_0", "delta": "{}"},
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": call_item(0, arguments="{}"),
        },
        {"type": "response.completed", "response": response_shell("completed")},
    )
    assert arguments(decode(raw), 0) == "{}"


def test_nothing_is_decoded_after_the_terminal_event():
    raw = text_stream() + sse({"type": "response.output_text.delta", "delta": "late"})
    assert decode(raw)[-1] == ir.Stop("end_turn")


# -- stream encoding ----------------------------------------------------------------------------

TEXT_EVENTS: list[ir.Event] = [
    ir.MessageStart("resp_rt", "gpt-5"),
    ir.PartStart(0, "text"),
    ir.TextDelta(0, "Hello "),
    ir.TextDelta(0, 'the "world".\n'),
    ir.PartStop(0),
    ir.UsageUpdate(ir.Usage(input=100, output=40, cache_read=20, reasoning=10)),
    ir.Stop("end_turn"),
]
REASONING_EVENTS: list[ir.Event] = [
    ir.MessageStart("resp_rt", "gpt-5"),
    ir.PartStart(0, "thinking"),
    ir.ThinkingDelta(0, "Let me think."),
    ir.ThinkingDelta(0, " Done."),
    ir.SignatureDelta(0, SIG),
    ir.PartStop(0),
    ir.PartStart(1, "text"),
    ir.TextDelta(1, "Hi."),
    ir.PartStop(1),
    ir.UsageUpdate(ir.Usage(input=10, output=30, reasoning=20)),
    ir.Stop("end_turn"),
]
PARALLEL_EVENTS: list[ir.Event] = [
    ir.MessageStart("resp_rt", "gpt-5"),
    ir.PartStart(0, "text"),
    ir.TextDelta(0, "Checking both."),
    ir.PartStop(0),
    ir.PartStart(1, "tool_call", id="call_a", name="get_weather"),
    ir.ToolArgumentsDelta(1, '{"city":'),
    ir.ToolArgumentsDelta(1, '"Paris"}'),
    ir.PartStop(1),
    ir.PartStart(2, "tool_call", id="call_b", name="get_time"),
    ir.ToolArgumentsDelta(2, '{"tz":"CET"}'),
    ir.PartStop(2),
    ir.UsageUpdate(ir.Usage(input=100, output=40)),
    ir.Stop("tool_use"),
]
REPRESENTATIVE = {"text": TEXT_EVENTS, "reasoning": REASONING_EVENTS, "parallel": PARALLEL_EVENTS}


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_decoding_the_encoded_events_gives_them_back(name):
    events = REPRESENTATIVE[name]
    assert decode(encode(events)) == events


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_every_encoded_event_is_a_valid_sdk_event_named_by_its_type(name):
    for event_name, body in frames(encode(REPRESENTATIVE[name])):
        assert event_name == body["type"]
        EVENT_ADAPTER.validate_python(body)


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_sequence_numbers_count_up_from_zero(name):
    numbers = [body["sequence_number"] for _, body in frames(encode(REPRESENTATIVE[name]))]
    assert numbers == list(range(len(numbers)))


def test_re_encoding_a_capture_decodes_to_the_same_events():
    events = decode(capture("responses_stream_function_call.sse"))
    assert decode(encode(events, model="gpt-5-2025-08-07")) == events


def test_a_text_part_is_a_message_item_with_one_output_text_part():
    types = [name for name, _ in frames(encode(TEXT_EVENTS))]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]


def test_a_thinking_part_is_a_reasoning_item_with_a_summary_and_encrypted_content():
    sent = frames(encode(REASONING_EVENTS))
    types = [name for name, _ in sent]
    assert types[2:8] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ]
    done = sent[8][1]
    assert done["item"]["encrypted_content"] == SIG
    assert done["item"]["summary"] == [{"type": "summary_text", "text": "Let me think. Done."}]


def test_a_tool_call_is_a_function_call_item_with_argument_events():
    sent = frames(encode(PARALLEL_EVENTS))
    added = next(b for n, b in sent if n == "response.output_item.added" and b["output_index"] == 1)
    assert {k: added["item"][k] for k in ("type", "status", "arguments", "call_id", "name")} == {
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": "call_a",
        "name": "get_weather",
    }
    done = [b["arguments"] for n, b in sent if n == "response.function_call_arguments.done"]
    assert done == ['{"city":"Paris"}', '{"tz":"CET"}']


def test_the_completed_response_is_a_valid_sdk_response_with_the_streamed_output():
    name, body = frames(encode(REASONING_EVENTS))[-1]
    assert name == "response.completed"
    response = Response.model_validate(body["response"])
    assert (response.id, response.model, response.status) == ("resp_rt", "gpt-5", "completed")
    assert response.output_text == "Hi."
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 30)


def test_the_response_echoes_the_client_request():
    client = {
        "model": "gpt-5",
        "instructions": "Be brief.",
        "tools": [{"type": "function", "name": "f", "parameters": {}, "strict": False}],
        "reasoning": {"effort": "low"},
        "store": False,
    }
    _, created = frames(encode(TEXT_EVENTS, client=client))[0]
    response = created["response"]
    assert response["instructions"] == "Be brief."
    assert response["tools"] == client["tools"]
    assert response["reasoning"] == {"effort": "low", "summary": None}
    Response.model_validate(response)


def test_the_response_says_it_is_not_stored_even_when_the_client_asked():
    _, created = frames(encode(TEXT_EVENTS, client={"model": "gpt-5", "store": True}))[0]
    assert created["response"]["store"] is False


def test_previous_response_id_survives_a_round_trip_through_the_ir():
    request = FMT.parse_request(body_with(previous_response_id="resp_1"))
    assert request.extras["responses"]["previous_response_id"] == "resp_1"
    assert FMT.render_request(request)["previous_response_id"] == "resp_1"


@pytest.mark.parametrize("field", ["previous_response_id", "conversation"])
def test_stored_state_makes_a_request_untranslatable(field):
    refused = FMT.untranslatable(body_with(**{field: "resp_1"}))
    assert refused is not None and refused.param == field and refused.status == 400
    assert FMT.untranslatable(body_with()) is None


def test_the_response_answers_as_the_requested_model_with_a_resp_id():
    _, created = frames(
        encode([ir.MessageStart("msg_01abc", "claude-x"), ir.Stop("end_turn")], model="alias")
    )[0]
    assert (created["response"]["model"], created["response"]["id"]) == ("alias", "resp_msg_01abc")


def test_a_max_tokens_stop_ends_with_response_incomplete_and_incomplete_items():
    events: list[ir.Event] = [
        ir.MessageStart("resp_1", "m"),
        ir.TextDelta(0, "cut"),
        ir.Stop("max_tokens"),
    ]
    sent = frames(encode(events))
    item_done = next(b for n, b in sent if n == "response.output_item.done")
    assert item_done["item"]["status"] == "incomplete"
    name, body = sent[-1]
    assert name == "response.incomplete"
    assert body["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    EVENT_ADAPTER.validate_python(body)
    assert decode(encode(events))[-1] == ir.Stop("max_tokens")


def test_usage_reported_after_the_stop_is_in_the_completed_response():
    encoder = FMT.stream_encoder("m")
    head = encoder.encode(
        [ir.MessageStart("resp_1", "m"), ir.TextDelta(0, "a"), ir.Stop("end_turn")]
    )
    tail = encoder.encode([ir.UsageUpdate(ir.Usage(input=1, output=2))]) + encoder.finish()
    assert b"response.completed" not in head
    (name, body), *_ = frames(tail)
    assert name == "response.completed"
    assert body["response"]["usage"]["output_tokens"] == 2


def test_a_stream_error_is_an_error_event_then_response_failed():
    events: list[ir.Event] = [
        ir.MessageStart("resp_1", "m"),
        ir.TextDelta(0, "a"),
        ir.StreamError("upstream", "boom", 500),
    ]
    encoder = FMT.stream_encoder("m")
    sent = frames(encoder.encode(events) + encoder.finish())
    assert [name for name, _ in sent][-2:] == ["error", "response.failed"]
    (_, error), (_, failed) = sent[-2:]
    assert (error["code"], error["message"], error["error"]["message"]) == (
        "server_error",
        "boom",
        "boom",
    )
    assert failed["response"]["status"] == "failed"
    for _, body in sent:
        EVENT_ADAPTER.validate_python(body)


def test_a_stream_error_round_trips_through_the_wire():
    events: list[ir.Event] = [
        ir.MessageStart("resp_1", "m"),
        ir.StreamError("quota_exhausted", "no credit", 429),
    ]
    assert decode(encode(events, model="m")) == events


def test_finish_without_a_stop_is_an_error_not_a_completed_response():
    encoder = FMT.stream_encoder("m")
    out = (
        encoder.encode([ir.MessageStart("resp_1", "m"), ir.TextDelta(0, "cut")]) + encoder.finish()
    )
    names = [name for name, _ in frames(out)]
    assert names[-2:] == ["error", "response.failed"]
    assert "response.completed" not in names
    assert frames(out)[-2][1]["message"] == "stream ended before it was complete"


def test_interleaved_parts_stream_into_their_own_items():
    events: list[ir.Event] = [
        ir.MessageStart("resp_1", "m"),
        ir.PartStart(0, "tool_call", id="call_a", name="f"),
        ir.PartStart(1, "tool_call", id="call_b", name="f"),
        ir.ToolArgumentsDelta(0, '{"x":'),
        ir.ToolArgumentsDelta(1, '{"y":2}'),
        ir.ToolArgumentsDelta(0, "1}"),
        ir.PartStop(1),
        ir.PartStop(0),
        ir.Stop("tool_use"),
    ]
    out = encode(events)
    for _, body in frames(out):
        EVENT_ADAPTER.validate_python(body)
    decoded = decode(out)
    assert (arguments(decoded, 0), arguments(decoded, 1)) == ('{"x":1}', '{"y":2}')


def test_redacted_thinking_and_tool_call_signatures_are_left_out():
    events: list[ir.Event] = [
        ir.MessageStart("resp_1", "m"),
        ir.PartStart(0, "redacted_thinking", data="opaque"),
        ir.PartStop(0),
        ir.PartStart(1, "tool_call", id="c", name="f"),
        ir.SignatureDelta(1, "gemini-thought-signature"),
        ir.PartStop(1),
        ir.Stop("tool_use"),
    ]
    out = encode(events)
    assert b"opaque" not in out and b"gemini-thought-signature" not in out


def test_every_event_has_its_event_line_and_ends_with_a_blank_line():
    out = encode(PARALLEL_EVENTS)
    assert out.endswith(b"\n\n")
    assert all(chunk.startswith(b"event: ") for chunk in out.split(b"\n\n") if chunk)


# -- the SDK as a client ------------------------------------------------------------------------


async def sdk_client(aiohttp_server: Any, body: bytes) -> openai.AsyncOpenAI:
    """An SDK client whose upstream replies to every Responses request with ``body`` as SSE."""

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in (body[i : i + 7] for i in range(0, len(body), 7)):
            await response.write(piece)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/responses", reply)
    server = await aiohttp_server(app)
    return openai.AsyncOpenAI(api_key="k", base_url=str(server.make_url("/v1")), max_retries=0)


async def test_the_openai_sdk_stream_helper_assembles_an_encoded_stream(aiohttp_server):
    client = await sdk_client(aiohttp_server, encode(PARALLEL_EVENTS))
    async with client.responses.stream(model="gpt-5", input="hi") as stream:
        text = "".join([e.delta async for e in stream if e.type == "response.output_text.delta"])
        final = await stream.get_final_response()
    await client.close()
    assert text == final.output_text == "Checking both."
    calls = [(i.call_id, i.name, i.arguments) for i in final.output if i.type == "function_call"]
    assert calls == [
        ("call_a", "get_weather", '{"city":"Paris"}'),
        ("call_b", "get_time", '{"tz":"CET"}'),
    ]


async def test_the_openai_sdk_raises_on_an_encoded_stream_error(aiohttp_server):
    events: list[ir.Event] = [
        ir.MessageStart("resp_1", "m"),
        ir.TextDelta(0, "a"),
        ir.StreamError("upstream", "boom"),
    ]
    client = await sdk_client(aiohttp_server, encode(events))
    stream = await client.responses.create(model="gpt-5", input="hi", stream=True)
    with pytest.raises(openai.APIError, match="boom"):
        async for _ in stream:
            pass
    await client.close()
