"""Anthropic Messages streams: the incremental decoder and encoder, and the wire vocabulary
(stop reasons, usage, error types) they share with :mod:`omniroute.formats.anthropic`.

Every Anthropic stream event is ``event: <type>`` + ``data: <json>`` + a blank line; the SDKs
skip events without the ``event:`` line, so the encoder always writes it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Any

import orjson

from omniroute.errors import ErrorKind
from omniroute.formats import ir
from omniroute.gateway.sse import SSEScanner, split_events

logger = logging.getLogger(__name__)

# -- wire vocabulary ----------------------------------------------------------------------------

#: Anthropic's ``stop_reason`` → IR. ``pause_turn`` (a server tool loop paused) is a normal end
#: of this answer; running out of context window is running out of tokens.
STOP_FROM_ANTHROPIC: dict[str, ir.StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "refusal": "refusal",
    "pause_turn": "end_turn",
    "model_context_window_exceeded": "max_tokens",
}

#: IR → Anthropic's ``stop_reason``; a content filter is what Anthropic calls a refusal.
STOP_TO_ANTHROPIC: dict[str, str] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "refusal": "refusal",
    "content_filter": "refusal",
    "error": "end_turn",
}

ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "billing_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "rate_limit_error",
        "timeout_error",
        "api_error",
        "overloaded_error",
    }
)

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}

_TYPE_BY_KIND: dict[str, str] = {
    ErrorKind.BAD_REQUEST: "invalid_request_error",
    ErrorKind.AUTH: "authentication_error",
    ErrorKind.NOT_FOUND: "not_found_error",
    ErrorKind.RATE_LIMITED: "rate_limit_error",
    ErrorKind.QUOTA_EXHAUSTED: "rate_limit_error",
    ErrorKind.TOO_LARGE: "request_too_large",
    ErrorKind.UPSTREAM: "api_error",
    ErrorKind.UNREACHABLE: "api_error",
    ErrorKind.TIMEOUT: "api_error",
    ErrorKind.UNAVAILABLE: "overloaded_error",
}

#: The HTTP status each error type arrives with, for in-stream errors (which have none).
STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "api_error": 500,
    "overloaded_error": 529,
}


def error_type(kind: str, status: int | None = None, declared: str | None = None) -> str:
    """The Anthropic ``error.type`` for a failure: a type that is already Anthropic's wins
    (``declared`` first, then ``kind``), then the HTTP status (what the SDKs decide on), then
    the :class:`ErrorKind`."""
    if declared in ERROR_TYPES:
        return str(declared)
    if kind in ERROR_TYPES:
        return kind
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return _TYPE_BY_KIND.get(kind, "api_error")


def error_event(err_type: str, message: str) -> bytes:
    """A complete ``event: error`` stream event."""
    return frame("error", {"type": "error", "error": {"type": err_type, "message": message}})


def frame(name: str, data: dict[str, Any]) -> bytes:
    """One SSE event with its ``event:`` line and terminating blank line."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def usage_from_wire(body: dict[str, Any], base: ir.Usage | None = None) -> ir.Usage:
    """Anthropic usage → IR. Fields absent from ``body`` keep their value in ``base`` (a
    ``message_delta`` repeats only some of them). Anthropic's input excludes cached tokens,
    as the IR's does."""
    usage = replace(base) if base is not None else ir.Usage()
    if (value := body.get("input_tokens")) is not None:
        usage.input = int(value)
    if (value := body.get("output_tokens")) is not None:
        usage.output = int(value)
    if (value := body.get("cache_read_input_tokens")) is not None:
        usage.cache_read = int(value)
    if (value := body.get("cache_creation_input_tokens")) is not None:
        usage.cache_write = int(value)
    details = body.get("output_tokens_details")
    if isinstance(details, dict) and details.get("thinking_tokens") is not None:
        usage.reasoning = int(details["thinking_tokens"])
    return usage


def usage_to_wire(usage: ir.Usage) -> dict[str, Any]:
    """IR usage → Anthropic's usage object."""
    out: dict[str, Any] = {
        "input_tokens": usage.input,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
        "output_tokens": usage.output,
    }
    if usage.reasoning:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning}
    return out


def new_id(prefix: str) -> str:
    """A fresh id in Anthropic's style (``msg_...``, ``toolu_...``)."""
    return prefix + uuid.uuid4().hex[:24]


# -- decoder ------------------------------------------------------------------------------------


class AnthropicStreamDecoder:
    """Anthropic SSE bytes → IR events. IR part indexes are Anthropic's block indexes.

    ``ping`` and unknown events are skipped; blocks of types the IR cannot hold (server tool
    calls and their results) are skipped whole, with a warning. Empty deltas are dropped.
    """

    __slots__ = ("_done", "_scanner", "_skipped", "_stop_reason", "_stop_sequence", "_usage")

    def __init__(self) -> None:
        self._scanner = SSEScanner()
        self._usage = ir.Usage()
        self._stop_reason: str | None = None
        self._stop_sequence: str | None = None
        self._skipped: set[int] = set()
        self._done = False

    def feed(self, chunk: bytes) -> list[ir.Event]:
        """Add bytes; return the events they completed."""
        events: list[ir.Event] = []
        for raw, data in self._scanner.feed(chunk):
            if self._done:
                break
            self._event(raw, data, events, lenient=False)
        return events

    def close(self) -> list[ir.Event]:
        """End of stream: a final event without its blank line still counts if its JSON is
        complete (the SDK's own fixtures end that way); a stream that never reached
        ``message_stop`` or an error ends with a ``StreamError``."""
        events: list[ir.Event] = []
        pending = self._scanner.pending
        if not self._done and pending.strip():
            for raw, data in split_events(pending + b"\n\n"):
                self._event(raw, data, events, lenient=True)
        if not self._done:
            events.append(ir.StreamError("upstream", "stream ended before it was complete"))
            self._done = True
        return events

    def _event(
        self, raw: bytes, data: bytes | None, events: list[ir.Event], *, lenient: bool
    ) -> None:
        if data is None or not data.strip() or data.strip() == b"[DONE]":
            return
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            if not lenient:
                self._done = True
                events.append(ir.StreamError("upstream", "malformed event in upstream stream"))
            return
        if not isinstance(body, dict):
            return
        name = body.get("type") or _event_name(raw)
        handler = _HANDLERS.get(str(name))
        if handler is not None:
            handler(self, body, events)

    def _message_start(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        message = body.get("message") or {}
        usage = message.get("usage")
        start = ir.MessageStart(id=message.get("id") or "", model=message.get("model") or "")
        events.append(start)
        if isinstance(usage, dict):
            self._usage = usage_from_wire(usage)
            start.usage = replace(self._usage)
            events.append(ir.UsageUpdate(replace(self._usage)))

    def _block_start(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        index = int(body.get("index", 0))
        block = body.get("content_block") or {}
        kind = block.get("type")
        if kind == "text":
            events.append(ir.PartStart(index, "text"))
            if block.get("text"):
                events.append(ir.TextDelta(index, block["text"]))
        elif kind == "thinking":
            events.append(ir.PartStart(index, "thinking"))
            if block.get("thinking"):
                events.append(ir.ThinkingDelta(index, block["thinking"]))
            if block.get("signature"):
                events.append(ir.SignatureDelta(index, block["signature"]))
        elif kind == "redacted_thinking":
            events.append(ir.PartStart(index, "redacted_thinking", data=block.get("data")))
        elif kind == "tool_use":
            events.append(
                ir.PartStart(index, "tool_call", id=block.get("id"), name=block.get("name"))
            )
            if block.get("input"):
                events.append(ir.ToolArgumentsDelta(index, orjson.dumps(block["input"]).decode()))
        else:
            logger.warning("anthropic stream: skipping a %r content block (no IR equivalent)", kind)
            self._skipped.add(index)

    def _block_delta(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        index = int(body.get("index", 0))
        if index in self._skipped:
            return
        delta = body.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            events.append(ir.TextDelta(index, delta["text"]))
        elif kind == "thinking_delta" and delta.get("thinking"):
            events.append(ir.ThinkingDelta(index, delta["thinking"]))
        elif kind == "signature_delta" and delta.get("signature"):
            events.append(ir.SignatureDelta(index, delta["signature"]))
        elif kind == "input_json_delta" and delta.get("partial_json"):
            events.append(ir.ToolArgumentsDelta(index, delta["partial_json"]))

    def _block_stop(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        index = int(body.get("index", 0))
        if index not in self._skipped:
            events.append(ir.PartStop(index))

    def _message_delta(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        delta = body.get("delta") or {}
        if delta.get("stop_reason") is not None:
            self._stop_reason = delta["stop_reason"]
        if "stop_sequence" in delta:
            self._stop_sequence = delta["stop_sequence"]
        usage = body.get("usage")
        if isinstance(usage, dict):
            self._usage = usage_from_wire(usage, self._usage)
            events.append(ir.UsageUpdate(replace(self._usage)))

    def _message_stop(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        reason = STOP_FROM_ANTHROPIC.get(self._stop_reason or "end_turn", "end_turn")
        events.append(ir.Stop(reason, self._stop_sequence))
        self._done = True

    def _error(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        error = body.get("error") or {}
        kind = str(error.get("type") or "api_error")
        message = str(error.get("message") or "upstream error")
        events.append(ir.StreamError(kind, message, STATUS_BY_TYPE.get(kind)))
        self._done = True


_HANDLERS = {
    "message_start": AnthropicStreamDecoder._message_start,
    "content_block_start": AnthropicStreamDecoder._block_start,
    "content_block_delta": AnthropicStreamDecoder._block_delta,
    "content_block_stop": AnthropicStreamDecoder._block_stop,
    "message_delta": AnthropicStreamDecoder._message_delta,
    "message_stop": AnthropicStreamDecoder._message_stop,
    "error": AnthropicStreamDecoder._error,
}


def _event_name(raw: bytes) -> str | None:
    for line in raw.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip().decode(errors="replace")
    return None


# -- encoder ------------------------------------------------------------------------------------

_PartEvent = (
    ir.PartStart
    | ir.TextDelta
    | ir.ThinkingDelta
    | ir.SignatureDelta
    | ir.ToolArgumentsDelta
    | ir.PartStop
)


class _Part:
    """What the encoder knows of one IR part: its kind and, while open, its output block."""

    __slots__ = ("block", "data", "id", "kind", "name", "signature", "stopped")

    def __init__(self, kind: str, id: str | None = None, name: str | None = None) -> None:
        self.kind = kind
        self.id = id
        self.name = name
        self.data: str | None = None
        self.block: int | None = None
        self.signature = ""
        self.stopped = False


class AnthropicStreamEncoder:
    """IR events → Anthropic SSE bytes, answering as ``model``.

    Anthropic allows one content block open at a time, indexed 0, 1, ... in order, while IR
    parts may interleave (text then tool calls, or fragments of parallel tool calls):

    * When an event for another part arrives, an open text or thinking block is closed; more
      text for that part later opens a new block (splitting text is harmless).
    * An open ``tool_use`` block is never closed before its part stops, because its argument
      fragments must all reach the same block: events for other parts are queued meanwhile and
      replayed, part by part, once it stops (or at ``Stop``). Interleaved parallel tool calls
      therefore stream the first call live and the others when it completes.
    * Text and thinking blocks open on their first non-empty delta (the API rejects empty text
      blocks when a client sends the answer back); tool calls and redacted thinking open at
      ``PartStart``. A thinking block's signature is sent just before its ``content_block_stop``.

    ``Stop`` closes the content; ``message_delta`` (stop reason, cumulative usage) and
    ``message_stop`` are written by :meth:`finish`, so usage that arrives after the stop
    reason (OpenAI sends it in a final chunk) is still counted. ``finish`` on a stream that
    never stopped writes an ``error`` event instead: a cut answer must not look complete.
    """

    __slots__ = (
        "_done",
        "_draining",
        "_id",
        "_model",
        "_next_block",
        "_open",
        "_parts",
        "_queue",
        "_started",
        "_stop",
        "_usage",
    )

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = ""
        self._usage = ir.Usage()
        self._started = False
        self._parts: dict[int, _Part] = {}
        self._open: int | None = None
        self._next_block = 0
        self._queue: dict[int, list[_PartEvent]] = {}
        self._draining = False
        self._stop: ir.Stop | None = None
        self._done = False

    def encode(self, events: list[ir.Event]) -> bytes:
        """The bytes for ``events`` (complete SSE events only)."""
        out: list[bytes] = []
        for event in events:
            if not self._done:
                self._event(event, out)
        return b"".join(out)

    def finish(self) -> bytes:
        """``message_delta`` + ``message_stop`` after a ``Stop``; an ``error`` event for a
        stream that never stopped; nothing after an error."""
        if self._done:
            return b""
        self._done = True
        if self._stop is None:
            return error_event("api_error", "stream ended before it was complete")
        out: list[bytes] = []
        self._ensure_started(out)
        self._close_all(out)
        delta = {
            "stop_reason": STOP_TO_ANTHROPIC.get(self._stop.reason, "end_turn"),
            "stop_sequence": self._stop.stop_sequence,
        }
        usage = usage_to_wire(self._usage)
        out.append(
            frame("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        )
        out.append(frame("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    # -- message level

    def _event(self, event: ir.Event, out: list[bytes]) -> None:
        if isinstance(event, ir.MessageStart):
            if not self._started:
                self._id = event.id
                self._model = self._model or event.model
                if event.usage is not None:
                    self._usage = replace(event.usage)
                self._ensure_started(out)
        elif isinstance(event, ir.UsageUpdate):
            self._usage = replace(event.usage)
        elif isinstance(event, ir.Stop):
            if self._stop is None:
                self._ensure_started(out)
                self._stop = event
                self._close_all(out)
        elif isinstance(event, ir.StreamError):
            self._done = True
            out.append(error_event(error_type(event.kind, event.status), event.message))
        elif self._stop is None:
            self._ensure_started(out)
            self._part_event(event, out)

    def _ensure_started(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        message: dict[str, Any] = {
            "id": self._id or new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_to_wire(self._usage),
        }
        out.append(frame("message_start", {"type": "message_start", "message": message}))
        out.append(frame("ping", {"type": "ping"}))

    # -- content blocks

    def _blocked(self, index: int) -> bool:
        """Whether an unfinished tool call other than part ``index`` holds the open block."""
        if self._open is None or self._open == index or self._stop is not None:
            return False
        return self._parts[self._open].kind == "tool_call"

    def _part_event(self, event: _PartEvent, out: list[bytes]) -> None:
        index = event.index
        if index in self._queue or self._blocked(index):
            self._queue.setdefault(index, []).append(event)
            return
        if isinstance(event, ir.PartStart):
            self._part_start(event, out)
        elif isinstance(event, ir.TextDelta):
            if event.text:
                self._open_for(index, "text", out)
                self._delta(index, {"type": "text_delta", "text": event.text}, out)
        elif isinstance(event, ir.ThinkingDelta):
            if event.text:
                self._open_for(index, "thinking", out)
                self._delta(index, {"type": "thinking_delta", "thinking": event.text}, out)
        elif isinstance(event, ir.SignatureDelta):
            part = self._parts.get(index)
            # A tool call's signature (Gemini's thoughtSignature) has no place in Anthropic.
            if event.signature and (part is None or part.kind == "thinking"):
                self._open_for(index, "thinking", out)
                self._parts[index].signature += event.signature
        elif isinstance(event, ir.ToolArgumentsDelta):
            self._arguments(event, out)
        elif isinstance(event, ir.PartStop):
            part = self._parts.get(index)
            if part is not None:
                if self._open == index:
                    self._close_open(out)
                part.stopped = True
            self._drain(out)

    def _part_start(self, event: ir.PartStart, out: list[bytes]) -> None:
        if event.index in self._parts:
            return
        part = _Part(event.kind, event.id, event.name)
        part.data = event.data
        self._parts[event.index] = part
        if event.kind in ("tool_call", "redacted_thinking"):
            self._open_block(event.index, out)

    def _arguments(self, event: ir.ToolArgumentsDelta, out: list[bytes]) -> None:
        part = self._parts.get(event.index)
        if (
            part is not None
            and (part.stopped or part.block is not None)
            and (self._open != event.index)
        ):
            logger.warning("dropping tool arguments for part %d after its block ended", event.index)
            return
        self._open_for(event.index, "tool_call", out)
        if event.fragment:
            delta = {"type": "input_json_delta", "partial_json": event.fragment}
            self._delta(event.index, delta, out)

    def _open_for(self, index: int, kind: str, out: list[bytes]) -> None:
        """Make part ``index`` (known, or implied by ``kind``) the open block."""
        if index not in self._parts:
            self._parts[index] = _Part(kind)
        if self._open != index:
            self._open_block(index, out)

    def _open_block(self, index: int, out: list[bytes]) -> None:
        self._close_open(out)
        part = self._parts[index]
        part.block = self._next_block
        self._next_block += 1
        self._open = index
        block: dict[str, Any]
        if part.kind == "tool_call":
            block = {"type": "tool_use", "id": part.id or new_id("toolu_"), "name": part.name or ""}
            block["input"] = {}
        elif part.kind == "thinking":
            block = {"type": "thinking", "thinking": "", "signature": ""}
        elif part.kind == "redacted_thinking":
            block = {"type": "redacted_thinking", "data": part.data or ""}
        else:
            block = {"type": "text", "text": ""}
        start = {"type": "content_block_start", "index": part.block, "content_block": block}
        out.append(frame("content_block_start", start))

    def _delta(self, index: int, delta: dict[str, Any], out: list[bytes]) -> None:
        block = self._parts[index].block
        body = {"type": "content_block_delta", "index": block, "delta": delta}
        out.append(frame("content_block_delta", body))

    def _close_open(self, out: list[bytes]) -> None:
        if self._open is None:
            return
        part = self._parts[self._open]
        if part.signature:
            self._delta(self._open, {"type": "signature_delta", "signature": part.signature}, out)
            part.signature = ""
        out.append(frame("content_block_stop", {"type": "content_block_stop", "index": part.block}))
        self._open = None

    def _drain(self, out: list[bytes]) -> None:
        """Replay queued events, part by part, while no unfinished tool call blocks them."""
        if self._draining:
            return
        self._draining = True
        try:
            while self._queue and not self._blocked(-1):
                queue, self._queue = self._queue, {}
                for events in queue.values():
                    for event in events:
                        self._part_event(event, out)
        finally:
            self._draining = False

    def _close_all(self, out: list[bytes]) -> None:
        """At the end of the content: every part is complete, queued ones included."""
        self._close_open(out)
        self._drain(out)
        self._close_open(out)
