"""Per-connection limits: requests per minute, minimum interval, concurrency; under load."""

from __future__ import annotations

import asyncio

import pytest

from omniroute.routing.config import ConnectionLimits, ResilienceSettings
from omniroute.routing.limits import ConnectionBusy, ConnectionLimiter
from omniroute.routing.state import MemoryHotState


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(clock: Clock) -> ConnectionLimiter:
    return ConnectionLimiter(MemoryHotState(), clock)


async def test_no_limits_by_default_but_in_flight_is_counted(limiter):
    limits = ResilienceSettings().limits_for("openai", "c1")
    assert not limits.active
    slots = [await limiter.acquire("c1", limits) for _ in range(500)]
    assert limiter.state.account("c1").in_flight == 500
    for slot in slots:
        slot.release()
        slot.release()  # idempotent
    assert limiter.state.account("c1").in_flight == 0


async def test_requests_per_minute_is_a_sliding_window(limiter, clock):
    limits = ConnectionLimits(requests_per_minute=3, max_wait_ms=0)
    for _ in range(3):
        (await limiter.acquire("c1", limits)).release()
        clock.now += 10
    with pytest.raises(ConnectionBusy) as caught:
        await limiter.acquire("c1", limits)
    assert caught.value.status == 429
    assert caught.value.code == "connection_limit"
    assert caught.value.retry_after == 30  # the first request leaves the window at +60s
    clock.now += 30
    await limiter.acquire("c1", limits)  # the first request has left the window
    with pytest.raises(ConnectionBusy):
        await limiter.acquire("c1", limits)


async def test_minimum_interval_between_requests(limiter, clock):
    limits = ConnectionLimits(min_interval_ms=500, max_wait_ms=0)
    await limiter.acquire("c1", limits)
    clock.now += 0.3
    with pytest.raises(ConnectionBusy) as caught:
        await limiter.acquire("c1", limits)
    assert "minimum-interval" in caught.value.message
    clock.now += 0.2
    await limiter.acquire("c1", limits)


async def test_connections_are_limited_separately(limiter):
    limits = ConnectionLimits(requests_per_minute=1, max_wait_ms=0)
    await limiter.acquire("c1", limits)
    await limiter.acquire("c2", limits)


async def test_a_wait_longer_than_allowed_fails_at_once(limiter, clock):
    limits = ConnectionLimits(requests_per_minute=1, max_wait_ms=5000)
    await limiter.acquire("c1", limits)
    with pytest.raises(ConnectionBusy):  # 60 s to wait, 5 s allowed: no point in waiting
        await limiter.acquire("c1", limits)


async def test_concurrency_limit_holds_under_many_concurrent_requests():
    limiter = ConnectionLimiter(MemoryHotState())  # the real clock: waits are real
    limits = ConnectionLimits(max_concurrent=3, max_wait_ms=60_000)
    peak = 0

    async def request() -> None:
        nonlocal peak
        slot = await limiter.acquire("c1", limits)
        try:
            peak = max(peak, limiter.state.account("c1").in_flight)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        finally:
            slot.release()

    await asyncio.gather(*(request() for _ in range(200)))
    assert peak == 3
    assert limiter.state.account("c1").in_flight == 0


async def test_without_room_in_time_a_waiter_gives_up():
    limiter = ConnectionLimiter(MemoryHotState())
    limits = ConnectionLimits(max_concurrent=2, max_wait_ms=20)
    held = [await limiter.acquire("c1", limits) for _ in range(2)]
    results = await asyncio.gather(
        *(limiter.acquire("c1", limits) for _ in range(20)), return_exceptions=True
    )
    assert all(isinstance(r, ConnectionBusy) for r in results)
    assert "concurrency" in str(results[0])
    for slot in held:
        slot.release()
    assert limiter.state.account("c1").in_flight == 0


async def test_rpm_limit_admits_exactly_the_limit_among_concurrent_requests(limiter):
    limits = ConnectionLimits(requests_per_minute=25, max_wait_ms=0)
    results = await asyncio.gather(
        *(limiter.acquire("c1", limits) for _ in range(100)), return_exceptions=True
    )
    admitted = [r for r in results if not isinstance(r, BaseException)]
    assert len(admitted) == 25
    assert all(isinstance(r, ConnectionBusy) for r in results if r not in admitted)


def test_overrides_layer_connection_over_provider_over_default():
    settings = ResilienceSettings.model_validate(
        {
            "limits": {"requestsPerMinute": 60, "maxConcurrent": 4},
            "providerLimits": {"openai": {"maxConcurrent": 2}},
            "connectionLimits": {"c1": {"requestsPerMinute": None}},
        }
    )
    c1 = settings.limits_for("openai", "c1")
    assert (c1.requests_per_minute, c1.max_concurrent) == (None, 2)
    c2 = settings.limits_for("openai", "c2")
    assert (c2.requests_per_minute, c2.max_concurrent) == (60, 2)
    other = settings.limits_for("groq", "c3")
    assert (other.requests_per_minute, other.max_concurrent) == (60, 4)
