"""OpenAI Responses streams: the incremental decoder and encoder, and the wire vocabulary (usage,
stop reasons, error codes, the ``response`` object) they share with
:mod:`omniroute.formats.responses`.

Every event is ``event: <type>`` + ``data: <json with the same type>`` + a blank line, with a
``sequence_number`` that grows by one from 0; there is no ``[DONE]``: a stream ends with
``response.completed``, ``response.incomplete`` or ``response.failed``.

IR parts map one to one to output items: a text part is a ``message`` item with one
``output_text`` content part, a thinking part a ``reasoning`` item (its text is the summary, its
signature the ``encrypted_content``), a tool call a ``function_call`` item.
"""

from __future__ import annotations

import copy
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from omniroute.errors import ErrorKind, GatewayError
from omniroute.formats import ir
from omniroute.formats.openai_stream import gateway_error, stream_error
from omniroute.gateway.sse import SSEScanner, split_events

logger = logging.getLogger(__name__)

TRUNCATED_MESSAGE = "stream ended before it was complete"

# -- wire vocabulary ----------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    """A fresh id in the API's style (``resp_...``, ``msg_...``, ``fc_...``, ``rs_...``)."""
    return prefix + secrets.token_hex(24)


def response_id(value: str | None) -> str:
    """A ``resp_`` id for an answer: the upstream's own when it is one, else derived from it."""
    if not value:
        return new_id("resp_")
    return value if value.startswith("resp_") else "resp_" + value


def frame(payload: dict[str, Any]) -> bytes:
    """One SSE event: ``event: <type>``, the JSON payload, and the terminating blank line."""
    name = str(payload["type"]).encode()
    return b"event: " + name + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def usage_from_wire(usage: dict[str, Any]) -> ir.Usage:
    """IR usage from a Responses ``usage`` object. ``input_tokens`` includes cached tokens (read
    and written); the IR's ``input`` does not."""
    details = usage.get("input_tokens_details")
    if not isinstance(details, dict):
        details = {}
    cache_read = _count(details.get("cached_tokens"))
    cache_write = _count(details.get("cache_write_tokens"))
    output_details = usage.get("output_tokens_details")
    reasoning = (
        _count(output_details.get("reasoning_tokens")) if isinstance(output_details, dict) else 0
    )
    return ir.Usage(
        input=max(_count(usage.get("input_tokens")) - cache_read - cache_write, 0),
        output=_count(usage.get("output_tokens")),
        cache_read=cache_read,
        cache_write=cache_write,
        reasoning=reasoning,
    )


def usage_to_wire(usage: ir.Usage) -> dict[str, Any]:
    """A Responses ``usage`` object from IR usage (``cache_write_tokens`` is always present: the
    current SDK types require it)."""
    prompt = usage.input + usage.cache_read + usage.cache_write
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
        },
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": prompt + usage.output,
    }


def stop_from_wire(
    status: object, incomplete_details: object, *, tool_use: bool, refused: bool
) -> ir.StopReason:
    """The IR stop reason of a finished response: ``incomplete`` is ``max_tokens`` (or
    ``content_filter`` when that is the reason given), ``failed`` is ``error``; a completed
    answer with function calls is ``tool_use``, one with a refusal part ``refusal``."""
    if status == "incomplete":
        reason = incomplete_details.get("reason") if isinstance(incomplete_details, dict) else None
        return "content_filter" if reason == "content_filter" else "max_tokens"
    if status == "failed":
        return "error"
    if tool_use:
        return "tool_use"
    return "refusal" if refused else "end_turn"


def status_for(reason: ir.StopReason) -> tuple[str, dict[str, str] | None]:
    """The response ``status`` and ``incomplete_details`` for an IR stop reason."""
    if reason == "max_tokens":
        return "incomplete", {"reason": "max_output_tokens"}
    if reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    if reason == "error":
        return "failed", None
    return "completed", None


#: The message of the ``error`` a response that ended with stop reason ``error`` carries.
STOPPED_WITH_ERROR = "the model could not complete its answer"

# Error codes the API itself uses for these kinds; clients such as Codex decide on them
# (``insufficient_quota`` is final, ``rate_limit_exceeded`` is retried). Other kinds keep their
# kind's name as the code, which the decoders read back.
_CODES: dict[ErrorKind, str] = {
    ErrorKind.RATE_LIMITED: "rate_limit_exceeded",
    ErrorKind.QUOTA_EXHAUSTED: "insufficient_quota",
    ErrorKind.UPSTREAM: "server_error",
    ErrorKind.UNREACHABLE: "server_error",
}


def error_code(err: GatewayError) -> str:
    """The ``code`` of an error object in this format."""
    return err.code or _CODES.get(err.kind) or err.kind.value


def error_events(
    error_object: dict[str, Any], response: dict[str, Any], sequence: int | None
) -> bytes:
    """``error`` then ``response.failed``, as the API ends a stream that failed.

    The ``error`` event has the fields flat, as the SDK's ``ResponseErrorEvent`` declares them,
    and nested under ``error``, as the live API sends them (openai-python raises ``APIError`` on
    an event whose data has an ``error`` object). ``sequence`` numbers the two events; None
    leaves the numbers out (when the events end a stream someone else numbered)."""
    error: dict[str, Any] = {"type": "error"}
    if sequence is not None:
        error["sequence_number"] = sequence
    error.update(
        code=error_object["code"],
        message=error_object["message"],
        param=error_object.get("param"),
        error=error_object,
    )
    failed: dict[str, Any] = {"type": "response.failed"}
    if sequence is not None:
        failed["sequence_number"] = sequence + 1
    response["status"] = "failed"
    response["error"] = {"code": error_object["code"], "message": error_object["message"]}
    failed["response"] = response
    return frame(error) + frame(failed)


# -- the response object ------------------------------------------------------------------------

# The fields of a ``response`` object that echo the request, with the API's defaults, in the
# order the API writes them (``id`` ... ``incomplete_details``, ``model``, ``output`` and
# ``usage`` are the answer's own and are placed among them).
_ECHO_DEFAULTS: dict[str, Any] = {
    "background": False,
    "instructions": None,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "prompt_cache_key": None,
    "reasoning": {"effort": None, "summary": None},
    "safety_identifier": None,
    "service_tier": "default",
    "store": False,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_logprobs": 0,
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
    "metadata": {},
}
# fmt: off
_ORDER = (
    "id", "object", "created_at", "status", "background", "error", "incomplete_details",
    "instructions", "max_output_tokens", "max_tool_calls", "model", "output",
    "parallel_tool_calls", "previous_response_id", "prompt_cache_key", "reasoning",
    "safety_identifier", "service_tier", "store", "temperature", "text", "tool_choice", "tools",
    "top_logprobs", "top_p", "truncation", "usage", "user", "metadata",
)
# fmt: on
#: The fields of a ``response`` object that are the answer's own (the rest echo the request).
ANSWER_FIELDS = frozenset(
    {"id", "object", "status", "error", "incomplete_details", "model", "output", "usage"}
)


def response_object(answer: dict[str, Any], echo: dict[str, Any]) -> dict[str, Any]:
    """A complete ``response`` object: the ``answer``'s own fields, the ``echo``ed request
    fields (the API's defaults for the others), in the API's order, then any other echo keys."""
    body: dict[str, Any] = {}
    for key in _ORDER:
        if key in answer:
            body[key] = answer[key]
        elif key in echo:
            body[key] = echo[key]
        elif key in _ECHO_DEFAULTS:
            body[key] = copy.deepcopy(_ECHO_DEFAULTS[key])
        else:
            body[key] = None
    for key, value in echo.items():
        body.setdefault(key, value)
    return body


def echo_of(request: dict[str, Any] | None) -> dict[str, Any]:
    """The request fields a ``response`` object repeats, taken from the client's request.

    ``store`` is not among them: a translated answer is stored nowhere, and saying so keeps a
    client from referring to it later with ``previous_response_id``."""
    if not request:
        return {}
    echo = {
        key: request[key]
        for key in _ECHO_DEFAULTS
        if key not in ("background", "store") and request.get(key) is not None
    }
    if isinstance(echo.get("reasoning"), dict):
        echo["reasoning"] = {**_ECHO_DEFAULTS["reasoning"], **echo["reasoning"]}
    if isinstance(echo.get("text"), dict):
        echo["text"] = {**_ECHO_DEFAULTS["text"], **echo["text"]}
    return echo


# -- decoder ------------------------------------------------------------------------------------


class _Text:
    """One ``output_text`` (or ``refusal``) content part of a message item: its IR part."""

    __slots__ = ("index", "open", "text")

    def __init__(self, index: int) -> None:
        self.index = index
        self.text = ""
        self.open = True


class _Item:
    """What the decoder knows of one output item."""

    __slots__ = ("content", "done", "index", "kind", "seen", "signature", "summary")

    def __init__(self, kind: str, index: int = -1) -> None:
        self.kind = kind  # message, function_call, reasoning, or "" for an item it skips
        self.index = index  # the IR part of a function call or reasoning item
        self.content: dict[int, _Text] = {}  # a message's content parts by content_index
        self.seen = ""  # arguments or reasoning text decoded so far
        self.signature: str | None = None
        self.summary = -1  # the last summary_index seen
        self.done = False


def _rest(current: str, final: object) -> str:
    """What a ``...done`` event's full text adds to the deltas already seen (servers that send
    no deltas, or fewer)."""
    if isinstance(final, str) and len(final) > len(current) and final.startswith(current):
        return final[len(current) :]
    return ""


def _text_of(parts: object, kind: str) -> list[str]:
    if not isinstance(parts, list):
        return []
    return [
        p["text"]
        for p in parts
        if isinstance(p, dict) and p.get("type") == kind and isinstance(p.get("text"), str)
    ]


def reasoning_text(item: dict[str, Any]) -> str:
    """The text of a reasoning item: its summary parts (else its raw reasoning parts), joined
    by blank lines."""
    return "\n\n".join(
        _text_of(item.get("summary"), "summary_text")
        or _text_of(item.get("content"), "reasoning_text")
    )


class ResponsesStreamDecoder:
    """Responses SSE bytes → IR events, incrementally (see :class:`StreamDecoder`).

    ``response.created`` is ``MessageStart``; each ``function_call`` and ``reasoning`` item is a
    part, and so is each ``output_text``/``refusal`` content part of a ``message`` item (in
    order of appearance); summary and raw reasoning deltas are thinking text (summary parts
    after the first are preceded by a blank line); the final ``encrypted_content`` of a
    reasoning item is its part's signature, sent just before its ``PartStop``. Items of other
    types (built-in tool calls) are skipped with a warning. ``...done`` events that carry more
    than the deltas did (servers that send no deltas) add the difference; a response whose
    items arrive only in the terminal event is decoded from that event's ``output``.

    ``response.completed``/``response.incomplete`` end with ``UsageUpdate`` and ``Stop``
    (``tool_use`` when function calls were made, ``max_tokens`` when incomplete);
    ``error`` and ``response.failed`` end with a ``StreamError`` classified like OpenAI errors
    (``insufficient_quota`` → ``quota_exhausted``, ``rate_limit_exceeded`` → ``rate_limited``).
    """

    __slots__ = (
        "_by_id",
        "_done",
        "_items",
        "_next",
        "_refused",
        "_scanner",
        "_started",
        "_tool_use",
    )

    def __init__(self) -> None:
        self._scanner = SSEScanner()
        self._started = False
        self._done = False
        self._items: dict[int, _Item] = {}
        self._by_id: dict[str, int] = {}
        self._next = 0
        self._tool_use = False
        self._refused = False

    def feed(self, chunk: bytes) -> list[ir.Event]:
        """Add bytes as they arrive; return the events they completed."""
        events: list[ir.Event] = []
        for raw, data in self._scanner.feed(chunk):
            if self._done:
                break
            self._event(raw, data, events, lenient=False)
        return events

    def close(self) -> list[ir.Event]:
        """End of stream: a last event without its blank line still counts if its JSON is
        complete; a stream that never reached a terminal event ends with a ``StreamError``."""
        events: list[ir.Event] = []
        pending = self._scanner.pending
        if not self._done and pending.strip():
            for raw, data in split_events(pending + b"\n\n"):
                if not self._done:
                    self._event(raw, data, events, lenient=True)
        if not self._done:
            events.append(ir.StreamError(ErrorKind.UPSTREAM.value, TRUNCATED_MESSAGE))
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
            if not lenient:  # at the end it is a truncated event: close() reports that
                self._done = True
                events.append(
                    ir.StreamError(ErrorKind.UPSTREAM.value, "malformed event in upstream stream")
                )
            return
        if not isinstance(body, dict):
            return
        name = body.get("type") or _event_name(raw)
        handler = _HANDLERS.get(str(name))
        if handler is not None:
            handler(self, body, events)

    # -- message level

    def _start(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        if self._started:
            return
        response = body.get("response")
        if not isinstance(response, dict):
            response = {}
        self._started = True
        events.append(
            ir.MessageStart(str(response.get("id") or ""), str(response.get("model") or ""))
        )

    def _ensure_started(self, events: list[ir.Event]) -> None:
        if not self._started:
            self._started = True
            events.append(ir.MessageStart("", ""))

    def _finish(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        self._ensure_started(events)
        response = body.get("response")
        if not isinstance(response, dict):
            response = {}
        output = response.get("output")
        if not self._items and isinstance(output, list):
            for position, item in enumerate(output):  # a server that sends only the result
                if isinstance(item, dict):
                    self._item_done({"output_index": position, "item": item}, events)
        for item in self._items.values():
            if not item.done:
                self._stop_item(item, events)
        usage = response.get("usage")
        if isinstance(usage, dict):
            events.append(ir.UsageUpdate(usage_from_wire(usage)))
        status = response.get("status")
        if body.get("type") == "response.incomplete":
            status = "incomplete"
        reason = stop_from_wire(
            status,
            response.get("incomplete_details"),
            tool_use=self._tool_use,
            refused=self._refused,
        )
        events.append(ir.Stop(reason))
        self._done = True

    def _failed(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        response = body.get("response")
        error = response.get("error") if isinstance(response, dict) else None
        if isinstance(error, dict):
            events.append(stream_error(error))
        else:
            events.append(ir.StreamError(ErrorKind.UPSTREAM.value, "the response failed", 500))
        self._done = True

    def _error(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        error = body.get("error")
        if not isinstance(error, dict):  # the flat form the SDK types declare
            error = {k: body.get(k) for k in ("code", "message", "param")}
        events.append(stream_error(error))
        self._done = True

    # -- items

    def _lookup(self, body: dict[str, Any]) -> _Item | None:
        position = body.get("output_index")
        if isinstance(position, int) and position in self._items:
            return self._items[position]
        item_id = body.get("item_id")
        if isinstance(item_id, str) and item_id in self._by_id:
            return self._items[self._by_id[item_id]]
        return None

    def _part(self) -> int:
        index = self._next
        self._next += 1
        return index

    def _item_added(self, body: dict[str, Any], events: list[ir.Event]) -> _Item | None:
        self._ensure_started(events)
        item = body.get("item")
        if not isinstance(item, dict):
            return None
        position = body.get("output_index")
        if not isinstance(position, int):
            position = len(self._items)
        if position in self._items:
            return self._items[position]
        kind = item.get("type")
        decoded: _Item
        if kind == "message":
            decoded = _Item("message")
            content = item.get("content")
            for content_index, part in enumerate(content if isinstance(content, list) else []):
                if isinstance(part, dict):
                    self._content_part(decoded, content_index, part, events)
        elif kind == "function_call":
            decoded = _Item("function_call", self._part())
            call_id = item.get("call_id") or item.get("id")
            name = item.get("name")
            events.append(
                ir.PartStart(
                    decoded.index,
                    "tool_call",
                    id=str(call_id or new_id("call_")),
                    name=name if isinstance(name, str) else "",
                )
            )
            self._arguments(decoded, item.get("arguments"), events)
        elif kind == "reasoning":
            decoded = _Item("reasoning", self._part())
            events.append(ir.PartStart(decoded.index, "thinking"))
            self._thinking(decoded, reasoning_text(item), events)
            if isinstance(item.get("encrypted_content"), str):
                decoded.signature = item["encrypted_content"]
        else:
            logger.warning("responses stream: skipping a %r output item (no IR equivalent)", kind)
            decoded = _Item("")
        self._items[position] = decoded
        if isinstance(item.get("id"), str):
            self._by_id[item["id"]] = position
        return decoded

    def _item_done(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        decoded = self._lookup(body) or self._item_added(body, events)
        item = body.get("item")
        if decoded is None or decoded.done or not isinstance(item, dict):
            return
        if decoded.kind == "message":
            content = item.get("content")
            for content_index, part in enumerate(content if isinstance(content, list) else []):
                if not isinstance(part, dict):
                    continue
                text = decoded.content.get(content_index)
                if text is None:
                    self._content_part(decoded, content_index, part, events)
                elif text.open:
                    self._text(text, _rest(text.text, _part_text(part)), events)
        elif decoded.kind == "function_call":
            self._arguments(decoded, _rest(decoded.seen, item.get("arguments")), events)
        elif decoded.kind == "reasoning":
            if not decoded.seen:
                self._thinking(decoded, reasoning_text(item), events)
            if isinstance(item.get("encrypted_content"), str):
                decoded.signature = item["encrypted_content"]
        self._stop_item(decoded, events)

    def _stop_item(self, item: _Item, events: list[ir.Event]) -> None:
        item.done = True
        if item.kind == "message":
            for text in sorted(item.content.values(), key=lambda t: t.index):
                if text.open:
                    text.open = False
                    events.append(ir.PartStop(text.index))
            return
        if item.kind == "function_call":
            self._tool_use = True
        elif item.kind == "reasoning" and item.signature:
            events.append(ir.SignatureDelta(item.index, item.signature))
        if item.kind:
            events.append(ir.PartStop(item.index))

    # -- message content

    def _message(self, body: dict[str, Any], events: list[ir.Event]) -> _Item:
        """The message item a content event belongs to (one is made up for a server that sends
        content without announcing its item)."""
        item = self._lookup(body)
        if item is None:
            self._ensure_started(events)
            position = body.get("output_index")
            item = _Item("message")
            self._items[position if isinstance(position, int) else len(self._items)] = item
        return item

    def _content_part(
        self, item: _Item, content_index: int, part: dict[str, Any], events: list[ir.Event]
    ) -> _Text | None:
        kind = part.get("type")
        if kind not in ("output_text", "refusal") or content_index in item.content:
            return item.content.get(content_index)
        if kind == "refusal":
            self._refused = True
        text = _Text(self._part())
        item.content[content_index] = text
        events.append(ir.PartStart(text.index, "text"))
        self._text(text, _part_text(part), events)
        return text

    def _content_added(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        item = self._message(body, events)
        part = body.get("part")
        if item.kind == "message" and not item.done and isinstance(part, dict):
            self._content_part(item, _content_index(body), part, events)

    def _text_delta(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        item = self._message(body, events)
        if item.kind != "message" or item.done:
            return
        refusal = body.get("type") == "response.refusal.delta"
        part = {"type": "refusal" if refusal else "output_text"}
        text = self._content_part(item, _content_index(body), part, events)
        if text is not None and text.open:
            self._text(text, body.get("delta"), events)

    def _text_done(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        item = self._lookup(body)
        text = item.content.get(_content_index(body)) if item is not None else None
        if text is not None and text.open:
            final = body.get("refusal") if "refusal" in body else body.get("text")
            self._text(text, _rest(text.text, final), events)

    def _content_done(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        item = self._lookup(body)
        text = item.content.get(_content_index(body)) if item is not None else None
        if text is not None and text.open:
            part = body.get("part")
            if isinstance(part, dict):
                self._text(text, _rest(text.text, _part_text(part)), events)
            text.open = False
            events.append(ir.PartStop(text.index))

    def _text(self, text: _Text, delta: object, events: list[ir.Event]) -> None:
        if isinstance(delta, str) and delta:
            text.text += delta
            events.append(ir.TextDelta(text.index, delta))

    # -- function calls and reasoning

    def _arguments(self, item: _Item, delta: object, events: list[ir.Event]) -> None:
        if isinstance(delta, dict):  # some compatible servers send an object
            delta = orjson.dumps(delta).decode()
        if isinstance(delta, str) and delta:
            item.seen += delta
            events.append(ir.ToolArgumentsDelta(item.index, delta))

    def _arguments_delta(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        item = self._lookup(body)
        if item is not None and item.kind == "function_call" and not item.done:
            self._arguments(item, body.get("delta"), events)

    def _arguments_done(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        item = self._lookup(body)
        if item is not None and item.kind == "function_call" and not item.done:
            self._arguments(item, _rest(item.seen, body.get("arguments")), events)

    def _thinking(self, item: _Item, delta: object, events: list[ir.Event]) -> None:
        if isinstance(delta, str) and delta:
            item.seen += delta
            events.append(ir.ThinkingDelta(item.index, delta))

    def _summary_index(self, item: _Item, body: dict[str, Any], events: list[ir.Event]) -> None:
        index = body.get("summary_index")
        if isinstance(index, int) and index > item.summary:
            if item.summary >= 0 and item.seen:
                self._thinking(item, "\n\n", events)  # summary parts are paragraphs
            item.summary = index

    def _summary_part(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        item = self._lookup(body)
        if item is not None and item.kind == "reasoning" and not item.done:
            self._summary_index(item, body, events)

    def _thinking_delta(self, body: dict[str, Any], events: list[ir.Event]) -> None:
        item = self._lookup(body)
        if item is not None and item.kind == "reasoning" and not item.done:
            if "summary_index" in body:
                self._summary_index(item, body, events)
            self._thinking(item, body.get("delta"), events)


def _content_index(body: dict[str, Any]) -> int:
    index = body.get("content_index")
    return index if isinstance(index, int) else 0


def _part_text(part: dict[str, Any]) -> object:
    return part.get("refusal") if part.get("type") == "refusal" else part.get("text")


def _event_name(raw: bytes) -> str | None:
    for line in raw.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip().decode(errors="replace")
    return None


_Handler = Callable[[ResponsesStreamDecoder, dict[str, Any], list[ir.Event]], Any]
_HANDLERS: dict[str, _Handler] = {
    "response.created": ResponsesStreamDecoder._start,
    "response.in_progress": ResponsesStreamDecoder._start,
    "response.queued": ResponsesStreamDecoder._start,
    "response.output_item.added": ResponsesStreamDecoder._item_added,
    "response.output_item.done": ResponsesStreamDecoder._item_done,
    "response.content_part.added": ResponsesStreamDecoder._content_added,
    "response.output_text.delta": ResponsesStreamDecoder._text_delta,
    "response.refusal.delta": ResponsesStreamDecoder._text_delta,
    "response.output_text.done": ResponsesStreamDecoder._text_done,
    "response.refusal.done": ResponsesStreamDecoder._text_done,
    "response.content_part.done": ResponsesStreamDecoder._content_done,
    "response.function_call_arguments.delta": ResponsesStreamDecoder._arguments_delta,
    "response.function_call_arguments.done": ResponsesStreamDecoder._arguments_done,
    "response.reasoning_summary_part.added": ResponsesStreamDecoder._summary_part,
    "response.reasoning_summary_text.delta": ResponsesStreamDecoder._thinking_delta,
    "response.reasoning_text.delta": ResponsesStreamDecoder._thinking_delta,
    "response.completed": ResponsesStreamDecoder._finish,
    "response.incomplete": ResponsesStreamDecoder._finish,
    "response.failed": ResponsesStreamDecoder._failed,
    "error": ResponsesStreamDecoder._error,
}


# -- encoder ------------------------------------------------------------------------------------


class _Output:
    """One output item the encoder writes: which IR part it is, and what it holds so far."""

    __slots__ = ("call_id", "id", "kind", "name", "open", "position", "signature", "text")

    def __init__(self, kind: str, position: int, prefix: str) -> None:
        self.kind = kind  # message, reasoning, function_call, or "" for a part it leaves out
        self.position = position  # output_index
        self.id = new_id(prefix)
        self.text = ""  # text, summary text or arguments
        self.signature = ""
        self.call_id = ""
        self.name = ""
        self.open = True


class ResponsesStreamEncoder:
    """IR events → Responses SSE bytes, as the API sends them (see :class:`StreamEncoder`).

    The stream opens with ``response.created`` and ``response.in_progress`` (the ``response``
    object echoes the client's request fields); each IR part is one output item, numbered by
    ``output_index`` in order of ``PartStart`` (or of its first delta):

    * text → ``message`` item: ``output_item.added``, ``content_part.added``,
      ``output_text.delta``…, then at ``PartStop`` ``output_text.done``, ``content_part.done``,
      ``output_item.done``;
    * thinking → ``reasoning`` item: its text is summary part 0
      (``reasoning_summary_part.added`` at the first text, ``reasoning_summary_text.delta``…,
      ``.done`` events at ``PartStop``); its signature is ``encrypted_content`` of the done item;
    * tool call → ``function_call`` item with ``function_call_arguments.delta``…/``.done``;
    * redacted thinking has no Responses equivalent and is left out.

    Items are independent on this wire (every event names its item), so parts that interleave
    stay interleaved. ``Stop`` closes the open items (``incomplete`` ones for ``max_tokens``);
    :meth:`finish` then writes the terminal event with the assembled ``output`` and usage
    (usage reported after the stop still counts): ``response.completed``, or
    ``response.incomplete`` for ``max_tokens``/``content_filter``, or ``response.failed`` for
    stop reason ``error``. A ``StreamError`` writes ``error`` then ``response.failed``; so does
    :meth:`finish` on a stream that never stopped, because a cut answer must not look complete.
    """

    __slots__ = (
        "_created_at",
        "_echo",
        "_ended",
        "_error_object",
        "_id",
        "_items",
        "_model",
        "_outputs",
        "_sequence",
        "_started",
        "_stop",
        "_usage",
    )

    def __init__(
        self,
        model: str,
        *,
        error_object: Callable[[GatewayError], dict[str, Any]],
        client_request: dict[str, Any] | None = None,
        created_at: int | None = None,
    ) -> None:
        self._model = model
        self._error_object = error_object
        self._echo = echo_of(client_request)
        self._created_at = int(time.time()) if created_at is None else created_at
        self._id = ""
        self._sequence = 0
        self._items: dict[int, _Output] = {}  # IR part index → its output item
        self._outputs: list[_Output] = []  # in output_index order
        self._usage: ir.Usage | None = None
        self._stop: ir.Stop | None = None
        self._started = False
        self._ended = False

    def encode(self, events: list[ir.Event]) -> bytes:
        """The bytes for ``events`` (complete SSE events only)."""
        out: list[bytes] = []
        for event in events:
            if self._ended:
                break
            self._event(event, out)
        return b"".join(out)

    def finish(self) -> bytes:
        """The terminal event after a ``Stop``; ``error`` + ``response.failed`` for a stream
        that never stopped; nothing after an error."""
        if self._ended:
            return b""
        out: list[bytes] = []
        self._ensure_started(out)
        if self._stop is None:
            self._fail(GatewayError(ErrorKind.UPSTREAM, TRUNCATED_MESSAGE), out)
            return b"".join(out)
        self._ended = True
        status, details = status_for(self._stop.reason)
        answer: dict[str, Any] = {"status": status, "incomplete_details": details}
        if status == "failed":
            answer["error"] = {"code": "server_error", "message": STOPPED_WITH_ERROR}
        answer["output"] = [self._item(output) for output in self._outputs if output.kind]
        answer["usage"] = usage_to_wire(self._usage) if self._usage is not None else None
        kind = "response.completed" if status == "completed" else f"response.{status}"
        out.append(self._send({"type": kind, "response": self._response(answer)}))
        return b"".join(out)

    # -- message level

    def _event(self, event: ir.Event, out: list[bytes]) -> None:
        if isinstance(event, ir.UsageUpdate):
            self._usage = replace(event.usage)
        elif isinstance(event, ir.MessageStart):
            if not self._started:
                self._id = event.id
                self._model = self._model or event.model
                if event.usage is not None:
                    self._usage = replace(event.usage)
                self._ensure_started(out)
        elif isinstance(event, ir.StreamError):
            self._ensure_started(out)
            self._fail(gateway_error(event), out)
        elif self._stop is not None:
            return  # only usage matters after the stop
        elif isinstance(event, ir.Stop):
            self._ensure_started(out)
            self._stop = event
            status = "incomplete" if event.reason == "max_tokens" else "completed"
            for output in self._outputs:
                if output.open:
                    self._close(output, out, status)
        else:
            self._ensure_started(out)
            self._part_event(event, out)

    def _response(self, answer: dict[str, Any]) -> dict[str, Any]:
        return response_object(
            {
                "id": self._id,
                "object": "response",
                "created_at": self._created_at,
                "model": self._model,
                **answer,
            },
            self._echo,
        )

    def _ensure_started(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        self._id = response_id(self._id)
        answer: dict[str, Any] = {"status": "in_progress", "output": [], "usage": None}
        out.append(self._send({"type": "response.created", "response": self._response(answer)}))
        out.append(self._send({"type": "response.in_progress", "response": self._response(answer)}))

    def _fail(self, err: GatewayError, out: list[bytes]) -> None:
        self._ended = True
        error = self._error_object(err)
        error["code"] = error_code(err)
        answer = {"output": [self._item(o) for o in self._outputs if o.kind and not o.open]}
        out.append(error_events(error, self._response(answer), self._sequence))
        self._sequence += 2

    def _send(self, payload: dict[str, Any]) -> bytes:
        """``payload`` framed, with the next ``sequence_number`` right after its ``type``."""
        body = {"type": payload.pop("type"), "sequence_number": self._sequence, **payload}
        self._sequence += 1
        return frame(body)

    # -- items

    def _part_event(self, event: ir.Event, out: list[bytes]) -> None:
        if isinstance(event, ir.PartStart):
            if event.index not in self._items:
                self._open(event.index, event.kind, out, event.id, event.name)
        elif isinstance(event, ir.TextDelta):
            output = self._items.get(event.index) or self._open(event.index, "text", out)
            if output.kind == "message" and output.open and event.text:
                output.text += event.text
                delta = {"type": "response.output_text.delta", **self._where(output, 0)}
                out.append(self._send({**delta, "delta": event.text, "logprobs": []}))
        elif isinstance(event, ir.ThinkingDelta):
            output = self._items.get(event.index) or self._open(event.index, "thinking", out)
            if output.kind == "reasoning" and output.open and event.text:
                if not output.text:
                    part = {"type": "summary_text", "text": ""}
                    added = {"type": "response.reasoning_summary_part.added"}
                    out.append(self._send({**added, **self._summary(output), "part": part}))
                output.text += event.text
                delta = {"type": "response.reasoning_summary_text.delta"}
                out.append(self._send({**delta, **self._summary(output), "delta": event.text}))
        elif isinstance(event, ir.SignatureDelta):
            output = self._items.get(event.index) or self._open(event.index, "thinking", out)
            # A tool call's signature (Gemini's thoughtSignature) has no place here.
            if output.kind == "reasoning" and output.open:
                output.signature += event.signature
        elif isinstance(event, ir.ToolArgumentsDelta):
            output = self._items.get(event.index) or self._open(event.index, "tool_call", out)
            if output.kind == "function_call" and output.open and event.fragment:
                output.text += event.fragment
                delta = {"type": "response.function_call_arguments.delta"}
                out.append(self._send({**delta, **self._where(output), "delta": event.fragment}))
        elif isinstance(event, ir.PartStop):
            stopped = self._items.get(event.index)
            if stopped is not None and stopped.open:
                self._close(stopped, out, "completed")

    def _open(
        self,
        index: int,
        kind: str,
        out: list[bytes],
        call_id: str | None = None,
        name: str | None = None,
    ) -> _Output:
        if kind == "redacted_thinking":
            output = _Output("", -1, "")
            output.open = False
            self._items[index] = output
            return output
        item_kind, prefix = _ITEM_KINDS.get(kind, ("message", "msg_"))
        output = _Output(item_kind, len(self._outputs), prefix)
        self._items[index] = output
        self._outputs.append(output)
        if item_kind == "function_call":
            output.call_id = call_id or new_id("call_")
            output.name = name or ""
        added = {"type": "response.output_item.added", "output_index": output.position}
        out.append(self._send({**added, "item": self._item(output)}))
        if item_kind == "message":
            added = {"type": "response.content_part.added", **self._where(output, 0)}
            out.append(self._send({**added, "part": _output_text("")}))
        return output

    def _close(self, output: _Output, out: list[bytes], status: str) -> None:
        output.open = False
        where = self._where(output, 0 if output.kind == "message" else None)
        if output.kind == "message":
            done = {"type": "response.output_text.done", **where}
            out.append(self._send({**done, "text": output.text, "logprobs": []}))
            done = {"type": "response.content_part.done", **where}
            out.append(self._send({**done, "part": _output_text(output.text)}))
        elif output.kind == "reasoning" and output.text:
            done = {"type": "response.reasoning_summary_text.done", **self._summary(output)}
            out.append(self._send({**done, "text": output.text}))
            done = {"type": "response.reasoning_summary_part.done", **self._summary(output)}
            part = {"type": "summary_text", "text": output.text}
            out.append(self._send({**done, "part": part}))
        elif output.kind == "function_call":
            done = {"type": "response.function_call_arguments.done", **where}
            out.append(self._send({**done, "arguments": output.text}))
        item = self._item(output, status)
        done = {"type": "response.output_item.done", "output_index": output.position}
        out.append(self._send({**done, "item": item}))

    def _where(self, output: _Output, content_index: int | None = None) -> dict[str, Any]:
        where: dict[str, Any] = {"item_id": output.id, "output_index": output.position}
        if content_index is not None:
            where["content_index"] = content_index
        return where

    def _summary(self, output: _Output) -> dict[str, Any]:
        return {"item_id": output.id, "output_index": output.position, "summary_index": 0}

    def _item(self, output: _Output, status: str | None = None) -> dict[str, Any]:
        """The output item as it stands: in progress while open, else with ``status``."""
        if status is None:
            status = "in_progress" if output.open else "completed"
        if output.kind == "message":
            content = [] if output.open else [_output_text(output.text)]
            return {
                "id": output.id,
                "type": "message",
                "status": status,
                "content": content,
                "role": "assistant",
            }
        if output.kind == "reasoning":
            item: dict[str, Any] = {"id": output.id, "type": "reasoning"}
            if output.signature and not output.open:
                item["encrypted_content"] = output.signature
            item["summary"] = (
                [{"type": "summary_text", "text": output.text}]
                if output.text and not output.open
                else []
            )
            return item
        return {
            "id": output.id,
            "type": "function_call",
            "status": status,
            "arguments": "" if output.open else output.text,
            "call_id": output.call_id,
            "name": output.name,
        }


_ITEM_KINDS = {
    "text": ("message", "msg_"),
    "thinking": ("reasoning", "rs_"),
    "tool_call": ("function_call", "fc_"),
}


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
