"""OpenAI Responses (``POST /v1/responses``) as a wire format (default plugin).

Request and response codecs live here; the stream decoder and encoder, and the usage, stop
reason and ``response`` object vocabulary both halves share, in
:mod:`omniroute.formats.responses_stream`.

Translation choices, beyond the one-to-one mappings:

* ``input`` items map to IR turns in order: consecutive ``reasoning``, ``function_call`` and
  assistant ``message`` items make one assistant turn; consecutive ``function_call_output``
  items one user turn of tool results; each user message its own turn; ``system`` and
  ``developer`` messages join ``instructions`` as the system prompt.
* A reasoning item is a :class:`~omniroute.formats.ir.ThinkingPart`: its summary (else its raw
  reasoning) text joined by blank lines, its ``encrypted_content`` as the ``signature``, so a
  client of another format that echoes signatures (Anthropic's thinking blocks) hands it back.
  Rendered into a request, a thinking part becomes a reasoning item only when the API can use
  it: its signature is an OpenAI encrypted blob (a Fernet token, ``gAAAA...``) or, unsigned, it
  has the item's ``id`` (stored responses); other providers' thinking is dropped.
* What the IR has no field for is kept for a same-format render: unknown top-level fields in
  ``extras["responses"]``; item ids, statuses and annotations in the parts' ``extras
  ["responses"]``; unknown input/output items (built-in tool calls, ``item_reference``, ...)
  with their position in ``extras["responses_unknown"]`` of the request or response; unknown
  content parts (``input_file``, ...) likewise on their message; non-function tools in
  ``extras["responses_tools"]``. Other formats drop them (logged when parsed).
* Rendering a request makes it valid for the real API: ``store`` is ``false`` unless a
  Responses client's own request said otherwise (a translated conversation is sent whole, and
  nothing needs keeping), and with reasoning on ``include`` asks for
  ``reasoning.encrypted_content`` so thinking survives the next turn; assistant text of other
  formats is a message with string content (the SDK types allow output parts only on items
  with an id); function tools always say ``strict`` (the API's default is strict schemas, which
  most foreign schemas are not); ``max_output_tokens`` is at least 16 (the API's minimum); a
  JSON schema format without a schema asks for a JSON object; stop sequences and ``top_k``
  have no equivalent and are dropped.
* ``previous_response_id`` and ``conversation`` refer to state kept at OpenAI that no other
  format can see: a request carrying one is refused for an upstream of another format
  (:meth:`ResponsesFormat.untranslatable`) rather than sent without the turns it stands for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from omniroute.errors import BadRequest, GatewayError
from omniroute.formats import ir
from omniroute.formats.base import Format, joined_text
from omniroute.formats.openai import OpenAIChatFormat
from omniroute.formats.responses_stream import ResponsesStreamDecoder
from omniroute.formats.responses_stream_encoder import ResponsesStreamEncoder
from omniroute.formats.responses_wire import (
    ANSWER_FIELDS,
    STOPPED_WITH_ERROR,
    error_code,
    error_events,
    new_id,
    reasoning_text,
    response_id,
    response_object,
    status_for,
    stop_from_wire,
    usage_from_wire,
    usage_to_wire,
)
from omniroute.hookspecs import hookimpl

logger = logging.getLogger(__name__)

#: Fields naming state stored at OpenAI (see :meth:`ResponsesFormat.untranslatable`).
STORED_STATE_FIELDS = ("previous_response_id", "conversation")
#: The API rejects a smaller ``max_output_tokens``.
MIN_OUTPUT_TOKENS = 16
#: How OpenAI's reasoning ``encrypted_content`` begins (a Fernet token: version byte 0x80 and a
#: 64-bit timestamp whose high bytes are zero).
ENCRYPTED_PREFIX = "gAAAAA"

# fmt: off
_REQUEST_FIELDS = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls",
    "max_output_tokens", "temperature", "top_p", "reasoning", "text", "stream", "user",
})
# The keys of each item (and content part) that IR fields hold; the rest go to extras.
_OWN_KEYS = {
    "message": ("type", "role", "content"),
    "function_call": ("type", "call_id", "name", "arguments"),
    "function_call_output": ("type", "call_id", "output"),
    "reasoning": ("type", "encrypted_content"),
    "output_text": ("type", "text"),
    "refusal": ("type", "refusal"),
    "tool": ("type", "name", "description", "parameters", "strict"),
}
# fmt: on
_EFFORTS = frozenset({"minimal", "low", "medium", "high"})


class ResponsesFormat(Format):
    """``POST /v1/responses``: errors are OpenAI's ``{"error": {message, type, code, param}}``;
    a stream that fails ends with ``error`` then ``response.failed``."""

    id = "responses"
    name = "OpenAI Responses"
    translates = True

    def __init__(self) -> None:
        self._chat = OpenAIChatFormat()

    def error_object(self, err: GatewayError) -> dict[str, Any]:
        """The inner error object: OpenAI's ``type`` names; as ``code`` the API's own for rate
        limits, spent quota and server errors (clients such as Codex decide on them)."""
        error = dict(self._chat.error_object(err))
        error["code"] = error_code(err)
        return error

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps({"error": self.error_object(err)})

    def stream_error_event(self, err: GatewayError) -> bytes:
        """``error`` (which openai-python raises ``APIError`` on) then ``response.failed``
        (which Codex reads), without ``sequence_number``: these events end a stream whose
        numbering this stateless call cannot know."""
        response = response_object(
            {
                "id": new_id("resp_"),
                "object": "response",
                "created_at": int(time.time()),
                "model": "",
                "output": [],
                "usage": None,
            },
            {},
        )
        return error_events(self.error_object(err), response, None)

    # -- requests

    def untranslatable(self, body: dict[str, Any]) -> BadRequest | None:
        """A request continuing a conversation stored at OpenAI cannot be translated."""
        for key in STORED_STATE_FIELDS:
            if body.get(key) is not None:
                return BadRequest(
                    f"'{key}' refers to a conversation stored at OpenAI, which only an OpenAI "
                    "Responses upstream can see; send the whole conversation in 'input' "
                    "instead (with 'store': false)",
                    param=key,
                    code="stored_state_unavailable",
                )
        return None

    def parse_request(self, body: dict[str, Any]) -> ir.Request:
        """A Responses request → IR (see the module docstring for the mapping)."""
        request = ir.Request(model=str(body.get("model") or ""), stream=body.get("stream") is True)
        extras = {key: value for key, value in body.items() if key not in _REQUEST_FIELDS}
        instructions = body.get("instructions")
        if isinstance(instructions, str):
            if instructions:
                request.system.append(ir.TextPart(instructions))
        elif instructions is not None:
            extras["instructions"] = instructions
        items = body.get("input")
        if isinstance(items, str):
            request.messages.append(ir.Message("user", [ir.TextPart(items)]))
        elif isinstance(items, list):
            _parse_input(items, request)
        elif items is not None:
            raise BadRequest("'input' must be a string or an array of items", param="input")
        _parse_tools(body.get("tools"), request)
        _parse_tool_choice(body.get("tool_choice"), request, extras)
        if isinstance(body.get("parallel_tool_calls"), bool):
            request.parallel_tool_calls = body["parallel_tool_calls"]
        max_tokens = body.get("max_output_tokens")
        if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
            request.max_tokens = max_tokens
        request.temperature = _number(body.get("temperature"))
        request.top_p = _number(body.get("top_p"))
        _parse_reasoning(body.get("reasoning"), request, extras)
        _parse_text(body.get("text"), request, extras)
        if isinstance(body.get("user"), str):
            request.user = body["user"]
        if extras:
            request.extras["responses"] = extras
        return request

    def render_request(self, request: ir.Request) -> dict[str, Any]:
        """IR → a Responses request that the real API accepts (see the module docstring)."""
        own: dict[str, Any] = request.extras.get("responses") or {}
        body: dict[str, Any] = {"model": request.model}
        instructions = "\n\n".join(p.text for p in request.system if p.text)
        if instructions:
            body["instructions"] = instructions
        body["input"] = _restore(_render_input(request), request.extras.get("responses_unknown"))
        tools = _restore(
            [_render_tool(tool) for tool in request.tools], request.extras.get("responses_tools")
        )
        if tools:
            body["tools"] = tools
            if request.tool_choice is not None:
                body["tool_choice"] = _render_tool_choice(request.tool_choice)
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        reasoning = _render_reasoning(request.reasoning, own.get("reasoning"))
        if reasoning:
            body["reasoning"] = reasoning
        text = dict(own.get("text") or {})
        if request.response_format is not None:
            text["format"] = _render_response_format(request.response_format)
        if text:
            body["text"] = text
        if request.max_tokens is not None:
            if request.max_tokens < MIN_OUTPUT_TOKENS:
                logger.info("responses: max_output_tokens raised to the API's minimum of 16")
            body["max_output_tokens"] = max(request.max_tokens, MIN_OUTPUT_TOKENS)
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.stop:
            logger.warning("responses: stop sequences have no equivalent; dropped")
        if request.stream:
            body["stream"] = True
        if request.user is not None:
            body["user"] = request.user
        body["store"] = own.get("store", False)
        reasoning_on = request.reasoning is not None and request.reasoning.enabled
        if reasoning_on and body["store"] is False and "include" not in own:
            body["include"] = ["reasoning.encrypted_content"]
        for key, value in own.items():
            body.setdefault(key, value)
        return body

    # -- responses

    def parse_response(self, body: dict[str, Any]) -> ir.Response:
        """A ``response`` object → IR: output items in order, usage with cached tokens split
        off, the stop reason from ``status``/``incomplete_details`` and the items."""
        output = body.get("output")
        parts, unknown = _parse_output(output if isinstance(output, list) else [])
        usage = body.get("usage")
        response = ir.Response(
            id=str(body.get("id") or ""),
            model=str(body.get("model") or ""),
            parts=parts,
            stop_reason=stop_from_wire(
                body.get("status"),
                body.get("incomplete_details"),
                tool_use=any(isinstance(p, ir.ToolCallPart) for p in parts),
                refused=any(_part_type(p) == "refusal" for p in parts),
            ),
            usage=usage_from_wire(usage) if isinstance(usage, dict) else ir.Usage(),
        )
        if isinstance(usage, dict):
            response.extras["responses_usage"] = usage  # rendered as is while usage is unchanged
        if unknown:
            response.extras["responses_unknown"] = unknown
        rest = {key: value for key, value in body.items() if key not in ANSWER_FIELDS}
        if rest:
            response.extras["responses"] = rest
        return response

    def render_response(
        self, response: ir.Response, client_request: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """IR → a ``response`` object shaped like the API's own (request fields it echoes come
        from ``extras`` or take the API's defaults)."""
        status, details = status_for(response.stop_reason)
        usage = response.extras.get("responses_usage")
        if not isinstance(usage, dict) or usage_from_wire(usage) != response.usage:
            usage = usage_to_wire(response.usage)
        own = dict(response.extras.get("responses") or {})
        own.setdefault("created_at", int(time.time()))
        answer = {
            "id": response_id(response.id),
            "object": "response",
            "status": status,
            "error": (
                {"code": "server_error", "message": STOPPED_WITH_ERROR}
                if status == "failed"
                else None
            ),
            "incomplete_details": details,
            "model": response.model,
            "output": _restore(
                _render_output(response.parts), response.extras.get("responses_unknown")
            ),
            "usage": usage,
        }
        return response_object(answer, own)

    # -- streams

    def stream_decoder(self) -> ResponsesStreamDecoder:
        """A decoder for one Responses event stream."""
        return ResponsesStreamDecoder()

    def stream_encoder(
        self, model: str, client_request: dict[str, Any] | None = None
    ) -> ResponsesStreamEncoder:
        """An encoder for one stream answering as ``model``; the ``response`` objects it writes
        echo the client's request fields (instructions, tools, reasoning, ...)."""
        return ResponsesStreamEncoder(
            model, error_object=self.error_object, client_request=client_request
        )

    def with_system_prompt(self, body: dict[str, Any], text: str, position: str) -> dict[str, Any]:
        """Joined to ``instructions``."""
        instructions = body.get("instructions")
        existing = instructions if isinstance(instructions, str) else ""
        return {**body, "instructions": joined_text(existing, text, position)}

    def with_default_thinking(self, body: dict[str, Any], budget: int) -> dict[str, Any]:
        """``reasoning.effort`` nearest to ``budget``, unless the client set ``reasoning``."""
        if body.get("reasoning") is not None:
            return body
        return {**body, "reasoning": {"effort": ir.effort_for_budget(budget)}}


@hookimpl
def register_formats(register: Callable[[Format], None]) -> None:
    """Register the OpenAI Responses format."""
    register(ResponsesFormat())


# -- shared helpers -----------------------------------------------------------------------------


def _rest(item: dict[str, Any], kind: str) -> dict[str, Any]:
    """An item's keys that no IR field holds."""
    own = _OWN_KEYS[kind]
    return {key: value for key, value in item.items() if key not in own}


def _own(part: ir.Part) -> dict[str, Any]:
    """What a part kept of its Responses item (nothing for another format's part)."""
    own = part.extras.get("responses")
    return own if isinstance(own, dict) else {}


def _part_type(part: ir.Part) -> str | None:
    kind = _own(part).get("part", {}).get("type")
    return kind if isinstance(kind, str) else None


def _restore(items: list[Any], unknown: list[list[Any]] | None) -> list[Any]:
    """Put the ``[position, item]`` pairs kept at parse time back where they were."""
    if not unknown:
        return items
    items = list(items)
    for position, item in sorted(unknown, key=lambda pair: pair[0]):
        items.insert(min(int(position), len(items)), item)
    return items


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


# -- parsing requests ---------------------------------------------------------------------------


def _parse_input(items: list[Any], request: ir.Request) -> None:
    call_names: dict[str, str] = {}  # call id → function name, for the results
    turn: ir.Message | None = None  # the turn consecutive items are gathered into
    turn_kind = ""  # "assistant" or "results"
    unknown: list[list[Any]] = []
    position = 0  # where the item will be in a rendered input (system messages leave it)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequest(f"'input[{i}]' must be an object", param="input")
        kind = item.get("type") or ("message" if "role" in item else None)
        role = item.get("role")
        if kind == "message" and role in ("system", "developer"):
            request.system += [p for p in _message_parts(item, i)[0] if isinstance(p, ir.TextPart)]
            continue
        position += 1
        if kind == "message" and role == "user":
            parts, unknown_parts = _message_parts(item, i)
            message = ir.Message("user", parts)
            rest = _rest(item, "message")
            if rest:
                message.extras["responses"] = rest
            if unknown_parts:
                message.extras["responses_unknown"] = unknown_parts
            request.messages.append(message)
            turn, turn_kind = None, ""
            continue
        if kind in ("message", "function_call", "reasoning"):
            if kind == "message" and role != "assistant":
                raise BadRequest(
                    f"'input[{i}].role' must be user, assistant, system or developer",
                    param="input",
                )
            if turn is None or turn_kind != "assistant":
                turn, turn_kind = ir.Message("assistant"), "assistant"
                request.messages.append(turn)
            turn.parts += _assistant_parts(item, kind, i, call_names)
        elif kind == "function_call_output":
            if turn is None or turn_kind != "results":
                turn, turn_kind = ir.Message("user"), "results"
                request.messages.append(turn)
            turn.parts.append(_parse_tool_result(item, call_names))
        else:
            logger.warning(
                "responses: input item of type %r has no IR equivalent; only Responses keeps it",
                kind,
            )
            unknown.append([position - 1, item])
    if unknown:
        request.extras["responses_unknown"] = unknown


def _message_parts(item: dict[str, Any], i: int) -> tuple[list[ir.Part], list[list[Any]]]:
    """A message's content → parts, and the content parts the IR cannot hold, by position."""
    content = item.get("content")
    if isinstance(content, str):
        return [ir.TextPart(content)], []
    if not isinstance(content, list):
        raise BadRequest(f"'input[{i}].content' must be a string or an array", param="input")
    parts: list[ir.Part] = []
    unknown: list[list[Any]] = []
    for position, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        parsed = _content_part(part) if isinstance(part, dict) else None
        if parsed is None:
            logger.warning(
                "responses: content part %r has no IR equivalent; only Responses keeps it", kind
            )
            unknown.append([position, part])
        else:
            parts.append(parsed)
    return parts, unknown


def _content_part(part: dict[str, Any]) -> ir.Part | None:
    kind = part.get("type")
    if kind in ("input_text", "output_text", "refusal"):
        text = part.get("refusal" if kind == "refusal" else "text")
        if not isinstance(text, str):
            return None
        extras = {}
        if kind != "input_text":
            extras["responses"] = {"part": {"type": kind, **_rest(part, str(kind))}}
        return ir.TextPart(text, extras)
    if kind == "input_image":
        return _parse_image(part)
    return None


def _parse_image(part: dict[str, Any]) -> ir.ImagePart | None:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        return None  # images by file_id have no IR equivalent
    detail = part.get("detail") if isinstance(part.get("detail"), str) else None
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if sep and encoding == "base64":
            return ir.ImagePart(data=data, media_type=media_type or None, detail=detail)
    return ir.ImagePart(url=url, detail=detail)


def _assistant_parts(
    item: dict[str, Any], kind: str, i: int, call_names: dict[str, str]
) -> list[ir.Part]:
    if kind == "function_call":
        call = _parse_call(item)
        call_names[call.id] = call.name
        return [call]
    if kind == "reasoning":
        return [_parse_reasoning_item(item)]
    parts, unknown = _message_parts(item, i)
    if unknown:
        logger.warning("responses: dropping assistant content parts the IR cannot hold")
    marker = {"item": _rest(item, "message")}
    if parts:  # the first part of each message item starts a new item when rendered back
        parts[0].extras["responses"] = {**marker, **_own(parts[0])}
    return parts


def _parse_call(item: dict[str, Any]) -> ir.ToolCallPart:
    arguments = item.get("arguments")
    if isinstance(arguments, dict):  # some compatible clients send an object
        arguments = orjson.dumps(arguments).decode()
    call = ir.ToolCallPart(
        id=str(item.get("call_id") or item.get("id") or ""),
        name=str(item.get("name") or ""),
        arguments=arguments if isinstance(arguments, str) else "{}",
    )
    rest = _rest(item, "function_call")
    if rest:
        call.extras["responses"] = rest
    return call


def _parse_reasoning_item(item: dict[str, Any]) -> ir.ThinkingPart:
    signature = item.get("encrypted_content")
    return ir.ThinkingPart(
        text=reasoning_text(item),
        signature=signature if isinstance(signature, str) else None,
        extras={"responses": _rest(item, "reasoning")},
    )


def _parse_tool_result(item: dict[str, Any], call_names: dict[str, str]) -> ir.ToolResultPart:
    call_id = str(item.get("call_id") or "")
    result = ir.ToolResultPart(tool_call_id=call_id, name=call_names.get(call_id))
    output = item.get("output")
    if isinstance(output, str):
        result.content = [ir.TextPart(output)] if output else []
    elif isinstance(output, list):
        unknown = []
        for position, part in enumerate(output):
            parsed = _content_part(part) if isinstance(part, dict) else None
            if isinstance(parsed, ir.TextPart | ir.ImagePart):
                result.content.append(parsed)
            else:
                unknown.append([position, part])
        if unknown:
            logger.warning("responses: tool output parts only Responses keeps")
            result.extras["responses_unknown"] = unknown
    rest = _rest(item, "function_call_output")
    if rest:
        result.extras["responses"] = rest
    return result


def _parse_tools(tools: object, request: ir.Request) -> None:
    if not isinstance(tools, list):
        return
    others = []
    for position, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            # Built-in tools (web_search, file_search, ...) and custom tools run elsewhere.
            others.append([position, tool])
            continue
        description, parameters, strict = (
            tool.get("description"),
            tool.get("parameters"),
            tool.get("strict"),
        )
        parsed = ir.Tool(
            name=str(tool.get("name") or ""),
            description=description if isinstance(description, str) else None,
            parameters=parameters if isinstance(parameters, dict) else {"type": "object"},
            strict=strict if isinstance(strict, bool) else None,
        )
        rest = _rest(tool, "tool")
        if rest:
            parsed.extras["responses"] = rest
        request.tools.append(parsed)
    if others:
        logger.warning("responses: non-function tools have no IR equivalent; only Responses keeps")
        request.extras["responses_tools"] = others


def _parse_tool_choice(choice: object, request: ir.Request, extras: dict[str, Any]) -> None:
    if choice in ("auto", "none", "required"):
        request.tool_choice = ir.ToolChoice(choice)
    elif (
        isinstance(choice, dict)
        and choice.get("type") == "function"
        and isinstance(choice.get("name"), str)
    ):
        request.tool_choice = ir.ToolChoice("tool", choice["name"])
    elif choice is not None:
        logger.warning(
            "responses: tool_choice %r has no IR equivalent; only Responses keeps it", choice
        )
        extras["tool_choice"] = choice


def _parse_reasoning(value: object, request: ir.Request, extras: dict[str, Any]) -> None:
    if not isinstance(value, dict):
        return
    effort = value.get("effort")
    rest = {key: v for key, v in value.items() if key != "effort" and v is not None}
    if effort in _EFFORTS:
        request.reasoning = ir.Reasoning(effort=effort)
    elif effort == "none":
        request.reasoning = ir.Reasoning(enabled=False)
        rest["effort"] = effort
    elif effort == "xhigh":
        request.reasoning = ir.Reasoning(effort="high")
        rest["effort"] = effort
    elif rest:
        request.reasoning = ir.Reasoning()
    if rest:
        extras["reasoning"] = rest


def _parse_text(value: object, request: ir.Request, extras: dict[str, Any]) -> None:
    if not isinstance(value, dict):
        return
    fmt = value.get("format")
    if isinstance(fmt, dict):
        kind = fmt.get("type")
        if kind in ("text", "json_object"):
            request.response_format = ir.ResponseFormat(kind)
        elif kind == "json_schema":
            schema, name, strict = fmt.get("schema"), fmt.get("name"), fmt.get("strict")
            request.response_format = ir.ResponseFormat(
                "json_schema",
                schema=schema if isinstance(schema, dict) else None,
                name=name if isinstance(name, str) else None,
                strict=strict if isinstance(strict, bool) else None,
            )
    rest = {
        key: v for key, v in value.items() if key != "format" or request.response_format is None
    }
    if rest:
        extras["text"] = rest


# -- rendering requests -------------------------------------------------------------------------


def _render_input(request: ir.Request) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for message in request.messages:
        if message.role == "assistant":
            items += _render_assistant(message.parts)
        else:
            items += _render_user(message)
    return items


def _render_user(message: ir.Message) -> list[dict[str, Any]]:
    """A user turn: its tool results first (they answer the assistant turn just before), then
    one message of its text and images."""
    items = [_render_tool_result(p) for p in message.parts if isinstance(p, ir.ToolResultPart)]
    content = [
        _render_content(p, "input_text")
        for p in message.parts
        if isinstance(p, ir.TextPart) or (isinstance(p, ir.ImagePart) and (p.data or p.url))
    ]
    content = _restore(content, message.extras.get("responses_unknown"))
    if content or not items:
        item: dict[str, Any] = {"type": "message", "role": "user", "content": content}
        item.update(message.extras.get("responses") or {})
        items.append(item)
    return items


def _render_assistant(parts: list[ir.Part]) -> list[dict[str, Any]]:
    """An assistant turn, item by item. Text that came from a Responses message item renders
    as that item again; other text becomes a message whose content is a string (what the SDK
    types allow for an assistant message without an item id), consecutive parts joined."""
    items: list[dict[str, Any]] = []
    message: dict[str, Any] | None = None  # the message item consecutive text joins
    for part in parts:
        if isinstance(part, ir.TextPart):
            item = _own(part).get("item")
            if isinstance(item, dict):
                message = {"type": "message", "role": "assistant", "content": [], **item}
                items.append(message)
            elif message is None:
                if not part.text:
                    continue
                message = {"type": "message", "role": "assistant", "content": ""}
                items.append(message)
            if isinstance(message["content"], str):
                message["content"] += part.text
            else:
                message["content"].append(_render_content(part, "output_text"))
            continue
        message = None
        if isinstance(part, ir.ToolCallPart):
            items.append(_render_call(part))
        elif isinstance(part, ir.ThinkingPart):
            reasoning = _render_reasoning_item(part)
            if reasoning is not None:
                items.append(reasoning)
        elif isinstance(part, ir.ToolResultPart):
            items.append(_render_tool_result(part))
    return items


def _render_content(part: ir.TextPart | ir.ImagePart, text_type: str) -> dict[str, Any]:
    if isinstance(part, ir.ImagePart):
        if part.data is not None:
            url = f"data:{part.media_type or 'image/png'};base64,{part.data}"
        else:
            url = part.url or ""
        return {"type": "input_image", "image_url": url, "detail": part.detail or "auto"}
    own = _own(part).get("part") or {}
    if own.get("type") == "refusal":
        return {**own, "refusal": part.text}
    if text_type == "output_text":
        return {"type": "output_text", "text": part.text, "annotations": [], **own}
    return {"type": "input_text", "text": part.text}


def _render_call(part: ir.ToolCallPart) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "function_call", "call_id": part.id or new_id("call_")}
    item["name"] = part.name
    item["arguments"] = part.arguments
    item.update(_own(part))
    return item


def _render_reasoning_item(part: ir.ThinkingPart) -> dict[str, Any] | None:
    """A reasoning item, when the API can use the thinking (see the module docstring)."""
    own = _own(part)
    signature = part.signature
    if part.redacted or not (
        (signature and signature.startswith(ENCRYPTED_PREFIX))
        or (signature is None and "id" in own)
    ):
        logger.info("responses: dropping thinking that the API cannot verify")
        return None
    item: dict[str, Any] = {"type": "reasoning", **own}
    if reasoning_text(own) != part.text or "summary" not in own:
        item.pop("content", None)
        item["summary"] = [{"type": "summary_text", "text": part.text}] if part.text else []
    if signature:
        item["encrypted_content"] = signature
    return item


def _render_tool_result(part: ir.ToolResultPart) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "function_call_output", "call_id": part.tool_call_id}
    unknown = part.extras.get("responses_unknown")
    if not unknown and all(isinstance(p, ir.TextPart) for p in part.content):
        item["output"] = part.text()
    else:
        content = [_render_content(p, "input_text") for p in part.content]
        item["output"] = _restore(content, unknown)
    item.update(_own(part))
    return item


def _render_tool(tool: ir.Tool) -> dict[str, Any]:
    rendered: dict[str, Any] = {"type": "function", "name": tool.name}
    if tool.description is not None:
        rendered["description"] = tool.description
    rendered["parameters"] = tool.parameters
    rendered["strict"] = bool(tool.strict)
    own = tool.extras.get("responses")
    if isinstance(own, dict):
        rendered.update(own)
    return rendered


def _render_tool_choice(choice: ir.ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "name": choice.name or ""}
    return choice.mode


def _render_reasoning(reasoning: ir.Reasoning | None, own: object) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    if reasoning is not None and reasoning.enabled:
        if reasoning.effort is not None:
            rendered["effort"] = reasoning.effort
        elif reasoning.budget_tokens:
            rendered["effort"] = ir.effort_for_budget(reasoning.budget_tokens)
    if isinstance(own, dict):
        rendered.update(own)
    return rendered


def _render_response_format(value: ir.ResponseFormat) -> dict[str, Any]:
    if value.type != "json_schema" or value.schema is None:
        # The API requires a schema with json_schema; without one, any JSON object will do.
        return {"type": "json_object" if value.type == "json_schema" else value.type}
    rendered: dict[str, Any] = {"type": "json_schema", "name": value.name or "response"}
    if value.schema is not None:
        rendered["schema"] = value.schema
    if value.strict is not None:
        rendered["strict"] = value.strict
    return rendered


# -- responses ----------------------------------------------------------------------------------


def _parse_output(output: list[Any]) -> tuple[list[ir.Part], list[list[Any]]]:
    parts: list[ir.Part] = []
    unknown: list[list[Any]] = []
    for position, item in enumerate(output):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message" and isinstance(item, dict):
            if not isinstance(item.get("content"), list | str):
                item = {**item, "content": []}  # an upstream's answer is not the client's fault
            parts += _assistant_parts(item, "message", position, {})
        elif kind in ("function_call", "reasoning") and isinstance(item, dict):
            parts += _assistant_parts(item, str(kind), position, {})
        else:
            logger.warning(
                "responses: output item of type %r has no IR equivalent; only Responses keeps it",
                kind,
            )
            unknown.append([position, item])
    return parts, unknown


def _render_output(parts: list[ir.Part]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    message: dict[str, Any] | None = None
    for part in parts:
        if isinstance(part, ir.TextPart):
            item = _own(part).get("item")
            if message is None or isinstance(item, dict):
                message = {"id": new_id("msg_"), "type": "message", "status": "completed"}
                message.update(item or {})
                message["content"] = []
                message.setdefault("role", "assistant")
                items.append(message)
            message["content"].append(_render_content(part, "output_text"))
            continue
        message = None
        if isinstance(part, ir.ToolCallPart):
            call = {"id": new_id("fc_"), "type": "function_call", "status": "completed"}
            call.update(_render_call(part))
            items.append(call)
        elif isinstance(part, ir.ThinkingPart) and not part.redacted:
            own = _own(part)
            reasoning: dict[str, Any] = {"id": new_id("rs_"), "type": "reasoning", **own}
            if reasoning_text(own) != part.text or "summary" not in own:
                reasoning.pop("content", None)
                reasoning["summary"] = (
                    [{"type": "summary_text", "text": part.text}] if part.text else []
                )
            if part.signature:
                reasoning["encrypted_content"] = part.signature
            items.append(reasoning)
        else:
            logger.warning(
                "responses: a %s has no place in a response; dropped", type(part).__name__
            )
    return items
