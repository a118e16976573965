"""Chat Completions and SSE pieces for :mod:`omniroute.testing.fake_openai`.

Decides the fake's default chat answer, renders it as a ``chat.completion`` body or as the
``chat.completion.chunk`` sequence of a real stream, and writes SSE responses with aiohttp
(including clean ends, slow streams and dropped connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import string
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

__all__ = [
    "DONE_EVENT",
    "MIDSTREAM_ERROR",
    "ChatAnswer",
    "ToolCall",
    "completion_body",
    "drop_connection",
    "encode_sse",
    "open_sse",
    "pause",
    "plan_chat_answer",
    "random_id",
    "sample_from_schema",
    "send_sse",
    "split_arguments",
    "split_text",
    "stream_chunks",
]

DONE_EVENT = b"data: [DONE]\n\n"
"""The ``[DONE]`` sentinel that ends every successful Chat Completions stream."""

MIDSTREAM_ERROR: Mapping[str, Any] = {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error",
}
"""The ``error`` object OpenAI sends inside a stream that fails after HTTP 200."""

SYSTEM_FINGERPRINT = "fp_fake0penai"
_ALPHABET = string.ascii_letters + string.digits
_WORD_RE = re.compile(r"\s*\S+\s*$|\s*\S+")


def random_id(prefix: str, length: int) -> str:
    """Return ``prefix`` followed by ``length`` random alphanumerics (like OpenAI ids)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def encode_sse(data: Mapping[str, Any] | str) -> bytes:
    """Frame one ``data:`` SSE event; mappings are JSON-encoded, strings are sent verbatim."""
    payload = data.encode() if isinstance(data, str) else orjson.dumps(data)
    return b"data: " + payload + b"\n\n"


def split_text(text: str) -> list[str]:
    """Split ``text`` into word-sized deltas that keep their leading whitespace (``" York"``)."""
    return _WORD_RE.findall(text) or ([text] if text else [])


def split_arguments(arguments: str, size: int = 5) -> list[str]:
    """Split a tool-call ``arguments`` JSON string into at least two fragments."""
    if len(arguments) <= size:
        size = max(1, len(arguments) // 2) if len(arguments) > 1 else 1
    return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]


@dataclass(frozen=True)
class ToolCall:
    """One function call the fake answers with."""

    name: str
    arguments: str
    id: str = field(default_factory=lambda: random_id("call_", 24))

    def as_message_part(self) -> dict[str, Any]:
        """The ``message.tool_calls[]`` entry of a non-streaming completion."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class ChatAnswer:
    """Everything needed to render one assistant answer as JSON or as a chunk stream."""

    model: str
    content: str | None
    tool_calls: Sequence[ToolCall] = ()
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    id: str = field(default_factory=lambda: random_id("chatcmpl-", 29))
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def completion_tokens(self) -> int:
        """Deterministic completion token count (one per word or argument fragment)."""
        if self.tool_calls:
            return sum(len(split_arguments(call.arguments)) + 4 for call in self.tool_calls)
        return len(split_text(self.content or ""))

    def usage(self) -> dict[str, Any]:
        """The full ``usage`` object, with the detail objects the current API returns."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def completion_body(answer: ChatAnswer) -> dict[str, Any]:
    """Render ``answer`` as a non-streaming ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.tool_calls:
        message["tool_calls"] = [call.as_message_part() for call in answer.tool_calls]
    message["refusal"] = None
    message["annotations"] = []
    return {
        "id": answer.id,
        "object": "chat.completion",
        "created": answer.created,
        "model": answer.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": answer.usage(),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _tool_call_deltas(calls: Sequence[ToolCall]) -> Iterator[list[dict[str, Any]]]:
    for index, call in enumerate(calls):
        yield [
            {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
        ]
        for fragment in split_arguments(call.arguments):
            yield [{"index": index, "function": {"arguments": fragment}}]


def _deltas(answer: ChatAnswer) -> Iterator[tuple[dict[str, Any], str | None]]:
    if answer.tool_calls:
        calls = _tool_call_deltas(answer.tool_calls)
        yield (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": next(calls),
                "refusal": None,
            },
            None,
        )
        for part in calls:
            yield {"tool_calls": part}, None
    else:
        yield {"role": "assistant", "content": "", "refusal": None}, None
        for piece in split_text(answer.content or ""):
            yield {"content": piece}, None
    yield {}, answer.finish_reason


def stream_chunks(answer: ChatAnswer, *, include_usage: bool) -> list[dict[str, Any]]:
    """Render ``answer`` as the ``chat.completion.chunk`` list a real stream would carry.

    Order: role chunk (tool calls start in it, like the real API), content or argument
    fragments, the ``delta: {}`` finish chunk, then, when ``include_usage`` is true, a
    ``"choices": []`` usage chunk. With ``include_usage`` every other chunk has ``"usage": null``.
    The ``[DONE]`` sentinel is not part of the list.
    """
    head = {
        "id": answer.id,
        "object": "chat.completion.chunk",
        "created": answer.created,
        "model": answer.model,
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
    chunks: list[dict[str, Any]] = []
    for delta, finish_reason in _deltas(answer):
        chunk = {
            **head,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            chunk["usage"] = None
        chunks.append(chunk)
    if include_usage:
        chunks.append({**head, "choices": [], "usage": answer.usage()})
    return chunks


def plan_chat_answer(body: Mapping[str, Any]) -> ChatAnswer:
    """Decide the fake's default answer to a chat request body.

    A user turn with ``tools`` (and ``tool_choice`` not ``"none"``) gets a call to the first
    (or the chosen) tool with arguments sampled from its JSON schema; a trailing ``tool``
    message gets ``"tool result: <content>"``; anything else gets ``"echo: <last user text>"``,
    cut to ``max_completion_tokens``/``max_tokens`` words with ``finish_reason: "length"``.
    """
    model = body.get("model")
    if not isinstance(model, str):
        model = "gpt-4o"
    messages = [m for m in body.get("messages") or () if isinstance(m, Mapping)]
    prompt_tokens = sum(len(_text_of(m.get("content")).split()) + 4 for m in messages)
    last = messages[-1] if messages else {}
    tool = _chosen_tool(body) if last.get("role") == "user" else None
    if tool is not None:
        function = tool["function"]
        arguments = orjson.dumps(sample_from_schema(function.get("parameters") or {})).decode()
        call = ToolCall(name=function["name"], arguments=arguments)
        return ChatAnswer(model, None, (call,), "tool_calls", prompt_tokens)
    if last.get("role") == "tool":
        text = f"tool result: {_text_of(last.get('content'))}"
    else:
        users = [m for m in messages if m.get("role") == "user"]
        text = f"echo: {_text_of(users[-1].get('content')) if users else ''}"
    finish_reason = "stop"
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    pieces = split_text(text)
    if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < len(pieces):
        text, finish_reason = "".join(pieces[:limit]), "length"
    return ChatAnswer(model, text, (), finish_reason, prompt_tokens)


def _chosen_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tools = [t for t in body.get("tools") or () if isinstance(t, Mapping) and "function" in t]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, Mapping):
        wanted = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t["function"].get("name") == wanted), tools[0])
    return tools[0]


def sample_from_schema(schema: Mapping[str, Any], depth: int = 0) -> Any:
    """A deterministic value matching a JSON schema (first enum value, ``"test"``, ``1``...);
    every fake uses it for the tool arguments and structured outputs it makes up."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or (kind is None and "properties" in schema):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        names = schema.get("required") or list(properties)
        if depth > 4:
            return {}
        return {name: sample_from_schema(properties.get(name, {}), depth + 1) for name in names}
    samples = {"string": "test", "integer": 1, "number": 1.5, "boolean": True, "array": []}
    return samples.get(kind) if isinstance(kind, str) else None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


async def pause(closing: asyncio.Event | None, seconds: float) -> bool:
    """Sleep ``seconds``, waking early when ``closing`` is set; return whether it was set."""
    if seconds <= 0:
        return False
    if closing is None:
        await asyncio.sleep(seconds)
        return False
    try:
        await asyncio.wait_for(closing.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def open_sse(
    request: web.Request, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Send HTTP 200 ``text/event-stream`` headers (chunked) and return the open response."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    response.headers.update(headers or {})
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


async def send_sse(
    request: web.Request,
    events: Iterable[Mapping[str, Any] | str],
    *,
    done: bool,
    delay: float = 0.0,
    closing: asyncio.Event | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Stream ``events`` as SSE, optionally followed by ``[DONE]``, then end the body cleanly.

    ``delay`` pauses before each event; a set ``closing`` event (server shutdown) stops the
    stream early. A client that disconnects mid-stream ends it quietly.
    """
    response = await open_sse(request, headers)
    with contextlib.suppress(ConnectionResetError):
        for event in events:
            if await pause(closing, delay):
                return response
            await response.write(encode_sse(event))
        if done and not await pause(closing, delay):
            await response.write(DONE_EVENT)
        await response.write_eof()
    return response


async def drop_connection(request: web.Request, *, reset: bool = False) -> None:
    """Close the client connection mid-response, without the chunked-encoding terminator.

    ``reset=True`` aborts the socket (TCP RST) once already-written bytes have been flushed.
    """
    transport = request.transport
    if transport is None:
        return
    if not reset:
        transport.close()
        return
    for _ in range(1000):
        if not transport.get_write_buffer_size():
            break
        await asyncio.sleep(0.001)
    transport.abort()
