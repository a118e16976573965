"""OpenAI Chat Completions streams, and the conversions the whole OpenAI codec shares.

:class:`OpenAIStreamDecoder` turns ``chat.completion.chunk`` SSE bytes into IR events;
:class:`OpenAIStreamEncoder` turns IR events into the frames OpenAI itself sends. The stop
reason, usage and error conversions here are also used by the request/response codec in
:mod:`omniroute.formats.openai`.

Parts in the decoded event stream are sequential: at most one part is open at a time, and a
part of another kind (or another tool call) closes the open one first. Anthropic blocks and
Responses items are sequential too, so encoders of those formats can map parts one to one.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson

from omniroute.errors import ErrorKind, GatewayError
from omniroute.formats import ir
from omniroute.gateway.sse import SSEScanner, split_events

logger = logging.getLogger(__name__)

DONE_FRAME = b"data: [DONE]\n\n"
TRUNCATED_MESSAGE = "stream ended before it was complete"

# -- stop reasons --------------------------------------------------------------------------------

_STOP_REASONS: dict[str, ir.StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
    # DeepSeek ends a stream it cannot finish with this reason.
    "insufficient_system_resource": "error",
}

# OpenAI has no finish reason for a refusal or an error; "stop" is what its clients accept.
_FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "stop",
    "error": "stop",
}


def stop_reason(finish_reason: object) -> ir.StopReason:
    """The IR stop reason for an OpenAI ``finish_reason`` (unknown or missing → ``end_turn``)."""
    if isinstance(finish_reason, str):
        return _STOP_REASONS.get(finish_reason, "end_turn")
    return "end_turn"


def finish_reason(reason: ir.StopReason) -> str:
    """The OpenAI ``finish_reason`` for an IR stop reason."""
    return _FINISH_REASONS.get(reason, "stop")


# -- usage ---------------------------------------------------------------------------------------


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_openai(usage: dict[str, Any]) -> ir.Usage:
    """IR usage from an OpenAI ``usage`` object.

    OpenAI's ``prompt_tokens`` includes cached tokens; the IR's ``input`` does not. Cached
    tokens are read from ``prompt_tokens_details.cached_tokens``, else from DeepSeek's
    ``prompt_cache_hit_tokens``.
    """
    prompt_details = usage.get("prompt_tokens_details")
    if not isinstance(prompt_details, dict):
        prompt_details = {}
    cached = prompt_details.get("cached_tokens")
    if cached is None:
        cached = usage.get("prompt_cache_hit_tokens")
    cache_read = _count(cached)
    cache_write = _count(prompt_details.get("cache_write_tokens"))
    completion_details = usage.get("completion_tokens_details")
    reasoning = (
        _count(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0
    )
    # Image generation reports ``input_tokens``/``output_tokens`` instead.
    prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
    completion = usage.get("completion_tokens", usage.get("output_tokens"))
    return ir.Usage(
        input=max(_count(prompt) - cache_read - cache_write, 0),
        output=_count(completion),
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=reasoning,
    )


def usage_to_openai(usage: ir.Usage) -> dict[str, Any]:
    """An OpenAI ``usage`` object (the shape of a real answer) from IR usage."""
    prompt = usage.input + usage.cache_read + usage.cache_write
    prompt_details: dict[str, int] = {"cached_tokens": usage.cache_read, "audio_tokens": 0}
    if usage.cache_write:
        prompt_details["cache_write_tokens"] = usage.cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output,
        "total_tokens": prompt + usage.output,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


# -- errors --------------------------------------------------------------------------------------

# OpenAI (and OpenAI-compatible) error ``type``/``code`` values → the kind routing decides on.
_ERROR_KINDS: dict[str, ErrorKind] = {
    "invalid_request_error": ErrorKind.BAD_REQUEST,
    "context_length_exceeded": ErrorKind.BAD_REQUEST,
    "authentication_error": ErrorKind.AUTH,
    "invalid_api_key": ErrorKind.AUTH,
    "permission_error": ErrorKind.AUTH,
    "permission_denied": ErrorKind.AUTH,
    "not_found_error": ErrorKind.NOT_FOUND,
    "model_not_found": ErrorKind.NOT_FOUND,
    "rate_limit_error": ErrorKind.RATE_LIMITED,
    "rate_limit_exceeded": ErrorKind.RATE_LIMITED,
    "insufficient_quota": ErrorKind.QUOTA_EXHAUSTED,
    "server_error": ErrorKind.UPSTREAM,
    "api_error": ErrorKind.UPSTREAM,
    "upstream_error": ErrorKind.UPSTREAM,
    "overloaded_error": ErrorKind.UPSTREAM,
    "service_unavailable": ErrorKind.UPSTREAM,
    "timeout_error": ErrorKind.TIMEOUT,
}

_STATUS_KINDS: dict[int, ErrorKind] = {
    400: ErrorKind.BAD_REQUEST,
    401: ErrorKind.AUTH,
    403: ErrorKind.AUTH,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    413: ErrorKind.TOO_LARGE,
    422: ErrorKind.BAD_REQUEST,
    429: ErrorKind.RATE_LIMITED,
    504: ErrorKind.TIMEOUT,
}

_KIND_VALUES = frozenset(kind.value for kind in ErrorKind)

# The status an in-stream error (which arrives inside an HTTP 200) stands for, so that routing
# and other formats' encoders can treat it like the same error given as a status.
_IMPLIED_STATUS: dict[ErrorKind, int] = {
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.AUTH: 401,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.QUOTA_EXHAUSTED: 429,
    ErrorKind.UPSTREAM: 500,
    ErrorKind.TIMEOUT: 504,
}


def stream_error(error: object) -> ir.StreamError:
    """The IR event for an OpenAI ``{"error": {...}}`` object sent inside a stream.

    ``kind`` is an :class:`~omniroute.errors.ErrorKind` value (what routing and every encoder
    understand), read from ``code`` then ``type`` then the status; ``status`` is the error's
    own ``status`` or numeric ``code`` (OpenRouter style), else the one its kind implies.
    """
    if not isinstance(error, dict):
        return ir.StreamError(ErrorKind.UPSTREAM.value, str(error), 500)
    code, type_ = error.get("code"), error.get("type")
    status = error.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        status = code if isinstance(code, int) and not isinstance(code, bool) else None
    kind: ErrorKind | None = None
    if isinstance(code, str):
        # Our own encoder writes the kind as the code; other upstreams write OpenAI codes.
        kind = ErrorKind(code) if code in _KIND_VALUES else _ERROR_KINDS.get(code)
    if kind is None and isinstance(type_, str):
        kind = _ERROR_KINDS.get(type_)
    if kind is None:
        kind = _STATUS_KINDS.get(status or 0, ErrorKind.UPSTREAM)
    message = error.get("message")
    return ir.StreamError(
        kind=kind.value,
        message=message if isinstance(message, str) else "upstream error",
        status=status if status is not None else _IMPLIED_STATUS.get(kind),
    )


def gateway_error(event: ir.StreamError) -> GatewayError:
    """The :class:`GatewayError` an IR stream error stands for (to render in a client format).

    A ``kind`` that is not an ErrorKind value (a decoder that kept the upstream's own error
    type, such as Anthropic's ``overloaded_error``) is kept as the error's ``type``, and its
    kind is looked up from it."""
    if event.kind in _KIND_VALUES:
        return GatewayError(ErrorKind(event.kind), event.message, status=event.status)
    kind = _ERROR_KINDS.get(event.kind) or _STATUS_KINDS.get(event.status or 0, ErrorKind.UPSTREAM)
    return GatewayError(kind, event.message, status=event.status, type=event.kind or None)


# -- decoder -------------------------------------------------------------------------------------


class OpenAIStreamDecoder:
    """Chat Completions SSE bytes → IR events, incrementally (see :class:`StreamDecoder`).

    ``MessageStart`` comes with the first chunk; each of ``reasoning_content``/``reasoning``,
    ``content`` and each tool-call ``index`` is a part, numbered in order of first appearance;
    the finish chunk closes the open part; ``usage`` (on its own ``choices: []`` chunk or, as
    DeepSeek sends it, on the finish chunk) becomes a ``UsageUpdate``; ``Stop`` follows at
    ``[DONE]``, or at ``close()`` when the upstream ends after its finish chunk without one.
    """

    __slots__ = (
        "_done",
        "_finish",
        "_last_tool",
        "_next",
        "_open",
        "_open_kind",
        "_refusal",
        "_scanner",
        "_started",
        "_tools",
    )

    def __init__(self) -> None:
        self._scanner = SSEScanner()
        self._started = False
        self._done = False  # Stop or StreamError emitted: nothing more comes out
        self._finish: ir.StopReason | None = None
        self._refusal = False
        self._open: int | None = None
        self._open_kind = ""
        self._tools: dict[int | str, int] = {}
        self._last_tool: int | str = 0
        self._next = 0

    def feed(self, chunk: bytes) -> list[ir.Event]:
        """Add bytes as they arrive; return the events they completed."""
        events: list[ir.Event] = []
        if self._done:
            return events
        for data in self._scanner.feed_data(chunk):
            self._data(data, events, at_end=False)
            if self._done:
                break
        return events

    def close(self) -> list[ir.Event]:
        """End of stream: ``Stop`` if the finish chunk came, else a truncation error."""
        events: list[ir.Event] = []
        if self._done:
            return events
        # A last event without its blank line (``data: [DONE]`` then EOF) still counts.
        pending = self._scanner.pending
        if pending.strip():
            for _raw, data in split_events(pending + b"\n\n"):
                if data is not None and not self._done:
                    self._data(data, events, at_end=True)
        if self._done:
            return events
        if self._finish is not None:
            self._stop(events)
        else:
            events.append(ir.StreamError(ErrorKind.UPSTREAM.value, TRUNCATED_MESSAGE))
            self._done = True
        return events

    def _data(self, data: bytes, events: list[ir.Event], *, at_end: bool) -> None:
        payload = data.strip()
        if not payload:
            return
        if payload == b"[DONE]":
            if self._started:
                self._stop(events)
            else:  # an empty answer is a failed one (and worth trying elsewhere)
                events.append(ir.StreamError(ErrorKind.UPSTREAM.value, "stream had no answer"))
                self._done = True
            return
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            if not at_end:  # at the end it is a truncated chunk: close() reports that
                events.append(ir.StreamError(ErrorKind.UPSTREAM.value, "malformed stream chunk"))
                self._done = True
            return
        if not isinstance(chunk, dict):
            return
        error = chunk.get("error")
        if error:
            events.append(stream_error(error))
            self._done = True
            return
        if not self._started:
            self._started = True
            events.append(
                ir.MessageStart(str(chunk.get("id") or ""), str(chunk.get("model") or ""))
            )
        choices = chunk.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                # Only the first choice is translated (n > 1 has no IR equivalent).
                if isinstance(choice, dict) and choice.get("index", 0) == 0:
                    self._choice(choice, events)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            events.append(ir.UsageUpdate(usage_from_openai(usage)))

    def _choice(self, choice: dict[str, Any], events: list[ir.Event]) -> None:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                events.append(ir.ThinkingDelta(self._part("thinking", events), reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                events.append(ir.TextDelta(self._part("text", events), content))
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                self._refusal = True
                events.append(ir.TextDelta(self._part("text", events), refusal))
            tool_calls = delta.get("tool_calls")
            if isinstance(tool_calls, list):
                for call in tool_calls:
                    if isinstance(call, dict):
                        self._tool_call(call, events)
        reason = choice.get("finish_reason")
        if reason:
            self._close_open(events)
            self._finish = stop_reason(reason)
            if self._refusal and self._finish == "end_turn":
                self._finish = "refusal"

    def _part(self, kind: str, events: list[ir.Event]) -> int:
        """The index of the open part of ``kind``, starting one (and closing another) if need be."""
        if self._open is not None and self._open_kind == kind:
            return self._open
        self._close_open(events)
        index = self._next
        self._next += 1
        self._open, self._open_kind = index, kind
        events.append(ir.PartStart(index, "thinking" if kind == "thinking" else "text"))
        return index

    def _tool_call(self, call: dict[str, Any], events: list[ir.Event]) -> None:
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        call_id = call.get("id")
        key: int | str
        if isinstance(call.get("index"), int):
            key = call["index"]
        elif isinstance(call_id, str) and call_id:
            key = call_id  # some compatible servers omit the index and send whole calls
        else:
            key = self._last_tool
        self._last_tool = key
        index = self._tools.get(key)
        if index is None:
            self._close_open(events)
            index = self._next
            self._next += 1
            self._tools[key] = index
            self._open, self._open_kind = index, "tool_call"
            name = function.get("name")
            events.append(
                ir.PartStart(
                    index,
                    "tool_call",
                    id=call_id if isinstance(call_id, str) and call_id else _call_id(),
                    name=name if isinstance(name, str) else "",
                )
            )
        elif index != self._open:
            # Arguments for a call that another part already followed: the IR's parts are
            # sequential, so this (never seen from a real upstream) fragment cannot be placed.
            logger.warning("dropping arguments for tool call %r after it was closed", key)
            return
        arguments = function.get("arguments")
        if isinstance(arguments, dict):
            arguments = orjson.dumps(arguments).decode()
        if isinstance(arguments, str) and arguments:
            events.append(ir.ToolArgumentsDelta(index, arguments))

    def _close_open(self, events: list[ir.Event]) -> None:
        if self._open is not None:
            events.append(ir.PartStop(self._open))
            self._open = None
            self._open_kind = ""

    def _stop(self, events: list[ir.Event]) -> None:
        self._close_open(events)
        events.append(ir.Stop(self._finish or "end_turn"))
        self._done = True


def _call_id() -> str:
    return "call_" + secrets.token_hex(12)


# -- encoder -------------------------------------------------------------------------------------

_ROLE_DELTA = b'{"role":"assistant","content":"","refusal":null}'


class OpenAIStreamEncoder:
    """IR events → Chat Completions SSE frames, as OpenAI sends them (see :class:`StreamEncoder`).

    Every chunk has the same ``id`` and ``created``; the first delta carries the role; a tool
    call starts with ``index``/``id``/``type``/``name`` and empty ``arguments``, then argument
    fragments; thinking goes out as ``reasoning_content``. ``Stop`` sends the finish chunk
    (``delta: {}``); ``finish()`` then sends the usage chunk (``choices: []``, when usage is
    known and ``include_usage``, the client's ``stream_options.include_usage``) and
    ``data: [DONE]``, so that usage reported after the stop is not lost. A
    ``StreamError`` sends ``data: {"error": ...}`` and ends the stream without ``[DONE]``
    (openai-python raises ``APIError`` on it); ``finish()`` without a ``Stop`` sends such an
    error too, because a stream cut short must not look complete to the client.
    """

    __slots__ = (
        "_created",
        "_ended",
        "_error_object",
        "_head",
        "_id",
        "_include_usage",
        "_model",
        "_next_tool",
        "_stopped",
        "_tools",
        "_usage",
    )

    def __init__(
        self,
        model: str,
        *,
        error_object: Callable[[GatewayError], dict[str, object]],
        include_usage: bool = True,
        id: str | None = None,
        created: int | None = None,
    ) -> None:
        self._model = model
        self._include_usage = include_usage
        self._error_object = error_object
        self._id = id
        self._created = int(time.time()) if created is None else created
        self._head = b""  # "data: {id, object, created, model" once the first chunk is out
        self._tools: dict[int, int] = {}  # IR part index → OpenAI tool_calls index
        self._next_tool = 0
        self._usage: ir.Usage | None = None
        self._stopped = False
        self._ended = False

    def encode(self, events: list[ir.Event]) -> bytes:
        """The frames for ``events`` (complete SSE events only)."""
        out: list[bytes] = []
        for event in events:
            if self._ended:
                break
            if isinstance(event, ir.UsageUpdate):
                self._usage = event.usage
            elif self._stopped:
                continue  # only late usage matters after the stop
            elif isinstance(event, ir.TextDelta):
                if event.text:
                    out.append(self._delta(b'{"content":' + orjson.dumps(event.text) + b"}"))
            elif isinstance(event, ir.ToolArgumentsDelta):
                tool = self._tools.get(event.index)
                if tool is not None and event.fragment:
                    out.append(
                        self._tool_delta({"index": tool, "function": {"arguments": event.fragment}})
                    )
            elif isinstance(event, ir.ThinkingDelta):
                if event.text:
                    delta = b'{"reasoning_content":' + orjson.dumps(event.text) + b"}"
                    out.append(self._delta(delta))
            elif isinstance(event, ir.PartStart):
                if event.kind == "tool_call":
                    out.append(self._start_tool(event))
            elif isinstance(event, ir.MessageStart):
                if not self._head:
                    if event.id and self._id is None:
                        self._id = event.id
                    if event.usage is not None:
                        self._usage = event.usage
                    out.append(self._delta(b""))
            elif isinstance(event, ir.Stop):
                out.append(self._delta(b"{}", orjson.dumps(finish_reason(event.reason))))
                self._stopped = True
            elif isinstance(event, ir.StreamError):
                out.append(self._error(gateway_error(event)))
            # PartStop and SignatureDelta have nothing to say in this format.
        return b"".join(out)

    def finish(self) -> bytes:
        """The end of the stream: usage and ``[DONE]`` after a ``Stop``, else an error event."""
        if self._ended:
            return b""
        if not self._stopped:
            return self._error(GatewayError(ErrorKind.UPSTREAM, TRUNCATED_MESSAGE))
        self._ended = True
        if self._usage is None or not self._include_usage:
            return DONE_FRAME
        usage = orjson.dumps(usage_to_openai(self._usage))
        return self._base() + b',"choices":[],"usage":' + usage + b"}\n\n" + DONE_FRAME

    def _base(self) -> bytes:
        if not self._head:
            if self._id is None:
                self._id = "chatcmpl-" + secrets.token_urlsafe(18)
            self._head = (
                b'data: {"id":'
                + orjson.dumps(self._id)
                + b',"object":"chat.completion.chunk","created":'
                + str(self._created).encode()
                + b',"model":'
                + orjson.dumps(self._model)
            )
        return self._head

    def _delta(self, delta: bytes, finish: bytes = b"null") -> bytes:
        """One chunk with ``delta`` for choice 0; the role chunk first if none was sent yet
        (an empty ``delta`` asks for the role chunk alone)."""
        out = b""
        if not self._head:
            out = (
                self._base()
                + b',"choices":[{"index":0,"delta":'
                + _ROLE_DELTA
                + b',"logprobs":null,"finish_reason":null}]}\n\n'
            )
        if not delta:
            return out
        return (
            out
            + self._base()
            + b',"choices":[{"index":0,"delta":'
            + delta
            + b',"logprobs":null,"finish_reason":'
            + finish
            + b"}]}\n\n"
        )

    def _tool_delta(self, call: dict[str, Any]) -> bytes:
        return self._delta(orjson.dumps({"tool_calls": [call]}))

    def _start_tool(self, event: ir.PartStart) -> bytes:
        tool = self._next_tool
        self._next_tool += 1
        self._tools[event.index] = tool
        call = {
            "index": tool,
            "id": event.id or _call_id(),
            "type": "function",
            "function": {"name": event.name or "", "arguments": ""},
        }
        return self._tool_delta(call)

    def _error(self, err: GatewayError) -> bytes:
        self._ended = True
        return b"data: " + orjson.dumps({"error": self._error_object(err)}) + b"\n\n"
