"""Request validation for :mod:`omniroute.testing.fake_openai`, with the real API's error bodies.

Every check raises :class:`ApiError` carrying ``{"error": {message, type, param, code}}`` worded
like OpenAI's own 400 responses, with ``param`` naming the offending field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BAD_JSON_MESSAGE",
    "VALID_ROLES",
    "ApiError",
    "EmbeddingsParams",
    "ImagesParams",
    "default_error_type",
    "error_body",
    "validate_chat",
    "validate_embeddings",
    "validate_images",
]

VALID_ROLES: tuple[str, ...] = ("system", "developer", "user", "assistant", "tool")
"""Message roles the fake accepts."""

BAD_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)


def error_body(
    message: str, *, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """Build the OpenAI error envelope ``{"error": {message, type, param, code}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def default_error_type(status: int) -> str:
    """The error ``type`` OpenAI uses for ``status`` when none is given."""
    if status >= 500:
        return "server_error"
    return "rate_limit_error" if status == 429 else "invalid_request_error"


class ApiError(Exception):
    """An OpenAI-style error response; :attr:`body` is the JSON envelope to send."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(message, type=type, param=param, code=code)


@dataclass(frozen=True)
class EmbeddingsParams:
    """A validated ``POST /v1/embeddings`` body."""

    model: str
    items: list[str | list[int]]
    encoding_format: str
    dimensions: int


@dataclass(frozen=True)
class ImagesParams:
    """A validated ``POST /v1/images/generations`` body."""

    prompt: str
    n: int
    response_format: str


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", int: "integer", float: "decimal", str: "string", list: "array"}
    return names.get(type(value), "object")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _invalid_type(param: str, expected: str, value: Any) -> ApiError:
    return ApiError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead.",
        param=param,
        code="invalid_type",
    )


def _invalid_value(param: str, value: Any, supported: tuple[str, ...]) -> ApiError:
    listed = ", ".join(f"'{s}'" for s in supported[:-1]) + f" and '{supported[-1]}'"
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {listed}.",
        param=param,
        code="invalid_value",
    )


def _missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required parameter: '{param}'.",
        param=param,
        code="missing_required_parameter",
    )


def _require_model(body: Mapping[str, Any]) -> str:
    if "model" not in body:
        raise _missing("model")
    if not isinstance(body["model"], str):
        raise _invalid_type("model", "a string", body["model"])
    return body["model"]


def validate_chat(body: Mapping[str, Any]) -> None:
    """Reject a ``POST /v1/chat/completions`` body the real API would answer with 400."""
    _require_model(body)
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array of objects", messages)
    if not messages:
        raise ApiError(
            400,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    _validate_messages(messages)
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _invalid_type("stream", "a boolean", stream)
    options = body.get("stream_options")
    if options is not None and stream is not True:
        raise ApiError(
            400,
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    if options is not None and not isinstance(options, dict):
        raise _invalid_type("stream_options", "an object", options)
    _validate_temperature(body.get("temperature"))
    _validate_tools(body.get("tools"))


def _validate_messages(messages: list[Any]) -> None:
    call_ids: set[str] = set()
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _invalid_type(f"messages[{i}]", "an object", message)
        role = message.get("role")
        if role is None:
            raise _missing(f"messages[{i}].role")
        if role not in VALID_ROLES:
            raise _invalid_value(f"messages[{i}].role", role, VALID_ROLES)
        if role == "assistant":
            for call in message.get("tool_calls") or ():
                if isinstance(call, Mapping) and isinstance(call.get("id"), str):
                    call_ids.add(call["id"])
        elif role == "tool":
            _validate_tool_message(i, message, call_ids)


def _validate_tool_message(index: int, message: Mapping[str, Any], call_ids: set[str]) -> None:
    tool_call_id = message.get("tool_call_id")
    if tool_call_id is None:
        raise _missing(f"messages[{index}].tool_call_id")
    if not call_ids:
        raise ApiError(
            400,
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
            "message with 'tool_calls'.",
            param=f"messages.[{index}].role",
        )
    if tool_call_id not in call_ids:
        raise ApiError(
            400,
            f"Invalid parameter: 'tool_call_id' of '{tool_call_id}' not found in 'tool_calls' "
            "of previous message.",
            param=f"messages.[{index}].tool_call_id",
        )


def _validate_temperature(temperature: Any) -> None:
    if temperature is None:
        return
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise _invalid_type("temperature", "a decimal", temperature)
    if not 0 <= temperature <= 2:
        above = temperature > 2
        raise ApiError(
            400,
            f"Invalid 'temperature': decimal {'above maximum' if above else 'below minimum'} "
            f"value. Expected a value {'<= 2' if above else '>= 0'}, but got {temperature} "
            "instead.",
            param="temperature",
            code="decimal_above_max_value" if above else "decimal_below_min_value",
        )


def _validate_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _invalid_type("tools", "an array of objects", tools)
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _invalid_type(f"tools[{i}]", "an object", tool)
        function = tool.get("function")
        if not isinstance(function, dict):
            raise _missing(f"tools[{i}].function")
        if not isinstance(function.get("name"), str):
            raise _missing(f"tools[{i}].function.name")


def validate_embeddings(body: Mapping[str, Any], default_dimensions: int) -> EmbeddingsParams:
    """Validate a ``POST /v1/embeddings`` body; ``input`` is normalised to a list of items."""
    model = _require_model(body)
    items = _embedding_items(body.get("input"))
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise _invalid_value("encoding_format", encoding, ("float", "base64"))
    dimensions = body.get("dimensions", default_dimensions)
    if not _is_int(dimensions) or dimensions < 1:
        raise ApiError(
            400,
            f"Invalid 'dimensions': expected an integer >= 1, but got {dimensions!r} instead.",
            param="dimensions",
            code="invalid_value",
        )
    return EmbeddingsParams(model, items, encoding, dimensions)


def _embedding_items(value: Any) -> list[str | list[int]]:
    if value is None:
        raise _missing("input")
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and value and all(map(_is_int, value)):
        value = [value]
    valid = (
        isinstance(value, list)
        and value
        and all(
            (isinstance(v, str) and v) or (isinstance(v, list) and v and all(map(_is_int, v)))
            for v in value
        )
    )
    if not valid:
        raise ApiError(
            400,
            "'$.input' is invalid. Please check the API reference: "
            "https://platform.openai.com/docs/api-reference.",
            param="input",
        )
    return list(value)


def validate_images(body: Mapping[str, Any]) -> ImagesParams:
    """Validate a ``POST /v1/images/generations`` body."""
    prompt = body.get("prompt")
    if prompt is None:
        raise _missing("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise _invalid_type("prompt", "a non-empty string", prompt)
    n = body.get("n", 1)
    if not _is_int(n) or not 1 <= n <= 10:
        raise ApiError(
            400,
            f"Invalid 'n': expected an integer between 1 and 10, but got {n!r} instead.",
            param="n",
            code="invalid_value",
        )
    response_format = body.get("response_format", "b64_json")
    if response_format not in ("url", "b64_json"):
        raise _invalid_value("response_format", response_format, ("url", "b64_json"))
    return ImagesParams(prompt, n, response_format)
