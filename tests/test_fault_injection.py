"""Faults injected by fake upstreams, end to end: every kind fails over to a healthy account,
rests the failing one for as long as its hint says (capped), and never reaches the client."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import openai
import pytest

from omniroute.testing import (
    AnthropicReply,
    FakeAnthropicUpstream,
    FakeGeminiUpstream,
    FakeOpenAIUpstream,
    GeminiReply,
    Reply,
)
from tests.conftest import UPSTREAM_KEY
from tests.test_errors import closed_port

HI = [{"role": "user", "content": "hi"}]


async def accounts(gateway, aiohttp_server, count=2, fake_type=FakeOpenAIUpstream, **connect):
    """``count`` connections to one provider, priorities 0.. in order; their fakes."""
    fakes = []
    for priority in range(count):
        fake = fake_type(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        base = str(server.make_url("/v1" if fake_type is FakeOpenAIUpstream else ""))
        await gateway.connect(base.rstrip("/"), priority=priority, **connect)
        fakes.append(fake)
    return fakes


async def chat(gateway, model="openai/gpt-4o", **kwargs):
    return await gateway.openai().chat.completions.create(model=model, messages=HI, **kwargs)


async def stream_text(gateway, model="openai/gpt-4o") -> str:
    stream = await chat(gateway, model=model, stream=True)
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def lockout_of(gateway, fake_index: int = 0) -> dict:
    """The lockout of the connection with priority ``fake_index``."""
    _, rows = await gateway.api("GET", "/api/providers")
    conn_id = next(r["id"] for r in rows if r["priority"] == fake_index)
    _, body = await gateway.api("GET", "/api/resilience/lockouts")
    found = [row for row in body["lockouts"] if row["id"] == conn_id]
    assert found, body
    return found[0]


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


def rfc3339(seconds_from_now: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds_from_now)).isoformat()


@pytest.mark.parametrize(
    ("failure", "rest"),
    [
        (lambda: Reply.error(429, "Slow down", headers={"retry-after": "90"}), 90),
        (lambda: Reply.error(429, "Slow down", headers={"retry-after": http_date(120)}), 120),
        (
            lambda: Reply.error(
                429,
                "Rate limit reached",
                headers={
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "6m0s",
                },
            ),
            360,
        ),
        (
            lambda: Reply.error(
                429, "Slow down", headers={"anthropic-ratelimit-requests-reset": rfc3339(200)}
            ),
            200,
        ),
        (lambda: Reply.error(429, "Rate limit reached. Please try again in 45s."), 45),
    ],
    ids=["retry-after", "http-date", "x-ratelimit-reset", "anthropic-reset", "message-text"],
)
async def test_a_429_rests_the_account_for_as_long_as_its_hint_says(
    gateway, aiohttp_server, failure, rest
):
    first, second = await accounts(gateway, aiohttp_server)
    first.enqueue(failure())
    assert (await chat(gateway)).choices[0].message.content == "echo: hi"
    lockout = await lockout_of(gateway)
    assert lockout["reason"] == "rate_limited"
    assert rest - 10 < lockout["secondsLeft"] <= rest
    await chat(gateway)
    assert len(first.requests) == 1, "skipped while it rests"
    assert len(second.requests) == 2


async def test_gemini_retry_info_rests_the_account(gateway, aiohttp_server):
    first, second = await accounts(
        gateway, aiohttp_server, fake_type=FakeGeminiUpstream, provider="gemini"
    )
    first.enqueue(GeminiReply.error(429, retry_delay="37s"))
    await chat(gateway, model="gemini/gemini-2.5-flash")
    lockout = await lockout_of(gateway)
    assert (lockout["reason"], 27 < lockout["secondsLeft"] <= 37) == ("rate_limited", True)
    assert len(second.requests) == 1


async def test_a_spent_quota_without_a_reset_rests_for_the_quota_cooldown(gateway, aiohttp_server):
    first, _second = await accounts(gateway, aiohttp_server)
    first.enqueue(Reply.error(429, "You exceeded your current quota", code="insufficient_quota"))
    await chat(gateway)
    lockout = await lockout_of(gateway)
    assert lockout["reason"] == "quota_exhausted"
    assert 3500 < lockout["secondsLeft"] <= 3600


async def test_a_usage_limit_hours_away_is_a_spent_quota_capped_by_the_hint_cap(
    gateway, aiohttp_server
):
    first, _second = await accounts(gateway, aiohttp_server)
    status, _ = await gateway.api("PATCH", "/api/resilience", json={"maxHintSeconds": 600})
    assert status == 200
    first.enqueue(Reply.error(429, "You've hit your usage limit. Try again in 5h3m."))
    await chat(gateway)
    lockout = await lockout_of(gateway)
    assert lockout["reason"] == "quota_exhausted"
    assert 590 < lockout["secondsLeft"] <= 600, "re-probed after the cap, not in five hours"


@pytest.mark.parametrize(
    "failure",
    [
        Reply.error(500, "The server had an error"),
        Reply.error(503, "The engine is currently overloaded"),
        Reply.cut(after_chunks=0, reset=True),
    ],
    ids=["500", "503", "reset"],
)
async def test_provider_trouble_fails_over_and_rests_the_account_briefly(
    gateway, aiohttp_server, failure
):
    first, second = await accounts(gateway, aiohttp_server)
    first.enqueue(failure)
    assert (await chat(gateway)).choices[0].message.content == "echo: hi"
    assert 0 < (await lockout_of(gateway))["secondsLeft"] <= 5
    assert len(second.requests) == 1


async def test_connection_refused_fails_over(gateway, upstream, fake):
    await gateway.connect(f"http://127.0.0.1:{closed_port()}/v1", priority=0)
    await gateway.connect(upstream, priority=1)
    await chat(gateway)
    assert (await lockout_of(gateway))["reason"] == "unreachable"
    assert len(fake.requests) == 1


async def test_read_timeout_fails_over(make_gateway, aiohttp_server):
    gateway = await make_gateway(read_timeout=0.3)
    first, second = await accounts(gateway, aiohttp_server)
    first.enqueue(Reply.hang(5))
    await chat(gateway)
    assert (await lockout_of(gateway))["reason"] == "timeout"
    assert len(second.requests) == 1


async def test_an_error_event_inside_a_200_stream_before_content_fails_over(
    gateway, aiohttp_server
):
    first, second = await accounts(gateway, aiohttp_server)
    first.enqueue(Reply.midstream_error(after_chunks=0))
    assert await stream_text(gateway) == "echo: hi"
    assert (await lockout_of(gateway))["reason"] == "upstream"
    assert len(second.requests) == 1


async def test_a_rate_limit_event_inside_a_200_stream_rests_for_its_hint(gateway, aiohttp_server):
    first, second = await accounts(gateway, aiohttp_server)
    first.enqueue(
        Reply.midstream_error(
            after_chunks=0,
            message="Rate limit reached. Please try again in 20s.",
            type="rate_limit_error",
        )
    )
    assert await stream_text(gateway) == "echo: hi"
    lockout = await lockout_of(gateway)
    assert lockout["reason"] == "rate_limited"
    assert 10 < lockout["secondsLeft"] <= 20
    assert len(second.requests) == 1


async def test_a_stream_with_no_event_at_all_fails_over(gateway, aiohttp_server):
    first, second = await accounts(gateway, aiohttp_server)
    first.enqueue(
        Reply.json(b"this is not an event stream", headers={"Content-Type": "text/event-stream"})
    )
    assert await stream_text(gateway) == "echo: hi"
    assert len(second.requests) == 1


async def test_malformed_sse_from_a_translated_upstream_fails_over(gateway, aiohttp_server):
    first, second = await accounts(
        gateway, aiohttp_server, fake_type=FakeAnthropicUpstream, provider="anthropic"
    )
    first.enqueue(AnthropicReply.stream(["event: message_start\ndata: {not json\n\n"]))
    text = await stream_text(gateway, model="anthropic/claude-sonnet-4-5")
    assert text
    assert len(second.requests) == 1


async def test_a_reset_after_content_reached_the_client_does_not_fail_over(gateway, aiohttp_server):
    first, second = await accounts(gateway, aiohttp_server)
    first.enqueue(Reply.cut(after_chunks=2, reset=True))
    with pytest.raises(openai.APIError):
        await stream_text(gateway)
    assert not second.requests, "no fallback after the first byte"


async def test_with_one_healthy_account_every_concurrent_request_succeeds(
    make_gateway, aiohttp_server
):
    gateway = await make_gateway(read_timeout=0.5)
    # About accounts, not the breaker: a wave of timeouts at one provider would open it for a
    # moment (until the healthy account's first answer closes it again).
    patch = {"profile": {"failureThreshold": 1000}}
    assert (await gateway.api("PATCH", "/api/resilience", json=patch))[0] == 200
    limited, slow, healthy = await accounts(gateway, aiohttp_server, count=3)
    limited.enqueue(*[Reply.error(429, "Slow down", headers={"retry-after": "60"})] * 200)
    slow.enqueue(*[Reply.hang(5)] * 200)
    replies = await asyncio.gather(*(chat(gateway) for _ in range(150)))
    assert all(r.choices[0].message.content == "echo: hi" for r in replies)
    assert len(healthy.requests) == 150
    # The first wave met the failures; after that both rest and are skipped.
    reasons = {
        row["reason"]
        for row in (await gateway.api("GET", "/api/resilience/lockouts"))[1]["lockouts"]
    }
    assert reasons == {"rate_limited", "timeout"}
    before = (len(limited.requests), len(slow.requests))
    await asyncio.gather(*(chat(gateway) for _ in range(20)))
    assert (len(limited.requests), len(slow.requests)) == before


async def test_a_combo_skips_a_provider_whose_breaker_is_open(gateway, aiohttp_server):
    failing = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
    healthy = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
    conns = {}
    for provider, fake in (("openai", failing), ("groq", healthy)):
        server = await aiohttp_server(fake.app)
        conns[provider] = await gateway.connect(str(server.make_url("/v1")), provider=provider)
    combo = {"name": "steady", "models": ["openai/gpt-4o", "groq/llama"]}
    assert (await gateway.api("POST", "/api/combos", json=combo))[0] == 201
    await gateway.api("PATCH", "/api/resilience", json={"profile": {"failureThreshold": 1}})
    failing.enqueue(*[Reply.error(503, "overloaded")] * 5)
    assert (await chat(gateway, model="steady")).choices[0].message.content == "echo: hi"
    # End the failed connection's own rest: only the breaker keeps the provider away now.
    await gateway.api("DELETE", f"/api/resilience/lockouts/{conns['openai']['id']}")
    for _ in range(4):
        assert (await chat(gateway, model="steady")).choices[0].message.content == "echo: hi"
    assert len(failing.requests) == 1, "after the breaker opened the provider got no request"
    assert len(healthy.requests) == 5
    _, health = await gateway.api("GET", "/api/monitoring/health")
    assert health["providers"]["openai"]["breaker"] == "open"
