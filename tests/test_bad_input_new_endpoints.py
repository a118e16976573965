"""Every management endpoint added with the dashboard and the subscription accounts answers
malformed input with a 4xx in the API's error shape, naming what is wrong."""

from __future__ import annotations

import pytest

CASES = [
    ("POST", "/api/oauth/claude-code/exchange", b"not json"),
    ("POST", "/api/oauth/claude-code/exchange", b"[1, 2]"),
    ("POST", "/api/oauth/claude-code/exchange", b'{"session": 5, "code": "x"}'),
    ("POST", "/api/oauth/claude-code/exchange", b'{"session": "nope", "code": "x"}'),
    ("POST", "/api/oauth/no-such-provider/device-code", b"{}"),
    ("GET", "/api/oauth/openai/authorize", None),  # an API-key provider has no OAuth login
    ("POST", "/api/oauth/copilot/poll", b'{"session": "nope"}'),
    ("POST", "/api/oauth/claude-code/import", b'{"content": "not json"}'),
    ("POST", "/api/translator/chat", b"not json"),
    ("POST", "/api/translator/chat", b'{"format": "klingon", "model": "x", "message": "hi"}'),
    ("POST", "/api/translator/chat", b'{"format": "openai", "model": "", "message": "hi"}'),
    ("POST", "/api/cli-tools/claude-code/render", b"not json"),
    ("POST", "/api/cli-tools/claude-code/apply", b'{"key": 5}'),
    ("POST", "/api/cli-tools/no-such-tool/render", b'{"key": "sk-x"}'),
    ("GET", "/api/usage/series?bucket=abc", None),
    ("GET", "/api/usage/series?by=colour", None),
    ("DELETE", "/api/resilience/lockouts/nothing-here/gpt-5", None),
]


@pytest.mark.parametrize(("method", "path", "body"), CASES)
async def test_malformed_input_is_a_clear_4xx(gateway, method, path, body):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    async with gateway.admin.request(
        method, gateway.url + path, data=body, headers=headers
    ) as resp:
        data = await resp.json(content_type=None)
    assert 400 <= resp.status < 500, (path, resp.status, data)
    error = data["error"]
    assert error["message"] and error["type"] and error["code"], data
