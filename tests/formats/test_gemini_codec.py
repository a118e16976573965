"""The Gemini generateContent codec: requests, responses and streams to and from the IR.

Golden tests read the real captures in ``../shared/fixtures/wire/`` when they are there (and
skip otherwise); every core behaviour is also pinned by a small inline fixture of the same
shape. The official ``google-genai`` SDK checks what the codec writes: its types validate the
chunks and bodies, and its client reads encoded streams from a local server.
"""

from __future__ import annotations

import copy
import logging
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.formats import ir
from omniroute.formats.gemini import SKIP_SIGNATURE, GeminiFormat, register_formats
from omniroute.formats.gemini_stream import usage_from_gemini, usage_to_gemini
from omniroute.formats.openai import OpenAIChatFormat
from omniroute.gateway.sse import SSEScanner

FMT = GeminiFormat()
WIRE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "wire"
SIG_A = "EqUCCqICAb4+9vsh8Pd5taZVoPzSvjWW"
SIG_B = "AY89a18a8/Loc2wl5oft+F3qHoU4VPX0"


def capture(name: str) -> bytes:
    """A real capture from the shared fixtures, or skip the test when it is not there."""
    path = WIRE / name
    if not path.exists():
        pytest.skip(f"capture {name} not available")
    return path.read_bytes()


def sse(*payloads: Any, newline: bytes = b"\r\n") -> bytes:
    """A Gemini stream: each payload as a ``data:`` event (CRLF, as Google sends them)."""
    return b"".join(b"data: " + orjson.dumps(p) + newline * 2 for p in payloads)


def chunk(
    parts: list[dict[str, Any]], finish: str | None = None, usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A streamed ``GenerateContentResponse`` in the shape of the captures."""
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish is not None:
        candidate["finishReason"] = finish
    body: dict[str, Any] = {"candidates": [candidate]}
    if usage is not None:
        body["usageMetadata"] = usage
    body.update(modelVersion="gemini-2.5-flash", responseId="resp-inline")
    return body


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


def without_ids(events: list[ir.Event]) -> list[ir.Event]:
    """Events with made-up tool call ids blanked (they are random)."""
    return [
        ir.PartStart(e.index, e.kind, None, e.name, e.data)
        if isinstance(e, ir.PartStart) and e.kind == "tool_call"
        else e
        for e in events
    ]


def payloads(stream: bytes) -> list[dict[str, Any]]:
    """The JSON payloads of an encoded stream, in order."""
    return [orjson.loads(data) for _, data in SSEScanner().feed(stream) if data is not None]


def parse(body: dict[str, Any]) -> ir.Request:
    return FMT.parse_request(body)


USAGE = {
    "promptTokenCount": 30,
    "candidatesTokenCount": 12,
    "totalTokenCount": 50,
    "thoughtsTokenCount": 8,
}


# -- the format -------------------------------------------------------------------------------


def test_gemini_format_declares_that_it_translates():
    assert (FMT.id, FMT.translates) == ("gemini", True)


def test_register_formats_registers_one_gemini_format():
    registered: list[Any] = []
    register_formats(registered.append)
    assert [type(f) for f in registered] == [GeminiFormat]


@pytest.mark.parametrize(
    ("err", "code", "status"),
    [
        (GatewayError(ErrorKind.RATE_LIMITED, "slow"), 429, "RESOURCE_EXHAUSTED"),
        (GatewayError(ErrorKind.QUOTA_EXHAUSTED, "spent"), 429, "RESOURCE_EXHAUSTED"),
        (GatewayError(ErrorKind.AUTH, "who"), 401, "UNAUTHENTICATED"),
        (GatewayError(ErrorKind.AUTH, "no", status=403), 403, "PERMISSION_DENIED"),
        (GatewayError(ErrorKind.NOT_FOUND, "gone"), 404, "NOT_FOUND"),
        (BadRequest("bad"), 400, "INVALID_ARGUMENT"),
        (GatewayError(ErrorKind.UPSTREAM, "down"), 502, "UNAVAILABLE"),
        (GatewayError(ErrorKind.UPSTREAM, "oops", status=500), 500, "INTERNAL"),
        (GatewayError(ErrorKind.TIMEOUT, "late"), 504, "DEADLINE_EXCEEDED"),
        (GatewayError(ErrorKind.UNAVAILABLE, "none"), 503, "UNAVAILABLE"),
    ],
)
def test_error_body_is_a_google_rpc_status_with_the_http_code(err, code, status):
    body = orjson.loads(FMT.error_body(err))
    assert body == {"error": {"code": code, "message": err.message, "status": status}}


def test_a_retry_after_becomes_a_retry_info_detail():
    err = GatewayError(ErrorKind.RATE_LIMITED, "slow", retry_after=34.4)
    details = orjson.loads(FMT.error_body(err))["error"]["details"]
    assert details == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34.4s"}]


def test_a_stream_error_event_is_one_crlf_data_chunk_holding_the_error():
    event = FMT.stream_error_event(GatewayError(ErrorKind.RATE_LIMITED, "slow"))
    assert event.startswith(b'data: {"error":') and event.endswith(b"}\r\n\r\n")
    assert payloads(event) == [
        {"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}}
    ]


def test_passthrough_returns_a_copy_of_the_body_without_adding_a_model():
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    out = FMT.passthrough_request(body, "gemini-2.5-pro", stream_usage=True)
    assert out == body
    assert out is not body


# -- request parsing --------------------------------------------------------------------------


def test_the_model_comes_from_the_body_only_when_it_has_one():
    assert parse({"contents": []}).model == ""
    assert parse({"contents": [], "model": "gemini-2.5-flash"}).model == "gemini-2.5-flash"


def test_system_instruction_becomes_system_text_in_either_spelling():
    camel = parse({"contents": [], "systemInstruction": {"parts": [{"text": "be brief"}]}})
    snake = parse({"contents": [], "system_instruction": {"parts": [{"text": "be brief"}]}})
    assert camel.system == snake.system == [ir.TextPart("be brief")]


def test_roles_user_and_model_become_user_and_assistant_and_a_missing_role_is_user():
    request = parse(
        {
            "contents": [
                {"parts": [{"text": "hi"}]},
                {"role": "model", "parts": [{"text": "hello"}]},
                {"role": "user", "parts": [{"text": "bye"}]},
            ]
        }
    )
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]


REQUEST_CAMEL: dict[str, Any] = {
    "contents": [
        {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 21}}}],
        },
    ],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "tools": [{"functionDeclarations": [{"name": "get_weather", "parametersJsonSchema": {}}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["x"]}},
    "generationConfig": {
        "maxOutputTokens": 100,
        "topP": 0.5,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True},
    },
}


def to_snake(value: Any) -> Any:
    """The proto (snake_case) spelling of a body, as SDKs' ``model_dump()`` writes it."""
    names = {
        "inlineData": "inline_data",
        "mimeType": "mime_type",
        "functionCall": "function_call",
        "functionResponse": "function_response",
        "systemInstruction": "system_instruction",
        "functionDeclarations": "function_declarations",
        "parametersJsonSchema": "parameters_json_schema",
        "toolConfig": "tool_config",
        "functionCallingConfig": "function_calling_config",
        "allowedFunctionNames": "allowed_function_names",
        "generationConfig": "generation_config",
        "maxOutputTokens": "max_output_tokens",
        "topP": "top_p",
        "stopSequences": "stop_sequences",
        "responseMimeType": "response_mime_type",
        "thinkingConfig": "thinking_config",
        "thinkingBudget": "thinking_budget",
        "includeThoughts": "include_thoughts",
    }
    if isinstance(value, list):
        return [to_snake(v) for v in value]
    if isinstance(value, dict):
        return {names.get(k, k): v if k == "args" else to_snake(v) for k, v in value.items()}
    return value


def test_snake_case_bodies_parse_exactly_like_camel_case_ones():
    assert parse(to_snake(REQUEST_CAMEL)) == parse(REQUEST_CAMEL)


def test_inline_images_and_file_uris_become_image_parts():
    request = parse(
        {
            "contents": [
                {
                    "parts": [
                        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
                        {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/cat.png"}},
                    ]
                }
            ]
        }
    )
    assert request.messages[0].parts == [
        ir.ImagePart(data="/9j/4AAQ", media_type="image/jpeg"),
        ir.ImagePart(url="gs://b/cat.png", media_type="image/png"),
    ]


def test_non_image_data_stays_in_the_message_extras_and_renders_back_in_place():
    pdf = {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0x"}}
    code = {"executableCode": {"language": "PYTHON", "code": "print(1)"}}
    body = {"contents": [{"role": "user", "parts": [{"text": "read"}, pdf, code]}]}
    request = parse(body)
    assert request.messages[0].parts == [ir.TextPart("read")]
    assert request.messages[0].extras["gemini_unknown"] == [[1, pdf], [2, code]]
    assert FMT.render_request(request)["contents"] == body["contents"]


def test_function_calls_keep_their_id_arguments_and_signature():
    part = {
        "functionCall": {"id": "fc-1", "name": "weather", "args": {"location": "SF"}},
        "thoughtSignature": SIG_A,
    }
    call = parse({"contents": [{"role": "model", "parts": [part]}]}).messages[0].parts[0]
    assert call == ir.ToolCallPart("fc-1", "weather", '{"location":"SF"}', signature=SIG_A)


def test_function_calls_without_ids_get_ids_that_are_the_same_on_every_parse():
    body = {
        "contents": [
            {"role": "model", "parts": [{"functionCall": {"name": "a"}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "a", "response": {}}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "a", "args": {}}}]},
        ]
    }
    first, second = parse(body), parse(body)
    call, result, later = (m.parts[0] for m in first.messages)
    assert isinstance(call, ir.ToolCallPart) and isinstance(later, ir.ToolCallPart)
    assert isinstance(result, ir.ToolResultPart)
    assert (call.id, result.tool_call_id, later.id) == ("call_a_0", "call_a_0", "call_a_1")
    assert first == second
    assert first.messages[0].parts[0].arguments == "{}"  # type: ignore[union-attr]


def test_a_function_response_answers_the_call_with_its_id():
    body = {
        "contents": [
            {"role": "model", "parts": [{"functionCall": {"id": "c9", "name": "f", "args": {}}}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"id": "c9", "name": "f", "response": {"ok": 1}}}],
            },
        ]
    }
    result = parse(body).messages[1].parts[0]
    assert result == ir.ToolResultPart("c9", [ir.TextPart('{"ok":1}')], name="f")


def test_parallel_responses_without_ids_answer_calls_of_their_name_in_order():
    calls = [{"functionCall": {"name": n, "args": {"i": i}}} for i, n in enumerate("aba")]
    results = [{"functionResponse": {"name": n, "response": {}}} for n in "baa"]
    request = parse({"contents": [{"role": "model", "parts": calls}, {"parts": results}]})
    call_ids = [p.id for p in request.messages[0].parts]  # type: ignore[union-attr]
    answered = [p.tool_call_id for p in request.messages[1].parts]  # type: ignore[union-attr]
    assert answered == [call_ids[1], call_ids[0], call_ids[2]]


def test_an_unanswered_call_in_the_latest_turn_wins_over_an_older_one():
    body = {
        "contents": [
            {"role": "model", "parts": [{"functionCall": {"name": "f", "id": "old"}}]},
            {"parts": [{"text": "never mind"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "id": "new"}}]},
            {"parts": [{"functionResponse": {"name": "f", "response": {}}}]},
        ]
    }
    assert parse(body).messages[3].parts[0].tool_call_id == "new"  # type: ignore[union-attr]


def test_a_response_holding_only_an_error_is_an_error_result():
    part = {"functionResponse": {"name": "f", "response": {"error": "no such city"}}}
    result = parse({"contents": [{"parts": [part]}]}).messages[0].parts[0]
    assert isinstance(result, ir.ToolResultPart) and result.is_error
    assert result.text() == '{"error":"no such city"}'


def test_thought_parts_become_thinking_with_their_signature():
    parts = [{"text": "**Plan**", "thought": True, "thoughtSignature": SIG_A}, {"text": "Hi"}]
    message = parse({"contents": [{"role": "model", "parts": parts}]}).messages[0]
    assert message.parts == [ir.ThinkingPart("**Plan**", signature=SIG_A), ir.TextPart("Hi")]


def test_a_signature_on_a_text_part_rides_in_its_extras():
    parts = [{"text": "Hi"}, {"text": "", "thoughtSignature": SIG_B}]
    message = parse({"contents": [{"role": "model", "parts": parts}]}).messages[0]
    assert message.parts == [ir.TextPart("Hi"), ir.TextPart("", {"thoughtSignature": SIG_B})]


def test_empty_text_parts_are_dropped():
    message = parse({"contents": [{"parts": [{"text": ""}, {"text": "x"}]}]}).messages[0]
    assert message.parts == [ir.TextPart("x")]


def test_function_declarations_become_tools_with_a_json_schema():
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    body = {
        "contents": [],
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "search", "description": "web", "parametersJsonSchema": schema},
                    {"name": "now"},
                ]
            }
        ],
    }
    assert parse(body).tools == [
        ir.Tool("search", "web", schema),
        ir.Tool("now", None, {"type": "object"}),
    ]


def test_an_openapi_parameters_schema_is_read_as_json_schema_and_kept_for_gemini():
    parameters = {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "STRING", "nullable": True},
            "days": {"type": "ARRAY", "items": {"type": "INTEGER"}},
        },
        "propertyOrdering": ["city", "days"],
    }
    body = {
        "contents": [],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": parameters}]}],
    }
    tool = parse(body).tools[0]
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "city": {"type": ["string", "null"]},
            "days": {"type": "array", "items": {"type": "integer"}},
        },
    }
    assert FMT.render_request(parse(body))["tools"] == body["tools"]


def test_tools_other_than_functions_travel_in_gemini_tools_and_render_back():
    body = {
        "contents": [],
        "tools": [{"googleSearch": {}}, {"functionDeclarations": [{"name": "f"}]}],
    }
    request = parse(body)
    assert request.extras["gemini_tools"] == [{"googleSearch": {}}]
    assert FMT.render_request(request)["tools"] == [
        {"functionDeclarations": [{"name": "f"}]},
        {"googleSearch": {}},
    ]


@pytest.mark.parametrize(
    ("config", "choice"),
    [
        ({"mode": "AUTO"}, ir.ToolChoice("auto")),
        ({"mode": "NONE"}, ir.ToolChoice("none")),
        ({"mode": "ANY"}, ir.ToolChoice("required")),
        ({"mode": "ANY", "allowedFunctionNames": ["f"]}, ir.ToolChoice("tool", "f")),
    ],
)
def test_function_calling_modes_translate_both_ways(config, choice):
    body = {
        "contents": [],
        "tools": [{"functionDeclarations": [{"name": "f"}]}],
        "toolConfig": {"functionCallingConfig": config},
    }
    request = parse(body)
    assert request.tool_choice == choice
    assert FMT.render_request(request)["toolConfig"] == {"functionCallingConfig": config}


def test_any_mode_with_several_allowed_names_is_required_and_keeps_the_names_for_gemini():
    config = {"mode": "ANY", "allowedFunctionNames": ["f", "g"]}
    body = {
        "contents": [],
        "tools": [{"functionDeclarations": [{"name": "f"}, {"name": "g"}]}],
        "toolConfig": {"functionCallingConfig": config},
    }
    request = parse(body)
    assert request.tool_choice == ir.ToolChoice("required")
    assert FMT.render_request(request)["toolConfig"]["functionCallingConfig"] == config


def test_generation_parameters_are_read():
    config = {
        "maxOutputTokens": 256,
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "stopSequences": ["END", "STOP"],
    }
    request = parse({"contents": [], "generationConfig": config})
    assert (request.max_tokens, request.temperature, request.top_p, request.top_k) == (
        256,
        0.2,
        0.9,
        40,
    )
    assert request.stop == ["END", "STOP"]


@pytest.mark.parametrize(
    ("config", "response_format"),
    [
        ({"responseMimeType": "application/json"}, ir.ResponseFormat("json_object")),
        (
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
            ir.ResponseFormat("json_schema", {"type": "object"}),
        ),
        (
            {"responseMimeType": "application/json", "responseSchema": {"type": "OBJECT"}},
            ir.ResponseFormat("json_schema", {"type": "object"}),
        ),
        ({"responseMimeType": "text/plain"}, None),
    ],
)
def test_response_mime_type_and_schema_become_a_response_format(config, response_format):
    assert parse({"contents": [], "generationConfig": config}).response_format == response_format


@pytest.mark.parametrize(
    ("thinking", "reasoning"),
    [
        ({"thinkingBudget": 0}, ir.Reasoning(enabled=False)),
        ({"thinkingBudget": 2048}, ir.Reasoning(effort="low", budget_tokens=2048)),
        ({"thinkingBudget": -1}, ir.Reasoning()),
        ({"thinkingLevel": "LOW"}, ir.Reasoning(effort="low")),
        ({"thinkingLevel": "high"}, ir.Reasoning(effort="high")),
        ({"includeThoughts": True}, ir.Reasoning()),
        ({"includeThoughts": False}, None),
    ],
)
def test_thinking_config_becomes_reasoning(thinking, reasoning):
    body = {"contents": [], "generationConfig": {"thinkingConfig": thinking}}
    assert parse(body).reasoning == reasoning


def test_unknown_fields_travel_in_gemini_extras_and_merge_back_under_rendered_ones():
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "cached_content": "cachedContents/abc",
        "generationConfig": {"candidateCount": 1, "seed": 7, "temperature": 0.5},
    }
    request = parse(body)
    assert request.extras["gemini"] == {
        "safetySettings": body["safetySettings"],
        "cachedContent": "cachedContents/abc",
        "generationConfig": {"candidateCount": 1, "seed": 7},
    }
    rendered = FMT.render_request(request)
    assert rendered["cachedContent"] == "cachedContents/abc"
    assert rendered["generationConfig"] == {"temperature": 0.5, "candidateCount": 1, "seed": 7}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"contents": {"role": "user"}},
        {"contents": ["hi"]},
        {"contents": [{"role": "assistant", "parts": []}]},
        {"contents": [{"role": "user", "parts": "hi"}]},
        {"contents": [{"role": "user", "parts": ["hi"]}]},
        {"contents": [], "tools": {"functionDeclarations": []}},
    ],
)
def test_malformed_bodies_are_bad_requests(body):
    with pytest.raises(BadRequest):
        parse(body)


# -- request rendering ------------------------------------------------------------------------


def conversation() -> ir.Request:
    """A tool loop as an OpenAI client sends it: parallel calls, results without names."""
    return ir.Request(
        model="gemini-2.5-flash",
        system=[ir.TextPart("be brief")],
        messages=[
            ir.Message("user", [ir.TextPart("Weather and time in Paris?")]),
            ir.Message(
                "assistant",
                [
                    ir.ThinkingPart("Two tools."),
                    ir.TextPart("Checking."),
                    ir.ToolCallPart("call_w", "get_weather", '{"city":"Paris"}'),
                    ir.ToolCallPart("call_t", "get_time", '{"tz":"CET"}'),
                ],
            ),
            ir.Message(
                "user",
                [
                    ir.ToolResultPart("call_t", [ir.TextPart("12:00")]),
                    ir.ToolResultPart("call_w", [ir.TextPart('{"temp":21}')]),
                ],
            ),
            ir.Message("user", [ir.TextPart("Thanks!")]),
        ],
    )


def test_a_rendered_request_has_no_model_field():
    assert "model" not in FMT.render_request(conversation())


def test_consecutive_same_role_turns_merge():
    rendered = FMT.render_request(conversation())["contents"]
    assert [c["role"] for c in rendered] == ["user", "model", "user"]


def test_function_responses_lead_the_next_user_turn_in_call_order_named_after_their_calls():
    last = FMT.render_request(conversation())["contents"][2]["parts"]
    assert last == [
        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
        {"functionResponse": {"name": "get_time", "response": {"output": "12:00"}}},
        {"text": "Thanks!"},
    ]


def test_calls_and_responses_go_out_without_ids():
    rendered = orjson.dumps(FMT.render_request(conversation()))
    assert b"call_w" not in rendered and b"call_t" not in rendered


def test_unsigned_calls_get_the_documented_skip_signature_and_thinking_is_not_sent():
    model = FMT.render_request(conversation())["contents"][1]["parts"]
    assert model == [
        {"text": "Checking."},
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": SKIP_SIGNATURE,
        },
        {
            "functionCall": {"name": "get_time", "args": {"tz": "CET"}},
            "thoughtSignature": SKIP_SIGNATURE,
        },
    ]


def test_signatures_are_echoed_on_historical_calls_and_gemini_unsigned_siblings_stay_unsigned():
    # Gemini signs only the first of parallel calls; the history goes back as it came.
    contents = [
        {"role": "user", "parts": [{"text": "go"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "a", "args": {}}, "thoughtSignature": SIG_A},
                {"functionCall": {"name": "b", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "a", "response": {"output": "1"}}},
                {"functionResponse": {"name": "b", "response": {"output": "2"}}},
            ],
        },
    ]
    assert FMT.render_request(parse({"contents": contents}))["contents"] == contents


def test_a_result_named_in_the_ir_keeps_that_name():
    request = ir.Request(
        "m", [ir.Message("user", [ir.ToolResultPart("x", [ir.TextPart("ok")], name="lookup")])]
    )
    part = FMT.render_request(request)["contents"][0]["parts"][0]
    assert part == {"functionResponse": {"name": "lookup", "response": {"output": "ok"}}}


@pytest.mark.parametrize(
    ("content", "is_error", "response"),
    [
        ("plain", False, {"output": "plain"}),
        ('{"a": [1]}', False, {"a": [1]}),
        ("[1, 2]", False, {"output": "[1, 2]"}),
        ("boom", True, {"error": "boom"}),
        ('{"code": 7}', True, {"error": {"code": 7}}),
    ],
)
def test_result_text_becomes_the_response_object_gemini_requires(content, is_error, response):
    result = ir.ToolResultPart("c", [ir.TextPart(content)], is_error=is_error, name="f")
    request = ir.Request("m", [ir.Message("user", [result])])
    part = FMT.render_request(request)["contents"][0]["parts"][0]
    assert part["functionResponse"]["response"] == response


def test_images_in_tool_results_follow_the_results_as_inline_data():
    result = ir.ToolResultPart(
        "c", [ir.TextPart("shot"), ir.ImagePart(data="iVBORw0K", media_type="image/png")], name="f"
    )
    request = ir.Request("m", [ir.Message("user", [ir.TextPart("see"), result])])
    assert FMT.render_request(request)["contents"][0]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"output": "shot"}}},
        {"text": "see"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
    ]


def test_images_render_inline_from_data_and_data_urls_and_by_uri_otherwise():
    request = ir.Request(
        "m",
        [
            ir.Message(
                "user",
                [
                    ir.ImagePart(data="AAAA", media_type="image/webp"),
                    ir.ImagePart(url="data:image/gif;base64,R0lG"),
                    ir.ImagePart(url="https://example.com/cat.PNG?x=1"),
                    ir.ImagePart(url="gs://bucket/photo"),
                ],
            )
        ],
    )
    assert FMT.render_request(request)["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/webp", "data": "AAAA"}},
        {"inlineData": {"mimeType": "image/gif", "data": "R0lG"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.PNG?x=1"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/photo"}},
    ]


def test_tool_schemas_go_out_as_parameters_json_schema_without_dollar_schema():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"q": {"type": "string"}, "$schema": {"type": "string"}},
        "additionalProperties": False,
    }
    request = ir.Request("m", tools=[ir.Tool("search", "web", schema, strict=True)])
    assert FMT.render_request(request)["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "search",
                    "description": "web",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"q": {"type": "string"}, "$schema": {"type": "string"}},
                        "additionalProperties": False,
                    },
                }
            ]
        }
    ]


def test_a_bare_object_schema_is_left_out():
    tools = [ir.Tool("now", None, {"type": "object", "properties": {}, "required": []})]
    rendered = FMT.render_request(ir.Request("m", tools=tools))
    assert rendered["tools"] == [{"functionDeclarations": [{"name": "now"}]}]


def test_tool_config_goes_only_with_tools():
    request = ir.Request("m", tool_choice=ir.ToolChoice("required"))
    assert "toolConfig" not in FMT.render_request(request)


@pytest.mark.parametrize(
    ("reasoning", "model", "thinking"),
    [
        (ir.Reasoning(effort="high"), "gemini-2.5-flash", {"thinkingBudget": 24576}),
        (ir.Reasoning(budget_tokens=3000), "gemini-2.5-flash", {"thinkingBudget": 3000}),
        (ir.Reasoning(budget_tokens=64000), "gemini-2.5-pro", {"thinkingBudget": 24576}),
        (ir.Reasoning(budget_tokens=100), "gemini-2.5-flash", {"thinkingBudget": 512}),
        (ir.Reasoning(), "gemini-2.5-flash", {"thinkingBudget": 8192}),
    ],
)
def test_reasoning_renders_as_a_thinking_budget_with_thoughts_included(reasoning, model, thinking):
    request = ir.Request(model, reasoning=reasoning)
    config = FMT.render_request(request)["generationConfig"]
    assert config["thinkingConfig"] == {**thinking, "includeThoughts": True}


def test_disabled_reasoning_is_a_zero_budget_except_where_thinking_cannot_be_turned_off():
    flash = ir.Request("gemini-2.5-flash", reasoning=ir.Reasoning(enabled=False))
    pro = ir.Request("gemini/gemini-2.5-pro", reasoning=ir.Reasoning(enabled=False))
    assert FMT.render_request(flash)["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 0}
    }
    assert "generationConfig" not in FMT.render_request(pro)


def test_generation_parameters_render_with_at_most_five_stop_sequences(caplog):
    request = ir.Request(
        "m", max_tokens=64, temperature=0.3, top_p=0.8, top_k=5, stop=list("abcdef")
    )
    with caplog.at_level(logging.WARNING):
        config = FMT.render_request(request)["generationConfig"]
    assert config == {
        "maxOutputTokens": 64,
        "temperature": 0.3,
        "topP": 0.8,
        "topK": 5,
        "stopSequences": list("abcde"),
    }
    assert "stop sequences" in caplog.text


@pytest.mark.parametrize(
    ("response_format", "config"),
    [
        (ir.ResponseFormat("text"), None),
        (ir.ResponseFormat("json_object"), {"responseMimeType": "application/json"}),
        (
            ir.ResponseFormat("json_schema", {"$schema": "x", "type": "object"}, name="r"),
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
        ),
    ],
)
def test_response_format_renders_as_mime_type_and_json_schema(response_format, config):
    rendered = FMT.render_request(ir.Request("m", response_format=response_format))
    assert rendered.get("generationConfig") == config


def test_a_rendered_request_is_valid_for_the_sdk_types():
    request = conversation()
    request.tools = [ir.Tool("get_weather", "w", {"type": "object", "properties": {}})]
    request.tool_choice = ir.ToolChoice("tool", "get_weather")
    request.reasoning = ir.Reasoning(effort="low")
    request.response_format = ir.ResponseFormat("json_object")
    request.stop = ["x"]
    rendered = FMT.render_request(request)
    for content in rendered["contents"]:
        types.Content.model_validate(content)
    types.Content.model_validate(rendered["systemInstruction"])
    for tool in rendered["tools"]:
        types.Tool.model_validate(tool)
    types.ToolConfig.model_validate(rendered["toolConfig"])
    types.GenerationConfig.model_validate(rendered["generationConfig"])


def test_an_openai_tool_loop_renders_as_a_valid_gemini_conversation():
    openai_body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    }
    rendered = FMT.render_request(OpenAIChatFormat().parse_request(openai_body))
    assert rendered["contents"] == [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": SKIP_SIGNATURE,
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}}
            ],
        },
    ]


CANONICAL_BODY: dict[str, Any] = {
    "contents": [
        {"role": "user", "parts": [{"text": "What is in this image?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Let me look.", "thoughtSignature": SIG_B},
                {"functionCall": {"name": "zoom", "args": {"x": 1}}, "thoughtSignature": SIG_A},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "zoom", "response": {"output": "a cat"}}},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
            ],
        },
    ],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "zoom",
                    "description": "Zoom in",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"x": {"type": "integer"}},
                    },
                }
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "generationConfig": {
        "maxOutputTokens": 1000,
        "temperature": 0.7,
        "stopSequences": ["END"],
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True},
    },
}


def test_a_gemini_request_renders_back_to_the_body_it_came_from():
    assert FMT.render_request(parse(copy.deepcopy(CANONICAL_BODY))) == CANONICAL_BODY


def test_a_request_round_trips_through_the_wire():
    request = parse(CANONICAL_BODY)
    assert parse(FMT.render_request(request)) == request


# -- responses --------------------------------------------------------------------------------


def test_capture_response_parses_to_its_text_signature_and_usage():
    body = orjson.loads(capture("gemini_generate_content.json"))
    response = FMT.parse_response(body)
    assert (response.id, response.model) == ("Un6LacrVMcjUxs0PmJfWoQc", "gemini-3-pro-preview")
    assert [type(p) for p in response.parts] == [ir.TextPart]
    assert response.parts[0].extras["thoughtSignature"].startswith("EtoFCtcF")
    assert response.stop_reason == "end_turn"
    assert response.usage == ir.Usage(input=9, output=272, reasoning=244)


def test_capture_response_renders_back_exactly():
    body = orjson.loads(capture("gemini_generate_content.json"))
    assert FMT.render_response(FMT.parse_response(copy.deepcopy(body))) == body


RESPONSE_BODY: dict[str, Any] = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "**Plan**", "thought": True},
                    {"text": "Calling."},
                    {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": SIG_A},
                    {"functionCall": {"id": "g1", "name": "g", "args": {}}},
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
            "safetyRatings": [],
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 100,
        "candidatesTokenCount": 20,
        "totalTokenCount": 135,
        "cachedContentTokenCount": 60,
        "thoughtsTokenCount": 15,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "r-1",
}


def test_function_calls_with_stop_are_a_tool_use_stop():
    response = FMT.parse_response(RESPONSE_BODY)
    assert response.stop_reason == "tool_use"
    calls = [p for p in response.parts if isinstance(p, ir.ToolCallPart)]
    assert [(c.name, c.arguments, c.signature) for c in calls] == [
        ("f", '{"a":1}', SIG_A),
        ("g", "{}", None),
    ]
    assert calls[0].id.startswith("call_") and calls[1].id == "g1"


def test_response_calls_without_ids_get_fresh_ids_each_time():
    first, second = FMT.parse_response(RESPONSE_BODY), FMT.parse_response(RESPONSE_BODY)
    assert first.parts[2].id != second.parts[2].id  # type: ignore[union-attr]


def test_a_response_renders_back_exactly_without_made_up_ids():
    assert FMT.render_response(FMT.parse_response(RESPONSE_BODY)) == RESPONSE_BODY


def test_usage_input_excludes_cached_tokens_and_output_includes_thoughts():
    assert usage_from_gemini(RESPONSE_BODY["usageMetadata"]) == ir.Usage(
        input=40, output=35, cache_read=60, reasoning=15
    )


def test_usage_renders_prompt_tokens_including_cache_reads_and_writes():
    usage = usage_to_gemini(ir.Usage(input=10, output=7, cache_read=3, cache_write=2, reasoning=4))
    assert usage == {
        "promptTokenCount": 15,
        "candidatesTokenCount": 3,
        "totalTokenCount": 22,
        "cachedContentTokenCount": 3,
        "thoughtsTokenCount": 4,
    }


def test_usage_round_trips():
    usage = ir.Usage(input=40, output=35, cache_read=60, reasoning=15)
    assert usage_from_gemini(usage_to_gemini(usage)) == usage


@pytest.mark.parametrize(
    ("finish", "reason", "back"),
    [
        ("STOP", "end_turn", "STOP"),
        ("MAX_TOKENS", "max_tokens", "MAX_TOKENS"),
        ("SAFETY", "content_filter", "SAFETY"),
        ("RECITATION", "content_filter", "SAFETY"),
        ("BLOCKLIST", "content_filter", "SAFETY"),
        ("PROHIBITED_CONTENT", "content_filter", "SAFETY"),
        ("MALFORMED_FUNCTION_CALL", "error", "OTHER"),
        ("OTHER", "end_turn", "STOP"),
    ],
)
def test_finish_reasons_translate_both_ways(finish, reason, back):
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": finish}]}
    response = FMT.parse_response(body)
    assert response.stop_reason == reason
    response.extras.clear()
    assert FMT.render_response(response)["candidates"][0]["finishReason"] == back


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("tool_use", "STOP"), ("stop_sequence", "STOP"), ("refusal", "SAFETY"), ("error", "OTHER")],
)
def test_ir_stop_reasons_without_a_gemini_twin_render_as_the_nearest(reason, finish):
    response = ir.Response("r", "m", [ir.TextPart("x")], stop_reason=reason)
    assert FMT.render_response(response)["candidates"][0]["finishReason"] == finish


def test_a_prompt_blocked_before_any_candidate_is_a_content_filter_stop():
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}
    response = FMT.parse_response(body)
    assert (response.parts, response.stop_reason) == ([], "content_filter")


def test_a_code_assist_envelope_is_unwrapped():
    response = FMT.parse_response({"response": RESPONSE_BODY, "traceId": "t-1"})
    assert (response.id, response.stop_reason) == ("r-1", "tool_use")


def test_a_snake_case_response_parses_like_a_camel_case_one():
    body = {
        "candidates": [{"content": {"parts": [{"text": "hi"}]}, "finish_reason": "MAX_TOKENS"}],
        "usage_metadata": {"prompt_token_count": 3, "candidates_token_count": 2},
        "model_version": "gemini-2.5-flash",
        "response_id": "r",
    }
    response = FMT.parse_response(body)
    assert (response.id, response.model, response.stop_reason) == (
        "r",
        "gemini-2.5-flash",
        "max_tokens",
    )
    assert response.usage == ir.Usage(input=3, output=2)


def test_a_response_from_another_format_renders_valid_for_the_sdk():
    response = ir.Response(
        id="msg_1",
        model="claude-sonnet-4",
        parts=[
            ir.ThinkingPart("hmm", signature="c2ln"),
            ir.ThinkingPart(redacted=True, data="opaque"),
            ir.TextPart("Answer"),
            ir.ToolCallPart("toolu_1", "f", '{"a": 1}'),
            ir.ToolCallPart("toolu_2", "g", "not json"),
        ],
        stop_reason="tool_use",
        usage=ir.Usage(input=5, output=9, cache_read=2, reasoning=3),
    )
    body = FMT.render_response(response)
    assert body["candidates"][0]["content"]["parts"] == [
        {"text": "hmm", "thought": True, "thoughtSignature": "c2ln"},
        {"text": "Answer"},
        {"functionCall": {"name": "f", "args": {"a": 1}, "id": "toolu_1"}},
        {"functionCall": {"name": "g", "args": {}, "id": "toolu_2"}},
    ]
    parsed = types.GenerateContentResponse.model_validate(body)
    assert parsed.text == "Answer"
    assert [c.id for c in parsed.function_calls or []] == ["toolu_1", "toolu_2"]


# -- stream decoding --------------------------------------------------------------------------

GEMINI_CAPTURES = (
    "gemini_stream_text.sse",
    "gemini_stream_function_call.sse",
    "gemini_vertex_stream_partial_args.sse",
)


def test_capture_text_stream_decodes_to_one_text_part_usage_and_stop():
    events = decode(capture("gemini_stream_text.sse"))
    assert events[0] == ir.MessageStart("bH6LaZW8Fp_3nsEPqtaSwQ4", "gemini-3-pro-preview")
    text = "".join(e.text for e in events if isinstance(e, ir.TextDelta))
    assert text == 'There are **3** "r"s in strawberry.\n\nst**r**awbe**rr**y'
    assert [type(e) for e in events if not isinstance(e, ir.TextDelta | ir.UsageUpdate)] == [
        ir.MessageStart,
        ir.PartStart,
        ir.PartStop,
        ir.Stop,
    ]
    usages = [e.usage for e in events if isinstance(e, ir.UsageUpdate)]
    assert usages[-1] == ir.Usage(input=9, output=208, reasoning=185)
    assert events[-1] == ir.Stop("end_turn")


def test_capture_function_call_decodes_to_a_whole_call_with_its_signature_and_tool_use():
    events = without_ids(decode(capture("gemini_stream_function_call.sse")))
    signature = events[3].signature  # type: ignore[union-attr]
    assert signature.startswith("EqUCCqICAb4+")
    assert events == [
        ir.MessageStart("b36LacjwM668nsEP2tbsgQQ", "gemini-3-pro-preview"),
        ir.PartStart(0, "tool_call", None, "weather"),
        ir.ToolArgumentsDelta(0, '{"location":"San Francisco"}'),
        ir.SignatureDelta(0, signature),
        ir.PartStop(0),
        ir.UsageUpdate(ir.Usage(input=29, output=60, reasoning=45)),
        ir.Stop("tool_use"),
    ]


def test_capture_vertex_streamed_arguments_are_assembled_into_whole_calls():
    events = without_ids(decode(capture("gemini_vertex_stream_partial_args.sse")))
    starts = [(e.index, e.kind, e.name) for e in events if isinstance(e, ir.PartStart)]
    assert starts == [
        (0, "thinking", None),
        (1, "tool_call", "read_theme"),
        (2, "tool_call", "read_screen"),
        (3, "tool_call", "read_screen"),
        (4, "tool_call", "read_screen"),
    ]
    arguments = {e.index: e.fragment for e in events if isinstance(e, ir.ToolArgumentsDelta)}
    assert arguments == {1: "{}", 2: '{"id":"A"}', 3: '{"id":"B"}', 4: '{"id":"C"}'}
    assert [e.index for e in events if isinstance(e, ir.SignatureDelta)] == [1]
    assert [e.index for e in events if isinstance(e, ir.PartStop)] == [0, 1, 2, 3, 4]
    assert events[-2:] == [
        ir.UsageUpdate(ir.Usage(input=249, output=241, reasoning=183)),
        ir.Stop("tool_use"),
    ]


def test_capture_malformed_function_call_is_thinking_then_an_error_stop():
    chunks = orjson.loads(capture("gemini_stream_malformed_function_call.json"))["chunks"]
    events = decode(sse(*chunks))
    assert [type(e) for e in events if not isinstance(e, ir.ThinkingDelta | ir.UsageUpdate)] == [
        ir.MessageStart,
        ir.PartStart,
        ir.PartStop,
        ir.Stop,
    ]
    assert sum(isinstance(e, ir.ThinkingDelta) for e in events) == 3
    usages = [e.usage for e in events if isinstance(e, ir.UsageUpdate)]
    assert usages[-1] == ir.Usage(input=5008, output=1226, cache_read=19504, reasoning=1059)
    assert events[-1] == ir.Stop("error")


@pytest.mark.parametrize("name", GEMINI_CAPTURES)
def test_capture_decodes_the_same_when_fed_one_byte_at_a_time(name):
    raw = capture(name)
    assert without_ids(decode(raw, [1] * len(raw))) == without_ids(decode(raw))


@pytest.mark.parametrize("name", GEMINI_CAPTURES)
def test_capture_decodes_the_same_in_random_pieces(name):
    raw = capture(name)
    rng = random.Random(name)
    for _ in range(20):
        pieces = [rng.randint(1, 64) for _ in range(len(raw) // 8)]
        assert without_ids(decode(raw, pieces)) == without_ids(decode(raw))


INLINE_STREAM = sse(
    chunk([{"text": "**Plan**\n", "thought": True}], usage={"promptTokenCount": 30}),
    chunk([{"text": "", "thought": True, "thoughtSignature": SIG_B}]),
    chunk([{"text": "Hello"}, {"text": ", world"}]),
    chunk(
        [
            {"functionCall": {"id": "a", "name": "f", "args": {"x": [1, "é"]}}},
            {"functionCall": {"id": "b", "name": "g", "args": {}}, "thoughtSignature": SIG_A},
        ],
        usage=USAGE,
    ),
    chunk([{"text": ""}], "STOP", usage=USAGE),
)

INLINE_EVENTS: list[ir.Event] = [
    ir.MessageStart("resp-inline", "gemini-2.5-flash"),
    ir.PartStart(0, "thinking"),
    ir.ThinkingDelta(0, "**Plan**\n"),
    ir.UsageUpdate(ir.Usage(input=30)),
    ir.SignatureDelta(0, SIG_B),
    ir.PartStop(0),
    ir.PartStart(1, "text"),
    ir.TextDelta(1, "Hello"),
    ir.TextDelta(1, ", world"),
    ir.PartStop(1),
    ir.PartStart(2, "tool_call", id="a", name="f"),
    ir.ToolArgumentsDelta(2, '{"x":[1,"é"]}'),
    ir.PartStop(2),
    ir.PartStart(3, "tool_call", id="b", name="g"),
    ir.ToolArgumentsDelta(3, "{}"),
    ir.SignatureDelta(3, SIG_A),
    ir.PartStop(3),
    ir.UsageUpdate(ir.Usage(input=30, output=20, reasoning=8)),
    ir.Stop("tool_use"),
]


def test_inline_stream_decodes_thinking_text_and_parallel_calls_in_order():
    assert decode(INLINE_STREAM) == INLINE_EVENTS


def test_every_split_point_of_a_crlf_stream_gives_the_same_events():
    for cut in range(1, len(INLINE_STREAM)):
        assert decode(INLINE_STREAM, [cut]) == INLINE_EVENTS, cut


def test_lf_and_cr_line_endings_decode_the_same():
    assert decode(INLINE_STREAM.replace(b"\r\n", b"\n")) == INLINE_EVENTS
    assert decode(INLINE_STREAM.replace(b"\r\n", b"\r")) == INLINE_EVENTS


def test_comments_blank_data_lines_and_padding_are_ignored():
    noisy = b": keep-alive\r\n\r\ndata:\r\n\r\n" + INLINE_STREAM.replace(b"data: ", b"data:   ")
    assert decode(noisy) == INLINE_EVENTS


def test_repeated_usage_is_reported_once():
    events = decode(sse(chunk([{"text": "a"}], usage=USAGE), chunk([{"text": "b"}], "STOP", USAGE)))
    assert sum(isinstance(e, ir.UsageUpdate) for e in events) == 1


def test_usage_without_token_counts_is_not_reported():
    events = decode(sse(chunk([{"text": "a"}], "STOP", {"trafficType": "ON_DEMAND"})))
    assert not any(isinstance(e, ir.UsageUpdate) for e in events)


def test_a_signature_on_a_plain_text_part_is_dropped():
    events = decode(
        sse(chunk([{"text": "a"}]), chunk([{"text": "", "thoughtSignature": SIG_A}], "STOP"))
    )
    assert not any(isinstance(e, ir.SignatureDelta) for e in events)
    assert events[-2:] == [ir.PartStop(0), ir.Stop("end_turn")]


def test_max_tokens_and_safety_finishes_stop_with_their_reasons():
    assert decode(sse(chunk([{"text": "a"}], "MAX_TOKENS")))[-1] == ir.Stop("max_tokens")
    assert decode(sse(chunk([], "SAFETY")))[-1] == ir.Stop("content_filter")


def test_a_blocked_prompt_stops_with_content_filter():
    events = decode(sse({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))
    assert events == [ir.MessageStart("", ""), ir.Stop("content_filter")]


def test_nothing_follows_the_finish_chunk():
    events = decode(sse(chunk([{"text": "a"}], "STOP"), chunk([{"text": "late"}])))
    assert events[-1] == ir.Stop("end_turn")
    assert not any(isinstance(e, ir.TextDelta) and e.text == "late" for e in events)


def test_a_stream_ending_before_a_finish_reason_is_an_upstream_error():
    events = decode(sse(chunk([{"text": "a"}])))
    assert events[-1] == ir.StreamError("upstream", "stream ended before it was complete")
    assert not any(isinstance(e, ir.Stop) for e in events)


def test_an_empty_stream_is_an_upstream_error():
    assert decode(b"") == [ir.StreamError("upstream", "stream ended before it was complete")]


def test_a_last_chunk_without_its_blank_line_still_counts():
    events = decode(sse(chunk([{"text": "a"}], "STOP"))[:-4])
    assert events[-1] == ir.Stop("end_turn")


def test_a_malformed_chunk_is_an_upstream_error():
    events = decode(b"data: {not json}\r\n\r\n" + sse(chunk([], "STOP")))
    assert events == [ir.StreamError("upstream", "malformed stream chunk")]


def test_a_code_assist_envelope_in_a_stream_is_unwrapped():
    events = decode(sse({"response": chunk([{"text": "hi"}], "STOP"), "traceId": "t"}))
    assert events == [
        ir.MessageStart("resp-inline", "gemini-2.5-flash"),
        ir.PartStart(0, "text"),
        ir.TextDelta(0, "hi"),
        ir.PartStop(0),
        ir.Stop("end_turn"),
    ]


def test_capture_error_429_in_a_data_chunk_is_a_rate_limited_stream_error():
    error = orjson.loads(capture("gemini_error_429.json"))
    events = decode(sse(chunk([{"text": "a"}]), error))
    assert events[-1] == ir.StreamError(
        "rate_limited", "You exceeded your current quota, please check your plan.", 429
    )


def test_an_unprefixed_multiline_json_error_is_a_stream_error():
    error = b'{\n  "error": {\n    "code": 503,\n    "message": "The model is overloaded.",\n'
    error += b'    "status": "UNAVAILABLE"\n  }\n}\n'
    assert decode(error) == [ir.StreamError("upstream", "The model is overloaded.", 503)]
    assert decode(error, [1] * len(error)) == decode(error)


def test_an_unprefixed_error_array_after_a_blank_line_is_a_stream_error():
    error = b'[{\n  "error": {\n    "code": 400,\n    "message": "bad",\n'
    error += b'    "status": "INVALID_ARGUMENT"\n  }\n}\n]\n\n'
    assert decode(error) == [ir.StreamError("bad_request", "bad", 400)]


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        ("RESOURCE_EXHAUSTED", 429, "rate_limited"),
        ("UNAUTHENTICATED", 401, "auth"),
        ("PERMISSION_DENIED", 403, "auth"),
        ("NOT_FOUND", 404, "not_found"),
        ("INVALID_ARGUMENT", 400, "bad_request"),
        ("INTERNAL", 500, "upstream"),
        ("UNAVAILABLE", 503, "upstream"),
        ("DEADLINE_EXCEEDED", 504, "timeout"),
    ],
)
def test_error_statuses_become_stream_errors_of_the_matching_kind(status, code, kind):
    error = {"error": {"code": code, "message": "m", "status": status}}
    assert decode(sse(error)) == [ir.StreamError(kind, "m", code)]


def test_partial_arguments_assemble_nested_paths_numbers_and_continued_strings():
    partial = [
        {"jsonPath": "$.query", "stringValue": "New ", "willContinue": True},
        {"jsonPath": "$.query", "stringValue": "York"},
        {"jsonPath": "$.opts.limit", "numberValue": 5},
        {"jsonPath": "$.tags[1]", "stringValue": "b"},
        {"jsonPath": "$['odd key']", "boolValue": True},
        {"jsonPath": "$.none", "nullValue": None},
    ]
    stream = sse(
        chunk([{"functionCall": {"name": "search", "willContinue": True}}]),
        chunk([{"functionCall": {"partialArgs": partial[:2], "willContinue": True}}]),
        chunk([{"functionCall": {"partialArgs": partial[2:], "willContinue": True}}]),
        chunk([{"functionCall": {}}]),
        chunk([{"text": ""}], "STOP"),
    )
    arguments = [e for e in decode(stream) if isinstance(e, ir.ToolArgumentsDelta)]
    assert [orjson.loads(a.fragment) for a in arguments] == [
        {
            "query": "New York",
            "opts": {"limit": 5},
            "tags": [None, "b"],
            "odd key": True,
            "none": None,
        }
    ]


def test_a_streamed_call_still_open_at_the_finish_is_completed():
    stream = sse(
        chunk([{"functionCall": {"name": "f", "willContinue": True}}]),
        chunk([{"functionCall": {"partialArgs": [{"jsonPath": "$.a", "numberValue": 1}]}}], "STOP"),
    )
    events = without_ids(decode(stream))
    assert events[1:] == [
        ir.PartStart(0, "tool_call", None, "f"),
        ir.ToolArgumentsDelta(0, '{"a":1}'),
        ir.PartStop(0),
        ir.Stop("tool_use"),
    ]


# -- stream encoding --------------------------------------------------------------------------


def encode(events: list[ir.Event], model: str = "gemini-2.5-flash", client: Any = None) -> bytes:
    encoder = FMT.stream_encoder(model, client)
    return encoder.encode(events) + encoder.finish()


# Usage comes before the open text part stops: the decoder closes that part at the finish
# chunk, which carries the last usage.
TEXT_EVENTS: list[ir.Event] = [
    ir.MessageStart("resp-1", "gemini-2.5-flash"),
    ir.PartStart(0, "text"),
    ir.TextDelta(0, "Hel"),
    ir.TextDelta(0, 'lo "there"\n'),
    ir.UsageUpdate(ir.Usage(input=10, output=4, cache_read=2)),
    ir.PartStop(0),
    ir.Stop("end_turn"),
]

THINKING_EVENTS: list[ir.Event] = [
    ir.MessageStart("resp-2", "gemini-2.5-flash"),
    ir.PartStart(0, "thinking"),
    ir.ThinkingDelta(0, "Let me think."),
    ir.SignatureDelta(0, "c2lnbmF0dXJl"),
    ir.PartStop(0),
    ir.PartStart(1, "text"),
    ir.TextDelta(1, "Done."),
    ir.UsageUpdate(ir.Usage(input=5, output=30, reasoning=20)),
    ir.PartStop(1),
    ir.Stop("max_tokens"),
]

TOOL_EVENTS: list[ir.Event] = [
    ir.MessageStart("resp-3", "gemini-2.5-flash"),
    ir.PartStart(0, "text"),
    ir.TextDelta(0, "Checking."),
    ir.PartStop(0),
    ir.PartStart(1, "tool_call", id="call_a", name="get_weather"),
    ir.ToolArgumentsDelta(1, '{"city":"Paris"}'),
    ir.SignatureDelta(1, SIG_A),
    ir.PartStop(1),
    ir.PartStart(2, "tool_call", id="call_b", name="get_time"),
    ir.ToolArgumentsDelta(2, '{"tz":"CET"}'),
    ir.PartStop(2),
    ir.UsageUpdate(ir.Usage(input=100, output=40, cache_read=20, reasoning=10)),
    ir.Stop("tool_use"),
]


@pytest.mark.parametrize("events", [TEXT_EVENTS, THINKING_EVENTS, TOOL_EVENTS])
def test_decoding_the_encoded_events_gives_them_back(events):
    assert decode(encode(events)) == events


def content_and_final_usage(events: list[ir.Event]) -> tuple[list[ir.Event], ir.Usage | None]:
    """Events without usage updates, and the last usage (a chunk carries usage only beside
    content, so where updates fall between deltas is not kept on the wire)."""
    usage = [e.usage for e in events if isinstance(e, ir.UsageUpdate)]
    return [e for e in events if not isinstance(e, ir.UsageUpdate)], (usage or [None])[-1]


@pytest.mark.parametrize("name", GEMINI_CAPTURES)
def test_re_encoding_a_capture_decodes_to_the_same_events(name):
    events = decode(capture(name))
    model = events[0].model  # type: ignore[union-attr]
    again = decode(encode(events, model=model))
    assert content_and_final_usage(again) == content_and_final_usage(events)


@pytest.mark.parametrize("events", [TEXT_EVENTS, THINKING_EVENTS, TOOL_EVENTS, INLINE_EVENTS])
def test_every_encoded_chunk_is_a_valid_sdk_response_with_one_id_and_model(events):
    chunks = [types.GenerateContentResponse.model_validate(p) for p in payloads(encode(events))]
    assert {(c.response_id, c.model_version) for c in chunks} == {
        (events[0].id, "gemini-2.5-flash")  # type: ignore[union-attr]
    }


def test_every_frame_is_a_data_line_ending_with_a_crlf_blank_line():
    stream = encode(TOOL_EVENTS)
    frames = stream.split(b"\r\n\r\n")
    assert frames[-1] == b""
    assert all(f.startswith(b"data: {") and b"\n" not in f for f in frames[:-1])


def test_text_and_thinking_deltas_are_one_chunk_each():
    parts = [p["candidates"][0]["content"]["parts"] for p in payloads(encode(THINKING_EVENTS))]
    assert parts == [
        [{"text": "Let me think.", "thought": True}],
        [{"text": "", "thought": True, "thoughtSignature": "c2lnbmF0dXJl"}],
        [{"text": "Done."}],
        [{"text": ""}],
    ]


def test_a_function_call_is_one_part_with_complete_args_and_its_signature_when_it_stops():
    encoder = FMT.stream_encoder("m")
    head = encoder.encode(
        [
            ir.MessageStart("r", "m"),
            ir.PartStart(0, "tool_call", id="c1", name="f"),
            ir.ToolArgumentsDelta(0, '{"city":'),
            ir.SignatureDelta(0, SIG_A),
        ]
    )
    assert head == b""
    tail = encoder.encode([ir.ToolArgumentsDelta(0, '"Paris"}'), ir.PartStop(0)])
    assert payloads(tail)[0]["candidates"][0]["content"]["parts"] == [
        {
            "functionCall": {"name": "f", "args": {"city": "Paris"}, "id": "c1"},
            "thoughtSignature": SIG_A,
        }
    ]


def test_interleaved_argument_fragments_of_parallel_calls_are_kept_apart():
    events: list[ir.Event] = [
        ir.MessageStart("r", "m"),
        ir.PartStart(0, "tool_call", id="a", name="f"),
        ir.PartStart(1, "tool_call", id="b", name="g"),
        ir.ToolArgumentsDelta(0, '{"x":'),
        ir.ToolArgumentsDelta(1, '{"y":'),
        ir.ToolArgumentsDelta(1, "2}"),
        ir.ToolArgumentsDelta(0, "1}"),
        ir.PartStop(1),
        ir.PartStop(0),
        ir.Stop("tool_use"),
    ]
    calls = [
        part["functionCall"]
        for p in payloads(encode(events))
        for part in p["candidates"][0]["content"]["parts"]
        if "functionCall" in part
    ]
    assert calls == [
        {"name": "g", "args": {"y": 2}, "id": "b"},
        {"name": "f", "args": {"x": 1}, "id": "a"},
    ]


def test_invalid_argument_json_is_sent_as_an_empty_object_with_a_warning(caplog):
    events: list[ir.Event] = [
        ir.PartStart(0, "tool_call", id="c", name="f"),
        ir.ToolArgumentsDelta(0, '{"cut'),
        ir.PartStop(0),
        ir.Stop("tool_use"),
    ]
    with caplog.at_level(logging.WARNING):
        first = payloads(encode(events))[0]
    assert first["candidates"][0]["content"]["parts"][0]["functionCall"]["args"] == {}
    assert "not a JSON object" in caplog.text


def test_calls_still_open_at_the_stop_go_out_in_the_final_chunk():
    events: list[ir.Event] = [
        ir.PartStart(0, "tool_call", id="c", name="f"),
        ir.ToolArgumentsDelta(0, "{}"),
        ir.Stop("tool_use"),
    ]
    [final] = payloads(encode(events))
    assert final["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "f", "args": {}, "id": "c"}}
    ]
    assert final["candidates"][0]["finishReason"] == "STOP"


def test_the_final_chunk_has_the_finish_reason_usage_and_model():
    final = payloads(encode(TOOL_EVENTS, model="my-alias"))[-1]
    assert final == {
        "candidates": [
            {
                "content": {"parts": [{"text": ""}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 120,
            "candidatesTokenCount": 30,
            "totalTokenCount": 160,
            "cachedContentTokenCount": 20,
            "thoughtsTokenCount": 10,
        },
        "modelVersion": "my-alias",
        "responseId": "resp-3",
    }


def test_thoughts_go_out_only_when_the_client_asked_for_them():
    asked = {"generationConfig": {"thinkingConfig": {"includeThoughts": True}}}
    silent = encode(THINKING_EVENTS, client={"contents": []})
    shown = encode(THINKING_EVENTS, client=asked)
    assert b'"thought"' not in silent and b"c2lnbmF0dXJl" not in silent
    assert b'"thought":true' in shown


def test_redacted_thinking_is_left_out():
    events: list[ir.Event] = [
        ir.PartStart(0, "redacted_thinking", data="opaque"),
        ir.PartStop(0),
        ir.Stop("end_turn"),
    ]
    assert b"opaque" not in encode(events)


def test_nothing_is_written_after_the_stop():
    encoder = FMT.stream_encoder("m")
    encoder.encode([ir.TextDelta(0, "a"), ir.Stop("end_turn")])
    assert encoder.encode([ir.TextDelta(0, "late"), ir.Stop("end_turn")]) == b""
    assert encoder.finish() == b""


def test_a_stream_error_becomes_an_error_chunk_and_ends_the_stream():
    encoder = FMT.stream_encoder("m")
    out = encoder.encode(
        [
            ir.TextDelta(0, "a"),
            ir.StreamError("rate_limited", "slow down", 429),
            ir.TextDelta(0, "b"),
        ]
    )
    out += encoder.finish()
    assert payloads(out)[-1] == {
        "error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}
    }
    assert len(payloads(out)) == 2


def test_a_foreign_error_kind_becomes_an_error_chunk_by_its_status():
    out = encode([ir.StreamError("overloaded_error", "Overloaded", 529)])
    assert payloads(out) == [
        {"error": {"code": 529, "message": "Overloaded", "status": "UNAVAILABLE"}}
    ]


@pytest.mark.parametrize(
    "error",
    [
        ir.StreamError("rate_limited", "slow down", 429),
        ir.StreamError("auth", "bad key", 401),
        ir.StreamError("upstream", "boom", 500),
        ir.StreamError("timeout", "late", 504),
    ],
)
def test_a_stream_error_round_trips_through_the_wire(error):
    events = [ir.MessageStart("r", "m"), ir.PartStart(0, "text"), ir.TextDelta(0, "a"), error]
    assert decode(encode(events, model="m")) == events


def test_finish_without_a_stop_is_an_error_chunk():
    out = encode([ir.MessageStart("r", "m"), ir.TextDelta(0, "cut")])
    assert payloads(out)[-1]["error"] == {
        "code": 502,
        "message": "stream ended before it was complete",
        "status": "UNAVAILABLE",
    }


# -- the SDK as a client ----------------------------------------------------------------------


# google-genai's own aiohttp session subclass warns on import; that is the SDK's business.
SDK_WARNING = "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"


@pytest.fixture
async def sdk_client(aiohttp_server: Any) -> Any:
    """Makes google-genai clients whose upstream answers every request with the given bytes
    (as SSE for streams), recording the request bodies it receives in ``seen``."""
    clients: list[genai.Client] = []

    async def make(reply_body: bytes, seen: list[dict[str, Any]] | None = None) -> genai.Client:
        async def reply(request: web.Request) -> web.StreamResponse:
            if seen is not None:
                seen.append(await request.json())
            streaming = request.match_info["target"].endswith(":streamGenerateContent")
            content_type = "text/event-stream" if streaming else "application/json"
            response = web.StreamResponse(headers={"Content-Type": content_type})
            await response.prepare(request)
            for piece in (reply_body[i : i + 7] for i in range(0, len(reply_body), 7)):
                await response.write(piece)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_post("/v1beta/models/{target}", reply)
        server = await aiohttp_server(app)
        options = types.HttpOptions(base_url=str(server.make_url("")), api_version="v1beta")
        client = genai.Client(api_key="k", http_options=options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aio.aclose()


@pytest.mark.filterwarnings(SDK_WARNING)
async def test_the_sdk_reads_an_encoded_stream_with_text_calls_signatures_and_usage(sdk_client):
    client = await sdk_client(encode(TOOL_EVENTS))
    text, calls, finish, usage = "", [], None, None
    async for response in await client.aio.models.generate_content_stream(
        model="gemini-2.5-pro", contents="weather?"
    ):
        text += response.text or ""
        calls += [
            (part.function_call.name, part.function_call.args, part.thought_signature)
            for part in response.candidates[0].content.parts
            if part.function_call
        ]
        finish = response.candidates[0].finish_reason or finish
        usage = response.usage_metadata or usage
    assert text == "Checking."
    assert [c[:2] for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "CET"}),
    ]
    assert calls[0][2] is not None and calls[1][2] is None
    assert finish == types.FinishReason.STOP
    assert usage is not None and usage.total_token_count == 160


@pytest.mark.filterwarnings(SDK_WARNING)
async def test_the_sdk_raises_on_an_encoded_stream_error(sdk_client):
    events: list[ir.Event] = [ir.TextDelta(0, "a"), ir.StreamError("rate_limited", "slow", 429)]
    client = await sdk_client(encode(events))
    with pytest.raises(genai_errors.ClientError, match="slow") as raised:
        async for _ in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi"
        ):
            pass
    assert raised.value.code == 429


@pytest.mark.filterwarnings(SDK_WARNING)
async def test_the_sdk_raises_a_server_error_on_a_stream_cut_short(sdk_client):
    client = await sdk_client(encode([ir.TextDelta(0, "a")]))
    with pytest.raises(genai_errors.ServerError):
        async for _ in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi"
        ):
            pass


@pytest.mark.filterwarnings(SDK_WARNING)
async def test_the_sdk_raises_on_the_format_stream_error_event(sdk_client):
    event = FMT.stream_error_event(GatewayError(ErrorKind.UPSTREAM, "cut", status=502))
    client = await sdk_client(event)
    with pytest.raises(genai_errors.ServerError, match="cut"):
        async for _ in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="hi"
        ):
            pass


@pytest.mark.filterwarnings(SDK_WARNING)
async def test_an_sdk_request_parses_and_a_rendered_response_reads_back_in_the_sdk(sdk_client):
    seen: list[dict[str, Any]] = []
    answer = FMT.render_response(
        ir.Response(
            "r-9",
            "gemini-2.5-flash",
            [ir.TextPart("It is sunny."), ir.ToolCallPart("c1", "get_weather", '{"city":"Oslo"}')],
            stop_reason="tool_use",
            usage=ir.Usage(input=12, output=6),
        )
    )
    client = await sdk_client(orjson.dumps(answer), seen)
    weather = types.FunctionDeclaration(
        name="get_weather",
        description="Weather for a city",
        parameters_json_schema={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    response = await client.aio.models.generate_content(
        model="gemini-2.5-flash",
        contents=[
            types.Content(role="user", parts=[types.Part(text="Weather in Oslo?")]),
            types.Content(
                role="model",
                parts=[
                    types.Part(
                        function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"}),
                        thought_signature=b"sig",
                    )
                ],
            ),
            types.Content(
                role="user",
                parts=[
                    types.Part(
                        function_response=types.FunctionResponse(
                            name="get_weather", response={"output": "sunny"}
                        )
                    )
                ],
            ),
        ],
        config=types.GenerateContentConfig(
            system_instruction="be brief",
            tools=[types.Tool(function_declarations=[weather])],
            tool_config=types.ToolConfig(
                function_calling_config=types.FunctionCallingConfig(mode="AUTO")
            ),
            temperature=0.1,
            max_output_tokens=200,
            thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True),
        ),
    )
    request = parse(seen[0])
    assert request.system == [ir.TextPart("be brief")]
    assert request.tools == [
        ir.Tool("get_weather", "Weather for a city", weather.parameters_json_schema)
    ]
    assert request.tool_choice == ir.ToolChoice("auto")
    assert (request.max_tokens, request.temperature) == (200, 0.1)
    assert request.reasoning == ir.Reasoning(effort="minimal", budget_tokens=1024)
    call, result = request.messages[1].parts[0], request.messages[2].parts[0]
    assert isinstance(call, ir.ToolCallPart) and call.signature  # echoed back as sent
    assert isinstance(result, ir.ToolResultPart) and result.tool_call_id == call.id
    assert FMT.render_request(request)["contents"] == seen[0]["contents"]
    assert response.text == "It is sunny."
    assert [(c.id, c.name, c.args) for c in response.function_calls or []] == [
        ("c1", "get_weather", {"city": "Oslo"})
    ]
