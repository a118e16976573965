"""The upstream side of the fidelity matrix, one entry per wire format.

``read_<format>(body)`` turns the body a fake upstream received into a :class:`Seen`;
``script_<format>(script, model, stream)`` renders a :class:`Script` as the reply that upstream
would send (JSON body or event stream), built with the fakes' own renderers so the framing is
the real one, then given the script's exact usage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from omniroute.formats.ir import effort_for_budget
from omniroute.testing import AnthropicReply, GeminiReply, Reply, ResponsesReply
from omniroute.testing.fake_anthropic_sse import MessageAnswer, message_body, stream_events
from omniroute.testing.fake_gemini_sse import GeminiAnswer, response_body, stream_chunks
from omniroute.testing.fake_openai_sse import ChatAnswer, ToolCall, completion_body
from omniroute.testing.fake_openai_sse import stream_chunks as chat_chunks
from omniroute.testing.fake_responses_sse import ResponsesAnswer, response_object
from omniroute.testing.fake_responses_sse import stream_events as responses_events
from tests.fidelity.vocab import Script, Seen

# -- small readers ------------------------------------------------------------------------------


def _texts(content: Any, kinds: tuple[str, ...] = ("text",)) -> list[str]:
    """The text of a string or of the text blocks of a content list."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            str(b.get("text", ""))
            for b in content
            if isinstance(b, dict) and b.get("type") in kinds
        ]
    return []


def _data_url(url: str) -> tuple[str, str]:
    """``("base64", data)`` for a data URL, else ``("url", url)``."""
    if url.startswith("data:"):
        return "base64", url.partition(",")[2]
    return "url", url


def _choice(value: Any, named: Callable[[dict[str, Any]], str | None]) -> str | None:
    if value is None or isinstance(value, str):
        return value
    name = named(value)
    return f"tool:{name}" if name else None


# -- OpenAI Chat Completions --------------------------------------------------------------------


def read_openai(body: Mapping[str, Any]) -> Seen:
    """What an OpenAI chat upstream received."""
    messages = body.get("messages") or []
    system = [
        t
        for m in messages
        if m.get("role") in ("system", "developer")
        for t in _texts(m.get("content"))
    ]
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content") if users else None
    images = tuple(
        _data_url(part["image_url"]["url"])
        for part in (content if isinstance(content, list) else [])
        if part.get("type") == "image_url"
    )
    fmt = body.get("response_format") or {}
    stop = body.get("stop")
    return Seen(
        system="\n".join(system),
        user_text=" ".join(_texts(content)),
        images=images,
        tool_names=tuple(t["function"]["name"] for t in body.get("tools") or []),
        tool_choice=_choice(
            body.get("tool_choice"), lambda c: (c.get("function") or {}).get("name")
        ),
        effort=body.get("reasoning_effort"),
        schema=(fmt.get("json_schema") or {}).get("schema")
        if fmt.get("type") == "json_schema"
        else None,
        stop=tuple([stop] if isinstance(stop, str) else stop or ()),
        max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
    )


def _chat_usage(script: Script) -> dict[str, Any]:
    tokens = script.usage
    return {
        "prompt_tokens": tokens.input,
        "completion_tokens": tokens.output,
        "total_tokens": tokens.input + tokens.output,
        "prompt_tokens_details": {"cached_tokens": tokens.cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": tokens.reasoning or 0, "audio_tokens": 0},
    }


_CHAT_FINISH = {"stop": "stop", "length": "length", "tool": "tool_calls"}


def script_openai(script: Script, model: str, stream: bool) -> Reply:
    """The script as an OpenAI chat completion; reasoning as ``reasoning_content`` (the field
    DeepSeek, Qwen and most OpenAI-compatible reasoning providers use)."""
    calls = tuple(ToolCall(name, orjson.dumps(args).decode()) for name, args in script.calls)
    answer = ChatAnswer(model, script.text or None, calls, _CHAT_FINISH[script.finish])
    if not stream:
        body = completion_body(answer)
        body["usage"] = _chat_usage(script)
        if script.reasoning:
            body["choices"][0]["message"]["reasoning_content"] = script.reasoning
        return Reply.json(body)
    chunks = chat_chunks(answer, include_usage=True)
    chunks[-1]["usage"] = _chat_usage(script)
    if script.reasoning:
        thinking = {
            **chunks[0],
            "choices": [
                {
                    "index": 0,
                    "delta": {"reasoning_content": script.reasoning},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        }
        chunks.insert(1, thinking)
    if script.calls and script.text:
        text = {
            **chunks[0],
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": script.text},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ],
        }
        chunks.insert(1, text)
    return Reply.stream(chunks)


# -- Anthropic Messages -------------------------------------------------------------------------


def read_anthropic(body: Mapping[str, Any]) -> Seen:
    """What an Anthropic upstream received. Structured outputs (``output_config``) are not on
    every model: translated requests state the schema in the system prompt, read back from
    there; an Anthropic client's own ``output_config`` passes through."""
    system = "\n".join(_texts(body.get("system")))
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    content = users[-1].get("content") if users else None
    images = []
    for block in content if isinstance(content, list) else []:
        if block.get("type") == "image":
            source = block["source"]
            images.append(
                ("base64", source["data"]) if source["type"] == "base64" else ("url", source["url"])
            )
    choice = body.get("tool_choice")
    kind = choice.get("type") if isinstance(choice, dict) else None
    tool_choice = {"auto": "auto", "any": "required", "none": "none"}.get(kind or "")
    if kind == "tool":
        tool_choice = f"tool:{choice['name']}"  # type: ignore[index]
    thinking = body.get("thinking") or {}
    effort = (
        effort_for_budget(thinking["budget_tokens"]) if thinking.get("type") == "enabled" else None
    )
    return Seen(
        system=system,
        user_text=" ".join(_texts(content)),
        images=tuple(images),
        tool_names=tuple(t["name"] for t in body.get("tools") or []),
        tool_choice=tool_choice,
        effort=effort,
        schema=_output_schema(body) or _schema_in(system),
        stop=tuple(body.get("stop_sequences") or ()),
        max_tokens=body.get("max_tokens"),
    )


def _output_schema(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The schema of structured outputs (``output_config.format``), where the model takes it."""
    fmt = (body.get("output_config") or {}).get("format") or {}
    return fmt.get("schema") if fmt.get("type") == "json_schema" else None


def _schema_in(text: str) -> dict[str, Any] | None:
    """The first JSON object embedded in ``text`` that parses, if any."""
    start = text.find("{")
    while start != -1:
        depth = 0
        for end in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                try:
                    found = orjson.loads(text[start : end + 1])
                except orjson.JSONDecodeError:
                    break
                return found if isinstance(found, dict) else None
        start = text.find("{", start + 1)
    return None


_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}


def script_anthropic(script: Script, model: str, stream: bool) -> AnthropicReply:
    """The script as an Anthropic message; Anthropic reports no reasoning-token count."""
    content: list[dict[str, Any]] = []
    if script.reasoning:
        content.append({"type": "thinking", "thinking": script.reasoning, "signature": "c2lnbmVk"})
    if script.text:
        content.append({"type": "text", "text": script.text})
    for index, (name, args) in enumerate(script.calls):
        content.append(
            {"type": "tool_use", "id": f"toolu_01fidelity{index}", "name": name, "input": args}
        )
    tokens = script.usage
    answer = MessageAnswer(
        model, content, _ANTHROPIC_STOP[script.finish], None, tokens.input - tokens.cached
    )
    usage = {
        "input_tokens": tokens.input - tokens.cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": tokens.cached,
        "output_tokens": tokens.output,
    }
    if not stream:
        body = message_body(answer)
        body["usage"].update(usage)
        return AnthropicReply.json(body)
    events = stream_events(answer)
    events[0]["message"]["usage"].update({**usage, "output_tokens": 1})
    events[-2]["usage"] = usage
    return AnthropicReply.stream(events)


# -- Gemini generateContent ---------------------------------------------------------------------


def _get(obj: Any, camel: str) -> Any:
    """A field under its camelCase or snake_case name (the SDK sends camelCase)."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake)


def read_gemini(body: Mapping[str, Any]) -> Seen:
    """What a Gemini upstream received."""
    system = [p.get("text", "") for p in _get(_get(dict(body), "systemInstruction"), "parts") or []]
    users = [c for c in _get(dict(body), "contents") or [] if c.get("role", "user") == "user"]
    parts = users[-1].get("parts") or [] if users else []
    images = []
    for part in parts:
        if (inline := _get(part, "inlineData")) is not None:
            images.append(("base64", inline["data"]))
        elif (file := _get(part, "fileData")) is not None:
            images.append(("url", _get(file, "fileUri")))
    calling = _get(_get(dict(body), "toolConfig"), "functionCallingConfig") or {}
    mode, allowed = calling.get("mode"), _get(calling, "allowedFunctionNames") or []
    tool_choice = {"AUTO": "auto", "NONE": "none", "ANY": "required"}.get(mode or "")
    if mode == "ANY" and len(allowed) == 1:
        tool_choice = f"tool:{allowed[0]}"
    config = _get(dict(body), "generationConfig") or {}
    thinking = _get(config, "thinkingConfig") or {}
    budget = _get(thinking, "thinkingBudget")
    level = _get(thinking, "thinkingLevel")
    effort = level.lower() if isinstance(level, str) else None
    if isinstance(budget, int) and budget > 0:
        effort = effort_for_budget(budget)
    declarations = [
        d
        for tool in _get(dict(body), "tools") or []
        for d in _get(tool, "functionDeclarations") or []
    ]
    return Seen(
        system="\n".join(system),
        user_text=" ".join(p["text"] for p in parts if isinstance(p.get("text"), str)),
        images=tuple(images),
        tool_names=tuple(d["name"] for d in declarations),
        tool_choice=tool_choice,
        effort=effort,
        schema=_get(config, "responseJsonSchema"),
        stop=tuple(_get(config, "stopSequences") or ()),
        max_tokens=_get(config, "maxOutputTokens"),
    )


def _gemini_usage(script: Script) -> dict[str, Any]:
    tokens = script.usage
    reasoning = tokens.reasoning or 0
    return {
        "promptTokenCount": tokens.input,
        "cachedContentTokenCount": tokens.cached,
        "candidatesTokenCount": tokens.output - reasoning,
        "thoughtsTokenCount": reasoning,
        "totalTokenCount": tokens.input + tokens.output,
    }


def script_gemini(script: Script, model: str, stream: bool) -> GeminiReply:
    """The script as a Gemini response (a finished tool turn ends with ``STOP``, as Gemini's do)."""
    parts: list[dict[str, Any]] = []
    if script.reasoning:
        parts.append({"text": script.reasoning, "thought": True})
    if script.text:
        parts.append({"text": script.text})
    for name, args in script.calls:
        parts.append({"functionCall": {"name": name, "args": args}, "thoughtSignature": "c2ln"})
    answer = GeminiAnswer(model, parts, "MAX_TOKENS" if script.finish == "length" else "STOP")
    if not stream:
        body = response_body(answer)
        body["usageMetadata"] = _gemini_usage(script)
        return GeminiReply.json(body)
    chunks = stream_chunks(answer)
    for chunk in chunks:
        chunk["usageMetadata"] = _gemini_usage(script)
    return GeminiReply.stream(chunks)


# -- OpenAI Responses ---------------------------------------------------------------------------


def read_responses(body: Mapping[str, Any]) -> Seen:
    """What an OpenAI Responses upstream received (the API has no stop sequences)."""
    items = body.get("input")
    items = (
        [{"type": "message", "role": "user", "content": items}]
        if isinstance(items, str)
        else items or []
    )
    system = [body["instructions"]] if body.get("instructions") else []
    system += [
        t
        for i in items
        if i.get("role") in ("system", "developer")
        for t in _texts(i.get("content"), ("input_text", "text"))
    ]
    users = [i for i in items if i.get("role") == "user"]
    content = users[-1].get("content") if users else None
    images = tuple(
        _data_url(part["image_url"])
        for part in (content if isinstance(content, list) else [])
        if part.get("type") == "input_image"
    )
    fmt = (body.get("text") or {}).get("format") or {}
    return Seen(
        system="\n".join(system),
        user_text=" ".join(_texts(content, ("input_text", "text"))),
        images=images,
        tool_names=tuple(t["name"] for t in body.get("tools") or [] if t.get("type") == "function"),
        tool_choice=_choice(body.get("tool_choice"), lambda c: c.get("name")),
        effort=(body.get("reasoning") or {}).get("effort"),
        schema=fmt.get("schema") if fmt.get("type") == "json_schema" else None,
        max_tokens=body.get("max_output_tokens"),
    )


def script_responses(script: Script, model: str, stream: bool) -> ResponsesReply:
    """The script as a Responses ``response`` (reasoning as a summarised reasoning item)."""
    output: list[dict[str, Any]] = []
    if script.reasoning:
        summary = [{"type": "summary_text", "text": script.reasoning}]
        output.append({"id": "rs_fidelity", "type": "reasoning", "summary": summary})
    if script.text:
        status = "incomplete" if script.finish == "length" else "completed"
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": script.text}
        output.append(
            {
                "id": "msg_fidelity",
                "type": "message",
                "status": status,
                "content": [part],
                "role": "assistant",
            }
        )
    for index, (name, args) in enumerate(script.calls):
        output.append(
            {
                "id": f"fc_fidelity{index}",
                "type": "function_call",
                "status": "completed",
                "arguments": orjson.dumps(args).decode(),
                "call_id": f"call_fidelity{index}",
                "name": name,
            }
        )
    tokens = script.usage
    answer = ResponsesAnswer({"model": model}, output, incomplete=script.finish == "length")
    usage = {
        "input_tokens": tokens.input,
        "input_tokens_details": {"cached_tokens": tokens.cached},
        "output_tokens": tokens.output,
        "output_tokens_details": {"reasoning_tokens": tokens.reasoning or 0},
        "total_tokens": tokens.input + tokens.output,
    }
    if not stream:
        body = response_object(answer)
        body["usage"] = usage
        return ResponsesReply.json(body)
    events = responses_events(answer)
    events[-1]["response"]["usage"] = usage
    return ResponsesReply.stream(events)


@dataclass(frozen=True)
class UpstreamSide:
    """How to read what one upstream format received and how to script its answer."""

    read: Callable[[Mapping[str, Any]], Seen]
    script: Callable[[Script, str, bool], Any]
    reasoning_tokens: bool = True
    """Whether the format reports a reasoning-token count."""


UPSTREAMS = {
    "openai": UpstreamSide(read_openai, script_openai),
    "anthropic": UpstreamSide(read_anthropic, script_anthropic, reasoning_tokens=False),
    "responses": UpstreamSide(read_responses, script_responses),
    "gemini": UpstreamSide(read_gemini, script_gemini),
}
