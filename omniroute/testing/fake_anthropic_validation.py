"""Request validation for :mod:`omniroute.testing.fake_anthropic`, with the real API's errors.

Every check raises :class:`AnthropicApiError`, whose body is the Anthropic envelope
``{"type": "error", "error": {"type", "message"}, "request_id"}``. Messages name the offending
field the way the real API does (``messages.1.content.0.tool_use.input: ...``); where a real
wording is known it is used verbatim (tool_use/tool_result pairing, thinking signatures,
``temperature`` with thinking, extra inputs, empty content).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omniroute.testing.fake_openai_sse import random_id

__all__ = [
    "BLOCK_TYPES",
    "COUNT_TOKENS_FIELDS",
    "ERROR_TYPES",
    "MESSAGES_FIELDS",
    "AnthropicApiError",
    "ThinkingConfig",
    "default_error_message",
    "default_error_type",
    "error_body",
    "new_request_id",
    "thinking_config",
    "validate_count_tokens",
    "validate_messages_request",
]

ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""The ``error.type`` the real API uses for each HTTP status (wire-formats.md §3.5)."""

_DEFAULT_MESSAGES: Mapping[str, str] = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not Found",
    "conflict_error": "Conflict",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "This request would exceed the rate limit for your organization. "
    "Please try again later.",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}

_COMMON_FIELDS = frozenset(
    {
        "model",
        "messages",
        "system",
        "tools",
        "tool_choice",
        "thinking",
        "cache_control",
        "context_management",
        "mcp_servers",
        "output_config",
        "output_format",
        "speed",
    }
)
MESSAGES_FIELDS: frozenset[str] = _COMMON_FIELDS | {
    "max_tokens",
    "stream",
    "metadata",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "service_tier",
    "container",
    "diagnostics",
    "inference_geo",
}
"""Top-level fields ``POST /v1/messages`` accepts; anything else is an extra input (400)."""

COUNT_TOKENS_FIELDS: frozenset[str] = _COMMON_FIELDS
"""Top-level fields ``POST /v1/messages/count_tokens`` accepts (no ``max_tokens``/``stream``)."""

BLOCK_TYPES: tuple[str, ...] = (
    "text",
    "image",
    "document",
    "search_result",
    "thinking",
    "redacted_thinking",
    "tool_use",
    "tool_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "container_upload",
)
"""Content block types accepted inside ``messages[].content``."""

_ASSISTANT_ONLY = frozenset({"thinking", "redacted_thinking", "tool_use", "server_tool_use"})
_USER_ONLY = frozenset({"tool_result", "image", "document"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
_THINKING_DOCS = "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"


def new_request_id() -> str:
    """A fresh ``req_011C...`` id, as in ``request-id`` headers and error bodies."""
    return random_id("req_011C", 20)


def default_error_type(status: int) -> str:
    """The ``error.type`` for ``status`` (``api_error`` for unknown 5xx)."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def default_error_message(error_type: str) -> str:
    """A realistic message for ``error_type`` (``"Overloaded"`` for ``overloaded_error``)."""
    return _DEFAULT_MESSAGES.get(error_type, "Error")


def error_body(error_type: str, message: str, request_id: str | None = None) -> dict[str, Any]:
    """Build ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id or new_request_id(),
    }


class AnthropicApiError(Exception):
    """An Anthropic-style error response; :attr:`body` is the JSON envelope to send."""

    def __init__(self, status: int, message: str, *, type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type or default_error_type(status)
        self.request_id = new_request_id()
        self.body = error_body(self.type, message, self.request_id)


def _bad(message: str) -> AnthropicApiError:
    return AnthropicApiError(400, message)


@dataclass(frozen=True)
class ThinkingConfig:
    """The request's ``thinking`` setting, once validated."""

    enabled: bool
    budget_tokens: int | None = None
    omitted: bool = False


def thinking_config(body: Mapping[str, Any]) -> ThinkingConfig:
    """Read ``body["thinking"]`` (assumed valid); ``adaptive`` counts as enabled."""
    thinking = body.get("thinking")
    if not isinstance(thinking, Mapping) or thinking.get("type") not in ("enabled", "adaptive"):
        return ThinkingConfig(enabled=False)
    budget = thinking.get("budget_tokens")
    return ThinkingConfig(
        enabled=True,
        budget_tokens=budget if _is_int(budget) else None,
        omitted=thinking.get("display") == "omitted",
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _tags(names: Sequence[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _tag_error(path: str, value: Any, expected: Sequence[str]) -> AnthropicApiError:
    if value is None:
        return _bad(f"{path}: Unable to extract tag using discriminator 'type'")
    return _bad(
        f"{path}: Input tag '{value}' found using 'type' does not match any of the expected "
        f"tags: {_tags(expected)}"
    )


def _require(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj:
        raise _bad(f"{path}.{key}: Field required" if path else f"{key}: Field required")
    return obj[key]


def _require_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = _require(obj, key, path)
    if not isinstance(value, str):
        raise _bad(f"{path}.{key}: Input should be a valid string")
    return value


def _require_object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{path}: Input should be a valid dictionary")
    return value


def validate_messages_request(body: Mapping[str, Any], signatures: Mapping[str, str]) -> None:
    """Reject a ``POST /v1/messages`` body the real API would answer with 400.

    ``signatures`` maps every thinking signature the fake issued to the thinking text it
    signed; a ``thinking`` block in the history must carry one of them, unchanged.
    """
    _reject_extra_fields(body, MESSAGES_FIELDS)
    _validate_model(body)
    max_tokens = _require(body, "max_tokens", "")
    if not _is_int(max_tokens):
        raise _bad("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _bad("max_tokens: Input should be greater than or equal to 1")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("stream: Input should be a valid boolean")
    _validate_stop_sequences(body.get("stop_sequences"))
    if "metadata" in body:
        _require_object(body["metadata"], "metadata")
    _validate_common(body, max_tokens, signatures)
    _validate_sampling(body)


def validate_count_tokens(body: Mapping[str, Any], signatures: Mapping[str, str]) -> None:
    """Reject a ``POST /v1/messages/count_tokens`` body the real API would answer with 400."""
    _reject_extra_fields(body, COUNT_TOKENS_FIELDS)
    _validate_model(body)
    _validate_common(body, None, signatures)


def _reject_extra_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key not in allowed:
            raise _bad(f"{key}: Extra inputs are not permitted")


def _validate_model(body: Mapping[str, Any]) -> None:
    model = _require(body, "model", "")
    if not isinstance(model, str) or not model:
        raise _bad("model: Input should be a valid string")


def _validate_common(
    body: Mapping[str, Any], max_tokens: int | None, signatures: Mapping[str, str]
) -> None:
    messages = _require(body, "messages", "")
    if not isinstance(messages, list):
        raise _bad("messages: Input should be a valid list")
    if not messages:
        raise _bad("messages: at least one message is required")
    _validate_system(body.get("system"))
    thinking = _validate_thinking(body.get("thinking"), max_tokens)
    tool_names = _validate_tools(body.get("tools"))
    _validate_tool_choice(body.get("tool_choice"), tool_names, thinking)
    _validate_messages(messages, signatures, thinking)


def _validate_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _bad("system: Input should be a valid string or a list of text blocks")
    for i, block in enumerate(system):
        block = _require_object(block, f"system.{i}")
        if block.get("type") != "text":
            raise _tag_error(f"system.{i}", block.get("type"), ("text",))
        _require_str(block, "text", f"system.{i}.text")


def _validate_stop_sequences(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _bad("stop_sequences: Input should be a valid list of strings")


def _validate_thinking(thinking: Any, max_tokens: int | None) -> bool:
    if thinking is None:
        return False
    thinking = _require_object(thinking, "thinking")
    kind = thinking.get("type")
    if kind not in ("enabled", "disabled", "adaptive"):
        raise _tag_error("thinking", kind, ("enabled", "disabled", "adaptive"))
    if kind != "enabled":
        return kind == "adaptive"
    budget = _require(thinking, "budget_tokens", "thinking.enabled")
    if not _is_int(budget):
        raise _bad("thinking.enabled.budget_tokens: Input should be a valid integer")
    if budget < 1024:
        raise _bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if max_tokens is not None and budget >= max_tokens:
        raise _bad(
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our "
            f"documentation at {_THINKING_DOCS}#max-tokens-and-context-window-size"
        )
    return True


def _validate_sampling(body: Mapping[str, Any]) -> None:
    for name, top in (("temperature", 1), ("top_p", 1)):
        value = body.get(name)
        if value is None:
            continue
        if not _is_number(value):
            raise _bad(f"{name}: Input should be a valid number")
        if not 0 <= value <= top:
            bound = "less than or equal to 1" if value > top else "greater than or equal to 0"
            raise _bad(f"{name}: Input should be {bound}")
    top_k = body.get("top_k")
    if top_k is not None and (not _is_int(top_k) or top_k < 0):
        raise _bad("top_k: Input should be a valid integer greater than or equal to 0")
    if thinking_config(body).enabled and body.get("temperature", 1) != 1:
        raise _bad(
            "`temperature` may only be set to 1 when thinking is enabled. Please consult our "
            f"documentation at {_THINKING_DOCS}"
            "#important-considerations-when-using-extended-thinking"
        )


def _validate_tools(tools: Any) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _bad("tools: Input should be a valid list")
    names: list[str] = []
    for i, tool in enumerate(tools):
        tool = _require_object(tool, f"tools.{i}")
        kind = tool.get("type")
        if kind not in (None, "custom"):
            if not isinstance(kind, str):
                raise _tag_error(f"tools.{i}", kind, ("custom",))
            names.append(_require_str(tool, "name", f"tools.{i}.{kind}"))
            continue
        path = f"tools.{i}.custom"
        name = _require_str(tool, "name", path)
        if not _TOOL_NAME.match(name):
            raise _bad(f"{path}.name: String should match pattern '{_TOOL_NAME.pattern}'")
        schema = _require_object(_require(tool, "input_schema", path), f"{path}.input_schema")
        if "type" not in schema:
            raise _bad(f"{path}.input_schema.type: Field required")
        if schema["type"] != "object":
            raise _bad(f"{path}.input_schema.type: Input should be 'object'")
        names.append(name)
    if len(set(names)) != len(names):
        raise _bad("tools: Tool names must be unique.")
    return names


def _validate_tool_choice(choice: Any, tool_names: list[str], thinking: bool) -> None:
    if choice is None:
        return
    choice = _require_object(choice, "tool_choice")
    kind = choice.get("type")
    if kind not in ("auto", "any", "tool", "none"):
        raise _tag_error("tool_choice", kind, ("auto", "any", "tool", "none"))
    flag = choice.get("disable_parallel_tool_use")
    if flag is not None and not isinstance(flag, bool):
        raise _bad(f"tool_choice.{kind}.disable_parallel_tool_use: Input should be a valid boolean")
    if kind == "tool":
        name = _require_str(choice, "name", "tool_choice.tool")
        if name not in tool_names:
            raise _bad(f"tool_choice.tool.name: Tool '{name}' not found in `tools`")
    if thinking and kind in ("any", "tool"):
        raise _bad("Thinking may not be enabled when tool_choice forces tool use.")


def _validate_messages(messages: list[Any], signatures: Mapping[str, str], thinking: bool) -> None:
    blocks_per_message: list[list[Mapping[str, Any]]] = []
    for i, message in enumerate(messages):
        message = _require_object(message, f"messages.{i}")
        role = _require(message, "role", f"messages.{i}")
        if role not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        for key in message:
            if key not in ("role", "content"):
                raise _bad(f"messages.{i}.{key}: Extra inputs are not permitted")
        content = _require(message, "content", f"messages.{i}")
        final_assistant = role == "assistant" and i == len(messages) - 1
        blocks = _content_blocks(content, f"messages.{i}.content")
        if not blocks and not final_assistant:
            raise _bad(
                f"messages.{i}: all messages must have non-empty content except for the "
                "optional final assistant message"
            )
        for j, block in enumerate(blocks):
            _validate_block(block, f"messages.{i}.content.{j}", role, signatures)
        blocks_per_message.append(blocks)
    if messages[0]["role"] != "user":
        raise _bad('messages: first message must use the "user" role')
    last = blocks_per_message[-1]
    final_text = last[-1].get("text") if last and last[-1].get("type") == "text" else None
    if messages[-1]["role"] == "assistant" and final_text and final_text.rstrip() != final_text:
        raise _bad("messages: final assistant content cannot end with trailing whitespace")
    _validate_tool_pairing(messages, blocks_per_message)
    if thinking:
        _validate_thinking_first(messages, blocks_per_message)


def _content_blocks(content: Any, path: str) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _bad(f"{path}: Input should be a valid string or a list of content blocks")
    blocks = []
    for j, block in enumerate(content):
        blocks.append(_require_object(block, f"{path}.{j}"))
    return blocks


def _validate_block(
    block: Mapping[str, Any], path: str, role: str, signatures: Mapping[str, str]
) -> None:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        raise _tag_error(path, kind, BLOCK_TYPES)
    if role == "user" and kind in _ASSISTANT_ONLY:
        raise _bad(f"{path}.type: `{kind}` blocks are only allowed in `assistant` messages")
    if role == "assistant" and kind in _USER_ONLY:
        raise _bad(f"{path}.type: `{kind}` blocks are only allowed in `user` messages")
    where = f"{path}.{kind}"
    if kind == "text":
        _validate_text(block, where)
    elif kind in ("image", "document"):
        _validate_source(block, where, kind)
    elif kind == "tool_use":
        _require_str(block, "id", where)
        _require_str(block, "name", where)
        _require_object(_require(block, "input", where), f"{where}.input")
    elif kind == "tool_result":
        _validate_tool_result(block, where, role, signatures)
    elif kind == "thinking":
        thinking = _require_str(block, "thinking", where)
        signature = _require_str(block, "signature", where)
        if signatures.get(signature) != thinking:
            raise _bad(f"{path}: Invalid `signature` in `thinking` block")
    elif kind == "redacted_thinking":
        _require_str(block, "data", where)


def _validate_text(block: Mapping[str, Any], where: str) -> None:
    text = _require_str(block, "text", where)
    if not text:
        raise _bad("messages: text content blocks must be non-empty")
    if not text.strip():
        raise _bad("messages: text content blocks must contain non-whitespace text")


def _validate_source(block: Mapping[str, Any], where: str, kind: str) -> None:
    source = _require_object(_require(block, "source", where), f"{where}.source")
    expected = (
        ("base64", "url", "file")
        if kind == "image"
        else ("base64", "text", "url", "content", "file")
    )
    source_type = source.get("type")
    if source_type not in expected:
        raise _tag_error(f"{where}.source", source_type, expected)
    path = f"{where}.source.{source_type}"
    if source_type == "base64":
        media_type = _require_str(source, "media_type", path)
        _require_str(source, "data", path)
        if kind == "image" and media_type not in _IMAGE_TYPES:
            listed = ", ".join(f"'{t}'" for t in _IMAGE_TYPES[:-1]) + f" or '{_IMAGE_TYPES[-1]}'"
            raise _bad(f"{path}.media_type: Input should be {listed}")
    elif source_type == "url":
        _require_str(source, "url", path)
    elif source_type == "file":
        _require_str(source, "file_id", path)
    elif source_type == "text":
        _require_str(source, "data", path)


def _validate_tool_result(
    block: Mapping[str, Any], where: str, role: str, signatures: Mapping[str, str]
) -> None:
    _require_str(block, "tool_use_id", where)
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise _bad(f"{where}.is_error: Input should be a valid boolean")
    content = block.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _bad(f"{where}.content: Input should be a valid string or a list of content blocks")
    allowed = ("text", "image", "document", "search_result")
    for k, part in enumerate(content):
        part = _require_object(part, f"{where}.content.{k}")
        if part.get("type") not in allowed:
            raise _tag_error(f"{where}.content.{k}", part.get("type"), allowed)
        _validate_block(part, f"{where}.content.{k}", role, signatures)


def _ids(blocks: list[Mapping[str, Any]], kind: str, key: str) -> list[tuple[int, str]]:
    return [(j, b[key]) for j, b in enumerate(blocks) if b.get("type") == kind]


def _validate_tool_pairing(
    messages: list[Mapping[str, Any]], blocks_per_message: list[list[Mapping[str, Any]]]
) -> None:
    for i, blocks in enumerate(blocks_per_message):
        previous: list[str] = []
        if i and messages[i - 1]["role"] == "assistant":
            previous = [tid for _, tid in _ids(blocks_per_message[i - 1], "tool_use", "id")]
        if messages[i]["role"] == "user":
            for j, tool_use_id in _ids(blocks, "tool_result", "tool_use_id"):
                if tool_use_id not in previous:
                    raise _bad(
                        f"messages.{i}.content.{j}: unexpected `tool_use_id` found in "
                        f"`tool_result` blocks: {tool_use_id}. Each `tool_result` block must "
                        "have a corresponding `tool_use` block in the previous message."
                    )
        if messages[i]["role"] != "assistant" or i + 1 >= len(messages):
            continue
        answered: set[str] = set()
        if messages[i + 1]["role"] == "user":
            answered = {
                tid for _, tid in _ids(blocks_per_message[i + 1], "tool_result", "tool_use_id")
            }
        missing = [tid for _, tid in _ids(blocks, "tool_use", "id") if tid not in answered]
        if missing:
            raise _bad(
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )


def _validate_thinking_first(
    messages: list[Mapping[str, Any]], blocks_per_message: list[list[Mapping[str, Any]]]
) -> None:
    last = len(messages) - 1
    if last < 1 or messages[last]["role"] != "user" or messages[last - 1]["role"] != "assistant":
        return
    if not _ids(blocks_per_message[last], "tool_result", "tool_use_id"):
        return
    blocks = blocks_per_message[last - 1]
    first = blocks[0].get("type") if blocks else "text"
    if first not in ("thinking", "redacted_thinking"):
        raise _bad(
            f"messages.{last - 1}.content.0.type: Expected `thinking` or `redacted_thinking`, "
            f"but found `{first}`. When `thinking` is enabled, a final `assistant` message must "
            "start with a thinking block (preceeding the lastmost set of `tool_use` and "
            "`tool_result` blocks). We recommend you include thinking blocks from previous "
            "turns. To avoid this requirement, disable `thinking`. Please consult our "
            f"documentation at {_THINKING_DOCS}"
        )
