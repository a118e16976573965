"""The Anthropic Messages codec: requests, responses, streams and errors, checked against the
real captures in ``../shared/fixtures/wire/`` (skipped when absent), inline fixtures of the same
shape, and the official ``anthropic`` SDK as the consumer of what the encoder writes."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pydantic
import pytest

from omniroute.errors import ErrorKind, GatewayError
from omniroute.formats import ir
from omniroute.formats.anthropic import AnthropicFormat, register_formats

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "wire"
FMT = AnthropicFormat()
SIGNATURE = "EvQBCkYICxgCKkAxhD4NUKFz+/udtZ6N=="


def fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"capture {name} is not available")
    return path.read_bytes()


def sse(*events: tuple[str, str]) -> bytes:
    """An Anthropic stream written out by hand: ``(event name, data text)`` pairs."""
    return b"".join(f"event: {name}\ndata: {data}\n\n".encode() for name, data in events)


def ev(name: str, padding: str = "", **fields: Any) -> tuple[str, str]:
    """One event as the API writes it; ``padding`` goes inside the closing brace, as in the
    captures (``{"type":"message_stop"     }``)."""
    text = orjson.dumps({"type": name, **fields}).decode()
    return name, text[:-1] + padding + "}"


def start(message_id: str, usage: dict[str, int], padding: str = "") -> tuple[str, str]:
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-sonnet-4-5",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return ev("message_start", padding, message=message)


def block(index: int, padding: str = "", **content_block: Any) -> tuple[str, str]:
    return ev("content_block_start", padding, index=index, content_block=content_block)


def delta(index: int, **fields: Any) -> tuple[str, str]:
    return ev("content_block_delta", index=index, delta=fields)


def stop_block(index: int) -> tuple[str, str]:
    return ev("content_block_stop", index=index)


def message_delta(reason: str, **usage: int) -> tuple[str, str]:
    return ev("message_delta", delta={"stop_reason": reason, "stop_sequence": None}, usage=usage)


PING = ("ping", '{"type": "ping"}')

# Inline streams in the shape of the captures (padding inside JSON and pings included).
TEXT_STREAM = sse(
    start("msg_01", {"input_tokens": 11, "cache_read_input_tokens": 4, "output_tokens": 1}, "   "),
    block(0, "  ", type="text", text=""),
    PING,
    delta(0, type="text_delta", text="Hello"),
    delta(0, type="text_delta", text=" there"),
    stop_block(0),
    message_delta("end_turn", output_tokens=6),
    ev("message_stop", "              "),
)

TOOL_STREAM = sse(
    start("msg_02", {"input_tokens": 377, "output_tokens": 1}),
    block(0, type="text", text=""),
    delta(0, type="text_delta", text="Checking."),
    stop_block(0),
    block(
        1, type="tool_use", id="toolu_01", name="get_weather", caller={"type": "direct"}, input={}
    ),
    delta(1, type="input_json_delta", partial_json=""),
    delta(1, type="input_json_delta", partial_json='{"city": "Pa'),
    delta(1, type="input_json_delta", partial_json='ris"}'),
    stop_block(1),
    message_delta("tool_use", output_tokens=65),
    ev("message_stop"),
)

THINKING_STREAM = sse(
    start("msg_03", {"input_tokens": 69, "output_tokens": 2}),
    block(0, type="thinking", thinking="", signature=""),
    delta(0, type="thinking_delta", thinking="925 \u00f7 5"),
    delta(0, type="thinking_delta", thinking=""),
    delta(0, type="signature_delta", signature=SIGNATURE),
    stop_block(0),
    block(1, type="text", text=""),
    delta(1, type="text_delta", text="= 185"),
    stop_block(1),
    message_delta(
        "end_turn",
        input_tokens=69,
        cache_creation_input_tokens=0,
        cache_read_input_tokens=0,
        output_tokens=53,
    ),
    ev("message_stop"),
)

ERROR_STREAM = sse(
    start("msg_04", {"input_tokens": 18, "output_tokens": 1}, "       "),
    block(0, "  ", type="text", text=""),
    PING,
    ("error", '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'),
)

STREAMS = {
    "inline text": lambda: TEXT_STREAM,
    "inline tool use": lambda: TOOL_STREAM,
    "inline thinking": lambda: THINKING_STREAM,
    "inline error": lambda: ERROR_STREAM,
    "capture text": lambda: fixture("anthropic_stream_text.sse"),
    "capture tool use": lambda: fixture("anthropic_stream_tool_use.sse"),
    "capture thinking": lambda: fixture("anthropic_stream_thinking.sse"),
    "capture error": lambda: fixture("anthropic_stream_error_event.sse"),
}

MESSAGE_RESPONSE = {
    "model": "claude-sonnet-4-5-20250929",
    "id": "msg_01VdEjxAP5ahtHKrrRdNBteQ",
    "type": "message",
    "role": "assistant",
    "content": [{"type": "text", "text": "Hello! How are you doing today?"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 29,
        "service_tier": "standard",
        "inference_geo": "not_available",
    },
}

RICH_REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 8192,
    "system": [
        {"type": "text", "text": "You are terse."},
        {"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}},
    ],
    "messages": [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Two cities.", "signature": SIGNATURE},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
                {"type": "text", "text": "Looking both up."},
                {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"z": 1, "a": [2]}},
                {"type": "tool_use", "id": "toolu_2", "name": "w", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [
                        {"type": "text", "text": "rain"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                        },
                    ],
                    "is_error": True,
                },
                {"type": "text", "text": "Now compare.", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
            ],
        },
    ],
    "tools": [
        {
            "name": "w",
            "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "cache_control": {"type": "ephemeral"},
        }
    ],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "top_p": 0.97,
    "stop_sequences": ["END"],
    "stream": True,
    "metadata": {"user_id": "user-7"},
}


def decode(data: bytes, chunks: list[bytes] | None = None) -> list[ir.Event]:
    decoder = FMT.stream_decoder()
    events: list[ir.Event] = []
    for chunk in chunks if chunks is not None else [data]:
        events += decoder.feed(chunk)
    return events + decoder.close()


def encode(events: list[ir.Event], model: str = "claude-test") -> bytes:
    encoder = FMT.stream_encoder(model)
    return encoder.encode(events) + encoder.finish()


def frames(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    """The ``(event name, data)`` of each event the encoder wrote (each must end a blank line)."""
    assert data.endswith(b"\n\n")
    out = []
    for block in data.decode().split("\n\n")[:-1]:
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        out.append((name_line[7:], orjson.loads(data_line[6:])))
    return out


def sdk_stream(body: bytes) -> tuple[list[str], anthropic.types.Message]:
    """Let the official SDK consume ``body`` as a stream; its event types and final message."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    client = anthropic.Anthropic(api_key="k", base_url="http://sdk.test", http_client=http)
    with client.messages.stream(
        model="claude-test", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        types: list[str] = [event.type for event in stream]
        return types, stream.get_final_message()


def check_block_discipline(data: bytes) -> None:
    """Anthropic's stream grammar: message_start first, one block open at a time with indexes
    0, 1, ... in order, message_delta then message_stop last."""
    names = [name for name, _ in frames(data)]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    open_index, next_index = None, 0
    for name, body in frames(data):
        if name == "content_block_start":
            assert open_index is None and body["index"] == next_index
            open_index, next_index = body["index"], next_index + 1
        elif name == "content_block_delta":
            assert body["index"] == open_index
        elif name == "content_block_stop":
            assert body["index"] == open_index
            open_index = None
    assert open_index is None


def check_valid_for_api(body: dict[str, Any]) -> None:
    """The rules the real Messages API enforces that a translated request can break."""
    assert isinstance(body["max_tokens"], int)
    roles = [m["role"] for m in body["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles)), roles
    for i, message in enumerate(body["messages"]):
        blocks = message["content"]
        if isinstance(blocks, str):
            continue
        for block in blocks:
            assert not (block["type"] == "text" and not block["text"])
            if block["type"] == "tool_use":
                assert isinstance(block["input"], dict)
            if block["type"] == "thinking":
                assert block["signature"]
        results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
        if results:
            assert [b["type"] for b in blocks[: len(results)]] == ["tool_result"] * len(results)
            calls = [b["id"] for b in body["messages"][i - 1]["content"] if b["type"] == "tool_use"]
            assert set(results) <= set(calls)
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled":
        assert body["max_tokens"] > thinking["budget_tokens"] >= 1024
        assert "temperature" not in body and "top_k" not in body


# -- the plugin ---------------------------------------------------------------------------------


def test_register_formats_registers_one_translating_anthropic_format():
    registered: list[Any] = []
    register_formats(registered.append)
    assert [(f.id, f.translates) for f in registered] == [("anthropic", True)]


def test_same_format_hops_forward_the_anthropic_beta_header():
    assert "anthropic-beta" in FMT.forwarded_headers


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "overloaded_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_body_type_follows_the_status(status, error_type):
    body = orjson.loads(FMT.error_body(GatewayError(ErrorKind.UPSTREAM, "boom", status=status)))
    assert body == {"type": "error", "error": {"type": error_type, "message": "boom"}}


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        (ErrorKind.BAD_REQUEST, "invalid_request_error"),
        (ErrorKind.AUTH, "authentication_error"),
        (ErrorKind.NOT_FOUND, "not_found_error"),
        (ErrorKind.RATE_LIMITED, "rate_limit_error"),
        (ErrorKind.QUOTA_EXHAUSTED, "rate_limit_error"),
        (ErrorKind.TOO_LARGE, "request_too_large"),
        (ErrorKind.UPSTREAM, "api_error"),
        (ErrorKind.UNREACHABLE, "api_error"),
        (ErrorKind.TIMEOUT, "api_error"),
        (ErrorKind.UNAVAILABLE, "overloaded_error"),
    ],
)
def test_error_body_type_follows_the_error_kind_at_its_default_status(kind, error_type):
    body = orjson.loads(FMT.error_body(GatewayError(kind, "boom")))
    assert body["error"]["type"] == error_type


def test_refused_credentials_with_403_are_a_permission_error():
    body = orjson.loads(FMT.error_body(GatewayError(ErrorKind.AUTH, "revoked", status=403)))
    assert body["error"]["type"] == "permission_error"


def test_a_declared_anthropic_error_type_is_kept_and_a_foreign_one_is_not():
    kept = GatewayError(ErrorKind.UPSTREAM, "x", status=402, type="billing_error")
    foreign = GatewayError(ErrorKind.QUOTA_EXHAUSTED, "x", type="insufficient_quota")
    assert orjson.loads(FMT.error_body(kept))["error"]["type"] == "billing_error"
    assert orjson.loads(FMT.error_body(foreign))["error"]["type"] == "rate_limit_error"


def test_error_body_has_the_shape_of_the_captured_error():
    captured = orjson.loads(fixture("anthropic_error_400_invalid_request.json"))
    ours = orjson.loads(FMT.error_body(GatewayError(ErrorKind.BAD_REQUEST, "prompt is too long")))
    assert ours["type"] == captured["type"] and ours["error"].keys() == captured["error"].keys()
    assert ours["error"]["type"] == captured["error"]["type"]


def test_stream_error_event_is_an_error_event_with_its_blank_line():
    event = FMT.stream_error_event(GatewayError(ErrorKind.RATE_LIMITED, "slow down"))
    assert frames(event) == [
        ("error", {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    ]


def test_the_sdk_raises_on_the_stream_error_event():
    body = FMT.stream_error_event(GatewayError(ErrorKind.UNAVAILABLE, "Overloaded"))
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        sdk_stream(body)


# -- parsing requests ---------------------------------------------------------------------------


def parse(**fields: Any) -> ir.Request:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": []}
    body.update(fields)
    return FMT.parse_request(body)


def test_a_system_string_becomes_one_text_part():
    assert parse(system="Be brief.").system == [ir.TextPart("Be brief.")]


def test_system_blocks_keep_their_cache_control():
    system = [{"type": "text", "text": "Big doc", "cache_control": {"type": "ephemeral"}}]
    assert parse(system=system).system == [
        ir.TextPart("Big doc", {"cache_control": {"type": "ephemeral"}})
    ]


def test_string_content_becomes_a_text_part():
    request = parse(messages=[{"role": "user", "content": "hi"}])
    assert request.messages == [ir.Message("user", [ir.TextPart("hi")])]


def test_images_are_read_from_base64_and_url_sources():
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
    ]
    parts = parse(messages=[{"role": "user", "content": content}]).messages[0].parts
    assert parts == [
        ir.ImagePart(data="/9j", media_type="image/jpeg"),
        ir.ImagePart(url="https://x.test/a.png"),
    ]


def test_tool_use_input_becomes_arguments_json_in_key_order():
    block = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"b": 1, "a": {"y": 2}}}
    part = parse(messages=[{"role": "assistant", "content": [block]}]).messages[0].parts[0]
    assert part == ir.ToolCallPart("toolu_1", "f", '{"b":1,"a":{"y":2}}')


def test_tool_results_keep_their_id_content_and_error_flag():
    content = [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_2",
            "content": [{"type": "text", "text": "no such file"}],
            "is_error": True,
        },
    ]
    parts = parse(messages=[{"role": "user", "content": content}]).messages[0].parts
    assert parts == [
        ir.ToolResultPart("toolu_1", [ir.TextPart("42")]),
        ir.ToolResultPart("toolu_2", [ir.TextPart("no such file")], is_error=True),
    ]


def test_thinking_and_redacted_thinking_become_thinking_parts():
    content = [
        {"type": "thinking", "thinking": "hmm", "signature": SIGNATURE},
        {"type": "redacted_thinking", "data": "opaque"},
    ]
    parts = parse(messages=[{"role": "assistant", "content": content}]).messages[0].parts
    assert parts == [
        ir.ThinkingPart("hmm", signature=SIGNATURE),
        ir.ThinkingPart(redacted=True, data="opaque"),
    ]


def test_unknown_blocks_are_kept_with_their_position_and_rendered_back_in_place():
    document = {"type": "document", "source": {"type": "text", "data": "x", "media_type": "t"}}
    content = [{"type": "text", "text": "a"}, document, {"type": "text", "text": "b"}]
    request = parse(messages=[{"role": "user", "content": content}])
    assert request.messages[0].extras["anthropic_unknown"] == [[1, document]]
    assert FMT.render_request(request)["messages"][0]["content"] == content


def test_custom_tools_become_ir_tools_and_server_tools_stay_anthropic_only():
    search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    custom = {"name": "f", "description": "d", "input_schema": {"type": "object"}}
    request = parse(tools=[search, custom])
    assert request.tools == [ir.Tool("f", "d", {"type": "object"})]
    assert request.extras["anthropic_tools"] == [[0, search]]
    assert FMT.render_request(request)["tools"] == [search, custom]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, ir.ToolChoice("auto")),
        ({"type": "any"}, ir.ToolChoice("required")),
        ({"type": "none"}, ir.ToolChoice("none")),
        ({"type": "tool", "name": "f"}, ir.ToolChoice("tool", "f")),
    ],
)
def test_tool_choice_maps_to_the_ir(choice, expected):
    assert parse(tool_choice=choice).tool_choice == expected


def test_disable_parallel_tool_use_means_no_parallel_tool_calls():
    request = parse(tool_choice={"type": "any", "disable_parallel_tool_use": True})
    assert request.parallel_tool_calls is False


def test_enabled_thinking_keeps_its_budget_and_gets_the_nearest_effort():
    request = parse(thinking={"type": "enabled", "budget_tokens": 2048})
    assert request.reasoning == ir.Reasoning(effort="low", budget_tokens=2048)


def test_disabled_thinking_is_reasoning_off():
    assert parse(thinking={"type": "disabled"}).reasoning == ir.Reasoning(enabled=False)


def test_generation_parameters_stop_sequences_and_user_are_read():
    request = parse(
        temperature=0.3,
        top_p=0.8,
        top_k=40,
        stop_sequences=["END"],
        stream=True,
        metadata={"user_id": "u1"},
    )
    assert (request.max_tokens, request.temperature, request.top_p, request.top_k) == (
        100,
        0.3,
        0.8,
        40,
    )
    assert (request.stop, request.stream, request.user) == (["END"], True, "u1")


def test_unknown_top_level_fields_travel_in_extras_and_are_rendered_back():
    request = parse(service_tier="standard_only", container="c_1")
    assert request.extras["anthropic"] == {"service_tier": "standard_only", "container": "c_1"}
    rendered = FMT.render_request(request)
    assert (rendered["service_tier"], rendered["container"]) == ("standard_only", "c_1")


def test_output_config_json_schema_is_read_as_a_response_format():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    request = parse(output_config={"format": {"type": "json_schema", "schema": schema}})
    assert request.response_format == ir.ResponseFormat("json_schema", schema=schema)
    assert "anthropic" not in request.extras


@pytest.mark.parametrize(
    "messages",
    [None, [{"role": "system", "content": "x"}], [{"role": "user", "content": 5}], ["hi"]],
)
def test_malformed_messages_are_a_bad_request(messages):
    with pytest.raises(GatewayError) as caught:
        parse(messages=messages)
    assert caught.value.kind is ErrorKind.BAD_REQUEST


# -- rendering requests -------------------------------------------------------------------------


def user(*parts: ir.Part) -> ir.Message:
    return ir.Message("user", list(parts))


def assistant(*parts: ir.Part) -> ir.Message:
    return ir.Message("assistant", list(parts))


def render(**fields: Any) -> dict[str, Any]:
    fields.setdefault("messages", [user(ir.TextPart("hi"))])
    body = FMT.render_request(ir.Request(model="claude-sonnet-4-5", **fields))
    check_valid_for_api(body)
    return body


def test_rendered_request_defaults_max_tokens_to_4096():
    assert render()["max_tokens"] == 4096


def test_rendered_max_tokens_is_raised_above_the_thinking_budget():
    body = render(max_tokens=2000, reasoning=ir.Reasoning(budget_tokens=3000))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 3000}
    assert body["max_tokens"] == 3000 + 4096


def test_rendered_thinking_budget_comes_from_the_effort_and_is_at_least_1024():
    assert render(reasoning=ir.Reasoning(effort="high"))["thinking"]["budget_tokens"] == 24576
    assert render(reasoning=ir.Reasoning(budget_tokens=100))["thinking"]["budget_tokens"] == 1024


def test_reasoning_off_renders_thinking_disabled():
    assert render(reasoning=ir.Reasoning(enabled=False))["thinking"] == {"type": "disabled"}


def test_temperature_and_top_k_are_left_off_with_thinking():
    body = render(temperature=0.5, top_k=5, top_p=0.5, reasoning=ir.Reasoning(effort="low"))
    assert not {"temperature", "top_k", "top_p"} & body.keys()


def test_temperature_is_clamped_to_anthropics_range_and_wins_over_top_p():
    body = render(temperature=1.6, top_p=0.9)
    assert body["temperature"] == 1.0 and "top_p" not in body


def test_consecutive_same_role_messages_are_merged():
    body = render(messages=[user(ir.TextPart("a")), user(ir.TextPart("b")), assistant()])
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


def test_tool_results_come_first_in_the_user_turn_after_the_tool_use():
    call = ir.ToolCallPart("call_1", "f", '{"x": 1}')
    result = ir.ToolResultPart("call_1", [ir.TextPart("ok")])
    body = render(
        messages=[
            user(ir.TextPart("go")),
            assistant(call),
            user(ir.TextPart("and then?")),
            user(result),
        ]
    )
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "ok"},
        {"type": "text", "text": "and then?"},
    ]


def test_unsigned_thinking_is_dropped_and_signed_thinking_kept():
    body = render(
        messages=[
            user(ir.TextPart("q")),
            assistant(
                ir.ThinkingPart("from another provider"),
                ir.ThinkingPart("ours", signature=SIGNATURE),
                ir.TextPart("a"),
            ),
        ]
    )
    assert body["messages"][1]["content"][:1] == [
        {"type": "thinking", "thinking": "ours", "signature": SIGNATURE}
    ]
    assert len(body["messages"][1]["content"]) == 2


def test_tool_arguments_that_are_not_a_json_object_become_an_empty_input():
    calls = [ir.ToolCallPart("c1", "f", '{"x": '), ir.ToolCallPart("c2", "g", "")]
    body = render(messages=[user(ir.TextPart("q")), assistant(*calls)])
    assert [b["input"] for b in body["messages"][1]["content"]] == [{}, {}]


def test_tool_ids_are_made_acceptable_to_the_api():
    call = ir.ToolCallPart("functions.get_weather:0", "get_weather", "{}")
    result = ir.ToolResultPart("functions.get_weather:0", [ir.TextPart("ok")])
    body = render(messages=[user(ir.TextPart("q")), assistant(call), user(result)])
    assert body["messages"][1]["content"][0]["id"] == "functions_get_weather_0"
    assert body["messages"][2]["content"][0]["tool_use_id"] == "functions_get_weather_0"


def test_a_json_schema_response_format_becomes_a_system_instruction():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = render(
        system=[ir.TextPart("Be exact.")],
        response_format=ir.ResponseFormat("json_schema", schema=schema, name="count"),
    )
    assert body["system"][0] == {"type": "text", "text": "Be exact."}
    instruction = body["system"][1]["text"]
    assert "JSON" in instruction and '"count"' in instruction
    assert orjson.dumps(schema).decode() in instruction


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        (ir.ToolChoice("required"), None, {"type": "any"}),
        (ir.ToolChoice("tool", "f"), None, {"type": "tool", "name": "f"}),
        (ir.ToolChoice("none"), False, {"type": "none"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, None, None),
    ],
)
def test_tool_choice_and_parallel_calls_are_rendered(choice, parallel, expected):
    body = render(tools=[ir.Tool("f")], tool_choice=choice, parallel_tool_calls=parallel)
    assert body.get("tool_choice") == expected


def test_tool_choice_is_not_sent_without_tools():
    assert "tool_choice" not in render(tool_choice=ir.ToolChoice("required"))


def test_thinking_is_left_off_with_a_forced_tool_choice():
    body = render(
        tools=[ir.Tool("f")], tool_choice=ir.ToolChoice("required"), reasoning=ir.Reasoning()
    )
    assert "thinking" not in body and body["tool_choice"] == {"type": "any"}


def test_thinking_is_left_off_when_the_tool_loop_has_no_signed_thinking():
    call = ir.ToolCallPart("c1", "f", "{}")
    result = ir.ToolResultPart("c1", [ir.TextPart("ok")])
    messages = [user(ir.TextPart("q")), assistant(ir.ThinkingPart("unsigned"), call), user(result)]
    assert "thinking" not in render(messages=messages, reasoning=ir.Reasoning(effort="low"))
    signed = [messages[0], assistant(ir.ThinkingPart("t", SIGNATURE), call), messages[2]]
    assert "thinking" in render(messages=signed, reasoning=ir.Reasoning(effort="low"))


def test_extras_of_other_formats_are_not_sent_to_the_api():
    text = ir.TextPart("hi", {"cache_control": {"type": "ephemeral"}, "annotations": []})
    body = render(messages=[user(text, ir.TextPart("there"))])
    assert body["messages"][0]["content"][0] == {
        "type": "text",
        "text": "hi",
        "cache_control": {"type": "ephemeral"},
    }


def test_a_data_url_image_is_sent_as_a_base64_source():
    image = ir.ImagePart(url="data:image/webp;base64,UklGR", detail="high")
    block = render(messages=[user(image)])["messages"][0]["content"][0]
    assert block["source"] == {"type": "base64", "media_type": "image/webp", "data": "UklGR"}


def test_whitespace_only_stop_sequences_are_dropped():
    assert render(stop=["\n\n", "END"])["stop_sequences"] == ["END"]


def test_tool_schemas_always_have_type_object():
    body = render(tools=[ir.Tool("f", parameters={})])
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]


def test_a_request_survives_parse_render_parse():
    first = FMT.parse_request(copy.deepcopy(RICH_REQUEST))
    rendered = FMT.render_request(first)
    check_valid_for_api(rendered)
    assert FMT.parse_request(rendered) == first


def test_a_rich_request_renders_back_to_the_same_body():
    rendered = FMT.render_request(FMT.parse_request(copy.deepcopy(RICH_REQUEST)))
    expected = copy.deepcopy(RICH_REQUEST)
    expected["messages"][2]["content"][0]["content"] = "sunny"
    assert rendered == expected


def test_thinking_signatures_are_byte_exact_through_parse_and_render():
    signature = "Eu8BCkYIBxgCKkD/+=\u00e9" + "x" * 300
    body = {
        "model": "m",
        "max_tokens": 5000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "t", "signature": signature}],
            },
            {"role": "user", "content": "again"},
        ],
    }
    rendered = FMT.render_request(FMT.parse_request(body))
    sent = orjson.dumps(rendered["messages"][1]["content"][0]["signature"])
    assert sent == orjson.dumps(signature)


# -- responses ----------------------------------------------------------------------------------


def test_a_captured_response_parses_to_text_stop_reason_and_usage():
    response = FMT.parse_response(orjson.loads(fixture("anthropic_message_text.json")))
    assert response.id.startswith("msg_") and response.stop_reason == "end_turn"
    assert response.parts[0].text.startswith("Hello!")  # type: ignore[union-attr]
    assert response.usage == ir.Usage(input=12, output=29)


def test_a_captured_response_renders_back_to_the_same_body():
    captured = orjson.loads(fixture("anthropic_message_text.json"))
    assert FMT.render_response(FMT.parse_response(copy.deepcopy(captured))) == captured


def test_an_inline_response_renders_back_to_the_same_body():
    body = copy.deepcopy(MESSAGE_RESPONSE)
    assert FMT.render_response(FMT.parse_response(body)) == MESSAGE_RESPONSE


def test_response_usage_maps_cache_and_thinking_tokens():
    usage = {
        "input_tokens": 5,
        "output_tokens": 90,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 20,
        "output_tokens_details": {"thinking_tokens": 60},
    }
    response = FMT.parse_response({**MESSAGE_RESPONSE, "usage": usage})
    assert response.usage == ir.Usage(5, 90, cache_read=1000, cache_write=20, reasoning=60)
    assert FMT.render_response(response)["usage"] == usage


@pytest.mark.parametrize(
    ("wire", "ir_reason"),
    [
        ("end_turn", "end_turn"),
        ("max_tokens", "max_tokens"),
        ("stop_sequence", "stop_sequence"),
        ("tool_use", "tool_use"),
        ("refusal", "refusal"),
        ("pause_turn", "end_turn"),
        ("model_context_window_exceeded", "max_tokens"),
    ],
)
def test_stop_reasons_map_to_the_ir_and_back(wire, ir_reason):
    response = FMT.parse_response({**MESSAGE_RESPONSE, "stop_reason": wire})
    assert response.stop_reason == ir_reason
    assert FMT.render_response(response)["stop_reason"] == wire


def test_a_content_filter_stop_is_an_anthropic_refusal():
    response = ir.Response("r1", "m", [ir.TextPart("")], stop_reason="content_filter")
    assert FMT.render_response(response)["stop_reason"] == "refusal"


def test_a_response_with_thinking_and_tool_use_round_trips():
    body = {
        **MESSAGE_RESPONSE,
        "content": [
            {"type": "thinking", "thinking": "plan", "signature": SIGNATURE},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"q": "x"}},
        ],
        "stop_reason": "tool_use",
    }
    parsed = FMT.parse_response(copy.deepcopy(body))
    assert parsed.parts[2] == ir.ToolCallPart("toolu_9", "f", '{"q":"x"}')
    assert FMT.render_response(parsed) == body


def test_a_rendered_response_from_another_format_is_a_valid_sdk_message():
    response = ir.Response(
        "chatcmpl-1",
        "gpt-5",
        [
            ir.ThinkingPart("reasoning_content"),
            ir.TextPart("hi"),
            ir.ToolCallPart("call_1", "f", '{"a": 1}'),
        ],
        stop_reason="tool_use",
        usage=ir.Usage(3, 4, reasoning=2),
    )
    message = anthropic.types.Message.model_validate(FMT.render_response(response))
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use"]
    assert message.content[2].input == {"a": 1}  # type: ignore[union-attr]


# -- stream decoder -----------------------------------------------------------------------------


def summary(events: list[ir.Event]) -> dict[str, Any]:
    """What a stream said, independent of how its deltas were cut."""
    out: dict[str, Any] = {"text": {}, "thinking": {}, "arguments": {}, "signature": {}}
    for event in events:
        if isinstance(event, ir.TextDelta):
            out["text"][event.index] = out["text"].get(event.index, "") + event.text
        elif isinstance(event, ir.ThinkingDelta):
            out["thinking"][event.index] = out["thinking"].get(event.index, "") + event.text
        elif isinstance(event, ir.ToolArgumentsDelta):
            args = out["arguments"].get(event.index, "") + event.fragment
            out["arguments"][event.index] = args
        elif isinstance(event, ir.SignatureDelta):
            out["signature"][event.index] = event.signature
        elif isinstance(event, ir.PartStart):
            out.setdefault("parts", []).append((event.index, event.kind, event.id, event.name))
        elif isinstance(event, ir.UsageUpdate):
            out["usage"] = event.usage
        elif isinstance(event, ir.Stop | ir.StreamError):
            out["end"] = event
    return out


def test_the_captured_text_stream_decodes_to_text_usage_and_stop():
    events = decode(fixture("anthropic_stream_text.sse"))
    assert isinstance(events[0], ir.MessageStart) and events[0].id.startswith("msg_")
    said = summary(events)
    assert said["text"] == {0: "Hello there!"}
    assert said["usage"] == ir.Usage(input=11, output=6)
    assert said["end"] == ir.Stop("end_turn")


def test_the_captured_tool_use_stream_decodes_to_a_tool_call():
    said = summary(decode(fixture("anthropic_stream_tool_use.sse")))
    assert said["parts"][1] == (1, "tool_call", "toolu_01NRLabsLyVHZPKxbKvkfSMn", "get_weather")
    assert said["arguments"] == {1: '{"location": "Paris"}'}
    assert said["end"] == ir.Stop("tool_use")


def test_the_captured_thinking_stream_keeps_its_signature_byte_exact():
    raw = fixture("anthropic_stream_thinking.sse")
    said = summary(decode(raw))
    signature = said["signature"][0]
    assert b'"signature":"' + signature.encode() + b'"' in raw
    assert (
        said["thinking"][0].startswith("The previous result") and said["text"][1] == "925 ÷ 5 = 185"
    )
    assert said["usage"].output == 53


def test_the_captured_error_stream_decodes_to_a_stream_error():
    said = summary(decode(fixture("anthropic_stream_error_event.sse")))
    assert said["end"] == ir.StreamError("api_error", "Overloaded", 500)


def test_an_inline_stream_decodes_message_start_with_usage_then_parts():
    events = decode(TEXT_STREAM)
    usage = ir.Usage(input=11, output=1, cache_read=4)
    assert events[:3] == [
        ir.MessageStart("msg_01", "claude-sonnet-4-5", usage),
        ir.UsageUpdate(usage),
        ir.PartStart(0, "text"),
    ]
    assert events[-3:] == [
        ir.PartStop(0),
        ir.UsageUpdate(ir.Usage(input=11, output=6, cache_read=4)),
        ir.Stop("end_turn"),
    ]


@pytest.mark.parametrize("name", list(STREAMS))
def test_decoding_is_the_same_whatever_byte_the_chunks_are_split_at(name):
    data = STREAMS[name]()
    whole = decode(data)
    for cut in range(1, len(data)):
        assert decode(data, [data[:cut], data[cut:]]) == whole, cut


@pytest.mark.parametrize("name", list(STREAMS))
def test_decoding_byte_by_byte_gives_the_same_events(name):
    data = STREAMS[name]()
    assert decode(data, [data[i : i + 1] for i in range(len(data))]) == decode(data)


def test_crlf_and_cr_line_endings_decode_like_lf():
    events = decode(TOOL_STREAM)
    assert decode(TOOL_STREAM.replace(b"\n", b"\r\n")) == events
    assert decode(TOOL_STREAM.replace(b"\n", b"\r")) == events


def test_comments_and_blank_data_lines_are_ignored():
    noisy = b": keep-alive\n\ndata:\n\n" + TEXT_STREAM.replace(
        b"event: ping\n", b": comment\nevent: ping\n"
    )
    assert decode(noisy) == decode(TEXT_STREAM)


def test_a_final_event_without_its_blank_line_still_counts_at_close():
    assert decode(TEXT_STREAM[:-2])[-1] == ir.Stop("end_turn")


def test_a_stream_cut_before_message_stop_ends_with_an_upstream_error():
    cut = TEXT_STREAM[: TEXT_STREAM.index(b"event: message_delta")]
    assert decode(cut)[-1] == ir.StreamError("upstream", "stream ended before it was complete")


def test_an_error_event_becomes_a_stream_error_with_its_type_and_status():
    events = decode(ERROR_STREAM)
    assert events[-1] == ir.StreamError("overloaded_error", "Overloaded", 529)
    assert sum(isinstance(e, ir.StreamError) for e in events) == 1


def test_message_delta_usage_is_cumulative_and_keeps_fields_it_omits():
    events = decode(THINKING_STREAM)
    updates = [e.usage for e in events if isinstance(e, ir.UsageUpdate)]
    assert updates == [ir.Usage(input=69, output=2), ir.Usage(input=69, output=53)]


def test_redacted_thinking_arrives_whole_in_its_part_start():
    data = sse(
        ("message_start", '{"type":"message_start","message":{"id":"m","model":"c"}}'),
        (
            "content_block_start",
            '{"type":"content_block_start","index":0,'
            '"content_block":{"type":"redacted_thinking","data":"EmwK"}}',
        ),
        ("content_block_stop", '{"type":"content_block_stop","index":0}'),
    )
    assert ir.PartStart(0, "redacted_thinking", data="EmwK") in decode(data)


def test_server_tool_blocks_are_skipped_whole():
    data = sse(
        ("message_start", '{"type":"message_start","message":{"id":"m","model":"c"}}'),
        (
            "content_block_start",
            '{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use",'
            '"id":"srvtoolu_1","name":"web_search","input":{}}}',
        ),
        (
            "content_block_delta",
            '{"type":"content_block_delta","index":0,'
            '"delta":{"type":"input_json_delta","partial_json":"{}"}}',
        ),
        ("content_block_stop", '{"type":"content_block_stop","index":0}'),
        ("message_stop", '{"type":"message_stop"}'),
    )
    assert decode(data) == [ir.MessageStart("m", "c"), ir.Stop("end_turn")]


def test_malformed_json_ends_the_stream_with_an_upstream_error():
    events = decode(b"event: message_start\ndata: {not json}\n\n")
    assert events == [ir.StreamError("upstream", "malformed event in upstream stream")]


# -- stream encoder -----------------------------------------------------------------------------

EVENT_ADAPTER = pydantic.TypeAdapter(anthropic.types.RawMessageStreamEvent)

INTERLEAVED: list[ir.Event] = [
    ir.MessageStart("chatcmpl-1", "gpt-5"),
    ir.PartStart(0, "text"),
    ir.TextDelta(0, "Let me check "),
    ir.PartStart(1, "tool_call", id="call_a", name="weather"),
    ir.PartStart(2, "tool_call", id="call_b", name="weather"),
    ir.ToolArgumentsDelta(1, '{"city":'),
    ir.ToolArgumentsDelta(2, '{"city":'),
    ir.TextDelta(0, "both."),
    ir.ToolArgumentsDelta(2, '"Rome"}'),
    ir.ToolArgumentsDelta(1, '"Paris"}'),
    ir.PartStop(0),
    ir.PartStop(1),
    ir.PartStop(2),
    ir.Stop("tool_use"),
    ir.UsageUpdate(ir.Usage(input=20, output=12, cache_read=5)),
]


def test_every_encoded_event_names_its_type_and_validates_against_the_sdk():
    for name, body in frames(encode(INTERLEAVED)):
        assert body["type"] == name
        if name != "ping":
            EVENT_ADAPTER.validate_python(body)


def test_interleaved_parts_are_encoded_one_block_at_a_time_with_sequential_indexes():
    check_block_discipline(encode(INTERLEAVED))


def test_the_sdk_accumulates_interleaved_parallel_tool_calls_into_whole_blocks():
    types, message = sdk_stream(encode(INTERLEAVED))
    assert types[0] == "message_start" and types[-1] == "message_stop"
    blocks = [
        (b.type, getattr(b, "text", None), getattr(b, "input", None)) for b in message.content
    ]
    assert blocks == [
        ("text", "Let me check ", None),
        ("tool_use", None, {"city": "Paris"}),
        ("tool_use", None, {"city": "Rome"}),
        ("text", "both.", None),
    ]
    assert message.stop_reason == "tool_use"


def test_usage_that_arrives_after_the_stop_is_in_the_final_message_delta():
    name, body = frames(encode(INTERLEAVED))[-2]
    assert name == "message_delta"
    assert body["usage"]["output_tokens"] == 12 and body["usage"]["input_tokens"] == 20
    assert body["usage"]["cache_read_input_tokens"] == 5


def test_the_message_start_answers_as_the_requested_model():
    _, body = frames(encode(INTERLEAVED, model="claude-via-gateway"))[0]
    assert body["message"]["model"] == "claude-via-gateway"
    assert body["message"]["id"] == "chatcmpl-1"


def test_thinking_streams_thinking_then_its_signature_just_before_the_block_stops():
    events: list[ir.Event] = [
        ir.MessageStart("msg_1", "c"),
        ir.PartStart(0, "thinking"),
        ir.ThinkingDelta(0, "hmm"),
        ir.SignatureDelta(0, SIGNATURE),
        ir.ThinkingDelta(0, " ok"),
        ir.PartStop(0),
        ir.PartStart(1, "text"),
        ir.TextDelta(1, "done"),
        ir.Stop("end_turn"),
    ]
    data = encode(events)
    deltas = [b["delta"]["type"] for n, b in frames(data) if n == "content_block_delta"]
    assert deltas == ["thinking_delta", "thinking_delta", "signature_delta", "text_delta"]
    _, message = sdk_stream(data)
    assert message.content[0].signature == SIGNATURE  # type: ignore[union-attr]
    assert message.content[0].thinking == "hmm ok"  # type: ignore[union-attr]


def test_more_text_for_a_closed_text_part_opens_a_new_block():
    events: list[ir.Event] = [
        ir.PartStart(0, "text"),
        ir.TextDelta(0, "a"),
        ir.PartStart(1, "thinking"),
        ir.ThinkingDelta(1, "t"),
        ir.TextDelta(0, "b"),
        ir.Stop("end_turn"),
    ]
    data = encode(events)
    check_block_discipline(data)
    starts = [b["content_block"]["type"] for n, b in frames(data) if n == "content_block_start"]
    assert starts == ["text", "thinking", "text"]


def test_parts_without_content_open_no_block():
    events: list[ir.Event] = [
        ir.PartStart(0, "text"),
        ir.TextDelta(0, ""),
        ir.PartStop(0),
        ir.Stop("end_turn"),
    ]
    names = [n for n, _ in frames(encode(events))]
    assert names == ["message_start", "ping", "message_delta", "message_stop"]


def test_a_stream_without_message_start_gets_one_with_a_generated_id():
    data = encode([ir.TextDelta(0, "hi"), ir.Stop("end_turn")])
    _, body = frames(data)[0]
    assert body["message"]["id"].startswith("msg_") and body["message"]["content"] == []
    assert sdk_stream(data)[1].content[0].text == "hi"  # type: ignore[union-attr]


def test_redacted_thinking_is_encoded_as_a_whole_block():
    events: list[ir.Event] = [
        ir.PartStart(0, "redacted_thinking", data="EmwK"),
        ir.PartStop(0),
        ir.Stop("end_turn"),
    ]
    _, message = sdk_stream(encode(events))
    redacted = message.content[0]
    assert redacted.type == "redacted_thinking" and redacted.data == "EmwK"


def test_a_stream_error_is_encoded_as_an_error_event_and_ends_the_stream():
    encoder = FMT.stream_encoder("m")
    data = encoder.encode([ir.TextDelta(0, "partial"), ir.StreamError("rate_limited", "slow")])
    assert frames(data)[-1] == (
        "error",
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}},
    )
    assert encoder.encode([ir.TextDelta(0, "more")]) == b"" and encoder.finish() == b""


def test_finish_without_a_stop_writes_an_error_the_sdk_raises():
    data = encode([ir.MessageStart("msg_1", "m"), ir.TextDelta(0, "cut")])
    assert frames(data)[-1][0] == "error"
    with pytest.raises(anthropic.APIStatusError):
        sdk_stream(data)


def test_stop_reasons_are_encoded_in_anthropic_terms():
    data = encode([ir.TextDelta(0, "x"), ir.Stop("content_filter")])
    assert frames(data)[-2][1]["delta"] == {"stop_reason": "refusal", "stop_sequence": None}


@pytest.mark.parametrize("name", ["inline text", "inline tool use", "inline thinking"])
def test_decoding_what_the_encoder_wrote_gives_the_same_events(name):
    events = decode(STREAMS[name]())
    start = events[0]
    assert isinstance(start, ir.MessageStart)
    assert decode(encode(events, model=start.model)) == events


@pytest.mark.parametrize("name", ["capture text", "capture tool use", "capture thinking"])
def test_captures_survive_decode_encode_decode(name):
    events = decode(STREAMS[name]())
    start = events[0]
    assert isinstance(start, ir.MessageStart)
    assert decode(encode(events, model=start.model)) == events


def test_decoding_encoded_interleaved_parts_keeps_each_parts_content():
    said = summary(decode(encode(INTERLEAVED)))
    assert sorted(said["arguments"].values()) == ['{"city":"Paris"}', '{"city":"Rome"}']
    assert "".join(said["text"].values()) == "Let me check both."
    assert said["end"] == ir.Stop("tool_use")
