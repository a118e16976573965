"""OpenAI Chat Completions as a wire format (default plugin): error shapes and the IR codecs.

Request and response codecs live here; the stream decoder and encoder (and the stop-reason,
usage and error conversions both halves share) in :mod:`omniroute.formats.openai_stream`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from omniroute.errors import BadRequest, ErrorKind, GatewayError
from omniroute.formats import ir
from omniroute.formats.base import Format, joined_text, with_part
from omniroute.formats.openai_stream import (
    OpenAIStreamDecoder,
    OpenAIStreamEncoder,
    finish_reason,
    stop_reason,
    usage_from_openai,
    usage_to_openai,
)
from omniroute.hookspecs import hookimpl

logger = logging.getLogger(__name__)

# The ``type`` OpenAI uses for each kind, so SDKs and tools recognise the error.
_OPENAI_TYPES = {
    ErrorKind.BAD_REQUEST: "invalid_request_error",
    ErrorKind.AUTH: "authentication_error",
    ErrorKind.NOT_FOUND: "invalid_request_error",
    ErrorKind.RATE_LIMITED: "rate_limit_error",
    ErrorKind.QUOTA_EXHAUSTED: "insufficient_quota",
    ErrorKind.UPSTREAM: "upstream_error",
    ErrorKind.TIMEOUT: "timeout_error",
    ErrorKind.UNREACHABLE: "upstream_error",
    ErrorKind.UNAVAILABLE: "service_unavailable",
    ErrorKind.TOO_LARGE: "invalid_request_error",
}

# Request fields the IR holds; every other top-level field travels in ``extras["openai"]``.
# ``stream_options`` is neither: the renderer always asks for usage (the ledger needs it).
_REQUEST_FIELDS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "stream_options",
        "reasoning_effort",
        "response_format",
        "user",
    }
)
_EFFORTS = frozenset({"minimal", "low", "medium", "high"})
# Response fields with no IR equivalent, kept so that an answer renders back as it came.
_RESPONSE_EXTRAS = ("created", "service_tier", "system_fingerprint")


class OpenAIChatFormat(Format):
    """``POST /v1/chat/completions``: errors are ``{"error": {message, type, code, param}}``."""

    translates = True
    id = "openai"
    name = "OpenAI Chat Completions"

    def error_object(self, err: GatewayError) -> dict[str, object]:
        """The inner error object, shared by plain answers and stream events."""
        return {
            "message": err.message,
            "type": err.type or _OPENAI_TYPES.get(err.kind, "api_error"),
            "code": err.code or err.kind.value,
            "param": err.param,
        }

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps({"error": self.error_object(err)})

    def stream_error_event(self, err: GatewayError) -> bytes:
        # openai-python raises APIError on any data event whose object has an "error" key.
        return b"data: " + orjson.dumps({"error": self.error_object(err)}) + b"\n\n"

    def parse_request(self, body: dict[str, Any]) -> ir.Request:
        """A chat completions request → IR.

        System and developer messages become ``system``; consecutive ``tool`` messages become
        one user message of tool results (named after the calls they answer);
        ``max_completion_tokens`` wins over ``max_tokens``; ``reasoning_effort: "none"`` is
        reasoning disabled and ``"xhigh"`` is ``high``; unknown fields go to
        ``extras["openai"]``."""
        messages = body.get("messages")
        if not isinstance(messages, list):
            raise BadRequest("'messages' must be an array of messages", param="messages")
        request = ir.Request(model=str(body.get("model") or ""), stream=body.get("stream") is True)
        _parse_messages(messages, request)
        request.tools = _parse_tools(body.get("tools"))
        request.tool_choice = _parse_tool_choice(body.get("tool_choice"))
        if isinstance(body.get("parallel_tool_calls"), bool):
            request.parallel_tool_calls = body["parallel_tool_calls"]
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
            request.max_tokens = max_tokens
        request.temperature = _number(body.get("temperature"))
        request.top_p = _number(body.get("top_p"))
        stop = body.get("stop")
        if isinstance(stop, str):
            request.stop = [stop]
        elif isinstance(stop, list):
            request.stop = [s for s in stop if isinstance(s, str)]
        request.reasoning = _parse_reasoning(body.get("reasoning_effort"))
        request.response_format = _parse_response_format(body.get("response_format"))
        if isinstance(body.get("user"), str):
            request.user = body["user"]
        extras = {key: value for key, value in body.items() if key not in _REQUEST_FIELDS}
        if extras:
            request.extras["openai"] = extras
        return request

    def render_request(self, request: ir.Request) -> dict[str, Any]:
        """IR → a chat completions request.

        Tool results become ``tool`` messages right after the assistant turn that made the
        calls; assistant thinking becomes ``reasoning_content``; a thinking budget becomes the
        nearest ``reasoning_effort`` (disabled reasoning sends none: not every model accepts
        ``"none"``); ``tool_choice`` and ``parallel_tool_calls`` go only with tools (OpenAI
        rejects them otherwise); a stream asks for usage; ``extras["openai"]`` is restored."""
        body: dict[str, Any] = {"model": request.model, "messages": _render_messages(request)}
        if request.tools:
            body["tools"] = [_render_tool(tool) for tool in request.tools]
            if request.tool_choice is not None:
                body["tool_choice"] = _render_tool_choice(request.tool_choice)
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            body["stop"] = list(request.stop)
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        effort = _render_effort(request.reasoning)
        if effort is not None:
            body["reasoning_effort"] = effort
        if request.response_format is not None:
            body["response_format"] = _render_response_format(request.response_format)
        if request.user is not None:
            body["user"] = request.user
        for key, value in request.extras.get("openai", {}).items():
            body.setdefault(key, value)
        return body

    def parse_response(self, body: dict[str, Any]) -> ir.Response:
        """A ``chat.completion`` → IR (the first choice; usage with cached tokens split off)."""
        choice = _first_choice(body.get("choices"))
        message = choice.get("message")
        if not isinstance(message, dict):
            message = {}
        parts: list[ir.Part] = []
        refused = False
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            parts.append(ir.ThinkingPart(text=reasoning))
        parts += [p for p in _text_parts(message.get("content")) if p.text]
        refusal = message.get("refusal")
        if isinstance(refusal, str) and refusal:
            refused = True
            parts.append(ir.TextPart(refusal))
        parts += _parse_tool_calls(message.get("tool_calls"))
        reason = stop_reason(choice.get("finish_reason"))
        usage = body.get("usage")
        response = ir.Response(
            id=str(body.get("id") or ""),
            model=str(body.get("model") or ""),
            parts=parts,
            stop_reason="refusal" if refused and reason == "end_turn" else reason,
            usage=usage_from_openai(usage) if isinstance(usage, dict) else ir.Usage(),
        )
        extras = {key: body[key] for key in _RESPONSE_EXTRAS if body.get(key) is not None}
        if extras:
            response.extras["openai"] = extras
        return response

    def render_response(
        self, response: ir.Response, client_request: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """IR → a ``chat.completion`` body shaped like OpenAI's own (``content`` is null when
        there is no text; thinking becomes ``reasoning_content``)."""
        text = "".join(p.text for p in response.parts if isinstance(p, ir.TextPart))
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        thinking = _thinking_text(response.parts)
        if thinking:
            message["reasoning_content"] = thinking
        calls = [p for p in response.parts if isinstance(p, ir.ToolCallPart)]
        if calls:
            message["tool_calls"] = [_render_tool_call(call) for call in calls]
        message["refusal"] = None
        message["annotations"] = []
        extras = response.extras.get("openai", {})
        body: dict[str, Any] = {
            "id": response.id,
            "object": "chat.completion",
            "created": extras.get("created") or int(time.time()),
            "model": response.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": finish_reason(response.stop_reason),
                }
            ],
            "usage": usage_to_openai(response.usage),
        }
        for key in ("service_tier", "system_fingerprint"):
            if key in extras:
                body[key] = extras[key]
        return body

    def stream_decoder(self) -> OpenAIStreamDecoder:
        """A decoder for one ``chat.completion.chunk`` stream."""
        return OpenAIStreamDecoder()

    def stream_encoder(
        self, model: str, client_request: dict[str, Any] | None = None
    ) -> OpenAIStreamEncoder:
        """An encoder for one stream answering as ``model``. The usage chunk is sent only when
        the client asked for it (``stream_options.include_usage``), as OpenAI does; some
        clients break on a ``choices: []`` chunk they did not ask for."""
        options = (client_request or {}).get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return OpenAIStreamEncoder(
            model, error_object=self.error_object, include_usage=include_usage
        )

    def usage_of(self, body: dict[str, Any]) -> ir.Usage | None:
        """The ``usage`` object alone (the hot path: the answer itself is not decoded)."""
        usage = body.get("usage")
        return usage_from_openai(usage) if isinstance(usage, dict) else None

    def passthrough_request(
        self, body: dict[str, Any], model: str, *, stream_usage: bool
    ) -> dict[str, Any]:
        """The client's body with ``model`` replaced; on streams, usage is requested even when
        the client did not ask, so the ledger is complete (the relay drops the extra event)."""
        out = dict(body)
        out["model"] = model
        if stream_usage:
            options = out.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage")):
                out["stream_options"] = {**(options or {}), "include_usage": True}
        return out

    def with_system_prompt(self, body: dict[str, Any], text: str, position: str) -> dict[str, Any]:
        """Joined to the client's leading system (or developer) messages: the first when
        prepending, the last when appending; a new system message when there are none."""
        messages = body.get("messages")
        if not isinstance(messages, list):
            return body
        lead = 0
        while lead < len(messages) and _is_system(messages[lead]):
            lead += 1
        messages = list(messages)
        if lead == 0:
            messages.insert(0, {"role": "system", "content": text})
            return {**body, "messages": messages}
        i = 0 if position == "prepend" else lead - 1
        message = dict(messages[i])
        content = message.get("content")
        if isinstance(content, list):
            message["content"] = with_part(content, {"type": "text", "text": text}, position)
        else:
            message["content"] = joined_text(content or "", text, position)
        messages[i] = message
        return {**body, "messages": messages}

    def with_default_thinking(self, body: dict[str, Any], budget: int) -> dict[str, Any]:
        """``reasoning_effort`` nearest to ``budget``, unless the client chose one."""
        if body.get("reasoning_effort") is not None:
            return body
        return {**body, "reasoning_effort": ir.effort_for_budget(budget)}


def _is_system(message: object) -> bool:
    return isinstance(message, dict) and message.get("role") in ("system", "developer")


# -- request parsing ---------------------------------------------------------------------------


def _parse_messages(messages: list[Any], request: ir.Request) -> None:
    call_names: dict[str, str] = {}  # tool call id → function name, for the results
    results: ir.Message | None = None  # the user message gathering consecutive tool results
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadRequest(f"'messages[{i}]' must be an object", param=f"messages[{i}]")
        role = message.get("role")
        if role == "tool":
            if results is None:
                results = ir.Message("user")
                request.messages.append(results)
            results.parts.append(_parse_tool_result(message, call_names))
            continue
        results = None
        if role in ("system", "developer"):
            request.system += _text_parts(message.get("content"))
        elif role == "user":
            request.messages.append(ir.Message("user", _parse_user_content(message.get("content"))))
        elif role == "assistant":
            assistant = _parse_assistant(message)
            for part in assistant.parts:
                if isinstance(part, ir.ToolCallPart):
                    call_names[part.id] = part.name
            request.messages.append(assistant)
        else:
            logger.warning("dropping a %r message: it has no equivalent in the IR", role)


def _text_parts(content: object) -> list[ir.TextPart]:
    """A string or an array of ``text`` parts (other part types are skipped)."""
    if isinstance(content, str):
        return [ir.TextPart(content)]
    if not isinstance(content, list):
        return []
    return [
        ir.TextPart(item["text"])
        for item in content
        if isinstance(item, dict)
        and item.get("type") == "text"
        and isinstance(item.get("text"), str)
    ]


def _parse_user_content(content: object) -> list[ir.Part]:
    if not isinstance(content, list):
        return list(_text_parts(content))
    parts: list[ir.Part] = []
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text" and isinstance(item.get("text"), str):
            parts.append(ir.TextPart(item["text"]))
        elif kind == "image_url":
            image = _parse_image(item.get("image_url"))
            if image is not None:
                parts.append(image)
        else:
            # input_audio and file parts have no IR equivalent yet.
            logger.warning("dropping a %r content part: it has no equivalent in the IR", kind)
    return parts


def _parse_image(image_url: object) -> ir.ImagePart | None:
    detail = None
    if isinstance(image_url, dict):
        detail = image_url.get("detail")
        image_url = image_url.get("url")
    if not isinstance(image_url, str) or not image_url:
        return None
    detail = detail if isinstance(detail, str) else None
    if image_url.startswith("data:"):
        header, sep, data = image_url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if sep and encoding == "base64":
            return ir.ImagePart(data=data, media_type=media_type or None, detail=detail)
    return ir.ImagePart(url=image_url, detail=detail)


def _parse_assistant(message: dict[str, Any]) -> ir.Message:
    parts: list[ir.Part] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        parts.append(ir.ThinkingPart(text=reasoning))
    parts += [p for p in _text_parts(message.get("content")) if p.text]
    parts += _parse_tool_calls(message.get("tool_calls"))
    return ir.Message("assistant", parts)


def _parse_tool_calls(tool_calls: object) -> list[ir.Part]:
    if not isinstance(tool_calls, list):
        return []
    parts: list[ir.Part] = []
    for call in tool_calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        arguments = function.get("arguments")
        if isinstance(arguments, dict):  # some compatible servers send an object
            arguments = orjson.dumps(arguments).decode()
        parts.append(
            ir.ToolCallPart(
                id=str(call.get("id") or ""),
                name=str(function.get("name") or ""),
                arguments=arguments if isinstance(arguments, str) else "{}",
            )
        )
    return parts


def _parse_tool_result(message: dict[str, Any], call_names: dict[str, str]) -> ir.ToolResultPart:
    call_id = str(message.get("tool_call_id") or "")
    name = message.get("name")
    content = _parse_user_content(message.get("content"))
    return ir.ToolResultPart(
        tool_call_id=call_id,
        content=[p for p in content if isinstance(p, ir.TextPart | ir.ImagePart)],
        # Gemini answers a call by function name, which OpenAI results do not repeat.
        name=name if isinstance(name, str) else call_names.get(call_id),
    )


def _parse_tools(tools: object) -> list[ir.Tool]:
    if not isinstance(tools, list):
        return []
    parsed = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")
        if tool.get("type", "function") != "function" or not isinstance(function, dict):
            logger.warning("dropping a tool of type %r: only functions translate", tool.get("type"))
            continue
        parameters = function.get("parameters")
        strict = function.get("strict")
        description = function.get("description")
        parsed.append(
            ir.Tool(
                name=str(function.get("name") or ""),
                description=description if isinstance(description, str) else None,
                parameters=parameters if isinstance(parameters, dict) else {"type": "object"},
                strict=strict if isinstance(strict, bool) else None,
            )
        )
    return parsed


def _parse_tool_choice(choice: object) -> ir.ToolChoice | None:
    if choice in ("auto", "none", "required"):
        return ir.ToolChoice(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return ir.ToolChoice("tool", function["name"])
    if choice is not None:
        logger.warning("ignoring tool_choice %r: it has no equivalent in the IR", choice)
    return None


def _parse_reasoning(effort: object) -> ir.Reasoning | None:
    if effort in _EFFORTS:
        return ir.Reasoning(effort=effort)  # type: ignore[arg-type]
    if effort == "none":
        return ir.Reasoning(enabled=False)
    if effort == "xhigh":
        return ir.Reasoning(effort="high")
    if effort is not None:
        logger.warning("ignoring reasoning_effort %r", effort)
    return None


def _parse_response_format(value: object) -> ir.ResponseFormat | None:
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if kind in ("text", "json_object"):
        return ir.ResponseFormat(kind)
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict):
            spec = {}
        schema, name, strict = spec.get("schema"), spec.get("name"), spec.get("strict")
        return ir.ResponseFormat(
            "json_schema",
            schema=schema if isinstance(schema, dict) else None,
            name=name if isinstance(name, str) else None,
            strict=strict if isinstance(strict, bool) else None,
        )
    return None


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _first_choice(choices: object) -> dict[str, Any]:
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                return choice
    return {}


# -- request rendering -------------------------------------------------------------------------


def _render_messages(request: ir.Request) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if request.system:
        # One string: OpenAI-compatible servers differ on arrays in system messages.
        messages.append({"role": "system", "content": "\n\n".join(p.text for p in request.system)})
    for message in request.messages:
        if message.role == "assistant":
            messages.append(_render_assistant(message.parts))
        else:
            messages += _render_user(message.parts)
    return messages


def _render_user(parts: list[ir.Part]) -> list[dict[str, Any]]:
    """A user turn: its tool results first, as ``tool`` messages (they answer the assistant
    turn just before), then the rest as one user message. Images inside tool results, which
    ``tool`` messages cannot hold, move into that user message."""
    messages: list[dict[str, Any]] = []
    content: list[ir.TextPart | ir.ImagePart] = []
    for part in parts:
        if isinstance(part, ir.ToolResultPart):
            messages.append(
                {"role": "tool", "tool_call_id": part.tool_call_id, "content": part.text()}
            )
            content += [p for p in part.content if isinstance(p, ir.ImagePart)]
    content += [p for p in parts if isinstance(p, ir.TextPart | ir.ImagePart)]
    if content or not messages:
        messages.append({"role": "user", "content": _render_user_content(content)})
    return messages


def _render_user_content(parts: list[ir.TextPart | ir.ImagePart]) -> str | list[dict[str, Any]]:
    if not parts:
        return ""
    if len(parts) == 1 and isinstance(parts[0], ir.TextPart):
        return parts[0].text
    rendered: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, ir.TextPart):
            rendered.append({"type": "text", "text": part.text})
        elif part.data is not None or part.url:
            if part.data is not None:
                url = f"data:{part.media_type or 'image/png'};base64,{part.data}"
            else:
                url = part.url or ""
            image: dict[str, Any] = {"url": url}
            if part.detail is not None:
                image["detail"] = part.detail
            rendered.append({"type": "image_url", "image_url": image})
    return rendered


def _render_assistant(parts: list[ir.Part]) -> dict[str, Any]:
    text = "\n\n".join(p.text for p in parts if isinstance(p, ir.TextPart) and p.text)
    calls = [_render_tool_call(p) for p in parts if isinstance(p, ir.ToolCallPart)]
    # content may be null only beside tool calls.
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    thinking = _thinking_text(parts)
    if thinking:
        message["reasoning_content"] = thinking
    if calls:
        message["tool_calls"] = calls
    return message


def _thinking_text(parts: list[ir.Part]) -> str:
    return "".join(
        p.text for p in parts if isinstance(p, ir.ThinkingPart) and not p.redacted and p.text
    )


def _render_tool_call(call: ir.ToolCallPart) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def _render_tool(tool: ir.Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _render_tool_choice(choice: ir.ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name or ""}}
    return choice.mode


def _render_effort(reasoning: ir.Reasoning | None) -> str | None:
    if reasoning is None or not reasoning.enabled:
        return None
    if reasoning.effort is not None:
        return reasoning.effort
    if reasoning.budget_tokens:
        return ir.effort_for_budget(reasoning.budget_tokens)
    return None


def _render_response_format(value: ir.ResponseFormat) -> dict[str, Any]:
    if value.type != "json_schema":
        return {"type": value.type}
    spec: dict[str, Any] = {"name": value.name or "response"}
    if value.schema is not None:
        spec["schema"] = value.schema
    if value.strict is not None:
        spec["strict"] = value.strict
    return {"type": "json_schema", "json_schema": spec}


@hookimpl
def register_formats(register: Callable[[Format], None]) -> None:
    """Register the OpenAI Chat Completions format."""
    register(OpenAIChatFormat())
