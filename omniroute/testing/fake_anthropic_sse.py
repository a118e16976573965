"""Messages answers and SSE pieces for :mod:`omniroute.testing.fake_anthropic`.

Decides the fake's default answer to a ``/v1/messages`` body, renders it as a ``message``
object or as the event sequence of a real stream (wire-formats.md §3.4), counts input tokens,
and writes ``event:``/``data:`` SSE responses with aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from omniroute.testing.fake_anthropic_validation import thinking_config
from omniroute.testing.fake_openai_sse import (
    open_sse,
    pause,
    random_id,
    sample_from_schema,
    split_arguments,
    split_text,
)

__all__ = [
    "MIDSTREAM_ERROR",
    "MessageAnswer",
    "SseEvent",
    "count_input_tokens",
    "encode_event",
    "message_body",
    "plan_message_answer",
    "send_events",
    "stream_events",
]

SseEvent = Mapping[str, Any] | tuple[str, Mapping[str, Any] | str] | str | bytes
"""One scripted SSE event: a mapping (event name taken from its ``type``), an explicit
``(name, data)`` pair, or ``str``/``bytes`` written verbatim (caller does the framing)."""

MIDSTREAM_ERROR: Mapping[str, str] = {"type": "overloaded_error", "message": "Overloaded"}
"""The ``error`` object of the docs' ``event: error`` example."""


def encode_event(event: SseEvent) -> bytes:
    """Frame one event as ``event: <name>\\ndata: <json>\\n\\n`` (strings/bytes verbatim)."""
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    if isinstance(event, tuple):
        name, data = event
    else:
        name, data = str(event.get("type", "message")), event
    payload = data.encode() if isinstance(data, str) else orjson.dumps(data)
    return b"event: " + name.encode() + b"\ndata: " + payload + b"\n\n"


@dataclass(frozen=True)
class MessageAnswer:
    """Everything needed to render one assistant message as JSON or as an event stream.

    ``content`` holds the final blocks (``thinking`` with its signature, ``text``, ``tool_use``).
    """

    model: str
    content: Sequence[Mapping[str, Any]]
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None
    input_tokens: int = 0
    id: str = field(default_factory=lambda: random_id("msg_01", 22))

    @property
    def output_tokens(self) -> int:
        """Deterministic output token count: one per word, argument fragment or signature."""
        total = 0
        for block in self.content:
            if block["type"] == "text":
                total += len(split_text(block["text"]))
            elif block["type"] == "thinking":
                total += len(split_text(block["thinking"])) + 1
            elif block["type"] == "tool_use":
                total += len(split_arguments(_input_json(block))) + 4
        return max(total, 1)

    def usage(self, output_tokens: int | None = None) -> dict[str, Any]:
        """The full ``usage`` object of the current API."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": self.output_tokens if output_tokens is None else output_tokens,
            "service_tier": "standard",
        }


def message_body(answer: MessageAnswer) -> dict[str, Any]:
    """Render ``answer`` as a non-streaming ``message`` object."""
    return {
        "id": answer.id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": [dict(block) for block in answer.content],
        "stop_reason": answer.stop_reason,
        "stop_sequence": answer.stop_sequence,
        "usage": answer.usage(),
    }


def _input_json(block: Mapping[str, Any]) -> str:
    return orjson.dumps(block["input"]).decode()


def _block_events(index: int, block: Mapping[str, Any]) -> list[dict[str, Any]]:
    kind = block["type"]
    deltas: list[dict[str, Any]]
    if kind == "thinking":
        start: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": p} for p in split_text(block["thinking"])]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        fragments = ["", *split_arguments(_input_json(block))]
        deltas = [{"type": "input_json_delta", "partial_json": f} for f in fragments]
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in split_text(block["text"])]
    else:
        start, deltas = dict(block), []
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *({"type": "content_block_delta", "index": index, "delta": d} for d in deltas),
        {"type": "content_block_stop", "index": index},
    ]


def stream_events(answer: MessageAnswer) -> list[dict[str, Any]]:
    """Render ``answer`` as the event list of a real stream.

    Order (as in the captures): ``message_start``, the first ``content_block_start``, one
    ``ping``, that block's deltas and stop, the other blocks, ``message_delta`` (stop reason and
    cumulative usage), ``message_stop``. Each event's ``type`` is also its SSE event name.
    """
    start_message = {**message_body(answer), "content": [], "stop_reason": None}
    start_message["usage"] = answer.usage(output_tokens=1)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start_message}]
    for index, block in enumerate(answer.content):
        block_events = _block_events(index, block)
        if index == 0:
            block_events.insert(1, {"type": "ping"})
        events.extend(block_events)
    if not answer.content:
        events.append({"type": "ping"})
    usage = answer.usage()
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": answer.stop_reason, "stop_sequence": answer.stop_sequence},
            "usage": {
                key: usage[key]
                for key in (
                    "input_tokens",
                    "cache_creation_input_tokens",
                    "cache_read_input_tokens",
                    "output_tokens",
                )
            },
        }
    )
    events.append({"type": "message_stop"})
    return events


def plan_message_answer(body: Mapping[str, Any], sign: Callable[[str], str]) -> MessageAnswer:
    """Decide the fake's default answer to a (valid) ``/v1/messages`` body.

    A user turn that is not a tool result, with ``tools`` and ``tool_choice`` not ``none``,
    gets a ``tool_use`` of the first (or the chosen) tool with input sampled from its schema;
    a turn of ``tool_result`` blocks gets ``"tool result: <content>"``; anything else gets
    ``"echo: <last user text>"``. With thinking enabled a ``thinking`` block (signed by
    ``sign``) comes first. Text stops at a ``stop_sequences`` match (``stop_sequence``) or after
    ``max_tokens`` words minus the thinking (``max_tokens``).
    """
    model = body.get("model")
    model = model if isinstance(model, str) else "claude-sonnet-4-6"
    messages = [m for m in body.get("messages") or () if isinstance(m, Mapping)]
    users = [m for m in messages if m.get("role") == "user"]
    last_user = _blocks(users[-1].get("content")) if users else []
    results = [b for b in last_user if b.get("type") == "tool_result"]
    tool = None if results else _chosen_tool(body)
    if results:
        subject = "; ".join(_text_of(b.get("content")) for b in results)
        text = f"tool result: {subject}"
    else:
        subject = " ".join(b["text"] for b in last_user if b.get("type") == "text")
        text = f"echo: {subject}"
    content: list[dict[str, Any]] = []
    thinking = thinking_config(body)
    if thinking.enabled:
        thought = "" if thinking.omitted else f"thinking about: {subject}"
        content.append({"type": "thinking", "thinking": thought, "signature": sign(thought)})
    input_tokens = count_input_tokens(body)
    if tool is not None:
        call = {
            "type": "tool_use",
            "id": random_id("toolu_01", 22),
            "name": tool["name"],
            "input": sample_from_schema(tool.get("input_schema") or {}),
        }
        return MessageAnswer(model, [*content, call], "tool_use", None, input_tokens)
    stop_reason, stop_sequence = "end_turn", None
    for sequence in sorted(body.get("stop_sequences") or (), key=lambda s: text.find(s)):
        if sequence and sequence in text:
            text, stop_reason, stop_sequence = (
                text[: text.find(sequence)],
                "stop_sequence",
                sequence,
            )
            break
    limit = body.get("max_tokens")
    if isinstance(limit, int) and content:
        limit -= len(split_text(content[0]["thinking"])) + 1
    pieces = split_text(text)
    if isinstance(limit, int) and limit < len(pieces):
        text, stop_reason, stop_sequence = "".join(pieces[: max(limit, 0)]), "max_tokens", None
    if text:
        content.append({"type": "text", "text": text})
    return MessageAnswer(model, content, stop_reason, stop_sequence, input_tokens)


def _blocks(content: Any) -> list[Mapping[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, Mapping)]
    return []


def _text_of(content: Any) -> str:
    return " ".join(b["text"] for b in _blocks(content) if b.get("type") == "text" and "text" in b)


def _chosen_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tools = [
        t
        for t in body.get("tools") or ()
        if isinstance(t, Mapping) and t.get("type") in (None, "custom")
    ]
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, Mapping) else "auto"
    if not tools or kind == "none":
        return None
    if kind == "tool" and isinstance(choice, Mapping):
        return next((t for t in tools if t.get("name") == choice.get("name")), tools[0])
    return tools[0]


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, Mapping):
        return sum(_words(v) for k, v in value.items() if k not in ("type", "signature", "id"))
    if isinstance(value, list):
        return sum(_words(v) for v in value)
    return 0


def count_input_tokens(body: Mapping[str, Any]) -> int:
    """Deterministic input token count: words of system, messages and tools, plus overheads.

    ``POST /v1/messages/count_tokens`` answers with this number and ``usage.input_tokens``
    of a message for the same body carries the same one.
    """
    messages = body.get("messages") or []
    tools = body.get("tools") or []
    total = _words(body.get("system")) + _words(messages) + 3 * len(messages)
    total += sum(_words(orjson.dumps(tool).decode().replace(",", " ")) + 8 for tool in tools)
    return max(total, 1)


async def send_events(
    request: web.Request,
    events: Iterable[SseEvent],
    *,
    delay: float = 0.0,
    closing: asyncio.Event | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Stream ``events`` as Anthropic SSE, then end the body cleanly.

    ``delay`` pauses before each event; a set ``closing`` event (server shutdown) stops the
    stream early. A client that disconnects mid-stream ends it quietly.
    """
    response = await open_sse(request, headers)
    with contextlib.suppress(ConnectionResetError):
        for event in events:
            if await pause(closing, delay):
                return response
            await response.write(encode_event(event))
        await response.write_eof()
    return response
