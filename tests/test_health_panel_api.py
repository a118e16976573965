"""What ``GET /api/monitoring/health`` adds for the dashboard's Health page: the database
(path and size) and request counts (upstream attempts, failed ones, in flight)."""

from __future__ import annotations

import contextlib

import openai

from omniroute.appkeys import SETTINGS
from omniroute.testing import Reply
from tests.test_resilience_api import accounts, chat


async def test_health_names_the_database_and_its_size(gateway):
    _, body = await gateway.api("GET", "/api/monitoring/health")
    database = body["database"]
    assert database["path"] == str(gateway.app[SETTINGS].database_path)
    assert database["sizeBytes"] > 0


async def test_health_counts_upstream_attempts_and_failures(gateway, aiohttp_server):
    _, before = await gateway.api("GET", "/api/monitoring/health")
    assert before["requests"] == {"attempts": 0, "failed": 0, "inFlight": 0}
    (fake,) = await accounts(gateway, aiohttp_server, count=1)
    await chat(gateway)
    fake.enqueue(Reply.error(500, "boom"))
    with contextlib.suppress(openai.APIError):
        await chat(gateway)
    _, after = await gateway.api("GET", "/api/monitoring/health")
    assert after["requests"]["attempts"] >= 2
    assert after["requests"]["failed"] >= 1
    assert after["requests"]["inFlight"] == 0
