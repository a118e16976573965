"""Validation of inbound OpenAI-style requests: fast, hand-written, naming the bad field.

This runs on every request, so it checks only what would otherwise reach a provider as
nonsense; every other field passes through untouched.
"""

from __future__ import annotations

from typing import Any

import orjson

from omniroute.errors import BadRequest

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object."""
    if not raw:
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("'model' is required and must be a non-empty string", param="model")
    return model.strip()


def _number(body: dict[str, Any], name: str, low: float, high: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"'{name}' must be a number between {low:g} and {high:g}", param=name)


def _positive_int(body: dict[str, Any], name: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"'{name}' must be a positive integer", param=name)


def validate_chat(body: dict[str, Any]) -> str:
    """Check a chat completions request; returns the model string."""
    model = _model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array of messages", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadRequest(f"'messages[{i}]' must be an object", param=f"messages[{i}]")
        role = message.get("role")
        if role not in _ROLES:
            raise BadRequest(
                f"'messages[{i}].role' must be one of {', '.join(sorted(_ROLES))}",
                param=f"messages[{i}].role",
            )
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("'stream' must be a boolean", param="stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise BadRequest("'stream_options' must be an object", param="stream_options")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    _positive_int(body, "n")
    _positive_int(body, "max_tokens")
    _positive_int(body, "max_completion_tokens")
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise BadRequest("'tools' must be an array", param="tools")
    return model


def validate_embeddings(body: dict[str, Any]) -> str:
    """Check an embeddings request; returns the model string."""
    model = _model(body)
    value = body.get("input")
    if isinstance(value, str):
        ok = True
    elif isinstance(value, list) and value:
        ok = all(isinstance(v, (str | int, list)) for v in value)
    else:
        ok = False
    if not ok:
        raise BadRequest(
            "'input' must be a string, an array of strings, or an array of token arrays",
            param="input",
        )
    return model


def validate_images(body: dict[str, Any]) -> str:
    """Check an image generation request; returns the model string."""
    model = _model(body)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest("'prompt' is required and must be a non-empty string", param="prompt")
    _positive_int(body, "n")
    return model


def validate_messages(body: dict[str, Any]) -> str:
    """Check an Anthropic Messages request; returns the model string."""
    model = _model(body)
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise BadRequest("max_tokens: a positive integer is required", param="max_tokens")
    return _anthropic_messages(body, model)


def validate_count_tokens(body: dict[str, Any]) -> str:
    """Check an Anthropic token-count request (a Messages body without ``max_tokens``)."""
    return _anthropic_messages(body, _model(body))


def _anthropic_messages(body: dict[str, Any], model: str) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: a non-empty array of messages is required", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise BadRequest(
                f"messages.{i}.role: must be 'user' or 'assistant'", param=f"messages.{i}.role"
            )
        if not isinstance(message.get("content"), str | list):
            raise BadRequest(
                f"messages.{i}.content: a string or an array of content blocks is required",
                param=f"messages.{i}.content",
            )
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        raise BadRequest("system: a string or an array of text blocks is required", param="system")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("stream: must be a boolean", param="stream")
    _number(body, "temperature", 0, 1)
    _number(body, "top_p", 0, 1)
    return model


def validate_responses(body: dict[str, Any]) -> str:
    """Check an OpenAI Responses request; returns the model string."""
    model = _model(body)
    value = body.get("input")
    if not (isinstance(value, str) and value) and not (isinstance(value, list) and value):
        raise BadRequest("'input' must be a non-empty string or array of items", param="input")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest("'stream' must be a boolean", param="stream")
    _positive_int(body, "max_output_tokens")
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    return model


def validate_gemini(body: dict[str, Any]) -> None:
    """Check a Gemini ``generateContent`` body (the model is in the URL)."""
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("contents: a non-empty array of contents is required", param="contents")
    for i, content in enumerate(contents):
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise BadRequest(
                f"contents[{i}].parts: an array of parts is required", param=f"contents[{i}]"
            )
