"""GenerateContent answers and stream pieces for :mod:`omniroute.testing.fake_gemini`.

Decides the fake's default answer to a ``generateContent`` body, renders it as a
``GenerateContentResponse`` or as the chunk sequence of a real stream (wire-formats.md §4.3-4.4),
counts prompt tokens, and writes both stream framings with aiohttp: SSE (``?alt=sse``,
``data: <json>\\r\\n\\r\\n``, no terminator) and the JSON array the API sends without ``alt=sse``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from omniroute.testing.fake_gemini_validation import get_field
from omniroute.testing.fake_openai_sse import (
    open_sse,
    pause,
    sample_from_schema,
    split_arguments,
    split_text,
)

__all__ = [
    "GeminiAnswer",
    "GeminiChunk",
    "count_prompt_tokens",
    "encode_chunk",
    "frame",
    "frame_error",
    "new_response_id",
    "open_stream",
    "plan_gemini_answer",
    "response_body",
    "send_chunks",
    "stream_chunks",
    "stream_separator",
]

GeminiChunk = Mapping[str, Any] | str | bytes
"""One scripted stream chunk: a mapping (a ``GenerateContentResponse``, JSON-encoded and framed
for the stream mode) or ``str``/``bytes`` written verbatim (the caller does the framing)."""

_ID_ALPHABET = string.ascii_letters + string.digits + "-_"
_JSON_TYPES = ("application/json", "text/x.enum")


def new_response_id() -> str:
    """A fresh ``responseId`` shaped like the real ones (``bH6LaZW8Fp_3nsEPqtaSwQ4``)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(23))


@dataclass(frozen=True)
class GeminiAnswer:
    """Everything needed to render one model turn as a response or as a chunk stream.

    ``parts`` are the final parts: ``thought`` text parts first, then either one signed
    ``functionCall`` part or one signed text part.
    """

    model: str
    parts: Sequence[Mapping[str, Any]]
    finish_reason: str = "STOP"
    prompt_tokens: int = 0
    response_id: str = field(default_factory=new_response_id)

    @property
    def thoughts_tokens(self) -> int:
        """Deterministic thinking token count (one per word of the thought parts)."""
        return sum(len(split_text(p["text"])) for p in self.parts if p.get("thought"))

    @property
    def candidates_tokens(self) -> int:
        """Deterministic answer token count: one per word or argument fragment."""
        return sum(_part_tokens(part) for part in self.parts if not part.get("thought"))

    def usage(self, candidates_tokens: int | None = None) -> dict[str, Any]:
        """``usageMetadata``; ``candidates_tokens`` overrides the count (partial stream chunks).

        ``totalTokenCount`` includes the thoughts, as in the real captures.
        """
        candidates = self.candidates_tokens if candidates_tokens is None else candidates_tokens
        usage: dict[str, Any] = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": candidates,
            "totalTokenCount": self.prompt_tokens + candidates + self.thoughts_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": self.prompt_tokens}],
        }
        if self.thoughts_tokens:
            usage["thoughtsTokenCount"] = self.thoughts_tokens
        return usage


def _part_tokens(part: Mapping[str, Any]) -> int:
    if "functionCall" in part:
        return len(split_arguments(orjson.dumps(part["functionCall"]["args"]).decode())) + 4
    return len(split_text(part.get("text", "")))


def _envelope(
    answer: GeminiAnswer,
    parts: Sequence[Mapping[str, Any]],
    finish_reason: str | None,
    candidates_tokens: int | None = None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [dict(p) for p in parts], "role": "model"}}
    if finish_reason is not None:
        candidate["finishReason"] = finish_reason
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": answer.usage(candidates_tokens),
        "modelVersion": answer.model,
        "responseId": answer.response_id,
    }


def response_body(answer: GeminiAnswer) -> dict[str, Any]:
    """Render ``answer`` as a non-streaming ``GenerateContentResponse``."""
    return _envelope(answer, answer.parts, answer.finish_reason)


def stream_chunks(answer: GeminiAnswer) -> list[dict[str, Any]]:
    """Render ``answer`` as the ``GenerateContentResponse`` chunks of a real stream.

    One chunk per thought part, the text split into word-sized chunks (or the whole
    ``functionCall`` part in one chunk, as in the captures), then a last chunk holding an empty
    text part (carrying the text's ``thoughtSignature``) and the ``finishReason``. Every chunk
    repeats ``usageMetadata`` (cumulative ``candidatesTokenCount``), ``modelVersion`` and
    ``responseId``; the last one has the final usage.
    """
    chunks: list[dict[str, Any]] = []
    emitted = 0
    signature: str | None = None
    for part in answer.parts:
        if part.get("thought") or "functionCall" in part:
            emitted += 0 if part.get("thought") else _part_tokens(part)
            chunks.append(_envelope(answer, [part], None, emitted))
            continue
        for piece in split_text(part.get("text", "")):
            emitted += 1
            chunks.append(_envelope(answer, [{"text": piece}], None, emitted))
        signature = part.get("thoughtSignature")
    last: dict[str, Any] = {"text": ""}
    if signature is not None:
        last["thoughtSignature"] = signature
    chunks.append(_envelope(answer, [last], answer.finish_reason))
    return chunks


def plan_gemini_answer(
    body: Mapping[str, Any], model: str, sign: Callable[[], str]
) -> GeminiAnswer:
    """Decide the fake's default answer to a (valid) ``generateContent`` body for ``model``.

    A last user turn of ``functionResponse`` parts gets ``"tool result: <response>"`` (a
    response object with a single string value is shown as that string, anything else as compact
    JSON; several are joined with ``"; "``). Otherwise, with function declarations and a
    ``functionCallingConfig.mode`` other than ``NONE``, the answer calls the first (or first
    allowed) function with ``args`` sampled from its schema; else it is ``"echo: <last user
    text>"`` (JSON sampled from ``responseSchema`` with ``responseMimeType:
    application/json``), cut to ``maxOutputTokens`` words with ``finishReason: MAX_TOKENS``.
    With ``thinkingConfig.includeThoughts`` a ``thought: true`` part comes first. Function call
    and text parts carry a ``thoughtSignature`` issued by ``sign``.
    """
    contents = [c for c in get_field(body, "contents") or () if isinstance(c, Mapping)]
    users = [c for c in contents if (c.get("role") or "user") == "user"]
    last_user = users[-1].get("parts") or [] if users else []
    responses = [get_field(p, "functionResponse") for p in last_user]
    responses = [r for r in responses if r is not None]
    if responses:
        subject = "; ".join(_response_text(r.get("response")) for r in responses)
        text = f"tool result: {subject}"
    else:
        subject = " ".join(
            p["text"] for p in last_user if isinstance(p.get("text"), str) and not p.get("thought")
        )
        text = f"echo: {subject}"
    config = get_field(body, "generationConfig") or {}
    parts: list[dict[str, Any]] = []
    if get_field(get_field(config, "thinkingConfig") or {}, "includeThoughts") is True:
        parts.append(
            {"text": f"**Considering the request**\n\nthinking about: {subject}", "thought": True}
        )
    prompt_tokens = count_prompt_tokens(body)
    declaration = None if responses else _chosen_declaration(body)
    if declaration is not None:
        schema = get_field(declaration, "parametersJsonSchema") or declaration.get("parameters")
        args = sample_from_schema(_lower_types(schema or {})) if schema else {}
        call = {"name": declaration["name"], "args": args if isinstance(args, dict) else {}}
        parts.append({"functionCall": call, "thoughtSignature": sign()})
        return GeminiAnswer(model, parts, "STOP", prompt_tokens)
    schema = get_field(config, "responseJsonSchema") or get_field(config, "responseSchema")
    if get_field(config, "responseMimeType") in _JSON_TYPES and isinstance(schema, Mapping):
        text = orjson.dumps(sample_from_schema(_lower_types(schema))).decode()
    finish_reason = "STOP"
    limit = get_field(config, "maxOutputTokens")
    pieces = split_text(text)
    if isinstance(limit, int) and not isinstance(limit, bool) and limit < len(pieces):
        text, finish_reason = "".join(pieces[: max(limit, 0)]), "MAX_TOKENS"
    if text:
        parts.append({"text": text, "thoughtSignature": sign()})
    return GeminiAnswer(model, parts, finish_reason, prompt_tokens)


def _response_text(response: Any) -> str:
    if isinstance(response, Mapping) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    return orjson.dumps(response).decode()


def _chosen_declaration(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    declarations = [
        declaration
        for tool in get_field(body, "tools") or ()
        for declaration in get_field(tool, "functionDeclarations") or ()
    ]
    calling = get_field(get_field(body, "toolConfig") or {}, "functionCallingConfig") or {}
    if not declarations or calling.get("mode") == "NONE":
        return None
    allowed = get_field(calling, "allowedFunctionNames") or []
    return next((d for d in declarations if d.get("name") in allowed), declarations[0])


def _lower_types(schema: Any) -> Any:
    """Lower-case the types of a Gemini OpenAPI-subset schema (``OBJECT`` → ``object``)."""
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    lowered = {key: _lower_types(value) for key, value in schema.items()}
    kind = schema.get("type")
    if isinstance(kind, str):
        lowered["type"] = kind.lower()
    if isinstance(schema.get("properties"), Mapping):
        lowered["properties"] = {k: _lower_types(v) for k, v in schema["properties"].items()}
    return lowered


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, Mapping):
        return sum(_words(v) for k, v in value.items() if k not in ("thoughtSignature", "role"))
    if isinstance(value, list):
        return sum(_words(v) for v in value)
    return 0


def count_prompt_tokens(body: Mapping[str, Any]) -> int:
    """Deterministic prompt token count: words of contents, system instruction and tools.

    ``countTokens`` answers with this number and ``usageMetadata.promptTokenCount`` of a
    response to the same request carries the same one.
    """
    contents = get_field(body, "contents") or []
    total = _words(contents) + _words(get_field(body, "systemInstruction")) + 3 * len(contents)
    tools = get_field(body, "tools") or []
    total += sum(_words(orjson.dumps(tool).decode().replace(",", " ")) + 8 for tool in tools)
    return max(total, 1)


def encode_chunk(chunk: GeminiChunk) -> bytes:
    """Frame one SSE event as ``data: <json>\\r\\n\\r\\n`` (strings/bytes verbatim)."""
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode()
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"


def stream_separator(index: int) -> bytes:
    """What precedes element ``index`` of a JSON-array stream (``[`` is written on open)."""
    return b"\n,\r\n" if index else b""


def _array_element(chunk: GeminiChunk) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode()
    return orjson.dumps(chunk)


async def open_stream(
    request: web.Request, *, sse: bool, headers: Mapping[str, str] | None = None
) -> web.StreamResponse:
    """Send HTTP 200 stream headers: ``text/event-stream`` for SSE, else a chunked JSON array
    (the ``[`` is written here)."""
    if sse:
        return await open_sse(request, {"Content-Type": "text/event-stream", **(headers or {})})
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=UTF-8"})
    response.headers.update(headers or {})
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"[")
    return response


def frame(chunk: GeminiChunk, index: int, *, sse: bool) -> bytes:
    """Frame stream element ``index`` for SSE or for the JSON array."""
    if sse:
        return encode_chunk(chunk)
    return stream_separator(index) + _array_element(chunk)


def frame_error(body: Mapping[str, Any], index: int, *, sse: bool, raw: bool) -> bytes:
    """Frame an in-stream error: ``data: {"error": ...}`` (or, with ``raw``, the multi-line
    un-prefixed JSON the SDK also accepts) for SSE; one more element of the JSON array."""
    if not sse:
        return stream_separator(index) + orjson.dumps(body)
    if raw:
        return orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n"
    return encode_chunk(body)


async def send_chunks(
    request: web.Request,
    chunks: Iterable[GeminiChunk],
    *,
    sse: bool,
    delay: float = 0.0,
    closing: asyncio.Event | None = None,
    headers: Mapping[str, str] | None = None,
    error: Mapping[str, Any] | None = None,
    raw_error: bool = False,
) -> web.StreamResponse:
    """Stream ``chunks`` (SSE or JSON array), optionally followed by an in-stream ``error``
    body, then end the body cleanly (closing ``]`` for the array; SSE has no terminator).

    ``delay`` pauses before each chunk; a set ``closing`` event (server shutdown) stops the
    stream early. A client that disconnects mid-stream ends it quietly.
    """
    response = await open_stream(request, sse=sse, headers=headers)
    count = 0
    with contextlib.suppress(ConnectionResetError):
        for chunk in chunks:
            if await pause(closing, delay):
                return response
            await response.write(frame(chunk, count, sse=sse))
            count += 1
        if error is not None:
            await response.write(frame_error(error, count, sse=sse, raw=raw_error))
        if not sse:
            await response.write(b"]")
        await response.write_eof()
    return response
