"""The AI section: the global system prompt and the default thinking budget reach the upstream
from every front door, on same-format hops and translated ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from omniroute.formats.anthropic import AnthropicFormat
from omniroute.formats.gemini import GeminiFormat
from omniroute.formats.openai import OpenAIChatFormat
from omniroute.formats.responses import ResponsesFormat
from omniroute.testing import (
    FakeAnthropicUpstream,
    FakeGeminiUpstream,
    FakeOpenAIUpstream,
    FakeResponsesUpstream,
)
from tests.conftest import UPSTREAM_KEY

GLOBAL = "GLOBAL-RULES"
OWN = "Be brief."


@dataclass
class Upstream:
    fake: type
    provider: str
    path: str
    model: str


UPSTREAMS = {
    "openai": Upstream(FakeOpenAIUpstream, "openai", "/v1", "gpt-5"),
    "anthropic": Upstream(FakeAnthropicUpstream, "anthropic", "", "claude-sonnet-4-5"),
    "responses": Upstream(FakeResponsesUpstream, "openai-responses", "/v1", "gpt-5"),
    "gemini": Upstream(FakeGeminiUpstream, "gemini", "", "gemini-2.5-flash"),
}


def client_request(source: str, model: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    """A path and body in the client's format, with the client's own system prompt."""
    if source == "openai":
        messages = [{"role": "system", "content": OWN}, {"role": "user", "content": "hi"}]
        return "/v1/chat/completions", {"model": model, "messages": messages, **extra}
    if source == "anthropic":
        body = {"model": model, "max_tokens": 8192, "system": OWN, **extra}
        return "/v1/messages", {**body, "messages": [{"role": "user", "content": "hi"}]}
    if source == "responses":
        return "/v1/responses", {"model": model, "instructions": OWN, "input": "hi", **extra}
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": OWN}]},
        **extra,
    }
    return f"/v1beta/models/{model}:generateContent", body


def system_text(target: str, body: dict[str, Any]) -> str:
    """The system instructions an upstream of ``target`` format received, as one text."""
    if target == "openai":
        return "\n\n".join(m["content"] for m in body["messages"] if m["role"] == "system")
    if target == "anthropic":
        system = body["system"]
        return system if isinstance(system, str) else "\n\n".join(b["text"] for b in system)
    if target == "responses":
        return body["instructions"]
    return "\n\n".join(p["text"] for p in body["systemInstruction"]["parts"])


@pytest.fixture
async def connect(gateway, aiohttp_server):
    async def connect(target: str) -> tuple[Any, str]:
        spec = UPSTREAMS[target]
        fake = spec.fake(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        await gateway.connect(str(server.make_url(spec.path)).rstrip("/"), provider=spec.provider)
        return fake, f"{spec.provider}/{spec.model}"

    return connect


PAIRS = [(s, s) for s in UPSTREAMS] + [
    ("openai", "anthropic"),
    ("anthropic", "gemini"),
    ("gemini", "responses"),
    ("responses", "openai"),
]


@pytest.mark.parametrize(("source", "target"), PAIRS, ids=[f"{s}->{t}" for s, t in PAIRS])
@pytest.mark.parametrize("position", ["prepend", "append"])
async def test_the_global_system_prompt_reaches_the_upstream(
    gateway, connect, source, target, position
):
    fake, model = await connect(target)
    await gateway.api(
        "PATCH",
        "/api/settings/ai",
        json={
            "systemPromptEnabled": True,
            "systemPrompt": GLOBAL,
            "systemPromptPosition": position,
        },
    )
    path, body = client_request(source, model)
    status, answer, _ = await gateway.post(path, json=body)
    assert status == 200, answer
    seen = system_text(target, fake.last_request.json)
    expected = [GLOBAL, OWN] if position == "prepend" else [OWN, GLOBAL]
    assert seen.index(expected[0]) < seen.index(expected[1])


async def test_a_disabled_prompt_is_not_injected(gateway, connect):
    fake, model = await connect("openai")
    await gateway.api(
        "PATCH", "/api/settings/ai", json={"systemPromptEnabled": False, "systemPrompt": GLOBAL}
    )
    path, body = client_request("openai", model)
    await gateway.post(path, json=body)
    assert GLOBAL not in system_text("openai", fake.last_request.json)


def thinking_of(target: str, body: dict[str, Any]) -> Any:
    if target == "openai":
        return body.get("reasoning_effort")
    if target == "anthropic":
        return (body.get("thinking") or {}).get("budget_tokens")
    if target == "responses":
        return (body.get("reasoning") or {}).get("effort")
    return body["generationConfig"]["thinkingConfig"]["thinkingBudget"]


EXPECTED_THINKING = {"openai": "medium", "anthropic": 4096, "responses": "medium", "gemini": 4096}


@pytest.mark.parametrize("source", list(UPSTREAMS))
async def test_the_default_thinking_budget_reaches_a_same_format_upstream(gateway, connect, source):
    fake, model = await connect(source)
    await gateway.api("PATCH", "/api/settings/ai", json={"defaultThinkingBudget": 4096})
    path, body = client_request(source, model)
    status, answer, _ = await gateway.post(path, json=body)
    assert status == 200, answer
    assert thinking_of(source, fake.last_request.json) == EXPECTED_THINKING[source]


async def test_the_client_s_own_reasoning_choice_wins(gateway, connect):
    fake, model = await connect("openai")
    await gateway.api("PATCH", "/api/settings/ai", json={"defaultThinkingBudget": 24576})
    path, body = client_request("openai", model, reasoning_effort="low")
    await gateway.post(path, json=body)
    assert fake.last_request.json["reasoning_effort"] == "low"


async def test_the_default_budget_crosses_a_translation(gateway, connect):
    fake, model = await connect("anthropic")
    await gateway.api("PATCH", "/api/settings/ai", json={"defaultThinkingBudget": 4096})
    path, body = client_request("gemini", model)
    status, answer, _ = await gateway.post(path, json=body)
    assert status == 200, answer
    assert fake.last_request.json["thinking"]["type"] == "enabled"


# -- the per-format methods ----------------------------------------------------------------------


def test_openai_joins_the_leading_system_message_and_keeps_list_content():
    fmt = OpenAIChatFormat()
    body = {"messages": [{"role": "system", "content": [{"type": "text", "text": OWN}]}]}
    out = fmt.with_system_prompt(body, GLOBAL, "append")
    assert out["messages"][0]["content"][-1] == {"type": "text", "text": GLOBAL}
    assert body["messages"][0]["content"] == [{"type": "text", "text": OWN}]  # not mutated


def test_anthropic_leaves_thinking_off_where_the_request_cannot_take_it():
    fmt = AnthropicFormat()
    forced = {"tool_choice": {"type": "tool", "name": "x"}, "max_tokens": 8192}
    assert "thinking" not in fmt.with_default_thinking(forced, 4096)
    assert "thinking" not in fmt.with_default_thinking({"max_tokens": 512}, 4096)
    capped = fmt.with_default_thinking({"max_tokens": 2048}, 4096)
    assert capped["thinking"]["budget_tokens"] == 2047


def test_responses_and_gemini_create_instructions_when_there_are_none():
    assert ResponsesFormat().with_system_prompt({}, GLOBAL, "prepend") == {"instructions": GLOBAL}
    gemini = GeminiFormat().with_system_prompt({"system_instruction": "x"}, GLOBAL, "append")
    assert gemini == {"system_instruction": f"x\n\n{GLOBAL}"}
