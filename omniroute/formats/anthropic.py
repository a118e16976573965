"""Anthropic Messages (``POST /v1/messages``) as a wire format (default plugin).

Translation choices, beyond the one-to-one mappings:

* Fields, blocks and tools the IR cannot hold are kept in ``extras`` and restored when the IR is
  rendered back to Anthropic: unknown top-level fields in ``Request.extras["anthropic"]``,
  unknown content blocks (documents, server tool results, ...) with their position in
  ``extras["anthropic_unknown"]`` of their message, tool result or response, server tools in
  ``Request.extras["anthropic_tools"]``. Other formats drop them (logged when parsed).
* Part extras hold Anthropic's own keys (``cache_control``, ``citations``); only keys Anthropic
  accepts on that block are rendered, so another format's extras never reach the API.
* Rendering a request makes it valid for the real API: ``max_tokens`` defaults to 4096 (and
  exceeds the thinking budget); consecutive same-role turns merge, with tool results first in
  their user turn; unsigned thinking (from other providers) is dropped; thinking is left off
  when it cannot be used (forced tool choice, or a tool loop whose assistant turn has no
  signed thinking); ``temperature`` (clamped to 0..1), ``top_k`` and a low ``top_p`` are left
  off with thinking, and ``top_p`` is left off when ``temperature`` is set (newer models take
  only one); whitespace-only stop sequences are dropped; tool ids are made to match
  ``^[a-zA-Z0-9_-]+$``; ``strict`` on tools is not sent.
* ``response_format`` has no equivalent on every model, so it becomes an instruction appended
  to the system prompt. ``output_config.format`` (JSON schema) is read as a response format.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from omniroute.errors import BadRequest, GatewayError
from omniroute.formats import ir
from omniroute.formats.anthropic_stream import (
    STOP_FROM_ANTHROPIC,
    STOP_TO_ANTHROPIC,
    AnthropicStreamDecoder,
    AnthropicStreamEncoder,
    error_event,
    error_type,
    new_id,
    usage_from_wire,
    usage_to_wire,
)
from omniroute.formats.base import Format, joined_text, with_part
from omniroute.hookspecs import hookimpl

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 4096
MIN_THINKING_BUDGET = 1024

# fmt: off
_REQUEST_FIELDS = frozenset({
    "model", "messages", "system", "tools", "tool_choice", "thinking", "max_tokens",
    "temperature", "top_p", "top_k", "stop_sequences", "stream", "metadata",
})
_RESPONSE_FIELDS = frozenset({
    "id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage",
})
_USAGE_FIELDS = frozenset({
    "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
    "output_tokens_details",
})

# The keys each block type maps to IR fields (the rest travel in the part's extras) ...
_OWN_KEYS = {
    "text": ("type", "text"), "image": ("type", "source"),
    "tool_use": ("type", "id", "name", "input"),
    "tool_result": ("type", "tool_use_id", "content", "is_error"),
    "thinking": ("type", "thinking", "signature"), "redacted_thinking": ("type", "data"),
}
# ... and the extras Anthropic accepts back on each (the API rejects unknown keys).
_EXTRA_KEYS: dict[str, tuple[str, ...]] = {
    "text": ("cache_control", "citations"), "image": ("cache_control",),
    "tool_use": ("cache_control", "caller"), "tool_result": ("cache_control",),
    "thinking": (), "redacted_thinking": (),
    "tool": ("type", "cache_control", "allowed_callers", "defer_loading",
             "eager_input_streaming", "input_examples"),
}
# fmt: on
_TOOL_OWN_KEYS = ("name", "description", "input_schema", "strict")
_TOOL_ID_INVALID = re.compile(r"[^a-zA-Z0-9_-]")


class AnthropicFormat(Format):
    """``POST /v1/messages``: errors are ``{"type": "error", "error": {type, message}}``."""

    id = "anthropic"
    name = "Anthropic Messages"
    translates = True
    # Betas change what the body may contain; a same-format hop must keep them.
    forwarded_headers = ("anthropic-beta",)

    def error_object(self, err: GatewayError) -> dict[str, str]:
        """The inner error object, shared by plain answers and stream events."""
        return {"type": error_type(err.kind, err.status, err.type), "message": err.message}

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps({"type": "error", "error": self.error_object(err)})

    def stream_error_event(self, err: GatewayError) -> bytes:
        # The SDKs raise an APIStatusError on ``event: error``.
        error = self.error_object(err)
        return error_event(error["type"], error["message"])

    def parse_request(self, body: dict[str, Any]) -> ir.Request:
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise BadRequest("messages: an array of messages is required", param="messages")
        request = ir.Request(model=str(body.get("model") or ""))
        request.system = _parse_system(body.get("system"))
        request.messages = [_parse_message(message, i) for i, message in enumerate(messages)]
        _parse_tools(body.get("tools"), request)
        _parse_tool_choice(body.get("tool_choice"), request)
        extras = {k: v for k, v in body.items() if k not in _REQUEST_FIELDS}
        _parse_thinking(body.get("thinking"), request, extras)
        _parse_output_config(request, extras)
        request.max_tokens = body.get("max_tokens")
        request.temperature = body.get("temperature")
        request.top_p = body.get("top_p")
        request.top_k = body.get("top_k")
        request.stop = [str(s) for s in body.get("stop_sequences") or ()]
        request.stream = body.get("stream") is True
        metadata = body.get("metadata")
        if isinstance(metadata, dict):
            request.user = metadata.get("user_id")
            rest = {k: v for k, v in metadata.items() if k != "user_id"}
            if rest:
                extras["metadata"] = rest
        if extras:
            request.extras["anthropic"] = extras
        return request

    def render_request(self, request: ir.Request) -> dict[str, Any]:
        own = request.extras.get("anthropic") or {}
        messages = _render_messages(request.messages)
        thinking = _render_thinking(request, messages, own.get("thinking"))
        thinking_on = thinking is not None and thinking.get("type") != "disabled"
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        budget = (thinking or {}).get("budget_tokens")
        if isinstance(budget, int) and max_tokens <= budget:
            max_tokens = budget + DEFAULT_MAX_TOKENS
        body: dict[str, Any] = {"model": request.model, "max_tokens": max_tokens}
        system = _render_system(request.system, request.response_format)
        if system:
            body["system"] = system
        body["messages"] = messages
        tools = _render_tools(request)
        if tools:
            body["tools"] = tools
            choice = _render_tool_choice(request.tool_choice, request.parallel_tool_calls)
            if choice is not None:
                body["tool_choice"] = choice
        if thinking is not None:
            body["thinking"] = thinking
        _render_sampling(request, body, thinking_on)
        stop = [s for s in request.stop if s.strip()]
        if len(stop) < len(request.stop):
            logger.warning(
                "anthropic: dropping whitespace-only stop sequences (the API rejects them)"
            )
        if stop:
            body["stop_sequences"] = stop
        if request.stream:
            body["stream"] = True
        metadata = dict(own.get("metadata") or {})
        if request.user:
            metadata["user_id"] = request.user
        if metadata:
            body["metadata"] = metadata
        for key, value in own.items():
            body.setdefault(key, value)
        return body

    def parse_response(self, body: dict[str, Any]) -> ir.Response:
        parts, unknown = _parse_blocks(body.get("content") or [], "content")
        raw_stop = body.get("stop_reason")
        response = ir.Response(
            id=str(body.get("id") or ""),
            model=str(body.get("model") or ""),
            parts=parts,
            stop_reason=STOP_FROM_ANTHROPIC.get(raw_stop or "end_turn", "end_turn"),
            stop_sequence=body.get("stop_sequence"),
            usage=usage_from_wire(body.get("usage") or {}),
        )
        if unknown:
            response.extras["anthropic_unknown"] = unknown
        if raw_stop and STOP_TO_ANTHROPIC.get(response.stop_reason) != raw_stop:
            response.extras["anthropic_stop_reason"] = raw_stop
        extra_usage = {k: v for k, v in (body.get("usage") or {}).items() if k not in _USAGE_FIELDS}
        if extra_usage:
            response.extras["anthropic_usage"] = extra_usage
        rest = {k: v for k, v in body.items() if k not in _RESPONSE_FIELDS}
        if rest:
            response.extras["anthropic"] = rest
        return response

    def render_response(
        self, response: ir.Response, client_request: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        content = []
        for part in response.parts:
            block = _render_response_part(part)
            if block is not None:
                content.append(block)
        usage = usage_to_wire(response.usage)
        for key, value in (response.extras.get("anthropic_usage") or {}).items():
            usage.setdefault(key, value)
        body: dict[str, Any] = {
            "id": response.id or new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": response.model,
            "content": _restore(content, response.extras.get("anthropic_unknown")),
            "stop_reason": response.extras.get("anthropic_stop_reason")
            or STOP_TO_ANTHROPIC.get(response.stop_reason, "end_turn"),
            "stop_sequence": response.stop_sequence,
            "usage": usage,
        }
        for key, value in (response.extras.get("anthropic") or {}).items():
            body.setdefault(key, value)
        return body

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder()

    def stream_encoder(
        self, model: str, client_request: dict[str, Any] | None = None
    ) -> AnthropicStreamEncoder:
        # Nothing in an Anthropic request changes how its stream is written.
        return AnthropicStreamEncoder(model)

    def with_system_prompt(self, body: dict[str, Any], text: str, position: str) -> dict[str, Any]:
        """Joined to ``system``, a string or a list of text blocks."""
        system = body.get("system")
        if isinstance(system, list):
            return {**body, "system": with_part(system, {"type": "text", "text": text}, position)}
        existing = system if isinstance(system, str) else ""
        return {**body, "system": joined_text(existing, text, position)}

    def with_default_thinking(self, body: dict[str, Any], budget: int) -> dict[str, Any]:
        """``thinking`` enabled with ``budget`` (kept under ``max_tokens``), unless the client
        set ``thinking``. Anthropic refuses thinking with a forced tool or a temperature other
        than 1, and a budget under 1024: such requests are left as they are."""
        if body.get("thinking") is not None:
            return body
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int):
            budget = min(budget, max_tokens - 1)
        choice = body.get("tool_choice")
        forced = isinstance(choice, dict) and choice.get("type") in ("any", "tool")
        temperature = body.get("temperature")
        if budget < MIN_THINKING_BUDGET or forced or temperature not in (None, 1):
            return body
        return {**body, "thinking": {"type": "enabled", "budget_tokens": budget}}


@hookimpl
def register_formats(register: Callable[[Format], None]) -> None:
    """Register the Anthropic Messages format."""
    register(AnthropicFormat())


# -- parsing ------------------------------------------------------------------------------------


def _rest(block: dict[str, Any], own: Iterable[str]) -> dict[str, Any]:
    """A block's keys the IR has no field for (``None`` values carry nothing and are dropped:
    SDKs' ``model_dump()`` fills every optional field with one)."""
    return {k: v for k, v in block.items() if k not in own and v is not None}


def _parse_system(system: Any) -> list[ir.TextPart]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [ir.TextPart(system)]
    if not isinstance(system, list):
        raise BadRequest("system: a string or an array of text blocks is required", param="system")
    parts = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise BadRequest(f"system.{i}: only text blocks are allowed", param="system")
        parts.append(ir.TextPart(str(block.get("text") or ""), _rest(block, _OWN_KEYS["text"])))
    return parts


def _parse_message(message: Any, i: int) -> ir.Message:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        raise BadRequest(f"messages.{i}.role: must be 'user' or 'assistant'", param="messages")
    content = message.get("content")
    result = ir.Message(role=message["role"])
    if isinstance(content, str):
        result.parts = [ir.TextPart(content)]
    elif isinstance(content, list):
        result.parts, unknown = _parse_blocks(content, f"messages.{i}.content")
        if unknown:
            result.extras["anthropic_unknown"] = unknown
    else:
        raise BadRequest(
            f"messages.{i}.content: a string or an array is required", param="messages"
        )
    return result


def _parse_blocks(blocks: list[Any], where: str) -> tuple[list[ir.Part], list[list[Any]]]:
    """Content blocks → IR parts, and the blocks the IR cannot hold as ``[position, block]``."""
    parts: list[ir.Part] = []
    unknown: list[list[Any]] = []
    for pos, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise BadRequest(f"{where}.{pos}: a content block must be an object", param="messages")
        part = _parse_block(block, f"{where}.{pos}")
        if part is None:
            logger.warning(
                "anthropic: %s: %r block has no IR equivalent; only Anthropic keeps it",
                where,
                block.get("type"),
            )
            unknown.append([pos, block])
        else:
            parts.append(part)
    return parts, unknown


def _parse_block(block: dict[str, Any], where: str) -> ir.Part | None:
    kind = block.get("type")
    if kind not in _OWN_KEYS:
        return None
    rest = _rest(block, _OWN_KEYS[kind])
    if kind == "text":
        return ir.TextPart(str(block.get("text") or ""), rest)
    if kind == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            return ir.ImagePart(
                data=source.get("data"), media_type=source.get("media_type"), extras=rest
            )
        if source.get("type") == "url":
            return ir.ImagePart(url=source.get("url"), extras=rest)
        return None
    if kind == "tool_use":
        arguments = block.get("input")
        return ir.ToolCallPart(
            id=str(block.get("id") or ""),
            name=str(block.get("name") or ""),
            arguments="{}" if arguments is None else orjson.dumps(arguments).decode(),
            extras=rest,
        )
    if kind == "tool_result":
        return _parse_tool_result(block, rest, where)
    if kind == "thinking":
        return ir.ThinkingPart(
            text=str(block.get("thinking") or ""), signature=block.get("signature"), extras=rest
        )
    return ir.ThinkingPart(redacted=True, data=block.get("data"), extras=rest)


def _parse_tool_result(block: dict[str, Any], rest: dict[str, Any], where: str) -> ir.Part:
    result = ir.ToolResultPart(
        tool_call_id=str(block.get("tool_use_id") or ""),
        is_error=block.get("is_error") is True,
        extras=rest,
    )
    content = block.get("content")
    if isinstance(content, str):
        result.content = [ir.TextPart(content)] if content else []
    elif isinstance(content, list):
        unknown = []
        for pos, item in enumerate(content):
            part = _parse_block(item, where) if isinstance(item, dict) else None
            if isinstance(part, ir.TextPart | ir.ImagePart):
                result.content.append(part)
            else:
                unknown.append([pos, item])
        if unknown:
            logger.warning("anthropic: %s: tool result blocks only Anthropic keeps", where)
            result.extras["anthropic_unknown"] = unknown
    return result


def _parse_tools(tools: Any, request: ir.Request) -> None:
    if not tools:
        return
    if not isinstance(tools, list):
        raise BadRequest("tools: an array is required", param="tools")
    server_tools = []
    for pos, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise BadRequest(f"tools.{pos}: a tool must be an object", param="tools")
        if tool.get("type") not in (None, "custom"):
            # Server tools (web search, code execution, ...) run at Anthropic.
            server_tools.append([pos, tool])
            continue
        request.tools.append(
            ir.Tool(
                name=str(tool.get("name") or ""),
                description=tool.get("description"),
                parameters=tool.get("input_schema") or {"type": "object"},
                strict=tool.get("strict"),
                extras=_rest(tool, _TOOL_OWN_KEYS),
            )
        )
    if server_tools:
        logger.warning("anthropic: server tools have no IR equivalent; only Anthropic keeps them")
        request.extras["anthropic_tools"] = server_tools


def _parse_tool_choice(choice: Any, request: ir.Request) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "auto":
        request.tool_choice = ir.ToolChoice("auto")
    elif kind == "any":
        request.tool_choice = ir.ToolChoice("required")
    elif kind == "none":
        request.tool_choice = ir.ToolChoice("none")
    elif kind == "tool":
        request.tool_choice = ir.ToolChoice("tool", str(choice.get("name") or ""))
    if "disable_parallel_tool_use" in choice:
        request.parallel_tool_calls = not choice["disable_parallel_tool_use"]


def _parse_thinking(thinking: Any, request: ir.Request, extras: dict[str, Any]) -> None:
    if not isinstance(thinking, dict):
        return
    kind = thinking.get("type")
    if kind == "enabled":
        budget = int(thinking.get("budget_tokens") or MIN_THINKING_BUDGET)
        request.reasoning = ir.Reasoning(effort=ir.effort_for_budget(budget), budget_tokens=budget)
    elif kind == "disabled":
        request.reasoning = ir.Reasoning(enabled=False)
    else:
        # A mode only Anthropic has (``adaptive``, ...): other formats see "reasoning on".
        request.reasoning = ir.Reasoning()
        extras["thinking"] = thinking


def _parse_output_config(request: ir.Request, extras: dict[str, Any]) -> None:
    config = extras.get("output_config")
    if not isinstance(config, dict):
        return
    fmt = config.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        request.response_format = ir.ResponseFormat("json_schema", schema=fmt.get("schema"))
        rest = {k: v for k, v in config.items() if k != "format"}
        if rest:
            extras["output_config"] = rest
        else:
            del extras["output_config"]


# -- rendering ----------------------------------------------------------------------------------


def _pick(extras: dict[str, Any], kind: str) -> dict[str, Any]:
    """The extras Anthropic accepts on a ``kind`` block."""
    if not extras:
        return {}
    return {k: extras[k] for k in _EXTRA_KEYS[kind] if k in extras}


def _restore(items: list[Any], unknown: list[list[Any]] | None) -> list[Any]:
    """Put the ``[position, item]`` pairs kept at parse time back where they were."""
    if not unknown:
        return items
    items = list(items)
    for pos, item in sorted(unknown, key=lambda pair: pair[0]):
        items.insert(min(int(pos), len(items)), item)
    return items


def _content(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A single plain text block is sent as a string, like clients do."""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
        return str(blocks[0]["text"])
    return blocks


def _tool_id(value: str) -> str:
    """A tool call id the API accepts (``^[a-zA-Z0-9_-]+$``); other providers use ``.``, ``:``."""
    return _TOOL_ID_INVALID.sub("_", value)


def _tool_input(arguments: str, name: str) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Anthropic requires."""
    if not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return value
    logger.warning("anthropic: arguments of tool call %r are not a JSON object; sending {}", name)
    return {}


def _render_system(
    system: list[ir.TextPart], response_format: ir.ResponseFormat | None
) -> str | list[dict[str, Any]] | None:
    blocks = [
        {"type": "text", "text": part.text, **_pick(part.extras, "text")}
        for part in system
        if part.text
    ]
    instruction = _format_instruction(response_format)
    if instruction:
        blocks.append({"type": "text", "text": instruction})
    if not blocks:
        return None
    return _content(blocks)


def _format_instruction(response_format: ir.ResponseFormat | None) -> str | None:
    """Structured output as words: Anthropic's own ``output_config.format`` exists only on
    newer models, while an instruction works on all of them."""
    if response_format is None or response_format.type == "text":
        return None
    text = "Respond with a single JSON object only: no prose before or after it, no code fences."
    if response_format.type == "json_schema" and response_format.schema is not None:
        name = f' "{response_format.name}"' if response_format.name else ""
        schema = orjson.dumps(response_format.schema).decode()
        text += f" The object must conform to this JSON Schema{name}:\n{schema}"
    return text


def _render_messages(messages: list[ir.Message]) -> list[dict[str, Any]]:
    """IR turns → Anthropic turns: roles alternate, tool results lead their user turn."""
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for message in messages:
        blocks = [
            block
            for part in message.parts
            if (block := _render_part(part, message.role)) is not None
        ]
        blocks = _restore(blocks, message.extras.get("anthropic_unknown"))
        if not blocks:
            continue
        if turns and turns[-1][0] == message.role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((message.role, blocks))
    rendered = []
    for role, blocks in turns:
        if role == "user":
            results = [b for b in blocks if b.get("type") == "tool_result"]
            if results:
                blocks = results + [b for b in blocks if b.get("type") != "tool_result"]
        rendered.append({"role": role, "content": _content(blocks)})
    return rendered


def _render_part(part: ir.Part, role: str) -> dict[str, Any] | None:
    if isinstance(part, ir.TextPart):
        if not part.text:  # the API rejects empty text blocks
            return None
        return {"type": "text", "text": part.text, **_pick(part.extras, "text")}
    if isinstance(part, ir.ImagePart):
        return _render_image(part)
    if isinstance(part, ir.ToolCallPart):
        return {
            "type": "tool_use",
            "id": _tool_id(part.id),
            "name": part.name,
            "input": _tool_input(part.arguments, part.name),
            **_pick(part.extras, "tool_use"),
        }
    if isinstance(part, ir.ToolResultPart):
        return _render_tool_result(part)
    if role != "assistant":
        return None
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.data} if part.data else None
    if part.signature:
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    logger.info("anthropic: dropping thinking without a signature (the API rejects it)")
    return None


def _render_image(part: ir.ImagePart) -> dict[str, Any] | None:
    source: dict[str, Any]
    if part.data:
        source = {"type": "base64", "media_type": part.media_type or "image/png", "data": part.data}
    elif part.url and part.url.startswith("data:") and ";base64," in part.url:
        header, data = part.url[5:].split(",", 1)
        source = {"type": "base64", "media_type": header.split(";", 1)[0], "data": data}
    elif part.url:
        source = {"type": "url", "url": part.url}
    else:
        return None
    return {"type": "image", "source": source, **_pick(part.extras, "image")}


def _render_tool_result(part: ir.ToolResultPart) -> dict[str, Any]:
    blocks = [block for item in part.content if (block := _render_part(item, "user")) is not None]
    blocks = _restore(blocks, part.extras.get("anthropic_unknown"))
    result: dict[str, Any] = {"type": "tool_result", "tool_use_id": _tool_id(part.tool_call_id)}
    if blocks:
        result["content"] = _content(blocks)
    if part.is_error:
        result["is_error"] = True
    result.update(_pick(part.extras, "tool_result"))
    return result


def _render_thinking(
    request: ir.Request, messages: list[dict[str, Any]], own: Any
) -> dict[str, Any] | None:
    if isinstance(own, dict):
        return own
    reasoning = request.reasoning
    if reasoning is None:
        return None
    if not reasoning.enabled:
        return {"type": "disabled"}
    choice = request.tool_choice
    if choice is not None and choice.mode in ("required", "tool"):
        logger.warning("anthropic: thinking left off: the API forbids it with a forced tool choice")
        return None
    if _tool_loop_without_thinking(messages):
        logger.warning(
            "anthropic: thinking left off: the assistant turn of the current tool loop has no "
            "signed thinking block, which the API requires with thinking on"
        )
        return None
    return {"type": "enabled", "budget_tokens": max(MIN_THINKING_BUDGET, ir.budget_for(reasoning))}


def _tool_loop_without_thinking(messages: list[dict[str, Any]]) -> bool:
    """Whether the request continues a tool loop whose assistant turn lacks leading thinking."""
    if len(messages) < 2 or messages[-1]["role"] != "user" or messages[-2]["role"] != "assistant":
        return False
    last, previous = messages[-1]["content"], messages[-2]["content"]
    if isinstance(last, str) or not any(b.get("type") == "tool_result" for b in last):
        return False
    if isinstance(previous, str) or not any(b.get("type") == "tool_use" for b in previous):
        return False
    return previous[0].get("type") not in ("thinking", "redacted_thinking")


def _render_sampling(request: ir.Request, body: dict[str, Any], thinking_on: bool) -> None:
    temperature, top_p, top_k = request.temperature, request.top_p, request.top_k
    if thinking_on:
        temperature, top_k = None, None
        if top_p is not None and top_p < 0.95:
            top_p = None
    if temperature is not None:
        body["temperature"] = min(max(float(temperature), 0.0), 1.0)
        top_p = None
    if top_p is not None:
        body["top_p"] = top_p
    if top_k is not None:
        body["top_k"] = top_k


def _render_tools(request: ir.Request) -> list[dict[str, Any]]:
    tools = []
    for tool in request.tools:
        schema = tool.parameters or {}
        if schema.get("type") != "object":
            schema = {**schema, "type": "object"}
        rendered: dict[str, Any] = {"name": tool.name}
        if tool.description:
            rendered["description"] = tool.description
        rendered["input_schema"] = schema
        rendered.update(_pick(tool.extras, "tool"))
        tools.append(rendered)
    return _restore(tools, request.extras.get("anthropic_tools"))


def _render_tool_choice(
    choice: ir.ToolChoice | None, parallel: bool | None
) -> dict[str, Any] | None:
    rendered: dict[str, Any]
    if choice is None:
        if parallel is not False:
            return None
        rendered = {"type": "auto"}
    elif choice.mode == "required":
        rendered = {"type": "any"}
    elif choice.mode == "tool":
        rendered = {"type": "tool", "name": choice.name or ""}
    else:
        rendered = {"type": choice.mode}
    if parallel is not None and rendered["type"] != "none":
        rendered["disable_parallel_tool_use"] = not parallel
    return rendered


def _render_response_part(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.TextPart):
        return {"type": "text", "text": part.text, **_pick(part.extras, "text")}
    if isinstance(part, ir.ToolCallPart):
        return {
            "type": "tool_use",
            "id": part.id or new_id("toolu_"),
            "name": part.name,
            "input": _tool_input(part.arguments, part.name),
            **_pick(part.extras, "tool_use"),
        }
    if isinstance(part, ir.ThinkingPart):
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.data or ""}
        # Unsigned thinking (another provider's reasoning) is still shown to the client.
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    logger.warning("anthropic: a %s has no place in a response; dropped", type(part).__name__)
    return None
