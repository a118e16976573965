"""OpenAI Responses streams, decoded: SSE bytes → IR events.

Every event is ``event: <type>`` + ``data: <json with the same type>`` + a blank line, with a
``sequence_number`` that grows by one from 0; there is no ``[DONE]``: a stream ends with
``response.completed``, ``response.incomplete`` or ``response.failed``.

IR parts map one to one to output items: a text part is a ``message`` item with one
``output_text`` content part, a thinking part a ``reasoning`` item (its text is the summary, its
signature the ``encrypted_content``), a tool call a ``function_call`` item. The encoder, the
other direction, is :mod:`omniroute.formats.responses_stream_encoder`; the vocabulary both use
is :mod:`omniroute.formats.responses_wire`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from omniroute.errors import ErrorKind
from omniroute.formats import ir
from omniroute.formats.openai_stream import stream_error
from omniroute.formats.responses_wire import (
    TRUNCATED_MESSAGE,
    new_id,
    reasoning_text,
    stop_from_wire,
    usage_from_wire,
)
from omniroute.gateway.sse import SSEScanner, split_events

logger = logging.getLogger(__name__)

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
