"""The ``kiro`` wire format: CodeWhisperer's ``generateAssistantResponse``, upstream side only.

Requests are rendered from the IR; answers arrive as a binary AWS event stream
(:mod:`omniroute_kiro.eventstream`) decoded incrementally into IR events. No client speaks this
format, so it has no request parser, response codec or stream encoder: those raise a
:class:`BadRequest` that says so.

Body rules the real service enforces (oauth.md §7):

- no top-level system field: the system text is folded into the first user turn;
- ``history`` strictly alternates ``userInputMessage`` / ``assistantResponseMessage``, starting
  with a user turn and ending with an assistant turn; consecutive turns of one role are merged
  and a missing turn is padded;
- the last user turn is ``currentMessage``; tools are declared only there
  (``userInputMessageContext.tools``), tool results travel with the user turn that gives them.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson

from omniroute import BadRequest, ErrorKind, Format, GatewayError
from omniroute.formats import ir
from omniroute_kiro.eventstream import FrameError, Message, MessageReader, encode_message

logger = logging.getLogger(__name__)

ORIGIN = "AI_EDITOR"
#: Content for a user turn that has none of its own (padding, or tool results only): the
#: service refuses an empty ``content``.
PADDING_USER = "Continue."
TOOL_RESULTS_USER = "Tool results provided."
#: Content for an assistant turn that has neither text nor tool calls.
EMPTY_ASSISTANT = "(empty)"

#: ``:exception-type`` → the HTTP status the same failure has as a plain answer.
EXCEPTION_STATUS = {
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 429,
    "ValidationException": 400,
    "ContentLengthExceededException": 400,
    "AccessDeniedException": 403,
    "UnauthorizedException": 401,
    "ResourceNotFoundException": 404,
    "ConflictException": 409,
    "InternalServerException": 500,
    "ModelStreamErrorException": 500,
    "ServiceUnavailableException": 503,
}

_EXCEPTION_BY_KIND = {
    ErrorKind.BAD_REQUEST: "ValidationException",
    ErrorKind.AUTH: "AccessDeniedException",
    ErrorKind.RATE_LIMITED: "ThrottlingException",
    ErrorKind.QUOTA_EXHAUSTED: "ServiceQuotaExceededException",
    ErrorKind.NOT_FOUND: "ResourceNotFoundException",
}


class KiroFormat(Format):
    """CodeWhisperer's ``generateAssistantResponse`` (upstream only)."""

    id = "kiro"
    name = "Kiro (CodeWhisperer)"
    translates = True
    #: The answer's media type: a binary event stream, not SSE.
    stream_content_type = "application/vnd.amazon.eventstream"

    def exception_type(self, err: GatewayError) -> str:
        """The AWS exception name for an error of ours."""
        return _EXCEPTION_BY_KIND.get(err.kind, "InternalServerException")

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps({"__type": self.exception_type(err), "message": err.message})

    def stream_error_event(self, err: GatewayError) -> bytes:
        kind = self.exception_type(err)
        headers = {
            ":message-type": "exception",
            ":exception-type": kind,
            ":content-type": "application/json",
        }
        return encode_message(headers, orjson.dumps({"message": err.message}))

    def parse_request(self, body: dict[str, Any]) -> ir.Request:
        raise _upstream_only("requests in it cannot be read")

    def parse_response(self, body: dict[str, Any]) -> ir.Response:
        raise _upstream_only("it answers only as an event stream")

    def render_response(
        self, response: ir.Response, client_request: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        raise _upstream_only("answers cannot be written in it")

    def stream_encoder(self, model: str, client_request: dict[str, Any] | None = None) -> Any:
        raise _upstream_only("streams cannot be written in it")

    def stream_decoder(self) -> KiroStreamDecoder:
        return KiroStreamDecoder()

    def render_request(self, request: ir.Request) -> dict[str, Any]:
        return render_body(request)


def _upstream_only(what: str) -> BadRequest:
    return BadRequest(f"the 'kiro' format is spoken only by upstreams: {what}")


# -- rendering ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Turn:
    """One merged turn on its way into a CodeWhisperer history entry."""

    role: str
    texts: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    tool_uses: list[dict[str, Any]] = field(default_factory=list)
    tool_results: list[dict[str, Any]] = field(default_factory=list)

    def take(self, message: ir.Message) -> None:
        for part in message.parts:
            if isinstance(part, ir.TextPart) and part.text:
                self.texts.append(part.text)
            elif isinstance(part, ir.ImagePart):
                image = _image(part)
                if image is not None:
                    self.images.append(image)
            elif isinstance(part, ir.ToolCallPart):
                self.tool_uses.append(
                    {"toolUseId": part.id, "name": part.name, "input": _arguments(part)}
                )
            elif isinstance(part, ir.ToolResultPart):
                self.tool_results.append(
                    {
                        "toolUseId": part.tool_call_id,
                        "content": [{"text": part.text()}],
                        "status": "error" if part.is_error else "success",
                    }
                )
            # Thinking has no place in a CodeWhisperer history; it is left out.


def render_body(request: ir.Request) -> dict[str, Any]:
    """The ``generateAssistantResponse`` body for an IR request (without ``profileArn``,
    which comes from the connection's credentials: see ``KiroProvider.authorize``)."""
    turns = _alternating(request.messages)
    system = _system_text(request)
    if system:
        turns[0].texts.insert(0, system)
    *past, current = turns
    history: list[dict[str, Any]] = []
    for turn in past:
        if turn.role == "user":
            history.append({"userInputMessage": _user_message(turn, request.model)})
        else:
            history.append({"assistantResponseMessage": _assistant_message(turn)})
    user = _user_message(current, request.model)
    tools = _tools(request)
    if tools:
        user.setdefault("userInputMessageContext", {})["tools"] = tools
    state: dict[str, Any] = {
        "chatTriggerType": "MANUAL",
        "conversationId": str(uuid.uuid4()),
        "currentMessage": {"userInputMessage": user},
    }
    if history:
        state["history"] = history
    body: dict[str, Any] = {"conversationState": state}
    config = {
        key: value
        for key, value in (
            ("maxTokens", request.max_tokens),
            ("temperature", request.temperature),
            ("topP", request.top_p),
        )
        if value is not None
    }
    if config:
        body["inferenceConfig"] = config
    return body


def _alternating(messages: list[ir.Message]) -> list[_Turn]:
    """Turns merged by role, starting with a user turn and ending with one (padded)."""
    turns: list[_Turn] = []
    for message in messages:
        if not turns or turns[-1].role != message.role:
            turns.append(_Turn(message.role))
        turns[-1].take(message)
    if not turns or turns[0].role != "user":
        turns.insert(0, _Turn("user"))
    if turns[-1].role != "user":
        turns.append(_Turn("user"))  # an assistant prefill: ask the model to go on
    return turns


def _system_text(request: ir.Request) -> str:
    lines = [part.text for part in request.system if part.text]
    choice = request.tool_choice
    if request.tools and choice is not None:
        # CodeWhisperer has no tool_choice: say it in words.
        if choice.mode == "required":
            lines.append("You must answer by calling one of the available tools.")
        elif choice.mode == "tool" and choice.name:
            lines.append(f"You must answer by calling the tool '{choice.name}'.")
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_schema" and fmt.schema is not None:
        schema = orjson.dumps(fmt.schema).decode()
        lines.append(f"Answer with one JSON object that matches this JSON Schema: {schema}")
    elif fmt is not None and fmt.type == "json_object":
        lines.append("Answer with one JSON object.")
    return "\n\n".join(lines)


def _user_message(turn: _Turn, model: str) -> dict[str, Any]:
    content = "\n\n".join(turn.texts)
    if not content:
        content = TOOL_RESULTS_USER if turn.tool_results else PADDING_USER
    message: dict[str, Any] = {"content": content, "modelId": model, "origin": ORIGIN}
    if turn.images:
        message["images"] = turn.images
    if turn.tool_results:
        message["userInputMessageContext"] = {"toolResults": turn.tool_results}
    return message


def _assistant_message(turn: _Turn) -> dict[str, Any]:
    content = "\n\n".join(turn.texts)
    message: dict[str, Any] = {"content": content or ("" if turn.tool_uses else EMPTY_ASSISTANT)}
    if turn.tool_uses:
        message["toolUses"] = turn.tool_uses
    return message


def _tools(request: ir.Request) -> list[dict[str, Any]]:
    if request.tool_choice is not None and request.tool_choice.mode == "none":
        return []
    return [
        {
            "toolSpecification": {
                "name": tool.name,
                # The service refuses an empty description.
                "description": tool.description or f"Tool {tool.name}",
                "inputSchema": {"json": tool.parameters},
            }
        }
        for tool in request.tools
    ]


def _arguments(call: ir.ToolCallPart) -> Any:
    try:
        value = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _image(part: ir.ImagePart) -> dict[str, Any] | None:
    if part.data is None:
        logger.warning("kiro: dropping an image given by URL (only inline images are accepted)")
        return None
    kind = (part.media_type or "image/png").split("/")[-1]
    return {"format": "jpeg" if kind == "jpg" else kind, "source": {"bytes": part.data}}


# -- decoding -----------------------------------------------------------------------------------


class KiroStreamDecoder:
    """AWS event-stream bytes → IR events, fed in chunks split anywhere.

    ``assistantResponseEvent``/``codeEvent`` ``{content}`` are text, ``reasoningContentEvent``
    ``{text, signature}`` thinking, ``toolUseEvent {toolUseId, name, input, stop}`` a tool call
    (``input`` comes as string fragments; ``stop`` ends it); ``metricsEvent``/``meteringEvent``/
    ``contextUsageEvent`` give usage when they carry token counts. An exception message ends the
    stream with a :class:`~omniroute.formats.ir.StreamError` whose kind is the exception type.
    The stream has no terminator of its own: its end, at a message boundary, is the answer's
    end, so ``close`` emits the ``Stop`` (``tool_use`` when a tool was called).
    """

    __slots__ = (
        "_called",
        "_closed_tools",
        "_done",
        "_next",
        "_open",
        "_open_kind",
        "_open_tool",
        "_reader",
        "_started",
        "_usage",
    )

    def __init__(self) -> None:
        self._reader = MessageReader()
        self._started = False
        self._done = False
        self._next = 0
        self._open: int | None = None
        self._open_kind: str | None = None
        self._open_tool: str | None = None
        self._closed_tools: set[str] = set()
        self._called = False
        self._usage: ir.Usage | None = None

    def feed(self, chunk: bytes) -> list[ir.Event]:
        """Add bytes; return the events the messages they completed stand for."""
        events: list[ir.Event] = []
        if self._done:
            return events
        self._reader.push(chunk)
        while not self._done:
            try:
                message = self._reader.pop()
            except FrameError as exc:
                self._done = True
                events.append(ir.StreamError("upstream", str(exc), 502))
                break
            if message is None:
                break
            self._message(message, events)
        return events

    def close(self) -> list[ir.Event]:
        """End of stream: the open part closed, the usage, the ``Stop``; a stream cut inside a
        message, or without any, ends with a ``StreamError``."""
        if self._done:
            return []
        self._done = True
        if self._reader.pending:
            return [ir.StreamError("upstream", "upstream stream ended inside a message", 502)]
        if not self._started:
            return [ir.StreamError("upstream", "upstream stream ended before its first event")]
        events: list[ir.Event] = []
        self._close_open(events)
        if self._usage is not None:
            events.append(ir.UsageUpdate(self._usage))
        events.append(ir.Stop("tool_use" if self._called else "end_turn"))
        return events

    # -- one message ----------------------------------------------------------------------------

    def _message(self, message: Message, events: list[ir.Event]) -> None:
        if message.message_type != "event":
            self._done = True
            events.append(_exception(message))
            return
        try:
            body = orjson.loads(message.payload) if message.payload.strip() else {}
        except orjson.JSONDecodeError:
            self._done = True
            events.append(ir.StreamError("upstream", "malformed event payload", 502))
            return
        if not isinstance(body, dict):
            return
        if not self._started:
            self._started = True
            events.append(ir.MessageStart(id=f"msg_kiro_{uuid.uuid4().hex[:24]}", model=""))
        kind = message.event_type
        if kind in ("assistantResponseEvent", "codeEvent"):
            text = body.get("content")
            if isinstance(text, str) and text:
                events.append(ir.TextDelta(self._part("text", events), text))
        elif kind == "reasoningContentEvent":
            self._reasoning(body, events)
        elif kind == "toolUseEvent":
            self._tool_use(body, events)
        elif kind in ("metricsEvent", "meteringEvent", "contextUsageEvent"):
            usage = _usage(body)
            if usage is not None:
                self._usage = usage
                events.append(ir.UsageUpdate(usage))

    def _reasoning(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        text, signature = body.get("text"), body.get("signature")
        if isinstance(text, str) and text:
            events.append(ir.ThinkingDelta(self._part("thinking", events), text))
        if isinstance(signature, str) and signature:
            events.append(ir.SignatureDelta(self._part("thinking", events), signature))

    def _tool_use(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        tool_id = str(body.get("toolUseId") or "")
        if tool_id in self._closed_tools:
            return  # a repeat of a call already complete
        if self._open_kind != "tool_call" or self._open_tool != tool_id:
            self._close_open(events)
            index = self._new_index()
            name = str(body.get("name") or "")
            events.append(ir.PartStart(index, "tool_call", id=tool_id, name=name))
            self._open, self._open_kind, self._open_tool = index, "tool_call", tool_id
            self._called = True
        assert self._open is not None
        fragment = body.get("input")
        if isinstance(fragment, dict | list):
            fragment = orjson.dumps(fragment).decode()
        if isinstance(fragment, str) and fragment:
            events.append(ir.ToolArgumentsDelta(self._open, fragment))
        if body.get("stop") is True:
            self._closed_tools.add(tool_id)
            self._close_open(events)

    def _part(self, kind: str, events: list[ir.Event]) -> int:
        """The index of the open part of ``kind``, opening one (and closing another) if need be."""
        if self._open_kind != kind or self._open is None:
            self._close_open(events)
            self._open, self._open_kind, self._open_tool = self._new_index(), kind, None
            events.append(ir.PartStart(self._open, kind))  # type: ignore[arg-type]
        return self._open

    def _new_index(self) -> int:
        index, self._next = self._next, self._next + 1
        return index

    def _close_open(self, events: list[ir.Event]) -> None:
        if self._open is not None:
            events.append(ir.PartStop(self._open))
        self._open = self._open_kind = self._open_tool = None


def _exception(message: Message) -> ir.StreamError:
    """An ``exception`` (modelled AWS error) or ``error`` (service error) message."""
    try:
        body = orjson.loads(message.payload) if message.payload.strip() else {}
    except orjson.JSONDecodeError:
        body = {}
    body = body if isinstance(body, dict) else {}
    kind = str(
        message.headers.get(":exception-type")
        or message.headers.get(":error-code")
        or body.get("__type")
        or "InternalServerException"
    ).rsplit("#", 1)[-1]
    text = str(
        body.get("message")
        or body.get("Message")
        or message.headers.get(":error-message")
        or "upstream reported an error"
    )
    return ir.StreamError(kind, f"{kind}: {text}", EXCEPTION_STATUS.get(kind, 500))


def _usage(body: dict[str, Any]) -> ir.Usage | None:
    """Token counts, when the event carries any (``contextUsagePercentage`` and metering
    credits are not token counts)."""
    for candidate in (body, *(v for v in body.values() if isinstance(v, dict))):
        tokens_in, tokens_out = candidate.get("inputTokens"), candidate.get("outputTokens")
        if isinstance(tokens_in, int) or isinstance(tokens_out, int):
            return ir.Usage(
                input=tokens_in if isinstance(tokens_in, int) else 0,
                output=tokens_out if isinstance(tokens_out, int) else 0,
            )
    return None
