"""``GET /api/usage/series``: the ledger summed per time bucket and per provider, model or key."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from omniroute.appkeys import LEDGER
from tests.test_usage_history import row

START = datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp()
HOUR = 3600


@pytest.fixture
async def recorded(gateway):
    ledger = gateway.app[LEDGER]
    for r in [
        row(1),  # bucket 0: openai/gpt-5, k1, 110 tokens, $0.5
        row(2, provider="anthropic", model="claude-sonnet-4-5", cost_usd=1.0),
        row(3, ts=START + HOUR + 5, key_id="k2", cost_usd=0.25),  # bucket 1
        row(4, ts=START + 2 * HOUR + 1, tokens_in=None, tokens_out=None, cost_usd=None),
        row(5, ts=START + 5 * HOUR),  # outside the range asked for
    ]:
        ledger.record(dict(r))
    return gateway


async def series(gateway: Any, query: str) -> dict[str, Any]:
    status, body = await gateway.api("GET", "/api/usage/series" + query)
    assert status == 200, body
    return body


async def test_series_sums_each_bucket_per_provider(recorded):
    body = await series(recorded, f"?from={START}&to={START + 3 * HOUR}&bucket={HOUR}")
    assert body["buckets"] == [START, START + HOUR, START + 2 * HOUR]
    by_name = {s["name"]: s for s in body["series"]}
    assert by_name["openai"]["points"]["requests"] == [1, 1, 1]
    assert by_name["openai"]["points"]["tokens"] == [110, 110, 0]
    assert by_name["openai"]["points"]["costUsd"] == [0.5, 0.25, 0]
    assert by_name["anthropic"]["requests"] == 1
    assert body["totals"] == {"requests": 4, "tokens": 330, "costUsd": 1.75}
    assert [s["name"] for s in body["series"]] == ["openai", "anthropic"]  # busiest first


async def test_series_by_model_honours_filters(recorded):
    body = await series(
        recorded, f"?from={START}&to={START + 3 * HOUR}&bucket={HOUR}&by=model&keyId=k2"
    )
    assert [(s["name"], s["requests"]) for s in body["series"]] == [("openai/gpt-5", 1)]


async def test_series_beyond_top_are_summed_as_other(recorded):
    body = await series(recorded, f"?from={START}&to={START + 3 * HOUR}&bucket={HOUR}&top=1")
    assert [(s["name"], s["requests"]) for s in body["series"]] == [
        ("openai", 3),
        ("(other)", 1),
    ]


async def test_series_by_key_names_the_key(recorded):
    body = await series(recorded, f"?from={START}&to={START + 3 * HOUR}&by=key")
    assert {s["name"] for s in body["series"]} == {"k1", "k2"}
    assert all("keyName" in s for s in body["series"])


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("", "from"),
        (f"?from={START}&to={START + 2000 * 60}&bucket=60", "bucket"),
        (f"?from={START}&bucket=5", "bucket"),
        (f"?from={START}&by=colour", "by"),
        (f"?from={START}&shape=round", "shape"),
    ],
)
async def test_series_refuses_bad_parameters_naming_them(gateway, query, param):
    status, body = await gateway.api("GET", "/api/usage/series" + query)
    assert status == 400, body
    assert body["error"]["param"] == param


async def test_rows_recorded_after_a_drain_are_still_written(gateway):
    # Every usage query drains the ledger while its writer waits for the next row; that row
    # must not land in the list the drain just took away.
    ledger = gateway.app[LEDGER]
    status, _ = await gateway.api("GET", "/api/usage/history")
    assert status == 200
    ledger.record(row(1))
    await asyncio.sleep(0.1)
    body = await series(gateway, f"?from={START}&to={START + HOUR}")
    assert body["totals"]["requests"] == 1
