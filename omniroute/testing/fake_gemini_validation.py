"""Request validation for :mod:`omniroute.testing.fake_gemini`, with the real API's errors.

Every check raises :class:`GeminiApiError`, whose body is the ``google.rpc.Status`` envelope
``{"error": {"code", "message", "status", "details"?}}`` (wire-formats.md §4.5). Where the real
wording is known it is used verbatim: proto parse errors (``Invalid JSON payload received.
Unknown name "x" at 'contents[0].parts[0]': Cannot find field.``), field errors
(``* GenerateContentRequest.contents: contents is not specified``), the multi-turn rules
(alternating roles, function call/response turns and counts) and the thought-signature 400.

Field names are accepted in camelCase and in snake_case (proto3 JSON mapping); paths in messages
use the proto (snake_case) names, as the real API does.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import orjson

__all__ = [
    "BYPASS_SIGNATURES",
    "STATUS_NAMES",
    "GeminiApiError",
    "default_message",
    "default_status_name",
    "error_body",
    "get_field",
    "parse_signature",
    "retry_info",
    "snake_case",
    "validate_count_tokens",
    "validate_generate_content",
]

STATUS_NAMES: Mapping[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""The ``google.rpc.Code`` name the API sends in ``error.status`` for each HTTP status."""

_DEFAULT_MESSAGES: Mapping[str, str] = {
    "INVALID_ARGUMENT": "Request contains an invalid argument.",
    "FAILED_PRECONDITION": "User location is not supported for the API use.",
    "UNAUTHENTICATED": "Request had invalid authentication credentials. Expected OAuth 2 access "
    "token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    "PERMISSION_DENIED": "The caller does not have permission",
    "NOT_FOUND": "Requested entity was not found.",
    "ABORTED": "The operation was aborted.",
    "RESOURCE_EXHAUSTED": "You exceeded your current quota, please check your plan and billing "
    "details. For more information on this error, head to: "
    "https://ai.google.dev/gemini-api/docs/rate-limits.",
    "CANCELLED": "The operation was cancelled.",
    "INTERNAL": "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    "NOT_IMPLEMENTED": "Method not implemented.",
    "UNAVAILABLE": "The model is overloaded. Please try again later.",
    "DEADLINE_EXCEEDED": "Deadline expired before operation could complete.",
}

BYPASS_SIGNATURES: tuple[str, ...] = (
    "skip_thought_signature_validator",
    "context_engineering_is_the_way_to_go",
)
"""The documented dummy ``thoughtSignature`` values that skip signature validation."""

_REQUEST_FIELDS = frozenset(
    {
        "model",
        "contents",
        "tools",
        "toolConfig",
        "safetySettings",
        "systemInstruction",
        "generationConfig",
        "cachedContent",
        "serviceTier",
        "store",
    }
)
_CONTENT_FIELDS = frozenset({"role", "parts"})
_DATA_FIELDS = (
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_PART_FIELDS = frozenset(
    {
        *_DATA_FIELDS,
        "thought",
        "thoughtSignature",
        "videoMetadata",
        "partMetadata",
        "mediaResolution",
    }
)
_FUNCTION_CALL_FIELDS = frozenset({"id", "name", "args", "partialArgs", "willContinue"})
_FUNCTION_RESPONSE_FIELDS = frozenset(
    {"id", "name", "response", "parts", "willContinue", "scheduling"}
)
_BLOB_FIELDS = frozenset({"mimeType", "data", "displayName"})
_FILE_DATA_FIELDS = frozenset({"mimeType", "fileUri", "displayName"})
_TOOL_FIELDS = frozenset(
    {
        "functionDeclarations",
        "googleSearchRetrieval",
        "codeExecution",
        "googleSearch",
        "computerUse",
        "urlContext",
        "fileSearch",
        "googleMaps",
        "mcpServers",
    }
)
_DECLARATION_FIELDS = frozenset(
    {
        "name",
        "description",
        "parameters",
        "parametersJsonSchema",
        "response",
        "responseJsonSchema",
        "behavior",
    }
)
_GENERATION_CONFIG_FIELDS = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
    }
)
_THINKING_CONFIG_FIELDS = frozenset({"includeThoughts", "thinkingBudget", "thinkingLevel"})
_TOOL_CONFIG_FIELDS = frozenset({"functionCallingConfig", "retrievalConfig"})
_FUNCTION_CALLING_FIELDS = frozenset({"mode", "allowedFunctionNames"})
_MODES = ("MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED")
_LEVELS = ("THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH")
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,63}$")
_UPPER = re.compile(r"(?<!^)([A-Z])")
_SIGNATURE_DOCS = "https://ai.google.dev/gemini-api/docs/thought-signatures"


def snake_case(name: str) -> str:
    """``functionCall`` → ``function_call`` (the proto field name)."""
    return _UPPER.sub(r"_\1", name).lower()


def _camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def get_field(obj: Mapping[str, Any], name: str) -> Any:
    """``obj[name]`` for a camelCase ``name``, falling back to its snake_case spelling."""
    if name in obj:
        return obj[name]
    return obj.get(snake_case(name))


def default_status_name(status: int) -> str:
    """The ``error.status`` name for an HTTP ``status`` (``INTERNAL`` for unknown 5xx)."""
    if status in STATUS_NAMES:
        return STATUS_NAMES[status]
    return "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"


def default_message(status_name: str) -> str:
    """A realistic message for ``status_name`` (the live 429 quota text for
    ``RESOURCE_EXHAUSTED``)."""
    return _DEFAULT_MESSAGES.get(status_name, "Unknown error.")


def retry_info(delay: str) -> dict[str, str]:
    """The ``google.rpc.RetryInfo`` error detail, e.g. ``retry_info("7s")``."""
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def error_body(
    code: int,
    message: str,
    status_name: str,
    details: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Build ``{"error": {code, message, status, details?}}`` (``details`` only when given)."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status_name}
    if details:
        error["details"] = [dict(detail) for detail in details]
    return {"error": error}


class GeminiApiError(Exception):
    """A Gemini-style error response; :attr:`body` is the JSON envelope to send."""

    def __init__(
        self,
        status: int,
        message: str,
        status_name: str | None = None,
        *,
        details: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.status_name = status_name or default_status_name(status)
        self.body = error_body(status, message, self.status_name, details)


def _bad(message: str) -> GeminiApiError:
    return GeminiApiError(400, message)


def _field_error(path: str, message: str) -> GeminiApiError:
    return _bad(f"* GenerateContentRequest.{path}: {message}\n")


def _payload_error(message: str, at: str = "") -> GeminiApiError:
    detail = {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [
            {"field": at, "description": message} if at else {"description": message}
        ],
    }
    return GeminiApiError(400, message, details=[detail])


def _unknown_name(name: str, path: str) -> GeminiApiError:
    where = f" at '{path}'" if path else ""
    return _payload_error(
        f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.', path
    )


def _invalid_value(path: str, kind: str, value: Any) -> GeminiApiError:
    shown = orjson.dumps(value).decode()
    return _payload_error(f"Invalid value at '{path}' ({kind}), {shown}", path)


class _Walker:
    """Proto-parse checks: unknown names and value types, reported at the proto path."""

    def __init__(self, version: str) -> None:
        self.package = f"type.googleapis.com/google.ai.generativelanguage.{version}"

    def message(
        self, value: Any, path: str, type_name: str, allowed: frozenset[str]
    ) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise _invalid_value(path, f"{self.package}.{type_name}", value)
        for key in value:
            if _camel_case(key) not in allowed:
                raise _unknown_name(key, path)
        return value

    def repeated(self, value: Any, path: str, type_name: str) -> list[Any]:
        if isinstance(value, list):
            return value
        raise _invalid_value(path, f"{self.package}.{type_name}", value)

    @staticmethod
    def scalar(value: Any, path: str, kind: str) -> None:
        checks = {
            "TYPE_STRING": lambda v: isinstance(v, str),
            "TYPE_BOOL": lambda v: isinstance(v, bool),
            "TYPE_INT32": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "TYPE_FLOAT": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        }
        if value is not None and not checks[kind](value):
            raise _invalid_value(path, kind, value)

    @staticmethod
    def struct(value: Any, path: str) -> None:
        if value is not None and not isinstance(value, dict):
            raise _invalid_value(path, "type.googleapis.com/google.protobuf.Struct", value)


def parse_signature(value: str) -> bytes | None:
    """Decode a ``thoughtSignature`` like the proto3 JSON parser (standard or URL-safe base64,
    padding optional); ``None`` when it is not base64."""
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


_BYPASS_BYTES = frozenset(
    {sig for text in BYPASS_SIGNATURES for sig in (parse_signature(text), text.encode()) if sig}
)


def validate_generate_content(
    body: Mapping[str, Any],
    signatures: Collection[bytes] | None,
    *,
    version: str = "v1beta",
) -> None:
    """Reject a ``generateContent``/``streamGenerateContent`` body the real API would refuse.

    ``signatures`` holds the decoded thought signatures the fake issued; in the current turn
    (everything after the last user turn that is not only function responses) the first
    ``functionCall`` part of each model turn must carry one of them or a
    :data:`BYPASS_SIGNATURES` value. ``None`` disables that check.
    """
    walker = _Walker(version)
    walker.message(body, "", "GenerateContentRequest", _REQUEST_FIELDS)
    contents = _parse_contents(walker, get_field(body, "contents"))
    system = get_field(body, "systemInstruction")
    if system is not None:
        _parse_content(walker, system, "system_instruction")
    _parse_tools(walker, get_field(body, "tools"))
    _parse_tool_config(walker, get_field(body, "toolConfig"))
    _parse_generation_config(walker, get_field(body, "generationConfig"))
    if get_field(body, "safetySettings") is not None:
        walker.repeated(get_field(body, "safetySettings"), "safety_settings", "SafetySetting")
    if not contents:
        raise _field_error("contents", "contents is not specified")
    _check_contents(contents)
    _check_declarations(get_field(body, "tools") or [])
    _check_turns(contents)
    if signatures is not None:
        _check_signatures(contents, signatures)


def validate_count_tokens(body: Mapping[str, Any], *, version: str = "v1beta") -> Mapping[str, Any]:
    """Validate a ``countTokens`` body; return the request to count (``contents`` or the
    nested ``generateContentRequest``)."""
    walker = _Walker(version)
    walker.message(
        body, "", "CountTokensRequest", frozenset({"contents", "generateContentRequest"})
    )
    nested = get_field(body, "generateContentRequest")
    if nested is not None and get_field(body, "contents") is not None:
        raise _bad(
            "* CountTokensRequest: contents and generate_content_request are mutually exclusive\n"
        )
    if nested is not None:
        validate_generate_content(nested, None, version=version)
        return nested
    contents = _parse_contents(walker, get_field(body, "contents"))
    if not contents:
        raise _bad("* CountTokensRequest.contents: contents is not specified\n")
    _check_contents(contents)
    return body


def _parse_contents(walker: _Walker, value: Any) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    items = walker.repeated(value, "contents", "Content")
    return [_parse_content(walker, item, f"contents[{i}]") for i, item in enumerate(items)]


def _parse_content(walker: _Walker, value: Any, path: str) -> Mapping[str, Any]:
    content = walker.message(value, path, "Content", _CONTENT_FIELDS)
    walker.scalar(content.get("role"), f"{path}.role", "TYPE_STRING")
    parts = walker.repeated(content.get("parts", []), f"{path}.parts", "Part")
    for j, part in enumerate(parts):
        _parse_part(walker, part, f"{path}.parts[{j}]")
    return content


def _parse_part(walker: _Walker, value: Any, path: str) -> None:
    part = walker.message(value, path, "Part", _PART_FIELDS)
    walker.scalar(get_field(part, "text"), f"{path}.text", "TYPE_STRING")
    walker.scalar(get_field(part, "thought"), f"{path}.thought", "TYPE_BOOL")
    signature = get_field(part, "thoughtSignature")
    if signature is not None:
        walker.scalar(signature, f"{path}.thought_signature", "TYPE_STRING")
        if parse_signature(signature) is None:
            raise _payload_error(
                f"Invalid value at '{path}.thought_signature' (TYPE_BYTES), "
                f'Base64 decoding failed for "{signature}"',
                f"{path}.thought_signature",
            )
    present = [name for name in _DATA_FIELDS if get_field(part, name) is not None]
    if len(present) > 1:
        raise _payload_error(
            f"Invalid value at '{path}' (oneof), oneof field 'data' is already set. "
            f"Cannot set '{present[1]}'",
            path,
        )
    call = get_field(part, "functionCall")
    if call is not None:
        walker.message(call, f"{path}.function_call", "FunctionCall", _FUNCTION_CALL_FIELDS)
        walker.scalar(call.get("name"), f"{path}.function_call.name", "TYPE_STRING")
        walker.struct(call.get("args"), f"{path}.function_call.args")
    response = get_field(part, "functionResponse")
    if response is not None:
        walker.message(
            response, f"{path}.function_response", "FunctionResponse", _FUNCTION_RESPONSE_FIELDS
        )
        walker.scalar(response.get("name"), f"{path}.function_response.name", "TYPE_STRING")
        walker.struct(response.get("response"), f"{path}.function_response.response")
    blob = get_field(part, "inlineData")
    if blob is not None:
        walker.message(blob, f"{path}.inline_data", "Blob", _BLOB_FIELDS)
        data = blob.get("data", "")
        walker.scalar(data, f"{path}.inline_data.data", "TYPE_STRING")
        if parse_signature(data) is None:
            raise _payload_error(
                f"Invalid value at '{path}.inline_data.data' (TYPE_BYTES), "
                f'Base64 decoding failed for "{data}"',
                f"{path}.inline_data.data",
            )
    file_data = get_field(part, "fileData")
    if file_data is not None:
        walker.message(file_data, f"{path}.file_data", "FileData", _FILE_DATA_FIELDS)


def _parse_tools(walker: _Walker, value: Any) -> None:
    if value is None:
        return
    for i, tool in enumerate(walker.repeated(value, "tools", "Tool")):
        walker.message(tool, f"tools[{i}]", "Tool", _TOOL_FIELDS)
        declarations = get_field(tool, "functionDeclarations")
        if declarations is None:
            continue
        path = f"tools[{i}].function_declarations"
        for j, declaration in enumerate(walker.repeated(declarations, path, "FunctionDeclaration")):
            walker.message(declaration, f"{path}[{j}]", "FunctionDeclaration", _DECLARATION_FIELDS)
            walker.scalar(declaration.get("name"), f"{path}[{j}].name", "TYPE_STRING")


def _parse_tool_config(walker: _Walker, value: Any) -> None:
    if value is None:
        return
    config = walker.message(value, "tool_config", "ToolConfig", _TOOL_CONFIG_FIELDS)
    calling = get_field(config, "functionCallingConfig")
    if calling is None:
        return
    path = "tool_config.function_calling_config"
    calling = walker.message(calling, path, "FunctionCallingConfig", _FUNCTION_CALLING_FIELDS)
    mode = calling.get("mode")
    if mode is not None and mode not in _MODES:
        kind = f"{walker.package}.FunctionCallingConfig.Mode"
        raise _invalid_value(f"{path}.mode", kind, mode)


def _parse_generation_config(walker: _Walker, value: Any) -> None:
    if value is None:
        return
    path = "generation_config"
    config = walker.message(value, path, "GenerationConfig", _GENERATION_CONFIG_FIELDS)
    for name, kind in (
        ("maxOutputTokens", "TYPE_INT32"),
        ("candidateCount", "TYPE_INT32"),
        ("topK", "TYPE_INT32"),
        ("temperature", "TYPE_FLOAT"),
        ("topP", "TYPE_FLOAT"),
        ("responseMimeType", "TYPE_STRING"),
    ):
        walker.scalar(get_field(config, name), f"{path}.{snake_case(name)}", kind)
    temperature = get_field(config, "temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        raise _field_error(
            f"{path}.temperature", f"temperature must be in the range [0.0, 2.0], got {temperature}"
        )
    thinking = get_field(config, "thinkingConfig")
    if thinking is None:
        return
    thinking_path = f"{path}.thinking_config"
    thinking = walker.message(thinking, thinking_path, "ThinkingConfig", _THINKING_CONFIG_FIELDS)
    walker.scalar(
        get_field(thinking, "includeThoughts"), f"{thinking_path}.include_thoughts", "TYPE_BOOL"
    )
    walker.scalar(
        get_field(thinking, "thinkingBudget"), f"{thinking_path}.thinking_budget", "TYPE_INT32"
    )
    level = get_field(thinking, "thinkingLevel")
    if level is not None and level not in _LEVELS:
        kind = f"{walker.package}.ThinkingConfig.ThinkingLevel"
        raise _invalid_value(f"{thinking_path}.thinking_level", kind, level)


def _check_contents(contents: Sequence[Mapping[str, Any]]) -> None:
    for i, content in enumerate(contents):
        role = content.get("role") or "user"
        if role not in ("user", "model"):
            raise _bad("Please use a valid role: user, model.")
        parts = content.get("parts") or []
        if not parts:
            raise _field_error(f"contents[{i}].parts", "contents.parts must not be empty.")
        for j, part in enumerate(parts):
            path = f"contents[{i}].parts[{j}]"
            if not any(get_field(part, name) is not None for name in _DATA_FIELDS):
                raise _field_error(
                    f"{path}.data", "required oneof field 'data' must have one initialized field"
                )
            for kind in ("function_call", "function_response"):
                value = get_field(part, _camel_case(kind))
                if value is not None and not value.get("name"):
                    raise _field_error(f"{path}.{kind}.name", "Name cannot be empty.")


def _check_declarations(tools: Sequence[Mapping[str, Any]]) -> None:
    for i, tool in enumerate(tools):
        for j, declaration in enumerate(get_field(tool, "functionDeclarations") or []):
            name = declaration.get("name")
            if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
                raise _bad(
                    "The GenerateContentRequest proto is invalid:\n  * "
                    f"tools[{i}].function_declarations[{j}].name: [FIELD_INVALID] Invalid "
                    "function name. Must start with a letter or an underscore. Must be a-z, "
                    "A-Z, 0-9, or contain underscores (_), dots (.), colons (:), or dashes (-), "
                    "with a maximum length of 64."
                )


def _parts_of(content: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    found = [get_field(part, kind) for part in content.get("parts") or []]
    return [value for value in found if value is not None]


def _check_turns(contents: Sequence[Mapping[str, Any]]) -> None:
    previous: Mapping[str, Any] | None = None
    for content in contents:
        role = content.get("role") or "user"
        calls = _parts_of(content, "functionCall")
        responses = _parts_of(content, "functionResponse")
        previous_role = (previous.get("role") or "user") if previous is not None else None
        if role == previous_role:
            raise _bad("Please ensure that multiturn requests alternate between user and model.")
        if calls and previous is None:
            raise _bad(
                "Please ensure that function call turn comes immediately after a user turn or "
                "after a function response turn."
            )
        expected = _parts_of(previous, "functionCall") if previous is not None else []
        if responses and not expected:
            raise _bad(
                "Please ensure that function response turn comes immediately after a function "
                "call turn."
            )
        if role == "user" and expected and len(responses) != len(expected):
            raise _bad(
                "Please ensure that the number of function response parts is equal to the number "
                "of function call parts of the function call turn."
            )
        if responses and sorted(r.get("name", "") for r in responses) != sorted(
            c.get("name", "") for c in expected
        ):
            raise _bad(default_message("INVALID_ARGUMENT"))
        previous = content


def _current_turn_start(contents: Sequence[Mapping[str, Any]]) -> int:
    for index in range(len(contents) - 1, -1, -1):
        content = contents[index]
        parts = content.get("parts") or []
        if (content.get("role") or "user") == "user" and any(
            get_field(part, "functionResponse") is None for part in parts
        ):
            return index + 1
    return 0


def _check_signatures(contents: Sequence[Mapping[str, Any]], signatures: Collection[bytes]) -> None:
    for index in range(_current_turn_start(contents), len(contents)):
        content = contents[index]
        if content.get("role") != "model":
            continue
        first = next(
            (part for part in content.get("parts") or [] if get_field(part, "functionCall")), None
        )
        if first is None:
            continue
        signature = get_field(first, "thoughtSignature")
        if signature is None:
            name = get_field(first, "functionCall").get("name")
            raise _bad(
                "Function call is missing a thought_signature in functionCall parts. This is "
                "required for tools to work correctly, and missing thought_signature may lead to "
                f"degraded model performance. Additional data, function call `default_api:{name}` "
                f", position {index + 1}. Please refer to {_SIGNATURE_DOCS} for more details."
            )
        decoded = parse_signature(signature)
        if decoded not in signatures and decoded not in _BYPASS_BYTES:
            raise _bad("Unable to submit request because Thought signature is not valid.")
