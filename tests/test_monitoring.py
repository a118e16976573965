"""``GET /api/monitoring/health`` and ``GET /metrics``."""

from __future__ import annotations

import aiohttp
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from omniroute.appkeys import SETTINGS
from omniroute.routing.state import LATENCY_SAMPLES, LatencySamples
from omniroute.testing import Reply
from tests.test_resilience_api import accounts, chat


async def scrape(gateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` without any session, parsed: (sample name, labels) → value."""
    async with aiohttp.ClientSession() as session, session.get(gateway.url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_health_needs_a_dashboard_session(gateway):
    url = gateway.url + "/api/monitoring/health"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:  # no cookie
        assert resp.status == 401


async def test_health_reports_the_process(gateway):
    status, body = await gateway.api("GET", "/api/monitoring/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["version"]
    assert body["uptimeSeconds"] >= 0
    assert body["memory"]["rssBytes"] > 1_000_000
    assert body["dataDir"] == str(gateway.app[SETTINGS].data_dir)
    assert body["providers"] == {} and body["cooling"] == [] and body["lockouts"] == []


async def test_health_shows_latency_percentiles_per_provider(gateway, aiohttp_server):
    await accounts(gateway, aiohttp_server, count=1)
    for _ in range(5):
        await chat(gateway)
    _, body = await gateway.api("GET", "/api/monitoring/health")
    openai_health = body["providers"]["openai"]
    assert openai_health["breaker"] == "closed"
    assert openai_health["connections"] == 1
    latency = openai_health["latencyMs"]
    assert latency["samples"] == 5
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]


async def test_health_shows_cooling_connections_and_open_breakers(gateway, aiohttp_server):
    first, second = await accounts(gateway, aiohttp_server)
    await gateway.api("PATCH", "/api/resilience", json={"profile": {"failureThreshold": 1}})
    first.enqueue(Reply.error(429, "Slow down", headers={"retry-after": "60"}))
    second.enqueue(Reply.error(500, "boom"))
    with pytest.raises(openai.APIError):
        await chat(gateway)
    _, body = await gateway.api("GET", "/api/monitoring/health")
    assert {row["reason"] for row in body["cooling"]} == {"rate_limited", "upstream"}
    assert all(row["secondsLeft"] > 0 for row in body["cooling"])
    assert body["providers"]["openai"]["breaker"] == "open"
    assert 0 < body["providers"]["openai"]["breakerSecondsLeft"] <= 30
    assert {row["type"] for row in body["lockouts"]} == {"connection", "provider"}


async def test_metrics_count_attempts_by_provider_and_status(gateway, aiohttp_server):
    first, _second = await accounts(gateway, aiohttp_server)
    first.enqueue(Reply.error(429, "Slow down", headers={"retry-after": "60"}))
    for _ in range(3):
        await chat(gateway)
    metrics = await scrape(gateway)
    ok = (
        "omniroute_upstream_requests_total",
        (("outcome", "ok"), ("provider", "openai"), ("status", "200")),
    )
    limited = (
        "omniroute_upstream_requests_total",
        (("outcome", "rate_limited"), ("provider", "openai"), ("status", "429")),
    )
    assert metrics[ok] == 3
    assert metrics[limited] == 1
    count = ("omniroute_upstream_latency_seconds_count", (("provider", "openai"),))
    assert metrics[count] == 4
    assert metrics[("omniroute_connections_cooling", ())] == 1
    assert metrics[("omniroute_connections_in_flight", ())] == 0
    assert metrics[("omniroute_uptime_seconds", ())] >= 0


async def test_metrics_show_breaker_state_per_provider(gateway, upstream, fake):
    await gateway.connect(upstream)
    await gateway.api("PATCH", "/api/resilience", json={"profile": {"failureThreshold": 1}})
    fake.enqueue(Reply.error(500, "boom"))
    with pytest.raises(openai.APIError):
        await chat(gateway)
    metrics = await scrape(gateway)
    assert metrics[("omniroute_circuit_breaker_state", (("provider", "openai"),))] == 2


async def test_metrics_include_process_memory(gateway):
    metrics = await scrape(gateway)
    assert metrics[("process_resident_memory_bytes", ())] > 0


def test_latency_samples_are_bounded_and_age_out():
    samples = LatencySamples()
    for i in range(LATENCY_SAMPLES * 3):
        samples.add(float(i), 10.0)
    assert len(samples.samples) == LATENCY_SAMPLES
    assert samples.percentiles(now=LATENCY_SAMPLES * 3 + 10_000) == {}


def test_latency_percentiles_are_nearest_rank():
    samples = LatencySamples()
    for ms in range(1, 101):
        samples.add(0.0, float(ms))
    assert samples.percentiles(now=1.0) == {"p50": 51.0, "p95": 96.0, "p99": 100.0, "samples": 100}
