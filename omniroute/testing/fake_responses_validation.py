"""Request validation for :mod:`omniroute.testing.fake_responses`, with the real API's errors.

Every check raises the OpenAI fake's :class:`ApiError`, whose body is the OpenAI envelope
``{"error": {message, type, param, code}}`` with ``param`` naming the offending field
(``input[2].call_id``, ``tools[0].name``...). Where a real wording is known it is used verbatim:
``Missing required parameter: 'tools[0].name'.`` (what a chat-style nested tool gets),
``No tool call found for function call output with call_id ...``, ``Unknown parameter``,
``integer below minimum value`` for ``max_output_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from omniroute.testing.fake_openai_validation import ApiError

__all__ = [
    "INPUT_ITEM_TYPES",
    "MESSAGE_ROLES",
    "RESPONSES_FIELDS",
    "message_parts",
    "validate_responses_request",
]

RESPONSES_FIELDS: frozenset[str] = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "stream",
        "stream_options",
        "store",
        "previous_response_id",
        "conversation",
        "reasoning",
        "include",
        "max_output_tokens",
        "max_tool_calls",
        "text",
        "temperature",
        "top_p",
        "top_logprobs",
        "truncation",
        "metadata",
        "service_tier",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
        "safety_identifier",
        "user",
        "background",
        "background_options",
        "context_management",
        "moderation",
        "image",
        "access_programs",
    }
)
"""Top-level fields ``POST /v1/responses`` accepts; anything else is an unknown parameter."""

INPUT_ITEM_TYPES: tuple[str, ...] = (
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
)
"""Input item types the fake accepts (an item with a ``role`` and no ``type`` is a message)."""

MESSAGE_ROLES: tuple[str, ...] = ("user", "assistant", "system", "developer")
"""Roles a ``message`` input item may have."""

_INPUT_PARTS = ("input_text", "input_image", "input_file", "input_audio")
_OUTPUT_PARTS = ("output_text", "refusal")
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_SUMMARIES = ("auto", "concise", "detailed")
_TOOL_CHOICES = ("none", "auto", "required")
_FORMATS = ("text", "json_object", "json_schema")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", int: "integer", float: "decimal", str: "string", list: "array"}
    return names.get(type(value), "object")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def _invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _invalid_value(param: str, value: Any, supported: Sequence[str]) -> ApiError:
    listed = ", ".join(f"'{s}'" for s in supported[:-1]) + f", and '{supported[-1]}'"
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def _require_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    param = f"{path}.{key}"
    if obj.get(key) is None:
        raise _missing(param)
    if not isinstance(obj[key], str):
        raise _invalid_type(param, "a string", obj[key])
    return str(obj[key])


def message_parts(item: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The content parts of a ``message`` item (a string content is one text part)."""
    content = item.get("content")
    if isinstance(content, str):
        kind = "output_text" if item.get("role") == "assistant" else "input_text"
        return [{"type": kind, "text": content}]
    return [part for part in content or () if isinstance(part, Mapping)]


def validate_responses_request(
    body: Mapping[str, Any], stored: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    """Reject a ``POST /v1/responses`` body the real API would answer with 400.

    ``stored`` maps the ids of stored responses to their conversation items (input and
    output), for ``previous_response_id``. Returns the whole conversation: the stored items of
    the previous response, then this request's input as items (a string input becomes one user
    message).
    """
    for key in body:
        if key not in RESPONSES_FIELDS:
            raise ApiError(400, f"Unknown parameter: '{key}'.", param=key, code="unknown_parameter")
    if body.get("model") is None:
        raise _missing("model")
    if not isinstance(body["model"], str):
        raise _invalid_type("model", "a string", body["model"])
    for flag in ("stream", "store", "parallel_tool_calls", "background"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise _invalid_type(flag, "a boolean", body[flag])
    if body.get("instructions") is not None and not isinstance(body["instructions"], str):
        raise _invalid_type("instructions", "a string", body["instructions"])
    prior = _previous_items(body.get("previous_response_id"), stored)
    items = _input_items(body)
    _validate_items(items)
    conversation = [*prior, *items]
    _validate_pairing(conversation, len(prior))
    tool_names = _validate_tools(body.get("tools"))
    _validate_tool_choice(body.get("tool_choice"), tool_names)
    _validate_numbers(body)
    _validate_reasoning(body.get("reasoning"))
    _validate_text(body.get("text"))
    return conversation


def _previous_items(
    previous: Any, stored: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[dict[str, Any]]:
    if previous is None:
        return []
    if not isinstance(previous, str):
        raise _invalid_type("previous_response_id", "a string", previous)
    if previous not in stored:
        raise ApiError(
            400,
            f"Previous response with id '{previous}' not found.",
            param="previous_response_id",
            code="previous_response_not_found",
        )
    return [dict(item) for item in stored[previous]]


def _input_items(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = body.get("input")
    if value is None:
        if body.get("previous_response_id") is None and body.get("prompt") is None:
            raise _missing("input")
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise _invalid_type("input", "a string or an array of input items", value)
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _invalid_type(f"input[{i}]", "an object", item)
        if "type" not in item and "role" in item:
            item = {"type": "message", **item}
        items.append(item)
    return items


def _validate_items(items: Sequence[Mapping[str, Any]]) -> None:
    for i, item in enumerate(items):
        path = f"input[{i}]"
        kind = item.get("type")
        if kind is None:
            raise _missing(f"{path}.type")
        if kind not in INPUT_ITEM_TYPES:
            raise _invalid_value(f"{path}.type", kind, INPUT_ITEM_TYPES)
        if kind == "message":
            _validate_message(item, path)
        elif kind == "function_call":
            _require_str(item, "call_id", path)
            _require_str(item, "name", path)
            _require_str(item, "arguments", path)
        elif kind == "function_call_output":
            _require_str(item, "call_id", path)
            output = item.get("output")
            if output is None:
                raise _missing(f"{path}.output")
            if not isinstance(output, str | list):
                raise _invalid_type(f"{path}.output", "a string or an array", output)
        elif kind == "reasoning":
            summary = item.get("summary")
            if summary is None:
                raise _missing(f"{path}.summary")
            if not isinstance(summary, list):
                raise _invalid_type(f"{path}.summary", "an array", summary)


def _validate_message(item: Mapping[str, Any], path: str) -> None:
    role = item.get("role")
    if role is None:
        raise _missing(f"{path}.role")
    if role not in MESSAGE_ROLES:
        raise _invalid_value(f"{path}.role", role, ("assistant", "system", "developer", "user"))
    content = item.get("content")
    if content is None:
        raise _missing(f"{path}.content")
    if not isinstance(content, str | list):
        raise _invalid_type(f"{path}.content", "a string or an array", content)
    allowed = _OUTPUT_PARTS if role == "assistant" else _INPUT_PARTS
    for j, part in enumerate(content if isinstance(content, list) else ()):
        part_path = f"{path}.content[{j}]"
        if not isinstance(part, dict):
            raise _invalid_type(part_path, "an object", part)
        if part.get("type") not in allowed:
            raise _invalid_value(f"{part_path}.type", part.get("type"), allowed)
        if part["type"] in ("input_text", "output_text"):
            _require_str(part, "text", part_path)


def _validate_pairing(conversation: Sequence[Mapping[str, Any]], first_input: int) -> None:
    calls: list[str] = []
    answered: set[str] = set()
    for item in conversation:
        if item.get("type") == "function_call":
            calls.append(item["call_id"])
        elif item.get("type") == "function_call_output":
            call_id = item["call_id"]
            if call_id not in calls:
                raise ApiError(
                    400,
                    f"No tool call found for function call output with call_id {call_id}.",
                    param="input",
                )
            answered.add(call_id)
    missing = [call_id for call_id in calls if call_id not in answered]
    if missing and first_input < len(conversation):
        raise ApiError(400, f"No tool output found for function call {missing[0]}.", param="input")


def _validate_tools(tools: Any) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _invalid_type("tools", "an array of objects", tools)
    names = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _invalid_type(f"tools[{i}]", "an object", tool)
        if tool.get("type") is None:
            raise _missing(f"tools[{i}].type")
        if tool["type"] != "function":
            continue
        names.append(_require_str(tool, "name", f"tools[{i}]"))
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _invalid_type(f"tools[{i}].parameters", "an object", parameters)
    return names


def _validate_tool_choice(choice: Any, tool_names: Sequence[str]) -> None:
    if choice is None:
        return
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise _invalid_value("tool_choice", choice, _TOOL_CHOICES)
        return
    if not isinstance(choice, dict):
        raise _invalid_type("tool_choice", "a string or an object", choice)
    if choice.get("type") == "function":
        name = _require_str(choice, "name", "tool_choice")
        if name not in tool_names:
            raise ApiError(
                400,
                f"Tool choice '{name}' not found in 'tools' parameter.",
                param="tool_choice",
            )


def _validate_numbers(body: Mapping[str, Any]) -> None:
    limit = body.get("max_output_tokens")
    if limit is not None:
        if not _is_int(limit):
            raise _invalid_type("max_output_tokens", "an integer", limit)
        if limit < 16:
            raise ApiError(
                400,
                "Invalid 'max_output_tokens': integer below minimum value. Expected a value "
                f">= 16, but got {limit} instead.",
                param="max_output_tokens",
                code="integer_below_min_value",
            )
    for name, high in (("temperature", 2), ("top_p", 1)):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid_type(name, "a decimal", value)
        if not 0 <= value <= high:
            above = value > high
            raise ApiError(
                400,
                f"Invalid '{name}': decimal {'above maximum' if above else 'below minimum'} "
                f"value. Expected a value {f'<= {high}' if above else '>= 0'}, but got {value} "
                "instead.",
                param=name,
                code="decimal_above_max_value" if above else "decimal_below_min_value",
            )


def _validate_reasoning(reasoning: Any) -> None:
    if reasoning is None:
        return
    if not isinstance(reasoning, dict):
        raise _invalid_type("reasoning", "an object", reasoning)
    effort = reasoning.get("effort")
    if effort is not None and effort not in _EFFORTS:
        raise _invalid_value("reasoning.effort", effort, _EFFORTS)
    summary = reasoning.get("summary")
    if summary is not None and summary not in _SUMMARIES:
        raise _invalid_value("reasoning.summary", summary, _SUMMARIES)


def _validate_text(text: Any) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise _invalid_type("text", "an object", text)
    fmt = text.get("format")
    if fmt is None:
        return
    if not isinstance(fmt, dict):
        raise _invalid_type("text.format", "an object", fmt)
    if fmt.get("type") not in _FORMATS:
        raise _invalid_value("text.format.type", fmt.get("type"), _FORMATS)
    if fmt["type"] == "json_schema":
        _require_str(fmt, "name", "text.format")
        if not isinstance(fmt.get("schema"), dict):
            raise _missing("text.format.schema")
