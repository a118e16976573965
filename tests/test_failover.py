"""Several accounts at one provider: priority order, failover, and resting failed accounts."""

from __future__ import annotations

import openai
import pytest

from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import UPSTREAM_KEY
from tests.test_errors import closed_port

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def two_accounts(gateway, aiohttp_server):
    """Two connections to openai: ``first`` (priority 0) and ``second`` (priority 1)."""
    fakes = []
    for priority in (0, 1):
        fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        await gateway.connect(str(server.make_url("/v1")), priority=priority)
        fakes.append(fake)
    return fakes


async def chat(gateway, **kwargs):
    return await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=HI, **kwargs
    )


async def test_accounts_are_used_in_priority_order(gateway, two_accounts):
    first, second = two_accounts
    await chat(gateway)
    await chat(gateway)
    assert len(first.requests) == 2 and not second.requests


@pytest.mark.parametrize(
    "failure",
    [
        Reply.error(429, "Rate limit reached", type="rate_limit_error"),
        Reply.error(401, "Incorrect API key provided", code="invalid_api_key"),
        Reply.error(403, "Country not supported"),
        Reply.error(500, "The server had an error", type="server_error"),
        Reply.error(503, "The engine is currently overloaded"),
        Reply.cut(after_chunks=0),
    ],
    ids=["429", "401", "403", "500", "503", "reset"],
)
async def test_failure_of_one_account_fails_over_to_the_next(gateway, two_accounts, failure):
    first, second = two_accounts
    first.enqueue(failure)
    reply = await chat(gateway)
    assert reply.choices[0].message.content == "echo: hi"
    assert len(first.requests) == 1 and len(second.requests) == 1


async def test_streaming_request_fails_over_before_the_first_byte(gateway, two_accounts):
    first, second = two_accounts
    first.enqueue(Reply.error(429, "Rate limit reached"))
    stream = await chat(gateway, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hi"
    assert len(second.requests) == 1


async def test_error_event_before_any_content_fails_over(gateway, two_accounts):
    first, second = two_accounts
    first.enqueue(Reply.midstream_error(after_chunks=0))
    stream = await chat(gateway, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hi"
    assert len(second.requests) == 1


async def test_timeout_fails_over(make_gateway, aiohttp_server):
    gateway = await make_gateway(read_timeout=0.3)
    slow, fast = FakeOpenAIUpstream(api_key=UPSTREAM_KEY), FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
    for priority, fake in enumerate((slow, fast)):
        server = await aiohttp_server(fake.app)
        await gateway.connect(str(server.make_url("/v1")), priority=priority)
    slow.enqueue(Reply.hang(5))
    reply = await chat(gateway)
    assert reply.choices[0].message.content == "echo: hi"


async def test_unreachable_account_fails_over(gateway, upstream, fake):
    await gateway.connect(f"http://127.0.0.1:{closed_port()}/v1", priority=0)
    await gateway.connect(upstream, priority=1)
    await chat(gateway)
    assert len(fake.requests) == 1


async def test_failed_account_rests_while_the_next_one_serves(gateway, two_accounts):
    first, second = two_accounts
    first.enqueue(Reply.error(429, "Rate limit reached", headers={"retry-after": "60"}))
    await chat(gateway)
    await chat(gateway)
    assert len(first.requests) == 1, "the rate-limited account is not retried while resting"
    assert len(second.requests) == 2


async def test_bad_request_does_not_fail_over(gateway, two_accounts):
    first, second = two_accounts
    first.enqueue(Reply.error(400, "Invalid 'messages'", param="messages"))
    with pytest.raises(openai.BadRequestError):
        await chat(gateway)
    assert not second.requests


async def test_when_every_account_fails_the_last_error_is_reported(gateway, two_accounts):
    first, second = two_accounts
    first.enqueue(Reply.error(429, "Rate limit reached"))
    second.enqueue(Reply.error(429, "You exceeded your current quota", code="insufficient_quota"))
    with pytest.raises(openai.RateLimitError) as caught:
        await chat(gateway)
    message = caught.value.body["message"]
    assert "all 2 connections of provider 'openai' failed" in message
    assert "exceeded your current quota" in message


async def test_inactive_account_is_never_used(gateway, two_accounts):
    first, second = two_accounts
    _, rows = await gateway.api("GET", "/api/providers")
    await gateway.api("PUT", f"/api/providers/{rows[0]['id']}", json={"isActive": False})
    await chat(gateway)
    assert not first.requests and len(second.requests) == 1
