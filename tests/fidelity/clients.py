"""The client side of the fidelity matrix: each official SDK saying an :class:`Ask` its own way.

``ask_<format>(gw, model, stream, ask)`` makes the call with the SDK a user of that API would
use and turns what the SDK hands back into an :class:`Observed`, the same for JSON and streams.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

from anthropic import AsyncAnthropic
from google import genai
from google.genai import types as gtypes

from omniroute.formats.ir import EFFORT_BUDGETS
from tests.fidelity.vocab import SCHEMA, Ask, Observed, Tokens

Asker = Callable[[Any, str, bool, Ask], Awaitable[Observed]]


def _data_url(ask: Ask) -> str:
    assert ask.image is not None
    kind, value = ask.image
    return f"data:image/png;base64,{value}" if kind == "base64" else value


# -- OpenAI Chat Completions --------------------------------------------------------------------

_CHAT_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool",
    "content_filter": "filter",
}


def _chat_kwargs(model: str, ask: Ask) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if ask.system:
        messages.append(
            {"role": "system", "content": [{"type": "text", "text": t} for t in ask.system]}
        )
    content: Any = ask.text
    if ask.image:
        content = [
            {"type": "text", "text": ask.text},
            {"type": "image_url", "image_url": {"url": _data_url(ask)}},
        ]
    messages.append({"role": "user", "content": content})
    kwargs: dict[str, Any] = {"model": model, "messages": messages}
    if ask.tools:
        kwargs["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": SCHEMA}} for n in ask.tools
        ]
    if ask.tool_choice:
        name = ask.tool_choice.removeprefix("tool:")
        named = {"type": "function", "function": {"name": name}}
        kwargs["tool_choice"] = named if ask.tool_choice.startswith("tool:") else ask.tool_choice
    if ask.effort:
        kwargs["reasoning_effort"] = ask.effort
    if ask.schema:
        kwargs["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": ask.schema},
        }
    if ask.stop:
        kwargs["stop"] = list(ask.stop)
    if ask.max_tokens:
        kwargs["max_completion_tokens"] = ask.max_tokens
    return kwargs


def _chat_tokens(usage: Any) -> Tokens | None:
    if usage is None:
        return None
    cached = getattr(usage.prompt_tokens_details, "cached_tokens", None) or 0
    reasoning = getattr(usage.completion_tokens_details, "reasoning_tokens", None) or 0
    return Tokens(usage.prompt_tokens, cached, usage.completion_tokens, reasoning)


async def ask_openai(gw: Any, model: str, stream: bool, ask: Ask) -> Observed:
    """Chat Completions through the ``openai`` SDK (reasoning read from ``reasoning_content``)."""
    client, kwargs = gw.openai(), _chat_kwargs(model, ask)
    if not stream:
        reply = await client.chat.completions.create(**kwargs)
        choice = reply.choices[0]
        message = choice.message
        return Observed(
            text=message.content or "",
            calls=[
                (c.function.name, json.loads(c.function.arguments))
                for c in message.tool_calls or []
            ],
            reasoning=(message.model_extra or {}).get("reasoning_content") or "",
            finish=_CHAT_FINISH[choice.finish_reason],
            usage=_chat_tokens(reply.usage),
        )
    chunks = await client.chat.completions.create(
        **kwargs, stream=True, stream_options={"include_usage": True}
    )
    seen = Observed()
    calls: dict[int, list[str]] = {}
    async for chunk in chunks:
        if chunk.usage is not None:
            seen.usage = _chat_tokens(chunk.usage)
        for choice in chunk.choices:
            delta = choice.delta
            seen.text += delta.content or ""
            seen.reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            for call in delta.tool_calls or []:
                entry = calls.setdefault(call.index, ["", ""])
                if call.function is not None:
                    entry[0] += call.function.name or ""
                    entry[1] += call.function.arguments or ""
            if choice.finish_reason:
                seen.finish = _CHAT_FINISH[choice.finish_reason]
    seen.calls = [
        (name, json.loads(arguments)) for name, arguments in (calls[i] for i in sorted(calls))
    ]
    return seen


# -- Anthropic Messages -------------------------------------------------------------------------

_ANTHROPIC_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool",
}


def _anthropic_kwargs(model: str, ask: Ask) -> dict[str, Any]:
    content: Any = ask.text
    if ask.image:
        kind, value = ask.image
        source = (
            {"type": "base64", "media_type": "image/png", "data": value}
            if kind == "base64"
            else {"type": "url", "url": value}
        )
        content = [{"type": "text", "text": ask.text}, {"type": "image", "source": source}]
    kwargs: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}]}
    if ask.system:
        kwargs["system"] = [{"type": "text", "text": t} for t in ask.system]
    if ask.tools:
        kwargs["tools"] = [{"name": n, "input_schema": SCHEMA} for n in ask.tools]
    if ask.tool_choice:
        kinds = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}
        named = {"type": "tool", "name": ask.tool_choice.removeprefix("tool:")}
        kwargs["tool_choice"] = kinds.get(ask.tool_choice, named)
    max_tokens = ask.max_tokens or 256
    if ask.effort:
        budget = EFFORT_BUDGETS[ask.effort]
        kwargs["thinking"] = {"type": "enabled", "budget_tokens": budget}
        max_tokens = max(max_tokens, budget + 1024)
    kwargs["max_tokens"] = max_tokens
    if ask.schema:
        kwargs["extra_body"] = {
            "output_config": {"format": {"type": "json_schema", "schema": ask.schema}}
        }
    if ask.stop:
        kwargs["stop_sequences"] = list(ask.stop)
    return kwargs


async def ask_anthropic(gw: Any, model: str, stream: bool, ask: Ask) -> Observed:
    """Messages through the ``anthropic`` SDK (streams read through ``get_final_message``)."""
    client = AsyncAnthropic(base_url=gw.url, api_key="no-key", max_retries=0)
    kwargs = _anthropic_kwargs(model, ask)
    if not stream:
        message = await client.messages.create(**kwargs)
    else:
        async with client.messages.stream(**kwargs) as events:
            message = await events.get_final_message()
    usage = message.usage
    cached = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    return Observed(
        text="".join(b.text for b in message.content if b.type == "text"),
        calls=[(b.name, dict(b.input)) for b in message.content if b.type == "tool_use"],
        reasoning="".join(b.thinking for b in message.content if b.type == "thinking"),
        finish=_ANTHROPIC_STOP.get(message.stop_reason or "", message.stop_reason or ""),
        usage=Tokens(usage.input_tokens + cached + written, cached, usage.output_tokens, None),
    )


# -- OpenAI Responses ---------------------------------------------------------------------------


def _responses_kwargs(model: str, ask: Ask) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    if ask.system:
        items.append(
            {
                "role": "developer",
                "content": [{"type": "input_text", "text": t} for t in ask.system],
            }
        )
    content: list[dict[str, Any]] = [{"type": "input_text", "text": ask.text}]
    if ask.image:
        content.append({"type": "input_image", "image_url": _data_url(ask)})
    items.append({"role": "user", "content": content})
    kwargs: dict[str, Any] = {"model": model, "input": items}
    if ask.tools:
        kwargs["tools"] = [{"type": "function", "name": n, "parameters": SCHEMA} for n in ask.tools]
    if ask.tool_choice:
        named = {"type": "function", "name": ask.tool_choice.removeprefix("tool:")}
        kwargs["tool_choice"] = named if ask.tool_choice.startswith("tool:") else ask.tool_choice
    if ask.effort:
        kwargs["reasoning"] = {"effort": ask.effort}
    if ask.schema:
        kwargs["text"] = {"format": {"type": "json_schema", "name": "answer", "schema": ask.schema}}
    if ask.max_tokens:
        kwargs["max_output_tokens"] = ask.max_tokens
    assert not ask.stop, "the Responses API has no stop sequences"
    return kwargs


def _observe_response(response: Any) -> Observed:
    seen = Observed()
    for item in response.output:
        if item.type == "message":
            seen.text += "".join(p.text for p in item.content if p.type == "output_text")
        elif item.type == "function_call":
            seen.calls.append((item.name, json.loads(item.arguments)))
        elif item.type == "reasoning":
            seen.reasoning += "".join(s.text for s in item.summary or [])
            seen.reasoning += "".join(c.text for c in getattr(item, "content", None) or [])
    if response.status == "incomplete":
        seen.finish = "length"
    else:
        seen.finish = "tool" if seen.calls else "stop"
    usage = response.usage
    if usage is not None:
        cached = usage.input_tokens_details.cached_tokens or 0
        reasoning = usage.output_tokens_details.reasoning_tokens or 0
        seen.usage = Tokens(usage.input_tokens, cached, usage.output_tokens, reasoning)
    return seen


async def ask_responses(gw: Any, model: str, stream: bool, ask: Ask) -> Observed:
    """Responses through the ``openai`` SDK; a stream is read from its final ``response``,
    after checking that the text deltas add up to it."""
    client, kwargs = gw.openai(), _responses_kwargs(model, ask)
    if not stream:
        return _observe_response(await client.responses.create(**kwargs))
    deltas, final = "", None
    async for event in await client.responses.create(**kwargs, stream=True):
        if event.type == "response.output_text.delta":
            deltas += event.delta
        elif event.type in ("response.completed", "response.incomplete"):
            final = event.response
    assert final is not None, "the stream ended without response.completed"
    seen = _observe_response(final)
    assert deltas == seen.text
    return seen


# -- Gemini generateContent ---------------------------------------------------------------------


def _gemini_request(ask: Ask) -> tuple[list[gtypes.Content], gtypes.GenerateContentConfig]:
    parts = [gtypes.Part(text=ask.text)]
    if ask.image:
        kind, value = ask.image
        if kind == "base64":
            parts.append(
                gtypes.Part.from_bytes(data=base64.b64decode(value), mime_type="image/png")
            )
        else:
            parts.append(gtypes.Part.from_uri(file_uri=value, mime_type="image/png"))
    config = gtypes.GenerateContentConfig()
    if ask.system:
        config.system_instruction = gtypes.Content(parts=[gtypes.Part(text=t) for t in ask.system])
    if ask.tools:
        declarations = [
            gtypes.FunctionDeclaration(name=n, parameters_json_schema=SCHEMA) for n in ask.tools
        ]
        config.tools = [gtypes.Tool(function_declarations=declarations)]
    if ask.tool_choice:
        modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
        calling = gtypes.FunctionCallingConfig(mode=modes.get(ask.tool_choice, "ANY"))
        if ask.tool_choice.startswith("tool:"):
            calling.allowed_function_names = [ask.tool_choice.removeprefix("tool:")]
        config.tool_config = gtypes.ToolConfig(function_calling_config=calling)
    if ask.effort:
        config.thinking_config = gtypes.ThinkingConfig(
            thinking_budget=EFFORT_BUDGETS[ask.effort], include_thoughts=True
        )
    if ask.schema:
        config.response_mime_type = "application/json"
        config.response_json_schema = ask.schema
    if ask.stop:
        config.stop_sequences = list(ask.stop)
    if ask.max_tokens:
        config.max_output_tokens = ask.max_tokens
    return [gtypes.Content(role="user", parts=parts)], config


def _gemini_tokens(usage: Any) -> Tokens | None:
    if usage is None:
        return None
    thoughts = usage.thoughts_token_count or 0
    output = (usage.candidates_token_count or 0) + thoughts
    return Tokens(
        usage.prompt_token_count or 0, usage.cached_content_token_count or 0, output, thoughts
    )


def _observe_chunk(seen: Observed, chunk: Any) -> None:
    if chunk.usage_metadata is not None:
        seen.usage = _gemini_tokens(chunk.usage_metadata)
    for candidate in chunk.candidates or []:
        for part in (candidate.content.parts if candidate.content else None) or []:
            if part.function_call is not None:
                seen.calls.append((part.function_call.name, dict(part.function_call.args or {})))
            elif part.text and part.thought:
                seen.reasoning += part.text
            elif part.text:
                seen.text += part.text
        if candidate.finish_reason is not None:
            seen.finish = "length" if candidate.finish_reason == "MAX_TOKENS" else "stop"


async def ask_gemini(gw: Any, model: str, stream: bool, ask: Ask) -> Observed:
    """generateContent through ``google-genai`` (``api_version`` set explicitly). Gemini has no
    tool-call finish reason: a turn that ends in calls is reported here as ``tool``."""
    options = gtypes.HttpOptions(base_url=gw.url, api_version="v1beta")
    client = genai.Client(api_key="no-key", http_options=options)
    contents, config = _gemini_request(ask)
    seen = Observed()
    if not stream:
        reply = await client.aio.models.generate_content(
            model=f"models/{model}", contents=contents, config=config
        )
        _observe_chunk(seen, reply)
    else:
        chunks = await client.aio.models.generate_content_stream(
            model=f"models/{model}", contents=contents, config=config
        )
        async for chunk in chunks:
            _observe_chunk(seen, chunk)
    if seen.calls and seen.finish == "stop":
        seen.finish = "tool"
    return seen


CLIENTS: dict[str, Asker] = {
    "openai": ask_openai,
    "anthropic": ask_anthropic,
    "responses": ask_responses,
    "gemini": ask_gemini,
}

REASONING_TOKENS = {"openai": True, "anthropic": False, "responses": True, "gemini": True}
"""Whether the client's format reports a reasoning-token count."""
