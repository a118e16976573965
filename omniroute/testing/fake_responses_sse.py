"""Responses answers and SSE pieces for :mod:`omniroute.testing.fake_responses`.

Decides the fake's default answer to a ``POST /v1/responses`` body, renders it as a
``response`` object or as the event sequence of a real stream (wire-formats.md §2.3:
``event: <type>`` + ``data: <json>``, increasing ``sequence_number``, no ``[DONE]``), and builds
the in-stream failure of the ``responses_stream_error_insufficient_quota`` capture. Events are
written with :func:`omniroute.testing.fake_anthropic_sse.send_events` (same framing).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from omniroute.testing.fake_openai_sse import (
    random_id,
    sample_from_schema,
    split_arguments,
    split_text,
)
from omniroute.testing.fake_responses_validation import message_parts

__all__ = [
    "INSUFFICIENT_QUOTA",
    "ResponsesAnswer",
    "count_input_tokens",
    "failure_events",
    "plan_responses_answer",
    "response_object",
    "stream_events",
]

INSUFFICIENT_QUOTA: Mapping[str, Any] = {
    "type": "insufficient_quota",
    "code": "insufficient_quota",
    "message": "You exceeded your current quota, please check your plan and billing details. "
    "For more information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors.",
    "param": None,
}
"""The nested ``error`` of the ``event: error`` in the real insufficient-quota capture."""


def _hex_id(prefix: str) -> str:
    return prefix + secrets.token_hex(25)


@dataclass(frozen=True)
class ResponsesAnswer:
    """Everything needed to render one response as JSON or as an event stream.

    ``request`` is the (valid) request body, echoed into the response fields (``instructions``,
    ``tools``, ``reasoning``...). ``output`` holds the final items (``reasoning``, ``message``
    or ``function_call``); ``incomplete`` marks a ``max_output_tokens`` cut.
    """

    request: Mapping[str, Any]
    output: Sequence[Mapping[str, Any]]
    input_tokens: int = 0
    reasoning_tokens: int = 0
    incomplete: bool = False
    id: str = field(default_factory=lambda: _hex_id("resp_"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def model(self) -> str:
        """The model the request named."""
        return str(self.request.get("model", "gpt-5"))

    @property
    def status(self) -> str:
        """``completed``, or ``incomplete`` after a ``max_output_tokens`` cut."""
        return "incomplete" if self.incomplete else "completed"

    @property
    def output_tokens(self) -> int:
        """Deterministic output tokens: words, argument fragments and reasoning tokens."""
        total = self.reasoning_tokens
        for item in self.output:
            if item["type"] == "message":
                total += sum(len(split_text(part["text"])) for part in item["content"])
            elif item["type"] == "function_call":
                total += len(split_arguments(item["arguments"])) + 4
        return max(total, 1)

    def usage(self) -> dict[str, Any]:
        """The full ``usage`` object."""
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + self.output_tokens,
        }


def _echoed_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        return dict(tool)
    return {
        "type": "function",
        "description": tool.get("description"),
        "name": tool["name"],
        "parameters": tool.get("parameters"),
        "strict": tool.get("strict", True),
    }


def response_object(
    answer: ResponsesAnswer,
    *,
    status: str | None = None,
    output: Sequence[Mapping[str, Any]] | None = None,
    error: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Render ``answer`` as a ``response`` object (the non-streaming body and the payload of
    the lifecycle events); ``status``/``output``/``error`` override the final values (an
    ``in_progress`` or ``failed`` object has no usage)."""
    body = answer.request
    status = status or answer.status
    final = status in ("completed", "incomplete")
    reasoning = body.get("reasoning") or {}
    text = body.get("text") or {}
    return {
        "id": answer.id,
        "object": "response",
        "created_at": answer.created_at,
        "status": status,
        "background": body.get("background") is True,
        "billing": {"payer": "developer"},
        "completed_at": answer.created_at + 1 if final else None,
        "error": dict(error) if error is not None else None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": answer.model,
        "output": [dict(item) for item in (answer.output if output is None else output)],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_retention": body.get("prompt_cache_retention"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": body.get("service_tier") or "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {
            "format": text.get("format") or {"type": "text"},
            "verbosity": text.get("verbosity", "medium"),
        },
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": [_echoed_tool(tool) for tool in body.get("tools") or ()],
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": answer.usage() if final else None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _obfuscation(delta: str) -> str:
    return random_id("", max(16 - len(delta), 1))


def _item_events(index: int, item: Mapping[str, Any], *, obfuscate: bool) -> list[dict[str, Any]]:
    extra = (lambda d: {"obfuscation": _obfuscation(d)}) if obfuscate else (lambda d: {})
    kind = item["type"]
    where = {"item_id": item["id"], "output_index": index}
    events: list[dict[str, Any]] = []
    if kind == "reasoning":
        events.append(
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "summary": []},
            }
        )
        for s, summary in enumerate(item["summary"]):
            at = {**where, "summary_index": s}
            events.append(
                {
                    "type": "response.reasoning_summary_part.added",
                    **at,
                    "part": {"type": "summary_text", "text": ""},
                }
            )
            events.extend(
                {"type": "response.reasoning_summary_text.delta", **at, "delta": d, **extra(d)}
                for d in split_text(summary["text"])
            )
            events.append(
                {"type": "response.reasoning_summary_text.done", **at, "text": summary["text"]}
            )
            events.append(
                {"type": "response.reasoning_summary_part.done", **at, "part": dict(summary)}
            )
    elif kind == "message":
        started = {**item, "status": "in_progress", "content": []}
        events.append(
            {"type": "response.output_item.added", "output_index": index, "item": started}
        )
        for c, part in enumerate(item["content"]):
            at = {**where, "content_index": c}
            empty = {**part, "text": ""}
            events.append({"type": "response.content_part.added", **at, "part": empty})
            events.extend(
                {
                    "type": "response.output_text.delta",
                    **at,
                    "delta": d,
                    "logprobs": [],
                    **extra(d),
                }
                for d in split_text(part["text"])
            )
            events.append(
                {"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []}
            )
            events.append({"type": "response.content_part.done", **at, "part": dict(part)})
    elif kind == "function_call":
        started = {**item, "status": "in_progress", "arguments": ""}
        events.append(
            {"type": "response.output_item.added", "output_index": index, "item": started}
        )
        events.extend(
            {"type": "response.function_call_arguments.delta", **where, "delta": d, **extra(d)}
            for d in split_arguments(item["arguments"])
        )
        events.append(
            {
                "type": "response.function_call_arguments.done",
                **where,
                "arguments": item["arguments"],
            }
        )
    else:
        events.append({"type": "response.output_item.added", "output_index": index, "item": item})
    events.append({"type": "response.output_item.done", "output_index": index, "item": dict(item)})
    return events


def _numbered(events: Sequence[Mapping[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    return [
        {"type": event["type"], "sequence_number": start + n, **event}
        for n, event in enumerate(events)
    ]


def stream_events(answer: ResponsesAnswer, *, obfuscate: bool = True) -> list[dict[str, Any]]:
    """Render ``answer`` as the event list of a real stream, ``sequence_number`` from 0.

    Order (as in the captures): ``response.created``, ``response.in_progress``, then per output
    item ``output_item.added``, its content events (reasoning summary parts; content part,
    ``output_text.delta`` events and ``.done``; ``function_call_arguments.delta`` events and
    ``.done``), ``output_item.done``, and ``response.completed`` (``response.incomplete``
    after a ``max_output_tokens`` cut) with the full response and usage. ``obfuscate`` adds
    the ``obfuscation`` padding field to deltas (``stream_options.include_obfuscation``).
    """
    started = response_object(answer, status="in_progress", output=[])
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": started},
        {"type": "response.in_progress", "response": started},
    ]
    for index, item in enumerate(answer.output):
        events.extend(_item_events(index, item, obfuscate=obfuscate))
    events.append({"type": f"response.{answer.status}", "response": response_object(answer)})
    return _numbered(events)


def failure_events(
    answer: ResponsesAnswer, after_events: int, error: Mapping[str, Any], *, obfuscate: bool
) -> list[dict[str, Any]]:
    """The first ``after_events`` default events, then ``error`` (nested, as captured) and
    ``response.failed`` (``status: failed``, ``error: {code, message}``, no usage)."""
    head = stream_events(answer, obfuscate=obfuscate)[:after_events]
    failed = response_object(
        answer,
        status="failed",
        output=[],
        error={"code": error.get("code"), "message": error.get("message")},
    )
    tail = [
        {"type": "error", "error": dict(error)},
        {"type": "response.failed", "response": failed},
    ]
    return [*head, *_numbered(tail, start=len(head))]


def _text_of_parts(parts: Any) -> str:
    if isinstance(parts, str):
        return parts
    if isinstance(parts, list):
        return " ".join(
            str(p["text"])
            for p in parts
            if isinstance(p, Mapping) and isinstance(p.get("text"), str)
        )
    return ""


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, Mapping):
        return sum(_words(v) for k, v in value.items() if k not in ("type", "id", "call_id"))
    if isinstance(value, list):
        return sum(_words(v) for v in value)
    return 0


def count_input_tokens(body: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> int:
    """Deterministic input tokens: words of instructions, items and tools, plus overheads."""
    tools = body.get("tools") or []
    total = _words(body.get("instructions")) + _words(list(items)) + 4 * len(items)
    total += sum(_words(orjson.dumps(tool).decode().replace(",", " ")) + 8 for tool in tools)
    return max(total, 1)


def _chosen_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tools = [t for t in body.get("tools") or () if t.get("type") == "function"]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return next((t for t in tools if t["name"] == choice.get("name")), tools[0])
    return tools[0]


def plan_responses_answer(
    body: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> ResponsesAnswer:
    """Decide the fake's default answer to a (valid) body whose whole conversation is ``items``.

    A conversation ending in a ``function_call_output`` gets ``"tool result: <output>"``;
    otherwise, with function ``tools`` and ``tool_choice`` not ``"none"``, a ``function_call``
    of the first (or the chosen) tool with arguments sampled from its schema; otherwise
    ``"echo: <last user text>"`` (JSON sampled from the schema with a ``json_schema`` text
    format), cut to ``max_output_tokens`` words (``status: incomplete``). With ``reasoning``
    set (effort not ``"none"``) a ``reasoning`` item comes first, with a summary when
    ``reasoning.summary`` is set and ``encrypted_content`` when ``include`` asks for it.
    """
    last = items[-1] if items else {}
    users = [i for i in items if i.get("type") == "message" and i.get("role") == "user"]
    if last.get("type") == "function_call_output":
        subject = _text_of_parts(last.get("output"))
        text = f"tool result: {subject}"
        tool = None
    else:
        subject = _text_of_parts(list(message_parts(users[-1]))) if users else ""
        text = f"echo: {subject}"
        tool = _chosen_tool(body)
    output: list[dict[str, Any]] = []
    reasoning_tokens = 0
    reasoning = body.get("reasoning")
    if isinstance(reasoning, Mapping) and reasoning.get("effort") != "none":
        thought = f"**Considering the request**\n\nthinking about: {subject}"
        reasoning_tokens = len(split_text(thought))
        item: dict[str, Any] = {"id": _hex_id("rs_"), "type": "reasoning", "summary": []}
        if reasoning.get("summary") is not None:
            item["summary"] = [{"type": "summary_text", "text": thought}]
        if "reasoning.encrypted_content" in (body.get("include") or ()):
            item["encrypted_content"] = "gAAAAB" + secrets.token_urlsafe(96)
        output.append(item)
    input_tokens = count_input_tokens(body, items)
    if tool is not None:
        arguments = orjson.dumps(sample_from_schema(tool.get("parameters") or {})).decode()
        call = {
            "id": _hex_id("fc_"),
            "type": "function_call",
            "status": "completed",
            "arguments": arguments,
            "call_id": random_id("call_", 24),
            "name": tool["name"],
        }
        return ResponsesAnswer(body, [*output, call], input_tokens, reasoning_tokens)
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        text = orjson.dumps(sample_from_schema(fmt.get("schema") or {})).decode()
    incomplete = False
    limit = body.get("max_output_tokens")
    pieces = split_text(text)
    if isinstance(limit, int) and limit - reasoning_tokens < len(pieces):
        text, incomplete = "".join(pieces[: max(limit - reasoning_tokens, 0)]), True
    message = {
        "id": _hex_id("msg_"),
        "type": "message",
        "status": "incomplete" if incomplete else "completed",
        "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}],
        "role": "assistant",
    }
    return ResponsesAnswer(body, [*output, message], input_tokens, reasoning_tokens, incomplete)
