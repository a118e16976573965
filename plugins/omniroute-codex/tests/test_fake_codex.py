"""The fake Codex backend refuses what the real one refuses (oauth.md §2) and otherwise streams
Responses events: the tests of ``cx/`` rely on it to catch a non-conforming request."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from omniroute.testing.fake_codex import FakeCodexUpstream, usage_limit_reached

TOKEN, ACCOUNT = "codex-access-token-1", "acct-1"
GOOD = {
    "model": "gpt-5.2-codex",
    "instructions": "",
    "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ],
    "stream": True,
    "store": False,
}
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Chatgpt-Account-Id": ACCOUNT}
TIMEOUT = aiohttp.ClientTimeout(total=5)


@pytest.fixture
def fake() -> FakeCodexUpstream:
    return FakeCodexUpstream(accounts={TOKEN: ACCOUNT})


@pytest.fixture
async def url(fake: FakeCodexUpstream, aiohttp_server: Any) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("/backend-api/codex/responses"))


async def post(url: str, body: dict[str, Any], headers: dict[str, str] = HEADERS):
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.post(url, json=body, headers=headers) as resp,
    ):
        return resp.status, resp.content_type, await resp.read()


async def test_a_conforming_request_gets_a_responses_event_stream(url):
    status, content_type, raw = await post(url, GOOD)
    assert status == 200 and content_type == "text/event-stream"
    assert b"event: response.completed" in raw and b"echo: hi" in raw


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"stream": False}, "Stream must be set to true"),
        ({"store": True}, "Store must be set to false"),
        ({"instructions": None}, "Instructions are required"),
        ({"max_output_tokens": 100}, "Unsupported parameter: max_output_tokens"),
        ({"context_management": []}, "Unsupported parameter: context_management"),
        ({"service_tier": "auto"}, "Unsupported parameter: service_tier"),
        ({"input": "hi"}, "Input must be a list"),
        (
            {"input": [{"type": "message", "role": "system", "content": "be brief"}]},
            "System messages are not allowed",
        ),
    ],
)
async def test_what_the_backend_refuses_gets_its_400_detail(url, fake, change, detail):
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    status, _, raw = await post(url, body)
    assert status == 400
    assert raw == b'{"detail":"' + detail.encode() + b'"}'


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer someone-else"}, 401),
        ({"Authorization": f"Bearer {TOKEN}"}, 401),
        ({"Authorization": f"Bearer {TOKEN}", "Chatgpt-Account-Id": "acct-2"}, 403),
    ],
)
async def test_a_request_without_the_token_and_its_account_is_refused(url, headers, status):
    got, _, raw = await post(url, GOOD, headers)
    assert got == status and b"detail" in raw


async def test_a_scripted_usage_limit_is_the_backends_429(url, fake):
    fake.enqueue(usage_limit_reached(resets_in_seconds=120))
    status, _, raw = await post(url, GOOD)
    assert status == 429 and b'"usage_limit_reached"' in raw and b'"resets_in_seconds":120' in raw


async def test_the_fake_records_what_it_was_sent(url, fake):
    await post(url, GOOD)
    assert fake.requests[-1].json == GOOD
    assert fake.requests[-1].headers["Chatgpt-Account-Id"] == ACCOUNT
