"""The OpenAI Chat Completions codec: requests, responses and streams to and from the IR.

Golden tests read the real captures in ``../shared/fixtures/wire/`` when they are there (and
skip otherwise); every core behaviour is also pinned by a small inline fixture of the same
shape, so the suite never depends on that folder.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from aiohttp import web
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from omniroute.errors import BadRequest
from omniroute.formats import ir
from omniroute.formats.openai import OpenAIChatFormat
from omniroute.formats.openai_stream import usage_from_openai, usage_to_openai
from omniroute.gateway.sse import SSEScanner

FMT = OpenAIChatFormat()
WIRE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "wire"


def capture(name: str) -> bytes:
    """A real capture from the shared fixtures, or skip the test when it is not there."""
    path = WIRE / name
    if not path.exists():
        pytest.skip(f"capture {name} not available")
    return path.read_bytes()


def sse(*payloads: Any, done: bool = True) -> bytes:
    """An OpenAI stream: each payload as a ``data:`` event, then ``[DONE]``."""
    frames = [b"data: " + orjson.dumps(p) + b"\n\n" for p in payloads]
    return b"".join(frames) + (b"data: [DONE]\n\n" if done else b"")


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A ``chat.completion.chunk`` in the shape of the captures."""
    return {
        "id": "chatcmpl-inline",
        "object": "chat.completion.chunk",
        "created": 1727346182,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def usage_chunk(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-inline",
        "object": "chat.completion.chunk",
        "created": 1727346182,
        "model": "gpt-4o-2024-08-06",
        "choices": [],
        "usage": usage,
    }


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


def arguments(events: list[ir.Event], index: int) -> str:
    return "".join(
        e.fragment for e in events if isinstance(e, ir.ToolArgumentsDelta) and e.index == index
    )


def payloads(stream: bytes) -> list[bytes]:
    """The ``data`` payloads of an encoded stream, in order."""
    return [data for _, data in SSEScanner().feed(stream) if data is not None]


TOOL_CALL_STREAM = sse(
    chunk(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_4Xz",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ],
            "refusal": None,
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'city":"Paris"}'}}]}),
    chunk({}, "tool_calls"),
    usage_chunk({"prompt_tokens": 44, "completion_tokens": 16, "total_tokens": 60}),
)

PARALLEL_STREAM = sse(
    chunk({"role": "assistant", "content": None}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Edinburgh"}'}}]}),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_stock_price", "arguments": ""},
                }
            ]
        }
    ),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"ticker": '}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": '"AAPL"}'}}]}),
    chunk({}, "tool_calls"),
    usage_chunk({"prompt_tokens": 149, "completion_tokens": 60, "total_tokens": 209}),
)

# DeepSeek: reasoning first (content null), usage on the finish chunk, and no [DONE].
DEEPSEEK_STREAM = sse(
    chunk({"role": "assistant", "content": None, "reasoning_content": ""}, usage=None),
    chunk({"content": None, "reasoning_content": "The user"}, usage=None),
    chunk({"content": None, "reasoning_content": " wants weather."}, usage=None),
    chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_00_io",
                    "type": "function",
                    "function": {"name": "weather", "arguments": ""},
                }
            ]
        },
        usage=None,
    ),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"location":"SF"}'}}]}),
    chunk(
        {"content": "", "reasoning_content": None},
        "tool_calls",
        usage={
            "prompt_tokens": 339,
            "completion_tokens": 83,
            "total_tokens": 422,
            "prompt_tokens_details": {"cached_tokens": 320},
            "completion_tokens_details": {"reasoning_tokens": 39},
            "prompt_cache_hit_tokens": 320,
            "prompt_cache_miss_tokens": 19,
        },
    ),
    done=False,
)

TEXT_STREAM = sse(
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "Hello"}),
    chunk({"content": " world"}),
    chunk({}, "stop"),
    usage_chunk(
        {
            "prompt_tokens": 1200,
            "completion_tokens": 5,
            "total_tokens": 1205,
            "prompt_tokens_details": {"cached_tokens": 1024},
        }
    ),
)

MIDSTREAM_ERROR_STREAM = sse(
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"content": "The"}),
    {"error": {"message": "The server had an error", "type": "server_error"}},
    done=False,
)

COMPLETION = {
    "id": "chatcmpl-Bwky",
    "object": "chat.completion",
    "created": 1753343279,
    "model": "gpt-4.1-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_Kjz",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": '{"path":"README.md"}'},
                    }
                ],
                "refusal": None,
                "annotations": [],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 60,
        "completion_tokens": 15,
        "total_tokens": 75,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    },
    "service_tier": "default",
    "system_fingerprint": "fp_b3f1157249",
}

RICH_REQUEST = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture, and the weather?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": "Checking.",
            "reasoning_content": "Two cities.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "25C"}]},
        {"role": "user", "content": "Thanks"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": True,
            },
        }
    ],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "max_completion_tokens": 500,
    "temperature": 0.2,
    "top_p": 0.9,
    "stop": ["END"],
    "stream": True,
    "reasoning_effort": "low",
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
    },
    "user": "u-1",
    "seed": 7,
    "metadata": {"team": "a"},
}


def user(*parts: ir.Part) -> ir.Message:
    return ir.Message("user", list(parts))


def assistant(*parts: ir.Part) -> ir.Message:
    return ir.Message("assistant", list(parts))


def body_with(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], **fields}


# -- the format ---------------------------------------------------------------------------------


def test_openai_format_declares_that_it_translates():
    assert FMT.translates is True


# -- parsing requests ---------------------------------------------------------------------------


def test_system_and_developer_messages_become_system_text_parts():
    request = FMT.parse_request(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "user", "content": "hi"},
            ],
        }
    )
    assert request.system == [ir.TextPart("Be brief."), ir.TextPart("Use French.")]
    assert request.messages == [user(ir.TextPart("hi"))]


def test_data_url_image_becomes_inline_image_with_its_media_type():
    request = FMT.parse_request(RICH_REQUEST)
    assert request.messages[0].parts[1] == ir.ImagePart(data="iVBORw0K", media_type="image/png")


def test_http_image_url_is_kept_as_a_url_with_its_detail():
    request = FMT.parse_request(RICH_REQUEST)
    assert request.messages[0].parts[2] == ir.ImagePart(
        url="https://example.com/cat.jpg", detail="low"
    )


def test_assistant_reasoning_comes_first_then_text_then_tool_calls_with_arguments_as_sent():
    request = FMT.parse_request(RICH_REQUEST)
    assert request.messages[1] == assistant(
        ir.ThinkingPart(text="Two cities."),
        ir.TextPart("Checking."),
        ir.ToolCallPart(id="call_1", name="get_weather", arguments='{"city":"Paris"}'),
        ir.ToolCallPart(id="call_2", name="get_weather", arguments='{"city": "Rome"}'),
    )


def test_assistant_reasoning_field_of_vllm_and_groq_is_thinking_too():
    request = FMT.parse_request(
        body_with(messages=[{"role": "assistant", "content": "4", "reasoning": "2+2"}])
    )
    assert request.messages[0].parts == [ir.ThinkingPart(text="2+2"), ir.TextPart("4")]


def test_consecutive_tool_messages_become_one_user_message_of_results():
    request = FMT.parse_request(RICH_REQUEST)
    results = request.messages[2]
    assert results.role == "user"
    assert [p.tool_call_id for p in results.parts if isinstance(p, ir.ToolResultPart)] == [
        "call_1",
        "call_2",
    ]
    assert [p.text() for p in results.parts if isinstance(p, ir.ToolResultPart)] == ["18C", "25C"]
    assert request.messages[3] == user(ir.TextPart("Thanks"))


def test_tool_results_are_named_after_the_calls_they_answer():
    request = FMT.parse_request(RICH_REQUEST)
    assert {p.name for p in request.messages[2].parts if isinstance(p, ir.ToolResultPart)} == {
        "get_weather"
    }


def test_tools_keep_name_description_parameters_and_strict():
    request = FMT.parse_request(RICH_REQUEST)
    assert request.tools == [
        ir.Tool(
            name="get_weather",
            description="Weather for a city",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
            strict=True,
        )
    ]


@pytest.mark.parametrize(
    ("wire", "choice"),
    [
        ("auto", ir.ToolChoice("auto")),
        ("none", ir.ToolChoice("none")),
        ("required", ir.ToolChoice("required")),
        ({"type": "function", "function": {"name": "f"}}, ir.ToolChoice("tool", "f")),
    ],
)
def test_tool_choice_modes_translate_both_ways(wire, choice):
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    request = FMT.parse_request(body_with(tools=tools, tool_choice=wire))
    assert request.tool_choice == choice
    assert FMT.render_request(request)["tool_choice"] == wire


def test_generation_parameters_are_read():
    request = FMT.parse_request(RICH_REQUEST)
    assert (request.temperature, request.top_p, request.stop, request.user) == (
        0.2,
        0.9,
        ["END"],
        "u-1",
    )
    assert request.stream is True
    assert request.parallel_tool_calls is False


def test_max_completion_tokens_wins_over_max_tokens():
    request = FMT.parse_request(body_with(max_tokens=10, max_completion_tokens=20))
    assert request.max_tokens == 20


def test_a_single_stop_string_becomes_a_list():
    assert FMT.parse_request(body_with(stop="END")).stop == ["END"]


@pytest.mark.parametrize(
    ("effort", "reasoning"),
    [
        ("minimal", ir.Reasoning(effort="minimal")),
        ("high", ir.Reasoning(effort="high")),
        ("none", ir.Reasoning(enabled=False)),
        ("xhigh", ir.Reasoning(effort="high")),
    ],
)
def test_reasoning_effort_becomes_reasoning(effort, reasoning):
    assert FMT.parse_request(body_with(reasoning_effort=effort)).reasoning == reasoning


@pytest.mark.parametrize(
    ("wire", "parsed"),
    [
        ({"type": "text"}, ir.ResponseFormat("text")),
        ({"type": "json_object"}, ir.ResponseFormat("json_object")),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
            },
            ir.ResponseFormat("json_schema", schema={"type": "object"}, name="answer", strict=True),
        ),
    ],
)
def test_response_format_translates_both_ways(wire, parsed):
    request = FMT.parse_request(body_with(response_format=wire))
    assert request.response_format == parsed
    assert FMT.render_request(request)["response_format"] == wire


def test_unknown_fields_travel_in_openai_extras():
    request = FMT.parse_request(RICH_REQUEST)
    assert request.extras == {"openai": {"seed": 7, "metadata": {"team": "a"}}}


def test_stream_options_are_not_carried_the_renderer_decides_them():
    request = FMT.parse_request(body_with(stream=True, stream_options={"include_usage": False}))
    assert request.extras == {}


def test_content_parts_without_an_ir_equivalent_are_dropped():
    audio = {"type": "input_audio", "input_audio": {"data": "AAA=", "format": "wav"}}
    request = FMT.parse_request(
        body_with(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, audio]}])
    )
    assert request.messages == [user(ir.TextPart("hi"))]


def test_messages_that_are_not_a_list_are_a_bad_request():
    with pytest.raises(BadRequest):
        FMT.parse_request({"model": "m", "messages": "hi"})


# -- rendering requests -------------------------------------------------------------------------


def test_tool_results_render_as_tool_messages_right_after_the_assistant_turn():
    # The shape an Anthropic client sends: results and more text in one user turn.
    request = ir.Request(
        model="m",
        messages=[
            user(ir.TextPart("weather?")),
            assistant(
                ir.ToolCallPart(id="a", name="w", arguments="{}"),
                ir.ToolCallPart(id="b", name="w", arguments="{}"),
            ),
            user(
                ir.ToolResultPart("a", [ir.TextPart("18C")]),
                ir.ToolResultPart("b", [ir.TextPart("25C")]),
                ir.TextPart("and tomorrow?"),
            ),
        ],
    )
    messages = FMT.render_request(request)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "user"]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:4]] == [
        ("a", "18C"),
        ("b", "25C"),
    ]
    assert messages[4] == {"role": "user", "content": "and tomorrow?"}


def test_images_in_tool_results_move_to_a_user_message_after_the_results():
    image = ir.ImagePart(data="iVBO", media_type="image/png")
    request = ir.Request(
        model="m",
        messages=[
            assistant(ir.ToolCallPart(id="a", name="shot")),
            user(ir.ToolResultPart("a", [ir.TextPart("done"), image])),
        ],
    )
    messages = FMT.render_request(request)["messages"]
    assert messages[1] == {"role": "tool", "tool_call_id": "a", "content": "done"}
    assert messages[2] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}],
    }


def test_assistant_thinking_renders_as_reasoning_content_and_content_is_null_beside_calls():
    request = ir.Request(
        model="m",
        messages=[
            assistant(
                ir.ThinkingPart(text="hmm", signature="sig"),
                ir.ThinkingPart(redacted=True, data="opaque"),
                ir.ToolCallPart(id="a", name="w", arguments='{"x":1}'),
            )
        ],
    )
    assert FMT.render_request(request)["messages"] == [
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "hmm",
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "w", "arguments": '{"x":1}'}}
            ],
        }
    ]


@pytest.mark.parametrize(
    ("budget", "effort"), [(1024, "minimal"), (2000, "low"), (8192, "medium"), (32000, "high")]
)
def test_a_thinking_budget_renders_as_the_nearest_reasoning_effort(budget, effort):
    request = ir.Request(model="m", reasoning=ir.Reasoning(budget_tokens=budget))
    assert FMT.render_request(request)["reasoning_effort"] == effort


def test_disabled_reasoning_sends_no_effort():
    request = ir.Request(model="m", reasoning=ir.Reasoning(enabled=False))
    assert "reasoning_effort" not in FMT.render_request(request)


def test_a_stream_asks_the_upstream_for_usage():
    body = FMT.render_request(ir.Request(model="m", stream=True))
    assert (body["stream"], body["stream_options"]) == (True, {"include_usage": True})


def test_max_tokens_renders_as_max_tokens():
    assert FMT.render_request(ir.Request(model="m", max_tokens=99))["max_tokens"] == 99


def test_extras_are_restored_but_never_override_rendered_fields():
    request = ir.Request(model="m", extras={"openai": {"seed": 1, "model": "other"}})
    body = FMT.render_request(request)
    assert (body["seed"], body["model"]) == (1, "m")


def test_tool_choice_and_parallel_tool_calls_go_only_with_tools():
    request = ir.Request(model="m", tool_choice=ir.ToolChoice("auto"), parallel_tool_calls=True)
    body = FMT.render_request(request)
    assert "tool_choice" not in body
    assert "parallel_tool_calls" not in body


def test_several_system_parts_render_as_one_system_string():
    request = ir.Request(model="m", system=[ir.TextPart("one"), ir.TextPart("two")])
    assert FMT.render_request(request)["messages"] == [{"role": "system", "content": "one\n\ntwo"}]


def test_a_request_round_trips_through_the_ir():
    parsed = FMT.parse_request(RICH_REQUEST)
    assert FMT.parse_request(FMT.render_request(parsed)) == parsed


def test_a_request_renders_back_to_the_body_it_came_from():
    canonical = copy.deepcopy(RICH_REQUEST)
    canonical["max_tokens"] = canonical.pop("max_completion_tokens")
    canonical["stream_options"] = {"include_usage": True}
    canonical["messages"][4]["content"] = "25C"  # tool results render as strings
    assert FMT.render_request(FMT.parse_request(canonical)) == canonical


# -- responses ----------------------------------------------------------------------------------


def test_capture_completion_parses_to_its_tool_call_stop_reason_and_usage():
    body = orjson.loads(capture("openai_chat_completion_tool_calls.json"))
    response = FMT.parse_response(body)
    assert response.parts == [
        ir.ToolCallPart(
            id="call_KjzAbhiZC6nk81tQzL7pwlpc", name="read_file", arguments='{"path":"README.md"}'
        )
    ]
    assert response.stop_reason == "tool_use"
    assert response.usage == ir.Usage(input=60, output=15)


def test_capture_completion_renders_back_exactly():
    body = orjson.loads(capture("openai_chat_completion_tool_calls.json"))
    assert FMT.render_response(FMT.parse_response(body)) == body


def test_completion_renders_back_exactly():
    assert FMT.render_response(FMT.parse_response(COMPLETION)) == COMPLETION


def test_a_response_round_trips_through_the_wire():
    response = ir.Response(
        id="msg_1",
        model="claude-x",
        parts=[
            ir.ThinkingPart(text="think"),
            ir.TextPart("Here."),
            ir.ToolCallPart(id="t1", name="f", arguments='{"a":1}'),
        ],
        stop_reason="tool_use",
        usage=ir.Usage(input=10, output=20, cache_read=5, cache_write=3, reasoning=7),
        extras={"openai": {"created": 1}},
    )
    assert FMT.parse_response(FMT.render_response(response)) == response


def test_rendered_response_is_a_valid_chat_completion_for_the_sdk():
    response = ir.Response(id="msg_1", model="m", parts=[ir.TextPart("hi")])
    completion = ChatCompletion.model_validate(FMT.render_response(response))
    assert completion.choices[0].message.content == "hi"
    assert completion.choices[0].finish_reason == "stop"


def test_rendered_response_content_is_null_without_text():
    response = ir.Response(id="r", model="m", parts=[ir.ToolCallPart(id="t", name="f")])
    assert FMT.render_response(response)["choices"][0]["message"]["content"] is None


def test_response_thinking_renders_as_reasoning_content():
    response = ir.Response(id="r", model="m", parts=[ir.ThinkingPart(text="a"), ir.TextPart("b")])
    message = FMT.render_response(response)["choices"][0]["message"]
    assert (message["reasoning_content"], message["content"]) == ("a", "b")


def test_deepseek_reasoning_content_in_a_response_is_thinking():
    body = copy.deepcopy(COMPLETION)
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": "4",
        "reasoning_content": "2+2",
    }
    assert FMT.parse_response(body).parts == [ir.ThinkingPart(text="2+2"), ir.TextPart("4")]


def test_a_refusal_is_text_with_the_refusal_stop_reason():
    body = copy.deepcopy(COMPLETION)
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "No."}
    body["choices"][0]["finish_reason"] = "stop"
    response = FMT.parse_response(body)
    assert (response.parts, response.stop_reason) == ([ir.TextPart("No.")], "refusal")


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "content_filter"),
    ],
)
def test_finish_reasons_translate_both_ways(finish, reason):
    body = copy.deepcopy(COMPLETION)
    body["choices"][0]["finish_reason"] = finish
    response = FMT.parse_response(body)
    assert response.stop_reason == reason
    assert FMT.render_response(response)["choices"][0]["finish_reason"] == finish


def test_a_stop_sequence_stop_renders_as_stop():
    response = ir.Response(id="r", model="m", stop_reason="stop_sequence", stop_sequence="END")
    assert FMT.render_response(response)["choices"][0]["finish_reason"] == "stop"


# -- usage --------------------------------------------------------------------------------------


def test_usage_input_excludes_cached_tokens():
    usage = usage_from_openai(
        {
            "prompt_tokens": 1200,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 1024},
            "completion_tokens_details": {"reasoning_tokens": 30},
        }
    )
    assert usage == ir.Usage(input=176, output=50, cache_read=1024, reasoning=30)


def test_deepseek_prompt_cache_hit_tokens_count_as_cache_reads():
    usage = usage_from_openai(
        {"prompt_tokens": 339, "completion_tokens": 83, "prompt_cache_hit_tokens": 320}
    )
    assert (usage.input, usage.cache_read) == (19, 320)


def test_usage_renders_prompt_tokens_including_cache_reads_and_writes():
    wire = usage_to_openai(ir.Usage(input=10, output=20, cache_read=5, cache_write=3, reasoning=7))
    assert (wire["prompt_tokens"], wire["completion_tokens"], wire["total_tokens"]) == (18, 20, 38)
    assert wire["prompt_tokens_details"] == {
        "cached_tokens": 5,
        "audio_tokens": 0,
        "cache_write_tokens": 3,
    }
    assert wire["completion_tokens_details"]["reasoning_tokens"] == 7


def test_usage_round_trips():
    usage = ir.Usage(input=10, output=20, cache_read=5, cache_write=3, reasoning=7)
    assert usage_from_openai(usage_to_openai(usage)) == usage


# -- stream decoding: golden --------------------------------------------------------------------


def test_capture_tool_call_stream_decodes_to_one_tool_part():
    events = decode(capture("openai_chat_stream_tool_call.sse"))
    assert events[:2] == [
        ir.MessageStart("chatcmpl-ABfwERreu9s99xXsVuOWtIB2UOx62", "gpt-4o-2024-08-06"),
        ir.PartStart(0, "tool_call", id="call_4XzlGBLtUe9dy3GVNV4jhq7h", name="get_weather"),
    ]
    assert arguments(events, 0) == '{"city":"New York City"}'
    assert events[-3:] == [
        ir.PartStop(0),
        ir.UsageUpdate(ir.Usage(input=44, output=16)),
        ir.Stop("tool_use"),
    ]


def test_capture_parallel_tool_calls_get_one_part_each():
    events = decode(capture("openai_chat_stream_parallel_tool_calls.sse"))
    starts = [e for e in events if isinstance(e, ir.PartStart)]
    assert [(s.index, s.name) for s in starts] == [(0, "GetWeatherArgs"), (1, "get_stock_price")]
    assert orjson.loads(arguments(events, 0)) == {
        "city": "Edinburgh",
        "country": "GB",
        "units": "c",
    }
    assert orjson.loads(arguments(events, 1)) == {"ticker": "AAPL", "exchange": "NASDAQ"}
    assert events[-2:] == [ir.UsageUpdate(ir.Usage(input=149, output=60)), ir.Stop("tool_use")]


def test_capture_deepseek_stream_has_thinking_then_a_tool_call_and_cached_usage():
    events = decode(capture("deepseek_chat_stream_reasoning_content_tool_call.sse"))
    starts = [e for e in events if isinstance(e, ir.PartStart)]
    assert [(s.index, s.kind) for s in starts] == [(0, "thinking"), (1, "tool_call")]
    thinking = "".join(e.text for e in events if isinstance(e, ir.ThinkingDelta))
    assert thinking.startswith("The user is asking for the weather in San Francisco.")
    assert orjson.loads(arguments(events, 1)) == {"location": "San Francisco"}
    assert events[-3:] == [
        ir.PartStop(1),
        ir.UsageUpdate(ir.Usage(input=19, output=83, cache_read=320, reasoning=39)),
        ir.Stop("tool_use"),
    ]


def test_capture_midstream_error_ends_with_a_stream_error_and_no_stop():
    events = decode(capture("openai_chat_stream_midstream_error.sse"))
    assert "".join(e.text for e in events if isinstance(e, ir.TextDelta)) == 'The question "'
    assert events[-1] == ir.StreamError(
        "upstream", "The server had an error while processing your request. Sorry about that!", 500
    )
    assert not any(isinstance(e, ir.Stop) for e in events)


@pytest.mark.parametrize(
    "name",
    ["openai_chat_stream_tool_call.sse", "deepseek_chat_stream_reasoning_content_tool_call.sse"],
)
def test_capture_decodes_the_same_when_fed_one_byte_at_a_time(name):
    raw = capture(name)
    assert decode(raw, [1] * len(raw)) == decode(raw)


@pytest.mark.parametrize(
    "name",
    ["openai_chat_stream_parallel_tool_calls.sse", "openai_chat_stream_midstream_error.sse"],
)
def test_capture_decodes_the_same_in_random_pieces(name):
    raw = capture(name)
    rng = random.Random(20250101)
    for _ in range(20):
        assert decode(raw, [rng.randint(1, 64) for _ in range(len(raw) // 16)]) == decode(raw)


# -- stream decoding: behaviours ----------------------------------------------------------------


def test_text_stream_decodes_to_one_text_part_then_usage_then_stop():
    assert decode(TEXT_STREAM) == [
        ir.MessageStart("chatcmpl-inline", "gpt-4o-2024-08-06"),
        ir.PartStart(0, "text"),
        ir.TextDelta(0, "Hello"),
        ir.TextDelta(0, " world"),
        ir.PartStop(0),
        ir.UsageUpdate(ir.Usage(input=176, output=5, cache_read=1024)),
        ir.Stop("end_turn"),
    ]


def test_tool_call_stream_decodes_to_a_tool_part_with_its_arguments():
    events = decode(TOOL_CALL_STREAM)
    assert events[1] == ir.PartStart(0, "tool_call", id="call_4Xz", name="get_weather")
    assert arguments(events, 0) == '{"city":"Paris"}'
    assert events[-1] == ir.Stop("tool_use")


def test_parallel_tool_calls_get_part_indexes_in_order_of_appearance():
    events = decode(PARALLEL_STREAM)
    starts = [e for e in events if isinstance(e, ir.PartStart)]
    assert [(s.index, s.id) for s in starts] == [(0, "call_a"), (1, "call_b")]
    assert arguments(events, 1) == '{"ticker": "AAPL"}'


def test_a_new_part_closes_the_open_one():
    events = decode(PARALLEL_STREAM)
    kinds = [type(e).__name__ for e in events if isinstance(e, ir.PartStart | ir.PartStop)]
    assert kinds == ["PartStart", "PartStop", "PartStart", "PartStop"]


def test_deepseek_usage_on_the_finish_chunk_comes_before_the_stop_at_close():
    events = decode(DEEPSEEK_STREAM)
    assert events[-3:] == [
        ir.PartStop(1),
        ir.UsageUpdate(ir.Usage(input=19, output=83, cache_read=320, reasoning=39)),
        ir.Stop("tool_use"),
    ]


def test_reasoning_content_then_content_are_two_parts():
    raw = sse(
        chunk({"role": "assistant", "reasoning_content": "think"}),
        chunk({"content": "answer"}),
        chunk({}, "stop"),
    )
    events = decode(raw)
    assert events[1:6] == [
        ir.PartStart(0, "thinking"),
        ir.ThinkingDelta(0, "think"),
        ir.PartStop(0),
        ir.PartStart(1, "text"),
        ir.TextDelta(1, "answer"),
    ]


def test_the_reasoning_delta_of_vllm_and_groq_is_thinking():
    events = decode(sse(chunk({"reasoning": "hmm"}), chunk({}, "stop")))
    assert ir.ThinkingDelta(0, "hmm") in events


def test_text_after_a_tool_call_is_a_new_part():
    raw = sse(
        chunk({"content": "a"}),
        chunk(
            {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}]}
        ),
        chunk({"content": "b"}),
        chunk({}, "tool_calls"),
    )
    starts = [e for e in decode(raw) if isinstance(e, ir.PartStart)]
    assert [(s.index, s.kind) for s in starts] == [(0, "text"), (1, "tool_call"), (2, "text")]


def test_whole_tool_calls_without_an_index_are_told_apart_by_id():
    raw = sse(
        chunk({"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a":1}'}}]}),
        chunk({"tool_calls": [{"id": "c2", "function": {"name": "g", "arguments": '{"b":2}'}}]}),
        chunk({}, "tool_calls"),
    )
    events = decode(raw)
    assert (arguments(events, 0), arguments(events, 1)) == ('{"a":1}', '{"b":2}')


def test_crlf_line_endings_decode_the_same():
    assert decode(TOOL_CALL_STREAM.replace(b"\n", b"\r\n")) == decode(TOOL_CALL_STREAM)


def test_comments_blank_data_lines_and_padding_are_ignored():
    padded = TEXT_STREAM.replace(b"data: ", b"data:    ")
    noisy = b": keep-alive\n\ndata:\n\ndata: \n\n" + padded.replace(b"\n\n", b"  \n\n: ping\n\n")
    assert decode(noisy) == decode(TEXT_STREAM)


def test_every_split_point_gives_the_same_events():
    whole = decode(TOOL_CALL_STREAM)
    for cut in range(1, len(TOOL_CALL_STREAM)):
        assert decode(TOOL_CALL_STREAM, [cut]) == whole, cut


def test_random_pieces_give_the_same_events():
    rng = random.Random(7)
    whole = decode(DEEPSEEK_STREAM)
    for _ in range(50):
        assert decode(DEEPSEEK_STREAM, [rng.randint(1, 40) for _ in range(40)]) == whole


def test_a_finished_stream_without_done_stops_at_close():
    events = decode(sse(chunk({"content": "hi"}), chunk({}, "stop"), done=False))
    assert events[-1] == ir.Stop("end_turn")


def test_a_stream_ending_before_its_finish_is_an_error():
    events = decode(sse(chunk({"content": "hi"}), done=False))
    assert events[-1] == ir.StreamError("upstream", "stream ended before it was complete")
    assert not any(isinstance(e, ir.Stop) for e in events)


def test_a_final_done_without_its_blank_line_still_counts():
    events = decode(TEXT_STREAM[: -len(b"\n\n")])
    assert events[-1] == ir.Stop("end_turn")


def test_done_without_a_finish_chunk_stops_with_end_turn():
    events = decode(sse(chunk({"content": "hi"})))
    assert events[-2:] == [ir.PartStop(0), ir.Stop("end_turn")]


def test_done_with_no_chunk_before_it_is_an_error():
    assert decode(b"data: [DONE]\n\n") == [ir.StreamError("upstream", "stream had no answer")]


def test_a_truncated_last_chunk_is_an_error_at_close():
    events = decode(sse(chunk({"content": "hi"}), done=False) + b'data: {"id":"chatcmpl-in')
    assert events[-1] == ir.StreamError("upstream", "stream ended before it was complete")


def test_stop_is_emitted_once_and_nothing_follows_it():
    decoder = FMT.stream_decoder()
    events = decoder.feed(TEXT_STREAM) + decoder.feed(sse(chunk({"content": "late"})))
    events += decoder.close()
    assert [e for e in events if isinstance(e, ir.Stop)] == [ir.Stop("end_turn")]
    assert events[-1] == ir.Stop("end_turn")


def test_error_data_becomes_a_stream_error_of_the_matching_kind():
    error = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
    events = decode(sse(chunk({"content": "a"}), {"error": error}, done=False))
    assert events[-1] == ir.StreamError("rate_limited", "Rate limit reached", 429)


def test_a_numeric_error_code_is_the_status():
    events = decode(sse({"error": {"message": "Provider returned error", "code": 502}}, done=False))
    assert events == [ir.StreamError("upstream", "Provider returned error", 502)]


def test_a_malformed_chunk_is_a_stream_error():
    events = decode(b"data: {not json}\n\n")
    assert events == [ir.StreamError("upstream", "malformed stream chunk")]


def test_a_content_filter_finish_stops_with_content_filter():
    events = decode(sse(chunk({"content": "a"}), chunk({}, "content_filter")))
    assert events[-1] == ir.Stop("content_filter")


# -- stream encoding ----------------------------------------------------------------------------

REPRESENTATIVE_EVENTS: list[ir.Event] = [
    ir.MessageStart("chatcmpl-rt", "gpt-4o"),
    ir.PartStart(0, "thinking"),
    ir.ThinkingDelta(0, "Let me think."),
    ir.PartStop(0),
    ir.PartStart(1, "text"),
    ir.TextDelta(1, "Checking "),
    ir.TextDelta(1, 'the "weather".\n'),
    ir.PartStop(1),
    ir.PartStart(2, "tool_call", id="call_a", name="get_weather"),
    ir.ToolArgumentsDelta(2, '{"city":'),
    ir.ToolArgumentsDelta(2, '"Paris"}'),
    ir.PartStop(2),
    ir.PartStart(3, "tool_call", id="call_b", name="get_time"),
    ir.ToolArgumentsDelta(3, '{"tz":"CET"}'),
    ir.PartStop(3),
    ir.UsageUpdate(ir.Usage(input=100, output=40, cache_read=20, reasoning=10)),
    ir.Stop("tool_use"),
]


def encode(events: list[ir.Event], *, include_usage: bool = True) -> bytes:
    client = {"stream": True, "stream_options": {"include_usage": include_usage}}
    encoder = FMT.stream_encoder("gpt-4o", client)
    return encoder.encode(events) + encoder.finish()


def test_decoding_the_encoded_events_gives_them_back():
    assert decode(encode(REPRESENTATIVE_EVENTS)) == REPRESENTATIVE_EVENTS


def test_re_encoding_a_capture_decodes_to_the_same_events():
    events = decode(capture("openai_chat_stream_parallel_tool_calls.sse"))
    encoder = FMT.stream_encoder("gpt-4o-2024-08-06", {"stream_options": {"include_usage": True}})
    assert decode(encoder.encode(events) + encoder.finish()) == events


def test_every_encoded_chunk_is_a_valid_sdk_chunk_with_one_id_and_created():
    data = payloads(encode(REPRESENTATIVE_EVENTS))
    assert data[-1] == b"[DONE]"
    chunks = [ChatCompletionChunk.model_validate(orjson.loads(d)) for d in data[:-1]]
    assert {(c.id, c.created, c.model, c.object) for c in chunks} == {
        ("chatcmpl-rt", chunks[0].created, "gpt-4o", "chat.completion.chunk")
    }


def test_sdk_chunks_accumulate_to_the_text_reasoning_and_tool_arguments():
    chunks = [
        ChatCompletionChunk.model_validate(orjson.loads(d))
        for d in payloads(encode(REPRESENTATIVE_EVENTS))[:-1]
    ]
    text, calls = "", {}
    for c in chunks:
        for choice in c.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": call.id, "name": None, "args": ""})
                if call.function and call.function.name:
                    entry["name"] = call.function.name
                entry["args"] += (call.function and call.function.arguments) or ""
    assert text == 'Checking the "weather".\n'
    assert calls == {
        0: {"id": "call_a", "name": "get_weather", "args": '{"city":"Paris"}'},
        1: {"id": "call_b", "name": "get_time", "args": '{"tz":"CET"}'},
    }
    reasoning = [c.choices[0].delta.model_extra.get("reasoning_content") for c in chunks[1:2]]
    assert reasoning == ["Let me think."]


def test_the_first_delta_carries_the_assistant_role():
    first = orjson.loads(payloads(encode(REPRESENTATIVE_EVENTS))[0])
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}


def test_a_tool_call_starts_with_index_id_type_name_and_empty_arguments():
    data = [orjson.loads(d) for d in payloads(encode(REPRESENTATIVE_EVENTS))[:-1]]
    starts = [
        d["choices"][0]["delta"]["tool_calls"][0]
        for d in data
        if d["choices"] and "id" in d["choices"][0]["delta"].get("tool_calls", [{}])[0]
    ]
    assert starts[1] == {
        "index": 1,
        "id": "call_b",
        "type": "function",
        "function": {"name": "get_time", "arguments": ""},
    }


def test_the_stream_ends_with_finish_chunk_usage_chunk_and_done():
    data = payloads(encode(REPRESENTATIVE_EVENTS))
    finish, usage = orjson.loads(data[-3]), orjson.loads(data[-2])
    assert finish["choices"] == [
        {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "tool_calls"}
    ]
    assert usage["choices"] == []
    assert usage["usage"]["prompt_tokens"] == 120
    assert usage["usage"]["prompt_tokens_details"]["cached_tokens"] == 20
    assert data[-1] == b"[DONE]"


def test_every_frame_ends_with_a_blank_line():
    stream = encode(REPRESENTATIVE_EVENTS)
    assert stream.endswith(b"\n\n")
    assert all(frame.startswith(b"data: ") for frame in stream.split(b"\n\n") if frame)


def test_done_waits_for_finish_so_late_usage_is_kept():
    encoder = FMT.stream_encoder("m", {"stream_options": {"include_usage": True}})
    head = encoder.encode([ir.MessageStart("x", "m"), ir.Stop("end_turn")])
    tail = encoder.encode([ir.UsageUpdate(ir.Usage(input=1, output=2))]) + encoder.finish()
    assert b"[DONE]" not in head
    assert payloads(tail)[-1] == b"[DONE]"
    assert orjson.loads(payloads(tail)[0])["usage"]["completion_tokens"] == 2


def test_without_include_usage_there_is_no_usage_chunk():
    data = payloads(encode(REPRESENTATIVE_EVENTS, include_usage=False))
    assert not any(b'"usage"' in d for d in data)
    assert data[-1] == b"[DONE]"


def test_a_stream_error_becomes_an_error_event_without_done():
    encoder = FMT.stream_encoder("m")
    out = (
        encoder.encode([ir.MessageStart("x", "m"), ir.StreamError("rate_limited", "slow down")])
        + encoder.finish()
    )
    last = orjson.loads(payloads(out)[-1])
    assert last["error"]["message"] == "slow down"
    assert last["error"]["type"] == "rate_limit_error"
    assert b"[DONE]" not in out


def test_a_foreign_error_type_is_kept_as_the_error_type():
    out = encode([ir.StreamError("overloaded_error", "Overloaded")])
    assert orjson.loads(payloads(out)[-1])["error"]["type"] == "overloaded_error"


def test_a_stream_error_round_trips_through_the_wire():
    events = [ir.MessageStart("x", "gpt-4o"), ir.StreamError("quota_exhausted", "no credit", 429)]
    assert decode(encode(events)) == events


def test_finish_without_a_stop_is_an_error_event_not_done():
    encoder = FMT.stream_encoder("m")
    out = encoder.encode([ir.MessageStart("x", "m"), ir.TextDelta(0, "cut")]) + encoder.finish()
    assert b"[DONE]" not in out
    assert orjson.loads(payloads(out)[-1])["error"]["message"] == (
        "stream ended before it was complete"
    )


def test_signatures_and_redacted_thinking_are_left_out():
    events: list[ir.Event] = [
        ir.MessageStart("x", "gpt-4o"),
        ir.PartStart(0, "redacted_thinking", data="opaque"),
        ir.PartStop(0),
        ir.PartStart(1, "thinking"),
        ir.ThinkingDelta(1, "t"),
        ir.SignatureDelta(1, "sig"),
        ir.PartStop(1),
        ir.Stop("end_turn"),
    ]
    out = encode(events)
    assert b"opaque" not in out
    assert b"sig" not in out


# -- the SDK as a client ------------------------------------------------------------------------


async def sdk_stream(aiohttp_server: Any, body: bytes) -> openai.AsyncOpenAI:
    """An SDK client whose upstream replies to every chat request with ``body`` as SSE."""

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in (body[i : i + 7] for i in range(0, len(body), 7)):
            await response.write(piece)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", reply)
    server = await aiohttp_server(app)
    return openai.AsyncOpenAI(api_key="k", base_url=str(server.make_url("/v1")), max_retries=0)


async def test_the_openai_sdk_reads_an_encoded_stream(aiohttp_server):
    client = await sdk_stream(aiohttp_server, encode(REPRESENTATIVE_EVENTS))
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text, args, finish, usage = "", {}, None, None
    async for c in stream:
        usage = c.usage or usage
        for choice in c.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
    await client.close()
    assert (text, finish) == ('Checking the "weather".\n', "tool_calls")
    assert args == {0: '{"city":"Paris"}', 1: '{"tz":"CET"}'}
    assert usage is not None and usage.total_tokens == 160


async def test_the_openai_sdk_raises_on_an_encoded_stream_error(aiohttp_server):
    events = [ir.MessageStart("x", "m"), ir.TextDelta(0, "a"), ir.StreamError("upstream", "boom")]
    client = await sdk_stream(aiohttp_server, encode(events))
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="boom"):
        async for _ in stream:
            pass
    await client.close()
