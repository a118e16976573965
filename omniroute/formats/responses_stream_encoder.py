"""OpenAI Responses streams, encoded: IR events → SSE bytes, as the API sends them.

The framing and the item mapping are described in :mod:`omniroute.formats.responses_stream`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from omniroute.errors import ErrorKind, GatewayError
from omniroute.formats import ir
from omniroute.formats.openai_stream import gateway_error
from omniroute.formats.responses_wire import (
    STOPPED_WITH_ERROR,
    TRUNCATED_MESSAGE,
    echo_of,
    error_code,
    error_events,
    frame,
    new_id,
    response_id,
    response_object,
    status_for,
    usage_to_wire,
)

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
