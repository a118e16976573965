"""POST /api/translator/detect and /translate: the playground's back end, no upstream calls."""

from __future__ import annotations

import pytest

OPENAI_REQUEST = {
    "model": "gpt-5",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ],
    "max_tokens": 100,
}
ANTHROPIC_REQUEST = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 100,
    "system": "Be brief.",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
}


@pytest.mark.parametrize(
    ("body", "kind", "expected"),
    [
        (OPENAI_REQUEST, "request", "openai"),
        (ANTHROPIC_REQUEST, "request", "anthropic"),
        ({"model": "m", "input": "hi"}, "request", "responses"),
        ({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, "request", "gemini"),
        ({"object": "chat.completion", "choices": []}, "response", "openai"),
        ({"type": "message", "content": []}, "response", "anthropic"),
    ],
)
async def test_detect_names_the_format(gateway, body, kind, expected):
    status, data = await gateway.api(
        "POST", "/api/translator/detect", json={"body": body, "kind": kind}
    )
    assert status == 200 and data["format"] == expected


async def test_translate_an_openai_request_to_anthropic(gateway):
    status, data = await gateway.api(
        "POST",
        "/api/translator/translate",
        json={"from": "openai", "to": "anthropic", "body": OPENAI_REQUEST},
    )
    assert status == 200, data
    body = data["body"]
    assert body["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
    assert body["messages"][0]["role"] == "user" and body["max_tokens"] == 100


async def test_translate_an_anthropic_response_to_openai(gateway):
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    status, data = await gateway.api(
        "POST",
        "/api/translator/translate",
        json={"from": "anthropic", "to": "openai", "body": message, "kind": "response"},
    )
    assert status == 200, data
    assert data["body"]["choices"][0]["message"]["content"] == "hello"
    assert data["body"]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"from": "openai", "to": "klingon", "body": OPENAI_REQUEST}, "to"),
        ({"from": "openai", "to": "anthropic", "body": "text"}, "body"),
        ({"from": "openai", "to": "anthropic", "body": OPENAI_REQUEST, "kind": "x"}, "kind"),
    ],
)
async def test_bad_translate_input_is_a_400_naming_the_field(gateway, payload, param):
    status, data = await gateway.api("POST", "/api/translator/translate", json=payload)
    assert status == 400 and data["error"]["param"] == param


async def test_undetectable_body_is_a_400(gateway):
    status, data = await gateway.api("POST", "/api/translator/detect", json={"body": {"x": 1}})
    assert status == 400 and "cannot tell" in data["error"]["message"]
