"""The issue's "done when": a combo keeps answering while two of its three targets fail.

The first target answers 429 with ``Retry-After``, the second never answers within the read
timeout, the third is healthy. A thousand requests from the official openai SDK, fifty at a
time, all succeed; the two failing targets rest (visible in ``/api/monitoring/health``) and get
no requests until their rest is over, which a controllable clock decides.
"""

from __future__ import annotations

import asyncio

import openai
import pytest

from omniroute.appkeys import GATEWAY
from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import UPSTREAM_KEY

HI = [{"role": "user", "content": "hi"}]
REQUESTS, BATCH = 1000, 50


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def use_clock(gateway, clock: Clock) -> None:
    """Make the gateway's hot state (rests, breakers, limits, planning) read ``clock``."""
    resilience = gateway.app[GATEWAY].resilience
    resilience.clock = clock
    for part in (resilience.health, resilience.breaker, resilience.limiter):
        part.clock = clock


async def test_a_combo_survives_a_rate_limited_and_a_hanging_target(make_gateway, aiohttp_server):
    gateway = await make_gateway(read_timeout=0.3)
    clock = Clock()
    use_clock(gateway, clock)
    limited, hanging, healthy = (FakeOpenAIUpstream(api_key=UPSTREAM_KEY) for _ in range(3))
    limited.enqueue(*[Reply.error(429, "slow down", headers={"retry-after": "30"})] * 60)
    hanging.enqueue(*[Reply.hang(5)] * 60)
    conns = {}
    # Three providers, so that one provider's circuit breaker never stands for another's.
    for provider, fake in (("openai", limited), ("xai", hanging), ("groq", healthy)):
        server = await aiohttp_server(fake.app)
        conns[provider] = await gateway.connect(str(server.make_url("/v1")), provider=provider)
    status, data = await gateway.api(
        "POST",
        "/api/combos",
        json={"name": "resilient", "models": ["openai/gpt-5", "xai/grok-4", "groq/llama"]},
    )
    assert status == 201, data
    client = gateway.openai()

    async def ask() -> str | None:
        reply = await client.chat.completions.create(model="resilient", messages=HI)
        return reply.choices[0].message.content

    answers = await asyncio.gather(*(ask() for _ in range(BATCH)))
    first_batch = len(limited.requests), len(hanging.requests)
    assert 1 <= first_batch[0] <= BATCH and 1 <= first_batch[1] <= BATCH
    for _ in range(REQUESTS // BATCH - 1):
        answers += await asyncio.gather(*(ask() for _ in range(BATCH)))

    assert answers == ["echo: hi"] * REQUESTS
    assert (len(limited.requests), len(hanging.requests)) == first_batch, "resting targets rest"
    assert len(healthy.requests) == REQUESTS

    status, health = await gateway.api("GET", "/api/monitoring/health")
    assert status == 200, health
    cooling = {row["connection"]: row for row in health["cooling"]}
    assert cooling[conns["openai"]["id"]]["reason"] == "rate_limited"
    assert cooling[conns["openai"]["id"]]["secondsLeft"] == 30
    assert cooling[conns["xai"]["id"]]["reason"] == "timeout"
    assert conns["groq"]["id"] not in cooling

    clock.now += 3600  # every rest (and the breaker's backoff) is over
    assert await ask() == "echo: hi"
    assert len(limited.requests) == first_batch[0] + 1, "tried again once its time was up"
    assert len(hanging.requests) == first_batch[1] + 1


async def test_the_answer_says_which_target_served_it_after_how_many_failures(
    make_gateway, aiohttp_server
):
    gateway = await make_gateway(read_timeout=0.3)
    limited, healthy = (FakeOpenAIUpstream(api_key=UPSTREAM_KEY) for _ in range(2))
    limited.enqueue(Reply.error(429, "slow down", headers={"retry-after": "30"}))
    for provider, fake in (("openai", limited), ("groq", healthy)):
        server = await aiohttp_server(fake.app)
        await gateway.connect(str(server.make_url("/v1")), provider=provider)
    await gateway.api(
        "POST", "/api/combos", json={"name": "pair", "models": ["openai/gpt-5", "groq/llama"]}
    )
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="pair", messages=HI
    )
    assert raw.headers["x-omniroute-provider"] == "groq"
    assert raw.headers["x-omniroute-model"] == "llama"
    assert raw.headers["x-omniroute-combo"] == "pair"
    assert raw.headers["x-omniroute-fallback-attempts"] == "1"


async def pair(gateway, aiohttp_server):
    """Two fake upstreams as providers ``openai`` and ``groq``, and the combo ``pair`` of them."""
    first, second = (FakeOpenAIUpstream(api_key=UPSTREAM_KEY) for _ in range(2))
    for provider, fake in (("openai", first), ("groq", second)):
        server = await aiohttp_server(fake.app)
        await gateway.connect(str(server.make_url("/v1")), provider=provider)
    await gateway.api(
        "POST", "/api/combos", json={"name": "pair", "models": ["openai/gpt-5", "groq/llama"]}
    )
    return first, second


async def stream_text(gateway) -> str:
    stream = await gateway.openai().chat.completions.create(model="pair", messages=HI, stream=True)
    return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def test_an_error_event_before_any_content_moves_to_the_next_target(gateway, aiohttp_server):
    first, second = await pair(gateway, aiohttp_server)
    first.enqueue(Reply.midstream_error(after_chunks=0))
    assert await stream_text(gateway) == "echo: hi"
    assert len(second.requests) == 1


async def test_no_fallback_once_content_reached_the_client(gateway, aiohttp_server):
    first, second = await pair(gateway, aiohttp_server)
    first.enqueue(Reply.cut(after_chunks=2))
    with pytest.raises(openai.APIError):
        await stream_text(gateway)
    assert not second.requests


async def test_a_bad_request_stops_the_chain_at_once(gateway, aiohttp_server):
    first, second = await pair(gateway, aiohttp_server)
    first.enqueue(Reply.error(400, "Invalid 'messages'", param="messages"))
    with pytest.raises(openai.BadRequestError):
        await gateway.openai().chat.completions.create(model="pair", messages=HI)
    assert not second.requests


async def test_a_client_that_leaves_stops_the_chain(make_gateway, aiohttp_server):
    gateway = await make_gateway(read_timeout=0.5)
    first, second = await pair(gateway, aiohttp_server)
    first.enqueue(Reply.hang(5))
    client = gateway.openai(timeout=0.1)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="pair", messages=HI)
    # Past the gateway's read timeout: a chain still running would have reached ``second``.
    await asyncio.sleep(1.0)
    assert len(first.requests) == 1 and not second.requests


async def test_a_blocked_provider_is_skipped_by_a_combo(gateway, aiohttp_server):
    first, second = await pair(gateway, aiohttp_server)
    status, data = await gateway.api(
        "PATCH", "/api/settings/security", json={"blockedProviders": ["openai"]}
    )
    assert status == 200, data
    reply = await gateway.openai().chat.completions.create(model="pair", messages=HI)
    assert reply.choices[0].message.content == "echo: hi"
    assert not first.requests and len(second.requests) == 1


async def test_a_resting_account_waits_while_another_target_can_answer(gateway, aiohttp_server):
    resting, ready, other = (FakeOpenAIUpstream(api_key=UPSTREAM_KEY) for _ in range(3))
    for provider, priority, fake in (
        ("openai", 0, resting),
        ("openai", 1, ready),
        ("groq", 0, other),
    ):
        server = await aiohttp_server(fake.app)
        await gateway.connect(str(server.make_url("/v1")), provider=provider, priority=priority)
    await gateway.api(
        "POST", "/api/combos", json={"name": "pair", "models": ["openai/gpt-5", "groq/llama"]}
    )
    resting.enqueue(Reply.error(429, "slow down", headers={"retry-after": "60"}))
    await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=HI)
    assert len(resting.requests) == 1 and len(ready.requests) == 1

    ready.enqueue(Reply.error(500, "boom"))
    reply = await gateway.openai().chat.completions.create(model="pair", messages=HI)
    assert reply.choices[0].message.content == "echo: hi"
    assert len(resting.requests) == 1, "not tried while it rests and groq can answer"
    assert len(ready.requests) == 2 and len(other.requests) == 1
